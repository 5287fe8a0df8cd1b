"""The README's two set-up commands are what CI runs, and they work where pip may not touch the system Python.

PEP 668: Debian's and Ubuntu's system Python refuse `pip install` outside a virtual environment
(`externally-managed-environment`), so the first command must make one before installing tox.
"""

from __future__ import annotations

import re
import shlex

from offline_support import REPO_ROOT

README = REPO_ROOT / "README.md"
CI_RUN = REPO_ROOT / ".ci" / "run"


def readme_commands() -> list[str]:
    text = README.read_text()
    section = text.split("## Set-up on a fresh machine", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the set-up section has no sh code block"
    commands = [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [c for c in commands if c]


def ci_commands() -> list[str]:
    commands = []
    for line in CI_RUN.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith(("set -", 'cd "$(dirname')):
            continue
        commands.append(line)
    return commands


def test_ci_runs_exactly_the_readme_commands() -> None:
    assert readme_commands() == ci_commands()
    assert len(readme_commands()) == 2


def test_the_first_command_installs_tox_into_a_virtual_environment() -> None:
    first, second = readme_commands()
    steps = [shlex.split(step) for step in first.split("&&")]
    assert steps[0][:3] == ["python3", "-m", "venv"]
    venv = steps[0][3]
    # Nothing is pip-installed into the interpreter that created the venv (PEP 668 would refuse it).
    for step in steps[1:]:
        assert step[0].startswith(f"{venv}/bin/"), step
    assert steps[-1] == [f"{venv}/bin/tox", "-e", "preview"]
    assert shlex.split(second) == [f"{venv}/bin/tox"]


def test_the_venv_is_ignored_by_git() -> None:
    first, _ = readme_commands()
    venv = shlex.split(first.split("&&")[0])[3]
    assert f"{venv}/" in (REPO_ROOT / ".gitignore").read_text().splitlines()


def test_the_preview_env_carries_every_subcommand() -> None:
    """`regionflow bootstrap` needs boto3 and `regionflow iam-lint` parliament, in the env the README names."""
    tox = (REPO_ROOT / "tox.ini").read_text()
    preview = tox.split("[testenv:preview]", 1)[1].split("\n[", 1)[0]
    assert "-e ./shared[ops]" in preview and "parliament" in preview
    assert ".tox/preview/bin/regionflow" in README.read_text()
