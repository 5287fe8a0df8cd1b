"""End to end: iam-check over the repository's manifests with one defect seeded at a time.

Every test builds two copies of the manifests that differ in exactly one grant: the control, where
the role has it, and the seeded one, where it does not (or has a broader one). The check must report
the seeded defect, and only it, whatever else the roles lack today. The defects are those of issue 10
(items 5 to 8) and the example of issue 11.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from iamcheck_support import (
    PIPELINE_TYPE,
    PROJECT_TYPE,
    REPO_ROOT,
    add_statement,
    check,
    deploy_role,
    drift_role,
    key_set,
    resources,
    set_boundary,
    strip_action,
)

from regionflow.cli import main
from regionflow.iamcheck.check import Finding

PRIMARY = "organization/regionflow-primary/prod"
PIPELINE = "organization/regionflow-pipeline/prod"


def stack_resources(documents: list[dict[str, Any]], project: str, resource_type: str) -> list[dict[str, Any]]:
    return [r for d in documents if d["project"] == project for r in d["resources"] if r["type"] == resource_type]


def arn_of(resource: dict[str, Any]) -> str:
    return str(resource["outputs"]["arn"])


def new_findings(control: list[dict[str, Any]], seeded: list[dict[str, Any]], **options: Any) -> list[Finding]:
    before = key_set(check(control, **options))
    after = check(seeded, **options)
    return [f for f in after.findings if (f.kind, f.role, f.action, f.resource) not in before]


def grant(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": "SeededControlGrant", "Effect": "Allow", "Action": action, "Resource": resource, **extra}


def pair_without(documents: list[dict[str, Any]], role: str, actions: list[str]) -> tuple[Any, Any]:
    """Two copies without any grant of ``actions`` for ``role`` and without its boundary (so only the
    role's own policies decide, whatever the boundary becomes)."""
    copies = copy.deepcopy(documents), copy.deepcopy(documents)
    for documents_copy in copies:
        set_boundary(documents_copy, role, None)
        for action in actions:
            strip_action(documents_copy, role, action)
    return copies


# --- issue 11's example ---------------------------------------------------------------------------


def test_a_deploy_role_without_get_replication_configuration_fails_with_one_clear_line(
    repo_documents: list[dict[str, Any]], tmp_path: Path
) -> None:
    role = deploy_role(repo_documents, PRIMARY)
    (bucket,) = stack_resources(repo_documents, "regionflow-primary", "aws:s3/bucket:Bucket")
    control, seeded = pair_without(repo_documents, role, ["s3:GetReplicationConfiguration"])
    add_statement(control, role, grant("s3:GetReplicationConfiguration", arn_of(bucket)))

    (finding,) = new_findings(control, seeded)

    assert (finding.kind, finding.role, finding.action, finding.resource) == (
        "missing",
        role,
        "s3:GetReplicationConfiguration",
        arn_of(bucket),
    )
    assert finding.why.startswith("the read of aws:s3/bucket:Bucket")
    assert "GetBucketReplication, internal/service/s3/bucket.go" in finding.detail
    assert finding.reason == "no Allow in the role's policies"

    # The command prints that one line and exits 1.
    for document in seeded:
        (tmp_path / f"{document['project']}.{document['stack']}.json").write_text(json.dumps(document))
    out = io.StringIO()
    code = main(["iam-check", "--manifests", str(tmp_path), "--root", str(REPO_ROOT), "--no-slack"], stdout=out)
    assert code == 1
    lines = out.getvalue().splitlines()
    assert finding.line() in lines
    assert lines[-1].startswith("iam-check: ") and " missing" in lines[-1]


# --- issue 10, item 5: drift detection on a stack that has not drifted -----------------------------


def test_drift_refresh_needs_the_bucket_reads_that_get_bucket_star_does_not_match(
    repo_documents: list[dict[str, Any]],
) -> None:
    role = drift_role(repo_documents)
    actions = ["s3:GetAccelerateConfiguration", "s3:GetReplicationConfiguration"]
    control, seeded = pair_without(repo_documents, role, [*actions, "s3:GetBucket*"])
    buckets = [arn_of(b) for b in resources(repo_documents, "aws:s3/bucket:Bucket")]
    for documents in (control, seeded):
        add_statement(documents, role, grant("s3:GetBucket*", buckets))
    add_statement(control, role, dict(grant(actions, buckets), Sid="Exact"))

    found = {(f.kind, f.action, f.resource) for f in new_findings(control, seeded)}

    assert found == {("missing", action, bucket) for action in actions for bucket in buckets}


def test_drift_refresh_needs_describe_key_on_the_notifications_key(repo_documents: list[dict[str, Any]]) -> None:
    role = drift_role(repo_documents)
    (key,) = stack_resources(repo_documents, "regionflow-pipeline", "aws:kms/key:Key")
    control, seeded = pair_without(repo_documents, role, ["kms:DescribeKey"])
    add_statement(control, role, grant("kms:DescribeKey", arn_of(key)))

    (finding,) = new_findings(control, seeded)

    assert (finding.kind, finding.action, finding.resource) == ("missing", "kms:DescribeKey", arn_of(key))
    assert finding.why.startswith("the read of aws:kms/key:Key")


def test_drift_refresh_of_a_managed_policy_is_blocked_by_a_boundary_that_allows_iam_on_roles_only(
    repo_documents: list[dict[str, Any]],
) -> None:
    """The boundary of today's pipeline allows IAM only on role ARNs; reading a policy needs more."""
    role = drift_role(repo_documents)
    documents = copy.deepcopy(repo_documents)
    policy_arn = "arn:aws:iam::123456789012:policy/rflow-prod-use1-seeded-policy"
    pipeline = next(d for d in documents if d["project"] == "regionflow-pipeline")
    pipeline["resources"].append({
        "urn": "urn:pulumi:prod::regionflow-pipeline::aws:iam/policy:Policy::seeded-policy",
        "type": "aws:iam/policy:Policy", "name": "seeded-policy", "custom": True, "provider": None, "id": policy_arn,
        "inputs": {"policy": "{}"},
        "outputs": {"policy": json.dumps({"Version": "2012-10-17", "Statement": []}), "arn": policy_arn,
                    "name": "rflow-prod-use1-seeded-policy", "region": "us-east-1"},
    })  # fmt: skip
    add_statement(documents, role, grant(["iam:GetPolicy", "iam:GetPolicyVersion"], policy_arn))
    cap = "arn:aws:iam::123456789012:policy/seeded-boundary"
    set_boundary(documents, role, cap)
    everything_but_iam = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    roles_only = {"Version": "2012-10-17", "Statement": [everything_but_iam, grant("iam:*", "arn:aws:iam::*:role/*")]}
    with_policies = copy.deepcopy(roles_only)
    with_policies["Statement"][1]["Resource"] = ["arn:aws:iam::*:role/*", "arn:aws:iam::*:policy/*"]

    def resolver_for(document: dict[str, Any]) -> Any:
        return lambda arn, _manifests: document if arn == cap else None

    before = key_set(check(documents, boundary_resolver=resolver_for(with_policies)))
    after = check(documents, boundary_resolver=resolver_for(roles_only))
    new = [f for f in after.findings if (f.kind, f.role, f.action, f.resource) not in before]

    # The seeded policy, and any other managed policy of the stacks (today: the boundary itself).
    assert {(f.action, f.resource) for f in new} >= {
        ("iam:GetPolicy", policy_arn),
        ("iam:GetPolicyVersion", policy_arn),
    }
    assert all(f.action.startswith("iam:GetPolicy") and ":policy/" in f.resource for f in new)
    assert all(f.reason == f"the permissions boundary {cap} does not allow it" for f in new)


def test_drift_build_needs_the_pipelines_source_artifact(repo_documents: list[dict[str, Any]]) -> None:
    """The drift build has no source of its own (a CodeConnections source is validated at CreateProject, which a
    PENDING connection fails): it lists the Source action's executions and copies its artifact."""
    role = drift_role(repo_documents)
    (pipeline,) = resources(repo_documents, "aws:codepipeline/pipeline:Pipeline")
    control, seeded = pair_without(repo_documents, role, ["codepipeline:ListActionExecutions"])
    add_statement(control, role, grant("codepipeline:ListActionExecutions", pipeline["outputs"]["arn"]))

    (finding,) = new_findings(control, seeded)

    assert (finding.action, finding.resource) == ("codepipeline:ListActionExecutions", pipeline["outputs"]["arn"])
    assert "list-action-executions" in finding.why


# --- issue 10, item 6: UpdatePipeline applies ordinary changes --------------------------------------


def update_role(documents: list[dict[str, Any]]) -> str:
    return deploy_role(documents, PIPELINE)


def pipeline_targets(documents: list[dict[str, Any]]) -> dict[str, str]:
    (key,) = stack_resources(documents, "regionflow-pipeline", "aws:kms/key:Key")
    (topic,) = stack_resources(documents, "regionflow-pipeline", "aws:sns/topic:Topic")
    (pipeline,) = stack_resources(documents, "regionflow-pipeline", PIPELINE_TYPE)
    connection = next(
        a["configuration"]["ConnectionArn"]
        for s in pipeline["outputs"]["stages"]
        for a in s["actions"]
        if "ConnectionArn" in a.get("configuration", {})
    )
    return {"key": arn_of(key), "topic": arn_of(topic), "connection": connection}


@pytest.mark.parametrize(
    ("action", "target", "phase"),
    [
        ("kms:TagResource", "key", "update"),  # owner/costCenter retag the notifications key
        ("{conn}:TagResource", "connection", "update"),  # ... and the connection
        ("{conn}:PassConnection", "connection", "create"),  # passing the connection to the pipeline
        ("kms:PutKeyPolicy", "key", "update"),  # the stack changes the key policy
        ("sns:SetTopicAttributes", "topic", "update"),  # ... and the topic policy
    ],
)
def test_update_pipeline_can_apply_ordinary_changes(
    repo_documents: list[dict[str, Any]], action: str, target: str, phase: str
) -> None:
    role = update_role(repo_documents)
    arn = pipeline_targets(repo_documents)[target]
    action = action.replace("{conn}", arn.split(":")[2])
    control, seeded = pair_without(repo_documents, role, [action])
    add_statement(control, role, grant(action, [arn, arn.rsplit("/", 1)[0] + "/*"]))

    new = new_findings(control, seeded)

    assert new and all(f.action == action and f.kind == "missing" for f in new)
    assert any(f.resource == arn for f in new)


def test_update_pipeline_retags_a_managed_policy_of_the_stack(repo_documents: list[dict[str, Any]]) -> None:
    role = update_role(repo_documents)
    documents = copy.deepcopy(repo_documents)
    policies = stack_resources(documents, "regionflow-pipeline", "aws:iam/policy:Policy")
    if not policies:  # the boundary left the stack: seed a tagged managed policy of the stack
        pipeline = next(d for d in documents if d["project"] == "regionflow-pipeline")
        arn = "arn:aws:iam::123456789012:policy/rflow-prod-use1-seeded"
        pipeline["resources"].append({
            "urn": "urn:pulumi:prod::regionflow-pipeline::aws:iam/policy:Policy::seeded",
            "type": "aws:iam/policy:Policy", "name": "seeded", "custom": True, "provider": None, "id": arn,
            "inputs": {},
            "outputs": {"arn": arn, "policy": "{}", "tagsAll": {"Owner": "x"}, "region": "us-east-1"},
        })  # fmt: skip
        policies = stack_resources(documents, "regionflow-pipeline", "aws:iam/policy:Policy")
    arn = arn_of(policies[0])
    control, seeded = pair_without(documents, role, ["iam:TagPolicy"])
    add_statement(control, role, grant("iam:TagPolicy", arn))

    new = new_findings(control, seeded)

    assert {(f.action, f.resource) for f in new} == {("iam:TagPolicy", arn)}


# --- issue 10, item 7: the state backend out of the deploy roles' reach ---------------------------


def state_bucket(documents: list[dict[str, Any]]) -> str:
    for project in resources(documents, PROJECT_TYPE):
        for variable in project["outputs"]["environment"].get("environmentVariables") or []:
            if variable["name"] == "PULUMI_BACKEND_URL":
                return str(variable["value"]).split("//", 1)[1].split("?", 1)[0]
    raise AssertionError("no backend")


def test_a_deploy_role_that_can_write_every_stacks_state_is_in_excess(repo_documents: list[dict[str, Any]]) -> None:
    role = deploy_role(repo_documents, PRIMARY)
    bucket = state_bucket(repo_documents)
    control, seeded = pair_without(repo_documents, role, ["s3:PutObject", "s3:DeleteObject"])
    own = [f"arn:aws:s3:::{bucket}/.pulumi/{p}" for p in (
        "stacks/regionflow-primary/prod.json*", "history/regionflow-primary/prod/*",
        "backups/regionflow-primary/prod/*", "locks/organization/regionflow-primary/prod/*")]  # fmt: skip
    add_statement(control, role, grant(["s3:PutObject", "s3:DeleteObject"], own))
    add_statement(seeded, role, grant(["s3:PutObject", "s3:DeleteObject"], f"arn:aws:s3:::{bucket}/.pulumi/*"))

    new = new_findings(control, seeded)

    others = {f"arn:aws:s3:::{bucket}/.pulumi/stacks/{d['project']}/{d['stack']}.json" for d in repo_documents
              if (d["project"], d["stack"]) != ("regionflow-primary", "prod")}  # fmt: skip
    assert {(f.kind, f.action, f.resource) for f in new} >= {("excess", "s3:DeleteObject", o) for o in others}
    pipeline_state = f"arn:aws:s3:::{bucket}/.pulumi/stacks/regionflow-pipeline/prod.json"
    assert any(f.resource == pipeline_state for f in new)
    assert all(f.kind == "excess" for f in new)


def test_a_bucket_grant_that_also_matches_the_state_bucket_is_in_excess(repo_documents: list[dict[str, Any]]) -> None:
    role = deploy_role(repo_documents, PRIMARY)
    (artifacts,) = stack_resources(repo_documents, "regionflow-primary", "aws:s3/bucket:Bucket")
    state = f"arn:aws:s3:::{state_bucket(repo_documents)}"
    prefix = arn_of(artifacts).rsplit("-artifacts-", 1)[0] + "-*"
    assert state.startswith(prefix[:-1])  # the artifact-bucket grant's pattern matches the state bucket
    control, seeded = pair_without(repo_documents, role, ["s3:PutBucketPolicy"])
    add_statement(control, role, grant("s3:PutBucketPolicy", arn_of(artifacts)))
    add_statement(seeded, role, grant("s3:PutBucketPolicy", prefix))

    (finding,) = new_findings(control, seeded)

    assert (finding.kind, finding.action, finding.resource) == ("excess", "s3:PutBucketPolicy", state)
    assert "only regionflow bootstrap manages" in finding.why


# --- issue 10, item 8: KMS key creation ---------------------------------------------------------


def test_create_key_sends_tags_which_need_tag_resource_on_every_key_of_the_region(
    repo_documents: list[dict[str, Any]],
) -> None:
    """With key creation in the deploy job (regionflow's scope.yaml takes it out, by design: see below)."""
    role = deploy_role(repo_documents, PRIMARY)
    (key,) = stack_resources(repo_documents, "regionflow-primary", "aws:kms/key:Key")
    region = arn_of(key).split(":")[3]
    every_key = f"arn:aws:kms:{region}:123456789012:key/*"
    control, seeded = pair_without(repo_documents, role, ["kms:TagResource"])
    in_region = {"StringEquals": {"aws:RequestedRegion": region}}
    add_statement(control, role, grant("kms:TagResource", every_key, Condition=in_region))
    add_statement(seeded, role, grant("kms:TagResource", arn_of(key)))  # the existing key only

    (finding,) = new_findings(control, seeded, scope=[])

    assert (finding.action, finding.resource) == ("kms:TagResource", every_key)
    assert "CreateKey (Tags)" in finding.detail


def test_the_declared_scope_leaves_key_creation_out_of_every_pulumi_up_and_counts_it(
    repo_documents: list[dict[str, Any]],
) -> None:
    """scope.yaml records regionflow's decision that no pipeline role creates or deletes a KMS key."""
    from regionflow.iamcheck.scope import load_scope

    full = check(repo_documents, scope=[])
    scoped = check(repo_documents)
    exclusion = next(e for e in load_scope() if e.type == "aws:kms/key:Key")

    assert "docs/pipeline.md" in exclusion.reason
    assert scoped.excluded > 0 and full.excluded == 0
    created = {("kms:CreateKey", "*")} | {(f.action, f.resource) for f in full.findings if f.action == "kms:CreateKey"}
    assert not [f for f in scoped.findings if (f.action, f.resource) in created]
    assert scoped.needs < full.needs


def test_a_scope_entry_that_matches_nothing_is_reported(repo_documents: list[dict[str, Any]]) -> None:
    from regionflow.iamcheck.requirements import Phase
    from regionflow.iamcheck.scope import Exclusion

    stale = Exclusion("destroy", "aws:s3/bucket:Bucket", frozenset({Phase.DELETE}), "no job destroys a stack")
    result = check(repo_documents, scope=[stale])
    assert any("matched nothing" in note for note in result.notes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exclusions: [{job: up, type: aws:kms/key:Key, phases: [create]}]", "'reason' is required"),
        (
            "exclusions: [{job: deploy, type: aws:kms/key:Key, phases: [create], reason: a documented decision here}]",
            "job 'deploy'",
        ),
        (
            "exclusions: [{job: up, type: aws:kms/key:Nope, phases: [create], reason: a documented decision here}]",
            "not in the provider table",
        ),
        (
            "exclusions: [{job: up, type: aws:kms/key:Key, phases: [make], reason: a documented decision here}]",
            "phases must be",
        ),
        ("nothing: here", "'exclusions:' list"),
    ],
)
def test_a_malformed_scope_file_is_one_line_and_exit_2(tmp_path: Path, text: str, message: str) -> None:
    scope = tmp_path / "scope.yaml"
    scope.write_text(text)
    out = io.StringIO()
    code = main(["iam-check", "--manifests", str(tmp_path), "--scope", str(scope)], stdout=out)
    # The manifests are read first; give it some so that the scope file is what fails.
    assert code == 2
    assert out.getvalue().count("\n") == 1


# --- what the check cannot decide, it says --------------------------------------------------------


def test_a_grant_under_a_condition_the_check_cannot_evaluate_is_reported_unevaluated(
    repo_documents: list[dict[str, Any]],
) -> None:
    role = deploy_role(repo_documents, PRIMARY)
    (bucket,) = stack_resources(repo_documents, "regionflow-primary", "aws:s3/bucket:Bucket")
    control, seeded = pair_without(repo_documents, role, ["s3:GetReplicationConfiguration"])
    add_statement(control, role, grant("s3:GetReplicationConfiguration", arn_of(bucket)))
    conditional = {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}
    add_statement(seeded, role, grant("s3:GetReplicationConfiguration", arn_of(bucket), Condition=conditional))

    (finding,) = new_findings(control, seeded)

    assert finding.kind == "unevaluated"
    assert "aws:SourceIp" in finding.reason


def test_a_boundary_that_is_neither_in_the_manifests_nor_known_to_a_resolver_is_unevaluated(
    repo_documents: list[dict[str, Any]],
) -> None:
    role = deploy_role(repo_documents, PRIMARY)
    documents = copy.deepcopy(repo_documents)
    set_boundary(documents, role, "arn:aws:iam::123456789012:policy/made-by-bootstrap")

    result = check(documents)

    mine = [f for f in result.findings if f.role == role]
    # What the role's own policies allow can no longer be proven; what they deny stays missing.
    assert any(f.kind == "unevaluated" and "boundary unknown" in f.reason for f in mine)
    assert not any(f.kind == "missing" and "boundary" in f.reason for f in mine)
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    resolved = check(
        documents, boundary_resolver=lambda arn, _m: everything if arn.endswith("made-by-bootstrap") else None
    )
    assert not any("boundary unknown" in f.reason for f in resolved.findings)


def test_the_boundary_resolver_of_regionflow_boundary_is_wired_in_when_it_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys
    import types

    from regionflow.iamcheck.check import default_boundary_resolver

    module = types.ModuleType("regionflow.boundary")
    document = {"Version": "2012-10-17", "Statement": []}
    module.iamcheck_resolver = lambda arn, manifests: document  # type: ignore[attr-defined]
    import regionflow

    monkeypatch.setitem(sys.modules, "regionflow.boundary", module)
    monkeypatch.setattr(regionflow, "boundary", module, raising=False)
    resolver = default_boundary_resolver()
    assert resolver is not None
    assert resolver("arn:aws:iam::1:policy/b", None) is document  # type: ignore[arg-type]


def test_without_its_own_hook_regionflow_boundary_builds_the_document_bootstrap_writes() -> None:
    from regionflow import boundary
    from regionflow.iamcheck.check import default_boundary_resolver

    resolver = default_boundary_resolver()
    assert resolver is not None
    arn = boundary.boundary_arn("123456789012", "rflow", "prod")
    assert resolver(arn, None) == json.loads(boundary.boundary_document("123456789012", "rflow", "prod"))  # type: ignore[arg-type]
    assert resolver("arn:aws:iam::123456789012:policy/someone-elses", None) is None  # type: ignore[arg-type]


def test_boundary_files_from_the_command_line(repo_documents: list[dict[str, Any]], tmp_path: Path) -> None:
    role = deploy_role(repo_documents, PRIMARY)
    documents = copy.deepcopy(repo_documents)
    boundary = "arn:aws:iam::123456789012:policy/made-by-bootstrap"
    set_boundary(documents, role, boundary)
    folder = tmp_path / "manifests"
    folder.mkdir()
    for document in documents:
        (folder / f"{document['project']}.{document['stack']}.json").write_text(json.dumps(document))
    nothing = tmp_path / "nothing.json"
    nothing.write_text(json.dumps({"Version": "2012-10-17", "Statement": []}))

    out = io.StringIO()
    main(["iam-check", "--manifests", str(folder), "--root", str(REPO_ROOT), "--no-slack",
          "--boundary", f"{boundary}={nothing}"], stdout=out)  # fmt: skip

    text = out.getvalue()
    assert "boundary unknown" not in text
    assert f"missing: {role}: s3:GetReplicationConfiguration" in text
    assert f"the permissions boundary {boundary} does not allow it" in text


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["iam-check", "--manifests", str(tmp_path / "none")], stdout=out) == 2
    assert out.getvalue().count("\n") == 1 and "run `regionflow preview" in out.getvalue()
    out = io.StringIO()
    assert main(["iam-check", "--manifests", str(tmp_path), "--boundary", "not-an-arn"], stdout=out) == 2
    assert "ARN=FILE" in out.getvalue()


def test_a_role_trusted_by_github_oidc_is_judged_as_the_pull_request_preview_of_every_stack(
    repo_documents: list[dict[str, Any]],
) -> None:
    from regionflow.iamcheck.jobs import JobBuilder, pipeline_backend
    from regionflow.iamcheck.model import Manifests

    documents = copy.deepcopy(repo_documents)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
            "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/regionflow:*"}},
        }],
    }  # fmt: skip
    arn = "arn:aws:iam::123456789012:role/rflow-prod-use1-pr-preview"
    pipeline = next(d for d in documents if d["project"] == "regionflow-pipeline")
    outputs = {"name": "rflow-prod-use1-pr-preview", "arn": arn, "assumeRolePolicy": json.dumps(trust)}
    pipeline["resources"].append({
        "urn": "urn:pulumi:prod::regionflow-pipeline::aws:iam/role:Role::pr-preview", "type": "aws:iam/role:Role",
        "name": "pr-preview", "custom": True, "provider": None, "id": "rflow-prod-use1-pr-preview",
        "inputs": {}, "outputs": outputs,
    })  # fmt: skip
    manifests = Manifests((None, d) for d in documents)
    builder = JobBuilder(manifests, root=REPO_ROOT, backend=pipeline_backend(manifests, REPO_ROOT))

    (job,) = builder.jobs_of(manifests.roles[arn])

    assert job.label.startswith("the pull-request workflow")
    read = {n.resource for n in job.needs if n.action == "s3:GetObject"}
    bucket = state_bucket(documents)
    for document in documents:
        assert f"arn:aws:s3:::{bucket}/.pulumi/stacks/{document['project']}/{document['stack']}.json" in read
    # The workflow previews with `refresh: true`: it reads state, decrypts secrets and reads the live resources,
    # but neither locks nor writes (a preview takes no lock in the self-managed backend).
    assert "refresh: true" in (REPO_ROOT / ".github" / "workflows" / "preview.yml").read_text()
    assert not [n for n in job.needs if n.action in ("s3:PutObject", "s3:DeleteObject")]
    verbs = {re.sub(r"^[A-Za-z0-9-]+:([A-Z][a-z]+).*$", r"\1", n.action) for n in job.needs}
    assert verbs <= {"Get", "List", "Describe", "Batch", "Decrypt", "Head"}, verbs
    result = check(documents)
    assert any(f.role == "rflow-prod-use1-pr-preview" and f.action == "s3:GetObject" for f in result.findings)


def test_every_role_of_the_repository_has_a_job_and_nothing_is_left_unmodelled(
    repo_documents: list[dict[str, Any]],
) -> None:
    """Each resource type, call target, build script, CLI call and function handler of today's stacks is known,
    so a resource or role added without its requirements shows up here (as a ``note:``) first."""
    result = check(repo_documents)
    assert result.notes == []
    assert not [f for f in result.findings if f.kind == "unevaluated"]
    # Every role of the stacks, and the pull-request role `regionflow bootstrap` makes (in no manifest).
    assert {job.role.name for job in result.jobs} == {
        r["outputs"]["name"] for r in resources(repo_documents, "aws:iam/role:Role")
    } | {"rflow-prod-github-preview"}


def test_the_pull_request_role_bootstrap_makes_is_judged_with_its_key_reads_by_tags_and_aliases(
    repo_documents: list[dict[str, Any]],
) -> None:
    """`regionflow bootstrap --github-repository` makes the preview role with boto3, so no manifest holds it;
    iam-check judges it from regionflow.bootstrap_iam's documents. Its KMS reads are attribute-based (the
    keys do not exist at bootstrap): a key without the family's alias is out of its reach (KMS developer
    guide, "Use aliases to control access to KMS keys")."""
    result = check(repo_documents)
    jobs = [job for job in result.jobs if job.role.name == "rflow-prod-github-preview"]
    assert [job.label.split(" (")[0] for job in jobs] == ["the pull-request workflow"]
    assert not [f for f in result.findings if f.role == "rflow-prod-github-preview"]
    key_reads = [n for n in jobs[0].needs if n.action == "kms:DescribeKey"]
    assert len(key_reads) == len(resources(repo_documents, "aws:kms/key:Key"))

    without_alias = copy.deepcopy(repo_documents)
    for document in without_alias:
        document["resources"] = [r for r in document["resources"] if r["type"] != "aws:kms/alias:Alias"]
    findings = [f for f in check(without_alias).findings if f.role == "rflow-prod-github-preview"]
    assert {f.action for f in findings} >= {"kms:DescribeKey", "kms:GetKeyPolicy"}
    assert all(f.resource.startswith("arn:aws:kms:") for f in findings)


def test_account_awareness_leaves_the_single_account_report_unchanged(repo_documents: list[dict[str, Any]]) -> None:
    """``fixtures/single-account-report.txt`` is `regionflow iam-check`'s whole report (timing cut) on the repository's
    manifests, first made at bb03e74 before the check learnt accounts (14 roles, 1734 required permissions, all
    allowed, 177 granted but never required) and regenerated since only for intended role changes (the drift
    build's ListPipelineExecutions). Every role of the repository is in one account, so per-account evaluation
    must print exactly that. Regenerate it (`regionflow preview --out D && regionflow iam-check --manifests D`) only for
    an intended change of the stacks' roles."""
    from regionflow.iamcheck.check import print_report

    out = io.StringIO()
    print_report(check(repo_documents), out)
    report = re.sub(r" \([0-9.]+ s\)$", "", out.getvalue().rstrip("\n"), flags=re.MULTILINE)
    expected = (Path(__file__).parent / "fixtures" / "single-account-report.txt").read_text().rstrip("\n")
    assert report.splitlines()[-1] == expected.splitlines()[-1]
    assert report == expected
