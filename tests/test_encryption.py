"""Readiness check 1: every principal that reads an encrypted object has decrypt on its key."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from conftest import MINIMAL, with_changes
from manifestc.api import compile_manifest
from manifestc.check.encryption import check_decrypt

ROOT = Path(__file__).resolve().parent.parent

CROSS_ACCOUNT_LAMBDA = """\
manifest: 1
name: fn-service
team: platform
language: python
account: "123456789012"
region: eu-west-1
source:
  repository: fn-service
targets:
  - name: fn
    type: lambda
    template: template.yaml
environments:
  - name: prod
    account: "111111111111"
    regions: [eu-west-1, us-east-1]
"""


def _compile(write_manifest, text: str):
    return compile_manifest(write_manifest(text), lint=False)


def _without_decrypt(template: dict, role: str) -> dict:
    template = copy.deepcopy(template)
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a != "kms:Decrypt"]
    return template


def test_every_example_passes():
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        result = compile_manifest(path, lint=False)
        assert not [d for d in result.diagnostics if d.code == "MC650"], path
        assert result.artifacts, path


def test_a_build_role_without_decrypt_on_the_artifact_key_is_refused(write_manifest):
    result = _compile(write_manifest, MINIMAL)
    broken = _without_decrypt(result.templates["pipeline.yaml"], "BuildRole")
    (finding,) = check_decrypt(result.manifest, {"pipeline.yaml": broken})
    assert finding.code == "MC650" and finding.file == "out/demo-service/pipeline.yaml"
    assert "BuildRole reads objects of ArtifactBucket" in finding.message


def test_an_approval_topic_publisher_needs_the_key(write_manifest):
    text = with_changes(environments=[{"name": "prod", "approval": True}])
    result = _compile(write_manifest, text)
    assert not check_decrypt(result.manifest, result.templates)
    broken = copy.deepcopy(result.templates["pipeline.yaml"])
    for policy in broken["Resources"]["PipelineRole"]["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if not a.startswith("kms:")]
    messages = [d.message for d in check_decrypt(result.manifest, {"pipeline.yaml": broken})]
    assert any("publishes to ApprovalProdTopic" in m and "kms:GenerateDataKey" in m for m in messages)


def test_cross_account_readers_need_their_policy_and_the_key_policy(write_manifest):
    result = _compile(write_manifest, CROSS_ACCOUNT_LAMBDA)
    assert result.artifacts and not check_decrypt(result.manifest, result.templates)
    templates = dict(result.templates)
    # the deploy role's own policy
    templates["bootstrap-111111111111.yaml"] = _without_decrypt(templates["bootstrap-111111111111.yaml"], "DeployRole")
    messages = [d.message for d in check_decrypt(result.manifest, templates)]
    assert any("DeployRole" in m and "grants no kms:Decrypt" in m for m in messages)
    # the key policy in the tooling account
    templates = dict(result.templates)
    pipeline = copy.deepcopy(templates["pipeline.yaml"])
    key_policy = pipeline["Resources"]["ArtifactKey"]["Properties"]["KeyPolicy"]
    key_policy["Statement"] = [s for s in key_policy["Statement"] if "111111111111" not in str(s.get("Principal"))]
    templates["pipeline.yaml"] = pipeline
    messages = [d.message for d in check_decrypt(result.manifest, templates)]
    assert any("does not let account 111111111111 decrypt" in m for m in messages)


def test_execution_role_of_a_packaged_lambda_reads_the_code(write_manifest):
    """Lambda fetches packaged code with the CloudFormation execution role's permissions."""
    result = _compile(write_manifest, CROSS_ACCOUNT_LAMBDA)
    role = result.templates["bootstrap-111111111111.yaml"]["Resources"]["CloudFormationExecutionRole"]
    statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert any("kms:Decrypt" in s["Action"] for s in statements)
    broken = dict(result.templates)
    broken["bootstrap-111111111111.yaml"] = _without_decrypt(
        result.templates["bootstrap-111111111111.yaml"], "CloudFormationExecutionRole"
    )
    messages = [d.message for d in check_decrypt(result.manifest, broken)]
    assert any("CloudFormationExecutionRole" in m for m in messages)


def test_cross_account_decrypt_uses_documented_conditions_not_aliases(write_manifest):
    result = _compile(write_manifest, CROSS_ACCOUNT_LAMBDA)
    text = yaml.safe_dump(result.templates["bootstrap-111111111111.yaml"])
    assert "kms:ResourceAliases" not in text
    role = result.templates["bootstrap-111111111111.yaml"]["Resources"]["DeployRole"]
    (decrypt,) = [
        s
        for p in role["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Sid") == "DecryptArtifacts"
    ]
    assert decrypt["Condition"]["StringLike"]["kms:ViaService"] == [
        {"Fn::Sub": "s3.eu-west-1.${AWS::URLSuffix}"},
        {"Fn::Sub": "s3.us-east-1.${AWS::URLSuffix}"},
    ]
    assert [r["Fn::Sub"] for r in decrypt["Resource"]] == [
        "arn:${AWS::Partition}:kms:eu-west-1:123456789012:key/*",
        "arn:${AWS::Partition}:kms:us-east-1:123456789012:key/*",
    ]
