"""The pull-request workflow: schema-valid, path filters that match the real stacks, OIDC only."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from offline_support import REPO_ROOT, STACKS_DIR

from regionflow.offline.discovery import discover_stacks

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "preview.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

# Inputs of pulumi/actions v6 (action.yml of github.com/pulumi/actions at commit 4ddd4329); v7.0.0 changed
# only the runtime to node24 (pulumi/actions#1403, #1404, #1407) and kept the inputs.
PULUMI_ACTION_INPUTS = frozenset(
    {
        "command", "stack-name", "pulumi-version", "pulumi-version-file", "work-dir", "comment-on-pr",
        "comment-on-pr-number", "comment-on-summary", "github-token", "cloud-url", "secrets-provider", "parallel",
        "message", "config-map", "expect-no-changes", "diff", "replace", "target", "target-dependents",
        "policyPacks", "policyPackConfigs", "refresh", "upsert", "remove", "edit-pr-comment", "color",
        "exclude-protected", "plan", "suppress-outputs", "suppress-progress", "always-include-summary",
    }
)  # fmt: skip
# Inputs of aws-actions/configure-aws-credentials v4 that carry long-lived secrets.
STATIC_KEY_INPUTS = frozenset({"aws-access-key-id", "aws-secret-access-key", "aws-session-token"})


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).split("@")[0] == action]


def the_step(job: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = steps_using(job, action)
    return step


def stack_folders() -> set[str]:
    return {p.name for p in STACKS_DIR.iterdir() if (p / "Pulumi.yaml").is_file()}


def test_the_workflow_validates_against_the_github_workflow_schema() -> None:
    completed = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    # The same check must fail on a workflow GitHub would refuse, or the test above proves nothing.
    broken = tmp_path / "broken.yml"
    broken.write_text("on: pull_request\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps: oops\n")
    completed = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode != 0


def test_it_runs_on_pull_requests(workflow: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads a bare `on` key as True
    assert "pull_request" in triggers


def test_first_job_runs_tox_and_the_offline_preview(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["checks"]
    assert the_step(job, "actions/setup-python")["with"]["python-version"] == "3.11"
    commands = [s.get("run", "") for s in job["steps"]]
    assert "python -m pip install tox" in commands
    assert "tox" in commands and "tox -e preview" in commands


def _filters(workflow: dict[str, Any]) -> dict[str, list[str]]:
    step = the_step(workflow["jobs"]["changes"], "dorny/paths-filter")
    filters: dict[str, list[str]] = yaml.safe_load(step["with"]["filters"])
    return filters


def test_every_stack_folder_has_a_filter_and_every_filter_names_a_stack_folder(workflow: dict[str, Any]) -> None:
    filters = set(_filters(workflow))
    assert stack_folders() <= filters, f"stack folders without a filter: {stack_folders() - filters}"
    # A filter may name a project still being written (a folder without Pulumi.yaml yet), never a ghost.
    assert all((STACKS_DIR / name).is_dir() for name in filters), filters


def test_each_filter_watches_its_folder_and_shared_and_regional_ones_the_functions(workflow: dict[str, Any]) -> None:
    regional = {
        t.folder for t in discover_stacks(STACKS_DIR) if t.project.startswith("regionflow-") and t.folder != "pipeline"
    }
    for folder, paths in _filters(workflow).items():
        assert f"stacks/{folder}/**" in paths
        assert "shared/**" in paths
        assert ("functions/**" in paths) == (folder in regional), folder
        for path in paths:
            # Every pattern points at something that exists in the repository.
            assert any(REPO_ROOT.glob(path.removesuffix("/**") or path)), path


def _run_matrix_script(workflow: dict[str, Any], changed: list[str], tmp_path: Path) -> dict[str, Any]:
    step = next(s for s in workflow["jobs"]["changes"]["steps"] if s.get("id") == "matrix")
    assert step["shell"] == "python"
    output = tmp_path / "github_output"
    output.write_text("")
    completed = subprocess.run(
        [sys.executable, "-c", step["run"]],
        cwd=REPO_ROOT,
        env={"CHANGED": json.dumps(changed), "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return {"matrix": json.loads(values["matrix"]), "any": values["any"]}


def test_the_matrix_covers_every_stack_config_when_shared_changes(workflow: dict[str, Any], tmp_path: Path) -> None:
    result = _run_matrix_script(workflow, sorted(_filters(workflow)), tmp_path)
    entries = {(e["folder"], e["project"], e["stack"]) for e in result["matrix"]["include"]}
    expected = {(t.folder, t.project, t.stack) for t in discover_stacks(STACKS_DIR)}
    assert entries == expected
    assert len(entries) == len(list(STACKS_DIR.glob("*/Pulumi.*.yaml")))
    assert result["any"] == "true"


def test_the_matrix_holds_only_the_changed_folders_stacks(workflow: dict[str, Any], tmp_path: Path) -> None:
    result = _run_matrix_script(workflow, ["secondary"], tmp_path)
    assert {e["folder"] for e in result["matrix"]["include"]} == {"secondary"}
    assert {e["stack"] for e in result["matrix"]["include"]} == {
        t.stack for t in discover_stacks(STACKS_DIR) if t.folder == "secondary"
    }
    nothing = _run_matrix_script(workflow, [], tmp_path)
    assert nothing == {"matrix": {"include": []}, "any": "false"}


def test_the_preview_job_runs_per_stack_after_the_checks(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["preview"]
    assert set(job["needs"]) == {"checks", "changes"}
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.changes.outputs.matrix) }}"
    assert job["strategy"]["fail-fast"] is False
    assert "needs.changes.outputs.any == 'true'" in job["if"]


def test_aws_credentials_come_from_oidc_only(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["preview"]
    assert job["permissions"]["id-token"] == "write"
    assert workflow["permissions"] == {"contents": "read"}
    step = the_step(job, "aws-actions/configure-aws-credentials")
    assert re.fullmatch(r"\$\{\{ (vars|secrets)\.[A-Z_]+ \}\}", step["with"]["role-to-assume"])
    for any_job in workflow["jobs"].values():
        for any_step in any_job["steps"]:
            assert not STATIC_KEY_INPUTS & set(any_step.get("with", {})), any_step
    text = WORKFLOW.read_text()
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text


# Each action the workflow uses, at a release that runs on Node 24, by the full SHA of its tag. GitHub's
# "Security hardening for GitHub Actions" recommends a full-length commit SHA (the only immutable reference,
# a tag can be moved), with the version in a comment. Sources, SHA of the tag / its node24 runtime:
# - actions/checkout v5.0.0 = 08c6903c...: the release's commit "Prepare v5.0.0 release" (#2238) in the
#   release notes quoted by n-air-app/n-air-app#984 (a Dependabot bump), and many pins "# v5.0.0";
#   node24: "Update actions checkout to use node 24" (actions/checkout#2226), the v5.0.0 release notes.
# - actions/setup-python v6.0.0 = e797f83b...: Dependabot's compare a26af69b (v5.6.0)...e797f83b and pin
#   tables "# v6.0.0"; node24: v6.0.0 release notes "Breaking Changes: Upgrade to node 24" (#1164).
# - dorny/paths-filter v4.0.1 = fbd0ab8f...: swamp-club/swamp#943, gastownhall/gascity#3189 ("the pinned
#   SHA really is the v4.0.1"); node24: trinodb/trino#28664/#28745 ("v4.0.0 added support for Node.js 24").
# - aws-actions/configure-aws-credentials v6.0.0 = 8df58475...: pin tables "v6.0.0 -> 8df5847569e6...";
#   node24: the 6.0.0 release PR aws-actions/configure-aws-credentials#1641 ("BREAKING CHANGES: Update
#   action to use node24 (#1632)"); v5 still ran on node20 (issue #1593).
# - pulumi/actions v7.0.0 = 8e5e406f...: pins "pulumi/actions@8e5e406f... # v7.0.0"; node24:
#   pulumi/actions#1407 "Release v7 with Node 24 support" (#1404 "Bump Node runtime from 20 to 24").
PINNED_ACTIONS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("08c6903cd8c0fde910a37f88322edcfb5dd907a8", "v5.0.0"),
    "actions/setup-python": ("e797f83bcb11b83ae66e0230d6156d7c80228e7c", "v6.0.0"),
    "dorny/paths-filter": ("fbd0ab8f3e69293af611ebaee6363fc25e6d187d", "v4.0.1"),
    "aws-actions/configure-aws-credentials": ("8df5847569e6427dd6c4fb1cf565c83acfa8afa7", "v6.0.0"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
}
USES_LINE = re.compile(r"^\s*-?\s*uses:\s*(?P<action>[\w.-]+/[\w.-]+)@(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*))?$")


def test_every_action_is_pinned_by_full_sha_to_a_node24_release_with_its_version_in_a_comment() -> None:
    """actionlint cannot see the runtime of a SHA-pinned action, so this table is what keeps Node 20 out."""
    lines = [line for line in WORKFLOW.read_text().splitlines() if re.search(r"^\s*-?\s*uses:", line)]
    assert len(lines) >= 8
    for line in lines:
        match = USES_LINE.match(line)
        assert match is not None, line
        action, ref = match["action"], match["ref"]
        assert action in PINNED_ACTIONS, f"{action}: add it with the SHA of a node24 release and its sources"
        sha, version = PINNED_ACTIONS[action]
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{line.strip()}: pin the full commit SHA, not {ref}"
        assert (ref, (match["comment"] or "").split()[0:1]) == (sha, [version]), line


def test_the_checkouts_keep_the_token_out_of_the_git_config(workflow: dict[str, Any]) -> None:
    for job in workflow["jobs"].values():
        for step in steps_using(job, "actions/checkout"):
            assert step["with"]["persist-credentials"] is False


def test_pulumi_action_inputs_are_real_and_configured_for_pr_comments(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["preview"]
    inputs = the_step(job, "pulumi/actions")["with"]
    assert set(inputs) <= PULUMI_ACTION_INPUTS, set(inputs) - PULUMI_ACTION_INPUTS
    assert inputs["command"] == "preview"
    assert inputs["comment-on-pr"] is True and inputs["edit-pr-comment"] is True
    assert inputs["comment-on-pr-number"] == "${{ github.event.pull_request.number }}"
    assert inputs["stack-name"] == "organization/${{ matrix.project }}/${{ matrix.stack }}"
    assert inputs["work-dir"] == "stacks/${{ matrix.folder }}"
    assert inputs["cloud-url"].startswith("s3://") and inputs["cloud-url"].endswith("&awssdk=v2")
    assert inputs["secrets-provider"].startswith("awskms://")
    assert inputs["policyPacks"].endswith("/shared/regionflow/policies/pack")
    assert inputs["upsert"] is False
    assert inputs["pulumi-version"] == "${{ env.PULUMI_VERSION }}"
    # `pulumi preview --refresh`: pulumi/actions v6+ passes --refresh to the command (pulumi/actions#1118,
    # released in 6.0.0, #1278) instead of a separate, state-writing `pulumi refresh`; a preview takes no
    # lock in the self-managed backend, so the read-only preview role of `regionflow bootstrap` suffices.
    assert inputs["refresh"] is True


def test_the_pinned_cli_matches_the_sdk_in_constraints(workflow: dict[str, Any]) -> None:
    pins = dict(line.split("==") for line in (REPO_ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    assert workflow["env"]["PULUMI_VERSION"] == pins["pulumi"]


# --- stacks in a region owner's account (docs/accounts.md) ------------------------------------------------------


def _profile_step(job: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    (found,) = [(i, s) for i, s in enumerate(job["steps"]) if "regionflow.accounts" in str(s.get("run", ""))]
    return found


def test_the_profile_of_another_accounts_stack_is_written_after_the_credentials_and_before_the_preview(
    workflow: dict[str, Any],
) -> None:
    job = workflow["jobs"]["preview"]
    index, step = _profile_step(job)
    uses = [str(s.get("uses", "")).split("@")[0] for s in job["steps"]]
    # The profile's credential_source = Environment reads what configure-aws-credentials exported; pulumi/actions
    # runs the provider that names the profile.
    assert uses.index("aws-actions/configure-aws-credentials") < index < uses.index("pulumi/actions")
    # Matrix values reach the script through env, never interpolated into it.
    assert "${{" not in step["run"]
    assert step["env"] == {"FOLDER": "${{ matrix.folder }}", "STACK": "${{ matrix.stack }}"}
    assert '--github-env "$GITHUB_ENV"' in step["run"]


def _run_profile_step(step: dict[str, Any], root: Path, folder: str, stack: str, tmp: Path) -> tuple[str, str]:
    """The step's script as GitHub runs it (bash, in the checkout), with the stack's venv python."""
    python = root / "stacks" / folder / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    github_env = tmp / "github_env"
    github_env.write_text("")
    runner_temp = tmp / "runner_temp"
    runner_temp.mkdir(exist_ok=True)
    completed = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=root,
        env={
            "PATH": "/usr/bin:/bin",
            "FOLDER": folder,
            "STACK": stack,
            "RUNNER_TEMP": str(runner_temp),
            "GITHUB_ENV": str(github_env),
            "GITHUB_RUN_ID": "42",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return github_env.read_text(), completed.stdout


def test_the_profile_step_assumes_the_target_accounts_read_role_with_the_environments_credentials(
    workflow: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run on the cross-account sample's us-west-2 stack, then resolved by botocore under moto: the profile assumes
    the read role of 210987654321 with the keys in the environment (AWS SDKs and Tools reference guide, "Assume
    role credential provider": credential_source = Environment), while the default chain keeps the caller."""
    import configparser

    import boto3
    from moto import mock_aws

    from regionflow.accounts_sample import compose

    root = compose(tmp_path / "repo")
    _, step = _profile_step(workflow["jobs"]["preview"])
    env_file, _ = _run_profile_step(step, root, "secondary", "prod-us-west-2", tmp_path)
    config_file = tmp_path / "runner_temp" / "regionflow-aws-config"
    assert env_file == f"AWS_CONFIG_FILE={config_file}\n"
    parsed = configparser.ConfigParser()
    parsed.read(config_file)
    assert parsed.sections() == ["profile regionflow-210987654321"]
    assert dict(parsed["profile regionflow-210987654321"]) == {
        "role_arn": "arn:aws:iam::210987654321:role/rflow-prod-pipeline-read",
        "credential_source": "Environment",
        "role_session_name": "regionflow-pr-42",
    }
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    with mock_aws():
        through = boto3.session.Session(profile_name="regionflow-210987654321", region_name="us-west-2")
        assumed = through.client("sts").get_caller_identity()
        own = boto3.session.Session(region_name="us-west-2").client("sts").get_caller_identity()
    assert assumed["Arn"] == "arn:aws:sts::210987654321:assumed-role/rflow-prod-pipeline-read/regionflow-pr-42"
    assert own["Account"] == "123456789012"


def test_the_profile_step_writes_nothing_for_a_stack_of_the_pipelines_account(
    workflow: dict[str, Any], tmp_path: Path
) -> None:
    from regionflow.accounts_sample import compose

    root = compose(tmp_path / "repo")
    _, step = _profile_step(workflow["jobs"]["preview"])
    for folder, stack in (("secondary", "prod-eu-west-1"), ("primary", "prod"), ("pipeline", "prod")):
        env_file, output = _run_profile_step(step, root, folder, stack, tmp_path)
        assert env_file == "", (folder, stack)
        assert "no profile needed" in output
    assert not (tmp_path / "runner_temp" / "regionflow-aws-config").exists()
