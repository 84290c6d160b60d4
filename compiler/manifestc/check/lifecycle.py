"""Readiness check 4: lifecycle rules never expire objects something live depends on.

A bucket lifecycle rule with a current-version expiration (`ExpirationInDays`/`ExpirationDate`)
deletes objects of its prefix (all objects without one) that many days after they were written
(S3 User Guide, "Lifecycle configuration elements": Expiration acts on current versions,
NoncurrentVersionExpiration on noncurrent ones). Glue jobs read their scripts and Lambda
functions were created from packaged code in the artifact bucket for as long as the stack is
deployed: a rule expiring those current objects breaks the next job run or rollback long after a
green deploy. This check reads, from the rendered pipeline, every prefix a deployed resource keeps
referencing and every expiring rule of the buckets they live in (MC642).
"""

from __future__ import annotations

import re

from ..diagnostics import Diagnostic, Severity
from ..model import Manifest
from .deployments import Templates, buildspec_commands, overrides, pipeline_actions, text


def _project_env(templates: Templates, project: object) -> dict[str, str]:
    logical_id = project.get("Ref") if isinstance(project, dict) else None
    resource = templates.get("pipeline.yaml", {}).get("Resources", {}).get(logical_id or "", {})
    variables = resource.get("Properties", {}).get("Environment", {}).get("EnvironmentVariables", [])
    return {v.get("Name"): text(v.get("Value")) or "" for v in variables}


def _literal_prefix(value: str) -> str:
    """The fixed start of a key prefix that ends in a run-time part (`glue/x/dev/$HASH` -> `glue/x/dev/`)."""
    return re.split(r"\$|#\{", value, maxsplit=1)[0]


def live_prefixes(templates: Templates) -> list[tuple[str, str, str]]:
    """(bucket reference such as `${ArtifactBucket}`, key prefix, what depends on it)."""
    found = []
    exported: dict[str, str] = {}  # namespace.VARIABLE -> value the job exports
    for _, action in pipeline_actions(templates):
        config = action.get("Configuration", {})
        if action.get("ActionTypeId", {}).get("Provider") != "CodeBuild":
            continue
        commands = buildspec_commands(templates, config.get("ProjectName"))
        env = _project_env(templates, config.get("ProjectName"))
        for command in commands:
            exports = re.search(r'export\s+(\w+)="?([^"\s]+)', command)
            if exports and action.get("Namespace"):
                exported[f"{action['Namespace']}.{exports.group(1)}"] = exports.group(2)
            package = re.search(r"cloudformation package .*--s3-bucket\s+\"?\$(\w+)\"?.*--s3-prefix\s+(\S+)", command)
            if package:
                bucket = env.get(package.group(1), "")
                found.append((bucket, package.group(2).rstrip("/") + "/", f"packaged Lambda code ({action['Name']})"))
    for stage, action in pipeline_actions(templates):
        parameters = overrides(action.get("Configuration", {}))
        if "ScriptsBucket" in parameters and "ScriptsPrefix" in parameters:
            prefix = parameters["ScriptsPrefix"]
            variable = re.fullmatch(r"#\{([^}]+)\}", prefix)
            if variable:
                prefix = exported.get(variable.group(1), "")
            found.append(
                (parameters["ScriptsBucket"], _literal_prefix(prefix), f"Glue job scripts ({stage}: {action['Name']})")
            )
    return found


def _expiring_rules(bucket: dict) -> list[tuple[str, str]]:
    """(rule id, prefix) of each enabled rule that expires current objects; prefix '' is every object."""
    rules = bucket.get("Properties", {}).get("LifecycleConfiguration", {}).get("Rules", [])
    out = []
    for rule in rules:
        if rule.get("Status") != "Enabled":
            continue
        if "ExpirationInDays" not in rule and "ExpirationDate" not in rule:
            continue
        out.append((rule.get("Id", "(no id)"), text(rule.get("Prefix")) or ""))
    return out


def check_lifecycle(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    """MC642: a lifecycle rule expires current objects under a prefix a live resource references."""
    found = []
    resources = templates.get("pipeline.yaml", {}).get("Resources", {})
    for bucket_ref, prefix, user in live_prefixes(templates):
        logical_id = re.fullmatch(r"\$\{(\w+)\}", bucket_ref)
        bucket = resources.get(logical_id.group(1), {}) if logical_id else {}
        if bucket.get("Type") != "AWS::S3::Bucket":
            continue  # a bucket of the user's: its lifecycle is not in these templates
        for rule_id, rule_prefix in _expiring_rules(bucket):
            if prefix.startswith(rule_prefix) or rule_prefix.startswith(prefix):
                found.append(
                    Diagnostic(
                        "MC642",
                        Severity.ERROR,
                        f"lifecycle rule `{rule_id}` of {logical_id.group(1)} expires current objects under "
                        f"`{rule_prefix or '(every key)'}`, which holds {user} under `{prefix}`",
                        f"out/{manifest.name}/pipeline.yaml",
                        hint="expire current objects only under transient prefixes; expire old versions only",
                    )
                )
    return found
