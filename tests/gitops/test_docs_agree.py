"""The docs agree with each other and with the code: one way to add a region, the unscopable actions listed."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from offline_support import REPO_ROOT

from regionflow import cli
from regionflow.iam import UNSCOPABLE_ACTIONS

README = (REPO_ROOT / "README.md").read_text()
GITOPS = (REPO_ROOT / "docs" / "gitops.md").read_text()
PIPELINE = (REPO_ROOT / "docs" / "pipeline.md").read_text()


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    rest = text[start + len(heading) :]
    end = re.search(r"\n#{2,3} ", rest)
    return rest[: end.start()] if end else rest


def test_readme_and_gitops_give_the_same_steps_to_add_a_region() -> None:
    assert (
        section(README, "### Adding a region").split("\nRetiring")[0].strip()
        == section(GITOPS, "## Add a region").strip()
    )


def test_every_doc_says_who_edits_the_pipeline_config_and_in_which_pr() -> None:
    for text in (section(README, "### Adding a region"), section(GITOPS, "## Add a region"), PIPELINE):
        assert "two pull requests" in text.lower()
        assert "platform team" in text and "secondaryStacks" in text
        assert "pulumi stack init" in text and "secretsProvider" in text


def test_the_unscopable_actions_are_all_listed_in_the_pipeline_doc() -> None:
    for action in UNSCOPABLE_ACTIONS:
        service, name = action.split(":")
        assert action in PIPELINE or (name in PIPELINE and service in PIPELINE), action


def test_multi_account_is_stated_as_supported() -> None:
    """Issue 15: the README says plainly that several accounts are supported, and points to docs/accounts.md."""
    assert "### One account today" not in README and "not supported yet" not in README
    assert "**Multi-account is supported.**" in README and "docs/accounts.md" in README
    accounts = (REPO_ROOT / "docs" / "accounts.md").read_text()
    for step in ("## 1. Prepare your account", "## 2. Add your region", "## Revoke the pipeline's access"):
        assert step in accounts


def test_the_docs_name_the_repository_variables_bootstrap_prints() -> None:
    """Bootstrap prints them with --github-repository (tested in test_bootstrap_iam.py); the docs must say so."""
    assert "--github-repository" in GITOPS
    variables = ("PULUMI_PREVIEW_ROLE_ARN", "PULUMI_BACKEND_REGION", "PULUMI_STATE_BUCKET", "PULUMI_SECRETS_KEY_ALIAS")
    for variable in variables:
        assert variable in GITOPS, variable


def test_the_logger_readme_sample_is_what_the_pipeline_sends(tmp_path: Path) -> None:
    """The sample UserParameters equal those of eu-west-1's RecordDeployment action in the offline preview."""
    readme = (REPO_ROOT / "functions" / "deployment_logger" / "README.md").read_text()
    block = section(readme, "## UserParameters schema").split("```json\n", 1)[1].split("```", 1)[0]
    sample = json.loads(block)
    code = cli.main(["preview", "--quiet", "--root", str(REPO_ROOT), "--out", str(tmp_path)], stdout=io.StringIO())
    assert code == 0
    manifest = json.loads((tmp_path / "regionflow-pipeline.prod.json").read_text())
    [pipeline] = [r for r in manifest["resources"] if r["type"] == "aws:codepipeline/pipeline:Pipeline"]
    sent = {
        action["name"]: json.loads(action["configuration"]["UserParameters"])
        for stage in pipeline["inputs"]["stages"]
        for action in stage["actions"]
        if action["name"].startswith("RecordDeployment-")
    }
    assert sample == sent["RecordDeployment-eu-west-1"]
