"""``regionflow bootstrap --target`` against moto, in the pipeline account and in a region owner's account.

moto keeps one IAM per account (``MOTO_ACCOUNT_ID`` picks the caller's account), so both accounts are bootstrapped
in one mock: the pipeline account with plain ``regionflow bootstrap``, the target account with ``--target``, then
re-runs (nothing changes) and a misconfigured role (reported, never changed).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from regionflow.accounts import account_root, build_role_arn, github_preview_role_arn, pipeline_role_arn
from regionflow.bootstrap import BootstrapRequest
from regionflow.bootstrap_iam import same_policy
from regionflow.boundary import boundary_document
from regionflow.cli import main
from regionflow.commands.bootstrap import run_bootstrap

PIPELINE = "123456789012"
TARGET = "210987654321"
TARGET_ARGS = [
    "bootstrap", "--target", "--trust-account", PIPELINE, "--home-region", "us-east-1",
    "--region", "us-west-2", "--name-prefix", "rflow", "--environment", "prod",
]  # fmt: skip


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    with mock_aws():
        yield monkeypatch


def as_account(monkeypatch: pytest.MonkeyPatch, account: str) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", account)


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return main(argv, stdout=out), out.getvalue()


def iam() -> Any:
    return boto3.client("iam", region_name="us-west-2")


def trust_of(role: str) -> dict[str, Any]:
    document: dict[str, Any] = iam().get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    return document


def test_both_accounts_bootstrap_and_the_target_roles_trust_exactly_the_pipeline_roles(aws: pytest.MonkeyPatch) -> None:
    as_account(aws, PIPELINE)
    out = io.StringIO()
    assert run_bootstrap(BootstrapRequest(region="us-east-1", name_prefix="rflow", environment="prod"), out) == 0
    as_account(aws, TARGET)
    code, output = run(TARGET_ARGS)
    assert code == 0, output
    assert f"created: permissions boundary arn:aws:iam::{TARGET}:policy/rflow-prod-deploy-boundary" in output
    # The boundary in the target account is the same pure document, for that account.
    policy = iam().get_policy(PolicyArn=f"arn:aws:iam::{TARGET}:policy/rflow-prod-deploy-boundary")["Policy"]
    version = iam().get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    assert same_policy(version["PolicyVersion"]["Document"], boundary_document(TARGET, "rflow", "prod"))

    expected = {
        "rflow-prod-usw2-pipeline-deploy": [build_role_arn(PIPELINE, "rflow", "prod", "us-west-2", "deploy")],
        "rflow-prod-pipeline-read": sorted(
            [
                build_role_arn(PIPELINE, "rflow", "prod", "us-east-1", "preview"),
                build_role_arn(PIPELINE, "rflow", "prod", "us-east-1", "drift"),
                github_preview_role_arn(PIPELINE, "rflow", "prod"),
            ]
        ),
        "rflow-prod-usw2-pipeline-invoke": [pipeline_role_arn(PIPELINE, "rflow", "prod", "us-east-1")],
    }
    for role, principals in expected.items():
        statement = trust_of(role)["Statement"][0]
        # The pipeline account, and of it only the named roles: never an unconditioned account root.
        assert statement["Principal"] == {"AWS": account_root(PIPELINE)}
        named = statement["Condition"]["ArnEquals"]["aws:PrincipalArn"]
        assert sorted([named] if isinstance(named, str) else named) == principals
        assert list(statement["Condition"]) == ["ArnEquals"]
        got = iam().get_role(RoleName=role)["Role"]
        assert got["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith(
            f"{TARGET}:policy/rflow-prod-deploy-boundary"
        )
        assert len(iam().list_role_policies(RoleName=role)["PolicyNames"]) == 1
    # It prints what goes into the pipeline config and the stack file.
    assert 'account: "210987654321"' in output and "pipelineAccount '123456789012'" in output
    # The deploy role's key statements are scoped by the region's alias family, not to every key of the account.
    deploy = iam().get_role_policy(RoleName="rflow-prod-usw2-pipeline-deploy", PolicyName="pulumi-up")["PolicyDocument"]
    if isinstance(deploy, str):
        deploy = json.loads(deploy)
    key_statements = [s for s in deploy["Statement"] if s["Resource"] == f"arn:aws:kms:us-west-2:{TARGET}:key/*"]
    assert key_statements and all(
        s["Condition"]["ForAnyValue:StringLike"]["kms:ResourceAliases"]
        in ("alias/rflow-prod-usw2-*", ["alias/rflow-prod-usw2-*"])
        for s in key_statements
    )

    # A re-run changes nothing.
    code, output = run(TARGET_ARGS)
    assert code == 0, output
    assert "created:" not in output
    assert output.count("exists:") == 4


def test_a_misconfigured_role_is_reported_and_never_changed(aws: pytest.MonkeyPatch) -> None:
    as_account(aws, TARGET)
    assert run(TARGET_ARGS)[0] == 0
    wide_open = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": account_root(PIPELINE)}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    iam().update_assume_role_policy(RoleName="rflow-prod-usw2-pipeline-deploy", PolicyDocument=wide_open)
    extra = iam().create_policy(
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    iam().attach_role_policy(RoleName="rflow-prod-pipeline-read", PolicyArn=extra)
    code, output = run(TARGET_ARGS)
    assert code == 1, output
    problems = [line for line in output.splitlines() if line.startswith("problem:")]
    assert any("rflow-prod-usw2-pipeline-deploy: its trust policy differs" in line for line in problems), output
    assert any("rflow-prod-pipeline-read: has managed policies attached" in line for line in problems), output
    assert "nothing was created or changed" in output
    # Reported, not repaired: the trust is still the one a person wrote.
    assert trust_of("rflow-prod-usw2-pipeline-deploy")["Statement"][0].get("Condition") is None


def test_a_role_with_a_foreign_inline_policy_or_without_the_boundary_is_reported(aws: pytest.MonkeyPatch) -> None:
    as_account(aws, TARGET)
    assert run(TARGET_ARGS)[0] == 0
    iam().put_role_policy(
        RoleName="rflow-prod-pipeline-read",
        PolicyName="added-by-hand",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
        ),
    )
    iam().delete_role_permissions_boundary(RoleName="rflow-prod-usw2-pipeline-deploy")
    code, output = run(TARGET_ARGS)
    assert code == 1, output
    problems = [line for line in output.splitlines() if line.startswith("problem:")]
    assert any(
        "rflow-prod-pipeline-read: has inline policies bootstrap does not grant (added-by-hand)" in line
        and "delete-role-policy --role-name rflow-prod-pipeline-read" in line
        for line in problems
    ), output
    assert any(
        "rflow-prod-usw2-pipeline-deploy: has no permissions boundary; attach regionflow's" in line
        and "put-role-permissions-boundary --role-name rflow-prod-usw2-pipeline-deploy" in line
        for line in problems
    ), output
    # Reported, not repaired.
    assert "added-by-hand" in iam().list_role_policies(RoleName="rflow-prod-pipeline-read")["PolicyNames"]


def test_a_missing_role_is_created_next_to_correct_ones(aws: pytest.MonkeyPatch) -> None:
    as_account(aws, TARGET)
    assert run(TARGET_ARGS)[0] == 0
    client = iam()
    client.delete_role_policy(RoleName="rflow-prod-usw2-pipeline-invoke", PolicyName="invoke-deployment-logger")
    client.delete_role(RoleName="rflow-prod-usw2-pipeline-invoke")
    code, output = run(TARGET_ARGS)
    assert code == 0, output
    assert [line for line in output.splitlines() if line.startswith("created:")] == [
        f"created: invoke role arn:aws:iam::{TARGET}:role/rflow-prod-usw2-pipeline-invoke"
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bootstrap", "--target", "--region", "us-west-2", "--name-prefix", "rflow", "--environment", "prod"],
         "--target needs --trust-account and --home-region"),
        ([*TARGET_ARGS[:3], "12345", *TARGET_ARGS[4:]], "--trust-account '12345' must be"),
    ],
)  # fmt: skip
def test_bad_arguments_are_one_line(aws: pytest.MonkeyPatch, argv: list[str], message: str) -> None:
    as_account(aws, TARGET)
    code, output = run(argv)
    assert code == 2
    assert output.startswith("error: ") and message in output and output.count("\n") == 1


def test_running_it_in_the_pipeline_account_is_refused(aws: pytest.MonkeyPatch) -> None:
    as_account(aws, PIPELINE)
    code, output = run(TARGET_ARGS)
    assert code == 2 and "credentials are of the pipeline account" in output
    assert iam().list_roles()["Roles"] == []
