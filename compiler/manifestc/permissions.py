"""Declared IAM grants of build and test projects (`build.permissions`, `tests[].permissions`).

Part of the semantics phase: checks each declared grant against the Service Authorization
Reference (cfn-lint's copy, read through `registry`), says which grants are *broad*, and refuses
the grants the pipeline's permissions boundary would deny anyway (they would compile and then
fail with AccessDenied at run time). Broad grants compile only with `allow_broad: <reason>`.

A grant is broad when it is one of (README "Permissions of builds and tests"):

- an action `*`, or every action of a service (`s3:*`);
- an IAM write action (anything but `iam:Get*`, `iam:List*`, `iam:Simulate*`, `iam:Generate*`):
  what a role can do to roles and policies is privilege escalation, whatever the resource;
- `"*"` (or an ARN whose service or resource part is `*`) for an action that has resource-level
  permissions: the grant then covers every such resource of every account that trusts it;
- an AWS managed policy named `*FullAccess` or `PowerUserAccess`.

Deny statements only narrow, so they are never broad.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable
from typing import Any

from .diagnostics import Path
from .model import Grant, Permissions
from .registry import action_exists, action_is_scopable, service_actions, services

# AWS managed policies never attached by a declared grant, opt-in or not: the same list the
# execution roles refuse (emit/iam.py NOT_ATTACHABLE, MC265), so "a manifest committer cannot
# attach AdministratorAccess" (README "Security") stays true.
NEVER_ATTACHED = ("AdministratorAccess", "IAMFullAccess", "AWSOrganizationsFullAccess")
BROAD_POLICY_NAMES = ("PowerUserAccess",)  # besides every `*FullAccess`
# IAM actions that only read (Service Authorization Reference, IAM: access level List/Read).
IAM_READ_PREFIXES = ("get", "list", "simulate", "generate")
# Services the boundary denies outright (emit/iam.py boundary_document: NoOrganizationChanges).
BOUNDARY_DENIED_SERVICES = ("organizations", "account")
# Actions the boundary allows only on the pipeline's own roles (PassOnlyOwnRoles, AssumeOnlyOwnRoles).
OWN_ROLE_ACTIONS = ("iam:passrole", "sts:assumerole")

_ACTION = re.compile(r"^([a-z0-9-]+):([A-Za-z0-9*?]+)$")
_ARN = re.compile(r"^arn:(aws[a-z-]*|\*):([a-z0-9-]+|\*):([a-z0-9-]*|\*):([0-9]{12}|\*|aws)?:(.+)$")

Report = Callable[[str, str, Path, str | None], None]


def expand(action: str) -> list[str]:
    """The actions (lower-case `service:name`) a declared action names; `*` is every action."""
    if action == "*":
        return ["*"]
    service, name = action.lower().split(":", 1)
    if not has_wildcard(name):  # what fnmatchcase would match: the action itself, if it exists
        return [f"{service}:{name}"] if action_exists(service, name) else []
    return [f"{service}:{n}" for n in service_actions(service) if fnmatch.fnmatchcase(n, name)]


def has_wildcard(pattern: str) -> bool:
    """Whether `fnmatch` reads anything in `pattern` as a wildcard (without one, it matches only
    itself, and comparing strings spares compiling a regular expression for each of hundreds of
    actions a policy names)."""
    return "*" in pattern or "?" in pattern or "[" in pattern


def _scopable(action: str) -> bool:
    """Whether an action (lower-case `service:name`) can be scoped to a resource ARN."""
    return action == "*" or action_is_scopable(action)


def _check_action(action: str, path: Path, error: Report) -> list[str] | None:
    """The actions `action` names, or None (reported) when it is not an IAM action."""
    if action == "*":
        return ["*"]
    match = _ACTION.match(action)
    if not match:
        error("MC223", f"`{action}` is not an IAM action (`service:Action`, e.g. `s3:GetObject`)", path, None)
        return None
    service, name = match.group(1), match.group(2)
    if service not in services():
        close = difflib.get_close_matches(service, list(services()), n=1)
        error(
            "MC223",
            f"`{service}` is not a service prefix of the Service Authorization Reference",
            path,
            f"did you mean `{close[0]}:{name}`?" if close else None,
        )
        return None
    found = expand(action)
    if not found:
        close = difflib.get_close_matches(name.lower(), service_actions(service), n=1)
        error(
            "MC223",
            f"no {service} action matches `{name}` (Service Authorization Reference)",
            path,
            f"did you mean `{service}:{close[0]}`?" if close else None,
        )
        return None
    return found


def _own_role(arn: str, pipeline: str) -> bool:
    """An ARN under the pipeline's role paths, in any account (what the boundary lets it pass or assume)."""
    match = _ARN.match(arn)
    return bool(match) and match.group(5).startswith((f"role/manifestc/{pipeline}/", f"role/manifestc-app/{pipeline}/"))


# A commands target's resources may hold the {account} {region} {environment} {name} placeholders
# (README "commands"): checked as if filled in with values of the right shape.
_PLACEHOLDER_SAMPLES = {"{account}": "000000000000", "{region}": "us-east-1", "{environment}": "x", "{name}": "x"}


def _sample(resource: str) -> str:
    for placeholder, value in _PLACEHOLDER_SAMPLES.items():
        resource = resource.replace(placeholder, value)
    return resource


def check_permissions(
    raw: dict[str, Any] | None, path: Path, pipeline: str, report: Report, placeholders: bool = False
) -> Permissions | None:
    """The declared grants at `path` as a record; problems go to `report(code, message, path, hint)`
    (MC223-MC227; MC227 is a warning). `placeholders`: resources may hold a commands target's
    placeholders (messages still quote the resource as written)."""
    if raw is None:
        return None
    broad: list[tuple[str, Path]] = []
    statements = []
    for p_index, arn in enumerate(raw["managed_policies"]):
        name = arn.rsplit("/", 1)[1]
        where = path + ("managed_policies", p_index)
        if ":iam::aws:policy/" in arn and name in NEVER_ATTACHED:
            report(
                "MC226",
                f"`{name}` is never attached to a pipeline role (it would cover IAM or Organizations administration)",
                where,
                "declare the actions the commands call in `statements`",
            )
        elif ":iam::aws:policy/" in arn and (name.endswith("FullAccess") or name in BROAD_POLICY_NAMES):
            broad.append((f"AWS managed policy {name}", where))
    for s_index, statement in enumerate(raw["statements"]):
        where = path + ("statements", s_index)
        allow = statement["effect"] == "Allow"
        actions: list[str] = []
        reported: set[str] = set()  # actions already reported broad: their resources are not reported again
        valid = True
        for a_index, action in enumerate(statement["actions"]):
            found = _check_action(action, where + ("actions", a_index), report)
            if found is None:
                valid = False
                continue
            if not allow:
                continue
            denied = sorted({a.split(":", 1)[0] for a in found if a.split(":", 1)[0] in BOUNDARY_DENIED_SERVICES})
            if denied:
                report(
                    "MC226",
                    f"`{action}`: the pipeline's permissions boundary denies every {'/'.join(denied)} action",
                    where + ("actions", a_index),
                    "remove it: run Organizations and account changes outside the pipeline",
                )
            if action == "*" or action.split(":", 1)[1] == "*":
                every = "every action" + ("" if action == "*" else " of the service")
                broad.append((f"action `{action}` ({every})", where + ("actions", a_index)))
                continue  # reported once: its resources are not reported again
            actions += found
            writes = sorted(a for a in found if a.startswith("iam:") and not a[4:].startswith(IAM_READ_PREFIXES))
            if writes:
                listed = ", ".join(writes[:3]) + ("..." if len(writes) > 3 else "")
                broad.append((f"IAM write action `{action}` ({listed})", where + ("actions", a_index)))
                reported.update(writes)
        for r_index, resource in enumerate(statement["resources"]):
            r_where = where + ("resources", r_index)
            text = _sample(resource) if placeholders else resource
            match = _ARN.match(text)
            if text != "*" and not match:
                report(
                    "MC224",
                    f"`{resource}` is neither an ARN (`arn:<partition>:<service>:<region>:<account>:<resource>`) nor `*`",
                    r_where,
                    None,
                )
                continue
            if not (allow and valid):
                continue
            everything = text == "*" or match.group(2) == "*" or match.group(5) == "*"
            scopable = sorted({a for a in actions if a not in reported and _scopable(a)})
            if everything and scopable:
                listed = ", ".join(scopable[:3]) + ("..." if len(scopable) > 3 else "")
                broad.append((f"resource `{resource}` for {listed}, which can be scoped to resource ARNs", r_where))
            own = [a for a in actions if a in OWN_ROLE_ACTIONS]
            if own and text != "*" and match and not _own_role(text, pipeline):
                report(
                    "MC226",
                    f"the pipeline's permissions boundary denies {' and '.join(own)} on `{resource}`: its roles may "
                    "pass or assume only roles under /manifestc/" + pipeline + "/ and /manifestc-app/" + pipeline + "/",
                    r_where,
                    f"create the role under the path /manifestc-app/{pipeline}/ (in any account; its trust policy "
                    "names this project's role)",
                )
        statements.append(Grant(statement["effect"], tuple(statement["actions"]), tuple(statement["resources"])))
    reason = raw["allow_broad"]
    if reason is None:
        for what, where in broad:
            report(
                "MC225",
                f"broad grant: {what}",
                where,
                "scope it to the resources and actions the commands use, or accept it explicitly with "
                "`allow_broad: <reason>` in this permissions block",
            )
    elif not broad:
        report(
            "MC227", "`allow_broad` is set but no grant of this block is broad", path + ("allow_broad",), "remove it"
        )
    return Permissions(
        managed_policies=tuple(raw["managed_policies"]),
        statements=tuple(statements),
        allow_broad=reason,
        broad=tuple(what for what, _ in broad),
    )
