"""Regions in their owners' accounts: the names and grants that connect a target account to the pipeline account.

The pipeline, its CodeBuild projects, the Pulumi state and the ``awskms`` secrets key stay in the pipeline
account (the account of ``stateKeyArn``). A regional stack may live in another account, the *target account*,
prepared once by ``regionflow bootstrap --target`` (docs/accounts.md). Everything here is a pure function of
plain strings, so the pipeline stack, the regional stacks, the target bootstrap, the policy rules and
``regionflow iam-check`` all compute the same names.

How a build reaches the target account (docs/accounts.md, "How the pipeline reaches your account"):

* A cross-account regional stack's AWS provider names the shared-config profile ``regionflow-<account>``
  (:func:`profile_name`); a constant of the stack's config, so every run computes the same provider inputs and
  nothing differs between a hand deploy, the pipeline, drift detection and a pull-request preview.
* What that profile holds is each runner's business: the pipeline's builds write ``role_arn`` = the target
  role and ``credential_source = EcsContainer`` (AWS SDKs and Tools reference guide, "Assume role credential
  provider"), a region owner points it at their own credentials.
* The Pulumi CLI itself (the S3 backend and the ``awskms`` secrets provider) keeps the ambient credentials, the
  build's own role in the pipeline account: the backend and secrets URLs are unchanged.

Trusts and resource policies in the target account name the pipeline account's roles in an ``aws:PrincipalArn``
condition on the pipeline account's principal, never the bare account root: IAM, S3 and KMS refuse a policy
whose principal ARN names a role that does not exist yet ("Invalid principal in policy"; IAM user guide,
"AWS JSON policy elements: Principal", roles as principals), and a region's stack and its target bootstrap
come *before* the pipeline stack creates that region's deploy build role.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from regionflow import iam
from regionflow.naming import NameKind, Namer, checked_name
from regionflow.regions import PARTITION

ACCOUNT_PATTERN = re.compile(r"^\d{12}$")
PROFILE_PREFIX = "regionflow-"
PROFILE_PATTERN = re.compile(rf"^{PROFILE_PREFIX}(?P<account>\d{{12}})$")

# Roles the target bootstrap creates per region, named <prefix>-<env>-<region code>-<purpose>.
TARGET_DEPLOY_PURPOSE = "pipeline-deploy"
TARGET_READ_PURPOSE = "pipeline-read"
TARGET_INVOKE_PURPOSE = "pipeline-invoke"
TARGET_PURPOSES: tuple[str, ...] = (TARGET_DEPLOY_PURPOSE, TARGET_READ_PURPOSE, TARGET_INVOKE_PURPOSE)

# What CodePipeline's cross-account guide grants the pipeline account on an artifact store ("Create a pipeline in
# CodePipeline that uses resources from another AWS account": the bucket policy allows s3:Get*/s3:Put* on the
# objects and s3:ListBucket on the bucket; the key policy the KMS actions below). Listed, never wildcards.
ARTIFACT_OBJECT_ACTIONS: tuple[str, ...] = ("s3:GetObject", "s3:GetObjectVersion", "s3:PutObject")
# GetBucketVersioning: the pipeline role reads it for every artifact store (pipeline.pipeline_role_statements).
ARTIFACT_BUCKET_ACTIONS: tuple[str, ...] = ("s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucket")
ARTIFACT_KEY_ACTIONS: tuple[str, ...] = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)


def is_account(value: object) -> bool:
    return isinstance(value, str) and bool(ACCOUNT_PATTERN.match(value))


def profile_name(account: str) -> str:
    """The shared-config profile a cross-account stack's provider uses: ``regionflow-<account>``."""
    return f"{PROFILE_PREFIX}{account}"


def account_of_profile(profile: str) -> str | None:
    match = PROFILE_PATTERN.match(profile)
    return match["account"] if match else None


def role_arn(account: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:role/{name}"


def account_root(account: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:root"


def target_role_name(name_prefix: str, environment: str, region: str, purpose: str) -> str:
    return Namer(name_prefix, environment, region).name(NameKind.IAM_ROLE, purpose)


def target_role_arn(account: str, name_prefix: str, environment: str, region: str, purpose: str) -> str:
    return role_arn(account, target_role_name(name_prefix, environment, region, purpose))


def read_role_name(name_prefix: str, environment: str) -> str:
    """The target account's one read-only role (previews and drift of every region there): no region code."""
    return checked_name(NameKind.IAM_ROLE, f"{name_prefix}-{environment}-{TARGET_READ_PURPOSE}")


def read_role_arn(account: str, name_prefix: str, environment: str) -> str:
    return role_arn(account, read_role_name(name_prefix, environment))


def profile_pairs(profiles: dict[str, str]) -> str:
    """``account=roleArn`` pairs as the pipeline's builds pass them to scripts/common.sh (write_target_profiles)."""
    return " ".join(f"{account}={arn}" for account, arn in sorted(profiles.items()))


def assume_statement(sid: str, role_arns: list[str]) -> iam.Statement:
    """Let a pipeline account role assume the named target account roles, and nothing else."""
    return iam.Statement(sid=sid, actions=["sts:AssumeRole"], resources=sorted(role_arns))


# -- the pipeline account's roles, by the names the pipeline stack gives them ------------------------------------


def pipeline_role_arn(pipeline_account: str, name_prefix: str, environment: str, home_region: str) -> str:
    """The CodePipeline service role (components/pipeline/pipeline.py: ``<home base>-pipeline``)."""
    return role_arn(pipeline_account, Namer(name_prefix, environment, home_region).name(NameKind.IAM_ROLE, "pipeline"))


def build_role_arn(pipeline_account: str, name_prefix: str, environment: str, region: str, purpose: str) -> str:
    """A CodeBuild project's role (components/pipeline/build_project.py: ``<region base>-<purpose>``)."""
    return role_arn(pipeline_account, Namer(name_prefix, environment, region).name(NameKind.IAM_ROLE, purpose))


def github_preview_role_arn(pipeline_account: str, name_prefix: str, environment: str) -> str:
    """The pull-request preview role `regionflow bootstrap --github-repository` makes (bootstrap_iam)."""
    name = checked_name(NameKind.IAM_ROLE, f"{name_prefix}-{environment}-github-preview")
    return role_arn(pipeline_account, name)


def deploy_principals(pipeline_account: str, name_prefix: str, environment: str, region: str) -> list[str]:
    """Who may assume a region's deploy role: exactly the pipeline's deploy build of that region."""
    return [build_role_arn(pipeline_account, name_prefix, environment, region, "deploy")]


def read_principals(pipeline_account: str, name_prefix: str, environment: str, home_region: str) -> list[str]:
    """Who may assume a region's read role: the Preview build, drift detection and the pull-request previews."""
    return sorted(
        [
            build_role_arn(pipeline_account, name_prefix, environment, home_region, "preview"),
            build_role_arn(pipeline_account, name_prefix, environment, home_region, "drift"),
            github_preview_role_arn(pipeline_account, name_prefix, environment),
        ]
    )


def invoke_principals(pipeline_account: str, name_prefix: str, environment: str, home_region: str) -> list[str]:
    """Who may assume a region's invoke role: the pipeline's service role (CodePipeline assumes action roles)."""
    return [pipeline_role_arn(pipeline_account, name_prefix, environment, home_region)]


def artifact_principals(
    pipeline_account: str, name_prefix: str, environment: str, home_region: str, region: str
) -> list[str]:
    """Who uses a target region's artifact store: the pipeline role (it copies the source artifact into the
    region's store and reads it back) and the region's deploy build (it reads the source artifact)."""
    return sorted(
        {
            pipeline_role_arn(pipeline_account, name_prefix, environment, home_region),
            build_role_arn(pipeline_account, name_prefix, environment, region, "deploy"),
        }
    )


def principal_arn_condition(principals: list[str]) -> iam.Condition:
    """The exact roles, compared as ARNs (``ArnEquals aws:PrincipalArn``; IAM user guide, global condition keys)."""
    return iam.Condition("ArnEquals", "aws:PrincipalArn", list(principals))


def trust_document(pipeline_account: str, principals: list[str]) -> str:
    """A target role's trust: the pipeline account, and of it only the named roles (see the module docstring)."""
    return iam.plain_policy_document(
        [
            iam.Statement(
                sid="PipelineAccountRoles",
                principals=[iam.Principal("AWS", [account_root(pipeline_account)])],
                actions=["sts:AssumeRole"],
                conditions=[principal_arn_condition(principals)],
                kind="trust",
            )
        ]
    )


# -- what the repository's stack files say about accounts ------------------------------------------------------

DEFAULT_NAME_PREFIX = "rflow"  # regionflow.config's default namePrefix
PIPELINE_FOLDER = "pipeline"  # stacks/pipeline: the pipeline project (regionflow.offline.discovery.PROJECT_ORDER)


def _as_account(value: object) -> str | None:
    text = str(value) if isinstance(value, int) else value  # YAML reads an unquoted ID as a number
    return text if isinstance(text, str) and is_account(text) else None


def pipeline_target_accounts(root: Path, name_prefix: str, environment: str) -> tuple[str, ...]:
    """The other accounts the repository's pipeline stacks of this name family deploy into, sorted.

    Read from every ``stacks/pipeline/Pulumi.<stack>.yaml`` whose ``environment`` and ``namePrefix`` are these:
    the ``account`` of its ``secondaryStacks`` entries, without the pipeline's own account (the account of its
    ``stateKeyArn``; an entry naming it is single-account, regionflow.pipeline_config). ``regionflow bootstrap
    --github-repository`` grants the pull-request preview role exactly these accounts' read roles, and
    ``regionflow iam-check`` judges that role from the same list. Unreadable stack files give no accounts (the
    offline preview reports them, one line each).
    """
    from regionflow.offline.discovery import DiscoveryError, discover_stacks

    try:
        targets = discover_stacks(root / "stacks")
    except DiscoveryError:
        return ()
    found: set[str] = set()
    for target in targets:
        if target.folder != PIPELINE_FOLDER:
            continue
        config = target.config
        project = target.project
        if config.get(f"{project}:environment") != environment:
            continue
        if (config.get(f"{project}:namePrefix") or DEFAULT_NAME_PREFIX) != name_prefix:
            continue
        state_key = config.get(f"{project}:stateKeyArn", "")
        own = state_key.split(":")[4] if state_key.count(":") >= 5 else None
        try:
            entries = json.loads(config.get(f"{project}:secondaryStacks") or "[]")
        except json.JSONDecodeError:
            continue
        for entry in entries if isinstance(entries, list) else []:
            account = _as_account(entry.get("account")) if isinstance(entry, dict) else None
            if account is not None and account != own:
                found.add(account)
    return tuple(sorted(found))


# -- the pull-request workflow's profile (python -m regionflow.accounts) -----------------------------------------

GITHUB_CREDENTIAL_SOURCE = "Environment"


def stack_target_account(stack_file: Path) -> tuple[str, str, str, str] | None:
    """(project, account, name prefix, environment) of a stack in another account than its pipeline's, else None.

    A regional stack lives in another account when its config names ``account`` and ``pipelineAccount`` and the
    two differ (regionflow.config validates both or neither, and that they differ).
    """
    from regionflow.offline.discovery import discover_stacks

    wanted = stack_file.resolve()
    for target in discover_stacks(wanted.parent.parent):
        if target.stack_file is None or target.stack_file.resolve() != wanted:
            continue
        config, project = target.config, target.project
        account = _as_account(config.get(f"{project}:account"))
        pipeline = _as_account(config.get(f"{project}:pipelineAccount"))
        if account is None or account == pipeline:
            return None
        prefix = config.get(f"{project}:namePrefix") or DEFAULT_NAME_PREFIX
        return project, account, prefix, config.get(f"{project}:environment", "")
    raise FileNotFoundError(f"{stack_file}: not a stack file (stacks/<project>/Pulumi.<stack>.yaml)")


def profile_section(account: str, role: str, credential_source: str, session_name: str) -> str:
    """One shared-config profile that assumes ``role`` with credentials from ``credential_source``.

    AWS SDKs and Tools reference guide, "Assume role credential provider": ``role_arn`` with ``credential_source``
    = ``Environment`` (the environment variables' keys), ``Ec2InstanceMetadata`` or ``EcsContainer``; the same
    profile scripts/common.sh (write_target_profiles) writes in the pipeline's builds, with ``EcsContainer``.
    """
    return (
        f"[profile {profile_name(account)}]\n"
        f"role_arn = {role}\n"
        f"credential_source = {credential_source}\n"
        f"role_session_name = {session_name}\n"
    )


def write_github_profile(stack_file: Path, config_file: Path, github_env: Path | None, out: TextIO) -> int:
    """The pull-request workflow's step before ``pulumi preview`` of one stack (.github/workflows/preview.yml).

    For a stack in another account it writes ``regionflow-<account>`` with ``role_arn`` = that account's read role
    (``regionflow bootstrap --target`` makes it; its trust admits the pull-request preview role) and
    ``credential_source = Environment``: aws-actions/configure-aws-credentials exports the preview role's
    credentials as environment variables (its README, option ``output-env-credentials``, default true), and the
    AWS provider's SDK assumes the read role with them. The provider names the profile, and a profile set in
    code wins over keys in the environment (hashicorp/aws-sdk-go-base credentials.go passes it as
    ``config.WithSharedConfigProfile``; aws/aws-sdk-go-v2 config/resolve_credentials.go resolves a profile set
    that way before the environment's keys, and ``credential_source = Environment`` then reads those keys). The
    Pulumi CLI's backend and secrets provider name no profile: they keep the preview role, in the pipeline account.
    ``AWS_CONFIG_FILE`` goes to ``github_env`` (GitHub's ``$GITHUB_ENV``) for the steps after this one.
    """
    try:
        found = stack_target_account(stack_file)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=out)
        return 2
    if found is None:
        print(f"{stack_file}: the stack is in the pipeline's account; no profile needed", file=out)
        return 0
    _project, account, prefix, environment = found
    role = read_role_arn(account, prefix, environment)
    session = f"regionflow-pr-{os.environ.get('GITHUB_RUN_ID', 'preview')}"
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(profile_section(account, role, GITHUB_CREDENTIAL_SOURCE, session))
    if github_env is not None:
        with github_env.open("a") as env:
            env.write(f"AWS_CONFIG_FILE={config_file}\n")
    print(f"{stack_file}: profile {profile_name(account)} assumes {role} (written to {config_file})", file=out)
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m regionflow.accounts",
        description="Write the AWS profile regionflow-<account> a stack in another account needs (docs/accounts.md).",
    )
    parser.add_argument("--stack-file", type=Path, required=True, help="stacks/<project>/Pulumi.<stack>.yaml")
    parser.add_argument("--config-file", type=Path, required=True, help="the AWS config file to write")
    parser.add_argument("--github-env", type=Path, help="append AWS_CONFIG_FILE=<config file> here ($GITHUB_ENV)")
    args = parser.parse_args(argv)
    return write_github_profile(args.stack_file, args.config_file, args.github_env, out)


if __name__ == "__main__":
    raise SystemExit(main())
