"""Customer-managed KMS key with an explicit key policy, rotation and an alias.

Key policy: the account root always comes first (administration, so the key
can never become unmanageable, and so IAM policies in the account can grant
use of the key); then the service statements passed in by the stack that owns
the key. Builders for those statements live here, one per AWS service that
uses the key *as itself* (its own service principal), each scoped to this
account and, where the service supports it, to the exact resources that use the
key (encryption context):

* CloudWatch Logs: ``logs.<region>.amazonaws.com``, only for the named log
  groups (``kms:EncryptionContext:aws:logs:arn``);
* CloudWatch alarms publishing to the KMS-encrypted SNS topic:
  ``cloudwatch.amazonaws.com`` (``kms:Decrypt``, ``kms:GenerateDataKey*``;
  without it the alarm changes state and nothing is delivered);
* SNS: ``sns.amazonaws.com``, same two actions.

Both are conditioned on ``aws:SourceAccount`` (confused-deputy protection).
There is no Allow statement for principal ``*``.

Principals that use the key *through* a service (a function reading S3 objects,
the secret or the dead-letter queue) get IAM statements from
``grant_via_service``, conditioned on ``kms:ViaService``: the role can use the key
only by way of that service in this region, never by calling KMS directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from cdktf import TerraformResourceLifecycle
from constructs import Construct

from modules.policy import Statement, render, statement
from modules.provider_import import aws

# What a service needs to read and write data encrypted under the key with envelope encryption.
ENVELOPE_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")


@dataclass(frozen=True)
class EncryptionKeyConfig:
    description: str
    alias: str
    account_id: str
    region: str
    deletion_window_days: int = 30
    prevent_destroy: bool = False
    # Statements after the mandatory root statement (build them with the functions below).
    service_statements: tuple[Statement, ...] = field(default_factory=tuple)


def root_statement(account_id: str) -> Statement:
    # The account root must administer its keys: without it, a wrong policy locks the key forever.
    # This is the one statement with "kms:*"; IAM policies in the account decide who may use it.
    return statement("AccountRootAdministers", ["kms:*"], ["*"], principal={"AWS": f"arn:aws:iam::{account_id}:root"})


def logs_statement(region: str, log_group_arns: Iterable[str]) -> Statement:
    """CloudWatch Logs encrypts exactly these log groups (ARNs built from names, not resources: no cycle)."""
    # "Resource": "*" in a key policy means "this key".
    return statement(
        "CloudWatchLogsEncryptsThisStacksLogGroups",
        ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        ["*"],
        principal={"Service": f"logs.{region}.amazonaws.com"},
        condition={"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": list(log_group_arns)}},
    )


def cloudwatch_alarms_statement(account_id: str) -> Statement:
    """CloudWatch alarms publish to the KMS-encrypted SNS topic."""
    return statement(
        "CloudWatchAlarmsPublishToEncryptedTopic", list(ENVELOPE_ACTIONS), ["*"],
        principal={"Service": "cloudwatch.amazonaws.com"},
        condition={"StringEquals": {"aws:SourceAccount": account_id}},
    )


def sns_statement(account_id: str) -> Statement:
    """SNS reads and writes messages of the KMS-encrypted topic."""
    return statement(
        "SnsUsesKeyForThisAccountsTopics", list(ENVELOPE_ACTIONS), ["*"],
        principal={"Service": "sns.amazonaws.com"},
        condition={"StringEquals": {"aws:SourceAccount": account_id}},
    )


def sid_part(text: str) -> str:
    """``"access-logs"`` -> ``"AccessLogs"``: Sids allow only letters and digits."""
    return "".join(word[:1].upper() + word[1:] for word in "".join(c if c.isalnum() else " " for c in text).split())


class EncryptionKey(Construct):
    def __init__(self, scope: Construct, id_: str, config: EncryptionKeyConfig) -> None:
        super().__init__(scope, id_)
        self.config = config
        policy = render([root_statement(config.account_id), *config.service_statements])
        self._key = aws("kms_key").KmsKey(
            self, "key",
            description=config.description,
            enable_key_rotation=True,
            deletion_window_in_days=config.deletion_window_days,
            policy=policy,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if config.prevent_destroy else None,
        )
        self._alias = aws("kms_alias").KmsAlias(self, "alias", name=config.alias, target_key_id=self._key.key_id)
        self.alias_name = config.alias

    @property
    def key_arn(self) -> str:
        return self._key.arn

    @property
    def key_id(self) -> str:
        return self._key.key_id

    def service_endpoint(self, service: str) -> str:
        """The ``kms:ViaService`` value of an AWS service in this key's region."""
        return f"{service}.{self.config.region}.amazonaws.com"

    def grant_via_service(self, actions: Iterable[str], service: str, *, sid: Optional[str] = None,
                          encryption_context: Optional[Mapping[str, str]] = None) -> list[Statement]:
        """IAM statements for a role: ``actions`` on this key, only when ``service`` calls KMS on the role's behalf.

        ``service`` is the endpoint prefix (``s3``, ``secretsmanager``, ``sqs``, ``lambda``).
        ``encryption_context`` narrows further (e.g. S3 with bucket keys sends the bucket ARN).
        Give ``sid`` when one policy holds several grants for the same service.
        """
        condition: dict[str, Any] = {"StringEquals": {"kms:ViaService": self.service_endpoint(service)}}
        if encryption_context:
            condition["StringEquals"].update(
                {f"kms:EncryptionContext:{name}": value for name, value in encryption_context.items()})
        return [statement(sid or f"KeyVia{sid_part(service)}", actions, [self.key_arn], condition=condition)]

    def grant_lambda_environment_decrypt(self, function_arn: Optional[str] = None, *,
                                         sid: str = "DecryptOwnEnvironment") -> list[Statement]:
        """A function's role decrypts its own KMS-encrypted environment variables (Lambda calls KMS for it).

        ``function_arn`` (build it from the function's name: the function depends on its role) limits the
        grant to that function's variables, which Lambda encrypts with context ``aws:lambda:FunctionArn``.
        """
        context = {"aws:lambda:FunctionArn": function_arn} if function_arn else None
        return self.grant_via_service(["kms:Decrypt"], "lambda", sid=sid, encryption_context=context)
