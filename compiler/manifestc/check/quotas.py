"""Readiness check: every emitted template meets the AWS quotas it will be held to.

Template size and counts (CloudFormation), stages and actions per stage and the size of action
configuration values (CodePipeline), inline buildspecs (CodeBuild), policy sizes (IAM), actions
per Glue trigger. The limits are one table, `aws.QUOTAS`, each with its AWS page. Findings that
come from one manifest field point at it; the others name the template and the logical id.

Sizes of values holding intrinsic functions are estimated the way AWS will see them resolved:
pseudo parameters by their longest value, ARNs of the template's own resources by a typical
length (see `resolved_length`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import aws
from ..diagnostics import Diagnostic, Path, Severity, at
from ..model import Manifest
from . import Templates, template_file

# What a `${...}` or intrinsic resolves to, at most: a 12-digit account, the longest region code,
# `aws-us-gov`, `amazonaws.com.cn`; a resource's name or ARN: a typical 80 characters.
_PSEUDO_LENGTHS = {
    "AWS::AccountId": 12,
    "AWS::Region": 14,
    "AWS::Partition": 10,
    "AWS::URLSuffix": 16,
    "AWS::StackName": 128,
}
_RESOURCE_VALUE_LENGTH = 80
_SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]*)\}")


def _resolve(value: Any) -> Any:
    """A template value with intrinsic functions replaced by placeholder text of their resolved size."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                return _SUB_VARIABLE.sub(
                    lambda m: "x" * _PSEUDO_LENGTHS.get(m.group(1), _RESOURCE_VALUE_LENGTH), text
                ).replace("${!", "${")
            if key == "Ref":
                return "x" * _PSEUDO_LENGTHS.get(inner, _RESOURCE_VALUE_LENGTH)
            if key in ("Fn::GetAtt", "Fn::ImportValue", "Fn::Join", "Fn::Select", "Fn::If"):
                return "x" * _RESOURCE_VALUE_LENGTH
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def resolved_length(value: Any) -> int:
    """Characters of a string value (or of a document as compact JSON, as IAM counts it) once resolved."""
    resolved = _resolve(value)
    if isinstance(resolved, str):
        return len(resolved)
    return len(json.dumps(resolved, separators=(",", ":")))


def _over(key: str, size: int) -> str | None:
    quota = aws.QUOTAS[key]
    if size <= quota.limit:
        return None
    return f"{size:,} {quota.unit}; AWS allows {quota.limit:,} ({quota.what}; {quota.source})"


class _Findings:
    def __init__(self, manifest: Manifest):
        self.manifest = manifest
        self.found: list[Diagnostic] = []

    def in_manifest(self, code: str, message: str, path: Path, hint: str) -> None:
        marks = getattr(self.manifest, "marks", None)
        self.found.append(
            at(code, message, path, self.manifest.file, marks, hint=hint, severity=Severity.ERROR, at_key=True)
        )

    def in_template(self, code: str, message: str, name: str, hint: str) -> None:
        self.found.append(Diagnostic(code, Severity.ERROR, message, template_file(self.manifest, name), hint=hint))


def _template_bytes(templates: Templates, name: str) -> int:
    """The template's size in YAML: as the build rendered it, else rendered now."""
    size = getattr(templates, "yaml_sizes", {}).get(name)
    if size is None:
        from ..render import render

        size = len(render(templates[name], "yaml"))
    return size


def check_quotas(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    """Every quota of `aws.QUOTAS` over every template of one manifest."""
    findings = _Findings(manifest)
    for name, data in templates.items():
        _template_limits(findings, name, data, _template_bytes(templates, name))
        resources = data.get("Resources", {})
        for logical_id, resource in resources.items():
            kind = resource.get("Type")
            props = resource.get("Properties", {})
            if kind == "AWS::CodePipeline::Pipeline":
                _pipeline_limits(findings, name, props)
            elif kind == "AWS::CodeBuild::Project":
                _buildspec_limit(findings, name, logical_id, props)
            elif kind == "AWS::IAM::Role":
                _role_policy_limit(findings, name, logical_id, props)
            elif kind == "AWS::IAM::ManagedPolicy":
                too_big = _over("managed-policy", resolved_length(props.get("PolicyDocument", {})))
                if too_big:
                    findings.in_template(
                        "MC657",
                        f"{name}: managed policy {logical_id} is about {too_big}",
                        name,
                        "split the policy; this is a manifestc bug if the manifest is ordinary, please report it",
                    )
            elif kind == "AWS::Glue::Trigger":
                count = len(props.get("Actions", []))
                too_many = _over("glue-trigger-actions", count)
                if too_many:
                    findings.in_manifest(
                        "MC658",
                        f"Glue trigger {logical_id} would start {too_many}",
                        ("glue", "jobs"),
                        "give some of these jobs and crawlers a different `after`, so fewer start together",
                    )
    return findings.found


def _template_limits(findings: _Findings, name: str, data: dict, size: int) -> None:
    m = findings.manifest
    deployed_by_action = name == "glue.yaml" or (name == "pipeline.yaml" and m.regenerate.enabled)
    key = "pipeline-action-template" if deployed_by_action else "template-s3"
    too_big = _over(key, size)
    if too_big:
        findings.in_template(
            "MC651",
            f"{name} is {too_big}",
            name,
            "split the pipeline: fewer environments, targets, regions or test suites per manifest",
        )
    for section, key in (("Resources", "resources"), ("Parameters", "parameters"), ("Outputs", "outputs")):
        too_many = _over(key, len(data.get(section, {})))
        if too_many:
            findings.in_template(
                "MC652",
                f"{name} declares {too_many}",
                name,
                "split the pipeline into several manifests (fewer test suites, gates, environments or targets each)",
            )
    description = data.get("Description", "")
    too_long = _over("description", len(description.encode("utf-8")))
    if too_long:
        if m.description:
            findings.in_manifest(
                "MC653",
                f"the description of {name} would be {too_long}",
                ("description",),
                "shorten `description` (manifestc prefixes it with the compiler version and the manifest file)",
            )
        else:
            findings.in_template("MC653", f"the description of {name} is {too_long}", name, "shorten the names")


def _stage_path(m: Manifest, stage: str) -> Path:
    for index, env in enumerate(m.environments):
        if env.name == stage:
            return ("environments", index)
    return {"Build": ("tests",), "Quality": ("quality_gates",)}.get(stage, ())


def _pipeline_limits(findings: _Findings, name: str, props: dict) -> None:
    m = findings.manifest
    stages = props.get("Stages", [])
    too_many = _over("stages", len(stages))
    if too_many:
        findings.in_manifest(
            "MC654",
            f"the pipeline would have {too_many}",
            ("environments",),
            "deploy fewer environments from one pipeline (split it into several manifests)",
        )
    for stage in stages:
        actions = stage.get("Actions", [])
        too_many = _over("actions-per-stage", len(actions))
        if too_many:
            findings.in_manifest(
                "MC654",
                f"stage {stage.get('Name')} would have {too_many}",
                _stage_path(m, stage.get("Name", "")),
                "spread the work over more stages: fewer targets, regions or test suites in one stage",
            )
        too_late = _over("run-order", max((int(a.get("RunOrder", 1)) for a in actions), default=1))
        if too_late:  # unreachable while run orders are 1..n of at most 50 actions; a guard for `after`
            findings.in_manifest(
                "MC654",
                f"stage {stage.get('Name')} would have {too_late}",
                _stage_path(m, stage.get("Name", "")),
                "fewer `after` levels in one environment",
            )
        for action in actions:
            for key, value in action.get("Configuration", {}).items():
                too_long = _over("action-configuration-value", resolved_length(value))
                if too_long:
                    findings.in_manifest(
                        "MC655",
                        f"{key} of action {action.get('Name')} in stage {stage.get('Name')} is about {too_long}",
                        _action_path(m, stage.get("Name", ""), action.get("Name", "")),
                        "pass fewer or shorter parameters (a template parameter's Default or an SSM parameter "
                        "keeps long values out of the pipeline)",
                    )


def _action_path(m: Manifest, stage: str, action: str) -> Path:
    """The manifest field behind an action: the target whose name begins the action's name."""
    for index, target in enumerate(m.targets):
        if action.startswith(f"{target.name}-"):
            return ("targets", index, "parameters") if target.parameters else ("targets", index)
    return _stage_path(m, stage)


def _buildspec_path(m: Manifest, logical_id: str) -> Path:
    if logical_id in ("BuildProject", "FeatureProject"):
        return ("build",)
    for index, suite in enumerate(m.tests):
        if logical_id == "Test" + "".join(w[:1].upper() + w[1:] for w in suite.name.split("-")) + "Project":
            return ("tests", index, "commands")
    if logical_id.startswith("Gate"):
        return ("quality_gates",)
    return ()


def _buildspec_limit(findings: _Findings, name: str, logical_id: str, props: dict) -> None:
    spec = props.get("Source", {}).get("BuildSpec")
    if spec is None:
        return
    too_long = _over("buildspec", resolved_length(spec))
    if not too_long:
        return
    path = _buildspec_path(findings.manifest, logical_id)
    hint = "move long command lists into a script in the repository and call it from the manifest"
    message = f"the buildspec of {logical_id} is about {too_long}"
    if path:
        findings.in_manifest("MC656", message, path, hint)
    else:
        findings.in_template("MC656", f"{name}: {message}", name, hint)


def _role_policy_limit(findings: _Findings, name: str, logical_id: str, props: dict) -> None:
    size = sum(
        resolved_length(p.get("PolicyDocument", {})) + len(p.get("PolicyName", "")) for p in props.get("Policies", [])
    )
    too_big = _over("role-inline-policies", size)
    if too_big:
        findings.in_template(
            "MC657",
            f"{name}: the inline policies of role {logical_id} are about {too_big}",
            name,
            "the role touches too many resources (secrets, buckets, functions): split the pipeline",
        )
