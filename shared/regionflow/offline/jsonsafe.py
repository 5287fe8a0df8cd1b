"""Turn values the Pulumi runtime hands to mocks into JSON, redacting secrets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc

from regionflow.offline import speed

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
    convert = _common_first if _SECRET_KEY is not None and speed.enabled("outputs") else _general
    return convert(value, root, reveal_secrets)


Convert = Callable[[Any, "Path | None", bool], Any]
# The key that marks a wrapped secret (and other special values), which is_rpc_secret looks for first.
# Private to the SDK: without it, the general path does every check itself.
_SECRET_KEY: str | None = getattr(rpc, "_special_sig_key", None)


def _common_first(value: Any, root: Path | None, reveal_secrets: bool) -> Any:
    """The commonest exact types first (str, dicts that are no secret, lists), the rest as :func:`_one`.

    Manifests and policy views are mostly strings, dicts and lists; asking each value about secrets,
    unknowns, assets and archives in turn cost more than the copy itself. Same result.
    """
    kind = type(value)
    if kind is str:
        return UNKNOWN if value == rpc.UNKNOWN else value
    if kind is dict and _SECRET_KEY not in value:
        return {str(k): _common_first(v, root, reveal_secrets) for k, v in value.items()}
    if kind is list:
        return [_common_first(v, root, reveal_secrets) for v in value]
    return _one(value, root, reveal_secrets, _common_first)


def _general(value: Any, root: Path | None, reveal_secrets: bool) -> Any:
    return _one(value, root, reveal_secrets, _general)


def _one(value: Any, root: Path | None, reveal_secrets: bool, convert: Convert) -> Any:
    if rpc.is_rpc_secret(value):
        if not reveal_secrets:
            return REDACTED
        return convert(rpc.unwrap_rpc_secret(value), root, reveal_secrets)
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
                "assets": {name: convert(asset, root, reveal_secrets) for name, asset in sorted(value.assets.items())}
            }
        }
    if isinstance(value, dict):
        return {str(k): convert(v, root, reveal_secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [convert(v, root, reveal_secrets) for v in value]
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
