"""The typed config model of the regional stacks, read from Pulumi config and validated up front.

Every problem becomes a :class:`ConfigError`: one line that names the full key and says how to fix
it. ``ConfigError`` is a ``pulumi.RunError``, which the Pulumi CLI reports without a traceback, and the
offline engine prints it the same way. Validation runs before the program registers any resource,
so a bad value never leaves a half-created stack behind.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pulumi

from regionflow.naming import NameKind, Namer, NameTooLongError
from regionflow.offline.discovery import is_offline_opaque
from regionflow.regions import SUPPORTED_REGIONS, closest_regions
from regionflow.tagging import TAG_VALUE_PATTERN, default_tags

# CloudWatch Logs accepts exactly these retention periods (PutRetentionPolicy); 0 would mean
# "never expire", which regionflow does not allow because logs must not grow without bound.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

DEFAULT_LOG_RETENTION_DAYS = 365

ENVIRONMENT_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,9}$")
NAME_PREFIX_MAX_LENGTH = 32
NAME_PREFIX_PATTERN = re.compile(rf"^[a-z][a-z0-9-]{{0,{NAME_PREFIX_MAX_LENGTH - 2}}}[a-z0-9]$")
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")

# The longest purpose each regional stack uses per kind of name; see components/.
REGIONAL_LONGEST_NAMES: dict[NameKind, str] = {
    NameKind.S3_BUCKET: "artifacts",
    NameKind.IAM_ROLE: "deploy-logger",
    NameKind.LAMBDA_FUNCTION: "deploy-logger",
    NameKind.SQS_QUEUE: "deploy-logger-dlq",
    NameKind.DYNAMODB_TABLE: "deploy-logger-idempotency",
    NameKind.EVENT_RULE: "pipeline-failures",
    NameKind.CLOUDWATCH_ALARM: "logger-throttles",  # regionflow.delivery.HEALTH_LONGEST_NAMES
}

StackKind = Literal["primary", "secondary"]


class ConfigError(pulumi.RunError):
    """Invalid or missing configuration: one line naming the key and the fix."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"{key}: {problem}. Fix: {fix}")

    def from_folder(self, folder: str) -> ConfigError:
        """The same error with its `pulumi config set` commands made to run from the repository root.

        Programs run (and their users usually type) in the project folder, so the hints a program
        gives are plain `pulumi config set ...`. The offline preview runs from the repository root and
        adds `--cwd <folder>` (the CLI changes to that folder before anything else; facts-pulumi.md 5/7).
        """
        return ConfigError(self.key, self.problem, with_cwd(self.fix, folder))


def config_set_command(arguments: str, stack: str | None, folder: str | None = None) -> str:
    """`pulumi config set [--cwd F] [--stack S] <arguments>`, in backticks, ready to paste."""
    cwd = f" --cwd {folder}" if folder else ""
    stack_flag = f" --stack {stack}" if stack else ""
    return f"`pulumi config set{cwd}{stack_flag} {arguments}`"


def with_cwd(text: str, folder: str) -> str:
    """Add `--cwd folder` to every `pulumi config set` command in ``text`` that has none."""
    return text.replace("`pulumi config set --stack ", f"`pulumi config set --cwd {folder} --stack ")


ConfigGetter = Callable[[str], "str | None"]
SecretCheck = Callable[[str], bool]


def pulumi_config_getter() -> ConfigGetter:
    """Read keys of the current project's namespace from the Pulumi config."""
    config = pulumi.Config()
    return config.get


def pulumi_secret_check(namespace: str) -> SecretCheck:
    """Whether a key of ``namespace`` holds a `secure:` value (the CLI passes the list of secret keys)."""
    return lambda name: pulumi.runtime.is_config_secret(f"{namespace}:{name}")


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (a typo, a plural, British spelling), if any is close."""
    options = sorted(set(candidates))
    exact = [c for c in options if c.lower() == name.lower()]
    if exact:
        return exact[0]
    matches = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return matches[0] if matches else None


def undeclared_key_problem(key: str, declared: Iterable[str]) -> tuple[str, str]:
    """(problem, fix) for a key the project's Pulumi.yaml does not declare, suggesting the closest one."""
    namespace, _, name = key.partition(":")
    same_namespace = [d.partition(":")[2] for d in declared if d.partition(":")[0] == namespace]
    suggestion = closest(name, same_namespace)
    problem = f"is not a key of {namespace}: its Pulumi.yaml declares no {name!r}, so it would be ignored"
    if suggestion is not None:
        return f"{problem} (did you mean {suggestion}?)", f"rename it to {namespace}:{suggestion}"
    return problem, f"remove it, or use one of: {', '.join(sorted(same_namespace))}"


def check_declared_keys(namespace: str, present: Iterable[str], declared: Iterable[str]) -> None:
    """Raise :class:`ConfigError` for the first key of ``namespace`` that Pulumi.yaml does not declare.

    The Pulumi CLI passes an undeclared key to the program without a word, and a program that never
    reads it behaves as if it were not set: a typo of `secondaryStacks` silently meant no secondaries.
    """
    declared_set = set(declared)
    for key in sorted(present):
        if key.partition(":")[0] == namespace and key not in declared_set:
            problem, fix = undeclared_key_problem(key, declared_set)
            raise ConfigError(key, problem, fix)


def _running_config_keys() -> list[str]:
    """Every config key the CLI passed to this program (set_all_config, or PULUMI_CONFIG)."""
    keys = set(pulumi.runtime.config.CONFIG.get())
    keys.update(pulumi.runtime.config.get_config_env())
    return sorted(keys)


def check_program_keys(namespace: str, project_dir: Path | None = None) -> None:
    """In a running program: every key of the project's namespace is declared in its Pulumi.yaml."""
    from regionflow.offline.discovery import declared_keys
    from regionflow.yaml_loading import load_pulumi_yaml, plain

    project_file = (project_dir or Path.cwd()) / "Pulumi.yaml"
    if not project_file.is_file():
        return
    document = plain(load_pulumi_yaml(project_file.read_text())) or {}
    check_declared_keys(namespace, _running_config_keys(), declared_keys(namespace, document))


class ConfigReader:
    """Typed access to one project's config keys, raising :class:`ConfigError` with the full key."""

    def __init__(
        self, namespace: str, get: ConfigGetter, *, stack: str | None = None, is_secret: SecretCheck | None = None
    ) -> None:
        self.namespace = namespace
        self.stack = stack
        self._get = get
        self._is_secret = is_secret or (lambda _name: False)

    def key(self, name: str) -> str:
        return f"{self.namespace}:{name}"

    def command(self, arguments: str) -> str:
        """A `pulumi config set ...` command for this stack, ready to paste (``--stack`` names it)."""
        return config_set_command(arguments, self.stack)

    def set_hint(self, name: str, example: str) -> str:
        return f"run {self.command(f'{name} {example}')}"

    def path_hint(self, path: str, example: str) -> str:
        return f"run {self.command(f'--path {path!r} {example}')}"

    def is_secret(self, name: str) -> bool:
        return self._is_secret(name)

    def raw(self, name: str) -> str | None:
        value = self._get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def required(self, name: str, example: str, what: str) -> str:
        value = self.raw(name)
        if value is None:
            raise ConfigError(self.key(name), f"missing required key ({what})", self.set_hint(name, example))
        return value

    def matching(self, name: str, value: str, pattern: re.Pattern[str], rule: str, example: str) -> str:
        if not pattern.match(value):
            raise ConfigError(self.key(name), f"{value!r} is not valid; {rule}", self.set_hint(name, example))
        return value

    def region(self, name: str, *, required: bool = True) -> str:
        value = self.required(name, "eu-west-1", "an AWS region") if required else self.raw(name)
        if value is None:
            return ""
        if value not in SUPPORTED_REGIONS:
            near = closest_regions(value)
            suggestion = f" (did you mean {', '.join(near)}?)" if near else ""
            raise ConfigError(
                self.key(name),
                f"{value!r} is not an AWS region with CodePipeline, CodeBuild and Lambda{suggestion}",
                f"set it to one of: {', '.join(sorted(SUPPORTED_REGIONS))}",
            )
        return value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        raw = self.raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(
                self.key(name), f"{raw!r} is not a whole number", self.set_hint(name, str(default))
            ) from None
        if not minimum <= value <= maximum:
            raise ConfigError(
                self.key(name),
                f"{value} is outside {minimum}..{maximum}",
                self.set_hint(name, str(default)),
            )
        return value

    def choice(self, name: str, default: int, allowed: tuple[int, ...]) -> int:
        raw = self.raw(name)
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) not in allowed:
            near = min(allowed, key=lambda v: abs(v - int(raw))) if raw.isdigit() else default
            raise ConfigError(
                self.key(name),
                f"{raw!r} is not a value AWS accepts (one of {', '.join(map(str, allowed))})",
                self.set_hint(name, str(near)),
            )
        return int(raw)

    def email(self, name: str) -> pulumi.Input[str] | None:
        """An email address; a `secure:` one stays a secret (never plain in state or a manifest)."""
        value = self.raw(name)
        if value is None:
            return None
        if self.is_secret(name):
            # Offline the value is an opaque stand-in, not an address: it is not validated as one.
            if not is_offline_opaque(value):
                self.matching(name, value, EMAIL_PATTERN, "it must be an email address", "--secret team@example.com")
            return pulumi.Output.secret(value)
        return self.matching(name, value, EMAIL_PATTERN, "it must be an email address", "team@example.com")

    def environment(self) -> str:
        """The ``environment`` key: part of every physical name and the Environment tag."""
        return self.matching(
            "environment",
            self.required("environment", "prod", "the environment name"),
            ENVIRONMENT_PATTERN,
            "use 2-10 lowercase letters or digits, starting with a letter",
            "prod",
        )

    def name_prefix(self, environment: str, region: str, longest: Mapping[NameKind, str]) -> str:
        """The ``namePrefix`` key, refused when it would push any of the stack's ``longest`` names over a limit."""
        prefix = self.matching(
            "namePrefix",
            self.raw("namePrefix") or "rflow",
            NAME_PREFIX_PATTERN,
            f"use 2-{NAME_PREFIX_MAX_LENGTH} lowercase letters, digits and hyphens, starting with a letter",
            "rflow",
        )
        namer = Namer(prefix, environment, region)
        try:
            namer.check_limits(dict(longest))
        except NameTooLongError as error:
            over = -min(namer.headroom(k, p) for k, p in longest.items())
            tightest = min(longest.items(), key=lambda item: namer.headroom(*item))
            shorter = prefix[: max(2, len(prefix) - over)].rstrip("-")
            raise ConfigError(
                self.key("namePrefix"),
                f"{prefix!r} makes a name too long: {error}",
                f"shorten namePrefix to at most {len(prefix) - over} characters "
                f"(the {tightest[0].name.lower().replace('_', ' ')} name may have at most "
                f"{tightest[0].max_length}), e.g. {self.command(f'namePrefix {shorter}')}",
            ) from None
        return prefix

    def owner_and_cost_center(self) -> tuple[str, str]:
        """The Owner and CostCenter tag values, required on every stack so cost reports join up."""
        return (
            self.tag_value("owner", "platform-team", "the owning team, used in the Owner tag"),
            self.tag_value("costCenter", "cc-1234", "the cost center, used in the CostCenter tag"),
        )

    def tag_value(self, name: str, example: str, what: str) -> str:
        value = self.required(name, example, what)
        return self.matching(
            name, value, TAG_VALUE_PATTERN, "AWS tag values allow letters, digits, spaces and _.:/=+-@", example
        )

    def string_list(self, name: str, example: str, what: str) -> list[str]:
        """A list given as structured config (``pulumi config set --path name[0] value``)."""
        raw = self.required(name, example, what)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise ConfigError(
                self.key(name),
                "must be a list of non-empty strings",
                self.path_hint(f"{name}[0]", example),
            )
        return value


@dataclass(frozen=True)
class RegionalConfig:
    """Everything a regional stack (primary or secondary) needs, validated."""

    project: str
    stack: str
    kind: StackKind
    environment: str
    region: str
    primary_region: str
    name_prefix: str
    owner: str
    cost_center: str
    notification_email: pulumi.Input[str] | None  # an Output marked secret when the value is `secure:`
    log_retention_days: int
    artifact_transition_days: int
    noncurrent_version_expiration_days: int
    logger_memory_mb: int
    logger_timeout_seconds: int
    powertools_layer_version: int | None
    # Alarms of the region owner's services that are part of the region's health (regionflow.delivery).
    health_alarm_names: tuple[str, ...] = ()
    # A region in its owner's account (regionflow.accounts, docs/accounts.md): the account the stack deploys
    # and the pipeline account whose roles its artifact store admits. Both None: the stack is single-account.
    account: str | None = None
    pipeline_account: str | None = None

    @property
    def cross_account(self) -> bool:
        return self.pipeline_account is not None

    @property
    def namer(self) -> Namer:
        return Namer(self.name_prefix, self.environment, self.region)

    def tags(self) -> dict[str, str]:
        return default_tags(
            project=self.project,
            environment=self.environment,
            owner=self.owner,
            cost_center=self.cost_center,
            stack=f"{self.project}/{self.stack}",
            region=self.region,
        )


def load_regional_config(
    kind: StackKind,
    *,
    project: str | None = None,
    stack: str | None = None,
    get: ConfigGetter | None = None,
    is_secret: SecretCheck | None = None,
) -> RegionalConfig:
    """Read and validate a regional stack's config; raise :class:`ConfigError` on the first problem."""
    project = project or pulumi.get_project()
    stack = stack or pulumi.get_stack()
    if get is None:
        # A real run (or the offline engine): refuse keys the project does not declare, first.
        check_program_keys(project)
    reader = ConfigReader(
        project, get or pulumi_config_getter(), stack=stack, is_secret=is_secret or pulumi_secret_check(project)
    )

    environment = reader.environment()
    region = reader.region("region")
    if kind == "secondary":
        primary_region = reader.region("primaryRegion")
        if primary_region == region:
            raise ConfigError(
                reader.key("region"),
                f"{region!r} is the primary region; a secondary stack must deploy elsewhere",
                f"run {reader.command('region <another region>')}, or deploy this region with the primary stack",
            )
    else:
        primary_region = region
    name_prefix = reader.name_prefix(environment, region, REGIONAL_LONGEST_NAMES)
    owner, cost_center = reader.owner_and_cost_center()
    layer_raw = reader.raw("powertoolsLayerVersion")
    # Imported here: regionflow.delivery builds on this module.
    from regionflow.delivery import load_health_alarm_names

    health_alarm_names = load_health_alarm_names(reader, Namer(name_prefix, environment, region))
    account, pipeline_account = load_accounts(reader)
    if kind == "primary" and pipeline_account is not None:
        raise ConfigError(
            reader.key("pipelineAccount"),
            "the primary stack must live in the pipeline account: the pipeline's Build, Preview, SecurityScan and "
            "drift builds use its artifact store and its logger receives the pipeline's events on that account's "
            "event bus (docs/accounts.md)",
            "remove pipelineAccount and account; give another region to the other account as a secondary",
        )
    return RegionalConfig(
        project=project,
        stack=stack,
        kind=kind,
        environment=environment,
        region=region,
        primary_region=primary_region,
        name_prefix=name_prefix,
        owner=owner,
        cost_center=cost_center,
        notification_email=reader.email("notificationEmail"),
        # Deployment and build logs are audit records: a year by default.
        log_retention_days=reader.choice("logRetentionDays", DEFAULT_LOG_RETENTION_DAYS, LOG_RETENTION_DAYS),
        # S3 refuses transitions to STANDARD_IA earlier than 30 days after creation.
        artifact_transition_days=reader.integer("artifactTransitionDays", 30, minimum=30, maximum=3650),
        noncurrent_version_expiration_days=reader.integer(
            "noncurrentVersionExpirationDays", 90, minimum=1, maximum=3650
        ),
        logger_memory_mb=reader.integer("loggerMemoryMb", 256, minimum=128, maximum=10240),
        logger_timeout_seconds=reader.integer("loggerTimeoutSeconds", 30, minimum=3, maximum=900),
        powertools_layer_version=None
        if layer_raw is None
        else reader.integer("powertoolsLayerVersion", 0, minimum=1, maximum=1000),
        health_alarm_names=health_alarm_names,
        account=account,
        pipeline_account=pipeline_account,
    )


def load_accounts(reader: ConfigReader) -> tuple[str | None, str | None]:
    """``(account, pipelineAccount)``: both set for a region in its owner's account, neither for one account.

    ``pipelineAccount`` is the account of the pipeline and its state backend; ``account`` the stack's own,
    which its provider reaches through the ``regionflow-<account>`` profile (regionflow.accounts) and which the
    program checks against the caller's identity at run time.
    """
    from regionflow.accounts import is_account

    account = reader.raw("account")
    pipeline_account = reader.raw("pipelineAccount")
    for name, value in (("account", account), ("pipelineAccount", pipeline_account)):
        if value is not None and not is_account(value):
            raise ConfigError(
                reader.key(name), f"{value!r} is not an AWS account ID", reader.set_hint(name, "'210987654321'")
            )
    if pipeline_account is None and account is not None:
        raise ConfigError(
            reader.key("account"),
            "is only used by a region in another account than the pipeline's, and pipelineAccount is not set",
            f"run {reader.command('pipelineAccount <the pipeline account>')}, or remove account",
        )
    if pipeline_account is not None and account is None:
        raise ConfigError(
            reader.key("account"),
            "is missing: a stack with pipelineAccount deploys into its own account, which it must name",
            reader.set_hint("account", "'<this region\'s account>'"),
        )
    if pipeline_account is not None and account == pipeline_account:
        raise ConfigError(
            reader.key("pipelineAccount"),
            f"equals account {account}: a stack in the pipeline's own account is single-account",
            "remove pipelineAccount and account",
        )
    return account, pipeline_account


def config_from_mapping(values: Mapping[str, str]) -> ConfigGetter:
    """A getter over a plain mapping of un-namespaced keys, for tests and tools."""
    return lambda key: values.get(key)
