"""Find the Pulumi projects and stacks of the monorepo, and read their config like the CLI does.

The stack files are read with the Pulumi CLI's YAML rules (:func:`regionflow.yaml_loading.load_pulumi_yaml`),
and each value is handed to the program the way the CLI hands it:

- a scalar as its text (``yes`` stays ``"yes"``, ``90`` is ``"90"``);
- a list or mapping as JSON (``pulumi config set --path`` values), with yaml.v3's scalar types;
- a blank value (``owner:``) as no value at all: the CLI gives the program an empty string, which every
  regionflow reader treats as missing, so it is left out here instead of becoming ``"None"``;
- a ``secure:`` value as an opaque secret: offline there is no key to decrypt it, so the program gets
  :data:`OFFLINE_OPAQUE_VALUE`, marked secret, and must neither validate it nor let it reach a manifest
  in clear.

The stack file's own top-level keys (``secretsprovider``, ``encryptedkey``, ``encryptionsalt``) are kept
on the target for the checks in :mod:`regionflow.offline.stack_checks`; they are not config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regionflow.yaml_loading import PulumiYamlError, ScalarText, load_pulumi_yaml, plain, to_go_json_value

# The order in which stacks are previewed and deployed: every later project reads earlier ones
# through StackReferences. Projects in other folders follow, alphabetically.
PROJECT_ORDER: tuple[str, ...] = ("primary", "secondary", "pipeline")
ORGANIZATION = "organization"  # the self-managed backend's fixed organization name
# What a program reads offline for a `secure:` value: not the plaintext (there is no key to decrypt it
# with here) and visibly not a real value. Programs recognise it with is_offline_opaque().
OFFLINE_OPAQUE_VALUE = "[secure value: not decrypted offline]"
# Top-level keys of a stack file the Pulumi CLI writes besides `config:` (ProjectStack in pulumi/pulumi
# sdk/go/common/workspace/project.go; `pulumi stack init --secrets-provider` writes the first two, see
# /work/briefs/facts-pulumi.md section 1). `environment` imports Pulumi ESC environments.
STACK_FILE_KEYS: tuple[str, ...] = ("secretsprovider", "encryptedkey", "encryptionsalt", "config", "environment")


def is_offline_opaque(value: str | None) -> bool:
    """Whether a config value is the offline stand-in of a ``secure:`` value."""
    return value == OFFLINE_OPAQUE_VALUE


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
    stack_file: Path | None = None
    # Full names of the keys the project's Pulumi.yaml declares (namespace:key).
    declared_keys: tuple[str, ...] = ()
    # Full names of the keys the stack file writes, in file order (blank ones included), with their lines.
    written_keys: tuple[tuple[str, int], ...] = ()
    # Keys written with no value (`owner:`): left out of `config`, so the program sees them as missing.
    blank_keys: tuple[str, ...] = ()
    # Keys written without a namespace (`owner:` instead of `regionflow-secondary:owner:`).
    unqualified_keys: tuple[str, ...] = ()
    # Top-level keys of the stack file other than `config:` (secretsprovider, encryptedkey, ...).
    stack_settings: dict[str, str] = field(default_factory=dict)
    unknown_settings: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        """The name other stacks use in a StackReference on the self-managed backend."""
        return f"{ORGANIZATION}/{self.project}/{self.stack}"

    @property
    def label(self) -> str:
        return f"{self.project}/{self.stack}"

    @property
    def secrets_provider(self) -> str | None:
        return self.stack_settings.get("secretsprovider")

    def relative_file(self, root: Path | None = None) -> str:
        """The stack file as a path relative to ``root`` (or the repository, guessed from the folder)."""
        path = self.stack_file or self.project_dir / f"Pulumi.{self.stack}.yaml"
        base = root if root is not None else self.project_dir.parent.parent
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return str(path)

    def relative_dir(self, root: Path | None = None) -> str:
        base = root if root is not None else self.project_dir.parent.parent
        try:
            return self.project_dir.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            return str(self.project_dir)


def _config_string(value: Any) -> str:
    # The CLI hands structured values to programs as JSON, and scalars as their text.
    if isinstance(value, ScalarText):
        return value.text
    return json.dumps(to_go_json_value(plain(value)))


def _load_yaml(path: Path) -> Any:
    try:
        return load_pulumi_yaml(path.read_text(), keep_text=True)
    except PulumiYamlError as error:
        where = f" line {error.line}" if error.line else ""
        raise DiscoveryError(f"{path}:{where} {error}") from None


def _load_mapping(path: Path) -> dict[str, Any]:
    loaded = _load_yaml(path) or {}
    if not isinstance(loaded, dict):
        raise DiscoveryError(f"{path}: expected a mapping at the top level")
    return loaded


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], ScalarText)


def _has_secure(value: Any) -> bool:
    if _is_secure(value):
        return True
    if isinstance(value, dict):
        return any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _opaque(value: Any) -> Any:
    """A structured value with each ``secure:`` leaf replaced by the offline stand-in."""
    if _is_secure(value):
        return ScalarText(OFFLINE_OPAQUE_VALUE, OFFLINE_OPAQUE_VALUE, value["secure"].line)
    if isinstance(value, dict):
        return {k: _opaque(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_opaque(v) for v in value]
    return value


def _line(value: Any) -> int:
    if isinstance(value, ScalarText):
        return value.line
    if isinstance(value, dict):
        return min((_line(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return min((_line(v) for v in value), default=0)
    return 0


def declared_keys(project: str, project_file: dict[str, Any]) -> dict[str, Any]:
    """The config keys a project's ``Pulumi.yaml`` declares, by full name, with their specs."""
    declared: dict[str, Any] = {}
    for key, spec in (project_file.get("config") or {}).items():
        declared[key if ":" in key else f"{project}:{key}"] = spec
    return declared


@dataclass
class StackFileConfig:
    """What :func:`read_stack_config` found in one stack file."""

    config: dict[str, str]
    secret_keys: list[str]
    written: list[tuple[str, int]]
    blank: list[str]
    unqualified: list[str]
    settings: dict[str, str]
    unknown_settings: list[str]


def read_stack_file(project: str, project_file: dict[str, Any], stack_file: Path) -> StackFileConfig:
    """Merge project-level defaults and the stack file into ``namespace:key -> value``, like the CLI."""
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for full_key, spec in declared_keys(project, project_file).items():
        if isinstance(spec, dict) and "default" in spec and plain(spec["default"]) is not None:
            config[full_key] = _config_string(spec["default"])
        elif isinstance(spec, dict) and "value" in spec and plain(spec["value"]) is not None:
            config[full_key] = _config_string(spec["value"])
        elif isinstance(spec, ScalarText) and not spec.is_null:
            config[full_key] = spec.text
    document = _load_mapping(stack_file)
    settings: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in document.items():
        if key == "config":
            continue
        if key not in STACK_FILE_KEYS:
            unknown.append(key)
        elif isinstance(value, ScalarText) and not value.is_null:
            settings[key] = value.text
    stack_config = document.get("config")
    if stack_config is None or (isinstance(stack_config, ScalarText) and stack_config.is_null):
        stack_config = {}
    if not isinstance(stack_config, dict):
        raise DiscoveryError(f"{stack_file}: 'config' must be a mapping")
    written: list[tuple[str, int]] = []
    blank: list[str] = []
    unqualified: list[str] = []
    for key, value in stack_config.items():
        if ":" not in key:
            unqualified.append(key)
        full_key = key if ":" in key else f"{project}:{key}"
        written.append((full_key, _line(value)))
        if isinstance(value, ScalarText) and value.is_null:
            blank.append(full_key)
            config.pop(full_key, None)
        elif _is_secure(value):
            config[full_key] = OFFLINE_OPAQUE_VALUE
            secret_keys.append(full_key)
        elif _has_secure(value):
            config[full_key] = _config_string(_opaque(value))
            secret_keys.append(full_key)
        else:
            try:
                config[full_key] = _config_string(value)
            except PulumiYamlError as error:
                raise DiscoveryError(f"{stack_file}: line {_line(value)}: {full_key}: {error}") from None
    return StackFileConfig(config, secret_keys, written, blank, unqualified, settings, unknown)


def read_stack_config(project: str, project_file: dict[str, Any], stack_file: Path) -> tuple[dict[str, str], list[str]]:
    """The config and secret keys of one stack file (see :func:`read_stack_file`)."""
    found = read_stack_file(project, project_file, stack_file)
    return found.config, found.secret_keys


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
        project_file = _load_mapping(folder / "Pulumi.yaml")
        project = plain(project_file.get("name"))
        if not isinstance(project, str) or not project:
            raise DiscoveryError(f"{folder / 'Pulumi.yaml'}: missing 'name'")
        declared = tuple(declared_keys(project, project_file))
        for stack_file in sorted(folder.glob("Pulumi.*.yaml")):
            stack = stack_file.name[len("Pulumi.") : -len(".yaml")]
            found = read_stack_file(project, project_file, stack_file)
            targets.append(
                StackTarget(
                    folder=folder.name,
                    project=project,
                    stack=stack,
                    project_dir=folder,
                    config=found.config,
                    secret_keys=tuple(found.secret_keys),
                    stack_file=stack_file,
                    declared_keys=declared,
                    written_keys=tuple(found.written),
                    blank_keys=tuple(found.blank),
                    unqualified_keys=tuple(found.unqualified),
                    stack_settings=found.settings,
                    unknown_settings=tuple(found.unknown_settings),
                )
            )
    return targets
