"""PipelineBuildProject: one CodeBuild project of the pipeline, with its own role and log group.

Every project runs in one region, reads its input from and writes its output to that region's
artifact store (bucket and CMK of the regional stack), encrypts its output and logs with that CMK,
is unprivileged (no Docker daemon), and loads its buildspec from a YAML file in
``stacks/pipeline/buildspecs/``. Extra permissions (state backend, deploy rights) are passed in as
statements; the role gets nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
import yaml

from regionflow import iam, yaml_loading
from regionflow.components.roles import service_role
from regionflow.naming import NameKind, Namer

BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
# The phases CodeBuild's buildspec 0.2 knows (CodeBuild user guide, "Buildspec syntax").
BUILDSPEC_PHASES: frozenset[str] = frozenset({"install", "pre_build", "build", "post_build"})
BUILDSPEC_TOP_LEVEL: frozenset[str] = frozenset(
    {"version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"}
)


class BuildspecError(ValueError):
    """A buildspec file is missing or not a CodeBuild 0.2 buildspec."""


def own_log_group_only(group_name: pulumi.Input[str]) -> aws.codebuild.ProjectLogsConfigArgs:
    """Build logs go to the project's own KMS-encrypted log group, never to an S3 bucket."""
    return aws.codebuild.ProjectLogsConfigArgs(
        cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(status="ENABLED", group_name=group_name),
        s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
    )


def load_buildspec(path: Path) -> str:
    """The buildspec's text, after checking version 0.2, known keys and phases, and commands."""
    try:
        text = path.read_text()
    except OSError as error:
        raise BuildspecError(f"cannot read buildspec {path}: {error.strerror}") from None
    try:
        spec = yaml_loading.safe_load(text)
    except yaml.YAMLError:
        raise BuildspecError(f"{path} is not valid YAML") from None
    if not isinstance(spec, dict) or str(spec.get("version")) != "0.2":
        raise BuildspecError(f"{path}: a buildspec needs `version: 0.2` at the top level")
    unknown = set(spec) - BUILDSPEC_TOP_LEVEL
    if unknown:
        raise BuildspecError(f"{path}: unknown top-level keys {sorted(unknown)}")
    phases = spec.get("phases")
    if not isinstance(phases, dict) or not phases:
        raise BuildspecError(f"{path}: no phases")
    unknown_phases = set(phases) - BUILDSPEC_PHASES
    if unknown_phases:
        raise BuildspecError(f"{path}: unknown phases {sorted(unknown_phases)}")
    for phase, body in phases.items():
        commands = body.get("commands") if isinstance(body, dict) else None
        if not isinstance(commands, list) or not commands or not all(isinstance(c, str) and c for c in commands):
            raise BuildspecError(f"{path}: phase {phase} has no commands")
    return text


@dataclass(frozen=True)
class PipelineBuildProjectArgs:
    namer: Namer  # the namer of the project's region
    purpose: str  # e.g. "build", "deploy": the physical names end in it
    description: str
    account_id: pulumi.Input[str]
    region: str
    artifact_bucket_arn: pulumi.Input[str]
    artifact_key_arn: pulumi.Input[str]
    buildspec_path: Path
    boundary_arn: pulumi.Input[str]
    log_retention_days: int
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    extra_statements: Sequence[iam.Statement] = ()
    timeout_minutes: int = 60
    compute_type: str = "BUILD_GENERAL1_SMALL"


class PipelineBuildProject(pulumi.ComponentResource):
    """Log group, role (boundary attached) and CodeBuild project, all in one region."""

    log_group: aws.cloudwatch.LogGroup
    role: aws.iam.Role
    project: aws.codebuild.Project
    project_name: pulumi.Output[str]
    project_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    region: str

    def __init__(self, name: str, args: PipelineBuildProjectArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("regionflow:pipeline:BuildProject", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        buildspec = load_buildspec(args.buildspec_path)  # before any child: a bad file registers nothing
        project_name = args.namer.name(NameKind.CODEBUILD_PROJECT, args.purpose)
        self.region = args.region

        # The regional CMK's key policy lets CloudWatch Logs use it for /aws/*/<base>-* log groups.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=args.namer.log_group("codebuild", project_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.artifact_key_arn,
            region=args.region,
            opts=child,
        )
        self.role = service_role(
            f"{name}-role",
            role_name=args.namer.name(NameKind.IAM_ROLE, args.purpose),
            description=f"Service role of the {project_name} CodeBuild project",
            service="codebuild.amazonaws.com",
            account_id=args.account_id,
            permissions_boundary=args.boundary_arn,
            opts=child,
        )
        objects = pulumi.Output.concat(args.artifact_bucket_arn, "/*")
        statements = [
            iam.Statement(
                sid="WriteOwnLogs",
                # CodeBuild's documented service-role policy lets it create the project's log group too
                # (CodeBuild user guide, "Allow CodeBuild to interact with other AWS services"); the group
                # exists already, so this only ever names the project's own group.
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.arn, pulumi.Output.concat(self.log_group.arn, ":log-stream:*")],
            ),
            iam.Statement(
                sid="PipelineArtifacts",
                actions=["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                resources=[objects],
            ),
            iam.Statement(
                sid="ArtifactBucketLocation", actions=["s3:GetBucketLocation"], resources=[args.artifact_bucket_arn]
            ),
            iam.Statement(
                sid="ArtifactKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[args.artifact_key_arn],
            ),
            *args.extra_statements,
        ]
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            name=args.purpose,
            policy=iam.policy_document(statements),
            opts=pulumi.ResourceOptions(parent=self.role),
        )
        self.project = aws.codebuild.Project(
            f"{name}-project",
            name=project_name,
            description=args.description,
            service_role=self.role.arn,
            encryption_key=args.artifact_key_arn,
            build_timeout=args.timeout_minutes,
            queued_timeout=60,
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="CODEPIPELINE"),
            source=aws.codebuild.ProjectSourceArgs(type="CODEPIPELINE", buildspec=buildspec),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                compute_type=args.compute_type,
                image=BUILD_IMAGE,
                type="LINUX_CONTAINER",
                privileged_mode=False,
                image_pull_credentials_type="CODEBUILD",
                environment_variables=[
                    aws.codebuild.ProjectEnvironmentEnvironmentVariableArgs(name=key, value=value, type="PLAINTEXT")
                    for key, value in sorted(args.environment.items())
                ],
            ),
            logs_config=own_log_group_only(self.log_group.name),
            region=args.region,
            # The role's permissions must exist before the first build uses them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        self.project_name = self.project.name
        self.project_arn = self.project.arn
        self.role_arn = self.role.arn
        self.register_outputs(
            {"project_name": self.project_name, "project_arn": self.project_arn, "role_arn": self.role_arn}
        )
