"""What the pipeline's roles may do: the deploy builds, UpdatePipeline, and their state backend access.

A deploy build runs ``pulumi up`` of one stack, so its role must be able to create and change that
stack's resources. It gets exactly the actions the stack's resource types need, on ARNs that carry
the stack's name prefix (``<prefix>-<environment>-<region code>-``), plus that stack's objects in the
state bucket and the secrets key. IAM is the dangerous part: a deploy that could create any role could
create one with more rights than itself. So role creation and every change of a role's policies is
conditioned on ``iam:PermissionsBoundary`` being the account's regionflow boundary
(:mod:`regionflow.boundary`, created by ``regionflow bootstrap``), and the boundary itself denies
changing or removing boundaries. Whatever a deploy creates, and whatever it changes, stays inside the
boundary: it can never raise its own rights.

Where an action's needs come from: the Terraform AWS provider that pulumi-aws wraps
(hashicorp/terraform-provider-aws ``internal/service/<service>/<resource>.go``); ``regionflow iam-check``
holds the table of calls per resource type and proves these statements cover it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from regionflow import iam
from regionflow.boundary import BOUNDARY_READ_ACTIONS, BOUNDED_ROLE_ACTIONS
from regionflow.lambda_layers import POWERTOOLS_LAYER_ACCOUNT
from regionflow.naming import NameKind, Namer
from regionflow.offline.discovery import ORGANIZATION
from regionflow.regions import PARTITION

# The self-managed backend's layout with project-scoped stacks (meta.yaml version 1), from pulumi/pulumi
# pkg/backend/diy/store.go (projectReferenceStore), state.go (stackPath, backupStack, addToHistory) and
# lock.go (lockPath): per stack, its checkpoint and companions (.json, .json.bak, .pulumi-tags, compressed
# variants) under stacks/<project>/<stack>.*, and its own history, backups, journal and lock folders.
STATE_PREFIX = ".pulumi/"
META_OBJECT = ".pulumi/meta.yaml"


@dataclass(frozen=True)
class StateAccess:
    """The self-managed backend: its bucket and the two keys of `regionflow bootstrap`."""

    bucket_arn: pulumi.Input[str]
    state_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]


def stack_state_objects(project: str, stack: str) -> list[str]:
    """Object key patterns of one stack's state: everything an update of it reads and writes."""
    return [
        f"{STATE_PREFIX}stacks/{project}/{stack}.*",
        f"{STATE_PREFIX}history/{project}/{stack}/*",
        f"{STATE_PREFIX}backups/{project}/{stack}/*",
        f"{STATE_PREFIX}journal/{project}/{stack}/*",
        f"{STATE_PREFIX}locks/{ORGANIZATION}/{project}/{stack}/*",
    ]


def state_statements(
    state: StateAccess, *, write: Sequence[tuple[str, str]] = (), read_projects: Sequence[str] = ()
) -> list[iam.Statement]:
    """Read the stacks of ``read_projects``; read and write the ``write`` stacks (``(project, stack)`` pairs).

    Writes are limited to the exact stacks a role deploys: no deploy can rewrite another stack's state.
    Reads (previews, StackReferences) are granted per project (``.pulumi/stacks/<project>/*``), which keeps a
    policy the same size for 1 or 29 regions; a checkpoint's secrets stay encrypted with the secrets key.

    * ``pulumi preview`` (also ``--refresh``) takes no lock in the self-managed backend, so read-only roles
      write nothing (pulumi/pulumi pkg/backend/diy/backend.go: Preview goes to apply without b.Lock).
    * Every command reads ``.pulumi/meta.yaml`` and lists ``.pulumi/stacks/`` (pkg/backend/diy/meta.go,
      backend.go); ListBucket reveals key names only, so it is not narrowed by prefix.
    * A StackReference reads the referenced stack's checkpoint only (pkg/backend/backend.go GetStackOutputs).
    * awskms: reading or writing a stack decrypts its data key (kms:Decrypt); new secret values are
      encrypted locally with that key, so no role needs kms:Encrypt on the secrets key
      (pkg/secrets/cloud/manager.go). Only `pulumi stack init`, done by a person, calls Encrypt.
    """
    write_keys = sorted({key for project, stack in write for key in stack_state_objects(project, stack)})
    read_keys = sorted({f"{STATE_PREFIX}stacks/{project}/*" for project in read_projects})

    def objects(keys: Sequence[str]) -> list[pulumi.Output[str]]:
        return [pulumi.Output.concat(state.bucket_arn, "/", key) for key in keys]

    statements = [
        iam.Statement(
            sid="ListStateBucket", actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[state.bucket_arn]
        ),
        iam.Statement(
            sid="ReadStateOfStacks",
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=objects([META_OBJECT, *read_keys, *write_keys]),
        ),
    ]
    if write_keys:
        statements.append(
            iam.Statement(
                sid="WriteStateOfOwnStacks", actions=["s3:PutObject", "s3:DeleteObject"], resources=objects(write_keys)
            )
        )
    statements += [
        iam.Statement(
            sid="UseStateKey",
            # SSE-KMS on the state bucket: reads decrypt, writes make a data key.
            actions=["kms:Decrypt", "kms:GenerateDataKey"] if write_keys else ["kms:Decrypt"],
            resources=[state.state_key_arn],
        ),
        iam.Statement(sid="DecryptStackSecrets", actions=["kms:Decrypt"], resources=[state.secrets_key_arn]),
    ]
    return statements


def _concat(*parts: pulumi.Input[str]) -> pulumi.Input[str]:
    """Plain strings stay a plain string (the target bootstrap renders these statements for boto3); else an Output."""
    if all(isinstance(part, str) for part in parts):
        return "".join(str(part) for part in parts)
    return pulumi.Output.concat(*parts)


def _arn(service: str, region: str, account: pulumi.Input[str], resource: str) -> pulumi.Input[str]:
    return _concat("arn:", PARTITION, ":", service, ":", region, ":", account, ":", resource)


ROLE_READ_ACTIONS: tuple[str, ...] = (
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListRoleTags",
    "iam:ListInstanceProfilesForRole",
)
ROLE_UPDATE_ACTIONS: tuple[str, ...] = (
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteRole",
)


def role_statements(
    sid: str,
    role_arns: Sequence[pulumi.Input[str]],
    boundary_arn: pulumi.Input[str],
    passed_to: Sequence[str],
) -> list[iam.Statement]:
    """Manage the given roles: changes only while they carry the boundary; pass them to ``passed_to``."""
    return [
        iam.Statement(
            sid=f"{sid}WithBoundary",
            actions=BOUNDED_ROLE_ACTIONS,
            resources=role_arns,
            conditions=[iam.Condition("StringEquals", "iam:PermissionsBoundary", [boundary_arn])],
        ),
        iam.Statement(sid=f"{sid}ReadAndUpdate", actions=ROLE_READ_ACTIONS + ROLE_UPDATE_ACTIONS, resources=role_arns),
        iam.Statement(
            sid=f"{sid}Pass",
            actions=["iam:PassRole"],
            resources=role_arns,
            conditions=[iam.Condition("StringEquals", "iam:PassedToService", list(passed_to))],
        ),
    ]


def regional_deploy_statements(
    namer: Namer,
    account: pulumi.Input[str],
    region_key_arn: pulumi.Input[str],
    boundary_arn: pulumi.Input[str],
    *,
    home_region: bool,
) -> list[iam.Statement]:
    """What ``pulumi up`` of one regional stack (ArtifactStore + DeploymentLogger) needs, in its region.

    ``home_region``: the primary stack also routes the pipeline's state-change events to its logger
    (an EventBridge rule, its target and the function's permission for it).

    Keys are never created here: ``kms:CreateKey`` has no resource type, and a new key's policy must let the
    caller PutKeyPolicy (CreateKey's lockout safety check) and its default tags need ``kms:TagResource`` on
    every key of the region (KMS developer guide, "Managing KMS key tags with API operations"). Granting
    both would let a deploy rewrite the policy of any key in the region, the state and secrets keys
    included. A region's key is made once by its owner's first ``pulumi up``; replacing it is a person's
    job too (docs/pipeline.md, "Replacing a region's key").
    """
    region = namer.region
    base = namer.base
    logger_role = _concat(
        "arn:", PARTITION, ":iam::", account, ":role/", namer.name(NameKind.IAM_ROLE, "deploy-logger")
    )
    # The artifact bucket by its exact name (Namer.bucket): never the state bucket, which shares the prefix.
    bucket = _concat("arn:", PARTITION, ":s3:::", base, "-artifacts-", account)
    statements = [
        iam.Statement(
            sid="ManageArtifactBucket",
            # The bucket's refresh (terraform-provider-aws internal/service/s3/bucket.go resourceBucketRead)
            # calls all fifteen reads below and fails on AccessDenied for any of them; s3:GetBucket* would
            # not match GetAccelerateConfiguration, GetReplicationConfiguration, GetLifecycleConfiguration
            # or GetEncryptionConfiguration. HeadBucket is s3:ListBucket.
            actions=[
                "s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket",
                "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
                "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite", "s3:GetBucketLogging",
                "s3:GetBucketRequestPayment", "s3:GetBucketObjectLockConfiguration",
                "s3:GetAccelerateConfiguration", "s3:GetReplicationConfiguration",
                "s3:GetBucketVersioning", "s3:PutBucketVersioning",
                "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
                "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration",
                "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
                "s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls",
                "s3:GetBucketTagging", "s3:PutBucketTagging",
            ],
            resources=[bucket],
        ),
        iam.Statement(
            sid="ManageRegionKey",
            # terraform-provider-aws internal/service/kms/key.go: the refresh calls DescribeKey, GetKeyPolicy,
            # GetKeyRotationStatus and ListResourceTags; updates EnableKeyRotation, UpdateKeyDescription,
            # PutKeyPolicy and the tags. The alias needs the key and the alias ARN.
            actions=[
                "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
                "kms:EnableKeyRotation", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource",
                "kms:UpdateKeyDescription", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
            ],
            resources=[region_key_arn, _arn("kms", region, account, f"alias/{base}-*")],
        ),
        iam.Statement(
            sid="GrantKeyToServices",
            # DynamoDB (the table's SSE) and Lambda (the function's environment variables) create grants on
            # the region's key with the caller's rights (Lambda developer guide, "Securing environment variables").
            actions=["kms:CreateGrant"],
            resources=[region_key_arn],
            conditions=[iam.Condition("Bool", "kms:GrantIsForAWSResource", ["true"])],
        ),
        iam.Statement(
            sid="UseRegionKeyThroughServices",
            # Lambda encrypts the environment with the caller's kms:Encrypt and returns it in clear on a read
            # only when the caller may kms:Decrypt (Lambda developer guide, "Securing environment
            # variables"); CloudWatch Logs makes KMS calls for its callers (Logs user guide, "Encrypt log data
            # in CloudWatch Logs using AWS KMS", kms:ViaService).
            actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
            resources=[region_key_arn],
            conditions=[
                iam.Condition(
                    "StringEquals", "kms:ViaService", [f"lambda.{region}.amazonaws.com", f"logs.{region}.amazonaws.com"]
                )
            ],
        ),
        iam.Statement(sid="ListKeyAliases", actions=["kms:ListAliases"], resources=["*"]),
        *role_statements("LoggerRole", [logger_role], boundary_arn, ["lambda.amazonaws.com"]),
        iam.Statement(
            sid="ManageLoggerFunction",
            actions=[
                "lambda:CreateFunction", "lambda:DeleteFunction", "lambda:GetFunction",
                "lambda:GetFunctionConfiguration", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
                "lambda:ListVersionsByFunction", "lambda:GetFunctionCodeSigningConfig", "lambda:GetPolicy",
                "lambda:TagResource", "lambda:UntagResource", "lambda:ListTags",
                "lambda:PutFunctionEventInvokeConfig", "lambda:UpdateFunctionEventInvokeConfig",
                "lambda:GetFunctionEventInvokeConfig", "lambda:DeleteFunctionEventInvokeConfig",
                "lambda:GetRuntimeManagementConfig", "lambda:GetFunctionRecursionConfig",
                "lambda:GetFunctionConcurrency",
                *(["lambda:AddPermission", "lambda:RemovePermission"] if home_region else []),
            ],
            resources=[_arn("lambda", region, account, f"function:{base}-*")],
        ),
        iam.Statement(
            sid="UsePowertoolsLayer",
            actions=["lambda:GetLayerVersion"],
            resources=[
                f"arn:{PARTITION}:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:AWSLambdaPowertoolsPythonV3-*"
            ],
        ),
        iam.Statement(
            sid="ManageLoggerLogGroup",
            actions=[
                "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy", "logs:AssociateKmsKey", "logs:DisassociateKmsKey",
                "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource",
                "logs:TagLogGroup", "logs:ListTagsLogGroup",
            ],
            resources=[_arn("logs", region, account, f"log-group:/aws/lambda/{base}-*")],
        ),
        iam.Statement(
            sid="UnscopedReads",
            # No resource type exists for these (iam.UNSCOPABLE_ACTIONS): log groups are read by
            # name prefix, subscriptions are managed by their own ARNs, which SNS does not authorise.
            actions=["logs:DescribeLogGroups", "sns:GetSubscriptionAttributes", "sns:Unsubscribe"],
            resources=["*"],
        ),
        iam.Statement(
            sid="ManageLoggerQueue",
            actions=[
                "sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes",
                "sqs:GetQueueUrl", "sqs:TagQueue", "sqs:UntagQueue", "sqs:ListQueueTags",
            ],
            resources=[_arn("sqs", region, account, f"{base}-*")],
        ),
        iam.Statement(
            sid="ManageLoggerTopic",
            actions=[
                "sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:GetDataProtectionPolicy",
                "sns:TagResource", "sns:UntagResource", "sns:ListTagsForResource",
            ],
            resources=[_arn("sns", region, account, f"{base}-*")],
        ),
        iam.Statement(
            sid="ManageLoggerTable",
            actions=[
                "dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
                "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive", "dynamodb:DescribeContinuousBackups",
                "dynamodb:UpdateContinuousBackups", "dynamodb:TagResource", "dynamodb:UntagResource",
                "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy",
            ],
            resources=[_arn("dynamodb", region, account, f"table/{base}-*")],
        ),
        iam.Statement(
            sid="ManageHealthAlarms",
            # The region's health (components/health.py): three metric alarms and the composite alarm.
            # terraform-provider-aws internal/service/cloudwatch/metric_alarm.go and composite_alarm.go: create and
            # update are PutMetricAlarm / PutCompositeAlarm, the refresh DescribeAlarms and ListTagsForResource,
            # delete DeleteAlarms, tags TagResource / UntagResource; all take the alarm ARN.
            actions=[
                "cloudwatch:PutMetricAlarm", "cloudwatch:PutCompositeAlarm", "cloudwatch:DescribeAlarms",
                "cloudwatch:DeleteAlarms", "cloudwatch:TagResource", "cloudwatch:UntagResource",
                "cloudwatch:ListTagsForResource",
            ],
            resources=[_arn("cloudwatch", region, account, f"alarm:{base}-*")],
        ),
    ]  # fmt: skip
    if home_region:
        statements.append(
            iam.Statement(
                sid="ManagePipelineEventRule",
                # The rule that sends the pipeline's state changes to the home region's logger.
                actions=[
                    "events:PutRule", "events:DescribeRule", "events:DeleteRule", "events:PutTargets",
                    "events:RemoveTargets", "events:ListTargetsByRule", "events:TagResource",
                    "events:UntagResource", "events:ListTagsForResource",
                ],
                resources=[_arn("events", region, account, f"rule/{base}-*")],
            )
        )
    return statements


def pipeline_update_statements(
    namer: Namer,
    account: pulumi.Input[str],
    pipeline_arn: pulumi.Input[str],
    key_arns: Sequence[pulumi.Input[str]],
    notifications_key_arn: pulumi.Input[str],
    connection_arn: pulumi.Input[str] | None,
    boundary_arn: pulumi.Input[str],
) -> list[iam.Statement]:
    """What ``pulumi up`` of the pipeline stack itself needs (UpdatePipeline), scoped to its names.

    Every role of the pipeline stack carries the boundary, so the role statements below can change
    them while never letting a change exceed the boundary. ``key_arns`` are the regional artifact keys,
    the home region's first (read: artifact stores and log groups name them; the drift schedule is
    encrypted with the home key); the notifications key is the stack's own.
    """
    prefix = f"{namer.prefix}-{namer.environment}-"
    role_pattern = pulumi.Output.concat("arn:", PARTITION, ":iam::", account, ":role/", prefix, "*")
    # The pipeline's projects, log groups, rules and alarms live in every deploy region; one ARN with
    # region "*" (still this account and the name prefix) keeps the policy the same size for 1 or 29
    # regions, under IAM's 10,240-character limit for a role's inline policies.
    any_region = "*"
    project_arns = [_arn("codebuild", any_region, account, f"project/{prefix}*")]
    log_groups = [_arn("logs", any_region, account, f"log-group:/aws/codebuild/{prefix}*")]
    home = namer.region
    statements = [
        iam.Statement(
            sid="UpdateOwnPipeline",
            actions=[
                "codepipeline:GetPipeline", "codepipeline:UpdatePipeline", "codepipeline:TagResource",
                "codepipeline:UntagResource", "codepipeline:ListTagsForResource",
                "codepipeline:StartPipelineExecution", "codepipeline:StopPipelineExecution",
                "codepipeline:GetPipelineExecution",
            ],
            resources=[pipeline_arn],
        ),
        iam.Statement(
            sid="ManageBuildProjects",
            actions=[
                "codebuild:CreateProject", "codebuild:UpdateProject", "codebuild:DeleteProject",
                "codebuild:BatchGetProjects",
            ],
            resources=project_arns,
        ),
        iam.Statement(
            sid="ManageBuildLogGroups",
            actions=[
                "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:AssociateKmsKey",
                "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource", "logs:TagLogGroup",
                "logs:ListTagsLogGroup",
            ],
            resources=log_groups,
        ),
        iam.Statement(
            sid="UnscopedReads",
            # No resource type exists for these (iam.UNSCOPABLE_ACTIONS).
            actions=["logs:DescribeLogGroups", "sns:GetSubscriptionAttributes", "sns:Unsubscribe"],
            resources=["*"],
        ),
        *role_statements(
            "PipelineRoles",
            [role_pattern],
            boundary_arn,
            ["codepipeline.amazonaws.com", "codebuild.amazonaws.com", "scheduler.amazonaws.com"],
        ),
        iam.Statement(
            sid="ReadRegionKeys",
            actions=["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"],
            resources=list(key_arns),
        ),
        iam.Statement(
            sid="UseRegionKeysThroughLogs",
            # A region added later gets its build project's log group here, encrypted with that region's key;
            # CloudWatch Logs calls KMS for its caller (Logs user guide, "Encrypt log data in CloudWatch Logs
            # using AWS KMS", kms:ViaService). Only through Logs, which this role reaches for its own log groups
            # only, so any key of the account: one size for any number of regions.
            actions=["kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"],
            resources=[_arn("kms", any_region, account, "key/*")],
            conditions=[iam.Condition("StringLike", "kms:ViaService", ["logs.*.amazonaws.com"])],
        ),
        iam.Statement(
            sid="EncryptScheduleWithHomeKey",
            # The drift schedule is encrypted with the home region's key: creating or updating it needs these
            # through Scheduler (EventBridge Scheduler user guide, "Encryption at rest").
            actions=["kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"],
            resources=[key_arns[0]],
            conditions=[iam.Condition("StringEquals", "kms:ViaService", [f"scheduler.{home}.amazonaws.com"])],
        ),
        iam.Statement(
            sid="ManageNotificationsKey",
            # The stack's own key (terraform-provider-aws internal/service/kms/key.go): a change of owner or
            # costCenter retags it, a change of its policy puts the policy. Never created here (see
            # regional_deploy_statements: CreateKey's lockout check and tag-on-create).
            actions=[
                "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
                "kms:EnableKeyRotation", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource",
                "kms:UpdateKeyDescription", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
            ],
            resources=[notifications_key_arn, _arn("kms", home, account, f"alias/{prefix}*")],
        ),
        iam.Statement(sid="ListKeyAliases", actions=["kms:ListAliases"], resources=["*"]),
        iam.Statement(
            sid="ManageNotificationsAndMonitoring",
            # The topic, its rules and alarms of the monitoring components carry the name prefix.
            actions=[
                "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:TagResource",
                "sns:UntagResource", "sns:ListTagsForResource", "sns:ListSubscriptionsByTopic",
                "sns:GetDataProtectionPolicy",
                "events:DescribeRule", "events:PutRule", "events:DeleteRule", "events:PutTargets",
                "events:RemoveTargets", "events:ListTargetsByRule", "events:TagResource",
                "events:UntagResource", "events:ListTagsForResource",
                "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms",
                "cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:ListTagsForResource",
                "scheduler:GetSchedule", "scheduler:UpdateSchedule", "scheduler:CreateSchedule",
                # Schedules take no tags (scheduler:TagResource applies to schedule groups only).
                "scheduler:DeleteSchedule",
            ],
            resources=[
                _arn("sns", any_region, account, f"{prefix}*"),
                _arn("events", any_region, account, f"rule/{prefix}*"),
                _arn("cloudwatch", any_region, account, f"alarm:{prefix}*"),
                _arn("scheduler", home, account, f"schedule/*/{prefix}*"),
            ],
        ),
        iam.Statement(
            sid="ManageNotificationTopic",
            # The notifications topic's create and delete (its replacement, when its name changes); the
            # pipeline and its GitHub connection are never created or deleted by this role (iamcheck/scope.yaml).
            actions=["sns:CreateTopic", "sns:DeleteTopic"],
            resources=[_arn("sns", home, account, f"{prefix}*")],
        ),
        iam.Statement(
            sid="ManageDashboards",
            actions=["cloudwatch:GetDashboard", "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"],
            resources=[pulumi.Output.concat("arn:", PARTITION, ":cloudwatch::", account, ":dashboard/", prefix, "*")],
        ),
    ]  # fmt: skip
    if connection_arn is not None:
        statements.append(
            iam.Statement(
                sid="ManageAndPassConnection",
                # The connection's refresh and retagging, and passing it: CodePipeline's source action and the
                # drift build's CodeConnections source. Each service prefix only matches connections of its own
                # ARN form, so both are granted (Developer Tools console user guide, "Identity and access
                # management for AWS CodeConnections"); PassConnection is scoped to this one connection's ARN.
                actions=[
                    "codestar-connections:GetConnection", "codestar-connections:ListTagsForResource",
                    "codestar-connections:TagResource", "codestar-connections:UntagResource",
                    "codestar-connections:PassConnection", "codestar-connections:UseConnection",
                    "codeconnections:GetConnection", "codeconnections:ListTagsForResource",
                    "codeconnections:TagResource", "codeconnections:UntagResource",
                    "codeconnections:PassConnection", "codeconnections:UseConnection",
                ],
                resources=[connection_arn],
            )
        )
    return statements


# Actions of roles outside this module: the pipeline role, every build project, the logger
# (components/deployment_logger.py) and the drift build (drift.READ_SCOPES and its own statements).
OTHER_ROLE_ACTIONS: tuple[str, ...] = (
    "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:GetBucketVersioning", "s3:GetBucketLocation",
    "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey",
    "codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild", "lambda:InvokeFunction",
    "sns:Publish", "codestar-connections:UseConnection", "codeconnections:UseConnection",
    "codestar-connections:GetConnectionToken", "codestar-connections:GetConnection",
    "codeconnections:GetConnectionToken", "codeconnections:GetConnection",
    "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
    # The pipeline role's bakes read the regions' health alarms (pipeline.pipeline_role_statements).
    "cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory",
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
)  # fmt: skip


def all_role_actions() -> set[str]:
    """Every action any regionflow role is granted: what the boundary's verb families must cover."""
    from regionflow.components.pipeline.drift import KEY_READ_ACTIONS, READ_SCOPES

    namer = Namer("x", "x", "us-east-1")
    state = StateAccess("b", "k", "k")
    statements = [
        *regional_deploy_statements(namer, "0", "k", "b", home_region=True),
        *pipeline_update_statements(namer, "0", "p", ["k"], "k", "c", "b"),
        *state_statements(state, write=[("p", "s")], read_projects=["p"]),
    ]
    actions = {a for s in statements if s.effect == "Allow" for a in s.actions}
    actions |= set(OTHER_ROLE_ACTIONS) | set(KEY_READ_ACTIONS) | set(BOUNDARY_READ_ACTIONS)
    actions |= {a for scope in READ_SCOPES for a in scope.actions}
    return actions
