"""Readiness check (variables): every pipeline variable an action reads is output by an action that ran before.

CodePipeline resolves `#{Namespace.NAME}` in action configuration values from the output variables
of the action that declares `Namespace`, once that action has run; a reference to a namespace no
action declares, or declared by an action that runs at the same time or later, fails the pipeline
update or the execution (AWS CodePipeline User Guide, "Variables reference": namespaces,
"Configure actions for variables"). A CodeBuild action outputs exactly the variables its
buildspec lists in `env.exported-variables` ("CodeBuild action output variables"). This check
reads the rendered `pipeline.yaml` (stage order, run orders, namespaces, buildspecs), so it also
catches an emitter that wires a reference without its namespace (MC665), a namespace declared
twice (MC666) or a CodeBuild variable its buildspec never exports (MC667).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..diagnostics import Diagnostic, Severity
from ..model import Manifest
from ..schemas_data import safe_load
from .deployments import Templates, text

_REFERENCE = re.compile(r"#\{([A-Za-z0-9@_-]+)\.([A-Za-z0-9_]+)\}")
# Variables every execution has (CodePipeline User Guide, "Variables reference": "codepipeline"; the
# "variables" namespace holds the pipeline-level variables the pipeline declares).
_BUILT_IN = {"codepipeline": {"PipelineExecutionId"}}


def _configuration_text(configuration: dict[str, Any]) -> str:
    return " ".join(text(v) or "" for v in configuration.values())


def _exported(templates: Templates, project: Any) -> set[str] | None:
    """The exported-variables of the buildspec of the project an action names; None: unknown."""
    logical_id = project.get("Ref") if isinstance(project, dict) else None
    resource = templates.get("pipeline.yaml", {}).get("Resources", {}).get(logical_id or "")
    spec = text((resource or {}).get("Properties", {}).get("Source", {}).get("BuildSpec"))
    if not spec:
        return None
    try:
        data = safe_load(spec.replace("${!", "${"))
    except yaml.YAMLError:
        return None
    env = data.get("env", {}) if isinstance(data, dict) else {}
    return set(env.get("exported-variables", []) or [])


def check_variables(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    """MC665 unknown or not-yet-run namespace, MC666 duplicate namespace, MC667 a CodeBuild
    variable its buildspec does not export."""
    file = f"out/{manifest.name}/pipeline.yaml"
    found: list[Diagnostic] = []
    for resource in templates.get("pipeline.yaml", {}).get("Resources", {}).values():
        if resource.get("Type") != "AWS::CodePipeline::Pipeline":
            continue
        declared: dict[str, tuple[int, float, dict]] = {}  # namespace -> (stage index, run order, action)
        # Pipeline-level variables (the pipeline's `Variables`) exist from the start of every execution.
        built_in = dict(_BUILT_IN)
        built_in["variables"] = {
            v.get("Name") for v in resource.get("Properties", {}).get("Variables", []) or [] if isinstance(v, dict)
        }
        stages = resource.get("Properties", {}).get("Stages", [])
        for s_index, stage in enumerate(stages):
            for action in stage.get("Actions", []):
                namespace = action.get("Namespace")
                if not namespace:
                    continue
                if namespace in declared:
                    found.append(
                        Diagnostic(
                            "MC666",
                            Severity.ERROR,
                            f"namespace `{namespace}` is declared by two actions (`{declared[namespace][2].get('Name')}`"
                            f" and `{action.get('Name')}`)",
                            file,
                            hint="namespaces are unique in a pipeline; this is a compiler bug, please report it",
                        )
                    )
                    continue  # the first declaration stands
                declared[namespace] = (s_index, float(action.get("RunOrder", 1)), action)
        for s_index, stage in enumerate(stages):
            for action in stage.get("Actions", []):
                where = f"{stage.get('Name')}/{action.get('Name')}"
                for namespace, name in _REFERENCE.findall(_configuration_text(action.get("Configuration", {}))):
                    if namespace in built_in:
                        if name not in built_in[namespace]:
                            found.append(_unknown(file, where, namespace, name, "is not a built-in variable"))
                        continue
                    source = declared.get(namespace)
                    if source is None:
                        found.append(_unknown(file, where, namespace, name, "is declared by no action"))
                        continue
                    source_stage, source_order, source_action = source
                    earlier = source_stage < s_index or (
                        source_stage == s_index and source_order < float(action.get("RunOrder", 1))
                    )
                    if not earlier:
                        found.append(
                            _unknown(
                                file,
                                where,
                                namespace,
                                name,
                                f"is output by `{source_action.get('Name')}`, which does not run before this action",
                            )
                        )
                        continue
                    if source_action.get("ActionTypeId", {}).get("Provider") == "CodeBuild":
                        exported = _exported(templates, source_action.get("Configuration", {}).get("ProjectName"))
                        if exported is not None and name not in exported:
                            found.append(
                                Diagnostic(
                                    "MC667",
                                    Severity.ERROR,
                                    f"{where} reads `#{{{namespace}.{name}}}`, but the buildspec of "
                                    f"`{source_action.get('Name')}` exports only {', '.join(sorted(exported)) or 'nothing'}",
                                    file,
                                    hint="list the variable in the job's exported-variables (build.exports, a commands "
                                    "target's exports); this is a compiler bug if the manifest does",
                                )
                            )
    return found


def _unknown(file: str, where: str, namespace: str, name: str, why: str) -> Diagnostic:
    return Diagnostic(
        "MC665",
        Severity.ERROR,
        f"{where} reads `#{{{namespace}.{name}}}`, but namespace `{namespace}` {why}",
        file,
        hint="a variable exists once the action declaring its namespace has run (an earlier stage or run order); "
        "this is a compiler bug if the manifest compiled without MC238/MC239, please report it",
    )
