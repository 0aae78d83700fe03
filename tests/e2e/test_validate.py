"""``terraform validate`` of every synthesized stack (dev, prod, state backend) through the offline mirror,
and proof that validate does catch a broken stack."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tools import terraform_cli

USABLE, REASON = terraform_cli.availability()
pytestmark = [pytest.mark.terraform, pytest.mark.skipif(not USABLE, reason=REASON), pytest.mark.timeout(600)]


def test_every_stack_validates(synth_dir: Path) -> None:
    stacks = sorted(p for p in (synth_dir / "stacks").iterdir() if p.is_dir())
    assert [p.name for p in stacks] == ["ingest-dev", "ingest-prod", "ingest-state-backend"]
    for stack_dir in stacks:
        result = terraform_cli.validate_stack(stack_dir)
        assert result.returncode == 0, f"terraform validate {stack_dir.name} failed:\n{result.tail()}"


def _one_named(stack: dict, resource_type: str, predicate: Callable[[dict], bool]) -> dict:
    found = [body for body in stack["resource"][resource_type].values() if predicate(body)]
    assert len(found) == 1
    return found[0]


def _unknown_runtime(stack: dict) -> None:
    _one_named(stack, "aws_lambda_function", lambda f: f["handler"].endswith("app.lambda_handler"))["runtime"] = "python3.99"


def _permission_for_a_missing_function(stack: dict) -> None:
    permission = _one_named(stack, "aws_lambda_permission", lambda p: p["principal"] == "s3.amazonaws.com")
    permission["function_name"] = "${aws_lambda_function.does_not_exist.function_name}"


@pytest.mark.parametrize("break_stack, expected", [
    (_unknown_runtime, 'expected runtime to be one of'),
    (_permission_for_a_missing_function, 'Reference to undeclared resource'),
], ids=["invalid-attribute-value", "permission-for-missing-function"])
def test_validate_fails_on_a_broken_stack(synth_dir: Path, tmp_path: Path, break_stack, expected: str) -> None:
    broken = tmp_path / "ingest-dev"
    shutil.copytree(synth_dir / "stacks" / "ingest-dev", broken, ignore=shutil.ignore_patterns(".terraform*"))
    config = broken / "cdk.tf.json"
    stack = json.loads(config.read_text())
    break_stack(stack)
    config.write_text(json.dumps(stack))
    result = terraform_cli.validate_stack(broken)
    assert result.returncode != 0, f"validate accepted a broken stack:\n{result.tail()}"
    assert expected in result.output, result.tail()
