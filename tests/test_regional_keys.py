"""Review finding B1: an environment of another account in an extra region needs that region's
artifact key named by key ARN (CodePipeline recognises a key alias only in the key's account).

pipeline.yaml takes the ARN as a parameter (support-<region>.yaml outputs it), deploy-plan passes
it, the self-update passes it on, and Recompile refuses a commit that changes which regions need it
(MC397). Pipelines that do not need it are emitted as before.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner
from conftest import MINIMAL, with_changes
from manifestc import __version__, api
from manifestc.cli import cli
from manifestc.deployplan import deploy_plan
from manifestc.diagnostics import CODES
from manifestc.guard import GUARDS
from manifestc.recompile import deployed_guards, recompile, recompile_variables
from manifestc.regional_keys import VARIABLE, allowed_pattern, key_regions, parameter_name

HOME = {"account": "123456789012", "region": "eu-west-1"}
# staging: the tooling account, in us-east-1 too; prod: another account, in us-west-2 too
MIXED = with_changes(
    MINIMAL,
    **HOME,
    environments=[
        {"name": "staging", "regions": ["eu-west-1", "us-east-1"]},
        {"name": "prod", "account": "222222222222", "regions": ["eu-west-1", "us-west-2"]},
    ],
)
SAME_ACCOUNT = with_changes(
    MINIMAL, **HOME, environments=[{"name": "staging", "regions": ["eu-west-1", "us-east-1", "us-west-2"]}]
)
KEY_ARN = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _templates(text: str, tmp_path: Path) -> dict:
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    result = api.compile_manifest(path, lint=False, repo_root=tmp_path)
    assert not result.failed(), result.diagnostics
    return result.templates


def _stores(pipeline: dict) -> dict:
    stores = pipeline["Resources"]["Pipeline"]["Properties"]["ArtifactStores"]
    return {s["Region"]: s["ArtifactStore"]["EncryptionKey"]["Id"] for s in stores}


def _update_action(pipeline: dict) -> dict:
    stages = pipeline["Resources"]["Pipeline"]["Properties"]["Stages"]
    update = next(s for s in stages if s["Name"] == "UpdatePipeline")
    return next(a for a in update["Actions"] if a["Name"] == "UpdatePipelineStack")["Configuration"]


def test_a_region_another_account_deploys_to_names_its_key_by_arn(tmp_path):
    templates = _templates(MIXED, tmp_path)
    pipeline = templates["pipeline.yaml"]
    assert key_regions(api.check_manifest(tmp_path / "manifest.yaml").manifest) == ("us-west-2",)
    stores = _stores(pipeline)
    assert stores["us-west-2"] == {"Ref": "ArtifactKeyArnUsWest2"}
    # us-east-1 is used by the tooling account only: the alias still works there
    assert stores["us-east-1"] == {
        "Fn::Sub": "arn:${AWS::Partition}:kms:us-east-1:${AWS::AccountId}:alias/manifestc/demo-service"
    }
    assert stores["eu-west-1"] == {"Fn::GetAtt": ["ArtifactKey", "Arn"]}
    assert list(pipeline["Parameters"]) == ["ArtifactKeyArnUsWest2"]
    assert "Default" not in pipeline["Parameters"]["ArtifactKeyArnUsWest2"]  # never a guessed value
    # the support stack of that region outputs its key's ARN; the other's is unchanged
    assert templates["support-us-west-2.yaml"]["Outputs"]["ArtifactKeyArn"]["Value"] == {
        "Fn::GetAtt": ["ArtifactKey", "Arn"]
    }
    assert "Outputs" not in templates["support-us-east-1.yaml"]


def test_the_parameter_accepts_a_key_arn_of_its_region_only():
    pattern = re.compile(allowed_pattern("us-west-2"))
    assert pattern.match(KEY_ARN)
    assert pattern.match("arn:aws-us-gov:kms:us-west-2:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab")
    assert not pattern.match("arn:aws:kms:us-west-2:123456789012:alias/manifestc/demo-service")
    assert not pattern.match(KEY_ARN.replace("us-west-2", "us-east-1"))
    assert not pattern.match(KEY_ARN + '", "x": "y')  # the value is substituted into JSON
    assert parameter_name("ap-southeast-2") == "ArtifactKeyArnApSoutheast2"


def test_the_self_update_passes_exactly_the_declared_parameters_on(tmp_path):
    pipeline = _templates(MIXED, tmp_path)["pipeline.yaml"]
    overrides = _update_action(pipeline)["ParameterOverrides"]["Fn::Sub"]
    # what CloudFormation resolves: the stack's current parameter values, as JSON
    resolved = json.loads(overrides.replace("${ArtifactKeyArnUsWest2}", KEY_ARN))
    assert resolved == {"ArtifactKeyArnUsWest2": KEY_ARN}
    assert set(resolved) == set(pipeline["Parameters"])
    assert recompile_variables(pipeline)[VARIABLE] == "us-west-2"


def test_pipelines_that_do_not_need_it_are_unchanged(tmp_path):
    for text in (SAME_ACCOUNT, with_changes(MINIMAL, **HOME), MINIMAL):
        folder = tmp_path / str(abs(hash(text)))
        folder.mkdir()
        templates = _templates(text, folder)
        pipeline = templates["pipeline.yaml"]
        assert "Parameters" not in pipeline
        assert "ParameterOverrides" not in _update_action(pipeline)
        assert VARIABLE not in recompile_variables(pipeline)
        for name, template in templates.items():
            if name.startswith("support-"):
                assert "Outputs" not in template
                assert _stores(pipeline)[name[len("support-") : -len(".yaml")]]["Fn::Sub"].endswith(
                    ":alias/manifestc/demo-service"
                )


def test_a_cross_account_environment_in_the_home_region_only_needs_no_parameter(tmp_path):
    text = with_changes(MINIMAL, **HOME, environments=[{"name": "prod", "account": "222222222222"}])
    assert "Parameters" not in _templates(text, tmp_path)["pipeline.yaml"]


def test_deploy_plan_reads_the_support_output_into_the_pipeline_parameter(tmp_path):
    (tmp_path / "manifest.yaml").write_text(MIXED)
    out = tmp_path / "out"
    assert not api.build([str(tmp_path / "manifest.yaml")], out, lint=False).failed()
    steps = deploy_plan(out)
    stacks = [s.stack for s in steps if s.stack]
    assert stacks.index("demo-service-support-us-west-2") < stacks.index("demo-service-pipeline")
    [pipeline] = [s for s in steps if s.stack == "demo-service-pipeline"]
    assert (
        '--parameter-overrides ArtifactKeyArnUsWest2="$(aws cloudformation describe-stacks --stack-name '
        "demo-service-support-us-west-2 --region us-west-2 --query "
        '"Stacks[0].Outputs[?OutputKey==\'ArtifactKeyArn\'].OutputValue" --output text)"' in pipeline.command
    )
    assert "us-east-1" not in pipeline.command
    # without key parameters the command has no overrides
    (tmp_path / "manifest.yaml").write_text(SAME_ACCOUNT)
    shutil.rmtree(out)
    assert not api.build([str(tmp_path / "manifest.yaml")], out, lint=False).failed()
    [pipeline] = [s for s in deploy_plan(out) if s.stack == "demo-service-pipeline"]
    assert "--parameter-overrides" not in pipeline.command


def _repo(tmp_path: Path, text: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    (repo / "manifest.yaml").write_text(text)
    (repo / "deploy").mkdir(exist_ok=True)
    (repo / "deploy" / "app.yaml").write_text("Resources: {}\n")
    return repo


def _recompile(repo: Path, deployed_template: dict, **overrides):
    guards = deployed_guards(recompile_variables(deployed_template))
    guards.update(overrides)
    return recompile(
        repo / "manifest.yaml",
        repo_root=repo,
        pipeline="demo-service",
        deployed_toolchain=f"manifestc=={__version__}",
        artifact_bucket="artifacts",
        out=repo / ".out",
        region="eu-west-1",
        account="123456789012",
        probe=lambda host: True,
        **guards,
    )


def test_recompile_refuses_a_commit_that_adds_a_key_parameter(tmp_path):
    """The deployed pipeline's update action passes only its own parameters: a new one would be
    missing (no default), so the change is deployed by hand once."""
    # deployed: the same accounts and regions (their stacks exist), but only the tooling account
    # deploys to us-west-2 (no parameter yet)
    before = with_changes(
        MINIMAL,
        **HOME,
        environments=[
            {"name": "staging", "regions": ["eu-west-1", "us-east-1", "us-west-2"]},
            {"name": "prod", "account": "222222222222"},
        ],
    )
    repo = _repo(tmp_path, before)
    deployed = _templates(before, tmp_path)["pipeline.yaml"]
    (repo / "manifest.yaml").write_text(MIXED)
    outcome = _recompile(repo, deployed)
    [refusal] = [d for d in outcome.diagnostics if d.is_error]
    assert refusal.code == "MC397" and (refusal.file, refusal.line) == ("manifest.yaml", 1)
    assert "now deploys to us-west-2" in refusal.message and "ArtifactKeyArnUsWest2" in refusal.message
    assert "manifestc deploy-plan out/demo-service" in refusal.hint and "ArtifactKeyArn" in refusal.hint
    assert not (repo / ".out").exists()
    # once deployed by hand (its Recompile project records us-west-2), later commits go through
    redeployed = _templates(MIXED, tmp_path)["pipeline.yaml"]
    outcome = _recompile(repo, redeployed)
    assert not outcome.failed, outcome.diagnostics
    assert _update_action(yaml.safe_load((repo / ".out" / "pipeline.yaml").read_text()))["ParameterOverrides"]


def test_recompile_refuses_a_commit_that_removes_a_key_parameter(tmp_path):
    repo = _repo(tmp_path, MIXED)
    deployed = _templates(MIXED, tmp_path)["pipeline.yaml"]
    # prod moves to the tooling account: the deployed action would pass a parameter the new template lacks
    after = with_changes(
        MINIMAL,
        **HOME,
        environments=[
            {"name": "staging", "regions": ["eu-west-1", "us-east-1", "us-west-2"]},
            {"name": "prod", "account": "222222222222"},
        ],
    )
    (repo / "manifest.yaml").write_text(after)
    [refusal] = [d for d in _recompile(repo, deployed).diagnostics if d.is_error]
    assert refusal.code == "MC397" and "does not declare" in refusal.message


def test_the_cli_reads_the_record_and_an_absent_record_means_none(tmp_path, monkeypatch):
    repo = _repo(tmp_path, MIXED)
    env = recompile_variables(_templates(MIXED, tmp_path)["pipeline.yaml"])
    guards = {k: v for k, v in env.items() if k in GUARDS or k == VARIABLE}
    monkeypatch.setattr("manifestc.recompile.tcp_probe", lambda host: True)
    args = ["recompile", str(repo / "manifest.yaml"), "--repo-root", str(repo), "--pipeline", "demo-service"]
    args += ["--toolchain", f"manifestc=={__version__}", "--artifact-bucket", "artifacts", "--region", "eu-west-1"]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")], env=guards)
    assert result.exit_code == 0, result.output
    # a pipeline deployed without the record (before it existed): it passes no key parameter
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b")], env={**guards, VARIABLE: None})
    assert result.exit_code == 1 and "MC397" in result.output


def test_mc397_is_registered():
    assert CODES["MC397"].title.startswith("self-update refused")


def test_a_toolchain_that_drops_the_record_is_not_used(tmp_path):
    """A commit's regenerate.install toolchain must emit the record as this compiler does."""
    from manifestc.recompile import _guards_lost

    templates = _templates(MIXED, tmp_path)
    manifest = api.check_manifest(tmp_path / "manifest.yaml").manifest
    written = tmp_path / "pipeline.yaml"
    written.write_text(yaml.safe_dump(templates["pipeline.yaml"]))
    assert _guards_lost(written, manifest) == []
    variables = templates["pipeline.yaml"]["Resources"]["UpdateProject"]["Properties"]["Environment"][
        "EnvironmentVariables"
    ]
    variables[:] = [v for v in variables if v["Name"] != VARIABLE]
    written.write_text(yaml.safe_dump(templates["pipeline.yaml"]))
    assert _guards_lost(written, manifest) == [VARIABLE]


def test_the_factory_refuses_a_change_of_key_parameters(tmp_path):
    """The factory redeploys a pipeline with `aws cloudformation deploy` (previous parameter
    values kept); its guard compares every MANIFESTC_DEPLOYED_* variable, so a change of the key
    regions (a parameter without a value, or one fewer) is left to a person."""
    import subprocess
    import sys

    from manifestc.emit.factory import _GUARD

    before = with_changes(
        MINIMAL,
        **HOME,
        environments=[
            {"name": "staging", "regions": ["eu-west-1", "us-east-1", "us-west-2"]},
            {"name": "prod", "account": "222222222222"},
        ],
    )
    (tmp_path / "guard.py").write_text(_GUARD)
    (tmp_path / "deployed.json").write_text(json.dumps(_templates(before, tmp_path)["pipeline.yaml"]))
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(_templates(MIXED, tmp_path)["pipeline.yaml"]))
    run = subprocess.run(
        [sys.executable, "-I", "guard.py", "deployed.json", "new.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert VARIABLE in run.stdout and "deploys it by hand" in run.stdout
