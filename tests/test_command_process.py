"""The process of the `manifestc` command: it ends without the interpreter's teardown (cli.run),
with the same status, output and exit handlers as `sys.exit` after `main()` and an ordinary exit
while a thread runs; a one-manifest build runs with the cyclic garbage collector off, a directory
build and a program calling the commands keep it on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "manifests" / "python-service.yaml"


def _command(entry: str, *args: str, prelude: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    code = f"{prelude}\nfrom manifestc.cli import {entry}\n{entry}()"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as a pipe is by default
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=120
    )


@pytest.mark.parametrize(
    "args",
    [
        ["validate", str(MANIFEST)],  # exit 0 with output
        ["validate", "/no/such/manifest.yaml"],  # usage error: exit 2
        ["explain", "MC101"],
        ["explain", "NOPE1"],
        ["--version"],
    ],
)
def test_run_exits_with_the_status_and_output_of_main(args):
    by_main = _command("main", *args)
    by_run = _command("run", *args)
    assert (by_run.returncode, by_run.stdout, by_run.stderr) == (by_main.returncode, by_main.stdout, by_main.stderr)


def test_run_exits_1_on_a_bad_manifest_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MANIFEST.read_text().replace("name: orders-service", "name: Orders_Service"))
    done = _command("run", "build", str(bad), "--out", str(tmp_path / "out"), "--no-lint")
    assert done.returncode == 1
    assert "bad.yaml:" in done.stdout + done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.yaml"))


def test_run_builds_what_main_builds(tmp_path):
    for entry in ("main", "run"):
        done = _command(
            "run" if entry == "run" else "main", "build", str(MANIFEST), "--out", str(tmp_path / entry), "--no-lint"
        )
        assert done.returncode == 0, done.stderr
    ours = sorted(p.relative_to(tmp_path / "run") for p in (tmp_path / "run").rglob("*") if p.is_file())
    theirs = sorted(p.relative_to(tmp_path / "main") for p in (tmp_path / "main").rglob("*") if p.is_file())
    assert ours == theirs and ours
    for rel in ours:
        if rel.name != ".manifestc-cache.json":
            assert (tmp_path / "run" / rel).read_bytes() == (tmp_path / "main" / rel).read_bytes()


def test_run_flushes_all_of_a_long_output():
    done = _command("run", "schema")
    assert done.returncode == 0
    assert json.loads(done.stdout)["type"] == "object"  # every byte of ~100 KB arrived
    assert len(done.stdout) > 65536  # more than a pipe holds: written while the reader reads


def test_run_flushes_what_was_written_without_a_flush():
    # click.echo flushes what it writes; run() flushes what anything else left in the buffers
    prelude = "import atexit, sys\natexit.register(lambda: sys.stdout.write('from an exit handler'))"
    done = _command("run", "--version", prelude=prelude)
    assert done.returncode == 0
    assert done.stdout.endswith("from an exit handler")


def test_run_runs_exit_handlers(tmp_path):
    marker = tmp_path / "atexit.txt"
    prelude = f"import atexit\natexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))"
    done = _command("run", "--version", prelude=prelude)
    assert done.returncode == 0
    assert marker.read_text() == "ran"


def test_run_waits_for_a_thread_still_running(tmp_path):
    marker = tmp_path / "thread.txt"
    prelude = (
        "import threading, time\n"
        f"def late():\n    time.sleep(0.5)\n    open({str(marker)!r}, 'w').write('done')\n"
        "threading.Thread(target=late).start()"
    )
    done = _command("run", "--version", prelude=prelude)
    assert done.returncode == 0
    assert marker.read_text() == "done"


def test_run_exit_status_of_sys_exit_with_text():
    done = _command(
        "run", "--version", prelude="import manifestc.cli as c\nc.main = lambda: __import__('sys').exit('no way')"
    )
    assert (done.returncode, done.stderr.strip()) == (1, "no way")


def test_console_script_and_module_use_run():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "manifestc"]
    assert script.value == "manifestc.cli:run"
    assert "run()" in (ROOT / "compiler" / "manifestc" / "__main__.py").read_text()


# Reports, on standard error, whether the collector is on while each manifest is compiled (in the
# build's own process or in a directory build's workers, forked after this patch).
_COLLECTOR_PRELUDE = """
import gc, sys
import manifestc.api as api
_compile = api.compile_manifest
def compile_manifest(*args, **kwargs):
    print("collector", "on" if gc.isenabled() else "off", file=sys.stderr, flush=True)
    return _compile(*args, **kwargs)
api.compile_manifest = compile_manifest
"""


def test_one_manifest_builds_with_the_collector_off(tmp_path):
    done = _command("run", "build", str(MANIFEST), "--out", str(tmp_path / "out"), prelude=_COLLECTOR_PRELUDE)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("collector")] == ["collector off"]


def test_a_directory_build_keeps_the_collector_on(tmp_path):
    folder = tmp_path / "manifests"
    folder.mkdir()
    for name in ("one", "two", "three"):
        text = MANIFEST.read_text().replace("name: orders-service", f"name: svc-{name}")
        (folder / f"{name}.yaml").write_text(text.replace("orders-{environment}", f"svc-{name}-{{environment}}"))
    done = _command(
        "run", "build", str(folder), "--out", str(tmp_path / "out"), "--no-lint", prelude=_COLLECTOR_PRELUDE
    )
    assert done.returncode == 0, done.stderr
    states = [line for line in done.stderr.splitlines() if line.startswith("collector")]
    assert states == ["collector on"] * 3


def test_commands_called_by_a_program_leave_the_collector_on(tmp_path):
    import gc

    from click.testing import CliRunner
    from manifestc.cli import cli

    assert gc.isenabled()
    result = CliRunner().invoke(cli, ["build", str(MANIFEST), "--out", str(tmp_path / "out"), "--no-lint"])
    assert result.exit_code == 0, result.output
    assert gc.isenabled()


def test_a_program_calling_main_keeps_the_collector_on(tmp_path):
    # main() exits as usual: a program that catches its SystemExit goes on, collector on
    code = (
        "import gc, sys\n"
        "from manifestc.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('collector', gc.isenabled())"
    )
    args = ["build", str(MANIFEST), "--out", str(tmp_path / "out"), "--no-lint"]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "collector True"


@pytest.mark.parametrize(
    "ending",
    [
        "sys.stdout.close()",  # as the language server's stdio transport leaves it
        "sys.stderr.close()",
        "sys.stdout.close(); sys.exit(3)",
        "sys.exit(2 ** 31)",  # beyond a C int: Python's own conversion
        "sys.exit(-(2 ** 31) - 1)",
        "sys.exit(2 ** 63)",
        "sys.exit(-1)",
        "sys.exit(type('I', (int,), {'__int__': lambda self: 9})(4))",  # an int subclass: its value, 4
        "print('pending', end=''); sys.stdout = __import__('io').StringIO()",  # a replaced stdout
        "sys.stderr = None; sys.exit('text')",
        "sys.exit(True)",
        "sys.exit(None)",
        "sys.exit([1, 2])",
    ],
)
def test_run_ends_as_main_does(ending):
    prelude = f"import sys\nimport manifestc.cli as c\ndef ends():\n    {ending}\nc.main = ends"
    by_main = _command("main", prelude=prelude)
    by_run = _command("run", prelude=prelude)
    assert (by_run.returncode, by_run.stdout, by_run.stderr) == (by_main.returncode, by_main.stdout, by_main.stderr)


@pytest.mark.parametrize("code", ["None", "3", "'text'"])
@pytest.mark.parametrize("fd", [1, 2])
def test_run_ends_as_main_does_when_the_final_flush_fails(code, fd):
    # what was written (not through click, which flushes) meets a full device at the final flush:
    # Python's exit reports a failed flush of standard output (silently one of standard error) and
    # exits 120, whatever the code
    stream = "sys.stdout" if fd == 1 else "sys.stderr"
    prelude = (
        "import os, sys\nimport manifestc.cli as c\n"
        f"def ends():\n    {stream}.write('x' * 100)\n    os.close({fd})\n"
        f"    os.open('/dev/full', os.O_WRONLY)\n    sys.exit({code})\n"
        "c.main = ends"
    )
    by_main = _command("main", prelude=prelude)
    by_run = _command("run", prelude=prelude)
    assert by_main.returncode == 120
    assert ("Exception ignored in" in by_main.stderr) == (fd == 1)
    assert (by_run.returncode, by_run.stdout, by_run.stderr) == (by_main.returncode, by_main.stdout, by_main.stderr)


def test_run_skips_the_interpreter_teardown(tmp_path):
    # the point of run(): objects are not freed one by one at exit (a finalizer does not run),
    # while main()'s ordinary exit frees them: an object made by an exit handler (after main()'s
    # gc.freeze(), which keeps what start-up made) in a module only sys.modules holds
    marker = tmp_path / "freed.txt"
    prelude = (
        "import atexit, sys, types\n"
        f"class Kept:\n    def __del__(self, _open=open):\n        _open({str(marker)!r}, 'a').write('freed')\n"
        "def late():\n    module = types.ModuleType('kept')\n    module.kept = Kept()\n    sys.modules['kept'] = module\n"
        "atexit.register(late)"
    )
    assert _command("main", "--version", prelude=prelude).returncode == 0
    assert marker.read_text() == "freed"
    marker.unlink()
    assert _command("run", "--version", prelude=prelude).returncode == 0
    assert not marker.exists()


def test_run_ends_as_main_does_with_an_unraisable_hook():
    # a failed final flush goes to the program's sys.unraisablehook, as Python's exit sends it
    prelude = (
        "import os, sys\nimport manifestc.cli as c\n"
        "sys.unraisablehook = lambda args: os.write(2, b'HOOK ' + type(args.exc_value).__name__.encode())\n"
        "def ends():\n    sys.stdout.write('x' * 100)\n    os.close(1)\n    os.open('/dev/full', os.O_WRONLY)\n"
        "c.main = ends"
    )
    by_main = _command("main", prelude=prelude)
    by_run = _command("run", prelude=prelude)
    assert by_main.returncode == 120 and "HOOK OSError" in by_main.stderr
    assert (by_run.returncode, by_run.stderr) == (by_main.returncode, by_main.stderr)


def test_run_under_python_i_ends_as_main_does():
    # `python -i`: Python shows the SystemExit and goes on to its prompt (here: end of input)
    outcomes = []
    for entry in ("main", "run"):
        code = f"import manifestc.cli as c\nc.main = lambda: __import__('sys').exit(3)\nc.{entry}()"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        done = subprocess.run(
            [sys.executable, "-i", "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
            stdin=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        # (the traceback's frames differ: run() re-raises the SystemExit)
        outcomes.append((done.returncode, done.stdout, done.stderr.splitlines()[-2:]))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][2] == ["SystemExit: 3", ">>> "]
