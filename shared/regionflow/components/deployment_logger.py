"""DeploymentLogger: the Lambda that records deployments, with its logs, DLQ, topic and role.

The function code lives in ``functions/deployment_logger``; this component ships exactly its
package (see :mod:`regionflow.packaging`) and wires the environment the function validates at cold
start (``deployment_logger.settings.REQUIRED_ENV_VARS``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from regionflow import iam, packaging
from regionflow.components.artifact_store import cloudwatch_alarms_statement
from regionflow.components.roles import service_role
from regionflow.lambda_layers import LOGGER_ARCHITECTURE, LOGGER_RUNTIME
from regionflow.naming import NameKind, Namer
from regionflow.regions import PARTITION

FUNCTION_PACKAGE = "deployment_logger"
HANDLER = "deployment_logger.handler.lambda_handler"

# Names the function reads (functions/deployment_logger/deployment_logger/settings.py); a test keeps
# the two sides equal.
ENV_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
ENV_NOTIFICATION_TOPIC_ARN = "NOTIFICATION_TOPIC_ARN"
ENV_IDEMPOTENCY_TABLE_NAME = "IDEMPOTENCY_TABLE_NAME"
SERVICE_NAME = "deployment-logger"
METRICS_NAMESPACE = "Regionflow"

# Async invocations (CodePipeline Invoke, EventBridge) are retried this often, for at most this
# long, before the event goes to the on-failure destination (the DLQ).
MAX_RETRY_ATTEMPTS = 2
MAX_EVENT_AGE_SECONDS = 3600
# SQS keeps messages at most 14 days; the DLQ keeps failed events as long as it can.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# The function's idempotency table: partition key and TTL attribute Powertools Idempotency uses.
IDEMPOTENCY_KEY = "id"
IDEMPOTENCY_TTL_ATTRIBUTE = "expiration"
# The home region's logger records the pipeline's failures from its EventBridge state changes: pipeline,
# stage and action (CodePipeline user guide, "Monitoring CodePipeline events"; the detail-types and fields
# the logger parses are in functions/deployment_logger/deployment_logger/state_changes.py). It only reacts
# to FAILED, so the rule only sends FAILED (its README: filtering saves invocations).
PIPELINE_EVENTS_PURPOSE = "pipeline-failures"
PIPELINE_DETAIL_TYPES: tuple[str, ...] = (
    "CodePipeline Pipeline Execution State Change",
    "CodePipeline Stage Execution State Change",
    "CodePipeline Action Execution State Change",
)
# EventBridge retries a failed delivery this long, then the event goes to the dead-letter queue.
EVENTS_MAX_RETRY_ATTEMPTS = 8
EVENTS_MAX_EVENT_AGE_SECONDS = 3600


@dataclass(frozen=True)
class DeploymentLoggerArgs:
    namer: Namer
    account_id: pulumi.Input[str]
    region: str
    key_arn: pulumi.Input[str]
    function_dir: Path
    layer_arn: str
    log_retention_days: int
    memory_mb: int
    timeout_seconds: int
    permissions_boundary_arn: pulumi.Input[str]
    notification_email: pulumi.Input[str] | None = None  # an Output marked secret when it is `secure:`
    # Set in the home region: the pipeline whose failed state changes EventBridge sends to this logger.
    pipeline_name: str | None = None


class DeploymentLogger(pulumi.ComponentResource):
    """The logger Lambda and everything it touches, all encrypted with the region's key."""

    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    dlq: aws.sqs.Queue
    topic: aws.sns.Topic
    table: aws.dynamodb.Table
    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    dlq_url: pulumi.Output[str]
    dlq_arn: pulumi.Output[str]
    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: DeploymentLoggerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("regionflow:components:DeploymentLogger", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        namer = args.namer
        function_name = namer.name(NameKind.LAMBDA_FUNCTION, "deploy-logger")
        sources = packaging.function_sources(args.function_dir, FUNCTION_PACKAGE)
        if packaging.handler_module_path(HANDLER) not in sources:
            raise FileNotFoundError(f"handler module for {HANDLER} is not in {args.function_dir}")

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=namer.log_group("lambda", function_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            opts=child,
        )
        self.dlq = aws.sqs.Queue(
            f"{name}-dlq",
            name=namer.name(NameKind.SQS_QUEUE, "deploy-logger-dlq"),
            kms_master_key_id=args.key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            opts=child,
        )
        self.pipeline_events: aws.cloudwatch.EventRule | None = None
        queue_statements = [iam.deny_insecure_transport("DenyInsecureTransport", ["sqs:*"], [self.dlq.arn])]
        if args.pipeline_name is not None:
            self.pipeline_events = aws.cloudwatch.EventRule(
                f"{name}-pipeline-events",
                name=namer.name(NameKind.EVENT_RULE, PIPELINE_EVENTS_PURPOSE),
                description=f"Failed state changes of {args.pipeline_name} to the deployment logger",
                event_pattern=json.dumps(
                    {
                        "source": ["aws.codepipeline"],
                        "detail-type": list(PIPELINE_DETAIL_TYPES),
                        "detail": {"pipeline": [args.pipeline_name], "state": ["FAILED"]},
                    }
                ),
                opts=child,
            )
            # EventBridge needs the queue policy to put dead letters (EventBridge user guide, "Using dead-letter
            # queues", granting permissions to the dead-letter queue); only for this rule.
            queue_statements.append(
                iam.Statement(
                    sid="EventBridgeDeadLetters",
                    principals=[iam.Principal("Service", ["events.amazonaws.com"])],
                    actions=["sqs:SendMessage"],
                    resources=[self.dlq.arn],
                    conditions=[iam.Condition("ArnEquals", "aws:SourceArn", [self.pipeline_events.arn])],
                    kind="resource",
                )
            )
        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=self.dlq.url,
            policy=iam.policy_document(queue_statements),
            opts=pulumi.ResourceOptions(parent=self.dlq),
        )
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=namer.name(NameKind.SNS_TOPIC, "deploy-events"),
            display_name=f"regionflow {namer.base} deployments",
            kms_master_key_id=args.key_arn,
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=iam.policy_document(
                [
                    iam.Statement(
                        sid="AccountPublishesAndManages",
                        principals=[
                            iam.Principal(
                                "AWS", [pulumi.Output.concat("arn:", PARTITION, ":iam::", args.account_id, ":root")]
                            )
                        ],
                        # The condition of AWS's default topic policy (SNS developer guide, "aws:SourceAccount
                        # versus aws:SourceOwner"); the account's roles are allowed by their own IAM policies.
                        conditions=[iam.Condition("StringEquals", "AWS:SourceOwner", [args.account_id])],
                        actions=[
                            "sns:Publish",
                            "sns:Subscribe",
                            "sns:GetTopicAttributes",
                            "sns:SetTopicAttributes",
                            "sns:ListSubscriptionsByTopic",
                        ],
                        resources=[self.topic.arn],
                        kind="resource",
                    ),
                    # The pipeline's alarms in this region notify this topic (regionflow.components.pipeline).
                    cloudwatch_alarms_statement(
                        "CloudWatchAlarmsPublish", namer, args.account_id, ("sns:Publish",), (self.topic.arn,)
                    ),
                    iam.deny_insecure_transport("DenyInsecureTransport", ["sns:Publish"], [self.topic.arn]),
                ]
            ),
            opts=pulumi.ResourceOptions(parent=self.topic),
        )
        if args.notification_email:
            # The subscription stays "pending confirmation" until the recipient clicks the link AWS mails.
            aws.sns.TopicSubscription(
                f"{name}-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.notification_email,
                opts=pulumi.ResourceOptions(parent=self.topic),
            )
        self.table = aws.dynamodb.Table(
            f"{name}-idempotency",
            name=namer.name(NameKind.DYNAMODB_TABLE, "deploy-logger-idempotency"),
            billing_mode="PAY_PER_REQUEST",
            hash_key=IDEMPOTENCY_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=IDEMPOTENCY_KEY, type="S")],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=IDEMPOTENCY_TTL_ATTRIBUTE, enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=args.key_arn),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            opts=child,
        )

        self.role = service_role(
            f"{name}-role",
            role_name=namer.name(NameKind.IAM_ROLE, "deploy-logger"),
            description="Execution role of the regionflow deployment logger",
            service="lambda.amazonaws.com",
            account_id=args.account_id,
            permissions_boundary=args.permissions_boundary_arn,
            opts=child,
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=self.role.id,
            name="deployment-logger",
            policy=logger_policy(self.log_group.arn, self.dlq.arn, self.topic.arn, self.table.arn, args.key_arn),
            opts=pulumi.ResourceOptions(parent=self.role),
        )

        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description="Records every regionflow deployment and reports pipeline failures",
            runtime=LOGGER_RUNTIME,
            architectures=[LOGGER_ARCHITECTURE],
            handler=HANDLER,
            code=packaging.pulumi_archive(sources),
            role=self.role.arn,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            layers=[args.layer_arn],
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            # The environment is encrypted at rest with the region's key, not Lambda's AWS-managed key. Lambda
            # decrypts it through a grant the deploying role creates (Lambda developer guide, "Securing
            # environment variables"); the execution role needs nothing for it.
            kms_key_arn=args.key_arn,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON",
                log_group=self.log_group.name,
                application_log_level="INFO",
                system_log_level="WARN",
            ),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    ENV_SERVICE_NAME: SERVICE_NAME,
                    ENV_METRICS_NAMESPACE: METRICS_NAMESPACE,
                    ENV_LOG_LEVEL: "INFO",
                    ENV_NOTIFICATION_TOPIC_ARN: self.topic.arn,
                    ENV_IDEMPOTENCY_TABLE_NAME: self.table.name,
                }
            ),
            # The role's permissions must exist before the first invocation can use them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async",
            function_name=self.function.name,
            maximum_retry_attempts=MAX_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=self.dlq.arn
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self.function),
        )

        if self.pipeline_events is not None:
            permission = aws.lambda_.Permission(
                f"{name}-pipeline-events-permission",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="events.amazonaws.com",
                source_arn=self.pipeline_events.arn,
                opts=pulumi.ResourceOptions(parent=self.pipeline_events),
            )
            aws.cloudwatch.EventTarget(
                f"{name}-pipeline-events-target",
                rule=self.pipeline_events.name,
                arn=self.function.arn,
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=self.dlq.arn),
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_retry_attempts=EVENTS_MAX_RETRY_ATTEMPTS,
                    maximum_event_age_in_seconds=EVENTS_MAX_EVENT_AGE_SECONDS,
                ),
                opts=pulumi.ResourceOptions(parent=self.pipeline_events, depends_on=[permission]),
            )

        self.function_name = self.function.name
        self.function_arn = self.function.arn
        self.dlq_url = self.dlq.url
        self.dlq_arn = self.dlq.arn
        self.topic_arn = self.topic.arn
        self.register_outputs(
            {
                "function_name": self.function_name,
                "function_arn": self.function_arn,
                "dlq_url": self.dlq_url,
                "dlq_arn": self.dlq_arn,
                "topic_arn": self.topic_arn,
            }
        )


def logger_policy(
    log_group_arn: pulumi.Input[str],
    dlq_arn: pulumi.Input[str],
    topic_arn: pulumi.Input[str],
    table_arn: pulumi.Input[str],
    key_arn: pulumi.Input[str],
) -> pulumi.Output[str]:
    """The logger's permissions: its own log group, queue, topic, table and key, nothing else."""
    return iam.policy_document(
        [
            iam.Statement(
                sid="WriteOwnLogStreams",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[pulumi.Output.concat(log_group_arn, ":log-stream:*")],
            ),
            iam.Statement(sid="SendFailedEventsToDlq", actions=["sqs:SendMessage"], resources=[dlq_arn]),
            iam.Statement(sid="PublishNotifications", actions=["sns:Publish"], resources=[topic_arn]),
            iam.Statement(
                sid="IdempotencyRecords",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[table_arn],
            ),
            iam.Statement(
                sid="UseRegionKeyForQueueAndTopic",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key_arn],
            ),
            # Both exceptions are listed with their reasons in iam.UNSCOPABLE_ACTIONS.
            iam.Statement(
                sid="ReportCodePipelineJobs",
                actions=["codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"],
                resources=["*"],
            ),
            iam.Statement(
                sid="ActiveTracing",
                actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                resources=["*"],
            ),
        ]
    )
