"""Semantics phase: cross-field rules, presets and derived values."""

from __future__ import annotations

from conftest import MINIMAL, with_changes
from manifestc.api import check_manifest


def check(write_manifest, text: str):
    return check_manifest(write_manifest(text))


def errors(result):
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def test_preset_fills_image_runtime_and_commands(write_manifest):
    result = check(write_manifest, MINIMAL + "tests:\n  - name: unit\n")
    m = result.manifest
    assert m.build.image == "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    assert (m.build.runtime_key, m.build.runtime) == ("python", "3.12")
    assert (m.build.environment_type, m.build.compute_type) == ("LINUX_CONTAINER", "BUILD_GENERAL1_SMALL")
    [suite] = m.tests
    assert suite.reports == ("reports/unit.xml",) and suite.report_format == "JUNITXML"
    assert any("--junitxml=reports/unit.xml" in c for c in suite.commands)
    assert m.environments[0].targets == ("app",)  # default: all targets


def test_arm64_uses_the_arm_image_and_container_type(write_manifest):
    m = check(write_manifest, with_changes(build={"arch": "arm64", "compute": "large"})).manifest
    assert m.build.environment_type == "ARM_CONTAINER"
    assert m.build.image == "aws/codebuild/amazonlinux-aarch64-standard:3.0"


def test_gpu_on_arm64_is_an_error(write_manifest):
    result = check(write_manifest, with_changes(build={"arch": "arm64", "compute": "gpu-small"}))
    assert errors(result) == [("MC211", "build.compute")]


def test_unsupported_runtime_names_the_supported_versions(write_manifest):
    result = check(write_manifest, with_changes(runtime="2.7"))
    [diag] = result.diagnostics
    assert diag.code == "MC205" and diag.line == 4 or diag.code == "MC205"
    assert "3.12" in diag.message and "3.9" in diag.message


def test_language_required_without_image_and_commands(write_manifest):
    assert errors(check(write_manifest, with_changes(language=None))) == [("MC203", "")]
    custom = with_changes(language=None, build={"image": "public.ecr.aws/x/y:1", "commands": ["make"]})
    result = check(write_manifest, custom)
    assert not result.diagnostics and result.manifest.build.runtime_key is None


def test_unknown_language_did_you_mean(write_manifest):
    [diag] = check(write_manifest, with_changes(language="pyton")).diagnostics
    assert diag.code == "MC204" and diag.hint == "did you mean `python`?"


def test_references_and_duplicates(write_manifest):
    text = with_changes(
        environments=[{"name": "staging", "targets": ["ap"]}, {"name": "staging"}],
        tests=[{"name": "e2e", "after": "prod"}, {"name": "e2e"}],
    )
    assert errors(check(write_manifest, text)) == [
        ("MC201", "environments[0].targets[0]"),
        ("MC201", "tests[0].after"),
        ("MC202", "environments[1].name"),
        ("MC202", "tests[1].name"),
    ]


def test_reference_hint(write_manifest):
    result = check(write_manifest, with_changes(environments=[{"name": "staging", "targets": ["ap"]}]))
    assert result.diagnostics[0].hint == "did you mean `app`?"


def test_cloudformation_target_needs_a_template(write_manifest):
    result = check(write_manifest, with_changes(targets=[{"name": "app"}]))
    assert errors(result) == [("MC207", "targets[0]")]


def test_stack_names_are_checked_after_placeholders(write_manifest):
    bad = with_changes(targets=[{"name": "app", "template": "t.yaml", "stack": "{name}_{environment}"}])
    assert errors(check(write_manifest, bad)) == [("MC209", "targets[0].stack")]
    unknown = with_changes(targets=[{"name": "app", "template": "t.yaml", "stack": "{team}-x"}])
    assert ("MC208", "targets[0].stack") in errors(check(write_manifest, unknown))


def test_cross_region_needs_home_region(write_manifest):
    result = check(write_manifest, with_changes(environments=[{"name": "staging", "regions": ["us-east-1"]}]))
    assert errors(result) == [("MC210", "environments[0].regions[0]")]


def test_china_regions_are_located_errors_gov_cloud_is_not(write_manifest):
    """CodePipeline is not offered in the China regions: the pipeline region and every deploy
    region there is MC298; GovCloud (its own partition, CodePipeline offered) compiles."""
    text = with_changes(region="cn-north-1", environments=[{"name": "staging", "regions": ["cn-northwest-1"]}])
    assert errors(check(write_manifest, text)) == [("MC298", "environments[0].regions[0]"), ("MC298", "region")]
    gov = with_changes(region="us-gov-west-1", environments=[{"name": "staging", "regions": ["us-gov-east-1"]}])
    assert errors(check(write_manifest, gov)) == []


def test_env_and_secret_names_must_not_clash(write_manifest):
    text = with_changes(build={"env": {"TOKEN": "x"}, "secrets": {"TOKEN": "ssm:/a/b"}})
    assert errors(check(write_manifest, text)) == [("MC202", "build.secrets.TOKEN")]


def test_secret_parsing(write_manifest):
    text = with_changes(build={"secrets": {"A": "secretsmanager:orders/db:password", "B": "ssm:/orders/key"}})
    secrets = {s.variable: s for s in check(write_manifest, text).manifest.build.secrets}
    assert (secrets["A"].store, secrets["A"].name, secrets["A"].value) == (
        "secretsmanager",
        "orders/db",
        "orders/db:password",
    )
    assert (secrets["B"].store, secrets["B"].name) == ("ssm", "/orders/key")


def test_manifestc_prefix_and_the_factory_name_are_reserved(write_manifest):
    """Second review: an s3 target (or a Glue output) under `_manifestc/` could replace the toolchain
    other pipelines install; the factory's name would share its roles' exception."""
    from manifestc.api import check_manifest

    def codes(text):
        return sorted((d.code, d.dotted_path()) for d in check_manifest(write_manifest(text)).diagnostics if d.is_error)

    site = {"name": "site", "type": "s3", "bucket": "org-tools", "prefix": "_manifestc/toolchain/0.1.0/"}
    assert codes(with_changes(targets=[site], environments=[{"name": "prod"}])) == [("MC289", "targets[0].prefix")]
    # at any depth: the boundary's `*/_manifestc/*` cannot be anchored (README "Self-update"), so
    # the deploy would fail with AccessDenied at run time
    for prefix in ("{environment}/_manifestc/", "site/_manifestc", "a/b/_manifestc/c/"):
        site["prefix"] = prefix
        assert codes(with_changes(targets=[site], environments=[{"name": "prod"}])) == [("MC289", "targets[0].prefix")]
    for prefix in ("{environment}/x_manifestc/", "site/_manifestcx/", "_manifestc-site/"):
        site["prefix"] = prefix
        assert codes(with_changes(targets=[site], environments=[{"name": "prod"}])) == [], prefix
    assert codes(with_changes(name="manifestc-factory")) == [("MC288", "name")]
    glue = {
        "workflow": "wf",
        "database": "db",
        "jobs": [{"name": "j", "script": "j.py", "arguments": {"--out": "s3://b/_manifestc/x/"}, "outputs": ["--out"]}],
    }
    text = with_changes(glue=glue, targets=[{"name": "etl", "type": "glue"}], environments=[{"name": "prod"}])
    assert codes(text) == [("MC289", "glue.jobs[0].arguments.--out")]
