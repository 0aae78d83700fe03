"""Customer-managed KMS key with an explicit key policy, rotation and an alias.

The key policy always starts with the account root (administration, so the key
can never become unmanageable); service statements are passed in by the stack
that owns the key, each scoped to this account and, where the service supports
it, to the exact resources (encryption context) that use the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktf import TerraformResourceLifecycle
from constructs import Construct

from modules.policy import Statement, render, statement
from modules.provider_import import aws


@dataclass(frozen=True)
class EncryptionKeyConfig:
    description: str
    alias: str
    account_id: str
    deletion_window_days: int = 30
    prevent_destroy: bool = False
    # Statements after the mandatory root statement.
    service_statements: tuple[Statement, ...] = field(default_factory=tuple)


def root_statement(account_id: str) -> Statement:
    # The account root must administer its keys: without it, a wrong policy locks the key forever.
    # This is the one statement with "kms:*"; IAM policies in the account decide who may use it.
    return statement("AccountRootAdministers", ["kms:*"], ["*"], principal={"AWS": f"arn:aws:iam::{account_id}:root"})


class EncryptionKey(Construct):
    def __init__(self, scope: Construct, id_: str, config: EncryptionKeyConfig) -> None:
        super().__init__(scope, id_)
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
