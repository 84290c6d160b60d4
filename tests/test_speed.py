"""Speed-ups that must not change a result: the lint-result cache, cfn-lint's rules built once and
reused (also in forked workers), the data tables read with libyaml, the shipped schema not
re-checked at run time.

The corpus: every golden template, every example's templates (YAML and JSON), the deliberately
broken templates in tests/lint_corpus/ and cfn-lint's own test templates
(tests/lint_corpus/cfn-lint/, copied from its repository: they are not in its wheel).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cerberus
import pytest
import yaml
from manifestc import lint
from manifestc.api import compile_manifest
from manifestc.diagnostics import Diagnostic

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "lint_corpus"
US = ("us-east-1",)


# The whole corpus takes minutes (the reference lints each template with a new Runner); the suite
# takes every deliberately broken template and every SAMPLE-th other one, bench/lint_identity.py
# (MANIFESTC_FULL_CORPUS=1) all of them.
SAMPLE = 1 if os.environ.get("MANIFESTC_FULL_CORPUS") == "1" else 8


def _corpus() -> list[tuple[str, str, tuple[str, ...]]]:
    return _generated()[::SAMPLE] + _foreign()[::SAMPLE] + _broken()


def _generated() -> list[tuple[str, str, tuple[str, ...]]]:
    jobs = []
    for path in sorted((ROOT / "tests" / "golden").glob("*/expected/**/*.yaml")):
        jobs.append((path.read_text(), path.relative_to(ROOT).as_posix(), US))
    for index, path in enumerate(sorted((ROOT / "manifests").glob("*.yaml"))):
        fmt = "json" if index % 4 == 0 else "yaml"  # some examples as JSON: the other decoder
        result = compile_manifest(path, fmt=fmt, lint=False)
        assert result.artifacts, path
        regions = (result.manifest.region,) if result.manifest.region else US
        for artifact in result.artifacts:
            jobs.append((artifact.content.decode(), f"{path.stem}/{artifact.name}", regions))
    return jobs


def _foreign() -> list[tuple[str, str, tuple[str, ...]]]:
    """cfn-lint's own test templates (tests/lint_corpus/cfn-lint/, see its README): written by others."""
    folder = CORPUS / "cfn-lint"
    paths = sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
    return [(p.read_text(encoding="utf-8"), p.relative_to(CORPUS).as_posix(), US) for p in paths]


def _broken() -> list[tuple[str, str, tuple[str, ...]]]:
    jobs = []
    for path in sorted(CORPUS.glob("*.*")):
        if path.suffix in (".yaml", ".json"):
            jobs.append((path.read_text(), path.name, US))
    jobs.append(((CORPUS / "references.yaml").read_text(), "references.yaml@2", ("eu-west-1", "ap-southeast-2")))
    return jobs


# Some of cfn-lint's messages print sets ("... across the resources {'A', 'B'}"), whose order
# follows Python's string-hash seed: both sides run in processes with one fixed seed.
_SEED = {**os.environ, "PYTHONHASHSEED": "0"}

# What manifestc reported before the speed-ups: cfnlint.api.lint, a new Runner per template, in a
# process that never imports manifestc (whose lint_speedups change cfn-lint for the whole process).
_REFERENCE = """
import json, sys
from cfnlint.api import ManualArgs, lint
SEVERITY = {"error": "error", "warning": "warning", "informational": "info"}
out = []
for text, _, regions in json.load(sys.stdin):
    matches = lint(text, config=ManualArgs(regions=regions, include_checks=["I"]))
    out.append([[m.rule.id, f"{m.message} [{SEVERITY[str(m.rule.severity).lower()]}]", m.linenumber,
                 m.columnnumber] for m in matches])
assert not any(name.startswith("manifestc") for name in sys.modules)
json.dump(out, sys.stdout)
"""

# manifestc's lint with every speed-up, four ways, in one process: reused rules in workers forked
# after the parent built them (findings stored in the cache); reused rules in this process, one
# template after another (state carried from template to template); the cache alone (cfn-lint
# must not run); one template at a time through the cache.
_OURS = """
import json, sys
from manifestc import lint
lint.use_cache(sys.argv[1])
lint.allow_paused_imports()  # as the command line does
lint.prepare()
paused = "sympy.polys" not in sys.modules and "networkx.generators" not in sys.modules
jobs = [(text, file, tuple(regions)) for text, file, regions in json.load(sys.stdin)]
rows = lambda found: [[d.code, d.message, d.line, d.col, d.file] for d in found]
fresh = rows(lint.lint_templates(jobs))
serial = rows(d for text, file, regions in jobs for d in lint._as_diagnostics(lint._lint_uncached(text, regions), file))
def no_cfn_lint(*args):
    raise AssertionError("cfn-lint ran although the findings were cached")
lint._run_cfn_lint = no_cfn_lint
cached = rows(lint.lint_templates(jobs))
single = rows(d for job in jobs for d in lint.lint_template(*job))
completed = "sympy.polys" in sys.modules
json.dump({"fresh": fresh, "serial": serial, "cached": cached, "single": single, "paused": paused,
           "completed": completed}, sys.stdout)
"""


def _run(script: str, jobs, *args: str):
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        input=json.dumps([[text, file, list(regions)] for text, file, regions in jobs]),
        capture_output=True,
        text=True,
        env=_SEED,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _reference(jobs: list[tuple[str, str, tuple[str, ...]]]) -> list[list[list]]:
    found = _run(_REFERENCE, jobs)
    assert len(found) == len(jobs)
    # in manifestc's order (lint._findings sorts: cfn-lint's own order also follows the hash seed)
    return [
        [
            [code, message, line, col, file]
            for code, message, line, col in sorted(map(tuple, rows), key=lint.finding_order)
        ]
        for (_, file, _), rows in zip(jobs, found, strict=True)
    ]


@pytest.fixture
def cache_at(tmp_path):
    """Use a lint cache in a fresh folder for one test; restore the previous choice after."""
    saved = (lint._cache, lint._cache_chosen)

    def _use(name: str = "lint-cache") -> Path:
        lint.use_cache(tmp_path / name)
        return tmp_path / name

    yield _use
    lint._cache, lint._cache_chosen = saved


def _no_cfn_lint(*_args, **_kwargs):
    raise AssertionError("cfn-lint ran although the findings were cached")


def test_findings_identical_with_and_without_every_speed_up(tmp_path):
    jobs = _corpus()
    assert len(jobs) > (250 if SAMPLE == 1 else 40)
    reference = _reference(jobs)
    assert sum(bool(r) for r in reference) >= 10, "the corpus must have templates with findings"
    ours = _run(_OURS, jobs, str(tmp_path / "lint-cache"))
    flat = [d for found in reference for d in found]
    for way in ("fresh", "serial", "cached", "single"):
        assert ours[way] == flat, way
    # sympy's and networkx's imports were paused (lint_speedups 6., 9.), and the templates with
    # conditions completed sympy's
    assert ours["paused"] and ours["completed"]


BAD = (CORPUS / "properties.yaml").read_text()


def _counting(monkeypatch) -> list[int]:
    calls = [0]
    real = lint._run_cfn_lint

    def counted(text, regions):
        calls[0] += 1
        return real(text, regions)

    monkeypatch.setattr(lint, "_run_cfn_lint", counted)
    return calls


def _entry(root: Path) -> Path:
    (entry,) = root.rglob("*.json")
    return entry


def test_cache_hit_does_not_lint(cache_at, monkeypatch):
    root = cache_at()
    first = lint.lint_template(BAD, "a.yaml")
    assert first and _entry(root).parent.name == _entry(root).name[:2]
    monkeypatch.setattr(lint, "_run_cfn_lint", _no_cfn_lint)
    again = lint.lint_template(BAD, "b.yaml")  # same bytes, another shown name: the name is not in the key
    assert again == [Diagnostic(d.code, d.severity, d.message, "b.yaml", d.line, d.col) for d in first]


def test_key_covers_regions_template_and_cfn_lint_version(monkeypatch):
    key = lint.LintCache.key(BAD, US)
    assert key != lint.LintCache.key(BAD, ("eu-west-1",))
    assert key != lint.LintCache.key(BAD + "\n", US)
    monkeypatch.setattr(lint, "cfn_lint_version", lambda: "0.0.1")
    assert key != lint.LintCache.key(BAD, US)


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "{not json",
        lambda text: text[: len(text) // 2],
        lambda text: "",
        lambda text: json.dumps([1, 2]),
        # valid JSON, findings altered without the checksum: rejected
        lambda text: json.dumps({**json.loads(text), "findings": []}),
    ],
    ids=["garbage", "truncated", "empty", "wrong-shape", "tampered"],
)
def test_corrupted_entry_is_rejected_and_relinted(cache_at, monkeypatch, damage):
    root = cache_at()
    expected = lint.lint_template(BAD, "a.yaml")
    entry = _entry(root)
    entry.write_text(damage(entry.read_text()))
    calls = _counting(monkeypatch)
    assert lint.lint_template(BAD, "a.yaml") == expected
    assert calls == [1]
    assert json.loads(entry.read_text())["findings"]  # rewritten, valid again
    assert lint.lint_template(BAD, "a.yaml") == expected and calls == [1]


def test_entry_of_another_cfn_lint_version_is_rejected_and_relinted(cache_at, monkeypatch):
    root = cache_at()
    expected = lint.lint_template(BAD, "a.yaml")
    entry = _entry(root)
    planted = json.loads(entry.read_text())
    planted.update({"cfn-lint": "0.87.0", "findings": []})
    planted["sha256"] = lint._findings_digest([])  # a well-formed entry, just from an older cfn-lint
    entry.write_text(json.dumps(planted))
    calls = _counting(monkeypatch)
    assert lint.lint_template(BAD, "a.yaml") == expected
    assert calls == [1]
    assert json.loads(entry.read_text())["cfn-lint"] == lint.cfn_lint_version()


def test_unwritable_cache_only_costs_time(tmp_path, cache_at):
    blocker = tmp_path / "file"
    blocker.write_text("")
    saved = (lint._cache, lint._cache_chosen)
    lint.use_cache(blocker / "cache")  # a folder under a file: cannot be created
    try:
        assert lint.lint_template(BAD, "a.yaml")
    finally:
        lint._cache, lint._cache_chosen = saved


def test_lint_failure_is_reported_and_not_cached(cache_at, monkeypatch):
    root = cache_at()

    def broken(text, regions):
        raise RuntimeError("boom")

    monkeypatch.setattr(lint, "_run_cfn_lint", broken)
    (found,) = lint.lint_template(BAD, "a.yaml")
    assert found.code == "MC401" and "boom" in found.message
    assert not list(root.rglob("*.json"))


def test_a_build_with_every_template_cached_never_imports_cfn_lint(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "MANIFESTC_LINT_CACHE": str(cache)}
    example = ROOT / "manifests" / "java-two-accounts.yaml"
    script = (
        "import sys\n"
        "from manifestc.api import build\n"
        f"report = build([{str(example)!r}], sys.argv[1])\n"
        "assert not report.failed(), report.all_diagnostics()\n"
        "print(any(m == 'cfnlint' or m.startswith('cfnlint.') for m in sys.modules))\n"
    )
    first = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "o1")], env=env, capture_output=True, text=True
    )
    assert first.stdout.strip() == "True", first.stderr
    assert list(cache.rglob("*.json"))
    second = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "o2")], env=env, capture_output=True, text=True
    )
    assert second.stdout.strip() == "False", second.stderr
    written = {p.relative_to(tmp_path / "o1"): p.read_bytes() for p in (tmp_path / "o1").rglob("*.*")}
    assert any(p.name == "pipeline.yaml" for p in written)
    assert written == {p.relative_to(tmp_path / "o2"): p.read_bytes() for p in (tmp_path / "o2").rglob("*.*")}


def test_cli_lint_cache_options(tmp_path, cache_at):
    from click.testing import CliRunner
    from manifestc.cli import cli

    example = str(ROOT / "manifests" / "python-service.yaml")
    runner = CliRunner()
    chosen = tmp_path / "chosen"
    result = runner.invoke(cli, ["build", example, "--out", str(tmp_path / "o1"), "--lint-cache", str(chosen)])
    assert result.exit_code == 0, result.output
    assert list(chosen.rglob("*.json"))
    other = cache_at("other")
    result = runner.invoke(cli, ["build", example, "--out", str(tmp_path / "o2"), "--no-lint-cache"])
    assert result.exit_code == 0, result.output
    assert not other.exists()


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("MANIFESTC_LINT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lint.default_cache_dir() == tmp_path / "xdg" / "manifestc" / "lint"
    monkeypatch.setenv("MANIFESTC_LINT_CACHE", str(tmp_path / "explicit"))
    assert lint.default_cache_dir() == tmp_path / "explicit"


@pytest.mark.parametrize("table", sorted(p.name for p in (ROOT / "schemas").glob("*.yaml")))
def test_tables_read_with_libyaml_equal_pure_python(table):
    from manifestc.schemas_data import _table

    text = (ROOT / "schemas" / table).read_text()
    assert _table(table) == yaml.load(text, Loader=yaml.SafeLoader)


@pytest.mark.parametrize("table", sorted(p.name for p in (ROOT / "schemas").glob("*.yaml")))
def test_compiled_tables_are_current(table):
    """schemas/compiled.py holds each table as the pure-Python YAML loader reads it, keys in the
    same order, under the digest of the YAML text: else `python -m manifestc.schemas_data`."""
    from manifestc.schemas import compiled
    from manifestc.schemas_data import digest

    text = (ROOT / "schemas" / table).read_text()
    assert compiled.DIGESTS[table] == digest(text), "rewrite it: python -m manifestc.schemas_data"
    expected = yaml.load(text, Loader=yaml.SafeLoader)
    assert json.dumps(compiled.TABLES[table]) == json.dumps(expected)  # order too
    assert compiled.TABLES[table] == expected


def test_a_table_edited_without_rewriting_compiled_is_read_from_yaml(monkeypatch, tmp_path):
    import manifestc.schemas_data as schemas_data
    from manifestc.schemas import compiled

    edited = (ROOT / "schemas" / "images.yaml").read_text() + "\nzz-edited-image: {arch: x86_64}\n"
    monkeypatch.setattr(schemas_data, "_text", lambda name: edited)
    schemas_data._table.cache_clear()
    try:
        assert schemas_data._table("images.yaml")["zz-edited-image"] == {"arch": "x86_64"}
        assert "zz-edited-image" not in compiled.TABLES["images.yaml"]
    finally:
        schemas_data._table.cache_clear()


def test_compiled_tables_are_used_when_current():
    import manifestc.schemas_data as schemas_data
    from manifestc.schemas import compiled

    schemas_data._table.cache_clear()
    assert schemas_data._table("manifest.v1.yaml") is compiled.TABLES["manifest.v1.yaml"]


def test_shipped_schema_passes_cerberus_meta_schema():
    from manifestc.validate import check_shipped_schema

    check_shipped_schema()


def test_meta_schema_check_catches_a_broken_schema():
    from manifestc.schemas_data import manifest_schema
    from manifestc.validate import check_shipped_schema

    broken = {**manifest_schema(), "name": {"type": "strnig"}}
    with pytest.raises(cerberus.SchemaError):
        check_shipped_schema(broken)


# The changes lint_speedups makes to cfn-lint's internals: applied with the pinned cfn-lint,
# refused on code of another shape. That they change no finding is the corpus test above.

_SPEEDUPS = """
import json, sys
from manifestc import lint, lint_speedups
lint.use_cache(None)
rules = lint._rules()
rds = rules["E3062"]  # RDS instance classes by engine: a pipeline template never uses it
deferred = type(rds.__dict__["_manifestc_schema"]).__name__
shared = rules["W3037"]._service_map is rules["I3510"].service_map
from manifestc import registry
compilers = rules["W3037"]._service_map is registry.authorization()
# the peak of this process image (ru_maxrss would carry the pytest process's peak across exec)
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
rss_mib = int(status["VmHWM"].split()[0]) / 1024
loaded = rds._schema  # first use reads it
import cfnlint.jsonschema.validators as validators
lint.lint_template(open(sys.argv[1]).read(), "a.yaml")
made = validators.create.__wrapped__  # the original, behind the class-reusing create
import regex, cfnlint.schema.resolver._resolver as resolver
kept = resolver._search_schema({"a": {"id": "#x"}}, resolver._match_keyword("id"))
import cfnlint.jsonschema._keywords as keywords
print(json.dumps({"applied": lint_speedups._applied, "deferred": deferred, "shared": shared,
                  "compilers": compilers, "regex": regex._manifestc_front_cache,
                  "inline": validators.CfnTemplateValidator.is_type._manifestc_inline,
                  "strings": keywords.equal._manifestc_strings,
                  "resolvers": [resolver.RefResolver.__post_init__._manifestc_cheap,
                                resolver.RefResolver({})._urljoin_cache is resolver.RefResolver({})._urljoin_cache,
                                resolver.RefResolver({})._cache.cache_info().maxsize],
                  "kept": type(kept).__name__ == "tuple_iterator" and resolver._match_keyword("id") is resolver._match_keyword("id"),
                  "indexed": "cfnLint" in vars(rules["E1101"]),
                  "reused": validators.create(**{"validators": {"x": len}}) is validators.create(validators={"x": len}),
                  "original": made(validators={"x": len}) is not made(validators={"x": len}),
                  "now": type(rds.__dict__["_manifestc_schema"]).__name__, "keys": sorted(loaded)[:3],
                  "rss_mib": rss_mib}))
"""


def test_speedups_apply_to_the_pinned_cfn_lint():
    done = subprocess.run(
        [sys.executable, "-c", _SPEEDUPS, str(CORPUS / "iam.yaml")], capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout)
    assert found["applied"] and found["shared"] and found["reused"] and found["original"] and found["indexed"]
    assert found["compilers"] and found["regex"] and found["kept"] and found["inline"] and found["strings"]
    assert found["resolvers"] == [True, True, 1024]
    assert found["deferred"] == "_Deferred" and found["now"] == "dict" and found["keys"]
    # cfn-lint imported and its rules built, before any template: without the deferred schemas and
    # the shared IAM table this was about 130 MiB
    assert found["rss_mib"] < 100, found


_OTHER_SHAPE = """
import dataclasses, json
from manifestc import lint_speedups

@dataclasses.dataclass(frozen=True)
class Context:  # as cfn-lint's, but with a __post_init__ the fast evolve would skip
    regions: list

    def __post_init__(self):
        pass

class ContextModule:
    __name__ = "cfnlint.context.context"
    fields = dataclasses.fields
    Context = Context

real = lint_speedups._modules()
other = {**real, "context": ContextModule}
before = lint_speedups.check(real)
problems = lint_speedups.check(other)
lint_speedups._modules = lambda: other
applied = lint_speedups.apply()
print(json.dumps({"before": before, "problems": problems, "applied": applied,
                  "evolve": "evolve" in vars(Context), "fields": real["validators"].fields is dataclasses.fields}))
"""


def test_speedups_refuse_cfn_lint_of_another_shape():
    done = subprocess.run([sys.executable, "-c", _OTHER_SHAPE], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    assert found["before"] == []  # the pinned cfn-lint has the expected shape
    assert found["problems"] == ["cfnlint.context.context.Context is not a frozen dataclass without __post_init__"]
    assert found["applied"] is False and not found["evolve"] and found["fields"]  # nothing changed


_ORDER = """
import json, sys
from manifestc import lint
lint.use_cache(None)
text = open(sys.argv[1]).read()
print(json.dumps([[d.code, d.line, d.col] for d in lint.lint_template(text, "name.yaml")]))
"""


def test_findings_in_the_same_order_whatever_the_hash_seed():
    # cfn-lint reports this template's two E3001 findings in an order that follows the string-hash
    # seed; manifestc sorts them
    template = str(CORPUS / "cfn-lint" / "bad" / "resources" / "name.yaml")
    runs = set()
    for seed in ("0", "1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _ORDER, template], env=env, capture_output=True, text=True, check=True
        )
        runs.add(done.stdout)
    (only,) = runs
    assert [code for code, _, _ in json.loads(only)] == ["E3001", "E3001"]


def test_validator_classes_reused_only_for_the_same_arguments():
    from cfnlint.jsonschema._filter import FunctionFilter
    from manifestc.lint_speedups import _create_key

    class Rule:  # like cfn-lint's rules: equal by id, so unhashable
        id = "E0000"

        def __eq__(self, other):
            return self.id == other.id

        def check(self):
            pass

        def other(self):
            pass

    one, two = Rule(), Rule()
    key = _create_key({"a": one.check, "b": len}, FunctionFilter(), None)
    assert key == _create_key({"a": one.check, "b": len}, FunctionFilter(), None)  # a new bound method, same
    assert key != _create_key({"a": two.check, "b": len}, FunctionFilter(), None)  # another rule object
    assert key != _create_key({"a": one.other, "b": len}, FunctionFilter(), None)  # another method
    assert key != _create_key({"b": len, "a": one.check}, FunctionFilter(), None)  # another order
    assert key != _create_key({"a": one.check, "b": len}, FunctionFilter(add_cfn_lint_keyword=False), None)
    assert key != _create_key({"a": one.check, "b": len}, FunctionFilter(), {"Ref": len})


def test_settle_reads_a_schema_a_rule_class_shadows():
    from manifestc.lint_speedups import _Deferred, settle

    class Rule:
        _schema: dict = {}  # a class attribute: the deferring property never sees this rule's reads

    rule, plain = Rule(), Rule()
    rule.__dict__["_schema"] = _Deferred(lambda package, filename: {"read": (package, filename)}, "pkg", "x.json")
    plain.__dict__["_schema"] = {"given": True}
    settle({"E1": rule, "E2": plain})
    assert rule._schema == {"read": ("pkg", "x.json")}
    assert plain._schema == {"given": True}


# lint_speedups 6. and 9.: sympy's and networkx's imports paused after the part cfn-lint uses,
# completed on first need; what any first need completes must be what a plain import loads.
_PAUSED = """
import json, sys
package, paused, how = sys.argv[1], sys.argv[2] == "paused", sys.argv[3]
if paused:
    from manifestc import lint_speedups
    pause = getattr(lint_speedups, f"import_{package}_in_part")
    assert pause()
    assert pause() is False  # once
import sympy, networkx
rest = {"sympy": "sympy.polys", "networkx": "networkx.generators"}[package]
paused = rest not in sys.modules
exec({
    "sympy-name": "sympy.Poly",  # a name the paused part does not define
    "sympy-from": "from sympy import Matrix",
    "sympy-submodule": "import sympy.polys.rings",  # a module the rest loads
    "sympy-lazy": "from sympy.logic.algorithms.dpll2 import dpll_satisfiable",  # one sympy imports on first use
    "networkx-name": "networkx.pagerank",
    "networkx-from": "from networkx import gnp_random_graph",
    "networkx-submodule": "import networkx.generators.random_graphs",
    "networkx-subpackage-name": "networkx.algorithms.pagerank",  # algorithms: paused too
    "networkx-deep": "import networkx.algorithms.shortest_paths.generic",
    "networkx-graph": "networkx.MultiDiGraph([('a', 'b')])",  # converting edge data: the rest
    "sympy-dir": "dir(sympy)",  # its names: all of them
    "networkx-dir": "dir(networkx.algorithms)",
}[f"{package}-{how}"])
import sympy.polys.rings, networkx.algorithms.cycles
modules = {n: m for n, m in sys.modules.items() if n.split(".")[0] == package}
parents = sorted(n for n, m in modules.items() if "." in n and getattr(modules.get(n.rsplit(".", 1)[0]), n.rsplit(".", 1)[1], None) is m)
loaders = sorted({type(m.__spec__.loader).__name__ for m in modules.values() if m.__spec__})
graph = networkx.MultiDiGraph()
graph.add_edge("a", "b")
graph.add_edge("b", "a")
print(json.dumps({"paused": paused, "modules": sorted(modules), "parents": parents, "loaders": loaders,
                  "names": {m: sorted(vars(sys.modules[m])) for m in (package, package + ".polys", package + ".algorithms") if m in modules},
                  "meta_path": [type(f).__name__ for f in sys.meta_path],
                  "solve": str(sympy.satisfiable(sympy.And(sympy.Symbol("a"), sympy.Not(sympy.Symbol("b"))))),
                  "cycle": repr(networkx.find_cycle(graph, "a")),
                  # functions __init__ itself defines compile as a plain import compiles them
                  "flags": sorted((k, v.__code__.co_flags) for k, v in vars(sys.modules[package]).items()
                                  if getattr(v, "__module__", None) == package and hasattr(v, "__code__")),
                  "dir": dir(sys.modules[package])}))
"""


def _paused(package: str, mode: str, how: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PAUSED, package, mode, how], capture_output=True, text=True, env=_SEED
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    "package, how",
    [("sympy", h) for h in ("name", "from", "submodule", "lazy", "dir")]
    + [("networkx", h) for h in ("name", "from", "submodule", "subpackage-name", "deep", "graph", "dir")],
)
def test_paused_import_completes_to_what_a_plain_import_loads(package, how):
    plain, paused = _paused(package, "plain", how), _paused(package, "paused", how)
    assert paused["paused"] is True and plain["paused"] is False
    # the same modules, the same names in the package (and the paused subpackage), each module an
    # attribute of its package as a plain import leaves it (one module object per name: none
    # executed twice), their own loaders, no finder left behind, the same answers
    for key in ("modules", "names", "parents", "loaders", "meta_path", "solve", "cycle", "flags", "dir"):
        assert paused[key] == plain[key], key
    assert len(plain["modules"]) > 250 and "SourceFileLoader" in plain["loaders"]


_PAUSED_AFTER_LINT = """
import json, sys
from manifestc import lint
lint.use_cache(None)
lint.allow_paused_imports()
found = []
for path in sys.argv[1:]:
    lint.lint_template(open(path).read(), path)
    found.append(["sympy.polys" in sys.modules, "networkx.generators" in sys.modules])
print(json.dumps(found))
"""


def test_a_template_without_conditions_leaves_sympy_and_networkx_paused():
    pipeline = next((ROOT / "tests" / "golden").glob("*/expected/*/pipeline.yaml"))
    assert "Conditions:" not in pipeline.read_text()
    with_conditions = CORPUS / "cfn-lint" / "good" / "conditions.yaml"
    assert "Conditions:" in with_conditions.read_text()
    done = subprocess.run(
        [sys.executable, "-c", _PAUSED_AFTER_LINT, str(pipeline), str(with_conditions)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    # the pipeline template linted with the paused parts alone; the conditions needed sympy's rest
    assert json.loads(done.stdout) == [[False, False], [True, False]]


@pytest.mark.parametrize("package", ["sympy", "networkx"])
def test_not_paused_when_imported_already(package):
    script = f"import {package}\nfrom manifestc import lint_speedups\nprint(lint_speedups.import_{package}_in_part())"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


_WHO_PAUSES = """
import sys
from manifestc import lint
if sys.argv[1] == "cli":
    from manifestc.cli import main
    sys.argv = ["manifestc", "build", sys.argv[2], "--out", sys.argv[3], "--lint-cache", sys.argv[4]]
    try:
        main()
    except SystemExit:
        pass
else:
    lint.use_cache(None)
    lint.lint_template(open(sys.argv[2]).read(), "t.yaml")
print("sympy.polys" in sys.modules, "networkx.generators" in sys.modules, "sympy" in sys.modules, file=sys.stderr)
"""


def test_only_the_command_line_pauses_imports(tmp_path):
    # the command line imports from one thread; a program using manifestc as a library may not
    pipeline = next((ROOT / "tests" / "golden").glob("*/expected/*/pipeline.yaml"))
    runs = {}
    for who, args in {
        "cli": ["cli", str(ROOT / "manifests" / "python-service.yaml"), str(tmp_path / "out"), str(tmp_path / "lc")],
        "library": ["library", str(pipeline)],
    }.items():
        done = subprocess.run([sys.executable, "-c", _WHO_PAUSES, *args], capture_output=True, text=True)
        runs[who] = done.stderr.strip().splitlines()[-1]
    assert runs == {"cli": "False False True", "library": "True True True"}


# Threads (what an independent review of 6. and 9. reproduced as deadlocks and races in a first
# version, which ran the rest under the import system's lock and dropped its hooks before it ran).
_THREADS = """
import sys, threading, time
from manifestc import lint, lint_speedups
case = sys.argv[1]
if case == "lint":  # several threads linting at once from a cold start
    lint.allow_paused_imports()
    lint.use_cache(None)
    text = open(sys.argv[2]).read()
    jobs = [lambda: [d.code for d in lint.lint_template(text, "t.yaml")] for _ in range(3)]
else:
    assert lint_speedups.import_sympy_in_part() and lint_speedups.import_networkx_in_part()
    import sympy, networkx
    jobs = {
        # sympy's rest by a name while networkx's by an import (each rest takes its own lock)
        "two-packages": [lambda: sympy.Poly, lambda: (time.sleep(0.02), __import__("networkx.generators.random_graphs"))],
        # a name the rest binds, asked while another thread runs the rest: it waits, then has it
        "same-package": [lambda: sympy.Poly, lambda: (time.sleep(0.03), sympy.Matrix)[1]],
        # the rest through the finder while another thread imports a module the rest needs
        "finder": [lambda: __import__("tempfile"), lambda: (time.sleep(0.01), __import__("sympy.printing"))],
    }[case]
answers = [None] * len(jobs)
def run(i):
    try:
        answers[i] = repr(jobs[i]())[:60]
    except BaseException as exc:
        answers[i] = f"raised {exc!r}"
threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
[t.start() for t in threads]
[t.join(60) for t in threads]
print(sum(t.is_alive() for t in threads), [a for a in answers if a is None or a.startswith("raised") or "MC401" in a])
"""


@pytest.mark.parametrize("case", ["two-packages", "same-package", "finder", "lint"])
def test_paused_imports_with_threads(case):
    template = str(CORPUS / "references.yaml")
    done = subprocess.run([sys.executable, "-c", _THREADS, case, template], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[0] == "0 []"  # no thread hung, none failed


_SPEC_AND_FAILURE = """
import importlib.resources, importlib.util, sys
from manifestc import lint_speedups
assert lint_speedups.import_sympy_in_part() and lint_speedups.import_networkx_in_part()
import networkx, sympy
found = importlib.util.find_spec("sympy.polys")  # looked up, not imported: nothing may change
still = "sympy.polys" not in sys.modules
import sympy.polys
spec = sympy.polys.__spec__
resources = importlib.resources.files("sympy.polys").name
sys.modules["networkx.drawing"] = None  # stands for any failure in networkx's rest
first = second = None
try:
    networkx.pagerank_scipy_missing_name
except BaseException as exc:
    first = type(exc).__name__
try:
    networkx.draw
except BaseException as exc:
    second = type(exc).__name__
print(still, type(spec.loader).__name__, spec.origin.endswith("polys/__init__.py"), resources, first, second)
"""


def test_a_spec_looked_up_while_paused_and_a_failing_rest():
    done = subprocess.run([sys.executable, "-c", _SPEC_AND_FAILURE], capture_output=True, text=True, check=True)
    # find_spec leaves the package paused and the module its own spec; a rest that fails raises
    # again on the next need, as a failing import raises each time it is tried
    assert done.stdout.split() == [
        "True",
        "SourceFileLoader",
        "True",
        "polys",
        "ModuleNotFoundError",
        "ModuleNotFoundError",
    ]


def test_a_package_without_source_is_imported_plainly(tmp_path):
    # installed as bytecode only: nothing to split, so no pause, and linting still works
    import compileall
    import shutil

    import networkx

    copy = tmp_path / "networkx"
    shutil.copytree(Path(networkx.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    compileall.compile_dir(copy, quiet=1, legacy=True)
    for source in copy.rglob("*.py"):
        source.unlink()
    script = (
        "import sys\nfrom manifestc import lint, lint_speedups\n"
        "print(lint_speedups.import_networkx_in_part(), 'networkx' in sys.modules)\n"
        "lint.allow_paused_imports()\nlint.use_cache(None)\n"
        f"print([d.code for d in lint.lint_template(open({str(CORPUS / 'references.yaml')!r}).read(), 't.yaml')][:1])"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    first, second = done.stdout.splitlines()
    assert first == "False False" and "MC401" not in second


_REGEX = """
import json, regex, regex._main as main
from manifestc import lint_speedups
assert lint_speedups.apply()
calls = [
    ("match", ("^arn:(aws|aws-cn):", "arn:aws:s3:::b"), {}), ("fullmatch", ("[a-z]+", "abc"), {}),
    ("search", ("b+", "abbbc"), {}), ("findall", (r"\\\\${([^!].*?)}", "a${A}b${B.C}${!x}"), {}),
    ("sub", ("a", "b", "aaa", 2), {}), ("split", (",", "a,b,c", 1), {}),
    ("match", ("A", "a", regex.IGNORECASE), {}), ("search", ("b", "abc"), {"pos": 2}),
    ("match", (r"(?L)\\\\w+", "abc"), {}), ("findall", ("a", "aaa"), {"overlapped": True}),
    ("findall", (regex.compile("a(b)"), "abab"), {}),
]
compiled = [0]
real = main._compile
def counting(*args):
    compiled[0] += 1
    return real(*args)
main._compile = counting
out = []
for name, args, kwargs in calls:
    ours = [repr(getattr(regex, name)(*args, **kwargs)) for _ in range(3)]
    theirs = repr(getattr(regex, name).__wrapped__(*args, **kwargs))
    out.append([name, ours, theirs])
print(json.dumps({"applied": regex._manifestc_front_cache, "out": out, "compiled": compiled[0]}))
"""


def test_regex_calls_answer_as_regex_does():
    done = subprocess.run([sys.executable, "-c", _REGEX], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    assert found["applied"]
    for name, ours, theirs in found["out"]:
        assert ours == [theirs] * 3, name
    # regex's compile was asked 11 x 3 times, +11 for the comparison, except for the third call of
    # each of the 7 calls with a locale-free str pattern and no other arguments (the first compiles:
    # regex learns the pattern is locale-free; the second compiles into the dict; the third is
    # answered from it) and the three with a compiled pattern; the locale-sensitive pattern and the
    # calls with more arguments: every time
    assert found["compiled"] == 44 - 7 - 3


_EQUAL_AND_TYPES = """
import json
from manifestc import lint
lint._rules()
from cfnlint.decode.mark import Mark
from cfnlint.decode.node import dict_node, list_node, str_node
import cfnlint.jsonschema._keywords as keywords
import cfnlint.jsonschema.validators as validators
words = ["true", "True", "TRUE", "false", "False", "tRuE", "x", "X", "", "0", "1", "yes", "AWS::S3::Bucket"]
values = words + [str_node(w, Mark(), Mark()) for w in words] + [True, False, 0, 1, 1.0, None, [], ["x"], {}, {"a": 1},
          ("x",), list_node(["x"], Mark(), Mark()), dict_node({"a": 1}, Mark(), Mark())]
fast, plain = keywords.equal, keywords.equal.__wrapped__
equal = [repr((a, b)) for a in values for b in values if fast(a, b) != plain(a, b)]
validator = validators.CfnTemplateValidator({})
types = ["string", "object", "array", "boolean", "integer", "number", "null"]
is_type = [repr((v, t)) for v in values for t in types
           if validator.is_type(v, t) != type(validator).is_type.__wrapped__(validator, v, t)]
try:
    validator.is_type("x", "no-such-type")
    unknown = None
except Exception as exc:
    unknown = type(exc).__name__
print(json.dumps({"equal": equal, "is_type": is_type, "unknown": unknown, "pairs": len(values) ** 2}))
"""


# For the comparison scripts below: whether our keyword answered a case without calling cfn-lint's
# (`old`, with the scripts' `errors`), i.e. whether the short cut was taken.
_ANSWERED_ALONE = """
import sys
def answered_alone(function, *args):
    # ours, without cfn-lint's function being called: the short cut taken
    called = []
    sys.setprofile(lambda frame, event, arg: called.append(1) if event == "call" and frame.f_code is old.__code__ else None)
    try:
        errors(function, *args)
    finally:
        sys.setprofile(None)
    return not called
"""


_TRANSFORM_IF = (
    _ANSWERED_ALONE
    + """
import json
from manifestc import lint
lint._rules()
from cfnlint.decode.mark import Mark
from cfnlint.decode.node import str_node
from cfnlint.template import Template
import cfnlint.jsonschema._keywords as keywords
import cfnlint.jsonschema.validators as validators
from cfnlint.jsonschema import ValidationError
new = keywords.if_
old = new.__wrapped__
body = {"Parameters": {"P": {"Type": "String"}}, "Resources": {"B": {"Type": "AWS::S3::Bucket"}}}
templates = {
    "none": Template("t.yaml", dict(body), ["us-east-1"]),
    "extensions": Template("t.yaml", {"Transform": "AWS::LanguageExtensions", **body}, ["us-east-1"]),
    "both": Template("t.yaml", {"Transform": ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"], **body}, ["us-east-1"]),
}
values = ["AWS::Region", "AWS::NoValue", "AWS::AccountId", "B", "P", "", "x", "{{resolve:ssm:/x}}", "{{ resolve:ssm:/x}}",
          "a {{resolve:secretsmanager:s}} b", "{{resolve:ssm-secure:/y:1}}", str_node("AWS::Partition", Mark(), Mark()),
          str_node("B", Mark(), Mark()), 1, 0, True, None, 1.5, ["x"], {"Ref": "AWS::Region"}, {"Fn::Sub": "x"}, {}]
ifs = [{"dynamicValidation": {"transformCheck": "AWS::LanguageExtensions"}},
       {"dynamicValidation": {"transformCheck": "AWS::Serverless-2016-10-31"}},
       {"dynamicValidation": {"transformCheck": "AWS::LanguageExtensions", "context": "refs"}},
       {"type": "string"}]
schemas = [{"then": {"enum": ["then-branch"]}, "else": {"enum": ["else-branch"]}}, {"then": {"enum": ["then-branch"]}},
           {"else": {"const": "else-branch"}}, {}]
def variants(cfn):
    base = validators.CfnTemplateValidator({}, cfn=cfn, context=cfn.context)
    path = base.context.path
    yield "plain", base
    yield "in Ref", base.evolve(context=base.context.evolve(path=path.descend(path="Resources").descend(path="Ref")))
    yield "in Fn::If", base.evolve(context=base.context.evolve(path=path.descend(path="Fn::If")))
    yield "no functions", base.evolve(context=base.context.evolve(functions=[]))
    yield "no dynamic references", base.evolve(function_filter=base.function_filter.evolve(validate_dynamic_references=False))
    yield "cfn-lint keyword off", base.evolve(function_filter=base.function_filter.evolve(add_cfn_lint_keyword=False))
    yield "standard", validators.StandardValidator({}, cfn=cfn, context=cfn.context)
    # as the rules extend it: a pseudo-parameter name outside a Ref (W1054) and a dynamic reference
    # are reported, on whichever branch is validated
    def raw(validator, s, instance, schema):
        yield ValidationError(f"raw pseudo-parameter {instance!r}")
    def reference(validator, s, instance, schema):
        yield ValidationError(f"dynamic reference {instance!r}")
    extended = base.extend(validators={"rawPseudoParameter": raw, "dynamicReference": reference,
                                       "dynamicReferenceSpaces": reference})({}, cfn=cfn, context=cfn.context)
    yield "extended", extended
    yield "extended, in Ref", extended.evolve(context=extended.context.evolve(path=path.descend(path="Ref")))
    # a dynamicValidation that is not cfn-lint's (and cannot be hashed): cfn-lint's if_ runs it
    class Unhashable:
        __hash__ = None
        def __call__(self, validator, dv, instance, schema):
            yield ValidationError("another dynamicValidation")
    other = base.extend(validators={"dynamicValidation": Unhashable()})({}, cfn=cfn, context=cfn.context)
    yield "another dynamicValidation", other
def errors(function, validator, if_schema, value, schema):
    try:
        found = list(function(validator, if_schema, value, {"if": if_schema, **schema}))
    except Exception as exc:
        return ["raised", type(exc).__name__, str(exc)]
    return [[e.message, list(map(str, e.path)), list(map(str, e.schema_path)), str(e.validator), repr(e.instance),
             bool(getattr(e, "unknown", False))] for e in found]
differ, compared, branches, answered = [], 0, set(), 0
for tname, cfn in templates.items():
    for vname, validator in variants(cfn):
        for if_schema in ifs:
            for schema in schemas:
                for value in values:
                    ours, theirs = errors(new, validator, if_schema, value, schema), errors(old, validator, if_schema, value, schema)
                    compared += 1
                    branches.add(json.dumps(theirs)[:40])
                    answered += answered_alone(new, validator, if_schema, value, schema)
                    if ours != theirs:
                        differ.append([tname, vname, if_schema, schema, repr(value), ours, theirs])
print(json.dumps({"applied": getattr(new, "_manifestc_transform_if", False), "compared": compared, "differ": differ[:5],
                  "ndiffer": len(differ), "outcomes": len(branches), "answered": answered}))
"""
)


def test_transform_if_answers_as_cfn_lint_does():
    # lint_speedups 13. against cfn-lint's `if` keyword: templates with and without the transform,
    # validators at several paths and with other filters, the transform `if` and other `if`s,
    # with both, one or no branch, on strings (pseudo-parameters, dynamic references) and others
    _assert_same_answers(_TRANSFORM_IF, outcomes=20, answered=1000)  # both branches, errors and none, fallbacks


def _assert_same_answers(script: str, outcomes: int, answered: int) -> None:
    """Runs a comparison script (ours vs cfn-lint's keyword on every case) in a fresh process."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    assert found["applied"] and found["compared"] > 5000
    assert found["differ"] == [] and found["ndiffer"] == 0
    assert found["outcomes"] > outcomes
    assert found["answered"] >= answered  # the short cut was taken, not only the fallback


def test_transform_if_is_not_applied_to_other_code():
    script = (
        "from manifestc import lint_speedups\n"
        "lint_speedups._SOURCE_DIGESTS['cfnlint.jsonschema._keywords.if_'] = '0' * 64\n"
        "assert lint_speedups.apply()\n"
        "import cfnlint.jsonschema._keywords as k, cfnlint.jsonschema.validators as v\n"
        "print(hasattr(k.if_, '_manifestc_transform_if'), v._standard_validators['if'] is k.if_)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


_KNOWN_REFS = (
    _ANSWERED_ALONE
    + """
import json
from manifestc import lint
rules = lint._rules()
from cfnlint.decode.mark import Mark
from cfnlint.decode.node import str_node
from cfnlint.template import Template
import cfnlint.jsonschema._keywords_cfn as keywords_cfn
import cfnlint.jsonschema.validators as validators
from cfnlint.jsonschema import ValidationError
new = keywords_cfn.dynamicValidation
old = new.__wrapped__
body = {"Parameters": {"P": {"Type": "String"}, "Env": {"Type": "String", "AllowedValues": ["a", "b"]}},
        "Conditions": {"C": {"Fn::Equals": [{"Ref": "Env"}, "a"]}},
        "Resources": {"B": {"Type": "AWS::S3::Bucket"}, "Q": {"Type": "AWS::SQS::Queue"}}}
templates = {
    "plain": Template("t.yaml", body, ["us-east-1"]),
    "module": Template("t.yaml", {**body, "Resources": {**body["Resources"], "M": {"Type": "My::Org::Thing::MODULE"}}}, ["us-east-1"]),
    "serverless": Template("t.yaml", {**body, "Resources": {**body["Resources"], "F": {"Type": "AWS::Serverless::Function"}}}, ["us-east-1"]),
}
values = ["P", "Env", "B", "Q", "M", "F", "Mx", "AWS::Region", "AWS::NoValue", "AWS::NotificationARNs", "Var", "C", "nope", "",
          "p", "true", "{{resolve:ssm:/x}}", "{{ resolve:ssm:/x}}", str_node("B", Mark(), Mark()), str_node("AWS::AccountId", Mark(), Mark()),
          1, True, None, ["B"], {"Ref": "B"}]
checks = [{"context": "refs"}, {"context": "conditions"}, {"context": "mappings"}, {"context": "refs", "transformCheck": "X"},
          {"transformCheck": "AWS::LanguageExtensions"}, {"pathCheck": "Resources"}, {}]
def failing_enum(validator, enums, instance, schema):
    yield ValidationError("never a member")
class Unhashable:
    __hash__ = None
    def __call__(self, validator, enums, instance, schema):
        yield ValidationError("never a member (unhashable)")
class StandInW2030:  # E3030 hands a value from Parameters to its W2030 child, whatever it is
    id = "W2030"
    def enum(self, validator, enums, instance, schema):
        yield ValidationError("stand-in child")
def variants(cfn):
    base = validators.CfnTemplateValidator({}, cfn=cfn, context=cfn.context)
    off = base.evolve(function_filter=base.function_filter.evolve(add_cfn_lint_keyword=False))
    path = base.context.path
    yield "plain (cfn-lint keyword on)", base
    yield "keyword off", off
    yield "keyword off, in Ref", off.evolve(context=off.context.evolve(path=path.descend(path="Ref")))
    yield "no dynamic references", off.evolve(function_filter=off.function_filter.evolve(validate_dynamic_references=False))
    yield "Sub variable", off.evolve(context=off.context.evolve(ref_values={"Var": "x"}))
    for rule_id in ("E3030", "W2030"):
        extended = off.extend(validators={"enum": rules[rule_id].enum})({}, cfn=cfn, context=cfn.context)
        extended = extended.evolve(function_filter=off.function_filter)
        yield f"{rule_id} enum", extended
        yield f"{rule_id} enum, value from Parameters", extended.evolve(context=extended.context.evolve(
            path=path.evolve(value_path=path.value_path + __import__("collections").deque(["Parameters", "Env", "Default"]))))
    failing = off.extend(validators={"enum": failing_enum})({}, cfn=cfn, context=cfn.context)
    yield "an enum that fails members", failing.evolve(function_filter=off.function_filter)
    unhashable = off.extend(validators={"enum": Unhashable()})({}, cfn=cfn, context=cfn.context)
    yield "an unhashable enum that fails members", unhashable.evolve(function_filter=off.function_filter)
    # as the rules extend it: the cfn-lint keyword runs child rules, a pseudo-parameter name outside
    # a Ref and a dynamic reference are reported
    def reported(what):
        def keyword(validator, s, instance, schema):
            yield ValidationError(f"{what} {instance!r}")
        return keyword
    reporting = base.extend(validators={"cfnLint": reported("child rule"), "rawPseudoParameter": reported("raw"),
                                        "dynamicReference": reported("reference"),
                                        "dynamicReferenceSpaces": reported("reference")})({}, cfn=cfn, context=cfn.context)
    yield "rules' keywords", reporting
    reporting_off = reporting.evolve(function_filter=off.function_filter)
    yield "rules' keywords, keyword off", reporting_off
    yield "rules' keywords, keyword off, in Ref", reporting_off.evolve(context=reporting_off.context.evolve(path=path.descend(path="Ref")))
    # names no template can declare, which only a Fn::Sub variable map could hold
    odd = {"{{resolve:ssm:/x}}": "x", "{{ resolve:ssm:/x}}": "y"}
    yield "rules' keywords, odd Sub variables", reporting_off.evolve(context=reporting_off.context.evolve(ref_values=odd))
def errors(function, validator, dv, value):
    try:
        found = list(function(validator, dv, value, {"dynamicValidation": dv}))
    except Exception as exc:
        return ["raised", type(exc).__name__, str(exc)]
    return [[e.message, list(map(str, e.path)), list(map(str, e.schema_path)), str(e.validator), repr(e.instance),
             bool(getattr(e, "unknown", False)), getattr(getattr(e, "rule", None), "id", None)] for e in found]
differ, compared, outcomes, answered = [], 0, set(), 0
e3030 = rules["E3030"]
for child in (e3030.child_rules.get("W2030"), StandInW2030()):
    e3030.child_rules["W2030"] = child
    for tname, cfn in templates.items():
        for vname, validator in variants(cfn):
            for dv in checks:
                for value in values:
                    ours, theirs = errors(new, validator, dv, value), errors(old, validator, dv, value)
                    compared += 1
                    outcomes.add(json.dumps(theirs)[:60])
                    answered += answered_alone(new, validator, dv, value)
                    if ours != theirs:
                        differ.append([tname, vname, dv, repr(value), ours, theirs])
print(json.dumps({"applied": getattr(new, "_manifestc_known_refs", False), "compared": compared, "differ": differ[:5],
                  "ndiffer": len(differ), "outcomes": len(outcomes), "answered": answered}))
"""
)


def test_known_refs_answer_as_cfn_lint_does():
    # lint_speedups 14. against cfn-lint's dynamicValidation: templates with and without module
    # resources, every kind of name and other values, validators with and without the cfn-lint
    # keyword, in and out of a Ref, with the rules' enum (also on a parameter's value), with an
    # enum that fails members, and the other dynamicValidation checks
    _assert_same_answers(_KNOWN_REFS, outcomes=50, answered=300)


def test_known_refs_is_not_applied_to_other_code():
    script = (
        "from manifestc import lint_speedups\n"
        "lint_speedups._SOURCE_DIGESTS['cfnlint.context.context.Context.refs'] = '0' * 64\n"
        "assert lint_speedups.apply()\n"
        "import cfnlint.jsonschema._keywords_cfn as k, cfnlint.jsonschema._keywords as kw\n"
        "print(hasattr(k.dynamicValidation, '_manifestc_known_refs'), k.cfn_validators['dynamicValidation'] is k.dynamicValidation,"
        " kw.if_._manifestc_transform_if)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]


def test_string_equal_and_inline_types_answer_as_cfn_lint_does():
    # lint_speedups 10. and 11. against cfn-lint's own functions on every pair of these values
    done = subprocess.run([sys.executable, "-c", _EQUAL_AND_TYPES], capture_output=True, text=True, check=True)
    found = json.loads(done.stdout)
    assert found["pairs"] > 1000
    assert found["equal"] == [] and found["is_type"] == [] and found["unknown"] == "UnknownType"
