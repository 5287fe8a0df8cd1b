"""The policy pack directory is a real CrossGuard pack: start it as the Pulumi CLI does and talk gRPC to it.

The CLI runs ``python __main__.py`` in the pack folder, reads the port the pack prints, then calls
GetAnalyzerInfo, Analyze per resource and AnalyzeStack once. This test does the same with the
analyzer protocol shipped in the pulumi SDK, so the pack's wiring is proven without the CLI.
"""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from regionflow.policies.rules import POLICIES

PACK = Path(__file__).resolve().parents[2] / "shared" / "regionflow" / "policies" / "pack"
QUEUE_URN = "urn:pulumi:prod::regionflow-primary::aws:sqs/queue:Queue::plain"
MANDATORY = analyzer_pb2.EnforcementLevel.Value("MANDATORY")
ADVISORY = analyzer_pb2.EnforcementLevel.Value("ADVISORY")


@pytest.fixture(scope="module")
def analyzer() -> Iterator[Any]:
    # pulumi_policy writes the port to stdout without flushing, so through a pipe the pack must run
    # unbuffered (-u); without it this read waited forever under tox, which does not pass the shell's
    # PYTHONUNBUFFERED. select() bounds the wait so a silent pack fails the test instead of hanging it.
    process = subprocess.Popen(
        [sys.executable, "-u", "__main__.py"], cwd=PACK, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the policy pack printed no port within 60 s"
        port = process.stdout.readline().strip()
        assert port.isdigit(), process.stderr.read() if process.stderr else port
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(props)
    return value


def test_pack_metadata_names_the_python_runtime() -> None:
    metadata = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert metadata["runtime"]["name"] == "python"
    assert "pulumi-policy" in (PACK / "requirements.txt").read_text()


def test_pack_announces_every_rule_with_its_level(analyzer: Any) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "regionflow"
    announced = {p.name: p.enforcementLevel for p in info.policies}
    expected = {p.name: MANDATORY if p.enforcement_level.value == "mandatory" else ADVISORY for p in POLICIES}
    assert announced == expected


def test_pack_rejects_an_unencrypted_untagged_queue(analyzer: Any) -> None:
    request = analyzer_pb2.AnalyzeRequest(
        type="aws:sqs/queue:Queue", properties=_struct({"name": "plain"}), urn=QUEUE_URN, name="plain"
    )
    # The engine attaches the resource's URN to resource-rule diagnostics itself.
    found = {(d.policyName, d.enforcementLevel) for d in analyzer.Analyze(request).diagnostics}
    assert found == {("sqs-queue-cmk", MANDATORY), ("required-tags", MANDATORY)}


def test_pack_stack_rules_see_a_bucket_without_its_settings(analyzer: Any) -> None:
    bucket_urn = "urn:pulumi:prod::regionflow-primary::aws:s3/bucket:Bucket::bare"
    bucket = analyzer_pb2.AnalyzerResource(
        type="aws:s3/bucket:Bucket", properties=_struct({"bucket": "bare"}), urn=bucket_urn, name="bare"
    )
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[bucket]))
    found = {(d.policyName, d.urn) for d in response.diagnostics}
    assert found == {
        (rule, bucket_urn)
        for rule in (
            "s3-bucket-versioning",
            "s3-bucket-sse-kms-cmk",
            "s3-bucket-public-access-block",
            "s3-bucket-tls-only",
        )
    }


def test_pack_finds_nothing_wrong_with_ours(analyzer: Any, our_results: dict[str, Any]) -> None:
    from regionflow.offline.jsonsafe import to_json_safe

    for label, result in our_results.items():
        custom = [r for r in result.resources if r.custom and not r.type.startswith("pulumi:")]
        provider_props = {r.urn: to_json_safe(r.outputs, reveal_secrets=True) for r in result.resources
                          if r.type.startswith("pulumi:providers:")}  # fmt: skip
        found: list[str] = []
        for resource in custom:
            props = to_json_safe(resource.outputs, reveal_secrets=True)
            provider = None
            if resource.provider:
                urn = (
                    resource.provider.rsplit("::", 1)[0]
                    if resource.provider not in provider_props
                    else resource.provider
                )
                provider = analyzer_pb2.AnalyzerProviderResource(
                    type="pulumi:providers:aws", properties=_struct(provider_props.get(urn, {})), urn=urn, name="aws"
                )
            request = analyzer_pb2.AnalyzeRequest(
                type=resource.type, properties=_struct(props), urn=resource.urn, name=resource.name, provider=provider
            )
            found += [f"{d.policyName}: {d.message}" for d in analyzer.Analyze(request).diagnostics]
        stack = [
            analyzer_pb2.AnalyzerResource(
                type=r.type, properties=_struct(to_json_safe(r.outputs, reveal_secrets=True)), urn=r.urn, name=r.name
            )
            for r in custom
        ]
        found += [
            f"{d.policyName}: {d.message}"
            for d in analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=stack)).diagnostics
        ]
        assert found == [], label


def test_pack_matches_a_new_buckets_settings_by_dependency_while_names_are_unknown(analyzer: Any) -> None:
    from pulumi.runtime.rpc import UNKNOWN

    bucket_urn = "urn:pulumi:prod::regionflow-primary::aws:s3/bucket:Bucket::new"

    def child(resource_type: str, name: str, props: dict[str, Any]) -> Any:
        return analyzer_pb2.AnalyzerResource(
            type=resource_type,
            properties=_struct({"bucket": UNKNOWN, **props}),
            urn=f"urn:pulumi:prod::regionflow-primary::{resource_type}::{name}",
            name=name,
            propertyDependencies={"bucket": analyzer_pb2.AnalyzerPropertyDependencies(urns=[bucket_urn])},
        )

    bucket = analyzer_pb2.AnalyzerResource(
        type="aws:s3/bucket:Bucket", properties=_struct({"bucket": UNKNOWN}), urn=bucket_urn, name="new"
    )
    versioning = child(
        "aws:s3/bucketVersioning:BucketVersioning", "v", {"versioningConfiguration": {"status": "Enabled"}}
    )
    public = child(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "pab",
        {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True},
    )
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[bucket, versioning, public]))
    found = {d.policyName for d in response.diagnostics}
    # Versioning and the public access block are found through the dependency; the rest is missing.
    assert found == {"s3-bucket-sse-kms-cmk", "s3-bucket-tls-only"}
