"""Property-based fuzzing of the whole compiler (hypothesis).

Manifests are generated from the schema itself (mostly valid, so semantics and every emitter
run) and by mutating the bundled examples (structure-aware: values replaced, keys dropped or
misspelt; and text-level: characters inserted, deleted and swapped in the YAML). For every input
the CLI must either exit 0 having written complete, parseable output, or exit 1 with located
diagnostics and nothing written for the manifest: never a traceback (exit 2), a hang or a partial
file.

CI runs a bounded number of examples (`FUZZ_EXAMPLES`, default below); `bench/fuzz.py` runs the
same properties with many more, plus random bytes through the CLI in subprocesses with a timeout.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import yaml
from click.testing import CliRunner
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from manifestc.cli import cli
from manifestc.schemas_data import manifest_schema

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))  # per property: the suite stays near 30 s
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=60),  # a hang shows as a deadline failure, not a stuck suite
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    derandomize=os.environ.get("FUZZ_RANDOM") is None,  # CI: the same inputs every run
    database=None,
)
LOCATED = re.compile(r"^\S+:(\d+):(\d+): (error|warning)\[[A-Z]+\d+\]", re.M)
MANIFESTS = sorted((ROOT / "manifests").glob("*.yaml"))
DOCUMENTS = [yaml.safe_load(p.read_text()) for p in MANIFESTS]


# ---- the property -------------------------------------------------------------------------


def check_cli_contract(text: bytes) -> None:
    """Build one manifest through the CLI and check the outcome contract."""
    work = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        manifest = work / "manifest.yaml"
        manifest.write_bytes(text)
        out = work / "out"
        result = CliRunner().invoke(cli, ["build", "--no-lint", "--out", str(out), str(manifest)])
        output = result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{type(result.exception).__name__}: {result.exception}\n--- input:\n{text[:2000]!r}"
        )
        assert result.exit_code in (0, 1), f"exit {result.exit_code}\n{output}\n--- input:\n{text[:2000]!r}"
        if result.exit_code == 1:
            errors = [line for line in output.splitlines() if "error[" in line]
            assert errors, output
            for line in errors:
                match = LOCATED.match(line)
                assert match and int(match[1]) >= 1 and int(match[2]) >= 1, f"unlocated: {line}\n{text[:2000]!r}"
            written = [p for p in out.rglob("*") if p.is_file() and p.name != ".manifestc-cache.json"]
            assert not written, f"exit 1 but wrote {written}"
        else:
            check_complete_output(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_complete_output(out: Path) -> None:
    """Every file build.json lists is there, whole (its hash), and parses; nothing else is."""
    (folder,) = [p for p in out.iterdir() if p.is_dir() and p.name != "_shared"]
    record = json.loads((folder / "build.json").read_text())
    listed = {item["path"] for item in record["files"]}
    assert {p.name for p in folder.iterdir()} == listed | {"build.json"}
    for item in record["files"]:
        data = (folder / item["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"]
        template = yaml.safe_load(data)
        assert template["Resources"]
    assert not [p for p in out.rglob("*.tmp")]


# ---- manifests generated from the schema ------------------------------------------------


def _regex_strategy(pattern: str):
    try:
        return st.from_regex(pattern, fullmatch=True)
    except Exception:  # noqa: BLE001 - a construct hypothesis cannot generate from: plain text
        return st.text(min_size=1, max_size=20)


def _field(rules: dict, depth: int = 0):
    """A strategy for a value that mostly satisfies `rules` (and sometimes does not)."""
    kind = rules.get("type")
    kinds = [kind] if isinstance(kind, str) else list(kind or ["string"])
    options = []
    for k in kinds:
        if "allowed" in rules:
            options.append(st.sampled_from(rules["allowed"]))
        elif k == "string":
            strategy = _regex_strategy(rules["regex"]) if "regex" in rules else st.text(max_size=30)
            low, high = rules.get("minlength", 0), rules.get("maxlength", 10_000)
            options.append(strategy.filter(lambda s, lo=low, hi=high: lo <= len(s) <= hi))
        elif k == "integer":
            options.append(st.integers(rules.get("min", -5), rules.get("max", 10_000)))
        elif k == "boolean":
            options.append(st.booleans())
        elif k == "list":
            item = _field(rules.get("schema", {"type": "string"}), depth + 1)
            options.append(st.lists(item, min_size=rules.get("minlength", 0), max_size=3))
        elif k == "dict" and "schema" in rules and depth < 4:
            options.append(_mapping(rules["schema"], depth + 1))
        elif k == "dict":
            keys = _regex_strategy(rules.get("keysrules", {}).get("regex", "^[A-Za-z_][A-Za-z0-9_]{0,10}$"))
            options.append(st.dictionaries(keys, _field(rules.get("valuesrules", {}), depth + 1), max_size=2))
    if rules.get("nullable"):
        options.append(st.none())
    return st.one_of(options) if options else st.none()


def _mapping(schema: dict, depth: int = 0):
    required = {k: _field(r, depth) for k, r in schema.items() if r.get("required")}
    optional = {k: _field(r, depth) for k, r in schema.items() if not r.get("required")}
    return st.fixed_dictionaries(required, optional=optional)


@st.composite
def schema_manifests(draw):
    """A generated manifest, grafted onto an example so the cross-field rules often hold."""
    base = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    schema = manifest_schema()
    for key in draw(st.lists(st.sampled_from(sorted(schema)), max_size=4, unique=True)):
        base[key] = draw(_field(schema[key]))
    return yaml.safe_dump(base, sort_keys=False, allow_unicode=True).encode()


@FUZZ
@given(schema_manifests())
def test_schema_generated_manifests_keep_the_contract(text):
    check_cli_contract(text)


# ---- structure-aware mutations of the examples ------------------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["{{resolve:ssm:/x}}", "${AWS::Region}", "!Ref X", "a" * 300, "é", "\u202e", "*", "{name}"]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.sampled_from(["type", "allowed", "schema", "name", "after"]), st.text(max_size=5), max_size=2),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


@st.composite
def mutated_examples(draw):
    document = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(document) if p]
        path = draw(st.sampled_from(paths))
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "misspell", "duplicate"]))
        if action == "replace":
            parent[path[-1]] = draw(ODD_VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "misspell" and isinstance(path[-1], str):
            parent[path[-1] + draw(st.sampled_from(["s", "_", "X"]))] = parent.pop(path[-1])
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode()


@FUZZ
@given(mutated_examples())
def test_mutated_examples_keep_the_contract(text):
    check_cli_contract(text)


# ---- text-level mutations (what an editor in the middle of a keystroke produces) ------------

TEXTS = [p.read_bytes() for p in MANIFESTS]


@st.composite
def mutated_text(draw):
    data = bytearray(draw(st.sampled_from(TEXTS)))
    for _ in range(draw(st.integers(1, 5))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = draw(
            st.one_of(
                st.binary(min_size=1, max_size=3),
                st.sampled_from([b":", b"-", b" ", b"\t", b"\n", b'"', b"'", b"&a", b"*a", b"!!", b"{", b"[", b"#"]),
            )
        )
        if action == "insert":
            data[position:position] = chunk
        elif action == "delete":
            del data[position : position + len(chunk)]
        else:
            data[position : position + len(chunk)] = chunk
    return bytes(data)


@FUZZ
@given(mutated_text())
def test_mutated_text_keeps_the_contract(text):
    check_cli_contract(text)
