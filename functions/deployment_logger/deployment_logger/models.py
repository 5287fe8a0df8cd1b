"""Typed shapes of what the function reads and writes. Standard library only.

* :class:`UserParametersDocument` / :class:`DeploymentParameters`: the JSON object the pipeline
  passes in the Invoke action's ``UserParameters`` (the contract with the pipeline stack).
* :class:`DeploymentRecord`: the structured record logged for each CodePipeline job.
* :class:`StateChange`: the fields of a CodePipeline EventBridge event the function acts on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, Literal, NotRequired, TypedDict, cast

from deployment_logger.errors import (
    InvalidEventError,
    MissingJobIdError,
    UnsupportedEventError,
    UserParametersError,
)

DeploymentStatus = Literal["Succeeded", "Failed"]
DEPLOYMENT_STATUSES: Final[tuple[DeploymentStatus, ...]] = ("Succeeded", "Failed")
DEFAULT_DEPLOYMENT_STATUS: Final[DeploymentStatus] = "Succeeded"

_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


class UserParametersDocument(TypedDict):
    """The wire format of ``UserParameters``: a JSON object with these keys (camelCase)."""

    pipeline: str
    executionId: str
    stage: str
    region: str
    stack: str
    commit: str
    status: NotRequired[DeploymentStatus]


# JSON key -> dataclass field, in documentation order.
_REQUIRED_KEYS: Final[dict[str, str]] = {
    "pipeline": "pipeline",
    "executionId": "execution_id",
    "stage": "stage",
    "region": "region",
    "stack": "stack",
    "commit": "commit",
}
_OPTIONAL_KEYS: Final[frozenset[str]] = frozenset({"status"})


@dataclass(frozen=True)
class DeploymentParameters:
    """Validated ``UserParameters`` of one Invoke action.

    ``status`` is the outcome of the regional ``pulumi up`` the pipeline reports; recording a
    ``Failed`` deployment is itself a successful job.
    """

    pipeline: str
    execution_id: str
    stage: str
    region: str
    stack: str
    commit: str
    status: DeploymentStatus = DEFAULT_DEPLOYMENT_STATUS

    @classmethod
    def from_user_parameters(cls, raw: object) -> DeploymentParameters:
        """Parse the raw ``UserParameters`` string; raise :class:`UserParametersError` on any deviation."""
        if raw is None:
            raise UserParametersError(
                "UserParameters is missing: configure the Invoke action with a JSON object "
                "with keys " + ", ".join(_REQUIRED_KEYS)
            )
        if not isinstance(raw, str):
            raise UserParametersError(
                f"UserParameters must be a string holding a JSON object, got {type(raw).__name__}"
            )
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserParametersError(
                f"UserParameters is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from exc
        if not isinstance(document, dict):
            raise UserParametersError(f"UserParameters must be a JSON object, got a JSON {_json_type(document)}")
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> DeploymentParameters:
        """Validate an already decoded ``UserParameters`` object."""
        # Unknown keys are rejected: a misspelt optional key ("Status") would otherwise be ignored
        # silently and the deployment recorded with the default status.
        unknown = sorted(set(document) - set(_REQUIRED_KEYS) - _OPTIONAL_KEYS)
        if unknown:
            raise UserParametersError(
                f"UserParameters has unknown key(s) {', '.join(map(repr, unknown))}: allowed keys are "
                + ", ".join([*_REQUIRED_KEYS, "status"])
            )
        values: dict[str, str] = {}
        for key, field in _REQUIRED_KEYS.items():
            if key not in document:
                raise UserParametersError(f"UserParameters is missing the required key {key!r}")
            value = document[key]
            if not isinstance(value, str):
                raise UserParametersError(
                    f"UserParameters key {key!r} must be a string, got a JSON {_json_type(value)}"
                )
            if not value.strip():
                raise UserParametersError(f"UserParameters key {key!r} must not be empty")
            values[field] = value
        if not _REGION.match(values["region"]):
            raise UserParametersError(
                f"UserParameters key 'region' must be an AWS Region code such as eu-west-1, got {values['region']!r}"
            )
        status = document.get("status", DEFAULT_DEPLOYMENT_STATUS)
        if status not in DEPLOYMENT_STATUSES:
            raise UserParametersError(
                f"UserParameters key 'status' must be one of {', '.join(DEPLOYMENT_STATUSES)}, got {status!r}"
            )
        return cls(status=cast(DeploymentStatus, status), **values)

    def to_document(self) -> UserParametersDocument:
        """The ``UserParameters`` object for these values (what the pipeline stack should render)."""
        return {
            "pipeline": self.pipeline,
            "executionId": self.execution_id,
            "stage": self.stage,
            "region": self.region,
            "stack": self.stack,
            "commit": self.commit,
            "status": self.status,
        }

    def to_user_parameters(self) -> str:
        """``UserParameters`` as the JSON string CodePipeline passes through unchanged."""
        return json.dumps(self.to_document(), separators=(",", ":"))


@dataclass(frozen=True)
class DeploymentRecord:
    """One regional deployment, as logged (one JSON line) for each CodePipeline job."""

    job_id: str
    account_id: str
    pipeline: str
    execution_id: str
    stage: str
    region: str
    stack: str
    commit: str
    status: DeploymentStatus
    recorded_at: str

    @classmethod
    def create(
        cls,
        *,
        job_id: str,
        account_id: str,
        parameters: DeploymentParameters,
        now: datetime | None = None,
    ) -> DeploymentRecord:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return cls(
            job_id=job_id,
            account_id=account_id,
            pipeline=parameters.pipeline,
            execution_id=parameters.execution_id,
            stage=parameters.stage,
            region=parameters.region,
            stack=parameters.stack,
            commit=parameters.commit,
            status=parameters.status,
            recorded_at=utc_timestamp(moment),
        )

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def metric_name(self) -> str:
        return "DeploymentsSucceeded" if self.status == "Succeeded" else "DeploymentsFailed"


def utc_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with millisecond precision and a ``Z`` suffix, e.g. ``2024-05-01T12:00:00.000Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Scope(str, Enum):
    """Which CodePipeline EventBridge detail-type an event has."""

    PIPELINE = "CodePipeline Pipeline Execution State Change"
    STAGE = "CodePipeline Stage Execution State Change"
    ACTION = "CodePipeline Action Execution State Change"

    @property
    def label(self) -> str:
        return self.name.lower()


CODEPIPELINE_SOURCE: Final = "aws.codepipeline"
SUPPORTED_DETAIL_TYPES: Final[tuple[str, ...]] = tuple(scope.value for scope in Scope)
JOB_KEY: Final = "CodePipeline.job"


class EventKind(str, Enum):
    JOB = "codepipeline_job"
    STATE_CHANGE = "eventbridge_state_change"


def classify_event(event: object) -> EventKind:
    """Tell a CodePipeline job from an EventBridge event; raise :class:`UnsupportedEventError` otherwise."""
    if not isinstance(event, Mapping):
        raise UnsupportedEventError(f"event must be a JSON object, got {_json_type(event)} ({type(event).__name__})")
    if JOB_KEY in event:
        return EventKind.JOB
    if "detail-type" in event and "source" in event:
        return EventKind.STATE_CHANGE
    keys = ", ".join(sorted(map(str, event))[:10]) or "none"
    raise UnsupportedEventError(
        f"event is neither a CodePipeline job (no {JOB_KEY!r} key) nor an EventBridge event "
        f"(no 'source'/'detail-type'); its top-level keys: {keys}"
    )


def job_id_of(event: Mapping[str, Any]) -> str:
    """The job id of a CodePipeline job event; raise :class:`MissingJobIdError` when it has none."""
    job = event.get(JOB_KEY)
    job_id = job.get("id") if isinstance(job, Mapping) else None
    if not isinstance(job_id, str) or not job_id.strip():
        raise MissingJobIdError(
            f"CodePipeline job event has no job id ({JOB_KEY!r}.id must be a non-empty string): "
            "no result can be reported to CodePipeline, so the invocation fails and Lambda's retries "
            "and on-failure destination keep the event"
        )
    return job_id


@dataclass(frozen=True)
class StateChange:
    """The fields of a CodePipeline state-change event the function uses.

    ``action_region`` is ``detail.region``: for cross-region actions it differs from ``region``,
    the Region of the pipeline that emitted the event.
    """

    scope: Scope
    event_id: str
    account: str
    region: str
    time: str
    pipeline: str
    execution_id: str
    state: str
    stage: str | None = None
    action: str | None = None
    action_category: str | None = None
    action_provider: str | None = None
    action_region: str | None = None
    summary: str | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> StateChange:
        """Parse an EventBridge event from ``aws.codepipeline``; raise on unknown kinds or missing fields."""
        source = event.get("source")
        if source != CODEPIPELINE_SOURCE:
            raise UnsupportedEventError(
                f"EventBridge event source {source!r} is not supported: only {CODEPIPELINE_SOURCE!r}"
            )
        detail_type = event.get("detail-type")
        try:
            scope = Scope(detail_type)
        except ValueError:
            raise UnsupportedEventError(
                f"EventBridge detail-type {detail_type!r} is not supported: "
                f"expected one of {', '.join(SUPPORTED_DETAIL_TYPES)}"
            ) from None
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise InvalidEventError(f"{scope.value} event has no 'detail' object")
        event_id = _required_str(event, "id", scope)
        action_type = detail.get("type")
        action_type = action_type if isinstance(action_type, Mapping) else {}
        execution_result = detail.get("execution-result")
        execution_result = execution_result if isinstance(execution_result, Mapping) else {}
        needs_stage = scope in (Scope.STAGE, Scope.ACTION)
        return cls(
            scope=scope,
            event_id=event_id,
            account=_optional_str(event, "account") or "unknown",
            region=_required_str(event, "region", scope),
            time=_optional_str(event, "time") or "unknown",
            pipeline=_required_str(detail, "pipeline", scope, "detail."),
            execution_id=_required_str(detail, "execution-id", scope, "detail."),
            state=_required_str(detail, "state", scope, "detail."),
            stage=_required_str(detail, "stage", scope, "detail.") if needs_stage else _optional_str(detail, "stage"),
            action=_required_str(detail, "action", scope, "detail.") if scope is Scope.ACTION else None,
            action_category=_optional_str(action_type, "category"),
            action_provider=_optional_str(action_type, "provider"),
            action_region=_optional_str(detail, "region"),
            summary=_optional_str(execution_result, "external-execution-summary"),
        )


def _required_str(data: Mapping[str, Any], key: str, scope: Scope, prefix: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"{scope.value} event has no usable '{prefix}{key}' (a non-empty string is required)")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"
