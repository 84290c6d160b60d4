"""Notifications (SPEC §3 notifications): a CodeStar notification rule on the pipeline, to an SNS
topic (created, with a policy letting only the notification service publish, or given) and an
optional AWS Chatbot Slack channel."""

from __future__ import annotations

from awacs import sns as asns
from awacs.aws import Allow, Condition, Principal, Statement, StringEquals
from troposphere import Ref, Sub, codestarnotifications, sns

from .. import aws
from .context import Context
from .iam import policy


def emit_notifications(ctx: Context) -> None:
    notifications = ctx.manifest.notifications
    if notifications is None:
        return
    if notifications.sns_topic:
        topic = notifications.sns_topic
    else:
        ctx.encrypted_topic("NotificationTopic", "notifications", "pipeline events")
        ctx.add(
            sns.TopicPolicy(
                "NotificationTopicPolicy",
                Topics=[Ref("NotificationTopic")],
                PolicyDocument=policy(
                    Statement(
                        Sid="CodeStarNotificationsPublish",
                        Effect=Allow,
                        Principal=Principal("Service", "codestar-notifications.amazonaws.com"),
                        Action=[asns.Publish],
                        Resource=[Ref("NotificationTopic")],
                        Condition=Condition(StringEquals({"aws:SourceAccount": Sub("${AWS::AccountId}")})),
                    )
                ),
            )
        )
        topic = Ref("NotificationTopic")
    targets = [codestarnotifications.Target(TargetType="SNS", TargetAddress=topic)]
    if notifications.slack_channel:
        targets.append(
            codestarnotifications.Target(TargetType="AWSChatbotSlack", TargetAddress=notifications.slack_channel)
        )
    ctx.add(
        codestarnotifications.NotificationRule(
            "PipelineNotifications",
            Name=f"{ctx.name}-pipeline-events",
            DetailType="FULL",
            Resource=ctx.pipeline_arn,
            EventTypeIds=[aws.NOTIFICATION_EVENTS[e] for e in notifications.events],
            Targets=targets,
            DependsOn=["Pipeline"],
        )
    )
