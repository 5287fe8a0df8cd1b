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


def test_preview_uses_the_policy_pack_per_stack() -> None:
    text = commands("preview.yml")
    assert 'pulumi preview --cwd "${folder}" --stack "${stack}" --policy-pack "${POLICY_PACK}"' in text
    assert "set -e" in text  # the first failing stack (a mandatory violation) fails the build
    assert 'pulumi login "${PULUMI_BACKEND_URL}"' in text


def test_security_scan_runs_the_tox_env_that_runs_the_script_strictly() -> None:
    """The stage and `tox` run one script; the stage runs pip-audit strictly, tox where it can reach PyPI."""
    spec = yaml.safe_load((BUILDSPECS / "security-scan.yml").read_text())
    assert commands("security-scan.yml").splitlines()[-1] == "tox -e security"
    assert spec["env"]["variables"]["PIP_AUDIT_MODE"] == "strict"
    tox = (REPO_ROOT / "tox.ini").read_text()
    assert "commands = bash stacks/pipeline/scripts/security-scan.sh" in tox
    assert "security" in tox.split("env_list =", 1)[1].splitlines()[0]
    script = (REPO_ROOT / "stacks" / "pipeline" / "scripts" / "security-scan.sh").read_text()
    assert "set -euo pipefail" in script and "pip-audit --strict --requirement constraints.txt" in script
    assert "|| true" not in script and "--exit-zero" not in script


@pytest.mark.parametrize("name", ["deploy.yml", "update-pipeline.yml", "preview.yml"])
def test_pulumi_cli_is_pinned(name: str) -> None:
    assert '--version "${PULUMI_VERSION}"' in commands(name)


def test_deploy_sets_the_boundary_before_up_and_never_creates_stacks() -> None:
    lines = commands("deploy.yml")
    assert lines.index("pulumi config set permissionsBoundaryArn") < lines.index("pulumi up --yes")
    assert '--stack "${STACK_NAME}"' in lines
    assert "stack init" not in lines and "--create" not in lines
    assert "PULUMI_SECRETS_PROVIDER" in lines


def test_update_pipeline_stops_itself_only_after_a_change() -> None:
    text = commands("update-pipeline.yml")
    assert text.index("--expect-no-changes") < text.index("pulumi up --yes")
    assert (
        text.index("pulumi up --yes") < text.index("start-pipeline-execution") < text.index("stop-pipeline-execution")
    )
    assert "--no-abandon" in text and "revisionValue=${SOURCE_REVISION}" in text


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
