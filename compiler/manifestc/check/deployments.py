"""What a rendered pipeline deploys, read from its actions the way a reviewer reads them.

Shared by the deploy-collision checks (readiness check 3) and the lifecycle check (check 4): every
CloudFormation stack, ECS service, Lambda function, S3 bucket prefix and Glue database a pipeline
writes to, with the account and region it lands in, found in `pipeline.yaml`'s CodePipeline
actions, the buildspecs of the CodeBuild jobs they run, and the companion templates they deploy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..model import Manifest

Templates = Mapping[str, dict[str, Any]]  # as in check/__init__.py (not imported: no import cycle)

DEPLOYING_ACCOUNT = "(the deploying account)"
DEPLOYING_REGION = "(the deploying region)"


@dataclass(frozen=True)
class Deployment:
    """One resource a pipeline action writes to."""

    account: str
    region: str
    kind: str  # stack | ECS service | Lambda function | S3 prefix | Glue database
    identity: str  # stack name, cluster/service, function, bucket/prefix, database
    stage: str
    action: str


def text(value: Any) -> str | None:
    """A template value as text: literals, Fn::Sub strings, Refs as ${Name}; None otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            return sub if isinstance(sub, str) else sub[0] if isinstance(sub, list) and sub else None
        if "Ref" in value:
            return "${" + str(value["Ref"]) + "}"
        if "Fn::GetAtt" in value:
            ref = value["Fn::GetAtt"]
            return "${" + ".".join(ref) + "}" if isinstance(ref, list) else "${" + str(ref) + "}"
    return None


def _home(manifest: Manifest) -> tuple[str, str]:
    return manifest.account or DEPLOYING_ACCOUNT, manifest.region or DEPLOYING_REGION


def _account_of_role(role: Any, default: str) -> str:
    match = re.search(r":iam::(\d{12}):role/", text(role) or "")
    return match.group(1) if match else default


def _resolve(value: str, region: str) -> str:
    return value.replace("${AWS::Region}", region).replace("${!", "${")


def pipeline_actions(templates: Templates) -> Iterator[tuple[str, dict]]:
    """(stage name, action) for every action of every pipeline in pipeline.yaml."""
    for resource in templates.get("pipeline.yaml", {}).get("Resources", {}).values():
        if resource.get("Type") != "AWS::CodePipeline::Pipeline":
            continue
        for stage in resource.get("Properties", {}).get("Stages", []):
            for action in stage.get("Actions", []):
                yield stage.get("Name", ""), action


def buildspec_commands(templates: Templates, project: Any) -> list[str]:
    """The commands of the buildspec of the CodeBuild project an action names (Ref)."""
    logical_id = project.get("Ref") if isinstance(project, dict) else None
    resource = templates.get("pipeline.yaml", {}).get("Resources", {}).get(logical_id or "", {})
    spec = text(resource.get("Properties", {}).get("Source", {}).get("BuildSpec")) or ""
    return [line for line in spec.splitlines() if line.strip()]


def overrides(configuration: dict) -> dict[str, str]:
    """A CloudFormation action's ParameterOverrides as a dictionary (empty when not JSON)."""
    raw = text(configuration.get("ParameterOverrides"))
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def deployments(manifest: Manifest, templates: Templates) -> list[Deployment]:
    """Every resource the pipeline's deploy actions write to, with account and region."""
    home_account, home_region = _home(manifest)
    found: list[Deployment] = []
    for stage, action in pipeline_actions(templates):
        kind = action.get("ActionTypeId", {})
        provider, category = kind.get("Provider"), kind.get("Category")
        config = action.get("Configuration", {})
        name = action.get("Name", "")
        account = _account_of_role(action.get("RoleArn"), home_account)
        region = text(action.get("Region")) or home_region
        if provider == "CloudFormation" and config.get("ActionMode") in ("CHANGE_SET_REPLACE", "CREATE_UPDATE"):
            stack = text(config.get("StackName")) or ""
            if "${AWS::StackName}" in stack:
                continue  # the self-update action updates the pipeline's own stack
            found.append(Deployment(account, region, "stack", _resolve(stack, region), stage, name))
            template = (text(config.get("TemplatePath")) or "").partition("::")[2]
            for database in _databases(templates.get(template, {}), overrides(config)):
                found.append(Deployment(account, region, "Glue database", database, stage, name))
        elif provider == "ECS" and category == "Deploy":
            identity = f"{text(config.get('ClusterName'))}/{text(config.get('ServiceName'))}"
            found.append(Deployment(account, region, "ECS service", _resolve(identity, region), stage, name))
        elif provider == "S3" and category == "Deploy":
            bucket, key = text(config.get("BucketName")) or "", text(config.get("ObjectKey")) or ""
            # a bucket is global: its account and region do not matter
            found.append(Deployment("(any account)", "(any region)", "S3 prefix", f"{bucket}/{key}", stage, name))
        elif provider in _NAMED_DEPLOYS and category == "Deploy":
            kind_name, first, second = _NAMED_DEPLOYS[provider]
            identity = f"{text(config.get(first))}/{text(config.get(second))}" if second else text(config.get(first))
            found.append(Deployment(account, region, kind_name, _resolve(identity or "", region), stage, name))
        elif provider == "CodeBuild":
            for command in buildspec_commands(templates, config.get("ProjectName")):
                for function, fn_region, fn_account in _function_updates(command):
                    found.append(
                        Deployment(
                            fn_account or account,
                            fn_region or home_region,
                            "Lambda function",
                            function,
                            stage,
                            name,
                        )
                    )
    if manifest.catalog is not None:
        # A product names what it deploys after the copy's PipelineName parameter (each copy its
        # own); compared here as the default copy, named like the manifest.
        found = [replace(d, identity=d.identity.replace("${PipelineName}", manifest.name)) for d in found]
    return found


# Deploy actions that write one named resource (README `targets`: codedeploy, elasticbeanstalk,
# servicecatalog): provider -> (kind, configuration key, second key joined with `/`).
_NAMED_DEPLOYS = {
    "CodeDeploy": ("CodeDeploy deployment group", "ApplicationName", "DeploymentGroupName"),
    "ElasticBeanstalk": ("Elastic Beanstalk environment", "ApplicationName", "EnvironmentName"),
    "ServiceCatalog": ("Service Catalog product", "ProductId", None),
}


def _function_updates(command: str) -> Iterator[tuple[str, str | None, str | None]]:
    """(function, region, account) of each `aws lambda update-function-code` in a command."""
    account = None
    role = re.search(r"role_arn\s+arn:[^:]+:iam::(\d{12}):role/", command)
    if role:
        account = role.group(1)
    for match in re.finditer(
        r"aws((?:\s+--\S+\s+\S+)*)\s+lambda\s+update-function-code\s+--function-name\s+(\S+)", command
    ):
        options, function = match.group(1), match.group(2)
        region = re.search(r"--region\s+(\S+)", options)
        uses_profile = "--profile" in options
        yield function, region.group(1) if region else None, account if uses_profile else None


def _databases(template: dict, parameters: dict[str, str]) -> list[str]:
    names = []
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Glue::Database":
            continue
        name = resource.get("Properties", {}).get("DatabaseInput", {}).get("Name")
        if isinstance(name, dict) and "Ref" in name:
            name = parameters.get(name["Ref"])
        if isinstance(name, str):
            names.append(name)
    return names


def overlaps(kind: str, first: str, second: str) -> bool:
    """Two identities of one kind name the same resource (S3 prefixes: one contains the other)."""
    if kind != "S3 prefix":
        return first == second
    bucket_a, _, prefix_a = first.partition("/")
    bucket_b, _, prefix_b = second.partition("/")
    return bucket_a == bucket_b and (prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a))
