"""The output contract between stacks, and the real engine's behaviour with a fake Automation API."""

from __future__ import annotations

import ast
import types
from pathlib import Path
from typing import Any

import pulumi
import pytest
from offline_support import REPO_ROOT

from regionflow.automation import AutomationEngine, EngineUnavailableError, load_automation
from regionflow.contract import OUTPUT_NAMES, REGIONAL_OUTPUTS, read_regional
from regionflow.offline.discovery import discover_stacks


class RecordingReference:
    """Stands in for a StackReference: records which outputs are required."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.required: list[str] = []

    def require_output(self, name: str) -> pulumi.Output[Any]:
        self.required.append(name)
        if name not in self.values:
            raise KeyError(f"required output {name!r} is missing")
        return pulumi.Output.from_input(self.values[name])


def test_read_regional_requires_every_contract_output_through_require_output() -> None:
    reference = RecordingReference(dict.fromkeys(REGIONAL_OUTPUTS, "value"))
    outputs = read_regional(reference)  # type: ignore[arg-type]
    assert reference.required == list(REGIONAL_OUTPUTS)
    assert set(vars(outputs)) == set(OUTPUT_NAMES)


def test_read_regional_fails_when_an_output_is_missing() -> None:
    values = dict.fromkeys(REGIONAL_OUTPUTS, "value")
    del values["loggerFunctionArn"]
    with pytest.raises(KeyError, match="loggerFunctionArn"):
        read_regional(RecordingReference(values))  # type: ignore[arg-type]


def test_both_regional_programs_export_through_the_contract() -> None:
    for folder in ("primary", "secondary"):
        source = (REPO_ROOT / "stacks" / folder / "__main__.py").read_text()
        assert "export_regional(" in source, folder
        assert "pulumi.export(" not in source, f"{folder} exports outside the contract"


def _string_literal_reads(path: Path) -> list[str]:
    """Output names read from a StackReference with a literal instead of a contract constant."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"require_output", "get_output", "get_output_details"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    return found


def test_no_stack_reads_an_output_by_a_literal_name() -> None:
    sources = [*REPO_ROOT.glob("stacks/*/**/*.py"), *REPO_ROOT.glob("shared/regionflow/**/*.py")]
    assert len(sources) > 10
    offenders = [hit for source in sources for hit in _string_literal_reads(source)]
    assert offenders == []


class FakeCommandError(Exception):
    pass


class FakeStack:
    def __init__(self, name: str, work_dir: str, log: list[tuple[str, ...]], fail: bool) -> None:
        self.name, self.work_dir, self.log, self.fail = name, work_dir, log, fail

    def preview(self, *, on_output: Any, policy_packs: list[str] | None) -> Any:
        self.log.append(("preview", Path(self.work_dir).name, self.name, *(policy_packs or [])))
        on_output(f"Previewing update ({self.name})\n")
        if self.fail:
            raise FakeCommandError("code: 255\nstdout: \nstderr: error: no stack named 'prod' found\n")
        return types.SimpleNamespace(change_summary={"create": 22})


def fake_automation(log: list[tuple[str, ...]], failing: set[str] = frozenset()) -> types.ModuleType:  # type: ignore[assignment]
    module = types.ModuleType("fake_automation")
    module.errors = types.SimpleNamespace(CommandError=FakeCommandError)  # type: ignore[attr-defined]

    def select_stack(*, stack_name: str, work_dir: str) -> FakeStack:
        log.append(("select", Path(work_dir).name, stack_name))
        return FakeStack(stack_name, work_dir, log, fail=stack_name in failing)

    module.select_stack = select_stack  # type: ignore[attr-defined]
    return module


def test_the_real_engine_selects_existing_stacks_only_and_passes_the_policy_pack(tmp_path: Path) -> None:
    log: list[tuple[str, ...]] = []
    lines: list[str] = []
    engine = AutomationEngine(fake_automation(log), policy_pack=tmp_path / "pack", on_output=lines.append)
    [target] = [t for t in discover_stacks(REPO_ROOT / "stacks") if t.stack == "prod" and t.folder == "primary"]
    result = engine.preview(target)
    assert result.ok and result.summary == "22 to create"
    assert log == [("select", "primary", "prod"), ("preview", "primary", "prod", str(tmp_path / "pack"))]
    assert lines == ["Previewing update (prod)\n"]


def test_a_cli_failure_is_reduced_to_its_error_line() -> None:
    log: list[tuple[str, ...]] = []
    engine = AutomationEngine(fake_automation(log, failing={"prod"}), on_output=lambda _: None)
    [target] = [t for t in discover_stacks(REPO_ROOT / "stacks") if t.folder == "primary"]
    result = engine.preview(target)
    assert not result.ok
    assert result.summary == "error: no stack named 'prod' found"


def test_load_automation_refuses_without_the_cli_and_imports_with_it() -> None:
    with pytest.raises(EngineUnavailableError, match="not on PATH"):
        load_automation(which=lambda _: None)
    module = load_automation(which=lambda _: "/usr/local/bin/pulumi")
    assert hasattr(module, "select_stack") and hasattr(module.errors, "CommandError")
