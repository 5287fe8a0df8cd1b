"""PipelineMonitoring: pipeline events to the topic, alarms on real metrics, and one dashboard.

**Events** (EventBridge rules on the home region's default bus, each with an input transformer that
turns the event into one readable line). Event names and fields are those of the CodePipeline event
reference (https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html,
https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-codepipeline.html):

* ``CodePipeline Pipeline Execution State Change`` with ``detail.state`` ``FAILED`` and ``SUCCEEDED``;
* ``CodePipeline Action Execution State Change`` with ``detail.stage`` = the approval stage,
  ``detail.type`` = the manual approval action (AWS / Approval / Manual) and ``detail.state`` ``STARTED``:
  an approval is waiting.

**Alarms**, one per metric and resource, each created in the region its metric is published in
(``region=``) and notifying the alarm topic of that same region (CloudWatch alarm actions cannot
reach a topic in another region): the pipeline's topic in the home region, the region's deployment
logger topic elsewhere. Every metric below is documented by AWS:

* ``AWS/CodePipeline`` ``FailedPipelineExecutions``, dimension ``PipelineName``: published for V2
  pipelines (https://docs.aws.amazon.com/codepipeline/latest/userguide/metrics-dimensions.html; the same
  metric is in AWS's generated CloudWatch metric catalogue that CDK ships as
  ``CodePipelineMetrics.failedPipelineExecutionsSum``). The FAILED EventBridge rule reports the same
  failure immediately; the alarm adds a state that dashboards and escalations can follow.
* ``AWS/CodeBuild`` ``FailedBuilds``, dimension ``ProjectName``
  (https://docs.aws.amazon.com/codebuild/latest/userguide/cloudwatch_metrics-codebuild.html,
  https://docs.aws.amazon.com/codebuild/latest/userguide/codebuild-cloudwatch-dimensions.html).

The deployment loggers' alarms (``Errors``, ``Throttles``, DLQ depth) belong to the regional stacks: each
region's :class:`~regionflow.components.health.RegionHealth` creates them and its composite health alarm, which
the pipeline's bakes watch. The dashboard still shows every logger's metrics (``AWS/Lambda`` ``Invocations``,
``Errors``, ``Throttles``, https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html; ``AWS/SQS``
``ApproximateNumberOfMessagesVisible``,
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html).

All these metrics are only published when there is something to count (a build, an invocation, an
active queue), so every alarm treats missing data as ``notBreaching``: no data means nothing failed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from regionflow.naming import NameKind, Namer

COMPONENT_TYPE = "regionflow:pipeline:Monitoring"
PIPELINE_EXECUTION_EVENT = "CodePipeline Pipeline Execution State Change"
ACTION_EXECUTION_EVENT = "CodePipeline Action Execution State Change"
EVENT_SOURCE = "aws.codepipeline"
# The manual approval action's type, as CodePipeline reports it in action events.
APPROVAL_ACTION_TYPE: dict[str, list[str]] = {"owner": ["AWS"], "category": ["Approval"], "provider": ["Manual"]}
PERIOD_SECONDS = 300
TREAT_MISSING_DATA = "notBreaching"
# A widget grid: CloudWatch dashboards are 24 units wide.
WIDGET_WIDTH = 12
WIDGET_HEIGHT = 6
DASHBOARD_COLUMNS = 24
# Longest fixed names this component makes (alarm names also hold a build label; CloudWatch allows 255),
# for Namer.check_limits during config validation.
MONITORING_LONGEST_NAMES: dict[NameKind, str] = {
    NameKind.EVENT_RULE: "pipeline-succeeded",
    NameKind.DASHBOARD: "pipeline",
    NameKind.CLOUDWATCH_ALARM: "update-pipeline-failed-builds",
}


@dataclass(frozen=True)
class BuildProjectTarget:
    label: str  # e.g. "build", "preview", "deploy-us-east-1"
    region: str
    project_name: pulumi.Input[str]

    @property
    def slug(self) -> str:
        """The label as it appears in resource names: "Deploy eu-west-1" -> "deploy-eu-west-1"."""
        return re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")


@dataclass(frozen=True)
class RegionalLoggerTarget:
    region: str
    function_name: pulumi.Input[str]
    dlq_arn: pulumi.Input[str]  # queue name for the QueueName dimension = last ARN segment
    topic_arn: pulumi.Input[str]  # that region's own topic (alarm actions must be in the alarm's region)


@dataclass(frozen=True)
class PipelineMonitoringArgs:
    namer: Namer
    region: str  # home region
    pipeline_name: pulumi.Input[str]
    pipeline_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]  # PipelineNotifications.topic_arn
    build_projects: Sequence[BuildProjectTarget]
    loggers: Sequence[RegionalLoggerTarget]
    approval_stage_name: str = "Approval"

    def __post_init__(self) -> None:
        if self.region != self.namer.region:
            raise ValueError(f"region {self.region!r} differs from the namer's region {self.namer.region!r}")
        slugs = [b.slug for b in self.build_projects]
        duplicates = sorted({slug for slug in slugs if slugs.count(slug) > 1 or not slug})
        if duplicates:
            raise ValueError(
                f"build project labels must be unique (and hold a letter or digit) in names; repeated: "
                f"{', '.join(repr(d) for d in duplicates)}"
            )
        logger_regions = [t.region for t in self.loggers]
        if len(set(logger_regions)) != len(logger_regions):
            raise ValueError(f"one logger per region expected, got regions {logger_regions}")
        remote = {self.region} | set(logger_regions)
        orphans = sorted({b.region for b in self.build_projects} - remote)
        if orphans:
            raise ValueError(
                f"build projects in {', '.join(orphans)} have no alarm topic there: add that region's logger "
                "(RegionalLoggerTarget) so their alarms can notify a topic in their own region"
            )


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm before it is created: what it watches, where, and against what threshold."""

    purpose: str  # name suffix, e.g. "deploy-logger-errors"
    region: str
    namespace: str
    metric_name: str
    dimension: str
    value: pulumi.Input[str]
    statistic: str
    description: str
    threshold: float = 0.0
    comparison: str = "GreaterThanThreshold"


def queue_name(queue_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """An SQS queue's name: the last segment of its ARN (``arn:aws:sqs:<region>:<account>:<name>``)."""
    return pulumi.Output.from_input(queue_arn).apply(lambda arn: arn.rsplit(":", 1)[-1])


def pipeline_state_pattern(pipeline_name: pulumi.Input[str], state: str) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(
        {
            "source": [EVENT_SOURCE],
            "detail-type": [PIPELINE_EXECUTION_EVENT],
            "detail": {"pipeline": [pipeline_name], "state": [state]},
        }
    )


def approval_needed_pattern(pipeline_name: pulumi.Input[str], stage: str) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps(
        {
            "source": [EVENT_SOURCE],
            "detail-type": [ACTION_EXECUTION_EVENT],
            "detail": {
                "pipeline": [pipeline_name],
                "stage": [stage],
                "state": ["STARTED"],
                "type": APPROVAL_ACTION_TYPE,
            },
        }
    )


def _console_link(region: str) -> str:
    # Input-transformer placeholders (<pipeline>, <execution>) are filled in by EventBridge.
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/<pipeline>"
        f"/executions/<execution>/timeline?region={region}"
    )


def _template(text: str) -> str:
    # For an SNS target the template must be a JSON string so that the message is plain text.
    return json.dumps(text)


@dataclass(frozen=True)
class _EventSpec:
    purpose: str
    description: str
    pattern: pulumi.Output[str]
    input_paths: dict[str, str]
    template: str


class PipelineMonitoring(pulumi.ComponentResource):
    """EventBridge rules to the topic, one alarm per metric and resource, and the dashboard."""

    alarms: list[aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard
    rules: list[aws.cloudwatch.EventRule]
    targets: list[aws.cloudwatch.EventTarget]
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.rules = []
        self.targets = []
        for spec in self._event_specs(args):
            rule = aws.cloudwatch.EventRule(
                f"{name}-{spec.purpose}",
                name=args.namer.name(NameKind.EVENT_RULE, spec.purpose),
                description=spec.description,
                event_pattern=spec.pattern,
                state="ENABLED",
                opts=child,
            )
            self.rules.append(rule)
            self.targets.append(
                aws.cloudwatch.EventTarget(
                    f"{name}-{spec.purpose}-topic",
                    rule=rule.name,
                    target_id="pipeline-topic",
                    arn=args.topic_arn,
                    input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                        input_paths=spec.input_paths, input_template=spec.template
                    ),
                    # Pipeline news is stale after an hour; retry within it, then drop.
                    retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                        maximum_event_age_in_seconds=3600, maximum_retry_attempts=10
                    ),
                    opts=pulumi.ResourceOptions(parent=rule),
                )
            )

        topics = self._alarm_topics(args)
        self.alarms = []
        for alarm in alarm_specs(args):
            # Alarm names carry their own region's base so that region's topic policy can admit them.
            regional = dataclasses.replace(args.namer, region=alarm.region)
            self.alarms.append(
                aws.cloudwatch.MetricAlarm(
                    f"{name}-{alarm.region}-{alarm.purpose}",
                    name=regional.name(NameKind.CLOUDWATCH_ALARM, alarm.purpose),
                    alarm_description=alarm.description,
                    region=alarm.region,
                    namespace=alarm.namespace,
                    metric_name=alarm.metric_name,
                    dimensions={alarm.dimension: alarm.value},
                    statistic=alarm.statistic,
                    period=PERIOD_SECONDS,
                    evaluation_periods=1,
                    datapoints_to_alarm=1,
                    threshold=alarm.threshold,
                    comparison_operator=alarm.comparison,
                    treat_missing_data=TREAT_MISSING_DATA,
                    alarm_actions=[topics[alarm.region]],
                    ok_actions=[topics[alarm.region]],
                    opts=child,
                )
            )

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.namer.name(NameKind.DASHBOARD, "pipeline"),
            dashboard_body=pulumi.Output.json_dumps(dashboard_body(args)),
            opts=child,
        )
        self.dashboard_name = self.dashboard.dashboard_name
        self.register_outputs(
            {
                "dashboard_name": self.dashboard_name,
                "alarm_names": [a.name for a in self.alarms],
                "rule_names": [r.name for r in self.rules],
            }
        )

    @staticmethod
    def _alarm_topics(args: PipelineMonitoringArgs) -> dict[str, pulumi.Input[str]]:
        """Region -> the topic its alarms notify: the pipeline's at home, the logger's elsewhere."""
        topics: dict[str, pulumi.Input[str]] = {t.region: t.topic_arn for t in args.loggers}
        topics[args.region] = args.topic_arn
        return topics

    @staticmethod
    def _event_specs(args: PipelineMonitoringArgs) -> list[_EventSpec]:
        execution_paths = {
            "pipeline": "$.detail.pipeline",
            "execution": "$.detail.execution-id",
            "state": "$.detail.state",
            "time": "$.time",
        }
        link = _console_link(args.region)
        return [
            _EventSpec(
                "pipeline-failed",
                "regionflow pipeline execution FAILED -> pipeline topic",
                pipeline_state_pattern(args.pipeline_name, "FAILED"),
                execution_paths,
                _template(f"Pipeline <pipeline> execution <execution> <state> at <time>. Details: {link}"),
            ),
            _EventSpec(
                "pipeline-succeeded",
                "regionflow pipeline execution SUCCEEDED -> pipeline topic",
                pipeline_state_pattern(args.pipeline_name, "SUCCEEDED"),
                execution_paths,
                _template(
                    f"Pipeline <pipeline> execution <execution> <state> at <time>: every region deployed. {link}"
                ),
            ),
            _EventSpec(
                "approval-needed",
                "regionflow pipeline manual approval waiting -> pipeline topic",
                approval_needed_pattern(args.pipeline_name, args.approval_stage_name),
                {**execution_paths, "stage": "$.detail.stage", "action": "$.detail.action"},
                _template(
                    "Pipeline <pipeline> execution <execution> waits for approval in <stage>/<action> "
                    f"since <time>. Review and approve or reject: {link}"
                ),
            ),
        ]


def alarm_specs(args: PipelineMonitoringArgs) -> list[AlarmSpec]:
    """Every alarm the component creates, in a stable order."""
    specs = [
        AlarmSpec(
            purpose="pipeline-failed-executions",
            region=args.region,
            namespace="AWS/CodePipeline",
            metric_name="FailedPipelineExecutions",
            dimension="PipelineName",
            value=args.pipeline_name,
            statistic="Sum",
            description="A pipeline execution failed",
        )
    ]
    for build in args.build_projects:
        specs.append(
            AlarmSpec(
                purpose=f"{build.slug}-failed-builds",
                region=build.region,
                namespace="AWS/CodeBuild",
                metric_name="FailedBuilds",
                dimension="ProjectName",
                value=build.project_name,
                statistic="Sum",
                description=f"The {build.label} CodeBuild project had a failed build",
            )
        )
    return specs


def _metrics(namespace: str, dimension: str, value: pulumi.Input[str], *names: str) -> list[list[Any]]:
    return [[namespace, name, dimension, value] for name in names]


def _metric_widget(title: str, region: str, metrics: list[list[Any]], stat: str) -> dict[str, Any]:
    return {
        "type": "metric",
        "width": WIDGET_WIDTH,
        "height": WIDGET_HEIGHT,
        "properties": {
            "title": title,
            "region": region,
            "metrics": metrics,
            "stat": stat,
            "period": PERIOD_SECONDS,
            "view": "timeSeries",
        },
    }


def dashboard_body(args: PipelineMonitoringArgs) -> dict[str, Any]:
    """The dashboard: the pipeline, then one widget per build project, then one per regional logger.

    Each metric widget names its own region, so one dashboard in the home region shows every region.
    Widgets are laid out two per row, explicitly, so the order never depends on CloudWatch's placement.
    """
    widgets: list[dict[str, Any]] = [
        _metric_widget(
            "Pipeline: failed executions",
            args.region,
            [["AWS/CodePipeline", "FailedPipelineExecutions", "PipelineName", args.pipeline_name]],
            "Sum",
        )
    ]
    for build in args.build_projects:
        widgets.append(
            _metric_widget(
                f"{build.label} ({build.region}): builds",
                build.region,
                _metrics("AWS/CodeBuild", "ProjectName", build.project_name, "SucceededBuilds", "FailedBuilds"),
                "Sum",
            )
        )
    for logger in args.loggers:
        widgets.append(
            _metric_widget(
                f"Deployment logger ({logger.region})",
                logger.region,
                [
                    *_metrics("AWS/Lambda", "FunctionName", logger.function_name, "Invocations", "Errors", "Throttles"),
                    [
                        "AWS/SQS",
                        "ApproximateNumberOfMessagesVisible",
                        "QueueName",
                        queue_name(logger.dlq_arn),
                        {"stat": "Maximum"},
                    ],
                ],
                "Sum",
            )
        )
    per_row = DASHBOARD_COLUMNS // WIDGET_WIDTH
    for index, widget in enumerate(widgets):
        widget["x"] = (index % per_row) * WIDGET_WIDTH
        widget["y"] = (index // per_row) * WIDGET_HEIGHT
    return {"widgets": widgets}
