"""One naming function for every AWS resource the project names.

Names are ``{project}-{environment}-{component}``; each resource kind has its
own length and character rules, checked here so a name that cannot fit fails
at synth time with the rule it breaks, not during ``terraform apply``.
S3 bucket names are global, so they end in ``{account_id}-{region}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modules.settings import EnvironmentSettings


class NamingError(ValueError):
    pass


@dataclass(frozen=True)
class NameRule:
    max_length: int
    pattern: str
    description: str
    min_length: int = 1
    prefix: str = ""


RULES: dict[str, NameRule] = {
    "s3_bucket": NameRule(63, r"[a-z0-9][a-z0-9-]*[a-z0-9]", "lowercase letters, digits and hyphens, starting and ending with a letter or digit", 3),
    "iam_role": NameRule(64, r"[A-Za-z0-9+=,.@_-]+", "letters, digits and +=,.@_-"),
    "lambda_function": NameRule(64, r"[A-Za-z0-9_-]+", "letters, digits, hyphens and underscores"),
    "sqs_queue": NameRule(80, r"[A-Za-z0-9_-]+", "letters, digits, hyphens and underscores"),
    "sns_topic": NameRule(256, r"[A-Za-z0-9_-]+", "letters, digits, hyphens and underscores"),
    "kms_alias": NameRule(256, r"alias/[A-Za-z0-9/_-]+", "'alias/' then letters, digits, '/', '_' and '-'", prefix="alias/"),
    "log_group": NameRule(512, r"[A-Za-z0-9_./#-]+", "letters, digits and _-./#"),
    "security_group": NameRule(255, r"[A-Za-z0-9 ._:/()#,@\[\]+=&;{}!$*-]+", "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*"),
    "secret": NameRule(512, r"[A-Za-z0-9/_+=.@-]+", "letters, digits and /_+=.@-"),
    "alarm": NameRule(255, r"[^\x00-\x1f]+", "printable characters"),
    "dashboard": NameRule(255, r"[A-Za-z0-9_-]+", "letters, digits, hyphens and underscores"),
    "metric_filter": NameRule(512, r"[^:*]+", "any characters except ':' and '*'"),
    "vpc_resource": NameRule(255, r".+", "any characters (Name tag)"),
}


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it obeys the rules for ``kind``; raise NamingError naming the rule otherwise."""
    rule = RULES[kind]
    if not (rule.min_length <= len(name) <= rule.max_length):
        raise NamingError(f"{kind} name {name!r} is {len(name)} characters; allowed: {rule.min_length}–{rule.max_length}")
    if not re.fullmatch(rule.pattern, name):
        raise NamingError(f"{kind} name {name!r} has characters that are not allowed; allowed: {rule.description}")
    if kind == "s3_bucket":
        if "--" in name and (name.startswith("xn--") or name.endswith("--ol-s3") or name.endswith("--x-s3")):
            raise NamingError(f"s3_bucket name {name!r} uses a reserved prefix or suffix (xn--, --ol-s3, --x-s3)")
        if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or name.endswith(("-s3alias", "--ol-s3")):
            raise NamingError(f"s3_bucket name {name!r} uses a reserved prefix or suffix (xn--, sthree-, amzn-s3-demo-, -s3alias, --ol-s3)")
        if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
            raise NamingError(f"s3_bucket name {name!r} must not look like an IP address")
    if kind == "kms_alias" and name.startswith("alias/aws/"):
        raise NamingError(f"kms_alias {name!r} is under 'alias/aws/', which AWS reserves for AWS managed keys")
    return name


def bucket_name(project: str, environment: str, component: str, account_id: str, region: str) -> str:
    """Globally unique bucket name: the account id and region make it ours."""
    return check_name("s3_bucket", f"{project}-{environment}-{component}-{account_id}-{region}")


@dataclass(frozen=True)
class Namer:
    project: str
    environment: str
    account_id: str
    region: str

    @classmethod
    def for_environment(cls, env: "EnvironmentSettings") -> "Namer":
        return cls(env.project, env.name, env.account_id, env.region)

    @property
    def prefix(self) -> str:
        return f"{self.project}-{self.environment}"

    def name(self, kind: str, component: str) -> str:
        if kind == "s3_bucket":
            return bucket_name(self.project, self.environment, component, self.account_id, self.region)
        if kind == "kms_alias":
            return check_name(kind, f"alias/{self.prefix}-{component}")
        if kind == "log_group":
            raise NamingError("log group names derive from what they log: use lambda_log_group() or log_group()")
        return check_name(kind, f"{self.prefix}-{component}")

    def lambda_log_group(self, function_name: str) -> str:
        return check_name("log_group", f"/aws/lambda/{function_name}")

    def log_group(self, component: str) -> str:
        return check_name("log_group", f"/{self.project}/{self.environment}/{component}")


# The longest component each kind is given in this project: checking them at
# config time turns a too-long project/environment name into a config error.
LONGEST_COMPONENTS = {
    "s3_bucket": "access-logs",
    "iam_role": "rotation-function",
    "lambda_function": "rotate-signing-key",
    "sqs_queue": "rotation-dlq",
    "sns_topic": "alarms",
    "kms_alias": "key",
}


def validate_names(env: "EnvironmentSettings") -> None:
    namer = Namer.for_environment(env)
    for kind, component in LONGEST_COMPONENTS.items():
        namer.name(kind, component)
