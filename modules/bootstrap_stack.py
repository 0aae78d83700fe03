"""The state-backend bootstrap stack: the bucket every environment keeps its state in.

Deployed once, with local state (it cannot keep its state in the bucket it
creates), before any environment. Versioned, SSE-KMS with a rotating key,
public access blocked, TLS-only, access-logged, old versions expired, and
protected by ``prevent_destroy``. Environments lock with S3-native lock files
(``use_lockfile``), so no DynamoDB table is needed.
"""

from __future__ import annotations

from cdktf import LocalBackend
from constructs import Construct

from modules.base_stack import ProjectStack
from modules.encryption import EncryptionKey, EncryptionKeyConfig
from modules.naming import bucket_name, check_name
from modules.settings import ProjectSettings
from modules.storage import SecureBucket, SecureBucketConfig, access_log_bucket_arns
from modules.tagging import MANAGED_BY

BOOTSTRAP_ENVIRONMENT = "shared"


def bootstrap_stack_name(settings: ProjectSettings) -> str:
    return f"{settings.project}-state-backend"


class StateBackendStack(ProjectStack):
    def __init__(self, scope: Construct, settings: ProjectSettings) -> None:
        tags = {
            **dict(settings.tags),
            "Project": settings.project,
            "Environment": BOOTSTRAP_ENVIRONMENT,
            "Owner": settings.owner,
            "CostCenter": settings.cost_center,
            "ManagedBy": MANAGED_BY,
        }
        super().__init__(scope, bootstrap_stack_name(settings), region=settings.state_region,
                         account_id=settings.state_account_id, tags=dict(sorted(tags.items())))
        # Relative to the stack's directory, so the output does not depend on where it was synthesized.
        LocalBackend(self, path="terraform.tfstate")
        self.key = EncryptionKey(self, "state-key", EncryptionKeyConfig(
            description=f"{settings.project} Terraform state",
            alias=check_name("kms_alias", settings.state_key_alias),
            account_id=settings.state_account_id,
            region=settings.state_region,
            prevent_destroy=True,
        ))
        log_name = bucket_name(settings.project, "tfstate", "access-logs", settings.state_account_id, settings.state_region)
        self.access_logs = SecureBucket(self, "access-logs", SecureBucketConfig(
            name=log_name,
            account_id=settings.state_account_id,
            is_access_log_bucket=True,
            prevent_destroy=True,
            log_source_bucket_arns=access_log_bucket_arns([settings.state_bucket]),
        ))
        self.state_bucket = SecureBucket(self, "state", SecureBucketConfig(
            name=settings.state_bucket,
            account_id=settings.state_account_id,
            prevent_destroy=True,
        ), key=self.key, log_target=self.access_logs)
