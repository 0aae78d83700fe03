"""Tags: one source (the provider's ``default_tags``), validated, and enforced by an Aspect."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import jsii
from cdktf import IAspect, TerraformProvider, TerraformResource
from constructs import IConstruct

from modules.validation import Problems, join

if TYPE_CHECKING:
    from modules.settings import EnvironmentSettings

REQUIRED_TAG_KEYS = ("Project", "Environment", "Owner", "CostCenter", "ManagedBy")
MANAGED_BY = "cdktf"
# Characters AWS accepts in tag keys and values across services (the strictest common set).
TAG_CHARACTERS = re.compile(r"^[\w .:/=+\-@]*$", re.UNICODE)


class TagError(ValueError):
    pass


def required_tags(env: "EnvironmentSettings") -> dict[str, str]:
    return {
        "Project": env.project,
        "Environment": env.name,
        "Owner": env.owner,
        "CostCenter": env.cost_center,
        "ManagedBy": MANAGED_BY,
    }


def stack_tags(env: "EnvironmentSettings") -> dict[str, str]:
    """Every tag the provider applies: extras first, the required ones win."""
    return dict(sorted({**dict(env.tags), **required_tags(env)}.items()))


def tag_problems(tags: Mapping[str, str], path: str, problems: Problems) -> None:
    for key, value in tags.items():
        key_path = join(path, key)
        if not 1 <= len(key) <= 128:
            problems.add(key_path, f"tag key is {len(key)} characters; allowed: 1–128")
        if key.lower().startswith("aws:"):
            problems.add(key_path, "tag keys must not start with 'aws:' (reserved by AWS)")
        if not TAG_CHARACTERS.match(key):
            problems.add(key_path, "tag key has characters that are not allowed; allowed: letters, digits, spaces and _.:/=+-@")
        if len(value) > 256:
            problems.add(key_path, f"tag value is {len(value)} characters; allowed: 0–256")
        if not TAG_CHARACTERS.match(value):
            problems.add(key_path, f"tag value {value!r} has characters that are not allowed; allowed: letters, digits, spaces and _.:/=+-@")


def check_tags(env: "EnvironmentSettings", path: str, problems: Problems) -> None:
    for key in env.tags:
        if key in REQUIRED_TAG_KEYS:
            problems.add(join(path, key), f"is a required tag set from the project settings; remove it from tags (required: {', '.join(REQUIRED_TAG_KEYS)})")
    tag_problems(stack_tags(env), path, problems)


def _plain_tags(value: object) -> dict[str, str]:
    """Tags given as a plain mapping; a token (unknown until apply) counts as no tags."""
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


@jsii.implements(IAspect)
class RequiredTagsAspect:
    """Fails synth when a taggable resource would end up without every required tag.

    A resource's effective tags are the stack provider's ``default_tags``
    (when it uses that provider) merged with its own ``tags``. Violations are collected during the visit and raised by
    ``raise_if_any`` after synthesis (an exception inside a jsii callback loses
    its message).
    """

    def __init__(self, default_provider: TerraformProvider, default_tags: Mapping[str, str],
                 required: tuple[str, ...] = REQUIRED_TAG_KEYS) -> None:
        self.default_provider = default_provider
        self.default_tags = dict(default_tags)
        self.required = required
        self.violations: list[str] = []

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, TerraformResource) or not hasattr(node, "tags_input"):
            return
        # A resource on another provider gets none of this stack's default tags.
        uses_default = node.provider is None or node.provider.node.path == self.default_provider.node.path
        defaults = self.default_tags if uses_default else {}
        effective = {**defaults, **_plain_tags(node.tags_input)}
        missing = [key for key in self.required if not effective.get(key)]
        if missing:
            self.violations.append(f"{node.node.path}: missing required tag(s) {', '.join(missing)}")

    def raise_if_any(self) -> None:
        if self.violations:
            raise TagError("resources without required tags:\n" + "\n".join(f"  - {v}" for v in sorted(set(self.violations))))
