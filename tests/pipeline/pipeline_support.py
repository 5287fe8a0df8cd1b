"""Helpers for the pipeline stack's tests: offline runs of the repository or of a modified copy."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from offline_support import REPO_ROOT, of_type, one

from regionflow.offline.discovery import discover_stacks
from regionflow.offline.mocks import RecordedResource
from regionflow.offline.runner import StackResult, run_stacks

PIPELINE_PROJECT = "regionflow-pipeline"
PIPELINE_TYPE = "aws:codepipeline/pipeline:Pipeline"
PROJECT_TYPE = "aws:codebuild/project:Project"
ROLE_TYPE = "aws:iam/role:Role"
ROLE_POLICY_TYPE = "aws:iam/rolePolicy:RolePolicy"
POLICY_TYPE = "aws:iam/policy:Policy"
SECONDARY_TEMPLATE = REPO_ROOT / "stacks" / "secondary" / "Pulumi.prod-eu-west-1.yaml"
PIPELINE_STACK_FILE = REPO_ROOT / "stacks" / "pipeline" / "Pulumi.prod.yaml"


def run_repository(root: Path) -> dict[str, StackResult]:
    """Every stack of ``root`` in deployment order; label -> result."""
    return {result.target.label: result for result in run_stacks(discover_stacks(root / "stacks"))}


def copy_tree(tmp_path: Path) -> Path:
    """A copy of the stacks (and a link to the Lambda's code) that a test may change."""
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "stacks", root / "stacks", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (root / "functions").symlink_to(REPO_ROOT / "functions")
    return root


def edit_pipeline_config(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / "stacks" / "pipeline" / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


DELIVERY_KEYS = ("waves", "bakeMinutes", "primaryBakeMinutes", "deploymentWindow")


def without_delivery(config: dict[str, Any]) -> None:
    """Today's layout: no waves, no bakes, no window (the delivery keys' defaults, docs/delivery.md)."""
    for key in DELIVERY_KEYS:
        config.pop(f"regionflow-pipeline:{key}", None)


def add_secondary(root: Path, region: str) -> str:
    """Add stacks/secondary/Pulumi.prod-<region>.yaml and list it in the pipeline's config."""
    stack = f"prod-{region}"
    document = yaml.safe_load(SECONDARY_TEMPLATE.read_text())
    document["config"]["regionflow-secondary:region"] = region
    (root / "stacks" / "secondary" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    qualified = f"organization/regionflow-secondary/{stack}"

    def change(config: dict[str, Any]) -> None:
        config.setdefault("regionflow-pipeline:secondaryStacks", []).append({"stack": qualified, "region": region})

    edit_pipeline_config(root, change)
    return qualified


def pipeline_of(results: dict[str, StackResult]) -> StackResult:
    return results[f"{PIPELINE_PROJECT}/prod"]


def pipeline_inputs(result: StackResult) -> dict[str, Any]:
    return one(result, PIPELINE_TYPE).inputs


def stages(result: StackResult) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = pipeline_inputs(result)["stages"]
    return found


def stage(result: StackResult, name: str) -> dict[str, Any]:
    matches = [s for s in stages(result) if s["name"] == name]
    assert len(matches) == 1, f"no single stage {name}"
    return matches[0]


def role_policies(result: StackResult) -> dict[str, dict[str, Any]]:
    """Inline policy documents by the name of the role resource they belong to."""
    roles = {r.id: r for r in of_type(result, ROLE_TYPE)}
    policies: dict[str, dict[str, Any]] = {}
    for attachment in of_type(result, ROLE_POLICY_TYPE):
        role = roles.get(attachment.inputs["role"])
        assert role is not None, f"{attachment.name} is attached to an unknown role"
        policies[role.name] = json.loads(attachment.inputs["policy"])
    return policies


def by_name(result: StackResult, resource_type: str) -> dict[str, RecordedResource]:
    return {r.name: r for r in of_type(result, resource_type)}
