"""End to end against a real ``moto_server`` process (separate from pytest):
resources are created over HTTP, the rotation function creates the first key,
``lambda_handler`` runs in-process with the deployed environment (config from
os.environ, clients from AWS_ENDPOINT_URL), and ``python -m handler.verify``
checks the manifest in a subprocess.  The server is stopped even on failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import handler_world as hw
from handler import adapters, app
from tools.moto_server import MOTO_SERVER, MotoServer


@pytest.fixture
def moto_server(fake_aws_env, monkeypatch):
    if not MOTO_SERVER.exists():
        pytest.skip(f"moto_server not found at {MOTO_SERVER}")
    with MotoServer() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        adapters.reset_clients()
        yield server.url


def test_end_to_end_against_moto_server(moto_server, monkeypatch, tmp_path, capsys):
    world = hw.create_world()  # includes the first rotation (no AWSCURRENT before)
    for k, v in world.env.items():
        monkeypatch.setenv(k, v)
    app.reset_runtime()  # the deployed path: config validated from os.environ
    body = b"%PDF-1.7\n" + b"x" * 100
    key = "incoming/e2e dir/report+final ü.pdf"
    vid = world.put(key, body)
    big = world.put("incoming/huge.bin", b"0" * (hw.MAX_BYTES + 10))
    ev = world.event(world.record(key, vid), world.record("incoming/huge.bin", big))
    result = app.lambda_handler(ev, hw.context("e2e-1"))
    assert result["outcomes"] == {"accepted": 1, "rejected": 1}
    assert app.lambda_handler(ev, hw.context("e2e-2"))["outcomes"] == {"duplicate": 2}

    m = world.manifest(key, vid)
    assert m["content_type"] == "application/pdf" and m["key"] == key
    assert m["key_version"] == world.first_key_version

    good = tmp_path / "manifest.json"
    good.write_bytes(world.manifest_bytes(key, vid))
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps({**m, "sha256": "f" * 64}))
    env = dict(os.environ)
    for path, code in ((good, 0), (bad, 1)):
        r = subprocess.run([sys.executable, "-m", "handler.verify", str(path),
                            "--secret-arn", world.secret_arn],
                           cwd=hw.ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == code, r.stdout + r.stderr
    out = capsys.readouterr().out
    assert '"request_id": "e2e-1"' in out and '"Namespace":"IngestPipeline"' in out
