"""Every example in manifests/ builds with zero errors, zero cfn-lint findings and zero failed
checkov checks (skips must carry a reason in the template Metadata)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from manifestc.api import build
from manifestc.factory import FactorySettings, write_factory

EXAMPLES = sorted((ROOT / "manifests").glob("*.yaml"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("examples-out")
    report = build([str(ROOT / "manifests")], out, lint=True)
    # the factory stack beside them, so the checkov and IAM tests below read it too; its deploy
    # role checked against every pipeline and network template of the examples (MC670)
    factory = write_factory(
        FactorySettings(repository_pattern="svc-*", notify_emails=("a@example.com", "b@example.com")),
        out,
        lint=True,
        against=out,
    )
    assert factory.diagnostics == [] and factory.written is not None
    return out, report


def test_there_are_examples():
    assert len(EXAMPLES) >= 1


def test_examples_build_clean_with_lint(built):
    out, report = built
    assert [d for d in report.all_diagnostics()] == []
    for result in report.results:
        assert result.written, result.file
        record = json.loads((out / result.name / "build.json").read_text())
        assert record["lint"] == {"enabled": True, "findings": 0}


def _checkov() -> list[str]:
    exe = shutil.which("checkov")
    return [exe] if exe else [sys.executable, "-m", "checkov.main"]


def test_examples_pass_checkov(built):
    out, _ = built
    templates = sorted(str(p) for p in out.rglob("*.yaml"))
    command = _checkov() + ["--framework", "cloudformation", "--skip-download", "--output", "json", "--quiet"]
    for template in templates:
        command += ["-f", template]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.stdout.strip(), proc.stderr[-2000:]
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        (c["check_id"], c["file_path"], c["resource"])
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert failed == []
    for r in reports:
        for skipped in r.get("results", {}).get("skipped_checks", []):
            assert skipped.get("check_result", {}).get("suppress_comment"), skipped["check_id"]


# Statements allowed to use "Resource": "*": each is an action AWS offers no resource-level scope
# for (the compiler comments each place).
UNSCOPED_SIDS = {
    "NoResourceLevelScope",
    "CreateTaggedKey",
    "TemplateValidation",
    "GlueMetrics",
    "EcrLogin",
    "CodeArtifactBearer",
    "EcsTaskDefinitions",
    "PassTaskRoles",
    "VpcNetworkInterfaces",
    "DescribeVpc",  # Glue connections: ec2:Describe* have no resource-level scope
    "ReadServiceCatalogCopies",
    "ValidateProductTemplates",  # cloudformation:ValidateTemplate (servicecatalog targets)
}
# Statements broad by design, each documented in the README with the AWS page that asks for it:
# the Elastic Beanstalk deploy action's role (README `elasticbeanstalk`: the service-wide grants the
# CodePipeline User Guide documents as that action's minimum, confined to a role only that action uses).
BROAD_BY_DESIGN = {("BeanstalkDeployRole", "ElasticBeanstalkDeploy")}


def _policy_documents(resource):
    props = resource.get("Properties", {})
    for policy in props.get("Policies", []):
        yield policy["PolicyDocument"]
    # the permissions boundary caps roles (its `Allow *` grants nothing by itself); tests/test_iam.py
    # checks what it denies
    name = props.get("ManagedPolicyName", "")
    name = name.get("Fn::Sub", "") if isinstance(name, dict) else name  # a product: ${PipelineName}-boundary
    if resource["Type"] == "AWS::IAM::ManagedPolicy" and name.endswith("-boundary"):
        return
    if resource["Type"] == "AWS::IAM::ManagedPolicy":
        yield props["PolicyDocument"]


def _statements(document: dict):
    """The statements of a policy document; a per-environment statement (`Fn::If`) is both branches."""
    for statement in document["Statement"]:
        if "Fn::If" in statement:
            yield from (b for b in statement["Fn::If"][1:] if isinstance(b, dict) and "Ref" not in b)
        else:
            yield statement


def test_iam_is_least_privilege_in_every_example(built):
    import yaml

    out, _ = built
    for path in sorted(out.rglob("*.yaml")):
        template = yaml.safe_load(path.read_text())
        for logical_id, resource in template["Resources"].items():
            for document in _policy_documents(resource):
                for statement in _statements(document):
                    where = f"{path.name}:{logical_id}:{statement.get('Sid')}"
                    if statement["Effect"] == "Deny":
                        continue  # a deny grants nothing: `s3:*` on the artifact bucket only narrows a role
                    if (logical_id, statement.get("Sid")) in BROAD_BY_DESIGN:
                        continue
                    assert all(a != "*" and not a.endswith(":*") for a in statement["Action"]), where
                    if "*" in statement["Resource"]:
                        assert statement.get("Sid") in UNSCOPED_SIDS, where
