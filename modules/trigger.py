"""How AWS services invoke the functions: a resource-based permission plus the service's own wiring.

Both triggers share one rule, so they live together: the permission names the
service principal *and* both ``source_arn`` and ``source_account`` (checkov
CKV_AWS_364; a bucket ARN has no account in it, so ``source_account`` is what
stops another account's bucket of the same name from invoking the function).

* ``BucketTrigger``: S3 -> ingest function, ``s3:ObjectCreated:Put`` and, by
  default, ``s3:ObjectCreated:CompleteMultipartUpload`` (uploads above the
  CLI/SDK multipart threshold, 8 MiB by default, emit only that event, never
  ``Put``: without it, large uploads would silently never be processed).
  Not ``s3:ObjectCreated:*``: ``Copy`` and ``Post`` are not upload paths this
  pipeline offers. The notification depends on the permission (S3 checks it
  when the notification is written).
* ``SecretRotationTrigger``: Secrets Manager -> rotation function, and the
  ``aws_secretsmanager_secret_rotation`` schedule (``rotate_immediately`` so
  the first key version exists as soon as apply finishes).
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct

from modules.provider_import import aws

PUT_EVENT = "s3:ObjectCreated:Put"
MULTIPART_EVENT = "s3:ObjectCreated:CompleteMultipartUpload"


def bucket_events(include_multipart_uploads: bool) -> list[str]:
    return [PUT_EVENT, MULTIPART_EVENT] if include_multipart_uploads else [PUT_EVENT]


def _invoke_permission(scope: Construct, id_: str, function_name: str, service: str, source_arn: str, account_id: str):
    return aws("lambda_permission").LambdaPermission(
        scope, id_,
        statement_id=f"AllowInvokeFrom{service.split('.')[0].capitalize()}",
        action="lambda:InvokeFunction",
        function_name=function_name,
        principal=service,
        source_arn=source_arn,
        source_account=account_id,
    )


@dataclass(frozen=True)
class BucketTriggerConfig:
    bucket_id: str
    bucket_arn: str
    account_id: str
    function_name: str
    function_arn: str
    prefix: str
    suffix: str = ""
    include_multipart_uploads: bool = True


class BucketTrigger(Construct):
    def __init__(self, scope: Construct, id_: str, config: BucketTriggerConfig) -> None:
        super().__init__(scope, id_)
        permission = _invoke_permission(self, "permission", config.function_name, "s3.amazonaws.com",
                                        config.bucket_arn, config.account_id)
        notification = aws("s3_bucket_notification")
        notification.S3BucketNotification(
            self, "notification",
            bucket=config.bucket_id,
            lambda_function=[notification.S3BucketNotificationLambdaFunction(
                id="ingest-on-upload",
                lambda_function_arn=config.function_arn,
                events=bucket_events(config.include_multipart_uploads),
                filter_prefix=config.prefix,
                filter_suffix=config.suffix or None,
            )],
            depends_on=[permission],
        )


@dataclass(frozen=True)
class SecretRotationTriggerConfig:
    secret_arn: str
    account_id: str
    function_name: str
    function_arn: str
    rotation_days: int
    rotate_immediately: bool = True


class SecretRotationTrigger(Construct):
    def __init__(self, scope: Construct, id_: str, config: SecretRotationTriggerConfig) -> None:
        super().__init__(scope, id_)
        permission = _invoke_permission(self, "permission", config.function_name, "secretsmanager.amazonaws.com",
                                        config.secret_arn, config.account_id)
        rotation = aws("secretsmanager_secret_rotation")
        rotation.SecretsmanagerSecretRotation(
            self, "rotation",
            secret_id=config.secret_arn,
            rotation_lambda_arn=config.function_arn,
            rotation_rules=rotation.SecretsmanagerSecretRotationRotationRules(automatically_after_days=config.rotation_days),
            rotate_immediately=config.rotate_immediately,
            depends_on=[permission],
        )
