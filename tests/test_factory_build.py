"""The factory build's script, run as CodeBuild would run it, against stand-ins for `aws` and
`git` that record every call: what it deploys, what it refuses, when it retires a pipeline.

The script is taken from the emitted buildspec (its here-documents), and manifestc runs for real
(validate, build with lint) from a stand-in of the toolchain's virtual environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import MINIMAL
from manifestc.emit.factory import build_template
from manifestc.factory import FactorySettings
from manifestc.render import template_dict

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "demo-service"
COMMIT = "c0ffee"

AWS = r"""#!/bin/bash
echo "aws $*" >> "$CALLS"
case "$1 $2" in
  "cloudformation describe-stacks")
    status="$STACK_STATUS"; [[ "$*" == *manifestc-network-* ]] && status="${NETWORK_STATUS:-NONE}"
    [ "$status" = NONE ] && exit 254
    if [[ "$*" == *Tags* ]]; then echo "$STACK_OWNER"; else echo "$status"; fi ;;
  "cloudformation get-template") cat "$DEPLOYED" ;;
  "cloudformation describe-stack-resource") echo demo-bucket ;;
esac
exit 0
"""

GIT = r"""#!/bin/bash
echo "git $*" >> "$CALLS"
if [ "$1" = clone ]; then cp -r "$SOURCE" "${@: -1}"; exit 0; fi
case "$3" in
  rev-parse) echo "$TIP" ;;
  log) echo "$GONE" ;;
  show) cat "$OLD_MANIFEST" ;;
esac
exit 0
"""


@pytest.fixture(scope="module")
def buildspec_commands() -> list[str]:
    template = template_dict(build_template(FactorySettings(repositories=(REPOSITORY,))))
    spec = yaml.safe_load(template["Resources"]["FactoryProject"]["Properties"]["Source"]["BuildSpec"])
    return spec["phases"]["build"]["commands"]


def _stub(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text)
    path.chmod(0o755)


def run_factory(tmp_path: Path, commands: list[str], manifest: str | None, **env: str):
    """Run the buildspec's script for one commit; returns (exit code, calls, output)."""
    home, stubs, source = tmp_path / "home", tmp_path / "bin", tmp_path / "source"
    for folder in (home / "venv" / "bin", stubs, source):
        folder.mkdir(parents=True, exist_ok=True)
    # the toolchain's venv: this interpreter with the worktree's compiler (-I would hide PYTHONPATH)
    _stub(home / "venv" / "bin", "python", f'#!/bin/bash\n[ "$1" = -I ] && shift\nexec {sys.executable} "$@"\n')
    _stub(stubs, "aws", AWS)
    _stub(stubs, "git", GIT)
    if manifest is not None:
        (source / "manifest.yaml").write_text(manifest)
    calls = tmp_path / "calls.log"
    calls.write_text("")
    variables = {
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "compiler"),
        "MANIFESTC_LINT_CACHE": os.environ.get("MANIFESTC_LINT_CACHE", str(tmp_path / "lint")),
        "HOME": str(tmp_path),
        "MANIFESTC_HOME": str(home),
        "CALLS": str(calls),
        "SOURCE": str(source),
        "REPOSITORY": REPOSITORY,
        "COMMIT": COMMIT,
        "BRANCH": "main",
        "TIP": COMMIT,
        "MANIFEST_PATH": "manifest.yaml",
        "RETIRE": "false",
        "PIPELINE_PREFIX": "",
        "TOPIC_ARN": "arn:aws:sns:us-east-1:111111111111:manifestc-factory",
        "DEPLOY_ROLE_ARN": "arn:aws:iam::111111111111:role/manifestc/manifestc-factory/manifestc-factory-deploy",
        "FACTORY_BUCKET": "org-tools",
        "TEMPLATE_PREFIX": "_manifestc/factory/",
        "REPOSITORY_TAG": "manifestc:repository",
        "AWS_REGION": "us-east-1",
        "URL_SUFFIX": "amazonaws.com",
        "MANIFESTC_VERSION": "0.1.0",
        "MANIFESTC_TOOLCHAIN_URL": "s3://org-tools/_manifestc/toolchain/0.1.0/",
        "CODEBUILD_BUILD_ID": "manifestc-factory:1",
        "STACK_STATUS": "NONE",
        "STACK_OWNER": REPOSITORY,
        "GONE": "",
        **env,
    }
    for command in commands:
        if command.startswith("cat >"):  # the here-documents: the script and the guard
            subprocess.run(["bash", "-c", command], env=variables, check=True)
    proc = subprocess.run(
        ["bash", str(home / "factory.sh")], env=variables, capture_output=True, text=True, timeout=120
    )
    return proc.returncode, calls.read_text().splitlines(), proc.stdout + proc.stderr


def _deploys(calls: list[str]) -> list[str]:
    return [c for c in calls if c.startswith("aws cloudformation deploy")]


def test_a_new_repository_gets_its_pipeline(tmp_path, buildspec_commands):
    code, calls, output = run_factory(tmp_path, buildspec_commands, MINIMAL)
    assert code == 0, output
    (deploy,) = _deploys(calls)
    assert "--stack-name demo-service-pipeline" in deploy
    assert "--role-arn arn:aws:iam::111111111111:role/manifestc/manifestc-factory/manifestc-factory-deploy" in deploy
    assert "--tags manifestc:repository=demo-service managed-by=manifestc" in deploy
    assert "--capabilities CAPABILITY_NAMED_IAM" in deploy
    # the new pipeline's Recompile build finds the same toolchain in its artifact bucket
    assert any(c.startswith("aws s3 sync") and "s3://demo-bucket/_manifestc/toolchain/0.1.0/" in c for c in calls), (
        calls
    )
    assert any("post-comment-for-compared-commit" in c and "deployed demo-service-pipeline" in c for c in calls)


def test_an_invalid_manifest_is_reported_and_nothing_deployed(tmp_path, buildspec_commands):
    code, calls, output = run_factory(tmp_path, buildspec_commands, MINIMAL + "bogus_key: 1\n")
    assert code == 1
    assert "MC101" in output  # the located diagnostic is in the build log
    assert _deploys(calls) == []
    assert any("sns publish" in c and "invalid manifest" in c for c in calls)
    assert any("post-comment-for-compared-commit" in c and "invalid manifest" in c for c in calls)


def test_a_superseded_commit_is_skipped(tmp_path, buildspec_commands):
    code, calls, output = run_factory(tmp_path, buildspec_commands, MINIMAL, TIP="beef")
    assert code == 0 and "moved on to beef" in output
    assert [c for c in calls if c.startswith("aws")] == []


def test_another_repositorys_stack_is_never_touched(tmp_path, buildspec_commands):
    code, calls, output = run_factory(
        tmp_path, buildspec_commands, MINIMAL, STACK_STATUS="UPDATE_COMPLETE", STACK_OWNER="someone-else"
    )
    assert code == 1
    assert _deploys(calls) == []
    assert any("sns publish" in c and "is not this repository's" in c for c in calls)


def _deleted(tmp_path: Path) -> dict[str, str]:
    old = tmp_path / "old.yaml"
    old.write_text(MINIMAL)
    return {"GONE": "0ld", "OLD_MANIFEST": str(old), "STACK_STATUS": "UPDATE_COMPLETE"}


def test_a_deleted_manifest_keeps_its_pipeline_without_the_retire_flag(tmp_path, buildspec_commands):
    code, calls, output = run_factory(tmp_path, buildspec_commands, None, **_deleted(tmp_path))
    assert code == 0, output
    assert not any("delete-stack" in c for c in calls)
    assert any("sns publish" in c and "is kept" in c for c in calls)


def test_a_deleted_manifest_retires_its_pipeline_with_the_flag(tmp_path, buildspec_commands):
    code, calls, output = run_factory(tmp_path, buildspec_commands, None, RETIRE="true", **_deleted(tmp_path))
    assert code == 0, output
    (delete,) = [c for c in calls if "delete-stack" in c]
    assert "--stack-name demo-service-pipeline" in delete and "--role-arn" in delete


def test_retire_never_deletes_another_repositorys_stack(tmp_path, buildspec_commands):
    env = {**_deleted(tmp_path), "STACK_OWNER": "someone-else"}
    code, calls, _ = run_factory(tmp_path, buildspec_commands, None, RETIRE="true", **env)
    assert code == 0
    assert not any("delete-stack" in c for c in calls)


@pytest.mark.parametrize("changes_approvers", [True, False])
def test_an_update_that_changes_who_approves_is_refused(tmp_path, buildspec_commands, changes_approvers):
    from manifestc import api

    manifest = tmp_path / "m.yaml"
    manifest.write_text(MINIMAL)
    result = api.compile_manifest(manifest, lint=False)
    deployed = json.loads(json.dumps(result.templates["pipeline.yaml"]))
    for variable in deployed["Resources"]["UpdateProject"]["Properties"]["Environment"]["EnvironmentVariables"]:
        if variable["Name"] == "MANIFESTC_DEPLOYED_APPROVALS" and changes_approvers:
            variable["Value"] = "staging=arn:aws:iam::111111111111:user/alice"
    body = tmp_path / "deployed.json"
    body.write_text(json.dumps(deployed))
    code, calls, output = run_factory(
        tmp_path, buildspec_commands, MINIMAL, STACK_STATUS="UPDATE_COMPLETE", DEPLOYED=str(body)
    )
    if changes_approvers:
        assert code == 1, output
        assert _deploys(calls) == []
        assert any("sns publish" in c and "MANIFESTC_DEPLOYED_APPROVALS" in c for c in calls)
    else:  # the same approvers, accounts and regions: the factory keeps the pipeline current
        assert code == 0, output
        assert len(_deploys(calls)) == 1


def test_a_first_create_that_rolled_back_is_replaced(tmp_path, buildspec_commands):
    code, calls, output = run_factory(tmp_path, buildspec_commands, MINIMAL, STACK_STATUS="ROLLBACK_COMPLETE")
    assert code == 0, output
    cloudformation = [c for c in calls if c.startswith("aws cloudformation") and "describe" not in c]
    assert "delete-stack --stack-name demo-service-pipeline" in cloudformation[0]
    assert "wait stack-delete-complete" in cloudformation[1]
    assert cloudformation[2].startswith("aws cloudformation deploy")
    assert not any("get-template" in c for c in calls)  # nothing deployed to compare with


PRIVATE = (ROOT / "manifests" / "private-worker.yaml").read_text()


@pytest.mark.parametrize("network_exists", [False, True])
def test_the_shared_network_stack_is_never_created_nor_changed(tmp_path, buildspec_commands, network_exists):
    status = "UPDATE_COMPLETE" if network_exists else "NONE"
    code, calls, output = run_factory(tmp_path, buildspec_commands, PRIVATE, NETWORK_STATUS=status)
    deploys = _deploys(calls)
    if network_exists:
        assert code == 0, output
        assert [d.split("--stack-name ")[1].split()[0] for d in deploys] == ["ledger-worker-pipeline"]
    else:  # a person deploys the VPC's shared endpoint stack first
        assert code == 1, output
        assert deploys == []
        assert any("sns publish" in c and "manifestc-network-vpc-0a1b2c3d4e5f60718 is not deployed" in c for c in calls)
