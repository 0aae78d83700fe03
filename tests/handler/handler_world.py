"""Test world for the handler: fake AWS env, buckets, KMS key, signing secret,
event builders and a rotation driver.  Works in-process under ``moto.mock_aws``
and against a ``moto_server`` (``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

import copy
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Optional
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from handler import adapters, app, rotation  # noqa: E402
from handler.contract import (  # noqa: E402
    ENV_MANIFEST_BUCKET, ENV_MANIFEST_PREFIX, ENV_MAX_OBJECT_BYTES, ENV_SERVICE_NAME,
    ENV_SIGNING_KEY_TTL_SECONDS, ENV_SIGNING_SECRET_ARN, ENV_TRIGGER_PREFIX, ENV_VARS,
)
from handler.core import manifest_key  # noqa: E402

EVENTS_DIR = ROOT / "tests" / "events"
REGION = "eu-west-1"
INGEST_BUCKET = "ingest-bucket-test"
MANIFEST_BUCKET = "manifest-bucket-test"
TRIGGER_PREFIX = "incoming/"
MANIFEST_PREFIX = "manifests/"
SERVICE = "ingest-fn-test"
MAX_BYTES = 1024
SECRET_NAME = "ingest/signing-key"

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def clean_env_updates() -> tuple:
    """(variables to delete, variables to set) for an isolated fake-AWS process env."""
    delete = [k for k in os.environ if k.startswith("AWS_") or k in ENV_VARS]
    return delete, dict(FAKE_AWS_ENV)


def load_event(name: str) -> dict:
    with open(EVENTS_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)


def context(request_id: str = "req-0001"):
    return SimpleNamespace(aws_request_id=request_id, function_name=SERVICE)


class FakeClock:
    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# --- rotation driver (plays Secrets Manager's RotateSecret) ------------------------
def _stage_overlay(secret_arn: str, token: str, enable: bool, stage: bool):
    """moto cannot stage AWSPENDING on a value-less version (its RotateSecret runs the
    Lambda in Docker), so DescribeSecret answers are completed the way RotateSecret
    leaves them: rotation enabled and the token staged as AWSPENDING."""

    def overlay(parsed, **_):
        if parsed.get("ARN") != secret_arn:
            return
        if enable:
            parsed["RotationEnabled"] = True
        if stage:
            stages = parsed.setdefault("VersionIdsToStages", {})
            stages.setdefault(token, ["AWSPENDING"])

    return overlay


def rotate(secret_arn: str, token: Optional[str] = None, steps=rotation.STEPS,
           *, enable: bool = True, stage: bool = True) -> str:
    """Run the rotation function's steps in order for a new version ``token``."""
    token = token or str(uuid.uuid4())
    sm = adapters.client("secretsmanager")
    hook = _stage_overlay(secret_arn, token, enable, stage)
    sm.meta.events.register("after-call.secrets-manager.DescribeSecret", hook,
                            unique_id="rotate-overlay")
    try:
        for step in steps:
            rotation.lambda_handler(
                {"SecretId": secret_arn, "ClientRequestToken": token, "Step": step}, None)
    finally:
        sm.meta.events.unregister("after-call.secrets-manager.DescribeSecret",
                                  unique_id="rotate-overlay")
    return token


# --- world ----------------------------------------------------------------------------
@dataclass
class World:
    s3: object
    sm: object
    kms_key_arn: str
    secret_arn: str
    first_key_version: str
    env: dict = field(default_factory=dict)

    def put(self, key: str, body: bytes, bucket: str = INGEST_BUCKET) -> Optional[str]:
        return self.s3.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId")

    def record(self, key: str, version_id: Optional[str] = None, *,
               event_name: str = "ObjectCreated:Put", bucket: str = INGEST_BUCKET,
               encoded: bool = False, event_time: str = "2026-01-15T10:20:30.123Z") -> dict:
        rec = copy.deepcopy(load_event("s3_object_created.json")["Records"][0])
        rec["eventName"] = event_name
        rec["eventTime"] = event_time
        rec["s3"]["bucket"]["name"] = bucket
        rec["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
        rec["s3"]["object"]["key"] = key if encoded else quote_plus(key, safe="/")
        if version_id:
            rec["s3"]["object"]["versionId"] = version_id
        else:
            rec["s3"]["object"].pop("versionId", None)
        return rec

    def event(self, *records) -> dict:
        return {"Records": list(records)}

    def manifest_key(self, key: str, version_id: Optional[str],
                     bucket: str = INGEST_BUCKET) -> str:
        return manifest_key(MANIFEST_PREFIX, bucket, key, version_id)

    def manifest_bytes(self, key: str, version_id: Optional[str]) -> bytes:
        r = self.s3.get_object(Bucket=MANIFEST_BUCKET, Key=self.manifest_key(key, version_id))
        return r["Body"].read()

    def manifest(self, key: str, version_id: Optional[str]) -> dict:
        return json.loads(self.manifest_bytes(key, version_id))

    def manifest_keys(self) -> list:
        r = self.s3.list_objects_v2(Bucket=MANIFEST_BUCKET)
        return [o["Key"] for o in r.get("Contents", [])]

    def runtime(self, clock=None, stream=None, webhook_sleep=lambda s: None, **env):
        e = dict(self.env)
        e.update({k: str(v) for k, v in env.items()})
        rt = app.build_runtime(e, clock=clock or FakeClock(), stream=stream,
                               webhook_sleep=webhook_sleep)
        app.reset_runtime(rt)
        return rt


def create_world() -> World:
    """Create the resources (under mock_aws or against AWS_ENDPOINT_URL)."""
    s3 = boto3.client("s3", region_name=REGION)
    sm = boto3.client("secretsmanager", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    key_arn = kms.create_key(Description="ingest test key")["KeyMetadata"]["Arn"]
    sse = {"Rules": [{"ApplyServerSideEncryptionByDefault": {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}, "BucketKeyEnabled": True}]}
    for bucket in (INGEST_BUCKET, MANIFEST_BUCKET):
        s3.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=sse)
        s3.put_bucket_versioning(Bucket=bucket,
                                 VersioningConfiguration={"Status": "Enabled"})
    secret_arn = sm.create_secret(Name=SECRET_NAME, KmsKeyId=key_arn,
                                  Description="manifest signing key")["ARN"]
    first = rotate(secret_arn)  # first rotation: the secret has no version yet
    env = {
        ENV_MANIFEST_BUCKET: MANIFEST_BUCKET,
        ENV_MANIFEST_PREFIX: MANIFEST_PREFIX,
        ENV_TRIGGER_PREFIX: TRIGGER_PREFIX,
        ENV_SIGNING_SECRET_ARN: secret_arn,
        ENV_MAX_OBJECT_BYTES: str(MAX_BYTES),
        ENV_SERVICE_NAME: SERVICE,
        ENV_SIGNING_KEY_TTL_SECONDS: "300",
    }
    return World(s3=s3, sm=sm, kms_key_arn=key_arn, secret_arn=secret_arn,
                 first_key_version=first, env=env)


# --- IAM enforcement (real policy evaluation by moto) -------------------------------
def function_policy(world: "World", deny_get=()) -> dict:
    """A least-privilege identity policy for the ingest function (+ optional denies)."""
    statements = [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": f"arn:aws:s3:::{INGEST_BUCKET}/{TRIGGER_PREFIX}*"},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": f"arn:aws:s3:::{MANIFEST_BUCKET}/{MANIFEST_PREFIX}*"},
        # moto authorises non-S3 actions against Resource "*" only, so the secret and
        # KMS statements cannot name their ARNs here (the real policy must).
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
    ]
    if deny_get:
        statements.append({"Effect": "Deny", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                           "Resource": list(deny_get)})
    return {"Version": "2012-10-17", "Statement": statements}


def use_function_credentials(policy: dict, user: str = "ingest-fn") -> None:
    """Create an IAM user with ``policy`` and make the handler's clients use its keys."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="fn", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    session = boto3.Session(aws_access_key_id=key["AccessKeyId"],
                            aws_secret_access_key=key["SecretAccessKey"], region_name=REGION)
    adapters.reset_clients()
    for service in ("s3", "secretsmanager"):
        adapters._clients[service] = session.client(service, config=adapters.BOTO_CONFIG)


def with_iam_enforced(fn):
    """Run ``fn`` with moto authenticating and authorising every request."""
    from moto.core import set_initial_no_auth_action_count

    return set_initial_no_auth_action_count(0)(fn)()
