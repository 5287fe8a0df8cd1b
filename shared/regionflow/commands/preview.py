"""``regionflow preview``: every stack in deployment order, offline or through the real CLI."""

from __future__ import annotations

import re
import traceback as traceback_module
from pathlib import Path
from typing import TextIO

from regionflow.automation import AutomationEngine, EngineUnavailableError, load_automation
from regionflow.config import ConfigError
from regionflow.offline.arns import DEFAULT_ACCOUNT_ID
from regionflow.offline.discovery import DiscoveryError, StackTarget, discover_stacks
from regionflow.offline.manifest import build_manifest, write_manifest
from regionflow.offline.runner import StackResult, StackRunError, run_stacks
from regionflow.policies.offline import ComplianceReport, evaluate, print_compliance

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_ACCOUNT_ID = re.compile(r"^\d{12}$")


def select_targets(targets: list[StackTarget], only: list[str]) -> list[StackTarget]:
    """Keep the targets named in ``only`` (``project/stack``), preserving deployment order."""
    if not only:
        return targets
    known = {t.label for t in targets}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise DiscoveryError(f"unknown stack {', '.join(unknown)}; known stacks: {', '.join(sorted(known))}")
    return [t for t in targets if t.label in only]


# As `pulumi preview` marks them: "+" create, ">" read (StackReferences and other existing resources).
_OPERATION_SYMBOLS = {"create": "+", "read": ">"}


def print_stack_summary(
    result: StackResult,
    manifest: Path,
    root: Path,
    out: TextIO,
    *,
    quiet: bool,
    compliance: ComplianceReport | None = None,
) -> None:
    operations = {symbol: result.counts_by_type(operation) for operation, symbol in _OPERATION_SYMBOLS.items()}
    print(f"Previewing {result.target.label} (offline engine)", file=out)
    if not quiet:
        width = max((len(t) for counts in operations.values() for t in counts), default=10)
        print(f"     {'Type':<{width}}  Count", file=out)
        for symbol, counts in operations.items():
            for resource_type, count in counts.items():
                print(f" {symbol}   {resource_type:<{width}}  {count:>5}", file=out)
    for warning in result.warnings:
        print(f"    {warning}", file=out)
    print("Resources:", file=out)
    for operation, symbol in _OPERATION_SYMBOLS.items():
        if count := result.count(operation):
            print(f"    {symbol} {count} to {operation}", file=out)
    print(f"Outputs: {len(result.exports)} exported", file=out)
    try:
        shown = manifest.relative_to(root)
    except ValueError:
        shown = manifest
    print(f"Manifest: {shown}", file=out)
    if compliance is not None:
        print_compliance(compliance, out)
    print(file=out)


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
) -> int:
    try:
        targets = select_targets(discover_stacks(root / "stacks"), only)
    except DiscoveryError as error:
        print(f"error: {error}", file=out)
        return EXIT_BAD_INPUT
    if not targets:
        print(
            f"error: no stacks found under {root / 'stacks'} (expected stacks/<project>/Pulumi.<stack>.yaml)", file=out
        )
        return EXIT_BAD_INPUT
    if engine == "pulumi":
        return _preview_with_cli(root, targets, out)

    account = account_id or DEFAULT_ACCOUNT_ID
    if not _ACCOUNT_ID.match(account):
        print(f"error: --account-id {account!r} must be 12 digits", file=out)
        return EXIT_BAD_INPUT
    results: list[StackResult] = []
    reports: list[ComplianceReport] = []
    try:
        for result in run_stacks(targets, account_id=account):
            manifest = build_manifest(
                project=result.target.project,
                stack=result.target.stack,
                exports=result.exports,
                resources=result.resources,
                root=root,
            )
            path = write_manifest(manifest, out_dir)
            # The same rules as `pulumi preview --policy-pack shared/regionflow/policies/pack`.
            compliance = evaluate(result.target.label, result.resources)
            reports.append(compliance)
            print_stack_summary(result, path, root, out, quiet=quiet, compliance=compliance)
            results.append(result)
    except StackRunError as error:
        if traceback:
            traceback_module.print_exception(error.cause, file=out)
        print(f"error: {error}", file=out)
        return EXIT_BAD_INPUT if isinstance(error.cause, ConfigError) else EXIT_FAILED
    created = sum(r.count("create") for r in results)
    read = sum(r.count("read") for r in results)
    print(f"Summary: {len(results)} stacks previewed, {created} resources to create, {read} to read", file=out)
    mandatory = sum(len(r.mandatory) for r in reports)
    advisory = sum(len(r.advisory) for r in reports)
    print(f"Policies: {mandatory} mandatory and {advisory} advisory violations in {len(reports)} stacks", file=out)
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
    print(f"Summary: {len(targets)} stacks previewed with the Pulumi CLI, {failed} failed", file=out)
    return EXIT_FAILED if failed else EXIT_OK
