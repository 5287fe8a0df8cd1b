"""The provider table applied to the manifests: one resource and phase -> the :class:`Need` list."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from regionflow.iamcheck.model import IAM_REGION, Manifests, Resource, Role
from regionflow.iamcheck.needs import ContextSpec, Need, build_context
from regionflow.iamcheck.requirements import (
    NO_AWS_CALLS_PREFIXES,
    SPECS,
    TAGGED,
    Call,
    Phase,
    ResourceSpec,
    Target,
)

CONNECTION_AUTH_TYPES = ("CODECONNECTIONS", "CODESTAR_CONNECTIONS")


@dataclass(frozen=True)
class UnknownType:
    """A resource type the table has no entry for: nothing can be proven about it."""

    type: str
    resource: str  # its label


@dataclass(frozen=True)
class UnresolvedTarget:
    """A call whose resource the check cannot name from the manifests: reported, never skipped silently."""

    resource: str  # the resource's label
    call: str


def _arn_service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else ""


def own_arn(resource: Resource, spec: ResourceSpec) -> str | None:
    if spec.arn_from:
        value = resource.get(spec.arn_from)
        if isinstance(value, str) and value.startswith("arn:"):
            return value
    return None


def _role_arn_by_name(manifests: Manifests, name: str, account: str) -> str:
    """A role named by a resource of ``account``'s stack: a role of that account (IAM names are per account)."""
    if name.startswith("arn:"):
        return name
    for role in manifests.roles.values():
        if role.name == name and role.account == account:
            return role.arn
    return f"arn:aws:iam::{account}:role/{name}"


def function_arn(manifests: Manifests, reference: str, region: str, account: str | None = None) -> str:
    """A function named in ``account`` (default: the pipeline's) and ``region``, as its ARN."""
    if reference.startswith("arn:"):
        return reference
    account = account or manifests.account
    for function in manifests.of_type("aws:lambda/function:Function"):
        if function.get("name") == reference and function.region == region and function.stack.account == account:
            return str(function.get("arn"))
    return f"arn:aws:lambda:{region}:{account}:function:{reference}"


def connection_arns(resource: Resource) -> list[str]:
    """The connections a resource uses: a CodeBuild source's auth, or a pipeline's source actions."""
    found: list[str] = []
    if resource.type == "aws:codebuild/project:Project":
        sources = [resource.get("source") or {}, *(resource.get("secondarySources") or [])]
        for source in sources:
            auth = source.get("auth") or {} if isinstance(source, dict) else {}
            if str(auth.get("type", "")).upper() in CONNECTION_AUTH_TYPES and auth.get("resource"):
                found.append(str(auth["resource"]))
    elif resource.type == "aws:codepipeline/pipeline:Pipeline":
        for stage in resource.get("stages") or []:
            for action in stage.get("actions") or []:
                arn = (action.get("configuration") or {}).get("ConnectionArn")
                if arn:
                    found.append(str(arn))
    elif resource.type == "aws:codestarconnections/connection:Connection":
        arn = resource.get("arn")
        if arn:
            found.append(str(arn))
    return list(dict.fromkeys(found))


def targets(call: Call, resource: Resource, spec: ResourceSpec, manifests: Manifests) -> list[str]:
    """The ARN(s) a call is authorized against."""
    region = resource.region
    account = resource.stack.account  # a stack's provider acts in its own account
    target = call.target
    if target is Target.STAR:
        return ["*"]
    if target is Target.SELF:
        if resource.type == "aws:codestarconnections/connection:Connection":
            return connection_arns(resource)
        arn = own_arn(resource, spec)
        return [arn] if arn else []
    if target is Target.BUCKET:
        bucket = resource.get("bucket")
        return [f"arn:aws:s3:::{bucket}"] if bucket else []
    if target is Target.ROLE:
        name = resource.get("role")
        return [_role_arn_by_name(manifests, str(name), account)] if name else []
    if target is Target.POLICY:
        arn = resource.get("policyArn")
        return [str(arn)] if arn else []
    if target is Target.FUNCTION:
        # aws.lambda_.Permission names it `function`; the event invoke config `functionName`.
        name = resource.get("functionName") or resource.get("function")
        return [function_arn(manifests, str(name), region, account)] if name else []
    if target is Target.TOPIC:
        arn = resource.get("topic") or resource.get("arn")
        return [str(arn)] if arn else []
    if target is Target.QUEUE:
        url = resource.get("queueUrl")
        arn = manifests.queue_arn_from_url(str(url)) if url else None
        return [arn] if arn else []
    if target is Target.RULE:
        rule = resource.get("rule")
        bus = resource.get("eventBusName") or "default"
        if not rule:
            return []
        path = f"rule/{rule}" if bus == "default" else f"rule/{bus}/{rule}"
        return [f"arn:aws:events:{region}:{account}:{path}"]
    if target is Target.ALIAS_KEY:
        reference = resource.get("targetKeyArn") or resource.get("targetKeyId")
        arn = manifests.key_arn(str(reference), region, account) if reference else None
        return [arn] if arn else []
    if target is Target.KEY:
        reference = resource.get(call.key_input or "")
        arn = manifests.key_arn(str(reference), region, account) if reference else None
        return [arn] if arn else []
    if target is Target.KEYS_IN_REGION:
        return [f"arn:aws:kms:{region}:{account}:key/*"]
    if target is Target.PASSED_ROLE:
        value = resource.get(call.role_input or "")
        return [_role_arn_by_name(manifests, str(value), account)] if value else []
    if target is Target.LAYERS:
        return [str(layer) for layer in resource.get("layers") or []]
    if target is Target.CONNECTION:
        return connection_arns(resource)
    return []  # pragma: no cover - every Target is handled above


def _applies(call: Call, resource: Resource) -> bool:
    if call.when is None:
        return True
    if call.when == TAGGED:
        return bool(resource.tags)
    if call.when.startswith("input:"):
        # "input:a|b": when any of the inputs is set.
        return any(resource.get(path) not in (None, False, "", [], {}) for path in call.when[6:].split("|"))
    return True


def _region_for(action: str, resource: Resource) -> str:
    return IAM_REGION if action.startswith("iam:") else resource.region


def _tags_of_arn(manifests: Manifests, arn: str) -> dict[str, str] | None:
    found = manifests.by_arn.get(arn)
    return found.tags if found is not None else None


def _boundary_of(manifests: Manifests, role_arn: str) -> str | None:
    role = manifests.roles.get(role_arn)
    return role.boundary_arn if role is not None else None


def resource_needs(
    role: Role,
    resource: Resource,
    phases: Iterable[Phase],
    manifests: Manifests,
    job: str,
) -> Iterator[Need | UnknownType | UnresolvedTarget]:
    """Every permission the given phases of ``resource`` need, as ``role``, for ``job``."""
    if resource.type.startswith(NO_AWS_CALLS_PREFIXES) or not resource.custom:
        return
    spec = SPECS.get(resource.type)
    if spec is None:
        yield UnknownType(resource.type, resource.label)
        return
    for phase in phases:
        for call in spec.calls(phase):
            if not _applies(call, resource):
                continue
            found = targets(call, resource, spec, manifests)
            if not found and call.target is not Target.CONNECTION:  # most projects use no connection
                yield UnresolvedTarget(resource.label, f"{phase.value} {call.sdk} ({call.target.value})")
            for arn in found:
                yield from _call_needs(role, resource, spec, phase, call, arn, manifests, job)


def _call_needs(
    role: Role,
    resource: Resource,
    spec: ResourceSpec,
    phase: Phase,
    call: Call,
    arn: str,
    manifests: Manifests,
    job: str,
) -> Iterator[Need]:
    existing = phase is not Phase.CREATE or call.target not in (Target.SELF, Target.KEYS_IN_REGION)
    own = own_arn(resource, spec)
    # The connections prefix of an action follows the connection's ARN (AWS CodeConnections, "Rename").
    connections = connection_arns(resource) if any("{conn}" in a for a in call.actions) else []
    prefix = _arn_service(arn) if arn.startswith("arn:") else _arn_service(connections[0]) if connections else ""
    for template in call.actions:
        action = template.replace("{conn}", prefix or "codestar-connections")
        if call.target is Target.SELF or arn == own:
            resource_tags = resource.tags if existing else None
        else:
            resource_tags = _tags_of_arn(manifests, arn)
        target_boundary = None
        if action.startswith("iam:") and ":role/" in arn and action.lower() != "iam:passrole":
            target_boundary = resource.get("permissionsBoundary") if arn == own else _boundary_of(manifests, arn)
        spec_context = ContextSpec(
            region=_region_for(action, resource),
            resource_tags=resource_tags,
            request_tags=resource.tags if call.tag_request and resource.tags else None,
            via=call.via,
            passed_to=call.passed_to,
            grant_for_aws_resource=call.grant_for_aws_resource,
            target_boundary=str(target_boundary) if target_boundary else None,
            resource_aliases=(
                manifests.aliases_of_key(arn) if action.startswith("kms:") and resource_tags is not None else None
            ),
        )
        yield Need(
            role=role.arn,
            action=action,
            resource=arn,
            context=build_context(role.arn, role.account, role.tags, action, spec_context),
            why=f"the {phase.value} of {resource.type} {resource.name} ({resource.stack.label}) in {job}",
            detail=f"{call.sdk}, {spec.source}" + (f"; {call.note}" if call.note else ""),
            uncertain=call.uncertain,
            resource_policy="none" if call.no_resource_policy else "auto",
        )
