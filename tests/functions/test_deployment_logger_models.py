"""UserParameters schema, deployment records, event parsing and the state-change rules (pure code)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from deployment_logger.errors import (
    InvalidEventError,
    MissingJobIdError,
    UnsupportedEventError,
    UserParametersError,
)
from deployment_logger.models import (
    DeploymentParameters,
    DeploymentRecord,
    EventKind,
    Scope,
    StateChange,
    classify_event,
    job_id_of,
    utc_timestamp,
)
from deployment_logger.state_changes import (
    Reaction,
    build_notification,
    console_url,
    decide,
    deployment_region,
    sns_subject,
)

# The example from the function's README (the contract with the pipeline stack).
EXAMPLE = {
    "pipeline": "regionflow-prod",
    "executionId": "12345678-1234-5678-abcd-12345678abcd",
    "stage": "DeployPrimary",
    "region": "eu-west-1",
    "stack": "organization/regionflow-secondary/prod-eu-west-1",
    "commit": "8cf40f2b7e4c1d9a0b3f5e6d7c8b9a0f1e2d3c4b",
    "status": "Succeeded",
}


def params(**changes: Any) -> str:
    document: dict[str, Any] = dict(EXAMPLE)
    for key, value in changes.items():
        if value is ...:
            document.pop(key)
        else:
            document[key] = value
    return json.dumps(document)


def test_documented_example_parses() -> None:
    parsed = DeploymentParameters.from_user_parameters(json.dumps(EXAMPLE))
    assert parsed == DeploymentParameters(
        pipeline="regionflow-prod",
        execution_id="12345678-1234-5678-abcd-12345678abcd",
        stage="DeployPrimary",
        region="eu-west-1",
        stack="organization/regionflow-secondary/prod-eu-west-1",
        commit="8cf40f2b7e4c1d9a0b3f5e6d7c8b9a0f1e2d3c4b",
        status="Succeeded",
    )


def test_status_is_optional_and_defaults_to_succeeded() -> None:
    assert DeploymentParameters.from_user_parameters(params(status=...)).status == "Succeeded"
    assert DeploymentParameters.from_user_parameters(params(status="Failed")).status == "Failed"


def test_user_parameters_round_trip() -> None:
    parsed = DeploymentParameters.from_user_parameters(params(status="Failed"))
    assert json.loads(parsed.to_user_parameters()) == {**EXAMPLE, "status": "Failed"}
    assert DeploymentParameters.from_user_parameters(parsed.to_user_parameters()) == parsed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            None,
            (
                "UserParameters is missing: configure the Invoke action with a JSON object with keys "
                "pipeline, executionId, stage, region, stack, commit"
            ),
        ),
        (
            "pipeline=regionflow-prod",
            "UserParameters is not valid JSON (Expecting value at line 1 column 1)",
        ),
        (
            '{"pipeline": ',
            "UserParameters is not valid JSON (Expecting value at line 1 column 14)",
        ),
        ('"just a string"', "UserParameters must be a JSON object, got a JSON string"),
        ("[1, 2]", "UserParameters must be a JSON object, got a JSON array"),
        ("null", "UserParameters must be a JSON object, got a JSON null"),
        (params(commit=...), "UserParameters is missing the required key 'commit'"),
        (
            params(executionId=...),
            "UserParameters is missing the required key 'executionId'",
        ),
        (
            params(region=42),
            "UserParameters key 'region' must be a string, got a JSON number",
        ),
        (
            params(stack=True),
            "UserParameters key 'stack' must be a string, got a JSON boolean",
        ),
        (
            params(stage=None),
            "UserParameters key 'stage' must be a string, got a JSON null",
        ),
        (params(pipeline=""), "UserParameters key 'pipeline' must not be empty"),
        (params(commit="  "), "UserParameters key 'commit' must not be empty"),
        (
            params(region="Ireland"),
            ("UserParameters key 'region' must be an AWS Region code such as eu-west-1, got 'Ireland'"),
        ),
        (
            params(status="succeeded"),
            ("UserParameters key 'status' must be one of Succeeded, Failed, got 'succeeded'"),
        ),
        (
            params(status=1),
            "UserParameters key 'status' must be one of Succeeded, Failed, got 1",
        ),
        (
            params(Status="Failed"),
            (
                "UserParameters has unknown key(s) 'Status': allowed keys are pipeline, "
                "executionId, stage, region, stack, commit, status"
            ),
        ),
    ],
)
def test_malformed_user_parameters_are_rejected_precisely(raw: object, expected: str) -> None:
    with pytest.raises(UserParametersError) as raised:
        DeploymentParameters.from_user_parameters(raw)
    assert str(raised.value) == expected


def test_non_string_user_parameters_are_rejected() -> None:
    with pytest.raises(UserParametersError, match="must be a string holding a JSON object, got dict"):
        DeploymentParameters.from_user_parameters(EXAMPLE)


def test_deployment_record_carries_every_field_and_a_utc_timestamp() -> None:
    parameters = DeploymentParameters.from_user_parameters(params(status="Failed"))
    moment = datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))

    record = DeploymentRecord.create(job_id="job-1", account_id="111111111111", parameters=parameters, now=moment)

    assert record.as_dict() == {
        "job_id": "job-1",
        "account_id": "111111111111",
        "pipeline": "regionflow-prod",
        "execution_id": "12345678-1234-5678-abcd-12345678abcd",
        "stage": "DeployPrimary",
        "region": "eu-west-1",
        "stack": "organization/regionflow-secondary/prod-eu-west-1",
        "commit": "8cf40f2b7e4c1d9a0b3f5e6d7c8b9a0f1e2d3c4b",
        "status": "Failed",
        "recorded_at": "2024-05-01T12:30:15.123Z",
    }
    assert record.metric_name == "DeploymentsFailed"


def test_utc_timestamp_defaults_to_now_in_utc() -> None:
    before = datetime.now(UTC)
    parameters = DeploymentParameters.from_user_parameters(params())
    record = DeploymentRecord.create(job_id="j", account_id="a", parameters=parameters)
    after = datetime.now(UTC)

    recorded = datetime.strptime(record.recorded_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(milliseconds=1) <= recorded <= after
    assert record.metric_name == "DeploymentsSucceeded"
    assert utc_timestamp(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000Z"


# --- event classification -----------------------------------------------------------------------


def test_classify_event_kinds(load_event: Any) -> None:
    assert classify_event(load_event("codepipeline_job.json")) is EventKind.JOB
    assert classify_event(load_event("pipeline_failed.json")) is EventKind.STATE_CHANGE


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (None, "event must be a JSON object, got null (NoneType)"),
        ([{"CodePipeline.job": {}}], "event must be a JSON object, got array (list)"),
        ("CodePipeline.job", "event must be a JSON object, got string (str)"),
        (
            {"Records": [], "eventSource": "aws:sqs"},
            (
                "event is neither a CodePipeline job (no 'CodePipeline.job' key) nor an EventBridge event "
                "(no 'source'/'detail-type'); its top-level keys: Records, eventSource"
            ),
        ),
    ],
)
def test_unknown_shapes_are_unsupported(event: object, expected: str) -> None:
    with pytest.raises(UnsupportedEventError) as raised:
        classify_event(event)
    assert str(raised.value) == expected


@pytest.mark.parametrize("job", [{}, {"id": ""}, {"id": 7}, "11111111-abcd-1111-abcd-111111abcdef", None])
def test_job_without_usable_id(job: object) -> None:
    with pytest.raises(MissingJobIdError, match=r"^CodePipeline job event has no job id"):
        job_id_of({"CodePipeline.job": job})


def test_parse_documented_action_failure(load_event: Any) -> None:
    change = StateChange.from_event(load_event("action_failed_deploy_build.json"))
    assert change == StateChange(
        scope=Scope.ACTION,
        event_id="01234569-EXAMPLE",
        account="123456789012",
        region="us-west-2",
        time="2020-01-31T18:55:43Z",
        pipeline="myPipeline",
        execution_id="12345678-1234-5678-abcd-12345678abcd",
        state="FAILED",
        stage="DeploySecondary",
        action="PulumiUp",
        action_category="Build",
        action_provider="CodeBuild",
        action_region="eu-west-1",
        summary="Build terminated with state: FAILED",
    )


@pytest.mark.parametrize(
    ("fixture", "mutate", "error", "message"),
    [
        (
            "pipeline_failed.json",
            lambda e: e.update(source="aws.codebuild"),
            UnsupportedEventError,
            "EventBridge event source 'aws.codebuild' is not supported: only 'aws.codepipeline'",
        ),
        (
            "pipeline_failed.json",
            lambda e: e.update({"detail-type": "CodePipeline Rule Execution State Change"}),
            UnsupportedEventError,
            (
                "EventBridge detail-type 'CodePipeline Rule Execution State Change' is not "
                "supported: expected one of CodePipeline Pipeline Execution State Change, CodePipeline Stage Execution "
                "State Change, CodePipeline Action Execution State Change"
            ),
        ),
        (
            "pipeline_failed.json",
            lambda e: e.pop("id"),
            InvalidEventError,
            "CodePipeline Pipeline Execution State Change event has no usable 'id' (a non-empty string is required)",
        ),
        (
            "pipeline_failed.json",
            lambda e: e["detail"].pop("pipeline"),
            InvalidEventError,
            (
                "CodePipeline Pipeline Execution State Change event has no usable 'detail.pipeline' (a non-empty "
                "string is required)"
            ),
        ),
        (
            "stage_failed.json",
            lambda e: e["detail"].pop("stage"),
            InvalidEventError,
            (
                "CodePipeline Stage Execution State Change event has no usable 'detail.stage' (a non-empty string "
                "is required)"
            ),
        ),
        (
            "action_failed.json",
            lambda e: e.update(detail="FAILED"),
            InvalidEventError,
            "CodePipeline Action Execution State Change event has no 'detail' object",
        ),
    ],
)
def test_state_change_parsing_errors(load_event: Any, fixture: str, mutate: Any, error: type, message: str) -> None:
    event = load_event(fixture)
    mutate(event)
    with pytest.raises(error) as raised:
        StateChange.from_event(event)
    assert str(raised.value) == message


# --- state-change rules ---------------------------------------------------------------------------


def change(scope: Scope = Scope.ACTION, state: str = "FAILED", **fields: Any) -> StateChange:
    values: dict[str, Any] = {
        "scope": scope,
        "event_id": "e-1",
        "account": "123456789012",
        "region": "us-west-2",
        "time": "2020-01-31T18:55:43Z",
        "pipeline": "regionflow-prod",
        "execution_id": "exec-1",
        "state": state,
        "stage": "DeployPrimary",
        "action": "PulumiUp",
        "action_category": "Build",
    }
    values.update(fields)
    return StateChange(**values)


@pytest.mark.parametrize(
    ("candidate", "reaction"),
    [
        (
            change(Scope.PIPELINE, stage=None, action=None, action_category=None),
            Reaction.NOTIFY,
        ),
        (change(Scope.STAGE, action=None, action_category=None), Reaction.NOTIFY),
        (change(Scope.PIPELINE, state="SUCCEEDED"), Reaction.IGNORE),
        (change(Scope.STAGE, state="STOPPED"), Reaction.IGNORE),
        (change(), Reaction.COUNT_FAILED_DEPLOYMENT),
        (
            change(action_category="Invoke", stage="DeploySecondary"),
            Reaction.COUNT_FAILED_DEPLOYMENT,
        ),
        (change(state="SUCCEEDED"), Reaction.IGNORE),
        (change(state="ABANDONED"), Reaction.IGNORE),
        (change(action_category="Deploy"), Reaction.IGNORE),
        (change(action_category="Approval"), Reaction.IGNORE),
        (change(action_category=None), Reaction.IGNORE),
        (change(stage="Build"), Reaction.IGNORE),
        (change(stage="PreDeploy"), Reaction.IGNORE),
    ],
)
def test_decide(candidate: StateChange, reaction: Reaction) -> None:
    assert decide(candidate) is reaction


def test_deployment_region_prefers_the_action_region() -> None:
    assert deployment_region(change(action_region="eu-central-1")) == "eu-central-1"
    assert deployment_region(change(action_region=None)) == "us-west-2"


def test_console_url_quotes_names() -> None:
    url = console_url(change(pipeline="my pipeline/x", execution_id="id#1"))
    assert url == (
        "https://us-west-2.console.aws.amazon.com/codesuite/codepipeline/pipelines/my%20pipeline%2Fx"
        "/executions/id%231/timeline?region=us-west-2"
    )


def test_stage_notification_text() -> None:
    notification = build_notification(change(Scope.STAGE, action=None, summary=None))
    assert notification.subject == "[us-west-2] Stage DeployPrimary of pipeline regionflow-prod failed"
    assert notification.message.splitlines() == [
        "Stage DeployPrimary of pipeline regionflow-prod failed.",
        "",
        "Pipeline:     regionflow-prod",
        "Stage:        DeployPrimary",
        "Execution ID: exec-1",
        "State:        FAILED",
        "Region:       us-west-2",
        "Account:      123456789012",
        "Time:         2020-01-31T18:55:43Z",
        (
            "Console:      https://us-west-2.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
            "regionflow-prod/executions/exec-1/timeline?region=us-west-2"
        ),
        "",
        "EventBridge event id: e-1",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pipeline p failed", "Pipeline p failed"),
        (
            "Stage Déploiement\nof  pipeline\tp failed",
            "Stage Deploiement of pipeline p failed",
        ),
        ("Stage 部署 failed", "Stage ?? failed"),
        ("\n\n", "CodePipeline failure"),
        ("x" * 150, "x" * 97 + "..."),
    ],
)
def test_sns_subject_is_one_line_of_at_most_100_printable_ascii(text: str, expected: str) -> None:
    subject = sns_subject(text)
    assert subject == expected
    assert len(subject) <= 100
    assert all(" " <= char <= "~" for char in subject)


def test_readme_example_user_parameters_are_valid() -> None:
    # The README is what the pipeline stack's author follows: its example must stay valid.
    readme = (Path(__file__).resolve().parents[2] / "functions" / "deployment_logger" / "README.md").read_text()
    example = readme.split("```json\n", 1)[1].split("```", 1)[0]
    parsed = DeploymentParameters.from_user_parameters(example)
    assert (parsed.region, parsed.status) == ("eu-west-1", "Succeeded")
    assert parsed.execution_id == "#{codepipeline.PipelineExecutionId}"
