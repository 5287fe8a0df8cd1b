"""The real engine: ``pulumi preview`` and ``pulumi up`` per stack through the Automation API.

It needs the Pulumi CLI on PATH, a logged-in backend (``pulumi login s3://...``) and AWS
credentials. None of those exist on a machine without a cloud account, so this module checks for
the CLI first and fails with one clear line; its ordering and error handling are tested with a fake
``pulumi.automation`` module.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from regionflow.offline.discovery import StackTarget


class EngineUnavailableError(RuntimeError):
    """The real engine cannot run here (no CLI); the message says what to install."""


@dataclass(frozen=True)
class StackOperationResult:
    target: StackTarget
    ok: bool
    summary: str


def load_automation(which: Callable[[str], str | None] = shutil.which) -> ModuleType:
    """Import ``pulumi.automation`` after checking the ``pulumi`` CLI is on PATH."""
    if which("pulumi") is None:
        raise EngineUnavailableError(
            "the pulumi CLI is not on PATH; install it (https://www.pulumi.com/docs/install/) or use --engine offline"
        )
    from pulumi import automation

    return automation


class AutomationEngine:
    """Runs Pulumi operations on existing stacks through an Automation API module."""

    def __init__(
        self,
        automation: ModuleType,
        *,
        policy_pack: Path | None = None,
        on_output: Callable[[str], None] = print,
    ) -> None:
        self.auto = automation
        self.policy_pack = policy_pack
        self.on_output = on_output

    def select(self, target: StackTarget) -> Any:
        # Stacks are created by their owners (`pulumi stack init`, with the awskms secrets
        # provider); a preview or deploy must never create one by accident, so only select.
        return self.auto.select_stack(stack_name=target.stack, work_dir=str(target.project_dir))

    def preview(self, target: StackTarget) -> StackOperationResult:
        try:
            stack = self.select(target)
            result = stack.preview(
                on_output=self.on_output,
                policy_packs=[str(self.policy_pack)] if self.policy_pack else None,
            )
        except self.auto.errors.CommandError as error:
            return StackOperationResult(target, False, _first_error_line(str(error)))
        changes = getattr(result, "change_summary", {}) or {}
        summary = ", ".join(f"{count} to {op}" for op, count in sorted(changes.items())) or "no changes"
        return StackOperationResult(target, True, summary)

    def up(self, target: StackTarget) -> StackOperationResult:
        """``pulumi up`` on an existing stack, with the policy pack; a CLI failure becomes one line."""
        try:
            stack = self.select(target)
            result = stack.up(
                on_output=self.on_output,
                policy_packs=[str(self.policy_pack)] if self.policy_pack else None,
                # Outputs are read back after the update; keep secret ones encrypted in our process.
                show_secrets=False,
            )
        except self.auto.errors.CommandError as error:
            return StackOperationResult(target, False, _first_error_line(str(error)))
        changes = getattr(getattr(result, "summary", None), "resource_changes", None) or {}
        # "same" counts untouched resources; the summary names only what the update changed.
        done = ", ".join(f"{count} {op}" for op, count in sorted(changes.items()) if op != "same" and count)
        return StackOperationResult(target, True, done or "no changes")


def _first_error_line(text: str) -> str:
    """The most useful line of a CLI failure: its first ``error:`` line, else its last line."""
    # CommandError's text is "code: N / stdout: ... / stderr: ..."; the CLI's own line follows a label.
    lines = [re.sub(r"^(stdout|stderr):\s*", "", line.strip()) for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.lower().startswith("error:"):
            return line
    return lines[-1] if lines else "pulumi command failed"
