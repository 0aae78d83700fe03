"""What the ingest handler emits for a standard scenario — for alarm contract tests.

    from emitted import standard_scenario      # tests/handler on sys.path
    out = standard_scenario()
    out.emf_documents   # list of EMF dicts (each has an "_aws" key)
    out.log_lines       # list of JSON log dicts (each has "level")
    out.error           # the exception the invocation raised (RecordsFailedError)

The scenario is one invocation with three records: one accepted object, one
rejected (larger than MAX_OBJECT_BYTES) and one error (AccessDenied from real
IAM evaluation by moto).  It runs in its own in-process moto, with fake
credentials and its own environment, and restores os.environ afterwards, so it
can be called from any test (no fixtures needed).
"""

from __future__ import annotations

import io
import json
import os
import sys
from dataclasses import dataclass
from typing import List, Optional
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import handler_world as hw  # noqa: E402


@dataclass(frozen=True)
class Emitted:
    emf_documents: List[dict]
    log_lines: List[dict]
    error: Optional[BaseException]
    service: str


def split_output(text: str):
    emf, logs = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        doc = json.loads(line)
        (emf if "_aws" in doc else logs).append(doc)
    return emf, logs


def standard_scenario() -> Emitted:
    from moto import mock_aws

    from handler import adapters, app

    delete, setenv = hw.clean_env_updates()
    env = {k: v for k, v in os.environ.items() if k not in delete}
    env.update(setenv)
    stream = io.StringIO()
    error = None
    with mock.patch.dict(os.environ, env, clear=True), mock_aws():
        adapters.reset_clients()
        app.reset_runtime()
        try:
            world = hw.create_world()
            ok = world.put("incoming/accepted.txt", b"accepted object")
            big = world.put("incoming/rejected.bin", b"\0" * (hw.MAX_BYTES + 1))
            denied = world.put("incoming/denied/error.txt", b"denied")
            hw.use_function_credentials(hw.function_policy(
                world, deny_get=[f"arn:aws:s3:::{hw.INGEST_BUCKET}/incoming/denied/*"]))
            world.runtime(stream=stream)
            event = world.event(world.record("incoming/accepted.txt", ok),
                                world.record("incoming/rejected.bin", big),
                                world.record("incoming/denied/error.txt", denied))
            try:
                hw.with_iam_enforced(lambda: app.lambda_handler(event, hw.context("scenario")))
            except app.RecordsFailedError as exc:
                error = exc
        finally:
            adapters.reset_clients()
            app.reset_runtime()
    emf, logs = split_output(stream.getvalue())
    return Emitted(emf_documents=emf, log_lines=logs, error=error, service=hw.SERVICE)
