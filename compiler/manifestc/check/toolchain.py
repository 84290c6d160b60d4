"""Readiness check: the builds that run manifestc run it hermetically (issue 9).

Read from the rendered buildspecs, not from the model, so a future emitter that runs manifestc
(or changes the Recompile commands) is held to the same rules:

- MC600: every `pip install` in such a build uses no index and checks hashes (`--no-index
  --require-hashes`) and ignores pip configuration (`--isolated`); nothing names a package
  index, a VCS or a URL to install from, or logs pip in to a repository;
- MC601: manifestc runs from the isolated virtual environment (`venv/bin/python -I -m
  manifestc`) inside a fresh directory (`cd "$MANIFESTC_HOME"` before the install), never as a
  bare `manifestc` from the checkout, and never reads a committed output (`--out` is fresh);
- MC602: a build that reads the toolchain from the artifact bucket has the bucket policy that
  denies writes (object bytes, deletion, ACLs) under the toolchain prefix to the pipeline's
  roles and to the roles its application stacks create.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..diagnostics import Diagnostic, Severity
from ..model import TOOLCHAIN_PREFIX, Manifest
from ..schemas_data import safe_load
from . import Templates, template_file

_FOREIGN = re.compile(r"(--index-url|--extra-index-url|(^|\s)-i\s|git\+|https?://|codeartifact login --tool pip)")


def _buildspec_commands(project: dict[str, Any]) -> list[str]:
    spec = project.get("Properties", {}).get("Source", {}).get("BuildSpec")
    if isinstance(spec, dict):
        spec = spec.get("Fn::Sub")
        spec = spec[0] if isinstance(spec, list) else spec
    if not isinstance(spec, str):
        return []
    try:
        parsed = safe_load(spec.replace("${!", "${"))
    except yaml.YAMLError:
        return []
    if not isinstance(parsed, dict):
        return []  # a buildspec file of the repository (a path): nothing of manifestc's runs there
    phases = parsed.get("phases", {})
    return [c for phase in phases.values() if isinstance(phase, dict) for c in phase.get("commands", []) or []]


_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1[^\n]*\n(.*?\n)?\2\s*$", re.S | re.M)


def _shell_text(command: str) -> str:
    """The command without its here-document bodies: a body is the content of a file the command
    writes (the approval check script), not a command the build runs."""
    return _HEREDOC.sub(lambda m: m.group(0).split("\n", 1)[0], command)


def _runs_manifestc(commands: list[str]) -> bool:
    return any(re.search(r"(^|[\s/])manifestc(\s|$)|-m manifestc\b", _shell_text(c)) for c in commands)


def check_toolchain(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for name, template in templates.items():
        resources = template.get("Resources", {})
        for logical_id, resource in sorted(resources.items()):
            if resource.get("Type") != "AWS::CodeBuild::Project":
                continue
            commands = _buildspec_commands(resource)
            if not _runs_manifestc(commands):
                continue
            file = template_file(manifest, name)
            found.extend(
                Diagnostic(code, Severity.ERROR, f"{logical_id}: {message}", file, hint=hint)
                for code, message, hint in _project_findings(commands, resource, resources, manifest.name)
            )
    return found


_MC602 = (
    f"reads its toolchain from the artifact bucket, whose policy does not deny the pipeline's roles and its "
    f"application stacks' roles writes (PutObject, DeleteObject, PutObjectAcl) under {TOOLCHAIN_PREFIX}"
)


def _project_findings(
    commands: list[str], resource: dict, resources: dict, pipeline: str
) -> list[tuple[str, str, str]]:
    """(code, message, hint) for one project that runs manifestc."""
    out: list[tuple[str, str, str]] = []
    installs = [c for c in commands if re.search(r"\bpip\b.*\binstall\b", c)]
    for command in installs:
        missing = [f for f in ("--no-index", "--require-hashes", "--isolated") if f not in command]
        if missing:
            out.append(
                (
                    "MC600",
                    f"`{command}` installs manifestc without {', '.join(missing)}",
                    "the self-update toolchain installs only from its hash-pinned wheelhouse, no index",
                )
            )
    for command in commands:
        if _FOREIGN.search(command):
            out.append(
                (
                    "MC600",
                    f"`{command}` reaches a package index, a VCS or a URL",
                    "the toolchain comes from S3 (aws s3 cp) and is installed with --no-index",
                )
            )
    first_install = next((i for i, c in enumerate(commands) if c in installs), len(commands))
    if not any(c == 'cd "$MANIFESTC_HOME"' for c in commands[:first_install]):
        out.append(
            (
                "MC601",
                "the toolchain is not installed in a fresh directory outside the checkout",
                'create it with mktemp -d and cd "$MANIFESTC_HOME" before installing',
            )
        )
    for command in commands:
        if re.search(r"(^|[\s;&|])manifestc\s", command) and "-m manifestc" not in command:
            out.append(
                (
                    "MC601",
                    f"`{command}` runs manifestc from PATH in the checkout",
                    "run venv/bin/python -I -m manifestc (isolated: no module of the checkout is importable)",
                )
            )
        if "-m manifestc build" in command or ("-m manifestc recompile" in command and "--out" not in command):
            out.append(
                (
                    "MC601",
                    f"`{command}` may read an output directory of the repository",
                    "compile with manifestc recompile, which builds into a fresh temporary directory",
                )
            )
    reads_bucket = any("MANIFESTC_TOOLCHAIN_URL" in c for c in commands) and _reads_artifact_bucket(resource)
    if reads_bucket and not _toolchain_write_denied(resources, pipeline):
        out.append(
            (
                "MC602",
                _MC602,
                "add the DenyToolchainWritesByPipelineRoles statement to ArtifactBucketPolicy",
            )
        )
    return out


def _reads_artifact_bucket(project: dict[str, Any]) -> bool:
    env = project.get("Properties", {}).get("Environment", {}).get("EnvironmentVariables", [])
    for variable in env:
        if variable.get("Name") == "MANIFESTC_TOOLCHAIN_URL":
            value = variable.get("Value")
            return isinstance(value, dict) and "${ArtifactBucket}" in str(value.get("Fn::Sub", ""))
    return False


_DENIED_WRITES = ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl")


def _toolchain_write_denied(resources: dict[str, Any], pipeline: str) -> bool:
    """A Deny of the toolchain writes under the prefix whose aws:PrincipalArn patterns cover
    both the pipeline's roles and its application stacks' roles."""
    policy = resources.get("ArtifactBucketPolicy", {}).get("Properties", {}).get("PolicyDocument", {})
    for statement in policy.get("Statement", []):
        targets = statement.get("Resource", [])
        targets = targets if isinstance(targets, list) else [targets]
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        principals = str(statement.get("Condition", {}).get("ArnLike", {}).get("aws:PrincipalArn", ""))
        if (
            statement.get("Effect") == "Deny"
            and all(a in actions for a in _DENIED_WRITES)
            and any(TOOLCHAIN_PREFIX in str(t) for t in targets)
            and any(f"role/manifestc/{p}*" in principals for p in ("", f"{pipeline}/"))
            and any(f"role/manifestc-app/{p}*" in principals for p in ("", f"{pipeline}/"))
        ):
            return True
    return False
