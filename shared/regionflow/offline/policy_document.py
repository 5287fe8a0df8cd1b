"""Render ``aws.iam.get_policy_document`` invokes as the provider does, for the offline engine.

Plain Pulumi mocks answer every invoke with ``{}``, which would turn any policy built with
``get_policy_document`` into ``None``. This renderer follows the provider's output: single values
are unwrapped from lists, a ``*`` principal becomes ``"*"``, and an empty effect means ``Allow``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any


def _one_or_many(values: Sequence[Any]) -> Any:
    ordered = sorted(values) if all(isinstance(v, str) for v in values) else list(values)
    return ordered[0] if len(ordered) == 1 else ordered


def _principals(principals: Sequence[Mapping[str, Any]]) -> Any:
    if len(principals) == 1 and principals[0].get("type") == "*":
        return "*"
    rendered: dict[str, Any] = {}
    for principal in principals:
        rendered.setdefault(principal["type"], []).extend(principal.get("identifiers", []))
    return {key: _one_or_many(values) for key, values in rendered.items()}


def render_statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    if statement.get("sid"):
        rendered["Sid"] = statement["sid"]
    rendered["Effect"] = statement.get("effect") or "Allow"
    for key, field in (("Principal", "principals"), ("NotPrincipal", "notPrincipals")):
        if statement.get(field):
            rendered[key] = _principals(statement[field])
    for key, field in (
        ("Action", "actions"),
        ("NotAction", "notActions"),
        ("Resource", "resources"),
        ("NotResource", "notResources"),
    ):
        if statement.get(field):
            rendered[key] = _one_or_many(statement[field])
    if statement.get("conditions"):
        conditions: dict[str, dict[str, Any]] = {}
        for condition in statement["conditions"]:
            conditions.setdefault(condition["test"], {})[condition["variable"]] = _one_or_many(condition["values"])
        rendered["Condition"] = conditions
    return rendered


def render_policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    """The invoke's result: ``json``, ``minifiedJson`` and ``id``, as the provider returns them."""
    document: dict[str, Any] = {"Version": args.get("version") or "2012-10-17"}
    if args.get("policyId"):
        document["Id"] = args["policyId"]
    statements = [render_statement(s) for s in args.get("statements") or []]
    # Source documents come first and statements with the same Sid replace theirs, then override
    # documents replace by Sid again: the provider's merge order.
    merged: list[dict[str, Any]] = []
    for source in args.get("sourcePolicyDocuments") or []:
        merged.extend(json.loads(source).get("Statement", []))
    for layer in (statements, *[json.loads(o).get("Statement", []) for o in args.get("overridePolicyDocuments") or []]):
        for statement in layer:
            sid = statement.get("Sid")
            index = next((i for i, s in enumerate(merged) if sid and s.get("Sid") == sid), None)
            if index is None:
                merged.append(statement)
            else:
                merged[index] = statement
    document["Statement"] = merged
    pretty = json.dumps(document, indent=2)
    minified = json.dumps(document, separators=(",", ":"))
    return {
        "json": pretty,
        "minifiedJson": minified,
        "id": str(int(hashlib.sha256(minified.encode()).hexdigest()[:8], 16)),
    }
