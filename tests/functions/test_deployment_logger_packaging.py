"""What AWS receives: the archive regionflow.packaging builds from the function folder."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from regionflow.packaging import build_zip, function_sources, handler_module_path

FUNCTION_DIR = Path(__file__).resolve().parents[2] / "functions" / "deployment_logger"
PACKAGE = "deployment_logger"
HANDLER = "deployment_logger.handler.lambda_handler"

# What the function may import at run time: the python3.13 runtime's boto3 (with its
# dependencies) and the Powertools layer (with aws-xray-sdk and its dependencies).
RUNTIME_AND_LAYER_MODULES = frozenset(
    {
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "dateutil",
        "urllib3",
        "six",
        "aws_lambda_powertools",
        "aws_xray_sdk",
        "wrapt",
        "typing_extensions",
        "certifi",  # botocore imports it when installed and falls back to its own CA bundle otherwise
    }
)

IMPORT_PROBE = """
import json, sys, sysconfig
sys.path.insert(0, sys.argv[1])
import importlib
already_loaded = set(sys.modules)  # interpreter start-up (.pth hooks etc.) is not the function's doing
module = importlib.import_module(sys.argv[2])
site = sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]
third_party = sorted({
    name.split(".")[0]
    for name, mod in list(sys.modules.items())
    if name not in already_loaded and (getattr(mod, "__file__", None) or "").startswith(site)
})
print(json.dumps({
    "file": module.__file__,
    "has_handler": callable(getattr(module, "lambda_handler", None)),
    "third_party": third_party,
}))
"""


@pytest.fixture(scope="module")
def archive() -> bytes:
    return build_zip(function_sources(FUNCTION_DIR, PACKAGE))


def test_archive_is_reproducible(archive: bytes) -> None:
    assert build_zip(function_sources(FUNCTION_DIR, PACKAGE)) == archive


def test_archive_holds_exactly_the_package_modules(archive: bytes) -> None:
    names = zipfile.ZipFile(io.BytesIO(archive)).namelist()
    on_disk = sorted(
        path.relative_to(FUNCTION_DIR).as_posix()
        for path in (FUNCTION_DIR / PACKAGE).rglob("*.py")
        if "__pycache__" not in path.parts
    )
    assert names == on_disk
    assert all(name.startswith(f"{PACKAGE}/") and name.endswith(".py") for name in names)
    assert f"{PACKAGE}/__init__.py" in names
    # Fixtures, docs and tests stay out of what ships.
    assert not any(name.startswith(("events/", "tests/")) or name.endswith((".json", ".md")) for name in names)


def test_handler_module_is_in_the_archive_and_defines_lambda_handler(
    archive: bytes,
) -> None:
    module_path = handler_module_path(HANDLER)
    assert module_path == "deployment_logger/handler.py"
    source = zipfile.ZipFile(io.BytesIO(archive)).read(module_path)
    functions = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    assert "lambda_handler" in functions


def _probe(tmp_path: Path, archive: bytes, module: str) -> dict[str, object]:
    """Import ``module`` from the extracted archive in a fresh interpreter, with the stack's env vars."""
    root = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(archive)).extractall(root)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "POWERTOOLS_SERVICE_NAME": "deployment-logger",
        "POWERTOOLS_METRICS_NAMESPACE": "Regionflow",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:regionflow-deployment-notifications",
        "IDEMPOTENCY_TABLE_NAME": "regionflow-deployment-logger-idempotency",
    }
    # -I: no user site, no PYTHON* variables, no current directory on sys.path: only the archive
    # (inserted by the probe) and the interpreter's site-packages, as in Lambda.
    result = subprocess.run(
        [sys.executable, "-I", "-c", IMPORT_PROBE, str(root), module],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    assert str(data["file"]).startswith(str(root))  # imported from the archive, not the checkout
    return data


def test_handler_imports_from_the_archive_with_only_runtime_and_layer_packages(tmp_path: Path, archive: bytes) -> None:
    data = _probe(tmp_path, archive, "deployment_logger.handler")

    assert data["has_handler"] is True
    third_party = set(data["third_party"])  # type: ignore[arg-type]
    assert third_party <= RUNTIME_AND_LAYER_MODULES, third_party - RUNTIME_AND_LAYER_MODULES
    assert {"aws_lambda_powertools", "boto3"} <= third_party


def test_settings_import_needs_no_third_party_package(tmp_path: Path, archive: bytes) -> None:
    # The stack side imports deployment_logger.settings for the variable names.
    assert _probe(tmp_path, archive, "deployment_logger.settings")["third_party"] == []
