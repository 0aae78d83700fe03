"""IAM building blocks every Lambda execution role in the project shares.

Statements that belong to a resource (a bucket prefix, the secret, the key)
come from that resource's owner; this module holds only what is about the
function itself: who may assume its role, where it writes its own logs, the
network-interface and tracing actions Lambda needs, and the synth-time proof
that a function cannot write where it is triggered.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from modules.policy import Statement, statement

# S3 actions that create objects (and so can emit s3:ObjectCreated:* events).
S3_OBJECT_CREATING_ACTIONS = ("s3:PutObject", "s3:CopyObject", "s3:RestoreObject",
                              "s3:CompleteMultipartUpload", "s3:ReplicateObject")


class RecursionRiskError(ValueError):
    """A function's role may write objects where the function is triggered."""


def lambda_trust_policy(account_id: str) -> Statement:
    """Only the Lambda service, on behalf of this account, assumes the role (confused-deputy protection)."""
    # A trust policy names no Resource: the role itself is the resource.
    return {"Sid": "LambdaServiceAssumesRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": ["sts:AssumeRole"], "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}}


def own_log_group_statement(log_group_arn: str) -> Statement:
    # The group is created by Terraform before the function: no logs:CreateLogGroup.
    return statement("WriteOwnLogGroup", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"])


def vpc_network_interface_statements(region: str, account_id: str) -> list[Statement]:
    """What Lambda needs to attach a function to private subnets (Lambda developer guide, "execution role and VPC")."""
    return [
        # Scoped the way the developer guide shows: any ENI/subnet/security group of this account and region
        # (the ENI ARNs are not known before Lambda creates them).
        statement("ManageFunctionNetworkInterfaces",
                  ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                   "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
                  [f"arn:aws:ec2:{region}:{account_id}:*/*"]),
        # Describe* actions support no resource-level permissions: the API requires "*".
        statement("DescribeNetworkInterfaces", ["ec2:DescribeNetworkInterfaces"], ["*"]),
    ]


def xray_statement() -> Statement:
    # X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level permissions: the API requires "*".
    return statement("WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])


def _as_list(value: str | Iterable[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _action_creates_objects(action: str) -> bool:
    return any(fnmatch.fnmatchcase(created.lower(), action.lower()) for created in S3_OBJECT_CREATING_ACTIONS)


def _key_pattern_reaches_prefix(pattern: str, prefix: str) -> bool:
    """Whether an S3 key pattern (with ``*``/``?``) matches some key that starts with ``prefix``."""
    literal = pattern
    for wildcard in ("*", "?"):
        literal = literal.split(wildcard, 1)[0]
    return literal.startswith(prefix) or prefix.startswith(literal)


def write_grants_covering(statements: Iterable[Statement], bucket_arn: str, prefix: str) -> list[str]:
    """Sids of Allow statements that let a role create objects in ``bucket_arn`` under ``prefix``.

    Give ``bucket_arn`` and the statements resolved (``stack.resolve``): a
    reference then reads ``${aws_s3_bucket.<id>.arn}`` everywhere, so comparing
    the text is exact.
    """
    found = []
    for stmt in statements:
        if stmt.get("Effect") != "Allow" or not any(_action_creates_objects(a) for a in _as_list(stmt.get("Action", []))):
            continue
        for resource in _as_list(stmt.get("Resource", [])):
            if resource in ("*", "arn:aws:s3:::*"):
                found.append(stmt.get("Sid", "<no Sid>"))
                break
            if resource.startswith(f"{bucket_arn}/") and _key_pattern_reaches_prefix(resource[len(bucket_arn) + 1:], prefix):
                found.append(stmt.get("Sid", "<no Sid>"))
                break
    return found


def check_no_recursion(function_name: str, statements: Iterable[Statement], bucket_arn: str, bucket_name: str,
                       prefix: str) -> None:
    """Raise RecursionRiskError when the function could write objects that trigger it again."""
    covering = write_grants_covering(statements, bucket_arn, prefix)
    if covering:
        raise RecursionRiskError(
            f"function {function_name!r} is triggered by s3://{bucket_name}/{prefix} but its role may create objects there "
            f"(statement(s) {', '.join(covering)}): it would trigger itself; grant writes only outside the trigger prefix")
