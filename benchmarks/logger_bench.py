"""Benchmark of the deployment logger Lambda: package size and cold-start import time.

Usage (from the repository root)::

    python benchmarks/logger_bench.py [--runs 20] [--json] [--importtime]

* Package size: the archive ``regionflow.packaging.build_zip`` produces from
  ``functions/deployment_logger`` (exactly what the regional stacks deploy): zipped bytes,
  uncompressed bytes and file count.
* Cold-start import: the archive is extracted to a temporary folder and, in ``--runs`` fresh
  interpreters, ``import deployment_logger.handler`` is timed (``time.perf_counter``) with the
  environment the stack sets. Each interpreter runs with ``-I`` (only the archive and the
  interpreter's site-packages on ``sys.path``, where boto3 and Powertools are installed as the
  runtime and the managed layer provide them) and ``-B`` (no ``.pyc`` written for the package:
  ``/var/task`` is read-only in Lambda, so the function's own modules compile at every cold start).
  Reported: median and p90 (nearest rank) in milliseconds, plus the whole interpreter's wall time.
* ``--importtime``: also runs ``python -X importtime`` once and breaks the handler's import time
  down by the modules it imports directly.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTION_DIR = REPO_ROOT / "functions" / "deployment_logger"
PACKAGE = "deployment_logger"
HANDLER_MODULE = "deployment_logger.handler"

# What the regional stack sets (see deployment_logger/settings.py), plus the runtime's region.
FUNCTION_ENV = {
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "POWERTOOLS_SERVICE_NAME": "deployment-logger",
    "POWERTOOLS_METRICS_NAMESPACE": "Regionflow",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:regionflow-deployment-notifications",
    "IDEMPOTENCY_TABLE_NAME": "regionflow-deployment-logger-idempotency",
}

PROBE = """
import sys, time
sys.path.insert(0, sys.argv[1])
start = time.perf_counter()
import deployment_logger.handler
print(f"{(time.perf_counter() - start) * 1000:.3f}")
"""


def _packaging() -> Any:
    """regionflow.packaging, from the installed package or the checkout's shared/ folder."""
    try:
        from regionflow import packaging
    except ImportError:
        sys.path.insert(0, str(REPO_ROOT / "shared"))
        from regionflow import packaging
    return packaging


def package_size() -> tuple[bytes, dict[str, int]]:
    packaging = _packaging()
    archive: bytes = packaging.build_zip(packaging.function_sources(FUNCTION_DIR, PACKAGE))
    entries = zipfile.ZipFile(io.BytesIO(archive)).infolist()
    return archive, {
        "zipped_bytes": len(archive),
        "uncompressed_bytes": sum(entry.file_size for entry in entries),
        "file_count": len(entries),
    }


def _child_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), **FUNCTION_ENV}


def cold_start(task_root: Path, runs: int) -> dict[str, float | int]:
    imports: list[float] = []
    walls: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-I", "-B", "-c", PROBE, str(task_root)],
            env=_child_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        walls.append((time.perf_counter() - started) * 1000)
        imports.append(float(result.stdout.strip().splitlines()[-1]))
    return {
        "runs": runs,
        "import_median_ms": round(statistics.median(imports), 1),
        "import_p90_ms": round(_p90(imports), 1),
        "import_min_ms": round(min(imports), 1),
        "process_median_ms": round(statistics.median(walls), 1),
        "process_p90_ms": round(_p90(walls), 1),
    }


def slowest_imports(task_root: Path, count: int = 10) -> list[dict[str, float | str]]:
    """What importing the handler costs, by the modules it pulls in directly (one ``-X importtime`` run).

    Each module is charged to whoever imports it first, so e.g. botocore appears under boto3.
    """
    result = subprocess.run(
        [sys.executable, "-I", "-B", "-X", "importtime", "-c", PROBE, str(task_root)],
        env=_child_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[dict[str, float | str]] = []
    for line in result.stderr.splitlines():
        # "import time: <self us> | <cumulative us> | <indentation><module>", two spaces per level.
        parts = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].removeprefix(" ")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        if depth == 0 and name.strip() == HANDLER_MODULE:
            rows.append(
                {
                    "module": HANDLER_MODULE + " (total)",
                    "cumulative_ms": int(parts[1]) / 1000,
                }
            )
        elif depth == 1:
            rows.append({"module": name.strip(), "cumulative_ms": int(parts[1]) / 1000})
    rows.sort(key=lambda row: -float(row["cumulative_ms"]))
    return [{**row, "cumulative_ms": round(float(row["cumulative_ms"]), 1)} for row in rows[:count]]


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="fresh interpreters to time (default 20)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    archive, size = package_size()
    with tempfile.TemporaryDirectory(prefix="deployment-logger-bench-") as folder:
        task_root = Path(folder)
        zipfile.ZipFile(io.BytesIO(archive)).extractall(task_root)
        timing = cold_start(task_root, args.runs)
        imports = slowest_imports(task_root) if args.importtime else []

    results: dict[str, Any] = {
        "handler": f"{HANDLER_MODULE}.lambda_handler",
        "python": sys.version.split()[0],
        "package": size,
        "cold_start_import": timing,
    }
    if imports:
        results["slowest_imports"] = imports
    if args.json:
        print(json.dumps(results, indent=2))
        return 0

    print(f"deployment logger benchmark (Python {results['python']}, {args.runs} fresh interpreters)")
    rows = [
        ("archive, zipped", f"{size['zipped_bytes']:,} bytes"),
        ("archive, uncompressed", f"{size['uncompressed_bytes']:,} bytes"),
        ("archive, files", str(size["file_count"])),
        ("import handler, median", f"{timing['import_median_ms']} ms"),
        ("import handler, p90", f"{timing['import_p90_ms']} ms"),
        ("interpreter + import, median", f"{timing['process_median_ms']} ms"),
        ("interpreter + import, p90", f"{timing['process_p90_ms']} ms"),
    ]
    width = max(len(str(name)) for name in [*(name for name, _ in rows), *(row["module"] for row in imports)])
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>16}")
    if imports:
        print("import cost by the handler's direct imports (one -X importtime run, cumulative):")
        for row in imports:
            print(f"  {row['module']:<{width}}  {row['cumulative_ms']:>13} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
