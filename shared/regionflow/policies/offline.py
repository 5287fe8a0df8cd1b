"""Run the policy rules over what the offline engine recorded, the way ``pulumi preview --policy-pack`` would.

Each resource rule gets a ``ResourceValidationArgs`` per recorded resource; each stack rule gets one
``StackValidationArgs`` with every recorded resource as a ``PolicyResource``. Properties are the
recorded outputs (inputs plus what the mocks computed, such as ``tagsAll``), secrets revealed, as
CrossGuard sees them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from regionflow.offline import speed
from regionflow.offline.jsonsafe import to_json_safe
from regionflow.offline.mocks import RecordedResource
from regionflow.policies.rules import POLICIES

PROVIDER_TYPE_PREFIX = "pulumi:providers:"


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str  # "mandatory" or "advisory"
    message: str
    urn: str

    def line(self) -> str:
        """As the Pulumi CLI reports it: ``mandatory: [rule] message (urn)``."""
        return f"{self.level}: [{self.policy}] {self.message} ({self.urn})"


@dataclass
class ComplianceReport:
    stack: str
    rules_run: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def violated_rules(self) -> list[str]:
        return sorted({v.policy for v in self.violations})

    @property
    def passed(self) -> int:
        return self.rules_run - len(self.violated_rules)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == EnforcementLevel.MANDATORY.value]

    @property
    def advisory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == EnforcementLevel.ADVISORY.value]


def _options(resource: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _props(resource: RecordedResource) -> dict[str, Any]:
    props = to_json_safe(resource.outputs, reveal_secrets=True)
    return props if isinstance(props, dict) else {}


def _providers(resources: Sequence[RecordedResource]) -> dict[str, PolicyProviderResource]:
    found: dict[str, PolicyProviderResource] = {}
    for resource in resources:
        if resource.type.startswith(PROVIDER_TYPE_PREFIX):
            found[resource.urn] = PolicyProviderResource(resource.type, _props(resource), resource.urn, resource.name)
    return found


def _provider_of(resource: RecordedResource, providers: dict[str, PolicyProviderResource]) -> Any:
    if not resource.provider:
        return None
    # Recorded as "<urn>::<id>" or as the bare URN.
    urn = resource.provider if resource.provider in providers else resource.provider.rsplit("::", 1)[0]
    return providers.get(urn)


def _reporter(record: Callable[[str, str | None], None], urn: str) -> Callable[[str, str | None], None]:
    def report(message: str, _urn: str | None = None) -> None:
        record(message, urn)

    return report


def _run(
    policy: Any,
    args: Any,
    report: Callable[[str, str | None], None],
    record: Callable[[str, str | None], None],
    urn: str,
) -> None:
    try:
        policy.validate(args, report)
    except Exception as error:  # noqa: BLE001 - a broken rule must fail the run as a violation, not a traceback
        record(f"rule failed to run: {type(error).__name__}: {error}", urn)


class _SharedViews:
    """Each checked resource's properties, rule arguments and stack view, built once for every rule.

    Building them (``to_json_safe`` over every output) is most of the evaluation's cost; the rules only
    read them, which ``tests/foundation/test_offline_speed.py`` checks, so one copy serves all rules.
    """

    def __init__(self, checked: Sequence[RecordedResource], providers: dict[str, PolicyProviderResource]) -> None:
        self.args: list[ResourceValidationArgs] = []
        self.stack_resources: list[PolicyResource] = []
        for resource in checked:
            props, options, provider = _props(resource), _options(resource), _provider_of(resource, providers)
            self.args.append(
                ResourceValidationArgs(resource.type, props, resource.urn, resource.name, options, provider)
            )
            self.stack_resources.append(
                PolicyResource(resource.type, props, resource.urn, resource.name, options, provider, None, [], {})
            )


def evaluate(stack: str, resources: Sequence[RecordedResource], policies: Iterable[Any] = POLICIES) -> ComplianceReport:
    """Every rule over one stack's recorded resources."""
    report = ComplianceReport(stack=stack)
    checked = [r for r in resources if r.custom and not r.type.startswith(PROVIDER_TYPE_PREFIX)]
    checked = [r for r in checked if r.type != "pulumi:pulumi:StackReference"]
    providers = _providers(resources)
    shared = _SharedViews(checked, providers) if speed.enabled("policies") else None
    for policy in policies:
        level = (policy.enforcement_level or EnforcementLevel.ADVISORY).value
        report.rules_run += 1

        def record(message: str, urn: str | None, *, _name: str = policy.name, _level: str = level) -> None:
            report.violations.append(Violation(_name, _level, message, urn or stack))

        if isinstance(policy, ResourceValidationPolicy):
            for index, resource in enumerate(checked):
                args = (
                    shared.args[index]
                    if shared is not None
                    else ResourceValidationArgs(
                        resource.type,
                        _props(resource),
                        resource.urn,
                        resource.name,
                        _options(resource),
                        _provider_of(resource, providers),
                    )
                )
                # In a resource rule the CLI always reports the resource's own URN.
                _run(policy, args, _reporter(record, resource.urn), record, resource.urn)
        elif isinstance(policy, StackValidationPolicy):
            stack_resources = (
                shared.stack_resources
                if shared is not None
                else [
                    PolicyResource(
                        r.type,
                        _props(r),
                        r.urn,
                        r.name,
                        _options(r),
                        _provider_of(r, providers),
                        None,
                        [],
                        {},
                    )
                    for r in checked
                ]
            )
            _run(policy, StackValidationArgs(stack_resources), record, record, stack)
    return report


def print_compliance(report: ComplianceReport, out: TextIO) -> None:
    """The per-stack compliance summary the offline preview prints after the resource summary."""
    violated = report.violated_rules
    print(
        f"Policies: {report.rules_run} rules run, {report.passed} passed, {len(violated)} violated"
        f" ({len(report.mandatory)} mandatory, {len(report.advisory)} advisory violations)",
        file=out,
    )
    for violation in report.advisory:
        print(f"    warning: {violation.line()}", file=out)
    for violation in report.mandatory:
        print(f"    {violation.line()}", file=out)


def report_json(report: ComplianceReport) -> dict[str, Any]:
    return {
        "stack": report.stack,
        "rules_run": report.rules_run,
        "passed": report.passed,
        "violated": report.violated_rules,
        "violations": [v.__dict__ for v in report.violations],
    }


def dumps(reports: Sequence[ComplianceReport]) -> str:
    return json.dumps([report_json(r) for r in reports], indent=2) + "\n"
