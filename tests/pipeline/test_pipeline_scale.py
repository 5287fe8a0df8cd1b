"""Adding a region, 20 secondary regions, waves, the S3 source, and referenced stacks that disagree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from offline_support import REPO_ROOT, as_list, of_type
from pipeline_support import (
    PROJECT_TYPE,
    ROLE_TYPE,
    add_secondary,
    copy_tree,
    edit_pipeline_config,
    pipeline_inputs,
    pipeline_of,
    role_policies,
    run_repository,
    stage,
    stages,
    without_delivery,
)

from regionflow.components.pipeline import layout
from regionflow.offline.discovery import discover_stacks
from regionflow.offline.runner import StackResult, StackRunError, run_stacks
from regionflow.regions import SUPPORTED_REGIONS


def deploy_actions(result: StackResult) -> list[dict[str, Any]]:
    return [a for s in stages(result) if s["name"].startswith("Deploy") for a in s["actions"]]


def pipeline_resources(result: StackResult) -> set[str]:
    """Every Resource of the pipeline role's policy."""
    document = role_policies(result)["pipeline-role"]
    return {r for s in document["Statement"] for r in as_list(s["Resource"])}


@pytest.fixture(scope="module")
def baseline() -> StackResult:
    return pipeline_of(run_repository(REPO_ROOT))


def test_adding_a_secondary_adds_one_action_store_project_and_its_permissions(
    tmp_path: Path, baseline: StackResult
) -> None:
    root = copy_tree(tmp_path)
    add_secondary(root, "eu-north-1")
    results = run_repository(root)
    grown = pipeline_of(results)
    new_exports = results["regionflow-secondary/prod-eu-north-1"].exports

    before = {(a["name"], a.get("region")) for a in deploy_actions(baseline)}
    after = {(a["name"], a.get("region")) for a in deploy_actions(grown)}
    assert after - before == {("PulumiUp-eu-north-1", "eu-north-1"), ("RecordDeployment-eu-north-1", "eu-north-1")}
    assert before <= after
    stores_before = pipeline_inputs(baseline)["artifactStores"]
    stores_after = pipeline_inputs(grown)["artifactStores"]
    assert len(stores_after) == len(stores_before) + 1
    (new_store,) = [s for s in stores_after if s not in stores_before]
    assert new_store["region"] == "eu-north-1"
    assert new_store["encryptionKey"]["id"] == new_exports["artifactKeyArn"]

    assert len(of_type(grown, PROJECT_TYPE)) == len(of_type(baseline, PROJECT_TYPE)) + 1
    assert len(of_type(grown, ROLE_TYPE)) == len(of_type(baseline, ROLE_TYPE)) + 1
    added = pipeline_resources(grown) - pipeline_resources(baseline)
    new_project = next(p for p in of_type(grown, PROJECT_TYPE) if p.region == "eu-north-1")
    assert added == {
        new_exports["artifactBucketArn"],
        new_exports["artifactBucketArn"] + "/*",
        new_exports["artifactKeyArn"],
        new_exports["loggerFunctionArn"],
        new_project.outputs["arn"],
    }  # the bakes read every region's health alarm through one pattern (test_delivery.py)
    assert pipeline_resources(baseline) <= pipeline_resources(grown)


def test_twenty_secondary_regions_stay_within_codepipeline_quotas(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    edit_pipeline_config(root, without_delivery)
    taken = {"us-east-1", "eu-west-1", "ap-southeast-2"}
    for region in sorted(SUPPORTED_REGIONS - taken)[:18]:
        add_secondary(root, region)
    result = pipeline_of(run_repository(root))
    secondaries = [s for s in stages(result) if s["name"].startswith(layout.DEPLOY_SECONDARIES)]
    regions = [a["region"] for s in secondaries for a in s["actions"] if a["category"] == "Build"]
    assert len(regions) == len(set(regions)) == 20
    assert all(len(s["actions"]) <= layout.MAX_ACTIONS_PER_STAGE for s in stages(result))
    assert len(secondaries) == 1 and len(secondaries[0]["actions"]) == 40  # 20 regions fit one wave
    assert {a["runOrder"] for a in secondaries[0]["actions"] if a["category"] == "Build"} == {1}
    assert len(pipeline_inputs(result)["artifactStores"]) == 21
    assert len(stages(result)) <= 50  # stages per pipeline quota
    # Policies stay within IAM's inline size limit as regions grow.
    for role, document in role_policies(result).items():
        assert len("".join(json.dumps(document).split())) <= 10240, role


def test_waves_split_beyond_fifty_actions() -> None:
    regions = [f"r{i}" for i in range(29)]  # every supported region but the home one
    waves = layout.waves(regions)
    assert [len(w) for w in waves] == [25, 4]
    assert [r for w in waves for r in w] == regions
    assert layout.secondary_stage_names(2) == ["DeploySecondaries1", "DeploySecondaries2"]
    names = layout.stage_names(29, update_pipeline=False)
    assert names[-3:] == ["DeployPrimary", "DeploySecondaries1", "DeploySecondaries2"]
    assert "UpdatePipeline" not in names
    assert layout.stage_names(0, update_pipeline=False)[-1] == "DeployPrimary"


def test_s3_source_polls_the_primary_bucket_without_triggers(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)

    def change(config: dict[str, Any]) -> None:
        config["regionflow-pipeline:sourceKind"] = "s3"
        config["regionflow-pipeline:updatePipeline"] = False

    edit_pipeline_config(root, change)
    results = run_repository(root)
    result = pipeline_of(results)
    primary = results["regionflow-primary/prod"].exports
    inputs = pipeline_inputs(result)
    assert "triggers" not in inputs
    (action,) = stage(result, "Source")["actions"]
    assert action["provider"] == "S3"
    assert action["configuration"]["S3Bucket"] == primary["artifactBucketName"]
    assert action["configuration"]["S3ObjectKey"] == "source/regionflow.zip"
    assert not of_type(result, "aws:codestarconnections/connection:Connection")
    assert "UpdatePipeline" not in [s["name"] for s in stages(result)]
    record = stage(result, "DeployPrimary")["actions"][1]
    assert json.loads(record["configuration"]["UserParameters"])["commit"] == "#{SourceVariables.VersionId}"
    assert "connectionArn" not in result.exports


def test_drift_detection_can_be_turned_off(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    edit_pipeline_config(root, lambda config: config.update({"regionflow-pipeline:driftDetection": False}))
    result = pipeline_of(run_repository(root))
    assert not of_type(result, "aws:scheduler/schedule:Schedule")
    assert result.exports["permissionsBoundaryArn"] == "arn:aws:iam::123456789012:policy/rflow-prod-deploy-boundary"


def test_a_secondary_entry_with_the_wrong_region_fails_with_one_line(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)

    def change(config: dict[str, Any]) -> None:
        without_delivery(config)  # the sample's waves name eu-west-1
        for entry in config["regionflow-pipeline:secondaryStacks"]:
            if entry["region"] == "eu-west-1":
                entry["region"] = "eu-north-1"

    edit_pipeline_config(root, change)
    with pytest.raises(StackRunError) as caught:
        run_repository(root)
    message = str(caught.value)
    assert message.startswith("regionflow-pipeline/prod: ")
    assert (
        "organization/regionflow-secondary/prod-eu-west-1 exports region/namePrefix/environment eu-west-1/" in message
    )
    assert "Fix: " in message and "\n" not in message


def test_a_bad_pipeline_config_fails_with_one_line(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    edit_pipeline_config(root, lambda config: config.update({"regionflow-pipeline:stateBackendUrl": "s3://x"}))
    with pytest.raises(StackRunError, match=r"regionflow-pipeline:stateBackendUrl: .* Fix: "):
        run_repository(root)


def test_credentials_of_another_account_fail_with_one_line() -> None:
    targets = discover_stacks(REPO_ROOT / "stacks")
    with pytest.raises(StackRunError) as caught:
        list(run_stacks(targets, account_id="210987654321"))
    message = str(caught.value)
    assert message.startswith("regionflow-pipeline/prod: the credentials are for account 210987654321")
    assert "Fix: deploy the pipeline with the backend's account" in message and "\n" not in message
