"""Shared fixtures for the deployment logger tests.

Everything runs offline: moto provides SNS, SQS and DynamoDB, botocore's Stubber stands in for the
CodePipeline job API (moto has no PutJobSuccessResult/PutJobFailureResult). Each test gets its own
environment (monkeypatch), its own moto backend, freshly cleared handler caches, and the
Powertools logger pointed at the test's captured stdout, so no state leaks between tests.
"""

from __future__ import annotations

import copy
import io
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = REPO_ROOT / "functions" / "deployment_logger"
EVENTS_DIR = FUNCTION_DIR / "events"

# The function package is not installed: it is found the way Lambda finds it, as a top-level
# package of the archive. regionflow (shared/) is found the same way if it is not installed.
for _path in (FUNCTION_DIR, REPO_ROOT / "shared"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

REGION = "us-west-2"
ACCOUNT_ID = "123456789012"  # moto's default account
TOPIC_NAME = "regionflow-deployment-notifications"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{TOPIC_NAME}"
TABLE_NAME = "regionflow-deployment-logger-idempotency"
FUNCTION_NAME = "regionflow-deployment-logger"

BASE_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
    "POWERTOOLS_SERVICE_NAME": "deployment-logger",
    "POWERTOOLS_METRICS_NAMESPACE": "Regionflow",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "NOTIFICATION_TOPIC_ARN": TOPIC_ARN,
    "IDEMPOTENCY_TABLE_NAME": TABLE_NAME,
}
# Variables that would change behaviour if the developer's shell happened to set them.
UNSET_ENV = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "IDEMPOTENCY_TTL_SECONDS",
    "POWERTOOLS_DEV",
    "POWERTOOLS_METRICS_DISABLED",
    "POWERTOOLS_IDEMPOTENCY_DISABLED",
    "POWERTOOLS_LOGGER_LOG_EVENT",
)


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A complete, valid function environment; tests may override single variables."""
    for name in UNSET_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(BASE_ENV)


@dataclass
class FakeLambdaContext:
    """The attributes of the Lambda context object the function and Powertools read."""

    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{FUNCTION_NAME}"
    aws_request_id: str = "5f3a9a4e-1c0b-4f3e-9d41-2c8c8e0a7b11"
    log_group_name: str = f"/aws/lambda/{FUNCTION_NAME}"
    log_stream_name: str = "2024/05/01/[$LATEST]0123456789abcdef"
    remaining_millis: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@dataclass
class AwsResources:
    """The function's regional resources inside moto, with read-back helpers."""

    sns: Any
    sqs: Any
    dynamodb: Any
    queue_url: str
    _received: list[dict[str, Any]] = field(default_factory=list)

    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS message delivered so far (the SNS envelope, parsed), via the subscribed queue."""
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = batch.get("Messages", [])
            if not messages:
                return list(self._received)
            for message in messages:
                self._received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def idempotency_records(self) -> list[dict[str, Any]]:
        return list(self.dynamodb.scan(TableName=TABLE_NAME)["Items"])


@pytest.fixture(scope="session")
def _shared_boto3_session() -> boto3.session.Session:
    # Created after moto is imported, so its clients carry moto's request hook. Sharing one session
    # keeps botocore from re-reading its service models for every test (moto would otherwise
    # drop boto3's default session at each start).
    return boto3.session.Session()


@pytest.fixture
def aws(
    lambda_env: dict[str, str],
    _shared_boto3_session: boto3.session.Session,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AwsResources]:
    """moto with the notification topic (KMS-encrypted, SQS-subscribed) and the idempotency table."""
    # The handler creates its clients from boto3's default session, as it does in Lambda.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", _shared_boto3_session)
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        topic_arn = sns.create_topic(Name=TOPIC_NAME, Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
        assert topic_arn == TOPIC_ARN
        queue_url = sqs.create_queue(QueueName="notification-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        # The table the regional stack creates: partition key id (S), TTL on expiration, on-demand.
        dynamodb.create_table(
            TableName=TABLE_NAME,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.update_time_to_live(
            TableName=TABLE_NAME,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
        )
        yield AwsResources(sns=sns, sqs=sqs, dynamodb=dynamodb, queue_url=queue_url)


class _CurrentStdout(io.TextIOBase):
    """Writes to whatever ``sys.stdout`` is at the time of the write (capsys swaps it per phase)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def handler(aws: AwsResources, capsys: pytest.CaptureFixture[str]) -> Iterator[ModuleType]:
    """The handler module with fresh caches, logging to this test's captured stdout."""
    from deployment_logger import handler as module

    module.clear_caches()
    module.metrics.clear_metrics()
    # Powertools binds its stream handler to the sys.stdout of the moment the logger is first
    # created (once per process), which capsys replaces per test. Lambda writes logs and EMF to
    # stdout, so do the tests: the handler writes to whatever sys.stdout currently is. It is left
    # installed (restoring a previous test's closed capture stream would break later tests).
    stream_handler = module.logger.registered_handler
    if not isinstance(getattr(stream_handler, "stream", None), _CurrentStdout):
        stream_handler.setStream(_CurrentStdout())  # type: ignore[attr-defined]
    try:
        yield module
    finally:
        module.clear_caches()
        module.metrics.clear_metrics()


@pytest.fixture
def codepipeline(handler: ModuleType) -> Iterator[Stubber]:
    """A Stubber on the handler's CodePipeline client; tests queue the expected job results."""
    with Stubber(handler.codepipeline_client()) as stubber:
        yield stubber


@pytest.fixture
def load_event() -> Callable[[str], dict[str, Any]]:
    """Load a JSON event fixture from functions/deployment_logger/events/ (a fresh copy each call)."""

    def load(name: str) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
        return copy.deepcopy(event)

    return load


@dataclass
class Output:
    """Captured stdout split into Powertools log records and EMF metric blobs."""

    logs: list[dict[str, Any]]
    emf: list[dict[str, Any]]

    def logs_at(self, level: str) -> list[dict[str, Any]]:
        return [record for record in self.logs if record.get("level") == level]

    def messages(self, level: str | None = None) -> list[str]:
        records = self.logs if level is None else self.logs_at(level)
        return [str(record.get("message", "")) for record in records]


@pytest.fixture
def read_output(capsys: pytest.CaptureFixture[str]) -> Callable[[], Output]:
    """Parse everything printed since the last call: every line must be one JSON object."""

    def read() -> Output:
        lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
        blobs = [json.loads(line) for line in lines]
        return Output(
            logs=[blob for blob in blobs if "_aws" not in blob],
            emf=[blob for blob in blobs if "_aws" in blob],
        )

    return read


@pytest.fixture
def make_job_event(
    load_event: Callable[[str], dict[str, Any]],
) -> Callable[..., dict[str, Any]]:
    """The documented job event, optionally with other UserParameters (None removes them) or job fields."""

    def make(user_parameters: object = ..., **job_fields: Any) -> dict[str, Any]:
        event = load_event("codepipeline_job.json")
        job = event["CodePipeline.job"]
        if user_parameters is not ...:
            configuration = job["data"]["actionConfiguration"]["configuration"]
            if user_parameters is None:
                configuration.pop("UserParameters")
            else:
                configuration["UserParameters"] = user_parameters
        job.update(job_fields)
        return event

    return make
