"""The functions' IAM, parsed from cdk.tf.json: least privilege, scoped to this stack, proven both ways."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from modules import iam
from modules.iam import RecursionRiskError, check_no_recursion, write_grants_covering
from tests.conftest import resources
from tests.modules.test_function import INGEST, ROTATION, address, by_path, ref

# The only actions IAM accepts solely on "*", each commented where it is granted.
STAR_ONLY_ACTIONS = {"ec2:DescribeNetworkInterfaces", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                     "secretsmanager:GetRandomPassword"}
TOKEN = re.compile(r"\$\{([a-z0-9_]+)\.([^.}]+)\.[a-z_]+\}")


def policy(stack: dict, which: str) -> dict[str, Any]:
    return json.loads(by_path(stack, "aws_iam_role_policy", f"{which}/policy")["policy"])


def statements(stack: dict, which: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy(stack, which)["Statement"]}


def violations(document: dict[str, Any], stack: dict[str, Any], account: str, region: str) -> list[str]:
    """Why a policy document is not least privilege for this stack (empty: it is)."""
    problems = []
    for stmt in document["Statement"]:
        sid, actions, resources_ = stmt.get("Sid"), stmt["Action"], stmt["Resource"]
        if stmt["Effect"] != "Allow":
            continue
        if any(a == "*" or a.endswith(":*") for a in actions):
            problems.append(f"{sid}: wildcard action")
        for resource in resources_:
            if resource == "*":
                if not set(actions) <= STAR_ONLY_ACTIONS:
                    problems.append(f"{sid}: '*' resource for {sorted(set(actions) - STAR_ONLY_ACTIONS)}")
                continue
            match = TOKEN.match(resource)
            if match:
                if match.group(2) not in resources(stack, match.group(1)):
                    problems.append(f"{sid}: {resource} is not a resource of this stack")
            elif f":{region}:{account}:" not in resource:
                problems.append(f"{sid}: {resource} is not in this account and region")
        if any(a.startswith("kms:") for a in actions):
            if "kms:ViaService" not in stmt.get("Condition", {}).get("StringEquals", {}):
                problems.append(f"{sid}: KMS use not limited to a service (kms:ViaService)")
    return problems


@pytest.mark.parametrize("which", [INGEST, ROTATION])
@pytest.mark.parametrize(("stack_name", "account"), [("ingest-dev", "111111111111"), ("ingest-prod", "222222222222")])
def test_policies_are_scoped_to_this_stack(synth, which, stack_name, account):
    stack = synth[stack_name]
    assert violations(policy(stack, which), stack, account, "eu-west-1") == []


def test_the_checker_catches_what_it_looks_for(dev_stack):
    broken = policy(dev_stack, INGEST)
    broken["Statement"] += [
        {"Sid": "Admin", "Effect": "Allow", "Action": ["*"], "Resource": ["*"]},
        {"Sid": "AllS3", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::other-bucket/*"]},
        {"Sid": "ForeignKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["${aws_kms_key.elsewhere.arn}"]},
        {"Sid": "OtherAccount", "Effect": "Allow", "Action": ["sqs:SendMessage"],
         "Resource": ["arn:aws:sqs:eu-west-1:999999999999:q"]},
    ]
    found = violations(broken, dev_stack, "111111111111", "eu-west-1")
    assert any(p.startswith("Admin: wildcard action") for p in found)
    assert any(p.startswith("Admin: '*' resource") for p in found)
    assert any(p.startswith("AllS3: wildcard action") for p in found)
    assert any(p.startswith("AllS3: arn:aws:s3:::other-bucket/*") for p in found)
    assert any(p.startswith("ForeignKey: ${aws_kms_key.elsewhere.arn} is not a resource") for p in found)
    assert any(p.startswith("ForeignKey: KMS use not limited") for p in found)
    assert any(p.startswith("OtherAccount:") for p in found)


def test_ingest_role_reads_only_the_trigger_prefix_and_writes_only_the_manifest_prefix(dev_stack):
    stmts = statements(dev_stack, INGEST)
    s3 = {sid: s for sid, s in stmts.items() if any(a.startswith("s3:") for a in s["Action"])}
    assert {sid: (s["Action"], s["Resource"]) for sid, s in s3.items()} == {
        "IngestReadObjects": (["s3:GetObject", "s3:GetObjectVersion"],
                              [ref(dev_stack, "aws_s3_bucket", "ingest/bucket", "arn") + "/incoming/*"]),
        "ManifestsWriteObjects": (["s3:PutObject"], [ref(dev_stack, "aws_s3_bucket", "manifests/bucket", "arn") + "/manifests/*"]),
    }
    assert stmts["SigningSecretRead"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert stmts["SigningSecretRead"]["Resource"] == [ref(dev_stack, "aws_secretsmanager_secret", "signing-secret/secret", "arn")]
    assert not any(a.startswith(("secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"))
                   for s in stmts.values() for a in s["Action"])


def test_rotation_role_rotates_the_secret_and_touches_no_bucket(dev_stack):
    stmts = statements(dev_stack, ROTATION)
    assert not any(a.startswith("s3:") for s in stmts.values() for a in s["Action"])
    secret = ref(dev_stack, "aws_secretsmanager_secret", "signing-secret/secret", "arn")
    rotate = [s for s in stmts.values() if "secretsmanager:PutSecretValue" in s["Action"]]
    assert len(rotate) == 1 and rotate[0]["Resource"] == [secret]


@pytest.mark.parametrize("which", [INGEST, ROTATION])
def test_shared_function_statements(dev_stack, which):
    stmts = statements(dev_stack, which)
    assert stmts["WriteOwnLogGroup"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert stmts["WriteOwnLogGroup"]["Resource"] == [ref(dev_stack, "aws_cloudwatch_log_group", f"{which}/log-group", "arn") + ":*"]
    assert not any("logs:CreateLogGroup" in s["Action"] for s in stmts.values())
    assert stmts["SendToOwnDeadLetterQueue"] == {**stmts["SendToOwnDeadLetterQueue"], "Action": ["sqs:SendMessage"],
                                                 "Resource": [ref(dev_stack, "aws_sqs_queue", f"{which}/dlq", "arn")]}
    dlq_key = stmts["KeyViaSqsForDeadLetterQueue"]["Condition"]["StringEquals"]
    assert dlq_key["kms:ViaService"] == "sqs.eu-west-1.amazonaws.com"
    env_key = stmts["DecryptOwnEnvironment"]
    assert env_key["Action"] == ["kms:Decrypt"]
    fn_name = by_path(dev_stack, "aws_lambda_function", f"{which}/function")["function_name"]
    assert env_key["Condition"]["StringEquals"] == {
        "kms:ViaService": "lambda.eu-west-1.amazonaws.com",
        "kms:EncryptionContext:aws:lambda:FunctionArn": f"arn:aws:lambda:eu-west-1:111111111111:function:{fn_name}"}
    assert stmts["ManageFunctionNetworkInterfaces"]["Resource"] == ["arn:aws:ec2:eu-west-1:111111111111:*/*"]
    assert sorted(stmts["ManageFunctionNetworkInterfaces"]["Action"]) == sorted(
        ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"])
    star = {sid for sid, s in stmts.items() if s["Resource"] == ["*"]}
    expected_star = {"DescribeNetworkInterfaces", "WriteTraces"} | ({"SigningSecretGenerateValue"} if which == ROTATION else set())
    assert star == expected_star


@pytest.mark.parametrize("which", [INGEST, ROTATION])
def test_role_trusted_only_by_lambda_for_this_account_and_no_managed_policy(dev_stack, which):
    role = by_path(dev_stack, "aws_iam_role", f"{which}/role")
    (trust,) = json.loads(role["assume_role_policy"])["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "111111111111"}}
    assert "managed_policy_arns" not in role
    assert not resources(dev_stack, "aws_iam_role_policy_attachment")
    role_policies = [p for p in resources(dev_stack, "aws_iam_role_policy").values()
                     if p["role"] == ref(dev_stack, "aws_iam_role", f"{which}/role", "id")]
    assert len(role_policies) == 1


def test_source_files_comment_every_star_resource():
    source = open(iam.__file__).read()
    for action in ("ec2:DescribeNetworkInterfaces", "xray:PutTraceSegments"):
        line = next(i for i, text in enumerate(source.splitlines()) if action in text)
        assert "#" in "\n".join(source.splitlines()[max(0, line - 3):line]), action


# --- recursion: the function can never write where it is triggered -------------------------------------------

BUCKET = "${aws_s3_bucket.ingest_bucket_X.arn}"


@pytest.mark.parametrize(("stmt", "covers"), [
    ({"Sid": "Manifests", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["${aws_s3_bucket.m.arn}/incoming/*"]}, False),
    ({"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{BUCKET}/incoming/*"]}, False),
    ({"Sid": "Other", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"{BUCKET}/outgoing/*"]}, False),
    ({"Sid": "Deny", "Effect": "Deny", "Action": ["s3:PutObject"], "Resource": [f"{BUCKET}/*"]}, False),
    ({"Sid": "Prefix", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"{BUCKET}/incoming/*"]}, True),
    ({"Sid": "Whole", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"{BUCKET}/*"]}, True),
    ({"Sid": "Deeper", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"{BUCKET}/incoming/sub/*"]}, True),
    ({"Sid": "Wild", "Effect": "Allow", "Action": ["s3:Put*"], "Resource": [f"{BUCKET}/in*"]}, True),
    ({"Sid": "All", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}, True),
    ({"Sid": "Star", "Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::*"}, True),
])
def test_write_grants_covering(stmt, covers):
    assert (write_grants_covering([stmt], BUCKET, "incoming/") == [stmt["Sid"]]) is covers


def test_check_no_recursion_names_the_statement():
    grant = {"Sid": "IngestWriteObjects", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"{BUCKET}/incoming/*"]}
    with pytest.raises(RecursionRiskError, match=re.escape(
            "function 'fn' is triggered by s3://ingest-bucket/incoming/ but its role may create objects there "
            "(statement(s) IngestWriteObjects): it would trigger itself")):
        check_no_recursion("fn", [grant], BUCKET, "ingest-bucket", "incoming/")
    check_no_recursion("fn", [{**grant, "Resource": [f"{BUCKET}/processed/*"]}], BUCKET, "ingest-bucket", "incoming/")


def test_the_stack_refuses_a_write_grant_on_its_trigger_prefix(synth_variant, monkeypatch):
    from modules.storage import SecureBucket

    real_grant_read = SecureBucket.grant_read

    def read_and_write(self, prefix=""):
        # A careless change: the ingest role also gets write access where it is triggered.
        return [*real_grant_read(self, prefix), *self.grant_write(prefix)]

    monkeypatch.setattr(SecureBucket, "grant_read", read_and_write)
    with pytest.raises(RecursionRiskError, match=r"function 'ingest-dev-ingest' is triggered by s3://ingest-dev-ingest-111111111111-eu-west-1/incoming/ "
                                                  r"but its role may create objects there \(statement\(s\) IngestWriteObjects\)"):
        synth_variant(lambda cfg: None, environments=["dev"])


def test_the_compliant_stack_passes_the_recursion_check(dev_stack):
    stmts = policy(dev_stack, INGEST)["Statement"]
    bucket = ref(dev_stack, "aws_s3_bucket", "ingest/bucket", "arn")
    assert write_grants_covering(stmts, bucket, "incoming/") == []
    assert address(dev_stack, "aws_s3_bucket", "ingest/bucket")
