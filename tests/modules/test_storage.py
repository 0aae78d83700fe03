"""Every S3 bucket in every stack, checked setting by setting on the synthesized JSON.

Buckets are found by resource type (``aws_s3_bucket``) in every synthesized
stack, so a bucket added later is checked too; each bucket's satellite
resources are found by their ``bucket`` reference. Access-log buckets are
recognised by being the target of some ``aws_s3_bucket_logging``: the one
documented exception (SSE-S3, no logging of their own, a log-delivery
statement). The grant helpers and the construct's own guards are tested on a
small stack with literal inputs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cdktf import App

from modules.base_stack import ProjectStack
from modules.encryption import EncryptionKey, EncryptionKeyConfig
from modules.policy import render
from modules.provider_import import aws
from modules.settings import load_project
from modules.storage import SecureBucket, SecureBucketConfig
from modules.validation import ConfigError
from tests.conftest import one, resources

Stack = dict[str, Any]
ACCOUNTS = {"ingest-dev": "111111111111", "ingest-prod": "222222222222", "ingest-state-backend": "111111111111"}


def attached(stack: Stack, resource_type: str, bucket_id: str) -> list[dict[str, Any]]:
    ref = f"${{aws_s3_bucket.{bucket_id}.id}}"
    return [r for r in resources(stack, resource_type).values() if r["bucket"] == ref]


def the_attached(stack: Stack, resource_type: str, bucket_id: str) -> dict[str, Any]:
    found = attached(stack, resource_type, bucket_id)
    assert len(found) == 1, f"{bucket_id}: expected one {resource_type}, found {len(found)}"
    return found[0]


def log_bucket_ids(stack: Stack) -> set[str]:
    """Buckets that receive server access logs (targets of aws_s3_bucket_logging)."""
    targets = {r["target_bucket"] for r in resources(stack, "aws_s3_bucket_logging").values()}
    return {bid for bid in resources(stack, "aws_s3_bucket") if f"${{aws_s3_bucket.{bid}.bucket}}" in targets}


def all_buckets(synth: dict[str, Stack]) -> Iterator[tuple[str, Stack, str, dict[str, Any]]]:
    for stack_name, stack in synth.items():
        for bucket_id, bucket in resources(stack, "aws_s3_bucket").items():
            yield stack_name, stack, bucket_id, bucket


def policy_of(stack: Stack, bucket_id: str) -> dict[str, Any]:
    return json.loads(the_attached(stack, "aws_s3_bucket_policy", bucket_id)["policy"])


def test_the_expected_buckets_exist(synth) -> None:
    names = {stack: sorted(b["bucket"] for b in resources(s, "aws_s3_bucket").values()) for stack, s in synth.items()}
    assert names == {
        "ingest-dev": ["ingest-dev-access-logs-111111111111-eu-west-1", "ingest-dev-ingest-111111111111-eu-west-1",
                       "ingest-dev-manifests-111111111111-eu-west-1"],
        "ingest-prod": ["ingest-prod-access-logs-222222222222-eu-west-1", "ingest-prod-ingest-222222222222-eu-west-1",
                        "ingest-prod-manifests-222222222222-eu-west-1"],
        "ingest-state-backend": ["ingest-tfstate-access-logs-111111111111-eu-west-1",
                                 "ingest-tfstate-state-111111111111-eu-west-1"],
    }
    for stack_name, stack in synth.items():
        assert len(log_bucket_ids(stack)) == 1, f"{stack_name}: one access-log bucket"


def test_every_bucket_blocks_all_public_access(synth) -> None:
    for stack_name, stack, bid, _ in all_buckets(synth):
        pab = the_attached(stack, "aws_s3_bucket_public_access_block", bid)
        assert {k: pab[k] for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")} \
            == dict.fromkeys(("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"), True), \
            f"{stack_name}/{bid}"


def test_every_bucket_disables_acls(synth) -> None:
    for stack_name, stack, bid, _ in all_buckets(synth):
        rule = the_attached(stack, "aws_s3_bucket_ownership_controls", bid)["rule"]
        assert rule == {"object_ownership": "BucketOwnerEnforced"}, f"{stack_name}/{bid}"


def test_every_bucket_is_versioned(synth) -> None:
    for stack_name, stack, bid, _ in all_buckets(synth):
        versioning = the_attached(stack, "aws_s3_bucket_versioning", bid)
        assert versioning["versioning_configuration"] == {"status": "Enabled"}, f"{stack_name}/{bid}"


def test_data_buckets_use_the_stacks_key_with_bucket_keys_and_log_buckets_use_sse_s3(synth) -> None:
    for stack_name, stack, bid, _ in all_buckets(synth):
        key_id = next(iter(resources(stack, "aws_kms_key")))
        rule, = the_attached(stack, "aws_s3_bucket_server_side_encryption_configuration", bid)["rule"]
        if bid in log_bucket_ids(stack):
            # Documented exception: server access log delivery cannot write to SSE-KMS buckets.
            assert rule == {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}, f"{stack_name}/{bid}"
        else:
            assert rule == {"apply_server_side_encryption_by_default": {
                "sse_algorithm": "aws:kms", "kms_master_key_id": f"${{aws_kms_key.{key_id}.arn}}"},
                "bucket_key_enabled": True}, f"{stack_name}/{bid}"


def test_data_buckets_log_to_their_stacks_log_bucket_and_log_buckets_log_nowhere(synth) -> None:
    for stack_name, stack, bid, bucket in all_buckets(synth):
        logs = attached(stack, "aws_s3_bucket_logging", bid)
        if bid in log_bucket_ids(stack):
            assert logs == [], f"{stack_name}/{bid}: an access-log bucket logging would loop"
            continue
        log_bid, = log_bucket_ids(stack)
        assert len(logs) == 1, f"{stack_name}/{bid}: a data bucket logs to the access-log bucket"
        logging = logs[0]
        assert logging["target_bucket"] == f"${{aws_s3_bucket.{log_bid}.bucket}}"
        assert logging["target_prefix"] == f"{bucket['bucket']}/"
        # S3 refuses PutBucketLogging until the target's policy allows the logging service.
        policy_id = next(k for k, r in resources(stack, "aws_s3_bucket_policy").items()
                         if r["bucket"] == f"${{aws_s3_bucket.{log_bid}.id}}")
        assert f"aws_s3_bucket_policy.{policy_id}" in logging["depends_on"]


def test_every_bucket_aborts_multipart_uploads_and_expires_noncurrent_versions(synth) -> None:
    for stack_name, stack, bid, _ in all_buckets(synth):
        lifecycle = the_attached(stack, "aws_s3_bucket_lifecycle_configuration", bid)
        rule, = lifecycle["rule"]
        assert rule["status"] == "Enabled"
        assert rule["filter"] == [{"prefix": ""}], "applies to the whole bucket"
        assert rule["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 7}], f"{stack_name}/{bid}"
        assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": 90}], f"{stack_name}/{bid}"
        versioning_id = next(k for k, r in resources(stack, "aws_s3_bucket_versioning").items()
                             if r["bucket"] == f"${{aws_s3_bucket.{bid}.id}}")
        assert lifecycle["depends_on"] == [f"aws_s3_bucket_versioning.{versioning_id}"]


def test_lifecycle_days_come_from_config(synth_variant) -> None:
    stacks = synth_variant(lambda cfg: cfg["environments"]["dev"].update(
        {"storage": {"noncurrent_version_expiration_days": 30, "abort_incomplete_multipart_days": 2}}), environments=["dev"])
    rules = [lc["rule"][0] for lc in resources(stacks["ingest-dev"], "aws_s3_bucket_lifecycle_configuration").values()]
    assert len(rules) == 3
    assert all(r["noncurrent_version_expiration"] == [{"noncurrent_days": 30}] for r in rules)
    assert all(r["abort_incomplete_multipart_upload"] == [{"days_after_initiation": 2}] for r in rules)


def test_every_bucket_policy_denies_plain_http_and_old_tls(synth) -> None:
    for stack_name, stack, bid, _ in all_buckets(synth):
        statements = {s["Sid"]: s for s in policy_of(stack, bid)["Statement"]}
        arns = [f"${{aws_s3_bucket.{bid}.arn}}", f"${{aws_s3_bucket.{bid}.arn}}/*"]
        assert statements.get("DenyInsecureTransport") == {
            "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["s3:*"],
            "Resource": arns, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}, f"{stack_name}/{bid}"
        assert statements.get("DenyOutdatedTLS") == {
            "Sid": "DenyOutdatedTLS", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": ["s3:*"],
            "Resource": arns, "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}}, f"{stack_name}/{bid}"
        pab_id = next(k for k, r in resources(stack, "aws_s3_bucket_public_access_block").items()
                      if r["bucket"] == f"${{aws_s3_bucket.{bid}.id}}")
        assert the_attached(stack, "aws_s3_bucket_policy", bid)["depends_on"] == [f"aws_s3_bucket_public_access_block.{pab_id}"]


def test_data_bucket_policies_allow_nothing(synth) -> None:
    for stack_name, stack, bid, _ in all_buckets(synth):
        if bid not in log_bucket_ids(stack):
            assert [s["Effect"] for s in policy_of(stack, bid)["Statement"]] == ["Deny", "Deny"], f"{stack_name}/{bid}"


def test_access_log_bucket_admits_only_the_logging_service_for_its_own_source_buckets(synth) -> None:
    for stack_name, stack in synth.items():
        log_bid, = log_bucket_ids(stack)
        sources = sorted(f"arn:aws:s3:::{b['bucket']}" for bid, b in resources(stack, "aws_s3_bucket").items()
                         if bid != log_bid)
        statements = policy_of(stack, log_bid)["Statement"]
        assert [s["Sid"] for s in statements] == ["DenyInsecureTransport", "DenyOutdatedTLS", "AllowS3ServerAccessLogDelivery"]
        delivery = statements[2]
        assert delivery["Effect"] == "Allow"
        assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        assert delivery["Action"] == ["s3:PutObject"]
        assert delivery["Resource"] == f"${{aws_s3_bucket.{log_bid}.arn}}/*"  # a string: see storage.py (moto)
        assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNTS[stack_name]}
        assert sorted(delivery["Condition"]["ArnLike"]["aws:SourceArn"]) == sources, stack_name
        assert set(delivery["Condition"]) == {"StringEquals", "ArnLike"}


def test_force_destroy_is_on_in_dev_and_off_in_prod_and_for_state(dev_stack, prod_stack, bootstrap_stack) -> None:
    assert [b["force_destroy"] for b in resources(dev_stack, "aws_s3_bucket").values()] == [True] * 3
    assert [b["force_destroy"] for b in resources(prod_stack, "aws_s3_bucket").values()] == [False] * 3
    assert [b["force_destroy"] for b in resources(bootstrap_stack, "aws_s3_bucket").values()] == [False] * 2


def test_prod_data_buckets_and_state_buckets_prevent_destroy_and_dev_does_not(dev_stack, prod_stack, bootstrap_stack) -> None:
    prod = {b["bucket"]: b.get("lifecycle") for b in resources(prod_stack, "aws_s3_bucket").values()}
    assert prod["ingest-prod-ingest-222222222222-eu-west-1"] == {"prevent_destroy": True}
    assert prod["ingest-prod-manifests-222222222222-eu-west-1"] == {"prevent_destroy": True}
    assert [b.get("lifecycle") for b in resources(bootstrap_stack, "aws_s3_bucket").values()] == [{"prevent_destroy": True}] * 2
    assert [b.get("lifecycle") for b in resources(dev_stack, "aws_s3_bucket").values()] == [None] * 3


def test_force_destroy_in_prod_without_the_override_is_a_config_error(project_config) -> None:
    config = copy.deepcopy(project_config)
    config["environments"]["prod"]["storage"] = {"force_destroy": True}
    with pytest.raises(ConfigError) as err:
        load_project(config)
    assert ("environments.prod.storage.force_destroy: true is not allowed in a production environment without "
            "storage.allow_force_destroy_in_production=true") in str(err.value)


def test_force_destroy_in_prod_with_the_explicit_override_is_honoured(synth_variant) -> None:
    stacks = synth_variant(lambda cfg: cfg["environments"]["prod"].update(
        {"storage": {"force_destroy": True, "allow_force_destroy_in_production": True}}), environments=["prod"])
    assert [b["force_destroy"] for b in resources(stacks["ingest-prod"], "aws_s3_bucket").values()] == [True] * 3


def test_dev_can_turn_force_destroy_off(synth_variant) -> None:
    stacks = synth_variant(lambda cfg: cfg["environments"]["dev"].update({"storage": {"force_destroy": False}}),
                           environments=["dev"])
    assert [b["force_destroy"] for b in resources(stacks["ingest-dev"], "aws_s3_bucket").values()] == [False] * 3


@pytest.mark.parametrize("field, value, message", [
    ("noncurrent_version_expiration_days", 0, "0 is out of range; allowed: 1–3650 days"),
    ("abort_incomplete_multipart_days", 400, "400 is out of range; allowed: 1–365 days"),
    ("force_destroy", "yes", "bool"),
])
def test_bad_storage_settings_name_the_field(project_config, field: str, value: Any, message: str) -> None:
    config = copy.deepcopy(project_config)
    config["environments"]["dev"]["storage"] = {field: value}
    with pytest.raises(ConfigError) as err:
        load_project(config)
    line = next(p for p in err.value.problems if p.startswith(f"environments.dev.storage.{field}:"))
    assert message in line


# --- grant helpers and guards (small stack, literal inputs) ------------------------------------

TAGS = {"Project": "unit", "Environment": "test", "Owner": "o", "CostCenter": "c", "ManagedBy": "cdktf"}
ACCOUNT = "111111111111"


def unit_stack(tmp_path_factory: pytest.TempPathFactory) -> tuple[App, ProjectStack, EncryptionKey, SecureBucket]:
    app = App(outdir=str(tmp_path_factory.mktemp("storage-unit")))
    stack = ProjectStack(app, "unit", region="eu-west-1", account_id=ACCOUNT, tags=TAGS)
    key = EncryptionKey(stack, "key", EncryptionKeyConfig("unit", "alias/unit", ACCOUNT, "eu-west-1"))
    logs = SecureBucket(stack, "access-logs", SecureBucketConfig(
        "unit-logs", ACCOUNT, is_access_log_bucket=True, log_source_bucket_arns=("arn:aws:s3:::unit-data",)))
    return app, stack, key, logs


@pytest.fixture(scope="module")
def grants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    app, stack, key, logs = unit_stack(tmp_path_factory)
    data = SecureBucket(stack, "data", SecureBucketConfig("unit-data", ACCOUNT), key=key, log_target=logs)
    for name, statements in {"read": data.grant_read("incoming/"), "write": data.grant_write("manifests/"),
                             "read-all": data.grant_read(), "log-read": logs.grant_read("unit-data/")}.items():
        aws("iam_policy").IamPolicy(stack, name, name=name, policy=render(statements))
    app.synth()
    synthesized = json.loads((Path(app.outdir) / "stacks" / "unit" / "cdk.tf.json").read_text())
    return {p["name"]: json.loads(p["policy"])["Statement"] for p in resources(synthesized, "aws_iam_policy").values()}


BUCKET_ARN = "${aws_s3_bucket.data_bucket_F0368B94.arn}"
KEY_ARN = "${aws_kms_key.key_F64E54E4.arn}"
VIA_S3_THIS_BUCKET = {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com",
                                       "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN}}


def test_grant_read_is_get_object_and_version_under_the_prefix_plus_decrypt_via_s3(grants) -> None:
    assert grants["read"] == [
        {"Sid": "DataReadObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": [f"{BUCKET_ARN}/incoming/*"]},
        {"Sid": "DataReadKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEY_ARN],
         "Condition": VIA_S3_THIS_BUCKET},
    ]


def test_grant_write_is_put_object_under_the_prefix_plus_data_key_via_s3(grants) -> None:
    assert grants["write"] == [
        {"Sid": "DataWriteObjects", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": [f"{BUCKET_ARN}/manifests/*"]},
        {"Sid": "DataWriteKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey"], "Resource": [KEY_ARN],
         "Condition": VIA_S3_THIS_BUCKET},
    ]


def test_grant_without_prefix_covers_the_objects_never_the_bucket(grants) -> None:
    assert grants["read-all"][0]["Resource"] == [f"{BUCKET_ARN}/*"]


def test_grant_on_an_sse_s3_bucket_has_no_key_statement(grants) -> None:
    assert grants["log-read"] == [{"Sid": "AccessLogsReadObjects", "Effect": "Allow",
                                   "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                                   "Resource": ["${aws_s3_bucket.access-logs_bucket_7E528747.arn}/unit-data/*"]}]


@pytest.fixture(scope="module")
def guard_stack(tmp_path_factory: pytest.TempPathFactory):
    return unit_stack(tmp_path_factory)


@pytest.mark.parametrize("prefix", ["incoming/*", "a?b/", "/incoming/"])
def test_grant_rejects_wildcards_and_leading_slash(guard_stack, prefix: str) -> None:
    _, stack, key, logs = guard_stack
    bucket = SecureBucket(stack, f"wild-{abs(hash(prefix))}", SecureBucketConfig("unit-wild", ACCOUNT), key=key, log_target=logs)
    with pytest.raises(ValueError, match="must be a literal key prefix"):
        bucket.grant_read(prefix)


def test_a_data_bucket_without_a_key_is_refused(guard_stack) -> None:
    _, stack, _, logs = guard_stack
    with pytest.raises(ValueError, match="SSE-KMS with the stack's key is required"):
        SecureBucket(stack, "no-key", SecureBucketConfig("unit-no-key", ACCOUNT), log_target=logs)


def test_a_data_bucket_without_access_logging_is_refused(guard_stack) -> None:
    _, stack, key, _ = guard_stack
    with pytest.raises(ValueError, match="logs to an access-log bucket"):
        SecureBucket(stack, "no-logs", SecureBucketConfig("unit-no-logs", ACCOUNT), key=key)


def test_an_access_log_bucket_must_name_its_sources(guard_stack) -> None:
    _, stack, _, _ = guard_stack
    with pytest.raises(ValueError, match="needs log_source_bucket_arns"):
        SecureBucket(stack, "open-logs", SecureBucketConfig("unit-open-logs", ACCOUNT, is_access_log_bucket=True))



def _first(stack: Stack, resource_type: str) -> dict[str, Any]:
    return next(iter(resources(stack, resource_type).values()))


def _drop_tls_deny(stack: Stack) -> None:
    policy = _first(stack, "aws_s3_bucket_policy")
    document = json.loads(policy["policy"])
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "DenyOutdatedTLS"]
    policy["policy"] = json.dumps(document)


@pytest.mark.parametrize("check, break_it", [
    (test_every_bucket_blocks_all_public_access,
     lambda s: _first(s, "aws_s3_bucket_public_access_block").update(restrict_public_buckets=False)),
    (test_every_bucket_blocks_all_public_access, lambda s: s["resource"].pop("aws_s3_bucket_public_access_block")),
    (test_every_bucket_disables_acls,
     lambda s: _first(s, "aws_s3_bucket_ownership_controls").update(rule={"object_ownership": "ObjectWriter"})),
    (test_every_bucket_is_versioned,
     lambda s: _first(s, "aws_s3_bucket_versioning").update(versioning_configuration={"status": "Suspended"})),
    (test_data_buckets_use_the_stacks_key_with_bucket_keys_and_log_buckets_use_sse_s3,
     lambda s: [r["rule"][0].pop("bucket_key_enabled", None)
                for r in resources(s, "aws_s3_bucket_server_side_encryption_configuration").values()]),
    (test_every_bucket_policy_denies_plain_http_and_old_tls, _drop_tls_deny),
    (test_data_buckets_log_to_their_stacks_log_bucket_and_log_buckets_log_nowhere,
     lambda s: s["resource"]["aws_s3_bucket_logging"].popitem()),
], ids=["pab-flag", "pab-missing", "acls", "versioning", "bucket-key", "tls", "logging"])
def test_the_bucket_checks_fail_on_a_broken_stack(dev_stack, check, break_it) -> None:
    broken = copy.deepcopy(dev_stack)
    break_it(broken)
    with pytest.raises(AssertionError):
        check({"ingest-dev": broken})
