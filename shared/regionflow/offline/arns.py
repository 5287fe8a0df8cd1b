"""Realistic, unique physical IDs and outputs for mocked AWS resources.

Each resource type regionflow creates gets the ID and the computed outputs AWS (through the
provider) would return: ARNs in the exact format of the type, for the resource's account and
region; queue URLs; KMS key UUIDs. Values are derived from the resource's URN, so they are unique
per resource and identical across runs, which keeps manifests diffable.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from regionflow.regions import PARTITION

DEFAULT_ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class MintContext:
    """What the minting of one resource's outputs may use."""

    type: str
    name: str  # logical name
    urn: str
    inputs: dict[str, Any]
    region: str
    account: str

    def digest(self, size: int = 40) -> str:
        return hashlib.sha256(self.urn.encode()).hexdigest()[:size]

    def uuid(self) -> str:
        return str(uuid.UUID(self.digest(32)))

    def physical_name(self, key: str = "name", suffix_length: int = 7) -> str:
        """The explicit name input, or Pulumi's auto-name: ``<logical name>-<7 hex>``."""
        explicit = self.inputs.get(key)
        if isinstance(explicit, str) and explicit:
            return explicit
        prefix = self.inputs.get("namePrefix")
        if isinstance(prefix, str) and prefix:
            return prefix + self.digest(26)
        return f"{self.name}-{self.digest(suffix_length)}"

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return f"arn:{PARTITION}:{service}:{self.region if region else ''}:{self.account if account else ''}:{resource}"


Minted = tuple[str, dict[str, Any]]
Minter = Callable[[MintContext], Minted]


def _kms_key(ctx: MintContext) -> Minted:
    key_id = ctx.uuid()
    return key_id, {"keyId": key_id, "arn": ctx.arn("kms", f"key/{key_id}")}


def _kms_alias(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    target = str(ctx.inputs.get("targetKeyId", ""))
    target_arn = target if target.startswith("arn:") else ctx.arn("kms", f"key/{target}")
    return name, {"name": name, "arn": ctx.arn("kms", name), "targetKeyArn": target_arn}


def _s3_bucket(ctx: MintContext) -> Minted:
    bucket = ctx.physical_name("bucket")
    return bucket, {
        "bucket": bucket,
        "arn": ctx.arn("s3", bucket, region=False, account=False),
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{ctx.region}.amazonaws.com",
        "hostedZoneId": "Z3AQBSTGFYJSTF",
        "region": ctx.region,
    }


def _bucket_child(ctx: MintContext) -> Minted:
    # Bucket sub-resources (versioning, encryption, policy, ...) are identified by their bucket.
    return str(ctx.inputs.get("bucket", ctx.name)), {}


def _iam_role(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    path = str(ctx.inputs.get("path", "/"))
    return name, {
        "name": name,
        "arn": ctx.arn("iam", f"role{path}{name}", region=False),
        "uniqueId": "AROA" + ctx.digest(17).upper(),
        "path": path,
    }


def _iam_policy(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    path = str(ctx.inputs.get("path", "/"))
    arn = ctx.arn("iam", f"policy{path}{name}", region=False)
    return arn, {"name": name, "arn": arn, "policyId": "ANPA" + ctx.digest(17).upper(), "path": path}


def _iam_role_policy(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    return f"{ctx.inputs.get('role')}:{name}", {"name": name}


def _iam_oidc_provider(ctx: MintContext) -> Minted:
    host = str(ctx.inputs.get("url", "")).removeprefix("https://")
    arn = ctx.arn("iam", f"oidc-provider/{host}", region=False)
    return arn, {"arn": arn}


def _lambda_function(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    arn = ctx.arn("lambda", f"function:{name}")
    return name, {
        "name": name,
        "arn": arn,
        "qualifiedArn": f"{arn}:$LATEST",
        "invokeArn": f"arn:{PARTITION}:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        "version": "$LATEST",
        "lastModified": "2026-01-01T00:00:00.000+0000",
        "sourceCodeHash": ctx.digest(43),
    }


def _by_input(key: str) -> Minter:
    def mint(ctx: MintContext) -> Minted:
        return str(ctx.inputs.get(key) or ctx.physical_name()), {}

    return mint


def _log_group(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("logs", f"log-group:{name}")}


def _sqs_queue(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    url = f"https://sqs.{ctx.region}.amazonaws.com/{ctx.account}/{name}"
    return url, {"name": name, "url": url, "arn": ctx.arn("sqs", name)}


def _sns_topic(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    arn = ctx.arn("sns", name)
    return arn, {"name": name, "arn": arn, "owner": ctx.account}


def _sns_subscription(ctx: MintContext) -> Minted:
    arn = f"{ctx.inputs.get('topic')}:{ctx.uuid()}"
    return arn, {"arn": arn, "pendingConfirmation": ctx.inputs.get("protocol") == "email"}


def _dynamodb_table(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("dynamodb", f"table/{name}")}


def _codebuild_project(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    arn = ctx.arn("codebuild", f"project/{name}")
    return arn, {"name": name, "arn": arn, "badgeUrl": ""}


def _codepipeline(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("codepipeline", name)}


def _codestar_connection(ctx: MintContext) -> Minted:
    arn = ctx.arn("codestar-connections", f"connection/{ctx.uuid()}")
    # A new GitHub connection stays PENDING until the one-time handshake in the console.
    return arn, {"arn": arn, "name": ctx.physical_name(), "connectionStatus": "PENDING"}


def _metric_alarm(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("cloudwatch", f"alarm:{name}")}


def _composite_alarm(ctx: MintContext) -> Minted:
    name = ctx.physical_name("alarmName")
    return name, {"alarmName": name, "arn": ctx.arn("cloudwatch", f"alarm:{name}")}


def _dashboard(ctx: MintContext) -> Minted:
    name = ctx.physical_name("dashboardName")
    return name, {"dashboardName": name, "dashboardArn": ctx.arn("cloudwatch", f"dashboard/{name}", region=False)}


def _event_rule(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    bus = str(ctx.inputs.get("eventBusName") or "default")
    resource = f"rule/{name}" if bus == "default" else f"rule/{bus}/{name}"
    return name, {"name": name, "arn": ctx.arn("events", resource)}


def _event_target(ctx: MintContext) -> Minted:
    target_id = str(ctx.inputs.get("targetId") or ctx.physical_name())
    return f"{ctx.inputs.get('rule')}-{target_id}", {"targetId": target_id}


def _notification_rule(ctx: MintContext) -> Minted:
    arn = ctx.arn("codestar-notifications", f"notificationrule/{ctx.digest(40)}")
    return arn, {"arn": arn}


def _schedule(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    group = str(ctx.inputs.get("groupName") or "default")
    return f"{group}/{name}", {"name": name, "arn": ctx.arn("scheduler", f"schedule/{group}/{name}")}


def _schedule_group(ctx: MintContext) -> Minted:
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("scheduler", f"schedule-group/{name}")}


def _lambda_permission(ctx: MintContext) -> Minted:
    return str(ctx.inputs.get("statementId") or ctx.physical_name("statementId")), {}


MINTERS: dict[str, Minter] = {
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _bucket_child,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _bucket_child,
    "aws:s3/bucketVersioning:BucketVersioning": _bucket_child,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _bucket_child,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _bucket_child,
    "aws:s3/bucketPolicy:BucketPolicy": _bucket_child,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/policy:Policy": _iam_policy,
    "aws:iam/rolePolicy:RolePolicy": _iam_role_policy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": lambda ctx: (
        f"{ctx.inputs.get('role')}-{ctx.digest(20)}",
        {},
    ),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _iam_oidc_provider,
    "aws:lambda/function:Function": _lambda_function,
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": _by_input("functionName"),
    "aws:lambda/permission:Permission": _lambda_permission,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": _composite_alarm,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:cloudwatch/eventRule:EventRule": _event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": _event_target,
    "aws:sqs/queue:Queue": _sqs_queue,
    "aws:sqs/queuePolicy:QueuePolicy": _by_input("queueUrl"),
    "aws:sns/topic:Topic": _sns_topic,
    "aws:sns/topicPolicy:TopicPolicy": _by_input("arn"),
    "aws:sns/topicSubscription:TopicSubscription": _sns_subscription,
    "aws:dynamodb/table:Table": _dynamodb_table,
    "aws:codebuild/project:Project": _codebuild_project,
    "aws:codepipeline/pipeline:Pipeline": _codepipeline,
    "aws:codestarconnections/connection:Connection": _codestar_connection,
    "aws:codestarnotifications/notificationRule:NotificationRule": _notification_rule,
    "aws:scheduler/schedule:Schedule": _schedule,
    "aws:scheduler/scheduleGroup:ScheduleGroup": _schedule_group,
}


class UnknownResourceTypeError(LookupError):
    """The offline engine cannot answer for a resource type it does not know."""


def mint(ctx: MintContext) -> Minted:
    """ID and computed outputs of a resource; unknown AWS types are an error, not a guess."""
    minter = MINTERS.get(ctx.type)
    if minter is None:
        raise UnknownResourceTypeError(
            f"the offline engine has no outputs for {ctx.type}; add a minter to regionflow/offline/arns.py"
        )
    return minter(ctx)
