"""Readiness check 3: no two environments (or two manifests) deploy the same resource.

Two deploy actions in one account and region that write to the same CloudFormation stack, ECS
service, Lambda function, S3 bucket prefix (one prefix inside the other) or Glue database mean
that one environment overwrites another's resource: in a single-account pipeline staging would
deploy to prod's resource, and prod's approval would gate nothing. Semantics refuses this in one
manifest with a located error (MC280); this check reads the rendered pipelines, so it also
catches an emitter that forgets a per-environment field, and (MC641) two manifests built together
that deploy the same resource. Manifests without a top-level `account` or `region` are taken to
deploy to the same account and region as each other (the deploying ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..diagnostics import Diagnostic, Severity
from ..model import Manifest
from .deployments import Deployment, Templates, deployments, overlaps


def _where(d: Deployment) -> str:
    return f"stage `{d.stage}` action `{d.action}`"


def _clashes(
    items: list[tuple[object, Deployment]],
) -> list[tuple[tuple[object, Deployment], tuple[object, Deployment]]]:
    """Pairs of deployments (with their owners) that write to the same resource, each pair once, in
    the order of the items. Only deployments that can clash are compared (same account, region,
    kind and identity; for S3 prefixes the same bucket), so a build of 1,000 manifests does not
    compare every deployment with every other."""
    groups: dict[tuple, list[int]] = {}
    for index, (_, d) in enumerate(items):
        identity = d.identity.partition("/")[0] if d.kind == "S3 prefix" else d.identity
        groups.setdefault((d.account, d.region, d.kind, identity), []).append(index)
    pairs = []
    for members in groups.values():
        for position, first in enumerate(members):
            a = items[first][1]
            for second in members[position + 1 :]:
                if overlaps(a.kind, a.identity, items[second][1].identity):
                    pairs.append((first, second))
    return [(items[first], items[second]) for first, second in sorted(pairs)]


def check_deploy_collisions(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    """MC640: two deploy actions of one pipeline write to the same resource."""
    found = []
    items = [(None, d) for d in deployments(manifest, templates)]
    for (_, a), (_, b) in _clashes(items):
        if (a.stage, a.action) == (b.stage, b.action):
            continue
        found.append(
            Diagnostic(
                "MC640",
                Severity.ERROR,
                f"{_where(a)} and {_where(b)} both deploy {a.kind} `{a.identity}` in account {a.account}, "
                f"region {a.region}",
                f"out/{manifest.name}/pipeline.yaml",
                hint="give each environment its own resource: {environment} in the target's field",
            )
        )
    return found


@dataclass(frozen=True)
class Deploys:
    """What one pipeline of a build deploys: all the build-level check needs of a manifest.

    A manifest compiled in this build has it from its rendered templates (`deploys_of`); one an
    incremental build skipped as unchanged has no templates in memory, so the build reads it back
    from the `deploys` record of its `out/<name>/build.json` (`deploys_record`, `deploys_from_record`).
    """

    name: str
    file: str
    deployments: tuple[Deployment, ...]


_FIELDS = ("account", "region", "kind", "identity", "stage", "action")


def deploys_of(manifest: Manifest, templates: Templates, file: str | None = None) -> Deploys:
    return Deploys(manifest.name, file or manifest.file, tuple(deployments(manifest, templates)))


def deploys_record(manifest: Manifest, templates: Templates) -> list[dict[str, str]]:
    """The `deploys` section of build.json: every resource the pipeline deploys, in the order of
    its actions (the templates are deterministic, so is the record), exactly what `deploys_of`
    gives the build-level check."""
    return [{f: getattr(d, f) for f in _FIELDS} for d in deployments(manifest, templates)]


def deploys_from_record(name: str, file: str, record: object) -> Deploys | None:
    """`deploys_record` read back; None when it is missing or malformed."""
    if not isinstance(record, list):
        return None
    try:
        items = tuple(Deployment(**{f: str(item[f]) for f in _FIELDS}) for item in record)
    except (KeyError, TypeError):
        return None
    return Deploys(name, file, items)


def link_deploy_collisions(compiled: Sequence[tuple[Manifest, Templates]]) -> list[Diagnostic]:
    """MC641 over (manifest, rendered templates) pairs: see `pipeline_collisions`."""
    return pipeline_collisions([deploys_of(manifest, templates) for manifest, templates in compiled])


def pipeline_collisions(pipelines: Sequence[Deploys]) -> list[Diagnostic]:
    """MC641: two manifests built together deploy the same resource (reported at both).

    Each diagnostic's `path` is the pipeline name it is reported at: the build writes nothing of
    either pipeline (like two manifests with one name, MC502)."""
    items = [(pipeline, d) for pipeline in pipelines for d in pipeline.deployments]
    found = []
    reported = set()
    for (first, a), (second, b) in _clashes(items):
        if first is second or first.name == second.name:
            continue  # one pipeline (MC640), or two with one name (MC502 already)
        key = (first.name, second.name, a.kind, a.identity, b.identity)
        if key in reported:
            continue
        reported.add(key)
        for (own, mine), (other, theirs) in (((first, a), (second, b)), ((second, b), (first, a))):
            found.append(
                Diagnostic(
                    "MC641",
                    Severity.ERROR,
                    f"{_where(mine)} deploys {mine.kind} `{mine.identity}` in account {mine.account}, region "
                    f"{mine.region}, which pipeline `{other.name}` ({other.file}, {_where(theirs)}) also deploys",
                    f"out/{own.name}/pipeline.yaml",
                    path=(own.name,),
                    hint="two pipelines must not deploy one resource: rename the stack, service, function, "
                    "prefix or database in one of the manifests",
                )
            )
    return found
