"""Render phase: Template -> deterministic bytes (YAML or JSON), and atomic file writes."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from troposphere import Template

# libyaml's emitter when PyYAML has it (its output is byte-identical to the pure-Python one on every
# golden and example template, tests/test_render.py; about 5x faster, the largest part of a build
# without lint), else the pure-Python one.
FAST_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(FAST_SAFE_DUMPER):
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


class TemplateSet(dict):
    """Templates as data (name -> template dict), with `yaml_sizes`: the byte size of each as
    `render(data, "yaml")` wrote it, for those a build rendered so (the quota checks read it
    instead of rendering the template a second time)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.yaml_sizes: dict[str, int] = {}


def render(data: dict[str, Any], fmt: str) -> bytes:
    """Serialise a template dict; key order is the emitters' insertion order, never sorted."""
    if fmt == "json":
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
    return text.encode("utf-8")


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (no race with threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# `.<name>.<pid>.<random>.tmp`: the writer's pid tells a later build whether the file is an
# orphan of a killed build (the pid is gone) or belongs to a build running now.
_TEMP = re.compile(r"^\..+\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp$")
_LEGACY_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
LEGACY_TEMP_AGE = 3600  # seconds: temp files of older versions (no pid) are orphans after this


def write_atomic(path: Path, content: bytes) -> None:
    """Write to a temporary file in the same directory, then rename: never a half-written file.

    The file gets the mode an ordinary `open()` would give it (0666 less the umask), not the
    0600 of `mkstemp`.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def remove_stale_temp_files(directory: Path) -> list[Path]:
    """Delete the temp files of builds that were killed before they could rename them."""
    removed = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match:
            stale = not _alive(int(match["pid"]))
        elif _LEGACY_TEMP.match(entry.name):
            try:
                stale = time.time() - entry.stat().st_mtime > LEGACY_TEMP_AGE
            except OSError:
                continue
        else:
            continue
        if stale and entry.is_file():
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed
