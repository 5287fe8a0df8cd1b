"""The regional config model: good config parses, and each bad input is one line naming the key and the fix."""

from __future__ import annotations

import pytest

from regionflow.config import ConfigError, config_from_mapping, load_regional_config

GOOD_SECONDARY = {
    "environment": "prod",
    "region": "eu-west-1",
    "primaryRegion": "us-east-1",
    "owner": "platform-team",
    "costCenter": "cc-1234",
}


def load(kind: str, **overrides: str | None) -> object:
    values = {**GOOD_SECONDARY, **overrides}
    present = {k: v for k, v in values.items() if v is not None}
    return load_regional_config(
        kind,  # type: ignore[arg-type]
        project=f"regionflow-{kind}",
        stack="prod-test",
        get=config_from_mapping(present),
    )


def test_good_secondary_config_has_defaults_and_derived_names() -> None:
    config = load("secondary")
    assert config.region == "eu-west-1"  # type: ignore[attr-defined]
    assert config.primary_region == "us-east-1"  # type: ignore[attr-defined]
    assert config.name_prefix == "rflow"  # type: ignore[attr-defined]
    assert config.log_retention_days == 365  # audit records: a year by default  # type: ignore[attr-defined]
    assert config.namer.base == "rflow-prod-euw1"  # type: ignore[attr-defined]


def test_tags_carry_every_required_key() -> None:
    tags = load("secondary").tags()  # type: ignore[attr-defined]
    assert tags == {
        "Project": "regionflow-secondary",
        "Environment": "prod",
        "Owner": "platform-team",
        "CostCenter": "cc-1234",
        "ManagedBy": "pulumi",
        "Stack": "regionflow-secondary/prod-test",
        "Region": "eu-west-1",
    }


# (kind, overrides, key named in the error, words the problem or fix must contain)
BAD_CONFIGS = [
    pytest.param("secondary", {"region": "eu-west-9"}, "region", "not an AWS region", id="unknown-region"),
    pytest.param(
        "secondary", {"region": "us-east-1"}, "region", "is the primary region", id="secondary-equals-primary"
    ),
    pytest.param("primary", {"region": "mars-1"}, "region", "not an AWS region", id="unknown-primary-region"),
    pytest.param("secondary", {"primaryRegion": "us-esat-1"}, "primaryRegion", "(did you mean ", id="typo"),
    pytest.param("secondary", {"environment": "Prod!"}, "environment", "lowercase letters", id="bad-environment"),
    pytest.param("secondary", {"environment": "p"}, "environment", "2-10", id="short-environment"),
    pytest.param(
        "secondary", {"notificationEmail": "not-an-email"}, "notificationEmail", "email address", id="bad-email"
    ),
    pytest.param(
        "secondary", {"logRetentionDays": "45"}, "logRetentionDays", "not a value AWS accepts", id="retention"
    ),
    pytest.param("secondary", {"logRetentionDays": "-1"}, "logRetentionDays", "not a value AWS accepts", id="negative"),
    pytest.param(
        "secondary", {"namePrefix": "a" * 32}, "namePrefix", "makes a name too long", id="prefix-overflows-bucket"
    ),
    pytest.param("secondary", {"namePrefix": "Rflow"}, "namePrefix", "lowercase letters", id="prefix-characters"),
    pytest.param("secondary", {"owner": None}, "owner", "missing required key", id="missing-owner"),
    pytest.param("secondary", {"region": None}, "region", "missing required key", id="missing-region"),
    pytest.param("secondary", {"primaryRegion": None}, "primaryRegion", "missing required key", id="missing-primary"),
    pytest.param("secondary", {"environment": None}, "environment", "missing required key", id="missing-environment"),
    pytest.param("secondary", {"costCenter": "cc#1"}, "costCenter", "tag values", id="tag-characters"),
    pytest.param(
        "secondary", {"artifactTransitionDays": "10"}, "artifactTransitionDays", "outside 30..3650", id="transition"
    ),
    pytest.param("secondary", {"loggerMemoryMb": "64"}, "loggerMemoryMb", "outside 128..10240", id="memory"),
    pytest.param("secondary", {"loggerTimeoutSeconds": "ten"}, "loggerTimeoutSeconds", "whole number", id="timeout"),
]


@pytest.mark.parametrize(("kind", "overrides", "key", "words"), BAD_CONFIGS)
def test_bad_config_is_one_line_naming_key_and_fix(
    kind: str, overrides: dict[str, str | None], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(kind, **overrides)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"regionflow-{kind}:{key}: ")
    assert words in message
    assert ". Fix: " in message
    assert caught.value.key == f"regionflow-{kind}:{key}"


def test_region_typo_suggests_the_intended_region() -> None:
    with pytest.raises(ConfigError) as caught:
        load("secondary", primaryRegion="us-esat-1")
    suggested = caught.value.problem.split("(did you mean ")[1].rstrip("?)").split(", ")
    assert "us-east-1" in suggested


def test_too_long_prefix_fix_says_how_much_to_shorten() -> None:
    with pytest.raises(ConfigError) as caught:
        load("secondary", namePrefix="a" * 32)
    # <prefix>-prod-euw1-artifacts-<12 digits> must fit S3's 63 characters: the fix says how short the prefix
    # must be, names the limit, and gives the command (with --stack) that sets a prefix of that length.
    bucket = f"{'a' * 32}-prod-euw1-artifacts-123456789012"
    room = 32 - (len(bucket) - 63)
    fix = caught.value.fix
    assert f"shorten namePrefix to at most {room} characters (the s3 bucket name may have at most 63)" in fix
    assert f"`pulumi config set --stack prod-test namePrefix {'a' * room}`" in fix
    load("secondary", namePrefix="a" * room)  # the suggested length is accepted


def test_name_prefix_limit_is_stated() -> None:
    with pytest.raises(ConfigError) as caught:
        load("secondary", namePrefix="a" * 33)
    assert "use 2-32 lowercase letters" in caught.value.problem


def test_hints_use_config_key_names_and_name_the_stack() -> None:
    with pytest.raises(ConfigError) as caught:
        load("secondary", loggerMemoryMb="64")
    assert caught.value.fix == "run `pulumi config set --stack prod-test loggerMemoryMb 256`"
    assert "memory_size" not in str(caught.value)


def test_longest_accepted_prefix_still_fits_every_name() -> None:
    # The bucket name is the tightest: 63 characters including "-prod-apse2-artifacts-" and the account.
    room = 63 - len("-prod-apse2-artifacts-123456789012")
    config = load("secondary", region="ap-southeast-2", namePrefix="a" * room)
    assert len(config.namer.bucket("artifacts", "123456789012")) == 63  # type: ignore[attr-defined]
    with pytest.raises(ConfigError):
        load("secondary", region="ap-southeast-2", namePrefix="a" * (room + 1))


def test_retention_values_are_exactly_what_cloudwatch_logs_accepts() -> None:
    import botocore.session

    from regionflow.config import LOG_RETENTION_DAYS

    model = botocore.session.get_session().get_service_model("logs")
    # The PutRetentionPolicy API documents the accepted values in its Days member.
    documentation = model.operation_model("PutRetentionPolicy").input_shape.members["retentionInDays"].documentation
    for days in LOG_RETENTION_DAYS:
        assert str(days) in documentation
    for days in (2, 45, 100, 4000):
        assert days not in LOG_RETENTION_DAYS
