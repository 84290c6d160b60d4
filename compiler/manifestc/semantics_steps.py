"""Semantics of custom deploy steps: `commands` targets (README "targets", `commands`).

A commands target is a CodeBuild job per environment that runs shell commands (Terraform,
`cdk deploy`, Flyway, kubectl/Helm) in the environment's account and region with a declared
role: an existing role the user names (`role`), or a minimal role built from `permissions`.
Called from `semantics.py` with its checker; kept apart so the family's rules sit together.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from . import aws
from .model import Manifest, Permission

Path = tuple

# Variables a commands job sets itself (ENVIRONMENT, REGION, ACCOUNT are documented; the AWS_*
# ones select the region and the assumed role for every SDK and CLI; CODEBUILD_* are reserved by
# CodeBuild: "Environment variables in build environments", AWS CodeBuild User Guide).
RESERVED_STEP_VARIABLES = (
    "ENVIRONMENT",
    "REGION",
    "ACCOUNT",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_SDK_LOAD_CONFIG",
    "DEPLOY_ROLE_ARN",
)

_STEP_PLACEHOLDERS = {"environment", "region", "name", "account"}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}|\{account\}):role/")

# IAM role names are at most 64 characters (IAM User Guide, "IAM object quotas": role name).
ROLE_NAME_MAX = 64


def commands_fields(check: Any, raw: dict[str, Any], index: int) -> dict[str, Any]:
    """The Target fields of a commands target, with the per-target rules checked (MC233, MC235,
    MC236, MC208). Rules needing the environments are in `check_commands_targets`."""
    path: Path = ("targets", index)
    role, permissions, broad = raw["role"], raw["permissions"], raw["broad_permissions"]
    if (role is None) == (permissions is None):
        check.error(
            "MC233",
            f"commands target `{raw['name']}` needs exactly one of `role` (an existing role it assumes) "
            "and `permissions` (statements of a minimal role manifestc creates)",
            path,
            hint="role: arn:aws:iam::{account}:role/terraform-deployer  — or —  permissions: "
            "[{actions: [s3:PutObject], resources: ['arn:aws:s3:::my-bucket/*']}]",
        )
    for key in raw["env"]:
        if key in RESERVED_STEP_VARIABLES or key.startswith("CODEBUILD_"):
            check.error(
                "MC236",
                f"`{key}` is set by manifestc (or CodeBuild) for every commands job",
                path + ("env", key),
                hint="ENVIRONMENT, REGION and ACCOUNT are set to the environment's name, region and account; "
                "the assumed role is the AWS profile of the job: rename the variable",
            )
    for key, value in raw["env"].items():
        _placeholders(check, value, path + ("env", key))
    if role is not None:
        _placeholders(check, role, path + ("role",), allowed={"environment", "name", "account"})
        name = role.rsplit("/", 1)[-1]
        from .semantics import ADMIN_ROLE_PATTERNS

        pattern = next((p for p in ADMIN_ROLE_PATTERNS if fnmatch.fnmatchcase(name, p)), None)
        if pattern and not broad:
            check.error(
                "MC235",
                f"role `{name}` is an administrator role (or another tool's, matching `{pattern}`): the commands "
                "could do anything in the environment's account",
                path + ("role",),
                hint="name a role with only what the commands need, or declare `permissions`; to accept it "
                "anyway, set `broad_permissions: true` on this target",
            )
    out: list[Permission] = []
    for s_index, statement in enumerate(permissions or []):
        where = path + ("permissions", s_index)
        everything = "*" in statement["resources"]
        for a_index, action in enumerate(statement["actions"]):
            service_wide = action == "*" or (action.split(":", 1)[1].strip("*") == "" and everything)
            if service_wide and not broad:
                check.error(
                    "MC235",
                    f"`{action}`"
                    + (" on every resource" if action != "*" else "")
                    + " is a broad grant: the job could do anything "
                    + ("in the account" if action == "*" else f"with {action.split(':')[0]}"),
                    where + ("actions", a_index),
                    hint="list the actions the commands call and the resources they touch; to accept a broad "
                    "grant, set `broad_permissions: true` on this target (the permissions boundary still applies)",
                )
        for r_index, resource in enumerate(statement["resources"]):
            _placeholders(check, resource, where + ("resources", r_index))
        out.append(Permission(tuple(statement["actions"]), tuple(statement["resources"])))
    return {
        "commands": tuple(raw["commands"] or ()),
        "image": raw["image"],
        "compute": raw["compute"],
        "env": tuple(sorted(raw["env"].items())),
        "role": role,
        "permissions": tuple(out),
        "broad_permissions": broad,
    }


def _placeholders(check: Any, text: str, path: Path, allowed: set[str] = _STEP_PLACEHOLDERS) -> bool:
    ok = True
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1) not in allowed:
            ok = False
            names = ", ".join(f"{{{n}}}" for n in sorted(allowed))
            check.error("MC208", f"unknown placeholder `{{{match.group(1)}}}`; use {names}", path)
    return ok


def permissions_role_name(m: Manifest, environment: str, target: str) -> str:
    """The role bootstrap-<account>.yaml creates for a commands target's `permissions` in another
    account (the job in the tooling account assumes it by this name)."""
    return f"{m.name}-{environment}-{target}"


def check_commands_targets(check: Any, m: Manifest) -> None:
    """Rules that need the environments: the role lives in the environment's account (MC234),
    the created cross-account role's name fits IAM (MC237), the size exists for the build's
    architecture (MC211), `{region}` needs the pipeline's region (MC282)."""
    index = {t["name"]: i for i, t in enumerate(check.doc["targets"])}
    for target in m.targets:
        if target.type != "commands":
            continue
        path: Path = ("targets", index[target.name])
        if target.compute and (target.compute, m.build.arch) not in aws.COMPUTE_TYPES:
            sizes = sorted(size for size, arch in aws.COMPUTE_TYPES if arch == m.build.arch)
            check.error(
                "MC211",
                f"compute `{target.compute}` does not exist on {m.build.arch} (the build's arch)",
                path + ("compute",),
                hint=f"use one of: {', '.join(sizes)}",
            )
        regional = [v for _, v in target.env] + [r for p in target.permissions for r in p.resources]
        if m.region is None and any("{region}" in v for v in regional):
            check.error(
                "MC282",
                "`{region}` in a commands target needs the top-level `region` (the pipeline's home region)",
                path,
                hint="set `region:` at the top of the manifest",
            )
        reported = False  # one MC234 per target
        for env in m.environments:
            if target.name not in env.targets:
                continue
            account = m.env_account(env)
            if target.role and not reported:
                literal = _ROLE_ACCOUNT.match(target.role).group(1)
                if literal != "{account}" and literal != account:
                    reported = True
                    where = f"account {account}" if account else "the pipeline's account (top-level `account` unset)"
                    check.error(
                        "MC234",
                        f"role `{target.role}` is in account {literal}, but environment `{env.name}` deploys to {where}: "
                        "the commands run in the environment's account",
                        path + ("role",),
                        hint="write the account as `{account}` (arn:aws:iam::{account}:role/NAME) so each environment "
                        "assumes its own account's role"
                        + ("; or set the top-level `account`" if account is None else ""),
                    )
            if target.permissions and m.is_cross_account(env):
                name = permissions_role_name(m, env.name, target.name)
                if len(name) > ROLE_NAME_MAX:
                    check.error(
                        "MC237",
                        f"the role created in account {env.account} for `{target.name}` in `{env.name}` would be "
                        f"named `{name}` ({len(name)} characters; IAM allows {ROLE_NAME_MAX})",
                        path + ("name",),
                        hint="shorten the target, environment or pipeline name",
                    )
