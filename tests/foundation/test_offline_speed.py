"""The offline preview's optimisations (regionflow.offline.speed) change how fast it runs, never what it computes.

The central test runs ``regionflow preview`` in fresh processes with every optimisation off
(``REGIONFLOW_OFFLINE_FAST=0``) and on, over the repository and over a generated tree with several
secondary regions, and compares a digest of every manifest byte for byte, and the printed summary
(compliance included). The others pin down each optimisation on its own: the Output helpers against
the SDK's functions (value, known-ness, secrecy, dependencies), the private SDK function the engine
replaces, the policy views the rules share, and the worker processes (order, errors, a stack that
reads a sibling). Speed itself is measured in ``benchmarks/preview_bench.py``, never here.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import enum
import gc
import hashlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from offline_support import REPO_ROOT
from pulumi.output import Unknown
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime.sync_await import _sync_await
from pulumi_policy import ResourceValidationPolicy, StackValidationArgs

from regionflow import outputs
from regionflow.offline import runner, speed
from regionflow.offline.discovery import StackTarget, discover_stacks
from regionflow.offline.jsonsafe import to_json_safe
from regionflow.offline.manifest import build_manifest
from regionflow.offline.runner import StackResult, StackRunError, run_stack, run_stacks
from regionflow.policies import offline as policies_offline
from regionflow.policies.rules import POLICIES

SECONDARIES = 5  # enough for two workers with several stacks each, and a group after them (the pipeline)


def _bench() -> types.ModuleType:
    """benchmarks/preview_bench.py, whose tree generator the benchmark and this test share."""
    spec = importlib.util.spec_from_file_location("preview_bench", REPO_ROOT / "benchmarks" / "preview_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("preview_bench", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's programs with the primary, SECONDARIES secondary regions and the pipeline reading them."""
    root = tmp_path_factory.mktemp("speed") / "tree"
    bench = _bench()
    bench.build_tree(root, bench.secondary_regions(SECONDARIES))
    return root


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, "1")
    yield


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, "0")
    yield


# -- the digest: whole previews, in fresh processes -------------------------------------------------------

CHILD = """
import sys
from regionflow.offline import runner
workers = []
started = runner._Workers.start
def counting(self, plan, known, *args):
    forked = started(self, plan, known, *args)
    workers.extend(len(indices) for indices in plan if forked)
    return forked
runner._Workers.start = counting
from regionflow.cli import main
code = main(["preview", "--root", sys.argv[1], "--out", sys.argv[2]])
print(f"worker groups: {workers}")
sys.exit(code)
"""


def _preview(root: Path, out: Path, fast: str) -> tuple[str, str, str]:
    """(digest of every manifest, printed summary without timings and paths, worker groups) of one fresh run."""
    env = {**os.environ, speed.ENVIRONMENT_VARIABLE: fast}
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(out)], capture_output=True, text=True, env=env, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    digest = hashlib.sha256()
    manifests = sorted(out.glob("*.json"))
    for written in sorted([*manifests, *out.glob("*.mmd")]):
        digest.update(written.name.encode() + b"\0" + written.read_bytes() + b"\0")
    # The two runs write to different folders; the paths they print are the only text allowed to differ.
    lines = completed.stdout.replace(str(out), "<out>").splitlines()
    summary = "\n".join(line for line in lines if not line.startswith(("Duration:", "Manifest:", "worker groups:")))
    workers = next(line for line in lines if line.startswith("worker groups:"))
    assert len(manifests) == int(next(line for line in lines if line.startswith("Summary:")).split()[1])
    return digest.hexdigest(), summary, workers


@pytest.mark.parametrize("case", ["repository", "generated"])
def test_manifests_are_byte_identical_with_and_without_the_optimisations(
    case: str, generated_tree: Path, tmp_path: Path
) -> None:
    root = REPO_ROOT if case == "repository" else generated_tree
    reference_digest, reference_summary, no_workers = _preview(root, tmp_path / "off", "0")
    digest, summary, workers = _preview(root, tmp_path / "on", "1")
    assert digest == reference_digest
    assert summary == reference_summary
    assert no_workers == "worker groups: []"
    if case == "generated":
        # Every stack after the primary really ran in a worker; otherwise this would prove nothing about them.
        assert sum(json.loads(workers.removeprefix("worker groups: "))) == SECONDARIES + 1


# -- the switch ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "on"),
    [
        (None, set(speed.OPTIMISATIONS)),
        ("1", set(speed.OPTIMISATIONS)),
        ("0", set()),
        ("gc, workers", {"gc", "workers"}),
    ],
)
def test_the_switch_turns_optimisations_on_and_off(
    value: str | None, on: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv(speed.ENVIRONMENT_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, value)
    assert {name for name in speed.OPTIMISATIONS if speed.enabled(name)} == on
    with pytest.raises(ValueError, match="unknown optimisation"):
        speed.enabled("turbo")


# -- the private SDK function the engine replaces -----------------------------------------------------------


def write_project(root: Path, folder: str, program: str, stacks: dict[str, dict[str, str]] | None = None) -> None:
    project_dir = root / "stacks" / folder
    project_dir.mkdir(parents=True, exist_ok=True)
    (project_dir / "Pulumi.yaml").write_text(f"name: {folder}\nruntime: python\n")
    for stack, config in (stacks or {"dev": {}}).items():
        values = {"aws:region": "eu-west-1", **config}
        lines = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in values.items())
        (project_dir / f"Pulumi.{stack}.yaml").write_text(f"config:\n{lines}")
    (project_dir / "__main__.py").write_text(textwrap.dedent(program))


QUEUES = """
import pulumi_aws as aws
for name in ("a", "b", "c"):
    aws.sqs.Queue(name, name=name)
"""


def test_the_stack_trace_function_the_engine_skips_still_exists_and_is_what_the_sdk_calls(
    tmp_path: Path, fast: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails loudly when the SDK renames or reshapes ``_get_stack_trace`` (pulumi/runtime/resource.py).

    The engine replaces it for the length of an offline program only; if it stopped being the function
    ``register_resource`` calls, the optimisation would silently do nothing.
    """
    original = runtime_resource._get_stack_trace
    assert runner.stack_trace_hook() is runtime_resource, (
        "pulumi.runtime.resource._get_stack_trace is gone or takes arguments now: look at the SDK again and "
        "update regionflow.offline.runner.stack_trace_hook"
    )
    for function in (runtime_resource.register_resource, runtime_resource.read_resource):
        assert "_get_stack_trace()" in inspect.getsource(function)
    calls: list[None] = []

    def counting() -> Any:
        calls.append(None)
        return runner.source_pb2.StackTrace()

    monkeypatch.setattr(runner, "_no_stack_trace", counting)
    write_project(tmp_path, "demo", QUEUES)
    [target] = discover_stacks(tmp_path / "stacks")
    result = run_stack(target, stack_outputs={})
    assert len(calls) >= sum(1 for r in result.resources if r.type == "aws:sqs/queue:Queue") == 3
    # Outside an offline program (and so under --engine pulumi, which never gets here) the SDK's own.
    assert runtime_resource._get_stack_trace is original


def test_without_the_optimisation_the_sdk_captures_stack_traces(
    tmp_path: Path, slow: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[None] = []
    monkeypatch.setattr(runner, "_no_stack_trace", lambda: calls.append(None))
    write_project(tmp_path, "demo", QUEUES)
    [target] = discover_stacks(tmp_path / "stacks")
    run_stack(target, stack_outputs={})
    assert calls == []


# -- the Output helpers against the SDK's functions ----------------------------------------------------------


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    # The loop the SDK used before stays current afterwards: dropping it would leave its executor's
    # threads behind, and the runner does not fork while other threads run.
    previous = asyncio.get_event_loop_policy().get_event_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(previous)


class Dependency:
    """Stands in for a resource in an Output's dependency set."""


def output(value: Any, *, known: bool = True, secret: bool = False, deps: tuple[Any, ...] = ()) -> pulumi.Output[Any]:
    loop = asyncio.get_event_loop()

    def resolved(result: Any) -> asyncio.Future[Any]:
        future = loop.create_future()
        future.set_result(result)
        return future

    return pulumi.Output(set(deps), resolved(value), resolved(known), resolved(secret))


def details(value: pulumi.Output[Any]) -> tuple[Any, ...]:
    """Everything an Output carries: value (with unknowns), known, secret, dependencies; or the error it faults with."""

    async def gather() -> tuple[Any, ...]:
        return (
            await value.future(with_unknowns=True),
            await value.is_known(),
            await value.is_secret(),
            frozenset(await value.resources()),
        )

    try:
        return _sync_await(gather())
    except Exception as error:  # noqa: BLE001 - the fault itself is what is compared
        return (type(error), str(error))


A, B, C = Dependency(), Dependency(), Dependency()


class Colour(str, enum.Enum):
    """A string enum like pulumi_aws's: str() of a member is its name, its string value is its value."""

    RED = "red-value"
    BLUE = "blue-value"


def documents() -> list[Any]:
    return [
        {"Version": "2012-10-17", "Statement": [{"Sid": "Constant", "Action": "s3:GetObject", "Resource": "*"}]},
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Mixed",
                    "Resource": [output("arn:aws:s3:::a", deps=(A,)), "arn:aws:s3:::b/*"],
                    "Condition": {"StringEquals": {"aws:SourceAccount": output("123", secret=True, deps=(B,))}},
                    "Numbers": [1, 2.5, True, None],
                },
                ("as", "tuple", output(3)),
            ],
        },
        {"Resource": output(None, known=False, deps=(C,)), "Other": output("x", deps=(A,))},
        {"Nested": output([output("inner", deps=(B,)), {"k": output("v", secret=True)}], deps=(A,))},
        {"Deep": output({"list": [output("a")]})},
        {1: "non-string keys go to the SDK"},
        [output("top-level list")],
        output({"a": "whole document as one Output"}, deps=(C,)),
        "a plain string",
        {"Unserialisable": output({1, 2})},
        # What a dry run under the real engine gives: a leaf both unknown and secret, an Unknown inside a
        # known value (pulumi/runtime/rpc.py deserialises a partly known value so), non-ASCII text and
        # numbers json writes in its own way, and string enums (pulumi_aws's enums are (str, Enum)).
        {"Both": output(None, known=False, secret=True, deps=(A,)), "Other": output("x")},
        {"Partly": output(["known", Unknown()], deps=(B,))},
        {"Text": output("Zürich – 東京"), "Numbers": [float("nan"), float("inf"), -0.0, 10**30, 1e100]},
        {"Enum": output(Colour.RED), Colour.BLUE: Colour.RED},
    ]


@pytest.mark.parametrize("index", range(len(documents())))
def test_json_dumps_gives_what_the_sdk_gives(index: int, loop: asyncio.AbstractEventLoop) -> None:
    assert details(outputs.json_dumps(documents()[index])) == details(pulumi.Output.json_dumps(documents()[index]))


def test_json_dumps_with_options_is_the_sdks(loop: asyncio.AbstractEventLoop) -> None:
    document = {"b": output("1", deps=(A,)), "a": [2]}
    fast = outputs.json_dumps(document, indent=2, sort_keys=True)
    assert details(fast) == details(pulumi.Output.json_dumps(document, indent=2, sort_keys=True))


def parts() -> list[tuple[Any, ...]]:
    return [
        ("arn:", output("aws", deps=(A,)), ":iam::", output("123", secret=True, deps=(B,)), ":root"),
        ("only", "constants"),
        (),
        (output("a"), output(None, known=False, deps=(C,)), "c"),
        (output(output("nested", deps=(A,))), "/*"),
        ("count: ", 3),
        ("not a string: ", output(3)),
        ("enum: ", Colour.RED, output("/", deps=(A,)), Colour.BLUE),
        ("unknown and secret: ", output(None, known=False, secret=True, deps=(C,))),
    ]


@pytest.mark.parametrize("index", range(len(parts())))
def test_concat_gives_what_the_sdk_gives(index: int, loop: asyncio.AbstractEventLoop) -> None:
    assert details(outputs.concat(*parts()[index])) == details(pulumi.Output.concat(*parts()[index]))


PROBE = "regionflow_speed_probe"
REFERENCE_PROGRAM = f"""
import pulumi
import {PROBE} as probe
from regionflow import outputs

reference = pulumi.StackReference("organization/other/dev")
for name in ("region", "list", "nested"):
    fast = outputs.require_output(reference, name, sdk=probe.SDK)
    probe.pairs.append((name, fast, probe.SDK(reference, name)))
# A name that is itself an Output goes to the SDK.
probe.pairs.append(("as output", reference.require_output(pulumi.Output.from_input("region")), None))
probe.twice = [outputs.require_output(reference, "list", sdk=probe.SDK) for _ in range(2)]
"""
OTHER_OUTPUTS = {"organization/other/dev": {"region": "eu-west-1", "list": ["a", {"b": 1}], "nested": {"k": ["v"]}}}


def test_require_output_gives_what_the_sdk_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = types.ModuleType(PROBE)
    probe.pairs = []  # type: ignore[attr-defined]
    probe.SDK = runner._SDK_REQUIRE_OUTPUT  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PROBE, probe)
    write_project(tmp_path, "demo", REFERENCE_PROGRAM)
    [target] = discover_stacks(tmp_path / "stacks")
    run_stack(target, stack_outputs=OTHER_OUTPUTS)

    for name, fast, sdk in probe.pairs:  # type: ignore[attr-defined]
        if sdk is None:
            assert details(fast)[0] == "eu-west-1"
            continue
        assert details(fast) == details(sdk), name
        [dependency] = details(fast)[3]
        assert isinstance(dependency, pulumi.StackReference)
    # The SDK hands out a fresh copy; so must the fast path, or one reader could change another's value.
    first, second = (details(value)[0] for value in probe.twice)  # type: ignore[attr-defined]
    assert first == second and first is not second


MISSING_PROGRAM = """
import pulumi
pulumi.export("x", pulumi.StackReference("organization/other/dev").require_output("gone"))
"""


def test_require_output_of_a_missing_name_fails_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(tmp_path, "demo", MISSING_PROGRAM)
    [target] = discover_stacks(tmp_path / "stacks")
    messages = []
    for value in ("0", "1"):
        monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, value)
        with pytest.raises(StackRunError) as raised:
            run_stack(target, stack_outputs=OTHER_OUTPUTS)
        messages.append(str(raised.value))
    assert messages[0] == messages[1] and "gone" in messages[0]


def test_the_sdk_functions_are_back_after_an_offline_program(tmp_path: Path, fast: None) -> None:
    before = (
        vars(pulumi.Output)["concat"],
        vars(pulumi.Output)["json_dumps"],
        pulumi.StackReference.require_output,
        runtime_resource._get_stack_trace,
    )
    write_project(tmp_path, "demo", QUEUES)
    [target] = discover_stacks(tmp_path / "stacks")
    run_stack(target, stack_outputs={})
    after = (
        vars(pulumi.Output)["concat"],
        vars(pulumi.Output)["json_dumps"],
        pulumi.StackReference.require_output,
        runtime_resource._get_stack_trace,
    )
    assert after == before


# -- the policy views the rules share -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def every_stack() -> list[StackResult]:
    return list(run_stacks(discover_stacks(REPO_ROOT / "stacks")))


def test_no_rule_modifies_the_properties_it_shares_with_the_others(every_stack: list[StackResult]) -> None:
    """The shared views are only safe because every rule only reads; this fails if one starts writing."""
    for result in every_stack:
        checked = [
            r
            for r in result.resources
            if r.custom
            and not r.type.startswith(policies_offline.PROVIDER_TYPE_PREFIX)
            and r.type != "pulumi:pulumi:StackReference"
        ]
        views = policies_offline._SharedViews(checked, policies_offline._providers(result.resources))
        before = copy.deepcopy([args.props for args in views.args])
        messages: list[str] = []

        def record(message: str, _urn: str | None, *, _messages: list[str] = messages) -> None:
            _messages.append(message)

        for policy in POLICIES:
            if isinstance(policy, ResourceValidationPolicy):
                for args in views.args:
                    policies_offline._run(policy, args, record, record, args.urn)
            else:
                policies_offline._run(policy, StackValidationArgs(views.stack_resources), record, record, "")
        assert [args.props for args in views.args] == before, result.target.label
        assert [r.props for r in views.stack_resources] == before


def _broken(resources: list[Any]) -> list[Any]:
    """The stack's resources with a few settings every rule family checks taken away."""
    broken = []
    for resource in resources:
        outputs_ = copy.deepcopy(resource.outputs)
        if resource.type == "aws:kms/key:Key":
            outputs_["enableKeyRotation"] = False
        if "tagsAll" in outputs_:
            outputs_["tagsAll"] = {}
        if resource.type == "aws:lambda/function:Function":
            outputs_["runtime"] = "python3.8"
            outputs_.pop("tracingConfig", None)
        if resource.type.startswith("aws:s3/bucketVersioning"):
            continue
        broken.append(dataclasses.replace(resource, outputs=outputs_))
    return broken


def test_compliance_reports_are_the_same_with_and_without_shared_views(
    every_stack: list[StackResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    for result in every_stack:
        for resources in (result.resources, _broken(result.resources)):
            reports = []
            for value in ("0", "1"):
                monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, value)
                reports.append(policies_offline.report_json(policies_offline.evaluate(result.target.label, resources)))
            assert reports[0] == reports[1]
    assert reports[1]["violations"], "the broken resources must violate rules, or the comparison proves little"


# -- worker processes ---------------------------------------------------------------------------------------


def _comparable(results: list[StackResult], root: Path) -> list[Any]:
    return [
        (
            r.target,
            r.warnings,
            to_json_safe(r.exports, reveal_secrets=True),
            build_manifest(
                project=r.target.project, stack=r.target.stack, exports=r.exports, resources=r.resources, root=root
            ),
        )
        for r in results
    ]


def _counting_workers(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    plans: list[list[int]] = []
    started = runner._Workers.start

    def counting(self: Any, plan: list[list[int]], known: Any, *args: Any) -> bool:
        forked: bool = started(self, plan, known, *args)
        if forked:
            plans.extend(plan)
        return forked

    monkeypatch.setattr(runner._Workers, "start", counting)
    return plans


def test_workers_yield_the_same_results_in_deployment_order(
    generated_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = discover_stacks(generated_tree / "stacks")
    monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, "0")
    sequential = list(run_stacks(targets))
    monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, "1")
    plans = _counting_workers(monkeypatch)
    threshold = gc.get_threshold()
    parallel = list(run_stacks(targets))
    assert sorted(index for plan in plans for index in plan) == list(range(1, len(targets)))
    assert [r.target for r in parallel] == targets
    assert all(p.target is t for p, t in zip(parallel, targets, strict=True))
    assert _comparable(parallel, generated_tree) == _comparable(sequential, generated_tree)
    assert gc.get_threshold() == threshold
    # The loop the SDK uses afterwards is a fresh, open one (the old one was closed before forking).
    assert not asyncio.get_event_loop().is_closed()


@pytest.mark.parametrize(("cpus", "secondaries"), [(2, 2), (2, 4), (2, 16), (4, 6), (8, 3)])
def test_the_pipeline_starts_at_once_and_the_secondaries_share_the_cpus(cpus: int, secondaries: int) -> None:
    stacks = [("primary", "x"), *[("secondary", str(i)) for i in range(secondaries)], ("pipeline", "prod")]
    targets = [StackTarget(project, project, stack, REPO_ROOT) for project, stack in stacks]
    schedule = runner._schedule(targets, cpus)
    pipeline = len(targets) - 1
    assert schedule.early == [[pipeline]]
    assert len(schedule.late) == min(cpus, secondaries)  # one worker per CPU, none without a stack
    assert sorted(i for indices in schedule.late for i in indices) == list(range(1, pipeline))
    assert all(indices == sorted(indices) for indices in schedule.late)  # each worker in deployment order


def test_a_single_project_after_the_first_stack_starts_after_it() -> None:
    targets = [StackTarget(p, p, s, REPO_ROOT) for p, s in [("primary", "x"), ("secondary", "a"), ("secondary", "b")]]
    assert runner._schedule(targets, 2) == runner._Schedule([], [[1], [2]])


SIBLING_READER = """
import pulumi
stack = pulumi.get_stack()
if stack == "c":
    pulumi.export("from_a", pulumi.StackReference("organization/secondary/a").require_output("name"))
pulumi.export("name", stack)
"""
FAILING = """
import pulumi
if pulumi.get_stack() == "c":
    raise ValueError("stack c is broken")
pulumi.export("name", pulumi.get_stack())
"""


def _sibling_tree(root: Path, program: str) -> list[StackTarget]:
    write_project(root, "primary", "import pulumi\npulumi.export('region', 'eu-west-1')\n")
    write_project(root, "secondary", program, {name: {} for name in ("a", "b", "c", "d")})
    write_project(
        root,
        "pipeline",
        "import pulumi\npulumi.export('d', pulumi.StackReference('organization/secondary/d').require_output('name'))\n",
    )
    return discover_stacks(root / "stacks")


@pytest.mark.parametrize("cpus", [2, 4])
def test_a_stack_that_reads_an_earlier_sibling_gets_it_as_one_after_another_would(
    cpus: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more CPUs the reader and the read stack run in different workers: the reader waits for it."""
    targets = _sibling_tree(tmp_path, SIBLING_READER)
    monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, "0")
    sequential = list(run_stacks(targets))
    monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, "1")
    monkeypatch.setattr(runner, "_usable_cpus", lambda: cpus)
    plans = _counting_workers(monkeypatch)
    parallel = list(run_stacks(targets))
    assert len(plans) == cpus + 1  # one worker per CPU for the secondaries, and the last project's own
    assert [r.exports for r in parallel] == [r.exports for r in sequential]
    assert parallel[3].exports == {"from_a": "a", "name": "c"}
    assert parallel[5].exports == {"d": "d"}


WORKER_ONLY_FAILURE = """
import os
import pulumi
if pulumi.get_stack() == "b" and os.getpid() != int(os.environ["REGIONFLOW_TEST_PARENT"]):
    raise RuntimeError("fails in a worker only")
pulumi.export("name", pulumi.get_stack())
"""


def test_a_stack_a_worker_could_not_finish_is_run_again_here_and_its_readers_still_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = _sibling_tree(tmp_path, WORKER_ONLY_FAILURE)
    monkeypatch.setenv("REGIONFLOW_TEST_PARENT", str(os.getpid()))
    monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, "1")
    calls: list[str] = []
    original = runner.run_stack

    def here(target: StackTarget, **kwargs: Any) -> StackResult:
        calls.append(target.label)
        return original(target, **kwargs)

    monkeypatch.setattr(runner, "run_stack", here)
    plans = _counting_workers(monkeypatch)
    results = list(run_stacks(targets))
    assert plans, "the secondaries must have run in workers"
    # In this process: the primary, then b again (the workers' own runs are in other processes).
    assert calls == ["primary/dev", "secondary/b"]
    # The pipeline, in its own worker, waited for b's exports until this process had them.
    assert [r.exports for r in results] == [
        {"region": "eu-west-1"},
        {"name": "a"},
        {"name": "b"},
        {"name": "c"},
        {"name": "d"},
        {"d": "d"},
    ]


def test_a_failing_stack_in_a_worker_fails_the_run_as_one_after_another_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = _sibling_tree(tmp_path, FAILING)
    outcomes = []
    for value in ("0", "1"):
        monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, value)
        seen: list[str] = []
        with pytest.raises(StackRunError) as raised:
            for result in run_stacks(targets):
                seen.append(result.target.label)
        outcomes.append((seen, str(raised.value), type(raised.value.cause)))
    assert outcomes[0] == outcomes[1]
    seen, message, cause = outcomes[1]
    assert seen == ["primary/dev", "secondary/a", "secondary/b"]
    assert (message, cause) == ("secondary/c: ValueError: stack c is broken", ValueError)


# -- JSON-safe copies -------------------------------------------------------------------------------------


def test_json_safe_copies_are_the_same_with_and_without_the_common_types_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi.runtime import rpc

    from regionflow.offline import jsonsafe

    assert jsonsafe._SECRET_KEY is not None, "pulumi.runtime.rpc._special_sig_key is gone: look at the SDK again"
    (tmp_path / "code").mkdir()
    value = {
        "plain": ["a", 1, 2.0, 2.5, True, None, ("t", 1)],
        "secret": rpc.wrap_rpc_secret({"nested": ["s3cr3t"]}),
        "unknown": rpc.UNKNOWN,
        "assets": [pulumi.FileArchive(str(tmp_path / "code")), pulumi.StringAsset("x"), pulumi.RemoteAsset("s3://b/k")],
        "archive": pulumi.AssetArchive({"b": pulumi.StringAsset("1"), "a": pulumi.FileAsset(str(tmp_path / "f"))}),
        "lookalike": {"4dabf18193072939515e22adb298388d": "not a secret signature", "k": ["v"]},
        3: "integer key",
    }
    for reveal in (False, True):
        monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, "0")
        general = to_json_safe(value, root=tmp_path, reveal_secrets=reveal)
        monkeypatch.setenv(speed.ENVIRONMENT_VARIABLE, "1")
        assert to_json_safe(value, root=tmp_path, reveal_secrets=reveal) == general
        assert ("s3cr3t" in json.dumps(general)) is reveal


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("150000 100000\n", 2), ("100000 100000\n", 1), ("garbage", None)],
)
def test_a_containers_cpu_quota_limits_the_workers(
    cpu_max: str, expected: int | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """cgroup v2 cpu.max is "<quota> <period>" or "max <period>" (Linux kernel docs, cgroup-v2 "cpu.max")."""
    real_path = runner.Path

    def fake(path: str) -> Path:
        if path == "/sys/fs/cgroup/cpu.max":
            (tmp_path / "cpu.max").write_text(cpu_max)
            return tmp_path / "cpu.max"
        if path.startswith("/sys/fs/cgroup/cpu/"):
            return tmp_path / "absent"
        return real_path(path)

    monkeypatch.setattr(runner, "Path", fake)
    assert runner._cgroup_cpu_quota() == expected
    if expected is not None:
        assert runner._usable_cpus() <= expected
