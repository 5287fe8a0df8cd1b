"""Helpers for the iam-check tests: manifests in memory, and seeded defects in them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from offline_support import REPO_ROOT

from regionflow.iamcheck.check import CheckResult, Finding, chain, default_boundary_resolver, run_check
from regionflow.iamcheck.evaluate import action_matches
from regionflow.iamcheck.model import BoundaryResolver, Manifests
from regionflow.iamcheck.scope import Exclusion
from regionflow.offline.manifest import build_manifest
from regionflow.offline.runner import StackResult

ROLE_TYPE = "aws:iam/role:Role"
ROLE_POLICY_TYPE = "aws:iam/rolePolicy:RolePolicy"
PIPELINE_TYPE = "aws:codepipeline/pipeline:Pipeline"
PROJECT_TYPE = "aws:codebuild/project:Project"


def documents_of(results: Iterable[StackResult], root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """Manifests exactly as `regionflow preview` writes them (JSON-safe), without touching the disk."""
    return [
        json.loads(json.dumps(build_manifest(
            project=r.target.project, stack=r.target.stack, exports=r.exports, resources=r.resources, root=root
        )))
        for r in results
    ]  # fmt: skip


def check(
    documents: list[dict[str, Any]],
    *,
    boundary_resolver: BoundaryResolver | None = None,
    root: Path | None = REPO_ROOT,
    scope: list[Exclusion] | None = None,
) -> CheckResult:
    """iam-check as the command runs it: a given boundary resolver first, then regionflow.boundary's."""
    resolver = chain([boundary_resolver, default_boundary_resolver()])
    manifests = Manifests(((None, d) for d in copy.deepcopy(documents)), boundary_resolver=resolver)
    return run_check(manifests, root=root, scope=scope)


def resources(documents: list[dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
    return [r for d in documents for r in d["resources"] if r["type"] == resource_type]


def role(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (found,) = [r for r in resources(documents, ROLE_TYPE) if r["outputs"]["name"] == name]
    return found


def role_named_by(documents: list[dict[str, Any]], resource_type: str, key: str, value_part: str) -> str:
    """The name of the role that a resource of ``resource_type`` (whose name contains ``value_part``) uses."""
    for resource in resources(documents, resource_type):
        if value_part in str(resource["outputs"].get("name", "")) or value_part in resource["name"]:
            arn = str(resource["outputs"][key])
            return arn.rsplit("/", 1)[-1]
    raise AssertionError(f"no {resource_type} like {value_part}")


def deploy_role(documents: list[dict[str, Any]], stack: str) -> str:
    """The role of the CodeBuild project whose STACK_NAME is ``stack`` (found by position, not by name)."""
    for project in resources(documents, PROJECT_TYPE):
        variables = project["outputs"]["environment"].get("environmentVariables") or []
        if (
            any(v["name"] == "STACK_NAME" and v["value"] == stack for v in variables)
            and "pulumi up" in (project["outputs"]["source"]["buildspec"])
        ):
            return str(project["outputs"]["serviceRole"]).rsplit("/", 1)[-1]
    raise AssertionError(f"no deploy project for {stack}")


def drift_role(documents: list[dict[str, Any]]) -> str:
    for project in resources(documents, PROJECT_TYPE):
        if "--refresh" in project["outputs"]["source"]["buildspec"]:
            return str(project["outputs"]["serviceRole"]).rsplit("/", 1)[-1]
    raise AssertionError("no drift project")


def _policy_resources(documents: list[dict[str, Any]], role_name: str) -> list[dict[str, Any]]:
    return [r for r in resources(documents, ROLE_POLICY_TYPE) if r["outputs"]["role"] == role_name]


def _edit_policies(documents: list[dict[str, Any]], role_name: str, edit: Any) -> None:
    found = _policy_resources(documents, role_name)
    assert found, f"role {role_name} has no inline policy"
    for resource in found:
        document = json.loads(resource["outputs"]["policy"])
        edit(document)
        text = json.dumps(document)
        resource["outputs"]["policy"] = resource["inputs"]["policy"] = text


def strip_action(documents: list[dict[str, Any]], role_name: str, action: str) -> None:
    """Remove every Allow of ``action`` (and every pattern that covers it) from the role's inline policies."""

    def edit(document: dict[str, Any]) -> None:
        kept = []
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow" and "Action" in statement:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                actions = [a for a in actions if not action_matches(a, action)]
                if not actions:
                    continue
                statement["Action"] = actions
            kept.append(statement)
        document["Statement"] = kept

    _edit_policies(documents, role_name, edit)


def add_statement(documents: list[dict[str, Any]], role_name: str, statement: dict[str, Any]) -> None:
    done = False

    def edit(document: dict[str, Any]) -> None:
        nonlocal done
        if not done:
            document["Statement"].append(statement)
            done = True

    _edit_policies(documents, role_name, edit)


def set_boundary(documents: list[dict[str, Any]], role_name: str, boundary_arn: str | None) -> None:
    found = role(documents, role_name)
    for side in ("inputs", "outputs"):
        if boundary_arn is None:
            found[side].pop("permissionsBoundary", None)
        else:
            found[side]["permissionsBoundary"] = boundary_arn


def findings(result: CheckResult, role_name: str, action: str, resource: str | None = None) -> list[Finding]:
    return [
        f
        for f in result.findings
        if f.role == role_name and f.action == action and (resource is None or f.resource == resource)
    ]


def key_set(result: CheckResult) -> set[tuple[str, str, str, str]]:
    return {(f.kind, f.role, f.action, f.resource) for f in result.findings}


def seeded_pair(documents: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return copy.deepcopy(documents), copy.deepcopy(documents)
