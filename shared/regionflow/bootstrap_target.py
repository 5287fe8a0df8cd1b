"""``regionflow bootstrap --target``: prepare a region owner's account for the pipeline of another account.

Run once per target account and region by an administrator of the target account (docs/accounts.md). It
creates, with boto3, idempotently, and only when nothing that exists is misconfigured (report, never change):

* the permissions boundary of this account (:mod:`regionflow.boundary`, the same pure document as the pipeline
  account's; every role here and every role a deploy creates here carries it);
* ``<prefix>-<env>-<code>-pipeline-deploy``: what ``pulumi up`` of the region's stack needs
  (``permissions.regional_deploy_statements``, the same statements a same-account deploy build holds), trusted
  only by the pipeline's deploy build of that region;
* ``<prefix>-<env>-pipeline-read``: what ``pulumi preview --refresh`` reads (``read_scopes``), for the Preview
  build, drift detection and the pull-request previews of the pipeline account;
* ``<prefix>-<env>-<code>-pipeline-invoke``: the logger Invoke action's role (``lambda:InvokeFunction`` on the
  region's logger), trusted only by the pipeline's service role.

Trusts name the pipeline account as principal and its exact roles in ``ArnEquals aws:PrincipalArn``
(regionflow.accounts explains why not the role ARNs as principals: those roles do not exist yet). The region's
KMS key does not exist yet either (its owner's first ``pulumi up`` makes it), so the key statements are scoped
by the key's alias family (``kms:ResourceAliases``, KMS developer guide, "Use aliases to control access to KMS
keys") instead of an ARN.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from regionflow import bootstrap_iam, iam
from regionflow.accounts import (
    TARGET_DEPLOY_PURPOSE,
    TARGET_INVOKE_PURPOSE,
    deploy_principals,
    invoke_principals,
    is_account,
    profile_name,
    read_principals,
    read_role_arn,
    read_role_name,
    target_role_arn,
    target_role_name,
    trust_document,
)
from regionflow.boundary import boundary_arn, boundary_document, boundary_name
from regionflow.config import ENVIRONMENT_PATTERN, NAME_PREFIX_PATTERN
from regionflow.naming import NameKind, Namer
from regionflow.read_scopes import KEY_READ_ACTIONS, fill_pattern, read_scope_statements
from regionflow.regions import PARTITION, SUPPORTED_REGIONS

DEPLOY_POLICY_NAME = "pulumi-up"
READ_POLICY_NAME = "pulumi-preview-read-only"
INVOKE_POLICY_NAME = "invoke-deployment-logger"
MAX_SESSION_SECONDS = 3600


class TargetInputError(ValueError):
    """A bad argument: the message names it and says how to fix it."""


@dataclass(frozen=True)
class TargetRequest:
    region: str  # the region whose stack lives in this account
    name_prefix: str
    environment: str
    trust_account: str  # the pipeline account
    home_region: str  # the pipeline's home region (its primary stack's)
    account_id: str | None = None  # the expected account of the credentials

    def validate(self) -> None:
        for flag, value in (("--region", self.region), ("--home-region", self.home_region)):
            if value not in SUPPORTED_REGIONS:
                raise TargetInputError(f"{flag} {value!r} is not a supported AWS region, e.g. eu-west-1")
        if not NAME_PREFIX_PATTERN.match(self.name_prefix):
            raise TargetInputError(f"--name-prefix {self.name_prefix!r} must be the stacks' namePrefix, e.g. rflow")
        if not ENVIRONMENT_PATTERN.match(self.environment):
            raise TargetInputError(f"--environment {self.environment!r} must be 2-10 lowercase letters or digits")
        if not is_account(self.trust_account):
            raise TargetInputError(f"--trust-account {self.trust_account!r} must be the pipeline's 12-digit account")
        if self.account_id is not None and not is_account(self.account_id):
            raise TargetInputError(f"--account-id {self.account_id!r} must be 12 digits")


@dataclass(frozen=True)
class RoleSpec:
    name: str
    arn: str
    what: str
    trust: str
    policy_name: str
    policy: str


@dataclass
class TargetResult:
    request: TargetRequest
    account: str = ""
    boundary_arn: str = ""
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # what -> ARN

    @property
    def ok(self) -> bool:
        return not self.problems


def _scope_key_statements(
    statements: list[iam.Statement], key: str, conditions: list[iam.Condition]
) -> list[iam.Statement]:
    """Each statement naming the key pattern split: the key with ``conditions``, the rest (aliases) as they were."""
    scoped: list[iam.Statement] = []
    for statement in statements:
        if key not in statement.resources:
            scoped.append(statement)
            continue
        scoped.append(
            iam.Statement(
                sid=statement.sid,
                actions=statement.actions,
                resources=[key],
                conditions=[*statement.conditions, *conditions],
            )
        )
        rest = [r for r in statement.resources if r != key]
        if rest:
            scoped.append(iam.Statement(sid=f"{statement.sid}Aliases", actions=statement.actions, resources=rest))
    return scoped


def deploy_policy(account: str, request: TargetRequest) -> str:
    """`pulumi up` of the region's stack, as a same-account deploy build may (regional_deploy_statements)."""
    from regionflow.components.pipeline.permissions import regional_deploy_statements

    namer = Namer(request.name_prefix, request.environment, request.region)
    key = f"arn:{PARTITION}:kms:{request.region}:{account}:key/*"
    boundary = boundary_arn(account, request.name_prefix, request.environment)
    statements = regional_deploy_statements(namer, account, key, boundary, home_region=False)
    # The region's key: only keys with an alias of this region's family (the artifact key's alias/<base>-artifacts).
    aliases = [iam.Condition("ForAnyValue:StringLike", "kms:ResourceAliases", [f"alias/{namer.base}-*"])]
    return iam.plain_policy_document(_scope_key_statements(statements, key, aliases))


def read_policy(account: str, request: TargetRequest) -> str:
    """``pulumi preview --refresh`` of this account's stacks: the pull-request preview role's reads, without state."""
    prefix = f"{request.name_prefix}-{request.environment}-"
    keys = f"arn:{PARTITION}:kms:*:{account}:key/*"
    aliases = [iam.Condition("ForAnyValue:StringLike", "kms:ResourceAliases", [f"alias/{prefix}*"])]
    return iam.plain_policy_document(
        [
            *read_scope_statements(lambda pattern: fill_pattern(pattern, account, prefix)),
            iam.Statement(sid="ReadStackKeys", actions=KEY_READ_ACTIONS, resources=[keys], conditions=aliases),
            iam.Statement(
                sid="DecryptFunctionEnvironments",
                actions=["kms:Decrypt"],
                resources=[keys],
                conditions=[*aliases, iam.Condition("StringLike", "kms:ViaService", ["lambda.*.amazonaws.com"])],
            ),
            iam.Statement(sid="ListKeyAliases", actions=["kms:ListAliases"], resources=["*"]),
        ]
    )


def invoke_policy(account: str, request: TargetRequest) -> str:
    namer = Namer(request.name_prefix, request.environment, request.region)
    function = namer.name(NameKind.LAMBDA_FUNCTION, "deploy-logger")
    return iam.plain_policy_document(
        [
            iam.Statement(
                sid="InvokeDeploymentLogger",
                actions=["lambda:InvokeFunction"],
                resources=[f"arn:{PARTITION}:lambda:{request.region}:{account}:function:{function}"],
            )
        ]
    )


def role_specs(account: str, request: TargetRequest) -> list[RoleSpec]:
    p, e, r, home, pipeline = (
        request.name_prefix,
        request.environment,
        request.region,
        request.home_region,
        request.trust_account,
    )
    return [
        RoleSpec(
            target_role_name(p, e, r, TARGET_DEPLOY_PURPOSE),
            target_role_arn(account, p, e, r, TARGET_DEPLOY_PURPOSE),
            "deploy role",
            trust_document(pipeline, deploy_principals(pipeline, p, e, r)),
            DEPLOY_POLICY_NAME,
            deploy_policy(account, request),
        ),
        RoleSpec(
            read_role_name(p, e),
            read_role_arn(account, p, e),
            "read role",
            trust_document(pipeline, read_principals(pipeline, p, e, home)),
            READ_POLICY_NAME,
            read_policy(account, request),
        ),
        RoleSpec(
            target_role_name(p, e, r, TARGET_INVOKE_PURPOSE),
            target_role_arn(account, p, e, r, TARGET_INVOKE_PURPOSE),
            "invoke role",
            trust_document(pipeline, invoke_principals(pipeline, p, e, home)),
            INVOKE_POLICY_NAME,
            invoke_policy(account, request),
        ),
    ]


def target_tags(request: TargetRequest, purpose: str) -> list[dict[str, str]]:
    """The tags the target bootstrap puts on what it creates (``purpose``: e.g. "deploy-role")."""
    return [
        {"Key": "ManagedBy", "Value": "regionflow-bootstrap"},
        {"Key": "Environment", "Value": request.environment},
        {"Key": "Purpose", "Value": purpose},
        {"Key": "PipelineAccount", "Value": request.trust_account},
    ]


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class TargetBootstrapper:
    """Inspects, then (only when nothing is wrong) creates the target account's boundary and roles."""

    def __init__(self, request: TargetRequest, *, sts: Any, iam_client: Any) -> None:
        self.request = request
        self.sts = sts
        self.iam = iam_client

    def run(self) -> TargetResult:
        request = self.request
        request.validate()
        account = str(self.sts.get_caller_identity()["Account"])
        if request.account_id is not None and request.account_id != account:
            raise TargetInputError(
                f"--account-id {request.account_id} does not match the credentials' account {account}; "
                "use credentials of the region's account"
            )
        if account == request.trust_account:
            raise TargetInputError(
                f"the credentials are of the pipeline account {account}: run --target with the region owner's "
                "account, or keep the region in the pipeline account (plain `regionflow bootstrap`)"
            )
        result = TargetResult(request, account=account)
        result.boundary_arn = boundary_arn(account, request.name_prefix, request.environment)
        specs = role_specs(account, request)
        boundary_exists = self._inspect_boundary(result)
        missing = [spec for spec in specs if self._inspect_role(spec, result)]
        if not result.ok:
            return result  # report only: nothing is created next to something misconfigured
        if not boundary_exists:
            self.iam.create_policy(
                PolicyName=boundary_name(request.name_prefix, request.environment),
                PolicyDocument=boundary_document(account, request.name_prefix, request.environment),
                Description=f"Boundary of every regionflow role ({request.name_prefix}-{request.environment})",
                Tags=self._tags("permissions-boundary"),
            )
            result.created.append(f"permissions boundary {result.boundary_arn}")
        for spec in missing:
            self.iam.create_role(
                RoleName=spec.name,
                AssumeRolePolicyDocument=spec.trust,
                Description=f"regionflow {spec.what} for the pipeline of account {request.trust_account}",
                MaxSessionDuration=MAX_SESSION_SECONDS,
                PermissionsBoundary=result.boundary_arn,
                Tags=self._tags(spec.what.replace(" ", "-")),
            )
            self.iam.put_role_policy(RoleName=spec.name, PolicyName=spec.policy_name, PolicyDocument=spec.policy)
            result.created.append(f"{spec.what} {spec.arn}")
        result.roles = {spec.what: spec.arn for spec in specs}
        return result

    def _tags(self, purpose: str) -> list[dict[str, str]]:
        return target_tags(self.request, purpose)

    def _inspect_boundary(self, result: TargetResult) -> bool:
        request = self.request
        try:
            policy = self.iam.get_policy(PolicyArn=result.boundary_arn)["Policy"]
        except Exception as error:
            if _error_code(error) == "NoSuchEntity":
                return False
            raise
        result.existing.append(f"permissions boundary {result.boundary_arn}")
        version = str(policy["DefaultVersionId"])
        document = self.iam.get_policy_version(PolicyArn=result.boundary_arn, VersionId=version)["PolicyVersion"][
            "Document"
        ]
        expected = boundary_document(result.account, request.name_prefix, request.environment)
        if not bootstrap_iam.same_policy(document, expected):
            result.problems.append(
                f"permissions boundary {result.boundary_arn}: its default version {version} differs from the document "
                "this regionflow version derives; run `regionflow bootstrap --update-boundary` with this account's "
                "--region, --name-prefix and --environment to make it the new default version"
            )
        return True

    def _inspect_role(self, spec: RoleSpec, result: TargetResult) -> bool:
        """True when the role is missing; a role that exists but differs is a problem, never changed."""
        try:
            role = self.iam.get_role(RoleName=spec.name)["Role"]
        except Exception as error:
            if _error_code(error) == "NoSuchEntity":
                return True
            raise
        result.existing.append(f"{spec.what} {role['Arn']}")
        label = f"{spec.what} {spec.name}"
        if not bootstrap_iam.same_policy(role["AssumeRolePolicyDocument"], spec.trust):
            result.problems.append(
                f"{label}: its trust policy differs from the pipeline account's exact roles; replace it: "
                f"`aws iam update-assume-role-policy --role-name {spec.name} --policy-document '{spec.trust}'`"
            )
        boundary_problem = bootstrap_iam.boundary_problem(label, spec.name, role, result.boundary_arn)
        if boundary_problem is not None:
            result.problems.append(boundary_problem)
        foreign, inline = bootstrap_iam.foreign_policy_problems(
            self.iam, label, spec.name, spec.policy_name, f"its inline policy {spec.policy_name}"
        )
        result.problems.extend(foreign)
        if spec.policy_name not in inline:
            result.problems.append(
                f"{label}: lacks its inline policy {spec.policy_name}; delete the role (`aws iam delete-role "
                f"--role-name {spec.name}`) and re-run, which creates it whole"
            )
        else:
            actual = self.iam.get_role_policy(RoleName=spec.name, PolicyName=spec.policy_name)["PolicyDocument"]
            if not bootstrap_iam.same_policy(actual, spec.policy):
                result.problems.append(
                    f"{label}: its inline policy {spec.policy_name} differs from what this regionflow version grants; "
                    f"delete it (`aws iam delete-role-policy --role-name {spec.name} --policy-name "
                    f"{spec.policy_name}`) and re-run bootstrap --target, which writes the current one"
                )
        return False


def print_target_result(result: TargetResult, out: Any) -> None:
    for line in result.created:
        print(f"created: {line}", file=out)
    for line in result.existing:
        print(f"exists:  {line}", file=out)
    for line in result.problems:
        print(f"problem: {line}", file=out)
    if not result.ok:
        print(f"{len(result.problems)} problem(s); nothing was created or changed", file=out)
        return
    request = result.request
    account = result.account
    print(f"1. Your stack file (stacks/secondary/Pulumi.{request.environment}-{request.region}.yaml):", file=out)
    print(f"  pulumi config set --cwd stacks/secondary account '{account}'", file=out)
    print(f"  pulumi config set --cwd stacks/secondary pipelineAccount '{request.trust_account}'", file=out)
    print(
        f"2. The AWS profile {profile_name(account)} on every machine that runs this stack by hand "
        "(the pipeline's builds write their own):",
        file=out,
    )
    print(f"  [profile {profile_name(account)}]", file=out)
    print("  # credentials of this account, e.g. sso_session/sso_account_id/sso_role_name, or source_profile", file=out)
    print("3. The pipeline's entry (stacks/pipeline/Pulumi.<stack>.yaml, by the platform team):", file=out)
    print(f"  - stack: organization/regionflow-secondary/{request.environment}-{request.region}", file=out)
    print(f"    region: {request.region}", file=out)
    print(f'    account: "{account}"', file=out)
    print("4. The roles the pipeline uses here:", file=out)
    for what, arn in sorted(result.roles.items()):
        print(f"  {what}: {arn}", file=out)
