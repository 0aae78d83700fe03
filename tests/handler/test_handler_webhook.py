"""Webhook delivery against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket

import pytest

import handler_world as hw
from handler import app
from handler.adapters import Webhook, WebhookError
from handler.core import verify_manifest
from handler.adapters import fetch_signing_key
from webhook_server import RecordingServer


def _setup(world, server, sleeps):
    return world.runtime(webhook_sleep=sleeps.append, WEBHOOK_URL=server.url)


def test_2xx_delivers_manifest_with_signature_and_idempotency_key(world):
    sleeps = []
    with RecordingServer([204]) as srv:
        _setup(world, srv, sleeps)
        vid = world.put("incoming/w.txt", b"webhook")
        app.lambda_handler(world.event(world.record("incoming/w.txt", vid)), hw.context())
    assert len(srv.requests) == 1 and sleeps == []
    req = srv.requests[0]
    stored = world.manifest_bytes("incoming/w.txt", vid)
    assert req["body"] == stored
    m = json.loads(req["body"])
    assert req["headers"]["X-Signature"] == m["signature"]
    assert req["headers"]["Idempotency-Key"] == world.manifest_key("incoming/w.txt", vid)
    assert req["headers"]["Content-Type"] == "application/json"
    key = fetch_signing_key(world.sm, world.secret_arn, m["key_version"]).key
    assert verify_manifest(m, key)


def test_4xx_is_not_retried_and_fails_the_invocation_after_the_manifest(world, capsys):
    sleeps = []
    with RecordingServer([400]) as srv:
        _setup(world, srv, sleeps)
        vid = world.put("incoming/w4.txt", b"x")
        with pytest.raises(app.RecordsFailedError) as ei:
            app.lambda_handler(world.event(world.record("incoming/w4.txt", vid)), hw.context())
    assert len(srv.requests) == 1 and sleeps == []
    assert isinstance(ei.value.__cause__, WebhookError) and ei.value.__cause__.status == 400
    assert world.manifest("incoming/w4.txt", vid)["status"] == "accepted"  # written first
    assert '"error_type": "WebhookError"' in capsys.readouterr().out


def test_5xx_is_retried_with_backoff_then_fails(world):
    sleeps = []
    with RecordingServer([503]) as srv:
        _setup(world, srv, sleeps)
        vid = world.put("incoming/w5.txt", b"x")
        with pytest.raises(app.RecordsFailedError) as ei:
            app.lambda_handler(world.event(world.record("incoming/w5.txt", vid)), hw.context())
    assert len(srv.requests) == 4  # bounded attempts
    assert sleeps == [0.2, 0.4, 0.8]  # exponential backoff between attempts
    assert ei.value.__cause__.attempts == 4


def test_5xx_then_2xx_succeeds(world):
    sleeps = []
    with RecordingServer([500, 502, 200]) as srv:
        _setup(world, srv, sleeps)
        vid = world.put("incoming/w52.txt", b"x")
        app.lambda_handler(world.event(world.record("incoming/w52.txt", vid)), hw.context())
    assert len(srv.requests) == 3 and len(sleeps) == 2
    assert len({r["body"] for r in srv.requests}) == 1


def test_redelivery_after_webhook_failure_resends_the_stored_manifest(world, clock):
    """Decision: on a duplicate the stored manifest is POSTed again (same bytes,
    same Idempotency-Key), so a webhook failure is healed by Lambda's retry even if
    the signing key rotated in between."""
    with RecordingServer([500]) as srv:
        world.runtime(clock=clock, webhook_sleep=lambda s: None, WEBHOOK_URL=srv.url)
        vid = world.put("incoming/retry.txt", b"x")
        ev = world.event(world.record("incoming/retry.txt", vid))
        with pytest.raises(app.RecordsFailedError):
            app.lambda_handler(ev, hw.context())
        first_bodies = {r["body"] for r in srv.requests}
        hw.rotate(world.secret_arn)
        clock.advance(10_000)
        srv.statuses = [200]
        srv.requests.clear()
        assert app.lambda_handler(ev, hw.context())["outcomes"] == {"duplicate": 1}
    stored = world.manifest_bytes("incoming/retry.txt", vid)
    assert first_bodies == {stored}
    assert [r["body"] for r in srv.requests] == [stored]
    assert srv.requests[0]["headers"]["X-Signature"] == json.loads(stored)["signature"]


def test_connection_errors_are_retried():
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = []
    hook = Webhook(f"http://127.0.0.1:{port}/x", timeout=1, max_attempts=3, sleep=sleeps.append)
    with pytest.raises(WebhookError) as ei:
        hook.post(b"{}", signature="s", idempotency_key="k")
    assert ei.value.attempts == 3 and len(sleeps) == 2 and ei.value.status is None


def test_backoff_is_capped():
    sleeps = []
    with RecordingServer([500]) as srv:
        hook = Webhook(srv.url, max_attempts=6, backoff_base=1, backoff_max=3, sleep=sleeps.append)
        with pytest.raises(WebhookError):
            hook.post(b"{}", signature="s", idempotency_key="k")
    assert sleeps == [1, 2, 3, 3, 3]
