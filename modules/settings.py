"""Typed, validated configuration for the whole project, and every default.

The configuration lives in ``cdktf.json`` under ``context.ingest`` (the cdktf
CLI passes ``context`` through unchanged). Shape::

    {"project": ..., "owner": ..., "cost_center": ..., "tags": {...},
     "state": {"account_id": ..., "region": ...},
     "defaults": {<any environment setting>},
     "environments": {"dev": {<environment settings>}, "prod": {...}}}

An environment's value for a setting comes from, in order: the environment's
own entry, then ``defaults``, then the environment class profile below
(``production`` or ``non-production``), then the dataclass default. Every
default lives in this file; README's configuration reference mirrors it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Optional

from modules.validation import ConfigError, Problems, join, load

ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
PROJECT_NAME = re.compile(r"^[a-z][a-z0-9-]{1,18}[a-z0-9]$")
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]{1,9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")

# Lambda Python runtimes that hashicorp/aws 5.100.0 accepts and AWS has not deprecated
# (python3.9 was deprecated 2025-12-15, python3.10 2026-06-30). Newest first; the first is the default.
SUPPORTED_PYTHON_RUNTIMES = ("python3.13", "python3.12", "python3.11")
DEPRECATED_PYTHON_RUNTIMES = ("python2.7", "python3.6", "python3.7", "python3.8", "python3.9", "python3.10")

# Values CloudWatch Logs accepts for retention_in_days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)

EGRESS_MODES = ("per-az", "single", "none")
# Interface endpoints the function does not need (S3/Secrets Manager call KMS server-side,
# Lambda ships logs and traces outside the VPC) but that an operator may want: ~7 USD/AZ/month each.
OPTIONAL_INTERFACE_ENDPOINTS = ("kms", "logs", "sts", "monitoring", "xray", "sqs", "lambda")

PRODUCTION = "production"
NON_PRODUCTION = "non-production"
ENVIRONMENT_CLASSES = (PRODUCTION, NON_PRODUCTION)
NON_PRODUCTION_NAMES = ("dev", "test", "sandbox", "local", "ci")
# Filled in from the project-level settings; not settable per environment.
INTERNAL = {"internal": True}


@dataclass(frozen=True)
class NetworkSettings:
    """Private VPC for the functions."""

    vpc_cidr: str = "10.20.0.0/16"
    az_count: int = 2
    # Empty: the region's first az_count zones (<region>a, b, c). Either way an aws_availability_zones
    # data source checks at plan time that every zone exists and is available to the account.
    availability_zones: tuple[str, ...] = ()
    egress: str = "per-az"
    optional_endpoints: tuple[str, ...] = ()
    # Prefix length of each subnet carved from the VPC CIDR.
    subnet_prefix_length: int = 24

    def check(self, path: str, problems: Problems) -> None:
        problems.check_range(join(path, "az_count"), self.az_count, 2, 3)
        problems.check_choice(join(path, "egress"), self.egress, EGRESS_MODES)
        for i, name in enumerate(self.optional_endpoints):
            problems.check_choice(join(join(path, "optional_endpoints"), i), name, OPTIONAL_INTERFACE_ENDPOINTS)
        if len(set(self.optional_endpoints)) != len(self.optional_endpoints):
            problems.add(join(path, "optional_endpoints"), "lists an endpoint twice")
        if self.availability_zones:
            if len(self.availability_zones) != self.az_count:
                problems.add(join(path, "availability_zones"),
                             f"lists {len(self.availability_zones)} zone(s) but az_count is {self.az_count}; give exactly az_count zones or none")
            if len(set(self.availability_zones)) != len(self.availability_zones):
                problems.add(join(path, "availability_zones"), "lists a zone twice")
        problems.check_range(join(path, "subnet_prefix_length"), self.subnet_prefix_length, 20, 28)
        cidr_path = join(path, "vpc_cidr")
        try:
            network = ipaddress.IPv4Network(self.vpc_cidr, strict=True)
        except ValueError as exc:
            problems.add(cidr_path, f"{self.vpc_cidr!r} is not a valid IPv4 network in CIDR notation ({exc}); e.g. 10.20.0.0/16")
            return
        if not 16 <= network.prefixlen <= 24:
            problems.add(cidr_path, f"{self.vpc_cidr!r} has prefix /{network.prefixlen}; allowed: /16–/24 (AWS VPC limits are /16–/28)")
            return
        if not network.is_private:
            problems.add(cidr_path, f"{self.vpc_cidr!r} is not a private (RFC 1918) range")
        tiers = 2 if self.egress != "none" else 1
        needed = self.az_count * tiers
        if self.subnet_prefix_length <= network.prefixlen:
            problems.add(cidr_path, f"{self.vpc_cidr!r} cannot hold /{self.subnet_prefix_length} subnets")
        elif 2 ** (self.subnet_prefix_length - network.prefixlen) < needed:
            problems.add(cidr_path,
                         f"{self.vpc_cidr!r} is too small for {needed} /{self.subnet_prefix_length} subnets "
                         f"({self.az_count} AZs x {tiers} tier(s)); use a larger CIDR or a longer subnet_prefix_length")


@dataclass(frozen=True)
class KeySettings:
    """The stack's customer-managed KMS key."""

    deletion_window_days: int = 30

    def check(self, path: str, problems: Problems) -> None:
        problems.check_range(join(path, "deletion_window_days"), self.deletion_window_days, 7, 30, "days")


@dataclass(frozen=True)
class StorageSettings:
    """Ingest, manifest and access-log buckets."""

    trigger_prefix: str = "incoming/"
    trigger_suffix: str = ""
    manifest_prefix: str = "manifests/"
    # Uploads above the CLI's multipart threshold (8 MiB) emit CompleteMultipartUpload, not Put.
    include_multipart_uploads: bool = True
    noncurrent_version_expiration_days: int = 90
    abort_incomplete_multipart_days: int = 7
    # Null: the environment class decides (non-production: true, production: false).
    force_destroy: Optional[bool] = None
    # Required to turn force_destroy on in a production environment.
    allow_force_destroy_in_production: bool = False

    def check(self, path: str, problems: Problems) -> None:
        for name in ("trigger_prefix", "manifest_prefix"):
            value = getattr(self, name)
            if not value or value.startswith("/") or not value.endswith("/") or len(value) > 256:
                problems.add(join(path, name), f"{value!r} must be a non-empty key prefix ending in '/', not starting with '/', at most 256 characters")
        if self.trigger_prefix.startswith(self.manifest_prefix) or self.manifest_prefix.startswith(self.trigger_prefix):
            problems.add(join(path, "manifest_prefix"),
                         f"{self.manifest_prefix!r} overlaps trigger_prefix {self.trigger_prefix!r}; they must not share a prefix (the function would trigger itself)")
        problems.check_range(join(path, "noncurrent_version_expiration_days"), self.noncurrent_version_expiration_days, 1, 3650, "days")
        problems.check_range(join(path, "abort_incomplete_multipart_days"), self.abort_incomplete_multipart_days, 1, 365, "days")


@dataclass(frozen=True)
class SecretSettings:
    """The manifest-signing secret in Secrets Manager."""

    recovery_window_days: int = 30
    rotation_days: int = 30

    def check(self, path: str, problems: Problems) -> None:
        problems.check_range(join(path, "recovery_window_days"), self.recovery_window_days, 7, 30, "days")
        # At most 90: AWS FSBP SecretsManager.4 / checkov CKV_AWS_304 (secrets rotated within 90 days).
        problems.check_range(join(path, "rotation_days"), self.rotation_days, 1, 90, "days")


# The key-rotation function: a few Secrets Manager calls per step, one step at a time
# (Secrets Manager runs one rotation of a secret at once), so small fixed limits.
ROTATION_FUNCTION_MEMORY_MB = 128
ROTATION_FUNCTION_TIMEOUT_SECONDS = 30
ROTATION_FUNCTION_RESERVED_CONCURRENCY = 1


@dataclass(frozen=True)
class FunctionSettings:
    """The ingest Lambda function."""

    runtime: str = SUPPORTED_PYTHON_RUNTIMES[0]
    architecture: str = "arm64"
    handler: str = "handler.app.lambda_handler"
    memory_mb: int = 256
    timeout_seconds: int = 30
    reserved_concurrency: int = 10
    max_object_bytes: int = 100 * 1024 * 1024
    # Conservative streaming throughput from S3 inside the VPC, used to check that
    # max_object_bytes can be read within the timeout.
    assumed_throughput_mib_per_second: float = 20.0
    webhook_url: Optional[str] = None
    max_retry_attempts: int = 2
    max_event_age_seconds: int = 3600
    dlq_retention_days: int = 14
    signing_key_ttl_seconds: int = 300

    def check(self, path: str, problems: Problems) -> None:
        runtime_path = join(path, "runtime")
        if self.runtime in DEPRECATED_PYTHON_RUNTIMES:
            problems.add(runtime_path, f"{self.runtime!r} is deprecated by AWS Lambda; allowed: {', '.join(SUPPORTED_PYTHON_RUNTIMES)}")
        else:
            problems.check_choice(runtime_path, self.runtime, SUPPORTED_PYTHON_RUNTIMES)
        problems.check_choice(join(path, "architecture"), self.architecture, ("arm64", "x86_64"))
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+", self.handler):
            problems.add(join(path, "handler"), f"{self.handler!r} must look like 'package.module.function'")
        problems.check_range(join(path, "memory_mb"), self.memory_mb, 128, 10240, "MB")
        problems.check_range(join(path, "timeout_seconds"), self.timeout_seconds, 1, 900, "seconds")
        problems.check_range(join(path, "reserved_concurrency"), self.reserved_concurrency, 1, 1000)
        problems.check_range(join(path, "max_object_bytes"), self.max_object_bytes, 1, 5 * 1024**4, "bytes")
        problems.check_range(join(path, "assumed_throughput_mib_per_second"), self.assumed_throughput_mib_per_second, 1, 1000, "MiB/s")
        problems.check_range(join(path, "max_retry_attempts"), self.max_retry_attempts, 0, 2)
        problems.check_range(join(path, "max_event_age_seconds"), self.max_event_age_seconds, 60, 21600, "seconds")
        problems.check_range(join(path, "dlq_retention_days"), self.dlq_retention_days, 1, 14, "days")
        problems.check_range(join(path, "signing_key_ttl_seconds"), self.signing_key_ttl_seconds, 0, 3600, "seconds")
        if 1 <= self.timeout_seconds <= 900 and self.assumed_throughput_mib_per_second > 0:
            # Leave 20% of the timeout for the HEAD, the manifest write and the webhook.
            budget_bytes = int(self.timeout_seconds * 0.8 * self.assumed_throughput_mib_per_second * 1024 * 1024)
            if self.max_object_bytes > budget_bytes:
                problems.add(join(path, "max_object_bytes"),
                             f"{self.max_object_bytes} bytes cannot be streamed within 80% of timeout_seconds={self.timeout_seconds} "
                             f"at {self.assumed_throughput_mib_per_second:g} MiB/s; allowed: at most {budget_bytes} bytes, or raise timeout_seconds")
        if self.webhook_url is not None:
            from urllib.parse import urlsplit

            parts = urlsplit(self.webhook_url)
            if parts.scheme != "https" or not parts.hostname:
                problems.add(join(path, "webhook_url"), f"{self.webhook_url!r} must be an https:// URL with a host")


@dataclass(frozen=True)
class MonitoringSettings:
    """Log retention, alarms and notifications."""

    log_retention_days: int = 365
    alarm_emails: tuple[str, ...] = ()
    alarm_period_seconds: int = 60
    alarm_evaluation_periods: int = 1
    # Duration p99 alarm threshold as a share of the function timeout.
    duration_threshold_share: float = 0.8
    # ConcurrentExecutions alarm threshold as a share of the reserved concurrency.
    concurrency_threshold_share: float = 0.8
    # ObjectsRejected per alarm period above which the rejection alarm fires.
    rejected_objects_threshold: int = 10
    # AsyncEventAge (ms) above which the event-age alarm fires.
    async_event_age_threshold_ms: int = 600000

    def check(self, path: str, problems: Problems) -> None:
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            problems.add(join(path, "log_retention_days"),
                         f"{self.log_retention_days!r} is not a CloudWatch Logs retention; allowed: {', '.join(map(str, LOG_RETENTION_DAYS))}")
        for i, email in enumerate(self.alarm_emails):
            if not EMAIL.fullmatch(email):
                problems.add(join(join(path, "alarm_emails"), i), f"{email!r} is not an email address")
        problems.check_choice(join(path, "alarm_period_seconds"), self.alarm_period_seconds, (60, 300, 900, 3600))
        problems.check_range(join(path, "alarm_evaluation_periods"), self.alarm_evaluation_periods, 1, 10)
        for name in ("duration_threshold_share", "concurrency_threshold_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                problems.add(join(path, name), f"{value!r} is out of range; allowed: greater than 0 and at most 1")
        problems.check_range(join(path, "rejected_objects_threshold"), self.rejected_objects_threshold, 1, 1_000_000)
        problems.check_range(join(path, "async_event_age_threshold_ms"), self.async_event_age_threshold_ms, 1000, 21_600_000, "ms")


@dataclass(frozen=True)
class EnvironmentSettings:
    """One deployable environment (one IngestStack)."""

    name: str = field(metadata=INTERNAL)
    account_id: str
    region: str
    environment_class: str
    project: str = field(metadata=INTERNAL)
    owner: str = field(metadata=INTERNAL)
    cost_center: str = field(metadata=INTERNAL)
    state_bucket: str = field(metadata=INTERNAL)
    state_key_alias: str = field(metadata=INTERNAL)
    state_region: str = field(metadata=INTERNAL)
    state_account_id: str = field(metadata=INTERNAL)
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    network: NetworkSettings = field(default_factory=NetworkSettings)
    key: KeySettings = field(default_factory=KeySettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    secret: SecretSettings = field(default_factory=SecretSettings)
    function: FunctionSettings = field(default_factory=FunctionSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)

    @property
    def production(self) -> bool:
        return self.environment_class == PRODUCTION

    @property
    def force_destroy(self) -> bool:
        if self.storage.force_destroy is None:
            return not self.production
        return self.storage.force_destroy

    @property
    def stack_name(self) -> str:
        return f"{self.project}-{self.name}"

    @property
    def state_key_arn(self) -> str:
        """The state bucket's key by alias ARN (works from another account, unlike a bare alias)."""
        return f"arn:aws:kms:{self.state_region}:{self.state_account_id}:{self.state_key_alias}"

    def check(self, path: str, problems: Problems) -> None:
        if not ACCOUNT_ID.fullmatch(self.account_id):
            problems.add(join(path, "account_id"), f"{self.account_id!r} must be a 12-digit AWS account id")
        if not REGION.fullmatch(self.region):
            problems.add(join(path, "region"), f"{self.region!r} is not an AWS region name like 'eu-west-1'")
        problems.check_choice(join(path, "environment_class"), self.environment_class, ENVIRONMENT_CLASSES)
        if self.production and self.storage.force_destroy and not self.storage.allow_force_destroy_in_production:
            problems.add(join(path, "storage.force_destroy"),
                         "true is not allowed in a production environment without storage.allow_force_destroy_in_production=true "
                         "(it lets `destroy` delete every object)")
        if self.network.egress == "none" and self.function.webhook_url:
            problems.add(join(path, "function.webhook_url"),
                         "a webhook needs internet egress, but network.egress is 'none'; allowed: set network.egress to 'single' or 'per-az', or remove webhook_url")
        if self.network.availability_zones:
            for i, zone in enumerate(self.network.availability_zones):
                if not (zone.startswith(self.region) and len(zone) == len(self.region) + 1 and zone[-1].isalpha()):
                    problems.add(join(join(path, "network.availability_zones"), i), f"{zone!r} is not a zone of region {self.region!r} (e.g. {self.region}a)")


# Defaults that depend on the environment class. Everything else defaults in the dataclasses.
CLASS_PROFILES: Mapping[str, Mapping[str, Any]] = {
    PRODUCTION: {"network": {"egress": "per-az"}, "storage": {"force_destroy": False}},
    NON_PRODUCTION: {"network": {"egress": "single"}, "storage": {"force_destroy": True}},
}


@dataclass(frozen=True)
class ProjectSettings:
    project: str
    owner: str
    cost_center: str
    state_account_id: str
    state_region: str
    tags: Mapping[str, str]
    environments: tuple[EnvironmentSettings, ...]

    @property
    def state_bucket(self) -> str:
        from modules.naming import bucket_name

        return bucket_name(self.project, "tfstate", "state", self.state_account_id, self.state_region)

    @property
    def state_key_alias(self) -> str:
        return f"alias/{self.project}-tfstate"

    def environment(self, name: str) -> EnvironmentSettings:
        for env in self.environments:
            if env.name == name:
                return env
        raise ConfigError([f"environments.{name}: no such environment; configured: {', '.join(e.name for e in self.environments)}"])


@dataclass(frozen=True)
class _StateSection:
    account_id: str
    region: str

    def check(self, path: str, problems: Problems) -> None:
        if not ACCOUNT_ID.fullmatch(self.account_id):
            problems.add(join(path, "account_id"), f"{self.account_id!r} must be a 12-digit AWS account id")
        if not REGION.fullmatch(self.region):
            problems.add(join(path, "region"), f"{self.region!r} is not an AWS region name like 'eu-west-1'")


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_TOP_LEVEL = ("project", "owner", "cost_center", "tags", "state", "defaults", "environments")


def load_project(data: Any) -> ProjectSettings:
    """Validate the whole configuration; raise one ConfigError listing every problem."""
    from modules.naming import NamingError, validate_names
    from modules.tagging import check_tags

    problems = Problems()
    if not isinstance(data, Mapping):
        raise ConfigError(["<root>: the configuration must be an object"])
    for key in sorted(set(data) - set(_TOP_LEVEL)):
        problems.add(key, f"unknown setting; allowed: {', '.join(_TOP_LEVEL)}")
    project = data.get("project")
    if not isinstance(project, str) or not PROJECT_NAME.fullmatch(project):
        problems.add("project", f"{project!r} must be 3–20 characters: lowercase letters, digits and hyphens, starting with a letter")
    for name in ("owner", "cost_center"):
        if not isinstance(data.get(name), str) or not data.get(name):
            problems.add(name, f"{data.get(name)!r} is required: a non-empty string (it becomes a required tag)")
    tags = data.get("tags", {})
    if not isinstance(tags, Mapping):
        problems.add("tags", "must be an object of tag key to value")
        tags = {}
    state = load(_StateSection, data.get("state"), "state", problems)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, Mapping):
        problems.add("defaults", "must be an object of environment settings")
        defaults = {}
    environments = data.get("environments")
    if not isinstance(environments, Mapping) or not environments:
        problems.add("environments", "at least one environment is required, e.g. {\"dev\": {...}}")
        environments = {}
    if problems:
        problems.raise_if_any()

    state_bucket = ProjectSettings(project, data["owner"], data["cost_center"], state.account_id, state.region, {}, ()).state_bucket \
        if state and isinstance(project, str) else ""
    built: list[EnvironmentSettings] = []
    for env_name, env_data in environments.items():
        path = f"environments.{env_name}"
        if not ENVIRONMENT_NAME.fullmatch(str(env_name)):
            problems.add(path, "environment names must be 2–10 lowercase letters or digits, starting with a letter")
            continue
        if not isinstance(env_data, Mapping):
            problems.add(path, "must be an object of environment settings")
            continue
        merged = _deep_merge(defaults, env_data)
        env_class = merged.get("environment_class") or (NON_PRODUCTION if env_name in NON_PRODUCTION_NAMES else PRODUCTION)
        merged = _deep_merge(CLASS_PROFILES.get(env_class, {}), merged)
        merged = {**merged, "environment_class": env_class}
        internal = {
            "name": env_name,
            "project": project,
            "owner": data["owner"],
            "cost_center": data["cost_center"],
            "state_bucket": state_bucket,
            "state_key_alias": f"alias/{project}-tfstate",
            "state_region": state.region,
            "state_account_id": state.account_id,
        }
        if isinstance(merged.get("tags", {}), Mapping):
            merged["tags"] = {**tags, **merged.get("tags", {})}
        env = load(EnvironmentSettings, merged, path, problems, internal)
        if env is not None:
            check_tags(env, join(path, "tags"), problems)
            try:
                validate_names(env)
            except NamingError as exc:
                problems.add(path, str(exc))
            built.append(env)
    problems.raise_if_any()
    return ProjectSettings(project, data["owner"], data["cost_center"], state.account_id, state.region,
                           MappingProxyType(dict(tags)), tuple(built))
