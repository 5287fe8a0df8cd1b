"""The pipeline's buildspec files: valid CodeBuild 0.2, known phases, commands, and what each must do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from offline_support import REPO_ROOT

from regionflow.components.pipeline.build_project import BUILDSPEC_PHASES, BuildspecError, load_buildspec

BUILDSPECS = REPO_ROOT / "stacks" / "pipeline" / "buildspecs"
OURS = ("build.yml", "preview.yml", "security-scan.yml", "deploy.yml", "update-pipeline.yml")


def commands(name: str) -> str:
    spec = yaml.safe_load((BUILDSPECS / name).read_text())
    return "\n".join(c for phase in spec["phases"].values() for c in phase["commands"])


@pytest.mark.parametrize("name", OURS)
def test_each_buildspec_is_valid(name: str) -> None:
    text = load_buildspec(BUILDSPECS / name)
    spec = yaml.safe_load(text)
    assert str(spec["version"]) == "0.2"
    assert set(spec["phases"]) <= BUILDSPEC_PHASES
    assert all(phase["commands"] for phase in spec["phases"].values())


def test_every_buildspec_file_is_checked() -> None:
    # drift.yml belongs to the drift detection component, which checks it itself.
    assert sorted(p.name for p in BUILDSPECS.glob("*.yml")) == sorted([*OURS, "drift.yml"])


def test_build_runs_the_readme_test_command() -> None:
    assert "tox" in (REPO_ROOT / "README.md").read_text()
    assert commands("build.yml").splitlines()[-1] == "tox"


SCRIPTS = REPO_ROOT / "stacks" / "pipeline" / "scripts"


@pytest.mark.parametrize("name", (*OURS, "drift.yml"))
def test_each_buildspec_only_calls_scripts_that_exist(name: str) -> None:
    """The logic lives in scripts the tests execute (test_buildspec_runs.py); a buildspec only calls them."""
    for command in commands(name).splitlines():
        if command.startswith("bash "):
            assert (REPO_ROOT / command.split()[1]).is_file(), command


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS.glob("*.sh")))
def test_each_script_is_strict_bash(script: str) -> None:
    text = (SCRIPTS / script).read_text()
    if script != "common.sh":  # sourced by the others
        assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    assert "| sh" not in text and "|| true" not in text  # no hidden failures


BAD_SPECS = {
    "version": ("version: 0.1\nphases:\n  build:\n    commands: [tox]\n", "version: 0.2"),
    "phase": ("version: 0.2\nphases:\n  test:\n    commands: [tox]\n", "unknown phases"),
    "commands": ("version: 0.2\nphases:\n  build:\n    commands: []\n", "no commands"),
    "top level": ("version: 0.2\nstages: {}\nphases:\n  build:\n    commands: [tox]\n", "unknown top-level"),
    "yaml": ("version: 0.2\nphases: [\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_buildspecs_are_rejected(tmp_path: Path, case: str) -> None:
    text, expected = BAD_SPECS[case]
    path = tmp_path / "spec.yml"
    path.write_text(text)
    with pytest.raises(BuildspecError, match=expected):
        load_buildspec(path)


def test_missing_buildspec_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BuildspecError, match="cannot read buildspec"):
        load_buildspec(tmp_path / "absent.yml")


def test_the_build_stage_needs_no_git_checkout(tmp_path: Path) -> None:
    """CodePipeline's CODE_ZIP source artifact holds the files without .git (CodePipeline user guide,
    CodeStarSourceConnection action, OutputArtifactFormat), and the Build stage runs `tox` there: nothing
    tox runs may need git. The buildspec tests copy such a tree, and tox names actionlint's files."""
    from buildspec_harness import checkout

    archive = checkout(tmp_path / "archive")  # a copy like the source artifact: no .git
    assert not (archive / ".git").exists()
    again = checkout(tmp_path / "again", root=archive)
    assert sorted(p.relative_to(again) for p in again.rglob("*")) == sorted(
        p.relative_to(archive) for p in archive.rglob("*")
    )
    for line in (REPO_ROOT / "tox.ini").read_text().splitlines():
        if "actionlint" in line and line.startswith("    ") and not line.lstrip().startswith(("#", "actionlint-")):
            assert ".github/workflows/" in line, line
