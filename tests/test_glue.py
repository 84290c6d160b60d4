"""Glue workflows (issue 6): the DAG compiles to triggers that match it exactly; bad DAGs and
invalid job settings are located errors; tests run in the Glue libraries image; the glue target
uploads scripts under a versioned prefix and deploys glue.yaml."""

from __future__ import annotations

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
    assert t["Database"]["Properties"]["DatabaseInput"]["Name"] == "db"
    security = t["SecurityConfiguration"]["Properties"]["EncryptionConfiguration"]
    assert security["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    role = {s["Sid"]: s for s in t["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    assert role["Scripts"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${ScriptsBucket}/${ScriptsPrefix}/*"}
    ]
    data = sorted(r["Fn::Sub"] for r in role["DataPaths"]["Resource"])
    assert data == ["arn:${AWS::Partition}:s3:::curated/x/*", "arn:${AWS::Partition}:s3:::raw-data/raw/*"]
    assert any(r["Fn::Sub"].endswith(":database/db") for r in role["CatalogOfThisDatabase"]["Resource"])


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


def test_glue_target_uploads_versioned_scripts_then_deploys(write_manifest):
    p = compiled(write_manifest, glue_manifest([job("a"), job("b", ["a"])], smoke_test=True))["pipeline.yaml"]
    [stage] = [s for s in p["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == "staging"]
    by_name = {a["Name"]: a for a in stage["Actions"]}
    upload, prepare, deploy, smoke = (by_name[n] for n in ("etl-scripts", "etl-prepare", "etl-deploy", "etl-smoke"))
    assert upload["RunOrder"] == prepare["RunOrder"] < deploy["RunOrder"] < smoke["RunOrder"]
    prefix = "glue/demo-service/staging/#{codepipeline.PipelineExecutionId}"
    assert f'"value": "{prefix}"' in upload["Configuration"]["EnvironmentVariables"]
    assert prepare["Configuration"]["TemplatePath"] == "SelfUpdate::glue.yaml"
    assert prepare["Configuration"]["StackName"] == "demo-service-glue-staging"
    overrides = prepare["Configuration"]["ParameterOverrides"]["Fn::Sub"]
    assert f'"ScriptsPrefix": "{prefix}"' in overrides and '"ScriptsBucket": "${ArtifactBucket}"' in overrides
    spec = p["Resources"]["GlueScriptsStagingProject"]["Properties"]["Source"]["BuildSpec"]
    assert "aws s3 cp etl/a.py s3://$SCRIPTS_BUCKET/$SCRIPTS_PREFIX/etl/a.py" in spec
    smoke_role = p["Resources"]["GlueSmokeStagingRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [start] = [s for s in smoke_role if s["Sid"] == "StartWorkflow"]
    assert start["Resource"][0]["Fn::Sub"].endswith(":workflow/wf-staging")


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
