"""Benchmark manifestc (SPEC §8): medians over repeated runs, never timed tests.

Measures, each as a fresh process (what a user or CI pays):
  1. `manifestc build` of one manifest, with lint
  2. `manifestc validate` of one manifest
  3. a directory of N generated manifests, cold (empty out/), then warm with one manifest changed
  4. peak memory (max RSS) of the directory build
Run: python bench/run.py [--manifests N] [--repeat R]. Prints a table; machines are noisy, so
quote medians and ratios, not single runs.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manifests" / "python-service.yaml"
MANIFESTC = [sys.executable, "-c", "from manifestc.cli import main; main()"]


def timed(args: list[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(MANIFESTC + args, cwd=cwd, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before)


def generate(folder: Path, count: int) -> None:
    text = EXAMPLE.read_text()
    for index in range(count):
        name = f"svc-{index:04d}"
        (folder / f"{name}.yaml").write_text(text.replace("name: orders-service", f"name: {name}"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="manifestc-bench-"))
    rows = []
    try:
        single = [timed(["build", str(EXAMPLE), "--out", str(work / f"o{i}")], work)[0] for i in range(options.repeat)]
        rows.append(("build 1 manifest (with lint)", statistics.median(single)))
        no_lint = [
            timed(["build", str(EXAMPLE), "--no-lint", "--out", str(work / f"n{i}")], work)[0]
            for i in range(options.repeat)
        ]
        rows.append(("build 1 manifest (--no-lint)", statistics.median(no_lint)))
        check = [timed(["validate", str(EXAMPLE)], work)[0] for _ in range(options.repeat)]
        rows.append(("validate 1 manifest", statistics.median(check)))
        folder = work / "many"
        folder.mkdir()
        generate(folder, options.manifests)
        cold, peak = timed(["build", str(folder), "--out", str(work / "many-out")], work)
        rows.append((f"build {options.manifests} manifests, cold (with lint)", cold))
        first = folder / "svc-0000.yaml"
        first.write_text(first.read_text().replace("timeout: 30", "timeout: 31"))
        warm, _ = timed(["build", str(folder), "--out", str(work / "many-out")], work)
        rows.append((f"build {options.manifests} manifests, one changed", warm))
        rows.append(("peak RSS of the directory build (MiB)", peak / 1024))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        unit = "" if "MiB" in label else " s"
        print(f"{label:<{width}}  {value:8.2f}{unit}")


if __name__ == "__main__":
    main()
