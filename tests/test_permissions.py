"""Declared IAM permissions of the build and test projects (`permissions`, README "Permissions of
builds and tests"): each grant lands on exactly its project's role, inside the boundary; broad
grants need a located opt-in; build.json reports them; Recompile never applies a widening."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import with_changes
from iam_sim import allowed, effective, resolve
from manifestc import __version__, api
from manifestc.guard import permissions_value
from manifestc.recompile import parse_permissions, recompile

ACCOUNT = "123456789012"
DISTRIBUTION = f"arn:aws:cloudfront::{ACCOUNT}:distribution/E1ABCDEF"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def _manifest(build_permissions=None, suite_permissions=None, **extra) -> str:
    build = {"permissions": build_permissions} if build_permissions is not None else {}
    suite = {"name": "e2e", "after": "staging", "commands": ["pytest e2e"]}
    if suite_permissions is not None:
        suite["permissions"] = suite_permissions
    return with_changes(build=build, tests=[{"name": "unit"}, suite], **extra)


def _compile(write_manifest, text: str):
    return api.compile_manifest(write_manifest(text), lint=False)


def _roles(result) -> dict[str, dict]:
    resources = result.templates["pipeline.yaml"]["Resources"]
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}


def _statements(role: dict) -> list[dict]:
    return [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def _errors(result) -> list[tuple[str, int, int, str]]:
    return [(d.code, d.line, d.col, d.message) for d in result.diagnostics]


def test_each_grant_is_on_exactly_its_projects_role(write_manifest):
    result = _compile(
        write_manifest,
        _manifest(
            {
                "managed_policies": [S3_READ],
                "statements": [{"actions": ["cloudfront:CreateInvalidation"], "resources": [DISTRIBUTION]}],
            },
            {"statements": [{"actions": ["kms:Encrypt", "kms:Decrypt"], "resources": [KEY]}]},
        ),
    )
    assert not result.failed(), _errors(result)
    roles = _roles(result)
    invalidates = {
        logical_id
        for logical_id, role in roles.items()
        if allowed(resolve(_statements(role)), "cloudfront:CreateInvalidation", DISTRIBUTION)
    }
    assert invalidates == {"BuildRole"}
    encrypts = {
        logical_id for logical_id, role in roles.items() if allowed(resolve(_statements(role)), "kms:Encrypt", KEY)
    }
    assert encrypts == {"TestE2eRole"}
    attached = {
        logical_id
        for logical_id, role in roles.items()
        if any(resolve(arn) == S3_READ for arn in role["Properties"].get("ManagedPolicyArns", []))
    }
    assert attached == {"BuildRole"}
    # the roles keep the pipeline's boundary, which still caps the grant
    assert roles["BuildRole"]["Properties"]["PermissionsBoundary"] == {"Ref": "PermissionsBoundary"}
    # written with the template's partition, never `arn:aws:`
    text = json.dumps(roles["BuildRole"])
    assert "arn:aws:cloudfront" not in text and "arn:${AWS::Partition}:cloudfront" in text


def test_the_boundary_caps_a_broad_grant_accepted_with_a_reason(write_manifest):
    reason = "integration tests create and delete throwaway IAM users"
    result = _compile(
        write_manifest,
        _manifest(
            {
                "statements": [{"actions": ["iam:CreateUser", "s3:GetObject"], "resources": ["*"]}],
                "allow_broad": reason,
            }
        ),
    )
    assert not result.failed(), _errors(result)
    template = result.templates["pipeline.yaml"]
    boundary = resolve(template["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"])
    identity = resolve(_statements(_roles(result)["BuildRole"]))
    anything = "arn:aws:s3:::any-bucket/key"
    assert effective(identity, boundary, "s3:GetObject", anything)
    # granted, and still denied by the boundary: a committer cannot create users through the build
    assert allowed(identity, "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x")
    assert not effective(identity, boundary, "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/x")


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        ({"actions": ["*"], "resources": ["*"]}, "action `*`"),
        ({"actions": ["s3:*"], "resources": ["arn:aws:s3:::bucket/*"]}, "action `s3:*`"),
        ({"actions": ["iam:PassRole"], "resources": ["*"]}, "IAM write action `iam:PassRole`"),
        ({"actions": ["s3:GetObject"], "resources": ["*"]}, "resource `*` for s3:getobject"),
        (
            {"actions": ["dynamodb:GetItem"], "resources": ["arn:aws:dynamodb:*:*:*"]},
            "resource `arn:aws:dynamodb:*:*:*`",
        ),
    ],
)
def test_a_broad_grant_without_opt_in_is_a_located_error(write_manifest, statement, words):
    result = _compile(write_manifest, _manifest({"statements": [statement]}))
    [error] = [d for d in result.diagnostics if d.is_error]
    assert error.code == "MC225" and words in error.message, error.message
    assert error.path[:4] == ("build", "permissions", "statements", 0)
    assert "allow_broad" in error.hint
    # located at the offending entry's own line
    item = statement[error.path[4]][error.path[5]]
    located = open(result.file).read().splitlines()[error.line - 1]
    assert located.strip().startswith("- ") and item in located, (located, error.path)


def test_a_broad_managed_policy_needs_the_opt_in_and_admin_is_never_attached(write_manifest):
    result = _compile(write_manifest, _manifest({"managed_policies": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]}))
    assert [d.code for d in result.diagnostics] == ["MC225"]
    assert result.diagnostics[0].path == ("build", "permissions", "managed_policies", 0)
    for name in ("AdministratorAccess", "IAMFullAccess"):
        result = _compile(
            write_manifest,
            _manifest({"managed_policies": [f"arn:aws:iam::aws:policy/{name}"], "allow_broad": "we really want it"}),
        )
        assert "MC226" in [d.code for d in result.diagnostics if d.is_error], name


def test_a_resource_free_action_may_use_star(write_manifest):
    # ecr:GetAuthorizationToken and cloudfront:ListDistributions accept only "*" (Service Authorization Reference)
    result = _compile(
        write_manifest,
        _manifest(
            {
                "statements": [
                    {"actions": ["ecr:GetAuthorizationToken", "cloudfront:ListDistributions"], "resources": ["*"]}
                ]
            }
        ),
    )
    assert not result.diagnostics, _errors(result)


def test_opt_in_is_reported_in_build_json(tmp_path, write_manifest):
    reason = "the smoke test lists every bucket of the account"
    path = write_manifest(
        _manifest(
            None,
            {"statements": [{"actions": ["s3:GetObject"], "resources": ["*"]}], "allow_broad": reason},
        )
    )
    out = tmp_path / "out"
    report = api.build([str(path)], out, lint=False)
    assert not report.failed(), report.all_diagnostics()
    record = json.loads((out / "demo-service" / "build.json").read_text())["permissions"]
    [suite] = record
    assert suite["project"] == "demo-service-test-e2e"
    assert suite["allow_broad"] == reason
    assert suite["broad"] and "resource `*`" in suite["broad"][0]
    assert suite["statements"] == [{"effect": "Allow", "actions": ["s3:GetObject"], "resources": ["*"]}]


@pytest.mark.parametrize(
    ("statement", "code", "words", "hint"),
    [
        (
            {"actions": ["cloudfront:CreateInvalidaton"], "resources": [DISTRIBUTION]},
            "MC223",
            "no cloudfront action",
            "createinvalidation",
        ),
        (
            {"actions": ["cloudfrnt:CreateInvalidation"], "resources": [DISTRIBUTION]},
            "MC223",
            "not a service prefix",
            "cloudfront:",
        ),
        ({"actions": ["CreateInvalidation"], "resources": [DISTRIBUTION]}, "MC223", "not an IAM action", None),
        ({"actions": ["s3:Frobnicate*"], "resources": ["arn:aws:s3:::b/*"]}, "MC223", "no s3 action", None),
        ({"actions": ["s3:GetObject"], "resources": ["my-bucket/*"]}, "MC224", "neither an ARN", None),
        (
            {"actions": ["sts:AssumeRole"], "resources": [f"arn:aws:iam::{ACCOUNT}:role/cdk-deploy"]},
            "MC226",
            "boundary denies sts:assumerole",
            "/manifestc-app/demo-service/",
        ),
        ({"actions": ["organizations:ListAccounts"], "resources": ["*"]}, "MC226", "denies every organizations", None),
    ],
)
def test_misdeclared_grants_are_located_errors(write_manifest, statement, code, words, hint):
    result = _compile(write_manifest, _manifest({"statements": [statement]}))
    found = [d for d in result.diagnostics if d.code == code]
    assert found, _errors(result)
    assert words in found[0].message, found[0].message
    assert found[0].line > 0 and found[0].path[:3] == ("build", "permissions", "statements")
    if hint:
        assert hint in (found[0].hint or ""), found[0].hint


def test_a_role_under_the_pipelines_path_may_be_assumed(write_manifest):
    role = "arn:aws:iam::210987654321:role/manifestc-app/demo-service/integration"
    result = _compile(write_manifest, _manifest({"statements": [{"actions": ["sts:AssumeRole"], "resources": [role]}]}))
    assert not result.diagnostics, _errors(result)
    template = result.templates["pipeline.yaml"]
    boundary = resolve(template["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"])
    assert effective(resolve(_statements(_roles(result)["BuildRole"])), boundary, "sts:AssumeRole", role)


def test_allow_broad_without_a_broad_grant_is_a_warning(write_manifest):
    result = _compile(
        write_manifest,
        _manifest(
            {
                "statements": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/*"]}],
                "allow_broad": "just in case",
            }
        ),
    )
    assert [(d.code, d.is_error, d.path) for d in result.diagnostics] == [
        ("MC227", False, ("build", "permissions", "allow_broad"))
    ]


def test_a_deny_statement_is_emitted_as_deny_and_never_broad(write_manifest):
    result = _compile(
        write_manifest,
        _manifest({"statements": [{"effect": "Deny", "actions": ["s3:*"], "resources": ["*"]}]}),
    )
    assert not result.diagnostics, _errors(result)
    [declared] = [s for s in _statements(_roles(result)["BuildRole"]) if s.get("Sid", "").startswith("Declared")]
    assert declared["Effect"] == "Deny" and declared["Action"] == ["s3:*"]


def test_recompile_refuses_a_commit_that_adds_or_changes_a_grant(tmp_path):
    """A committer must not widen what the pipeline's roles may do through the pipeline: the deployed
    Recompile project names a digest of each declared grant, and Recompile refuses a commit with a
    new or changed one (MC264); removing a grant, or any other change, goes through."""
    repo = tmp_path / "src"
    repo.mkdir()
    invalidate = {"actions": ["cloudfront:CreateInvalidation"], "resources": [DISTRIBUTION]}
    deployed_manifest = _manifest({"statements": [invalidate]}, account=ACCOUNT, region="eu-west-1")
    (repo / "manifest.yaml").write_text(deployed_manifest)
    deployed_result = api.compile_manifest(repo / "manifest.yaml", lint=False)
    deployed = permissions_value(deployed_result.manifest)
    update = deployed_result.templates["pipeline.yaml"]["Resources"]["UpdateProject"]
    variables = {v["Name"]: v["Value"] for v in update["Properties"]["Environment"]["EnvironmentVariables"]}
    assert variables["MANIFESTC_DEPLOYED_PERMISSIONS"] == deployed and deployed.startswith("build=")
    out = repo / ".manifestc-selfupdate"

    def run(build=None, suite=None, **extra):
        (repo / "manifest.yaml").write_text(_manifest(build, suite, account=ACCOUNT, region="eu-west-1", **extra))
        shutil.rmtree(out, ignore_errors=True)
        return recompile(
            repo / "manifest.yaml",
            repo_root=repo,
            pipeline="demo-service",
            deployed_toolchain=f"manifestc=={__version__}",
            artifact_bucket="artifacts",
            out=out,
            region="eu-west-1",
            account=ACCOUNT,
            probe=lambda host: True,
            deployed_permissions=parse_permissions(deployed),
        )

    wider = {"actions": ["cloudfront:CreateInvalidation", "cloudfront:GetDistribution"], "resources": [DISTRIBUTION]}
    for build, suite, words in (
        (
            {"statements": [invalidate], "managed_policies": [S3_READ]},
            None,
            "build.permissions adds or changes 1 grant",
        ),
        ({"statements": [wider]}, None, "build.permissions adds or changes 1 grant"),
        ({"statements": [invalidate]}, {"statements": [invalidate]}, "tests[e2e].permissions adds or changes 1 grant"),
    ):
        outcome = run(build, suite)
        [refusal] = [d for d in outcome.diagnostics if d.is_error]
        assert refusal.code == "MC264" and words in refusal.message, refusal.message
        assert not out.exists()
    assert not run({"statements": [invalidate]}, team="payments").failed  # same grants, other changes
    assert (out / "pipeline.yaml").is_file()
    assert not run(None).failed  # removing every grant narrows: applies by itself
    # a pipeline deployed before declared permissions existed (variable unset) had none
    assert parse_permissions(None) == {}


def test_feature_builds_and_gates_get_no_declared_grant(write_manifest):
    """Feature-branch builds run unmerged code, gates run pinned tools: neither gets the build's grants."""
    text = _manifest(
        {"statements": [{"actions": ["cloudfront:CreateInvalidation"], "resources": [DISTRIBUTION]}]},
        source={"repository": "demo-service", "feature_branches": {"patterns": ["feature/*"]}},
        quality_gates=["sast"],
    )
    result = _compile(write_manifest, text)
    assert not result.failed(), _errors(result)
    roles = _roles(result)
    assert {"FeatureRole", "GateSastRole", "BuildRole"} <= set(roles)
    granted = {
        logical_id
        for logical_id, role in roles.items()
        if allowed(resolve(_statements(role)), "cloudfront:CreateInvalidation", DISTRIBUTION)
    }
    assert granted == {"BuildRole"}
