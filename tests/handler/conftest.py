"""Fixtures for the handler tests: fake AWS credentials (never real AWS), an
in-process moto world, a fake clock and the API-call recorder."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

import handler_world as hw  # noqa: E402
from api_calls import ApiCallRecorder  # noqa: E402
from handler import adapters, app  # noqa: E402


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch):
    delete, setenv = hw.clean_env_updates()
    for k in delete:
        monkeypatch.delenv(k, raising=False)
    for k, v in setenv.items():
        monkeypatch.setenv(k, v)
    adapters.reset_clients()
    app.reset_runtime()
    yield
    adapters.reset_clients()
    app.reset_runtime()


@pytest.fixture
def aws(fake_aws_env):
    with mock_aws():
        yield


@pytest.fixture
def world(aws, monkeypatch):
    w = hw.create_world()
    for k, v in w.env.items():
        monkeypatch.setenv(k, v)
    return w


@pytest.fixture
def clock():
    return hw.FakeClock()


@pytest.fixture
def rt(world, clock):
    """The handler runtime (also installed for app.lambda_handler)."""
    return world.runtime(clock=clock)


@pytest.fixture
def recorder(world):
    """Records every API call made through the handler's (shared) clients."""
    rec = ApiCallRecorder()
    rec.attach(adapters.client("s3")).attach(adapters.client("secretsmanager"))
    yield rec
    rec.detach()


@pytest.fixture
def recorder_sm(aws):
    """Records the calls made through the shared Secrets Manager client."""
    rec = ApiCallRecorder().attach(adapters.client("secretsmanager"))
    yield rec
    rec.detach()


@pytest.fixture(scope="session")
def recorded_calls():
    """Every AWS call recorded by any ApiCallRecorder during the session."""
    from api_calls import RECORDED_CALLS

    return RECORDED_CALLS
