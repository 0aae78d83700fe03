"""The manifest-signing secret: encrypted with the stack's key, no value in Terraform, least-privilege grants.

The construct alone is tested on a small stack with literal inputs (the exact
grant statements); the real environment stacks are checked for the secret's
settings, for the rotation schedule the function module builds from
``rotation_days``, and for who may do what with the secret.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from cdktf import App

from handler import contract
from modules.base_stack import ProjectStack
from modules.encryption import EncryptionKey, EncryptionKeyConfig
from modules.policy import render
from modules.provider_import import aws
from modules.secrets import SigningSecret, SigningSecretConfig
from modules.settings import load_project
from modules.validation import ConfigError
from tests.conftest import one, resources

ENV_STACKS = ("ingest-dev", "ingest-prod")
TAGS = {"Project": "unit", "Environment": "test", "Owner": "o", "CostCenter": "c", "ManagedBy": "cdktf"}
ACCOUNT = "111111111111"


def secret_ref(stack: dict[str, Any], attribute: str = "arn") -> str:
    secret_id, = resources(stack, "aws_secretsmanager_secret")
    return f"${{aws_secretsmanager_secret.{secret_id}.{attribute}}}"


@pytest.mark.parametrize("stack_name", ENV_STACKS)
def test_one_secret_per_environment_encrypted_with_the_stacks_key(synth, stack_name: str) -> None:
    stack = synth[stack_name]
    secret = one(stack, "aws_secretsmanager_secret")
    key_id, = resources(stack, "aws_kms_key")
    assert secret["kms_key_id"] == f"${{aws_kms_key.{key_id}.arn}}"
    assert secret["recovery_window_in_days"] == 30
    env_name = stack_name.removeprefix("ingest-")
    assert secret["name"] == f"ingest-{env_name}-manifest-signing-key"


@pytest.mark.parametrize("stack_name", ENV_STACKS)
def test_the_secret_has_no_value_in_terraform(synth, stack_name: str) -> None:
    stack = synth[stack_name]
    assert resources(stack, "aws_secretsmanager_secret_version") == {}
    assert "aws_secretsmanager_secret_version" not in stack.get("data", {})
    secret = one(stack, "aws_secretsmanager_secret")
    assert not {"secret_string", "secret_binary", "secret_string_wo"} & set(secret)


@pytest.mark.parametrize("stack_name", ENV_STACKS)
def test_rotation_is_scheduled_every_rotation_days_by_the_rotation_function(synth, stack_name: str) -> None:
    stack = synth[stack_name]
    rotation = one(stack, "aws_secretsmanager_secret_rotation")
    assert rotation["secret_id"] in (secret_ref(stack), secret_ref(stack, "id"))
    assert rotation["rotation_rules"] == {"automatically_after_days": 30}
    function_id = next(fid for fid, f in resources(stack, "aws_lambda_function").items()
                       if f["handler"] == contract.ROTATION_HANDLER)
    assert rotation["rotation_lambda_arn"] == f"${{aws_lambda_function.{function_id}.arn}}"


def test_secret_settings_come_from_config(synth_variant) -> None:
    stacks = synth_variant(lambda cfg: cfg["environments"]["dev"].update(
        {"secret": {"recovery_window_days": 7, "rotation_days": 45}}), environments=["dev"])
    stack = stacks["ingest-dev"]
    assert one(stack, "aws_secretsmanager_secret")["recovery_window_in_days"] == 7
    assert one(stack, "aws_secretsmanager_secret_rotation")["rotation_rules"] == {"automatically_after_days": 45}


@pytest.mark.parametrize("field, value, allowed", [
    ("rotation_days", 91, "91 is out of range; allowed: 1–90 days"),
    ("rotation_days", 0, "0 is out of range; allowed: 1–90 days"),
    ("recovery_window_days", 0, "0 is out of range; allowed: 7–30 days"),
    ("recovery_window_days", 31, "31 is out of range; allowed: 7–30 days"),
])
def test_bad_secret_settings_are_config_errors(project_config, field: str, value: int, allowed: str) -> None:
    config = copy.deepcopy(project_config)
    config["environments"]["prod"]["secret"] = {field: value}
    with pytest.raises(ConfigError) as err:
        load_project(config)
    assert f"environments.prod.secret.{field}: {allowed}" in str(err.value)


@pytest.mark.parametrize("stack_name", ENV_STACKS)
def test_the_ingest_function_gets_the_secret_arn_never_a_value(synth, stack_name: str) -> None:
    stack = synth[stack_name]
    ingest = next(f for f in resources(stack, "aws_lambda_function").values() if f["handler"] == contract.INGEST_HANDLER)
    assert ingest["environment"]["variables"][contract.ENV_SIGNING_SECRET_ARN] == secret_ref(stack)


def role_id(reference: str) -> str:
    """``${aws_iam_role.<id>.arn}`` or ``.id`` -> ``<id>``."""
    return reference.removeprefix("${aws_iam_role.").rsplit(".", 1)[0]


@pytest.mark.parametrize("stack_name", ENV_STACKS)
def test_only_the_rotation_role_may_change_the_secret(synth, stack_name: str) -> None:
    """Across every role policy in the stack: the ingest role only reads, only the rotation role writes."""
    stack = synth[stack_name]
    handler_of_role = {role_id(f["role"]): f["handler"] for f in resources(stack, "aws_lambda_function").values()}
    grants: list[tuple[str, str, list[str]]] = []
    for policy in resources(stack, "aws_iam_role_policy").values():
        for s in json.loads(policy["policy"])["Statement"]:
            if any(a.startswith("secretsmanager:") for a in s["Action"]) or secret_ref(stack) in s["Resource"]:
                assert s["Effect"] == "Allow" and all(a.startswith("secretsmanager:") for a in s["Action"]), s
                grants.append((handler_of_role.get(role_id(policy["role"]), policy["role"]), s["Sid"], s["Action"]))
    assert sorted(grants) == [
        (contract.INGEST_HANDLER, "SigningSecretRead", ["secretsmanager:GetSecretValue"]),
        (contract.ROTATION_HANDLER, "SigningSecretGenerateValue", ["secretsmanager:GetRandomPassword"]),
        (contract.ROTATION_HANDLER, "SigningSecretRotate",
         ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
          "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]),
    ]


# --- the construct alone: exact grant statements ------------------------------------------------


@pytest.fixture(scope="module")
def grants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("secrets-unit")
    app = App(outdir=str(outdir))
    stack = ProjectStack(app, "unit", region="eu-west-1", account_id=ACCOUNT, tags=TAGS)
    key = EncryptionKey(stack, "key", EncryptionKeyConfig("unit", "alias/unit", ACCOUNT, "eu-west-1"))
    secret = SigningSecret(stack, "signing-secret", SigningSecretConfig("unit-secret", "unit", 7, 45), key=key)
    for name, statements in {"read": secret.grant_read(), "rotate": secret.grant_rotate()}.items():
        aws("iam_policy").IamPolicy(stack, name, name=name, policy=render(statements))
    app.synth()
    synthesized = json.loads((Path(outdir) / "stacks" / "unit" / "cdk.tf.json").read_text())
    policies = {p["name"]: json.loads(p["policy"])["Statement"] for p in resources(synthesized, "aws_iam_policy").values()}
    return {"stack": synthesized, "rotation_days": secret.rotation_days, **policies}


# cdktf's logical id for the construct path unit/signing-secret/secret (the same in every stack).
SECRET_ARN = "${aws_secretsmanager_secret.signing-secret_B57172EC.arn}"
KEY_ARN = "${aws_kms_key.key_F64E54E4.arn}"


def via_secrets_manager() -> dict[str, Any]:
    return {"StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com",
                             "kms:EncryptionContext:SecretARN": SECRET_ARN}}


def test_the_construct_creates_only_the_secret(grants) -> None:
    stack = grants["stack"]
    assert secret_ref(stack) == SECRET_ARN
    assert one(stack, "aws_secretsmanager_secret") == {
        "//": one(stack, "aws_secretsmanager_secret")["//"],
        "name": "unit-secret", "description": "unit", "kms_key_id": KEY_ARN, "recovery_window_in_days": 7}
    assert [t for t in stack["resource"] if t.startswith("aws_secretsmanager")] == ["aws_secretsmanager_secret"]
    assert grants["rotation_days"] == 45


def test_grant_read_is_get_secret_value_on_this_secret_plus_decrypt_via_secrets_manager(grants) -> None:
    assert grants["read"] == [
        {"Sid": "SigningSecretRead", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [SECRET_ARN]},
        {"Sid": "SigningSecretReadKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEY_ARN],
         "Condition": via_secrets_manager()},
    ]


def test_grant_rotate_is_the_four_steps_on_this_secret_random_password_and_the_data_key(grants) -> None:
    assert grants["rotate"] == [
        {"Sid": "SigningSecretRotate", "Effect": "Allow",
         "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
         "Resource": [SECRET_ARN]},
        # The only "*" resource: GetRandomPassword acts on no resource.
        {"Sid": "SigningSecretGenerateValue", "Effect": "Allow", "Action": ["secretsmanager:GetRandomPassword"],
         "Resource": ["*"]},
        {"Sid": "SigningSecretRotateKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": [KEY_ARN], "Condition": via_secrets_manager()},
    ]
