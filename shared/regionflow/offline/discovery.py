"""Find the Pulumi projects and stacks of the monorepo, and read their config like the CLI does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from regionflow import yaml_loading

# The order in which stacks are previewed and deployed: every later project reads earlier ones
# through StackReferences. Projects in other folders follow, alphabetically.
PROJECT_ORDER: tuple[str, ...] = ("primary", "secondary", "pipeline")
ORGANIZATION = "organization"  # the self-managed backend's fixed organization name
# Stands in for an encrypted config value offline; not a credential (bandit B105 flags the name).
OFFLINE_SECRET_PLACEHOLDER = "offline-secret-placeholder"  # nosec B105


class DiscoveryError(ValueError):
    """The stacks folder or a stack's config file is malformed."""


@dataclass(frozen=True)
class StackTarget:
    """One stack of one project, with its config flattened to ``namespace:key -> string``."""

    folder: str  # the project's folder under stacks/, e.g. "secondary"
    project: str
    stack: str
    project_dir: Path
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        """The name other stacks use in a StackReference on the self-managed backend."""
        return f"{ORGANIZATION}/{self.project}/{self.stack}"

    @property
    def label(self) -> str:
        return f"{self.project}/{self.stack}"


def _config_string(value: Any) -> str:
    # The CLI hands structured values to programs as JSON, and scalars as their YAML text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml_loading.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise DiscoveryError(f"{path}:{where} is not valid YAML") from None
    if not isinstance(loaded, dict):
        raise DiscoveryError(f"{path}: expected a mapping at the top level")
    return loaded


def read_stack_config(project: str, project_file: dict[str, Any], stack_file: Path) -> tuple[dict[str, str], list[str]]:
    """Merge project-level defaults and the stack file into ``namespace:key -> value``."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, spec in (project_file.get("config") or {}).items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(spec, dict) and "default" in spec:
            config[full_key] = _config_string(spec["default"])
        elif spec is not None and not isinstance(spec, dict):
            config[full_key] = _config_string(spec)
    stack_config = _load_yaml(stack_file).get("config") or {}
    if not isinstance(stack_config, dict):
        raise DiscoveryError(f"{stack_file}: 'config' must be a mapping")
    for key, value in stack_config.items():
        full_key = key if ":" in key else f"{project}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Encrypted values need the stack's secrets provider; offline they become placeholders.
            config[full_key] = OFFLINE_SECRET_PLACEHOLDER
            secret_keys.append(full_key)
        else:
            config[full_key] = _config_string(value)
    return config, secret_keys


def discover_stacks(stacks_dir: Path) -> list[StackTarget]:
    """Every ``stacks/<folder>/Pulumi.<stack>.yaml``, in deployment order."""
    if not stacks_dir.is_dir():
        raise DiscoveryError(f"{stacks_dir} is not a directory; pass --root pointing at the repository")
    # Absolute, because each program runs from its own project folder (as the Pulumi CLI runs it).
    stacks_dir = stacks_dir.resolve()
    folders = sorted(
        (p for p in stacks_dir.iterdir() if (p / "Pulumi.yaml").is_file()),
        key=lambda p: (PROJECT_ORDER.index(p.name) if p.name in PROJECT_ORDER else len(PROJECT_ORDER), p.name),
    )
    targets: list[StackTarget] = []
    for folder in folders:
        project_file = _load_yaml(folder / "Pulumi.yaml")
        project = project_file.get("name")
        if not isinstance(project, str) or not project:
            raise DiscoveryError(f"{folder / 'Pulumi.yaml'}: missing 'name'")
        for stack_file in sorted(folder.glob("Pulumi.*.yaml")):
            stack = stack_file.name[len("Pulumi.") : -len(".yaml")]
            config, secret_keys = read_stack_config(project, project_file, stack_file)
            targets.append(
                StackTarget(
                    folder=folder.name,
                    project=project,
                    stack=stack,
                    project_dir=folder,
                    config=config,
                    secret_keys=tuple(secret_keys),
                )
            )
    return targets
