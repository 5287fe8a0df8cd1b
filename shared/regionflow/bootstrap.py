"""The self-managed Pulumi backend: a state bucket and a secrets key, created with boto3.

Pulumi cannot create the bucket that holds its own state, so ``regionflow bootstrap`` does it once
per account and region, before any ``pulumi login``:

* a KMS key (rotating, aliased) that encrypts the state bucket;
* the state bucket: versioned (every state write is a new version, so a bad update can be rolled
  back), SSE-KMS with that key and a bucket key, BucketOwnerEnforced, all four public access block
  flags, a policy that denies plain HTTP and uploads under another key, and a lifecycle that
  expires old noncurrent state versions and aborts stale multipart uploads;
* a second KMS key (rotating, aliased) for the ``awskms`` secrets provider. It is separate from the
  state key so that reading state and decrypting stack secrets can be granted separately;
* the permissions boundary every regionflow role carries (one per account, name prefix and
  environment; :mod:`regionflow.boundary` derives its name and document, every stack its ARN);
* with ``--github-repository owner/name``: GitHub's OIDC provider and the pull-request preview role
  (:mod:`regionflow.bootstrap_iam`), which may assume the read roles of the other accounts the repository's
  pipeline config names (regionflow.accounts.pipeline_target_accounts).

Everything is found by name (bucket, policy, role), alias (keys) or URL (OIDC provider). The run is
in two phases: first every existing resource is inspected read-only; if anything is misconfigured,
each problem is reported on its own line and nothing at all is created or changed. Existing
resources are never modified: "fixing" a bucket in place could weaken it (or, for a lifecycle rule,
delete state history), so an operator decides. Only when nothing is wrong are the missing pieces
created. The one opt-in change is ``--update-boundary``: it makes the boundary's derived document the
policy's new default version.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from regionflow import bootstrap_iam, iam
from regionflow.accounts import read_role_arn
from regionflow.boundary import boundary_arn, boundary_document, boundary_name

# The same explicit administrator actions as the regional artifact keys (instead of "kms:*").
from regionflow.components.artifact_store import KEY_ACCOUNT_ACTIONS
from regionflow.config import ENVIRONMENT_PATTERN, NAME_PREFIX_PATTERN
from regionflow.naming import Namer
from regionflow.regions import PARTITION, SUPPORTED_REGIONS

ACCOUNT_ID_PATTERN = re.compile(r"^\d{12}$")
STATE_PURPOSE = "pulumi-state"
SECRETS_PURPOSE = "pulumi-secrets"
# Old state versions are kept this long, and at least this many of them whatever their age, so an
# operator can always roll a stack's state back a few updates (``pulumi stack import``).
NONCURRENT_DAYS = 90
NEWER_NONCURRENT_VERSIONS = 10
ABORT_MULTIPART_DAYS = 7


class BootstrapInputError(ValueError):
    """A bad argument: the message names it and says how to fix it."""


@dataclass(frozen=True)
class BootstrapRequest:
    region: str
    name_prefix: str
    environment: str
    account_id: str | None = None
    # owner/name: create GitHub's OIDC provider and the pull-request preview role for that repository.
    github_repository: str | None = None
    # The Pulumi projects whose state the preview role reads (the repository's stacks/*/Pulumi.yaml).
    projects: tuple[str, ...] = ()
    # Make the derived boundary document the policy's default version when the existing one differs.
    update_boundary: bool = False
    # The other accounts the pipeline deploys into (the pipeline config's secondaryStacks[].account): the preview
    # role may assume their read roles (docs/accounts.md).
    target_accounts: tuple[str, ...] = ()

    def validate(self) -> None:
        if self.region not in SUPPORTED_REGIONS:
            raise BootstrapInputError(f"--region {self.region!r} is not a supported AWS region, e.g. us-east-1")
        if not NAME_PREFIX_PATTERN.match(self.name_prefix):
            raise BootstrapInputError(
                f"--name-prefix {self.name_prefix!r} must be 2-32 lowercase letters, digits or hyphens, "
                "starting with a letter (the stacks' namePrefix, e.g. rflow)"
            )
        if not ENVIRONMENT_PATTERN.match(self.environment):
            raise BootstrapInputError(
                f"--environment {self.environment!r} must be 2-10 lowercase letters or digits, e.g. prod"
            )
        if self.account_id is not None and not ACCOUNT_ID_PATTERN.match(self.account_id):
            raise BootstrapInputError(f"--account-id {self.account_id!r} must be 12 digits")
        for account in self.target_accounts:
            if not ACCOUNT_ID_PATTERN.match(account):
                raise BootstrapInputError(
                    f"secondaryStacks account {account!r} must be 12 digits; fix the pipeline's stack file"
                )
        if self.github_repository is not None:
            if not bootstrap_iam.GITHUB_REPOSITORY_PATTERN.match(self.github_repository):
                raise BootstrapInputError(
                    f"--github-repository {self.github_repository!r} must be owner/name, e.g. acme/regionflow"
                )
            if not self.projects:
                raise BootstrapInputError(
                    "--github-repository needs the repository's Pulumi projects, and --root holds no "
                    "stacks/*/Pulumi.yaml; run bootstrap from the repository (or pass --root)"
                )


@dataclass(frozen=True)
class BackendNames:
    bucket: str
    state_key_alias: str
    secrets_key_alias: str

    @staticmethod
    def of(request: BootstrapRequest, account_id: str) -> BackendNames:
        namer = Namer(request.name_prefix, request.environment, request.region)
        return BackendNames(
            bucket=namer.bucket(STATE_PURPOSE, account_id),
            state_key_alias=namer.alias(STATE_PURPOSE),
            secrets_key_alias=namer.alias(SECRETS_PURPOSE),
        )


@dataclass
class BootstrapResult:
    region: str
    names: BackendNames
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    state_key_arn: str = ""
    secrets_key_arn: str = ""
    boundary_arn: str = ""
    github_repository: str | None = None
    preview_role_arn: str = ""
    # The other accounts' read roles the preview role may assume.
    preview_read_roles: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def login_url(self) -> str:
        # awssdk=v2 selects the AWS SDK v2 driver of the Go CDK, which reads SSO and IMDSv2 credentials.
        return f"s3://{self.names.bucket}?region={self.region}&awssdk=v2"

    @property
    def secrets_provider(self) -> str:
        return f"awskms://{self.names.secrets_key_alias}?region={self.region}"


@dataclass
class BoundaryPlan:
    exists: bool
    update: bool = False


@dataclass
class GitHubPlan:
    repository: str
    create_provider: bool = False
    create_role: bool = False
    put_policy: bool = False


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _tags(request: BootstrapRequest, purpose: str) -> dict[str, str]:
    return {
        "Project": "regionflow",
        "Environment": request.environment,
        "ManagedBy": "regionflow-bootstrap",
        "Purpose": purpose,
    }


def _iam_tags(request: BootstrapRequest, purpose: str) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in _tags(request, purpose).items()]


def key_policy(account_id: str) -> str:
    """The key policy: the account administers the key and grants its use through IAM."""
    account_root = f"arn:{PARTITION}:iam::{account_id}:root"
    statement = iam.Statement(
        sid="AccountAdministersKeyThroughIam",
        principals=[iam.Principal("AWS", [account_root])],
        actions=KEY_ACCOUNT_ACTIONS,
        kind="resource",
    )
    return json.dumps({"Version": "2012-10-17", "Statement": [statement.render()]})


def bucket_policy(bucket: str, key_arn: str) -> str:
    """TLS only, and uploads only under the state key (absent headers use the bucket default)."""
    bucket_arn = f"arn:{PARTITION}:s3:::{bucket}"
    objects = f"{bucket_arn}/*"
    statements = [
        iam.deny_insecure_transport("DenyInsecureTransport", ["s3:*"], [bucket_arn, objects]),
        *iam.deny_uploads_under_other_encryption(objects, key_arn),
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": [s.render() for s in statements]})


LIFECYCLE_RULES: list[dict[str, Any]] = [
    {
        "ID": "expire-old-state-versions",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {
            "NoncurrentDays": NONCURRENT_DAYS,
            "NewerNoncurrentVersions": NEWER_NONCURRENT_VERSIONS,
        },
    },
    {
        "ID": "abort-incomplete-multipart-uploads",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS},
    },
]


class Bootstrapper:
    """Inspects, then (only when nothing is wrong) creates the backend, with injected boto3 clients."""

    def __init__(self, request: BootstrapRequest, *, s3: Any, kms: Any, sts: Any, iam: Any) -> None:
        self.request = request
        self.s3 = s3
        self.kms = kms
        self.sts = sts
        self.iam = iam

    def run(self) -> BootstrapResult:
        request = self.request
        request.validate()
        caller_account = str(self.sts.get_caller_identity()["Account"])
        if request.account_id is not None and request.account_id != caller_account:
            raise BootstrapInputError(
                f"--account-id {request.account_id} does not match the credentials' account {caller_account}; "
                "use credentials of that account or drop --account-id"
            )
        names = BackendNames.of(request, caller_account)
        result = BootstrapResult(region=request.region, names=names, github_repository=request.github_repository)
        result.boundary_arn = boundary_arn(caller_account, request.name_prefix, request.environment)

        state_key = self._find_key(names.state_key_alias, "state key", result)
        secrets_key = self._find_key(names.secrets_key_alias, "secrets key", result)
        bucket_exists = self._inspect_bucket(names.bucket, state_key, result)
        boundary = self._inspect_boundary(caller_account, result)
        github = self._inspect_github(caller_account, state_key, secrets_key, result)
        if not result.ok:
            return result  # report only: nothing is created next to a misconfigured backend

        if state_key is None:
            state_key = self._create_key(names.state_key_alias, STATE_PURPOSE, caller_account)
            result.created.append(f"state key {names.state_key_alias}")
        if secrets_key is None:
            secrets_key = self._create_key(names.secrets_key_alias, SECRETS_PURPOSE, caller_account)
            result.created.append(f"secrets key {names.secrets_key_alias}")
        if not bucket_exists:
            self._create_bucket(names.bucket, state_key)
            result.created.append(f"state bucket {names.bucket}")
        result.state_key_arn = state_key
        result.secrets_key_arn = secrets_key
        self._apply_boundary(caller_account, boundary, result)
        if github is not None:
            backend = bootstrap_iam.Backend(names.bucket, state_key, secrets_key)
            self._apply_github(caller_account, github, backend, result)
        return result

    # --- the permissions boundary ----------------------------------------------------------

    def _inspect_boundary(self, account_id: str, result: BootstrapResult) -> BoundaryPlan:
        request = self.request
        arn = result.boundary_arn
        try:
            policy = self.iam.get_policy(PolicyArn=arn)["Policy"]
        except Exception as error:
            if _error_code(error) == "NoSuchEntity":
                return BoundaryPlan(exists=False)
            raise
        result.existing.append(f"permissions boundary {arn}")
        default_version = str(policy["DefaultVersionId"])
        document = self.iam.get_policy_version(PolicyArn=arn, VersionId=default_version)["PolicyVersion"]["Document"]
        expected = boundary_document(account_id, request.name_prefix, request.environment)
        if bootstrap_iam.same_policy(document, expected):
            return BoundaryPlan(exists=True)
        if request.update_boundary:
            return BoundaryPlan(exists=True, update=True)
        result.problems.append(
            f"permissions boundary {arn}: its default version {default_version} differs from the document this "
            "regionflow version derives (regionflow.boundary); re-run with --update-boundary to make that document "
            "the new default version"
        )
        return BoundaryPlan(exists=True)

    def _apply_boundary(self, account_id: str, plan: BoundaryPlan, result: BootstrapResult) -> None:
        request = self.request
        document = boundary_document(account_id, request.name_prefix, request.environment)
        if not plan.exists:
            self.iam.create_policy(
                PolicyName=boundary_name(request.name_prefix, request.environment),
                PolicyDocument=document,
                Description=f"Boundary of every regionflow role ({request.name_prefix}-{request.environment})",
                Tags=_iam_tags(request, bootstrap_iam.BOUNDARY_PURPOSE_TAG),
            )
            result.created.append(f"permissions boundary {result.boundary_arn}")
        elif plan.update:
            arn = result.boundary_arn
            versions = self.iam.list_policy_versions(PolicyArn=arn)["Versions"]
            if len(versions) >= bootstrap_iam.MAX_POLICY_VERSIONS:
                # IAM keeps at most five versions; the oldest one that is not in effect makes room.
                oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
                self.iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
            version = self.iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
            result.updated.append(
                f"permissions boundary {arn}: new default version {version['PolicyVersion']['VersionId']}"
            )

    # --- GitHub: the OIDC provider and the pull-request preview role ------------------------

    def _inspect_github(
        self, account_id: str, state_key: str | None, secrets_key: str | None, result: BootstrapResult
    ) -> GitHubPlan | None:
        request = self.request
        repository = request.github_repository
        if repository is None:
            return None
        plan = GitHubPlan(repository)
        provider_arn = bootstrap_iam.oidc_provider_arn(account_id)
        try:
            provider = self.iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
        except Exception as error:
            if _error_code(error) != "NoSuchEntity":
                raise
            plan.create_provider = True
        else:
            result.existing.append(f"GitHub OIDC provider {provider_arn}")
            # The provider is the account's, maybe shared with other teams: only the audience matters here.
            if bootstrap_iam.STS_AUDIENCE not in provider.get("ClientIDList", []):
                result.problems.append(
                    f"GitHub OIDC provider {provider_arn}: its audiences {provider.get('ClientIDList', [])} lack "
                    f"{bootstrap_iam.STS_AUDIENCE}; add it with `aws iam add-client-id-to-open-id-connect-provider "
                    f"--open-id-connect-provider-arn {provider_arn} --client-id {bootstrap_iam.STS_AUDIENCE}`"
                )

        name = bootstrap_iam.preview_role_name(request.name_prefix, request.environment)
        try:
            role = self.iam.get_role(RoleName=name)["Role"]
        except Exception as error:
            if _error_code(error) != "NoSuchEntity":
                raise
            plan.create_role = True
            plan.put_policy = True
            return plan
        result.existing.append(f"preview role {role['Arn']}")
        label = f"preview role {name}"
        for reason in bootstrap_iam.trust_problems(role["AssumeRolePolicyDocument"], account_id, repository):
            expected = bootstrap_iam.preview_trust_document(account_id, repository)
            result.problems.append(
                f"{label}: its trust policy is wrong ({reason}); replace it: `aws iam update-assume-role-policy "
                f"--role-name {name} --policy-document '{expected}'`"
            )
            break  # one line per role: the fix replaces the whole trust policy
        boundary_problem = bootstrap_iam.boundary_problem(label, name, role, result.boundary_arn)
        if boundary_problem is not None:
            result.problems.append(boundary_problem)
        if role.get("MaxSessionDuration") != bootstrap_iam.PREVIEW_MAX_SESSION_SECONDS:
            result.problems.append(
                f"{label}: its maximum session is {role.get('MaxSessionDuration')} s; expected "
                f"{bootstrap_iam.PREVIEW_MAX_SESSION_SECONDS}: `aws iam update-role --role-name {name} "
                f"--max-session-duration {bootstrap_iam.PREVIEW_MAX_SESSION_SECONDS}`"
            )
        foreign, inline = bootstrap_iam.foreign_policy_problems(
            self.iam, label, name, bootstrap_iam.PREVIEW_POLICY_NAME, "its read-only inline policy"
        )
        result.problems.extend(foreign)
        if bootstrap_iam.PREVIEW_POLICY_NAME not in inline:
            plan.put_policy = True
        elif state_key is None or secrets_key is None:
            result.problems.append(
                f"{label}: exists, but this backend's keys do not: it was made for another backend; "
                f"delete it (`aws iam delete-role-policy --role-name {name} --policy-name "
                f"{bootstrap_iam.PREVIEW_POLICY_NAME}` then `aws iam delete-role --role-name {name}`) and re-run"
            )
        else:
            actual = self.iam.get_role_policy(RoleName=name, PolicyName=bootstrap_iam.PREVIEW_POLICY_NAME)
            backend = bootstrap_iam.Backend(result.names.bucket, state_key, secrets_key)
            expected_policy = self._preview_policy(account_id, backend)
            if not bootstrap_iam.same_policy(actual["PolicyDocument"], expected_policy):
                result.problems.append(
                    f"{label}: its inline policy {bootstrap_iam.PREVIEW_POLICY_NAME} differs from what this regionflow "
                    "version grants (another backend, other projects or an older version); delete it with "
                    f"`aws iam delete-role-policy --role-name {name} --policy-name "
                    f"{bootstrap_iam.PREVIEW_POLICY_NAME}` and re-run bootstrap, which writes the current one"
                )
        return plan

    def _preview_read_roles(self, account_id: str) -> tuple[str, ...]:
        """The read roles of the other accounts (not the caller's own: a region there is single-account)."""
        request = self.request
        return tuple(
            read_role_arn(account, request.name_prefix, request.environment)
            for account in sorted(set(request.target_accounts))
            if account != account_id
        )

    def _preview_policy(self, account_id: str, backend: bootstrap_iam.Backend) -> str:
        request = self.request
        return bootstrap_iam.preview_policy_document(
            account_id,
            request.name_prefix,
            request.environment,
            backend,
            request.projects,
            self._preview_read_roles(account_id),
        )

    def _apply_github(
        self, account_id: str, plan: GitHubPlan, backend: bootstrap_iam.Backend, result: BootstrapResult
    ) -> None:
        request = self.request
        repository = plan.repository
        name = bootstrap_iam.preview_role_name(request.name_prefix, request.environment)
        if plan.create_provider:
            # No ThumbprintList: "This parameter is optional. If it is not included, IAM will retrieve and use
            # the top intermediate certificate authority (CA) thumbprint", and IAM verifies GitHub's JWKS
            # endpoint with its library of trusted root CAs (IAM API reference, CreateOpenIDConnectProvider).
            created = self.iam.create_open_id_connect_provider(
                Url=bootstrap_iam.GITHUB_OIDC_URL,
                ClientIDList=[bootstrap_iam.STS_AUDIENCE],
                Tags=_iam_tags(request, "github-oidc"),
            )
            result.created.append(f"GitHub OIDC provider {created['OpenIDConnectProviderArn']}")
        if plan.create_role:
            role = self.iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=bootstrap_iam.preview_trust_document(account_id, repository),
                Description=f"pulumi preview --refresh of every stack, for pull requests of {repository} (read-only)",
                MaxSessionDuration=bootstrap_iam.PREVIEW_MAX_SESSION_SECONDS,
                PermissionsBoundary=result.boundary_arn,
                Tags=_iam_tags(request, bootstrap_iam.PREVIEW_ROLE_PURPOSE),
            )["Role"]
            result.created.append(f"preview role {role['Arn']}")
        if plan.put_policy:
            self.iam.put_role_policy(
                RoleName=name,
                PolicyName=bootstrap_iam.PREVIEW_POLICY_NAME,
                PolicyDocument=self._preview_policy(account_id, backend),
            )
            result.created.append(f"preview role {name}: inline policy {bootstrap_iam.PREVIEW_POLICY_NAME}")
        result.preview_role_arn = bootstrap_iam.preview_role_arn(account_id, request.name_prefix, request.environment)
        result.preview_read_roles = self._preview_read_roles(account_id)

    # --- keys -------------------------------------------------------------------------------

    def _find_key(self, alias: str, what: str, result: BootstrapResult) -> str | None:
        try:
            metadata = self.kms.describe_key(KeyId=alias)["KeyMetadata"]
        except Exception as error:
            if _error_code(error) == "NotFoundException":
                return None
            raise
        arn = str(metadata["Arn"])
        label = f"{what} {alias} ({arn})"
        if metadata.get("KeyManager") != "CUSTOMER":
            result.problems.append(f"{label}: is AWS-managed; the alias must name a customer-managed key")
            return arn
        if metadata.get("KeyState") != "Enabled":
            result.problems.append(f"{label}: key state is {metadata.get('KeyState')}; expected Enabled")
        if metadata.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            result.problems.append(f"{label}: key spec is {metadata.get('KeySpec')}; expected SYMMETRIC_DEFAULT")
        elif metadata.get("KeyState") == "Enabled" and not self.kms.get_key_rotation_status(KeyId=arn).get(
            "KeyRotationEnabled"
        ):
            result.problems.append(f"{label}: automatic rotation is off; run `aws kms enable-key-rotation`")
        result.existing.append(f"{what} {alias}")
        return arn

    def _create_key(self, alias: str, purpose: str, account_id: str) -> str:
        tags = _tags(self.request, purpose)
        metadata = self.kms.create_key(
            Description=f"regionflow {purpose} ({self.request.name_prefix}-{self.request.environment})",
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Policy=key_policy(account_id),
            Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()],
        )["KeyMetadata"]
        arn = str(metadata["Arn"])
        self.kms.enable_key_rotation(KeyId=arn)
        self.kms.create_alias(AliasName=alias, TargetKeyId=arn)
        return arn

    # --- bucket -----------------------------------------------------------------------------

    def _inspect_bucket(self, bucket: str, state_key_arn: str | None, result: BootstrapResult) -> bool:
        try:
            self.s3.head_bucket(Bucket=bucket)
        except Exception as error:
            code = _error_code(error)
            if code in ("404", "NoSuchBucket", "NotFound"):
                return False
            if code in ("403", "AccessDenied", "Forbidden"):
                result.problems.append(
                    f"state bucket {bucket}: exists but is not readable with these credentials "
                    "(another account owns it, or access is denied)"
                )
                return True
            raise
        result.existing.append(f"state bucket {bucket}")
        for problem in self.bucket_problems(bucket, state_key_arn):
            result.problems.append(f"state bucket {bucket}: {problem}")
        return True

    def _read(self, call: Any, missing_codes: tuple[str, ...], **kwargs: Any) -> dict[str, Any] | None:
        try:
            response: dict[str, Any] = call(**kwargs)
        except Exception as error:
            if _error_code(error) in missing_codes:
                return None
            raise
        return response

    def bucket_problems(self, bucket: str, state_key_arn: str | None) -> list[str]:
        """Every way the existing bucket falls short of the state bucket's settings (read-only)."""
        s3 = self.s3
        problems: list[str] = []
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        if location != self.request.region:
            problems.append(f"is in {location}, not {self.request.region}; bootstrap each region's own bucket")

        status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
        if status != "Enabled":
            problems.append(f"versioning is {status}; expected Enabled (state history and rollback need it)")

        block = self._read(s3.get_public_access_block, ("NoSuchPublicAccessBlockConfiguration",), Bucket=bucket)
        flags = (block or {}).get("PublicAccessBlockConfiguration", {})
        off = [
            flag
            for flag in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
            if not flags.get(flag)
        ]
        if off:
            problems.append(f"public access block is off for {', '.join(off)}; all four must be on")

        ownership = self._read(s3.get_bucket_ownership_controls, ("OwnershipControlsNotFoundError",), Bucket=bucket)
        rules = (ownership or {}).get("OwnershipControls", {}).get("Rules", [])
        if not any(rule.get("ObjectOwnership") == "BucketOwnerEnforced" for rule in rules):
            problems.append("object ownership is not BucketOwnerEnforced (ACLs must be disabled)")

        problems.extend(self._encryption_problems(bucket, state_key_arn))

        policy = self._read(s3.get_bucket_policy, ("NoSuchBucketPolicy",), Bucket=bucket)
        if policy is None or not _denies_insecure_transport(json.loads(policy["Policy"])):
            problems.append("bucket policy does not deny requests without TLS (aws:SecureTransport false)")

        lifecycle = self._read(s3.get_bucket_lifecycle_configuration, ("NoSuchLifecycleConfiguration",), Bucket=bucket)
        enabled = [r for r in (lifecycle or {}).get("Rules", []) if r.get("Status") == "Enabled"]
        if not any("NoncurrentVersionExpiration" in r for r in enabled):
            problems.append("no lifecycle rule expires old noncurrent state versions")
        if not any("AbortIncompleteMultipartUpload" in r for r in enabled):
            problems.append("no lifecycle rule aborts incomplete multipart uploads")
        return problems

    def _encryption_problems(self, bucket: str, state_key_arn: str | None) -> list[str]:
        encryption = self._read(
            self.s3.get_bucket_encryption, ("ServerSideEncryptionConfigurationNotFoundError",), Bucket=bucket
        )
        rules = (encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        if not rules:
            return ["has no default encryption; expected SSE-KMS with the state key"]
        rule = rules[0]
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") != "aws:kms":
            return [f"default encryption is {default.get('SSEAlgorithm')}; expected aws:kms with the state key"]
        problems: list[str] = []
        configured = default.get("KMSMasterKeyID")
        if state_key_arn is None:
            problems.append(f"is encrypted with {configured} but the state key alias does not exist")
        elif configured not in _key_references(state_key_arn):
            problems.append(f"is encrypted with {configured}; expected the state key {state_key_arn}")
        if not rule.get("BucketKeyEnabled"):
            problems.append("S3 bucket key is off (every state read and write would be a KMS request)")
        return problems

    def _create_bucket(self, bucket: str, key_arn: str) -> None:
        s3 = self.s3
        create: dict[str, Any] = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
        if self.request.region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.request.region}
        s3.create_bucket(**create)
        # The public access block goes first so the bucket is never public, even for a moment.
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": LIFECYCLE_RULES})
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy(bucket, key_arn))
        tags = _tags(self.request, STATE_PURPOSE)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})


def _key_references(key_arn: str) -> set[str]:
    """The ways a bucket's encryption may name the key: ARN or bare key ID."""
    key_id = key_arn.rsplit("/", 1)[-1]
    return {key_arn, key_id}


def _denies_insecure_transport(document: dict[str, Any]) -> bool:
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        condition = statement.get("Condition", {}).get("Bool", {})
        if statement.get("Effect") == "Deny" and str(condition.get("aws:SecureTransport")).lower() == "false":
            return True
    return False
