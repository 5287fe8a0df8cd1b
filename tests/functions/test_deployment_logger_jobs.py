"""CodePipeline jobs: record, EMF metric, exactly one job result per job, whatever goes wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics.exceptions import SchemaValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from botocore.stub import ANY, Stubber

from deployment_logger.errors import JobResultReportingError, MissingJobIdError

JOB_ID = "11111111-abcd-1111-abcd-111111abcdef"
REQUEST_ID = "5f3a9a4e-1c0b-4f3e-9d41-2c8c8e0a7b11"  # FakeLambdaContext.aws_request_id
STACK = "organization/regionflow-secondary/prod-eu-west-1"
COMMIT = "8cf40f2b7e4c1d9a0b3f5e6d7c8b9a0f1e2d3c4b"
SUCCESS_SUMMARY = f"Recorded Succeeded deployment of {STACK} in eu-west-1 (commit {COMMIT})"
EXPECTED_RECORD = {
    "job_id": JOB_ID,
    "account_id": "111111111111",
    "pipeline": "regionflow-prod",
    "execution_id": "12345678-1234-5678-abcd-12345678abcd",
    "stage": "DeployPrimary",
    "region": "eu-west-1",
    "stack": STACK,
    "commit": COMMIT,
    "status": "Succeeded",
}
USER_PARAMETERS = {
    "pipeline": "regionflow-prod",
    "executionId": "12345678-1234-5678-abcd-12345678abcd",
    "stage": "DeployPrimary",
    "region": "eu-west-1",
    "stack": STACK,
    "commit": COMMIT,
}


def expect_success(stubber: Stubber, summary: str = SUCCESS_SUMMARY, job_id: str = JOB_ID) -> None:
    stubber.add_response(
        "put_job_success_result",
        {},
        {
            "jobId": job_id,
            "executionDetails": {
                "summary": summary,
                "externalExecutionId": REQUEST_ID,
                "percentComplete": 100,
            },
        },
    )


def expect_failure(stubber: Stubber, failure_type: str, message: Any) -> None:
    stubber.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB_ID,
            "failureDetails": {
                "type": failure_type,
                "message": message,
                "externalExecutionId": REQUEST_ID,
            },
        },
    )


def deployment_logs(output: Any) -> list[dict[str, Any]]:
    return [record["deployment"] for record in output.logs if "deployment" in record]


def test_job_is_recorded_measured_and_reported_as_succeeded(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    expect_success(codepipeline)
    before = datetime.now(UTC)

    response = handler.lambda_handler(make_job_event(), lambda_context)

    after = datetime.now(UTC)
    codepipeline.assert_no_pending_responses()
    output = read_output()
    [record] = deployment_logs(output)  # exactly one structured record line
    recorded_at = record.pop("recorded_at")
    assert record == EXPECTED_RECORD
    moment = datetime.strptime(recorded_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(milliseconds=1) <= moment <= after
    [line] = [log for log in output.logs if "deployment" in log]
    assert line["level"] == "INFO"
    assert line["correlation_id"] == JOB_ID
    assert line["service"] == "deployment-logger"

    [emf] = output.emf
    assert emf["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "Regionflow",
            "Dimensions": [["Region"]],
            "Metrics": [{"Name": "DeploymentsSucceeded", "Unit": "Count"}],
        }
    ]
    assert emf["Region"] == "eu-west-1"
    assert emf["DeploymentsSucceeded"] == [1.0]
    assert emf["jobId"] == JOB_ID
    assert "DeploymentsFailed" not in emf

    assert response == {
        "jobId": JOB_ID,
        "result": "succeeded",
        "deployment": {**EXPECTED_RECORD, "recorded_at": recorded_at},
    }
    assert aws.notifications() == []
    assert not output.logs_at("ERROR")
    # Metrics travel as EMF in the log stream, never through the CloudWatch API (no PutMetricData
    # permission needed).
    assert boto3.client("cloudwatch", region_name="us-west-2").list_metrics()["Metrics"] == []


def test_job_never_logs_the_artifact_credentials(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = make_job_event()
    credentials = event["CodePipeline.job"]["data"]["artifactCredentials"]
    expect_success(codepipeline)

    handler.lambda_handler(event, lambda_context)

    printed = capsys.readouterr().out
    assert printed  # something was logged at all
    assert credentials["secretAccessKey"] not in printed
    assert credentials["sessionToken"] not in printed


def test_failed_deployment_is_counted_and_the_job_still_succeeds(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
) -> None:
    summary = f"Recorded Failed deployment of {STACK} in ap-southeast-2 (commit {COMMIT})"
    expect_success(codepipeline, summary=summary)
    event = make_job_event(json.dumps({**USER_PARAMETERS, "status": "Failed", "region": "ap-southeast-2"}))

    response = handler.lambda_handler(event, lambda_context)

    codepipeline.assert_no_pending_responses()
    assert response["result"] == "succeeded"  # recording a failed deployment is a successful job
    output = read_output()
    [record] = deployment_logs(output)
    assert (record["status"], record["region"]) == ("Failed", "ap-southeast-2")
    [emf] = output.emf
    assert emf["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "DeploymentsFailed", "Unit": "Count"}]
    assert emf["Region"] == "ap-southeast-2"
    assert emf["DeploymentsFailed"] == [1.0]


BAD_USER_PARAMETERS = [
    pytest.param(
        "deploy eu-west-1",
        "UserParameters is not valid JSON (Expecting value at line 1 column 1)",
        id="not-json",
    ),
    pytest.param(
        '["regionflow-prod"]',
        "UserParameters must be a JSON object, got a JSON array",
        id="not-object",
    ),
    pytest.param(
        json.dumps({k: v for k, v in USER_PARAMETERS.items() if k != "stack"}),
        "UserParameters is missing the required key 'stack'",
        id="missing-key",
    ),
    pytest.param(
        json.dumps({**USER_PARAMETERS, "commit": 1234567}),
        "UserParameters key 'commit' must be a string, got a JSON number",
        id="wrong-type",
    ),
    pytest.param(
        json.dumps({**USER_PARAMETERS, "executionId": ""}),
        "UserParameters key 'executionId' must not be empty",
        id="empty-value",
    ),
    pytest.param(
        json.dumps({**USER_PARAMETERS, "status": "Succeded"}),
        "UserParameters key 'status' must be one of Succeeded, Failed, got 'Succeded'",
        id="bad-status",
    ),
    pytest.param(
        None,
        "UserParameters is missing: configure the Invoke action with a JSON object with keys "
        "pipeline, executionId, stage, region, stack, commit",
        id="absent",
    ),
]


@pytest.mark.parametrize(("user_parameters", "problem"), BAD_USER_PARAMETERS)
def test_bad_user_parameters_fail_the_job_as_configuration_error(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
    aws: Any,
    user_parameters: str | None,
    problem: str,
) -> None:
    message = f"Invalid UserParameters for the deployment logger: {problem}"
    expect_failure(codepipeline, "ConfigurationError", message)

    response = handler.lambda_handler(make_job_event(user_parameters), lambda_context)

    codepipeline.assert_no_pending_responses()
    assert response == {
        "jobId": JOB_ID,
        "result": "failed",
        "failureType": "ConfigurationError",
        "message": message,
    }
    output = read_output()
    assert message in output.messages("ERROR")
    assert deployment_logs(output) == []
    assert output.emf == []
    # The job has its result: the idempotency record is complete, so a redelivery reports nothing.
    [item] = aws.idempotency_records()
    assert item["status"]["S"] == "COMPLETED"


def test_job_without_id_raises_and_reports_nothing(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    event = make_job_event()
    del event["CodePipeline.job"]["id"]

    with pytest.raises(MissingJobIdError):
        handler.lambda_handler(event, lambda_context)

    codepipeline.assert_no_pending_responses()  # no result could be sent, none was attempted
    [error] = read_output().logs_at("ERROR")
    assert error["message"].startswith(
        "Event not processed: MissingJobIdError: CodePipeline job event has no job id ('CodePipeline.job'.id "
        "must be a non-empty string)"
    )
    assert "on-failure destination" in error["message"]
    assert aws.idempotency_records() == []


def test_rejected_failure_result_raises_so_the_event_is_retried(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    event = make_job_event("not json")
    codepipeline.add_client_error(
        "put_job_failure_result",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        http_status_code=400,
    )

    with pytest.raises(JobResultReportingError) as raised:
        handler.lambda_handler(event, lambda_context)

    assert str(raised.value) == (
        f"CodePipeline did not accept the failure result (ConfigurationError) of job {JOB_ID}: ClientError: "
        "An error occurred (ThrottlingException) when calling the PutJobFailureResult operation: Rate exceeded"
    )
    errors = read_output().messages("ERROR")
    assert (
        f"Event not processed: JobResultReportingError: {raised.value}; the invocation fails so Lambda "
        "retries it and then hands it to the on-failure destination" in errors
    )
    # Powertools deleted the in-progress record, so Lambda's retry processes the job again ...
    assert aws.idempotency_records() == []
    expect_failure(
        codepipeline,
        "ConfigurationError",
        "Invalid UserParameters for the deployment logger: UserParameters is not valid JSON "
        "(Expecting value at line 1 column 1)",
    )
    retried = handler.lambda_handler(event, lambda_context)
    # ... and the retry reports the one failure result the job gets.
    codepipeline.assert_no_pending_responses()
    assert retried["result"] == "failed"


def test_rejected_success_result_turns_into_a_job_failure(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
) -> None:
    codepipeline.add_client_error(
        "put_job_success_result",
        service_error_code="ValidationException",
        service_message="summary too long",
    )
    message = (
        f"The deployment logger could not record job {JOB_ID}: ValidationException: "
        "An error occurred (ValidationException) when calling the PutJobSuccessResult operation: summary too long"
    )
    expect_failure(codepipeline, "JobFailed", message)

    response = handler.lambda_handler(make_job_event(), lambda_context)

    codepipeline.assert_no_pending_responses()
    assert response["result"] == "failed"
    assert response["failureType"] == "JobFailed"
    assert message in read_output().messages("ERROR")


def test_metric_problem_fails_the_job_and_leaves_no_metric_state_behind(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_flush(**_: Any) -> None:
        raise SchemaValidationError("Must contain a metric namespace.")

    monkeypatch.setattr(handler.metrics, "flush_metrics", broken_flush)
    message = (
        f"The deployment logger could not record job {JOB_ID}: SchemaValidationError: Must contain a metric namespace."
    )
    expect_failure(codepipeline, "JobFailed", message)

    response = handler.lambda_handler(make_job_event(), lambda_context)

    codepipeline.assert_no_pending_responses()  # failure reported, success never attempted
    assert response["failureType"] == "JobFailed"
    output = read_output()
    assert message in output.messages("ERROR")
    assert output.emf == []

    # The next job's blob must not carry the failed job's dimension or metadata.
    monkeypatch.undo()
    other_job = "22222222-abcd-2222-abcd-222222abcdef"
    expect_success(
        codepipeline,
        summary=f"Recorded Succeeded deployment of {STACK} in us-east-1 (commit {COMMIT})",
        job_id=other_job,
    )
    event = make_job_event(json.dumps({**USER_PARAMETERS, "region": "us-east-1"}), id=other_job)
    handler.lambda_handler(event, lambda_context)
    [emf] = read_output().emf
    assert emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Region"]]
    assert (emf["Region"], emf["jobId"], emf["DeploymentsSucceeded"]) == (
        "us-east-1",
        other_job,
        [1.0],
    )


def test_failure_message_respects_the_5000_character_limit(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
) -> None:
    sent: list[dict[str, Any]] = []
    handler.codepipeline_client().meta.events.register(
        "provide-client-params.codepipeline.PutJobFailureResult",
        lambda params, **_: sent.append(params),
    )
    expect_failure(codepipeline, "ConfigurationError", ANY)
    huge_key = "k" * 6000

    handler.lambda_handler(make_job_event(json.dumps({**USER_PARAMETERS, huge_key: "v"})), lambda_context)

    codepipeline.assert_no_pending_responses()
    [params] = sent
    message = params["failureDetails"]["message"]
    assert len(message) == 5000
    assert message.startswith(
        "Invalid UserParameters for the deployment logger: UserParameters has unknown key(s) 'kkk"
    )
    assert message.endswith(" [truncated]")


def test_invalid_settings_fail_the_job_as_configuration_error(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", "regionflow-deployment-notifications")
    message = (
        "The deployment logger function is misconfigured: NOTIFICATION_TOPIC_ARN='regionflow-deployment-notifications' "
        "is not an SNS topic ARN: it must look like arn:aws:sns:<region>:<account>:<name>"
    )
    expect_failure(codepipeline, "ConfigurationError", message)

    response = handler.lambda_handler(make_job_event(), lambda_context)

    codepipeline.assert_no_pending_responses()
    assert response == {
        "jobId": JOB_ID,
        "result": "failed",
        "failureType": "ConfigurationError",
        "message": message,
    }
    output = read_output()
    assert message in output.messages("ERROR")
    assert deployment_logs(output) == []
    assert aws.idempotency_records() == []


def test_same_job_delivered_twice_is_recorded_and_reported_once(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    expect_success(codepipeline)  # exactly one result may be sent: a second call would be unstubbed

    first = handler.lambda_handler(make_job_event(), lambda_context)
    second = handler.lambda_handler(make_job_event(), lambda_context)

    codepipeline.assert_no_pending_responses()
    assert first["result"] == "succeeded"
    assert second == {**first, "duplicate": True}
    output = read_output()
    assert len(deployment_logs(output)) == 1
    assert len(output.emf) == 1
    assert any(message.startswith("Duplicate delivery") for message in output.messages("INFO"))
    [item] = aws.idempotency_records()
    assert item["status"]["S"] == "COMPLETED"
    assert item["id"]["S"].startswith("regionflow-deployment-logger.deployment_logger.handler._record_job#")
    assert int(item["expiration"]["N"]) > datetime.now(UTC).timestamp() + 86_000  # IDEMPOTENCY_TTL default


def test_different_jobs_are_recorded_separately(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    other_job = "22222222-abcd-2222-abcd-222222abcdef"
    expect_success(codepipeline)
    expect_success(codepipeline, job_id=other_job)

    handler.lambda_handler(make_job_event(), lambda_context)
    handler.lambda_handler(make_job_event(id=other_job), lambda_context)

    codepipeline.assert_no_pending_responses()
    assert [record["job_id"] for record in deployment_logs(read_output())] == [
        JOB_ID,
        other_job,
    ]
    assert len(aws.idempotency_records()) == 2


def test_duplicate_arriving_while_the_first_is_in_progress_raises_for_a_later_retry(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
) -> None:
    concurrent: list[BaseException] = []

    def deliver_duplicate(**_: Any) -> None:
        # Runs while the first delivery is about to report its result, i.e. still in progress.
        try:
            handler.lambda_handler(make_job_event(), lambda_context)
        except Exception as exc:  # noqa: BLE001 - captured for the assertion below
            concurrent.append(exc)

    handler.codepipeline_client().meta.events.register(
        "provide-client-params.codepipeline.PutJobSuccessResult", deliver_duplicate
    )
    expect_success(codepipeline)

    handler.lambda_handler(make_job_event(), lambda_context)

    codepipeline.assert_no_pending_responses()  # only the first delivery reported
    [error] = concurrent
    assert isinstance(error, IdempotencyAlreadyInProgressError)
    assert len(deployment_logs(read_output())) == 1


def test_job_without_action_configuration_fails_as_job_failed(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
) -> None:
    event = make_job_event()
    del event["CodePipeline.job"]["data"]
    message = (
        f"The deployment logger could not record job {JOB_ID}: InvalidEventError: CodePipeline job event has no "
        "CodePipeline.job.data.actionConfiguration.configuration object"
    )
    expect_failure(codepipeline, "JobFailed", message)

    response = handler.lambda_handler(event, lambda_context)

    codepipeline.assert_no_pending_responses()
    assert response["failureType"] == "JobFailed"
    assert message in read_output().messages("ERROR")


def test_idempotency_store_outage_still_fails_the_job(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    aws.dynamodb.delete_table(TableName="regionflow-deployment-logger-idempotency")
    expect_failure(codepipeline, "JobFailed", ANY)

    response = handler.lambda_handler(make_job_event(), lambda_context)

    codepipeline.assert_no_pending_responses()  # a failure result, never a success without a record
    assert response["failureType"] == "JobFailed"
    assert response["message"].startswith(
        f"The deployment logger could not record job {JOB_ID}: IdempotencyPersistenceLayerError: "
        "Failed to save in progress record to idempotency store"
    )
    output = read_output()
    assert deployment_logs(output) == []
    assert response["message"] in output.messages("ERROR")


def test_client_creation_problem_still_fails_the_job(
    handler: ModuleType,
    codepipeline: Stubber,
    make_job_event: Callable[..., dict[str, Any]],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_start() -> Any:
        raise RuntimeError("no credentials available")

    monkeypatch.setattr(handler, "load_settings", broken_start)
    expect_failure(
        codepipeline,
        "JobFailed",
        "The deployment logger could not start: RuntimeError: no credentials available",
    )

    response = handler.lambda_handler(make_job_event(), lambda_context)

    codepipeline.assert_no_pending_responses()
    assert response["failureType"] == "JobFailed"
