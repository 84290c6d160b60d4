"""CodePipeline (type V2): stages, actions, artifact wiring, the pipeline role, the source event
rule, the approval topic and the CloudFormation execution roles of the deploy targets.

Stages (SPEC §5.1): Source -> UpdatePipeline -> Build (+ tests after build) -> one per environment
(change set prepare -> optional approval -> execute -> post-deploy tests).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from awacs import cloudformation as acfn
from awacs import codebuild, codecommit, codepipeline
from awacs import iam as aiam
from awacs import sns as asns
from awacs.aws import Allow, Condition, Principal, Statement, StringEquals
from troposphere import GetAtt, Ref, Sub, events, sns
from troposphere import codepipeline as cp

from .. import aws
from ..model import Environment, Manifest, Target, render_placeholders
from .codebuild import BuildJob, build_jobs
from .context import Context, camel
from .iam import allow, artifact_statements, policy, service_role

SOURCE = "Source"
BUILD_OUTPUT = "BuildOutput"
SELF_UPDATE = "SelfUpdate"


@dataclass
class Wiring:
    """What the pipeline role must be allowed to touch, collected while stages are built."""

    projects: list[str] = field(default_factory=list)
    stacks: list[Sub] = field(default_factory=list)
    pass_roles: list = field(default_factory=list)
    topics: list = field(default_factory=list)


def action_type(kind: str) -> cp.ActionTypeId:
    spec = aws.ACTION_TYPES[kind]
    return cp.ActionTypeId(Category=spec.category, Owner=spec.owner, Provider=spec.provider, Version=spec.version)


def action(
    kind: str,
    name: str,
    configuration: dict,
    run_order: int = 1,
    inputs: tuple[str, ...] = (),
    outputs: tuple[str, ...] = (),
    **extra,
) -> cp.Actions:
    """An action whose configuration keys are checked against the ACTION_TYPES table."""
    spec = aws.ACTION_TYPES[kind]
    keys = set(configuration)
    missing = spec.required - keys
    unknown = keys - spec.required - spec.optional
    if missing or unknown:  # a compiler bug, never user input
        raise AssertionError(f"{kind} action {name}: missing {sorted(missing)}, unknown {sorted(unknown)}")
    props = {"Name": name, "ActionTypeId": action_type(kind), "Configuration": configuration, "RunOrder": run_order}
    if inputs:
        props["InputArtifacts"] = [cp.InputArtifacts(Name=i) for i in inputs]
    if outputs:
        props["OutputArtifacts"] = [cp.OutputArtifacts(Name=o) for o in outputs]
    props.update(extra)
    return cp.Actions(**props)


def _codebuild_action(
    ctx: Context,
    job: BuildJob,
    name: str,
    wiring: Wiring,
    run_order: int,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...] = (),
    test: bool = False,
) -> cp.Actions:
    wiring.projects.append(job.purpose)
    return action(
        "codebuild-test" if test else "codebuild",
        name,
        {"ProjectName": Ref(f"{job.logical_prefix}Project")},
        run_order,
        inputs,
        outputs,
    )


def emit_pipeline(ctx: Context) -> None:
    m = ctx.manifest
    jobs = {job.purpose: job for job in build_jobs(m)}
    wiring = Wiring()
    stages = [_source_stage(m)]
    if m.regenerate.enabled:
        stages.append(_update_stage(ctx, jobs["update"], wiring))
    build_actions = [_codebuild_action(ctx, jobs["build"], "Build", wiring, 1, (SOURCE,), (BUILD_OUTPUT,))]
    for suite in m.tests_after("build"):
        build_actions.append(
            _codebuild_action(ctx, jobs[f"test-{suite.name}"], f"Test-{suite.name}", wiring, 2, (SOURCE,), test=True)
        )
    stages.append(cp.Stages(Name="Build", Actions=build_actions))
    for env in m.environments:
        stages.append(_environment_stage(ctx, env, jobs, wiring))

    _pipeline_role(ctx, wiring)
    ctx.add(
        cp.Pipeline(
            "Pipeline",
            Name=m.name,
            PipelineType="V2",
            ExecutionMode="QUEUED",
            RestartExecutionOnUpdate=True,
            RoleArn=GetAtt("PipelineRole", "Arn"),
            ArtifactStore=cp.ArtifactStore(
                Type="S3",
                Location=Ref("ArtifactBucket"),
                EncryptionKey=cp.EncryptionKey(Id=GetAtt("ArtifactKey", "Arn"), Type="KMS"),
            ),
            Stages=stages,
        )
    )
    _source_rule(ctx)


def _source_stage(m: Manifest) -> cp.Stages:
    config = {
        "RepositoryName": m.source.repository,
        "BranchName": m.source.branch,
        "PollForSourceChanges": "false",  # started by the EventBridge rule instead
        "OutputArtifactFormat": "CODE_ZIP",
    }
    return cp.Stages(Name="Source", Actions=[action("codecommit", "Source", config, outputs=(SOURCE,))])


def _update_stage(ctx: Context, job: BuildJob, wiring: Wiring) -> cp.Stages:
    stack = Sub("arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${AWS::StackName}/*")
    wiring.stacks.append(stack)
    wiring.pass_roles.append(GetAtt("SelfUpdateRole", "Arn"))
    return cp.Stages(
        Name="UpdatePipeline",
        Actions=[
            _codebuild_action(ctx, job, "Recompile", wiring, 1, (SOURCE,), (SELF_UPDATE,)),
            action(
                "cloudformation",
                "UpdatePipelineStack",
                {
                    "ActionMode": "CREATE_UPDATE",
                    "StackName": Ref("AWS::StackName"),
                    "TemplatePath": f"{SELF_UPDATE}::pipeline.yaml",
                    "Capabilities": "CAPABILITY_IAM,CAPABILITY_NAMED_IAM",
                    "RoleArn": GetAtt("SelfUpdateRole", "Arn"),
                },
                2,
                (SELF_UPDATE,),
            ),
        ],
    )


def _region_value(region: str | None) -> str:
    return region or "${AWS::Region}"


def _subbed(text: str) -> Sub | str:
    return Sub(text) if "${" in text else text


def _stack_name(m: Manifest, target: Target, env: Environment, region: str | None) -> str:
    return render_placeholders(target.stack, environment=env.name, region=_region_value(region), name=m.name)


def _environment_stage(ctx: Context, env: Environment, jobs: dict[str, BuildJob], wiring: Wiring) -> cp.Stages:
    m = ctx.manifest
    prepare, execute = [], []
    multi_region = len(env.regions) > 1
    for target_name in env.targets:
        target = m.target(target_name)
        for region in env.regions:
            suffix = f"-{region}" if multi_region and region else ""
            stack = _stack_name(m, target, env, region)
            stack_arn = Sub(
                f"arn:${{AWS::Partition}}:cloudformation:{_region_value(region)}:${{AWS::AccountId}}:"
                f"stack/{stack.replace('${!', '${')}/*"
            )
            wiring.stacks.append(stack_arn)
            role = _execution_role(ctx, env, target)
            wiring.pass_roles.append(role)
            parameters = {
                key: render_placeholders(
                    value.replace("${", "${!"), environment=env.name, region=_region_value(region), name=m.name
                )
                for key, value in target.parameters
            }
            base = {
                "StackName": _subbed(stack),
                "TemplatePath": f"{BUILD_OUTPUT}::{target.template}",
                "Capabilities": ",".join(target.capabilities),
                "RoleArn": role,
            }
            if parameters:
                text = json.dumps(parameters, sort_keys=True)
                base["ParameterOverrides"] = _subbed(text)
            change_set = f"{m.name}-{target.name}"
            if target.change_set:
                prepare.append(
                    action(
                        "cloudformation",
                        f"{target.name}{suffix}-prepare",
                        {"ActionMode": "CHANGE_SET_REPLACE", "ChangeSetName": change_set, **base},
                        1,
                        (BUILD_OUTPUT,),
                    )
                )
                execute.append(
                    action(
                        "cloudformation",
                        f"{target.name}{suffix}-deploy",
                        {"ActionMode": "CHANGE_SET_EXECUTE", "ChangeSetName": change_set, "StackName": _subbed(stack)},
                        3,
                    )
                )
            else:
                execute.append(
                    action(
                        "cloudformation",
                        f"{target.name}{suffix}-deploy",
                        {"ActionMode": "CREATE_UPDATE", **base},
                        3,
                        (BUILD_OUTPUT,),
                    )
                )
    actions = prepare
    if env.approval:
        wiring.topics.append(Ref("ApprovalTopic"))
        _approval_topic(ctx)
        actions.append(
            action(
                "manual-approval",
                "approve",
                {
                    "NotificationArn": Ref("ApprovalTopic"),
                    "CustomData": f"Review the change sets of {m.name} for {env.name}, then approve to deploy.",
                },
                2,
            )
        )
    actions.extend(execute)
    for suite in m.tests_after(env.name):
        actions.append(
            _codebuild_action(ctx, jobs[f"test-{suite.name}"], f"Test-{suite.name}", wiring, 4, (SOURCE,), test=True)
        )
    return cp.Stages(Name=env.name, Actions=_compact_run_orders(actions))


def _compact_run_orders(actions: list[cp.Actions]) -> list[cp.Actions]:
    """Renumber run orders 1..n keeping their relative order (e.g. no approval leaves a gap)."""
    orders = sorted({a.RunOrder for a in actions})
    mapping = {order: index + 1 for index, order in enumerate(orders)}
    for a in actions:
        a.RunOrder = mapping[a.RunOrder]
    return actions


def _approval_topic(ctx: Context) -> None:
    if "ApprovalTopic" in ctx.template.resources:
        return
    ctx.add(
        sns.Topic(
            "ApprovalTopic",
            TopicName=f"{ctx.name}-approvals",
            KmsMasterKeyId=GetAtt("ArtifactKey", "Arn"),
            DisplayName=f"{ctx.name} approvals",
        )
    )


def _execution_role(ctx: Context, env: Environment, target: Target):
    """The role CloudFormation uses to deploy a target's stack: given, or created per environment.

    The created role gets the target's managed policies (PowerUserAccess by default, which has no
    IAM) plus IAM role management limited to roles named after the stacks it deploys, so an app
    stack can create its own roles but not touch anyone else's.
    """
    if target.execution_role:
        return target.execution_role
    logical_id = camel("deploy", env.name, target.name, "role")
    if logical_id in ctx.template.resources:
        return GetAtt(logical_id, "Arn")
    m = ctx.manifest
    stacks = sorted({_stack_name(m, target, env, region) for region in env.regions})
    role_arns = [Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{s}-*") for s in stacks]
    statements = [
        allow(
            [
                aiam.CreateRole,
                aiam.DeleteRole,
                aiam.GetRole,
                aiam.UpdateRole,
                aiam.TagRole,
                aiam.UntagRole,
                aiam.PutRolePolicy,
                aiam.DeleteRolePolicy,
                aiam.GetRolePolicy,
                aiam.AttachRolePolicy,
                aiam.DetachRolePolicy,
                aiam.UpdateAssumeRolePolicy,
                aiam.PassRole,
            ],
            role_arns,
            sid="RolesOfThisStack",
        ),
    ] + artifact_statements(ctx, write=False)
    service_role(
        ctx,
        logical_id,
        "cloudformation.amazonaws.com",
        statements,
        managed=[Sub(p.replace("arn:aws:", "arn:${AWS::Partition}:")) for p in target.execution_policies],
    )
    return GetAtt(logical_id, "Arn")


def _pipeline_role(ctx: Context, wiring: Wiring) -> None:
    m = ctx.manifest
    repo = ctx.arn("codecommit", m.source.repository)
    statements = artifact_statements(ctx) + [
        allow(
            [
                codecommit.GetBranch,
                codecommit.GetCommit,
                codecommit.GetRepository,
                codecommit.UploadArchive,
                codecommit.GetUploadArchiveStatus,
                codecommit.CancelUploadArchive,
            ],
            [repo],
            sid="SourceRepository",
        ),
        allow(
            [codebuild.BatchGetBuilds, codebuild.StartBuild],
            [ctx.project_arn(p) for p in dict.fromkeys(wiring.projects)],
            sid="RunBuilds",
        ),
    ]
    if wiring.stacks:
        statements.append(
            allow(
                [
                    acfn.CreateStack,
                    acfn.UpdateStack,
                    acfn.DescribeStacks,
                    acfn.CreateChangeSet,
                    acfn.DescribeChangeSet,
                    acfn.ExecuteChangeSet,
                    acfn.DeleteChangeSet,
                ],
                _unique(wiring.stacks),
                sid="DeployStacks",
            )
        )
        statements.append(
            allow(
                [aiam.PassRole],
                _unique(wiring.pass_roles),
                Condition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
                sid="PassDeployRoles",
            )
        )
    if wiring.topics:
        statements.append(allow([asns.Publish], _unique(wiring.topics), sid="ApprovalNotifications"))
    service_role(ctx, "PipelineRole", "codepipeline.amazonaws.com", statements)


def _unique(items: list) -> list:
    seen, out = set(), []
    for item in items:
        key = json.dumps(item.to_dict() if hasattr(item, "to_dict") else item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _source_rule(ctx: Context) -> None:
    """CodeCommit pushes start the pipeline through EventBridge (no polling)."""
    m = ctx.manifest
    service_role(
        ctx,
        "SourceRuleRole",
        "events.amazonaws.com",
        [allow([codepipeline.StartPipelineExecution], [ctx.pipeline_arn], sid="StartPipeline")],
    )
    ctx.add(
        events.Rule(
            "SourceRule",
            Name=f"{m.name}-source",
            Description=f"Start pipeline {m.name} on pushes to {m.source.repository}@{m.source.branch}",
            State="ENABLED",
            EventPattern={
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Repository State Change"],
                "resources": [ctx.arn("codecommit", m.source.repository)],
                "detail": {
                    "event": ["referenceCreated", "referenceUpdated"],
                    "referenceType": ["branch"],
                    "referenceName": [m.source.branch],
                },
            },
            Targets=[events.Target(Id="pipeline", Arn=ctx.pipeline_arn, RoleArn=GetAtt("SourceRuleRole", "Arn"))],
        )
    )


__all__ = ["Allow", "Principal", "Statement", "action", "emit_pipeline", "policy"]
