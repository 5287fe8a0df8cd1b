"""The typed config model of the pipeline stack, read from Pulumi config and validated up front.

Like :mod:`regionflow.config`, every problem is one :class:`~regionflow.config.ConfigError` line
that names the full key and the fix, raised before the program registers any resource.

Region values of the regional stacks are Outputs of their StackReferences, but per-region resources
(CodeBuild projects, artifact stores) need the region as a plain string while the program runs. So
each secondary stack's entry names its region here; the program then checks at run time that the
StackReference's ``region`` output agrees (see :mod:`regionflow.components.pipeline.stack`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

import pulumi

from regionflow.config import (
    DEFAULT_LOG_RETENTION_DAYS,
    LOG_RETENTION_DAYS,
    ConfigError,
    ConfigGetter,
    ConfigReader,
    SecretCheck,
    check_program_keys,
    closest,
    config_set_command,
    pulumi_config_getter,
    pulumi_secret_check,
)
from regionflow.delivery import DeliveryConfig, load_delivery_config
from regionflow.naming import NameKind, Namer
from regionflow.offline.discovery import ORGANIZATION, discover_stacks
from regionflow.regions import SUPPORTED_REGIONS, closest_regions
from regionflow.tagging import default_tags

SourceKind = Literal["github", "s3"]

DEFAULT_PULUMI_VERSION = "3.272.0"  # the SDK pinned in constraints.txt; CLI and SDK share versions
DEFAULT_FILE_PATHS: tuple[str, ...] = ("stacks/**", "shared/**", "functions/**", "constraints.txt")
DEFAULT_SOURCE_OBJECT_KEY = "source/regionflow.zip"
# A manual approval action waits at most 7 days (CodePipeline quotas); 5 minutes is its minimum.
APPROVAL_TIMEOUT_RANGE = (5, 10080)

STACK_NAME_PATTERN = re.compile(rf"^{ORGANIZATION}/(?P<project>[A-Za-z0-9._-]+)/(?P<stack>[A-Za-z0-9._-]+)$")
REPOSITORY_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
BRANCH_PATTERN = re.compile(r"^[A-Za-z0-9._/-]{1,255}$")
VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")
KMS_KEY_ARN_PATTERN = re.compile(
    r"^arn:aws:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
S3_BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
OBJECT_KEY_PATTERN = re.compile(r"^[A-Za-z0-9!_.*'()/-]{1,1024}\.zip$")

# The longest purpose the pipeline stack uses per kind of name (see components/pipeline/).
PIPELINE_LONGEST_NAMES: dict[NameKind, str] = {
    NameKind.IAM_ROLE: "update-pipeline",
    NameKind.IAM_POLICY: "deploy-boundary",
    NameKind.CODEBUILD_PROJECT: "update-pipeline",
    NameKind.CODEPIPELINE: "pipeline",
    NameKind.CODESTAR_CONNECTION: "github",
}


@dataclass(frozen=True)
class StackRef:
    """A regional stack the pipeline deploys: its qualified name, project folder and region."""

    qualified_name: str  # organization/<project>/<stack>
    project: str
    stack: str
    folder: str  # the project's folder relative to the repository root, e.g. "stacks/secondary"
    region: str
    # The account the stack deploys into (regionflow.accounts); None: the pipeline's own account.
    account: str | None = None

    @property
    def label(self) -> str:
        return f"{self.project}/{self.stack}"


@dataclass(frozen=True)
class GitHubSourceConfig:
    repository: str  # owner/name
    branch: str
    file_paths: tuple[str, ...]

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}.git"


@dataclass(frozen=True)
class S3SourceConfig:
    object_key: str  # a zip in the primary region's artifact bucket


@dataclass(frozen=True)
class StateBackendConfig:
    url: str
    bucket: str
    region: str
    state_key_arn: str
    secrets_provider: str
    secrets_key_arn: str


@dataclass(frozen=True)
class PipelineConfig:
    project: str
    stack: str
    environment: str
    region: str  # the home region: the primary stack's region, where the pipeline lives
    account_id: str  # the account of the state backend, which the pipeline deploys into
    name_prefix: str
    owner: str
    cost_center: str
    primary: StackRef
    secondaries: tuple[StackRef, ...]
    source_kind: SourceKind
    github: GitHubSourceConfig | None
    s3: S3SourceConfig | None
    pulumi_version: str
    backend: StateBackendConfig
    approval_timeout_minutes: int
    update_pipeline: bool
    drift_detection: bool
    notification_email: pulumi.Input[str] | None  # an Output marked secret when the value is `secure:`
    log_retention_days: int
    repo_root: Path
    # Waves, bakes, deployment window, approval gate and retries (regionflow.delivery, docs/delivery.md).
    delivery: DeliveryConfig

    @property
    def namer(self) -> Namer:
        return Namer(self.name_prefix, self.environment, self.region)

    @property
    def qualified_name(self) -> str:
        return f"{ORGANIZATION}/{self.project}/{self.stack}"

    @property
    def target_accounts(self) -> tuple[str, ...]:
        """The other accounts the pipeline deploys into (regionflow.accounts), sorted."""
        return tuple(sorted({s.account for s in self.secondaries if s.account is not None}))

    @property
    def regions(self) -> tuple[str, ...]:
        return (self.primary.region, *(s.region for s in self.secondaries))

    def tags(self) -> dict[str, str]:
        return default_tags(
            project=self.project,
            environment=self.environment,
            owner=self.owner,
            cost_center=self.cost_center,
            stack=f"{self.project}/{self.stack}",
            region=self.region,
        )


def _boolean(reader: ConfigReader, name: str, default: bool) -> bool:
    raw = reader.raw(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    # YAML 1.1 spellings of booleans: the Pulumi CLI reads stack files as YAML 1.2 (Go yaml.v3), where
    # they are plain strings (regionflow.yaml_loading), so the program receives "yes", not true.
    meant = {"yes": "true", "y": "true", "on": "true", "no": "false", "n": "false", "off": "false"}.get(raw.lower())
    why = f"; YAML 1.2, which the Pulumi CLI reads, makes {raw!r} a string, not a boolean" if meant else ""
    raise ConfigError(
        reader.key(name), f"{raw!r} is not true or false{why}", reader.set_hint(name, meant or str(default).lower())
    )


def _json(reader: ConfigReader, name: str, raw: str, example: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(reader.key(name), "must be structured config (a YAML list)", example) from None


class _Stacks:
    """The repository's stacks by qualified name, to check that configured stacks exist."""

    def __init__(self, repo_root: Path) -> None:
        self.folders: dict[str, str] = {}
        for target in discover_stacks(repo_root / "stacks"):
            self.folders[target.qualified_name] = target.project_dir.relative_to(repo_root).as_posix()

    def resolve(self, reader: ConfigReader, key_name: str, value: str, region: str) -> StackRef:
        match = STACK_NAME_PATTERN.match(value)
        if match is None:
            raise ConfigError(
                reader.key(key_name),
                f"{value!r} is not a stack name of the self-managed backend",
                f"use {ORGANIZATION}/<project>/<stack>, e.g. {ORGANIZATION}/regionflow-secondary/prod-eu-west-1",
            )
        folder = self.folders.get(value)
        if folder is None:
            raise ConfigError(
                reader.key(key_name),
                f"{value!r} has no stacks/<folder>/Pulumi.{match['stack']}.yaml in the repository",
                "add the stack's config file or correct the name",
            )
        return StackRef(value, match["project"], match["stack"], folder, region)


SECONDARY_ENTRY_KEYS: tuple[str, ...] = ("stack", "region", "account")
REQUIRED_ENTRY_KEYS: tuple[str, ...] = ("stack", "region")


def secondary_entry_commands(index: int, stack: str, region: str, *, reader: ConfigReader | None = None) -> str:
    """The two `pulumi config set --path` commands that write ``secondaryStacks[index]``."""
    command = reader.command if reader is not None else (lambda arguments: config_set_command(arguments, None))
    entry = f"{SECONDARY_STACKS}[{index}]"
    return (
        f"{command(path_arguments(f'{entry}.stack', stack))} and {command(path_arguments(f'{entry}.region', region))}"
    )


def path_arguments(path: str, value: str) -> str:
    """`--path '<path>' <value>`: quoted, because a shell would expand the brackets."""
    return f"--path '{path}' {value}"


SECONDARY_STACKS = "secondaryStacks"


def _secondaries(reader: ConfigReader, stacks: _Stacks, home: str) -> tuple[StackRef, ...]:
    name = SECONDARY_STACKS
    raw = reader.raw(name)
    if raw is None:
        return ()
    entries = _json(
        reader,
        name,
        raw,
        "run "
        + secondary_entry_commands(
            0, f"{ORGANIZATION}/regionflow-secondary/prod-eu-west-1", "eu-west-1", reader=reader
        ),
    )
    if not isinstance(entries, list):
        raise ConfigError(
            reader.key(name),
            "must be a list of {stack, region} entries",
            "run "
            + secondary_entry_commands(
                0, f"{ORGANIZATION}/regionflow-secondary/prod-eu-west-1", "eu-west-1", reader=reader
            ),
        )
    refs: list[StackRef] = []
    for index, entry in enumerate(entries):
        key_name = f"{name}[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(
                reader.key(key_name),
                "must be a mapping with the keys stack and region",
                "run "
                + secondary_entry_commands(
                    index, f"{ORGANIZATION}/regionflow-secondary/prod-<region>", "<region>", reader=reader
                ),
            )
        for unknown in sorted(set(entry) - set(SECONDARY_ENTRY_KEYS)):
            suggestion = closest(unknown, SECONDARY_ENTRY_KEYS)
            hint = f" (did you mean {suggestion}?)" if suggestion else ""
            raise ConfigError(
                reader.key(f"{key_name}.{unknown}"),
                f"is not a key of a secondaryStacks entry{hint}; an entry has stack, region and optionally account",
                f"rename it to {suggestion} in the stack file" if suggestion else "remove it from the entry",
            )
        for required in REQUIRED_ENTRY_KEYS:
            if entry.get(required) in (None, ""):
                example = (
                    f"{ORGANIZATION}/regionflow-secondary/prod-{entry.get('region') or '<region>'}"
                    if required == "stack"
                    else _region_of_stack_name(str(entry.get("stack") or "")) or "<region>"
                )
                raise ConfigError(
                    reader.key(f"{key_name}.{required}"),
                    "is missing or blank",
                    "run " + reader.command(path_arguments(f"{key_name}.{required}", example)),
                )
        stack, region = entry["stack"], entry["region"]
        if not isinstance(region, str) or region not in SUPPORTED_REGIONS:
            near = closest_regions(str(region))
            suggestion = f" (did you mean {', '.join(near)}?)" if near else ""
            raise ConfigError(
                reader.key(f"{key_name}.region"),
                f"{region!r} is not an AWS region with CodePipeline, CodeBuild and Lambda{suggestion}",
                "run " + reader.command(path_arguments(f"{key_name}.region", near[0]))
                if near
                else "set it to the region the secondary stack deploys, e.g. eu-west-1",
            )
        if region == home:
            raise ConfigError(
                reader.key(f"{key_name}.region"),
                f"{region!r} is the home region; the primary stack deploys it",
                "remove this entry or give the stack of another region",
            )
        if not isinstance(stack, str):
            raise ConfigError(
                reader.key(f"{key_name}.stack"),
                "must be a string",
                "run "
                + reader.command(
                    path_arguments(f"{key_name}.stack", f"{ORGANIZATION}/regionflow-secondary/prod-{region}")
                ),
            )
        account = entry.get("account")
        if account is not None:
            from regionflow.accounts import is_account

            if isinstance(account, int) and len(str(account)) == 12:
                account = str(account)  # YAML reads an unquoted ID as a number
            if not is_account(account):
                raise ConfigError(
                    reader.key(f"{key_name}.account"),
                    f"{account!r} is not an AWS account ID (12 digits)",
                    "run " + reader.command(path_arguments(f"{key_name}.account", "'210987654321'")),
                )
        ref = stacks.resolve(reader, f"{key_name}.stack", stack, region)
        refs.append(StackRef(ref.qualified_name, ref.project, ref.stack, ref.folder, ref.region, account))
    for kind, values in (("region", [r.region for r in refs]), ("stack", [r.qualified_name for r in refs])):
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            indexes = [i for i, v in enumerate(values) if v in duplicates]
            raise ConfigError(
                reader.key(name),
                f"{kind} {', '.join(duplicates)} is listed more than once (entries {', '.join(map(str, indexes))})",
                f"give each secondary region exactly one entry (one {kind} per entry)",
            )
    return tuple(refs)


def _region_of_stack_name(stack: str) -> str | None:
    """The region a stack name ends in (`organization/regionflow-secondary/prod-eu-west-1` -> eu-west-1)."""
    tail = stack.rsplit("/", 1)[-1]
    for region in sorted(SUPPORTED_REGIONS, key=len, reverse=True):
        if tail.endswith(f"-{region}"):
            return region
    return None


def _kms_key_arn(reader: ConfigReader, name: str, what: str) -> str:
    example = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    value = reader.required(name, example, what)
    return reader.matching(name, value, KMS_KEY_ARN_PATTERN, "it must be a KMS key ARN (not an alias)", example)


def _backend(reader: ConfigReader, account_from: Callable[[str, str], str]) -> StateBackendConfig:
    url_example = "'s3://rflow-prod-use1-pulumi-state-123456789012?region=us-east-1&awssdk=v2'"
    url = reader.required("stateBackendUrl", url_example, "the state bucket URL `regionflow bootstrap` printed")
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    region = (query.get("region") or [""])[0]
    if parsed.scheme != "s3" or not S3_BUCKET_PATTERN.match(parsed.netloc) or parsed.path not in ("", "/"):
        raise ConfigError(
            reader.key("stateBackendUrl"),
            f"{url!r} is not an S3 backend URL",
            f"use the s3://<bucket>?region=<region> URL `regionflow bootstrap` printed, e.g. {url_example}",
        )
    if region not in SUPPORTED_REGIONS:
        raise ConfigError(
            reader.key("stateBackendUrl"),
            f"{url!r} names no supported region (?region=...)",
            f"add the bucket's region, e.g. {url_example}",
        )
    state_key = _kms_key_arn(reader, "stateKeyArn", "the state bucket's KMS key ARN `regionflow bootstrap` printed")
    provider_example = "'awskms://alias/rflow-prod-use1-pulumi-secrets?region=us-east-1'"
    provider = reader.required("secretsProvider", provider_example, "the awskms:// secrets provider of the stacks")
    parsed_provider = urlparse(provider)
    if parsed_provider.scheme != "awskms" or not (parsed_provider.netloc or parsed_provider.path.strip("/")):
        raise ConfigError(
            reader.key("secretsProvider"),
            f"{provider!r} is not an awskms:// secrets provider",
            f"use the provider `regionflow bootstrap` printed, e.g. {provider_example}",
        )
    secrets_key = _kms_key_arn(reader, "secretsKeyArn", "the ARN of the secrets provider's KMS key")
    account = account_from("stateKeyArn", state_key)
    if account_from("secretsKeyArn", secrets_key) != account:
        raise ConfigError(
            reader.key("secretsKeyArn"),
            "is in another account than stateKeyArn",
            "use the two keys `regionflow bootstrap` created in this account",
        )
    return StateBackendConfig(url, parsed.netloc, region, state_key, provider, secrets_key)


def load_pipeline_config(
    *,
    repo_root: Path,
    project: str | None = None,
    stack: str | None = None,
    get: ConfigGetter | None = None,
    aws_region: str | None = None,
    is_secret: SecretCheck | None = None,
) -> PipelineConfig:
    """Read and validate the pipeline stack's config; raise :class:`ConfigError` on the first problem."""
    project = project or pulumi.get_project()
    stack = stack or pulumi.get_stack()
    if get is None:
        check_program_keys(project)
    reader = ConfigReader(
        project, get or pulumi_config_getter(), stack=stack, is_secret=is_secret or pulumi_secret_check(project)
    )
    if get is None and aws_region is None:
        aws_region = pulumi.Config("aws").get("region")

    environment = reader.environment()
    region = reader.region("region")
    if aws_region and aws_region != region:
        raise ConfigError(
            "aws:region",
            f"{aws_region!r} differs from {reader.key('region')} {region!r}",
            f"run `pulumi config set aws:region {region}`: the pipeline lives in the home region",
        )
    name_prefix = reader.name_prefix(environment, region, _longest_names())
    owner, cost_center = reader.owner_and_cost_center()

    stacks = _Stacks(repo_root)
    primary = stacks.resolve(
        reader,
        "primaryStack",
        reader.required("primaryStack", f"{ORGANIZATION}/regionflow-primary/prod", "the primary regional stack"),
        region,
    )
    secondaries = _secondaries(reader, stacks, region)
    for ref in (primary, *secondaries):
        if ref.folder == "stacks/pipeline":
            raise ConfigError(
                reader.key("primaryStack" if ref is primary else "secondaryStacks"),
                f"{ref.qualified_name} is the pipeline stack itself",
                "list regional stacks only",
            )

    source_kind_raw = reader.raw("sourceKind") or "github"
    if source_kind_raw not in ("github", "s3"):
        raise ConfigError(
            reader.key("sourceKind"), f"{source_kind_raw!r} is not github or s3", "set it to github or s3"
        )
    source_kind: SourceKind = "github" if source_kind_raw == "github" else "s3"
    github: GitHubSourceConfig | None = None
    s3: S3SourceConfig | None = None
    if source_kind == "github":
        repository = reader.matching(
            "repository",
            reader.required("repository", "acme/regionflow", "the GitHub repository as owner/name"),
            REPOSITORY_PATTERN,
            "it must be owner/name",
            "acme/regionflow",
        )
        branch = reader.matching(
            "branch", reader.raw("branch") or "main", BRANCH_PATTERN, "it must be a branch name", "main"
        )
        file_paths: tuple[str, ...] = DEFAULT_FILE_PATHS
        if reader.raw("filePaths") is not None:
            file_paths = tuple(reader.string_list("filePaths", "'stacks/**'", "file-path filters of the trigger"))
            if len(file_paths) > 8:  # CodePipeline accepts at most 8 file-path includes per push filter
                raise ConfigError(reader.key("filePaths"), f"has {len(file_paths)} entries", "use at most 8 globs")
        github = GitHubSourceConfig(repository, branch, file_paths)
    else:
        object_key = reader.matching(
            "sourceObjectKey",
            reader.raw("sourceObjectKey") or DEFAULT_SOURCE_OBJECT_KEY,
            OBJECT_KEY_PATTERN,
            "it must be an S3 object key ending in .zip",
            DEFAULT_SOURCE_OBJECT_KEY,
        )
        s3 = S3SourceConfig(object_key)

    def account_from(key_name: str, arn: str) -> str:
        match = KMS_KEY_ARN_PATTERN.match(arn)
        assert match is not None  # checked by _kms_key_arn
        return match["account"]

    backend = _backend(reader, account_from)
    pipeline_account = account_from("stateKeyArn", backend.state_key_arn)
    primary_account = reader.raw("primaryAccount")
    if primary_account is not None and primary_account != pipeline_account:
        raise ConfigError(
            reader.key("primaryAccount"),
            f"{primary_account!r} is not the pipeline account {pipeline_account}: the primary stack must live there "
            "(the Build, Preview, SecurityScan and drift builds use its artifact store, and its logger receives the "
            "pipeline's events on that account's event bus; docs/accounts.md)",
            f"remove primaryAccount (or set it to {pipeline_account}) and give the other account a secondary region",
        )
    # An entry naming the pipeline's own account is single-account: it behaves exactly as one without `account`.
    secondaries = tuple(
        StackRef(s.qualified_name, s.project, s.stack, s.folder, s.region, None)
        if s.account in (None, pipeline_account)
        else s
        for s in secondaries
    )
    version = reader.matching(
        "pulumiVersion",
        reader.raw("pulumiVersion") or DEFAULT_PULUMI_VERSION,
        VERSION_PATTERN,
        "pin an exact Pulumi CLI version like 3.272.0",
        DEFAULT_PULUMI_VERSION,
    )
    return PipelineConfig(
        project=project,
        stack=stack,
        environment=environment,
        region=region,
        account_id=pipeline_account,
        name_prefix=name_prefix,
        owner=owner,
        cost_center=cost_center,
        primary=primary,
        secondaries=secondaries,
        source_kind=source_kind,
        github=github,
        s3=s3,
        pulumi_version=version,
        backend=backend,
        approval_timeout_minutes=reader.integer(
            "approvalTimeoutMinutes", 1440, minimum=APPROVAL_TIMEOUT_RANGE[0], maximum=APPROVAL_TIMEOUT_RANGE[1]
        ),
        update_pipeline=_boolean(reader, "updatePipeline", False),
        drift_detection=_boolean(reader, "driftDetection", True),
        notification_email=reader.email("notificationEmail"),
        # Deployment and build logs are audit records: a year by default.
        log_retention_days=reader.choice("logRetentionDays", DEFAULT_LOG_RETENTION_DAYS, LOG_RETENTION_DAYS),
        repo_root=repo_root,
        delivery=load_delivery_config(
            reader, environment=environment, home=region, secondaries=[s.region for s in secondaries]
        ),
    )


def _longest_names() -> dict[NameKind, str]:
    """The longest purpose per name kind over every component the pipeline stack composes."""
    # Imported here: the components import pulumi_aws, which config validation should not pay for
    # unless it gets this far.
    from regionflow.components.pipeline.drift import DRIFT_LONGEST_NAMES
    from regionflow.components.pipeline.monitoring import MONITORING_LONGEST_NAMES
    from regionflow.components.pipeline.notifications import NOTIFICATIONS_LONGEST_NAMES

    longest: dict[NameKind, str] = {}
    for names in (PIPELINE_LONGEST_NAMES, DRIFT_LONGEST_NAMES, MONITORING_LONGEST_NAMES, NOTIFICATIONS_LONGEST_NAMES):
        for kind, purpose in names.items():
            if kind not in longest or len(purpose) > len(longest[kind]):
                longest[kind] = purpose
    return longest
