"""Custom deploy steps: `commands` targets (a CodeBuild job per environment with a declared role)."""

from __future__ import annotations

import json

import pytest
from conftest import MINIMAL, with_changes
from iam_sim import effective as _effective
from iam_sim import resolve
from manifestc.api import check_manifest, compile_manifest
from manifestc.check.handlers import role_statements

TOOLING = "111111111111"
PROD = "222222222222"
ROLE = "arn:aws:iam::{account}:role/terraform-deployer"


def effective(identity, boundary, action, resource, context=None) -> bool:
    """As the callers here call: the pipeline's own roles (under /manifestc/demo-service/), which the
    boundary treats apart from application roles (aws:PrincipalArn)."""
    principal = {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/manifestc/demo-service/demo-service-Role-X"}
    return _effective(identity, boundary, action, resource, {**principal, **(context or {})})


def errors(result):
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def _commands(**fields) -> dict:
    target = {"name": "infra", "type": "commands", "commands": ["terraform apply -auto-approve"], "role": ROLE}
    target.update(fields)
    return {k: v for k, v in target.items() if v is not None}


def _manifest(*targets, environments=None, **changes) -> str:
    environments = environments or [{"name": "staging"}, {"name": "prod", "approval": True}]
    return with_changes(MINIMAL, targets=list(targets), environments=environments, **changes)


CROSS = {
    "account": TOOLING,
    "region": "eu-west-1",
    "environments": [
        {"name": "staging"},
        {"name": "prod", "account": PROD, "approval": True, "regions": ["eu-west-1", "us-east-1"]},
    ],
}


def _compile(write_manifest, *targets, **changes):
    result = compile_manifest(write_manifest(_manifest(*targets, **changes)), lint=False)
    assert not errors(result), result.diagnostics
    return result


def _stage(template, name):
    stages = template["Resources"]["Pipeline"]["Properties"]["Stages"]
    return next(s for s in stages if s["Name"] == name)


def _variables(action) -> dict:
    text = action["Configuration"].get("EnvironmentVariables", "[]")
    text = text["Fn::Sub"] if isinstance(text, dict) else text
    return {v["name"]: v["value"] for v in json.loads(text)}


def _project_env(template, logical_id) -> dict:
    env = template["Resources"][logical_id]["Properties"]["Environment"]["EnvironmentVariables"]
    return {v["Name"]: resolve(v["Value"], {"AWS::AccountId": TOOLING}) for v in env}


def _arns(template) -> dict:
    return {"AWS::AccountId": TOOLING, "AWS::Partition": "aws", "AWS::Region": "eu-west-1"}


def _boundary(template):
    statements = template["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"]
    return resolve(statements, _arns(template))


def test_commands_run_in_each_environment_stage_after_its_approval(write_manifest):
    result = _compile(write_manifest, _commands(), **CROSS)
    template = result.templates["pipeline.yaml"]
    staging = _stage(template, "staging")
    assert [a["Name"] for a in staging["Actions"]] == ["infra-deploy"]
    [action] = staging["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeBuild"
    assert action["InputArtifacts"] == [{"Name": "BuildOutput"}]
    assert action["Configuration"]["ProjectName"] == {"Ref": "CommandsStagingInfraProject"}
    prod = _stage(template, "prod")
    orders = {a["Name"]: a["RunOrder"] for a in prod["Actions"]}
    # one action per region, in parallel, after the approval
    assert orders == {"approve": 1, "infra-eu-west-1-deploy": 2, "infra-us-east-1-deploy": 2}
    regions = [_variables(a)["REGION"] for a in prod["Actions"] if a["Name"] != "approve"]
    assert regions == ["eu-west-1", "us-east-1"]


def test_environment_region_and_account_are_set_and_the_sdk_follows_them(write_manifest):
    template = _compile(write_manifest, _commands(), **CROSS).templates["pipeline.yaml"]
    env = _project_env(template, "CommandsProdInfraProject")
    assert env["ENVIRONMENT"] == "prod" and env["ACCOUNT"] == PROD and env["REGION"] == "eu-west-1"
    assert env["DEPLOY_ROLE_ARN"] == f"arn:aws:iam::{PROD}:role/terraform-deployer"
    assert _project_env(template, "CommandsStagingInfraProject")["ACCOUNT"] == TOOLING
    spec = template["Resources"]["CommandsProdInfraProject"]["Properties"]["Source"]["BuildSpec"]
    install = spec.split("build:")[0]
    assert 'export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"' in install
    assert "credential_source = EcsContainer" in install and "export AWS_PROFILE=deploy" in install
    assert "terraform apply -auto-approve" in spec.split("build:")[1]


def test_a_named_role_is_assumed_and_nothing_else(write_manifest):
    template = _compile(write_manifest, _commands(), **CROSS).templates["pipeline.yaml"]
    statements = resolve(role_statements(template, "CommandsProdInfraRole"), _arns(template))
    assumes = [s for s in statements if "sts:AssumeRole" in s["Action"]]
    assert assumes == [
        {
            "Effect": "Allow",
            "Action": ["sts:AssumeRole"],
            "Resource": [f"arn:aws:iam::{PROD}:role/terraform-deployer"],
            "Sid": "AssumeDeclaredRole",
        }
    ]
    boundary = _boundary(template)
    # the boundary lets exactly the named roles through (it denies every other role outside the
    # pipeline's paths), and the job role carries it
    assert template["Resources"]["CommandsProdInfraRole"]["Properties"]["PermissionsBoundary"] == {
        "Ref": "PermissionsBoundary"
    }
    assert effective(statements, boundary, "sts:AssumeRole", f"arn:aws:iam::{PROD}:role/terraform-deployer")
    greedy = [{"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": "*"}]
    assert not effective(greedy, boundary, "sts:AssumeRole", f"arn:aws:iam::{PROD}:role/OrganizationAccountAccessRole")
    assert not effective(statements, boundary, "sts:AssumeRole", f"arn:aws:iam::{PROD}:role/other")


def test_permissions_in_the_same_account_go_on_the_job_role(write_manifest):
    target = _commands(
        role=None,
        permissions={
            "statements": [
                {
                    "actions": ["secretsmanager:GetSecretValue"],
                    "resources": ["arn:aws:secretsmanager:{region}:{account}:secret:db-{environment}-*"],
                }
            ]
        },
    )
    template = _compile(write_manifest, target, **CROSS).templates["pipeline.yaml"]
    statements = resolve(role_statements(template, "CommandsStagingInfraRole"), _arns(template))
    declared = [s for s in statements if s.get("Sid") == "Declared1"]
    assert declared == [
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [f"arn:aws:secretsmanager:eu-west-1:{TOOLING}:secret:db-staging-*"],
            "Sid": "Declared1",
        }
    ]
    assert not [s for s in statements if "sts:AssumeRole" in s["Action"]]
    spec = template["Resources"]["CommandsStagingInfraProject"]["Properties"]["Source"]["BuildSpec"]
    assert "AWS_PROFILE" not in spec  # its own credentials


def test_permissions_in_another_account_are_a_bounded_role_of_its_bootstrap(write_manifest):
    target = _commands(
        role=None,
        permissions={
            "statements": [
                {
                    "actions": ["eks:DescribeCluster"],
                    "resources": ["arn:aws:eks:{region}:{account}:cluster/shop-{environment}"],
                }
            ]
        },
    )
    result = _compile(write_manifest, target, **CROSS)
    bootstrap = result.templates[f"bootstrap-{PROD}.yaml"]
    role = bootstrap["Resources"]["CommandsProdInfraRole"]["Properties"]
    assert role["RoleName"] == "demo-service-prod-infra" and role["Path"] == "/manifestc/demo-service/"
    assert role["PermissionsBoundary"] == {"Ref": "PermissionsBoundary"}
    attrs = {"AWS::AccountId": PROD, "AWS::Partition": "aws"}
    [statement] = resolve(role["Policies"][0]["PolicyDocument"]["Statement"], attrs)
    assert statement["Action"] == ["eks:DescribeCluster"]
    assert statement["Resource"] == [
        f"arn:aws:eks:eu-west-1:{PROD}:cluster/shop-prod",
        f"arn:aws:eks:us-east-1:{PROD}:cluster/shop-prod",
    ]
    [trust] = resolve(role["AssumeRolePolicyDocument"]["Statement"], attrs)
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{TOOLING}:root"}
    assert trust["Condition"] == {
        "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{TOOLING}:role/manifestc/demo-service/*"}
    }
    pipeline = result.templates["pipeline.yaml"]
    statements = resolve(role_statements(pipeline, "CommandsProdInfraRole"), _arns(pipeline))
    created = f"arn:aws:iam::{PROD}:role/manifestc/demo-service/demo-service-prod-infra"
    assert [s["Resource"] for s in statements if "sts:AssumeRole" in s["Action"]] == [[created]]
    assert effective(statements, _boundary(pipeline), "sts:AssumeRole", created)
    assert "eks:DescribeCluster" not in json.dumps(statements)  # the tooling job itself gets none


def test_env_values_are_rendered_per_environment_and_region(write_manifest):
    target = _commands(env={"STATE_KEY": "{name}/{environment}/{region}", "TF_IN_AUTOMATION": 1})
    template = _compile(write_manifest, target, **CROSS).templates["pipeline.yaml"]
    [staging] = _stage(template, "staging")["Actions"]
    assert _variables(staging) == {"STATE_KEY": "demo-service/staging/eu-west-1", "TF_IN_AUTOMATION": "1"}
    prod = [_variables(a) for a in _stage(template, "prod")["Actions"] if a["Name"] != "approve"]
    assert [v["STATE_KEY"] for v in prod] == ["demo-service/prod/eu-west-1", "demo-service/prod/us-east-1"]


def test_image_and_compute_default_to_the_build(write_manifest):
    template = _compile(write_manifest, _commands(), **CROSS).templates["pipeline.yaml"]
    build = template["Resources"]["BuildProject"]["Properties"]["Environment"]
    step = template["Resources"]["CommandsStagingInfraProject"]["Properties"]["Environment"]
    assert (step["Image"], step["ComputeType"]) == (build["Image"], build["ComputeType"])
    custom = _commands(image="public.ecr.aws/hashicorp/terraform:1.9", compute="large")
    template = _compile(write_manifest, custom, **CROSS).templates["pipeline.yaml"]
    step = template["Resources"]["CommandsStagingInfraProject"]["Properties"]["Environment"]
    assert (step["Image"], step["ComputeType"]) == ("public.ecr.aws/hashicorp/terraform:1.9", "BUILD_GENERAL1_LARGE")
    spec = template["Resources"]["CommandsStagingInfraProject"]["Properties"]["Source"]["BuildSpec"]
    assert "runtime-versions" not in spec  # a custom image: not the preset's runtimes


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"permissions": {"statements": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/*"]}]}},
            [("MC233", "targets[0]")],
        ),
        ({"role": f"arn:aws:iam::{TOOLING}:role/terraform-deployer"}, [("MC234", "targets[0].role")]),
        ({"role": "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"}, [("MC235", "targets[0].role")]),
        # the build/tests checks (README "Permissions of builds and tests") apply to commands grants
        (
            {"role": None, "permissions": {"statements": [{"actions": ["*"], "resources": ["arn:aws:s3:::b/*"]}]}},
            [("MC225", "targets[0].permissions.statements[0].actions[0]")],
        ),
        (
            {"role": None, "permissions": {"statements": [{"actions": ["s3:GetObject", "s3:*"], "resources": ["*"]}]}},
            [
                ("MC225", "targets[0].permissions.statements[0].actions[1]"),
                ("MC225", "targets[0].permissions.statements[0].resources[0]"),
            ],
        ),
        (
            {"role": None, "permissions": {"statements": [{"actions": ["s3:GetObjekt"], "resources": ["*"]}]}},
            [("MC223", "targets[0].permissions.statements[0].actions[0]")],
        ),
        (
            {"role": None, "permissions": {"statements": [{"actions": ["s3:GetObject"], "resources": ["bucket/*"]}]}},
            [("MC224", "targets[0].permissions.statements[0].resources[0]")],
        ),
        (
            {"role": None, "permissions": {"managed_policies": ["arn:aws:iam::aws:policy/AdministratorAccess"]}},
            [("MC226", "targets[0].permissions.managed_policies[0]")],
        ),
        (
            {
                "role": None,
                "permissions": {
                    "statements": [{"actions": ["iam:PassRole"], "resources": ["arn:aws:iam::{account}:role/x"]}]
                },
            },
            [
                ("MC225", "targets[0].permissions.statements[0].actions[0]"),
                ("MC226", "targets[0].permissions.statements[0].resources[0]"),
            ],
        ),
        (
            {
                "role": None,
                "permissions": {"statements": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::{stage}/*"]}]},
            },
            [("MC208", "targets[0].permissions.statements[0].resources[0]")],
        ),
        (
            {
                "role": None,
                "permissions": {"statements": [{"actions": ["s3:*"], "resources": ["*"]}]},
                "broad_permissions": True,
            },
            [
                ("MC225", "targets[0].permissions.statements[0].actions[0]"),
                ("MC331", "targets[0].broad_permissions"),
            ],
        ),
        ({"role": None, "permissions": {}}, [("MC333", "targets[0].permissions")]),
        (
            {"role": None, "permissions": {"managed_policies": [f"arn:aws:iam::{PROD}:policy/deployer"]}},
            [("MC332", "targets[0].permissions.managed_policies[0]")],  # staging runs in the tooling account
        ),
        (
            {"env": {"REGION": "x", "CODEBUILD_X": "y"}},
            [("MC236", "targets[0].env.CODEBUILD_X"), ("MC236", "targets[0].env.REGION")],
        ),
        ({"env": {"X": "{stage}"}}, [("MC208", "targets[0].env.X")]),
        ({"template": "deploy/app.yaml"}, [("MC214", "targets[0].template")]),
    ],
)
def test_misused_commands_targets_are_located_errors(write_manifest, fields, expected):
    result = check_manifest(write_manifest(_manifest(_commands(**fields), **CROSS)))
    assert errors(result) == expected
    assert all(d.line > 0 and (d.hint or d.code in ("MC208", "MC224")) for d in result.diagnostics if d.is_error)


def test_broad_grants_compile_with_the_opt_in(write_manifest):
    grants = {
        "statements": [{"actions": ["s3:*"], "resources": ["*"]}],
        "allow_broad": "terraform manages every bucket",
    }
    result = check_manifest(write_manifest(_manifest(_commands(role=None, permissions=grants), **CROSS)))
    assert not errors(result)
    [target] = result.manifest.targets
    assert target.permissions.allow_broad == "terraform manages every bucket" and target.permissions.broad
    admin = {"role": "arn:aws:iam::{account}:role/cdk-deployer-admin", "broad_permissions": True}
    assert not errors(check_manifest(write_manifest(_manifest(_commands(**admin), **CROSS))))


def test_a_literal_role_account_needs_the_pipeline_account(write_manifest):
    text = _manifest(_commands(role="arn:aws:iam::123456789012:role/deployer"))
    [finding] = [d for d in check_manifest(write_manifest(text)).diagnostics if d.is_error]
    assert finding.code == "MC234" and "top-level `account`" in finding.hint


def test_a_created_role_name_must_fit_iam(write_manifest):
    long_target = _commands(
        name="database-migrations-of-orders",
        role=None,
        permissions={
            "statements": [
                {"actions": ["rds:DescribeDBInstances"], "resources": ["arn:aws:rds:{region}:{account}:db:*"]}
            ]
        },
    )
    changes = dict(CROSS, name="a-rather-long-pipeline-name-for-orders")
    result = check_manifest(write_manifest(_manifest(long_target, **changes)))
    assert errors(result) == [("MC237", "targets[0].name")]


def test_recompile_refuses_a_commit_that_changes_the_roles_commands_assume(tmp_path):
    """A named role goes into the permissions boundary, which the self-update role may not change:
    Recompile refuses the commit (MC264) instead of letting the stack update fail; a commit that
    leaves the boundary alone goes through."""
    import shutil

    from manifestc import __version__
    from manifestc.recompile import recompile
    from test_selfupdate import ARTIFACT_BUCKET, _checkout, _pipeline, _update_commands

    def manifest(role, **extra):
        return _manifest(_commands(role=role), **dict(CROSS, **extra))

    repo = _checkout(tmp_path, manifest(ROLE))
    deployed = _update_commands(_pipeline(repo / "manifest.yaml", repo))[1]["MANIFESTC_DEPLOYED_BOUNDARY"]
    out = repo / ".manifestc-selfupdate"

    def run(text):
        (repo / "manifest.yaml").write_text(text)
        shutil.rmtree(out, ignore_errors=True)
        return recompile(
            repo / "manifest.yaml",
            repo_root=repo,
            pipeline="demo-service",
            deployed_toolchain=f"manifestc=={__version__}",
            artifact_bucket=ARTIFACT_BUCKET,
            out=out,
            region="eu-west-1",
            account=TOOLING,
            probe=lambda host: True,
            deployed_boundary=deployed,
        )

    outcome = run(manifest("arn:aws:iam::{account}:role/other-deployer"))
    [refusal] = [d for d in outcome.diagnostics if d.is_error]
    assert refusal.code == "MC264" and "permissions boundary" in refusal.message and not out.exists()
    assert not run(manifest(ROLE, team="payments")).failed
    assert (out / "pipeline.yaml").is_file()


def test_deploy_plan_lists_each_named_role_with_the_trust_it_needs(tmp_path, write_manifest):
    from manifestc.api import build
    from manifestc.deployplan import deploy_plan

    path = write_manifest(_manifest(_commands(), **CROSS))
    report = build([str(path)], tmp_path / "out", lint=False)
    assert not report.failed()
    steps = [s for s in deploy_plan(tmp_path / "out") if s.command.startswith("aws iam get-role")]
    assert [(s.where, s.command) for s in steps] == [
        (f"account {TOOLING}", "aws iam get-role --role-name terraform-deployer --query Role.AssumeRolePolicyDocument"),
        (f"account {PROD}", "aws iam get-role --role-name terraform-deployer --query Role.AssumeRolePolicyDocument"),
    ]
    assert f"arn:aws:iam::{TOOLING}:role/manifestc/demo-service/*" in steps[1].title


def test_the_target_accounts_boundary_does_not_let_its_roles_assume_the_named_role(write_manifest):
    """Only the job in the tooling account assumes the named role: the boundary of
    bootstrap-<account>.yaml keeps denying it to the target account's roles."""
    bootstrap = _compile(write_manifest, _commands(), **CROSS).templates[f"bootstrap-{PROD}.yaml"]
    statements = bootstrap["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"]
    boundary = resolve(statements, {"AWS::AccountId": PROD, "AWS::Partition": "aws"})
    greedy = [{"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": "*"}]
    assert not effective(greedy, boundary, "sts:AssumeRole", f"arn:aws:iam::{PROD}:role/terraform-deployer")
    own = f"arn:aws:iam::{PROD}:role/manifestc/demo-service/demo-service-deploy"
    assert effective(greedy, boundary, "sts:AssumeRole", own)


def test_two_environments_of_one_account_may_assume_one_role(write_manifest):
    """A role is assumed, not deployed: staging and prod in one account naming the same role is no
    MC280 (it raised KeyError 'assumed role' in the collision check before)."""
    result = compile_manifest(write_manifest(_manifest(_commands(), account=TOOLING, region="eu-west-1")), lint=False)
    assert errors(result) == [], result.diagnostics
    template = result.templates["pipeline.yaml"]
    assert {"CommandsStagingInfraProject", "CommandsProdInfraProject"} <= set(template["Resources"])


def test_the_old_list_shape_is_a_located_error_naming_the_new_one(write_manifest):
    old = _commands(role=None, permissions=[{"actions": ["s3:GetObjekt"], "resources": ["arn:aws:s3:::b/*"]}])
    result = check_manifest(write_manifest(_manifest(old, **CROSS)))
    # MC330 at the list (a validate-phase error: the semantics checks run once the shape is fixed)
    assert errors(result) == [("MC330", "targets[0].permissions")]
    [mc330] = [d for d in result.diagnostics if d.code == "MC330"]
    assert mc330.line > 0 and "statements:" in mc330.hint and "allow_broad" in mc330.hint


def test_deny_statements_and_managed_policies_reach_the_role_the_job_uses(write_manifest):
    grants = {
        "statements": [
            {"actions": ["s3:GetObject", "s3:PutObject"], "resources": ["arn:aws:s3:::state-{environment}/*"]},
            {"effect": "Deny", "actions": ["s3:DeleteObject"], "resources": ["arn:aws:s3:::state-{environment}/*"]},
        ],
        "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    }
    result = _compile(write_manifest, _commands(role=None, permissions=grants), **CROSS)
    # same account (staging): the job's own role
    template = result.templates["pipeline.yaml"]
    role = template["Resources"]["CommandsStagingInfraRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"}]
    statements = resolve(role_statements(template, "CommandsStagingInfraRole"), _arns(template))
    assert effective(statements, None, "s3:PutObject", "arn:aws:s3:::state-staging/x")
    assert not effective(statements, None, "s3:DeleteObject", "arn:aws:s3:::state-staging/x")
    # another account (prod): the role its bootstrap creates
    prod = result.templates[f"bootstrap-{PROD}.yaml"]["Resources"]["CommandsProdInfraRole"]["Properties"]
    assert prod["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"}]
    attrs = {"AWS::AccountId": PROD, "AWS::Partition": "aws"}
    statements = resolve(prod["Policies"][0]["PolicyDocument"]["Statement"], attrs)
    assert effective(statements, None, "s3:PutObject", "arn:aws:s3:::state-prod/x")
    assert not effective(statements, None, "s3:DeleteObject", "arn:aws:s3:::state-prod/x")


def test_a_commands_opt_in_is_reported_in_build_json_per_environment(tmp_path, write_manifest):
    from manifestc import api

    reason = "terraform manages every bucket of the account"
    grants = {"statements": [{"actions": ["s3:*"], "resources": ["*"]}], "allow_broad": reason}
    path = write_manifest(_manifest(_commands(role=None, permissions=grants), account=TOOLING))
    out = tmp_path / "out"
    report = api.build([str(path)], out, lint=False)
    assert not report.failed(), report.all_diagnostics()
    record = json.loads((out / "demo-service" / "build.json").read_text())["permissions"]
    assert [r["project"] for r in record] == ["demo-service-commands-staging-infra", "demo-service-commands-prod-infra"]
    assert all(r["allow_broad"] == reason and r["broad"] for r in record)


def test_commands_that_call_no_aws_api_need_neither_role_nor_permissions(write_manifest):
    flyway = _commands(role=None, commands=["flyway -url=jdbc:postgresql://db-$ENVIRONMENT/app migrate"])
    result = _compile(write_manifest, flyway, **CROSS)
    assert [d.code for d in result.diagnostics if d.code != "MC272"] == []  # (MC272: CROSS's silent approval)
    template = result.templates["pipeline.yaml"]
    for env in ("Staging", "Prod"):
        statements = resolve(role_statements(template, f"Commands{env}InfraRole"), _arns(template))
        # the job only reads its inputs (the artifact bucket and key) and writes its logs
        assert {s["Sid"] for s in statements} == {"ArtifactObjects", "ArtifactBucket", "ArtifactKey", "BuildLogs"}
        assert not effective(statements, _boundary(template), "sts:AssumeRole", f"arn:aws:iam::{PROD}:role/x")
        assert not effective(statements, _boundary(template), "rds:DescribeDBClusters", "*")
        spec = template["Resources"][f"Commands{env}InfraProject"]["Properties"]["Source"]["BuildSpec"]
        assert "AWS_PROFILE" not in spec and "flyway -url" in spec
        assert "DEPLOY_ROLE_ARN" not in _project_env(template, f"Commands{env}InfraProject")
    # in another account: no role of the target's in its bootstrap, the job still works there by name
    assert _project_env(template, "CommandsProdInfraProject")["ACCOUNT"] == PROD
    bootstrap = result.templates[f"bootstrap-{PROD}.yaml"]["Resources"]
    assert "CommandsProdInfraRole" not in bootstrap
    assert "demo-service-prod-infra" not in json.dumps(bootstrap)
    assert not result.manifest.target("infra").permissions and not result.manifest.target("infra").role


def test_an_aws_tool_without_role_or_permissions_is_a_located_warning(write_manifest):
    target = _commands(role=None, commands=["echo migrating", "npx cdk deploy --all", "aws s3 ls"])
    result = check_manifest(write_manifest(_manifest(target, **CROSS)))
    [warning] = [d for d in result.diagnostics if d.code != "MC272"]
    assert (warning.code, warning.is_error, warning.dotted_path()) == ("MC698", False, "targets[0].commands[1]")
    assert warning.line > 0 and "permissions" in warning.hint
    # with a role (or permissions) the same commands are fine
    with_role = check_manifest(write_manifest(_manifest(_commands(commands=["aws s3 ls"]), **CROSS)))
    assert [d.code for d in with_role.diagnostics if d.code != "MC272"] == []


def test_both_role_and_permissions_is_mc233_with_the_hint_naming_neither(write_manifest):
    grants = {"statements": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::b/*"]}]}
    result = check_manifest(write_manifest(_manifest(_commands(permissions=grants), **CROSS)))
    [diagnostic] = [d for d in result.diagnostics if d.code != "MC272"]
    assert (diagnostic.code, diagnostic.dotted_path()) == ("MC233", "targets[0]")
    assert "at most one" in diagnostic.message and "need neither" in diagnostic.hint
    empty = check_manifest(write_manifest(_manifest(_commands(role=None, permissions={}), **CROSS)))
    [diagnostic] = [d for d in empty.diagnostics if d.code != "MC272"]
    assert (diagnostic.code, diagnostic.dotted_path()) == ("MC333", "targets[0].permissions")
    assert "remove `permissions`" in diagnostic.hint
