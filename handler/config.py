"""Configuration of the ingest function, read only from environment variables.

``load_config(os.environ)`` validates every variable at once and raises a single
``ConfigError`` whose message names each offending variable.  The secret *value*
never appears here: only its ARN.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Mapping, Optional
from urllib.parse import urlsplit

from . import contract as c

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SECRET_ARN_RE = re.compile(r"^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
_LOOPBACK_NAMES = {"localhost"}


class ConfigError(ValueError):
    """Invalid or missing configuration; ``problems`` maps variable -> message."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(self.problems.items()))
        super().__init__(f"invalid configuration: {detail}")


@dataclass(frozen=True)
class Config:
    manifest_bucket: str
    manifest_prefix: str
    trigger_prefix: str
    signing_secret_arn: str
    max_object_bytes: int
    service_name: str
    webhook_url: Optional[str] = None
    signing_key_ttl_seconds: int = c.DEFAULT_SIGNING_KEY_TTL_SECONDS
    log_level: str = c.DEFAULT_LOG_LEVEL


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_webhook_url(url: str) -> Optional[str]:
    """Return an error message, or None when ``url`` is acceptable."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "must be an absolute URL with a host"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return None
    return "must use https (plain http is accepted only for a loopback host)"


def _int(env: Mapping[str, str], name: str, problems: dict, *, minimum: int, default=None):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        if default is None:
            problems[name] = "is required"
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        problems[name] = f"must be an integer, got {raw!r}"
        return default
    if value < minimum:
        problems[name] = f"must be >= {minimum}, got {value}"
    return value


def load_config(env: Mapping[str, str]) -> Config:
    problems: dict = {}

    def required(name: str, allow_empty: bool = False) -> str:
        value = env.get(name)
        if value is None or (not allow_empty and value.strip() == ""):
            problems[name] = "is required"
            return ""
        return value

    manifest_bucket = required(c.ENV_MANIFEST_BUCKET)
    if manifest_bucket and not _BUCKET_RE.match(manifest_bucket):
        problems[c.ENV_MANIFEST_BUCKET] = f"is not a valid bucket name: {manifest_bucket!r}"
    manifest_prefix = required(c.ENV_MANIFEST_PREFIX, allow_empty=True)
    trigger_prefix = required(c.ENV_TRIGGER_PREFIX, allow_empty=True)
    secret_arn = required(c.ENV_SIGNING_SECRET_ARN)
    if secret_arn and not _SECRET_ARN_RE.match(secret_arn):
        problems[c.ENV_SIGNING_SECRET_ARN] = "must be a Secrets Manager secret ARN"
    service_name = required(c.ENV_SERVICE_NAME)
    max_bytes = _int(env, c.ENV_MAX_OBJECT_BYTES, problems, minimum=0)
    ttl = _int(
        env, c.ENV_SIGNING_KEY_TTL_SECONDS, problems, minimum=0,
        default=c.DEFAULT_SIGNING_KEY_TTL_SECONDS,
    )
    webhook = env.get(c.ENV_WEBHOOK_URL) or None
    if webhook is not None:
        err = validate_webhook_url(webhook)
        if err:
            problems[c.ENV_WEBHOOK_URL] = err
    log_level = (env.get(c.ENV_LOG_LEVEL) or c.DEFAULT_LOG_LEVEL).upper()
    if log_level not in c.LOG_LEVELS:
        problems[c.ENV_LOG_LEVEL] = f"must be one of {', '.join(c.LOG_LEVELS)}"

    if problems:
        raise ConfigError(problems)
    return Config(
        manifest_bucket=manifest_bucket,
        manifest_prefix=manifest_prefix,
        trigger_prefix=trigger_prefix,
        signing_secret_arn=secret_arn,
        max_object_bytes=max_bytes,
        service_name=service_name,
        webhook_url=webhook,
        signing_key_ttl_seconds=ttl,
        log_level=log_level,
    )
