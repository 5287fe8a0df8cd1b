"""PipelineNotifications: the pipeline's SNS topic, encrypted with its own rotating CMK.

Who publishes to the topic, and how each is let in:

* **EventBridge** (pipeline failed / succeeded / approval needed, see :mod:`.monitoring`): the topic
  policy allows ``events.amazonaws.com`` only for rules of this account whose names carry the stack's
  name prefix (``aws:SourceAccount`` + ``aws:SourceArn``). The key policy grants it
  ``kms:GenerateDataKey*``/``kms:Decrypt`` *without* source conditions: EventBridge documents that
  ``aws:SourceArn``/``aws:SourceAccount`` are not supported in the KMS key policy for delivery to an
  encrypted topic (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions),
  so a condition there would silently drop every event. The key encrypts this topic and nothing
  else, so the grant reaches no other data.
* **CloudWatch alarms** of the home region: ``cloudwatch.amazonaws.com`` with ``aws:SourceAccount`` and
  ``aws:SourceArn`` = this stack's alarm ARNs, on both the topic and the key
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
* **The manual approval action**: CodePipeline publishes with the *pipeline role*, an IAM principal of
  this account. The account statements delegate to IAM, so the pipeline role's own policy
  (``sns:Publish`` on the topic, ``kms:GenerateDataKey``/``kms:Decrypt`` on :attr:`key_arn`) decides.
* **CodeStar notification rules** are not used (EventBridge rules carry the events); set
  ``allow_notification_rules`` to let ``codestar-notifications.amazonaws.com`` in, with source-account
  conditions, should a notification rule be added later.

An email subscription is optional. AWS mails a confirmation link to the address and the subscription
delivers nothing until the recipient clicks it (``PendingConfirmation`` until then).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from regionflow import iam
from regionflow.components.artifact_store import (
    ALARM_PUBLISHER_KEY_ACTIONS,
    account_administers_key,
    cloudwatch_alarms_statement,
)
from regionflow.naming import NameKind, Namer
from regionflow.regions import PARTITION

COMPONENT_TYPE = "regionflow:pipeline:Notifications"
TOPIC_PURPOSE = "pipeline-events"
KEY_PURPOSE = "pipeline-events"
# What a service needs to publish to a topic encrypted with a customer managed key (SNS developer
# guide, "Enable compatibility between event sources from AWS services and encrypted topics").
PUBLISHER_KEY_ACTIONS: tuple[str, ...] = ALARM_PUBLISHER_KEY_ACTIONS
# What the account's own principals may do on the topic (the pipeline role publishes approvals).
ACCOUNT_TOPIC_ACTIONS: tuple[str, ...] = (
    "sns:Publish",
    "sns:Subscribe",
    "sns:GetTopicAttributes",
    "sns:SetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
)
EVENTS_SERVICE = "events.amazonaws.com"
NOTIFICATIONS_SERVICE = "codestar-notifications.amazonaws.com"
# Longest names this component makes, for Namer.check_limits during config validation.
# The key alias ("alias/" + the topic's name) is not listed: Namer.check_limits checks plain names, and
# KMS's 256-character alias limit is far above what the event rules' 64 characters already allow.
NOTIFICATIONS_LONGEST_NAMES: dict[NameKind, str] = {NameKind.SNS_TOPIC: TOPIC_PURPOSE}


@dataclass(frozen=True)
class PipelineNotificationsArgs:
    namer: Namer  # regionflow.naming.Namer for the home region
    account_id: pulumi.Input[str]
    region: str  # home region, plain string
    # Optional email subscription (must be confirmed by its recipient); an Output when it is a secret.
    email: pulumi.Input[str] | None = None
    allow_notification_rules: bool = False

    def __post_init__(self) -> None:
        if self.region != self.namer.region:
            raise ValueError(f"region {self.region!r} differs from the namer's region {self.namer.region!r}")
        if isinstance(self.email, str) and ("@" not in self.email or self.email.strip() != self.email):
            raise ValueError(f"notification email {self.email!r} is not an email address")


def event_rule_arn_pattern(namer: Namer, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """ARNs of this stack's EventBridge rules on the default bus (their names start with the base)."""
    return pulumi.Output.concat(
        "arn:", PARTITION, ":events:", namer.region, ":", account_id, ":rule/", namer.base, "-*"
    )


class PipelineNotifications(pulumi.ComponentResource):
    """The pipeline's topic and its key: only EventBridge, CloudWatch and the account may publish."""

    key: aws.kms.Key
    alias: aws.kms.Alias
    topic: aws.sns.Topic
    topic_policy: aws.sns.TopicPolicy
    subscription: aws.sns.TopicSubscription | None
    topic_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineNotificationsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namer = args.namer
        account_root = pulumi.Output.concat("arn:", PARTITION, ":iam::", args.account_id, ":root")
        source_account = iam.Condition("StringEquals", "aws:SourceAccount", [args.account_id])

        key_statements = [
            account_administers_key(args.account_id),
            # No source conditions: EventBridge does not send them to KMS (see the module docstring).
            iam.Statement(
                sid="EventBridgeEncryptsPipelineEvents",
                principals=[iam.Principal("Service", [EVENTS_SERVICE])],
                actions=PUBLISHER_KEY_ACTIONS,
                kind="resource",
            ),
            cloudwatch_alarms_statement("CloudWatchAlarmsEncrypt", namer, args.account_id, PUBLISHER_KEY_ACTIONS),
        ]
        if args.allow_notification_rules:
            key_statements.append(
                iam.Statement(
                    sid="NotificationRulesEncrypt",
                    principals=[iam.Principal("Service", [NOTIFICATIONS_SERVICE])],
                    actions=PUBLISHER_KEY_ACTIONS,
                    conditions=[source_account],
                    kind="resource",
                )
            )
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"regionflow pipeline notifications ({namer.base})",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=30,
            policy=iam.policy_document(key_statements),
            opts=child,
        )
        self.alias = aws.kms.Alias(
            f"{name}-key-alias",
            name=namer.alias(KEY_PURPOSE),
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self.key),
        )
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=namer.name(NameKind.SNS_TOPIC, TOPIC_PURPOSE),
            display_name=f"regionflow pipeline {namer.base}",
            kms_master_key_id=self.key.arn,
            opts=child,
        )
        topic_statements = [
            iam.Statement(
                sid="AccountPublishesAndManages",
                principals=[iam.Principal("AWS", [account_root])],
                actions=ACCOUNT_TOPIC_ACTIONS,
                resources=[self.topic.arn],
                kind="resource",
            ),
            iam.Statement(
                sid="EventBridgeRulesPublish",
                principals=[iam.Principal("Service", [EVENTS_SERVICE])],
                actions=["sns:Publish"],
                resources=[self.topic.arn],
                conditions=[
                    source_account,
                    iam.Condition("ArnLike", "aws:SourceArn", [event_rule_arn_pattern(namer, args.account_id)]),
                ],
                kind="resource",
            ),
            cloudwatch_alarms_statement(
                "CloudWatchAlarmsPublish", namer, args.account_id, ("sns:Publish",), (self.topic.arn,)
            ),
        ]
        if args.allow_notification_rules:
            topic_statements.append(
                iam.Statement(
                    sid="NotificationRulesPublish",
                    principals=[iam.Principal("Service", [NOTIFICATIONS_SERVICE])],
                    actions=["sns:Publish"],
                    resources=[self.topic.arn],
                    conditions=[source_account],
                    kind="resource",
                )
            )
        topic_statements.append(iam.deny_insecure_transport("DenyInsecureTransport", ["sns:Publish"], [self.topic.arn]))
        self.topic_policy = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=iam.policy_document(topic_statements),
            opts=pulumi.ResourceOptions(parent=self.topic),
        )
        self.subscription = None
        if args.email:
            # Stays "pending confirmation" until the recipient follows the link AWS mails to it.
            self.subscription = aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.email,
                opts=pulumi.ResourceOptions(parent=self.topic),
            )

        self.topic_arn = self.topic.arn
        self.key_arn = self.key.arn
        self.register_outputs({"topic_arn": self.topic_arn, "key_arn": self.key_arn})
