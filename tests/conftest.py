"""Session-wide fixtures: the real configuration is synthesized once per test session.

Tests read ``synth`` (stack name -> parsed cdk.tf.json) and must not synthesize
the full app again. Tests that need a deliberately changed stack call
``synth_variant(mutate)`` which synthesizes a modified copy of the
configuration in-process (the jsii runtime is already warm: ~1-2 s).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Fake credentials: no test may ever reach real AWS.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
}.items():
    os.environ.setdefault(_name, _value)
os.environ.pop("AWS_PROFILE", None)

from modules.app import read_config, synth as synth_app  # noqa: E402
from modules.settings import load_project  # noqa: E402

Stack = dict[str, Any]


def load_stacks(outdir: Path) -> dict[str, Stack]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((outdir / "stacks").glob("*/cdk.tf.json"))}


@pytest.fixture(scope="session", autouse=True)
def handler_zip() -> Path:
    """Every stack embeds dist/handler.zip: build it (no write when unchanged) before anything synthesizes."""
    from tools.build_zip import ARTIFACT, build

    build()
    return ARTIFACT


@pytest.fixture(scope="session")
def project_config() -> dict[str, Any]:
    """The configuration from cdktf.json (a fresh deep copy per use is the caller's job)."""
    return read_config()


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory, project_config: dict[str, Any]) -> Path:
    outdir = tmp_path_factory.mktemp("synth") / "cdktf.out"
    return synth_app(load_project(copy.deepcopy(project_config)), outdir)


@pytest.fixture(scope="session")
def synth(synth_dir: Path) -> dict[str, Stack]:
    return load_stacks(synth_dir)


@pytest.fixture(scope="session")
def dev_stack(synth: dict[str, Stack]) -> Stack:
    return synth["ingest-dev"]


@pytest.fixture(scope="session")
def prod_stack(synth: dict[str, Stack]) -> Stack:
    return synth["ingest-prod"]


@pytest.fixture(scope="session")
def bootstrap_stack(synth: dict[str, Stack]) -> Stack:
    return synth["ingest-state-backend"]


@pytest.fixture
def synth_variant(tmp_path: Path, project_config: dict[str, Any]) -> Callable[..., dict[str, Stack]]:
    """Synthesize a changed copy of the configuration: ``synth_variant(lambda cfg: ...)``."""

    def run(mutate: Callable[[dict[str, Any]], Any], environments: list[str] | None = None,
            bootstrap: bool = False) -> dict[str, Stack]:
        config = copy.deepcopy(project_config)
        mutate(config)
        outdir = synth_app(load_project(config), tmp_path / "cdktf.out", environments, bootstrap)
        return load_stacks(outdir)

    return run


def resources(stack: Stack, resource_type: str) -> dict[str, dict[str, Any]]:
    """All resources of a type in a synthesized stack: logical name -> attributes."""
    return stack.get("resource", {}).get(resource_type, {})


def one(stack: Stack, resource_type: str) -> dict[str, Any]:
    found = resources(stack, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))


# The checkov test records its per-stack counts as a report property; the end of every run prints them.
# This hook lives in the root conftest: with pytest-xdist the controller loads no sub-folder conftest.
CHECKOV_SUMMARY = "checkov_summary"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == CHECKOV_SUMMARY and getattr(report, "when", None) == "call":
                    terminalreporter.write_sep("-", "checkov results per stack")
                    terminalreporter.write_line(value)
