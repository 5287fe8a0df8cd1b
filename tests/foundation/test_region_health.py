"""Each regional stack's health: the logger's alarms and one composite alarm, exported through the contract.

Read from the offline runs of the sample stacks (eu-west-1 lists an owner alarm in healthAlarmNames) and from
the config model. Limits are CloudWatch's (regionflow.delivery: PutCompositeAlarm, at most 100 underlying alarms
and a rule of 10240 characters).
"""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
from offline_support import of_type, one, policy_of, statement

from regionflow.config import ConfigError, config_from_mapping, load_regional_config
from regionflow.contract import HEALTH_ALARM_ARN, HEALTH_ALARM_NAME
from regionflow.delivery import MAX_ALARM_RULE_LENGTH, MAX_UNDERLYING_ALARMS, health_alarm_rule
from regionflow.naming import Namer
from regionflow.offline.runner import StackResult

COMPOSITE = "aws:cloudwatch/compositeAlarm:CompositeAlarm"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
EU = "regionflow-secondary/prod-eu-west-1"


def alarm_names_in(rule: str) -> list[str]:
    return re.findall(r'ALARM\("([^"]+)"\)', rule)


def test_every_region_has_one_composite_health_alarm_in_its_contract(regional_results: dict[str, StackResult]) -> None:
    for label, result in regional_results.items():
        composite = one(result, COMPOSITE)
        base = Namer("rflow", "prod", result.exports["region"]).base
        assert composite.inputs["alarmName"] == f"{base}-health"
        assert result.exports[HEALTH_ALARM_NAME] == composite.outputs["alarmName"], label
        assert result.exports[HEALTH_ALARM_ARN] == composite.outputs["arn"], label
        assert composite.outputs["arn"].startswith(f"arn:aws:cloudwatch:{result.exports['region']}:")


def test_health_is_the_loggers_errors_and_dlq_plus_the_owners_alarms(regional_results: dict[str, StackResult]) -> None:
    for label, result in regional_results.items():
        base = Namer("rflow", "prod", result.exports["region"]).base
        rule = one(result, COMPOSITE).inputs["alarmRule"]
        owners = ["checkout-api-5xx-rate"] if label == EU else []
        assert alarm_names_in(rule) == [f"{base}-logger-errors", f"{base}-logger-dlq-depth", *owners], label
        assert rule == " OR ".join(f'ALARM("{n}")' for n in alarm_names_in(rule))
        # Every regionflow alarm the rule names exists in the same stack (and region).
        names = {a.inputs["name"] for a in of_type(result, METRIC_ALARM)}
        assert set(alarm_names_in(rule)) - set(owners) <= names


def test_the_composite_notifies_and_its_parts_stay_quiet(regional_results: dict[str, StackResult]) -> None:
    """Act at the composite level (CloudWatch user guide, composite alarms: reducing alarm noise)."""
    for result in regional_results.values():
        topic = result.exports["notificationTopicArn"]
        composite = one(result, COMPOSITE)
        assert composite.inputs["alarmActions"] == composite.inputs["okActions"] == [topic]
        by_metric = {a.inputs["metricName"]: a for a in of_type(result, METRIC_ALARM)}
        assert set(by_metric) == {"Errors", "Throttles", "ApproximateNumberOfMessagesVisible"}
        for metric in ("Errors", "ApproximateNumberOfMessagesVisible"):
            assert by_metric[metric].inputs.get("alarmActions") in (None, [])
        # Throttles are capacity, not health: the alarm notifies on its own and is not in the rule.
        assert by_metric["Throttles"].inputs["alarmActions"] == [topic]
        assert by_metric["Throttles"].inputs["name"] not in composite.inputs["alarmRule"]
        queue = by_metric["ApproximateNumberOfMessagesVisible"]
        assert queue.inputs["dimensions"] == {"QueueName": result.exports["loggerDlqArn"].rsplit(":", 1)[-1]}
        assert queue.inputs["statistic"] == "Maximum"
        assert by_metric["Errors"].inputs["dimensions"] == {"FunctionName": result.exports["loggerFunctionName"]}


def test_the_topic_and_key_admit_the_composite_alarm(regional_results: dict[str, StackResult]) -> None:
    """The region's topic lets CloudWatch publish for alarms named <base>-*, the composite included."""
    for result in regional_results.values():
        arn = one(result, COMPOSITE).outputs["arn"]
        publish = statement(policy_of(one(result, "aws:sns/topicPolicy:TopicPolicy")), "CloudWatchAlarmsPublish")
        assert fnmatch.fnmatchcase(arn, publish["Condition"]["ArnLike"]["aws:SourceArn"])


# -- config ---------------------------------------------------------------------------------------------------

GOOD = {
    "environment": "prod",
    "region": "eu-west-1",
    "primaryRegion": "us-east-1",
    "owner": "platform-team",
    "costCenter": "cc-1234",
}


def load(names: object) -> object:
    values = {**GOOD, "healthAlarmNames": json.dumps(names) if not isinstance(names, str) else names}
    return load_regional_config(
        "secondary", project="regionflow-secondary", stack="prod-t", get=config_from_mapping(values)
    )


def test_owner_alarms_are_read_in_order() -> None:
    assert load(["a", "b c"]).health_alarm_names == ("a", "b c")  # type: ignore[attr-defined]
    assert (
        load_regional_config(
            "secondary", project="regionflow-secondary", stack="t", get=config_from_mapping(GOOD)
        ).health_alarm_names
        == ()
    )


@pytest.mark.parametrize(
    ("names", "key", "words"),
    [
        ("checkout-5xx", "healthAlarmNames", "must be a list of alarm names"),
        ([1], "healthAlarmNames", "must be a list of alarm names"),
        (['say "hi"'], "healthAlarmNames[0]", "no quotes"),
        ([""], "healthAlarmNames[0]", "not a CloudWatch alarm name"),
        (["x" * 256], "healthAlarmNames[0]", "1-255 characters"),
        (["rflow-prod-euw1-logger-errors"], "healthAlarmNames[0]", "one of regionflow's own"),
        (["a", "a"], "healthAlarmNames[1]", "listed twice"),
        ([f"a{i}" for i in range(99)], "healthAlarmNames", f"at most {MAX_UNDERLYING_ALARMS}"),
        ([f"{i:02}" + "x" * 200 for i in range(60)], "healthAlarmNames", f"CloudWatch accepts {MAX_ALARM_RULE_LENGTH}"),
    ],
)
def test_bad_owner_alarms_are_one_line_naming_the_key(names: object, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(names)
    message = str(caught.value)
    assert message.startswith(f"regionflow-secondary:{key}: ") and "\n" not in message and ". Fix: " in message
    assert words in message


def test_the_largest_accepted_list_fits_the_composite_limits() -> None:
    names = [f"a{i}" for i in range(MAX_UNDERLYING_ALARMS - 2)]
    config = load(names)
    rule = health_alarm_rule(["rflow-prod-euw1-logger-errors", "rflow-prod-euw1-logger-dlq-depth", *names])
    assert len(config.health_alarm_names) + 2 == MAX_UNDERLYING_ALARMS  # type: ignore[attr-defined]
    assert len(rule) <= MAX_ALARM_RULE_LENGTH
    with pytest.raises(ValueError, match="at least one"):
        health_alarm_rule([])
