"""Names within AWS limits, the supported regions against botocore, and the taggable types against pulumi_aws."""

from __future__ import annotations

import importlib

import boto3
import pytest
from offline_support import of_type

from regionflow.naming import NameKind, Namer, NameTooLongError
from regionflow.offline.runner import StackResult
from regionflow.regions import SUPPORTED_REGIONS, closest_regions, region_code
from regionflow.tagging import REQUIRED_TAG_KEYS, TAGGABLE_TYPES, UNTAGGABLE_TYPES, missing_tags


def test_supported_regions_are_where_codepipeline_codebuild_and_lambda_all_exist() -> None:
    session = boto3.session.Session()
    offered = [set(session.get_available_regions(service)) for service in ("codepipeline", "codebuild", "lambda")]
    assert set.intersection(*offered) == SUPPORTED_REGIONS


def test_region_codes_are_unique_and_short() -> None:
    codes = {region_code(region) for region in SUPPORTED_REGIONS}
    assert len(codes) == len(SUPPORTED_REGIONS)
    assert max(len(code) for code in codes) <= 6
    assert region_code("eu-west-1") == "euw1"
    assert region_code("ap-southeast-2") == "apse2"


def test_region_code_rejects_non_regions() -> None:
    with pytest.raises(ValueError, match="not a region name"):
        region_code("europe")


def test_closest_regions_finds_the_typo() -> None:
    assert "eu-west-1" in closest_regions("eu-wset-1")
    assert closest_regions("zzzz") == []


def test_names_are_deterministic_and_carry_prefix_environment_region() -> None:
    namer = Namer("rflow", "prod", "ap-southeast-2")
    assert namer.name(NameKind.LAMBDA_FUNCTION, "deploy-logger") == "rflow-prod-apse2-deploy-logger"
    assert Namer("rflow", "prod", "ap-southeast-2").name(NameKind.LAMBDA_FUNCTION, "deploy-logger") == (
        namer.name(NameKind.LAMBDA_FUNCTION, "deploy-logger")
    )
    assert namer.bucket("artifacts", "123456789012") == "rflow-prod-apse2-artifacts-123456789012"
    assert namer.alias("artifacts") == "alias/rflow-prod-apse2-artifacts"


@pytest.mark.parametrize(
    ("kind", "limit"),
    [(NameKind.S3_BUCKET, 63), (NameKind.IAM_ROLE, 64), (NameKind.LAMBDA_FUNCTION, 64), (NameKind.SQS_QUEUE, 80)],
)
def test_names_over_the_aws_limit_are_refused(kind: NameKind, limit: int) -> None:
    namer = Namer("rflow", "prod", "us-east-1")
    room = limit - len(namer.base) - 1
    if kind is NameKind.S3_BUCKET:
        room -= 13  # "-" and the 12-digit account ID
        assert len(namer.bucket("x" * room, "123456789012")) == limit
        with pytest.raises(NameTooLongError):
            namer.bucket("x" * (room + 1), "123456789012")
    else:
        assert len(namer.name(kind, "x" * room)) == limit
        with pytest.raises(NameTooLongError):
            namer.name(kind, "x" * (room + 1))


def test_names_with_characters_aws_refuses_are_refused() -> None:
    with pytest.raises(ValueError, match="characters AWS does not allow"):
        Namer("rflow", "prod", "us-east-1").name(NameKind.LAMBDA_FUNCTION, "deploy.logger")
    with pytest.raises(ValueError, match="12 digits"):
        Namer("rflow", "prod", "us-east-1").bucket("artifacts", "1234")


def _resource_class(type_token: str) -> type:
    # "aws:cloudwatch/logGroup:LogGroup" -> pulumi_aws.cloudwatch.LogGroup ("lambda" is "lambda_" in Python)
    _, module_path, class_name = type_token.split(":")
    module = module_path.split("/")[0]
    module = {"lambda": "lambda_"}.get(module, module)
    cls: type = getattr(importlib.import_module(f"pulumi_aws.{module}"), class_name)
    return cls


@pytest.mark.parametrize("type_token", sorted(TAGGABLE_TYPES))
def test_taggable_types_take_tags_in_pulumi_aws(type_token: str) -> None:
    assert hasattr(_resource_class(type_token), "tags_all"), f"{type_token} has no tags_all output"


@pytest.mark.parametrize("type_token", sorted(UNTAGGABLE_TYPES))
def test_untaggable_types_take_no_tags_in_pulumi_aws(type_token: str) -> None:
    assert not hasattr(_resource_class(type_token), "tags_all"), f"{type_token} does take tags"


def test_every_aws_type_the_regional_stacks_create_is_classified(regional_results: dict[str, StackResult]) -> None:
    created = {r.type for result in regional_results.values() for r in result.resources if r.type.startswith("aws:")}
    assert created <= TAGGABLE_TYPES | UNTAGGABLE_TYPES, created - (TAGGABLE_TYPES | UNTAGGABLE_TYPES)


def test_every_taggable_regional_resource_carries_the_required_tags(regional_results: dict[str, StackResult]) -> None:
    checked = 0
    for label, result in regional_results.items():
        region = result.target.config["regionflow-" + result.target.project.split("-")[1] + ":region"]
        for resource_type in sorted(TAGGABLE_TYPES):
            for resource in of_type(result, resource_type):
                tags = resource.outputs.get("tagsAll")
                assert missing_tags(tags) == [], f"{label} {resource.name}"
                assert tags["Region"] == region
                assert tags["Stack"] == label
                assert tags["ManagedBy"] == "pulumi"
                checked += 1
    # 12 taggable resources per regional stack: key, bucket, log group, queue, topic, table, role, function, and
    # the health's three metric alarms and composite alarm; the primary also routes the pipeline's failures with
    # an EventBridge rule.
    assert checked == 12 * len(regional_results) + 1


def test_missing_tags_names_absent_and_empty_keys() -> None:
    assert missing_tags(None) == list(REQUIRED_TAG_KEYS)
    full = dict.fromkeys(REQUIRED_TAG_KEYS, "x")
    assert missing_tags(full) == []
    assert missing_tags({**full, "Owner": ""}) == ["Owner"]
