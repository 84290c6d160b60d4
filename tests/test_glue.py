"""Glue workflows (issue 6): the DAG compiles to triggers that match it exactly; bad DAGs and
invalid job settings are located errors; tests run in the Glue libraries image; the glue target
uploads scripts under a versioned prefix and deploys glue.yaml."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import with_changes
from manifestc.api import check_manifest, compile_manifest
from manifestc.semantics import cron_problem


def job(name, after=(), **extra):
    return {"name": name, "script": f"etl/{name}.py", "after": list(after), **extra}


def crawler(name, after=()):
    return {"name": name, "s3": [f"s3://raw-data/{name}/"], "after": list(after)}


def glue_manifest(jobs=(), crawlers=(), schedule=None, **glue_extra) -> str:
    glue = {"workflow": "wf", "database": "db", "jobs": list(jobs), "crawlers": list(crawlers), **glue_extra}
    if schedule:
        glue["schedule"] = schedule
    return with_changes(glue=glue, targets=[{"name": "etl", "type": "glue"}], tests=[{"name": "unit"}])


def compiled(write_manifest, text):
    result = compile_manifest(write_manifest(text), lint=False)
    assert not [d for d in result.diagnostics if d.is_error], result.diagnostics
    return {a.name: yaml.safe_load(a.content) for a in result.artifacts}


def triggers(glue_template):
    out = {}
    for resource in glue_template["Resources"].values():
        if resource["Type"] != "AWS::Glue::Trigger":
            continue
        props = resource["Properties"]
        starts = sorted(next(iter(a.values()))["Ref"] for a in props["Actions"])
        waits = sorted(
            next(v["Ref"] for k, v in c.items() if k in ("JobName", "CrawlerName"))
            for c in props.get("Predicate", {}).get("Conditions", [])
        )
        out[tuple(waits)] = (props["Type"], starts, props.get("Predicate", {}).get("Logical"))
    return out


def errors(write_manifest, text):
    return sorted(
        (d.code, d.dotted_path(), d.message) for d in check_manifest(write_manifest(text)).diagnostics if d.is_error
    )


def test_linear_chain(write_manifest):
    t = compiled(write_manifest, glue_manifest([job("a"), job("b", ["a"]), job("c", ["b"])]))["glue.yaml"]
    assert triggers(t) == {
        (): ("ON_DEMAND", ["JobA"], None),
        ("JobA",): ("CONDITIONAL", ["JobB"], "AND"),
        ("JobB",): ("CONDITIONAL", ["JobC"], "AND"),
    }


def test_fan_in_waits_for_every_upstream(write_manifest):
    text = glue_manifest([job("join", ["c1", "c2"])], [crawler("c1"), crawler("c2")], schedule="cron(0 10 1 * ? *)")
    t = compiled(write_manifest, text)["glue.yaml"]
    assert triggers(t) == {
        (): ("SCHEDULED", ["CrawlerC1", "CrawlerC2"], None),
        ("CrawlerC1", "CrawlerC2"): ("CONDITIONAL", ["JobJoin"], "AND"),
    }
    [conditional] = [
        r["Properties"]
        for r in t["Resources"].values()
        if r["Type"] == "AWS::Glue::Trigger" and r["Properties"]["Type"] == "CONDITIONAL"
    ]
    assert {c["CrawlState"] for c in conditional["Predicate"]["Conditions"]} == {"SUCCEEDED"}
    start = t["Resources"]["StartTrigger"]["Properties"]
    assert start["Schedule"] == "cron(0 10 1 * ? *)" and start["StartOnCreation"] is True


def test_fan_out_is_one_trigger(write_manifest):
    t = compiled(write_manifest, glue_manifest([job("a"), job("b", ["a"]), job("c", ["a"])]))["glue.yaml"]
    assert triggers(t)[("JobA",)] == ("CONDITIONAL", ["JobB", "JobC"], "AND")
    assert len(triggers(t)) == 2


def test_diamond_every_node_reachable(write_manifest):
    jobs = [job("a"), job("b", ["a"]), job("c", ["a"]), job("d", ["b", "c"])]
    t = compiled(write_manifest, glue_manifest(jobs))["glue.yaml"]
    found = triggers(t)
    assert found[("JobB", "JobC")] == ("CONDITIONAL", ["JobD"], "AND")
    started = {name for _, names, _ in found.values() for name in names}
    assert started == {"JobA", "JobB", "JobC", "JobD"}  # every node is started by exactly one trigger
    assert sum(len(names) for _, names, _ in found.values()) == 4


def test_jobs_crawlers_database_and_security(write_manifest):
    text = glue_manifest(
        [
            job(
                "etl",
                ["raw"],
                type="spark",
                glue_version="3.0",
                worker_type="G.2X",
                workers=5,
                arguments={"--out": "s3://curated/x/"},
            ),
            job("report", ["etl"], type="pythonshell"),
        ],
        [crawler("raw")],
    )
    t = compiled(write_manifest, text)["glue.yaml"]["Resources"]
    etl = t["JobEtl"]["Properties"]
    assert etl["Command"]["Name"] == "glueetl" and etl["GlueVersion"] == "3.0"
    assert (etl["WorkerType"], etl["NumberOfWorkers"]) == ("G.2X", 5)
    assert etl["DefaultArguments"]["--job-bookmark-option"] == "job-bookmark-enable"
    assert etl["DefaultArguments"]["--enable-continuous-cloudwatch-log"] == "true"
    assert etl["Command"]["ScriptLocation"] == {"Fn::Sub": "s3://${ScriptsBucket}/${ScriptsPrefix}/etl/etl.py"}
    report = t["JobReport"]["Properties"]
    assert report["Command"]["Name"] == "pythonshell" and "WorkerType" not in report and report["MaxCapacity"] == 0.0625
    assert t["CrawlerRaw"]["Properties"]["Targets"] == {"S3Targets": [{"Path": "s3://raw-data/raw/"}]}
    assert t["Database"]["Properties"]["DatabaseInput"]["Name"] == {"Ref": "DatabaseName"}
    assert t["Database"]["DeletionPolicy"] == t["Database"]["UpdateReplacePolicy"] == "Retain"
    security = t["SecurityConfiguration"]["Properties"]["EncryptionConfiguration"]
    assert security["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    role = {s["Sid"]: s for s in t["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    assert role["Scripts"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ScriptsBucket}/${ScriptsPrefix}/*"}
    ]
    # `--out` is not listed in the job's outputs: read-only; `etl` runs after crawler `raw`, so it
    # reads what that crawler catalogued
    assert [r["Fn::Sub"] for r in role["ReadPaths"]["Resource"]] == [
        "arn:${AWS::Partition}:s3:::curated/x/*",
        "arn:${AWS::Partition}:s3:::raw-data/raw/*",
    ]
    assert "WritePaths" not in role
    assert role["DecryptScripts"] == {
        "Sid": "DecryptScripts",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [{"Ref": "ScriptsKeyArn"}],
    }
    assert any(r["Fn::Sub"].endswith(":database/${DatabaseName}") for r in role["CatalogOfThisDatabase"]["Resource"])


@pytest.mark.parametrize(
    "jobs, crawlers, expected",
    [
        ([job("a", ["b"]), job("b", ["a"])], [], ("MC220", "the workflow has a cycle: a → b → a")),
        ([job("a", ["a"])], [], ("MC219", "`a` cannot run after itself")),
        ([job("a", ["nope"])], [], ("MC201", "unknown job or crawler `nope`; defined: a")),
        ([job("a")], [crawler("a")], ("MC202", "duplicate job or crawler name `a`")),
    ],
)
def test_bad_dags(write_manifest, jobs, crawlers, expected):
    found = [(code, message) for code, _, message in errors(write_manifest, glue_manifest(jobs, crawlers))]
    assert expected in found


def test_three_node_cycle_path_and_location(write_manifest):
    text = glue_manifest([job("x"), job("a", ["c"]), job("b", ["a"]), job("c", ["b"])])
    [(code, path, message)] = errors(write_manifest, text)
    assert code == "MC220" and path.startswith("glue.jobs[")
    cycle = message.split(": ", 1)[1].split(" → ")
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "settings, path",
    [
        ({"type": "spark", "glue_version": "1.0"}, "glue.jobs[0].glue_version"),
        ({"type": "spark", "glue_version": "2.0", "worker_type": "G.8X"}, "glue.jobs[0].worker_type"),
        ({"type": "spark", "worker_type": "G.025X"}, "glue.jobs[0].worker_type"),
        ({"type": "pythonshell", "workers": 4}, "glue.jobs[0].workers"),
        ({"type": "ray", "worker_type": "G.1X"}, "glue.jobs[0].worker_type"),
        ({"type": "spark", "workers": 1}, "glue.jobs[0].workers"),
    ],
)
def test_invalid_worker_and_version_combinations(write_manifest, settings, path):
    assert [(c, p) for c, p, _ in errors(write_manifest, glue_manifest([job("a", **settings)]))] == [("MC222", path)]


@pytest.mark.parametrize(
    "expression, ok",
    [
        ("cron(0 10 1 * ? *)", True),
        ("cron(15 12 ? * MON-FRI *)", True),
        ("cron(0/5 * * * ? *)", True),
        ("cron(0 10 1 * * *)", False),
        ("cron(0 10 1 *)", False),
        ("rate(1 day)", False),
        ("cron(61 10 1 * ? *)", False),
    ],
)
def test_cron_validation(expression, ok):
    assert (cron_problem(expression) is None) is ok


def test_bad_schedule_is_located(write_manifest):
    [(code, path, _)] = errors(write_manifest, glue_manifest([job("a")], schedule="cron(0 10 * * * *)"))
    assert (code, path) == ("MC221", "glue.schedule")


@pytest.mark.parametrize(
    "version, image",
    [
        ("3.0", "public.ecr.aws/glue/aws-glue-libs:glue_libs_3.0.0_image_01"),
        ("4.0", "public.ecr.aws/glue/aws-glue-libs:glue_libs_4.0.0_image_01"),
        ("5.0", "public.ecr.aws/glue/aws-glue-libs:5"),
    ],
)
def test_unit_tests_run_in_the_matching_glue_image(write_manifest, version, image):
    p = compiled(write_manifest, glue_manifest([job("a", glue_version=version)]))["pipeline.yaml"]
    project = p["Resources"]["TestUnitProject"]["Properties"]
    assert project["Environment"]["Image"] == image
    spec = project["Source"]["BuildSpec"]["Fn::Sub"]
    assert "python3 -m pytest --junitxml=reports/unit.xml" in spec and "runtime-versions" not in spec
    assert "${TestUnitReports.Arn}" in spec


def test_glue_target_uploads_hashed_scripts_then_deploys_then_waits_for_a_run(write_manifest):
    p = compiled(write_manifest, glue_manifest([job("a"), job("b", ["a"])], smoke_test=True))["pipeline.yaml"]
    [stage] = [s for s in p["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == "staging"]
    by_name = {a["Name"]: a for a in stage["Actions"]}
    upload, prepare, deploy, smoke = (by_name[n] for n in ("etl-scripts", "etl-prepare", "etl-deploy", "etl-smoke"))
    # the change set reads the prefix the upload job exports: it must run after it
    assert upload["RunOrder"] < prepare["RunOrder"] < deploy["RunOrder"] < smoke["RunOrder"]
    assert upload["Namespace"] == "GlueScriptsStaging" and "EnvironmentVariables" not in upload["Configuration"]
    assert prepare["Configuration"]["TemplatePath"] == "SelfUpdate::glue.yaml"
    assert prepare["Configuration"]["StackName"] == "demo-service-glue-staging"
    overrides = prepare["Configuration"]["ParameterOverrides"]["Fn::Sub"]
    assert '"ScriptsPrefix": "#{GlueScriptsStaging.SCRIPTS_PREFIX}"' in overrides
    assert '"ScriptsBucket": "${ArtifactBucket}"' in overrides and '"ScriptsKeyArn": "${ArtifactKey.Arn}"' in overrides
    assert '"DatabaseName": "db"' in overrides
    spec = yaml.safe_load(p["Resources"]["GlueScriptsStagingProject"]["Properties"]["Source"]["BuildSpec"])
    assert spec["env"]["exported-variables"] == ["SCRIPTS_PREFIX"]
    commands = spec["phases"]["build"]["commands"]
    # content-addressed: the same scripts give the same prefix, so no stack change and no approval
    assert commands[0] == "SCRIPTS_HASH=$(sha256sum etl/a.py etl/b.py | sha256sum | cut -c1-16)"
    assert commands[1] == 'export SCRIPTS_PREFIX="glue/demo-service/staging/$SCRIPTS_HASH"'
    assert 'aws s3 cp etl/a.py "s3://$SCRIPTS_BUCKET/$SCRIPTS_PREFIX/etl/a.py"' in commands
    smoke_spec = yaml.safe_load(p["Resources"]["GlueSmokeStagingProject"]["Properties"]["Source"]["BuildSpec"])
    [script] = smoke_spec["phases"]["build"]["commands"]
    assert "get-workflow-run" in script and '[ "$STATUS" = COMPLETED ] || exit 1' in script
    assert "Run.Statistics.FailedActions, Run.Statistics.TimeoutActions, Run.Statistics.ErroredActions" in script
    assert "stop-workflow-run" in script  # a run past the deadline is stopped and the action fails
    smoke_role = p["Resources"]["GlueSmokeStagingRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [run] = [s for s in smoke_role if s["Sid"] == "RunWorkflow"]
    assert run["Action"] == ["glue:StartWorkflowRun", "glue:GetWorkflowRun", "glue:StopWorkflowRun"]
    assert run["Resource"][0]["Fn::Sub"].endswith(":workflow/wf-staging")


def test_smoke_run_waits_as_long_as_the_jobs_may_run(write_manifest):
    text = glue_manifest([job("a", timeout=100), job("b", ["a"], timeout=50)], [crawler("c")], smoke_test=True)
    p = compiled(write_manifest, text)["pipeline.yaml"]
    project = p["Resources"]["GlueSmokeStagingProject"]["Properties"]
    assert project["TimeoutInMinutes"] == 10 + 150 + 30
    assert f"DEADLINE=$((SECONDS + {(190 - 5) * 60}))" in project["Source"]["BuildSpec"]


def test_glue_database_per_environment(write_manifest):
    data = yaml.safe_load(glue_manifest([job("a")], database="sales_{environment}"))
    data["environments"] = [{"name": "staging"}, {"name": "pre-prod"}]
    p = compiled(write_manifest, yaml.safe_dump(data))["pipeline.yaml"]
    overrides = [
        a["Configuration"]["ParameterOverrides"]["Fn::Sub"]
        for s in p["Resources"]["Pipeline"]["Properties"]["Stages"]
        for a in s["Actions"]
        if a["Name"] == "etl-prepare"
    ]
    assert '"DatabaseName": "sales_staging"' in overrides[0]
    assert '"DatabaseName": "sales_pre_prod"' in overrides[1]  # Athena names: dashes become underscores
    data["glue"]["database"] = "sales"
    assert [(c, p) for c, p, _ in errors(write_manifest, yaml.safe_dump(data))] == [("MC280", "glue.database")]


def test_job_arguments_are_read_only_unless_listed_in_outputs(write_manifest):
    arguments = {
        "--extra-py-files": "s3://libs/a.zip,s3://libs/b.zip",
        "--TempDir": "s3://scratch/tmp/",
        "--in": "s3://raw/in/",
        "--out": "s3://curated/out/",
    }
    text = glue_manifest([job("a", arguments=arguments, outputs=["--out"])])
    t = compiled(write_manifest, text)["glue.yaml"]["Resources"]
    role = {s["Sid"]: s for s in t["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    assert role["ReadPaths"]["Action"] == ["s3:GetObject"]
    assert sorted(r["Fn::Sub"].split(":::")[1] for r in role["ReadPaths"]["Resource"]) == [
        "libs/a.zip*",
        "libs/b.zip*",
        "raw/in/*",
    ]
    assert role["WritePaths"]["Action"] == ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    assert sorted(r["Fn::Sub"].split(":::")[1] for r in role["WritePaths"]["Resource"]) == [
        "curated/out/*",
        "scratch/tmp/*",
    ]


def test_outputs_must_name_arguments(write_manifest):
    text = glue_manifest([job("a", arguments={"--out": "s3://c/o/"}, outputs=["--output"])])
    [(code, path, message)] = errors(write_manifest, text)
    assert (code, path) == ("MC201", "glue.jobs[0].outputs[0]") and "did you mean" not in message


@pytest.mark.parametrize(
    "glue_extra, path",
    [
        ({"jobs": [job("a", arguments={"--in": "s3://*"})]}, "glue.jobs[0].arguments.--in"),
        ({"jobs": [job("a", arguments={"--in": "s3://raw/2024-??/"})]}, "glue.jobs[0].arguments.--in"),
        ({"crawlers": [{"name": "c", "s3": ["s3://raw/*/x/"]}]}, "glue.crawlers[0].s3[0]"),
    ],
)
def test_wildcards_in_glue_paths_are_rejected(write_manifest, glue_extra, path):
    base = {"jobs": [job("z")]}
    text = glue_manifest(**{**base, **glue_extra})
    assert [(c, p) for c, p, _ in errors(write_manifest, text)] == [("MC284", path)]


def test_own_scripts_bucket_upload_is_limited_to_the_pipeline_prefix(write_manifest):
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    text = glue_manifest([job("a")], scripts_bucket="shared-scripts", scripts_key=key)
    out = compiled(write_manifest, text)
    statements = out["pipeline.yaml"]["Resources"]["GlueScriptsStagingRole"]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["UploadScripts"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::shared-scripts/glue/demo-service/staging/*"}
    ]
    assert by_sid["EncryptScripts"]["Resource"] == [key]
    prepare = next(
        a
        for s in out["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]
        for a in s["Actions"]
        if a["Name"] == "etl-prepare"
    )
    assert f'"ScriptsKeyArn": "{key}"' in str(prepare["Configuration"]["ParameterOverrides"])
    # SSE-S3 bucket: nothing to decrypt, no key parameter
    plain = compiled(write_manifest, glue_manifest([job("a")], scripts_bucket="shared-scripts"))["glue.yaml"]
    assert "ScriptsKeyArn" not in plain["Parameters"]


def test_without_regenerate_the_glue_template_is_compiled_in_the_build_stage(write_manifest):
    text = with_changes(yaml.safe_load(glue_manifest([job("a")])) and None or glue_manifest([job("a")]))
    data = yaml.safe_load(text)
    data["regenerate"] = False
    p = compiled(write_manifest, yaml.safe_dump(data))["pipeline.yaml"]
    build = [s for s in p["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == "Build"][0]
    assert "GlueTemplate" in [a["Name"] for a in build["Actions"]]
    [stage] = [s for s in p["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == "staging"]
    prepare = next(a for a in stage["Actions"] if a["Name"] == "etl-prepare")
    assert prepare["Configuration"]["TemplatePath"] == "GlueTemplate::glue.yaml"


def test_glue_target_needs_a_glue_section(write_manifest):
    text = with_changes(targets=[{"name": "etl", "type": "glue"}])
    assert [(c, p) for c, p, _ in errors(write_manifest, text)] == [("MC207", "targets[0]")]


TWO_ACCOUNTS = """\
manifest: 1
name: sales-etl
team: data-eng
language: python
account: "111111111111"
region: eu-west-1
source:
  repository: sales-etl
build:
  commands: [python -m compileall -q etl]
  artifacts:
    files: ["etl/**/*"]
tests:
  - name: unit
environments:
  - name: dev
  - name: prod
    account: "222222222222"
    approval: true
targets:
  - name: etl
    type: glue
glue:
  workflow: sales
  database: "sales_{environment}"
  smoke_test: false
  crawlers:
    - name: raw
      s3: ["s3://acme-sales-raw/orders/"]
  jobs:
    - name: clean
      script: etl/clean.py
      after: [raw]
      arguments: {--output: "s3://acme-sales-curated/{environment}/orders/"}
      outputs: [--output]
"""


def _sids(statements):
    return {s.get("Sid"): s for s in statements}


def test_glue_in_another_account_deploys_through_the_bootstrap_roles_and_reads_the_scripts(write_manifest):
    result = compile_manifest(write_manifest(TWO_ACCOUNTS), lint=True)
    assert not [d for d in result.diagnostics if d.is_error or d.code.startswith("MC6")], result.diagnostics
    t = result.templates
    resources = t["pipeline.yaml"]["Resources"]
    pipeline = next(r for r in resources.values() if r["Type"] == "AWS::CodePipeline::Pipeline")
    prod = {a["Name"]: a for s in pipeline["Properties"]["Stages"] if s["Name"] == "prod" for a in s["Actions"]}
    deploy_role = "arn:${AWS::Partition}:iam::222222222222:role/manifestc/sales-etl/sales-etl-deploy"
    assert prod["etl-prepare"]["RoleArn"] == {"Fn::Sub": deploy_role}
    assert prod["etl-deploy"]["RoleArn"] == {"Fn::Sub": deploy_role}
    assert prod["etl-prepare"]["Configuration"]["RoleArn"]["Fn::Sub"].startswith(
        "arn:${AWS::Partition}:iam::222222222222:"
    )
    assert "RoleArn" not in prod["etl-scripts"]  # the upload runs in the tooling account
    stack = prod["etl-prepare"]["Configuration"]["StackName"]

    # the job role glue.yaml creates in the target account: under the stack's path, reading the scripts
    job_role = t["glue.yaml"]["Resources"]["JobRole"]["Properties"]
    role_path = job_role["Path"]["Fn::Sub"].replace("${AWS::StackName}", stack)
    own = _sids(job_role["Policies"][0]["PolicyDocument"]["Statement"])
    assert own["Scripts"]["Action"] == ["s3:GetObject"]
    assert own["DecryptScripts"]["Resource"] == [{"Ref": "ScriptsKeyArn"}]
    passed = json.loads(prod["etl-prepare"]["Configuration"]["ParameterOverrides"]["Fn::Sub"])
    assert passed["ScriptsKeyArn"] == "${ArtifactKey.Arn}" and passed["ScriptsBucket"] == "${ArtifactBucket}"

    # tooling side: the bucket policy lets exactly those roles read prod's scripts (not dev's) ...
    pattern = {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::222222222222:role{role_path}*"}
    bucket = _sids(resources["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"])
    read = bucket["GlueJobRolesOf222222222222ReadScripts"]
    assert read["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::222222222222:root"}}
    assert read["Action"] == ["s3:GetObject"]
    assert read["Resource"] == [{"Fn::Sub": "${ArtifactBucket.Arn}/glue/sales-etl/prod/*"}]
    assert read["Condition"] == {"ArnLike": {"aws:PrincipalArn": [pattern]}}
    # ... and the key policy lets them decrypt, only through S3
    key = _sids(resources["ArtifactKey"]["Properties"]["KeyPolicy"]["Statement"])
    decrypt = key["GlueJobRolesOf222222222222DecryptScripts"]
    assert decrypt["Action"] == ["kms:Decrypt"]
    assert decrypt["Condition"]["ArnLike"] == {"aws:PrincipalArn": [pattern]}
    assert decrypt["Condition"]["StringEquals"] == {
        "kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.${AWS::URLSuffix}"}
    }

    # target side: the deploy role deploys the glue stack, the execution role may create its roles
    boot = t["bootstrap-222222222222.yaml"]["Resources"]
    deploy = _sids(boot["DeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"])
    assert deploy["DeployStacks"]["Resource"] == [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/{stack}/*"}
    ]
    exec_role = json.dumps(boot["CloudFormationExecutionRole"])
    assert f"/manifestc-app/sales-etl/{stack}/" in exec_role


def test_glue_in_another_account_without_the_grants_is_refused_by_mc643(write_manifest, monkeypatch):
    from manifestc.emit import storage

    monkeypatch.setattr(storage, "cross_account_glue_job_roles", lambda m: {})
    result = compile_manifest(write_manifest(TWO_ACCOUNTS), lint=False)
    assert {d.code for d in result.diagnostics if d.is_error} == {"MC643"}


@pytest.mark.parametrize(
    ("glue_change", "code", "path"),
    [
        ({"smoke_test": True}, "MC285", "glue.smoke_test"),
        ({"scripts_bucket": "acme-glue-scripts"}, "MC286", "glue.scripts_bucket"),
    ],
)
def test_what_glue_in_another_account_cannot_do_is_located(write_manifest, glue_change, code, path):
    data = yaml.safe_load(TWO_ACCOUNTS)
    data["glue"].update(glue_change)
    found = errors(write_manifest, yaml.safe_dump(data, sort_keys=False))
    assert [(c, p) for c, p, _ in found] == [(code, path)]
    # the same in one account is fine
    data["environments"][1].pop("account")
    data["glue"]["database"] = "sales_{environment}"
    assert errors(write_manifest, yaml.safe_dump(data, sort_keys=False)) == []


def test_only_an_environments_upload_role_writes_its_live_scripts(write_manifest):
    """Every CodeBuild role may put pipeline artifacts into the artifact bucket; the bucket policy
    keeps glue/<name>/<env>/ (what that environment's jobs run) to its own upload role, so a
    staging build or the staging upload cannot replace prod's scripts."""
    from iam_sim import allowed, resolve

    glue = {"workflow": "wf", "database": "db_{environment}", "jobs": [job("a")]}
    environments = [{"name": "staging"}, {"name": "prod"}]
    text = with_changes(glue=glue, targets=[{"name": "etl", "type": "glue"}], environments=environments)
    p = compiled(write_manifest, text)["pipeline.yaml"]
    arns = {f"{r}.Arn": f"arn:aws:iam::111111111111:role/manifestc/demo-service/{r}" for r in p["Resources"]}
    attributes = {**arns, "ArtifactBucket.Arn": "arn:aws:s3:::artifacts"}
    bucket = resolve(p["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"], attributes)
    denies = [s for s in bucket if s["Effect"] == "Deny"]

    def may_write(role: str, key: str) -> bool:
        identity = resolve(p["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"], attributes)
        context = {"aws:PrincipalArn": arns[f"{role}.Arn"], "aws:SecureTransport": "true"}
        return allowed(identity + denies, "s3:PutObject", f"arn:aws:s3:::artifacts/{key}", context)

    prod, staging = "glue/demo-service/prod/0123/etl/a.py", "glue/demo-service/staging/0123/etl/a.py"
    assert may_write("GlueScriptsProdRole", prod) and may_write("GlueScriptsStagingRole", staging)
    assert not may_write("GlueScriptsStagingRole", prod)
    assert not may_write("BuildRole", prod) and not may_write("BuildRole", staging)
    assert may_write("BuildRole", "demo-service/BuildOutpu/abc.zip")  # pipeline artifacts still work


def _job_role(template) -> dict:
    return {
        s["Sid"]: s
        for s in template["Resources"]["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    }


def test_a_job_reads_what_the_crawlers_upstream_of_it_catalogued_and_nothing_else(write_manifest):
    """Review finding: `denormalize` ran after the crawlers of s3://acme-covid-raw but could not read
    it. Upstream crawlers (also through other jobs) grant reads; an unrelated crawler does not."""
    text = glue_manifest(
        [job("first", ["upstream"]), job("second", ["first"])],
        [crawler("upstream"), crawler("elsewhere")],
    )
    reads = [r["Fn::Sub"] for r in _job_role(compiled(write_manifest, text)["glue.yaml"])["ReadPaths"]["Resource"]]
    assert reads == ["arn:${AWS::Partition}:s3:::raw-data/upstream/*"]


def test_environment_placeholders_keep_each_environments_data_apart(write_manifest):
    """Review finding: every environment's jobs wrote the same outputs. `{environment}` in arguments
    and crawler paths is rendered by each environment's stack, in the arguments and in the grants."""
    out = {"--out": "s3://curated/{environment}/x/", "--in": "s3://raw/{name}/{environment}/"}
    text = glue_manifest(
        [job("etl", arguments=out, outputs=["--out"])],
        [{"name": "c", "s3": ["s3://raw/{environment}/"]}],
        database="db_{environment}",
    )
    text = with_changes(text, environments=[{"name": "staging"}, {"name": "prod"}])
    glue = compiled(write_manifest, text)["glue.yaml"]
    arguments = glue["Resources"]["JobEtl"]["Properties"]["DefaultArguments"]
    assert arguments["--out"] == {"Fn::Sub": "s3://curated/${Environment}/x/"}
    assert arguments["--in"] == {"Fn::Sub": "s3://raw/demo-service/${Environment}/"}
    assert glue["Resources"]["CrawlerC"]["Properties"]["Targets"]["S3Targets"] == [
        {"Path": {"Fn::Sub": "s3://raw/${Environment}/"}}
    ]
    role = _job_role(glue)
    assert [r["Fn::Sub"] for r in role["WritePaths"]["Resource"]] == [
        "arn:${AWS::Partition}:s3:::curated/${Environment}/x/*"
    ]


def test_two_environments_writing_one_location_is_an_error(write_manifest):
    envs = [{"name": "dev"}, {"name": "prod"}]
    shared = glue_manifest(
        [job("etl", arguments={"--out": "s3://curated/x/"}, outputs=["--out"])], database="db_{environment}"
    )
    found = errors(write_manifest, with_changes(shared, environments=envs))
    assert [(code, path) for code, path, _ in found] == [("MC287", "glue.jobs[0].arguments.--out")]
    assert "`dev` (job `etl`) and `prod` (job `etl`) both write s3://curated/x/" in found[0][2]
    # Glue's own write parameters count too; a read-only argument shared by both does not
    temp = glue_manifest(
        [job("etl", arguments={"--TempDir": "s3://tmp/glue/", "--in": "s3://raw/"})], database="d_{environment}"
    )
    assert [c for c, _, _ in errors(write_manifest, with_changes(temp, environments=envs))] == ["MC287"]
    apart = glue_manifest(
        [job("etl", arguments={"--out": "s3://curated/{environment}/", "--in": "s3://raw/"}, outputs=["--out"])],
        database="d_{environment}",
    )
    assert errors(write_manifest, with_changes(apart, environments=envs)) == []
    unknown = glue_manifest([job("etl", arguments={"--out": "s3://curated/{env}/", "--conf": '{"a": 1}'})])
    assert [(c, p) for c, p, _ in errors(write_manifest, unknown)] == [("MC208", "glue.jobs[0].arguments.--out")]
