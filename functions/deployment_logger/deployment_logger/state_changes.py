"""What to do with a CodePipeline state change, and the notification text. Standard library only.

Kept free of AWS calls so the rules and the exact wording can be tested directly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Final
from urllib.parse import quote

from deployment_logger.models import Scope, StateChange

FAILED: Final = "FAILED"
# Failed actions of these categories in a Deploy* stage are failed regional deployments: the
# `pulumi up` runs as a Build (CodeBuild) action and the deployment logger itself as Invoke.
DEPLOYMENT_ACTION_CATEGORIES: Final[frozenset[str]] = frozenset({"Build", "Invoke"})
DEPLOY_STAGE_PREFIX: Final = "Deploy"

# SNS: a subject is at most 100 printable ASCII characters, without line breaks.
SUBJECT_MAX_LENGTH: Final = 100


class Reaction(str, Enum):
    """The function's reaction to a state change."""

    NOTIFY = "notify"
    COUNT_FAILED_DEPLOYMENT = "count_failed_deployment"
    IGNORE = "ignore"


def decide(change: StateChange) -> Reaction:
    """Failed pipelines and stages notify; failed deployment actions count; the rest is ignored."""
    if change.state != FAILED:
        return Reaction.IGNORE
    if change.scope in (Scope.PIPELINE, Scope.STAGE):
        return Reaction.NOTIFY
    if is_deployment_action(change):
        return Reaction.COUNT_FAILED_DEPLOYMENT
    return Reaction.IGNORE


def is_deployment_action(change: StateChange) -> bool:
    return (
        change.scope is Scope.ACTION
        and change.action_category in DEPLOYMENT_ACTION_CATEGORIES
        and (change.stage or "").startswith(DEPLOY_STAGE_PREFIX)
    )


def deployment_region(change: StateChange) -> str:
    """The Region a failed action deployed to: ``detail.region``, else the pipeline's Region.

    Older events have no ``detail.region``; those actions ran in the pipeline's own Region.
    """
    return change.action_region or change.region


def console_url(change: StateChange) -> str:
    """Link to the execution's timeline in the CodePipeline console of the pipeline's Region."""
    region = change.region
    pipeline = quote(change.pipeline, safe="")
    execution = quote(change.execution_id, safe="")
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{pipeline}"
        f"/executions/{execution}/timeline?region={region}"
    )


@dataclass(frozen=True)
class Notification:
    subject: str
    message: str


def build_notification(change: StateChange) -> Notification:
    """The human-readable failure notification for a failed pipeline or stage."""
    if change.scope is Scope.STAGE:
        headline = f"Stage {change.stage} of pipeline {change.pipeline} failed"
    else:
        headline = f"Pipeline {change.pipeline} failed"
    stage = (
        change.stage if change.scope is Scope.STAGE else "(pipeline-level event; see the failed stage's notification)"
    )
    lines = [
        f"{headline}.",
        "",
        f"Pipeline:     {change.pipeline}",
        f"Stage:        {stage}",
        f"Execution ID: {change.execution_id}",
        f"State:        {change.state}",
        f"Region:       {change.region}",
        f"Account:      {change.account}",
        f"Time:         {change.time}",
        f"Console:      {console_url(change)}",
    ]
    if change.summary:
        lines.append(f"Summary:      {change.summary}")
    lines += ["", f"EventBridge event id: {change.event_id}"]
    return Notification(subject=sns_subject(f"[{change.region}] {headline}"), message="\n".join(lines))


def sns_subject(text: str) -> str:
    """Make ``text`` a valid SNS subject: printable ASCII, one line, at most 100 characters."""
    subject = re.sub(r" {2,}", " ", "".join(_ascii(ch) for ch in unicodedata.normalize("NFKD", text))).strip()
    subject = subject or "CodePipeline failure"
    if len(subject) > SUBJECT_MAX_LENGTH:
        subject = subject[: SUBJECT_MAX_LENGTH - 3].rstrip() + "..."
    return subject


def _ascii(char: str) -> str:
    """Printable ASCII stays; accents are dropped (NFKD already split them off), line breaks and
    other control characters become spaces, anything else a question mark."""
    if " " <= char <= "~":
        return char
    if unicodedata.combining(char):
        return ""
    if char.isspace() or unicodedata.category(char).startswith("C"):
        return " "
    return "?"
