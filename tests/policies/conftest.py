"""Fixtures for the policy tests: one offline run of every stack (ours), shared by the session."""

from __future__ import annotations

import copy

import pytest
from offline_support import STACKS_DIR
from policy_support import PRIMARY

from regionflow.offline.discovery import discover_stacks
from regionflow.offline.mocks import RecordedResource
from regionflow.offline.runner import StackResult, run_stacks
from regionflow.policies.offline import ComplianceReport, evaluate


@pytest.fixture(scope="session")
def our_results() -> dict[str, StackResult]:
    """label -> offline result of every stack in the repository (the pipeline too, once it exists)."""
    return {result.target.label: result for result in run_stacks(discover_stacks(STACKS_DIR))}


@pytest.fixture(scope="session")
def our_reports(our_results: dict[str, StackResult]) -> dict[str, ComplianceReport]:
    return {label: evaluate(label, result.resources) for label, result in our_results.items()}


@pytest.fixture
def primary_resources(our_results: dict[str, StackResult]) -> list[RecordedResource]:
    """A private copy of the primary stack's resources, for a test to break one thing in."""
    return copy.deepcopy(our_results[PRIMARY].resources)
