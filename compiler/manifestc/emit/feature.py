"""Feature-branch builds (SPEC §3 source.feature_branches): a CodeBuild project outside the
pipeline, started on every push to a matching branch — by an EventBridge rule for CodeCommit,
by a CodeBuild webhook filter for CodeStar-connected hosts."""

from __future__ import annotations

import re

from awacs import codebuild, codecommit
from troposphere import GetAtt, Sub, events
from troposphere import codebuild as cb

from .. import aws
from .context import Context
from .iam import allow, connection_actions, connection_resources, service_role


def glob_to_regex(pattern: str) -> str:
    """A branch glob (`feature/*`, `fix/**`) as the regex CodeBuild webhook filters match."""
    out = ""
    for part in re.split(r"(\*\*|\*|\?)", pattern):
        out += {"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return out


def feature_source(ctx: Context, spec) -> dict:
    """Source, triggers and source-access statements of the feature-branch project."""
    m = ctx.manifest
    fb = m.source.feature_branches
    if m.source.provider == "codecommit":
        location = Sub(
            "https://git-codecommit.${AWS::Region}.${AWS::URLSuffix}/v1/repos/" + ctx.sub_value("repository")
        )
        return {"Source": cb.Source(Type="CODECOMMIT", Location=location, BuildSpec=spec, GitCloneDepth=1)}
    kind, url = aws.GIT_HOSTS[m.source.host]
    branches = "|".join(glob_to_regex(p) for p in fb.patterns)
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
    return {
        "Source": source,
        "Triggers": cb.ProjectTriggers(
            Webhook=True,
            FilterGroups=[
                [
                    cb.WebhookFilter(Type="EVENT", Pattern="PUSH"),
                    cb.WebhookFilter(Type="HEAD_REF", Pattern=f"^refs/heads/({branches})$"),
                ]
            ],
        ),
    }


def source_access_statements(ctx: Context) -> list:
    """What the feature project's role needs to read the repository."""
    m = ctx.manifest
    if m.source.provider == "codecommit":
        return [
            allow([codecommit.GitPull], [ctx.arn("codecommit", ctx.sub_value("repository"))], sid="CloneRepository")
        ]
    actions = [action for action in connection_actions("UseConnection", "GetConnection", "GetConnectionToken")]
    return [allow(actions, connection_resources(ctx), sid="UseConnection")]


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
