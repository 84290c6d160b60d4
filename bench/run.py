"""Benchmark manifestc (SPEC §8) side by side with its AWS CDK peer: medians, never timed tests.

Measures, each as a fresh process (what a user or CI pays), wall and CPU seconds:
  1. `manifestc build` of one manifest with full lint: fresh (empty out/ and empty lint cache),
     and with its template linted before (warm lint cache, empty out/); `--no-lint`
  2. `manifestc validate` of one manifest
  3. the CDK peer (bench/cdk/app.js: the same pipeline with aws-cdk-lib) synthesised by node,
     when node and aws-cdk-lib are installed (`npm install --prefix bench/cdk`); else skipped;
     and `cdk synth` of it through the AWS CDK command line (what a CDK user runs; package.json
     installs the `aws-cdk` CLI too), when that is installed
  4. a directory of N generated manifests, cold (empty out/ and lint cache), then one changed
  5. peak memory (max RSS) of any one process, per measurement
Run: python bench/run.py [--manifests N] [--repeat R]. Machines are noisy, shared ones more so:
quote medians and ratios, not single runs.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "manifests" / "python-service.yaml"
MANIFESTC = [sys.executable, "-c", "from manifestc.cli import run; run()"]  # what the manifestc script runs
CDK_APP = ROOT / "bench" / "cdk" / "app.js"
CDK_CLI = ROOT / "bench" / "cdk" / "node_modules" / ".bin" / "cdk"

# Runs one command and reports its wall time, CPU time (with its children) and the peak RSS of
# its largest process: a wrapper process per measurement keeps the figures apart.
_PROBE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": done.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_mib": usage.ru_maxrss / 1024, "err": done.stderr.decode(errors="replace")[-2000:]}))
"""


def measure(command: list[str], cwd: Path, env: dict | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *command], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result['rc']}):\n{result['err']}")
    return result


def medians(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in ("wall", "cpu", "rss_mib")}


def generate(folder: Path, count: int) -> None:
    text = EXAMPLE.read_text()
    for index in range(count):
        name = f"svc-{index:04d}"
        # each its own pipeline name and deployed stack (two pipelines must not deploy one stack: MC641)
        own = text.replace("name: orders-service", f"name: {name}").replace(
            "orders-{environment}", f"{name}-{{environment}}"
        )
        (folder / f"{name}.yaml").write_text(own)


def cdk_available() -> str | None:
    """None when the CDK peer can run, else why not."""
    if shutil.which("node") is None:
        return "node is not installed"
    probe = subprocess.run(
        ["node", "-e", "require.resolve('aws-cdk-lib')"], cwd=CDK_APP.parent, capture_output=True, text=True
    )
    if probe.returncode != 0:
        return "aws-cdk-lib is not installed (npm install --prefix bench/cdk)"
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifests", type=int, default=1000, help="generated manifests (0: skip)")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    # What a wheel install does (pip compiles every module): an editable install has no bytecode,
    # and with PYTHONDONTWRITEBYTECODE set (as on the shared machines) every run would recompile
    # the compiler's modules from source.
    compileall.compile_dir(str(ROOT / "compiler" / "manifestc"), quiet=1)
    work = Path(tempfile.mkdtemp(prefix="manifestc-bench-"))
    rows: list[tuple[str, dict]] = []
    notes: list[str] = []
    example = str(EXAMPLE)

    def lint_cache(name: str) -> list[str]:
        return ["--lint-cache", str(work / name)]

    try:
        fresh = [
            measure(MANIFESTC + ["build", example, "--out", str(work / f"f{i}")] + lint_cache(f"lc-f{i}"), work)
            for i in range(options.repeat)
        ]
        rows.append(("build 1 manifest, full lint, fresh (empty out/ and lint cache)", medians(fresh)))
        warm = [
            measure(MANIFESTC + ["build", example, "--out", str(work / f"w{i}")] + lint_cache("lc-f0"), work)
            for i in range(options.repeat)
        ]
        rows.append(("build 1 manifest, full lint, linted before (empty out/)", medians(warm)))
        no_lint = [
            measure(MANIFESTC + ["build", example, "--no-lint", "--out", str(work / f"n{i}")], work)
            for i in range(options.repeat)
        ]
        rows.append(("build 1 manifest --no-lint", medians(no_lint)))
        check = [measure(MANIFESTC + ["validate", example], work) for _ in range(options.repeat)]
        rows.append(("validate 1 manifest", medians(check)))
        missing = cdk_available()
        cdk = None
        if missing is None:
            cdk = medians(
                [measure(["node", str(CDK_APP), str(work / f"cdk{i}")], CDK_APP.parent) for i in range(options.repeat)]
            )
            rows.append(("CDK peer: node bench/cdk/app.js (synth, no lint)", cdk))
            if CDK_CLI.exists():
                synth = [
                    CDK_CLI, "synth", "--app", f"node {CDK_APP}", "--output", str(work / "cdk-synth"),
                    "--quiet", "--no-notices", "--no-version-reporting",
                ]  # fmt: skip
                cdk_synth = medians(
                    [measure([str(part) for part in synth], CDK_APP.parent) for _ in range(options.repeat)]
                )
                rows.append(("CDK peer: cdk synth (the CDK CLI running the app)", cdk_synth))
            else:
                notes.append("cdk synth skipped: the aws-cdk CLI is not installed (npm install --prefix bench/cdk)")
        else:
            notes.append(f"CDK peer skipped: {missing}")
        if options.manifests:
            folder = work / "many"
            folder.mkdir()
            generate(folder, options.manifests)
            many = ["build", str(folder), "--out", str(work / "many-out")] + lint_cache("lc-many")
            rows.append((f"build {options.manifests} manifests, cold, full lint", measure(MANIFESTC + many, work)))
            first = folder / "svc-0000.yaml"
            first.write_text(first.read_text().replace("timeout: 30", "timeout: 31"))
            rows.append((f"build {options.manifests} manifests, one changed", measure(MANIFESTC + many, work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(label) for label, _ in rows)
    print(f"{'':<{width}}  {'wall s':>8}  {'CPU s':>8}  {'peak RSS MiB':>12}")
    for label, figures in rows:
        print(f"{label:<{width}}  {figures['wall']:8.2f}  {figures['cpu']:8.2f}  {figures['rss_mib']:12.0f}")
    peers = [(label, figures) for label, figures in rows if label.startswith("CDK peer")]
    for peer_label, peer in peers:
        for label, figures in rows[:4]:
            print(
                f"{peer_label.split(': ', 1)[1].split(' (')[0]} / {label}: "
                f"{peer['wall'] / figures['wall']:.1f}x wall, {peer['cpu'] / figures['cpu']:.1f}x CPU"
            )
    for note in notes:
        print(note)
    print(f"machine: {os.cpu_count()} CPUs, {_cpu_model()}, load average {os.getloadavg()[0]:.1f} at the end")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
