"""Ephemeral stacks (README "Ephemeral stacks"): per-branch previews and per-run test stacks.

- Previews (`source.feature_branches.deploy_to`): the feature-branch project, after the build and
  its suites, deploys each cloudformation target of the named environment as
  `<name>-preview-<branch-slug>-<target>`; a teardown project `<name>-preview-teardown` deletes a
  branch's stacks when the branch is deleted (CodeCommit, EventBridge `referenceDeleted`) or its pull
  request is merged or closed (codestar, CodeBuild webhook).
- Test stacks (`tests[].ephemeral_stack`): the suite deploys the target from the build's output as
  `<name>-test-<suite>-<build number>`, exports its outputs as `STACK_<OutputKey>`, runs its commands
  and deletes the stack in the build phase's `finally` block (which runs whether the commands passed
  or not: CodeBuild User Guide, "Build specification reference", `phases/*/finally`).

Every such stack is created and deleted through one execution role (logical id EphemeralExecRole),
and the projects may only create change sets and delete stacks under their
prefix *with that role* (`cloudformation:RoleArn`, Service Authorization Reference, "Actions,
resources, and condition keys for AWS CloudFormation": CreateChangeSet and DeleteStack take it).
"""

from __future__ import annotations

import shlex

from awacs import cloudformation as acfn
from awacs import codebuild, codepipeline, iam
from awacs import s3 as as3
from awacs.aws import ArnEquals, Condition, Deny, Statement, StringEquals
from troposphere import GetAtt, Sub, events
from troposphere import codebuild as cb

from .. import aws
from ..model import Manifest, TestSuite, render_placeholders
from ..semantics_ephemeral import SLUG_SHELL, ephemeral_prefix
from .context import Context
from .iam import allow, app_role_statements, service_role

EXEC_ROLE = "EphemeralExecRole"
TEARDOWN = "preview-teardown"  # the teardown project's purpose (name suffix)
ROLE_VARIABLE = "EPHEMERAL_ROLE_ARN"
# The build output as a secondary input of a test-stack suite: CodeBuild puts it in
# CODEBUILD_SRC_DIR_<artifact name> (CodeBuild User Guide, "Multiple input sources and output
# artifacts sample").
BUILD_OUTPUT_DIR = "$CODEBUILD_SRC_DIR_BuildOutput"
_REGION = "\0region\0"


def uses_ephemeral_stacks(m: Manifest) -> bool:
    return previews(m) or any(s.ephemeral_stack for s in m.tests)


def previews(m: Manifest) -> bool:
    fb = m.source.feature_branches
    return fb is not None and bool(fb.deploy_to and fb.targets)


def preview_stack(m: Manifest, target: str) -> str:
    """The shell word naming a branch's preview stack of `target` (PREVIEW_SLUG set by SLUG_SHELL)."""
    return f'"{ephemeral_prefix(m.name, "preview")}${{PREVIEW_SLUG}}-{target}"'


def _parameter(key: str, value: str) -> str:
    """One `Key=Value` word, the `{region}` placeholder read from $AWS_REGION (CodeBuild sets it)."""
    return '"$AWS_REGION"'.join(shlex.quote(part) if part else "" for part in f"{key}={value}".split(_REGION))


def deploy_command(m: Manifest, target_name: str, stack: str, template: str, environment: str) -> str:
    """`aws cloudformation deploy` of a target as an ephemeral stack, through the ephemeral role."""
    target = m.target(target_name)
    words = [
        "aws cloudformation deploy",
        f"--stack-name {stack}",
        f"--template-file {template}",
        f'--role-arn "${ROLE_VARIABLE}"',
        "--no-fail-on-empty-changeset",
    ]
    if target.capabilities:
        words.append("--capabilities " + " ".join(target.capabilities))
    if target.parameters:
        rendered = [
            _parameter(k, render_placeholders(v, environment=environment, region=_REGION, name=m.name))
            for k, v in target.parameters
        ]
        words.append("--parameter-overrides " + " ".join(rendered))
    return " ".join(words)


def delete_commands(stack: str) -> tuple[str, ...]:
    """Delete a stack through the ephemeral role and wait (a stack that does not exist: no-op)."""
    return (
        f'aws cloudformation delete-stack --stack-name {stack} --role-arn "${ROLE_VARIABLE}"',
        f"aws cloudformation wait stack-delete-complete --stack-name {stack}",
    )


def _branch() -> str:
    """The branch a feature or teardown build is for: BRANCH from the EventBridge rule
    (CodeCommit), else the webhook's head reference (CODEBUILD_WEBHOOK_HEAD_REF, refs/heads/<branch>)."""
    return 'PREVIEW_BRANCH="${BRANCH:-${CODEBUILD_WEBHOOK_HEAD_REF#refs/heads/}}"'


# a build started by hand without BRANCH has no branch: stop rather than name stacks after ""
_BRANCH_GIVEN = 'test -n "$PREVIEW_BRANCH" || { echo "no branch: start with BRANCH=<branch>" >&2; exit 1; }'


def preview_commands(m: Manifest, template_path) -> tuple[str, ...]:
    """The feature build's last commands: deploy every preview target as the branch's stack."""
    fb = m.source.feature_branches
    commands = [_branch(), _BRANCH_GIVEN, SLUG_SHELL, 'echo "Preview stacks of $PREVIEW_BRANCH: *-$PREVIEW_SLUG-*"']
    for name in fb.targets:
        template = template_path(m, m.target(name).template)
        commands.append(deploy_command(m, name, preview_stack(m, name), template, fb.deploy_to))
    return tuple(commands)


def teardown_commands(m: Manifest) -> tuple[str, ...]:
    commands = [_branch(), _BRANCH_GIVEN, SLUG_SHELL]
    for name in m.source.feature_branches.targets:
        commands += delete_commands(preview_stack(m, name))
    return tuple(commands)


# Each output of the test stack as STACK_<OutputKey> (output keys are alphanumeric: valid names);
# `--output text` prints None when the stack has no outputs.
OUTPUTS_TO_ENV = (
    'while IFS=$\'\\t\' read -r key value; do [ "$key" = None ] || export "STACK_$key=$value"; done '
    '< <(aws cloudformation describe-stacks --stack-name "$EPHEMERAL_STACK" '
    "--query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text)"
)


def suite_stack_phases(m: Manifest, suite: TestSuite) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(commands, finally) of a suite with a test stack: deploy, export the outputs, the suite's
    commands; finally delete. `{environment}` renders as `test` in its parameters."""
    stack = f'"{ephemeral_prefix(m.name, "test-" + suite.name)}${{CODEBUILD_BUILD_NUMBER}}"'
    template = f'"{BUILD_OUTPUT_DIR}"/{shlex.quote(m.target(suite.ephemeral_stack).template)}'
    commands = (
        f"export EPHEMERAL_STACK={stack}",
        deploy_command(m, suite.ephemeral_stack, '"$EPHEMERAL_STACK"', template, "test"),
        OUTPUTS_TO_ENV,
    ) + suite.commands
    return commands, delete_commands('"$EPHEMERAL_STACK"')


def exec_role_arn() -> GetAtt:
    return GetAtt(EXEC_ROLE, "Arn")


def stack_statements(ctx: Context, prefixes: tuple[str, ...], create: bool = True) -> list:
    """What a project may do to ephemeral stacks: create change sets (`create`) and delete stacks
    under its prefixes only through the ephemeral execution role, read and execute them, and pass
    that role to CloudFormation only."""
    stacks = [ctx.arn("cloudformation", f"stack/{p}*/*") for p in prefixes]
    through_role = Condition(ArnEquals({"cloudformation:RoleArn": exec_role_arn()}))
    read = [acfn.DescribeStacks, acfn.DescribeStackEvents]
    if create:
        # `aws cloudformation deploy` (awscli customizations/cloudformation/deployer.py): DescribeStacks,
        # GetTemplateSummary of an existing stack (an update), CreateChangeSet, DescribeChangeSet
        # (waiter), ExecuteChangeSet, DescribeStacks (waiter)
        read += [acfn.GetTemplateSummary, acfn.DescribeChangeSet, acfn.ExecuteChangeSet, acfn.DeleteChangeSet]
    return [
        allow(
            ([acfn.CreateChangeSet] if create else []) + [acfn.DeleteStack],
            stacks,
            through_role,
            sid="EphemeralStacksThroughTheirRole",
        ),
        allow(read, stacks, sid="EphemeralStacks"),
        allow(
            [iam.PassRole],
            [exec_role_arn()],
            Condition(StringEquals({"iam:PassedToService": "cloudformation.amazonaws.com"})),
            sid="PassEphemeralExecRole",
        ),
    ]


def emit_ephemeral(ctx: Context) -> None:
    """The execution role of ephemeral stacks, and the preview teardown trigger (CodeCommit)."""
    m = ctx.manifest
    if not uses_ephemeral_stacks(m):
        return
    prefixes = []
    targets = []
    if previews(m):
        prefixes.append(ephemeral_prefix(m.name, "preview"))
        targets += list(m.source.feature_branches.targets)
    for suite in m.tests:
        if suite.ephemeral_stack:
            prefixes.append(ephemeral_prefix(m.name, f"test-{suite.name}"))
            targets.append(suite.ephemeral_stack)
    policies = sorted({p for name in targets for p in m.target(name).execution_policies})
    # The stacks' own roles: under each prefix's compiler-owned path, carrying the boundary. And
    # unreviewed code must not reach the pipeline through what its stacks create: no artifact
    # bucket, no change to this pipeline or its projects, no other stack.
    statements = app_role_statements(m.name, [p + "*" for p in prefixes]) + [
        Statement(
            Sid="NotThePipelineArtifacts",
            Effect=Deny,
            Action=[as3.Action("*")],
            Resource=[GetAtt("ArtifactBucket", "Arn"), Sub("${ArtifactBucket.Arn}/*")],
        ),
        Statement(
            Sid="NotThePipeline",
            Effect=Deny,
            Action=[codepipeline.Action("*"), codebuild.Action("*")],
            Resource=[ctx.pipeline_arn, ctx.arn("codebuild", f"project/{m.name}-*")],
        ),
        Statement(
            Sid="OnlyEphemeralStacks",
            Effect=Deny,
            Action=[acfn.Action("*")],
            # its own stacks (nested ones are named after their parent), and AWS-owned transforms
            NotResource=[ctx.arn("cloudformation", f"stack/{p}*/*") for p in prefixes]
            + [Sub("arn:${AWS::Partition}:cloudformation:${AWS::Region}:aws:transform/*")],
        ),
    ]
    service_role(
        ctx,
        EXEC_ROLE,
        "cloudformation.amazonaws.com",
        statements,
        managed=[Sub(p.replace("arn:aws:", "arn:${AWS::Partition}:")) for p in policies],
    )
    if previews(m) and m.source.provider == "codecommit":
        _teardown_rule(ctx)


def teardown_source(ctx: Context, spec) -> dict:
    """The teardown project's source: none for CodeCommit (an EventBridge rule starts it with
    BRANCH), the repository with a webhook on pull requests merged or closed from a matching branch
    for codestar (it clones, runs only its own inline buildspec, and reports nothing back)."""
    m = ctx.manifest
    if m.source.provider == "codecommit":
        return {"Source": cb.Source(Type="NO_SOURCE", BuildSpec=spec)}
    from .feature import feature_source, glob_to_regex

    source = feature_source(ctx, spec)["Source"]
    source.properties["ReportBuildStatus"] = False
    branches = "|".join(glob_to_regex(p) for p in m.source.feature_branches.patterns)
    return {
        "Source": source,
        "Triggers": cb.ProjectTriggers(
            Webhook=True,
            FilterGroups=[
                [
                    cb.WebhookFilter(Type="EVENT", Pattern=",".join(aws.PULL_REQUEST_CLOSED_WEBHOOK_EVENTS)),
                    cb.WebhookFilter(Type="HEAD_REF", Pattern=f"^refs/heads/({branches})$"),
                ]
            ],
            # a fork's pull request from a same-named branch waits for a maintainer's comment
            # instead of deleting this repository's previews (as far as the policy covers these events)
            PullRequestBuildPolicy=cb.PullRequestBuildPolicy(RequiresCommentApproval="FORK_PULL_REQUESTS"),
        ),
    }


def _teardown_rule(ctx: Context) -> None:
    """CodeCommit: a matching branch deleted (`referenceDeleted`) starts the teardown project."""
    m = ctx.manifest
    project = ctx.project_arn(TEARDOWN)
    service_role(
        ctx,
        "PreviewTeardownRuleRole",
        "events.amazonaws.com",
        [allow([codebuild.StartBuild], [project], sid="StartPreviewTeardown")],
    )
    pattern = ctx.codecommit_push_pattern([{"wildcard": p} for p in m.source.feature_branches.patterns])
    pattern["detail"]["event"] = ["referenceDeleted"]
    ctx.add(
        events.Rule(
            "PreviewTeardownRule",
            Name=f"{m.name}-preview-teardown",
            Description=f"Delete the preview stacks of a deleted {', '.join(m.source.feature_branches.patterns)} branch",
            State="ENABLED",
            EventPattern=pattern,
            Targets=[
                events.Target(
                    Id="preview-teardown",
                    Arn=project,
                    RoleArn=GetAtt("PreviewTeardownRuleRole", "Arn"),
                    InputTransformer=events.InputTransformer(
                        InputPathsMap={"branch": "$.detail.referenceName"},
                        InputTemplate='{"environmentVariablesOverride": '
                        '[{"name": "BRANCH", "value": <branch>, "type": "PLAINTEXT"}]}',
                    ),
                )
            ],
        )
    )
