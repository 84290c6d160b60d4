"""The self-update role: what CloudFormation may do when the pipeline updates its own stack.

Derived from the resource types the template actually contains (never a hand list, never
`*:*`), each scoped to the names this compiler gives those resources. Runs last, so it sees
every other resource; its own role type is included up front.
"""

from __future__ import annotations

from collections.abc import Callable

from awacs.aws import Action, ArnLike, Condition, StringEquals, StringLike
from troposphere import Sub

from .context import Context
from .iam import allow, connection_service, service_role

# The IAM actions CloudFormation needs to create, update, tag and delete each resource type.
# Source: each type's "handlers" permissions in the CloudFormation resource provider schemas
# (aws-cloudformation/aws-cloudformation-resource-providers-*), as published in the CloudFormation
# registry (`aws cloudformation describe-type --type RESOURCE --type-name ...`, "handlers").
RESOURCE_ACTIONS: dict[str, tuple[str, ...]] = {
    "AWS::KMS::Key": (
        "kms:DescribeKey",
        "kms:EnableKeyRotation",
        "kms:DisableKeyRotation",
        "kms:GetKeyRotationStatus",
        "kms:GetKeyPolicy",
        "kms:PutKeyPolicy",
        "kms:ListResourceTags",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateKeyDescription",
        "kms:ScheduleKeyDeletion",
        "kms:EnableKey",
        "kms:DisableKey",
    ),
    "AWS::KMS::Alias": ("kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias", "kms:ListAliases"),
    "AWS::S3::Bucket": (
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:PutEncryptionConfiguration",
        "s3:GetEncryptionConfiguration",
        "s3:PutBucketVersioning",
        "s3:GetBucketVersioning",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketOwnershipControls",
        "s3:GetBucketOwnershipControls",
        "s3:PutLifecycleConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:PutBucketTagging",
        "s3:GetBucketTagging",
        "s3:ListBucket",
        "s3:GetBucketLocation",
    ),
    "AWS::S3::BucketPolicy": ("s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"),
    "AWS::IAM::Role": (
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:GetRole",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy",
        "iam:GetRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:ListRolePolicies",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:PassRole",
    ),
    "AWS::Logs::LogGroup": (
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:DescribeLogGroups",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
        "logs:AssociateKmsKey",
        "logs:DisassociateKmsKey",
        "logs:TagResource",
        "logs:UntagResource",
        "logs:ListTagsForResource",
    ),
    "AWS::CodeBuild::Project": (
        "codebuild:CreateProject",
        "codebuild:UpdateProject",
        "codebuild:DeleteProject",
        "codebuild:BatchGetProjects",
    ),
    # projects with VpcConfig: CodeBuild checks the VPC, subnets and groups as the caller
    "AWS::CodeBuild::Project#vpc": ("ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"),
    # a project with a webhook (feature-branch builds on a CodeStar-connected host)
    "AWS::CodeBuild::Project#webhook": (
        "codebuild:CreateWebhook",
        "codebuild:UpdateWebhook",
        "codebuild:DeleteWebhook",
    ),
    "AWS::CodeBuild::ReportGroup": (
        "codebuild:CreateReportGroup",
        "codebuild:UpdateReportGroup",
        "codebuild:DeleteReportGroup",
        "codebuild:BatchGetReportGroups",
    ),
    "AWS::CodePipeline::Pipeline": (
        "codepipeline:CreatePipeline",
        "codepipeline:UpdatePipeline",
        "codepipeline:DeletePipeline",
        "codepipeline:GetPipeline",
        "codepipeline:GetPipelineState",
        "codepipeline:TagResource",
        "codepipeline:UntagResource",
        "codepipeline:ListTagsForResource",
    ),
    "AWS::Events::Rule": (
        "events:PutRule",
        "events:DeleteRule",
        "events:DescribeRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:ListTargetsByRule",
        "events:TagResource",
        "events:UntagResource",
    ),
    "AWS::SNS::TopicPolicy": ("sns:SetTopicAttributes", "sns:GetTopicAttributes"),
    # approval.notify_emails (registry schema AWS::SNS::Subscription handlers; no firehose role here)
    "AWS::SNS::Subscription": (
        "sns:Subscribe",
        "sns:Unsubscribe",
        "sns:GetSubscriptionAttributes",
        "sns:SetSubscriptionAttributes",
    ),
    "AWS::EC2::SecurityGroup": (
        "ec2:CreateSecurityGroup",
        "ec2:DeleteSecurityGroup",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    ),
    "AWS::EC2::SecurityGroupIngress": ("ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"),
    "AWS::IAM::ManagedPolicy": (
        "iam:CreatePolicy",
        "iam:DeletePolicy",
        "iam:GetPolicy",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:GetPolicyVersion",
        "iam:ListPolicyVersions",
    ),
    # attaching those policies to the approvers: any principal, but only policies of this pipeline
    "AWS::IAM::ManagedPolicy#attach": (
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:AttachUserPolicy",
        "iam:DetachUserPolicy",
        "iam:AttachGroupPolicy",
        "iam:DetachGroupPolicy",
    ),
    "AWS::CodeStarNotifications::NotificationRule": (
        "codestar-notifications:CreateNotificationRule",
        "codestar-notifications:UpdateNotificationRule",
        "codestar-notifications:DeleteNotificationRule",
        "codestar-notifications:DescribeNotificationRule",
        "codestar-notifications:Subscribe",
        "codestar-notifications:Unsubscribe",
        "codestar-notifications:TagResource",
        "codestar-notifications:UntagResource",
    ),
    "AWS::SNS::Topic": (
        "sns:CreateTopic",
        "sns:DeleteTopic",
        "sns:GetTopicAttributes",
        "sns:SetTopicAttributes",
        "sns:TagResource",
        "sns:UntagResource",
        "sns:ListTagsForResource",
    ),
}


def _scopes(ctx: Context) -> dict[str, Callable[[], list]]:
    """Resource ARNs each type's actions are limited to: the names this compiler generates."""
    n = ctx.name_pattern  # one pipeline's name, or every product copy's name prefix (launch roles)
    partition = "arn:${AWS::Partition}"
    vpc = ctx.manifest.network.vpc_id if ctx.manifest.network else "*"
    return {
        "AWS::KMS::Key": lambda: [Sub(f"{partition}:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/*")],
        "AWS::KMS::Alias": lambda: [
            ctx.arn("kms", f"alias/manifestc/{n}"),
            Sub(f"{partition}:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/*"),
        ],
        "AWS::S3::Bucket": lambda: [Sub(f"{partition}:s3:::{ctx.bucket_arn_pattern()}")],
        "AWS::S3::BucketPolicy": lambda: [Sub(f"{partition}:s3:::{ctx.bucket_arn_pattern()}")],
        "AWS::IAM::Role": lambda: [Sub(f"{partition}:iam::${{AWS::AccountId}}:role{ctx.iam_path_pattern}*")],
        "AWS::Logs::LogGroup": lambda: [ctx.arn("logs", f"log-group:/aws/codebuild/{n}-*")],
        "AWS::CodeBuild::Project": lambda: [ctx.arn("codebuild", f"project/{n}-*")],
        "AWS::CodeBuild::Project#webhook": lambda: [ctx.arn("codebuild", f"project/{n}-feature")],
        "AWS::CodeBuild::ReportGroup": lambda: [ctx.arn("codebuild", f"report-group/{n}-*")],
        "AWS::CodePipeline::Pipeline": lambda: [ctx.arn("codepipeline", n)],
        "AWS::Events::Rule": lambda: [ctx.arn("events", f"rule/{n}-*")],
        "AWS::SNS::Topic": lambda: [ctx.arn("sns", f"{n}-*")],
        "AWS::SNS::TopicPolicy": lambda: [ctx.arn("sns", f"{n}-*")],
        # subscription ARNs are the topic's ARN with a suffix
        "AWS::SNS::Subscription": lambda: [ctx.arn("sns", f"{n}-*")],
        "AWS::EC2::SecurityGroup": lambda: [ctx.arn("ec2", "security-group/*"), ctx.arn("ec2", f"vpc/{vpc}")],
        "AWS::EC2::SecurityGroupIngress": lambda: [ctx.arn("ec2", "security-group/*")],
        "AWS::CodeBuild::Project#vpc": lambda: ["*"],
        # managed policies live under the pipeline's IAM path; attaching them needs the principals
        # named as approvers, which are outside the path: scoped by the policy ARN condition instead.
        "AWS::IAM::ManagedPolicy": lambda: [Sub(f"{partition}:iam::${{AWS::AccountId}}:policy{ctx.iam_path_pattern}*")],
        "AWS::IAM::ManagedPolicy#attach": lambda: [
            Sub(f"{partition}:iam::${{AWS::AccountId}}:role/*"),
            Sub(f"{partition}:iam::${{AWS::AccountId}}:user/*"),
            Sub(f"{partition}:iam::${{AWS::AccountId}}:group/*"),
        ],
        "AWS::CodeStarNotifications::NotificationRule": lambda: [
            ctx.arn("codestar-notifications", "notificationrule/*")
        ],
    }


# Actions that accept no resource-level scope (Service Authorization Reference: resource type
# column empty): they are granted on "*" and limited by request tags where the service allows.
UNSCOPED_ACTIONS = frozenset(
    {
        "kms:ListAliases",
        "logs:DescribeLogGroups",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcs",
    }
)


def template_permissions(ctx: Context, template) -> list:
    """What creating, updating and deleting exactly `template`'s resources takes: one statement
    per resource type, scoped to the names manifestc generates (never `*:*`)."""
    types = {r.resource_type for r in template.resources.values()} | {"AWS::IAM::Role"}
    if ctx.manifest.network is not None:
        types.add("AWS::CodeBuild::Project#vpc")
    if "AWS::IAM::ManagedPolicy" in types:
        types.add("AWS::IAM::ManagedPolicy#attach")
    if any(
        "Triggers" in r.properties for r in template.resources.values() if r.resource_type == "AWS::CodeBuild::Project"
    ):
        types.add("AWS::CodeBuild::Project#webhook")
    scopes = _scopes(ctx)
    statements = []
    unscoped: list[str] = []
    for resource_type in sorted(types):
        actions = RESOURCE_ACTIONS.get(resource_type)
        if actions is None:  # a resource type without a permissions entry is a compiler bug
            raise AssertionError(f"no deploy permissions for {resource_type}")
        scoped = [a for a in actions if a not in UNSCOPED_ACTIONS]
        unscoped.extend(a for a in actions if a in UNSCOPED_ACTIONS)
        condition = None
        if resource_type == "AWS::KMS::Key":
            # key ids are random: the key is identified by the pipeline tag it is created with
            condition = Condition(_tag_match(ctx)({"aws:ResourceTag/pipeline": ctx.name_pattern}))
        if resource_type == "AWS::IAM::ManagedPolicy#attach":
            condition = Condition(
                ArnLike(
                    {
                        "iam:PolicyARN": Sub(
                            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy{ctx.iam_path_pattern}*"
                        )
                    }
                )
            )
        sid = resource_type.replace("AWS::", "").replace("::", "").replace("#", "")
        if scoped:
            statements.append(allow([_action(a) for a in scoped], scopes[resource_type](), condition, sid=sid))
        if resource_type == "AWS::KMS::Key":
            # CreateKey has no resource to scope to; the key must be created carrying this pipeline's
            # tag (TagResource is authorised during CreateKey when tags are given).
            statements.append(
                allow(
                    [_action("kms:CreateKey"), _action("kms:TagResource")],
                    ["*"],
                    Condition(_tag_match(ctx)({"aws:RequestTag/pipeline": ctx.name_pattern})),
                    sid="CreateTaggedKey",
                )
            )
    if ctx.manifest.source.provider == "codestar":
        # A pipeline source action (and a webhook project) on a connection is created by passing it.
        service = connection_service(ctx.manifest.source.connection_arn)
        # A provisioner-chosen connection (catalog parameter): in the product template exactly the
        # parameter's value (IAM resources accept a Ref); a launch role (all_copies, in catalog.yaml,
        # where no copy's value is known) may pass the account's connections of that service.
        if not ctx.parameterised("connection_arn"):
            connection = ctx.manifest.source.connection_arn
        elif ctx.all_copies:
            connection = Sub(f"arn:${{AWS::Partition}}:{service}:*:${{AWS::AccountId}}:connection/*")
        else:
            connection = ctx.value("connection_arn")
        statements.append(
            allow(
                [Action(service, "PassConnection"), Action(service, "UseConnection")],
                [connection],
                sid="PassConnection",
            )
        )
    if unscoped:
        statements.append(allow([_action(a) for a in sorted(set(unscoped))], ["*"], sid="NoResourceLevelScope"))
    return statements


def emit_self_update_role(ctx: Context) -> None:
    """The CloudFormation role of the UpdatePipeline stage, when regenerate is on."""
    if not ctx.manifest.regenerate.enabled:
        return
    service_role(ctx, "SelfUpdateRole", "cloudformation.amazonaws.com", template_permissions(ctx, ctx.template))


def _tag_match(ctx: Context):
    """One pipeline's tag is matched exactly; every copy of a product's by its name prefix."""
    return StringLike if ctx.all_copies else StringEquals


def _action(text: str) -> Action:
    prefix, name = text.split(":", 1)
    return Action(prefix, name)
