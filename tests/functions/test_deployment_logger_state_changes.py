"""EventBridge state changes: notifications for failed pipelines/stages, metrics for failed deploys."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from deployment_logger.errors import InvalidEventError, NotificationError, SettingsError

# As set up by conftest's lambda_env and aws fixtures.
REGION = "us-west-2"
ACCOUNT_ID = "123456789012"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:regionflow-deployment-notifications"
EXECUTION_ID = "12345678-1234-5678-abcd-12345678abcd"
CONSOLE_URL = (
    "https://us-west-2.console.aws.amazon.com/codesuite/codepipeline/pipelines/myPipeline"
    f"/executions/{EXECUTION_ID}/timeline?region=us-west-2"
)
LoadEvent = Callable[[str], dict[str, Any]]


def test_failed_pipeline_publishes_one_notification(
    handler: ModuleType,
    load_event: LoadEvent,
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    response = handler.lambda_handler(load_event("pipeline_failed.json"), lambda_context)

    [notification] = aws.notifications()
    assert notification["TopicArn"] == TOPIC_ARN
    assert notification["Subject"] == "[us-west-2] Pipeline myPipeline failed"
    assert notification["Message"].splitlines() == [
        "Pipeline myPipeline failed.",
        "",
        "Pipeline:     myPipeline",
        "Stage:        (pipeline-level event; see the failed stage's notification)",
        f"Execution ID: {EXECUTION_ID}",
        "State:        FAILED",
        "Region:       us-west-2",
        "Account:      123456789012",
        "Time:         2020-01-31T18:55:43Z",
        f"Console:      {CONSOLE_URL}",
        "",
        "EventBridge event id: 01234567-EXAMPLE",
    ]
    assert response == {
        "eventId": "01234567-EXAMPLE",
        "reaction": "notify",
        "messageId": notification["MessageId"],
    }
    output = read_output()
    assert output.emf == []
    [published] = [log for log in output.logs if log["message"].startswith("Published failure notification")]
    assert published["sns_message_id"] == notification["MessageId"]
    assert published["correlation_id"] == "01234567-EXAMPLE"
    [item] = aws.idempotency_records()
    assert item["status"]["S"] == "COMPLETED"


def test_failed_stage_publishes_a_notification_naming_the_stage(
    handler: ModuleType, load_event: LoadEvent, lambda_context: Any, aws: Any
) -> None:
    handler.lambda_handler(load_event("stage_failed.json"), lambda_context)

    [notification] = aws.notifications()
    assert notification["Subject"] == "[us-west-2] Stage Deploy of pipeline myPipeline failed"
    message = notification["Message"]
    assert message.startswith("Stage Deploy of pipeline myPipeline failed.\n")
    for line in (
        "Pipeline:     myPipeline",
        "Stage:        Deploy",
        f"Execution ID: {EXECUTION_ID}",
        "Region:       us-west-2",
        f"Console:      {CONSOLE_URL}",
    ):
        assert line in message.splitlines()


def test_long_non_ascii_stage_names_still_give_a_valid_subject(
    handler: ModuleType, load_event: LoadEvent, lambda_context: Any, aws: Any
) -> None:
    event = load_event("stage_failed.json")
    event["detail"]["stage"] = "Déploiement-" + "Europe\n" * 20

    handler.lambda_handler(event, lambda_context)

    [notification] = aws.notifications()
    subject = notification["Subject"]
    assert len(subject) <= 100
    assert all(" " <= char <= "~" for char in subject)
    assert subject.startswith("[us-west-2] Stage Deploiement-Europe Europe")
    assert subject.endswith("...")


def test_failed_deploy_build_action_counts_a_failed_deployment_in_the_action_region(
    handler: ModuleType,
    load_event: LoadEvent,
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    response = handler.lambda_handler(load_event("action_failed_deploy_build.json"), lambda_context)

    [emf] = read_output().emf
    assert emf["_aws"]["CloudWatchMetrics"] == [
        {
            "Namespace": "Regionflow",
            "Dimensions": [["Region"]],
            "Metrics": [{"Name": "DeploymentsFailed", "Unit": "Count"}],
        }
    ]
    assert emf["Region"] == "eu-west-1"  # detail.region, not the pipeline's us-west-2
    assert emf["DeploymentsFailed"] == [1.0]
    assert (emf["stage"], emf["action"]) == ("DeploySecondary", "PulumiUp")
    assert response == {
        "eventId": "01234569-EXAMPLE",
        "reaction": "count_failed_deployment",
        "region": "eu-west-1",
    }
    assert aws.notifications() == []


def test_failed_invoke_action_in_a_deploy_stage_counts_too(
    handler: ModuleType, load_event: LoadEvent, lambda_context: Any, read_output: Any
) -> None:
    event = load_event("action_failed_deploy_build.json")
    event["detail"]["stage"] = "DeployPrimary"
    event["detail"]["type"] = {
        "owner": "AWS",
        "provider": "Lambda",
        "category": "Invoke",
        "version": "1",
    }
    del event["detail"]["region"]  # older events have none: the pipeline's Region applies

    handler.lambda_handler(event, lambda_context)

    [emf] = read_output().emf
    assert (emf["Region"], emf["DeploymentsFailed"]) == ("us-west-2", [1.0])


def _build_stage(event: dict[str, Any]) -> None:
    event["detail"]["stage"] = "Build"


def _approval(event: dict[str, Any]) -> None:
    event["detail"]["type"]["category"] = "Approval"


@pytest.mark.parametrize(
    ("fixture", "mutate", "state"),
    [
        ("pipeline_started.json", None, "STARTED"),
        ("action_succeeded.json", None, "SUCCEEDED"),
        (
            "action_failed.json",
            None,
            "FAILED",
        ),  # category Deploy (CodeDeploy): not a regional pulumi up
        (
            "action_failed_deploy_build.json",
            _build_stage,
            "FAILED",
        ),  # not a Deploy* stage
        ("action_failed_deploy_build.json", _approval, "FAILED"),
    ],
)
def test_other_state_changes_are_logged_and_ignored(
    handler: ModuleType,
    load_event: LoadEvent,
    lambda_context: Any,
    read_output: Any,
    aws: Any,
    fixture: str,
    mutate: Callable[[dict[str, Any]], None] | None,
    state: str,
) -> None:
    event = load_event(fixture)
    if mutate:
        mutate(event)

    response = handler.lambda_handler(event, lambda_context)

    assert response == {"eventId": event["id"], "reaction": "ignore"}
    output = read_output()
    assert any(
        message.endswith(f"state {state}") and message.startswith("Ignored") for message in output.messages("INFO")
    )
    assert output.emf == []
    assert not output.logs_at("ERROR")
    assert aws.notifications() == []
    assert aws.idempotency_records() == []  # ignored events do not touch the store


def test_same_event_delivered_twice_notifies_once(
    handler: ModuleType,
    load_event: LoadEvent,
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    first = handler.lambda_handler(load_event("pipeline_failed.json"), lambda_context)
    second = handler.lambda_handler(load_event("pipeline_failed.json"), lambda_context)

    assert len(aws.notifications()) == 1
    assert second == {**first, "duplicate": True}
    assert any(message.startswith("Duplicate delivery") for message in read_output().messages("INFO"))
    [item] = aws.idempotency_records()
    assert item["id"]["S"].startswith("regionflow-deployment-logger.deployment_logger.handler._process_state_change#")


def test_same_failed_action_delivered_twice_is_counted_once(
    handler: ModuleType, load_event: LoadEvent, lambda_context: Any, read_output: Any
) -> None:
    handler.lambda_handler(load_event("action_failed_deploy_build.json"), lambda_context)
    handler.lambda_handler(load_event("action_failed_deploy_build.json"), lambda_context)

    assert len(read_output().emf) == 1


def test_pipeline_and_stage_events_are_distinct_events(
    handler: ModuleType, load_event: LoadEvent, lambda_context: Any, aws: Any
) -> None:
    handler.lambda_handler(load_event("stage_failed.json"), lambda_context)
    handler.lambda_handler(load_event("pipeline_failed.json"), lambda_context)

    assert [n["Subject"] for n in aws.notifications()] == [
        "[us-west-2] Stage Deploy of pipeline myPipeline failed",
        "[us-west-2] Pipeline myPipeline failed",
    ]


def test_missing_topic_raises_and_the_retry_delivers(
    handler: ModuleType,
    load_event: LoadEvent,
    lambda_context: Any,
    read_output: Any,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing_topic = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:deleted-topic"
    monkeypatch.setenv("NOTIFICATION_TOPIC_ARN", missing_topic)

    with pytest.raises(NotificationError) as raised:
        handler.lambda_handler(load_event("pipeline_failed.json"), lambda_context)

    assert str(raised.value).startswith(
        f"SNS did not accept the failure notification for pipeline myPipeline (execution {EXECUTION_ID}) on "
        f"topic {missing_topic}: NotFoundException: "
    )
    assert isinstance(raised.value.__cause__, ClientError)
    [error] = read_output().logs_at("ERROR")
    assert error["message"].startswith("Event not processed: NotificationError: SNS did not accept")
    assert error["error_type"] == "NotificationError"
    assert "exception" in error  # the traceback is logged too
    assert aws.idempotency_records() == []  # deleted on failure, so Lambda's retry can succeed

    # The topic appears (e.g. the stack finished deploying); Lambda retries the same event.
    aws.sns.create_topic(Name="deleted-topic")
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.sns.subscribe(TopicArn=missing_topic, Protocol="sqs", Endpoint=queue_arn)
    handler.lambda_handler(load_event("pipeline_failed.json"), lambda_context)
    [notification] = aws.notifications()
    assert notification["TopicArn"] == missing_topic


def test_sns_authorization_error_raises_with_the_cause(
    handler: ModuleType,
    load_event: LoadEvent,
    lambda_context: Any,
    read_output: Any,
    aws: Any,
) -> None:
    with Stubber(handler.get_runtime().sns) as sns:
        sns.add_client_error(
            "publish",
            service_error_code="AuthorizationError",
            service_message="User is not authorized to perform: SNS:Publish",
            http_status_code=403,
            expected_params={
                "TopicArn": TOPIC_ARN,
                "Subject": "[us-west-2] Stage Deploy of pipeline myPipeline failed",
                "Message": ANY,
            },
        )
        with pytest.raises(NotificationError) as raised:
            handler.lambda_handler(load_event("stage_failed.json"), lambda_context)
        sns.assert_no_pending_responses()

    cause = raised.value.__cause__
    assert isinstance(cause, ClientError)
    assert cause.response["Error"]["Code"] == "AuthorizationError"
    assert str(raised.value) == (
        "SNS did not accept the failure notification for stage Deploy of pipeline myPipeline (execution "
        f"{EXECUTION_ID}) on topic {TOPIC_ARN}: AuthorizationErrorException: An error occurred (AuthorizationError) "
        "when calling the Publish operation: User is not authorized to perform: SNS:Publish"
    )
    assert any("NotificationError" in message for message in read_output().messages("ERROR"))
    assert aws.idempotency_records() == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda e: e.pop("id"), "has no usable 'id'"),
        (
            lambda e: e["detail"].pop("execution-id"),
            "has no usable 'detail.execution-id'",
        ),
        (lambda e: e["detail"].update(state=None), "has no usable 'detail.state'"),
    ],
)
def test_malformed_state_change_raises(
    handler: ModuleType,
    load_event: LoadEvent,
    lambda_context: Any,
    read_output: Any,
    aws: Any,
    mutate: Callable[[dict[str, Any]], Any],
    expected: str,
) -> None:
    event = load_event("pipeline_failed.json")
    mutate(event)

    with pytest.raises(InvalidEventError, match=expected):
        handler.lambda_handler(event, lambda_context)

    [error] = read_output().logs_at("ERROR")
    assert "InvalidEventError" in error["message"]
    assert expected in error["message"]
    assert aws.notifications() == []


def test_invalid_settings_raise_before_any_work(
    handler: ModuleType,
    load_event: LoadEvent,
    lambda_context: Any,
    read_output: Any,
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "")

    with pytest.raises(SettingsError):
        handler.lambda_handler(load_event("pipeline_started.json"), lambda_context)

    [error] = read_output().logs_at("ERROR")
    assert error["message"].startswith(
        "Event not processed: SettingsError: IDEMPOTENCY_TABLE_NAME is not set or empty: set it to the name of "
        "the idempotency DynamoDB table"
    )
    assert aws.notifications() == []
