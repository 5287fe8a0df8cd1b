"""A required permission (:class:`Need`) and the request context the check evaluates it with.

The request context is documented here because an honest check depends on it. For every call the
check knows these keys (present with a value, or known to be absent):

* ``aws:SecureTransport`` = ``true`` (every AWS SDK and the CLI call over TLS);
* ``aws:RequestedRegion`` = the call's Region (``us-east-1`` for IAM, whose endpoint lives there);
* ``aws:PrincipalArn``, ``aws:PrincipalAccount`` (the role's own account, from its ARN: a region's
  roles may live in another account than the pipeline's), ``aws:PrincipalType`` (``AssumedRole``) and
  ``aws:PrincipalTag/*`` from the role resource;
* ``aws:ViaAWSService`` (true when a service calls KMS on the caller's behalf, e.g. S3 for SSE-KMS);
* absent: ``aws:SourceAccount``, ``aws:SourceArn``, ``aws:SourceOwner`` (only service principals
  carry them) and ``aws:SourceVpc``/``aws:SourceVpce`` (no build project or function of regionflow
  runs in a VPC);
* ``aws:ResourceTag/*`` from the target resource's tags when it is a resource of the manifests
  that exists at the time of the call (not on create), ``aws:RequestTag/*`` and ``aws:TagKeys``
  from its tags on a tagging or create-with-tags call;
* KMS calls: ``kms:CallerAccount``, ``kms:ViaService`` (``<service>.<region>.amazonaws.com`` or
  absent), ``kms:GrantIsForAWSResource`` (true when a service creates the grant, else absent);
* IAM calls: ``iam:PassedToService`` (the service a role is passed to, else absent) and
  ``iam:PermissionsBoundary`` (the target role's boundary ARN, or absent when it has none);
* ``<connections prefix>:PassedToService`` on ``PassConnection``;
* S3 calls: ``s3:prefix``/``s3:delimiter`` of a list, and the ``s3:x-amz-server-side-encryption``
  headers of an upload, as the caller sends them (absent unless stated).

Any other key is unknown: a condition on it is reported as not evaluated, never assumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from regionflow.iamcheck.evaluate import RequestContext

GLOBAL_ABSENT = (
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceOwner",
    "aws:SourceVpc",
    "aws:SourceVpce",
    "aws:SourceOrgID",
)
S3_KEYS = (
    "s3:prefix",
    "s3:delimiter",
    "s3:x-amz-server-side-encryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
)


@dataclass(frozen=True)
class Need:
    """One (role, action, resource) that a role's job requires, and why."""

    role: str  # role ARN
    action: str
    resource: str  # an ARN, or "*" for an action without a resource type
    context: RequestContext
    why: str  # "the read of aws:s3/bucket:Bucket artifacts-bucket (regionflow-primary/prod)"
    detail: str = ""  # SDK call and source, e.g. "GetBucketAcl, internal/service/s3/bucket.go"
    uncertain: str | None = None
    resource_policy: str = "auto"  # "auto": the resource's own; "none": IAM policies alone decide
    # Why no policy can decide this need (e.g. a rule that reads an alarm of another account by name): reported
    # as unevaluated with this reason, never passed.
    unknowable: str = ""

    def key(self) -> tuple[Any, ...]:
        return (
            self.role,
            self.action.lower(),
            self.resource,
            self.context.fingerprint(),
            self.resource_policy,
            self.unknowable,
        )


@dataclass
class ContextSpec:
    """What the caller of one request knows about it; turned into a :class:`RequestContext`."""

    region: str
    resource_tags: Mapping[str, str] | None = None  # None: the resource does not exist (yet) or is not ours
    request_tags: Mapping[str, str] | None = None
    via: str | None = None  # service that calls KMS on the caller's behalf, e.g. "s3"
    passed_to: str | None = None
    grant_for_aws_resource: bool = False
    target_boundary: str | None = None  # iam:PermissionsBoundary of the role being acted on
    s3: Mapping[str, str] = field(default_factory=dict)
    # kms:ResourceAliases of an existing key: its aliases (KMS developer guide, "Use aliases to control access
    # to KMS keys"); None when the key does not exist yet or is not ours.
    resource_aliases: tuple[str, ...] | None = None


def build_context(
    role_arn: str, account: str, role_tags: Mapping[str, str], action: str, spec: ContextSpec
) -> RequestContext:
    """The request context of one call (cached: thousands of calls share a handful of contexts)."""
    service = action.split(":", 1)[0].lower()
    if service not in ("kms", "iam", "codestar-connections", "codeconnections", "s3"):
        service = "other"
    return _context(
        role_arn,
        account,
        tuple(sorted(role_tags.items())),
        service,
        spec.region,
        None if spec.resource_tags is None else tuple(sorted(spec.resource_tags.items())),
        tuple(spec.request_tags.items()) if spec.request_tags else None,
        spec.via,
        spec.passed_to,
        spec.grant_for_aws_resource,
        spec.target_boundary,
        tuple(sorted(spec.s3.items())),
        spec.resource_aliases,
    )


@lru_cache(maxsize=4096)
def _context(
    role_arn: str,
    account: str,
    role_tags: tuple[tuple[str, str], ...],
    service: str,
    region: str,
    resource_tags: tuple[tuple[str, str], ...] | None,
    request_tags: tuple[tuple[str, str], ...] | None,
    via: str | None,
    passed_to: str | None,
    grant_for_aws_resource: bool,
    target_boundary: str | None,
    s3: tuple[tuple[str, str], ...],
    resource_aliases: tuple[str, ...] | None = None,
) -> RequestContext:
    spec = ContextSpec(
        region=region,
        resource_tags=dict(resource_tags) if resource_tags is not None else None,
        request_tags=dict(request_tags) if request_tags else None,
        via=via,
        passed_to=passed_to,
        grant_for_aws_resource=grant_for_aws_resource,
        target_boundary=target_boundary,
        s3=dict(s3),
        resource_aliases=resource_aliases,
    )
    values: dict[str, tuple[str, ...]] = {
        "aws:SecureTransport": ("true",),
        "aws:RequestedRegion": (spec.region,),
        "aws:PrincipalArn": (role_arn,),
        "aws:PrincipalAccount": (account,),
        "aws:PrincipalType": ("AssumedRole",),
        "aws:ViaAWSService": ("true" if spec.via else "false",),
    }
    known: set[str] = set(GLOBAL_ABSENT) | {"aws:TagKeys"}
    prefixes = ["aws:PrincipalTag/", "aws:RequestTag/", "aws:ResourceTag/"]
    for key, value in role_tags:
        values[f"aws:PrincipalTag/{key}"] = (value,)
    for key, value in (spec.resource_tags or {}).items():
        values[f"aws:ResourceTag/{key}"] = (value,)
    if spec.request_tags:
        for key, value in spec.request_tags.items():
            values[f"aws:RequestTag/{key}"] = (value,)
        values["aws:TagKeys"] = tuple(spec.request_tags)
    if service == "kms":
        values["kms:CallerAccount"] = (account,)
        known |= {"kms:ViaService", "kms:GrantIsForAWSResource"}
        if spec.via:
            values["kms:ViaService"] = (f"{spec.via}.{spec.region}.amazonaws.com",)
        if spec.grant_for_aws_resource:
            values["kms:GrantIsForAWSResource"] = ("true",)
        if spec.resource_aliases is not None:
            known.add("kms:ResourceAliases")
            if spec.resource_aliases:
                values["kms:ResourceAliases"] = spec.resource_aliases
    elif service == "iam":
        known |= {"iam:PassedToService", "iam:PermissionsBoundary"}
        if spec.passed_to:
            values["iam:PassedToService"] = (spec.passed_to,)
        if spec.target_boundary:
            values["iam:PermissionsBoundary"] = (spec.target_boundary,)
    elif service in ("codestar-connections", "codeconnections"):
        known.add(f"{service}:PassedToService")
        if spec.passed_to:
            values[f"{service}:PassedToService"] = (spec.passed_to,)
    elif service == "s3":
        known |= set(S3_KEYS)
        for key, value in spec.s3.items():
            values[key] = (value,)
    return RequestContext(values=values, known=frozenset(known), known_prefixes=tuple(prefixes))
