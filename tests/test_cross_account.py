"""Cross-account, cross-region and partition behaviour of the emitted templates, and the silent
traps that used to compile: tags triggers, base_directory, image builds on other presets."""

from __future__ import annotations

import json

import yaml
from conftest import MINIMAL, with_changes
from manifestc.api import check_manifest, compile_manifest
from test_encryption import CROSS_ACCOUNT_LAMBDA


def _compile(write_manifest, text: str, lint: bool = False):
    result = compile_manifest(write_manifest(text), lint=lint)
    assert result.artifacts, [d.message for d in result.diagnostics]
    return result


def _pipeline(result) -> dict:
    return next(r for r in result.templates["pipeline.yaml"]["Resources"].values() if r["Type"].endswith("Pipeline"))


def _statements(template: dict, role: str) -> dict:
    props = template["Resources"][role]["Properties"]
    return {s.get("Sid"): s for p in props["Policies"] for s in p["PolicyDocument"]["Statement"]}


def test_no_literal_aws_partition_in_any_cross_account_template(write_manifest):
    result = _compile(write_manifest, CROSS_ACCOUNT_LAMBDA, lint=True)
    assert not [d for d in result.diagnostics if d.is_error]
    for name, template in result.templates.items():
        assert "arn:aws:" not in json.dumps(template), name


def test_lambda_template_is_packaged_into_each_regions_artifact_store(write_manifest):
    result = _compile(write_manifest, CROSS_ACCOUNT_LAMBDA)
    build = result.templates["pipeline.yaml"]["Resources"]["BuildProject"]["Properties"]
    spec = build["Source"]["BuildSpec"]
    spec = spec["Fn::Sub"] if isinstance(spec, dict) else spec
    commands = yaml.safe_load(spec)["phases"]["post_build"]["commands"]
    assert any(
        "--region us-east-1" in c and '"$ARTIFACT_BUCKET_US_EAST_1"' in c and "packaged-fn-us-east-1.yaml" in c
        for c in commands
    )
    variables = {v["Name"]: v["Value"] for v in build["Environment"]["EnvironmentVariables"]}
    assert variables["ARTIFACT_BUCKET_US_EAST_1"]["Fn::Sub"].endswith("-${AWS::AccountId}-us-east-1")
    paths = {
        a["Name"]: a["Configuration"].get("TemplatePath")
        for s in _pipeline(result)["Properties"]["Stages"]
        for a in s["Actions"]
    }
    assert paths["fn-eu-west-1-prepare"] == "BuildOutput::packaged-fn.yaml"
    assert paths["fn-us-east-1-prepare"] == "BuildOutput::packaged-fn-us-east-1.yaml"
    # the build role may write exactly there, and use that region's key only through S3
    statements = _statements(result.templates["pipeline.yaml"], "BuildRole")
    assert statements["PackageToRegionalStores"]["Resource"][0]["Fn::Sub"].endswith("-us-east-1/lambda/*")
    assert statements["PackageToRegionalStoresKeys"]["Condition"]["StringLike"]["kms:ViaService"] == [
        {"Fn::Sub": "s3.us-east-1.${AWS::URLSuffix}"}
    ]


def test_deploy_roles_may_replace_a_stack_stuck_in_rollback_complete(write_manifest):
    same = _compile(write_manifest, MINIMAL)
    statement = _statements(same.templates["pipeline.yaml"], "PipelineRole")["ReplaceFailedStacks"]
    assert statement["Action"] == ["cloudformation:DeleteStack", "cloudformation:DescribeStackEvents"]
    resources = [r["Fn::Sub"] for r in statement["Resource"]]
    assert resources == [
        "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/demo-service-staging/*"
    ]
    assert not any("${AWS::StackName}" in r for r in resources)  # never the pipeline's own stack
    cross = _compile(write_manifest, CROSS_ACCOUNT_LAMBDA)
    statement = _statements(cross.templates["bootstrap-111111111111.yaml"], "DeployRole")["ReplaceFailedStacks"]
    assert "cloudformation:DeleteStack" in statement["Action"]


def test_tags_trigger_fires_on_tag_pushes_only(write_manifest):
    source = {
        "provider": "codestar",
        "repository": "acme/app",
        "tags": ["v*"],
        "connection_arn": "arn:aws:codeconnections:eu-west-1:123456789012:connection/abc",
    }
    result = _compile(write_manifest, with_changes(source=source))
    (trigger,) = _pipeline(result)["Properties"]["Triggers"]
    assert trigger["GitConfiguration"]["Push"] == [{"Tags": {"Includes": ["v*"]}}]
    branch = _compile(write_manifest, with_changes(source={**source, "tags": []}))
    (trigger,) = _pipeline(branch)["Properties"]["Triggers"]
    assert trigger["GitConfiguration"]["Push"] == [{"Branches": {"Includes": ["main"]}}]


def test_tags_with_paths_is_a_located_error(write_manifest):
    text = with_changes(
        source={
            "provider": "codestar",
            "repository": "acme/app",
            "tags": ["v*"],
            "paths": ["src/**"],
            "connection_arn": "arn:aws:codeconnections:eu-west-1:123456789012:connection/abc",
        }
    )
    result = check_manifest(write_manifest(text))
    (error,) = [d for d in result.diagnostics if d.code == "MC292"]
    assert error.path == ("source", "paths") and error.line > 0


def test_base_directory_keeps_what_deploys_read_inside_the_artifact(write_manifest):
    text = with_changes(
        build={
            "artifacts": {"files": ["app.jar"], "base_directory": "dist"},
            "image_repository": "svc",
            "privileged": True,
            "commands": ['docker build -t "$IMAGE_URI:latest" .'],
        },
        targets=[
            {"name": "api", "type": "ecs", "cluster": "c", "service": "s", "container": "app"},
            {"name": "fn", "type": "lambda", "template": "template.yaml"},
        ],
        environments=[{"name": "staging"}],
    )
    result = _compile(write_manifest, text)
    spec = result.templates["pipeline.yaml"]["Resources"]["BuildProject"]["Properties"]["Source"]["BuildSpec"]
    spec = yaml.safe_load(spec["Fn::Sub"] if isinstance(spec, dict) else spec)
    commands = spec["phases"]["post_build"]["commands"]
    assert any(c.endswith("> dist/imagedefinitions-api.json") for c in commands)
    assert any(c.endswith("--output-template-file dist/packaged-fn.yaml") for c in commands)
    assert spec["artifacts"]["base-directory"] == "dist"
    assert set(spec["artifacts"]["files"]) == {"app.jar", "packaged-fn.yaml", "imagedefinitions-api.json"}


def test_image_target_on_another_preset_must_build_the_image(write_manifest):
    data = yaml.safe_load(MINIMAL)
    data["build"] = {"privileged": True}
    data["targets"] = [
        {"name": "api", "type": "ecs", "cluster": "c", "service": "s", "container": "app", "image_repository": "svc"}
    ]
    result = check_manifest(write_manifest(yaml.safe_dump(data)))
    (error,) = [d for d in result.diagnostics if d.code == "MC291"]
    assert "$IMAGE_URI:latest" in error.message and error.path == ("build",)
    data["build"]["commands"] = ['docker build -t "$IMAGE_URI:latest" .']
    assert not [d for d in check_manifest(write_manifest(yaml.safe_dump(data))).diagnostics if d.is_error]


DOCKER = """\
manifest: 1
name: catalog-api
team: storefront
language: docker
source:
  repository: catalog-api
tests:
  - name: container
targets:
  - name: api
    type: ecs
    cluster: shop
    service: api
    container: api
    image_repository: catalog-api
environments:
  - name: staging
"""


def _actions(result, stage: str) -> list[dict]:
    (found,) = [s for s in _pipeline(result)["Properties"]["Stages"] if s["Name"] == stage]
    return found["Actions"]


def test_images_are_pushed_as_candidates_and_promoted_after_the_tests(write_manifest):
    result = _compile(write_manifest, DOCKER)
    build = result.templates["pipeline.yaml"]["Resources"]["BuildProject"]["Properties"]["Source"]["BuildSpec"]
    text = build["Fn::Sub"] if isinstance(build, dict) else build
    pushes = [line for line in text.splitlines() if "docker push" in line]
    assert pushes and all("candidate-$IMAGE_TAG" in line for line in pushes)
    order = {a["Name"]: a["RunOrder"] for a in _actions(result, "Build")}
    assert order["Build"] < order["Test-container"] < order["PromoteImage"]
    promote = result.templates["pipeline.yaml"]["Resources"]["PromoteImageProject"]["Properties"]["Source"]["BuildSpec"]
    assert "put-image" in str(promote) and "candidate-$IMAGE_TAG" in str(promote)
    statement = _statements(result.templates["pipeline.yaml"], "PromoteImageRole")["PromoteImage"]
    assert statement["Action"] == ["ecr:BatchGetImage", "ecr:PutImage", "ecr:DescribeImages"]
    assert statement["Resource"][0]["Fn::Sub"].endswith(":repository/catalog-api")
    # with quality gates, the promotion waits for them too
    gated = _compile(write_manifest, DOCKER + "quality_gates: [lint]\n")
    assert "PromoteImage" not in {a["Name"] for a in _actions(gated, "Build")}
    order = {a["Name"]: a["RunOrder"] for a in _actions(gated, "Quality")}
    assert order["Gate-lint"] < order["PromoteImage"]
