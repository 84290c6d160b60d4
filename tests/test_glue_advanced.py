"""Glue beyond one workflow (issue 11 item 12): connections, several databases, per-environment
values, job dependencies shipped with the scripts, and Step Functions orchestration."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from conftest import ROOT
from iam_sim import allowed, resolve
from manifestc.api import check_manifest, compile_manifest
from manifestc.check.glue_scripts import check_glue_scripts

ADVANCED = (ROOT / "manifests" / "glue-advanced.yaml").read_text()


def compiled(write_manifest, text):
    result = compile_manifest(write_manifest(text), lint=False)
    assert not [d for d in result.diagnostics if d.is_error], result.diagnostics
    return {a.name: yaml.safe_load(a.content) for a in result.artifacts}


def diagnostics(write_manifest, text, *, errors_only=True):
    found = check_manifest(write_manifest(text)).diagnostics
    return sorted((d.code, d.dotted_path()) for d in found if d.is_error or not errors_only)


def changed(text: str, change) -> str:
    data = yaml.safe_load(text)
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


def in_environment(value, environment: str):
    """A template value as `environment`'s stack sees it: Fn::If on IsEnvironment<Name> decided,
    AWS::NoValue entries dropped."""
    if isinstance(value, list):
        out = [in_environment(v, environment) for v in value]
        return [v for v in out if v != {"Ref": "AWS::NoValue"}]
    if isinstance(value, dict):
        if "Fn::If" in value:
            condition, yes, no = value["Fn::If"]
            chosen = yes if condition == f"IsEnvironment{environment.capitalize()}" else no
            return in_environment(chosen, environment)
        return {k: in_environment(v, environment) for k, v in value.items()}
    return value


def job_role(glue: dict, environment: str) -> list[dict]:
    statements = glue["Resources"]["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    return resolve(in_environment(statements, environment), {"Environment": environment})


def test_without_the_new_fields_glue_yaml_is_unchanged(write_manifest):
    """The defaults written out (workflow orchestration, no databases/connections/dependencies)
    compile to the same bytes as the glue example as it was."""
    base = (ROOT / "manifests" / "glue-etl.yaml").read_text()

    def explicit(data):
        data["glue"].update(orchestration="workflow", databases=[], connections=[])
        for job in data["glue"]["jobs"]:
            job.update(connections=[], dependencies=[])

    first = compile_manifest(write_manifest(base), lint=False).artifacts
    second = compile_manifest(write_manifest(changed(base, explicit), "other.yaml"), lint=False).artifacts
    # (pipeline.yaml names the manifest file and its hash)
    [before] = [a.content for a in first if a.name == "glue.yaml"]
    [after] = [a.content for a in second if a.name == "glue.yaml"]
    assert before == after
    glue = yaml.safe_load(before)
    assert "Conditions" not in glue and "Workflow" in glue["Resources"]
    assert not any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in glue["Resources"].values())


def test_a_jdbc_connection_is_placed_per_environment_and_only_that_environment_is_granted(write_manifest):
    glue = compiled(write_manifest, ADVANCED)["glue.yaml"]
    conn = glue["Resources"]["ConnectionOrdersDb"]["Properties"]["ConnectionInput"]
    assert conn["ConnectionType"] == "JDBC"
    prod, dev = in_environment(conn, "prod"), in_environment(conn, "dev")
    assert prod["PhysicalConnectionRequirements"] == {
        "SubnetId": "subnet-0bb1c79de3e2f4a51",
        "SecurityGroupIdList": ["sg-0c5d6e7f8a9b0c1d2"],
        "AvailabilityZone": "eu-west-1b",
    }
    assert dev["PhysicalConnectionRequirements"]["SubnetId"] == "subnet-0aa1b2c3d4e5f6a7b"
    assert prod["ConnectionProperties"]["JDBC_CONNECTION_URL"].endswith("orders.prod.internal:5432/orders")
    assert dev["ConnectionProperties"]["SECRET_ID"].endswith("secret:orders-etl/dev/db-XyZ123")
    # only the job that names the connection runs with it
    assert glue["Resources"]["JobExtract"]["Properties"]["Connections"] == {
        "Connections": [{"Ref": "ConnectionOrdersDb"}]
    }
    assert "Connections" not in glue["Resources"]["JobPublish"]["Properties"]

    subnet = "arn:aws:ec2:us-east-1:111111111111:subnet/{}"
    prod_secret = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-etl/prod/db-AbCdEf"
    dev_secret = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:orders-etl/dev/db-XyZ123"
    role = job_role(glue, "prod")
    interface = "arn:aws:ec2:us-east-1:111111111111:network-interface/eni-0123"
    assert allowed(role, "ec2:CreateNetworkInterface", interface)
    assert allowed(role, "ec2:CreateNetworkInterface", subnet.format("subnet-0bb1c79de3e2f4a51"))
    assert not allowed(role, "ec2:CreateNetworkInterface", subnet.format("subnet-0aa1b2c3d4e5f6a7b"))
    assert not allowed(role, "ec2:CreateNetworkInterface", subnet.format("subnet-0fffffffffffffff0"))
    assert allowed(role, "secretsmanager:GetSecretValue", prod_secret)
    assert not allowed(role, "secretsmanager:GetSecretValue", dev_secret)
    dev_role = job_role(glue, "dev")
    assert allowed(dev_role, "secretsmanager:GetSecretValue", dev_secret)
    assert not allowed(dev_role, "secretsmanager:GetSecretValue", prod_secret)


def test_a_secret_with_its_own_key_is_decrypted_only_through_secrets_manager(write_manifest):
    key = "arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-0000-1111-2222-333344445555"
    text = changed(ADVANCED, lambda d: d["glue"]["connections"][0].update(secret_key=key))
    glue = compiled(write_manifest, text)["glue.yaml"]
    role = job_role(glue, "dev")
    via = {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}
    assert allowed(role, "kms:Decrypt", key, via)
    assert not allowed(role, "kms:Decrypt", key, {"kms:ViaService": "s3.us-east-1.amazonaws.com"})


def test_per_environment_arguments_are_each_environments_values_and_grants(write_manifest):
    glue = compiled(write_manifest, ADVANCED)["glue.yaml"]
    arguments = glue["Resources"]["JobExtract"]["Properties"]["DefaultArguments"]
    assert in_environment(arguments, "prod")["--source"] == "s3://acme-orders-prod-exports/"
    assert in_environment(arguments, "dev")["--source"] == "s3://acme-orders-dev-exports/"
    prod, dev = job_role(glue, "prod"), job_role(glue, "dev")
    assert allowed(prod, "s3:GetObject", "arn:aws:s3:::acme-orders-prod-exports/2026/orders.csv")
    assert not allowed(prod, "s3:GetObject", "arn:aws:s3:::acme-orders-dev-exports/2026/orders.csv")
    assert allowed(dev, "s3:GetObject", "arn:aws:s3:::acme-orders-dev-exports/2026/orders.csv")
    assert not allowed(dev, "s3:PutObject", "arn:aws:s3:::acme-orders-dev-exports/x")  # read-only
    assert allowed(prod, "s3:PutObject", "arn:aws:s3:::acme-orders-curated/prod/t/part-0.parquet")
    assert not allowed(prod, "s3:PutObject", "arn:aws:s3:::acme-orders-curated/dev/t/part-0.parquet")


def test_an_environment_output_shared_with_another_is_mc287(write_manifest):
    def shared(data):
        data["environments"][0]["glue"]["arguments"]["publish"] = {"--curated": "s3://acme-shared/curated/"}
        data["environments"][1]["glue"]["arguments"]["publish"] = {"--curated": "s3://acme-shared/curated/"}

    assert ("MC287", "glue.jobs[1].arguments.--curated") in diagnostics(write_manifest, changed(ADVANCED, shared))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # an environment may override an argument, not add one
        (
            lambda d: d["environments"][0]["glue"]["arguments"]["extract"].update({"--new": "x"}),
            [("MC361", "environments[0].glue.arguments.extract.--new")],
        ),
        (
            lambda d: d["environments"][0]["glue"]["arguments"].update({"extrakt": {"--source": "s3://a/"}}),
            [("MC201", "environments[0].glue.arguments.extrakt")],
        ),
        (lambda d: d["glue"]["jobs"][0].update(connections=["orders"]), [("MC201", "glue.jobs[0].connections[0]")]),
        # a per-environment path becomes a grant too: no wildcards
        (
            lambda d: d["environments"][1]["glue"]["arguments"]["extract"].update({"--source": "s3://acme-*/"}),
            [("MC284", "environments[1].glue.arguments.extract.--source")],
        ),
        # a jdbc connection without a URL; a network connection with a secret
        (lambda d: d["glue"]["connections"][0].pop("jdbc_url"), [("MC360", "glue.connections[0]")]),
        # no password in a template: a jdbc connection reads its credentials from Secrets Manager
        (lambda d: d["glue"]["connections"][0].pop("secret"), [("MC360", "glue.connections[0]")]),
        (
            lambda d: d["glue"]["connections"][0].update(type="network"),
            [("MC360", "glue.connections[0].jdbc_url"), ("MC360", "glue.connections[0].secret")],
        ),
        # dev has no subnet of its own and the connection none for it
        (
            lambda d: d["glue"]["connections"][0].pop("subnet"),
            [("MC360", "glue.connections[0]")],
        ),
        (
            lambda d: d["glue"]["jobs"][1]["arguments"].update({"--extra-py-files": "s3://libs/x.zip"}),
            [("MC362", "glue.jobs[1].dependencies[1]")],
        ),
        (
            lambda d: d["glue"]["jobs"][0].update(script="etl/extract.scala"),
            [("MC362", "glue.jobs[0].dependencies[0]")],
        ),
        (
            lambda d: d["glue"]["databases"].append("orders_{environment}"),
            [("MC365", "glue.databases[1]")],
        ),
    ],
)
def test_mistakes_are_located(write_manifest, change, expected):
    assert diagnostics(write_manifest, changed(ADVANCED, change)) == expected


def test_unused_environment_values_and_dependencies_outside_the_artifact_warn(write_manifest):
    def change(data):
        data["tests"].append({"name": "sandbox-smoke", "after": "sandbox"})
        data["environments"].append({"name": "sandbox", "targets": []})
        data["environments"][2]["glue"] = {"arguments": {"extract": {"--source": "s3://sandbox/"}}}
        data["build"]["artifacts"]["files"] = ["etl/**/*"]

    found = [d for d in diagnostics(write_manifest, changed(ADVANCED, change), errors_only=False)]
    assert ("MC688", "environments[2].glue") in found
    assert ("MC689", "glue.jobs[0].dependencies[0]") in found
    assert ("MC689", "glue.jobs[1].dependencies[0]") in found
    assert ("MC689", "glue.jobs[1].dependencies[1]") not in found  # etl/common.zip is under etl/**/*


def test_dependencies_travel_with_the_scripts(write_manifest):
    out = compiled(write_manifest, ADVANCED)
    wheel = "dist/orders_lib-1.4.0-py3-none-any.whl"
    arguments = out["glue.yaml"]["Resources"]["JobPublish"]["Properties"]["DefaultArguments"]
    assert arguments["--additional-python-modules"] == {
        "Fn::Sub": f"s3://${{ScriptsBucket}}/${{ScriptsPrefix}}/{wheel}"
    }
    assert arguments["--extra-py-files"] == {"Fn::Sub": "s3://${ScriptsBucket}/${ScriptsPrefix}/etl/common.zip"}
    upload = out["pipeline.yaml"]["Resources"]["GlueScriptsProdProject"]["Properties"]["Source"]["BuildSpec"]
    commands = yaml.safe_load(upload)["phases"]["build"]["commands"]
    # in the content hash (a new wheel is a new prefix, so a stack change) and uploaded beside the scripts
    assert wheel in commands[0] and "etl/common.zip" in commands[0]
    assert f'aws s3 cp {wheel} "s3://$SCRIPTS_BUCKET/$SCRIPTS_PREFIX/{wheel}"' in commands
    # a Python shell job gets a wheel on its --extra-py-files
    text = changed(ADVANCED, lambda d: d["glue"]["jobs"][0].update(type="pythonshell", glue_version="3.0"))
    shell = compiled(write_manifest, text)["glue.yaml"]["Resources"]["JobExtract"]["Properties"]
    assert shell["DefaultArguments"]["--extra-py-files"] == {
        "Fn::Sub": f"s3://${{ScriptsBucket}}/${{ScriptsPrefix}}/{wheel}"
    }
    assert "--additional-python-modules" not in shell["DefaultArguments"]


def test_mc643_refuses_a_job_role_that_cannot_read_its_dependencies(write_manifest):
    result = compile_manifest(write_manifest(ADVANCED), lint=False)
    templates = {a.name: yaml.safe_load(a.content) for a in result.artifacts if a.name.endswith(".yaml")}
    assert check_glue_scripts(result.manifest, templates) == []
    broken = copy.deepcopy(templates)
    statements = broken["glue.yaml"]["Resources"]["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    statements["Statement"] = [s for s in statements["Statement"] if s.get("Sid") != "Scripts"]
    found = check_glue_scripts(result.manifest, broken)
    assert {d.code for d in found} == {"MC643"}
    assert any("dist/orders_lib-1.4.0-py3-none-any.whl" in d.message for d in found)


def test_more_databases_are_created_per_environment_and_crawlers_pick_theirs(write_manifest):
    text = glue_with_crawler(database="orders_staging_{environment}")
    out = compiled(write_manifest, text)
    glue = out["glue.yaml"]
    database = glue["Resources"]["DatabaseOrdersStagingEnvironment"]
    assert database["DeletionPolicy"] == "Retain"
    assert database["Properties"]["DatabaseInput"]["Name"] == {"Fn::Select": [0, {"Ref": "ExtraDatabaseNames"}]}
    assert glue["Resources"]["CrawlerRaw"]["Properties"]["DatabaseName"] == {"Ref": "DatabaseOrdersStagingEnvironment"}
    overrides = [
        a["Configuration"]["ParameterOverrides"]
        for s in out["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]
        for a in s["Actions"]
        if "ParameterOverrides" in a.get("Configuration", {})
    ]
    assert any('"ExtraDatabaseNames": "orders_staging_prod"' in str(o) for o in overrides)
    role = resolve(
        glue["Resources"]["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"],
        {"ExtraDatabaseNames": "orders_staging_prod"},
    )
    # (Fn::Select resolves to the whole list in the simulator; one database here)
    assert any("glue:CreateTable" in s["Action"] and any("database/" in r for r in s["Resource"]) for s in role)
    unknown = glue_with_crawler(database="nope_{environment}")
    assert diagnostics(write_manifest, unknown) == [("MC201", "glue.crawlers[0].database")]


def glue_with_crawler(database: str) -> str:
    def change(data):
        data["glue"].update(orchestration="workflow", schedule=None, smoke_test=False)
        data["glue"]["crawlers"] = [{"name": "raw", "s3": ["s3://acme-raw/orders/"], "database": database}]
        data["glue"]["jobs"][1]["after"] = ["extract"]

    return changed(ADVANCED, change)


def test_step_functions_runs_the_jobs_in_dag_order_with_sync_and_only_them(write_manifest):
    def fan(data):
        jobs = data["glue"]["jobs"]
        jobs.append({"name": "audit", "script": "etl/audit.py", "after": ["extract"]})
        jobs.append({"name": "report", "script": "etl/report.py", "after": ["publish", "audit"]})

    glue = compiled(write_manifest, changed(ADVANCED, fan))["glue.yaml"]
    kinds = {r["Type"] for r in glue["Resources"].values()}
    assert "AWS::Glue::Workflow" not in kinds and "AWS::Glue::Trigger" not in kinds
    machine = glue["Resources"]["StateMachine"]["Properties"]
    states = machine["Definition"]["States"]
    # levels: extract | staged (crawler), audit | publish | report
    assert machine["Definition"]["StartAt"] == "extract"
    assert states["extract"]["Next"] == "level 2"
    branches = states["level 2"]["Branches"]
    assert [b["StartAt"] for b in branches] == ["audit", "staged"]
    assert states["level 2"]["Next"] == "publish" and states["publish"]["Next"] == "report"
    assert states["report"]["End"] is True
    task = states["publish"]
    assert task["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert task["Parameters"] == {"JobName": "${JobPublish}"}
    assert machine["DefinitionSubstitutions"]["JobPublish"] == {"Ref": "JobPublish"}
    # a crawler: started with the SDK integration, polled until READY, then its last crawl must
    # have SUCCEEDED
    crawl = branches[1]["States"]
    assert crawl["staged"]["Resource"] == "arn:aws:states:::aws-sdk:glue:startCrawler"
    assert crawl["staged"]["Parameters"] == {"Name": "${CrawlerStaged}"}
    assert crawl["staged status"]["Resource"] == "arn:aws:states:::aws-sdk:glue:getCrawler"
    assert crawl["staged ready?"]["Choices"][0] == {
        "Variable": "$.Crawler.State",
        "StringEquals": "READY",
        "Next": "staged succeeded?",
    }
    assert crawl["staged ready?"]["Default"] == "staged wait"
    assert crawl["staged succeeded?"]["Choices"][0]["Variable"] == "$.Crawler.LastCrawl.Status"
    assert crawl["staged succeeded?"]["Default"] == "staged failed"
    assert crawl["staged failed"]["Type"] == "Fail" and crawl["staged succeeded"] == {"Type": "Succeed"}
    assert machine["Definition"]["TimeoutSeconds"] == (4 * 60 + 60) * 60

    role = resolve(
        glue["Resources"]["StateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"],
        {"Environment": "prod"},
    )
    job = "arn:aws:glue:us-east-1:111111111111:job/orders-prod-{}"
    for action in ("glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"):
        assert allowed(role, action, job.format("publish"))
    assert not allowed(role, "glue:StartJobRun", "arn:aws:glue:us-east-1:111111111111:job/orders-dev-publish")
    assert not allowed(role, "glue:StartJobRun", "arn:aws:glue:us-east-1:111111111111:job/someone-elses")
    crawler = "arn:aws:glue:us-east-1:111111111111:crawler/orders-{}-staged"
    assert allowed(role, "glue:StartCrawler", crawler.format("prod"))
    assert allowed(role, "glue:GetCrawler", crawler.format("prod"))
    assert not allowed(role, "glue:StartCrawler", crawler.format("dev"))
    assert not allowed(role, "glue:StartJobRun", crawler.format("prod"))
    # the schedule starts the state machine, and only it
    schedule = glue["Resources"]["Schedule"]["Properties"]
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert schedule["Target"]["Arn"] == {"Ref": "StateMachine"}
    starter = glue["Resources"]["ScheduleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    starter = resolve(starter, {"StateMachine": "arn:aws:states:us-east-1:111111111111:stateMachine:orders-prod"})
    assert allowed(starter, "states:StartExecution", "arn:aws:states:us-east-1:111111111111:stateMachine:orders-prod")
    assert not allowed(starter, "states:StartExecution", "arn:aws:states:us-east-1:111111111111:stateMachine:x")


def test_every_new_role_carries_the_boundary_under_the_stack_path(write_manifest):
    glue = compiled(write_manifest, ADVANCED)["glue.yaml"]
    for logical_id in ("StateMachineRole", "ScheduleRole", "JobRole"):
        role = glue["Resources"][logical_id]["Properties"]
        assert "PermissionsBoundary" in role
        assert role["Path"] == {"Fn::Sub": "/manifestc-app/orders-etl/${AWS::StackName}/"}


def test_a_connection_placed_only_per_environment(write_manifest):
    """No placement on the connection itself: every environment gives its own (else MC360)."""

    def change(data):
        conn = data["glue"]["connections"][0]
        dev = {k: conn.pop(k) for k in ("subnet", "security_groups", "availability_zone", "jdbc_url", "secret")}
        data["environments"][0]["glue"]["connections"] = {"orders_db": dev}

    glue = compiled(write_manifest, changed(ADVANCED, change))["glue.yaml"]
    conn = glue["Resources"]["ConnectionOrdersDb"]["Properties"]["ConnectionInput"]
    assert in_environment(conn, "dev")["PhysicalConnectionRequirements"]["SubnetId"] == "subnet-0aa1b2c3d4e5f6a7b"
    assert in_environment(conn, "prod")["PhysicalConnectionRequirements"]["SubnetId"] == "subnet-0bb1c79de3e2f4a51"
    assert "null" not in yaml.safe_dump(conn)

    # an environment without its own placement is located at the connection
    def drop_dev(data):
        change(data)
        del data["environments"][0]["glue"]["connections"]

    assert diagnostics(write_manifest, changed(ADVANCED, drop_dev)) == [("MC360", "glue.connections[0]")]


def test_the_smoke_run_starts_and_watches_only_its_environments_state_machine(write_manifest):
    from manifestc.semantics import derive_endpoints

    out = compiled(write_manifest, ADVANCED)
    resources = out["pipeline.yaml"]["Resources"]
    script = yaml.safe_load(resources["GlueSmokeProdProject"]["Properties"]["Source"]["BuildSpec"])
    body = script["phases"]["build"]["commands"][0]
    assert "aws stepfunctions start-execution" in body and '[ "$STATUS" = SUCCEEDED ]' in body
    variables = resources["GlueSmokeProdProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    machine_arn = {v["Name"]: v["Value"] for v in variables}["STATE_MACHINE_ARN"]
    arn = "arn:aws:states:us-east-1:111111111111:{}"
    assert resolve(machine_arn) == arn.format("stateMachine:orders-prod")
    [policy] = resources["GlueSmokeProdRole"]["Properties"]["Policies"]
    role = resolve(policy["PolicyDocument"]["Statement"])
    assert allowed(role, "states:StartExecution", arn.format("stateMachine:orders-prod"))
    assert allowed(role, "states:DescribeExecution", arn.format("execution:orders-prod:run-1"))
    assert allowed(role, "states:StopExecution", arn.format("execution:orders-prod:run-1"))
    assert not allowed(role, "states:StartExecution", arn.format("stateMachine:orders-dev"))
    assert not allowed(role, "states:DescribeExecution", arn.format("execution:orders-dev:run-1"))
    # the smoke action runs after the deploy in the pipeline
    stages = resources["Pipeline"]["Properties"]["Stages"]
    prod = next(s for s in stages if s["Name"].lower().startswith("prod"))
    assert [a["Name"] for a in prod["Actions"]][-1] == "etl-smoke"
    # a private pipeline needs the Step Functions endpoint for it
    result = compile_manifest(write_manifest(ADVANCED), lint=False)
    assert "states" in derive_endpoints(result.manifest)
    assert "states" not in derive_endpoints(
        compile_manifest(
            write_manifest(changed(ADVANCED, lambda d: d["glue"].update(smoke_test=False)), "b.yaml"), lint=False
        ).manifest
    )


def _tasks(states: dict):
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from _tasks(branch["States"])


def _retried(task: dict, error: str) -> list[float]:
    """The waits before each retry of `error` (Amazon States Language "Retry": the first retrier
    whose ErrorEquals names the error or States.ALL; IntervalSeconds * BackoffRate^n, capped by
    MaxDelaySeconds, MaxAttempts retries; defaults 1 s, 2.0, 3)."""
    for retrier in task.get("Retry", []):
        if error in retrier["ErrorEquals"] or "States.ALL" in retrier["ErrorEquals"]:
            interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
            cap = retrier.get("MaxDelaySeconds", float("inf"))
            return [min(interval * rate**n, cap) for n in range(retrier.get("MaxAttempts", 3))]
    return []


def test_state_machine_waits_for_a_run_that_is_still_going_and_retries_throttling(write_manifest):
    """REVIEW1 B5: the schedule's execution and the smoke test's (or two scheduled ones) overlap; a
    job has one concurrent run and a crawler one crawl, so the later start fails until the other
    finishes. Error names: `Glue.<Exception>` (Step Functions, "AWS SDK service integrations";
    AWS Glue API, "Exceptions")."""

    def fan(data):
        data["glue"]["jobs"].append({"name": "audit", "script": "etl/audit.py", "after": ["extract"]})

    glue = compiled(write_manifest, changed(ADVANCED, fan))["glue.yaml"]
    definition = glue["Resources"]["StateMachine"]["Properties"]["Definition"]
    tasks = dict(_tasks(definition["States"]))
    jobs = [t for t in tasks.values() if t["Resource"] == "arn:aws:states:::glue:startJobRun.sync"]
    starts = [t for t in tasks.values() if t["Resource"] == "arn:aws:states:::aws-sdk:glue:startCrawler"]
    assert len(jobs) == 3 and len(starts) == 1  # audit runs in a Parallel branch: retried there too
    for task in jobs:
        waits = _retried(task, "Glue.ConcurrentRunsExceededException")
        # long enough for another run of a job to finish, short of the machine's own timeout
        assert 30 * 60 <= sum(waits) < definition["TimeoutSeconds"] and max(waits) <= 600
        assert waits[0] >= 30  # not a busy loop against Glue
        assert 0 < sum(_retried(task, "Glue.AWSGlueException")) <= 60  # throttling: a few quick retries
        # a failed job run is not rerun by the state machine (the job's own `retries` decide)
        assert _retried(task, "States.TaskFailed") == []
    for task in starts:
        assert 30 * 60 <= sum(_retried(task, "Glue.CrawlerRunningException")) < definition["TimeoutSeconds"]
    # polling a crawler and the failure states retry nothing
    status = [t for t in tasks.values() if t["Resource"].endswith(":getCrawler")]
    assert status and all("Retry" not in t for t in status)
    for task in tasks.values():
        for retrier in task.get("Retry", []):
            assert all(re.fullmatch(r"Glue\.[A-Z][A-Za-z]+Exception", e) for e in retrier["ErrorEquals"])


def test_the_job_role_reads_its_environments_connections_only(write_manifest):
    """REVIEW1 B6: a job reading through its connection calls glue:GetConnection as the job role;
    it needs the catalog and the connection (AWS Glue, "Specifying AWS Glue resource ARNs")."""
    glue = compiled(write_manifest, ADVANCED)["glue.yaml"]
    name = glue["Resources"]["ConnectionOrdersDb"]["Properties"]["ConnectionInput"]["Name"]
    assert name == {"Fn::Sub": "orders-${Environment}-orders_db"}
    arn = "arn:aws:glue:us-east-1:111111111111:{}"
    for env, other in (("prod", "dev"), ("dev", "prod")):
        role = job_role(glue, env)
        assert allowed(role, "glue:GetConnection", arn.format("catalog"))
        assert allowed(role, "glue:GetConnection", arn.format(f"connection/orders-{env}-orders_db"))
        assert not allowed(role, "glue:GetConnection", arn.format(f"connection/orders-{other}-orders_db"))
        assert not allowed(role, "glue:GetConnection", arn.format("connection/someone-elses"))
        # no listing of every connection of the account
        assert not allowed(role, "glue:GetConnections", arn.format("catalog"))

    # a workflow without connections grants none
    plain = compiled(write_manifest, (ROOT / "manifests" / "glue-etl.yaml").read_text())["glue.yaml"]
    assert not allowed(job_role(plain, "prod"), "glue:GetConnection", arn.format("catalog"))


def test_a_wheel_installed_in_a_vpc_without_pip_options_warns_mc694(write_manifest):
    """REVIEW1 Q6: --additional-python-modules is pip-installed at job start from PyPI; a job with
    a connection runs in its subnet. The example sets --python-modules-installer-option."""
    assert [d for d in diagnostics(write_manifest, ADVANCED, errors_only=False) if d[0] == "MC694"] == []

    def without_option(data):
        del data["glue"]["jobs"][0]["arguments"]["--python-modules-installer-option"]

    bare = changed(ADVANCED, without_option)
    assert [d for d in diagnostics(write_manifest, bare, errors_only=False) if d[0] == "MC694"] == [
        ("MC694", "glue.jobs[0].dependencies[0]")  # extract: connection + wheel; publish has no connection
    ]

    def modules_by_name(data):
        without_option(data)
        job = data["glue"]["jobs"][0]
        job["dependencies"] = []
        job["arguments"]["--additional-python-modules"] = "pyarrow==14.0.1"

    named = changed(ADVANCED, modules_by_name)
    assert [d for d in diagnostics(write_manifest, named, errors_only=False) if d[0] == "MC694"] == [
        ("MC694", "glue.jobs[0].arguments.--additional-python-modules")
    ]

    def no_connection(data):
        without_option(data)
        data["glue"]["jobs"][0]["connections"] = []

    plain = changed(ADVANCED, no_connection)
    assert [d for d in diagnostics(write_manifest, plain, errors_only=False) if d[0] == "MC694"] == []
    # the option reaches the job as a default argument
    glue = compiled(write_manifest, ADVANCED)["glue.yaml"]
    assert (
        glue["Resources"]["JobExtract"]["Properties"]["DefaultArguments"]["--python-modules-installer-option"]
        == "--no-deps"
    )


def _smoke_actions(pipeline: dict) -> dict[str, list[str]]:
    stages = pipeline["Resources"]["Pipeline"]["Properties"]["Stages"]
    return {
        s["Name"]: [a["Name"] for a in s["Actions"] if a["Name"].endswith("-smoke")]
        for s in stages
        if s["Name"] not in ("Source", "UpdatePipeline", "Build")
    }


def test_the_smoke_test_is_chosen_per_environment(write_manifest):
    """REVIEW1 B5: the smoke test runs the real ETL; `environments[].glue.smoke_test` turns it off
    for an environment (prod) or on for one only."""
    from manifestc.semantics import derive_endpoints

    def prod_without(data):
        data["environments"][1]["glue"]["smoke_test"] = False

    out = compiled(write_manifest, changed(ADVANCED, prod_without))
    resources = out["pipeline.yaml"]["Resources"]
    assert _smoke_actions(out["pipeline.yaml"]) == {"dev": ["etl-smoke"], "prod": []}
    assert "GlueSmokeDevProject" in resources and "GlueSmokeProdProject" not in resources
    assert "GlueSmokeProdRole" not in resources

    def dev_only(data):
        data["glue"]["smoke_test"] = False
        data["environments"][0]["glue"]["smoke_test"] = True

    result = compile_manifest(write_manifest(changed(ADVANCED, dev_only), "dev-only.yaml"), lint=False)
    pipeline = next(yaml.safe_load(a.content) for a in result.artifacts if a.name == "pipeline.yaml")
    assert _smoke_actions(pipeline) == {"dev": ["etl-smoke"], "prod": []}
    assert "states" in derive_endpoints(result.manifest)  # one environment's smoke test is enough

    # MC285 points at the environment's own setting when that is what turns it on
    def cross_account(data):
        dev_only(data)
        data["account"] = "111111111111"
        data["environments"][0]["account"] = "222222222222"

    assert ("MC285", "environments[0].glue.smoke_test") in diagnostics(write_manifest, changed(ADVANCED, cross_account))
