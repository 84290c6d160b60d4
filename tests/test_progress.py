"""Directory builds show progress (a bar on a terminal, plain lines otherwise) and a summary; one
failing manifest never stops the others."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from conftest import MINIMAL, with_changes
from manifestc import api, cli


def _folder(tmp_path, count: int = 3, bad: bool = True):
    folder = tmp_path / "manifests"
    folder.mkdir()
    for index in range(count):
        (folder / f"m{index}.yaml").write_text(with_changes(MINIMAL, name=f"svc-{index}"))
    if bad:
        (folder / "m1-bad.yaml").write_text(with_changes(MINIMAL, name="bad", language="cobol"))
    return folder


def _build(folder, out, *extra):
    return CliRunner().invoke(cli.cli, ["build", str(folder), "--out", str(out), "--no-lint", *extra])


def test_plain_lines_and_summary_when_not_a_terminal(tmp_path):
    folder = _folder(tmp_path)
    result = _build(folder, tmp_path / "out")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("[")]
    assert [re.sub(r"\].*", "]", line) for line in lines] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert any(line.endswith("m1-bad.yaml: failed") for line in lines)
    assert sum(line.endswith(": compiled") for line in lines) == 3
    assert result.output.rstrip().endswith("3 built, 0 unchanged, 1 failed, 0 warnings")
    # the failing manifest did not stop the others
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "svc-0",
        "svc-1",
        "svc-2",
    ]
    again = _build(folder, tmp_path / "out")
    assert sum(": unchanged" in line for line in again.output.splitlines()) == 3
    assert again.output.rstrip().endswith("0 built, 3 unchanged, 1 failed, 0 warnings")


def test_bar_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_stderr_is_terminal", lambda: True)
    shown = []
    real = cli.click.progressbar

    def recording(*args, **kwargs):
        bar = real(*args, **kwargs)
        shown.append(bar)
        return bar

    monkeypatch.setattr(cli.click, "progressbar", recording)
    result = _build(_folder(tmp_path), tmp_path / "out")
    assert result.exit_code == 1
    (bar,) = shown
    assert bar.length == 4 and bar.pos == 4 and bar.finished
    assert not [line for line in result.output.splitlines() if line.startswith("[")]
    assert "3 built, 0 unchanged, 1 failed, 0 warnings" in result.output


def test_single_manifest_has_no_progress_or_summary(tmp_path):
    folder = _folder(tmp_path, count=1, bad=False)
    result = _build(folder / "m0.yaml", tmp_path / "out")
    assert result.exit_code == 0
    assert "built," not in result.output and "[1/1]" not in result.output


def test_json_diagnostics_have_no_progress(tmp_path):
    result = _build(_folder(tmp_path), tmp_path / "out", "--diagnostics", "json")
    assert "[1/4]" not in result.output and "built," not in result.output


def test_internal_error_in_one_manifest_does_not_stop_the_others(tmp_path, monkeypatch):
    folder = _folder(tmp_path, count=4, bad=False)
    real = api.compile_manifest

    def crashing(path, **kwargs):
        if str(path).endswith("m2.yaml"):
            raise RuntimeError("boom")
        return real(path, **kwargs)

    monkeypatch.setattr(api, "compile_manifest", crashing)
    monkeypatch.setattr(api, "PARALLEL_THRESHOLD", 100)  # in process, so the patch applies
    seen = []
    report = api.build([str(folder)], tmp_path / "out", lint=False, progress=seen.append)
    assert len(seen) == 4
    (crashed,) = [r for r in report.results if r.failed()]
    assert crashed.file.endswith("m2.yaml") and crashed.diagnostics[0].code == "MC301"
    assert "boom" in crashed.diagnostics[0].message
    assert sum(bool(r.written) for r in report.results) == 3


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_called_once_per_manifest(tmp_path, monkeypatch, workers):
    monkeypatch.setattr(api.os, "cpu_count", lambda: workers)
    folder = _folder(tmp_path, count=5, bad=True)
    seen = []
    api.build([str(folder)], tmp_path / "out", lint=False, progress=seen.append)
    assert sorted(r.file for r in seen) == sorted(
        r.file for r in api.build([str(folder)], tmp_path / "o2", lint=False).results
    )
