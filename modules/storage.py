"""One secure S3 bucket construct, used for every bucket in the project.

Defaults (aws-solutions-constructs style, all in ``SecureBucketConfig``): all
four public-access blocks, ``BucketOwnerEnforced`` (ACLs off), versioning,
SSE-KMS with S3 Bucket Keys, server access logging to the log bucket, a
lifecycle that aborts incomplete multipart uploads and expires noncurrent
versions, and a policy that denies non-TLS and TLS < 1.2 requests.

The documented exception: an access-log bucket. S3 server access log delivery
does not support SSE-KMS target buckets, so it uses SSE-S3 (AES256); it logs
nowhere (logging to itself would loop); its policy lets
``logging.s3.amazonaws.com`` write, only for this account's source buckets.

Permissions come from the bucket (``grant_read(prefix)``, ``grant_write(prefix)``):
IAM statements for a role, scoped to this bucket's ARN and an object prefix,
plus the KMS actions S3 needs on the bucket's key, usable only through S3
(``kms:ViaService``) and only for this bucket (with S3 Bucket Keys the
encryption context is the bucket ARN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from cdktf import TerraformResourceLifecycle
from constructs import Construct

from modules.encryption import EncryptionKey, sid_part
from modules.policy import Statement, deny_insecure_transport, render, statement
from modules.provider_import import aws


@dataclass(frozen=True)
class SecureBucketConfig:
    name: str
    account_id: str
    # True for an access-log bucket: SSE-S3, no logging of its own, log-delivery policy.
    is_access_log_bucket: bool = False
    force_destroy: bool = False
    prevent_destroy: bool = False
    noncurrent_version_expiration_days: int = 90
    abort_incomplete_multipart_days: int = 7
    # Required on an access-log bucket: the ARNs of the buckets that log into it (nothing else may).
    log_source_bucket_arns: tuple[str, ...] = ()


class SecureBucket(Construct):
    """``key``: the stack's KMS key (SSE-KMS); ``log_target``: the access-log bucket. Both None only for an access-log bucket."""

    def __init__(self, scope: Construct, id_: str, config: SecureBucketConfig,
                 key: Optional[EncryptionKey] = None, log_target: Optional["SecureBucket"] = None) -> None:
        super().__init__(scope, id_)
        if (key is None) != config.is_access_log_bucket:
            raise ValueError(f"bucket {config.name!r}: SSE-KMS with the stack's key is required "
                             "(SSE-S3 is allowed only for an access-log bucket, which must not be given a key)")
        if (log_target is None) != config.is_access_log_bucket:
            raise ValueError(f"bucket {config.name!r}: every bucket except an access-log bucket logs to an access-log bucket")
        if config.is_access_log_bucket and not config.log_source_bucket_arns:
            raise ValueError(f"bucket {config.name!r}: an access-log bucket needs log_source_bucket_arns "
                             "(log delivery is allowed only for those buckets)")
        self.config = config
        self.key = key
        self._sid = sid_part(id_)
        self.bucket = aws("s3_bucket").S3Bucket(
            self, "bucket",
            bucket=config.name,
            force_destroy=config.force_destroy,
            lifecycle=TerraformResourceLifecycle(prevent_destroy=True) if config.prevent_destroy else None,
        )
        bucket_id = self.bucket.id
        self.public_access_block = aws("s3_bucket_public_access_block").S3BucketPublicAccessBlock(
            self, "public-access-block",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        oc = aws("s3_bucket_ownership_controls")
        oc.S3BucketOwnershipControls(
            self, "ownership",
            bucket=bucket_id,
            rule=oc.S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        ver = aws("s3_bucket_versioning")
        self.versioning = ver.S3BucketVersioningA(
            self, "versioning",
            bucket=bucket_id,
            versioning_configuration=ver.S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        sse = aws("s3_bucket_server_side_encryption_configuration")
        if key is not None:
            default = sse.S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                sse_algorithm="aws:kms", kms_master_key_id=key.key_arn)
            rule = sse.S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=default, bucket_key_enabled=True)
        else:
            default = sse.S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(sse_algorithm="AES256")
            rule = sse.S3BucketServerSideEncryptionConfigurationRuleA(apply_server_side_encryption_by_default=default)
        sse.S3BucketServerSideEncryptionConfigurationA(self, "encryption", bucket=bucket_id, rule=[rule])
        lc = aws("s3_bucket_lifecycle_configuration")
        lc.S3BucketLifecycleConfiguration(
            self, "lifecycle",
            bucket=bucket_id,
            rule=[lc.S3BucketLifecycleConfigurationRule(
                id="abort-multipart-and-expire-noncurrent",
                status="Enabled",
                filter=[lc.S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                abort_incomplete_multipart_upload=[lc.S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                    days_after_initiation=config.abort_incomplete_multipart_days)],
                noncurrent_version_expiration=[lc.S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=config.noncurrent_version_expiration_days)],
            )],
            depends_on=[self.versioning],
        )
        resources = [self.bucket.arn, f"{self.bucket.arn}/*"]
        statements: list[Statement] = deny_insecure_transport(resources)
        if config.is_access_log_bucket:
            statements.append(self._log_delivery_statement(config))
        self.policy = aws("s3_bucket_policy").S3BucketPolicy(
            self, "policy", bucket=bucket_id, policy=render(statements), depends_on=[self.public_access_block])
        if log_target is not None:
            # S3 refuses PutBucketLogging until the target's policy lets the logging service write.
            aws("s3_bucket_logging").S3BucketLoggingA(
                self, "logging",
                bucket=bucket_id,
                target_bucket=log_target.bucket_name,
                target_prefix=f"{config.name}/",
                depends_on=[log_target.policy],
            )

    def _log_delivery_statement(self, config: SecureBucketConfig) -> Statement:
        condition = {"StringEquals": {"aws:SourceAccount": config.account_id},
                     "ArnLike": {"aws:SourceArn": list(config.log_source_bucket_arns)}}
        delivery = statement("AllowS3ServerAccessLogDelivery", ["s3:PutObject"], [f"{self.bucket.arn}/*"],
                             principal={"Service": "logging.s3.amazonaws.com"}, condition=condition)
        # One ARN as a plain string, the form of AWS's server-access-logging example. AWS accepts both forms;
        # moto 5.2.5 recognises the grant only as a string and otherwise refuses PutBucketLogging (the e2e deploy).
        delivery["Resource"] = f"{self.bucket.arn}/*"
        return delivery

    @property
    def bucket_name(self) -> str:
        return self.bucket.bucket

    @property
    def bucket_arn(self) -> str:
        return self.bucket.arn

    def grant_read(self, prefix: str = "") -> list[Statement]:
        """Read objects under ``prefix``: by version id (``s3:GetObjectVersion``, what S3 events of a versioned
        bucket name) and by key (``s3:GetObject``, for events without a version id: objects written while
        versioning was suspended)."""
        return [statement(f"{self._sid}ReadObjects", ["s3:GetObject", "s3:GetObjectVersion"], [self._objects(prefix)]),
                *self._key_grant("Read", ["kms:Decrypt"])]

    def grant_write(self, prefix: str = "") -> list[Statement]:
        """Write objects under ``prefix`` in single PUTs: SSE-KMS needs kms:GenerateDataKey. (A multipart upload
        would also need kms:Decrypt; nothing here uploads in parts, and the least-privilege proof would flag it.)"""
        return [statement(f"{self._sid}WriteObjects", ["s3:PutObject"], [self._objects(prefix)]),
                *self._key_grant("Write", ["kms:GenerateDataKey"])]

    def _objects(self, prefix: str) -> str:
        if "*" in prefix or "?" in prefix or prefix.startswith("/"):
            raise ValueError(f"bucket {self.config.name!r}: prefix {prefix!r} must be a literal key prefix (no wildcards, no leading '/')")
        return f"{self.bucket_arn}/{prefix}*"

    def _key_grant(self, what: str, actions: list[str]) -> list[Statement]:
        if self.key is None:
            return []  # SSE-S3: S3 holds the key, there is nothing to grant.
        # With S3 Bucket Keys the encryption context is the bucket ARN, not the object ARN.
        return self.key.grant_via_service(actions, "s3", sid=f"{self._sid}{what}Key",
                                          encryption_context={"aws:s3:arn": self.bucket_arn})


def access_log_bucket_arns(names: Sequence[str]) -> tuple[str, ...]:
    """Source-bucket ARNs built from names (no reference cycle with the source buckets)."""
    return tuple(f"arn:aws:s3:::{name}" for name in names)
