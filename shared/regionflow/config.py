"""The typed config model of the regional stacks, read from Pulumi config and validated up front.

Every problem becomes a :class:`ConfigError`: one line that names the full key and says how to fix
it. ``ConfigError`` is a ``pulumi.RunError``, which the Pulumi CLI reports without a traceback, and the
offline engine prints it the same way. Validation runs before the program registers any resource,
so a bad value never leaves a half-created stack behind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import pulumi

from regionflow.naming import NameKind, Namer, NameTooLongError
from regionflow.regions import SUPPORTED_REGIONS, closest_regions
from regionflow.tagging import TAG_VALUE_PATTERN, default_tags

# CloudWatch Logs accepts exactly these retention periods (PutRetentionPolicy); 0 would mean
# "never expire", which regionflow does not allow because logs must not grow without bound.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

DEFAULT_LOG_RETENTION_DAYS = 365

ENVIRONMENT_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,9}$")
NAME_PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")

# The longest purpose each regional stack uses per kind of name; see components/.
REGIONAL_LONGEST_NAMES: dict[NameKind, str] = {
    NameKind.S3_BUCKET: "artifacts",
    NameKind.IAM_ROLE: "deploy-logger",
    NameKind.LAMBDA_FUNCTION: "deploy-logger",
    NameKind.SQS_QUEUE: "deploy-logger-dlq",
    NameKind.DYNAMODB_TABLE: "deploy-logger-idempotency",
    NameKind.EVENT_RULE: "pipeline-failures",
}

StackKind = Literal["primary", "secondary"]


class ConfigError(pulumi.RunError):
    """Invalid or missing configuration: one line naming the key and the fix."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"{key}: {problem}. Fix: {fix}")


ConfigGetter = Callable[[str], "str | None"]


def pulumi_config_getter() -> ConfigGetter:
    """Read keys of the current project's namespace from the Pulumi config."""
    config = pulumi.Config()
    return config.get


class ConfigReader:
    """Typed access to one project's config keys, raising :class:`ConfigError` with the full key."""

    def __init__(self, namespace: str, get: ConfigGetter) -> None:
        self.namespace = namespace
        self._get = get

    def key(self, name: str) -> str:
        return f"{self.namespace}:{name}"

    def set_hint(self, name: str, example: str) -> str:
        return f"run `pulumi config set {name} {example}`"

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
            raise ConfigError(
                self.key(name),
                f"{raw!r} is not a value AWS accepts",
                f"use one of {', '.join(map(str, allowed))}",
            )
        return int(raw)

    def email(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
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
            "use lowercase letters, digits and hyphens, starting with a letter",
            "rflow",
        )
        namer = Namer(prefix, environment, region)
        try:
            namer.check_limits(dict(longest))
        except NameTooLongError as error:
            raise ConfigError(
                self.key("namePrefix"),
                f"{prefix!r} makes a name too long: {error}",
                f"shorten namePrefix by {-min(namer.headroom(k, p) for k, p in longest.items())} characters or more",
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
                f"run `pulumi config set --path '{name}[0]' {example}`",
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
    notification_email: str | None
    log_retention_days: int
    artifact_transition_days: int
    noncurrent_version_expiration_days: int
    logger_memory_mb: int
    logger_timeout_seconds: int
    powertools_layer_version: int | None

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
) -> RegionalConfig:
    """Read and validate a regional stack's config; raise :class:`ConfigError` on the first problem."""
    project = project or pulumi.get_project()
    stack = stack or pulumi.get_stack()
    reader = ConfigReader(project, get or pulumi_config_getter())

    environment = reader.environment()
    region = reader.region("region")
    if kind == "secondary":
        primary_region = reader.region("primaryRegion")
        if primary_region == region:
            raise ConfigError(
                reader.key("region"),
                f"{region!r} is the primary region; a secondary stack must deploy elsewhere",
                "set region to another region, or deploy this region with the primary stack",
            )
    else:
        primary_region = region
    name_prefix = reader.name_prefix(environment, region, REGIONAL_LONGEST_NAMES)
    owner, cost_center = reader.owner_and_cost_center()
    layer_raw = reader.raw("powertoolsLayerVersion")
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
    )


def config_from_mapping(values: Mapping[str, str]) -> ConfigGetter:
    """A getter over a plain mapping of un-namespaced keys, for tests and tools."""
    return lambda key: values.get(key)
