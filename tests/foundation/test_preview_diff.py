"""What changed, like ``pulumi preview --diff``: real changes to the stacks against the previous preview.

Totals in Pulumi's words (pulumi/pulumi pkg/backend/display/events.go, renderSummaryEvent); replacement
only where the Terraform AWS provider marks the changed attribute ForceNew (regionflow.offline.diff).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from preview_support import PIPELINE, PRIMARY, SECONDARY, copy_repository, edit, lines, preview

from regionflow.offline.diff import REPLACE_ON_CHANGE, diff_resources, property_changes, summary_lines

NEW_ENTRY = (
    "      region: eu-west-1\n    - stack: organization/regionflow-secondary/prod-us-west-2\n      region: us-west-2\n"
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the repository and the manifests of its first preview (shared, never written again)."""
    tmp = tmp_path_factory.mktemp("diff")
    root = copy_repository(tmp)
    code, output = preview(root, "--quiet", out_dir=tmp / "base")
    assert code == 0, output
    assert "Resources (first preview: nothing to compare):" in output
    return root, tmp / "base"


def changed_preview(tmp_path: Path, baseline: tuple[Path, Path], *args: str) -> tuple[Path, int, str]:
    root = copy_repository(tmp_path)
    return root, *preview(root, "--diff-against", str(baseline[1]), *args, out_dir=tmp_path / "out")


def test_no_change_is_all_unchanged(tmp_path: Path, baseline: tuple[Path, Path]) -> None:
    _, code, output = changed_preview(tmp_path, baseline)
    assert code == 0
    assert output.count("    No changes.") == 4
    assert "to create" not in output.split("Resources (compared")[1]


def test_retention_is_an_update_with_old_and_new_values(tmp_path: Path, baseline: tuple[Path, Path]) -> None:
    root = copy_repository(tmp_path)
    edit(root / PRIMARY, 'regionflow-primary:logRetentionDays: "90"', 'regionflow-primary:logRetentionDays: "365"')
    code, output = preview(root, "--diff-against", str(baseline[1]), out_dir=tmp_path / "out")
    assert code == 0, output
    section = output.split("Previewing regionflow-primary/prod")[1].split("Previewing ")[0]
    assert " ~  aws:cloudwatch/logGroup:LogGroup  " in section
    assert "(update)  [diff: ~retentionInDays]" in section
    assert "       ~ retentionInDays: 90 => 365" in section
    others = len(json.loads((baseline[1] / "regionflow-primary.prod.json").read_text())["resources"]) - 1
    assert f"Resources:\n    ~ 1 to update\n    {others} unchanged\n" in section
    assert "Resources (compared with the previous preview in" in output


def test_logger_memory_is_an_update_of_the_function(tmp_path: Path, baseline: tuple[Path, Path]) -> None:
    root = copy_repository(tmp_path)
    edit(root / SECONDARY, "config:\n", "config:\n  regionflow-secondary:loggerMemoryMb: 512\n")
    code, output = preview(root, "--diff-against", str(baseline[1]), "--json", out_dir=tmp_path / "out")
    assert code == 0, output
    document = json.loads(output)
    [stack] = [s for s in document["stacks"] if s["stack"] == "regionflow-secondary/prod-eu-west-1"]
    [step] = stack["steps"]
    assert step["op"] == "update" and step["type"] == "aws:lambda/function:Function"
    assert step["diffs"] == [{"path": "memorySize", "kind": "update", "old": 256, "new": 512}]
    assert document["changeSummary"]["update"] == 1
    assert "create" not in document["changeSummary"]


def test_a_new_region_creates_its_stack_and_changes_the_pipeline(tmp_path: Path, baseline: tuple[Path, Path]) -> None:
    root = copy_repository(tmp_path)
    new = root / "stacks" / "secondary" / "Pulumi.prod-us-west-2.yaml"
    new.write_text((root / SECONDARY).read_text().replace("region: eu-west-1", "region: us-west-2"))
    edit(
        root / PIPELINE,
        "      region: eu-west-1\n",
        NEW_ENTRY,
    )
    code, output = preview(root, "--diff-against", str(baseline[1]), "--json", out_dir=tmp_path / "out")
    assert code == 0, output
    document = json.loads(output)
    stacks = {s["stack"]: s for s in document["stacks"]}
    new_stack = stacks["regionflow-secondary/prod-us-west-2"]
    assert new_stack["previous"] is None
    assert {s["op"] for s in new_stack["steps"]} == {"create"}
    pipeline_ops = {(s["op"], s["type"]) for s in stacks["regionflow-pipeline/prod"]["steps"]}
    assert ("update", "aws:codepipeline/pipeline:Pipeline") in pipeline_ops  # one more deploy action
    assert ("create", "aws:codebuild/project:Project") in pipeline_ops  # the region's deploy project
    assert ("read", "pulumi:pulumi:StackReference") in pipeline_ops
    assert "delete" not in document["changeSummary"] and "replace" not in document["changeSummary"]


def test_a_removed_region_deletes_its_resources_and_its_manifest(tmp_path: Path, baseline: tuple[Path, Path]) -> None:
    root = copy_repository(tmp_path)
    out_dir = tmp_path / "out"
    code, _ = preview(root, "--quiet", out_dir=out_dir)  # a previous preview in the same folder
    assert code == 0
    (root / "stacks" / "secondary" / "Pulumi.prod-ap-southeast-2.yaml").unlink()
    edit(
        root / PIPELINE,
        "    - stack: organization/regionflow-secondary/prod-ap-southeast-2\n      region: ap-southeast-2\n",
        "",
    )
    code, output = preview(root, out_dir=out_dir)
    assert code == 0, output
    assert "Stack regionflow-secondary/prod-ap-southeast-2 no longer exists (its file was removed):" in output
    assert " -  aws:s3/bucket:Bucket  " in output
    assert "Removed the manifest of a stack that no longer exists: " in output
    assert not (out_dir / "regionflow-secondary.prod-ap-southeast-2.json").exists()
    retired = output.split("no longer exists (its file was removed):")[1].split("\n\n")[0]
    assert retired.count("(delete)") == 27  # every resource of the retired region (its health alarms too)
    pipeline = output.split("Previewing regionflow-pipeline/prod")[1].split("\nResources:")[0]
    pipeline_deletes = pipeline.count("(delete)")
    assert " -  aws:codebuild/project:Project  " in pipeline and pipeline_deletes >= 1  # the region's deploy project
    totals = output.split("Resources (compared")[1]
    assert f"    - {27 + pipeline_deletes} to delete\n" in totals


def test_a_changed_name_prefix_forces_replacement(tmp_path: Path, baseline: tuple[Path, Path]) -> None:
    root = copy_repository(tmp_path)
    for file in (PRIMARY, SECONDARY, "stacks/secondary/Pulumi.prod-ap-southeast-2.yaml", PIPELINE):
        text = (root / file).read_text()
        project = "regionflow-" + file.split("/")[1]
        (root / file).write_text(text.replace("config:\n", f"config:\n  {project}:namePrefix: acme\n", 1))
    code, output = preview(root, "--diff-against", str(baseline[1]), "--stack", "regionflow-primary/prod")
    assert code == 0, output
    assert "+- aws:s3/bucket:Bucket  " in output and "[diff: ~bucket; forces replacement]" in output
    assert "+- aws:lambda/function:Function  " in output
    assert "+- aws:cloudwatch/logGroup:LogGroup  " in output
    assert "    +-" in output.split("Resources (compared")[1]  # "+-N to replace" in the totals


def test_first_run_says_there_is_nothing_to_compare(tmp_path: Path) -> None:
    root = copy_repository(tmp_path)
    code, output = preview(root, "--stack", "regionflow-primary/prod")
    assert code == 0
    assert "No previous preview of this stack: nothing to compare, every resource is new." in output
    count = len(json.loads((root / ".regionflow/preview/regionflow-primary.prod.json").read_text())["resources"])
    assert f"Resources (first preview: nothing to compare):\n    + {count} to create\n" in output


def test_diff_against_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    root = copy_repository(tmp_path)
    code, output = preview(root, "--diff-against", str(tmp_path / "nope"))
    assert code == 2
    assert output.splitlines() == [
        f"error: --diff-against {tmp_path / 'nope'} is not a folder of manifests (run a preview with --out there)"
    ]


def test_pipeline_stages_and_mermaid_diagram(tmp_path: Path, baseline: tuple[Path, Path]) -> None:
    _, code, output = changed_preview(tmp_path, baseline, "--stages", "--markdown", str(tmp_path / "comment.md"))
    assert code == 0, output
    table = output.split("Pipeline rflow-prod-use1-pipeline (regionflow-pipeline/prod)")[1]
    assert "    DeployPrimary" in table and "us-east-1" in table
    rows = [line.split() for line in table.splitlines() if "PulumiUp-eu-west-1" in line or "PulumiUp-ap-" in line]
    assert [row[:3] for row in rows if row[0] == "1"] == [["1", "eu-west-1", "1"]] or len(rows) == 2
    diagram = (tmp_path / "out" / "pipeline.mmd").read_text()
    assert diagram.startswith("flowchart LR\n")
    # The sample's waves (docs/delivery.md), each with its window and bake.
    assert 'subgraph rflow_prod_use1_pipeline_DeployWave1["DeployWave1 (wave 1)<br/>window, bake 60 min"]' in diagram
    assert '["Approval<br/>skipped unless IAM changes"]' in diagram
    assert '["eu-west-1"]' in diagram and '["ap-southeast-2"]' in diagram
    assert '(["regionflow-primary/prod"]) -.->|StackReference|' in diagram
    comment = (tmp_path / "comment.md").read_text()
    assert comment.startswith("<!-- regionflow-offline-preview -->\n")
    assert "```mermaid\nflowchart LR\n" in comment and f"Compared with {baseline[1]}." in comment


def test_json_is_one_document(tmp_path: Path, baseline: tuple[Path, Path]) -> None:
    _, code, output = changed_preview(tmp_path, baseline, "--json")
    assert code == 0
    document = json.loads(output)  # nothing else was printed
    assert document["ok"] is True and len(document["stacks"]) == 4
    manifests = [json.loads(path.read_text()) for path in baseline[1].glob("*.json")]
    reads = sum(1 for m in manifests for r in m["resources"] if r["type"] == "pulumi:pulumi:StackReference")
    same = sum(len(m["resources"]) for m in manifests) - reads
    assert document["changeSummary"] == {"same": same, "read": reads}
    [pipeline] = document["pipelines"]
    waves = [s["wave"] for s in pipeline["stages"]]
    assert waves[-2:] == [1, 2] and waves[:-2] == [None] * (len(waves) - 2)
    conditions = {s["name"]: s["conditions"] for s in pipeline["stages"]}
    assert conditions["DeployWave2"] == [
        "beforeEntry: DeploymentWindow '* * 8-16 ? * MON-THU' America/New_York -> FAIL",
        "onSuccess: CloudWatchAlarm rflow-prod-apse2-health in ap-southeast-2 wait 60 min -> ROLLBACK",
    ]
    assert conditions["Preview"] == ["onFailure: RETRY (FAILED_ACTIONS)"]


def test_property_changes_look_inside_json_documents() -> None:
    old = {"policy": json.dumps({"Statement": [{"Action": "s3:GetObject", "Resource": "a"}]}), "tags": {"A": "1"}}
    new = {"policy": json.dumps({"Statement": [{"Action": "s3:GetObject", "Resource": "b"}]}), "tags": {"B": "2"}}
    changes = {(c.path, c.kind, c.old, c.new) for c in property_changes(old, new)}
    assert changes == {
        ("policy.Statement[0].Resource", "update", "a", "b"),
        ("tags.A", "delete", "1", None),
        ("tags.B", "add", None, "2"),
    }


def test_only_force_new_attributes_replace() -> None:
    previous = [{"urn": "u1", "type": "aws:sqs/queue:Queue", "name": "q", "inputs": {"name": "a", "delaySeconds": 0}}]
    delay = [{**previous[0], "inputs": {"name": "a", "delaySeconds": 5}}]
    renamed = [{**previous[0], "inputs": {"name": "b", "delaySeconds": 0}}]
    assert [s.op for s in diff_resources(previous, delay)] == ["update"]
    [step] = diff_resources(previous, renamed)
    assert (step.op, step.replace_reasons) == ("replace", ("name",))


def test_replace_on_change_names_are_real_inputs_of_the_pulumi_types() -> None:
    """Each property in the table is an input the pulumi_aws SDK knows (no typo can hide a replacement)."""
    import importlib
    import re as regex

    modules = {
        "aws:cloudwatch/logGroup:LogGroup": ("pulumi_aws.cloudwatch.log_group", "LogGroupArgs"),
        "aws:lambda/function:Function": ("pulumi_aws.lambda_.function", "FunctionArgs"),
        "aws:kms/key:Key": ("pulumi_aws.kms.key", "KeyArgs"),
        "aws:sqs/queue:Queue": ("pulumi_aws.sqs.queue", "QueueArgs"),
        "aws:iam/role:Role": ("pulumi_aws.iam.role", "RoleArgs"),
        "aws:sns/topic:Topic": ("pulumi_aws.sns.topic", "TopicArgs"),
        "aws:dynamodb/table:Table": ("pulumi_aws.dynamodb.table", "TableArgs"),
        "aws:s3/bucket:Bucket": ("pulumi_aws.s3.bucket", "BucketArgs"),
    }
    assert set(modules) == set(REPLACE_ON_CHANGE)
    for resource_type, (module_name, _) in modules.items():
        source = Path(importlib.import_module(module_name).__file__ or "").read_text()
        known = set(regex.findall(r'@pulumi\.getter\(name="(\w+)"\)', source)) | set(
            regex.findall(r"def (\w+)\(self\) -> (?:Optional\[)?pulumi\.Input", source)
        )
        for name in REPLACE_ON_CHANGE[resource_type]:
            assert name in known, f"{resource_type}: {name} is not an input of the SDK"


def test_totals_use_pulumis_words() -> None:
    assert summary_lines({"create": 1, "update": 2, "replace": 1, "delete": 3, "same": 5}) == [
        "    + 1 to create",
        "    ~ 2 to update",
        "    +-1 to replace",
        "    - 3 to delete",
        "    7 changes. 5 unchanged",
    ]
    assert summary_lines({"create": 3}) == ["    + 3 to create"]  # one kind: no "N changes"
    assert lines("a\nerror: x", "error: ") == ["error: x"]
