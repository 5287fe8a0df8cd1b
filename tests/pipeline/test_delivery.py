"""Safe, hands-off delivery: waves, alarm-gated bakes, deployment windows, the IAM gate and retries.

The plan and the config are tested directly (regionflow.delivery); the pipeline they make is tested under the
offline engine, fed by the regional stacks' own exports, for the sample config, its variants and 20 regions in
4 waves. The AWS limits checked here are quoted with their sources in regionflow.delivery's docstring.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
from offline_support import REPO_ROOT, as_list, of_type
from pipeline_support import (
    PROJECT_TYPE,
    add_secondary,
    copy_tree,
    edit_pipeline_config,
    pipeline_inputs,
    pipeline_of,
    role_policies,
    run_repository,
    stage,
    stages,
)

from regionflow import delivery
from regionflow.components.pipeline import layout
from regionflow.config import ConfigError, ConfigReader, config_from_mapping
from regionflow.offline.runner import StackResult
from regionflow.pipeline_config import load_pipeline_config
from regionflow.policies.offline import evaluate
from regionflow.regions import SUPPORTED_REGIONS

ACCOUNT = "123456789012"
HOME = "us-east-1"
EU = {"stack": "organization/regionflow-secondary/prod-eu-west-1", "region": "eu-west-1"}
AP = {"stack": "organization/regionflow-secondary/prod-ap-southeast-2", "region": "ap-southeast-2"}
VALID: dict[str, str] = {
    "environment": "prod",
    "region": HOME,
    "owner": "platform-team",
    "costCenter": "cc-1234",
    "primaryStack": "organization/regionflow-primary/prod",
    "secondaryStacks": json.dumps([EU, AP]),
    "repository": "acme/regionflow",
    "stateBackendUrl": f"s3://rflow-prod-use1-pulumi-state-{ACCOUNT}?region=us-east-1&awssdk=v2",
    "stateKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-1111-4111-8111-111111111111",
    "secretsProvider": "awskms://alias/rflow-prod-use1-pulumi-secrets?region=us-east-1",
    "secretsKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/22222222-2222-4222-8222-222222222222",
}
OTHERS = sorted(SUPPORTED_REGIONS - {HOME})  # 29 regions


def config(**overrides: Any) -> delivery.DeliveryConfig:
    values = dict(VALID)
    for key, value in overrides.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value if isinstance(value, str) else json.dumps(value)
    loaded = load_pipeline_config(
        repo_root=REPO_ROOT,
        project="regionflow-pipeline",
        stack="prod",
        get=config_from_mapping(values),
        aws_region=HOME,
    )
    return loaded.delivery


def delivery_only(secondaries: list[str], environment: str = "prod", **keys: Any) -> delivery.DeliveryConfig:
    """The delivery keys alone, for any set of secondary regions (no stack files needed)."""
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in keys.items()}
    reader = ConfigReader("regionflow-pipeline", config_from_mapping(values))
    return delivery.load_delivery_config(reader, environment=environment, home=HOME, secondaries=secondaries)


def plan(cfg: delivery.DeliveryConfig, secondaries: list[str]) -> list[delivery.DeployStage]:
    return delivery.plan_deploy_stages(cfg, HOME, secondaries)


# -- the plan -----------------------------------------------------------------------------------------------


def test_without_delivery_keys_the_layout_is_todays() -> None:
    cfg = delivery_only(["eu-west-1", "ap-southeast-2"], environment="dev")
    assert (cfg.waves, cfg.bake_minutes, cfg.window, cfg.approval, cfg.auto_retry) == (None, 0, None, "always", True)
    assert [(s.name, s.regions, s.baked) for s in plan(cfg, ["eu-west-1", "ap-southeast-2"])] == [
        ("DeployPrimary", (HOME,), False),
        ("DeploySecondaries", ("eu-west-1", "ap-southeast-2"), False),
    ]
    # Beyond 25 regions the one wave splits at CodePipeline's 50 actions per stage, as before.
    names = [s.name for s in plan(cfg, OTHERS)]
    assert names == ["DeployPrimary", "DeploySecondaries1", "DeploySecondaries2"]
    assert names[1:] == layout.stage_names(29, update_pipeline=False)[-2:]


def test_waves_become_stages_and_unlisted_regions_a_last_wave() -> None:
    secondaries = ["eu-west-1", "ap-southeast-2", "us-west-2", "eu-north-1"]
    cfg = delivery_only(
        secondaries,
        waves=[["eu-west-1"], {"regions": ["ap-southeast-2", "us-west-2"], "bakeMinutes": 90}],
        bakeMinutes="30",
        primaryBakeMinutes="15",
    )
    assert [(s.name, s.regions, s.bake_minutes) for s in plan(cfg, secondaries)] == [
        ("DeployPrimary", (HOME,), 15),
        ("DeployWave1", ("eu-west-1",), 30),
        ("DeployWave2", ("ap-southeast-2", "us-west-2"), 90),
        ("DeployWave3", ("eu-north-1",), 30),
    ]


def test_a_wave_beyond_fifty_actions_is_split_in_order() -> None:
    cfg = delivery_only(OTHERS, waves=[OTHERS[:2], OTHERS[2:]])
    stages_ = plan(cfg, OTHERS)
    assert [s.name for s in stages_] == ["DeployPrimary", "DeployWave1", "DeployWave2a", "DeployWave2b"]
    assert [len(s.regions) for s in stages_] == [1, 2, 25, 2]
    assert [r for s in stages_[1:] for r in s.regions] == OTHERS


def test_adding_a_region_to_a_waved_pipeline_is_one_entry() -> None:
    """A new secondary that no wave names deploys in the last wave: nothing else to configure."""
    cfg = delivery_only(["eu-west-1", "sa-east-1"], waves=[["eu-west-1"]], bakeMinutes="60")
    assert plan(cfg, ["eu-west-1", "sa-east-1"])[-1].regions == ("sa-east-1",)


# -- config: one line naming the key and the fix --------------------------------------------------------------

BAD: list[Any] = [
    pytest.param({"waves": "eu-west-1"}, "waves", "structured config", id="waves-not-structured"),
    pytest.param({"waves": []}, "waves", "non-empty list", id="no-waves"),
    pytest.param({"waves": [["eu-west-9"]]}, "waves[0]", "not a supported AWS region", id="unknown-region"),
    pytest.param({"waves": [["us-east-1"]]}, "waves[0]", "home region", id="home-in-wave"),
    pytest.param({"waves": [["sa-east-1"]]}, "waves[0]", "no entry in secondaryStacks", id="not-a-secondary"),
    pytest.param({"waves": [["eu-west-1"], ["eu-west-1"]]}, "waves[1]", "already in waves[0]", id="twice"),
    pytest.param({"waves": [{"regions": ["eu-west-1"], "bake": 1}]}, "waves[0]", "region list or", id="wave-keys"),
    pytest.param(
        {"waves": [{"regions": ["eu-west-1"], "bakeMinutes": 2000}]},
        "waves[0].bakeMinutes",
        "0..1440",
        id="wave-bake-range",
    ),
    pytest.param(
        {"waves": [{"regions": ["eu-west-1"], "bakeMinutes": 0}], "bakeMinutes": "60"},
        "waves[0].bakeMinutes",
        "asks every wave after the primary to bake",
        id="unbaked-wave",
    ),
    pytest.param({"bakeMinutes": "an hour"}, "bakeMinutes", "whole minutes", id="bake-not-a-number"),
    pytest.param({"primaryBakeMinutes": "-5"}, "primaryBakeMinutes", "0..1440", id="negative-bake"),
    pytest.param(
        {"deploymentWindow": {"cron": "* * 8-16 ? * MON-FRI"}},
        "deploymentWindow",
        "exactly the keys cron and timeZone",
        id="window-without-zone",
    ),
    pytest.param(
        {"deploymentWindow": {"cron": "* * 8-16 ? * MON-FRI", "timeZone": "CEST"}},
        "deploymentWindow.timeZone",
        "IANA time zone",
        id="bad-zone",
    ),
    pytest.param(
        {"deploymentWindow": {"cron": "* 8-16 ? * MON-FRI", "timeZone": "UTC"}},
        "deploymentWindow.cron",
        "5 fields",
        id="five-fields",
    ),
    pytest.param(
        {"deploymentWindow": {"cron": "0 * 8-16 ? * MON-FRI", "timeZone": "UTC"}},
        "deploymentWindow.cron",
        "seconds",
        id="seconds-not-star",
    ),
    pytest.param(
        {"deploymentWindow": {"cron": "* * 8-25 ? * MON-FRI", "timeZone": "UTC"}},
        "deploymentWindow.cron",
        "'25' is out of range in hours",
        id="hour-25",
    ),
    pytest.param(
        {"deploymentWindow": {"cron": "* * 8-16 * * MON-FRI", "timeZone": "UTC"}},
        "deploymentWindow.cron",
        "exactly one of day-of-month and day-of-week",
        id="both-days",
    ),
    pytest.param(
        {"deploymentWindow": {"cron": "* * 8-16 ? * FUNDAY", "timeZone": "UTC"}},
        "deploymentWindow.cron",
        "'FUNDAY' is out of range in day-of-week",
        id="bad-day",
    ),
    pytest.param({"approval": "sometimes"}, "approval", "not always, iam-changes or never", id="approval"),
    pytest.param({"approval": "never"}, "approval", "without any approval", id="never-in-prod"),
    pytest.param(
        {"approvalOverride": "OPS-1"}, "approvalOverride", "only read with approval: never", id="stray-override"
    ),
    pytest.param(
        {"approval": "never", "approvalOverride": "no <way>"},
        "approvalOverride",
        "becomes a tag",
        id="override-characters",
    ),
    pytest.param({"autoRetry": "yes"}, "autoRetry", "not true or false", id="retry"),
]


@pytest.mark.parametrize(("overrides", "key", "words"), BAD)
def test_bad_delivery_config_is_one_line_naming_key_and_fix(overrides: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**overrides)
    message = str(caught.value)
    assert "\n" not in message and ". Fix: " in message
    assert message.startswith(f"regionflow-pipeline:{key}: "), message
    assert words in message


def test_a_baked_wave_of_more_than_five_regions_is_refused_naming_the_fix() -> None:
    """One CloudWatchAlarm rule per region, at most 5 rules in the stage's single onSuccess condition."""
    six = OTHERS[:6]
    with pytest.raises(ConfigError) as caught:
        delivery_only(six, waves=[six], bakeMinutes="30")
    assert str(caught.value).startswith("regionflow-pipeline:waves: DeployWave1 deploys 6 regions with a 30-minute")
    assert "at most 5 CloudWatchAlarm rules" in str(caught.value) and "waves of at most 5 regions" in str(caught.value)
    # Without waves the one default wave is refused the same way, naming bakeMinutes.
    with pytest.raises(ConfigError, match=r"^regionflow-pipeline:bakeMinutes: DeploySecondaries deploys 6 regions"):
        delivery_only(six, bakeMinutes="30")
    # Five regions, or no bake, are fine.
    assert len(plan(delivery_only(six[:5], waves=[six[:5]], bakeMinutes="30"), six[:5])) == 2
    assert len(plan(delivery_only(six, waves=[six]), six)) == 2


def test_approval_defaults_and_the_prod_override() -> None:
    assert config().approval == "iam-changes"  # prod's default
    assert delivery_only([], environment="dev").approval == "always"
    assert delivery_only([], environment="dev", approval="never").approval == "never"  # no override needed
    chosen = config(approval="never", approvalOverride="ticket OPS-1234: approvers on leave")
    assert (chosen.approval, chosen.approval_override) == ("never", "ticket OPS-1234: approvers on leave")


def test_a_window_is_kept_exactly_as_the_rule_reads_it() -> None:
    cfg = config(deploymentWindow={"cron": "*  0-59/15 8-16 ? JAN-NOV MON-FRI 2026", "timeZone": "Europe/Berlin"})
    assert cfg.window == delivery.DeploymentWindow("* 0-59/15 8-16 ? JAN-NOV MON-FRI 2026", "Europe/Berlin")


# -- the pipeline the sample config makes ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> StackResult:
    return pipeline_of(run_repository(REPO_ROOT))


def conditions(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {kind: item[kind]["condition"] for kind in ("beforeEntry", "onSuccess") if kind in item}


def test_the_sample_gates_approval_on_iam_changes(sample: StackResult) -> None:
    approval = stage(sample, "Approval")
    assert conditions(approval) == {
        "beforeEntry": {
            "result": "SKIP",
            "rules": [
                {
                    "name": "IamChanges",
                    "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": "VariableCheck", "version": "1"},
                    # NE false: only an explicit false from the Preview skips the approval.
                    "configuration": {
                        "Variable": "#{PreviewVariables.IAM_CHANGES}",
                        "Operator": "NE",
                        "Value": "false",
                    },
                }
            ],
        }
    }
    (preview,) = stage(sample, "Preview")["actions"]
    assert preview["namespace"] == "PreviewVariables"
    projects = {p.outputs["name"]: p for p in of_type_projects(sample)}
    buildspec = projects[preview["configuration"]["ProjectName"]].inputs["source"]["buildspec"]
    assert "exported-variables:\n    - IAM_CHANGES" in buildspec


def of_type_projects(result: StackResult) -> list[Any]:
    return [r for r in result.resources if r.type == PROJECT_TYPE]


def test_the_sample_bakes_every_deploy_stage_on_its_regions_health(
    sample: StackResult, regional_results: dict[str, StackResult]
) -> None:
    health = {r.exports["region"]: r.exports["healthAlarmName"] for r in regional_results.values()}
    expected = {
        "DeployPrimary": ([HOME], "30"),
        "DeployWave1": (["eu-west-1"], "60"),
        "DeployWave2": (["ap-southeast-2"], "60"),
    }
    for name, (regions, wait) in expected.items():
        bake = conditions(stage(sample, name))["onSuccess"]
        assert bake["result"] == "ROLLBACK"
        assert [r["region"] for r in bake["rules"]] == regions
        for rule in bake["rules"]:
            assert rule["ruleTypeId"]["provider"] == "CloudWatchAlarm"
            assert rule["configuration"] == {
                "AlarmName": health[rule["region"]],
                "AlarmStates": "ALARM",
                "WaitTime": wait,
            }
            assert delivery.RULE_NAME_PATTERN.match(rule["name"])


def test_the_sample_window_holds_every_deploy_stage(sample: StackResult) -> None:
    for item in stages(sample):
        entry = conditions(item).get("beforeEntry")
        if not item["name"].startswith("Deploy"):
            continue
        assert entry is not None and entry["result"] == "FAIL", item["name"]
        (rule,) = entry["rules"]
        assert rule["ruleTypeId"]["provider"] == "DeploymentWindow"
        assert rule["configuration"] == {"Cron": "* * 8-16 ? * MON-THU", "TimeZone": "America/New_York"}


def test_the_sample_pipeline_carries_its_choices_and_exports_the_plan(sample: StackResult) -> None:
    assert pipeline_inputs(sample)["tags"] == {"DeliveryBakeMinutes": "60", "DeliveryApproval": "iam-changes"}
    lines = sample.exports["deliveryPlan"]
    assert lines[0].startswith("Approval: beforeEntry VariableCheck #{PreviewVariables.IAM_CHANGES} NE false -> SKIP")
    assert lines[2] == (
        "DeployWave1 [eu-west-1]: beforeEntry DeploymentWindow '* * 8-16 ? * MON-THU' America/New_York -> FAIL; "
        "onSuccess CloudWatchAlarm health of 1 region(s), wait 60 min -> ROLLBACK; onFailure ROLLBACK"
    )


def test_the_pipeline_role_reads_exactly_the_baked_regions_health_alarms(
    sample: StackResult, regional_results: dict[str, StackResult]
) -> None:
    document = role_policies(sample)["pipeline-role"]
    (watch,) = [s for s in document["Statement"] if s["Sid"] == "WatchHealthAlarms"]
    assert sorted(as_list(watch["Action"])) == ["cloudwatch:DescribeAlarmHistory", "cloudwatch:DescribeAlarms"]
    (pattern,) = as_list(watch["Resource"])
    assert pattern == f"arn:aws:cloudwatch:*:{ACCOUNT}:alarm:rflow-prod-*-health"
    for result in regional_results.values():
        assert fnmatch.fnmatchcase(result.exports["healthAlarmArn"], pattern)
        # Only the health alarms: the logger's own alarms and other families' alarms stay unreadable.
        for alarm in of_type(result, "aws:cloudwatch/metricAlarm:MetricAlarm"):
            assert not fnmatch.fnmatchcase(alarm.outputs["arn"], pattern)
    assert not fnmatch.fnmatchcase(f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:rflow-dev-use1-health", pattern)


# -- variants -------------------------------------------------------------------------------------------------


def health_arns(results: dict[str, StackResult]) -> list[str]:
    return [r.exports["healthAlarmArn"] for r in results.values() if "healthAlarmArn" in r.exports]


def run_variant(tmp_path: Path, change: Any) -> StackResult:
    root = copy_tree(tmp_path)
    edit_pipeline_config(root, change)
    return pipeline_of(run_repository(root))


def test_without_delivery_keys_no_stage_has_a_bake_or_window(tmp_path: Path) -> None:
    def change(cfg: dict[str, Any]) -> None:
        for key in ("waves", "bakeMinutes", "primaryBakeMinutes", "deploymentWindow", "approval"):
            cfg.pop(f"regionflow-pipeline:{key}")

    result = run_variant(tmp_path, change)
    deploys = [s for s in stages(result) if s["name"].startswith("Deploy")]
    assert [s["name"] for s in deploys] == ["DeployPrimary", "DeploySecondaries"]
    assert all(conditions(s) == {} for s in deploys)
    assert "WatchHealthAlarms" not in {s["Sid"] for s in role_policies(result)["pipeline-role"]["Statement"]}
    # prod's default approval is still the IAM gate.
    assert conditions(stage(result, "Approval"))["beforeEntry"]["result"] == "SKIP"
    assert evaluate("p", result.resources).mandatory == []


def test_approval_always_and_never_with_its_override(tmp_path: Path) -> None:
    always = run_variant(tmp_path / "always", lambda c: c.update({"regionflow-pipeline:approval": "always"}))
    assert "beforeEntry" not in stage(always, "Approval")
    never = run_variant(
        tmp_path / "never",
        lambda c: c.update(
            {"regionflow-pipeline:approval": "never", "regionflow-pipeline:approvalOverride": "OPS-1234 freeze"}
        ),
    )
    assert "Approval" not in [s["name"] for s in stages(never)]
    assert pipeline_inputs(never)["tags"]["DeliveryApprovalOverride"] == "OPS-1234 freeze"
    for result in (always, never):
        assert evaluate("p", result.resources).mandatory == []


def test_without_auto_retry_nothing_retries(tmp_path: Path) -> None:
    result = run_variant(tmp_path, lambda c: c.update({"regionflow-pipeline:autoRetry": False}))
    assert all(s.get("onFailure", {}).get("result") != "RETRY" for s in stages(result))
    attempts = {
        v["value"]
        for p in of_type_projects(result)
        for v in p.inputs["environment"]["environmentVariables"]
        if v["name"] == "DEPLOY_ATTEMPTS"
    }
    assert attempts == {"1"}


def test_twenty_regions_in_four_waves_stay_within_every_limit(tmp_path: Path) -> None:
    """The home region, then 19 secondaries in waves of 4, 5, 5 and the 5 no wave names, every stage baked."""
    root = copy_tree(tmp_path)
    added = [r for r in OTHERS if r not in ("eu-west-1", "ap-southeast-2")][:17]
    for region in added:
        add_secondary(root, region)
    secondaries = ["ap-southeast-2", "eu-west-1", *added]
    waves = [["eu-west-1", *added[:3]], added[3:8], added[8:13]]

    def change(cfg: dict[str, Any]) -> None:
        cfg["regionflow-pipeline:waves"] = waves

    edit_pipeline_config(root, change)
    results = run_repository(root)
    result = pipeline_of(results)
    deploys = [s for s in stages(result) if s["name"].startswith("Deploy")]
    assert [s["name"] for s in deploys] == ["DeployPrimary", "DeployWave1", "DeployWave2", "DeployWave3", "DeployWave4"]
    deployed = [a["region"] for s in deploys for a in s["actions"] if a["category"] == "Build"]
    assert sorted(deployed) == sorted([HOME, *secondaries]) and len(deployed) == 20
    health = {
        r.exports["region"]: r.exports["healthAlarmName"] for r in results.values() if "healthAlarmName" in r.exports
    }
    for item in stages(result):
        assert len(item["actions"]) <= layout.MAX_ACTIONS_PER_STAGE
        for kind in ("beforeEntry", "onSuccess", "onFailure"):
            condition = item.get(kind, {}).get("condition")
            # pulumi-aws holds one condition block per kind, as the API's "Fixed number of 1 item".
            assert condition is None or isinstance(condition, dict)
            if condition is not None:
                assert 1 <= len(condition["rules"]) <= delivery.MAX_RULES_PER_CONDITION
    for item in deploys:
        bake = item["onSuccess"]["condition"]
        regions = {a["region"] for a in item["actions"]}
        assert {r["region"] for r in bake["rules"]} == regions
        assert all(r["configuration"]["AlarmName"] == health[r["region"]] for r in bake["rules"])
    assert len(stages(result)) <= delivery.MAX_STAGES_PER_PIPELINE
    for role, document in role_policies(result).items():
        assert len("".join(json.dumps(document).split())) <= 10240, role
    (watch,) = [s for s in role_policies(result)["pipeline-role"]["Statement"] if s["Sid"] == "WatchHealthAlarms"]
    assert all(fnmatch.fnmatchcase(arn, as_list(watch["Resource"])[0]) for arn in health_arns(results))
    assert evaluate("p", result.resources).mandatory == []
