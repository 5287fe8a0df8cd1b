"""Each rule of AWS's policy evaluation logic, as regionflow.iamcheck.evaluate implements it.

Sources (also in the module's docstring): IAM user guide, "Policy evaluation logic"; "Permissions
boundaries for IAM entities"; "IAM JSON policy elements: Resource" (ARN wildcards per segment);
"Condition operators" (a missing key makes an operator false and a negated one true, except
...IfExists and Null); KMS developer guide, "Default key policy" (IAM policies only work for a key
whose key policy allows the account).
"""

from __future__ import annotations

from typing import Any

import pytest

from regionflow.iamcheck.evaluate import (
    Boundary,
    CompiledPolicy,
    Outcome,
    Request,
    RequestContext,
    ResourcePolicy,
    Tri,
    arn_matches,
    compile_document,
    decide,
    evaluate_condition_block,
)

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/rflow-prod-use1-deploy"
BUCKET = "arn:aws:s3:::rflow-prod-use1-artifacts-123456789012"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CONTEXT = RequestContext(
    values={"aws:SecureTransport": ("true",), "aws:RequestedRegion": ("us-east-1",)},
    known=frozenset({"iam:PassedToService", "kms:ViaService", "iam:PermissionsBoundary"}),
)


def policy(*statements: dict[str, Any], label: str = "test") -> CompiledPolicy:
    return CompiledPolicy(compile_document(label, {"Version": "2012-10-17", "Statement": list(statements)}))


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Sid": "Allow", "Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Sid": "Deny", "Effect": "Deny", "Action": action, "Resource": resource, **extra}


def request(action: str, resource: str = BUCKET, context: RequestContext = CONTEXT) -> Request:
    return Request(principal=ROLE, account=ACCOUNT, action=action, resource=resource, context=context)


def test_an_action_wildcard_matches_case_insensitively_but_not_another_verb() -> None:
    granted = policy(allow("s3:GetBucket*", BUCKET))
    assert decide(request("s3:GetBucketAcl"), granted).outcome is Outcome.ALLOWED
    assert decide(request("S3:getbucketacl"), granted).outcome is Outcome.ALLOWED
    # The bucket read's easy-to-miss calls: s3:GetBucket* does not cover them.
    assert decide(request("s3:GetAccelerateConfiguration"), granted).outcome is Outcome.DENIED
    assert decide(request("s3:GetReplicationConfiguration"), granted).outcome is Outcome.DENIED


def test_without_any_allow_the_request_is_implicitly_denied() -> None:
    decision = decide(request("s3:GetBucketAcl"), policy(allow("s3:GetObject", BUCKET + "/*")))
    assert decision.outcome is Outcome.DENIED
    assert decision.reason == "no Allow in the role's policies"


def test_an_explicit_deny_wins_over_any_allow() -> None:
    granted = policy(allow("s3:*", "*"), deny("s3:PutBucketPolicy", BUCKET))
    decision = decide(request("s3:PutBucketPolicy"), granted)
    assert decision.outcome is Outcome.DENIED
    assert "explicit Deny in test [Deny]" in decision.reason
    assert decide(request("s3:GetBucketPolicy"), granted).outcome is Outcome.ALLOWED


def test_not_action_applies_the_statement_to_every_other_action() -> None:
    guard = policy(allow("*", "*"), {"Sid": "OnlyS3", "Effect": "Deny", "NotAction": "s3:*", "Resource": "*"})
    assert decide(request("s3:GetBucketAcl"), guard).outcome is Outcome.ALLOWED
    assert decide(request("kms:Decrypt", KEY), guard).outcome is Outcome.DENIED


def test_not_resource_applies_the_statement_to_every_other_resource() -> None:
    granted = policy({"Sid": "Everything", "Effect": "Allow", "Action": "s3:ListBucket", "NotResource": BUCKET})
    assert decide(request("s3:ListBucket", BUCKET), granted).outcome is Outcome.DENIED
    assert decide(request("s3:ListBucket", "arn:aws:s3:::other"), granted).outcome is Outcome.ALLOWED


@pytest.mark.parametrize(
    ("pattern", "arn", "matches"),
    [
        ("arn:aws:s3:::rflow-prod-*", "arn:aws:s3:::rflow-prod-use1-pulumi-state-123456789012", True),
        ("arn:aws:s3:::rflow-prod-*", "arn:aws:s3:::rflow-prod-x/.pulumi/stacks/a.json", True),
        ("arn:aws:s3:::rflow-prod-x/.pulumi/locks/*", "arn:aws:s3:::rflow-prod-x/.pulumi/stacks/a.json", False),
        # Within the leading segments a * stays inside its segment ...
        ("arn:aws:sqs:us-*-1:123456789012:q", "arn:aws:sqs:us-east-1:123456789012:q", True),
        ("arn:aws:sqs:u*:123456789012:q", "arn:aws:sqs:us-east-1:999999999999:q", False),
        # ... unless it ends the segment list, where it expands beyond the colons.
        ("arn:aws:sqs:us-east-1:*", "arn:aws:sqs:us-east-1:123456789012:q", True),
        (
            "arn:aws:logs:*:123456789012:log-group:/aws/*/rflow-*",
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/rflow-x:log-stream:s",
            True,
        ),
        ("arn:aws:iam::123456789012:role/rflow-?rod-*", "arn:aws:iam::123456789012:role/rflow-prod-x", True),
        ("arn:aws:iam::123456789012:role/RFLOW-*", "arn:aws:iam::123456789012:role/rflow-prod-x", False),
        # An action without a resource type is requested on "*": only Resource "*" matches it.
        ("arn:aws:kms:*:123456789012:key/*", "*", False),
        ("*", "*", True),
        # "Every key of the account and Region" (tags on CreateKey) is covered by key/* or *, not one key.
        ("arn:aws:kms:us-east-1:123456789012:key/*", "arn:aws:kms:us-east-1:123456789012:key/*", True),
        (KEY, "arn:aws:kms:us-east-1:123456789012:key/*", False),
    ],
)
def test_resource_arns_match_segment_by_segment(pattern: str, arn: str, matches: bool) -> None:
    assert arn_matches(pattern, arn) is (Tri.TRUE if matches else Tri.FALSE)


def test_a_permissions_boundary_that_does_not_allow_blocks_what_the_role_grants() -> None:
    granted = policy(allow("iam:GetPolicy", f"arn:aws:iam::{ACCOUNT}:policy/*"))
    cap = Boundary("arn:aws:iam::123456789012:policy/cap", policy(allow("iam:*", f"arn:aws:iam::{ACCOUNT}:role/*")))
    target = f"arn:aws:iam::{ACCOUNT}:policy/rflow-prod-use1-deploy-boundary"
    decision = decide(request("iam:GetPolicy", target), granted, boundary=cap)
    assert decision.outcome is Outcome.DENIED
    assert decision.reason == "the permissions boundary arn:aws:iam::123456789012:policy/cap does not allow it"
    # And a boundary alone grants nothing.
    assert decide(request("iam:GetRole", ROLE), policy(), boundary=cap).outcome is Outcome.DENIED


def test_a_deny_in_the_boundary_wins_too() -> None:
    cap = Boundary("arn:b", policy(allow("s3:*"), deny("s3:DeleteBucket", BUCKET)))
    assert decide(request("s3:DeleteBucket"), policy(allow("s3:*")), boundary=cap).outcome is Outcome.DENIED


def test_an_unknown_boundary_makes_the_decision_unevaluated_never_allowed() -> None:
    decision = decide(request("s3:GetBucketAcl"), policy(allow("s3:*")), boundary=Boundary("arn:b", None))
    assert decision.outcome is Outcome.UNEVALUATED
    assert "boundary unknown" in decision.reason


KEY_POLICY_WITH_ACCOUNT = {
    "Sid": "Account",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
KEY_POLICY_ONLY_A_SERVICE = {
    "Sid": "Logs",
    "Effect": "Allow",
    "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
    "Action": "kms:Decrypt",
    "Resource": "*",
}


def test_a_key_policy_without_an_account_statement_makes_iam_grants_ineffective() -> None:
    granted = policy(allow("kms:Decrypt", KEY))
    decision = decide(
        request("kms:Decrypt", KEY),
        granted,
        resource_policy=ResourcePolicy("key", policy(KEY_POLICY_ONLY_A_SERVICE), True),
    )
    assert decision.outcome is Outcome.DENIED
    assert "allows neither the role nor the account" in decision.reason


def test_a_key_policy_with_the_account_statement_defers_to_iam() -> None:
    key = ResourcePolicy("key", policy(KEY_POLICY_WITH_ACCOUNT), True)
    assert decide(request("kms:Decrypt", KEY), policy(allow("kms:Decrypt", KEY)), resource_policy=key).outcome is (
        Outcome.ALLOWED
    )
    assert decide(request("kms:Decrypt", KEY), policy(), resource_policy=key).outcome is Outcome.DENIED


def test_a_key_policy_naming_the_role_grants_without_an_iam_policy() -> None:
    direct = dict(KEY_POLICY_WITH_ACCOUNT, Principal={"AWS": ROLE}, Action="kms:Decrypt")
    key = ResourcePolicy("key", policy(direct), True)
    assert decide(request("kms:Decrypt", KEY), policy(), resource_policy=key).outcome is Outcome.ALLOWED


def test_an_unknown_key_policy_is_reported_not_assumed() -> None:
    decision = decide(
        request("kms:Decrypt", KEY),
        policy(allow("kms:Decrypt", KEY)),
        resource_policy=ResourcePolicy("key", None, True),
    )
    assert decision.outcome is Outcome.UNEVALUATED
    assert "key policy" in decision.reason


def test_a_deny_in_a_bucket_policy_applies_to_the_role() -> None:
    bucket_policy = ResourcePolicy(
        "bucket",
        policy(
            {
                "Sid": "DenyUploadsWithOtherEncryption",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": BUCKET + "/*",
                "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            }
        ),
    )
    granted = policy(allow("s3:PutObject", BUCKET + "/*"))
    no_header = RequestContext(values={}, known=frozenset({"s3:x-amz-server-side-encryption"}))
    with_header = RequestContext(values={"s3:x-amz-server-side-encryption": ("aws:kms",)})
    # ...IfExists is true when the key is absent: an upload without the header is denied.
    assert decide(
        request("s3:PutObject", BUCKET + "/o", no_header), granted, resource_policy=bucket_policy
    ).outcome is (Outcome.DENIED)
    assert (
        decide(request("s3:PutObject", BUCKET + "/o", with_header), granted, resource_policy=bucket_policy).outcome
        is Outcome.ALLOWED
    )


def test_a_resource_policy_allow_for_the_account_is_not_a_grant_to_the_role() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:t"
    account_allow = ResourcePolicy("topic", policy(dict(KEY_POLICY_WITH_ACCOUNT, Action="sns:Publish", Resource=topic)))
    assert decide(request("sns:Publish", topic), policy(), resource_policy=account_allow).outcome is Outcome.DENIED
    role_allow = ResourcePolicy(
        "topic", policy(dict(KEY_POLICY_WITH_ACCOUNT, Principal={"AWS": ROLE}, Action="sns:Publish", Resource=topic))
    )
    assert decide(request("sns:Publish", topic), policy(), resource_policy=role_allow).outcome is Outcome.ALLOWED


def test_a_condition_on_a_key_outside_the_request_context_is_unevaluated_never_passed() -> None:
    granted = policy(allow("s3:GetBucketAcl", BUCKET, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    decision = decide(request("s3:GetBucketAcl"), granted)
    assert decision.outcome is Outcome.UNEVALUATED
    assert "aws:SourceIp" in decision.reason
    # The same uncertainty in a Deny makes an otherwise allowed request unevaluated too.
    guarded = policy(allow("s3:*"), deny("s3:*", BUCKET, Condition={"StringEquals": {"aws:SourceVpce": "vpce-1"}}))
    unknown_vpce = RequestContext(values={"aws:SecureTransport": ("true",)})
    assert decide(request("s3:GetBucketAcl", context=unknown_vpce), guarded).outcome is Outcome.UNEVALUATED


def test_an_unknown_attached_policy_turns_a_denial_into_unevaluated() -> None:
    decision = decide(request("s3:GetBucketAcl"), policy(), unknown_identity=["arn:aws:iam::aws:policy/ReadOnlyAccess"])
    assert decision.outcome is Outcome.UNEVALUATED
    assert "ReadOnlyAccess" in decision.reason


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}}, Tri.TRUE),
        ({"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}, Tri.TRUE),  # values: OR
        ({"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}, Tri.FALSE),  # negated: NOR
        ({"StringLike": {"aws:RequestedRegion": "us-*"}}, Tri.TRUE),
        ({"Bool": {"aws:SecureTransport": "false"}}, Tri.FALSE),
        ({"Bool": {"aws:SecureTransport": True}}, Tri.TRUE),
        # A key known to be absent: the operator is false, its negation true, IfExists true.
        ({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}, Tri.FALSE),
        ({"StringNotEquals": {"iam:PermissionsBoundary": "arn:b"}}, Tri.TRUE),
        ({"StringEqualsIfExists": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}, Tri.TRUE),
        ({"Null": {"kms:ViaService": "true"}}, Tri.TRUE),
        ({"Null": {"aws:RequestedRegion": "true"}}, Tri.FALSE),
        # Keys and operators are ANDed.
        ({"StringEquals": {"aws:RequestedRegion": "us-east-1"}, "Bool": {"aws:SecureTransport": "false"}}, Tri.FALSE),
        # An unknown key stays unknown, whatever the operator.
        ({"StringEquals": {"aws:SourceIp": "x"}}, Tri.UNKNOWN),
        ({"StringNotEqualsIfExists": {"aws:SourceIp": "x"}}, Tri.UNKNOWN),
        # Policy variables are not resolved offline.
        ({"StringEquals": {"aws:RequestedRegion": "${aws:username}"}}, Tri.UNKNOWN),
        # Dates are not compared.
        ({"DateGreaterThan": {"aws:RequestedRegion": "2020-01-01T00:00:00Z"}}, Tri.UNKNOWN),
    ],
)
def test_condition_operators_follow_the_documented_missing_key_rules(block: dict[str, Any], expected: Tri) -> None:
    assert evaluate_condition_block(block, CONTEXT).value is expected


def test_set_operators_on_a_multi_valued_key() -> None:
    context = RequestContext(values={"aws:TagKeys": ("Owner", "Project")})
    assert (
        evaluate_condition_block(
            {"ForAllValues:StringEquals": {"aws:TagKeys": ["Owner", "Project", "X"]}}, context
        ).value
        is Tri.TRUE
    )
    assert evaluate_condition_block({"ForAllValues:StringEquals": {"aws:TagKeys": ["Owner"]}}, context).value is (
        Tri.FALSE
    )
    assert evaluate_condition_block({"ForAnyValue:StringEquals": {"aws:TagKeys": ["Owner"]}}, context).value is (
        Tri.TRUE
    )
    absent = RequestContext(values={}, known=frozenset({"aws:TagKeys"}))
    assert evaluate_condition_block({"ForAllValues:StringEquals": {"aws:TagKeys": ["x"]}}, absent).value is Tri.TRUE
    assert evaluate_condition_block({"ForAnyValue:StringEquals": {"aws:TagKeys": ["x"]}}, absent).value is Tri.FALSE


def test_decisions_record_which_grants_served_them_for_the_slack_report() -> None:
    granted = policy(allow(["s3:GetBucketAcl", "s3:PutBucketAcl"], [BUCKET, "arn:aws:s3:::other"]))
    decision = decide(request("s3:GetBucketAcl"), granted)
    assert [(g.action, g.resource) for g in decision.grants] == [("s3:GetBucketAcl", BUCKET)]


# --- across accounts, and role trusts (IAM user guide, "Cross-account policy evaluation logic" and "Policy
# evaluation logic": role trust policies and KMS key policies must allow by themselves) ---------------------

OTHER = "210987654321"
OTHER_BUCKET = f"arn:aws:s3:::rflow-prod-usw2-artifacts-{OTHER}"
OTHER_KEY = f"arn:aws:kms:us-west-2:{OTHER}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TARGET_ROLE = f"arn:aws:iam::{OTHER}:role/rflow-prod-usw2-pipeline-deploy"
PRINCIPAL_CONTEXT = RequestContext(
    values={"aws:PrincipalArn": (ROLE,), "aws:PrincipalAccount": (ACCOUNT,), "aws:SecureTransport": ("true",)}
)


def across(action: str, resource: str, account: str = OTHER) -> Request:
    return Request(ROLE, ACCOUNT, action, resource, PRINCIPAL_CONTEXT, resource_account=account)


def grants_to(principal: Any, action: str, resource: str, **extra: Any) -> dict[str, Any]:
    return {"Sid": "Grant", "Effect": "Allow", "Principal": {"AWS": principal}, "Action": action,
            "Resource": resource, **extra}  # fmt: skip


def test_across_accounts_the_identity_policy_alone_is_not_enough() -> None:
    own = policy(allow("s3:GetObject", OTHER_BUCKET + "/*"))
    no_grant = ResourcePolicy("bucket policy of b", policy(grants_to("arn:aws:iam::999999999999:root", "s3:*", "*")))
    decision = decide(across("s3:GetObject", OTHER_BUCKET + "/o"), own, resource_policy=no_grant)
    assert decision.outcome is Outcome.DENIED
    assert f"cross-account: account {OTHER}'s policy must allow a principal of {ACCOUNT}" in decision.reason
    # The same grants within one account: the identity policy suffices.
    assert decide(across("s3:GetObject", OTHER_BUCKET + "/o", ACCOUNT), own, resource_policy=no_grant).outcome is (
        Outcome.ALLOWED
    )


def test_across_accounts_the_resource_policy_alone_is_not_enough_either() -> None:
    names_role = ResourcePolicy("bucket policy of b", policy(grants_to(ROLE, "s3:GetObject", OTHER_BUCKET + "/*")))
    decision = decide(across("s3:GetObject", OTHER_BUCKET + "/o"), policy(), resource_policy=names_role)
    assert decision.outcome is Outcome.DENIED
    assert decision.reason == "no Allow in the role's policies"
    # Within one account a resource policy naming the role grants by itself.
    same = decide(across("s3:GetObject", OTHER_BUCKET + "/o", ACCOUNT), policy(), resource_policy=names_role)
    assert same.outcome is Outcome.ALLOWED


def test_across_accounts_both_allow_through_the_account_root_and_the_principal_arn() -> None:
    own = policy(allow("s3:GetObject", OTHER_BUCKET + "/*"))
    by_account = grants_to(
        f"arn:aws:iam::{ACCOUNT}:root", "s3:GetObject", OTHER_BUCKET + "/*",
        Condition={"ArnEquals": {"aws:PrincipalArn": [ROLE]}},
    )  # fmt: skip
    bucket = ResourcePolicy("bucket policy of b", policy(by_account))
    assert decide(across("s3:GetObject", OTHER_BUCKET + "/o"), own, resource_policy=bucket).outcome is Outcome.ALLOWED
    stranger = Request(
        f"arn:aws:iam::{ACCOUNT}:role/other",
        ACCOUNT,
        "s3:GetObject",
        OTHER_BUCKET + "/o",
        RequestContext(values={"aws:PrincipalArn": (f"arn:aws:iam::{ACCOUNT}:role/other",)}),
        resource_account=OTHER,
    )
    assert decide(stranger, own, resource_policy=bucket).outcome is Outcome.DENIED


def test_across_accounts_a_resource_without_a_resource_policy_admits_no_one() -> None:
    table = f"arn:aws:dynamodb:us-west-2:{OTHER}:table/t"
    decision = decide(across("dynamodb:GetItem", table), policy(allow("dynamodb:GetItem", table)))
    assert decision.outcome is Outcome.DENIED
    assert f"is in account {OTHER} and no resource-based policy there admits account {ACCOUNT}" in decision.reason


def test_across_accounts_a_key_policy_naming_the_role_still_needs_the_callers_iam_policy() -> None:
    key = ResourcePolicy("key k", policy(grants_to(ROLE, "kms:Decrypt", "*")), kms_key=True)
    assert decide(across("kms:Decrypt", OTHER_KEY), policy(), resource_policy=key).outcome is Outcome.DENIED
    allowed = decide(across("kms:Decrypt", OTHER_KEY), policy(allow("kms:Decrypt", OTHER_KEY)), resource_policy=key)
    assert allowed.outcome is Outcome.ALLOWED


def test_across_accounts_the_callers_boundary_still_applies() -> None:
    own = policy(allow("sts:AssumeRole", TARGET_ROLE))
    root_may = policy(grants_to(f"arn:aws:iam::{ACCOUNT}:root", "sts:AssumeRole", "*"))
    trust = ResourcePolicy("trust policy of t", root_may, trust=True)
    fenced = Boundary("b", policy(allow("s3:*", "*")))
    decision = decide(across("sts:AssumeRole", TARGET_ROLE), own, boundary=fenced, resource_policy=trust)
    assert decision.outcome is Outcome.DENIED
    assert "permissions boundary" in decision.reason


def test_a_trust_policy_must_allow_even_within_one_account() -> None:
    same_role = f"arn:aws:iam::{ACCOUNT}:role/target"

    def assume(trust: ResourcePolicy, own: CompiledPolicy) -> Outcome:
        return decide(across("sts:AssumeRole", same_role, ACCOUNT), own, resource_policy=trust).outcome

    grant = policy(allow("sts:AssumeRole", same_role))
    empty = ResourcePolicy("trust policy of target", policy(grants_to("arn:aws:iam::999999999999:root", "sts:*", "*")),
                           trust=True)  # fmt: skip
    by_account = ResourcePolicy(
        "trust policy of target", policy(grants_to(f"arn:aws:iam::{ACCOUNT}:root", "sts:AssumeRole", "*")), trust=True
    )
    by_role = ResourcePolicy("trust policy of target", policy(grants_to(ROLE, "sts:AssumeRole", "*")), trust=True)
    assert assume(empty, grant) is Outcome.DENIED  # an identity grant cannot override the trust
    assert assume(by_account, grant) is Outcome.ALLOWED
    assert assume(by_account, policy()) is Outcome.DENIED  # the account delegates to its IAM policies
    assert assume(by_role, policy()) is Outcome.ALLOWED
    not_known = ResourcePolicy("trust policy of t", None, trust=True)
    unknown = decide(across("sts:AssumeRole", same_role, ACCOUNT), grant, resource_policy=not_known)
    assert unknown.outcome is Outcome.UNEVALUATED
