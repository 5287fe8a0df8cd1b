"""Safe, hands-off delivery as plain data: waves, alarm-gated bakes, deployment windows, the IAM gate, retries.

Kept free of Pulumi (like :mod:`regionflow.components.pipeline.layout`) so every rule below is tested
directly, for any number of regions. :func:`load_delivery_config` validates the pipeline stack's delivery
keys with one-line :class:`~regionflow.config.ConfigError` s before any resource is registered;
:func:`plan_deploy_stages` turns them into the deploy stages the pipeline builds.

What CodePipeline (V2) allows, and where AWS says so (CodePipeline user guide and API reference):

* A stage has at most one condition of each kind: ``beforeEntry``, ``onSuccess`` and ``onFailure`` each
  hold a ``conditions`` array of "Fixed number of 1 item" (API reference: ``BeforeEntryConditions``,
  ``SuccessConditions``, ``FailureConditions``). pulumi-aws 7 models each as one ``condition`` block
  (``PipelineStageBeforeEntryArgs(condition=...)``, introspected in the installed package).
* A condition holds 1 to 5 rules ("Array Members: Minimum number of 1 item. Maximum number of 5 items",
  API reference ``Condition``); it is met only if every rule succeeds, and its result engages when it is not
  met ("Configure conditions for a stage", "How do stage conditions work?").
* Results per kind ("Configure conditions for a stage"): entry: Fail or Skip; on failure: Rollback; on
  success: Rollback or Fail. Skip on entry is supported only with the ``LambdaInvoke`` and ``VariableCheck``
  rules, a Skip condition cannot be overridden, and a skipped stage cannot be retried or rolled back by hand
  ("Considerations for results configured for stage conditions", same page).
* Automatic stage retry (``onFailure`` result ``RETRY`` with ``retryConfiguration``, modes ``FAILED_ACTIONS``
  or ``ALL_ACTIONS``, API reference ``FailureConditions``/``RetryConfiguration``) is one attempt ("Configuring
  stage retry for a failed stage or failed actions", considerations) and cannot be used with ``onFailure``
  conditions (stage conditions considerations). ``onFailure`` has a single ``result``: a stage either rolls
  back or retries, never both. So deploy stages keep ``ROLLBACK`` and retry their ``pulumi up`` once inside the
  build (scripts/deploy-stack.sh), and the check stages, which have nothing to roll back, get the native retry.
* A person can override ``BEFORE_ENTRY`` and ``ON_SUCCESS`` conditions of a running execution, nothing else
  (API reference ``OverrideStageCondition``: ``conditionType`` valid values ``BEFORE_ENTRY | ON_SUCCESS``).
* Rules: ``CloudWatchAlarm`` (``AlarmName`` required, ``AlarmStates``, ``WaitTime`` in minutes; the rule takes a
  ``region``), ``DeploymentWindow`` (``Cron`` required: 6 fields and an optional year, seconds ``*`` only;
  ``TimeZone``), ``VariableCheck`` (``Variable``, ``Value``, ``Operator`` in ``EQ|CONTAINS|MATCHES|NE``), all
  category ``Rule``, owner ``AWS``, version ``1`` (rule reference pages ``rule-reference-CloudWatchAlarm``,
  ``-DeploymentWindow``, ``-VariableCheck``). Rule names: ``[A-Za-z0-9.@\\-_]+``, 1 to 100 characters (API
  reference ``RuleDeclaration``).
* At most 50 actions in a stage (CodePipeline quotas; ``layout.MAX_ACTIONS_PER_STAGE``).
"""

from __future__ import annotations

import json
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from regionflow.components.pipeline import layout
from regionflow.config import ConfigError, ConfigReader
from regionflow.naming import NameKind, Namer
from regionflow.regions import SUPPORTED_REGIONS
from regionflow.tagging import TAG_VALUE_PATTERN

ApprovalMode = Literal["always", "iam-changes", "never"]
APPROVAL_MODES: tuple[ApprovalMode, ...] = ("always", "iam-changes", "never")
# The environment whose approval may only be `never` with an explicit override (issue 14).
PROTECTED_ENVIRONMENT = "prod"

# CodePipeline limits (see the module docstring for the sources).
MAX_RULES_PER_CONDITION = 5
CONDITIONS_PER_KIND = 1
MAX_REGIONS_PER_STAGE = layout.MAX_ACTIONS_PER_STAGE // layout.ACTIONS_PER_REGION
# Stages per pipeline: 2 to 50 (CodePipeline quotas, "Number of stages in a pipeline").
MAX_STAGES_PER_PIPELINE = 50
RULE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9.@_-]{1,100}$")

# Bake times regionflow accepts. The CloudWatchAlarm rule reference gives WaitTime in minutes without a maximum;
# a day is regionflow's own bound (a longer bake belongs to a manual gate, not an alarm watch).
BAKE_MINUTES_RANGE = (0, 1440)
DEFAULT_BAKE_MINUTES = 0  # no bake unless the environment's config asks for one (issue 14: 0 for a dev)

# Tags on the pipeline that carry the delivery choices to the policy rules (regionflow.policies.rules).
BAKE_TAG = "DeliveryBakeMinutes"
APPROVAL_TAG = "DeliveryApproval"
APPROVAL_OVERRIDE_TAG = "DeliveryApprovalOverride"

# The Preview stage's output variable (CodeBuild exported variable, action namespace) read by the IAM gate.
PREVIEW_NAMESPACE = "PreviewVariables"
IAM_CHANGES_VARIABLE = "IAM_CHANGES"

# A DeploymentWindow cron (rule reference): seconds, minutes, hours, day-of-month, month, day-of-week, [year].
_CRON_FIELDS: tuple[tuple[str, str], ...] = (
    ("seconds", r"\*"),
    ("minutes", r"[0-9*,/\-]+"),
    ("hours", r"[0-9*,/\-]+"),
    ("day-of-month", r"[0-9*,/\-?LW]+"),
    ("month", r"[0-9A-Z*,/\-]+"),
    ("day-of-week", r"[0-9A-Z*,/\-?L#]+"),
    ("year", r"[0-9*,/\-]+"),
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELD_RANGES: dict[str, tuple[int, int]] = {
    "minutes": (0, 59),
    "hours": (0, 23),
    "day-of-month": (1, 31),
    "month": (1, 12),
    "day-of-week": (1, 7),
    "year": (1970, 2199),
}


@dataclass(frozen=True)
class DeploymentWindow:
    """When deploy stages may start: a DeploymentWindow rule's ``Cron`` and ``TimeZone``."""

    cron: str
    time_zone: str


@dataclass(frozen=True)
class WaveConfig:
    """One configured wave: regions deployed in parallel, then baked for ``bake_minutes`` (``None``: the default)."""

    regions: tuple[str, ...]
    bake_minutes: int | None


@dataclass(frozen=True)
class DeliveryConfig:
    """The pipeline stack's delivery keys, validated."""

    waves: tuple[WaveConfig, ...] | None  # None: no `waves` key, today's layout
    bake_minutes: int  # every wave without its own value
    primary_bake_minutes: int
    window: DeploymentWindow | None
    approval: ApprovalMode
    approval_override: str | None  # the reason a prod pipeline runs without approval
    auto_retry: bool

    @property
    def bake_requested(self) -> bool:
        """The environment asks for alarm-gated bakes after the primary (what the policy rule checks)."""
        return self.bake_minutes > 0


@dataclass(frozen=True)
class DeployStage:
    """One deploy stage of the plan: its regions (deployed in parallel) and its conditions."""

    name: str
    regions: tuple[str, ...]
    bake_minutes: int
    window: DeploymentWindow | None
    primary: bool = False

    @property
    def baked(self) -> bool:
        return self.bake_minutes > 0


# -- config ---------------------------------------------------------------------------------------------


def _structured(reader: ConfigReader, name: str, example: str) -> Any:
    raw = reader.raw(name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(reader.key(name), "must be structured config (YAML lists and maps)", example) from None


def _minutes(reader: ConfigReader, key: str, value: Any) -> int:
    low, high = BAKE_MINUTES_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            reader.key(key), f"{value!r} is not a bake time in whole minutes {low}..{high}", "use e.g. 30 or 0"
        )
    return value


def _bake(reader: ConfigReader, name: str, default: int) -> int:
    raw = reader.raw(name)
    if raw is None:
        return default
    try:
        value: Any = int(raw)
    except ValueError:
        value = raw
    return _minutes(reader, name, value)


def _waves(reader: ConfigReader, home: str, secondaries: Sequence[str]) -> tuple[WaveConfig, ...] | None:
    name = "waves"
    example = "set it to a list of region lists, e.g. [[eu-west-1], [ap-southeast-2, us-west-2]]"
    entries = _structured(reader, name, example)
    if entries is None:
        return None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(reader.key(name), "must be a non-empty list of waves", example)
    waves: list[WaveConfig] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        key = f"{name}[{index}]"
        bake: int | None = None
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"regions", "bakeMinutes"})
            if unknown or "regions" not in entry:
                raise ConfigError(
                    reader.key(key),
                    f"has keys {sorted(entry)}; a wave is a region list or {{regions, bakeMinutes}}",
                    "e.g. {regions: [eu-west-1], bakeMinutes: 60}",
                )
            if "bakeMinutes" in entry:
                bake = _minutes(reader, f"{key}.bakeMinutes", entry["bakeMinutes"])
            regions = entry["regions"]
            key = f"{key}.regions"
        else:
            regions = entry
        if not isinstance(regions, list) or not regions or not all(isinstance(r, str) for r in regions):
            raise ConfigError(reader.key(key), "must be a non-empty list of regions", example)
        for region in regions:
            if region not in SUPPORTED_REGIONS:
                raise ConfigError(reader.key(key), f"{region!r} is not a supported AWS region", example)
            if region == home:
                raise ConfigError(
                    reader.key(key),
                    f"{region!r} is the home region; DeployPrimary deploys it before every wave",
                    "remove it from the waves",
                )
            if region not in secondaries:
                raise ConfigError(
                    reader.key(key),
                    f"{region!r} has no entry in secondaryStacks",
                    "add the region's stack to secondaryStacks, or remove it from the wave",
                )
            if region in seen:
                raise ConfigError(
                    reader.key(key),
                    f"{region!r} is already in waves[{seen[region]}]",
                    "give each region one wave",
                )
            seen[region] = index
        waves.append(WaveConfig(tuple(regions), bake))
    return tuple(waves)


def _cron(reader: ConfigReader, key: str, cron: str) -> str:
    fix = "use the rule's 6 fields and optional year, seconds '*', e.g. '* * 8-16 ? * MON-FRI'"
    fields = cron.split()
    if len(fields) not in (6, 7):
        raise ConfigError(reader.key(key), f"{cron!r} has {len(fields)} fields, not 6 or 7", fix)
    for (field_name, pattern), value in zip(_CRON_FIELDS, fields, strict=False):
        if not re.fullmatch(pattern, value):
            raise ConfigError(reader.key(key), f"{cron!r}: {value!r} is not a valid {field_name} field", fix)
        low_high = _FIELD_RANGES.get(field_name)
        names = _MONTHS if field_name == "month" else _DAYS if field_name == "day-of-week" else ()
        for token in re.split(r"[,/\-#]", value):
            token = token.rstrip("LW")
            if token in ("", "*", "?") or token in names:
                continue
            if not token.isdigit() or low_high is None or not low_high[0] <= int(token) <= low_high[1]:
                raise ConfigError(reader.key(key), f"{cron!r}: {token!r} is out of range in {field_name}", fix)
    day_of_month, day_of_week = fields[3], fields[5]
    if (day_of_month == "?") == (day_of_week == "?"):
        # Quartz-style crons (the rule reference's syntax) leave exactly one of the two day fields to '?'.
        raise ConfigError(
            reader.key(key),
            f"{cron!r} must set exactly one of day-of-month and day-of-week to '?'",
            "e.g. '* * 8-16 ? * MON-FRI' (weekdays) or '* * 8-16 1-20 * ?' (days 1-20)",
        )
    return " ".join(fields)


def _window(reader: ConfigReader) -> DeploymentWindow | None:
    name = "deploymentWindow"
    example = "set it to {cron: '* * 8-16 ? * MON-FRI', timeZone: Europe/Berlin}"
    value = _structured(reader, name, example)
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"cron", "timeZone"}:
        raise ConfigError(reader.key(name), "must have exactly the keys cron and timeZone", example)
    cron, time_zone = value["cron"], value["timeZone"]
    if not isinstance(cron, str):
        raise ConfigError(reader.key(f"{name}.cron"), "must be a string", example)
    # The time zone is always written out: regionflow never relies on the rule's default zone.
    if not isinstance(time_zone, str) or time_zone not in zoneinfo.available_timezones():
        raise ConfigError(
            reader.key(f"{name}.timeZone"),
            f"{time_zone!r} is not an IANA time zone name",
            "use a name like Europe/Berlin, America/New_York or UTC",
        )
    return DeploymentWindow(_cron(reader, f"{name}.cron", cron), time_zone)


def _approval(reader: ConfigReader, environment: str) -> tuple[ApprovalMode, str | None]:
    default: ApprovalMode = "iam-changes" if environment == PROTECTED_ENVIRONMENT else "always"
    raw = reader.raw("approval") or default
    if raw not in APPROVAL_MODES:
        raise ConfigError(
            reader.key("approval"), f"{raw!r} is not always, iam-changes or never", "set it to one of those three"
        )
    mode: ApprovalMode = "always" if raw == "always" else "iam-changes" if raw == "iam-changes" else "never"
    override = reader.raw("approvalOverride")
    if override is not None:
        if mode != "never":
            raise ConfigError(
                reader.key("approvalOverride"),
                f"is only read with approval: never, but approval is {mode}",
                "remove approvalOverride",
            )
        if len(override) > 256 or not TAG_VALUE_PATTERN.match(override):
            raise ConfigError(
                reader.key("approvalOverride"),
                "must be a reason of at most 256 letters, digits, spaces and _.:/=+-@ (it becomes a tag)",
                "e.g. 'ticket OPS-1234: emergency freeze of approvers'",
            )
    if mode == "never" and environment == PROTECTED_ENVIRONMENT and override is None:
        raise ConfigError(
            reader.key("approval"),
            f"never deploys {PROTECTED_ENVIRONMENT} without any approval, even for IAM changes",
            "use iam-changes, or set approvalOverride to the reason (it is tagged on the pipeline)",
        )
    return mode, override


def load_delivery_config(
    reader: ConfigReader, *, environment: str, home: str, secondaries: Sequence[str]
) -> DeliveryConfig:
    """Read and validate the delivery keys; raise :class:`ConfigError` on the first problem.

    ``secondaries`` are the configured secondary regions, in config order. The deploy stages are planned
    here once, so a wave that breaks a CodePipeline limit fails config validation, not ``pulumi up``.
    """
    bake = _bake(reader, "bakeMinutes", DEFAULT_BAKE_MINUTES)
    waves = _waves(reader, home, secondaries)
    if waves is not None and bake > 0:
        for index, wave in enumerate(waves):
            if wave.bake_minutes == 0:
                raise ConfigError(
                    reader.key(f"waves[{index}].bakeMinutes"),
                    f"is 0, but bakeMinutes {bake} asks every wave after the primary to bake",
                    "give the wave a bake of 1 minute or more, or set bakeMinutes to 0",
                )
    mode, override = _approval(reader, environment)
    raw_retry = reader.raw("autoRetry")
    if raw_retry is not None and raw_retry.lower() not in ("true", "false"):
        raise ConfigError(
            reader.key("autoRetry"), f"{raw_retry!r} is not true or false", "run `pulumi config set autoRetry true`"
        )
    config = DeliveryConfig(
        waves=waves,
        bake_minutes=bake,
        primary_bake_minutes=_bake(reader, "primaryBakeMinutes", bake),
        window=_window(reader),
        approval=mode,
        approval_override=override,
        auto_retry=raw_retry is None or raw_retry.lower() == "true",
    )
    check_plan(reader, plan_deploy_stages(config, home, secondaries), config)
    return config


# -- the plan --------------------------------------------------------------------------------------------

DEPLOY_WAVE = "DeployWave"


def _chunks(regions: Sequence[str]) -> list[tuple[str, ...]]:
    """Regions split so no stage holds more than 50 actions (layout.waves)."""
    return [tuple(chunk) for chunk in layout.waves(list(regions))]


def plan_deploy_stages(config: DeliveryConfig, home: str, secondaries: Sequence[str]) -> list[DeployStage]:
    """The deploy stages in order: the primary, then one stage per wave (split at 50 actions).

    Without ``waves``, today's layout: every secondary in one wave, ``DeploySecondaries`` (or
    ``DeploySecondaries1..n`` beyond 25 regions). With ``waves``, ``DeployWave1..n``, regions that no wave
    names in a last wave; a wave beyond 25 regions becomes ``DeployWave<n>a``, ``b``, ...
    """
    primary = DeployStage(layout.DEPLOY_PRIMARY, (home,), config.primary_bake_minutes, config.window, primary=True)
    stages = [primary]
    if config.waves is None:
        chunks = _chunks(secondaries)
        names = layout.secondary_stage_names(len(chunks))
        stages += [DeployStage(n, c, config.bake_minutes, config.window) for n, c in zip(names, chunks, strict=True)]
        return stages
    listed = {region for wave in config.waves for region in wave.regions}
    waves = list(config.waves)
    rest = tuple(region for region in secondaries if region not in listed)
    if rest:
        waves.append(WaveConfig(rest, None))
    for number, wave in enumerate(waves, start=1):
        bake = config.bake_minutes if wave.bake_minutes is None else wave.bake_minutes
        chunks = _chunks(wave.regions)
        for part, chunk in enumerate(chunks):
            suffix = "" if len(chunks) == 1 else "abcdefghijklmnopqrstuvwxyz"[part]
            stages.append(DeployStage(f"{DEPLOY_WAVE}{number}{suffix}", chunk, bake, config.window))
    return stages


def check_plan(reader: ConfigReader, stages: Sequence[DeployStage], config: DeliveryConfig) -> None:
    """Refuse a plan that breaks a CodePipeline limit, naming the key to change."""
    for stage in stages:
        if stage.baked and len(stage.regions) > MAX_RULES_PER_CONDITION:
            # One CloudWatchAlarm rule per region (an alarm is regional, a composite alarm cannot span regions),
            # in the stage's single onSuccess condition of at most 5 rules.
            key = "waves" if config.waves is not None else "bakeMinutes"
            raise ConfigError(
                reader.key(key),
                f"{stage.name} deploys {len(stage.regions)} regions with a {stage.bake_minutes}-minute bake, but its "
                f"onSuccess condition holds at most {MAX_RULES_PER_CONDITION} CloudWatchAlarm rules (one per region)",
                f"use waves of at most {MAX_RULES_PER_CONDITION} regions (waves: [[...], ...]) or a bake of 0",
            )
    # Source, Build, Preview, SecurityScan, UpdatePipeline and Approval, then the deploys.
    if len(stages) + 6 > MAX_STAGES_PER_PIPELINE:
        raise ConfigError(
            reader.key("waves"),
            f"makes {len(stages) + 6} stages; a pipeline holds at most {MAX_STAGES_PER_PIPELINE}",
            "use fewer, larger waves",
        )


def health_rule_name(region: str) -> str:
    """The CloudWatchAlarm rule of one region in a bake condition (unique per condition, RULE_NAME_PATTERN)."""
    return f"Health-{region}"


WINDOW_RULE_NAME = "DeploymentWindow"
IAM_GATE_RULE_NAME = "IamChanges"


def iam_gate_configuration() -> dict[str, str]:
    """The VariableCheck rule of the Approval stage's beforeEntry condition (result SKIP).

    The rule succeeds (the approval runs) unless the Preview stage reported exactly ``false``: an empty,
    missing or malformed value keeps the approval, so the gate fails safe. NE is one of the rule's operators
    (rule reference ``rule-reference-VariableCheck``).
    """
    return {
        "Variable": f"#{{{PREVIEW_NAMESPACE}.{IAM_CHANGES_VARIABLE}}}",
        "Operator": "NE",
        "Value": "false",
    }


def describe(stages: Sequence[DeployStage], config: DeliveryConfig) -> list[str]:
    """One line per gated stage, for the pipeline stack's ``deliveryPlan`` export and the docs."""
    lines: list[str] = []
    if config.approval == "iam-changes":
        gate = iam_gate_configuration()
        lines.append(
            f"Approval: beforeEntry VariableCheck {gate['Variable']} {gate['Operator']} {gate['Value']} -> SKIP "
            "(no IAM change: no approval)"
        )
    elif config.approval == "always":
        lines.append("Approval: manual approval on every commit")
    else:
        lines.append(f"Approval: none (approval: never; override: {config.approval_override or 'not needed'})")
    for stage in stages:
        parts = [f"{stage.name} [{', '.join(stage.regions)}]:"]
        if stage.window is not None:
            parts.append(f"beforeEntry DeploymentWindow '{stage.window.cron}' {stage.window.time_zone} -> FAIL;")
        if stage.baked:
            parts.append(
                f"onSuccess CloudWatchAlarm health of {len(stage.regions)} region(s), "
                f"wait {stage.bake_minutes} min -> ROLLBACK;"
            )
        parts.append("onFailure ROLLBACK")
        lines.append(" ".join(parts))
    return lines


# -- a region's health (the regional stacks' composite alarm, components/health.py) ------------------------------

ERRORS_ALARM_PURPOSE = "logger-errors"
DLQ_ALARM_PURPOSE = "logger-dlq-depth"
THROTTLES_ALARM_PURPOSE = "logger-throttles"
HEALTH_ALARM_PURPOSE = "health"
HEALTH_LONGEST_NAMES: dict[NameKind, str] = {NameKind.CLOUDWATCH_ALARM: THROTTLES_ALARM_PURPOSE}
# PutCompositeAlarm (CloudWatch API reference): at most 100 underlying alarms in a rule; the rule is 1 to 10240
# characters (terraform-provider-aws internal/service/cloudwatch/composite_alarm.go, alarm_rule validation).
MAX_UNDERLYING_ALARMS = 100
MAX_ALARM_RULE_LENGTH = 10240
# A name inside ALARM("...") cannot hold a double quote; alarm names are 1 to 255 characters without control
# characters (regionflow.naming.NameKind.CLOUDWATCH_ALARM, from PutMetricAlarm).
_OWNER_ALARM_NAME = re.compile(r'^[^\x00-\x1f"]{1,255}$')


def own_health_alarm_names(namer: Namer) -> list[str]:
    """The logger alarms every region's health includes."""
    return [namer.name(NameKind.CLOUDWATCH_ALARM, p) for p in (ERRORS_ALARM_PURPOSE, DLQ_ALARM_PURPOSE)]


def health_alarm_rule(names: Sequence[str]) -> str:
    """``ALARM("a") OR ALARM("b")``: the composite is in ALARM while any underlying alarm is."""
    if not names:
        raise ValueError("a composite alarm needs at least one underlying alarm")
    return " OR ".join(f'ALARM("{name}")' for name in names)


def load_health_alarm_names(reader: ConfigReader, namer: Namer) -> tuple[str, ...]:
    """The regional key ``healthAlarmNames``: alarms of the region owner's services, part of the region's health."""
    name = "healthAlarmNames"
    example = f"run `pulumi config set --path '{name}[0]' checkout-api-5xx` (an alarm in {namer.region})"
    raw = reader.raw(name)
    if raw is None:
        return ()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(reader.key(name), "must be a list of alarm names", example)
    own = [*own_health_alarm_names(namer), namer.name(NameKind.CLOUDWATCH_ALARM, HEALTH_ALARM_PURPOSE)]
    for index, alarm in enumerate(value):
        key = reader.key(f"{name}[{index}]")
        if not _OWNER_ALARM_NAME.match(alarm):
            raise ConfigError(key, f"{alarm!r} is not a CloudWatch alarm name (1-255 characters, no quotes)", example)
        if alarm in own:
            raise ConfigError(key, f"{alarm!r} is one of regionflow's own health alarms", "list only your alarms")
        if value.index(alarm) != index:
            raise ConfigError(key, f"{alarm!r} is listed twice", "list each alarm once")
    if len(value) + len(own) - 1 > MAX_UNDERLYING_ALARMS:
        raise ConfigError(
            reader.key(name),
            f"has {len(value)} alarms; a composite alarm holds at most {MAX_UNDERLYING_ALARMS} with regionflow's "
            f"{len(own) - 1}",
            f"list at most {MAX_UNDERLYING_ALARMS - len(own) + 1}, or combine them in a composite alarm of your own",
        )
    rule = health_alarm_rule([*own[:-1], *value])
    if len(rule) > MAX_ALARM_RULE_LENGTH:
        raise ConfigError(
            reader.key(name),
            f"makes the health alarm's rule {len(rule)} characters; CloudWatch accepts {MAX_ALARM_RULE_LENGTH}",
            "list fewer alarms, or combine them in a composite alarm of your own",
        )
    return tuple(value)
