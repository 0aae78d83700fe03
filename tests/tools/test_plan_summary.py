"""tools/plan_summary.py: the PR comment's plan summary, and the stack/region lookup the workflows and Makefile use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from modules.app import load_settings
from modules.bootstrap_stack import bootstrap_stack_name
from tools import plan_summary

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def change(address: str, *actions: str) -> dict:
    # The shape of `terraform show -json <planfile>` resource_changes entries (format_version 1.x).
    return {"address": address, "type": address.split(".")[0], "change": {"actions": list(actions)}}


PLAN = {"format_version": "1.2", "resource_changes": [
    change("aws_s3_bucket.ingest_bucket_D2E76047", "delete", "create"),
    change("aws_sqs_queue.old", "delete"),
    change("aws_cloudwatch_metric_alarm.new", "create"),
    change("aws_lambda_function.fn", "update"),
    change("aws_kms_key.key", "no-op"),
    change("data.aws_availability_zones.zones", "read"),
]}


def test_dangerous_changes_are_listed_first_by_address():
    text = plan_summary.markdown(PLAN, "dev")
    assert text.splitlines()[0] == "### `dev`: 1 to create, 1 to update, 1 to replace, 1 to destroy"
    assert text.index("**Replace (1), check these:**") < text.index("- `aws_s3_bucket.ingest_bucket_D2E76047`")
    assert text.index("**Destroy (1), check these:**") < text.index("- `aws_sqs_queue.old`")
    assert "- create: `aws_cloudwatch_metric_alarm.new`" in text and "- update: `aws_lambda_function.fn`" in text
    assert "aws_kms_key.key" not in text


def test_no_changes():
    text = plan_summary.markdown({"resource_changes": [change("aws_kms_key.key", "no-op")]}, "prod")
    assert "0 to create, 0 to update, 0 to replace, 0 to destroy" in text
    assert "No changes" in text


def test_cli_reads_a_plan_file(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN))
    done = subprocess.run([sys.executable, "-m", "tools.plan_summary", "markdown", str(plan), "--env", "dev"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == plan_summary.markdown(PLAN, "dev")


def test_target_lines_come_from_the_config():
    settings = load_settings()
    for env in settings.environments:
        assert plan_summary.target_lines(env.name) == f"stack={env.stack_name}\nregion={env.region}\n"
    assert plan_summary.target_lines(None) == f"stack={bootstrap_stack_name(settings)}\nregion={settings.state_region}\n"
