"""Compose the cross-account sample tree: the repository's stacks with samples/cross-account laid over them.

``python -m regionflow.accounts_sample DIR`` writes DIR with ``stacks/``, ``functions/``, ``.github/`` and a link
to ``shared/``,
a root ``regionflow preview --root DIR`` accepts (samples/cross-account/README.md).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "samples" / "cross-account"


def compose(destination: Path, repo_root: Path = REPO_ROOT) -> Path:
    ignore = shutil.ignore_patterns("venv", "__pycache__", ".pytest_cache")
    shutil.copytree(repo_root / "stacks", destination / "stacks", ignore=ignore)
    shutil.copytree(repo_root / "functions", destination / "functions", ignore=ignore)
    # The pull-request workflow: iam-check judges the preview role bootstrap makes when the workflow assumes it.
    shutil.copytree(repo_root / ".github", destination / ".github", ignore=ignore)
    (destination / "shared").symlink_to(repo_root / "shared")
    overlay = repo_root / "samples" / "cross-account" / "stacks"
    for path in sorted(overlay.rglob("Pulumi.*.yaml")):
        target = destination / "stacks" / path.relative_to(overlay)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return destination


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m regionflow.accounts_sample DIR", file=sys.stderr)
        return 2
    destination = Path(args[0])
    if destination.exists():
        print(f"error: {destination} exists; name a new folder", file=sys.stderr)
        return 2
    print(compose(destination))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
