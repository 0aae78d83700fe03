"""One environment of the pipeline: everything from the VPC to the alarms.

Composition only: each piece is a construct from its own module; this class
decides names, wires outputs to inputs and grants permissions through the
owners' grant helpers.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import S3Backend
from constructs import Construct

from modules.base_stack import ProjectStack
from modules.encryption import EncryptionKey, EncryptionKeyConfig, cloudwatch_alarms_statement, logs_statement, sns_statement
from modules.naming import Namer
from modules.network import Network, NetworkConfig
from modules.settings import EnvironmentSettings
from modules.secrets import SigningSecret, SigningSecretConfig
from modules.storage import SecureBucket, SecureBucketConfig, access_log_bucket_arns
from modules.tagging import stack_tags


@dataclass(frozen=True)
class StackNames:
    """Every name in an environment stack, decided in one place (some are needed before their resources exist)."""

    ingest_function: str
    rotation_function: str
    ingest_bucket: str
    manifest_bucket: str
    access_log_bucket: str
    key_alias: str
    signing_secret: str
    flow_log_group: str
    flow_log_role: str
    function_security_group: str
    endpoint_security_group: str

    @classmethod
    def for_environment(cls, env: EnvironmentSettings) -> "StackNames":
        namer = Namer.for_environment(env)
        return cls(
            ingest_function=namer.name("lambda_function", "ingest"),
            rotation_function=namer.name("lambda_function", "rotate-signing-key"),
            ingest_bucket=namer.name("s3_bucket", "ingest"),
            manifest_bucket=namer.name("s3_bucket", "manifests"),
            access_log_bucket=namer.name("s3_bucket", "access-logs"),
            key_alias=namer.name("kms_alias", "key"),
            signing_secret=namer.name("secret", "manifest-signing-key"),
            flow_log_group=namer.log_group("vpc-flow-logs"),
            flow_log_role=namer.name("iam_role", "vpc-flow-logs"),
            function_security_group=namer.name("security_group", "functions"),
            endpoint_security_group=namer.name("security_group", "vpc-endpoints"),
        )

    @property
    def log_groups(self) -> tuple[str, ...]:
        return (f"/aws/lambda/{self.ingest_function}", f"/aws/lambda/{self.rotation_function}", self.flow_log_group)


def state_key(env: EnvironmentSettings) -> str:
    return f"{env.project}/{env.name}/terraform.tfstate"


class IngestStack(ProjectStack):
    def __init__(self, scope: Construct, env: EnvironmentSettings) -> None:
        super().__init__(scope, env.stack_name, region=env.region, account_id=env.account_id, tags=stack_tags(env))
        self.env = env
        self.names = StackNames.for_environment(env)
        self.namer = Namer.for_environment(env)
        backend = S3Backend(
            self,
            bucket=env.state_bucket,
            key=state_key(env),
            region=env.state_region,
            encrypt=True,
            kms_key_id=env.state_key_arn,
        )
        # cdktf 0.21's S3Backend has no use_lockfile: S3-native locking (Terraform >= 1.10).
        backend.add_override("use_lockfile", True)
        self.key = EncryptionKey(self, "key", EncryptionKeyConfig(
            description=f"{env.stack_name}: buckets, logs, secret, queue, topic and function environment",
            alias=self.names.key_alias,
            account_id=env.account_id,
            region=env.region,
            deletion_window_days=env.key.deletion_window_days,
            prevent_destroy=env.production,
            service_statements=tuple(self._key_service_statements()),
        ))
        self.network = Network(self, "network", NetworkConfig(
            settings=env.network,
            name_prefix=self.namer.prefix,
            account_id=env.account_id,
            region=env.region,
            kms_key_arn=self.key.key_arn,
            flow_log_group_name=self.names.flow_log_group,
            flow_log_role_name=self.names.flow_log_role,
            log_retention_days=env.monitoring.log_retention_days,
            function_security_group_name=self.names.function_security_group,
            endpoint_security_group_name=self.names.endpoint_security_group,
        ))
        self.access_logs = SecureBucket(self, "access-logs", SecureBucketConfig(
            name=self.names.access_log_bucket,
            account_id=env.account_id,
            is_access_log_bucket=True,
            force_destroy=env.force_destroy,
            noncurrent_version_expiration_days=env.storage.noncurrent_version_expiration_days,
            abort_incomplete_multipart_days=env.storage.abort_incomplete_multipart_days,
            log_source_bucket_arns=access_log_bucket_arns([self.names.ingest_bucket, self.names.manifest_bucket]),
        ))
        self.ingest_bucket = self._data_bucket("ingest", self.names.ingest_bucket)
        self.manifest_bucket = self._data_bucket("manifests", self.names.manifest_bucket)
        self.signing_secret = SigningSecret(self, "signing-secret", SigningSecretConfig(
            name=self.names.signing_secret,
            description=f"{env.stack_name}: HMAC key that signs manifests; value set only by the rotation function",
            recovery_window_days=env.secret.recovery_window_days,
            rotation_days=env.secret.rotation_days,
        ), key=self.key)

    def _data_bucket(self, id_: str, name: str) -> SecureBucket:
        env = self.env
        return SecureBucket(self, id_, SecureBucketConfig(
            name=name,
            account_id=env.account_id,
            force_destroy=env.force_destroy,
            prevent_destroy=env.production,
            noncurrent_version_expiration_days=env.storage.noncurrent_version_expiration_days,
            abort_incomplete_multipart_days=env.storage.abort_incomplete_multipart_days,
        ), key=self.key, log_target=self.access_logs)

    def _key_service_statements(self) -> list[dict]:
        """Services that use the key as themselves (roles get kms:ViaService grants from the owners instead)."""
        env = self.env
        region, account = env.region, env.account_id
        log_group_arns = [f"arn:aws:logs:{region}:{account}:log-group:{name}" for name in self.names.log_groups]
        # No S3 statement: S3 notifies the function directly, and S3 uses the key on the callers' behalf.
        # No SQS statement: Lambda writes dead letters with the function's role (a kms:ViaService grant).
        return [logs_statement(region, log_group_arns), cloudwatch_alarms_statement(account), sns_statement(account)]
