"""What AWS would receive from each regional stack, recorded by the offline engine under mocks.

Every regional stack in ``stacks/`` is run (primary and each secondary sample), so these tests also show that
the same program gives correct, region-specific resources in any region.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pytest
from offline_support import REPO_ROOT, as_list, of_type, one, policy_of, statement, upload_decision

from regionflow.contract import REGIONAL_OUTPUTS
from regionflow.iam import UNSCOPABLE_ACTIONS
from regionflow.lambda_layers import POWERTOOLS_LAYER_ACCOUNT
from regionflow.offline.runner import StackResult
from regionflow.regions import region_code

ACCOUNT = "123456789012"


@pytest.fixture(scope="module", params=["regionflow-primary/prod", "regionflow-secondary/prod-eu-west-1"])
def stack(request: pytest.FixtureRequest, regional_results: dict[str, StackResult]) -> StackResult:
    result: StackResult = regional_results[request.param]
    return result


def region_of(stack: StackResult) -> str:
    region: str = stack.exports["region"]
    return region


def key_arn(stack: StackResult) -> str:
    arn: str = one(stack, "aws:kms/key:Key").outputs["arn"]
    return arn


def test_every_regional_sample_stack_ran(regional_results: dict[str, StackResult]) -> None:
    configs = sorted(p.name for p in (REPO_ROOT / "stacks").glob("*/Pulumi.*.yaml") if p.parent.name != "pipeline")
    assert len(regional_results) == len(configs) >= 3


def test_exports_are_exactly_the_contract(regional_results: dict[str, StackResult]) -> None:
    for label, result in regional_results.items():
        assert set(result.exports) == set(REGIONAL_OUTPUTS), label
        assert all(value for value in result.exports.values()), label


def test_mocked_arns_are_realistic_and_unique(regional_results: dict[str, StackResult]) -> None:
    # Policies (TopicPolicy) take their resource's ARN as an input; only resources that own an ARN are counted.
    arns = [
        r.outputs["arn"]
        for result in regional_results.values()
        for r in result.resources
        if "arn" in r.outputs and "arn" not in r.inputs
    ]
    assert len(arns) == len(set(arns))
    for result in regional_results.values():
        region = region_of(result)
        assert re.fullmatch(rf"arn:aws:kms:{region}:{ACCOUNT}:key/[0-9a-f-]{{36}}", key_arn(result))
        assert result.exports["artifactBucketArn"] == f"arn:aws:s3:::{result.exports['artifactBucketName']}"
        assert result.exports["loggerFunctionArn"] == (
            f"arn:aws:lambda:{region}:{ACCOUNT}:function:{result.exports['loggerFunctionName']}"
        )
        assert result.exports["loggerDlqUrl"].startswith(f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/")


def test_provider_region_and_default_tags(stack: StackResult) -> None:
    provider = one(stack, "pulumi:providers:aws")
    assert provider.inputs["region"] == region_of(stack)
    assert '"ManagedBy": "pulumi"' in provider.inputs["defaultTags"]
    for resource in stack.resources:
        if resource.custom and resource.type.startswith("aws:"):
            assert resource.region == region_of(stack), resource.name


def test_kms_key_rotates_and_its_policy_leaves_access_to_account_iam_and_logs(stack: StackResult) -> None:
    key = one(stack, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["rotationPeriodInDays"] == 365
    document = policy_of(key)
    account = statement(document, "AccountAdministersKeyThroughIam")
    assert account["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert "kms:*" not in as_list(account["Action"])
    assert {"kms:Decrypt", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"} <= set(account["Action"])
    logs = statement(document, "CloudWatchLogsEncryptsOwnLogGroups")
    region = region_of(stack)
    assert logs["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
    prefix = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/*/rflow-prod-{region_code(region)}-*"
    assert logs["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": prefix}}
    alias = one(stack, "aws:kms/alias:Alias")
    assert (
        alias.inputs["name"] == stack.exports["artifactKeyAlias"] == f"alias/rflow-prod-{region_code(region)}-artifacts"
    )
    assert alias.inputs["targetKeyId"] == key.id


def test_bucket_is_private_versioned_and_encrypted_with_the_key(stack: StackResult) -> None:
    bucket_name = stack.exports["artifactBucketName"]
    assert bucket_name == f"rflow-prod-{region_code(region_of(stack))}-artifacts-{ACCOUNT}"
    assert one(stack, "aws:s3/bucket:Bucket").inputs["forceDestroy"] is False
    ownership = one(stack, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs == {"bucket": bucket_name, "rule": {"objectOwnership": "BucketOwnerEnforced"}}
    block = one(stack, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block[flag] is True for flag in flags) and block["bucket"] == bucket_name
    versioning = one(stack, "aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning == {"bucket": bucket_name, "versioningConfiguration": {"status": "Enabled"}}
    encryption = one(stack, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    [rule] = encryption.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn(stack)}
    assert rule["bucketKeyEnabled"] is True


def test_lifecycle_expires_noncurrent_aborts_uploads_and_transitions(stack: StackResult) -> None:
    rules = {
        r["id"]: r
        for r in one(stack, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    }
    assert all(rule["status"] == "Enabled" and "filter" in rule for rule in rules.values())
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 90}
    assert rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    [transition] = rules["transition-old-artifacts"]["transitions"]
    # S3 refuses STANDARD_IA transitions earlier than 30 days.
    assert transition["storageClass"] == "STANDARD_IA" and transition["days"] >= 30


def test_bucket_policy_denies_plain_http_and_foreign_encryption(stack: StackResult) -> None:
    bucket_arn = stack.exports["artifactBucketArn"]
    document = policy_of(one(stack, "aws:s3/bucketPolicy:BucketPolicy"))
    tls = statement(document, "DenyInsecureTransport")
    assert tls["Effect"] == "Deny" and tls["Principal"] == "*" and tls["Action"] == "s3:*"
    assert sorted(tls["Resource"]) == [bucket_arn, f"{bucket_arn}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # What AWS decides (regionflow.iamcheck.evaluate): uploads without SSE headers get the bucket default (the
    # key) and pass; uploads asking for another encryption or another key are denied.
    artifact = f"{bucket_arn}/pipeline/source/artifact.zip"
    kms = {"s3:x-amz-server-side-encryption": "aws:kms"}
    assert upload_decision(document, artifact, {}) == "allowed"
    key_id = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    assert upload_decision(document, artifact, {**kms, key_id: key_arn(stack)}) == "allowed"
    assert upload_decision(document, artifact, {"s3:x-amz-server-side-encryption": "AES256"}) == "denied"
    other_key = key_arn(stack)[:-1] + ("0" if not key_arn(stack).endswith("0") else "1")
    assert upload_decision(document, artifact, {**kms, key_id: other_key}) == "denied"


def test_logger_function_settings(stack: StackResult) -> None:
    region = region_of(stack)
    function = one(stack, "aws:lambda/function:Function").inputs
    major, minor = map(int, re.fullmatch(r"python(\d+)\.(\d+)", function["runtime"]).groups())  # type: ignore[union-attr]
    assert (major, minor) >= (3, 12)
    assert function["timeout"] == 30 and function["memorySize"] == 256
    assert function["tracingConfig"] == {"mode": "Active"}
    # The environment is encrypted with the region's key, not Lambda's AWS-managed key.
    assert function["kmsKeyArn"] == key_arn(stack)
    log_group = one(stack, "aws:cloudwatch/logGroup:LogGroup")
    assert function["loggingConfig"]["logFormat"] == "JSON"
    assert function["loggingConfig"]["logGroup"] == log_group.inputs["name"] == f"/aws/lambda/{function['name']}"
    [layer] = function["layers"]
    assert layer.startswith(f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:AWSLambdaPowertoolsPythonV3-")
    assert function["role"] == one(stack, "aws:iam/role:Role").outputs["arn"]
    archive = function["code"]
    assert isinstance(archive, pulumi.AssetArchive)
    assert "deployment_logger/handler.py" in archive.assets
    assert function["handler"] == "deployment_logger.handler.lambda_handler"


def test_logger_environment_is_what_the_function_requires(stack: StackResult, monkeypatch: pytest.MonkeyPatch) -> None:
    # The function package is not installed; it is imported the way Lambda finds it, from its folder.
    monkeypatch.syspath_prepend(str(REPO_ROOT / "functions" / "deployment_logger"))
    from deployment_logger.settings import OPTIONAL_ENV_VARS, REQUIRED_ENV_VARS

    variables: dict[str, str] = one(stack, "aws:lambda/function:Function").inputs["environment"]["variables"]
    assert set(REQUIRED_ENV_VARS) <= set(variables) <= set(REQUIRED_ENV_VARS) | set(OPTIONAL_ENV_VARS)
    assert variables["NOTIFICATION_TOPIC_ARN"] == stack.exports["notificationTopicArn"]
    assert variables["IDEMPOTENCY_TABLE_NAME"] == one(stack, "aws:dynamodb/table:Table").inputs["name"]


def test_logs_queue_topic_and_table_are_encrypted_with_the_region_key(stack: StackResult) -> None:
    log_group = one(stack, "aws:cloudwatch/logGroup:LogGroup").inputs
    # Deployment logs are audit records: a year unless the stack says otherwise.
    expected_retention = int(stack.target.config.get(f"{stack.target.project}:logRetentionDays", "365"))
    assert log_group["retentionInDays"] == expected_retention and log_group["kmsKeyId"] == key_arn(stack)
    assert one(stack, "aws:sqs/queue:Queue").inputs["kmsMasterKeyId"] == key_arn(stack)
    assert one(stack, "aws:sns/topic:Topic").inputs["kmsMasterKeyId"] == key_arn(stack)
    table = one(stack, "aws:dynamodb/table:Table").inputs
    assert table["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": key_arn(stack)}
    assert table["pointInTimeRecovery"] == {"enabled": True}


def test_queue_and_topic_policies_are_tls_only(stack: StackResult) -> None:
    for resource_type, arn in (
        ("aws:sqs/queuePolicy:QueuePolicy", stack.exports["loggerDlqArn"]),
        ("aws:sns/topicPolicy:TopicPolicy", stack.exports["notificationTopicArn"]),
    ):
        tls = statement(policy_of(one(stack, resource_type)), "DenyInsecureTransport")
        assert tls["Effect"] == "Deny" and tls["Resource"] == arn
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_failed_async_events_retry_boundedly_then_go_to_the_dlq(stack: StackResult) -> None:
    config = one(stack, "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").inputs
    assert 0 <= config["maximumRetryAttempts"] <= 2
    assert config["maximumEventAgeInSeconds"] <= 6 * 3600
    assert config["destinationConfig"] == {"onFailure": {"destination": stack.exports["loggerDlqArn"]}}
    assert config["functionName"] == stack.exports["loggerFunctionName"]


def _statements(stack: StackResult) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = policy_of(one(stack, "aws:iam/rolePolicy:RolePolicy"))["Statement"]
    return statements


def test_logger_role_reaches_exact_arns_of_its_own_resources(stack: StackResult) -> None:
    log_group_arn = one(stack, "aws:cloudwatch/logGroup:LogGroup").outputs["arn"]
    own = {
        f"{log_group_arn}:log-stream:*",  # log streams are created by Lambda under the function's own group
        stack.exports["loggerDlqArn"],
        stack.exports["notificationTopicArn"],
        one(stack, "aws:dynamodb/table:Table").outputs["arn"],
        key_arn(stack),
    }
    granted: set[str] = set()
    for item in _statements(stack):
        assert item["Effect"] == "Allow"
        for resource in as_list(item["Resource"]):
            if resource == "*":
                assert set(as_list(item["Action"])) <= set(UNSCOPABLE_ACTIONS), item["Sid"]
            else:
                assert resource in own, resource
                granted.add(resource)
        assert not any(action == "*" or action.endswith(":*") for action in as_list(item["Action"]))
    assert granted == own


def test_logger_role_trusts_only_lambda_in_this_account(stack: StackResult) -> None:
    role = one(stack, "aws:iam/role:Role")
    [trust] = policy_of(role, "assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    # Derived from the naming (regionflow.boundary): a hand deploy and the pipeline attach the same boundary.
    assert role.inputs["permissionsBoundary"] == "arn:aws:iam::123456789012:policy/rflow-prod-deploy-boundary"


def test_secondaries_differ_only_by_region(regional_results: dict[str, StackResult]) -> None:
    shapes = {label: sorted(r.type for r in result.resources) for label, result in regional_results.items()}
    assert len({tuple(shape) for shape in shapes.values()}) <= 2  # with or without the email subscription
    names = [r.exports["loggerFunctionName"] for r in regional_results.values()]
    assert len(names) == len(set(names))
    assert (
        len(
            of_type(
                regional_results["regionflow-secondary/prod-eu-west-1"], "aws:sns/topicSubscription:TopicSubscription"
            )
        )
        == 0
    )


def _matches(pattern: Any, event: Any) -> bool:
    """EventBridge's matching for the pattern forms used here: nested objects, lists of exact values
    (EventBridge user guide, "Event patterns": a value list matches when the event's value is one of them)."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and _matches(sub, event[k]) for k, sub in pattern.items())
    return event in pattern


def test_the_home_region_routes_pipeline_failures_to_its_logger(regional_results: dict[str, StackResult]) -> None:
    """Without the rule, DeploymentsFailed and the failure notifications would never fire (issue 10, item 9)."""
    primary = regional_results["regionflow-primary/prod"]
    rule = one(primary, "aws:cloudwatch/eventRule:EventRule")
    pattern = json.loads(rule.inputs["eventPattern"])
    # The pipeline stack names its pipeline from the same naming (tests/pipeline: exports pipelineName).
    assert pattern["detail"]["pipeline"] == ["rflow-prod-use1-pipeline"]
    events_dir = REPO_ROOT / "functions" / "deployment_logger" / "events"
    for sample in ("pipeline_failed.json", "stage_failed.json", "action_failed.json"):
        event = json.loads((events_dir / sample).read_text())
        event["detail"]["pipeline"] = "rflow-prod-use1-pipeline"
        assert _matches(pattern, event), sample
        assert not _matches(pattern, {**event, "detail": {**event["detail"], "state": "SUCCEEDED"}}), sample
    function = one(primary, "aws:lambda/function:Function")
    dlq = one(primary, "aws:sqs/queue:Queue")
    target = one(primary, "aws:cloudwatch/eventTarget:EventTarget").inputs
    assert target["arn"] == function.outputs["arn"] and target["rule"] == rule.outputs["name"]
    assert target["deadLetterConfig"] == {"arn": dlq.outputs["arn"]}
    permission = one(primary, "aws:lambda/permission:Permission").inputs
    assert permission["principal"] == "events.amazonaws.com" and permission["sourceArn"] == rule.outputs["arn"]
    assert permission["action"] == "lambda:InvokeFunction" and permission["function"] == function.outputs["name"]
    dead_letters = statement(policy_of(one(primary, "aws:sqs/queuePolicy:QueuePolicy")), "EventBridgeDeadLetters")
    assert dead_letters["Principal"] == {"Service": "events.amazonaws.com"}
    assert dead_letters["Condition"] == {"ArnEquals": {"aws:SourceArn": rule.outputs["arn"]}}
    key_statement = statement(policy_of(one(primary, "aws:kms/key:Key")), "EventBridgeEncryptsDeadLetters")
    assert set(as_list(key_statement["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
    for label, result in regional_results.items():
        if label != "regionflow-primary/prod":  # pipeline events exist in the home region only
            assert not of_type(result, "aws:cloudwatch/eventRule:EventRule"), label


def test_topic_account_statements_carry_the_source_owner_condition(stack: StackResult) -> None:
    document = policy_of(one(stack, "aws:sns/topicPolicy:TopicPolicy"))
    account = statement(document, "AccountPublishesAndManages")
    assert account["Condition"] == {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}
