"""Turn values the Pulumi runtime hands to mocks into JSON, redacting secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc

REDACTED = "[secret]"
UNKNOWN = "[unknown]"


def _relative(path: str, root: Path | None) -> str:
    if root is None:
        return path
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return path


def to_json_safe(value: Any, *, root: Path | None = None, reveal_secrets: bool = False) -> Any:
    """JSON-compatible copy of ``value``.

    Secrets become ``"[secret]"`` unless ``reveal_secrets`` (the policy view sees real values, as
    CrossGuard does); assets and archives become ``{"$asset": ...}`` / ``{"$archive": ...}`` with
    paths relative to ``root``; integral floats (protobuf carries every number as a double) become
    ints again, which is what the program registered.
    """
    if rpc.is_rpc_secret(value):
        if not reveal_secrets:
            return REDACTED
        return to_json_safe(rpc.unwrap_rpc_secret(value), root=root, reveal_secrets=reveal_secrets)
    if isinstance(value, str) and value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, pulumi.FileAsset):
        return {"$asset": {"path": _relative(value.path, root)}}
    if isinstance(value, pulumi.StringAsset):
        return {"$asset": {"text": value.text}}
    if isinstance(value, pulumi.RemoteAsset):
        return {"$asset": {"uri": value.uri}}
    if isinstance(value, pulumi.FileArchive):
        return {"$archive": {"path": _relative(value.path, root)}}
    if isinstance(value, pulumi.RemoteArchive):
        return {"$archive": {"uri": value.uri}}
    if isinstance(value, pulumi.AssetArchive):
        return {
            "$archive": {
                "assets": {
                    name: to_json_safe(asset, root=root, reveal_secrets=reveal_secrets)
                    for name, asset in sorted(value.assets.items())
                }
            }
        }
    if isinstance(value, dict):
        return {str(k): to_json_safe(v, root=root, reveal_secrets=reveal_secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(v, root=root, reveal_secrets=reveal_secrets) for v in value]
    urn = getattr(value, "urn", None)
    if isinstance(urn, str):
        return {"$resource": urn}
    return repr(value)


def contains_secret(value: Any) -> bool:
    if rpc.is_rpc_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_secret(v) for v in value)
    return False
