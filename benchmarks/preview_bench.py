"""Benchmark of the offline preview: wall time, peak memory, import floor and cost per region.

Usage (from the repository root)::

    python benchmarks/preview_bench.py [--runs 5] [--regions 1,4,16] [--json] [--ablation] [--wait-idle 95]

* ``repository``: ``regionflow preview`` over the repository's own ``stacks/`` (every sample stack, in
  deployment order, the pipeline included).
* ``N secondaries``: a generated tree with the primary stack, N secondary stacks (one per region: the
  first N supported regions other than the primary's) and the pipeline reading all of them, so the
  measurement covers the whole chain of StackReferences.

Each run is a fresh interpreter (``python -c 'from regionflow.cli import main; main(["preview", ...])'``),
as a user or CI would start it; the runs of all cases are interleaved so that a change in the shared
host's load hits every case alike. Reported per case:

* the median and the fastest of ``--runs`` wall times of the whole process (interpreter start,
  imports, every program, the policy rules, manifests); the fastest is the least disturbed by other
  load on a shared host;
* peak resident memory (``ru_maxrss``) of the preview process, and of its largest worker process
  (the secondaries run in forked workers, see ``regionflow.offline.speed``; a worker shares most of
  its pages with its parent, so the two must not be added);
* the import floor: the median wall time of a fresh interpreter that only imports the modules the
  preview ended up loading (``pulumi``, the ``pulumi_aws`` subpackages, regionflow, ...), and its
  share of the median; no preview can be faster than this;
* the median time per stack.

Then the marginal cost of one more region: the least-squares slope of the median wall time over the
``N secondaries`` cases (each region adds a secondary program and its share of the pipeline).

``--wait-idle 95`` starts each run only once 95% of CPU time is idle (sampled for half a second), and
repeats a run during which other processes used more than a tenth of a CPU on average (all busy time
in /proc/stat minus the run's own): on a host shared with other jobs, that measures this code rather
than the neighbours' load.

``--ablation`` also measures the repository and the largest case with every optimisation off
(``REGIONFLOW_OFFLINE_FAST=0``), with each one alone switched off, and with all on, which is how the
README attributes the gain to each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STACKS = REPO_ROOT / "stacks"
SAMPLE_SECONDARY = STACKS / "secondary" / "Pulumi.prod-eu-west-1.yaml"
PIPELINE_CONFIG = STACKS / "pipeline" / "Pulumi.prod.yaml"
FAST_SWITCH = "REGIONFLOW_OFFLINE_FAST"
OPTIMISATIONS = ("imports", "gc", "traces", "outputs", "policies", "workers")  # regionflow.offline.speed.OPTIMISATIONS


@dataclass
class Measurement:
    case: str
    stacks: int
    resources: int
    wall_seconds: float  # median
    best_seconds: float  # fastest run: the least disturbed by other load on a shared host
    peak_rss_mb: float  # the preview process (median over runs)
    worker_peak_rss_mb: float  # its largest worker process, 0 if none ran (median over runs)
    ms_per_stack: float
    import_floor_seconds: float = 0.0
    import_share: float = 0.0
    fast: str = "1"
    walls: list[float] = field(default_factory=list)


def secondary_regions(count: int, primary: str = "us-east-1") -> list[str]:
    from regionflow.regions import SUPPORTED_REGIONS

    regions = sorted(SUPPORTED_REGIONS - {primary})
    if count > len(regions):
        raise SystemExit(f"error: --regions asks for {count} secondaries; only {len(regions)} regions are supported")
    return regions[:count]


def build_tree(root: Path, regions: list[str]) -> None:
    """A repository-shaped tree: the real programs, the primary sample and one secondary per region."""
    (root / "stacks").mkdir(parents=True)
    os.symlink(REPO_ROOT / "functions", root / "functions")
    os.symlink(REPO_ROOT / "shared", root / "shared")
    for folder in ("primary", "secondary", "pipeline"):
        source = STACKS / folder
        if not (source / "Pulumi.yaml").is_file():
            continue
        shutil.copytree(source, root / "stacks" / folder, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "venv"))
    shutil.copy(STACKS / "primary" / "Pulumi.prod.yaml", root / "stacks" / "primary")
    sample = SAMPLE_SECONDARY.read_text()
    for region in regions:
        config = sample.replace("eu-west-1", region)
        (root / "stacks" / "secondary" / f"Pulumi.prod-{region}.yaml").write_text(config)
    if PIPELINE_CONFIG.is_file() and (root / "stacks" / "pipeline").is_dir():
        (root / "stacks" / "pipeline" / "Pulumi.prod.yaml").write_text(pipeline_config(regions))


def pipeline_config(regions: list[str]) -> str:
    """The sample pipeline config with its list of secondary stacks replaced by the generated ones."""
    import yaml

    document = yaml.safe_load(PIPELINE_CONFIG.read_text())
    config = document["config"]
    key = next(k for k in config if k.endswith(":secondaryStacks"))
    project = config[key][0]["stack"].split("/")[1]
    config[key] = [{"stack": f"organization/{project}/prod-{region}", "region": region} for region in regions]
    # The sample delivers in baked waves, and a baked wave holds at most MAX_RULES_PER_CONDITION regions (one
    # CloudWatchAlarm rule each): the generated regions go in waves of that size, so that the benchmark
    # previews the sample's delivery shape at every size.
    waves_key = next((k for k in config if k.endswith(":waves")), None)
    if waves_key is not None:
        from regionflow.delivery import MAX_RULES_PER_CONDITION

        size = MAX_RULES_PER_CONDITION
        config[waves_key] = [regions[start : start + size] for start in range(0, len(regions), size)]
    return yaml.safe_dump(document, sort_keys=False)


@contextmanager
def generated_tree(count: int) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rf-bench-tree-") as tree:
        build_tree(Path(tree), secondary_regions(count))
        yield Path(tree)


CHILD = """
import resource, sys, types
from regionflow.cli import main
code = main(["preview", "--quiet", "--root", sys.argv[1], "--out", sys.argv[2]])
me, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write(f"maxrss_kb={me.ru_maxrss} workers_maxrss_kb={workers.ru_maxrss}\\n")
loaded = [n for n, m in list(sys.modules.items()) if type(m) is types.ModuleType and n != "__main__"]
sys.stderr.write("loaded=" + ",".join(loaded) + "\\n")
sys.exit(code)
"""

# Imports what the preview loaded, in the order it loaded them (sys.modules keeps it), and nothing
# else. pulumi_aws registers its subpackages as lazy modules that load on first attribute access, so
# each is touched once. The collector is tuned as the preview tunes it (its generation-0 threshold,
# the heap frozen at the end so that exit does not collect it), and pulumi_aws's service packages
# load only the modules the preview loaded, as they do in the preview; making this a floor. (An older
# regionflow without that tuning is measured as it is.)
IMPORTS_ONLY = """
import gc, importlib, sys
from regionflow.offline import runner
lazy = getattr(runner, "lazy_aws", None)
if lazy is not None and runner.speed.enabled("imports"):
    lazy.install()
threshold = getattr(runner, "GC_GENERATION0_THRESHOLD", None)
if threshold:
    gc.set_threshold(threshold, *gc.get_threshold()[1:])
for name in sys.argv[1].split(","):
    try:
        getattr(importlib.import_module(name), "__all__", None)
    except Exception:
        pass
if threshold:
    gc.freeze()
"""


@dataclass
class Run:
    wall: float
    rss_mb: float
    worker_rss_mb: float
    stacks: int
    resources: int
    loaded: str


WAIT_IDLE = 0.0  # --wait-idle: percent of CPU time that must be idle before each run (0: do not wait)


def cpu_sample() -> tuple[int, int]:
    """(all CPU time, idle CPU time) so far, in clock ticks (Linux /proc/stat: user nice system idle iowait ...)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    return sum(fields), fields[3] + fields[4]


def idle_percent(seconds: float = 0.5) -> float:
    """Share of CPU time idle over ``seconds``."""
    total, idle = cpu_sample()
    time.sleep(seconds)
    total_after, idle_after = cpu_sample()
    return 100 * (idle_after - idle) / max(total_after - total, 1)


def foreign_cpu_seconds(before: tuple[int, int], after: tuple[int, int], own_seconds: float) -> float:
    """CPU time other processes used between two samples: all busy time minus this run's own."""
    busy = (after[0] - after[1]) - (before[0] - before[1])
    return busy / os.sysconf("SC_CLK_TCK") - own_seconds


def wait_for_idle_host(timeout: float = 600) -> None:
    """On a shared host, wait until other processes leave the CPUs alone (or ``timeout`` passes)."""
    if WAIT_IDLE <= 0 or not os.path.exists("/proc/stat"):
        return
    deadline = time.monotonic() + timeout
    while idle_percent() < WAIT_IDLE and time.monotonic() < deadline:
        time.sleep(1)


def measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall time and outcome of ``command``; with --wait-idle, repeated (up to 20 times) while others disturb it."""
    for _attempt in range(20):
        wait_for_idle_host()
        own_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = cpu_sample()
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
        wall = time.perf_counter() - started
        own_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = (own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
        # Other processes took more than a tenth of a CPU on average: not this code's time.
        if WAIT_IDLE <= 0 or foreign_cpu_seconds(cpu_before, cpu_sample(), own) <= 0.1 * wall:
            break
    return wall, completed


def run_once(root: Path, out: Path, fast: str) -> Run:
    wall, completed = measured([sys.executable, "-c", CHILD, str(root), str(out)], {**os.environ, FAST_SWITCH: fast})
    if completed.returncode != 0:
        raise SystemExit(f"error: preview of {root} failed:\n{completed.stdout}{completed.stderr}")
    rss = re.search(r"maxrss_kb=(\d+) workers_maxrss_kb=(\d+)", completed.stderr)
    loaded = re.search(r"loaded=(.*)", completed.stderr)
    summary = re.search(r"Summary: (\d+) stacks previewed, (\d+) resources", completed.stdout)
    assert rss is not None and loaded is not None and summary is not None, completed.stdout + completed.stderr
    return Run(
        wall,
        int(rss.group(1)) / 1024,
        int(rss.group(2)) / 1024,
        int(summary.group(1)),
        int(summary.group(2)),
        loaded.group(1),
    )


def import_floor(modules: str, runs: int) -> float:
    walls = []
    for _ in range(runs):
        wall, completed = measured([sys.executable, "-c", IMPORTS_ONLY, modules])
        if completed.returncode != 0:
            raise SystemExit(f"error: the import floor run failed:\n{completed.stderr}")
        walls.append(wall)
    return statistics.median(walls)


def summarise(case: str, runs: list[Run], fast: str) -> Measurement:
    walls = [r.wall for r in runs]
    wall = statistics.median(walls)
    return Measurement(
        case=case,
        stacks=runs[0].stacks,
        resources=runs[0].resources,
        wall_seconds=round(wall, 3),
        best_seconds=round(min(walls), 3),
        peak_rss_mb=round(statistics.median(r.rss_mb for r in runs), 1),
        worker_peak_rss_mb=round(statistics.median(r.worker_rss_mb for r in runs), 1),
        ms_per_stack=round(1000 * wall / runs[0].stacks, 1),
        fast=fast,
        walls=[round(w, 3) for w in walls],
    )


def measure_cases(cases: dict[str, Path], runs: int, fast: str = "1", floor: bool = True) -> list[Measurement]:
    """Every case ``runs`` times, interleaved (case A, case B, ..., case A, ...)."""
    samples: dict[str, list[Run]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory(prefix="rf-bench-out-") as out:
        for _ in range(runs):
            for case, root in cases.items():
                samples[case].append(run_once(root, Path(out) / case.replace(" ", "-"), fast))
    results = [summarise(case, samples[case], fast) for case in cases]
    if floor:
        for result in results:
            result.import_floor_seconds = round(import_floor(samples[result.case][0].loaded, runs), 3)
            result.import_share = round(result.import_floor_seconds / result.wall_seconds, 2)
    return results


def marginal_ms_per_region(results: list[Measurement]) -> float | None:
    """Least-squares slope of the median wall time over the number of secondaries, in ms per region."""
    points = [(int(m.group(1)), r.wall_seconds) for r in results if (m := re.fullmatch(r"(\d+) secondaries", r.case))]
    if len(points) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    denominator = sum((x - mean_x) ** 2 for x, _ in points)
    return round(1000 * sum((x - mean_x) * (y - mean_y) for x, y in points) / denominator, 1)


def ablation(cases: dict[str, Path], runs: int) -> list[Measurement]:
    """All off, each one off, all on: what each optimisation buys (the others staying on)."""
    variants = ["0"] + [",".join(o for o in OPTIMISATIONS if o != off) for off in OPTIMISATIONS] + ["1"]
    results: list[Measurement] = []
    for variant in variants:
        results.extend(measure_cases(cases, runs, fast=variant, floor=False))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--regions", default="1,4,16", help="comma-separated numbers of secondary regions")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ablation", action="store_true", help="also measure with each optimisation switched off")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="PERCENT",
        help="before each run, wait until this share of CPU time is idle (a shared host's other load)",
    )
    args = parser.parse_args(argv)
    global WAIT_IDLE
    WAIT_IDLE = args.wait_idle
    counts = [int(n) for n in args.regions.split(",") if n]

    trees: list[Path] = []
    try:
        cases: dict[str, Path] = {"repository": REPO_ROOT}
        for count in counts:
            tree = Path(tempfile.mkdtemp(prefix="rf-bench-tree-"))
            trees.append(tree)
            shutil.rmtree(tree)
            build_tree(tree, secondary_regions(count))
            cases[f"{count} secondaries"] = tree
        results = measure_cases(cases, args.runs)
        slope = marginal_ms_per_region(results)
        ablations: list[Measurement] = []
        if args.ablation:
            largest = f"{max(counts)} secondaries" if counts else None
            ablations = ablation({k: v for k, v in cases.items() if k in ("repository", largest)}, args.runs)
    finally:
        for tree in trees:
            shutil.rmtree(tree, ignore_errors=True)

    if args.json:
        document = {
            "cases": [asdict(r) for r in results],
            "marginal_ms_per_region": slope,
            "ablation": [asdict(r) for r in ablations],
        }
        print(json.dumps(document, indent=2))
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    waited = f", each started once {args.wait_idle:.0f}% of CPU time was idle" if args.wait_idle else ""
    print(
        f"offline preview, median of {args.runs} fresh processes{waited}, {cpus} CPUs, Python {sys.version.split()[0]}"
    )
    header = (
        *("case", "stacks", "resources", "median s", "best s"),
        *("RSS MB", "worker MB", "imports s", "share", "ms/stack"),
    )
    print(f"{header[0]:<16} " + " ".join(f"{h:>9}" for h in header[1:]))
    for r in results:
        print(
            f"{r.case:<16} {r.stacks:>9} {r.resources:>9} {r.wall_seconds:>9.2f} {r.best_seconds:>9.2f} "
            f"{r.peak_rss_mb:>9.1f} {r.worker_peak_rss_mb:>9.1f} {r.import_floor_seconds:>9.2f} "
            f"{r.import_share:>9.0%} {r.ms_per_stack:>9.1f}"
        )
    if slope is not None:
        print(f"marginal cost per region (least-squares over {', '.join(map(str, counts))}): {slope:.0f} ms")
    if ablations:
        print(f"\nablation ({FAST_SWITCH}; median s / fastest s / RSS MB)")
        for r in ablations:
            label = {"0": "all off", "1": "all on"}.get(r.fast) or "without " + next(
                o for o in OPTIMISATIONS if o not in r.fast.split(",")
            )
            print(f"{label:<20} {r.case:<16} {r.wall_seconds:>6.2f} {r.best_seconds:>6.2f} {r.peak_rss_mb:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
