"""Tags every taggable resource carries, applied once through the provider's ``default_tags``."""

from __future__ import annotations

import re
from collections.abc import Mapping

REQUIRED_TAG_KEYS: tuple[str, ...] = (
    "Project",
    "Environment",
    "Owner",
    "CostCenter",
    "ManagedBy",
    "Stack",
    "Region",
)

# AWS's common tag value rule (IAM, S3, Lambda, ...): letters, digits, spaces and _.:/=+-@, at most
# 256 characters. Config values that end up in tags are checked against it before use.
TAG_VALUE_PATTERN = re.compile(r"^[\w .:/=+\-@]{1,256}$")

# Resource types that accept ``tags`` in pulumi-aws 7 and so receive the provider's default tags.
# ``tests/test_tagging.py`` checks this set against the pulumi_aws classes (a type is taggable exactly
# when its class has a ``tags_all`` output), so the policy rule and the offline engine, which must not
# import every pulumi_aws module, agree with the provider.
TAGGABLE_TYPES: frozenset[str] = frozenset(
    {
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:cloudwatch/compositeAlarm:CompositeAlarm",
        "aws:codebuild/project:Project",
        "aws:codepipeline/pipeline:Pipeline",
        "aws:codestarconnections/connection:Connection",
        "aws:codestarnotifications/notificationRule:NotificationRule",
        "aws:dynamodb/table:Table",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:lambda/function:Function",
        "aws:s3/bucket:Bucket",
        "aws:scheduler/scheduleGroup:ScheduleGroup",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
    }
)

# Types regionflow creates that take no tags at all (checked by the same test).
UNTAGGABLE_TYPES: frozenset[str] = frozenset(
    {
        # CloudWatch dashboards have no tags in the CloudWatch API (PutDashboard takes none).
        "aws:cloudwatch/dashboard:Dashboard",
        "aws:cloudwatch/eventTarget:EventTarget",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:kms/alias:Alias",
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
        "aws:lambda/permission:Permission",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:scheduler/schedule:Schedule",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:sqs/queuePolicy:QueuePolicy",
    }
)


def default_tags(
    *,
    project: str,
    environment: str,
    owner: str,
    cost_center: str,
    stack: str,
    region: str,
) -> dict[str, str]:
    """The provider-level tags: identical keys on every stack so cost and ownership reports join up."""
    tags = {
        "Project": project,
        "Environment": environment,
        "Owner": owner,
        "CostCenter": cost_center,
        "ManagedBy": "pulumi",
        "Stack": stack,
        "Region": region,
    }
    return tags


def missing_tags(tags: Mapping[str, str] | None) -> list[str]:
    """Required tag keys that are absent or empty in ``tags``."""
    present = tags or {}
    return [key for key in REQUIRED_TAG_KEYS if not present.get(key)]
