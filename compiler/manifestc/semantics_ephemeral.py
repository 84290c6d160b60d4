"""Semantics of ephemeral stacks (README "Ephemeral stacks"): per-branch previews
(`source.feature_branches.deploy_to`) and test stacks (`tests[].ephemeral_stack`).

Both deploy a manifest's cloudformation targets as stacks whose names start with a fixed prefix
(`ephemeral_prefix`), through an execution role limited to that prefix, from a CodeBuild project
whose role may touch no other stack. The rules here keep that true: the targets must deploy as a
plain `aws cloudformation deploy` of a template (no given role, no packaging, no configuration
file), in the pipeline's own account and region, and no environment stack may fall under a prefix.
Called from `semantics.py` with its checker; kept apart so the family's rules sit together.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import re
from typing import Any

from .diagnostics import did_you_mean
from .model import Manifest, Target, render_placeholders

Path = tuple

# CloudFormation stack names: letters, digits and hyphens, starting with a letter, at most 128
# characters (CloudFormation API Reference, CreateStack `StackName`).
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
STACK_NAME_MAX = 128
SLUG_TEXT_MAX = 24  # readable part of a branch slug
SLUG_HASH = 8  # hex digits of sha256(branch) appended: two branches never share a slug
SLUG_MAX = SLUG_TEXT_MAX + 1 + SLUG_HASH

# Which teardown event exists per source provider. CodeCommit sends `referenceDeleted` on
# "CodeCommit Repository State Change" to EventBridge (CodeCommit User Guide, "Monitoring CodeCommit
# events in Amazon EventBridge"). CodeBuild webhooks have no branch-deletion event: GitHub PUSH,
# PULL_REQUEST_CREATED/UPDATED/REOPENED/MERGED/CLOSED, RELEASED, PRERELEASED, WORKFLOW_JOB_QUEUED;
# GitLab the same without PRERELEASED; Bitbucket PUSH and PULL_REQUEST_CREATED/UPDATED/MERGED/CLOSED
# (CodeBuild User Guide, "GitHub webhook events", "GitLab webhook events", "Bitbucket webhook
# events"). So a codestar branch's previews go when its pull request is merged or closed.
TEARDOWN_EVENTS = {"codecommit": ("branch-deleted",), "codestar": ("pull-request-closed",)}
DEFAULT_TEARDOWN = {"codecommit": "branch-deleted", "codestar": "pull-request-closed"}


def ephemeral_prefix(pipeline: str, kind: str) -> str:
    """`<name>-preview-` (branch previews) or `<name>-test-<suite>-` (a suite's test stacks)."""
    return f"{pipeline}-{kind}-"


def branch_slug(branch: str) -> str:
    """A branch name as the stack-name-safe part of its preview stacks: ASCII letters lowered, every
    run of other characters one hyphen, trimmed, at most SLUG_TEXT_MAX characters, then `-` and the
    first SLUG_HASH hex digits of sha256(branch) (so `fix/a_b` and `fix/a-b` differ). The build
    computes the same with `SLUG_SHELL` (tests/test_ephemeral.py runs both)."""
    lowered = "".join(c.lower() if "A" <= c <= "Z" else c for c in branch)
    text = re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")[:SLUG_TEXT_MAX].rstrip("-")
    return f"{text}-{hashlib.sha256(branch.encode()).hexdigest()[:SLUG_HASH]}"


# The same in bash (the build image's coreutils and sed), reading $PREVIEW_BRANCH.
SLUG_SHELL = (
    'PREVIEW_SLUG="$(printf %s "$PREVIEW_BRANCH" | tr A-Z a-z | LC_ALL=C sed -E \'s/[^a-z0-9]+/-/g; s/^-+//; s/-+$//\' '
    f'| cut -c1-{SLUG_TEXT_MAX} | sed -E \'s/-+$//\')-$(printf %s "$PREVIEW_BRANCH" | sha256sum | cut -c1-{SLUG_HASH})"'
)


# Execution policies that let a preview's template create almost anything (the default is the first).
_BROAD_POLICIES = ("PowerUserAccess", "AdministratorAccess")


def _unfit(target: Target) -> str | None:
    """Why a target cannot be deployed as an ephemeral stack, or None."""
    if target.type != "cloudformation":
        return f"it is a {target.type} target (only cloudformation targets deploy as ephemeral stacks)"
    if target.execution_role:
        return "it names its own `execution_role`, which is not limited to ephemeral stacks"
    if target.packaged:
        return "it is packaged (`package: true`), which the ephemeral deploy does not do"
    if target.template_configuration:
        return "it has a `template_configuration` file, which the ephemeral deploy does not read"
    variables = [k for k, v in target.parameters if "#{" in v]
    if variables:
        return f"parameter {variables[0]} reads a `#{{...}}` variable, which only the pipeline's actions resolve"
    return None


def check_ephemeral(check: Any, m: Manifest) -> Manifest:
    """MC355–MC359, MC393, MC107 and warning MC687 on previews and test stacks; returns the manifest with the preview
    targets and teardown resolved."""
    fb = m.source.feature_branches
    previews = fb is not None and fb.deploy_to is not None
    suites = [(i, s) for i, s in enumerate(m.tests) if s.ephemeral_stack]
    if fb is not None and fb.teardown is not None and not previews:
        check.error(
            "MC358",
            "`teardown` without `deploy_to`: feature-branch builds deploy nothing to tear down",
            ("source", "feature_branches", "teardown"),
            hint="add `deploy_to: <environment>`, or remove `teardown`",
        )
    if (previews or suites) and check.doc["network"] is not None:
        check.error(
            "MC107",
            "ephemeral stacks (feature_branches.deploy_to, tests[].ephemeral_stack) with `network` are not "
            "supported yet: the builds would need a CloudFormation endpoint in the build subnets",
            ("network",),
            hint="deploy previews and test stacks from a pipeline without `network`, or test after an environment",
        )
    if suites:
        m = _outside_suites(check, m, {s.name for _, s in suites})
    if previews:
        m = _previews(check, m)
    for index, suite in suites:
        _test_stack(check, m, index, suite)
    _check_environment_stacks(check, m)
    return m


def _previews(check: Any, m: Manifest) -> Manifest:
    fb = m.source.feature_branches
    path = ("source", "feature_branches")
    provider = m.source.provider
    teardown = fb.teardown or DEFAULT_TEARDOWN.get(provider)
    if provider in TEARDOWN_EVENTS and teardown not in TEARDOWN_EVENTS[provider]:
        alternative = DEFAULT_TEARDOWN[provider]
        reason = (
            "CodeBuild webhooks have no branch-deletion event (GitHub, GitLab and Bitbucket send PUSH and "
            "PULL_REQUEST_* events only)"
            if provider == "codestar"
            else "CodeCommit previews are torn down from the EventBridge `referenceDeleted` event"
        )
        check.error(
            "MC358",
            f"`teardown: {teardown}` does not exist for {provider} sources: {reason}",
            path + ("teardown",),
            hint=f"use `teardown: {alternative}`",
        )
    names = [e.name for e in m.environments]
    if fb.deploy_to not in names:
        check.error(
            "MC355",
            f"`deploy_to` names no environment: `{fb.deploy_to}`; defined: {', '.join(names)}",
            path + ("deploy_to",),
            hint=did_you_mean(fb.deploy_to, names, "name the environment previews deploy beside"),
        )
        return m
    env = m.environment(fb.deploy_to)
    if m.is_cross_account(env) or any(r not in (None, m.region) for r in env.regions):
        check.error(
            "MC355",
            f"environment `{env.name}` is in another account or region: previews deploy from the feature-branch "
            "project into the pipeline's own account and region only",
            path + ("deploy_to",),
            hint="name an environment of the pipeline's account (no `account`, no other `regions`), "
            "e.g. a `dev` environment",
        )
        return m
    gated = [e.name for e in m.environments if e.approval is not None and not m.is_cross_account(e)]
    if gated:
        check.error(
            "MC393",
            f"previews deploy unreviewed branches into the pipeline's account, which also hosts "
            f"approval-gated environment{'s' if len(gated) > 1 else ''} {', '.join(f'`{g}`' for g in gated)}: "
            "a branch's stack could import, change or reach its resources without the approval",
            path + ("deploy_to",),
            hint=f"give {', '.join(f'`{g}`' for g in gated)} its own `account` and run the pipeline (and its "
            "previews) from a preview/dev account",
        )
    targets = []
    for name in env.targets:
        target = m.target(name)
        if target.type != "cloudformation":
            continue  # previews are stacks; other targets of the environment are not previewed
        why = _unfit(target)
        if why:
            check.error(
                "MC356",
                f"target `{name}` of environment `{env.name}` cannot be previewed: {why}",
                ("targets", _target_index(m, name)),
                hint="let manifestc make the execution role (`execution_policies` instead of `execution_role`), "
                "and deploy a template the build writes",
            )
        targets.append(name)
        broad = [p.rsplit("/", 1)[-1] for p in target.execution_policies if p.rsplit("/", 1)[-1] in _BROAD_POLICIES]
        if broad:
            check.warn(
                "MC687",
                f"previews of target `{name}` run with {', '.join(broad)}: whoever can push a "
                f"{', '.join(fb.patterns)} branch can have CloudFormation create any resource it allows in the "
                "pipeline's account, from code nobody reviewed",
                ("targets", _target_index(m, name)),
                hint="give the target `execution_policies` with only the services its template uses "
                "(e.g. arn:aws:iam::aws:policy/AWSLambda_FullAccess)",
            )
    if not targets:
        check.error(
            "MC355",
            f"environment `{env.name}` deploys no cloudformation target: previews have nothing to deploy",
            path + ("deploy_to",),
            hint="name an environment with cloudformation targets",
        )
    return dataclasses.replace(
        m,
        source=dataclasses.replace(
            m.source, feature_branches=dataclasses.replace(fb, teardown=teardown, targets=tuple(targets))
        ),
    )


def _outside_suites(check: Any, m: Manifest, stacked: set[str]) -> Manifest:
    """Feature-branch and pull-request builds run suites' commands without a test stack: a suite
    with `ephemeral_stack` is left out of their default suites, and naming it there is MC359."""
    source = m.source
    for field in ("feature_branches", "pull_requests"):
        section = getattr(source, field)
        if section is None:
            continue
        given = (check.doc["source"].get(field) or {}).get("tests")
        for t_index, name in enumerate(given or []):
            if name in stacked:
                check.error(
                    "MC359",
                    f"suite `{name}` tests against a test stack, which {field.replace('_', '-')} builds do not deploy",
                    ("source", field, "tests", t_index),
                    hint="run it in the pipeline only (drop it here), or give these builds another suite",
                )
        kept = tuple(t for t in section.tests if t not in stacked)
        source = dataclasses.replace(source, **{field: dataclasses.replace(section, tests=kept)})
    return dataclasses.replace(m, source=source)


def _test_stack(check: Any, m: Manifest, index: int, suite) -> None:
    path = ("tests", index, "ephemeral_stack")
    names = [t.name for t in m.targets]
    if suite.ephemeral_stack not in names:
        check.error(
            "MC359",
            f"`ephemeral_stack` names no target: `{suite.ephemeral_stack}`",
            path,
            hint=did_you_mean(suite.ephemeral_stack, names, "name a cloudformation target"),
        )
        return
    why = _unfit(m.target(suite.ephemeral_stack))
    if why:
        check.error("MC359", f"target `{suite.ephemeral_stack}` cannot be a test stack: {why}", path)
    if suite.after != "build":
        check.error(
            "MC359",
            f"suite `{suite.name}` runs after `{suite.after}`: a test stack is deployed from the build's output "
            "in the Build stage",
            path,
            hint="drop `after` (test stacks run after the build), or test the environment's own stacks",
        )
    if suite.buildspec:
        check.error(
            "MC359",
            f"suite `{suite.name}` has its own `buildspec`: the stack's deploy and deletion live in the generated one",
            path,
            hint="give the suite's `commands` instead of `buildspec`",
        )
    if check.doc["glue"] is not None:
        check.error("MC359", "test stacks with a `glue` workflow are not supported: the suites run Glue jobs", path)


def _check_environment_stacks(check: Any, m: Manifest) -> None:
    """MC357: no environment's stack may be named like an ephemeral one, or the project that
    creates and deletes ephemeral stacks could delete it."""
    prefixes = []
    fb = m.source.feature_branches
    if fb is not None and fb.deploy_to:
        prefixes.append(ephemeral_prefix(m.name, "preview"))
    prefixes += [ephemeral_prefix(m.name, f"test-{s.name}") for s in m.tests if s.ephemeral_stack]
    for env in m.environments:
        for name in env.targets:
            target = m.target(name)
            if not target.deploys_stack:
                continue
            for region in env.regions:
                stack = render_placeholders(
                    target.stack, environment=env.name, region=region or m.region or "", name=m.name
                )
                hit = next((p for p in prefixes if fnmatch.fnmatchcase(stack, p + "*")), None)
                if hit:
                    check.error(
                        "MC357",
                        f"stack `{stack}` of environment `{env.name}` starts with `{hit}`, the prefix of ephemeral "
                        "stacks, which feature-branch or test builds may delete",
                        ("targets", _target_index(m, name), "stack"),
                        hint="rename the stack or the environment (the default stack is {name}-{environment})",
                    )


def _target_index(m: Manifest, name: str) -> int:
    return next(i for i, t in enumerate(m.targets) if t.name == name)
