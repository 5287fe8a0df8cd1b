"""The composition of a regional stack: provider, ArtifactStore and DeploymentLogger.

Primary and secondary stacks are the same infrastructure in different roles; both ``__main__.py``
files call :func:`build_regional_stack` so the two can never drift apart.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from regionflow.accounts import artifact_principals, profile_name
from regionflow.boundary import boundary_arn
from regionflow.components.artifact_store import ArtifactStore, ArtifactStoreArgs
from regionflow.components.deployment_logger import DeploymentLogger, DeploymentLoggerArgs
from regionflow.components.health import RegionHealth, RegionHealthArgs
from regionflow.config import RegionalConfig
from regionflow.contract import RegionalOutputs
from regionflow.lambda_layers import powertools_layer_arn
from regionflow.naming import PIPELINE_PURPOSE, NameKind, Namer


class AccountMismatchError(pulumi.RunError):
    """The credentials reach another account than the stack's config names."""


def regional_provider(config: RegionalConfig) -> aws.Provider:
    """The stack's one AWS provider: its region, and the default tags every resource inherits.

    A region in its owner's account also names the shared-config profile ``regionflow-<account>``
    (regionflow.accounts): a constant of the config, so a hand deploy, the pipeline's deploy, drift detection
    and a pull-request preview compute the same provider inputs; only what the profile holds differs per runner.
    The Pulumi CLI's backend and secrets provider keep the ambient credentials (the pipeline account's).
    """
    if config.account is not None and config.pipeline_account is not None:
        return aws.Provider(
            f"aws-{config.region}",
            region=config.region,
            profile=profile_name(config.account),
            default_tags=aws.ProviderDefaultTagsArgs(tags=config.tags()),
        )
    return aws.Provider(
        f"aws-{config.region}",
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=config.tags()),
    )


def checked_account(config: RegionalConfig, caller_account: pulumi.Output[str]) -> pulumi.Output[str]:
    """The caller's account, refused with one line when the config names another (a misdirected profile)."""
    expected = config.account
    if expected is None:
        return caller_account

    def check(account: str) -> str:
        if account != expected:
            raise AccountMismatchError(
                f"{config.project}:account is {expected}, but the profile {profile_name(expected)} reaches account "
                f"{account}. Fix: point that AWS profile at account {expected} (docs/accounts.md)"
            )
        return account

    return caller_account.apply(check)


def build_regional_stack(config: RegionalConfig, function_dir: Path) -> RegionalOutputs:
    """Create a region's artifact store deployment logger and health alarm; return the contract's values."""
    provider = regional_provider(config)
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    account_id = checked_account(
        config, aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    )
    namer = config.namer

    store = ArtifactStore(
        "artifacts",
        ArtifactStoreArgs(
            namer=namer,
            account_id=account_id,
            region=config.region,
            transition_days=config.artifact_transition_days,
            noncurrent_version_expiration_days=config.noncurrent_version_expiration_days,
            eventbridge_dead_letters=config.kind == "primary",
            pipeline_account=config.pipeline_account,
            pipeline_principals=tuple(
                artifact_principals(
                    config.pipeline_account,
                    config.name_prefix,
                    config.environment,
                    config.primary_region,
                    config.region,
                )
            )
            if config.pipeline_account is not None
            else (),
        ),
        opts=opts,
    )
    logger = DeploymentLogger(
        "deploy-logger",
        DeploymentLoggerArgs(
            namer=namer,
            account_id=account_id,
            region=config.region,
            key_arn=store.key_arn,
            function_dir=function_dir,
            layer_arn=powertools_layer_arn(config.region, version=config.powertools_layer_version),
            log_retention_days=config.log_retention_days,
            memory_mb=config.logger_memory_mb,
            timeout_seconds=config.logger_timeout_seconds,
            notification_email=config.notification_email,
            # The pipeline lives in the home region under a name derived from the same naming.
            pipeline_name=Namer(config.name_prefix, config.environment, config.region).name(
                NameKind.CODEPIPELINE, PIPELINE_PURPOSE
            )
            if config.kind == "primary"
            else None,
            # The account's regionflow boundary (created by `regionflow bootstrap`), derived from the naming,
            # so a hand deploy and the pipeline's deploy compute the same role.
            permissions_boundary_arn=account_id.apply(
                lambda account: boundary_arn(account, config.name_prefix, config.environment)
            ),
        ),
        opts=opts,
    )
    # The region's health, which the pipeline's bakes watch (regionflow.delivery, docs/delivery.md).
    health = RegionHealth(
        "health",
        RegionHealthArgs(
            namer=namer,
            function_name=logger.function_name,
            dlq_arn=logger.dlq_arn,
            topic_arn=logger.topic_arn,
            owner_alarm_names=config.health_alarm_names,
        ),
        opts=opts,
    )
    return RegionalOutputs(
        region=config.region,
        artifact_bucket_name=store.bucket_name,
        artifact_bucket_arn=store.bucket_arn,
        artifact_key_arn=store.key_arn,
        artifact_key_alias=store.key_alias,
        logger_function_name=logger.function_name,
        logger_function_arn=logger.function_arn,
        logger_dlq_url=logger.dlq_url,
        logger_dlq_arn=logger.dlq_arn,
        notification_topic_arn=logger.topic_arn,
        name_prefix=config.name_prefix,
        environment=config.environment,
        health_alarm_name=health.alarm_name,
        health_alarm_arn=health.alarm_arn,
    )
