"""Jobs from the build's own commands: the repository scripts a buildspec runs, and their shell variables."""

from __future__ import annotations

import copy
from typing import Any

from iamcheck_support import REPO_ROOT, deploy_role

from regionflow.iamcheck.jobs import JobBuilder, expand, pipeline_backend, pulumi_kind, script_variables
from regionflow.iamcheck.model import Manifests

URL = "s3://rflow-prod-use1-pulumi-state-123456789012?region=us-east-1&awssdk=v2"


def test_the_bash_expansions_build_scripts_use() -> None:
    script = """
bucket="${PULUMI_BACKEND_URL#s3://}"
bucket="${bucket%%\\?*}"
backend_region="${PULUMI_BACKEND_URL#*region=}"
backend_region="${backend_region%%&*}"
lock_prefix=".pulumi/locks/${STACK_NAME}/"
topic_region="$(echo "${DRIFT_TOPIC_ARN}" | cut -d: -f4)"
"""
    variables = script_variables(script, {"PULUMI_BACKEND_URL": URL, "STACK_NAME": "organization/p/s"})
    assert variables["bucket"] == "rflow-prod-use1-pulumi-state-123456789012"
    assert variables["backend_region"] == "us-east-1"
    assert variables["lock_prefix"] == ".pulumi/locks/organization/p/s/"
    assert "topic_region" not in variables  # a command substitution is never guessed
    assert expand("${UNSET:-fallback}", {}) == "fallback"
    assert expand("${UNSET}", {}) is None


def test_the_strongest_pulumi_command_is_the_job() -> None:
    assert pulumi_kind("pulumi preview --expect-no-changes\npulumi up --yes")[0] == "up"
    assert pulumi_kind("pulumi preview --cwd x --refresh --expect-no-changes")[0] == "preview-refresh"
    assert pulumi_kind("pulumi refresh --preview-only")[0] == "preview-refresh"
    assert pulumi_kind("pulumi refresh --yes")[0] == "refresh"
    assert pulumi_kind("pulumi stack select x")[0] is None


def test_a_deploy_job_is_read_through_the_scripts_its_buildspec_runs(repo_documents: list[dict[str, Any]]) -> None:
    role_name = deploy_role(repo_documents, "organization/regionflow-primary/prod")
    manifests = Manifests((None, d) for d in copy.deepcopy(repo_documents))
    (role,) = [r for r in manifests.roles.values() if r.name == role_name]

    with_root = JobBuilder(manifests, root=REPO_ROOT, backend=pipeline_backend(manifests, REPO_ROOT)).jobs_of(role)
    without_root = JobBuilder(manifests, root=None, backend=pipeline_backend(manifests, None)).jobs_of(role)

    (job,) = with_root
    assert "pulumi up of regionflow-primary/prod" in job.label
    assert not job.unknown
    # The script's lock wait lists the stack's own lock folder in the state bucket.
    (listing,) = [n for n in job.needs if n.action == "s3:ListBucket" and "list-objects-v2" in n.why]
    assert listing.context.lookup("s3:prefix") == (".pulumi/locks/organization/regionflow-primary/prod/",)
    (blind,) = without_root
    assert any("pass --root" in note for note in blind.unknown)
