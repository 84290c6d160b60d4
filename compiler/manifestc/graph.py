"""`manifestc graph`: the pipeline as a diagram for pull requests (Mermaid or Graphviz DOT).

Read from the emitted pipeline template (so the picture is what deploys: stages in order, actions
of one stage with the same RunOrder side by side, approvals, the region of cross-region actions)
plus the model for what the template does not name plainly (an environment's account, the Glue
workflow's DAG of crawlers and jobs).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Manifest


@dataclass(frozen=True)
class Action:
    name: str
    provider: str
    run_order: int
    region: str | None


@dataclass(frozen=True)
class Stage:
    name: str
    label: str
    actions: tuple[Action, ...]


def pipeline_stages(manifest: Manifest, template: dict) -> list[Stage]:
    """The stages of the pipeline resource of `template`, labelled for a reader."""
    pipeline = next(r for r in template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline")
    accounts = {e.name: e.account for e in manifest.environments}
    stages = []
    for stage in pipeline["Properties"]["Stages"]:
        label = stage["Name"]
        if accounts.get(label):
            label += f" (account {accounts[label]})"
        actions = tuple(
            Action(a["Name"], a["ActionTypeId"]["Provider"], int(a.get("RunOrder", 1)), a.get("Region"))
            for a in stage["Actions"]
        )
        stages.append(Stage(stage["Name"], label, actions))
    return stages


def _groups(stage: Stage) -> list[list[Action]]:
    orders = sorted({a.run_order for a in stage.actions})
    return [[a for a in stage.actions if a.run_order == order] for order in orders]


def _action_label(action: Action) -> str:
    kind = "approval" if action.provider == "Manual" else action.provider
    return f"{action.name}\\n{kind}" + (f" · {action.region}" if action.region else "")


def _glue_edges(manifest: Manifest) -> list[tuple[str, str]]:
    glue = manifest.glue
    if glue is None:
        return []
    return [(upstream, name) for name, node in glue.nodes.items() for upstream in node.after]


def _glue_kind(manifest: Manifest, name: str) -> str:
    return "crawler" if any(c.name == name for c in manifest.glue.crawlers) else "job"


def _quote(text: str) -> str:
    return text.replace('"', "'")


def to_mermaid(manifest: Manifest, stages: list[Stage]) -> str:
    lines = ["flowchart LR"]
    for s_index, stage in enumerate(stages):
        lines.append(f'  subgraph s{s_index}["{_quote(stage.label)}"]')
        lines.append("    direction TB")
        for a_index, action in enumerate(stage.actions):
            label = _quote(_action_label(action)).replace("\\n", "<br/>")
            shape = ("{{", "}}") if action.provider == "Manual" else ('["', '"]')
            text = f'"{label}"' if shape[0] == "{{" else label
            lines.append(f"    s{s_index}a{a_index}{shape[0]}{text}{shape[1]}")
        ids = {id(a): f"s{s_index}a{i}" for i, a in enumerate(stage.actions)}
        groups = _groups(stage)
        for before, after in zip(groups, groups[1:], strict=False):
            for a in before:
                for b in after:
                    lines.append(f"    {ids[id(a)]} --> {ids[id(b)]}")
        lines.append("  end")
    for s_index in range(len(stages) - 1):
        lines.append(f"  s{s_index} --> s{s_index + 1}")
    edges = _glue_edges(manifest)
    if manifest.glue is not None:
        lines.append(f'  subgraph glue["Glue workflow {_quote(manifest.glue.workflow)}"]')
        for name in manifest.glue.nodes:
            lines.append(f'    g_{_node_id(name)}["{_quote(name)}<br/>{_glue_kind(manifest, name)}"]')
        for upstream, name in edges:
            lines.append(f"    g_{_node_id(upstream)} --> g_{_node_id(name)}")
        lines.append("  end")
    return "\n".join(lines) + "\n"


def to_dot(manifest: Manifest, stages: list[Stage]) -> str:
    lines = [f'digraph "{_quote(manifest.name)}" {{', "  rankdir=LR;", "  node [shape=box];"]
    previous_last: list[str] = []
    for s_index, stage in enumerate(stages):
        lines.append(f"  subgraph cluster_s{s_index} {{")
        lines.append(f'    label="{_quote(stage.label)}";')
        ids = {id(a): f"s{s_index}a{i}" for i, a in enumerate(stage.actions)}
        for action in stage.actions:
            shape = ", shape=diamond" if action.provider == "Manual" else ""
            lines.append(f'    {ids[id(action)]} [label="{_quote(_action_label(action))}"{shape}];')
        lines.append("  }")
        groups = _groups(stage)
        for before, after in zip(groups, groups[1:], strict=False):
            lines += [f"  {ids[id(a)]} -> {ids[id(b)]};" for a in before for b in after]
        if groups:
            lines += [f"  {p} -> {ids[id(b)]};" for p in previous_last for b in groups[0]]
            previous_last = [ids[id(a)] for a in groups[-1]]
    if manifest.glue is not None:
        lines.append("  subgraph cluster_glue {")
        lines.append(f'    label="Glue workflow {_quote(manifest.glue.workflow)}";')
        for name in manifest.glue.nodes:
            shape = "cylinder" if _glue_kind(manifest, name) == "crawler" else "box"
            lines.append(f'    "g_{_quote(name)}" [label="{_quote(name)}", shape={shape}];')
        lines.append("  }")
        lines += [f'  "g_{_quote(u)}" -> "g_{_quote(n)}";' for u, n in _glue_edges(manifest)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_id(name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in name)


FORMATS = {"mermaid": to_mermaid, "dot": to_dot}


def render_graph(manifest: Manifest, template: dict, fmt: str) -> str:
    """The diagram of one compiled manifest in `fmt` (a key of FORMATS)."""
    return FORMATS[fmt](manifest, pipeline_stages(manifest, template))
