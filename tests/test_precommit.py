"""The pre-commit hook manifest: well-formed for pre-commit, and its entry behaves as a hook must
(exit 0 on good manifests, 1 with located diagnostics on bad ones, several files at once)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest
import yaml
from conftest import MINIMAL, ROOT

HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def test_hook_manifest_has_the_fields_pre_commit_requires():
    (hook,) = HOOKS
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["id"] == "manifestc-validate" and hook["language"] == "python"
    files = re.compile(hook["files"])
    assert files.search("manifest.yaml") and files.search("services/orders/manifest.yml")
    assert not files.search("deploy/app.yaml")


def test_hook_manifest_loads_with_pre_commit_itself():
    clientlib = pytest.importorskip("pre_commit.clientlib")
    assert clientlib.load_manifest(ROOT / ".pre-commit-hooks.yaml")[0]["id"] == "manifestc-validate"


def _run_entry(*files):
    (hook,) = HOOKS
    command = shlex.split(hook["entry"])
    assert command[0] == "manifestc"
    code = "from manifestc.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *command[1:], *map(str, files)], capture_output=True, text=True)


def test_entry_passes_good_manifests_and_fails_bad_ones_located(tmp_path):
    good = tmp_path / "a" / "manifest.yaml"
    good.parent.mkdir()
    good.write_text(MINIMAL)
    bad = tmp_path / "b" / "manifest.yaml"
    bad.parent.mkdir()
    bad.write_text(MINIMAL.replace("name: demo-service", "name: other-service\nnmae: x"))
    assert _run_entry(good).returncode == 0
    failed = _run_entry(good, bad)
    assert failed.returncode == 1
    assert re.search(r"b/manifest\.yaml:\d+:\d+: error\[MC101\]", failed.stdout + failed.stderr)
