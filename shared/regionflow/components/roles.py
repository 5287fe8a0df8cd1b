"""The one shape of every IAM role regionflow creates: a service role for this account, capped by a boundary."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from regionflow import iam

# An hour covers the longest build (CodeBuild's default timeout) and keeps leaked sessions short.
MAX_SESSION_SECONDS = 3600


def service_role(
    resource_name: str,
    *,
    role_name: str,
    description: str,
    service: str,
    account_id: pulumi.Input[str],
    permissions_boundary: pulumi.Input[str] | None,
    opts: pulumi.ResourceOptions,
) -> aws.iam.Role:
    """A role only ``service`` may assume on behalf of this account (confused-deputy safe), with the boundary."""
    return aws.iam.Role(
        resource_name,
        name=role_name,
        description=description,
        assume_role_policy=iam.service_trust_policy(service, account_id),
        max_session_duration=MAX_SESSION_SECONDS,
        permissions_boundary=permissions_boundary,
        opts=opts,
    )
