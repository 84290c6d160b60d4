"""Per-environment secrets (`environments[].secrets`, README "Secrets per environment"): a prod
secret reaches only the suites that run after the prod deploy, never the build, the gates, the
feature builds or staging's actions; readiness check MC660 holds every build to it."""

from __future__ import annotations

import copy
import json

from iam_sim import allowed, effective, resolve
from manifestc import api
from manifestc.check.secrets import check_environment_secrets

MANIFEST = """\
manifest: 1
name: demo-service
team: platform
language: python
source:
  repository: demo-service
  feature_branches: {patterns: ["feature/*"]}
build:
  secrets: {PYPI_TOKEN: "secretsmanager:ci/pypi", DB_PASSWORD: "secretsmanager:dev/db:password"}
  secrets_kms_key: arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
quality_gates: [sast]
tests:
  - name: unit
  - name: smoke-staging
    after: staging
  - name: smoke-prod
    after: prod
targets:
  - name: app
    template: deploy/app.yaml
  - name: fn
    type: lambda
    function: "demo-{environment}"
environments:
  - name: staging
    secrets: {DB_PASSWORD: "secretsmanager:staging/db:password", API_KEY: "ssm:/staging/api-key"}
  - name: prod
    secrets: {DB_PASSWORD: "secretsmanager:prod/db:password", API_KEY: "ssm:/prod/api-key"}
"""

PROD_ARNS = (
    "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-AbCdEf",
    "arn:aws:ssm:us-east-1:111111111111:parameter/prod/api-key",
)


def _compiled(write_manifest, text: str = MANIFEST):
    result = api.compile_manifest(write_manifest(text), lint=False)
    assert not result.failed(), [(d.code, d.message) for d in result.diagnostics]
    return result


def _projects(template) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::CodeBuild::Project"}


def _secret_values(project: dict) -> dict[str, str]:
    variables = project["Properties"]["Environment"].get("EnvironmentVariables", [])
    return {v["Name"]: v["Value"] for v in variables if v["Type"] != "PLAINTEXT"}


def _policy_statements(template, role_id: str) -> list[dict]:
    role = template["Resources"][role_id]["Properties"]
    statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for resource in template["Resources"].values():  # managed policies attached to the role
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role_id} in resource["Properties"].get(
            "Roles", []
        ):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return resolve(statements)


def test_prod_secrets_reach_only_the_suite_after_prod(write_manifest):
    template = _compiled(write_manifest).templates["pipeline.yaml"]
    projects = _projects(template)
    assert {"BuildProject", "TestUnitProject", "GateSastProject", "FeatureProject"} <= set(projects)
    readers, holders = set(), set()
    for logical_id, project in projects.items():
        role_id = project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
        statements = _policy_statements(template, role_id)
        if any(
            allowed(statements, action, arn)
            for arn in PROD_ARNS
            for action in ("secretsmanager:GetSecretValue", "ssm:GetParameters")
        ):
            readers.add(logical_id)
        if any(v.startswith(("prod/", "/prod/")) for v in _secret_values(project).values()):
            holders.add(logical_id)
    assert readers == {"TestSmokeProdProject"}
    assert holders == {"TestSmokeProdProject"}
    # and no role or policy of the template but that suite's names a prod secret at all
    text_by_id = {k: json.dumps(v) for k, v in template["Resources"].items()}
    naming = {k for k, t in text_by_id.items() if "prod/db" in t or "/prod/api-key" in t}
    assert naming == {"TestSmokeProdRole", "TestSmokeProdProject"}


def test_an_environment_secret_replaces_the_build_secret_of_the_same_name(write_manifest):
    projects = _projects(_compiled(write_manifest).templates["pipeline.yaml"])
    assert _secret_values(projects["TestSmokeStagingProject"]) == {
        "API_KEY": "/staging/api-key",
        "DB_PASSWORD": "staging/db:password",
        "PYPI_TOKEN": "ci/pypi",
    }
    assert _secret_values(projects["BuildProject"]) == {"DB_PASSWORD": "dev/db:password", "PYPI_TOKEN": "ci/pypi"}
    assert _secret_values(projects["TestUnitProject"]) == _secret_values(projects["BuildProject"])
    # the lambda deploy jobs run no command of the manifest: no secret at all
    assert not _secret_values(projects["DeployProdFnProject"])


def test_the_suite_may_decrypt_its_environment_secrets_through_the_services_only(write_manifest):
    template = _compiled(write_manifest).templates["pipeline.yaml"]
    [decrypt] = [s for s in _policy_statements(template, "TestSmokeProdRole") if s.get("Sid") == "DecryptSecrets"]
    services = decrypt["Condition"]["StringEquals"]["kms:ViaService"]
    assert sorted(services) == ["secretsmanager.us-east-1.amazonaws.com", "ssm.us-east-1.amazonaws.com"]


def test_mc660_catches_a_prod_secret_given_to_the_build(write_manifest):
    result = _compiled(write_manifest)
    broken = copy.deepcopy(dict(result.templates))
    build = broken["pipeline.yaml"]["Resources"]["BuildProject"]["Properties"]["Environment"]
    build["EnvironmentVariables"].append({"Name": "LEAK", "Type": "SECRETS_MANAGER", "Value": "prod/db:password"})
    statements = broken["pipeline.yaml"]["Resources"]["TestSmokeStagingRole"]["Properties"]["Policies"][0]
    statements["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": ["arn:aws:ssm:r:1:parameter/prod/api-key"]}
    )
    found = check_environment_secrets(result.manifest, broken)
    assert sorted((d.code, d.message.split(" ", 1)[0]) for d in found) == [
        ("MC660", "BuildProject"),
        ("MC660", "TestSmokeStagingRole"),
    ]
    assert check_environment_secrets(result.manifest, result.templates) == []


def test_secrets_of_an_environment_without_post_deploy_suites_warn(write_manifest):
    text = MANIFEST.replace("  - name: smoke-prod\n    after: prod\n", "")
    result = api.compile_manifest(write_manifest(text), lint=False)
    assert [(d.code, d.is_error, d.path) for d in result.diagnostics] == [
        ("MC230", False, ("environments", 1, "secrets"))
    ]


def test_a_secret_that_is_also_a_plain_variable_is_an_error(write_manifest):
    text = MANIFEST.replace("  secrets: {PYPI_TOKEN", "  env: {API_KEY: plain}\n  secrets: {PYPI_TOKEN")
    result = api.compile_manifest(write_manifest(text), lint=False)
    assert sorted((d.code, d.path) for d in result.diagnostics) == [
        ("MC202", ("environments", 0, "secrets", "API_KEY")),
        ("MC202", ("environments", 1, "secrets", "API_KEY")),
    ]


# A Flyway migration as a commands target in every environment (README "Secrets per environment"):
# it receives its own environment's secrets, like the suite after that environment.
MIGRATE = """\
  - name: migrate
    type: commands
    image: public.ecr.aws/docker/library/flyway:10
    commands: ['flyway -password="$DB_PASSWORD" migrate']
"""
WITH_MIGRATE = MANIFEST.replace("targets:\n", "targets:\n" + MIGRATE)
STAGING_ARNS = (
    "arn:aws:secretsmanager:us-east-1:111111111111:secret:staging/db-AbCdEf",
    "arn:aws:ssm:us-east-1:111111111111:parameter/staging/api-key",
)


def _readers_and_holders(template, arns) -> tuple[set[str], set[str]]:
    readers, holders = set(), set()
    prefixes = tuple(arn.split(":secret:")[-1].split("-")[0].split(":parameter")[-1] for arn in arns)
    for logical_id, project in _projects(template).items():
        role_id = project["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
        statements = _policy_statements(template, role_id)
        if any(
            allowed(statements, action, arn)
            for arn in arns
            for action in ("secretsmanager:GetSecretValue", "ssm:GetParameters")
        ):
            readers.add(logical_id)
        if any(v.split(":")[0].startswith(prefixes) for v in _secret_values(project).values()):
            holders.add(logical_id)
    return readers, holders


def test_a_commands_target_receives_only_its_environment_secrets(write_manifest):
    template = _compiled(write_manifest, WITH_MIGRATE).templates["pipeline.yaml"]
    projects = _projects(template)
    assert _secret_values(projects["CommandsProdMigrateProject"]) == {
        "API_KEY": "/prod/api-key",
        "DB_PASSWORD": "prod/db:password",
    }
    # only its environment's: no build secret (commands jobs never got them)
    assert _secret_values(projects["CommandsStagingMigrateProject"]) == {
        "API_KEY": "/staging/api-key",
        "DB_PASSWORD": "staging/db:password",
    }
    prod = _readers_and_holders(template, PROD_ARNS)
    assert prod == ({"TestSmokeProdProject", "CommandsProdMigrateProject"},) * 2
    staging = _readers_and_holders(template, STAGING_ARNS)
    assert staging == ({"TestSmokeStagingProject", "CommandsStagingMigrateProject"},) * 2
    # the prod job reads exactly the prod secrets, and may decrypt them only through the services
    statements = _policy_statements(template, "CommandsProdMigrateRole")
    reads = [s for s in statements if s.get("Sid") in ("ReadSecrets", "ReadParameters")]
    assert [s["Resource"] for s in reads] == [
        ["arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-??????"],
        ["arn:aws:ssm:us-east-1:111111111111:parameter/prod/api-key"],
    ]
    [decrypt] = [s for s in statements if s.get("Sid") == "DecryptSecrets"]
    assert decrypt["Resource"] == ["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
    assert sorted(decrypt["Condition"]["StringEquals"]["kms:ViaService"]) == [
        "secretsmanager.us-east-1.amazonaws.com",
        "ssm.us-east-1.amazonaws.com",
    ]
    assert (
        check_environment_secrets(_compiled(write_manifest, WITH_MIGRATE).manifest, {"pipeline.yaml": template}) == []
    )


def test_a_commands_job_in_another_account_reads_the_secret_with_its_own_role(write_manifest):
    text = WITH_MIGRATE.replace("team: platform\n", 'team: platform\naccount: "111111111111"\nregion: us-east-1\n')
    text = text.replace(
        "  - name: prod\n",
        '  - name: prod\n    account: "222222222222"\n    approval: {notify_emails: [a@example.com]}\n',
    )
    text = text.replace(
        "    commands: ['flyway", '    role: "arn:aws:iam::{account}:role/flyway-runner"\n    commands: [\'flyway'
    )
    result = _compiled(write_manifest, text)
    template = result.templates["pipeline.yaml"]
    env = {
        v["Name"]: v["Value"]
        for v in _projects(template)["CommandsProdMigrateProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    }
    assert env["DEPLOY_ROLE_ARN"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::222222222222:role/flyway-runner"}
    # CodeBuild resolves the variable with the project's role, in the tooling account, before the
    # commands assume the role: the grant is on the project's role, naming the tooling account's secret
    statements = _policy_statements(template, "CommandsProdMigrateRole")
    boundary = resolve(template["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"])
    # the caller is the job's own role, under the pipeline's path (the boundary holds other roles apart)
    caller = {"aws:PrincipalArn": "arn:aws:iam::111111111111:role/manifestc/demo-service/CommandsProdMigrateRole-X"}
    assert effective(statements, boundary, "secretsmanager:GetSecretValue", PROD_ARNS[0], caller)
    assert effective(statements, boundary, "ssm:GetParameters", PROD_ARNS[1], caller)
    assert effective(statements, boundary, "sts:AssumeRole", "arn:aws:iam::222222222222:role/flyway-runner", caller)
    assert not allowed(statements, "secretsmanager:GetSecretValue", STAGING_ARNS[0])
    assert "prod/db" not in json.dumps(result.templates["bootstrap-222222222222.yaml"])
    assert check_environment_secrets(result.manifest, result.templates) == []


def test_mc660_refuses_a_prod_secret_on_staging_commands_job(write_manifest):
    result = _compiled(write_manifest, WITH_MIGRATE)
    broken = copy.deepcopy(dict(result.templates))
    resources = broken["pipeline.yaml"]["Resources"]
    staging = resources["CommandsStagingMigrateProject"]["Properties"]["Environment"]
    staging["EnvironmentVariables"].append({"Name": "LEAK", "Type": "SECRETS_MANAGER", "Value": "prod/db:password"})
    policy = resources["CommandsStagingMigrateRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"].append(
        {"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": ["arn:aws:ssm:r:1:parameter/prod/api-key"]}
    )
    found = check_environment_secrets(result.manifest, broken)
    assert sorted((d.code, d.message.split(" ", 1)[0]) for d in found) == [
        ("MC660", "CommandsStagingMigrateProject"),
        ("MC660", "CommandsStagingMigrateRole"),
    ]
    assert check_environment_secrets(result.manifest, result.templates) == []


def test_a_commands_target_alone_receives_the_environment_secrets(write_manifest):
    text = WITH_MIGRATE.replace("  - name: smoke-prod\n    after: prod\n", "")
    result = _compiled(write_manifest, text)
    assert [d.code for d in result.diagnostics] == []  # no MC230: the migrate job receives them
    # but a commands target deployed only to staging does not count for prod
    only_staging = text.replace("  - name: prod\n", "  - name: prod\n    targets: [app, fn]\n")
    found = api.compile_manifest(write_manifest(only_staging), lint=False).diagnostics
    assert [(d.code, d.is_error, d.path) for d in found] == [("MC230", False, ("environments", 1, "secrets"))]


def test_secrets_a_commands_job_would_not_see_are_located_errors(write_manifest):
    text = WITH_MIGRATE.replace(
        "    commands: ['flyway", "    env: {DB_PASSWORD: plain}\n    commands: ['flyway"
    ).replace('API_KEY: "ssm:/prod/api-key"', 'REGION: "ssm:/prod/region"')
    found = api.compile_manifest(write_manifest(text), lint=False).diagnostics
    assert sorted((d.code, d.path) for d in found) == [
        ("MC334", ("environments", 1, "secrets", "REGION")),
        ("MC335", ("environments", 0, "secrets", "DB_PASSWORD")),
        ("MC335", ("environments", 1, "secrets", "DB_PASSWORD")),
    ]
    assert all(d.line > 0 and d.hint for d in found)
