"""The pipeline's config: a valid config loads; each bad value is rejected with one line naming the key."""

from __future__ import annotations

import json

import pytest
from offline_support import REPO_ROOT

from regionflow.config import ConfigError, config_from_mapping
from regionflow.pipeline_config import DEFAULT_FILE_PATHS, DEFAULT_PULUMI_VERSION, load_pipeline_config

ACCOUNT = "123456789012"
STATE_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-1111-4111-8111-111111111111"
SECRETS_KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/22222222-2222-4222-8222-222222222222"
EU = {"stack": "organization/regionflow-secondary/prod-eu-west-1", "region": "eu-west-1"}
AP = {"stack": "organization/regionflow-secondary/prod-ap-southeast-2", "region": "ap-southeast-2"}
VALID: dict[str, str] = {
    "environment": "prod",
    "region": "us-east-1",
    "owner": "platform-team",
    "costCenter": "cc-1234",
    "primaryStack": "organization/regionflow-primary/prod",
    "secondaryStacks": json.dumps([EU, AP]),
    "repository": "acme/regionflow",
    "stateBackendUrl": f"s3://rflow-prod-use1-pulumi-state-{ACCOUNT}?region=us-east-1&awssdk=v2",
    "stateKeyArn": STATE_KEY,
    "secretsProvider": "awskms://alias/rflow-prod-use1-pulumi-secrets?region=us-east-1",
    "secretsKeyArn": SECRETS_KEY,
}


def load(values: dict[str, str], aws_region: str | None = "us-east-1"):  # type: ignore[no-untyped-def]
    return load_pipeline_config(
        repo_root=REPO_ROOT,
        project="regionflow-pipeline",
        stack="prod",
        get=config_from_mapping(values),
        aws_region=aws_region,
    )


def test_valid_config_with_defaults() -> None:
    config = load(VALID)
    assert config.regions == ("us-east-1", "eu-west-1", "ap-southeast-2")
    assert config.primary.folder == "stacks/primary"
    assert [s.folder for s in config.secondaries] == ["stacks/secondary", "stacks/secondary"]
    assert config.account_id == ACCOUNT
    assert config.backend.bucket == f"rflow-prod-use1-pulumi-state-{ACCOUNT}"
    assert config.backend.region == "us-east-1"
    assert config.pulumi_version == DEFAULT_PULUMI_VERSION
    assert config.github is not None and config.github.file_paths == DEFAULT_FILE_PATHS
    assert config.github.branch == "main"
    assert (config.update_pipeline, config.drift_detection, config.approval_timeout_minutes) == (False, True, 1440)


def test_pinned_cli_default_matches_constraints() -> None:
    pins = dict(line.split("==") for line in (REPO_ROOT / "constraints.txt").read_text().splitlines() if "==" in line)
    assert pins["pulumi"] == DEFAULT_PULUMI_VERSION


def test_s3_source() -> None:
    config = load({**VALID, "sourceKind": "s3", "sourceObjectKey": "drops/regionflow.zip"})
    assert config.github is None and config.s3 is not None and config.s3.object_key == "drops/regionflow.zip"


BAD: list[tuple[str, dict[str, str | None], str]] = [
    ("environment", {"environment": "Prod!"}, "regionflow-pipeline:environment"),
    ("missing primary", {"primaryStack": None}, "regionflow-pipeline:primaryStack: missing"),
    ("unqualified stack", {"primaryStack": "regionflow-primary/prod"}, "regionflow-pipeline:primaryStack"),
    ("unknown stack", {"primaryStack": "organization/regionflow-primary/qa"}, "has no stacks/<folder>/Pulumi.qa.yaml"),
    ("secondaries not a list", {"secondaryStacks": '{"a": 1}'}, "regionflow-pipeline:secondaryStacks"),
    ("entry keys", {"secondaryStacks": json.dumps([{"stack": EU["stack"]}])}, "secondaryStacks[0]"),
    (
        "bad region",
        {"secondaryStacks": json.dumps([{**EU, "region": "eu-west-9"}])},
        "secondaryStacks[0].region",
    ),
    ("home region", {"secondaryStacks": json.dumps([{**EU, "region": "us-east-1"}])}, "is the home region"),
    ("duplicate region", {"secondaryStacks": json.dumps([EU, {**AP, "region": "eu-west-1"}])}, "more than once"),
    ("duplicate stack", {"secondaryStacks": json.dumps([EU, {**EU, "region": "eu-north-1"}])}, "more than once"),
    ("pipeline as region", {"primaryStack": "organization/regionflow-pipeline/prod"}, "the pipeline stack itself"),
    ("source kind", {"sourceKind": "gitlab"}, "regionflow-pipeline:sourceKind"),
    ("repository", {"repository": "https://github.com/acme/regionflow"}, "regionflow-pipeline:repository"),
    ("no repository", {"repository": None}, "regionflow-pipeline:repository: missing"),
    ("file paths", {"filePaths": '"stacks/**"'}, "regionflow-pipeline:filePaths"),
    ("s3 key", {"sourceKind": "s3", "sourceObjectKey": "source/regionflow.tar"}, "sourceObjectKey"),
    ("backend scheme", {"stateBackendUrl": "file:///tmp/state"}, "regionflow-pipeline:stateBackendUrl"),
    ("backend region", {"stateBackendUrl": "s3://rflow-state"}, "names no supported region"),
    ("state key alias", {"stateKeyArn": "alias/rflow-prod-use1-pulumi-state"}, "regionflow-pipeline:stateKeyArn"),
    ("secrets provider", {"secretsProvider": "passphrase"}, "regionflow-pipeline:secretsProvider"),
    ("no secrets key", {"secretsKeyArn": None}, "regionflow-pipeline:secretsKeyArn: missing"),
    (
        "keys in two accounts",
        {"secretsKeyArn": SECRETS_KEY.replace(ACCOUNT, "210987654321")},
        "is in another account",
    ),
    ("cli version", {"pulumiVersion": "latest"}, "regionflow-pipeline:pulumiVersion"),
    ("approval timeout", {"approvalTimeoutMinutes": "20000"}, "regionflow-pipeline:approvalTimeoutMinutes"),
    ("update flag", {"updatePipeline": "yes"}, "regionflow-pipeline:updatePipeline"),
    ("drift flag", {"driftDetection": "1"}, "regionflow-pipeline:driftDetection"),
    ("email", {"notificationEmail": "platform"}, "regionflow-pipeline:notificationEmail"),
    ("retention", {"logRetentionDays": "10"}, "regionflow-pipeline:logRetentionDays"),
    ("long prefix", {"namePrefix": "a-long-name-prefix-for-rflow"}, "makes a name too long"),
]


@pytest.mark.parametrize(("case", "change", "expected"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_config_is_one_line_naming_the_key(case: str, change: dict[str, str | None], expected: str) -> None:
    values = {**VALID}
    for key, value in change.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    with pytest.raises(ConfigError) as caught:
        load(values)
    message = str(caught.value)
    assert "\n" not in message
    assert expected in message
    assert "Fix: " in message
    assert caught.value.key.startswith("regionflow-pipeline:")


def test_aws_region_must_be_the_home_region() -> None:
    with pytest.raises(ConfigError, match=r"^aws:region: 'eu-west-1' differs"):
        load(VALID, aws_region="eu-west-1")
