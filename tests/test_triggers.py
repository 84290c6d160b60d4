"""Triggers and run modes (issue 11 item 9; README `source`, "Triggers and run modes"): schedules,
manual-only pipelines, pipeline variables at start, branch globs with excludes on V2 triggers."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import MINIMAL, with_changes
from iam_sim import allowed, resolve
from manifestc.api import compile_manifest

CONNECTION = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/abc-123"
CODESTAR = {"provider": "codestar", "repository": "acme/demo", "connection_arn": CONNECTION}


def _compile(write_manifest, **changes):
    return compile_manifest(write_manifest(with_changes(MINIMAL, **changes)), lint=False)


def _pipeline(write_manifest, **changes) -> dict:
    result = _compile(write_manifest, **changes)
    assert not result.diagnostics, [(d.code, d.message) for d in result.diagnostics]
    return yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))


def _errors(write_manifest, **changes) -> list[tuple[str, tuple]]:
    result = _compile(write_manifest, **changes)
    return sorted((d.code, d.path) for d in result.diagnostics if d.is_error)


def _actions(template: dict) -> dict[str, dict]:
    return {a["Name"]: a for s in template["Resources"]["Pipeline"]["Properties"]["Stages"] for a in s["Actions"]}


def _statements(template: dict, role: str) -> list[dict]:
    return [s for p in template["Resources"][role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


PIPELINE_ARN = "arn:aws:codepipeline:us-east-1:111111111111:demo-service"


def test_a_schedule_starts_the_pipeline_through_its_own_role(write_manifest):
    template = _pipeline(write_manifest, source={"repository": "demo-service", "schedule": "cron(0 2 * * ? *)"})
    rule = template["Resources"]["ScheduleRule"]["Properties"]
    assert rule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert [t["RoleArn"] for t in rule["Targets"]] == [{"Fn::GetAtt": ["ScheduleRuleRole", "Arn"]}]
    assert rule["Targets"][0]["Arn"]["Fn::Sub"].endswith(":demo-service")
    role = template["Resources"]["ScheduleRuleRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    resolved = resolve(_statements(template, "ScheduleRuleRole"))
    assert allowed(resolved, "codepipeline:StartPipelineExecution", PIPELINE_ARN)
    assert not allowed(resolved, "codepipeline:StartPipelineExecution", PIPELINE_ARN + "-other")
    assert not allowed(resolved, "codepipeline:UpdatePipeline", PIPELINE_ARN)
    # the push rule is still there: a schedule adds runs, it does not replace pushes
    assert "SourceRule" in template["Resources"]


@pytest.mark.parametrize("expression", ["rate(1 day)", "rate(12 hours)", "cron(15 10 ? * MON-FRI *)"])
def test_valid_schedule_expressions(write_manifest, expression):
    template = _pipeline(write_manifest, source={"repository": "demo-service", "schedule": expression})
    assert template["Resources"]["ScheduleRule"]["Properties"]["ScheduleExpression"] == expression


@pytest.mark.parametrize(
    "expression, words",
    [
        ("rate(1 days)", "rate(1 day)"),
        ("rate(5 hour)", "rate(5 hours)"),
        ("rate(0 minutes)", "positive whole number"),
        ("rate(2 weeks)", "unit `weeks`"),
        ("cron(0 2 * * *)", "5 fields"),
        ("cron(0 2 * * * *)", "must be `?`"),
        ("0 2 * * *", "neither"),
    ],
)
def test_invalid_schedule_is_mc310_at_the_field(write_manifest, expression, words):
    result = _compile(write_manifest, source={"repository": "demo-service", "schedule": expression})
    [diagnostic] = result.diagnostics
    assert (diagnostic.code, diagnostic.path) == ("MC310", ("source", "schedule"))
    assert words in diagnostic.message and diagnostic.line == 7  # the schedule's line


def test_manual_codecommit_pipeline_has_no_push_rule(write_manifest):
    template = _pipeline(write_manifest, source={"repository": "demo-service", "trigger": "manual"})
    assert not {"SourceRule", "SourceRuleRole"} & set(template["Resources"])
    assert _actions(template)["Source"]["Configuration"]["PollForSourceChanges"] == "false"
    assert not [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]


def test_manual_codestar_pipeline_has_no_trigger_and_does_not_detect_changes(write_manifest):
    template = _pipeline(write_manifest, source={**CODESTAR, "trigger": "manual"})
    props = template["Resources"]["Pipeline"]["Properties"]
    assert "Triggers" not in props
    assert _actions(template)["Source"]["Configuration"]["DetectChanges"] == "false"
    # a push pipeline keeps its trigger and the default change detection
    pushed = _pipeline(write_manifest, source=CODESTAR)
    assert pushed["Resources"]["Pipeline"]["Properties"]["Triggers"]
    assert "DetectChanges" not in _actions(pushed)["Source"]["Configuration"]


def test_manual_with_a_schedule_is_a_nightly_only_pipeline(write_manifest):
    template = _pipeline(write_manifest, source={**CODESTAR, "trigger": "manual", "schedule": "cron(0 2 * * ? *)"})
    kinds = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"}
    assert kinds == {"ScheduleRule"} and "Triggers" not in template["Resources"]["Pipeline"]["Properties"]


@pytest.mark.parametrize("field, value", [("paths", ["src/**"]), ("tags", ["v*"]), ("branches", ["release/*"])])
def test_push_filters_on_a_manual_pipeline_are_mc311(write_manifest, field, value):
    errors = _errors(write_manifest, source={**CODESTAR, "trigger": "manual", field: value})
    assert errors == [("MC311", ("source", field))]


def test_branch_globs_with_excludes_on_the_v2_trigger(write_manifest):
    source = {**CODESTAR, "branches": ["release/*", "hotfix/**"], "exclude_branches": ["release/old-*"]}
    template = _pipeline(write_manifest, source=source)
    [trigger] = template["Resources"]["Pipeline"]["Properties"]["Triggers"]
    assert trigger["GitConfiguration"]["Push"] == [
        {"Branches": {"Includes": ["release/*", "hotfix/**"], "Excludes": ["release/old-*"]}}
    ]


@pytest.mark.parametrize(
    "source, path",
    [
        ({**CODESTAR, "exclude_branches": ["wip/*"]}, ("source", "exclude_branches")),  # no glob to exclude from
        ({**CODESTAR, "branches": ["main"], "exclude_branches": ["wip/*"]}, ("source", "exclude_branches")),
        ({**CODESTAR, "tags": ["v*"], "branches": ["r/*"], "exclude_branches": ["r/x"]}, ("source", "branches")),
    ],
)
def test_excludes_a_trigger_cannot_apply_are_mc312(write_manifest, source, path):
    assert path in [p for code, p in _errors(write_manifest, source=source) if code == "MC312"]


@pytest.mark.parametrize("provider", ["codecommit", "s3"])
def test_branch_filters_on_a_provider_without_triggers_are_mc214(write_manifest, provider):
    repository = "demo-service" if provider == "codecommit" else "bucket-name/key.zip"
    source = {"provider": provider, "repository": repository, "branches": ["a/*"], "exclude_branches": ["a/b"]}
    assert [e for e in _errors(write_manifest, source=source) if e[0] == "MC214"] == [
        ("MC214", ("source", "branches")),
        ("MC214", ("source", "exclude_branches")),
    ]


VARIABLES = [
    {"name": "RELEASE_VERSION", "default": "0.0.0-dev", "description": "Version to stamp"},
    {"name": "COMMIT_ID", "default": "HEAD"},
]


def test_variables_are_declared_and_reach_builds_and_tests_only(write_manifest):
    template = _pipeline(
        write_manifest,
        variables=VARIABLES,
        tests=[{"name": "unit"}, {"name": "smoke", "after": "staging"}],
        quality_gates=["sast"],
    )
    assert template["Resources"]["Pipeline"]["Properties"]["Variables"] == [
        {"Name": "RELEASE_VERSION", "DefaultValue": "0.0.0-dev", "Description": "Version to stamp"},
        {"Name": "COMMIT_ID", "DefaultValue": "HEAD"},
    ]
    given = {
        name: json.loads(a["Configuration"]["EnvironmentVariables"])
        for name, a in _actions(template).items()
        if "EnvironmentVariables" in a.get("Configuration", {})
    }
    assert set(given) == {"Build", "Test-unit", "Gate-sast", "Test-smoke"}
    assert given["Build"] == [
        {"name": "RELEASE_VERSION", "value": "#{variables.RELEASE_VERSION}", "type": "PLAINTEXT"},
        {"name": "COMMIT_ID", "value": "#{variables.COMMIT_ID}", "type": "PLAINTEXT"},
    ]


def test_no_variables_no_declaration(write_manifest):
    template = _pipeline(write_manifest)
    assert "Variables" not in template["Resources"]["Pipeline"]["Properties"]
    assert not any("EnvironmentVariables" in a.get("Configuration", {}) for a in _actions(template).values())


def test_variable_misuse_is_located(write_manifest):
    variables = [
        {"name": "VERSION", "default": "1"},
        {"name": "VERSION", "default": "2"},
        {"name": "TOKEN", "default": "x"},
        {"name": "CODEBUILD_X", "default": "x"},
    ]
    errors = _errors(write_manifest, variables=variables, build={"env": {"TOKEN": "plain"}})
    assert errors == [
        ("MC202", ("variables", 1, "name")),
        ("MC313", ("variables", 2, "name")),
        ("MC313", ("variables", 3, "name")),
    ]


def test_a_variable_without_default_is_a_schema_error(write_manifest):
    result = _compile(write_manifest, variables=[{"name": "VERSION"}])
    assert [d.path for d in result.diagnostics if d.is_error] == [("variables", 0, "default")]


def test_too_many_variables_for_one_action_value_is_mc314(write_manifest):
    variables = [{"name": f"VARIABLE_NUMBER_{i:02d}", "default": "x"} for i in range(12)]
    assert _errors(write_manifest, variables=variables) == [("MC314", ("variables",))]
    assert _errors(write_manifest, variables=variables[:8]) == []
