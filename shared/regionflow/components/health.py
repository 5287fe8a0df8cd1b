"""RegionHealth: a region's health as one CloudWatch composite alarm, owned by the regional stack.

The pipeline's bakes watch this alarm (a ``CloudWatchAlarm`` rule per region in each deploy stage's
``onSuccess`` condition, :mod:`regionflow.delivery`), so it lives where the region's resources live: the
regional stack creates it, exports its name and ARN through :mod:`regionflow.contract`, and the pipeline
reads them with ``require_output`` like every other output.

Alarms (all in the stack's region, named ``<prefix>-<env>-<code>-<purpose>``):

* ``logger-errors``: ``AWS/Lambda`` ``Errors`` of the deployment logger (Lambda developer guide, "Types of
  metrics for Lambda functions");
* ``logger-dlq-depth``: ``AWS/SQS`` ``ApproximateNumberOfMessagesVisible`` of its dead-letter queue, Maximum
  (SQS developer guide, "Available CloudWatch metrics for Amazon SQS");
* ``logger-throttles``: ``AWS/Lambda`` ``Throttles``; a capacity signal, not a sign that a change broke the
  region, so it notifies but is not part of the health;
* ``health``: the composite, ``ALARM("<errors>") OR ALARM("<dlq>") OR ALARM("<each owner alarm>")``, the
  owner alarms being the names listed in the regional config key ``healthAlarmNames`` (alarms of the region
  owner's own services in this region).

Composite alarms (CloudWatch API reference ``PutCompositeAlarm``; user guide "Composite alarms"): the rule
references alarms by name or ARN with ``ALARM()``/``OK()``/``INSUFFICIENT_DATA()`` and ``AND``/``OR``/``NOT``;
at most 100 underlying alarms; the rule is 1 to 10240 characters and at most 5 actions per state
(terraform-provider-aws ``internal/service/cloudwatch/composite_alarm.go`` validation). Notifications go to
SNS topics; the user guide's advice to reduce noise is to act at the composite level only, so the two
underlying logger alarms have no actions of their own and the composite notifies the region's topic on ALARM
and OK. The topic's policy and its key's policy already admit CloudWatch for this account's alarms named
``<base>-*`` of this region (:func:`regionflow.components.artifact_store.cloudwatch_alarms_statement`; SNS
developer guide, "Enable compatibility between event sources from AWS services and encrypted topics").

These alarms replace the per-region logger alarms the pipeline stack's monitoring used to create (there is one
owner per alarm); their names differ from the old ones (``deploy-logger-*``), so the move creates the new
alarms before the pipeline stack deletes the old ones, whichever stack is updated first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from regionflow.delivery import (
    DLQ_ALARM_PURPOSE,
    ERRORS_ALARM_PURPOSE,
    HEALTH_ALARM_PURPOSE,
    THROTTLES_ALARM_PURPOSE,
    health_alarm_rule,
    own_health_alarm_names,
)
from regionflow.naming import NameKind, Namer

COMPONENT_TYPE = "regionflow:components:RegionHealth"
PERIOD_SECONDS = 300
# The metrics are only published when there is something to count (an invocation, an active queue), so no
# data means nothing failed (the same choice as the pipeline's monitoring).
TREAT_MISSING_DATA = "notBreaching"


@dataclass(frozen=True)
class RegionHealthArgs:
    namer: Namer
    function_name: pulumi.Input[str]
    dlq_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]  # the region's deployment topic (alarm actions must be in the alarm's region)
    owner_alarm_names: Sequence[str] = ()


class RegionHealth(pulumi.ComponentResource):
    """The logger's alarms and the region's composite health alarm."""

    alarms: list[aws.cloudwatch.MetricAlarm]
    composite: aws.cloudwatch.CompositeAlarm
    alarm_name: pulumi.Output[str]
    alarm_arn: pulumi.Output[str]

    def __init__(self, name: str, args: RegionHealthArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namer = args.namer
        queue_name = pulumi.Output.from_input(args.dlq_arn).apply(lambda arn: arn.rsplit(":", 1)[-1])

        def metric_alarm(
            purpose: str,
            namespace: str,
            metric: str,
            dimension: str,
            value: pulumi.Input[str],
            statistic: str,
            description: str,
            *,
            notify: bool,
        ) -> aws.cloudwatch.MetricAlarm:
            actions = [args.topic_arn] if notify else []
            return aws.cloudwatch.MetricAlarm(
                f"{name}-{purpose}",
                name=namer.name(NameKind.CLOUDWATCH_ALARM, purpose),
                alarm_description=description,
                namespace=namespace,
                metric_name=metric,
                dimensions={dimension: value},
                statistic=statistic,
                period=PERIOD_SECONDS,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                threshold=0.0,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data=TREAT_MISSING_DATA,
                alarm_actions=actions,
                ok_actions=actions,
                opts=child,
            )

        errors = metric_alarm(
            ERRORS_ALARM_PURPOSE, "AWS/Lambda", "Errors", "FunctionName", args.function_name, "Sum",
            f"The deployment logger in {namer.region} reported errors (part of the region's health)",
            notify=False,
        )  # fmt: skip
        dlq = metric_alarm(
            DLQ_ALARM_PURPOSE, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_name,
            # Maximum: one message left in the queue at any point of the period is one too many.
            "Maximum",
            f"Events the deployment logger in {namer.region} could not process wait in its DLQ (part of the health)",
            notify=False,
        )  # fmt: skip
        throttles = metric_alarm(
            THROTTLES_ALARM_PURPOSE, "AWS/Lambda", "Throttles", "FunctionName", args.function_name, "Sum",
            f"The deployment logger in {namer.region} was throttled",
            notify=True,
        )  # fmt: skip
        self.alarms = [errors, dlq, throttles]

        rule = health_alarm_rule([*own_health_alarm_names(namer), *args.owner_alarm_names])
        self.composite = aws.cloudwatch.CompositeAlarm(
            f"{name}-composite",
            alarm_name=namer.name(NameKind.CLOUDWATCH_ALARM, HEALTH_ALARM_PURPOSE),
            alarm_description=(
                f"Health of {namer.base}: the deployment logger's errors and DLQ depth, and "
                f"{len(args.owner_alarm_names)} alarm(s) of the region owner. The pipeline's bake rolls back "
                "a deploy stage while this alarm is in ALARM."
            ),
            alarm_rule=rule,
            alarm_actions=[args.topic_arn],
            ok_actions=[args.topic_arn],
            # The rule names the logger alarms by name: they must exist first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[errors, dlq]),
        )
        self.alarm_name = self.composite.alarm_name
        self.alarm_arn = self.composite.arn
        self.register_outputs({"alarm_name": self.alarm_name, "alarm_arn": self.alarm_arn})
