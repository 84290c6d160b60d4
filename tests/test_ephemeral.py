"""Ephemeral stacks (issue 11 item 9; README "Ephemeral stacks"): a stack per feature branch
(`source.feature_branches.deploy_to`), deleted when the branch goes, and a temporary stack per test
run (`tests[].ephemeral_stack`), deleted pass or fail — each only ever touching stacks with its
prefix, through an execution role limited to those stacks."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess

import pytest
import yaml
from conftest import MINIMAL, with_changes
from iam_sim import effective as _effective
from iam_sim import resolve
from manifestc.api import compile_manifest
from manifestc.check.pull_requests import check_pull_request_projects
from manifestc.semantics_ephemeral import SLUG_MAX, SLUG_SHELL, STACK_NAME, branch_slug

ACCOUNT = "111111111111"
REGION = "us-east-1"
CONNECTION = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/abc-123"
CODESTAR = {"provider": "codestar", "repository": "acme/demo", "connection_arn": CONNECTION}
CODECOMMIT = {"repository": "demo-service"}
EXEC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/manifestc/demo-service/demo-service-ephemeral"
ATTRIBUTES = {
    "EphemeralExecRole.Arn": EXEC_ROLE,
    "ArtifactBucket.Arn": "arn:aws:s3:::demo-artifacts",
    "ArtifactBucket": "demo-artifacts",
    "ArtifactKey.Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k",
}
# every caller here is one of the pipeline's own roles (under /manifestc/<name>/): the boundary
# treats them apart from application roles (aws:PrincipalArn)
PIPELINE_PRINCIPAL = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/manifestc/demo-service/demo-service-Role-X"}


def effective(identity, boundary, action, resource, context=None) -> bool:
    return _effective(identity, boundary, action, resource, {**PIPELINE_PRINCIPAL, **(context or {})})


TESTS = [{"name": "unit"}, {"name": "contract", "commands": ["pytest tests/contract"]}]
ENVIRONMENTS = [{"name": "dev"}, {"name": "prod"}]
TARGETS = [
    {"name": "app", "template": "deploy/app.yaml", "parameters": {"Stage": "{environment}", "Where": "{region}"}}
]


def _stack(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{name}/0a1b2c3d"


def _compile(write_manifest, source=None, deploy_to="dev", tests=None, **changes):
    feature = {"patterns": ["feature/*"], "tests": ["unit"]}
    if deploy_to:
        feature["deploy_to"] = deploy_to
    changes.setdefault("environments", ENVIRONMENTS)
    changes.setdefault("targets", TARGETS)
    text = with_changes(
        MINIMAL,
        source={**(source or CODECOMMIT), "feature_branches": feature},
        tests=tests if tests is not None else TESTS,
        **changes,
    )
    return compile_manifest(write_manifest(text), lint=False)


def _template(write_manifest, **kwargs) -> dict:
    result = _compile(write_manifest, **kwargs)
    assert not [d for d in result.diagnostics if d.is_error], [(d.code, d.message) for d in result.diagnostics]
    return yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))


def _statements(template: dict, role: str) -> list[dict]:
    policies = template["Resources"][role]["Properties"].get("Policies", [])
    return resolve([s for p in policies for s in p["PolicyDocument"]["Statement"]], ATTRIBUTES)


def _boundary(template: dict) -> list[dict]:
    return resolve(template["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"])


def _buildspec(project: dict) -> dict:
    spec = project["Properties"]["Source"]["BuildSpec"]
    text = spec["Fn::Sub"] if isinstance(spec, dict) else spec
    return yaml.safe_load(text.replace("${!", "${"))


def _errors(result) -> list[tuple[str, str]]:
    return [(d.code, ".".join(str(p) for p in d.path)) for d in result.diagnostics if d.is_error]


# --- branch slugs ----------------------------------------------------------------------------------

BRANCHES = [
    "feature/login",
    "feature/Login_Page",
    "feature/login-page",
    "feature/" + "very-long-name-" * 12,
    "fix/ümlaut/ß",
    "feature/___",
    "Feature/x",
]


@pytest.mark.parametrize("branch", BRANCHES)
def test_a_branch_slug_makes_a_valid_stack_name_of_bounded_length(branch):
    slug = branch_slug(branch)
    assert len(slug) <= SLUG_MAX
    assert re.fullmatch(r"[a-z0-9-]+", slug)
    # the longest pipeline name (40) and target name (30) still fit CloudFormation's 128
    assert STACK_NAME.fullmatch(f"{'p' * 40}-preview-{slug}-{'t' * 30}")


def test_branches_that_read_alike_get_different_slugs():
    assert branch_slug("feature/login_page").startswith("feature-login-page-")
    assert branch_slug("feature/login_page") != branch_slug("feature/login-page")
    assert branch_slug("Feature/X") != branch_slug("feature/x")


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("sha256sum")), reason="needs bash and coreutils")
@pytest.mark.parametrize("branch", BRANCHES)
def test_the_build_computes_the_same_slug_as_the_compiler(branch):
    script = f'{SLUG_SHELL}\nprintf %s "$PREVIEW_SLUG"'
    out = subprocess.run(
        ["bash", "-c", script], env={"PREVIEW_BRANCH": branch, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == branch_slug(branch)


# --- previews: what is emitted -----------------------------------------------------------------------


def test_a_pushed_branch_builds_tests_then_deploys_its_own_stack(write_manifest):
    template = _template(write_manifest)
    project = template["Resources"]["FeatureProject"]
    commands = _buildspec(project)["phases"]["build"]["commands"]
    deploy = next(c for c in commands if c.startswith("aws cloudformation deploy"))
    # after the suite's commands, so a failing test deploys nothing
    assert commands.index(deploy) > next(i for i, c in enumerate(commands) if "pytest" in c)
    assert '--stack-name "demo-service-preview-${PREVIEW_SLUG}-app"' in deploy
    assert '--role-arn "$EPHEMERAL_ROLE_ARN"' in deploy
    # placeholders: {environment} is the preview's own `<deploy_to>-preview-<slug>` (not dev's
    # names), {region} the build's region
    assert '--parameter-overrides Stage=dev-preview-"$PREVIEW_SLUG" Where="$AWS_REGION"' in deploy
    assert "--tags manifestc:ephemeral=demo-service-preview-" in deploy
    variables = {v["Name"]: v["Value"] for v in project["Properties"]["Environment"]["EnvironmentVariables"]}
    assert variables["EPHEMERAL_ROLE_ARN"] == {"Fn::GetAtt": ["EphemeralExecRole", "Arn"]}


def test_codecommit_branch_deletion_starts_the_teardown(write_manifest):
    resources = _template(write_manifest)["Resources"]
    rule = resources["PreviewTeardownRule"]["Properties"]
    assert rule["EventPattern"]["detail"] == {
        "event": ["referenceDeleted"],
        "referenceType": ["branch"],
        "referenceName": [{"wildcard": "feature/*"}],
    }
    target = rule["Targets"][0]
    assert target["Arn"]["Fn::Sub"].endswith(":project/demo-service-preview-teardown")
    assert '"name": "BRANCH", "value": <branch>' in target["InputTransformer"]["InputTemplate"]
    teardown = resources["PreviewTeardownProject"]
    assert teardown["Properties"]["Source"]["Type"] == "NO_SOURCE"  # runs nothing of the repository
    commands = _buildspec(teardown)["phases"]["build"]["commands"]
    delete = next(c for c in commands if "delete-stack" in c)
    assert (
        'aws cloudformation delete-stack --stack-name "demo-service-preview-${PREVIEW_SLUG}-app" '
        '--role-arn "$EPHEMERAL_ROLE_ARN" && aws cloudformation wait stack-delete-complete' in delete
    )
    # the teardown's role starts from nothing: no artifact access
    actions = {a for s in _statements({"Resources": resources}, "PreviewTeardownRole") for a in s["Action"]}
    assert not any(a.startswith("s3:") for a in actions)


def test_codestar_previews_go_when_the_pull_request_is_merged_or_closed(write_manifest):
    resources = _template(write_manifest, source=CODESTAR)["Resources"]
    assert "PreviewTeardownRule" not in resources
    props = resources["PreviewTeardownProject"]["Properties"]
    assert props["Triggers"]["FilterGroups"] == [
        [
            {"Type": "EVENT", "Pattern": "PULL_REQUEST_MERGED,PULL_REQUEST_CLOSED"},
            {"Type": "HEAD_REF", "Pattern": "^refs/heads/(feature/[^/]*)$"},
        ]
    ]
    assert props["Source"]["ReportBuildStatus"] is False
    assert props["Triggers"]["PullRequestBuildPolicy"] == {"RequiresCommentApproval": "FORK_PULL_REQUESTS"}


def test_no_deploy_to_emits_nothing_ephemeral(write_manifest):
    resources = _template(write_manifest, deploy_to=None, tests=[{"name": "unit"}])["Resources"]
    assert not [k for k in resources if k.startswith(("Ephemeral", "PreviewTeardown"))]


# --- previews: IAM -------------------------------------------------------------------------------------


def test_the_feature_project_may_deploy_only_preview_stacks_through_the_ephemeral_role(write_manifest):
    template = _template(write_manifest)
    identity, boundary = _statements(template, "FeatureRole"), _boundary(template)
    preview = _stack("demo-service-preview-feature-x-0a1b2c3d-app")
    # a change set must tag the stack as a preview; DeleteStack needs a stack carrying that tag
    tag = {
        "CreateChangeSet": "aws:RequestTag/manifestc:ephemeral",
        "DeleteStack": "aws:ResourceTag/manifestc:ephemeral",
    }
    for action, key in (("cloudformation:" + a, k) for a, k in tag.items()):
        through = {"cloudformation:RoleArn": EXEC_ROLE, key: "demo-service-preview-"}
        assert effective(identity, boundary, action, preview, through), action
        assert not effective(identity, boundary, action, preview, {key: "demo-service-preview-"}), action
        assert not effective(identity, boundary, action, preview, {"cloudformation:RoleArn": EXEC_ROLE}), action
        other_role = {**through, "cloudformation:RoleArn": f"arn:aws:iam::{ACCOUNT}:role/admin"}
        assert not effective(identity, boundary, action, preview, other_role), action
        for stack in ("demo-service-dev", "demo-service-prod", "demo-service", "other-preview-x-app"):
            assert not effective(identity, boundary, action, _stack(stack), through), (action, stack)
    for action in (
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DescribeStacks",
        "cloudformation:GetTemplateSummary",
    ):
        assert effective(identity, boundary, action, preview)
        assert not effective(identity, boundary, action, _stack("demo-service-prod"))
    for action in ("cloudformation:UpdateStack", "cloudformation:CreateStack"):
        assert not effective(identity, boundary, action, preview, through)
    to_cloudformation = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    assert effective(identity, boundary, "iam:PassRole", EXEC_ROLE, to_cloudformation)
    assert not effective(identity, boundary, "iam:PassRole", EXEC_ROLE, {"iam:PassedToService": "ec2.amazonaws.com"})
    deploy_role = f"arn:aws:iam::{ACCOUNT}:role/manifestc/demo-service/demo-service-DeployDevAppRole"
    assert not effective(identity, boundary, "iam:PassRole", deploy_role, to_cloudformation)


def test_the_teardown_may_delete_previews_and_create_nothing(write_manifest):
    template = _template(write_manifest)
    identity, boundary = _statements(template, "PreviewTeardownRole"), _boundary(template)
    through = {"cloudformation:RoleArn": EXEC_ROLE, "aws:ResourceTag/manifestc:ephemeral": "demo-service-preview-"}
    assert effective(identity, boundary, "cloudformation:DeleteStack", _stack("demo-service-preview-x-1-app"), through)
    assert not effective(identity, boundary, "cloudformation:DeleteStack", _stack("demo-service-dev"), through)
    created = {**through, "aws:RequestTag/manifestc:ephemeral": "demo-service-preview-"}
    assert not effective(
        identity, boundary, "cloudformation:CreateChangeSet", _stack("demo-service-preview-x"), created
    )


def test_the_ephemeral_execution_role_reaches_only_ephemeral_stacks_and_not_the_pipeline(write_manifest):
    tests = [{"name": "unit"}, {"name": "contract", "commands": ["pytest"], "ephemeral_stack": "app"}]
    template = _template(write_manifest, tests=tests)
    role = template["Resources"]["EphemeralExecRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "cloudformation.amazonaws.com"}
    assert role["PermissionsBoundary"] == {"Ref": "PermissionsBoundary"}
    identity = _statements(template, "EphemeralExecRole") + [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}  # stand-in for the managed execution policies
    ]
    boundary = _boundary(template)
    assert not effective(identity, boundary, "s3:PutObject", "arn:aws:s3:::demo-artifacts/demo-service/x.zip")
    assert not effective(
        identity, boundary, "codepipeline:UpdatePipeline", f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:demo-service"
    )
    project = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/demo-service-build"
    assert not effective(identity, boundary, "codebuild:UpdateProject", project)
    for stack in ("demo-service-dev", "demo-service-prod", "demo-service"):
        assert not effective(identity, boundary, "cloudformation:UpdateStack", _stack(stack)), stack
    assert effective(identity, boundary, "cloudformation:CreateStack", _stack("demo-service-preview-x-1-app-Nested"))
    assert effective(identity, boundary, "cloudformation:CreateStack", _stack("demo-service-test-contract-7-Nested"))
    # its stacks' roles: under their compiler-owned paths and carrying the boundary
    bounded = {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/manifestc/demo-service/demo-service-boundary"}
    own = f"arn:aws:iam::{ACCOUNT}:role/manifestc-app/demo-service/demo-service-preview-x-1-app/Fn"
    mine = _statements(template, "EphemeralExecRole")
    assert effective(mine, boundary, "iam:CreateRole", own, bounded)
    assert not effective(mine, boundary, "iam:CreateRole", own, {})
    env_role = f"arn:aws:iam::{ACCOUNT}:role/manifestc-app/demo-service/demo-service-dev/Fn"
    assert not effective(mine, boundary, "iam:CreateRole", env_role, bounded)


# --- test stacks -------------------------------------------------------------------------------------


def test_a_test_stack_is_deployed_tested_against_and_deleted_pass_or_fail(write_manifest):
    tests = [{"name": "unit"}, {"name": "contract", "commands": ["pytest tests/contract"], "ephemeral_stack": "app"}]
    template = _template(write_manifest, deploy_to=None, tests=tests)
    build = _buildspec(template["Resources"]["TestContractProject"])["phases"]["build"]
    commands = build["commands"]
    assert commands[0] == 'export EPHEMERAL_STACK="demo-service-test-contract-${CODEBUILD_BUILD_NUMBER}"'
    assert commands[1].startswith('aws cloudformation deploy --stack-name "$EPHEMERAL_STACK"')
    assert '--template-file "$CODEBUILD_SRC_DIR_BuildOutput"/deploy/app.yaml' in commands[1]
    assert '--parameter-overrides Stage=test-contract-"$CODEBUILD_BUILD_NUMBER" ' in commands[1]
    assert "--tags manifestc:ephemeral=demo-service-test-contract- " in commands[1]
    assert 'export "STACK_$key=$value"' in commands[2]
    assert commands[3] == "pytest tests/contract"
    # the finally block runs whether the commands passed or failed
    [delete] = build["finally"]
    assert (
        'aws cloudformation delete-stack --stack-name "$EPHEMERAL_STACK" --role-arn "$EPHEMERAL_ROLE_ARN" && '
        'aws cloudformation wait stack-delete-complete --stack-name "$EPHEMERAL_STACK"' in delete
    )
    # the template comes from the build's output, a second input of the suite's action
    stages = {s["Name"]: s for s in template["Resources"]["Pipeline"]["Properties"]["Stages"]}
    action = next(a for a in stages["Build"]["Actions"] if a["Name"] == "Test-contract")
    assert [i["Name"] for i in action["InputArtifacts"]] == ["Source", "BuildOutput"]
    assert action["Configuration"]["PrimarySource"] == "Source"
    unit = next(a for a in stages["Build"]["Actions"] if a["Name"] == "Test-unit")
    assert [i["Name"] for i in unit["InputArtifacts"]] == ["Source"]


def test_a_suite_reaches_only_its_own_test_stacks(write_manifest):
    tests = [
        {"name": "contract", "commands": ["pytest"], "ephemeral_stack": "app"},
        {"name": "load", "commands": ["k6 run"], "ephemeral_stack": "app"},
        {"name": "unit"},
    ]
    template = _template(write_manifest, tests=tests)
    identity, boundary = _statements(template, "TestContractRole"), _boundary(template)
    own = "demo-service-test-contract-"
    through = {"cloudformation:RoleArn": EXEC_ROLE, "aws:ResourceTag/manifestc:ephemeral": own}
    created = {"cloudformation:RoleArn": EXEC_ROLE, "aws:RequestTag/manifestc:ephemeral": own}
    assert effective(
        identity, boundary, "cloudformation:CreateChangeSet", _stack("demo-service-test-contract-12"), created
    )
    assert effective(identity, boundary, "cloudformation:DeleteStack", _stack("demo-service-test-contract-12"), through)
    for stack in ("demo-service-test-load-12", "demo-service-preview-x-1-app", "demo-service-dev"):
        assert not effective(identity, boundary, "cloudformation:DeleteStack", _stack(stack), through), stack
    unit = _statements(template, "TestUnitRole")
    assert not any("cloudformation" in str(s["Action"]) for s in unit)


# --- errors -------------------------------------------------------------------------------------------


def test_deploy_to_an_unknown_environment_is_located(write_manifest):
    result = _compile(write_manifest, deploy_to="dve")
    assert _errors(result) == [("MC355", "source.feature_branches.deploy_to")]
    assert "did you mean `dev`" in result.diagnostics[0].hint
    assert result.diagnostics[0].line > 0


def test_previews_in_another_account_are_refused(write_manifest):
    environments = [{"name": "dev", "account": "222222222222"}, {"name": "prod"}]
    result = _compile(write_manifest, environments=environments, account="111111111111")
    assert ("MC355", "source.feature_branches.deploy_to") in _errors(result)


def test_an_environment_without_stack_targets_has_nothing_to_preview(write_manifest):
    targets = TARGETS + [{"name": "site", "type": "s3", "bucket": "demo-{environment}-site"}]
    environments = [{"name": "dev", "targets": ["site"]}, {"name": "prod"}]
    result = _compile(write_manifest, environments=environments, targets=targets)
    assert _errors(result) == [("MC355", "source.feature_branches.deploy_to")]


def test_a_target_with_its_own_execution_role_cannot_be_previewed(write_manifest):
    targets = [{**TARGETS[0], "execution_role": f"arn:aws:iam::{ACCOUNT}:role/deployer"}]
    result = _compile(write_manifest, targets=targets)
    assert _errors(result) == [("MC356", "targets.0")]


def test_an_environment_stack_under_the_preview_prefix_is_refused(write_manifest):
    environments = [{"name": "dev"}, {"name": "preview-eu"}]
    result = _compile(write_manifest, environments=environments)
    assert _errors(result) == [("MC357", "targets.0.stack")]
    assert "demo-service-preview-eu" in result.diagnostics[0].message


@pytest.mark.parametrize(
    "source, teardown, expected",
    [
        (CODESTAR, "branch-deleted", "source.feature_branches.teardown"),
        (CODECOMMIT, "pull-request-closed", "source.feature_branches.teardown"),
    ],
)
def test_a_teardown_event_the_provider_lacks_names_the_alternative(write_manifest, source, teardown, expected):
    text = with_changes(
        MINIMAL,
        source={**source, "feature_branches": {"patterns": ["feature/*"], "deploy_to": "dev", "teardown": teardown}},
        environments=ENVIRONMENTS,
        targets=TARGETS,
    )
    result = compile_manifest(write_manifest(text), lint=False)
    assert _errors(result) == [("MC358", expected)]
    alternative = "pull-request-closed" if source is CODESTAR else "branch-deleted"
    assert alternative in result.diagnostics[0].hint


def test_teardown_without_deploy_to(write_manifest):
    text = with_changes(
        MINIMAL, source={**CODECOMMIT, "feature_branches": {"patterns": ["f/*"], "teardown": "branch-deleted"}}
    )
    result = compile_manifest(write_manifest(text), lint=False)
    assert _errors(result) == [("MC358", "source.feature_branches.teardown")]


@pytest.mark.parametrize(
    "suite, targets",
    [
        ({"ephemeral_stack": "ap"}, TARGETS),  # no such target
        ({"ephemeral_stack": "app", "after": "dev"}, TARGETS),  # after an environment
        ({"ephemeral_stack": "app", "buildspec": "ci/contract.yml", "commands": None}, TARGETS),
        ({"ephemeral_stack": "app"}, [{**TARGETS[0], "package": True}]),  # packaged
        ({"ephemeral_stack": "app"}, [{**TARGETS[0], "parameters": {"Version": "#{build.VERSION}"}}]),
        ({"ephemeral_stack": "fn"}, TARGETS + [{"name": "fn", "type": "lambda", "function": "demo-fn"}]),
    ],
)
def test_a_test_stack_that_cannot_work_is_mc359(write_manifest, suite, targets):
    raw = {"name": "contract", "commands": ["pytest"], **suite}
    tests = [{"name": "unit"}, {k: v for k, v in raw.items() if v is not None}]
    result = _compile(write_manifest, deploy_to=None, tests=tests, targets=targets)
    assert ("MC359", "tests.1.ephemeral_stack") in _errors(result)


def test_ephemeral_stacks_with_a_build_network_are_not_supported_yet(write_manifest):
    network = {
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "subnets": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        "route_tables": ["rtb-0a1b2c3d4e5f60003"],
    }
    result = _compile(write_manifest, network=network)
    assert ("MC107", "network") in _errors(result)


# --- readiness check -------------------------------------------------------------------------------------


def test_a_closing_only_project_may_delete_ephemeral_stacks_and_nothing_more(write_manifest):
    result = _compile(write_manifest, source=CODESTAR)
    template = yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))
    assert check_pull_request_projects(result.manifest, {"pipeline.yaml": template}) == []
    widened = copy.deepcopy(template)
    statements = widened["Resources"]["PreviewTeardownRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    statements.append({"Effect": "Allow", "Action": ["cloudformation:UpdateStack"], "Resource": "*"})
    found = check_pull_request_projects(result.manifest, {"pipeline.yaml": widened})
    assert [d.code for d in found] == ["MC676"] and "cloudformation:UpdateStack" in found[0].message
    # the same role on a project a pull request's *opening* starts is refused outright
    opening = copy.deepcopy(template)
    opening["Resources"]["PreviewTeardownProject"]["Properties"]["Triggers"]["FilterGroups"][0][0]["Pattern"] = (
        "PULL_REQUEST_CREATED,PULL_REQUEST_CLOSED"
    )
    assert {d.code for d in check_pull_request_projects(result.manifest, {"pipeline.yaml": opening})} == {"MC676"}


def test_previews_with_power_user_warn_and_narrow_policies_do_not(write_manifest):
    result = _compile(write_manifest)  # the target keeps the default PowerUserAccess
    warnings = [(d.code, d.path) for d in result.diagnostics if not d.is_error]
    assert warnings == [("MC687", ("targets", 0))]
    assert result.artifacts  # a warning: the build is written
    narrow = [{**TARGETS[0], "execution_policies": ["arn:aws:iam::aws:policy/AWSLambda_FullAccess"]}]
    result = _compile(write_manifest, targets=narrow)
    assert result.diagnostics == []
    role = yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))["Resources"][
        "EphemeralExecRole"
    ]
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSLambda_FullAccess"}
    ]
    # test stacks alone (reviewed code, in the pipeline) do not warn
    tests = [{"name": "unit"}, {"name": "contract", "commands": ["pytest"], "ephemeral_stack": "app"}]
    assert _compile(write_manifest, deploy_to=None, tests=tests).diagnostics == []


@pytest.mark.skipif(not (shutil.which("bash") and shutil.which("sha256sum")), reason="needs bash and coreutils")
def test_the_emitted_teardown_names_the_branch_from_the_rule_or_the_webhook(write_manifest):
    commands = _buildspec(_template(write_manifest)["Resources"]["PreviewTeardownProject"])["phases"]["build"]
    head = "\n".join(commands["commands"][:3]) + '\nprintf %s "$PREVIEW_SLUG"'
    for env in ({"BRANCH": "feature/x"}, {"CODEBUILD_WEBHOOK_HEAD_REF": "refs/heads/feature/x"}):
        out = subprocess.run(["bash", "-c", head], env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
        assert (out.returncode, out.stdout) == (0, branch_slug("feature/x")), (env, out.stderr)
    # started by hand without a branch: it stops before naming any stack
    out = subprocess.run(["bash", "-c", head], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert out.returncode != 0 and "no branch" in out.stderr


def test_feature_and_pull_request_builds_leave_out_suites_that_need_a_test_stack(write_manifest):
    tests = [{"name": "unit"}, {"name": "contract", "commands": ["pytest tests/contract"], "ephemeral_stack": "app"}]
    text = with_changes(
        MINIMAL,
        source={**CODESTAR, "feature_branches": {"patterns": ["feature/*"]}, "pull_requests": {}},
        tests=tests,
        environments=ENVIRONMENTS,
        targets=TARGETS,
    )
    result = compile_manifest(write_manifest(text), lint=False)
    assert not [d for d in result.diagnostics if d.is_error]
    assert result.manifest.source.feature_branches.tests == ("unit",)
    assert result.manifest.source.pull_requests.tests == ("unit",)
    resources = yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))["Resources"]
    for project in ("FeatureProject", "PullRequestProject"):
        assert "tests/contract" not in str(resources[project]["Properties"]["Source"]["BuildSpec"]), project
    text = with_changes(
        MINIMAL,
        source={**CODESTAR, "feature_branches": {"patterns": ["feature/*"], "tests": ["unit", "contract"]}},
        tests=tests,
        environments=ENVIRONMENTS,
        targets=TARGETS,
    )
    result = compile_manifest(write_manifest(text), lint=False)
    assert _errors(result) == [("MC359", "source.feature_branches.tests.1")]


def test_every_preview_mistake_is_reported_in_one_round(write_manifest):
    feature = {"patterns": ["feature/*"], "deploy_to": "dve", "teardown": "branch-deleted"}
    text = with_changes(
        MINIMAL, source={**CODESTAR, "feature_branches": feature}, environments=ENVIRONMENTS, targets=TARGETS
    )
    result = compile_manifest(write_manifest(text), lint=False)
    assert sorted(_errors(result)) == [
        ("MC355", "source.feature_branches.deploy_to"),
        ("MC358", "source.feature_branches.teardown"),
    ]


def test_the_self_update_guard_records_previews(write_manifest):
    """Previews deploy unreviewed branches with the environment's execution policies, so adding
    them, previewing more branches or another environment changes the recorded source, which the
    Recompile build refuses (MC264) until a person deploys the pipeline."""
    from manifestc.guard import source_value

    plain = _compile(write_manifest, deploy_to=None).manifest
    previews = _compile(write_manifest).manifest
    assert "previews" not in source_value(plain)
    assert source_value(previews) != source_value(plain)
    assert '"deploy_to":"dev"' in source_value(previews)
    wider = _compile(write_manifest, source={**CODECOMMIT}).manifest
    assert source_value(wider) == source_value(previews)


# --- review 1: imports, other owners' stacks, approval-gated neighbours, previews' own names -------------

TAG = "manifestc:ephemeral"


@pytest.mark.parametrize("role, prefix", [("FeatureRole", "demo-service-preview-"), ("TestContractRole", None)])
def test_import_change_sets_are_denied_even_through_the_role_with_the_tag(write_manifest, role, prefix):
    tests = [{"name": "unit"}, {"name": "contract", "commands": ["pytest"], "ephemeral_stack": "app"}]
    template = _template(write_manifest, tests=tests)
    identity, boundary = _statements(template, role), _boundary(template)
    prefix = prefix or "demo-service-test-contract-"
    stack = _stack(prefix + "x-app")
    create = {"cloudformation:RoleArn": EXEC_ROLE, f"aws:RequestTag/{TAG}": prefix}
    assert effective(identity, boundary, "cloudformation:CreateChangeSet", stack, create)
    # an IMPORT change set (cloudformation:ImportResourceTypes present) adopting, say, prod's table
    imported = {**create, "cloudformation:ImportResourceTypes": "AWS::DynamoDB::Table"}
    assert not effective(identity, boundary, "cloudformation:CreateChangeSet", stack, imported)
    # and a change set that does not tag the stack as this prefix's
    for tag in ({}, {f"aws:RequestTag/{TAG}": "other-pipeline-preview-"}):
        untagged = {"cloudformation:RoleArn": EXEC_ROLE, **tag}
        assert not effective(identity, boundary, "cloudformation:CreateChangeSet", stack, untagged)


def test_a_stack_under_the_prefix_owned_by_another_pipeline_cannot_be_changed_or_deleted(write_manifest):
    """Pipeline `demo-service-preview-tools` deploys `demo-service-preview-tools-dev` and its own previews
    `demo-service-preview-tools-preview-…` (tagged so): demo-service's feature build cannot touch them."""
    template = _template(write_manifest)
    identity, boundary = _statements(template, "FeatureRole"), _boundary(template)
    own = "demo-service-preview-"
    theirs = _stack("demo-service-preview-tools-preview-x-1-app")
    foreign = {f"aws:ResourceTag/{TAG}": "demo-service-preview-tools-preview-", "cloudformation:RoleArn": EXEC_ROLE}
    for action in ("CreateChangeSet", "ExecuteChangeSet", "DeleteChangeSet", "DeleteStack"):
        context = {**foreign, f"aws:RequestTag/{TAG}": own}
        assert not effective(identity, boundary, f"cloudformation:{action}", theirs, context), action
        mine = {**context, f"aws:ResourceTag/{TAG}": own}
        assert effective(identity, boundary, f"cloudformation:{action}", theirs, mine), action
    # an untagged stack under the prefix (another pipeline's environment stack) cannot be deleted
    untagged = {"cloudformation:RoleArn": EXEC_ROLE}
    assert not effective(
        identity, boundary, "cloudformation:DeleteStack", _stack("demo-service-preview-tools-dev"), untagged
    )


def test_previews_beside_an_approval_gated_environment_are_refused(write_manifest):
    gated = [{"name": "dev"}, {"name": "prod", "approval": {"notify_emails": ["leads@example.com"]}}]
    result = _compile(write_manifest, environments=gated)
    assert _errors(result) == [("MC393", "source.feature_branches.deploy_to")]
    assert "`prod`" in result.diagnostics[0].message and result.diagnostics[0].line > 0
    assert "account" in result.diagnostics[0].hint
    # prod in its own account: previews deploy beside dev only
    apart = [{"name": "dev"}, {**gated[1], "account": "222222222222"}]
    assert not _errors(_compile(write_manifest, environments=apart, account=ACCOUNT))
    # test stacks alone run reviewed code in the pipeline: not refused
    tests = [{"name": "unit"}, {"name": "contract", "commands": ["pytest"], "ephemeral_stack": "app"}]
    assert not _errors(_compile(write_manifest, environments=gated, deploy_to=None, tests=tests))


def _words_in_bash(words: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {words}"], env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")
def test_environment_renders_as_the_ephemeral_stacks_own_name_in_the_build(write_manifest):
    tests = [{"name": "unit"}, {"name": "contract", "commands": ["pytest"], "ephemeral_stack": "app"}]
    targets = [{**TARGETS[0], "parameters": {"Stage": "{environment}", "Table": "orders-{environment}-{region}"}}]
    resources = _template(write_manifest, tests=tests, targets=targets)["Resources"]
    preview = next(
        c for c in _buildspec(resources["FeatureProject"])["phases"]["build"]["commands"] if "deploy --stack" in c
    )
    slug = branch_slug("feature/x")
    env = {"PREVIEW_SLUG": slug, "AWS_REGION": REGION, "CODEBUILD_BUILD_NUMBER": "7"}
    assert _words_in_bash(preview.split("--parameter-overrides ", 1)[1], env) == [
        f"Stage=dev-preview-{slug}",
        f"Table=orders-dev-preview-{slug}-{REGION}",
    ]
    suite = _buildspec(resources["TestContractProject"])["phases"]["build"]["commands"][1]
    assert _words_in_bash(suite.split("--parameter-overrides ", 1)[1], env) == [
        "Stage=test-contract-7",
        f"Table=orders-test-contract-7-{REGION}",
    ]


FAKE_AWS = """#!/bin/bash
echo "$*" >> "$CALLS"
case "$1 $2" in
  "cloudformation describe-stacks") [ -n "$DESCRIBE_ERROR" ] && { echo "$DESCRIBE_ERROR" >&2; exit 254; }; exit 0 ;;
esac
exit 0
"""


@pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")
@pytest.mark.parametrize(
    "error, code, deleted",
    [
        ("", 0, True),
        (
            "An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id x does not exist",
            0,
            False,
        ),
        ("An error occurred (AccessDenied) when calling the DescribeStacks operation", 1, False),
    ],
)
def test_the_teardown_deletes_an_existing_stack_skips_a_missing_one_and_fails_otherwise(
    write_manifest, tmp_path, error, code, deleted
):
    commands = _buildspec(_template(write_manifest)["Resources"]["PreviewTeardownProject"])["phases"]["build"][
        "commands"
    ]
    fake = tmp_path / "aws"
    fake.write_text(FAKE_AWS)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "CALLS": str(calls), "DESCRIBE_ERROR": error, "BRANCH": "feature/x"}
    env["EPHEMERAL_ROLE_ARN"] = EXEC_ROLE
    out = subprocess.run(["bash", "-ec", "\n".join(commands)], env=env, capture_output=True, text=True)
    assert (out.returncode != 0) == bool(code), out.stderr
    assert any(line.startswith("cloudformation delete-stack") for line in calls.read_text().splitlines()) == deleted


def test_a_pipeline_under_another_pipelines_ephemeral_prefix_fails_the_build(tmp_path):
    from conftest import build_manifests

    one = with_changes(MINIMAL, environments=ENVIRONMENTS, targets=TARGETS)
    tools = with_changes(one, name="demo-service-preview-tools")  # stacks demo-service-preview-tools-dev, -prod
    apart = with_changes(one, name="demo-service-previews")  # not under `demo-service-preview-`
    outputs, report = build_manifests(tmp_path, one, tools, apart)
    found = [d for d in report.diagnostics if d.code == "MC394"]
    assert [(d.file, d.path) for d in found] == [
        ("out/demo-service-preview-tools/pipeline.yaml", ("demo-service-preview-tools",))
    ]
    assert "`demo-service-preview-`" in found[0].message and "demo-service" in found[0].hint
    # the offending pipeline is not written (as for MC502/MC641); the others are
    assert not any(name.startswith("demo-service-preview-tools/") for name in outputs)
    assert "demo-service/pipeline.yaml" in outputs and "demo-service-previews/pipeline.yaml" in outputs
    # a stack (not the name) under another pipeline's test prefix
    other = with_changes(one, name="billing", targets=[{**TARGETS[0], "stack": "demo-service-test-{environment}"}])
    (tmp_path / "second").mkdir()
    _, report = build_manifests(tmp_path / "second", one, other)
    found = [d for d in report.diagnostics if d.code == "MC394"]
    assert [d.path for d in found] == [("billing",)]  # one finding per pair of pipelines
    assert "stack `demo-service-test-dev`" in found[0].message
