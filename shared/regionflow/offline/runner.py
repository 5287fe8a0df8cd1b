"""Run Pulumi programs in-process under :class:`RegionflowMocks`, one stack after another.

Each stack's exports are kept and handed to the StackReferences of the stacks after it, as the
real backend would. The runtime's global state (root stack, config, settings) is reset between
programs so that nothing leaks from one stack into the next.
"""

from __future__ import annotations

import logging
import os
import runpy
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime import stack as runtime_stack
from pulumi.runtime.config import set_all_config
from pulumi.runtime.sync_await import _sync_await

from regionflow.offline.arns import DEFAULT_ACCOUNT_ID
from regionflow.offline.discovery import StackTarget
from regionflow.offline.jsonsafe import to_json_safe
from regionflow.offline.mocks import RecordedResource, RecordingMonitor, RegionflowMocks


class StackRunError(RuntimeError):
    """A program failed; carries the stack and the original error."""

    def __init__(self, target: StackTarget, cause: BaseException) -> None:
        self.target = target
        self.cause = cause
        super().__init__(f"{target.label}: {describe_error(cause)}")


def describe_error(error: BaseException) -> str:
    """One line for an error: RunErrors (config problems) as written, others with their type."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, pulumi.RunError):
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _reset_root_stack() -> None:
    # The SDK types the argument as a Resource, but None is how it is reset between programs.
    settings.set_root_resource(None)  # type: ignore[arg-type]


class _CollectingHandler(logging.Handler):
    """Keeps what programs log through ``pulumi.log`` (warnings, errors) instead of printing it."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.lower()}: {record.getMessage()}")


@dataclass
class StackResult:
    target: StackTarget
    resources: list[RecordedResource]
    exports: dict[str, Any]  # resolved values; secrets stay wrapped as RPC secrets (redacted in manifests)
    warnings: list[str] = field(default_factory=list)

    def counts_by_type(self, operation: str = "create") -> dict[str, int]:
        counts: dict[str, int] = {}
        for resource in self.resources:
            if resource.operation == operation:
                counts[resource.type] = counts.get(resource.type, 0) + 1
        return dict(sorted(counts.items()))

    def count(self, operation: str) -> int:
        return sum(1 for resource in self.resources if resource.operation == operation)


@contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    # The Pulumi CLI runs a program from its project folder; relative paths must behave the same.
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


async def _resolve(value: Any) -> Any:
    """An export's value; a secret export stays wrapped as an RPC secret so the manifest redacts it."""
    output = pulumi.Output.from_input(value)
    resolved = await output.future(with_unknowns=True)
    return rpc.wrap_rpc_secret(resolved) if await output.is_secret() else resolved


def _clear_runtime_queues() -> None:
    # The SDK keeps outstanding RPCs, the first unhandled error and pending output tasks in global
    # settings. A program that failed leaves them behind; the next program must not inherit them.
    settings.SETTINGS.outputs.clear()
    settings.SETTINGS.rpc_manager.clear()


def run_stack(
    target: StackTarget,
    *,
    stack_outputs: Mapping[str, Mapping[str, Any]],
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> StackResult:
    """Run one program under mocks; raise :class:`StackRunError` if it fails."""
    program = target.project_dir / "__main__.py"
    if not program.is_file():
        raise StackRunError(target, FileNotFoundError(f"{program} does not exist"))
    default_region = target.config.get("aws:region", "us-east-1")
    mocks = RegionflowMocks(account_id=account_id, default_region=default_region, stack_outputs=stack_outputs)
    monitor = RecordingMonitor(mocks)
    logger = logging.getLogger(f"regionflow.offline.{target.project}.{target.stack}")
    logger.propagate = False
    handler = _CollectingHandler()
    logger.handlers = [handler]

    _reset_root_stack()
    pulumi_mocks.set_mocks(
        mocks, project=target.project, stack=target.stack, preview=True, logger=logger, monitor=monitor
    )
    # set_mocks registers a root stack of its own; run_in_stack below creates the program's root.
    _reset_root_stack()
    _clear_runtime_queues()
    set_all_config(dict(target.config), list(target.secret_keys))
    holder: dict[str, Any] = {}

    def program_body() -> None:
        runpy.run_path(str(program), run_name="__main__")
        holder["root"] = settings.get_root_resource()

    sys_path_entry = str(target.project_dir)
    sys.path.insert(0, sys_path_entry)
    try:
        with _working_directory(target.project_dir):
            _sync_await(runtime_stack.run_in_stack(program_body))
            root = holder.get("root")
            outputs = getattr(root, "outputs", {}) or {}
            exports = {name: _sync_await(_resolve(value)) for name, value in outputs.items()}
    except Exception as error:
        raise StackRunError(target, error) from error
    finally:
        sys.path.remove(sys_path_entry)
        _reset_root_stack()
        _clear_runtime_queues()
    return StackResult(target=target, resources=list(monitor.recorded), exports=exports, warnings=handler.messages)


def run_stacks(
    targets: list[StackTarget],
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Iterator[StackResult]:
    """Run targets in order, feeding each one's exports to later StackReferences.

    Stops at the first failure (by raising), because every later stack may read the failed one.
    """
    stack_outputs: dict[str, dict[str, Any]] = {}
    for target in targets:
        result = run_stack(target, stack_outputs=stack_outputs, account_id=account_id)
        stack_outputs[target.qualified_name] = to_json_safe(result.exports, reveal_secrets=True)
        yield result
