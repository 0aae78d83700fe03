"""Remote state, wrong-account guard, Terraform version, and the state-backend bootstrap stack."""

from __future__ import annotations

import json

from tests.conftest import resources

ENVIRONMENTS = {"ingest-dev": ("dev", "111111111111"), "ingest-prod": ("prod", "222222222222")}


def test_one_stack_per_environment_plus_bootstrap(synth):
    assert sorted(synth) == ["ingest-dev", "ingest-prod", "ingest-state-backend"]


def test_environment_stacks_use_the_encrypted_locked_s3_backend(synth):
    keys = set()
    for stack_name, (env, _account) in ENVIRONMENTS.items():
        backend = synth[stack_name]["terraform"]["backend"]
        assert list(backend) == ["s3"], stack_name
        s3 = backend["s3"]
        assert s3["bucket"] == "ingest-tfstate-state-111111111111-eu-west-1"
        assert s3["key"] == f"ingest/{env}/terraform.tfstate"
        assert s3["encrypt"] is True
        # By alias ARN in the state account, so prod (another account) resolves it too.
        assert s3["kms_key_id"] == "arn:aws:kms:eu-west-1:111111111111:alias/ingest-tfstate"
        assert s3["use_lockfile"] is True
        assert s3["region"] == "eu-west-1"
        assert "dynamodb_table" not in s3
        keys.add(s3["key"])
    assert len(keys) == len(ENVIRONMENTS)


def test_every_stack_requires_terraform_1_10_and_pins_the_provider(synth):
    for name, stack in synth.items():
        assert stack["terraform"]["required_version"] == ">= 1.10", name
        assert stack["terraform"]["required_providers"]["aws"] == {"source": "aws", "version": "5.100.0"}, name


def test_provider_refuses_other_accounts(synth):
    for stack_name, (_env, account) in ENVIRONMENTS.items():
        (provider,) = synth[stack_name]["provider"]["aws"]
        assert provider["allowed_account_ids"] == [account]
        assert provider["region"] == "eu-west-1"
    assert synth["ingest-state-backend"]["provider"]["aws"][0]["allowed_account_ids"] == ["111111111111"]


def _by_bucket(stack, rtype):
    """Map bucket logical id -> the resource of ``rtype`` that points at it."""
    out = {}
    for attrs in resources(stack, rtype).values():
        ref = attrs["bucket"]
        out[ref.split(".")[1]] = attrs
    return out


def test_bootstrap_state_bucket(bootstrap_stack):
    assert bootstrap_stack["terraform"]["backend"] == {"local": {"path": "terraform.tfstate"}}
    buckets = resources(bootstrap_stack, "aws_s3_bucket")
    names = {attrs["bucket"]: logical for logical, attrs in buckets.items()}
    state_id = names["ingest-tfstate-state-111111111111-eu-west-1"]
    log_id = names["ingest-tfstate-access-logs-111111111111-eu-west-1"]
    state = buckets[state_id]
    assert state["lifecycle"]["prevent_destroy"] is True
    assert state.get("force_destroy") in (False, None)

    versioning = _by_bucket(bootstrap_stack, "aws_s3_bucket_versioning")[state_id]
    assert versioning["versioning_configuration"]["status"] == "Enabled"
    (rule,) = _by_bucket(bootstrap_stack, "aws_s3_bucket_server_side_encryption_configuration")[state_id]["rule"]
    assert rule["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    assert rule["apply_server_side_encryption_by_default"]["kms_master_key_id"].startswith("${aws_kms_key.")
    assert rule["bucket_key_enabled"] is True
    pab = _by_bucket(bootstrap_stack, "aws_s3_bucket_public_access_block")[state_id]
    assert all(pab[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    (lifecycle_rule,) = _by_bucket(bootstrap_stack, "aws_s3_bucket_lifecycle_configuration")[state_id]["rule"]
    assert lifecycle_rule["status"] == "Enabled"
    assert lifecycle_rule["noncurrent_version_expiration"][0]["noncurrent_days"] > 0
    policy = json.loads(_by_bucket(bootstrap_stack, "aws_s3_bucket_policy")[state_id]["policy"])
    denies = {s["Sid"]: s for s in policy["Statement"] if s["Effect"] == "Deny"}
    assert denies["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert denies["DenyOutdatedTLS"]["Condition"] == {"NumericLessThan": {"s3:TlsVersion": "1.2"}}
    logging = _by_bucket(bootstrap_stack, "aws_s3_bucket_logging")[state_id]
    assert logging["target_bucket"] == f"${{aws_s3_bucket.{log_id}.bucket}}"

    (key,) = resources(bootstrap_stack, "aws_kms_key").values()
    assert key["enable_key_rotation"] is True and key["lifecycle"]["prevent_destroy"] is True
    (alias,) = resources(bootstrap_stack, "aws_kms_alias").values()
    assert alias["name"] == "alias/ingest-tfstate"
