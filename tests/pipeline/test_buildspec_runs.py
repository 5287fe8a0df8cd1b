"""The pipeline's buildspecs, executed: every phase runs in bash with recording stand-ins for pulumi, curl,
aws, tox and pip (tests/pipeline/standins.py), fed with each CodeBuild project's real environment variables
and buildspec text as the offline preview's manifest records them (not copied by hand).

These tests exist because reading a buildspec proves little: a relative ``--policy-pack`` after ``--cwd``,
a pipe that hides a failed download, or a variable the project never sets all pass a read and fail the
first real run. Here the stand-ins refuse what the real tools refuse (see standins.py's docstring for
each rule and its source), so such a defect fails a test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from buildspec_harness import BuildRun, action_environment, checkout, locking, project_environment, run_buildspec
from offline_support import REPO_ROOT, of_type
from pipeline_support import PROJECT_TYPE, pipeline_of, run_repository, stage

from regionflow.components.pipeline import layout
from regionflow.offline.runner import StackResult

PACK = "shared/regionflow/policies/pack"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "preview-json"


@pytest.fixture(scope="module")
def pipeline() -> StackResult:
    return pipeline_of(run_repository(REPO_ROOT))


@pytest.fixture(scope="module")
def projects(pipeline: StackResult) -> dict[str, dict[str, Any]]:
    """CodeBuild projects by the last part of their name: build, preview, security-scan, deploy, drift, ..."""
    found: dict[str, dict[str, Any]] = {}
    for project in of_type(pipeline, PROJECT_TYPE):
        name = project.outputs["name"]
        purpose = name.split("-", 3)[3]  # rflow-prod-euw1-<purpose>
        key = f"{purpose}@{project.region}" if purpose == "deploy" else purpose
        found[key] = project.inputs
    return found


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return checkout(tmp_path)


SOURCE_LOCATIONS = {
    "exec-0042": {"bucket": "rflow-prod-use1-artifacts-123456789012", "key": "rflow-prod-use1-pipel/source/AbCdEf1"},
    "exec-0040": {"bucket": "rflow-prod-use1-artifacts-123456789012", "key": "rflow-prod-use1-pipel/source/Older40"},
}


def run(project: dict[str, Any], source: Path, tmp_path: Path, **kwargs: Any) -> BuildRun:
    environment = {**project_environment(project), **kwargs.pop("extra_env", {})}
    if project["source"]["type"] == "NO_SOURCE":
        # CodeBuild starts such a project in an empty source directory; its buildspec fetches the pipeline's
        # last source artifact, which the aws stand-in serves as a zip of the checkout.
        tmp_path.mkdir(parents=True, exist_ok=True)
        archive = shutil.make_archive(str(tmp_path / "artifact"), "zip", source)
        environment["STANDIN_SOURCE_ZIP"] = archive
        kwargs["config"] = {"source_locations": SOURCE_LOCATIONS, **(kwargs.get("config") or {})}
        source = tmp_path / "empty-src"
        source.mkdir()
    return run_buildspec(project["source"]["buildspec"], environment, source=source, tmp_path=tmp_path, **kwargs)


def update_action_environment(pipeline: StackResult) -> dict[str, str]:
    (action,) = stage(pipeline, layout.UPDATE_PIPELINE)["actions"]
    resolved = {"codepipeline.PipelineExecutionId": "exec-0001", "SourceVariables.CommitId": "0123abcd"}
    return action_environment(action["configuration"], resolved)


def test_every_project_of_the_pipeline_is_run_here(projects: dict[str, dict[str, Any]]) -> None:
    assert sorted(projects) == sorted(
        ["build", "preview", "security-scan", "update-pipeline", "drift",
         "deploy@us-east-1", "deploy@eu-west-1", "deploy@ap-southeast-2"]
    )  # fmt: skip


@pytest.mark.parametrize("key", ["build", "preview", "security-scan", "drift", "deploy@eu-west-1"])
def test_each_build_runs_green_with_its_real_environment(
    key: str, projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    result = run(projects[key], source, tmp_path)
    assert result.violations == []
    assert result.exit_code == 0, result.output


def test_the_cli_is_downloaded_then_installed_at_the_pinned_version(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    result = run(projects["deploy@us-east-1"], source, tmp_path)
    assert result.of("curl")[0].argv[-2:] == ["-o", result.of("curl")[0].argv[-1]]
    assert result.of("pulumi", "version"), "the installed version is checked"
    failed = run(projects["deploy@us-east-1"], source, tmp_path / "x", config={"fail": [{"tool": "curl", "exit": 22}]})
    # A failed download fails the install phase: nothing is piped into sh, and no pulumi ever runs.
    assert (failed.exit_code, failed.failed_phase, failed.of("pulumi")) == (22, "install", [])


def test_preview_installs_the_pack_and_passes_it_absolute_after_cwd(
    pipeline: StackResult, projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    """`--cwd` is applied before `--policy-pack` is resolved (pulumi-policy#251): the path must be absolute,
    and the pack's virtualenv must exist (the CLI never installs a local Python pack, pulumi/pulumi#16437)."""
    project = projects["preview"]
    result = run(project, source, tmp_path)
    assert result.exit_code == 0, result.output
    entries = project_environment(project)["PREVIEW_STACKS"].split()
    previews = result.of("pulumi", "preview")
    assert [c.argv[c.argv.index("--stack") + 1] for c in previews] == [e.split(":", 1)[1] for e in entries]
    pack_install = result.of("pulumi", "install", "--cwd", str(source / PACK))
    assert pack_install and result.calls.index(pack_install[0]) < result.calls.index(previews[0])
    for call in previews:
        assert call.argv[call.argv.index("--policy-pack") + 1] == str(source / PACK)
    assert locking(result.calls) == []  # previews never take the stack lock


def test_a_relative_policy_pack_after_cwd_is_caught(source: Path, tmp_path: Path) -> None:
    """The defect the Preview stage had: the stand-in resolves the pack from --cwd, as the CLI does."""
    (source / PACK / "venv" / "bin").mkdir(parents=True)
    (source / PACK / "venv" / "bin" / "python").write_text("")
    spec = (
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        '      - curl -fsSL https://get.pulumi.com -o /tmp/i.sh && sh /tmp/i.sh --version 3.272.0\n'
        '      - export PATH="$HOME/.pulumi/bin:$PATH"; pulumi login "s3://b?region=us-east-1"\n'
        "      - export PATH=\"$HOME/.pulumi/bin:$PATH\"; pulumi install --cwd stacks/primary\n"
        '      - export PATH="$HOME/.pulumi/bin:$PATH"; pulumi preview --cwd stacks/primary --stack prod'
        f" --policy-pack {PACK}\n"
    )
    result = run_buildspec(spec, {}, source=source, tmp_path=tmp_path)
    assert result.exit_code != 0
    assert any("--policy-pack shared/regionflow/policies/pack: no PulumiPolicy.yaml" in v for v in result.violations)


def test_preview_previews_every_stack_then_fails_naming_the_failed_one(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    failure = {"tool": "pulumi", "args": ["preview", "prod-eu-west-1"], "exit": 255, "stderr": "mandatory policy"}
    result = run(projects["preview"], source, tmp_path, config={"fail": [failure]})
    assert result.exit_code == 1 and result.failed_phase == "build"
    entries = project_environment(projects["preview"])["PREVIEW_STACKS"].split()
    previews = result.of("pulumi", "preview")
    assert len([c for c in previews if "--json" in c.argv]) == len(entries)
    # The JSON digest omits policy events, so only the failed stack is previewed again, readable.
    (again,) = [c for c in previews if "--json" not in c.argv]
    assert "prod-eu-west-1" in again.argv[again.argv.index("--stack") + 1] and "--diff" in again.argv
    assert "preview failed for: organization/regionflow-secondary/prod-eu-west-1" in result.output
    # Nothing is exported: the Approval stage's VariableCheck (NE false) keeps the approval.
    assert result.exported == {}


def test_deploy_runs_up_of_its_stack_and_writes_no_config(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    project = projects["deploy@eu-west-1"]
    env = project_environment(project)
    result = run(project, source, tmp_path)
    assert result.exit_code == 0, result.output
    order = [c.argv[0] for c in result.of("pulumi") if c.argv[0] in ("login", "install", "stack", "up")]
    assert order == ["login", "install", "stack", "up"]
    (up,) = result.of("pulumi", "up")
    assert up.argv[up.argv.index("--stack") + 1] == env["STACK_NAME"]
    assert env["STACK_NAME"] == "organization/regionflow-secondary/prod-eu-west-1"
    assert up.effective == str(source / env["STACK_DIR"]) and "--yes" in up.argv
    # The program derives the boundary itself: the build never rewrites the stack's config.
    assert not [c for c in result.of("pulumi") if c.argv[:2] == ["config", "set"]]


def test_deploy_waits_for_a_held_lock_instead_of_failing_into_a_rollback(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    """`pulumi up` fails at once on a held lock (pulumi/pulumi pkg/backend/diy/lock.go checkForLock)."""
    project = projects["deploy@eu-west-1"]
    quick = {"LOCK_POLL_SECONDS": "0"}
    result = run(project, source, tmp_path, config={"aws_lock_counts": ["1", "1", "0"]}, extra_env=quick)
    assert result.exit_code == 0, result.output
    lists = result.of("aws", "s3api", "list-objects-v2")
    assert len(lists) == 3
    assert lists[0].argv[lists[0].argv.index("--prefix") + 1] == (
        ".pulumi/locks/organization/regionflow-secondary/prod-eu-west-1/"
    )
    assert result.calls.index(lists[-1]) < result.calls.index(result.of("pulumi", "up")[0])
    never_free = {"aws_lock_counts": ["1"] * 5}
    stuck = run(project, source, tmp_path / "stuck", config=never_free, extra_env={**quick, "LOCK_WAIT_SECONDS": "0"})
    assert stuck.exit_code == 1 and stuck.of("pulumi", "up") == []
    assert "pulumi cancel --stack organization/regionflow-secondary/prod-eu-west-1" in stuck.output


def test_deploy_refuses_a_stack_file_without_the_configured_secrets_provider(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    """Without `secretsprovider:` the CLI falls back to a passphrase (pulumi/pulumi pkg/cmd/pulumi/stack/secrets.go)."""
    stack_file = source / "stacks" / "secondary" / "Pulumi.prod-eu-west-1.yaml"
    lines = stack_file.read_text().splitlines()
    stack_file.write_text("\n".join(line for line in lines if not line.startswith("secrets")))
    result = run(projects["deploy@eu-west-1"], source, tmp_path)
    assert result.exit_code == 1 and result.of("pulumi", "up") == []
    assert "stacks/secondary/Pulumi.prod-eu-west-1.yaml names secrets provider 'none'" in result.output
    assert "pulumi stack change-secrets-provider" in result.output


def test_a_failed_up_fails_the_build_after_its_retry(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    """The deploy stage's onFailure is ROLLBACK, so the one retry happens inside the build (regionflow.delivery)."""
    failure = {"tool": "pulumi", "args": ["up", "--yes"], "exit": 255, "stderr": "error: update failed"}
    project = projects["deploy@ap-southeast-2"]
    assert project_environment(project)["DEPLOY_ATTEMPTS"] == "2"
    result = run(project, source, tmp_path, config={"fail": [failure]}, extra_env={"RETRY_PAUSE_SECONDS": "0"})
    assert result.exit_code == 255 and result.failed_phase == "build"
    assert len(result.of("pulumi", "up")) == 2
    assert "failed (attempt 2 of 2); the stage rolls back" in result.output


def test_a_transient_up_failure_is_retried_once_and_the_build_succeeds(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    once = {"tool": "pulumi", "args": ["up", "--yes"], "exit": 255, "times": 1, "stderr": "error: cannot assume role"}
    result = run(
        projects["deploy@eu-west-1"], source, tmp_path, config={"fail": [once]}, extra_env={"RETRY_PAUSE_SECONDS": "0"}
    )
    assert result.exit_code == 0, result.output
    assert len(result.of("pulumi", "up")) == 2
    # Without autoRetry the project sets one attempt: the first failure fails the build.
    single = run(
        projects["deploy@eu-west-1"],
        source,
        tmp_path / "single",
        config={"fail": [once]},
        extra_env={"DEPLOY_ATTEMPTS": "1"},
    )
    assert single.exit_code == 255 and len(single.of("pulumi", "up")) == 1


def test_preview_exports_iam_changes_false_when_no_stack_changes_iam(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    result = run(projects["preview"], source, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.exported == {"IAM_CHANGES": "false"}
    assert "IAM_CHANGES=false (0 IAM change(s) in 4 stack(s))" in result.output
    # Every stack is previewed with the policy pack and --json (the digest goes to stdout).
    assert all("--json" in c.argv and "--policy-pack" in c.argv for c in result.of("pulumi", "preview"))


def test_preview_exports_true_when_one_stack_changes_a_role_policy(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    sample = {"args": ["prod-eu-west-1"], "file": str(FIXTURES / "regionflow-role-policy-update.json")}
    result = run(projects["preview"], source, tmp_path, config={"preview_json": [sample]})
    assert result.exit_code == 0, result.output
    assert result.exported == {"IAM_CHANGES": "true"}
    assert (
        "IAM organization/regionflow-secondary/prod-eu-west-1: update aws:iam/rolePolicy:RolePolicy "
        "deploy-logger-role-policy (changes policy)"
    ) in result.output


def test_the_stand_in_refuses_json_with_output_as_the_cli_does(source: Path, tmp_path: Path) -> None:
    """`--json` and `--output` are mutually exclusive flags of `pulumi preview` (PR pulumi/pulumi#22927)."""
    spec = (
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        "      - curl -fsSL https://get.pulumi.com -o /tmp/i.sh && sh /tmp/i.sh --version 3.272.0\n"
        '      - export PATH="$HOME/.pulumi/bin:$PATH"; pulumi login "s3://b?region=us-east-1"\n'
        '      - export PATH="$HOME/.pulumi/bin:$PATH"; pulumi install --cwd stacks/primary\n'
        '      - export PATH="$HOME/.pulumi/bin:$PATH"; pulumi preview --cwd stacks/primary --stack prod --json'
        " --output json\n"
    )
    result = run_buildspec(spec, {}, source=source, tmp_path=tmp_path)
    assert result.exit_code != 0
    assert any("--json and --output cannot be used together" in v for v in result.violations)


def test_preview_fails_when_a_digest_cannot_be_read(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("Previewing update (prod):\n")
    samples = [{"args": ["prod"], "file": str(broken)}]
    result = run(projects["preview"], source, tmp_path, config={"preview_json": samples})
    assert result.exit_code == 2 and result.exported == {}
    assert "cannot be read: not JSON" in result.output


def test_drift_previews_with_refresh_never_locks_and_reports_the_drifted_stack(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    project = projects["drift"]
    entries = project_environment(project)["DRIFT_STACKS"].split()
    clean = run(project, source, tmp_path)
    assert clean.exit_code == 0, clean.output
    previews = clean.of("pulumi", "preview")
    assert len(previews) == len(entries)
    assert all("--refresh" in c.argv and "--expect-no-changes" in c.argv for c in previews)
    assert locking(clean.calls) == [] and clean.of("aws", "sns", "publish") == []
    (fetch,) = clean.of("aws", "s3", "cp")
    assert fetch.argv[2] == "s3://rflow-prod-use1-artifacts-123456789012/rflow-prod-use1-pipel/source/AbCdEf1"
    failure = {"tool": "pulumi", "args": ["preview", "prod-ap-southeast-2"], "exit": 255}
    drifted = run(project, source, tmp_path / "drifted", config={"fail": [failure]})
    assert drifted.exit_code == 1
    (publish,) = drifted.of("aws", "sns", "publish")
    message = publish.argv[publish.argv.index("--message") + 1]
    assert "stacks/secondary:prod-ap-southeast-2" in message and "prod-eu-west-1" not in message


def test_update_pipeline_without_changes_stops_at_the_preview(
    pipeline: StackResult, projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    result = run(projects["update-pipeline"], source, tmp_path, extra_env=update_action_environment(pipeline))
    assert result.exit_code == 0, result.output
    assert result.of("pulumi", "up") == [] and result.of("aws") == []


def test_update_pipeline_with_changes_applies_then_restarts_the_same_revision(
    pipeline: StackResult, projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    changes = {"tool": "pulumi", "args": ["preview", "--expect-no-changes"], "exit": 255}
    env = update_action_environment(pipeline)
    result = run(projects["update-pipeline"], source, tmp_path, config={"fail": [changes]}, extra_env=env)
    assert result.exit_code == 0, result.output
    up, start, stop = result.of("pulumi", "up")[0], *result.of("aws", "codepipeline")
    assert result.calls.index(up) < result.calls.index(start) < result.calls.index(stop)
    assert start.argv[:2] == ["codepipeline", "start-pipeline-execution"]
    assert "revisionValue=0123abcd" in start.argv[start.argv.index("--source-revisions") + 1]
    assert stop.argv[stop.argv.index("--pipeline-execution-id") + 1] == "exec-0001" and "--no-abandon" in stop.argv


def test_the_scan_and_build_stages_run_the_commands_tox_runs(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    scan = run(projects["security-scan"], source, tmp_path)
    assert [c.argv for c in scan.of("tox")] == [["-e", "security"]]
    build = run(projects["build"], source, tmp_path / "build")
    assert [c.argv for c in build.of("tox")] == [[]]
    # tox's default run includes the security env, so every developer runs the stage's scan.
    assert "security" in (REPO_ROOT / "tox.ini").read_text().split("env_list =", 1)[1].splitlines()[0]


def test_drift_before_the_pipelines_first_source_checks_nothing_and_passes(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    """The first nights after the pipeline stack's first `pulumi up` may come before any Source execution."""
    result = run(projects["drift"], source, tmp_path, config={"latest_execution": None})
    assert result.exit_code == 0, result.output
    assert result.of("pulumi") == [] and result.of("aws", "s3", "cp") == []
    assert "has no succeeded execution yet" in result.output


def test_drift_after_a_rollback_checks_the_commit_the_rollback_deployed(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    """A succeeded ROLLBACK execution deploys its target execution's source (CodePipeline user guide,
    "Configure stage rollback"); that source is what is live, so drift compares against it."""
    rollback = ["exec-0043", "ROLLBACK", "exec-0040"]
    result = run(projects["drift"], source, tmp_path, config={"latest_execution": rollback})
    assert result.exit_code == 0, result.output
    (fetch,) = result.of("aws", "s3", "cp")
    assert fetch.argv[2].endswith("/rflow-prod-use1-pipel/source/Older40")
    (listing,) = result.of("aws", "codepipeline", "list-action-executions")
    assert "pipelineExecutionId=exec-0040" in listing.argv


def test_preview_stops_on_an_outdated_account_boundary_before_any_preview(
    projects: dict[str, dict[str, Any]], source: Path, tmp_path: Path
) -> None:
    """The boundary only changes with `regionflow bootstrap --update-boundary`; a commit whose roles need more
    must fail here, naming that fix, not later as AccessDenied in a deploy."""
    project = projects["preview"]
    boundary = project_environment(project)["BOUNDARY_ARN"]
    from regionflow.boundary import boundary_document, parse_boundary_arn

    family = parse_boundary_arn(boundary)
    assert family is not None
    outdated = json.loads(boundary_document(*family))
    outdated["Statement"] = [s for s in outdated["Statement"] if s["Sid"] != "ReadThisBoundary"]
    result = run(project, source, tmp_path, config={"boundary_document": outdated})
    assert result.exit_code == 1 and result.of("pulumi", "preview") == []
    assert f"the account's permissions boundary {boundary} lacks what this commit's roles need" in result.output
    assert "--update-boundary" in result.output and "ReadThisBoundary" in result.output
