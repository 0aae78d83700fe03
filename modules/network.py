"""The private network the functions run in.

One VPC (DNS support and hostnames on, so interface endpoints' private DNS
names resolve) with a private subnet per availability zone for the functions.
Subnet CIDRs are computed here with ``ipaddress`` (not ``cidrsubnet``) so the
plan is known, and checked, at synth time.

Egress (``NetworkSettings.egress``):

- ``per-az``: a public subnet, EIP and NAT gateway per zone; each zone's private
  route table uses its own NAT gateway (a zone failure does not cut the others).
- ``single``: one public subnet, EIP and NAT gateway in the first zone; every
  private route table uses it (cheaper, one zone is a single point of failure).
- ``none``: no internet gateway, NAT or public subnet; AWS is reached only
  through VPC endpoints.

Endpoints exist for exactly the AWS APIs the functions' own code calls
(``REQUIRED_ENDPOINT_SERVICES``): S3 (gateway endpoint, free) and Secrets
Manager (interface endpoint). KMS is called server-side by S3 and Secrets
Manager; Lambda ships logs and traces outside the VPC; so KMS, Logs, STS …
are optional (``NetworkSettings.optional_endpoints``, ~7 USD per zone per
month each).

Security groups: the function group has no ingress and egress on 443 only (to
the endpoint group, the S3 prefix list and, only with NAT, 0.0.0.0/0); the
endpoint group allows 443 only from the function group; the VPC's default
group is adopted and emptied. Every group and rule has a description.
Flow logs record ALL traffic to a KMS-encrypted log group with retention.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass

from cdktf import Postcondition, TerraformResourceLifecycle
from constructs import Construct

from modules.policy import Statement, render, statement
from modules.provider_import import aws
from modules.settings import NetworkSettings

# The AWS services the handler and the rotation function call (handler/app.py, handler/rotation.py).
REQUIRED_ENDPOINT_SERVICES = ("s3", "secretsmanager")
HTTPS = 443
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class SubnetPlan:
    """Subnet CIDRs by zone index; ``public`` holds one entry per NAT gateway."""

    vpc_cidr: str
    private: tuple[str, ...]
    public: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.private + self.public


def zone_names(settings: NetworkSettings, region: str) -> tuple[str, ...]:
    """The configured zones, else the region's first ``az_count`` zones (``<region>a``, ``b``, ``c``)."""
    return settings.availability_zones or tuple(f"{region}{letter}" for letter in "abc"[:settings.az_count])


def nat_gateway_count(settings: NetworkSettings) -> int:
    return {"per-az": settings.az_count, "single": 1, "none": 0}[settings.egress]


def plan_subnets(settings: NetworkSettings) -> SubnetPlan:
    """Carve the VPC CIDR into ``subnet_prefix_length`` blocks: private subnets first, then public.

    Public slots are reserved for every zone whenever NAT is on, so switching
    between ``single`` and ``per-az`` never re-addresses an existing subnet, and
    private subnets keep their CIDRs whatever the egress mode.
    """
    vpc = ipaddress.IPv4Network(settings.vpc_cidr, strict=True)
    blocks = (str(b) for b in vpc.subnets(new_prefix=settings.subnet_prefix_length))
    private = tuple(itertools.islice(blocks, settings.az_count))
    public_slots = tuple(itertools.islice(blocks, settings.az_count)) if settings.egress != "none" else ()
    plan = SubnetPlan(settings.vpc_cidr, private, public_slots[:nat_gateway_count(settings)])
    check_subnet_plan(plan, settings.az_count)
    return plan


def check_subnet_plan(plan: SubnetPlan, az_count: int) -> None:
    """Raise ValueError unless every subnet lies inside the VPC and no two overlap."""
    vpc = ipaddress.IPv4Network(plan.vpc_cidr)
    problems = []
    if len(plan.private) != az_count:
        problems.append(f"{plan.vpc_cidr} holds {len(plan.private)} private subnet(s); {az_count} needed (one per zone)")
    networks = [ipaddress.IPv4Network(c) for c in plan.all]
    problems += [f"{n} is outside the VPC {vpc}" for n in networks if not n.subnet_of(vpc)]
    problems += [f"{a} overlaps {b}" for a, b in itertools.combinations(networks, 2) if a.overlaps(b)]
    if problems:
        raise ValueError("invalid subnet plan: " + "; ".join(problems))


@dataclass(frozen=True)
class NetworkConfig:
    settings: NetworkSettings
    # Prefix of every Name tag, e.g. "ingest-dev".
    name_prefix: str
    account_id: str
    region: str
    # The stack's key; its policy lets CloudWatch Logs use it for flow_log_group_name.
    kms_key_arn: str
    flow_log_group_name: str
    flow_log_role_name: str
    log_retention_days: int
    function_security_group_name: str
    endpoint_security_group_name: str


class Network(Construct):
    def __init__(self, scope: Construct, id_: str, config: NetworkConfig) -> None:
        super().__init__(scope, id_)
        self.config = config
        settings = config.settings
        self.plan = plan_subnets(settings)
        self._vpc = aws("vpc").Vpc(
            self, "vpc",
            cidr_block=settings.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._name("vpc"),
        )
        vpc_id = self._vpc.id
        # Adopted and left without rules: nothing can use the default group by accident (CKV2_AWS_12).
        aws("default_security_group").DefaultSecurityGroup(self, "default-security-group", vpc_id=vpc_id,
                                                           tags=self._name("default-do-not-use"))
        self._zones = self._availability_zones()
        self._private_subnets = [self._subnet(f"private-{i}", cidr, i, "private")
                                 for i, cidr in enumerate(self.plan.private)]
        nat_gateway_ids = self._internet_egress()
        rt = aws("route_table")
        self._private_route_tables = []
        for i, subnet in enumerate(self._private_subnets):
            table = rt.RouteTable(self, f"private-route-table-{i}", vpc_id=vpc_id, tags=self._name(f"private-az{i + 1}"))
            self._associate(f"private-{i}", subnet, table)
            if nat_gateway_ids:
                # per-az: the zone's own NAT gateway; single: the only one.
                aws("route").Route(self, f"private-default-route-{i}", route_table_id=table.id,
                                   destination_cidr_block=ANYWHERE, nat_gateway_id=nat_gateway_ids[i % len(nat_gateway_ids)])
            self._private_route_tables.append(table)
        self._s3_endpoint = aws("vpc_endpoint").VpcEndpoint(
            self, "s3-endpoint",
            vpc_id=vpc_id,
            service_name=f"com.amazonaws.{config.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in self._private_route_tables],
            policy=render(s3_endpoint_statements(config.account_id)),
            tags=self._name("s3"),
        )
        self._security_groups()
        self._interface_endpoints = {
            service: self._interface_endpoint(service) for service in ("secretsmanager", *settings.optional_endpoints)
        }
        self._flow_logs()

    # Attributes the function construct consumes -------------------------------------

    @property
    def vpc_id(self) -> str:
        return self._vpc.id

    @property
    def private_subnet_ids(self) -> list[str]:
        return [s.id for s in self._private_subnets]

    @property
    def function_security_group_id(self) -> str:
        return self._function_sg.id

    @property
    def endpoint_security_group_id(self) -> str:
        return self._endpoint_sg.id

    @property
    def private_route_table_ids(self) -> list[str]:
        return [t.id for t in self._private_route_tables]

    @property
    def availability_zones(self) -> tuple[str, ...]:
        return self._zones

    @property
    def s3_prefix_list_id(self) -> str:
        return self._s3_endpoint.prefix_list_id

    @property
    def endpoint_services(self) -> tuple[str, ...]:
        """Short names of the AWS services reachable through a VPC endpoint (no internet needed)."""
        return ("s3", *self._interface_endpoints)

    @property
    def has_internet_egress(self) -> bool:
        return self.config.settings.egress != "none"

    # Building blocks -------------------------------------------------------------

    def _name(self, suffix: str) -> dict[str, str]:
        return {"Name": f"{self.config.name_prefix}-{suffix}"}

    def _availability_zones(self) -> tuple[str, ...]:
        zones = zone_names(self.config.settings, self.config.region)
        azs = aws("data_aws_availability_zones")
        # Plan-time check that every chosen zone exists and is available to this account. Subnets use the
        # names themselves (known at synth, so tests see the zones); a data source listing whatever zones
        # exist would silently shift placement when AWS adds one (checkov CKV_AWS_394).
        azs.DataAwsAvailabilityZones(
            self, "zones",
            state="available",
            filter=[azs.DataAwsAvailabilityZonesFilter(name="zone-name", values=list(zones))],
            lifecycle=TerraformResourceLifecycle(postcondition=[Postcondition(
                condition=f"${{length(self.names) == {len(zones)}}}",
                error_message=f"network: availability zones {', '.join(zones)} must all exist and be available in "
                              f"{self.config.region} for this account; set network.availability_zones to {len(zones)} that are",
            )]),
        )
        return zones

    def _subnet(self, id_: str, cidr: str, zone_index: int, tier: str):
        return aws("subnet").Subnet(
            self, id_,
            vpc_id=self._vpc.id,
            cidr_block=cidr,
            availability_zone=self._zones[zone_index],
            # Also false on public subnets: only NAT gateways live there, with their own EIPs (CKV_AWS_130).
            map_public_ip_on_launch=False,
            tags=self._name(f"{tier}-az{zone_index + 1}"),
        )

    def _associate(self, id_: str, subnet, table) -> None:
        aws("route_table_association").RouteTableAssociation(self, f"{id_}-association", subnet_id=subnet.id,
                                                             route_table_id=table.id)

    def _internet_egress(self) -> list[str]:
        """Internet gateway, public subnets and NAT gateways (none with egress 'none'); returns NAT gateway ids."""
        if not self.plan.public:
            return []
        vpc_id = self._vpc.id
        igw = aws("internet_gateway").InternetGateway(self, "internet-gateway", vpc_id=vpc_id, tags=self._name("igw"))
        public_table = aws("route_table").RouteTable(self, "public-route-table", vpc_id=vpc_id, tags=self._name("public"))
        aws("route").Route(self, "public-default-route", route_table_id=public_table.id,
                           destination_cidr_block=ANYWHERE, gateway_id=igw.id)
        nat_ids = []
        for i, cidr in enumerate(self.plan.public):
            subnet = self._subnet(f"public-{i}", cidr, i, "public")
            self._associate(f"public-{i}", subnet, public_table)
            eip = aws("eip").Eip(self, f"nat-eip-{i}", domain="vpc", tags=self._name(f"nat-az{i + 1}"),
                                 depends_on=[igw])
            nat = aws("nat_gateway").NatGateway(self, f"nat-gateway-{i}", allocation_id=eip.allocation_id,
                                                subnet_id=subnet.id, tags=self._name(f"nat-az{i + 1}"),
                                                depends_on=[igw])
            nat_ids.append(nat.id)
        return nat_ids

    def _security_groups(self) -> None:
        config = self.config
        sg = aws("security_group")
        self._function_sg = sg.SecurityGroup(
            self, "function-security-group",
            name=config.function_security_group_name,
            description="Ingest functions: no ingress; HTTPS out to the VPC endpoints" +
                        (" and the internet (NAT)" if self.has_internet_egress else " only"),
            vpc_id=self._vpc.id,
            tags=self._name("function"),
        )
        self._endpoint_sg = sg.SecurityGroup(
            self, "endpoint-security-group",
            name=config.endpoint_security_group_name,
            description="Interface VPC endpoints: HTTPS in from the functions' security group only",
            vpc_id=self._vpc.id,
            tags=self._name("endpoints"),
        )
        ingress = aws("vpc_security_group_ingress_rule").VpcSecurityGroupIngressRule
        egress = aws("vpc_security_group_egress_rule").VpcSecurityGroupEgressRule
        ingress(self, "endpoints-from-functions", security_group_id=self._endpoint_sg.id,
                description="HTTPS from the ingest functions", ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS,
                referenced_security_group_id=self._function_sg.id)
        fn_sg = self._function_sg.id
        egress(self, "functions-to-endpoints", security_group_id=fn_sg,
               description="HTTPS to the interface VPC endpoints (Secrets Manager and optional ones)",
               ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, referenced_security_group_id=self._endpoint_sg.id)
        egress(self, "functions-to-s3", security_group_id=fn_sg,
               description="HTTPS to S3 through the gateway endpoint (S3 prefix list)",
               ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, prefix_list_id=self._s3_endpoint.prefix_list_id)
        if self.has_internet_egress:
            egress(self, "functions-to-internet", security_group_id=fn_sg,
                   description="HTTPS to the internet through NAT (the optional webhook)",
                   ip_protocol="tcp", from_port=HTTPS, to_port=HTTPS, cidr_ipv4=ANYWHERE)

    def _interface_endpoint(self, service: str):
        config = self.config
        return aws("vpc_endpoint").VpcEndpoint(
            self, f"{service}-endpoint",
            vpc_id=self._vpc.id,
            service_name=f"com.amazonaws.{config.region}.{service}",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=self.private_subnet_ids,
            security_group_ids=[self._endpoint_sg.id],
            policy=render(interface_endpoint_statements(service, config.account_id, config.region)),
            tags=self._name(service),
        )

    def _flow_logs(self) -> None:
        config = self.config
        log_group = aws("cloudwatch_log_group").CloudwatchLogGroup(
            self, "flow-log-group",
            name=config.flow_log_group_name,
            retention_in_days=config.log_retention_days,
            kms_key_id=config.kms_key_arn,
        )
        role = aws("iam_role").IamRole(
            self, "flow-log-role",
            name=config.flow_log_role_name,
            description=f"VPC flow logs of {config.name_prefix} write to {config.flow_log_group_name}",
            assume_role_policy=render([flow_log_trust_statement(config.account_id, config.region)]),
        )
        aws("iam_role_policy").IamRolePolicy(
            self, "flow-log-role-policy",
            name="write-flow-log-group",
            role=role.id,
            policy=render(flow_log_write_statements(config.account_id, config.region, config.flow_log_group_name)),
        )
        aws("flow_log").FlowLog(
            self, "flow-log",
            vpc_id=self._vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            tags=self._name("flow-log"),
        )


# Policy documents (pure functions, so tests can read them without synthesizing) --------

def _same_account(account_id: str) -> dict[str, dict[str, str]]:
    return {"StringEquals": {"aws:PrincipalAccount": account_id}}


def s3_endpoint_statements(account_id: str) -> list[Statement]:
    # Only this account's principals, only this account's buckets: data cannot leave through the
    # endpoint to a foreign bucket. This also blocks AWS-owned buckets (e.g. Amazon Linux repositories,
    # other accounts' public data) from inside the VPC; the functions read none.
    return [statement("OnlyThisAccountsBuckets", ["s3:*"], ["*"], principal={"AWS": "*"}, condition={
        "StringEquals": {"aws:PrincipalAccount": account_id, "aws:ResourceAccount": account_id}})]


def interface_endpoint_statements(service: str, account_id: str, region: str) -> list[Statement]:
    if service == "secretsmanager":
        return [
            statement("OnlyThisAccountsSecrets", ["secretsmanager:*"],
                      [f"arn:aws:secretsmanager:{region}:{account_id}:secret:*"],
                      principal={"AWS": "*"}, condition=_same_account(account_id)),
            # The rotation function generates the new key with GetRandomPassword, which has no resource.
            statement("GenerateRandomPasswords", ["secretsmanager:GetRandomPassword"], ["*"],
                      principal={"AWS": "*"}, condition=_same_account(account_id)),
        ]
    # Optional endpoints serve operators' tools, whose calls we do not enumerate: any action,
    # but only by this account's principals.
    return [statement("OnlyThisAccountsPrincipals", ["*"], ["*"], principal={"AWS": "*"},
                      condition=_same_account(account_id))]


def flow_log_trust_statement(account_id: str, region: str) -> Statement:
    # Trust policies have no Resource, so this is built by hand rather than with statement().
    return {
        "Sid": "VpcFlowLogsOfThisAccount",
        "Effect": "Allow",
        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
        "Action": ["sts:AssumeRole"],
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{region}:{account_id}:vpc-flow-log/*"},
        },
    }


def flow_log_write_statements(account_id: str, region: str, log_group_name: str) -> list[Statement]:
    group_arn = f"arn:aws:logs:{region}:{account_id}:log-group:{log_group_name}"
    return [statement("WriteFlowLogGroup", ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                      [group_arn, f"{group_arn}:log-stream:*"])]
