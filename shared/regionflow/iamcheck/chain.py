"""The chain of role assumptions into a region owner's account, judged with AWS's evaluation logic.

For every region of the manifests' pipeline that lives in another account (regionflow.accounts), each link:

1. the pipeline account's role (the deploy build, the Preview and drift builds, the pipeline role, and the
   pull-request preview role ``regionflow bootstrap --github-repository`` makes, when it is judged) may call
   ``sts:AssumeRole`` on the target role: its inline policy and the pipeline account's boundary both allow it;
2. the target role's trust (as ``regionflow bootstrap --target`` writes it) admits that role, with
   ``aws:PrincipalArn`` = the role, and admits no other role of the pipeline account;
3. the target deploy role, under the target account's boundary, allows every action a same-account deploy
   build is granted for the region's stack (permissions.regional_deploy_statements), on the region's resources;
4. the artifact bucket and key in the target account admit the pipeline role and the deploy build
   (cross-account: the other account's identity policy *and* the resource policy must allow; IAM user guide,
   "Cross-account policy evaluation logic").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from regionflow.accounts import TARGET_DEPLOY_PURPOSE, TARGET_INVOKE_PURPOSE, read_role_arn, target_role_arn
from regionflow.iamcheck.evaluate import (
    Boundary,
    CompiledPolicy,
    Outcome,
    Request,
    RequestContext,
    Tri,
    _scan,
    compile_document,
    decide,
)


@dataclass(frozen=True)
class Link:
    what: str
    principal: str
    action: str
    resource: str
    allowed: bool
    reason: str = ""

    def line(self) -> str:
        verdict = "ok" if self.allowed else "broken"
        tail = f": {self.reason}" if self.reason and not self.allowed else ""
        return f"chain {verdict}: {self.what}: {self.principal} {self.action} on {self.resource}{tail}"


def _compiled(label: str, documents: Iterable[str | Mapping[str, Any]]) -> CompiledPolicy:
    statements = []
    for document in documents:
        parsed = json.loads(document) if isinstance(document, str) else document
        statements.extend(compile_document(label, parsed))
    return CompiledPolicy(statements)


def _account(arn: str) -> str:
    return arn.split(":")[4]


def _context(principal: str, extra: Mapping[str, tuple[str, ...]] | None = None) -> RequestContext:
    values = {"aws:PrincipalArn": (principal,), "aws:PrincipalAccount": (_account(principal),), **(extra or {})}
    return RequestContext(values=values, known=frozenset({"aws:SourceAccount", "aws:SourceArn"}))


def identity_allows(principal: str, policies: list[str], boundary: str, action: str, resource: str) -> Link:
    request = Request(principal, _account(principal), action, resource, _context(principal))
    decision = decide(
        request, _compiled(principal, policies), boundary=Boundary("boundary", _compiled("boundary", [boundary]))
    )
    return Link("identity", principal, action, resource, decision.outcome is Outcome.ALLOWED, decision.reason)


def resource_admits(
    principal: str,
    label: str,
    policy: str,
    action: str,
    resource: str,
    extra: Mapping[str, tuple[str, ...]] | None = None,
) -> Link:
    """A resource policy of another account grants ``principal`` (through its account with aws:PrincipalArn)."""
    request = Request(principal, _account(principal), action, resource, _context(principal, extra))
    compiled = _compiled(label, [policy])
    deny = _scan(compiled, request, "Deny", resource_policy=True)
    allow = (
        _scan(compiled, request, "Allow", resource_policy=True, principal_kind="direct").value
        | _scan(compiled, request, "Allow", resource_policy=True, principal_kind="account").value
    )
    ok = allow is Tri.TRUE and deny.value is Tri.FALSE
    return Link(label, principal, action, resource, ok, "" if ok else f"{label} does not admit it")


def judge_target_region(
    *,
    pipeline_account: str,
    target_account: str,
    name_prefix: str,
    environment: str,
    home_region: str,
    region: str,
    pipeline_policies: Mapping[str, list[str]],
    bucket_arn: str,
    bucket_policy: str,
    key_arn: str,
    key_policy: str,
) -> list[Link]:
    """Every link for one target region. ``pipeline_policies``: role ARN -> its inline policy documents."""
    from regionflow.accounts import build_role_arn, github_preview_role_arn, pipeline_role_arn
    from regionflow.bootstrap_target import TargetRequest, role_specs
    from regionflow.boundary import boundary_document
    from regionflow.components.pipeline.permissions import regional_deploy_statements
    from regionflow.naming import Namer

    request = TargetRequest(region, name_prefix, environment, pipeline_account, home_region)
    specs = {spec.arn: spec for spec in role_specs(target_account, request)}
    pipeline_boundary = boundary_document(pipeline_account, name_prefix, environment)
    target_boundary = boundary_document(target_account, name_prefix, environment)
    deploy_build = build_role_arn(pipeline_account, name_prefix, environment, region, "deploy")
    pipeline_role = pipeline_role_arn(pipeline_account, name_prefix, environment, home_region)
    deploy_role = target_role_arn(target_account, name_prefix, environment, region, TARGET_DEPLOY_PURPOSE)
    invoke_role = target_role_arn(target_account, name_prefix, environment, region, TARGET_INVOKE_PURPOSE)
    read_role = read_role_arn(target_account, name_prefix, environment)
    links: list[Link] = []
    assumptions = [(deploy_build, deploy_role), (pipeline_role, invoke_role)]
    for reader in (
        build_role_arn(pipeline_account, name_prefix, environment, home_region, "preview"),
        build_role_arn(pipeline_account, name_prefix, environment, home_region, "drift"),
        github_preview_role_arn(pipeline_account, name_prefix, environment),
    ):
        if reader in pipeline_policies:
            assumptions.append((reader, read_role))
    for source, target in assumptions:
        link = identity_allows(source, pipeline_policies.get(source, []), pipeline_boundary, "sts:AssumeRole", target)
        links.append(Link("may assume", source, link.action, target, link.allowed, link.reason))
        links.append(resource_admits(source, f"trust of {target}", specs[target].trust, "sts:AssumeRole", target))
    # No other role of the pipeline account is admitted by the deploy role's trust (exact roles, not the root).
    stranger = build_role_arn(pipeline_account, name_prefix, environment, home_region, "build")
    admitted = resource_admits(
        stranger, f"trust of {deploy_role}", specs[deploy_role].trust, "sts:AssumeRole", deploy_role
    )
    links.append(Link("trust refuses other roles", stranger, "sts:AssumeRole", deploy_role, not admitted.allowed))
    # The deploy role under the target boundary: every (action, resource) a same-account deploy build holds.
    namer = Namer(name_prefix, environment, region)
    from regionflow.boundary import boundary_arn

    target_boundary_arn = boundary_arn(target_account, name_prefix, environment)
    needs = regional_deploy_statements(namer, target_account, key_arn, target_boundary_arn, home_region=False)
    deploy_policy = specs[deploy_role].policy
    alias = (f"alias/{namer.base}-artifacts",)
    for statement in needs:
        for action in statement.actions:
            for resource in statement.resources:
                concrete = str(resource).replace("*", "x")
                # The request as the provider sends it: the key's alias, and what the statement's own conditions ask
                # (the same-account grant describes the request: ViaService, GrantIsForAWSResource, the boundary).
                asked = {c.variable: (str(next(iter(c.values))),) for c in statement.conditions}
                context = _context(deploy_role, {"kms:ResourceAliases": alias, **asked})
                decision = decide(
                    Request(deploy_role, target_account, action, concrete, context),
                    _compiled(deploy_role, [deploy_policy]),
                    boundary=Boundary("target boundary", _compiled("target boundary", [target_boundary])),
                )
                if decision.outcome is not Outcome.ALLOWED or action == statement.actions[0]:
                    links.append(
                        Link(
                            "deploy role",
                            deploy_role,
                            action,
                            concrete,
                            decision.outcome is Outcome.ALLOWED,
                            decision.reason,
                        )
                    )
    # The artifact store admits the pipeline role and the deploy build, and each one's own policy allows it.
    for principal in (pipeline_role, deploy_build):
        for action, resource, label, policy in (
            ("s3:GetObject", f"{bucket_arn}/x", f"bucket policy of {bucket_arn}", bucket_policy),
            ("s3:PutObject", f"{bucket_arn}/x", f"bucket policy of {bucket_arn}", bucket_policy),
            ("kms:Decrypt", key_arn, f"key policy of {key_arn}", key_policy),
            ("kms:GenerateDataKey", key_arn, f"key policy of {key_arn}", key_policy),
        ):
            # An artifact upload as CodePipeline and CodeBuild make it: over TLS, SSE-KMS under the store's key.
            upload = {
                "aws:SecureTransport": ("true",),
                "s3:x-amz-server-side-encryption": ("aws:kms",),
                "s3:x-amz-server-side-encryption-aws-kms-key-id": (key_arn,),
            }
            links.append(resource_admits(principal, label, policy, action, resource, upload))
            if principal in pipeline_policies:
                own = identity_allows(principal, pipeline_policies[principal], pipeline_boundary, action, resource)
                links.append(Link("own policy", principal, action, resource, own.allowed, own.reason))
    return links
