"""``regionflow bootstrap``'s IAM side against moto: the boundary, GitHub's OIDC provider, the preview role.

Each misconfiguration is made with boto3 the way a person (or an older regionflow) would have left it,
then bootstrap runs again: it must print one ``problem:`` line that names the fix, exit 1, and leave
every IAM, KMS and S3 object exactly as it was. AWS facts relied on are cited where the code makes them
(regionflow/bootstrap_iam.py, regionflow/bootstrap.py).
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from offline_support import REPO_ROOT

from regionflow import bootstrap_iam
from regionflow.bootstrap import BootstrapRequest
from regionflow.boundary import boundary_action_families, boundary_document
from regionflow.cli import main
from regionflow.commands.bootstrap import repository_projects, run_bootstrap
from regionflow.iam import UNSCOPABLE_ACTIONS
from regionflow.policies.iam_lint import (
    BOOTSTRAP_STACK,
    BOUNDARY_KIND,
    BOUNDARY_RESOURCE_TYPE,
    DocumentKind,
    Finding,
    lint_document,
    load_exceptions,
)
from regionflow.read_scopes import READ_SCOPES

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
REPOSITORY = "acme/regionflow"
BUCKET = f"rflow-prod-euw1-pulumi-state-{ACCOUNT}"
BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/rflow-prod-deploy-boundary"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ROLE = "rflow-prod-github-preview"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
PROJECTS = repository_projects(REPO_ROOT)
REQUEST = BootstrapRequest(REGION, "rflow", "prod", github_repository=REPOSITORY, projects=PROJECTS)
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "preview.yml"
EXCEPTIONS = REPO_ROOT / "shared" / "regionflow" / "policies" / "iam_lint_exceptions.yaml"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def bootstrap(request: BootstrapRequest = REQUEST) -> tuple[int, str]:
    out = io.StringIO()
    code = run_bootstrap(request, out)
    return code, out.getvalue()


def iam() -> Any:
    return boto3.client("iam", region_name=REGION)


def problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("problem: ")]


def snapshot() -> dict[str, Any]:
    """Everything bootstrap may create or change, read back with boto3."""
    client = iam()
    state: dict[str, Any] = {
        "keys": sorted(k["KeyId"] for k in boto3.client("kms", region_name=REGION).list_keys()["Keys"])
    }
    state["buckets"] = sorted(b["Name"] for b in boto3.client("s3", region_name=REGION).list_buckets()["Buckets"])
    state["policies"] = {}
    for policy in client.list_policies(Scope="Local")["Policies"]:
        versions = client.list_policy_versions(PolicyArn=policy["Arn"])["Versions"]
        state["policies"][policy["Arn"]] = {
            v["VersionId"]: (
                v["IsDefaultVersion"],
                client.get_policy_version(PolicyArn=policy["Arn"], VersionId=v["VersionId"])["PolicyVersion"][
                    "Document"
                ],
            )
            for v in versions
        }
    state["providers"] = {}
    for provider in client.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        got = client.get_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])
        state["providers"][provider["Arn"]] = sorted(got["ClientIDList"])
    state["roles"] = {}
    for role in client.list_roles()["Roles"]:
        name = role["RoleName"]
        got = client.get_role(RoleName=name)["Role"]
        state["roles"][name] = {
            "trust": got["AssumeRolePolicyDocument"],
            "boundary": got.get("PermissionsBoundary"),
            "session": got.get("MaxSessionDuration"),
            "inline": {
                p: client.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                for p in client.list_role_policies(RoleName=name)["PolicyNames"]
            },
            "attached": client.list_attached_role_policies(RoleName=name)["AttachedPolicies"],
        }
    return state


def preview_policy() -> dict[str, Any]:
    document: dict[str, Any] = iam().get_role_policy(RoleName=ROLE, PolicyName=bootstrap_iam.PREVIEW_POLICY_NAME)[
        "PolicyDocument"
    ]
    return document


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- a fresh account ------------------------------------------------------------------------------


def test_first_run_creates_the_boundary_with_the_derived_document(aws: None) -> None:
    code, output = bootstrap()
    assert code == 0, output
    policy = iam().get_policy(PolicyArn=BOUNDARY_ARN)["Policy"]
    version = iam().get_policy_version(PolicyArn=BOUNDARY_ARN, VersionId=policy["DefaultVersionId"])
    assert version["PolicyVersion"]["Document"] == json.loads(boundary_document(ACCOUNT, "rflow", "prod"))
    tags = {t["Key"]: t["Value"] for t in iam().list_policy_tags(PolicyArn=BOUNDARY_ARN)["Tags"]}
    assert tags["ManagedBy"] == "regionflow-bootstrap" and tags["Environment"] == "prod"
    assert f"created: permissions boundary {BOUNDARY_ARN}" in output.splitlines()


def test_first_run_creates_the_oidc_provider_with_the_sts_audience_and_no_thumbprint(aws: None) -> None:
    bootstrap()
    provider = iam().get_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER_ARN)
    assert provider["Url"] == "token.actions.githubusercontent.com"
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    # CreateOpenIDConnectProvider's ThumbprintList is optional (IAM API reference; botocore's model
    # requires only Url), and IAM verifies GitHub's JWKS endpoint against its trusted root CAs.
    assert provider["ThumbprintList"] == []


def test_the_preview_role_trusts_exactly_this_repositorys_pull_requests(aws: None) -> None:
    bootstrap()
    role = iam().get_role(RoleName=ROLE)["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER_ARN}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/regionflow:pull_request",
        }
    }
    assert role["MaxSessionDuration"] == 3600
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == BOUNDARY_ARN
    assert iam().list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    assert iam().list_role_policies(RoleName=ROLE)["PolicyNames"] == [bootstrap_iam.PREVIEW_POLICY_NAME]


def test_the_preview_policy_only_reads_and_decrypts(aws: None) -> None:
    bootstrap()
    document = preview_policy()
    actions = {a for s in document["Statement"] for a in as_list(s["Action"])}
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    writes = {a for a in actions if not re.match(r"^[a-z0-9-]+:(Get|List|Describe|BatchGet)", a)}
    assert writes == {"kms:Decrypt"}
    # The drift build's whole read table, scoped to this family's names.
    statements = by_sid(document)
    for scope in READ_SCOPES:
        assert set(as_list(statements[scope.sid]["Action"])) == set(scope.actions)
        for resource in as_list(statements[scope.sid]["Resource"]):
            assert resource == "*" or "rflow-prod-" in resource or resource.endswith("/*"), resource
            assert resource == "*" or ACCOUNT in resource
    # Resource "*" only where AWS offers nothing narrower.
    for statement in document["Statement"]:
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= set(UNSCOPABLE_ACTIONS), statement["Sid"]


def test_the_preview_policy_reads_state_without_writing_it(aws: None) -> None:
    bootstrap()
    statements = by_sid(preview_policy())
    state_key = boto3.client("kms", region_name=REGION).describe_key(KeyId="alias/rflow-prod-euw1-pulumi-state")
    secrets_key = boto3.client("kms", region_name=REGION).describe_key(KeyId="alias/rflow-prod-euw1-pulumi-secrets")
    assert set(PROJECTS) == {"regionflow-primary", "regionflow-secondary", "regionflow-pipeline"}
    assert set(as_list(statements["ReadStateOfStacks"]["Resource"])) == {
        f"arn:aws:s3:::{BUCKET}/.pulumi/meta.yaml",
        *(f"arn:aws:s3:::{BUCKET}/.pulumi/stacks/{project}/*" for project in PROJECTS),
    }
    assert set(as_list(statements["ReadStateOfStacks"]["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert statements["ListStateBucket"]["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert statements["UseStateKey"] == {
        "Sid": "UseStateKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": state_key["KeyMetadata"]["Arn"]
    }  # fmt: skip
    assert statements["DecryptStackSecrets"]["Resource"] == secrets_key["KeyMetadata"]["Arn"]
    # No lock, no checkpoint: a preview (also with --refresh) takes no lock in the self-managed backend.
    all_actions = {a for s in preview_policy()["Statement"] for a in as_list(s["Action"])}
    assert not {"s3:PutObject", "s3:DeleteObject", "kms:GenerateDataKey", "kms:Encrypt"} & all_actions


def test_the_stacks_keys_are_scoped_by_their_tags_and_aliases(aws: None) -> None:
    bootstrap()
    statements = by_sid(preview_policy())
    for sid in ("ReadStackKeys", "DecryptFunctionEnvironments"):
        statement = statements[sid]
        assert statement["Resource"] == f"arn:aws:kms:*:{ACCOUNT}:key/*"
        condition = statement["Condition"]
        assert condition["StringEquals"]["aws:ResourceTag/Environment"] == "prod"
        assert set(condition["StringEquals"]["aws:ResourceTag/Project"]) == set(PROJECTS)
        assert condition["ForAnyValue:StringLike"] == {"kms:ResourceAliases": "alias/rflow-prod-*"}
    assert statements["DecryptFunctionEnvironments"]["Condition"]["StringLike"] == {
        "kms:ViaService": "lambda.*.amazonaws.com"
    }


def test_the_tags_the_key_conditions_name_are_the_ones_the_stacks_put_on_every_key() -> None:
    from regionflow.tagging import REQUIRED_TAG_KEYS, default_tags

    tags = default_tags(
        project="regionflow-primary", environment="prod", owner="o", cost_center="c", stack="s", region="r"
    )
    assert {bootstrap_iam.ENVIRONMENT_TAG, bootstrap_iam.PROJECT_TAG} <= set(REQUIRED_TAG_KEYS)
    assert tags[bootstrap_iam.ENVIRONMENT_TAG] == "prod" and tags[bootstrap_iam.PROJECT_TAG] == "regionflow-primary"


def test_the_preview_policy_fits_iams_inline_quota_and_names_real_actions() -> None:
    backend = bootstrap_iam.Backend(
        BUCKET, f"arn:aws:kms:{REGION}:{ACCOUNT}:key/a", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/b"
    )
    document = bootstrap_iam.preview_policy_document(ACCOUNT, "a" * 32, "abcdefghij", backend, PROJECTS)
    assert len(document) < bootstrap_iam.INLINE_ROLE_POLICY_LIMIT
    findings = lint_document(json.loads(document), DocumentKind.IDENTITY)
    # Parliament 1.6.4 checks condition keys against each action's own list only; kms:ResourceAliases is a
    # condition key of the `key` resource type in its own Service Authorization Reference data, which
    # is where the KMS developer guide places it ("Use aliases to control access to KMS keys").
    import parliament

    definition = json.loads(
        (__import__("pathlib").Path(parliament.__file__).parent / "iam_definition.json").read_text()
    )
    kms = next(service for service in definition if service["prefix"] == "kms")
    key_conditions = next(r["condition_keys"] for r in kms["resources"] if r["resource"] == "key")
    for issue, _severity, detail in findings:
        assert issue == "UNKNOWN_CONDITION_FOR_ACTION", (issue, detail)
        key = re.search(r"Unknown condition (\S+) for action", detail)
        assert key is not None and key.group(1) in key_conditions, detail


def test_every_preview_action_is_within_the_boundary() -> None:
    """The boundary caps the role: an action it does not allow would fail the preview for real."""
    backend = bootstrap_iam.Backend(BUCKET, "arn:aws:kms:eu-west-1:1:key/a", "arn:aws:kms:eu-west-1:1:key/b")
    document = json.loads(bootstrap_iam.preview_policy_document(ACCOUNT, "rflow", "prod", backend, PROJECTS))
    families = boundary_action_families()
    boundary = json.loads(boundary_document(ACCOUNT, "rflow", "prod"))
    state_actions = next(s for s in boundary["Statement"] if s["Sid"] == "StateBackendObjects")["Action"]
    for statement in document["Statement"]:
        for action in as_list(statement["Action"]):
            allowed = action in UNSCOPABLE_ACTIONS or action in state_actions
            allowed = allowed or any(fnmatch.fnmatchcase(action, family) for family in families)
            assert allowed, action


def test_the_boundary_document_passes_parliament_but_for_the_documented_exceptions() -> None:
    exceptions = [e for e in load_exceptions(EXCEPTIONS) if e.kind in (None, BOUNDARY_KIND)]
    document = json.loads(boundary_document(ACCOUNT, "rflow", "prod"))
    findings = lint_document(document, DocumentKind.IDENTITY, BOUNDARY_ARN, boundary=True)
    unexpected = [
        (issue, detail)
        for issue, severity, detail in findings
        if not any(
            e.matches(
                Finding(
                    BOOTSTRAP_STACK,
                    BOUNDARY_ARN,
                    BOUNDARY_RESOURCE_TYPE,
                    "policy",
                    BOUNDARY_KIND,
                    issue,
                    severity,
                    detail,
                )
            )
            for e in exceptions
        )
    ]
    assert unexpected == []


# --- re-runs --------------------------------------------------------------------------------------


def test_a_rerun_changes_nothing_and_prints_the_same(aws: None) -> None:
    first_code, first = bootstrap()
    before = snapshot()
    second_code, second = bootstrap()
    assert (first_code, second_code) == (0, 0), second
    assert snapshot() == before
    assert "created:" in first and "created:" not in second and "updated:" not in second
    assert f"exists:  preview role {ROLE_ARN}" in second and f"exists:  GitHub OIDC provider {PROVIDER_ARN}" in second
    assert [line for line in first.splitlines() if line.startswith("  ")] == [
        line for line in second.splitlines() if line.startswith("  ")
    ]


def test_a_boundary_that_says_the_same_in_another_order_is_not_a_difference(aws: None) -> None:
    bootstrap()
    document = json.loads(boundary_document(ACCOUNT, "rflow", "prod"))
    # Statements reversed, no Sids, every single-valued list written as a string, actions in lower case.
    for statement in document["Statement"]:
        statement.pop("Sid")
        for key in ("Action", "NotAction", "Resource"):
            if key in statement:
                values = as_list(statement[key])
                statement[key] = [v.lower() if key != "Resource" else v for v in reversed(values)]
    document["Statement"].reverse()
    iam().create_policy_version(PolicyArn=BOUNDARY_ARN, PolicyDocument=json.dumps(document), SetAsDefault=True)
    code, output = bootstrap()
    assert code == 0, output
    assert problems(output) == []


# --- misconfigurations: reported, nothing changed -------------------------------------------------


def _tamper_boundary() -> None:
    document = json.loads(boundary_document(ACCOUNT, "rflow", "prod"))
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "DenyBoundaryTampering"]
    iam().create_policy_version(PolicyArn=BOUNDARY_ARN, PolicyDocument=json.dumps(document), SetAsDefault=True)


def _wildcard_trust() -> None:
    trust = json.loads(bootstrap_iam.preview_trust_document(ACCOUNT, REPOSITORY))
    condition = trust["Statement"][0]["Condition"]
    subject = condition["StringEquals"].pop("token.actions.githubusercontent.com:sub")
    condition["StringLike"] = {"token.actions.githubusercontent.com:sub": subject.replace(":pull_request", ":*")}
    iam().update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(trust))


def _drop_role_boundary() -> None:
    iam().delete_role_permissions_boundary(RoleName=ROLE)


def _provider_without_audience() -> None:
    # Another team's provider for another audience (moto 5.2.5 has no AddClientIDToOpenIDConnectProvider).
    iam().delete_open_id_connect_provider(OpenIDConnectProviderArn=PROVIDER_ARN)
    iam().create_open_id_connect_provider(Url="https://token.actions.githubusercontent.com", ClientIDList=["other"])


def _extra_inline_policy() -> None:
    iam().put_role_policy(
        RoleName=ROLE,
        PolicyName="extra",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}
        ),
    )


def _long_sessions() -> None:
    iam().update_role(RoleName=ROLE, MaxSessionDuration=43200)


MISCONFIGURATIONS = {
    "boundary document differs": (
        _tamper_boundary,
        rf"^problem: permissions boundary {BOUNDARY_ARN}: its default version v2 differs "
        r".*re-run with --update-boundary",
    ),
    "trust with a sub wildcard": (
        _wildcard_trust,
        rf"^problem: preview role {ROLE}: its trust policy is wrong \(StringLike .*:sub 'repo:acme/regionflow:\*' "
        r"admits more .*aws iam update-assume-role-policy --role-name " + ROLE,
    ),
    "role without the boundary": (
        _drop_role_boundary,
        rf"^problem: preview role {ROLE}: has no permissions boundary; .*put-role-permissions-boundary "
        rf"--role-name {ROLE} --permissions-boundary {BOUNDARY_ARN}`$",
    ),
    "provider without the audience": (
        _provider_without_audience,
        rf"^problem: GitHub OIDC provider {PROVIDER_ARN}: its audiences \['other'\] lack sts.amazonaws.com; "
        r"add it with `aws iam add-client-id-to-open-id-connect-provider .* --client-id sts.amazonaws.com`$",
    ),
    "an extra inline policy": (
        _extra_inline_policy,
        rf"^problem: preview role {ROLE}: has inline policies .*\(extra\)",
    ),
    "twelve-hour sessions": (_long_sessions, rf"^problem: preview role {ROLE}: its maximum session is 43200 s"),
}


@pytest.mark.parametrize("case", sorted(MISCONFIGURATIONS))
def test_each_misconfiguration_is_one_problem_line_and_nothing_changes(aws: None, case: str) -> None:
    assert bootstrap()[0] == 0
    tamper, expected = MISCONFIGURATIONS[case]
    tamper()
    before = snapshot()
    code, output = bootstrap()
    assert code == 1
    (line,) = problems(output)
    assert re.search(expected, line), line
    assert snapshot() == before
    assert "created:" not in output and "updated:" not in output and "gh variable set" not in output


def test_a_misconfigured_role_blocks_the_backend_too(aws: None) -> None:
    """Inspect-then-create: a wrong role found first means no key or bucket is made either."""
    client = iam()
    client.create_role(
        RoleName=ROLE,
        AssumeRolePolicyDocument=bootstrap_iam.preview_trust_document(ACCOUNT, "someone/else"),
        MaxSessionDuration=3600,
    )
    code, output = bootstrap()
    assert code == 1
    assert {line.split(":", 2)[1].strip() for line in problems(output)} == {f"preview role {ROLE}"}
    assert any(
        "'repo:someone/else:pull_request', not 'repo:acme/regionflow:pull_request'" in p for p in problems(output)
    )
    assert boto3.client("kms", region_name=REGION).list_keys()["Keys"] == []
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []
    with pytest.raises(client.exceptions.NoSuchEntityException):
        client.get_policy(PolicyArn=BOUNDARY_ARN)


# --- --update-boundary ----------------------------------------------------------------------------


def _update(request: BootstrapRequest = REQUEST) -> BootstrapRequest:
    return BootstrapRequest(
        request.region,
        request.name_prefix,
        request.environment,
        github_repository=request.github_repository,
        projects=request.projects,
        update_boundary=True,
    )


def test_update_boundary_makes_the_derived_document_the_new_default_version(aws: None) -> None:
    bootstrap()
    _tamper_boundary()
    code, output = bootstrap(_update())
    assert code == 0, output
    assert f"updated: permissions boundary {BOUNDARY_ARN}: new default version v3" in output.splitlines()
    policy = iam().get_policy(PolicyArn=BOUNDARY_ARN)["Policy"]
    assert policy["DefaultVersionId"] == "v3"
    document = iam().get_policy_version(PolicyArn=BOUNDARY_ARN, VersionId="v3")["PolicyVersion"]["Document"]
    assert document == json.loads(boundary_document(ACCOUNT, "rflow", "prod"))
    # Nothing else moved, and the next plain run is clean.
    assert bootstrap()[0] == 0


def test_update_boundary_at_five_versions_deletes_the_oldest_version_not_in_effect(aws: None) -> None:
    bootstrap()
    for _ in range(4):  # v2..v5, v5 the default
        _tamper_boundary()
    versions = {v["VersionId"] for v in iam().list_policy_versions(PolicyArn=BOUNDARY_ARN)["Versions"]}
    assert versions == {"v1", "v2", "v3", "v4", "v5"}
    code, output = bootstrap(_update())
    assert code == 0, output
    listed = {
        v["VersionId"]: v["IsDefaultVersion"] for v in iam().list_policy_versions(PolicyArn=BOUNDARY_ARN)["Versions"]
    }
    assert set(listed) == {"v2", "v3", "v4", "v5", "v6"} and listed["v6"] is True


def test_update_boundary_changes_nothing_while_anything_else_is_wrong(aws: None) -> None:
    bootstrap()
    _tamper_boundary()
    _drop_role_boundary()
    before = snapshot()
    code, output = bootstrap(_update())
    assert code == 1 and len(problems(output)) == 1
    assert snapshot() == before


# --- what it prints -------------------------------------------------------------------------------


def _workflow_variables() -> set[str]:
    text = WORKFLOW.read_text()
    yaml.safe_load(text)  # a real workflow file
    return set(re.findall(r"\$\{\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", text))


def test_every_repository_variable_the_workflow_reads_is_printed_with_its_value(aws: None) -> None:
    code, output = bootstrap()
    assert code == 0
    printed = dict(
        re.findall(rf"^  gh variable set (\S+) --repo {REPOSITORY} --body '([^']*)'$", output, flags=re.MULTILINE)
    )
    assert _workflow_variables() == set(printed), "the workflow reads exactly what bootstrap prints"
    assert printed == {
        "PULUMI_PREVIEW_ROLE_ARN": ROLE_ARN,
        "PULUMI_BACKEND_REGION": REGION,
        "PULUMI_STATE_BUCKET": BUCKET,
        "PULUMI_SECRETS_KEY_ALIAS": "alias/rflow-prod-euw1-pulumi-secrets",
    }


def test_it_prints_the_pipeline_config_and_the_boundary(aws: None) -> None:
    _, output = bootstrap()
    state = boto3.client("kms", region_name=REGION).describe_key(KeyId="alias/rflow-prod-euw1-pulumi-state")
    config = dict(
        re.findall(r"^  pulumi config set --cwd stacks/pipeline regionflow-pipeline:(\w+) '([^']*)'$", output, re.M)
    )
    assert config == {
        "stateBackendUrl": f"s3://{BUCKET}?region={REGION}&awssdk=v2",
        "stateKeyArn": state["KeyMetadata"]["Arn"],
        "secretsProvider": f"awskms://alias/rflow-prod-euw1-pulumi-secrets?region={REGION}",
        "secretsKeyArn": boto3.client("kms", region_name=REGION).describe_key(
            KeyId="alias/rflow-prod-euw1-pulumi-secrets"
        )["KeyMetadata"]["Arn"],
    }
    # Each is a key the pipeline stack's project declares.
    declared = yaml.safe_load((REPO_ROOT / "stacks" / "pipeline" / "Pulumi.yaml").read_text())["config"]
    assert set(config) <= set(declared)
    assert f"  {BOUNDARY_ARN}" in output.splitlines()


def test_without_a_repository_no_github_pieces_are_made_and_it_says_how_to_get_them(aws: None) -> None:
    code, output = bootstrap(BootstrapRequest(REGION, "rflow", "prod", projects=PROJECTS))
    assert code == 0
    assert iam().list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
    assert iam().list_roles()["Roles"] == []
    assert "gh variable set" not in output
    assert "--github-repository owner/name" in output


@pytest.mark.parametrize("repository", ["acme", "acme/", "/x", "acme/regionflow/extra", "ac me/x", "-acme/x"])
def test_a_bad_repository_is_one_line_and_exit_2(repository: str) -> None:
    out = io.StringIO()
    argv = ["bootstrap", "--region", REGION, "--name-prefix", "rflow", "--environment", "prod"]
    assert main([*argv, f"--github-repository={repository}"], stdout=out) == 2
    (line,) = out.getvalue().splitlines()
    assert line.startswith("error: --github-repository") and "owner/name" in line


def test_a_repository_without_stacks_is_one_line_and_exit_2(tmp_path: Any) -> None:
    out = io.StringIO()
    argv = ["bootstrap", "--region", REGION, "--name-prefix", "rflow", "--environment", "prod"]
    assert main([*argv, "--github-repository", REPOSITORY, "--root", str(tmp_path)], stdout=out) == 2
    (line,) = out.getvalue().splitlines()
    assert line.startswith("error: --github-repository needs the repository's Pulumi projects")


def test_the_role_name_fits_iam_for_the_longest_prefix_and_environment() -> None:
    name = bootstrap_iam.preview_role_name("a" * 32, "abcdefghij")
    assert len(name) == 58 <= 64


# --- regions in their owners' accounts (docs/accounts.md) ------------------------------------------------------

OTHERS = ("210987654321", "345678901234")


def read_roles(*accounts: str) -> list[str]:
    return sorted(f"arn:aws:iam::{account}:role/rflow-prod-pipeline-read" for account in accounts)


def test_the_preview_role_may_assume_exactly_the_other_accounts_read_roles(aws: None) -> None:
    """The read roles of the accounts the pipeline config names, by exact ARN; the caller's own account (a region
    there is single-account) and every other role stay out of reach."""
    request = BootstrapRequest(
        REGION, "rflow", "prod", github_repository=REPOSITORY, projects=PROJECTS, target_accounts=(*OTHERS, ACCOUNT)
    )
    code, output = bootstrap(request)
    assert code == 0, output
    statements = by_sid(preview_policy())
    assert statements["AssumeTargetReadRoles"] == {
        "Sid": "AssumeTargetReadRoles", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": read_roles(*OTHERS),
    }  # fmt: skip
    actions = {a for s in statements.values() for a in as_list(s["Action"])}
    assert {a for a in actions if not re.match(r"^[a-z0-9-]+:(Get|List|Describe|BatchGet)", a)} == {
        "kms:Decrypt",
        "sts:AssumeRole",
    }
    assert [line.strip() for line in output.splitlines() if ":role/rflow-prod-pipeline-read" in line] == read_roles(
        *OTHERS
    )
    # A re-run with the same accounts changes nothing.
    before = snapshot()
    assert bootstrap(request)[0] == 0
    assert snapshot() == before


def test_a_new_account_in_the_pipeline_config_is_reported_never_granted_silently(aws: None) -> None:
    """The inline policy is compared as a whole: a role made for fewer accounts is one problem line, unchanged."""
    first = BootstrapRequest(
        REGION, "rflow", "prod", github_repository=REPOSITORY, projects=PROJECTS, target_accounts=OTHERS[:1]
    )
    assert bootstrap(first)[0] == 0
    before = snapshot()
    more = BootstrapRequest(
        REGION, "rflow", "prod", github_repository=REPOSITORY, projects=PROJECTS, target_accounts=OTHERS
    )
    code, output = bootstrap(more)
    assert code == 1
    (line,) = problems(output)
    assert f"preview role {ROLE}: its inline policy {bootstrap_iam.PREVIEW_POLICY_NAME} differs" in line
    assert "delete-role-policy" in line
    assert snapshot() == before


def test_bootstrap_reads_the_other_accounts_from_the_pipeline_config_of_the_root(aws: None, tmp_path: Any) -> None:
    from regionflow.accounts import pipeline_target_accounts
    from regionflow.accounts_sample import compose

    root = compose(tmp_path / "repo")
    assert pipeline_target_accounts(root, "rflow", "prod") == ("210987654321",)
    # Another family or environment, and the repository's own single-account samples, name no other account.
    assert pipeline_target_accounts(root, "rflow", "dev") == ()
    assert pipeline_target_accounts(root, "other", "prod") == ()
    assert pipeline_target_accounts(REPO_ROOT, "rflow", "prod") == ()
    out = io.StringIO()
    argv = ["bootstrap", "--region", REGION, "--name-prefix", "rflow", "--environment", "prod"]
    assert main([*argv, "--github-repository", REPOSITORY, "--root", str(root)], stdout=out) == 0, out.getvalue()
    assert as_list(by_sid(preview_policy())["AssumeTargetReadRoles"]["Resource"]) == read_roles("210987654321")


def test_the_preview_policy_fits_the_quota_with_twenty_other_accounts() -> None:
    backend = bootstrap_iam.Backend(
        BUCKET, f"arn:aws:kms:{REGION}:{ACCOUNT}:key/a", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/b"
    )
    accounts = [f"{n:012d}" for n in range(100000000000, 100000000020)]
    document = bootstrap_iam.preview_policy_document(
        ACCOUNT, "a" * 32, "abcdefghij", backend, PROJECTS, [f"arn:aws:iam::{a}:role/{'a' * 32}-x" for a in accounts]
    )
    assert len(json.dumps(json.loads(document), separators=(",", ":"))) < bootstrap_iam.INLINE_ROLE_POLICY_LIMIT
