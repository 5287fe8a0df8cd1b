"""DriftDetection under the offline mocks: schedule -> project, a read-only role, the buildspec."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from offline_support import REPO_ROOT, as_list, of_type, one, policy_of
from parliament import analyze_policy_string

from regionflow.components.pipeline import drift
from regionflow.iam import UNSCOPABLE_ACTIONS
from regionflow.offline.discovery import StackTarget
from regionflow.offline.runner import StackResult, StackRunError, run_stack

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = f"rflow-prod-use1-pulumi-state-{ACCOUNT}"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:rflow-prod-use1-deploy-events"
KEY = "arn:aws:kms:{region}:" + ACCOUNT + ":key/{id}"
STATE_KEY = KEY.format(region=REGION, id="11111111-1111-4111-8111-111111111111")
SECRETS_KEY = KEY.format(region=REGION, id="22222222-2222-4222-8222-222222222222")
BUILD_KEY = KEY.format(region=REGION, id="33333333-3333-4333-8333-333333333333")
EU_KEY = KEY.format(region="eu-west-1", id="44444444-4444-4444-8444-444444444444")
READ_ACTION = re.compile(r"^[a-z0-9-]+:(Get|List|Describe|BatchGet)[A-Za-z*]*$")

PROGRAM = """
from pathlib import Path
from regionflow.components.pipeline.drift import (
    DriftDetection, DriftDetectionArgs, DriftStack, PipelineSource, StateBackend,
)
from regionflow.naming import Namer

source = {source}
DriftDetection(
    "drift",
    DriftDetectionArgs(
        namer=Namer("rflow", "prod", "{region}"),
        region="{region}",
        account_id="{account}",
        topic_arn="{topic}",
        topic_key_arn="{build_key}",
        key_arn="{build_key}",
        backend=StateBackend(
            url="s3://{bucket}?region={region}&awssdk=v2",
            bucket_name="{bucket}",
            bucket_arn="arn:aws:s3:::{bucket}",
            state_key_arn="{state_key}",
            secrets_key_arn="{secrets_key}",
            secrets_provider="awskms://alias/rflow-prod-use1-pulumi-secrets?region={region}",
        ),
        source=source,
        stacks=[
            DriftStack("stacks/primary", "prod", "regionflow-primary"),
            DriftStack("stacks/secondary", "prod-eu-west-1", "regionflow-secondary"),
        ],
        stack_key_arns=["{build_key}", "{eu_key}"],
        buildspec_path=Path({buildspec!r}),
    ),
)
"""
PIPELINE_ARN = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:rflow-prod-use1-pipeline"
ARTIFACTS = f"arn:aws:s3:::rflow-prod-use1-artifacts-{ACCOUNT}"
SOURCE = (
    f'PipelineSource(pipeline_name="rflow-prod-use1-pipeline", pipeline_arn="{PIPELINE_ARN}", '
    f'source_action="Source", artifact_bucket_arn="{ARTIFACTS}")'
)


def run_drift(tmp_path: Path, source: str = SOURCE, buildspec: Path = drift.DEFAULT_BUILDSPEC) -> StackResult:
    program = PROGRAM.format(
        source=source,
        region=REGION,
        account=ACCOUNT,
        topic=TOPIC_ARN,
        build_key=BUILD_KEY,
        bucket=BUCKET,
        state_key=STATE_KEY,
        secrets_key=SECRETS_KEY,
        eu_key=EU_KEY,
        buildspec=str(buildspec),
    )
    (tmp_path / "__main__.py").write_text(textwrap.dedent(program))
    target = StackTarget("pipeline", "drift-test", "test", tmp_path, {"aws:region": REGION})
    return run_stack(target, stack_outputs={}, account_id=ACCOUNT)


@pytest.fixture(scope="module")
def github(tmp_path_factory: pytest.TempPathFactory) -> StackResult:
    return run_drift(tmp_path_factory.mktemp("drift-github"))


def _by_name(result: StackResult, resource_type: str, suffix: str) -> Any:
    (found,) = [r for r in of_type(result, resource_type) if r.name.endswith(suffix)]
    return found


def build_policy(result: StackResult) -> dict[str, Any]:
    return policy_of(_by_name(result, "aws:iam/rolePolicy:RolePolicy", "drift-role-policy"))


def test_the_component_has_its_type_and_parents_every_resource(github: StackResult) -> None:
    (component,) = [r for r in github.resources if r.type == drift.COMPONENT_TYPE]
    children = [r for r in github.resources if r.parent == component.urn]
    assert {r.type for r in children} == {
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:iam/role:Role",
        "aws:codebuild/project:Project",
        "aws:scheduler/schedule:Schedule",
    }


def test_the_schedule_starts_the_project_nightly_through_a_role_limited_to_start_build(github: StackResult) -> None:
    project = one(github, "aws:codebuild/project:Project")
    schedule = one(github, "aws:scheduler/schedule:Schedule")
    assert schedule.inputs["scheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule.inputs["flexibleTimeWindow"] == {"mode": "OFF"}
    target = schedule.inputs["target"]
    assert (
        target["arn"] == project.outputs["arn"] == f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/rflow-prod-use1-drift"
    )
    scheduler_role = _by_name(github, "aws:iam/role:Role", "drift-scheduler-role")
    assert target["roleArn"] == scheduler_role.outputs["arn"]
    trust = json.loads(scheduler_role.inputs["assumeRolePolicy"])["Statement"]
    assert trust == [
        {
            "Sid": "AssumedByService",
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]
    policy = policy_of(_by_name(github, "aws:iam/rolePolicy:RolePolicy", "drift-scheduler-role-policy"))
    assert policy["Statement"] == [
        {
            "Sid": "StartDriftBuild",
            "Effect": "Allow",
            "Action": "codebuild:StartBuild",
            "Resource": project.outputs["arn"],
        },
        {
            # The schedule is encrypted with the build's key; Scheduler decrypts its input as this execution
            # role (EventBridge Scheduler user guide, "Encryption at rest").
            "Sid": "DecryptScheduleInput",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": BUILD_KEY,
        },
    ]
    assert schedule.inputs["kmsKeyArn"] == BUILD_KEY


def _allowed(policy: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [
        (action, as_list(s["Resource"]))
        for s in policy["Statement"]
        if s["Effect"] == "Allow"
        for action in as_list(s["Action"])
    ]


def test_the_build_role_writes_nothing_but_logs_and_the_report(github: StackResult) -> None:
    """A preview takes no stack lock in the self-managed backend (pulumi/pulumi pkg/backend/diy/backend.go:
    Preview runs without b.Lock), so the role writes no state object at all."""
    allowed = _allowed(build_policy(github))
    writes = {action for action, _ in allowed if not READ_ACTION.match(action)}
    assert writes == {
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "sns:Publish",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert writes <= drift.ALLOWED_NON_READ_ACTIONS
    resources_of = {}
    for action, resources in allowed:
        resources_of.setdefault(action, set()).update(resources)
    assert "s3:PutObject" not in resources_of and "s3:DeleteObject" not in resources_of
    assert resources_of["sns:Publish"] == {TOPIC_ARN}
    # State, secrets, the build's own key (also the topic's here), and, through Lambda only, the keys of the
    # functions' environments.
    assert resources_of["kms:Decrypt"] == {STATE_KEY, SECRETS_KEY, BUILD_KEY, f"arn:aws:kms:*:{ACCOUNT}:key/*"}
    (through_lambda,) = [s for s in build_policy(github)["Statement"] if s["Sid"] == "DecryptFunctionEnvironments"]
    assert through_lambda["Condition"] == {"StringLike": {"kms:ViaService": "lambda.*.amazonaws.com"}}
    log_group = _by_name(github, "aws:cloudwatch/logGroup:LogGroup", "drift-logs").outputs["arn"]
    assert resources_of["logs:PutLogEvents"] == {log_group, f"{log_group}:log-stream:*"}


def test_the_build_role_never_uses_a_wildcard_resource_aws_lets_us_scope(github: StackResult) -> None:
    for action, resources in _allowed(build_policy(github)):
        assert "*" not in resources or action in UNSCOPABLE_ACTIONS, action
        assert not action.endswith(":*")
        for resource in resources:
            # Every name-scoped ARN carries the stacks' prefix; only generated-ID ARNs are account-wide.
            if resource.startswith("arn:aws:") and resource.endswith("*") and "rflow-prod-" not in resource:
                assert resource.endswith(("log-group:*", "connection/*", "notificationrule/*", "key/*")), resource


def test_the_build_role_reads_the_stacks_keys_and_the_state(github: StackResult) -> None:
    statements = {s["Sid"]: s for s in build_policy(github)["Statement"]}
    # The stacks' own keys only (the notifications key is BUILD_KEY here); not the backend's keys, which no stack owns.
    assert set(as_list(statements["ReadStackKeys"]["Resource"])) == {BUILD_KEY, EU_KEY}
    # The checked projects' checkpoints and the backend's meta.yaml (pulumi/pulumi pkg/backend/diy/store.go).
    assert set(as_list(statements["ReadStateOfStacks"]["Resource"])) == {
        f"arn:aws:s3:::{BUCKET}/.pulumi/meta.yaml",
        f"arn:aws:s3:::{BUCKET}/.pulumi/stacks/regionflow-primary/*",
        f"arn:aws:s3:::{BUCKET}/.pulumi/stacks/regionflow-secondary/*",
    }
    assert set(as_list(statements["ReadStateOfStacks"]["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    bucket_reads = set(as_list(statements["ReadStackBuckets"]["Action"]))
    # The bucket refresh fails on AccessDenied for these (terraform-provider-aws internal/service/s3/bucket.go).
    assert {"s3:GetAccelerateConfiguration", "s3:GetReplicationConfiguration"} <= bucket_reads
    assert statements["ReadStackBuckets"]["Resource"] == f"arn:aws:s3:::rflow-prod-*-artifacts-{ACCOUNT}"
    assert statements["EncryptDriftReport"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}
    }


def test_every_action_of_the_build_role_is_a_real_iam_action(github: StackResult) -> None:
    policy = analyze_policy_string(json.dumps(build_policy(github)))
    unknown = [f"{f.issue}: {f.detail}" for f in policy.findings if f.issue in ("UNKNOWN_ACTION", "UNKNOWN_PREFIX")]
    assert unknown == []


def test_the_project_is_unprivileged_encrypted_and_logs_to_its_own_encrypted_group(github: StackResult) -> None:
    project = one(github, "aws:codebuild/project:Project")
    log_group = _by_name(github, "aws:cloudwatch/logGroup:LogGroup", "drift-logs")
    assert project.inputs["environment"]["privilegedMode"] is False
    assert project.inputs["encryptionKey"] == BUILD_KEY
    assert log_group.inputs["kmsKeyId"] == BUILD_KEY
    assert log_group.inputs["name"] == "/aws/codebuild/rflow-prod-use1-drift"
    assert project.inputs["logsConfig"]["cloudwatchLogs"] == {
        "status": "ENABLED",
        "groupName": log_group.outputs["name"],
    }
    role = _by_name(github, "aws:iam/role:Role", "drift-role")
    assert project.inputs["serviceRole"] == role.outputs["arn"]
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "codebuild.amazonaws.com"
    }


def test_the_project_reads_the_pipelines_source_artifact_not_the_repository(github: StackResult) -> None:
    """No GitHub source: CodeBuild would validate a CodeConnections source with the role at CreateProject
    (aws/aws-cdk#38504), which a connection still PENDING before its handshake cannot pass."""
    project = one(github, "aws:codebuild/project:Project")
    source = project.inputs["source"]
    assert source == {"type": "NO_SOURCE", "buildspec": drift.DEFAULT_BUILDSPEC.read_text()}
    statements = {s["Sid"]: s for s in build_policy(github)["Statement"]}
    assert statements["FindPipelineSource"]["Resource"] == PIPELINE_ARN
    assert statements["FindPipelineSource"]["Action"] == [
        "codepipeline:ListPipelineExecutions",
        "codepipeline:ListActionExecutions",
    ]
    assert statements["ReadPipelineSource"]["Resource"] == f"{ARTIFACTS}/*"
    # The connection is only read as a resource of the pipeline stack (its refresh), never used to clone.
    assert not [s for s in statements.values() if "UseConnection" in json.dumps(s)]


def test_the_project_passes_every_stack_and_the_backend_to_the_buildspec(github: StackResult) -> None:
    env = {
        v["name"]: v["value"]
        for v in one(github, "aws:codebuild/project:Project").inputs["environment"]["environmentVariables"]
    }
    assert env["DRIFT_STACKS"] == "stacks/primary:prod stacks/secondary:prod-eu-west-1"
    assert env["PULUMI_BACKEND_URL"] == f"s3://{BUCKET}?region={REGION}&awssdk=v2"
    assert env["PULUMI_SECRETS_PROVIDER"] == f"awskms://alias/rflow-prod-use1-pulumi-secrets?region={REGION}"
    assert env["DRIFT_TOPIC_ARN"] == TOPIC_ARN
    script = (REPO_ROOT / "stacks" / "pipeline" / "scripts" / "drift-check.sh").read_text()
    required = set(re.search(r"^require (.+)$", script, re.M).group(1).split())  # type: ignore[union-attr]
    assert required <= set(env), required - set(env)


def test_the_buildspec_is_a_valid_0_2_spec_that_runs_the_drift_script() -> None:
    text = drift.load_buildspec(drift.DEFAULT_BUILDSPEC)
    spec = yaml.safe_load(text)
    assert str(spec["version"]) == "0.2"
    assert spec["phases"]["build"]["commands"] == [
        "if [ ! -f .regionflow-no-source ]; then bash stacks/pipeline/scripts/drift-check.sh; fi"
    ]
    # What the script does when run is tested in tests/pipeline/test_buildspec_runs.py.


def test_a_broken_buildspec_fails_before_any_resource_is_registered(tmp_path: Path) -> None:
    bad = tmp_path / "drift.yml"
    bad.write_text("version: 0.1\nphases: {}\n")
    program_dir = tmp_path / "program"
    program_dir.mkdir()
    with pytest.raises(StackRunError) as error:
        run_drift(program_dir, buildspec=bad)
    assert "a buildspec needs `version: 0.2`" in str(error.value)


def test_the_args_reject_an_empty_stack_list_and_a_non_s3_backend() -> None:
    from regionflow.naming import Namer

    provider = "awskms://alias/k?region=us-east-1"
    backend = drift.StateBackend("s3://b?region=us-east-1", "b", "arn:aws:s3:::b", STATE_KEY, SECRETS_KEY, provider)
    common: dict[str, Any] = {
        "namer": Namer("rflow", "prod", REGION),
        "region": REGION,
        "account_id": ACCOUNT,
        "topic_arn": TOPIC_ARN,
        "topic_key_arn": BUILD_KEY,
        "key_arn": BUILD_KEY,
        "source": drift.PipelineSource("rflow-prod-use1-pipeline", PIPELINE_ARN, "Source", ARTIFACTS),
        "stack_key_arns": [],
    }
    with pytest.raises(ValueError, match="stacks is empty"):
        drift.DriftDetectionArgs(backend=backend, stacks=[], **common)
    with pytest.raises(ValueError, match="must be the s3:// URL"):
        drift.DriftDetectionArgs(
            backend=drift.StateBackend("file://~", "b", "arn:aws:s3:::b", STATE_KEY, SECRETS_KEY, provider),
            stacks=[drift.DriftStack("stacks/primary", "prod", "regionflow-primary")],
            **common,
        )


def test_the_repository_stacks_map_to_drift_stacks() -> None:
    # How the pipeline fills DriftDetectionArgs.stacks: one entry per stacks/*/Pulumi.<stack>.yaml.
    stacks = drift.DriftStack.discover(REPO_ROOT)
    configs = sorted(REPO_ROOT.glob("stacks/*/Pulumi.*.yaml"))
    assert len(stacks) == len(configs)
    assert stacks[0] == drift.DriftStack("stacks/primary", "prod", "regionflow-primary")
    for stack in stacks:
        assert (REPO_ROOT / stack.project_dir / f"Pulumi.{stack.stack}.yaml").is_file()
        assert re.fullmatch(r"stacks/[a-z]+:[a-z0-9-]+", stack.entry())


def test_the_backend_is_built_from_what_bootstrap_printed() -> None:
    from regionflow.bootstrap import BackendNames, BootstrapRequest, BootstrapResult

    names = BackendNames.of(BootstrapRequest(REGION, "rflow", "prod"), ACCOUNT)
    printed = BootstrapResult(region=REGION, names=names)
    backend = drift.StateBackend.for_bucket(names.bucket, REGION, STATE_KEY, SECRETS_KEY, printed.secrets_provider)
    assert backend.url == printed.login_url
    assert backend.bucket_arn == f"arn:aws:s3:::{BUCKET}"


def test_the_build_policy_fits_iams_inline_policy_limit(github: StackResult) -> None:
    # IAM counts an inline role policy without whitespace and rejects more than 10,240 characters;
    # each further region adds one key ARN (about 80 characters).
    compact = json.dumps(build_policy(github), separators=(",", ":"))
    assert len(compact) + 16 * 80 < 10_240


def test_the_longest_names_cover_every_name_the_component_makes(github: StackResult) -> None:
    from regionflow.naming import NameKind, Namer

    namer = Namer("rflow", "prod", REGION)
    longest = {kind: len(f"{namer.base}-{purpose}") for kind, purpose in drift.DRIFT_LONGEST_NAMES.items()}
    kinds = {
        "aws:iam/role:Role": NameKind.IAM_ROLE,
        "aws:scheduler/schedule:Schedule": NameKind.SCHEDULE,
        "aws:codebuild/project:Project": NameKind.CODEBUILD_PROJECT,
    }
    checked = 0
    for resource in github.resources:
        if resource.type in kinds:
            assert len(resource.inputs["name"]) <= longest[kinds[resource.type]], resource.inputs["name"]
            checked += 1
    assert checked == 4  # two roles, the schedule, the project
    # A 32-character prefix and 10-character environment overflow the scheduler role's 64 characters,
    # and check_limits says so before anything is registered.
    with pytest.raises(ValueError, match="iam_role name"):
        Namer("a" * 32, "e" * 10, "ap-southeast-2").check_limits(drift.DRIFT_LONGEST_NAMES)
