"""Readiness check 6: the roles CloudFormation and Service Catalog use cover what they deploy,
and no role that can create roles can create them without the boundary.

Read from the rendered templates, against the CloudFormation registry schemas (registry.py):

- MC610: a deploying role (the self-update role deploying `pipeline.yaml`, a Service Catalog
  launch role deploying the product template) lacks a handler permission of a resource type in
  the template it deploys. CloudFormation would stop with AccessDenied mid-update.
- MC611: a role may create roles, or put/attach policies on roles, without an
  `iam:PermissionsBoundary` condition (any role in any emitted template).
- MC612: a deploying role grants an action on `"Resource": "*"` without a condition although the
  Service Authorization Reference lets that action be scoped to a resource.

CloudFormation execution roles of application stacks deploy the user's own templates, which the
compiler does not see: their IAM is bounded (MC611) rather than derived.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from .. import registry
from ..diagnostics import Diagnostic, Severity
from ..model import Manifest
from ..permissions import has_wildcard
from . import Templates, template_file


def check_handler_permissions(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    """MC610 and MC612 for each deploying role; MC611 for every role of every template."""
    found: list[Diagnostic] = []
    for role_file, role_id, deployed_file in deploying_roles(templates):
        statements = role_statements(templates[role_file], role_id)
        deployed = templates[deployed_file]
        for message in missing_permissions(statements, deployed):
            found.append(
                _diagnostic(
                    "MC610",
                    manifest,
                    role_file,
                    f"{role_id} deploys {deployed_file} but {message}",
                    "the role's policy must grant every handler permission of the registry schema; "
                    "this is a manifestc bug if the role is emitted by it",
                )
            )
        for statement in statements:
            for action in _unscoped_but_scopable(statement):
                found.append(
                    _diagnostic(
                        "MC612",
                        manifest,
                        role_file,
                        f"{role_id} grants {action} on every resource, but AWS lets it be scoped to a resource",
                        "scope the statement to the resources the template creates",
                    )
                )
    for name, template in sorted(templates.items()):
        for logical_id, resource in sorted(template.get("Resources", {}).items()):
            if resource.get("Type") != "AWS::IAM::Role":
                continue
            for statement in role_statements(template, logical_id):
                actions = _unbounded_role_writes(statement)
                if actions:
                    found.append(
                        _diagnostic(
                            "MC611",
                            manifest,
                            name,
                            f"{logical_id} may call {', '.join(actions)} without an iam:PermissionsBoundary "
                            "condition: it could create or widen a role outside the pipeline's boundary",
                            "condition the statement on iam:PermissionsBoundary equal to the pipeline's boundary",
                        )
                    )
    return found


def deploying_roles(templates: Templates) -> Iterator[tuple[str, str, str]]:
    """(file of the role, its logical id, the file it deploys) for roles whose template is known."""
    pipeline = templates.get("pipeline.yaml")
    if pipeline is None:
        return
    if "SelfUpdateRole" in pipeline.get("Resources", {}):
        yield "pipeline.yaml", "SelfUpdateRole", "pipeline.yaml"
    for name in ("catalog.yaml", "launch-role.yaml"):
        for logical_id, resource in sorted(templates.get(name, {}).get("Resources", {}).items()):
            if resource.get("Type") == "AWS::IAM::Role" and _trusts(resource, "servicecatalog.amazonaws.com"):
                yield name, logical_id, "pipeline.yaml"


def role_statements(template: dict[str, Any], role_id: str) -> list[dict]:
    """Every statement of a role: inline policies, managed policies of the same template it
    names in ManagedPolicyArns, and managed policies naming it in Roles."""
    resources = template.get("Resources", {})
    role = resources.get(role_id, {}).get("Properties", {})
    documents = [p.get("PolicyDocument", {}) for p in role.get("Policies", [])]
    attached = {r["Ref"] for r in role.get("ManagedPolicyArns", []) if isinstance(r, dict) and "Ref" in r}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::IAM::ManagedPolicy":
            continue
        names_role = {"Ref": role_id} in resource.get("Properties", {}).get("Roles", [])
        if logical_id in attached or names_role:
            documents.append(resource["Properties"].get("PolicyDocument", {}))
    return [s for d in documents for s in _as_list(d.get("Statement", []))]


def missing_permissions(statements: list[dict], deployed: dict[str, Any]) -> list[str]:
    """One message per resource type of `deployed` whose handler permissions are not all allowed."""
    # what _matches does per pattern: the patterns without wildcards as a set, the others in turn
    patterns = {p.lower() for s in statements if s.get("Effect") == "Allow" for p in _actions(s)}
    wildcards = sorted(p for p in patterns if has_wildcard(p))
    exact = patterns.difference(wildcards)

    def allows(action: str) -> bool:
        return action in exact or any(fnmatch.fnmatchcase(action, p) for p in wildcards)

    messages = []
    for resource_type in sorted({r.get("Type", "") for r in deployed.get("Resources", {}).values()}):
        if registry.handler_permissions(resource_type) is None:
            continue  # custom resources and types the registry lacks: nothing to compare with
        missing = [
            a
            for a in registry.all_handler_permissions(resource_type)
            if a not in registry.WITHHELD_ACTIONS and not allows(a.lower())
        ]
        if missing:
            messages.append(f"lacks {', '.join(missing)} ({resource_type})")
    return messages


def _unbounded_role_writes(statement: dict) -> list[str]:
    if statement.get("Effect") != "Allow":
        return []
    condition = statement.get("Condition", {})
    bounded = any("iam:permissionsboundary" in {k.lower() for k in block} for block in condition.values())
    if bounded:
        return []
    return sorted(
        {
            action
            for action in registry.BOUNDARY_CONDITIONED_ROLE_ACTIONS
            if _matches(action, _actions(statement)) and not _only_approver_attach(action, statement)
        }
    )


def _only_approver_attach(action: str, statement: dict) -> bool:
    """Attaching (or detaching) the pipeline's own policies to named approver roles: allowed
    without a boundary when the statement limits the policies by iam:PolicyARN, or only detaches."""
    if action.lower() not in ("iam:attachrolepolicy", "iam:detachrolepolicy"):
        return False
    actions = {a.lower() for a in _actions(statement)}
    if actions - {"iam:attachrolepolicy", "iam:detachrolepolicy"}:
        return False
    condition = statement.get("Condition", {})
    limited = any("iam:policyarn" in {k.lower() for k in block} for block in condition.values())
    return limited or actions == {"iam:detachrolepolicy"}


# Actions whose resource is optional in the Service Authorization Reference (the reference's data
# in cfn-lint does not mark optional resources): GetTemplateSummary names a stack only when called
# with StackName; Service Catalog calls it with the template URL, which needs "*".
_OPTIONAL_RESOURCE = frozenset({"cloudformation:gettemplatesummary"})


def _unscoped_but_scopable(statement: dict) -> list[str]:
    if statement.get("Effect") != "Allow" or statement.get("Condition"):
        return []
    if "*" not in _as_list(statement.get("Resource", [])):
        return []
    return [
        a
        for a in _actions(statement)
        if "*" not in a and registry.action_resource_types(a) and a.lower() not in _OPTIONAL_RESOURCE
    ]


def _actions(statement: dict) -> list[str]:
    return [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]


def _matches(action: str, patterns: list[str]) -> bool:
    action = action.lower()
    return any(_pattern_matches(action, p.lower()) for p in patterns)


def _pattern_matches(action: str, pattern: str) -> bool:
    """`fnmatch.fnmatchcase(action, pattern)`, a pattern without wildcards compared as it is."""
    return fnmatch.fnmatchcase(action, pattern) if has_wildcard(pattern) else action == pattern


def _trusts(role: dict, service: str) -> bool:
    trust = role.get("Properties", {}).get("AssumeRolePolicyDocument", {})
    for statement in _as_list(trust.get("Statement", [])):
        principal = statement.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        if service in _as_list(services):
            return True
    return False


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _diagnostic(code: str, manifest: Manifest, name: str, message: str, hint: str) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, template_file(manifest, name), 1, 1, hint=hint)
