"""``regionflow preview``: every stack in deployment order, offline or through the real CLI.

The offline preview:

1. reads every stack file like the Pulumi CLI and checks them all (:mod:`regionflow.offline.stack_checks`):
   errors stop it before any program runs, warnings are printed;
2. runs each program under mocks (primary, secondaries, pipeline), feeding StackReferences with the
   exports of the stacks before it. A stack previewed alone (``--stack``) reads the stacks it references
   from their previous manifests, or previews them first when there are none, and says which;
3. compares each stack with its previous preview (``--diff-against DIR``, or the manifests it replaces)
   and prints the resources to create, update, replace and delete, in Pulumi's words
   (:mod:`regionflow.offline.diff`);
4. writes one manifest per stack, removes the manifests of stacks that no longer exist, and writes the
   pipeline's Mermaid diagram (``pipeline.mmd``) next to them; ``--stages`` prints the stages and
   actions, ``--json`` prints everything as one JSON document, ``--markdown FILE`` writes the
   pull-request comment.
"""

from __future__ import annotations

import json
import logging
import re
import traceback as traceback_module
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from regionflow.automation import AutomationEngine, EngineUnavailableError, load_automation
from regionflow.config import ConfigError, closest
from regionflow.offline.arns import DEFAULT_ACCOUNT_ID
from regionflow.offline.diff import (
    StackDiff,
    diff_stack,
    load_manifest,
    removed_stacks,
    render_steps,
    summary_lines,
    total_counts,
)
from regionflow.offline.discovery import DiscoveryError, StackTarget, discover_stacks
from regionflow.offline.jsonsafe import to_json_safe
from regionflow.offline.manifest import build_manifest, manifest_path, write_manifest
from regionflow.offline.pipeline_view import PipelineView, mermaid, pipeline_views, render_stages
from regionflow.offline.runner import StackResult, StackRunError, run_stack, run_stacks
from regionflow.offline.stack_checks import Finding, check_stack_files
from regionflow.policies.offline import ComplianceReport, evaluate, print_compliance

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_ACCOUNT_ID = re.compile(r"^\d{12}$")
MERMAID_FILE = "pipeline.mmd"
COMMENT_MARKER = "<!-- regionflow-offline-preview -->"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def select_targets(targets: list[StackTarget], only: list[str]) -> list[StackTarget]:
    """Keep the targets named in ``only`` (``project/stack``), preserving deployment order."""
    if not only:
        return targets
    known = {t.label for t in targets}
    unknown = [name for name in only if name not in known]
    if unknown:
        near = closest(unknown[0], known)
        hint = f" (did you mean {near}?)" if near else ""
        raise DiscoveryError(f"unknown stack {', '.join(unknown)}{hint}; known stacks: {', '.join(sorted(known))}")
    return [t for t in targets if t.label in only]


def references(target: StackTarget) -> list[str]:
    """Qualified names of the stacks a target reads (the pipeline's primaryStack and secondaryStacks)."""
    names: list[str] = []
    primary = target.config.get(f"{target.project}:primaryStack")
    if primary:
        names.append(primary.strip())
    raw = target.config.get(f"{target.project}:secondaryStacks")
    if raw:
        try:
            entries = json.loads(raw)
        except json.JSONDecodeError:
            entries = []
        if isinstance(entries, list):
            names += [str(e["stack"]) for e in entries if isinstance(e, dict) and isinstance(e.get("stack"), str)]
    return names


@dataclass
class _Plan:
    """What to run, and which referenced stacks come from previous manifests."""

    targets: list[StackTarget]
    seeded: dict[str, dict[str, Any]] = field(default_factory=dict)  # qualified name -> exports
    notes: list[str] = field(default_factory=list)


def plan_run(all_targets: list[StackTarget], selected: list[StackTarget], manifests_dir: Path, root: Path) -> _Plan:
    """Add what the selected stacks reference: previous manifests' exports, or the stacks themselves."""
    chosen = {t.qualified_name for t in selected}
    by_name = {t.qualified_name: t for t in all_targets}
    plan = _Plan(list(selected))
    added: set[str] = set()
    for target in selected:
        for name in references(target):
            if name in chosen or name in added or name in plan.seeded or name not in by_name:
                continue
            referenced = by_name[name]
            path = manifest_path(manifests_dir, referenced.project, referenced.stack)
            manifest = load_manifest(path)
            if manifest is not None and isinstance(manifest.get("exports"), dict):
                plan.seeded[name] = manifest["exports"]
                plan.notes.append(
                    f"{target.label} reads {referenced.label} from its previous manifest ({_shown(path, root)})"
                )
            else:
                added.add(name)
                plan.notes.append(
                    f"{target.label} reads {referenced.label}, which has no previous manifest: previewing it first"
                )
    if added:
        plan.targets = [t for t in all_targets if t.qualified_name in chosen | added]
    return plan


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _run(plan: _Plan, account_id: str) -> Iterator[StackResult]:
    if not plan.seeded:
        yield from run_stacks(plan.targets, account_id=account_id)
        return
    # Like run_stacks, with the exports of referenced stacks that are not run taken from their manifests.
    outputs: dict[str, dict[str, Any]] = dict(plan.seeded)
    for target in plan.targets:
        result = run_stack(target, stack_outputs=outputs, account_id=account_id)
        outputs[target.qualified_name] = to_json_safe(result.exports, reveal_secrets=True)
        yield result


class _DropAbandonedFutures(logging.Filter):
    """Drop asyncio's "Future/Task exception was never retrieved" notes about a program that already failed.

    A failed program leaves outputs whose futures hold the same exception; when they are collected
    (often only as the interpreter exits), asyncio logs each one with a traceback. The failure itself is
    reported once, on one line; ``--traceback`` shows its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "exception was never retrieved" not in record.getMessage()


_NOISE_FILTER = _DropAbandonedFutures()


def quiet_abandoned_futures() -> None:
    """Install the filter on asyncio's logger for the rest of the process (idempotent)."""
    logger = logging.getLogger("asyncio")
    if _NOISE_FILTER not in logger.filters:
        logger.addFilter(_NOISE_FILTER)


@dataclass
class _StackOutcome:
    result: StackResult
    manifest: dict[str, Any]
    path: Path
    diff: StackDiff
    compliance: ComplianceReport


def _print_stack(outcome: _StackOutcome, root: Path, out: TextIO) -> None:
    result, diff = outcome.result, outcome.diff
    print(f"Previewing {result.target.label} (offline engine)", file=out)
    if diff.previous is None:
        print("    No previous preview of this stack: nothing to compare, every resource is new.", file=out)
        counts = {"+": result.counts_by_type("create"), ">": result.counts_by_type("read")}
        width = max((len(t) for c in counts.values() for t in c), default=10)
        print(f"     {'Type':<{width}}  Count", file=out)
        for symbol, by_type in counts.items():
            for resource_type, count in by_type.items():
                print(f" {symbol}   {resource_type:<{width}}  {count:>5}", file=out)
    else:
        print(f"    Compared with {_shown(diff.previous, root)}", file=out)
        lines = render_steps(diff)
        for line in lines or ["    No changes."]:
            print(line, file=out)
    for warning in result.warnings:
        print(f"    {warning}", file=out)
    print("Resources:", file=out)
    for line in summary_lines(diff.counts()):
        print(line, file=out)
    print(f"Outputs: {len(result.exports)} exported", file=out)
    print(f"Manifest: {_shown(outcome.path, root)}", file=out)
    print_compliance(outcome.compliance, out)
    print(file=out)


def _remove_stale(out_dir: Path, existing: set[tuple[str, str]], written: frozenset[Path]) -> list[Path]:
    """Delete manifests of stacks that no longer exist (a retired region's would linger and be linted).

    The manifests this run wrote (``written``) are of existing stacks and are not parsed again.
    """
    removed: list[Path] = []
    if not out_dir.is_dir():
        return removed
    for path in sorted(out_dir.glob("*.json")):
        if path in written:
            continue
        manifest = load_manifest(path)
        if manifest is None:
            continue
        if (manifest.get("project"), manifest.get("stack")) not in existing:
            path.unlink()
            removed.append(path)
    return removed


def _markdown(
    diffs: list[StackDiff],
    removed: list[StackDiff],
    views: list[PipelineView],
    findings: list[Finding],
    totals: Mapping[str, int],
    reports: list[ComplianceReport],
    compared_with: str | None,
) -> str:
    lines = [COMMENT_MARKER, "## regionflow offline preview", ""]
    lines.append(
        f"Compared with {compared_with}."
        if compared_with
        else "No previous preview to compare with: every resource is new."
    )
    lines.append("")
    lines.append("```diff")
    for line in summary_lines(totals, indent=""):
        lines.append(line)
    lines.append("```")
    for finding in findings:
        lines.append(f"- **{finding.level}** `{finding.file}`: {finding.message}")
    for diff in [*diffs, *removed]:
        changed = render_steps(diff, limit=12)
        if not changed:
            continue
        lines += [
            "",
            f"<details><summary>{diff.label}: {', '.join(summary_lines(diff.counts(), indent=''))}</summary>",
            "",
        ]
        lines += ["```diff", *(line.lstrip() for line in changed), "```", "</details>"]
    mandatory = sum(len(r.mandatory) for r in reports)
    advisory = sum(len(r.advisory) for r in reports)
    lines += ["", f"Policies: {mandatory} mandatory and {advisory} advisory violations."]
    if views:
        lines += ["", "### Pipeline", "", "```mermaid", mermaid(views).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def run_preview(
    *,
    root: Path,
    engine: str,
    out_dir: Path,
    account_id: str | None,
    only: list[str],
    quiet: bool,
    traceback: bool,
    out: TextIO,
    diff_against: Path | None = None,
    json_output: bool = False,
    show_stages: bool = False,
    markdown: Path | None = None,
) -> int:
    text_out = not json_output
    try:
        all_targets = discover_stacks(root / "stacks")
        targets = select_targets(all_targets, only)
    except DiscoveryError as error:
        print(f"error: {error}", file=out)
        return EXIT_BAD_INPUT
    if not targets:
        print(
            f"error: no stacks found under {root / 'stacks'} (expected stacks/<project>/Pulumi.<stack>.yaml)", file=out
        )
        return EXIT_BAD_INPUT
    if diff_against is not None and not diff_against.is_dir():
        print(
            f"error: --diff-against {diff_against} is not a folder of manifests (run a preview with --out there)",
            file=out,
        )
        return EXIT_BAD_INPUT

    findings = check_stack_files(all_targets, root)
    errors = [f for f in findings if f.level == "error"]
    if text_out:
        for finding in findings:
            print(finding, file=out)
    if errors:
        if json_output:
            print(json.dumps({"ok": False, "findings": [f.__dict__ for f in findings]}, indent=2), file=out)
        else:
            print(f"{plural(len(errors), 'error')} in the stack files; nothing was previewed.", file=out)
        return EXIT_BAD_INPUT
    if findings and text_out:
        print(file=out)
    if engine == "pulumi":
        return _preview_with_cli(root, targets, out)

    account = account_id or DEFAULT_ACCOUNT_ID
    if not _ACCOUNT_ID.match(account):
        print(f"error: --account-id {account!r} must be 12 digits", file=out)
        return EXIT_BAD_INPUT
    previous_dir = diff_against if diff_against is not None else out_dir
    plan = plan_run(all_targets, targets, out_dir, root)
    if text_out:
        for note in plan.notes:
            print(f"note: {note}", file=out)
    outcomes: list[_StackOutcome] = []
    try:
        quiet_abandoned_futures()
        for result in _run(plan, account):
            manifest = build_manifest(
                project=result.target.project,
                stack=result.target.stack,
                exports=result.exports,
                resources=result.resources,
                root=root,
            )
            diff = diff_stack(result.target.project, result.target.stack, manifest, previous_dir)
            path = write_manifest(manifest, out_dir)
            # The same rules as `pulumi preview --policy-pack shared/regionflow/policies/pack`.
            compliance = evaluate(result.target.label, result.resources)
            outcome = _StackOutcome(result, manifest, path, diff, compliance)
            outcomes.append(outcome)
            if text_out and not quiet:
                _print_stack(outcome, root, out)
            elif text_out and compliance.violations:
                # --quiet still shows what fails or warns, under the stack it belongs to.
                print(f"{result.target.label}:", file=out)
                for violation in compliance.advisory:
                    print(f"    warning: {violation.line()}", file=out)
                for violation in compliance.mandatory:
                    print(f"    {violation.line()}", file=out)
    except StackRunError as error:
        if traceback:
            traceback_module.print_exception(error.cause, file=out)
        cause = error.cause
        if isinstance(cause, ConfigError):
            cause = cause.from_folder(error.target.relative_dir(root))
            print(f"error: {error.target.relative_file(root)}: {cause}", file=out)
            return EXIT_BAD_INPUT
        hint = "" if traceback else " (run again with --traceback to see where)"
        print(f"error: {error}{hint}", file=out)
        return EXIT_FAILED

    existing = {(t.project, t.stack) for t in all_targets}
    written = frozenset(o.path for o in outcomes)
    removed = removed_stacks(previous_dir, existing, written)
    stale = _remove_stale(out_dir, existing, written)
    diffs = [o.diff for o in outcomes]
    totals = total_counts([*diffs, *removed])
    views = pipeline_views(o.manifest for o in outcomes)
    diagram: Path | None = None
    if views:
        diagram = out_dir / MERMAID_FILE
        diagram.write_text(mermaid(views))
    reports = [o.compliance for o in outcomes]
    mandatory = sum(len(r.mandatory) for r in reports)
    advisory = sum(len(r.advisory) for r in reports)
    compared_with = _shown(diff_against, root) if diff_against is not None else None
    if markdown is not None:
        markdown.write_text(_markdown(diffs, removed, views, findings, totals, reports, compared_with))

    if json_output:
        document = {
            "ok": mandatory == 0,
            "findings": [f.__dict__ for f in findings],
            "notes": plan.notes,
            "comparedWith": str(previous_dir),
            "stacks": [
                {
                    **o.diff.to_json(),
                    "manifest": _shown(o.path, root),
                    "outputs": len(o.result.exports),
                    "policies": {"mandatory": len(o.compliance.mandatory), "advisory": len(o.compliance.advisory)},
                }
                for o in outcomes
            ],
            "removedStacks": [d.to_json() for d in removed],
            "staleManifestsRemoved": [_shown(p, root) for p in stale],
            "changeSummary": totals,
            "pipelines": [
                {
                    "name": v.name,
                    "stack": v.label,
                    "stages": [
                        {
                            "name": s.name,
                            "wave": s.wave,
                            "onFailure": s.on_failure,
                            "conditions": list(s.conditions),
                            "actions": [a.__dict__ for a in s.actions],
                        }
                        for s in v.stages
                    ],
                }
                for v in views
            ],
            "mermaid": _shown(diagram, root) if diagram else None,
        }
        print(json.dumps(document, indent=2, default=str), file=out)
        return EXIT_FAILED if mandatory else EXIT_OK

    if not quiet:
        for diff in removed:
            print(f"Stack {diff.label} no longer exists (its file was removed):", file=out)
            for line in render_steps(diff, details=False):
                print(line, file=out)
            print(file=out)
        for path in stale:
            print(f"Removed the manifest of a stack that no longer exists: {_shown(path, root)}", file=out)
        if show_stages:
            for view in views:
                for line in render_stages(view):
                    print(line, file=out)
                print(file=out)
        if diagram is not None:
            print(f"Pipeline diagram (Mermaid): {_shown(diagram, root)}", file=out)
        if markdown is not None:
            print(f"Pull-request comment (Markdown): {_shown(markdown, root)}", file=out)
    elif show_stages:
        for view in views:
            for line in render_stages(view):
                print(line, file=out)
    resources = sum(r.result.count("create") for r in outcomes)
    references_read = sum(r.result.count("read") for r in outcomes)
    if all(d.previous is None for d in diffs) and not removed:
        print("Resources (first preview: nothing to compare):", file=out)
    else:
        where = compared_with or _shown(out_dir, root)
        print(f"Resources (compared with the previous preview in {where}):", file=out)
    for line in summary_lines(totals):
        print(line, file=out)
    print(
        f"Summary: {plural(len(outcomes), 'stack')} previewed, {resources} resources, "
        f"{plural(references_read, 'stack reference')}",
        file=out,
    )
    print(
        f"Policies: {mandatory} mandatory and {advisory} advisory violations in {plural(len(reports), 'stack')}",
        file=out,
    )
    return EXIT_FAILED if mandatory else EXIT_OK


def _preview_with_cli(root: Path, targets: list[StackTarget], out: TextIO) -> int:
    try:
        automation = load_automation()
    except EngineUnavailableError as error:
        print(f"error: {error}", file=out)
        return EXIT_FAILED
    policy_pack = root / "shared" / "regionflow" / "policies" / "pack"
    engine = AutomationEngine(
        automation,
        policy_pack=policy_pack if policy_pack.is_dir() else None,
        on_output=lambda line: print(line, end="" if line.endswith("\n") else "\n", file=out),
    )
    failed = 0
    for target in targets:
        result = engine.preview(target)
        status = "ok" if result.ok else "FAILED"
        print(f"{target.label}: {status}: {result.summary}", file=out)
        failed += 0 if result.ok else 1
    print(f"Summary: {plural(len(targets), 'stack')} previewed with the Pulumi CLI, {failed} failed", file=out)
    return EXIT_FAILED if failed else EXIT_OK
