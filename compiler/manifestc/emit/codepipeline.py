"""CodePipeline (type V2): stages, actions, artifact wiring, the pipeline role, source triggers,
approvals and the CloudFormation execution roles of same-account deploy targets.

Stages (SPEC §5.1): Source -> UpdatePipeline -> Build (+ tests after build) -> Quality (gates, in
parallel) -> one per environment (prepare change sets -> optional approval -> deploy, in
parallel across regions and targets -> post-deploy tests).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from awacs import codebuild, codecommit, codepipeline, sts
from awacs import iam as aiam
from awacs import s3 as as3
from awacs import sns as asns
from awacs.aws import Action, Condition, ForAnyValueStringEquals, StringEquals
from troposphere import GetAtt, Ref, Sub, events, iam, sns
from troposphere import codepipeline as cp

from .. import aws
from .. import variables as var
from ..model import Environment, Manifest, Target, render_placeholders, variable_entries
from ..order import deploy_levels
from .catalog import self_update_parameter_overrides
from .codebuild import (
    APPROVAL_CHECK,
    PRIMARY_ARTIFACT,
    BuildJob,
    build_jobs,
    commands_job_purpose,
    deploy_role_arn,
    glue_job_purpose,
    lambda_job_purpose,
    step_account,
)
from .context import Context, approvers_policy_name, camel
from .glue import script_key_parameter, template_compiled_in_build
from .iam import (
    allow,
    app_role_statements,
    artifact_statements,
    blue_green_statements,
    bucket_key_statement,
    codedeploy_arns,
    connection_actions,
    connection_resources,
    ecs_deploy_statements,
    invoke_arns,
    invoke_statements,
    policy,
    replace_failed_stacks,
    service_role,
    stack_deploy_actions,
)
from .more_targets import BEANSTALK_ROLE, beanstalk_role_arns, servicecatalog_statements
from .regional_keys import add_key_parameters, regional_key_id

SOURCE = "Source"
BUILD_OUTPUT = PRIMARY_ARTIFACT  # the build's primary output artifact
SELF_UPDATE = "SelfUpdate"
GLUE_TEMPLATE = "GlueTemplate"
# Namespace of the CodeStarSourceConnection action's output variables (AuthorDate, BranchName,
# CommitId, CommitMessage, ConnectionArn, FullRepositoryName: CodePipeline User Guide,
# "CodeStarSourceConnection ... action reference", Output variables).
SOURCE_NAMESPACE = "SourceVariables"


@dataclass
class Wiring:
    """What the pipeline role must be allowed to touch, collected while stages are built."""

    projects: list[str] = field(default_factory=list)
    batch_projects: list[str] = field(default_factory=list)
    stacks: list = field(default_factory=list)
    app_stacks: list = field(default_factory=list)  # the stacks of targets (not the pipeline's own)
    pass_roles: list = field(default_factory=list)
    assume_roles: list[str] = field(default_factory=list)
    topics: list = field(default_factory=list)
    ecs_services: list = field(default_factory=list)
    s3_targets: list = field(default_factory=list)
    s3_keys: list = field(default_factory=list)  # KMS keys of those buckets' default encryption
    state_machines: list = field(default_factory=list)
    executions: list = field(default_factory=list)
    functions: list = field(default_factory=list)
    codedeploy_apps: list = field(default_factory=list)
    codedeploy_groups: list = field(default_factory=list)
    codedeploy_configs: list = field(default_factory=list)
    blue_green: bool = False  # a CodeDeployToECS action (its ECS statements join the CodeDeploy ones)
    beanstalk: bool = False  # an Elastic Beanstalk action: the Beanstalk deploy role is emitted
    products: list = field(default_factory=list)  # Service Catalog products the pipeline publishes
    variables: list[dict] = field(default_factory=list)  # the pipeline variables handed to builds, tests and gates
    ssm_parameters: list = field(default_factory=list)  # CDK bootstrap versions the change sets evaluate


def deploy_input(target: Target) -> str:
    """The build artifact a target deploys from: its `build_artifact` (a secondary output artifact
    of the build action), else the primary one."""
    return target.build_artifact or BUILD_OUTPUT


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
    props.update({k: v for k, v in extra.items() if v is not None})
    return cp.Actions(**props)


def _codebuild_action(
    job: BuildJob,
    name: str,
    wiring: Wiring,
    run_order: int,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...] = (),
    test: bool = False,
    variables: list[dict] | None = None,
    pipeline_variables: bool = False,
    **extra,
) -> cp.Actions:
    wiring.projects.append(job.purpose)
    config: dict = {"ProjectName": Ref(f"{job.logical_prefix}Project")}
    # Action-level: resolved by CodePipeline (#{namespace.VARIABLE}) per execution. The pipeline
    # variables (top-level `variables`) come first; an action's own `env` cannot reuse their names
    # (MC313), so no entry shadows another.
    handed = (wiring.variables if pipeline_variables else []) + list(variables or [])
    if handed:
        config["EnvironmentVariables"] = _subbed(json.dumps(handed))
    if len(inputs) > 1:  # CodeBuild needs to know which input is the source (the others are secondary)
        config["PrimarySource"] = inputs[0]
    if job.batched:
        wiring.batch_projects.append(job.purpose)
        config.update({"BatchEnabled": "true", "CombineArtifacts": "true"})
    return action("codebuild-test" if test else "codebuild", name, config, run_order, inputs, outputs, **extra)


def emit_pipeline(ctx: Context) -> None:
    m = ctx.manifest
    jobs = {job.purpose: job for job in build_jobs(m)}
    wiring = Wiring(variables=variable_entries(m.variables))
    stages = [_source_stage(ctx)]
    if m.regenerate.enabled:
        stages.append(_update_stage(ctx, jobs["update"], wiring))
    build_actions = [
        _codebuild_action(
            jobs["build"],
            "Build",
            wiring,
            1,
            (SOURCE,),
            (BUILD_OUTPUT, *(name for name, _, _ in m.build.secondary_artifacts)),
            pipeline_variables=True,
            Namespace=var.BUILD_NAMESPACE if m.build.exports else None,
        )
    ]
    for suite in m.tests_after("build"):
        build_actions.append(
            _codebuild_action(
                jobs[f"test-{suite.name}"],
                f"Test-{suite.name}",
                wiring,
                2,
                (SOURCE, BUILD_OUTPUT) if suite.ephemeral_stack else (SOURCE,),  # a test stack's template
                test=True,
                variables=_suite_variables(m, suite, None),
                pipeline_variables=True,
            )
        )
    if "glue-template" in jobs:
        build_actions.append(
            _codebuild_action(jobs["glue-template"], "GlueTemplate", wiring, 1, (SOURCE,), (GLUE_TEMPLATE,))
        )
    # An image is pushed as candidate-<commit> and tagged <commit> (what deploys use) only after
    # the Build stage's tests and the quality gates passed.
    promote = (
        _codebuild_action(
            jobs["promote-image"],
            "PromoteImage",
            wiring,
            2 if m.quality_gates or not m.tests_after("build") else 3,
            (SOURCE,),
        )
        if "promote-image" in jobs
        else None
    )
    if promote is not None and not m.quality_gates:
        build_actions.append(promote)
    stages.append(cp.Stages(Name="Build", Actions=build_actions))
    if m.quality_gates:
        gates = [
            _codebuild_action(
                jobs[f"gate-{g.name}"],
                f"Gate-{g.name}",
                wiring,
                1,
                (SOURCE, BUILD_OUTPUT) if g.name == "iac-scan" else (SOURCE,),
                test=True,
                pipeline_variables=True,
            )
            for g in m.quality_gates
        ]
        stages.append(cp.Stages(Name="Quality", Actions=gates + ([promote] if promote is not None else [])))
    for env in m.environments:
        stages.append(_environment_stage(ctx, env, jobs, wiring))

    _pipeline_role(ctx, wiring)
    props = {
        "Name": m.name,
        "PipelineType": "V2",
        "ExecutionMode": "QUEUED",
        "RestartExecutionOnUpdate": True,
        "RoleArn": GetAtt("PipelineRole", "Arn"),
        "Stages": stages,
    }
    home_store = cp.ArtifactStore(
        Type="S3",
        Location=Ref("ArtifactBucket"),
        EncryptionKey=cp.EncryptionKey(Id=GetAtt("ArtifactKey", "Arn"), Type="KMS"),
    )
    if m.extra_regions:
        add_key_parameters(ctx)
        props["ArtifactStores"] = [cp.ArtifactStoreMap(Region=m.region, ArtifactStore=home_store)] + [
            cp.ArtifactStoreMap(
                Region=region,
                ArtifactStore=cp.ArtifactStore(
                    Type="S3",
                    Location=ctx.regional_bucket_name(region),
                    EncryptionKey=cp.EncryptionKey(Id=regional_key_id(ctx, region), Type="KMS"),
                ),
            )
            for region in m.extra_regions
        ]
    else:
        props["ArtifactStore"] = home_store
    if m.variables:
        props["Variables"] = [
            cp.VariableDeclaration(
                Name=v.name, DefaultValue=v.default, **({"Description": v.description} if v.description else {})
            )
            for v in m.variables
        ]
    if m.source.provider == "codestar" and m.source.trigger == "push":
        props["Triggers"] = [_codestar_trigger(ctx)]
    ctx.add(cp.Pipeline("Pipeline", **props))
    if m.source.trigger == "push":
        _source_rule(ctx)
    _schedule_rule(ctx)


def _source_stage(ctx: Context) -> cp.Stages:
    m = ctx.manifest
    source = m.source
    if source.provider == "codestar":
        config = {
            "ConnectionArn": ctx.value("connection_arn"),
            "FullRepositoryId": ctx.value("repository"),
            "BranchName": ctx.value("branch"),
            "OutputArtifactFormat": "CODE_ZIP",
        }
        if source.trigger == "manual":
            # No V2 trigger, and no start on pushes to BranchName either (CodeStarSourceConnection
            # action reference: DetectChanges, default true).
            config["DetectChanges"] = "false"
        # the pushed branch, read by the self-update stage's entry condition (_update_stage)
        namespace = SOURCE_NAMESPACE if _update_only_from_branch(m) else None
        act = action("codestar", "Source", config, outputs=(SOURCE,), Namespace=namespace)
    elif source.provider == "s3":
        config = {"S3Bucket": source.bucket, "S3ObjectKey": source.key, "PollForSourceChanges": "false"}
        act = action("s3-source", "Source", config, outputs=(SOURCE,))
    else:
        config = {
            "RepositoryName": ctx.value("repository"),
            "BranchName": ctx.value("branch"),
            "PollForSourceChanges": "false",  # started by the EventBridge rule instead
            "OutputArtifactFormat": "CODE_ZIP",
        }
        act = action("codecommit", "Source", config, outputs=(SOURCE,))
    return cp.Stages(Name="Source", Actions=[act])


def _codestar_trigger(ctx: Context) -> cp.PipelineTriggerDeclaration:
    """V2 trigger: with `tags`, pushes of matching tags only (a release pipeline: a push filter
    with branches would also start it on every branch push); otherwise pushes to the branch
    (touching `paths`, when given). Each push filter of a trigger starts the pipeline on its own
    (CodePipeline User Guide, "Add trigger with code push or pull request event types")."""
    m = ctx.manifest
    if m.source.tags:
        pushes = [cp.GitPushFilter(Tags=cp.GitTagFilterCriteria(Includes=list(m.source.tags)))]
    else:
        branches = {"Includes": list(m.source.branches) or [ctx.value("branch")]}
        if m.source.exclude_branches:
            branches["Excludes"] = list(m.source.exclude_branches)
        branch_filter = {"Branches": cp.GitBranchFilterCriteria(**branches)}
        paths = {"Includes": list(m.source.paths), "Excludes": list(m.source.exclude_paths)}
        if m.source.paths or m.source.exclude_paths:
            branch_filter["FilePaths"] = cp.GitFilePathFilterCriteria(**{k: v for k, v in paths.items() if v})
        pushes = [cp.GitPushFilter(**branch_filter)]
    return cp.PipelineTriggerDeclaration(
        ProviderType="CodeStarSourceConnection",
        GitConfiguration=cp.GitConfiguration(SourceActionName="Source", Push=pushes),
    )


def _update_stage(ctx: Context, job: BuildJob, wiring: Wiring) -> cp.Stages:
    wiring.stacks.append(
        Sub("arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${AWS::StackName}/*")
    )
    wiring.pass_roles.append(GetAtt("SelfUpdateRole", "Arn"))
    condition = {"BeforeEntry": _configured_branch_only(ctx)} if _update_only_from_branch(ctx.manifest) else {}
    return cp.Stages(
        Name="UpdatePipeline",
        **condition,
        Actions=[
            _codebuild_action(job, "Recompile", wiring, 1, (SOURCE,), (SELF_UPDATE,)),
            action(
                "cloudformation",
                "UpdatePipelineStack",
                {
                    "ActionMode": "CREATE_UPDATE",
                    "StackName": Ref("AWS::StackName"),
                    "TemplatePath": f"{SELF_UPDATE}::pipeline.yaml",
                    "Capabilities": "CAPABILITY_IAM,CAPABILITY_NAMED_IAM",
                    "RoleArn": GetAtt("SelfUpdateRole", "Arn"),
                    **(
                        {"ParameterOverrides": overrides} if (overrides := self_update_parameter_overrides(ctx)) else {}
                    ),
                },
                2,
                (SELF_UPDATE,),
            ),
        ],
    )


def _update_only_from_branch(m: Manifest) -> bool:
    """With `source.branches`, pushes to other branches than `branch` start the pipeline too; the
    self-update applies only the configured branch's manifest."""
    return m.regenerate.enabled and m.source.provider == "codestar" and bool(m.source.branches)


def _configured_branch_only(ctx: Context) -> cp.BeforeEntryConditions:
    """Entry condition of UpdatePipeline: a run of another branch skips the stage (neither Recompile
    nor the stack update runs; the run goes on with the deployed pipeline). A restart after a self-
    update is a plain start, which runs `branch`: without this, a push to `release/x` would deploy
    release/x's pipeline and then rerun it on `branch`."""
    spec = aws.RULE_TYPES["variable-check"]
    config = {"Variable": f"#{{{SOURCE_NAMESPACE}.BranchName}}", "Operator": "EQ", "Value": ctx.value("branch")}
    if set(config) != spec.required:  # a compiler bug, never user input
        raise AssertionError(f"VariableCheck configuration {sorted(config)}")
    return cp.BeforeEntryConditions(
        Conditions=[
            cp.Condition(
                Result="SKIP",
                Rules=[
                    cp.RuleDeclaration(
                        Name="ConfiguredBranchOnly",
                        RuleTypeId=cp.RuleTypeId(
                            Category=spec.category, Owner=spec.owner, Provider=spec.provider, Version=spec.version
                        ),
                        Configuration=config,
                    )
                ],
            )
        ]
    )


def _region_value(region: str | None) -> str:
    return region or "${AWS::Region}"


def _subbed(text: str) -> Sub | str:
    return Sub(text) if "${" in text else text


def stack_name(m: Manifest, target: Target, env: Environment, region: str | None) -> str:
    return render_placeholders(target.stack, environment=env.name, region=_region_value(region), name=m.name)


def exec_role_arn(m: Manifest, account: str) -> Sub:
    """The CloudFormation execution role the bootstrap stack creates in a target account (in the
    pipeline's partition, so GovCloud and China work)."""
    return Sub(f"arn:${{AWS::Partition}}:iam::{account}:role/manifestc/{m.name}/{m.name}-cfn-exec")


def _environment_stage(ctx: Context, env: Environment, jobs: dict[str, BuildJob], wiring: Wiring) -> cp.Stages:
    """prepare (1) -> approve (2) -> deploy (3) -> commands jobs reading another target's variables
    (3.5) -> invoke actions and CloudFront invalidations (4) -> post-deploy tests (5); run orders
    compacted."""
    m = ctx.manifest
    actions: list[cp.Actions] = []
    cross_account = m.is_cross_account(env)
    action_role = deploy_role_arn(m, env.account) if cross_account else None
    if action_role:
        wiring.assume_roles.append(action_role)
    multi_region = len(env.regions) > 1
    starts: dict[str, int] = {}  # target -> index of its first action (targets[].after)
    for target_name in env.targets:
        starts[target_name] = len(actions)
        target = m.target(target_name)
        if target.type == "lambda" and not target.template:
            job = jobs[lambda_job_purpose(env.name, target.name)]
            actions.append(_codebuild_action(job, f"{target.name}-deploy", wiring, 3, (deploy_input(target),)))
            continue
        if target.type in ("lambda_layer", "image_copy"):
            job = jobs[lambda_job_purpose(env.name, target.name)]
            actions.append(_codebuild_action(job, f"{target.name}-publish", wiring, 3, (BUILD_OUTPUT,)))
            continue
        if target.type == "glue":
            actions += _glue_actions(ctx, env, target, jobs, wiring)
            continue
        if target.type == "commands":
            actions += _commands_actions(ctx, env, target, jobs, wiring)
            continue
        if target.type == "cdk":
            actions += _cdk_actions(ctx, env, target, jobs, wiring, action_role)
            continue
        # a bucket is global: an s3 target is written once, from the environment's first region
        regions = env.regions[:1] if target.type in ("s3", "servicecatalog") else env.regions
        for region in regions:
            target = m.resolve_target(m.target(target_name), env, region)  # per-environment fields
            suffix = f"-{region}" if multi_region and region and target.type != "s3" else ""
            action_region = region if region and region != m.region else None
            common = {"RoleArn": action_role, "Region": action_region}
            if target.packaged:  # a lambda template, or a cloudformation target with `package: true`
                packaged = dataclasses.replace(target, template=target.packaged_template_in(action_region))
                actions += _cloudformation_actions(ctx, env, packaged, region, suffix, wiring, common)
            elif target.type == "ecs" and target.deploy == "blue_green":
                actions.append(_blue_green_action(target, region, suffix, wiring, common, cross_account))
            elif target.type == "codedeploy":
                actions.append(_codedeploy_action(target, region, suffix, wiring, common, cross_account))
            elif target.type == "elasticbeanstalk":
                actions.append(_beanstalk_action(target, suffix, wiring, common))
            elif target.type == "servicecatalog":
                actions.append(_servicecatalog_action(env, target, region, wiring, common))
            elif target.type == "cloudformation":
                actions += _cloudformation_actions(
                    ctx, env, target, region, suffix, wiring, common, template_artifact=deploy_input(target)
                )
            elif target.type == "ecs":
                if not cross_account:
                    wiring.ecs_services.append(
                        Sub(
                            f"arn:${{AWS::Partition}}:ecs:{_region_value(region)}:"
                            f"${{AWS::AccountId}}:service/{target.cluster}/{target.service}"
                        )
                    )
                actions.append(
                    action(
                        "ecs",
                        f"{target.name}{suffix}-deploy",
                        {
                            "ClusterName": target.cluster,
                            "ServiceName": target.service,
                            "FileName": f"imagedefinitions-{target.name}.json",
                        },
                        3,
                        (BUILD_OUTPUT,),
                        **common,
                    )
                )
            elif target.type == "s3":
                actions += _s3_actions(env, target, suffix, jobs, wiring, common, cross_account)
            elif target.invokes:
                actions.append(_invoke_action(env, target, region, suffix, wiring, common, cross_account))
    _order_deploys(ctx.manifest, env, actions, starts)
    if env.approval is not None:
        actions += _approval_actions(ctx, env, jobs, wiring)
    for suite in m.tests_after(env.name):
        actions.append(
            _codebuild_action(
                jobs[f"test-{suite.name}"],
                f"Test-{suite.name}",
                wiring,
                5,
                (SOURCE,),
                test=True,
                variables=_suite_variables(m, suite, env),
                pipeline_variables=True,
            )
        )
    actions.sort(key=lambda a: a.RunOrder)
    return cp.Stages(Name=env.name, Actions=_compact_run_orders(actions))


def _blue_green_action(
    target: Target, region: str | None, suffix: str, wiring: Wiring, common: dict, cross_account: bool
) -> cp.Actions:
    """The CodeDeployToECS action: CodeDeploy registers the task definition template (the build's
    image in place of <IMAGE1_NAME>) and shifts the deployment group's traffic. In another account
    it runs as the bootstrap deploy role, which holds the grants."""
    if not cross_account:
        wiring.blue_green = True
        _wire_codedeploy(target, region, wiring)
    config = {
        "ApplicationName": target.application,
        "DeploymentGroupName": target.deployment_group,
        "TaskDefinitionTemplateArtifact": BUILD_OUTPUT,
        "TaskDefinitionTemplatePath": target.task_definition,
        "AppSpecTemplateArtifact": BUILD_OUTPUT,
        "AppSpecTemplatePath": target.appspec,
        "Image1ArtifactName": BUILD_OUTPUT,
        "Image1ContainerName": "IMAGE1_NAME",
    }
    return action("codedeploy-ecs", f"{target.name}{suffix}-deploy", config, 3, (BUILD_OUTPUT,), **common)


def _wire_codedeploy(target: Target, region: str | None, wiring: Wiring) -> None:
    """The pipeline role may deploy to exactly the target's application and deployment group."""
    arns = codedeploy_arns(target, region, None)
    wiring.codedeploy_apps += arns["applications"]
    wiring.codedeploy_groups += arns["groups"]
    wiring.codedeploy_configs += arns["configs"]


def _codedeploy_action(
    target: Target, region: str | None, suffix: str, wiring: Wiring, common: dict, cross_account: bool
) -> cp.Actions:
    """The CodeDeploy action (EC2/on-premises deployment group): CodePipeline registers the build
    artifact (appspec.yml at its root) as the application's revision and deploys it to the group.
    In another account it runs as the bootstrap deploy role, which holds the grants."""
    if not cross_account:
        _wire_codedeploy(target, region, wiring)
    config = {"ApplicationName": target.application, "DeploymentGroupName": target.deployment_group}
    return action("codedeploy", f"{target.name}{suffix}-deploy", config, 3, (deploy_input(target),), **common)


def _beanstalk_action(target: Target, suffix: str, wiring: Wiring, common: dict) -> cp.Actions:
    """The Elastic Beanstalk deploy action: the build artifact becomes a new application version
    of the environment. It runs as the Beanstalk deploy role (emit/more_targets.py), which holds the
    broad grants Elastic Beanstalk needs, never the pipeline role (same account only: MC382)."""
    role = GetAtt(BEANSTALK_ROLE, "Arn")
    wiring.beanstalk = True  # the pipeline role's grant to assume it: _pipeline_role
    config = {"ApplicationName": target.application, "EnvironmentName": target.beanstalk_environment}
    extra = {**common, "RoleArn": role}
    return action("elasticbeanstalk", f"{target.name}{suffix}-deploy", config, 3, (deploy_input(target),), **extra)


def _servicecatalog_action(
    env: Environment, target: Target, region: str | None, wiring: Wiring, common: dict
) -> cp.Actions:
    """The Service Catalog deploy action: the template of the build artifact becomes a new version
    of the environment's product, named after the pipeline execution (unique per run); in the
    environment's first region, from the pipeline's account (MC385)."""
    product = target.product_for(env.name)
    wiring.products.append(
        Sub(f"arn:${{AWS::Partition}}:catalog:{_region_value(region)}:${{AWS::AccountId}}:product/{product}")
    )
    config = {
        "TemplateFilePath": target.template,
        "ProductVersionName": f"{target.version_prefix or ''}#{{codepipeline.PipelineExecutionId}}",
        "ProductType": "CLOUD_FORMATION_TEMPLATE",
        "ProductId": product,
    }
    if target.version_description:
        config["ProductVersionDescription"] = target.version_description
    return action("servicecatalog", f"{target.name}-publish", config, 3, (BUILD_OUTPUT,), **common)


def _invoke_action(
    env: Environment,
    target: Target,
    region: str | None,
    suffix: str,
    wiring: Wiring,
    common: dict,
    cross_account: bool,
) -> cp.Actions:
    """A Step Functions or Lambda invoke action, after the environment's deploys (4): it starts
    the state machine (and waits for its execution) or invokes the function in the environment's
    account and region."""
    arns = invoke_arns(target, region, env.account if cross_account else None)
    if not cross_account:  # another account: the bootstrap deploy role holds these grants
        wiring.state_machines += arns.get("state_machines", [])
        wiring.executions += arns.get("executions", [])
        wiring.functions += arns.get("functions", [])
    name = f"{target.name}{suffix}-invoke"
    if target.type == "stepfunctions":
        config: dict = {"StateMachineArn": arns["state_machines"][0]}
        if target.execution_name_prefix:
            config["ExecutionNamePrefix"] = target.execution_name_prefix
        if target.input_file:
            config.update({"InputType": "FilePath", "Input": target.input_file})
            return action("stepfunctions", name, config, 4, (BUILD_OUTPUT,), **common)
        if target.input is not None:
            config.update({"InputType": "Literal", "Input": target.input})
        return action("stepfunctions", name, config, 4, **common)
    config = {"FunctionName": target.function}
    if target.user_parameters is not None:
        config["UserParameters"] = target.user_parameters
    return action("lambda-invoke", name, config, 4, **common)


def _s3_actions(
    env: Environment,
    target: Target,
    suffix: str,
    jobs: dict[str, BuildJob],
    wiring: Wiring,
    common: dict,
    cross_account: bool,
) -> list[cp.Actions]:
    """The S3 deploy action (deploy, 3); with `delete_stale` the deploy job's `aws s3 sync --delete`
    instead (the S3 deploy action never deletes an object); with `cloudfront_invalidation` that job
    invalidates after the deploy (in the sync job itself, or at 4, after the S3 deploy action)."""
    out = []
    job = jobs.get(lambda_job_purpose(env.name, target.name)) if target.s3_deploy_job else None
    if not target.delete_stale:
        if not cross_account:
            wiring.s3_targets.append((target.bucket, target.prefix))
            if target.kms_key:
                wiring.s3_keys.append(target.kms_key)
        config = {"BucketName": target.bucket, "Extract": "true" if target.extract else "false"}
        if target.prefix:
            config["ObjectKey"] = target.prefix
        if target.cache_control:
            config["CacheControl"] = target.cache_control
        out.append(action("s3-deploy", f"{target.name}{suffix}-deploy", config, 3, (deploy_input(target),), **common))
    if job is not None:
        name = f"{target.name}{suffix}-" + ("deploy" if target.delete_stale else "invalidate")
        out.append(_codebuild_action(job, name, wiring, 3 if target.delete_stale else 4, (deploy_input(target),)))
    return out


def _suite_variables(m: Manifest, suite, env: Environment | None) -> list[dict]:
    """A test suite's `env` as action variables (references renamed to `env`'s namespaces)."""
    region = env.regions[0] if env is not None else None
    return [
        {"name": key, "value": var.rewrite(m, value.replace("${", "${!"), env, region), "type": "PLAINTEXT"}
        for key, value in suite.env
    ]


def _commands_actions(
    ctx: Context, env: Environment, target: Target, jobs: dict[str, BuildJob], wiring: Wiring
) -> list[cp.Actions]:
    """A commands target: its job runs once per region of the environment (in parallel), after
    the approval, on the build artifact; the region and the target's `env` (rendered for the
    environment and region) are action variables, so CodePipeline resolves their references."""
    m = ctx.manifest
    job = jobs[commands_job_purpose(env.name, target.name)]
    actions = []
    for region in env.regions:
        suffix = f"-{region}" if len(env.regions) > 1 and region else ""
        variables = [
            {
                "name": key,
                "value": var.rewrite(
                    m,
                    m.render_step(value.replace("${", "${!"), env, _region_value(region), step_account(m, env)),
                    env,
                    region,
                ),
                "type": "PLAINTEXT",
            }
            for key, value in target.env
        ]
        if len(env.regions) > 1:
            variables.append({"name": "REGION", "value": _region_value(region), "type": "PLAINTEXT"})
        actions.append(
            _codebuild_action(
                job,
                f"{target.name}{suffix}-deploy",
                wiring,
                3.5 if var.runs_late(m, target) else 3,  # after the deploys whose variables it reads
                (deploy_input(target),),
                variables=variables,
                Namespace=var.namespace(env, target.name, region) if target.exports else None,
            )
        )
    return actions


def _cdk_actions(
    ctx: Context, env: Environment, target: Target, jobs: dict[str, BuildJob], wiring: Wiring, action_role
) -> list[cp.Actions]:
    """A cdk target (emit/cdk.py): publish the assets (0.5), prepare every stack's change set (1,
    what the approval reviews), then execute them one after another in `stacks` order (3, 3.01,
    ...: a stack deploys after the ones listed before it, which it may import from)."""
    from .cdk import bootstrap_version_parameter, cdk_job_purpose

    m = ctx.manifest
    actions = [
        _codebuild_action(
            jobs[cdk_job_purpose(env.name, target.name)], f"{target.name}-assets", wiring, 0.5, (BUILD_OUTPUT,)
        )
    ]
    # a stack deployed to several regions under one name gets the region in its action names
    names = [s for region in env.regions for s in m.cdk_stacks(target, env, region)]
    for region in env.regions:
        action_region = region if region and region != m.region else None
        common = {"RoleArn": action_role, "Region": action_region}
        if not m.is_cross_account(env):  # in another account: the bootstrap deploy role's grant
            wiring.ssm_parameters.append(bootstrap_version_parameter(m, target, env, region))
        for position, stack in enumerate(m.cdk_stacks(target, env, region)):
            one = dataclasses.replace(target, template=f"{stack}.template.json", stack=stack)
            where = f"-{region}" if names.count(stack) > 1 and region else ""
            prepare, execute = _cloudformation_actions(ctx, env, one, region, f"-{stack}{where}", wiring, common)
            execute.RunOrder = 3 + position / 100
            actions += [prepare, execute]
    return actions


def _glue_actions(
    ctx: Context, env: Environment, target: Target, jobs: dict[str, BuildJob], wiring: Wiring
) -> list[cp.Actions]:
    """Upload the scripts under a prefix named by their content hash (computed by the upload job,
    read from its namespace), deploy glue.yaml pointing at them (a script change is a stack change,
    no change is no change set), then optionally run the workflow and wait for its result."""
    m = ctx.manifest
    upload = jobs[glue_job_purpose("scripts", env.name)]
    wiring.projects.append(upload.purpose)
    namespace = upload.logical_prefix
    actions = [
        action(
            "codebuild",
            f"{target.name}-scripts",
            {"ProjectName": Ref(f"{upload.logical_prefix}Project")},
            0.5,  # before the change set, which reads SCRIPTS_PREFIX from this action's namespace
            (BUILD_OUTPUT,),
            Namespace=namespace,
        )
    ]
    bucket = m.glue.scripts_bucket or "${ArtifactBucket}"
    overrides = {
        "Environment": env.name,
        "DatabaseName": m.glue_database(env),
        "ScriptsBucket": bucket,
        "ScriptsPrefix": f"#{{{namespace}.SCRIPTS_PREFIX}}",
    }
    if key := script_key_parameter(m):
        overrides["ScriptsKeyArn"] = key
    if m.glue.databases:  # README "Glue connections, databases, dependencies and Step Functions"
        overrides["ExtraDatabaseNames"] = ",".join(m.glue_database(env, d) for d in m.glue.databases)
    template_artifact = GLUE_TEMPLATE if template_compiled_in_build(m) else SELF_UPDATE
    # in another account: the bootstrap deploy role runs the action (and passes that account's
    # CloudFormation execution role), as for cloudformation targets
    common = {"RoleArn": deploy_role_arn(m, env.account)} if m.is_cross_account(env) else {}
    actions += _cloudformation_actions(
        ctx, env, target, None, "", wiring, common, template_artifact=template_artifact, extra_overrides=overrides
    )
    if m.glue.smokes(env.name):
        smoke = jobs[glue_job_purpose("smoke", env.name)]
        actions.append(_codebuild_action(smoke, f"{target.name}-smoke", wiring, 3.5, (BUILD_OUTPUT,)))
    return actions


def _cloudformation_actions(
    ctx: Context,
    env: Environment,
    target: Target,
    region: str | None,
    suffix: str,
    wiring: Wiring,
    common: dict,
    template_artifact: str = BUILD_OUTPUT,
    extra_overrides: dict[str, str] | None = None,
) -> list[cp.Actions]:
    m = ctx.manifest
    stack = stack_name(m, target, env, region)
    cross_account = m.is_cross_account(env)
    if cross_account:
        role = target.execution_role or exec_role_arn(m, env.account)
    else:
        account = "${AWS::AccountId}"
        stack_arn = Sub(f"arn:${{AWS::Partition}}:cloudformation:{_region_value(region)}:{account}:stack/{stack}/*")
        wiring.stacks.append(stack_arn)
        wiring.app_stacks.append(stack_arn)
        role = _execution_role(ctx, env, target)
        wiring.pass_roles.append(role)
    parameters = {
        key: render_placeholders(
            value.replace("${", "${!"), environment=env.name, region=_region_value(region), name=m.name
        )
        for key, value in target.parameters
    }
    parameters.update(extra_overrides or {})  # compiler-made values: may reference template variables
    base = {
        "StackName": _subbed(stack),
        "TemplatePath": f"{template_artifact}::{target.template}",
        "Capabilities": ",".join(target.capabilities),
        "RoleArn": role,
    }
    if target.template_configuration:  # per environment: {environment} rendered by resolve_target
        base["TemplateConfiguration"] = f"{template_artifact}::{target.template_configuration}"
    if parameters:
        base["ParameterOverrides"] = _subbed(json.dumps(parameters, sort_keys=True))
    if not target.change_set:
        outputs = var.namespace(env, target.name, region) if target.name in var.referenced_in(m, env) else None
        return [
            action(
                "cloudformation",
                f"{target.name}{suffix}-deploy",
                {"ActionMode": "CREATE_UPDATE", **base},
                3,
                (template_artifact,),
                Namespace=outputs,
                **common,
            )
        ]
    change_set = f"{m.name}-{target.name}"
    outputs = var.namespace(env, target.name, region) if target.name in var.referenced_in(m, env) else None
    return [
        action(
            "cloudformation",
            f"{target.name}{suffix}-prepare",
            {"ActionMode": "CHANGE_SET_REPLACE", "ChangeSetName": change_set, **base},
            1,
            (template_artifact,),
            **common,
        ),
        action(
            "cloudformation",
            f"{target.name}{suffix}-deploy",
            {"ActionMode": "CHANGE_SET_EXECUTE", "ChangeSetName": change_set, "StackName": _subbed(stack)},
            3,
            Namespace=outputs,  # the stack's Outputs, read by later actions of the environment
            **common,
        ),
    ]


def _approval_actions(ctx: Context, env: Environment, jobs: dict[str, BuildJob], wiring: Wiring) -> list[cp.Actions]:
    """The manual approval (run order 2, after the change sets are prepared) and, with approvers,
    the check that one of them gave it (2.5, before anything deploys)."""
    approval = env.approval
    if approval.notify:
        topic = approval.notify
    else:
        topic = _approval_topic(ctx, env)
    wiring.topics.append(topic)
    actions = [
        action(
            "manual-approval",
            "approve",
            {"NotificationArn": topic, "CustomData": approval_text(ctx.manifest, env)},
            2,
            TimeoutInMinutes=approval.timeout_minutes,
        )
    ]
    if approval.approvers:
        _approvers_policy(ctx, env)
        variables = [
            {"name": "PIPELINE_EXECUTION_ID", "value": "#{codepipeline.PipelineExecutionId}", "type": "PLAINTEXT"},
            {"name": "APPROVAL_STAGE", "value": env.name, "type": "PLAINTEXT"},
            {"name": "APPROVAL_ACTION", "value": "approve", "type": "PLAINTEXT"},
            {"name": "APPROVERS", "value": " ".join(approval.approvers), "type": "PLAINTEXT"},
        ]
        job = jobs[APPROVAL_CHECK]
        wiring.projects.append(job.purpose)
        actions.append(
            action(
                "codebuild",
                "check-approver",
                {"ProjectName": Ref(f"{job.logical_prefix}Project"), "EnvironmentVariables": json.dumps(variables)},
                2.5,
                (SOURCE,),
            )
        )
    return actions


def approval_text(m: Manifest, env: Environment) -> str:
    """What the approver is asked (CustomData, at most 500 characters): the change sets only when
    the environment prepares some."""
    change_sets = [
        t
        for t in (m.target(n) for n in env.targets)
        if t.change_set and (t.type in ("cloudformation", "glue", "cdk") or (t.type == "lambda" and t.template))
    ]
    others = [m.target(n).name for n in env.targets if m.target(n) not in change_sets]
    parts = []
    if change_sets:
        names = ", ".join(f"{m.name}-{t.name}" for t in change_sets)
        parts.append(f"review the change sets ({names}) of the {env.name} stacks")
    if others:
        parts.append(f"approve deploying {', '.join(others)} directly")
    text = f"{m.name} to {env.name}: " + ("; ".join(parts) or "approve to continue") + "."
    if env.approval.approvers:
        text += " Only the listed approvers may approve; any other approval fails the deployment."
    return text[:500]


def _approval_topic(ctx: Context, env: Environment) -> Ref:
    """The environment's own approval topic (encrypted), with its email subscriptions."""
    logical_id = camel("approval", env.name, "topic")
    topic = ctx.encrypted_topic(logical_id, f"approvals-{env.name}", f"{env.name} approvals")
    for email in env.approval.notify_emails:
        digest = hashlib.sha256(email.lower().encode()).hexdigest()[:8]
        ctx.add(
            sns.SubscriptionResource(
                f"{logical_id}Email{digest}",
                TopicArn=topic,
                Protocol="email",
                Endpoint=email,
            )
        )
    return topic


def _approvers_policy(ctx: Context, env: Environment) -> None:
    """Only the listed approvers are granted codepipeline:PutApprovalResult on this action."""
    by_kind: dict[str, list[str]] = {"role": [], "user": [], "group": []}
    for arn in env.approval.approvers:
        kind, _, path_name = arn.split(":", 5)[5].partition("/")
        by_kind[kind].append(path_name.rsplit("/", 1)[-1])
    approve = ctx.arn("codepipeline", f"{ctx.name}/{env.name}/approve")
    props = {
        "Path": ctx.iam_path,
        # a fixed name: the only policies the self-update role may attach to these principals
        "ManagedPolicyName": approvers_policy_name(ctx.name, env.name),
        "Description": f"Approve {ctx.name} deployments to {env.name}",
        "PolicyDocument": policy(
            allow([codepipeline.PutApprovalResult], [approve], sid="ApproveThisStage"),
            allow(
                [codepipeline.GetPipeline, codepipeline.GetPipelineState, codepipeline.GetPipelineExecution],
                [ctx.pipeline_arn],
                sid="SeeThePipeline",
            ),
        ),
    }
    for kind, key in (("role", "Roles"), ("user", "Users"), ("group", "Groups")):
        if by_kind[kind]:
            props[key] = sorted(set(by_kind[kind]))
    ctx.add(iam.ManagedPolicy(camel("approvers", env.name, "policy"), **props))


def _order_deploys(m: Manifest, env: Environment, actions: list[cp.Actions], starts: dict[str, int]) -> None:
    """`targets[].after` (order.py): each target's deploy actions (run orders 3 to 3.5: deploy,
    cdk stacks in order, a glue smoke test, a commands job reading variables) move into its level's
    slice of [3, 4), keeping their order within the target; prepare (1), approval (2), invoke and
    invalidate (4) and tests (5) stay. Without `after` nothing moves."""
    levels = deploy_levels(m, env)
    if levels is None:
        return
    slices = max(levels.values(), default=0) + 1
    bounds = list(starts.values()) + [len(actions)]
    for (name, start), end in zip(starts.items(), bounds[1:], strict=True):
        for a in actions[start:end]:
            if 3 <= a.RunOrder < 4:
                a.RunOrder = 3 + (levels[name] + (a.RunOrder - 3)) / slices


def _compact_run_orders(actions: list[cp.Actions]) -> list[cp.Actions]:
    """Renumber run orders 1..n keeping their relative order (e.g. no approval leaves a gap)."""
    orders = sorted({a.RunOrder for a in actions})
    mapping = {order: index + 1 for index, order in enumerate(orders)}
    for a in actions:
        a.RunOrder = mapping[a.RunOrder]
    return actions


def _execution_role(ctx: Context, env: Environment, target: Target):
    """The role CloudFormation uses to deploy a same-account target's stack: given, or created.

    The created role gets the target's managed policies (PowerUserAccess by default, which has no
    IAM) plus IAM role management limited to roles under the stack's compiler-owned path
    (`/manifestc-app/<pipeline>/<stack>/`) that carry the pipeline's permissions boundary, so an
    app stack can create its own roles, bounded, and not touch anyone else's.
    """
    if target.execution_role:
        return target.execution_role
    logical_id = camel("deploy", env.name, target.name, "role")
    if logical_id in ctx.template.resources:
        return GetAtt(logical_id, "Arn")
    m = ctx.manifest
    stacks = sorted(
        {s for region in env.regions for s in m.cdk_stacks(target, env, region)}
        if target.type == "cdk"
        else {stack_name(m, target, env, region) for region in env.regions}
    )
    # the stack's own roles: under a compiler-owned path per stack and carrying the boundary
    statements = app_role_statements(m.name, stacks) + artifact_statements(ctx, write=False)
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
    statements = artifact_statements(ctx) + _source_statements(ctx)
    statements.append(
        allow(
            [codebuild.BatchGetBuilds, codebuild.StartBuild],
            [ctx.project_arn(p) for p in dict.fromkeys(wiring.projects)],
            sid="RunBuilds",
        )
    )
    if wiring.batch_projects:
        statements.append(
            allow(
                [codebuild.BatchGetBuildBatches, codebuild.StartBuildBatch],
                [ctx.project_arn(p) for p in dict.fromkeys(wiring.batch_projects)],
                sid="RunBatchBuilds",
            )
        )
    if m.extra_regions:
        arns = [f"arn:${{AWS::Partition}}:s3:::{ctx.regional_bucket_pattern(r)}" for r in m.extra_regions]
        buckets = [Sub(a) for a in arns]
        statements += [
            allow(
                [as3.GetObject, as3.GetObjectVersion, as3.PutObject],
                [Sub(f"{a}/*") for a in arns],
                sid="RegionalArtifactObjects",
            ),
            allow(
                [as3.GetBucketAcl, as3.GetBucketLocation, as3.GetBucketVersioning],
                buckets,
                sid="RegionalArtifactBuckets",
            ),
            allow(
                [
                    Action("kms", n)
                    for n in ("Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "DescribeKey")
                ],
                [Sub(f"arn:${{AWS::Partition}}:kms:{r}:${{AWS::AccountId}}:key/*") for r in m.extra_regions],
                Condition(ForAnyValueStringEquals({"kms:ResourceAliases": ctx.key_alias})),
                sid="RegionalArtifactKeys",
            ),
        ]
    if wiring.stacks:
        statements.append(
            allow(
                stack_deploy_actions(),
                _unique(wiring.stacks),
                sid="DeployStacks",
            )
        )
        if wiring.app_stacks:
            statements.append(replace_failed_stacks(_unique(wiring.app_stacks)))
        statements.append(
            allow(
                [aiam.PassRole],
                _unique(wiring.pass_roles),
                Condition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
                sid="PassDeployRoles",
            )
        )
    if wiring.assume_roles:
        statements.append(allow([sts.AssumeRole], _unique(wiring.assume_roles), sid="AssumeTargetAccountRoles"))
    if wiring.ssm_parameters:
        # CreateChangeSet resolves a CDK template's BootstrapVersion parameter (an SSM parameter
        # type) with the caller's ssm:GetParameters (CDK bootstrap template, deploy role ReadVersion)
        statements.append(
            allow([Action("ssm", "GetParameters")], _unique(wiring.ssm_parameters), sid="ReadCdkBootstrapVersion")
        )
    if wiring.topics:
        statements.append(allow([asns.Publish], _unique(wiring.topics), sid="ApprovalNotifications"))
    if wiring.ecs_services:
        # Source: CodePipeline User Guide, "Service role permissions: Amazon ECS standard action".
        statements += ecs_deploy_statements(_unique(wiring.ecs_services))
    if wiring.codedeploy_groups:
        statements += blue_green_statements(
            _unique(wiring.codedeploy_apps),
            _unique(wiring.codedeploy_groups),
            _unique(wiring.codedeploy_configs),
            task_statements=wiring.blue_green and not wiring.ecs_services,
        )
    statements += invoke_statements(
        _unique(wiring.state_machines), _unique(wiring.executions), _unique(wiring.functions)
    )
    if wiring.products:
        statements += servicecatalog_statements(_unique(wiring.products), validate=True)
    if wiring.beanstalk:
        statements.append(allow([sts.AssumeRole], [beanstalk_role_arns(ctx)], sid="AssumeBeanstalkDeployRole"))
    if wiring.s3_targets:
        objects = sorted({f"{bucket}/{prefix or ''}*" for bucket, prefix in wiring.s3_targets})
        buckets = sorted({bucket for bucket, _ in wiring.s3_targets})
        statements.append(
            allow(
                [as3.PutObject, as3.PutObjectAcl, as3.GetObject],
                [Sub(f"arn:${{AWS::Partition}}:s3:::{o}") for o in objects],
                sid="DeployToBuckets",
            )
        )
        statements.append(
            allow(
                [as3.GetBucketLocation, as3.ListBucket],
                [Sub(f"arn:${{AWS::Partition}}:s3:::{b}") for b in buckets],
                sid="TargetBuckets",
            )
        )
        if wiring.s3_keys:
            statements.append(bucket_key_statement(sorted(set(wiring.s3_keys)), sid="TargetBucketKeys"))
    service_role(ctx, "PipelineRole", "codepipeline.amazonaws.com", statements)


def _source_statements(ctx: Context) -> list:
    source = ctx.manifest.source
    if source.provider == "codestar":
        actions = connection_actions("UseConnection")
        return [allow(actions, connection_resources(ctx), sid="SourceConnection")]
    if source.provider == "s3":
        return [
            allow(
                [as3.GetObject, as3.GetObjectVersion],
                [Sub(f"arn:${{AWS::Partition}}:s3:::{source.bucket}/{source.key}")],
                sid="SourceObject",
            ),
            allow(
                [as3.GetBucketVersioning, as3.GetBucketLocation],
                [Sub(f"arn:${{AWS::Partition}}:s3:::{source.bucket}")],
                sid="SourceBucket",
            ),
        ]
    return [
        allow(
            [
                codecommit.GetBranch,
                codecommit.GetCommit,
                codecommit.GetRepository,
                codecommit.UploadArchive,
                codecommit.GetUploadArchiveStatus,
                codecommit.CancelUploadArchive,
            ],
            [ctx.arn("codecommit", ctx.sub_value("repository"))],
            sid="SourceRepository",
        )
    ]


def _unique(items: list) -> list:
    seen, out = set(), []
    for item in items:
        key = json.dumps(item.to_dict() if hasattr(item, "to_dict") else item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _source_rule(ctx: Context) -> None:
    """CodeCommit pushes and S3 object uploads start the pipeline through EventBridge (no polling)."""
    m = ctx.manifest
    if m.source.provider == "codestar":
        return  # V2 triggers on the pipeline
    if m.source.provider == "s3":
        # Needs EventBridge notifications on the source bucket (README: "Sources").
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [m.source.bucket]}, "object": {"key": [m.source.key]}},
        }
        description = f"Start pipeline {m.name} when s3://{m.source.repository} is uploaded"
    else:
        pattern = ctx.codecommit_push_pattern([ctx.value("branch")])
        description = f"Start pipeline {m.name} on pushes to its branch"
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
            Description=description,
            State="ENABLED",
            EventPattern=pattern,
            Targets=[events.Target(Id="pipeline", Arn=ctx.pipeline_arn, RoleArn=GetAtt("SourceRuleRole", "Arn"))],
        )
    )


def _schedule_rule(ctx: Context) -> None:
    """`source.schedule`: an EventBridge rule on a schedule starts the pipeline (the latest commit
    of the branch, the pipeline variables' defaults), with a role allowed only that."""
    m = ctx.manifest
    if m.source.schedule is None:
        return
    service_role(
        ctx,
        "ScheduleRuleRole",
        "events.amazonaws.com",
        [allow([codepipeline.StartPipelineExecution], [ctx.pipeline_arn], sid="StartPipeline")],
    )
    ctx.add(
        events.Rule(
            "ScheduleRule",
            Name=f"{m.name}-schedule",
            Description=f"Start pipeline {m.name} on {m.source.schedule} (UTC)",
            State="ENABLED",
            ScheduleExpression=m.source.schedule,
            Targets=[events.Target(Id="pipeline", Arn=ctx.pipeline_arn, RoleArn=GetAtt("ScheduleRuleRole", "Arn"))],
        )
    )
