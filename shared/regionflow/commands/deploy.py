"""``regionflow deploy --engine pulumi``: ``pulumi up`` for every stack, in dependency order.

Order: the primary stack, then every secondary (one after another, or all at once with
``--parallel``), then the pipeline, then any other project. Each later wave reads the earlier ones
through StackReferences, so a wave starts only when the previous one fully succeeded.

On the first failure the deploy stops: in a parallel wave the secondaries already running are
allowed to finish (killing a ``pulumi up`` half way leaves a stack with pending operations to clear
by hand), nothing after that wave starts, and the summary lists every stack as deployed, failed or
not started.

``--engine offline`` is refused: there is nothing to deploy offline, and silently running a preview
under a command named "deploy" would let a CI job look green while deploying nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TextIO

from regionflow.automation import AutomationEngine, EngineUnavailableError, StackOperationResult, load_automation
from regionflow.commands.preview import select_targets
from regionflow.offline.discovery import DiscoveryError, StackTarget, discover_stacks

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_MAX_PARALLEL = 8


@dataclass(frozen=True)
class Wave:
    """Stacks that may run together: only the secondaries of one deploy ever share a wave."""

    targets: tuple[StackTarget, ...]
    parallel: bool


def plan_waves(targets: Sequence[StackTarget], *, parallel: bool) -> list[Wave]:
    """primary -> secondaries -> pipeline -> others; ``targets`` arrive in discovery (deployment) order."""
    waves: list[Wave] = []
    secondaries = tuple(t for t in targets if t.folder == "secondary")
    waves.extend(Wave((t,), False) for t in targets if t.folder == "primary")
    if secondaries:
        if parallel:
            waves.append(Wave(secondaries, True))
        else:
            waves.extend(Wave((t,), False) for t in secondaries)
    waves.extend(Wave((t,), False) for t in targets if t.folder not in ("primary", "secondary"))
    return waves


Deployer = Callable[[StackTarget], StackOperationResult]


@dataclass(frozen=True)
class DeployReport:
    results: tuple[StackOperationResult, ...]
    not_started: tuple[StackTarget, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and not self.not_started


def _guarded(deploy: Deployer) -> Deployer:
    """An unexpected exception fails its stack like a CLI error instead of escaping a worker thread."""

    def run(target: StackTarget) -> StackOperationResult:
        try:
            return deploy(target)
        except Exception as error:  # noqa: BLE001 - reported as that stack's failure, in one line
            return StackOperationResult(target, False, f"{type(error).__name__}: {error}".splitlines()[0])

    return run


def run_waves(waves: Sequence[Wave], deploy: Deployer, *, max_parallel: int = DEFAULT_MAX_PARALLEL) -> DeployReport:
    """Run the waves in order; stop after the first wave with a failure (that wave runs to its end)."""
    deploy = _guarded(deploy)
    results: list[StackOperationResult] = []
    for index, wave in enumerate(waves):
        skipped: tuple[StackTarget, ...] = ()
        if wave.parallel and len(wave.targets) > 1:
            outcomes = _run_parallel(wave.targets, deploy, max_parallel)
            wave_results = [o for o in outcomes if o is not None]
            skipped = tuple(t for t, o in zip(wave.targets, outcomes, strict=True) if o is None)
        else:
            wave_results = [deploy(wave.targets[0])]
        results.extend(wave_results)
        if not all(r.ok for r in wave_results):
            rest = tuple(t for later in waves[index + 1 :] for t in later.targets)
            return DeployReport(tuple(results), skipped + rest)
    return DeployReport(tuple(results), ())


def _run_parallel(
    targets: Sequence[StackTarget], deploy: Deployer, max_parallel: int
) -> list[StackOperationResult | None]:
    """Deploy ``targets`` concurrently; after a failure, stacks still queued are not started (None).

    Stacks already running are never interrupted: they finish, successfully or not.
    """
    failed = threading.Event()

    def run(target: StackTarget) -> StackOperationResult | None:
        if failed.is_set():
            return None
        result = deploy(target)
        if not result.ok:
            failed.set()
        return result

    with ThreadPoolExecutor(max_workers=min(max_parallel, len(targets))) as pool:
        # map keeps the config order in the summary.
        return list(pool.map(run, targets))


def print_report(report: DeployReport, out: TextIO) -> None:
    print("Deploy summary:", file=out)
    for result in report.results:
        print(f"  {result.target.label}: {'deployed' if result.ok else 'FAILED'}: {result.summary}", file=out)
    for target in report.not_started:
        print(f"  {target.label}: not started", file=out)
    failed = [r.target.label for r in report.results if not r.ok]
    if failed:
        print(
            f"error: deploy stopped: {', '.join(failed)} failed; {len(report.not_started)} stack(s) not started. "
            "Fix the failure and re-run (stacks already deployed will show no changes).",
            file=out,
        )
    else:
        print(f"Deployed {len(report.results)} stacks.", file=out)


def run_deploy(
    *,
    root: Path,
    engine: str,
    only: list[str],
    parallel: bool,
    out: TextIO,
    automation_loader: Callable[[], ModuleType] = load_automation,
    max_parallel: int = DEFAULT_MAX_PARALLEL,
) -> int:
    if engine != "pulumi":
        print(
            "error: --engine offline cannot deploy (it only previews under mocks); "
            "use `regionflow preview` offline or `regionflow deploy --engine pulumi`",
            file=out,
        )
        return EXIT_BAD_INPUT
    if max_parallel < 1:
        print(f"error: --max-parallel {max_parallel} must be at least 1", file=out)
        return EXIT_BAD_INPUT
    try:
        targets = select_targets(discover_stacks(root / "stacks"), only)
    except DiscoveryError as error:
        print(f"error: {error}", file=out)
        return EXIT_BAD_INPUT
    if not targets:
        print(f"error: no stacks found under {root / 'stacks'}", file=out)
        return EXIT_BAD_INPUT
    try:
        automation = automation_loader()
    except EngineUnavailableError:
        # load_automation's own hint suggests --engine offline, which deploy cannot honour.
        print(
            "error: the pulumi CLI is not on PATH; `regionflow deploy` runs the real CLI, "
            "install it (https://www.pulumi.com/docs/install/) and log in to the state backend",
            file=out,
        )
        return EXIT_FAILED

    lock = threading.Lock()

    def emit(line: str) -> None:
        # Parallel secondaries share the terminal; whole lines, one writer at a time.
        with lock:
            print(line.rstrip("\n"), file=out)

    policy_pack = root / "shared" / "regionflow" / "policies" / "pack"

    def deploy(target: StackTarget) -> StackOperationResult:
        engine_for_stack = AutomationEngine(
            automation,
            policy_pack=policy_pack if policy_pack.is_dir() else None,
            on_output=lambda line: emit(f"[{target.label}] {line}"),
        )
        emit(f"[{target.label}] pulumi up")
        return engine_for_stack.up(target)

    report = run_waves(plan_waves(targets, parallel=parallel), deploy, max_parallel=max_parallel)
    print_report(report, out)
    return EXIT_OK if report.ok else EXIT_FAILED
