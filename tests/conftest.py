"""Fixtures shared by every test folder: one offline run of the regional stacks.

Running a Pulumi program under mocks costs about a third of a second, so the regional stacks are run once
per session and their recorded resources are shared, read-only, by the tests that inspect them.
"""

from __future__ import annotations

import pytest
from offline_support import regional_targets

from regionflow.offline.runner import StackResult, run_stacks


@pytest.fixture(scope="session")
def regional_results() -> dict[str, StackResult]:
    """label (``project/stack``) -> result of the offline run of every regional stack."""
    return {result.target.label: result for result in run_stacks(regional_targets())}


@pytest.fixture(scope="session")
def primary(regional_results: dict[str, StackResult]) -> StackResult:
    return regional_results["regionflow-primary/prod"]
