"""Readiness check 2: in a private build, every host a command reaches has an endpoint, or is an error.

Reads each CodeBuild project of the rendered pipeline template the way a reviewer would: a project
with `VpcConfig` whose build security group (the one manifestc creates) has no HTTPS egress to the
internet reaches only the VPC endpoints. Walking its buildspec phases in order, every command is
matched against the tools -> hosts table in `reach.py`:

- MC630: a command reaches a public host no CodeArtifact login of this buildspec stands in for (a
  `--tool pip` login counts only into the repository that serves PyPI, `CodeArtifact.pip_repository`:
  one external connection per repository, so pip logged in to an npm store still reaches pypi.org);
- MC631: a dependency install runs *before* the CodeArtifact login that would redirect it;
- MC632: an `aws <service>` call whose VPC endpoint the network does not have.

Findings are located in the emitted file and name the project and the phase.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from .. import reach
from ..diagnostics import CODES, Diagnostic
from ..model import Manifest
from ..schemas_data import safe_load
from . import template_file

_PHASES = ("install", "pre_build", "build", "post_build")


def _internet(resources: dict[str, Any], project: dict[str, Any]) -> str:
    """`none` when the project's only security group is manifestc's without internet HTTPS egress."""
    groups = project.get("VpcConfig", {}).get("SecurityGroupIds", [])
    if groups != [{"Ref": "BuildSecurityGroup"}]:
        return "unknown"
    egress = resources.get("BuildSecurityGroup", {}).get("Properties", {}).get("SecurityGroupEgress", [])
    for rule in egress:
        if rule.get("CidrIp") == "0.0.0.0/0" and int(rule.get("FromPort", 0)) <= 443 <= int(rule.get("ToPort", 0)):
            return "nat"
    return "none"


def _buildspec(project: dict[str, Any]) -> dict[str, Any] | None:
    spec = project.get("Source", {}).get("BuildSpec")
    if isinstance(spec, dict):
        spec = spec.get("Fn::Sub")
        if isinstance(spec, list):
            spec = spec[0]
    if not isinstance(spec, str):
        return None
    try:
        loaded = safe_load(spec)
    except yaml.YAMLError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _diagnostic(code: str, file: str, message: str, hint: str) -> Diagnostic:
    return Diagnostic(code, CODES[code].severity, message, file=file, hint=hint)


def check_private_reachability(manifest: Manifest, templates: Mapping[str, dict[str, Any]]) -> list[Diagnostic]:
    """MC630-MC632 over every VPC project of the pipeline template."""

    template = templates.get("pipeline.yaml")
    if not template or manifest.network is None or manifest.network.mode == "none":
        return []
    file = template_file(manifest, "pipeline.yaml")
    endpoints = {e.service for e in manifest.network.endpoints}
    resources = template.get("Resources", {})
    found: list[Diagnostic] = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::CodeBuild::Project":
            continue
        project = resource.get("Properties", {})
        if "VpcConfig" not in project or _internet(resources, project) != "none":
            continue
        spec = _buildspec(project)
        if spec is None:
            continue
        phases = spec.get("phases") or {}
        commands = [
            (phase, str(command)) for phase in _PHASES for command in (phases.get(phase) or {}).get("commands") or []
        ]
        pip_repository = manifest.build.codeartifact.pip_repository if manifest.build.codeartifact else None
        all_logins = reach.login_tools([c for _, c in commands], pip_repository)
        logged_in: list[str] = []
        for phase, command in commands:
            logged_in += reach.login_tools([command], pip_repository)
            for hit in reach.command_hits(command):
                r = hit.reach
                if not r.certain or (r.registry and r.registry in logged_in):
                    continue
                where = f"{logical_id} ({phase}): `{hit.segment[:80]}`"
                if r.registry and r.registry in all_logins:
                    found.append(
                        _diagnostic(
                            "MC631",
                            file,
                            f"{where} installs from {', '.join(r.hosts)} before the CodeArtifact login "
                            f"(--tool {r.registry}) of the same buildspec",
                            "log in to CodeArtifact first: the login must be the first command of `install`",
                        )
                    )
                else:
                    found.append(
                        _diagnostic(
                            "MC630",
                            file,
                            f"{where} reaches {', '.join(r.hosts)} ({r.tool}), which a private build without "
                            "internet egress cannot reach",
                            r.why,
                        )
                    )
            for service in reach.aws_cli_endpoints(command):
                if service not in endpoints:
                    found.append(
                        _diagnostic(
                            "MC632",
                            file,
                            f"{logical_id} ({phase}): `{command[:80]}` calls {service}, but the VPC has no "
                            f"{service} endpoint",
                            f"add {service} to network.endpoints (endpoints: auto derives it)",
                        )
                    )
    return found
