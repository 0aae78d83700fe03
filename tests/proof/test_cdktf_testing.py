"""cdktf.Testing where it fits: synth, full_synth, to_have_resource_with_properties, to_be_valid_terraform.

Limits respected here: ``to_have_resource_with_properties`` treats ``None`` as
a wildcard (absence is asserted on parsed JSON in test_invariants.py), and
``to_be_valid_terraform`` runs in its own process (tests/proof/cdktf_validity.py).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from typing import Any

import pytest
import cdktf

from modules.app import build_app
from modules.settings import load_project
from tests.proof.invariants import resources
from tools import terraform_cli


@pytest.fixture(scope="module")
def dev_synth(project_config) -> str:
    """``cdktf.Testing.synth`` of a freshly built dev stack (the JSON string the matchers take)."""
    _, stacks = build_app(load_project(copy.deepcopy(project_config)), tempfile.mkdtemp(prefix="cdktf-testing-"),
                          ["dev"], bootstrap=False)
    return cdktf.Testing.synth(stacks[0])


def _without_metadata(value: Any) -> Any:
    """Testing.synth leaves out cdktf's "//" metadata blocks; everything else must be identical."""
    if isinstance(value, dict):
        return {k: _without_metadata(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [_without_metadata(v) for v in value]
    return value


def test_testing_synth_is_the_stack_main_py_writes(dev_synth, dev_stack):
    assert json.loads(dev_synth) == _without_metadata(dev_stack)


@pytest.mark.parametrize(("rtype", "properties"), [
    ("aws_s3_bucket_versioning", {"versioning_configuration": {"status": "Enabled"}}),
    ("aws_s3_bucket_public_access_block", {"block_public_acls": True, "block_public_policy": True,
                                           "ignore_public_acls": True, "restrict_public_buckets": True}),
    ("aws_kms_key", {"enable_key_rotation": True}),
    ("aws_lambda_function", {"tracing_config": {"mode": "Active"}}),
    ("aws_lambda_permission", {"principal": "s3.amazonaws.com", "source_account": "111111111111"}),
])
def test_matcher_finds_secure_settings(dev_synth, rtype, properties):
    assert cdktf.Testing.to_have_resource_with_properties(dev_synth, rtype, properties)


def test_matcher_rejects_a_value_that_is_not_there(dev_synth):
    assert not cdktf.Testing.to_have_resource_with_properties(
        dev_synth, "aws_s3_bucket_versioning", {"versioning_configuration": {"status": "Suspended"}})
    assert not cdktf.Testing.to_have_resource(dev_synth, "aws_iam_user")


def test_matcher_cannot_prove_absence_none_is_a_wildcard(dev_stack):
    """Why absence (e.g. a missing source_account) is asserted on parsed JSON, not with this matcher."""
    without = copy.deepcopy(dev_stack)
    for permission in resources(without, "aws_lambda_permission").values():
        permission.pop("source_account")
    assert cdktf.Testing.to_have_resource_with_properties(json.dumps(without), "aws_lambda_permission",
                                                    {"source_account": None})


@pytest.mark.terraform
def test_full_synth_is_valid_terraform_and_an_invalid_stack_is_not():
    usable, reason = terraform_cli.availability()
    if not usable:
        pytest.skip(reason)
    env = terraform_cli.environment({"TF_CLI_ARGS_init": "-backend=false"})
    done = subprocess.run([sys.executable, "-m", "tests.proof.cdktf_validity"], env=env, cwd=terraform_cli.PROJECT_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"compliant": True, "invalid": False}
