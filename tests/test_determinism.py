"""Same input, same compiler => the same bytes, whatever the hash seed or the run."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT
from manifestc.api import compile_manifest

EXAMPLE = ROOT / "manifests" / "python-service.yaml"


def test_two_compiles_are_identical():
    first = compile_manifest(EXAMPLE, lint=False)
    second = compile_manifest(EXAMPLE, lint=False)
    assert [a.content for a in first.artifacts] == [a.content for a in second.artifacts]


def test_identical_across_hash_seeds(tmp_path):
    """Every example (all template kinds: pipeline, bootstrap, support, glue, catalog, _shared)."""
    outputs = []
    for seed in ("0", "1", "4242"):
        out = tmp_path / seed
        env = dict(os.environ, PYTHONHASHSEED=seed)
        command = [
            sys.executable,
            "-c",
            "from manifestc.cli import main; main()",
            "build",
            str(ROOT / "manifests"),
            "--out",
            str(out),
            "--no-lint",
        ]
        subprocess.run(command, check=True, env=env, capture_output=True)
        outputs.append(
            {
                p.relative_to(out).as_posix(): p.read_bytes()
                for p in out.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            }
        )
    assert outputs[0] == outputs[1] == outputs[2]
    assert {
        "_shared/catalog.yaml",
        "ledger-service/bootstrap-111111111111.yaml",
        "edge-config/support-us-east-1.yaml",
        "covid-etl/glue.yaml",
    } <= set(outputs[0])
    for name, content in outputs[0].items():
        text = content.decode()
        assert str(tmp_path) not in text and str(ROOT) not in text, name  # no absolute paths
