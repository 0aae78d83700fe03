"""Alarms, the alarm topic, the error-log metric filter and the dashboard of one pipeline.

Every alarm watches a metric that really exists in this stack: AWS/Lambda for
the stack's functions, AWS/SQS for its dead-letter queue, the handler's own
embedded metrics exactly as ``handler.contract`` defines them (namespace, metric
name, the single ``service`` dimension), and one metric published by a log
metric filter on the ingest function's log group. Dimension values are the
resources' attributes (Terraform references), never retyped names, so an alarm
cannot silently watch a metric of another function.

Every alarm notifies the topic on ALARM and on OK, and states its
``treat_missing_data`` with the reason: the metrics watched here are absent when
nothing happens (no invocation, no message, no error line), and "nothing
happened" is healthy, so missing data is ``notBreaching`` throughout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from constructs import Construct

from handler import contract
from modules.naming import check_name
from modules.policy import render, statement
from modules.provider_import import aws
from modules.settings import MonitoringSettings

LAMBDA_NAMESPACE = "AWS/Lambda"
SQS_NAMESPACE = "AWS/SQS"
# Metric published by the log metric filter (in this stack's own namespace, see MonitoringConfig.log_metric_namespace).
ERROR_LOG_LINES_METRIC = "ErrorLogLines"
# SQS publishes queue metrics at most once a minute and for idle queues less often;
# a shorter alarm period would see gaps and flap between ALARM and OK.
MIN_SQS_PERIOD_SECONDS = 300
# Missing data is healthy for every metric here (see the module docstring).
NOT_BREACHING = "notBreaching"


@dataclass(frozen=True)
class MonitoredFunction:
    """What monitoring needs to know about one function: names as references, limits as numbers."""

    function_name: str
    log_group_name: str
    timeout_seconds: int
    reserved_concurrency: int
    # Asynchronously invoked functions have a dead-letter queue; None for one that has none.
    dlq_name: Optional[str] = None


@dataclass(frozen=True)
class MonitoringConfig:
    # Prefix of every alarm and metric filter name, e.g. "ingest-dev".
    name_prefix: str
    topic_name: str
    dashboard_name: str
    # Namespace of the error-log metric; per stack, because a log metric has no dimension to tell stacks apart.
    log_metric_namespace: str
    region: str
    account_id: str
    kms_key_arn: str
    ingest: MonitoredFunction
    rotation: MonitoredFunction
    settings: MonitoringSettings


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm, as data: the table the construct builds and the README documents."""

    component: str
    description: str
    namespace: str
    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    # "Sum", "Maximum", … or a percentile such as "p99" (an extended statistic).
    statistic: str
    comparison: str
    threshold: float
    period: int

    @property
    def is_percentile(self) -> bool:
        return self.statistic.startswith("p")


def alarm_specs(config: MonitoringConfig) -> list[AlarmSpec]:
    s = config.settings
    period = s.alarm_period_seconds
    ingest, rotation = config.ingest, config.rotation

    def lambda_metric(fn: MonitoredFunction, component: str, metric: str, statistic: str, comparison: str,
                      threshold: float, description: str) -> AlarmSpec:
        return AlarmSpec(component, description, LAMBDA_NAMESPACE, metric, (("FunctionName", fn.function_name),),
                         statistic, comparison, threshold, period)

    def dlq_depth(fn: MonitoredFunction, component: str) -> AlarmSpec:
        return AlarmSpec(component, "Events exhausted their retries and wait in the dead-letter queue: inspect and redrive.",
                         SQS_NAMESPACE, "ApproximateNumberOfMessagesVisible", (("QueueName", fn.dlq_name),),
                         "Maximum", "GreaterThanThreshold", 0, max(period, MIN_SQS_PERIOD_SECONDS))

    def handler_metric(component: str, metric: str, threshold: float, description: str) -> AlarmSpec:
        return AlarmSpec(component, description, contract.METRIC_NAMESPACE, metric,
                         ((contract.SERVICE_DIMENSION, ingest.function_name),), "Sum", "GreaterThanThreshold", threshold, period)

    duration_ms = round(s.duration_threshold_share * ingest.timeout_seconds * 1000)
    specs = [
        lambda_metric(ingest, "ingest-errors", "Errors", "Sum", "GreaterThanThreshold", 0,
                      "The ingest function failed an invocation (it will be retried, then dead-lettered)."),
        lambda_metric(ingest, "ingest-throttles", "Throttles", "Sum", "GreaterThanThreshold", 0,
                      "The ingest function hit its reserved concurrency; events are queued and age."),
        lambda_metric(ingest, "ingest-duration-p99", "Duration", "p99", "GreaterThanThreshold", duration_ms,
                      f"p99 duration above {s.duration_threshold_share:g} of the {ingest.timeout_seconds} s timeout: invocations are close to timing out."),
        lambda_metric(ingest, "ingest-concurrency", "ConcurrentExecutions", "Maximum", "GreaterThanOrEqualToThreshold",
                      s.concurrency_threshold_share * ingest.reserved_concurrency,
                      f"Concurrency at {s.concurrency_threshold_share:g} of the reserved {ingest.reserved_concurrency}: throttling is next."),
        lambda_metric(ingest, "ingest-async-event-age", "AsyncEventAge", "Maximum", "GreaterThanThreshold",
                      s.async_event_age_threshold_ms, "Events wait too long in Lambda's async queue before they are processed."),
        lambda_metric(ingest, "ingest-async-events-dropped", "AsyncEventsDropped", "Sum", "GreaterThanThreshold", 0,
                      "Lambda dropped events (too old or out of retries) without processing them."),
        handler_metric("ingest-objects-rejected", contract.OBJECTS_REJECTED, s.rejected_objects_threshold,
                       f"More than {s.rejected_objects_threshold} objects rejected in {period} s (size or type limits)."),
        handler_metric("ingest-processing-errors", contract.PROCESSING_ERRORS, 0,
                       "The handler could not process an object (it raised; the event will be retried)."),
        AlarmSpec("ingest-error-logs", "The ingest function wrote ERROR log lines.", config.log_metric_namespace,
                  ERROR_LOG_LINES_METRIC, (), "Sum", "GreaterThanThreshold", 0, period),
        lambda_metric(rotation, "rotation-errors", "Errors", "Sum", "GreaterThanThreshold", 0,
                      "Rotating the manifest-signing key failed: the secret keeps its current key until fixed."),
    ]
    for fn, component in ((ingest, "ingest-dlq-depth"), (rotation, "rotation-dlq-depth")):
        if fn.dlq_name is not None:
            specs.append(dlq_depth(fn, component))
    return specs


class Monitoring(Construct):
    def __init__(self, scope: Construct, id_: str, config: MonitoringConfig) -> None:
        super().__init__(scope, id_)
        self._config = config
        sns = aws("sns_topic")
        self._topic = sns.SnsTopic(self, "topic", name=check_name("sns_topic", config.topic_name),
                                   kms_master_key_id=config.kms_key_arn)
        aws("sns_topic_policy").SnsTopicPolicy(self, "topic-policy", arn=self._topic.arn,
                                               policy=self._topic_policy(self._topic.arn))
        subscription = aws("sns_topic_subscription")
        for i, email in enumerate(config.settings.alarm_emails):
            # Email subscriptions stay "pending confirmation" until the recipient clicks the link AWS sends.
            subscription.SnsTopicSubscription(self, f"email-{i}", topic_arn=self._topic.arn, protocol="email", endpoint=email)

        self._error_filter = aws("cloudwatch_log_metric_filter").CloudwatchLogMetricFilter(
            self, "error-log-filter",
            name=check_name("metric_filter", f"{config.name_prefix}-ingest-error-logs"),
            log_group_name=config.ingest.log_group_name,
            pattern=contract.ERROR_LOG_FILTER_PATTERN,
            # No default_value: the metric stays absent (not 0) while no line matches, like the other counts here.
            metric_transformation=aws("cloudwatch_log_metric_filter").CloudwatchLogMetricFilterMetricTransformation(
                name=ERROR_LOG_LINES_METRIC, namespace=config.log_metric_namespace, value="1", unit="Count"),
        )
        self.alarm_names = tuple(self._alarm(spec) for spec in alarm_specs(config))
        self._dashboard = aws("cloudwatch_dashboard").CloudwatchDashboard(
            self, "dashboard", dashboard_name=check_name("dashboard", config.dashboard_name), dashboard_body=self._dashboard_body())

    def _topic_policy(self, topic_arn: str) -> str:
        c = self._config
        return render([
            # Only CloudWatch alarms of this account may publish (confused-deputy guard: SourceAccount + SourceArn).
            statement("CloudWatchAlarmsOfThisAccountPublish", ["sns:Publish"], [topic_arn],
                      principal={"Service": "cloudwatch.amazonaws.com"},
                      condition={"StringEquals": {"aws:SourceAccount": c.account_id},
                                 "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{c.region}:{c.account_id}:alarm:*"}}),
            statement("DenyInsecureTransport", ["sns:*"], [topic_arn], effect="Deny", principal={"AWS": "*"},
                      condition={"Bool": {"aws:SecureTransport": "false"}}),
        ])

    def _alarm(self, spec: AlarmSpec) -> str:
        name = check_name("alarm", f"{self._config.name_prefix}-{spec.component}")
        statistic = {"extended_statistic": spec.statistic} if spec.is_percentile else {"statistic": spec.statistic}
        aws("cloudwatch_metric_alarm").CloudwatchMetricAlarm(
            self, spec.component,
            alarm_name=name,
            alarm_description=spec.description,
            namespace=spec.namespace,
            metric_name=spec.metric_name,
            dimensions=dict(spec.dimensions) or None,
            period=spec.period,
            evaluation_periods=self._config.settings.alarm_evaluation_periods,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            treat_missing_data=NOT_BREACHING,
            # A single slow invocation in a quiet period must count: the pipeline is often low-traffic.
            evaluate_low_sample_count_percentiles="evaluate" if spec.is_percentile else None,
            alarm_actions=[self._topic.arn],
            ok_actions=[self._topic.arn],
            **statistic,
        )
        return name

    def _dashboard_body(self) -> str:
        c = self._config
        ingest, rotation = c.ingest, c.rotation
        fn = ("FunctionName", ingest.function_name)
        service = (contract.SERVICE_DIMENSION, ingest.function_name)

        def widget(title: str, metrics: list[list], stat: str = "Sum", annotations: Optional[list[dict]] = None) -> dict:
            properties = {"title": title, "region": c.region, "view": "timeSeries", "stat": stat,
                          "period": c.settings.alarm_period_seconds, "metrics": metrics}
            if annotations:
                properties["annotations"] = {"horizontal": annotations}
            return {"type": "metric", "width": 12, "height": 6, "properties": properties}

        queues = [[SQS_NAMESPACE, "ApproximateNumberOfMessagesVisible", "QueueName", f.dlq_name]
                  for f in (ingest, rotation) if f.dlq_name is not None]
        widgets = [
            widget("Invocations, errors, throttles", [
                [LAMBDA_NAMESPACE, "Invocations", *fn], [LAMBDA_NAMESPACE, "Errors", *fn],
                [LAMBDA_NAMESPACE, "Throttles", *fn],
                [LAMBDA_NAMESPACE, "Errors", "FunctionName", rotation.function_name, {"label": "Rotation errors"}],
            ]),
            widget("Duration (ms)", [
                [LAMBDA_NAMESPACE, "Duration", *fn, {"stat": p, "label": p}] for p in ("p50", "p90", "p99")
            ], stat="p99", annotations=[{"label": "timeout", "value": ingest.timeout_seconds * 1000}]),
            widget("Concurrency", [[LAMBDA_NAMESPACE, "ConcurrentExecutions", *fn]], stat="Maximum",
                   annotations=[{"label": "reserved concurrency", "value": ingest.reserved_concurrency}]),
            widget("Async event age (ms) and dropped events", [
                [LAMBDA_NAMESPACE, "AsyncEventAge", *fn, {"stat": "Maximum"}],
                [LAMBDA_NAMESPACE, "AsyncEventsDropped", *fn, {"stat": "Sum", "yAxis": "right"}],
            ]),
            *([widget("Dead-letter queue depth", queues, stat="Maximum")] if queues else []),
            widget("Objects accepted / rejected / errors", [
                [contract.METRIC_NAMESPACE, name, *service]
                for name in (contract.OBJECTS_ACCEPTED, contract.OBJECTS_REJECTED, contract.PROCESSING_ERRORS)
            ] + [[c.log_metric_namespace, ERROR_LOG_LINES_METRIC, {"label": "ERROR log lines"}]]),
            widget("Bytes processed", [[contract.METRIC_NAMESPACE, contract.BYTES_PROCESSED, *service]]),
            widget("Object processing time (ms)", [
                [contract.METRIC_NAMESPACE, contract.OBJECT_PROCESSING_TIME, *service, {"stat": p, "label": p}]
                for p in ("p50", "p99")
            ], stat="p99"),
        ]
        return json.dumps({"widgets": widgets}, separators=(",", ":"))

    @property
    def topic_arn(self) -> str:
        return self._topic.arn

    @property
    def topic_name(self) -> str:
        return self._topic.name

    @property
    def dashboard_name(self) -> str:
        return self._config.dashboard_name
