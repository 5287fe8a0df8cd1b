"""Configuration of the deployment logger, read from environment variables.

The regional stack sets exactly the variables in :data:`REQUIRED_ENV_VARS` (and may set those in
:data:`OPTIONAL_ENV_VARS`); a stack-side test can import this module to assert that. It uses the
standard library only, so importing it needs neither Powertools nor boto3.

:func:`load_settings` validates everything before the function does any work and raises
:class:`~deployment_logger.errors.SettingsError` with a single-line message that names the
variable and says how to fix it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from deployment_logger.errors import SettingsError

# Read by Powertools itself (Logger, Metrics, Tracer); validated here so a typo fails loudly.
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
# The function's own resources.
ENV_NOTIFICATION_TOPIC_ARN = "NOTIFICATION_TOPIC_ARN"
ENV_IDEMPOTENCY_TABLE_NAME = "IDEMPOTENCY_TABLE_NAME"
ENV_IDEMPOTENCY_TTL_SECONDS = "IDEMPOTENCY_TTL_SECONDS"
# Set by the Lambda runtime, never by the stack.
ENV_AWS_REGION = "AWS_REGION"
ENV_AWS_DEFAULT_REGION = "AWS_DEFAULT_REGION"

REQUIRED_ENV_VARS: tuple[str, ...] = (
    ENV_SERVICE_NAME,
    ENV_METRICS_NAMESPACE,
    ENV_LOG_LEVEL,
    ENV_NOTIFICATION_TOPIC_ARN,
    ENV_IDEMPOTENCY_TABLE_NAME,
)
OPTIONAL_ENV_VARS: tuple[str, ...] = (ENV_IDEMPOTENCY_TTL_SECONDS,)

# The values the stack is expected to set for the Powertools variables.
SERVICE_NAME = "deployment-logger"
METRICS_NAMESPACE = "Regionflow"
LOG_LEVEL = "INFO"

DEFAULT_IDEMPOTENCY_TTL_SECONDS = 86_400
# Lambda keeps retrying an async event for up to 6 hours; a record that expires sooner could let a
# late retry record the same event twice, so anything below an hour is most likely a mistake.
MIN_IDEMPOTENCY_TTL_SECONDS = 3_600
MAX_IDEMPOTENCY_TTL_SECONDS = 31 * 86_400

_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
# arn:<partition>:sns:<region>:<12-digit account>:<topic name, optionally .fifo>
_TOPIC_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sns:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):(?P<account>\d{12}):"
    r"(?P<name>[A-Za-z0-9_-]{1,256}(?:\.fifo)?)$"
)
# DynamoDB table names: 3-255 characters of letters, digits, underscore, dash and dot.
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")


@dataclass(frozen=True)
class Settings:
    """Validated configuration; one instance per Lambda container."""

    service_name: str
    metrics_namespace: str
    log_level: str
    notification_topic_arn: str
    idempotency_table_name: str
    idempotency_ttl_seconds: int
    region: str


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    region = _region(env)
    return Settings(
        service_name=_required(env, ENV_SERVICE_NAME, f"set it to {SERVICE_NAME!r}"),
        metrics_namespace=_required(env, ENV_METRICS_NAMESPACE, f"set it to {METRICS_NAMESPACE!r}"),
        log_level=_log_level(env),
        notification_topic_arn=_topic_arn(env, region),
        idempotency_table_name=_table_name(env),
        idempotency_ttl_seconds=_ttl_seconds(env),
        region=region,
    )


def _required(env: Mapping[str, str], name: str, fix: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set or empty: {fix}")
    return value


def _region(env: Mapping[str, str]) -> str:
    # Lambda sets both; AWS_DEFAULT_REGION is the fallback boto3 itself uses outside Lambda.
    region = env.get(ENV_AWS_REGION, "").strip() or env.get(ENV_AWS_DEFAULT_REGION, "").strip()
    if not region:
        raise SettingsError(
            f"{ENV_AWS_REGION} is not set: the Lambda runtime sets it; outside Lambda export "
            f"{ENV_AWS_REGION}=<region>, e.g. eu-west-1"
        )
    if not _REGION.match(region):
        raise SettingsError(f"{ENV_AWS_REGION}={region!r} is not an AWS Region code such as eu-west-1")
    return region


def _log_level(env: Mapping[str, str]) -> str:
    level = _required(env, ENV_LOG_LEVEL, f"set it to {LOG_LEVEL!r}").upper()
    if level not in _LOG_LEVELS:
        raise SettingsError(
            f"{ENV_LOG_LEVEL}={level!r} is not a log level: use one of {', '.join(sorted(_LOG_LEVELS))}"
        )
    return level


def _topic_arn(env: Mapping[str, str], region: str) -> str:
    arn = _required(
        env,
        ENV_NOTIFICATION_TOPIC_ARN,
        "set it to the ARN of the regional notification topic, arn:aws:sns:<region>:<account>:<name>",
    )
    match = _TOPIC_ARN.match(arn)
    if match is None:
        raise SettingsError(
            f"{ENV_NOTIFICATION_TOPIC_ARN}={arn!r} is not an SNS topic ARN: "
            "it must look like arn:aws:sns:<region>:<account>:<name>"
        )
    if match["region"] != region:
        # Each regional stack owns its own topic; a topic of another region means the stack
        # wired the wrong output, and cross-region publishing would hide that.
        raise SettingsError(
            f"{ENV_NOTIFICATION_TOPIC_ARN} points to a topic in {match['region']} but the function runs in "
            f"{region}: set it to the notification topic of {region}"
        )
    return arn


def _table_name(env: Mapping[str, str]) -> str:
    name = _required(
        env,
        ENV_IDEMPOTENCY_TABLE_NAME,
        "set it to the name of the idempotency DynamoDB table",
    )
    if not _TABLE_NAME.match(name):
        raise SettingsError(
            f"{ENV_IDEMPOTENCY_TABLE_NAME}={name!r} is not a DynamoDB table name: "
            "use the table's name (3-255 of A-Z a-z 0-9 _ . -), not its ARN"
        )
    return name


def _ttl_seconds(env: Mapping[str, str]) -> int:
    raw = env.get(ENV_IDEMPOTENCY_TTL_SECONDS, "").strip()
    if not raw:
        return DEFAULT_IDEMPOTENCY_TTL_SECONDS
    try:
        seconds = int(raw)
    except ValueError:
        seconds = -1
    if not MIN_IDEMPOTENCY_TTL_SECONDS <= seconds <= MAX_IDEMPOTENCY_TTL_SECONDS:
        raise SettingsError(
            f"{ENV_IDEMPOTENCY_TTL_SECONDS}={raw!r} is not a whole number of seconds between "
            f"{MIN_IDEMPOTENCY_TTL_SECONDS} and {MAX_IDEMPOTENCY_TTL_SECONDS}: unset it to use "
            f"{DEFAULT_IDEMPOTENCY_TTL_SECONDS}"
        )
    return seconds
