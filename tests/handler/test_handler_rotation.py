"""The signing-key rotation function against moto Secrets Manager.

``hw.rotate`` plays RotateSecret: it runs the four steps in order and completes
DescribeSecret answers with what RotateSecret leaves (rotation enabled, token
staged AWSPENDING), which moto cannot do without running the Lambda in Docker."""

from __future__ import annotations

import uuid

import boto3
import pytest

import handler_world as hw
from handler import rotation
from handler.core import is_valid_signing_key


@pytest.fixture
def secret(aws):
    sm = boto3.client("secretsmanager", region_name=hw.REGION)
    arn = sm.create_secret(Name="rot/test", Description="no value yet")["ARN"]
    return sm, arn


def _stages(sm, arn):
    return sm.describe_secret(SecretId=arn).get("VersionIdsToStages", {})


def _current(sm, arn):
    return sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")


def test_first_rotation_creates_the_first_version(secret, recorder_sm):
    sm, arn = secret
    assert _stages(sm, arn) == {}
    token = hw.rotate(arn)
    cur = _current(sm, arn)
    assert cur["VersionId"] == token
    assert is_valid_signing_key(cur["SecretString"])
    assert _stages(sm, arn) == {token: ["AWSCURRENT"]}  # AWSPENDING detached
    ops = [c["operation"] for c in recorder_sm.calls]
    assert "GetRandomPassword" in ops and "PutSecretValue" in ops
    put = next(c for c in recorder_sm.calls if c["operation"] == "PutSecretValue")
    assert put["params"]["ClientRequestToken"] == token
    assert put["params"]["VersionStages"] == ["AWSPENDING"]
    grp = next(c for c in recorder_sm.calls if c["operation"] == "GetRandomPassword")
    assert grp["params"]["PasswordLength"] == 64


def test_second_rotation_moves_current_and_keeps_previous(secret):
    sm, arn = secret
    first = hw.rotate(arn)
    first_value = _current(sm, arn)["SecretString"]
    second = hw.rotate(arn)
    stages = _stages(sm, arn)
    assert stages[second] == ["AWSCURRENT"]
    assert stages[first] == ["AWSPREVIOUS"]
    assert _current(sm, arn)["SecretString"] != first_value
    # the old version stays readable by id (verifying old manifests)
    assert sm.get_secret_value(SecretId=arn, VersionId=first)["SecretString"] == first_value


def test_steps_are_idempotent(secret):
    sm, arn = secret
    hw.rotate(arn)
    token = str(uuid.uuid4())
    hw.rotate(arn, token, steps=("createSecret",))
    value = sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    hw.rotate(arn, token, steps=("createSecret", "setSecret", "testSecret"))  # retried
    again = sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    assert again["SecretString"] == value["SecretString"]
    hw.rotate(arn, token, steps=("finishSecret", "finishSecret"))
    assert _current(sm, arn)["VersionId"] == token


def test_failing_test_step_leaves_previous_version_current(secret):
    sm, arn = secret
    first = hw.rotate(arn)
    token = str(uuid.uuid4())
    # a malformed pending value (e.g. written by hand) must not become current
    sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString="short!",
                        VersionStages=["AWSPENDING"])
    with pytest.raises(rotation.RotationError, match="testSecret"):
        hw.rotate(arn, token)
    assert _current(sm, arn)["VersionId"] == first
    assert "AWSCURRENT" not in _stages(sm, arn)[token]


def test_rotation_not_enabled_is_refused(secret):
    sm, arn = secret
    with pytest.raises(rotation.RotationError, match="not enabled for rotation"):
        hw.rotate(arn, enable=False)
    assert _stages(sm, arn) == {}


def test_token_not_staged_is_refused(secret):
    sm, arn = secret
    with pytest.raises(rotation.RotationError, match="no stage for rotation"):
        hw.rotate(arn, stage=False)


def test_token_not_pending_is_refused(secret):
    sm, arn = secret
    hw.rotate(arn)
    token = str(uuid.uuid4())
    sm.put_secret_value(SecretId=arn, ClientRequestToken=token,
                        SecretString="A" * 64, VersionStages=["SOMETHING"])
    with pytest.raises(rotation.RotationError, match="not set as AWSPENDING"):
        hw.rotate(arn, token, stage=False)


@pytest.mark.parametrize("event, message", [
    (None, "JSON object"),
    ({}, "SecretId, ClientRequestToken, Step"),
    ({"SecretId": "a", "ClientRequestToken": "b"}, "Step"),
    ({"SecretId": "a", "ClientRequestToken": "b", "Step": "rotate"}, "invalid Step"),
])
def test_invalid_events(aws, event, message):
    with pytest.raises(rotation.RotationError, match=message):
        rotation.lambda_handler(event, None)


def test_rotated_key_is_used_by_handler_and_verifiable(world):
    """Rotation output is exactly what the ingest handler accepts as a key."""
    from handler.adapters import fetch_signing_key

    k = fetch_signing_key(world.sm, world.secret_arn)
    assert k.version_id == world.first_key_version and len(k.key) == 64
    assert "key=" not in repr(k) and k.key.decode() not in repr(k)
