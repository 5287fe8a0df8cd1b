"""The composition of the pipeline stack: references, topic, pipeline, monitoring, drift.

``stacks/pipeline/__main__.py`` only loads the config and calls :func:`build_pipeline_stack`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from regionflow.accounts import read_role_arn
from regionflow.boundary import boundary_arn
from regionflow.components.pipeline import layout
from regionflow.components.pipeline.drift import (
    DriftDetection,
    DriftDetectionArgs,
    DriftStack,
    PipelineSource,
    StateBackend,
)
from regionflow.components.pipeline.monitoring import (
    BuildProjectTarget,
    PipelineMonitoring,
    PipelineMonitoringArgs,
    RegionalLoggerTarget,
)
from regionflow.components.pipeline.notifications import PipelineNotifications, PipelineNotificationsArgs
from regionflow.components.pipeline.pipeline import RegionflowPipeline, RegionflowPipelineArgs, RegionTarget
from regionflow.contract import RegionalOutputs, read_regional
from regionflow.delivery import describe, plan_deploy_stages
from regionflow.naming import PIPELINE_PURPOSE, NameKind
from regionflow.pipeline_config import PipelineConfig, StackRef

# Names of the pipeline stack's own exports.
PIPELINE_NAME = "pipelineName"
PIPELINE_ARN = "pipelineArn"
PIPELINE_ROLE_ARN = "pipelineRoleArn"
BUILD_ROLE_ARNS = "buildRoleArns"
TOPIC_ARN = "notificationTopicArn"
BOUNDARY_ARN = "permissionsBoundaryArn"
CONNECTION_ARN = "connectionArn"
CONNECTION_NOTE = "connectionNote"
DRIFT_PROJECT = "driftProjectName"
DELIVERY_PLAN = "deliveryPlan"


class StackMismatchError(pulumi.RunError):
    """A regional stack's exports disagree with what the pipeline config says about it."""


@dataclass(frozen=True)
class PipelineStackOutputs:
    pipeline: RegionflowPipeline
    notifications: PipelineNotifications
    boundary_arn: str
    monitoring: PipelineMonitoring
    drift: DriftDetection | None


def _checked(
    ref: StackRef, outputs: RegionalOutputs, config: PipelineConfig, account_id: pulumi.Output[str]
) -> RegionalOutputs:
    """The outputs, with the region gated on agreeing with the config (checked when resolved).

    Per-region resources are registered with the config's plain region string; if the referenced
    stack was deployed to another region (or with another name prefix, which the regional keys'
    log-group conditions depend on), every value derived from these outputs fails with one line.
    """

    def verify(values: list[str]) -> str:
        _credentials_checked, region, prefix, environment, key_arn = values
        expected = (ref.region, config.name_prefix, config.environment)
        if (region, prefix, environment) != expected:
            raise StackMismatchError(
                f"{ref.qualified_name} exports region/namePrefix/environment {region}/{prefix}/{environment}, "
                f"but the pipeline config expects {'/'.join(expected)}. Fix: correct the entry in the pipeline's "
                "primaryStack/secondaryStacks, or its namePrefix/environment"
            )
        # The stack's account is that of its artifact key: the entry's `account`, or the pipeline's own.
        account = key_arn.split(":")[4] if key_arn.count(":") >= 5 else ""
        expected_account = ref.account or config.account_id
        if account != expected_account:
            raise StackMismatchError(
                f"{ref.qualified_name} is deployed in account {account}, but the pipeline config expects "
                f"{expected_account}. Fix: set account: {account} on its secondaryStacks entry, after its owner ran "
                "regionflow bootstrap --target there (docs/accounts.md)"
            )
        return region

    # After the credentials' account is checked (account_id): with another account's credentials every
    # reference would disagree too, and the one line must name the cause, not a symptom.
    checked_region = pulumi.Output.all(
        account_id, outputs.region, outputs.name_prefix, outputs.environment, outputs.artifact_key_arn
    ).apply(verify)

    def gated(value: pulumi.Input[str]) -> pulumi.Output[str]:
        return pulumi.Output.all(checked_region, value).apply(lambda pair: str(pair[1]))

    return RegionalOutputs(
        region=checked_region,
        artifact_bucket_name=gated(outputs.artifact_bucket_name),
        artifact_bucket_arn=gated(outputs.artifact_bucket_arn),
        artifact_key_arn=gated(outputs.artifact_key_arn),
        artifact_key_alias=gated(outputs.artifact_key_alias),
        logger_function_name=gated(outputs.logger_function_name),
        logger_function_arn=gated(outputs.logger_function_arn),
        logger_dlq_url=gated(outputs.logger_dlq_url),
        logger_dlq_arn=gated(outputs.logger_dlq_arn),
        notification_topic_arn=gated(outputs.notification_topic_arn),
        name_prefix=outputs.name_prefix,
        environment=outputs.environment,
        health_alarm_name=gated(outputs.health_alarm_name),
        health_alarm_arn=gated(outputs.health_alarm_arn),
    )


def _reference(ref: StackRef, config: PipelineConfig, account_id: pulumi.Output[str]) -> RegionTarget:
    reference = pulumi.StackReference(ref.qualified_name)
    return RegionTarget(ref, _checked(ref, read_regional(reference), config, account_id))


def build_pipeline_stack(config: PipelineConfig, buildspec_dir: Path) -> PipelineStackOutputs:
    """Create every resource of the pipeline stack and export its outputs."""
    provider = aws.Provider(
        f"aws-{config.region}",
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=config.tags()),
    )
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    caller = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id

    def same_account(account: str) -> str:
        if account != config.account_id:
            raise StackMismatchError(
                f"the credentials are for account {account}, but stateKeyArn/secretsKeyArn are in "
                f"{config.account_id}. Fix: deploy the pipeline with the backend's account"
            )
        return account

    account_id = caller.apply(same_account)
    primary = _reference(config.primary, config, account_id)
    secondaries = [_reference(ref, config, account_id) for ref in config.secondaries]
    namer = config.namer

    # The account's boundary (regionflow.boundary), created by `regionflow bootstrap`: every role carries it.
    # The account is known from the backend keys' ARNs at config time and checked against the caller above.
    boundary = boundary_arn(config.account_id, config.name_prefix, config.environment)
    # Before the pipeline: the approval action notifies the topic and the pipeline role uses its key.
    notifications = PipelineNotifications(
        "notifications",
        PipelineNotificationsArgs(
            namer=namer, account_id=account_id, region=config.region, email=config.notification_email
        ),
        opts=opts,
    )
    pipeline = RegionflowPipeline(
        "pipeline",
        RegionflowPipelineArgs(
            config=config,
            account_id=account_id,
            primary=primary,
            secondaries=secondaries,
            topic_arn=notifications.topic_arn,
            topic_key_arn=notifications.key_arn,
            boundary_arn=boundary,
            buildspec_dir=buildspec_dir,
        ),
        opts=opts,
    )
    monitoring = PipelineMonitoring(
        "monitoring",
        PipelineMonitoringArgs(
            namer=namer,
            region=config.region,
            pipeline_name=pipeline.pipeline_name,
            pipeline_arn=pipeline.pipeline_arn,
            topic_arn=notifications.topic_arn,
            build_projects=[
                BuildProjectTarget(label=info.label, region=info.region, project_name=info.project_name)
                for info in pipeline.build_projects
            ],
            loggers=[
                RegionalLoggerTarget(
                    region=target.stack.region,
                    function_name=target.outputs.logger_function_name,
                    dlq_arn=target.outputs.logger_dlq_arn,
                    topic_arn=target.outputs.notification_topic_arn,
                )
                for target in (primary, *secondaries)
            ],
        ),
        opts=opts,
    )
    drift = _drift(config, account_id, boundary, notifications, pipeline, primary, secondaries, opts)

    pulumi.export(PIPELINE_NAME, pipeline.pipeline_name)
    pulumi.export(PIPELINE_ARN, pipeline.pipeline_arn)
    pulumi.export(PIPELINE_ROLE_ARN, pipeline.role_arn)
    pulumi.export(BUILD_ROLE_ARNS, {key: project.role_arn for key, project in pipeline.projects.items()})
    pulumi.export(TOPIC_ARN, notifications.topic_arn)
    pulumi.export(BOUNDARY_ARN, boundary)
    if pipeline.connection_arn is not None:
        pulumi.export(CONNECTION_ARN, pipeline.connection_arn)
        pulumi.export(
            CONNECTION_NOTE,
            "The connection is created PENDING: complete the GitHub handshake once in the console "
            "(Developer Tools > Settings > Connections > Update pending connection); see docs/pipeline.md",
        )
    if drift is not None:
        pulumi.export(DRIFT_PROJECT, drift.project_name)
    # The gates and bakes in one readable list (docs/delivery.md): what `pulumi stack output` shows a reviewer.
    plan = plan_deploy_stages(config.delivery, config.region, [ref.region for ref in config.secondaries])
    pulumi.export(DELIVERY_PLAN, describe(plan, config.delivery))
    return PipelineStackOutputs(pipeline, notifications, boundary, monitoring, drift)


def _drift(
    config: PipelineConfig,
    account_id: pulumi.Output[str],
    boundary: str,
    notifications: PipelineNotifications,
    pipeline: RegionflowPipeline,
    primary: RegionTarget,
    secondaries: list[RegionTarget],
    opts: pulumi.ResourceOptions,
) -> DriftDetection | None:
    if not config.drift_detection:
        return None
    backend = config.backend
    source = PipelineSource(
        pipeline_name=config.namer.name(NameKind.CODEPIPELINE, PIPELINE_PURPOSE),
        pipeline_arn=pipeline.pipeline_arn,
        source_action=layout.SOURCE,
        artifact_bucket_arn=primary.outputs.artifact_bucket_arn,
    )
    drift = DriftDetection(
        "drift",
        DriftDetectionArgs(
            namer=config.namer,
            region=config.region,
            account_id=account_id,
            topic_arn=notifications.topic_arn,
            topic_key_arn=notifications.key_arn,
            key_arn=primary.outputs.artifact_key_arn,
            backend=StateBackend.for_bucket(
                backend.bucket, backend.region, backend.state_key_arn, backend.secrets_key_arn, backend.secrets_provider
            ),
            source=source,
            stacks=DriftStack.discover(config.repo_root),
            stack_key_arns=[t.outputs.artifact_key_arn for t in (primary, *secondaries)],
            pulumi_version=config.pulumi_version,
            log_retention_days=config.log_retention_days,
            buildspec_path=config.repo_root / "stacks" / "pipeline" / "buildspecs" / "drift.yml",
            permissions_boundary_arn=boundary,
            target_read_roles={
                account: read_role_arn(account, config.name_prefix, config.environment)
                for account in config.target_accounts
            },
        ),
        opts=opts,
    )
    return drift
