"""``regionflow iam-check``: can every role regionflow creates do its job, and nothing more?

Reads the offline preview's manifests, finds each role's job (:mod:`regionflow.iamcheck.jobs`), lists
the (action, resource) pairs the job needs (the provider table in
:mod:`regionflow.iamcheck.requirements`, the backend in :mod:`regionflow.iamcheck.backend`) and decides
each with AWS's policy evaluation logic (:mod:`regionflow.iamcheck.evaluate`). It prints:

* ``missing:`` a needed permission that the role's policies, its boundary or a resource policy deny;
* ``possibly missing:`` the same for a table entry marked uncertain;
* ``unevaluated:`` a decision that depends on what the tool cannot know (a condition key outside the
  documented request context, a boundary or key policy it cannot see), never silently passed;
* ``excess:`` something no job needs and least privilege forbids (another stack's state, the state
  bucket's configuration, the backend keys' administration) that the role *can* do;
* ``slack:`` an (action, resource) pair a policy grants that no job of the role ever needed;

then one summary line. Exit status 1 when anything is missing or in excess (``--strict``: also when
something is possibly missing, unevaluated, or not modelled: a ``note:``), 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from regionflow.iamcheck.backend import Backend
from regionflow.iamcheck.evaluate import (
    Boundary,
    CompiledPolicy,
    Decision,
    Grant,
    Outcome,
    Request,
    ResourcePolicy,
    compile_document,
    decide,
)
from regionflow.iamcheck.jobs import Job, JobBuilder, pipeline_backend
from regionflow.iamcheck.model import BoundaryResolver, ManifestError, Manifests, Resource, Role, StackManifest
from regionflow.iamcheck.needs import Need
from regionflow.iamcheck.scope import Exclusion, ScopeError, load_scope
from regionflow.iamcheck.targets import add_target_roles

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# The services whose resource-based policies the check reads (a resource of these without one admits no other
# account); across accounts, any other service's resource is "unevaluated". IAM role trusts and the Powertools layer
# are handled on their own.
MODELLED_RESOURCE_POLICIES = frozenset({"s3", "kms", "sns", "sqs"})
BOOTSTRAP_PROJECT = "regionflow-bootstrap"  # the holder "stack" of the roles bootstrap makes outside any stack
KINDS = ("missing", "possibly missing", "excess", "unevaluated")


@dataclass
class Finding:
    kind: str  # one of KINDS
    role: str  # the role's name
    action: str
    resource: str
    why: str
    detail: str
    reason: str
    more: int = 0  # further jobs or resources that need the same permission

    def line(self) -> str:
        if self.kind == "excess":
            text = f"{self.role} can {self.action} on {self.resource}: {self.why} ({self.detail})"
        else:
            text = f"{self.role}: {self.action} on {self.resource}: {self.why} needs it ({self.detail})"
            text += f"; {self.reason}"
        if self.more:
            text += f" [and {self.more} more]"
        return f"{self.kind}: {text}"


@dataclass(frozen=True)
class Slack:
    """An action or a resource of an Allow statement that no job of the role needed."""

    role: str
    policy: str
    sid: str
    kind: str  # "action" or "resource"
    value: str

    def line(self) -> str:
        where = f"[{self.sid}] of {self.policy}"
        return f"slack: {self.role}: {self.kind} {self.value} in {where} is granted but no job needs it"


@dataclass
class CheckResult:
    roles: int = 0
    needs: int = 0
    allowed: int = 0
    findings: list[Finding] = field(default_factory=list)
    slack: list[Slack] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    excluded: int = 0  # resource phases left out of jobs by scope.yaml
    slack_listed: bool = True
    seconds: float = 0.0
    # The links of each region in another account (regionflow.iamcheck.chain): assume, trust, target role, store.
    chain: list[Any] = field(default_factory=list)

    @property
    def broken_links(self) -> list[Any]:
        return [link for link in self.chain if not link.allowed]

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    def failed(self, *, strict: bool) -> bool:
        hard = self.count("missing") + self.count("excess") + len(self.broken_links)
        soft = self.count("possibly missing") + self.count("unevaluated") + len(self.notes)
        return bool(hard or (strict and soft))

    def summary(self) -> str:
        return (
            f"iam-check: {self.roles} roles, {self.needs} required permissions: {self.allowed} allowed, "
            f"{self.count('missing')} missing, {self.count('possibly missing')} possibly missing, "
            f"{self.count('unevaluated')} unevaluated, {self.count('excess')} in excess; "
            f"{f'{len(self.slack)} granted but never required' if self.slack_listed else 'slack not listed'}; "
            f"{self.excluded} resource phases out of the jobs' "
            f"declared scope"
            + (f"; {len(self.chain)} cross-account links, {len(self.broken_links)} broken" if self.chain else "")
            + f" ({self.seconds:.2f} s)"
        )


class Evaluator:
    """Decides needs, with compiled policies cached per role, boundary and resource."""

    def __init__(self, manifests: Manifests) -> None:
        self.manifests = manifests
        self._identity: dict[str, CompiledPolicy] = {}
        self._boundaries: dict[str, Boundary] = {}
        self._resource_policies: dict[str, ResourcePolicy | None] = {}
        self._decisions: dict[tuple[Any, ...], Decision] = {}

    def identity(self, role: Role) -> CompiledPolicy:
        if role.arn not in self._identity:
            statements = [s for label, doc in role.policies for s in compile_document(label, doc)]
            self._identity[role.arn] = CompiledPolicy(statements)
        return self._identity[role.arn]

    def boundary(self, role: Role) -> Boundary | None:
        arn = role.boundary_arn
        if not arn:
            return None
        if arn not in self._boundaries:
            document = self.manifests.boundary_document(arn)
            policy = (
                CompiledPolicy(compile_document(f"boundary {arn.rsplit('/', 1)[-1]}", document)) if document else None
            )
            self._boundaries[arn] = Boundary(arn, policy)
        return self._boundaries[arn]

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        if arn in self._resource_policies:
            return self._resource_policies[arn]
        found = self._find_resource_policy(arn)
        self._resource_policies[arn] = found
        return found

    def _compiled(self, label: str, document: dict[str, Any] | None, *, kms: bool = False) -> ResourcePolicy:
        return ResourcePolicy(label, CompiledPolicy(compile_document(label, document)) if document else None, kms)

    def trust_policy(self, role_arn: str) -> ResourcePolicy:
        """A role's trust policy, the resource policy of ``sts:AssumeRole`` on it (None inside: not known)."""
        key = f"trust:{role_arn}"
        if key not in self._resource_policies:
            role = self.manifests.roles.get(role_arn)
            label = f"trust policy of {role_arn.rsplit('/', 1)[-1]}"
            document = role.trust if role is not None and not role.unknown_policies else None
            compiled = CompiledPolicy(compile_document(label, document)) if document else None
            self._resource_policies[key] = ResourcePolicy(label, compiled, trust=True)
        found = self._resource_policies[key]
        assert found is not None
        return found

    def layer_policy(self, arn: str) -> ResourcePolicy:
        """A Lambda layer version's policy: AWS's Powertools layer is public (its publisher grants
        lambda:GetLayerVersion to every account: Powertools for AWS Lambda (Python), "Lambda Layer"); any other
        layer's policy is not known."""
        from regionflow.lambda_layers import POWERTOOLS_LAYER_ACCOUNT

        label = f"layer version policy of {arn.split(':layer:', 1)[-1]}"
        if arn.split(":")[4] != POWERTOOLS_LAYER_ACCOUNT:
            return ResourcePolicy(label, None)
        public = {"Statement": [{"Sid": "Public", "Effect": "Allow", "Principal": "*",
                                 "Action": "lambda:GetLayerVersion", "Resource": arn}]}  # fmt: skip
        return ResourcePolicy(label, CompiledPolicy(compile_document(label, public)))

    def _find_resource_policy(self, arn: str) -> ResourcePolicy | None:
        parts = arn.split(":")
        if len(parts) < 6:
            return None
        service = parts[2]
        if service == "kms":
            if ":key/" not in arn or arn.endswith("key/*"):
                return None  # an alias, or "every key": no key policy applies
            return self._compiled(f"key {arn}", self.manifests.key_policy(arn), kms=True)
        if service == "s3":
            bucket = parts[5].split("/", 1)[0]
            known, document = self.manifests.bucket_policy(bucket)
            if not known:
                return ResourcePolicy(f"bucket {bucket}", None)
            return self._compiled(f"bucket policy of {bucket}", document) if document else None
        if service == "sns":
            document = self.manifests.topic_policy(arn)
            return self._compiled(f"topic policy of {parts[5]}", document) if document else None
        if service == "sqs":
            document = self.manifests.queue_policy(arn)
            return self._compiled(f"queue policy of {parts[5]}", document) if document else None
        return None

    def decide(self, need: Need) -> Decision:
        key = need.key()
        cached = self._decisions.get(key)
        if cached is not None:
            return cached
        role = self.manifests.roles[need.role]
        if need.unknowable:
            decision = Decision(Outcome.UNEVALUATED, need.unknowable)
            self._decisions[key] = decision
            return decision
        # Each request carries the role's own account and the resource's (IAM user guide, "Cross-account policy
        # evaluation logic": across accounts, the identity policy and the resource's policy must both allow).
        request = Request(
            principal=role.arn,
            account=role.account,
            action=need.action,
            resource=need.resource,
            context=need.context,
            resource_account=self.manifests.account_of(need.resource) if need.resource.startswith("arn:") else None,
        )
        resource_policy: ResourcePolicy | None
        if need.resource_policy == "none":
            resource_policy = None
        elif need.action.lower() == "sts:assumerole" and ":role/" in need.resource:
            resource_policy = self.trust_policy(need.resource)
        elif ":layer:" in need.resource:
            resource_policy = self.layer_policy(need.resource) if request.cross_account else None
        else:
            resource_policy = self.resource_policy(need.resource)
            service = need.resource.split(":")[2] if need.resource.count(":") >= 5 else ""
            if resource_policy is None and request.cross_account and service not in MODELLED_RESOURCE_POLICIES:
                # A resource of another account whose kind may carry a resource-based policy the manifests do not
                # show (a Lambda function's, a table's, ...): it may or may not admit this account.
                resource_policy = ResourcePolicy(f"resource-based policy of {need.resource} ({service})", None)
        decision = decide(
            request,
            self.identity(role),
            boundary=self.boundary(role),
            resource_policy=resource_policy,
            unknown_identity=role.unknown_policies,
        )
        self._decisions[key] = decision
        return decision


def run_check(
    manifests: Manifests,
    *,
    root: Path | None = None,
    slack: bool = True,
    scope: list[Exclusion] | None = None,
) -> CheckResult:
    """Judge every role of ``manifests``. ``scope``: the declared exclusions (default: ``scope.yaml``)."""
    started = time.perf_counter()
    backend = pipeline_backend(manifests, root)
    if backend is not None and manifests.external_policies is None:
        from regionflow.iamcheck.backend import bootstrap_policies

        manifests.external_policies = bootstrap_policies(backend)
    if backend is not None and backend.account:
        manifests.bucket_accounts.setdefault(backend.bucket, backend.account)
    bootstrap_role = bootstrap_preview_role(manifests, backend, root)
    if bootstrap_role is not None:
        manifests.roles[bootstrap_role.arn] = bootstrap_role
    exclusions = load_scope() if scope is None else scope
    builder = JobBuilder(manifests, root=root, backend=backend, scope=exclusions)
    # The roles of other accounts the runners' profiles and the pipeline's actions assume (regionflow bootstrap
    # --target makes them in the region owner's account).
    profiles = [arn for delegation in builder.delegations() for _, arn in delegation.profiles]
    add_target_roles(manifests, [*profiles, *builder.action_roles()])
    evaluator = Evaluator(manifests)
    result = CheckResult(roles=len(manifests.roles), slack_listed=slack)
    grouped: dict[tuple[str, str, str, str], Finding] = {}

    def record(kind: str, role: Role, need: Need, reason: str) -> None:
        key = (role.name, kind, need.action, need.resource)
        if key in grouped:
            grouped[key].more += 1
            return
        grouped[key] = Finding(kind, role.name, need.action, need.resource, need.why, need.detail, reason)

    for role in sorted(manifests.roles.values(), key=lambda r: r.name):
        jobs = builder.jobs_of(role)
        result.jobs.extend(jobs)
        if not jobs:
            result.notes.append(
                f"role {role.name} ({role.resource.stack.label}): no job found; its grants are not judged"
            )
            continue
        used: set[Grant] = set()
        seen: set[tuple[Any, ...]] = set()
        writes: set[tuple[str, str]] = set()
        for job in jobs:
            writes |= job.writes
            result.notes.extend(f"{role.name}: {note}" for note in dict.fromkeys(job.unknown))
            for need in job.needs:
                decision = evaluator.decide(need)
                used.update(decision.grants)
                if need.key() in seen:
                    if decision.outcome is not Outcome.ALLOWED:
                        record(_kind(need, decision), role, need, decision.reason)
                    continue
                seen.add(need.key())
                result.needs += 1
                if decision.outcome is Outcome.ALLOWED:
                    result.allowed += 1
                else:
                    record(_kind(need, decision), role, need, decision.reason)
        label = " and ".join(job.label for job in jobs)
        for need in builder.prohibitions(role, writes, label):
            decision = evaluator.decide(need)
            if decision.outcome is Outcome.ALLOWED:
                record("excess", role, need, "")
            elif decision.outcome is Outcome.UNEVALUATED:
                record("unevaluated", role, need, f"whether it is denied: {decision.reason}")
        if slack:
            result.slack.extend(_slack(role.name, evaluator.identity(role).grants(), used))
    for exclusion in exclusions:
        result.excluded += exclusion.used
        if not exclusion.used:
            result.notes.append(f"scope exclusion {exclusion.job} {exclusion.type} matched nothing: remove it")
    for resource_type, example in builder.unknown_types.items():
        result.notes.append(
            f"no provider requirements for {resource_type} (e.g. {example}); add it to "
            "shared/regionflow/iamcheck/requirements.py"
        )
    result.chain = cross_account_links(manifests)
    result.findings = sorted(grouped.values(), key=lambda f: (f.role, KINDS.index(f.kind), f.action, f.resource))
    result.notes = list(dict.fromkeys(result.notes))
    result.seconds = time.perf_counter() - started
    return result


def cross_account_links(manifests: Manifests) -> list[Any]:
    """Every link of the chain into each region whose stack lives in another account than the pipeline's."""
    from regionflow.iamcheck.chain import judge_target_region

    pipeline = manifests.pipeline_stack()
    if pipeline is None:
        return []
    pipeline_roles = [r for r in manifests.roles.values() if r.resource.stack is pipeline]
    if not pipeline_roles:
        return []
    pipeline_account = pipeline_roles[0].arn.split(":")[4]
    pipeline_resource = pipeline.of_type("aws:codepipeline/pipeline:Pipeline")[0]
    # The pipeline stack's roles, and the pull-request preview role bootstrap makes (when it is judged).
    github = [r for r in manifests.roles.values() if r.resource.stack.project == BOOTSTRAP_PROJECT]
    policies = {
        role.arn: [json.dumps(document) for _, document in role.policies] for role in [*pipeline_roles, *github]
    }
    links: list[Any] = []
    for stack in manifests.stacks:
        exports = stack.exports
        key_arn, bucket_arn = str(exports.get("artifactKeyArn", "")), str(exports.get("artifactBucketArn", ""))
        if stack is pipeline or not key_arn.startswith("arn:") or key_arn.split(":")[4] == pipeline_account:
            continue
        bucket_policies = stack.of_type("aws:s3/bucketPolicy:BucketPolicy")
        keys = [k for k in stack.of_type("aws:kms/key:Key") if k.outputs.get("arn") == key_arn]
        if not bucket_policies or not keys:
            continue
        links += judge_target_region(
            pipeline_account=pipeline_account,
            target_account=key_arn.split(":")[4],
            name_prefix=str(exports.get("namePrefix")),
            environment=str(exports.get("environment")),
            home_region=pipeline_resource.region,
            region=str(exports.get("region")),
            pipeline_policies=policies,
            bucket_arn=bucket_arn,
            bucket_policy=str(bucket_policies[0].get("policy")),
            key_arn=key_arn,
            key_policy=str(keys[0].get("policy")),
        )
    return links


def bootstrap_preview_role(manifests: Manifests, backend: Backend | None, root: Path | None) -> Role | None:
    """The pull-request preview role `regionflow bootstrap --github-repository` makes with boto3, as it makes it.

    It is in no manifest (no stack owns it), so without this the check would never judge it. Its documents
    come from regionflow.bootstrap_iam, for the account, name family and backend of these manifests; it is
    judged when the repository's workflow assumes it (vars.PULUMI_PREVIEW_ROLE_ARN) and no role of the
    manifests already is GitHub's.
    """
    from regionflow.accounts import pipeline_target_accounts, read_role_arn
    from regionflow.bootstrap_iam import (
        GITHUB_OIDC_HOST,
        PREVIEW_POLICY_NAME,
        preview_policy_document,
        preview_role_arn,
        preview_role_name,
        preview_trust_document,
    )
    from regionflow.bootstrap_iam import Backend as BootstrapBackend
    from regionflow.boundary import boundary_arn, parse_boundary_arn

    if root is None:
        return None
    workflow = root / ".github" / "workflows" / "preview.yml"
    if not workflow.is_file() or "PULUMI_PREVIEW_ROLE_ARN" not in workflow.read_text():
        return None
    if backend is None or not backend.state_key_arn or not backend.secrets_key_arn:
        return None
    if any(GITHUB_OIDC_HOST in f for role in manifests.roles.values() for f in role.trusted_federated()):
        return None
    # The pipeline account's family (bootstrap runs there, next to the backend), not a region owner's.
    boundaries = (
        parse_boundary_arn(role.boundary_arn)
        for role in manifests.roles.values()
        if role.boundary_arn and role.account == manifests.account
    )
    family = next((parsed for parsed in boundaries if parsed is not None), None)
    if family is None:
        return None
    account, prefix, environment = family
    projects = sorted({stack.project for stack in manifests.stacks})
    documents = BootstrapBackend(backend.bucket, backend.state_key_arn, backend.secrets_key_arn)
    name = preview_role_name(prefix, environment)
    arn = preview_role_arn(account, prefix, environment)
    # The read roles of the accounts the repository's pipeline config deploys into, as bootstrap grants them.
    read_roles = [
        read_role_arn(other, prefix, environment)
        for other in pipeline_target_accounts(root, prefix, environment)
        if other != account
    ]
    holder = StackManifest(BOOTSTRAP_PROJECT, "account", {}, None, account=account)
    resource = Resource(
        stack=holder,
        urn=f"bootstrap:{arn}",
        type="aws:iam/role:Role",
        name=name,
        id=name,
        custom=True,
        inputs={},
        outputs={"arn": arn, "name": name},
        region=backend.region,
    )
    role = Role(arn=arn, name=name, resource=resource, boundary_arn=boundary_arn(account, prefix, environment))
    role.trust = json.loads(preview_trust_document(account, "owner/repository"))
    policy = preview_policy_document(account, prefix, environment, documents, projects, read_roles)
    role.policies.append((f"{name} inline policy {PREVIEW_POLICY_NAME}", json.loads(policy)))
    return role


def _slack(role: str, granted: Iterable[Grant], used: set[Grant]) -> list[Slack]:
    """Per Allow statement: the actions, and the resources, that no needed request matched."""
    statements: dict[tuple[str, str], tuple[dict[str, None], dict[str, None]]] = {}
    for grant in granted:
        actions, resources = statements.setdefault((grant.policy, grant.sid), ({}, {}))
        actions[grant.action] = None
        resources[grant.resource] = None
    used_actions = {(g.policy, g.sid, g.action) for g in used}
    used_resources = {(g.policy, g.sid, g.resource) for g in used}
    found: list[Slack] = []
    for (policy, sid), (actions, resources) in statements.items():
        found.extend(Slack(role, policy, sid, "action", a) for a in actions if (policy, sid, a) not in used_actions)
        found.extend(
            Slack(role, policy, sid, "resource", r) for r in resources if (policy, sid, r) not in used_resources
        )
    return found


def _kind(need: Need, decision: Decision) -> str:
    if decision.outcome is Outcome.UNEVALUATED:
        return "unevaluated"
    return "possibly missing" if need.uncertain else "missing"


def print_report(result: CheckResult, out: TextIO, *, slack: bool = True) -> None:
    for finding in result.findings:
        print(finding.line(), file=out)
    if slack:
        for item in result.slack:
            print(item.line(), file=out)
    for link in result.broken_links:
        print(link.line(), file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    print(result.summary(), file=out)


# --- the command ------------------------------------------------------------------------------


def load_boundary_files(values: Sequence[str]) -> BoundaryResolver | None:
    """``--boundary ARN=FILE``: boundary documents from JSON files (e.g. what bootstrap prints)."""
    documents: dict[str, dict[str, Any]] = {}
    for value in values:
        arn, _, path = value.partition("=")
        if not arn.startswith("arn:") or not path:
            raise ManifestError(
                f"--boundary {value!r}: expected ARN=FILE, e.g. arn:aws:iam::123456789012:policy/x=b.json"
            )
        try:
            documents[arn] = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ManifestError(f"--boundary {value!r}: cannot read {path} ({type(error).__name__})") from None
    if not documents:
        return None
    return lambda arn, _manifests: documents.get(arn)


def default_boundary_resolver() -> BoundaryResolver | None:
    """The boundary resolver regionflow wires in, from ``regionflow.boundary``.

    ``regionflow.boundary`` (the pure document builder of the boundary ``regionflow bootstrap`` creates)
    may provide ``iamcheck_resolver(arn, manifests) -> dict | None`` itself; otherwise its
    ``parse_boundary_arn`` (account, name prefix, environment of a regionflow boundary ARN) and
    ``boundary_document`` (the JSON bootstrap writes) are used. Without the module, a boundary that is not a
    policy resource of the manifests is reported as unknown.
    """
    try:
        from regionflow import boundary as module
    except ImportError:
        return None
    resolver: BoundaryResolver | None = getattr(module, "iamcheck_resolver", None)
    if resolver is not None:
        return resolver
    parse = getattr(module, "parse_boundary_arn", None)
    build = getattr(module, "boundary_document", None)
    if parse is None or build is None:
        return None

    def resolve(arn: str, _manifests: Manifests) -> dict[str, Any] | None:
        parts = parse(arn)
        if parts is None:
            return None
        document: dict[str, Any] = json.loads(build(*parts))
        return document

    return resolve


def chain(resolvers: Iterable[BoundaryResolver | None]) -> BoundaryResolver | None:
    found = [r for r in resolvers if r is not None]
    if not found:
        return None

    def resolve(arn: str, manifests: Manifests) -> dict[str, Any] | None:
        for resolver in found:
            document = resolver(arn, manifests)
            if document is not None:
                return document
        return None

    return resolve


def run_command(args: argparse.Namespace, out: TextIO, root: Path) -> int:
    directory: Path = args.manifests or root / ".regionflow" / "preview"
    try:
        resolver = chain([load_boundary_files(args.boundary), default_boundary_resolver()])
        manifests = Manifests.from_directory(directory, boundary_resolver=resolver)
        scope = load_scope(args.scope)
    except (ManifestError, ScopeError) as error:
        print(f"error: {error}", file=out)
        return EXIT_BAD_INPUT
    repository = root if (root / "stacks").is_dir() else None
    result = run_check(manifests, root=repository, slack=not args.no_slack, scope=scope)
    print_report(result, out, slack=not args.no_slack)
    return EXIT_FAILED if result.failed(strict=args.strict) else EXIT_OK
