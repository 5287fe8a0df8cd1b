"""The IAM gate's parser on `pulumi preview --json` documents (fixtures/preview-json, sources in its README).

The shape is Pulumi's PreviewDigest (pulumi/pulumi sdk/go/common/display/json.go); op values are deploy.StepOp
(pkg/resource/deploy/step.go). Each test shows a decision that a wrong parser would get wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regionflow.preview_iam import PreviewJsonError, analyse, any_iam_change, main, parse_digest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "preview-json"


def report(name: str, stack: str = "s") -> Any:
    return analyse(stack, parse_digest((FIXTURES / name).read_text()))


def step(op: str, type_: str, name: str = "r", **extra: Any) -> dict[str, Any]:
    return {"op": op, "urn": f"urn:pulumi:prod::p::{type_}::{name}", "newState": {"type": type_}, **extra}


def test_the_sample_from_pulumis_json_pr_has_two_creates_and_no_iam() -> None:
    """PR pulumi/pulumi#2658's expected output: a stack and a dynamic resource, created."""
    result = report("pr2658-dynamic-create.json")
    assert (result.steps, result.changes, result.iam) == (2, 2, ())


def test_a_role_policy_update_is_an_iam_change_and_a_code_update_is_not() -> None:
    result = report("regionflow-role-policy-update.json", "regionflow-secondary/prod-eu-west-1")
    assert result.changes == 2  # the same step is no change
    (change,) = result.iam
    assert (change.op, change.type, change.name) == (
        "update",
        "aws:iam/rolePolicy:RolePolicy",
        "deploy-logger-role-policy",
    )
    assert change.reason == "changes policy"
    assert "regionflow-secondary/prod-eu-west-1: update aws:iam/rolePolicy:RolePolicy" in change.line()


def test_retagging_a_role_or_describing_a_key_grants_nothing() -> None:
    result = report("regionflow-tags-only.json")
    assert result.changes == 3 and result.iam == ()


def test_a_replaced_lambda_permission_counts_once() -> None:
    (change,) = report("regionflow-permission-replace.json").iam
    assert change.type == "aws:lambda/permission:Permission" and change.op == "create-replacement"


def test_reads_and_unchanged_iam_resources_are_no_change() -> None:
    result = report("regionflow-unchanged.json")
    assert (result.changes, result.iam) == (0, ())


@pytest.mark.parametrize(
    ("step_", "counted"),
    [
        (step("create", "aws:iam/role:Role"), True),
        (step("delete", "aws:iam/policy:Policy"), True),
        (step("create", "aws:iam/rolePolicyAttachment:RolePolicyAttachment"), True),
        (step("update", "aws:iam/role:Role", diffReasons=["permissionsBoundary"]), True),
        (step("delete", "aws:s3/bucketPolicy:BucketPolicy"), True),
        (step("create", "aws:sns/topicPolicy:TopicPolicy"), True),
        (step("update", "aws:sqs/queuePolicy:QueuePolicy", diffReasons=["policy"]), True),
        (step("create", "aws:kms/key:Key"), True),  # a new key comes with a key policy
        (step("update", "aws:kms/key:Key", detailedDiff={"policy": {"kind": "update", "inputDiff": True}}), True),
        (step("update", "aws:kms/key:Key", diffReasons=["enableKeyRotation"]), False),
        (step("update", "aws:sns/topic:Topic", diffReasons=["policy"]), True),
        (step("update", "aws:lambda/function:Function", diffReasons=["role"]), True),
        (step("update", "aws:lambda/function:Function", diffReasons=["memorySize"]), False),
        (step("update", "aws:codebuild/project:Project", diffReasons=["serviceRole"]), True),
        (step("create", "aws:cloudwatch/metricAlarm:MetricAlarm"), False),
        # An update that names nothing it changes is not proven harmless.
        (step("update", "aws:iam/role:Role"), True),
        # An op this parser does not know counts: a newer CLI can only make the gate stricter.
        (step("some-future-op", "aws:iam/role:Role"), True),
        (step("refresh", "aws:iam/role:Role"), False),
        (step("import", "aws:iam/role:Role"), True),
    ],
)
def test_each_kind_of_step(step_: dict[str, Any], counted: bool) -> None:
    assert bool(analyse("s", {"steps": [step_]}).iam) is counted


def test_the_type_comes_from_the_urn_when_no_state_is_given() -> None:
    urn = "urn:pulumi:prod::p::regionflow:components:X$aws:iam/role:Role::logger-role"
    (change,) = analyse("s", {"steps": [{"op": "delete", "urn": urn}]}).iam
    assert (change.type, change.name) == ("aws:iam/role:Role", "logger-role")


@pytest.mark.parametrize("text", ["", "preview failed", "[1, 2]", '{"steps": [{"urn": "x"}]}', '{"steps": {}}'])
def test_anything_but_a_digest_is_refused(text: str) -> None:
    with pytest.raises(PreviewJsonError):
        parse_digest(text)


def test_a_digest_without_steps_is_an_empty_stack() -> None:
    assert analyse("s", parse_digest('{"changeSummary": {}}')).steps == 0


def test_the_cli_writes_the_decision_and_lists_the_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gate" / "iam-changes"
    argv = [
        "--out", str(out),
        f"regionflow-primary/prod={FIXTURES / 'regionflow-tags-only.json'}",
        f"regionflow-secondary/prod-eu-west-1={FIXTURES / 'regionflow-role-policy-update.json'}",
    ]  # fmt: skip
    assert main(argv) == 0
    assert out.read_text() == "true"
    printed = capsys.readouterr().out
    assert "IAM regionflow-secondary/prod-eu-west-1: update aws:iam/rolePolicy:RolePolicy" in printed
    assert "IAM_CHANGES=true (1 IAM change(s) in 2 stack(s))" in printed
    assert main(["--out", str(out), f"a={FIXTURES / 'regionflow-unchanged.json'}"]) == 0
    assert out.read_text() == "false"


def test_the_cli_fails_on_an_unreadable_preview_and_decides_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("error: preview failed\n")
    out = tmp_path / "iam-changes"
    assert main(["--out", str(out), f"a={bad}"]) == 2
    assert not out.exists()
    assert main(["--out", str(out), "no-equals-sign"]) == 2


def test_any_change_in_any_stack_opens_the_gate() -> None:
    quiet = analyse("a", {"steps": []})
    loud = analyse("b", json.loads((FIXTURES / "regionflow-permission-replace.json").read_text()))
    assert any_iam_change([quiet]) is False and any_iam_change([quiet, loud]) is True


PIPELINE_TYPE = "aws:codepipeline/pipeline:Pipeline"
PROJECT_TYPE = "aws:codebuild/project:Project"


def test_a_role_named_inside_the_pipelines_stages_is_an_iam_change() -> None:
    """The cross-account invoke role is an action's roleArn inside `stages`; a changed approval text is not IAM."""
    role = step("update", PIPELINE_TYPE, "pipeline", diffReasons=["stages"],
                detailedDiff={"stages[6].actions[1].roleArn": {"kind": "update", "inputDiff": True}})  # fmt: skip
    text = step("update", PIPELINE_TYPE, "pipeline", diffReasons=["stages"],
                detailedDiff={"stages[4].actions[0].configuration.CustomData": {"kind": "update"}})  # fmt: skip
    (change,) = analyse("p", {"steps": [role]}).iam
    assert change.reason == "changes a role of its stages"
    assert analyse("p", {"steps": [text]}).iam == ()


def test_a_build_assuming_another_role_in_another_account_is_an_iam_change() -> None:
    """REGIONFLOW_TARGET_PROFILES names the role a deploy build assumes in a region owner's account."""

    def project(profiles: str, version: str) -> dict[str, Any]:
        variables = [
            {"name": "REGIONFLOW_TARGET_PROFILES", "value": profiles},
            {"name": "PULUMI_VERSION", "value": version},
        ]
        return {"type": PROJECT_TYPE, "inputs": {"environment": {"environmentVariables": variables}}}

    old = project("210987654321=arn:aws:iam::210987654321:role/rflow-prod-usw2-pipeline-deploy", "3.272.0")
    moved = project("210987654321=arn:aws:iam::210987654321:role/someone-else", "3.272.0")
    bumped = project("210987654321=arn:aws:iam::210987654321:role/rflow-prod-usw2-pipeline-deploy", "3.273.0")
    changed = step("update", PROJECT_TYPE, "deploy", diffReasons=["environment"], oldState=old, newState=moved)
    same = step("update", PROJECT_TYPE, "deploy", diffReasons=["environment"], oldState=old, newState=bumped)
    (change,) = analyse("p", {"steps": [changed]}).iam
    assert change.reason == "changes the roles its environment names"
    assert analyse("p", {"steps": [same]}).iam == ()
