"""targets[].after: the deploy order of an environment stage (order.py, semantics_order.py)."""

from __future__ import annotations

import pytest
from conftest import MINIMAL, with_changes
from manifestc.api import check_manifest, compile_manifest

ROLE = "arn:aws:iam::{account}:role/ledger-migrator"
DATABASE = {"name": "database", "template": "infra/database.yaml"}
MIGRATE = {"name": "migrate", "type": "commands", "role": ROLE, "commands": ["./scripts/flyway-migrate.sh"]}
API = {"name": "api", "type": "ecs", "cluster": "ledger-{environment}", "service": "ledger-api", "container": "api"}
ENVS = [
    {"name": "staging"},
    {"name": "prod", "regions": ["eu-central-1", "eu-west-1"], "approval": {"notify_emails": ["a@example.com"]}},
]
SMOKE = {"name": "smoke", "after": "staging", "commands": ["./smoke.sh"]}


def errors(result):
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def _manifest(targets, environments=ENVS, tests=(SMOKE,)) -> str:
    return with_changes(
        MINIMAL,
        language="docker",
        region="eu-central-1",
        build={"image_repository": "ledger-api"},
        targets=targets,
        environments=environments,
        tests=list(tests),
    )


def _stages(write_manifest, targets, **changes) -> dict[str, dict[str, int]]:
    """Stage -> action name -> RunOrder of a compiled manifest."""
    result = compile_manifest(write_manifest(_manifest(targets, **changes)), lint=False)
    assert not errors(result), result.diagnostics
    stages = result.templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]
    return {s["Name"]: {a["Name"]: a["RunOrder"] for a in s["Actions"]} for s in stages}


def test_migration_runs_before_the_service_in_every_environment_and_region(write_manifest):
    targets = [DATABASE, dict(MIGRATE, after=["database"]), dict(API, after=["migrate"])]
    stages = _stages(write_manifest, targets)
    assert stages["staging"] == {
        "database-prepare": 1,
        "database-deploy": 2,
        "migrate-deploy": 3,
        "api-deploy": 4,
        "Test-smoke": 5,
    }
    # prod: change sets of both regions, the approval, then each level in both regions at once
    assert stages["prod"] == {
        "database-eu-central-1-prepare": 1,
        "database-eu-west-1-prepare": 1,
        "approve": 2,
        "database-eu-central-1-deploy": 3,
        "database-eu-west-1-deploy": 3,
        "migrate-eu-central-1-deploy": 4,
        "migrate-eu-west-1-deploy": 4,
        "api-eu-central-1-deploy": 5,
        "api-eu-west-1-deploy": 5,
    }


def test_without_after_the_deploys_stay_parallel(write_manifest):
    stages = _stages(write_manifest, [DATABASE, MIGRATE, API])
    assert stages["staging"] == {
        "database-prepare": 1,
        "database-deploy": 2,
        "migrate-deploy": 2,
        "api-deploy": 2,
        "Test-smoke": 3,
    }


def test_independent_targets_keep_running_together(write_manifest):
    """Only the named pair is ordered: a target with no `after` deploys with the first level."""
    stages = _stages(write_manifest, [DATABASE, MIGRATE, dict(API, after=["migrate"])])
    assert stages["staging"]["database-deploy"] == stages["staging"]["migrate-deploy"] == 2
    assert stages["staging"]["api-deploy"] == 3


def test_a_name_not_deployed_in_an_environment_is_ignored_there(write_manifest):
    envs = [{"name": "staging"}, {"name": "prod", "targets": ["api"]}]
    stages = _stages(write_manifest, [MIGRATE, dict(API, after=["migrate"])], environments=envs)
    assert stages["staging"] == {"migrate-deploy": 1, "api-deploy": 2, "Test-smoke": 3}
    assert stages["prod"] == {"api-deploy": 1}


def test_invocations_and_invalidations_stay_after_every_deploy(write_manifest):
    site = {
        "name": "site",
        "type": "s3",
        "bucket": "ledger-site",
        "prefix": "{environment}/",
        "after": ["api"],
        "cloudfront_invalidation": {"distribution": "E3ALL"},
    }
    etl = {"name": "etl", "type": "stepfunctions", "state_machine": "ledger-etl-{environment}"}
    envs = [{"name": "staging"}]
    stages = _stages(write_manifest, [etl, site, MIGRATE, dict(API, after=["migrate"])], environments=envs)
    assert stages["staging"] == {
        "migrate-deploy": 1,
        "api-deploy": 2,
        "site-deploy": 3,
        "etl-invoke": 4,
        "site-invalidate": 4,
        "Test-smoke": 5,
    }


def test_a_commands_job_reading_variables_follows_its_source_at_any_level(write_manifest):
    """The job reading the schema stack's outputs ran after every deploy; with `after` it still
    runs after the deploy it reads, even when that one is ordered late."""
    schema = dict(DATABASE, name="schema", after=["migrate"])
    seed = dict(MIGRATE, name="seed", env={"URL": "#{schema.Url}"}, exports=["COUNT"])
    report = dict(MIGRATE, name="report", env={"COUNT": "#{seed.COUNT}"})  # a reader of a reader
    envs = [{"name": "staging"}]
    stages = _stages(write_manifest, [report, seed, schema, MIGRATE], environments=envs)
    order = stages["staging"]
    assert order["migrate-deploy"] < order["schema-deploy"] < order["seed-deploy"] < order["report-deploy"]
    assert order["schema-prepare"] == 1


def test_cdk_stacks_keep_their_order_inside_their_level(write_manifest):
    cdk = {"name": "app", "type": "cdk", "stacks": ["Network", "Service"], "after": ["migrate"]}
    build = {"image_repository": "ledger-api", "artifacts": {"base_directory": "cdk.out", "files": ["**/*"]}}
    text = with_changes(_manifest([MIGRATE, cdk], environments=[{"name": "staging"}]), build=build)
    result = compile_manifest(write_manifest(text), lint=False)
    assert not errors(result), result.diagnostics
    stage = result.templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"][-1]
    order = {a["Name"]: a["RunOrder"] for a in stage["Actions"]}
    assert order["app-assets"] < order["app-Network-prepare"] == order["app-Service-prepare"]
    assert order["app-Service-prepare"] < order["migrate-deploy"] < order["app-Network-deploy"]
    assert order["app-Network-deploy"] < order["app-Service-deploy"]


def test_run_orders_are_consecutive_and_within_codepipelines_range(write_manifest):
    """A chain of ten targets: ten levels, run orders 1..n with no gap (CodePipeline: 1..999)."""
    chain = [dict(MIGRATE, name="step0")] + [
        dict(MIGRATE, name=f"step{i}", after=[f"step{i - 1}"]) for i in range(1, 10)
    ]
    stages = _stages(write_manifest, chain, environments=[{"name": "staging"}])
    assert [stages["staging"][f"step{i}-deploy"] for i in range(10)] == list(range(1, 11))
    assert stages["staging"]["Test-smoke"] == 11


@pytest.mark.parametrize(
    ("targets", "expected", "words"),
    [
        ([MIGRATE, dict(API, after=["migrat"])], [("MC337", "targets[1].after[0]")], "did you mean `migrate`"),
        ([MIGRATE, dict(API, after=["api"])], [("MC338", "targets[1].after[0]")], "itself"),
        (
            [dict(MIGRATE, after=["api"]), dict(API, after=["migrate"])],
            [("MC339", "targets[0].after[0]")],
            "migrate -> api -> migrate",
        ),
        (
            [dict(DATABASE, after=["api"]), dict(MIGRATE, after=["database"]), dict(API, after=["migrate"])],
            [("MC339", "targets[0].after[0]")],
            "database -> api -> migrate -> database",
        ),
        (
            [MIGRATE, {"name": "etl", "type": "stepfunctions", "state_machine": "e", "after": ["migrate"]}],
            [("MC338", "targets[1].after")],
            "invoke action",
        ),
        (
            [{"name": "etl", "type": "stepfunctions", "state_machine": "e"}, dict(API, after=["etl"])],
            [("MC338", "targets[1].after[0]")],
            "invoke action",
        ),
    ],
)
def test_bad_orders_are_located_errors(write_manifest, targets, expected, words):
    result = check_manifest(write_manifest(_manifest(targets)))
    assert errors(result) == expected
    diag = next(d for d in result.diagnostics if d.is_error)
    assert diag.line > 0 and diag.hint
    assert words in diag.message + diag.hint


def test_a_name_never_deployed_with_the_target_is_an_error(write_manifest):
    envs = [{"name": "staging", "targets": ["api"]}, {"name": "prod", "targets": ["migrate"]}]
    result = check_manifest(write_manifest(_manifest([MIGRATE, dict(API, after=["migrate"])], environments=envs)))
    assert errors(result) == [("MC337", "targets[1].after[0]")]
    assert "no environment that deploys `api`" in result.diagnostics[0].message


def test_reading_variables_of_a_target_ordered_later_is_mc239(write_manifest):
    """migrate reads the schema stack's outputs, but schema deploys after migrate: MC239, with the chain."""
    schema = dict(DATABASE, name="schema", after=["migrate"])
    reader = dict(MIGRATE, env={"URL": "#{schema.Url}"})
    result = check_manifest(write_manifest(_manifest([reader, schema])))
    assert errors(result) == [("MC239", "targets[0].env.URL")]
    diag = next(d for d in result.diagnostics if d.is_error)
    assert "`schema` deploys after `migrate` (schema after migrate" in diag.message
    assert diag.line > 0


def test_without_after_a_reader_of_a_reader_is_still_mc239(write_manifest):
    """The old rule stands for manifests that do not use `after` (their pipelines are unchanged)."""
    seed = dict(MIGRATE, name="seed", env={"URL": "#{database.Url}"}, exports=["COUNT"])
    report = dict(MIGRATE, name="report", env={"COUNT": "#{seed.COUNT}"})
    result = check_manifest(write_manifest(_manifest([DATABASE, seed, report])))
    assert errors(result) == [("MC239", "targets[2].env.COUNT")]


def test_image_copies_finish_before_the_deploys_that_pull_them(write_manifest):
    """An `image_copy` target's publish runs before every other deploy of the environment (a stack
    or service there may pull the copied image), without any `after`; invokes stay last."""
    copy = {"name": "image", "type": "image_copy", "regions": ["eu-west-1"]}
    environments = [{"name": "staging"}, dict(ENVS[1], account="222222222222")]
    text = with_changes(_manifest([DATABASE, copy, API], environments=environments), account="111111111111")
    result = compile_manifest(write_manifest(text), lint=False)
    assert not errors(result), result.diagnostics
    pipeline = result.templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]
    stages = {s["Name"]: {a["Name"]: a["RunOrder"] for a in s["Actions"]} for s in pipeline}
    assert stages["staging"] == {
        "database-prepare": 1,
        "image-publish": 2,
        "database-deploy": 3,
        "api-deploy": 3,
        "Test-smoke": 4,
    }
    assert stages["prod"]["approve"] < stages["prod"]["image-publish"] < stages["prod"]["api-eu-west-1-deploy"]


def test_a_stack_after_a_stack_warns_that_its_change_set_is_prepared_first(write_manifest):
    """Both change sets are prepared before the approval: the later stack's change set cannot see a
    new export of the earlier one (MC699, at the `after` entry); other orders do not warn."""
    app = {"name": "app", "template": "infra/app.yaml", "stack": "ledger-app-{environment}", "after": ["database"]}
    database = dict(DATABASE, stack="ledger-db-{environment}")
    result = compile_manifest(write_manifest(_manifest([database, app])), lint=False)
    [warning] = [d for d in result.diagnostics if d.code == "MC699"]
    assert warning.dotted_path() == "targets[1].after[0]" and "Fn::ImportValue" in warning.message
    assert not result.failed()
    stages = result.templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]
    staging = {a["Name"]: a["RunOrder"] for s in stages if s["Name"] == "staging" for a in s["Actions"]}
    assert staging["app-prepare"] == staging["database-prepare"] < staging["database-deploy"] < staging["app-deploy"]
    ordered = [DATABASE, dict(MIGRATE, after=["database"]), dict(API, after=["migrate"])]
    assert not [d for d in compile_manifest(write_manifest(_manifest(ordered)), lint=False).diagnostics]
