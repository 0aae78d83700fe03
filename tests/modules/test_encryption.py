"""The stack's KMS key: settings, the key policy statement by statement, and the kms:ViaService grants.

The key policy is parsed from the synthesized JSON (``json.loads`` of the policy
string) and every statement is checked for who, what and which condition. The
rules ("no Allow for principal *", "every service principal is conditioned")
are small functions, each tested on the real stacks and on a broken policy.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from cdktf import App

from modules.base_stack import ProjectStack
from modules.encryption import EncryptionKey, EncryptionKeyConfig, root_statement, sid_part
from modules.ingest_stack import StackNames
from modules.policy import render, statement
from modules.provider_import import aws
from modules.settings import load_project
from modules.validation import ConfigError
from tests.conftest import one, resources

ENV_STACKS = {"ingest-dev": ("dev", "111111111111"), "ingest-prod": ("prod", "222222222222")}
REGION = "eu-west-1"
TAGS = {"Project": "unit", "Environment": "test", "Owner": "o", "CostCenter": "c", "ManagedBy": "cdktf"}


def key_policy(stack: dict[str, Any]) -> dict[str, Any]:
    return json.loads(one(stack, "aws_kms_key")["policy"])


def key_ref(stack: dict[str, Any]) -> str:
    key_id, = resources(stack, "aws_kms_key")
    return f"${{aws_kms_key.{key_id}.arn}}"


def statements_by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids)), f"duplicate Sids: {sids}"
    return {s["Sid"]: s for s in policy["Statement"]}


def principal_values(principal: Any) -> list[str]:
    if isinstance(principal, str):
        return [principal]
    values: list[str] = []
    for value in principal.values():
        values.extend([value] if isinstance(value, str) else value)
    return values


def wildcard_allows(policy: dict[str, Any]) -> list[str]:
    """Sids of Allow statements whose principal is, or includes, "*"."""
    return [s.get("Sid", "?") for s in policy["Statement"]
            if s["Effect"] == "Allow" and "*" in principal_values(s.get("Principal", {}))]


def unconditioned_service_allows(policy: dict[str, Any]) -> list[str]:
    """Sids of Allow statements for an AWS service principal without any condition."""
    return [s.get("Sid", "?") for s in policy["Statement"]
            if s["Effect"] == "Allow" and "Service" in s.get("Principal", {}) and not s.get("Condition")]


# --- the real stacks ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settings(project_config: dict[str, Any]):
    return load_project(copy.deepcopy(project_config))


@pytest.mark.parametrize("stack_name", ["ingest-dev", "ingest-prod", "ingest-state-backend"])
def test_every_stack_has_one_rotating_key_with_an_alias(synth, stack_name: str) -> None:
    stack = synth[stack_name]
    key = one(stack, "aws_kms_key")
    assert key["enable_key_rotation"] is True
    assert key["deletion_window_in_days"] == 30
    alias = one(stack, "aws_kms_alias")
    key_id = next(iter(resources(stack, "aws_kms_key")))
    assert alias["target_key_id"] == f"${{aws_kms_key.{key_id}.key_id}}"
    assert alias["name"].startswith("alias/") and not alias["name"].startswith("alias/aws/")


def test_alias_names_follow_the_naming_rule(dev_stack, prod_stack, bootstrap_stack) -> None:
    assert one(dev_stack, "aws_kms_alias")["name"] == "alias/ingest-dev-key"
    assert one(prod_stack, "aws_kms_alias")["name"] == "alias/ingest-prod-key"
    assert one(bootstrap_stack, "aws_kms_alias")["name"] == "alias/ingest-tfstate"


def test_prod_and_state_keys_are_protected_from_destroy_and_dev_is_not(dev_stack, prod_stack, bootstrap_stack) -> None:
    assert one(prod_stack, "aws_kms_key")["lifecycle"] == {"prevent_destroy": True}
    assert one(bootstrap_stack, "aws_kms_key")["lifecycle"] == {"prevent_destroy": True}
    assert "lifecycle" not in one(dev_stack, "aws_kms_key")


def test_deletion_window_comes_from_config(synth_variant) -> None:
    stacks = synth_variant(lambda cfg: cfg["environments"]["dev"].update({"key": {"deletion_window_days": 7}}),
                           environments=["dev"])
    assert one(stacks["ingest-dev"], "aws_kms_key")["deletion_window_in_days"] == 7


@pytest.mark.parametrize("days", [6, 31])
def test_deletion_window_outside_kms_limits_is_a_config_error(project_config, days: int) -> None:
    config = copy.deepcopy(project_config)
    config["environments"]["dev"]["key"] = {"deletion_window_days": days}
    with pytest.raises(ConfigError) as err:
        load_project(config)
    assert f"environments.dev.key.deletion_window_days: {days} is out of range; allowed: 7–30 days" in str(err.value)


@pytest.mark.parametrize("stack_name", ENV_STACKS)
def test_key_policy_grants_exactly_root_logs_alarms_and_sns(synth, settings, stack_name: str) -> None:
    env_name, account = ENV_STACKS[stack_name]
    policy = key_policy(synth[stack_name])
    assert policy["Version"] == "2012-10-17"
    by_sid = statements_by_sid(policy)
    assert list(by_sid) == ["AccountRootAdministers", "CloudWatchLogsEncryptsThisStacksLogGroups",
                            "CloudWatchAlarmsPublishToEncryptedTopic", "SnsUsesKeyForThisAccountsTopics"]
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    # In a key policy, Resource "*" means this key.
    assert all(s["Resource"] == ["*"] for s in policy["Statement"])

    root = by_sid["AccountRootAdministers"]
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}
    assert root["Action"] == ["kms:*"] and "Condition" not in root

    names = StackNames.for_environment(settings.environment(env_name))
    logs = by_sid["CloudWatchLogsEncryptsThisStacksLogGroups"]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs["Action"] == ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    assert logs["Condition"] == {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": [
        f"arn:aws:logs:{REGION}:{account}:log-group:{name}" for name in names.log_groups]}}

    for sid, service in [("CloudWatchAlarmsPublishToEncryptedTopic", "cloudwatch.amazonaws.com"),
                         ("SnsUsesKeyForThisAccountsTopics", "sns.amazonaws.com")]:
        s = by_sid[sid]
        assert s["Principal"] == {"Service": service}
        assert s["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
        assert s["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}


def test_log_group_arns_in_the_key_policy_are_the_stacks_real_log_groups(dev_stack) -> None:
    """Built from names (no cycle), so check they match the log groups that exist, plus the function groups."""
    allowed = set(key_policy(dev_stack)["Statement"][1]["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
    names = {g["name"] for g in resources(dev_stack, "aws_cloudwatch_log_group").values()}
    assert names, "the dev stack has log groups"
    assert {f"arn:aws:logs:{REGION}:111111111111:log-group:{n}" for n in names} <= allowed
    for group in resources(dev_stack, "aws_cloudwatch_log_group").values():
        assert group["kms_key_id"] == key_ref(dev_stack)


def test_state_backend_key_policy_is_root_only(bootstrap_stack) -> None:
    assert key_policy(bootstrap_stack)["Statement"] == [root_statement("111111111111")]


@pytest.mark.parametrize("stack_name", ["ingest-dev", "ingest-prod", "ingest-state-backend"])
def test_no_key_policy_allows_principal_star_and_every_service_allow_is_conditioned(synth, stack_name: str) -> None:
    policy = key_policy(synth[stack_name])
    assert wildcard_allows(policy) == []
    assert unconditioned_service_allows(policy) == []


def test_the_policy_rules_catch_a_broken_policy() -> None:
    broken = json.loads(render([
        root_statement("111111111111"),
        statement("Anyone", ["kms:Decrypt"], ["*"], principal={"AWS": "*"}),
        {"Sid": "AnyoneToo", "Effect": "Allow", "Principal": "*", "Action": ["kms:Decrypt"], "Resource": ["*"]},
        statement("SnsUnconditioned", ["kms:Decrypt"], ["*"], principal={"Service": "sns.amazonaws.com"}),
        statement("DenyIsFine", ["kms:*"], ["*"], effect="Deny", principal={"AWS": "*"},
                  condition={"Bool": {"aws:SecureTransport": "false"}}),
    ]))
    assert wildcard_allows(broken) == ["Anyone", "AnyoneToo"]
    assert unconditioned_service_allows(broken) == ["SnsUnconditioned"]


# --- grants (a small stack with literal inputs) ------------------------------------------------


@pytest.fixture(scope="module")
def grant_policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each grant helper's statements rendered into an IAM policy, synthesized, parsed back."""
    outdir = tmp_path_factory.mktemp("encryption-unit")
    app = App(outdir=str(outdir))
    stack = ProjectStack(app, "unit", region=REGION, account_id="111111111111", tags=TAGS)
    key = EncryptionKey(stack, "key", EncryptionKeyConfig("unit", "alias/unit", "111111111111", REGION))
    grants = {
        "s3": key.grant_via_service(["kms:Decrypt"], "s3"),
        "sqs-context": key.grant_via_service(["kms:GenerateDataKey", "kms:Decrypt"], "sqs", sid="Dlq",
                                             encryption_context={"aws:sqs:arn": "arn:aws:sqs:eu-west-1:111111111111:q"}),
        "lambda-env": key.grant_lambda_environment_decrypt(),
        "lambda-env-fn": key.grant_lambda_environment_decrypt("arn:aws:lambda:eu-west-1:111111111111:function:fn"),
    }
    for name, statements in grants.items():
        aws("iam_policy").IamPolicy(stack, name, name=name, policy=render(statements))
    app.synth()
    synthesized = json.loads((outdir / "stacks" / "unit" / "cdk.tf.json").read_text())
    return {p["name"]: json.loads(p["policy"])["Statement"] for p in resources(synthesized, "aws_iam_policy").values()}


KEY_REF = "${aws_kms_key.key_F64E54E4.arn}"


def test_grant_via_service_is_scoped_to_the_key_and_the_service_in_this_region(grant_policies) -> None:
    assert grant_policies["s3"] == [{
        "Sid": "KeyViaS3", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEY_REF],
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
    }]


def test_grant_via_service_adds_encryption_context_conditions(grant_policies) -> None:
    assert grant_policies["sqs-context"] == [{
        "Sid": "Dlq", "Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": [KEY_REF],
        "Condition": {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com",
                                       "kms:EncryptionContext:aws:sqs:arn": "arn:aws:sqs:eu-west-1:111111111111:q"}},
    }]


def test_lambda_environment_decrypt_goes_through_lambda_and_can_name_the_function(grant_policies) -> None:
    plain, = grant_policies["lambda-env"]
    assert plain["Action"] == ["kms:Decrypt"] and plain["Resource"] == [KEY_REF]
    assert plain["Condition"] == {"StringEquals": {"kms:ViaService": "lambda.eu-west-1.amazonaws.com"}}
    scoped, = grant_policies["lambda-env-fn"]
    assert scoped["Condition"]["StringEquals"]["kms:EncryptionContext:aws:lambda:FunctionArn"] == \
        "arn:aws:lambda:eu-west-1:111111111111:function:fn"


def test_function_roles_use_the_key_only_through_services(dev_stack) -> None:
    """Every IAM statement of the env stack on this key carries kms:ViaService."""
    found = 0
    for policy in resources(dev_stack, "aws_iam_role_policy").values():
        for s in json.loads(policy["policy"])["Statement"]:
            if key_ref(dev_stack) in s["Resource"]:
                found += 1
                assert s["Condition"]["StringEquals"]["kms:ViaService"].endswith(f".{REGION}.amazonaws.com"), s
    assert found, "the function roles use the stack's key"


def test_sid_part_makes_alphanumeric_sids() -> None:
    assert sid_part("access-logs") == "AccessLogs"
    assert sid_part("signing-secret") == "SigningSecret"
    assert sid_part("s3") == "S3"
