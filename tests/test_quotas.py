"""Readiness check 5: AWS quotas (aws.QUOTAS) are met by every emitted template, at compile time.

Each quota has a failing case here; where the manifest causes it, the error points at the field.
"""

from __future__ import annotations

import yaml
from conftest import MINIMAL, with_changes
from manifestc import aws
from manifestc.api import check_manifest, compile_manifest
from manifestc.check.quotas import check_quotas, resolved_length


def _compile(write_manifest, text: str):
    return compile_manifest(write_manifest(text), lint=False)


def _errors(result, code: str):
    return [d for d in result.diagnostics if d.code == code]


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(needle))


def test_over_500_resources_is_a_located_error_from_validate_without_emitting(write_manifest):
    text = with_changes(tests=[{"name": f"suite{i}"} for i in range(130)])
    result = check_manifest(write_manifest(text))
    (error,) = _errors(result, "MC290")
    assert error.line == _line_of(text, "tests:")
    assert "at least" in error.message and "500" in error.message
    assert result.manifest is None  # nothing to emit
    # and build reports it the same way, never an internal error (troposphere's own limit)
    built = _compile(write_manifest, text)
    assert _errors(built, "MC290") and not _errors(built, "MC301") and not built.artifacts


def test_the_estimate_is_a_lower_bound_of_the_emitted_count(write_manifest):
    from manifestc.semantics import estimate_resources

    text = with_changes(
        tests=[{"name": f"suite{i}"} for i in range(20)],
        quality_gates=["lint", "sast"],
        environments=[{"name": "staging"}, {"name": "prod"}],
    )
    result = _compile(write_manifest, text)
    emitted = len(result.templates["pipeline.yaml"]["Resources"])
    assert sum(estimate_resources(result.manifest).values()) <= emitted


def test_exactly_counted_resources_parameters_outputs_over_quota(write_manifest):
    result = _compile(write_manifest, MINIMAL)
    template = dict(result.templates["pipeline.yaml"])
    template["Resources"] = dict(template["Resources"])
    for i in range(501 - len(template["Resources"])):
        template["Resources"][f"Extra{i}"] = {"Type": "AWS::SNS::Topic", "Properties": {}}
    template["Parameters"] = {f"P{i}": {"Type": "String"} for i in range(201)}
    template["Outputs"] = {f"O{i}": {"Value": "x"} for i in range(200)}  # exactly at the quota: fine
    found = check_quotas(result.manifest, {"pipeline.yaml": template})
    messages = [d.message for d in found if d.code == "MC652"]
    assert len(messages) == 2
    assert any("501 resources" in m for m in messages) and any("201 parameters" in m for m in messages)
    assert all(d.file == "out/demo-service/pipeline.yaml" for d in found)


def test_too_many_actions_in_a_stage_points_at_the_list(write_manifest):
    text = with_changes(tests=[{"name": f"suite{i}"} for i in range(50)])  # + the build action = 51
    result = _compile(write_manifest, text)
    (error,) = _errors(result, "MC654")
    assert "stage Build would have 51 actions" in error.message
    assert error.line == _line_of(text, "tests:")
    assert not result.artifacts


def test_too_many_stages_points_at_environments(write_manifest):
    envs = [{"name": f"env{i}"} for i in range(48)]  # Source, UpdatePipeline, Build + 48 = 51
    text = with_changes(environments=envs)
    result = _compile(write_manifest, text)
    (error,) = _errors(result, "MC654")
    assert "51 stages" in error.message
    assert error.line == _line_of(text, "environments:")
    ok = _compile(write_manifest, with_changes(environments=envs[:47]))
    assert not _errors(ok, "MC654")


def test_parameter_overrides_over_1000_characters_points_at_the_parameters(write_manifest):
    data = yaml.safe_load(MINIMAL)
    data["targets"][0]["parameters"] = {f"Param{i}": "v" * 40 for i in range(25)}
    text = yaml.safe_dump(data, sort_keys=False)
    result = _compile(write_manifest, text)
    (error,) = _errors(result, "MC655")
    assert "ParameterOverrides" in error.message and "app-prepare" in error.message
    assert error.path == ("targets", 0, "parameters")
    assert error.line == _line_of(text, "  parameters:")
    data["targets"][0]["parameters"] = {f"Param{i}": "v" * 10 for i in range(25)}
    assert not _errors(_compile(write_manifest, yaml.safe_dump(data)), "MC655")


def test_buildspec_over_25600_characters_points_at_build(write_manifest):
    commands = [f"echo {'x' * 200} {i}" for i in range(130)]
    text = with_changes(build={"commands": commands})
    result = _compile(write_manifest, text)
    (error,) = _errors(result, "MC656")
    assert "BuildProject" in error.message and "25,600" in error.message
    assert error.line == _line_of(text, "build:")


def test_role_inline_policies_over_10240_characters(write_manifest):
    secrets = {f"SECRET_{i}": f"secretsmanager:team/service/secret-number-{i}" for i in range(130)}
    result = _compile(write_manifest, with_changes(build={"secrets": secrets}))
    found = _errors(result, "MC657")
    assert any("BuildRole" in d.message and "10,240" in d.message for d in found)
    few = {k: v for k, v in list(secrets.items())[:5]}
    assert not _errors(_compile(write_manifest, with_changes(build={"secrets": few})), "MC657")


def test_managed_policy_over_6144_characters(write_manifest):
    result = _compile(write_manifest, MINIMAL)
    statement = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::b/{'k' * 100}"] * 70}
    template = {
        "Resources": {
            "Big": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}},
            }
        }
    }
    found = check_quotas(result.manifest, {"pipeline.yaml": template})
    assert [d.code for d in found] == ["MC657"] and "6,144" in found[0].message


def test_glue_trigger_over_50_actions_points_at_glue_jobs(write_manifest):
    jobs = [{"name": f"job{i}", "script": f"jobs/job{i}.py"} for i in range(51)]
    text = with_changes(
        glue={"workflow": "etl", "database": "sales", "jobs": jobs},
        targets=[{"name": "etl", "type": "glue"}],
    )
    result = _compile(write_manifest, text)
    errors = _errors(result, "MC658")
    assert errors and "51 actions" in errors[0].message
    assert errors[0].path == ("glue", "jobs")


def test_template_size_limits(write_manifest):
    result = _compile(write_manifest, MINIMAL)
    template = dict(result.templates["pipeline.yaml"])
    template["Metadata"] = {"padding": "x" * 600_000}
    # the pipeline stack under self-update is deployed by a CloudFormation action: 512,000 bytes
    found = check_quotas(result.manifest, {"pipeline.yaml": template})
    assert [d.code for d in found] == ["MC651"] and "512,000" in found[0].message
    # any other template: 1 MB from S3
    assert not check_quotas(result.manifest, {"support-us-east-1.yaml": template})
    template["Metadata"] = {"padding": "x" * 1_000_001}
    found = check_quotas(result.manifest, {"support-us-east-1.yaml": template})
    assert [d.code for d in found] == ["MC651"] and "1,000,000" in found[0].message


def test_description_over_1024_bytes(write_manifest):
    result = _compile(write_manifest, MINIMAL)
    template = dict(result.templates["pipeline.yaml"], Description="é" * 600)  # 1,200 bytes, 600 characters
    (error,) = check_quotas(result.manifest, {"pipeline.yaml": template})
    assert error.code == "MC653" and "1,200 bytes" in error.message


def test_resolved_length_counts_pseudo_parameters_at_their_longest():
    assert (
        resolved_length({"Fn::Sub": "arn:${AWS::Partition}:s3:::${AWS::AccountId}"})
        == len("arn:") + 10 + len(":s3:::") + 12
    )
    assert resolved_length({"Fn::Sub": "${!Literal}"}) == len("${Literal}")


def test_every_quota_names_its_source():
    for key, quota in aws.QUOTAS.items():
        assert quota.source.startswith("https://"), key
        assert quota.limit > 0


def test_every_example_meets_every_quota():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "manifests"
    for path in sorted(root.glob("*.yaml")):
        result = compile_manifest(path, lint=False)
        assert not [d for d in result.diagnostics if d.code.startswith("MC65") or d.code == "MC290"], path


def test_template_size_is_the_size_the_build_wrote(write_manifest):
    # the build records each YAML template's size as it rendered it; the size quota reads that
    # (not a second rendering), and a template given without a recorded size is rendered
    from manifestc.render import TemplateSet, render

    result = _compile(write_manifest, MINIMAL)
    written = {a.name: len(a.content) for a in result.artifacts}
    assert result.templates.yaml_sizes == written
    data = result.templates["pipeline.yaml"]
    assert written["pipeline.yaml"] == len(render(data, "yaml"))
    recorded = TemplateSet({"pipeline.yaml": data})
    recorded.yaml_sizes["pipeline.yaml"] = 2_000_000  # over every template size quota
    assert [d.code for d in check_quotas(result.manifest, recorded)] == ["MC651"]
    assert not check_quotas(result.manifest, {"pipeline.yaml": data})
