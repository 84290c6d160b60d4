"""`manifestc diff`: what a build would change in out/, resource by resource.

Compiles in memory and compares each template with the one in out/<name>/: files added or
removed, resources added, removed or changed (with the changed properties), and which changes
make CloudFormation *replace* the resource: a changed type, or a changed property the resource
type's registry schema lists as `createOnlyProperties` ("Resource type schema", CloudFormation CLI
user guide https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html:
"createOnlyProperties ... the resource must be replaced to change them"). The schemas are the ones
cfn-lint ships (us-east-1 set).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class ResourceChange:
    logical_id: str
    type: str
    kind: str  # added | removed | changed
    properties: tuple[str, ...] = ()
    replacement: bool = False


@dataclass
class FileDiff:
    path: str  # under out/
    kind: str  # added | removed | changed
    resources: list[ResourceChange] = field(default_factory=list)


@functools.cache
def _registry() -> dict[str, str]:
    import cfnlint

    base = Path(os.path.dirname(cfnlint.__file__)) / "data" / "schemas"
    return json.loads((base / "providers" / "us-east-1.json").read_text())


@functools.cache
def create_only_properties(resource_type: str) -> frozenset[str]:
    """Top-level properties whose change replaces a resource of this type."""
    import cfnlint

    digest = _registry().get(resource_type)
    if not digest:
        return frozenset()
    path = Path(os.path.dirname(cfnlint.__file__)) / "data" / "schemas" / "resources" / f"{digest}.json"
    try:
        schema = json.loads(path.read_text())
    except (OSError, ValueError):
        return frozenset()
    return frozenset(p.split("/")[2] for p in schema.get("createOnlyProperties", []) if p.startswith("/properties/"))


def diff_templates(old: dict, new: dict) -> list[ResourceChange]:
    """Resource changes from `old` to `new` (template dicts), in logical-id order."""
    before, after = old.get("Resources", {}) or {}, new.get("Resources", {}) or {}
    changes = []
    for logical_id in sorted(set(before) | set(after)):
        a, b = before.get(logical_id), after.get(logical_id)
        if a is None:
            changes.append(ResourceChange(logical_id, b["Type"], "added"))
        elif b is None:
            changes.append(ResourceChange(logical_id, a["Type"], "removed"))
        elif a != b:
            props_a, props_b = a.get("Properties", {}) or {}, b.get("Properties", {}) or {}
            changed = sorted(k for k in set(props_a) | set(props_b) if props_a.get(k) != props_b.get(k))
            other = sorted(k for k in set(a) | set(b) if k != "Properties" and a.get(k) != b.get(k))
            replacement = a["Type"] != b["Type"] or bool(set(changed) & create_only_properties(b["Type"]))
            changes.append(ResourceChange(logical_id, b["Type"], "changed", tuple(changed + other), replacement))
    return changes


def _parse(data: bytes, name: str) -> dict:
    return json.loads(data) if name.endswith(".json") else yaml.safe_load(data)


def diff_output(result, out_dir: Path) -> list[FileDiff]:
    """What writing `result` (a CompileResult with artifacts) would change in out_dir/<name>/."""
    folder = out_dir / result.name
    diffs = []
    new_names = {a.name for a in result.artifacts}
    for artifact in result.artifacts:
        shown = f"{result.name}/{artifact.name}"
        target = folder / artifact.name
        if not target.exists():
            changes = [
                ResourceChange(k, v["Type"], "added")
                for k, v in _parse(artifact.content, artifact.name)["Resources"].items()
            ]
            diffs.append(FileDiff(shown, "added", changes))
            continue
        old_bytes = target.read_bytes()
        if old_bytes == artifact.content:
            continue
        changes = diff_templates(_parse(old_bytes, target.name) or {}, _parse(artifact.content, artifact.name))
        diffs.append(FileDiff(shown, "changed", changes))
    if folder.is_dir():
        for old in sorted(folder.iterdir()):
            if old.suffix in (".yaml", ".json") and old.name != "build.json" and old.name not in new_names:
                diffs.append(FileDiff(f"{result.name}/{old.name}", "removed"))
    return diffs


_MARK = {"added": "+", "removed": "-", "changed": "~"}


def format_diff(diffs: list[FileDiff], out_dir: str) -> str:
    lines = []
    for file_diff in diffs:
        lines.append(f"{_MARK[file_diff.kind]} {out_dir}/{file_diff.path}")
        for change in file_diff.resources:
            text = f"    {_MARK[change.kind]} {change.logical_id} ({change.type})"
            if change.properties:
                text += ": " + ", ".join(change.properties)
            if change.replacement:
                text += "  [replacement]"
            lines.append(text)
    return "\n".join(lines) + ("\n" if lines else "")


def deployed_template(stack: str, region: str | None = None, endpoint_url: str | None = None) -> dict:
    """The template a deployed stack runs (CloudFormation GetTemplate, the original stage), parsed
    with cfn-lint's decoder so short-form tags (`!Ref`) read as their long forms."""
    import boto3
    from cfnlint.decode import cfn_json, cfn_yaml

    client = boto3.client("cloudformation", region_name=region, endpoint_url=endpoint_url)
    body = client.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    if isinstance(body, dict):
        return body
    try:
        return cfn_json.loads(body)
    except ValueError:
        return cfn_yaml.loads(body)


def diff_stack(result, stack: str, template: dict) -> list[FileDiff]:
    """What deploying `result`'s pipeline template would change in the deployed `stack`."""
    artifact = next(a for a in result.artifacts if a.name.startswith("pipeline."))
    changes = diff_templates(template, _parse(artifact.content, artifact.name))
    return [FileDiff(f"{result.name}/{artifact.name} -> stack {stack}", "changed", changes)] if changes else []
