"""Semantics of custom deploy steps: `commands` targets (README "targets", `commands`).

A commands target is a CodeBuild job per environment that runs shell commands (Terraform,
`cdk deploy`, Flyway, kubectl/Helm) in the environment's account and region with a declared
role: an existing role the user names (`role`), a minimal role built from `permissions`, or,
for commands that call no AWS API, neither (the job's own role then only reads its inputs, writes
its logs and reads its environment's secrets).
Called from `semantics.py` with its checker; kept apart so the family's rules sit together.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from . import aws
from .diagnostics import did_you_mean
from .model import Manifest
from .permissions import check_permissions

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
_PLACEHOLDER = re.compile(r"(?<!#)\{([^{}]*)\}")  # not a #{namespace.NAME} variable
_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}|\{account\}):role/")

# IAM role names are at most 64 characters (IAM User Guide, "IAM object quotas": role name).
ROLE_NAME_MAX = 64


def commands_fields(check: Any, raw: dict[str, Any], index: int) -> dict[str, Any]:
    """The Target fields of a commands target, with the per-target rules checked (MC233, MC235,
    MC236, MC208, and MC223–MC227 on `permissions`, MC331). Rules needing the environments are in
    `check_commands_targets`."""
    path: Path = ("targets", index)
    role, raw_permissions, broad = raw["role"], raw["permissions"], raw["broad_permissions"]
    if role is not None and raw_permissions is not None:
        check.error(
            "MC233",
            f"commands target `{raw['name']}` gives both `role` (an existing role it assumes) and `permissions` "
            "(statements of a minimal role manifestc creates): give at most one",
            path,
            hint="keep `role: arn:aws:iam::{account}:role/NAME` or `permissions: {statements: [...]}`; commands "
            "that call no AWS API (Flyway, kubectl with its own kubeconfig, a webhook) need neither",
        )
    if raw_permissions is not None and broad:
        check.error(
            "MC331",
            "`broad_permissions` accepts an administrator `role` only; broad grants in `permissions` are "
            "accepted with `allow_broad: <reason>` inside the permissions mapping",
            path + ("broad_permissions",),
            hint="remove `broad_permissions` and write `allow_broad: <why the step needs it>` under `permissions`",
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
    permissions = None
    if raw_permissions is not None:
        where = path + ("permissions",)
        for s_index, statement in enumerate(raw_permissions["statements"]):
            for r_index, resource in enumerate(statement["resources"]):
                _placeholders(check, resource, where + ("statements", s_index, "resources", r_index))
        # the same Service Authorization Reference checks as build and test grants (README
        # "Permissions of builds and tests"): MC223 actions, MC224 ARNs, MC225 broad, MC226 denied
        permissions = check_permissions(raw_permissions, where, check.doc["name"], check.error, placeholders=True)
        if not raw_permissions["statements"] and not raw_permissions["managed_policies"]:
            check.error(
                "MC333",
                f"commands target `{raw['name']}` declares `permissions` that grant nothing: its role could call no "
                "AWS API",
                where,
                hint="add `statements` (or `managed_policies`) with what the commands call, name a `role`, or, "
                "when the commands call no AWS API, remove `permissions`",
            )
    return {
        "commands": tuple(raw["commands"] or ()),
        "image": raw["image"],
        "compute": raw["compute"],
        "env": tuple(sorted(raw["env"].items())),
        "role": role,
        "permissions": permissions,
        "broad_permissions": bool(broad and role is not None),
        "exports": tuple(dict.fromkeys(raw["exports"])),
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
    architecture (MC211). (`{region}` needs no top-level `region` here: it renders to the
    stack's own region, ${AWS::Region}, in the template.)"""
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
            for p_index, arn in enumerate(target.permissions.managed_policies if target.permissions else ()):
                owner = arn.split(":")[4]
                if owner != "aws" and account is not None and owner != account:
                    check.error(
                        "MC332",
                        f"managed policy `{arn}` is in account {owner}, but environment `{env.name}` runs "
                        f"`{target.name}` with a role in account {account}",
                        path + ("permissions", "managed_policies", p_index),
                        hint="use an AWS managed policy, a policy of that account, or declare the statements",
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


def check_variables(check: Any, m: Manifest) -> None:
    """Every `#{namespace.NAME}` reference names a variable an earlier action of the pipeline
    outputs (MC238 unknown or malformed, MC239 not earlier), and variables appear only in the
    fields whose action configuration CodePipeline resolves (MC240)."""
    import difflib

    from .variables import (
        BUILD_NAMESPACE,
        PIPELINE_NAMESPACE,
        PIPELINE_VARIABLES,
        VARIABLES_NAMESPACE,
        produces,
        references,
    )

    t_index = {t["name"]: i for i, t in enumerate(check.doc["targets"])}
    s_index = {s["name"]: i for i, s in enumerate(check.doc["tests"])}
    targets = {t.name: t for t in m.targets}

    def places():
        """(path, text, environments it runs in (None: the Build stage), what reads it)."""
        for target in m.targets:
            envs = [e for e in m.environments if target.name in e.targets]
            path: Path = ("targets", t_index[target.name])
            if target.deploys_stack:
                for key, value in target.parameters:
                    yield path + ("parameters", key), value, envs, target
            for key, value in target.env:
                yield path + ("env", key), value, envs, target
        for suite in m.tests:
            envs = None if suite.after == "build" else [e for e in m.environments if e.name == suite.after]
            for key, value in suite.env:
                yield ("tests", s_index[suite.name], "env", key), value, envs, suite

    for path, text, envs, reader in places():
        for raw, ns, name in references(text):
            if ns is None:
                check.error(
                    "MC238",
                    f"`{raw}` is not a variable reference: write #{{namespace.NAME}}",
                    path,
                    hint="#{build.NAME} (build.exports), #{<target>.NAME} (a stack output or a commands target's "
                    "exports), #{variables.NAME} (a pipeline variable), #{codepipeline.PipelineExecutionId}",
                )
                continue
            if ns == PIPELINE_NAMESPACE:
                if name not in PIPELINE_VARIABLES:
                    check.error(
                        "MC238",
                        f"`{raw}`: the codepipeline namespace has only PipelineExecutionId",
                        path,
                        hint="#{codepipeline.PipelineExecutionId}",
                    )
                continue
            if ns == VARIABLES_NAMESPACE:
                declared = [v.name for v in m.variables]
                if name not in declared:
                    check.error(
                        "MC238",
                        f"`{raw}`: no pipeline variable `{name}` (variables: {', '.join(declared) or 'none'})",
                        path,
                        hint=f"declare it under the top-level `variables` (- name: {name}, default: ...)",
                    )
                continue
            if ns == BUILD_NAMESPACE:
                if name not in m.build.exports:
                    listing = ", ".join(m.build.exports) or "none"
                    check.error(
                        "MC238",
                        f"`{raw}`: the build exports no `{name}` (build.exports: {listing})",
                        path,
                        hint=f"add {name} to build.exports and `export {name}=...` in the build's commands",
                    )
                continue
            source = targets.get(ns)
            if source is None:
                close = difflib.get_close_matches(ns, list(targets) + [BUILD_NAMESPACE], n=1)
                check.error(
                    "MC238",
                    f"`{raw}`: unknown namespace `{ns}`; use build, codepipeline, variables or a target name",
                    path,
                    hint=f"did you mean `{close[0]}`?" if close else "targets are referenced by their name",
                )
                continue
            names = produces(source)
            if names is not None and name not in names:
                what = f"exports {', '.join(names)}" if names else f"outputs no variables (a {source.type} target)"
                check.error(
                    "MC238",
                    f"`{raw}`: target `{ns}` {what}",
                    path,
                    hint="only cloudformation/lambda template targets (stack Outputs) and commands targets "
                    "(`exports`) output variables",
                )
                continue
            order = _order_problem(m, reader, source, envs)
            if order:
                check.error("MC239", f"`{raw}`: {order}", path, hint=_ORDER_HINT)
                continue
            for env in envs or ():
                if ns not in env.targets:
                    check.error(
                        "MC238",
                        f"`{raw}`: target `{ns}` is not deployed in `{env.name}`, where this runs",
                        path,
                        hint=f"add `{ns}` to the targets of `{env.name}`",
                    )
    if m.build.exports and m.build.matrix:
        check.error(
            "MC242",
            "a build matrix runs several builds, each with its own values: the build action cannot "
            "output one value per exported variable",
            ("build", "exports"),
            hint="export the variable from a later step (a commands target's `exports`), or drop the matrix",
        )
    for target in m.targets:
        if target.template and "#{" in target.template:
            check.error(
                "MC240",
                "variables are resolved only in cloudformation `parameters` and commands and tests `env`",
                ("targets", t_index[target.name], "template"),
                hint="pass the value as a stack parameter: parameters: {Name: '#{build.NAME}'}",
            )


_ORDER_HINT = (
    "a variable exists once the action that outputs it has run: change sets are prepared before the "
    "environment's deploys, its deploys run in parallel (or in the order `targets[].after` gives), a "
    "commands target reading another target's variables runs after them, and post-deploy tests run last"
)


def _order_problem(m: Manifest, reader: Any, source: Any, envs: list | None) -> str | None:
    """Why `source`'s variables do not exist yet when `reader` runs, or None."""
    from .model import TestSuite
    from .order import ordered, path_between
    from .variables import runs_late

    if isinstance(reader, TestSuite):
        if envs is None:
            return f"tests after the build run before any deploy, so before `{source.name}`"
        if any(len(e.regions) > 1 for e in envs):
            return f"`{reader.after}` deploys `{source.name}` in several regions: a test suite cannot tell which"
        return None
    if reader.type != "commands":
        return (
            f"the parameters of `{reader.name}` are read when its change set is prepared, before "
            f"`{source.name}` deploys"
        )
    if source.name == reader.name:
        return f"`{reader.name}` cannot read its own variables"
    if ordered(m):  # `after` layers the deploys: the reader follows the source unless it must precede it
        for env in envs or ():
            if chain := path_between(m, env, source.name, reader.name):
                return (
                    f"in `{env.name}`, `{source.name}` deploys after `{reader.name}` ({' after '.join(chain)}: "
                    "`after` and variable reads), so its variables do not exist yet"
                )
        return None
    if runs_late(m, source):
        return f"`{source.name}` itself reads other targets' variables, so it runs at the same time as `{reader.name}`"
    return None


def check_environment_keys(
    check: Any, code: str, target: Any, deploying: list, named, mapping: Path, field: str, unit: str, suggest: bool
) -> None:
    """A per-environment mapping of a target (`field`, at `mapping`) names exactly the environments
    that deploy it: each key one of them (`named` in the order to report), each of them a key."""
    deploying_names = [env.name for env in deploying]
    listing = "name the environments that deploy this target: " + (", ".join(deploying_names) or "none do")
    for name in named:
        if name not in deploying_names:
            check.error(
                code,
                f"`{name}` is not an environment that deploys target `{target.name}`",
                mapping + (name,),
                hint=did_you_mean(name, deploying_names, listing) if suggest else listing,
            )
    if named:
        for env in deploying:
            if env.name not in named:
                check.error(
                    code,
                    f"environment `{env.name}` deploys target `{target.name}` but `{field}` names no {unit} for it",
                    mapping,
                    hint=f"add `{env.name}: <{unit} ID>`, or give one ID for every environment",
                )
