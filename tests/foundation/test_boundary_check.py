"""regionflow.boundary_check: the live boundary against the one a commit needs, as IAM reads documents."""

from __future__ import annotations

import json

from regionflow.boundary import boundary_arn, boundary_document
from regionflow.boundary_check import EXIT_BAD_INPUT, EXIT_DIFFERS, EXIT_OK, check

ARN = boundary_arn("123456789012", "rflow", "prod")


def expected() -> dict:  # type: ignore[type-arg]
    return json.loads(boundary_document("123456789012", "rflow", "prod"))  # type: ignore[no-any-return]


def test_the_same_document_in_another_form_matches() -> None:
    """Statement order, one value or a list of one, and Sids do not change what IAM reads."""
    document = expected()
    document["Statement"].reverse()
    for statement in document["Statement"]:
        statement.pop("Sid", None)
        if isinstance(statement.get("Resource"), str):
            statement["Resource"] = [statement["Resource"]]
    assert check(ARN, document)[0] == EXIT_OK


def test_a_missing_or_changed_statement_is_named_with_the_fix() -> None:
    document = expected()
    (families,) = [s for s in document["Statement"] if s["Sid"] == "PrefixedResources"]
    families["Action"] = families["Action"][:-1]  # the account's boundary lacks one verb family
    code, message = check(ARN, document)
    assert code == EXIT_DIFFERS and "PrefixedResources" in message
    assert "--name-prefix rflow --environment prod --update-boundary" in message


def test_a_boundary_that_allows_more_passes_and_a_foreign_arn_is_bad_input() -> None:
    """A newer boundary (one more statement, one more verb family) must not stop an older commit queued behind it."""
    document = expected()
    document["Statement"].append({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::x/*"})
    (families,) = [s for s in document["Statement"] if s.get("Sid") == "PrefixedResources"]
    families["Action"] = [*families["Action"], "lambda:Publish*"]
    assert check(ARN, document)[0] == EXIT_OK
    # A Deny the commit relies on, weakened, is missing: the boundary no longer caps what it capped.
    (tamper,) = [s for s in document["Statement"] if s.get("Sid") == "DenyBoundaryTampering"]
    tamper["Action"] = tamper["Action"][:-1]
    assert check(ARN, document)[0] == EXIT_DIFFERS
    assert check("arn:aws:iam::123456789012:policy/someone-elses", expected())[0] == EXIT_BAD_INPUT
