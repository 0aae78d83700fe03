"""Emulator mode: the dev stack pointed at a local AWS emulator (moto_server), for the end-to-end test.

Only the e2e tooling uses this (``tools/e2e.py``, ``INGEST_EMULATOR_ENDPOINT``);
``make synth`` never does: the emulator stack carries hard-coded test
credentials and would rightly fail checkov. It is synthesized into its own
folder (``cdktf.out.emulator/`` or a temporary directory, both git-ignored).

Emulator mode changes the stack in exactly these places, and nowhere else
(``tests/e2e/test_emulator_mode.py`` proves it against a normal synth):

* the AWS provider gets test credentials, ``skip_credentials_validation``,
  ``skip_metadata_api_check``, path-style S3 and an ``endpoints`` entry (the emulator's URL) for every service the
  stack's resource and data-source types use (``SERVICE_BY_TYPE_PREFIX``);
* the S3 backend is replaced by a local backend (state file in the stack folder);
* the resource types in ``OMITTED_RESOURCES`` are left out, each for a named
  moto limitation;
* the attributes in ``UNREAD_ATTRIBUTES`` are still sent but not compared on
  refresh (``lifecycle.ignore_changes``): moto accepts them and never returns
  them, so the plan after apply would show them as changes forever.

Configuration difference (not a stack difference): ``emulator_config`` keeps
only the ``dev`` environment and sets its ``account_id`` to moto's fixed
account ``123456789012``, because ``allowed_account_ids`` must match the
account the emulator reports.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cdktf import LocalBackend, TerraformDataSource, TerraformResource, TerraformStack

from modules.provider_import import aws

ENDPOINT_ENV = "INGEST_EMULATOR_ENDPOINT"
# moto answers every request as this account (moto.core.DEFAULT_ACCOUNT_ID).
EMULATOR_ACCOUNT_ID = "123456789012"
EMULATOR_ENVIRONMENT = "dev"
# moto accepts any credentials; these never reach AWS because every endpoint is local.
TEST_ACCESS_KEY = "test"
TEST_SECRET_KEY = "test"
LOCAL_STATE_FILE = "terraform.tfstate"


@dataclass(frozen=True)
class OmittedResource:
    """A resource type left out in emulator mode, the moto limitation behind it, and what the test does instead."""

    resource_type: str
    moto_limitation: str
    instead: str


OMITTED_RESOURCES: tuple[OmittedResource, ...] = (
    OmittedResource(
        "aws_lambda_function_recursion_config",
        "moto 5.2.5 does not implement PutFunctionRecursionConfig (HTTP 404; the provider cannot decode the body)",
        "nothing: the emulator never invokes the function, so there is no recursion to stop",
    ),
    OmittedResource(
        "aws_secretsmanager_secret_rotation",
        "moto 5.2.5 RotateSecret on a secret with no version fails with HTTP 500 (UnboundLocalError) and the "
        "provider retries for many minutes; moto never runs the rotation code (and with use_docker=false moves "
        "AWSCURRENT onto an empty version)",
        "the e2e test creates the secret's first version by running handler/rotation.py's four steps in-process",
    ),
)



@dataclass(frozen=True)
class UnreadAttributes:
    """Attributes the emulator accepts but never returns: sent as in the real stack, but not compared on refresh
    (``lifecycle.ignore_changes``), else every plan after apply would show them as changes."""

    resource_type: str
    attributes: tuple[str, ...]
    moto_limitation: str


UNREAD_ATTRIBUTES: tuple[UnreadAttributes, ...] = (
    UnreadAttributes(
        "aws_lambda_function", ("dead_letter_config", "logging_config"),
        "moto 5.2.5 Lambda stores neither DeadLetterConfig nor LoggingConfig: GetFunction returns neither",
    ),
    UnreadAttributes(
        "aws_vpc_security_group_egress_rule", ("description",),
        "moto 5.2.5 returns a rule's Description only for CIDR rules, not for prefix-list or security-group rules",
    ),
    UnreadAttributes(
        "aws_vpc_security_group_ingress_rule", ("description",),
        "moto 5.2.5 returns a rule's Description only for CIDR rules, not for prefix-list or security-group rules",
    ),
)

# Resource/data-source type prefix -> AwsProviderEndpoints field. The longest matching prefix wins;
# a type that matches none fails the emulator synth, so a new service cannot silently reach real AWS.
SERVICE_BY_TYPE_PREFIX: Mapping[str, str] = {
    "aws_availability_zones": "ec2",
    "aws_caller_identity": "sts",
    "aws_cloudwatch_dashboard": "cloudwatch",
    "aws_cloudwatch_log_": "logs",
    "aws_cloudwatch_metric_alarm": "cloudwatch",
    "aws_default_network_acl": "ec2",
    "aws_default_route_table": "ec2",
    "aws_default_security_group": "ec2",
    "aws_eip": "ec2",
    "aws_flow_log": "ec2",
    "aws_iam_": "iam",
    "aws_internet_gateway": "ec2",
    "aws_kms_": "kms",
    "aws_lambda_": "lambda_",
    "aws_nat_gateway": "ec2",
    "aws_network_acl": "ec2",
    "aws_route": "ec2",
    "aws_s3_": "s3",
    "aws_secretsmanager_": "secretsmanager",
    "aws_security_group": "ec2",
    "aws_sns_": "sns",
    "aws_sqs_": "sqs",
    "aws_subnet": "ec2",
    "aws_vpc": "ec2",
}
# The provider asks STS for the account ID (skip_requesting_account_id stays off, see use_emulator).
ALWAYS_ENDPOINTS = ("sts",)


class EmulatorError(ValueError):
    """The stack uses a resource type whose service has no emulator endpoint mapping."""


def emulator_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the project configuration for emulator mode: only dev, in moto's account."""
    changed = copy.deepcopy(dict(config))
    dev = changed["environments"][EMULATOR_ENVIRONMENT]
    dev["account_id"] = EMULATOR_ACCOUNT_ID
    changed["environments"] = {EMULATOR_ENVIRONMENT: dev}
    return changed


def service_for(terraform_type: str) -> str:
    matches = [prefix for prefix in SERVICE_BY_TYPE_PREFIX if terraform_type.startswith(prefix)]
    if not matches:
        raise EmulatorError(
            f"no emulator endpoint for {terraform_type!r}: add its service to SERVICE_BY_TYPE_PREFIX in modules/emulator.py")
    return SERVICE_BY_TYPE_PREFIX[max(matches, key=len)]


def endpoint_services(terraform_types: Iterable[str]) -> tuple[str, ...]:
    """The AwsProviderEndpoints fields a stack with these resource/data-source types needs."""
    return tuple(sorted({service_for(t) for t in terraform_types} | set(ALWAYS_ENDPOINTS)))


def _elements(stack: TerraformStack) -> list:
    return [c for c in stack.node.find_all() if isinstance(c, (TerraformResource, TerraformDataSource))]


def use_emulator(stack: TerraformStack, endpoint: str) -> tuple[str, ...]:
    """Point ``stack`` (a ProjectStack) at the emulator at ``endpoint``; returns the endpoint services."""
    omitted = {o.resource_type for o in OMITTED_RESOURCES}
    for element in _elements(stack):
        if element.terraform_resource_type in omitted:
            element.node.scope.node.try_remove_child(element.node.id)
    unread = {u.resource_type: list(u.attributes) for u in UNREAD_ATTRIBUTES}
    for element in _elements(stack):
        if element.terraform_resource_type in unread:
            element.add_override("lifecycle.ignore_changes", unread[element.terraform_resource_type])
    services = endpoint_services(e.terraform_resource_type for e in _elements(stack))
    provider_module = aws("provider")
    provider = stack.provider
    provider.access_key = TEST_ACCESS_KEY
    provider.secret_key = TEST_SECRET_KEY
    provider.skip_credentials_validation = True
    # skip_requesting_account_id stays off: with it the provider knows no account ID and
    # allowed_account_ids rejects the empty one ("AWS account ID not allowed: "). The provider
    # asks the emulator's STS instead, which answers EMULATOR_ACCOUNT_ID: the check still runs.
    provider.skip_metadata_api_check = "true"
    provider.s3_use_path_style = True
    provider.endpoints = [provider_module.AwsProviderEndpoints(**{service: endpoint for service in services})]
    # The stack's S3Backend is the construct with id "backend" (cdktf's fixed id for backends).
    stack.node.try_remove_child("backend")
    LocalBackend(stack, path=LOCAL_STATE_FILE)
    return services
