"""The offline preview runs the rules: a compliance summary per stack, warnings, and exit 1 on a mandatory violation."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

import pytest
from offline_support import REPO_ROOT

from regionflow.commands.preview import run_preview
from regionflow.offline.mocks import RecordedResource
from regionflow.policies.offline import evaluate
from regionflow.policies.rules import POLICIES
from regionflow.tagging import REQUIRED_TAG_KEYS

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f4e9a3c-1b2d-4c5e-8f70-9a1b2c3d4e5f"
PROGRAM_HEAD = f"""
import pulumi
import pulumi_aws as aws

provider = aws.Provider(
    "aws-us-east-1",
    region="us-east-1",
    default_tags=aws.ProviderDefaultTagsArgs(tags={dict.fromkeys(REQUIRED_TAG_KEYS, "x")!r}),
)
opts = pulumi.ResourceOptions(provider=provider)
"""
UNENCRYPTED_QUEUE = 'aws.sqs.Queue("queue", name="rflow-test-queue", opts=opts)\n'
ENCRYPTED_QUEUE = f'dlq = aws.sqs.Queue("queue", name="rflow-test-queue", kms_master_key_id="{KEY_ARN}", opts=opts)\n'
# Compliant except for the advisory rules: no tracing, AWS's default timeout and memory.
UNTRACED_FUNCTION = """
aws.lambda_.Function(
    "fn",
    name="rflow-test-fn",
    runtime="python3.13",
    handler="index.handler",
    role="arn:aws:iam::123456789012:role/rflow-test-fn",
    code=pulumi.AssetArchive({"index.py": pulumi.StringAsset("def handler(event, context):\\n    return None\\n")}),
    dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=dlq.arn),
    opts=opts,
)
"""


def _project(root: Path, name: str, program: str) -> None:
    folder = root / "stacks" / name
    folder.mkdir(parents=True)
    (folder / "Pulumi.yaml").write_text(f"name: {name}\nruntime: python\n")
    (folder / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n")
    (folder / "__main__.py").write_text(PROGRAM_HEAD + textwrap.dedent(program))


def _preview(root: Path) -> tuple[int, str]:
    (root / "shared").mkdir(exist_ok=True)
    out = io.StringIO()
    code = run_preview(
        root=root,
        engine="offline",
        out_dir=root / ".regionflow" / "preview",
        account_id=None,
        only=[],
        quiet=False,
        traceback=False,
        out=out,
    )
    return code, out.getvalue()


def test_mandatory_violation_fails_the_preview_like_the_cli(tmp_path: Path) -> None:
    _project(tmp_path, "bad", UNENCRYPTED_QUEUE)
    code, output = _preview(tmp_path)
    assert code == 1, output
    urn = "urn:pulumi:dev::bad::pulumi:pulumi:Stack$aws:sqs/queue:Queue::queue"
    assert re.search(
        rf"^    mandatory: \[sqs-queue-cmk\] SQS queue is not encrypted .* \({re.escape(urn)}\)$", output, re.M
    )
    assert f"Policies: {len(POLICIES)} rules run, {len(POLICIES) - 1} passed, 1 violated" in output
    assert "Policies: 1 mandatory and 0 advisory violations in 1 stack" in output
    # The manifest is still written: the violation is reported, the preview itself worked.
    assert (tmp_path / ".regionflow" / "preview" / "bad.dev.json").is_file()


def test_advisory_violations_warn_and_the_preview_passes(tmp_path: Path) -> None:
    _project(tmp_path, "meh", ENCRYPTED_QUEUE + UNTRACED_FUNCTION)
    code, output = _preview(tmp_path)
    assert code == 0, output
    warnings = re.findall(r"^    warning: advisory: \[([\w-]+)\]", output, re.M)
    assert sorted(warnings) == ["lambda-timeout-and-memory", "lambda-timeout-and-memory", "lambda-tracing-active"]
    assert "mandatory:" not in output
    assert (
        f"Policies: {len(POLICIES)} rules run, {len(POLICIES) - 2} passed, 2 violated (0 mandatory, 3 advisory"
        in output
    )


def test_our_preview_prints_a_clean_compliance_summary_per_stack(tmp_path: Path) -> None:
    out = io.StringIO()
    code = run_preview(
        root=REPO_ROOT,
        engine="offline",
        out_dir=tmp_path,
        account_id=None,
        only=[],
        quiet=False,
        traceback=False,
        out=out,
    )
    output = out.getvalue()
    assert code == 0, output
    stacks = output.count("Previewing ")
    summaries = re.findall(r"^Policies: (\d+) rules run, (\d+) passed, (\d+) violated \((\d+) mandatory", output, re.M)
    assert stacks >= 3 and len(summaries) == stacks
    assert all(s == (str(len(POLICIES)), str(len(POLICIES)), "0", "0") for s in summaries), summaries


def test_a_rule_that_crashes_is_reported_not_raised() -> None:
    from pulumi_policy import EnforcementLevel, ResourceValidationPolicy

    def explode(args: object, report: object) -> None:
        raise KeyError("oops")

    broken = ResourceValidationPolicy("broken", "always fails", explode, EnforcementLevel.MANDATORY)
    queue = RecordedResource("urn:q", "aws:sqs/queue:Queue", "q", True, None, "q", {}, {}, "us-east-1", None)
    (violation,) = evaluate("s", [queue], [broken]).violations
    assert violation.level == "mandatory" and "rule failed to run: KeyError" in violation.message


@pytest.mark.parametrize("flag", ["--quiet", None])
def test_cli_exit_code_follows_mandatory_violations(tmp_path: Path, flag: str | None) -> None:
    from regionflow.cli import main

    _project(tmp_path, "bad", UNENCRYPTED_QUEUE)
    (tmp_path / "shared").mkdir()
    out = io.StringIO()
    argv = ["preview", "--root", str(tmp_path), *([flag] if flag else [])]
    assert main(argv, out) == 1
    assert "mandatory: [sqs-queue-cmk]" in out.getvalue()
