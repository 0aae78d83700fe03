"""The naming function knows each resource kind's rules and fails clearly when a name cannot fit."""

from __future__ import annotations

import copy

import pytest

from modules.naming import Namer, NamingError, bucket_name, check_name
from modules.settings import load_project
from modules.validation import ConfigError

NAMER = Namer("ingest", "dev", "111111111111", "eu-west-1")


@pytest.mark.parametrize(
    ("kind", "good", "bad", "reason"),
    [
        ("s3_bucket", "a" * 63, "a" * 64, "is 64 characters; allowed: 3–63"),
        ("s3_bucket", "abc", "ab", "is 2 characters; allowed: 3–63"),
        ("s3_bucket", "my-bucket-1", "My_Bucket", "characters that are not allowed"),
        ("s3_bucket", "xnx-bucket", "xn--bucket", "reserved prefix or suffix"),
        ("s3_bucket", "bucket-s3aliasx", "bucket-s3alias", "reserved prefix or suffix"),
        ("s3_bucket", "bucket-1", "-bucket", "characters that are not allowed"),
        ("iam_role", "r" * 64, "r" * 65, "is 65 characters; allowed: 1–64"),
        ("iam_role", "role+=,.@_-", "role name", "characters that are not allowed"),
        ("lambda_function", "f" * 64, "f" * 65, "is 65 characters; allowed: 1–64"),
        ("lambda_function", "fn_1-a", "fn.1", "characters that are not allowed"),
        ("sqs_queue", "q" * 80, "q" * 81, "is 81 characters; allowed: 1–80"),
        ("sns_topic", "t" * 256, "t" * 257, "is 257 characters; allowed: 1–256"),
        ("kms_alias", "alias/ingest-dev-key", "alias/aws/ingest", "AWS reserves for AWS managed keys"),
        ("kms_alias", "alias/ok", "ingest-dev-key", "characters that are not allowed"),
        ("log_group", "/aws/lambda/ingest-dev-ingest", "/aws/lambda/bad:name", "characters that are not allowed"),
        ("log_group", "/" + "l" * 511, "/" + "l" * 512, "is 513 characters; allowed: 1–512"),
    ],
)
def test_rules_both_ways(kind, good, bad, reason):
    assert check_name(kind, good) == good
    with pytest.raises(NamingError, match=reason.replace("+", r"\+")):
        check_name(kind, bad)


def test_names_follow_project_environment_component():
    assert NAMER.name("lambda_function", "ingest") == "ingest-dev-ingest"
    assert NAMER.name("iam_role", "ingest-function") == "ingest-dev-ingest-function"
    assert NAMER.name("kms_alias", "key") == "alias/ingest-dev-key"
    assert NAMER.lambda_log_group("ingest-dev-ingest") == "/aws/lambda/ingest-dev-ingest"
    assert NAMER.log_group("vpc-flow-logs") == "/ingest/dev/vpc-flow-logs"


def test_bucket_names_are_globally_unique_by_account_and_region():
    assert NAMER.name("s3_bucket", "ingest") == "ingest-dev-ingest-111111111111-eu-west-1"
    assert bucket_name("ingest", "prod", "ingest", "222222222222", "eu-west-1") != NAMER.name("s3_bucket", "ingest")


def test_a_name_that_cannot_fit_fails_at_config_time(project_config):
    config = copy.deepcopy(project_config)
    config["project"] = "a-very-long-project1"  # 20 characters: allowed by itself
    config["environments"]["prod"]["region"] = "ap-southeast-2"
    with pytest.raises(ConfigError) as caught:
        load_project(config)
    text = str(caught.value)
    assert "environments.prod: s3_bucket name 'a-very-long-project1-prod-access-logs-222222222222-ap-southeast-2' is 65 characters; allowed: 3–63" in text


def test_log_group_names_come_from_their_owner():
    with pytest.raises(NamingError, match="log group names derive from what they log"):
        NAMER.name("log_group", "ingest")
