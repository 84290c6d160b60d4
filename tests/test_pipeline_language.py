"""The full pipeline language (issue 3): languages, sources, build options, environments, targets,
notifications. Each test compiles a small manifest and checks the structure SPEC §5 requires."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import MINIMAL, with_changes
from manifestc.api import check_manifest, compile_manifest
from manifestc.emit.feature import glob_to_regex

CONNECTION = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/abc-123"


def templates(write_manifest, text: str) -> dict[str, dict]:
    result = compile_manifest(write_manifest(text), lint=False)
    assert not result.diagnostics, result.diagnostics
    return {a.name: yaml.safe_load(a.content) for a in result.artifacts}


def pipeline(write_manifest, text: str) -> dict:
    return templates(write_manifest, text)["pipeline.yaml"]


def stages(template: dict) -> dict[str, list[dict]]:
    return {s["Name"]: s["Actions"] for s in template["Resources"]["Pipeline"]["Properties"]["Stages"]}


def statements(template: dict, role: str) -> dict[str, dict]:
    doc = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
    return {s["Sid"]: s for s in doc["Statement"]}


def spec_text(template: dict, project: str) -> str:
    spec = template["Resources"][project]["Properties"]["Source"]["BuildSpec"]
    return spec["Fn::Sub"] if isinstance(spec, dict) else spec


def errors(write_manifest, text: str) -> list[tuple[str, str]]:
    return sorted((d.code, d.dotted_path()) for d in check_manifest(write_manifest(text)).diagnostics if d.is_error)


# --- languages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "language, runtime_key, runtime, report_format",
    [
        ("python", "python", "3.12", "JUNITXML"),
        ("node", "nodejs", "20", "JUNITXML"),
        ("java", "java", "corretto21", "JUNITXML"),
        ("go", "golang", "1.22", "JUNITXML"),
        ("dotnet", "dotnet", "8.0", "VISUALSTUDIOTRX"),
    ],
)
def test_language_presets(write_manifest, language, runtime_key, runtime, report_format):
    t = pipeline(write_manifest, with_changes(language=language, tests=[{"name": "unit"}]))
    spec = yaml.safe_load(spec_text(t, "TestUnitProject"))
    assert spec["phases"]["install"]["runtime-versions"] == {runtime_key: runtime}
    [group] = spec["reports"].values()
    assert group["file-format"] == report_format
    env = t["Resources"]["BuildProject"]["Properties"]["Environment"]
    assert env["Image"] == "aws/codebuild/amazonlinux-x86_64-standard:5.0"


def test_arm64_node(write_manifest):
    t = pipeline(write_manifest, with_changes(language="node", build={"arch": "arm64"}))
    env = t["Resources"]["BuildProject"]["Properties"]["Environment"]
    assert (env["Type"], env["Image"]) == ("ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0")


@pytest.mark.parametrize(
    "tool, build_cmd, report",
    [
        ("maven", "mvn -B package", "target/surefire-reports/*.xml"),
        ("gradle", "gradlew build", "build/test-results/test/*.xml"),
        (None, "if [ -f pom.xml ]", "**/{target/surefire-reports,build/test-results/test}/*.xml"),
    ],
)
def test_java_build_tools(write_manifest, tool, build_cmd, report):
    build = {"tool": tool} if tool else {}
    t = pipeline(write_manifest, with_changes(language="java", build=build, tests=[{"name": "unit"}]))
    assert build_cmd in spec_text(t, "BuildProject")
    [group] = yaml.safe_load(spec_text(t, "TestUnitProject"))["reports"].values()
    assert group["files"] == [report]


def test_build_tool_errors(write_manifest):
    assert errors(write_manifest, with_changes(language="java", build={"tool": "ant"})) == [("MC104", "build.tool")]
    assert errors(write_manifest, with_changes(build={"tool": "maven"})) == [("MC211", "build.tool")]


@pytest.mark.parametrize("language, runtime", [("node", "12"), ("go", "1.9"), ("dotnet", "3.1"), ("java", "corretto7")])
def test_unsupported_runtime_versions(write_manifest, language, runtime):
    [diag] = check_manifest(write_manifest(with_changes(language=language, runtime=runtime))).diagnostics
    assert diag.code == "MC205" and "available:" in diag.message


def test_docker_preset_logs_in_tags_pushes_privileged(write_manifest):
    text = with_changes(
        language="docker",
        targets=[
            {
                "name": "api",
                "type": "ecs",
                "cluster": "c",
                "service": "s",
                "container": "web",
                "image_repository": "shop/api",
            }
        ],
    )
    t = pipeline(write_manifest, text)
    project = t["Resources"]["BuildProject"]["Properties"]
    assert project["Environment"]["PrivilegedMode"] is True
    spec = spec_text(t, "BuildProject")
    assert "aws ecr get-login-password" in spec
    assert "CODEBUILD_RESOLVED_SOURCE_VERSION:0:7" in spec
    assert 'docker push "$IMAGE_URI:candidate-$IMAGE_TAG"' in spec  # promoted only after the tests
    assert 'docker push "$IMAGE_URI:$IMAGE_TAG"' not in spec
    assert "imagedefinitions-api.json" in spec and '"name":"web"' in spec
    env = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert env["IMAGE_URI"]["Fn::Sub"].endswith("/shop/api")
    push = statements(t, "BuildRole")["EcrPush"]
    assert push["Resource"][0]["Fn::Sub"].endswith(":repository/shop/api")
    [deploy] = stages(t)["staging"]
    assert deploy["ActionTypeId"]["Provider"] == "ECS"
    assert deploy["Configuration"] == {"ClusterName": "c", "ServiceName": "s", "FileName": "imagedefinitions-api.json"}


def test_docker_needs_a_repository(write_manifest):
    assert ("MC211", "language") in errors(write_manifest, with_changes(language="docker"))


# --- sources ---------------------------------------------------------------------------------


def test_codestar_source_uses_v2_triggers(write_manifest):
    source = {
        "provider": "codestar",
        "repository": "acme/demo",
        "connection_arn": CONNECTION,
        "paths": ["src/**", "manifest.yaml"],  # the manifest too, or self-update warns (MC686)
    }
    t = pipeline(write_manifest, with_changes(source=source))
    [action] = stages(t)["Source"]
    assert action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert action["Configuration"]["FullRepositoryId"] == "acme/demo"
    [trigger] = t["Resources"]["Pipeline"]["Properties"]["Triggers"]
    push = trigger["GitConfiguration"]["Push"]
    assert push == [{"Branches": {"Includes": ["main"]}, "FilePaths": {"Includes": ["src/**", "manifest.yaml"]}}]
    # with tags: tag pushes only (tests/test_cross_account.py: tags and paths together are MC292)
    tagged = pipeline(write_manifest, with_changes(source={**source, "paths": [], "tags": ["v*"]}))
    [trigger] = tagged["Resources"]["Pipeline"]["Properties"]["Triggers"]
    assert trigger["GitConfiguration"]["Push"] == [{"Tags": {"Includes": ["v*"]}}]
    assert "SourceRule" not in t["Resources"]
    # both IAM prefixes on both spellings of the one connection (README: Service Catalog)
    source = statements(t, "PipelineRole")["SourceConnection"]
    assert source["Action"] == ["codeconnections:UseConnection", "codestar-connections:UseConnection"]
    assert source["Resource"] == [CONNECTION.replace("codestar-connections", "codeconnections"), CONNECTION]


def test_codestar_errors(write_manifest):
    assert errors(write_manifest, with_changes(source={"provider": "codestar", "repository": "acme/demo"})) == [
        ("MC207", "source")
    ]
    bad_repo = {"provider": "codestar", "repository": "demo", "connection_arn": CONNECTION}
    assert errors(write_manifest, with_changes(source=bad_repo)) == [("MC105", "source.repository")]
    paths_on_codecommit = {"repository": "demo", "paths": ["src/**"]}
    assert errors(write_manifest, with_changes(source=paths_on_codecommit)) == [("MC214", "source.paths")]


def test_s3_source_starts_on_object_created(write_manifest):
    s3 = {"provider": "s3", "repository": "my-sources/app/source.zip"}
    t = pipeline(write_manifest, with_changes(source=s3, regenerate={"path": "manifest.yaml"}))
    [action] = stages(t)["Source"]
    assert action["Configuration"] == {
        "S3Bucket": "my-sources",
        "S3ObjectKey": "app/source.zip",
        "PollForSourceChanges": "false",
    }
    pattern = t["Resources"]["SourceRule"]["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"] == {"bucket": {"name": ["my-sources"]}, "object": {"key": ["app/source.zip"]}}


def test_feature_branches_codecommit_rule(write_manifest):
    source = {"repository": "demo-service", "feature_branches": {"patterns": ["feature/*"]}}
    t = pipeline(
        write_manifest, with_changes(source=source, tests=[{"name": "unit"}, {"name": "e2e", "after": "staging"}])
    )
    rule = t["Resources"]["FeatureRule"]["Properties"]
    assert rule["EventPattern"]["detail"]["referenceName"] == [{"wildcard": "feature/*"}]
    assert rule["Targets"][0]["Arn"]["Fn::Sub"].endswith(":project/demo-service-feature")
    project = t["Resources"]["FeatureProject"]["Properties"]
    assert project["Source"]["Type"] == "CODECOMMIT"
    spec = spec_text(t, "FeatureProject")
    assert "--junitxml=reports/unit.xml" in spec and "reports/e2e.xml" not in spec  # only after-build suites
    assert "feature" not in [s for s in stages(t)]  # outside the main pipeline
    assert statements(t, "FeatureRole")["CloneRepository"]["Action"] == ["codecommit:GitPull"]


def test_feature_branches_codestar_webhook(write_manifest):
    source = {
        "provider": "codestar",
        "repository": "acme/demo",
        "connection_arn": CONNECTION,
        "feature_branches": {"patterns": ["feature/*", "fix/**"], "tests": ["unit"]},
    }
    t = pipeline(write_manifest, with_changes(source=source, tests=[{"name": "unit"}]))
    project = t["Resources"]["FeatureProject"]["Properties"]
    assert project["Source"]["Type"] == "GITHUB"
    assert project["Source"]["Auth"] == {"Type": "CODECONNECTIONS", "Resource": CONNECTION}
    [[event, head]] = project["Triggers"]["FilterGroups"]
    assert event == {"Type": "EVENT", "Pattern": "PUSH"}
    assert head == {"Type": "HEAD_REF", "Pattern": "^refs/heads/(feature/[^/]*|fix/.*)$"}


def test_glob_to_regex():
    assert glob_to_regex("release/v1.*") == r"release/v1\.[^/]*"
    assert glob_to_regex("a?b") == "a[^/]b"


# --- build ---------------------------------------------------------------------------------


def test_matrix_is_a_batch_build(write_manifest):
    matrix = {"GOOS": ["linux", "darwin"], "GOARCH": ["amd64"]}
    whole_artifact = [
        {"name": "app", "type": "s3", "bucket": "demo-artifacts-{environment}"}
    ]  # not a file of it: MC346
    t = pipeline(write_manifest, with_changes(build={"matrix": matrix}, targets=whole_artifact))
    project = t["Resources"]["BuildProject"]["Properties"]
    batch = project["BuildBatchConfig"]
    assert batch["CombineArtifacts"] is True and batch["Restrictions"]["MaximumBuildsAllowed"] == 2
    assert batch["ServiceRole"] == {"Fn::GetAtt": ["BuildBatchRole", "Arn"]}
    spec = yaml.safe_load(spec_text(t, "BuildProject"))
    assert spec["batch"]["build-matrix"]["dynamic"]["env"]["variables"] == {
        "GOARCH": ["amd64"],
        "GOOS": ["linux", "darwin"],
    }
    build = stages(t)["Build"][0]
    assert build["Configuration"]["BatchEnabled"] == "true" and build["Configuration"]["CombineArtifacts"] == "true"
    assert "codebuild:StartBuildBatch" in statements(t, "PipelineRole")["RunBatchBuilds"]["Action"]


def test_codeartifact_login_and_scoped_permissions(write_manifest):
    text = with_changes(build={"packages": {"codeartifact": {"domain": "private", "repository": "pypi-store"}}})
    t = pipeline(write_manifest, text)
    assert "aws codeartifact login --tool pip --domain private" in spec_text(t, "BuildProject")
    sids = statements(t, "BuildRole")
    assert sids["CodeArtifactToken"]["Resource"][0]["Fn::Sub"].endswith(":domain/private")
    assert sids["CodeArtifactBearer"]["Condition"] == {
        "StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}
    }


def test_quality_gates_run_in_parallel_before_deploys(write_manifest):
    t = pipeline(write_manifest, with_changes(quality_gates=["lint", "sast", "secrets-scan"]))
    names = list(stages(t))
    assert names.index("Quality") == names.index("Build") + 1 < names.index("staging")
    gates = stages(t)["Quality"]
    assert [(a["Name"], a["RunOrder"]) for a in gates] == [("Gate-lint", 1), ("Gate-sast", 1), ("Gate-secrets-scan", 1)]
    assert "ruff check ." in spec_text(t, "GateLintProject")
    iac = pipeline(write_manifest, with_changes(quality_gates=["iac-scan"]))
    [gate] = stages(iac)["Quality"]
    assert [a["Name"] for a in gate["InputArtifacts"]] == ["Source", "BuildOutput"]
    assert gate["Configuration"]["PrimarySource"] == "Source"
    assert "semgrep scan" in spec_text(t, "GateSastProject")


# --- environments ------------------------------------------------------------------------------

CROSS_ACCOUNT = with_changes(
    account="123456789012",
    environments=[
        {"name": "staging", "account": "111111111111"},
        {
            "name": "prod",
            "account": "222222222222",
            "approval": {
                "approvers": ["arn:aws:iam::123456789012:role/Release", "arn:aws:iam::123456789012:user/ops/alice"],
                "timeout_minutes": 60,
                "notify_emails": ["release@example.com"],
            },
        },
    ],
)


def test_cross_account_deploys_through_bootstrap_roles(write_manifest):
    out = templates(write_manifest, CROSS_ACCOUNT)
    assert sorted(out) == ["bootstrap-111111111111.yaml", "bootstrap-222222222222.yaml", "pipeline.yaml"]
    t = out["pipeline.yaml"]
    prepare = stages(t)["staging"][0]
    # in the pipeline's partition (aws, aws-cn, aws-us-gov), never a literal arn:aws:
    assert prepare["RoleArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::111111111111:role/manifestc/demo-service/demo-service-deploy"
    }
    assert prepare["Configuration"]["RoleArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::111111111111:role/manifestc/demo-service/demo-service-cfn-exec"
    }
    assume = statements(t, "PipelineRole")["AssumeTargetAccountRoles"]["Resource"]
    assert len(assume) == 2
    key = {s["Sid"]: s for s in t["Resources"]["ArtifactKey"]["Properties"]["KeyPolicy"]["Statement"]}
    assert "DeployRolesOf111111111111DecryptArtifacts" in key
    bootstrap = out["bootstrap-111111111111.yaml"]["Resources"]
    trust = bootstrap["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"]["AWS"]["Fn::Sub"].endswith(":iam::123456789012:root")
    assert trust["Condition"]["ArnLike"]["aws:PrincipalArn"]["Fn::Sub"].endswith(":role/manifestc/demo-service/*")
    assert bootstrap["CloudFormationExecutionRole"]["Properties"]["RoleName"] == "demo-service-cfn-exec"


def test_approvers_only_they_may_approve(write_manifest):
    t = pipeline(write_manifest, CROSS_ACCOUNT)
    approve = next(a for a in stages(t)["prod"] if a["Name"] == "approve")
    assert approve["TimeoutInMinutes"] == 60
    policy = t["Resources"]["ApproversProdPolicy"]["Properties"]
    assert policy["Roles"] == ["Release"] and policy["Users"] == ["alice"]
    [grant] = [s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "ApproveThisStage"]
    assert grant["Action"] == ["codepipeline:PutApprovalResult"]
    assert grant["Resource"][0]["Fn::Sub"].endswith(":demo-service/prod/approve")


def test_account_required_for_cross_account(write_manifest):
    text = with_changes(environments=[{"name": "staging", "account": "111111111111"}])
    assert errors(write_manifest, text) == [("MC215", "environments[0].account")]


def test_approver_must_be_an_iam_arn(write_manifest):
    text = with_changes(environments=[{"name": "prod", "approval": {"approvers": ["alice@example.com"]}}])
    assert errors(write_manifest, text) == [("MC105", "environments[0].approval.approvers[0]")]


MULTI_REGION = with_changes(
    region="eu-west-1",
    environments=[{"name": "staging"}, {"name": "prod", "regions": ["eu-west-1", "us-east-1"]}],
    targets=[{"name": "app", "template": "t.yaml", "stack": "app-{environment}-{region}"}],
)


def test_multi_region_fan_out(write_manifest):
    out = templates(write_manifest, MULTI_REGION)
    assert sorted(out) == ["pipeline.yaml", "support-us-east-1.yaml"]
    t = out["pipeline.yaml"]
    props = t["Resources"]["Pipeline"]["Properties"]
    assert "ArtifactStore" not in props
    assert [s["Region"] for s in props["ArtifactStores"]] == ["eu-west-1", "us-east-1"]
    prod = stages(t)["prod"]
    prepares = [a for a in prod if a["Name"].endswith("-prepare")]
    assert [a["Name"] for a in prepares] == ["app-eu-west-1-prepare", "app-us-east-1-prepare"]
    assert {a["RunOrder"] for a in prepares} == {1}  # parallel
    assert prepares[1]["Region"] == "us-east-1" and "Region" not in prepares[0]
    assert prepares[1]["Configuration"]["StackName"] == "app-prod-us-east-1"
    support = out["support-us-east-1.yaml"]["Resources"]
    assert {"ArtifactKey", "ArtifactKeyAlias", "ArtifactBucket", "ArtifactBucketPolicy"} == set(support)


def test_duplicate_regions_and_stacks(write_manifest):
    text = with_changes(region="eu-west-1", environments=[{"name": "prod", "regions": ["eu-west-1", "eu-west-1"]}])
    assert ("MC202", "environments[0].regions[1]") in errors(write_manifest, text)


# --- targets ---------------------------------------------------------------------------------


def test_lambda_zip_deploys_through_codebuild(write_manifest):
    text = with_changes(targets=[{"name": "fn", "type": "lambda", "function": "invoice", "artifact": "out/fn.zip"}])
    t = pipeline(write_manifest, text)
    [deploy] = stages(t)["staging"]
    assert deploy["Name"] == "fn-deploy" and deploy["ActionTypeId"]["Provider"] == "CodeBuild"
    spec = spec_text(t, "DeployStagingFnProject")
    assert "lambda update-function-code --function-name invoice --zip-file fileb://out/fn.zip --publish" in spec
    grant = statements(t, "DeployStagingFnRole")["DeployFunction"]
    assert grant["Resource"][0]["Fn::Sub"].endswith(":function:invoice")


def test_s3_target(write_manifest):
    text = with_changes(targets=[{"name": "site", "type": "s3", "bucket": "www.example.com", "prefix": "app/"}])
    t = pipeline(write_manifest, text)
    [deploy] = stages(t)["staging"]
    assert deploy["ActionTypeId"]["Provider"] == "S3"
    assert deploy["Configuration"] == {"BucketName": "www.example.com", "Extract": "true", "ObjectKey": "app/"}
    assert statements(t, "PipelineRole")["DeployToBuckets"]["Resource"][0]["Fn::Sub"].endswith(
        ":::www.example.com/app/*"
    )


def test_target_fields_belong_to_their_type(write_manifest):
    text = with_changes(targets=[{"name": "app", "template": "t.yaml", "cluster": "c"}])
    assert errors(write_manifest, text) == [("MC214", "targets[0].cluster")]
    missing = with_changes(targets=[{"name": "api", "type": "ecs", "cluster": "c"}])
    assert ("MC207", "targets[0]") in errors(write_manifest, missing)


# --- notifications -----------------------------------------------------------------------------


def test_notifications(write_manifest):
    slack = "arn:aws:chatbot::123456789012:chat-configuration/slack-channel/alerts"
    text = with_changes(notifications={"events": ["failed", "approval-needed"], "slack_channel": slack})
    t = pipeline(write_manifest, text)
    rule = t["Resources"]["PipelineNotifications"]["Properties"]
    assert rule["EventTypeIds"] == [
        "codepipeline-pipeline-pipeline-execution-failed",
        "codepipeline-pipeline-manual-approval-needed",
    ]
    assert [x["TargetType"] for x in rule["Targets"]] == ["SNS", "AWSChatbotSlack"]
    topic_policy = t["Resources"]["NotificationTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert topic_policy["Principal"] == {"Service": "codestar-notifications.amazonaws.com"}
    assert rule["Tags"]["team"] == "platform"


def test_existing_topic_is_used_as_is(write_manifest):
    topic = "arn:aws:sns:eu-west-1:123456789012:alerts"
    t = pipeline(write_manifest, with_changes(notifications={"sns_topic": topic}))
    assert "NotificationTopic" not in t["Resources"]
    assert t["Resources"]["PipelineNotifications"]["Properties"]["Targets"][0]["TargetAddress"] == topic


def test_minimal_is_unchanged_by_optional_sections(write_manifest):
    t = pipeline(write_manifest, MINIMAL)
    assert list(stages(t)) == ["Source", "UpdatePipeline", "Build", "staging"]
    assert json.dumps(t).count("AWS::CodeStarNotifications") == 0


def test_lambda_sam_template_is_packaged_then_deployed_as_a_stack(write_manifest):
    text = with_changes(
        build={"artifacts": {"files": ["src/**/*"]}},
        targets=[{"name": "api", "type": "lambda", "template": "template.yaml", "stack": "api-{environment}"}],
    )
    t = pipeline(write_manifest, text)
    spec = spec_text(t, "BuildProject")
    assert (
        'aws cloudformation package --template-file template.yaml --s3-bucket "$ARTIFACT_BUCKET" '
        "--s3-prefix lambda/api --output-template-file packaged-api.yaml"
    ) in spec
    assert "packaged-api.yaml" in yaml.safe_load(spec)["artifacts"]["files"]
    prepare, deploy = stages(t)["staging"]
    assert prepare["Configuration"]["TemplatePath"] == "BuildOutput::packaged-api.yaml"
    assert "CAPABILITY_AUTO_EXPAND" in prepare["Configuration"]["Capabilities"]
    assert deploy["Configuration"]["ActionMode"] == "CHANGE_SET_EXECUTE"
    assert "DeployStagingApiProject" not in t["Resources"]  # no direct-update job


def test_lambda_needs_function_or_template(write_manifest):
    neither = with_changes(targets=[{"name": "fn", "type": "lambda"}])
    assert errors(write_manifest, neither) == [("MC207", "targets[0]")]
    both = with_changes(targets=[{"name": "fn", "type": "lambda", "function": "f", "template": "t.yaml"}])
    assert errors(write_manifest, both) == [("MC207", "targets[0]")]


def test_build_image_pull_credentials(write_manifest):
    curated = pipeline(write_manifest, MINIMAL)["Resources"]["BuildProject"]["Properties"]["Environment"]
    assert curated["ImagePullCredentialsType"] == "CODEBUILD"
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/build/images:3"
    private = pipeline(write_manifest, with_changes(language=None, build={"image": image, "commands": ["make"]}))
    assert (
        private["Resources"]["BuildProject"]["Properties"]["Environment"]["ImagePullCredentialsType"] == "SERVICE_ROLE"
    )
    pull = statements(private, "BuildRole")["PullBuildImage"]
    assert pull["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:ecr:eu-west-1:123456789012:repository/build/images"}]
    public = pipeline(
        write_manifest, with_changes(language=None, build={"image": "public.ecr.aws/x/y:1", "commands": ["make"]})
    )
    assert public["Resources"]["BuildProject"]["Properties"]["Environment"]["ImagePullCredentialsType"] == "CODEBUILD"
