"""Readiness checks of the factory stack (`out/_shared/factory.yaml`), read from the rendered
template as a reviewer reads it against the AWS documentation:

- MC670: the deploy role lacks a handler permission of a resource type in a pipeline template it
  would deploy (`manifestc factory --against out/`: the templates a build wrote).
- MC671: the chain is broken: a push rule whose target is not a FIFO queue with a message group,
  a queue without its FIFO dead-letter queue after exactly 2 receives, a visibility timeout
  shorter than the build's timeout, an unencrypted queue, or a pipe that does not read the queue.
- MC672: a role without the factory's permissions boundary, or one that may create roles or put
  policies on them without an iam:PermissionsBoundary condition (check/handlers.py MC611).
- MC673: the factory build installs or runs manifestc other than hermetically (check/toolchain.py).
- MC674: a factory role grants a scopable action on every resource without a condition.
"""

from __future__ import annotations

from typing import Any

from ..diagnostics import Diagnostic, Severity
from .encryption import _allows, _encrypted_stores, _refers_to
from .handlers import _unbounded_role_writes, _unscoped_but_scopable, missing_permissions, role_statements
from .toolchain import _buildspec_commands, _project_findings, _shell_text

DEPLOY_ROLE = "FactoryDeployRole"


def _diagnostic(code: str, file: str, message: str, hint: str) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, file, 1, 1, hint=hint)


def _ref(value) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def check_chain(template: dict[str, Any], file: str) -> list[Diagnostic]:
    """MC671 over the rule -> queue -> pipe -> state machine -> project chain."""
    found: list[Diagnostic] = []
    resources = template.get("Resources", {})

    def bad(message: str, hint: str) -> None:
        found.append(_diagnostic("MC671", file, message, hint))

    queues = set()
    rules = {k: r for k, r in resources.items() if r.get("Type") == "AWS::Events::Rule"}
    if not rules:
        bad("no EventBridge rule feeds the factory", "emit a rule on CodeCommit Repository State Change")
    for logical_id, rule in sorted(rules.items()):
        for target in rule.get("Properties", {}).get("Targets", []):
            queue_id = _ref(target.get("Arn"))
            queue = resources.get(queue_id or "", {})
            if queue.get("Type") != "AWS::SQS::Queue" or not queue.get("Properties", {}).get("FifoQueue"):
                bad(f"rule {logical_id} does not target a FIFO queue", "target the factory's FIFO queue")
                continue
            if not target.get("SqsParameters", {}).get("MessageGroupId"):
                bad(f"rule {logical_id} sends no message group", "set SqsParameters.MessageGroupId per repository")
            queues.add(queue_id)
    for queue_id in sorted(queues):
        props = resources[queue_id].get("Properties", {})
        redrive = props.get("RedrivePolicy", {})
        dead = resources.get(_ref(redrive.get("deadLetterTargetArn")) or "", {})
        if redrive.get("maxReceiveCount") != 2:
            bad(
                f"{queue_id} moves a message to its dead-letter queue after {redrive.get('maxReceiveCount')} receives",
                "RedrivePolicy.maxReceiveCount: 2",
            )
        if not dead.get("Properties", {}).get("FifoQueue"):
            bad(f"{queue_id} has no FIFO dead-letter queue", "a FIFO queue's dead-letter queue must be FIFO")
        for queue in (props, dead.get("Properties", {})):
            if dead and not (queue.get("KmsMasterKeyId") or queue.get("SqsManagedSseEnabled")):
                bad(f"a queue of {queue_id}'s chain is not encrypted", "SqsManagedSseEnabled or KmsMasterKeyId")
        visibility = props.get("VisibilityTimeout", 30)
        if not 60 <= visibility <= 900:
            bad(
                f"{queue_id}'s visibility timeout ({visibility} s) is outside 60-900 s",
                "the message is only in flight while the pipe starts the state machine: too short and a slow "
                "hand-off is delivered twice, too long and a failed one blocks the repository's message group",
            )
        readers = [
            r
            for r in resources.values()
            if r.get("Type") == "AWS::Pipes::Pipe" and _ref(r.get("Properties", {}).get("Source")) == queue_id
        ]
        if not readers:
            bad(f"no pipe reads {queue_id}", "an AWS::Pipes::Pipe with the queue as its Source")
        for pipe in readers:
            target = resources.get(_ref(pipe["Properties"].get("Target")) or "", {})
            definition = str(target.get("Properties", {}).get("DefinitionString", ""))
            if (
                target.get("Type") != "AWS::StepFunctions::StateMachine"
                or "codebuild:startBuild.sync" not in definition
            ):
                bad(
                    "the pipe's target does not run the factory build and wait for it",
                    "a state machine with a codebuild:startBuild.sync task",
                )
    found += _encryption_findings(resources, file)
    return found


def _encryption_findings(resources: dict[str, Any], file: str) -> list[Diagnostic]:
    """Whoever reads an encrypted queue may decrypt with its key; whoever reports to an encrypted
    topic may encrypt with its key (SQS and SNS call KMS with the caller's permissions)."""
    found = []
    queues = {
        k: _ref(r["Properties"]["KmsMasterKeyId"])
        for k, r in resources.items()
        if r.get("Type") == "AWS::SQS::Queue" and _ref(r.get("Properties", {}).get("KmsMasterKeyId"))
    }
    _, topics = _encrypted_stores(resources)
    for logical_id, role in sorted(resources.items()):
        if role.get("Type") != "AWS::IAM::Role":
            continue
        needs = [
            (queue, key, ("kms:Decrypt",))
            for queue, key in queues.items()
            if _allows(role, "sqs:ReceiveMessage", _refers_to(queue))
        ] + [
            (topic, key, ("kms:GenerateDataKey", "kms:Decrypt"))
            for topic, key in topics.items()
            if _allows(role, "sns:Publish", _refers_to(topic))
        ]
        for store, key, actions in needs:
            for action in actions:
                if not _allows(role, action, _refers_to(key)):
                    found.append(
                        _diagnostic(
                            "MC671",
                            file,
                            f"{logical_id} uses {store}, encrypted with {key}, but may not {action} with {key}",
                            "SQS and SNS call KMS with the caller's permissions: grant it on the key",
                        )
                    )
    return found


def check_roles(template: dict[str, Any], file: str) -> list[Diagnostic]:
    """MC672 and MC674 for every role of the factory stack."""
    found: list[Diagnostic] = []
    for logical_id, resource in sorted(template.get("Resources", {}).items()):
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        if not resource.get("Properties", {}).get("PermissionsBoundary"):
            found.append(
                _diagnostic(
                    "MC672",
                    file,
                    f"{logical_id} has no permissions boundary",
                    "every factory role carries FactoryBoundary",
                )
            )
        for statement in role_statements(template, logical_id):
            actions = _unbounded_role_writes(statement)
            if actions:
                found.append(
                    _diagnostic(
                        "MC672",
                        file,
                        f"{logical_id} may call {', '.join(actions)} without an iam:PermissionsBoundary condition",
                        "condition the statement on a pipeline's boundary",
                    )
                )
            for action in _unscoped_but_scopable(statement):
                found.append(
                    _diagnostic(
                        "MC674",
                        file,
                        f"{logical_id} grants {action} on every resource, but AWS lets it be scoped to a resource",
                        "scope the statement to the factory's or the pipelines' resources",
                    )
                )
    return found


def check_build(template: dict[str, Any], file: str) -> list[Diagnostic]:
    """MC673: the build installs the pinned toolchain with no index and runs it isolated."""
    found: list[Diagnostic] = []
    resources = template.get("Resources", {})
    for logical_id, resource in sorted(resources.items()):
        if resource.get("Type") != "AWS::CodeBuild::Project":
            continue
        commands = [_shell_text(c) for c in _buildspec_commands(resource)]
        for code, message, hint in _project_findings(commands, resource, resources, "manifestc-factory"):
            if code != "MC602":  # the factory's toolchain is in its own bucket, not a pipeline's
                found.append(_diagnostic("MC673", file, f"{logical_id}: {message}", hint))
        if not any("--require-hashes" in c for c in commands):
            found.append(
                _diagnostic(
                    "MC673",
                    file,
                    f"{logical_id} does not install the hash-pinned toolchain",
                    "install with toolchain.install_commands (no index, hashes required)",
                )
            )
    return found


def check_against(template: dict[str, Any], file: str, deployed: dict[str, dict[str, Any]]) -> list[Diagnostic]:
    """MC670: the deploy role covers every resource type of the templates it would deploy."""
    statements = role_statements(template, DEPLOY_ROLE)
    found = []
    for name, other in sorted(deployed.items()):
        for message in missing_permissions(statements, other):
            found.append(
                _diagnostic(
                    "MC670",
                    file,
                    f"{DEPLOY_ROLE} would deploy {name} but {message}",
                    "add the type to emit/factory.py PIPELINE_STACK_TYPES (its permissions come from the registry)",
                )
            )
    return found


def check_factory(
    template: dict[str, Any], file: str, deployed: dict[str, dict[str, Any]] | None = None
) -> list[Diagnostic]:
    """Every factory readiness check."""
    return (
        check_chain(template, file)
        + check_roles(template, file)
        + check_build(template, file)
        + check_against(template, file, deployed or {})
    )
