"""Fixtures of the proof layer: one checkov run per test session, over every synthesized stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools import checkov_scan


@pytest.fixture(scope="session")
def checkov_report(synth: dict[str, Any]) -> checkov_scan.Report:
    """checkov over all stacks in ONE invocation (it takes seconds per run on 2 cores)."""
    if not checkov_scan.CHECKOV_BIN.exists():
        pytest.skip(f"checkov is not installed at {checkov_scan.CHECKOV_BIN} (run `make setup`)")
    return checkov_scan.scan(synth)


@pytest.fixture(scope="session")
def checkov_exceptions() -> list[checkov_scan.ListedException]:
    return checkov_scan.load_exceptions(Path(checkov_scan.EXCEPTIONS_FILE))
