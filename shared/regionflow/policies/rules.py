"""regionflow's CrossGuard rules: one list, used by the real policy pack and by the offline preview.

Properties are camelCase, as CrossGuard hands them over (``enableKeyRotation``, ``tagsAll``). Resource
rules look at one resource; the S3 and Lambda rules that need a second resource (a bucket's
``BucketVersioning``, a function's ``FunctionEventInvokeConfig``) are stack rules, because in
pulumi-aws 7 those settings are separate resources.

Enforcement levels are chosen per rule: anything that weakens encryption, exposure, least privilege,
cost attribution or the pipeline's safety net is **mandatory**; settings whose defaults work but are
rarely what anyone meant (tracing, AWS's default timeout and memory, a runtime whose end of support is
near) are **advisory**, so they warn without blocking a deployment.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from regionflow.accounts import ARTIFACT_KEY_ACTIONS
from regionflow.components.pipeline.layout import MAX_ACTIONS_PER_STAGE
from regionflow.delivery import (
    APPROVAL_OVERRIDE_TAG,
    APPROVAL_TAG,
    BAKE_TAG,
    MAX_RULES_PER_CONDITION,
    MAX_STAGES_PER_PIPELINE,
    PROTECTED_ENVIRONMENT,
    RULE_NAME_PATTERN,
)
from regionflow.iam import UNSCOPABLE_ACTIONS
from regionflow.policies.documents import (
    DocumentKind,
    MalformedDocumentError,
    as_list,
    parse_document,
    plain,
    policy_documents,
    statements,
)
from regionflow.tagging import REQUIRED_TAG_KEYS, TAGGABLE_TYPES, UNTAGGABLE_TYPES

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KMS_KEY = "aws:kms/key:Key"
SNS_TOPIC = "aws:sns/topic:Topic"
SQS_QUEUE = "aws:sqs/queue:Queue"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FUNCTION = "aws:lambda/function:Function"
EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
CODEBUILD_PROJECT = "aws:codebuild/project:Project"
PIPELINE = "aws:codepipeline/pipeline:Pipeline"

# AWS-managed keys: encryption "with a key", but one whose policy the account cannot control or audit.
AWS_MANAGED_KEY = re.compile(r"^(arn:aws[\w-]*:kms:[\w-]+:\d{12}:)?alias/aws/")

# Lambda runtimes and the date AWS deprecated them, or says it will (Lambda developer guide,
# "Lambda runtimes": supported runtimes with their deprecation dates, and deprecated runtimes).
# After that date the runtime gets no security patches; soon after, AWS blocks creating and then
# updating functions that use it. Reviewed 2026-11; add a runtime here when AWS announces its date.
RUNTIME_DEPRECATION: dict[str, datetime.date] = {
    "nodejs": datetime.date(2016, 10, 31),
    "nodejs4.3": datetime.date(2020, 3, 5),
    "nodejs4.3-edge": datetime.date(2019, 4, 30),
    "nodejs6.10": datetime.date(2019, 8, 12),
    "nodejs8.10": datetime.date(2020, 3, 6),
    "nodejs10.x": datetime.date(2021, 7, 30),
    "nodejs12.x": datetime.date(2023, 3, 31),
    "nodejs14.x": datetime.date(2023, 12, 4),
    "nodejs16.x": datetime.date(2024, 6, 12),
    "nodejs18.x": datetime.date(2025, 9, 1),
    "nodejs20.x": datetime.date(2026, 4, 30),
    "python2.7": datetime.date(2021, 7, 15),
    "python3.6": datetime.date(2022, 7, 18),
    "python3.7": datetime.date(2023, 12, 4),
    "python3.8": datetime.date(2024, 10, 14),
    "python3.9": datetime.date(2025, 12, 15),
    "python3.10": datetime.date(2026, 6, 30),
    "java8": datetime.date(2024, 1, 8),
    "go1.x": datetime.date(2024, 1, 8),
    "provided": datetime.date(2024, 1, 8),
    "ruby2.5": datetime.date(2021, 7, 30),
    "ruby2.7": datetime.date(2023, 12, 7),
    "ruby3.2": datetime.date(2026, 3, 31),
    "dotnetcore1.0": datetime.date(2019, 7, 30),
    "dotnetcore2.0": datetime.date(2019, 5, 30),
    "dotnetcore2.1": datetime.date(2022, 1, 5),
    "dotnetcore3.1": datetime.date(2023, 4, 3),
    "dotnet5.0": datetime.date(2022, 5, 10),
    "dotnet6": datetime.date(2024, 12, 20),
    "dotnet7": datetime.date(2024, 5, 14),
    "dotnet8": datetime.date(2026, 11, 10),
}
RUNTIME_WARNING_DAYS = 180
# What a function gets when nobody set the value (Lambda CreateFunction defaults). The provider
# fills them in before policies run, so "unset" shows up as exactly these values.
LAMBDA_DEFAULT_TIMEOUT_SECONDS = 3
LAMBDA_DEFAULT_MEMORY_MB = 128
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def _get(props: Mapping[str, Any] | None, *path: str | int) -> Any:
    """A nested property, or None when any step is missing (CrossGuard props are dicts and lists)."""
    value: Any = props
    for step in path:
        if isinstance(step, int):
            is_list = isinstance(value, Sequence) and not isinstance(value, str)
            value = value[step] if is_list and len(value) > step else None
        else:
            value = value.get(step) if isinstance(value, Mapping) else None
        if value is None:
            return None
    return plain(value)


def _is_cmk(key: Any) -> bool:
    return isinstance(key, str) and bool(key.strip()) and not AWS_MANAGED_KEY.match(key)


# -- resource rules ----------------------------------------------------------------------------------

ResourceCheck = Callable[[Mapping[str, Any]], Iterable[str]]


def _resource_policy(
    name: str, description: str, level: EnforcementLevel, types: Iterable[str] | None, check: ResourceCheck
) -> Any:
    wanted = frozenset(types) if types is not None else None

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if wanted is not None and args.resource_type not in wanted:
            return
        for message in check(args.props):
            report(message, None)

    return ResourceValidationPolicy(name=name, description=description, enforcement_level=level, validate=validate)


def _kms_rotation(props: Mapping[str, Any]) -> Iterable[str]:
    spec = _get(props, "customerMasterKeySpec") or _get(props, "keySpec") or "SYMMETRIC_DEFAULT"
    usage = _get(props, "keyUsage") or "ENCRYPT_DECRYPT"
    # AWS only rotates symmetric encryption keys; asymmetric and HMAC keys cannot rotate.
    if spec == "SYMMETRIC_DEFAULT" and usage == "ENCRYPT_DECRYPT" and _get(props, "enableKeyRotation") is not True:
        yield "KMS key does not rotate: set enable_key_rotation=True"


def _cmk_property(prop: str, what: str, arg: str) -> ResourceCheck:
    def check(props: Mapping[str, Any]) -> Iterable[str]:
        key = _get(props, prop)
        if not _is_cmk(key):
            shown = f" (uses {key})" if key else ""
            yield f"{what} is not encrypted with a customer-managed KMS key{shown}: set {arg} to the region's key ARN"

    return check


def _log_retention(props: Mapping[str, Any]) -> Iterable[str]:
    days = _get(props, "retentionInDays")
    if not days:
        yield "log group keeps logs forever: set retention_in_days"


def _lambda_tracing(props: Mapping[str, Any]) -> Iterable[str]:
    if _get(props, "tracingConfig", "mode") != "Active":
        yield "Lambda function has no active X-Ray tracing: set tracing_config mode='Active'"


def _lambda_sizing(props: Mapping[str, Any]) -> Iterable[str]:
    timeout = _get(props, "timeout")
    memory = _get(props, "memorySize")
    if timeout is None or timeout == LAMBDA_DEFAULT_TIMEOUT_SECONDS:
        yield f"Lambda function runs with AWS's default timeout ({LAMBDA_DEFAULT_TIMEOUT_SECONDS} s): set timeout"
    if memory is None or memory == LAMBDA_DEFAULT_MEMORY_MB:
        yield f"Lambda function runs with AWS's default memory ({LAMBDA_DEFAULT_MEMORY_MB} MB): set memory_size"


def _deprecation(props: Mapping[str, Any]) -> tuple[str, datetime.date] | None:
    runtime = _get(props, "runtime")
    if _get(props, "packageType") == "Image" or not isinstance(runtime, str):
        return None
    date = RUNTIME_DEPRECATION.get(runtime)
    return (runtime, date) if date is not None else None


def _lambda_runtime_supported(props: Mapping[str, Any]) -> Iterable[str]:
    found = _deprecation(props)
    if found and found[1] <= _today():
        yield f"Lambda runtime {found[0]} was deprecated by AWS on {found[1].isoformat()}: move to a supported runtime"


def _lambda_runtime_ending(props: Mapping[str, Any]) -> Iterable[str]:
    found = _deprecation(props)
    if found and _today() < found[1] <= _today() + datetime.timedelta(days=RUNTIME_WARNING_DAYS):
        yield f"Lambda runtime {found[0]} is deprecated by AWS on {found[1].isoformat()}: plan the upgrade"


def _codebuild_unprivileged(props: Mapping[str, Any]) -> Iterable[str]:
    if _get(props, "environment", "privilegedMode") is True:
        yield "CodeBuild project runs privileged (Docker daemon, root on the host): set privileged_mode=False"


def _documents(resource_type: str, props: Mapping[str, Any]) -> Iterable[tuple[DocumentKind, str, dict[str, Any]]]:
    try:
        for doc in policy_documents(resource_type, props):
            for index, stmt in enumerate(statements(doc.document)):
                label = f"{doc.where} statement {stmt.get('Sid') or index}"
                yield doc.kind, label, stmt
    except MalformedDocumentError as error:
        # A document no rule can read is itself a violation: AWS would reject it too.
        yield DocumentKind.IDENTITY, str(error), {"Effect": "Allow", "Action": "*", "Resource": "*"}


def _allow(stmt: Mapping[str, Any]) -> bool:
    return stmt.get("Effect") == "Allow"


def _wildcard_actions(resource_type: str, props: Mapping[str, Any]) -> Iterable[str]:
    for _kind, label, stmt in _documents(resource_type, props):
        if not _allow(stmt):
            continue  # wildcards in a Deny (e.g. the TLS-only "s3:*") only take away
        if "NotAction" in stmt:
            yield f"{label}: Allow with NotAction grants every other action; list the actions instead"
        for action in as_list(stmt.get("Action")):
            if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                yield f"{label}: Action {action!r} grants a whole service; list the actions needed"


_ACCOUNT_ROOT = re.compile(r"^(?:arn:aws[a-z-]*:iam::)?(\d{12})(?::root)?$")


def _aws_principals(stmt: Mapping[str, Any]) -> list[str]:
    principal = stmt.get("Principal")
    if not isinstance(principal, Mapping):
        return []
    return [str(p) for p in as_list(principal.get("AWS"))]


def _names_exact_roles(stmt: Mapping[str, Any]) -> bool:
    """An ``aws:PrincipalArn`` condition naming roles without wildcards (regionflow.accounts)."""
    for operator, block in (stmt.get("Condition") or {}).items():
        if operator not in ("ArnEquals", "StringEquals") or not isinstance(block, Mapping):
            continue
        for key, values in block.items():
            named = [str(v) for v in as_list(values)]
            if key.lower() == "aws:principalarn" and named and all(":role/" in v and "*" not in v for v in named):
                return True
    return False


def _trust_on_account_root(resource_type: str, props: Mapping[str, Any]) -> Iterable[str]:
    """A trust policy must not let a whole account assume the role: name the roles (aws:PrincipalArn)."""
    for kind, label, stmt in _documents(resource_type, props):
        if kind is not DocumentKind.TRUST or not _allow(stmt):
            continue
        roots = [p for p in _aws_principals(stmt) if _ACCOUNT_ROOT.match(p)]
        if roots and not _names_exact_roles(stmt):
            yield (
                f"{label}: trusts the account root {', '.join(roots)}, i.e. every role of that account; "
                "name the exact roles in an ArnEquals aws:PrincipalArn condition (regionflow.accounts)"
            )


def _key_account(resource_type: str, props: Mapping[str, Any]) -> str | None:
    arn = props.get("arn")
    if isinstance(arn, str) and arn.count(":") >= 5 and arn.split(":")[4]:
        return arn.split(":")[4]
    # A key not created yet: the account whose root administers it (artifact_store.account_administers_key).
    for kind, _label, stmt in _documents(resource_type, props):
        if kind is DocumentKind.KEY and "kms:PutKeyPolicy" in as_list(stmt.get("Action")):
            for principal in _aws_principals(stmt):
                match = _ACCOUNT_ROOT.match(principal)
                if match:
                    return match.group(1)
    return None


def _cross_account_key_grants(resource_type: str, props: Mapping[str, Any]) -> Iterable[str]:
    """Another account may only use a key (encrypt, decrypt), as named roles, never administer it or kms:*."""
    own = _key_account(resource_type, props)
    for kind, label, stmt in _documents(resource_type, props):
        if kind is not DocumentKind.KEY or not _allow(stmt):
            continue
        others = sorted(
            {
                m.group(1)
                for p in _aws_principals(stmt)
                if (m := _ACCOUNT_ROOT.match(p) or re.match(r"^arn:aws[a-z-]*:iam::(\d{12}):", p))
            }
            - {own}
        )
        if not others:
            continue
        actions = [str(a) for a in as_list(stmt.get("Action"))]
        extra = sorted(a for a in actions if a not in ARTIFACT_KEY_ACTIONS)
        if extra or "NotAction" in stmt:
            yield (
                f"{label}: grants account {', '.join(others)} {', '.join(extra) or 'NotAction'} on this key; another "
                f"account may only use it ({', '.join(ARTIFACT_KEY_ACTIONS)})"
            )
        elif any(_ACCOUNT_ROOT.match(p) for p in _aws_principals(stmt)) and not _names_exact_roles(stmt):
            yield f"{label}: grants the whole account {', '.join(others)}; name its roles in aws:PrincipalArn"


def _wildcard_resources(resource_type: str, props: Mapping[str, Any]) -> Iterable[str]:
    for kind, label, stmt in _documents(resource_type, props):
        # A trust policy has no Resource; in a key policy "*" means "this key".
        if not _allow(stmt) or kind in (DocumentKind.TRUST, DocumentKind.KEY):
            continue
        if "NotResource" in stmt:
            yield f"{label}: Allow with NotResource grants every other resource; list the resources instead"
        if "*" in as_list(stmt.get("Resource")):
            unscoped = sorted(str(a) for a in as_list(stmt.get("Action")) if a not in UNSCOPABLE_ACTIONS)
            if unscoped:
                yield (
                    f"{label}: Resource '*' for {', '.join(unscoped)}, which AWS lets us scope "
                    "(only regionflow.iam.UNSCOPABLE_ACTIONS may use '*')"
                )


def _grants_passrole(action: Any) -> bool:
    return isinstance(action, str) and fnmatch.fnmatchcase("iam:passrole", action.lower())


def _passrole_conditioned(resource_type: str, props: Mapping[str, Any]) -> Iterable[str]:
    for _kind, label, stmt in _documents(resource_type, props):
        if not _allow(stmt) or not any(_grants_passrole(a) for a in as_list(stmt.get("Action"))):
            continue
        keys = {
            key.lower()
            for block in (stmt.get("Condition") or {}).values()
            if isinstance(block, Mapping)
            for key in block
        }
        if "iam:passedtoservice" not in keys:
            yield f"{label}: iam:PassRole without an iam:PassedToService condition lets the role go to any service"


MANAGED_POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
POLICY_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)


def _boundary_only(policy: PolicyResource, resources: list[PolicyResource]) -> bool:
    """A managed policy used only as a permissions boundary.

    A boundary grants nothing: it caps what the role's own policies grant (IAM user guide,
    "Permissions boundaries for IAM entities"), so the PassRole condition belongs in those policies,
    which this rule checks. Once the policy is also attached as a grant, it is checked like any other.
    """
    arn = _safe(policy, "arn")
    identities = {arn} if arn else set()
    roles = _of_type(resources, ROLE)
    if not any(_refers_to(role, "permissionsBoundary", policy, identities) for role in roles):
        return False
    attached = any(
        _refers_to(a, "policyArn", policy, identities) for t in POLICY_ATTACHMENTS for a in _of_type(resources, t)
    )
    managed = any(arn and arn in as_list(_safe(role, "managedPolicyArns")) for role in roles)
    return not (attached or managed)


def _passrole_stack(args: StackValidationArgs, report: ReportViolation) -> None:
    for resource in args.resources:
        if resource.resource_type == MANAGED_POLICY and _boundary_only(resource, args.resources):
            continue
        try:
            messages = list(_passrole_conditioned(resource.resource_type, resource.props))
        except UnknownValueError:
            continue  # a document that is unknown during preview is checked at `pulumi up`
        for message in messages:
            report(message, resource.urn)


def _policy_bearing(check: Callable[[str, Mapping[str, Any]], Iterable[str]]) -> Callable[..., None]:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report(message, None)

    return validate


def _effective_tags(args: ResourceValidationArgs) -> dict[str, Any]:
    tags_all = _get(args.props, "tagsAll")
    if isinstance(tags_all, Mapping):
        return dict(tags_all)
    # Without tagsAll (the engine sends inputs), merge the provider's default tags as AWS would.
    defaults: Any = None
    if args.provider is not None:
        defaults = _get(args.provider.props, "defaultTags")
        if isinstance(defaults, str):
            try:
                defaults = json.loads(defaults)
            except json.JSONDecodeError:
                defaults = None
    merged = dict(_get(defaults, "tags") or {}) if isinstance(defaults, Mapping) else {}
    merged.update(_get(args.props, "tags") or {})
    return merged


def _required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in TAGGABLE_TYPES:
        return
    tags = _effective_tags(args)
    missing = [key for key in REQUIRED_TAG_KEYS if not tags.get(key)]
    if missing:
        report(f"missing required tags {', '.join(missing)}: set them in the provider's default_tags", None)


def _tag_coverage_known(args: ResourceValidationArgs, report: ReportViolation) -> None:
    kind = args.resource_type
    if kind.startswith("aws:") and kind not in TAGGABLE_TYPES and kind not in UNTAGGABLE_TYPES:
        report(
            f"{kind} is in neither regionflow.tagging.TAGGABLE_TYPES nor UNTAGGABLE_TYPES, so the tag rule "
            "cannot tell whether it must carry tags: add it to one of them",
            None,
        )


# -- pipeline ---------------------------------------------------------------------------------------


def _stages(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in as_list(_get(props, "stages")) if isinstance(s, Mapping)]


def _actions(stage: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [a for a in as_list(stage.get("actions")) if isinstance(a, Mapping)]


def is_deploy_stage(stage: Mapping[str, Any]) -> bool:
    """A stage that changes an environment: named ``Deploy...`` or holding a Deploy-category action.

    regionflow deploys with ``pulumi up`` in CodeBuild (a Build-category action), so the stage name
    is what marks a deploy stage; the category covers CodeDeploy/ECS/S3 deploy actions.
    """
    name = str(stage.get("name") or "")
    return name.lower().startswith("deploy") or any(a.get("category") == "Deploy" for a in _actions(stage))


def _pipeline_v2(props: Mapping[str, Any]) -> Iterable[str]:
    if _get(props, "pipelineType") != "V2":
        yield "pipeline is not V2 (stage rollback, variables and triggers need V2): set pipeline_type='V2'"


def _pipeline_rollback(props: Mapping[str, Any]) -> Iterable[str]:
    for stage in _stages(props):
        if is_deploy_stage(stage) and _get(stage, "onFailure", "result") != "ROLLBACK":
            yield f"deploy stage {stage.get('name')} does not roll back on failure: set on_failure result='ROLLBACK'"


def _is_manual_approval(action: Mapping[str, Any]) -> bool:
    return action.get("category") == "Approval" and action.get("provider") == "Manual"


def _approval_before_primary(stages: list[Mapping[str, Any]]) -> bool | None:
    """A manual approval precedes the first deploy (None: the pipeline deploys nothing)."""
    first_deploy = next((i for i, s in enumerate(stages) if is_deploy_stage(s)), None)
    if first_deploy is None:
        return None
    earlier = any(_is_manual_approval(a) for s in stages[:first_deploy] for a in _actions(s))
    deploy_actions = _actions(stages[first_deploy])
    first_run = min((a.get("runOrder") or 1 for a in deploy_actions if not _is_manual_approval(a)), default=1)
    same_stage = any(_is_manual_approval(a) and (a.get("runOrder") or 1) < first_run for a in deploy_actions)
    return earlier or same_stage


def _pipeline_tags(props: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline's own tags (regionflow.delivery sets the Delivery* tags on the resource, not as defaults)."""
    merged: dict[str, Any] = {}
    for key in ("tagsAll", "tags"):
        value = _get(props, key)
        if isinstance(value, Mapping):
            merged.update(value)
    return merged


def _pipeline_approval(props: Mapping[str, Any]) -> Iterable[str]:
    stages = _stages(props)
    if _approval_before_primary(stages) is not False:
        return
    if _pipeline_tags(props).get(APPROVAL_TAG) == "never":
        return  # the config chose no approval, visibly (pipeline-approval-prod guards prod)
    first = next(s for s in stages if is_deploy_stage(s))
    yield (
        f"no manual approval before the primary deploy (stage {first.get('name')}): add a Manual Approval action "
        f"before it, or tag the pipeline {APPROVAL_TAG}=never to show the choice"
    )


def _pipeline_approval_prod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A pipeline tagged Environment=prod deploys only after an approval, unless an override is tagged."""
    if args.resource_type != PIPELINE:
        return
    tags = {**_effective_tags(args), **_pipeline_tags(args.props)}
    if tags.get("Environment") != PROTECTED_ENVIRONMENT:
        return
    if _approval_before_primary(_stages(args.props)) is not False:
        return
    if str(tags.get(APPROVAL_OVERRIDE_TAG) or "").strip():
        return
    report(
        f"the {PROTECTED_ENVIRONMENT} pipeline deploys without any approval: use approval iam-changes or always, "
        f"or give the reason in approvalOverride (tag {APPROVAL_OVERRIDE_TAG})",
        None,
    )


def _condition(stage: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """A stage's condition of one kind (beforeEntry, onSuccess, onFailure): pulumi-aws models it as one block."""
    block = stage.get(kind)
    condition = block.get("condition") if isinstance(block, Mapping) else None
    if isinstance(condition, Sequence) and not isinstance(condition, str):
        # The API's `conditions` array holds exactly one item; a list here is that array.
        return condition[0] if len(condition) == 1 and isinstance(condition[0], Mapping) else {"_many": condition}
    return condition if isinstance(condition, Mapping) else None


def _rules(condition: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in as_list(condition.get("rules")) if isinstance(r, Mapping)]


def _provider(rule: Mapping[str, Any]) -> str:
    return str(_get(rule, "ruleTypeId", "provider") or "")


# What AWS documents for stage conditions (regionflow.delivery's docstring has the sources): results per kind,
# SKIP only with LambdaInvoke or VariableCheck, 1 to 5 rules, automatic retry never with an onFailure condition.
CONDITION_RESULTS: dict[str, frozenset[str]] = {
    "beforeEntry": frozenset({"FAIL", "SKIP"}),
    "onSuccess": frozenset({"ROLLBACK", "FAIL"}),
    "onFailure": frozenset({"ROLLBACK"}),
}
SKIP_RULE_PROVIDERS = frozenset({"LambdaInvoke", "VariableCheck"})
RULE_REQUIRED_CONFIGURATION: dict[str, tuple[str, ...]] = {
    "CloudWatchAlarm": ("AlarmName",),
    "DeploymentWindow": ("Cron",),
    "VariableCheck": ("Variable", "Value", "Operator"),
    "LambdaInvoke": ("FunctionName",),
}
VARIABLE_CHECK_OPERATORS = frozenset({"EQ", "CONTAINS", "MATCHES", "NE"})


def _condition_problems(stage_name: str, kind: str, condition: Mapping[str, Any]) -> Iterable[str]:
    where = f"stage {stage_name} {kind}"
    if "_many" in condition:
        yield f"{where} holds {len(condition['_many'])} conditions; CodePipeline allows exactly one per kind"
        return
    result = condition.get("result")
    if result not in CONDITION_RESULTS[kind]:
        yield f"{where} result {result!r} is not one AWS allows there ({', '.join(sorted(CONDITION_RESULTS[kind]))})"
    found = _rules(condition)
    if not 1 <= len(found) <= MAX_RULES_PER_CONDITION:
        yield f"{where} has {len(found)} rules; a condition holds 1 to {MAX_RULES_PER_CONDITION}"
    names = [str(r.get("name") or "") for r in found]
    for name in names:
        if not RULE_NAME_PATTERN.match(name) or names.count(name) > 1:
            yield f"{where} rule name {name!r} is invalid or repeated ([A-Za-z0-9.@_-], 1-100 characters, unique)"
    for rule in found:
        provider = _provider(rule)
        if result == "SKIP" and provider not in SKIP_RULE_PROVIDERS:
            yield f"{where} skips with a {provider} rule; SKIP works only with LambdaInvoke or VariableCheck rules"
        configuration = rule.get("configuration") or {}
        missing = [k for k in RULE_REQUIRED_CONFIGURATION.get(provider, ()) if not _get(configuration, k)]
        if missing:
            yield f"{where} {provider} rule {rule.get('name')} lacks {', '.join(missing)}"
        operator = _get(configuration, "Operator")
        if provider == "VariableCheck" and operator not in VARIABLE_CHECK_OPERATORS:
            yield f"{where} VariableCheck operator {operator!r} is not EQ, CONTAINS, MATCHES or NE"


def _pipeline_stage_conditions(props: Mapping[str, Any]) -> Iterable[str]:
    for stage in _stages(props):
        name = str(stage.get("name"))
        for kind in CONDITION_RESULTS:
            condition = _condition(stage, kind)
            if condition is not None:
                yield from _condition_problems(name, kind, condition)
        raw_on_failure = stage.get("onFailure")
        on_failure: Mapping[str, Any] = raw_on_failure if isinstance(raw_on_failure, Mapping) else {}
        retry = on_failure.get("retryConfiguration")
        if retry and _condition(stage, "onFailure") is not None:
            yield f"stage {name} retries automatically and has an onFailure condition; AWS allows only one of them"
        if retry and on_failure.get("result") != "RETRY":
            yield f"stage {name} has a retry configuration but onFailure result {on_failure.get('result')!r}, not RETRY"
        if len(_actions(stage)) > MAX_ACTIONS_PER_STAGE:
            yield f"stage {name} has {len(_actions(stage))} actions; CodePipeline allows {MAX_ACTIONS_PER_STAGE}"
    if len(_stages(props)) > MAX_STAGES_PER_PIPELINE:
        yield f"the pipeline has {len(_stages(props))} stages; CodePipeline allows {MAX_STAGES_PER_PIPELINE}"


def _deploy_regions(stage: Mapping[str, Any]) -> set[str]:
    """The regions a deploy stage changes: those of its actions other than the loggers' Invoke records."""
    return {str(a.get("region") or "") for a in _actions(stage) if a.get("category") != "Invoke"}


def _other_account_regions(stage: Mapping[str, Any], props: Mapping[str, Any]) -> set[str]:
    """Regions of a stage whose actions run with a role of another account than the pipeline's."""
    pipeline_role = str(_get(props, "roleArn") or "")
    home = pipeline_role.split(":")[4] if pipeline_role.count(":") >= 5 else ""
    found = set()
    for action in as_list(stage.get("actions")):
        role = str(action.get("roleArn") or "") if isinstance(action, Mapping) else ""
        if home and role.count(":") >= 5 and role.split(":")[4] != home:
            found.add(str(action.get("region") or ""))
    return found


def _pipeline_bake(props: Mapping[str, Any]) -> Iterable[str]:
    """Every deploy stage after the primary bakes when the config asks (tag), and every bake covers its regions."""
    deploys = [s for s in _stages(props) if is_deploy_stage(s)]
    raw = str(_pipeline_tags(props).get(BAKE_TAG) or "0")
    requested = raw.isdigit() and int(raw) > 0
    for position, stage in enumerate(deploys):
        name = stage.get("name")
        condition = _condition(stage, "onSuccess")
        alarms = [r for r in _rules(condition) if _provider(r) == "CloudWatchAlarm"] if condition else []
        # Regions of other accounts: their actions run with a role of that account (the logger Invoke's
        # roleArn), and a CloudWatchAlarm rule cannot see an alarm there (regionflow.components.pipeline.pipeline).
        unseen = _other_account_regions(stage, props)
        if not alarms:
            if requested and position > 0 and _deploy_regions(stage) - unseen:
                yield (
                    f"deploy stage {name} has no alarm-gated bake although the pipeline asks for "
                    f"{raw} minutes ({BAKE_TAG}): add an onSuccess CloudWatchAlarm condition with result ROLLBACK"
                )
            continue
        if condition is not None and condition.get("result") != "ROLLBACK":
            yield f"deploy stage {name} bakes without rolling back (onSuccess result {condition.get('result')!r})"
        watched = {str(r.get("region") or "") for r in alarms}
        unwatched = sorted(_deploy_regions(stage) - watched - unseen)
        if unwatched:
            missing = ", ".join(r or "the pipeline region" for r in unwatched)
            yield f"deploy stage {name} bakes without watching {missing}"
        for rule in alarms:
            wait = str(_get(rule, "configuration", "WaitTime") or "")
            if not wait.isdigit() or int(wait) < 1:
                yield f"deploy stage {name} rule {rule.get('name')} waits {wait or 'no'} minutes: bake at least 1"


def _pipeline_artifacts_cmk(props: Mapping[str, Any]) -> Iterable[str]:
    stores = [s for s in as_list(_get(props, "artifactStores")) if isinstance(s, Mapping)]
    for store in stores:
        if not _is_cmk(_get(store, "encryptionKey", "id")):
            yield (
                f"artifact store {store.get('location')} ({store.get('region') or 'pipeline region'}) is not "
                "encrypted with a customer-managed KMS key: set encryption_key"
            )


# -- stack rules --------------------------------------------------------------------------------------


def _safe(resource: PolicyResource, *path: str | int) -> Any:
    """A property that may be unknown during a real preview: unknown counts as absent here."""
    try:
        return _get(resource.props, *path)
    except UnknownValueError:
        return None


def _refers_to(sub: PolicyResource, prop: str, target: PolicyResource, identities: set[str]) -> bool:
    """``sub.prop`` points at ``target``: by dependency (real engine) or by value (offline, updates)."""
    if any(dep.urn == target.urn for dep in (sub.property_dependencies or {}).get(prop, [])):
        return True
    value = _safe(sub, prop)
    return isinstance(value, str) and value in identities


def _of_type(resources: Iterable[PolicyResource], resource_type: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == resource_type]


def _bucket_policy(
    check: Callable[[PolicyResource, list[PolicyResource]], str | None],
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for bucket in _of_type(args.resources, BUCKET):
            identities = {v for v in (_safe(bucket, "bucket"), _safe(bucket, "id"), _safe(bucket, "arn")) if v}
            related = [r for r in args.resources if r.urn != bucket.urn and _refers_to(r, "bucket", bucket, identities)]
            message = check(bucket, related)
            if message:
                report(message, bucket.urn)

    return validate


def _bucket_versioning(bucket: PolicyResource, related: list[PolicyResource]) -> str | None:
    enabled = any(
        _safe(r, "versioningConfiguration", "status") == "Enabled" for r in _of_type(related, BUCKET_VERSIONING)
    )
    if enabled or _safe(bucket, "versioning", "enabled") is True:
        return None
    return "S3 bucket has no versioning: add an aws.s3.BucketVersioning with status 'Enabled'"


def _bucket_sse(bucket: PolicyResource, related: list[PolicyResource]) -> str | None:
    for config in _of_type(related, BUCKET_SSE):
        for rule in as_list(_safe(config, "rules")):
            default = _get(rule, "applyServerSideEncryptionByDefault") or {}
            if _get(default, "sseAlgorithm") in ("aws:kms", "aws:kms:dsse") and _is_cmk(
                _get(default, "kmsMasterKeyId")
            ):
                return None
    return (
        "S3 bucket is not encrypted with SSE-KMS and a customer-managed key: add an "
        "aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm 'aws:kms' and kms_master_key_id"
    )


def _bucket_pab(bucket: PolicyResource, related: list[PolicyResource]) -> str | None:
    blocks = _of_type(related, BUCKET_PAB)
    if any(all(_safe(b, flag) is True for flag in PAB_FLAGS) for b in blocks):
        return None
    missing = sorted({flag for flag in PAB_FLAGS if not any(_safe(b, flag) is True for b in blocks)})
    return (
        f"S3 bucket does not block public access ({', '.join(missing)} not true): add an aws.s3.BucketPublicAccessBlock"
    )


def _denies_plain_http(stmt: Mapping[str, Any]) -> bool:
    if stmt.get("Effect") != "Deny":
        return False
    principal = stmt.get("Principal")
    if principal != "*" and not (isinstance(principal, Mapping) and "*" in as_list(principal.get("AWS"))):
        return False
    if not {"s3:*", "*"} & {str(a) for a in as_list(stmt.get("Action"))}:
        return False
    secure = _get(stmt, "Condition", "Bool", "aws:SecureTransport")
    if not any(str(v).lower() == "false" for v in as_list(secure)):
        return False
    resources = [str(r) for r in as_list(stmt.get("Resource"))]
    # Both the bucket (ListBucket, bucket settings) and its objects must be covered.
    return any(r.endswith("/*") for r in resources) and any("/" not in r.split(":::", 1)[-1] for r in resources)


def _bucket_tls_only(bucket: PolicyResource, related: list[PolicyResource]) -> str | None:
    for policy in _of_type(related, BUCKET_POLICY):
        raw = _safe(policy, "policy")
        try:
            document = parse_document(raw, "policy") if raw else {}
        except MalformedDocumentError:
            continue
        if any(_denies_plain_http(s) for s in statements(document)):
            return None
    return (
        "S3 bucket accepts plain HTTP: its bucket policy needs a Deny of s3:* on the bucket and its objects "
        "when aws:SecureTransport is false (regionflow.iam.deny_insecure_transport)"
    )


def _lambda_failure_destination(args: StackValidationArgs, report: ReportViolation) -> None:
    configs = _of_type(args.resources, EVENT_INVOKE_CONFIG)
    for function in _of_type(args.resources, FUNCTION):
        if _safe(function, "deadLetterConfig", "targetArn"):
            continue
        name, arn = _safe(function, "name"), _safe(function, "arn")
        identities = {v for v in (name, arn) if v}
        covered = any(
            _refers_to(c, "functionName", function, identities)
            and _safe(c, "destinationConfig", "onFailure", "destination")
            for c in configs
        )
        if not covered:
            report(
                "Lambda function has neither a dead-letter queue nor an on-failure destination: add an "
                "aws.lambda_.FunctionEventInvokeConfig with destination_config.on_failure",
                function.urn,
            )


def _stack_policy(
    name: str,
    description: str,
    level: EnforcementLevel,
    validate: Callable[[StackValidationArgs, ReportViolation], None],
) -> Any:
    return StackValidationPolicy(name=name, description=description, enforcement_level=level, validate=validate)


def build_policies() -> list[Any]:
    """Every rule, in the order they are reported. Names are stable: docs and tests refer to them."""
    return [
        _stack_policy(
            "s3-bucket-versioning", "S3 buckets have versioning enabled.", MANDATORY, _bucket_policy(_bucket_versioning)
        ),
        _stack_policy(
            "s3-bucket-sse-kms-cmk",
            "S3 buckets encrypt with SSE-KMS and a customer-managed key.",
            MANDATORY,
            _bucket_policy(_bucket_sse),
        ),
        _stack_policy(
            "s3-bucket-public-access-block",
            "S3 buckets set all four public access block flags.",
            MANDATORY,
            _bucket_policy(_bucket_pab),
        ),
        _stack_policy(
            "s3-bucket-tls-only",
            "S3 bucket policies deny requests made without TLS.",
            MANDATORY,
            _bucket_policy(_bucket_tls_only),
        ),
        _resource_policy(
            "kms-key-rotation", "Symmetric KMS keys rotate automatically.", MANDATORY, [KMS_KEY], _kms_rotation
        ),
        _resource_policy(
            "sns-topic-cmk",
            "SNS topics are encrypted with a customer-managed KMS key.",
            MANDATORY,
            [SNS_TOPIC],
            _cmk_property("kmsMasterKeyId", "SNS topic", "kms_master_key_id"),
        ),
        _resource_policy(
            "sqs-queue-cmk",
            "SQS queues are encrypted with a customer-managed KMS key.",
            MANDATORY,
            [SQS_QUEUE],
            _cmk_property("kmsMasterKeyId", "SQS queue", "kms_master_key_id"),
        ),
        _resource_policy(
            "log-group-cmk",
            "CloudWatch log groups are encrypted with a customer-managed KMS key.",
            MANDATORY,
            [LOG_GROUP],
            _cmk_property("kmsKeyId", "log group", "kms_key_id"),
        ),
        _resource_policy(
            "log-group-retention",
            "CloudWatch log groups have a retention period.",
            MANDATORY,
            [LOG_GROUP],
            _log_retention,
        ),
        _resource_policy(
            "lambda-tracing-active", "Lambda functions use active X-Ray tracing.", ADVISORY, [FUNCTION], _lambda_tracing
        ),
        _resource_policy(
            "lambda-timeout-and-memory",
            "Lambda functions set their timeout and memory size.",
            ADVISORY,
            [FUNCTION],
            _lambda_sizing,
        ),
        _resource_policy(
            "lambda-supported-runtime",
            "Lambda functions use a runtime AWS still supports.",
            MANDATORY,
            [FUNCTION],
            _lambda_runtime_supported,
        ),
        _resource_policy(
            "lambda-runtime-ending-soon",
            f"Lambda runtimes are not deprecated within {RUNTIME_WARNING_DAYS} days.",
            ADVISORY,
            [FUNCTION],
            _lambda_runtime_ending,
        ),
        _stack_policy(
            "lambda-failure-destination",
            "Lambda functions have a dead-letter queue or an on-failure destination.",
            MANDATORY,
            _lambda_failure_destination,
        ),
        _resource_policy(
            "codebuild-not-privileged",
            "CodeBuild projects do not run in privileged mode.",
            MANDATORY,
            [CODEBUILD_PROJECT],
            _codebuild_unprivileged,
        ),
        _resource_policy(
            "codebuild-cmk",
            "CodeBuild projects encrypt artifacts with a customer-managed KMS key.",
            MANDATORY,
            [CODEBUILD_PROJECT],
            _cmk_property("encryptionKey", "CodeBuild project", "encryption_key"),
        ),
        ResourceValidationPolicy(
            name="iam-no-wildcard-actions",
            description="IAM policies allow no '*' or 'service:*' action (and no NotAction).",
            enforcement_level=MANDATORY,
            validate=_policy_bearing(_wildcard_actions),
        ),
        ResourceValidationPolicy(
            name="iam-trust-no-account-root",
            description="A trust policy never admits a whole account: the roles are named (aws:PrincipalArn).",
            enforcement_level=MANDATORY,
            validate=_policy_bearing(_trust_on_account_root),
        ),
        ResourceValidationPolicy(
            name="kms-cross-account-use-only",
            description="Another account may only use a key (no kms:*, no administration), as named roles.",
            enforcement_level=MANDATORY,
            validate=_policy_bearing(_cross_account_key_grants),
        ),
        ResourceValidationPolicy(
            name="iam-no-wildcard-resources",
            description="IAM policies allow Resource '*' only for actions AWS cannot scope.",
            enforcement_level=MANDATORY,
            validate=_policy_bearing(_wildcard_resources),
        ),
        # A stack rule: a managed policy used only as a permissions boundary grants nothing.
        _stack_policy(
            "iam-passrole-conditioned",
            "iam:PassRole is always conditioned on iam:PassedToService.",
            MANDATORY,
            _passrole_stack,
        ),
        ResourceValidationPolicy(
            name="required-tags",
            description="Taggable resources carry every required tag.",
            enforcement_level=MANDATORY,
            validate=_required_tags,
        ),
        ResourceValidationPolicy(
            name="taggable-type-known",
            description="Every AWS type is classified as taggable or not.",
            enforcement_level=ADVISORY,
            validate=_tag_coverage_known,
        ),
        _resource_policy(
            "pipeline-v2", "The pipeline is a CodePipeline V2 pipeline.", MANDATORY, [PIPELINE], _pipeline_v2
        ),
        _resource_policy(
            "pipeline-deploy-rollback", "Deploy stages roll back on failure.", MANDATORY, [PIPELINE], _pipeline_rollback
        ),
        _resource_policy(
            "pipeline-manual-approval",
            "A manual approval precedes the primary deploy, unless the pipeline is tagged DeliveryApproval=never.",
            MANDATORY,
            [PIPELINE],
            _pipeline_approval,
        ),
        ResourceValidationPolicy(
            name="pipeline-approval-prod",
            description="A prod pipeline deploys only after an approval, unless an override reason is tagged.",
            enforcement_level=MANDATORY,
            validate=_pipeline_approval_prod,
        ),
        _resource_policy(
            "pipeline-stage-conditions",
            "Stage conditions, rules and retries use only the combinations and limits CodePipeline documents.",
            MANDATORY,
            [PIPELINE],
            _pipeline_stage_conditions,
        ),
        _resource_policy(
            "pipeline-deploy-bake",
            "Deploy stages after the primary bake on their regions' health alarms when the pipeline asks for it.",
            MANDATORY,
            [PIPELINE],
            _pipeline_bake,
        ),
        _resource_policy(
            "pipeline-artifacts-cmk",
            "Pipeline artifact stores are encrypted with a customer-managed KMS key.",
            MANDATORY,
            [PIPELINE],
            _pipeline_artifacts_cmk,
        ),
    ]


POLICIES: list[Any] = build_policies()
POLICY_NAMES: tuple[str, ...] = tuple(p.name for p in POLICIES)
