"""Order between the deploys of an environment stage: `targets[].after`.

Without `after` every target's deploy action(s) of an environment run at one run order (README
"The pipeline it emits"). With it, the deploys are layered: a target's level is 0 when nothing it
must follow is deployed in the environment, else one more than the highest level of those targets;
level L's deploy actions run after level L-1's (CodePipeline runs the actions of a stage in
ascending RunOrder, those of one RunOrder in parallel: User Guide, "CodePipeline pipeline structure
reference"). A commands target that reads another target's variables (variables.py) follows that
target too, so it still runs after the deploy whose outputs it reads.

Levels are per target, not per region: a target deployed to several regions waits for every
region of the targets it follows. Only when some target has `after` are levels used at all, so a
manifest without it keeps its pipeline byte for byte.
"""

from __future__ import annotations

from .model import Environment, Manifest, Target
from .variables import target_references


def ordered(m: Manifest) -> bool:
    """Some target declares `after`, or copies images that other deploys pull (`image_copy`): the
    environment stages layer their deploys."""
    return any(t.after or t.type == "image_copy" for t in m.targets)


# invoke targets run after every deploy anyway (MC338): never layered
_NOT_LAYERED = ("stepfunctions", "lambda_invoke")


def _copies_first(m: Manifest, env: Environment, target: Target) -> list[str]:
    """The `image_copy` targets of `env` that `target` implicitly follows: a deploy may pull the
    copied image (a stack or service in that region or account), so the copies finish first —
    unless the copy itself was ordered after something (then only `after` decides)."""
    if target.type in ("image_copy", *_NOT_LAYERED):
        return []
    return [n for n in env.targets if m.target(n).type == "image_copy" and not m.target(n).after]


def follows(m: Manifest, env: Environment, target: Target) -> tuple[str, ...]:
    """The targets of `env` whose deploys `target`'s deploys run after: its `after` (deployed in
    `env`) and, for a commands target, the targets whose variables it reads."""
    deployed = set(env.targets)
    named = list(target.after) + _copies_first(m, env, target)
    if target.type == "commands":
        named += sorted(target_references(m, target))
    return tuple(n for n in dict.fromkeys(named) if n in deployed and n != target.name)


def path_between(m: Manifest, env: Environment, start: str, goal: str) -> list[str] | None:
    """A chain start -> ... -> goal where each target follows the next in `env`, or None."""
    stack, seen = [[start]], {start}
    while stack:
        chain = stack.pop()
        if chain[-1] == goal and len(chain) > 1:
            return chain
        for name in follows(m, env, m.target(chain[-1])):
            if name == goal:
                return chain + [name]
            if name not in seen:
                seen.add(name)
                stack.append(chain + [name])
    return None


def deploy_levels(m: Manifest, env: Environment) -> dict[str, int] | None:
    """Each target of `env` -> its level, or None when no target has `after` (one level).
    Semantics has rejected cycles (MC339, MC239); a cycle here would be a compiler bug."""
    if not ordered(m):
        return None
    levels: dict[str, int] = {}

    def level(name: str, visiting: tuple[str, ...]) -> int:
        if name in levels:
            return levels[name]
        if name in visiting:
            raise ValueError(f"deploy order cycle: {' -> '.join(visiting + (name,))}")
        before = follows(m, env, m.target(name))
        levels[name] = 1 + max((level(n, visiting + (name,)) for n in before), default=-1)
        return levels[name]

    for name in env.targets:
        level(name, ())
    return levels
