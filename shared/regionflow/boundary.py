"""The permissions boundary every regionflow role carries, as one pure document.

Every role regionflow creates (the regional loggers, the pipeline's roles, drift detection, the
pull-request preview role) carries one customer-managed policy as its permissions boundary, and every
deploy role may only create or change roles that carry it. So no deploy can ever give a role more
rights than the boundary, its own included.

The boundary belongs to the account, not to a stack: ``regionflow bootstrap`` creates it with boto3,
next to the state bucket and the secrets key, before any stack exists. That is what lets a region
owner's first ``pulumi up`` by hand, the pipeline's deploys, its Preview stage, drift detection and
``regionflow deploy`` all compute the same program: each derives the boundary's ARN from the
repository's naming (account, name prefix, environment), and none writes it into config. (CDK
bootstrap owns its permissions boundary for the same reason.)

The document is a pure function of the partition, account, name prefix and environment, with ARN
patterns rather than the ARNs of today's resources, because it must already allow what a later deploy
creates, e.g. the log group of a region added next month. It

* allows the verb families of exactly the actions regionflow's roles are granted, on the ARNs the
  ``<prefix>-<environment>-`` family owns (the artifact buckets, never the state bucket, for S3);
* allows the state objects of the backend's buckets;
* denies every change to a state bucket's own configuration (policy, versioning, encryption, lifecycle,
  deletion, ...): only objects may be read and written there;
* denies changing or removing any boundary, and creating or changing a role without this one.
"""

from __future__ import annotations

import re

from regionflow import iam
from regionflow.lambda_layers import POWERTOOLS_LAYER_ACCOUNT
from regionflow.naming import STATE_BUCKET_PURPOSE, NameKind, checked_name
from regionflow.regions import PARTITION

BOUNDARY_PURPOSE = "deploy-boundary"
# Every role `bootstrap --target` makes is named <prefix>-<env>-[<code>-]pipeline-<what> (regionflow.accounts).
TARGET_ROLE_MARKER = "pipeline-"
_BOUNDARY_ARN = re.compile(
    rf"^arn:{PARTITION}:iam::(?P<account>\d{{12}}):policy/(?P<prefix>[a-z][a-z0-9-]*)-(?P<environment>[a-z][a-z0-9]*)"
    rf"-{BOUNDARY_PURPOSE}$"
)
ARTIFACT_BUCKET_PURPOSE = "artifacts"

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
# What changes or removes a boundary: denied by the boundary itself.
BOUNDARY_TAMPERING_ACTIONS: tuple[str, ...] = (
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
)
# What reading the boundary's document takes (aws iam get-policy, get-policy-version).
BOUNDARY_READ_ACTIONS: tuple[str, ...] = ("iam:GetPolicy", "iam:GetPolicyVersion")
PASSED_TO_SERVICES: tuple[str, ...] = (
    "lambda.amazonaws.com",
    "codepipeline.amazonaws.com",
    "codebuild.amazonaws.com",
    "scheduler.amazonaws.com",
)
# What the self-managed backend does to a state bucket: objects are read (GetObject, also behind HeadObject),
# written (PutObject, also behind CopyObject with GetObject) and deleted (locks), and keys are listed
# (ListObjectsV2). Source: pulumi/pulumi pkg/backend/diy/{lock,state,store}.go over google/go-cloud
# blob/s3blob/s3blob.go. Everything else on a state bucket is denied by the boundary.
STATE_OBJECT_ACTIONS: tuple[str, ...] = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:ListBucket",
    "s3:GetBucketLocation",
)


def family_prefix(name_prefix: str, environment: str) -> str:
    """``<prefix>-<environment>-``: the start of every physical name of one stack family, in every region."""
    return f"{name_prefix}-{environment}-"


def boundary_name(name_prefix: str, environment: str) -> str:
    """The boundary policy's name: one per account, name prefix and environment (IAM names are global)."""
    return checked_name(NameKind.IAM_POLICY, f"{family_prefix(name_prefix, environment)}{BOUNDARY_PURPOSE}")


def boundary_arn(account_id: str, name_prefix: str, environment: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:policy/{boundary_name(name_prefix, environment)}"


def parse_boundary_arn(arn: str) -> tuple[str, str, str] | None:
    """``(account, name prefix, environment)`` of a regionflow boundary ARN, or None for any other ARN.

    The environment holds no hyphen (regionflow.config.ENVIRONMENT_PATTERN), so it is the last segment
    before the purpose; the name prefix is what comes before it.
    """
    match = _BOUNDARY_ARN.match(arn)
    if match is None:
        return None
    return match["account"], match["prefix"], match["environment"]


def state_bucket_pattern(account_id: str, name_prefix: str, environment: str) -> str:
    """ARN pattern of the family's state buckets in any region: ``<prefix>-<env>-<code>-pulumi-state-<account>``."""
    family = family_prefix(name_prefix, environment)
    return f"arn:{PARTITION}:s3:::{family}*-{STATE_BUCKET_PURPOSE}-{account_id}"


def artifact_bucket_pattern(account_id: str, name_prefix: str, environment: str) -> str:
    """ARN pattern of the regional artifact buckets: ``<prefix>-<env>-<code>-artifacts-<account>``."""
    family = family_prefix(name_prefix, environment)
    return f"arn:{PARTITION}:s3:::{family}*-{ARTIFACT_BUCKET_PURPOSE}-{account_id}"


def boundary_statements(account_id: str, name_prefix: str, environment: str) -> list[iam.Statement]:
    """The boundary's statements, all plain strings (see the module docstring)."""
    prefix = family_prefix(name_prefix, environment)
    this_boundary = boundary_arn(account_id, name_prefix, environment)
    any_role = f"arn:{PARTITION}:iam::{account_id}:role/*"
    family_roles = f"arn:{PARTITION}:iam::{account_id}:role/{prefix}*"
    artifacts = artifact_bucket_pattern(account_id, name_prefix, environment)
    state = state_bucket_pattern(account_id, name_prefix, environment)

    def arn(service: str, resource: str) -> str:
        return f"arn:{PARTITION}:{service}:*:{account_id}:{resource}"

    return [
        iam.Statement(
            sid="PrefixedResources",
            # The verb families (e.g. lambda:Get*) of exactly the actions regionflow's roles use
            # (boundary_actions), compact enough for IAM's 6,144-character managed policy limit.
            actions=boundary_action_families(),
            resources=[
                artifacts,
                f"{artifacts}/*",
                family_roles,
                arn("lambda", f"function:{prefix}*"),
                arn("logs", f"log-group:/aws/*/{prefix}*"),
                arn("sqs", f"{prefix}*"),
                arn("sns", f"{prefix}*"),
                arn("dynamodb", f"table/{prefix}*"),
                arn("codebuild", f"project/{prefix}*"),
                arn("codepipeline", f"{prefix}*"),
                arn("events", f"rule/{prefix}*"),
                arn("cloudwatch", f"alarm:{prefix}*"),
                f"arn:{PARTITION}:cloudwatch::{account_id}:dashboard/{prefix}*",
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
            resources=[family_roles],
            conditions=[iam.Condition("StringEquals", "iam:PassedToService", list(PASSED_TO_SERVICES))],
        ),
        iam.Statement(sid="StateBackendObjects", actions=STATE_OBJECT_ACTIONS, resources=[state, f"{state}/*"]),
        iam.Statement(
            sid="ArtifactStoresOfOtherAccounts",
            # Regions in their owners' accounts keep their artifact store there (regionflow.accounts): the pipeline
            # role and the deploy builds use those buckets' objects and keys. The roles' own policies name each.
            actions=[
                "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:GetBucketLocation",
                "s3:GetBucketVersioning", "s3:ListBucket", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt",
                "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo",
            ],
            resources=[
                f"arn:{PARTITION}:s3:::{prefix}*-{ARTIFACT_BUCKET_PURPOSE}-*",
                f"arn:{PARTITION}:kms:*:*:key/*",
            ],
        ),
        iam.Statement(
            sid="AssumeTargetAccountRoles",
            # Regions in their owners' accounts (regionflow.accounts): the pipeline's builds and service role assume
            # the family's pipeline-deploy/-read/-invoke roles that `regionflow bootstrap --target` made there.
            actions=["sts:AssumeRole"],
            resources=[f"arn:{PARTITION}:iam::*:role/{prefix}*{TARGET_ROLE_MARKER}*"],
        ),
        iam.Statement(
            sid="ReadThisBoundary",
            # The Preview stage compares the live boundary with the one its commit needs (regionflow.boundary_check).
            actions=BOUNDARY_READ_ACTIONS,
            resources=[this_boundary],
        ),
        iam.Statement(sid="Unscopable", actions=sorted(iam.UNSCOPABLE_ACTIONS), resources=["*"]),
        iam.Statement(
            sid="DenyStateBucketConfiguration",
            # Everything but object reads and writes: no role may change a state bucket's policy,
            # versioning, encryption, lifecycle or public access block, or delete it.
            effect="Deny",
            not_action=True,
            actions=STATE_OBJECT_ACTIONS,
            resources=[state, f"{state}/*"],
        ),
        iam.Statement(
            sid="DenyBoundaryTampering",
            effect="Deny",
            actions=BOUNDARY_TAMPERING_ACTIONS,
            resources=[this_boundary, any_role],
        ),
        iam.Statement(
            sid="DenyRolesWithoutBoundary",
            effect="Deny",
            actions=list(BOUNDED_ROLE_ACTIONS),
            resources=[any_role],
            conditions=[iam.Condition("StringNotEquals", "iam:PermissionsBoundary", [this_boundary])],
        ),
    ]


def boundary_document(account_id: str, name_prefix: str, environment: str) -> str:
    """The boundary policy's JSON, exactly as ``regionflow bootstrap`` writes it."""
    return iam.plain_policy_document(boundary_statements(account_id, name_prefix, environment))


def boundary_actions() -> set[str]:
    """Every action a regionflow role is granted (outside UNSCOPABLE_ACTIONS and iam:PassRole)."""
    # Imported here: the role builders live with the components, which import pulumi_aws.
    from regionflow.components.pipeline.permissions import all_role_actions

    return {a for a in all_role_actions() if a not in iam.UNSCOPABLE_ACTIONS and a != "iam:PassRole"}


def boundary_action_families() -> list[str]:
    """``service:Verb*`` for each leading verb of :func:`boundary_actions`, e.g. ``lambda:Get*``."""
    families = set()
    for action in boundary_actions():
        service, name = action.split(":", 1)
        verb = re.match(r"[A-Z][a-z]*", name)
        families.add(f"{service}:{verb.group(0) if verb else name.rstrip('*')}*")
    return sorted(families)
