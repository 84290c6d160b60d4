"""Lint phase: cfn-lint through its Python API, in process; findings keep their rule ids."""

from __future__ import annotations

import functools

from .diagnostics import Diagnostic, Severity

_SEVERITY = {"error": Severity.ERROR, "warning": Severity.WARNING, "informational": Severity.INFO}


@functools.cache
def _linter():
    # Imported lazily: cfn-lint takes about half a second to import, which `validate` never pays.
    from cfnlint.api import ManualArgs, lint

    return lint, ManualArgs


def lint_template(text: str, file: str, regions: tuple[str, ...] = ("us-east-1",)) -> list[Diagnostic]:
    """Every cfn-lint finding (errors, warnings and informational) as a diagnostic on `file`."""
    try:
        lint, manual_args = _linter()
        matches = lint(text, config=manual_args(regions=list(regions), include_checks=["I"]))
    except Exception as exc:  # noqa: BLE001 - cfn-lint failing is an internal error, reported not raised
        return [Diagnostic("MC401", Severity.ERROR, f"cfn-lint failed: {exc}", file)]
    out = []
    for match in matches:
        severity = _SEVERITY.get(str(match.rule.severity).lower(), Severity.ERROR)
        # Findings in our own output are errors of ours: any cfn-lint finding fails the build.
        out.append(
            Diagnostic(
                match.rule.id,
                Severity.ERROR,
                f"{match.message} [{severity.value}]",
                file,
                match.linenumber,
                match.columnnumber,
            )
        )
    return out
