"""Checks over the stack files themselves, before any program runs: the mistakes people really make.

Each finding is one line that names the file to change and a fix that works when pasted from the
repository root. Errors stop the preview before any program runs; warnings are printed and it goes on.

- Keys: a key of the project's namespace that its ``Pulumi.yaml`` does not declare (a typo such as
  ``secondaryStack`` or ``costCentre``) is an error offering the closest declared key; so is an ``aws:``
  key the AWS provider does not have, a namespace that is neither the project's nor a provider's, and
  a key written without a namespace. A blank value is a missing key (a warning here; the program
  refuses a blank required key).
- Stack-file settings: a top-level key the CLI does not know (``secretprovider:``) is an error. Every
  stack the pipeline deploys, and the pipeline stack itself, must carry ``secretsprovider:`` equal to
  the pipeline's ``secretsProvider`` and an ``encryptedkey:``: without them the CLI falls back to the
  passphrase provider of the self-managed backend (/work/briefs/facts-pulumi.md, section 1: pulumi/pulumi
  ``pkg/cmd/pulumi/stack/secrets.go``, ``pkg/backend/diy/backend.go``; issues #17236, #5657).
- Across files: two regional stacks with the same physical names (a copied file whose region was
  not changed); a secondary whose ``primaryRegion`` is not the primary's region; a pipeline entry
  that disagrees with the stack file it names (the file that is wrong is blamed: a stack's name ends in
  its region, so the side that disagrees with the name is the wrong one); a regional stack the pipeline
  does not deploy (a warning with the exact ``secondaryStacks`` entry to add).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from regionflow.config import closest, config_set_command, undeclared_key_problem
from regionflow.naming import Namer
from regionflow.offline.discovery import STACK_FILE_KEYS, StackTarget
from regionflow.regions import SUPPORTED_REGIONS

Level = Literal["error", "warning"]
DEFAULT_NAME_PREFIX = "rflow"  # the default of namePrefix in regionflow.config
# Namespaces a stack file may use besides the project's own: the providers the programs use, and the
# engine's own `pulumi:` keys (pulumi:tags, pulumi:disable-default-providers, ...).
PROVIDER_NAMESPACES: tuple[str, ...] = ("aws",)
ENGINE_NAMESPACE = "pulumi"
SECONDARY_STACKS = "secondaryStacks"


@dataclass(frozen=True)
class Finding:
    level: Level
    file: str  # relative to the repository root
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.file}: {self.message}"


@cache
def aws_provider_keys() -> frozenset[str]:
    """The AWS provider's config keys, read from the installed pulumi_aws SDK (``config/vars.py``).

    The SDK is generated from the provider's schema: each key is read there as
    ``__config__.get('<key>')`` (or get_bool, get_int, get_object).
    """
    import importlib.util

    spec = importlib.util.find_spec("pulumi_aws")
    if spec is None or not spec.submodule_search_locations:
        return frozenset({"region"})
    text = (Path(next(iter(spec.submodule_search_locations))) / "config" / "vars.py").read_text()
    return frozenset(re.findall(r"__config__\.get\w*\('([A-Za-z0-9]+)'", text)) | {"region"}


def _config(target: StackTarget, name: str) -> str | None:
    value = target.config.get(f"{target.project}:{name}")
    return value.strip() if value is not None and value.strip() else None


def _region_of_stack(stack: str) -> str | None:
    """The region a stack name ends in (``prod-eu-west-1`` -> ``eu-west-1``), if any."""
    for region in sorted(SUPPORTED_REGIONS, key=len, reverse=True):
        if stack == region or stack.endswith(f"-{region}"):
            return region
    return None


def _set(target: StackTarget, root: Path, arguments: str) -> str:
    return config_set_command(arguments, target.stack, target.relative_dir(root))


class _Checker:
    def __init__(self, targets: list[StackTarget], root: Path) -> None:
        self.targets = targets
        self.root = root
        self.findings: list[Finding] = []
        self.by_name = {t.qualified_name: t for t in targets}

    def add(self, level: Level, target: StackTarget | str, message: str) -> None:
        file = target if isinstance(target, str) else target.relative_file(self.root)
        finding = Finding(level, file, message)
        if finding not in self.findings:
            self.findings.append(finding)

    # --- one file at a time ------------------------------------------------------------------------------

    def keys(self, target: StackTarget) -> None:
        project_file = f"{target.relative_dir(self.root)}/Pulumi.yaml"
        namespaces = {target.project, ENGINE_NAMESPACE, *PROVIDER_NAMESPACES}
        for key in target.unqualified_keys:
            self.add(
                "error",
                target,
                f"config key {key!r} has no namespace; the Pulumi CLI reads stack-file keys as <namespace>:<key>. "
                f"Fix: write it as {target.project}:{key}",
            )
        for key, line in target.written_keys:
            namespace, _, name = key.partition(":")
            where = f"line {line}: " if line else ""
            if key.partition(":")[0] == target.project and key in target.unqualified_keys:
                continue
            if namespace == target.project:
                if key not in target.declared_keys:
                    problem, fix = undeclared_key_problem(key, target.declared_keys)
                    self.add(
                        "error", target, f"{where}{key} {problem.replace('its Pulumi.yaml', project_file)}. Fix: {fix}"
                    )
            elif namespace == "aws":
                known = aws_provider_keys()
                if name not in known:
                    suggestion = closest(name, known)
                    hint = f" (did you mean aws:{suggestion}?)" if suggestion else ""
                    fix = f"rename it to aws:{suggestion}" if suggestion else "remove it"
                    self.add("error", target, f"{where}{key} is not a config key of the AWS provider{hint}. Fix: {fix}")
            elif namespace not in namespaces:
                suggestion = closest(namespace, sorted(namespaces))
                hint = f" (did you mean {suggestion}:{name}?)" if suggestion else ""
                fix = f"rename it to {suggestion}:{name}" if suggestion else f"use {target.project}:{name}"
                self.add(
                    "error",
                    target,
                    f"{where}{key} is in namespace {namespace!r}, which neither this project ({target.project}) "
                    f"nor a provider reads{hint}. Fix: {fix}",
                )
        for key in target.blank_keys:
            _, _, name = key.partition(":")
            self.add(
                "warning",
                target,
                f"{key} has no value, so it counts as not set (a blank value is a missing key). "
                f"Fix: give it a value with {_set(target, self.root, f'{name} <value>')} or delete the line",
            )
        for key in target.unknown_settings:
            suggestion = closest(key, STACK_FILE_KEYS)
            hint = f" (did you mean {suggestion}?)" if suggestion else ""
            self.add(
                "error",
                target,
                f"top-level key {key!r} is not one the Pulumi CLI reads in a stack file{hint}. "
                f"Fix: {'rename it to ' + suggestion if suggestion else 'move it under config: with its namespace'}",
            )

    # --- the pipeline and what it deploys -----------------------------------------------------------------

    def pipelines(self) -> list[StackTarget]:
        return [t for t in self.targets if f"{t.project}:primaryStack" in t.config]

    def regional(self) -> list[StackTarget]:
        """Stacks of regional projects: those whose Pulumi.yaml declares `region` and not `primaryStack`."""
        return [
            t
            for t in self.targets
            if f"{t.project}:region" in t.declared_keys and f"{t.project}:primaryStack" not in t.declared_keys
        ]

    def secrets_provider(self, target: StackTarget, provider: str, pipeline: StackTarget) -> None:
        folder = target.relative_dir(self.root)
        init = f"`pulumi stack init {target.stack} --cwd {folder} --secrets-provider '{provider}'`"
        change = f"`pulumi stack change-secrets-provider --cwd {folder} --stack {target.stack} '{provider}'`"
        fix = f"run {init} for a new stack (or {change} for an existing one) and commit the lines it writes"
        written = target.secrets_provider
        source = f"{pipeline.project}:secretsProvider of {pipeline.relative_file(self.root)}"
        if written is None:
            self.add(
                "error",
                target,
                f"has no secretsprovider: the Pulumi CLI would fall back to the self-managed backend's passphrase "
                f"provider instead of {source}. Fix: {fix}",
            )
        elif written != provider:
            self.add("error", target, f"secretsprovider is {written!r}, not {provider!r} ({source}). Fix: {fix}")
        else:
            key = target.stack_settings.get("encryptedkey")
            if key is None:
                self.add(
                    "error",
                    target,
                    f"has secretsprovider but no encryptedkey (the data key the awskms provider decrypts). Fix: {fix}",
                )
            elif not _is_base64(key):
                self.add(
                    "error", target, f"encryptedkey is not base64 (it is KMS ciphertext, base64-encoded). Fix: {fix}"
                )

    def pipeline(self, pipeline: StackTarget) -> None:
        project = pipeline.project
        provider = _config(pipeline, "secretsProvider")
        primary_name = _config(pipeline, "primaryStack")
        entries = self._entries(pipeline)
        listed: list[tuple[StackTarget, str | None, int | None]] = []  # (target, region in the entry, index)
        primary = self.by_name.get(primary_name or "")
        if primary is not None:
            listed.append((primary, _config(pipeline, "region"), None))
        for index, entry in enumerate(entries):
            target = self.by_name.get(str(entry.get("stack")))
            if target is not None:
                region = entry.get("region")
                listed.append((target, region if isinstance(region, str) else None, index))
        if provider is not None:
            for target in [pipeline, *(t for t, _, _ in listed)]:
                self.secrets_provider(target, provider, pipeline)
        pipeline_file = pipeline.relative_file(self.root)
        for listed_target, listed_region, listed_index in listed:
            self._compare(pipeline, listed_target, listed_region, listed_index)
        # Regional stacks of this environment that the pipeline does not deploy.
        environment = _config(pipeline, "environment")
        listed_names = {t.qualified_name for t, _, _ in listed}
        next_index = len(entries)
        for target in self.regional():
            if target.qualified_name in listed_names or _config(target, "environment") != environment:
                continue
            if f"{target.project}:primaryRegion" not in target.declared_keys:
                self.add(
                    "warning",
                    target,
                    f"is a primary stack that {pipeline_file} does not deploy ({project}:primaryStack is "
                    f"{primary_name}). Fix: delete the file, or point primaryStack at it",
                )
                continue
            region = _region_of_stack(target.stack) or _config(target, "region") or "<region>"
            wanted = f"{{stack: {target.qualified_name}, region: {region}}}"
            commands = " and ".join(
                config_set_command(
                    f"--path '{SECONDARY_STACKS}[{next_index}].{field}' {value}",
                    pipeline.stack,
                    pipeline.relative_dir(self.root),
                )
                for field, value in (("stack", target.qualified_name), ("region", region))
            )
            self.add(
                "warning",
                target,
                f"is not deployed by the pipeline: {pipeline_file} has no {SECONDARY_STACKS} entry for it. "
                f"Fix: add the entry {wanted} to {project}:{SECONDARY_STACKS} (run {commands})",
            )
            next_index += 1

    def _entries(self, pipeline: StackTarget) -> list[dict[str, object]]:
        raw = _config(pipeline, SECONDARY_STACKS)
        if raw is None:
            return []
        try:
            entries = json.loads(raw)
        except json.JSONDecodeError:
            return []  # the program reports a malformed value with its own line
        if not isinstance(entries, list):
            return []
        return [e if isinstance(e, dict) else {} for e in entries]

    def _compare(self, pipeline: StackTarget, target: StackTarget, region: str | None, index: int | None) -> None:
        """A pipeline entry against the stack file it names; blame the side that is wrong."""
        project = pipeline.project
        pipeline_file = pipeline.relative_file(self.root)
        target_file = target.relative_file(self.root)
        written = _config(target, "region")
        if region is not None and written is not None and region != written:
            named = _region_of_stack(target.stack)
            key = f"{SECONDARY_STACKS}[{index}].region" if index is not None else "region"
            if named == written or (named is None and index is None):
                # The stack file agrees with its name: the pipeline's entry is the wrong one.
                arguments = f"--path '{key}' {written}" if index is not None else f"{key} {written}"
                what = f"{project}:{key} is {region}" if index is not None else f"{project}:region is {region}"
                self.add(
                    "error",
                    pipeline,
                    f"{what}, but {target_file} deploys {target.stack} to {written}. "
                    f"Fix: run {config_set_command(arguments, pipeline.stack, pipeline.relative_dir(self.root))}",
                )
            else:
                because = f"its stack name ends in {named}" if named else f"the pipeline ({pipeline_file}) says so"
                self.add(
                    "error",
                    target,
                    f"{target.project}:region is {written}, but {pipeline_file} deploys {target.stack} to {region} "
                    f"and {because}. Fix: run {_set(target, self.root, f'region {region}')}",
                )
        # namePrefix and environment: the pipeline's must equal every regional stack's (the regional keys and
        # the deploy roles are scoped by them). Blame the side the other regional stacks disagree with.
        for name, default in (("environment", None), ("namePrefix", DEFAULT_NAME_PREFIX)):
            mine = _config(pipeline, name) or default
            theirs = _config(target, name) or default
            if mine is None or theirs is None or mine == theirs:
                continue
            others = [
                _config(t, name) or default
                for t in self.regional()
                if t is not target and _config(t, "environment") == _config(target, "environment")
            ]
            if others and all(v == mine for v in others):
                self.add(
                    "error",
                    target,
                    f"{target.project}:{name} is {theirs!r}, but the pipeline ({pipeline_file}) and the other "
                    f"regional stacks use {mine!r}. Fix: run {_set(target, self.root, f'{name} {mine}')}",
                )
            else:
                self.add(
                    "error",
                    pipeline,
                    f"{project}:{name} is {mine!r}, but the regional stacks it deploys use {theirs!r}. Fix: run "
                    + config_set_command(f"{name} {theirs}", pipeline.stack, pipeline.relative_dir(self.root)),
                )

    # --- across regional stacks ---------------------------------------------------------------------------

    def physical_names(self) -> None:
        """Two regional stacks with one (namePrefix, environment, region) would create the same names."""
        seen: dict[tuple[str, str, str], StackTarget] = {}
        for target in self.regional():
            environment, region = _config(target, "environment"), _config(target, "region")
            if environment is None or region is None or region not in SUPPORTED_REGIONS:
                continue  # the program reports the missing or bad key
            prefix = _config(target, "namePrefix") or DEFAULT_NAME_PREFIX
            key = (prefix, environment, region)
            first = seen.setdefault(key, target)
            if first is target:
                continue
            base = Namer(prefix, environment, region).base
            # Blame the one whose stack name says another region (the copy); else the later file.
            copy = target
            if _region_of_stack(first.stack) not in (None, region) and _region_of_stack(target.stack) == region:
                copy, first = first, target
            meant = _region_of_stack(copy.stack)
            if meant is not None and meant != region:
                fix = f"run {_set(copy, self.root, f'region {meant}')} (its stack name says {meant})"
            else:
                other = _set(copy, self.root, "namePrefix <prefix>")
                fix = f"give one of them another region, or another namePrefix with {other}"
            self.add(
                "error",
                copy,
                f"would create the same physical names ({base}-*) as {first.relative_file(self.root)}: both deploy "
                f"{region} with namePrefix {prefix!r} and environment {environment!r} (was it copied without "
                f"changing {copy.project}:region?). Fix: {fix}",
            )

    def primary_regions(self) -> None:
        """A secondary's primaryRegion must be the region of the primary stack of its environment."""
        primaries = {
            (_config(t, "environment"), _config(t, "namePrefix") or DEFAULT_NAME_PREFIX): t
            for t in self.regional()
            if f"{t.project}:primaryRegion" not in t.declared_keys
        }
        for pipeline in self.pipelines():
            chosen = self.by_name.get(_config(pipeline, "primaryStack") or "")
            if chosen is not None:
                primaries[(_config(chosen, "environment"), _config(chosen, "namePrefix") or DEFAULT_NAME_PREFIX)] = (
                    chosen
                )
        for target in self.regional():
            stated = _config(target, "primaryRegion")
            if stated is None:
                continue
            primary = primaries.get(
                (_config(target, "environment"), _config(target, "namePrefix") or DEFAULT_NAME_PREFIX)
            )
            if primary is None:
                continue
            home = _config(primary, "region")
            if home is not None and home != stated:
                self.add(
                    "error",
                    target,
                    f"{target.project}:primaryRegion is {stated}, but the primary stack "
                    f"({primary.relative_file(self.root)}) deploys {home}. "
                    f"Fix: run {_set(target, self.root, f'primaryRegion {home}')}",
                )


def _is_base64(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) > 0
    except (binascii.Error, ValueError):
        return False


def check_stack_files(targets: Iterable[StackTarget], root: Path) -> list[Finding]:
    """Every finding over the repository's stack files, errors first, each once."""
    checker = _Checker(list(targets), root)
    for target in checker.targets:
        checker.keys(target)
    for pipeline in checker.pipelines():
        checker.pipeline(pipeline)
    checker.physical_names()
    checker.primary_regions()
    return sorted(checker.findings, key=lambda f: (f.level != "error",))
