"""The roles ``regionflow bootstrap --target`` makes in a region owner's account, as iam-check judges them.

No stack owns them (a region owner creates them with boto3 before the pipeline exists; docs/accounts.md), so no
manifest holds them. The pipeline's runners reach them through the profile ``regionflow-<account>``
(:class:`regionflow.iamcheck.jobs.Delegation`); for each such role ARN this module rebuilds the role exactly as
the target bootstrap would create it, from the same pure builders (:func:`regionflow.bootstrap_target.role_specs`):
its inline policy, its trust (the pipeline account's exact roles) and the target account's permissions boundary.
A role ARN that is not one the target bootstrap makes is kept with its policies unknown, so every decision about
it is reported as unevaluated, never passed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from regionflow.iamcheck.model import ROLE_TYPE, Manifests, Resource, Role, StackManifest

HOLDER_PROJECT = "regionflow-bootstrap-target"


def _holder(account: str) -> StackManifest:
    return StackManifest(HOLDER_PROJECT, account, {}, None, account=account)


def target_role(manifests: Manifests, arn: str) -> Role:
    """The role ``arn`` as ``regionflow bootstrap --target`` creates it in its account for the manifests' pipeline."""
    from regionflow.bootstrap_target import TargetRequest, role_specs, target_tags
    from regionflow.boundary import boundary_arn

    account = arn.split(":")[4]
    name = arn.rsplit("/", 1)[-1]
    pipeline = manifests.pipeline_stack()
    home = next((p.region for p in pipeline.of_type("aws:codepipeline/pipeline:Pipeline")), None) if pipeline else None
    for stack in manifests.stacks_in(account):
        region, prefix, environment = (stack.exports.get(k) for k in ("region", "namePrefix", "environment"))
        if not (isinstance(region, str) and isinstance(prefix, str) and isinstance(environment, str) and home):
            continue
        request = TargetRequest(region, prefix, environment, manifests.account, home)
        for spec in role_specs(account, request):
            if spec.arn != arn:
                continue
            tags = {t["Key"]: t["Value"] for t in target_tags(request, spec.what.replace(" ", "-"))}
            resource = Resource(
                stack=_holder(account),
                urn=f"bootstrap-target:{arn}",
                type=ROLE_TYPE,
                name=name,
                id=name,
                custom=True,
                inputs={},
                outputs={"arn": arn, "name": name, "tags": tags},
                region=region,
            )
            role = Role(arn=arn, name=name, resource=resource, boundary_arn=boundary_arn(account, prefix, environment))
            role.trust = json.loads(spec.trust)
            role.policies.append((f"{name} inline policy {spec.policy_name}", json.loads(spec.policy)))
            return role
    resource = Resource(_holder(account), f"unknown:{arn}", ROLE_TYPE, name, name, True, {}, {"arn": arn}, "")
    # Not one of the target bootstrap's roles: its policies, trust and boundary cannot be known.
    return Role(
        arn=arn,
        name=name,
        resource=resource,
        boundary_arn=None,
        unknown_policies=[f"{arn} (not a role `regionflow bootstrap --target` makes for this pipeline)"],
    )


def add_target_roles(manifests: Manifests, arns: Iterable[str]) -> list[Role]:
    """Add each role of another account a runner's profile assumes (and the manifests lack) to ``manifests.roles``."""
    added: list[Role] = []
    for arn in sorted(set(arns)):
        if arn in manifests.roles or not arn.startswith("arn:"):
            continue
        role = target_role(manifests, arn)
        manifests.roles[arn] = role
        added.append(role)
    return added
