"""What changed since the previous preview, like ``pulumi preview --diff``: create, update, replace, delete.

Resources are matched by URN, as the engine matches a program's registrations against the stack's state.
A resource whose URN is new is created (``+``), one whose URN is gone is deleted (``-``), one whose inputs
differ is updated (``~``), with each changed property's old and new value, or replaced (``+-``) when a
changed property cannot be updated in place.

Which properties force a replacement is the provider's decision. pulumi-aws wraps the Terraform AWS
provider, whose schemas mark such attributes ``ForceNew: true``; the table below lists them for the
types regionflow creates (attribute names as the Pulumi SDK spells them), each read from the provider's
source:

- hashicorp/terraform-provider-aws ``internal/service/logs/group.go``: name, name_prefix, log_group_class
- ``internal/service/lambda/function.go``: function_name (Pulumi ``name``), package_type, tenancy_config
- ``internal/service/kms/key.go``: customer_master_key_spec, key_usage, multi_region, custom_key_store_id,
  xks_key_id
- ``internal/service/sqs/queue.go``: name, name_prefix, fifo_queue
- ``internal/service/iam/role.go``: name, name_prefix, path
- ``internal/service/sns/topic.go``: name, name_prefix, fifo_topic
- ``internal/service/dynamodb/table.go``: name, hash_key, range_key, local_secondary_index
- ``internal/service/s3/bucket.go``: bucket, bucket_prefix, object_lock_enabled

A type not listed is shown as an update; that is a limit of this table, not a promise of the provider.
The totals use Pulumi's words (pulumi/pulumi ``pkg/backend/display/events.go``, ``renderSummaryEvent``:
``+ N to create``, ``~ N to update``, ``+-N to replace``, ``- N to delete``, then ``N changes. M unchanged``),
and the operation names of ``pulumi preview --json`` (``create``, ``update``, ``replace``, ``delete``,
``same``, ``read``; facts-pulumi.md section 8).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regionflow.offline.manifest import manifest_path

REPLACE_ON_CHANGE: dict[str, frozenset[str]] = {
    "aws:cloudwatch/logGroup:LogGroup": frozenset({"name", "namePrefix", "logGroupClass"}),
    "aws:lambda/function:Function": frozenset({"name", "packageType", "tenancyConfig"}),
    "aws:kms/key:Key": frozenset({"customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId"}),
    "aws:sqs/queue:Queue": frozenset({"name", "namePrefix", "fifoQueue"}),
    "aws:iam/role:Role": frozenset({"name", "namePrefix", "path"}),
    "aws:sns/topic:Topic": frozenset({"name", "namePrefix", "fifoTopic"}),
    "aws:dynamodb/table:Table": frozenset({"name", "hashKey", "rangeKey", "localSecondaryIndexes"}),
    "aws:s3/bucket:Bucket": frozenset({"bucket", "bucketPrefix", "objectLockEnabled"}),
}

# Step prefixes as pulumi prints them (pulumi/pulumi pkg/resource/deploy/step.go, StepOp Prefix).
PREFIX = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- ", "read": "> ", "same": "  "}
CHANGE_OPS: tuple[str, ...] = ("create", "update", "replace", "delete")
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"


@dataclass(frozen=True)
class PropertyChange:
    path: str  # e.g. retentionInDays, tags.Owner, policy.Statement[0].Resource
    old: Any
    new: Any
    kind: str  # "update", "add" or "delete"


@dataclass(frozen=True)
class Step:
    op: str  # create, update, replace, delete, same, read
    urn: str
    type: str
    name: str
    changes: tuple[PropertyChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "urn": self.urn, "type": self.type, "name": self.name}
        if self.changes:
            data["diffs"] = [{"path": c.path, "kind": c.kind, "old": c.old, "new": c.new} for c in self.changes]
        if self.replace_reasons:
            data["replaceReasons"] = list(self.replace_reasons)
        return data


@dataclass
class StackDiff:
    """The steps of one stack against its previous manifest (``previous`` None: nothing to compare)."""

    project: str
    stack: str
    previous: Path | None
    steps: list[Step] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.project}/{self.stack}"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[step.op] = counts.get(step.op, 0) + 1
        return counts

    @property
    def changed(self) -> list[Step]:
        return [s for s in self.steps if s.op in CHANGE_OPS]

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.label,
            "previous": str(self.previous) if self.previous else None,
            "changeSummary": self.counts(),
            "steps": [s.to_json() for s in self.steps if s.op not in ("same",)],
        }


def _short_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _parsed_json(value: Any) -> Any:
    """A JSON document held in a string (policies, buildspec-free strings stay as they are)."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def property_changes(old: Any, new: Any, path: str = "") -> list[PropertyChange]:
    """Leaf-level differences between two JSON values, with dotted/indexed paths."""
    old, new = _parsed_json(old), _parsed_json(new)
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[PropertyChange] = []
        for key in sorted(set(old) | set(new)):
            child = f"{path}.{key}" if path else str(key)
            if key not in old:
                changes.append(PropertyChange(child, None, new[key], "add"))
            elif key not in new:
                changes.append(PropertyChange(child, old[key], None, "delete"))
            else:
                changes.extend(property_changes(old[key], new[key], child))
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        changes = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            changes.extend(property_changes(a, b, f"{path}[{index}]"))
        return changes
    if old == new:
        return []
    return [PropertyChange(path, old, new, "update")]


def _top_key(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def diff_resources(previous: Iterable[Mapping[str, Any]], current: Iterable[Mapping[str, Any]]) -> list[Step]:
    """Steps from the previous manifest's resources to the current ones (both as in the manifest)."""
    before = {r["urn"]: r for r in previous}
    after = {r["urn"]: r for r in current}
    steps: list[Step] = []
    for urn, resource in after.items():
        kind, name = resource["type"], resource.get("name") or _short_name(urn)
        if resource["type"] == STACK_REFERENCE_TYPE:
            steps.append(Step("read", urn, kind, name))
            continue
        if urn not in before:
            steps.append(Step("create", urn, kind, name))
            continue
        changes = property_changes(before[urn].get("inputs") or {}, resource.get("inputs") or {})
        if not changes:
            steps.append(Step("same", urn, kind, name))
            continue
        forcing = REPLACE_ON_CHANGE.get(kind, frozenset())
        reasons = tuple(sorted({_top_key(c.path) for c in changes if _top_key(c.path) in forcing}))
        steps.append(Step("replace" if reasons else "update", urn, kind, name, tuple(changes), reasons))
    for urn, resource in before.items():
        if urn not in after and resource["type"] != STACK_REFERENCE_TYPE:
            steps.append(Step("delete", urn, resource["type"], resource.get("name") or _short_name(urn)))
    order = {"delete": 0, "replace": 1, "update": 2, "create": 3, "read": 4, "same": 5}
    return sorted(steps, key=lambda s: (order[s.op], s.type, s.name))


def load_manifest(path: Path) -> dict[str, Any] | None:
    """A manifest written by a previous preview, or None when it is missing or unreadable."""
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("resources"), list):
        return None
    return loaded


def diff_stack(project: str, stack: str, manifest: Mapping[str, Any], previous_dir: Path | None) -> StackDiff:
    """The stack's new manifest against the one in ``previous_dir`` (if any)."""
    previous_path = manifest_path(previous_dir, project, stack) if previous_dir is not None else None
    previous = load_manifest(previous_path) if previous_path is not None else None
    if previous is None:
        steps = [
            Step("read" if r["type"] == STACK_REFERENCE_TYPE else "create", r["urn"], r["type"], r.get("name", ""))
            for r in manifest["resources"]
        ]
        return StackDiff(project, stack, None, steps)
    return StackDiff(project, stack, previous_path, diff_resources(previous["resources"], manifest["resources"]))


def removed_stacks(
    previous_dir: Path | None, current: set[tuple[str, str]], written: frozenset[Path] = frozenset()
) -> list[StackDiff]:
    """Stacks the previous preview had that no longer exist: every resource of theirs is deleted.

    ``written`` are manifests this run has just written (of current stacks, so never removed): they are
    not parsed again, which for a pipeline of many regions is most of the parsing.
    """
    if previous_dir is None or not previous_dir.is_dir():
        return []
    gone: list[StackDiff] = []
    for path in sorted(previous_dir.glob("*.json")):
        if path in written:
            continue
        manifest = load_manifest(path)
        if manifest is None or (manifest.get("project"), manifest.get("stack")) in current:
            continue
        steps = [
            Step("delete", r["urn"], r["type"], r.get("name", ""))
            for r in manifest["resources"]
            if r["type"] != STACK_REFERENCE_TYPE
        ]
        gone.append(StackDiff(str(manifest.get("project")), str(manifest.get("stack")), path, steps))
    return gone


def _show(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_steps(diff: StackDiff, *, details: bool = True, limit: int = 40) -> list[str]:
    """Lines like ``pulumi preview --diff``: one per changed resource, then its changed properties."""
    lines: list[str] = []
    for step in diff.changed:
        info = ""
        if step.replace_reasons:
            info = f"  [diff: {' '.join('~' + r for r in step.replace_reasons)}; forces replacement]"
        elif step.changes:
            keys = sorted({_top_key(c.path) for c in step.changes})
            info = f"  [diff: {' '.join('~' + k for k in keys)}]"
        lines.append(f" {PREFIX[step.op]} {step.type}  {step.name}  ({step.op}){info}")
        if details:
            shown = step.changes[:limit]
            for change in shown:
                if change.kind == "add":
                    lines.append(f"       + {change.path}: {_show(change.new)}")
                elif change.kind == "delete":
                    lines.append(f"       - {change.path}: {_show(change.old)}")
                else:
                    lines.append(f"       ~ {change.path}: {_show(change.old)} => {_show(change.new)}")
            if len(step.changes) > limit:
                lines.append(f"       ... {len(step.changes) - limit} more changed properties")
    return lines


def summary_lines(counts: Mapping[str, int], *, indent: str = "    ") -> list[str]:
    """The ``Resources:`` block in Pulumi's words."""
    lines: list[str] = []
    kinds = 0
    for op in CHANGE_OPS:
        if counts.get(op):
            kinds += 1
            lines.append(f"{indent}{PREFIX[op]}{counts[op]} to {op}")
    if counts.get("read"):
        lines.append(f"{indent}{PREFIX['read']}{counts['read']} to read")
    changes = sum(counts.get(op, 0) for op in CHANGE_OPS)
    pieces = []
    if kinds >= 2:
        pieces.append(f"{changes} change{'s' if changes != 1 else ''}")
    if counts.get("same"):
        pieces.append(f"{counts['same']} unchanged")
    if pieces:
        lines.append(indent + ". ".join(pieces))
    return lines


def total_counts(diffs: Iterable[StackDiff]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for diff in diffs:
        for op, count in diff.counts().items():
            totals[op] = totals.get(op, 0) + count
    return totals
