"""Fixtures for the iam-check tests: the repository's manifests, built once per session in memory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

# The pipeline tests' helpers (copy_tree, add_secondary) make the generated trees used here too.
_PIPELINE_TESTS = str(Path(__file__).resolve().parents[1] / "pipeline")
if _PIPELINE_TESTS not in sys.path:
    sys.path.insert(0, _PIPELINE_TESTS)

from iamcheck_support import documents_of  # noqa: E402
from offline_support import STACKS_DIR  # noqa: E402

from regionflow.offline.discovery import discover_stacks  # noqa: E402
from regionflow.offline.runner import run_stacks  # noqa: E402


@pytest.fixture(scope="session")
def repo_documents() -> list[dict[str, Any]]:
    """The manifest of every stack of the repository, as `regionflow preview` writes them (read-only)."""
    return documents_of(run_stacks(discover_stacks(STACKS_DIR)))
