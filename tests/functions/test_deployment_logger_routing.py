"""Events the function does not handle must fail loudly, never succeed silently."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber

from deployment_logger.errors import UnsupportedEventError

SQS_EVENT = {
    "Records": [
        {
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
            "eventSource": "aws:sqs",
            "body": "Test message.",
        }
    ]
}
CODEBUILD_EVENT = {
    "version": "0",
    "id": "bfdc1220-60ff-44ba-8e9b-EXAMPLE",
    "detail-type": "CodeBuild Build State Change",
    "source": "aws.codebuild",
    "account": "123456789012",
    "time": "2017-09-01T16:14:28Z",
    "region": "us-west-2",
    "resources": [],
    "detail": {"build-status": "FAILED", "project-name": "my-sample-project"},
}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(None, "event must be a JSON object, got null (NoneType)", id="null"),
        pytest.param([], "event must be a JSON object, got array (list)", id="array"),
        pytest.param("FAILED", "event must be a JSON object, got string (str)", id="string"),
        pytest.param(42, "event must be a JSON object, got number (int)", id="number"),
        pytest.param({}, "event is neither a CodePipeline job", id="empty-object"),
        pytest.param(SQS_EVENT, "event is neither a CodePipeline job", id="sqs-event"),
        pytest.param(
            CODEBUILD_EVENT,
            "EventBridge event source 'aws.codebuild' is not supported",
            id="other-source",
        ),
    ],
)
def test_unsupported_events_raise_and_are_logged(
    handler: ModuleType,
    codepipeline: Stubber,
    lambda_context: Any,
    read_output: Any,
    aws: Any,
    event: object,
    expected: str,
) -> None:
    with pytest.raises(UnsupportedEventError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        handler.lambda_handler(event, lambda_context)

    codepipeline.assert_no_pending_responses()  # no CodePipeline call was made (none was stubbed)
    output = read_output()
    [error] = output.logs_at("ERROR")
    assert error["message"].startswith(f"Event not processed: UnsupportedEventError: {expected}")
    assert error["message"].endswith(
        "the invocation fails so Lambda retries it and then hands it to the on-failure destination"
    )
    assert error["error_type"] == "UnsupportedEventError"
    assert output.emf == []
    assert aws.notifications() == []
    assert aws.idempotency_records() == []


def test_unknown_codepipeline_detail_type_raises(
    handler: ModuleType,
    load_event: Callable[[str], dict[str, Any]],
    lambda_context: Any,
    read_output: Any,
) -> None:
    event = load_event("pipeline_failed.json")
    event["detail-type"] = "CodePipeline Rule Execution State Change"

    with pytest.raises(
        UnsupportedEventError,
        match="detail-type 'CodePipeline Rule Execution State Change'",
    ):
        handler.lambda_handler(event, lambda_context)

    assert len(read_output().logs_at("ERROR")) == 1


def test_handler_accepts_a_fresh_environment_after_clear_caches(
    handler: ModuleType,
    load_event: Callable[[str], dict[str, Any]],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = handler.get_runtime()
    assert handler.get_runtime() is first  # one runtime (settings + clients) per container

    monkeypatch.setenv("IDEMPOTENCY_TTL_SECONDS", "7200")
    assert handler.get_runtime().settings.idempotency_ttl_seconds == 86_400  # cached: not re-read
    handler.clear_caches()
    assert handler.get_runtime().settings.idempotency_ttl_seconds == 7200
