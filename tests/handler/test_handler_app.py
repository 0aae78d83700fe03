"""Behaviour of app.lambda_handler against in-process moto (S3 + KMS + Secrets Manager)."""

from __future__ import annotations

import hashlib
import json

import pytest
from botocore.exceptions import ClientError

import handler_world as hw
from handler import app
from handler.core import EventValidationError, verify_manifest
from handler.adapters import fetch_signing_key


def _key_for(world, version):
    return fetch_signing_key(world.sm, world.secret_arn, version).key


def test_accepts_object_and_writes_signed_manifest(world, rt, recorder):
    body = b"hello world"
    vid = world.put("incoming/report 2026.csv", body)
    result = app.lambda_handler(world.event(world.record("incoming/report 2026.csv", vid)),
                                hw.context())
    assert result == {"records": 1, "outcomes": {"accepted": 1}}
    m = world.manifest("incoming/report 2026.csv", vid)
    assert m["bucket"] == hw.INGEST_BUCKET
    assert m["key"] == "incoming/report 2026.csv"
    assert m["version_id"] == vid
    assert m["size"] == len(body)
    assert m["sha256"] == hashlib.sha256(body).hexdigest()
    assert m["content_type"] == "text/plain"
    assert m["status"] == "accepted" and m["reason"] is None
    assert m["event_time"] == "2026-01-15T10:20:30.123Z"
    assert m["key_version"] == world.first_key_version
    assert verify_manifest(m, _key_for(world, m["key_version"]))
    assert set(m) == {"bucket", "key", "version_id", "size", "sha256", "content_type",
                      "status", "reason", "event_time", "key_version", "signature"}
    # read by version id, manifest written conditionally
    ops = [(c["operation"], c["params"]) for c in recorder.calls if c["service"] == "s3"]
    assert ops[0] == ("HeadObject", {"Bucket": hw.INGEST_BUCKET, "Key": "incoming/report 2026.csv",
                                     "VersionId": vid})
    assert ops[1] == ("GetObject", {"Bucket": hw.INGEST_BUCKET, "Key": "incoming/report 2026.csv",
                                    "VersionId": vid})
    assert ops[2][0] == "PutObject" and ops[2][1]["IfNoneMatch"] == "*"
    assert ops[2][1]["Bucket"] == hw.MANIFEST_BUCKET
    assert ops[2][1]["Key"] == world.manifest_key("incoming/report 2026.csv", vid)


@pytest.mark.parametrize("key", [
    "incoming/with space.txt",
    "incoming/a+b.txt",
    "incoming/100%+sure.txt",
    "incoming/déjà vu/日本語 ファイル.json",
    "incoming/very/deep/prefix/a/b/c/d/e/f/g/file.txt",
    "incoming/k=v/x=1&y=2.csv",
    "incoming/emoji 🚀.txt",
])
def test_key_encodings_round_trip_through_the_event(world, rt, key):
    vid = world.put(key, b"data")
    app.lambda_handler(world.event(world.record(key, vid)), hw.context())
    m = world.manifest(key, vid)
    assert m["key"] == key
    assert m["sha256"] == hashlib.sha256(b"data").hexdigest()


def test_multi_record_fixture_all_records_processed(world, rt):
    ev = hw.load_event("s3_multi_record.json")
    keys = ["incoming/my file name.txt", "incoming/a+b=c.bin", "incoming/déjà vu/日本.json"]
    bodies = [b"one..", b"two..", b'{"a":1}']
    for k, b in zip(keys, bodies):
        world.put(k, b)
    # unversioned event records (no versionId in the fixture) use the current version
    result = app.lambda_handler(ev, hw.context())
    assert result["outcomes"] == {"accepted": 3}
    assert len(world.manifest_keys()) == 3
    for rec, k, b in zip(ev["Records"], keys, bodies):
        vid = world.s3.head_object(Bucket=hw.INGEST_BUCKET, Key=k)["VersionId"]
        m = world.manifest(k, vid)
        assert m["key"] == k and m["sha256"] == hashlib.sha256(b).hexdigest()
        assert m["event_time"] == rec["eventTime"]
    assert world.manifest("incoming/déjà vu/日本.json",
                          world.s3.head_object(Bucket=hw.INGEST_BUCKET,
                                               Key="incoming/déjà vu/日本.json")["VersionId"]
                          )["content_type"] == "application/json"


def test_s3_test_event_is_a_logged_no_op(world, rt, recorder, capsys):
    assert app.lambda_handler(hw.load_event("s3_test_event.json"), hw.context()) == {
        "records": 0, "outcomes": {}}
    assert recorder.calls == []
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert any(x.get("outcome") == "test_event" and x["level"] == "INFO" for x in lines)


def test_empty_records_is_a_logged_no_op(world, rt, recorder, capsys):
    assert app.lambda_handler(hw.load_event("s3_empty_records.json"), hw.context())["records"] == 0
    assert recorder.calls == []
    assert '"outcome": "empty"' in capsys.readouterr().out


@pytest.mark.parametrize("event, message", [
    (hw.load_event("malformed_missing_key.json"), "Records[0].s3.object.key is missing"),
    ({"foo": 1}, "neither Records nor"),
    ({"Records": "x"}, "Records must be a list"),
    ({"Records": [{"eventName": "ObjectCreated:Put"}]}, "Records[0].s3 is missing"),
    ([], "event must be a JSON object"),
    ({"Records": [{"eventName": "ObjectCreated:Put", "s3": {
        "bucket": {"name": "b"}, "object": {"key": "%FF%FE"}}}]}, "not percent-encoded UTF-8"),
])
def test_malformed_events_raise_a_clear_validation_error(world, rt, recorder, capsys, event, message):
    with pytest.raises(EventValidationError) as ei:
        app.lambda_handler(event, hw.context())
    assert message in str(ei.value)
    assert recorder.calls == []  # nothing done before validation
    assert '"level": "ERROR"' in capsys.readouterr().out


def test_out_of_prefix_and_non_created_records_are_ignored(world, rt, recorder, capsys):
    vid = world.put("elsewhere/x.txt", b"x")
    ev = world.event(world.record("elsewhere/x.txt", vid),
                     hw.load_event("s3_object_removed.json")["Records"][0])
    assert app.lambda_handler(ev, hw.context())["outcomes"] == {"ignored": 2}
    assert recorder.calls == [] and world.manifest_keys() == []
    out = capsys.readouterr().out
    assert "outside the trigger prefix" in out and "ObjectRemoved:Delete is not ObjectCreated" in out


def test_zero_byte_object_is_accepted(world, rt):
    vid = world.put("incoming/empty", b"")
    app.lambda_handler(world.event(world.record("incoming/empty", vid)), hw.context())
    m = world.manifest("incoming/empty", vid)
    assert m["size"] == 0 and m["sha256"] == hashlib.sha256(b"").hexdigest()
    assert m["content_type"] == "application/x-empty" and m["status"] == "accepted"


def test_object_at_the_limit_is_accepted_one_byte_more_rejected(world, rt):
    v1 = world.put("incoming/at-limit", b"a" * hw.MAX_BYTES)
    v2 = world.put("incoming/over-limit", b"a" * (hw.MAX_BYTES + 1))
    app.lambda_handler(world.event(world.record("incoming/at-limit", v1),
                                   world.record("incoming/over-limit", v2)), hw.context())
    assert world.manifest("incoming/at-limit", v1)["status"] == "accepted"
    assert world.manifest("incoming/over-limit", v2)["status"] == "rejected"


def test_oversize_object_rejected_without_get_object(world, rt, recorder):
    big = b"\x89PNG\r\n\x1a\n" + b"x" * (hw.MAX_BYTES * 5)
    vid = world.put("incoming/big.png", big)
    assert app.lambda_handler(world.event(world.record("incoming/big.png", vid)),
                              hw.context())["outcomes"] == {"rejected": 1}
    m = world.manifest("incoming/big.png", vid)
    assert m["status"] == "rejected"
    assert m["reason"] == f"object size {len(big)} exceeds MAX_OBJECT_BYTES {hw.MAX_BYTES}"
    assert m["size"] == len(big) and m["sha256"] is None and m["content_type"] is None
    assert verify_manifest(m, _key_for(world, m["key_version"]))
    s3_ops = recorder.operations("s3")
    assert s3_ops == ["HeadObject", "PutObject"]
    assert "GetObject" not in s3_ops


def test_deleted_object_is_logged_and_skipped(world, rt, capsys):
    vid = world.put("incoming/gone.txt", b"bye")
    world.s3.delete_object(Bucket=hw.INGEST_BUCKET, Key="incoming/gone.txt", VersionId=vid)
    never = world.record("incoming/never-existed.txt")  # no version id: current version
    result = app.lambda_handler(world.event(world.record("incoming/gone.txt", vid), never),
                                hw.context())
    assert result["outcomes"] == {"gone": 2}
    assert world.manifest_keys() == []
    out = capsys.readouterr().out
    assert out.count('"outcome": "gone"') == 2 and '"level": "ERROR"' not in out


def test_delete_marker_as_current_version_is_skipped(world, rt):
    world.put("incoming/marked.txt", b"x")
    world.s3.delete_object(Bucket=hw.INGEST_BUCKET, Key="incoming/marked.txt")
    assert app.lambda_handler(world.event(world.record("incoming/marked.txt")),
                              hw.context())["outcomes"] == {"gone": 1}


def test_overwritten_object_manifest_reflects_the_event_version(world, rt, recorder):
    old = world.put("incoming/doc.txt", b"old bytes")
    new = world.put("incoming/doc.txt", b"new bytes, different")
    assert old != new
    app.lambda_handler(world.event(world.record("incoming/doc.txt", old)), hw.context())
    m = world.manifest("incoming/doc.txt", old)
    assert m["version_id"] == old
    assert m["sha256"] == hashlib.sha256(b"old bytes").hexdigest() and m["size"] == 9
    gets = [c for c in recorder.calls if c["operation"] in ("HeadObject", "GetObject")]
    assert all(c["params"]["VersionId"] == old for c in gets) and len(gets) == 2


def test_duplicate_delivery_keeps_manifest_bytes_identical(world, clock, recorder, capsys):
    world.runtime(clock=clock)
    vid = world.put("incoming/dup.txt", b"same")
    ev = world.event(world.record("incoming/dup.txt", vid))
    assert app.lambda_handler(ev, hw.context())["outcomes"] == {"accepted": 1}
    first = world.manifest_bytes("incoming/dup.txt", vid)
    # rotate the key and let the cache expire: a fresh signature would differ
    hw.rotate(world.secret_arn)
    clock.advance(301)
    assert app.lambda_handler(ev, hw.context("req-2"))["outcomes"] == {"duplicate": 1}
    assert world.manifest_bytes("incoming/dup.txt", vid) == first
    versions = world.s3.list_object_versions(Bucket=hw.MANIFEST_BUCKET)["Versions"]
    assert len(versions) == 1  # never rewritten (manifest bucket is versioned)
    assert "re-delivery" in capsys.readouterr().out


def test_manifest_key_depends_only_on_bucket_key_version(world, rt):
    vid = world.put("incoming/x", b"1")
    app.lambda_handler(world.event(world.record("incoming/x", vid,
                                                event_time="2026-02-01T00:00:00.000Z")),
                       hw.context())
    assert world.manifest_keys() == [world.manifest_key("incoming/x", vid)]
    assert world.manifest_keys()[0].startswith(hw.MANIFEST_PREFIX)


def test_signing_key_rotation_is_picked_up_after_ttl(world, clock):
    world.runtime(clock=clock)
    keys = []
    for i, step in enumerate([0, 100, 199, 2]):  # t=0, 100 (cached), 299 (cached), 301 (expired)
        if i == 1:
            new_version = hw.rotate(world.secret_arn)
        clock.advance(step)
        k = f"incoming/rot-{i}"
        vid = world.put(k, b"x")
        app.lambda_handler(world.event(world.record(k, vid)), hw.context())
        m = world.manifest(k, vid)
        keys.append(m["key_version"])
        assert verify_manifest(m, _key_for(world, m["key_version"]))
    assert keys == [world.first_key_version] * 3 + [new_version]


def test_secrets_manager_is_called_once_per_ttl(world, rt, recorder):
    for i in range(3):
        vid = world.put(f"incoming/n{i}", b"x")
        app.lambda_handler(world.event(world.record(f"incoming/n{i}", vid)), hw.context())
    sm = [c for c in recorder.calls if c["service"] == "secretsmanager"]
    assert [c["operation"] for c in sm] == ["GetSecretValue"]
    assert sm[0]["params"] == {"SecretId": world.secret_arn, "VersionStage": "AWSCURRENT"}


def test_access_denied_propagates_after_other_records_are_processed(world, capsys):
    """Real IAM evaluation by moto: the function's credentials are denied
    s3:GetObject on incoming/forbidden/*; the other record is still processed and
    the invocation fails at the end so Lambda retries / dead-letters the event."""
    ok = world.put("incoming/ok.txt", b"fine")
    denied = world.put("incoming/forbidden/secret.txt", b"no")
    hw.use_function_credentials(hw.function_policy(
        world, deny_get=[f"arn:aws:s3:::{hw.INGEST_BUCKET}/incoming/forbidden/*"]))
    world.runtime()
    ev = world.event(world.record("incoming/forbidden/secret.txt", denied),
                     world.record("incoming/ok.txt", ok))
    with pytest.raises(app.RecordsFailedError) as ei:
        hw.with_iam_enforced(lambda: app.lambda_handler(ev, hw.context()))
    cause = ei.value.__cause__
    assert isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "AccessDenied"
    assert len(ei.value.failures) == 1
    assert ei.value.failures[0][0].key == "incoming/forbidden/secret.txt"
    assert world.manifest("incoming/ok.txt", ok)["status"] == "accepted"
    assert world.manifest_keys() == [world.manifest_key("incoming/ok.txt", ok)]
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    errors = [x for x in lines if x.get("level") == "ERROR"]
    assert len(errors) == 1 and errors[0]["error_code"] == "AccessDenied"
    assert errors[0]["key"] == "incoming/forbidden/secret.txt"
    emf = [x for x in lines if "_aws" in x]
    assert emf[-1]["ProcessingErrors"] == 1 and emf[-1]["ObjectsAccepted"] == 1


def test_least_privilege_policy_is_enough_for_the_happy_path(world):
    from api_calls import ApiCallRecorder

    vid = world.put("incoming/lp.txt", b"least privilege")
    big = world.put("incoming/lp-big.bin", b"z" * (hw.MAX_BYTES + 1))
    hw.use_function_credentials(hw.function_policy(world))
    rec = ApiCallRecorder()
    rec.attach(hw.adapters.client("s3")).attach(hw.adapters.client("secretsmanager"))
    world.runtime()
    ev = world.event(world.record("incoming/lp.txt", vid), world.record("incoming/lp-big.bin", big))
    result = hw.with_iam_enforced(lambda: app.lambda_handler(ev, hw.context()))
    assert result["outcomes"] == {"accepted": 1, "rejected": 1}
    assert sorted({(c["service"], c["operation"]) for c in rec.calls}) == [
        ("s3", "GetObject"), ("s3", "HeadObject"), ("s3", "PutObject"),
        ("secretsmanager", "GetSecretValue")]


def test_transient_error_in_signing_key_fetch_fails_invocation(world, rt, recorder):
    vid = world.put("incoming/k.txt", b"k")
    world.sm.delete_secret(SecretId=world.secret_arn, ForceDeleteWithoutRecovery=True)
    with pytest.raises(app.RecordsFailedError):
        app.lambda_handler(world.event(world.record("incoming/k.txt", vid)), hw.context())
    assert world.manifest_keys() == []


def _error_response(code, status):
    from botocore.awsrequest import AWSResponse

    def hook(**_):
        return (AWSResponse("https://s3.invalid", status, {}, None),
                {"Error": {"Code": code, "Message": code},
                 "ResponseMetadata": {"HTTPStatusCode": status}})
    return hook


@pytest.mark.parametrize("code, status", [
    ("KMS.DisabledException", 400), ("KMS.KMSInvalidStateException", 400),
    ("SlowDown", 503), ("ThrottlingException", 400), ("InternalError", 500),
])
def test_kms_and_throttling_errors_on_get_propagate(world, rt, code, status):
    """S3 returns these when the bucket key is disabled or requests are throttled
    (after botocore's own retries): the invocation must fail so Lambda retries."""
    vid = world.put("incoming/e.txt", b"e")
    other = world.put("incoming/f.txt", b"f")
    s3 = hw.adapters.client("s3")
    s3.meta.events.register("before-call.s3.GetObject", _error_response(code, status),
                            unique_id="inject")
    try:
        with pytest.raises(app.RecordsFailedError) as ei:
            app.lambda_handler(world.event(world.record("incoming/e.txt", vid),
                                           world.record("incoming/f.txt", other)), hw.context())
    finally:
        s3.meta.events.unregister("before-call.s3.GetObject", unique_id="inject")
    assert ei.value.__cause__.response["Error"]["Code"] == code
    assert len(ei.value.failures) == 2
    assert world.manifest_keys() == []


def test_manifest_put_error_other_than_precondition_propagates(world, rt):
    vid = world.put("incoming/p.txt", b"p")
    s3 = hw.adapters.client("s3")
    s3.meta.events.register("before-call.s3.PutObject", _error_response("AccessDenied", 403),
                            unique_id="inject")
    try:
        with pytest.raises(app.RecordsFailedError):
            app.lambda_handler(world.event(world.record("incoming/p.txt", vid)), hw.context())
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", unique_id="inject")


def test_conditional_request_conflict_is_a_duplicate(world, rt, capsys):
    vid = world.put("incoming/c409.txt", b"c")
    s3 = hw.adapters.client("s3")
    s3.meta.events.register("before-call.s3.PutObject",
                            _error_response("ConditionalRequestConflict", 409), unique_id="inject")
    try:
        out = app.lambda_handler(world.event(world.record("incoming/c409.txt", vid)), hw.context())
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", unique_id="inject")
    assert out["outcomes"] == {"duplicate": 1}


def test_unversioned_read_is_pinned_by_etag(world, rt, recorder):
    world.s3.create_bucket(Bucket="plain-bucket-test",
                           CreateBucketConfiguration={"LocationConstraint": hw.REGION})
    world.s3.put_object(Bucket="plain-bucket-test", Key="incoming/u.txt", Body=b"u")
    out = app.lambda_handler(world.event(world.record("incoming/u.txt", None,
                                                      bucket="plain-bucket-test")), hw.context())
    assert out["outcomes"] == {"accepted": 1}
    get = next(c for c in recorder.calls if c["operation"] == "GetObject")
    assert "VersionId" not in get["params"] and get["params"]["IfMatch"].strip('"')
    m = json.loads(world.s3.get_object(Bucket=hw.MANIFEST_BUCKET,
                                       Key=world.manifest_key("incoming/u.txt", None,
                                                              bucket="plain-bucket-test"))["Body"].read())
    assert m["version_id"] is None and m["bucket"] == "plain-bucket-test"


def test_import_time_budget():
    """importing handler.app costs at most 1.3x `import boto3` alone.

    Measured in one fresh interpreter per run: the time of `import boto3`, then the
    extra time of `import handler.app` on top of it (same process, same load), so
    a busy machine does not skew the ratio; median of 5 runs."""
    import statistics
    import subprocess
    import sys

    code = ("import time; t = time.perf_counter(); import boto3; a = time.perf_counter() - t; "
            "t = time.perf_counter(); import handler.app; b = time.perf_counter() - t; "
            "print((a + b) / a)")
    ratios = [float(subprocess.run([sys.executable, "-c", code], cwd=hw.ROOT, capture_output=True,
                                   text=True, check=True).stdout) for _ in range(5)]
    assert statistics.median(ratios) <= 1.3, ratios
