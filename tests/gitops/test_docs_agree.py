"""The docs agree with each other and with the code: one way to add a region, the unscopable actions listed."""

from __future__ import annotations

import re

from offline_support import REPO_ROOT

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


def test_multi_account_is_stated_as_one_account_today() -> None:
    assert "### One account today" in README
    assert "not\nsupported yet" in README or "not supported yet" in README


def test_no_doc_claims_bootstrap_prints_the_repository_variables() -> None:
    assert "all printed by `regionflow bootstrap`" not in GITOPS
