"""IAM lint: parliament over every policy document in the preview manifests, with one exceptions file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from regionflow.cli import main
from regionflow.offline.manifest import build_manifest, write_manifest
from regionflow.offline.runner import StackResult
from regionflow.policies.documents import DocumentKind
from regionflow.policies.iam_lint import (
    DEFAULT_EXCEPTIONS,
    as_parliament_sees_it,
    lint,
    load_exceptions,
    load_manifests,
    run_lint,
)

PRIMARY_MANIFEST = "regionflow-primary.prod.json"


PIPELINE_PROJECT = "regionflow-pipeline"


def _write(results: list[StackResult], out: Path) -> Path:
    for result in results:
        manifest = build_manifest(
            project=result.target.project, stack=result.target.stack, exports=result.exports, resources=result.resources
        )
        write_manifest(manifest, out)
    return out


@pytest.fixture
def manifests(tmp_path: Path, our_results: dict[str, StackResult]) -> Path:
    """The manifests `regionflow preview` writes for the regional stacks, in a folder of the test's own."""
    regional = [r for r in our_results.values() if r.target.project != PIPELINE_PROJECT]
    return _write(regional, tmp_path / "preview")


def _plant(manifests: Path, resource_type: str, name: str, inputs: dict[str, Any], outputs: dict[str, Any]) -> str:
    path = manifests / PRIMARY_MANIFEST
    manifest = json.loads(path.read_text())
    urn = f"urn:pulumi:prod::regionflow-primary::{resource_type}::{name}"
    manifest["resources"].append(
        {"urn": urn, "type": resource_type, "name": name, "custom": True, "provider": None, "id": name,
         "inputs": inputs, "outputs": outputs}
    )  # fmt: skip
    path.write_text(json.dumps(manifest))
    return urn


def _run(manifests: Path, exceptions: Path = DEFAULT_EXCEPTIONS) -> tuple[int, str]:
    out = io.StringIO()
    return run_lint(manifests, exceptions, out), out.getvalue()


def test_regional_policies_pass_with_only_the_listed_exceptions(manifests: Path) -> None:
    regional = load_manifests(manifests)
    result = lint(regional, load_exceptions(DEFAULT_EXCEPTIONS))
    assert [f.line() for f in result.unexpected] == []
    # Each regional stack carries a trust, a role, a key, a bucket, a topic and a queue policy; the logger roles
    # carry the account's boundary, which `regionflow bootstrap` writes (regionflow.boundary): linted once.
    assert result.documents == 6 * len(regional) + 1
    assert {f.kind for f, _ in result.excepted} <= {"key", "resource", "boundary"}
    assert not [f for f, _ in result.excepted if f.kind == "identity"], "regional identity policies lint clean"
    code, output = _run(manifests)
    assert code == 0 and "0 unexpected" in output and "error" not in output


def test_pipeline_policies_pass_with_only_the_listed_exceptions(
    tmp_path: Path, our_results: dict[str, StackResult]
) -> None:
    if not any(r.target.project == PIPELINE_PROJECT for r in our_results.values()):
        pytest.skip("the pipeline stack does not exist yet")
    everything = load_manifests(_write(list(our_results.values()), tmp_path / "all"))
    result = lint(everything, load_exceptions(DEFAULT_EXCEPTIONS))
    assert [f"{f.stack}: {f.line()}" for f in result.unexpected] == []
    assert result.stale == [], "every exception must still be needed"


def test_planted_wildcard_policy_fails(manifests: Path) -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    urn = _plant(manifests, "aws:iam/policy:Policy", "too-broad", {"policy": json.dumps(document)}, {})
    code, output = _run(manifests)
    assert code == 1
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert any("RESOURCE_STAR" in line and urn in line for line in errors), output
    assert any("PERMISSIONS_MANAGEMENT_ACTIONS" in line and urn in line for line in errors), output


def test_trust_policies_get_parliaments_full_checks(manifests: Path) -> None:
    # A typo in the confused-deputy condition: only visible because the role is given as Resource.
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAcount": "123456789012"}},
            }
        ],
    }
    arn = "arn:aws:iam::123456789012:role/typo"
    urn = _plant(manifests, "aws:iam/role:Role", "typo", {"assumeRolePolicy": json.dumps(trust)}, {"arn": arn})
    code, output = _run(manifests)
    assert code == 1
    assert f"UNKNOWN_CONDITION_FOR_ACTION (MEDIUM) in assumeRolePolicy of {urn} [trust]" in output
    assert as_parliament_sees_it(trust, DocumentKind.TRUST, arn)["Statement"][0]["Resource"] == arn
    assert "Resource" not in trust["Statement"][0]


def test_inline_and_resource_policies_are_linted(manifests: Path) -> None:
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}]}
    role = _plant(
        manifests, "aws:iam/role:Role", "inline", {"inlinePolicies": [{"name": "x", "policy": json.dumps(bad)}]}, {}
    )
    queue = _plant(manifests, "aws:sqs/queuePolicy:QueuePolicy", "qp", {"policy": json.dumps(bad)}, {})
    code, output = _run(manifests)
    assert code == 1
    assert f"in inlinePolicies[0].policy of {role} [identity]" in output
    assert f"in policy of {queue} [resource]" in output


def test_an_exception_without_a_reason_is_bad_input(manifests: Path, tmp_path: Path) -> None:
    exceptions = tmp_path / "exceptions.yaml"
    exceptions.write_text("exceptions:\n  - issue: RESOURCE_STAR\n    kind: key\n")
    code, output = _run(manifests, exceptions)
    assert code == 2
    assert output == f"error: {exceptions}: exceptions[0]: 'reason' is required (every exception states its reason)\n"


def test_an_exception_that_matches_nothing_is_reported_stale(manifests: Path, tmp_path: Path) -> None:
    exceptions = tmp_path / "exceptions.yaml"
    original = DEFAULT_EXCEPTIONS.read_text()
    exceptions.write_text(original + "  - issue: NO_SUCH_ISSUE\n    kind: identity\n    reason: testing\n")
    code, output = _run(manifests, exceptions)
    assert code == 0
    assert "warning: exception NO_SUCH_ISSUE (identity) matched no finding" in output


def test_an_exception_must_be_narrower_than_its_issue(manifests: Path, tmp_path: Path) -> None:
    exceptions = tmp_path / "exceptions.yaml"
    exceptions.write_text("exceptions:\n  - issue: PRIVILEGE_ESCALATION\n    reason: trust me\n")
    code, output = _run(manifests, exceptions)
    assert code == 2 and "an issue is never accepted everywhere" in output


def test_a_boundary_only_policy_skips_the_grant_auditors(manifests: Path) -> None:
    grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PutRolePolicy",
             "Resource": "arn:aws:iam::123456789012:role/rflow-*"}]}  # fmt: skip
    arn = "arn:aws:iam::123456789012:policy/rflow-boundary"
    policy = _plant(manifests, "aws:iam/policy:Policy", "cap", {"policy": json.dumps(grant)}, {"arn": arn})
    _plant(manifests, "aws:iam/role:Role", "capped", {"permissionsBoundary": arn}, {})
    code, output = _run(manifests)
    assert code == 0 and policy not in output
    _plant(manifests, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "granted", {"policyArn": arn}, {})
    code, output = _run(manifests)
    assert code == 1 and f"PERMISSIONS_MANAGEMENT_ACTIONS (MEDIUM) in policy of {policy} [identity]" in output


def test_cli_iam_lint_without_manifests_says_what_to_do(tmp_path: Path) -> None:
    out = io.StringIO()
    assert main(["iam-lint", "--manifests", str(tmp_path / "none")], out) == 2
    assert out.getvalue().strip().endswith("run `regionflow preview` first or pass --manifests DIR")


def test_cli_iam_lint_reads_the_manifests(manifests: Path) -> None:
    out = io.StringIO()
    assert main(["iam-lint", "--manifests", str(manifests)], out) == 0
    assert out.getvalue().splitlines()[-1].startswith("IAM lint: ")
