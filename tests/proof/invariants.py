"""Security invariants over a synthesized stack, cdk-nag style: one small pure rule per function.

Every rule takes a parsed ``cdk.tf.json`` and returns a list of violations
(human-readable strings; empty = compliant). Rules walk *every* resource of the
type they govern, so they keep holding as the stack grows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

Stack = dict[str, Any]
Rule = Callable[[Stack], list[str]]

REF = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)\}")

# Actions that AWS only authorises on Resource "*" (they act on no resource ARN, or on one that
# does not exist yet): the only ones an identity policy may grant on "*".
STAR_RESOURCE_ACTIONS = frozenset({
    "ec2:DescribeNetworkInterfaces",  # Lambda VPC ENI management: Describe* has no resource-level scope
    "xray:PutTraceSegments",  # X-Ray has no resource types
    "xray:PutTelemetryRecords",
    "secretsmanager:GetRandomPassword",  # generates a value, touches no secret
})

IDENTITY_POLICY_TYPES = ("aws_iam_role_policy", "aws_iam_policy", "aws_iam_user_policy", "aws_iam_group_policy")
RESOURCE_POLICY_TYPES = {"aws_s3_bucket_policy": "policy", "aws_sns_topic_policy": "policy",
                         "aws_sqs_queue_policy": "policy", "aws_kms_key": "policy"}


# --- helpers ---------------------------------------------------------------------------
def resources(stack: Stack, rtype: str) -> dict[str, dict[str, Any]]:
    return stack.get("resource", {}).get(rtype, {})


def ref(value: Any) -> tuple[str, str, str] | None:
    """'${aws_s3_bucket.ingest_bucket_D2E76047.id}' -> ('aws_s3_bucket', 'ingest_bucket_D2E76047', 'id')."""
    match = REF.fullmatch(value) if isinstance(value, str) else None
    return match.groups() if match else None


def attached(stack: Stack, rtype: str, target_type: str, target: str, attribute: str = "bucket") -> list[dict]:
    """Resources of ``rtype`` whose ``attribute`` references ``target_type.target``."""
    return [conf for conf in resources(stack, rtype).values()
            if (ref(conf.get(attribute)) or ("", "", ""))[:2] == (target_type, target)]


def document(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found = policy.get("Statement", [])
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def access_log_targets(stack: Stack) -> set[str]:
    """Buckets that receive S3 server access logs (SSE-S3 and not logged themselves, by necessity)."""
    return {ref(c["target_bucket"])[1] for c in resources(stack, "aws_s3_bucket_logging").values()
            if ref(c.get("target_bucket"))}


def identity_policies(stack: Stack) -> Iterator[tuple[str, dict[str, Any]]]:
    for rtype in IDENTITY_POLICY_TYPES:
        for name, conf in resources(stack, rtype).items():
            yield f"{rtype}.{name}", document(conf["policy"])
    for name, conf in resources(stack, "aws_iam_role").items():
        for inline in as_list(conf.get("inline_policy") or []):
            if inline.get("policy"):
                yield f"aws_iam_role.{name}.inline_policy", document(inline["policy"])


def all_policies(stack: Stack) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from identity_policies(stack)
    for rtype, attribute in RESOURCE_POLICY_TYPES.items():
        for name, conf in resources(stack, rtype).items():
            if conf.get(attribute):
                yield f"{rtype}.{name}", document(conf[attribute])


# --- S3 buckets --------------------------------------------------------------------------
def bucket_public_access_blocked(stack: Stack) -> list[str]:
    flags = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    problems = []
    for name in resources(stack, "aws_s3_bucket"):
        blocks = attached(stack, "aws_s3_bucket_public_access_block", "aws_s3_bucket", name)
        if not any(all(b.get(f) is True for f in flags) for b in blocks):
            problems.append(f"aws_s3_bucket.{name}: no public access block with all four settings true")
    return problems


def bucket_encrypted_with_kms(stack: Stack) -> list[str]:
    """SSE-KMS with a key, except access-log targets: log delivery only writes to SSE-S3 buckets."""
    problems = []
    log_targets = access_log_targets(stack)
    for name in resources(stack, "aws_s3_bucket"):
        rules = [r for c in attached(stack, "aws_s3_bucket_server_side_encryption_configuration", "aws_s3_bucket", name)
                 for r in as_list(c.get("rule", []))]
        defaults = [d for r in rules for d in as_list(r.get("apply_server_side_encryption_by_default", []))]
        kms = any(d.get("sse_algorithm") in ("aws:kms", "aws:kms:dsse") and d.get("kms_master_key_id") for d in defaults)
        sse_s3 = any(d.get("sse_algorithm") == "AES256" for d in defaults)
        if not (kms or (name in log_targets and sse_s3)):
            problems.append(f"aws_s3_bucket.{name}: not SSE-KMS with a customer key (nor an SSE-S3 access-log target)")
    return problems


def bucket_versioned(stack: Stack) -> list[str]:
    problems = []
    for name in resources(stack, "aws_s3_bucket"):
        configs = attached(stack, "aws_s3_bucket_versioning", "aws_s3_bucket", name)
        if not any(v.get("status") == "Enabled" for c in configs for v in as_list(c.get("versioning_configuration", []))):
            problems.append(f"aws_s3_bucket.{name}: versioning not Enabled")
    return problems


def _denies_insecure_transport(statement: dict[str, Any], name: str) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    resources_ = {str(r) for r in as_list(statement.get("Resource", []))}
    return (statement.get("Effect") == "Deny"
            and statement.get("Principal") in ("*", {"AWS": "*"})
            and "s3:*" in as_list(statement.get("Action", []))
            and str(condition.get("aws:SecureTransport")).lower() == "false"
            and any(f"aws_s3_bucket.{name}.arn" in r and not r.endswith("/*") for r in resources_)
            and any(f"aws_s3_bucket.{name}.arn" in r and r.endswith("/*") for r in resources_))


def bucket_tls_only(stack: Stack) -> list[str]:
    problems = []
    for name in resources(stack, "aws_s3_bucket"):
        policies = [document(p["policy"]) for p in attached(stack, "aws_s3_bucket_policy", "aws_s3_bucket", name)]
        if not any(_denies_insecure_transport(s, name) for p in policies for s in statements(p)):
            problems.append(f"aws_s3_bucket.{name}: no policy denying s3:* without aws:SecureTransport")
    return problems


def bucket_access_logged(stack: Stack) -> list[str]:
    """Every bucket logs to an access-log bucket, except the access-log target itself (no loop)."""
    log_targets = access_log_targets(stack)
    return [f"aws_s3_bucket.{name}: no server access logging"
            for name in resources(stack, "aws_s3_bucket")
            if name not in log_targets and not attached(stack, "aws_s3_bucket_logging", "aws_s3_bucket", name)]


def bucket_has_lifecycle(stack: Stack) -> list[str]:
    problems = []
    for name in resources(stack, "aws_s3_bucket"):
        configs = attached(stack, "aws_s3_bucket_lifecycle_configuration", "aws_s3_bucket", name)
        if not any(r.get("status") == "Enabled" for c in configs for r in as_list(c.get("rule", []))):
            problems.append(f"aws_s3_bucket.{name}: no enabled lifecycle rule")
    return problems


# --- logs, topics, queues ---------------------------------------------------------------
def log_group_retention_and_kms(stack: Stack) -> list[str]:
    return [f"aws_cloudwatch_log_group.{name}: needs retention_in_days > 0 and kms_key_id"
            for name, c in resources(stack, "aws_cloudwatch_log_group").items()
            if not (isinstance(c.get("retention_in_days"), int) and c["retention_in_days"] > 0 and c.get("kms_key_id"))]


def topic_and_queue_kms(stack: Stack) -> list[str]:
    return [f"{rtype}.{name}: no kms_master_key_id"
            for rtype in ("aws_sns_topic", "aws_sqs_queue")
            for name, c in resources(stack, rtype).items() if not c.get("kms_master_key_id")]


# --- network -------------------------------------------------------------------------------
SECURITY_GROUP_RULE_TYPES = ("aws_security_group_rule", "aws_vpc_security_group_ingress_rule",
                             "aws_vpc_security_group_egress_rule")


def security_groups_described(stack: Stack) -> list[str]:
    problems = []
    for name, c in resources(stack, "aws_security_group").items():
        if not str(c.get("description") or "").strip():
            problems.append(f"aws_security_group.{name}: no description")
        for direction in ("ingress", "egress"):
            for i, inline in enumerate(as_list(c.get(direction) or [])):
                if not str(inline.get("description") or "").strip():
                    problems.append(f"aws_security_group.{name}.{direction}[{i}]: no description")
    for rtype in SECURITY_GROUP_RULE_TYPES:
        problems += [f"{rtype}.{name}: no description" for name, c in resources(stack, rtype).items()
                     if not str(c.get("description") or "").strip()]
    return problems


# --- IAM -------------------------------------------------------------------------------------
def iam_no_wildcard_action(stack: Stack) -> list[str]:
    """No Allow statement of any policy (identity or resource) grants action '*'."""
    return [f"{where}: statement {s.get('Sid', i)} allows action '*'"
            for where, policy in all_policies(stack)
            for i, s in enumerate(statements(policy))
            if s.get("Effect") == "Allow" and ({"*", "*:*"} & set(as_list(s.get("Action", []))) or "NotAction" in s)]


def iam_star_resource_only_where_required(stack: Stack) -> list[str]:
    """Identity policies grant Resource '*' only for actions on STAR_RESOURCE_ACTIONS."""
    problems = []
    for where, policy in identity_policies(stack):
        for i, s in enumerate(statements(policy)):
            if s.get("Effect") == "Allow" and ("*" in as_list(s.get("Resource", [])) or "NotResource" in s):
                extra = sorted(set(as_list(s.get("Action", []))) - STAR_RESOURCE_ACTIONS)
                if extra:
                    problems.append(f"{where}: statement {s.get('Sid', i)} grants {extra} on Resource '*'")
    return problems


def lambda_permission_scoped(stack: Stack) -> list[str]:
    return [f"aws_lambda_permission.{name}: missing {field}"
            for name, c in resources(stack, "aws_lambda_permission").items()
            for field in ("source_arn", "source_account") if not c.get(field)]


RULES: dict[str, Rule] = {rule.__name__: rule for rule in (
    bucket_public_access_blocked, bucket_encrypted_with_kms, bucket_versioned, bucket_tls_only,
    bucket_access_logged, bucket_has_lifecycle, log_group_retention_and_kms, topic_and_queue_kms,
    security_groups_described, iam_no_wildcard_action, iam_star_resource_only_where_required,
    lambda_permission_scoped,
)}
