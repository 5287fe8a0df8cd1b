"""Output-aware IAM policy builders that refuse wildcards AWS does not force on us.

Policies are built as plain data holding ``pulumi.Input`` values (ARNs taken from resources) and
rendered to JSON once their Outputs resolve, so no resource is ever created inside ``.apply()``. The
rendering is :func:`regionflow.outputs.json_dumps`: the same text, dependencies, known-ness and secrecy
as ``pulumi.Output.json_dumps`` (tested against the SDK, dry-run unknowns included), with one Output per
leaf instead of one per node. It runs in real deploys too; ``REGIONFLOW_OFFLINE_FAST=0`` selects the
SDK's function.

Least privilege is enforced here rather than hoped for: an ``Allow`` statement with
``Resource: "*"`` is only accepted when every action is in :data:`UNSCOPABLE_ACTIONS`, the list of
actions for which AWS offers no resource-level permission, each with its reason. ``service:*`` and
``*`` actions are never accepted in an ``Allow``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from regionflow import outputs
from regionflow.offline import speed

# Action -> why it must use Resource "*". The Service Authorization Reference lists no resource
# types for these actions, so no narrower Resource exists.
UNSCOPABLE_ACTIONS: dict[str, str] = {
    "xray:PutTraceSegments": "X-Ray trace ingestion has no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray telemetry has no resource-level permissions",
    "codepipeline:PutJobSuccessResult": "CodePipeline job results have no resource-level permissions",
    "codepipeline:PutJobFailureResult": "CodePipeline job results have no resource-level permissions",
    # The drift build's refresh of aws.kms.Alias resources finds each alias through ListAliases.
    "kms:ListAliases": "KMS ListAliases has no resource-level permissions",
    # The pipeline's deploy builds: `pulumi up` reads log groups and manages SNS subscriptions with
    # these; the Service Authorization Reference lists no resource type for any of them.
    "logs:DescribeLogGroups": "CloudWatch Logs DescribeLogGroups has no resource type (it lists by name prefix)",
    "sns:GetSubscriptionAttributes": "SNS GetSubscriptionAttributes has no resource type",
    "sns:Unsubscribe": "SNS Unsubscribe has no resource type",
}

# In a key policy "Resource" can only be "*", meaning "this key" (AWS KMS developer guide).
KEY_POLICY_RESOURCE = "*"


class LeastPrivilegeError(ValueError):
    """A statement asks for more than AWS forces on us."""


@dataclass(frozen=True)
class Principal:
    type: str  # "AWS", "Service", "Federated" or "*"
    identifiers: Sequence[pulumi.Input[str]]


@dataclass(frozen=True)
class Condition:
    test: str  # e.g. "StringEquals", "ArnLike", "Bool"
    variable: str  # e.g. "aws:SourceAccount"
    values: Sequence[pulumi.Input[str]]


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: Sequence[str]
    resources: Sequence[pulumi.Input[str]] = ()
    effect: str = "Allow"
    principals: Sequence[Principal] = ()
    conditions: Sequence[Condition] = ()
    # "identity": attached to a role; "resource": a key, bucket, topic or queue policy, where
    # Resource "*" means "this resource"; "trust": a role's trust policy, which has no Resource.
    kind: str = "identity"
    # Render ``actions`` as NotAction: "every action but these". Only ever in a Deny, where it fences off
    # a resource for everything outside a short list (IAM user guide, "IAM JSON policy elements: NotAction").
    not_action: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("identity", "resource", "trust"):
            raise ValueError(f"statement {self.sid}: unknown kind {self.kind!r}")
        if self.effect not in ("Allow", "Deny"):
            raise ValueError(f"statement {self.sid}: effect must be Allow or Deny")
        if not self.actions:
            raise ValueError(f"statement {self.sid}: no actions")
        if self.not_action and self.effect != "Deny":
            raise LeastPrivilegeError(f"statement {self.sid}: NotAction in an Allow grants every other action")
        if self.effect == "Allow":
            self._check_allow()

    def _check_allow(self) -> None:
        for action in self.actions:
            if action == "*" or action.endswith(":*"):
                raise LeastPrivilegeError(f"statement {self.sid}: {action!r} grants a whole service")
        if self.kind != "identity":
            return
        if "*" in self.resources:
            unscoped = [a for a in self.actions if a not in UNSCOPABLE_ACTIONS]
            if unscoped:
                raise LeastPrivilegeError(f"statement {self.sid}: Resource '*' for {unscoped}, which AWS lets us scope")
        if not self.resources:
            raise ValueError(f"statement {self.sid}: no resources")

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"Sid": self.sid, "Effect": self.effect}
        if self.principals:
            rendered["Principal"] = _render_principals(self.principals)
        rendered["NotAction" if self.not_action else "Action"] = (
            list(self.actions) if len(self.actions) > 1 else self.actions[0]
        )
        if self.kind != "trust":
            resources = list(self.resources) or [KEY_POLICY_RESOURCE]
            rendered["Resource"] = resources if len(resources) > 1 else resources[0]
        if self.conditions:
            conditions: dict[str, dict[str, Any]] = {}
            for condition in self.conditions:
                values = list(condition.values)
                conditions.setdefault(condition.test, {})[condition.variable] = values if len(values) > 1 else values[0]
            rendered["Condition"] = conditions
        return rendered


def _render_principals(principals: Sequence[Principal]) -> Any:
    if len(principals) == 1 and principals[0].type == "*":
        return "*"
    rendered: dict[str, Any] = {}
    for principal in principals:
        ids = list(principal.identifiers)
        rendered[principal.type] = ids if len(ids) > 1 else ids[0]
    return rendered


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """Render statements into a policy JSON string, resolving any Output ARNs inside."""
    sids = [s.sid for s in statements]
    if len(set(sids)) != len(sids):
        raise ValueError(f"duplicate Sid in {sids}")
    document = {"Version": "2012-10-17", "Statement": [s.render() for s in statements]}
    if speed.enabled("outputs"):
        # The same string, resources and secrecy as Output.json_dumps, lifting only the Output leaves.
        return outputs.json_dumps(document)
    return pulumi.Output.json_dumps(document)


def plain_policy_document(statements: Sequence[Statement]) -> str:
    """A policy JSON string from statements that hold plain strings only (for boto3 callers such as bootstrap)."""
    sids = [s.sid for s in statements]
    if len(set(sids)) != len(sids):
        raise ValueError(f"duplicate Sid in {sids}")
    rendered = [s.render() for s in statements]
    if any(isinstance(value, pulumi.Output) for statement in rendered for value in _leaves(statement)):
        raise TypeError("plain_policy_document needs plain strings; use policy_document for Outputs")
    return json.dumps({"Version": "2012-10-17", "Statement": rendered}, separators=(",", ":"))


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def service_trust_policy(service: str, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """Trust policy for an AWS service, limited to calls made on behalf of this account.

    The ``aws:SourceAccount`` condition is the confused-deputy protection AWS recommends for
    service roles.
    """
    return policy_document(
        [
            Statement(
                sid="AssumedByService",
                principals=[Principal("Service", [service])],
                actions=["sts:AssumeRole"],
                conditions=[Condition("StringEquals", "aws:SourceAccount", [account_id])],
                kind="trust",
            )
        ]
    )


def deny_insecure_transport(sid: str, actions: Sequence[str], resources: Sequence[pulumi.Input[str]]) -> Statement:
    """Deny any request not made over TLS: the standard TLS-only statement for resource policies."""
    return Statement(
        sid=sid,
        effect="Deny",
        principals=[Principal("*", ["*"])],
        actions=actions,
        resources=resources,
        conditions=[Condition("Bool", "aws:SecureTransport", ["false"])],
        kind="resource",
    )


def deny_uploads_under_other_encryption(
    objects: pulumi.Input[str], key_arn: pulumi.Input[str], *, kind: str = "resource"
) -> list[Statement]:
    """Deny uploads that ask for another encryption than SSE-KMS with ``key_arn``; allow uploads that ask for none.

    An upload without encryption headers is encrypted by the bucket's default (SSE-KMS with the key), so it
    must stay allowed: the Pulumi CLI's S3 driver sends none (google/go-cloud blob/s3blob/s3blob.go), nor do
    many tools. ``...IfExists`` would be wrong here: a missing key makes a ``...IfExists`` condition *true*
    (IAM user guide, "Condition operators": "If the key is not present, evaluate the condition element as
    true"), so the Deny would refuse exactly those uploads. The ``Null: false`` condition limits each Deny to
    requests that carry the header (IAM user guide, "Condition operator to check existence of condition keys").
    """
    everyone = [Principal("*", ["*"])]
    sse = "s3:x-amz-server-side-encryption"
    sse_key = "s3:x-amz-server-side-encryption-aws-kms-key-id"
    return [
        Statement(
            sid="DenyUploadsWithOtherEncryption",
            effect="Deny",
            principals=everyone,
            actions=["s3:PutObject"],
            resources=[objects],
            conditions=[Condition("StringNotEquals", sse, ["aws:kms"]), Condition("Null", sse, ["false"])],
            kind=kind,
        ),
        Statement(
            sid="DenyUploadsWithOtherKmsKey",
            effect="Deny",
            principals=everyone,
            actions=["s3:PutObject"],
            resources=[objects],
            conditions=[Condition("StringNotEquals", sse_key, [key_arn]), Condition("Null", sse_key, ["false"])],
            kind=kind,
        ),
    ]
