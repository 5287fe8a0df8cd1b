"""The declared scope of the roles' jobs: ``scope.yaml``, what a job deliberately does not do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from regionflow import yaml_loading
from regionflow.iamcheck.arguments import DEFAULT_SCOPE
from regionflow.iamcheck.requirements import SPECS, Phase

JOB_KINDS = ("up", "refresh", "destroy", "preview-refresh", "preview")
FIELDS = ("job", "type", "phases", "project", "reason")


class ScopeError(ValueError):
    """The scope file is malformed; the message names the entry and the fix."""


@dataclass
class Exclusion:
    job: str
    type: str
    phases: frozenset[Phase]
    reason: str
    project: str | None = None  # a regular expression matched against the stack's project
    used: int = field(default=0, compare=False)

    def covers(self, job: str, project: str, resource_type: str, phase: Phase) -> bool:
        return (
            self.job == job
            and self.type == resource_type
            and phase in self.phases
            and (self.project is None or re.fullmatch(self.project, project) is not None)
        )


def load_scope(path: Path = DEFAULT_SCOPE) -> list[Exclusion]:
    try:
        loaded: Any = yaml_loading.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ScopeError(f"{path}: cannot read the scope file ({type(error).__name__})") from None
    entries = loaded.get("exclusions") if isinstance(loaded, dict) else None
    if not isinstance(entries, list):
        raise ScopeError(f"{path}: expected a top-level 'exclusions:' list")
    found: list[Exclusion] = []
    for index, entry in enumerate(entries):
        where = f"{path}: exclusions[{index}]"
        if not isinstance(entry, dict):
            raise ScopeError(f"{where} must be a mapping with job, type, phases and reason")
        unknown = sorted(set(entry) - set(FIELDS))
        if unknown:
            raise ScopeError(f"{where}: unknown field {', '.join(unknown)}; allowed: {', '.join(FIELDS)}")
        if not isinstance(entry.get("reason"), str) or len(entry["reason"].strip()) < 20:
            raise ScopeError(f"{where}: 'reason' is required: say which documented decision narrows the job")
        if entry.get("job") not in JOB_KINDS:
            raise ScopeError(f"{where}: job {entry.get('job')!r} is not one of {', '.join(JOB_KINDS)}")
        if entry.get("type") not in SPECS:
            raise ScopeError(f"{where}: type {entry.get('type')!r} is not in the provider table")
        phases = entry.get("phases")
        valid = {p.value for p in Phase}
        if not isinstance(phases, list) or not phases or not set(phases) <= valid:
            raise ScopeError(f"{where}: phases must be a list of {', '.join(sorted(valid))}")
        project = entry.get("project")
        if project is not None:
            try:
                re.compile(str(project))
            except re.error:
                raise ScopeError(f"{where}: project is not a valid regular expression") from None
        found.append(
            Exclusion(
                job=str(entry["job"]),
                type=str(entry["type"]),
                phases=frozenset(Phase(p) for p in phases),
                reason=" ".join(str(entry["reason"]).split()),
                project=None if project is None else str(project),
            )
        )
    return found
