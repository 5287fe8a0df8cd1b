"""iam-check follows the pipeline's stage conditions: the bakes' CloudWatchAlarm rules read each region's health
alarm as the pipeline role, in that region (regionflow.delivery; the pipeline role's WatchHealthAlarms statement)."""

from __future__ import annotations

import copy
from typing import Any

from iamcheck_support import check, findings, strip_action

PIPELINE_ROLE = "rflow-prod-use1-pipeline"


def health_arns(documents: list[dict[str, Any]]) -> list[str]:
    return [d["exports"]["healthAlarmArn"] for d in documents if "healthAlarmArn" in d["exports"]]


def test_the_pipeline_role_may_read_every_baked_regions_health_alarm(repo_documents: list[dict[str, Any]]) -> None:
    result = check(repo_documents)
    assert len(health_arns(repo_documents)) == 3  # the sample bakes the primary and both waves
    for arn in health_arns(repo_documents):
        assert findings(result, PIPELINE_ROLE, "cloudwatch:DescribeAlarms", arn) == []


def test_without_the_alarm_reads_each_bake_is_a_missing_permission(repo_documents: list[dict[str, Any]]) -> None:
    documents = copy.deepcopy(repo_documents)
    strip_action(documents, PIPELINE_ROLE, "cloudwatch:DescribeAlarms")
    result = check(documents)
    missing = {f.resource for f in findings(result, PIPELINE_ROLE, "cloudwatch:DescribeAlarms")}
    assert missing == set(health_arns(repo_documents))
    (sample,) = findings(result, PIPELINE_ROLE, "cloudwatch:DescribeAlarms", health_arns(repo_documents)[0])
    assert sample.kind == "missing" and "onSuccess" in sample.why
