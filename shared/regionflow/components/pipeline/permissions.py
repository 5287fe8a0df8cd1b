"""What the pipeline's deploy builds may do, and the permissions boundary that caps every role.

A deploy build runs ``pulumi up`` of one stack, so its role must be able to create and change that
stack's resources. It gets exactly the actions the stack's resource types need, on ARNs that carry
the stack's name prefix (``<prefix>-<environment>-<region code>-``), plus the state bucket and the
secrets key. IAM is the dangerous part: a deploy that could create any role could create one with
more rights than itself. So role creation and every change of a role's policies is conditioned on
``iam:PermissionsBoundary`` being the boundary policy this stack creates (:class:`DeployBoundary`),
and the boundary itself denies changing or removing boundaries and the boundary policy. Whatever a
deploy creates, and whatever it changes, stays inside the boundary: it can never raise its own rights.

The boundary is written with ARN patterns (not the ARNs of this stack's resources) because it must
already allow what a later deploy creates, e.g. the log group of a region added next month.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from regionflow import iam
from regionflow.lambda_layers import POWERTOOLS_LAYER_ACCOUNT
from regionflow.naming import NameKind, Namer
from regionflow.regions import PARTITION

# Where the self-managed backend keeps everything (stacks, history, backups, locks, meta.yaml).
STATE_PREFIX = ".pulumi/"


@dataclass(frozen=True)
class StateAccess:
    """The self-managed backend: its bucket and the two keys of `regionflow bootstrap`."""

    bucket_arn: pulumi.Input[str]
    state_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]


def state_statements(state: StateAccess, *, write: bool) -> list[iam.Statement]:
    """Read (preview) or read-write (up) the backend's objects, and use its keys."""
    objects = pulumi.Output.concat(state.bucket_arn, "/", STATE_PREFIX, "*")
    object_actions = ["s3:GetObject", "s3:GetObjectVersion"]
    if write:
        object_actions += ["s3:PutObject", "s3:DeleteObject"]
    statements = [
        iam.Statement(
            sid="ListStateBucket", actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[state.bucket_arn]
        ),
        iam.Statement(sid="ReadWriteState" if write else "ReadState", actions=object_actions, resources=[objects]),
        iam.Statement(
            sid="UseStateKey", actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[state.state_key_arn]
        ),
        iam.Statement(
            sid="UseSecretsKey",
            # awskms: Decrypt unwraps the stack's data key; Encrypt/GenerateDataKey make a new one
            # when a stack's secrets are re-keyed (writes only).
            actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"],
            resources=[state.secrets_key_arn],
        ),
    ]
    if not write:
        # `pulumi preview` still takes the stack lock in the self-managed backend.
        statements.append(
            iam.Statement(
                sid="WriteLockFiles",
                actions=["s3:PutObject", "s3:DeleteObject"],
                resources=[pulumi.Output.concat(state.bucket_arn, "/", STATE_PREFIX, "locks/*")],
            )
        )
    return statements


def _arn(service: str, region: str, account: pulumi.Input[str], resource: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:", PARTITION, ":", service, ":", region, ":", account, ":", resource)


# The role management actions that accept the iam:PermissionsBoundary condition key (Service
# Authorization Reference, IAM): each is allowed only when the role carries the boundary.
BOUNDED_ROLE_ACTIONS: tuple[str, ...] = (
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
)
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
# What changes or removes a boundary: denied by the boundary itself.
BOUNDARY_TAMPERING_ACTIONS: tuple[str, ...] = (
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
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
) -> list[iam.Statement]:
    """What ``pulumi up`` of one regional stack (ArtifactStore + DeploymentLogger) needs, in its region."""
    region = namer.region
    base = namer.base
    logger_role = pulumi.Output.concat(
        "arn:", PARTITION, ":iam::", account, ":role/", namer.name(NameKind.IAM_ROLE, "deploy-logger")
    )
    return [
        iam.Statement(
            sid="ManageArtifactBucket",
            actions=[
                "s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:GetBucketLocation",
                "s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy",
                "s3:GetBucketVersioning", "s3:PutBucketVersioning",
                "s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration",
                "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration",
                "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock",
                "s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls",
                "s3:GetBucketTagging", "s3:PutBucketTagging",
                "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite", "s3:GetBucketLogging",
                "s3:GetBucketRequestPayment", "s3:GetBucketObjectLockConfiguration",
                "s3:GetReplicationConfiguration", "s3:GetAccelerateConfiguration", "s3:GetBucketNotification",
            ],
            resources=[f"arn:{PARTITION}:s3:::{base}-*"],
        ),
        iam.Statement(
            sid="CreateKeys",
            # kms:CreateKey has no resource type (first deploy of a region, or a replacement); in
            # UNSCOPABLE_ACTIONS. Limited to keys created in this region.
            actions=["kms:CreateKey"],
            resources=["*"],
            conditions=[iam.Condition("StringEquals", "aws:RequestedRegion", [region])],
        ),
        iam.Statement(
            sid="ManageRegionKey",
            actions=[
                "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
                "kms:EnableKeyRotation", "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource",
                "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:CreateAlias", "kms:UpdateAlias",
                "kms:DeleteAlias",
            ],
            resources=[region_key_arn, _arn("kms", region, account, f"alias/{base}-*")],
        ),
        iam.Statement(
            sid="GrantKeyToDynamoDb",
            # DynamoDB creates a grant on the table's CMK on the caller's behalf.
            actions=["kms:CreateGrant"],
            resources=[region_key_arn],
            conditions=[iam.Condition("Bool", "kms:GrantIsForAWSResource", ["true"])],
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
    ]  # fmt: skip


def pipeline_update_statements(
    namer: Namer,
    account: pulumi.Input[str],
    pipeline_arn: pulumi.Input[str],
    key_arns: Sequence[pulumi.Input[str]],
    boundary_arn: pulumi.Input[str],
) -> list[iam.Statement]:
    """What ``pulumi up`` of the pipeline stack itself needs (UpdatePipeline), scoped to its names.

    Every role of the pipeline stack carries the boundary, so the role statements below can change
    them while never letting a change exceed the boundary. The boundary policy is not in reach:
    the boundary denies changing it, so a boundary change is applied by a person (docs/pipeline.md).
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
    return [
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
            sid="ReadBoundaryPolicy",
            actions=["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions", "iam:ListPolicyTags"],
            resources=[boundary_arn],
        ),
        iam.Statement(
            sid="DescribeKeys",
            actions=["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"],
            resources=list(key_arns),
        ),
        iam.Statement(
            sid="ManageNotificationsAndMonitoring",
            # The topic, its rules and alarms of the monitoring components carry the name prefix.
            actions=[
                "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:TagResource",
                "sns:ListTagsForResource",
                "events:DescribeRule", "events:PutRule", "events:DeleteRule", "events:PutTargets",
                "events:RemoveTargets", "events:ListTargetsByRule", "events:TagResource",
                "events:ListTagsForResource",
                "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms",
                "cloudwatch:TagResource", "cloudwatch:ListTagsForResource",
                "scheduler:GetSchedule", "scheduler:UpdateSchedule", "scheduler:CreateSchedule",
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
            sid="ManageDashboards",
            actions=["cloudwatch:GetDashboard", "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"],
            resources=[pulumi.Output.concat("arn:", PARTITION, ":cloudwatch::", account, ":dashboard/", prefix, "*")],
        ),
        iam.Statement(
            sid="ReadConnection",
            actions=["codestar-connections:GetConnection", "codestar-connections:ListTagsForResource"],
            resources=[_arn("codestar-connections", home, account, "connection/*")],
        ),
    ]  # fmt: skip


@dataclass(frozen=True)
class DeployBoundaryArgs:
    namer: Namer
    account_id: pulumi.Input[str]
    state: StateAccess


class DeployBoundary(pulumi.ComponentResource):
    """The managed policy every role of the pipeline and regional stacks carries as its boundary."""

    policy: aws.iam.Policy
    arn: pulumi.Output[str]
    name: str

    def __init__(self, name: str, args: DeployBoundaryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("regionflow:pipeline:DeployBoundary", name, None, opts)
        self.name = args.namer.name(NameKind.IAM_POLICY, "deploy-boundary")
        self.policy = aws.iam.Policy(
            f"{name}-policy",
            name=self.name,
            description="Permissions boundary of every regionflow role: no role can exceed it or remove it",
            policy=iam.policy_document(boundary_statements(args.namer, args.account_id, args.state, self.name)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = self.policy.arn
        self.register_outputs({"arn": self.arn})


def boundary_statements(
    namer: Namer, account: pulumi.Input[str], state: StateAccess, boundary_name: str
) -> list[iam.Statement]:
    """The boundary: every service regionflow uses, on the name prefix's ARNs in any region."""
    prefix = f"{namer.prefix}-{namer.environment}-"
    any_region = "*"
    boundary_arn = pulumi.Output.concat("arn:", PARTITION, ":iam::", account, ":policy/", boundary_name)

    def arn(service: str, resource: str) -> pulumi.Output[str]:
        return _arn(service, any_region, account, resource)

    return [
        iam.Statement(
            sid="PrefixedResources",
            # The verb families (e.g. lambda:Get*) of exactly the actions regionflow's roles use
            # (boundary_actions), compact enough for IAM's 6,144-character managed policy limit.
            actions=boundary_action_families(),
            resources=[
                f"arn:{PARTITION}:s3:::{prefix}*",
                pulumi.Output.concat(f"arn:{PARTITION}:s3:::{prefix}*", "/*"),
                pulumi.Output.concat("arn:", PARTITION, ":iam::", account, ":role/", prefix, "*"),
                arn("lambda", f"function:{prefix}*"),
                arn("logs", f"log-group:/aws/*/{prefix}*"),
                arn("sqs", f"{prefix}*"),
                arn("sns", f"{prefix}*"),
                arn("dynamodb", f"table/{prefix}*"),
                arn("codebuild", f"project/{prefix}*"),
                arn("codepipeline", f"{prefix}*"),
                arn("events", f"rule/{prefix}*"),
                arn("cloudwatch", f"alarm:{prefix}*"),
                pulumi.Output.concat("arn:", PARTITION, ":cloudwatch::", account, ":dashboard/", prefix, "*"),
                arn("scheduler", f"schedule/*/{prefix}*"),
                arn("scheduler", f"schedule-group/{prefix}*"),
                arn("kms", f"alias/{prefix}*"),
                # Key, connection and notification-rule ARNs end in generated IDs, not names.
                arn("kms", "key/*"),
                arn("codestar-connections", "connection/*"),
                arn("codeconnections", "connection/*"),
                arn("codestar-notifications", "notificationrule/*"),
                f"arn:{PARTITION}:lambda:*:{POWERTOOLS_LAYER_ACCOUNT}:layer:AWSLambdaPowertoolsPythonV3-*",
            ],
        ),
        iam.Statement(
            sid="PassPrefixedRoles",
            actions=["iam:PassRole"],
            resources=[pulumi.Output.concat("arn:", PARTITION, ":iam::", account, ":role/", prefix, "*")],
            conditions=[iam.Condition("StringEquals", "iam:PassedToService", list(PASSED_TO_SERVICES))],
        ),
        iam.Statement(
            sid="StateBackend",
            actions=[
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:ListBucket",
                "s3:GetBucketLocation",
            ],
            resources=[state.bucket_arn, pulumi.Output.concat(state.bucket_arn, "/*")],
        ),
        iam.Statement(
            sid="Unscopable",
            actions=sorted(a for a in iam.UNSCOPABLE_ACTIONS),
            resources=["*"],
        ),
        iam.Statement(
            sid="DenyBoundaryTampering",
            effect="Deny",
            actions=BOUNDARY_TAMPERING_ACTIONS,
            resources=[boundary_arn, pulumi.Output.concat("arn:", PARTITION, ":iam::", account, ":role/*")],
        ),
        iam.Statement(
            sid="DenyRolesWithoutBoundary",
            effect="Deny",
            actions=list(BOUNDED_ROLE_ACTIONS),
            resources=[pulumi.Output.concat("arn:", PARTITION, ":iam::", account, ":role/*")],
            conditions=[iam.Condition("StringNotEquals", "iam:PermissionsBoundary", [boundary_arn])],
        ),
    ]


PASSED_TO_SERVICES: tuple[str, ...] = (
    "lambda.amazonaws.com",
    "codepipeline.amazonaws.com",
    "codebuild.amazonaws.com",
    "scheduler.amazonaws.com",
)

# Actions of roles outside this module: the pipeline role, every build project, the logger
# (components/deployment_logger.py) and the drift build (drift.READ_SCOPES and its own statements).
OTHER_ROLE_ACTIONS: tuple[str, ...] = (
    "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:GetBucketVersioning", "s3:GetBucketLocation",
    "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey",
    "codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild", "lambda:InvokeFunction",
    "sns:Publish", "codestar-connections:UseConnection", "codeconnections:UseConnection",
    "codestar-connections:GetConnectionToken", "codestar-connections:GetConnection",
    "codeconnections:GetConnectionToken", "codeconnections:GetConnection",
    "logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
)  # fmt: skip


def boundary_actions() -> set[str]:
    """Every action a regionflow role is granted (outside UNSCOPABLE_ACTIONS and iam:PassRole)."""
    from regionflow.components.pipeline.drift import KEY_READ_ACTIONS, READ_SCOPES

    namer = Namer("x", "x", "us-east-1")
    state = StateAccess("b", "k", "k")
    statements = [
        *regional_deploy_statements(namer, "0", "k", "b"),
        *pipeline_update_statements(namer, "0", "p", ["k"], "b"),
        *state_statements(state, write=True),
        *state_statements(state, write=False),
    ]
    actions = {a for s in statements if s.effect == "Allow" for a in s.actions}
    actions |= set(OTHER_ROLE_ACTIONS) | set(KEY_READ_ACTIONS)
    actions |= {a for scope in READ_SCOPES for a in scope.actions}
    return {a for a in actions if a not in iam.UNSCOPABLE_ACTIONS and a != "iam:PassRole"}


def boundary_action_families() -> list[str]:
    """``service:Verb*`` for each leading verb of :func:`boundary_actions`, e.g. ``lambda:Get*``."""
    families = set()
    for action in boundary_actions():
        service, name = action.split(":", 1)
        verb = re.match(r"[A-Z][a-z]*", name)
        families.add(f"{service}:{verb.group(0) if verb else name.rstrip('*')}*")
    return sorted(families)
