"""Inputs a fuzzing campaign found crashing the compiler; each now gives a located diagnostic.

Each case goes through the real CLI (click's runner, exceptions not swallowed) and must end
with exit 1 and a `file:line:col: error[MCxxx]` line at the right place: never exit 2
("internal error") or a traceback.
"""

from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner
from conftest import MINIMAL, ROOT
from manifestc.cli import cli
from manifestc.load import MAX_ALIAS_NODES, load_bytes

LOCATED = re.compile(r"^(?P<file>\S+):(?P<line>\d+):(?P<col>\d+): error\[(?P<code>MC\d{3})\]", re.M)


def run(tmp_path, text: str | bytes, *args: str):
    path = tmp_path / "manifest.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return CliRunner().invoke(cli, [*args, str(path)], catch_exceptions=False)


def located(output: str) -> list[tuple[str, int, int]]:
    return [(m["code"], int(m["line"]), int(m["col"])) for m in LOCATED.finditer(output)]


def test_control_character_is_located(tmp_path):
    result = run(tmp_path, MINIMAL.replace("team: platform", "team: plat\x01form"), "validate")
    assert result.exit_code == 1, result.output
    assert located(result.output) == [("MC012", 3, 11)]
    assert "U+0001" in result.output


@pytest.mark.parametrize("rule_name", ["type", "allowed", "schema", "regex"])
def test_list_field_given_a_mapping_named_like_a_cerberus_rule(tmp_path, rule_name):
    result = run(tmp_path, MINIMAL + f"quality_gates: {{{rule_name}: lint}}\n", "validate")
    assert result.exit_code == 1, result.output
    assert located(result.output) == [("MC102", 12, 16)]
    assert "expected a list, got a mapping" in result.output


def test_non_text_keys_beside_another_schema_error(tmp_path):
    text = "~: 1\n1.5: x\nyes: 2\n" + MINIMAL + "quality_gates: [lint, nope]\n"
    result = run(tmp_path, text, "validate")
    assert result.exit_code == 1, result.output
    found = located(result.output)
    assert ("MC109", 1, 1) in found and ("MC109", 2, 1) in found and ("MC109", 3, 1) in found
    assert ("MC104", 15, 23) in found  # the other error is still reported in the same run


def test_non_text_keys_deep_in_the_document(tmp_path):
    text = MINIMAL.replace("  repository: demo-service", "  repository: demo-service\n  2: x")
    result = run(tmp_path, text, "validate")
    assert result.exit_code == 1
    assert located(result.output) == [("MC109", 7, 3)]


def _glue_chain(count: int) -> dict:
    document = yaml.safe_load((ROOT / "manifests" / "glue-etl.yaml").read_text())
    # declared downstream-first: job i runs after job i+1, so the search descends the whole chain
    document["glue"]["jobs"] = [
        {"name": f"j{i}", "script": "etl/a.py", **({"after": [f"j{i + 1}"]} if i < count - 1 else {})}
        for i in range(count)
    ]
    document["glue"]["crawlers"] = document["glue"]["crawlers"][:1]
    return document


def test_thousand_job_glue_chain_has_no_recursion_limit(tmp_path):
    text = yaml.safe_dump(_glue_chain(1000))
    result = run(tmp_path, text, "validate")
    assert "internal error" not in result.output
    assert "RecursionError" not in result.output
    # a thousand jobs cannot be one CloudFormation stack: a located error from validate, not MC301
    line = text.splitlines().index("  jobs:") + 1
    assert located(result.output) == [("MC290", line, 3)]
    assert result.exit_code == 1
    built = run(tmp_path, text, "build", "--no-lint", "--out", str(tmp_path / "out"))
    assert built.exit_code == 1 and "MC301" not in built.output


def test_long_glue_cycle_is_found_iteratively(tmp_path):
    document = _glue_chain(1500)
    document["glue"]["jobs"][-1]["after"] = ["j0"]  # close the chain into one long cycle
    result = run(tmp_path, yaml.safe_dump(document), "validate")
    assert result.exit_code == 1, result.output[-500:]
    assert [c for c, _, _ in located(result.output)].count("MC220") == 1
    assert "the workflow has a cycle: j0 → j1499 → j1498" in result.output


def test_non_ascii_portfolio_name_builds(tmp_path):
    document = yaml.safe_load((ROOT / "manifests" / "catalog-product.yaml").read_text())
    document["catalog"]["portfolio"] = "Plattform-Pipelines für Teams チーム"
    result = run(tmp_path, yaml.safe_dump(document, allow_unicode=True), "build", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    template = yaml.safe_load((tmp_path / "out" / "python-service-pipeline" / "catalog.yaml").read_text())
    ids = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::ServiceCatalog::Portfolio"]
    assert len(ids) == 1 and ids[0].isascii() and ids[0].isalnum(), ids
    assert template["Resources"][ids[0]]["Properties"]["DisplayName"] == "Plattform-Pipelines für Teams チーム"


@pytest.mark.parametrize("host", ["github-enterprise", "gitlab-self-managed"])
def test_feature_branches_on_self_hosted_git_is_a_located_error(tmp_path, host):
    text = (ROOT / "manifests" / "feature-branches.yaml").read_text()
    text = text.replace("  provider: codestar\n", f"  provider: codestar\n  host: {host}\n")
    result = run(tmp_path, text, "build", "--no-lint", "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    line = text.splitlines().index("  feature_branches:") + 1
    assert located(result.output) == [("MC296", line + 1, 5)]  # the feature_branches mapping


@pytest.mark.parametrize("host", ["github-enterprise", "gitlab-self-managed"])
def test_self_hosted_git_without_feature_branches_builds(tmp_path, host):
    text = (ROOT / "manifests" / "feature-branches.yaml").read_text()
    text = text.replace("  provider: codestar\n", f"  provider: codestar\n  host: {host}\n")
    text = re.sub(r"  feature_branches:\n(    .*\n)+", "", text)
    result = run(tmp_path, text, "build", "--no-lint", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: !custom {a: 1}\n", ("MC011", 1, 7)),
        ("name: !custom [a]\n", ("MC011", 1, 7)),
        ("name: !!set {a, b}\n", ("MC011", 1, 7)),
        ("name: !!omap [a: 1]\n", ("MC011", 1, 7)),
        ("!custom name: x\n", ("MC011", 1, 1)),
    ],
)
def test_tags_on_collections_and_keys_are_rejected(text, expected):
    result = load_bytes(text.encode(), "m.yaml")
    assert result.data is None
    assert [(d.code, d.line, d.col) for d in result.diagnostics] == [expected]


def test_standard_collection_tags_are_plain_yaml():
    result = load_bytes(b"a: !!map {x: 1}\nb: !!seq [1]\n", "m.yaml")
    assert result.data == {"a": {"x": 1}, "b": [1]} and not result.diagnostics


def test_many_plain_items_are_not_an_alias_bomb():
    text = "items:\n" + "".join(f"  - {{n: {i}}}\n" for i in range(10_000))
    result = load_bytes(text.encode(), "m.yaml")
    assert not result.diagnostics
    assert len(result.data["items"]) == 10_000


def test_alias_expansion_is_measured_apart_from_size():
    # few nodes as written, many once the aliases are expanded
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 6):
        prev, cur = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{cur}: &{cur} [{', '.join('*' + prev for _ in range(10))}]")
    result = load_bytes(("\n".join(lines) + "\n").encode(), "m.yaml")
    assert [d.code for d in result.diagnostics] == ["MC009"]
    assert "aliases expand" in result.diagnostics[0].message
    assert f"{MAX_ALIAS_NODES:,}" in result.diagnostics[0].message


def test_a_few_aliases_are_fine():
    result = load_bytes(b"a: &a {x: 1}\nb: *a\nc: [*a, *a]\n", "m.yaml")
    assert result.data == {"a": {"x": 1}, "b": {"x": 1}, "c": [{"x": 1}, {"x": 1}]}


def test_glue_resource_bound_is_exact_at_the_quota(tmp_path):
    """The largest chain validate accepts emits (499 resources), one more job is MC290: no
    size between them reaches troposphere's limit as an internal error."""
    from manifestc.api import compile_manifest

    for count, code in ((246, None), (247, "MC290")):
        path = tmp_path / f"chain{count}.yaml"
        path.write_text(yaml.safe_dump(_glue_chain(count)))
        result = compile_manifest(path, lint=False)
        errors = [d.code for d in result.diagnostics if d.is_error]
        assert errors == ([code] if code else []), errors
        if code is None:
            assert len(result.templates["glue.yaml"]["Resources"]) <= 500
