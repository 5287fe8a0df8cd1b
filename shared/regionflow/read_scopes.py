"""What a refresh of regionflow's stacks reads: one table, shared by every read-only role.

Two roles preview every stack with a refresh (``pulumi preview --refresh``), which reads each live
resource through the provider's Read: the nightly drift build (a Pulumi resource of the pipeline stack,
whose account is an Output) and the pull-request preview role that ``regionflow bootstrap`` creates with
boto3 (plain strings). Both take their statements from :data:`READ_SCOPES` through
:func:`read_scope_statements`, so a resource type added to the stacks is added here once and both roles
can read it.

Patterns hold ``{partition}``, ``{account}`` and ``{prefix}`` (the family's ``<prefix>-<environment>-``);
they cover every region ("*") because the stacks span regions, and the account and the name prefix keep
them to this family's resources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from regionflow import iam
from regionflow.regions import PARTITION


@dataclass(frozen=True)
class ReadScope:
    """Read-only actions of one service, on ARN patterns (``{account}``, ``{prefix}``, ``{partition}``)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]


# What a refresh of the stacks' resource types reads, per service. Patterns use every region ("*")
# because the stacks span regions; the account and the name prefix keep them to these stacks.
READ_SCOPES: tuple[ReadScope, ...] = (
    ReadScope(
        "ReadStackBuckets",
        # Every read of the bucket's refresh (terraform-provider-aws internal/service/s3/bucket.go
        # resourceBucketRead fails on AccessDenied for each; HeadBucket is s3:ListBucket) and of its
        # split-out resources (public access block, ownership controls). s3:GetBucket* would miss
        # GetAccelerateConfiguration, GetReplicationConfiguration, GetLifecycleConfiguration and
        # GetEncryptionConfiguration.
        ("s3:ListBucket", "s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite",
         "s3:GetBucketVersioning", "s3:GetAccelerateConfiguration", "s3:GetBucketRequestPayment",
         "s3:GetBucketLogging", "s3:GetLifecycleConfiguration", "s3:GetReplicationConfiguration",
         "s3:GetEncryptionConfiguration", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketTagging",
         "s3:GetBucketPublicAccessBlock", "s3:GetBucketOwnershipControls"),
        # The artifact buckets' ARNs only: not their objects, and never the state bucket, which shares the prefix.
        ("arn:{partition}:s3:::{prefix}*-artifacts-{account}",),
    ),
    ReadScope(
        "ReadStackRolesAndPolicies",
        ("iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
         "iam:ListRoleTags", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:ListPolicyTags"),
        ("arn:{partition}:iam::{account}:role/{prefix}*", "arn:{partition}:iam::{account}:policy/{prefix}*"),
    ),
    ReadScope(
        "ReadStackFunctions",
        ("lambda:GetFunction", "lambda:GetFunctionConfiguration", "lambda:GetFunctionCodeSigningConfig",
         "lambda:GetFunctionConcurrency", "lambda:GetFunctionEventInvokeConfig", "lambda:GetPolicy",
         "lambda:GetRuntimeManagementConfig", "lambda:GetFunctionRecursionConfig", "lambda:ListVersionsByFunction",
         "lambda:ListTags"),
        ("arn:{partition}:lambda:*:{account}:function:{prefix}*",),
    ),
    ReadScope(
        "ReadStackLogGroups",
        ("logs:ListTagsForResource", "logs:ListTagsLogGroup"),
        ("arn:{partition}:logs:*:{account}:log-group:{prefix}*",
         "arn:{partition}:logs:*:{account}:log-group:/aws/*/{prefix}*"),
    ),
    ReadScope(
        "ReadStackQueues",
        ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"),
        ("arn:{partition}:sqs:*:{account}:{prefix}*",),
    ),
    ReadScope(
        "ReadStackTopics",
        ("sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:ListSubscriptionsByTopic",
         "sns:GetDataProtectionPolicy"),
        ("arn:{partition}:sns:*:{account}:{prefix}*",),
    ),
    ReadScope(
        "ReadStackTables",
        ("dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:DescribeContinuousBackups",
         "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy"),
        ("arn:{partition}:dynamodb:*:{account}:table/{prefix}*",),
    ),
    ReadScope(
        "ReadStackAlarmsAndDashboards",
        ("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:GetDashboard"),
        ("arn:{partition}:cloudwatch:*:{account}:alarm:{prefix}*",
         "arn:{partition}:cloudwatch::{account}:dashboard/{prefix}*"),
    ),
    ReadScope(
        "ReadStackEventRules",
        ("events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource"),
        ("arn:{partition}:events:*:{account}:rule/{prefix}*",),
    ),
    ReadScope(
        "ReadStackSchedules",
        ("scheduler:GetSchedule", "scheduler:GetScheduleGroup", "scheduler:ListTagsForResource"),
        ("arn:{partition}:scheduler:*:{account}:schedule/*/{prefix}*",
         "arn:{partition}:scheduler:*:{account}:schedule-group/{prefix}*"),
    ),
    ReadScope(
        "ReadStackBuildProjects",
        ("codebuild:BatchGetProjects",),
        ("arn:{partition}:codebuild:*:{account}:project/{prefix}*",),
    ),
    ReadScope(
        "ReadStackPipelines",
        ("codepipeline:GetPipeline", "codepipeline:ListTagsForResource"),
        ("arn:{partition}:codepipeline:*:{account}:{prefix}*",),
    ),
    ReadScope(
        "UnscopedReads",
        ("logs:DescribeLogGroups", "sns:GetSubscriptionAttributes"),
        # No resource type exists for these two (regionflow.iam.UNSCOPABLE_ACTIONS has the reasons).
        ("*",),
    ),
    ReadScope(
        "ReadStackConnectionsAndNotifications",
        ("codestar-connections:GetConnection", "codestar-connections:ListTagsForResource",
         "codestar-notifications:DescribeNotificationRule", "codestar-notifications:ListTagsForResource"),
        # Connection and notification-rule ARNs end in a generated ID, not a name: account-wide.
        ("arn:{partition}:codestar-connections:*:{account}:connection/*",
         "arn:{partition}:codestar-notifications:*:{account}:notificationrule/*"),
    ),
)  # fmt: skip

KEY_READ_ACTIONS: tuple[str, ...] = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
)


def fill_pattern(pattern: str, account: str, prefix: str) -> str:
    """A READ_SCOPES pattern for this partition, account and family prefix (``<prefix>-<environment>-``)."""
    return pattern.format(partition=PARTITION, account=account, prefix=prefix)


def read_scope_statements(fill: Callable[[str], Any]) -> list[iam.Statement]:
    """One statement per :data:`READ_SCOPES` entry, each resource pattern passed through ``fill``.

    ``fill`` returns the pattern filled in: a plain string for boto3 callers
    (``lambda p: fill_pattern(p, account, prefix)``) or a ``pulumi.Output`` when the account is one.
    """
    return [
        iam.Statement(sid=scope.sid, actions=scope.actions, resources=[fill(pattern) for pattern in scope.resources])
        for scope in READ_SCOPES
    ]
