"""Variables between actions: build exports, stack outputs, commands exports, #{namespace.NAME}."""

from __future__ import annotations

import json

import pytest
from conftest import MINIMAL, with_changes
from manifestc.api import check_manifest, compile_manifest

ENVS = [{"name": "staging"}, {"name": "prod", "approval": {"notify_emails": ["a@example.com"]}}]
API = {"name": "api", "template": "deploy/api.yaml", "stack": "api-{environment}"}


def errors(result):
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def _seed(**fields) -> dict:
    target = {
        "name": "seed",
        "type": "commands",
        "commands": ['./seed.sh "$API_URL"'],
        "permissions": {
            "statements": [
                {"actions": ["dynamodb:PutItem"], "resources": ["arn:aws:dynamodb:{region}:{account}:table/t"]}
            ]
        },
        "env": {"API_URL": "#{api.ApiUrl}"},
    }
    target.update(fields)
    return target


def _manifest(targets, tests=None, build=None, environments=ENVS) -> str:
    return with_changes(
        MINIMAL, targets=targets, environments=environments, tests=tests or [], build=build or {"exports": ["VERSION"]}
    )


def _actions(result, stage):
    stages = result.templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]
    return {a["Name"]: a for a in next(s for s in stages if s["Name"] == stage)["Actions"]}


def _variables(action) -> dict:
    return {v["name"]: v["value"] for v in json.loads(action["Configuration"]["EnvironmentVariables"])}


def test_build_exports_are_exported_by_the_buildspec_and_read_by_stack_parameters(write_manifest):
    api = dict(API, parameters={"Version": "#{build.VERSION}"})
    result = compile_manifest(write_manifest(_manifest([api])), lint=False)
    assert not errors(result)
    build = _actions(result, "Build")["Build"]
    assert build["Namespace"] == "build"
    spec = result.templates["pipeline.yaml"]["Resources"]["BuildProject"]["Properties"]["Source"]["BuildSpec"]
    assert "exported-variables:\n  - VERSION" in spec
    prepare = _actions(result, "prod")["api-prepare"]
    assert json.loads(prepare["Configuration"]["ParameterOverrides"]) == {"Version": "#{build.VERSION}"}


def test_stack_outputs_reach_later_commands_and_tests_of_the_same_environment(write_manifest):
    tests = [{"name": "smoke", "after": "prod", "commands": ["./smoke.sh"], "env": {"URL": "#{api.ApiUrl}"}}]
    result = compile_manifest(write_manifest(_manifest([API, _seed()], tests)), lint=False)
    assert not errors(result)
    for env in ("staging", "prod"):
        actions = _actions(result, env)
        assert actions["api-deploy"]["Namespace"] == f"{env}-api"
        assert _variables(actions["seed-deploy"]) == {"API_URL": f"#{{{env}-api.ApiUrl}}"}
        # the reader runs after the deploy that outputs the variable
        assert actions["seed-deploy"]["RunOrder"] > actions["api-deploy"]["RunOrder"]
        assert "Namespace" not in actions["api-prepare"]
    smoke = _actions(result, "prod")["Test-smoke"]
    assert _variables(smoke) == {"URL": "#{prod-api.ApiUrl}"}
    assert smoke["RunOrder"] > _actions(result, "prod")["seed-deploy"]["RunOrder"]


def test_commands_exports_are_a_namespace_of_their_own(write_manifest):
    migrate = _seed(name="migrate", env={}, exports=["SCHEMA_VERSION"])
    seed = _seed(env={"SCHEMA": "#{migrate.SCHEMA_VERSION}"})
    result = compile_manifest(write_manifest(_manifest([migrate, seed])), lint=False)
    assert not errors(result)
    actions = _actions(result, "staging")
    assert actions["migrate-deploy"]["Namespace"] == "staging-migrate"
    assert _variables(actions["seed-deploy"]) == {"SCHEMA": "#{staging-migrate.SCHEMA_VERSION}"}
    assert actions["seed-deploy"]["RunOrder"] > actions["migrate-deploy"]["RunOrder"]
    spec = result.templates["pipeline.yaml"]["Resources"]["CommandsStagingMigrateProject"]["Properties"]["Source"]
    assert "exported-variables:\n  - SCHEMA_VERSION" in spec["BuildSpec"]


S3 = {"name": "site", "type": "s3", "bucket": "site-{environment}"}


@pytest.mark.parametrize(
    ("targets", "tests", "expected"),
    [
        ([_seed(env={"X": "#{apu.ApiUrl}"}), API], None, [("MC238", "targets[0].env.X")]),
        ([_seed(env={"X": "#{build.VERSON}"}), API], None, [("MC238", "targets[0].env.X")]),
        ([_seed(env={"X": "#{site.Url}"}), S3], None, [("MC238", "targets[0].env.X")]),
        ([_seed(env={"X": "#{oops}"}), API], None, [("MC238", "targets[0].env.X")]),
        ([_seed(env={"X": "#{codepipeline.PipelineName}"})], None, [("MC238", "targets[0].env.X")]),
        (
            [dict(API, parameters={"Url": "#{seed.URL}"}), _seed(env={}, exports=["URL"])],
            None,
            [("MC239", "targets[0].parameters.Url")],
        ),
        ([_seed(env={"X": "#{seed.URL}"}, exports=["URL"])], None, [("MC239", "targets[0].env.X")]),
        (
            [API],
            [{"name": "unit", "commands": ["pytest"], "env": {"U": "#{api.ApiUrl}"}}],
            [("MC239", "tests[0].env.U")],
        ),
        ([dict(API, template="deploy/#{build.VERSION}.yaml")], None, [("MC240", "targets[0].template")]),
    ],
)
def test_bad_references_are_located_errors(write_manifest, targets, tests, expected):
    result = check_manifest(write_manifest(_manifest(targets, tests)))
    assert errors(result) == expected
    assert all(d.line > 0 and d.hint for d in result.diagnostics if d.is_error)


def test_unknown_namespace_suggests_the_target(write_manifest):
    result = check_manifest(write_manifest(_manifest([_seed(env={"X": "#{apu.ApiUrl}"}), API])))
    [finding] = [d for d in result.diagnostics if d.is_error]
    assert "unknown namespace `apu`" in finding.message and "`api`" in finding.hint


def test_a_reference_to_a_target_the_environment_does_not_deploy_is_an_error(write_manifest):
    envs = [{"name": "staging", "targets": ["seed"]}, {"name": "prod", "targets": ["api", "seed"]}]
    result = check_manifest(write_manifest(_manifest([API, _seed()], environments=envs)))
    [finding] = [d for d in result.diagnostics if d.is_error]
    assert finding.code == "MC238" and "not deployed in `staging`" in finding.message


def test_hash_braces_in_commands_and_build_env_stay_literal(write_manifest):
    """CodePipeline resolves variables in action configuration only; a buildspec command or a
    project variable keeps `#{` as written (no error, no rewriting)."""
    build = {"env": {"TEMPLATE": "#{not.resolved}"}, "commands": ["echo '#{literal}'"]}
    result = compile_manifest(write_manifest(_manifest([API], build=build)), lint=False)
    assert not errors(result)
    project = result.templates["pipeline.yaml"]["Resources"]["BuildProject"]["Properties"]
    assert "echo '#{literal}'" in project["Source"]["BuildSpec"]
    assert {"Name": "TEMPLATE", "Type": "PLAINTEXT", "Value": "#{not.resolved}"} in project["Environment"][
        "EnvironmentVariables"
    ]


def test_template_configuration_is_read_from_the_artifact_per_environment(write_manifest):
    api = dict(API, template_configuration="deploy/{environment}.json")
    result = compile_manifest(write_manifest(_manifest([api])), lint=False)
    assert not errors(result)
    for env in ("staging", "prod"):
        config = _actions(result, env)["api-prepare"]["Configuration"]
        assert config["TemplateConfiguration"] == f"BuildOutput::deploy/{env}.json"


def test_template_configuration_placeholders_and_owners_are_checked(write_manifest):
    bad = dict(API, template_configuration="deploy/{stage}.json")
    assert errors(check_manifest(write_manifest(_manifest([bad])))) == [("MC208", "targets[0].template_configuration")]
    s3 = dict(S3, template_configuration="deploy/x.json")
    assert errors(check_manifest(write_manifest(_manifest([s3])))) == [("MC214", "targets[0].template_configuration")]


def test_package_true_packages_a_cloudformation_template_in_the_build(write_manifest):
    api = dict(API, package=True)
    changes = {"account": "111111111111", "region": "eu-west-1"}
    envs = [{"name": "staging"}, {"name": "prod", "regions": ["eu-west-1", "us-east-1"]}]
    text = with_changes(_manifest([api], environments=envs), **changes)
    result = compile_manifest(write_manifest(text), lint=False)
    assert not errors(result)
    spec = result.templates["pipeline.yaml"]["Resources"]["BuildProject"]["Properties"]["Source"]["BuildSpec"]
    spec = spec["Fn::Sub"] if isinstance(spec, dict) else spec
    [home] = [line for line in spec.splitlines() if "packaged-api.yaml" in line]
    assert "aws cloudformation package --template-file deploy/api.yaml" in home
    assert "--s3-prefix lambda/api --output-template-file packaged-api.yaml" in home
    assert "aws cloudformation package --region us-east-1 --template-file deploy/api.yaml" in spec
    staging = _actions(result, "staging")["api-prepare"]["Configuration"]
    assert staging["TemplatePath"] == "BuildOutput::packaged-api.yaml"
    prod = _actions(result, "prod")
    assert prod["api-us-east-1-prepare"]["Configuration"]["TemplatePath"] == "BuildOutput::packaged-api-us-east-1.yaml"


def test_package_settings_of_the_wrong_kind_are_errors(write_manifest):
    per_env = dict(API, package=True, template="deploy/{environment}.yaml")
    assert errors(check_manifest(write_manifest(_manifest([per_env])))) == [("MC241", "targets[0].template")]
    zipped = dict(API, package="zip")
    assert errors(check_manifest(write_manifest(_manifest([zipped])))) == [("MC214", "targets[0].package")]


# --- readiness check (check/variables.py) over rendered templates ---------------------------


def _rendered(write_manifest):
    import copy

    tests = [{"name": "smoke", "after": "staging", "commands": ["./smoke.sh"], "env": {"V": "#{build.VERSION}"}}]
    result = compile_manifest(write_manifest(_manifest([API, _seed()], tests)), lint=False)
    assert not errors(result) and not [d for d in result.diagnostics if d.code.startswith("MC66")]
    return result.manifest, copy.deepcopy(dict(result.templates))


def _pipeline_actions(templates):
    for stage in templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]:
        for action in stage["Actions"]:
            yield stage["Name"], action


def test_a_reference_without_its_namespace_is_mc665(write_manifest):
    from manifestc.check.variables import check_variables

    manifest, templates = _rendered(write_manifest)
    for stage, action in _pipeline_actions(templates):
        if (stage, action["Name"]) == ("staging", "api-deploy"):
            del action["Namespace"]
    [finding] = check_variables(manifest, templates)
    assert finding.code == "MC665" and "staging/seed-deploy" in finding.message and "staging-api" in finding.message


def test_a_reference_to_an_action_running_at_the_same_time_is_mc665(write_manifest):
    from manifestc.check.variables import check_variables

    manifest, templates = _rendered(write_manifest)
    orders = {}
    for stage, action in _pipeline_actions(templates):
        orders[(stage, action["Name"])] = action
    orders[("staging", "seed-deploy")]["RunOrder"] = orders[("staging", "api-deploy")]["RunOrder"]
    [finding] = check_variables(manifest, templates)
    assert finding.code == "MC665" and "does not run before" in finding.message


def test_a_namespace_declared_twice_is_mc666(write_manifest):
    from manifestc.check.variables import check_variables

    manifest, templates = _rendered(write_manifest)
    for stage, action in _pipeline_actions(templates):
        if (stage, action["Name"]) == ("prod", "api-deploy"):
            action["Namespace"] = "staging-api"
    findings = check_variables(manifest, templates)
    # and prod's seed now reads a namespace nobody declares
    assert sorted((d.code, "prod/seed-deploy" in d.message) for d in findings) == [("MC665", True), ("MC666", False)]


def test_a_build_variable_the_buildspec_does_not_export_is_mc667(write_manifest):
    from manifestc.check.variables import check_variables

    manifest, templates = _rendered(write_manifest)
    project = templates["pipeline.yaml"]["Resources"]["BuildProject"]["Properties"]["Source"]
    spec = project["BuildSpec"]
    project["BuildSpec"] = (spec["Fn::Sub"] if isinstance(spec, dict) else spec).replace("  - VERSION\n", "  - OTHER\n")
    [finding] = check_variables(manifest, templates)
    assert finding.code == "MC667" and "staging/Test-smoke" in finding.message and "OTHER" in finding.message


def test_exports_from_a_build_matrix_are_an_error(write_manifest):
    build = {"exports": ["VERSION"], "matrix": {"PY": ["3.11", "3.12"]}}
    result = check_manifest(write_manifest(_manifest([API], build=build)))
    # the template target reads a file of the combined artifact, which has no documented layout: MC346
    assert errors(result) == [("MC242", "build.exports"), ("MC346", "targets[0].template")]


# --- top-level pipeline variables (`variables`) as #{variables.NAME} ---------------------------


def _with_pipeline_variables(targets, tests=None) -> str:
    text = _manifest(targets, tests)
    return with_changes(text, variables=[{"name": "RELEASE", "default": "0.0.0"}])


def test_pipeline_variables_are_the_variables_namespace(write_manifest):
    """`#{variables.NAME}` reads a top-level pipeline variable in a stack parameter, a commands
    target's env and a suite's env; the suite action gets the pipeline variables first, then its own
    env, and readiness (MC665) accepts the namespace because the pipeline declares the variable."""
    api = dict(API, parameters={"Release": "#{variables.RELEASE}"})
    seed = _seed(env={"TAG": "#{variables.RELEASE}"})
    tests = [{"name": "smoke", "after": "staging", "commands": ["./smoke.sh"], "env": {"V": "#{build.VERSION}"}}]
    result = compile_manifest(write_manifest(_with_pipeline_variables([api, seed], tests)), lint=False)
    assert not errors(result) and not [d for d in result.diagnostics if d.code.startswith("MC66")]
    pipeline = result.templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]
    assert pipeline["Variables"][0]["Name"] == "RELEASE"
    prepare = _actions(result, "prod")["api-prepare"]
    assert json.loads(prepare["Configuration"]["ParameterOverrides"]) == {"Release": "#{variables.RELEASE}"}
    assert _variables(_actions(result, "staging")["seed-deploy"]) == {"TAG": "#{variables.RELEASE}"}
    smoke = json.loads(_actions(result, "staging")["Test-smoke"]["Configuration"]["EnvironmentVariables"])
    assert [v["name"] for v in smoke] == ["RELEASE", "V"]
    assert smoke[1]["value"] == "#{build.VERSION}"


def test_an_undeclared_pipeline_variable_is_mc238(write_manifest):
    api = dict(API, parameters={"Release": "#{variables.RELEAS}"})
    result = compile_manifest(write_manifest(_with_pipeline_variables([api])), lint=False)
    assert errors(result) == [("MC238", "targets[0].parameters.Release")]
    assert "no pipeline variable `RELEAS`" in next(d.message for d in result.diagnostics if d.is_error)
    result = compile_manifest(write_manifest(_manifest([api])), lint=False)  # no `variables` at all
    assert errors(result) == [("MC238", "targets[0].parameters.Release")]


def test_a_suite_env_name_that_is_a_pipeline_variable_is_mc313(write_manifest):
    tests = [{"name": "smoke", "after": "staging", "commands": ["./smoke.sh"], "env": {"RELEASE": "x"}}]
    result = compile_manifest(write_manifest(_with_pipeline_variables([API], tests)), lint=False)
    assert errors(result) == [("MC313", "variables[0].name")]


def test_readiness_rejects_a_pipeline_variable_the_pipeline_does_not_declare(write_manifest):
    import copy

    from manifestc.check.variables import check_variables

    api = dict(API, parameters={"Release": "#{variables.RELEASE}"})
    result = compile_manifest(write_manifest(_with_pipeline_variables([api])), lint=False)
    templates = copy.deepcopy(dict(result.templates))
    assert check_variables(result.manifest, templates) == []
    del templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Variables"]
    findings = check_variables(result.manifest, templates)
    # the Build action (every pipeline variable as $NAME) and each environment's api-prepare
    assert {f.code for f in findings} == {"MC665"} and all("variables.RELEASE" in f.message for f in findings)
    assert {f.message.split(" reads")[0] for f in findings} == {
        "Build/Build",
        "staging/api-prepare",
        "prod/api-prepare",
    }
