"""The alarms watch what the handler really emits, and they fire when it crosses their thresholds.

The handler runs for real (``tests/handler/emitted.py``: one invocation under
moto with an accepted, a rejected and a failing object) and its stdout is
captured: EMF documents and JSON log lines. The synthesized dev stack's alarms
and metric filter are then checked against that output:

* each custom-metric alarm's namespace, metric name and dimensions (function
  references resolved to the configured name) equal a metric the handler emits;
* the log metric filter's pattern, evaluated by a small evaluator for the
  ``{ $.field = "value" }`` form, matches the handler's ERROR lines and nothing else;
* values just below / just above each threshold give OK / ALARM under the
  alarm's statistic, comparison, period count and missing-data treatment.

moto does not evaluate alarms (and ``set_alarm_state`` publishes nothing), so
the evaluation here is our own implementation of CloudWatch's documented rules.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from handler import contract
from modules.ingest_stack import StackNames
from modules.settings import load_project
from tests.conftest import one, resources

REFERENCE = re.compile(r"^\$\{(aws_[a-z0-9_]+)\.([^.}]+)\.([a-z_]+)\}$")


def resolve(stack: Mapping[str, Any], value: str) -> str:
    """``${aws_lambda_function.x.function_name}`` -> that resource's configured function_name."""
    match = REFERENCE.match(value)
    assert match, f"{value!r} is not a reference to a resource of this stack"
    resource_type, logical, attribute = match.groups()
    return resources(stack, resource_type)[logical][attribute]


# --- emitted output ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dev_names(project_config) -> StackNames:
    return StackNames.for_environment(load_project(json.loads(json.dumps(project_config))).environment("dev"))


@pytest.fixture(scope="module")
def emitted(dev_names):
    """The handler's output, run with SERVICE_NAME = the dev ingest function's configured name."""
    from tests.handler import emitted as helper

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(helper.hw, "SERVICE", dev_names.ingest_function)
        out = helper.standard_scenario()
    assert out.emf_documents and out.log_lines, "the handler emitted nothing"
    return out


def emitted_metrics(documents: Sequence[Mapping[str, Any]]) -> dict[tuple, list[float]]:
    """(namespace, metric name, frozen dimensions) -> emitted values, read the way CloudWatch reads EMF."""
    found: dict[tuple, list[float]] = {}
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = frozenset((key, doc[key]) for key in dimension_set)
                for metric in directive["Metrics"]:
                    value = doc[metric["Name"]]
                    values = value if isinstance(value, list) else [value]
                    found.setdefault((directive["Namespace"], metric["Name"], dims), []).extend(values)
    return found


def custom_metric_alarms(stack) -> list[dict[str, Any]]:
    return [a for a in resources(stack, "aws_cloudwatch_metric_alarm").values() if a["namespace"] == contract.METRIC_NAMESPACE]


def test_ingest_function_labels_its_metrics_with_its_own_name(dev_stack, dev_names):
    """The deployed function's SERVICE_NAME (the dimension value it emits) is its configured name."""
    (function,) = [f for f in resources(dev_stack, "aws_lambda_function").values() if f["function_name"] == dev_names.ingest_function]
    assert function["environment"]["variables"][contract.ENV_SERVICE_NAME] == dev_names.ingest_function


def test_each_custom_metric_alarm_watches_a_metric_the_handler_emits(dev_stack, emitted):
    metrics = emitted_metrics(emitted.emf_documents)
    alarms = custom_metric_alarms(dev_stack)
    assert {a["metric_name"] for a in alarms} == {contract.OBJECTS_REJECTED, contract.PROCESSING_ERRORS}
    for alarm in alarms:
        dims = frozenset((key, resolve(dev_stack, value)) for key, value in alarm["dimensions"].items())
        assert (alarm["namespace"], alarm["metric_name"], dims) in metrics, (alarm["alarm_name"], sorted(metrics))


def test_an_alarm_with_one_dimension_too_many_matches_nothing(dev_stack, emitted):
    """The check above is not vacuous: a dimension set differing by one key is a metric that never exists."""
    metrics = emitted_metrics(emitted.emf_documents)
    alarm = custom_metric_alarms(dev_stack)[0]
    dims = {key: resolve(dev_stack, value) for key, value in alarm["dimensions"].items()}
    for wrong in ({**dims, "FunctionName": dims["service"]}, {"FunctionName": dims["service"]}, {"service": "another-function"}):
        assert (alarm["namespace"], alarm["metric_name"], frozenset(wrong.items())) not in metrics


# --- log metric filter --------------------------------------------------------------------------------------

JSON_FILTER = re.compile(r'^\{\s*\$\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*(=|!=)\s*"([^"*]*)"\s*\}$')


def filter_matches(pattern: str, line: str) -> bool:
    """CloudWatch Logs' ``{ $.a.b = "value" }`` / ``!=`` form on one log event (exact string, no wildcards)."""
    parsed = JSON_FILTER.match(pattern)
    if not parsed:
        raise ValueError(f"unsupported filter pattern {pattern!r}; supported: {{ $.field = \"value\" }} and !=")
    path, operator, expected = parsed.groups()
    try:
        value: Any = json.loads(line)
    except ValueError:
        return False  # JSON patterns never match a non-JSON event
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False  # a missing field matches neither = nor !=
        value = value[part]
    if isinstance(value, (dict, list)):
        return False
    text = value if isinstance(value, str) else json.dumps(value)
    return (text == expected) if operator == "=" else (text != expected)


@pytest.mark.parametrize("line, expected", [
    ('{"level": "ERROR", "message": "x"}', True),
    ('{"level": "INFO", "message": "ERROR"}', False),
    ('{"level": "error"}', False),
    ('{"message": "no level"}', False),
    ('{"level": {"name": "ERROR"}}', False),
    ('ERROR not json', False),
])
def test_filter_evaluator_both_ways(line, expected):
    assert filter_matches('{ $.level = "ERROR" }', line) is expected


def test_filter_evaluator_nested_path_not_equal_and_unsupported_forms():
    assert filter_matches('{ $.a.b = "1" }', '{"a": {"b": 1}}')
    assert filter_matches('{ $.level != "ERROR" }', '{"level": "INFO"}')
    assert not filter_matches('{ $.level != "ERROR" }', '{"level": "ERROR"}')
    for unsupported in ('ERROR', '{ $.level = ERR* }', '{ $.size > 5 }', '{ ($.a = "1") && ($.b = "2") }'):
        with pytest.raises(ValueError, match="unsupported filter pattern"):
            filter_matches(unsupported, '{"level": "ERROR"}')


def test_log_metric_filter_matches_the_handlers_error_lines_and_not_its_info_lines(dev_stack, emitted):
    metric_filter = one(dev_stack, "aws_cloudwatch_log_metric_filter")
    levels = {line["level"] for line in emitted.log_lines}
    assert {"ERROR", "INFO"} <= levels, f"the scenario must log both levels, got {levels}"
    for line in emitted.log_lines:
        raw = json.dumps(line)
        assert filter_matches(metric_filter["pattern"], raw) is (line["level"] == "ERROR"), raw
    # EMF documents go to the same log group: they must never count as error lines.
    assert not any(filter_matches(metric_filter["pattern"], json.dumps(doc)) for doc in emitted.emf_documents)


def test_log_metric_filter_watches_the_ingest_log_group_and_feeds_an_alarm(dev_stack, dev_names):
    metric_filter = one(dev_stack, "aws_cloudwatch_log_metric_filter")
    assert resolve(dev_stack, metric_filter["log_group_name"]) == f"/aws/lambda/{dev_names.ingest_function}"
    transformation = metric_filter["metric_transformation"]
    fed = [a for a in resources(dev_stack, "aws_cloudwatch_metric_alarm").values()
           if (a["namespace"], a["metric_name"]) == (transformation["namespace"], transformation["name"])]
    assert len(fed) == 1 and "dimensions" not in fed[0]  # the filter publishes no dimension


# --- alarm evaluation ---------------------------------------------------------------------------------------

def statistic_of(values: Sequence[float], statistic: str) -> float:
    if statistic == "Sum":
        return float(sum(values))
    if statistic == "Maximum":
        return float(max(values))
    if statistic == "SampleCount":
        return float(len(values))
    percentile = re.fullmatch(r"p(\d+(?:\.\d+)?)", statistic)
    if percentile:  # nearest rank, as CloudWatch reports percentiles of raw samples
        ordered = sorted(values)
        rank = math.ceil(float(percentile.group(1)) / 100 * len(ordered))
        return float(ordered[max(rank, 1) - 1])
    raise ValueError(f"statistic {statistic!r} not implemented")


COMPARISONS = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def alarm_state(alarm: Mapping[str, Any], periods: Sequence[Sequence[float]]) -> str:
    """ALARM or OK for the newest ``evaluation_periods`` periods of raw samples (an empty period = missing data)."""
    statistic = alarm.get("extended_statistic") or alarm["statistic"]
    window = list(periods)[-alarm["evaluation_periods"]:]
    needed = alarm.get("datapoints_to_alarm", alarm["evaluation_periods"])
    breaching = 0
    for samples in window:
        if not samples:
            treatment = alarm["treat_missing_data"]
            if treatment == "breaching":
                breaching += 1
            elif treatment not in ("notBreaching", "ignore", "missing"):
                raise ValueError(f"treat_missing_data {treatment!r} not implemented")
            continue
        if COMPARISONS[alarm["comparison_operator"]](statistic_of(samples, statistic), alarm["threshold"]):
            breaching += 1
    return "ALARM" if breaching >= needed else "OK"


def boundary_values(alarm: Mapping[str, Any], step: float = 1) -> tuple[float, float]:
    """The value just on the OK side and just on the ALARM side of the threshold."""
    threshold = alarm["threshold"]
    if alarm["comparison_operator"] == "GreaterThanThreshold":
        return threshold, threshold + step
    if alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold":
        return threshold - step, threshold
    raise AssertionError(f"{alarm['alarm_name']}: unexpected operator {alarm['comparison_operator']}")


def samples_for(alarm: Mapping[str, Any], value: float) -> list[float]:
    """Raw samples in one period whose statistic is ``value``."""
    statistic = alarm.get("extended_statistic") or alarm["statistic"]
    if statistic == "Sum":  # counts arrive as one sample per flush: split the total over several
        return [1.0] * int(value) if value == int(value) and value > 0 else [value]
    if statistic == "Maximum":
        return [0.0, value / 2, value]
    return [value] * 100  # a percentile of identical samples is that value


def test_alarm_evaluator_both_ways():
    alarm = {"alarm_name": "t", "statistic": "Sum", "comparison_operator": "GreaterThanThreshold", "threshold": 2,
             "evaluation_periods": 2, "datapoints_to_alarm": 2, "treat_missing_data": "notBreaching"}
    assert alarm_state(alarm, [[3], [1, 2]]) == "ALARM"
    assert alarm_state(alarm, [[3], [2]]) == "OK"  # only one of two periods breaches
    assert alarm_state(alarm, [[3], []]) == "OK"  # missing is not breaching
    assert alarm_state({**alarm, "treat_missing_data": "breaching"}, [[3], []]) == "ALARM"
    p99 = {**alarm, "statistic": None, "extended_statistic": "p99", "evaluation_periods": 1, "datapoints_to_alarm": 1,
           "threshold": 100}
    assert alarm_state(p99, [[1] * 99 + [500]]) == "OK"  # one slow sample in 100 is the 100th percentile
    assert alarm_state(p99, [[1] * 98 + [500] * 2]) == "ALARM"


@pytest.mark.parametrize("stack_fixture", ["dev_stack", "prod_stack"])
def test_every_alarm_is_ok_just_below_and_in_alarm_just_above_its_threshold(request, stack_fixture):
    stack = request.getfixturevalue(stack_fixture)
    alarms = list(resources(stack, "aws_cloudwatch_metric_alarm").values())
    assert len(alarms) >= 10
    for alarm in alarms:
        below, above = boundary_values(alarm)
        n = alarm["evaluation_periods"]
        assert alarm_state(alarm, [samples_for(alarm, below)] * n) == "OK", alarm["alarm_name"]
        assert alarm_state(alarm, [samples_for(alarm, above)] * n) == "ALARM", alarm["alarm_name"]
        assert alarm_state(alarm, [[]] * n) == "OK", f"{alarm['alarm_name']}: no data must not alarm"


def test_handler_emissions_cross_the_rejection_and_error_thresholds(dev_stack, emitted):
    """Invocations like the captured one, repeated within one alarm period, breach exactly when they should."""
    metrics = emitted_metrics(emitted.emf_documents)
    for alarm in custom_metric_alarms(dev_stack):
        dims = frozenset((k, resolve(dev_stack, v)) for k, v in alarm["dimensions"].items())
        per_invocation = metrics[(alarm["namespace"], alarm["metric_name"], dims)]
        per_invocation_sum = statistic_of(per_invocation, alarm["statistic"])
        assert per_invocation_sum > 0, alarm["alarm_name"]
        # Largest number of such invocations per period that stays at or under the threshold, then one more.
        quiet = int(alarm["threshold"] // per_invocation_sum)
        n = alarm["evaluation_periods"]
        assert alarm_state(alarm, [per_invocation * quiet] * n) == "OK", alarm["alarm_name"]
        assert alarm_state(alarm, [per_invocation * (quiet + 1)] * n) == "ALARM", alarm["alarm_name"]
