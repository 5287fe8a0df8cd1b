"""ArtifactStore: a region's customer-managed KMS key and its encrypted, private artifact bucket."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from regionflow import iam
from regionflow.accounts import (
    ARTIFACT_BUCKET_ACTIONS,
    ARTIFACT_KEY_ACTIONS,
    ARTIFACT_OBJECT_ACTIONS,
    account_root,
    principal_arn_condition,
)
from regionflow.naming import Namer
from regionflow.regions import PARTITION

# Every KMS action an administrator of the key may need, listed instead of "kms:*" so the account
# statement stays explicit. Without it only the key policy could grant access, and a broken key
# policy would make the key unmanageable (AWS's "default key policy" guidance).
KEY_ACCOUNT_ACTIONS: tuple[str, ...] = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)

# What the CloudWatch Logs service needs to encrypt a log group with the key (Logs user guide,
# "Encrypt log data in CloudWatch Logs using AWS KMS").
LOGS_SERVICE_ACTIONS: tuple[str, ...] = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)

ABORT_INCOMPLETE_UPLOADS_DAYS = 7

# What CloudWatch needs to publish an alarm to a topic encrypted with a customer managed key (SNS
# developer guide, "Enable compatibility between event sources from AWS services and encrypted topics").
ALARM_PUBLISHER_KEY_ACTIONS: tuple[str, ...] = ("kms:GenerateDataKey*", "kms:Decrypt")


def account_administers_key(account_id: pulumi.Input[str]) -> iam.Statement:
    """Key-policy statement delegating the key to the account's IAM policies, with explicit actions."""
    account_root = pulumi.Output.concat("arn:", PARTITION, ":iam::", account_id, ":root")
    return iam.Statement(
        sid="AccountAdministersKeyThroughIam",
        principals=[iam.Principal("AWS", [account_root])],
        actions=KEY_ACCOUNT_ACTIONS,
        kind="resource",
    )


def alarm_arn_pattern(namer: Namer, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """ARNs of the stack family's CloudWatch alarms in the namer's region: their names start with its base."""
    return pulumi.Output.concat(
        "arn:", PARTITION, ":cloudwatch:", namer.region, ":", account_id, ":alarm:", namer.base, "-*"
    )


def cloudwatch_alarms_statement(
    sid: str,
    namer: Namer,
    account_id: pulumi.Input[str],
    actions: tuple[str, ...],
    resources: tuple[pulumi.Input[str], ...] = (),
) -> iam.Statement:
    """Resource-policy statement letting only this account's alarms named ``<base>-*`` use a topic or key.

    The pipeline's monitoring puts each region's alarms in that region and has them notify the
    region's own topic, which is encrypted with this key; ``aws:SourceAccount`` and ``aws:SourceArn``
    keep CloudWatch from acting for anyone else's alarms (confused deputy).
    """
    return iam.Statement(
        sid=sid,
        principals=[iam.Principal("Service", ["cloudwatch.amazonaws.com"])],
        actions=actions,
        resources=resources,
        conditions=[
            iam.Condition("StringEquals", "aws:SourceAccount", [account_id]),
            iam.Condition("ArnLike", "aws:SourceArn", [alarm_arn_pattern(namer, account_id)]),
        ],
        kind="resource",
    )


def eventbridge_dead_letters_statement(account_id: pulumi.Input[str]) -> iam.Statement:
    """Key-policy statement letting EventBridge put undeliverable events into a queue encrypted with the key.

    The SQS developer guide ("Configure KMS permissions for AWS services") asks for GenerateDataKey and
    Decrypt for the service principal; whether EventBridge sends aws:SourceAccount to KMS for a dead-letter
    delivery is not documented, so the condition only applies when the key is present (...IfExists).
    """
    return iam.Statement(
        sid="EventBridgeEncryptsDeadLetters",
        principals=[iam.Principal("Service", ["events.amazonaws.com"])],
        actions=["kms:GenerateDataKey", "kms:Decrypt"],
        conditions=[iam.Condition("StringEqualsIfExists", "aws:SourceAccount", [account_id])],
        kind="resource",
    )


@dataclass(frozen=True)
class ArtifactStoreArgs:
    namer: Namer
    account_id: pulumi.Input[str]
    region: str
    transition_days: int
    noncurrent_version_expiration_days: int
    # The home region's logger receives the pipeline's state changes from EventBridge, whose dead letters go
    # to the logger's queue, encrypted with this key.
    eventbridge_dead_letters: bool = False
    # A region in its owner's account: the pipeline account and its roles that use this store (regionflow.accounts).
    pipeline_account: str | None = None
    pipeline_principals: tuple[str, ...] = ()


def pipeline_key_statement(pipeline_account: str, principals: tuple[str, ...]) -> iam.Statement:
    """Key-policy statement for the pipeline account's roles: encrypt and decrypt artifacts, nothing else.

    CodePipeline's cross-account guide ("Create a pipeline in CodePipeline that uses resources from another AWS
    account") asks the artifact key's policy to allow the other account's roles to use the key. The principal is
    the pipeline account and ``aws:PrincipalArn`` names its roles: KMS refuses a key policy naming a role that does
    not exist yet (MalformedPolicyDocumentException), and this stack is deployed before the pipeline's roles.
    """
    return iam.Statement(
        sid="PipelineAccountUsesKey",
        principals=[iam.Principal("AWS", [account_root(pipeline_account)])],
        actions=ARTIFACT_KEY_ACTIONS,
        conditions=[principal_arn_condition(list(principals))],
        kind="resource",
    )


def pipeline_bucket_statements(
    pipeline_account: str, principals: tuple[str, ...], bucket_arn: pulumi.Input[str], objects: pulumi.Input[str]
) -> list[iam.Statement]:
    """Bucket-policy statements for the pipeline account's roles, as CodePipeline's cross-account guide shows them
    (objects read and written, the bucket listed), with the roles named in ``aws:PrincipalArn`` (S3 refuses a
    policy naming a principal that does not exist: "Invalid principal in policy")."""
    principal = [iam.Principal("AWS", [account_root(pipeline_account)])]
    condition = [principal_arn_condition(list(principals))]
    return [
        iam.Statement(
            sid="PipelineAccountArtifacts",
            principals=principal,
            actions=ARTIFACT_OBJECT_ACTIONS,
            resources=[objects],
            conditions=condition,
            kind="resource",
        ),
        iam.Statement(
            sid="PipelineAccountListsArtifacts",
            principals=principal,
            actions=ARTIFACT_BUCKET_ACTIONS,
            resources=[bucket_arn],
            conditions=condition,
            kind="resource",
        ),
    ]


class ArtifactStore(pulumi.ComponentResource):
    """KMS key (rotating, aliased) and an S3 bucket that only accepts TLS and this key."""

    @staticmethod
    def _pipeline_log_groups(args: ArtifactStoreArgs) -> list[str]:
        """The pipeline account's build log groups of this region, which the pipeline encrypts with this key
        (components/pipeline/build_project.py); none for a single-account stack."""
        if args.pipeline_account is None:
            return []
        return [
            f"arn:{PARTITION}:logs:{args.region}:{args.pipeline_account}:log-group:/aws/codebuild/{args.namer.base}-*"
        ]

    key: aws.kms.Key
    bucket: aws.s3.Bucket
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    key_alias: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("regionflow:components:ArtifactStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namer = args.namer
        # Only this stack family's log groups may use the key through CloudWatch Logs.
        log_group_arns = pulumi.Output.concat(
            "arn:", PARTITION, ":logs:", args.region, ":", args.account_id, ":log-group:/aws/*/", namer.base, "-*"
        )

        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"regionflow artifacts, logs and queues in {args.region} ({namer.base})",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=30,
            policy=iam.policy_document(
                [
                    account_administers_key(args.account_id),
                    iam.Statement(
                        sid="CloudWatchLogsEncryptsOwnLogGroups",
                        principals=[iam.Principal("Service", [f"logs.{args.region}.amazonaws.com"])],
                        actions=LOGS_SERVICE_ACTIONS,
                        conditions=[
                            iam.Condition(
                                "ArnLike",
                                "kms:EncryptionContext:aws:logs:arn",
                                [log_group_arns, *self._pipeline_log_groups(args)],
                            )
                        ],
                        kind="resource",
                    ),
                    cloudwatch_alarms_statement(
                        "CloudWatchAlarmsEncrypt", namer, args.account_id, ALARM_PUBLISHER_KEY_ACTIONS
                    ),
                    *([eventbridge_dead_letters_statement(args.account_id)] if args.eventbridge_dead_letters else []),
                    *(
                        [pipeline_key_statement(args.pipeline_account, args.pipeline_principals)]
                        if args.pipeline_account is not None
                        else []
                    ),
                ]
            ),
            opts=child,
        )
        self.alias = aws.kms.Alias(
            f"{name}-key-alias",
            name=namer.alias("artifacts"),
            target_key_id=self.key.key_id,
            opts=child,
        )

        bucket_name = pulumi.Output.from_input(args.account_id).apply(
            lambda account: namer.bucket("artifacts", account)
        )
        self.bucket = aws.s3.Bucket(f"{name}-bucket", bucket=bucket_name, force_destroy=False, opts=child)
        bucket_child = pulumi.ResourceOptions(parent=self.bucket)
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=bucket_child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=bucket_child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=bucket_child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms",
                        kms_master_key_id=self.key.arn,
                    ),
                    # The bucket key cuts KMS requests (and cost) by orders of magnitude.
                    bucket_key_enabled=True,
                )
            ],
            opts=bucket_child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_expiration_days,
                    ),
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-multipart-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS,
                    ),
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="transition-old-artifacts",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=args.transition_days, storage_class="STANDARD_IA"
                        )
                    ],
                ),
            ],
            opts=bucket_child,
        )
        objects = pulumi.Output.concat(self.bucket.arn, "/*")
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=iam.policy_document(
                [
                    iam.deny_insecure_transport("DenyInsecureTransport", ["s3:*"], [self.bucket.arn, objects]),
                    *iam.deny_uploads_under_other_encryption(objects, self.key.arn),
                    *(
                        pipeline_bucket_statements(
                            args.pipeline_account, args.pipeline_principals, self.bucket.arn, objects
                        )
                        if args.pipeline_account is not None
                        else []
                    ),
                ]
            ),
            # S3 rejects a bucket policy while the public access block is being changed.
            opts=pulumi.ResourceOptions(parent=self.bucket, depends_on=[public_access]),
        )

        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.key_arn = self.key.arn
        self.key_alias = self.alias.name
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "key_arn": self.key_arn,
                "key_alias": self.key_alias,
            }
        )
