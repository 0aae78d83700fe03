"""IAM policy documents as plain data, rendered to stable JSON strings.

Policies are written as JSON strings (not ``aws_iam_policy_document`` data
sources) so that checkov reads the real document and ``terraform plan`` shows
the exact text. ``render`` sorts nothing inside statements' lists, so order is
the order of the grants, and output is byte-stable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

Statement = dict[str, Any]


def statement(sid: str, actions: Iterable[str], resources: Iterable[str], *, effect: str = "Allow",
              principal: Mapping[str, Any] | None = None, condition: Mapping[str, Any] | None = None) -> Statement:
    result: Statement = {"Sid": sid, "Effect": effect}
    if principal is not None:
        result["Principal"] = dict(principal)
    result["Action"] = list(actions)
    result["Resource"] = list(resources)
    if condition:
        result["Condition"] = {op: dict(values) for op, values in condition.items()}
    return result


def render(statements: Iterable[Statement]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, separators=(",", ":"))


def deny_insecure_transport(resources: list[str]) -> list[Statement]:
    """Deny any request without TLS, and any with TLS below 1.2 (S3's ``s3:TlsVersion``)."""
    return [
        statement("DenyInsecureTransport", ["s3:*"], resources, effect="Deny", principal={"AWS": "*"},
                  condition={"Bool": {"aws:SecureTransport": "false"}}),
        statement("DenyOutdatedTLS", ["s3:*"], resources, effect="Deny", principal={"AWS": "*"},
                  condition={"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
    ]
