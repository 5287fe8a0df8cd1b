"""Find the IAM policy documents a resource carries, for the policy rules and the IAM lint.

Both the CrossGuard rules (which see camelCase properties) and ``regionflow iam-lint`` (which reads
the offline preview's manifests, also camelCase) need the same answer to "which properties of this
resource are policy documents, and of which kind", so it is answered once, here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


class DocumentKind(str, Enum):
    # Attached to a principal (role inline policy, managed policy, RolePolicy): Resource "*" grants
    # every resource of the action's type.
    IDENTITY = "identity"
    # A role's trust policy: the role itself is the resource, so there is no Resource element.
    TRUST = "trust"
    # A bucket, topic or queue policy: names principals and is attached to one resource.
    RESOURCE = "resource"
    # A KMS key policy: Resource "*" there means "this key" (AWS KMS developer guide, key policies).
    KEY = "key"


# Resource type -> (property, kind) for properties that hold one policy document.
DOCUMENT_PROPERTIES: dict[str, tuple[tuple[str, DocumentKind], ...]] = {
    "aws:iam/role:Role": (("assumeRolePolicy", DocumentKind.TRUST),),
    "aws:iam/policy:Policy": (("policy", DocumentKind.IDENTITY),),
    "aws:iam/rolePolicy:RolePolicy": (("policy", DocumentKind.IDENTITY),),
    "aws:iam/userPolicy:UserPolicy": (("policy", DocumentKind.IDENTITY),),
    "aws:iam/groupPolicy:GroupPolicy": (("policy", DocumentKind.IDENTITY),),
    "aws:s3/bucketPolicy:BucketPolicy": (("policy", DocumentKind.RESOURCE),),
    "aws:sns/topic:Topic": (("policy", DocumentKind.RESOURCE),),
    "aws:sns/topicPolicy:TopicPolicy": (("policy", DocumentKind.RESOURCE),),
    "aws:sqs/queue:Queue": (("policy", DocumentKind.RESOURCE),),
    "aws:sqs/queuePolicy:QueuePolicy": (("policy", DocumentKind.RESOURCE),),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": (("policy", DocumentKind.RESOURCE),),
    "aws:secretsmanager/secretPolicy:SecretPolicy": (("policy", DocumentKind.RESOURCE),),
    "aws:kms/key:Key": (("policy", DocumentKind.KEY),),
    "aws:kms/keyPolicy:KeyPolicy": (("policy", DocumentKind.KEY),),
}
ROLE_TYPE = "aws:iam/role:Role"


@dataclass(frozen=True)
class PolicyDocument:
    kind: DocumentKind
    where: str  # the property path, e.g. "policy" or "inlinePolicies[0].policy"
    document: dict[str, Any]


class MalformedDocumentError(ValueError):
    """A policy property holds something that is not a JSON policy document."""


def plain(value: Any) -> Any:
    """The value without CrossGuard's ``Secret`` wrapper (policy documents are rarely secret, but may be)."""
    inner = getattr(value, "value", None) if type(value).__name__ == "Secret" else None
    return inner if inner is not None else value


def parse_document(raw: Any, where: str) -> dict[str, Any]:
    raw = plain(raw)
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        raise MalformedDocumentError(f"{where} is a {type(raw).__name__}, not a JSON policy document")
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise MalformedDocumentError(f"{where} is not valid JSON ({error.msg})") from None
    if not isinstance(parsed, dict):
        raise MalformedDocumentError(f"{where} is not a JSON object")
    return parsed


def policy_documents(resource_type: str, props: Mapping[str, Any]) -> Iterator[PolicyDocument]:
    """Every policy document ``props`` carries; properties that are absent or empty are skipped."""
    for prop, kind in DOCUMENT_PROPERTIES.get(resource_type, ()):
        raw = props.get(prop)
        if raw:
            yield PolicyDocument(kind, prop, parse_document(raw, prop))
    if resource_type == ROLE_TYPE:
        for index, inline in enumerate(props.get("inlinePolicies") or ()):
            raw = inline.get("policy") if isinstance(inline, Mapping) else None
            if raw:
                where = f"inlinePolicies[{index}].policy"
                yield PolicyDocument(DocumentKind.IDENTITY, where, parse_document(raw, where))


def as_list(value: Any) -> list[Any]:
    """A JSON "one or many" value as a list. CrossGuard hands lists over as read-only Sequence proxies."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return [value]


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(s) for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]
