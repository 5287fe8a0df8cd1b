"""End to end: ``regionflow preview`` over the repository's own stacks, as ``tox -e preview`` runs it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from offline_support import REPO_ROOT

from regionflow import cli
from regionflow.contract import REGIONAL_OUTPUTS
from regionflow.offline.discovery import PROJECT_ORDER, discover_stacks
from regionflow.offline.mocks import STACK_REFERENCE_TYPE


@pytest.fixture(scope="module")
def preview(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, Path]:
    out_dir = tmp_path_factory.mktemp("manifests")
    out = io.StringIO()
    code = cli.main(["preview", "--root", str(REPO_ROOT), "--out", str(out_dir)], stdout=out)
    return code, out.getvalue(), out_dir


def manifests(out_dir: Path) -> dict[str, dict[str, Any]]:
    loaded = (json.loads(path.read_text()) for path in sorted(out_dir.glob("*.json")))
    return {f"{m['project']}/{m['stack']}": m for m in loaded}


def test_preview_succeeds_over_every_stack_in_deployment_order(preview: tuple[int, str, Path]) -> None:
    code, output, _ = preview
    assert code == 0, output
    previewed = [line.split()[1] for line in output.splitlines() if line.startswith("Previewing ")]
    expected = [t.label for t in discover_stacks(REPO_ROOT / "stacks")]
    assert previewed == expected
    folders = [label.split("/")[0].removeprefix("regionflow-") for label in previewed]
    assert folders == sorted(folders, key=PROJECT_ORDER.index)
    assert folders[0] == "primary" and folders[-1] == "pipeline"
    assert folders.count("secondary") >= 2
    assert "error" not in output.lower()


def test_summary_totals_match_the_manifests(preview: tuple[int, str, Path]) -> None:
    _, output, out_dir = preview
    found = manifests(out_dir)
    reads = sum(1 for m in found.values() for r in m["resources"] if r["type"] == STACK_REFERENCE_TYPE)
    creates = sum(len(m["resources"]) for m in found.values()) - reads
    assert reads >= 3
    assert f"Summary: {len(found)} stacks previewed, {creates} resources, {reads} stack references" in output
    # A first preview (an empty --out) has nothing to compare: every resource is to create, in Pulumi's words.
    assert (
        f"Resources (first preview: nothing to compare):\n    + {creates} to create\n    > {reads} to read\n" in output
    )
    for label, manifest in found.items():
        assert f"Previewing {label} (offline engine)" in output
        assert manifest["manifest_version"] == 1
        assert set(manifest) == {"manifest_version", "project", "stack", "exports", "resources"}
        urns = [r["urn"] for r in manifest["resources"]]
        assert urns == sorted(urns) and len(urns) == len(set(urns))
        for resource in manifest["resources"]:
            assert set(resource) == {"urn", "type", "name", "custom", "provider", "id", "inputs", "outputs"}


def test_every_stack_reference_reads_the_exports_of_the_stack_it_names(preview: tuple[int, str, Path]) -> None:
    _, _, out_dir = preview
    found = manifests(out_dir)
    by_qualified_name = {f"organization/{m['project']}/{m['stack']}": m for m in found.values()}
    references = [r for m in found.values() for r in m["resources"] if r["type"] == STACK_REFERENCE_TYPE]
    regional = [label for label in found if not label.startswith("regionflow-pipeline/")]
    # The pipeline reads every regional stack, and nothing else.
    assert sorted(r["id"] for r in references) == sorted(f"organization/{label}" for label in regional)
    for reference in references:
        source = by_qualified_name[reference["id"]]
        assert reference["outputs"]["outputs"] == source["exports"]
        assert set(REGIONAL_OUTPUTS) <= set(source["exports"])


def test_every_regional_export_is_a_real_value(preview: tuple[int, str, Path]) -> None:
    _, _, out_dir = preview
    for label, manifest in manifests(out_dir).items():
        if label.startswith("regionflow-pipeline/"):
            continue
        assert set(manifest["exports"]) == set(REGIONAL_OUTPUTS), label
        assert all(isinstance(v, str) and v and v != "[unknown]" for v in manifest["exports"].values()), label
