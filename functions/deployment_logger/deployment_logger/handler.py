"""Lambda entry point: ``deployment_logger.handler.lambda_handler``.

Two kinds of events arrive, both asynchronously:

* a CodePipeline job from the pipeline's Invoke action: the deployment is recorded (one JSON log
  line plus an EMF metric) and the job's result is reported to CodePipeline, whatever happens;
* a CodePipeline state change from EventBridge: failed pipelines and stages are announced on the
  notification topic, failed deployment actions are counted.

Anything that cannot be handled raises, so Lambda's bounded retries and the on-failure destination
keep the event. See README.md beside this package for the full contract.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import (
    CodePipelineJobEvent,
    EventBridgeEvent,
)
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    DataRecord,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from deployment_logger.errors import (
    InvalidEventError,
    JobResultReportingError,
    NotificationError,
    SettingsError,
    UserParametersError,
)
from deployment_logger.models import (
    JOB_KEY,
    DeploymentParameters,
    DeploymentRecord,
    EventKind,
    StateChange,
    classify_event,
    job_id_of,
)
from deployment_logger.settings import Settings, load_settings
from deployment_logger.state_changes import (
    Reaction,
    build_notification,
    decide,
    deployment_region,
)

logger = Logger()
tracer = Tracer()
# service="" keeps Powertools from adding its default "service" dimension: the metrics carry exactly
# the Region dimension, so alarms on DeploymentsFailed{Region=...} match them.
metrics = Metrics(service="")

METRIC_REGION_DIMENSION: Final = "Region"
METRIC_DEPLOYMENTS_FAILED: Final = "DeploymentsFailed"
# CodePipeline API limits (PutJobFailureResult failureDetails.message, executionDetails.summary).
FAILURE_MESSAGE_MAX_LENGTH: Final = 5000
SUCCESS_SUMMARY_MAX_LENGTH: Final = 2048
EXTERNAL_EXECUTION_ID_MAX_LENGTH: Final = 1500
# Idempotency keys: one record per CodePipeline job id and per EventBridge event id.
JOB_IDEMPOTENCY_KEY: Final = f'"{JOB_KEY}".id'
EVENT_IDEMPOTENCY_KEY: Final = "id"

# Bounded, fast-failing AWS calls: a hung call would keep a pipeline job waiting and burn the
# invocation's time; retries of whole events are Lambda's job.
_BOTO_CONFIG: Final = Config(connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3})

Response = dict[str, Any]


@dataclass(frozen=True)
class Runtime:
    """Everything built once per container from validated settings."""

    settings: Settings
    sns: Any  # boto3 clients are generated at run time; there are no static types to name here
    job_idempotency: IdempotencyConfig
    event_idempotency: IdempotencyConfig
    record_job: Callable[..., Response]
    process_state_change: Callable[..., Response]


@functools.cache
def get_runtime() -> Runtime:
    """Validate the settings and create the clients, once per container (cached)."""
    settings = load_settings()
    # boto3's default session: its loaded service models are shared by every client it creates.
    dynamodb = boto3.client("dynamodb", region_name=settings.region, config=_BOTO_CONFIG)

    def idempotency(key: str) -> tuple[IdempotencyConfig, DynamoDBPersistenceLayer]:
        config = IdempotencyConfig(
            event_key_jmespath=key,
            raise_on_no_idempotency_key=True,
            expires_after_seconds=settings.idempotency_ttl_seconds,
            response_hook=_on_duplicate,
        )
        # One persistence layer per key expression: Powertools configures a layer only once.
        return config, DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name, boto3_client=dynamodb)

    job_config, job_store = idempotency(JOB_IDEMPOTENCY_KEY)
    event_config, event_store = idempotency(EVENT_IDEMPOTENCY_KEY)
    return Runtime(
        settings=settings,
        sns=boto3.client("sns", region_name=settings.region, config=_BOTO_CONFIG),
        job_idempotency=job_config,
        event_idempotency=event_config,
        record_job=idempotent_function(
            _record_job,
            data_keyword_argument="event",
            persistence_store=job_store,
            config=job_config,
        ),
        process_state_change=idempotent_function(
            _process_state_change,
            data_keyword_argument="event",
            persistence_store=event_store,
            config=event_config,
        ),
    )


@functools.cache
def codepipeline_client() -> Any:
    """Created apart from :func:`get_runtime` so a job can be failed even when the settings are wrong."""
    # Region from the runtime (AWS_REGION / AWS_DEFAULT_REGION), as boto3 resolves it.
    return boto3.client("codepipeline", config=_BOTO_CONFIG)


def clear_caches() -> None:
    """Forget settings and clients, so the next invocation re-reads the environment (tests, benchmarks)."""
    get_runtime.cache_clear()
    codepipeline_client.cache_clear()


# log_event=False even if POWERTOOLS_LOGGER_LOG_EVENT is set: job events carry artifact credentials.
@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: Any, context: LambdaContext) -> Response:
    try:
        kind = classify_event(event)
        logger.append_keys(event_kind=kind.value)
        tracer.put_annotation(key="event_kind", value=kind.value)
        if kind is EventKind.JOB:
            return _handle_job(event, context)
        return _handle_state_change(event, context)
    except Exception as exc:
        # The one place failed invocations are logged, with the specific error's message.
        # The message names the error itself, so the line reads on its own; the traceback follows.
        message = (
            f"Event not processed: {type(exc).__name__}: {exc}; the invocation fails so Lambda retries "
            "it and then hands it to the on-failure destination"
        )
        logger.exception(message, extra={"error_type": type(exc).__name__})
        raise


# --- CodePipeline jobs ------------------------------------------------------------------------


@dataclass
class _JobProgress:
    """Whether CodePipeline already has this job's result; a job must get exactly one."""

    reported: bool = False


def _handle_job(event: Mapping[str, Any], context: LambdaContext) -> Response:
    job_id = job_id_of(event)  # without a job id nothing can be reported: raises
    logger.set_correlation_id(job_id)
    request_id = _request_id(context)
    progress = _JobProgress()
    try:
        runtime = get_runtime()
    except SettingsError as exc:
        message = f"The deployment logger function is misconfigured: {exc}"
        logger.error(message)
        _report_failure(job_id, "ConfigurationError", message, request_id, progress)
        return _job_response(job_id, failure_type="ConfigurationError", message=message)
    except Exception as exc:
        # E.g. a client that cannot be created: the job must still get its result.
        message = f"The deployment logger could not start: {type(exc).__name__}: {exc}"
        logger.exception(message)
        _report_failure(job_id, "JobFailed", message, request_id, progress)
        return _job_response(job_id, failure_type="JobFailed", message=message)
    runtime.job_idempotency.register_lambda_context(context)
    try:
        return runtime.record_job(event=event, job_id=job_id, request_id=request_id, progress=progress)
    except (JobResultReportingError, IdempotencyAlreadyInProgressError):
        # Nothing was reported yet (or another invocation is on it): raise so Lambda retries.
        raise
    except Exception as exc:
        # Raised around the recording itself, by the idempotency store: the job must still end.
        if progress.reported:
            message = (
                f"Job {job_id} was reported to CodePipeline, but its idempotency record could not be "
                f"saved ({exc}); a redelivery of this job would be processed again"
            )
            logger.exception(message)
            return _job_response(job_id, message=str(exc))
        message = f"The deployment logger could not record job {job_id}: {type(exc).__name__}: {exc}"
        logger.exception(message)
        _report_failure(job_id, "JobFailed", message, request_id, progress)
        return _job_response(job_id, failure_type="JobFailed", message=message)


def _record_job(*, event: Mapping[str, Any], job_id: str, request_id: str, progress: _JobProgress) -> Response:
    """Record the deployment and report the job's result; idempotent per job id.

    Every error ends in a failure result: a job left without a result keeps the pipeline waiting
    until the action times out.
    """
    try:
        job = CodePipelineJobEvent(dict(event))
        parameters = DeploymentParameters.from_user_parameters(_user_parameters(job))
        record = DeploymentRecord.create(
            job_id=job_id,
            account_id=str(event[JOB_KEY].get("accountId", "unknown")),
            parameters=parameters,
        )
        logger.info(
            f"Deployment recorded: {record.stack} in {record.region} {record.status}",
            extra={"deployment": record.as_dict()},
        )
        _emit_deployment_metric(
            record.metric_name,
            record.region,
            {
                "pipeline": record.pipeline,
                "executionId": record.execution_id,
                "stack": record.stack,
                "jobId": job_id,
            },
        )
        summary = f"Recorded {record.status} deployment of {record.stack} in {record.region} (commit {record.commit})"
        _report_success(job_id, summary, request_id, progress)
        return _job_response(job_id, deployment=record.as_dict())
    except UserParametersError as exc:
        message = f"Invalid UserParameters for the deployment logger: {exc}"
        logger.error(message)
        _report_failure(job_id, "ConfigurationError", message, request_id, progress)
        return _job_response(job_id, failure_type="ConfigurationError", message=message)
    except JobResultReportingError:
        raise
    except Exception as exc:  # any failure (logging, metrics, API) must fail the job
        if progress.reported:
            # Failed after CodePipeline accepted the success: a second result would be rejected.
            message = f"Job {job_id} was reported as succeeded, then failed: {type(exc).__name__}: {exc}"
            logger.exception(message)
            return _job_response(job_id, message=str(exc))
        message = f"The deployment logger could not record job {job_id}: {type(exc).__name__}: {exc}"
        logger.exception(message)
        _report_failure(job_id, "JobFailed", message, request_id, progress)
        return _job_response(job_id, failure_type="JobFailed", message=message)


def _user_parameters(job: CodePipelineJobEvent) -> str | None:
    try:
        return job.user_parameters
    except (KeyError, TypeError, AttributeError):
        raise InvalidEventError(
            f"CodePipeline job event has no {JOB_KEY}.data.actionConfiguration.configuration object"
        ) from None


def _report_success(job_id: str, summary: str, request_id: str, progress: _JobProgress) -> None:
    codepipeline_client().put_job_success_result(
        jobId=job_id,
        executionDetails={
            "summary": _truncate(summary, SUCCESS_SUMMARY_MAX_LENGTH),
            "externalExecutionId": request_id,
            "percentComplete": 100,
        },
    )
    progress.reported = True
    logger.info(f"Reported success of job {job_id} to CodePipeline")


def _report_failure(
    job_id: str,
    failure_type: str,
    message: str,
    request_id: str,
    progress: _JobProgress,
) -> None:
    details = {
        "type": failure_type,
        "message": _truncate(message, FAILURE_MESSAGE_MAX_LENGTH),
        "externalExecutionId": request_id,
    }
    try:
        codepipeline_client().put_job_failure_result(jobId=job_id, failureDetails=details)
    except Exception as exc:
        raise JobResultReportingError(
            f"CodePipeline did not accept the failure result ({failure_type}) of job {job_id}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    progress.reported = True
    logger.info(f"Reported failure ({failure_type}) of job {job_id} to CodePipeline")


def _job_response(
    job_id: str,
    *,
    failure_type: str | None = None,
    message: str | None = None,
    deployment: dict[str, str] | None = None,
) -> Response:
    response: Response = {
        "jobId": job_id,
        "result": "failed" if failure_type else "succeeded",
    }
    if failure_type:
        response["failureType"] = failure_type
    if message:
        response["message"] = _truncate(message, FAILURE_MESSAGE_MAX_LENGTH)
    if deployment:
        response["deployment"] = deployment
    return response


# --- EventBridge state changes ------------------------------------------------------------------


def _handle_state_change(event: Mapping[str, Any], context: LambdaContext) -> Response:
    # Settings are validated before any work; a SettingsError raises (async retry, then DLQ).
    runtime = get_runtime()
    change = StateChange.from_event(EventBridgeEvent(dict(event)))
    logger.set_correlation_id(change.event_id)
    reaction = decide(change)
    summary = _change_fields(change)
    if reaction is Reaction.IGNORE:
        # Most state changes (STARTED, SUCCEEDED, ...) need nothing; they skip the idempotency store.
        logger.info(
            f"Ignored {change.scope.label} state {change.state}",
            extra={"state_change": summary},
        )
        return {"eventId": change.event_id, "reaction": reaction.value}
    runtime.event_idempotency.register_lambda_context(context)
    return runtime.process_state_change(event=event, change=change, reaction=reaction)


def _process_state_change(*, event: Mapping[str, Any], change: StateChange, reaction: Reaction) -> Response:
    """Act on one state change; idempotent per EventBridge event id. Errors raise (async retry)."""
    response: Response = {"eventId": change.event_id, "reaction": reaction.value}
    if reaction is Reaction.NOTIFY:
        response["messageId"] = _publish_notification(change)
    elif reaction is Reaction.COUNT_FAILED_DEPLOYMENT:
        region = deployment_region(change)
        _emit_deployment_metric(
            METRIC_DEPLOYMENTS_FAILED,
            region,
            {
                "pipeline": change.pipeline,
                "executionId": change.execution_id,
                "stage": change.stage,
                "action": change.action,
            },
        )
        logger.info(
            f"Counted failed deployment action {change.stage}/{change.action} in {region}",
            extra={"state_change": _change_fields(change)},
        )
        response["region"] = region
    return response


def _publish_notification(change: StateChange) -> str:
    runtime = get_runtime()
    notification = build_notification(change)
    topic_arn = runtime.settings.notification_topic_arn
    try:
        response = runtime.sns.publish(
            TopicArn=topic_arn,
            Subject=notification.subject,
            Message=notification.message,
        )
    except Exception as exc:
        failed = (
            f"pipeline {change.pipeline}"
            if change.stage is None
            else f"stage {change.stage} of pipeline {change.pipeline}"
        )
        raise NotificationError(
            f"SNS did not accept the failure notification for {failed} (execution {change.execution_id}) "
            f"on topic {topic_arn}: {type(exc).__name__}: {exc}"
        ) from exc
    message_id = str(response["MessageId"])
    logger.info(
        f"Published failure notification: {notification.subject}",
        extra={"state_change": _change_fields(change), "sns_message_id": message_id},
    )
    return message_id


def _change_fields(change: StateChange) -> dict[str, str]:
    fields = {
        "scope": change.scope.label,
        "pipeline": change.pipeline,
        "execution_id": change.execution_id,
        "state": change.state,
        "stage": change.stage,
        "action": change.action,
        "category": change.action_category,
        "region": change.region,
        "action_region": change.action_region,
    }
    return {key: value for key, value in fields.items() if value is not None}


# --- shared helpers -----------------------------------------------------------------------------


def _emit_deployment_metric(name: str, region: str, metadata: Mapping[str, str | None]) -> None:
    """Write one EMF blob (Count 1, dimension Region) to stdout right away.

    Flushing here, not at the end of the invocation, surfaces metric errors before a job is
    reported as succeeded.
    """
    try:
        metrics.add_dimension(name=METRIC_REGION_DIMENSION, value=region)
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        for key, value in metadata.items():
            if value is not None:
                metrics.add_metadata(key=key, value=value)
        metrics.flush_metrics(raise_on_empty_metrics=True)
    finally:
        # Metrics state is shared class-wide; never let a half-built set leak into the next call.
        metrics.clear_metrics()


def _on_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    """Powertools calls this instead of the function when the event was already processed."""
    logger.info(
        "Duplicate delivery: this event was already processed; nothing is done again",
        extra={"idempotency_key": idempotent_data.idempotency_key},
    )
    return {**response, "duplicate": True} if isinstance(response, dict) else response


def _request_id(context: LambdaContext) -> str:
    request_id = str(getattr(context, "aws_request_id", "") or "unknown")
    return request_id[:EXTERNAL_EXECUTION_ID_MAX_LENGTH]


def _truncate(text: str, limit: int) -> str:
    marker = " [truncated]"
    return text if len(text) <= limit else text[: limit - len(marker)] + marker
