"""Pull-request builds (issue 11 item 2; README "Pull-request builds"): a CodeBuild project outside
the pipeline builds and tests pull requests into the pipeline's branch, reports back to the pull
request (webhook hosts), never deploys and never holds a secret; fork pull requests wait for a
maintainer's comment."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from conftest import MINIMAL, with_changes
from iam_sim import allowed, resolve
from manifestc.api import compile_manifest
from manifestc.check.pull_requests import check_pull_request_projects

CONNECTION = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/abc-123"
CODESTAR = {"provider": "codestar", "repository": "acme/demo", "connection_arn": CONNECTION}
CODECOMMIT = {"repository": "demo-service"}
BUILD = {
    "secrets": {"TOKEN": "secretsmanager:ci/token"},
    "permissions": {
        "statements": [
            {
                "actions": ["cloudfront:CreateInvalidation"],
                "resources": ["arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL"],
            }
        ]
    },
}
FEATURE = {"patterns": ["feature/*"]}
TESTS = [{"name": "unit"}, {"name": "integration", "commands": ["pytest tests/integration"]}]


def _compile(write_manifest, source: dict, **changes):
    text = with_changes(MINIMAL, source=source, build=BUILD, tests=TESTS, **changes)
    return compile_manifest(write_manifest(text), lint=False)


def _template(write_manifest, source: dict, **changes) -> dict:
    result = _compile(write_manifest, source, **changes)
    assert not result.diagnostics, [(d.code, d.message) for d in result.diagnostics]
    return yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))


def _statements(template: dict, role: str) -> list[dict]:
    policies = template["Resources"][role]["Properties"].get("Policies", [])
    return resolve([s for p in policies for s in p["PolicyDocument"]["Statement"]], {"ArtifactBucket.Arn": BUCKET})


BUCKET = "arn:aws:s3:::demo-artifacts"


def test_codestar_pull_requests_are_built_by_a_webhook_that_reports_back(write_manifest):
    template = _template(write_manifest, {**CODESTAR, "pull_requests": {"tests": ["unit"]}})
    project = template["Resources"]["PullRequestProject"]["Properties"]
    assert project["Name"] == "demo-service-pr"
    assert project["Source"]["ReportBuildStatus"] is True
    assert project["Source"]["Auth"] == {"Type": "CODECONNECTIONS", "Resource": CONNECTION}
    triggers = project["Triggers"]
    assert triggers["FilterGroups"] == [
        [
            {"Type": "EVENT", "Pattern": "PULL_REQUEST_CREATED,PULL_REQUEST_UPDATED,PULL_REQUEST_REOPENED"},
            {"Type": "BASE_REF", "Pattern": "^refs/heads/main$"},
        ]
    ]
    # fork pull requests wait for a maintainer's /codebuild_run(<sha>) comment by default
    assert triggers["PullRequestBuildPolicy"] == {"RequiresCommentApproval": "FORK_PULL_REQUESTS"}
    spec = project["Source"]["BuildSpec"]
    spec = spec["Fn::Sub"] if isinstance(spec, dict) else spec
    assert "pytest" in spec and "tests/integration" not in spec  # only the chosen suite


@pytest.mark.parametrize("approval, policy", [("all", "ALL_PULL_REQUESTS"), ("none", "DISABLED")])
def test_comment_approval_choices(write_manifest, approval, policy):
    source = {**CODESTAR, "pull_requests": {"approval": approval}}
    project = _template(write_manifest, source)["Resources"]["PullRequestProject"]["Properties"]
    assert project["Triggers"]["PullRequestBuildPolicy"] == {"RequiresCommentApproval": policy}


@pytest.mark.parametrize("source", [CODESTAR, CODECOMMIT], ids=["codestar", "codecommit"])
def test_the_pull_request_project_holds_no_secret_and_cannot_deploy(write_manifest, source):
    template = _template(write_manifest, {**source, "pull_requests": {}})
    project = template["Resources"]["PullRequestProject"]["Properties"]
    variables = project["Environment"].get("EnvironmentVariables", [])
    assert [v["Type"] for v in variables] == ["PLAINTEXT"] * len(variables)
    assert "TOKEN" not in {v["Name"] for v in variables}
    role = template["Resources"]["PullRequestRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    statements = _statements(template, "PullRequestRole")
    services = {a.split(":")[0] for s in statements for a in s["Action"]}
    assert services <= {"s3", "kms", "logs", "codebuild", "codecommit", "codeconnections", "codestar-connections"}
    for action, arn in [
        ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111111111111:secret:ci/token-AbCdEf"),
        (
            "cloudfront:CreateInvalidation",
            "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL",
        ),  # the build's declared grant
        ("cloudformation:CreateChangeSet", "*"),
        ("iam:PassRole", "*"),
        ("sts:AssumeRole", "*"),
        # the pipeline's artifacts, which deploys read, cannot be written (a fork could poison them)
        ("s3:PutObject", BUCKET + "/demo-service/BuildOutpu/abc.zip"),
    ]:
        assert not allowed(statements, action, arn), action
    # its own report groups' exports only; no cache is configured, so no cache grant
    assert allowed(statements, "s3:PutObject", BUCKET + "/reports/demo-service-pr-unit-tests/x.xml")
    assert not allowed(statements, "s3:PutObject", BUCKET + "/reports/demo-service-unit-tests/x.xml")
    assert not allowed(statements, "s3:PutObject", BUCKET + "/cache/pr/x.zip")
    # the main build keeps its secret and its grant
    build = _statements(template, "BuildRole")
    assert allowed(
        build, "cloudfront:CreateInvalidation", "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL"
    )


def test_the_pull_request_project_is_not_in_the_pipeline(write_manifest):
    template = _template(write_manifest, {**CODESTAR, "pull_requests": {}})
    text = json.dumps(template["Resources"]["Pipeline"])
    assert "PullRequestProject" not in text
    # and the pipeline's own trigger is unchanged: pushes to the branch only, no pull-request events
    [trigger] = template["Resources"]["Pipeline"]["Properties"]["Triggers"]
    assert "PullRequest" not in trigger["GitConfiguration"]


def test_codecommit_pull_requests_start_the_project_through_eventbridge(write_manifest):
    template = _template(write_manifest, {**CODECOMMIT, "branch": "develop", "pull_requests": {}})
    rule = template["Resources"]["PullRequestRule"]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["CodeCommit Pull Request State Change"]
    assert rule["EventPattern"]["detail"] == {
        "event": ["pullRequestCreated", "pullRequestSourceBranchUpdated"],
        "pullRequestStatus": ["Open"],
        "destinationReference": ["refs/heads/develop"],
    }
    [target] = rule["Targets"]
    assert target["InputTransformer"]["InputPathsMap"]["commit"] == "$.detail.sourceCommit"
    assert template["Resources"]["PullRequestProject"]["Properties"]["Source"]["Type"] == "CODECOMMIT"
    statements = _statements(template, "PullRequestRuleRole")
    project = "arn:aws:codebuild:us-east-1:111111111111:project/demo-service-pr"
    assert allowed(statements, "codebuild:StartBuild", project)
    assert not allowed(statements, "codebuild:StartBuild", project.replace("-pr", "-build"))


def test_build_false_emits_nothing(write_manifest):
    template = _template(write_manifest, {**CODESTAR, "pull_requests": {"build": False}})
    assert not {"PullRequestProject", "PullRequestRole"} & set(template["Resources"])


@pytest.mark.parametrize(
    "source, changes, expected",
    [
        ({"provider": "s3", "repository": "bucket-name/key.zip", "pull_requests": {}}, {}, "MC315"),
        ({**CODESTAR, "host": "github-enterprise", "pull_requests": {}}, {}, "MC315"),
        ({**CODECOMMIT, "pull_requests": {"approval": "all"}}, {}, "MC316"),
        ({**CODESTAR, "pull_requests": {"tests": ["nope"]}}, {}, "MC201"),
    ],
)
def test_misuse_is_located(write_manifest, source, changes, expected):
    result = _compile(write_manifest, source, **changes)
    codes = [(d.code, d.path[:2]) for d in result.diagnostics if d.is_error]
    assert (expected, ("source", "pull_requests")) in codes


def test_a_buildspec_file_cannot_serve_pull_request_builds(write_manifest):
    text = with_changes(
        MINIMAL,
        source={**CODESTAR, "pull_requests": {}},
        build={"buildspec": "buildspec.yml", "image": "aws/codebuild/standard:7.0"},
    )
    result = compile_manifest(write_manifest(text), lint=False)
    assert ("MC229", ("source", "pull_requests")) in [(d.code, d.path) for d in result.diagnostics]


def _rendered(write_manifest, source: dict):
    result = _compile(write_manifest, source)
    assert not result.diagnostics
    return result.manifest, copy.deepcopy(result.templates)


@pytest.mark.parametrize("source", [CODESTAR, CODECOMMIT], ids=["codestar", "codecommit"])
def test_readiness_check_passes_what_manifestc_emits(write_manifest, source):
    # the feature-branch project receives the build's secret, and is not a pull-request project
    manifest, templates = _rendered(write_manifest, {**source, "pull_requests": {}, "feature_branches": FEATURE})
    feature = templates["pipeline.yaml"]["Resources"]["FeatureProject"]["Properties"]
    assert "SECRETS_MANAGER" in json.dumps(feature["Environment"])
    assert check_pull_request_projects(manifest, templates) == []


@pytest.mark.parametrize("source", [CODESTAR, CODECOMMIT], ids=["codestar", "codecommit"])
def test_readiness_check_refuses_secrets_grants_and_artifact_writes(write_manifest, source):
    manifest, templates = _rendered(write_manifest, {**source, "pull_requests": {}})
    resources = templates["pipeline.yaml"]["Resources"]
    project = resources["PullRequestProject"]["Properties"]
    project["Environment"]["EnvironmentVariables"].append(
        {"Name": "TOKEN", "Type": "SECRETS_MANAGER", "Value": "ci/token"}
    )
    statements = resources["PullRequestRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    statements.append({"Effect": "Allow", "Action": ["cloudformation:ExecuteChangeSet"], "Resource": "*"})
    [objects] = [s for s in statements if s.get("Sid") == "ArtifactObjects"]
    objects["Resource"] = [{"Fn::Sub": "${ArtifactBucket.Arn}/*"}]
    found = check_pull_request_projects(manifest, templates)
    assert sorted(d.code for d in found) == ["MC675", "MC676", "MC677"]
    assert all("PullRequestProject" in d.message for d in found)


def test_the_pull_request_project_reports_into_groups_of_its_own(write_manifest):
    template = _template(write_manifest, {**CODESTAR, "pull_requests": {"tests": ["unit"]}})
    resources = template["Resources"]
    groups = {k: v["Properties"]["Name"] for k, v in resources.items() if v["Type"] == "AWS::CodeBuild::ReportGroup"}
    assert groups["PullRequestUnitReports"] == "demo-service-pr-unit-tests"
    assert groups["TestUnitReports"] == "demo-service-unit-tests"  # the pipeline's, untouched
    spec = resources["PullRequestProject"]["Properties"]["Source"]["BuildSpec"]["Fn::Sub"]
    assert list(yaml.safe_load(spec)["reports"]) == ["${PullRequestUnitReports.Arn}"]
    export = resources["PullRequestUnitReports"]["Properties"]["ExportConfig"]["S3Destination"]
    assert export["Path"] == "reports/demo-service-pr-unit-tests"
    # the role may report into its own group only: fork code cannot add results to the pipeline's
    statements = _statements(template, "PullRequestRole")
    [reports] = [s for s in statements if s.get("Sid") == "TestReports"]
    assert reports["Resource"] == ["UNRESOLVED-PullRequestUnitReports.Arn"]  # iam_sim: a GetAtt left as is
    assert "TestUnitReports" not in json.dumps(statements)


def test_the_pull_request_project_has_its_own_copies_of_the_builds_report_groups(write_manifest):
    build = {**BUILD, "reports": ["reports/build.xml"], "coverage": "reports/coverage.xml"}
    text = with_changes(MINIMAL, source={**CODESTAR, "pull_requests": {"tests": ["unit"]}}, build=build, tests=TESTS)
    result = compile_manifest(write_manifest(text), lint=False)
    assert not result.diagnostics, [(d.code, d.message) for d in result.diagnostics]
    template = yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))
    resources = template["Resources"]
    groups = {k: v["Properties"]["Name"] for k, v in resources.items() if v["Type"] == "AWS::CodeBuild::ReportGroup"}
    assert groups["BuildReports"] == "demo-service-build-tests"  # the pipeline build's
    assert groups["PullRequestBuildReports"] == "demo-service-pr-build-tests"
    assert groups["PullRequestBuildCoverage"] == "demo-service-pr-build-coverage"
    spec = yaml.safe_load(resources["PullRequestProject"]["Properties"]["Source"]["BuildSpec"]["Fn::Sub"])
    assert "${BuildReports.Arn}" not in spec["reports"] and "${PullRequestBuildReports.Arn}" in spec["reports"]
    statements = _statements(template, "PullRequestRole")
    assert "BuildReports.Arn" not in json.dumps(statements).replace("PullRequestBuildReports.Arn", "")


@pytest.mark.parametrize("cache, granted", [("s3", True), ("local", False), ("none", False)])
def test_the_pull_request_cache_grant_exists_only_with_an_s3_cache(write_manifest, cache, granted):
    text = with_changes(MINIMAL, source={**CODECOMMIT, "pull_requests": {}}, build={**BUILD, "cache": cache}, tests=[])
    result = compile_manifest(write_manifest(text), lint=False)
    assert not result.diagnostics, [(d.code, d.message) for d in result.diagnostics]
    template = yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))
    statements = _statements(template, "PullRequestRole")
    assert allowed(statements, "s3:PutObject", BUCKET + "/cache/pr/x.zip") is granted
    assert not allowed(statements, "s3:PutObject", BUCKET + "/cache/build/x.zip")  # the pipeline's cache
    # no tests, no S3 cache: nothing to write, so no bucket and no artifact-key grant at all
    services = {a.split(":")[0] for s in statements for a in s["Action"]}
    assert ("s3" in services) is granted and ("kms" in services) is granted


def test_the_pull_request_role_uses_the_connection_and_the_key_only_as_codebuild_and_s3_need(write_manifest):
    template = _template(write_manifest, {**CODESTAR, "pull_requests": {}, "feature_branches": FEATURE})
    for role in ("PullRequestRole", "FeatureRole"):
        statements = _statements(template, role)
        # CodeBuild User Guide, "GitHub App connections": GetConnectionToken and GetConnection
        for spelling in (CONNECTION, CONNECTION.replace("codestar-connections", "codeconnections")):
            service = spelling.split(":")[2]
            assert allowed(statements, f"{service}:GetConnectionToken", spelling), role
            assert allowed(statements, f"{service}:GetConnection", spelling), role
            assert not allowed(statements, f"{service}:UseConnection", spelling), role
        assert not allowed(statements, "codeconnections:GetConnectionToken", CONNECTION[:-3] + "other")
    statements = _statements(template, "PullRequestRole")
    key = "UNRESOLVED-ArtifactKey.Arn"
    via_s3 = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert allowed(statements, "kms:GenerateDataKey", key, via_s3)
    assert allowed(statements, "kms:Decrypt", key, via_s3)
    assert not allowed(statements, "kms:Decrypt", key)  # a direct call from the build's code
    for action in ("kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"):
        assert not allowed(statements, action, key, via_s3), action


def test_readiness_check_refuses_use_connection_and_direct_key_use(write_manifest):
    manifest, templates = _rendered(write_manifest, {**CODESTAR, "pull_requests": {}})
    statements = templates["pipeline.yaml"]["Resources"]["PullRequestRole"]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    statements.append({"Effect": "Allow", "Action": ["codeconnections:UseConnection"], "Resource": CONNECTION})
    [key] = [s for s in statements if s.get("Sid") == "ArtifactKey"]
    del key["Condition"]
    found = [d.message for d in check_pull_request_projects(manifest, templates)]
    assert any("codeconnections:UseConnection" in m for m in found), found
    assert any("outside S3" in m for m in found), found
