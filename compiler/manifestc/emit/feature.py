"""Feature-branch and pull-request builds (source.feature_branches, source.pull_requests): CodeBuild
projects outside the pipeline, started on every push to a matching branch or on every pull request
into the pipeline's branch — by an EventBridge rule for CodeCommit, by a CodeBuild webhook filter
(which reports the build status back to the commit or pull request) for CodeStar-connected hosts."""

from __future__ import annotations

import re

from awacs import codebuild, codecommit
from troposphere import GetAtt, Sub, events
from troposphere import codebuild as cb

from .. import aws
from ..model import Manifest
from ..semantics_monorepo import webhook_path_regex
from .context import Context
from .iam import allow, connection_actions, connection_resources, service_role


def glob_to_regex(pattern: str) -> str:
    """A branch glob (`feature/*`, `fix/**`) as the regex CodeBuild webhook filters match."""
    out = ""
    for part in re.split(r"(\*\*|\*|\?)", pattern):
        out += {"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return out


def path_filters(ctx: Context) -> list:
    """A monorepo service's `source.paths` as the FILE_PATH filter of its webhooks' filter groups
    (semantics_monorepo.webhook_path_regex); none without `paths`."""
    paths = ctx.manifest.source.paths
    return [cb.WebhookFilter(Type="FILE_PATH", Pattern=webhook_path_regex(paths))] if paths else []


def feature_branch_filter(m: Manifest) -> cb.WebhookFilter:
    """The webhook filter on the head reference: a branch matching `feature_branches.patterns`."""
    branches = "|".join(glob_to_regex(p) for p in m.source.feature_branches.patterns)
    return cb.WebhookFilter(Type="HEAD_REF", Pattern=f"^refs/heads/({branches})$")


def feature_source(ctx: Context, spec, *, pull_requests: bool = False) -> dict:
    """Source and triggers of the feature-branch project (or, with `pull_requests`, the pull-request one)."""
    m = ctx.manifest
    if m.source.provider == "codecommit":
        location = Sub(
            "https://git-codecommit.${AWS::Region}.${AWS::URLSuffix}/v1/repos/" + ctx.sub_value("repository")
        )
        return {"Source": cb.Source(Type="CODECOMMIT", Location=location, BuildSpec=spec, GitCloneDepth=1)}
    kind, url = aws.GIT_HOSTS[m.source.host]
    source = cb.Source(
        Type=kind,
        Location=Sub(url.format(repository=ctx.sub_value("repository")))
        if ctx.parameterised("repository")
        else url.format(repository=m.source.repository),
        BuildSpec=spec,
        GitCloneDepth=1,
        ReportBuildStatus=True,
    )
    # troposphere's SourceAuth validator predates CODECONNECTIONS (CloudFormation accepts it:
    # AWS::CodeBuild::Project SourceAuth Type OAUTH | CODECONNECTIONS | SECRETS_MANAGER).
    source.properties["Auth"] = {"Type": "CODECONNECTIONS", "Resource": ctx.value("connection_arn")}
    if pull_requests:
        return {"Source": source, "Triggers": _pull_request_triggers(ctx)}
    return {
        "Source": source,
        "Triggers": cb.ProjectTriggers(
            Webhook=True,
            FilterGroups=[
                [
                    cb.WebhookFilter(Type="EVENT", Pattern="PUSH"),
                    feature_branch_filter(m),
                ]
                + path_filters(ctx)
            ],
        ),
    }


def _pull_request_triggers(ctx: Context) -> cb.ProjectTriggers:
    """Pull requests opened, updated or reopened into the pipeline's branch (BASE_REF), each built
    and reported back to the pull request; those `approval` names wait for a maintainer's
    `/codebuild_run(<sha>)` comment (aws.PULL_REQUEST_APPROVAL)."""
    m = ctx.manifest
    base = (
        Sub("^refs/heads/" + ctx.sub_value("branch") + "$")
        if ctx.parameterised("branch")
        else f"^refs/heads/{re.escape(m.source.branch)}$"
    )
    return cb.ProjectTriggers(
        Webhook=True,
        FilterGroups=[
            [
                cb.WebhookFilter(Type="EVENT", Pattern=",".join(aws.PULL_REQUEST_WEBHOOK_EVENTS)),
                cb.WebhookFilter(Type="BASE_REF", Pattern=base),
            ]
            + path_filters(ctx)
        ],
        PullRequestBuildPolicy=cb.PullRequestBuildPolicy(
            RequiresCommentApproval=aws.PULL_REQUEST_APPROVAL[m.source.pull_requests.approval]
        ),
    )


# What a CodeBuild project's role needs to clone through a connection and report the build status:
# codeconnections:GetConnectionToken and GetConnection on that connection (CodeBuild User Guide,
# "GitHub App connections for GitHub and GitHub Enterprise Server", step 2: "Grant CodeBuild project
# IAM role access to use the connection"). UseConnection is what a CodePipeline source action needs
# (the pipeline role has it), never a CodeBuild project: not granted here.
CODEBUILD_CONNECTION_ACTIONS = ("GetConnection", "GetConnectionToken")


def source_access_statements(ctx: Context) -> list:
    """What a feature or pull-request project's role needs to read the repository."""
    m = ctx.manifest
    if m.source.provider == "codecommit":
        return [
            allow([codecommit.GitPull], [ctx.arn("codecommit", ctx.sub_value("repository"))], sid="CloneRepository")
        ]
    return [allow(connection_actions(*CODEBUILD_CONNECTION_ACTIONS), connection_resources(ctx), sid="ConnectionToken")]


def emit_feature_rule(ctx: Context) -> None:
    """CodeCommit pushes to matching branches start the feature project through EventBridge."""
    m = ctx.manifest
    fb = m.source.feature_branches
    if fb is None or m.source.provider != "codecommit":
        return
    project = ctx.project_arn("feature")
    service_role(
        ctx,
        "FeatureRuleRole",
        "events.amazonaws.com",
        [allow([codebuild.StartBuild], [project], sid="StartFeatureBuild")],
    )
    ctx.add(
        events.Rule(
            "FeatureRule",
            Name=f"{m.name}-feature",
            Description=f"Build the {', '.join(fb.patterns)} branches of pipeline {m.name} on push",
            State="ENABLED",
            EventPattern=ctx.codecommit_push_pattern([{"wildcard": p} for p in fb.patterns]),
            Targets=[
                events.Target(
                    Id="feature-build",
                    Arn=project,
                    RoleArn=GetAtt("FeatureRuleRole", "Arn"),
                    InputTransformer=events.InputTransformer(
                        InputPathsMap={"commit": "$.detail.commitId", "branch": "$.detail.referenceName"},
                        InputTemplate='{"sourceVersion": <commit>, "environmentVariablesOverride": '
                        '[{"name": "BRANCH", "value": <branch>, "type": "PLAINTEXT"}]}',
                    ),
                )
            ],
        )
    )


def emit_pull_request_rule(ctx: Context) -> None:
    """CodeCommit pull requests into the pipeline's branch (created, or their source branch updated)
    start the pull-request project with the pull request's head commit, through EventBridge."""
    m = ctx.manifest
    if m.source.pull_requests is None or m.source.provider != "codecommit":
        return
    project = ctx.project_arn("pr")
    service_role(
        ctx,
        "PullRequestRuleRole",
        "events.amazonaws.com",
        [allow([codebuild.StartBuild], [project], sid="StartPullRequestBuild")],
    )
    ctx.add(
        events.Rule(
            "PullRequestRule",
            Name=f"{m.name}-pr",
            Description=f"Build pull requests into {m.source.branch} of pipeline {m.name}",
            State="ENABLED",
            EventPattern={
                "source": ["aws.codecommit"],
                "detail-type": ["CodeCommit Pull Request State Change"],
                "resources": [ctx.arn("codecommit", ctx.sub_value("repository"))],
                "detail": {
                    "event": list(aws.CODECOMMIT_PULL_REQUEST_EVENTS),
                    "pullRequestStatus": ["Open"],
                    "destinationReference": [Sub("refs/heads/" + ctx.sub_value("branch"))]
                    if ctx.parameterised("branch")
                    else [f"refs/heads/{m.source.branch}"],
                },
            },
            Targets=[
                events.Target(
                    Id="pull-request-build",
                    Arn=project,
                    RoleArn=GetAtt("PullRequestRuleRole", "Arn"),
                    InputTransformer=events.InputTransformer(
                        InputPathsMap={"commit": "$.detail.sourceCommit", "id": "$.detail.pullRequestId"},
                        InputTemplate='{"sourceVersion": <commit>, "environmentVariablesOverride": '
                        '[{"name": "PULL_REQUEST_ID", "value": <id>, "type": "PLAINTEXT"}]}',
                    ),
                )
            ],
        )
    )
