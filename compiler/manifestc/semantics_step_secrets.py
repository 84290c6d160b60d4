"""Semantics of commands targets' environment secrets and their optional role (README "Secrets per
environment", `commands` under "targets").

A commands target receives its environment's `environments[].secrets` as CodeBuild secret
variables of its job. The pipeline action's variables (the target's `env`, and `REGION` per
region) override the project's (CodeBuild API Reference, StartBuild `environmentVariablesOverride`),
and the job sets and exports its own variables before the commands, so a secret of the same name
would silently not reach the commands (MC334, MC335). A target with neither `role` nor
`permissions` runs with a job role that calls no AWS API; commands that start an AWS tool there
get a warning (MC698). Called from `semantics.py` with its checker, after `check_commands_targets`.
"""

from __future__ import annotations

from typing import Any

from .model import Manifest
from .semantics_steps import RESERVED_STEP_VARIABLES

# First words of a command that call AWS APIs with the job's credentials: the AWS CLI, the SAM and
# CDK CLIs, Terraform, Pulumi, eksctl, Copilot. kubectl, helm, flyway and curl are not listed: they
# work without AWS credentials (a kubeconfig, a database URL, a webhook) as often as with them.
_AWS_TOOLS = ("aws", "sam", "cdk", "terraform", "pulumi", "eksctl", "copilot")


def check_step_secrets(check: Any, m: Manifest) -> None:
    """MC334/MC335 for an environment secret a commands job of that environment would not receive
    as written; MC698 for AWS tools run by a commands target without `role` or `permissions`."""
    env_index = {e["name"]: i for i, e in enumerate(check.doc["environments"])}
    target_index = {t["name"]: i for i, t in enumerate(check.doc["targets"])}
    for env in m.environments:
        commands = [m.target(n) for n in env.targets if m.target(n).type == "commands"]
        for secret in env.secrets:
            path = ("environments", env_index[env.name], "secrets", secret.variable)
            if commands and (secret.variable in RESERVED_STEP_VARIABLES or secret.variable.startswith("CODEBUILD_")):
                check.error(
                    "MC334",
                    f"secret `{secret.variable}` of `{env.name}` is a variable its commands job "
                    f"(`{commands[0].name}`) sets itself, so the commands would not see the secret",
                    path,
                    hint="rename the secret's variable (ENVIRONMENT, REGION, ACCOUNT, AWS_REGION, AWS_DEFAULT_REGION, "
                    "AWS_PROFILE, AWS_SDK_LOAD_CONFIG, DEPLOY_ROLE_ARN and CODEBUILD_* are set by the job)",
                )
                continue
            for target in commands:
                if secret.variable in dict(target.env):
                    check.error(
                        "MC335",
                        f"secret `{secret.variable}` of `{env.name}` is also in the `env` of commands target "
                        f"`{target.name}`: the action's plaintext value would replace the secret",
                        path,
                        hint=f"remove `{secret.variable}` from targets[{target.name}].env, or rename one of them",
                    )
    for target in m.targets:
        if target.type != "commands" or target.role or target.permissions:
            continue
        for c_index, command in enumerate(target.commands):
            words = command.split()
            first = words[1] if words[:1] == ["npx"] and len(words) > 1 else (words[0] if words else "")
            if first in _AWS_TOOLS:
                check.warn(
                    "MC698",
                    f"commands target `{target.name}` runs `{first}` but has neither `role` nor `permissions`: its "
                    "job role may call no AWS API, so the call is denied",
                    ("targets", target_index[target.name], "commands", c_index),
                    hint="declare `permissions: {statements: [...]}` with what the command calls, or name a `role` "
                    "of the environment's account",
                )
                break
