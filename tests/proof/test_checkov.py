"""checkov on the synthesized stacks, held to checkov-exceptions.yaml (one run per session).

The session fixture ``checkov_report`` (tests/proof/conftest.py) runs the real
checkov once over every stack; the tests here filter its results. Tests that
need a deliberately weakened stack run one more (small) checkov invocation.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHECKOV_SUMMARY, resources
from tools import checkov_scan

# The only checks the design may fail (see the README table and checkov-exceptions.yaml).
EXPECTED_EXCEPTION_CHECKS = {"CKV_AWS_144", "CKV_AWS_145", "CKV_AWS_272", "CKV2_AWS_62"}


def _fmt(items: list[Any]) -> str:
    return "\n  ".join(str(i) for i in items)


def test_every_stack_was_scanned_and_required_checks_produced_a_result(checkov_report, synth, record_property):
    record_property(CHECKOV_SUMMARY, checkov_report.summary())  # printed at the end of the run (conftest)
    assert sorted(checkov_report.stacks) == sorted(synth)
    assert checkov_report.parsing_errors == []
    for stack in synth:
        assert checkov_report.counts(stack)["passed"] > 0, f"checkov parsed nothing in {stack}"
    missing = checkov_scan.required_missing(checkov_report, synth)
    assert not missing, "required checks produced no result (neither passed nor failed):\n  " + _fmt(missing)


def test_no_failure_outside_the_exceptions_file(checkov_report, checkov_exceptions):
    unexpected, _ = checkov_scan.compare(checkov_report, checkov_exceptions)
    assert not unexpected, "checkov failures not listed in checkov-exceptions.yaml:\n  " + _fmt(unexpected)


def test_no_stale_exception(checkov_report, checkov_exceptions):
    _, stale = checkov_scan.compare(checkov_report, checkov_exceptions)
    assert not stale, "listed exceptions that no longer fail (remove them):\n  " + _fmt(stale)


def test_exceptions_are_only_the_unavoidable_ones(checkov_exceptions, synth):
    assert {e.check_id for e in checkov_exceptions} <= EXPECTED_EXCEPTION_CHECKS
    for e in checkov_exceptions:
        rtype, name = e.address.split(".", 1)
        stack = synth[e.stack]
        if e.check_id in ("CKV_AWS_144", "CKV_AWS_145", "CKV2_AWS_62"):
            assert rtype == "aws_s3_bucket", e
        if e.check_id == "CKV_AWS_145":  # SSE-S3 only where S3 log delivery writes
            assert name in _access_log_targets(stack), e
        if e.check_id == "CKV2_AWS_62":  # the ingest bucket must satisfy it honestly
            assert name not in _notified_buckets(stack), e
        if e.check_id == "CKV_AWS_272":
            assert rtype == "aws_lambda_function", e


def test_exception_triples_are_unique(checkov_exceptions):
    triples = [(e.check_id, e.stack, e.address) for e in checkov_exceptions]
    assert len(triples) == len(set(triples))


def test_cloudsplaining_checks_ran_on_every_iam_policy(checkov_report, synth):
    """checkov itself yields nothing for them on string policies; the check classes must cover each."""
    for stack_name, stack in synth.items():
        for name in resources(stack, "aws_iam_role_policy"):
            for check_id in checkov_scan.CLOUDSPLAINING_CHECKS:
                outcome = checkov_report.outcome(check_id, stack_name, f"aws_iam_role_policy.{name}")
                assert outcome == "PASSED", (check_id, stack_name, name, outcome)


def test_compare_reports_unlisted_failures_and_stale_exceptions(checkov_report, checkov_exceptions):
    """The filter itself: dropping an exception exposes its failure; a passing entry is stale."""
    dropped, kept = checkov_exceptions[0], checkov_exceptions[1:]
    unexpected, _ = checkov_scan.compare(checkov_report, kept)
    assert [(r.check_id, r.stack, r.address) for r in unexpected] == [(dropped.check_id, dropped.stack, dropped.address)]
    passing = next(r for r in checkov_report.results if r.result == "PASSED")
    bogus = checkov_scan.ListedException(passing.check_id, passing.stack, passing.address, "no longer fails")
    _, stale = checkov_scan.compare(checkov_report, [*checkov_exceptions, bogus])
    assert stale == [bogus]


def test_exceptions_file_requires_a_reason(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_text("CKV_AWS_144:\n  reason: ''\n  resources: {ingest-dev: [aws_s3_bucket.b]}\n")
    with pytest.raises(ValueError, match="CKV_AWS_144: every exception needs a written reason"):
        checkov_scan.load_exceptions(path)


def test_checkov_parses_nothing_when_required_version_is_present(bootstrap_stack):
    """The trap that makes the scan copy necessary (exit 0, zero checks): keep it proven."""
    assert "required_version" in bootstrap_stack["terraform"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw" / "cdk.tf.json"
        path.parent.mkdir()
        path.write_text(json.dumps(bootstrap_stack, indent=2))
        results, parsing_errors = checkov_scan.run_checkov(Path(tmp), {"raw": bootstrap_stack})
    assert (results, parsing_errors) == ([], ["raw"])


def test_weakened_stack_fails_checkov(dev_stack, checkov_exceptions):
    """A bucket without its TLS-only policy, an IAM '*' and a permission without source_account."""
    weak = copy.deepcopy(dev_stack)
    policies = weak["resource"]["aws_s3_bucket_policy"]
    ingest_policy = next(n for n, p in policies.items() if "ingest_bucket" in p["bucket"])
    del policies[ingest_policy]
    role_policy = next(iter(weak["resource"]["aws_iam_role_policy"].values()))
    document = json.loads(role_policy["policy"])
    document["Statement"].append({"Effect": "Allow", "Action": "*", "Resource": "*"})
    role_policy["policy"] = json.dumps(document)
    for permission in weak["resource"]["aws_lambda_permission"].values():
        permission.pop("source_account")
        permission.pop("source_arn")
    report = checkov_scan.scan({"ingest-dev": weak})
    assert report.parsing_errors == []
    unexpected, _ = checkov_scan.compare(report, checkov_exceptions)
    failed = {r.check_id for r in unexpected}
    assert {"CKV_AWS_63", "CKV_AWS_62", "CKV_AWS_355", "CKV_AWS_286", "CKV_AWS_364"} <= failed, failed


def _access_log_targets(stack: dict[str, Any]) -> set[str]:
    return {_ref_name(v["target_bucket"]) for v in resources(stack, "aws_s3_bucket_logging").values()}


def _notified_buckets(stack: dict[str, Any]) -> set[str]:
    return {_ref_name(v["bucket"]) for v in resources(stack, "aws_s3_bucket_notification").values()}


def _ref_name(value: str) -> str:
    """'${aws_s3_bucket.ingest_bucket_D2E76047.id}' -> 'ingest_bucket_D2E76047'."""
    return value.strip("${}").split(".")[1]
