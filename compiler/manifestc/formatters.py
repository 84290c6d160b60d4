"""Diagnostic output formats: text (compiler style), json, sarif, github (workflow commands)."""

from __future__ import annotations

import json
from collections.abc import Callable

from . import __version__
from .diagnostics import CODES, Diagnostic, Severity


def _location(d: Diagnostic) -> str:
    if d.line:
        return f"{d.file}:{d.line}:{d.col}"
    return d.file or "manifestc"


def format_text(diagnostics: list[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        where = f"{d.dotted_path()}: " if d.path and d.code.startswith("MC") else ""
        lines.append(f"{_location(d)}: {d.severity.value}[{d.code}]: {where}{d.message}")
        if d.hint:
            lines.append(f"  hint: {d.hint}")
    return "\n".join(lines) + ("\n" if lines else "")


def _as_dict(d: Diagnostic) -> dict:
    return {
        "file": d.file,
        "line": d.line,
        "column": d.col,
        "severity": d.severity.value,
        "code": d.code,
        "path": d.dotted_path(),
        "message": d.message,
        "hint": d.hint,
    }


def format_json(diagnostics: list[Diagnostic]) -> str:
    return json.dumps({"diagnostics": [_as_dict(d) for d in diagnostics]}, indent=2) + "\n"


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def format_sarif(diagnostics: list[Diagnostic]) -> str:
    """SARIF 2.1.0, for code-scanning uploads."""
    codes = sorted({d.code for d in diagnostics})
    rules = [
        {"id": code, "shortDescription": {"text": CODES[code].title if code in CODES else f"cfn-lint {code}"}}
        for code in codes
    ]
    results = []
    for d in diagnostics:
        entry = {
            "ruleId": d.code,
            "level": _SARIF_LEVEL[d.severity],
            "message": {"text": d.message + (f" (hint: {d.hint})" if d.hint else "")},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": d.file},
                        "region": {"startLine": max(d.line, 1), "startColumn": max(d.col, 1)},
                    }
                }
            ],
        }
        results.append(entry)
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {"tool": {"driver": {"name": "manifestc", "version": __version__, "rules": rules}}, "results": results}
        ],
    }
    return json.dumps(sarif, indent=2) + "\n"


def _escape_github(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def format_github(diagnostics: list[Diagnostic]) -> str:
    """GitHub Actions workflow commands: annotations on the manifest lines."""
    kind = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    lines = []
    for d in diagnostics:
        message = f"[{d.code}] {d.message}" + (f" (hint: {d.hint})" if d.hint else "")
        lines.append(
            f"::{kind[d.severity]} file={d.file},line={max(d.line, 1)},col={max(d.col, 1)},"
            f"title={d.code}::{_escape_github(message)}"
        )
    return "\n".join(lines) + ("\n" if lines else "")


FORMATTERS: dict[str, Callable[[list[Diagnostic]], str]] = {
    "text": format_text,
    "json": format_json,
    "sarif": format_sarif,
    "github": format_github,
}
