"""Render phase: Template -> deterministic bytes (YAML or JSON), and atomic file writes."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from troposphere import Template


class _Dumper(yaml.SafeDumper):
    """Block-style YAML; multi-line strings (buildspecs) as literal blocks; no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str):
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


_TOP_ORDER = (
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Mappings",
    "Conditions",
    "Resources",
    "Outputs",
)
_RESOURCE_ORDER = ("Type", "Condition", "DependsOn", "Metadata", "Properties", "DeletionPolicy", "UpdateReplacePolicy")


def template_dict(template: Template) -> dict[str, Any]:
    """The template as a dict in CloudFormation's customary order (Type before Properties)."""
    raw = template.to_dict()
    ordered = {key: raw[key] for key in _TOP_ORDER if key in raw}
    ordered.update({k: v for k, v in raw.items() if k not in ordered})
    if "Resources" in ordered:
        ordered["Resources"] = {
            logical_id: {
                **{k: body[k] for k in _RESOURCE_ORDER if k in body},
                **{k: v for k, v in body.items() if k not in _RESOURCE_ORDER},
            }
            for logical_id, body in ordered["Resources"].items()
        }
    return ordered


def render(data: dict[str, Any], fmt: str) -> bytes:
    """Serialise a template dict; key order is the emitters' insertion order, never sorted."""
    if fmt == "json":
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
    return text.encode("utf-8")


def write_atomic(path: Path, content: bytes) -> None:
    """Write to a temporary file in the same directory, then rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
