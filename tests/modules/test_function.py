"""The two functions on the synthesized stacks: every FunctionSettings value, the log group, DLQ and async config.

Bad configurations fail at synth with a message naming the field and what is allowed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from handler import contract
from modules.settings import (DEPRECATED_PYTHON_RUNTIMES, ROTATION_FUNCTION_MEMORY_MB, ROTATION_FUNCTION_RESERVED_CONCURRENCY,
                              SUPPORTED_PYTHON_RUNTIMES)
from modules.validation import ConfigError
from tests.conftest import one, resources
from tools import build_zip

INGEST, ROTATION = "ingest-function", "rotation-function"


def by_path(stack: dict, resource_type: str, path: str) -> dict[str, Any]:
    """The resource whose construct path is ``<stack>/<path>``."""
    found = [r for r in resources(stack, resource_type).values() if r["//"]["metadata"]["path"].split("/", 1)[1] == path]
    assert len(found) == 1, f"no single {resource_type} at {path}"
    return found[0]


def address(stack: dict, resource_type: str, path: str) -> str:
    for logical, r in resources(stack, resource_type).items():
        if r["//"]["metadata"]["path"].split("/", 1)[1] == path:
            return f"{resource_type}.{logical}"
    raise AssertionError(f"no {resource_type} at {path}")


def ref(stack: dict, resource_type: str, path: str, attribute: str) -> str:
    return "${" + address(stack, resource_type, path) + "." + attribute + "}"


def function(stack: dict, which: str) -> dict[str, Any]:
    return by_path(stack, "aws_lambda_function", f"{which}/function")


def test_defaults_on_the_dev_ingest_function(dev_stack):
    fn = function(dev_stack, INGEST)
    assert fn["function_name"] == "ingest-dev-ingest"
    assert fn["runtime"] == SUPPORTED_PYTHON_RUNTIMES[0] == "python3.13"
    assert fn["architectures"] == ["arm64"]
    assert fn["handler"] == contract.INGEST_HANDLER
    assert fn["memory_size"] == 256
    assert fn["timeout"] == 30
    assert fn["reserved_concurrent_executions"] == 10
    assert fn["tracing_config"] == {"mode": "Active"}
    assert fn["kms_key_arn"] == ref(dev_stack, "aws_kms_key", "key/key", "arn")
    assert fn["role"] == ref(dev_stack, "aws_iam_role", f"{INGEST}/role", "arn")


def test_reserved_concurrency_and_memory_come_from_the_environment(prod_stack):
    fn = function(prod_stack, INGEST)
    assert fn["reserved_concurrent_executions"] == 50
    assert fn["memory_size"] == 512


def test_ingest_environment_is_exactly_the_handler_contract(dev_stack):
    variables = function(dev_stack, INGEST)["environment"]["variables"]
    assert set(contract.REQUIRED_ENV_VARS) <= set(variables) <= set(contract.ENV_VARS)
    assert variables[contract.ENV_MANIFEST_BUCKET] == ref(dev_stack, "aws_s3_bucket", "manifests/bucket", "bucket")
    assert variables[contract.ENV_MANIFEST_PREFIX] == "manifests/"
    assert variables[contract.ENV_TRIGGER_PREFIX] == "incoming/"
    assert variables[contract.ENV_SIGNING_SECRET_ARN] == ref(dev_stack, "aws_secretsmanager_secret", "signing-secret/secret", "arn")
    assert variables[contract.ENV_MAX_OBJECT_BYTES] == str(100 * 1024 * 1024)
    assert variables[contract.ENV_SERVICE_NAME] == "ingest-dev-ingest"
    assert variables[contract.ENV_SIGNING_KEY_TTL_SECONDS] == "300"
    assert contract.ENV_WEBHOOK_URL not in variables
    # Only the secret's ARN is in the JSON: no secret value anywhere.
    assert "SecretString" not in json.dumps(dev_stack) and not resources(dev_stack, "aws_secretsmanager_secret_version")


def test_rotation_function_same_construct_own_handler_and_one_variable(dev_stack):
    fn = function(dev_stack, ROTATION)
    assert fn["handler"] == contract.ROTATION_HANDLER
    assert fn["memory_size"] == ROTATION_FUNCTION_MEMORY_MB
    assert fn["reserved_concurrent_executions"] == ROTATION_FUNCTION_RESERVED_CONCURRENCY
    # A KMS key with no variables fails CKV_AWS_173: the service name keeps one.
    assert fn["environment"]["variables"] == {contract.ENV_SERVICE_NAME: "ingest-dev-rotate-signing-key"}
    ingest = function(dev_stack, INGEST)
    for shared in ("runtime", "architectures", "filename", "source_code_hash", "vpc_config", "kms_key_arn", "tracing_config"):
        assert fn[shared] == ingest[shared], shared


@pytest.mark.parametrize("which", [INGEST, ROTATION])
def test_log_group_is_explicit_encrypted_retained_and_created_first(dev_stack, project_config, which):
    fn = function(dev_stack, which)
    group = by_path(dev_stack, "aws_cloudwatch_log_group", f"{which}/log-group")
    assert group["name"] == f"/aws/lambda/{fn['function_name']}"
    assert group["retention_in_days"] == 365
    assert group["kms_key_id"] == ref(dev_stack, "aws_kms_key", "key/key", "arn")
    assert fn["logging_config"] == {"log_format": "JSON",
                                    "log_group": ref(dev_stack, "aws_cloudwatch_log_group", f"{which}/log-group", "name")}
    assert address(dev_stack, "aws_cloudwatch_log_group", f"{which}/log-group") in fn["depends_on"]
    # The role's policy exists before Lambda validates the DLQ, ENI and log permissions.
    assert address(dev_stack, "aws_iam_role_policy", f"{which}/policy") in fn["depends_on"]


@pytest.mark.parametrize("which", [INGEST, ROTATION])
def test_private_subnets_and_function_security_group(dev_stack, which):
    vpc = function(dev_stack, which)["vpc_config"]
    private = sorted(f"${{aws_subnet.{logical}.id}}" for logical, s in resources(dev_stack, "aws_subnet").items()
                     if "/private-" in s["//"]["metadata"]["path"])
    assert len(private) == 2 and sorted(vpc["subnet_ids"]) == private
    assert vpc["security_group_ids"] == [ref(dev_stack, "aws_security_group", "network/function-security-group", "id")]


@pytest.mark.parametrize("which", [INGEST, ROTATION])
def test_failure_path_keeps_every_event(dev_stack, which):
    fn = function(dev_stack, which)
    queue = by_path(dev_stack, "aws_sqs_queue", f"{which}/dlq")
    assert fn["dead_letter_config"] == {"target_arn": ref(dev_stack, "aws_sqs_queue", f"{which}/dlq", "arn")}
    assert queue["kms_master_key_id"] == ref(dev_stack, "aws_kms_key", "key/key", "arn")
    assert queue["message_retention_seconds"] == 14 * 86400
    invoke = by_path(dev_stack, "aws_lambda_function_event_invoke_config", f"{which}/async-config")
    assert invoke["function_name"] == ref(dev_stack, "aws_lambda_function", f"{which}/function", "function_name")
    assert invoke["maximum_retry_attempts"] == 2
    assert invoke["maximum_event_age_in_seconds"] == 3600
    # One failure path only: no on-failure destination next to the DLQ.
    assert "destination_config" not in invoke
    policy = json.loads(by_path(dev_stack, "aws_sqs_queue_policy", f"{which}/dlq-policy")["policy"])
    (deny,) = policy["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [ref(dev_stack, "aws_sqs_queue", f"{which}/dlq", "arn")]


@pytest.mark.parametrize("which", [INGEST, ROTATION])
def test_recursive_loops_are_terminated(dev_stack, which):
    recursion = by_path(dev_stack, "aws_lambda_function_recursion_config", f"{which}/recursion")
    assert recursion == {**recursion, "recursive_loop": "Terminate",
                         "function_name": ref(dev_stack, "aws_lambda_function", f"{which}/function", "function_name")}


def test_every_function_setting_reaches_the_stack(synth_variant):
    def mutate(cfg):
        cfg["environments"]["dev"]["function"] = {
            "runtime": "python3.11", "architecture": "x86_64", "memory_mb": 1024, "timeout_seconds": 120,
            "reserved_concurrency": 7, "max_retry_attempts": 0, "max_event_age_seconds": 600,
            "dlq_retention_days": 4, "webhook_url": "https://hooks.example.com/ingest", "signing_key_ttl_seconds": 60,
            "max_object_bytes": 1024,
        }
        cfg["environments"]["dev"]["monitoring"] = {"log_retention_days": 30}

    stack = synth_variant(mutate, environments=["dev"])["ingest-dev"]
    fn = function(stack, INGEST)
    assert (fn["runtime"], fn["architectures"], fn["memory_size"], fn["timeout"], fn["reserved_concurrent_executions"]) == \
        ("python3.11", ["x86_64"], 1024, 120, 7)
    variables = fn["environment"]["variables"]
    assert variables[contract.ENV_WEBHOOK_URL] == "https://hooks.example.com/ingest"
    assert variables[contract.ENV_SIGNING_KEY_TTL_SECONDS] == "60"
    assert variables[contract.ENV_MAX_OBJECT_BYTES] == "1024"
    invoke = by_path(stack, "aws_lambda_function_event_invoke_config", f"{INGEST}/async-config")
    assert (invoke["maximum_retry_attempts"], invoke["maximum_event_age_in_seconds"]) == (0, 600)
    assert by_path(stack, "aws_sqs_queue", f"{INGEST}/dlq")["message_retention_seconds"] == 4 * 86400
    assert by_path(stack, "aws_cloudwatch_log_group", f"{INGEST}/log-group")["retention_in_days"] == 30
    # The rotation function follows runtime and architecture, not the ingest function's sizing.
    rotation = function(stack, ROTATION)
    assert (rotation["runtime"], rotation["architectures"], rotation["memory_size"]) == ("python3.11", ["x86_64"], 128)


def config_error(synth_variant, function_settings: dict[str, Any], storage: dict[str, Any] | None = None) -> str:
    def mutate(cfg):
        cfg["environments"]["dev"]["function"] = function_settings
        if storage:
            cfg["environments"]["dev"]["storage"] = storage

    with pytest.raises(ConfigError) as caught:
        synth_variant(mutate, environments=["dev"])
    return str(caught.value)


@pytest.mark.parametrize("runtime", ["python3.9", "python3.10"])
def test_deprecated_runtime_is_refused(synth_variant, runtime):
    assert runtime in DEPRECATED_PYTHON_RUNTIMES
    message = config_error(synth_variant, {"runtime": runtime})
    assert f"environments.dev.function.runtime: '{runtime}' is deprecated by AWS Lambda; allowed: python3.13, python3.12, python3.11" in message


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("memory_mb", 64, "allowed: 128–10240 MB"),
    ("memory_mb", 10241, "allowed: 128–10240 MB"),
    ("timeout_seconds", 901, "allowed: 1–900 seconds"),
    ("timeout_seconds", 0, "allowed: 1–900 seconds"),
    ("dlq_retention_days", 15, "allowed: 1–14 days"),
    ("max_retry_attempts", 3, "allowed: 0–2"),
])
def test_out_of_range_sizing_is_refused(synth_variant, field, value, allowed):
    message = config_error(synth_variant, {field: value})
    assert f"environments.dev.function.{field}: {value!r} is out of range; {allowed}" in message


def test_an_object_limit_that_cannot_be_streamed_in_time_is_refused(synth_variant):
    # 30 s * 0.8 * 20 MiB/s = 480 MiB is the most one invocation can read.
    message = config_error(synth_variant, {"max_object_bytes": 1024**3})
    assert ("environments.dev.function.max_object_bytes: 1073741824 bytes cannot be streamed within 80% of "
            "timeout_seconds=30 at 20 MiB/s; allowed: at most 503316480 bytes, or raise timeout_seconds") in message


def test_overlapping_trigger_and_manifest_prefixes_are_refused(synth_variant):
    message = config_error(synth_variant, {}, storage={"trigger_prefix": "data/", "manifest_prefix": "data/manifests/"})
    assert "environments.dev.storage.manifest_prefix: 'data/manifests/' overlaps trigger_prefix 'data/'" in message
    assert "the function would trigger itself" in message


def test_a_handler_missing_from_the_zip_fails_synth(synth_variant):
    with pytest.raises(build_zip.ArtifactError, match=re.escape(
            "handler 'handler.app.no_such_handler': handler/app.py in dist/handler.zip defines no top-level function 'no_such_handler'")):
        synth_variant(lambda cfg: cfg["environments"]["dev"].update(function={"handler": "handler.app.no_such_handler"}),
                      environments=["dev"])
    with pytest.raises(build_zip.ArtifactError, match=re.escape("handler/nowhere.py is not in dist/handler.zip")):
        synth_variant(lambda cfg: cfg["environments"]["dev"].update(function={"handler": "handler.nowhere.lambda_handler"}),
                      environments=["dev"])


def test_a_missing_zip_fails_synth_with_the_fix(synth_variant, monkeypatch, tmp_path):
    monkeypatch.setattr(build_zip, "ARTIFACT", tmp_path / "dist" / "handler.zip")
    with pytest.raises(build_zip.ArtifactError, match=r"handler artifact .*handler\.zip is missing; run `make build`"):
        synth_variant(lambda cfg: None, environments=["dev"])
    assert not (tmp_path / "cdktf.out").exists()


def test_main_prints_artifact_errors_without_a_traceback(tmp_path):
    import os
    import subprocess
    import sys

    config = build_zip.PROJECT_ROOT / "cdktf.json"
    data = json.loads(config.read_text())
    data["context"]["ingest"]["environments"]["dev"]["function"] = {"handler": "handler.app.nope"}
    (tmp_path / "cdktf.json").write_text(json.dumps(data))
    script = ("import sys, pathlib; sys.path.insert(0, sys.argv[1]); import modules.app as a; "
              "a.CONFIG_FILE = pathlib.Path(sys.argv[2]); import main; sys.exit(main.main())")
    done = subprocess.run([sys.executable, "-c", script, str(build_zip.PROJECT_ROOT), str(tmp_path / "cdktf.json")],
                          cwd=tmp_path, env={**os.environ, "CDKTF_OUTDIR": str(tmp_path / "out")},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.startswith("synth failed: handler 'handler.app.nope'")
    assert "Traceback" not in done.stderr
