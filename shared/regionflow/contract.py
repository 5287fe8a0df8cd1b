"""The output contract between stacks: what every regional stack exports and the pipeline reads.

Names are defined once here. Regional programs export through :func:`export_regional`, and readers
go through :func:`read_regional`, which uses ``StackReference.require_output`` so that a missing
output fails the reading stack loudly instead of silently becoming ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import pulumi

REGION = "region"
ARTIFACT_BUCKET_NAME = "artifactBucketName"
ARTIFACT_BUCKET_ARN = "artifactBucketArn"
ARTIFACT_KEY_ARN = "artifactKeyArn"
ARTIFACT_KEY_ALIAS = "artifactKeyAlias"
LOGGER_FUNCTION_NAME = "loggerFunctionName"
LOGGER_FUNCTION_ARN = "loggerFunctionArn"
LOGGER_DLQ_URL = "loggerDlqUrl"
LOGGER_DLQ_ARN = "loggerDlqArn"
NOTIFICATION_TOPIC_ARN = "notificationTopicArn"
NAME_PREFIX = "namePrefix"
ENVIRONMENT = "environment"
# The region's health: the composite alarm the pipeline's bakes watch (components/health.py).
HEALTH_ALARM_NAME = "healthAlarmName"
HEALTH_ALARM_ARN = "healthAlarmArn"


@dataclass(frozen=True)
class RegionalOutputs:
    """One regional stack's exports, as Outputs (the reader's view) or plain values (the writer's)."""

    region: pulumi.Input[str]
    artifact_bucket_name: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    artifact_key_arn: pulumi.Input[str]
    artifact_key_alias: pulumi.Input[str]
    logger_function_name: pulumi.Input[str]
    logger_function_arn: pulumi.Input[str]
    logger_dlq_url: pulumi.Input[str]
    logger_dlq_arn: pulumi.Input[str]
    notification_topic_arn: pulumi.Input[str]
    name_prefix: pulumi.Input[str]
    environment: pulumi.Input[str]
    health_alarm_name: pulumi.Input[str]
    health_alarm_arn: pulumi.Input[str]


# Field name -> exported output name, in the order above.
OUTPUT_NAMES: dict[str, str] = {
    "region": REGION,
    "artifact_bucket_name": ARTIFACT_BUCKET_NAME,
    "artifact_bucket_arn": ARTIFACT_BUCKET_ARN,
    "artifact_key_arn": ARTIFACT_KEY_ARN,
    "artifact_key_alias": ARTIFACT_KEY_ALIAS,
    "logger_function_name": LOGGER_FUNCTION_NAME,
    "logger_function_arn": LOGGER_FUNCTION_ARN,
    "logger_dlq_url": LOGGER_DLQ_URL,
    "logger_dlq_arn": LOGGER_DLQ_ARN,
    "notification_topic_arn": NOTIFICATION_TOPIC_ARN,
    "name_prefix": NAME_PREFIX,
    "environment": ENVIRONMENT,
    "health_alarm_name": HEALTH_ALARM_NAME,
    "health_alarm_arn": HEALTH_ALARM_ARN,
}
REGIONAL_OUTPUTS: tuple[str, ...] = tuple(OUTPUT_NAMES.values())

if {f.name for f in fields(RegionalOutputs)} != set(OUTPUT_NAMES):  # pragma: no cover - import-time guard
    raise RuntimeError("contract.OUTPUT_NAMES and RegionalOutputs disagree")


def export_regional(outputs: RegionalOutputs) -> None:
    """Export every contract output of a regional stack."""
    for field_name, output_name in OUTPUT_NAMES.items():
        pulumi.export(output_name, getattr(outputs, field_name))


def read_regional(reference: pulumi.StackReference) -> RegionalOutputs:
    """Read a regional stack's contract through ``require_output`` (fails if one is missing)."""
    values = {
        field_name: reference.require_output(output_name).apply(str) for field_name, output_name in OUTPUT_NAMES.items()
    }
    return RegionalOutputs(**values)
