"""Invariants over every synthesized stack; each also shown to fail on a deliberately broken copy."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.proof import invariants as inv

Stack = dict[str, Any]

# rule -> the resource type it walks (the dev stack must contain at least one: no vacuous pass)
GOVERNS = {
    "bucket_public_access_blocked": "aws_s3_bucket",
    "bucket_encrypted_with_kms": "aws_s3_bucket",
    "bucket_versioned": "aws_s3_bucket",
    "bucket_tls_only": "aws_s3_bucket",
    "bucket_access_logged": "aws_s3_bucket",
    "bucket_has_lifecycle": "aws_s3_bucket",
    "log_group_retention_and_kms": "aws_cloudwatch_log_group",
    "topic_and_queue_kms": "aws_sqs_queue",
    "security_groups_described": "aws_security_group",
    "iam_no_wildcard_action": "aws_iam_role_policy",
    "iam_star_resource_only_where_required": "aws_iam_role_policy",
    "lambda_permission_scoped": "aws_lambda_permission",
}


def _first(stack: Stack, rtype: str, contains: str = "") -> tuple[str, dict[str, Any]]:
    return next((n, c) for n, c in inv.resources(stack, rtype).items() if contains in n)


def _of_bucket(stack: Stack, rtype: str, bucket: str) -> dict[str, Any]:
    return next(c for c in inv.resources(stack, rtype).values() if f"aws_s3_bucket.{bucket}." in c["bucket"])


def _ingest_bucket(stack: Stack) -> str:
    return _first(stack, "aws_s3_bucket", "ingest")[0]


def _edit_policy(conf: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(conf["policy"])
    change(document)
    conf["policy"] = json.dumps(document)


def break_public_access(s: Stack) -> None:
    _of_bucket(s, "aws_s3_bucket_public_access_block", _ingest_bucket(s))["restrict_public_buckets"] = False


def break_encryption(s: Stack) -> None:
    rule = _of_bucket(s, "aws_s3_bucket_server_side_encryption_configuration", _ingest_bucket(s))["rule"][0]
    rule["apply_server_side_encryption_by_default"] = {"sse_algorithm": "AES256"}


def break_versioning(s: Stack) -> None:
    _of_bucket(s, "aws_s3_bucket_versioning", _ingest_bucket(s))["versioning_configuration"]["status"] = "Suspended"


def break_tls_policy(s: Stack) -> None:
    policies = s["resource"]["aws_s3_bucket_policy"]
    del policies[next(n for n, c in policies.items() if _ingest_bucket(s) in c["bucket"])]


def break_logging(s: Stack) -> None:
    logging = s["resource"]["aws_s3_bucket_logging"]
    del logging[next(n for n, c in logging.items() if _ingest_bucket(s) in c["bucket"])]


def break_lifecycle(s: Stack) -> None:
    _of_bucket(s, "aws_s3_bucket_lifecycle_configuration", _ingest_bucket(s))["rule"][0]["status"] = "Disabled"


def break_log_group(s: Stack) -> None:
    _first(s, "aws_cloudwatch_log_group")[1].pop("kms_key_id")


def break_queue(s: Stack) -> None:
    _first(s, "aws_sqs_queue")[1].pop("kms_master_key_id")


def break_security_group_rule(s: Stack) -> None:
    rtype = next(t for t in inv.SECURITY_GROUP_RULE_TYPES if inv.resources(s, t))
    _first(s, rtype)[1]["description"] = ""


def break_iam_action(s: Stack) -> None:
    _edit_policy(_first(s, "aws_iam_role_policy")[1],
                 lambda d: d["Statement"].append({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::x"}))


def break_iam_resource(s: Stack) -> None:
    _edit_policy(_first(s, "aws_iam_role_policy")[1],
                 lambda d: d["Statement"].append({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}))


def break_lambda_permission(s: Stack) -> None:
    _first(s, "aws_lambda_permission")[1].pop("source_account")


BREAKS: dict[str, Callable[[Stack], None]] = {
    "bucket_public_access_blocked": break_public_access,
    "bucket_encrypted_with_kms": break_encryption,
    "bucket_versioned": break_versioning,
    "bucket_tls_only": break_tls_policy,
    "bucket_access_logged": break_logging,
    "bucket_has_lifecycle": break_lifecycle,
    "log_group_retention_and_kms": break_log_group,
    "topic_and_queue_kms": break_queue,
    "security_groups_described": break_security_group_rule,
    "iam_no_wildcard_action": break_iam_action,
    "iam_star_resource_only_where_required": break_iam_resource,
    "lambda_permission_scoped": break_lambda_permission,
}


def test_every_rule_has_a_breaking_case():
    assert set(BREAKS) == set(inv.RULES) == set(GOVERNS)


@pytest.mark.parametrize("rule", sorted(inv.RULES))
def test_rule_holds_on_every_stack(rule, synth, dev_stack):
    assert inv.resources(dev_stack, GOVERNS[rule]), f"{rule} would pass vacuously: no {GOVERNS[rule]}"
    for name, stack in synth.items():
        assert inv.RULES[rule](stack) == [], f"{name}: {rule}"


@pytest.mark.parametrize("rule", sorted(inv.RULES))
def test_rule_fails_on_a_broken_stack(rule, dev_stack):
    broken = copy.deepcopy(dev_stack)
    BREAKS[rule](broken)
    problems = inv.RULES[rule](broken)
    assert len(problems) == 1, problems


def test_access_log_bucket_is_the_only_sse_s3_bucket(synth):
    """The documented exception is narrow: SSE-S3 on a bucket nobody logs to fails."""
    for stack in synth.values():
        broken = copy.deepcopy(stack)
        broken["resource"]["aws_s3_bucket_logging"] = {}
        assert inv.bucket_encrypted_with_kms(broken), "an SSE-S3 bucket passed without being a log target"


def test_tls_rule_needs_both_bucket_and_object_arns(dev_stack):
    broken = copy.deepcopy(dev_stack)
    policy = _of_bucket(broken, "aws_s3_bucket_policy", _ingest_bucket(broken))

    def drop_object_arn(document: dict[str, Any]) -> None:
        for statement in document["Statement"]:
            statement["Resource"] = [r for r in inv.as_list(statement.get("Resource", [])) if not r.endswith("/*")]

    _edit_policy(policy, drop_object_arn)
    assert inv.bucket_tls_only(broken)
