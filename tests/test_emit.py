"""Emit phase: the pipeline stack has the structure and the security posture SPEC §5 requires."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import ROOT, with_changes
from manifestc import aws
from manifestc.api import compile_manifest

EXAMPLE = ROOT / "manifests" / "python-service.yaml"


def compiled(path) -> dict:
    result = compile_manifest(path, lint=False)
    assert not result.diagnostics, result.diagnostics
    [artifact] = [a for a in result.artifacts if a.name == "pipeline.yaml"]
    return yaml.safe_load(artifact.content)


@pytest.fixture(scope="module")
def template() -> dict:
    return compiled(EXAMPLE)


def resources_of(template, kind):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def stages(template):
    [pipeline] = resources_of(template, "AWS::CodePipeline::Pipeline").values()
    return pipeline["Properties"]["Stages"]


def test_stage_order(template):
    assert [s["Name"] for s in stages(template)] == ["Source", "UpdatePipeline", "Build", "staging", "prod"]
    [pipeline] = resources_of(template, "AWS::CodePipeline::Pipeline").values()
    assert pipeline["Properties"]["PipelineType"] == "V2"
    assert pipeline["Properties"]["RestartExecutionOnUpdate"] is True


def test_actions_match_the_documented_action_structure(template):
    by_type = {(a.category, a.owner, a.provider, a.version): a for a in aws.ACTION_TYPES.values()}
    for stage in stages(template):
        for action in stage["Actions"]:
            t = action["ActionTypeId"]
            spec = by_type[(t["Category"], t["Owner"], t["Provider"], t["Version"])]
            keys = set(action["Configuration"])
            assert spec.required <= keys, action["Name"]
            assert keys <= spec.required | spec.optional, action["Name"]
            if action["Configuration"].get("ActionMode") in aws.CFN_MODES_NEEDING_ROLE:
                assert "RoleArn" in action["Configuration"]


def test_artifacts_are_produced_before_they_are_consumed(template):
    produced: set[str] = set()
    for stage in stages(template):
        outputs_this_stage = []
        for action in sorted(stage["Actions"], key=lambda a: a["RunOrder"]):
            for artifact in action.get("InputArtifacts", []):
                assert artifact["Name"] in produced | set(outputs_this_stage), (stage["Name"], action["Name"])
            outputs_this_stage.extend(o["Name"] for o in action.get("OutputArtifacts", []))
        assert not produced & set(outputs_this_stage), "artifact names must be unique"
        produced |= set(outputs_this_stage)


def test_self_update_stage_rebuilds_and_updates_its_own_stack(template):
    update = stages(template)[1]
    recompile, deploy = sorted(update["Actions"], key=lambda a: a["RunOrder"])
    assert recompile["ActionTypeId"]["Provider"] == "CodeBuild"
    assert deploy["Configuration"]["ActionMode"] == "CREATE_UPDATE"
    assert deploy["Configuration"]["StackName"] == {"Ref": "AWS::StackName"}
    assert deploy["Configuration"]["TemplatePath"] == "SelfUpdate::pipeline.yaml"
    spec = template["Resources"]["UpdateProject"]["Properties"]["Source"]["BuildSpec"]
    env = {
        v["Name"]: v["Value"]
        for v in template["Resources"]["UpdateProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    }
    assert env["MANIFESTC_TOOLCHAIN"] == "manifestc==0.1.0"
    assert 'manifestc recompile "$CODEBUILD_SRC_DIR"/' in spec and "python-service.yaml --repo-root" in spec


def test_no_wildcard_actions_and_resources_only_where_unscoped(template):
    for logical_id, role in resources_of(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert all(a != "*" and not a.endswith(":*") for a in statement["Action"]), logical_id
                if "*" in statement["Resource"] and statement["Effect"] == "Allow":  # Deny on "*" only narrows
                    assert logical_id == "SelfUpdateRole"
                    assert statement["Sid"] in ("NoResourceLevelScope", "CreateTaggedKey")


def test_one_role_per_codebuild_project(template):
    projects = resources_of(template, "AWS::CodeBuild::Project")
    roles = [p["Properties"]["ServiceRole"]["Fn::GetAtt"][0] for p in projects.values()]
    assert len(set(roles)) == len(projects) == 4


def test_report_groups_are_wired_into_buildspec_and_role(template):
    spec = template["Resources"]["TestUnitProject"]["Properties"]["Source"]["BuildSpec"]["Fn::Sub"]
    body = yaml.safe_load(spec)
    assert body["reports"]["${TestUnitReports.Arn}"]["file-format"] == "JUNITXML"
    assert body["reports"]["${TestUnitCoverage.Arn}"]["file-format"] == "COBERTURAXML"
    assert template["Resources"]["TestUnitCoverage"]["Properties"]["Type"] == "CODE_COVERAGE"
    statements = template["Resources"]["TestUnitRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [reports] = [s for s in statements if s["Sid"] == "TestReports"]
    assert {r["Fn::GetAtt"][0] for r in reports["Resource"]} == {"TestUnitReports", "TestUnitCoverage"}


def test_secrets_are_references_and_scoped(template):
    env = template["Resources"]["BuildProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    by_name = {v["Name"]: v for v in env}
    assert by_name["DB_PASSWORD"] == {"Name": "DB_PASSWORD", "Type": "SECRETS_MANAGER", "Value": "orders/db:password"}
    assert by_name["API_KEY"]["Type"] == "PARAMETER_STORE"
    statements = template["Resources"]["BuildRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    sids = {s["Sid"]: s for s in statements}
    assert sids["ReadSecrets"]["Resource"][0]["Fn::Sub"].endswith(":secret:orders/db-??????")
    assert sids["ReadParameters"]["Resource"][0]["Fn::Sub"].endswith(":parameter/orders/api-key")


def test_approval_sits_between_change_set_and_execute(template):
    prod = stages(template)[4]
    order = [(a["RunOrder"], a["Name"]) for a in prod["Actions"]]
    assert order == [(1, "app-prepare"), (2, "approve"), (3, "app-deploy")]
    staging = stages(template)[3]
    assert [(a["RunOrder"], a["Name"]) for a in staging["Actions"]] == [
        (1, "app-prepare"),
        (2, "app-deploy"),
        (3, "Test-smoke"),
    ]


def test_deploy_parameters_and_stack_names_have_placeholders_filled(template):
    prepare = stages(template)[3]["Actions"][0]["Configuration"]
    assert prepare["StackName"] == "orders-staging"
    assert json.loads(prepare["ParameterOverrides"]) == {"Stage": "staging"}
    assert prepare["TemplatePath"] == "BuildOutput::deploy/app.yaml"


def test_artifact_bucket_and_key_posture(template):
    key = template["Resources"]["ArtifactKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    bucket = template["Resources"]["ArtifactBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert rule["SSEAlgorithm"] == "aws:kms"
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] > 0
    policy = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Effect"] == "Deny" and policy["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for project in resources_of(template, "AWS::CodeBuild::Project").values():
        assert project["Properties"]["EncryptionKey"] == {"Fn::GetAtt": ["ArtifactKey", "Arn"]}
    for group in resources_of(template, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == aws.LOG_RETENTION_DAYS


def test_every_taggable_resource_is_tagged(template):
    untaggable = {
        "AWS::KMS::Alias",
        "AWS::S3::BucketPolicy",
        "AWS::IAM::ManagedPolicy",
        "AWS::SNS::Subscription",
    }  # no Tags in CloudFormation
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in untaggable:
            continue
        tags = {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}
        assert tags["team"] == "payments" and tags["pipeline"] == "orders-service", logical_id
        assert tags["managed-by"] == "manifestc" and tags["cost-center"] == "1234", logical_id


def test_codecommit_source_starts_through_an_event_rule(template):
    source = stages(template)[0]["Actions"][0]
    assert source["Configuration"]["PollForSourceChanges"] == "false"
    [rule] = resources_of(template, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail"]["referenceName"] == ["main"]
    assert rule["Properties"]["Targets"][0]["RoleArn"] == {"Fn::GetAtt": ["SourceRuleRole", "Arn"]}


def test_without_regenerate_there_is_no_update_stage(write_manifest):
    template = compiled(write_manifest(with_changes(regenerate=False)))
    assert "UpdatePipeline" not in [s["Name"] for s in stages(template)]
    assert "SelfUpdateRole" not in template["Resources"]


def test_user_text_is_literal_inside_fn_sub(write_manifest):
    text = with_changes(
        build={"commands": ["echo ${HOME} $CODEBUILD_RESOLVED_SOURCE_VERSION"]},
        tests=[{"name": "unit", "reports": ["out/r.trx"], "commands": ["echo ${HOME}"]}],
    )
    template = compiled(write_manifest(text))
    spec = template["Resources"]["TestUnitProject"]["Properties"]["Source"]["BuildSpec"]["Fn::Sub"]
    assert "VISUALSTUDIOTRX" in spec and "${TestUnitReports.Arn}" in spec
    assert "echo ${!HOME}" in spec  # escaped inside Fn::Sub
    build_spec = template["Resources"]["BuildProject"]["Properties"]["Source"]["BuildSpec"]
    assert isinstance(build_spec, str) and "echo ${HOME}" in build_spec  # no Fn::Sub needed at all
