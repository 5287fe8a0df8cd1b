"""Run a CodeBuild buildspec's phases for real, with recording stand-ins first on PATH.

What CodeBuild does that matters here (CodeBuild user guide, "Build specification reference" and
"Environment variables in build environments"): it runs the phases install, pre_build, build and
post_build in order from the source directory ``$CODEBUILD_SRC_DIR``, a failing command fails its phase
and the build, and the buildspec's ``env.variables`` and the project's environment variables are set.
Each phase here runs in its own ``bash -e``, which is stricter than CodeBuild (nothing carries over
between phases), so a buildspec that passes here cannot depend on shell state CodeBuild may not keep.

The checkout is a copy of the repository's files (what CodeBuild receives as the source artifact), so
the virtualenvs that ``pulumi install`` would create land in the copy, never in the working tree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from offline_support import REPO_ROOT

STANDINS = Path(__file__).resolve().parent / "standins.py"
PHASES = ("install", "pre_build", "build", "post_build")
TOOLS = ("pulumi", "curl", "aws", "tox", "python3")


@dataclass(frozen=True)
class Call:
    tool: str
    argv: list[str]
    cwd: str
    effective: str  # the directory the tool acts in: for pulumi, after --cwd

    @property
    def line(self) -> str:
        return " ".join([self.tool, *self.argv])


@dataclass
class BuildRun:
    exit_code: int
    output: str
    calls: list[Call] = field(default_factory=list)
    failed_phase: str | None = None
    # env/exported-variables as the build's shell held them after the last phase that set them (CodeBuild
    # exports them when the build ends; API reference ExportedEnvironmentVariable).
    exported: dict[str, str] = field(default_factory=dict)

    def of(self, tool: str, *words: str) -> list[Call]:
        """The calls of ``tool`` whose leading arguments are ``words``."""
        return [c for c in self.calls if c.tool == tool and c.argv[: len(words)] == list(words)]

    @property
    def violations(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("standin-violation:")]


# What a checkout never holds: tool caches and virtualenvs of this working tree, and what .gitignore leaves out.
_NOT_SOURCE = (".git", ".tox", ".venv", "venv", "__pycache__", ".regionflow", ".mypy_cache", ".ruff_cache")


def checkout(tmp_path: Path, root: Path = REPO_ROOT) -> Path:
    """The repository's files as CodeBuild receives them, in a fresh folder.

    From git when the repository is a work tree (tracked and new files, nothing ignored); otherwise, as in the
    pipeline's own Build stage, whose CODE_ZIP source artifact has no .git, every file but caches and venvs.
    """
    target = tmp_path / "src"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0 and (root / ".git").exists():
        files = [root / name for name in listed.stdout.decode().split("\0") if name]
    else:
        files = [
            path
            for path in root.rglob("*")
            if not any(part in _NOT_SOURCE or part.endswith(".egg-info") for part in path.relative_to(root).parts)
        ]
    for source in files:
        if source.is_file():
            destination = target / source.relative_to(root)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


def _bin_dir(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "standin-bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in TOOLS:
        if tool == "pulumi":
            continue  # only the installer puts pulumi on PATH, as get.pulumi.com does
        wrapper = bin_dir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDINS}" {tool} "$@"\n')
        wrapper.chmod(0o755)
    return bin_dir


def run_buildspec(
    buildspec: str,
    environment: Mapping[str, str],
    *,
    source: Path,
    tmp_path: Path,
    config: Mapping[str, Any] | None = None,
) -> BuildRun:
    """Run the buildspec's phases in ``source`` with ``environment`` (the project's variables)."""
    spec = yaml.safe_load(buildspec)
    home = tmp_path / "home"
    home.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "calls.jsonl"
    log.write_text("")
    config_file = tmp_path / "standin-config.json"
    config_file.write_text(json.dumps(dict(config or {})))
    env = {
        "PATH": f"{_bin_dir(tmp_path)}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "CODEBUILD_SRC_DIR": str(source),
        "CODEBUILD_BUILD_ID": "rflow-prod-use1-build:11111111-2222-3333-4444-555555555555",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STANDIN_LOG": str(log),
        "STANDIN_CONFIG": str(config_file),
        "STANDIN_REAL_PYTHON": sys.executable,
        **{str(k): str(v) for k, v in ((spec.get("env") or {}).get("variables") or {}).items()},
        **environment,
    }
    output: list[str] = []
    exit_code = 0
    failed_phase = None
    exported_names = [str(n) for n in ((spec.get("env") or {}).get("exported-variables") or [])]
    exported_file = tmp_path / "exported.txt"
    exported_file.write_text("")
    # Appended to each phase: record the exported variables the phase's shell holds when it ends.
    record = "".join(
        f'if [ -n "${{{name}+set}}" ]; then printf "%s=%s\\n" {name} "${{{name}}}" >> "{exported_file}"; fi\n'
        for name in exported_names
    )
    for phase in PHASES:
        commands = ((spec.get("phases") or {}).get(phase) or {}).get("commands") or []
        if not commands:
            continue
        completed = subprocess.run(
            ["bash", "-e", "-c", "\n".join(commands) + "\n" + record],
            cwd=source,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output.append(completed.stdout + completed.stderr)
        if completed.returncode != 0:
            exit_code, failed_phase = completed.returncode, phase
            break
    calls = [Call(**json.loads(line)) for line in log.read_text().splitlines() if line]
    exported = dict(line.split("=", 1) for line in exported_file.read_text().splitlines() if "=" in line)
    return BuildRun(exit_code, "".join(output), calls, failed_phase, exported)


def project_environment(project_inputs: Mapping[str, Any]) -> dict[str, str]:
    """A CodeBuild project's environment variables, as the preview's manifest records them."""
    return {v["name"]: str(v["value"]) for v in project_inputs["environment"].get("environmentVariables") or []}


def action_environment(configuration: Mapping[str, Any], resolved: Mapping[str, str]) -> dict[str, str]:
    """A CodeBuild action's ``EnvironmentVariables``, with CodePipeline's ``#{...}`` variables resolved."""
    raw = configuration.get("EnvironmentVariables")
    if not raw:
        return {}
    values: dict[str, str] = {}
    for variable in json.loads(raw):
        value = str(variable["value"])
        for name, replacement in resolved.items():
            value = value.replace(f"#{{{name}}}", replacement)
        assert "#{" not in value, f"unresolved pipeline variable in {variable}"
        values[variable["name"]] = value
    return values


def locking(calls: Sequence[Call]) -> list[str]:
    """The pulumi calls that take the stack lock in the self-managed backend."""
    from standins import LOCKING_COMMANDS

    found = []
    for call in calls:
        if call.tool != "pulumi":
            continue
        words = [a for a in call.argv if not a.startswith("-")]
        command = " ".join(words[:2]) if words[:1] == ["stack"] else (words[0] if words else "")
        if command in LOCKING_COMMANDS:
            found.append(call.line)
    return found
