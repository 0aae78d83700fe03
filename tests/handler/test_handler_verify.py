"""verify() and the ``python -m handler.verify`` command (AWS-free paths; the
subprocess run against a real secret is in test_handler_e2e.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import handler_world as hw
from handler import app, verify
from handler.adapters import fetch_signing_key


def _manifest(world):
    world.runtime()
    vid = world.put("incoming/v.txt", b"verify me")
    app.lambda_handler(world.event(world.record("incoming/v.txt", vid)), hw.context())
    m = world.manifest("incoming/v.txt", vid)
    return m, fetch_signing_key(world.sm, world.secret_arn, m["key_version"]).key


def test_verify_positive_and_tampered(world):
    m, key = _manifest(world)
    assert verify.verify(m, key)
    for field, value in [("size", m["size"] + 1), ("key", "incoming/other"), ("status", "rejected"),
                         ("sha256", "0" * 64), ("key_version", "x"), ("reason", "r")]:
        assert not verify.verify({**m, field: value}, key), field
    assert not verify.verify({**m, "extra": 1}, key)
    assert not verify.verify({k: v for k, v in m.items() if k != "signature"}, key)
    assert not verify.verify(m, b"another key")


def test_verify_main_in_process(world, tmp_path, capsys):
    m, _ = _manifest(world)
    good = tmp_path / "m.json"
    good.write_text(json.dumps(m))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**m, "size": 0}))
    assert verify.main([str(good)]) == 0  # SIGNING_SECRET_ARN from env
    assert verify.main([str(bad), "--secret-arn", world.secret_arn]) == 1
    assert verify.main([str(tmp_path / "missing.json")]) == 2
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({**m, "key_version": "00000000-0000-0000-0000-000000000000"}))
    assert verify.main([str(unknown)]) == 1
    out = capsys.readouterr().out
    assert "valid" in out and "signature mismatch" in out and "not found" in out


def _run(*args, env=None):
    import os

    e = dict(os.environ)
    e.pop("SIGNING_SECRET_ARN", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "handler.verify", *args], cwd=hw.ROOT,
                          env=e, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, code", [
    ((), 2),                      # no manifest argument
    (("--bogus",), 2),
    (("/nonexistent/m.json",), 2),
])
def test_verify_cli_usage_errors(args, code):
    assert _run(*args).returncode == code


def test_verify_cli_needs_a_secret_arn(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"key_version": "v", "signature": "s"}))
    r = _run(str(p))
    assert r.returncode == 2 and "SIGNING_SECRET_ARN" in r.stderr


def test_verify_cli_not_json(tmp_path):
    p = tmp_path / "m.json"
    p.write_text("not json")
    assert _run(str(p), "--secret-arn", "arn:x").returncode == 2


def test_verify_cli_no_key_version_is_invalid(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"signature": "s"}))
    r = _run(str(p), "--secret-arn", "arn:x")
    assert r.returncode == 1 and "invalid" in r.stdout
