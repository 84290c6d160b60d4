"""`manifestc deploy-plan`: the commands that deploy what a build wrote, checked against the files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from conftest import ROOT
from manifestc.api import build
from manifestc.cli import cli
from manifestc.deployplan import deploy_plan

EXAMPLES = [
    "java-two-accounts",
    "multi-region",
    "private-worker",
    "catalog-product",
    "catalog-node-product",
    "python-service",
]


def _built(tmp_path):
    folder = tmp_path / "manifests"
    folder.mkdir()
    for name in EXAMPLES:
        shutil.copy(ROOT / "manifests" / f"{name}.yaml", folder / f"{name}.yaml")
    out = tmp_path / "out"
    report = build([str(folder)], out, lint=False)
    assert not report.failed()
    return out


def test_every_written_template_is_deployed_once_in_dependency_order(tmp_path):
    out = _built(tmp_path)
    steps = deploy_plan(out)
    placed = [(s.file, s.where) for s in steps if s.file]
    assert len(placed) == len(set(placed))  # once per file and account (launch roles: each shared account)
    deployed = [file for file, _ in placed]
    written = {p.as_posix() for p in out.rglob("*.yaml")}
    # per-pipeline catalog.yaml files are merged into _shared/catalog.yaml, which is deployed instead;
    # glue.yaml is deployed by the pipeline itself
    expected = {p for p in written if not (p.endswith("/catalog.yaml") and "/_shared/" not in p)}
    assert set(deployed) == expected

    def first(fragment: str) -> int:
        return next(i for i, s in enumerate(steps) if s.file and fragment in s.file)

    def last(fragment: str) -> int:
        return max(i for i, s in enumerate(steps) if s.file and fragment in s.file)

    assert last("/bootstrap-") < first("/support-") < first("/_shared/network-") < first("/pipeline.yaml")
    assert first("/_shared/catalog.yaml") > last("/pipeline.yaml")  # products are published first
    assert first("/launch-role.yaml") > first("/_shared/catalog.yaml")


def test_commands_name_stacks_regions_capabilities_and_large_templates(tmp_path):
    out = _built(tmp_path)
    steps = {s.file: s for s in deploy_plan(out) if s.file}
    bootstrap = steps[(out / "ledger-service" / "bootstrap-111111111111.yaml").as_posix()]
    assert bootstrap.where == "account 111111111111" and bootstrap.stack == "ledger-service-bootstrap"
    assert "--capabilities CAPABILITY_NAMED_IAM" in bootstrap.command and "--region eu-west-1" in bootstrap.command
    support = steps[(out / "edge-config" / "support-us-east-1.yaml").as_posix()]
    assert support.where == "tooling account" and "--region us-east-1" in support.command
    assert "--capabilities" not in support.command  # a bucket and a key: no IAM
    pipeline = steps[(out / "ledger-service" / "pipeline.yaml").as_posix()]
    assert pipeline.stack == "ledger-service-pipeline" and "CAPABILITY_NAMED_IAM" in pipeline.command
    network = next(s for p, s in steps.items() if "/_shared/network-" in p)
    assert "S3PrefixListId=" in network.command and "describe-managed-prefix-lists" in network.command


def test_large_templates_are_deployed_from_s3(tmp_path):
    out = _built(tmp_path)
    for step in deploy_plan(out):
        if step.file and step.stack:
            size = Path(step.file).stat().st_size
            assert ("--s3-bucket" in step.command) == (size > 51_200), step.file


def test_portfolio_shares_are_accepted_in_each_shared_account(tmp_path):
    out = _built(tmp_path)
    steps = deploy_plan(out)
    accepts = [s for s in steps if "accept-portfolio-share" in s.command]
    # one shared portfolio (both products name it), shared with both accounts
    assert sorted(s.where for s in accepts) == ["account 333333333333", "account 444444444444"]
    launch = [s for s in steps if s.file and s.file.endswith("launch-role.yaml")]
    assert {s.where for s in launch} == {"account 333333333333", "account 444444444444"}
    publish = [s for s in steps if s.command.startswith("manifestc publish")]
    assert len(publish) == 2


def test_one_pipeline_folder_and_the_cli(tmp_path):
    out = _built(tmp_path)
    steps = deploy_plan(out / "ledger-service")
    assert [s.stack for s in steps] == [
        "ledger-service-bootstrap",
        "ledger-service-bootstrap",
        "ledger-service-pipeline",
        None,  # the toolchain upload into the pipeline's artifact bucket
    ]
    assert "manifestc wheelhouse toolchain/" in steps[-1].command
    result = CliRunner().invoke(cli, ["deploy-plan", str(out / "ledger-service")])
    assert result.exit_code == 0
    assert result.output.count("aws cloudformation deploy") == 3
    assert "# 1. bootstrap of ledger-service" in result.output
    missing = CliRunner().invoke(cli, ["deploy-plan", str(tmp_path / "nothing")])
    assert missing.exit_code == 2


def _glue(tmp_path, **changes) -> Path:
    import yaml

    data = yaml.safe_load((ROOT / "manifests" / "glue-etl.yaml").read_text())
    data.update(changes)
    folder = tmp_path / "glue"
    folder.mkdir()
    for script in ROOT.glob("manifests/*.py"):
        shutil.copy(script, folder / script.name)
    (folder / "glue-etl.yaml").write_text(yaml.safe_dump(data))
    out = tmp_path / "glue-out"
    report = build([str(folder / "glue-etl.yaml")], out, lint=False, repo_root=ROOT)
    assert not report.failed(), [str(d) for d in report.all_diagnostics()]
    return out


def test_the_toolchain_is_uploaded_after_each_pipeline_stack_whose_builds_install_it(tmp_path):
    """Every project that installs manifestc from the artifact bucket (read from the written
    pipeline.yaml) gets an upload step right after its stack, into the prefix it reads."""
    import yaml
    from manifestc.deployplan import toolchain_installs

    out = _built(tmp_path)
    steps = deploy_plan(out)
    for name, folder in [(p.parent.name, p.parent) for p in sorted(out.glob("*/build.json"))]:
        template = yaml.safe_load((folder / "pipeline.yaml").read_text())
        installs = toolchain_installs(template)
        uploads = [
            s for s in steps if "manifestc wheelhouse toolchain/" in s.command and f"{name}-pipeline " in s.command
        ]
        if json.loads((folder / "build.json").read_text()).get("catalog"):
            assert not uploads
            continue
        assert len(uploads) == len(installs), name
        stack_step = next(i for i, s in enumerate(steps) if s.stack == f"{name}-pipeline")
        for upload in uploads:
            assert steps.index(upload) == stack_step + 1
            [version] = installs
            assert f'"s3://$BUCKET/_manifestc/toolchain/{version}/"' in upload.command
            assert "--logical-resource-id ArtifactBucket" in upload.command
        project = template["Resources"].get("UpdateProject")
        if project:
            url = next(
                v["Value"]["Fn::Sub"]
                for v in project["Properties"]["Environment"]["EnvironmentVariables"]
                if v["Name"] == "MANIFESTC_TOOLCHAIN_URL"
            )
            assert url.startswith("s3://${ArtifactBucket}/_manifestc/toolchain/") and uploads


def test_glue_without_self_update_still_uploads_its_toolchain_and_does_not_claim_to_update_itself(tmp_path):
    out = _glue(tmp_path, regenerate=False)
    steps = deploy_plan(out)
    [pipeline] = [s for s in steps if s.stack and s.stack.endswith("-pipeline")]
    assert "deploy themselves" not in pipeline.title and "regenerate: false" in pipeline.title
    [upload] = [s for s in steps if "manifestc wheelhouse" in s.command]
    assert "GlueTemplateProject" in upload.title and "UpdateProject" not in upload.title
    assert steps.index(upload) == steps.index(pipeline) + 1


def test_the_toolchain_step_names_the_projects_that_install_it_in_a_sentence():
    from manifestc import deployplan

    template = {"Resources": {}}
    titles = {}
    for projects in (["UpdateProject"], ["UpdateProject", "GlueTemplateProject"], ["A", "B", "C"]):
        original = deployplan.toolchain_installs
        deployplan.toolchain_installs = lambda _template, projects=projects: {"0.1.0": projects}
        try:
            [step] = deployplan._toolchain_steps("svc", "svc-pipeline", template, None)
        finally:
            deployplan.toolchain_installs = original
        titles[len(projects)] = step.title
    assert "that UpdateProject of svc installs from its artifact bucket" in titles[1]
    assert "that UpdateProject and GlueTemplateProject of svc install from its artifact bucket" in titles[2]
    assert "that A, B and C of svc install from" in titles[3]
