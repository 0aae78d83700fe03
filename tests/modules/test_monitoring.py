"""Monitoring: alarm topic, alarms, error-log metric filter, dashboard, log groups.

Two levels: the construct alone in a small stack with literal inputs (every
alarm's exact shape, the topic policy, both ways for optional parts), and the
real environment stacks (dimensions are references to this stack's function and
queue, every log group has retention and the key, config errors name the field).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cdktf import App

from handler import contract
from modules.base_stack import ProjectStack
from modules.monitoring import (ERROR_LOG_LINES_METRIC, MonitoredFunction, Monitoring, MonitoringConfig,
                                alarm_specs)
from modules.settings import LOG_RETENTION_DAYS, MonitoringSettings, load_project
from modules.validation import ConfigError
from tests.conftest import one, resources

REGION, ACCOUNT = "eu-west-1", "111111111111"
TAGS = {"Project": "unit", "Environment": "test", "Owner": "o", "CostCenter": "c", "ManagedBy": "cdktf"}
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
LOG_NAMESPACE = "unit-test/Logs"


def unit_config(settings: MonitoringSettings = MonitoringSettings(), rotation_dlq: str | None = "rot-dlq") -> MonitoringConfig:
    return MonitoringConfig(
        name_prefix="unit-test", topic_name="unit-test-alarms", dashboard_name="unit-test-pipeline",
        log_metric_namespace=LOG_NAMESPACE, region=REGION, account_id=ACCOUNT, kms_key_arn=KEY_ARN,
        ingest=MonitoredFunction(function_name="fn-ingest", log_group_name="/aws/lambda/fn-ingest",
                                 timeout_seconds=30, reserved_concurrency=10, dlq_name="ingest-dlq"),
        rotation=MonitoredFunction(function_name="fn-rotate", log_group_name="/aws/lambda/fn-rotate",
                                   timeout_seconds=60, reserved_concurrency=1, dlq_name=rotation_dlq),
        settings=settings,
    )


def synth_unit(tmp_path: Path, config: MonitoringConfig) -> dict[str, Any]:
    app = App(outdir=str(tmp_path))
    stack = ProjectStack(app, "unit", region=REGION, account_id=ACCOUNT, tags=TAGS)
    Monitoring(stack, "monitoring", config)
    app.synth()
    return json.loads((tmp_path / "stacks" / "unit" / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def unit_stack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synth_unit(tmp_path_factory.mktemp("monitoring-unit"), unit_config())


def alarms_by_name(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["alarm_name"]: a for a in resources(stack, "aws_cloudwatch_metric_alarm").values()}


def topic_ref(stack: dict[str, Any]) -> str:
    (logical,) = resources(stack, "aws_sns_topic")
    return f"${{aws_sns_topic.{logical}.arn}}"


# name suffix -> (namespace, metric, dimensions, statistic, operator, threshold, period) for unit_config()
EXPECTED_UNIT_ALARMS = {
    "ingest-errors": ("AWS/Lambda", "Errors", {"FunctionName": "fn-ingest"}, "Sum", "GreaterThanThreshold", 0, 60),
    "ingest-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": "fn-ingest"}, "Sum", "GreaterThanThreshold", 0, 60),
    "ingest-duration-p99": ("AWS/Lambda", "Duration", {"FunctionName": "fn-ingest"}, "p99", "GreaterThanThreshold", 24000, 60),
    "ingest-concurrency": ("AWS/Lambda", "ConcurrentExecutions", {"FunctionName": "fn-ingest"}, "Maximum",
                           "GreaterThanOrEqualToThreshold", 8, 60),
    "ingest-async-event-age": ("AWS/Lambda", "AsyncEventAge", {"FunctionName": "fn-ingest"}, "Maximum",
                               "GreaterThanThreshold", 600000, 60),
    "ingest-async-events-dropped": ("AWS/Lambda", "AsyncEventsDropped", {"FunctionName": "fn-ingest"}, "Sum",
                                    "GreaterThanThreshold", 0, 60),
    "ingest-objects-rejected": ("IngestPipeline", "ObjectsRejected", {"service": "fn-ingest"}, "Sum", "GreaterThanThreshold", 10, 60),
    "ingest-processing-errors": ("IngestPipeline", "ProcessingErrors", {"service": "fn-ingest"}, "Sum", "GreaterThanThreshold", 0, 60),
    "ingest-error-logs": (LOG_NAMESPACE, ERROR_LOG_LINES_METRIC, None, "Sum", "GreaterThanThreshold", 0, 60),
    "rotation-errors": ("AWS/Lambda", "Errors", {"FunctionName": "fn-rotate"}, "Sum", "GreaterThanThreshold", 0, 60),
    "ingest-dlq-depth": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "ingest-dlq"}, "Maximum",
                         "GreaterThanThreshold", 0, 300),
    "rotation-dlq-depth": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "rot-dlq"}, "Maximum",
                           "GreaterThanThreshold", 0, 300),
}


def test_every_alarm_has_exact_metric_statistic_threshold_period_actions_and_missing_data(unit_stack):
    alarms = alarms_by_name(unit_stack)
    assert set(alarms) == {f"unit-test-{k}" for k in EXPECTED_UNIT_ALARMS}
    topic = topic_ref(unit_stack)
    for suffix, (namespace, metric, dims, stat, op, threshold, period) in EXPECTED_UNIT_ALARMS.items():
        alarm = alarms[f"unit-test-{suffix}"]
        assert (alarm["namespace"], alarm["metric_name"], alarm.get("dimensions")) == (namespace, metric, dims), suffix
        if stat.startswith("p"):
            assert alarm["extended_statistic"] == stat and "statistic" not in alarm
            assert alarm["evaluate_low_sample_count_percentiles"] == "evaluate"
        else:
            assert alarm["statistic"] == stat and "extended_statistic" not in alarm, suffix
        assert (alarm["comparison_operator"], alarm["threshold"], alarm["period"]) == (op, threshold, period), suffix
        assert alarm["evaluation_periods"] == 1
        assert alarm["treat_missing_data"] == "notBreaching"
        assert alarm["alarm_actions"] == [topic] and alarm["ok_actions"] == [topic]
        assert alarm["alarm_description"]


def test_thresholds_and_periods_follow_the_settings(tmp_path):
    settings = MonitoringSettings(alarm_period_seconds=300, alarm_evaluation_periods=3, duration_threshold_share=0.5,
                                  concurrency_threshold_share=0.9, rejected_objects_threshold=7,
                                  async_event_age_threshold_ms=120000)
    alarms = alarms_by_name(synth_unit(tmp_path, unit_config(settings)))
    assert alarms["unit-test-ingest-duration-p99"]["threshold"] == 15000  # 0.5 x 30 s, in ms
    assert alarms["unit-test-ingest-concurrency"]["threshold"] == 9
    assert alarms["unit-test-ingest-objects-rejected"]["threshold"] == 7
    assert alarms["unit-test-ingest-async-event-age"]["threshold"] == 120000
    assert {a["evaluation_periods"] for a in alarms.values()} == {3}
    assert {a["period"] for a in alarms.values()} == {300}


def test_a_function_without_dead_letter_queue_gets_no_queue_alarm_or_widget(tmp_path):
    stack = synth_unit(tmp_path, unit_config(rotation_dlq=None))
    assert "unit-test-rotation-dlq-depth" not in alarms_by_name(stack)
    body = json.loads(one(stack, "aws_cloudwatch_dashboard")["dashboard_body"])
    queues = [m[3] for w in body["widgets"] for m in w["properties"]["metrics"] if m[0] == "AWS/SQS"]
    assert queues == ["ingest-dlq"]


def test_topic_is_encrypted_and_only_this_accounts_alarms_may_publish_over_tls(unit_stack):
    topic = one(unit_stack, "aws_sns_topic")
    assert topic["kms_master_key_id"] == KEY_ARN and topic["name"] == "unit-test-alarms"
    policy_resource = one(unit_stack, "aws_sns_topic_policy")
    assert policy_resource["arn"] == topic_ref(unit_stack)
    policy = json.loads(policy_resource["policy"])
    allow, deny = policy["Statement"]
    assert allow["Effect"] == "Allow" and allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == ["sns:Publish"] and allow["Resource"] == [topic_ref(unit_stack)]
    assert allow["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT},
                                  "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"}}
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"} and deny["Action"] == ["sns:*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert [s for s in policy["Statement"] if s["Effect"] == "Allow"] == [allow]


def test_email_subscriptions_come_from_config_both_ways(unit_stack, tmp_path):
    assert resources(unit_stack, "aws_sns_topic_subscription") == {}
    stack = synth_unit(tmp_path, unit_config(MonitoringSettings(alarm_emails=("a@example.com", "b@example.org"))))
    subs = resources(stack, "aws_sns_topic_subscription").values()
    assert sorted((s["protocol"], s["endpoint"], s["topic_arn"]) for s in subs) == [
        ("email", "a@example.com", topic_ref(stack)), ("email", "b@example.org", topic_ref(stack))]


def test_error_log_metric_filter_uses_the_contract_pattern_and_feeds_its_alarm(unit_stack):
    metric_filter = one(unit_stack, "aws_cloudwatch_log_metric_filter")
    assert metric_filter["log_group_name"] == "/aws/lambda/fn-ingest"
    assert metric_filter["pattern"] == contract.ERROR_LOG_FILTER_PATTERN == '{ $.level = "ERROR" }'
    transformation = metric_filter["metric_transformation"]
    assert transformation == {"name": ERROR_LOG_LINES_METRIC, "namespace": LOG_NAMESPACE, "unit": "Count", "value": "1"}
    alarm = alarms_by_name(unit_stack)["unit-test-ingest-error-logs"]
    assert (alarm["namespace"], alarm["metric_name"]) == (transformation["namespace"], transformation["name"])


def test_alarm_specs_are_the_synthesized_alarms():
    """The table the README documents is the one the construct builds (no second list to drift)."""
    specs = alarm_specs(unit_config())
    assert sorted(s.component for s in specs) == sorted(EXPECTED_UNIT_ALARMS)


# --- dashboard ---------------------------------------------------------------------------------------------

def dashboard_metrics(stack: dict[str, Any]) -> list[list]:
    body = json.loads(one(stack, "aws_cloudwatch_dashboard")["dashboard_body"])
    assert body["widgets"]
    return [m for w in body["widgets"] for m in w["properties"]["metrics"]]


def metric_identity(metric: list) -> tuple[str, str, dict[str, str]]:
    """Namespace, name and dimensions of a dashboard metric array (trailing options object dropped)."""
    parts = [p for p in metric if not isinstance(p, dict)]
    namespace, name, *dims = parts
    return namespace, name, dict(zip(dims[::2], dims[1::2]))


def allowed_dashboard_metrics(stack: dict[str, Any], ingest_fn: str, rotation_fn: str, queues: set[str]) -> callable:
    (log_filter,) = resources(stack, "aws_cloudwatch_log_metric_filter").values()
    transformation = log_filter["metric_transformation"]

    def allowed(namespace: str, name: str, dims: dict[str, str]) -> bool:
        if namespace == "AWS/Lambda":
            return dims in ({"FunctionName": ingest_fn}, {"FunctionName": rotation_fn})
        if namespace == "AWS/SQS":
            return name == "ApproximateNumberOfMessagesVisible" and dims.keys() == {"QueueName"} and dims["QueueName"] in queues
        if namespace == contract.METRIC_NAMESPACE:
            return name in contract.METRICS and dims == {contract.SERVICE_DIMENSION: ingest_fn}
        return (namespace, name, dims) == (transformation["namespace"], transformation["name"], {})

    return allowed


def test_dashboard_shows_the_pipeline_and_only_metrics_of_this_stack(unit_stack):
    metrics = [metric_identity(m) for m in dashboard_metrics(unit_stack)]
    allowed = allowed_dashboard_metrics(unit_stack, "fn-ingest", "fn-rotate", {"ingest-dlq", "rot-dlq"})
    assert [m for m in metrics if not allowed(*m)] == []
    shown = {(ns, name) for ns, name, _ in metrics}
    assert {("AWS/Lambda", n) for n in ("Invocations", "Errors", "Duration", "Throttles")} <= shown
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in shown
    assert {(contract.METRIC_NAMESPACE, n) for n in (contract.OBJECTS_ACCEPTED, contract.OBJECTS_REJECTED,
                                                     contract.BYTES_PROCESSED)} <= shown
    durations = {m[-1]["stat"] for m in dashboard_metrics(unit_stack) if m[:2] == ["AWS/Lambda", "Duration"]}
    assert durations == {"p50", "p90", "p99"}


def test_dashboard_check_rejects_a_metric_of_another_function(unit_stack):
    """The allow-list above is not vacuous: a foreign function, queue or extra dimension is refused."""
    allowed = allowed_dashboard_metrics(unit_stack, "fn-ingest", "fn-rotate", {"ingest-dlq"})
    assert not allowed("AWS/Lambda", "Errors", {"FunctionName": "someone-else"})
    assert not allowed("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "rot-dlq"})
    assert not allowed(contract.METRIC_NAMESPACE, contract.OBJECTS_REJECTED, {"service": "fn-ingest", "extra": "x"})
    assert not allowed(contract.METRIC_NAMESPACE, "ObjectsDeleted", {"service": "fn-ingest"})


# --- the real environment stacks ---------------------------------------------------------------------------

REFERENCE = re.compile(r"^\$\{(aws_[a-z0-9_]+)\.([^.}]+)\.([a-z_]+)\}$")


def referenced(stack: dict[str, Any], value: str, resource_type: str, attribute: str) -> dict[str, Any]:
    """The resource a ``${type.name.attribute}`` reference points at (fails on a literal)."""
    match = REFERENCE.match(value)
    assert match and match.group(1) == resource_type and match.group(3) == attribute, \
        f"{value!r} is not a reference to {resource_type}.*.{attribute}"
    return resources(stack, resource_type)[match.group(2)]


def test_reference_check_refuses_a_literal_or_another_resource_type(dev_stack):
    (logical,) = [k for k, f in resources(dev_stack, "aws_lambda_function").items() if f["function_name"].endswith("-ingest")]
    assert referenced(dev_stack, f"${{aws_lambda_function.{logical}.function_name}}", "aws_lambda_function", "function_name")
    for wrong in ("ingest-dev-ingest", f"${{aws_lambda_function.{logical}.arn}}", f"${{aws_sqs_queue.{logical}.name}}"):
        with pytest.raises(AssertionError, match="is not a reference"):
            referenced(dev_stack, wrong, "aws_lambda_function", "function_name")


def env_settings(project_config: dict[str, Any], name: str):
    return load_project(copy.deepcopy(project_config)).environment(name)


def stack_key_ref(stack: dict[str, Any]) -> str:
    (logical,) = resources(stack, "aws_kms_key")
    return f"${{aws_kms_key.{logical}.arn}}"


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_alarm_dimensions_reference_this_stacks_function_and_queue(synth, project_config, env_name):
    from modules.ingest_stack import StackNames

    stack = synth[f"ingest-{env_name}"]
    env = env_settings(project_config, env_name)
    names = StackNames.for_environment(env)
    alarms = {a["alarm_name"].removeprefix(f"{env.stack_name}-"): a for a in resources(stack, "aws_cloudwatch_metric_alarm").values()}
    assert set(alarms) == set(EXPECTED_UNIT_ALARMS)
    for suffix, alarm in alarms.items():
        for key, value in (alarm.get("dimensions") or {}).items():
            if key in ("FunctionName", "service"):
                target = referenced(stack, value, "aws_lambda_function", "function_name")["function_name"]
                assert target == (names.rotation_function if suffix.startswith("rotation") else names.ingest_function), suffix
            else:
                assert key == "QueueName", suffix
                target = referenced(stack, value, "aws_sqs_queue", "name")["name"]
                assert target == (names.rotation_dlq if suffix.startswith("rotation") else names.ingest_dlq), suffix
    fn = env.function
    assert alarms["ingest-duration-p99"]["threshold"] == round(env.monitoring.duration_threshold_share * fn.timeout_seconds * 1000)
    assert alarms["ingest-concurrency"]["threshold"] == env.monitoring.concurrency_threshold_share * fn.reserved_concurrency
    assert alarms["ingest-objects-rejected"]["threshold"] == env.monitoring.rejected_objects_threshold
    topic = topic_ref(stack)
    assert all(a["alarm_actions"] == [topic] == a["ok_actions"] and a["treat_missing_data"] == "notBreaching"
               for a in alarms.values())


@pytest.mark.parametrize("env_name, emails", [("dev", []), ("prod", ["oncall@example.com"])])
def test_topic_uses_the_stack_key_and_subscribes_the_configured_emails(synth, env_name, emails):
    stack = synth[f"ingest-{env_name}"]
    assert one(stack, "aws_sns_topic")["kms_master_key_id"] == stack_key_ref(stack)
    subs = resources(stack, "aws_sns_topic_subscription").values()
    assert sorted(s["endpoint"] for s in subs) == emails and all(s["protocol"] == "email" for s in subs)


def test_key_policy_lets_cloudwatch_alarms_use_the_key_for_the_topic(dev_stack, project_config):
    env = env_settings(project_config, "dev")
    policy = json.loads(one(dev_stack, "aws_kms_key")["policy"])
    (cloudwatch,) = [s for s in policy["Statement"] if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch["Effect"] == "Allow"
    actions = cloudwatch["Action"] if isinstance(cloudwatch["Action"], list) else [cloudwatch["Action"]]
    # Publishing to an SSE-KMS topic needs a data key; the publisher also needs Decrypt.
    assert any(a in ("kms:GenerateDataKey*", "kms:GenerateDataKey") for a in actions) and "kms:Decrypt" in actions
    assert cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"] == env.account_id


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_every_log_group_has_configured_retention_and_the_stack_key(synth, project_config, env_name):
    from modules.ingest_stack import StackNames

    stack = synth[f"ingest-{env_name}"]
    env = env_settings(project_config, env_name)
    groups = list(resources(stack, "aws_cloudwatch_log_group").values())
    assert sorted(g["name"] if not g["name"].startswith("${") else
                  referenced(stack, g["name"], "aws_lambda_function", "function_name")["function_name"]
                  for g in groups) == sorted(StackNames.for_environment(env).log_groups)
    for group in groups:
        assert group["retention_in_days"] == env.monitoring.log_retention_days == 365, group["name"]
        assert group["kms_key_id"] == stack_key_ref(stack), group["name"]
    # CloudWatch Logs may use the key for exactly these groups.
    policy = json.loads(one(stack, "aws_kms_key")["policy"])
    (logs,) = [s for s in policy["Statement"] if s.get("Principal") == {"Service": f"logs.{env.region}.amazonaws.com"}]
    allowed = logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]
    assert sorted(allowed) == sorted(f"arn:aws:logs:{env.region}:{env.account_id}:log-group:{g['name']}" for g in groups)


def test_a_lowered_retention_reaches_every_log_group(synth_variant):
    stacks = synth_variant(lambda cfg: cfg["environments"]["dev"].setdefault("monitoring", {}).update(log_retention_days=30),
                           environments=["dev"])
    groups = resources(stacks["ingest-dev"], "aws_cloudwatch_log_group").values()
    assert len(groups) == 3 and {g["retention_in_days"] for g in groups} == {30}


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_real_dashboard_references_only_this_stacks_metrics(synth, project_config, env_name):
    from modules.ingest_stack import StackNames

    stack = synth[f"ingest-{env_name}"]
    names = StackNames.for_environment(env_settings(project_config, env_name))
    resolved = []
    for metric in dashboard_metrics(stack):
        namespace, name, dims = metric_identity(metric)
        for key, value in dims.items():
            resource_type, attribute = ("aws_sqs_queue", "name") if key == "QueueName" else ("aws_lambda_function", "function_name")
            dims[key] = referenced(stack, value, resource_type, attribute)[attribute]
        resolved.append((namespace, name, dims))
    allowed = allowed_dashboard_metrics(stack, names.ingest_function, names.rotation_function, {names.ingest_dlq, names.rotation_dlq})
    assert [m for m in resolved if not allowed(*m)] == []


# --- configuration errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("monitoring, expected", [
    ({"log_retention_days": 42}, "environments.dev.monitoring.log_retention_days: 42 is not a CloudWatch Logs retention; allowed: "
                                 + ", ".join(map(str, LOG_RETENTION_DAYS))),
    ({"duration_threshold_share": 0}, "environments.dev.monitoring.duration_threshold_share: 0.0 is out of range; "
                                      "allowed: greater than 0 and at most 1"),
    ({"concurrency_threshold_share": 1.5}, "environments.dev.monitoring.concurrency_threshold_share: 1.5 is out of range; "
                                           "allowed: greater than 0 and at most 1"),
    ({"alarm_emails": ["ok@example.com", "not-an-email"]},
     "environments.dev.monitoring.alarm_emails[1]: 'not-an-email' is not an email address"),
])
def test_bad_monitoring_config_fails_with_the_field_and_what_is_allowed(project_config, monitoring, expected):
    config = copy.deepcopy(project_config)
    config["environments"]["dev"].setdefault("monitoring", {}).update(monitoring)
    with pytest.raises(ConfigError) as raised:
        load_project(config)
    assert expected in str(raised.value)
    assert len(raised.value.problems) == 1


def test_good_monitoring_config_loads_with_the_documented_defaults(project_config):
    dev = env_settings(project_config, "dev").monitoring
    assert dev == MonitoringSettings()
    assert (dev.log_retention_days, dev.duration_threshold_share, dev.concurrency_threshold_share) == (365, 0.8, 0.8)
    assert all(days in LOG_RETENTION_DAYS for days in (1, 30, 365, 3653))


# --- checkov, both ways --------------------------------------------------------------------------------------

CHECKOV = Path(__file__).resolve().parents[2] / ".venv-checkov" / "bin" / "checkov"
MONITORING_CHECKS = ("CKV_AWS_26", "CKV_AWS_27", "CKV_AWS_66", "CKV_AWS_158", "CKV_AWS_338")


def checkov_failures(stacks: dict[str, dict[str, Any]], tmp_path: Path) -> dict[str, set[tuple[str, str]]]:
    """Run the real checkov (only the monitoring checks) on copies without terraform.required_version
    (with it, checkov's terraform_json parser silently parses nothing)."""
    import subprocess

    for name, stack in stacks.items():
        scan_copy = copy.deepcopy(stack)
        scan_copy["terraform"].pop("required_version", None)
        (tmp_path / f"{name}.tf.json").write_text(json.dumps(scan_copy))
    run = subprocess.run([str(CHECKOV), "-d", str(tmp_path), "--framework", "terraform_json", "-o", "json", "--compact",
                          "--quiet", "--check", ",".join(MONITORING_CHECKS)],
                         capture_output=True, text=True, timeout=600)
    reports = json.loads(run.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failures: dict[str, set[tuple[str, str]]] = {name: set() for name in stacks}
    passed = 0
    for report in reports:
        passed += report["summary"]["passed"]
        for failed in report["results"]["failed_checks"]:
            failures[Path(failed["file_path"]).name.removesuffix(".tf.json")].add((failed["check_id"], failed["resource"]))
    assert passed > 0, f"checkov checked nothing: {run.stderr[-2000:]}"
    return failures


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov is not installed in .venv-checkov (make setup)")
def test_checkov_passes_the_real_stacks_and_fails_a_weakened_copy(synth, tmp_path):
    weakened = copy.deepcopy(synth["ingest-dev"])
    first_group, *other_groups = resources(weakened, "aws_cloudwatch_log_group").values()
    del first_group["retention_in_days"]  # CKV_AWS_66: no retention at all (kept forever)
    for group in other_groups:
        group["retention_in_days"] = 30  # CKV_AWS_338: below one year
    for group in (first_group, *other_groups):
        del group["kms_key_id"]
    for topic in resources(weakened, "aws_sns_topic").values():
        del topic["kms_master_key_id"]
    for queue in resources(weakened, "aws_sqs_queue").values():
        del queue["kms_master_key_id"]
    failures = checkov_failures({"ingest-dev": synth["ingest-dev"], "ingest-prod": synth["ingest-prod"],
                                 "weakened": weakened}, tmp_path)
    assert failures["ingest-dev"] == set() and failures["ingest-prod"] == set()
    failed_ids = {check for check, _ in failures["weakened"]}
    assert failed_ids == set(MONITORING_CHECKS), failures["weakened"]
