"""The account's IAM side of ``regionflow bootstrap``: the boundary, GitHub's OIDC provider, the preview role.

Pure documents and checks live here; :class:`regionflow.bootstrap.Bootstrapper` calls boto3 with them,
in the same inspect-then-create order as the state backend: every existing piece is read and compared
first, a misconfigured one is reported on one ``problem:`` line that names the fix, and nothing is
created or changed unless nothing is wrong.

* **The permissions boundary** every regionflow role carries (:mod:`regionflow.boundary`): one managed
  policy per account, name prefix and environment, whose document is a pure function of those three.
  An existing boundary whose default version says something else is reported; ``--update-boundary``
  makes the derived document the new default version instead.
* **GitHub's OIDC provider** (``token.actions.githubusercontent.com``, audience ``sts.amazonaws.com``):
  one per account, often shared with other teams, so an existing one is only checked for the audience.
* **The pull-request preview role** ``<prefix>-<environment>-github-preview``: trusted only by that
  provider, for exactly ``repo:<owner>/<name>:pull_request``, one-hour sessions, the boundary attached, and
  one inline read-only policy: what ``pulumi preview --refresh`` of every stack reads (the drift build's
  read table, :mod:`regionflow.read_scopes`), the stacks' state (no writes: a preview takes no lock) and
  decrypting the state, the stack secrets and the functions' environments. For regions in their owners'
  accounts (docs/accounts.md) it may also assume exactly those accounts' read roles
  (``<prefix>-<env>-pipeline-read``, made by ``regionflow bootstrap --target``, whose trust admits this role):
  the pull-request workflow's profile ``regionflow-<account>`` assumes it for the stack's provider.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from regionflow import iam
from regionflow.accounts import assume_statement
from regionflow.boundary import family_prefix
from regionflow.components.pipeline.permissions import META_OBJECT, STATE_PREFIX
from regionflow.naming import NameKind, checked_name
from regionflow.read_scopes import KEY_READ_ACTIONS, fill_pattern, read_scope_statements
from regionflow.regions import PARTITION

# GitHub's OIDC issuer and the audience aws-actions/configure-aws-credentials asks for (GitHub docs,
# "Configuring OpenID Connect in Amazon Web Services": provider URL token.actions.githubusercontent.com,
# audience sts.amazonaws.com).
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"
PREVIEW_ROLE_PURPOSE = "github-preview"
PREVIEW_POLICY_NAME = "pulumi-preview-read-only"
BOUNDARY_PURPOSE_TAG = "permissions-boundary"
# One hour: a PR's previews finish well within it, and a leaked session expires soon.
PREVIEW_MAX_SESSION_SECONDS = 3600
# IAM's quota on the inline policies of one role, all together (IAM user guide, "IAM and AWS STS quotas":
# "Role policy size cannot exceed 10,240 characters"). Whitespace is not counted, so the compact JSON is.
INLINE_ROLE_POLICY_LIMIT = 10_240
# "A managed policy can have up to five versions" (IAM API reference, CreatePolicyVersion).
MAX_POLICY_VERSIONS = 5
# A GitHub owner is letters, digits and single hyphens; a repository name also allows '.' and '_'.
GITHUB_REPOSITORY_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
# The tags the stacks' provider puts on every resource (regionflow.tagging.default_tags): the KMS keys'
# `Environment` and `Project` are what the preview role's key statements are conditioned on.
ENVIRONMENT_TAG = "Environment"
PROJECT_TAG = "Project"


def oidc_provider_arn(account_id: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}"


def preview_role_name(name_prefix: str, environment: str) -> str:
    """``<prefix>-<environment>-github-preview``: at most 32 + 1 + 10 + 15 = 58 characters, within IAM's 64."""
    return checked_name(NameKind.IAM_ROLE, f"{family_prefix(name_prefix, environment)}{PREVIEW_ROLE_PURPOSE}")


def preview_role_arn(account_id: str, name_prefix: str, environment: str) -> str:
    return f"arn:{PARTITION}:iam::{account_id}:role/{preview_role_name(name_prefix, environment)}"


def pull_request_subject(repository: str) -> str:
    """The ``sub`` claim of a pull_request workflow run (GitHub docs, "OpenID Connect reference", example
    subject claims: ``repo:ORG-NAME/REPO-NAME:pull_request``)."""
    return f"repo:{repository}:pull_request"


def preview_trust_document(account_id: str, repository: str) -> str:
    """Only this repository's pull-request runs, through GitHub's provider, with the STS audience."""
    statement = iam.Statement(
        sid="GitHubPullRequestsOfThisRepository",
        principals=[iam.Principal("Federated", [oidc_provider_arn(account_id)])],
        actions=["sts:AssumeRoleWithWebIdentity"],
        conditions=[
            # StringEquals on both claims: an exact subject, never a StringLike pattern that would also let
            # branches, environments or other repositories in.
            iam.Condition("StringEquals", f"{GITHUB_OIDC_HOST}:aud", [STS_AUDIENCE]),
            iam.Condition("StringEquals", f"{GITHUB_OIDC_HOST}:sub", [pull_request_subject(repository)]),
        ],
        kind="trust",
    )
    return iam.plain_policy_document([statement])


@dataclass(frozen=True)
class Backend:
    """What the preview role reads of the state backend (all known once bootstrap has made it)."""

    bucket: str
    state_key_arn: str
    secrets_key_arn: str


def preview_state_statements(backend: Backend, projects: Sequence[str]) -> list[iam.Statement]:
    """Read-only state access, with the semantics of permissions.state_statements(read_projects=...).

    That builder renders pulumi Outputs; this one plain strings for boto3. A preview (also with
    ``--refresh``) takes no lock in the self-managed backend (pulumi/pulumi pkg/backend/diy/backend.go:
    Preview runs without b.Lock), so nothing is written. It reads meta.yaml and lists ``.pulumi/stacks/``
    (diy meta.go, backend.go), and reads the checkpoints of every project's stacks: its own and those its
    StackReferences name (pkg/backend/backend.go GetStackOutputs).
    """
    bucket_arn = f"arn:{PARTITION}:s3:::{backend.bucket}"
    objects = [META_OBJECT, *sorted({f"{STATE_PREFIX}stacks/{project}/*" for project in projects})]
    return [
        iam.Statement(sid="ListStateBucket", actions=["s3:ListBucket", "s3:GetBucketLocation"], resources=[bucket_arn]),
        iam.Statement(
            sid="ReadStateOfStacks",
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[f"{bucket_arn}/{key}" for key in objects],
        ),
        # SSE-KMS on the state bucket: reading an object decrypts it with the state key.
        iam.Statement(sid="UseStateKey", actions=["kms:Decrypt"], resources=[backend.state_key_arn]),
        # awskms: opening a stack decrypts its data key (pulumi/pulumi pkg/secrets/cloud/manager.go).
        iam.Statement(sid="DecryptStackSecrets", actions=["kms:Decrypt"], resources=[backend.secrets_key_arn]),
    ]


def stack_key_conditions(name_prefix: str, environment: str, projects: Sequence[str]) -> list[iam.Condition]:
    """Which KMS keys are the stacks' own: attribute-based, because their ARNs do not exist yet.

    The regional keys are created by the stacks after bootstrap, and a key ARN ends in a generated ID, so
    no Resource can name them. KMS supports ``aws:ResourceTag/<key>`` in IAM policies for operations on an
    existing key (KMS developer guide, "Use tags to control access to KMS keys", part of "ABAC for AWS
    KMS"), and ``kms:ResourceAliases`` for the aliases a key has (KMS developer guide, "Use aliases to
    control access to KMS keys"); the Service Authorization Reference lists both on the ``key`` resource.
    So: keys that the stacks' provider tagged with this environment and one of the repository's Pulumi
    projects (regionflow.tagging.default_tags), and that carry an alias of this name family. The
    name prefix is in no tag, so the alias condition is what keeps another family of the same environment out.
    """
    return [
        iam.Condition("StringEquals", f"aws:ResourceTag/{ENVIRONMENT_TAG}", [environment]),
        iam.Condition("StringEquals", f"aws:ResourceTag/{PROJECT_TAG}", sorted(set(projects))),
        iam.Condition(
            "ForAnyValue:StringLike", "kms:ResourceAliases", [f"alias/{family_prefix(name_prefix, environment)}*"]
        ),
    ]


def preview_policy_statements(
    account_id: str,
    name_prefix: str,
    environment: str,
    backend: Backend,
    projects: Sequence[str],
    read_roles: Sequence[str] = (),
) -> list[iam.Statement]:
    """The preview role's inline policy: read what a refresh reads, read state, decrypt; change nothing.

    ``read_roles``: the read roles of the accounts the pipeline deploys into besides this one, by exact ARN
    (regionflow.accounts.read_role_arn); the role may assume those and no other role.
    """
    prefix = family_prefix(name_prefix, environment)
    keys = f"arn:{PARTITION}:kms:*:{account_id}:key/*"
    stack_keys = stack_key_conditions(name_prefix, environment, projects)
    return [
        *read_scope_statements(lambda pattern: fill_pattern(pattern, account_id, prefix)),
        iam.Statement(
            sid="ReadStackKeys",
            # A key's refresh (terraform-provider-aws internal/service/kms/key.go findKeyInfo).
            actions=KEY_READ_ACTIONS,
            resources=[keys],
            conditions=stack_keys,
        ),
        iam.Statement(
            sid="DecryptFunctionEnvironments",
            # GetFunction returns an environment encrypted with a customer managed key in clear only to a
            # caller that may decrypt it (Lambda developer guide, "Securing Lambda environment variables").
            actions=["kms:Decrypt"],
            resources=[keys],
            conditions=[*stack_keys, iam.Condition("StringLike", "kms:ViaService", ["lambda.*.amazonaws.com"])],
        ),
        # aws.kms.Alias is refreshed through ListAliases, which has no resource type (iam.UNSCOPABLE_ACTIONS).
        iam.Statement(sid="ListKeyAliases", actions=["kms:ListAliases"], resources=["*"]),
        *preview_state_statements(backend, projects),
        *([assume_statement("AssumeTargetReadRoles", list(read_roles))] if read_roles else []),
    ]


def preview_policy_document(
    account_id: str,
    name_prefix: str,
    environment: str,
    backend: Backend,
    projects: Sequence[str],
    read_roles: Sequence[str] = (),
) -> str:
    return iam.plain_policy_document(
        preview_policy_statements(account_id, name_prefix, environment, backend, projects, read_roles)
    )


# --- comparing documents ---------------------------------------------------------------------------

_LIST_ELEMENTS = ("Action", "NotAction", "Resource", "NotResource")


def boundary_problem(label: str, role_name: str, role: dict[str, Any], boundary_arn: str) -> str | None:
    """The line to report when an existing role (``iam.get_role``'s Role) lacks regionflow's boundary."""
    boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    if boundary == boundary_arn:
        return None
    what = "has no permissions boundary" if boundary is None else f"has the permissions boundary {boundary}"
    return (
        f"{label}: {what}; attach regionflow's: `aws iam put-role-permissions-boundary --role-name {role_name} "
        f"--permissions-boundary {boundary_arn}`"
    )


def foreign_policy_problems(
    iam_client: Any, label: str, role_name: str, own_policy: str, holds: str
) -> tuple[list[str], list[str]]:
    """What an existing role holds besides its own inline policy, as lines to report; and its inline policy names.

    Bootstrap never detaches or deletes them itself: each line says the command. ``holds`` says what the
    role must hold only ("its read-only inline policy").
    """
    problems: list[str] = []
    attached = [p["PolicyArn"] for p in iam_client.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]]
    if attached:
        problems.append(
            f"{label}: has managed policies attached ({', '.join(sorted(attached))}); it must hold only {holds}: "
            f"`aws iam detach-role-policy --role-name {role_name} --policy-arn <arn>`"
        )
    inline = iam_client.list_role_policies(RoleName=role_name)["PolicyNames"]
    others = sorted(set(inline) - {own_policy})
    if others:
        problems.append(
            f"{label}: has inline policies bootstrap does not grant ({', '.join(others)}): "
            f"`aws iam delete-role-policy --role-name {role_name} --policy-name <name>`"
        )
    return problems, inline


def parse_document(document: str | dict[str, Any]) -> dict[str, Any]:
    """A policy document as IAM or boto3 returns it: a dict (botocore decodes them), JSON, or URL-encoded JSON."""
    if isinstance(document, dict):
        return document
    text = document if document.lstrip().startswith("{") else urllib.parse.unquote(document)
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def _as_sorted_list(value: Any) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    return sorted({str(v) for v in values})


def _normal_statement(statement: dict[str, Any]) -> dict[str, Any]:
    normal: dict[str, Any] = {}
    for key, value in statement.items():
        if key == "Sid":
            continue  # a label: it changes nothing IAM decides
        if key in _LIST_ELEMENTS:
            values = _as_sorted_list(value)
            # Action names are case-insensitive in IAM (IAM JSON policy reference, "Action").
            normal[key] = sorted({v.lower() for v in values}) if key in ("Action", "NotAction") else values
        elif key == "Principal" and isinstance(value, dict):
            normal[key] = {kind: _as_sorted_list(ids) for kind, ids in sorted(value.items())}
        elif key == "Condition" and isinstance(value, dict):
            normal[key] = {
                # Condition key names are case-insensitive (IAM JSON policy reference, "Condition").
                operator: {name.lower(): _as_sorted_list(values) for name, values in sorted(block.items())}
                for operator, block in sorted(value.items())
            }
        else:
            normal[key] = value
    return normal


def normalized(document: str | dict[str, Any]) -> dict[str, Any]:
    """A canonical form in which two documents are equal exactly when IAM reads them the same way.

    One value or a list of one, the order of actions, resources, condition values and statements, a
    statement's Sid and the case of action and condition key names do not change what a policy means.
    """
    parsed = parse_document(document)
    statements = parsed.get("Statement", [])
    listed = statements if isinstance(statements, list) else [statements]
    normal_statements = sorted((_normal_statement(s) for s in listed), key=lambda s: json.dumps(s, sort_keys=True))
    return {"Version": parsed.get("Version"), "Statement": normal_statements}


def same_policy(left: str | dict[str, Any], right: str | dict[str, Any]) -> bool:
    return normalized(left) == normalized(right)


def trust_problems(actual: str | dict[str, Any], account_id: str, repository: str) -> list[str]:
    """Why an existing preview role's trust policy is not the expected one (empty when it is)."""
    expected = preview_trust_document(account_id, repository)
    if same_policy(actual, expected):
        return []
    subject_key = f"{GITHUB_OIDC_HOST}:sub"
    reasons: list[str] = []
    for statement in normalized(actual)["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        for operator, block in statement.get("Condition", {}).items():
            for value in block.get(subject_key, []):
                if "*" in value or "?" in value or operator.lower().startswith("stringlike"):
                    reasons.append(f"{operator} {subject_key} {value!r} admits more than this repository's PRs")
                elif value != pull_request_subject(repository):
                    reasons.append(f"{subject_key} is {value!r}, not {pull_request_subject(repository)!r}")
        if not any(subject_key in block for block in statement.get("Condition", {}).values()):
            reasons.append("a statement allows without a sub condition, i.e. any workflow of any repository")
    return reasons or ["it differs from the expected one"]
