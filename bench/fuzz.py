"""A larger fuzz run than CI's: the properties of tests/test_fuzz.py with many more (random)
examples, then random and mutated bytes through the real `manifestc` CLI in subprocesses, each
with a timeout (a hang is a failure, like a traceback or an exit code other than 0 and 1).

    python bench/fuzz.py --examples 2000 --processes 300

Prints what it ran and any failing input (saved under --keep, default fuzz-failures/).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_properties(examples: int) -> int:
    env = {**os.environ, "FUZZ_EXAMPLES": str(examples), "FUZZ_RANDOM": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/test_fuzz.py"]
    print(f"properties: {examples} examples each ->", " ".join(command), flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


def random_input(rng: random.Random, seeds: list[bytes]) -> bytes:
    if rng.random() < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randrange(1, 12)):
        position = rng.randrange(len(data) + 1)
        data[position : position + rng.randrange(0, 4)] = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 4)))
    return bytes(data)


def run_processes(count: int, timeout: float, keep: Path, seed: int) -> int:
    rng = random.Random(seed)
    seeds = [p.read_bytes() for p in sorted((ROOT / "manifests").glob("*.yaml"))]
    failures = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        for index in range(count):
            data = random_input(rng, seeds)
            manifest = Path(work) / "manifest.yaml"
            manifest.write_bytes(data)
            cli = [sys.executable, "-c", "from manifestc.cli import main; main()"]
            command = [*cli, "build", "--no-lint", "--out", f"{work}/out", str(manifest)]
            try:
                done = subprocess.run(command, capture_output=True, timeout=timeout, cwd=work)
                problem = None if done.returncode in (0, 1) else f"exit {done.returncode}: {done.stderr[-500:]!r}"
            except subprocess.TimeoutExpired:
                problem = f"no answer within {timeout} s"
            if problem:
                failures += 1
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"input-{seed}-{index}.yaml").write_bytes(data)
                print(f"FAIL input {index}: {problem}", flush=True)
    elapsed = time.monotonic() - started
    print(f"processes: {count} random inputs through the CLI in {elapsed:.0f} s, {failures} failures")
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="hypothesis examples per property")
    parser.add_argument("--processes", type=int, default=100, help="random inputs run as CLI subprocesses")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a CLI run may take")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--keep", type=Path, default=Path("fuzz-failures"))
    options = parser.parse_args()
    status = run_properties(options.examples)
    status |= run_processes(options.processes, options.timeout, options.keep.resolve(), options.seed)
    sys.exit(status)


if __name__ == "__main__":
    main()
