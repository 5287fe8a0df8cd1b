"""``regionflow deploy`` with a fake Automation API: order, parallel secondaries, stop on failure."""

from __future__ import annotations

import io
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from offline_support import REPO_ROOT

from regionflow.automation import EngineUnavailableError
from regionflow.cli import main
from regionflow.commands.deploy import plan_waves, run_deploy
from regionflow.offline.discovery import StackTarget

# Generous deadlock guard only: a correct run never waits on it.
GUARD_SECONDS = 30


def write_repo(root: Path, secondaries: int) -> None:
    """A minimal monorepo: the three projects, with ``secondaries`` secondary stacks."""
    for folder, stacks in (
        ("primary", ["prod"]),
        ("secondary", [f"prod-r{i}" for i in range(secondaries)]),
        ("pipeline", ["prod"]),
    ):
        project = root / "stacks" / folder
        project.mkdir(parents=True)
        (project / "Pulumi.yaml").write_text(f"name: regionflow-{folder}\nruntime: python\n")
        for stack in stacks:
            (project / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    (root / "shared").mkdir()


class FakeCommandError(Exception):
    pass


class FakeAutomation:
    """Records every call; ``behaviour`` may block or fail a stack's ``up``."""

    def __init__(self, behaviour: Callable[[str], None] = lambda label: None) -> None:
        self.calls: list[str] = []
        self.finished: list[str] = []
        self.kwargs: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.behaviour = behaviour

    def module(self) -> types.ModuleType:
        module = types.ModuleType("fake_automation")
        module.errors = types.SimpleNamespace(CommandError=FakeCommandError)  # type: ignore[attr-defined]
        module.select_stack = self.select_stack  # type: ignore[attr-defined]
        return module

    def select_stack(self, *, stack_name: str, work_dir: str) -> Any:
        label = f"regionflow-{Path(work_dir).name}/{stack_name}"
        fake = self

        class Stack:
            def up(self, **kwargs: Any) -> Any:
                with fake.lock:
                    fake.calls.append(label)
                    fake.kwargs.append(kwargs)
                kwargs["on_output"](f"Updating ({stack_name})\n")
                fake.behaviour(label)
                with fake.lock:
                    fake.finished.append(label)
                return types.SimpleNamespace(
                    summary=types.SimpleNamespace(resource_changes={"create": 3, "same": 20, "update": 0})
                )

            def preview(self, **kwargs: Any) -> Any:  # pragma: no cover - deploy must never preview
                raise AssertionError("deploy called preview")

        return Stack()


def deploy(
    root: Path, fake: FakeAutomation, *, parallel: bool = False, only: list[str] | None = None
) -> tuple[int, str]:
    out = io.StringIO()
    code = run_deploy(
        root=root, engine="pulumi", only=only or [], parallel=parallel, out=out, automation_loader=fake.module
    )
    return code, out.getvalue()


def test_sequential_deploy_runs_primary_then_each_secondary_then_pipeline(tmp_path: Path) -> None:
    write_repo(tmp_path, secondaries=3)
    fake = FakeAutomation()
    code, output = deploy(tmp_path, fake)
    assert code == 0, output
    assert fake.calls == [
        "regionflow-primary/prod",
        "regionflow-secondary/prod-r0",
        "regionflow-secondary/prod-r1",
        "regionflow-secondary/prod-r2",
        "regionflow-pipeline/prod",
    ]
    assert "regionflow-primary/prod: deployed: 3 create" in output
    assert "Deployed 5 stacks." in output
    # Output lines are attributed to their stack (parallel runs share one terminal).
    assert "[regionflow-secondary/prod-r1] Updating (prod-r1)" in output


def test_parallel_secondaries_run_at_the_same_time_between_primary_and_pipeline(tmp_path: Path) -> None:
    write_repo(tmp_path, secondaries=3)
    # Each secondary waits until all three are inside `up`: only a parallel run gets past it.
    barrier = threading.Barrier(3, timeout=GUARD_SECONDS)
    fake = FakeAutomation(lambda label: barrier.wait() if "secondary" in label else None)
    code, output = deploy(tmp_path, fake, parallel=True)
    assert code == 0, output
    assert fake.calls[0] == "regionflow-primary/prod"
    assert sorted(fake.calls[1:4]) == [f"regionflow-secondary/prod-r{i}" for i in range(3)]
    assert fake.calls[4] == "regionflow-pipeline/prod"
    # The pipeline starts only after every secondary finished.
    assert fake.finished.index("regionflow-pipeline/prod") == 4


def test_a_failing_parallel_secondary_lets_the_others_finish_and_stops_before_the_pipeline(tmp_path: Path) -> None:
    write_repo(tmp_path, secondaries=3)
    barrier = threading.Barrier(3, timeout=GUARD_SECONDS)

    def behaviour(label: str) -> None:
        if "secondary" in label:
            barrier.wait()  # all three are running when one fails
        if label.endswith("prod-r1"):
            raise FakeCommandError("code: 255\nstdout: \nstderr: error: update failed: AccessDenied on s3:PutObject")

    fake = FakeAutomation(behaviour)
    code, output = deploy(tmp_path, fake, parallel=True)
    assert code == 1
    assert "regionflow-pipeline/prod" not in fake.calls
    assert sorted(fake.finished) == [
        "regionflow-primary/prod",
        "regionflow-secondary/prod-r0",
        "regionflow-secondary/prod-r2",
    ]
    assert "  regionflow-secondary/prod-r1: FAILED: error: update failed: AccessDenied on s3:PutObject" in output
    assert "  regionflow-pipeline/prod: not started" in output
    assert output.rstrip().splitlines()[-1] == (
        "error: deploy stopped: regionflow-secondary/prod-r1 failed; 1 stack(s) not started. "
        "Fix the failure and re-run (stacks already deployed will show no changes)."
    )


def test_a_failing_primary_starts_nothing_else(tmp_path: Path) -> None:
    write_repo(tmp_path, secondaries=2)

    def behaviour(label: str) -> None:
        if "primary" in label:
            raise FakeCommandError("stderr: error: no stack named 'prod' found")

    fake = FakeAutomation(behaviour)
    code, output = deploy(tmp_path, fake, parallel=True)
    assert code == 1
    assert fake.calls == ["regionflow-primary/prod"]
    assert output.count(": not started") == 3


def test_a_sequential_failure_leaves_the_later_secondaries_unstarted(tmp_path: Path) -> None:
    write_repo(tmp_path, secondaries=3)

    def behaviour(label: str) -> None:
        if label.endswith("prod-r0"):
            raise FakeCommandError("stderr: error: conflict: Another update is currently in progress.")

    fake = FakeAutomation(behaviour)
    code, output = deploy(tmp_path, fake)
    assert code == 1
    assert fake.calls == ["regionflow-primary/prod", "regionflow-secondary/prod-r0"]
    assert "regionflow-secondary/prod-r2: not started" in output


def test_an_unexpected_exception_in_a_worker_is_reported_as_that_stacks_failure(tmp_path: Path) -> None:
    write_repo(tmp_path, secondaries=2)

    def behaviour(label: str) -> None:
        if label.endswith("prod-r0"):
            raise OSError("pulumi: exec format error")

    code, output = deploy(tmp_path, FakeAutomation(behaviour), parallel=True)
    assert code == 1
    assert "regionflow-secondary/prod-r0: FAILED: OSError: pulumi: exec format error" in output
    assert "Traceback" not in output


def test_stack_selection_keeps_the_order_and_up_gets_the_policy_pack_when_present(tmp_path: Path) -> None:
    write_repo(tmp_path, secondaries=2)
    pack = tmp_path / "shared" / "regionflow" / "policies" / "pack"
    pack.mkdir(parents=True)
    fake = FakeAutomation()
    code, _ = deploy(tmp_path, fake, only=["regionflow-pipeline/prod", "regionflow-secondary/prod-r1"])
    assert code == 0
    assert fake.calls == ["regionflow-secondary/prod-r1", "regionflow-pipeline/prod"]
    assert all(k["policy_packs"] == [str(pack)] and k["show_secrets"] is False for k in fake.kwargs)


def test_the_real_repository_plans_primary_secondaries_pipeline() -> None:
    from regionflow.offline.discovery import discover_stacks

    targets = discover_stacks(REPO_ROOT / "stacks")
    waves = plan_waves(targets, parallel=True)
    folders = [[t.folder for t in wave.targets] for wave in waves]
    secondary_count = sum(1 for t in targets if t.folder == "secondary")
    assert folders[0] == ["primary"]
    assert folders[1] == ["secondary"] * secondary_count and waves[1].parallel
    assert ["pipeline"] in folders[2:] or not any(t.folder == "pipeline" for t in targets)


def _unavailable() -> types.ModuleType:
    raise EngineUnavailableError("the pulumi CLI is not on PATH")


def test_without_the_cli_deploy_says_so_in_one_line(tmp_path: Path) -> None:
    write_repo(tmp_path, secondaries=1)
    out = io.StringIO()
    code = run_deploy(root=tmp_path, engine="pulumi", only=[], parallel=False, out=out, automation_loader=_unavailable)
    assert code == 1
    (line,) = out.getvalue().splitlines()
    assert line.startswith("error: the pulumi CLI is not on PATH;") and "pulumi.com/docs/install" in line


def test_the_cli_without_pulumi_on_path_fails_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_repo(tmp_path, secondaries=1)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = io.StringIO()
    assert main(["deploy", "--root", str(tmp_path)], stdout=out) == 1
    assert len(out.getvalue().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--engine", "offline"], "--engine offline cannot deploy"),
        (["--stack", "regionflow-secondary/prod-nowhere"], "unknown stack regionflow-secondary/prod-nowhere"),
        (["--parallel", "--max-parallel", "0"], "--max-parallel 0 must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, argv: list[str], needle: str) -> None:
    write_repo(tmp_path, secondaries=1)
    out = io.StringIO()
    assert main(["deploy", "--root", str(tmp_path), *argv], stdout=out) == 2
    (line,) = out.getvalue().splitlines()
    assert line.startswith("error: ") and needle in line


def test_waves_never_put_primary_or_pipeline_in_parallel() -> None:
    def target(folder: str, stack: str) -> StackTarget:
        return StackTarget(folder, f"regionflow-{folder}", stack, Path(folder))

    targets = [
        target("primary", "prod"),
        target("secondary", "a"),
        target("secondary", "b"),
        target("pipeline", "prod"),
    ]
    sequential = plan_waves(targets, parallel=False)
    assert [len(w.targets) for w in sequential] == [1, 1, 1, 1] and not any(w.parallel for w in sequential)
    parallel = plan_waves(targets, parallel=True)
    assert [(len(w.targets), w.parallel) for w in parallel] == [(1, False), (2, True), (1, False)]


def test_after_a_parallel_failure_queued_secondaries_are_not_started(tmp_path: Path) -> None:
    write_repo(tmp_path, secondaries=3)

    def behaviour(label: str) -> None:
        if label.endswith("prod-r0"):
            raise FakeCommandError("stderr: error: update failed")

    fake = FakeAutomation(behaviour)
    out = io.StringIO()
    # One worker: the pool takes the secondaries one by one, so r1 and r2 are still queued when r0 fails.
    code = run_deploy(
        root=tmp_path,
        engine="pulumi",
        only=[],
        parallel=True,
        out=out,
        automation_loader=fake.module,
        max_parallel=1,
    )
    assert code == 1
    assert fake.calls == ["regionflow-primary/prod", "regionflow-secondary/prod-r0"]
    report = out.getvalue()
    for label in ("regionflow-secondary/prod-r1", "regionflow-secondary/prod-r2", "regionflow-pipeline/prod"):
        assert f"  {label}: not started" in report
    assert "3 stack(s) not started" in report
