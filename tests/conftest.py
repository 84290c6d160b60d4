"""Shared test helpers: the --update-golden flag and manifest builders."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    # The suite's lint-result cache: one per run, never the user's (~/.cache/manifestc/lint).
    import os
    import tempfile

    os.environ["MANIFESTC_LINT_CACHE"] = tempfile.mkdtemp(prefix="manifestc-lint-cache-")


def pytest_unconfigure(config):
    import os
    import shutil

    folder = os.environ.pop("MANIFESTC_LINT_CACHE", "")
    if "manifestc-lint-cache-" in folder:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden expected files")


@pytest.fixture
def update_golden(request) -> bool:
    return request.config.getoption("--update-golden")


MINIMAL = """\
manifest: 1
name: demo-service
team: platform
language: python
source:
  repository: demo-service
targets:
  - name: app
    template: deploy/app.yaml
environments:
  - name: staging
"""


@pytest.fixture
def write_manifest(tmp_path):
    """Write manifest text (dedented) to tmp_path/manifest.yaml and return its path."""

    def _write(text: str = MINIMAL, name: str = "manifest.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


def with_changes(base: str = MINIMAL, **changes) -> str:
    """The base manifest with top-level keys replaced (None deletes)."""
    data = yaml.safe_load(base)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


def build_manifests(tmp_path: Path, *texts: str):
    """Build manifest texts together (a directory build, with lint) -> ({out path: YAML}, report)."""
    from manifestc.api import build

    folder = tmp_path / "manifests"
    folder.mkdir()
    for index, text in enumerate(texts):
        (folder / f"m{index}.yaml").write_text(text)
    out = tmp_path / "out"
    report = build([str(folder)], out, lint=True)
    files = {p.relative_to(out).as_posix(): yaml.safe_load(p.read_text()) for p in out.rglob("*.yaml")}
    return files, report


# The slowest files first: with two workers and `--dist loadfile` (pytest.ini) each file runs in
# one worker, so a slow file started last would finish alone at the end.
SLOW_FILES = (
    "test_examples.py",
    "test_speed.py",
    "test_selfupdate.py",
    "test_determinism.py",
    "test_fuzz.py",
    "test_iam.py",
    "test_factory.py",
    "test_deployplan.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        name = item.path.name
        return SLOW_FILES.index(name) if name in SLOW_FILES else len(SLOW_FILES)

    items.sort(key=rank)  # stable: the order within a file is kept
