"""The Makefile's deploy wrappers run preflight first, and `make destroy` asks before destroying.

Real make, real preflight, against a moto_server process that answers as the
dev account (MOTO_ACCOUNT_ID); `terraform` is a fake reporting 1.11.4 so the
test does not depend on the machine's Terraform. Nothing reaches cdktf: the
preflight failure or the refused confirmation stops the recipe first.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest

from modules.app import load_settings
from tools.moto_server import MotoServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev():
    return load_settings().environment("dev")


@pytest.fixture(scope="module")
def moto_endpoint(dev):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    with MotoServer(env={"MOTO_ACCOUNT_ID": dev.account_id}) as server:
        endpoint = server.url
        s3 = boto3.client("s3", region_name=dev.state_region, endpoint_url=endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=dev.state_bucket, CreateBucketConfiguration={"LocationConstraint": dev.state_region})
        s3.put_bucket_versioning(Bucket=dev.state_bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(Bucket=dev.state_bucket, ServerSideEncryptionConfiguration={"Rules": [
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": dev.state_key_alias}}]})
        yield endpoint


def make(target: str, env_name: str, endpoint: str, region: str, tmp_path: Path, answer: str = "") -> subprocess.CompletedProcess:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    terraform = fake_bin / "terraform"
    terraform.write_text("#!/bin/sh\necho '" + json.dumps({"terraform_version": "1.11.4"}) + "'\n")
    terraform.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}", "AWS_ENDPOINT_URL": endpoint,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": region,
           "AWS_DEFAULT_REGION": region}
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AUTO_APPROVE", "MAKEFLAGS"):
        env.pop(name, None)
    return subprocess.run(["make", "--no-print-directory", target, f"ENV={env_name}"], cwd=PROJECT_ROOT, env=env,
                          input=answer, capture_output=True, text=True, timeout=300)


def test_destroy_asks_for_the_stack_name_and_stops_without_it(moto_endpoint, dev, tmp_path):
    done = make("destroy", "dev", moto_endpoint, dev.region, tmp_path, answer="yes\n")
    assert "preflight: all checks passed." in done.stdout, done.stdout + done.stderr
    assert f"Type '{dev.stack_name}' to confirm" in done.stdout + done.stderr
    assert "not confirmed: nothing destroyed" in done.stdout
    assert "cdktf destroy" not in done.stdout + done.stderr
    assert done.returncode != 0


def test_deploy_stops_at_preflight_for_the_wrong_account(moto_endpoint, tmp_path):
    prod = load_settings().environment("prod")
    done = make("deploy", "prod", moto_endpoint, prod.region, tmp_path)
    assert done.returncode != 0
    assert f"but {prod.stack_name} deploys to account {prod.account_id}" in done.stdout
    assert "cdktf deploy" not in done.stdout + done.stderr
