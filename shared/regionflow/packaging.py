"""Packaging of Lambda code: exactly the function's own modules, byte-for-byte reproducible.

The regional stacks hand Pulumi an ``AssetArchive`` built from :func:`function_sources`, so the
deployed zip holds only the function package's ``.py`` files (no tests, fixtures or caches).
:func:`build_zip` produces the same set of files as a deterministic zip so tests and the benchmark
can measure and compare what AWS receives without the Pulumi CLI.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pulumi

# Fixed metadata makes two builds of the same sources identical to the byte: zip stores an mtime
# per entry, and 1980-01-01 is the earliest date the format can represent.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16

# Only source files ship. Boto3 comes from the Lambda runtime and Powertools from the managed layer.
_SHIPPED_SUFFIXES = frozenset({".py"})
_EXCLUDED_PARTS = frozenset({"__pycache__", "tests", "test"})


def function_sources(function_dir: Path, package: str) -> dict[str, Path]:
    """Map each archive path (``package/module.py``) to its file, in sorted order.

    Raises ``FileNotFoundError`` with the path when the package folder is missing, because an
    empty archive would deploy a function that fails on every invocation.
    """
    package_dir = function_dir / package
    if not package_dir.is_dir():
        raise FileNotFoundError(f"Lambda package folder {package_dir} does not exist")
    sources: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*")):
        relative = path.relative_to(function_dir)
        if not path.is_file() or path.suffix not in _SHIPPED_SUFFIXES:
            continue
        if _EXCLUDED_PARTS.intersection(relative.parts):
            continue
        sources[relative.as_posix()] = path
    if f"{package}/__init__.py" not in sources:
        raise FileNotFoundError(f"{package_dir} has no __init__.py; it is not an importable package")
    return sources


def build_zip(sources: Mapping[str, Path]) -> bytes:
    """Zip ``sources`` deterministically: sorted names, fixed timestamps and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(sources):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.external_attr = _FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, sources[name].read_bytes())
    return buffer.getvalue()


def sources_digest(sources: Mapping[str, Path]) -> str:
    """SHA-256 over names and contents: changes exactly when the deployed code changes."""
    digest = hashlib.sha256()
    for name in sorted(sources):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(sources[name].read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def pulumi_archive(sources: Mapping[str, Path]) -> pulumi.AssetArchive:
    """The archive a ``lambda_.Function`` deploys: one ``FileAsset`` per shipped file."""
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in sorted(sources.items())})


def handler_module_path(handler: str) -> str:
    """The archive path a Lambda ``handler`` setting (``pkg.module.function``) resolves to."""
    module, _, function = handler.rpartition(".")
    if not module or not function:
        raise ValueError(f"handler {handler!r} must look like 'package.module.function'")
    return module.replace(".", "/") + ".py"
