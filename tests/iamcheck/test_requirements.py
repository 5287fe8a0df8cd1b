"""The provider table and every permission the check derives: real IAM actions, on ARNs of the right type.

parliament ships a copy of the Service Authorization Reference (SAR); an action that is not in it, or
that is requested on an ARN that is none of the action's resource types, is a mistake in the table.
"""

from __future__ import annotations

import copy
import re
import warnings
from functools import cache
from typing import Any

import pytest
from iamcheck_support import REPO_ROOT

from regionflow.iamcheck.backend import BackendNeeds
from regionflow.iamcheck.jobs import CLI_CALLS, CODE_PROFILES, JobBuilder, pipeline_backend
from regionflow.iamcheck.model import Manifests
from regionflow.iamcheck.requirements import ALL_PHASES, SOURCES_READ, SPECS, Target
from regionflow.tagging import TAGGABLE_TYPES, UNTAGGABLE_TYPES

CONNECTION_PREFIXES = ("codestar-connections", "codeconnections")


@cache
def sar() -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import parliament
    return {service["prefix"]: service for service in parliament.iam_definition}


def privilege(action: str) -> dict[str, Any] | None:
    prefix, name = action.split(":", 1)
    service = sar().get(prefix)
    if service is None:
        return None
    for entry in service["privileges"]:
        if entry["privilege"].lower() == name.lower():
            found: dict[str, Any] = entry
            return found
    return None


def arn_formats(action: str) -> list[re.Pattern[str]]:
    """The ARN formats of the action's resource types, as regular expressions (empty: no resource type)."""
    prefix = action.split(":", 1)[0]
    entry = privilege(action)
    assert entry is not None
    resources = {r["resource"].lower(): r["arn"] for r in sar()[prefix]["resources"]}
    formats: list[re.Pattern[str]] = []
    for resource_type in entry["resource_types"]:
        name = resource_type["resource_type"].rstrip("*").lower()
        if not name:
            continue
        template = resources[name]
        regex = ""
        for piece in re.split(r"(\$\{[^}]+\})", template):
            if piece in ("${Partition}",):
                regex += "aws"
            elif piece == "${Region}":
                regex += "[a-z0-9-]*"
            elif piece == "${Account}":
                regex += r"(\d{12})?"
            elif piece.startswith("${"):
                regex += ".+"
            else:
                regex += re.escape(piece)
        formats.append(re.compile(regex))
    return formats


def table_actions() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for spec in SPECS.values():
        for phase in ALL_PHASES:
            for call in spec.calls(phase):
                for action in call.actions:
                    prefixes = CONNECTION_PREFIXES if "{conn}" in action else ("",)
                    for prefix in prefixes:
                        found.append((f"{spec.type} {phase.value} {call.sdk}", action.replace("{conn}", prefix)))
    for handler, profile in CODE_PROFILES.items():
        found.extend((handler, action) for actions, _, _ in profile.calls for action in actions)
    found.extend((f"aws {s} {o}", entry[0]) for (s, o), entry in CLI_CALLS.items())
    return found


@pytest.mark.parametrize(("where", "action"), table_actions())
def test_every_action_of_the_table_is_in_the_service_authorization_reference(where: str, action: str) -> None:
    assert privilege(action) is not None, f"{where}: {action} is not an IAM action (parliament's SAR data)"


def test_the_table_covers_exactly_the_types_regionflow_creates() -> None:
    """Every type in regionflow.tagging's lists has an entry; a type without one could never be proven."""
    assert set(SPECS) == set(TAGGABLE_TYPES | UNTAGGABLE_TYPES)


def test_every_entry_names_its_provider_source_and_uncertain_entries_say_why() -> None:
    for spec in SPECS.values():
        assert spec.source.startswith("internal/service/") and spec.source.endswith(".go"), spec.type
        for phase in ALL_PHASES:
            for call in spec.calls(phase):
                assert call.sdk and call.actions, spec.type
                if call.uncertain is not None:
                    assert len(call.uncertain) > 20, f"{spec.type} {call.sdk}: say why it is uncertain"
                if call.target is Target.PASSED_ROLE:
                    assert call.role_input and call.passed_to, f"{spec.type} {call.sdk}"
                if call.target is Target.KEY:
                    assert call.key_input, f"{spec.type} {call.sdk}"
    assert set(SOURCES_READ) <= {spec.source for spec in SPECS.values()}
    assert all(re.fullmatch(r"[0-9a-f]{40}", commit) for commit in SOURCES_READ.values())


def test_the_bucket_read_includes_the_calls_that_are_easy_to_miss() -> None:
    read = {a for call in SPECS["aws:s3/bucket:Bucket"].read for a in call.actions}
    assert {
        "s3:GetAccelerateConfiguration",
        "s3:GetReplicationConfiguration",
        "s3:GetBucketRequestPayment",
        "s3:GetBucketLogging",
        "s3:GetBucketWebsite",
        "s3:GetBucketCORS",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketTagging",
    } <= read


def test_tags_on_create_are_asked_for_every_taggable_type_that_authorizes_them() -> None:
    # CodeBuild authorizes a project's tags with CreateProject itself (the SAR has no codebuild tag action).
    for resource_type in TAGGABLE_TYPES - {"aws:codebuild/project:Project"}:
        create = SPECS[resource_type].create
        assert any(call.when == "tagged" for call in create), f"{resource_type}: no tag-on-create call"


def all_needs(documents: list[dict[str, Any]]) -> list[Any]:
    manifests = Manifests((None, d) for d in copy.deepcopy(documents))
    backend = pipeline_backend(manifests, REPO_ROOT)
    builder = JobBuilder(manifests, root=REPO_ROOT, backend=backend)
    needs = [need for job in builder.jobs() for need in job.needs]
    for role in manifests.roles.values():
        needs.extend(builder.prohibitions(role, set(), "a job"))
    assert backend is not None
    role = next(iter(manifests.roles.values()))
    extra = BackendNeeds(backend, role, manifests, "test")
    needs.extend([*extra.lock("p", "s"), *extra.write_stack("p", "s")])
    return needs


def test_every_permission_derived_from_the_manifests_is_an_action_on_a_resource_of_its_type(
    repo_documents: list[dict[str, Any]],
) -> None:
    needs = all_needs(repo_documents)
    assert len(needs) > 1000
    wrong: list[str] = []
    for need in needs:
        if privilege(need.action) is None:
            wrong.append(f"{need.action} is not an IAM action ({need.why})")
            continue
        formats = arn_formats(need.action)
        if not formats:
            if need.resource != "*":
                wrong.append(f"{need.action} has no resource type, so it is requested on '*', not {need.resource}")
        elif not any(f.fullmatch(need.resource) for f in formats):
            wrong.append(f"{need.action} on {need.resource} is none of its SAR resource types ({need.why})")
    assert not wrong, "\n".join(sorted(set(wrong)))
