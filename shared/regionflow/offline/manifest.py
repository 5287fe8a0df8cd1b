"""The JSON manifest the offline preview writes per stack (``manifest_version`` 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from regionflow.offline.jsonsafe import to_json_safe
from regionflow.offline.mocks import RecordedResource

MANIFEST_VERSION = 1


def resource_entry(resource: RecordedResource, root: Path | None) -> dict[str, Any]:
    return {
        "urn": resource.urn,
        "type": resource.type,
        "name": resource.name,
        "custom": resource.custom,
        "provider": resource.provider,
        "id": resource.id,
        "inputs": to_json_safe(resource.inputs, root=root),
        "outputs": to_json_safe(resource.outputs, root=root),
    }


def build_manifest(
    *,
    project: str,
    stack: str,
    exports: dict[str, Any],
    resources: list[RecordedResource],
    root: Path | None = None,
) -> dict[str, Any]:
    # Registration order depends on thread scheduling; sorting by URN makes manifests diffable.
    ordered = sorted(resources, key=lambda r: r.urn)
    return {
        "manifest_version": MANIFEST_VERSION,
        "project": project,
        "stack": stack,
        "exports": to_json_safe(exports, root=root),
        "resources": [resource_entry(r, root) for r in ordered],
    }


def manifest_path(out_dir: Path, project: str, stack: str) -> Path:
    return out_dir / f"{project}.{stack}.json"


def write_manifest(manifest: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = manifest_path(out_dir, manifest["project"], manifest["stack"])
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return path
