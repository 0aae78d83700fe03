"""The manifest-signing key, kept in Secrets Manager and never in Terraform.

Why there is no ``aws_secretsmanager_secret_version`` here: any value Terraform
sets (``secret_string``, a ``random_password``, a value read back by a data
source) is written in plain text to the Terraform state, and a literal would
also be in the synthesized ``cdk.tf.json`` and in version control. So
Terraform creates only the *container*: the secret, encrypted with the stack's
customer-managed key, with a recovery window. The *value* is generated at run
time inside AWS by the rotation function (``handler/rotation.py``:
``GetRandomPassword`` then ``PutSecretValue``), which Secrets Manager invokes
immediately when the rotation schedule is created and then every
``secret.rotation_days``. The ingest function receives only the secret's ARN
(an environment variable) and reads the value with ``GetSecretValue``.

The rotation schedule (``aws_secretsmanager_secret_rotation``) is created next
to the rotation function (modules/function.py), which it needs; this module
exposes what that needs: ``secret_arn``, ``secret_id``, ``rotation_days`` and the
IAM statements ``grant_read()`` / ``grant_rotate()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from modules.encryption import EncryptionKey, sid_part
from modules.policy import Statement, statement
from modules.provider_import import aws

# Secrets Manager encrypts each version under the key with this encryption context entry.
SECRET_ARN_CONTEXT = "SecretARN"


@dataclass(frozen=True)
class SigningSecretConfig:
    name: str
    description: str
    recovery_window_days: int = 30
    rotation_days: int = 30


class SigningSecret(Construct):
    def __init__(self, scope: Construct, id_: str, config: SigningSecretConfig, key: EncryptionKey) -> None:
        super().__init__(scope, id_)
        self.config = config
        self.key = key
        self._sid = sid_part(id_)
        self._secret = aws("secretsmanager_secret").SecretsmanagerSecret(
            self, "secret",
            name=config.name,
            description=config.description,
            kms_key_id=key.key_arn,
            recovery_window_in_days=config.recovery_window_days,
        )

    @property
    def secret_arn(self) -> str:
        return self._secret.arn

    @property
    def secret_id(self) -> str:
        return self._secret.id

    @property
    def rotation_days(self) -> int:
        return self.config.rotation_days

    def grant_read(self) -> list[Statement]:
        """The ingest function reads the current value (GetSecretValue by stage needs nothing else)."""
        return [statement(f"{self._sid}Read", ["secretsmanager:GetSecretValue"], [self.secret_arn]),
                *self._key_grant("Read", ["kms:Decrypt"])]

    def grant_rotate(self) -> list[Statement]:
        """The rotation function: the four rotation steps on this secret, and a random value to store."""
        return [
            statement(f"{self._sid}Rotate",
                      ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                       "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
                      [self.secret_arn]),
            # GetRandomPassword acts on no resource: IAM accepts only "*" for it.
            statement(f"{self._sid}GenerateValue", ["secretsmanager:GetRandomPassword"], ["*"]),
            *self._key_grant("Rotate", ["kms:Decrypt", "kms:GenerateDataKey"]),
        ]

    def _key_grant(self, what: str, actions: list[str]) -> list[Statement]:
        return self.key.grant_via_service(actions, "secretsmanager", sid=f"{self._sid}{what}Key",
                                          encryption_context={SECRET_ARN_CONTEXT: self.secret_arn})
