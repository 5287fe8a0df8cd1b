"""Every rule fails on a resource that breaks it and passes on ours (the offline run of the real stacks).

A "bad" resource is one of ours with exactly one property broken, so each failure shows the rule
reacting to that property and nothing else.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from policy_support import change, of_type, policy_json, record, violations, without

from regionflow.iam import UNSCOPABLE_ACTIONS
from regionflow.offline.mocks import RecordedResource
from regionflow.offline.runner import StackResult
from regionflow.policies import rules
from regionflow.policies.documents import DOCUMENT_PROPERTIES
from regionflow.policies.offline import ComplianceReport
from regionflow.policies.rules import POLICIES, POLICY_NAMES
from regionflow.tagging import REQUIRED_TAG_KEYS, TAGGABLE_TYPES

CUSTOMER_KEY = "arn:aws:kms:us-east-1:123456789012:key/0f4e9a3c-1b2d-4c5e-8f70-9a1b2c3d4e5f"
ROLE_ARN = "arn:aws:iam::123456789012:role/rflow-prod-use1-codebuild"

# What each rule looks at; "ours" must hold at least one of these for the passing test to mean something.
SUBJECTS: dict[str, frozenset[str]] = {
    "s3-bucket-versioning": frozenset({rules.BUCKET}),
    "s3-bucket-sse-kms-cmk": frozenset({rules.BUCKET}),
    "s3-bucket-public-access-block": frozenset({rules.BUCKET}),
    "s3-bucket-tls-only": frozenset({rules.BUCKET}),
    "kms-key-rotation": frozenset({rules.KMS_KEY}),
    "sns-topic-cmk": frozenset({rules.SNS_TOPIC}),
    "sqs-queue-cmk": frozenset({rules.SQS_QUEUE}),
    "log-group-cmk": frozenset({rules.LOG_GROUP}),
    "log-group-retention": frozenset({rules.LOG_GROUP}),
    "lambda-tracing-active": frozenset({rules.FUNCTION}),
    "lambda-timeout-and-memory": frozenset({rules.FUNCTION}),
    "lambda-supported-runtime": frozenset({rules.FUNCTION}),
    "lambda-runtime-ending-soon": frozenset({rules.FUNCTION}),
    "lambda-failure-destination": frozenset({rules.FUNCTION}),
    "codebuild-not-privileged": frozenset({rules.CODEBUILD_PROJECT}),
    "codebuild-cmk": frozenset({rules.CODEBUILD_PROJECT}),
    "iam-no-wildcard-actions": frozenset(DOCUMENT_PROPERTIES),
    "iam-no-wildcard-resources": frozenset(DOCUMENT_PROPERTIES),
    "iam-passrole-conditioned": frozenset(DOCUMENT_PROPERTIES),
    "required-tags": TAGGABLE_TYPES,
    "taggable-type-known": TAGGABLE_TYPES,
    "pipeline-v2": frozenset({rules.PIPELINE}),
    "pipeline-deploy-rollback": frozenset({rules.PIPELINE}),
    "pipeline-manual-approval": frozenset({rules.PIPELINE}),
    "pipeline-approval-prod": frozenset({rules.PIPELINE}),
    "pipeline-stage-conditions": frozenset({rules.PIPELINE}),
    "pipeline-deploy-bake": frozenset({rules.PIPELINE}),
    "pipeline-artifacts-cmk": frozenset({rules.PIPELINE}),
    "iam-trust-no-account-root": frozenset({"aws:iam/role:Role"}),
    "kms-cross-account-use-only": frozenset({"aws:kms/key:Key"}),
}


def test_every_rule_is_covered_here_and_levels_are_deliberate() -> None:
    assert set(SUBJECTS) == set(POLICY_NAMES)
    assert len(set(POLICY_NAMES)) == len(POLICY_NAMES)
    levels = {p.name: p.enforcement_level.value for p in POLICIES}
    advisory = {name for name, level in levels.items() if level == "advisory"}
    assert advisory == {
        "lambda-tracing-active",
        "lambda-timeout-and-memory",
        "lambda-runtime-ending-soon",
        "taggable-type-known",
    }
    assert set(levels.values()) == {"advisory", "mandatory"}


@pytest.mark.parametrize("rule", POLICY_NAMES)
def test_rule_passes_on_ours(
    rule: str, our_results: dict[str, StackResult], our_reports: dict[str, ComplianceReport]
) -> None:
    types = {r.type for result in our_results.values() for r in result.resources}
    if not types & SUBJECTS[rule]:
        pytest.skip(f"no stack holds a {', '.join(sorted(SUBJECTS[rule]))} yet")
    for label, report in our_reports.items():
        assert report.rules_run == len(POLICIES), label
        assert [v.line() for v in report.violations if v.policy == rule] == [], label


# -- S3 ------------------------------------------------------------------------------------------


def test_bucket_without_versioning_fails(primary_resources: list[RecordedResource]) -> None:
    (bucket,) = of_type(primary_resources, rules.BUCKET)
    found = violations("s3-bucket-versioning", without(primary_resources, rules.BUCKET_VERSIONING))
    assert [(v.urn, v.level) for v in found] == [(bucket.urn, "mandatory")]


def test_bucket_with_suspended_versioning_fails(primary_resources: list[RecordedResource]) -> None:
    change(
        primary_resources, rules.BUCKET_VERSIONING, lambda p: p["versioningConfiguration"].update(status="Suspended")
    )
    assert len(violations("s3-bucket-versioning", primary_resources)) == 1


def _sse_default(props: dict[str, Any]) -> dict[str, Any]:
    default: dict[str, Any] = props["rules"][0]["applyServerSideEncryptionByDefault"]
    return default


@pytest.mark.parametrize(
    "edit",
    [
        {"sseAlgorithm": "AES256", "kmsMasterKeyId": None},
        {"kmsMasterKeyId": "alias/aws/s3"},
        {"kmsMasterKeyId": ""},
    ],
    ids=["sse-s3", "aws-managed-key", "no-key"],
)
def test_bucket_without_sse_kms_cmk_fails(primary_resources: list[RecordedResource], edit: dict[str, Any]) -> None:
    change(primary_resources, rules.BUCKET_SSE, lambda p: _sse_default(p).update(edit))
    found = violations("s3-bucket-sse-kms-cmk", primary_resources)
    assert len(found) == 1 and "SSE-KMS" in found[0].message


def test_bucket_missing_one_public_access_flag_fails(primary_resources: list[RecordedResource]) -> None:
    change(primary_resources, rules.BUCKET_PAB, lambda p: p.update(restrictPublicBuckets=False))
    (found,) = violations("s3-bucket-public-access-block", primary_resources)
    assert "restrictPublicBuckets" in found.message and "blockPublicAcls" not in found.message
    assert len(violations("s3-bucket-public-access-block", without(primary_resources, rules.BUCKET_PAB))) == 1


def _drop_tls_statement(props: dict[str, Any]) -> None:
    document = json.loads(props["policy"])
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "DenyInsecureTransport"]
    props["policy"] = json.dumps(document)


def _tls_only_for_objects(props: dict[str, Any]) -> None:
    document = json.loads(props["policy"])
    for statement in document["Statement"]:
        if statement["Sid"] == "DenyInsecureTransport":
            statement["Resource"] = [r for r in statement["Resource"] if r.endswith("/*")]
    props["policy"] = json.dumps(document)


@pytest.mark.parametrize("edit", [_drop_tls_statement, _tls_only_for_objects], ids=["no-deny", "objects-only"])
def test_bucket_accepting_plain_http_fails(primary_resources: list[RecordedResource], edit: Any) -> None:
    change(primary_resources, rules.BUCKET_POLICY, edit)
    (found,) = violations("s3-bucket-tls-only", primary_resources)
    assert "aws:SecureTransport" in found.message
    assert len(violations("s3-bucket-tls-only", without(primary_resources, rules.BUCKET_POLICY))) == 1


def test_bucket_rules_match_sub_resources_to_their_own_bucket(primary_resources: list[RecordedResource]) -> None:
    # A second, bare bucket must not borrow the artifact bucket's versioning, encryption or policy.
    bare = record(rules.BUCKET, "bare", {"bucket": "rflow-prod-use1-bare-123456789012"})
    for rule in (
        "s3-bucket-versioning",
        "s3-bucket-sse-kms-cmk",
        "s3-bucket-public-access-block",
        "s3-bucket-tls-only",
    ):
        assert [v.urn for v in violations(rule, [*primary_resources, bare])] == [bare.urn], rule


# -- KMS, SNS, SQS, logs -----------------------------------------------------------------------------


def test_key_without_rotation_fails_but_asymmetric_keys_are_exempt(primary_resources: list[RecordedResource]) -> None:
    urn = change(primary_resources, rules.KMS_KEY, lambda p: p.update(enableKeyRotation=False))
    assert [v.urn for v in violations("kms-key-rotation", primary_resources)] == [urn]
    change(
        primary_resources, rules.KMS_KEY, lambda p: p.update(customerMasterKeySpec="RSA_2048", keyUsage="SIGN_VERIFY")
    )
    assert violations("kms-key-rotation", primary_resources) == []


@pytest.mark.parametrize(
    ("rule", "resource_type", "prop", "aws_managed"),
    [
        ("sns-topic-cmk", rules.SNS_TOPIC, "kmsMasterKeyId", "alias/aws/sns"),
        ("sqs-queue-cmk", rules.SQS_QUEUE, "kmsMasterKeyId", "alias/aws/sqs"),
        ("log-group-cmk", rules.LOG_GROUP, "kmsKeyId", None),
    ],
)
def test_unencrypted_or_aws_key_fails(
    primary_resources: list[RecordedResource], rule: str, resource_type: str, prop: str, aws_managed: str | None
) -> None:
    urn = change(primary_resources, resource_type, lambda p: p.pop(prop))
    assert [(v.urn, v.level) for v in violations(rule, primary_resources)] == [(urn, "mandatory")]
    if aws_managed:
        change(primary_resources, resource_type, lambda p: p.update({prop: aws_managed}))
        (found,) = violations(rule, primary_resources)
        assert aws_managed in found.message


@pytest.mark.parametrize("retention", [None, 0])
def test_log_group_without_retention_fails(primary_resources: list[RecordedResource], retention: int | None) -> None:
    change(primary_resources, rules.LOG_GROUP, lambda p: p.update(retentionInDays=retention))
    assert len(violations("log-group-retention", primary_resources)) == 1


# -- Lambda ------------------------------------------------------------------------------------------


def test_lambda_without_active_tracing_warns(primary_resources: list[RecordedResource]) -> None:
    change(primary_resources, rules.FUNCTION, lambda p: p.update(tracingConfig={"mode": "PassThrough"}))
    assert [v.level for v in violations("lambda-tracing-active", primary_resources)] == ["advisory"]


def test_lambda_on_aws_default_timeout_and_memory_warns(primary_resources: list[RecordedResource]) -> None:
    change(primary_resources, rules.FUNCTION, lambda p: p.update(timeout=3, memorySize=None))
    found = violations("lambda-timeout-and-memory", primary_resources)
    assert sorted(v.message.split(":")[1].strip() for v in found) == ["set memory_size", "set timeout"]
    assert {v.level for v in found} == {"advisory"}


def test_deprecated_runtime_fails(primary_resources: list[RecordedResource]) -> None:
    change(primary_resources, rules.FUNCTION, lambda p: p.update(runtime="python3.8"))
    (found,) = violations("lambda-supported-runtime", primary_resources)
    assert found.level == "mandatory" and "2024-10-14" in found.message


def test_runtime_nearing_deprecation_warns_then_fails(
    primary_resources: list[RecordedResource], monkeypatch: pytest.MonkeyPatch
) -> None:
    change(primary_resources, rules.FUNCTION, lambda p: p.update(runtime="dotnet8"))
    deprecated = rules.RUNTIME_DEPRECATION["dotnet8"]
    monkeypatch.setattr(rules, "_today", lambda: deprecated - datetime.timedelta(days=30))
    assert [v.level for v in violations("lambda-runtime-ending-soon", primary_resources)] == ["advisory"]
    assert violations("lambda-supported-runtime", primary_resources) == []
    monkeypatch.setattr(rules, "_today", lambda: deprecated)
    assert violations("lambda-runtime-ending-soon", primary_resources) == []
    assert len(violations("lambda-supported-runtime", primary_resources)) == 1


def test_container_image_functions_have_no_runtime_to_check(primary_resources: list[RecordedResource]) -> None:
    change(primary_resources, rules.FUNCTION, lambda p: p.update(packageType="Image", runtime="python3.8"))
    assert violations("lambda-supported-runtime", primary_resources) == []


def test_lambda_without_dlq_or_destination_fails(primary_resources: list[RecordedResource]) -> None:
    (function,) = of_type(primary_resources, rules.FUNCTION)
    bare = without(primary_resources, rules.EVENT_INVOKE_CONFIG)
    assert [v.urn for v in violations("lambda-failure-destination", bare)] == [function.urn]
    # A dead-letter queue on the function itself is the other accepted way.
    dlq = "arn:aws:sqs:us-east-1:123456789012:rflow-prod-use1-deploy-logger-dlq"
    change(bare, rules.FUNCTION, lambda p: p.update(deadLetterConfig={"targetArn": dlq}))
    assert violations("lambda-failure-destination", bare) == []


def test_event_invoke_config_without_on_failure_fails(primary_resources: list[RecordedResource]) -> None:
    change(primary_resources, rules.EVENT_INVOKE_CONFIG, lambda p: p.update(destinationConfig={"onSuccess": {}}))
    assert len(violations("lambda-failure-destination", primary_resources)) == 1


# -- CodeBuild -------------------------------------------------------------------------------------


def _project(**environment: Any) -> dict[str, Any]:
    return {
        "name": "rflow-prod-use1-deploy",
        "serviceRole": ROLE_ARN,
        "encryptionKey": CUSTOMER_KEY,
        "environment": {"computeType": "BUILD_GENERAL1_SMALL", "image": "aws/codebuild/standard:7.0", **environment},
    }


def test_privileged_codebuild_fails() -> None:
    good = record(rules.CODEBUILD_PROJECT, "deploy", _project(privilegedMode=False))
    bad = record(rules.CODEBUILD_PROJECT, "docker", _project(privilegedMode=True))
    assert [v.urn for v in violations("codebuild-not-privileged", [good, bad])] == [bad.urn]


@pytest.mark.parametrize("key", [None, "alias/aws/s3"])
def test_codebuild_without_cmk_fails(key: str | None) -> None:
    project = record(rules.CODEBUILD_PROJECT, "deploy", {**_project(), "encryptionKey": key})
    assert len(violations("codebuild-cmk", [project])) == 1
    assert violations("codebuild-cmk", [record(rules.CODEBUILD_PROJECT, "ok", _project())]) == []


# -- IAM ---------------------------------------------------------------------------------------------


def _role_policy(*statements: dict[str, Any]) -> RecordedResource:
    return record("aws:iam/rolePolicy:RolePolicy", "bad", {"role": "r", "policy": policy_json(*statements)})


@pytest.mark.parametrize("action", ["*", "s3:*", ["logs:PutLogEvents", "kms:*"]])
def test_wildcard_action_fails(action: Any) -> None:
    bad = _role_policy({"Effect": "Allow", "Action": action, "Resource": "arn:aws:s3:::b"})
    (found,) = violations("iam-no-wildcard-actions", [bad])
    assert "grants a whole service" in found.message


def test_not_action_allow_fails_and_wildcards_in_deny_pass(primary_resources: list[RecordedResource]) -> None:
    bad = _role_policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b"})
    assert "NotAction" in violations("iam-no-wildcard-actions", [bad])[0].message
    # Ours: the bucket and queue policies deny "s3:*" / "sqs:*" without TLS, which only takes away.
    denies = [r for r in primary_resources if "Deny" in str(r.outputs.get("policy"))]
    assert denies and violations("iam-no-wildcard-actions", denies) == []


def test_trust_policy_with_wildcard_action_fails(primary_resources: list[RecordedResource]) -> None:
    def widen(props: dict[str, Any]) -> None:
        document = json.loads(props["assumeRolePolicy"])
        document["Statement"][0]["Action"] = "sts:*"
        props["assumeRolePolicy"] = json.dumps(document)

    urn = change(primary_resources, "aws:iam/role:Role", widen)
    assert [v.urn for v in violations("iam-no-wildcard-actions", primary_resources)] == [urn]


def test_resource_star_fails_unless_every_action_is_unscopable() -> None:
    bad = _role_policy({"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"})
    (found,) = violations("iam-no-wildcard-resources", [bad])
    assert "s3:GetObject" in found.message and "statement Read" in found.message
    unscopable = sorted(UNSCOPABLE_ACTIONS)[:2]
    ok = _role_policy({"Effect": "Allow", "Action": unscopable, "Resource": "*"})
    assert violations("iam-no-wildcard-resources", [ok]) == []
    mixed = _role_policy({"Effect": "Allow", "Action": [*unscopable, "sqs:SendMessage"], "Resource": "*"})
    assert "sqs:SendMessage" in violations("iam-no-wildcard-resources", [mixed])[0].message


def test_resource_star_in_bucket_policy_fails_but_key_policy_star_means_the_key(
    primary_resources: list[RecordedResource],
) -> None:
    keys = of_type(primary_resources, rules.KMS_KEY)
    assert '"Resource": "*"' in keys[0].outputs["policy"]  # ours: the key policy says "this key"
    assert violations("iam-no-wildcard-resources", keys) == []
    bucket_policy = record(
        rules.BUCKET_POLICY,
        "open",
        {
            "bucket": "b",
            "policy": policy_json({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}),
        },
    )
    assert len(violations("iam-no-wildcard-resources", [bucket_policy])) == 1


def test_inline_role_policies_are_checked() -> None:
    role = record(
        "aws:iam/role:Role",
        "r",
        {"inlinePolicies": [{"name": "x", "policy": policy_json({"Effect": "Allow", "Action": "*", "Resource": "*"})}]},
    )
    messages = [v.message for v in violations("iam-no-wildcard-actions", [role])]
    assert messages and messages[0].startswith("inlinePolicies[0].policy")


@pytest.mark.parametrize("action", ["iam:PassRole", "iam:Pass*", "IAM:passrole"])
def test_unconditioned_passrole_fails(action: str) -> None:
    statement = {"Effect": "Allow", "Action": action, "Resource": ROLE_ARN}
    assert len(violations("iam-passrole-conditioned", [_role_policy(statement)])) == 1
    conditioned = {**statement, "Condition": {"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}}}
    assert violations("iam-passrole-conditioned", [_role_policy(conditioned)]) == []


def test_policy_that_is_not_json_fails() -> None:
    broken = record("aws:iam/policy:Policy", "broken", {"policy": "{not json"})
    assert "not valid JSON" in violations("iam-no-wildcard-actions", [broken])[0].message


# -- tags --------------------------------------------------------------------------------------------


def test_resource_missing_a_required_tag_fails(primary_resources: list[RecordedResource]) -> None:
    urn = change(primary_resources, rules.SQS_QUEUE, lambda p: p["tagsAll"].pop("Owner"))
    (found,) = violations("required-tags", primary_resources)
    assert (found.urn, found.level) == (urn, "mandatory") and "Owner" in found.message


def test_tags_come_from_the_provider_when_tags_all_is_absent(primary_resources: list[RecordedResource]) -> None:
    # The real engine hands a resource rule the inputs; then the provider's default tags count.
    change(primary_resources, rules.SQS_QUEUE, lambda p: p.pop("tagsAll"))
    assert violations("required-tags", primary_resources) == []
    unmanaged = record(rules.SQS_QUEUE, "stray", {"name": "stray", "tags": {"Project": "regionflow"}})
    (found,) = violations("required-tags", [*primary_resources, unmanaged])
    assert found.urn == unmanaged.urn and all(k in found.message for k in REQUIRED_TAG_KEYS if k != "Project")


def test_unclassified_aws_type_warns() -> None:
    vpc = record("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"})
    assert [v.level for v in violations("taggable-type-known", [vpc])] == ["advisory"]


# -- pipeline ----------------------------------------------------------------------------------------


def _pipeline(**overrides: Any) -> dict[str, Any]:
    def deploy(name: str, region: str) -> dict[str, Any]:
        return {
            "name": name,
            "onFailure": {"result": "ROLLBACK"},
            "actions": [
                {"name": "PulumiUp", "category": "Build", "provider": "CodeBuild", "owner": "AWS", "region": region}
            ],
        }

    props: dict[str, Any] = {
        "pipelineType": "V2",
        "artifactStores": [
            {
                "location": "b1",
                "region": "us-east-1",
                "type": "S3",
                "encryptionKey": {"id": CUSTOMER_KEY, "type": "KMS"},
            }
        ],
        "stages": [
            {
                "name": "Source",
                "actions": [{"name": "Source", "category": "Source", "provider": "CodeStarSourceConnection"}],
            },
            {"name": "Preview", "actions": [{"name": "Preview", "category": "Build", "provider": "CodeBuild"}]},
            {"name": "Approve", "actions": [{"name": "Approve", "category": "Approval", "provider": "Manual"}]},
            deploy("DeployPrimary", "us-east-1"),
            deploy("DeploySecondaries", "eu-west-1"),
        ],
    }
    props.update(overrides)
    return props


PIPELINE_RULES = (
    "pipeline-v2",
    "pipeline-deploy-rollback",
    "pipeline-manual-approval",
    "pipeline-approval-prod",
    "pipeline-stage-conditions",
    "pipeline-deploy-bake",
    "pipeline-artifacts-cmk",
)


def test_good_pipeline_passes_every_pipeline_rule() -> None:
    pipeline = record(rules.PIPELINE, "pipeline", _pipeline())
    for rule in PIPELINE_RULES:
        assert violations(rule, [pipeline]) == [], rule


def test_v1_pipeline_fails() -> None:
    assert len(violations("pipeline-v2", [record(rules.PIPELINE, "p", _pipeline(pipelineType="V1"))])) == 1


def test_deploy_stage_without_rollback_fails() -> None:
    props = _pipeline()
    props["stages"][4]["onFailure"] = {"result": "RETRY"}
    (found,) = violations("pipeline-deploy-rollback", [record(rules.PIPELINE, "p", props)])
    assert "DeploySecondaries" in found.message


def test_pipeline_without_approval_before_primary_fails() -> None:
    props = _pipeline()
    approve = props["stages"].pop(2)
    props["stages"].append(approve)  # approval only after the deploys
    (found,) = violations("pipeline-manual-approval", [record(rules.PIPELINE, "p", props)])
    assert "DeployPrimary" in found.message
    # An approval inside the primary deploy stage, running before the deploy action, is enough.
    props["stages"][2]["actions"].insert(0, {**approve["actions"][0], "runOrder": 1})
    props["stages"][2]["actions"][1]["runOrder"] = 2
    assert violations("pipeline-manual-approval", [record(rules.PIPELINE, "p", props)]) == []


def test_pipeline_artifacts_without_cmk_fails() -> None:
    props = _pipeline()
    props["artifactStores"][0].pop("encryptionKey")
    assert len(violations("pipeline-artifacts-cmk", [record(rules.PIPELINE, "p", props)])) == 1


def _rule(name: str, provider: str, **configuration: str) -> dict[str, Any]:
    return {
        "name": name,
        "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": provider, "version": "1"},
        "configuration": configuration,
    }


def _health(region: str, wait: str = "60") -> dict[str, Any]:
    rule = _rule(f"Health-{region}", "CloudWatchAlarm", AlarmName=f"{region}-health", WaitTime=wait)
    return {**rule, "region": region}


def _gated(**tags: str) -> dict[str, Any]:
    """The good pipeline with the delivery conditions regionflow builds: IAM gate, window, bakes, retries."""
    props = _pipeline(tags=dict(tags))
    stages = {s["name"]: s for s in props["stages"]}
    stages["Preview"]["onFailure"] = {"result": "RETRY", "retryConfiguration": {"retryMode": "FAILED_ACTIONS"}}
    variable = "#{PreviewVariables.IAM_CHANGES}"
    gate = _rule("IamChanges", "VariableCheck", Variable=variable, Operator="NE", Value="false")
    stages["Approve"]["beforeEntry"] = {"condition": {"result": "SKIP", "rules": [gate]}}
    window = _rule("DeploymentWindow", "DeploymentWindow", Cron="* * 8-16 ? * MON-FRI", TimeZone="UTC")
    for name, region in (("DeployPrimary", "us-east-1"), ("DeploySecondaries", "eu-west-1")):
        stages[name]["beforeEntry"] = {"condition": {"result": "FAIL", "rules": [window]}}
        stages[name]["onSuccess"] = {"condition": {"result": "ROLLBACK", "rules": [_health(region)]}}
    return props


def test_the_delivery_conditions_pass_every_pipeline_rule() -> None:
    pipeline = record(rules.PIPELINE, "p", _gated(DeliveryBakeMinutes="60", DeliveryApproval="iam-changes"))
    for rule in PIPELINE_RULES:
        assert violations(rule, [pipeline]) == [], rule


def _stage(props: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in props["stages"] if s["name"] == name)


BROKEN_CONDITIONS: dict[str, tuple[Any, str]] = {
    # (edit of the gated pipeline, expected message)
    "skip with a window rule": (
        lambda p: _stage(p, "DeployPrimary")["beforeEntry"]["condition"].update(result="SKIP"),
        "SKIP works only with LambdaInvoke or VariableCheck",
    ),
    "rollback on entry": (
        lambda p: _stage(p, "DeployPrimary")["beforeEntry"]["condition"].update(result="ROLLBACK"),
        "beforeEntry result 'ROLLBACK' is not one AWS allows",
    ),
    "skip on success": (
        lambda p: _stage(p, "DeploySecondaries")["onSuccess"]["condition"].update(result="SKIP"),
        "onSuccess result 'SKIP'",
    ),
    "six rules": (
        lambda p: _stage(p, "DeploySecondaries")["onSuccess"]["condition"].update(
            rules=[_health(f"eu-west-{i}") for i in range(6)]
        ),
        "has 6 rules; a condition holds 1 to 5",
    ),
    "repeated rule name": (
        lambda p: _stage(p, "DeploySecondaries")["onSuccess"]["condition"].update(
            rules=[_health("eu-west-1"), _health("eu-west-1")]
        ),
        "invalid or repeated",
    ),
    "two conditions": (
        lambda p: _stage(p, "DeployPrimary").update(
            beforeEntry={"condition": [_stage(p, "DeployPrimary")["beforeEntry"]["condition"]] * 2}
        ),
        "holds 2 conditions; CodePipeline allows exactly one",
    ),
    "retry with an onFailure condition": (
        lambda p: _stage(p, "Preview")["onFailure"].update(
            condition={"result": "ROLLBACK", "rules": [_health("us-east-1")]}
        ),
        "retries automatically and has an onFailure condition",
    ),
    "retry configuration without RETRY": (
        lambda p: _stage(p, "Preview")["onFailure"].update(result="ROLLBACK"),
        "has a retry configuration but onFailure result 'ROLLBACK'",
    ),
    "unknown operator": (
        lambda p: _stage(p, "Approve")["beforeEntry"]["condition"]["rules"][0]["configuration"].update(Operator="GT"),
        "VariableCheck operator 'GT'",
    ),
    "alarm rule without alarm": (
        lambda p: _stage(p, "DeployPrimary")["onSuccess"]["condition"]["rules"][0]["configuration"].pop("AlarmName"),
        "lacks AlarmName",
    ),
    "51 actions": (
        lambda p: _stage(p, "DeploySecondaries").update(actions=_stage(p, "DeploySecondaries")["actions"] * 51),
        "has 51 actions; CodePipeline allows 50",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_CONDITIONS))
def test_conditions_aws_does_not_allow_are_refused(case: str) -> None:
    edit, expected = BROKEN_CONDITIONS[case]
    props = _gated(DeliveryBakeMinutes="60")
    edit(props)
    found = violations("pipeline-stage-conditions", [record(rules.PIPELINE, "p", props)])
    assert any(expected in v.message for v in found), [v.message for v in found]


def test_every_wave_bakes_on_all_its_regions_when_the_pipeline_asks() -> None:
    asked = _gated(DeliveryBakeMinutes="60")
    _stage(asked, "DeploySecondaries").pop("onSuccess")
    (found,) = violations("pipeline-deploy-bake", [record(rules.PIPELINE, "p", asked)])
    assert "DeploySecondaries has no alarm-gated bake although the pipeline asks for 60 minutes" in found.message
    # The primary may go without: the rule starts after it.
    primary_only = _gated(DeliveryBakeMinutes="60")
    _stage(primary_only, "DeployPrimary").pop("onSuccess")
    assert violations("pipeline-deploy-bake", [record(rules.PIPELINE, "p", primary_only)]) == []
    # Not asked (dev): no bake is fine, but a bake that exists must still be whole.
    not_asked = _gated(DeliveryBakeMinutes="0")
    _stage(not_asked, "DeploySecondaries").pop("onSuccess")
    assert violations("pipeline-deploy-bake", [record(rules.PIPELINE, "p", not_asked)]) == []
    wrong_region = _gated()
    _stage(wrong_region, "DeploySecondaries")["onSuccess"]["condition"]["rules"] = [_health("us-west-2")]
    (found,) = violations("pipeline-deploy-bake", [record(rules.PIPELINE, "p", wrong_region)])
    assert "DeploySecondaries bakes without watching eu-west-1" in found.message
    no_wait = _gated(DeliveryBakeMinutes="60")
    _stage(no_wait, "DeploySecondaries")["onSuccess"]["condition"]["rules"] = [_health("eu-west-1", wait="0")]
    (found,) = violations("pipeline-deploy-bake", [record(rules.PIPELINE, "p", no_wait)])
    assert "waits 0 minutes" in found.message
    failing = _gated(DeliveryBakeMinutes="60")
    _stage(failing, "DeploySecondaries")["onSuccess"]["condition"]["result"] = "FAIL"
    (found,) = violations("pipeline-deploy-bake", [record(rules.PIPELINE, "p", failing)])
    assert "bakes without rolling back" in found.message


def _without_approval(**tags: str) -> RecordedResource:
    props = _gated(**tags)
    props["stages"] = [s for s in props["stages"] if s["name"] != "Approve"]
    return record(rules.PIPELINE, "p", props)


def test_no_approval_in_prod_needs_an_override_reason() -> None:
    prod = {"Environment": "prod", "DeliveryApproval": "never"}
    (found,) = violations("pipeline-approval-prod", [_without_approval(**prod)])
    assert "prod pipeline deploys without any approval" in found.message
    assert violations("pipeline-approval-prod", [_without_approval(**prod, DeliveryApprovalOverride="OPS-1")]) == []
    assert violations("pipeline-approval-prod", [_without_approval(Environment="dev", DeliveryApproval="never")]) == []
    # The IAM gate keeps the approval stage: a prod pipeline with it passes.
    assert violations("pipeline-approval-prod", [record(rules.PIPELINE, "p", _gated(Environment="prod"))]) == []


def test_no_approval_elsewhere_must_be_a_visible_choice() -> None:
    (found,) = violations("pipeline-manual-approval", [_without_approval(Environment="dev")])
    assert "DeliveryApproval=never" in found.message
    chosen = _without_approval(Environment="dev", DeliveryApproval="never")
    assert violations("pipeline-manual-approval", [chosen]) == []


def _boundary_setup(attach: bool) -> list[RecordedResource]:
    arn = "arn:aws:iam::123456789012:policy/rflow-prod-use1-deploy-boundary"
    cap = policy_json({"Effect": "Allow", "Action": ["iam:Pass*", "iam:Get*"], "Resource": ROLE_ARN})
    resources = [
        record("aws:iam/policy:Policy", "boundary", {"policy": cap, "arn": arn}),
        record("aws:iam/role:Role", "role", {"name": "r", "permissionsBoundary": arn, "arn": ROLE_ARN}),
    ]
    if attach:
        resources.append(
            record("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "grant", {"role": "r", "policyArn": arn})
        )
    return resources


def test_permissions_boundary_caps_passrole_without_granting_it() -> None:
    # Used only as a boundary, the policy grants nothing: the role's own policies carry the condition.
    assert violations("iam-passrole-conditioned", _boundary_setup(attach=False)) == []
    # Attached as a grant as well, the same document must condition PassRole.
    (found,) = violations("iam-passrole-conditioned", _boundary_setup(attach=True))
    assert found.urn.endswith("::boundary")
