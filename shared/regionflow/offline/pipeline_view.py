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
_WAVE = re.compile(r"^DeploySecondaries(?P<wave>\d*)$")


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

    @property
    def wave(self) -> int | None:
        """The wave of a secondaries stage (1 when there is only one), else None."""
        match = _WAVE.match(self.name)
        if match is None:
            return None
        return int(match["wave"] or 1)


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
    return lines


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
                label = f"{stage.name} (wave {stage.wave})"
                lines.append(f'    subgraph {node}["{label}"]')
                for region in regions:
                    lines.append(f'        {_node(f"{node}_{region}")}["{region}"]')
                lines.append("    end")
            elif regions:
                lines.append(f'    {node}["{stage.name}<br/>{", ".join(regions)}"]')
            else:
                lines.append(f'    {node}["{stage.name}"]')
            lines.append(f"    {previous} --> {node}")
            previous = node
    return "\n".join(lines) + "\n"
