"""The policy rules for regions in other accounts: no trust on an account root, no kms:* to another account."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policies"))
from policy_support import record, violations

from regionflow.accounts import trust_document

PIPELINE, TARGET = "123456789012", "210987654321"
ROLE = f"arn:aws:iam::{PIPELINE}:role/rflow-prod-usw2-deploy"


def role(trust: dict[str, Any] | str) -> Any:
    document = trust if isinstance(trust, str) else json.dumps(trust)
    return record("aws:iam/role:Role", "r", {"assumeRolePolicy": document, "name": "r"})


def key(statements: list[dict[str, Any]]) -> Any:
    admin = {
        "Sid": "AccountAdministersKeyThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{TARGET}:root"},
        "Action": ["kms:PutKeyPolicy", "kms:Decrypt"],
        "Resource": "*",
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [admin, *statements]})
    return record("aws:kms/key:Key", "k", {"policy": policy, "enableKeyRotation": True})


def test_a_trust_on_an_account_root_is_rejected_and_the_exact_roles_pass() -> None:
    root = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PIPELINE}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    found = violations("iam-trust-no-account-root", [role(root)])
    assert len(found) == 1 and "account root" in found[0].message
    bare = json.loads(json.dumps(root))
    bare["Statement"][0]["Principal"]["AWS"] = PIPELINE  # an account ID is the root too
    assert violations("iam-trust-no-account-root", [role(bare)])
    wildcard = json.loads(trust_document(PIPELINE, [ROLE]))
    wildcard["Statement"][0]["Condition"]["ArnEquals"]["aws:PrincipalArn"] = [f"arn:aws:iam::{PIPELINE}:role/*"]
    assert violations("iam-trust-no-account-root", [role(wildcard)])
    assert violations("iam-trust-no-account-root", [role(trust_document(PIPELINE, [ROLE]))]) == []


def test_a_key_policy_granting_another_account_kms_star_is_rejected() -> None:
    everything = {
        "Sid": "OtherAccountEverything",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{PIPELINE}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    found = violations("kms-cross-account-use-only", [key([everything])])
    assert len(found) == 1 and "kms:*" in found[0].message and PIPELINE in found[0].message
    admin = {**everything, "Action": ["kms:Decrypt", "kms:PutKeyPolicy"]}
    admin["Condition"] = {"ArnEquals": {"aws:PrincipalArn": [ROLE]}}
    assert "kms:PutKeyPolicy" in violations("kms-cross-account-use-only", [key([admin])])[0].message
    whole = {**everything, "Action": ["kms:Decrypt"]}
    assert "whole account" in violations("kms-cross-account-use-only", [key([whole])])[0].message
    use = {**whole, "Condition": {"ArnEquals": {"aws:PrincipalArn": [ROLE]}}}
    assert violations("kms-cross-account-use-only", [key([use])]) == []
    # The key's own account administering it is not "another account".
    assert violations("kms-cross-account-use-only", [key([])]) == []
