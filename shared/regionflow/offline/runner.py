"""Run Pulumi programs in-process under :class:`RegionflowMocks`, in deployment order.

Each stack's exports are kept and handed to the StackReferences of the stacks after it, as the
real backend would. The runtime's global state (root stack, config, settings) is reset between
programs so that nothing leaks from one stack into the next.

The optimisations of :mod:`regionflow.offline.speed` live here: the tuned garbage collector, the
skipped stack traces, the lighter ``Output.concat``, ``Output.json_dumps`` and
``StackReference.require_output``, and the worker processes that run the stacks after the first
side by side (a StackReference in a worker waits for the stack it names). None of them may change a
result; ``REGIONFLOW_OFFLINE_FAST=0`` turns them all off.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import inspect
import logging
import os
import pickle  # nosec B403 - only between this run's own processes (see _Workers)
import runpy
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
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
from regionflow.offline import lazy_aws, speed
from regionflow.offline.arns import DEFAULT_ACCOUNT_ID
from regionflow.offline.discovery import StackTarget
from regionflow.offline.jsonsafe import to_json_safe
from regionflow.offline.mocks import PendingStackOutputs, RecordedResource, RecordingMonitor, RegionflowMocks


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
# hundred thousand short-lived objects (Outputs, futures, callbacks); collecting them far less often
# costs no measurable memory here (peak RSS unchanged) and saves most of the collector's time: in the
# preview process at 200k, 3 collections in 2 ms instead of 5 in 20-25 ms at 50k.
GC_GENERATION0_THRESHOLD = 200_000


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


_heap_frozen = False  # set once the first run in this process is over: see _tuned_gc


@contextmanager
def _tuned_gc() -> Iterator[Callable[[], None]]:
    """Collect generation 0 less often; the callable freezes the heap (before forking, after the first stack).

    Freezing moves everything alive at that point (pulumi, pulumi_aws's modules and types, regionflow:
    about 140k objects that live as long as the process) out of every later collection, including the
    one at interpreter exit, and keeps forked workers from touching (and so copying) those pages. It
    happens during the first run in a process only and is not undone: undoing it costs a full
    collection, and what was frozen lives until the end anyway. It is done without a collection
    first, which would cost about as much as it saves; the first program's leftover cycles (a few MB)
    stay frozen with the rest.
    """
    if not speed.enabled("gc"):
        yield lambda: None
        return
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], GC_GENERATION0_THRESHOLD), *previous[1:])
    first_run = not _heap_frozen

    def freeze() -> None:
        if first_run:
            gc.freeze()

    try:
        yield freeze
    finally:
        gc.set_threshold(*previous)
        _mark_frozen()


def _mark_frozen() -> None:
    global _heap_frozen
    _heap_frozen = True


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
    if speed.enabled("imports"):
        lazy_aws.install()
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

_MESSAGE = struct.Struct("<I?")  # (index into the targets, whether a result was written); < PIPE_BUF: atomic
# mkdtemp makes a private (0700) directory with a random name in it, so a shared tmpfs is safe.
_SHARED_MEMORY = Path("/dev/shm")  # noqa: S108  # nosec B108 - a private mkdtemp directory inside it
_LOOK_INTERVAL = 0.001
# Each worker is a fork that shares most pages with this process but holds its own stack's objects
# (tens of MB): on a many-core machine, more than this many would cost memory for little time.
MAX_WORKERS = 8
_WORKER_GROWTH = 128 * 2**20  # bytes a worker may grow by before it collects cycles after all


def _usable_cpus() -> int:
    """CPUs this process may use: its affinity, a container's CPU quota (cgroup v2 or v1), and MAX_WORKERS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, quota)
    return max(1, min(cpus, MAX_WORKERS))


def _cgroup_cpu_quota() -> int | None:
    """A CI container's CPU limit, which affinity does not show (cgroup v2 cpu.max, or v1 cfs_quota)."""
    try:
        quota, _, period = Path("/sys/fs/cgroup/cpu.max").read_text().partition(" ")
        if quota.strip() != "max":
            return -(-int(quota) // int(period))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return -(-quota_us // period_us) if quota_us > 0 and period_us > 0 else None


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


class StackOutputsUnavailableError(LookupError):
    """The preview process that started this worker is gone, so the stack it waits for will never come."""


def _publish(path: Path, data: bytes) -> None:
    # Written whole, then renamed: another process never reads half a file.
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


class _Board:
    """What one worker process knows of the exports of the stacks before its own.

    Those that ran before the workers started are known from the start; the others appear as
    ``exports-<index>.pickle`` when the process that ran them publishes them: a worker, or the parent
    when it had to run a stack again itself. A stack waits for as long as that takes; if the run stops
    instead (a stack failed for good), the parent ends the workers. One thread at a time looks for
    new exports; the others wait for it.
    """

    def __init__(self, directory: Path, targets: list[StackTarget], known: Mapping[str, Any], parent: int) -> None:
        self.directory = directory
        self.names = [t.qualified_name for t in targets]
        self.known: dict[str, Any] = dict(known)
        self.parent = parent
        self.condition = threading.Condition()
        self.looking = False

    def wait(self, name: str) -> Any:
        with self.condition:
            while name not in self.known:
                if self.looking:
                    # Woken when the looking thread finds something or stops looking.
                    self.condition.wait(1.0)
                    continue
                self.looking = True
                try:
                    while name not in self.known:
                        self.condition.release()
                        try:
                            found = self._look()
                        finally:
                            self.condition.acquire()
                        if found:
                            self.known.update(found)
                            self.condition.notify_all()
                finally:
                    self.looking = False
                    self.condition.notify_all()
            return self.known[name]

    def _look(self) -> dict[str, Any]:
        if os.getppid() != self.parent:
            raise StackOutputsUnavailableError("the preview process that started this worker is gone")
        found: dict[str, Any] = {}
        for entry in os.listdir(self.directory):
            number = entry.removeprefix("exports-").removesuffix(".pickle")
            if entry.startswith("exports-") and entry.endswith(".pickle") and number.isdigit():
                name = self.names[int(number)]
                if name not in self.known:
                    # Written by this run's own processes into a directory only they can read (mkdtemp: 0700).
                    found[name] = pickle.loads((self.directory / entry).read_bytes())  # noqa: S301  # nosec B301
        if not found:
            time.sleep(_LOOK_INTERVAL)
        return found


class _EarlierStacks(PendingStackOutputs):
    """The stacks a StackReference of ``targets[index]`` may name: exactly those before it, as one after another."""

    def __init__(self, board: _Board, index: int) -> None:
        self.board = board
        self.names = board.names[:index]

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        if name not in self.names:
            raise KeyError(name)
        value: Mapping[str, Any] = self.board.wait(name)
        return value

    def __contains__(self, name: object) -> bool:
        if name not in self.names:
            return False
        self.board.wait(str(name))
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


class _Workers:
    """Forked processes for the stacks after the first; results come back in deployment order.

    The stacks are split by project (the secondaries, then the pipeline); each project gets workers of
    its own, taking its stacks in turn. A stack that reads another through a StackReference waits
    until that one's exports are published (by a worker, or by this process), so the pipeline builds
    everything it can while the regions still run.
    """

    def __init__(self, targets: list[StackTarget], account_id: str) -> None:
        # Results go through files in memory (tmpfs) where there is one: nothing here needs a disk.
        in_memory = _SHARED_MEMORY if _SHARED_MEMORY.is_dir() and os.access(_SHARED_MEMORY, os.W_OK) else None
        self.directory = Path(tempfile.mkdtemp(prefix="regionflow-workers-", dir=in_memory))
        self.targets = targets
        self.account_id = account_id
        self.owner: dict[int, int] = {}
        self.pipes: list[int] = []
        self.pids: list[int] = []
        self.reported: list[dict[int, bool]] = []
        self.parent = os.getpid()

    def start(self, plan: list[list[int]], known: Mapping[str, Any]) -> bool:
        """Fork one worker per entry of ``plan``; False (nothing started) where forking is not safe here."""
        if not _retire_event_loop():
            return False
        try:
            # fork() copies only the calling thread; any other thread's locks would stay held in the child.
            if threading.active_count() != 1:
                return False
            sys.stdout.flush()
            sys.stderr.flush()
            for indices in plan:
                read_end, write_end = os.pipe()
                pid = os.fork()
                if pid == 0:  # pragma: no cover - runs in the child, which never returns
                    os.close(read_end)
                    for other in self.pipes:
                        os.close(other)
                    board = _Board(self.directory, self.targets, known, self.parent)
                    self._child(self.targets, indices, board, self.account_id, write_end)
                os.close(write_end)
                self.owner.update({index: len(self.pipes) for index in indices})
                self.pipes.append(read_end)
                self.pids.append(pid)
                self.reported.append({})
            return True
        finally:
            asyncio.set_event_loop(asyncio.new_event_loop())

    def _child(
        self,
        targets: list[StackTarget],
        indices: list[int],
        board: _Board,
        account_id: str,
        pipe: int,
    ) -> None:  # pragma: no cover - runs in the child
        code = 1
        try:
            # A worker lives for a few stacks: collecting their cycles costs more (measured: 0.03-0.07 s
            # CPU per worker at 16 regions) than the memory they hold (about 0.5 MB per stack). The
            # collector runs only should a worker grow by more than _WORKER_GROWTH after all.
            if speed.enabled("gc"):
                gc.disable()
            start_rss = _resident_bytes()
            loop = asyncio.new_event_loop()
            # A StackReference waiting for another process holds an executor thread; leave room for
            # every one of them and for the registrations that need no other stack.
            loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=len(targets) + 8))
            asyncio.set_event_loop(loop)
            for index in indices:
                earlier = _EarlierStacks(board, index)
                try:
                    result = run_stack(targets[index], stack_outputs=earlier, account_id=account_id)
                    exports = to_json_safe(result.exports, reveal_secrets=True)
                    _publish(self.directory / f"exports-{index}.pickle", pickle.dumps(exports))
                    _publish(self.directory / f"result-{index}.pickle", pickle.dumps(result, pickle.HIGHEST_PROTOCOL))
                    written = True
                except (Exception, SystemExit):  # noqa: BLE001 - the parent runs this stack again and reports
                    written = False
                os.write(pipe, _MESSAGE.pack(index, written))
                if not gc.isenabled() and _resident_bytes() - start_rss > _WORKER_GROWTH:
                    gc.collect()
            code = 0
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def result(self, index: int) -> StackResult | None:
        """The result for ``targets[index]``, or None if no worker ran it or its worker failed it.

        The caller then runs it itself.
        """
        worker = self.owner.get(index)
        if worker is None:
            return None
        reported = self.reported[worker]
        while index not in reported:
            message = _read_exactly(self.pipes[worker], _MESSAGE.size)
            if message is None:  # the worker ended early
                return None
            done, written = _MESSAGE.unpack(message)
            reported[done] = written
        if not reported[index]:
            return None
        path = self.directory / f"result-{index}.pickle"
        result: StackResult = pickle.loads(path.read_bytes())  # noqa: S301  # nosec B301 - our worker wrote it (see _Board._look)
        path.unlink()
        return result

    def publish(self, index: int, exports: Any) -> None:
        """Exports of a stack the parent ran itself, for the workers waiting on it."""
        _publish(self.directory / f"exports-{index}.pickle", pickle.dumps(exports))

    def close(self) -> None:
        for pid in self.pids:
            try:
                finished, _status = os.waitpid(pid, os.WNOHANG)
                if finished == 0:  # still running: the run stopped early (a failure, or the caller gave up)
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            except ChildProcessError:  # pragma: no cover - already reaped
                pass
        for pipe in self.pipes:
            os.close(pipe)
        shutil.rmtree(self.directory, ignore_errors=True)


def _resident_bytes() -> int:
    """This process's resident memory now (Linux: /proc/self/statm, in pages)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _projects(targets: list[StackTarget], start: int) -> list[range]:
    """The runs of consecutive stacks of one project from ``start`` on (the secondaries, the pipeline)."""
    groups: list[range] = []
    index = start
    while index < len(targets):
        end = index + 1
        while end < len(targets) and targets[end].project == targets[index].project:
            end += 1
        groups.append(range(index, end))
        index = end
    return groups


def _plan(groups: list[range], cpus: int) -> list[list[int]]:
    """Target indices per worker: every project gets one worker, the CPUs left over go to the largest.

    Each worker takes its project's stacks in turn, in deployment order.
    """
    counts = [1] * len(groups)
    spare = cpus - len(groups)
    for position in sorted(range(len(groups)), key=lambda g: -len(groups[g])):
        extra = min(max(spare, 0), len(groups[position]) - 1)
        counts[position] += extra
        spare -= extra
    return [list(group[worker :: counts[g]]) for g, group in enumerate(groups) for worker in range(counts[g])]


@dataclass
class _Schedule:
    early: list[list[int]]  # workers forked before the first stack runs, as target indices
    late: list[list[int]]  # workers forked after it


def _schedule(targets: list[StackTarget], cpus: int) -> _Schedule:
    """When each worker starts.

    * The last project (the pipeline: it reads every stack before it) starts at once, in a worker of
      its own. While the first stack runs here another CPU would sit idle; the pipeline uses it to
      import what it needs and to build everything that waits for no other stack, and then mostly
      waits for the exports of the stacks before it.
    * The projects in between (the secondaries) start once the first stack has run, inheriting all it
      imported, in one worker per CPU: the waiting pipeline and this process (which writes each
      result's manifest) take little CPU from them, and they are the longest chain.

    Measured on two CPUs (medians of six runs on an idle host), against the schedule before (the
    pipeline started at once only with at most 4 stacks per spare CPU between, otherwise late and at a
    lower priority; the secondaries in one worker per CPU the pipeline left): repository 0.73 -> 0.735 s,
    4 secondaries 0.845 -> 0.805 s, 8 secondaries 1.025 -> 0.96 s, 16 secondaries 1.45 -> 1.305 s.
    """
    groups = _projects(targets, 1)
    if len(groups) == 1:
        return _Schedule([], _plan(groups, cpus))
    return _Schedule(_plan(groups[-1:], 1), _plan(groups[:-1], cpus))


def _workers_wanted(targets: list[StackTarget], cpus: int) -> bool:
    return len(targets) > 2 and cpus >= 2 and speed.enabled("workers") and sys.platform == "linux"


def run_stacks(
    targets: list[StackTarget],
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
) -> Iterator[StackResult]:
    """Run targets in deployment order, feeding each one's exports to later StackReferences.

    Results are yielded in the order of ``targets`` whether or not workers ran them. Stops at the
    first failure (by raising), because every later stack may read the failed one.

    The first stack always runs in this process. With workers (see :func:`_schedule`), a stack that
    fails in one, or that a worker could not finish, is run again here with every earlier stack's
    exports, so errors and results are exactly those of one stack after another.
    """
    stack_outputs: dict[str, dict[str, Any]] = {}
    cpus = _usable_cpus()
    workers = _Workers(targets, account_id) if _workers_wanted(targets, cpus) else None
    with _tuned_gc() as freeze:
        try:
            if workers is not None:
                schedule = _schedule(targets, cpus)
                freeze()
                workers.start(schedule.early, stack_outputs)
            for index, target in enumerate(targets):
                result = workers.result(index) if workers is not None else None
                if result is None:
                    result = run_stack(target, stack_outputs=stack_outputs, account_id=account_id)
                    exports = to_json_safe(result.exports, reveal_secrets=True)
                    if workers is not None:
                        workers.publish(index, exports)
                else:
                    result.target = target
                    exports = to_json_safe(result.exports, reveal_secrets=True)
                stack_outputs[target.qualified_name] = exports
                if index == 0 and workers is not None:
                    freeze()
                    # Before the first result goes back: its manifest and policies are then written
                    # while the workers already run.
                    workers.start(schedule.late, stack_outputs)
                yield result
        finally:
            if workers is not None:
                workers.close()
