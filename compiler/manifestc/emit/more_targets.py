"""Roles and grants of the elasticbeanstalk and servicecatalog deploy actions (README `targets`).

The Elastic Beanstalk deploy action needs broad permissions (CodePipeline User Guide, "Elastic
Beanstalk deploy action reference", service role permissions: the services an environment update
drives through CloudFormation). They go to a role of their own that only the pipeline role may
assume and only the Beanstalk actions run as, never to the pipeline role.
"""

from __future__ import annotations

from awacs import kms
from awacs.aws import Action, Allow, Condition, Deny, ForAnyValueStringEquals, Principal, Statement
from troposphere import GetAtt, Ref, Sub, iam

from .context import Context
from .iam import BOUNDARY, allow, artifact_statements, policy

BEANSTALK_ROLE = "BeanstalkDeployRole"


def beanstalk_role_path(ctx: Context) -> str:
    """The Beanstalk deploy role's own IAM path: the pipeline role's grant to assume it names the
    path (its ARN would make the two roles depend on each other: the trust names the pipeline role),
    and no other role is created under it."""
    return f"{ctx.iam_path}beanstalk/"


def beanstalk_role_arns(ctx: Context) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{beanstalk_role_path(ctx)}*")


# CodePipeline User Guide, "Elastic Beanstalk deploy action reference" > "Service role permissions:
# ElasticBeanstalk deploy action": the minimum permissions of a pipeline with that action.
BEANSTALK_SERVICES = (
    "elasticbeanstalk",
    "ec2",
    "elasticloadbalancing",
    "autoscaling",
    "cloudwatch",
    "s3",
    "sns",
    "cloudformation",
    "rds",
    "sqs",
    "ecs",
)

_BEANSTALK_SKIP = (
    "The Elastic Beanstalk deploy action drives the environment's update through CloudFormation with "
    "the caller's permissions: CodePipeline documents these service-wide grants as its minimum. They "
    "are confined to this role, which only the pipeline role may assume and only the Beanstalk "
    "actions use, and bounded by the pipeline's permissions boundary (no IAM escalation)."
)


def emit_beanstalk_role(ctx: Context) -> None:
    """The role the Elastic Beanstalk deploy actions run as (action RoleArn), in the pipeline's
    account: the documented service grants, reading (decrypting) the pipeline's artifacts. An
    emitter after the topics' (it is denied them all)."""
    m = ctx.manifest
    if not any(m.target(name).type == "elasticbeanstalk" for env in m.environments for name in env.targets):
        return
    statements = [
        allow([Action(service, "*") for service in BEANSTALK_SERVICES], ["*"], sid="ElasticBeanstalkDeploy"),
        *artifact_statements(ctx, write=False),
    ]
    if m.extra_regions:
        statements.append(
            allow(
                [kms.Decrypt, kms.DescribeKey],
                [Sub(f"arn:${{AWS::Partition}}:kms:{r}:${{AWS::AccountId}}:key/*") for r in m.extra_regions],
                Condition(ForAnyValueStringEquals({"kms:ResourceAliases": ctx.key_alias})),
                sid="RegionalArtifactKeys",
            )
        )
    # Nothing of the pipeline's own: its artifacts (what later stages deploy) and its topics (the
    # approval requests) stay out of the documented s3:* and sns:* grants.
    own_topics = sorted(k for k, r in ctx.template.resources.items() if r.resource_type == "AWS::SNS::Topic")
    statements.append(
        Statement(
            Sid="NotThePipelinesArtifacts",
            Effect=Deny,
            Action=[Action("s3", a) for a in ("PutObject", "DeleteObject", "DeleteObjectVersion", "PutObjectAcl")],
            Resource=[Sub("${ArtifactBucket.Arn}/*")],
        )
    )
    if own_topics:
        statements.append(
            Statement(
                Sid="NotThePipelinesTopics",
                Effect=Deny,
                Action=[
                    Action("sns", a)
                    for a in (
                        "Publish",
                        "Subscribe",
                        "SetTopicAttributes",
                        "DeleteTopic",
                        "AddPermission",
                        "RemovePermission",
                        "TagResource",
                        "UntagResource",
                    )
                ],
                Resource=[Ref(t) for t in own_topics],
            )
        )
    trust = Statement(
        Effect=Allow,
        Principal=Principal("AWS", GetAtt("PipelineRole", "Arn")),
        Action=[Action("sts", "AssumeRole")],
    )
    ctx.add(
        iam.Role(
            BEANSTALK_ROLE,
            Path=beanstalk_role_path(ctx),
            Description=f"Elastic Beanstalk deploy actions of pipeline {m.name}",
            AssumeRolePolicyDocument=policy(trust),
            Policies=[iam.Policy(PolicyName="elastic-beanstalk-deploy", PolicyDocument=policy(*statements))],
            PermissionsBoundary=Ref(BOUNDARY),
            Metadata={
                "checkov": {
                    "skip": [
                        {"id": check, "comment": _BEANSTALK_SKIP}
                        for check in ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111")
                    ]
                }
            },
        )
    )


def servicecatalog_statements(products: list, validate: bool) -> list[Statement]:
    """What the Service Catalog deploy action needs (CodePipeline User Guide, "AWS Service Catalog
    deploy action reference", service role permissions) on exactly the named products;
    cloudformation:ValidateTemplate has no resource-level scope."""
    sc = "servicecatalog"
    out = [
        allow(
            [
                Action(sc, name)
                for name in (
                    "ListProvisioningArtifacts",
                    "CreateProvisioningArtifact",
                    "DescribeProvisioningArtifact",
                    "DeleteProvisioningArtifact",
                    "UpdateProduct",
                )
            ],
            products,
            sid="PublishProductVersions",
        )
    ]
    if validate:
        out.append(allow([Action("cloudformation", "ValidateTemplate")], ["*"], sid="ValidateProductTemplates"))
    return out
