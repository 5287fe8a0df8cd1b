"""Helpers for tests that inspect what the offline engine recorded (imported by test modules)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from regionflow.offline.discovery import StackTarget, discover_stacks
from regionflow.offline.mocks import RecordedResource
from regionflow.offline.runner import StackResult

REPO_ROOT = Path(__file__).resolve().parents[1]
STACKS_DIR = REPO_ROOT / "stacks"
REGIONAL_PROJECTS = ("regionflow-primary", "regionflow-secondary")


def regional_targets() -> list[StackTarget]:
    return [t for t in discover_stacks(STACKS_DIR) if t.project in REGIONAL_PROJECTS]


def of_type(result: StackResult, resource_type: str) -> list[RecordedResource]:
    return [r for r in result.resources if r.type == resource_type]


def one(result: StackResult, resource_type: str) -> RecordedResource:
    found = of_type(result, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return found[0]


def policy_of(resource: RecordedResource, key: str = "policy") -> dict[str, Any]:
    """A policy input as AWS receives it: a JSON string, parsed."""
    raw = resource.inputs[key]
    assert isinstance(raw, str), f"{resource.name}.{key} must reach AWS as a JSON string"
    document: dict[str, Any] = json.loads(raw)
    return document


def statement(document: dict[str, Any], sid: str) -> dict[str, Any]:
    matches = [s for s in document["Statement"] if s.get("Sid") == sid]
    assert len(matches) == 1, f"no single statement {sid} in {[s.get('Sid') for s in document['Statement']]}"
    found: dict[str, Any] = matches[0]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def upload_decision(bucket_policy: dict[str, Any], object_arn: str, headers: dict[str, str]) -> str:
    """What AWS decides for a PutObject, allowed by the caller's own policy, under ``bucket_policy``.

    Judged with regionflow.iamcheck's implementation of AWS's policy evaluation logic; ``headers`` are the
    request's SSE condition keys (absent keys are known to be absent, as they are for an upload without them).
    """
    from regionflow.iamcheck.evaluate import (
        CompiledPolicy,
        Request,
        RequestContext,
        ResourcePolicy,
        compile_document,
        decide,
    )

    sse_keys = ("s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id")
    context = RequestContext(
        values={"aws:SecureTransport": ("true",), **{k: (v,) for k, v in headers.items()}},
        known=frozenset(sse_keys),
    )
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}
    role = "arn:aws:iam::123456789012:role/rflow-prod-use1-deploy"
    account = "123456789012"
    request = Request(principal=role, account=account, action="s3:PutObject", resource=object_arn, context=context)
    decision = decide(
        request,
        CompiledPolicy(compile_document("role", allow)),
        resource_policy=ResourcePolicy("bucket", CompiledPolicy(compile_document("bucket", bucket_policy))),
    )
    return str(decision.outcome.value)
