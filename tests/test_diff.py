"""`manifestc diff`: files and resources added, removed and changed against out/, and which
changes replace a resource (createOnlyProperties of the registry schema, or a changed type)."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import MINIMAL
from manifestc.cli import cli
from manifestc.diff import create_only_properties, diff_templates


def test_create_only_properties_come_from_the_registry_schema():
    assert "BucketName" in create_only_properties("AWS::S3::Bucket")
    assert "LogGroupName" in create_only_properties("AWS::Logs::LogGroup")
    assert "Tags" not in create_only_properties("AWS::S3::Bucket")


def test_diff_templates_classifies_changes():
    old = {
        "Resources": {
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "a", "RetentionInDays": 7}},
            "Gone": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Same": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}},
            "Tagged": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "a", "Value": "1"}]}},
        }
    }
    new = {
        "Resources": {
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "b", "RetentionInDays": 7}},
            "New": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Same": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}},
            "Tagged": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "a", "Value": "2"}]}},
        }
    }
    changes = {c.logical_id: c for c in diff_templates(old, new)}
    assert set(changes) == {"Logs", "Gone", "New", "Tagged"}
    assert (changes["Logs"].kind, changes["Logs"].properties, changes["Logs"].replacement) == (
        "changed",
        ("LogGroupName",),
        True,
    )
    assert changes["Tagged"].replacement is False and changes["Tagged"].properties == ("Tags",)
    assert changes["Gone"].kind == "removed" and changes["New"].kind == "added"


def test_cli_diff_against_out(write_manifest, tmp_path):
    path = write_manifest()
    out = tmp_path / "out"
    run = CliRunner().invoke
    first = run(cli, ["diff", "--out", str(out), str(path)])
    assert first.exit_code == 0 and f"+ {out}/demo-service/pipeline.yaml" in first.output
    assert run(cli, ["build", "--no-lint", "--out", str(out), str(path)]).exit_code == 0
    same = run(cli, ["diff", "--exit-code", "--out", str(out), str(path)])
    assert same.exit_code == 0 and "no changes" in same.output
    path.write_text(MINIMAL.replace("  - name: staging\n", "  - name: staging\n  - name: prod\n"))
    changed = run(cli, ["diff", "--exit-code", "--out", str(out), str(path)])
    assert changed.exit_code == 1
    assert f"~ {out}/demo-service/pipeline.yaml" in changed.output
    assert "    + DeployProdAppRole (AWS::IAM::Role)" in changed.output
    assert "~ Pipeline (AWS::CodePipeline::Pipeline): Stages" in changed.output


def test_cli_diff_against_a_deployed_stack_on_a_local_endpoint(write_manifest, monkeypatch):
    import json
    import socket

    import pytest

    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deployed = {
            "Resources": {
                "BuildLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/old/name"}},
                "Legacy": {"Type": "AWS::SNS::Topic", "Properties": {}},
            }
        }
        cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
        cloudformation.create_stack(StackName="demo-pipeline", TemplateBody=json.dumps(deployed))
        path = write_manifest()
        args = ["diff", str(path), "--stack", "demo-pipeline", "--region", "us-east-1", "--endpoint-url", endpoint]
        result = CliRunner().invoke(cli, [*args, "--exit-code"])
    finally:
        server.stop()
    assert result.exit_code == 1, result.output
    assert "demo-service/pipeline.yaml -> stack demo-pipeline" in result.output
    assert "    - Legacy (AWS::SNS::Topic)" in result.output
    assert "    + Pipeline (AWS::CodePipeline::Pipeline)" in result.output
    (line,) = [line for line in result.output.splitlines() if "BuildLogGroup" in line]
    assert line.startswith("    ~ BuildLogGroup (AWS::Logs::LogGroup): ") and line.endswith("[replacement]")
    assert "LogGroupName" in line and "DeletionPolicy" in line
