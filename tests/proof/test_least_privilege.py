"""Least privilege of the functions' roles, proven by running the handler (and the rotation function).

The handler runs its scenarios under in-process moto against resources named
exactly as the synthesized dev stack names them, with the environment the
deployed ``aws_lambda_function`` really has (references resolved). Every AWS
call its clients make is recorded (tests/handler/api_calls.py), mapped to the
IAM requests AWS authorises for it (tests/proof/iam_eval.py) and evaluated
against the role's inline policy parsed from the synthesized cdk.tf.json:

* every request is allowed      (too narrow  => AccessDenied in production)
* every grant is exercised, or used on the function's behalf (ON_BEHALF)
                                 (too broad   => failure here)
"""

from __future__ import annotations

import copy
import json
import secrets
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from moto import mock_aws

from handler import adapters, app
from handler.contract import (ENV_SIGNING_SECRET_ARN, ENV_VARS, ENV_WEBHOOK_URL, INGEST_HANDLER, REQUIRED_ENV_VARS,
                              ROTATION_HANDLER, SIGNING_KEY_LENGTH)
from tests.handler import handler_world
from tests.handler.api_calls import ApiCallRecorder
from tests.handler.webhook_server import RecordingServer
from tests.proof import iam_eval
from tests.proof.invariants import as_list, ref, resources

EVENT_TEMPLATE = Path(__file__).resolve().parents[1] / "events" / "s3_object_created.json"


def _function(stack: dict[str, Any], handler: str) -> dict[str, Any]:
    return next(c for c in resources(stack, "aws_lambda_function").values() if c["handler"] == handler)


def _role_policy(stack: dict[str, Any], handler: str) -> dict[str, Any]:
    """The inline policy of the function's execution role (exactly one)."""
    role = ref(_function(stack, handler)["role"])[1]
    found = [json.loads(c["policy"]) for c in resources(stack, "aws_iam_role_policy").values() if ref(c["role"])[1] == role]
    assert len(found) == 1, f"expected one inline policy on {role}, found {len(found)}"
    return found[0]


def _record(bucket: str, key: str, version_id: str | None, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    record = json.loads(EVENT_TEMPLATE.read_text())["Records"][0]
    record["eventName"] = event_name
    record["s3"]["bucket"].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    if version_id is None:
        del record["s3"]["object"]["versionId"]  # as S3 sends it for an object without a version id
    else:
        record["s3"]["object"]["versionId"] = version_id
    return record


def _create_world(stack: dict[str, Any], resolver: iam_eval.Resolver, region: str) -> None:
    """The stack's KMS key(s), buckets (SSE/versioning as configured) and secret, in moto."""
    kms = boto3.client("kms", region_name=region)
    for name in resources(stack, "aws_kms_key"):
        resolver.overrides[("aws_kms_key", name, "arn")] = kms.create_key()["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name=region)
    for name, conf in resources(stack, "aws_s3_bucket").items():
        s3.create_bucket(Bucket=conf["bucket"], CreateBucketConfiguration={"LocationConstraint": region})
        for sse in resources(stack, "aws_s3_bucket_server_side_encryption_configuration").values():
            if ref(sse["bucket"])[1] == name:
                rules = [{"ApplyServerSideEncryptionByDefault": {
                    k: v for k, v in {"SSEAlgorithm": r["apply_server_side_encryption_by_default"]["sse_algorithm"],
                                      "KMSMasterKeyID": resolver.resolve(r["apply_server_side_encryption_by_default"]
                                                                         .get("kms_master_key_id"))}.items() if v},
                    "BucketKeyEnabled": bool(r.get("bucket_key_enabled"))} for r in as_list(sse["rule"])]
                s3.put_bucket_encryption(Bucket=conf["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
        for versioning in resources(stack, "aws_s3_bucket_versioning").values():
            if ref(versioning["bucket"])[1] == name:
                s3.put_bucket_versioning(Bucket=conf["bucket"], VersioningConfiguration={
                    "Status": versioning["versioning_configuration"]["status"]})
    sm = boto3.client("secretsmanager", region_name=region)
    alphabet = string.ascii_letters + string.digits
    for name, conf in resources(stack, "aws_secretsmanager_secret").items():
        created = sm.create_secret(Name=conf["name"], KmsKeyId=resolver.resolve(conf["kms_key_id"]),
                                   SecretString="".join(secrets.choice(alphabet) for _ in range(SIGNING_KEY_LENGTH)))
        resolver.overrides[("aws_secretsmanager_secret", name, "arn")] = created["ARN"]


def _triggering_bucket(stack: dict[str, Any], resolver: iam_eval.Resolver) -> str:
    """The bucket whose notification invokes the ingest function (its configured name)."""
    (notification,) = resources(stack, "aws_s3_bucket_notification").values()
    return resolver.attribute("aws_s3_bucket", ref(notification["bucket"])[1], "bucket")


def _run_scenarios(env: dict[str, str], ingest: str, region: str) -> list[dict[str, Any]]:
    """Accepted, redelivered, outside-prefix, test-event, vanished, multi-record and unversioned: the handler's paths."""
    s3 = boto3.client("s3", region_name=region)  # the test's own client: not recorded
    prefix = env["TRIGGER_PREFIX"]
    adapters.reset_clients()
    app.reset_runtime(app.build_runtime(env, clock=handler_world.FakeClock()))
    recorder = ApiCallRecorder().attach(adapters.client("s3")).attach(adapters.client("secretsmanager"))

    def put(key: str, body: bytes) -> str:
        return s3.put_object(Bucket=ingest, Key=key, Body=body)["VersionId"]

    def invoke(*records: dict[str, Any]) -> None:
        try:
            app.lambda_handler({"Records": list(records)}, None)
        except app.RecordsFailedError:
            pass  # a failed record is an outcome too; its calls are what matter here

    try:
        first = _record(ingest, f"{prefix}report 2026.csv", put(f"{prefix}report 2026.csv", b"a,b\n1,2\n"))
        invoke(first)
        invoke(first)  # at-least-once delivery: the manifest exists already
        invoke(_record(ingest, "elsewhere/x.txt", put("elsewhere/x.txt", b"x")))
        app.lambda_handler(json.loads((EVENT_TEMPLATE.parent / "s3_test_event.json").read_text()), None)
        gone_version = put(f"{prefix}gone.bin", b"\x00" * 10)
        s3.delete_object(Bucket=ingest, Key=f"{prefix}gone.bin", VersionId=gone_version)
        invoke(_record(ingest, f"{prefix}gone.bin", gone_version))
        invoke(*(_record(ingest, f"{prefix}batch/{i}.json", put(f"{prefix}batch/{i}.json", b'{"n": %d}' % i))
                 for i in range(3)))
        # S3 names no version for an object written while versioning was suspended: read by key (s3:GetObject).
        put(f"{prefix}suspended.csv", b"c\n3\n")
        invoke(_record(ingest, f"{prefix}suspended.csv", None))
        return list(recorder.calls)
    finally:
        recorder.detach()
        app.reset_runtime()
        adapters.reset_clients()


def _run_rotation(secret_arn: str) -> list[dict[str, Any]]:
    """One full rotation (createSecret .. finishSecret) through the rotation function's client."""
    adapters.reset_clients()
    recorder = ApiCallRecorder().attach(adapters.client("secretsmanager"))
    try:
        handler_world.rotate(secret_arn)
        return list(recorder.calls)
    finally:
        recorder.detach()
        adapters.reset_clients()


def prove(stack: dict[str, Any], webhook_url: str | None = None) -> dict[str, dict[str, Any]]:
    """handler -> recorded calls, IAM requests, resolver, environment and role policy, for one stack.

    ``webhook_url`` replaces the configured (https) webhook with a local test server: the only
    deviation from the deployed environment, and one that changes no AWS call.
    """
    provider = stack["provider"]["aws"][0]
    region, account = provider["region"], provider["allowed_account_ids"][0]
    resolver = iam_eval.Resolver(stack, region, account)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTO_ACCOUNT_ID", account)  # ARNs in the policy name the stack's account
        mp.setenv("AWS_DEFAULT_REGION", region)
        for name in ENV_VARS:
            mp.delenv(name, raising=False)
        with mock_aws():
            _create_world(stack, resolver, region)
            env = resolver.resolve(_function(stack, INGEST_HANDLER)["environment"]["variables"])
            if webhook_url is not None:
                assert ENV_WEBHOOK_URL in env, "the stack configures no webhook"
                env[ENV_WEBHOOK_URL] = webhook_url
            calls = {INGEST_HANDLER: _run_scenarios(env, _triggering_bucket(stack, resolver), region),
                     ROTATION_HANDLER: _run_rotation(env[ENV_SIGNING_SECRET_ARN])}
    return {handler: {"calls": found, "requests": [r for c in found for r in iam_eval.requests_for(c, resolver)],
                      "resolver": resolver, "env": env, "policy": _role_policy(stack, handler)}
            for handler, found in calls.items()}


@pytest.fixture(scope="module")
def proofs(dev_stack) -> dict[str, dict[str, Any]]:
    return prove(dev_stack)


@pytest.fixture(scope="module")
def proof(proofs) -> dict[str, Any]:
    return proofs[INGEST_HANDLER]


def _denied(policy: dict[str, Any], proof: dict[str, Any]) -> list[iam_eval.Request]:
    resolved = proof["resolver"].resolve(policy)
    return [r for r in proof["requests"] if not iam_eval.allows(resolved, r)]


def _newly_unused(policy: dict[str, Any], proof: dict[str, Any]) -> list[iam_eval.Grant]:
    """Unused grants of ``policy`` beyond those of the synthesized policy (each test proves one change)."""
    baseline = set(iam_eval.unused_grants(proof["policy"], proof["resolver"], proof["requests"]))
    return [g for g in iam_eval.unused_grants(policy, proof["resolver"], proof["requests"]) if g not in baseline]


def test_handler_ran_with_the_deployed_environment(proof):
    assert set(REQUIRED_ENV_VARS) <= set(proof["env"]) <= set(ENV_VARS)
    assert "${" not in json.dumps(proof["env"])


def test_scenarios_exercise_every_kind_of_call(proofs):
    seen = {(c["service"], c["operation"], "VersionId" in c["params"]) for c in proofs[INGEST_HANDLER]["calls"]}
    assert {("s3", "HeadObject", True), ("s3", "GetObject", True), ("s3", "HeadObject", False), ("s3", "GetObject", False),
            ("s3", "PutObject", False), ("secretsmanager", "GetSecretValue", False)} <= seen, seen
    rotation = {c["operation"] for c in proofs[ROTATION_HANDLER]["calls"]}
    assert {"DescribeSecret", "GetSecretValue", "GetRandomPassword", "PutSecretValue",
            "UpdateSecretVersionStage"} <= rotation, rotation


@pytest.mark.parametrize("handler", [INGEST_HANDLER, ROTATION_HANDLER])
def test_every_recorded_call_is_allowed_by_the_role_policy(proofs, handler):
    proof = proofs[handler]
    denied = _denied(proof["policy"], proof)
    assert not denied, "calls the deployed role would refuse (AccessDenied):\n  " + "\n  ".join(map(str, denied))


@pytest.mark.parametrize("handler", [INGEST_HANDLER, ROTATION_HANDLER])
def test_every_grant_is_exercised_or_used_on_the_functions_behalf(proofs, handler):
    proof = proofs[handler]
    unused = iam_eval.unused_grants(proof["policy"], proof["resolver"], proof["requests"])
    assert not unused, "grants no recorded call needs (too broad):\n  " + "\n  ".join(map(str, unused))


def test_a_policy_missing_a_permission_is_caught(proof):
    narrow = copy.deepcopy(proof["policy"])
    for statement in narrow["Statement"]:
        statement["Action"] = [a for a in as_list(statement["Action"]) if a != "s3:GetObjectVersion"]
    denied = _denied(narrow, proof)
    assert denied and {r.action for r in denied} == {"s3:GetObjectVersion"}


def test_a_kms_grant_for_the_wrong_service_is_caught(proof):
    wrong = copy.deepcopy(proof["policy"])
    for statement in wrong["Statement"]:
        via = statement.get("Condition", {}).get("StringEquals", {})
        if via.get("kms:ViaService", "").startswith("secretsmanager."):
            via["kms:ViaService"] = via["kms:ViaService"].replace("secretsmanager.", "s3.")
    denied = _denied(wrong, proof)
    assert {(r.action, r.context_dict["kms:ViaService"].split(".")[0]) for r in denied} == {("kms:Decrypt", "secretsmanager")}


def test_a_policy_with_an_extra_permission_is_caught(proof, dev_stack):
    broad = copy.deepcopy(proof["policy"])
    ingest = next(n for n in resources(dev_stack, "aws_s3_bucket") if "ingest" in n)
    broad["Statement"].append({"Sid": "Extra", "Effect": "Allow", "Action": ["s3:DeleteObject"],
                               "Resource": [f"${{aws_s3_bucket.{ingest}.arn}}/incoming/*"]})
    assert [(g.sid, g.action) for g in _newly_unused(broad, proof)] == [("Extra", "s3:DeleteObject")]


def test_a_grant_on_a_resource_nobody_touches_is_caught(proof):
    broad = copy.deepcopy(proof["policy"])
    broad["Statement"].append({"Sid": "OtherBucket", "Effect": "Allow", "Action": ["s3:GetObject"],
                               "Resource": ["arn:aws:s3:::someone-elses-bucket/*"]})
    assert [g.sid for g in _newly_unused(broad, proof)] == ["OtherBucket"]


def test_an_unmatched_conditional_allow_does_not_deny_the_whole_policy():
    """Why allows() evaluates statement by statement (moto's IAMPolicy would return DENIED)."""
    policy = {"Statement": [
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:k",
         "Condition": {"StringEquals": {"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}}},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:k",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}},
    ]}
    request = iam_eval.Request("kms:Decrypt", "arn:k", (("kms:ViaService", "s3.eu-west-1.amazonaws.com"),))
    assert iam_eval.allows(policy, request)
    assert not iam_eval.allows(policy, iam_eval.Request("kms:Decrypt", "arn:k"))  # absent key never matches


def test_an_unmodelled_call_is_an_error_not_a_pass(proof):
    with pytest.raises(iam_eval.NotModelled, match="s3:DeleteObject"):
        iam_eval.requests_for({"service": "s3", "operation": "DeleteObject", "params": {}}, proof["resolver"])


def test_with_a_webhook_configured_every_call_is_still_allowed(synth_variant):
    """A re-delivered event re-posts the stored manifest: the webhook path reads the manifest back."""
    def with_webhook(config: dict[str, Any]) -> None:
        config["environments"]["dev"].setdefault("function", {})["webhook_url"] = "https://hooks.example.com/ingest"

    stack = synth_variant(with_webhook, environments=["dev"])["ingest-dev"]
    with RecordingServer() as server:
        proof = prove(stack, webhook_url=server.url)[INGEST_HANDLER]
    assert server.requests, "the webhook path did not run"
    denied = _denied(proof["policy"], proof)
    assert not denied, "with a webhook, calls the deployed role would refuse:\n  " + "\n  ".join(map(str, denied))


def test_an_unresolvable_reference_is_an_error_not_a_guess(dev_stack):
    resolver = iam_eval.Resolver(dev_stack, "eu-west-1", "111111111111")
    with pytest.raises(iam_eval.NotModelled, match="reference to a resource not in the stack"):
        resolver.resolve("${aws_s3_bucket.nope.arn}/*")
    key = next(iter(resources(dev_stack, "aws_kms_key")))
    with pytest.raises(iam_eval.NotModelled, match="pass it in overrides"):
        resolver.resolve(f"${{aws_kms_key.{key}.arn}}")


def test_without_internet_egress_every_service_the_functions_called_has_an_endpoint(proofs, synth_variant):
    """The calls recorded above are what the functions need from the VPC: with egress 'none' each needs an endpoint."""
    called = {c["service"] for proof in proofs.values() for c in proof["calls"]}
    assert called == {"s3", "secretsmanager"}, called  # a new service here needs an endpoint in modules/network.py

    def no_egress(config: dict[str, Any]) -> None:
        config["environments"]["dev"]["network"] = {"vpc_cidr": "10.20.0.0/16", "egress": "none"}

    stack = synth_variant(no_egress, ["dev"])["ingest-dev"]
    endpoints = {e["service_name"].rsplit(".", 1)[1]: e for e in resources(stack, "aws_vpc_endpoint").values()}
    assert called <= set(endpoints), sorted(endpoints)
    assert endpoints["s3"]["vpc_endpoint_type"] == "Gateway"
    assert all(e["vpc_endpoint_type"] == "Interface" and e["private_dns_enabled"] is True
               for name, e in endpoints.items() if name in called - {"s3"})
    assert not resources(stack, "aws_nat_gateway") and not resources(stack, "aws_internet_gateway")
