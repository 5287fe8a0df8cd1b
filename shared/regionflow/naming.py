"""Physical names: deterministic, derived from prefix, environment and region, within AWS limits.

Every physical name has the shape ``<prefix>-<environment>-<region code>-<purpose>``. The region
code keeps account-global names (IAM roles, S3 buckets) apart between regions, and S3 bucket names
also end in the account ID because bucket names are global across all AWS accounts.

Limits are checked when a name is made, and :meth:`Namer.check_limits` checks the longest names a
stack will make while config is validated, so that a long prefix is rejected before any resource
is registered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, unique

from regionflow.regions import region_code

ACCOUNT_ID_LENGTH = 12
# The purpose of the state bucket `regionflow bootstrap` creates in each account and region.
STATE_BUCKET_PURPOSE = "pulumi-state"
# The pipeline's purpose: it is named <prefix>-<environment>-<home region code>-pipeline, so the primary
# stack (deployed before the pipeline exists) can route that pipeline's events by name.
PIPELINE_PURPOSE = "pipeline"


@unique
class NameKind(Enum):
    """A kind of AWS name, with its maximum length and allowed characters."""

    # (max length, pattern for the whole name, the API whose reference states them). The API also keeps
    # kinds with equal limits distinct: Enum would otherwise make one an alias of the other.
    S3_BUCKET = (63, r"^[a-z0-9][a-z0-9-]*[a-z0-9]$", "s3:CreateBucket")
    IAM_ROLE = (64, r"^[A-Za-z0-9+=,.@_-]+$", "iam:CreateRole")
    IAM_POLICY = (128, r"^[A-Za-z0-9+=,.@_-]+$", "iam:CreatePolicy")
    LAMBDA_FUNCTION = (64, r"^[A-Za-z0-9_-]+$", "lambda:CreateFunction")
    SQS_QUEUE = (80, r"^[A-Za-z0-9_-]+$", "sqs:CreateQueue")
    SNS_TOPIC = (256, r"^[A-Za-z0-9_-]+$", "sns:CreateTopic")
    DYNAMODB_TABLE = (255, r"^[A-Za-z0-9_.-]+$", "dynamodb:CreateTable")
    KMS_ALIAS = (256, r"^alias/[A-Za-z0-9/_-]+$", "kms:CreateAlias")
    LOG_GROUP = (512, r"^[A-Za-z0-9_/.#-]+$", "logs:CreateLogGroup")
    CODEBUILD_PROJECT = (255, r"^[A-Za-z0-9][A-Za-z0-9_-]+$", "codebuild:CreateProject")
    CODEPIPELINE = (100, r"^[A-Za-z0-9.@_-]+$", "codepipeline:CreatePipeline")
    EVENT_RULE = (64, r"^[A-Za-z0-9._-]+$", "events:PutRule")
    SCHEDULE = (64, r"^[A-Za-z0-9._-]+$", "scheduler:CreateSchedule")
    CLOUDWATCH_ALARM = (255, r"^[^\x00-\x1f]+$", "cloudwatch:PutMetricAlarm")
    DASHBOARD = (255, r"^[A-Za-z0-9_-]+$", "cloudwatch:PutDashboard")
    CODESTAR_CONNECTION = (32, r"^[A-Za-z0-9_-]+$", "codestar-connections:CreateConnection")
    NOTIFICATION_RULE = (64, r"^[A-Za-z0-9_ -]+$", "codestar-notifications:CreateNotificationRule")

    @property
    def max_length(self) -> int:
        return self.value[0]

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.value[1])


class NameTooLongError(ValueError):
    """A derived name exceeds its AWS limit."""


@dataclass(frozen=True)
class Namer:
    """Makes the physical names of one stack (prefix, environment, region)."""

    prefix: str
    environment: str
    region: str

    @property
    def base(self) -> str:
        return f"{self.prefix}-{self.environment}-{region_code(self.region)}"

    def name(self, kind: NameKind, purpose: str) -> str:
        """``<base>-<purpose>``, checked against ``kind``'s limits."""
        return self._checked(kind, f"{self.base}-{purpose}")

    def bucket(self, purpose: str, account_id: str) -> str:
        """An S3 bucket name, globally unique thanks to the account ID suffix."""
        if not (account_id.isdigit() and len(account_id) == ACCOUNT_ID_LENGTH):
            raise ValueError(f"account ID {account_id!r} must be {ACCOUNT_ID_LENGTH} digits")
        return self._checked(NameKind.S3_BUCKET, f"{self.base}-{purpose}-{account_id}")

    def alias(self, purpose: str) -> str:
        return self._checked(NameKind.KMS_ALIAS, f"alias/{self.base}-{purpose}")

    def log_group(self, service_path: str, resource_name: str) -> str:
        """Log groups follow the service's own convention, e.g. ``/aws/lambda/<function>``."""
        return self._checked(NameKind.LOG_GROUP, f"/aws/{service_path}/{resource_name}")

    def check_limits(self, longest: dict[NameKind, str]) -> None:
        """Raise :class:`NameTooLongError` if any of the given purposes would overflow.

        ``longest`` maps a kind to the longest purpose the stack uses for it; buckets are checked
        with a 12-digit placeholder account ID, which is the exact length of a real one.
        """
        for kind, purpose in longest.items():
            if kind is NameKind.S3_BUCKET:
                self.bucket(purpose, "0" * ACCOUNT_ID_LENGTH)
            else:
                self.name(kind, purpose)

    def headroom(self, kind: NameKind, purpose: str) -> int:
        """Characters left under ``kind``'s limit for ``purpose`` (negative when over)."""
        extra = ACCOUNT_ID_LENGTH + 1 if kind is NameKind.S3_BUCKET else 0
        return kind.max_length - len(f"{self.base}-{purpose}") - extra

    @staticmethod
    def _checked(kind: NameKind, name: str) -> str:
        return checked_name(kind, name)


def checked_name(kind: NameKind, name: str) -> str:
    """``name`` if it fits ``kind``'s length limit and characters; raise otherwise."""
    if len(name) > kind.max_length:
        raise NameTooLongError(
            f"{kind.name.lower()} name {name!r} is {len(name)} characters; AWS allows {kind.max_length}"
        )
    if not kind.pattern.match(name):
        raise ValueError(f"{kind.name.lower()} name {name!r} has characters AWS does not allow")
    return name
