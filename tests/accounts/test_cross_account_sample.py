"""The cross-account sample (samples/cross-account): one secondary region in account 210987654321.

The offline preview must show the pipeline account's exact roles in every bucket, key and trust policy, ARNs
minted in each resource's own account, and ``regionflow.iamcheck.chain`` must find every link of the chain of
role assumptions intact.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from regionflow.accounts import build_role_arn, pipeline_role_arn
from regionflow.accounts_sample import compose
from regionflow.iamcheck.chain import judge_target_region

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "foundation"))
from preview_support import preview

PIPELINE, TARGET = "123456789012", "210987654321"
ROLES = sorted(
    [
        pipeline_role_arn(PIPELINE, "rflow", "prod", "us-east-1"),
        build_role_arn(PIPELINE, "rflow", "prod", "us-west-2", "deploy"),
    ]
)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = compose(tmp_path_factory.mktemp("xacct") / "repo")
    out = root / "manifests"
    code, output = preview(root, "--quiet", out_dir=out)
    assert code == 0, output
    return {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


def resources(manifest: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in manifest["resources"] if r["type"] == type_]


def policy_of(resource: dict[str, Any]) -> dict[str, Any]:
    value = resource["outputs"].get("policy") or resource["inputs"]["policy"]
    return json.loads(value) if isinstance(value, str) else value


def by_sid(document: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in document["Statement"] if s.get("Sid") == sid)


def test_every_arn_of_the_target_stack_is_in_the_target_account(manifests: dict[str, Any]) -> None:
    target = manifests["regionflow-secondary.prod-us-west-2"]
    arns = [r["outputs"]["arn"] for r in target["resources"] if r["custom"] and "arn" in r["outputs"]]
    assert arns
    for arn in arns:
        account = arn.split(":")[4]
        assert account in (TARGET, ""), arn  # S3 bucket ARNs carry no account
    assert target["exports"]["artifactBucketName"] == f"rflow-prod-usw2-artifacts-{TARGET}"
    # Same-account stacks are untouched: their ARNs stay in the pipeline account.
    other = manifests["regionflow-secondary.prod-eu-west-1"]
    assert other["exports"]["artifactKeyArn"].split(":")[4] == PIPELINE


def test_the_artifact_bucket_and_key_admit_exactly_the_pipeline_roles(manifests: dict[str, Any]) -> None:
    target = manifests["regionflow-secondary.prod-us-west-2"]
    bucket = policy_of(resources(target, "aws:s3/bucketPolicy:BucketPolicy")[0])
    key = policy_of(resources(target, "aws:kms/key:Key")[0])
    for document, sid in (
        (bucket, "PipelineAccountArtifacts"),
        (bucket, "PipelineAccountListsArtifacts"),
        (key, "PipelineAccountUsesKey"),
    ):
        statement = by_sid(document, sid)
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::{PIPELINE}:root"}
        assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": ROLES}}
    assert not any("kms:*" in json.dumps(s) for s in key["Statement"])
    # A same-account stack's bucket and key name no other account.
    same = manifests["regionflow-secondary.prod-eu-west-1"]
    assert "PipelineAccount" not in json.dumps(policy_of(resources(same, "aws:kms/key:Key")[0]))


def test_the_pipeline_reaches_the_target_only_through_its_roles(manifests: dict[str, Any]) -> None:
    pipeline = manifests["regionflow-pipeline.prod"]
    projects = {r["outputs"]["name"]: r for r in resources(pipeline, "aws:codebuild/project:Project")}
    env = {
        v["name"]: v["value"]
        for v in projects["rflow-prod-usw2-deploy"]["inputs"]["environment"]["environmentVariables"]
    }
    assert env["REGIONFLOW_TARGET_PROFILES"] == f"{TARGET}=arn:aws:iam::{TARGET}:role/rflow-prod-usw2-pipeline-deploy"
    same = {v["name"] for v in projects["rflow-prod-euw1-deploy"]["inputs"]["environment"]["environmentVariables"]}
    assert "REGIONFLOW_TARGET_PROFILES" not in same
    stages = resources(pipeline, "aws:codepipeline/pipeline:Pipeline")[0]["inputs"]["stages"]
    actions = {a["name"]: a for stage in stages for a in stage["actions"]}
    assert (
        actions["RecordDeployment-us-west-2"]["roleArn"]
        == f"arn:aws:iam::{TARGET}:role/rflow-prod-usw2-pipeline-invoke"
    )
    assert "roleArn" not in actions["RecordDeployment-eu-west-1"]


def test_iam_check_follows_the_chain_of_role_assumptions(manifests: dict[str, Any]) -> None:
    pipeline = manifests["regionflow-pipeline.prod"]
    policies: dict[str, list[str]] = {}
    for resource in resources(pipeline, "aws:iam/rolePolicy:RolePolicy"):
        role = resource["inputs"]["role"]
        policies.setdefault(f"arn:aws:iam::{PIPELINE}:role/{role}", []).append(json.dumps(policy_of(resource)))
    target = manifests["regionflow-secondary.prod-us-west-2"]
    links = judge_target_region(
        pipeline_account=PIPELINE,
        target_account=TARGET,
        name_prefix="rflow",
        environment="prod",
        home_region="us-east-1",
        region="us-west-2",
        pipeline_policies=policies,
        bucket_arn=target["exports"]["artifactBucketArn"],
        bucket_policy=json.dumps(policy_of(resources(target, "aws:s3/bucketPolicy:BucketPolicy")[0])),
        key_arn=target["exports"]["artifactKeyArn"],
        key_policy=json.dumps(policy_of(resources(target, "aws:kms/key:Key")[0])),
    )
    broken = [link.line() for link in links if not link.allowed]
    assert broken == []
    kinds = {link.what.split(" of ")[0] for link in links}
    assert {"may assume", "trust", "deploy role", "own policy", "trust refuses other roles"} <= kinds
    assert any(link.what == "may assume" and link.resource.endswith("pipeline-read") for link in links)


def test_a_broken_link_is_found(manifests: dict[str, Any]) -> None:
    """A deploy build whose policy lacks the AssumeRole grant, and a key policy without the pipeline's statement."""
    pipeline = manifests["regionflow-pipeline.prod"]
    target = manifests["regionflow-secondary.prod-us-west-2"]
    key = policy_of(resources(target, "aws:kms/key:Key")[0])
    key["Statement"] = [s for s in key["Statement"] if s.get("Sid") != "PipelineAccountUsesKey"]
    links = judge_target_region(
        pipeline_account=PIPELINE,
        target_account=TARGET,
        name_prefix="rflow",
        environment="prod",
        home_region="us-east-1",
        region="us-west-2",
        pipeline_policies={},
        bucket_arn=target["exports"]["artifactBucketArn"],
        bucket_policy=json.dumps(policy_of(resources(target, "aws:s3/bucketPolicy:BucketPolicy")[0])),
        key_arn=target["exports"]["artifactKeyArn"],
        key_policy=json.dumps(key),
    )
    broken = {(link.what, link.action) for link in links if not link.allowed}
    assert ("may assume", "sts:AssumeRole") in broken
    assert any(what.startswith("key policy of") and action == "kms:Decrypt" for what, action in broken)
    assert pipeline  # the pipeline manifest was read


def test_a_bake_leaves_out_the_region_of_another_account(manifests: dict[str, Any]) -> None:
    """A CloudWatchAlarm rule reads alarms of the pipeline account only (docs/accounts.md, Known limit: bakes):
    the wave's condition watches its same-account regions and leaves the other account's region out."""
    pipeline = manifests["regionflow-pipeline.prod"]
    stages = resources(pipeline, "aws:codepipeline/pipeline:Pipeline")[0]["inputs"]["stages"]
    rules = [
        rule
        for stage in stages
        for rule in ((stage.get("onSuccess") or {}).get("condition") or {}).get("rules") or []
    ]
    watched = {rule["region"] for rule in rules}
    assert "us-west-2" not in watched and "eu-west-1" in watched
    assert all(rule["configuration"]["AlarmName"].split("-")[2] != "usw2" for rule in rules)
