"""Least privilege by execution: recorded API calls -> the IAM requests AWS makes -> a real evaluator.

* ``Resolver`` turns ``${type.name.attr}`` references of a synthesized stack
  into concrete names/ARNs: the referenced resource's configured name, or an
  override for what only exists once created (a KMS key or secret ARN).
* ``requests_for(call)`` models what AWS authorises for one recorded call,
  including the KMS requests S3 and Secrets Manager make *with the caller's
  permissions* (kms:ViaService + encryption context conditions).
* ``allows(policy, request)`` evaluates with moto's IAM statement evaluator
  (``moto.iam.access_control.IAMPolicyStatement``), one statement at a time,
  because ``IAMPolicy.is_action_permitted`` lets an Allow statement whose
  condition does not match return DENIED for the whole policy. Only the
  StringEquals/ArnEquals operators are modelled; anything else raises.
* ``unused_grants(policy, requests)`` is the other direction: every (action,
  resource) an Allow statement grants must be exercised by some request, or
  be on ``ON_BEHALF`` (grants Lambda/AWS use for the function, invisible to a
  client-side hook).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from moto.iam.access_control import IAMPolicyStatement, PermissionResult

from tests.proof.invariants import as_list, resources, statements

ANY_REF = re.compile(r"\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_]+)\}")
MODELLED_OPERATORS = ("StringEquals", "ArnEquals")


class NotModelled(Exception):
    """A call, reference or condition this evaluator has no model for (extend it; never guess)."""


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    why: str = ""

    @property
    def context_dict(self) -> dict[str, str]:
        return dict(self.context)


@dataclass
class Resolver:
    stack: dict[str, Any]
    region: str
    account: str
    overrides: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def attribute(self, rtype: str, name: str, attr: str) -> str:
        if (rtype, name, attr) in self.overrides:
            return self.overrides[(rtype, name, attr)]
        conf = resources(self.stack, rtype).get(name)
        if conf is None:
            raise NotModelled(f"reference to a resource not in the stack: {rtype}.{name}")
        named = {"aws_s3_bucket": "bucket", "aws_lambda_function": "function_name"}.get(rtype, "name")
        if attr in ("id", "bucket", "name", "function_name") and named in conf:
            return self.resolve(conf[named])
        if attr == "arn" and named in conf:
            resource_name = self.resolve(conf[named])
            arns = {
                "aws_s3_bucket": f"arn:aws:s3:::{resource_name}",
                "aws_sqs_queue": f"arn:aws:sqs:{self.region}:{self.account}:{resource_name}",
                "aws_sns_topic": f"arn:aws:sns:{self.region}:{self.account}:{resource_name}",
                "aws_cloudwatch_log_group": f"arn:aws:logs:{self.region}:{self.account}:log-group:{resource_name}",
                "aws_lambda_function": f"arn:aws:lambda:{self.region}:{self.account}:function:{resource_name}",
            }
            if rtype in arns:
                return arns[rtype]
        raise NotModelled(f"no value for ${{{rtype}.{name}.{attr}}}: pass it in overrides")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return ANY_REF.sub(lambda m: self.attribute(*m.groups()), value)
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def find(self, rtype: str, attr: str, value: str) -> str:
        """The logical name of the ``rtype`` whose resolved ``attr`` is ``value``."""
        for name in resources(self.stack, rtype):
            if self.attribute(rtype, name, attr) == value:
                return name
        raise NotModelled(f"no {rtype} with {attr} = {value}")


# --- what AWS authorises for each recorded call ------------------------------------------
def _bucket_key(resolver: Resolver, bucket: str, object_arn: str, via_action: str) -> list[Request]:
    """KMS request S3 makes with the caller's permissions for an SSE-KMS bucket (none for SSE-S3)."""
    name = resolver.find("aws_s3_bucket", "bucket", bucket)
    for conf in resources(resolver.stack, "aws_s3_bucket_server_side_encryption_configuration").values():
        if f"aws_s3_bucket.{name}." not in conf["bucket"]:
            continue
        for rule in as_list(conf["rule"]):
            default = rule["apply_server_side_encryption_by_default"]
            if default["sse_algorithm"] != "aws:kms":
                return []
            # with an S3 Bucket Key the encryption context is the bucket ARN, else the object ARN
            context_arn = f"arn:aws:s3:::{bucket}" if rule.get("bucket_key_enabled") else object_arn
            return [Request(via_action, resolver.resolve(default["kms_master_key_id"]),
                            (("kms:ViaService", f"s3.{resolver.region}.amazonaws.com"),
                             ("kms:EncryptionContext:aws:s3:arn", context_arn)),
                            f"S3 {via_action} for s3://{bucket}")]
    raise NotModelled(f"bucket {bucket} has no encryption configuration in the stack")


# Secrets Manager operation -> the KMS action it performs with the caller's permissions (None: no KMS)
SECRET_OPERATIONS = {
    "GetSecretValue": "kms:Decrypt",
    "PutSecretValue": "kms:GenerateDataKey",
    "DescribeSecret": None,
    "UpdateSecretVersionStage": None,
}


def requests_for(call: dict[str, Any], resolver: Resolver) -> list[Request]:
    service, operation, params = call["service"], call["operation"], call["params"]
    if service == "s3" and operation in ("GetObject", "HeadObject", "PutObject"):
        object_arn = f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"
        where = f"s3://{params['Bucket']}/{params['Key']}"
        if operation == "PutObject":
            return [Request("s3:PutObject", object_arn, why=f"PutObject {where}"),
                    *_bucket_key(resolver, params["Bucket"], object_arn, "kms:GenerateDataKey")]
        # HeadObject is authorised as GetObject; a version id makes it GetObjectVersion
        action = "s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject"
        found = [Request(action, object_arn, why=f"{operation} {where}")]
        if operation == "GetObject":  # HEAD returns metadata only: S3 decrypts nothing
            found += _bucket_key(resolver, params["Bucket"], object_arn, "kms:Decrypt")
        return found
    if service == "secretsmanager" and operation == "GetRandomPassword":
        return [Request("secretsmanager:GetRandomPassword", "*", why="GetRandomPassword (no resource)")]
    if service == "secretsmanager" and operation in SECRET_OPERATIONS:
        arn = params["SecretId"]
        found = [Request(f"secretsmanager:{operation}", arn, why=f"{operation} {arn}")]
        if SECRET_OPERATIONS[operation]:  # Secrets Manager calls KMS with the caller's permissions
            secret = resolver.find("aws_secretsmanager_secret", "arn", arn)
            key = resolver.resolve(resources(resolver.stack, "aws_secretsmanager_secret")[secret]["kms_key_id"])
            found.append(Request(SECRET_OPERATIONS[operation], key,
                                 (("kms:ViaService", f"secretsmanager.{resolver.region}.amazonaws.com"),
                                  ("kms:EncryptionContext:SecretARN", arn)),
                                 f"Secrets Manager {SECRET_OPERATIONS[operation]} for {arn}"))
        return found
    raise NotModelled(f"no IAM model for {service}:{operation} (add it to requests_for)")


# --- evaluation -----------------------------------------------------------------------------
def _conditions_apply(statement: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, pairs in statement.get("Condition", {}).items():
        if operator not in MODELLED_OPERATORS:
            raise NotModelled(f"condition operator {operator} in statement {statement.get('Sid')}")
        for key, expected in pairs.items():
            if context.get(key) not in as_list(expected):  # an absent key never matches
                return False
    return True


def _statement_allows(statement: dict[str, Any], request: Request) -> bool:
    if statement.get("Effect") != "Allow" or not _conditions_apply(statement, request.context_dict):
        return False
    unconditioned = {k: v for k, v in statement.items() if k != "Condition"}  # conditions checked above
    return IAMPolicyStatement(unconditioned).is_action_permitted(request.action, request.resource) \
        == PermissionResult.PERMITTED


def _statement_denies(statement: dict[str, Any], request: Request) -> bool:
    if statement.get("Effect") != "Deny" or not _conditions_apply(statement, request.context_dict):
        return False
    unconditioned = {k: v for k, v in statement.items() if k != "Condition"}
    return IAMPolicyStatement(unconditioned).is_action_permitted(request.action, request.resource) \
        == PermissionResult.DENIED


def allows(policy: dict[str, Any], request: Request) -> bool:
    found = statements(policy)
    return not any(_statement_denies(s, request) for s in found) and any(_statement_allows(s, request) for s in found)


# --- the other direction: grants nobody uses --------------------------------------------------
@dataclass(frozen=True)
class Grant:
    sid: str
    action: str
    resource: str  # resolved
    template: str  # as synthesized, e.g. "${aws_sqs_queue.x.arn}"
    condition: tuple[tuple[str, str], ...]

    def as_statement(self) -> dict[str, Any]:
        statement = {"Effect": "Allow", "Action": self.action, "Resource": self.resource}
        if self.condition:
            statement["Condition"] = {op: dict(pairs) for op, pairs in _group(self.condition).items()}
        return statement


def _group(condition: tuple[tuple[str, str], ...]) -> dict[str, list[tuple[str, Any]]]:
    grouped: dict[str, list[tuple[str, Any]]] = {}
    for op_key, value in condition:
        op, key = op_key.split(" ", 1)
        grouped.setdefault(op, []).append((key, value))
    return grouped


def grants(policy: dict[str, Any], resolver: Resolver) -> list[Grant]:
    found = []
    for i, s in enumerate(statements(policy)):
        if s.get("Effect") != "Allow":
            continue
        condition = tuple((f"{op} {k}", resolver.resolve(v)) for op, pairs in s.get("Condition", {}).items()
                          for k, v in pairs.items())
        for action in as_list(s["Action"]):
            for template in as_list(s["Resource"]):
                found.append(Grant(s.get("Sid", str(i)), action, resolver.resolve(template), template, condition))
    return found


@dataclass(frozen=True)
class OnBehalf:
    """A grant used for the function by Lambda or an AWS service: no client-side hook can see it."""
    action: str
    resource: str  # resource type referenced by the grant's template, or a literal ARN pattern
    via_service: str | None  # required kms:ViaService prefix for KMS grants
    why: str

    def covers(self, grant: Grant) -> bool:
        if grant.action != self.action:
            return False
        via = dict((k.split(" ", 1)[1], v) for k, v in grant.condition).get("kms:ViaService")
        if self.via_service is not None and not str(via).startswith(f"{self.via_service}."):
            return False
        return (grant.template.startswith(f"${{{self.resource}.") if self.resource.startswith("aws_")
                else re.fullmatch(self.resource.replace("*", ".*"), grant.resource) is not None)


ON_BEHALF = (
    # Lambda's runtime writes the function's own log streams (CloudWatch Logs delivery)
    OnBehalf("logs:CreateLogStream", "aws_cloudwatch_log_group", None, "Lambda log delivery"),
    OnBehalf("logs:PutLogEvents", "aws_cloudwatch_log_group", None, "Lambda log delivery"),
    # Lambda's async invoke puts exhausted events on the dead-letter queue with the role
    OnBehalf("sqs:SendMessage", "aws_sqs_queue", None, "DLQ delivery"),
    OnBehalf("kms:GenerateDataKey", "aws_kms_key", "sqs", "DLQ delivery into a KMS-encrypted queue"),
    OnBehalf("kms:Decrypt", "aws_kms_key", "sqs", "DLQ delivery into a KMS-encrypted queue"),
    # Lambda decrypts the function's environment variables (customer-managed key) at cold start
    OnBehalf("kms:Decrypt", "aws_kms_key", "lambda", "Lambda decrypting env vars"),
    # Lambda creates/attaches/deletes the ENIs of a VPC function with the role
    *(OnBehalf(a, "arn:aws:ec2:*", None, "VPC network interfaces") for a in (
        "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")),
    OnBehalf("ec2:DescribeNetworkInterfaces", "*", None, "VPC network interfaces"),
    # active tracing: the Lambda service/X-Ray SDK sends segments with the role
    OnBehalf("xray:PutTraceSegments", "*", None, "X-Ray"),
    OnBehalf("xray:PutTelemetryRecords", "*", None, "X-Ray"),
)


def exercised(grant: Grant, requests: list[Request]) -> bool:
    return any(_statement_allows(grant.as_statement(), r) for r in requests)


def unused_grants(policy: dict[str, Any], resolver: Resolver, requests: list[Request]) -> list[Grant]:
    return [g for g in grants(policy, resolver)
            if not exercised(g, requests) and not any(o.covers(g) for o in ON_BEHALF)]
