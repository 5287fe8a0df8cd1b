"""Benchmark of the offline preview: wall time and peak memory, for the repository and for N regions.

Usage (from the repository root)::

    python benchmarks/preview_bench.py [--runs 3] [--regions 1,4,16] [--json]

* ``repository``: ``regionflow preview`` over the repository's own ``stacks/`` (every sample stack, in
  deployment order, the pipeline included once it exists).
* ``N secondaries``: a generated tree with the primary stack and N secondary stacks, one per region
  (the first N supported regions other than the primary's). When the repository has a pipeline stack, the
  tree has it too, reading all N secondaries, so the measurement covers the whole chain of StackReferences.

Each run is a fresh interpreter (``python -m regionflow.cli preview --quiet``), as a user or CI would
start it. Reported per case: the median and the fastest of ``--runs`` wall times of the whole process
(interpreter start, imports, every program, the policy rules, manifests; the fastest is the least disturbed
by other load on a shared host), its peak resident memory (``ru_maxrss`` of the child), and the median time
per stack, which shows whether cost grows linearly with the regions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
STACKS = REPO_ROOT / "stacks"
SAMPLE_SECONDARY = STACKS / "secondary" / "Pulumi.prod-eu-west-1.yaml"
PIPELINE_CONFIG = STACKS / "pipeline" / "Pulumi.prod.yaml"


@dataclass
class Measurement:
    case: str
    stacks: int
    resources: int
    wall_seconds: float  # median
    best_seconds: float  # fastest run: the least disturbed by other load on a shared host
    peak_rss_mb: float
    ms_per_stack: float


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
    return yaml.safe_dump(document, sort_keys=False)


CHILD = """
import resource, sys, time
from regionflow.cli import main
code = main(["preview", "--quiet", "--root", sys.argv[1], "--out", sys.argv[2]])
sys.stderr.write(f"maxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n")
sys.exit(code)
"""


def run_once(root: Path, out: Path) -> tuple[float, float, int, int]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(out)], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"error: preview of {root} failed:\n{completed.stdout}{completed.stderr}")
    rss_kb = int(re.search(r"maxrss_kb=(\d+)", completed.stderr).group(1))  # type: ignore[union-attr]
    summary = re.search(r"Summary: (\d+) stacks previewed, (\d+) resources", completed.stdout)
    assert summary is not None, completed.stdout
    return wall, rss_kb / 1024, int(summary.group(1)), int(summary.group(2))


def measure(case: str, root: Path, runs: int) -> Measurement:
    samples = []
    with tempfile.TemporaryDirectory(prefix="rf-bench-out-") as out:
        for _ in range(runs):
            samples.append(run_once(root, Path(out)))
    walls = [s[0] for s in samples]
    stacks, resources = samples[0][2], samples[0][3]
    wall = statistics.median(walls)
    return Measurement(
        case=case,
        stacks=stacks,
        resources=resources,
        wall_seconds=round(wall, 2),
        best_seconds=round(min(walls), 2),
        peak_rss_mb=round(statistics.median(s[1] for s in samples), 1),
        ms_per_stack=round(1000 * wall / stacks, 1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--regions", default="1,4,16", help="comma-separated numbers of secondary regions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.regions.split(",") if n]

    results = [measure("repository", REPO_ROOT, args.runs)]
    for count in counts:
        with tempfile.TemporaryDirectory(prefix="rf-bench-tree-") as tree:
            build_tree(Path(tree), secondary_regions(count))
            results.append(measure(f"{count} secondaries", Path(tree), args.runs))

    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    cpus = os.cpu_count()
    print(f"offline preview, median of {args.runs} fresh processes, {cpus} CPUs, Python {sys.version.split()[0]}")
    header = ("case", "stacks", "resources", "median s", "best s", "peak RSS MB", "ms/stack")
    print(f"{header[0]:<16} " + " ".join(f"{h:>{max(len(h), 6)}}" for h in header[1:]))
    for r in results:
        print(
            f"{r.case:<16} {r.stacks:>6} {r.resources:>9} {r.wall_seconds:>8.2f} {r.best_seconds:>6.2f} "
            f"{r.peak_rss_mb:>11.1f} {r.ms_per_stack:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
