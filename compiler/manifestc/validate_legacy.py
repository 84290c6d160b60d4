"""Shapes the manifest language no longer takes, reported before the schema checks them.

A `commands` target's `permissions` used to be a list of `{actions, resources}` (with a target-level
`broad_permissions: true`); it is now the block builds and tests use — `permissions: {statements,
managed_policies, allow_broad}` — so the Service Authorization Reference checks MC223–MC227 apply to
it too (README "Permissions of builds and tests"). The old list is error MC330, located at it, with
the new shape in the hint; the list is then read as `statements` in the copy cerberus validates, so
the same run still reports every other mistake (in the old statements too).
"""

from __future__ import annotations

from typing import Any

from .diagnostics import Diagnostic, Marks, at


def legacy_commands_permissions(data: Any, marks: Marks, file: str, found: list[Diagnostic]) -> Any:
    """`data` with each commands target's list-form `permissions` reported (MC330) and rewritten
    as `{statements: <list>}`; anything else unchanged."""
    targets = data.get("targets") if isinstance(data, dict) else None
    if not isinstance(targets, list):
        return data
    rewritten = None
    for index, target in enumerate(targets):
        if not (isinstance(target, dict) and target.get("type") == "commands"):
            continue
        if not isinstance(target.get("permissions"), list):
            continue
        found.append(
            at(
                "MC330",
                "a commands target's `permissions` is now a mapping, like `build.permissions`: the list of "
                "statements goes under `statements`",
                ("targets", index, "permissions"),
                file,
                marks,
                hint="permissions: {statements: [{actions: [...], resources: [...]}]} — and, for a broad grant, "
                "`allow_broad: <reason>` in that mapping instead of `broad_permissions: true`",
            )
        )
        if rewritten is None:
            rewritten = dict(data, targets=list(targets))
        rewritten["targets"][index] = dict(target, permissions={"statements": target["permissions"]})
    return rewritten if rewritten is not None else data
