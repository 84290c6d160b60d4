"""The CloudFormation registry and the Service Authorization Reference, as cfn-lint ships them.

Two AWS sources of truth, read from cfn-lint's package data (never restated by hand):

- **Resource handler permissions.** Each registry resource schema lists, per handler
  (`create`, `read`, `update`, `delete`, `list`), the IAM actions CloudFormation calls as the
  caller's role. Source: CloudFormation User Guide, "Resource type schema" (`handlers`):
  https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html
  — the same schemas `aws cloudformation describe-type --type RESOURCE` returns. cfn-lint keeps
  them under `data/schemas/resources/<hash>.json`, indexed by `data/schemas/providers/<region>.json`.
- **Which actions accept a resource ARN.** cfn-lint's `data/AdditionalSpecs/Policies.json` is the
  Service Authorization Reference (actions, the resource types each acts on, their ARN formats):
  https://docs.aws.amazon.com/service-authorization/latest/reference/reference.html . An action
  that lists no resource type only works with `"Resource": "*"`.

Only the schemas of the types asked for are read, once each (cached); the provider index and the
authorization reference are read on first use (about 30 ms together).
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path

HANDLERS = ("create", "read", "update", "delete", "list")

# Types whose registry schema has no `handlers` (CloudFormation's older, non-registry providers):
# the only hand-kept permissions, each from the service's Service Authorization Reference page
# for the API the provider calls. Nothing else in the compiler lists handler permissions.
NON_REGISTRY_HANDLERS: dict[str, dict[str, tuple[str, ...]]] = {
    # CodeBuild API Reference (CreateProject, UpdateProject, DeleteProject, BatchGetProjects,
    # CreateWebhook/UpdateWebhook/DeleteWebhook for `Triggers`); a project with `ServiceRole` passes
    # it, one with `VpcConfig` is validated against the VPC as the caller ("Use CodeBuild with
    # Amazon VPC": ec2:Describe* on the VPC, subnets and groups):
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodebuild.html
    "AWS::CodeBuild::Project": {
        "create": (
            "codebuild:CreateProject",
            "codebuild:CreateWebhook",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
            "iam:PassRole",
        ),
        "read": ("codebuild:BatchGetProjects",),
        "update": (
            "codebuild:UpdateProject",
            "codebuild:UpdateWebhook",
            "codebuild:DeleteWebhook",
            "codebuild:CreateWebhook",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets",
            "ec2:DescribeVpcs",
            "iam:PassRole",
        ),
        "delete": ("codebuild:DeleteProject", "codebuild:DeleteWebhook"),
        "list": ("codebuild:ListProjects",),
    },
}

# The role actions the iam:PermissionsBoundary condition key applies to (Service Authorization
# Reference, IAM: "Condition keys" column of each action).
BOUNDARY_CONDITIONED_ROLE_ACTIONS = (
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
)

# Never granted to a role that can create roles: it would take the boundary off a role.
# (AWS::IAM::Role's update handler lists it for templates that remove PermissionsBoundary, which
# manifestc never emits; check/handlers.py knows it is withheld on purpose.)
WITHHELD_ACTIONS = frozenset({"iam:DeleteRolePermissionsBoundary"})


# service:Action, the grammar IAM accepts (a schema entry such as `s3:REST.PUT.OBJECT` is not an
# IAM action and is left out; see `handler_permissions`).
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def data_dir() -> Path:
    """cfn-lint's data directory, found without importing cfn-lint (its import is slow)."""
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cfn-lint is not installed: the registry schemas come from its package data")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@cache
def _provider_index(region: str = "us-east-1") -> dict[str, str]:
    path = data_dir() / "schemas" / "providers" / f"{region}.json"
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _schema(resource_type: str) -> dict | None:
    digest = _provider_index().get(resource_type)
    if digest is None:
        return None
    return json.loads((data_dir() / "schemas" / "resources" / f"{digest}.json").read_text(encoding="utf-8"))


@cache
def authorization() -> dict:
    """The Service Authorization Reference: service -> {Actions, Resources}, keys lower-case."""
    return json.loads((data_dir() / "AdditionalSpecs" / "Policies.json").read_text(encoding="utf-8"))


@cache
def handler_permissions(resource_type: str) -> dict[str, tuple[str, ...]] | None:
    """The IAM actions each handler of `resource_type` calls: {handler: sorted actions}.

    From the registry schema, or NON_REGISTRY_HANDLERS for the few types without handlers; None for
    a type neither knows. Entries that are not IAM actions (a typo in a schema) and actions the
    Service Authorization Reference does not know are left out: IAM would reject or ignore them.
    """
    schema = _schema(resource_type)
    handlers = (schema or {}).get("handlers")
    if handlers:
        raw = {h: handlers.get(h, {}).get("permissions", []) for h in HANDLERS}
    elif resource_type in NON_REGISTRY_HANDLERS:
        raw = NON_REGISTRY_HANDLERS[resource_type]
    else:
        return None
    return {h: tuple(sorted({a for a in actions if is_known_action(a)}, key=str.lower)) for h, actions in raw.items()}


def all_handler_permissions(resource_type: str) -> tuple[str, ...]:
    """Every action of every handler of `resource_type`, sorted (empty for an unknown type)."""
    handlers = handler_permissions(resource_type) or {}
    return tuple(sorted({a for actions in handlers.values() for a in actions}, key=str.lower))


def is_known_action(action: str) -> bool:
    """True for `service:Action` that the Service Authorization Reference lists."""
    if not _ACTION.match(action):
        return False
    return action_exists(*action.lower().split(":", 1))


def action_exists(service: str, name: str) -> bool:
    """Whether the reference lists action `name` of `service` (both lower-case)."""
    return name in authorization().get(service, {}).get("Actions", {})


def action_resource_types(action: str) -> tuple[str, ...]:
    """The resource types (lower-case, as the reference names them) `action` can be scoped to;
    empty when the action accepts only `"Resource": "*"`."""
    service, name = action.lower().split(":", 1)
    entry = authorization().get(service, {}).get("Actions", {}).get(name, {})
    return tuple(r.lower() for r in entry.get("Resources", ()))


def resource_arn_formats(service: str, resource_type: str) -> tuple[str, ...]:
    """The ARN formats (regular expressions with ${Partition}/${Region}/${Account}) of a resource type."""
    resources = {k.lower(): v for k, v in authorization().get(service.lower(), {}).get("Resources", {}).items()}
    return tuple(resources.get(resource_type.lower(), {}).get("ARNFormats", ()))


def services() -> tuple[str, ...]:
    """Every service prefix of the Service Authorization Reference (lower-case)."""
    return tuple(sorted(authorization()))


def service_actions(service: str) -> tuple[str, ...]:
    """Every action name of `service` (lower-case, without the prefix); empty for an unknown service."""
    return tuple(sorted(authorization().get(service.lower(), {}).get("Actions", {})))


def action_is_scopable(action: str) -> bool:
    """Whether `service:name` can be scoped to a resource ARN (the reference lists a resource type)."""
    return bool(action_resource_types(action))
