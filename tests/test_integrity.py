"""The incremental build never serves stale output: after an interrupted build (a real process
killed with SIGKILL), a rename, or an edit put back, out/ is byte for byte what a clean build of
the same manifests writes. Also: output files respect the umask; killed builds' temp files go."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from manifestc.api import CACHE_FILE, build

# A pipeline, a Service Catalog product (per-manifest and _shared files) and a private build
# (out/_shared/network-*.yaml): every kind of file a build writes.
EXAMPLES = ("python-service.yaml", "catalog-product.yaml", "private-worker.yaml")


def version_a(name: str) -> str:
    return (ROOT / "manifests" / name).read_text()


def version_b(name: str) -> str:
    """Another version of the manifest: every template changes, and the product loses its
    catalog (so a file set shrinks) and the private build its VPC (so a shared stack goes)."""
    text = version_a(name).replace("team: ", "team: other-", 1)
    if name == "catalog-product.yaml":
        text = text[: text.index("\ncatalog:")] + "\n"
    if name == "private-worker.yaml":
        text = text[: text.index("\nnetwork:")] + "\n"
    return text


def write_version(folder: Path, version) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in EXAMPLES:
        (folder / name).write_text(version(name))


def tree(out: Path) -> dict[str, bytes]:
    """Every file under out/ (hidden ones included: the cache, stray temp files)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def assert_same_tree(actual: Path, expected: Path) -> None:
    got, want = tree(actual), tree(expected)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"{name} differs from a clean build"


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """A clean build of each version, built from a layout like the tests' (manifests/ beside the
    output folder), so even the cache file's relative paths agree."""
    root = tmp_path_factory.mktemp("clean")
    for label, version in (("b", version_b), ("a", version_a)):
        write_version(root / label / "manifests", version)
        report = build([str(root / label / "manifests")], root / label / "out", lint=False)
        assert not report.failed(), report.all_diagnostics()
    return root


@pytest.fixture
def workspace(tmp_path, clean):
    """manifests/ and out/ of the test; clean-a / clean-b link to the clean builds."""
    for label in "ab":
        (tmp_path / f"clean-{label}").symlink_to(clean / label / "out")
    return tmp_path


def rebuild(workspace: Path, version) -> None:
    write_version(workspace / "manifests", version)
    report = build([str(workspace / "manifests")], workspace / "out", lint=False)
    assert not report.failed(), report.all_diagnostics()


def test_other_versions_outputs_under_an_unchanged_manifest_are_rebuilt(workspace):
    """The reported bug: an interrupted build of version B left B's templates *and* B's build.json
    in out/<name>/ while the cache still described version A; a build of A called them current."""
    rebuild(workspace, version_a)
    for name in ("orders-service", "python-service-pipeline"):
        shutil.rmtree(workspace / "out" / name)
        shutil.copytree(workspace / "clean-b" / name, workspace / "out" / name)
    rebuild(workspace, version_a)
    assert_same_tree(workspace / "out", workspace / "clean-a")


def test_half_written_directory_is_rebuilt(workspace):
    rebuild(workspace, version_a)
    target = workspace / "out" / "python-service-pipeline"
    # killed after writing B's pipeline.yaml, before build.json and the other files
    (target / "pipeline.yaml").write_bytes((workspace / "clean-b" / target.name / "pipeline.yaml").read_bytes())
    (target / "build.json").unlink()
    rebuild(workspace, version_a)
    assert_same_tree(workspace / "out", workspace / "clean-a")


def test_rename_edit_and_rename_back(workspace):
    rebuild(workspace, version_a)
    manifests = workspace / "manifests"
    (manifests / "python-service.yaml").rename(manifests / "renamed.yaml")
    (manifests / "renamed.yaml").write_text(version_b("python-service.yaml"))
    report = build([str(manifests)], workspace / "out", lint=False)
    assert not report.failed()
    (manifests / "renamed.yaml").rename(manifests / "python-service.yaml")
    (manifests / "python-service.yaml").write_text(version_a("python-service.yaml"))
    rebuild(workspace, version_a)
    assert_same_tree(workspace / "out", workspace / "clean-a")


def test_a_new_version_that_writes_fewer_files_leaves_none_behind(workspace):
    rebuild(workspace, version_a)
    rebuild(workspace, version_b)
    assert_same_tree(workspace / "out", workspace / "clean-b")
    rebuild(workspace, version_a)
    assert_same_tree(workspace / "out", workspace / "clean-a")


def test_unchanged_rebuild_is_skipped_and_identical(workspace):
    rebuild(workspace, version_a)
    report = build([str(workspace / "manifests")], workspace / "out", lint=False)
    assert all(r.skipped for r in report.results)
    assert_same_tree(workspace / "out", workspace / "clean-a")


def test_cache_entry_from_another_path_spelling_is_the_same_manifest(workspace, monkeypatch):
    rebuild(workspace, version_a)
    monkeypatch.chdir(workspace / "manifests")
    report = build(["."], workspace / "out", lint=False)
    assert all(r.skipped for r in report.results)


def test_files_respect_the_umask(tmp_path):
    manifest = tmp_path / "manifests" / "catalog-product.yaml"
    manifest.parent.mkdir()
    manifest.write_text(version_a("catalog-product.yaml"))
    for mask, mode in ((0o022, 0o644), (0o027, 0o640)):
        old = os.umask(mask)
        try:
            build([str(manifest)], tmp_path / f"out{mask:o}", lint=False)
        finally:
            os.umask(old)
        files = [p for p in (tmp_path / f"out{mask:o}").rglob("*") if p.is_file()]
        assert len(files) > 4 and {p.stat().st_mode & 0o777 for p in files} == {mode}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_temp_files_of_killed_builds_are_removed(workspace):
    rebuild(workspace, version_a)
    out = workspace / "out"
    dead, alive = _dead_pid(), os.getppid()
    orphans = [out / f".pipeline.yaml.{dead}.k3j4l5m6.tmp", out / "_shared" / f".catalog.yaml.{dead}.abcd1234.tmp"]
    live = out / "orders-service" / f".pipeline.yaml.{alive}.zzzz9999.tmp"  # a build running now
    for path in [*orphans, live]:
        path.write_text("partial")
    rebuild(workspace, version_a)
    assert not any(p.exists() for p in orphans)
    assert live.exists()
    live.unlink()
    assert_same_tree(out, workspace / "clean-a")


def _build_process(workspace: Path) -> subprocess.Popen:
    code = "from manifestc.cli import main; main()"
    command = [sys.executable, "-c", code, "build", "--no-lint", "--out", "out", "manifests"]
    return subprocess.Popen(command, cwd=workspace, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_builds_killed_at_random_points_then_rebuilt_match_a_clean_build(workspace):
    """Real builds, SIGKILLed at random moments (seeded), alternating versions; every rebuild
    must equal the clean build of the version it builds, byte for byte, with no temp file left."""
    rebuild(workspace, version_a)
    started = time.monotonic()
    rebuild(workspace, version_b)  # a full (not cached) build: how long the kill window is
    duration = time.monotonic() - started
    rng = random.Random(13)
    versions = {"a": version_a, "b": version_b}
    current = "b"
    for _ in range(3):
        interrupted = "a" if current == "b" else "b"
        write_version(workspace / "manifests", versions[interrupted])
        process = _build_process(workspace)
        time.sleep(rng.uniform(0.05, 1.0) * duration)
        process.send_signal(signal.SIGKILL)
        process.wait()
        current = rng.choice("ab")
        rebuild(workspace, versions[current])
        assert_same_tree(workspace / "out", workspace / f"clean-{current}")
    assert CACHE_FILE in tree(workspace / "out")
