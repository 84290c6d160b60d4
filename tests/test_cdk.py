"""cdk targets (issue 11 item 5): `cdk synth` in the build, asset publishing through the CDK
bootstrap publishing roles, each environment's stacks deployed with change sets in its account and
region (README "CDK applications")."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest
import yaml
from conftest import ROOT, with_changes
from iam_sim import effective, resolve
from manifestc.api import check_manifest, compile_manifest

TOOLING, PROD = "111111111111", "222222222222"
PSEUDO = {"AWS::AccountId": TOOLING, "AWS::Partition": "aws", "AWS::Region": "eu-west-1"}
APP = {"name": "app", "type": "cdk", "stacks": ["Data-{environment}", "Api-{environment}"]}
ENVS = [{"name": "staging"}, {"name": "prod", "account": PROD, "approval": {"notify_emails": ["ops@example.com"]}}]
BASE = """\
manifest: 1
name: shop-cdk
team: platform
language: cdk
account: "111111111111"
region: eu-west-1
source:
  repository: shop-cdk
"""


def _text(targets=None, environments=None, **changes) -> str:
    return with_changes(BASE, targets=targets or [APP], environments=environments or ENVS, **changes)


def _compile(write_manifest, *args, **changes):
    result = compile_manifest(write_manifest(_text(*args, **changes)), lint=False)
    assert not [d for d in result.diagnostics if d.is_error], result.diagnostics
    return result


def _problems(write_manifest, *args, **changes):
    result = check_manifest(write_manifest(_text(*args, **changes)))
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def _stage(template, name):
    [stage] = [s for s in template["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == name]
    return {a["Name"]: a for a in stage["Actions"]}


def _statements(template, role):
    return resolve(
        [s for p in template["Resources"][role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]],
        PSEUDO,
    )


def _boundary(template):
    return resolve(template["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"], PSEUDO)


def _principal(template, role):
    """The request context of a call by `role` of the template: its ARN, path included."""
    path = template["Resources"][role]["Properties"]["Path"]
    return {"aws:PrincipalArn": f"arn:aws:iam::{TOOLING}:role{path}shop-cdk-pipeline-{role}-ABC123"}


def _role(kind, account, region="eu-west-1", qualifier="hnb659fds"):
    return f"arn:aws:iam::{account}:role/cdk-{qualifier}-{kind}-role-{account}-{region}"


def _buildspec(template, project):
    return yaml.safe_load(template["Resources"][project]["Properties"]["Source"]["BuildSpec"])


def test_the_cdk_preset_synthesizes_and_the_cloud_assembly_is_the_artifact(write_manifest):
    template = _compile(write_manifest).templates["pipeline.yaml"]
    spec = _buildspec(template, "BuildProject")
    assert spec["phases"]["build"]["commands"] == ["npx cdk synth --no-lookups"]
    assert spec["phases"]["install"]["runtime-versions"] == {"nodejs": "20"}
    assert spec["artifacts"]["base-directory"] == "cdk.out"


def test_assets_are_published_then_change_sets_prepared_approved_and_executed_in_order(write_manifest):
    template = _compile(write_manifest).templates["pipeline.yaml"]
    prod = _stage(template, "prod")
    order = {name: a["RunOrder"] for name, a in prod.items()}
    assert order == {
        "app-assets": 1,
        "app-Data-prod-prepare": 2,
        "app-Api-prod-prepare": 2,
        "approve": 3,
        "app-Data-prod-deploy": 4,
        "app-Api-prod-deploy": 5,  # after the stack listed before it
    }
    assert prod["app-assets"]["Configuration"]["ProjectName"] == {"Ref": "CdkAssetsProdAppProject"}
    prepare = prod["app-Api-prod-prepare"]
    assert prepare["Configuration"]["TemplatePath"] == "BuildOutput::Api-prod.template.json"
    assert prepare["Configuration"]["StackName"] == "Api-prod"
    assert prepare["Configuration"]["ActionMode"] == "CHANGE_SET_REPLACE"
    # another account: the bootstrap deploy role runs the actions, its cfn-exec role deploys
    deploy_role = f"arn:aws:iam::{PROD}:role/manifestc/shop-cdk/shop-cdk-deploy"
    assert resolve(prepare["RoleArn"], PSEUDO) == deploy_role
    assert resolve(prepare["Configuration"]["RoleArn"], PSEUDO) == (
        f"arn:aws:iam::{PROD}:role/manifestc/shop-cdk/shop-cdk-cfn-exec"
    )
    staging = _stage(template, "staging")
    assert "approve" not in staging and "RoleArn" not in staging["app-Data-staging-prepare"]
    assert "review the change sets (shop-cdk-app)" in prod["approve"]["Configuration"]["CustomData"]


def test_the_publishing_job_may_assume_exactly_the_file_publishing_role_of_its_environment(write_manifest):
    template = _compile(write_manifest).templates["pipeline.yaml"]
    boundary = _boundary(template)
    prod = _statements(template, "CdkAssetsProdAppRole")
    assert template["Resources"]["CdkAssetsProdAppRole"]["Properties"]["PermissionsBoundary"] == {
        "Ref": "PermissionsBoundary"
    }
    as_prod = _principal(template, "CdkAssetsProdAppRole")
    assert effective(prod, boundary, "sts:AssumeRole", _role("file-publishing", PROD), as_prod)
    assert not effective(prod, boundary, "sts:AssumeRole", _role("file-publishing", TOOLING), as_prod)
    assert not effective(prod, boundary, "sts:AssumeRole", _role("image-publishing", PROD), as_prod)
    staging = _statements(template, "CdkAssetsStagingAppRole")
    as_staging = _principal(template, "CdkAssetsStagingAppRole")
    assert effective(staging, boundary, "sts:AssumeRole", _role("file-publishing", TOOLING), as_staging)
    # the boundary lets exactly the publishing roles through: not CDK's deploy, exec or lookup roles
    greedy = [{"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": "*"}]
    for kind in ("deploy", "cfn-exec", "lookup", "image-publishing"):
        assert not effective(greedy, boundary, "sts:AssumeRole", _role(kind, PROD), as_prod), kind
    assert not template["Resources"]["CdkAssetsProdAppProject"]["Properties"]["Environment"].get("PrivilegedMode")


def test_only_the_asset_jobs_may_assume_the_publishing_roles(write_manifest):
    """Review S4: the boundary's exception for the publishing roles let every bounded role assume
    them, so a staging application role could write prod's bootstrap bucket and repository without
    the approval. Only the asset jobs' roles (their own path `/manifestc/<name>/cdk-assets/`) may."""
    target = dict(APP, image_assets=True)
    template = _compile(write_manifest, [target]).templates["pipeline.yaml"]
    boundary = _boundary(template)
    everything = [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]
    for role in ("CdkAssetsProdAppRole", "CdkAssetsStagingAppRole"):
        assert template["Resources"][role]["Properties"]["Path"] == "/manifestc/shop-cdk/cdk-assets/"
    as_job = _principal(template, "CdkAssetsProdAppRole")
    others = {
        "staging application role": f"arn:aws:iam::{TOOLING}:role/manifestc-app/shop-cdk/Api-staging/Fn",
        "pipeline build role": f"arn:aws:iam::{TOOLING}:role/manifestc/shop-cdk/shop-cdk-pipeline-BuildRole-X",
        "pipeline role": f"arn:aws:iam::{TOOLING}:role/manifestc/shop-cdk/shop-cdk-pipeline-PipelineRole-X",
        "role at another path": f"arn:aws:iam::{TOOLING}:role/elsewhere/x",
    }
    for kind in ("file-publishing", "image-publishing"):
        for account in (PROD, TOOLING):
            publishing = _role(kind, account)
            assert effective(everything, boundary, "sts:AssumeRole", publishing, as_job), (kind, account)
            for who, arn in others.items():
                context = {"aws:PrincipalArn": arn}
                assert not effective(everything, boundary, "sts:AssumeRole", publishing, context), (who, kind)


def test_image_assets_add_the_image_publishing_role_and_a_docker_daemon(write_manifest):
    target = dict(APP, image_assets=True, qualifier="shop")
    template = _compile(write_manifest, [target]).templates["pipeline.yaml"]
    prod = _statements(template, "CdkAssetsProdAppRole")
    boundary = _boundary(template)
    as_prod = _principal(template, "CdkAssetsProdAppRole")
    assert effective(prod, boundary, "sts:AssumeRole", _role("image-publishing", PROD, qualifier="shop"), as_prod)
    assert effective(prod, boundary, "sts:AssumeRole", _role("file-publishing", PROD, qualifier="shop"), as_prod)
    assert not effective(prod, boundary, "sts:AssumeRole", _role("file-publishing", PROD), as_prod)  # other qualifier
    assert template["Resources"]["CdkAssetsProdAppProject"]["Properties"]["Environment"]["PrivilegedMode"] is True


def test_change_sets_may_read_exactly_the_bootstrap_version_parameter(write_manifest):
    result = _compile(write_manifest)
    pipeline = _statements(result.templates["pipeline.yaml"], "PipelineRole")
    version = f"arn:aws:ssm:eu-west-1:{TOOLING}:parameter/cdk-bootstrap/hnb659fds/version"
    assert effective(pipeline, None, "ssm:GetParameters", version)
    assert not effective(pipeline, None, "ssm:GetParameters", f"arn:aws:ssm:eu-west-1:{TOOLING}:parameter/other")
    bootstrap = result.templates[f"bootstrap-{PROD}.yaml"]
    deploy = resolve(
        [
            s
            for p in bootstrap["Resources"]["DeployRole"]["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]
        ],
        dict(PSEUDO, **{"AWS::AccountId": PROD}),
    )
    prod_version = f"arn:aws:ssm:eu-west-1:{PROD}:parameter/cdk-bootstrap/hnb659fds/version"
    assert effective(deploy, None, "ssm:GetParameters", prod_version)
    stack = f"arn:aws:cloudformation:eu-west-1:{PROD}:stack/Api-prod/abc"
    assert effective(deploy, None, "cloudformation:CreateChangeSet", stack)
    assert not effective(deploy, None, "cloudformation:CreateChangeSet", stack.replace("Api-prod", "Other"))


def test_the_execution_role_manages_the_roles_of_each_stack_under_its_path(write_manifest):
    template = _compile(write_manifest).templates["pipeline.yaml"]
    role = _statements(template, "DeployStagingAppRole")
    bounded = {"iam:PermissionsBoundary": "arn:aws:iam::111111111111:policy/manifestc/shop-cdk/shop-cdk-boundary"}
    for stack in ("Data-staging", "Api-staging"):
        arn = f"arn:aws:iam::{TOOLING}:role/manifestc-app/shop-cdk/{stack}/Fn"
        assert effective(role, None, "iam:CreateRole", arn, bounded), stack
        assert not effective(role, None, "iam:CreateRole", arn, {})
    assert not effective(role, None, "iam:CreateRole", f"arn:aws:iam::{TOOLING}:role/Fn", bounded)


def test_stacks_per_region(write_manifest):
    envs = [{"name": "prod", "regions": ["eu-west-1", "us-east-1"]}]
    target = dict(APP, stacks=["Api-{environment}-{region}"])
    template = _compile(write_manifest, [target], envs).templates["pipeline.yaml"]
    prod = _stage(template, "prod")
    assert prod["app-Api-prod-us-east-1-prepare"]["Region"] == "us-east-1"
    assert "Region" not in prod["app-Api-prod-eu-west-1-prepare"]  # the pipeline's region
    assert (
        prod["app-Api-prod-us-east-1-prepare"]["Configuration"]["TemplatePath"]
        == "BuildOutput::Api-prod-us-east-1.template.json"
    )
    # one stack name in both regions: the region tells the actions apart
    same = _stage(_compile(write_manifest, [APP], envs).templates["pipeline.yaml"], "prod")
    assert {"app-Api-prod-eu-west-1-prepare", "app-Api-prod-us-east-1-deploy"} <= set(same)
    statements = _statements(template, "CdkAssetsProdAppRole")
    assert effective(statements, None, "sts:AssumeRole", _role("file-publishing", TOOLING, "us-east-1"))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"language": "python"}, [("MC340", "targets[0].type")]),
        ({"targets": [dict(APP, stacks=["Api_{environment}"])]}, [("MC341", "targets[0].stacks[0]")]),
        ({"targets": [dict(APP, stacks=["Api", "Api"])]}, [("MC342", "targets[0].stacks[1]")]),
        ({"build": {"matrix": {"NODE": ["18", "20"]}}}, [("MC343", "build.matrix")]),
        ({"build": {"batch": [{"name": "a"}, {"name": "b"}]}}, [("MC343", "build.batch")]),
        # review finding B7: the artifact is cdk.out, so a template of the source tree is not in it
        ({"targets": [APP, {"name": "extra", "template": "deploy/extra.yaml"}]}, [("MC345", "targets[1].template")]),
        (
            {"targets": [APP, {"name": "extra", "template": "deploy/{environment}.yaml"}]},
            [("MC345", "targets[1].template")],
        ),
        (
            {
                "region": None,
                "account": None,
                "environments": [{"name": "staging"}],
                "targets": [dict(APP, stacks=["A-{region}"])],
            },
            [("MC344", "targets[0].stacks[0]")],
        ),
        ({"targets": [dict(APP, stacks=["A-{stage}"])]}, [("MC208", "targets[0].stacks[0]")]),
        ({"targets": [{"name": "app", "type": "cdk"}]}, [("MC207", "targets[0]")]),
        ({"targets": [dict(APP, template="app.yaml")]}, [("MC214", "targets[0].template")]),
        ({"targets": [{"name": "app", "template": "a.yaml", "stacks": ["A"]}]}, [("MC214", "targets[0].stacks")]),
        (
            {"targets": [dict(APP, execution_role="arn:aws:iam::111111111111:role/cdk-hnb659fds-cfn-exec-role")]},
            [("MC266", "targets[0].execution_role")],
        ),
        # one stack, two environments in the same account and region: staging would deploy prod's stack
        (
            {"environments": [{"name": "staging"}, {"name": "prod"}], "targets": [dict(APP, stacks=["Shop"])]},
            [("MC280", "targets[0].stacks")],
        ),
    ],
)
def test_misuse_is_a_located_error(write_manifest, changes, expected):
    assert _problems(write_manifest, **changes) == expected


@pytest.mark.parametrize(
    "target",
    [
        {"name": "extra", "template": "Extra-{environment}.template.json"},  # a synthesized stack, deployed plainly
        {"name": "extra", "template": "deploy/extra.yaml", "package": True},  # packaged into cdk.out by the build
        {"name": "fn", "type": "lambda", "template": "sam/template.yaml"},  # likewise (aws cloudformation package)
    ],
    ids=["assembly-template", "packaged", "lambda-template"],
)
def test_templates_the_cloud_assembly_has_are_deployed(write_manifest, target):
    assert _problems(write_manifest, targets=[APP, target]) == []


def test_a_template_the_build_copies_into_the_cloud_assembly_is_deployed(write_manifest):
    extra = {"name": "extra", "template": "deploy/extra.yaml"}
    copy = {"post_build": ["mkdir -p cdk.out/deploy && cp deploy/extra.yaml cdk.out/deploy/extra.yaml"]}
    assert _problems(write_manifest, targets=[APP, extra], build=copy) == []
    other = {"post_build": ["cp deploy/other.yaml cdk.out/deploy/other.yaml"]}
    assert _problems(write_manifest, targets=[APP, extra], build=other) == [("MC345", "targets[1].template")]


def test_a_packaged_template_is_written_into_the_cloud_assembly(write_manifest):
    target = {"name": "extra", "template": "deploy/extra.yaml", "package": True}
    template = _compile(write_manifest, [APP, target], [{"name": "staging"}]).templates["pipeline.yaml"]
    commands = _buildspec(template, "BuildProject")["phases"]["post_build"]["commands"]
    assert any(
        "--template-file deploy/extra.yaml" in c and "--output-template-file cdk.out/packaged-extra.yaml" in c
        for c in commands
    ), commands
    [prepare] = [a for a in _stage(template, "staging").values() if a["Name"] == "extra-prepare"]
    assert prepare["Configuration"]["TemplatePath"] == "BuildOutput::packaged-extra.yaml"


PRIVATE = {
    "vpc_id": "vpc-0a1b2c3d4e5f60718",
    "subnets": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
    "route_tables": ["rtb-0a1b2c3d4e5f60003"],
}
# commands that reach no registry (the CDK CLI vendored in the repository)
VENDORED = {"install": [], "commands": ["node_modules/.bin/cdk synth --no-lookups"]}


def test_cdk_assets_from_npm_in_a_private_build_need_codeartifact(write_manifest):
    """Review finding Q3: the asset job runs `npx --yes cdk-assets@...`, fetched from npm at run
    time; in the build VPC without egress that fails, so without CodeArtifact it is an error."""
    assert _problems(write_manifest, network=PRIVATE, build=VENDORED) == [("MC347", "targets[0].type")]
    with_ca = dict(VENDORED, packages={"codeartifact": {"domain": "acme", "repository": "npm-store"}})
    assert _problems(write_manifest, network=PRIVATE, build=with_ca) == []
    nat = dict(PRIVATE, egress=[{"port": 443, "cidr": "0.0.0.0/0", "description": "NAT"}])
    assert _problems(write_manifest, network=nat, build=VENDORED) == []
    # only prod's asset job: it runs outside the VPC (another account), so it reaches npm
    prod_only = [{"name": "prod", "account": PROD, "approval": {"notify_emails": ["ops@example.com"]}}]
    assert _problems(write_manifest, network=PRIVATE, build=VENDORED, environments=prod_only) == []


def test_a_cdk_build_nothing_deploys_is_a_warning(write_manifest):
    text = _text(targets=[{"name": "app", "template": "a.template.json"}])
    result = check_manifest(write_manifest(text))
    assert [(d.code, d.dotted_path(), d.is_error) for d in result.diagnostics] == [("MC682", "language", False)]


def test_own_commands_with_the_cloud_assembly_as_artifact_are_a_cdk_build(write_manifest):
    build = {"install": ["pip install -r requirements.txt"], "artifacts": {"base_directory": "cdk.out"}}
    assert _problems(write_manifest, language="python", build=build) == []


# --- the publishing job's commands, run in bash on a cloud assembly (npx replaced by a recorder) ---


def _assembly(tmp_path, stacks: dict[str, dict]):
    folder = tmp_path / "cdk.out"
    folder.mkdir()
    for stack, content in stacks.items():
        (folder / f"{stack}.template.json").write_text(json.dumps(content.get("template", {"Resources": {}})))
        if "assets" in content:
            (folder / f"{stack}.assets.json").write_text(json.dumps(content["assets"]))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npx = bin_dir / "npx"
    npx.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/npx.log\n')
    npx.chmod(npx.stat().st_mode | stat.S_IEXEC)
    return folder, bin_dir


def _publish(write_manifest, tmp_path, stacks, target=APP):
    template = _compile(write_manifest, [target], [{"name": "staging"}]).templates["pipeline.yaml"]
    commands = _buildspec(template, "CdkAssetsStagingAppProject")["phases"]["build"]["commands"]
    folder, bin_dir = _assembly(tmp_path, stacks)
    script = "set -e\n" + "\n".join(commands)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    proc = subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True)
    log = tmp_path / "npx.log"
    return proc, log.read_text().splitlines() if log.exists() else []


BOUNDED = {
    "Type": "AWS::IAM::Role",
    "Properties": {"Path": "/manifestc-app/shop-cdk/Api-staging/", "PermissionsBoundary": "b"},
}
needs_node = pytest.mark.skipif(shutil.which("node") is None or shutil.which("bash") is None, reason="node and bash")


@needs_node
def test_publishing_runs_cdk_assets_on_each_stack_with_assets(write_manifest, tmp_path):
    stacks = {
        "Data-staging": {"assets": {"version": "36.0.0", "files": {}, "dockerImages": {}}},
        "Api-staging": {"template": {"Resources": {"Fn": BOUNDED}}, "assets": {"files": {}}},
    }
    proc, calls = _publish(write_manifest, tmp_path, stacks)
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        "--yes cdk-assets@4.7.3 --path Data-staging.assets.json publish",
        "--yes cdk-assets@4.7.3 --path Api-staging.assets.json publish",
    ]


@needs_node
def test_publishing_fails_clearly_on_a_stack_the_app_does_not_have(write_manifest, tmp_path):
    proc, calls = _publish(write_manifest, tmp_path, {"Data-staging": {}, "Web-staging": {}})
    assert proc.returncode != 0 and calls == []
    assert "stack Api-staging is not in the cloud assembly" in proc.stdout
    assert "Data-staging" in proc.stdout and "Web-staging" in proc.stdout


@needs_node
def test_publishing_fails_on_image_assets_without_image_assets(write_manifest, tmp_path):
    images = {"dockerImages": {"abc": {"source": {"directory": "asset.abc"}}}}
    proc, _ = _publish(write_manifest, tmp_path, {"Data-staging": {"assets": images}, "Api-staging": {}})
    assert proc.returncode != 0 and "has Docker image assets: set image_assets: true" in proc.stdout
    (tmp_path / "with").mkdir()
    stacks = {"Data-staging": {"assets": images}, "Api-staging": {}}
    proc, calls = _publish(write_manifest, tmp_path / "with", stacks, dict(APP, image_assets=True))
    assert proc.returncode == 0 and calls == ["--yes cdk-assets@4.7.3 --path Data-staging.assets.json publish"]


@needs_node
def test_publishing_fails_on_roles_the_execution_role_may_not_create(write_manifest, tmp_path):
    loose = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}}
    stacks = {"Data-staging": {}, "Api-staging": {"template": {"Resources": {"Fn": loose, "Ok": BOUNDED}}}}
    proc, calls = _publish(write_manifest, tmp_path, stacks)
    assert proc.returncode != 0 and calls == []
    assert "roles Fn need Path /manifestc-app/shop-cdk/Api-staging/" in proc.stderr
    # with its own execution role, the app's roles are its business
    own = dict(APP, execution_role="arn:aws:iam::111111111111:role/shop-deployer")
    (tmp_path / "own").mkdir()
    proc, _ = _publish(write_manifest, tmp_path / "own", stacks, own)
    assert proc.returncode == 0, proc.stderr


def test_the_example_manifest_compiles_with_lint():
    result = compile_manifest(ROOT / "manifests" / "cdk-app.yaml", lint=True)
    assert [d for d in result.diagnostics] == []
    assert set(result.templates) == {"pipeline.yaml", f"bootstrap-{PROD}.yaml"}


def test_deploy_plan_checks_each_cdk_bootstrap_and_the_trust_of_other_accounts(tmp_path):
    from manifestc.api import build
    from manifestc.deployplan import deploy_plan

    out = tmp_path / "out"
    report = build([str(ROOT / "manifests" / "cdk-app.yaml")], out, lint=False)
    assert not report.all_diagnostics()
    checks = [s for s in deploy_plan(out) if "CDK bootstrap" in s.title]
    assert [s.where for s in checks] == ["account 123456789012", f"account {PROD}"]
    assert all("get-parameter --name /cdk-bootstrap/hnb659fds/version --region eu-west-1" in s.command for s in checks)
    assert "--trust 123456789012" in checks[1].title and "--trust" not in checks[0].title


def test_stack_outputs_are_not_variables(write_manifest):
    tests = [{"name": "smoke", "after": "staging", "env": {"URL": "#{app.ApiUrl}"}}]
    assert ("MC238", "tests[0].env.URL") in _problems(write_manifest, tests=tests)


def test_with_a_network_only_the_same_account_asset_job_runs_in_the_vpc(write_manifest):
    network = {
        "vpc_id": "vpc-0a1b2c3d4e5f60718",
        "subnets": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
        "route_tables": ["rtb-0a1b2c3d4e5f60003"],
    }
    build = {"packages": {"codeartifact": {"domain": "acme", "repository": "npm-store"}}}
    template = _compile(write_manifest, network=network, build=build).templates["pipeline.yaml"]
    projects = template["Resources"]
    assert "VpcConfig" in projects["CdkAssetsStagingAppProject"]["Properties"]
    assert "VpcConfig" not in projects["CdkAssetsProdAppProject"]["Properties"]


def test_the_cdk_starter_deploys_the_cloud_assembly(write_manifest):
    from manifestc.starter import starter_manifest

    result = check_manifest(write_manifest(starter_manifest("cdk", "shop-cdk")))
    assert [d.code for d in result.diagnostics if d.code != "MC272"] == []
    assert [t.type for t in result.manifest.targets] == ["cdk"]


def test_a_cdk_target_changes_the_boundary_which_self_update_cannot(write_manifest):
    """The publishing roles are boundary exceptions: adding a cdk target, or an environment with
    another account, changes the boundary digest Recompile compares (MC264, a hand deploy)."""
    from manifestc.emit.iam import boundary_digest

    def digest(**changes):
        return boundary_digest(check_manifest(write_manifest(_text(**changes))).manifest)

    plain = digest(targets=[{"name": "app", "template": "a.yaml"}], language="python")
    one = digest(environments=[{"name": "staging"}])
    two = digest()
    assert len({plain, one, two}) == 3
    assert digest(tests=[{"name": "unit"}]) == two  # what does not touch the roles leaves it alone
