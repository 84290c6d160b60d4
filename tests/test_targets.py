"""Per-environment targets: placeholders in target fields, deploy collisions, IAM-bound wildcards."""

from __future__ import annotations

from conftest import MINIMAL, with_changes
from manifestc.api import check_manifest, compile_manifest

TWO_ENVS = [{"name": "staging"}, {"name": "prod", "approval": True}]


def errors(result):
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def _ecs(service: str, cluster: str = "shop") -> dict:
    return {
        "name": "api",
        "type": "ecs",
        "cluster": cluster,
        "service": service,
        "container": "api",
        "image_repository": "api",
    }


def _manifest(targets, environments=TWO_ENVS, **changes) -> str:
    base = {"targets": targets, "environments": environments, **changes}
    if any(t.get("type") == "ecs" for t in targets):
        base.setdefault("language", "docker")
    return with_changes(MINIMAL, **base)


def test_same_ecs_service_in_two_environments_of_one_account_is_an_error(write_manifest):
    result = check_manifest(write_manifest(_manifest([_ecs("api")])))
    assert errors(result) == [("MC280", "targets[0].service")]
    [diag] = [d for d in result.diagnostics if d.is_error]
    assert "`staging`" in diag.message and "`prod`" in diag.message and "shop/api" in diag.message
    assert diag.line > 0 and "{environment}" in diag.hint


def test_environment_placeholder_gives_each_environment_its_own_service(write_manifest):
    result = compile_manifest(write_manifest(_manifest([_ecs("api-{environment}")])), lint=False)
    assert not errors(result)
    actions = [
        a
        for stage in result.templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]
        for a in stage["Actions"]
        if a["ActionTypeId"]["Provider"] == "ECS"
    ]
    assert [a["Configuration"]["ServiceName"] for a in actions] == ["api-staging", "api-prod"]
    role = result.templates["pipeline.yaml"]["Resources"]["PipelineRole"]["Properties"]["Policies"][0]
    text = str(role["PolicyDocument"])
    assert "service/shop/api-staging" in text and "service/shop/api-prod" in text
    assert "service/shop/api-{environment}" not in text


def test_separate_accounts_may_share_a_service_name(write_manifest):
    envs = [{"name": "staging", "account": "111111111111"}, {"name": "prod", "account": "222222222222"}]
    text = _manifest([_ecs("api")], envs, account="123456789012", region="eu-west-1")
    assert not errors(check_manifest(write_manifest(text)))


def test_same_lambda_function_in_two_environments_is_an_error(write_manifest):
    target = {"name": "fn", "type": "lambda", "function": "invoices"}
    assert errors(check_manifest(write_manifest(_manifest([target])))) == [("MC280", "targets[0].function")]
    target["function"] = "invoices-{environment}"
    result = compile_manifest(write_manifest(_manifest([target])), lint=False)
    assert not errors(result)
    specs = [
        r["Properties"]["Source"]["BuildSpec"]
        for r in result.templates["pipeline.yaml"]["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project"
    ]
    assert any("--function-name invoices-staging" in str(s) for s in specs)
    assert any("--function-name invoices-prod" in str(s) for s in specs)


def test_overlapping_bucket_prefixes_are_an_error(write_manifest):
    target = {"name": "site", "type": "s3", "bucket": "acme-site", "prefix": "app/"}
    assert errors(check_manifest(write_manifest(_manifest([target])))) == [("MC280", "targets[0].prefix")]
    target["prefix"] = "{environment}/app/"
    assert not errors(check_manifest(write_manifest(_manifest([target]))))
    # staging at the root would overwrite prod's prefix
    root = {"name": "site", "type": "s3", "bucket": "acme-site"}
    assert errors(check_manifest(write_manifest(_manifest([root])))) == [("MC280", "targets[0].bucket")]


def test_bucket_placeholder_renders_and_is_checked(write_manifest):
    target = {"name": "site", "type": "s3", "bucket": "acme-site-{environment}"}
    result = compile_manifest(write_manifest(_manifest([target])), lint=False)
    assert not errors(result)
    configs = [
        a["Configuration"]
        for stage in result.templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]
        for a in stage["Actions"]
        if a["ActionTypeId"]["Provider"] == "S3" and a["ActionTypeId"]["Category"] == "Deploy"
    ]
    assert [c["BucketName"] for c in configs] == ["acme-site-staging", "acme-site-prod"]
    too_long = {"name": "site", "type": "s3", "bucket": "a" * 58 + "-{environment}"}
    assert ("MC281", "targets[0].bucket") in errors(check_manifest(write_manifest(_manifest([too_long]))))


def test_same_stack_in_two_environments_is_an_error(write_manifest):
    target = {"name": "app", "template": "deploy/app.yaml", "stack": "orders"}
    assert errors(check_manifest(write_manifest(_manifest([target])))) == [("MC280", "targets[0].stack")]


def test_environment_placeholder_in_a_template_path_is_substituted(write_manifest):
    target = {"name": "app", "template": "deploy/{environment}.yaml"}
    result = compile_manifest(write_manifest(_manifest([target])), lint=False)
    assert not errors(result)
    paths = [
        a["Configuration"]["TemplatePath"]
        for stage in result.templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]
        for a in stage["Actions"]
        if "TemplatePath" in a["Configuration"] and a["Name"].startswith("app")
    ]
    assert paths == ["BuildOutput::deploy/staging.yaml", "BuildOutput::deploy/prod.yaml"]


def test_lambda_template_cannot_differ_per_environment(write_manifest):
    target = {"name": "fn", "type": "lambda", "template": "sam/{environment}.yaml"}
    assert errors(check_manifest(write_manifest(_manifest([target])))) == [("MC283", "targets[0].template")]


def test_region_placeholder_needs_the_home_region(write_manifest):
    target = {"name": "fn", "type": "lambda", "function": "fn-{environment}-{region}"}
    assert errors(check_manifest(write_manifest(_manifest([target])))) == [("MC282", "targets[0].function")]
    ok = _manifest([target], region="eu-west-1")
    assert not errors(check_manifest(write_manifest(ok)))


def test_unknown_placeholder_in_a_target_field(write_manifest):
    target = {"name": "fn", "type": "lambda", "function": "fn-{stage}"}
    assert errors(check_manifest(write_manifest(_manifest([target])))) == [("MC208", "targets[0].function")]


def test_wildcards_in_iam_bound_values_are_rejected(write_manifest):
    # an s3 source with self-update must also say where the manifest is in the zip (MC262)
    s3_source = with_changes(
        source={"provider": "s3", "repository": "acme-sources/orders/*"}, regenerate={"path": "manifest.yaml"}
    )
    assert errors(check_manifest(write_manifest(s3_source))) == [("MC284", "source.repository")]
    target = {"name": "site", "type": "s3", "bucket": "acme-site", "prefix": "{environment}/*"}
    assert errors(check_manifest(write_manifest(_manifest([target])))) == [("MC284", "targets[0].prefix")]
