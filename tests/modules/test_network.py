"""The private network: subnet plan, egress modes, endpoints, security groups, flow logs, config errors.

Three egress modes on the synthesized JSON: dev (``single``, 2 zones), prod
(``per-az``, 3 zones) and a dev variant with ``none`` (plus one optional
endpoint). Each security rule is checked by a small finder that returns the
offenders; every finder is also run on a deliberately broken copy of a stack to
prove it catches what it is meant to.
"""

from __future__ import annotations

import ast
import copy
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modules.app import synth as synth_app
from modules.network import (REQUIRED_ENDPOINT_SERVICES, SubnetPlan, check_subnet_plan, plan_subnets,
                             zone_names)
from modules.settings import NetworkSettings, load_project
from modules.validation import ConfigError
from tests.conftest import load_stacks, one, resources

Stack = dict[str, Any]
ANYWHERE = "0.0.0.0/0"
HANDLER_DIR = Path(__file__).resolve().parents[2] / "handler"


# Finders: each returns what breaks a rule (empty = compliant) ----------------------------------

def ref(resource_type: str, name: str, attribute: str = "id") -> str:
    return f"${{{resource_type}.{name}.{attribute}}}"


def rules(stack: Stack) -> dict[str, dict[str, Any]]:
    return {**resources(stack, "aws_vpc_security_group_ingress_rule"), **resources(stack, "aws_vpc_security_group_egress_rule")}


def undescribed(stack: Stack) -> list[str]:
    groups = resources(stack, "aws_security_group")
    found = [n for n, g in groups.items() if not g.get("description")]
    found += [n for n, r in rules(stack).items() if not r.get("description")]
    # Inline rules would bypass the one-resource-per-rule convention (and may lack descriptions).
    found += [n for n, g in groups.items() if g.get("ingress") or g.get("egress")]
    return found


def function_group(stack: Stack) -> str:
    (name,) = [n for n, g in resources(stack, "aws_security_group").items() if "function" in n]
    return name


def endpoint_group(stack: Stack) -> str:
    (name,) = [n for n, g in resources(stack, "aws_security_group").items() if "endpoint" in n]
    return name


def function_ingress(stack: Stack) -> list[str]:
    sg = ref("aws_security_group", function_group(stack))
    return [n for n, r in resources(stack, "aws_vpc_security_group_ingress_rule").items() if r["security_group_id"] == sg]


def function_egress(stack: Stack) -> dict[str, dict[str, Any]]:
    sg = ref("aws_security_group", function_group(stack))
    return {n: r for n, r in resources(stack, "aws_vpc_security_group_egress_rule").items() if r["security_group_id"] == sg}


def non_https_egress(stack: Stack) -> list[str]:
    return [n for n, r in function_egress(stack).items()
            if (r.get("ip_protocol"), r.get("from_port"), r.get("to_port")) != ("tcp", 443, 443)]


def open_egress(stack: Stack) -> list[str]:
    return [n for n, r in rules(stack).items() if r.get("cidr_ipv4") == ANYWHERE or r.get("cidr_ipv6") == "::/0"]


def default_group_rules(stack: Stack) -> list[str]:
    group = one(stack, "aws_default_security_group")
    return [kind for kind in ("ingress", "egress") if group.get(kind)]


def private_subnets(stack: Stack) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in resources(stack, "aws_subnet").items() if "private" in n}


def public_subnets(stack: Stack) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in resources(stack, "aws_subnet").items() if "public" in n}


def private_route_tables(stack: Stack) -> set[str]:
    """Route tables associated with a private subnet."""
    subnets = {ref("aws_subnet", n) for n in private_subnets(stack)}
    return {a["route_table_id"] for a in resources(stack, "aws_route_table_association").values() if a["subnet_id"] in subnets}


def tables_without_s3_endpoint(stack: Stack) -> set[str]:
    gateway = [e for e in resources(stack, "aws_vpc_endpoint").values() if e["vpc_endpoint_type"] == "Gateway"]
    covered = {t for e in gateway if e["service_name"].endswith(".s3") for t in e.get("route_table_ids", [])}
    return private_route_tables(stack) - covered


def interface_endpoints_without_private_dns(stack: Stack) -> list[str]:
    return [n for n, e in resources(stack, "aws_vpc_endpoint").items()
            if e["vpc_endpoint_type"] == "Interface" and e.get("private_dns_enabled") is not True]


def internet_paths(stack: Stack) -> list[str]:
    """Anything that lets traffic reach the internet."""
    found = [f"{t}.{n}" for t in ("aws_nat_gateway", "aws_internet_gateway", "aws_eip", "aws_egress_only_internet_gateway")
             for n in resources(stack, t)]
    found += [f"aws_subnet.{n}" for n in public_subnets(stack)]
    found += [f"aws_subnet.{n}" for n, s in resources(stack, "aws_subnet").items() if s.get("map_public_ip_on_launch")]
    found += [f"aws_route.{n}" for n, r in resources(stack, "aws_route").items() if r.get("destination_cidr_block") == ANYWHERE]
    found += [f"rule.{n}" for n in open_egress(stack)]
    return found


def endpoint_services(stack: Stack) -> set[str]:
    return {e["service_name"].rsplit(".", 1)[1] for e in resources(stack, "aws_vpc_endpoint").values()}


def handler_services() -> set[str]:
    """Services the Lambda code creates clients for: every ``client("<service>")`` call in handler/."""
    found = set()
    for path in HANDLER_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "client"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


# Stacks ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def none_stack(tmp_path_factory: pytest.TempPathFactory, project_config: dict[str, Any]) -> Stack:
    """dev with egress 'none' and one optional endpoint (module-scoped: several tests read it)."""
    config = copy.deepcopy(project_config)
    config["environments"]["dev"]["network"] = {"vpc_cidr": "10.20.0.0/16", "egress": "none", "optional_endpoints": ["logs"]}
    outdir = synth_app(load_project(config), tmp_path_factory.mktemp("none") / "cdktf.out", ["dev"], False)
    return load_stacks(outdir)["ingest-dev"]


MODES = {"single": ("dev_stack", 2, 1), "per-az": ("prod_stack", 3, 3), "none": ("none_stack", 2, 0)}


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> tuple[str, Stack, int, int]:
    fixture, az_count, nat_count = MODES[request.param]
    return request.param, request.getfixturevalue(fixture), az_count, nat_count


# Subnet plan (pure) ---------------------------------------------------------------------

@pytest.mark.parametrize("egress", ["per-az", "single", "none"])
@pytest.mark.parametrize("cidr,prefix,azs", [("10.20.0.0/16", 24, 2), ("10.30.0.0/16", 24, 3), ("192.168.4.0/24", 27, 3)])
def test_subnet_plan_is_inside_the_vpc_and_disjoint(egress, cidr, prefix, azs):
    settings = NetworkSettings(vpc_cidr=cidr, az_count=azs, egress=egress, subnet_prefix_length=prefix)
    plan = plan_subnets(settings)
    networks = [ipaddress.IPv4Network(c) for c in plan.all]
    vpc = ipaddress.IPv4Network(cidr)
    assert all(n.subnet_of(vpc) and n.prefixlen == prefix for n in networks)
    assert len({n.network_address for n in networks}) == len(networks)
    assert not any(a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1:])
    assert len(plan.private) == azs
    assert len(plan.public) == {"per-az": azs, "single": 1, "none": 0}[egress]
    # Private CIDRs never depend on the egress mode: switching modes re-addresses nothing the function uses.
    assert plan.private == plan_subnets(NetworkSettings(vpc_cidr=cidr, az_count=azs, egress="none",
                                                        subnet_prefix_length=prefix)).private


def test_single_nat_public_subnet_keeps_its_per_az_address():
    single = plan_subnets(NetworkSettings(az_count=3, egress="single"))
    per_az = plan_subnets(NetworkSettings(az_count=3, egress="per-az"))
    assert single.public == per_az.public[:1] == ("10.20.3.0/24",)


@pytest.mark.parametrize("plan,expected", [
    (SubnetPlan("10.0.0.0/16", ("10.0.0.0/24", "10.0.0.128/25"), ()), "10.0.0.0/24 overlaps 10.0.0.128/25"),
    (SubnetPlan("10.0.0.0/16", ("10.0.0.0/24", "10.1.0.0/24"), ()), "10.1.0.0/24 is outside the VPC 10.0.0.0/16"),
    (SubnetPlan("10.0.0.0/16", ("10.0.0.0/24",), ()), "10.0.0.0/16 holds 1 private subnet(s); 2 needed"),
])
def test_broken_subnet_plan_is_rejected(plan, expected):
    with pytest.raises(ValueError, match="invalid subnet plan") as caught:
        check_subnet_plan(plan, 2)
    assert expected in str(caught.value)


def test_default_zones_are_the_regions_first_ones():
    assert zone_names(NetworkSettings(az_count=3), "eu-west-1") == ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    assert zone_names(NetworkSettings(availability_zones=("eu-west-1c", "eu-west-1a")), "eu-west-1") == ("eu-west-1c", "eu-west-1a")


# VPC, subnets, routing, per egress mode ----------------------------------------------------------

def test_vpc_has_dns_and_the_configured_cidr(dev_stack, prod_stack):
    for stack, cidr in ((dev_stack, "10.20.0.0/16"), (prod_stack, "10.30.0.0/16")):
        vpc = one(stack, "aws_vpc")
        assert (vpc["cidr_block"], vpc["enable_dns_support"], vpc["enable_dns_hostnames"]) == (cidr, True, True)


def test_private_subnets_one_per_zone_without_public_ips(mode):
    name, stack, az_count, _ = mode
    subnets = private_subnets(stack)
    assert len(subnets) == az_count
    assert len({s["availability_zone"] for s in subnets.values()}) == az_count, "one private subnet per distinct zone"
    assert all(s["availability_zone"].startswith("eu-west-1") for s in subnets.values())
    assert all(s["map_public_ip_on_launch"] is False for s in resources(stack, "aws_subnet").values())
    vpc_cidr = one(stack, "aws_vpc")["cidr_block"]
    expected = plan_subnets(NetworkSettings(vpc_cidr=vpc_cidr, az_count=az_count, egress=name))
    assert sorted(s["cidr_block"] for s in resources(stack, "aws_subnet").values()) == sorted(expected.all)


def test_zones_are_checked_by_a_pinned_data_source(mode):
    _, stack, az_count, _ = mode
    (zones,) = stack["data"]["aws_availability_zones"].values()
    names = {s["availability_zone"] for s in private_subnets(stack).values()}
    assert zones["state"] == "available"
    assert zones["filter"] == [{"name": "zone-name", "values": sorted(names)}]
    assert zones["lifecycle"]["postcondition"][0]["condition"] == f"${{length(self.names) == {az_count}}}"


def test_nat_igw_and_public_subnets_match_the_egress_mode(mode):
    name, stack, az_count, nat_count = mode
    assert len(resources(stack, "aws_nat_gateway")) == nat_count
    assert len(resources(stack, "aws_eip")) == nat_count
    assert len(public_subnets(stack)) == nat_count
    assert len(resources(stack, "aws_internet_gateway")) == (1 if nat_count else 0)
    nat_subnets = {n["subnet_id"] for n in resources(stack, "aws_nat_gateway").values()}
    assert nat_subnets == {ref("aws_subnet", n) for n in public_subnets(stack)}


def test_private_route_table_per_zone_routes_to_the_right_nat(mode):
    name, stack, az_count, nat_count = mode
    tables = private_route_tables(stack)
    assert len(tables) == az_count
    nats = resources(stack, "aws_nat_gateway")
    subnet_zone = {ref("aws_subnet", n): s["availability_zone"] for n, s in resources(stack, "aws_subnet").items()}
    nat_zone = {ref("aws_nat_gateway", n): subnet_zone[g["subnet_id"]] for n, g in nats.items()}
    table_zone = {a["route_table_id"]: subnet_zone[a["subnet_id"]] for a in resources(stack, "aws_route_table_association").values()
                  if a["route_table_id"] in tables}
    defaults = {r["route_table_id"]: r for r in resources(stack, "aws_route").values()
                if r["destination_cidr_block"] == ANYWHERE and r["route_table_id"] in tables}
    if name == "none":
        assert defaults == {}
        return
    assert set(defaults) == tables
    used = {r["nat_gateway_id"] for r in defaults.values()}
    assert used == set(nat_zone)
    if name == "per-az":
        assert all(nat_zone[r["nat_gateway_id"]] == table_zone[t] for t, r in defaults.items()), "each zone uses its own NAT"


def test_public_route_table_goes_to_the_internet_gateway(dev_stack, prod_stack):
    for stack in (dev_stack, prod_stack):
        public_tables = {a["route_table_id"] for a in resources(stack, "aws_route_table_association").values()
                         if a["subnet_id"] in {ref("aws_subnet", n) for n in public_subnets(stack)}}
        routes = [r for r in resources(stack, "aws_route").values() if r["route_table_id"] in public_tables]
        (igw,) = resources(stack, "aws_internet_gateway")
        assert [(r["destination_cidr_block"], r.get("gateway_id")) for r in routes] == [(ANYWHERE, ref("aws_internet_gateway", igw))]


def test_egress_none_has_no_path_to_the_internet(none_stack, dev_stack):
    assert internet_paths(none_stack) == []
    # The finder is not blind: the NAT stack has every kind of path it looks for.
    found = internet_paths(dev_stack)
    for kind in ("aws_nat_gateway.", "aws_internet_gateway.", "aws_eip.", "aws_subnet.", "aws_route.", "rule."):
        assert any(f.startswith(kind) for f in found), kind


# Endpoints ---------------------------------------------------------------------------------

def test_every_private_route_table_has_the_s3_gateway_endpoint(mode):
    _, stack, _, _ = mode
    assert tables_without_s3_endpoint(stack) == set()
    broken = copy.deepcopy(stack)
    gateway = next(e for e in resources(broken, "aws_vpc_endpoint").values() if e["vpc_endpoint_type"] == "Gateway")
    dropped = gateway["route_table_ids"].pop()
    assert tables_without_s3_endpoint(broken) == {dropped}


def test_interface_endpoints_private_dns_private_subnets_endpoint_group(mode):
    _, stack, _, _ = mode
    assert interface_endpoints_without_private_dns(stack) == []
    subnets = sorted(ref("aws_subnet", n) for n in private_subnets(stack))
    sg = ref("aws_security_group", endpoint_group(stack))
    interface = [e for e in resources(stack, "aws_vpc_endpoint").values() if e["vpc_endpoint_type"] == "Interface"]
    assert interface
    for endpoint in interface:
        assert sorted(endpoint["subnet_ids"]) == subnets
        assert endpoint["security_group_ids"] == [sg]
    broken = copy.deepcopy(stack)
    next(e for e in resources(broken, "aws_vpc_endpoint").values() if e["vpc_endpoint_type"] == "Interface")["private_dns_enabled"] = False
    assert len(interface_endpoints_without_private_dns(broken)) == 1


def test_endpoints_are_exactly_the_required_plus_optional_ones(dev_stack, prod_stack, none_stack):
    assert endpoint_services(dev_stack) == endpoint_services(prod_stack) == {"s3", "secretsmanager"}
    assert endpoint_services(none_stack) == {"s3", "secretsmanager", "logs"}


def test_without_egress_every_api_the_handler_calls_has_an_endpoint(none_stack):
    called = handler_services()
    # Documented set (handler/app.py: S3 and Secrets Manager; handler/rotation.py: Secrets Manager).
    assert called == set(REQUIRED_ENDPOINT_SERVICES) == {"s3", "secretsmanager"}
    assert called <= endpoint_services(none_stack)


def policy(document: str) -> dict[str, Any]:
    return json.loads(document)


def test_s3_endpoint_policy_allows_only_this_accounts_buckets(dev_stack):
    s3 = next(e for e in resources(dev_stack, "aws_vpc_endpoint").values() if e["service_name"].endswith(".s3"))
    (stmt,) = policy(s3["policy"])["Statement"]
    assert stmt["Effect"] == "Allow" and stmt["Action"] == ["s3:*"]
    assert stmt["Condition"] == {"StringEquals": {"aws:PrincipalAccount": "111111111111", "aws:ResourceAccount": "111111111111"}}


def test_secrets_manager_endpoint_policy_allows_only_this_accounts_secrets(prod_stack):
    sm = next(e for e in resources(prod_stack, "aws_vpc_endpoint").values() if e["service_name"].endswith(".secretsmanager"))
    statements = policy(sm["policy"])["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    assert all(s["Condition"] == {"StringEquals": {"aws:PrincipalAccount": "222222222222"}} for s in statements)
    wildcard = [s for s in statements if s["Resource"] == ["*"]]
    # Only GetRandomPassword (used by rotation) may name no secret: the API has no resource.
    assert [s["Action"] for s in wildcard] == [["secretsmanager:GetRandomPassword"]]
    scoped = [s for s in statements if s not in wildcard]
    assert [s["Resource"] for s in scoped] == [["arn:aws:secretsmanager:eu-west-1:222222222222:secret:*"]]


# Security groups ------------------------------------------------------------------------------

def test_every_group_and_rule_has_a_description(mode):
    _, stack, _, _ = mode
    assert rules(stack), "rules are separate resources"
    assert undescribed(stack) == []
    broken = copy.deepcopy(stack)
    name, rule = next(iter(resources(broken, "aws_vpc_security_group_egress_rule").items()))
    del rule["description"]
    assert undescribed(broken) == [name]


def test_function_group_has_no_ingress_and_https_only_egress(mode):
    name, stack, _, nat_count = mode
    assert function_ingress(stack) == []
    assert non_https_egress(stack) == []
    egress = function_egress(stack).values()
    s3_name = next(n for n, e in resources(stack, "aws_vpc_endpoint").items() if e["service_name"].endswith(".s3"))
    targets = sorted(next(f"{k}={r[k]}" for k in ("referenced_security_group_id", "prefix_list_id", "cidr_ipv4") if k in r)
                     for r in egress)
    expected = [f"referenced_security_group_id={ref('aws_security_group', endpoint_group(stack))}",
                f"prefix_list_id={ref('aws_vpc_endpoint', s3_name, 'prefix_list_id')}"]
    if nat_count:
        expected.append(f"cidr_ipv4={ANYWHERE}")
    assert targets == sorted(expected)
    assert bool(open_egress(stack)) == bool(nat_count)

    broken = copy.deepcopy(stack)
    sg = ref("aws_security_group", function_group(broken))
    resources(broken, "aws_vpc_security_group_ingress_rule")["ssh"] = {
        "security_group_id": sg, "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_ipv4": ANYWHERE, "description": "x"}
    resources(broken, "aws_vpc_security_group_egress_rule")["all"] = {
        "security_group_id": sg, "ip_protocol": "-1", "cidr_ipv4": ANYWHERE, "description": "x"}
    assert function_ingress(broken) == ["ssh"]
    assert non_https_egress(broken) == ["all"]


def test_endpoint_group_admits_https_from_the_function_group_only(mode):
    _, stack, _, _ = mode
    endpoint_sg = ref("aws_security_group", endpoint_group(stack))
    inbound = [r for r in resources(stack, "aws_vpc_security_group_ingress_rule").values() if r["security_group_id"] == endpoint_sg]
    assert [(r["ip_protocol"], r["from_port"], r["to_port"], r["referenced_security_group_id"]) for r in inbound] == [
        ("tcp", 443, 443, ref("aws_security_group", function_group(stack)))]
    assert not [r for r in resources(stack, "aws_vpc_security_group_egress_rule").values() if r["security_group_id"] == endpoint_sg]


def test_default_security_group_is_adopted_and_empty(mode):
    _, stack, _, _ = mode
    group = one(stack, "aws_default_security_group")
    assert group["vpc_id"] == ref("aws_vpc", next(iter(resources(stack, "aws_vpc"))))
    assert default_group_rules(stack) == []
    broken = copy.deepcopy(stack)
    one(broken, "aws_default_security_group")["ingress"] = [{"protocol": "-1", "from_port": 0, "to_port": 0, "self": True}]
    assert default_group_rules(broken) == ["ingress"]


def test_functions_run_in_private_subnets_of_two_zones_with_the_function_group(dev_stack, prod_stack):
    for stack in (dev_stack, prod_stack):
        functions = resources(stack, "aws_lambda_function")
        assert functions, "the ingest and rotation functions are in the stack"
        zone_of = {ref("aws_subnet", n): s["availability_zone"] for n, s in private_subnets(stack).items()}
        for fn in functions.values():
            vpc_config = fn["vpc_config"]
            assert set(vpc_config["subnet_ids"]) <= set(zone_of), "private subnets only"
            assert len({zone_of[s] for s in vpc_config["subnet_ids"]}) >= 2
            assert vpc_config["security_group_ids"] == [ref("aws_security_group", function_group(stack))]


# Flow logs ------------------------------------------------------------------------------------

def test_flow_logs_capture_all_traffic_into_an_encrypted_retained_group(dev_stack):
    flow = one(dev_stack, "aws_flow_log")
    groups = {n: g for n, g in resources(dev_stack, "aws_cloudwatch_log_group").items() if g["name"] == "/ingest/dev/vpc-flow-logs"}
    ((group_name, group),) = groups.items()
    (vpc,) = resources(dev_stack, "aws_vpc")
    (key,) = resources(dev_stack, "aws_kms_key")
    assert (flow["traffic_type"], flow["log_destination_type"]) == ("ALL", "cloud-watch-logs")
    assert flow["vpc_id"] == ref("aws_vpc", vpc)
    assert flow["log_destination"] == ref("aws_cloudwatch_log_group", group_name, "arn")
    assert group["retention_in_days"] == 365
    assert group["kms_key_id"] == ref("aws_kms_key", key, "arn")
    # The key policy lets CloudWatch Logs use the key for exactly this group.
    key_policy = policy(one(dev_stack, "aws_kms_key")["policy"])
    logs_arns = [s["Condition"] for s in key_policy["Statement"] if "logs" in json.dumps(s.get("Principal", ""))]
    assert "arn:aws:logs:eu-west-1:111111111111:log-group:/ingest/dev/vpc-flow-logs" in json.dumps(logs_arns)


def test_flow_log_role_is_trusted_by_flow_logs_of_this_account_and_writes_one_group(dev_stack):
    flow = one(dev_stack, "aws_flow_log")
    roles = {n: r for n, r in resources(dev_stack, "aws_iam_role").items() if ref("aws_iam_role", n, "arn") == flow["iam_role_arn"]}
    ((role_name, role),) = roles.items()
    (trust,) = policy(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole"]
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "111111111111"}
    inline = [p for p in resources(dev_stack, "aws_iam_role_policy").values() if p["role"] == ref("aws_iam_role", role_name)]
    (document,) = [policy(p["policy"]) for p in inline]
    (stmt,) = document["Statement"]
    group_arn = "arn:aws:logs:eu-west-1:111111111111:log-group:/ingest/dev/vpc-flow-logs"
    assert sorted(stmt["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    assert stmt["Resource"] == [group_arn, f"{group_arn}:log-stream:*"]
    assert not [p for p in resources(dev_stack, "aws_iam_role_policy_attachment").values() if p["role"] == ref("aws_iam_role", role_name, "name")]


# The construct's attributes ----------------------------------------------------------------------

def test_network_attributes_for_the_function_construct(project_config, tmp_path):
    from modules.app import build_app

    settings = load_project(copy.deepcopy(project_config))
    _, (stack,) = build_app(settings, str(tmp_path), ["prod"], bootstrap=False)
    network = stack.network
    assert len(network.private_subnet_ids) == 3 and all(isinstance(s, str) for s in network.private_subnet_ids)
    assert network.availability_zones == ("eu-west-1a", "eu-west-1b", "eu-west-1c")
    assert network.endpoint_services == ("s3", "secretsmanager")
    assert network.has_internet_egress is True
    for token in (network.vpc_id, network.function_security_group_id, network.endpoint_security_group_id, network.s3_prefix_list_id):
        assert isinstance(token, str) and token


# Bad configuration ------------------------------------------------------------------------------

def network_problems(project_config: dict[str, Any], mutate: Callable[[dict[str, Any]], Any]) -> list[str]:
    config = copy.deepcopy(project_config)
    mutate(config["environments"]["dev"])
    with pytest.raises(ConfigError) as caught:
        load_project(config)
    return list(caught.value.problems)


def set_network(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda dev: dev.setdefault("network", {}).update(values)


@pytest.mark.parametrize("mutate,expected", [
    (set_network(vpc_cidr="10.20.0.300/16"),
     "environments.dev.network.vpc_cidr: '10.20.0.300/16' is not a valid IPv4 network in CIDR notation"),
    (set_network(vpc_cidr="10.20.0.1/16"),
     "environments.dev.network.vpc_cidr: '10.20.0.1/16' is not a valid IPv4 network in CIDR notation"),
    (set_network(vpc_cidr="10.0.0.0/8"), "environments.dev.network.vpc_cidr: '10.0.0.0/8' has prefix /8; allowed: /16–/24"),
    (set_network(vpc_cidr="8.8.0.0/16"), "environments.dev.network.vpc_cidr: '8.8.0.0/16' is not a private (RFC 1918) range"),
    (set_network(vpc_cidr="10.20.0.0/24", az_count=3, subnet_prefix_length=26),
     "environments.dev.network.vpc_cidr: '10.20.0.0/24' is too small for 6 /26 subnets (3 AZs x 2 tier(s))"),
    (set_network(vpc_cidr="10.20.0.0/24"), "environments.dev.network.vpc_cidr: '10.20.0.0/24' cannot hold /24 subnets"),
    (set_network(az_count=1), "environments.dev.network.az_count: 1 is out of range; allowed: 2–3"),
    (set_network(az_count=4), "environments.dev.network.az_count: 4 is out of range; allowed: 2–3"),
    (set_network(egress="nat"), "environments.dev.network.egress: 'nat' is not allowed; allowed: per-az, single, none"),
    (set_network(optional_endpoints=["ec2"]),
     "environments.dev.network.optional_endpoints[0]: 'ec2' is not allowed; allowed: kms, logs, sts"),
    (set_network(availability_zones=["eu-west-1a"]),
     "environments.dev.network.availability_zones: lists 1 zone(s) but az_count is 2"),
    (set_network(availability_zones=["eu-west-1a", "us-east-1b"]),
     "environments.dev.network.availability_zones[1]: 'us-east-1b' is not a zone of region 'eu-west-1'"),
    (set_network(subnet_prefix_length=29), "environments.dev.network.subnet_prefix_length: 29 is out of range; allowed: 20–28"),
])
def test_bad_network_settings_name_the_field_and_what_is_allowed(project_config, mutate, expected):
    problems = network_problems(project_config, mutate)
    assert any(p.startswith(expected) for p in problems), problems


def test_egress_none_fits_a_smaller_vpc_than_nat(project_config):
    # 4 /26 subnets fit a /24 only without the public tier.
    load_project({**copy.deepcopy(project_config), "environments": {"dev": {
        "account_id": "111111111111", "network": {"vpc_cidr": "10.20.0.0/24", "subnet_prefix_length": 25, "egress": "none"}}}})
    problems = network_problems(project_config, set_network(vpc_cidr="10.20.0.0/24", subnet_prefix_length=25, egress="single"))
    assert any("is too small for 4 /25 subnets (2 AZs x 2 tier(s))" in p for p in problems), problems


def test_webhook_with_egress_none_is_rejected(project_config):
    def mutate(dev: dict[str, Any]) -> None:
        dev["network"] = {"egress": "none"}
        dev["function"] = {"webhook_url": "https://hooks.example.com/ingest"}

    (problem,) = network_problems(project_config, mutate)
    assert problem.startswith("environments.dev.function.webhook_url: a webhook needs internet egress, but network.egress is 'none'; "
                              "allowed: set network.egress to 'single' or 'per-az'")


def test_egress_defaults_follow_the_environment_class(project_config):
    dev, prod = load_project(copy.deepcopy(project_config)).environments
    assert (dev.network.egress, prod.network.egress) == ("single", "per-az")
