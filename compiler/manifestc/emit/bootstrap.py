"""Per-account and per-region companion stacks of a pipeline.

bootstrap-<account>.yaml (deployed once in each target account): the deploy role the pipeline
assumes for that account's actions, and the CloudFormation execution role, both trusting only
the pipeline's roles in the tooling account and able to read its artifacts.
support-<region>.yaml (deployed in the tooling account, in each extra region): the regional
artifact bucket and key CodePipeline needs for cross-region actions.
"""

from __future__ import annotations

from awacs import iam as aiam
from awacs import kms, s3, sts
from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    Condition,
    Principal,
    Statement,
    StringEquals,
    StringLike,
)
from troposphere import Ref, Sub, Template, iam

from ..model import Manifest
from .codebuild import (
    ECR_PUSH_ACTIONS,
    ImageCopy,
    LayerPublish,
    copy_repository_arn,
    layer_arn,
    s3_job_statements,
)
from .codepipeline import stack_name
from .context import Context, camel
from .iam import (
    BOUNDARY,
    allow,
    app_role_statements,
    blue_green_statements,
    boundary_policy,
    bucket_key_statement,
    codedeploy_arns,
    ecs_deploy_statements,
    invoke_arns,
    invoke_statements,
    policy,
    replace_failed_stacks,
    service_trust,
    stack_deploy_actions,
)
from .regional_keys import add_key_output
from .storage import emit_storage


def emit_bootstrap(manifest: Manifest, account: str) -> Template:
    ctx = Context(manifest)
    ctx.describe(f"bootstrap of pipeline {manifest.name} for account {account}")
    m = manifest
    tooling = m.account
    envs = [e for e in m.environments if e.account == account]
    statements = _artifact_read(ctx, tooling)
    stacks, pass_roles, exec_policies = [], [], []
    ecs_services, buckets, functions, bucket_keys = [], [], [], []
    invoked: dict[str, list] = {"state_machines": [], "executions": [], "functions": []}
    versions: list = []  # CDK bootstrap version parameters the change sets evaluate
    codedeploy: dict[str, list] = {"applications": [], "groups": [], "configs": []}
    s3_jobs: list = []  # s3 deploy jobs (delete_stale, cloudfront_invalidation) working as this role
    blue_green = False  # a CodeDeployToECS action: it registers task definitions and passes task roles
    layers = [
        layer_arn(LayerPublish(m.resolve_target(m.target(name), env, region).layer, region, None))
        for env in envs
        for name in env.targets
        if m.target(name).type == "lambda_layer"
        for region in m.target_regions(m.target(name), env)
    ]
    for env in envs:
        for name in env.targets:
            # a glue stack is deployed once, in the pipeline's region (codepipeline._glue_actions)
            for region in [None] if m.target(name).type == "glue" else env.regions:
                target = m.resolve_target(m.target(name), env, region)  # per-environment fields
                reg = region or "${AWS::Region}"
                if target.type == "cdk":
                    # each stack of the cloud assembly, like a cloudformation target (emit/cdk.py)
                    from .cdk import bootstrap_version_parameter

                    stacks += [
                        Sub(f"arn:${{AWS::Partition}}:cloudformation:{reg}:${{AWS::AccountId}}:stack/{s}/*")
                        for s in m.cdk_stacks(target, env, region)
                    ]
                    versions.append(bootstrap_version_parameter(m, target, env, region))
                if _deploys_stack(target):
                    stacks.append(
                        Sub(
                            f"arn:${{AWS::Partition}}:cloudformation:{reg}:${{AWS::AccountId}}:"
                            f"stack/{stack_name(m, target, env, region)}/*"
                        )
                    )
                if _deploys_stack(target) or target.type == "cdk":
                    if target.execution_role:
                        pass_roles.append(target.execution_role)
                    else:
                        pass_roles.append(
                            Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{ctx.iam_path}{m.name}-cfn-exec")
                        )
                        exec_policies.extend(p for p in target.execution_policies if p not in exec_policies)
                elif target.type == "ecs" and target.deploy == "blue_green":
                    blue_green = True
                    for kind, arns in codedeploy_arns(target, region, None).items():
                        codedeploy[kind] += arns
                elif target.type == "ecs":
                    ecs_services.append(
                        Sub(
                            f"arn:${{AWS::Partition}}:ecs:{reg}:${{AWS::AccountId}}:"
                            f"service/{target.cluster}/{target.service}"
                        )
                    )
                elif target.type == "s3":
                    if not target.delete_stale:  # the S3 deploy action; a sync job's grants below
                        buckets.append((target.bucket, target.prefix))
                    if target.kms_key:
                        bucket_keys.append(target.kms_key)
                    if target.s3_deploy_job and region == env.regions[0]:  # a bucket is global: once
                        sync = (target.bucket, target.prefix or "") if target.delete_stale else None
                        for statement in s3_job_statements(sync, target.distribution_for(env.name)):
                            statement.Sid += camel(env.name, target.name)  # one set per environment and target
                            s3_jobs.append(statement)
                elif target.invokes:
                    for kind, arns in invoke_arns(target, region, None).items():
                        invoked[kind] += arns
                elif target.type == "codedeploy":
                    for kind, arns in codedeploy_arns(target, region, None).items():
                        codedeploy[kind] += arns
                elif target.type == "lambda":
                    functions.append(
                        Sub(f"arn:${{AWS::Partition}}:lambda:{reg}:${{AWS::AccountId}}:function:{target.function}")
                    )
    if stacks:
        statements.append(
            allow(
                stack_deploy_actions(),
                stacks,
                sid="DeployStacks",
            )
        )
        statements.append(replace_failed_stacks(stacks))
        statements.append(
            allow(
                [aiam.PassRole],
                pass_roles,
                Condition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
                sid="PassExecutionRole",
            )
        )
    if versions:
        # CreateChangeSet resolves a CDK template's BootstrapVersion parameter with the caller's
        # ssm:GetParameters (CDK bootstrap template, deploy role statement ReadVersion)
        statements.append(
            allow([Action("ssm", "GetParameters")], _unique_subs(versions), sid="ReadCdkBootstrapVersion")
        )
    if ecs_services:
        statements += ecs_deploy_statements(ecs_services)
    if buckets:
        statements.append(
            allow(
                [s3.PutObject, s3.PutObjectAcl, s3.GetObject],
                [Sub(f"arn:${{AWS::Partition}}:s3:::{b}/{p or ''}*") for b, p in sorted(set(buckets))],
                sid="DeployToBuckets",
            )
        )
        if bucket_keys:
            statements.append(bucket_key_statement(sorted(set(bucket_keys)), sid="TargetBucketKeys"))
    if functions:
        statements.append(
            allow(
                [
                    Action("lambda", n)
                    for n in ("UpdateFunctionCode", "GetFunction", "GetFunctionConfiguration", "PublishVersion")
                ],
                functions,
                sid="DeployFunctions",
            )
        )
    statements += s3_jobs
    if layers:
        statements.append(allow([Action("lambda", "PublishLayerVersion")], _unique_subs(layers), sid="PublishLayers"))
    copies = [
        copy_repository_arn(ImageCopy(m.target(name).image_repository, region, None))
        for env in envs
        for name in env.targets
        if m.target(name).type == "image_copy"
        for region in m.target_regions(m.target(name), env)
    ]
    if copies:
        statements += [
            # ecr:GetAuthorizationToken has no resource-level scope (it returns a registry login).
            allow([Action("ecr", "GetAuthorizationToken")], ["*"], sid="EcrLogin"),
            allow([Action("ecr", a) for a in ECR_PUSH_ACTIONS], _unique_subs(copies), sid="PushCopies"),
        ]
    if codedeploy["groups"]:
        statements += blue_green_statements(
            *(_unique_subs(codedeploy[k]) for k in ("applications", "groups", "configs")),
            task_statements=blue_green and not ecs_services,
        )
    statements += invoke_statements(
        _unique_subs(invoked["state_machines"]), _unique_subs(invoked["executions"]), _unique_subs(invoked["functions"])
    )
    trust = Statement(
        Effect=Allow,
        Principal=Principal("AWS", Sub(f"arn:${{AWS::Partition}}:iam::{tooling}:root")),
        Action=[sts.AssumeRole],
        Condition=Condition(
            ArnLike({"aws:PrincipalArn": Sub(f"arn:${{AWS::Partition}}:iam::{tooling}:role/manifestc/{m.name}/*")})
        ),
    )
    # the boundary every role of the pipeline's stacks in this account carries (iam.boundary_document)
    ctx.add(boundary_policy(m, retain=True, target_account=True))
    ctx.add(
        iam.Role(
            "DeployRole",
            RoleName=f"{m.name}-deploy",
            Path=ctx.iam_path,
            Description=f"Assumed by pipeline {m.name} in {tooling} to deploy to this account",
            AssumeRolePolicyDocument=policy(trust),
            Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=policy(*statements))],
            PermissionsBoundary=Ref(BOUNDARY),
        )
    )
    _commands_roles(ctx, envs, trust)
    if exec_policies:
        exec_stacks = sorted(
            {
                stack_name(m, m.target(n), e, r)
                for e in envs
                for n in e.targets
                if _deploys_stack(m.target(n))
                for r in ([None] if m.target(n).type == "glue" else e.regions)
            }
            | {
                s
                for e in envs
                for n in e.targets
                if m.target(n).type == "cdk"
                for r in e.regions
                for s in m.cdk_stacks(m.target(n), e, r)
            }
        )
        exec_statements = app_role_statements(m.name, exec_stacks)
        if any(m.target(n).packaged for e in envs for n in e.targets):
            # Lambda fetches a packaged function's code, and CloudFormation a packaged nested
            # template, from the artifact bucket with the caller's (this role's) permissions: read
            # it, and decrypt it with the tooling account's key.
            exec_statements += _artifact_read(ctx, tooling)
        ctx.add(
            iam.Role(
                "CloudFormationExecutionRole",
                RoleName=f"{m.name}-cfn-exec",
                Path=ctx.iam_path,
                Description=f"CloudFormation deploys the stacks of pipeline {m.name} with this role",
                AssumeRolePolicyDocument=service_trust("cloudformation.amazonaws.com"),
                ManagedPolicyArns=[Sub(p.replace("arn:aws:", "arn:${AWS::Partition}:")) for p in exec_policies],
                Policies=[
                    iam.Policy(
                        PolicyName="stack-roles",
                        PolicyDocument=policy(*exec_statements),
                    )
                ],
                PermissionsBoundary=Ref(BOUNDARY),
            )
        )
    ctx.apply_tags()
    return ctx.template


def _unique_subs(items: list) -> list:
    seen, out = set(), []
    for item in items:
        key = repr(item.to_dict())
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _commands_roles(ctx: Context, envs: list, trust: Statement) -> None:
    """The minimal role of each commands target with `permissions` deployed to this account:
    exactly the declared statements, the pipeline's boundary, the deploy role's trust (the
    pipeline's roles in the tooling account; the job's role is the one granted to assume it)."""
    from ..semantics_steps import permissions_role_name
    from .codebuild import commands_statements, declared_statement, partition_arn

    m = ctx.manifest
    for env in envs:
        for name in env.targets:
            target = m.target(name)
            if target.type != "commands" or not target.permissions:
                continue
            statements = [
                declared_statement(number, effect, actions, resources)
                for number, (effect, actions, resources) in enumerate(
                    commands_statements(m, target, env, "${AWS::AccountId}"), start=1
                )
            ]
            props = {
                "RoleName": permissions_role_name(m, env.name, target.name),
                "Path": ctx.iam_path,
                "Description": f"Assumed by the {target.name} commands of pipeline {m.name} in {env.name}",
                "AssumeRolePolicyDocument": policy(trust),
            }
            if statements:
                props["Policies"] = [iam.Policy(PolicyName="declared", PolicyDocument=policy(*statements))]
            props["PermissionsBoundary"] = Ref(BOUNDARY)
            if target.permissions.managed_policies:
                props["ManagedPolicyArns"] = [partition_arn(arn) for arn in target.permissions.managed_policies]
            ctx.add(iam.Role(camel("commands", env.name, target.name, "role"), **props))


def _deploys_stack(target) -> bool:
    """Targets the deploy role deploys as a CloudFormation stack with the execution role: glue
    targets (glue.yaml) as well as cloudformation and lambda template targets."""
    return target.deploys_stack or target.type == "glue"


def _artifact_read(ctx: Context, tooling: str) -> list:
    """Read the pipeline's artifacts in the tooling account, in every region it keeps them."""
    m = ctx.manifest
    regions = [m.region or "*"] + list(m.extra_regions)
    buckets = [ctx.regional_bucket_pattern(r).replace("${AWS::AccountId}", tooling) for r in regions]
    return [
        allow(
            [s3.GetObject, s3.GetObjectVersion],
            [Sub(f"arn:${{AWS::Partition}}:s3:::{b}/*") for b in buckets],
            sid="ReadArtifacts",
        ),
        # The artifact keys live in the tooling account, whose key policies let only this
        # account's bootstrap roles use them; here: only keys of the tooling account, in the regions
        # of the artifact stores, and only through S3 (kms:ViaService, a documented KMS condition
        # key that works across accounts, unlike an alias condition).
        allow(
            [kms.Decrypt, kms.DescribeKey],
            [Sub(f"arn:${{AWS::Partition}}:kms:{r}:{tooling}:key/*") for r in regions],
            Condition(
                StringLike({"kms:ViaService": [Sub(f"s3.{r}.${{AWS::URLSuffix}}") for r in regions]}),
            ),
            sid="DecryptArtifacts",
        ),
    ]


def emit_support(manifest: Manifest, region: str) -> Template:
    """The regional artifact store for cross-region actions (deploy it in `region`)."""
    ctx = Context(manifest)
    ctx.describe(f"artifact store of pipeline {manifest.name} in {region}")
    emit_storage(ctx, home=False)
    add_key_output(ctx.template, manifest, region)
    ctx.apply_tags()
    return ctx.template
