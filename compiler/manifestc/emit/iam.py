"""IAM building blocks: roles with scoped trust, and the statements several emitters share.

Every policy document is built with awacs; actions are awacs constants, which come from AWS's
Service Authorization Reference, so a misspelt action is an AttributeError in tests, not a
silently useless permission.
"""

from __future__ import annotations

from awacs import cloudformation as acfn
from awacs import codebuild, ecs, kms, logs, s3, sts
from awacs import iam as aiam
from awacs.aws import Action, Allow, ArnLike, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import GetAtt, Sub, iam

from .context import Context

VERSION = "2012-10-17"


def policy(*statements: Statement) -> PolicyDocument:
    return PolicyDocument(Version=VERSION, Statement=list(statements))


def allow(actions: list, resources: list, condition: Condition | None = None, sid: str | None = None) -> Statement:
    kwargs = {"Effect": Allow, "Action": actions, "Resource": resources}
    if condition is not None:
        kwargs["Condition"] = condition
    if sid:
        kwargs["Sid"] = sid
    return Statement(**kwargs)


def service_role(
    ctx: Context,
    logical_id: str,
    service: str,
    statements: list[Statement],
    source_arn: Sub | list[Sub] | None = None,
    managed: list[str] | None = None,
) -> iam.Role:
    """A role that only `service` can assume, from this account (and this resource, when given)."""
    props = {
        "Path": ctx.iam_path,
        "AssumeRolePolicyDocument": service_trust(service, source_arn),
        "Policies": [iam.Policy(PolicyName="least-privilege", PolicyDocument=policy(*statements))],
    }
    if managed:
        props["ManagedPolicyArns"] = managed
    return ctx.add(iam.Role(logical_id, **props))


def service_trust(service: str, source_arn: Sub | list[Sub] | None = None) -> PolicyDocument:
    """Trust policy: only `service`, acting for this account (and this resource, when given)."""
    account = StringEquals({"aws:SourceAccount": Sub("${AWS::AccountId}")})
    condition = (
        Condition([account, ArnLike({"aws:SourceArn": source_arn})]) if source_arn is not None else Condition(account)
    )
    return policy(
        Statement(Effect=Allow, Principal=Principal("Service", service), Action=[sts.AssumeRole], Condition=condition)
    )


def artifact_statements(ctx: Context, write: bool = True) -> list[Statement]:
    """Read (and write) pipeline artifacts: the bucket's objects and the artifact key."""
    bucket = GetAtt("ArtifactBucket", "Arn")
    objects = Sub("${ArtifactBucket.Arn}/*")
    object_actions = [s3.GetObject, s3.GetObjectVersion] + ([s3.PutObject] if write else [])
    key_actions = [kms.Decrypt, kms.DescribeKey] + (
        [kms.Encrypt, kms.ReEncryptFrom, kms.ReEncryptTo, kms.GenerateDataKey] if write else []
    )
    return [
        allow(object_actions, [objects], sid="ArtifactObjects"),
        allow([s3.GetBucketAcl, s3.GetBucketLocation, s3.GetBucketVersioning], [bucket], sid="ArtifactBucket"),
        allow(key_actions, [GetAtt("ArtifactKey", "Arn")], sid="ArtifactKey"),
    ]


def log_statements(ctx: Context, purpose: str) -> list[Statement]:
    group = ctx.arn("logs", f"log-group:{ctx.log_group_name(purpose)}")
    streams = ctx.arn("logs", f"log-group:{ctx.log_group_name(purpose)}:log-stream:*")
    return [allow([logs.CreateLogStream, logs.PutLogEvents], [group, streams], sid="BuildLogs")]


def report_statements(report_group_ids: list[str]) -> list[Statement]:
    if not report_group_ids:
        return []
    return [
        allow(
            [
                codebuild.CreateReport,
                codebuild.UpdateReport,
                codebuild.BatchPutTestCases,
                codebuild.BatchPutCodeCoverages,
            ],
            [GetAtt(logical_id, "Arn") for logical_id in report_group_ids],
            sid="TestReports",
        )
    ]


def connection_service(connection_arn: str) -> str:
    """The IAM service prefix of a connection: `codestar-connections` or `codeconnections`,
    as its ARN says (connections created since the 2024 rename are codeconnections)."""
    return connection_arn.split(":")[2]


def ecs_deploy_statements(services: list) -> list[Statement]:
    """What the ECS standard deploy action needs (CodePipeline User Guide, "Service role
    permissions: Amazon ECS standard action"), for the given service ARNs."""
    return [
        allow([ecs.DescribeServices, ecs.UpdateService], services, sid="DeployEcsServices"),
        # Task definitions are registered by family name at deploy time: no resource-level scope.
        allow(
            [ecs.RegisterTaskDefinition, ecs.DescribeTaskDefinition, ecs.DescribeTasks, ecs.ListTasks, ecs.TagResource],
            ["*"],
            sid="EcsTaskDefinitions",
        ),
        allow(
            [aiam.PassRole],
            ["*"],
            Condition(StringEquals({"iam:PassedToService": "ecs-tasks.amazonaws.com"})),
            sid="PassTaskRoles",
        ),
    ]


def key_admin_statement() -> Statement:
    """The default key policy statement: all key access is delegated to IAM policies of this
    account, which grant each role only the kms actions it needs on the key."""
    return Statement(
        Sid="AccountAdministersKeyThroughIam",
        Effect=Allow,
        Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
        Action=[Action("kms", "*")],
        Resource=["*"],
    )


def logs_key_statement(sid: str, log_groups: Sub) -> Statement:
    """Let CloudWatch Logs encrypt the given log groups with the key (in a key policy "*" is the key)."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
        Action=[kms.Encrypt, kms.Decrypt, kms.ReEncryptFrom, kms.ReEncryptTo, kms.GenerateDataKey, kms.DescribeKey],
        Resource=["*"],
        Condition=Condition(ArnLike({"kms:EncryptionContext:aws:logs:arn": log_groups})),
    )


def stack_deploy_actions() -> list:
    """What a CodePipeline CloudFormation action does to its stack (create/update, change sets)."""
    return [
        acfn.CreateStack,
        acfn.UpdateStack,
        acfn.DescribeStacks,
        acfn.CreateChangeSet,
        acfn.DescribeChangeSet,
        acfn.ExecuteChangeSet,
        acfn.DeleteChangeSet,
    ]


def replace_failed_stacks(stacks: list) -> Statement:
    """A CloudFormation action meeting its stack in ROLLBACK_COMPLETE (a first create that failed)
    deletes the stack and creates it again; DescribeStackEvents lets CodePipeline show the failed
    resource (CodePipeline User Guide, "AWS CloudFormation deploy action reference"). Only the
    app stacks: never the pipeline's own stack."""
    return allow(
        [acfn.DeleteStack, acfn.DescribeStackEvents],
        stacks,
        sid="ReplaceFailedStacks",
    )
