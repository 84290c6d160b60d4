"""Readiness checks 3 (no two deploys write one resource), 4 (lifecycle keeps live objects) and
1 for Glue jobs (job roles read and decrypt their scripts), over rendered templates."""

from __future__ import annotations

import copy
import json

from conftest import ROOT, build_manifests
from manifestc.api import compile_manifest
from manifestc.check import run_checks
from manifestc.check.deploy_collisions import check_deploy_collisions, link_deploy_collisions
from manifestc.check.glue_scripts import check_glue_scripts
from manifestc.check.lifecycle import check_lifecycle, live_prefixes


def _compiled(path):
    result = compile_manifest(path, lint=False)
    assert not [d for d in result.diagnostics if d.is_error], result.diagnostics
    return result.manifest, result.templates


def _stages(templates):
    return templates["pipeline.yaml"]["Resources"]["Pipeline"]["Properties"]["Stages"]


def test_every_example_passes_the_checks():
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        manifest, templates = _compiled(path)
        assert run_checks(manifest, templates) == [], path.name


def test_an_emitter_that_forgets_the_environment_is_caught():
    manifest, templates = _compiled(ROOT / "manifests" / "docker-ecs.yaml")
    broken = copy.deepcopy(templates)
    for stage in _stages(broken):
        for action in stage["Actions"]:
            if action["ActionTypeId"]["Provider"] == "ECS":
                action["Configuration"]["ServiceName"] = "catalog-api"  # both environments, one service
    [diag] = check_deploy_collisions(manifest, broken)
    assert diag.code == "MC640" and "catalog-api" in diag.message
    assert "`staging`" in diag.message and "`prod`" in diag.message


def test_lambda_functions_are_read_from_the_deploy_jobs():
    manifest, templates = _compiled(ROOT / "manifests" / "dotnet-lambda.yaml")
    broken = copy.deepcopy(templates)
    for resource in broken["pipeline.yaml"]["Resources"].values():
        if resource["Type"] == "AWS::CodeBuild::Project":
            spec = resource["Properties"]["Source"]["BuildSpec"]
            if isinstance(spec, str):
                resource["Properties"]["Source"]["BuildSpec"] = spec.replace("-staging", "-prod")
    [diag] = check_deploy_collisions(manifest, broken)
    assert diag.code == "MC640" and "Lambda function `invoice-processor-prod`" in diag.message


def test_two_manifests_deploying_one_stack_fail_the_build_at_both(tmp_path):
    one = (ROOT / "manifests" / "python-service.yaml").read_text()
    two = one.replace("name: orders-service", "name: orders-copy")  # same stacks orders-{environment}
    outputs, report = build_manifests(tmp_path, one, two)
    found = [d for d in report.diagnostics if d.code == "MC641"]
    assert {d.file for d in found} == {"out/orders-service/pipeline.yaml", "out/orders-copy/pipeline.yaml"}
    assert all("orders-staging" in d.message or "orders-prod" in d.message for d in found)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_new_manifest_colliding_with_an_unchanged_one_is_caught_and_not_written(tmp_path):
    """An incremental build skips unchanged manifests (no templates in memory): MC641 reads what
    they deploy from their build.json, and writes nothing of either colliding pipeline."""
    from manifestc.api import build

    folder, out = tmp_path / "manifests", tmp_path / "out"
    folder.mkdir()
    orders = (ROOT / "manifests" / "python-service.yaml").read_text()
    (folder / "orders.yaml").write_text(orders)
    (folder / "catalog.yaml").write_text((ROOT / "manifests" / "docker-ecs.yaml").read_text())
    first = build([str(folder)], out, lint=False)
    assert not first.failed()
    before = _files(out / "orders-service")
    stacks = [d["identity"] for d in json.loads(before["build.json"])["deploys"] if d["kind"] == "stack"]
    assert stacks == ["orders-staging", "orders-prod"]

    # a third manifest deploying the same stacks as the cached orders-service
    (folder / "copy.yaml").write_text(orders.replace("name: orders-service", "name: orders-copy"))
    second = build([str(folder)], out, lint=False)
    assert {r.name: r.skipped for r in second.results} == {
        "orders-service": True,
        "catalog-api": True,
        "orders-copy": False,
    }
    found = [d for d in second.diagnostics if d.code == "MC641"]
    assert {d.file for d in found} == {"out/orders-service/pipeline.yaml", "out/orders-copy/pipeline.yaml"}
    assert {d.path for d in found} == {("orders-service",), ("orders-copy",)}
    assert any("`orders-prod`" in d.message and d.file.startswith("out/orders-copy/") for d in found)
    assert second.failed()
    assert not (out / "orders-copy").exists()
    assert _files(out / "orders-service") == before  # the cached one is left as it was

    # compiled together from scratch: the same findings, and neither pipeline is written
    clean = tmp_path / "clean"
    third = build([str(folder)], clean, lint=False)
    assert sorted((d.file, d.message) for d in third.diagnostics if d.code == "MC641") == sorted(
        (d.file, d.message) for d in found
    )
    assert sorted(p.name for p in clean.iterdir() if p.is_dir()) == ["catalog-api"]

    # the copy gets its own stacks: it is written, the cached one is still skipped
    (folder / "copy.yaml").write_text(
        orders.replace("name: orders-service", "name: orders-copy").replace(
            '"orders-{environment}"', '"copy-{environment}"'
        )
    )
    fourth = build([str(folder)], out, lint=False)
    assert not fourth.failed(), fourth.all_diagnostics()
    assert {r.name for r in fourth.results if r.skipped} == {"orders-service", "catalog-api"}
    assert (out / "orders-copy" / "build.json").is_file()


def test_a_build_json_without_the_deploys_record_is_rebuilt(tmp_path):
    """A build.json written before the record existed cannot prove what the pipeline deploys."""
    from manifestc.api import build

    folder, out = tmp_path / "manifests", tmp_path / "out"
    folder.mkdir()
    (folder / "orders.yaml").write_text((ROOT / "manifests" / "python-service.yaml").read_text())
    build([str(folder)], out, lint=False)
    record_path = out / "orders-service" / "build.json"
    record = json.loads(record_path.read_text())
    del record["deploys"]
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    [result] = build([str(folder)], out, lint=False).results
    assert not result.skipped
    assert "deploys" in json.loads(record_path.read_text())


def test_different_accounts_do_not_collide(tmp_path):
    manifest, templates = _compiled(ROOT / "manifests" / "java-two-accounts.yaml")
    other = copy.deepcopy(templates)
    for stage in _stages(other):
        for action in stage["Actions"]:
            role = action.get("RoleArn")
            if isinstance(role, dict) and "Fn::Sub" in role:  # partition-aware cross-account role ARNs
                role["Fn::Sub"] = (
                    role["Fn::Sub"].replace("111111111111", "333333333333").replace("222222222222", "444444444444")
                )
            elif isinstance(role, str):
                action["RoleArn"] = role.replace("111111111111", "333333333333").replace("222222222222", "444444444444")
    copy_manifest = type(manifest)(**{**manifest.__dict__, "name": "ledger-copy"})
    assert link_deploy_collisions([(manifest, templates), (copy_manifest, other)]) == []
    assert len(link_deploy_collisions([(manifest, templates), (copy_manifest, templates)])) == 4


def test_artifact_lifecycle_never_expires_live_scripts():
    manifest, templates = _compiled(ROOT / "manifests" / "glue-etl.yaml")
    live = live_prefixes(templates)
    assert ("${ArtifactBucket}", "glue/covid-etl/dev/", "Glue job scripts (dev: etl-prepare)") in live
    assert check_lifecycle(manifest, templates) == []
    # the rule this compiler used to emit: every current object expires after 90 days
    broken = copy.deepcopy(templates)
    bucket = broken["pipeline.yaml"]["Resources"]["ArtifactBucket"]["Properties"]
    bucket["LifecycleConfiguration"]["Rules"] = [
        {"Id": "expire-old-artifacts", "Status": "Enabled", "ExpirationInDays": 90}
    ]
    found = check_lifecycle(manifest, broken)
    assert [d.code for d in found] == ["MC642", "MC642"]  # dev and prod scripts
    assert "glue/covid-etl/prod/" in found[1].message


def test_lifecycle_keeps_packaged_lambda_code(tmp_path, write_manifest):
    from conftest import MINIMAL, with_changes

    text = with_changes(
        MINIMAL,
        targets=[{"name": "fn", "type": "lambda", "template": "sam/template.yaml"}],
    )
    manifest, templates = _compiled(write_manifest(text))
    assert any(prefix == "lambda/fn/" for _, prefix, _ in live_prefixes(templates))
    assert check_lifecycle(manifest, templates) == []
    broken = copy.deepcopy(templates)
    rules = broken["pipeline.yaml"]["Resources"]["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    rules.append({"Id": "too-broad", "Status": "Enabled", "Prefix": "lambda/", "ExpirationInDays": 30})
    [diag] = check_lifecycle(manifest, broken)
    assert diag.code == "MC642" and "packaged Lambda code" in diag.message


def test_glue_job_roles_decrypt_their_scripts():
    manifest, templates = _compiled(ROOT / "manifests" / "glue-etl.yaml")
    assert check_glue_scripts(manifest, templates) == []
    broken = copy.deepcopy(templates)
    role = broken["glue.yaml"]["Resources"]["JobRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    role["Statement"] = [s for s in role["Statement"] if s.get("Sid") != "DecryptScripts"]
    found = check_glue_scripts(manifest, broken)
    assert {d.code for d in found} == {"MC643"} and len(found) == 4  # 2 jobs x 2 environments
    assert "kms:Decrypt on ${ArtifactKey.Arn}" in found[0].message
