"""``regionflow bootstrap`` against moto: a fresh backend, a re-run, and misconfigured buckets.

The boundary, GitHub's OIDC provider and the pull-request preview role are in test_bootstrap_iam.py.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from offline_support import upload_decision

from regionflow.bootstrap import NONCURRENT_DAYS, BootstrapRequest
from regionflow.cli import main
from regionflow.commands.bootstrap import run_bootstrap

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
BUCKET = f"rflow-prod-euw1-pulumi-state-{ACCOUNT}"
STATE_ALIAS = "alias/rflow-prod-euw1-pulumi-state"
SECRETS_ALIAS = "alias/rflow-prod-euw1-pulumi-secrets"
REQUEST = BootstrapRequest(region=REGION, name_prefix="rflow", environment="prod")


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def bootstrap(request: BootstrapRequest = REQUEST) -> tuple[int, str]:
    out = io.StringIO()
    code = run_bootstrap(request, out)
    return code, out.getvalue()


def s3() -> Any:
    return boto3.client("s3", region_name=REGION)


def kms() -> Any:
    return boto3.client("kms", region_name=REGION)


def key_ids() -> list[str]:
    return sorted(k["KeyId"] for k in kms().list_keys()["Keys"])


def test_fresh_bootstrap_creates_a_locked_down_versioned_kms_encrypted_bucket(aws: None) -> None:
    code, output = bootstrap()
    assert code == 0, output
    client = s3()
    state_key = kms().describe_key(KeyId=STATE_ALIAS)["KeyMetadata"]
    assert client.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == REGION
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    (rule,) = client.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": state_key["Arn"]}
    assert rule["BucketKeyEnabled"] is True
    assert client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    ownership = client.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    rules = {r["ID"]: r for r in client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]}
    # moto 5.2.5 drops NewerNoncurrentVersions on read (botocore validated it on the way in).
    assert rules["expire-old-state-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == NONCURRENT_DAYS
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    tags = {t["Key"]: t["Value"] for t in client.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags["Environment"] == "prod" and tags["ManagedBy"] == "regionflow-bootstrap"


def test_bucket_policy_denies_plain_http_and_other_keys(aws: None) -> None:
    bootstrap()
    state_arn = kms().describe_key(KeyId=STATE_ALIAS)["KeyMetadata"]["Arn"]
    policy = json.loads(s3().get_bucket_policy(Bucket=BUCKET)["Policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    tls = by_sid["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(tls["Resource"]) == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}
    # The Pulumi CLI writes state without SSE headers (google/go-cloud blob/s3blob/s3blob.go): such writes must
    # pass (the bucket default applies the state key); a write asking for another encryption or key must not.
    # moto 5.2.5 evaluates bucket-policy denies without their conditions, so the policy is judged with AWS's
    # evaluation logic (regionflow.iamcheck.evaluate).
    state_object = f"arn:aws:s3:::{BUCKET}/.pulumi/stacks/regionflow-primary/prod.json"
    # Another key: the last character changed (moto's key IDs are random; one in 16 ends in "0" already).
    other_key = state_arn[:-1] + ("1" if state_arn.endswith("0") else "0")
    assert upload_decision(policy, state_object, {}) == "allowed"
    assert upload_decision(policy, state_object, {"s3:x-amz-server-side-encryption": "aws:kms"}) == "allowed"
    assert upload_decision(policy, state_object, {"s3:x-amz-server-side-encryption": "AES256"}) == "denied"
    wrong_key = {
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": other_key,
    }
    assert upload_decision(policy, state_object, wrong_key) == "denied"


def test_both_keys_are_customer_managed_rotating_and_aliased_with_an_explicit_policy(aws: None) -> None:
    bootstrap()
    client = kms()
    arns = set()
    for alias in (STATE_ALIAS, SECRETS_ALIAS):
        metadata = client.describe_key(KeyId=alias)["KeyMetadata"]
        assert metadata["KeyManager"] == "CUSTOMER" and metadata["KeyState"] == "Enabled"
        assert metadata["KeySpec"] == "SYMMETRIC_DEFAULT"
        assert client.get_key_rotation_status(KeyId=metadata["Arn"])["KeyRotationEnabled"] is True
        policy = json.loads(client.get_key_policy(KeyId=metadata["Arn"], PolicyName="default")["Policy"])
        (statement,) = policy["Statement"]
        assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
        assert "kms:*" not in statement["Action"] and "kms:Decrypt" in statement["Action"]
        arns.add(metadata["Arn"])
    assert len(arns) == 2, "state and secrets must be separate keys"


def test_prints_the_login_url_and_secrets_provider(aws: None) -> None:
    _, output = bootstrap()
    assert f"pulumi login 's3://{BUCKET}?region={REGION}&awssdk=v2'" in output
    assert f"--secrets-provider 'awskms://{SECRETS_ALIAS}?region={REGION}'" in output


def _login_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "pulumi " in line or line.startswith(("state key", "secrets key"))]


def test_a_rerun_creates_nothing_and_prints_the_same_backend(aws: None) -> None:
    first_code, first = bootstrap()
    keys = key_ids()
    policy = s3().get_bucket_policy(Bucket=BUCKET)["Policy"]
    second_code, second = bootstrap()
    assert (first_code, second_code) == (0, 0)
    assert key_ids() == keys
    assert s3().get_bucket_policy(Bucket=BUCKET)["Policy"] == policy
    assert "created:" in first and "created:" not in second
    # The two keys, the bucket and the permissions boundary.
    assert second.count("exists:") == 4
    # The key ARNs, login, stack init and the pipeline stack's four config values.
    assert _login_lines(first) == _login_lines(second) and len(_login_lines(second)) == 8


def _make_bucket() -> None:
    s3().create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})


def _snapshot() -> dict[str, Any]:
    client = s3()
    snapshot: dict[str, Any] = {"versioning": client.get_bucket_versioning(Bucket=BUCKET).get("Status")}
    for name, call in (
        ("encryption", client.get_bucket_encryption),
        ("public", client.get_public_access_block),
        ("policy", client.get_bucket_policy),
        ("lifecycle", client.get_bucket_lifecycle_configuration),
    ):
        try:
            response = call(Bucket=BUCKET)
            response.pop("ResponseMetadata", None)
            snapshot[name] = response
        except client.exceptions.ClientError as error:
            snapshot[name] = error.response["Error"]["Code"]
    return snapshot


def _problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("problem: ")]


def test_an_existing_bare_bucket_is_reported_line_by_line_and_left_unchanged(aws: None) -> None:
    _make_bucket()
    s3().put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    s3().put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    before = _snapshot()
    code, output = bootstrap()
    assert code == 1
    problems = "\n".join(_problems(output))
    assert "versioning is Suspended" in problems
    assert "public access block is off for IgnorePublicAcls, BlockPublicPolicy" in problems
    assert "TLS" in problems
    assert "noncurrent state versions" in problems and "multipart" in problems
    assert all(line.startswith(f"problem: state bucket {BUCKET}: ") for line in _problems(output))
    assert _snapshot() == before
    # Nothing is created next to a misconfigured bucket, not even the keys.
    assert key_ids() == []
    assert "pulumi login" not in output


def test_a_bucket_encrypted_with_sse_s3_is_reported_not_rewritten(aws: None) -> None:
    bootstrap()
    s3().put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    before = _snapshot()
    code, output = bootstrap()
    assert code == 1
    assert _problems(output) == [
        f"problem: state bucket {BUCKET}: default encryption is AES256; expected aws:kms with the state key"
    ]
    assert _snapshot() == before


def test_a_bucket_with_versioning_never_enabled_and_no_encryption_is_reported(aws: None) -> None:
    _make_bucket()
    s3().delete_bucket_encryption(Bucket=BUCKET)  # moto, like old buckets, may carry no default
    code, output = bootstrap()
    assert code == 1
    problems = "\n".join(_problems(output))
    assert "versioning is never enabled" in problems
    assert re.search(r"no default encryption|default encryption is AES256", problems)


def test_a_key_with_rotation_turned_off_is_reported(aws: None) -> None:
    bootstrap()
    kms().disable_key_rotation(KeyId=kms().describe_key(KeyId=SECRETS_ALIAS)["KeyMetadata"]["Arn"])
    code, output = bootstrap()
    assert code == 1
    (problem,) = _problems(output)
    assert problem.startswith(f"problem: secrets key {SECRETS_ALIAS} (arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert problem.endswith("automatic rotation is off; run `aws kms enable-key-rotation`")


def test_a_wrong_account_id_is_one_line_and_exit_2(aws: None) -> None:
    code, output = bootstrap(BootstrapRequest(REGION, "rflow", "prod", account_id="210987654321"))
    assert code == 2
    assert output.splitlines() == [
        "error: --account-id 210987654321 does not match the credentials' account 123456789012; "
        "use credentials of that account or drop --account-id"
    ]
    assert key_ids() == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--region", "eu-west-9", "--name-prefix", "rflow", "--environment", "prod"], "--region 'eu-west-9'"),
        (["--region", REGION, "--name-prefix", "Bad_Prefix", "--environment", "prod"], "--name-prefix 'Bad_Prefix'"),
        (["--region", REGION, "--name-prefix", "rflow", "--environment", "PROD"], "--environment 'PROD'"),
        (["--region", REGION, "--name-prefix", "rflow", "--environment", "prod", "--account-id", "12"], "--account-id"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv: list[str], needle: str) -> None:
    out = io.StringIO()
    assert main(["bootstrap", *argv], stdout=out) == 2
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


def test_a_missing_argument_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bootstrap", "--region", REGION])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--name-prefix, --environment" in err[0]


def test_aws_errors_become_one_line(aws: None) -> None:
    def broken(service: str, region: str) -> Any:
        raise RuntimeError("Unable to locate credentials\nsecond line")

    out = io.StringIO()
    assert run_bootstrap(REQUEST, out, clients=broken) == 1
    assert out.getvalue().splitlines() == [
        "error: AWS refused the bootstrap: RuntimeError: Unable to locate credentials second line"
    ]
