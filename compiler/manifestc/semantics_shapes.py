"""Build shapes beyond one Linux build with one artifact (README "Build shapes"): report groups
of the build itself, Windows images, secondary artifacts, heterogeneous batches and images per
test suite. Cross-field rules and derivations; MC370-MC379 (errors), MC691-MC693 (warnings).

Called from `semantics.build_model` once the build and the suites are read; each function takes
the checker (`semantics._Checker`: `doc`, `error`, `warn`) and returns the refined records.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .model import Build, TestSuite


def build_reports(check: Any, build: Build, preset: dict[str, Any], tests: tuple[TestSuite, ...]) -> Build:
    """build.reports / report_format / coverage: report groups `<name>-build-tests` and
    `<name>-build-coverage` the build project writes to, named like the suites' groups.

    MC370: a suite named `build` would own report groups of the same names."""
    from .semantics import _coverage_format, _report_format  # shared with the suites' reports

    raw = check.doc["build"]
    reports, coverage = tuple(raw["reports"] or ()), raw["coverage"]
    if not reports and raw["report_format"] is not None:
        check.error(
            "MC370",
            "build.report_format is set but build.reports lists no report file",
            ("build", "report_format"),
            hint="add build.reports (the files the build's commands write), or drop report_format",
        )
    if reports or coverage:
        for index, suite in enumerate(tests):
            if suite.name == "build":
                check.error(
                    "MC370",
                    "test suite `build` would own the report groups of build.reports/build.coverage "
                    f"({check.doc['name']}-build-tests, {check.doc['name']}-build-coverage)",
                    ("tests", index, "name"),
                    hint="rename the suite",
                )
    return dataclasses.replace(
        build,
        reports=reports,
        report_format=(raw["report_format"] or _report_format(list(reports), preset)) if reports else None,
        coverage=coverage,
        coverage_format=_coverage_format(coverage, preset) if coverage else None,
    )
