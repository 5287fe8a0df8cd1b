"""The pipeline as a region owner reads it: stages, actions (region, run order, wave), and a Mermaid diagram.

Read from the pipeline stack's manifest (the ``aws:codepipeline/pipeline:Pipeline`` resource's inputs), so
what is shown is exactly what the offline preview registered. GitHub renders Mermaid in Markdown
(``mermaid`` code blocks), which is why the pull-request comment embeds the diagram.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PIPELINE_TYPE = "aws:codepipeline/pipeline:Pipeline"
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"
# Waves: DeploySecondaries[n] without the `waves` key, DeployWave<n>[a-z] with it (regionflow.delivery).
_WAVE = re.compile(r"^(?:DeploySecondaries(?P<wave>\d*)|DeployWave(?P<numbered>\d+)[a-z]?)$")


@dataclass(frozen=True)
class Action:
    name: str
    category: str
    provider: str
    region: str | None
    run_order: int


@dataclass(frozen=True)
class Stage:
    name: str
    actions: tuple[Action, ...]
    on_failure: str | None
    # The stage's conditions and retry, one line each (beforeEntry, onSuccess, onFailure): what gates it.
    conditions: tuple[str, ...] = ()

    @property
    def wave(self) -> int | None:
        """The wave of a secondaries stage (1 when there is only one), else None."""
        match = _WAVE.match(self.name)
        if match is None:
            return None
        return int(match["wave"] or match["numbered"] or 1)


def _rule_text(rule: Mapping[str, Any]) -> str:
    provider = str((rule.get("ruleTypeId") or {}).get("provider") or "?")
    configuration = rule.get("configuration") or {}
    region = f" in {rule['region']}" if rule.get("region") else ""
    if provider == "CloudWatchAlarm":
        return f"{provider} {configuration.get('AlarmName')}{region} wait {configuration.get('WaitTime', '0')} min"
    if provider == "DeploymentWindow":
        return f"{provider} '{configuration.get('Cron')}' {configuration.get('TimeZone', '')}".rstrip()
    if provider == "VariableCheck":
        check = (configuration.get(k) for k in ("Variable", "Operator", "Value"))
        return f"{provider} {' '.join(map(str, check))}"
    return f"{provider}{region}"


def stage_conditions(stage: Mapping[str, Any]) -> tuple[str, ...]:
    """``kind: rule; rule -> RESULT`` per condition, and the automatic retry, of one stage's inputs."""
    lines: list[str] = []
    for kind in ("beforeEntry", "onSuccess", "onFailure"):
        block = stage.get(kind) or {}
        condition = block.get("condition") if isinstance(block, Mapping) else None
        if isinstance(condition, Mapping):
            rules = "; ".join(_rule_text(r) for r in condition.get("rules") or [] if isinstance(r, Mapping))
            lines.append(f"{kind}: {rules} -> {condition.get('result')}")
        retry = block.get("retryConfiguration") if isinstance(block, Mapping) else None
        if isinstance(retry, Mapping):
            lines.append(f"{kind}: {block.get('result')} ({retry.get('retryMode')})")
    return tuple(lines)


@dataclass(frozen=True)
class PipelineView:
    name: str
    label: str  # project/stack of the pipeline stack
    stages: tuple[Stage, ...]
    stacks: tuple[str, ...]  # qualified names of the stacks it reads


def pipeline_views(manifests: Iterable[Mapping[str, Any]]) -> list[PipelineView]:
    """Every pipeline found in the manifests."""
    views: list[PipelineView] = []
    for manifest in manifests:
        resources = manifest.get("resources") or []
        stacks = tuple(sorted(str(r.get("id")) for r in resources if r.get("type") == STACK_REFERENCE_TYPE))
        for resource in resources:
            if resource.get("type") != PIPELINE_TYPE:
                continue
            inputs = resource.get("inputs") or {}
            stages = tuple(
                Stage(
                    name=str(stage.get("name")),
                    actions=tuple(
                        Action(
                            name=str(action.get("name")),
                            category=str(action.get("category")),
                            provider=str(action.get("provider")),
                            region=action.get("region"),
                            run_order=int(action.get("runOrder") or 1),
                        )
                        for action in stage.get("actions") or []
                    ),
                    on_failure=(stage.get("onFailure") or {}).get("result"),
                    conditions=stage_conditions(stage),
                )
                for stage in inputs.get("stages") or []
            )
            views.append(
                PipelineView(
                    name=str(inputs.get("name") or resource.get("name")),
                    label=f"{manifest.get('project')}/{manifest.get('stack')}",
                    stages=stages,
                    stacks=stacks,
                )
            )
    return views


def render_stages(view: PipelineView) -> list[str]:
    """A table of stages and actions: run order, region, wave, what runs."""
    lines = [f"Pipeline {view.name} ({view.label}): {len(view.stages)} stages"]
    lines.append(f"    {'Stage':<20} {'Order':>5}  {'Region':<16} {'Wave':>4}  Action")
    for stage in view.stages:
        rollback = "  (on failure: rollback)" if stage.on_failure == "ROLLBACK" else ""
        wave = str(stage.wave) if stage.wave is not None else ""
        for index, action in enumerate(sorted(stage.actions, key=lambda a: (a.run_order, a.region or "", a.name))):
            shown_stage = stage.name if index == 0 else ""
            lines.append(
                f"    {shown_stage:<20} {action.run_order:>5}  {action.region or '(home)':<16} {wave:>4}  "
                f"{action.name} [{action.category}: {action.provider}]{rollback if index == 0 else ''}"
            )
        lines += [f"    {'':<20} {'':>5}  {'':<16} {'':>4}  {condition}" for condition in stage.conditions]
    return lines


def _gates(stage: Stage) -> str:
    """Short marks of a stage's conditions for the diagram: window, bake, IAM gate, retry."""
    marks = []
    for line in stage.conditions:
        if "DeploymentWindow" in line:
            marks.append("window")
        if "CloudWatchAlarm" in line:
            waits = re.findall(r"wait (\d+) min", line)
            marks.append(f"bake {max(map(int, waits))} min" if waits else "bake")
        if "VariableCheck" in line and "SKIP" in line:
            marks.append("skipped unless IAM changes")
        if line.startswith("onFailure: RETRY"):
            marks.append("retry once")
    return "<br/>" + ", ".join(marks) if marks else ""


def _node(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def mermaid(views: Iterable[PipelineView]) -> str:
    """A Mermaid flowchart: stacks -> pipeline -> stages, with each secondaries wave and its regions."""
    lines = ["flowchart LR"]
    for view in views:
        pipeline = _node(f"pipeline_{view.name}")
        lines.append(f'    {pipeline}[["{view.name}"]]')
        for stack in view.stacks:
            node = _node(f"stack_{stack}")
            lines.append(f'    {node}(["{stack.split("/", 1)[-1]}"]) -.->|StackReference| {pipeline}')
        previous = pipeline
        for stage in view.stages:
            node = _node(f"{view.name}_{stage.name}")
            regions = sorted({a.region for a in stage.actions if a.region})
            if stage.wave is not None:
                label = f"{stage.name} (wave {stage.wave}){_gates(stage)}"
                lines.append(f'    subgraph {node}["{label}"]')
                for region in regions:
                    lines.append(f'        {_node(f"{node}_{region}")}["{region}"]')
                lines.append("    end")
            elif regions:
                lines.append(f'    {node}["{stage.name}<br/>{", ".join(regions)}{_gates(stage)}"]')
            else:
                lines.append(f'    {node}["{stage.name}{_gates(stage)}"]')
            lines.append(f"    {previous} --> {node}")
            previous = node
    return "\n".join(lines) + "\n"
