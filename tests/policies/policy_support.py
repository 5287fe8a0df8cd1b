"""Helpers for the policy tests: run one rule, break one property, build a resource by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from regionflow.offline.mocks import RecordedResource
from regionflow.policies.offline import Violation, evaluate
from regionflow.policies.rules import POLICIES

PRIMARY = "regionflow-primary/prod"


def violations(rule: str, resources: list[RecordedResource]) -> list[Violation]:
    """What one rule reports over ``resources`` (only that rule runs)."""
    (policy,) = [p for p in POLICIES if p.name == rule]
    return evaluate("test", resources, [policy]).violations


def of_type(resources: list[RecordedResource], resource_type: str) -> list[RecordedResource]:
    found = [r for r in resources if r.type == resource_type]
    assert found, f"no {resource_type} among the resources"
    return found


def change(resources: list[RecordedResource], resource_type: str, edit: Callable[[dict[str, Any]], None]) -> str:
    """Apply ``edit`` to the properties of every resource of a type; return the (first) URN changed."""
    targets = of_type(resources, resource_type)
    for target in targets:
        edit(target.outputs)
    return targets[0].urn


def without(resources: list[RecordedResource], resource_type: str) -> list[RecordedResource]:
    of_type(resources, resource_type)
    return [r for r in resources if r.type != resource_type]


def record(resource_type: str, name: str, props: dict[str, Any], provider: str | None = None) -> RecordedResource:
    """A resource as the offline engine records it, for types our stacks do not (yet) hold."""
    return RecordedResource(
        urn=f"urn:pulumi:test::policies::{resource_type}::{name}",
        type=resource_type,
        name=name,
        custom=True,
        provider=provider,
        id=name,
        inputs=props,
        outputs=props,
        region="us-east-1",
        parent=None,
    )


def policy_json(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
