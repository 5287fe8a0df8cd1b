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
    """stacks/ copied (editable), functions/ and shared/ linked; a root `regionflow preview` accepts."""
    root = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "stacks", root / "stacks", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (root / "functions").symlink_to(REPO_ROOT / "functions")
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
