"""Build shapes beyond one Linux build with one artifact (README "Build shapes"): report groups
of the build itself, Windows images, secondary artifacts, heterogeneous batches and images per
test suite. Cross-field rules and derivations; MC370-MC379 (errors), MC691-MC693 (warnings).

Called from `semantics.build_model` once the build and the suites are read; each function takes
the checker (`semantics._Checker`: `doc`, `error`, `warn`) and returns the refined records.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import aws
from .diagnostics import Path
from .model import Build, Target, TestSuite
from .schemas_data import images


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


def _default_image(os_name: str) -> str:
    """The first image of schemas/images.yaml for `os_name`."""
    return next(name for name, spec in images().items() if spec.get("os", "linux") == os_name)


def build_platform(check: Any, build: Build, preset: dict[str, Any], targets: tuple[Target, ...], gates: int) -> Build:
    """build.os / build.fleet: a Windows Server Core container (MC371 for what cannot run there,
    MC691/MC692 warnings), and the fleet the build runs on."""
    doc, raw = check.doc, check.doc["build"]
    os_name = raw["os"]
    shipped = images().get(build.image) or {}
    image_os = shipped.get("os", "linux")
    if os_name == "linux":
        if image_os != "linux":
            check.error(
                "MC371",
                f"image `{build.image}` is a Windows Server image, but build.os is linux",
                ("build", "image"),
                hint=f"set build.os: {image_os}",
            )
        return dataclasses.replace(build, fleet=raw["fleet"])
    where = ("build", "os")
    problems: list[tuple[Path, str, str]] = []
    if raw["arch"] != "x86_64":
        problems.append((("build", "arch"), "Windows containers are x86_64 only", "drop build.arch"))
    compute_type = aws.WINDOWS_COMPUTE_TYPES.get(raw["compute"])
    if compute_type is None:
        sizes = ", ".join(aws.WINDOWS_COMPUTE_TYPES)
        problems.append(
            (("build", "compute"), f"compute `{raw['compute']}` is not offered for Windows", f"use {sizes}")
        )
    image = raw["image"] or _default_image(os_name)
    if raw["image"] and shipped and image_os != os_name:  # a custom image is the user's business
        problems.append(
            (("build", "image"), f"image `{image}` is not a {os_name} image", "drop build.image for the default")
        )
    if os_name in aws.WINDOWS_NEEDS_FLEET and raw["fleet"] is None:
        problems.append(
            (
                where,
                f"{aws.WINDOWS_ENVIRONMENTS[os_name]} has no on-demand compute: it runs only on a reserved-capacity fleet",
                "set build.fleet to the fleet's ARN, or use windows-2019",
            )
        )
    if raw["privileged"]:
        problems.append(
            (("build", "privileged"), "image builds (privileged docker) are Linux-only here", "drop privileged")
        )
    if build.image_repository:
        problems.append(
            (
                ("build",),
                f"the build would push an image to `{build.image_repository}` with bash and docker commands",
                "build the image in a Linux pipeline",
            )
        )
    if raw["cache"] != "none" and raw["buildspec"] is None:
        problems.append(
            (
                ("build", "cache"),
                "the preset's cache paths are Linux paths",
                "drop cache, or use build.buildspec with your own `cache: paths`",
            )
        )
    for index, target in enumerate(targets):
        if target.packaged:
            problems.append(
                (
                    ("targets", index),
                    f"target `{target.name}` is packaged with `aws cloudformation package` in bash",
                    "package the template in a Linux build, or deploy a template the build writes",
                )
            )
        if target.type == "commands" and target.image is None:
            problems.append(
                (
                    ("targets", index, "commands"),
                    f"commands target `{target.name}` would run its bash commands on the Windows build image",
                    "give the target its own (Linux) `image`",
                )
            )
    gate_platform = None
    if gates:
        linux_image = (preset.get("images") or {}).get("x86_64")
        if linux_image is None:
            problems.append(
                (
                    ("quality_gates",),
                    "quality gates run on Linux, and without a `language` there is no Linux image for them",
                    "set `language`, or drop quality_gates",
                )
            )
        else:
            size = compute_type or "BUILD_GENERAL1_MEDIUM"
            runtime = doc["runtime"] or preset.get("default_runtime")
            gate_platform = (linux_image, "LINUX_CONTAINER", size, preset.get("runtime_key"), runtime)
    for path, reason, hint in problems:
        check.error("MC371", f"build.os {os_name}: {reason}", path, hint=hint)
    if doc["language"] not in (None, "dotnet") and not raw["buildspec"]:
        check.warn(
            "MC691",
            f"the {doc['language']} preset's commands are written for bash on Linux; on {os_name} they run in PowerShell",
            ("language",),
            hint="give build.install/pre_build/commands (and the suites' commands) in PowerShell, or use build.buildspec",
        )
    if doc["runtime"] is not None:
        check.warn(
            "MC692",
            f"runtime {doc['runtime']} is not pinned on {os_name}: Windows images get no `runtime-versions`, "
            "the image's installed SDKs are used",
            ("runtime",),
            hint="drop `runtime`, or install the version in build.install",
        )
    return dataclasses.replace(
        build,
        os=os_name,
        fleet=raw["fleet"],
        image=image,
        environment_type=aws.WINDOWS_ENVIRONMENTS[os_name],
        compute_type=compute_type or build.compute_type,
        runtime_key=None,
        runtime=None,
        cache_paths=(),
        gate_platform=gate_platform,
    )
