"""What every stack of the project shares: the AWS provider, tags, Terraform version."""

from __future__ import annotations

from collections.abc import Mapping

from cdktf import Aspects, TerraformStack
from constructs import Construct

from modules.provider_import import aws
from modules.tagging import RequiredTagsAspect

# S3-native state locking (backend "use_lockfile") needs Terraform 1.10.
REQUIRED_TERRAFORM_VERSION = ">= 1.10"


class ProjectStack(TerraformStack):
    """A stack with one AWS provider that tags everything and refuses other accounts."""

    def __init__(self, scope: Construct, id_: str, *, region: str, account_id: str, tags: Mapping[str, str]) -> None:
        super().__init__(scope, id_)
        self.region = region
        self.account_id = account_id
        provider_module = aws("provider")
        self.provider = provider_module.AwsProvider(
            self, "aws",
            region=region,
            # Credentials for any other account make Terraform stop before touching anything.
            allowed_account_ids=[account_id],
            default_tags=[provider_module.AwsProviderDefaultTags(tags=dict(tags))],
        )
        self.add_override("terraform.required_version", REQUIRED_TERRAFORM_VERSION)
        self.tags_aspect = RequiredTagsAspect(self.provider, tags)
        Aspects.of(self).add(self.tags_aspect)
