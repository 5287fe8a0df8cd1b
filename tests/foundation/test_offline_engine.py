"""The offline engine: realistic mocked outputs, invoke answers, StackReference wiring, manifests, errors."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from offline_support import REPO_ROOT

from regionflow import cli
from regionflow.offline.arns import MintContext, UnknownResourceTypeError, mint
from regionflow.offline.discovery import discover_stacks
from regionflow.offline.manifest import build_manifest
from regionflow.offline.runner import StackRunError, run_stacks

ACCOUNT = "123456789012"


def write_project(
    root: Path, folder: str, program: str, config: dict[str, str] | None = None, stack: str = "dev"
) -> None:
    project_dir = root / "stacks" / folder
    project_dir.mkdir(parents=True, exist_ok=True)
    (project_dir / "Pulumi.yaml").write_text(f"name: {folder}\nruntime: python\n")
    values = {"aws:region": "eu-west-1", **(config or {})}
    lines = "".join(f"  {key}: {json.dumps(value)}\n" for key, value in values.items())
    (project_dir / f"Pulumi.{stack}.yaml").write_text(f"config:\n{lines}")
    (project_dir / "__main__.py").write_text(textwrap.dedent(program))


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(args), stdout=out)
    return code, out.getvalue()


@pytest.mark.parametrize(
    ("resource_type", "inputs", "expected_id", "expected_arn"),
    [
        ("aws:s3/bucket:Bucket", {"bucket": "b-1"}, "b-1", "arn:aws:s3:::b-1"),
        ("aws:lambda/function:Function", {"name": "fn"}, "fn", "arn:aws:lambda:eu-west-1:123456789012:function:fn"),
        (
            "aws:sqs/queue:Queue",
            {"name": "q"},
            "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "arn:aws:sqs:eu-west-1:123456789012:q",
        ),
        (
            "aws:sns/topic:Topic",
            {"name": "t"},
            "arn:aws:sns:eu-west-1:123456789012:t",
            "arn:aws:sns:eu-west-1:123456789012:t",
        ),
        ("aws:iam/role:Role", {"name": "r"}, "r", "arn:aws:iam::123456789012:role/r"),
        ("aws:dynamodb/table:Table", {"name": "tb"}, "tb", "arn:aws:dynamodb:eu-west-1:123456789012:table/tb"),
        (
            "aws:cloudwatch/logGroup:LogGroup",
            {"name": "/aws/lambda/fn"},
            "/aws/lambda/fn",
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/fn",
        ),
    ],
)
def test_minted_ids_and_arns_have_the_format_aws_uses(
    resource_type: str, inputs: dict[str, Any], expected_id: str, expected_arn: str
) -> None:
    urn = f"urn:pulumi:dev::p::{resource_type}::x"
    physical_id, outputs = mint(MintContext(resource_type, "x", urn, inputs, "eu-west-1", ACCOUNT))
    assert physical_id == expected_id
    assert outputs["arn"] == expected_arn


def test_kms_keys_get_unique_uuid_ids_and_matching_arns() -> None:
    keys = [
        mint(
            MintContext(
                "aws:kms/key:Key", name, f"urn:pulumi:dev::p::aws:kms/key:Key::{name}", {}, "us-east-1", ACCOUNT
            )
        )
        for name in ("a", "b")
    ]
    assert keys[0][0] != keys[1][0]
    for key_id, outputs in keys:
        assert len(key_id) == 36 and key_id.count("-") == 4
        assert outputs["arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"


def test_auto_named_resources_get_pulumi_style_suffixes() -> None:
    _, outputs = mint(
        MintContext(
            "aws:sqs/queue:Queue", "jobs", "urn:pulumi:dev::p::aws:sqs/queue:Queue::jobs", {}, "us-east-1", ACCOUNT
        )
    )
    assert outputs["name"].startswith("jobs-") and len(outputs["name"]) == len("jobs-") + 7


def test_unknown_types_are_an_error_not_a_guess() -> None:
    with pytest.raises(UnknownResourceTypeError, match="add a minter"):
        mint(MintContext("aws:foo/bar:Bar", "x", "urn:x", {}, "us-east-1", ACCOUNT))


POLICY_PROGRAM = """
import pulumi
import pulumi_aws as aws

document = aws.iam.get_policy_document_output(statements=[{
    "sid": "Read",
    "actions": ["s3:GetObject"],
    "resources": ["arn:aws:s3:::b/*"],
    "conditions": [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["true"]}],
}])
identity = aws.get_caller_identity_output()
pulumi.export("policy", document.json)
pulumi.export("account", identity.account_id)
pulumi.export("secret", pulumi.Output.secret("s3cr3t"))
queue = aws.sqs.Queue("q", name="q", tags={"Token": pulumi.Output.secret("hidden-value")})
"""


def test_invokes_are_answered_like_aws_and_secrets_are_redacted(tmp_path: Path) -> None:
    write_project(tmp_path, "demo", POLICY_PROGRAM)
    [result] = run_stacks(discover_stacks(tmp_path / "stacks"))
    policy = json.loads(result.exports["policy"])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            }
        ],
    }
    assert result.exports["account"] == ACCOUNT
    manifest = build_manifest(
        project="demo", stack="dev", exports=result.exports, resources=result.resources, root=tmp_path
    )
    text = json.dumps(manifest)
    assert "s3cr3t" not in text and "hidden-value" not in text
    assert manifest["exports"]["secret"] == "[secret]"
    [queue] = [r for r in manifest["resources"] if r["type"] == "aws:sqs/queue:Queue"]
    # The runtime marks the whole map secret when one value is; the manifest keeps that.
    assert queue["inputs"]["tags"] == "[secret]"
    assert set(queue) == {"urn", "type", "name", "custom", "provider", "id", "inputs", "outputs"}


def test_an_invoke_the_engine_cannot_answer_is_a_clear_error(tmp_path: Path) -> None:
    write_project(tmp_path, "demo", "import pulumi_aws as aws\naws.ec2.get_vpc_output(default=True).id.apply(print)\n")
    code, output = run_cli("preview", "--root", str(tmp_path))
    assert code == 1
    assert "aws:ec2/getVpc:getVpc" in output
    assert "Traceback" not in output


def test_stack_references_read_earlier_exports_and_nothing_leaks_between_programs(tmp_path: Path) -> None:
    write_project(
        tmp_path, "primary", "import pulumi\npulumi.export('region', 'eu-west-1')\npulumi.export('only_here', 1)\n"
    )
    write_project(
        tmp_path,
        "secondary",
        """
        import pulumi
        ref = pulumi.StackReference("organization/primary/dev")
        pulumi.export("seen", ref.require_output("region"))
        """,
    )
    results = list(run_stacks(discover_stacks(tmp_path / "stacks")))
    assert [r.target.project for r in results] == ["primary", "secondary"]
    assert results[1].exports == {"seen": "eu-west-1"}


def test_a_missing_stack_reference_names_the_stack(tmp_path: Path) -> None:
    write_project(tmp_path, "pipeline", "import pulumi\npulumi.StackReference('organization/nope/dev')\n")
    with pytest.raises(StackRunError, match="organization/nope/dev"):
        list(run_stacks(discover_stacks(tmp_path / "stacks")))


def test_require_output_of_a_missing_output_fails_the_reader(tmp_path: Path) -> None:
    write_project(tmp_path, "primary", "import pulumi\npulumi.export('region', 'eu-west-1')\n")
    write_project(
        tmp_path,
        "secondary",
        "import pulumi\npulumi.export('x', pulumi.StackReference('organization/primary/dev').require_output('gone'))\n",
    )
    code, output = run_cli("preview", "--root", str(tmp_path))
    assert code == 1
    assert "gone" in output and output.count("error:") == 1


def test_a_config_error_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "stacks").mkdir()
    import shutil

    shutil.copytree(REPO_ROOT / "stacks" / "secondary", tmp_path / "stacks" / "secondary")
    sample = tmp_path / "stacks" / "secondary" / "Pulumi.prod-eu-west-1.yaml"
    sample.write_text(
        sample.read_text().replace("regionflow-secondary:region: eu-west-1", "regionflow-secondary:region: us-east-1")
    )
    (tmp_path / "stacks" / "secondary" / "__main__.py").write_text(
        (REPO_ROOT / "stacks" / "secondary" / "__main__.py")
        .read_text()
        .replace('parents[2] / "functions"', f'parents[0] / {str(REPO_ROOT / "functions")!r} / "functions"')
    )
    code, output = run_cli("preview", "--root", str(tmp_path), "--stack", "regionflow-secondary/prod-eu-west-1")
    assert code == 2
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    # One line that names the file to change and a command that works when pasted at the repository root.
    assert errors == [
        "error: stacks/secondary/Pulumi.prod-eu-west-1.yaml: regionflow-secondary:region: 'us-east-1' is the primary "
        "region; a secondary stack must deploy elsewhere. Fix: run `pulumi config set --cwd stacks/secondary --stack "
        "prod-eu-west-1 region <another region>`, or deploy this region with the primary stack"
    ]
    assert "Traceback" not in output


def test_a_program_bug_is_exit_code_1_with_one_line_and_traceback_on_request(tmp_path: Path) -> None:
    write_project(tmp_path, "demo", "undefined_name + 1\n")
    code, output = run_cli("preview", "--root", str(tmp_path))
    assert code == 1
    assert "error: demo/dev: NameError: name 'undefined_name' is not defined" in output
    assert "Traceback" not in output
    code, output = run_cli("preview", "--root", str(tmp_path), "--traceback")
    assert code == 1 and "Traceback" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["preview", "--engine", "terraform"], "invalid choice: 'terraform'"),
        (["preview", "--stack", "nope/dev"], "unknown stack nope/dev"),
        (["preview", "--account-id", "12"], "must be 12 digits"),
        (["deploi"], "invalid choice: 'deploi'"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_code_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code, output = run_cli(*args, "--root", str(REPO_ROOT)) if args[0] == "preview" else run_cli(*args)
    except SystemExit as exit_:
        code, output = int(exit_.code or 0), capsys.readouterr().err
    assert code == 2
    assert message in output
    assert len([line for line in output.splitlines() if line.strip()]) <= 2  # the error, and at most a usage line


def test_the_real_engine_without_the_cli_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    code, output = run_cli("preview", "--engine", "pulumi", "--root", str(REPO_ROOT))
    assert code == 1
    assert "error: the pulumi CLI is not on PATH" in output
