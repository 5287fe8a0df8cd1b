"""The pull-request workflow posts the offline diff against the base branch, before and without any cloud access."""

from __future__ import annotations

from typing import Any

import yaml
from offline_support import REPO_ROOT

from regionflow.commands.preview import COMMENT_MARKER

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "preview.yml"


def job() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    found: dict[str, Any] = loaded["jobs"]["offline-diff"]
    return found


def script() -> str:
    return "\n".join(str(step.get("run", "")) for step in job()["steps"])


def test_it_previews_the_base_then_diffs_this_pull_request_against_it() -> None:
    run = script()
    base = run.index('-e preview -- --quiet --out "$RUNNER_TEMP/base-manifests"')
    head = run.index('-e preview -- --diff-against "$RUNNER_TEMP/base-manifests"')
    assert base < head
    assert 'git worktree add --detach "$RUNNER_TEMP/base" "$BASE_SHA"' in run  # the base's own code and stacks
    assert '--markdown "$RUNNER_TEMP/offline-diff.md"' in run and "--stages" in run


def test_it_never_touches_the_cloud() -> None:
    steps = job()["steps"]
    assert not any("aws-actions" in str(s.get("uses", "")) or "pulumi/actions" in str(s.get("uses", "")) for s in steps)
    assert "id-token" not in job()["permissions"]
    assert job()["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "needs" not in job()  # it does not wait for the jobs that do


def test_one_comment_edited_in_place_found_by_the_marker_the_preview_writes() -> None:
    run = script()
    assert f"marker='{COMMENT_MARKER}'" in run
    assert "--method PATCH" in run and "--method POST" in run
