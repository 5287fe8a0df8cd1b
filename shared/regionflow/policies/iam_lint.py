"""IAM lint: every policy document in the offline preview's manifests, through parliament.

``regionflow iam-lint [--manifests DIR]`` (or ``python -m regionflow.policies.iam_lint``) reads the
manifests ``regionflow preview`` wrote, finds each IAM policy document (role inline and trust
policies, managed policies, RolePolicy, bucket, key, topic and queue policies; see
:mod:`regionflow.policies.documents`), runs parliament over it and fails on any finding that
``iam_lint_exceptions.yaml`` does not list with a reason.

Parliament's community auditors (privilege escalation, permissions management, credentials
exposure) reason about what a principal holding a policy can do, so they run over identity policies
only; resource, key and trust policies name their principal and get parliament's core checks.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from regionflow import yaml_loading
from regionflow.policies.documents import DocumentKind, MalformedDocumentError, policy_documents

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DEFAULT_EXCEPTIONS = Path(__file__).with_name("iam_lint_exceptions.yaml")
EXCEPTION_FIELDS = ("issue", "kind", "resource_type", "resource", "where", "detail", "reason")
_QUOTED_KEY = re.compile(r'"([^"]+)":')
_CONDITION_OPERATOR = re.compile(r"^(ForAllValues:|ForAnyValue:)?[A-Z][A-Za-z]+$")
_POLICY_ELEMENTS = frozenset(
    {"Version", "Statement", "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource"}
    | {"NotResource", "Condition", "AWS", "Service", "Federated"}
)
# Not a kind of document AWS knows: a managed policy that roles only use as their permissions boundary.
BOUNDARY_KIND = "boundary"
POLICY_TYPE = "aws:iam/policy:Policy"
ATTACHMENT_TYPES = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)


class LintInputError(ValueError):
    """Manifests or the exceptions file cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class Finding:
    stack: str
    urn: str
    resource_type: str
    where: str
    kind: str
    issue: str
    severity: str
    detail: str

    def line(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.issue} ({self.severity}) in {self.where} of {self.urn} [{self.kind}]{detail}"


@dataclass(frozen=True)
class LintException:
    issue: str
    reason: str
    kind: str | None = None
    resource_type: str | None = None
    resource: str | None = None  # a regular expression searched in the URN
    where: str | None = None
    detail: str | None = None

    def matches(self, finding: Finding) -> bool:
        return (
            self.issue == finding.issue
            and self.kind in (None, finding.kind)
            and self.resource_type in (None, finding.resource_type)
            and self.where in (None, finding.where)
            and (self.resource is None or re.search(self.resource, finding.urn) is not None)
            and (self.detail is None or re.search(self.detail, finding.detail) is not None)
        )


@dataclass
class LintResult:
    documents: int
    stacks: int
    findings: list[Finding]
    excepted: list[tuple[Finding, LintException]]
    unexpected: list[Finding]
    stale: list[LintException]


def load_exceptions(path: Path) -> list[LintException]:
    try:
        loaded = yaml_loading.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise LintInputError(f"{path}: cannot read the exceptions file ({type(error).__name__})") from None
    entries = loaded.get("exceptions") if isinstance(loaded, dict) else None
    if not isinstance(entries, list):
        raise LintInputError(f"{path}: expected a top-level 'exceptions:' list")
    exceptions: list[LintException] = []
    for index, entry in enumerate(entries):
        where = f"{path}: exceptions[{index}]"
        if not isinstance(entry, dict):
            raise LintInputError(f"{where} must be a mapping with 'issue' and 'reason'")
        unknown = sorted(set(entry) - set(EXCEPTION_FIELDS))
        if unknown:
            raise LintInputError(f"{where}: unknown field {', '.join(unknown)}; allowed: {', '.join(EXCEPTION_FIELDS)}")
        for required in ("issue", "reason"):
            if not isinstance(entry.get(required), str) or not entry[required].strip():
                raise LintInputError(f"{where}: '{required}' is required (every exception states its reason)")
        if not any(entry.get(f) for f in ("kind", "resource_type", "resource", "where", "detail")):
            raise LintInputError(
                f"{where}: narrow the exception with kind, resource_type, resource, where or detail; "
                "an issue is never accepted everywhere"
            )
        known_kinds = [k.value for k in DocumentKind] + [BOUNDARY_KIND]
        if entry.get("kind") is not None and entry["kind"] not in known_kinds:
            kinds = ", ".join(known_kinds)
            raise LintInputError(f"{where}: kind {entry['kind']!r} is not one of {kinds}")
        for pattern in ("detail", "resource"):
            if entry.get(pattern) is not None:
                try:
                    re.compile(entry[pattern])
                except (re.error, TypeError):
                    raise LintInputError(f"{where}: '{pattern}' is not a valid regular expression") from None
        exceptions.append(
            LintException(
                issue=entry["issue"],
                reason=entry["reason"],
                kind=entry.get("kind"),
                resource_type=entry.get("resource_type"),
                resource=entry.get("resource"),
                where=entry.get("where"),
                detail=entry.get("detail"),
            )
        )
    return exceptions


def load_manifests(directory: Path) -> list[dict[str, Any]]:
    if not directory.is_dir():
        raise LintInputError(f"{directory} does not exist: run `regionflow preview` first or pass --manifests DIR")
    manifests: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.json")):
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise LintInputError(f"{path} is not a JSON manifest: re-run `regionflow preview`") from None
        if isinstance(manifest, dict) and "resources" in manifest and "manifest_version" in manifest:
            manifests.append(manifest)
    if not manifests:
        raise LintInputError(f"no preview manifests in {directory}: run `regionflow preview` first")
    return manifests


def _detail(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value)
    return str(value)


_COMMUNITY_CONFIG_LOADED: list[bool] = []


def _load_community_config(parliament: Any) -> None:
    # The community auditors' issues (PERMISSIONS_MANAGEMENT_ACTIONS, ...) have their titles and
    # severities in a separate file that parliament's own CLI merges in; do the same, once.
    if not _COMMUNITY_CONFIG_LOADED:
        override = Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
        parliament.override_config(str(override))
        _COMMUNITY_CONFIG_LOADED.append(True)


def as_parliament_sees_it(document: dict[str, Any], kind: DocumentKind, role_arn: str | None) -> dict[str, Any]:
    """The document parliament can check in full.

    A trust policy has no Resource element (the role is the resource, and IAM rejects one that
    names a Resource). Parliament 1.6.4 has no trust-policy mode: it reports the missing Resource as
    MALFORMED and then stops, skipping its principal and condition checks. Naming the role itself as
    the Resource is exactly what the trust policy governs, and lets every check run.
    """
    if kind is not DocumentKind.TRUST or not role_arn:
        return document
    statements = document.get("Statement")
    listed = statements if isinstance(statements, list) else [statements]
    patched = [
        {**s, "Resource": role_arn} if isinstance(s, dict) and "Resource" not in s and "NotResource" not in s else s
        for s in listed
    ]
    return {**document, "Statement": patched}


def lint_document(
    document: dict[str, Any], kind: DocumentKind, role_arn: str | None = None, *, boundary: bool = False
) -> list[tuple[str, str, str]]:
    """Parliament's findings for one document: (issue, severity, detail)."""
    # Imported here so that building the `regionflow` CLI parser does not pay for parliament's IAM data.
    import parliament

    _load_community_config(parliament)
    text = json.dumps(as_parliament_sees_it(document, kind, role_arn))
    policy = parliament.analyze_policy_string(
        text, include_community_auditors=kind is DocumentKind.IDENTITY and not boundary
    )
    found: list[tuple[str, str, str]] = []
    for finding in policy.findings:
        enhanced = parliament.enhance_finding(finding)
        detail = " ".join(filter(None, (_detail(enhanced.detail), _where_in(text, enhanced.location))))
        found.append((enhanced.issue, str(getattr(enhanced, "severity", "")), detail))
    return found


def _where_in(text: str, location: Any) -> str:
    """What a finding points at, so an exception can name it: the actions, or the key before the column."""
    if not isinstance(location, dict):
        return ""
    if location.get("actions"):
        return f"[actions: {', '.join(str(a) for a in location['actions'])}]"
    column = location.get("column")
    if location.get("line") == 1 and isinstance(column, int):
        # Parliament points at the condition operator; the condition key is the next key after it.
        before, after = _QUOTED_KEY.findall(text[:column]), _QUOTED_KEY.findall(text[column:])
        if before and after and _CONDITION_OPERATOR.match(before[-1]) and before[-1] not in _POLICY_ELEMENTS:
            return f"[at {before[-1]} {after[0]}]"
    return ""


def boundary_only_arns(resources: Sequence[dict[str, Any]]) -> set[str]:
    """ARNs of managed policies used as a role's permissions boundary and never attached as a grant.

    A boundary grants nothing (IAM user guide, "Permissions boundaries for IAM entities"): parliament's
    community auditors, which judge what a holder of the policy may do, do not apply to it.
    """
    boundaries: set[str] = set()
    granted: set[str] = set()
    for resource in resources:
        inputs = resource.get("inputs") or {}
        if resource.get("type") == "aws:iam/role:Role":
            if isinstance(inputs.get("permissionsBoundary"), str):
                boundaries.add(inputs["permissionsBoundary"])
            granted.update(a for a in inputs.get("managedPolicyArns") or () if isinstance(a, str))
        elif resource.get("type") in ATTACHMENT_TYPES and isinstance(inputs.get("policyArn"), str):
            granted.add(inputs["policyArn"])
    return boundaries - granted


# The stack label of findings in the account's boundary, which `regionflow bootstrap` writes (regionflow.boundary).
BOOTSTRAP_STACK = "regionflow bootstrap"
BOUNDARY_RESOURCE_TYPE = "regionflow:bootstrap:PermissionsBoundary"


def bootstrap_boundaries(manifests: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """ARN -> document of each regionflow boundary the roles carry that no manifest holds as a resource.

    The boundary belongs to the account (`regionflow bootstrap` creates it), so the preview records no
    resource for it; its document is the one regionflow.boundary computes for that account and name family.
    """
    from regionflow.boundary import boundary_document, parse_boundary_arn

    in_manifests = {
        (r.get("outputs") or {}).get("arn") for m in manifests for r in m["resources"] if r.get("type") == POLICY_TYPE
    }
    found: dict[str, dict[str, Any]] = {}
    for manifest in manifests:
        for arn in boundary_only_arns(manifest["resources"]):
            parsed = parse_boundary_arn(arn)
            if parsed is not None and arn not in in_manifests:
                found[arn] = json.loads(boundary_document(*parsed))
    return found


def collect_findings(manifests: Sequence[dict[str, Any]]) -> tuple[int, list[Finding]]:
    documents = 0
    findings: list[Finding] = []
    for policy_arn, document in sorted(bootstrap_boundaries(manifests).items()):
        documents += 1
        for issue, severity, detail in lint_document(document, DocumentKind.IDENTITY, policy_arn, boundary=True):
            where = (BOOTSTRAP_STACK, policy_arn, BOUNDARY_RESOURCE_TYPE, "policy", BOUNDARY_KIND)
            findings.append(Finding(*where, issue, severity, detail))
    for manifest in manifests:
        stack = f"{manifest.get('project')}/{manifest.get('stack')}"
        boundaries = boundary_only_arns(manifest["resources"])
        for resource in manifest["resources"]:
            resource_type = str(resource.get("type"))
            urn = str(resource.get("urn"))
            try:
                docs = list(policy_documents(resource_type, resource.get("inputs") or {}))
            except MalformedDocumentError as error:
                findings.append(Finding(stack, urn, resource_type, "?", "?", "MALFORMED_JSON", "HIGH", str(error)))
                continue
            arn = (resource.get("outputs") or {}).get("arn")
            arn = arn if isinstance(arn, str) else None
            is_boundary = resource_type == POLICY_TYPE and arn in boundaries
            for doc in docs:
                documents += 1
                kind = BOUNDARY_KIND if is_boundary else doc.kind.value
                for issue, severity, detail in lint_document(doc.document, doc.kind, arn, boundary=is_boundary):
                    findings.append(Finding(stack, urn, resource_type, doc.where, kind, issue, severity, detail))
    return documents, findings


def lint(manifests: Sequence[dict[str, Any]], exceptions: Sequence[LintException]) -> LintResult:
    documents, findings = collect_findings(manifests)
    excepted: list[tuple[Finding, LintException]] = []
    unexpected: list[Finding] = []
    used: set[int] = set()
    for finding in findings:
        match = next((i for i, e in enumerate(exceptions) if e.matches(finding)), None)
        if match is None:
            unexpected.append(finding)
        else:
            used.add(match)
            excepted.append((finding, exceptions[match]))
    stale = [e for i, e in enumerate(exceptions) if i not in used]
    return LintResult(documents, len(manifests), findings, excepted, unexpected, stale)


def run_lint(manifests_dir: Path, exceptions_path: Path, out: TextIO, *, verbose: bool = False) -> int:
    try:
        # parliament 1.6.4 imports pkg_resources, which warns on every run; constraints.txt pins a
        # setuptools that still has it, so the warning says nothing the user can act on.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
            import parliament  # noqa: F401 - checks the dev dependency is there, and imports it quietly
    except ImportError:
        print("error: parliament is not installed: pip install -r requirements-dev.txt", file=out)
        return EXIT_BAD_INPUT
    try:
        exceptions = load_exceptions(exceptions_path)
        manifests = load_manifests(manifests_dir)
    except LintInputError as error:
        print(f"error: {error}", file=out)
        return EXIT_BAD_INPUT
    result = lint(manifests, exceptions)
    for finding in result.unexpected:
        print(f"error: {finding.stack}: {finding.line()}", file=out)
    if verbose:
        for finding, exception in result.excepted:
            print(f"excepted: {finding.stack}: {finding.line()} -- {exception.reason}", file=out)
    for exception in result.stale:
        print(f"warning: exception {exception.issue} ({exception.kind or 'any kind'}) matched no finding", file=out)
    by_issue: dict[str, int] = {}
    for finding in result.unexpected:
        by_issue[finding.issue] = by_issue.get(finding.issue, 0) + 1
    if by_issue:
        ranked = sorted(by_issue.items(), key=lambda item: (-item[1], item[0]))
        print("unexpected by issue: " + ", ".join(f"{issue} {count}" for issue, count in ranked), file=out)
    print(
        f"IAM lint: {result.documents} policy documents in {result.stacks} stacks, {len(result.findings)} findings, "
        f"{len(result.excepted)} excepted, {len(result.unexpected)} unexpected",
        file=out,
    )
    return EXIT_FAILED if result.unexpected else EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifests", type=Path, help="preview manifests (default: <root>/.regionflow/preview)")
    parser.add_argument("--exceptions", type=Path, default=DEFAULT_EXCEPTIONS, help="the accepted-findings file")
    parser.add_argument("--verbose", action="store_true", help="also list the excepted findings and their reasons")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m regionflow.policies.iam_lint", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    manifests = args.manifests or Path.cwd() / ".regionflow" / "preview"
    return run_lint(manifests, args.exceptions, sys.stdout, verbose=args.verbose)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
