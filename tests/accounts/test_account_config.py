"""Config of regions in other accounts: one line naming the key and the fix, before any resource."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from regionflow.accounts_sample import compose
from regionflow.config import ConfigError, config_from_mapping, load_regional_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "foundation"))
from preview_support import edit, preview

BASE = {
    "environment": "prod",
    "region": "us-west-2",
    "primaryRegion": "us-east-1",
    "owner": "team",
    "costCenter": "cc-1",
}


def load(kind: str, **values: str):  # type: ignore[no-untyped-def]
    return load_regional_config(
        kind,  # type: ignore[arg-type]
        project=f"regionflow-{kind}",
        stack="prod",
        get=config_from_mapping({**BASE, **values}),
    )


def test_both_accounts_make_a_cross_account_stack_and_none_a_single_account_one() -> None:
    assert load("secondary").cross_account is False
    config = load("secondary", account="210987654321", pipelineAccount="123456789012")
    assert (config.account, config.pipeline_account, config.cross_account) == ("210987654321", "123456789012", True)


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        ("secondary", {"pipelineAccount": "123456789012"}, "regionflow-secondary:account: is missing"),
        ("secondary", {"account": "210987654321"}, "regionflow-secondary:account: is only used by a region"),
        ("secondary", {"account": "21098765432", "pipelineAccount": "123456789012"}, "is not an AWS account ID"),
        ("secondary", {"account": "123456789012", "pipelineAccount": "123456789012"}, "equals account"),
        ("primary", {"account": "210987654321", "pipelineAccount": "123456789012"}, "must live in the pipeline"),
    ],
)
def test_bad_account_config_is_one_line(kind: str, values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(kind, **values)
    assert message in str(error.value) and "Fix:" in str(error.value) and "\n" not in str(error.value)


def test_a_bad_account_in_a_pipeline_entry_is_named_with_its_index(tmp_path: Path) -> None:
    root = compose(tmp_path / "repo")
    edit(root / "stacks/pipeline/Pulumi.prod.yaml", 'account: "210987654321"', 'account: "2109"')
    code, output = preview(root)
    assert code == 2
    assert "regionflow-pipeline:secondaryStacks[2].account: '2109' is not an AWS account ID" in output


def test_the_pipeline_refuses_an_entry_whose_stack_is_in_another_account(tmp_path: Path) -> None:
    root = compose(tmp_path / "repo")
    edit(root / "stacks/pipeline/Pulumi.prod.yaml", 'account: "210987654321"', 'account: "333333333333"')
    code, output = preview(root)
    assert code != 0
    assert "is deployed in account 210987654321, but the pipeline config expects 333333333333" in output
