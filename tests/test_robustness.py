"""No manifest, however wrong, makes the compiler raise: every field of the schema, set to every
wrong kind of value, gives located diagnostics (or compiles), never an exception."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import ROOT
from manifestc.api import check_manifest, compile_manifest
from manifestc.schemas_data import manifest_schema

BASE = yaml.safe_load((ROOT / "manifests" / "java-two-accounts.yaml").read_text())
BASE.update(
    yaml.safe_load("""
network: {vpc_id: vpc-0123456789abcdef0, subnets: [subnet-0aaaaaaaaaaaaaaaa, subnet-0bbbbbbbbbbbbbbbb],
          route_tables: [rtb-0cccccccccccccccc]}
glue: {workflow: wf, database: db, jobs: [{name: j, script: a.py}], crawlers: [{name: c, s3: ["s3://b/p/"]}]}
catalog: {portfolio: p, provider: q, product: r, version: 1.0.0}
""")
)
WRONG = [None, 7, "text", ["a", 1], {"k": {"n": 1}}, True]


def _paths(schema: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for key, rules in schema.items():
        path = prefix + (key,)
        out.append(path)
        inner = rules.get("schema")
        if rules.get("type") == "dict" and isinstance(inner, dict):
            out += _paths(inner, path)
        elif rules.get("type") == "list" and isinstance(inner, dict) and inner.get("type") == "dict":
            out += _paths(inner["schema"], path + (0,))
    return out


def _set(document: dict, path: tuple, value) -> bool:
    node = document
    for part in path[:-1]:
        if isinstance(part, int):
            if not isinstance(node, list) or not node:
                return False
            node = node[0]
        else:
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
    if not isinstance(node, dict):
        return False
    node[path[-1]] = value
    return True


# every schema path the base manifest reaches (children of absent optional sections are skipped)
CASES = [
    (path, value) for path in _paths(manifest_schema()) if _set(copy.deepcopy(BASE), path, None) for value in WRONG
]


@pytest.mark.parametrize("path, value", CASES, ids=lambda x: str(x)[:40])
def test_wrong_values_never_raise(tmp_path, path, value):
    document = copy.deepcopy(BASE)
    assert _set(document, path, value)
    file = tmp_path / "manifest.yaml"
    file.write_text(yaml.safe_dump(document))
    result = check_manifest(file)  # must not raise
    if result.manifest is None:
        assert any(d.is_error for d in result.diagnostics)
        assert all(d.line >= 1 for d in result.diagnostics)
    else:
        compiled = compile_manifest(file, lint=False)
        assert not [d for d in compiled.diagnostics if d.code == "MC301"], compiled.diagnostics
