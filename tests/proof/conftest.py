"""Fixtures of the proof layer: one checkov run per test session, over every synthesized stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tools import checkov_scan

# A test records the summary as a report property, so it reaches the end of the run from xdist workers too.
CHECKOV_SUMMARY = "checkov_summary"


@pytest.fixture(scope="session")
def checkov_report(synth: dict[str, Any]) -> checkov_scan.Report:
    """checkov over all stacks in ONE invocation (it takes seconds per run on 2 cores)."""
    if not checkov_scan.CHECKOV_BIN.exists():
        pytest.skip(f"checkov is not installed at {checkov_scan.CHECKOV_BIN} (run `make setup`)")
    return checkov_scan.scan(synth)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the passed/failed/skipped counts per stack in every test run's output."""
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == CHECKOV_SUMMARY and getattr(report, "when", None) == "call":
                    terminalreporter.write_sep("-", "checkov results per stack")
                    terminalreporter.write_line(value)


@pytest.fixture(scope="session")
def checkov_exceptions() -> list[checkov_scan.ListedException]:
    return checkov_scan.load_exceptions(Path(checkov_scan.EXCEPTIONS_FILE))
