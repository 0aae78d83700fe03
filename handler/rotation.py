"""Rotation function for the manifest signing secret: ``handler.rotation.lambda_handler``.

Secrets Manager calls it four times per rotation with ``Step`` = createSecret,
setSecret, testSecret, finishSecret and the new version id as
``ClientRequestToken`` (already staged as AWSPENDING by RotateSecret).

Secret value format (see ``contract.SIGNING_KEY_LENGTH``): the raw string from
GetRandomPassword(PasswordLength=64, ExcludePunctuation=True, IncludeSpace=False);
the ingest function uses its UTF-8 bytes as the HMAC-SHA256 key.

* createSecret: if the AWSPENDING value for the token already exists, nothing to
  do (retries are idempotent); otherwise generate a value and PutSecretValue with
  the token and stage AWSPENDING.  Unlike AWS's templates it does not require an
  AWSCURRENT version: the secret is created with no value and the first rotation
  creates the first key.
* setSecret: no-op.  The key is not a credential of another system: only our own
  functions sign and verify with it, so there is nothing to push anywhere.
* testSecret: the AWSPENDING value can be read and has the documented format.
* finishSecret: move AWSCURRENT to the token's version (RemoveFromVersionId only
  when a current version exists: first rotation), then detach AWSPENDING.
  Signers pick up the new key after their cache TTL; manifests record
  ``key_version`` so older manifests stay verifiable.

A failing step raises; AWSCURRENT then still points at the previous version.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Optional

from botocore.exceptions import ClientError

from .adapters import client, error_code
from .contract import SIGNING_KEY_LENGTH
from .core import is_valid_signing_key

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


class RotationError(ValueError):
    """The rotation event or the secret's state does not allow this step."""


def _log(level: str, message: str, **fields) -> None:
    line = {"level": level, "message": message, "service": "signing-key-rotation",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    line.update(fields)
    sys.stdout.write(json.dumps(line) + "\n")


def lambda_handler(event, context):
    if not isinstance(event, dict):
        raise RotationError("event must be a JSON object")
    missing = [k for k in ("SecretId", "ClientRequestToken", "Step")
               if not isinstance(event.get(k), str) or not event.get(k)]
    if missing:
        raise RotationError(f"event is missing {', '.join(missing)}")
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step not in STEPS:
        raise RotationError(f"invalid Step {step!r}; expected one of {', '.join(STEPS)}")
    sm = client("secretsmanager")
    fields = dict(secret_id=arn, version_id=token, step=step)

    metadata = sm.describe_secret(SecretId=arn)
    if not metadata.get("RotationEnabled"):
        raise RotationError(f"secret {arn} is not enabled for rotation")
    versions = metadata.get("VersionIdsToStages") or {}
    if token not in versions:
        raise RotationError(f"secret version {token} has no stage for rotation of secret {arn}")
    if "AWSCURRENT" in versions[token] and "AWSPENDING" not in versions[token]:
        _log("INFO", "version already AWSCURRENT; nothing to do", **fields)
        return
    if "AWSPENDING" not in versions[token]:
        raise RotationError(f"secret version {token} not set as AWSPENDING for rotation of secret {arn}")

    if step == "createSecret":
        create_secret(sm, arn, token, fields)
    elif step == "setSecret":
        _log("INFO", "setSecret: nothing to set (key is used only by our own functions)", **fields)
    elif step == "testSecret":
        test_secret(sm, arn, token, fields)
    else:
        finish_secret(sm, arn, token, versions, fields)


def _pending_value(sm, arn: str, token: str) -> Optional[str]:
    try:
        r = sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return r.get("SecretString")


def create_secret(sm, arn: str, token: str, fields: dict) -> None:
    if _pending_value(sm, arn, token) is not None:
        _log("INFO", "createSecret: pending version already has a value", **fields)
        return
    value = sm.get_random_password(
        PasswordLength=SIGNING_KEY_LENGTH, ExcludePunctuation=True, IncludeSpace=False,
        RequireEachIncludedType=True,
    )["RandomPassword"]
    sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=value,
                        VersionStages=["AWSPENDING"])
    _log("INFO", "createSecret: new signing key stored as AWSPENDING", **fields)


def test_secret(sm, arn: str, token: str, fields: dict) -> None:
    value = _pending_value(sm, arn, token)
    if value is None:
        raise RotationError(f"testSecret: no AWSPENDING value for version {token}")
    if not is_valid_signing_key(value):
        raise RotationError(
            f"testSecret: AWSPENDING value of version {token} is not "
            f"{SIGNING_KEY_LENGTH} ASCII letters/digits"
        )
    _log("INFO", "testSecret: pending signing key is well-formed", **fields)


def finish_secret(sm, arn: str, token: str, versions: dict, fields: dict) -> None:
    current = next((v for v, stages in versions.items() if "AWSCURRENT" in stages), None)
    if current != token:
        args = {"SecretId": arn, "VersionStage": "AWSCURRENT", "MoveToVersionId": token}
        if current is not None:
            args["RemoveFromVersionId"] = current
        sm.update_secret_version_stage(**args)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING",
                                   RemoveFromVersionId=token)
    _log("INFO", "finishSecret: version is now AWSCURRENT", previous_version=current, **fields)
