"""Readiness check 1: every principal that reads an encrypted object can decrypt it.

Objects in an SSE-KMS bucket (the artifact stores) and messages of a KMS-encrypted SNS topic are
unreadable, and a topic is unpublishable, without the key: S3 and SNS call KMS with the caller's
permissions (S3 User Guide, "Using server-side encryption with AWS KMS keys": a reader needs
kms:Decrypt; SNS Developer Guide, "Encryption at rest": a publisher needs kms:GenerateDataKey
and kms:Decrypt). The check reads the rendered templates:

* in each template, every role allowed s3:GetObject on a KMS-encrypted bucket of that template
  must be allowed kms:Decrypt on the bucket's key (the key policies delegate to IAM), and every
  role allowed sns:Publish on an encrypted topic kms:GenerateDataKey and kms:Decrypt;
* a role of a target account's bootstrap stack that reads the tooling account's artifacts needs
  both halves of a cross-account grant: kms:Decrypt on the tooling account's keys in its own
  policy, and the artifact key policy naming its account;
* the CloudFormation execution role of a stack whose template was packaged by
  `aws cloudformation package` (lambda template targets) reads the code from the artifact bucket
  (Lambda fetches it with the caller's permissions), so it needs the same two permissions.

Findings are MC650, naming the template and the role.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..diagnostics import Diagnostic, Severity
from ..model import Manifest
from . import Templates, template_file


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    """A resource value as searchable text (intrinsic functions included)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _actions_match(granted: list[str], wanted: str) -> bool:
    if "*" in granted:
        return True
    service, _, name = wanted.partition(":")
    for action in granted:
        a_service, _, a_name = action.partition(":")
        if a_service.lower() == service.lower() and re.fullmatch(
            re.escape(a_name).replace(r"\*", ".*"), name, re.IGNORECASE
        ):
            return True
    return False


def _statements(role: dict) -> list[dict]:
    props = role.get("Properties", {})
    out = []
    for policy in props.get("Policies", []):
        for statement in _as_list(policy.get("PolicyDocument", {}).get("Statement", [])):
            if statement.get("Effect") == "Allow":
                out.append(statement)
    return out


def _denied(role: dict, action: str, resource_matches) -> bool:
    """An unconditional Deny of the role's own policies names the resource (not `*`)."""
    for policy in role.get("Properties", {}).get("Policies", []):
        for statement in _as_list(policy.get("PolicyDocument", {}).get("Statement", [])):
            if statement.get("Effect") != "Deny" or "Condition" in statement:
                continue
            if _actions_match(_as_list(statement.get("Action", [])), action) and any(
                _text(r) != "*" and resource_matches(_text(r)) for r in _as_list(statement.get("Resource", []))
            ):
                return True
    return False


def _allows(role: dict, action: str, resource_matches) -> bool:
    if _denied(role, action, resource_matches):
        return False
    for statement in _statements(role):
        if _actions_match(_as_list(statement.get("Action", [])), action) and any(
            resource_matches(_text(r)) for r in _as_list(statement.get("Resource", []))
        ):
            return True
    return False


def _refers_to(logical_id: str):
    """A resource value that names the logical id (GetAtt, Ref, ${Id} or ${Id.Arn} in a Sub)."""
    pattern = re.compile(
        r'"Fn::GetAtt": \["' + logical_id + r'"|"Ref": "' + logical_id + r'"|\$\{' + logical_id + r"[.}]"
    )
    return lambda text: text == "*" or bool(pattern.search(text))


def _encrypted_stores(resources: dict) -> tuple[dict[str, str], dict[str, str]]:
    """(bucket logical id -> key logical id, topic logical id -> key logical id)."""
    buckets, topics = {}, {}
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::S3::Bucket":
            for rule in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
                default = rule.get("ServerSideEncryptionByDefault", {})
                key = default.get("KMSMasterKeyID")
                if default.get("SSEAlgorithm", "").startswith("aws:kms") and isinstance(key, dict):
                    buckets[logical_id] = _as_list(key.get("Fn::GetAtt", [None]))[0]
        elif resource.get("Type") == "AWS::SNS::Topic":
            key = props.get("KmsMasterKeyId")
            if isinstance(key, dict) and "Fn::GetAtt" in key:
                topics[logical_id] = key["Fn::GetAtt"][0]
    return buckets, topics


def _key_policy_accounts(resources: dict, key: str) -> set[str]:
    """Accounts the key policy lets use the key for decryption (principal ...:iam::<account>:root)."""
    accounts = set()
    document = resources.get(key, {}).get("Properties", {}).get("KeyPolicy", {})
    for statement in _as_list(document.get("Statement", [])):
        if statement.get("Effect") != "Allow" or not _actions_match(_as_list(statement.get("Action")), "kms:Decrypt"):
            continue
        principal = _text(statement.get("Principal", {}))
        accounts.update(re.findall(r":iam::(\d{12}):root", principal))
    return accounts


def check_decrypt(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    """Every reader of an encrypted store of this manifest's templates has decrypt on its key."""
    found: list[Diagnostic] = []

    def report(name: str, message: str, hint: str) -> None:
        found.append(Diagnostic("MC650", Severity.ERROR, message, template_file(manifest, name), hint=hint))

    for name, data in templates.items():
        resources = data.get("Resources", {})
        buckets, topics = _encrypted_stores(resources)
        for logical_id, resource in resources.items():
            if resource.get("Type") != "AWS::IAM::Role":
                continue
            for bucket, key in buckets.items():
                if _allows(resource, "s3:GetObject", _refers_to(bucket)) and not _allows(
                    resource, "kms:Decrypt", _refers_to(key)
                ):
                    report(
                        name,
                        f"{name}: role {logical_id} reads objects of {bucket}, encrypted with {key}, "
                        f"but may not kms:Decrypt with {key}",
                        "grant kms:Decrypt on the bucket's key to every role that reads from it",
                    )
            for topic, key in topics.items():
                if not _allows(resource, "sns:Publish", _refers_to(topic)):
                    continue
                for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                    if not _allows(resource, action, _refers_to(key)):
                        report(
                            name,
                            f"{name}: role {logical_id} publishes to {topic}, encrypted with {key}, "
                            f"but may not {action} with {key}",
                            "publishers of an encrypted topic need kms:GenerateDataKey and kms:Decrypt on its key",
                        )
    found += _cross_account(manifest, templates, report)
    return found


def _packaged_stack_roles(pipeline: dict) -> list[str]:
    """RoleArn texts of CloudFormation actions deploying a packaged (lambda) template."""
    roles = []
    for resource in pipeline.get("Resources", {}).values():
        if resource.get("Type") != "AWS::CodePipeline::Pipeline":
            continue
        for stage in resource["Properties"].get("Stages", []):
            for action in stage.get("Actions", []):
                config = action.get("Configuration", {})
                if "::packaged-" in str(config.get("TemplatePath", "")) and "RoleArn" in config:
                    roles.append(_text(config["RoleArn"]))
    return roles


def _cross_account(manifest: Manifest, templates: Templates, report) -> list[Diagnostic]:
    pipeline = templates.get("pipeline.yaml", {})
    home = pipeline.get("Resources", {})
    key_accounts = _key_policy_accounts(home, "ArtifactKey") if "ArtifactKey" in home else set()
    packaged_roles = _packaged_stack_roles(pipeline)
    tooling = manifest.account or ""
    for name, data in templates.items():
        match = re.fullmatch(r"bootstrap-(\d{12})\.yaml", name)
        if not match:
            continue
        account = match.group(1)
        for logical_id, role in data.get("Resources", {}).items():
            if role.get("Type") != "AWS::IAM::Role":
                continue
            role_name = role["Properties"].get("RoleName", "")
            reads = _allows(role, "s3:GetObject", lambda t: tooling in t or "*" == t) or any(
                role_name and role_name in r and f"::{account}:" in r for r in packaged_roles
            )
            if not reads:
                continue
            decrypts = _allows(role, "kms:Decrypt", lambda t: f":{tooling}:key/" in t or t == "*")
            if not decrypts:
                report(
                    name,
                    f"{name}: role {logical_id} ({role_name}) reads the pipeline's artifacts in account "
                    f"{tooling}, encrypted with its artifact key, but its policy grants no kms:Decrypt on "
                    f"{tooling}'s keys",
                    "a cross-account reader needs kms:Decrypt in its own policy and in the key policy",
                )
            if account not in key_accounts:
                report(
                    name,
                    f"{name}: role {logical_id} ({role_name}) reads the pipeline's artifacts, but the artifact key "
                    f"policy in pipeline.yaml does not let account {account} decrypt",
                    "the artifact key policy must name every target account",
                )
    return []
