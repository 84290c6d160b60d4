"""Semantics of `targets[].after` (the deploy order of an environment stage; order.py).

MC337 a name that is no target, or a target never deployed in an environment that deploys this
one (the order would apply nowhere); MC338 a target ordered after itself, or an order involving a
stepfunctions/lambda_invoke target (its invoke action already runs after every deploy of the
environment); MC339 a cycle. A named target deployed in only some of this target's environments is
fine: the order applies where both deploy. A commands target reading variables of a target that
(through `after`) runs after it is MC239 (semantics_steps.check_variables).
"""

from __future__ import annotations

from typing import Any

from .diagnostics import did_you_mean
from .model import Manifest

_INVOKE_HINT = (
    "stepfunctions and lambda_invoke targets run after every deploy of the environment; order the deploys only"
)


def check_target_order(check: Any, m: Manifest) -> None:
    """MC337, MC338 and MC339 on every target's `after`."""
    targets = {t.name: t for t in m.targets}
    index = {raw["name"]: i for i, raw in enumerate(check.doc["targets"])}
    for target in m.targets:
        if not target.after:
            continue
        path = ("targets", index[target.name], "after")
        if target.invokes:
            check.error(
                "MC338",
                f"`{target.name}` is a {target.type} target: its invoke action has no place among the deploys",
                path,
                hint=_INVOKE_HINT,
            )
            continue
        deploying = [e for e in m.environments if target.name in e.targets]
        for position, name in enumerate(check.doc["targets"][index[target.name]]["after"]):
            where = path + (position,)
            other = targets.get(name)
            if name == target.name:
                check.error(
                    "MC338",
                    f"`{target.name}` cannot deploy after itself",
                    where,
                    hint=f"remove `{name}` from `after`",
                )
            elif other is None:
                check.error(
                    "MC337",
                    f"`after` names `{name}`, which is not a target",
                    where,
                    hint=did_you_mean(name, [t for t in targets if t != target.name], "name targets of this manifest"),
                )
            elif other.invokes:
                check.error(
                    "MC338",
                    f"`{name}` is a {other.type} target: `{target.name}` cannot deploy after its invoke action",
                    where,
                    hint=_INVOKE_HINT,
                )
            elif target.deploys_stack and other.deploys_stack:
                check.warn(
                    "MC699",
                    f"`{target.name}` deploys after `{name}`, but both are stacks whose change sets are "
                    "prepared at the start of the stage (before the approval), so "
                    f"`{target.name}`'s change set cannot see what `{name}`'s deploy creates or changes "
                    "(a new export for Fn::ImportValue, a new SSM parameter): the first deploy of such a "
                    "dependency fails",
                    where,
                    hint=f"ship a new export of `{name}` in a commit before the one that uses it, or read the "
                    "value at run time; the order of the executes still holds",
                )
            if (
                other is not None
                and other.name != target.name
                and not other.invokes
                and (deploying and not any(name in e.targets for e in deploying))
            ):
                check.error(
                    "MC337",
                    f"`{name}` is deployed in no environment that deploys `{target.name}` "
                    f"({', '.join(e.name for e in deploying)}), so the order applies nowhere",
                    where,
                    hint=f"add `{name}` to the targets of one of those environments, or remove it from `after`",
                )
    _check_cycles(check, m, index)


def _check_cycles(check: Any, m: Manifest, index: dict[str, int]) -> None:
    """MC339: `after` chains that come back to where they started (whatever the environments), one
    error per cycle, at the `after` entry of its first target in manifest order."""
    graph = {t.name: [n for n in t.after if n != t.name and n in index] for t in m.targets}
    reported: set[frozenset[str]] = set()
    for start in graph:
        for chain in _cycles_from(graph, start):
            members = frozenset(chain)
            if members in reported or min(chain, key=index.__getitem__) != start:
                continue
            reported.add(members)
            raw_after = check.doc["targets"][index[start]]["after"]
            check.error(
                "MC339",
                f"deploy order cycle: {' -> '.join(chain + [start])} (each runs after the next)",
                ("targets", index[start], "after", raw_after.index(chain[1])),
                hint="a target cannot wait for one that waits for it; remove one `after` entry of the cycle",
            )


def _cycles_from(graph: dict[str, list[str]], start: str) -> list[list[str]]:
    """Simple chains start -> ... leading back to start (depth first, in manifest order)."""
    found: list[list[str]] = []

    def walk(chain: list[str]) -> None:
        for name in graph.get(chain[-1], ()):
            if name == start:
                found.append(list(chain))
            elif name not in chain and len(found) < 1:
                walk(chain + [name])

    walk([start])
    return found[:1]
