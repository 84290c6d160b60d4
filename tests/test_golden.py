"""Golden tests: tests/golden/<case>/manifest.yaml beside its expected output.

A case with an `expected/` folder must build and produce exactly those files (byte for byte);
a case with `diagnostics.txt` must fail with exactly that text and write nothing.
Run `pytest --update-golden` to rewrite them, then review the diff before committing.
Every golden template is also linted here, so a golden can never enshrine a broken template.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from manifestc.api import build
from manifestc.formatters import format_text
from manifestc.lint import lint_template

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.parent.name for p in GOLDEN.glob("*/manifest.yaml"))


def _build(case: str, out: Path):
    cwd = os.getcwd()
    os.chdir(GOLDEN / case)  # diagnostics then name the file as `manifest.yaml`
    try:
        # the case folder stands for the source repository (regenerate.path: manifest.yaml)
        return build(["manifest.yaml"], out, lint=False, repo_root=GOLDEN / case)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("case", CASES)
def test_golden(case, tmp_path, update_golden):
    folder = GOLDEN / case
    report = _build(case, tmp_path)
    produced = {
        p.relative_to(tmp_path).as_posix(): p.read_bytes()
        for p in tmp_path.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    diagnostics = format_text(report.all_diagnostics())
    if update_golden:
        _update(folder, report.failed(), produced, diagnostics)
    if (folder / "diagnostics.txt").exists():
        assert report.failed()
        assert diagnostics == (folder / "diagnostics.txt").read_text()
        assert produced == {}, "a failed build must write nothing"
    else:
        assert not report.failed(), diagnostics
        expected = {
            p.relative_to(folder / "expected").as_posix(): p.read_bytes()
            for p in (folder / "expected").rglob("*")
            if p.is_file()
        }
        assert produced == expected


def _update(folder: Path, failed: bool, produced: dict[str, bytes], diagnostics: str) -> None:
    import shutil

    shutil.rmtree(folder / "expected", ignore_errors=True)
    (folder / "diagnostics.txt").unlink(missing_ok=True)
    if failed:
        (folder / "diagnostics.txt").write_text(diagnostics)
        return
    for name, content in produced.items():
        target = folder / "expected" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


TEMPLATES = sorted(p for p in GOLDEN.glob("*/expected/**/*.yaml"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.relative_to(GOLDEN).as_posix())
def test_golden_templates_are_lint_clean(template):
    assert lint_template(template.read_text(), str(template)) == []
