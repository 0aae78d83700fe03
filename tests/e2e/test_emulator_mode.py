"""Emulator mode changes the dev stack only where modules/emulator.py says, each for a named moto limitation.

The emulator stack is compared with a normal synth of the *same* configuration
(the emulator config: dev only, in moto's account), so every difference that is
not on the documented list fails a test.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from modules.app import synth as synth_app
from modules.emulator import (
    ALWAYS_ENDPOINTS, EMULATOR_ACCOUNT_ID, LOCAL_STATE_FILE, OMITTED_RESOURCES, TEST_ACCESS_KEY, TEST_SECRET_KEY,
    UNREAD_ATTRIBUTES, EmulatorError, emulator_config, endpoint_services, service_for,
)
from modules.settings import load_project
from tests.conftest import load_stacks

ENDPOINT = "http://127.0.0.1:4566"
STACK = "ingest-dev"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, project_config: dict[str, Any]) -> tuple[dict, dict]:
    """(normal, emulator) dev stack, both synthesized from the emulator configuration."""
    config = emulator_config(project_config)
    base = tmp_path_factory.mktemp("emulator-mode")
    normal = synth_app(load_project(copy.deepcopy(config)), base / "normal", bootstrap=False)
    emulated = synth_app(load_project(copy.deepcopy(config)), base / "emulator", bootstrap=False, emulator_endpoint=ENDPOINT)
    return load_stacks(normal)[STACK], load_stacks(emulated)[STACK]


def _types(stack: dict) -> set[str]:
    return set(stack.get("resource", {})) | set(stack.get("data", {}))


def test_config_difference_is_only_dev_in_the_emulator_account(project_config: dict[str, Any]) -> None:
    config = emulator_config(project_config)
    assert list(config["environments"]) == ["dev"]
    assert config["environments"]["dev"]["account_id"] == EMULATOR_ACCOUNT_ID
    restored = copy.deepcopy(config)
    restored["environments"]["dev"]["account_id"] = project_config["environments"]["dev"]["account_id"]
    assert restored == {**project_config, "environments": {"dev": project_config["environments"]["dev"]}}
    assert project_config["environments"]["dev"]["account_id"] != EMULATOR_ACCOUNT_ID, "the input must not change"


def test_provider_points_every_service_at_the_emulator_with_test_credentials(pair) -> None:
    normal, emulated = pair
    provider, = emulated["provider"]["aws"]
    services = endpoint_services(_types(normal) - {o.resource_type for o in OMITTED_RESOURCES})
    assert {"ec2", "s3", "lambda_", "kms", "iam", "logs", "sqs", "secretsmanager", "sts"} <= set(services)
    normal_provider, = normal["provider"]["aws"]
    assert provider == {
        **normal_provider,
        "access_key": TEST_ACCESS_KEY,
        "secret_key": TEST_SECRET_KEY,
        "skip_credentials_validation": True,
        "skip_metadata_api_check": "true",
        "s3_use_path_style": True,
        # Terraform's endpoint name for Lambda is "lambda" (the Python field is lambda_).
        "endpoints": [{service.rstrip("_"): ENDPOINT for service in services}],
    }
    # allowed_account_ids stays: the provider asks the emulator's STS, which answers moto's account.
    assert provider["allowed_account_ids"] == [EMULATOR_ACCOUNT_ID]
    assert "skip_requesting_account_id" not in provider


def test_backend_is_local_and_everything_else_in_the_terraform_block_is_unchanged(pair) -> None:
    normal, emulated = pair
    assert "s3" in normal["terraform"]["backend"]
    assert emulated["terraform"] == {**normal["terraform"], "backend": {"local": {"path": LOCAL_STATE_FILE}}}


def test_resources_differ_only_by_the_documented_list(pair) -> None:
    normal, emulated = pair
    omitted = {o.resource_type for o in OMITTED_RESOURCES}
    unread = {u.resource_type: list(u.attributes) for u in UNREAD_ATTRIBUTES}
    expected: dict[str, dict] = {}
    for resource_type, by_name in normal["resource"].items():
        if resource_type in omitted:
            continue
        expected[resource_type] = {}
        for name, body in by_name.items():
            if resource_type in unread:
                assert "lifecycle" not in body, f"{resource_type}.{name} has its own lifecycle: merge, do not override"
                body = {**body, "lifecycle": {"ignore_changes": unread[resource_type]}}
            expected[resource_type][name] = body
    assert emulated["resource"] == expected
    for key in set(normal) | set(emulated):
        if key not in ("provider", "terraform", "resource", "//"):  # "//": cdktf metadata, not configuration
            assert emulated.get(key) == normal.get(key), key


def test_every_listed_difference_names_a_moto_limitation_and_exists_in_the_stack(dev_stack) -> None:
    # A stale entry would hide a future resource of that type: each one must be in today's stack.
    for omitted in OMITTED_RESOURCES:
        assert omitted.resource_type in dev_stack["resource"], omitted.resource_type
        assert "moto" in omitted.moto_limitation and omitted.instead
    for unread in UNREAD_ATTRIBUTES:
        assert unread.resource_type in dev_stack["resource"], unread.resource_type
        assert "moto" in unread.moto_limitation
        for body in dev_stack["resource"][unread.resource_type].values():
            assert set(unread.attributes) & set(body), f"{unread.resource_type} sets none of {unread.attributes}"


def test_every_resource_type_of_every_stack_has_an_endpoint(synth) -> None:
    for stack in synth.values():
        endpoint_services(_types(stack))  # raises EmulatorError on an unmapped type


def test_unmapped_resource_type_fails_with_the_fix(pair) -> None:
    assert service_for("aws_cloudwatch_log_group") == "logs"
    assert service_for("aws_cloudwatch_metric_alarm") == "cloudwatch"
    assert service_for("aws_vpc_endpoint") == "ec2"
    assert set(ALWAYS_ENDPOINTS) <= set(endpoint_services([]))
    with pytest.raises(EmulatorError, match=r"no emulator endpoint for 'aws_dynamodb_table': add its service to "
                                            r"SERVICE_BY_TYPE_PREFIX in modules/emulator.py"):
        endpoint_services(["aws_s3_bucket", "aws_dynamodb_table"])


def test_normal_synth_output_has_no_emulator_trace(synth, synth_dir: Path) -> None:
    for name, stack in synth.items():
        provider, = stack["provider"]["aws"]
        assert not {"access_key", "secret_key", "endpoints", "skip_credentials_validation"} & set(provider), name
        if name != "ingest-state-backend":  # the bootstrap stack keeps local state by design
            assert list(stack["terraform"]["backend"]) == ["s3"], name
        assert EMULATOR_ACCOUNT_ID not in (synth_dir / "stacks" / name / "cdk.tf.json").read_text(), name
