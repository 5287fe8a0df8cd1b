"""Does a ``pulumi preview --json`` create, change or delete anything that grants permissions?

The Preview stage runs ``pulumi preview --json`` of every stack and feeds the documents here; the answer
becomes the stage's output variable ``IAM_CHANGES`` (``true``/``false``), which the Approval stage's
VariableCheck condition reads (:func:`regionflow.delivery.iam_gate_configuration`).

The document is Pulumi's ``PreviewDigest`` (pulumi/pulumi ``sdk/go/common/display/json.go``, written by
``pkg/backend/display/json.go`` ``ShowPreviewDigest``; the flag came with PR pulumi/pulumi#2658, whose
integration test is the first sample in ``tests/pipeline/fixtures/preview-json``):

* ``steps``: one ``PreviewStep`` per resource operation: ``op``, ``urn``, ``provider``, ``oldState`` and
  ``newState`` (``apitype.ResourceV3``, with ``type``), ``diffReasons`` (changed property keys of an update),
  ``replaceReasons``, ``detailedDiff`` (property path -> ``{"kind", "inputDiff"}``);
* ``changeSummary`` (op -> count), ``diagnostics``, ``duration``, ``config`` (secrets blinded).

``op`` is a ``deploy.StepOp`` (pulumi/pulumi ``pkg/resource/deploy/step.go``): ``same``, ``read``,
``refresh`` and ``read-replacement`` change nothing in the cloud; ``create``, ``update``, ``delete``,
``replace``, ``create-replacement``, ``delete-replaced``, ``import``, ``import-replacement``, ``discard`` ...
do, or take a resource under or out of management. An op this module does not know counts as a change, so
a newer CLI can only make the gate stricter, never let an IAM change through.

What counts as "IAM" (the gate's whole scope, documented in docs/delivery.md):

* every type of the ``aws:iam/`` module (roles, policies, role policies and attachments, boundaries are
  policies on roles, instance profiles, users, groups, OIDC providers, ...);
* resource policies: bucket, topic, queue, key, ECR, Secrets Manager, log and event-bus policies, KMS
  grants, Lambda (layer) permissions;
* the policy or role property of a few resources that carry one inline: a key's, topic's, queue's or
  bucket's ``policy``; a function's ``role``, a CodeBuild project's ``serviceRole``, a pipeline's ``roleArn``.

An update whose changed keys are only ``tags``/``tagsAll`` grants nothing and is not counted. An update
that names no changed keys is counted (nothing proves it harmless). Stdlib only: the Preview build runs
``python3 -m regionflow.preview_iam`` with ``PYTHONPATH=shared`` before any virtualenv has it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# StepOps that change nothing in the cloud and nothing about what Pulumi manages.
NO_CHANGE_OPS = frozenset({"same", "read", "refresh", "read-replacement", "read-discard"})
IAM_MODULE_PREFIX = "aws:iam/"
RESOURCE_POLICY_TYPES = frozenset(
    {
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/accessPointPolicy:AccessPointPolicy",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:kms/keyPolicy:KeyPolicy",
        "aws:kms/grant:Grant",
        "aws:lambda/permission:Permission",
        "aws:lambda/layerVersionPermission:LayerVersionPermission",
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "aws:secretsmanager/secretPolicy:SecretPolicy",
        "aws:cloudwatch/logResourcePolicy:LogResourcePolicy",
        "aws:cloudwatch/eventBusPolicy:EventBusPolicy",
        "aws:cloudwatch/eventPermission:EventPermission",
        "aws:apigateway/restApiPolicy:RestApiPolicy",
    }
)
# Resources whose listed properties grant permissions (an inline policy, or the role a service runs as).
GRANTING_PROPERTIES: dict[str, frozenset[str]] = {
    "aws:kms/key:Key": frozenset({"policy"}),
    "aws:sns/topic:Topic": frozenset({"policy"}),
    "aws:sqs/queue:Queue": frozenset({"policy"}),
    "aws:s3/bucket:Bucket": frozenset({"policy"}),
    "aws:lambda/function:Function": frozenset({"role"}),
    "aws:codebuild/project:Project": frozenset({"serviceRole"}),
    "aws:codepipeline/pipeline:Pipeline": frozenset({"roleArn"}),
}
HARMLESS_KEYS = frozenset({"tags", "tagsAll"})
# Roles named deeper inside a property: an action's or a rule's roleArn in a pipeline's stages (the cross-account
# invoke role, a condition's role), and the role a build assumes in another account (regionflow.accounts: the
# deploy build's REGIONFLOW_TARGET_PROFILES variable names it).
NESTED_ROLE_PROPERTIES: dict[str, str] = {
    "aws:codepipeline/pipeline:Pipeline": "stages",
    "aws:codebuild/project:Project": "environment",
}
TARGET_PROFILES_VARIABLE = "REGIONFLOW_TARGET_PROFILES"
_TOP_LEVEL_KEY = re.compile(r"^([^.\[]+)")


class PreviewJsonError(ValueError):
    """The input is not a ``pulumi preview --json`` document."""


@dataclass(frozen=True)
class IamChange:
    """One step that changes what someone may do."""

    stack: str
    op: str
    type: str
    name: str
    reason: str

    def line(self) -> str:
        return f"{self.stack}: {self.op} {self.type} {self.name} ({self.reason})"


@dataclass(frozen=True)
class StackReport:
    stack: str
    steps: int
    changes: int  # steps that change something (any type)
    iam: tuple[IamChange, ...]


def _type_and_name(step: Mapping[str, Any]) -> tuple[str, str]:
    urn = str(step.get("urn") or "")
    name = urn.rsplit("::", 1)[-1] if "::" in urn else urn
    for state in ("newState", "oldState"):
        value = step.get(state)
        if isinstance(value, Mapping) and isinstance(value.get("type"), str):
            return str(value["type"]), name
    # urn:pulumi:<stack>::<project>::<parent types$type>::<name>
    parts = urn.split("::")
    if len(parts) >= 4:
        return parts[-2].rsplit("$", 1)[-1], name
    return "", name


def _changed_keys(step: Mapping[str, Any]) -> set[str] | None:
    """Top-level property keys an update changes, or None when the step does not say."""
    keys: set[str] = set()
    for reason in step.get("diffReasons") or []:
        keys.add(str(reason))
    detailed = step.get("detailedDiff")
    if isinstance(detailed, Mapping):
        for path in detailed:
            match = _TOP_LEVEL_KEY.match(str(path))
            if match:
                keys.add(match.group(1))
    return keys or None


def _nested_roles(type_: str, inputs: Any) -> Any:
    """What of a property names roles: every roleArn in a pipeline's stages, a build's target profiles."""
    if not isinstance(inputs, Mapping):
        return None
    if type_ == "aws:codebuild/project:Project":
        variables = (inputs.get("environment") or {}).get("environmentVariables") or []
        return sorted(str(v.get("value")) for v in variables if v.get("name") == TARGET_PROFILES_VARIABLE)
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key == "roleArn":
                    found.append(str(item))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(inputs.get("stages"))
    return sorted(found)


def _nested_role_change(type_: str, step: Mapping[str, Any], keys: set[str] | None) -> str | None:
    """Why an update of a nested role-naming property changes permissions, or None when it does not."""
    prop = NESTED_ROLE_PROPERTIES.get(type_)
    if prop is None or (keys is not None and prop not in keys):
        return None
    detailed = step.get("detailedDiff")
    if isinstance(detailed, Mapping) and type_ == "aws:codepipeline/pipeline:Pipeline":
        paths = [str(path) for path in detailed if str(path).startswith(prop)]
        if paths:
            return "changes a role of its stages" if any(path.endswith("roleArn") for path in paths) else None
    old, new = (step.get(state) for state in ("oldState", "newState"))
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return f"changes {prop} (the roles it names cannot be compared)"
    before, after = _nested_roles(type_, old.get("inputs")), _nested_roles(type_, new.get("inputs"))
    return None if before == after else f"changes the roles its {prop} names"


def _iam_reason(op: str, type_: str, step: Mapping[str, Any]) -> str | None:
    """Why this step changes permissions, or None when it does not."""
    if op == "update":
        nested = _nested_role_change(type_, step, _changed_keys(step))
        if nested is not None:
            return nested
    granting = GRANTING_PROPERTIES.get(type_)
    is_iam = type_.startswith(IAM_MODULE_PREFIX) or type_ in RESOURCE_POLICY_TYPES
    if not is_iam and granting is None:
        return None
    if op != "update":
        what = "IAM resource" if is_iam else f"carries {', '.join(sorted(granting or ()))}"
        return f"{what}, {op}"
    keys = _changed_keys(step)
    if keys is None:
        return "update with no changed keys listed"
    relevant = keys - HARMLESS_KEYS if is_iam else keys & (granting or frozenset())
    if not relevant:
        return None
    return "changes " + ", ".join(sorted(relevant))


def parse_digest(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PreviewJsonError(f"not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict):
        raise PreviewJsonError("not a preview digest (expected a JSON object)")
    steps = document.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(s, dict) and "op" in s for s in steps):
        raise PreviewJsonError("its steps are not a list of {op, urn, ...} objects")
    return document


def analyse(stack: str, document: Mapping[str, Any]) -> StackReport:
    """The IAM changes of one stack's preview digest (replacement halves counted once per resource)."""
    steps: Sequence[Mapping[str, Any]] = document.get("steps") or []
    found: dict[str, IamChange] = {}
    changes = 0
    for step in steps:
        op = str(step.get("op"))
        if op in NO_CHANGE_OPS:
            continue
        changes += 1
        type_, name = _type_and_name(step)
        reason = _iam_reason(op, type_, step)
        urn = str(step.get("urn") or name)
        if reason is not None and urn not in found:
            found[urn] = IamChange(stack, op, type_, name, reason)
    return StackReport(stack, len(steps), changes, tuple(found.values()))


def any_iam_change(reports: Iterable[StackReport]) -> bool:
    return any(report.iam for report in reports)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m regionflow.preview_iam",
        description="Decide IAM_CHANGES from `pulumi preview --json` documents (one per stack).",
    )
    parser.add_argument("--out", type=Path, required=True, help="file that receives true or false")
    parser.add_argument("previews", nargs="+", metavar="STACK=FILE", help="a stack's label and its --json output")
    args = parser.parse_args(argv)
    reports = []
    for entry in args.previews:
        stack, sep, path = entry.partition("=")
        if not sep:
            print(f"regionflow: {entry!r} is not STACK=FILE", file=sys.stderr)
            return 2
        try:
            document = parse_digest(Path(path).read_text())
        except (OSError, PreviewJsonError) as error:
            print(f"regionflow: the preview of {stack} ({path}) cannot be read: {error}", file=sys.stderr)
            return 2
        report = analyse(stack, document)
        reports.append(report)
        print(f"=== {stack}: {report.changes} change(s), {len(report.iam)} granting permissions")
        for change in report.iam:
            print(f"    IAM {change.line()}")
    decision = any_iam_change(reports)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("true" if decision else "false")
    total = sum(len(r.iam) for r in reports)
    print(f"IAM_CHANGES={'true' if decision else 'false'} ({total} IAM change(s) in {len(reports)} stack(s))")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through the Preview build's script
    sys.exit(main())
