"""Run Pulumi programs in-process under :class:`RegionflowMocks`, in deployment order.

Each stack's exports are kept and handed to the StackReferences of the stacks after it, as the
real backend would. The runtime's global state (root stack, config, settings) is reset between
programs so that nothing leaks from one stack into the next.

The optimisations of :mod:`regionflow.offline.speed` live here: the tuned garbage collector, the
skipped stack traces, the lighter ``Output.concat``, and the worker processes that run the stacks of
one project (the secondaries) side by side once the stacks before them have run. None of them may
change a result; ``REGIONFLOW_OFFLINE_FAST=0`` turns them all off.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import os
import pickle
import runpy
import struct
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import rpc, settings
from pulumi.runtime import stack as runtime_stack
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.sync_await import _sync_await

from regionflow import outputs
from regionflow.offline import speed
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


# -- optimisations (regionflow.offline.speed) ----------------------------------------------------

_SDK_CONCAT = pulumi.Output.concat
_SDK_JSON_DUMPS = pulumi.Output.json_dumps
_SDK_REQUIRE_OUTPUT = pulumi.StackReference.require_output
# Generation 0 is collected after this many net allocations instead of 700. A run allocates a few
# hundred thousand short-lived objects (Outputs, futures, callbacks); collecting them a hundred times
# less often costs a few MB and saves most of the collector's time.
GC_GENERATION0_THRESHOLD = 50_000


def stack_trace_hook() -> ModuleType | None:
    """The SDK module whose ``_get_stack_trace`` the offline engine replaces, or None if its shape changed.

    ``pulumi.runtime.resource._get_stack_trace()`` (pulumi 3.272.0) walks the Python stack for every
    registered resource and sends the frames to the engine for diagnostics; ``register_resource`` and
    ``read_resource`` look it up as a module global at each call. Mocks never read it. It is private:
    if it disappears or takes arguments, the optimisation turns itself off, and
    ``tests/foundation/test_offline_speed.py`` fails loudly so that someone looks again.
    """
    function = getattr(runtime_resource, "_get_stack_trace", None)
    if not inspect.isfunction(function) or inspect.signature(function).parameters:
        return None
    return runtime_resource


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()  # what the SDK itself sends when it finds no user frame


def _fast_concat(*args: pulumi.Input[str]) -> pulumi.Output[str]:
    return outputs.concat(*args, sdk=_SDK_CONCAT)


def _fast_json_dumps(obj: Any, **options: Any) -> pulumi.Output[str]:
    return outputs.json_dumps(obj, sdk=_SDK_JSON_DUMPS, **options)


def _fast_require_output(self: pulumi.StackReference, name: pulumi.Input[str]) -> pulumi.Output[Any]:
    return outputs.require_output(self, name, sdk=_SDK_REQUIRE_OUTPUT)


@contextmanager
def _replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = vars(owner)[name]  # for a class, the staticmethod itself
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextmanager
def _program_speedups() -> Iterator[None]:
    """The SDK shortcuts for one offline program; restored when it ends (never seen by ``--engine pulumi``)."""
    with ExitStack() as stack:
        module = stack_trace_hook() if speed.enabled("traces") else None
        if module is not None:
            stack.enter_context(_replaced(module, "_get_stack_trace", _no_stack_trace))
        if speed.enabled("outputs"):
            stack.enter_context(_replaced(pulumi.Output, "concat", staticmethod(_fast_concat)))
            stack.enter_context(_replaced(pulumi.Output, "json_dumps", staticmethod(_fast_json_dumps)))
            stack.enter_context(_replaced(pulumi.StackReference, "require_output", _fast_require_output))
        yield


_heap_frozen = False  # once per process: see _tuned_gc


@contextmanager
def _tuned_gc() -> Iterator[Callable[[], None]]:
    """Collect generation 0 less often; the callable freezes the heap once the first program has run.

    Freezing moves everything alive at that point (pulumi, pulumi_aws's modules and types, regionflow:
    about 140k objects that live as long as the process) out of every later collection, including the
    one at interpreter exit, and keeps forked workers from touching (and so copying) those pages. It
    happens once per process and is not undone: undoing it costs a full collection, and what was
    frozen lives until the end anyway. It is done without a collection first, which would cost about
    as much as it saves; the first program's leftover cycles (a few MB) stay frozen with the rest.
    """
    if not speed.enabled("gc"):
        yield lambda: None
        return
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], GC_GENERATION0_THRESHOLD), *previous[1:])

    def freeze() -> None:
        global _heap_frozen
        if not _heap_frozen:
            gc.freeze()
            _heap_frozen = True

    try:
        yield freeze
    finally:
        gc.set_threshold(*previous)


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
        with _working_directory(target.project_dir), _program_speedups():
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


# -- worker processes --------------------------------------------------------------------------------

_MESSAGE = struct.Struct("<I?")  # (index in the group, whether a result was written); < PIPE_BUF, so atomic


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _retire_event_loop() -> bool:
    """Close the SDK's event loop before forking; False if that cannot be done safely here.

    A loop inherited across ``fork`` shares its epoll instance and its self-pipe with the parent: when
    the child closes (or merely garbage-collects) it, it unregisters the parent's descriptors from
    that shared epoll, and the parent can then wait forever. So the parent shuts down the loop's
    executor threads and closes it first; parent and children each make a fresh loop after the fork.
    """
    try:
        asyncio.get_running_loop()
        return False  # called from inside a running loop: it cannot be closed under its owner
    except RuntimeError:
        pass
    loop = asyncio.get_event_loop_policy().get_event_loop()
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    asyncio.set_event_loop(None)
    return True


class _Workers:
    """Forked processes, each running every ``count``-th target of a group; results by index, in order."""

    def __init__(self, group: list[StackTarget], stack_outputs: Mapping[str, Any], account_id: str, count: int):
        self.count = count
        self.directory = Path(tempfile.mkdtemp(prefix="regionflow-workers-"))
        self.pipes: list[int] = []
        self.pids: list[int] = []
        self.reported: list[dict[int, bool]] = []
        sys.stdout.flush()
        sys.stderr.flush()
        for worker in range(count):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, which never returns
                os.close(read_end)
                self._child(group, range(worker, len(group), count), stack_outputs, account_id, write_end)
            os.close(write_end)
            self.pipes.append(read_end)
            self.pids.append(pid)
            self.reported.append({})

    def _child(
        self, group: list[StackTarget], indices: range, stack_outputs: Mapping[str, Any], account_id: str, pipe: int
    ) -> None:  # pragma: no cover - runs in the child
        code = 1
        try:
            asyncio.set_event_loop(asyncio.new_event_loop())
            for index in indices:
                written = False
                try:
                    result = run_stack(group[index], stack_outputs=stack_outputs, account_id=account_id)
                    (self.directory / f"{index}.pickle").write_bytes(pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
                    written = True
                except (Exception, SystemExit):  # noqa: BLE001 - the parent runs this stack again and reports
                    pass
                os.write(pipe, _MESSAGE.pack(index, written))
            code = 0
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def result(self, index: int) -> StackResult | None:
        """The worker's result for ``group[index]``, or None if it failed (the caller then runs it itself)."""
        worker = index % self.count
        reported = self.reported[worker]
        while index not in reported:
            message = _read_exactly(self.pipes[worker], _MESSAGE.size)
            if message is None:  # the worker ended early
                return None
            done, written = _MESSAGE.unpack(message)
            reported[done] = written
        if not reported[index]:
            return None
        path = self.directory / f"{index}.pickle"
        result: StackResult = pickle.loads(path.read_bytes())
        path.unlink()
        return result

    def close(self) -> None:
        for pid in self.pids:
            try:
                finished, _status = os.waitpid(pid, os.WNOHANG)
                if finished == 0:  # still running: the caller gave up on this group
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
            except ChildProcessError:  # pragma: no cover - already reaped
                pass
        for pipe in self.pipes:
            os.close(pipe)
        for leftover in self.directory.iterdir():
            leftover.unlink()
        self.directory.rmdir()


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _start_workers(group: list[StackTarget], stack_outputs: Mapping[str, Any], account_id: str) -> _Workers | None:
    """Workers for ``group`` if running it in parallel is on and safe here; None to run it in this process."""
    count = min(len(group), _usable_cpus())
    if count < 2 or not speed.enabled("workers") or sys.platform != "linux":
        return None
    if not _retire_event_loop():
        return None
    try:
        # fork() copies only the calling thread; any other thread's locks would stay held in the child.
        if threading.active_count() != 1:
            return None
        return _Workers(group, stack_outputs, account_id, count)
    finally:
        asyncio.set_event_loop(asyncio.new_event_loop())


def _group_end(targets: list[StackTarget], start: int) -> int:
    """End of the run of targets from ``start`` that may run side by side: the stacks of one project.

    Stacks of one project are independent of each other by design (the secondaries read nothing from
    one another); should one read a sibling all the same, its worker fails to find it, and the stack
    is run again in this process with every earlier stack's exports, exactly as one after another.
    The very first stack always runs here: it imports everything the workers then inherit.
    """
    if start == 0:
        return 1
    end = start + 1
    while end < len(targets) and targets[end].project == targets[start].project:
        end += 1
    return end


def run_stacks(
    targets: list[StackTarget],
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Iterator[StackResult]:
    """Run targets in deployment order, feeding each one's exports to later StackReferences.

    Results are yielded in the order of ``targets`` whether or not workers ran them. Stops at the
    first failure (by raising), because every later stack may read the failed one.
    """
    stack_outputs: dict[str, dict[str, Any]] = {}
    with _tuned_gc() as freeze:
        start = 0
        while start < len(targets):
            end = _group_end(targets, start)
            group = targets[start:end]
            workers = _start_workers(group, stack_outputs, account_id) if len(group) > 1 else None
            try:
                for index, target in enumerate(group):
                    result = workers.result(index) if workers is not None else None
                    if result is None:
                        result = run_stack(target, stack_outputs=stack_outputs, account_id=account_id)
                    else:
                        result.target = target
                    stack_outputs[target.qualified_name] = to_json_safe(result.exports, reveal_secrets=True)
                    freeze()
                    yield result
            finally:
                if workers is not None:
                    workers.close()
            start = end
