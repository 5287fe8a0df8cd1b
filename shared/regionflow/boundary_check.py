"""Is the account's permissions boundary the one this commit's roles need? (the Preview stage asks, before deploys).

The boundary belongs to the account: `regionflow bootstrap` writes it and only changes it with
`--update-boundary` (regionflow.boundary). A commit whose roles need an action the live boundary lacks would
deploy into plain AccessDenied errors that name no fix, so the Preview stage reads the live document
(`aws iam get-policy-version`) and this module compares it, as IAM reads it (regionflow.bootstrap_iam.normalized),
with the document regionflow.boundary computes for the boundary's account and name family.

    python -m regionflow.boundary_check --arn <boundary ARN> --actual <file holding the live document>

Exit 0 when the live boundary allows (at least) what the commit needs; 1 with one line naming the fix when a
needed statement is missing or narrower; 2 for bad input. A boundary that allows more passes: an older commit
queued behind a newer boundary still deploys.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_DIFFERS, EXIT_BAD_INPUT = 0, 1, 2


def _covers(live: dict[str, Any], needed: dict[str, Any]) -> bool:
    """Whether one live statement (normalised) does at least what a needed one does, for this boundary's shapes.

    Same effect and conditions, the same kind of action element, at least the needed actions on at least the
    needed resources: a boundary that allows more than a commit needs (an older commit queued behind a newer
    boundary, a verb family another version still uses) does not stop the commit.
    """
    if live.get("Effect") != needed.get("Effect") or live.get("Condition") != needed.get("Condition"):
        return False
    for element in ("Action", "NotAction"):
        if (element in live) != (element in needed):
            return False
    actions = "Action" if "Action" in needed else "NotAction"
    if actions == "NotAction":  # every action but these: only the very same list says the same
        same_actions = set(live[actions]) == set(needed[actions])
    else:
        same_actions = set(live[actions]) >= set(needed[actions])
    return same_actions and set(live.get("Resource", [])) >= set(needed.get("Resource", []))


def missing_statements(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """The Sids of the expected statements that no live statement covers (see :func:`_covers`)."""
    from regionflow.bootstrap_iam import normalized

    live = normalized(actual)["Statement"]
    missing: list[str] = []
    for statement in expected.get("Statement", []):
        needed = normalized({"Version": "2012-10-17", "Statement": [statement]})["Statement"][0]
        if not any(_covers(candidate, needed) for candidate in live):
            missing.append(str(statement.get("Sid") or "?"))
    return missing


def check(arn: str, actual: dict[str, Any]) -> tuple[int, str]:
    from regionflow.boundary import boundary_document, parse_boundary_arn

    family = parse_boundary_arn(arn)
    if family is None:
        return EXIT_BAD_INPUT, f"regionflow: {arn} is not a regionflow permissions boundary ARN"
    account, prefix, environment = family
    expected = json.loads(boundary_document(account, prefix, environment))
    missing = missing_statements(actual, expected)
    if not missing:
        return EXIT_OK, f"permissions boundary {arn}: allows what this commit's roles need"
    return EXIT_DIFFERS, (
        f"regionflow: the account's permissions boundary {arn} lacks what this commit's roles need (statements "
        f"{', '.join(missing)}). Fix: with administrator credentials, run `regionflow bootstrap --region <backend "
        f"region> --name-prefix {prefix} --environment {environment} --update-boundary`, then retry the stage"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m regionflow.boundary_check", description=__doc__.split("\n")[0])
    parser.add_argument("--arn", required=True, help="the permissions boundary's ARN")
    parser.add_argument("--actual", required=True, type=Path, help="a file with the live policy document (JSON)")
    args = parser.parse_args(argv)
    try:
        actual = json.loads(args.actual.read_text())
    except (OSError, json.JSONDecodeError) as error:
        print(f"regionflow: cannot read the live boundary document {args.actual}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    code, message = check(args.arn, actual if isinstance(actual, dict) else {})
    print(message, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
