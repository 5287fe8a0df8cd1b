"""What ``pulumi up`` (and a refresh) asks of AWS, per resource type and phase: the provider table.

pulumi-aws is a bridge over the Terraform AWS provider, so the AWS calls a resource's create, read,
update and delete make are those of ``internal/service/<service>/<resource>.go`` in
hashicorp/terraform-provider-aws. Each :class:`Call` names the SDK operation and the IAM actions the
Service Authorization Reference (SAR) maps it to; ``tests/iamcheck/test_requirements.py`` checks every
action name, and every ARN the check derives for it, against parliament's copy of the SAR.

Which entries were read in the provider source for this table, and at which commit, is in
:data:`SOURCES_READ`; the rest follow the provider's structure as its resource documentation and
regionflow's earlier role research (the deploy and drift roles' statements) describe it. An entry whose
need is not established is marked ``uncertain`` with the reason: a missing uncertain action is reported
as "possibly missing" and fails the check only with ``--strict``.

Calls that are easy to miss, and are here on purpose:

* the bucket read's many ``Get*`` calls (``HeadBucket`` is ``s3:ListBucket``; ACL, CORS, website,
  versioning, accelerate, request payment, logging, lifecycle, replication, encryption, object lock,
  tags). The provider treats AccessDenied on them as fatal, and ``s3:GetBucket*`` matches neither
  ``s3:GetAccelerateConfiguration`` nor ``s3:GetReplicationConfiguration``;
* tag reads (most resources use the provider's "transparent tagging", which lists tags on every read)
  and tag-on-create (the provider's ``default_tags`` put tags on every create request, and most
  services authorize tags in a create request with their tag action, e.g. ``kms:TagResource`` on
  ``CreateKey``, which the KMS guide says must be granted in an IAM policy covering every key of the
  account and Region: https://docs.aws.amazon.com/kms/latest/developerguide/manage-tags-api.html);
* waiters that read back after a write (the KMS key's policy, rotation and tag waiters);
* passing roles (``iam:PassRole`` with ``iam:PassedToService``) and connections
  (``PassConnection``), and a KMS key's CreateKey-time lockout check (``kms:PutKeyPolicy``, a
  dependent action of ``kms:CreateKey`` in the SAR).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

PROVIDER_REPO = "hashicorp/terraform-provider-aws"

# Files of the provider read while writing this table (path -> commit of the copy that was read).
SOURCES_READ: dict[str, str] = {
    "internal/service/s3/bucket.go": "4c72bcc7dc2f5ace40ce61f2a90e12a62cf4ec9a",
    "internal/service/kms/key.go": "00a35305dc1b297a6fcdecdfbba33f1e63c3da39",
    "internal/service/cloudwatch/composite_alarm.go": "050ac11163cab8cdae5936a7f40b0e528ff780df",
}


class Phase(str, enum.Enum):
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"


ALL_PHASES: tuple[Phase, ...] = (Phase.CREATE, Phase.READ, Phase.UPDATE, Phase.DELETE)


class Target(str, enum.Enum):
    """Which resource ARN a call is authorized against (resolved in :mod:`regionflow.iamcheck.provider`)."""

    SELF = "self"  # the resource's own ARN (its ``arn`` output, or derived from its ID)
    STAR = "*"  # the SAR lists no resource type for the action
    BUCKET = "bucket"  # the bucket named by the ``bucket`` input
    ROLE = "role"  # the role named by the ``role`` input
    POLICY = "policy"  # the managed policy of the ``policyArn`` input
    FUNCTION = "function"  # the function named by the ``functionName`` (or ``function``) input
    TOPIC = "topic"  # the topic of the ``arn`` / ``topic`` input
    QUEUE = "queue"  # the queue of the ``queueUrl`` input
    RULE = "rule"  # the EventBridge rule of the ``rule`` input
    ALIAS_KEY = "alias_key"  # the key an alias points at
    KEY = "key"  # the KMS key of the call's ``key_input``
    KEYS_IN_REGION = "keys_in_region"  # every key of the account and Region (tag-on-create)
    PASSED_ROLE = "passed_role"  # the role ARN(s) at ``role_input``
    LAYERS = "layers"  # each layer version of a function
    CONNECTION = "connection"  # the CodeStar/CodeConnections connection(s) a resource uses


@dataclass(frozen=True)
class Call:
    """One AWS API call of a phase, and the IAM actions it needs (all of them)."""

    sdk: str  # the SDK operation, e.g. "GetBucketAccelerateConfiguration"
    actions: tuple[str, ...]  # "{conn}" stands for the connection ARN's service prefix
    target: Target = Target.SELF
    when: str | None = None  # "tagged", or "input:<dotted.path>[|<path>...]": only when one of the inputs is set
    role_input: str | None = None  # for PASSED_ROLE: dotted input path holding the role ARN
    key_input: str | None = None  # for KEY: dotted input path holding the key ARN
    via: str | None = None  # a service that makes the KMS call on the caller's behalf (kms:ViaService)
    passed_to: str | None = None  # iam:PassedToService / <conn>:PassedToService
    grant_for_aws_resource: bool = False  # kms:GrantIsForAWSResource is true (a service creates the grant)
    tag_request: bool = False  # the request carries the resource's tags (aws:RequestTag/*, aws:TagKeys)
    no_resource_policy: bool = False  # authorized by IAM policies alone (the resource does not exist yet)
    uncertain: str | None = None
    note: str = ""


@dataclass(frozen=True)
class ResourceSpec:
    type: str
    source: str  # the provider file
    create: tuple[Call, ...] = ()
    read: tuple[Call, ...] = ()
    update: tuple[Call, ...] = ()
    delete: tuple[Call, ...] = ()
    arn_from: str = "arn"  # output that holds the resource's ARN ("" when derived in provider.py)
    note: str = ""

    def calls(self, phase: Phase) -> tuple[Call, ...]:
        found: tuple[Call, ...] = getattr(self, phase.value)
        return found


def c(sdk: str, *actions: str, **options: object) -> Call:
    return Call(sdk, tuple(actions), **options)  # type: ignore[arg-type]


TAGGED = "tagged"


def _tags_on_create(action: str, *, target: Target = Target.SELF, uncertain: str | None = None) -> Call:
    return c(
        f"Create (Tags={action.split(':')[1]})",
        action,
        when=TAGGED,
        tag_request=True,
        target=target,
        uncertain=uncertain,
    )


def _tag_updates(tag: str, untag: str, *, target: Target = Target.SELF) -> tuple[Call, ...]:
    return (
        c(tag.split(":")[1], tag, when=TAGGED, tag_request=True, target=target),
        c(untag.split(":")[1], untag, when=TAGGED, target=target),
    )


# --- S3 -------------------------------------------------------------------------------------------
# Bucket sub-resources are authorized against the bucket (their ID is the bucket name). Deleting a
# configuration uses the matching Put action in IAM (the SAR has no DeleteBucketEncryption action,
# for example).

_BUCKET_CHILD_READ_NOTE = "the sub-resource's read lists it by bucket"

S3_SPECS: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        "aws:s3/bucket:Bucket",
        "internal/service/s3/bucket.go",
        create=(
            c("CreateBucket", "s3:CreateBucket"),
            c("PutBucketTagging", "s3:PutBucketTagging", when=TAGGED, tag_request=True),
        ),
        read=(
            c("HeadBucket", "s3:ListBucket"),
            c("GetBucketPolicy", "s3:GetBucketPolicy"),
            c("GetBucketAcl", "s3:GetBucketAcl"),
            c("GetBucketCors", "s3:GetBucketCORS"),
            c("GetBucketWebsite", "s3:GetBucketWebsite"),
            c("GetBucketVersioning", "s3:GetBucketVersioning"),
            c("GetBucketAccelerateConfiguration", "s3:GetAccelerateConfiguration"),
            c("GetBucketRequestPayment", "s3:GetBucketRequestPayment"),
            c("GetBucketLogging", "s3:GetBucketLogging"),
            c("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
            c("GetBucketReplication", "s3:GetReplicationConfiguration"),
            c("GetBucketEncryption", "s3:GetEncryptionConfiguration"),
            c("GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"),
            c("GetBucketTagging", "s3:GetBucketTagging"),
        ),
        update=(c("PutBucketTagging", "s3:PutBucketTagging", when=TAGGED, tag_request=True),),
        delete=(c("DeleteBucket", "s3:DeleteBucket"),),
    ),
    ResourceSpec(
        "aws:s3/bucketVersioning:BucketVersioning",
        "internal/service/s3/bucket_versioning.go",
        create=(c("PutBucketVersioning", "s3:PutBucketVersioning", target=Target.BUCKET),),
        read=(c("GetBucketVersioning", "s3:GetBucketVersioning", target=Target.BUCKET),),
        update=(c("PutBucketVersioning", "s3:PutBucketVersioning", target=Target.BUCKET),),
        # Removing the resource suspends versioning (a versioned bucket cannot go back to unversioned).
        delete=(c("PutBucketVersioning (Suspended)", "s3:PutBucketVersioning", target=Target.BUCKET),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "internal/service/s3/bucket_server_side_encryption_configuration.go",
        create=(c("PutBucketEncryption", "s3:PutEncryptionConfiguration", target=Target.BUCKET),),
        read=(c("GetBucketEncryption", "s3:GetEncryptionConfiguration", target=Target.BUCKET),),
        update=(c("PutBucketEncryption", "s3:PutEncryptionConfiguration", target=Target.BUCKET),),
        delete=(c("DeleteBucketEncryption", "s3:PutEncryptionConfiguration", target=Target.BUCKET),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "internal/service/s3/bucket_lifecycle_configuration.go",
        create=(
            c("PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration", target=Target.BUCKET),
            # waitLifecycleConfigEquals reads the rules back until they match.
            c("GetBucketLifecycleConfiguration (waiter)", "s3:GetLifecycleConfiguration", target=Target.BUCKET),
        ),
        read=(c("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration", target=Target.BUCKET),),
        update=(c("PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration", target=Target.BUCKET),),
        delete=(c("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration", target=Target.BUCKET),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "internal/service/s3/bucket_public_access_block.go",
        create=(c("PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock", target=Target.BUCKET),),
        read=(c("GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock", target=Target.BUCKET),),
        update=(c("PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock", target=Target.BUCKET),),
        delete=(c("DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock", target=Target.BUCKET),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "internal/service/s3/bucket_ownership_controls.go",
        create=(c("PutBucketOwnershipControls", "s3:PutBucketOwnershipControls", target=Target.BUCKET),),
        read=(c("GetBucketOwnershipControls", "s3:GetBucketOwnershipControls", target=Target.BUCKET),),
        update=(c("PutBucketOwnershipControls", "s3:PutBucketOwnershipControls", target=Target.BUCKET),),
        delete=(c("DeleteBucketOwnershipControls", "s3:PutBucketOwnershipControls", target=Target.BUCKET),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:s3/bucketPolicy:BucketPolicy",
        "internal/service/s3/bucket_policy.go",
        create=(c("PutBucketPolicy", "s3:PutBucketPolicy", target=Target.BUCKET),),
        read=(c("GetBucketPolicy", "s3:GetBucketPolicy", target=Target.BUCKET),),
        update=(c("PutBucketPolicy", "s3:PutBucketPolicy", target=Target.BUCKET),),
        delete=(c("DeleteBucketPolicy", "s3:DeleteBucketPolicy", target=Target.BUCKET),),
        arn_from="",
    ),
)

# --- KMS ------------------------------------------------------------------------------------------

KMS_SPECS: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        "aws:kms/key:Key",
        "internal/service/kms/key.go",
        create=(
            # No key exists yet: CreateKey has no resource type, and its tags and its key policy's
            # lockout check are authorized by IAM policies alone.
            c("CreateKey", "kms:CreateKey", target=Target.STAR, no_resource_policy=True),
            c(
                "CreateKey (Tags)",
                "kms:TagResource",
                target=Target.KEYS_IN_REGION,
                when=TAGGED,
                tag_request=True,
                no_resource_policy=True,
                note="KMS guide: tags in CreateKey need kms:TagResource in an IAM policy covering every key "
                "of the account and Region",
            ),
            c(
                "CreateKey (policy lockout safety check)",
                "kms:PutKeyPolicy",
                note="CreateKey checks that the caller could PutKeyPolicy under the new policy "
                "(SAR: dependent action of kms:CreateKey)",
            ),
            c("EnableKeyRotation", "kms:EnableKeyRotation", when="input:enableKeyRotation"),
            c("GetKeyRotationStatus (waiter)", "kms:GetKeyRotationStatus", when="input:enableKeyRotation"),
            c("GetKeyPolicy (waitKeyPolicyPropagated)", "kms:GetKeyPolicy", when="input:policy"),
            c("ListResourceTags (waitTagsPropagated)", "kms:ListResourceTags", when=TAGGED),
        ),
        read=(
            c("DescribeKey", "kms:DescribeKey"),
            c("GetKeyPolicy", "kms:GetKeyPolicy"),
            c("GetKeyRotationStatus", "kms:GetKeyRotationStatus"),
            c("ListResourceTags", "kms:ListResourceTags"),
        ),
        update=(
            c("PutKeyPolicy", "kms:PutKeyPolicy"),
            c("EnableKeyRotation", "kms:EnableKeyRotation", when="input:enableKeyRotation"),
            c("UpdateKeyDescription", "kms:UpdateKeyDescription"),
            c("DescribeKey (waitKeyDescriptionPropagated)", "kms:DescribeKey"),
            *_tag_updates("kms:TagResource", "kms:UntagResource"),
        ),
        delete=(
            c("ScheduleKeyDeletion", "kms:ScheduleKeyDeletion"),
            c("DescribeKey (waitKeyDeleted)", "kms:DescribeKey"),
        ),
    ),
    ResourceSpec(
        "aws:kms/alias:Alias",
        "internal/service/kms/alias.go",
        # KMS authorizes alias operations on the alias and on the key (KMS guide, "Controlling access
        # to aliases"). The provider finds an alias by listing them (findAliasByName -> ListAliases).
        create=(
            c("CreateAlias", "kms:CreateAlias"),
            c("CreateAlias (target key)", "kms:CreateAlias", target=Target.ALIAS_KEY),
        ),
        read=(c("ListAliases", "kms:ListAliases", target=Target.STAR),),
        update=(
            c("UpdateAlias", "kms:UpdateAlias"),
            c("UpdateAlias (target key)", "kms:UpdateAlias", target=Target.ALIAS_KEY),
        ),
        delete=(
            c("DeleteAlias", "kms:DeleteAlias"),
            c("DeleteAlias (target key)", "kms:DeleteAlias", target=Target.ALIAS_KEY),
        ),
    ),
)

# --- IAM ------------------------------------------------------------------------------------------
# iam:CreateRole, PutRolePolicy, ... carry iam:PermissionsBoundary (the role's boundary) in their
# request context; the check fills it in from the role resource.

IAM_SPECS: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        "aws:iam/role:Role",
        "internal/service/iam/role.go",
        create=(
            c("CreateRole", "iam:CreateRole", tag_request=True),
            # IAM user guide, "Tagging IAM roles": creating a role with tags needs iam:TagRole too.
            c("CreateRole (Tags)", "iam:TagRole", when=TAGGED, tag_request=True),
            c("GetRole (waiter)", "iam:GetRole"),
        ),
        read=(
            c("GetRole", "iam:GetRole"),
            c("ListRolePolicies", "iam:ListRolePolicies"),
            c("ListAttachedRolePolicies", "iam:ListAttachedRolePolicies"),
        ),
        update=(
            c("UpdateAssumeRolePolicy", "iam:UpdateAssumeRolePolicy"),
            c("UpdateRole", "iam:UpdateRole"),
            c("PutRolePermissionsBoundary", "iam:PutRolePermissionsBoundary", when="input:permissionsBoundary"),
            *_tag_updates("iam:TagRole", "iam:UntagRole"),
        ),
        delete=(
            c("ListInstanceProfilesForRole", "iam:ListInstanceProfilesForRole"),
            c("DeleteRole", "iam:DeleteRole"),
        ),
    ),
    ResourceSpec(
        "aws:iam/rolePolicy:RolePolicy",
        "internal/service/iam/role_policy.go",
        create=(c("PutRolePolicy", "iam:PutRolePolicy", target=Target.ROLE),),
        read=(c("GetRolePolicy", "iam:GetRolePolicy", target=Target.ROLE),),
        update=(c("PutRolePolicy", "iam:PutRolePolicy", target=Target.ROLE),),
        delete=(c("DeleteRolePolicy", "iam:DeleteRolePolicy", target=Target.ROLE),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "internal/service/iam/role_policy_attachment.go",
        create=(c("AttachRolePolicy", "iam:AttachRolePolicy", target=Target.ROLE),),
        read=(c("ListAttachedRolePolicies", "iam:ListAttachedRolePolicies", target=Target.ROLE),),
        delete=(c("DetachRolePolicy", "iam:DetachRolePolicy", target=Target.ROLE),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:iam/policy:Policy",
        "internal/service/iam/policy.go",
        create=(
            c("CreatePolicy", "iam:CreatePolicy", tag_request=True),
            c("CreatePolicy (Tags)", "iam:TagPolicy", when=TAGGED, tag_request=True),
        ),
        read=(
            c("GetPolicy", "iam:GetPolicy"),
            c("GetPolicyVersion", "iam:GetPolicyVersion"),
        ),
        update=(
            # A new default version; the oldest one is pruned first when there are five.
            c("ListPolicyVersions", "iam:ListPolicyVersions"),
            c("DeletePolicyVersion", "iam:DeletePolicyVersion"),
            c("CreatePolicyVersion", "iam:CreatePolicyVersion"),
            *_tag_updates("iam:TagPolicy", "iam:UntagPolicy"),
        ),
        delete=(
            c("ListPolicyVersions", "iam:ListPolicyVersions"),
            c("DeletePolicy", "iam:DeletePolicy"),
        ),
    ),
    ResourceSpec(
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "internal/service/iam/openid_connect_provider.go",
        create=(
            c("CreateOpenIDConnectProvider", "iam:CreateOpenIDConnectProvider", tag_request=True),
            c("CreateOpenIDConnectProvider (Tags)", "iam:TagOpenIDConnectProvider", when=TAGGED, tag_request=True),
        ),
        read=(c("GetOpenIDConnectProvider", "iam:GetOpenIDConnectProvider"),),
        update=(
            c("UpdateOpenIDConnectProviderThumbprint", "iam:UpdateOpenIDConnectProviderThumbprint"),
            c("AddClientIDToOpenIDConnectProvider", "iam:AddClientIDToOpenIDConnectProvider"),
            c("RemoveClientIDFromOpenIDConnectProvider", "iam:RemoveClientIDFromOpenIDConnectProvider"),
            *_tag_updates("iam:TagOpenIDConnectProvider", "iam:UntagOpenIDConnectProvider"),
        ),
        delete=(c("DeleteOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider"),),
    ),
)

# --- Lambda ---------------------------------------------------------------------------------------

LAMBDA_SPECS: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        "aws:lambda/function:Function",
        "internal/service/lambda/function.go",
        create=(
            c("CreateFunction", "lambda:CreateFunction", tag_request=True),
            c("CreateFunction (Tags)", "lambda:TagResource", when=TAGGED, tag_request=True),
            c(
                "CreateFunction (Role)",
                "iam:PassRole",
                target=Target.PASSED_ROLE,
                role_input="role",
                passed_to="lambda.amazonaws.com",
            ),
            # Lambda developer guide, layers: adding a layer needs lambda:GetLayerVersion on it.
            c("CreateFunction (Layers)", "lambda:GetLayerVersion", target=Target.LAYERS, when="input:layers"),
            # Lambda developer guide, "Securing environment variables": Lambda encrypts the environment with
            # the caller's kms:Encrypt and creates a grant on the key for the function, both through Lambda.
            c(
                "CreateFunction (KMSKeyArn)",
                "kms:Encrypt",
                target=Target.KEY,
                key_input="kmsKeyArn",
                when="input:kmsKeyArn",
                via="lambda",
                uncertain="from the Lambda guide as regionflow's roles cite it; not verified in the provider here",
            ),
            c(
                "CreateFunction (KMSKeyArn grant)",
                "kms:CreateGrant",
                target=Target.KEY,
                key_input="kmsKeyArn",
                when="input:kmsKeyArn",
                via="lambda",
                grant_for_aws_resource=True,
                uncertain="from the Lambda guide as regionflow's roles cite it; not verified in the provider here",
            ),
            c("GetFunction (waitFunctionCreated)", "lambda:GetFunction"),
        ),
        read=(
            c("GetFunction", "lambda:GetFunction"),
            # GetFunction returns a customer-key-encrypted environment in clear only to a caller that may
            # kms:Decrypt it through Lambda; otherwise the refresh sees no variables and reports drift.
            c(
                "GetFunction (Environment, KMSKeyArn)",
                "kms:Decrypt",
                target=Target.KEY,
                key_input="kmsKeyArn",
                when="input:kmsKeyArn",
                via="lambda",
                uncertain="Lambda developer guide, securing environment variables, as regionflow's roles cite it",
            ),
            c("ListTags", "lambda:ListTags"),
            c("GetFunctionCodeSigningConfig", "lambda:GetFunctionCodeSigningConfig"),
            c("GetRuntimeManagementConfig", "lambda:GetRuntimeManagementConfig"),
            c("GetFunctionRecursionConfig", "lambda:GetFunctionRecursionConfig"),
            c("GetFunctionConcurrency", "lambda:GetFunctionConcurrency"),
            c(
                "ListVersionsByFunction",
                "lambda:ListVersionsByFunction",
                uncertain="the provider lists versions to find the latest published one; with publish=false it may "
                "not call it",
            ),
        ),
        update=(
            c("UpdateFunctionCode", "lambda:UpdateFunctionCode"),
            c("UpdateFunctionConfiguration", "lambda:UpdateFunctionConfiguration"),
            c(
                "UpdateFunctionConfiguration (Role)",
                "iam:PassRole",
                target=Target.PASSED_ROLE,
                role_input="role",
                passed_to="lambda.amazonaws.com",
            ),
            c(
                "UpdateFunctionConfiguration (Layers)",
                "lambda:GetLayerVersion",
                target=Target.LAYERS,
                when="input:layers",
            ),
            c("GetFunction (waitFunctionUpdated)", "lambda:GetFunction"),
            *_tag_updates("lambda:TagResource", "lambda:UntagResource"),
        ),
        delete=(c("DeleteFunction", "lambda:DeleteFunction"),),
    ),
    ResourceSpec(
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
        "internal/service/lambda/function_event_invoke_config.go",
        create=(c("PutFunctionEventInvokeConfig", "lambda:PutFunctionEventInvokeConfig", target=Target.FUNCTION),),
        read=(c("GetFunctionEventInvokeConfig", "lambda:GetFunctionEventInvokeConfig", target=Target.FUNCTION),),
        update=(c("PutFunctionEventInvokeConfig", "lambda:PutFunctionEventInvokeConfig", target=Target.FUNCTION),),
        delete=(
            c("DeleteFunctionEventInvokeConfig", "lambda:DeleteFunctionEventInvokeConfig", target=Target.FUNCTION),
        ),
        arn_from="",
    ),
    ResourceSpec(
        "aws:lambda/permission:Permission",
        "internal/service/lambda/permission.go",
        create=(c("AddPermission", "lambda:AddPermission", target=Target.FUNCTION),),
        read=(c("GetPolicy", "lambda:GetPolicy", target=Target.FUNCTION),),
        delete=(c("RemovePermission", "lambda:RemovePermission", target=Target.FUNCTION),),
        arn_from="",
    ),
)

# --- CloudWatch Logs, CloudWatch, EventBridge, Scheduler ----------------------------------------

MONITORING_SPECS: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        "aws:cloudwatch/logGroup:LogGroup",
        "internal/service/logs/group.go",
        create=(
            c("CreateLogGroup", "logs:CreateLogGroup", tag_request=True),
            c(
                "CreateLogGroup (Tags)",
                "logs:TagResource",
                when=TAGGED,
                tag_request=True,
                uncertain="CloudWatch Logs documents tag-on-create with logs:TagResource (newer) or logs:TagLogGroup "
                "(older API)",
            ),
            c("PutRetentionPolicy", "logs:PutRetentionPolicy", when="input:retentionInDays"),
        ),
        read=(
            # findLogGroupByName pages DescribeLogGroups with the name as prefix; no resource type.
            c("DescribeLogGroups", "logs:DescribeLogGroups", target=Target.STAR),
            c("ListTagsForResource", "logs:ListTagsForResource"),
        ),
        update=(
            c("PutRetentionPolicy", "logs:PutRetentionPolicy"),
            c("AssociateKmsKey", "logs:AssociateKmsKey", when="input:kmsKeyId"),
            *_tag_updates("logs:TagResource", "logs:UntagResource"),
        ),
        delete=(c("DeleteLogGroup", "logs:DeleteLogGroup"),),
    ),
    ResourceSpec(
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "internal/service/cloudwatch/metric_alarm.go",
        create=(
            c("PutMetricAlarm", "cloudwatch:PutMetricAlarm", tag_request=True),
            c("PutMetricAlarm (Tags)", "cloudwatch:TagResource", when=TAGGED, tag_request=True),
        ),
        read=(
            c("DescribeAlarms", "cloudwatch:DescribeAlarms"),
            c("ListTagsForResource", "cloudwatch:ListTagsForResource"),
        ),
        update=(
            c("PutMetricAlarm", "cloudwatch:PutMetricAlarm"),
            *_tag_updates("cloudwatch:TagResource", "cloudwatch:UntagResource"),
        ),
        delete=(c("DeleteAlarms", "cloudwatch:DeleteAlarms"),),
    ),
    ResourceSpec(
        # The region's health (components/health.py). composite_alarm.go (SOURCES_READ has the commit):
        # create and update are PutCompositeAlarm with the tags in the request (TagResource afterwards only in
        # partitions without tag-on-create); the read is DescribeAlarms (AlarmTypes CompositeAlarm) plus the
        # transparent tag read; delete is DeleteAlarms.
        "aws:cloudwatch/compositeAlarm:CompositeAlarm",
        "internal/service/cloudwatch/composite_alarm.go",
        create=(
            c("PutCompositeAlarm", "cloudwatch:PutCompositeAlarm", tag_request=True),
            c("PutCompositeAlarm (Tags)", "cloudwatch:TagResource", when=TAGGED, tag_request=True),
        ),
        read=(
            c("DescribeAlarms", "cloudwatch:DescribeAlarms"),
            c("ListTagsForResource", "cloudwatch:ListTagsForResource"),
        ),
        update=(
            c("PutCompositeAlarm", "cloudwatch:PutCompositeAlarm"),
            *_tag_updates("cloudwatch:TagResource", "cloudwatch:UntagResource"),
        ),
        delete=(c("DeleteAlarms", "cloudwatch:DeleteAlarms"),),
    ),
    ResourceSpec(
        "aws:cloudwatch/dashboard:Dashboard",
        "internal/service/cloudwatch/dashboard.go",
        create=(c("PutDashboard", "cloudwatch:PutDashboard"),),
        read=(c("GetDashboard", "cloudwatch:GetDashboard"),),
        update=(c("PutDashboard", "cloudwatch:PutDashboard"),),
        delete=(c("DeleteDashboards", "cloudwatch:DeleteDashboards"),),
        arn_from="dashboardArn",
    ),
    ResourceSpec(
        "aws:cloudwatch/eventRule:EventRule",
        "internal/service/events/rule.go",
        create=(
            c("PutRule", "events:PutRule", tag_request=True),
            c("PutRule (Tags)", "events:TagResource", when=TAGGED, tag_request=True),
            c("DescribeRule (waiter)", "events:DescribeRule"),
        ),
        read=(
            c("DescribeRule", "events:DescribeRule"),
            c("ListTagsForResource", "events:ListTagsForResource"),
        ),
        update=(
            c("PutRule", "events:PutRule"),
            *_tag_updates("events:TagResource", "events:UntagResource"),
        ),
        delete=(c("DeleteRule", "events:DeleteRule"),),
    ),
    ResourceSpec(
        "aws:cloudwatch/eventTarget:EventTarget",
        "internal/service/events/target.go",
        create=(
            c("PutTargets", "events:PutTargets", target=Target.RULE),
            c(
                "PutTargets (RoleArn)",
                "iam:PassRole",
                target=Target.PASSED_ROLE,
                role_input="roleArn",
                when="input:roleArn",
                passed_to="events.amazonaws.com",
            ),
        ),
        read=(c("ListTargetsByRule", "events:ListTargetsByRule", target=Target.RULE),),
        update=(c("PutTargets", "events:PutTargets", target=Target.RULE),),
        delete=(c("RemoveTargets", "events:RemoveTargets", target=Target.RULE),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:scheduler/schedule:Schedule",
        "internal/service/scheduler/schedule.go",
        create=(
            c("CreateSchedule", "scheduler:CreateSchedule"),
            c(
                "CreateSchedule (Target.RoleArn)",
                "iam:PassRole",
                target=Target.PASSED_ROLE,
                role_input="target.roleArn",
                passed_to="scheduler.amazonaws.com",
            ),
            *(
                c(
                    "CreateSchedule (KmsKeyArn)",
                    action,
                    target=Target.KEY,
                    key_input="kmsKeyArn",
                    when="input:kmsKeyArn",
                    via="scheduler",
                    uncertain="EventBridge Scheduler user guide, encryption at rest, as regionflow's roles cite it; "
                    "not verified here",
                )
                for action in ("kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt")
            ),
        ),
        read=(c("GetSchedule", "scheduler:GetSchedule"),),
        update=(
            c("UpdateSchedule", "scheduler:UpdateSchedule"),
            c(
                "UpdateSchedule (Target.RoleArn)",
                "iam:PassRole",
                target=Target.PASSED_ROLE,
                role_input="target.roleArn",
                passed_to="scheduler.amazonaws.com",
            ),
            # UpdateSchedule replaces the whole schedule, its KmsKeyArn included (Scheduler API reference,
            # UpdateSchedule), so it needs the key as CreateSchedule does.
            *(
                c(
                    "UpdateSchedule (KmsKeyArn)",
                    action,
                    target=Target.KEY,
                    key_input="kmsKeyArn",
                    when="input:kmsKeyArn",
                    via="scheduler",
                    uncertain="EventBridge Scheduler user guide, encryption at rest, as regionflow's roles cite it; "
                    "not verified here",
                )
                for action in ("kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt")
            ),
        ),
        delete=(c("DeleteSchedule", "scheduler:DeleteSchedule"),),
    ),
    ResourceSpec(
        "aws:scheduler/scheduleGroup:ScheduleGroup",
        "internal/service/scheduler/schedule_group.go",
        create=(
            c("CreateScheduleGroup", "scheduler:CreateScheduleGroup", tag_request=True),
            c("CreateScheduleGroup (Tags)", "scheduler:TagResource", when=TAGGED, tag_request=True),
        ),
        read=(
            c("GetScheduleGroup", "scheduler:GetScheduleGroup"),
            c("ListTagsForResource", "scheduler:ListTagsForResource"),
        ),
        update=_tag_updates("scheduler:TagResource", "scheduler:UntagResource"),
        delete=(c("DeleteScheduleGroup", "scheduler:DeleteScheduleGroup"),),
    ),
)

# --- SNS, SQS, DynamoDB ---------------------------------------------------------------------------

MESSAGING_SPECS: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        "aws:sns/topic:Topic",
        "internal/service/sns/topic.go",
        create=(
            c("CreateTopic", "sns:CreateTopic", tag_request=True),
            c("CreateTopic (Tags)", "sns:TagResource", when=TAGGED, tag_request=True),
            c("GetTopicAttributes (waiter)", "sns:GetTopicAttributes"),
        ),
        read=(
            c("GetTopicAttributes", "sns:GetTopicAttributes"),
            c("ListTagsForResource", "sns:ListTagsForResource"),
            c(
                "GetDataProtectionPolicy",
                "sns:GetDataProtectionPolicy",
                uncertain="regionflow's deploy role grants it for the topic's refresh; not read in this "
                "session's copy of topic.go",
            ),
        ),
        update=(
            c("SetTopicAttributes", "sns:SetTopicAttributes"),
            *_tag_updates("sns:TagResource", "sns:UntagResource"),
        ),
        delete=(c("DeleteTopic", "sns:DeleteTopic"),),
    ),
    ResourceSpec(
        "aws:sns/topicPolicy:TopicPolicy",
        "internal/service/sns/topic_policy.go",
        create=(c("SetTopicAttributes (Policy)", "sns:SetTopicAttributes", target=Target.TOPIC),),
        read=(c("GetTopicAttributes", "sns:GetTopicAttributes", target=Target.TOPIC),),
        update=(c("SetTopicAttributes (Policy)", "sns:SetTopicAttributes", target=Target.TOPIC),),
        # Deleting the resource puts the default topic policy back.
        delete=(c("SetTopicAttributes (default Policy)", "sns:SetTopicAttributes", target=Target.TOPIC),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:sns/topicSubscription:TopicSubscription",
        "internal/service/sns/topic_subscription.go",
        create=(
            c("Subscribe", "sns:Subscribe", target=Target.TOPIC),
            c("GetSubscriptionAttributes (waiter)", "sns:GetSubscriptionAttributes", target=Target.STAR),
        ),
        read=(
            c("GetSubscriptionAttributes", "sns:GetSubscriptionAttributes", target=Target.STAR),
            # A subscription pending confirmation (email) has no ARN yet; it is found in the topic's list.
            c("ListSubscriptionsByTopic", "sns:ListSubscriptionsByTopic", target=Target.TOPIC, when="input:endpoint"),
        ),
        # Protocol, endpoint and topic force a new subscription; only these attributes are updated in place.
        update=(
            c(
                "SetSubscriptionAttributes",
                "sns:SetSubscriptionAttributes",
                target=Target.STAR,
                when="input:deliveryPolicy|filterPolicy|filterPolicyScope|rawMessageDelivery|redrivePolicy"
                "|replayPolicy|subscriptionRoleArn",
            ),
        ),
        delete=(c("Unsubscribe", "sns:Unsubscribe", target=Target.STAR),),
    ),
    ResourceSpec(
        "aws:sqs/queue:Queue",
        "internal/service/sqs/queue.go",
        create=(
            c("CreateQueue", "sqs:CreateQueue", tag_request=True),
            c("CreateQueue (tags)", "sqs:TagQueue", when=TAGGED, tag_request=True),
            c("GetQueueAttributes (waitQueueAttributesPropagated)", "sqs:GetQueueAttributes"),
        ),
        read=(
            c("GetQueueAttributes", "sqs:GetQueueAttributes"),
            c("ListQueueTags", "sqs:ListQueueTags"),
        ),
        update=(
            c("SetQueueAttributes", "sqs:SetQueueAttributes"),
            *_tag_updates("sqs:TagQueue", "sqs:UntagQueue"),
        ),
        delete=(
            c("DeleteQueue", "sqs:DeleteQueue"),
            c("GetQueueAttributes (waitQueueDeleted)", "sqs:GetQueueAttributes"),
        ),
    ),
    ResourceSpec(
        "aws:sqs/queuePolicy:QueuePolicy",
        "internal/service/sqs/queue_policy.go",
        create=(c("SetQueueAttributes (Policy)", "sqs:SetQueueAttributes", target=Target.QUEUE),),
        read=(c("GetQueueAttributes (Policy)", "sqs:GetQueueAttributes", target=Target.QUEUE),),
        update=(c("SetQueueAttributes (Policy)", "sqs:SetQueueAttributes", target=Target.QUEUE),),
        delete=(c("SetQueueAttributes (empty Policy)", "sqs:SetQueueAttributes", target=Target.QUEUE),),
        arn_from="",
    ),
    ResourceSpec(
        "aws:dynamodb/table:Table",
        "internal/service/dynamodb/table.go",
        create=(
            c("CreateTable", "dynamodb:CreateTable", tag_request=True),
            c("CreateTable (Tags)", "dynamodb:TagResource", when=TAGGED, tag_request=True),
            c("DescribeTable (waitTableActive)", "dynamodb:DescribeTable"),
            c("UpdateTimeToLive", "dynamodb:UpdateTimeToLive", when="input:ttl.enabled"),
            c("DescribeTimeToLive (waiter)", "dynamodb:DescribeTimeToLive", when="input:ttl.enabled"),
            c("UpdateContinuousBackups", "dynamodb:UpdateContinuousBackups", when="input:pointInTimeRecovery.enabled"),
            c(
                "DescribeContinuousBackups (waiter)",
                "dynamodb:DescribeContinuousBackups",
                when="input:pointInTimeRecovery.enabled",
            ),
            # DynamoDB developer guide, "Encryption at rest: customer managed key": creating a table with
            # a customer managed key makes DynamoDB describe the key and create a grant on it.
            c(
                "CreateTable (SSESpecification.KMSMasterKeyId)",
                "kms:DescribeKey",
                target=Target.KEY,
                key_input="serverSideEncryption.kmsKeyArn",
                when="input:serverSideEncryption.kmsKeyArn",
                via="dynamodb",
            ),
            c(
                "CreateTable (SSESpecification.KMSMasterKeyId)",
                "kms:CreateGrant",
                target=Target.KEY,
                key_input="serverSideEncryption.kmsKeyArn",
                when="input:serverSideEncryption.kmsKeyArn",
                via="dynamodb",
                grant_for_aws_resource=True,
            ),
        ),
        read=(
            c("DescribeTable", "dynamodb:DescribeTable"),
            c("DescribeContinuousBackups", "dynamodb:DescribeContinuousBackups"),
            c("DescribeTimeToLive", "dynamodb:DescribeTimeToLive"),
            c("ListTagsOfResource", "dynamodb:ListTagsOfResource"),
            c("GetResourcePolicy", "dynamodb:GetResourcePolicy"),
        ),
        update=(
            c("UpdateTable", "dynamodb:UpdateTable"),
            c("UpdateTimeToLive", "dynamodb:UpdateTimeToLive"),
            c("UpdateContinuousBackups", "dynamodb:UpdateContinuousBackups"),
            *_tag_updates("dynamodb:TagResource", "dynamodb:UntagResource"),
        ),
        delete=(
            c("DeleteTable", "dynamodb:DeleteTable"),
            c("DescribeTable (waitTableDeleted)", "dynamodb:DescribeTable"),
        ),
    ),
)

# --- CodeBuild, CodePipeline, connections, notifications -----------------------------------------

CICD_SPECS: tuple[ResourceSpec, ...] = (
    ResourceSpec(
        "aws:codebuild/project:Project",
        "internal/service/codebuild/project.go",
        create=(
            c("CreateProject", "codebuild:CreateProject"),
            c(
                "CreateProject (ServiceRole)",
                "iam:PassRole",
                target=Target.PASSED_ROLE,
                role_input="serviceRole",
                passed_to="codebuild.amazonaws.com",
            ),
            c(
                "CreateProject (Source.Auth CodeConnections)",
                "{conn}:PassConnection",
                target=Target.CONNECTION,
                passed_to="codebuild.amazonaws.com",
                note="issue 10: passing a connection to CodeBuild needs PassConnection",
            ),
        ),
        read=(c("BatchGetProjects", "codebuild:BatchGetProjects"),),
        update=(
            c("UpdateProject", "codebuild:UpdateProject"),
            c(
                "UpdateProject (ServiceRole)",
                "iam:PassRole",
                target=Target.PASSED_ROLE,
                role_input="serviceRole",
                passed_to="codebuild.amazonaws.com",
            ),
            c(
                "UpdateProject (Source.Auth CodeConnections)",
                "{conn}:PassConnection",
                target=Target.CONNECTION,
                passed_to="codebuild.amazonaws.com",
            ),
        ),
        delete=(c("DeleteProject", "codebuild:DeleteProject"),),
    ),
    ResourceSpec(
        "aws:codepipeline/pipeline:Pipeline",
        "internal/service/codepipeline/codepipeline.go",
        create=(
            c("CreatePipeline", "codepipeline:CreatePipeline", tag_request=True),
            c("CreatePipeline (Tags)", "codepipeline:TagResource", when=TAGGED, tag_request=True),
            c(
                "CreatePipeline (RoleArn)",
                "iam:PassRole",
                target=Target.PASSED_ROLE,
                role_input="roleArn",
                passed_to="codepipeline.amazonaws.com",
            ),
            # CodePipeline user guide, CodeStarSourceConnection action: the caller passes the connection.
            c(
                "CreatePipeline (ConnectionArn)",
                "{conn}:PassConnection",
                target=Target.CONNECTION,
                passed_to="codepipeline.amazonaws.com",
            ),
        ),
        read=(
            c("GetPipeline", "codepipeline:GetPipeline"),
            c("ListTagsForResource", "codepipeline:ListTagsForResource"),
        ),
        update=(
            c("UpdatePipeline", "codepipeline:UpdatePipeline"),
            c(
                "UpdatePipeline (RoleArn)",
                "iam:PassRole",
                target=Target.PASSED_ROLE,
                role_input="roleArn",
                passed_to="codepipeline.amazonaws.com",
            ),
            c(
                "UpdatePipeline (ConnectionArn)",
                "{conn}:PassConnection",
                target=Target.CONNECTION,
                passed_to="codepipeline.amazonaws.com",
            ),
            *_tag_updates("codepipeline:TagResource", "codepipeline:UntagResource"),
        ),
        delete=(c("DeletePipeline", "codepipeline:DeletePipeline"),),
    ),
    ResourceSpec(
        "aws:codestarconnections/connection:Connection",
        "internal/service/codestarconnections/connection.go",
        create=(
            c("CreateConnection", "{conn}:CreateConnection", target=Target.STAR, tag_request=True),
            c("CreateConnection (Tags)", "{conn}:TagResource", when=TAGGED, tag_request=True),
        ),
        read=(
            c("GetConnection", "{conn}:GetConnection"),
            c("ListTagsForResource", "{conn}:ListTagsForResource"),
        ),
        update=_tag_updates("{conn}:TagResource", "{conn}:UntagResource"),
        delete=(c("DeleteConnection", "{conn}:DeleteConnection"),),
    ),
    ResourceSpec(
        "aws:codestarnotifications/notificationRule:NotificationRule",
        "internal/service/codestarnotifications/notification_rule.go",
        create=(
            c("CreateNotificationRule", "codestar-notifications:CreateNotificationRule", tag_request=True),
            c("CreateNotificationRule (Tags)", "codestar-notifications:TagResource", when=TAGGED, tag_request=True),
        ),
        read=(c("DescribeNotificationRule", "codestar-notifications:DescribeNotificationRule"),),
        update=(
            c("UpdateNotificationRule", "codestar-notifications:UpdateNotificationRule"),
            *_tag_updates("codestar-notifications:TagResource", "codestar-notifications:UntagResource"),
        ),
        delete=(c("DeleteNotificationRule", "codestar-notifications:DeleteNotificationRule"),),
    ),
)

SPECS: dict[str, ResourceSpec] = {
    spec.type: spec
    for spec in (*S3_SPECS, *KMS_SPECS, *IAM_SPECS, *LAMBDA_SPECS, *MONITORING_SPECS, *MESSAGING_SPECS, *CICD_SPECS)
}

# Pulumi-only types that make no AWS call of their own (a StackReference reads the backend, which the
# job adds; a provider resource and component resources are bookkeeping).
NO_AWS_CALLS_PREFIXES: tuple[str, ...] = ("pulumi:", "regionflow:")
