"""Readiness check: an environment's secrets reach only the actions of that environment (MC660).

`environments[].secrets` are given to the test suites that run after that environment's deploy
and to that environment's commands jobs, and to nothing else: not the build, not the gates, not
another environment's suites or commands jobs, not the feature-branch build. The check reads
`pipeline.yaml` as rendered: every CodeBuild project whose environment variables resolve a secret, and every IAM policy (inline or managed) that names its
ARN (`secret:<name>-??????`, `parameter/<path>`). A secret declared only by environments (not by
`build.secrets`, which every build and test project receives) may appear only in the projects,
and the roles of the projects, of those environments' post-deploy suites and commands jobs.
"""

from __future__ import annotations

import json
from typing import Any

from ..diagnostics import Diagnostic, Severity
from ..model import Manifest
from . import Templates, template_file


def _arn_marker(store: str, name: str) -> str:
    """How a secret's ARN is spelt in an emitted policy (emit/codebuild.py `_secret_statements`)."""
    return f":secret:{name}-??????" if store == "secretsmanager" else f":parameter{name}"


def _role_of(project: dict[str, Any]) -> str | None:
    role = project.get("Properties", {}).get("ServiceRole")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        return role["Fn::GetAtt"][0]
    return None


def check_environment_secrets(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    """MC660 for each project or role outside an environment that holds or reads its secret."""
    shared = {(s.store, s.name) for s in manifest.build.secrets}
    owners: dict[tuple[str, str], set[str]] = {}
    for env in manifest.environments:
        for secret in env.secrets:
            if (secret.store, secret.name) not in shared:
                owners.setdefault((secret.store, secret.name), set()).add(env.name)
    template = templates.get("pipeline.yaml")
    if not owners or not template:
        return []
    resources = template.get("Resources", {})
    file = template_file(manifest, "pipeline.yaml")
    found = []
    for (store, name), envs in sorted(owners.items()):
        allowed_projects = {f"{manifest.name}-test-{t.name}" for t in manifest.tests if t.after in envs}
        allowed_projects |= {  # the environments' commands jobs (emit/codebuild.py `commands_job_purpose`)
            f"{manifest.name}-commands-{e.name}-{t}"
            for e in manifest.environments
            if e.name in envs
            for t in e.targets
            if manifest.target(t).type == "commands"
        }
        allowed_ids = {
            logical_id
            for logical_id, r in resources.items()
            if r.get("Type") == "AWS::CodeBuild::Project" and r.get("Properties", {}).get("Name") in allowed_projects
        }
        allowed_roles = {_role_of(resources[i]) for i in allowed_ids}
        marker = _arn_marker(store, name)
        where = ", ".join(sorted(envs))
        for logical_id, resource in sorted(resources.items()):
            kind = resource.get("Type")
            props = resource.get("Properties", {})
            if kind == "AWS::CodeBuild::Project" and logical_id not in allowed_ids:
                variables = props.get("Environment", {}).get("EnvironmentVariables", [])
                held = [
                    v.get("Name")
                    for v in variables
                    if v.get("Type") in ("SECRETS_MANAGER", "PARAMETER_STORE")
                    and str(v.get("Value", "")).split(":", 1)[0].lstrip("/") == name.lstrip("/")
                ]
                if held:
                    found.append(
                        Diagnostic(
                            "MC660",
                            Severity.ERROR,
                            f"{logical_id} receives secret {name} of environment {where} "
                            f"(variable {', '.join(held)}), but runs outside that environment",
                            file,
                            hint="this is a manifestc bug; please report it with the manifest",
                        )
                    )
            elif kind in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
                if kind == "AWS::IAM::Role" and logical_id in allowed_roles:
                    continue
                if marker in json.dumps(props) and logical_id not in allowed_roles:
                    found.append(
                        Diagnostic(
                            "MC660",
                            Severity.ERROR,
                            f"{logical_id} may read secret {name} of environment {where}, but is not the role of "
                            "a test suite that runs after that environment's deploy or of its commands jobs",
                            file,
                            hint="this is a manifestc bug; please report it with the manifest",
                        )
                    )
    return found
