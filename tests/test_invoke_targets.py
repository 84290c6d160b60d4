"""stepfunctions and lambda_invoke targets: CodePipeline invoke actions after the deploys (issue 11 item 8)."""

from __future__ import annotations

import json

from conftest import MINIMAL, with_changes
from manifestc.api import check_manifest, compile_manifest

TWO_ENVS = [{"name": "staging"}, {"name": "prod", "approval": True}]
ETL = {
    "name": "etl",
    "type": "stepfunctions",
    "state_machine": "orders-etl-{environment}",
    "input": {"stage": "{environment}", "batch": 500, "tags": {"a": 1}},
    "execution_name_prefix": "deploy",
}
MIGRATE = {"name": "migrate", "type": "lambda_invoke", "function": "migrate-{environment}"}
APP = {"name": "app", "template": "deploy/app.yaml"}


def errors(result):
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def _compile(write_manifest, targets, environments=TWO_ENVS, lint=False, **changes):
    text = with_changes(MINIMAL, targets=targets, environments=environments, **changes)
    result = compile_manifest(write_manifest(text), lint=lint)
    assert not errors(result), result.diagnostics
    return result


def _stage(template, name):
    [stage] = [s for s in template["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == name]
    return {a["Name"]: a for a in stage["Actions"]}


def _statements(template, role="PipelineRole"):
    return {
        s.get("Sid"): s
        for p in template["Resources"][role]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    }


def test_state_machine_is_started_after_the_deploys_with_its_input(write_manifest):
    tests = [{"name": "unit"}, {"name": "smoke", "after": "staging"}]
    template = _compile(write_manifest, [APP, ETL], tests=tests, region="eu-west-1").templates["pipeline.yaml"]
    staging = _stage(template, "staging")
    invoke = staging["etl-invoke"]
    assert invoke["ActionTypeId"] == {"Category": "Invoke", "Owner": "AWS", "Provider": "StepFunctions", "Version": "1"}
    assert invoke["RunOrder"] > staging["app-deploy"]["RunOrder"]
    assert staging["Test-smoke"]["RunOrder"] > invoke["RunOrder"]
    config = invoke["Configuration"]
    assert config["StateMachineArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:states:eu-west-1:${AWS::AccountId}:stateMachine:orders-etl-staging"
    }
    assert config["InputType"] == "Literal" and config["ExecutionNamePrefix"] == "deploy"
    assert json.loads(config["Input"]) == {"stage": "staging", "batch": 500, "tags": {"a": 1}}
    assert "InputArtifacts" not in invoke
    prod = _stage(template, "prod")["etl-invoke"]["Configuration"]
    assert json.loads(prod["Input"])["stage"] == "prod"


def test_pipeline_role_may_start_exactly_the_invoked_state_machines(write_manifest):
    template = _compile(write_manifest, [ETL], region="eu-west-1").templates["pipeline.yaml"]
    statements = _statements(template)
    start = statements["StartStateMachines"]
    assert start["Action"] == ["states:StartExecution", "states:DescribeStateMachine"]
    assert [r["Fn::Sub"].rsplit(":", 1)[-1] for r in start["Resource"]] == ["orders-etl-staging", "orders-etl-prod"]
    follow = statements["FollowExecutions"]
    assert follow["Action"] == ["states:DescribeExecution"]
    assert [r["Fn::Sub"].split(":execution:")[1] for r in follow["Resource"]] == [
        "orders-etl-staging:*",
        "orders-etl-prod:*",
    ]
    assert "InvokeFunctions" not in statements


def test_input_file_is_read_from_the_build_artifact(write_manifest):
    target = {**ETL, "input": None, "input_file": "sfn/input.json"}
    template = _compile(write_manifest, [target]).templates["pipeline.yaml"]
    invoke = _stage(template, "staging")["etl-invoke"]
    assert invoke["Configuration"]["InputType"] == "FilePath"
    assert invoke["Configuration"]["Input"] == "sfn/input.json"
    assert invoke["InputArtifacts"] == [{"Name": "BuildOutput"}]


def test_lambda_invoke_gets_invoke_on_exactly_its_functions(write_manifest):
    target = {**MIGRATE, "user_parameters": {"env": "{environment}"}}
    template = _compile(write_manifest, [APP, target]).templates["pipeline.yaml"]
    invoke = _stage(template, "prod")["migrate-invoke"]
    assert invoke["ActionTypeId"]["Provider"] == "Lambda" and invoke["ActionTypeId"]["Category"] == "Invoke"
    assert invoke["Configuration"] == {"FunctionName": "migrate-prod", "UserParameters": '{"env":"prod"}'}
    grant = _statements(template)["InvokeFunctions"]
    assert grant["Action"] == ["lambda:InvokeFunction"]
    assert [r["Fn::Sub"].rsplit(":", 1)[-1] for r in grant["Resource"]] == ["migrate-staging", "migrate-prod"]


def test_string_user_parameters_are_passed_as_given(write_manifest):
    target = {**MIGRATE, "user_parameters": "stage={environment}"}
    template = _compile(write_manifest, [target]).templates["pipeline.yaml"]
    assert _stage(template, "staging")["migrate-invoke"]["Configuration"]["UserParameters"] == "stage=staging"


def test_other_account_runs_as_the_bootstrap_deploy_role_which_holds_the_grant(write_manifest):
    envs = [{"name": "staging"}, {"name": "prod", "account": "222222222222"}]
    result = _compile(write_manifest, [ETL], envs, account="111111111111", region="eu-west-1")
    invoke = _stage(result.templates["pipeline.yaml"], "prod")["etl-invoke"]
    assert invoke["RoleArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::222222222222:role/manifestc/demo-service/demo-service-deploy"
    }
    assert "222222222222:stateMachine:orders-etl-prod" in invoke["Configuration"]["StateMachineArn"]["Fn::Sub"]
    # the pipeline role starts only staging's; prod's grant is in the bootstrap role
    assert "orders-etl-prod" not in json.dumps(_statements(result.templates["pipeline.yaml"]))
    bootstrap = result.templates["bootstrap-222222222222.yaml"]
    text = json.dumps(bootstrap)
    assert "stateMachine:orders-etl-prod" in text and "execution:orders-etl-prod:*" in text
    assert "orders-etl-staging" not in text


def test_lambda_invoke_in_another_account_is_a_located_error(write_manifest):
    envs = [{"name": "prod", "account": "222222222222"}]
    text = with_changes(MINIMAL, targets=[MIGRATE], environments=envs, account="111111111111", region="eu-west-1")
    result = check_manifest(write_manifest(text))
    assert errors(result) == [("MC325", "targets[0].function")]
    [diag] = [d for d in result.diagnostics if d.is_error]
    assert diag.line > 0 and "stepfunctions" in diag.hint


def test_input_and_input_file_are_exclusive(write_manifest):
    target = {**ETL, "input_file": "sfn/input.json"}
    result = check_manifest(write_manifest(with_changes(MINIMAL, targets=[target])))
    assert errors(result) == [("MC324", "targets[0].input_file")]


def test_state_machine_is_required_and_placeholders_checked(write_manifest):
    missing = check_manifest(write_manifest(with_changes(MINIMAL, targets=[{"name": "etl", "type": "stepfunctions"}])))
    assert errors(missing) == [("MC207", "targets[0]")]
    unknown = {**ETL, "state_machine": "etl-{stage}"}
    result = check_manifest(write_manifest(with_changes(MINIMAL, targets=[unknown])))
    assert errors(result) == [("MC208", "targets[0].state_machine")]


def test_same_state_machine_name_in_two_environments_renders_distinct_arns_only_with_a_placeholder(write_manifest):
    shared = {**ETL, "state_machine": "orders-etl"}
    template = _compile(write_manifest, [shared]).templates["pipeline.yaml"]
    # invoking one state machine from two environments is allowed (it writes nothing the other owns)
    assert len(_statements(template)["StartStateMachines"]["Resource"]) == 1


def test_fields_of_other_types_are_refused(write_manifest):
    target = {**MIGRATE, "state_machine": "x"}
    result = check_manifest(write_manifest(with_changes(MINIMAL, targets=[target])))
    assert errors(result) == [("MC214", "targets[0].state_machine")]


def test_invoke_actions_lint_clean(write_manifest):
    envs = [{"name": "staging"}, {"name": "prod", "account": "222222222222"}]
    # lambda_invoke only in staging (the pipeline's account); the state machine in both
    envs[0]["targets"] = ["etl", "migrate"]
    envs[1]["targets"] = ["etl"]
    result = _compile(write_manifest, [ETL, MIGRATE], envs, lint=True, account="111111111111", region="eu-west-1")
    assert set(result.templates) == {"pipeline.yaml", "bootstrap-222222222222.yaml"}
    assert [d for d in result.diagnostics if d.code.startswith(("E", "W"))] == []


def test_invoked_and_blue_green_resources_are_gated_by_the_approval(write_manifest):
    """The self-update guard compares the resources an approval gates: a commit that points an
    ungated environment's invoke or blue/green target at prod's is refused like a deploy target."""
    from manifestc import guard

    green = {
        "name": "api",
        "type": "ecs",
        "cluster": "shop",
        "service": "api-{environment}",
        "container": "api",
        "image_repository": "api",
        "deploy": "blue_green",
        "application": "shop-api",
        "deployment_group": "api-{environment}",
    }
    text = with_changes(
        MINIMAL,
        targets=[ETL, MIGRATE, green],
        environments=TWO_ENVS,
        language="docker",
        region="eu-west-1",
        account="111111111111",
    )
    result = compile_manifest(write_manifest(text), lint=False)
    assert not errors(result), result.diagnostics
    prod = result.manifest.environment("prod")
    found = {(kind, identity) for kind, _, _, identity in guard.environment_resources(result.manifest, prod)}
    assert {
        ("state machine", "orders-etl-prod"),
        ("Lambda function", "migrate-prod"),
        ("CodeDeploy deployment group", "shop-api/api-prod"),
        ("ECS service", "shop/api-prod"),
    } <= found
    gated = json.loads(guard.gated_value(result.manifest))
    assert ["state machine", "111111111111", "eu-west-1", "orders-etl-prod"] in gated["prod"]
    assert "staging" not in gated


def test_an_environment_may_invoke_the_function_it_deploys(write_manifest):
    """MC280 is about two deploys writing one resource; invoking is not writing (the same function
    deployed by a lambda target and invoked by a lambda_invoke target compiles)."""
    deploy = {"name": "fn", "type": "lambda", "function": "migrate-{environment}"}
    template = _compile(write_manifest, [deploy, MIGRATE]).templates["pipeline.yaml"]
    staging = _stage(template, "staging")
    assert staging["migrate-invoke"]["RunOrder"] > staging["fn-deploy"]["RunOrder"]


def test_invokes_run_after_commands_jobs_reading_variables_and_before_suites(write_manifest):
    """README "the environment stage's run orders": deploys, then commands jobs that read another
    target's variables, then invoke actions, then post-deploy suites."""
    seed = {
        "name": "seed",
        "type": "commands",
        "permissions": {
            "statements": [{"actions": ["s3:GetObject"], "resources": ["arn:aws:s3:::seed-{environment}/*"]}]
        },
        "env": {"API_URL": "#{app.ApiUrl}"},
        "commands": ["./seed.sh"],
    }
    tests = [{"name": "unit"}, {"name": "smoke", "after": "staging"}]
    template = _compile(write_manifest, [APP, seed, ETL], tests=tests, region="eu-west-1").templates["pipeline.yaml"]
    staging = _stage(template, "staging")
    orders = [staging[name]["RunOrder"] for name in ("app-deploy", "seed-deploy", "etl-invoke", "Test-smoke")]
    assert orders == sorted(orders) and len(set(orders)) == 4, orders
