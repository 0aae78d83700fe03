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
