"""Benchmark of ``regionflow iam-check``: wall time of the command over the preview's manifests.

Usage (from the repository root)::

    python benchmarks/iamcheck_bench.py [--runs 5] [--regions 1,4,20] [--json]

For the repository and for generated trees with N secondary regions (built as in
``benchmarks/preview_bench.py``), the offline preview is run once to write the manifests (not timed),
then ``regionflow iam-check`` runs ``--runs`` times, each in a fresh interpreter as CI starts it.
Reported per case: the median and the fastest wall time of the whole process (interpreter start,
imports, reading the manifests, every role's requirements and decisions, the report), the check's own
time as it prints it in its summary line, and the number of required permissions it decided.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from preview_bench import REPO_ROOT, build_tree, secondary_regions


@dataclass
class Measurement:
    case: str
    stacks: int
    roles: int
    required: int
    wall_seconds: float  # median of fresh processes
    best_seconds: float
    check_seconds: float  # median of the check's own time (its summary line)


SUMMARY = re.compile(r"iam-check: (\d+) roles, (\d+) required permissions.*\(([\d.]+) s\)")


def preview(root: Path, out: Path) -> int:
    completed = subprocess.run(
        [sys.executable, "-m", "regionflow.cli", "preview", "--quiet", "--root", str(root), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode not in (0, 1):
        raise SystemExit(f"error: preview of {root} failed:\n{completed.stdout}{completed.stderr}")
    return len(list(out.glob("*.json")))


def measure(case: str, root: Path, runs: int) -> Measurement:
    with tempfile.TemporaryDirectory(prefix="rf-iamcheck-") as folder:
        out = Path(folder)
        stacks = preview(root, out)
        walls: list[float] = []
        checks: list[float] = []
        roles = required = 0
        for _ in range(runs):
            started = time.perf_counter()
            completed = subprocess.run(
                [sys.executable, "-m", "regionflow.cli", "iam-check", "--manifests", str(out), "--root", str(root)],
                capture_output=True,
                text=True,
                check=False,
            )
            walls.append(time.perf_counter() - started)
            match = SUMMARY.search(completed.stdout)
            if completed.returncode not in (0, 1) or match is None:
                raise SystemExit(f"error: iam-check failed:\n{completed.stdout}{completed.stderr}")
            roles, required = int(match.group(1)), int(match.group(2))
            checks.append(float(match.group(3)))
    return Measurement(
        case=case,
        stacks=stacks,
        roles=roles,
        required=required,
        wall_seconds=round(statistics.median(walls), 2),
        best_seconds=round(min(walls), 2),
        check_seconds=round(statistics.median(checks), 2),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--regions", default="1,4,20", help="comma-separated numbers of secondary regions")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = [measure("repository", REPO_ROOT, args.runs)]
    for count in [int(n) for n in args.regions.split(",") if n]:
        with tempfile.TemporaryDirectory(prefix="rf-bench-tree-") as tree:
            build_tree(Path(tree), secondary_regions(count))
            results.append(measure(f"{count} secondaries", Path(tree), args.runs))
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    print(f"regionflow iam-check, {args.runs} fresh processes per case, {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}")  # fmt: skip
    print(f"{'case':<16} {'stacks':>6} {'roles':>5} {'required':>8} {'median s':>8} {'best s':>6} {'check s':>7}")
    for r in results:
        print(
            f"{r.case:<16} {r.stacks:>6} {r.roles:>5} {r.required:>8} {r.wall_seconds:>8.2f} "
            f"{r.best_seconds:>6.2f} {r.check_seconds:>7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
