"""Identical lint findings with and without every speed-up, on the whole corpus.

The suite's tests/test_speed.py::test_findings_identical_with_and_without_every_speed_up checks a
sample (every deliberately broken template and every eighth golden/example template) to stay within
CI's time; this runs the same test on all of them: every golden template, every example's templates
and tests/lint_corpus/.

    python bench/lint_identity.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    env = {**os.environ, "MANIFESTC_FULL_CORPUS": "1"}
    test = "tests/test_speed.py::test_findings_identical_with_and_without_every_speed_up"
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
