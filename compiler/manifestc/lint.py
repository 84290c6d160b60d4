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


def _lint_job(job: tuple[str, str, tuple[str, ...]]) -> list[Diagnostic]:
    return lint_template(*job)


def lint_templates(jobs: list[tuple[str, str, tuple[str, ...]]]) -> list[Diagnostic]:
    """Lint several templates (text, shown file name, regions); in parallel when that pays.

    A manifest with companion templates (bootstrap, support, glue, catalog) lints them on every
    core: cfn-lint is imported once, then worker processes forked from this one inherit it.
    Never nested: inside a directory build's worker processes, templates are linted in turn.
    """
    import multiprocessing
    import os

    parallel = (
        len(jobs) > 1
        and (os.cpu_count() or 1) > 1
        and multiprocessing.current_process().name == "MainProcess"
        and "fork" in multiprocessing.get_all_start_methods()
    )
    if not parallel:
        return [d for job in jobs for d in lint_template(*job)]
    from concurrent.futures import ProcessPoolExecutor

    _linter()  # import cfn-lint before forking
    context = multiprocessing.get_context("fork")
    workers = min(os.cpu_count() or 1, len(jobs))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [d for found in pool.map(_lint_job, jobs) for d in found]
