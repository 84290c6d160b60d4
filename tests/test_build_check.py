"""`manifestc build --check`: exit 0 when the committed out/ is what a clean build writes, 1 (listing
each stale, missing or foreign file) when not; it never writes to out/."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import MINIMAL
from manifestc.cli import cli


def _tree(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_build_check_passes_then_reports_stale_missing_and_foreign_files(write_manifest, tmp_path):
    path = write_manifest()
    out = tmp_path / "out"
    run = CliRunner().invoke
    assert run(cli, ["build", "--no-lint", "--out", str(out), str(path)]).exit_code == 0
    fresh = run(cli, ["build", "--check", "--no-lint", "--out", str(out), str(path)])
    assert fresh.exit_code == 0, fresh.output
    assert "is up to date" in fresh.output

    path.write_text(MINIMAL.replace("team: platform", "team: payments"))
    before = _tree(out)
    stale = run(cli, ["build", "--check", "--no-lint", "--out", str(out), str(path)])
    assert stale.exit_code == 1
    assert f"{out}/demo-service/pipeline.yaml: stale" in stale.output
    assert f"{out}/demo-service/build.json: stale" in stale.output
    assert _tree(out) == before  # --check writes nothing

    assert run(cli, ["build", "--no-lint", "--out", str(out), str(path)]).exit_code == 0
    (out / "demo-service" / "pipeline.yaml").unlink()
    (out / "demo-service" / "notes.txt").write_text("hand-written")
    broken = run(cli, ["build", "--check", "--no-lint", "--out", str(out), str(path)])
    assert broken.exit_code == 1
    assert f"{out}/demo-service/pipeline.yaml: missing" in broken.output
    assert f"{out}/demo-service/notes.txt: not written by this build" in broken.output


def test_build_check_with_manifest_errors_exits_1_with_diagnostics(write_manifest, tmp_path):
    path = write_manifest()
    path.write_text(MINIMAL + "bogus: 1\n")
    result = CliRunner().invoke(cli, ["build", "--check", "--no-lint", "--out", str(tmp_path / "out"), str(path)])
    assert result.exit_code == 1 and "error[MC101]" in result.output
    assert not (tmp_path / "out").exists()
