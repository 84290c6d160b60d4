"""`manifestc graph`: stages in order, parallel actions side by side, approvals, regions,
accounts and the Glue DAG, in Mermaid and DOT; every edge joins declared nodes."""

from __future__ import annotations

import re

from click.testing import CliRunner
from conftest import ROOT
from manifestc.cli import cli


def graph(name: str, fmt: str) -> str:
    result = CliRunner().invoke(cli, ["graph", "--format", fmt, str(ROOT / "manifests" / name)])
    assert result.exit_code == 0, result.output
    return result.output


def test_mermaid_multi_region_with_approval():
    text = graph("multi-region.yaml", "mermaid")
    assert text.startswith("flowchart LR\n")
    nodes = dict(re.findall(r"^\s+(s\d+a\d+)[\[{]+\"?(.*?)\"?[\]}]+$", text, re.M))
    edges = re.findall(r"^\s+(s\d+a\d+) --> (s\d+a\d+)$", text, re.M)
    by_label = {label.split("<br/>")[0]: node for node, label in nodes.items()}
    approve = by_label["approve"]
    assert "{{" in text.split(approve, 1)[1].split("\n", 1)[0]  # an approval is drawn differently
    prepares = [n for label, n in by_label.items() if label.endswith("-prepare") and label.startswith("config-")]
    deploys = [n for label, n in by_label.items() if label.endswith("-deploy")]
    # the three regional prepares run in parallel before the approval, the deploys after it
    assert {(p, approve) for p in prepares if p.startswith("s4")} <= set(edges)
    assert {(approve, d) for d in deploys if d.startswith("s4")} <= set(edges)
    assert "CloudFormation · us-east-1" in nodes[by_label["config-us-east-1-deploy"]]
    assert all(a in nodes and b in nodes for a, b in edges)
    stage_order = re.findall(r'subgraph (s\d+)\["(.*?)"\]', text)
    assert [name for _, name in stage_order][:3] == ["Source", "UpdatePipeline", "Build"]


def test_mermaid_shows_accounts_of_environments():
    text = graph("java-two-accounts.yaml", "mermaid")
    assert re.search(r'subgraph s\d+\["staging \(account 111111111111\)"\]', text)
    assert "(account 222222222222)" in text


def test_dot_glue_dag_and_pipeline():
    text = graph("glue-etl.yaml", "dot")
    assert text.startswith('digraph "covid-etl" {') and text.count("{") == text.count("}")
    declared = set(re.findall(r'^\s+"?([\w-]+)"? \[label=', text, re.M))
    edges = re.findall(r'^\s+"?([\w-]+)"? -> "?([\w-]+)"?;$', text, re.M)
    assert ("g_case_counts", "g_denormalize") in edges and ("g_denormalize", "g_report") in edges
    assert all(a in declared and b in declared for a, b in edges)
    assert "shape=diamond" in text and 'label="Glue workflow covid19"' in text


def test_graph_of_a_bad_manifest_is_located_exit_1(tmp_path):
    bad = tmp_path / "m.yaml"
    bad.write_text("manifest: 1\nname: x\n")
    result = CliRunner().invoke(cli, ["graph", str(bad)])
    assert result.exit_code == 1 and re.search(r"m\.yaml:\d+:\d+: error\[MC", result.output)
