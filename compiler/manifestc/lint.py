"""Lint phase: cfn-lint through its Python API, in process; findings keep their rule ids.

Lint is most of a build's time, so three things make it cheap without changing a finding:

- A **lint-result cache** (`LintCache`): the findings of a template are stored under a sha256 of
  everything that decides them (cache format, cfn-lint version, compiler version, Python minor
  version, regions, the cfn-lint configuration, the template bytes). A template linted before is
  never linted again, and cfn-lint is not even imported. Entries are written atomically; an entry
  that does not parse, whose own checksum does not match, or that names another cfn-lint version
  or key is ignored and the template relinted (and the entry rewritten).
- cfn-lint's **rules are built once per process** (`_rules`) and reused for every template, as
  cfn-lint's own command line does for several templates: `Rules.run` configures and initialises
  every rule per template. Each template still gets a fresh configuration, as `cfnlint.api.lint`
  gives it. This uses cfn-lint internals (`cfnlint.runner.cli.Runner`, `run_template_by_data`,
  `decode_str`), which is why setup.py pins the cfn-lint minor version;
  tests/test_speed.py proves the findings equal `cfnlint.api.lint`'s on a corpus.
- `prepare()` imports cfn-lint and builds its rules in a parent process before it forks workers
  to lint one manifest's several templates, which then inherit them. (A directory build's workers
  build their own, once each: its parent holds every manifest's results and stays without them.)
- `lint_speedups` changes internals of cfn-lint that recompute the same values or load what a
  pipeline template never needs (rule schemas read on first use, one copy of the IAM action
  table, cheaper `evolve`, Validator classes reused, E1101's child rules looked up by keyword,
  regex patterns and `$ref` searches kept, cheaper type tests, string comparisons and resolvers,
  the transform `if` and known `Ref` targets answered directly; its docstring lists them) and, in processes that allow it (`allow_paused_imports`: the command line's), pauses
  the imports of sympy and networkx after the parts cfn-lint's rules use on a template without
  conditions (the rest loads on first need). No finding changes: tests/test_speed.py compares
  with an unpatched cfn-lint in another process, on cfn-lint's own test templates too; the
  README's Performance section has the figures.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import tempfile
import threading
from pathlib import Path

from . import __version__, collector_off
from .diagnostics import Diagnostic, Severity

_SEVERITY = {"error": Severity.ERROR, "warning": Severity.WARNING, "informational": Severity.INFO}

# The cfn-lint configuration every template is linted with (also part of the cache key).
LINT_CONFIG = {"include_checks": ["I"]}
CACHE_FORMAT = 2  # bump when the stored entry or the finding -> Diagnostic conversion changes
CACHE_ENV = "MANIFESTC_LINT_CACHE"


@functools.cache
def cfn_lint_version() -> str:
    """The installed cfn-lint version, read without importing cfn-lint."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cfn-lint")
    except PackageNotFoundError:  # pragma: no cover - cfn-lint is a dependency
        return "unknown"


def default_cache_dir() -> Path:
    """`$MANIFESTC_LINT_CACHE`, else `$XDG_CACHE_HOME/manifestc/lint` (~/.cache/manifestc/lint)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "manifestc" / "lint"


class LintCache:
    """Findings of templates linted before, one JSON file per key under `root/ab/<key>.json`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @staticmethod
    def key(text: str, regions: tuple[str, ...]) -> str:
        """sha256 over everything that decides a template's findings."""
        digest = hashlib.sha256()
        head = {
            "format": CACHE_FORMAT,
            "cfn-lint": cfn_lint_version(),
            "manifestc": __version__,
            "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
            "regions": list(regions),
            "config": LINT_CONFIG,
        }
        digest.update(json.dumps(head, sort_keys=True).encode("utf-8"))
        digest.update(b"\0")
        digest.update(text.encode("utf-8"))
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> list[tuple] | None:
        """The stored findings (code, message, line, col), or None when absent or not trustworthy."""
        try:
            entry = json.loads(self._path(key).read_text(encoding="utf-8"))
            findings = entry["findings"]
            valid = (
                entry["format"] == CACHE_FORMAT
                and entry["key"] == key
                and entry["cfn-lint"] == cfn_lint_version()
                and entry["sha256"] == _findings_digest(findings)
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not valid:
            return None
        return [tuple(f) for f in findings]

    def put(self, key: str, findings: list[tuple]) -> None:
        """Store findings atomically (write a temporary file, then rename); failures only cost time."""
        target = self._path(key)
        rows = [list(f) for f in findings]
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "cfn-lint": cfn_lint_version(),
            "manifestc": __version__,
            "sha256": _findings_digest(rows),
            "findings": rows,
        }
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(entry, handle, sort_keys=True)
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError:
            pass  # an unwritable cache only costs time


def _findings_digest(rows) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode("utf-8")).hexdigest()


# The cache in use: a LintCache, or None for none. Unset until first use, then the default.
_cache: LintCache | None = None
_cache_chosen = False


def use_cache(root: str | Path | None) -> None:
    """Choose the lint cache directory for this process (None: no cache)."""
    global _cache, _cache_chosen
    _cache = LintCache(root) if root is not None else None
    _cache_chosen = True


def current_cache() -> LintCache | None:
    global _cache, _cache_chosen
    if not _cache_chosen:
        use_cache(default_cache_dir())
    return _cache


_rules_lock = threading.Lock()
# lint_speedups 6. and 9. (sympy and networkx imported in part until first need) are for processes
# that do not import from several threads at once: the command line's (cli.main allows them).
_paused_imports = False


def allow_paused_imports(allowed: bool = True) -> None:
    """Let cfn-lint's import leave sympy and networkx half-imported until first need (see
    lint_speedups); for single-threaded processes, before the first lint."""
    global _paused_imports
    _paused_imports = allowed


def _rules():
    """cfn-lint's rules, built once per process (building them re-executes ~330 rule modules)."""
    with _rules_lock:  # one build, even when threads lint at once
        return _build_rules()


@functools.cache
def _build_rules():
    import gc

    from . import lint_speedups

    # Importing cfn-lint and building its rules makes ~1,000 modules and objects that live as long
    # as the process and hardly any garbage.
    with collector_off():
        if _paused_imports:  # before cfn-lint imports sympy and networkx
            lint_speedups.import_sympy_in_part()
            lint_speedups.import_networkx_in_part()
        from cfnlint.api import ManualArgs
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner.cli import Runner

        lint_speedups.apply()  # before the rules are built: two of its changes act while they are
        rules = Runner(ConfigMixIn(**ManualArgs(**LINT_CONFIG))).rules
        lint_speedups.settle(rules)
    if gc.get_freeze_count():  # the process froze its start-up objects (the CLI): these are as long-lived
        # (with the ~1,000 cyclic objects the import left while the collector was off, once per
        # process: a collection first would cost 20-30 ms to free about as many bytes as a template)
        gc.freeze()
    return rules


def prepare() -> None:
    """Import cfn-lint and build its rules now (before forking workers that will lint)."""
    _rules()


def _run_cfn_lint(text: str, regions: tuple[str, ...]) -> list:
    """cfn-lint's matches for `text`: what `cfnlint.api.lint(text, config=...)` returns, rules reused."""
    rules = _rules()  # first: it decides how cfn-lint is imported
    from cfnlint.api import ManualArgs
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode.decode import decode_str
    from cfnlint.runner.template.runner import run_template_by_data

    template, errors = decode_str(text)
    if errors:
        return errors
    if template is None:
        return []
    config = ConfigMixIn(**ManualArgs(regions=list(regions), **LINT_CONFIG))
    return list(run_template_by_data(template, config, rules))


def _findings(matches) -> list[tuple]:
    """(rule id, message, line, column) of each match, sorted by place, rule and message: cfn-lint
    orders some findings by iterating sets, so its order changes with Python's string-hash seed
    from one process to the next (measured on its own test templates); sorted, a build reports the
    same findings in the same order every time."""
    out = []
    for match in matches:
        severity = _SEVERITY.get(str(match.rule.severity).lower(), Severity.ERROR)
        out.append((match.rule.id, f"{match.message} [{severity.value}]", match.linenumber, match.columnnumber))
    return sorted(out, key=finding_order)


def finding_order(finding: tuple) -> tuple:
    code, message, line, col = finding
    return (line, col, code, message)


def _diagnostics(findings: list[tuple], file: str) -> list[Diagnostic]:
    # Findings in our own output are errors of ours: any cfn-lint finding fails the build.
    return [Diagnostic(code, Severity.ERROR, message, file, line, col) for code, message, line, col in findings]


def _lint_uncached(text: str, regions: tuple[str, ...]) -> list[tuple] | str:
    """Findings, or the text of cfn-lint's failure (never cached)."""
    try:
        return _findings(_run_cfn_lint(text, regions))
    except Exception as exc:  # noqa: BLE001 - cfn-lint failing is an internal error, reported not raised
        return f"cfn-lint failed: {exc}"


def _lint_one(text: str, regions: tuple[str, ...], cache: LintCache | None) -> list[tuple] | str:
    key = LintCache.key(text, regions) if cache else ""
    if cache:
        found = cache.get(key)
        if found is not None:
            return found
    found = _lint_uncached(text, regions)
    if cache and not isinstance(found, str):
        cache.put(key, found)
    return found


def _as_diagnostics(found: list[tuple] | str, file: str) -> list[Diagnostic]:
    if isinstance(found, str):
        return [Diagnostic("MC401", Severity.ERROR, found, file)]
    return _diagnostics(found, file)


def lint_template(text: str, file: str, regions: tuple[str, ...] = ("us-east-1",)) -> list[Diagnostic]:
    """Every cfn-lint finding (errors, warnings and informational) as a diagnostic on `file`."""
    return _as_diagnostics(_lint_one(text, regions, current_cache()), file)


def _lint_job(job: tuple[str, tuple[str, ...]]) -> list[tuple] | str:
    return _lint_one(job[0], job[1], current_cache())


def lint_templates(jobs: list[tuple[str, str, tuple[str, ...]]]) -> list[Diagnostic]:
    """Lint several templates (text, shown file name, regions); in parallel when that pays.

    Templates found in the lint cache are not linted. A manifest with several templates to lint
    lints them on every core: cfn-lint is imported and its rules built once, then worker
    processes forked from this one inherit them. Never nested: inside a directory build's worker
    processes, templates are linted in turn.
    """
    cache = current_cache()
    results: list[list[tuple] | str | None] = []
    missing: list[int] = []
    for text, _, regions in jobs:
        found = cache.get(LintCache.key(text, regions)) if cache else None
        results.append(found)
        if found is None:
            missing.append(len(results) - 1)
    parallel = len(missing) > 1 and (os.cpu_count() or 1) > 1
    if parallel:  # multiprocessing imported only then: one template is linted here
        import multiprocessing

        parallel = (
            multiprocessing.current_process().name == "MainProcess"
            and "fork" in multiprocessing.get_all_start_methods()
        )
    if not parallel:
        for index in missing:
            results[index] = _lint_one(jobs[index][0], jobs[index][2], cache)
    else:
        from concurrent.futures import ProcessPoolExecutor

        prepare()  # import cfn-lint and build its rules before forking
        context = multiprocessing.get_context("fork")
        workers = min(os.cpu_count() or 1, len(missing))
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            found = list(pool.map(_lint_job, [(jobs[i][0], jobs[i][2]) for i in missing]))
        for index, item in zip(missing, found, strict=True):
            results[index] = item
    return [d for (_, file, _), found in zip(jobs, results, strict=True) for d in _as_diagnostics(found, file)]
