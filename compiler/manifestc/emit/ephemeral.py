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

import re
import shlex

from awacs import cloudformation as acfn
from awacs import codebuild, codepipeline, iam
from awacs import s3 as as3
from awacs.aws import ArnEquals, Condition, Deny, Null, Statement, StringEquals, StringNotEquals
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
# Every ephemeral stack carries this tag, its value the stack's prefix (`aws cloudformation deploy
# --tags`, which CreateChangeSet receives): a project may create change sets only with it
# (aws:RequestTag) and delete only stacks carrying it (aws:ResourceTag), and never touches a stack
# tagged with another prefix — so another pipeline whose names happen to fall under this prefix
# keeps its ephemeral stacks. Condition keys (Service Authorization Reference, "Actions, resources,
# and condition keys for AWS CloudFormation"): CreateChangeSet takes aws:RequestTag/${TagKey},
# aws:TagKeys, cloudformation:RoleArn and cloudformation:ImportResourceTypes; the `stack` resource
# type (CreateChangeSet, ExecuteChangeSet, DeleteChangeSet, DeleteStack) takes aws:ResourceTag/${TagKey}.
TAG_KEY = "manifestc:ephemeral"
# Placeholders a parameter value may hold, each rendered as a shell variable of the build.
_REGION = "\0region\0"
_SLUG = "\0slug\0"
_BUILD = "\0build\0"
_SHELL = {_REGION: '"$AWS_REGION"', _SLUG: '"$PREVIEW_SLUG"', _BUILD: '"$CODEBUILD_BUILD_NUMBER"'}


def uses_ephemeral_stacks(m: Manifest) -> bool:
    return previews(m) or any(s.ephemeral_stack for s in m.tests)


def previews(m: Manifest) -> bool:
    fb = m.source.feature_branches
    return fb is not None and bool(fb.deploy_to and fb.targets)


def preview_stack(m: Manifest, target: str) -> str:
    """The shell word naming a branch's preview stack of `target` (PREVIEW_SLUG set by SLUG_SHELL)."""
    return f'"{ephemeral_prefix(m.name, "preview")}${{PREVIEW_SLUG}}-{target}"'


def _parameter(key: str, value: str) -> str:
    """One `Key=Value` word, its placeholders read from the build's variables: `{region}` from
    $AWS_REGION (CodeBuild sets it), a preview's branch slug from $PREVIEW_SLUG, a test stack's
    build number from $CODEBUILD_BUILD_NUMBER."""
    parts = re.split("(" + "|".join(map(re.escape, _SHELL)) + ")", f"{key}={value}")
    return "".join(_SHELL.get(part) or (shlex.quote(part) if part else "") for part in parts)


def preview_environment(m: Manifest) -> str:
    """What `{environment}` renders as in a preview's parameters: `<deploy_to>-preview-<branch slug>`,
    so that names a template derives from it differ from the environment's own and between branches."""
    return f"{m.source.feature_branches.deploy_to}-preview-{_SLUG}"


def test_environment(suite: TestSuite) -> str:
    """What `{environment}` renders as in a test stack's parameters: `test-<suite>-<build number>`."""
    return f"test-{suite.name}-{_BUILD}"


def deploy_command(m: Manifest, target_name: str, stack: str, template: str, environment: str, prefix: str) -> str:
    """`aws cloudformation deploy` of a target as an ephemeral stack, through the ephemeral role,
    tagged with its prefix."""
    target = m.target(target_name)
    words = [
        "aws cloudformation deploy",
        f"--stack-name {stack}",
        f"--template-file {template}",
        f'--role-arn "${ROLE_VARIABLE}"',
        "--no-fail-on-empty-changeset",
        f"--tags {shlex.quote(f'{TAG_KEY}={prefix}')}",
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
    """Delete a stack through the ephemeral role and wait. A stack that does not exist is skipped
    (DeleteStack is allowed only on stacks carrying the prefix's tag, which a missing one lacks);
    any other failure to describe it fails the build."""
    return (
        (
            f"if aws cloudformation describe-stacks --stack-name {stack} >/dev/null 2>/tmp/describe.err; then "
            f'aws cloudformation delete-stack --stack-name {stack} --role-arn "${ROLE_VARIABLE}" && '
            f"aws cloudformation wait stack-delete-complete --stack-name {stack}; "
            f"elif grep -q 'does not exist' /tmp/describe.err; then echo no stack {stack}; "
            "else cat /tmp/describe.err >&2; false; fi"
        ),
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
        commands.append(
            deploy_command(
                m, name, preview_stack(m, name), template, preview_environment(m), ephemeral_prefix(m.name, "preview")
            )
        )
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
    commands; finally delete. `{environment}` renders as `test-<suite>-<build number>` in its parameters."""
    prefix = ephemeral_prefix(m.name, "test-" + suite.name)
    stack = f'"{prefix}${{CODEBUILD_BUILD_NUMBER}}"'
    template = f'"{BUILD_OUTPUT_DIR}"/{shlex.quote(m.target(suite.ephemeral_stack).template)}'
    commands = (
        f"export EPHEMERAL_STACK={stack}",
        deploy_command(m, suite.ephemeral_stack, '"$EPHEMERAL_STACK"', template, test_environment(suite), prefix),
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
    role = {"cloudformation:RoleArn": exec_role_arn()}
    read = [acfn.DescribeStacks, acfn.DescribeStackEvents]
    if create:
        # `aws cloudformation deploy` (awscli customizations/cloudformation/deployer.py): DescribeStacks,
        # GetTemplateSummary of an existing stack (an update), CreateChangeSet, DescribeChangeSet
        # (waiter), ExecuteChangeSet, DescribeStacks (waiter)
        read += [acfn.GetTemplateSummary, acfn.DescribeChangeSet, acfn.ExecuteChangeSet, acfn.DeleteChangeSet]
    writes = [acfn.CreateChangeSet, acfn.ExecuteChangeSet, acfn.DeleteChangeSet, acfn.DeleteStack]
    creates = [
        # change sets only through the role, and only tagging the stack as this prefix's
        allow(
            [acfn.CreateChangeSet],
            stacks,
            Condition([ArnEquals(role), StringEquals({f"aws:RequestTag/{TAG_KEY}": list(prefixes)})]),
            sid="EphemeralChangeSetsThroughTheirRole",
        ),
        # no IMPORT change sets: a branch's stack must not adopt (then delete) an existing resource
        Statement(
            Sid="NoImportIntoEphemeralStacks",
            Effect=Deny,
            Action=[acfn.CreateChangeSet],
            Resource=["*"],
            Condition=Condition(Null({"cloudformation:ImportResourceTypes": "false"})),
        ),
    ]
    return (creates if create else []) + [
        allow(
            [acfn.DeleteStack],
            stacks,
            Condition([ArnEquals(role), StringEquals({f"aws:ResourceTag/{TAG_KEY}": list(prefixes)})]),
            sid="DeleteOwnEphemeralStacksThroughTheirRole",
        ),
        # a stack under the prefix but tagged by another pipeline (or prefix) is not this project's
        Statement(
            Sid="NotOtherOwnersStacks",
            Effect=Deny,
            Action=writes,
            Resource=["*"],
            Condition=Condition(
                [
                    Null({f"aws:ResourceTag/{TAG_KEY}": "false"}),
                    StringNotEquals({f"aws:ResourceTag/{TAG_KEY}": list(prefixes)}),
                ]
            ),
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
    from .feature import feature_branch_filter, feature_source, path_filters

    source = feature_source(ctx, spec)["Source"]
    source.properties["ReportBuildStatus"] = False
    return {
        "Source": source,
        "Triggers": cb.ProjectTriggers(
            Webhook=True,
            FilterGroups=[
                [
                    cb.WebhookFilter(Type="EVENT", Pattern=",".join(aws.PULL_REQUEST_CLOSED_WEBHOOK_EVENTS)),
                    feature_branch_filter(m),
                ]
                + path_filters(ctx)
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
