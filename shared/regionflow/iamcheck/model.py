"""The offline preview's manifests, indexed for the permission check.

Everything the check knows about the deployed world comes from here: the resources of every stack
(with the realistic ARNs the offline engine minted, see :mod:`regionflow.offline.arns`), the roles and
the policies attached to them, permissions boundaries, and resource policies (key, bucket, topic,
queue). What the manifests do not hold is asked of small pluggable resolvers:

* :data:`BoundaryResolver` - the document of a permissions boundary that is not a policy resource
  in the manifests (regionflow's boundary is moving to ``regionflow bootstrap``);
* :data:`ExternalPolicyResolver` - the resource policy of something another tool created (the
  Pulumi state bucket and the KMS keys ``regionflow bootstrap`` makes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regionflow.iamcheck.requirements import SPECS
from regionflow.offline.arns import DEFAULT_ACCOUNT_ID
from regionflow.policies.documents import MalformedDocumentError, policy_documents

ROLE_TYPE = "aws:iam/role:Role"
POLICY_TYPE = "aws:iam/policy:Policy"
ROLE_POLICY_TYPE = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT_TYPE = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KEY_TYPE = "aws:kms/key:Key"
ALIAS_TYPE = "aws:kms/alias:Alias"
BUCKET_POLICY_TYPE = "aws:s3/bucketPolicy:BucketPolicy"
TOPIC_TYPE = "aws:sns/topic:Topic"
TOPIC_POLICY_TYPE = "aws:sns/topicPolicy:TopicPolicy"
QUEUE_TYPE = "aws:sqs/queue:Queue"
QUEUE_POLICY_TYPE = "aws:sqs/queuePolicy:QueuePolicy"
PROVIDER_TYPE = "pulumi:providers:aws"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"
IAM_REGION = "us-east-1"  # IAM is global; its endpoint (and aws:RequestedRegion) is us-east-1
_ACCOUNT_IN_ARN = re.compile(r"^arn:[^:]+:[^:]+:[^:]*:(\d{12}):")


class ManifestError(ValueError):
    """A manifest cannot be read; the message names the file and the fix."""


@dataclass
class Resource:
    stack: StackManifest
    urn: str
    type: str
    name: str
    id: str | None
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    region: str
    # The shared-config profile its AWS provider names (a stack in another account: regionflow-<account>).
    profile: str | None = None

    def get(self, dotted: str) -> Any:
        """An output (falling back to the input) at a dotted path, e.g. ``target.roleArn``."""
        for source in (self.outputs, self.inputs):
            value: Any = source
            for part in dotted.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
            if value not in (None, "", [], {}):
                return value
        return None

    @property
    def tags(self) -> dict[str, str]:
        tags = self.outputs.get("tagsAll") or self.inputs.get("tagsAll") or self.outputs.get("tags") or {}
        return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, Mapping) else {}

    @property
    def label(self) -> str:
        return f"{self.type} {self.name} ({self.stack.label})"


@dataclass
class StackManifest:
    project: str
    stack: str
    exports: dict[str, Any]
    path: Path | None
    resources: list[Resource] = field(default_factory=list)
    # The AWS account its resources live in (from their ARNs; Manifests sets it), "" until known.
    account: str = ""

    @property
    def label(self) -> str:
        return f"{self.project}/{self.stack}"

    @property
    def qualified(self) -> str:
        return f"organization/{self.project}/{self.stack}"

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.type == resource_type]


@dataclass
class Role:
    arn: str
    name: str
    resource: Resource
    boundary_arn: str | None
    policies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (label, document)
    unknown_policies: list[str] = field(default_factory=list)  # attached, but not in the manifests
    trust: dict[str, Any] = field(default_factory=dict)

    @property
    def tags(self) -> dict[str, str]:
        return self.resource.tags

    @property
    def account(self) -> str:
        """The role's own account (its ARN's): its requests carry it as aws:PrincipalAccount."""
        match = _ACCOUNT_IN_ARN.match(self.arn)
        return match.group(1) if match else self.resource.stack.account

    def trusted_services(self) -> set[str]:
        services: set[str] = set()
        for statement in _statements(self.trust):
            principal = statement.get("Principal")
            if isinstance(principal, Mapping):
                for value in _as_list(principal.get("Service")):
                    services.add(str(value))
        return services

    def trusted_federated(self) -> set[str]:
        found: set[str] = set()
        for statement in _statements(self.trust):
            principal = statement.get("Principal")
            if isinstance(principal, Mapping):
                for value in _as_list(principal.get("Federated")):
                    found.add(str(value))
        return found


BoundaryResolver = Callable[[str, "Manifests"], dict[str, Any] | None]
"""(boundary policy ARN, manifests) -> the boundary's policy document, or None when unknown."""

ExternalPolicyResolver = Callable[[str, "Manifests"], dict[str, Any] | None]
"""(resource ARN of a bucket or KMS key, manifests) -> its resource/key policy, or None when unknown."""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(s) for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _stack_account(stack: StackManifest) -> str | None:
    """The account of a stack: the one its provider's regionflow profile names, else its resources' ARNs' own."""
    from regionflow.accounts import account_of_profile

    for resource in stack.resources:
        if resource.type.startswith(PROVIDER_TYPE) and resource.get("profile"):
            account = account_of_profile(str(resource.get("profile")))
            if account:
                return account
    counts: dict[str, int] = {}
    for resource in stack.resources:
        spec = SPECS.get(resource.type)
        value = resource.outputs.get("arn" if spec is None else spec.arn_from or "arn")
        match = _ACCOUNT_IN_ARN.match(value) if isinstance(value, str) else None
        if resource.custom and match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return max(counts, key=lambda account: counts[account]) if counts else None


def _region_of(entry: Mapping[str, Any], provider_regions: Mapping[str, str], default: str) -> str:
    outputs = entry.get("outputs") or {}
    inputs = entry.get("inputs") or {}
    for source in (outputs, inputs):
        region = source.get("region") if isinstance(source, Mapping) else None
        if isinstance(region, str) and region:
            return region
    provider = entry.get("provider") or ""
    return provider_regions.get(str(provider).rsplit("::", 1)[-1], default)


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ManifestError(
            f"{path}: cannot read the manifest ({type(error).__name__}); run `regionflow preview` to write it"
        ) from None
    if not isinstance(loaded, dict) or "resources" not in loaded or "project" not in loaded:
        raise ManifestError(f"{path}: not a regionflow preview manifest; run `regionflow preview` to write it")
    return loaded


class Manifests:
    """Every stack's manifest, with the indexes the check needs."""

    def __init__(
        self,
        documents: Iterable[tuple[Path | None, Mapping[str, Any]]],
        *,
        boundary_resolver: BoundaryResolver | None = None,
        external_policies: ExternalPolicyResolver | None = None,
        config: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.stacks: list[StackManifest] = []
        self.boundary_resolver = boundary_resolver
        self.external_policies = external_policies
        # Stack config by "project/stack" (from the stack files), when the repository is at hand.
        self.config: dict[str, dict[str, str]] = {k: dict(v) for k, v in (config or {}).items()}
        for path, document in documents:
            self._add(path, document)
        self.resources = [r for s in self.stacks for r in s.resources]
        self.by_type: dict[str, list[Resource]] = {}
        for resource in self.resources:
            self.by_type.setdefault(resource.type, []).append(resource)
        # The pipeline's account (the home account); each stack has its own (regions in their owners' accounts).
        self.account = self._account()
        for stack in self.stacks:
            stack.account = _stack_account(stack) or self.account
        # S3 ARNs name no account: the account of each bucket the manifests (or the check) know.
        self.bucket_accounts: dict[str, str] = {}
        for bucket in self.of_type("aws:s3/bucket:Bucket"):
            name = bucket.get("bucket")
            if isinstance(name, str) and name:
                self.bucket_accounts.setdefault(name, bucket.stack.account)
        self.by_arn: dict[str, Resource] = {}
        for resource in self.resources:
            # Only a resource's own ARN: an EventBridge target's or a topic policy's "arn" is the topic's.
            spec = SPECS.get(resource.type)
            key = "arn" if spec is None else spec.arn_from
            arn = resource.outputs.get(key) if key else None
            if isinstance(arn, str) and arn.startswith("arn:"):
                self.by_arn.setdefault(arn, resource)
        self.managed_policies: dict[str, Resource] = {
            str(r.outputs.get("arn") or r.id): r for r in self.of_type(POLICY_TYPE)
        }
        self.keys: dict[str, Resource] = {}
        for key_resource in self.of_type(KEY_TYPE):
            self.keys[str(key_resource.outputs.get("arn"))] = key_resource
        self._key_ids = {str(k.outputs.get("keyId") or k.id): arn for arn, k in self.keys.items()}
        self.roles = self._roles()
        self._boundaries: dict[str, dict[str, Any] | None] = {}

    # --- loading ------------------------------------------------------------------------------

    def _add(self, path: Path | None, document: Mapping[str, Any]) -> None:
        stack = StackManifest(
            project=str(document.get("project")),
            stack=str(document.get("stack")),
            exports=dict(document.get("exports") or {}),
            path=path,
        )
        entries = [e for e in document.get("resources") or () if isinstance(e, Mapping)]
        provider_regions: dict[str, str] = {}
        for entry in entries:
            if str(entry.get("type", "")).startswith("pulumi:providers:aws"):
                region = (entry.get("outputs") or {}).get("region") or (entry.get("inputs") or {}).get("region")
                if isinstance(region, str):
                    provider_regions[str(entry.get("id"))] = region
        default_region = next(iter(provider_regions.values()), IAM_REGION)
        # The profile of each provider (a cross-account stack's provider names regionflow-<account>).
        provider_profiles: dict[str, str | None] = {}
        for entry in entries:
            if str(entry.get("type", "")).startswith("pulumi:providers:aws"):
                profile = (entry.get("outputs") or {}).get("profile") or (entry.get("inputs") or {}).get("profile")
                provider_profiles[str(entry.get("id"))] = str(profile) if profile else None
        default_profile = next(iter(provider_profiles.values()), None)
        for entry in entries:
            provider_id = str(entry.get("provider") or "").rsplit("::", 1)[-1]
            stack.resources.append(
                Resource(
                    stack=stack,
                    urn=str(entry.get("urn")),
                    type=str(entry.get("type")),
                    name=str(entry.get("name")),
                    id=None if entry.get("id") is None else str(entry.get("id")),
                    custom=bool(entry.get("custom")),
                    inputs=dict(entry.get("inputs") or {}),
                    outputs=dict(entry.get("outputs") or {}),
                    region=_region_of(entry, provider_regions, default_region),
                    profile=provider_profiles.get(provider_id, default_profile),
                )
            )
        self.stacks.append(stack)

    @classmethod
    def from_directory(cls, directory: Path, **options: Any) -> Manifests:
        paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
        if not paths:
            raise ManifestError(f"{directory}: no manifests found; run `regionflow preview --out {directory}` first")
        return cls(((path, load_manifest(path)) for path in paths), **options)

    def aliases_of_key(self, key_arn: str) -> tuple[str, ...] | None:
        """The aliases (``alias/...``) of one of the stacks' keys, or None when the key is not the stacks'."""
        key = self.keys.get(key_arn)
        if key is None:
            return None
        ids = {key_arn, str(key.outputs.get("keyId") or key.id)}
        aliases = [
            str(alias.get("name"))
            for alias in self.of_type("aws:kms/alias:Alias")
            if str(alias.get("targetKeyId") or alias.get("targetKeyArn")) in ids
        ]
        return tuple(sorted(aliases))

    def _account(self) -> str:
        """The pipeline's account: its stack's roles' (else any role's), where the pipeline and its state live."""
        pipeline = self.pipeline_stack()
        roles = self.of_type(ROLE_TYPE)
        for resource in [r for r in roles if r.stack is pipeline] + roles:
            match = _ACCOUNT_IN_ARN.match(str(resource.outputs.get("arn", "")))
            if match:
                return match.group(1)
        return DEFAULT_ACCOUNT_ID

    def account_of(self, arn: str) -> str | None:
        """The account a resource ARN lives in: its own account field, or for S3 the bucket's; None if unknown."""
        match = _ACCOUNT_IN_ARN.match(arn)
        if match:
            return match.group(1)
        if arn.startswith("arn:aws:s3:::"):
            return self.bucket_accounts.get(arn[len("arn:aws:s3:::") :].split("/", 1)[0])
        return None

    def stacks_in(self, account: str) -> list[StackManifest]:
        return [stack for stack in self.stacks if stack.account == account]

    def _roles(self) -> dict[str, Role]:
        roles: dict[str, Role] = {}
        by_name: dict[tuple[str, str], Role] = {}
        for resource in self.of_type(ROLE_TYPE):
            arn = str(resource.outputs.get("arn") or "")
            name = str(resource.outputs.get("name") or resource.id or resource.name)
            boundary = resource.get("permissionsBoundary")
            role = Role(arn=arn, name=name, resource=resource, boundary_arn=str(boundary) if boundary else None)
            for found_document in policy_documents(resource.type, resource.outputs or resource.inputs):
                if found_document.kind.value == "trust":
                    role.trust = found_document.document
                else:
                    role.policies.append((f"{name} {found_document.where}", found_document.document))
            for index, managed in enumerate(_as_list(resource.get("managedPolicyArns"))):
                self._attach(role, str(managed), f"managedPolicyArns[{index}]")
            roles[arn] = role
            by_name[(resource.stack.label, name)] = role
            by_name.setdefault(("", name), role)
        for resource in self.of_type(ROLE_POLICY_TYPE):
            role_name = str(resource.get("role") or "")
            found = by_name.get((resource.stack.label, role_name)) or by_name.get(("", role_name))
            if found is None:
                continue
            raw = resource.get("policy")
            try:
                document = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
            except json.JSONDecodeError:
                raise MalformedDocumentError(f"{resource.urn}: policy is not JSON") from None
            found.policies.append((f"{found.name} inline policy {resource.get('name') or resource.name}", document))
        for resource in self.of_type(ATTACHMENT_TYPE):
            role_name = str(resource.get("role") or "")
            found = by_name.get((resource.stack.label, role_name)) or by_name.get(("", role_name))
            if found is not None:
                self._attach(found, str(resource.get("policyArn") or ""), resource.name)
        return roles

    def _attach(self, role: Role, policy_arn: str, where: str) -> None:
        managed = self.managed_policies.get(policy_arn)
        if managed is None:
            role.unknown_policies.append(policy_arn or where)
            return
        raw = managed.get("policy")
        document = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        role.policies.append((f"{role.name} managed policy {managed.get('name') or policy_arn}", document))

    # --- queries ------------------------------------------------------------------------------

    def of_type(self, resource_type: str) -> list[Resource]:
        return self.by_type.get(resource_type, [])

    def stack(self, project: str, stack: str) -> StackManifest | None:
        for candidate in self.stacks:
            if candidate.project == project and candidate.stack == stack:
                return candidate
        return None

    def stack_by_qualified(self, qualified: str) -> StackManifest | None:
        parts = qualified.split("/")
        if len(parts) == 3:
            return self.stack(parts[1], parts[2])
        if len(parts) == 2:
            return self.stack(parts[0], parts[1])
        return None

    def key_arn(self, reference: str, region: str, account: str | None = None) -> str | None:
        """A KMS key ARN from an ARN, a key ID or an alias name/ARN in the manifests."""
        if reference.startswith("arn:") and ":key/" in reference:
            return reference
        if reference in self._key_ids:
            return self._key_ids[reference]
        alias_name = reference.split(":alias/", 1)[-1] if ":alias/" in reference else reference
        if not alias_name.startswith("alias/"):
            alias_name = "alias/" + alias_name
        for alias in self.of_type(ALIAS_TYPE):
            if alias.get("name") == alias_name and alias.region == region:
                target = str(alias.get("targetKeyArn") or alias.get("targetKeyId") or "")
                return self.key_arn(target, region, account) if target else None
        if re.fullmatch(r"[0-9a-f-]{36}", reference):
            return f"arn:aws:kms:{region}:{account or self.account}:key/{reference}"
        return None

    def boundary_document(self, arn: str) -> dict[str, Any] | None:
        """The boundary's document: from the manifests when a policy resource has that ARN, else the resolver."""
        if arn not in self._boundaries:
            managed = self.managed_policies.get(arn)
            document: dict[str, Any] | None = None
            if managed is not None:
                raw = managed.get("policy")
                document = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
            elif self.boundary_resolver is not None:
                document = self.boundary_resolver(arn, self)
            self._boundaries[arn] = document
        return self._boundaries[arn]

    def key_policy(self, key_arn: str) -> dict[str, Any] | None:
        key = self.keys.get(key_arn)
        if key is not None:
            raw = key.get("policy")
            if isinstance(raw, str) and raw:
                return dict(json.loads(raw))
            return None
        return self.external_policies(key_arn, self) if self.external_policies else None

    def bucket_policy(self, bucket: str) -> tuple[bool, dict[str, Any] | None]:
        """(known, policy): known is False when the bucket is not in the manifests and no resolver knows it."""
        for resource in self.of_type(BUCKET_POLICY_TYPE):
            if resource.get("bucket") == bucket:
                raw = resource.get("policy")
                return True, json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        if any(r.get("bucket") == bucket for r in self.of_type("aws:s3/bucket:Bucket")):
            return True, None  # our bucket, without a policy
        if self.external_policies is not None:
            found = self.external_policies(f"arn:aws:s3:::{bucket}", self)
            if found is not None:
                return True, found
        return False, None

    def topic_policy(self, topic_arn: str) -> dict[str, Any] | None:
        for resource in self.of_type(TOPIC_POLICY_TYPE):
            if resource.get("arn") == topic_arn:
                raw = resource.get("policy")
                return json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        topic = self.by_arn.get(topic_arn)
        raw = topic.get("policy") if topic is not None else None
        return json.loads(raw) if isinstance(raw, str) and raw else None

    def queue_policy(self, queue_arn: str) -> dict[str, Any] | None:
        queue = self.by_arn.get(queue_arn)
        url = queue.get("url") if queue is not None else None
        for resource in self.of_type(QUEUE_POLICY_TYPE):
            if url and resource.get("queueUrl") == url:
                raw = resource.get("policy")
                return json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        raw = queue.get("policy") if queue is not None else None
        return json.loads(raw) if isinstance(raw, str) and raw else None

    def queue_arn_from_url(self, url: str) -> str | None:
        for queue in self.of_type(QUEUE_TYPE):
            if queue.get("url") == url or queue.id == url:
                return str(queue.get("arn"))
        match = re.match(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com/(\d{12})/(.+)$", url)
        return f"arn:aws:sqs:{match.group(1)}:{match.group(2)}:{match.group(3)}" if match else None

    def pipeline_stack(self) -> StackManifest | None:
        for stack in self.stacks:
            if stack.of_type("aws:codepipeline/pipeline:Pipeline"):
                return stack
        return None
