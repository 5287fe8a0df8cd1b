"""PipelineNotifications and PipelineMonitoring under the offline mocks.

A small program composes both components the way the pipeline stack does, fed by the regional stacks'
own offline exports (logger function, DLQ and topic of every region). The tests read what AWS would
receive: policies as JSON, event patterns matched against events shaped like CodePipeline's, alarm
metrics against the names AWS documents, and the dashboard JSON.
"""

from __future__ import annotations

import fnmatch
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from offline_support import as_list, of_type, one, policy_of, statement

from regionflow.components.artifact_store import KEY_ACCOUNT_ACTIONS
from regionflow.components.pipeline import monitoring, notifications
from regionflow.naming import Namer, NameTooLongError
from regionflow.offline.discovery import StackTarget
from regionflow.offline.mocks import RecordedResource
from regionflow.offline.runner import StackResult, run_stack

ACCOUNT = "123456789012"
HOME = "us-east-1"
PIPELINE = "rflow-prod-use1-pipeline"
SECONDARIES = ("eu-west-1", "ap-southeast-2")
# Labels as the pipeline names its projects; alarm names use them lower-cased and hyphenated.
BUILD_LABELS = ("Build", "Preview", "SecurityScan Bandit")
ARN = re.compile(r"^arn:aws:(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):(?P<account>\d{12}|):(?P<resource>.+)$")

# What AWS documents for each namespace (module docstring of regionflow.components.pipeline.monitoring).
DOCUMENTED_METRICS: dict[tuple[str, str], str] = {
    ("AWS/CodePipeline", "FailedPipelineExecutions"): "PipelineName",
    ("AWS/CodeBuild", "FailedBuilds"): "ProjectName",
    ("AWS/CodeBuild", "SucceededBuilds"): "ProjectName",
    ("AWS/Lambda", "Errors"): "FunctionName",
    ("AWS/Lambda", "Throttles"): "FunctionName",
    ("AWS/Lambda", "Invocations"): "FunctionName",
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): "QueueName",
}

PROGRAM = """
import json

from regionflow.components.pipeline.monitoring import (
    BuildProjectTarget, PipelineMonitoring, PipelineMonitoringArgs, RegionalLoggerTarget,
)
from regionflow.components.pipeline.notifications import PipelineNotifications, PipelineNotificationsArgs
from regionflow.naming import Namer, NameTooLongError

spec = json.loads({spec!r})
namer = Namer("rflow", "prod", spec["home"])
topic = PipelineNotifications(
    "notifications",
    PipelineNotificationsArgs(
        namer=namer, account_id=spec["account"], region=spec["home"], email=spec["email"],
        allow_notification_rules=spec["notification_rules"],
    ),
)
PipelineMonitoring(
    "monitoring",
    PipelineMonitoringArgs(
        namer=namer,
        region=spec["home"],
        pipeline_name=spec["pipeline"],
        pipeline_arn=spec["pipeline_arn"],
        topic_arn=topic.topic_arn,
        build_projects=[BuildProjectTarget(**b) for b in spec["builds"]],
        loggers=[RegionalLoggerTarget(**l) for l in spec["loggers"]],
    ),
)
"""


def _spec(regional: dict[str, StackResult], *, email: str | None, notification_rules: bool = False) -> dict[str, Any]:
    loggers = [
        {
            "region": r.exports["region"],
            "function_name": r.exports["loggerFunctionName"],
            "dlq_arn": r.exports["loggerDlqArn"],
            "topic_arn": r.exports["notificationTopicArn"],
        }
        for r in regional.values()
    ]
    regions = [HOME, *SECONDARIES]
    builds = [
        {"label": label, "region": HOME, "project_name": f"rflow-prod-use1-{label.lower().replace(' ', '-')}"}
        for label in BUILD_LABELS
    ]
    builds += [
        {"label": f"Deploy {region}", "region": region, "project_name": f"{Namer('rflow', 'prod', region).base}-deploy"}
        for region in regions
    ]
    return {
        "home": HOME,
        "account": ACCOUNT,
        "pipeline": PIPELINE,
        "pipeline_arn": f"arn:aws:codepipeline:{HOME}:{ACCOUNT}:{PIPELINE}",
        "email": email,
        "notification_rules": notification_rules,
        "builds": builds,
        "loggers": loggers,
    }


def run_program(directory: Path, spec: dict[str, Any]) -> StackResult:
    (directory / "__main__.py").write_text(textwrap.dedent(PROGRAM.format(spec=json.dumps(spec))))
    target = StackTarget("pipeline", "regionflow-pipeline", "monitoring-test", directory, {"aws:region": HOME})
    return run_stack(target, stack_outputs={}, account_id=ACCOUNT)


@pytest.fixture(scope="module")
def spec(regional_results: dict[str, StackResult]) -> dict[str, Any]:
    return _spec(regional_results, email="platform-alerts@example.com")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory, spec: dict[str, Any]) -> StackResult:
    return run_program(tmp_path_factory.mktemp("monitoring"), spec)


@pytest.fixture(scope="module")
def without_email(tmp_path_factory: pytest.TempPathFactory, regional_results: dict[str, StackResult]) -> StackResult:
    return run_program(
        tmp_path_factory.mktemp("monitoring-no-email"), _spec(regional_results, email=None, notification_rules=True)
    )


def topic_arn(result: StackResult) -> str:
    arn: str = one(result, "aws:sns/topic:Topic").outputs["arn"]
    return arn


def key_arn(result: StackResult) -> str:
    arn: str = one(result, "aws:kms/key:Key").outputs["arn"]
    return arn


def alarm_pattern(region: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{Namer('rflow', 'prod', region).base}-*"


# -- the topic and its key ------------------------------------------------------------------------


def test_the_topic_key_rotates_and_lets_only_the_publishing_services_use_it(result: StackResult) -> None:
    key = one(result, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["rotationPeriodInDays"] == 365
    document = policy_of(key)
    assert [s["Sid"] for s in document["Statement"]] == [
        "AccountAdministersKeyThroughIam",
        "EventBridgeEncryptsPipelineEvents",
        "CloudWatchAlarmsEncrypt",
    ]
    account = statement(document, "AccountAdministersKeyThroughIam")
    assert account["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert "Condition" not in account  # IAM policies of the account's principals decide
    assert sorted(as_list(account["Action"])) == sorted(KEY_ACCOUNT_ACTIONS)
    assert not any(action.endswith(":*") or action == "*" for action in as_list(account["Action"]))

    events = statement(document, "EventBridgeEncryptsPipelineEvents")
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(as_list(events["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    # EventBridge sends no aws:Source* keys to KMS: a condition here would drop every event.
    assert "Condition" not in events

    alarms = statement(document, "CloudWatchAlarmsEncrypt")
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(as_list(alarms["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": alarm_pattern(HOME)},
    }


def test_the_topic_is_encrypted_with_its_key_and_its_policy_admits_exactly_the_publishers(result: StackResult) -> None:
    topic = one(result, "aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == key_arn(result)
    assert topic.inputs["name"] == "rflow-prod-use1-pipeline-events"
    assert ARN.match(topic_arn(result))["region"] == HOME  # type: ignore[index]

    policy_resource = one(result, "aws:sns/topicPolicy:TopicPolicy")
    assert policy_resource.inputs["arn"] == topic_arn(result)
    document = policy_of(policy_resource)
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    assert list(by_sid) == [
        "AccountPublishesAndManages",
        "EventBridgeRulesPublish",
        "CloudWatchAlarmsPublish",
        "DenyInsecureTransport",
    ]
    for item in by_sid.values():
        assert item["Resource"] == topic_arn(result)
    assert by_sid["AccountPublishesAndManages"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert by_sid["EventBridgeRulesPublish"] == {
        "Sid": "EventBridgeRulesPublish",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": topic_arn(result),
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:events:{HOME}:{ACCOUNT}:rule/rflow-prod-use1-*"},
        },
    }
    assert by_sid["CloudWatchAlarmsPublish"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert by_sid["CloudWatchAlarmsPublish"]["Action"] == "sns:Publish"
    assert by_sid["CloudWatchAlarmsPublish"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": alarm_pattern(HOME)},
    }
    deny = by_sid["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Principal"], deny["Condition"]) == (
        "Deny",
        "*",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    # Nothing is allowed to everyone.
    assert all(s["Principal"] != "*" for s in document["Statement"] if s["Effect"] == "Allow")


def test_every_rule_and_alarm_falls_under_the_topic_policy_patterns(result: StackResult) -> None:
    document = policy_of(one(result, "aws:sns/topicPolicy:TopicPolicy"))
    rule_pattern = statement(document, "EventBridgeRulesPublish")["Condition"]["ArnLike"]["aws:SourceArn"]
    alarm_arn_pattern = statement(document, "CloudWatchAlarmsPublish")["Condition"]["ArnLike"]["aws:SourceArn"]
    rules = of_type(result, "aws:cloudwatch/eventRule:EventRule")
    assert rules and all(fnmatch.fnmatchcase(r.outputs["arn"], rule_pattern) for r in rules)
    home_alarms = [a for a in alarms(result) if a.region == HOME]
    assert home_alarms and all(fnmatch.fnmatchcase(a.outputs["arn"], alarm_arn_pattern) for a in home_alarms)


def test_email_subscription_only_when_an_address_is_given(result: StackResult, without_email: StackResult) -> None:
    subscription = one(result, "aws:sns/topicSubscription:TopicSubscription")
    assert (subscription.inputs["topic"], subscription.inputs["protocol"], subscription.inputs["endpoint"]) == (
        topic_arn(result),
        "email",
        "platform-alerts@example.com",
    )
    assert subscription.outputs["pendingConfirmation"] is True
    assert of_type(without_email, "aws:sns/topicSubscription:TopicSubscription") == []


def test_notification_rules_are_admitted_only_on_request_and_only_for_this_account(
    result: StackResult, without_email: StackResult
) -> None:
    def codestar_statements(run: StackResult) -> list[dict[str, Any]]:
        documents = [policy_of(one(run, "aws:kms/key:Key")), policy_of(one(run, "aws:sns/topicPolicy:TopicPolicy"))]
        return [
            s
            for d in documents
            for s in d["Statement"]
            if s.get("Principal") == {"Service": "codestar-notifications.amazonaws.com"}
        ]

    assert codestar_statements(result) == []
    granted = codestar_statements(without_email)
    assert [s["Sid"] for s in granted] == ["NotificationRulesEncrypt", "NotificationRulesPublish"]
    assert all(s["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}} for s in granted)


@pytest.mark.parametrize(
    ("email", "message"),
    [("not-an-address", "is not an email address"), (" a@example.com", "is not an email address")],
)
def test_bad_email_is_rejected_before_anything_is_registered(email: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        notifications.PipelineNotificationsArgs(
            namer=Namer("rflow", "prod", HOME), account_id=ACCOUNT, region=HOME, email=email
        )


# -- events ---------------------------------------------------------------------------------------


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge exact-value matching: every pattern key must be present and its value listed."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    return any(value in pattern for value in as_list(event))


def pipeline_event(state: str) -> dict[str, Any]:
    # The shape of CodePipeline's "Pipeline Execution State Change" event (CodePipeline user guide).
    return {
        "version": "0",
        "id": "01234567-0123-0123-0123-012345678901",
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline",
        "account": ACCOUNT,
        "time": "2026-11-29T03:00:00Z",
        "region": HOME,
        "resources": [f"arn:aws:codepipeline:{HOME}:{ACCOUNT}:{PIPELINE}"],
        "detail": {
            "pipeline": PIPELINE,
            "execution-id": "12345678-1234-5678-abcd-12345678abcd",
            "state": state,
            "version": 3,
            "pipeline-execution-attempt": 1,
        },
    }


def action_event(stage: str, category: str, provider: str, state: str) -> dict[str, Any]:
    event = pipeline_event(state)
    event["detail-type"] = "CodePipeline Action Execution State Change"
    event["detail"] |= {
        "stage": stage,
        "action": "Approve" if category == "Approval" else "Run",
        "region": HOME,
        "type": {"owner": "AWS", "provider": provider, "category": category, "version": "1"},
    }
    return event


def rule(result: StackResult, purpose: str) -> RecordedResource:
    (found,) = [r for r in of_type(result, "aws:cloudwatch/eventRule:EventRule") if r.name == f"monitoring-{purpose}"]
    return found


def test_rules_fire_on_exactly_failed_succeeded_and_a_waiting_approval(result: StackResult) -> None:
    events = {
        "failed": pipeline_event("FAILED"),
        "succeeded": pipeline_event("SUCCEEDED"),
        "started": pipeline_event("STARTED"),
        "approval": action_event("Approval", "Approval", "Manual", "STARTED"),
        "approval-done": action_event("Approval", "Approval", "Manual", "SUCCEEDED"),
        "build-started": action_event("Build", "Build", "CodeBuild", "STARTED"),
        "other-pipeline": pipeline_event("FAILED") | {"detail": pipeline_event("FAILED")["detail"] | {"pipeline": "x"}},
    }
    expected = {
        "pipeline-failed": {"failed"},
        "pipeline-succeeded": {"succeeded"},
        "approval-needed": {"approval"},
    }
    assert len(of_type(result, "aws:cloudwatch/eventRule:EventRule")) == len(expected)
    for purpose, fired in expected.items():
        pattern = json.loads(rule(result, purpose).inputs["eventPattern"])
        assert pattern["source"] == ["aws.codepipeline"]
        assert {name for name, event in events.items() if matches(pattern, event)} == fired, purpose


def test_each_rule_targets_the_topic_with_a_readable_message(result: StackResult) -> None:
    samples = {
        "pipeline-failed": pipeline_event("FAILED"),
        "pipeline-succeeded": pipeline_event("SUCCEEDED"),
        "approval-needed": action_event("Approval", "Approval", "Manual", "STARTED"),
    }
    targets = of_type(result, "aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == len(samples)
    for purpose, event in samples.items():
        rule_resource = rule(result, purpose)
        (target,) = [t for t in targets if t.inputs["rule"] == rule_resource.outputs["name"]]
        assert target.inputs["arn"] == topic_arn(result)
        assert "roleArn" not in target.inputs  # SNS targets use the topic policy, never a role
        transformer = target.inputs["inputTransformer"]
        text = transformer["inputTemplate"]
        for placeholder, path in transformer["inputPaths"].items():
            value: Any = event
            for key in path.removeprefix("$.").split("."):
                value = value[key]
            text = text.replace(f"<{placeholder}>", str(value))
        message = json.loads(text)
        assert isinstance(message, str)
        assert "<" not in message, f"unfilled placeholder in {message!r}"
        assert PIPELINE in message and event["detail"]["execution-id"] in message
        assert f"https://{HOME}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{PIPELINE}/" in message


# -- alarms ---------------------------------------------------------------------------------------


def alarms(result: StackResult) -> list[RecordedResource]:
    return of_type(result, "aws:cloudwatch/metricAlarm:MetricAlarm")


def test_alarms_watch_documented_metrics_in_their_own_region(result: StackResult, spec: dict[str, Any]) -> None:
    found = {
        (a.region, a.inputs["namespace"], a.inputs["metricName"], json.dumps(a.inputs["dimensions"]))
        for a in alarms(result)
    }
    expected = {(HOME, "AWS/CodePipeline", "FailedPipelineExecutions", json.dumps({"PipelineName": PIPELINE}))}
    for build in spec["builds"]:
        expected.add(
            (build["region"], "AWS/CodeBuild", "FailedBuilds", json.dumps({"ProjectName": build["project_name"]}))
        )
    # The loggers' alarms belong to the regional stacks (components/health.py): one owner per alarm.
    assert found == expected
    assert len(alarms(result)) == 1 + len(spec["builds"]) == 7
    for alarm in alarms(result):
        namespace, metric = alarm.inputs["namespace"], alarm.inputs["metricName"]
        assert list(alarm.inputs["dimensions"]) == [DOCUMENTED_METRICS[(namespace, metric)]]
        # The region argument is set on the resource itself, and the minted ARN agrees.
        assert alarm.inputs["region"] == alarm.region
        assert ARN.match(alarm.outputs["arn"])["region"] == alarm.region  # type: ignore[index]


def test_alarm_names_carry_their_regions_base_and_a_name_safe_label(result: StackResult) -> None:
    names = {a.inputs["name"]: a.region for a in alarms(result)}
    for name, region in names.items():
        assert re.fullmatch(rf"{Namer('rflow', 'prod', region).base}-[a-z0-9-]+", name), name
    assert names["rflow-prod-use1-securityscan-bandit-failed-builds"] == HOME
    assert names["rflow-prod-euw1-deploy-eu-west-1-failed-builds"] == "eu-west-1"
    assert names["rflow-prod-apse2-deploy-ap-southeast-2-failed-builds"] == "ap-southeast-2"


def test_the_dashboard_reads_the_dlq_depth_by_queue_name_not_arn(result: StackResult) -> None:
    body = json.loads(one(result, "aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    queues = [m[3] for w in body["widgets"] for m in w["properties"]["metrics"] if m[0] == "AWS/SQS"]
    assert sorted(queues) == sorted(f"{Namer('rflow', 'prod', r).base}-deploy-logger-dlq" for r in (HOME, *SECONDARIES))


def test_alarms_trip_on_the_first_failure_and_treat_silence_as_healthy(result: StackResult) -> None:
    for alarm in alarms(result):
        inputs = alarm.inputs
        assert (inputs["comparisonOperator"], inputs["threshold"]) == ("GreaterThanThreshold", 0.0)
        assert (inputs["evaluationPeriods"], inputs["datapointsToAlarm"], inputs["period"]) == (1, 1, 300)
        assert inputs["treatMissingData"] == "notBreaching"
        expected_statistic = "Maximum" if inputs["namespace"] == "AWS/SQS" else "Sum"
        assert inputs["statistic"] == expected_statistic


def test_alarm_actions_notify_a_topic_in_the_alarms_own_region(
    result: StackResult, regional_results: dict[str, StackResult]
) -> None:
    regional_topics = {r.exports["region"]: r.exports["notificationTopicArn"] for r in regional_results.values()}
    for alarm in alarms(result):
        actions = alarm.inputs["alarmActions"]
        assert actions == alarm.inputs["okActions"] and len(actions) == 1
        assert ARN.match(actions[0])["region"] == alarm.region  # type: ignore[index]
        expected = topic_arn(result) if alarm.region == HOME else regional_topics[alarm.region]
        assert actions[0] == expected


def test_regional_topics_and_keys_admit_the_alarms_that_notify_them(
    result: StackResult, regional_results: dict[str, StackResult]
) -> None:
    """The secondary regions' alarms publish to that region's logger topic, encrypted with its artifact key."""
    for regional in regional_results.values():
        region = regional.exports["region"]
        if region == HOME:
            continue
        topic_policy = policy_of(one(regional, "aws:sns/topicPolicy:TopicPolicy"))
        publish = statement(topic_policy, "CloudWatchAlarmsPublish")
        assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
        assert publish["Action"] == "sns:Publish"
        assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
        (artifact_key,) = [
            k for k in of_type(regional, "aws:kms/key:Key") if k.outputs["arn"] == regional.exports["artifactKeyArn"]
        ]
        encrypt = statement(policy_of(artifact_key), "CloudWatchAlarmsEncrypt")
        assert sorted(as_list(encrypt["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
        regional_alarms = [a for a in alarms(result) if a.region == region]
        assert len(regional_alarms) == 1  # its deploy build (the logger's alarms are the regional stack's own)
        # The regional stack's own alarms, the composite health alarm included, notify the same topic.
        regional_alarms += of_type(regional, "aws:cloudwatch/metricAlarm:MetricAlarm")
        regional_alarms += of_type(regional, "aws:cloudwatch/compositeAlarm:CompositeAlarm")
        assert len(regional_alarms) == 5
        for alarm in regional_alarms:
            for granted in (publish, encrypt):
                assert fnmatch.fnmatchcase(alarm.outputs["arn"], granted["Condition"]["ArnLike"]["aws:SourceArn"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"builds": [("deploy-sa-east-1", "sa-east-1")]}, "sa-east-1 have no alarm topic there"),
        ({"builds": [("build", HOME), ("build", HOME)]}, "repeated: 'build'"),
        ({"builds": [("Deploy us-east-1", HOME), ("deploy-us-east-1", HOME)]}, "repeated: 'deploy-us-east-1'"),
        ({"builds": [("!!", HOME)]}, "repeated: ''"),
        ({"region": "eu-west-1"}, "differs from the namer's region"),
    ],
)
def test_args_that_would_misroute_alarms_fail_before_any_resource(change: dict[str, Any], message: str) -> None:
    builds = [
        monitoring.BuildProjectTarget(label, region, f"p-{label}")
        for label, region in change.get("builds", [("build", HOME)])
    ]
    with pytest.raises(ValueError, match=message):
        monitoring.PipelineMonitoringArgs(
            namer=Namer("rflow", "prod", HOME),
            region=change.get("region", HOME),
            pipeline_name=PIPELINE,
            pipeline_arn=f"arn:aws:codepipeline:{HOME}:{ACCOUNT}:{PIPELINE}",
            topic_arn=f"arn:aws:sns:{HOME}:{ACCOUNT}:t",
            build_projects=builds,
            loggers=[],
        )


# -- dashboard ------------------------------------------------------------------------------------


def test_dashboard_has_a_widget_per_build_and_per_region_each_naming_its_region(
    result: StackResult, spec: dict[str, Any]
) -> None:
    dashboard = one(result, "aws:cloudwatch/dashboard:Dashboard")
    assert dashboard.inputs["dashboardName"] == "rflow-prod-use1-pipeline"
    body = json.loads(dashboard.inputs["dashboardBody"])
    widgets = body["widgets"]
    assert len(widgets) == 1 + len(spec["builds"]) + len(spec["loggers"])
    titles = [w["properties"]["title"] for w in widgets]
    for build in spec["builds"]:
        assert f"{build['label']} ({build['region']}): builds" in titles
    for region in (HOME, *SECONDARIES):
        assert f"Deployment logger ({region})" in titles
    cells: set[tuple[int, int]] = set()
    for widget in widgets:
        assert widget["type"] == "metric"
        properties = widget["properties"]
        assert re.fullmatch(r"[a-z]{2}-[a-z]+-\d", properties["region"])
        for metric in properties["metrics"]:
            namespace, name, dimension, value = metric[:4]
            assert DOCUMENTED_METRICS[(namespace, name)] == dimension
            assert isinstance(value, str) and value and not value.startswith("arn:")
        # Widgets never overlap and stay within the 24-column grid.
        assert widget["x"] + widget["width"] <= 24
        cell = (widget["x"], widget["y"])
        assert cell not in cells
        cells.add(cell)
    deploys = [w for w in widgets if w["properties"]["title"].startswith("Deploy ")]
    assert sorted(w["properties"]["region"] for w in deploys) == sorted((HOME, *SECONDARIES))


def test_every_resource_is_a_child_of_its_component(result: StackResult) -> None:
    components = {r.urn: r.type for r in result.resources if r.type.startswith("regionflow:pipeline:")}
    assert sorted(components.values()) == ["regionflow:pipeline:Monitoring", "regionflow:pipeline:Notifications"]
    by_urn = {r.urn: r for r in result.resources}
    for resource in result.resources:
        if resource.urn in components:
            continue
        owner = resource.parent
        while owner is not None and owner not in components:
            owner = by_urn[owner].parent if owner in by_urn else None
        assert owner is not None, f"{resource.name} is outside the components"


# -- scale ----------------------------------------------------------------------------------------

TWENTY_REGIONS = (
    "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2",
    "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2",
    "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "me-south-1", "af-south-1", "il-central-1",
)  # fmt: skip
# PutDashboard rejects a body over 1 MB and a dashboard over 500 widgets (CloudWatch API reference, PutDashboard).
DASHBOARD_BODY_LIMIT = 1_000_000
DASHBOARD_WIDGET_LIMIT = 500


def test_twenty_secondary_regions_get_their_alarms_in_region_and_a_dashboard_within_limits(
    tmp_path: Path,
) -> None:
    regions = (HOME, *TWENTY_REGIONS)
    loggers = []
    for region in regions:
        base = Namer("rflow", "prod", region).base
        loggers.append(
            {
                "region": region,
                "function_name": f"{base}-deploy-logger",
                "dlq_arn": f"arn:aws:sqs:{region}:{ACCOUNT}:{base}-deploy-logger-dlq",
                "topic_arn": f"arn:aws:sns:{region}:{ACCOUNT}:{base}-deploy-events",
            }
        )
    spec = _spec({}, email=None) | {"loggers": loggers}
    spec["builds"] = [b for b in spec["builds"] if not b["label"].startswith("Deploy ")] + [
        {"label": f"Deploy {r}", "region": r, "project_name": f"{Namer('rflow', 'prod', r).base}-deploy"}
        for r in regions
    ]
    scaled = run_program(tmp_path, spec)

    found = alarms(scaled)
    assert len(found) == 1 + len(BUILD_LABELS) + len(regions) == 25
    assert {a.region for a in found} == set(regions)
    for alarm in found:
        assert ARN.match(alarm.inputs["alarmActions"][0])["region"] == alarm.region  # type: ignore[index]
        assert alarm.outputs["arn"].startswith(f"arn:aws:cloudwatch:{alarm.region}:")
    assert len({a.inputs["name"] for a in found}) == len(found)
    body = one(scaled, "aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    widgets = json.loads(body)["widgets"]
    assert len(widgets) == 1 + len(BUILD_LABELS) + 2 * len(regions) <= DASHBOARD_WIDGET_LIMIT
    assert len(body.encode()) < DASHBOARD_BODY_LIMIT
    assert {w["properties"]["region"] for w in widgets} == set(regions)


def test_longest_names_fit_and_an_overlong_prefix_fails_before_any_resource() -> None:
    longest = monitoring.MONITORING_LONGEST_NAMES | notifications.NOTIFICATIONS_LONGEST_NAMES
    Namer("rflow", "prod", "ap-southeast-2").check_limits(longest)
    # Event rule names stop at 64 characters: 40 + "-prod-apse2-" + "pipeline-succeeded" is 70.
    with pytest.raises(NameTooLongError, match="event_rule"):
        Namer("p" * 40, "prod", "ap-southeast-2").check_limits(longest)
