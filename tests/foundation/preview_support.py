"""Helpers for tests that run ``regionflow preview`` over an edited copy of the repository's stacks.

Each test makes the mistake a new user makes (copy a file, forget to edit it, typo a key) in a copy,
and runs the preview exactly as ``tox -e preview`` does.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from offline_support import REPO_ROOT

from regionflow import cli


def copy_repository(tmp_path: Path) -> Path:
    """stacks/ and functions/ copied, shared/ linked: a root `regionflow preview` accepts.

    functions/ is copied rather than linked so that the Lambda's asset paths in the manifests are relative
    to the copy, as they are in a checkout (and two copies compare equal).
    """
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("venv", "__pycache__", ".pytest_cache")
    shutil.copytree(REPO_ROOT / "stacks", root / "stacks", ignore=ignore)
    shutil.copytree(REPO_ROOT / "functions", root / "functions", ignore=ignore)
    (root / "shared").symlink_to(REPO_ROOT / "shared")
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def preview(root: Path, *args: str, out_dir: Path | None = None) -> tuple[int, str]:
    out = io.StringIO()
    argv = ["preview", "--root", str(root), "--out", str(out_dir or root / ".regionflow" / "preview"), *args]
    code = cli.main(argv, stdout=out)
    return code, out.getvalue()


def lines(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


SECONDARY = "stacks/secondary/Pulumi.prod-eu-west-1.yaml"
PRIMARY = "stacks/primary/Pulumi.prod.yaml"
PIPELINE = "stacks/pipeline/Pulumi.prod.yaml"
