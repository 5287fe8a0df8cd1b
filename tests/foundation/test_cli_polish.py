"""The command line as a new user meets it: help everywhere, --version, quiet pipes, clean errors."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from offline_support import REPO_ROOT
from preview_support import copy_repository, lines, preview

from regionflow import __version__, cli


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_of_every_command_has_help() -> None:
    for name, parser in subcommands().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"regionflow {name} {'/'.join(action.option_strings)} has no help text"


def test_version() -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0
    from importlib.metadata import version

    assert __version__ == version("regionflow")


def test_no_duration_after_an_argument_error(tmp_path: Path) -> None:
    code, output = preview(REPO_ROOT, "--stack", "regionflow-pipeline/dev", out_dir=tmp_path)
    assert code == 2
    assert output.splitlines() == [
        "error: unknown stack regionflow-pipeline/dev (did you mean regionflow-pipeline/prod?); known stacks: "
        "regionflow-pipeline/prod, regionflow-primary/prod, regionflow-secondary/prod-ap-southeast-2, "
        "regionflow-secondary/prod-eu-west-1"
    ]


def test_one_stack_is_singular_and_quiet_prints_only_totals(tmp_path: Path) -> None:
    code, output = preview(REPO_ROOT, "--quiet", "--stack", "regionflow-primary/prod", out_dir=tmp_path)
    assert code == 0
    count = len(json.loads((tmp_path / "regionflow-primary.prod.json").read_text())["resources"])
    assert output.splitlines() == [
        "Resources (first preview: nothing to compare):",
        f"    + {count} to create",
        f"Summary: 1 stack previewed, {count} resources, 0 stack references",
        "Policies: 0 mandatory and 0 advisory violations in 1 stack",
    ]


def test_the_pipeline_alone_reads_or_previews_what_it_references(tmp_path: Path) -> None:
    root = copy_repository(tmp_path)
    out = tmp_path / "out"
    code, output = preview(root, "--stack", "regionflow-pipeline/prod", out_dir=out)
    assert code == 0, output
    assert "Traceback" not in output
    notes = lines(output, "note: ")
    assert notes == [
        f"note: regionflow-pipeline/prod reads {label}, which has no previous manifest: previewing it first"
        for label in ("regionflow-primary/prod", "regionflow-secondary/prod-ap-southeast-2",
                      "regionflow-secondary/prod-eu-west-1")
    ]  # fmt: skip
    assert output.count("Previewing ") == 4
    code, output = preview(root, "--stack", "regionflow-pipeline/prod", out_dir=out)
    assert code == 0, output
    assert lines(output, "note: ")[0] == (
        f"note: regionflow-pipeline/prod reads regionflow-primary/prod from its previous manifest "
        f"({out / 'regionflow-primary.prod.json'})"
    )
    assert output.count("Previewing ") == 1 and "    No changes." in output


def test_a_program_error_is_one_clean_line_without_future_noise(tmp_path: Path) -> None:
    """Run as a user would (a subprocess), so asyncio's notes at interpreter exit would show."""
    root = copy_repository(tmp_path)
    (root / "stacks" / "primary" / "__main__.py").write_text(
        "import pulumi_aws as aws\n"
        "bucket = aws.s3.Bucket('x')\n"
        "for name in ('y', 'z'):\n"
        "    aws.s3.Bucket(name, bucket=bucket.arn.apply(lambda arn: str(1 / 0)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "regionflow.cli", "preview", "--root", str(root), "--stack", "regionflow-primary/prod"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert completed.returncode == 1
    assert completed.stdout.splitlines()[0] == (
        "error: regionflow-primary/prod: ZeroDivisionError: division by zero (run again with --traceback to see where)"
    )
    assert "exception was never retrieved" not in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr


def test_piping_into_head_ends_quietly(tmp_path: Path) -> None:
    command = f"{sys.executable} -m regionflow.cli preview --root {REPO_ROOT} --out {tmp_path} | head -n 1"
    completed = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {command}"], capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert completed.stdout == "Previewing regionflow-primary/prod (offline engine)\n"
    assert "BrokenPipe" not in completed.stderr and "Traceback" not in completed.stderr, completed.stderr


def test_json_prints_only_json_even_with_warnings(tmp_path: Path) -> None:
    root = copy_repository(tmp_path)
    new = root / "stacks" / "secondary" / "Pulumi.prod-us-west-2.yaml"
    new.write_text(
        (root / "stacks/secondary/Pulumi.prod-eu-west-1.yaml")
        .read_text()
        .replace("region: eu-west-1", "region: us-west-2")
    )
    out = io.StringIO()
    code = cli.main(["preview", "--root", str(root), "--out", str(tmp_path / "o"), "--json"], stdout=out)
    assert code == 0
    document = json.loads(out.getvalue())
    assert [f["level"] for f in document["findings"]] == ["warning"]
