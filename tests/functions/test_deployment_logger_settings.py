"""Settings: the environment contract with the regional stack, validated with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployment_logger import settings
from deployment_logger.errors import SettingsError
from deployment_logger.settings import Settings, load_settings

REGION = "us-west-2"
TOPIC_ARN = f"arn:aws:sns:{REGION}:123456789012:regionflow-deployment-notifications"

VALID_ENV = {
    "AWS_REGION": REGION,
    "POWERTOOLS_SERVICE_NAME": "deployment-logger",
    "POWERTOOLS_METRICS_NAMESPACE": "Regionflow",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "NOTIFICATION_TOPIC_ARN": TOPIC_ARN,
    "IDEMPOTENCY_TABLE_NAME": "regionflow-deployment-logger-idempotency",
}


def with_env(**changes: str | None) -> dict[str, str]:
    env = dict(VALID_ENV)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_env_var_names_are_the_stack_contract() -> None:
    # The stack side asserts it sets exactly these; renaming one here must be a deliberate change.
    assert settings.REQUIRED_ENV_VARS == (
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "NOTIFICATION_TOPIC_ARN",
        "IDEMPOTENCY_TABLE_NAME",
    )
    assert settings.OPTIONAL_ENV_VARS == ("IDEMPOTENCY_TTL_SECONDS",)
    assert settings.ENV_NOTIFICATION_TOPIC_ARN == "NOTIFICATION_TOPIC_ARN"
    assert settings.ENV_IDEMPOTENCY_TABLE_NAME == "IDEMPOTENCY_TABLE_NAME"
    assert settings.ENV_IDEMPOTENCY_TTL_SECONDS == "IDEMPOTENCY_TTL_SECONDS"
    assert (settings.SERVICE_NAME, settings.METRICS_NAMESPACE, settings.LOG_LEVEL) == (
        "deployment-logger",
        "Regionflow",
        "INFO",
    )


def test_readme_documents_every_variable() -> None:
    readme = (Path(__file__).resolve().parents[2] / "functions" / "deployment_logger" / "README.md").read_text()
    for name in (*settings.REQUIRED_ENV_VARS, *settings.OPTIONAL_ENV_VARS):
        assert f"| `{name}` |" in readme, name


def test_required_env_vars_plus_the_runtime_region_are_sufficient() -> None:
    env = {name: VALID_ENV[name] for name in settings.REQUIRED_ENV_VARS}
    env["AWS_REGION"] = REGION

    assert load_settings(env) == Settings(
        service_name="deployment-logger",
        metrics_namespace="Regionflow",
        log_level="INFO",
        notification_topic_arn=TOPIC_ARN,
        idempotency_table_name="regionflow-deployment-logger-idempotency",
        idempotency_ttl_seconds=86_400,
        region=REGION,
    )


def test_settings_are_frozen() -> None:
    loaded = load_settings(VALID_ENV)
    with pytest.raises(AttributeError):
        loaded.region = "eu-west-1"  # type: ignore[misc]


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in with_env(IDEMPOTENCY_TTL_SECONDS="7200").items():
        monkeypatch.setenv(name, value)
    assert load_settings().idempotency_ttl_seconds == 7200


def test_region_falls_back_to_aws_default_region() -> None:
    env = with_env(AWS_REGION=None, AWS_DEFAULT_REGION=REGION)
    assert load_settings(env).region == REGION


def test_log_level_is_case_insensitive() -> None:
    assert load_settings(with_env(POWERTOOLS_LOG_LEVEL="debug")).log_level == "DEBUG"


@pytest.mark.parametrize("name", settings.REQUIRED_ENV_VARS)
@pytest.mark.parametrize("value", [None, "", "   "])
def test_each_required_variable_must_be_set(name: str, value: str | None) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(with_env(**{name: value}))
    assert str(raised.value).startswith(f"{name} is not set or empty: ")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"NOTIFICATION_TOPIC_ARN": "regionflow-deployment-notifications"},
            (
                "NOTIFICATION_TOPIC_ARN='regionflow-deployment-notifications' is not an SNS topic ARN: "
                "it must look like arn:aws:sns:<region>:<account>:<name>"
            ),
        ),
        (
            {"NOTIFICATION_TOPIC_ARN": f"arn:aws:sqs:{REGION}:123456789012:notifications"},
            (
                f"NOTIFICATION_TOPIC_ARN='arn:aws:sqs:{REGION}:123456789012:notifications' is not an SNS topic "
                "ARN: it must look like arn:aws:sns:<region>:<account>:<name>"
            ),
        ),
        (
            {"NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:notifications"},
            (
                "NOTIFICATION_TOPIC_ARN points to a topic in eu-west-1 but the function runs in us-west-2: "
                "set it to the notification topic of us-west-2"
            ),
        ),
        (
            {"IDEMPOTENCY_TABLE_NAME": f"arn:aws:dynamodb:{REGION}:123456789012:table/idempotency"},
            (
                f"IDEMPOTENCY_TABLE_NAME='arn:aws:dynamodb:{REGION}:123456789012:table/idempotency' is not a "
                "DynamoDB table name: use the table's name (3-255 of A-Z a-z 0-9 _ . -), not its ARN"
            ),
        ),
        (
            {"IDEMPOTENCY_TTL_SECONDS": "one day"},
            (
                "IDEMPOTENCY_TTL_SECONDS='one day' is not a whole number of seconds between 3600 and 2678400: "
                "unset it to use 86400"
            ),
        ),
        (
            {"IDEMPOTENCY_TTL_SECONDS": "60"},
            (
                "IDEMPOTENCY_TTL_SECONDS='60' is not a whole number of seconds between 3600 and 2678400: "
                "unset it to use 86400"
            ),
        ),
        (
            {"POWERTOOLS_LOG_LEVEL": "LOUD"},
            "POWERTOOLS_LOG_LEVEL='LOUD' is not a log level: use one of CRITICAL, DEBUG, ERROR, INFO, WARNING",
        ),
        (
            {"AWS_REGION": None},
            (
                "AWS_REGION is not set: the Lambda runtime sets it; outside Lambda export AWS_REGION=<region>, "
                "e.g. eu-west-1"
            ),
        ),
        (
            {"AWS_REGION": "Oregon"},
            "AWS_REGION='Oregon' is not an AWS Region code such as eu-west-1",
        ),
    ],
)
def test_malformed_values_are_rejected_with_the_fix(changes: dict[str, str | None], expected: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(with_env(**changes))
    assert str(raised.value) == expected


def test_error_messages_stay_on_one_line() -> None:
    # A value with a line break must not split the error into several log lines.
    with pytest.raises(SettingsError) as raised:
        load_settings(with_env(NOTIFICATION_TOPIC_ARN=TOPIC_ARN + "\nX-Injected: yes"))
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("NOTIFICATION_TOPIC_ARN=")


def test_fifo_topics_in_other_partitions_are_accepted() -> None:
    arn = "arn:aws-us-gov:sns:us-gov-west-1:123456789012:notifications.fifo"
    loaded = load_settings(with_env(AWS_REGION="us-gov-west-1", NOTIFICATION_TOPIC_ARN=arn))
    assert loaded.notification_topic_arn == arn
