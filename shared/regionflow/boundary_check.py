"""Is the account's permissions boundary the one this commit's roles need? (the Preview stage asks, before deploys).

The boundary belongs to the account: `regionflow bootstrap` writes it and only changes it with
`--update-boundary` (regionflow.boundary). A commit whose roles need an action the live boundary lacks would
deploy into plain AccessDenied errors that name no fix, so the Preview stage reads the live document
(`aws iam get-policy-version`) and this module compares it, as IAM reads it (regionflow.bootstrap_iam.normalized),
with the document regionflow.boundary computes for the boundary's account and name family.

    python -m regionflow.boundary_check --arn <boundary ARN> --actual <file holding the live document>

Exit 0 when they mean the same; 1 with one line naming the fix when they differ; 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_DIFFERS, EXIT_BAD_INPUT = 0, 1, 2


def differing_statements(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """The Sids of the expected statements the live document does not hold as IAM would read them."""
    from regionflow.bootstrap_iam import normalized

    live = normalized(actual)["Statement"]
    missing: list[str] = []
    for statement in expected.get("Statement", []):
        if normalized({"Version": "2012-10-17", "Statement": [statement]})["Statement"][0] not in live:
            missing.append(str(statement.get("Sid") or "?"))
    return missing


def check(arn: str, actual: dict[str, Any]) -> tuple[int, str]:
    from regionflow.boundary import boundary_document, parse_boundary_arn

    family = parse_boundary_arn(arn)
    if family is None:
        return EXIT_BAD_INPUT, f"regionflow: {arn} is not a regionflow permissions boundary ARN"
    account, prefix, environment = family
    expected = json.loads(boundary_document(account, prefix, environment))
    differing = differing_statements(actual, expected)
    extra = len(actual.get("Statement", [])) - (len(expected["Statement"]) - len(differing))
    if not differing and extra <= 0:
        return EXIT_OK, f"permissions boundary {arn}: as this commit needs it"
    what = f"statements {', '.join(differing)} differ" if differing else f"{extra} statement(s) too many"
    return EXIT_DIFFERS, (
        f"regionflow: the account's permissions boundary {arn} is not the one this commit's roles need ({what}). "
        f"Fix: with administrator credentials, run `regionflow bootstrap --region <backend region> --name-prefix "
        f"{prefix} --environment {environment} --update-boundary`, then retry the stage"
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
