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

import re

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
