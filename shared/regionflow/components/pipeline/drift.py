"""DriftDetection: a nightly, read-only ``pulumi preview --refresh --expect-no-changes`` of every stack.

An EventBridge Scheduler schedule starts a CodeBuild project every night. The project has no source of
its own: it fetches the source artifact of the pipeline's last succeeded execution (the commit that is
deployed everywhere, GitHub or S3 alike), logs in to the self-managed state backend, and
previews each stack with a refresh. Reading the pipeline's artifact instead of the repository means the
project needs no GitHub connection: CodeBuild validates a CodeConnections source with the project's role
when the project is created (aws/aws-cdk#38504), which a connection that is still PENDING (before its
one-time handshake, docs/pipeline.md) could not pass, so the pipeline stack's first `pulumi up` would fail.
A stack whose live resources differ from its program is "drifted"; the build publishes the list to
the notification topic and fails. The buildspec is ``stacks/pipeline/buildspecs/drift.yml``.

The build role can read everything the previews read and change nothing the stacks own:

* state: read the checkpoints of the stacks it checks, and nothing else; a preview takes no stack lock
  in the self-managed backend (pulumi/pulumi pkg/backend/diy/backend.go: Preview runs without b.Lock), so
  the role writes nothing there and a nightly run can never make a deploy fail on the lock;
* secrets: ``kms:Decrypt`` on the awskms secrets key, to read the stacks' encrypted config;
* the stacks' resources: only ``Describe*``/``Get*``/``List*`` (and CodeBuild's ``BatchGet*``)
  actions, on ARNs that carry the stacks' ``<prefix>-<environment>-`` name prefix, or the stacks'
  KMS key ARNs (key ARNs hold a UUID, not a name, so they are passed in);
* ``sns:Publish`` on the topic only, and its own log group.

When a stack gains a new resource type, add that service's read actions to
:data:`regionflow.read_scopes.READ_SCOPES` (shared with the pull-request preview role); a
preview that cannot read a resource fails and is reported like a drift, so a gap shows up the next
morning rather than going unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws

from regionflow import iam
from regionflow.accounts import assume_statement, profile_pairs
from regionflow.components.pipeline.build_project import load_buildspec, own_log_group_only
from regionflow.components.pipeline.permissions import StateAccess, state_statements
from regionflow.components.roles import service_role
from regionflow.naming import NameKind, Namer
from regionflow.offline.discovery import discover_stacks
from regionflow.read_scopes import KEY_READ_ACTIONS as KEY_READ_ACTIONS  # re-exported (permissions.all_role_actions)
from regionflow.read_scopes import READ_SCOPES as READ_SCOPES  # re-exported (permissions.all_role_actions)
from regionflow.read_scopes import ReadScope as ReadScope
from regionflow.read_scopes import fill_pattern, read_scope_statements
from regionflow.regions import PARTITION

COMPONENT_TYPE = "regionflow:pipeline:Drift"
DEFAULT_SCHEDULE = "cron(0 3 * * ? *)"
# The Pulumi CLI and its Python SDK are released together under one version; this is the SDK pinned
# in constraints.txt, so the nightly CLI matches what the programs are tested with.
DEFAULT_PULUMI_VERSION = "3.272.0"
DEFAULT_BUILDSPEC = Path(__file__).resolve().parents[4] / "stacks" / "pipeline" / "buildspecs" / "drift.yml"
BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
# The longest physical name of each kind this component makes: the pipeline's config validation
# passes these to Namer.check_limits so a long namePrefix fails before any resource is registered.
DRIFT_LONGEST_NAMES: dict[NameKind, str] = {
    NameKind.IAM_ROLE: "drift-scheduler",
    NameKind.SCHEDULE: "drift-nightly",
    NameKind.CODEBUILD_PROJECT: "drift",
    NameKind.LOG_GROUP: "drift",
}


@dataclass(frozen=True)
class DriftStack:
    """One stack to check: its project folder relative to the repository root, and its name."""

    project_dir: str  # e.g. "stacks/secondary"
    stack: str  # e.g. "prod-eu-west-1"
    project: str  # e.g. "regionflow-secondary": where its state lives in the backend

    def entry(self) -> str:
        return f"{self.project_dir}:{self.stack}"

    @staticmethod
    def discover(repo_root: Path) -> list[DriftStack]:
        """Every ``stacks/<folder>/Pulumi.<stack>.yaml`` of the repository, in deployment order.

        The pipeline program fills ``DriftDetectionArgs.stacks`` with this, so a region added (or
        retired) by its config file joins (or leaves) the nightly check on the next pipeline update.
        """
        return [
            DriftStack(target.project_dir.relative_to(repo_root).as_posix(), target.stack, target.project)
            for target in discover_stacks(repo_root / "stacks")
        ]


@dataclass(frozen=True)
class PipelineSource:
    """The pipeline whose last successful source artifact the build previews, and where its artifacts live."""

    pipeline_name: str
    pipeline_arn: pulumi.Input[str]
    source_action: str  # the Source action's name
    artifact_bucket_arn: pulumi.Input[str]  # the home region's artifact store (the Source action's region)


@dataclass(frozen=True)
class StateBackend:
    """The self-managed backend `regionflow bootstrap` printed: login URL, bucket, keys."""

    url: str  # s3://<bucket>?region=<region>&awssdk=v2
    bucket_name: str
    bucket_arn: pulumi.Input[str]
    state_key_arn: pulumi.Input[str]  # encrypts the bucket
    secrets_key_arn: pulumi.Input[str]  # the awskms secrets provider
    secrets_provider: str  # awskms://..., what every stack file's `secretsprovider:` must say

    @staticmethod
    def for_bucket(
        bucket_name: str,
        region: str,
        state_key_arn: pulumi.Input[str],
        secrets_key_arn: pulumi.Input[str],
        secrets_provider: str,
    ) -> StateBackend:
        """From the values `regionflow bootstrap` printed (the bucket is not a resource of any stack,
        so its ARN is derived: S3 bucket ARNs are ``arn:<partition>:s3:::<name>``)."""
        return StateBackend(
            url=f"s3://{bucket_name}?region={region}&awssdk=v2",
            bucket_name=bucket_name,
            bucket_arn=f"arn:{PARTITION}:s3:::{bucket_name}",
            state_key_arn=state_key_arn,
            secrets_key_arn=secrets_key_arn,
            secrets_provider=secrets_provider,
        )


@dataclass(frozen=True)
class DriftDetectionArgs:
    namer: Namer
    region: str
    account_id: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    topic_key_arn: pulumi.Input[str]  # the topic's KMS key: publishing needs GenerateDataKey on it
    key_arn: pulumi.Input[str]  # CMK of the project (build output) and its log group
    backend: StateBackend
    source: PipelineSource
    stacks: Sequence[DriftStack]
    stack_key_arns: Sequence[pulumi.Input[str]]  # the regional artifact keys the stacks own
    pulumi_version: str = DEFAULT_PULUMI_VERSION
    schedule_expression: str = DEFAULT_SCHEDULE
    schedule_timezone: str = "UTC"
    log_retention_days: int = 30
    timeout_minutes: int = 60
    buildspec_path: Path = field(default=DEFAULT_BUILDSPEC)
    permissions_boundary_arn: str | None = None
    # Regions in their owners' accounts: account -> that account's read role (regionflow.accounts).
    target_read_roles: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.stacks:
            raise ValueError("DriftDetectionArgs.stacks is empty: list every (project folder, stack) to check")
        if not self.backend.url.startswith("s3://"):
            raise ValueError(f"backend URL {self.backend.url!r} must be the s3:// URL `regionflow bootstrap` printed")
        if not (5 <= self.timeout_minutes <= 480):  # CodeBuild's own limits
            raise ValueError(f"timeout_minutes {self.timeout_minutes} must be within CodeBuild's 5-480")


# The only actions of the build role that are not reads; tests hold the role to this list.
ALLOWED_NON_READ_ACTIONS: frozenset[str] = frozenset(
    {
        "kms:Decrypt",  # state, stack secrets, topic and build key, the functions' environments
        "kms:GenerateDataKey",  # SNS messages (encrypted topic), build output
        "sns:Publish",  # the drift report, to the one topic
        "logs:CreateLogGroup",  # its own log group (exists already; CodeBuild's documented policy)
        "logs:CreateLogStream",  # its own log group
        "logs:PutLogEvents",  # its own log group
    }
)


def _scoped(account: pulumi.Output[str], pattern: str, prefix: str) -> pulumi.Output[str]:
    """A READ_SCOPES pattern with this account, partition and name prefix filled in."""
    return account.apply(lambda value: fill_pattern(pattern, value, prefix))


def build_role_statements(args: DriftDetectionArgs, log_group_arn: pulumi.Input[str]) -> list[iam.Statement]:
    """The build role's statements (exposed for tests)."""
    prefix = f"{args.namer.prefix}-{args.namer.environment}-"
    account = pulumi.Output.from_input(args.account_id)
    backend = args.backend
    statements = read_scope_statements(lambda pattern: _scoped(account, pattern, prefix))
    statements += [
        iam.Statement(
            sid="ReadStackKeys",
            # The regional artifact keys and the pipeline's notifications key, as their refresh reads them
            # (terraform-provider-aws internal/service/kms/key.go findKeyInfo), and the build's own key.
            actions=KEY_READ_ACTIONS,
            resources=[*args.stack_key_arns, args.topic_key_arn, args.key_arn],
        ),
        iam.Statement(
            sid="DecryptSchedule",
            # Reading the nightly schedule, encrypted with the build's key, may need it (EventBridge Scheduler
            # user guide, "Encryption at rest"; whether GetSchedule decrypts is not stated).
            actions=["kms:Decrypt"],
            resources=[args.key_arn],
            conditions=[iam.Condition("StringEquals", "kms:ViaService", [f"scheduler.{args.region}.amazonaws.com"])],
        ),
        iam.Statement(
            sid="DecryptFunctionEnvironments",
            # GetFunction returns a function's environment in clear only to a caller that may decrypt it
            # (Lambda developer guide, "Securing environment variables"); without it the refresh would see
            # the variables vanish and report drift every night. Only through Lambda, which this role can ask
            # for its stacks' functions only; so any key of the account, which keeps the policy one size for
            # any number of regions (IAM's 10,240-character limit for a role's inline policies).
            actions=["kms:Decrypt"],
            resources=[_scoped(account, "arn:{partition}:kms:*:{account}:key/*", prefix)],
            conditions=[iam.Condition("StringLike", "kms:ViaService", ["lambda.*.amazonaws.com"])],
        ),
        iam.Statement(
            sid="ListKeyAliases",
            actions=["kms:ListAliases"],  # in UNSCOPABLE_ACTIONS: ListAliases has no resource type
            resources=["*"],
        ),
        *state_statements(
            StateAccess(backend.bucket_arn, backend.state_key_arn, backend.secrets_key_arn),
            read_projects=sorted({stack.project for stack in args.stacks}),
        ),
        iam.Statement(sid="PublishDriftReport", actions=["sns:Publish"], resources=[args.topic_arn]),
        iam.Statement(
            sid="EncryptDriftReport",
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[args.topic_key_arn],
            conditions=[
                # Only when SNS encrypts the message on our behalf; the topic lives in this region.
                iam.Condition("StringEquals", "kms:ViaService", [f"sns.{args.region}.amazonaws.com"])
            ],
        ),
        iam.Statement(
            sid="UseBuildKey",
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[args.key_arn],
        ),
        iam.Statement(
            sid="WriteOwnLogs",
            # As the pipeline's projects (build_project.py): CodeBuild's documented service-role policy.
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group_arn, pulumi.Output.concat(log_group_arn, ":log-stream:*")],
        ),
    ]
    source = args.source
    statements += [
        iam.Statement(
            sid="FindPipelineSource",
            # The last succeeded execution, then its Source action's output artifact (CodePipeline API
            # reference, ListPipelineExecutions and ListActionExecutions: output.outputArtifacts[].s3location).
            actions=["codepipeline:ListPipelineExecutions", "codepipeline:ListActionExecutions"],
            resources=[source.pipeline_arn],
        ),
        iam.Statement(
            sid="ReadPipelineSource",
            # The artifact objects only (encrypted with the home key, which UseBuildKey decrypts).
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[pulumi.Output.concat(source.artifact_bucket_arn, "/*")],
        ),
    ]
    if args.target_read_roles:
        # A region in another account is refreshed through that account's read role (docs/accounts.md).
        statements.append(assume_statement("AssumeTargetReadRoles", list(args.target_read_roles.values())))
    return statements


class DriftDetection(pulumi.ComponentResource):
    """Nightly schedule -> CodeBuild project -> ``pulumi preview --refresh --expect-no-changes``."""

    project: aws.codebuild.Project
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    schedule: aws.scheduler.Schedule
    scheduler_role: aws.iam.Role
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    schedule_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DriftDetectionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namer = args.namer
        buildspec = load_buildspec(args.buildspec_path)  # before any child: a bad file registers nothing
        project_name = namer.name(NameKind.CODEBUILD_PROJECT, "drift")

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=namer.log_group("codebuild", project_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            region=args.region,
            opts=child,
        )
        self.role = service_role(
            f"{name}-role",
            role_name=namer.name(NameKind.IAM_ROLE, "drift"),  # shorter than "drift-scheduler" below
            description="Read-only role of the nightly drift detection build",
            service="codebuild.amazonaws.com",
            account_id=args.account_id,
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            name="drift-detection-read-only",
            policy=iam.policy_document(build_role_statements(args, self.log_group.arn)),
            opts=pulumi.ResourceOptions(parent=self.role),
        )

        self.project = aws.codebuild.Project(
            f"{name}-project",
            name=project_name,
            description="Nightly drift detection: pulumi preview --refresh --expect-no-changes per stack",
            service_role=self.role.arn,
            encryption_key=args.key_arn,
            build_timeout=args.timeout_minutes,
            queued_timeout=60,
            # One night's check at a time: a slow run must not overlap the next one's locks.
            concurrent_build_limit=1,
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                compute_type="BUILD_GENERAL1_SMALL",
                image=BUILD_IMAGE,
                type="LINUX_CONTAINER",
                privileged_mode=False,
                image_pull_credentials_type="CODEBUILD",
                environment_variables=[
                    _env("PULUMI_VERSION", args.pulumi_version),
                    _env("PULUMI_BACKEND_URL", args.backend.url),
                    _env("PULUMI_SECRETS_PROVIDER", args.backend.secrets_provider),
                    _env("DRIFT_STACKS", " ".join(stack.entry() for stack in args.stacks)),
                    _env("DRIFT_TOPIC_ARN", args.topic_arn),
                    _env("DRIFT_PROJECT_NAME", project_name),
                    _env("PIPELINE_NAME", args.source.pipeline_name),
                    _env("SOURCE_ACTION", args.source.source_action),
                    *(
                        [_env("REGIONFLOW_TARGET_PROFILES", profile_pairs(dict(args.target_read_roles)))]
                        if args.target_read_roles
                        else []
                    ),
                ],
            ),
            logs_config=own_log_group_only(self.log_group.name),
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
            # No source of its own: the buildspec fetches the pipeline's last source artifact.
            source=aws.codebuild.ProjectSourceArgs(type="NO_SOURCE", buildspec=buildspec),
        )

        self.scheduler_role = service_role(
            f"{name}-scheduler-role",
            role_name=namer.name(NameKind.IAM_ROLE, "drift-scheduler"),
            description="Lets EventBridge Scheduler start the drift detection build, and nothing else",
            service="scheduler.amazonaws.com",
            account_id=args.account_id,
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        scheduler_policy = aws.iam.RolePolicy(
            f"{name}-scheduler-role-policy",
            role=self.scheduler_role.id,
            name="start-drift-build",
            policy=iam.policy_document(
                [
                    iam.Statement(
                        sid="StartDriftBuild", actions=["codebuild:StartBuild"], resources=[self.project.arn]
                    ),
                    iam.Statement(
                        sid="DecryptScheduleInput",
                        # EventBridge Scheduler user guide, "Encryption at rest": Scheduler decrypts the target
                        # input as this execution role (its CloudTrail example shows the role's session calling
                        # KMS), so no kms:ViaService condition would match; only Scheduler may assume the role.
                        actions=["kms:Decrypt"],
                        resources=[args.key_arn],
                    ),
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self.scheduler_role),
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            name=namer.name(NameKind.SCHEDULE, "drift-nightly"),
            description="Starts the nightly drift detection build",
            schedule_expression=args.schedule_expression,
            schedule_expression_timezone=args.schedule_timezone,
            # Encrypted with the stack's key rather than an AWS-owned one; the scheduler's role decrypts the
            # target input with it (EventBridge Scheduler user guide, "Encryption at rest").
            kms_key_arn=args.key_arn,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            # CodeBuild StartBuild is a templated target: the project ARN is the target.
            target=aws.scheduler.ScheduleTargetArgs(
                arn=self.project.arn,
                role_arn=self.scheduler_role.arn,
                input=json.dumps({}),
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=2, maximum_event_age_in_seconds=3600
                ),
            ),
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[scheduler_policy]),
        )

        self.project_name = self.project.name
        self.project_arn = self.project.arn
        self.role_arn = self.role.arn
        self.schedule_arn = self.schedule.arn
        self.register_outputs(
            {
                "project_name": self.project_name,
                "project_arn": self.project_arn,
                "role_arn": self.role_arn,
                "schedule_arn": self.schedule_arn,
            }
        )


def _env(name: str, value: pulumi.Input[str]) -> aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs:
    return aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=name, value=value, type="PLAINTEXT")
