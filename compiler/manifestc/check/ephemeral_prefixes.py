"""Build-level check (MC394): no pipeline's stacks fall under another pipeline's ephemeral prefixes.

A pipeline's feature-branch previews are named `<name>-preview-…` and its test stacks
`<name>-test-<suite>-…`; its feature, teardown and test projects may create change sets for and
delete stacks under those prefixes (README "Ephemeral stacks"). A second pipeline named, say,
`<name>-preview-tools` deploys `<name>-preview-tools-dev`: the first pipeline's unreviewed feature
builds could change it. Ephemeral stacks carry a `manifestc:ephemeral` tag that the projects' IAM
checks, but environment stacks deployed by CodePipeline do not, so the names are checked here, for
the manifests built together (like MC641). The infixes are reserved for every pipeline of the build,
whether it has previews and test stacks yet or not: adding them later must not put another
pipeline's stacks within reach.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..diagnostics import Diagnostic, Severity
from .deploy_collisions import Deploys

EPHEMERAL_INFIXES = ("preview", "test")


def _reserved(owner: str) -> tuple[str, ...]:
    return tuple(f"{owner}-{infix}-" for infix in EPHEMERAL_INFIXES)


def _owners_within(names: list[tuple[str, str]], by_name: dict[str, list[int]]) -> list[int]:
    """The pipelines (by index, in build order) whose reserved prefixes some of `names` might start
    with: every `<owner>` before a `-preview-` or `-test-` in a name. Looking them up keeps a build
    of 1,000 manifests from comparing every name with every pipeline."""
    owners: set[int] = set()
    for _, name in names:
        for infix in EPHEMERAL_INFIXES:
            marker = f"-{infix}-"
            at = name.find(marker)
            while at != -1:
                owners.update(by_name.get(name[:at], ()))
                at = name.find(marker, at + 1)
    return sorted(owners)


def ephemeral_prefix_collisions(pipelines: Sequence[Deploys]) -> list[Diagnostic]:
    """MC394: a pipeline whose name, or a stack it deploys, starts with `<other>-preview-` or
    `<other>-test-` for another pipeline `<other>` of the build (reported at the pipeline named so)."""
    found = []
    by_name: dict[str, list[int]] = {}
    for index, pipeline in enumerate(pipelines):
        by_name.setdefault(pipeline.name, []).append(index)
    for own in pipelines:
        names = [("its name", own.name)] + [
            (f"stage `{d.stage}` action `{d.action}` stack", d.identity) for d in own.deployments if d.kind == "stack"
        ]
        for other in (pipelines[i] for i in _owners_within(names, by_name)):
            if other.name == own.name:
                continue
            for what, name in names:
                hit = next((p for p in _reserved(other.name) if name.startswith(p)), None)
                if hit is None:
                    continue
                found.append(
                    Diagnostic(
                        "MC394",
                        Severity.ERROR,
                        f"{what} `{name}` starts with `{hit}`, the prefix of pipeline `{other.name}`'s ephemeral "
                        f"stacks ({other.file}): its feature-branch or test builds could change or delete it",
                        f"out/{own.name}/pipeline.yaml",
                        path=(own.name,),
                        hint=f"rename pipeline `{own.name}` (or its stack) so that it does not start with "
                        f"`{other.name}-preview-` or `{other.name}-test-`",
                    )
                )
                break  # one finding per pair of pipelines
    return found
