"""Readiness checks: read the rendered templates the way an AWS reviewer would.

cfn-lint and checkov say whether a template is well formed; these checks say whether it would
*run*: who can decrypt what, what a private build can reach, which handler permissions a role
covers, which quotas a template meets. They read the rendered template dictionaries (not the
model's intentions), so they also catch what a new emitter forgets.

Each check is a function `(manifest, templates) -> diagnostics`, where `templates` maps an
output file name (`pipeline.yaml`, `bootstrap-<account>.yaml`, ...) to the template as a plain
dictionary. A check never raises on a template it does not understand; it reports what it can.
Findings are `MC6xx` diagnostics located in the emitted file (the logical id in the message).

`CHECKS` runs per manifest; `LINK_CHECKS` runs once per build over every manifest of the build
(two manifests deploying the same stack, for example). A link check reads a compact record of each
manifest (`Deploys`), not its templates: a manifest an incremental build skipped as unchanged has
no templates in memory, so its record comes from its `out/<name>/build.json`. Both are explicit,
ordered tuples: no reflection, no directory walking.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..diagnostics import Diagnostic
from ..model import Manifest

Templates = Mapping[str, dict[str, Any]]
Check = Callable[[Manifest, Templates], list[Diagnostic]]


def template_file(manifest: Manifest, name: str) -> str:
    """The display path of an emitted file, as lint findings name it."""
    return f"out/{manifest.name}/{name}"


# Checks import Templates and template_file from here, so they are imported after them.
from .deploy_collisions import Deploys, check_deploy_collisions, pipeline_collisions  # noqa: E402
from .encryption import check_decrypt  # noqa: E402
from .ephemeral_prefixes import ephemeral_prefix_collisions  # noqa: E402
from .glue_scripts import check_glue_scripts  # noqa: E402
from .handlers import check_handler_permissions  # noqa: E402
from .lifecycle import check_lifecycle  # noqa: E402
from .pull_requests import check_pull_request_projects  # noqa: E402
from .quotas import check_quotas  # noqa: E402 - needs Templates and template_file above
from .reachability import check_private_reachability  # noqa: E402 - likewise
from .secrets import check_environment_secrets  # noqa: E402 - likewise
from .toolchain import check_toolchain  # noqa: E402 - likewise
from .variables import check_variables  # noqa: E402 - likewise

CHECKS: tuple[Check, ...] = (
    check_decrypt,
    check_quotas,
    check_private_reachability,
    check_handler_permissions,
    check_deploy_collisions,
    check_lifecycle,
    check_glue_scripts,
    check_toolchain,
    check_environment_secrets,
    check_pull_request_projects,
    check_variables,
)

LinkCheck = Callable[[Sequence[Deploys]], list[Diagnostic]]

LINK_CHECKS: tuple[LinkCheck, ...] = (pipeline_collisions, ephemeral_prefix_collisions)


def run_checks(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    """Every per-manifest readiness check over one manifest's rendered templates."""
    found: list[Diagnostic] = []
    for check in CHECKS:
        found.extend(check(manifest, templates))
    return found


def run_link_checks(pipelines: Sequence[Deploys]) -> list[Diagnostic]:
    """Every build-level readiness check over the records of the manifests of one build."""
    found: list[Diagnostic] = []
    for check in LINK_CHECKS:
        found.extend(check(pipelines))
    return found
