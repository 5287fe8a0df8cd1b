"""The pipeline's stage layout as plain data: stage names, waves of secondaries, logger parameters.

Kept free of Pulumi so the rules (order, waves under CodePipeline's 50-actions-per-stage quota,
the logger's UserParameters contract) are tested directly, for any number of regions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TypeVar

# CodePipeline quota: at most 50 actions in one stage (CodePipeline user guide, "Quotas").
MAX_ACTIONS_PER_STAGE = 50
# Each region deploys with two actions: the CodeBuild `pulumi up`, then the logger Invoke.
ACTIONS_PER_REGION = 2
DEPLOY_RUN_ORDER = 1
RECORD_RUN_ORDER = 2

SOURCE, BUILD, PREVIEW, SECURITY_SCAN, UPDATE_PIPELINE, APPROVAL, DEPLOY_PRIMARY = (
    "Source",
    "Build",
    "Preview",
    "SecurityScan",
    "UpdatePipeline",
    "Approval",
    "DeployPrimary",
)
DEPLOY_SECONDARIES = "DeploySecondaries"
SOURCE_NAMESPACE = "SourceVariables"

T = TypeVar("T")


def waves(items: Sequence[T], per_region: int = ACTIONS_PER_REGION) -> list[list[T]]:
    """Split regions into waves so no stage holds more than MAX_ACTIONS_PER_STAGE actions."""
    size = MAX_ACTIONS_PER_STAGE // per_region
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def secondary_stage_names(wave_count: int) -> list[str]:
    if wave_count <= 1:
        return [DEPLOY_SECONDARIES] * wave_count
    return [f"{DEPLOY_SECONDARIES}{index}" for index in range(1, wave_count + 1)]


def stage_names(secondary_count: int, *, update_pipeline: bool) -> list[str]:
    """Every stage, in order. UpdatePipeline runs after the approval, so the IAM gate sees its changes first."""
    names = [SOURCE, BUILD, PREVIEW, SECURITY_SCAN, APPROVAL]
    if update_pipeline:
        names.append(UPDATE_PIPELINE)
    names += [DEPLOY_PRIMARY]
    names += secondary_stage_names(len(waves(list(range(secondary_count)))))
    return names


def commit_variable(source_kind: str) -> str:
    """The source action's variable that names the revision (GitHub: commit; S3: object version)."""
    variable = "CommitId" if source_kind == "github" else "VersionId"
    return f"#{{{SOURCE_NAMESPACE}.{variable}}}"


def logger_user_parameters(
    *, pipeline: str, stage: str, region: str, stack: str, source_kind: str, status: str = "Succeeded"
) -> str:
    """The deployment logger's UserParameters (functions/deployment_logger/README.md)."""
    return json.dumps(
        {
            "pipeline": pipeline,
            "executionId": "#{codepipeline.PipelineExecutionId}",
            "stage": stage,
            "region": region,
            "stack": stack,
            "commit": commit_variable(source_kind),
            "status": status,
        },
        separators=(",", ":"),
    )
