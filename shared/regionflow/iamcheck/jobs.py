"""Each role's job, found from where the manifests use it, and the permissions that job needs.

A role's job is never read from its name. It comes from the resource that uses the role:

* a CodeBuild project whose ``serviceRole`` it is: the build's own needs (its log group, its source
  and artifacts, a connection) plus every ``pulumi`` and ``aws`` command its buildspec runs, on the
  stacks its environment variables name (``STACK_NAME=organization/<project>/<stack>``, or lists of
  ``stacks/<folder>:<stack>``) against the backend of ``PULUMI_BACKEND_URL``;
* a pipeline whose ``roleArn`` it is: every action's needs (artifact stores in each region, KMS,
  CodeBuild, Lambda, the approval topic, the source connection);
* a Lambda function whose ``role`` it is: logs, X-Ray, its dead-letter and async destinations, and
  what its code calls (:data:`CODE_PROFILES`, keyed by handler);
* a schedule or EventBridge target whose ``roleArn`` it is: invoking the target;
* a role trusted by GitHub's OIDC provider: the pull-request workflow's ``pulumi preview`` of every
  stack;
* a role in a region owner's account that a runner's AWS profile assumes (docs/accounts.md): the provider's
  share of that runner's Pulumi command on the stacks of that account (:class:`Delegation`).

Regions in their owners' accounts: a stack whose AWS provider names the shared-config profile
``regionflow-<account>`` is reached through that profile, which each runner writes with ``role_arn`` = a
role of that account (the pipeline's builds: ``REGIONFLOW_TARGET_PROFILES`` through scripts/common.sh
``write_target_profiles``; the pull-request workflow: ``python -m regionflow.accounts``). The provider's calls
are then made as that role, while the Pulumi CLI's backend calls (state, lock, secrets) stay the runner's own:
the runner's job needs ``sts:AssumeRole`` on the role and the backend, the role's job the provider's calls.

Sources for the runtime needs: CodeBuild user guide, "Allow CodeBuild to interact with other AWS
services" (service role policy); CodePipeline user guide, "Manage the CodePipeline service role";
Lambda developer guide, "Lambda execution role", "Destinations" and "Using AWS X-Ray"; EventBridge
Scheduler user guide, "Set up the execution role"; Powertools for AWS Lambda (Python), Idempotency,
"IAM Permissions"; SNS and SQS developer guides on encrypted topics and queues (a publisher or sender
needs ``kms:GenerateDataKey`` and ``kms:Decrypt`` on the key); AWS CodeConnections, "Rename" (an IAM
policy's service prefix must match the connection ARN's).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regionflow.accounts import account_of_profile, read_role_arn
from regionflow.iamcheck.backend import Backend, backend_needs
from regionflow.iamcheck.model import IAM_REGION, Manifests, Resource, Role, StackManifest
from regionflow.iamcheck.needs import ContextSpec, Need, build_context
from regionflow.iamcheck.provider import UnknownType, UnresolvedTarget, function_arn, resource_needs
from regionflow.iamcheck.requirements import ALL_PHASES, Phase
from regionflow.iamcheck.scope import Exclusion

PROJECT_TYPE = "aws:codebuild/project:Project"
PIPELINE_TYPE = "aws:codepipeline/pipeline:Pipeline"
FUNCTION_TYPE = "aws:lambda/function:Function"
SCHEDULE_TYPE = "aws:scheduler/schedule:Schedule"
EVENT_TARGET_TYPE = "aws:cloudwatch/eventTarget:EventTarget"
INVOKE_CONFIG_TYPE = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
LOG_STREAM = "example-stream"  # log stream names are made at run time; roles grant log-stream:*
ARTIFACT_OBJECT = "example-object"

# Pulumi commands, strongest first: the job of a build is the strongest command its buildspec runs.
# The rest of a command: up to the end of the line, following backslash-newline continuations.
_REST = r"((?:[^\n\\]|\\\n|\\.)*)"
_PULUMI_COMMAND = re.compile(r"\bpulumi\s+(up|refresh|destroy|preview)\b" + _REST)
_AWS_COMMAND = re.compile(r"\baws\s+([a-z0-9-]+)\s+([a-z0-9-]+)" + _REST)
_QUALIFIED = re.compile(r"^organization/[^/\s]+/[^/\s]+$")
_FOLDER_STACK = re.compile(r"^(stacks/[^:\s]+):(\S+)$")


@dataclass
class CodeProfile:
    """What a function's code calls: (actions, environment variable naming the resource, resource kind)."""

    calls: tuple[tuple[tuple[str, ...], str, str], ...]
    job_results: bool = False  # reports CodePipeline job results when a pipeline invokes it
    source: str = ""


CODE_PROFILES: dict[str, CodeProfile] = {
    # functions/deployment_logger/deployment_logger/handler.py: Powertools idempotency on DynamoDB
    # (GetItem/PutItem/UpdateItem/DeleteItem, Powertools docs "IAM Permissions"), sns.publish to the
    # notification topic, and put_job_success_result / put_job_failure_result for pipeline jobs.
    "deployment_logger.handler.lambda_handler": CodeProfile(
        calls=(
            (
                ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"),
                "IDEMPOTENCY_TABLE_NAME",
                "table",
            ),
            (("sns:Publish",), "NOTIFICATION_TOPIC_ARN", "topic"),
        ),
        job_results=True,
        source="functions/deployment_logger/deployment_logger/handler.py",
    ),
}

# `aws <service> <operation>` in a buildspec -> (IAM action, option naming the resource, kind).
CLI_CALLS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("sns", "publish"): ("sns:Publish", "--topic-arn", "arn"),
    ("codepipeline", "start-pipeline-execution"): ("codepipeline:StartPipelineExecution", "--name", "pipeline"),
    ("codepipeline", "stop-pipeline-execution"): ("codepipeline:StopPipelineExecution", "--pipeline-name", "pipeline"),
    ("codebuild", "start-build"): ("codebuild:StartBuild", "--project-name", "project"),
    ("s3api", "list-objects-v2"): ("s3:ListBucket", "--bucket", "bucket"),
    ("codepipeline", "list-action-executions"): ("codepipeline:ListActionExecutions", "--pipeline-name", "pipeline"),
    ("codepipeline", "list-pipeline-executions"): (
        "codepipeline:ListPipelineExecutions",
        "--pipeline-name",
        "pipeline",
    ),
    ("iam", "get-policy"): ("iam:GetPolicy", "--policy-arn", "arn"),
    ("iam", "get-policy-version"): ("iam:GetPolicyVersion", "--policy-arn", "arn"),
}
# `aws s3 cp s3://<location>` of a source artifact whose location the build reads at run time: the object of
# the pipeline's Source action (named by the build's PIPELINE_NAME / SOURCE_ACTION), in its home artifact store.
SOURCE_ARTIFACT_COPY = ("s3", "cp")
_SCRIPT = re.compile(r"[\w./-]+\.sh\b")
_ASSIGNMENT = re.compile(r'^\s*(?:export\s+|local\s+)?([A-Za-z_][A-Za-z0-9_]*)="([^"`$]*(?:\$\{[^}]*\}[^"`$]*)*)"\s*$')
_EXPANSION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(##|#|%%|%|:-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Delegation:
    """A runner's Pulumi command whose AWS providers act as other roles: the stacks of other accounts."""

    runner: str  # the runner's role ARN
    label: str  # the runner's job, e.g. "CodeBuild project rflow-prod-usw2-deploy"
    kind: str  # the Pulumi command (pulumi_kind)
    stacks: tuple[tuple[str, str], ...]
    profiles: tuple[tuple[str, str], ...]  # (account, role ARN) its profile regionflow-<account> assumes


# The STS call an assume-role profile makes, and what the SDK reads from the profile (AWS SDKs and Tools
# reference guide, "Assume role credential provider": role_arn with credential_source or source_profile).
ASSUME_ROLE_SOURCE = "AssumeRole of the profile's role_arn, AWS SDKs and Tools reference guide (assume role provider)"
# A line that calls scripts/common.sh's write_target_profiles (not its definition).
_WRITES_PROFILES = re.compile(r"^\s*write_target_profiles\s*$", re.MULTILINE)
# The pull-request workflow writes the profiles with this module (regionflow.accounts, its __main__).
WORKFLOW_PROFILE_COMMAND = "regionflow.accounts"


@dataclass
class Job:
    role: Role
    label: str  # e.g. "CodeBuild project rflow-prod-use1-deploy (pulumi up of regionflow-primary/prod)"
    needs: list[Need] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # what the check could not model
    writes: set[tuple[str, str]] = field(default_factory=set)  # stacks whose state the job writes


def _strip(pattern: str, value: str, *, suffix: bool, longest: bool) -> str:
    """Bash's ${V#p}, ${V##p}, ${V%p}, ${V%%p}: remove a glob-matching prefix or suffix."""
    regex = re.compile("".join(
        "." if c == "?" and not escaped else ".*" if c == "*" and not escaped else re.escape(c)
        for c, escaped in _unescape_glob(pattern)
    ), re.DOTALL)  # fmt: skip
    cuts = range(len(value), -1, -1) if longest != suffix else range(len(value) + 1)
    for cut in cuts:
        part = value[cut:] if suffix else value[:cut]
        if regex.fullmatch(part):
            return value[:cut] if suffix else value[cut:]
    return value


def _unescape_glob(pattern: str) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    index = 0
    while index < len(pattern):
        if pattern[index] == "\\" and index + 1 < len(pattern):
            out.append((pattern[index + 1], True))
            index += 2
        else:
            out.append((pattern[index], False))
            index += 1
    return out


def expand(text: str, variables: Mapping[str, str]) -> str | None:
    """The few bash expansions build scripts use on known variables; None when something stays unknown."""
    unknown = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unknown
        name = match.group(1) or match.group(4)
        operator, word = match.group(2), match.group(3) or ""
        value = variables.get(name)
        if operator == ":-":
            return value if value else word
        if value is None:
            unknown = True
            return ""
        if operator in ("#", "##"):
            return _strip(word, value, suffix=False, longest=operator == "##")
        if operator in ("%", "%%"):
            return _strip(word, value, suffix=True, longest=operator == "%%")
        return value

    expanded = _EXPANSION.sub(replace, text)
    return None if unknown or "$(" in expanded else expanded


def script_variables(text: str, env: Mapping[str, str]) -> dict[str, str]:
    """The environment plus every plain top-level assignment of a script, evaluated in order."""
    variables = dict(env)
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            value = expand(match.group(2), variables)
            if value is not None:
                variables[match.group(1)] = value
    return variables


def _env(project: Resource) -> dict[str, str]:
    variables = (project.get("environment") or {}).get("environmentVariables") or []
    return {str(v.get("name")): str(v.get("value")) for v in variables if isinstance(v, Mapping)}


def _project_for_folder(folder: str, manifests: Manifests, root: Path | None) -> str | None:
    if root is not None:
        project_file = root / folder / "Pulumi.yaml"
        if project_file.is_file():
            match = re.search(r"^name:\s*['\"]?([^'\"\s]+)", project_file.read_text(), re.MULTILINE)
            if match:
                return match.group(1)
    base = folder.rstrip("/").rsplit("/", 1)[-1]
    for stack in manifests.stacks:
        if stack.project == base or stack.project.endswith(f"-{base}"):
            return stack.project
    return None


def stacks_of_environment(env: Mapping[str, str], manifests: Manifests, root: Path | None) -> list[tuple[str, str]]:
    """The stacks a build's environment names, in order, without repeats."""
    found: list[tuple[str, str]] = []
    for value in env.values():
        tokens = value.split()
        if len(tokens) == 1 and _QUALIFIED.match(tokens[0]):
            _, project, stack = tokens[0].split("/")
            found.append((project, stack))
            continue
        for token in tokens:
            match = _FOLDER_STACK.match(token)
            if not match:
                continue
            folder, stack = match.groups()
            if _QUALIFIED.match(stack):
                _, project, stack = stack.split("/")
                found.append((project, stack))
            else:
                project_name = _project_for_folder(folder, manifests, root)
                if project_name:
                    found.append((project_name, stack))
    return list(dict.fromkeys(found))


def pulumi_kind(buildspec: str) -> tuple[str | None, list[str]]:
    """The strongest Pulumi command a buildspec runs: up, refresh, destroy, preview-refresh or preview."""
    kinds: list[str] = []
    for command, flags in _PULUMI_COMMAND.findall(buildspec):
        if command == "preview":
            kinds.append("preview-refresh" if "--refresh" in flags else "preview")
        elif command == "refresh" and "--preview-only" in flags:
            kinds.append("preview-refresh")
        else:
            kinds.append(command)
    for strongest in ("up", "destroy", "refresh", "preview-refresh", "preview"):
        if strongest in kinds:
            return strongest, kinds
    return None, kinds


class JobBuilder:
    """Finds every role's jobs in the manifests and lists what they need."""

    def __init__(
        self,
        manifests: Manifests,
        *,
        root: Path | None = None,
        backend: Backend | None = None,
        scope: list[Exclusion] | None = None,
    ) -> None:
        self.manifests = manifests
        self.root = root.resolve() if root is not None else None
        self.backend = backend
        self.scope = scope or []
        self.unknown_types: dict[str, str] = {}
        self._commands: dict[str, tuple[str, list[str]]] = {}
        self._delegations: list[Delegation] | None = None

    # --- helpers ------------------------------------------------------------------------------

    def need(
        self,
        role: Role,
        action: str,
        resource: str,
        region: str,
        why: str,
        detail: str,
        *,
        via: str | None = None,
        s3: Mapping[str, str] | None = None,
        uncertain: str | None = None,
        resource_policy: str = "auto",
    ) -> Need:
        found = self.manifests.by_arn.get(resource)
        spec = ContextSpec(
            region="us-east-1" if action.startswith("iam:") else region,
            resource_tags=found.tags if found is not None else None,
            via=via,
            s3=dict(s3 or {}),
        )
        return Need(
            role=role.arn,
            action=action,
            resource=resource,
            context=build_context(role.arn, role.account, role.tags, action, spec),
            why=why,
            detail=detail,
            uncertain=uncertain,
            resource_policy=resource_policy,
        )

    def _key_of(self, resource: Resource | None, *paths: str) -> str | None:
        if resource is None:
            return None
        for path in paths:
            reference = resource.get(path)
            if reference:
                return self.manifests.key_arn(str(reference), resource.region)
        return None

    def _encrypted_send(self, role: Role, target: str, why: str, detail: str) -> Iterator[Need]:
        """Sending to an encrypted queue or publishing to an encrypted topic: the key, through the service."""
        resource = self.manifests.by_arn.get(target)
        if resource is None:
            return
        key = self._key_of(resource, "kmsMasterKeyId")
        service = target.split(":")[2]
        if key:
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                yield self.need(role, action, key, resource.region, f"{why} (encrypted {service})", detail, via=service)

    def _send(self, role: Role, target: str, why: str, detail: str) -> Iterator[Need]:
        """A message to a destination ARN: SQS, SNS, Lambda or EventBridge."""
        service = target.split(":")[2] if target.startswith("arn:") else ""
        region = target.split(":")[3] if target.startswith("arn:") else ""
        action = {
            "sqs": "sqs:SendMessage",
            "sns": "sns:Publish",
            "lambda": "lambda:InvokeFunction",
            "events": "events:PutEvents",
        }.get(service)
        if action is None:
            return
        yield self.need(role, action, target, region, why, detail)
        yield from self._encrypted_send(role, target, why, detail)

    # --- jobs ---------------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        jobs: list[Job] = []
        for role in self.manifests.roles.values():
            jobs.extend(self.jobs_of(role))
        return jobs

    def jobs_of(self, role: Role) -> list[Job]:
        found: list[Job] = []
        for project in self.manifests.of_type(PROJECT_TYPE):
            if project.get("serviceRole") == role.arn:
                found.append(self.codebuild_job(role, project))
        for pipeline in self.manifests.of_type(PIPELINE_TYPE):
            if pipeline.get("roleArn") == role.arn:
                found.append(self.pipeline_job(role, pipeline))
        for function in self.manifests.of_type(FUNCTION_TYPE):
            if function.get("role") == role.arn:
                found.append(self.function_job(role, function))
        for schedule in self.manifests.of_type(SCHEDULE_TYPE):
            if schedule.get("target.roleArn") == role.arn:
                found.append(self.invoke_job(role, schedule, str(schedule.get("target.arn") or ""), "schedule"))
        for target in self.manifests.of_type(EVENT_TARGET_TYPE):
            if target.get("roleArn") == role.arn:
                found.append(self.invoke_job(role, target, str(target.get("arn") or ""), "EventBridge target"))
        if any(GITHUB_OIDC_HOST in f for f in role.trusted_federated()):
            found.append(self.pull_request_job(role))
        found.extend(self.delegated_jobs(role))
        found.extend(self.action_role_jobs(role))
        return found

    def pulumi_needs(
        self,
        role: Role,
        kind: str,
        stacks: list[tuple[str, str]],
        job: Job,
        profiles: Mapping[str, str] | None = None,
    ) -> None:
        """The backend's and the providers' share of a Pulumi command on each stack.

        ``profiles``: account -> the role the runner's profile ``regionflow-<account>`` assumes. A resource whose
        provider names such a profile is the business of that role's delegated job (:meth:`delegated_jobs`); the
        runner needs ``sts:AssumeRole`` on it, which the SDK calls when the provider is configured, so also for a
        preview that reads nothing.
        """
        what = _command_label(kind)
        for project, stack in stacks:
            manifest = self.manifests.stack(project, stack)
            label = f"{what} of {project}/{stack}"
            if manifest is None:
                job.unknown.append(f"{label}: no manifest for that stack")
                continue
            for profile in sorted({r.profile for r in manifest.resources if r.profile}):
                account = account_of_profile(profile)
                target = (profiles or {}).get(account) if account else None
                if target is None:
                    job.unknown.append(
                        f"{label}: its AWS provider names the profile {profile}, which {job.label} does not define "
                        "(docs/accounts.md); the provider's calls are not judged"
                    )
                    continue
                region = next((r.region for r in manifest.resources if r.profile == profile), IAM_REGION)
                job.needs.append(
                    self.need(
                        role,
                        "sts:AssumeRole",
                        target,
                        region,
                        f"the AWS provider of {project}/{stack} (profile {profile}) in {what}",
                        ASSUME_ROLE_SOURCE,
                    )
                )
            own = [r for r in manifest.resources if not r.profile]
            self._provider_needs(role, kind, project, own, label, job)
        if self.backend is None:
            job.unknown.append(f"{what}: the state backend is unknown (no PULUMI_BACKEND_URL in the manifests)")
            return
        job.needs.extend(backend_needs(self.backend, role, self.manifests, kind=kind, stacks=stacks, job=what))

    def _provider_needs(
        self, role: Role, kind: str, project: str, resources: list[Resource], label: str, job: Job
    ) -> None:
        """The provider's calls of ``kind`` on ``resources``, made as ``role``."""
        phases: tuple[Phase, ...] = ()
        if kind in ("up", "destroy"):
            phases = ALL_PHASES
        elif kind in ("refresh", "preview-refresh"):
            phases = (Phase.READ,)
        for resource in resources:
            in_scope = tuple(p for p in phases if not self._excluded(kind, project, resource.type, p))
            for item in resource_needs(role, resource, in_scope, self.manifests, label):
                if isinstance(item, UnknownType):
                    self.unknown_types.setdefault(item.type, item.resource)
                    job.unknown.append(f"no provider requirements for {item.type} ({item.resource})")
                elif isinstance(item, UnresolvedTarget):
                    job.unknown.append(f"{item.resource}: no ARN found for {item.call}")
                else:
                    job.needs.append(item)

    # --- regions in other accounts: runners whose providers act as roles there ------------------------

    def delegations(self) -> list[Delegation]:
        """Every runner that reaches stacks of other accounts through ``regionflow-<account>`` profiles."""
        if self._delegations is not None:
            return self._delegations
        found: list[Delegation] = []
        for project in self.manifests.of_type(PROJECT_TYPE):
            role_arn = str(project.get("serviceRole") or "")
            env = _env(project)
            buildspec, _ = self._commands_of(str((project.get("source") or {}).get("buildspec") or ""))
            kind, _ = pulumi_kind(buildspec)
            profiles = _target_profiles(env) if _WRITES_PROFILES.search(buildspec) else {}
            if kind and profiles:
                stacks = tuple(stacks_of_environment(env, self.manifests, self.root))
                name = str(project.get("name") or project.name)
                found.append(
                    Delegation(role_arn, f"CodeBuild project {name}", kind, stacks, tuple(sorted(profiles.items())))
                )
        for role in list(self.manifests.roles.values()):
            if any(GITHUB_OIDC_HOST in f for f in role.trusted_federated()):
                profiles = self.workflow_profiles()
                if profiles:
                    kind = self._workflow_kind()
                    stacks = tuple((s.project, s.stack) for s in self.manifests.stacks)
                    found.append(
                        Delegation(role.arn, "the pull-request workflow", kind, stacks, tuple(sorted(profiles.items())))
                    )
        self._delegations = found
        return found

    def delegated_jobs(self, role: Role) -> list[Job]:
        """The provider's share of each runner's command on the stacks of ``role``'s account, made as ``role``."""
        jobs: list[Job] = []
        for delegation in self.delegations():
            accounts = [account for account, arn in delegation.profiles if arn == role.arn]
            for account in accounts:
                profile = f"regionflow-{account}"
                what = _command_label(delegation.kind)
                job = Job(role, f"the AWS provider (profile {profile}) of {delegation.label} ({what})")
                for project, stack in delegation.stacks:
                    manifest = self.manifests.stack(project, stack)
                    if manifest is None:
                        continue
                    reached = [r for r in manifest.resources if r.profile and account_of_profile(r.profile) == account]
                    label = f"{what} of {project}/{stack} by {delegation.label}, through profile {profile}"
                    self._provider_needs(role, delegation.kind, project, reached, label, job)
                jobs.append(job)
        return jobs

    def action_roles(self) -> list[str]:
        """The roles pipeline actions name in ``roleArn`` (CodePipeline assumes them to run the action)."""
        return sorted({str(a["roleArn"]) for _, _, a in self._pipeline_actions() if a.get("roleArn")})

    def action_role_jobs(self, role: Role) -> list[Job]:
        """What CodePipeline does as an action's ``roleArn``: the action's own call (CodePipeline user guide,
        "Create a pipeline in CodePipeline that uses resources from another AWS account": the action role is
        assumed to act on the other account's resources). A Lambda action invokes its function there."""
        jobs: list[Job] = []
        for pipeline, stage, action in self._pipeline_actions():
            if action.get("roleArn") != role.arn:
                continue
            name = str(pipeline.get("name") or pipeline.name)
            label = f"action {stage}/{action.get('name')} of {name} (its roleArn)"
            job = Job(role, label)
            region = str(action.get("region") or pipeline.region)
            provider = str(action.get("provider"))
            configuration = action.get("configuration") or {}
            if provider == "Lambda":
                function = function_arn(self.manifests, str(configuration.get("FunctionName")), region, role.account)
                detail = "CodePipeline user guide, Lambda invoke action"
                job.needs.append(self.need(role, "lambda:InvokeFunction", function, region, label, detail))
            else:
                job.unknown.append(f"{label}: what a {provider} action does as its roleArn is not modelled")
            if action.get("inputArtifacts") or action.get("outputArtifacts"):
                job.unknown.append(f"{label}: artifacts of an action with its own roleArn are not modelled")
            jobs.append(job)
        return jobs

    def workflow_profiles(self) -> dict[str, str]:
        """account -> read role: the profiles the pull-request workflow writes for stacks of other accounts.

        The workflow runs ``python -m regionflow.accounts`` before the preview (it writes, for a stack whose
        ``account`` is another than its ``pipelineAccount``, the profile ``regionflow-<account>`` with
        ``role_arn`` = that account's read role); without that step no profile exists there.
        """
        workflow = self.root / ".github" / "workflows" / "preview.yml" if self.root else None
        if workflow is None or not workflow.is_file() or WORKFLOW_PROFILE_COMMAND not in workflow.read_text():
            return {}
        profiles: dict[str, str] = {}
        for stack in self.manifests.stacks:
            for profile in {r.profile for r in stack.resources if r.profile}:
                account = account_of_profile(profile)
                prefix, environment = stack.exports.get("namePrefix"), stack.exports.get("environment")
                if account and isinstance(prefix, str) and isinstance(environment, str):
                    profiles[account] = read_role_arn(account, prefix, environment)
        return profiles

    def _workflow_kind(self) -> str:
        workflow = self.root / ".github" / "workflows" / "preview.yml" if self.root else None
        text = workflow.read_text() if workflow is not None and workflow.is_file() else ""
        return "preview-refresh" if re.search(r"^\s*refresh:\s*true\b", text, re.MULTILINE) else "preview"

    def _excluded(self, kind: str, project: str, resource_type: str, phase: Phase) -> bool:
        for exclusion in self.scope:
            if exclusion.covers(kind, project, resource_type, phase):
                exclusion.used += 1
                return True
        return False

    def prohibitions(self, role: Role, writes: set[tuple[str, str]], label: str) -> list[Need]:
        """What no job of ``role`` needs and least privilege forbids (issue 10, item 7).

        * the state bucket's configuration (policy, versioning, encryption, lifecycle, public access
          block, ownership, deletion) belongs to ``regionflow bootstrap``;
        * a role writes the state of the stacks it applies, and of no other stack;
        * the backend's KMS keys are administered by their owner, never by a pipeline role.
        """
        backend = self.backend
        if backend is None:
            return []
        forbidden: list[Need] = []
        # An upload that sends the headers the state bucket's policy asks for: what a role could do.
        sse = {"s3:x-amz-server-side-encryption": "aws:kms"}
        if backend.state_key_arn:
            sse["s3:x-amz-server-side-encryption-aws-kms-key-id"] = backend.state_key_arn
        why_config = "the state bucket's configuration, which only regionflow bootstrap manages"
        for action in (
            "s3:PutBucketPolicy",
            "s3:DeleteBucketPolicy",
            "s3:PutBucketVersioning",
            "s3:PutEncryptionConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:PutBucketPublicAccessBlock",
            "s3:PutBucketOwnershipControls",
            "s3:DeleteBucket",
        ):
            forbidden.append(self.need(role, action, backend.bucket_arn, backend.region, why_config, "least privilege"))
        for manifest in self.manifests.stacks:
            if (manifest.project, manifest.stack) in writes:
                continue
            arn = backend.object_arn(backend.checkpoint(manifest.project, manifest.stack))
            for action in ("s3:PutObject", "s3:DeleteObject"):
                forbidden.append(
                    self.need(
                        role,
                        action,
                        arn,
                        backend.region,
                        f"the state of {manifest.label}, which {label} does not apply",
                        "least privilege: a role writes only the state of its own stacks",
                        s3=sse,
                    )
                )
        for key in (backend.state_key_arn, backend.secrets_key_arn):
            if not key:
                continue
            for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"):
                forbidden.append(
                    self.need(role, action, key, backend.region, "the state backend's KMS key", "least privilege")
                )
        return forbidden

    def codebuild_job(self, role: Role, project: Resource) -> Job:
        name = str(project.get("name") or project.name)
        env = _env(project)
        source = project.get("source") or {}
        job = Job(role, f"CodeBuild project {name}")
        buildspec = self.commands_of(str(source.get("buildspec") or ""), job)
        kind, _ = pulumi_kind(buildspec)
        # The profiles the build writes for stacks of other accounts (scripts/common.sh write_target_profiles).
        profiles = _target_profiles(env) if _WRITES_PROFILES.search(buildspec) else {}
        stacks = stacks_of_environment(env, self.manifests, self.root) if kind else []
        what = f"CodeBuild project {name}"
        if kind:
            what += f" (pulumi {kind} of {', '.join(f'{p}/{s}' for p, s in stacks) or 'no stack found'})"
        job.label = what
        region = project.region
        account = project.stack.account
        detail = "CodeBuild user guide, service role"
        logs = (project.get("logsConfig") or {}).get("cloudwatchLogs") or {}
        if str(logs.get("status", "ENABLED")).upper() == "ENABLED":
            group = logs.get("groupName") or f"/aws/codebuild/{name}"
            stream = f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{LOG_STREAM}"
            for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                job.needs.append(self.need(role, action, stream, region, f"the build logs of {what}", detail))
            job.needs.append(
                self.need(
                    role,
                    "logs:CreateLogGroup",
                    f"arn:aws:logs:{region}:{account}:log-group:{group}",
                    region,
                    f"the build logs of {what}",
                    detail,
                    uncertain="the group exists (the stack creates it); CodeBuild's documented policy still lists "
                    "CreateLogGroup",
                )
            )
        self._codebuild_sources(role, project, job, what)
        if kind:
            if not stacks:
                job.unknown.append(f"{what}: the buildspec runs pulumi, but no stack was found in its environment")
            backend_url = env.get("PULUMI_BACKEND_URL")
            saved = self.backend
            if backend_url and (saved is None or saved.url != backend_url):
                # Another backend than the pipeline's: its keys are not known.
                self.backend = Backend.from_url(backend_url, state_key_arn=None, secrets_key_arn=None)
            job.writes = set(stacks) if kind in ("up", "refresh", "destroy") else set()
            self.pulumi_needs(role, kind, stacks, job, profiles)
            self.backend = saved
        self._cli_calls(role, buildspec, env, region, job, what, account)
        return job

    def commands_of(self, buildspec: str, job: Job) -> str:
        """What a build runs: its buildspec and the repository's scripts it runs (and they source), without
        full-line comments, which may mention commands the build does not run."""
        text, unknown = self._commands_of(buildspec)
        job.unknown.extend(unknown)
        return text

    def _commands_of(self, buildspec: str) -> tuple[str, list[str]]:
        """(commands, what could not be read), read once per buildspec."""
        cached = self._commands.get(buildspec)
        if cached is None:
            unknown: list[str] = []
            cached = self._commands[buildspec] = (self._read_commands(buildspec, unknown), unknown)
        return cached[0], list(cached[1])

    def _read_commands(self, buildspec: str, unknown: list[str]) -> str:
        def code(text: str) -> list[str]:
            return [line for line in text.splitlines() if not line.lstrip().startswith("#")]

        lines = code(buildspec)
        pending = [(found, "") for line in lines for found in _SCRIPT.findall(line)]
        seen: set[Path] = set()
        while pending:
            reference, base = pending.pop(0)
            path = self._script_path(reference, base)
            if path is None:
                unknown.append(f"the build runs {reference}, which the check cannot read (pass --root)")
                continue
            if path in seen:
                continue
            seen.add(path)
            script_lines = code(path.read_text())
            lines.extend(script_lines)
            folder = str(path.parent.relative_to(self.root)) if self.root is not None else ""
            pending.extend((found, folder) for line in script_lines for found in _SCRIPT.findall(line))
        return "\n".join(lines)

    def _script_path(self, reference: str, base: str) -> Path | None:
        """A script named in a build: from the source root, or (``source "$(dirname ...)/x.sh"``) next to
        the script that names it."""
        if self.root is None:
            return None
        for candidate in (self.root / reference.lstrip("/"), self.root / base / Path(reference).name):
            if candidate.is_file():
                return candidate.resolve()
        return None

    def _codebuild_sources(self, role: Role, project: Resource, job: Job, what: str) -> None:
        name = str(project.get("name") or project.name)
        source = project.get("source") or {}
        region = project.region
        auth = source.get("auth") or {}
        connection = (
            str(auth.get("resource") or "")
            if str(auth.get("type", "")).upper()
            in (
                "CODECONNECTIONS",
                "CODESTAR_CONNECTIONS",
            )
            else ""
        )
        if connection:
            prefix = connection.split(":")[2]
            why = f"the source of {what} (a {source.get('type')} repository through its connection)"
            detail = "CodeBuild user guide, GitHub through CodeConnections; the prefix follows the connection ARN"
            for connection_action in (f"{prefix}:UseConnection", f"{prefix}:GetConnectionToken"):
                job.needs.append(self.need(role, connection_action, connection, region, why, detail))
            job.needs.append(
                self.need(
                    role,
                    f"{prefix}:GetConnection",
                    connection,
                    region,
                    why,
                    detail,
                    uncertain="listed by the CodeBuild guide; not established that a build calls it",
                )
            )
        if str(source.get("type", "")).upper() != "CODEPIPELINE":
            return
        for pipeline, stage, action in self._pipeline_actions():
            configuration = action.get("configuration") or {}
            if configuration.get("ProjectName") != name:
                continue
            action_region = str(action.get("region") or pipeline.region)
            store = self._store(pipeline, action_region)
            if store is None:
                job.unknown.append(f"{what}: no artifact store for {action_region} in {pipeline.label}")
                continue
            bucket, key = store
            why_in = f"the input artifacts of {what} (action {stage}/{action.get('name')} of {pipeline.name})"
            for artifact in action.get("inputArtifacts") or []:
                arn = self._artifact_arn(pipeline, bucket, str(artifact))
                job.needs.append(self.need(role, "s3:GetObject", arn, action_region, why_in, "CodeBuild user guide"))
                if key:
                    job.needs.append(
                        self.need(role, "kms:Decrypt", key, action_region, why_in, "SSE-KMS artifact", via="s3")
                    )
            for artifact in action.get("outputArtifacts") or []:
                arn = self._artifact_arn(pipeline, bucket, str(artifact))
                why_out = f"the output artifacts of {what}"
                sse = {"s3:x-amz-server-side-encryption": "aws:kms"}
                if key:
                    sse["s3:x-amz-server-side-encryption-aws-kms-key-id"] = key
                job.needs.append(self.need(role, "s3:PutObject", arn, action_region, why_out, "CodeBuild", s3=sse))
                if key:
                    job.needs.append(
                        self.need(role, "kms:GenerateDataKey", key, action_region, why_out, "SSE-KMS", via="s3")
                    )

    def _cli_calls(
        self, role: Role, buildspec: str, env: Mapping[str, str], region: str, job: Job, what: str, account: str
    ) -> None:
        variables = script_variables(buildspec, env)
        for service, operation, rest in _AWS_COMMAND.findall(buildspec):
            if (service, operation) == SOURCE_ARTIFACT_COPY and "PIPELINE_NAME" in variables:
                job.needs.extend(self._source_artifact_copy(role, variables, what))
                continue
            entry = CLI_CALLS.get((service, operation))
            if entry is None:
                job.unknown.append(f"{what}: `aws {service} {operation}` is not in CLI_CALLS")
                continue
            action, option, kind = entry
            try:
                words = shlex.split(rest.replace("\\\n", " "), comments=False)
            except ValueError:
                words = rest.split()
            options: dict[str, str] = {}
            for index, word in enumerate(words):
                if word.startswith("--") and "=" in word:
                    options[word.split("=", 1)[0]] = word.split("=", 1)[1]
                elif word.startswith("--") and index + 1 < len(words):
                    options[word] = words[index + 1]
            raw = options.get(option, "").strip("\"'")
            value = expand(raw, variables) if raw else None
            if not value:
                job.unknown.append(f"{what}: `aws {service} {operation}` names {option} {raw or '?'} (not resolved)")
                continue
            arn = {
                "arn": value,
                "pipeline": f"arn:aws:codepipeline:{region}:{account}:{value}",
                "project": f"arn:aws:codebuild:{region}:{account}:project/{value}",
                "bucket": f"arn:aws:s3:::{value}",
            }[kind]
            call_region = arn.split(":")[3] or expand(options.get("--region", "").strip("\"'"), variables) or region
            why = f"`aws {service} {operation}` in the build of {what}"
            s3: dict[str, str] = {}
            if action == "s3:ListBucket":
                s3["s3:prefix"] = expand(options.get("--prefix", "").strip("\"'"), variables) or ""
            job.needs.append(self.need(role, action, arn, call_region, why, "the build's commands", s3=s3))
            if action == "sns:Publish":
                job.needs.extend(self._encrypted_send(role, arn, why, "the build's commands"))

    # --- pipelines ----------------------------------------------------------------------------

    def _pipeline_actions(self) -> Iterator[tuple[Resource, str, Mapping[str, Any]]]:
        for pipeline in self.manifests.of_type(PIPELINE_TYPE):
            for stage in pipeline.get("stages") or []:
                for action in stage.get("actions") or []:
                    yield pipeline, str(stage.get("name")), action

    def _store(self, pipeline: Resource, region: str) -> tuple[str, str | None] | None:
        stores = pipeline.get("artifactStores") or []
        for store in stores:
            if str(store.get("region") or pipeline.region) == region or len(stores) == 1:
                encryption = store.get("encryptionKey") or {}
                key = encryption.get("id")
                key_arn = self.manifests.key_arn(str(key), region) if key else None
                return str(store.get("location")), key_arn
        return None

    def _source_artifact_copy(self, role: Role, variables: Mapping[str, str], what: str) -> list[Need]:
        """The Source action's output artifact, read by a build with no source of its own (drift detection)."""
        name, action_name = variables.get("PIPELINE_NAME", ""), variables.get("SOURCE_ACTION", "")
        for pipeline, _stage, action in self._pipeline_actions():
            if str(pipeline.get("name") or pipeline.name) != name or action.get("name") != action_name:
                continue
            store = self._store(pipeline, pipeline.region)
            if store is None:
                break
            bucket, key = store
            why = f"`aws s3 cp` of {name}'s source artifact in the build of {what}"
            needs = []
            for artifact in action.get("outputArtifacts") or []:
                arn = self._artifact_arn(pipeline, bucket, str(artifact))
                needs.append(self.need(role, "s3:GetObject", arn, pipeline.region, why, "the build's commands"))
                if key:
                    needs.append(self.need(role, "kms:Decrypt", key, pipeline.region, why, "SSE-KMS", via="s3"))
            return needs
        return []

    @staticmethod
    def _artifact_arn(pipeline: Resource, bucket: str, artifact: str) -> str:
        # CodePipeline stores an artifact as <bucket>/<pipeline name, up to 20 chars>/<artifact name, up
        # to 10 chars>/<random key> (CodePipeline user guide, "Input and output artifacts").
        name = str(pipeline.get("name") or pipeline.name)
        return f"arn:aws:s3:::{bucket}/{name[:20]}/{artifact[:10]}/{ARTIFACT_OBJECT}"

    def _alarm_elsewhere(self, name: str, region: str, account: str) -> str | None:
        """The ARN of the stacks' alarm ``name`` in ``region`` when it lives in another account than ``account``."""
        for alarm_type in ("aws:cloudwatch/metricAlarm:MetricAlarm", "aws:cloudwatch/compositeAlarm:CompositeAlarm"):
            for alarm in self.manifests.of_type(alarm_type):
                arn = str(alarm.get("arn") or "")
                if (alarm.get("name") or alarm.get("alarmName")) == name and alarm.region == region:
                    return arn if alarm.stack.account != account and arn.startswith("arn:") else None
        return None

    def _condition_needs(
        self,
        role: Role,
        job: Job,
        name: str,
        stage: Mapping[str, Any],
        home: str,
        pipeline: Resource | None = None,
    ) -> None:
        """What the rules of a stage's conditions do as the pipeline role (regionflow.delivery).

        A rule runs as the pipeline's role unless it names its own (RuleDeclaration ``roleArn``), in its
        ``region`` (default: the pipeline's). The CodePipeline rule reference lists no IAM actions: a
        CloudWatchAlarm rule reads its alarm's state (``cloudwatch:DescribeAlarms``; its history within
        WaitTime, ``cloudwatch:DescribeAlarmHistory``, is not established), a LambdaInvoke rule invokes its
        function; DeploymentWindow and VariableCheck read nothing of the account.
        """
        detail = "CodePipeline rule reference (rule-reference-<provider>)"
        account = self.manifests.account if pipeline is None else pipeline.stack.account
        for kind in ("beforeEntry", "onSuccess", "onFailure"):
            block = stage.get(kind) or {}
            condition = block.get("condition") if isinstance(block, Mapping) else None
            if not isinstance(condition, Mapping):
                continue
            for rule in condition.get("rules") or []:
                provider = str((rule.get("ruleTypeId") or {}).get("provider"))
                region = str(rule.get("region") or home)
                configuration = rule.get("configuration") or {}
                label = f"rule {stage.get('name')}/{kind}/{rule.get('name')} of {name}"
                if rule.get("roleArn"):
                    job.needs.append(self.need(role, "sts:AssumeRole", str(rule["roleArn"]), region, label, detail))
                elif provider == "CloudWatchAlarm":
                    arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{configuration.get('AlarmName')}"
                    elsewhere = self._alarm_elsewhere(str(configuration.get("AlarmName")), region, account)
                    if elsewhere is not None:
                        # The rule names an alarm, not an account: it reads the pipeline account's alarms (rule
                        # reference: AlarmName only). The stacks' alarm of that name is in another account.
                        job.needs.append(
                            Need(
                                role=role.arn,
                                action="cloudwatch:DescribeAlarms",
                                resource=elsewhere,
                                context=self.need(role, "cloudwatch:DescribeAlarms", arn, region, label, "").context,
                                why=label,
                                detail=detail,
                                unknowable=(
                                    f"the rule reads alarms of the pipeline account {account} by name, and the stacks' "
                                    f"alarm {configuration.get('AlarmName')} is in account {elsewhere.split(':')[4]}; "
                                    "whether a CloudWatchAlarm rule can watch another account's alarm is not "
                                    "documented (docs/accounts.md, Known limit: bakes)"
                                ),
                            )
                        )
                        continue
                    job.needs.append(self.need(role, "cloudwatch:DescribeAlarms", arn, region, label, detail))
                    job.needs.append(
                        self.need(
                            role,
                            "cloudwatch:DescribeAlarmHistory",
                            arn,
                            region,
                            label,
                            detail,
                            uncertain="the rule reference does not say whether WaitTime reads the alarm's history",
                        )
                    )
                elif provider == "LambdaInvoke":
                    function = function_arn(self.manifests, str(configuration.get("FunctionName")), region)
                    job.needs.append(self.need(role, "lambda:InvokeFunction", function, region, label, detail))
                elif provider not in ("DeploymentWindow", "VariableCheck"):
                    job.unknown.append(f"{label}: rule provider {provider} is not modelled")

    def pipeline_job(self, role: Role, pipeline: Resource) -> Job:
        name = str(pipeline.get("name") or pipeline.name)
        job = Job(role, f"pipeline {name}")
        home = pipeline.region
        account = pipeline.stack.account
        detail = "CodePipeline user guide, service role"
        produced_in: dict[str, str] = {}
        for stage in pipeline.get("stages") or []:
            for action in stage.get("actions") or []:
                label = f"action {stage.get('name')}/{action.get('name')} of {name}"
                region = str(action.get("region") or home)
                provider = str(action.get("provider"))
                configuration = action.get("configuration") or {}
                if action.get("roleArn"):
                    job.needs.append(self.need(role, "sts:AssumeRole", str(action["roleArn"]), region, label, detail))
                    continue
                for artifact in action.get("inputArtifacts") or []:
                    source_region = produced_in.get(str(artifact), home)
                    if source_region != region:
                        self._artifact_copy(role, pipeline, str(artifact), source_region, region, label, job)
                for artifact in action.get("outputArtifacts") or []:
                    produced_in[str(artifact)] = region
                    if provider in ("CodeStarSourceConnection", "S3", "CodeCommit", "ECR"):
                        self._artifact_put(role, pipeline, str(artifact), region, label, job)
                if provider == "CodeStarSourceConnection":
                    connection = str(configuration.get("ConnectionArn", ""))
                    prefix = connection.split(":")[2] if connection.startswith("arn:") else "codestar-connections"
                    job.needs.append(self.need(role, f"{prefix}:UseConnection", connection, region, label, detail))
                elif provider == "S3":
                    bucket = configuration.get("S3Bucket")
                    key = configuration.get("S3ObjectKey")
                    for act in ("s3:GetObject", "s3:GetObjectVersion"):
                        job.needs.append(self.need(role, act, f"arn:aws:s3:::{bucket}/{key}", region, label, detail))
                    job.needs.append(
                        self.need(role, "s3:GetBucketVersioning", f"arn:aws:s3:::{bucket}", region, label, detail)
                    )
                elif provider == "CodeBuild":
                    arn = f"arn:aws:codebuild:{region}:{account}:project/{configuration.get('ProjectName')}"
                    for act in ("codebuild:StartBuild", "codebuild:BatchGetBuilds"):
                        job.needs.append(self.need(role, act, arn, region, label, detail))
                    job.needs.append(
                        self.need(
                            role,
                            "codebuild:StopBuild",
                            arn,
                            region,
                            label,
                            detail,
                            uncertain="only when an execution is stopped while the build runs",
                        )
                    )
                elif provider == "Lambda":
                    arn = function_arn(self.manifests, str(configuration.get("FunctionName")), region)
                    job.needs.append(self.need(role, "lambda:InvokeFunction", arn, region, label, detail))
                elif provider == "Manual":
                    topic = configuration.get("NotificationArn")
                    if topic:
                        job.needs.extend(self._send(role, str(topic), f"the approval notification of {label}", detail))
                else:
                    job.unknown.append(f"{label}: action provider {provider} is not modelled")
            self._condition_needs(role, job, name, stage, home, pipeline)
        for store in pipeline.get("artifactStores") or []:
            bucket = store.get("location")
            region = str(store.get("region") or home)
            job.needs.append(
                self.need(
                    role,
                    "s3:GetBucketVersioning",
                    f"arn:aws:s3:::{bucket}",
                    region,
                    f"the artifact store of {name} in {region}",
                    detail,
                    uncertain="in CodePipeline's documented service role policy; not established that "
                    "every run calls it",
                )
            )
        return job

    def _artifact_put(self, role: Role, pipeline: Resource, artifact: str, region: str, label: str, job: Job) -> None:
        store = self._store(pipeline, region)
        if store is None:
            job.unknown.append(f"{label}: no artifact store in {region}")
            return
        bucket, key = store
        sse = {"s3:x-amz-server-side-encryption": "aws:kms"}
        if key:
            sse["s3:x-amz-server-side-encryption-aws-kms-key-id"] = key
        why = f"{label} writes artifact {artifact}"
        job.needs.append(
            self.need(
                role,
                "s3:PutObject",
                self._artifact_arn(pipeline, bucket, artifact),
                region,
                why,
                "CodePipeline user guide",
                s3=sse,
            )
        )
        if key:
            job.needs.append(self.need(role, "kms:GenerateDataKey", key, region, why, "SSE-KMS artifact", via="s3"))

    def _artifact_copy(
        self, role: Role, pipeline: Resource, artifact: str, source: str, target: str, label: str, job: Job
    ) -> None:
        """A cross-region action: CodePipeline copies the artifact to that region's store."""
        origin = self._store(pipeline, source)
        if origin is None:
            job.unknown.append(f"{label}: no artifact store in {source}")
            return
        bucket, key = origin
        why = f"{label} copies artifact {artifact} from {source} to {target}"
        job.needs.append(
            self.need(
                role,
                "s3:GetObject",
                self._artifact_arn(pipeline, bucket, artifact),
                source,
                why,
                "CodePipeline user guide, cross-Region actions",
            )
        )
        if key:
            job.needs.append(self.need(role, "kms:Decrypt", key, source, why, "SSE-KMS artifact", via="s3"))
        self._artifact_put(role, pipeline, artifact, target, label, job)

    # --- functions, schedules, pull requests --------------------------------------------------

    def function_job(self, role: Role, function: Resource) -> Job:
        name = str(function.get("name") or function.name)
        region = function.region
        account = function.stack.account  # its logs, table and topic are its own account's
        job = Job(role, f"Lambda function {name}")
        detail = "Lambda developer guide, execution role"
        group = (function.get("loggingConfig") or {}).get("logGroup") or f"/aws/lambda/{name}"
        stream = f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{LOG_STREAM}"
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            job.needs.append(self.need(role, action, stream, region, f"the logs of {job.label}", detail))
        if str((function.get("tracingConfig") or {}).get("mode", "")).lower() == "active":
            for action in ("xray:PutTraceSegments", "xray:PutTelemetryRecords"):
                job.needs.append(
                    self.need(
                        role, action, "*", region, f"active tracing of {job.label}", "Lambda developer guide, X-Ray"
                    )
                )
        dead_letter = (function.get("deadLetterConfig") or {}).get("targetArn")
        if dead_letter:
            job.needs.extend(self._send(role, str(dead_letter), f"the dead-letter queue of {job.label}", detail))
        this_function = str(function.get("arn"))
        for config in self.manifests.of_type(INVOKE_CONFIG_TYPE):
            if config.get("functionName") not in (name, this_function) or config.region != region:
                continue
            for outcome in ("onFailure", "onSuccess"):
                destination = ((config.get("destinationConfig") or {}).get(outcome) or {}).get("destination")
                if destination:
                    job.needs.extend(
                        self._send(
                            role,
                            str(destination),
                            f"the {outcome} destination of {job.label}",
                            "Lambda developer guide, destinations (the execution role sends)",
                        )
                    )
        env_key = function.get("kmsKeyArn")
        if env_key:
            env_key_arn = self.manifests.key_arn(str(env_key), region, account) or str(env_key)
            job.needs.append(
                self.need(
                    role,
                    "kms:Decrypt",
                    env_key_arn,
                    region,
                    f"the environment of {job.label}",
                    detail,
                    via="lambda",
                    uncertain="Lambda decrypts with the function's grant",
                )
            )
        handler = str(function.get("handler") or "")
        profile = CODE_PROFILES.get(handler)
        if profile is None:
            job.unknown.append(f"{job.label}: what handler {handler} calls is not in CODE_PROFILES")
            return job
        variables = (function.get("environment") or {}).get("variables") or {}
        for actions, variable, kind in profile.calls:
            value = str(variables.get(variable) or "")
            if not value:
                job.unknown.append(f"{job.label}: environment variable {variable} is not set")
                continue
            arn = (
                value
                if value.startswith("arn:")
                else {
                    "table": f"arn:aws:dynamodb:{region}:{account}:table/{value}",
                    "topic": f"arn:aws:sns:{region}:{account}:{value}",
                    "queue": f"arn:aws:sqs:{region}:{account}:{value}",
                }[kind]
            )
            why = f"the code of {job.label} ({variable})"
            for action in actions:
                job.needs.append(self.need(role, action, arn, region, why, profile.source))
            if kind in ("topic", "queue"):
                job.needs.extend(self._encrypted_send(role, arn, why, profile.source))
            if kind == "table":
                table = self.manifests.by_arn.get(arn)
                table_key = self._key_of(table, "serverSideEncryption.kmsKeyArn")
                if table_key:
                    job.needs.append(
                        self.need(
                            role,
                            "kms:Decrypt",
                            table_key,
                            region,
                            f"{why} (encrypted table)",
                            profile.source,
                            via="dynamodb",
                            uncertain="DynamoDB uses the table's grant for item operations",
                        )
                    )
        invoked = any(
            action.get("provider") == "Lambda"
            and (action.get("configuration") or {}).get("FunctionName") in (name, this_function)
            and str(action.get("region") or pipeline.region) == region
            for pipeline, _, action in self._pipeline_actions()
        )
        if profile.job_results and invoked:
            for action in ("codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"):
                job.needs.append(
                    self.need(role, action, "*", region, f"pipeline job results of {job.label}", profile.source)
                )
        return job

    def invoke_job(self, role: Role, source: Resource, target: str, what: str) -> Job:
        job = Job(role, f"{what} {source.get('name') or source.name}")
        if not target.startswith("arn:"):
            job.unknown.append(f"{job.label}: target {target or '?'} is not an ARN")
            return job
        service = target.split(":")[2]
        region = target.split(":")[3]
        action = {
            "codebuild": "codebuild:StartBuild",
            "lambda": "lambda:InvokeFunction",
            "sqs": "sqs:SendMessage",
            "sns": "sns:Publish",
            "codepipeline": "codepipeline:StartPipelineExecution",
            "states": "states:StartExecution",
        }.get(service)
        if action is None:
            job.unknown.append(f"{job.label}: target service {service} is not modelled")
            return job
        detail = "EventBridge Scheduler user guide, execution role"
        job.needs.append(self.need(role, action, target, region, f"invoking the target of {job.label}", detail))
        if service in ("sqs", "sns"):
            job.needs.extend(self._encrypted_send(role, target, job.label, detail))
        key = source.get("kmsKeyArn")
        if key:
            job.needs.append(
                self.need(
                    role,
                    "kms:Decrypt",
                    str(key),
                    source.region,
                    f"the key of {job.label}",
                    detail,
                    uncertain="Scheduler decrypts the schedule's target input",
                )
            )
        return job

    def pull_request_job(self, role: Role) -> Job:
        """The pull-request workflow's pulumi/actions preview of every stack (``refresh: true`` makes it
        a refresh too; the workflow is read when the repository is at hand)."""
        kind = self._workflow_kind()
        job = Job(
            role,
            f"the pull-request workflow ({'pulumi preview --refresh' if kind != 'preview' else 'pulumi preview'}"
            " of every stack)",
        )
        stacks = [(s.project, s.stack) for s in self.manifests.stacks]
        self.pulumi_needs(role, kind, stacks, job, self.workflow_profiles())
        return job


def _command_label(kind: str) -> str:
    return {"preview-refresh": "pulumi preview --refresh", "up": "pulumi up"}.get(kind, f"pulumi {kind}")


def _target_profiles(env: Mapping[str, str]) -> dict[str, str]:
    """``REGIONFLOW_TARGET_PROFILES`` ("<account>=<role ARN> ...", regionflow.accounts.profile_pairs) as a dict."""
    pairs = (pair.partition("=") for pair in env.get("REGIONFLOW_TARGET_PROFILES", "").split())
    return {account: arn for account, _, arn in pairs if account and arn.startswith("arn:")}


def pipeline_backend(manifests: Manifests, root: Path | None) -> Backend | None:
    """The backend the pipeline's builds log in to, with its keys from the pipeline stack's config."""
    url = provider = None
    for build in manifests.of_type(PROJECT_TYPE):
        env = _env(build)
        url = url or env.get("PULUMI_BACKEND_URL")
        provider = provider or env.get("PULUMI_SECRETS_PROVIDER")
    if not url:
        return None
    config: Mapping[str, str] = {}
    pipeline = manifests.pipeline_stack()
    if pipeline is not None:
        config = manifests.config.get(pipeline.label, {})
        if not config and root is not None:
            config = _stack_config(root, pipeline)
    project = pipeline.project if pipeline else ""
    return Backend.from_url(
        url,
        state_key_arn=config.get(f"{project}:stateKeyArn"),
        secrets_key_arn=config.get(f"{project}:secretsKeyArn"),
        secrets_provider=provider,
    )


def _stack_config(root: Path, stack: StackManifest) -> dict[str, str]:
    from regionflow.offline.discovery import DiscoveryError, discover_stacks

    try:
        for target in discover_stacks(root / "stacks"):
            if target.project == stack.project and target.stack == stack.stack:
                return dict(target.config)
    except DiscoveryError:
        return {}
    return {}
