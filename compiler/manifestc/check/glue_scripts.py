"""Readiness check 1, for Glue jobs: every job role can read and decrypt its script and the
dependencies shipped with it (`jobs[].dependencies`, under the same prefix).

A Glue job reads its script (`Command.ScriptLocation`) with its own role at every run. Objects in
an SSE-KMS bucket need `kms:Decrypt` on the bucket's key as well as `s3:GetObject` (S3 User Guide,
"Using server-side encryption with AWS KMS keys": a reader needs kms:Decrypt; a same-account key
whose policy delegates to IAM is granted by the role's policy). This check follows each glue
deploy action of the pipeline: the bucket it names for the scripts, that bucket's default
encryption key in the rendered pipeline, and the job role in glue.yaml (MC643).

A glue stack deployed to another account (the action runs as that account's deploy role) reads
the scripts across accounts, which needs both halves of each grant: the job role's own policy
(above) and, in the tooling account, the artifact bucket policy and the artifact key policy naming
that account (S3 User Guide, "Bucket owner granting cross-account bucket permissions"; KMS
Developer Guide, "Allowing users in other accounts to use a KMS key").
"""

from __future__ import annotations

import re

from ..diagnostics import Diagnostic, Severity
from ..model import Manifest
from .deployments import Templates, _account_of_role, overrides, pipeline_actions, text


def _statements(role: dict) -> list[dict]:
    out = []
    for policy in role.get("Properties", {}).get("Policies", []):
        statements = policy.get("PolicyDocument", {}).get("Statement", [])
        out += statements if isinstance(statements, list) else [statements]
    return out


def _allows(statements: list[dict], action: str, resource_ok) -> bool:
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        service = action.split(":")[0]
        if not any(a in (action, f"{service}:*", "*") for a in actions):
            continue
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        if any(resource_ok(r) for r in resources):
            return True
    return False


def _bucket_key(templates: Templates, bucket_ref: str) -> str | None:
    """`${Key.Arn}`-style reference of the default SSE-KMS key of a bucket in pipeline.yaml."""
    match = re.fullmatch(r"\$\{(\w+)\}", bucket_ref)
    bucket = templates.get("pipeline.yaml", {}).get("Resources", {}).get(match.group(1) if match else "", {})
    rules = bucket.get("Properties", {}).get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    for rule in rules:
        default = rule.get("ServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") == "aws:kms":
            return text(default.get("KMSMasterKeyID"))
    return None


def _grants_account(statements: list[dict], account: str, action: str, resource_ok) -> bool:
    """An Allow statement of a resource policy for `account` (its root, a PrincipalArn-conditioned
    principal, as storage.py writes them) with `action` on a matching resource."""
    for statement in statements:
        principal = text(
            (statement.get("Principal") or {}).get("AWS") if isinstance(statement.get("Principal"), dict) else None
        )
        if statement.get("Effect") != "Allow" or not principal or f":iam::{account}:root" not in principal:
            continue
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        if action not in actions:
            continue
        resources = statement.get("Resource", [])
        if any(resource_ok(text(r) or "") for r in (resources if isinstance(resources, list) else [resources])):
            return True
    return False


def _cross_account_problems(manifest: Manifest, templates: Templates, action: dict, bucket_ref: str) -> list[str]:
    account = _account_of_role(action.get("RoleArn"), manifest.account or "")
    if not account or account == manifest.account or bucket_ref != "${ArtifactBucket}":
        return []
    resources = templates.get("pipeline.yaml", {}).get("Resources", {})
    bucket = resources.get("ArtifactBucketPolicy", {}).get("Properties", {}).get("PolicyDocument", {})
    key = resources.get("ArtifactKey", {}).get("Properties", {}).get("KeyPolicy", {})
    problems = []
    if not _grants_account(
        bucket.get("Statement", []), account, "s3:GetObject", lambda r: r.startswith("${ArtifactBucket.Arn}/glue/")
    ):
        problems.append(f"the artifact bucket policy does not let account {account} read the scripts")
    if not _grants_account(key.get("Statement", []), account, "kms:Decrypt", lambda r: r == "*"):
        problems.append(f"the artifact key policy does not let account {account} decrypt the scripts")
    return problems


# Glue's parameters naming files a job loads at start (AWS Glue Developer Guide, "Using job
# parameters in AWS Glue jobs"); emit/glue_extras.py passes a job's `dependencies` in them.
_DEPENDENCY_PARAMETERS = ("--extra-py-files", "--additional-python-modules", "--extra-jars", "--extra-files")


def dependencies(job: dict) -> list[str]:
    """The files of the scripts prefix a job loads with its dependency parameters."""
    arguments = job.get("Properties", {}).get("DefaultArguments", {})
    found = []
    for name in _DEPENDENCY_PARAMETERS:
        value = text(arguments.get(name)) or ""
        found += [part for part in value.split(",") if "${ScriptsBucket}/${ScriptsPrefix}/" in part]
    return found


def check_glue_scripts(manifest: Manifest, templates: Templates) -> list[Diagnostic]:
    glue = templates.get("glue.yaml")
    if not glue:
        return []
    resources = glue.get("Resources", {})
    found = []
    for stage, action in pipeline_actions(templates):
        parameters = overrides(action.get("Configuration", {}))
        if "ScriptsBucket" not in parameters:
            continue
        key = _bucket_key(templates, parameters["ScriptsBucket"]) or parameters.get("ScriptsKeyArn")
        for logical_id, job in resources.items():
            if job.get("Type") != "AWS::Glue::Job":
                continue
            role_ref = job.get("Properties", {}).get("Role", {})
            role_id = role_ref.get("Fn::GetAtt", [None])[0] if isinstance(role_ref, dict) else None
            statements = _statements(resources.get(role_id or "", {}))
            location = text(job.get("Properties", {}).get("Command", {}).get("ScriptLocation")) or ""
            # the job's dependencies shipped with the scripts are read the same way, at every run
            shipped = [location] + dependencies(job)
            problems = []
            if not _allows(
                statements,
                "s3:GetObject",
                lambda r: (text(r) or "").endswith("${ScriptsBucket}/${ScriptsPrefix}/*"),
            ) and any("${ScriptsBucket}/${ScriptsPrefix}/" in f for f in shipped):
                problems.append("s3:GetObject on the scripts prefix")

            passed = parameters.get("ScriptsKeyArn")

            def decrypts(resource, key=key, passed=passed) -> bool:
                value = text(resource) or ""
                if value == "*":
                    return True
                if value == "${ScriptsKeyArn}":
                    return passed == key
                return value == key

            if key and not _allows(statements, "kms:Decrypt", decrypts):
                problems.append(f"kms:Decrypt on {key}, the key of the scripts bucket")
            problems = [f"role {role_id} lacks {p}" for p in problems]
            problems += _cross_account_problems(manifest, templates, action, parameters["ScriptsBucket"])
            for problem in problems:
                found.append(
                    Diagnostic(
                        "MC643",
                        Severity.ERROR,
                        f"Glue job {logical_id} ({stage}: {action.get('Name')}) cannot read its script "
                        f"{' or dependencies '.join(f for f in (location, ', '.join(shipped[1:])) if f)}: {problem}",
                        f"out/{manifest.name}/glue.yaml",
                        hint="grant the job role read on the scripts and decrypt on their key (across "
                        "accounts: in its own policy and in the bucket and key policies)",
                    )
                )
    return found
