"""The pipeline stack under the offline engine, fed by the regional stacks' own offline exports."""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from offline_support import REPO_ROOT, as_list, of_type, one
from parliament import analyze_policy_string
from pipeline_support import (
    PROJECT_TYPE,
    ROLE_TYPE,
    by_name,
    pipeline_inputs,
    pipeline_of,
    role_policies,
    run_repository,
    stage,
    stages,
)

from regionflow.boundary import BOUNDED_ROLE_ACTIONS, boundary_arn, boundary_document
from regionflow.components.pipeline import layout
from regionflow.contract import ARTIFACT_BUCKET_NAME, ARTIFACT_KEY_ARN, LOGGER_FUNCTION_NAME, REGION
from regionflow.iam import UNSCOPABLE_ACTIONS
from regionflow.offline.runner import StackResult

sys.path.insert(0, str(REPO_ROOT / "functions" / "deployment_logger"))
from deployment_logger.models import DeploymentParameters

# IAM quotas: a managed policy holds at most 6,144 characters, a role's inline policies together
# 10,240 (whitespace not counted).
MANAGED_POLICY_LIMIT = 6144
INLINE_POLICIES_LIMIT = 10240
# Every statement allowed to use Resource "*", and why (besides iam.UNSCOPABLE_ACTIONS itself).
WILDCARD_STATEMENTS = {
    "ListKeyAliases",  # kms:ListAliases (deploys and drift): no resource type
    "UnscopedReads",  # logs:DescribeLogGroups, sns:GetSubscriptionAttributes, sns:Unsubscribe: no resource type
}


@pytest.fixture(scope="module")
def results() -> dict[str, StackResult]:
    return run_repository(REPO_ROOT)


@pytest.fixture(scope="module")
def pipeline(results: dict[str, StackResult]) -> StackResult:
    return pipeline_of(results)


def regional_exports(results: dict[str, StackResult]) -> dict[str, dict[str, Any]]:
    """Region -> exports of that region's stack."""
    return {r.exports[REGION]: r.exports for label, r in results.items() if not label.startswith("regionflow-pipeline")}


def test_stage_order(pipeline: StackResult) -> None:
    names = [s["name"] for s in stages(pipeline)]
    assert names == [
        "Source",
        "Build",
        "Preview",
        "SecurityScan",
        # The approval (with the IAM gate) before UpdatePipeline applies a change of the pipeline stack: applied
        # first, the restarted execution's Preview would no longer show it and the gate would skip the approval.
        "Approval",
        "UpdatePipeline",
        "DeployPrimary",
        # The sample's waves: [[eu-west-1]], then the regions no wave names (docs/delivery.md).
        "DeployWave1",
        "DeployWave2",
    ]
    assert names[: -2] == layout.stage_names(0, update_pipeline=True)


def test_v2_queued_with_push_trigger_filters(pipeline: StackResult) -> None:
    inputs = pipeline_inputs(pipeline)
    assert inputs["pipelineType"] == "V2"
    assert inputs["executionMode"] == "QUEUED"
    (trigger,) = inputs["triggers"]
    assert trigger["providerType"] == "CodeStarSourceConnection"
    git = trigger["gitConfiguration"]
    assert git["sourceActionName"] == "Source"
    (push,) = git["pushes"]
    assert push["branches"]["includes"] == ["main"]
    assert push["filePaths"]["includes"] == ["stacks/**", "shared/**", "functions/**", "constraints.txt"]


def test_source_uses_the_connection_without_tokens(pipeline: StackResult) -> None:
    (action,) = stage(pipeline, "Source")["actions"]
    connection = one(pipeline, "aws:codestarconnections/connection:Connection")
    assert connection.inputs["providerType"] == "GitHub"
    assert action["provider"] == "CodeStarSourceConnection"
    assert action["configuration"]["ConnectionArn"] == connection.outputs["arn"]
    assert action["configuration"]["FullRepositoryId"] == "acme/regionflow"
    assert action["namespace"] == "SourceVariables"
    assert not any("token" in key.lower() for key in action["configuration"])


def test_one_artifact_store_per_region_with_that_regions_key(
    pipeline: StackResult, results: dict[str, StackResult]
) -> None:
    exports = regional_exports(results)
    stores = {s["region"]: s for s in pipeline_inputs(pipeline)["artifactStores"]}
    assert set(stores) == set(exports) == {"us-east-1", "eu-west-1", "ap-southeast-2"}
    for region, store in stores.items():
        assert store["type"] == "S3"
        assert store["location"] == exports[region][ARTIFACT_BUCKET_NAME]
        assert store["encryptionKey"] == {"id": exports[region][ARTIFACT_KEY_ARN], "type": "KMS"}
        assert store["encryptionKey"]["id"].startswith(f"arn:aws:kms:{region}:")


def test_secondaries_deploy_in_their_waves_each_in_its_region(
    pipeline: StackResult, results: dict[str, StackResult]
) -> None:
    exports = regional_exports(results)
    actions = [*stage(pipeline, "DeployWave1")["actions"], *stage(pipeline, "DeployWave2")["actions"]]
    assert [a["region"] for a in stage(pipeline, "DeployWave1")["actions"]] == ["eu-west-1", "eu-west-1"]
    deploys = [a for a in actions if a["category"] == "Build"]
    records = [a for a in actions if a["category"] == "Invoke"]
    assert {a["runOrder"] for a in deploys} == {1}  # same run order: parallel
    assert {a["runOrder"] for a in records} == {2}  # after every deploy of the wave
    assert sorted(a["region"] for a in deploys) == ["ap-southeast-2", "eu-west-1"]
    projects = {p.outputs["name"]: p for p in of_type(pipeline, PROJECT_TYPE)}
    for action in deploys:
        project = projects[action["configuration"]["ProjectName"]]
        assert project.region == action["region"]  # the project lives where the action runs
        assert project.inputs["encryptionKey"] == exports[action["region"]][ARTIFACT_KEY_ARN]
    for action in records:
        assert action["provider"] == "Lambda"
        assert action["configuration"]["FunctionName"] == exports[action["region"]][LOGGER_FUNCTION_NAME]


def test_primary_deploys_in_the_home_region_then_records(pipeline: StackResult) -> None:
    deploy, record = stage(pipeline, "DeployPrimary")["actions"]
    assert (deploy["category"], deploy["region"], deploy["runOrder"]) == ("Build", "us-east-1", 1)
    assert (record["category"], record["region"], record["runOrder"]) == ("Invoke", "us-east-1", 2)


def test_logger_user_parameters_follow_the_functions_schema(pipeline: StackResult) -> None:
    for name in ("DeployPrimary", "DeployWave1", "DeployWave2"):
        for action in stage(pipeline, name)["actions"]:
            if action["category"] != "Invoke":
                continue
            raw = action["configuration"]["UserParameters"]
            parsed = DeploymentParameters.from_user_parameters(raw)  # the function's own validation
            document = json.loads(raw)
            assert document["stage"] == name and document["region"] == action["region"]
            assert document["commit"] == "#{SourceVariables.CommitId}"
            assert document["executionId"] == "#{codepipeline.PipelineExecutionId}"
            assert parsed.stack.startswith("organization/regionflow-")


def test_deploy_stages_roll_back_and_check_stages_retry_once(pipeline: StackResult) -> None:
    """A stage's onFailure has one result (API reference FailureConditions): deploys roll back, checks retry."""
    retry = {"result": "RETRY", "retryConfiguration": {"retryMode": "FAILED_ACTIONS"}}
    for item in stages(pipeline):
        if item["name"].startswith("Deploy"):
            assert item["onFailure"] == {"result": "ROLLBACK"}, item["name"]
        elif item["name"] in ("Build", "Preview", "SecurityScan"):
            assert item["onFailure"] == retry, item["name"]
        else:
            # Source and UpdatePipeline (which stops and restarts executions) are never retried blindly.
            assert "onFailure" not in item, item["name"]


def test_approval_notifies_the_topic_names_the_commit_and_times_out(pipeline: StackResult) -> None:
    (action,) = stage(pipeline, "Approval")["actions"]
    topic = one(pipeline, "aws:sns/topic:Topic")
    assert (action["category"], action["provider"]) == ("Approval", "Manual")
    assert action["configuration"]["NotificationArn"] == topic.outputs["arn"]
    assert "#{SourceVariables.CommitId}" in action["configuration"]["CustomData"]
    assert action["timeoutInMinutes"] == 1440


def test_update_pipeline_restarts_with_the_same_revision(pipeline: StackResult) -> None:
    (action,) = stage(pipeline, "UpdatePipeline")["actions"]
    env = {v["name"]: v["value"] for v in json.loads(action["configuration"]["EnvironmentVariables"])}
    assert env == {
        "PIPELINE_EXECUTION_ID": "#{codepipeline.PipelineExecutionId}",
        "SOURCE_REVISION": "#{SourceVariables.CommitId}",
    }
    project = next(
        p for p in of_type(pipeline, PROJECT_TYPE) if p.outputs["name"] == action["configuration"]["ProjectName"]
    )
    variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
    assert variables["STACK_DIR"] == "stacks/pipeline"
    assert variables["STACK_NAME"] == "organization/regionflow-pipeline/prod"
    assert variables["REVISION_TYPE"] == "COMMIT_ID"


def test_build_projects_are_unprivileged_encrypted_and_log_to_their_own_group(
    pipeline: StackResult, results: dict[str, StackResult]
) -> None:
    exports = regional_exports(results)
    groups = {g.outputs["name"]: g for g in of_type(pipeline, "aws:cloudwatch/logGroup:LogGroup")}
    roles = {r.outputs["arn"]: r for r in of_type(pipeline, ROLE_TYPE)}
    projects = of_type(pipeline, PROJECT_TYPE)
    assert len({p.inputs["serviceRole"] for p in projects}) == len(projects)  # one role per project
    for project in projects:
        environment = project.inputs["environment"]
        assert environment["privilegedMode"] is False
        region = project.region
        assert project.inputs["encryptionKey"] == exports[region][ARTIFACT_KEY_ARN]
        group = groups[project.inputs["logsConfig"]["cloudwatchLogs"]["groupName"]]
        assert group.region == region and group.inputs["kmsKeyId"] == exports[region][ARTIFACT_KEY_ARN]
        assert roles[project.inputs["serviceRole"]].inputs["permissionsBoundary"]
        spec = yaml.safe_load(project.inputs["source"]["buildspec"])
        assert str(spec["version"]) == "0.2"


# The account's boundary, as regionflow.boundary derives it for the offline account and the sample config.
BOUNDARY = boundary_arn("123456789012", "rflow", "prod")


def test_deploy_projects_pin_the_cli_and_set_no_config(pipeline: StackResult) -> None:
    deploys = [p for p in of_type(pipeline, PROJECT_TYPE) if p.outputs["name"].endswith("-deploy")]
    assert len(deploys) == 3
    for project in deploys:
        variables = {v["name"]: v["value"] for v in project.inputs["environment"]["environmentVariables"]}
        assert variables["PULUMI_VERSION"] == "3.272.0"
        assert variables["PULUMI_BACKEND_URL"].startswith("s3://")
        assert variables["PULUMI_SECRETS_PROVIDER"].startswith("awskms://")
        # The program derives the boundary from the naming: nothing to pass, nothing to `pulumi config set`.
        assert "PERMISSIONS_BOUNDARY_ARN" not in variables
        assert variables["STACK_NAME"].startswith("organization/regionflow-")


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["Statement"])


def test_every_iam_statement_names_specific_arns(pipeline: StackResult) -> None:
    wildcard_sids: set[str] = set()
    for role, document in role_policies(pipeline).items():
        for statement in _statements(document):
            if statement["Effect"] != "Allow":
                continue
            resources = as_list(statement["Resource"])
            actions = as_list(statement["Action"])
            assert all(a != "*" and not a.endswith(":*") for a in actions), (role, statement["Sid"])
            if "*" in resources:
                assert resources == ["*"], (role, statement["Sid"])
                assert all(a in UNSCOPABLE_ACTIONS for a in actions), (role, statement["Sid"])
                wildcard_sids.add(statement["Sid"])
            for resource in resources:
                assert resource == "*" or resource.startswith("arn:aws:"), (role, resource)
    assert wildcard_sids == WILDCARD_STATEMENTS


def test_pipeline_role_reaches_exactly_its_resources(pipeline: StackResult, results: dict[str, StackResult]) -> None:
    exports = regional_exports(results)
    document = role_policies(pipeline)["pipeline-role"]
    by_sid = {s["Sid"]: s for s in _statements(document)}
    assert sorted(as_list(by_sid["ArtifactKeys"]["Resource"])) == sorted(e[ARTIFACT_KEY_ARN] for e in exports.values())
    projects = sorted(p.outputs["arn"] for p in of_type(pipeline, PROJECT_TYPE) if "drift" not in p.name)
    assert sorted(as_list(by_sid["RunBuilds"]["Resource"])) == projects
    loggers = sorted(e["loggerFunctionArn"] for e in exports.values())
    assert sorted(as_list(by_sid["InvokeLoggers"]["Resource"])) == loggers
    connection = one(pipeline, "aws:codestarconnections/connection:Connection").outputs["arn"]
    assert by_sid["UseSourceConnection"]["Resource"] == connection
    assert sorted(as_list(by_sid["UseSourceConnection"]["Action"])) == [
        "codeconnections:UseConnection",
        "codestar-connections:UseConnection",
    ]
    # The pipeline passes no role: each project runs as its own service role.
    assert not any("iam:PassRole" in as_list(s["Action"]) for s in _statements(document))


def test_role_changes_require_the_boundary_and_passrole_names_its_service(pipeline: StackResult) -> None:
    boundary = BOUNDARY
    assert not of_type(pipeline, "aws:iam/policy:Policy")  # the boundary belongs to the account (bootstrap)
    for role, document in role_policies(pipeline).items():
        for statement in _statements(document):
            actions = set(as_list(statement["Action"]))
            if actions & set(BOUNDED_ROLE_ACTIONS):
                assert statement["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": boundary}}, role
            if "iam:PassRole" in actions:
                assert actions == {"iam:PassRole"}
                assert "iam:PassedToService" in statement["Condition"]["StringEquals"], role
    roles = of_type(pipeline, ROLE_TYPE)
    assert roles and all(r.inputs.get("permissionsBoundary") == boundary for r in roles)


def test_regional_deploy_reaches_only_its_regions_prefix(pipeline: StackResult) -> None:
    document = role_policies(pipeline)["pipeline-deploy-eu-west-1-role"]
    by_sid = {s["Sid"]: s for s in _statements(document)}
    assert (
        by_sid["ManageLoggerFunction"]["Resource"] == "arn:aws:lambda:eu-west-1:123456789012:function:rflow-prod-euw1-*"
    )
    # The artifact bucket by its exact name: never the state bucket, whose name shares the prefix.
    assert by_sid["ManageArtifactBucket"]["Resource"] == "arn:aws:s3:::rflow-prod-euw1-artifacts-123456789012"
    role = "arn:aws:iam::123456789012:role/rflow-prod-euw1-deploy-logger"
    assert by_sid["LoggerRoleWithBoundary"]["Resource"] == role
    assert by_sid["LoggerRolePass"]["Condition"] == {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    # Keys are made by their region owner's first deploy, never by the pipeline (see regional_deploy_statements).
    assert not any("kms:CreateKey" in as_list(s["Action"]) for s in _statements(document))
    assert not any("AdministratorAccess" in json.dumps(d) for d in role_policies(pipeline).values())
    assert not of_type(pipeline, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")


def test_role_policies_fit_iam_limits(pipeline: StackResult) -> None:
    for role, policy in role_policies(pipeline).items():
        assert len("".join(json.dumps(policy).split())) <= INLINE_POLICIES_LIMIT, role


def test_policies_pass_parliament(pipeline: StackResult) -> None:
    documents = {**role_policies(pipeline), "boundary": json.loads(boundary_document("123456789012", "rflow", "prod"))}
    for name, document in documents.items():
        findings = analyze_policy_string(json.dumps(document)).findings
        # UNKNOWN_ACTION / UNKNOWN_PREFIX would mean a misspelt action that AWS silently ignores.
        bad = [f for f in findings if f.issue in ("UNKNOWN_ACTION", "UNKNOWN_PREFIX", "MALFORMED", "UNKNOWN_OPERATOR")]
        assert not bad, (name, [(f.issue, f.detail) for f in bad])


def test_exports(pipeline: StackResult) -> None:
    exports = pipeline.exports
    assert exports["pipelineName"] == "rflow-prod-use1-pipeline"
    assert exports["pipelineArn"] == "arn:aws:codepipeline:us-east-1:123456789012:rflow-prod-use1-pipeline"
    assert exports["permissionsBoundaryArn"] == BOUNDARY
    assert exports["connectionArn"].startswith("arn:aws:codestar-connections:us-east-1:123456789012:connection/")
    assert "handshake" in exports["connectionNote"]
    assert exports["notificationTopicArn"].startswith("arn:aws:sns:us-east-1:")
    assert set(exports["buildRoleArns"]) == {
        "build",
        "preview",
        "scan",
        "update",
        "deploy-us-east-1",
        "deploy-eu-west-1",
        "deploy-ap-southeast-2",
    }


def test_names_derive_from_the_component(pipeline: StackResult) -> None:
    roles = by_name(pipeline, ROLE_TYPE)
    assert roles["pipeline-deploy-eu-west-1-role"].outputs["name"] == "rflow-prod-euw1-deploy"
    assert roles["pipeline-role"].outputs["name"] == "rflow-prod-use1-pipeline"
    assert Path(REPO_ROOT / "stacks" / "pipeline" / "__main__.py").read_text().count("\n") < 15  # thin program


def test_boundary_allows_every_action_the_roles_are_granted(
    pipeline: StackResult, results: dict[str, StackResult]
) -> None:
    """A boundary that missed an action would silently deny it to every role: none may be missing."""
    boundary = json.loads(boundary_document("123456789012", "rflow", "prod"))
    allowed = [a.lower() for s in _statements(boundary) if s["Effect"] == "Allow" for a in as_list(s["Action"])]
    documents = dict(role_policies(pipeline))
    for label, result in results.items():
        if not label.startswith("regionflow-pipeline"):
            documents.update({f"{label}:{k}": v for k, v in role_policies(result).items()})  # the logger roles
    assert sum("deploy-logger" in role for role in documents) == 3
    for role, document in documents.items():
        for statement in _statements(document):
            for action in as_list(statement["Action"]):
                assert any(fnmatch.fnmatchcase(action.lower(), pattern) for pattern in allowed), (role, action)


def test_the_home_regions_failure_rule_names_this_pipeline(
    pipeline: StackResult, results: dict[str, StackResult]
) -> None:
    """The primary stack routes the pipeline's failures by a name it derives before the pipeline exists."""
    rule = one(results["regionflow-primary/prod"], "aws:cloudwatch/eventRule:EventRule")
    assert json.loads(rule.inputs["eventPattern"])["detail"]["pipeline"] == [pipeline.exports["pipelineName"]]
