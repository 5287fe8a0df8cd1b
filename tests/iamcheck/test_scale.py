"""iam-check over generated trees with 1, 4 and 20 secondary regions: every role's job is found by its
position in the manifests, and each region's deploy role is judged like every other region's."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from iamcheck_support import check, documents_of
from pipeline_support import add_secondary, copy_tree, edit_pipeline_config, run_repository, without_delivery

from regionflow.iamcheck.jobs import JobBuilder, pipeline_backend
from regionflow.iamcheck.model import Manifests
from regionflow.regions import SUPPORTED_REGIONS

HOME = "us-east-1"


def tree_with(tmp_path: Path, secondaries: int) -> Path:
    root = copy_tree(tmp_path)
    for stack_file in (root / "stacks" / "secondary").glob("Pulumi.*.yaml"):
        stack_file.unlink()
    def change(config: dict[str, Any]) -> None:
        without_delivery(config)  # the sample's waves name its regions; baked waves hold at most 5 regions
        config["regionflow-pipeline:secondaryStacks"] = []

    edit_pipeline_config(root, change)
    for region in [r for r in SUPPORTED_REGIONS if r != HOME][:secondaries]:
        add_secondary(root, region)
    return root


def shape(text: str, regions: list[str]) -> str:
    """A finding with its region's names (region, region code) taken out, to compare regions."""
    for region in regions:
        text = text.replace(region, "<region>")
    text = re.sub(r"key/[0-9a-f-]{36}", "key/<id>", text)  # each region's key has its own ID
    return re.sub(r"rflow-prod-[a-z]+\d-", "rflow-prod-<code>-", text)


@pytest.mark.parametrize("secondaries", [1, 4, 20])
def test_every_region_gets_its_deploy_job_and_the_same_verdicts(tmp_path: Path, secondaries: int) -> None:
    root = tree_with(tmp_path, secondaries)
    documents = documents_of(run_repository(root).values(), root)
    regional = [d for d in documents if d["project"] != "regionflow-pipeline"]
    assert len(regional) == secondaries + 1

    manifests = Manifests((None, d) for d in copy.deepcopy(documents))
    builder = JobBuilder(manifests, root=root, backend=pipeline_backend(manifests, root))
    jobs = builder.jobs()
    deploy_jobs = [j for j in jobs if "pulumi up of regionflow-" in j.label and "pipeline/prod" not in j.label]
    # One deploy job per regional stack, each on exactly its stack, whatever its role is called.
    assert sorted(j.label.split("pulumi up of ")[1].rstrip(")") for j in deploy_jobs) == sorted(
        f"{d['project']}/{d['stack']}" for d in regional
    )
    (drift,) = [j for j in jobs if "preview-refresh" in j.label]
    assert drift.label.count("regionflow-") == len(documents)
    assert not builder.unknown_types

    result = check(documents, root=root)
    assert result.roles == len(manifests.roles)
    secondary_roles = {j.role.name for j in deploy_jobs if "regionflow-secondary" in j.label}
    regions = list(SUPPORTED_REGIONS)
    verdicts: dict[str, set[str]] = {}
    for finding in result.findings:
        if finding.role in secondary_roles:
            verdicts.setdefault(finding.role, set()).add(
                shape(f"{finding.kind} {finding.action} {finding.resource}", regions)
            )
    per_region: list[Any] = [verdicts.get(name, set()) for name in sorted(secondary_roles)]
    differences = [sorted(v ^ per_region[0]) for v in per_region if v != per_region[0]]
    assert not differences, f"secondary deploy roles are judged differently: {differences[:2]}"
