"""``tools/preflight.py`` against moto (in-process and as a real server) and fake terraform binaries.

Each failure preflight reports is provoked here for real: no credentials,
the wrong account, a missing / unversioned / unencrypted state bucket, a
missing or stale handler zip, an invalid config, an old terraform.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer

from modules.settings import load_project
from tools import preflight
from tools.build_zip import zip_bytes

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


@pytest.fixture
def config_file(tmp_path, project_config):
    """A cdktf.json whose dev environment and state backend live in moto's account."""
    config = copy.deepcopy(project_config)
    config["environments"]["dev"]["account_id"] = DEFAULT_ACCOUNT_ID
    config["state"] = {"account_id": DEFAULT_ACCOUNT_ID, "region": REGION}
    path = tmp_path / "cdktf.json"
    path.write_text(json.dumps({"context": {"ingest": config}}))
    return path


@pytest.fixture
def state_bucket(config_file):
    from modules.app import load_settings

    return load_settings(config_file).state_bucket


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "handler.zip"
    path.write_bytes(zip_bytes())
    return path


@pytest.fixture
def aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    with mock_aws():
        yield boto3.client("s3", region_name=REGION)


def make_state_bucket(s3, name: str, versioned: bool = True, kms: bool = True) -> None:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if kms:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/ingest-tfstate"}}]})


def problems(findings):
    return {f.check: f for f in findings if not f.ok}


def fake_terraform(directory: Path, version: str, json_output: bool = True) -> Path:
    """A ``terraform`` script answering ``terraform version [-json]`` like the real binary of that version."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "terraform"
    body = json.dumps({"terraform_version": version, "platform": "linux_amd64"}) if json_output else f"Terraform v{version}"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{body}\nEOF\n")
    script.chmod(0o755)
    return directory


def test_everything_in_place_passes(aws, config_file, state_bucket, artifact):
    make_state_bucket(aws, state_bucket)
    findings = preflight.run_checks("dev", config_file=config_file, artifact=artifact)
    assert problems(findings) == {}
    assert {f.check for f in findings} == {"config", "terraform", "handler zip", "credentials", "region", "state bucket"}
    out = io.StringIO()
    assert preflight.report(findings, out) == 0
    assert "all checks passed" in out.getvalue()


def test_missing_state_bucket_says_bootstrap(aws, config_file, state_bucket, artifact):
    found = problems(preflight.run_checks("dev", config_file=config_file, artifact=artifact))
    assert set(found) == {"state bucket"}
    assert f"s3://{state_bucket} does not exist" in found["state bucket"].message
    assert "make bootstrap" in found["state bucket"].fix


def test_unversioned_and_unencrypted_bucket_are_both_reported(aws, config_file, state_bucket, artifact):
    make_state_bucket(aws, state_bucket, versioned=False, kms=False)
    findings = preflight.run_checks("dev", config_file=config_file, artifact=artifact)
    messages = [f.message for f in findings if not f.ok]
    assert len(messages) == 2, messages
    assert any("is not versioned" in m for m in messages)
    assert any("no SSE-KMS default encryption (found: none)" in m for m in messages)
    out = io.StringIO()
    assert preflight.report(findings, out) == 1
    assert "2 problem(s)" in out.getvalue()


def test_sse_s3_is_not_enough(aws, config_file, state_bucket, artifact):
    make_state_bucket(aws, state_bucket, kms=False)
    aws.put_bucket_encryption(Bucket=state_bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    found = problems(preflight.run_checks("dev", config_file=config_file, artifact=artifact))
    assert "found: AES256" in found["state bucket"].message


def test_wrong_account_is_named_and_stops_the_bucket_check(aws, tmp_path, project_config, artifact):
    # The real config: dev is account 111111111111, moto answers as 123456789012.
    real = tmp_path / "real.json"
    real.write_text(json.dumps({"context": {"ingest": project_config}}))
    found = problems(preflight.run_checks("dev", config_file=real, artifact=artifact))
    assert set(found) == {"credentials"}
    expected = load_project(copy.deepcopy(project_config)).environment("dev").account_id
    assert f"for account {DEFAULT_ACCOUNT_ID}" in found["credentials"].message
    assert f"deploys to account {expected}" in found["credentials"].message
    assert "AWS_PROFILE" in found["credentials"].fix


def test_no_credentials(monkeypatch, config_file, artifact, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # No shared files and no instance metadata: the credential chain really finds nothing.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    found = problems(preflight.run_checks("dev", config_file=config_file, artifact=artifact))
    assert set(found) == {"credentials"}
    assert "no AWS credentials found" in found["credentials"].message


def test_aws_profile_is_honoured(monkeypatch, aws, config_file, state_bucket, artifact, tmp_path):
    make_state_bucket(aws, state_bucket)
    credentials = tmp_path / "credentials"
    credentials.write_text("[deployer]\naws_access_key_id = fromprofile\naws_secret_access_key = fromprofile\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config-none"))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_PROFILE", "deployer")
    findings = preflight.run_checks("dev", config_file=config_file, artifact=artifact)
    assert problems(findings) == {}
    assert "profile 'deployer'" in next(f.message for f in findings if f.check == "credentials")


def test_region_mismatch(monkeypatch, aws, config_file, state_bucket, artifact):
    make_state_bucket(aws, state_bucket)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    found = problems(preflight.run_checks("dev", config_file=config_file, artifact=artifact))
    assert set(found) == {"region"}
    assert found["region"].fix == f"export AWS_REGION={REGION}"


def test_missing_and_stale_handler_zip(aws, config_file, state_bucket, tmp_path):
    make_state_bucket(aws, state_bucket)
    missing = tmp_path / "nothing.zip"
    found = problems(preflight.run_checks("dev", config_file=config_file, artifact=missing))
    assert set(found) == {"handler zip"} and "does not exist" in found["handler zip"].message
    stale = tmp_path / "stale.zip"
    stale.write_bytes(zip_bytes() + b"\0")
    found = problems(preflight.run_checks("dev", config_file=config_file, artifact=stale))
    assert "does not match the sources" in found["handler zip"].message
    assert found["handler zip"].fix == "run `make build`"


def test_invalid_config_lists_every_problem_and_skips_aws(tmp_path, project_config, artifact):
    config = copy.deepcopy(project_config)
    config["environments"]["dev"]["account_id"] = "12345"
    config["environments"]["dev"]["function"] = {"memory_mb": 1}
    path = tmp_path / "cdktf.json"
    path.write_text(json.dumps({"context": {"ingest": config}}))

    def no_aws():
        raise AssertionError("AWS must not be called with an invalid config")

    found = problems(preflight.run_checks("dev", config_file=path, artifact=artifact, session_factory=no_aws))
    assert set(found) == {"config"}
    assert "environments.dev.account_id" in found["config"].message
    assert "environments.dev.function.memory_mb" in found["config"].message


def test_unknown_environment(tmp_path, config_file, artifact):
    found = problems(preflight.run_checks("staging", config_file=config_file, artifact=artifact,
                                          session_factory=lambda: pytest.fail("no AWS call expected")))
    assert "environments.staging: no such environment; configured: dev, prod" in found["config"].message


@pytest.mark.parametrize("json_output", [True, False])
def test_old_terraform_is_refused(monkeypatch, tmp_path, aws, config_file, state_bucket, artifact, json_output):
    make_state_bucket(aws, state_bucket)
    monkeypatch.setenv("PATH", f"{fake_terraform(tmp_path / 'bin', '1.5.7', json_output)}{os.pathsep}{os.environ['PATH']}")
    found = problems(preflight.run_checks("dev", config_file=config_file, artifact=artifact))
    assert set(found) == {"terraform"}
    assert "terraform 1.5.7" in found["terraform"].message and ">= 1.10" in found["terraform"].message


def test_terraform_1_11_4_is_accepted(monkeypatch, tmp_path, aws, config_file, state_bucket, artifact):
    make_state_bucket(aws, state_bucket)
    monkeypatch.setenv("PATH", f"{fake_terraform(tmp_path / 'bin', '1.11.4')}{os.pathsep}{os.environ['PATH']}")
    findings = preflight.run_checks("dev", config_file=config_file, artifact=artifact)
    assert problems(findings) == {}
    assert next(f.message for f in findings if f.check == "terraform").startswith("terraform 1.11.4 at " + str(tmp_path / "bin"))


def test_terraform_missing(monkeypatch, tmp_path, aws, config_file, state_bucket, artifact):
    make_state_bucket(aws, state_bucket)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    found = problems(preflight.run_checks("dev", config_file=config_file, artifact=artifact))
    assert set(found) == {"terraform"} and "not on PATH" in found["terraform"].message


def test_bootstrap_checks_the_state_account_only(aws, config_file, tmp_path):
    # No state bucket yet (bootstrap creates it) and no handler zip (the bootstrap stack has no function).
    findings = preflight.run_checks(None, bootstrap=True, config_file=config_file, artifact=tmp_path / "absent.zip")
    assert problems(findings) == {}
    assert "ingest-state-backend" in findings[0].message


def test_cli_against_a_moto_server_reports_every_problem(tmp_path, config_file, state_bucket):
    """``python -m tools.preflight`` as a separate process, against moto over HTTP (AWS_ENDPOINT_URL)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
               "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
               "PATH": f"{fake_terraform(tmp_path / 'bin', '1.9.8')}{os.pathsep}{os.environ['PATH']}"}
        env.pop("AWS_PROFILE", None)
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
        make_state_bucket(s3, state_bucket, versioned=False)
        artifact = tmp_path / "handler.zip"
        artifact.write_bytes(zip_bytes())
        done = subprocess.run([sys.executable, "-m", "tools.preflight", "--env", "dev", "--config", str(config_file),
                               "--artifact", str(artifact)],
                              cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL terraform: terraform 1.9.8" in done.stdout
    assert "FAIL state bucket" in done.stdout and "is not versioned" in done.stdout
    assert f"ok   credentials: account {DEFAULT_ACCOUNT_ID}" in done.stdout
    assert "preflight: 2 problem(s)" in done.stdout
