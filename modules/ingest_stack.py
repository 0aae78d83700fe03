"""One environment of the pipeline: everything from the VPC to the alarms.

Composition only: each piece is a construct from its own module; this class
decides names, wires outputs to inputs and grants permissions through the
owners' grant helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cdktf import AssetType, DefaultTokenResolver, S3Backend, StringConcat, TerraformAsset, Tokenization
from constructs import Construct

from modules.base_stack import ProjectStack
from handler.contract import (ENV_MANIFEST_BUCKET, ENV_MANIFEST_PREFIX, ENV_MAX_OBJECT_BYTES, ENV_SERVICE_NAME,
                              ENV_SIGNING_KEY_TTL_SECONDS, ENV_SIGNING_SECRET_ARN, ENV_TRIGGER_PREFIX, ENV_WEBHOOK_URL,
                              ROTATION_HANDLER)
from modules.encryption import EncryptionKey, EncryptionKeyConfig, cloudwatch_alarms_statement, logs_statement, sns_statement
from modules.function import Function, FunctionCode, FunctionConfig
from modules.iam import check_no_recursion
from modules.monitoring import MonitoredFunction, Monitoring, MonitoringConfig
from modules.naming import Namer
from modules.network import Network, NetworkConfig
from modules.settings import (ROTATION_FUNCTION_MEMORY_MB, ROTATION_FUNCTION_RESERVED_CONCURRENCY,
                              ROTATION_FUNCTION_TIMEOUT_SECONDS, EnvironmentSettings)
from modules.secrets import SigningSecret, SigningSecretConfig
from modules.storage import SecureBucket, SecureBucketConfig, access_log_bucket_arns
from modules.tagging import stack_tags
from modules.trigger import BucketTrigger, BucketTriggerConfig, SecretRotationTrigger, SecretRotationTriggerConfig
from tools import build_zip


@dataclass(frozen=True)
class StackNames:
    """Every name in an environment stack, decided in one place (some are needed before their resources exist)."""

    ingest_function: str
    rotation_function: str
    ingest_role: str
    rotation_role: str
    ingest_dlq: str
    rotation_dlq: str
    ingest_bucket: str
    manifest_bucket: str
    access_log_bucket: str
    key_alias: str
    signing_secret: str
    flow_log_group: str
    alarm_topic: str
    dashboard: str
    flow_log_role: str
    function_security_group: str
    endpoint_security_group: str

    @classmethod
    def for_environment(cls, env: EnvironmentSettings) -> "StackNames":
        namer = Namer.for_environment(env)
        return cls(
            ingest_function=namer.name("lambda_function", "ingest"),
            rotation_function=namer.name("lambda_function", "rotate-signing-key"),
            ingest_role=namer.name("iam_role", "ingest-function"),
            rotation_role=namer.name("iam_role", "rotation-function"),
            ingest_dlq=namer.name("sqs_queue", "ingest-dlq"),
            rotation_dlq=namer.name("sqs_queue", "rotation-dlq"),
            ingest_bucket=namer.name("s3_bucket", "ingest"),
            manifest_bucket=namer.name("s3_bucket", "manifests"),
            access_log_bucket=namer.name("s3_bucket", "access-logs"),
            key_alias=namer.name("kms_alias", "key"),
            signing_secret=namer.name("secret", "manifest-signing-key"),
            flow_log_group=namer.log_group("vpc-flow-logs"),
            alarm_topic=namer.name("sns_topic", "alarms"),
            dashboard=namer.name("dashboard", "pipeline"),
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
        self._functions()
        self.monitoring = Monitoring(self, "monitoring", MonitoringConfig(
            name_prefix=self.namer.prefix,
            topic_name=self.names.alarm_topic,
            dashboard_name=self.names.dashboard,
            log_metric_namespace=f"{self.namer.prefix}/Logs",
            region=env.region,
            account_id=env.account_id,
            kms_key_arn=self.key.key_arn,
            ingest=self._monitored(self.ingest_function),
            rotation=self._monitored(self.rotation_function),
            settings=env.monitoring,
        ))

    @staticmethod
    def _monitored(function: Function) -> MonitoredFunction:
        return MonitoredFunction(function_name=function.function_name, log_group_name=function.log_group_name,
                                 timeout_seconds=function.timeout_seconds,
                                 reserved_concurrency=function.reserved_concurrency, dlq_name=function.dlq_name)

    def _functions(self) -> None:
        """Both functions from one construct and one artifact; the triggers that invoke them."""
        env, names = self.env, self.names
        code = self._handler_code(env.function.handler, ROTATION_HANDLER)
        self.ingest_function = Function(self, "ingest-function", FunctionConfig(
            **self._function_settings(code),
            name=names.ingest_function,
            role_name=names.ingest_role,
            dlq_name=names.ingest_dlq,
            description=f"{env.stack_name}: hashes, sniffs and signs a manifest for each object uploaded under {env.storage.trigger_prefix}",
            handler=env.function.handler,
            memory_mb=env.function.memory_mb,
            timeout_seconds=env.function.timeout_seconds,
            reserved_concurrency=env.function.reserved_concurrency,
            environment=self._ingest_environment(),
            grants=(
                *self.ingest_bucket.grant_read(env.storage.trigger_prefix),
                *self.manifest_bucket.grant_write(env.storage.manifest_prefix),
                # With a webhook, a re-delivered event re-posts the stored manifest: the handler reads it back
                # (proven by tests/proof/test_least_privilege.py; without this grant: AccessDenied).
                *(self.manifest_bucket.grant_read(env.storage.manifest_prefix) if env.function.webhook_url else ()),
                *self.signing_secret.grant_read(),
            ),
        ), key=self.key)
        # The function must never create objects where it is triggered (it would invoke itself).
        # Resolved first: each read of a reference yields a new token string, its resolved form is stable.
        check_no_recursion(names.ingest_function, self._resolved(list(self.ingest_function.policy_statements)),
                           self._resolved(self.ingest_bucket.bucket_arn), names.ingest_bucket, env.storage.trigger_prefix)
        self.ingest_trigger = BucketTrigger(self, "ingest-trigger", BucketTriggerConfig(
            bucket_id=self.ingest_bucket.bucket.id,
            bucket_arn=self.ingest_bucket.bucket_arn,
            account_id=env.account_id,
            function_name=self.ingest_function.function_name,
            function_arn=self.ingest_function.function_arn,
            prefix=env.storage.trigger_prefix,
            suffix=env.storage.trigger_suffix,
            include_multipart_uploads=env.storage.include_multipart_uploads,
        ))
        self.rotation_function = Function(self, "rotation-function", FunctionConfig(
            **self._function_settings(code),
            name=names.rotation_function,
            role_name=names.rotation_role,
            dlq_name=names.rotation_dlq,
            description=f"{env.stack_name}: rotates the manifest signing key (invoked by Secrets Manager)",
            handler=ROTATION_HANDLER,
            memory_mb=ROTATION_FUNCTION_MEMORY_MB,
            timeout_seconds=ROTATION_FUNCTION_TIMEOUT_SECONDS,
            reserved_concurrency=ROTATION_FUNCTION_RESERVED_CONCURRENCY,
            # The rotation code reads no variable; the service name labels its logs and keeps the KMS key in use (CKV_AWS_173).
            environment={ENV_SERVICE_NAME: names.rotation_function},
            grants=tuple(self.signing_secret.grant_rotate()),
        ), key=self.key)
        self.rotation_trigger = SecretRotationTrigger(self, "rotation-trigger", SecretRotationTriggerConfig(
            secret_arn=self.signing_secret.secret_arn,
            account_id=env.account_id,
            function_name=self.rotation_function.function_name,
            function_arn=self.rotation_function.function_arn,
            rotation_days=self.signing_secret.rotation_days,
        ))

    def _resolved(self, value: Any) -> Any:
        """References as they will appear in cdk.tf.json (``${aws_s3_bucket.<id>.arn}``)."""
        return Tokenization.resolve(value, scope=self, resolver=DefaultTokenResolver(StringConcat()))

    def _handler_code(self, *handlers: str) -> FunctionCode:
        """The zip as a cdktf asset (copied into the stack folder, referenced by a relative path), checked first."""
        artifact = build_zip.ARTIFACT
        source_code_hash = build_zip.source_code_hash(artifact)
        for handler in handlers:
            build_zip.check_handler(artifact, handler)
        asset = TerraformAsset(self, "handler-zip", path=str(artifact), type=AssetType.FILE)
        return FunctionCode(filename=asset.path, source_code_hash=source_code_hash)

    def _function_settings(self, code: FunctionCode) -> dict:
        """What both functions share: code, runtime, network, failure path, log retention."""
        env = self.env
        return dict(
            code=code,
            runtime=env.function.runtime,
            architecture=env.function.architecture,
            account_id=env.account_id,
            region=env.region,
            log_retention_days=env.monitoring.log_retention_days,
            subnet_ids=self.network.private_subnet_ids,
            security_group_ids=(self.network.function_security_group_id,),
            max_retry_attempts=env.function.max_retry_attempts,
            max_event_age_seconds=env.function.max_event_age_seconds,
            dlq_retention_days=env.function.dlq_retention_days,
        )

    def _ingest_environment(self) -> dict[str, str]:
        env = self.env
        variables = {
            ENV_MANIFEST_BUCKET: self.manifest_bucket.bucket_name,
            ENV_MANIFEST_PREFIX: env.storage.manifest_prefix,
            ENV_TRIGGER_PREFIX: env.storage.trigger_prefix,
            ENV_SIGNING_SECRET_ARN: self.signing_secret.secret_arn,
            ENV_MAX_OBJECT_BYTES: str(env.function.max_object_bytes),
            ENV_SERVICE_NAME: self.names.ingest_function,
            ENV_SIGNING_KEY_TTL_SECONDS: str(env.function.signing_key_ttl_seconds),
        }
        if env.function.webhook_url:
            variables[ENV_WEBHOOK_URL] = env.function.webhook_url
        return variables

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
