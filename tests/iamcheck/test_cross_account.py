"""iam-check across accounts: the cross-account sample (samples/cross-account, us-west-2 in 210987654321).

What really happens in a run, and what the check must judge (docs/accounts.md, "How the pipeline reaches your
account"): a runner (a CodeBuild project, the pull-request workflow) writes the profile ``regionflow-<account>``
with ``role_arn`` = a role ``regionflow bootstrap --target`` made; the stack's AWS provider names that profile, so
the provider's calls are made as that role in the target account, while the Pulumi CLI's backend calls (state,
lock, secrets) stay the runner's own in the pipeline account. Requests that cross accounts need the caller's
identity policy *and* the resource's policy in the other account (IAM user guide, "Cross-account policy evaluation
logic"); ``sts:AssumeRole`` needs the role's trust too (IAM user guide, "Policy evaluation logic").

Every seeded defect below is made in one copy and the check must report it, and only it, against the control.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from iamcheck_support import check, documents_of, key_set, resources, strip_action

from regionflow import bootstrap_target
from regionflow.accounts import read_principals
from regionflow.accounts_sample import compose
from regionflow.iamcheck.check import CheckResult, Finding
from regionflow.offline.discovery import discover_stacks
from regionflow.offline.runner import run_stacks

PIPELINE, TARGET = "123456789012", "210987654321"
TARGET_BUCKET = f"arn:aws:s3:::rflow-prod-usw2-artifacts-{TARGET}"
DEPLOY_BUILD, TARGET_DEPLOY = "rflow-prod-usw2-deploy", "rflow-prod-usw2-pipeline-deploy"
READ_ROLE, INVOKE_ROLE = "rflow-prod-pipeline-read", "rflow-prod-usw2-pipeline-invoke"
GITHUB_ROLE = "rflow-prod-github-preview"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """The composed sample tree and its manifests (as `regionflow preview --root` writes them), built once."""
    root = compose(tmp_path_factory.mktemp("xacct-iam") / "repo")
    return root, documents_of(run_stacks(discover_stacks(root / "stacks")), root)


@pytest.fixture(scope="module")
def result(sample: tuple[Path, list[dict[str, Any]]]) -> CheckResult:
    root, documents = sample
    return check(documents, root=root)


def findings_of(result: CheckResult, kind: str) -> list[Finding]:
    return [f for f in result.findings if f.kind == kind]


def new_findings(control: CheckResult, seeded: CheckResult) -> list[Finding]:
    before = key_set(control)
    return [f for f in seeded.findings if (f.kind, f.role, f.action, f.resource) not in before]


def test_the_cross_account_sample_passes_with_nothing_left_unevaluated(result: CheckResult) -> None:
    """The bake no longer names the other account's alarm (a CloudWatchAlarm rule reads alarms of the pipeline
    account only: docs/accounts.md, Known limit: bakes), so nothing in the sample is unknowable."""
    assert findings_of(result, "missing") == []
    assert findings_of(result, "possibly missing") == []
    assert findings_of(result, "excess") == []
    assert findings_of(result, "unevaluated") == []
    assert result.notes == []
    assert result.allowed == result.needs
    # The chain of role assumptions holds, the pull-request preview role's link included.
    assert result.chain and result.broken_links == []
    assert any(
        link.what == "may assume" and link.principal.endswith(f"role/{GITHUB_ROLE}") and link.resource.endswith(
            f"role/{READ_ROLE}"
        )
        for link in result.chain
    )
    assert not result.failed(strict=False)


def test_each_role_acts_in_its_own_account(result: CheckResult) -> None:
    """The target logger's needs name its own account (before, they named the pipeline's: 51 false `missing`)."""
    by_role = {}
    for job in result.jobs:
        by_role.setdefault(job.role.name, []).extend(job.needs)
    logger = by_role["rflow-prod-usw2-deploy-logger"]
    assert {n.resource.split(":")[4] for n in logger if n.resource.startswith("arn:aws:")} == {TARGET}
    assert {n.action for n in logger} >= {"dynamodb:PutItem", "logs:PutLogEvents", "sns:Publish"}
    for need in logger:
        assert need.context.lookup("aws:PrincipalAccount") == (TARGET,)
    # Same-account regions are untouched.
    other = by_role["rflow-prod-euw1-deploy-logger"]
    assert {n.resource.split(":")[4] for n in other if n.resource.startswith("arn:aws:dynamodb")} == {PIPELINE}


def test_the_deploy_build_keeps_the_backend_and_the_target_role_makes_the_providers_calls(
    result: CheckResult,
) -> None:
    jobs = {(job.role.name, job.label.split(" (")[0]): job for job in result.jobs}
    build = jobs[(DEPLOY_BUILD, f"CodeBuild project {DEPLOY_BUILD}")]
    target = jobs[(TARGET_DEPLOY, "the AWS provider")]
    assert "CodeBuild project rflow-prod-usw2-deploy" in target.label
    # The build: its state in the pipeline account's backend, the source artifact, and the assumption.
    build_actions = {(n.action, n.resource.split(":")[4] if n.resource.count(":") > 4 else "") for n in build.needs}
    assert ("sts:AssumeRole", TARGET) in build_actions
    assert any(n.action == "s3:PutObject" and "pulumi-state" in n.resource for n in build.needs)
    assert not any(n.action.startswith(("lambda:", "dynamodb:", "iam:", "sqs:", "sns:")) for n in build.needs)
    # The target role: create, read, update and delete of every resource of the stack, none of the backend.
    assert any(n.action == "s3:CreateBucket" and n.resource == TARGET_BUCKET for n in target.needs)
    assert any(n.action == "iam:CreateRole" for n in target.needs)
    assert not any("pulumi-state" in n.resource for n in target.needs)
    # Previews and drift read as the read role; the invoke action runs as the invoke role.
    readers = {job.label.split(" of ", 1)[1].split(" (")[0] for job in result.jobs if job.role.name == READ_ROLE}
    assert readers == {
        "CodeBuild project rflow-prod-use1-drift",
        "CodeBuild project rflow-prod-use1-preview",
        "the pull-request workflow",
    }
    drift_reads = [n for job in result.jobs if job.role.name == READ_ROLE and "drift" in job.label for n in job.needs]
    assert drift_reads and all(not n.action.split(":")[1].startswith(("Create", "Put", "Delete")) for n in drift_reads)
    (invoke,) = [job for job in result.jobs if job.role.name == INVOKE_ROLE]
    assert [(n.action, n.resource) for n in invoke.needs] == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:us-west-2:{TARGET}:function:rflow-prod-usw2-deploy-logger")
    ]


def test_a_defect_in_the_target_roles_policy_is_reported_for_the_target_role(
    sample: tuple[Path, list[dict[str, Any]]], result: CheckResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target bootstrap's deploy policy without s3:GetReplicationConfiguration (issue 11's example, there)."""
    root, documents = sample
    original = bootstrap_target.deploy_policy

    def without(account: str, request: bootstrap_target.TargetRequest) -> str:
        document = json.loads(original(account, request))
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in actions if a != "s3:GetReplicationConfiguration"] or ["s3:ListBucket"]
        return json.dumps(document)

    monkeypatch.setattr(bootstrap_target, "deploy_policy", without)
    (finding,) = new_findings(result, check(documents, root=root))
    assert (finding.kind, finding.role, finding.action, finding.resource) == (
        "missing",
        TARGET_DEPLOY,
        "s3:GetReplicationConfiguration",
        TARGET_BUCKET,
    )
    assert finding.line().startswith(
        f"missing: {TARGET_DEPLOY}: s3:GetReplicationConfiguration on {TARGET_BUCKET}: the read of aws:s3/bucket:Bucket"
    )
    assert "no Allow in the role's policies" in finding.line()


def test_a_deploy_build_that_may_not_assume_the_target_role_is_missing_it(
    sample: tuple[Path, list[dict[str, Any]]], result: CheckResult
) -> None:
    root, documents = sample
    seeded = copy.deepcopy(documents)
    strip_action(seeded, DEPLOY_BUILD, "sts:AssumeRole")
    findings = new_findings(result, check(seeded, root=root))
    assert [(f.kind, f.role, f.action, f.resource) for f in findings if f.kind == "missing"] == [
        ("missing", DEPLOY_BUILD, "sts:AssumeRole", f"arn:aws:iam::{TARGET}:role/{TARGET_DEPLOY}")
    ]


def test_a_read_role_trust_without_the_pull_request_role_refuses_it(
    sample: tuple[Path, list[dict[str, Any]]], result: CheckResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trust is a resource policy that must allow sts:AssumeRole itself; the PR role's own grant is not enough."""
    root, documents = sample

    def without_github(pipeline_account: str, name_prefix: str, environment: str, home_region: str) -> list[str]:
        principals = read_principals(pipeline_account, name_prefix, environment, home_region)
        return [p for p in principals if GITHUB_ROLE not in p]

    monkeypatch.setattr(bootstrap_target, "read_principals", without_github)
    seeded = check(documents, root=root)
    (finding,) = new_findings(result, seeded)
    assert (finding.kind, finding.role, finding.action) == ("missing", GITHUB_ROLE, "sts:AssumeRole")
    assert finding.resource == f"arn:aws:iam::{TARGET}:role/{READ_ROLE}"
    assert f"trust policy of {READ_ROLE} admits neither the role nor its account" in finding.reason
    assert [link.principal for link in seeded.broken_links] == [f"arn:aws:iam::{PIPELINE}:role/{GITHUB_ROLE}"]


def test_a_target_bucket_policy_without_the_pipelines_roles_refuses_them_across_accounts(
    sample: tuple[Path, list[dict[str, Any]]], result: CheckResult
) -> None:
    """The pipeline role's own policy grants the other account's store; the bucket's policy must grant it too."""
    root, documents = sample
    seeded = copy.deepcopy(documents)
    (policy,) = [p for p in resources(seeded, "aws:s3/bucketPolicy:BucketPolicy") if TARGET in p["outputs"]["bucket"]]
    document = json.loads(policy["outputs"]["policy"])
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "PipelineAccountArtifacts"]
    policy["outputs"]["policy"] = policy["inputs"]["policy"] = json.dumps(document)
    findings = new_findings(result, check(seeded, root=root))
    missing = {(f.role, f.action) for f in findings if f.kind == "missing"}
    assert missing == {("rflow-prod-use1-pipeline", "s3:PutObject"), (DEPLOY_BUILD, "s3:GetObject")}
    assert all(f.resource.startswith(TARGET_BUCKET + "/") for f in findings)
    assert all(f"cross-account: account {TARGET}'s policy must allow a principal of {PIPELINE}" in f.reason
               for f in findings)  # fmt: skip


def test_a_pull_request_workflow_without_the_profile_step_leaves_the_stack_unjudged(
    sample: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """Without `python -m regionflow.accounts` in the workflow, no profile exists there: the check says so."""
    _root, documents = sample
    copy_root = compose(tmp_path / "repo")
    workflow = copy_root / ".github" / "workflows" / "preview.yml"
    text = workflow.read_text()
    assert "regionflow.accounts" in text
    workflow.write_text(text.replace("regionflow.accounts", "regionflow.something_else"))
    seeded = check(documents, root=copy_root)
    assert [n for n in seeded.notes if "profile regionflow-210987654321" in n and GITHUB_ROLE in n]
    assert not [job for job in seeded.jobs if job.role.name == READ_ROLE and "pull-request" in job.label]
    assert seeded.failed(strict=True)


def test_a_request_to_another_accounts_resource_of_an_unmodelled_kind_is_unevaluated(
    sample: tuple[Path, list[dict[str, Any]]],
) -> None:
    """A table or function of another account may carry a resource-based policy the manifests do not show; only
    buckets, keys, topics and queues (whose policies the check reads) and role trusts are decided across accounts."""
    from regionflow.iamcheck.check import Evaluator, default_boundary_resolver
    from regionflow.iamcheck.evaluate import Outcome
    from regionflow.iamcheck.model import Manifests
    from regionflow.iamcheck.needs import ContextSpec, Need, build_context

    _root, documents = sample
    manifests = Manifests(((None, d) for d in copy.deepcopy(documents)), boundary_resolver=default_boundary_resolver())
    (role,) = [r for r in manifests.roles.values() if r.name == "rflow-prod-use1-pipeline"]
    evaluator = Evaluator(manifests)

    def decide(action: str, resource: str) -> Any:
        context = build_context(role.arn, role.account, role.tags, action, ContextSpec(region="us-west-2"))
        return evaluator.decide(Need(role.arn, action, resource, context, "a test"))

    table = f"arn:aws:dynamodb:us-west-2:{TARGET}:table/rflow-prod-usw2-deploy-logger-idempotency"
    unknown = decide("dynamodb:GetItem", table)
    assert unknown.outcome is Outcome.UNEVALUATED
    assert f"resource-based policy of {table} (dynamodb) is not known" in unknown.reason
    # A bucket of that account whose policy does not name the role is decided: refused.
    refused = decide("s3:DeleteBucket", TARGET_BUCKET)
    assert refused.outcome is Outcome.DENIED
    assert f"admits neither the role nor its account (cross-account: account {TARGET}'s policy" in refused.reason
