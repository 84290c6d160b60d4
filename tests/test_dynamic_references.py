"""CloudFormation dynamic references (`{{resolve:...}}`) in manifest strings are MC297, located at
the string: CloudFormation would resolve them at deploy time with the deployer's credentials."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import ROOT
from manifestc.api import check_manifest, compile_manifest

BASE = yaml.safe_load((ROOT / "manifests" / "python-service.yaml").read_text())
GLUE = yaml.safe_load((ROOT / "manifests" / "glue-etl.yaml").read_text())
CATALOG = yaml.safe_load((ROOT / "manifests" / "catalog-product.yaml").read_text())

REFERENCES = [
    "{{resolve:ssm:/team/db-password}}",
    "{{resolve:ssm-secure:/team/db-password:1}}",
    "{{resolve:secretsmanager:prod/db:SecretString:password}}",
    "prefix-{{resolve:ssm:/x}}-suffix",
    "{{ resolve : ssm:/spaced}}",
    "{{RESOLVE:ssm:/upper}}",
]


def _set(document: dict, path: tuple, value) -> dict:
    document = copy.deepcopy(document)
    node = document
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[path[-1]] = value
    return document


# (base document, path, how the value is placed) for the places the issue names and more
PLACES = [
    (BASE, ("tags", "cost-center")),
    (BASE, ("description",)),
    (BASE, ("build", "env", "DB_PASSWORD")),
    (BASE, ("build", "image")),
    (BASE, ("build", "commands")),
    (BASE, ("tests", 0, "commands")),
    (BASE, ("targets", 0, "parameters", "Password")),
    (GLUE, ("glue", "jobs", 0, "script")),
    (GLUE, ("glue", "jobs", 0, "arguments", "--password")),
    (CATALOG, ("catalog", "description")),
    (CATALOG, ("catalog", "provider")),
]


def _write(tmp_path, document) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


@pytest.mark.parametrize("base, path", PLACES, ids=lambda x: ".".join(map(str, x)) if isinstance(x, tuple) else "")
def test_dynamic_reference_is_rejected_at_the_string(tmp_path, base, path):
    value = REFERENCES[0]
    if path[-1] == "commands":
        value = [f"./deploy --password '{value}'"]
    if path[-1] == "script":
        value = f"etl/{value}.py"
    file = _write(tmp_path, _set(base, path, value))
    result = check_manifest(file)
    found = [d for d in result.diagnostics if d.code == "MC297"]
    assert found, result.diagnostics
    assert result.manifest is None
    want = path + (0,) if isinstance(value, list) else path
    assert found[0].path == want
    assert found[0].line > 1


@pytest.mark.parametrize("reference", REFERENCES)
def test_every_spelling_is_caught(tmp_path, reference):
    file = _write(tmp_path, _set(BASE, ("tags", "owner"), reference))
    assert [d.code for d in check_manifest(file).diagnostics] == ["MC297"]


def test_plaintext_env_var_hint_points_to_secrets(tmp_path):
    file = _write(tmp_path, _set(BASE, ("build", "env", "TOKEN"), REFERENCES[2]))
    (diagnostic,) = check_manifest(file).diagnostics
    assert "build.secrets" in diagnostic.hint


def test_a_reference_never_reaches_a_template(tmp_path):
    file = _write(tmp_path, _set(BASE, ("description",), "Orders {{resolve:ssm:/x}}"))
    result = compile_manifest(file, lint=False)
    assert not result.artifacts and result.failed()


def test_braces_that_are_not_a_reference_are_fine(tmp_path):
    file = _write(tmp_path, _set(BASE, ("description",), "Orders {{ not a reference }} and {resolve}"))
    assert check_manifest(file).manifest is not None


def test_the_secret_fields_keep_their_own_syntax(tmp_path):
    document = _set(BASE, ("build", "secrets"), {"DB": "secretsmanager:orders/db:password", "K": "ssm:/orders/key"})
    assert check_manifest(_write(tmp_path, document)).manifest is not None
