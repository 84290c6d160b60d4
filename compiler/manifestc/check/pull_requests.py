"""Readiness check: projects that build pull requests hold nothing worth stealing (MC675–MC677).

A pull request runs code nobody has reviewed yet, perhaps from a fork (README "Pull-request
builds"). The check reads `pipeline.yaml` as rendered and finds every CodeBuild project a pull
request starts — a webhook filter group with a `PULL_REQUEST_*` event, or the target of an
EventBridge rule on `CodeCommit Pull Request State Change` — and refuses:

- MC675: an environment variable resolved from Secrets Manager or Parameter Store;
- MC676: a role granting anything beyond reading the source, its build's dependencies and image,
  writing its logs and reports, and running in the build VPC (`_READ_ONLY` below), or any
  managed policy, or a KMS grant not limited to S3's use (`kms:ViaService`);
- MC677: a write to the artifact bucket outside the `cache/` and `reports/` prefixes (the
  pipeline's artifacts, which deploy actions read, live under `<pipeline name>/`).
"""

from __future__ import annotations

import json
from typing import Any

from ..diagnostics import Diagnostic, Severity
from ..model import Manifest
from . import Templates, template_file

# Actions a pull-request project's role may have (emit/codebuild.py, emit/feature.py, emit/iam.py):
# exact names, or a service prefix ending in ":" for services whose every emitted action is harmless.
_READ_ONLY = frozenset(
    {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:PutObject",  # scoped by MC677
        "s3:GetBucketAcl",
        "s3:GetBucketLocation",
        "s3:GetBucketVersioning",
        # the artifact key only as S3 uses it for the project's own cache and report exports
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "codebuild:CreateReport",
        "codebuild:UpdateReport",
        "codebuild:BatchPutTestCases",
        "codebuild:BatchPutCodeCoverages",
        "codecommit:GitPull",
        # what CodeBuild needs to clone and report (emit/feature.py CODEBUILD_CONNECTION_ACTIONS);
        # UseConnection is the pipeline's, never a pull-request project's
        "codeconnections:GetConnection",
        "codeconnections:GetConnectionToken",
        "codestar-connections:GetConnection",
        "codestar-connections:GetConnectionToken",
        "codeartifact:GetAuthorizationToken",
        "codeartifact:GetRepositoryEndpoint",
        "codeartifact:ReadFromRepository",
        "sts:GetServiceBearerToken",
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "ec2:",  # the VPC build's network interfaces
    }
)
# A project only a pull request's *end* starts (merged or closed: the preview teardown of
# emit/ephemeral.py) runs its own inline buildspec, no code of the pull request, and may also delete
# ephemeral stacks through their role (MC676 still refuses anything else).
_CLOSING_EVENTS = frozenset({"PULL_REQUEST_MERGED", "PULL_REQUEST_CLOSED"})
_TEARDOWN = frozenset(
    {
        "cloudformation:DeleteStack",
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackEvents",
        "iam:PassRole",
    }
)
_WRITABLE_PREFIXES = ("cache/", "reports/")
_RULE_DETAIL_TYPE = "CodeCommit Pull Request State Change"


def _pull_request_projects(resources: dict[str, Any]) -> set[str]:
    """Logical ids of the CodeBuild projects a pull request starts."""
    found = set()
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::CodeBuild::Project":
            continue
        groups = resource.get("Properties", {}).get("Triggers", {}).get("FilterGroups", [])
        for group in groups:
            for f in group:
                if f.get("Type") == "EVENT" and "PULL_REQUEST" in str(f.get("Pattern", "")):
                    found.add(logical_id)
    names = {
        _text(r.get("Properties", {}).get("Name")): logical_id
        for logical_id, r in resources.items()
        if r.get("Type") == "AWS::CodeBuild::Project"
    }
    for resource in resources.values():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        props = resource.get("Properties", {})
        if _RULE_DETAIL_TYPE not in props.get("EventPattern", {}).get("detail-type", []):
            continue
        for target in props.get("Targets", []):
            arn = _text(target.get("Arn"))
            for name, logical_id in names.items():
                if name and arn.endswith(f":project/{name}"):
                    found.add(logical_id)
    return found


def _closing_only(resource: dict[str, Any]) -> bool:
    """Whether every pull-request event that starts this project ends a pull request."""
    events = [
        event
        for group in resource.get("Properties", {}).get("Triggers", {}).get("FilterGroups", [])
        for f in group
        if f.get("Type") == "EVENT"
        for event in str(f.get("Pattern", "")).split(",")
    ]
    return bool(events) and all(event in _CLOSING_EVENTS for event in events)


def _text(value: Any) -> str:
    """A name or ARN as written: a plain string, or the string of an Fn::Sub (product templates)."""
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        return value["Fn::Sub"]
    return value if isinstance(value, str) else ""


def _allowed(action: str) -> bool:
    return action in _READ_ONLY or f"{action.split(':')[0]}:" in _READ_ONLY


def _writes_outside(resource: Any) -> bool:
    """Whether an s3:PutObject resource reaches artifact-bucket objects outside the allowed prefixes."""
    text = json.dumps(resource)
    if "ArtifactBucket" not in text:
        return True  # another bucket: not the project's business at all
    sub = resource.get("Fn::Sub") if isinstance(resource, dict) else None
    if not isinstance(sub, str) or not sub.startswith("${ArtifactBucket.Arn}/"):
        return True
    return not sub.removeprefix("${ArtifactBucket.Arn}/").startswith(_WRITABLE_PREFIXES)


def check_pull_request_projects(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    """MC675–MC677 for each pull-request project holding a secret, a grant, or pipeline write access."""
    template = templates.get("pipeline.yaml")
    if not template:
        return []
    resources = template.get("Resources", {})
    file = template_file(manifest, "pipeline.yaml")
    found = []

    def report(code: str, message: str) -> None:
        found.append(Diagnostic(code, Severity.ERROR, message, file, hint="this is a manifestc bug; please report it"))

    for logical_id in sorted(_pull_request_projects(resources)):
        props = resources[logical_id].get("Properties", {})
        for variable in props.get("Environment", {}).get("EnvironmentVariables", []):
            if variable.get("Type") in ("SECRETS_MANAGER", "PARAMETER_STORE"):
                report(
                    "MC675",
                    f"{logical_id} builds pull requests and receives secret variable {variable.get('Name')}",
                )
        role = props.get("ServiceRole", {})
        role_id = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
        role_props = resources.get(role_id, {}).get("Properties", {}) if role_id else {}
        if role_props.get("ManagedPolicyArns"):
            report("MC676", f"{logical_id} builds pull requests and its role {role_id} has managed policies")
        for policy in role_props.get("Policies", []):
            for statement in policy.get("PolicyDocument", {}).get("Statement", []):
                if statement.get("Effect") != "Allow":
                    continue
                actions = statement.get("Action", [])
                actions = actions if isinstance(actions, list) else [actions]
                extra = sorted(a for a in actions if not _allowed(str(a)))
                if _closing_only(resources[logical_id]):
                    extra = [a for a in extra if a not in _TEARDOWN]
                if extra:
                    report(
                        "MC676",
                        f"{logical_id} builds pull requests and its role {role_id} allows {', '.join(extra)}",
                    )
                if any(str(a).startswith("kms:") for a in actions) and "kms:ViaService" not in json.dumps(
                    statement.get("Condition", {})
                ):
                    report(
                        "MC676",
                        f"{logical_id} builds pull requests and its role {role_id} may use a KMS key outside S3 "
                        "(no kms:ViaService condition)",
                    )
                if "s3:PutObject" in actions:
                    resources_ = statement.get("Resource", [])
                    resources_ = resources_ if isinstance(resources_, list) else [resources_]
                    if any(_writes_outside(r) for r in resources_):
                        report(
                            "MC677",
                            f"{logical_id} builds pull requests and its role {role_id} may write objects "
                            "outside cache/ and reports/ of the artifact bucket (the pipeline's artifacts)",
                        )
    return found
