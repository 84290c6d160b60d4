"""What the self-update guard remembers of a deployed pipeline, and how a commit is compared with it.

The Recompile project of every pipeline carries one environment variable per guard (`guard_values`),
computed by the compiler that emitted the template. `manifestc recompile` (recompile.py) reads them
back and refuses a commit that would, through the pipeline itself:

- deploy to an account or region whose bootstrap/support stack is not deployed (ACCOUNTS, REGIONS);
- change which environments have an approval or who their approvers are (APPROVALS);
- change where the pipeline takes its source from: provider, repository, branch, connection, and
  which pushes start it: branch and file path filters, run mode, pull-request builds (SOURCE);
- add or change a declared IAM grant of a build, test suite or commands target, or a secret the
  jobs read (PERMISSIONS);
- change the permissions boundary, e.g. the roles commands targets assume (BOUNDARY);
- deploy a resource an approved environment deploys from a stage without that same approval, e.g. a
  new unapproved `hotfix` environment writing prod's stack (GATED).

A new toolchain named by a commit (`regenerate.install`) must emit every guard variable this
compiler knows, with the values this compiler computes, or its output is not used: a commit cannot
downgrade to a compiler that guards less (recompile.py `_guards_kept`).
"""

from __future__ import annotations

import hashlib
import json

from .check.deployments import overlaps
from .model import Environment, Manifest, Permissions

ACCOUNTS = "MANIFESTC_DEPLOYED_ACCOUNTS"
REGIONS = "MANIFESTC_DEPLOYED_REGIONS"
APPROVALS = "MANIFESTC_DEPLOYED_APPROVALS"
SOURCE = "MANIFESTC_DEPLOYED_SOURCE"
GATED = "MANIFESTC_DEPLOYED_GATED"
PERMISSIONS = "MANIFESTC_DEPLOYED_PERMISSIONS"
BOUNDARY = "MANIFESTC_DEPLOYED_BOUNDARY"
GUARDS = (ACCOUNTS, REGIONS, APPROVALS, SOURCE, GATED, PERMISSIONS, BOUNDARY)

ANY = "*"  # the account and region of an S3 prefix: bucket names are global
Resource = tuple[str, str, str, str]  # kind, account, region, identity


def footprint_value(items: tuple[str, ...]) -> str:
    """A comma-separated list for a CodeBuild variable; `none` when empty."""
    return ",".join(items) or "none"


def approvals_value(manifest: Manifest) -> str:
    """`env=arn,arn;env=` for every environment with an approval (an empty list: approval without
    approvers), `none` when no environment has one."""
    return (
        ";".join(
            f"{e.name}={','.join(sorted(e.approval.approvers))}"
            for e in manifest.environments
            if e.approval is not None
        )
        or "none"
    )


def source_value(manifest: Manifest) -> str:
    """Where the pipeline's source comes from and which changes run through it, canonical (JSON,
    sorted keys): the repository and branch, plus the push trigger's branch and file path filters,
    the tag triggers, the run mode, the pull-request builds and feature-branch previews, so a commit cannot widen which
    branches, tags, files or pull requests run builds. Those are recorded only when set (not at their defaults), so a
    manifest without them records the same value as a toolchain that predates them (no refusal on
    upgrade)."""
    s = manifest.source
    value: dict = {
        "provider": s.provider,
        "repository": s.repository,
        "branch": s.branch,
        "connection": s.connection_arn or "",
        "host": s.host,
    }
    if s.branches:
        value["branches"] = list(s.branches)
    if s.exclude_branches:
        value["exclude_branches"] = list(s.exclude_branches)
    if s.paths:
        value["paths"] = list(s.paths)
    if s.exclude_paths:
        value["exclude_paths"] = list(s.exclude_paths)
    if s.tags:  # tag pushes run the pipeline on any tagged commit: branch protection does not cover tags
        value["tags"] = list(s.tags)
    if s.trigger != "push":
        value["trigger"] = s.trigger
    if s.feature_branches is not None and s.feature_branches.deploy_to:
        # previews deploy unreviewed branches with the environment's execution policies
        fb = s.feature_branches
        value["previews"] = {"branches": list(fb.patterns), "deploy_to": fb.deploy_to, "targets": list(fb.targets)}
    if s.pull_requests is not None:
        value["pull_requests"] = {"tests": list(s.pull_requests.tests), "approval": s.pull_requests.approval}
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def environment_resources(manifest: Manifest, env: Environment) -> list[Resource]:
    """Every resource `env` writes to, with its account and region."""
    account = env.account or manifest.account or PIPELINE_ACCOUNT
    found: list[Resource] = []
    for name in env.targets:
        target = manifest.target(name)
        for region in manifest.target_regions(target, env):
            where = region or manifest.region or PIPELINE_REGION
            for kind, identity, _ in manifest.target_resources(target, env, region):
                if kind == "S3 prefix":
                    found.append((kind, ANY, ANY, identity))
                else:
                    found.append((kind, account, where, identity))
    return sorted(set(found))


def gated_value(manifest: Manifest) -> str:
    """The resources each environment with an approval deploys (JSON: env -> [[kind, account,
    region, identity], ...]); `{}` when none has an approval."""
    gated = {
        e.name: [list(r) for r in environment_resources(manifest, e)]
        for e in manifest.environments
        if e.approval is not None
    }
    return json.dumps(gated, sort_keys=True, separators=(",", ":"))


def declared_permissions(manifest: Manifest) -> dict[str, Permissions]:
    """Project purpose (`build`, `test-<suite>`) -> its declared grants, for projects that have some."""
    found = {"build": manifest.build.permissions} if manifest.build.permissions else {}
    found.update({f"test-{t.name}": t.permissions for t in manifest.tests if t.permissions})
    return found


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def grant_fingerprints(manifest: Manifest) -> dict[str, tuple[str, ...]]:
    """Everything a commit could use to widen what the pipeline's jobs may do, as a 12-hex digest
    per item, by the project (or group) it applies to: the declared `permissions` of the build and
    each suite (model.Permissions.fingerprints), each commands target's statements and its broad
    opt-in, and the secrets the build and each environment's jobs read (a secret is a read grant)."""
    found = {purpose: p.fingerprints() for purpose, p in declared_permissions(manifest).items() if p.fingerprints()}
    # where a grant runs is part of it: a suite's grants moved from `after: prod` to staging, or a
    # commands target's added to staging's targets, run without prod's approval (third review)
    for suite in manifest.tests:
        if f"test-{suite.name}" in found:
            found[f"test-{suite.name}"] = tuple(sorted({*found[f"test-{suite.name}"], _digest("after", suite.after)}))
    for target in manifest.targets:
        if target.type == "commands" and target.permissions:
            # the digests of the list shape (Allow statements, the broad opt-in) are kept, so a deployed
            # pipeline's records still match after the move to the mapping shape (MC330)
            items = {
                _digest("statement", sorted(g.actions), sorted(g.resources))
                if g.effect == "Allow"
                else _digest("statement", g.effect, sorted(g.actions), sorted(g.resources))
                for g in target.permissions.statements
            }
            items.update(_digest("policy", arn) for arn in target.permissions.managed_policies)
            if target.permissions.allow_broad is not None:
                items.add(_digest("broad"))
            runs_in = sorted(e.name for e in manifest.environments if target.name in e.targets)
            items.add(_digest("environments", runs_in))
            found[f"commands-{target.name}"] = tuple(sorted(items))
    groups = [("secrets-build", manifest.build.secrets)] + [
        (f"secrets-{e.name}", e.secrets) for e in manifest.environments
    ]
    for purpose, secrets in groups:
        if secrets:
            found[purpose] = tuple(sorted({_digest("secret", s.store, s.name) for s in secrets}))
    return found


def placement_digests(manifest: Manifest) -> set[str]:
    """The digests of grant_fingerprints that record where a grant runs, not what it grants."""
    found = {_digest("after", suite.after) for suite in manifest.tests}
    for target in manifest.targets:
        if target.type == "commands":
            found.add(
                _digest("environments", sorted(e.name for e in manifest.environments if target.name in e.targets))
            )
    return found


def permissions_value(manifest: Manifest) -> str:
    """`build=<digest>,<digest>;commands-migrate=<digest>;secrets-prod=<digest>`, or `none`
    (grant_fingerprints)."""
    return ";".join(f"{purpose}={','.join(items)}" for purpose, items in grant_fingerprints(manifest).items()) or "none"


def describe_grant_group(purpose: str) -> str:
    """Where in the manifest a grant_fingerprints group comes from, in words."""
    if purpose == "build":
        return "build.permissions"
    if purpose.startswith("test-"):
        return f"tests[{purpose[len('test-') :]}].permissions"
    if purpose.startswith("commands-"):
        return f"the permissions of commands target {purpose[len('commands-') :]}"
    if purpose == "secrets-build":
        return "build.secrets"
    return f"the secrets of environment {purpose[len('secrets-') :]}"


def guard_values(manifest: Manifest) -> tuple[tuple[str, str], ...]:
    """The Recompile project's guard variables, in GUARDS order."""
    return (
        (ACCOUNTS, footprint_value(manifest.extra_accounts)),
        (REGIONS, footprint_value(manifest.extra_regions)),
        (APPROVALS, approvals_value(manifest)),
        (SOURCE, source_value(manifest)),
        (GATED, gated_value(manifest)),
        (PERMISSIONS, permissions_value(manifest)),
        (BOUNDARY, boundary_value(manifest)),
    )


def boundary_value(manifest: Manifest) -> str:
    """A digest of the pipeline's permissions boundary (emit/iam.py), which the self-update role may not change."""
    from .emit.iam import boundary_digest  # (emit imports this module)

    return boundary_digest(manifest)


def parse_gated(value: str | None) -> dict[str, list[Resource]] | None:
    """GATED read back; None when unset or malformed."""
    if value is None:
        return None
    try:
        loaded = json.loads(value)
        return {str(env): [tuple(str(part) for part in item) for item in items] for env, items in loaded.items()}
    except (ValueError, AttributeError, TypeError):
        return None


PIPELINE_ACCOUNT = "(the pipeline's account)"
PIPELINE_REGION = "(the pipeline's region)"


def _normalised(resource: Resource, account: str, region: str) -> Resource:
    """A recorded resource with the pipeline's own account and region written out: a manifest
    without a top-level `account`/`region` records them as placeholders, and a commit that adds
    `account:`/`region:` equal to them must still match (third review)."""
    kind, res_account, res_region, identity = resource
    if account and res_account == PIPELINE_ACCOUNT:
        res_account = account
    if region and res_region == PIPELINE_REGION:
        res_region = region
    return kind, res_account, res_region, identity


def ungated_writes(
    new: Manifest,
    gated: dict[str, list[Resource]],
    approvers: dict[str, tuple[str, ...]],
    account: str = "",
    region: str = "",
) -> list[str]:
    """In words: each resource an approved environment of the deployed pipeline deploys that the new
    manifest deploys from an environment without that same approval (other than the same
    environment, whose approval the APPROVALS guard keeps)."""
    found = []
    for env in new.environments:
        own = tuple(sorted(env.approval.approvers)) if env.approval is not None else None
        for resource in environment_resources(new, env):
            kind, res_account, res_region, identity = _normalised(resource, account, region)
            for owner, items in sorted(gated.items()):
                if owner == env.name or own == approvers.get(owner, ()):
                    continue
                for item in items:
                    g_kind, g_account, g_region, g_identity = _normalised(tuple(item), account, region)
                    if (g_kind, g_account, g_region) == (kind, res_account, res_region) and overlaps(
                        kind, identity, g_identity
                    ):
                        found.append(
                            f"environment {env.name} "
                            f"({'no approval' if own is None else 'another approval'}) would deploy {kind} "
                            f"`{identity}`, which the deployed pipeline deploys only after {owner}'s approval"
                        )
    return sorted(set(found))
