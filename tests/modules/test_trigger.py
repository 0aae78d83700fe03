"""S3 -> ingest function and Secrets Manager -> rotation function, on the synthesized stacks."""

from __future__ import annotations

import pytest

from tests.conftest import resources
from tests.modules.test_function import INGEST, ROTATION, address, by_path, ref


def test_s3_may_invoke_only_from_the_ingest_bucket_of_this_account(dev_stack):
    permission = by_path(dev_stack, "aws_lambda_permission", "ingest-trigger/permission")
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["principal"] == "s3.amazonaws.com"
    assert permission["function_name"] == ref(dev_stack, "aws_lambda_function", f"{INGEST}/function", "function_name")
    assert permission["source_arn"] == ref(dev_stack, "aws_s3_bucket", "ingest/bucket", "arn")
    assert permission["source_account"] == "111111111111"


def test_notification_put_and_multipart_under_the_trigger_prefix(dev_stack):
    notification = by_path(dev_stack, "aws_s3_bucket_notification", "ingest-trigger/notification")
    assert notification["bucket"] == ref(dev_stack, "aws_s3_bucket", "ingest/bucket", "id")
    (target,) = notification["lambda_function"]
    assert target["lambda_function_arn"] == ref(dev_stack, "aws_lambda_function", f"{INGEST}/function", "arn")
    assert target["events"] == ["s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload"]
    assert target["filter_prefix"] == "incoming/"
    assert "filter_suffix" not in target
    # S3 verifies it may invoke the function when the notification is written.
    assert notification["depends_on"] == [address(dev_stack, "aws_lambda_permission", "ingest-trigger/permission")]
    # Only the ingest bucket notifies anything.
    assert len(resources(dev_stack, "aws_s3_bucket_notification")) == 1


def test_trigger_settings_reach_the_notification(synth_variant):
    def mutate(cfg):
        cfg["environments"]["dev"]["storage"] = {"trigger_prefix": "uploads/", "trigger_suffix": ".csv",
                                                 "manifest_prefix": "out/", "include_multipart_uploads": False}

    stack = synth_variant(mutate, environments=["dev"])["ingest-dev"]
    (target,) = by_path(stack, "aws_s3_bucket_notification", "ingest-trigger/notification")["lambda_function"]
    assert target["events"] == ["s3:ObjectCreated:Put"]
    assert (target["filter_prefix"], target["filter_suffix"]) == ("uploads/", ".csv")
    fn = by_path(stack, "aws_lambda_function", f"{INGEST}/function")
    assert fn["environment"]["variables"]["TRIGGER_PREFIX"] == "uploads/"
    assert fn["environment"]["variables"]["MANIFEST_PREFIX"] == "out/"


def test_secrets_manager_may_invoke_rotation_only_for_the_signing_secret(dev_stack):
    permission = by_path(dev_stack, "aws_lambda_permission", "rotation-trigger/permission")
    assert permission["principal"] == "secretsmanager.amazonaws.com"
    assert permission["function_name"] == ref(dev_stack, "aws_lambda_function", f"{ROTATION}/function", "function_name")
    assert permission["source_arn"] == ref(dev_stack, "aws_secretsmanager_secret", "signing-secret/secret", "arn")
    assert permission["source_account"] == "111111111111"


@pytest.mark.parametrize(("stack_name", "days"), [("ingest-dev", 30), ("ingest-prod", 30)])
def test_rotation_schedule_rotates_immediately(synth, stack_name, days):
    stack = synth[stack_name]
    rotation = by_path(stack, "aws_secretsmanager_secret_rotation", "rotation-trigger/rotation")
    assert rotation["secret_id"] == ref(stack, "aws_secretsmanager_secret", "signing-secret/secret", "arn")
    assert rotation["rotation_lambda_arn"] == ref(stack, "aws_lambda_function", f"{ROTATION}/function", "arn")
    assert rotation["rotation_rules"] == {"automatically_after_days": days}
    # The first key version is created during apply, inside AWS: Terraform never holds a value.
    assert rotation["rotate_immediately"] is True
    assert rotation["depends_on"] == [address(stack, "aws_lambda_permission", "rotation-trigger/permission")]


def test_rotation_days_reach_the_schedule(synth_variant):
    stack = synth_variant(lambda cfg: cfg["environments"]["dev"].update(secret={"rotation_days": 7}),
                          environments=["dev"])["ingest-dev"]
    rotation = by_path(stack, "aws_secretsmanager_secret_rotation", "rotation-trigger/rotation")
    assert rotation["rotation_rules"] == {"automatically_after_days": 7}
