"""Reads the data tables shipped in manifestc.schemas (the repository's schemas/ folder)."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml


@functools.cache
def _table(name: str) -> Any:
    text = resources.files("manifestc.schemas").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def manifest_schema() -> dict[str, Any]:
    """The cerberus schema of manifest v1."""
    return _table("manifest.v1.yaml")


def presets() -> dict[str, dict[str, Any]]:
    """Language presets: language -> image per arch, runtime key and default, commands, reports."""
    return _table("presets.yaml")


def images() -> dict[str, dict[str, Any]]:
    """CodeBuild curated images -> arch and the runtime versions they ship."""
    return _table("images.yaml")


def quality_gates() -> dict[str, Any]:
    """Quality gates: `tools` (pinned, with their sources) and `gates` (`defaults`, per-language)."""
    return _table("quality.yaml")
