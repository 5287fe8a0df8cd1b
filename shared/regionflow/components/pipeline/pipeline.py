"""RegionflowPipeline: the CodePipeline V2 that carries a commit to every region with ``pulumi up``.

Stages (see :mod:`regionflow.components.pipeline.layout`, docs/pipeline.md and docs/delivery.md):
Source -> Build -> Preview -> SecurityScan -> [UpdatePipeline] -> [Approval] -> DeployPrimary ->
the waves (``DeploySecondaries`` without the ``waves`` key, one stage per 25 regions; else ``DeployWave<n>``).
Each secondary deploys in its own region (the action's ``region``) from that region's artifact store, all of a
wave with the same run order so they run in parallel, then its region's logger records the deployment. The
stage conditions (IAM gate, deployment window, alarm-gated bakes) and retries come from
:mod:`regionflow.delivery`.

The component owns the pipeline role, the source connection, and every CodeBuild project of the
pipeline (one role each). The boundary, the topic and the regional stacks' outputs come in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from regionflow import delivery, iam
from regionflow.accounts import (
    TARGET_DEPLOY_PURPOSE,
    TARGET_INVOKE_PURPOSE,
    assume_statement,
    profile_pairs,
    read_role_arn,
    target_role_arn,
)
from regionflow.boundary import BOUNDARY_READ_ACTIONS
from regionflow.components.pipeline import layout
from regionflow.components.pipeline.build_project import PipelineBuildProject, PipelineBuildProjectArgs
from regionflow.components.pipeline.permissions import (
    StateAccess,
    pipeline_update_statements,
    regional_deploy_statements,
    state_statements,
)
from regionflow.components.roles import service_role
from regionflow.contract import RegionalOutputs
from regionflow.naming import PIPELINE_PURPOSE, NameKind, Namer
from regionflow.pipeline_config import PipelineConfig, StackRef
from regionflow.regions import PARTITION


@dataclass(frozen=True)
class RegionTarget:
    """A regional stack to deploy, with the outputs its StackReference returned."""

    stack: StackRef
    outputs: RegionalOutputs


@dataclass(frozen=True)
class BuildProjectInfo:
    """What monitoring needs to know about a build project."""

    label: str  # unique: the project's purpose, e.g. "build", "deploy-eu-west-1"
    region: str
    project_name: pulumi.Output[str]


@dataclass(frozen=True)
class RegionflowPipelineArgs:
    config: PipelineConfig
    account_id: pulumi.Input[str]
    primary: RegionTarget
    secondaries: Sequence[RegionTarget]
    topic_arn: pulumi.Input[str]
    topic_key_arn: pulumi.Input[str]
    boundary_arn: pulumi.Input[str]
    buildspec_dir: Path


class RegionflowPipeline(pulumi.ComponentResource):
    """The pipeline, its role, its connection (GitHub) and its CodeBuild projects."""

    pipeline: aws.codepipeline.Pipeline
    role: aws.iam.Role
    connection: aws.codestarconnections.Connection | None
    projects: dict[str, PipelineBuildProject]
    pipeline_name: pulumi.Output[str]
    pipeline_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    connection_arn: pulumi.Output[str] | None
    build_projects: list[BuildProjectInfo]

    def __init__(self, name: str, args: RegionflowPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("regionflow:pipeline:Pipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config = args.config
        namer = config.namer
        pipeline_name = namer.name(NameKind.CODEPIPELINE, PIPELINE_PURPOSE)
        backend = config.backend
        state = StateAccess(
            bucket_arn=f"arn:aws:s3:::{backend.bucket}",  # created by `regionflow bootstrap`, no stack owns it
            state_key_arn=backend.state_key_arn,
            secrets_key_arn=backend.secrets_key_arn,
        )

        self.connection = None
        self.connection_arn = None
        if config.github is not None:
            # Created PENDING: a person completes the GitHub handshake once (docs/pipeline.md).
            self.connection = aws.codestarconnections.Connection(
                f"{name}-github",
                name=namer.name(NameKind.CODESTAR_CONNECTION, "github"),
                provider_type="GitHub",
                opts=child,
            )
            self.connection_arn = self.connection.arn

        pulumi_env: dict[str, pulumi.Input[str]] = {
            "PULUMI_VERSION": config.pulumi_version,
            "PULUMI_BACKEND_URL": backend.url,
            "PULUMI_SECRETS_PROVIDER": backend.secrets_provider,
        }

        def project(
            key: str,
            target: RegionTarget,
            purpose: str,
            buildspec: str,
            description: str,
            *,
            environment: Mapping[str, pulumi.Input[str]] | None = None,
            extra_statements: Sequence[iam.Statement] = (),
            timeout_minutes: int = 60,
        ) -> PipelineBuildProject:
            region = target.stack.region
            return PipelineBuildProject(
                f"{name}-{key}",
                PipelineBuildProjectArgs(
                    namer=Namer(config.name_prefix, config.environment, region),
                    purpose=purpose,
                    description=description,
                    account_id=args.account_id,
                    region=region,
                    artifact_bucket_arn=target.outputs.artifact_bucket_arn,
                    artifact_key_arn=target.outputs.artifact_key_arn,
                    buildspec_path=args.buildspec_dir / buildspec,
                    boundary_arn=args.boundary_arn,
                    log_retention_days=config.log_retention_days,
                    environment=environment or {},
                    extra_statements=extra_statements,
                    timeout_minutes=timeout_minutes,
                ),
                opts=child,
            )

        # Regions in their owners' accounts (regionflow.accounts, docs/accounts.md): the Preview build previews
        # each through that account's read role, via the profile regionflow-<account> its provider names.
        read_roles = {
            account: read_role_arn(account, config.name_prefix, config.environment)
            for account in config.target_accounts
        }
        read_env: dict[str, pulumi.Input[str]] = (
            {"REGIONFLOW_TARGET_PROFILES": profile_pairs(read_roles)} if read_roles else {}
        )
        read_assume = [assume_statement("AssumeTargetReadRoles", list(read_roles.values()))] if read_roles else []
        all_stacks = [config.primary, *(s.stack for s in args.secondaries)]
        regional_projects = sorted({ref.project for ref in all_stacks})
        own_stack = (config.project, config.stack)
        preview_entries = " ".join(f"{s.folder}:{s.qualified_name}" for s in all_stacks)
        preview_entries += f" stacks/pipeline:{config.qualified_name}"
        self.projects = {
            "build": project("build", args.primary, "build", "build.yml", "Runs the repository's tests (tox)"),
            "preview": project(
                "preview",
                args.primary,
                "preview",
                "preview.yml",
                "pulumi preview of every stack with the policy pack; a mandatory violation fails",
                environment={
                    **pulumi_env,
                    "PREVIEW_STACKS": preview_entries,
                    "BOUNDARY_ARN": args.boundary_arn,
                    **read_env,
                },
                extra_statements=[
                    *read_assume,
                    *state_statements(state, read_projects=[*regional_projects, config.project]),
                    iam.Statement(
                        sid="ReadBoundary",
                        # The live boundary, compared with the one the commit needs (regionflow.boundary_check).
                        actions=BOUNDARY_READ_ACTIONS,
                        resources=[args.boundary_arn],
                    ),
                ],
            ),
            "scan": project(
                "scan",
                args.primary,
                "security-scan",
                "security-scan.yml",
                "bandit and pip-audit over the code; any finding fails",
            ),
        }
        if config.update_pipeline:
            self.projects["update"] = project(
                "update",
                args.primary,
                "update-pipeline",
                "update-pipeline.yml",
                "pulumi up of the pipeline stack itself; stops and restarts the execution if it changed",
                environment={
                    **pulumi_env,
                    "STACK_DIR": "stacks/pipeline",
                    "STACK_NAME": config.qualified_name,
                    "PIPELINE_NAME": pipeline_name,
                    "SOURCE_ACTION": layout.SOURCE,
                    "REVISION_TYPE": "COMMIT_ID" if config.source_kind == "github" else "S3_OBJECT_VERSION_ID",
                },
                extra_statements=[
                    # Its own stack, and the regional stacks its StackReferences read.
                    *state_statements(state, write=[own_stack], read_projects=regional_projects),
                    *pipeline_update_statements(
                        namer,
                        args.account_id,
                        # The pipeline's ARN by its name: the role must exist before the pipeline
                        # (the pipeline's stages name this project), so it cannot be the resource's output.
                        pulumi.Output.concat(
                            "arn:aws:codepipeline:", config.region, ":", args.account_id, ":", pipeline_name
                        ),
                        [t.outputs.artifact_key_arn for t in (args.primary, *args.secondaries)],
                        args.topic_key_arn,
                        self.connection_arn,
                        args.boundary_arn,
                    ),
                ],
            )
        deploy_projects: list[tuple[RegionTarget, PipelineBuildProject]] = []
        for target in (args.primary, *args.secondaries):
            region = target.stack.region
            account = target.stack.account
            if account is None:
                deploy_env: dict[str, pulumi.Input[str]] = {}
                # pulumi up of the region's stack runs as this role, in this account.
                deploy_statements = regional_deploy_statements(
                    Namer(config.name_prefix, config.environment, region),
                    args.account_id,
                    target.outputs.artifact_key_arn,
                    args.boundary_arn,
                    home_region=target is args.primary,
                )
            else:
                # The provider reaches the region's account through the profile regionflow-<account>, which the
                # build points at the target bootstrap's deploy role (scripts/common.sh write_target_profiles);
                # the build's own role only assumes it, and keeps the state and secrets (regionflow.accounts).
                deploy_role = target_role_arn(
                    account, config.name_prefix, config.environment, region, TARGET_DEPLOY_PURPOSE
                )
                deploy_env = {"REGIONFLOW_TARGET_PROFILES": profile_pairs({account: deploy_role})}
                deploy_statements = [assume_statement("AssumeTargetDeployRole", [deploy_role])]
            deploy_projects.append(
                (
                    target,
                    project(
                        f"deploy-{region}",
                        target,
                        "deploy",
                        "deploy.yml",
                        f"pulumi up of {target.stack.qualified_name} in {region}",
                        environment={
                            **pulumi_env,
                            "STACK_DIR": target.stack.folder,
                            "STACK_NAME": target.stack.qualified_name,
                            # A failed `pulumi up` is retried once inside the build before the stage rolls
                            # back: onFailure holds one result, ROLLBACK or RETRY (regionflow.delivery).
                            "DEPLOY_ATTEMPTS": "2" if config.delivery.auto_retry else "1",
                            **deploy_env,
                        },
                        extra_statements=[
                            *state_statements(state, write=[(target.stack.project, target.stack.stack)]),
                            *deploy_statements,
                        ],
                        timeout_minutes=120,
                    ),
                )
            )
            self.projects[f"deploy-{region}"] = deploy_projects[-1][1]

        targets = [args.primary, *args.secondaries]
        plan = delivery.plan_deploy_stages(config.delivery, config.region, [t.stack.region for t in args.secondaries])
        baked_regions = {region for stage in plan if stage.baked for region in stage.regions}
        self.role = service_role(
            f"{name}-role",
            role_name=namer.name(NameKind.IAM_ROLE, "pipeline"),
            description=f"Service role of the {pipeline_name} pipeline",
            service="codepipeline.amazonaws.com",
            account_id=args.account_id,
            permissions_boundary=args.boundary_arn,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            name="pipeline",
            policy=iam.policy_document(
                pipeline_role_statements(
                    targets=targets,
                    project_arns=[p.project_arn for p in self.projects.values()],
                    topic_arn=args.topic_arn,
                    topic_key_arn=args.topic_key_arn,
                    connection_arn=self.connection_arn,
                    home_region=config.region,
                    health_alarms=_health_alarm_pattern(config, args.account_id) if baked_regions else None,
                    invoke_roles=[arn for arn in (invoke_role_arn(config, t.stack) for t in targets) if arn],
                )
            ),
            opts=pulumi.ResourceOptions(parent=self.role),
        )

        self.pipeline = aws.codepipeline.Pipeline(
            f"{name}-pipeline",
            name=pipeline_name,
            pipeline_type="V2",
            # One execution at a time, in order: deployments never overlap, none is skipped.
            execution_mode="QUEUED",
            role_arn=self.role.arn,
            artifact_stores=[
                aws.codepipeline.PipelineArtifactStoreArgs(
                    location=t.outputs.artifact_bucket_name,
                    type="S3",
                    region=t.stack.region,
                    encryption_key=aws.codepipeline.PipelineArtifactStoreEncryptionKeyArgs(
                        id=t.outputs.artifact_key_arn, type="KMS"
                    ),
                )
                for t in targets
            ],
            triggers=_triggers(config),
            stages=_stages(config, pipeline_name, args, self.projects, deploy_projects, self.connection_arn, plan),
            # What the delivery config asks for, where the policy rules (and people) can see it.
            tags=delivery_tags(config.delivery),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )

        self.pipeline_name = self.pipeline.name
        self.pipeline_arn = self.pipeline.arn
        self.role_arn = self.role.arn
        # Monitoring wants labels unique across regions and slug-friendly: the project's purpose,
        # with the region for the deploys (e.g. "deploy-eu-west-1").
        purposes = {"build": "build", "preview": "preview", "scan": "security-scan", "update": "update-pipeline"}
        self.build_projects = [
            BuildProjectInfo(purposes.get(key, key), p.region, p.project_name) for key, p in self.projects.items()
        ]
        self.register_outputs(
            {
                "pipeline_name": self.pipeline_name,
                "pipeline_arn": self.pipeline_arn,
                "role_arn": self.role_arn,
                "connection_arn": self.connection_arn,
            }
        )


def pipeline_role_statements(
    *,
    targets: Sequence[RegionTarget],
    project_arns: Sequence[pulumi.Input[str]],
    topic_arn: pulumi.Input[str],
    topic_key_arn: pulumi.Input[str],
    connection_arn: pulumi.Input[str] | None,
    home_region: str,
    health_alarms: pulumi.Input[str] | None = None,
    invoke_roles: Sequence[str] = (),
) -> list[iam.Statement]:
    """Exactly the buckets, keys, projects, functions, topic, connection and alarms the pipeline uses.

    The pipeline passes no role (its actions run as itself; each project has its own service
    role), so it has no iam:PassRole at all.
    """
    statements = [
        iam.Statement(
            sid="ArtifactObjects",
            actions=["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            resources=[pulumi.Output.concat(t.outputs.artifact_bucket_arn, "/*") for t in targets],
        ),
        iam.Statement(
            sid="ArtifactBuckets",
            # GetBucketVersioning: an S3 source reads the object version it starts from.
            actions=["s3:GetBucketVersioning", "s3:GetBucketLocation"],
            resources=[t.outputs.artifact_bucket_arn for t in targets],
        ),
        iam.Statement(
            sid="ArtifactKeys",
            actions=[
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:DescribeKey",
            ],
            resources=[t.outputs.artifact_key_arn for t in targets],
        ),
        iam.Statement(
            sid="RunBuilds",
            actions=["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"],
            resources=list(project_arns),
        ),
        iam.Statement(
            sid="InvokeLoggers",
            actions=["lambda:InvokeFunction"],
            # A region in another account is invoked by its own account's invoke role (invoke_role_arn).
            resources=[t.outputs.logger_function_arn for t in targets if t.stack.account is None],
        ),
        iam.Statement(sid="NotifyApprovals", actions=["sns:Publish"], resources=[topic_arn]),
        iam.Statement(
            sid="EncryptApprovalNotifications",
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[topic_key_arn],
            conditions=[iam.Condition("StringEquals", "kms:ViaService", [f"sns.{home_region}.amazonaws.com"])],
        ),
    ]
    if health_alarms is not None:
        statements.append(
            iam.Statement(
                sid="WatchHealthAlarms",
                # The bakes' CloudWatchAlarm rules read each baked region's health alarm, in its region, as the
                # pipeline role (a rule's role defaults to the pipeline's; RuleDeclaration roleArn). The rule
                # reference does not list the calls; DescribeAlarms (state) and DescribeAlarmHistory (state
                # changes within WaitTime) are the CloudWatch reads of an alarm's state, and both take the alarm
                # ARN as resource (Service Authorization Reference, CloudWatch: resource type alarm). A missing
                # read would show as the rule's Errored status (API reference, StageConditionsExecution).
                # One pattern, the family's health alarms in any region, rather than one ARN per region: 20 ARNs
                # push this role's inline policy past IAM's 10,240 characters (tests/pipeline/test_delivery.py).
                actions=["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"],
                resources=[health_alarms],
            )
        )
    if invoke_roles:
        # The logger Invoke actions of regions in other accounts run as those accounts' invoke roles.
        statements.append(assume_statement("AssumeTargetInvokeRoles", list(invoke_roles)))
    if connection_arn is not None:
        statements.append(
            iam.Statement(
                sid="UseSourceConnection",
                # Connections made before the service's rename carry codestar-connections ARNs,
                # newer ones codeconnections ARNs; each prefix only matches its own ARN.
                actions=["codestar-connections:UseConnection", "codeconnections:UseConnection"],
                resources=[connection_arn],
            )
        )
    return statements


def _triggers(config: PipelineConfig) -> list[aws.codepipeline.PipelineTriggerArgs] | None:
    if config.github is None:
        return None
    return [
        aws.codepipeline.PipelineTriggerArgs(
            provider_type="CodeStarSourceConnection",
            git_configuration=aws.codepipeline.PipelineTriggerGitConfigurationArgs(
                source_action_name=layout.SOURCE,
                pushes=[
                    aws.codepipeline.PipelineTriggerGitConfigurationPushArgs(
                        branches=aws.codepipeline.PipelineTriggerGitConfigurationPushBranchesArgs(
                            includes=[config.github.branch]
                        ),
                        file_paths=aws.codepipeline.PipelineTriggerGitConfigurationPushFilePathsArgs(
                            includes=list(config.github.file_paths)
                        ),
                    )
                ],
            ),
        )
    ]


def _build_action(
    name: str,
    project: PipelineBuildProject,
    *,
    run_order: int = 1,
    region: str | None = None,
    env: str | None = None,
    namespace: str | None = None,
) -> aws.codepipeline.PipelineStageActionArgs:
    configuration: dict[str, pulumi.Input[str]] = {"ProjectName": project.project_name}
    if env is not None:
        configuration["EnvironmentVariables"] = env
    return aws.codepipeline.PipelineStageActionArgs(
        name=name,
        category="Build",
        owner="AWS",
        provider="CodeBuild",
        version="1",
        input_artifacts=["source"],
        configuration=configuration,
        run_order=run_order,
        region=region,
        namespace=namespace,
    )


def invoke_role_arn(config: PipelineConfig, ref: StackRef) -> str | None:
    """The logger Invoke action's role in a region's own account; None for a region in the pipeline account.

    CodePipeline runs an action of another account with an action ``roleArn`` in that account, which the
    pipeline's service role assumes (CodePipeline user guide, "Create a pipeline in CodePipeline that uses
    resources from another AWS account"; action structure reference, ``roleArn``). The function is then invoked
    by that role in its own account, so no resource policy of the function names another account.
    """
    if ref.account is None:
        return None
    return target_role_arn(ref.account, config.name_prefix, config.environment, ref.region, TARGET_INVOKE_PURPOSE)


def _record_action(
    target: RegionTarget, pipeline_name: str, stage: str, source_kind: str, role_arn: str | None = None
) -> aws.codepipeline.PipelineStageActionArgs:
    region = target.stack.region
    return aws.codepipeline.PipelineStageActionArgs(
        role_arn=role_arn,
        name=f"RecordDeployment-{region}",
        category="Invoke",
        owner="AWS",
        provider="Lambda",
        version="1",
        region=region,
        run_order=layout.RECORD_RUN_ORDER,
        configuration={
            "FunctionName": target.outputs.logger_function_name,
            "UserParameters": layout.logger_user_parameters(
                pipeline=pipeline_name,
                stage=stage,
                region=region,
                stack=target.stack.qualified_name,
                source_kind=source_kind,
            ),
        },
    )


def _source_stage(
    config: PipelineConfig, args: RegionflowPipelineArgs, connection_arn: pulumi.Input[str] | None
) -> aws.codepipeline.PipelineStageArgs:
    configuration: dict[str, pulumi.Input[str]]
    if config.github is not None and connection_arn is not None:
        provider = "CodeStarSourceConnection"
        configuration = {
            "ConnectionArn": connection_arn,
            "FullRepositoryId": config.github.repository,
            "BranchName": config.github.branch,
            "OutputArtifactFormat": "CODE_ZIP",
        }
    else:
        assert config.s3 is not None
        provider = "S3"
        configuration = {
            "S3Bucket": args.primary.outputs.artifact_bucket_name,
            "S3ObjectKey": config.s3.object_key,
            # The regional artifact bucket sends no EventBridge notifications, so the pipeline
            # polls the object (see docs/pipeline.md for switching to events).
            "PollForSourceChanges": "true",
        }
    action = aws.codepipeline.PipelineStageActionArgs(
        name=layout.SOURCE,
        category="Source",
        owner="AWS",
        provider=provider,
        version="1",
        namespace=layout.SOURCE_NAMESPACE,
        output_artifacts=["source"],
        configuration=configuration,
    )
    return aws.codepipeline.PipelineStageArgs(name=layout.SOURCE, actions=[action])


def _health_alarm_pattern(config: PipelineConfig, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """ARN pattern of every region's health alarm: ``<prefix>-<env>-<code>-health`` in any region of the account."""
    name = f"{config.name_prefix}-{config.environment}-*-{delivery.HEALTH_ALARM_PURPOSE}"
    return pulumi.Output.concat("arn:", PARTITION, ":cloudwatch:*:", account_id, ":alarm:", name)


def delivery_tags(config: delivery.DeliveryConfig) -> dict[str, str]:
    """The delivery choices as tags of the pipeline, read by the policy rules (regionflow.policies.rules)."""
    tags = {
        delivery.BAKE_TAG: str(config.bake_minutes),
        delivery.APPROVAL_TAG: config.approval,
    }
    if config.approval_override is not None:
        tags[delivery.APPROVAL_OVERRIDE_TAG] = config.approval_override
    return tags


def _retry_on_failure(config: PipelineConfig) -> aws.codepipeline.PipelineStageOnFailureArgs | None:
    """One automatic retry of a failed check stage's failed actions (these stages have nothing to roll back).

    ``onFailure`` result RETRY with a retry configuration (API reference ``FailureConditions``,
    ``RetryConfiguration``: FAILED_ACTIONS or ALL_ACTIONS); one attempt is all CodePipeline makes ("Configuring
    stage retry for a failed stage or failed actions", considerations). No onFailure condition goes with it:
    automatic retry cannot be used with onFailure conditions ("Configure conditions for a stage").
    """
    if not config.delivery.auto_retry:
        return None
    return aws.codepipeline.PipelineStageOnFailureArgs(
        result="RETRY",
        retry_configuration=aws.codepipeline.PipelineStageOnFailureRetryConfigurationArgs(retry_mode="FAILED_ACTIONS"),
    )


def _window_entry(window: delivery.DeploymentWindow) -> aws.codepipeline.PipelineStageBeforeEntryArgs:
    """Keep a deploy stage from starting outside the window (DeploymentWindow rule, Cron and TimeZone).

    Entry conditions allow FAIL or SKIP, and SKIP only with LambdaInvoke or VariableCheck rules ("Configure
    conditions for a stage"): the window's result is FAIL. The rule holds the execution at the stage's entry
    until the window opens (rule reference, DeploymentWindow: "After the deployment window opens, CodePipeline
    does not check the CloudWatchAlarm alarm again", about an entry condition holding both rules).
    """
    return aws.codepipeline.PipelineStageBeforeEntryArgs(
        condition=aws.codepipeline.PipelineStageBeforeEntryConditionArgs(
            result="FAIL",
            rules=[
                aws.codepipeline.PipelineStageBeforeEntryConditionRuleArgs(
                    name=delivery.WINDOW_RULE_NAME,
                    rule_type_id=aws.codepipeline.PipelineStageBeforeEntryConditionRuleRuleTypeIdArgs(
                        category="Rule", owner="AWS", provider="DeploymentWindow", version="1"
                    ),
                    configuration={"Cron": window.cron, "TimeZone": window.time_zone},
                )
            ],
        )
    )


def _bake(
    stage: delivery.DeployStage, health: Mapping[str, pulumi.Input[str]]
) -> aws.codepipeline.PipelineStageOnSuccessArgs:
    """After the stage's deploys succeed, watch each region's health alarm for the bake time; roll back on ALARM.

    One CloudWatchAlarm rule per region, in that region (rules take a ``region``), in the stage's single
    onSuccess condition of at most 5 rules (checked by regionflow.delivery.check_plan). On-success results are
    ROLLBACK or FAIL ("Configure conditions for a stage"); ROLLBACK runs the stage again at its last successful
    execution. WaitTime is in minutes, AlarmStates the states that fail the rule (rule reference,
    CloudWatchAlarm); AWS's own use case: "roll back the change if the alarm goes into ALARM state within 60
    minutes" of a successful stage ("Configure conditions for a stage", use cases).
    """
    return aws.codepipeline.PipelineStageOnSuccessArgs(
        condition=aws.codepipeline.PipelineStageOnSuccessConditionArgs(
            result="ROLLBACK",
            rules=[
                aws.codepipeline.PipelineStageOnSuccessConditionRuleArgs(
                    name=delivery.health_rule_name(region),
                    rule_type_id=aws.codepipeline.PipelineStageOnSuccessConditionRuleRuleTypeIdArgs(
                        category="Rule", owner="AWS", provider="CloudWatchAlarm", version="1"
                    ),
                    configuration={
                        "AlarmName": health[region],
                        "AlarmStates": "ALARM",
                        "WaitTime": str(stage.bake_minutes),
                    },
                    region=region,
                )
                for region in stage.regions
                if region in health
            ],
        )
    )


def _iam_gate() -> aws.codepipeline.PipelineStageBeforeEntryArgs:
    """Skip the approval unless the Preview stage saw an IAM change (regionflow.delivery.iam_gate_configuration).

    SKIP is an entry result, supported only with LambdaInvoke and VariableCheck rules, and a SKIP condition
    cannot be overridden ("Configure conditions for a stage", considerations).
    """
    return aws.codepipeline.PipelineStageBeforeEntryArgs(
        condition=aws.codepipeline.PipelineStageBeforeEntryConditionArgs(
            result="SKIP",
            rules=[
                aws.codepipeline.PipelineStageBeforeEntryConditionRuleArgs(
                    name=delivery.IAM_GATE_RULE_NAME,
                    rule_type_id=aws.codepipeline.PipelineStageBeforeEntryConditionRuleRuleTypeIdArgs(
                        category="Rule", owner="AWS", provider="VariableCheck", version="1"
                    ),
                    configuration=delivery.iam_gate_configuration(),
                )
            ],
        )
    )


def _stages(
    config: PipelineConfig,
    pipeline_name: str,
    args: RegionflowPipelineArgs,
    projects: dict[str, PipelineBuildProject],
    deploys: list[tuple[RegionTarget, PipelineBuildProject]],
    connection_arn: pulumi.Input[str] | None,
    plan: Sequence[delivery.DeployStage],
) -> list[aws.codepipeline.PipelineStageArgs]:
    rollback = aws.codepipeline.PipelineStageOnFailureArgs(result="ROLLBACK")
    retry = _retry_on_failure(config)
    commit = layout.commit_variable(config.source_kind)
    # The Preview build exports IAM_CHANGES (buildspecs/preview.yml); the action's namespace makes it
    # #{PreviewVariables.IAM_CHANGES} for the Approval stage's condition.
    preview = _build_action("PulumiPreview", projects["preview"], namespace=delivery.PREVIEW_NAMESPACE)
    stages = [
        _source_stage(config, args, connection_arn),
        aws.codepipeline.PipelineStageArgs(
            name=layout.BUILD, actions=[_build_action("Tox", projects["build"])], on_failure=retry
        ),
        aws.codepipeline.PipelineStageArgs(name=layout.PREVIEW, actions=[preview], on_failure=retry),
        aws.codepipeline.PipelineStageArgs(
            name=layout.SECURITY_SCAN, actions=[_build_action("BanditPipAudit", projects["scan"])], on_failure=retry
        ),
    ]
    if config.delivery.approval != "never":
        regions = ", ".join(config.regions)
        approval_config: dict[str, pulumi.Input[str]] = {
            "NotificationArn": args.topic_arn,
            "CustomData": f"Deploy commit {commit} of {pipeline_name} to {len(config.regions)} regions: {regions}"[
                :500
            ],
        }
        if config.github is not None:
            approval_config["ExternalEntityLink"] = f"https://github.com/{config.github.repository}/commit/{commit}"
        stages.append(
            aws.codepipeline.PipelineStageArgs(
                name=layout.APPROVAL,
                before_entry=_iam_gate() if config.delivery.approval == "iam-changes" else None,
                actions=[
                    aws.codepipeline.PipelineStageActionArgs(
                        name="ApproveDeployment",
                        category="Approval",
                        owner="AWS",
                        provider="Manual",
                        version="1",
                        configuration=approval_config,
                        timeout_in_minutes=config.approval_timeout_minutes,
                    )
                ],
            )
        )
    # UpdatePipeline after the approval: a change of the pipeline stack (its roles and policies included) is
    # approved, when the IAM gate asks for it, before it is applied; applied first, the restarted execution's
    # Preview would no longer see it and the gate would skip the approval.
    if "update" in projects:
        env = json.dumps(
            [
                {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}", "type": "PLAINTEXT"},
                {"name": "SOURCE_REVISION", "value": commit, "type": "PLAINTEXT"},
            ]
        )
        stages.append(
            aws.codepipeline.PipelineStageArgs(
                name=layout.UPDATE_PIPELINE, actions=[_build_action("PulumiUpPipeline", projects["update"], env=env)]
            )
        )
    by_region = {target.stack.region: (target, project) for target, project in deploys}
    # A CloudWatchAlarm rule reads its alarm by name as the pipeline, in the pipeline's account: an alarm of
    # another account is out of its sight (CodePipeline rule reference, CloudWatchAlarm: AlarmName only, no
    # account; alarms have no resource policy), so regions in other accounts are not watched by the bake
    # (docs/accounts.md, "Known limit: bakes"; the plan and the policy rule say so too).
    health = {
        target.stack.region: target.outputs.health_alarm_name for target, _ in deploys if target.stack.account is None
    }
    for stage in plan:
        actions: list[aws.codepipeline.PipelineStageActionArgs] = []
        for region in stage.regions:
            # Every region's deploy has the same run order (in parallel), its logger record the next one.
            target, project = by_region[region]
            actions.append(
                _build_action(f"PulumiUp-{region}", project, run_order=layout.DEPLOY_RUN_ORDER, region=region)
            )
            actions.append(
                _record_action(
                    target, pipeline_name, stage.name, config.source_kind, invoke_role_arn(config, target.stack)
                )
            )
        stages.append(
            aws.codepipeline.PipelineStageArgs(
                name=stage.name,
                before_entry=_window_entry(stage.window) if stage.window is not None else None,
                on_success=_bake(stage, health) if stage.baked and set(stage.regions) & set(health) else None,
                on_failure=rollback,
                actions=actions,
            )
        )
    return stages
