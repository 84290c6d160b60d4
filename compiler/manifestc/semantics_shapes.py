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
from .diagnostics import Path, did_you_mean
from .model import BatchBuild, Build, SuitePlatform, Target, TestSuite
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


# Artifact names the pipeline already uses (emit/codepipeline.py SOURCE, BUILD_OUTPUT, SELF_UPDATE,
# GLUE_TEMPLATE): output artifact names are unique within a pipeline (CodePipeline API Reference,
# OutputArtifact: "Output artifact names must be unique within a pipeline").
RESERVED_ARTIFACTS = ("Source", "BuildOutput", "SelfUpdate", "GlueTemplate")
# A CodeBuild build or test action has 0 to 5 output artifacts (CodePipeline User Guide, "Valid
# input and output artifacts for each action type"): the primary one and at most four more.
MAX_SECONDARY_ARTIFACTS = 4
# Targets whose deploy action (or job) reads one artifact it may choose; the others read files the
# generated buildspec writes into the primary artifact (imagedefinitions, packaged templates) or
# deploy what is not the build output (glue, invokes).
ARTIFACT_TARGETS = ("cloudformation", "s3", "commands", "lambda", "codedeploy", "elasticbeanstalk")


def build_artifacts(check: Any, build: Build, targets: tuple[Target, ...]) -> tuple[Build, tuple[Target, ...]]:
    """build.secondary_artifacts and targets[].build_artifact (MC372, MC373)."""
    raw = check.doc["build"]
    entries = raw["secondary_artifacts"]
    own_file = raw["buildspec"] is not None
    names: list[str] = []
    for index, entry in enumerate(entries):
        path = ("build", "secondary_artifacts", index)
        name = entry["name"]
        if name in names or name.lower() in (r.lower() for r in RESERVED_ARTIFACTS):
            taken = "another entry" if name in names else "the pipeline's own artifacts"
            check.error("MC372", f"artifact name `{name}` is taken by {taken}", (*path, "name"), hint="rename it")
        names.append(name)
        if entry["files"] is None and not own_file:
            check.error(
                "MC372",
                f"secondary artifact `{name}` needs `files` (the generated buildspec writes its secondary-artifacts)",
                path,
                hint="add files: [<globs>]",
            )
        if own_file and (entry["files"] is not None or entry["base_directory"] is not None):
            check.error(
                "MC372",
                f"secondary artifact `{name}`: with build.buildspec the file's `secondary-artifacts` section "
                "holds its files",
                path,
                hint=f"give only the name, and `secondary-artifacts: {name}:` in {raw['buildspec']}",
            )
    if len(entries) > MAX_SECONDARY_ARTIFACTS:
        check.error(
            "MC372",
            f"{len(entries)} secondary artifacts; a CodeBuild action has at most 5 output artifacts "
            f"(the primary and {MAX_SECONDARY_ARTIFACTS} more)",
            ("build", "secondary_artifacts"),
        )
    if entries and (raw["matrix"] is not None or raw.get("batch")):
        field = "matrix" if raw["matrix"] is not None else "batch"
        check.error(
            "MC372",
            f"build.secondary_artifacts cannot be combined with build.{field}: a batch build's artifacts are "
            "combined into the one primary artifact (CombineArtifacts)",
            ("build", "secondary_artifacts"),
            hint=f"drop build.{field}, or write every output into the primary artifact",
        )
    chosen: dict[str, str] = {}
    for index, target in enumerate(check.doc["targets"]):
        name = target.get("build_artifact")
        if name is None:
            continue
        path = ("targets", index, "build_artifact")
        kind = target.get("type")
        packaged = target.get("package") is True or (kind == "lambda" and target.get("template"))
        if kind not in ARTIFACT_TARGETS or packaged or (kind == "lambda" and target.get("package") == "image"):
            check.error(
                "MC373",
                f"a {kind} target{' packaged by the build' if packaged else ''} deploys from the primary "
                "build artifact (the generated buildspec writes its files there)",
                path,
                hint="drop build_artifact",
            )
            continue
        if name not in names:
            listing = ", ".join(names) or "none are defined"
            check.error(
                "MC373",
                f"unknown build artifact `{name}`; build.secondary_artifacts: {listing}",
                path,
                hint=did_you_mean(name, names, "add it to build.secondary_artifacts"),
            )
            continue
        chosen[target["name"]] = name
    build = dataclasses.replace(
        build,
        secondary_artifacts=tuple(
            (e["name"], tuple(e["files"] or ()), e["base_directory"]) for e in entries if e["name"] in names
        ),
    )
    targets = tuple(dataclasses.replace(t, build_artifact=chosen.get(t.name)) for t in targets)
    return build, targets


def _private_ecr(image: str) -> bool:
    return ".dkr.ecr." in image


def build_batch(check: Any, build: Build, preset: dict[str, Any]) -> Build:
    """build.batch: a heterogeneous CodeBuild batch (MC374; MC693 warns when the generated
    buildspec's runtime-versions meets an image that has no such runtimes)."""
    raw = check.doc["build"]
    entries = raw["batch"]
    if not entries:
        return build
    where = ("build", "batch")
    for field, reason in (
        ("matrix", "a batch is either a matrix or a list of builds"),
        ("buildspec", "the buildspec file's own `batch` section would define the batch"),
    ):
        if raw[field] is not None:
            check.error("MC374", f"build.batch cannot be combined with build.{field}: {reason}", where)
    if build.windows:
        check.error("MC374", "build.batch builds are Linux builds; a Windows build (build.os) has none", where)
        return build
    if raw["exports"]:
        check.error(
            "MC374",
            "build.exports with build.batch: each build of the batch has its own values, so the action exports none",
            ("build", "exports"),
            hint="drop exports, or build without a batch",
        )
    if len(entries) > aws.MAX_BATCH_BUILDS:
        check.error("MC374", f"{len(entries)} builds; a CodeBuild batch runs at most {aws.MAX_BATCH_BUILDS}", where)
    names = [e["name"] for e in entries]
    out = []
    for index, entry in enumerate(entries):
        path = (*where, index)
        name = entry["name"]
        if names.index(name) != index:
            check.error("MC374", f"duplicate batch build `{name}`", (*path, "name"))
        arch = entry["arch"] or raw["arch"]
        size = entry["compute"] or raw["compute"]
        types = aws.COMPUTE_TYPES.get((size, arch))
        if types is None:
            sizes = ", ".join(sorted(s for s, a in aws.COMPUTE_TYPES if a == arch))
            check.error("MC374", f"compute `{size}` is not available on {arch}; on {arch}: {sizes}", (*path, "compute"))
            continue
        default_image = build.image if arch == raw["arch"] else (preset.get("images") or {}).get(arch)
        image = entry["image"] or default_image
        if image is None:
            check.error("MC374", f"batch build `{name}` needs an `image` for {arch}", path)
            continue
        shipped = images().get(image)
        if shipped is not None and (shipped["arch"] != arch or shipped.get("os", "linux") != "linux"):
            check.error(
                "MC374",
                f"image `{image}` is for {shipped.get('os', 'linux')} {shipped['arch']}, "
                f"but batch build `{name}` is linux {arch}",
                (*path, "image" if entry["image"] else "arch"),
            )
        if _private_ecr(image) and image != build.image:
            check.error(
                "MC374",
                f"batch build `{name}` pulls a private ECR image; the project pulls only build.image with its role",
                (*path, "image"),
                hint="use a curated or public image here, or make it build.image",
            )
        for other in entry["depends_on"]:
            if other not in names or other == name:
                check.error(
                    "MC374",
                    f"batch build `{name}` depends on `{other}`, "
                    + ("itself" if other == name else "which is not a build of the batch"),
                    (*path, "depends_on"),
                    hint=did_you_mean(other, [n for n in names if n != name]),
                )
        runtime_versions = build.runtime_key and build.runtime and not entry["buildspec"]
        if runtime_versions and (shipped is None or shipped.get("runtimes") is None):
            check.warn(
                "MC693",
                f"the generated buildspec pins {build.runtime_key} {build.runtime} (runtime-versions), which "
                f"image `{image}` may not offer (only curated images have runtimes)",
                (*path, "image" if entry["image"] else "arch"),
                hint="give this build its own `buildspec`, or a curated image",
            )
        out.append(
            BatchBuild(
                name=name,
                image=image,
                environment_type=types[0],
                compute_type=types[1],
                buildspec=entry["buildspec"],
                env=tuple(sorted(entry["env"].items())),
                depends_on=tuple(entry["depends_on"]),
                ignore_failure=entry["ignore_failure"],
            )
        )
    graph: dict[str, list[str]] = {}
    for entry in entries:  # a duplicate name's dependencies count too
        graph.setdefault(entry["name"], []).extend(entry["depends_on"])
    cycle = _cycle(graph)
    if cycle:
        check.error("MC374", f"batch builds depend on each other in a cycle: {' -> '.join(cycle)}", where)
    return dataclasses.replace(build, batch=tuple(out))


def _cycle(graph: dict[str, list[str]]) -> list[str]:
    """One dependency cycle of `graph` (closed: first == last), or []."""
    state: dict[str, int] = {}
    for start in graph:
        stack = [(start, iter(graph.get(start, ())))]
        trail = [start]
        state[start] = state.get(start, 0) or 1
        if state[start] == 2:
            continue
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                trail.pop()
                continue
            if child not in graph or state.get(child) == 2:
                continue
            if state.get(child) == 1:
                return trail[trail.index(child) :] + [child]
            state[child] = 1
            trail.append(child)
            stack.append((child, iter(graph[child])))
    return []


def suite_platforms(
    check: Any, build: Build, tests: tuple[TestSuite, ...], preset: dict[str, Any]
) -> tuple[TestSuite, ...]:
    """tests[].image / compute / arch: a suite's own image and size (MC375)."""
    doc, raw_build = check.doc, check.doc["build"]
    out = list(tests)  # index for index: a suite with a mistake stays as it was (the compile fails)
    for index, suite in enumerate(tests):
        raw = doc["tests"][index]
        path = ("tests", index)
        if raw["image"] is None and raw["compute"] is None and raw["arch"] is None:
            continue
        if doc["glue"] is not None and doc["language"] == "python":
            check.error("MC375", "Glue pipelines' suites run on the Glue image", (*path, "image"), hint="drop it")
            continue
        shipped = images().get(raw["image"]) if raw["image"] else None
        arch = raw["arch"] or (shipped or {}).get("arch") or (build.arch if raw["image"] else raw_build["arch"])
        if shipped is not None and shipped["arch"] != arch:
            check.error(
                "MC375",
                f"image `{raw['image']}` is for {shipped['arch']}, but the suite's arch is {arch}",
                (*path, "arch"),
            )
            continue
        image_os = (shipped or {}).get("os", "linux") if raw["image"] else build.os
        if image_os != "linux" and image_os != build.os:
            check.error(
                "MC375",
                f"image `{raw['image']}` is a {image_os} image; a suite runs Windows only on the build's Windows platform",
                (*path, "image"),
                hint="give the suite a Linux image, or set build.os",
            )
            continue
        size = raw["compute"] or raw_build["compute"]
        if image_os != "linux":
            compute = aws.WINDOWS_COMPUTE_TYPES.get(size)
            types = (aws.WINDOWS_ENVIRONMENTS[image_os], compute) if compute else None
        else:
            types = aws.COMPUTE_TYPES.get((size, arch))
        if types is None:
            check.error(
                "MC375", f"compute `{size}` is not available for this suite ({image_os} {arch})", (*path, "compute")
            )
            continue
        image = raw["image"] or (
            build.image if (arch == build.arch and image_os == build.os) else (preset.get("images") or {}).get(arch)
        )
        if image is None:
            check.error("MC375", f"test suite `{suite.name}` needs an `image` for {arch}", path)
            continue
        shipped = images().get(image)
        runtime_key = preset.get("runtime_key")
        runtime = doc["runtime"] or preset.get("default_runtime")
        pinned = bool(runtime_key and shipped is not None and shipped.get("runtimes") is not None)
        if pinned and runtime not in [str(v) for v in shipped["runtimes"].get(runtime_key, [])]:
            check.error(
                "MC375",
                f"{runtime_key} {runtime} is not available in {image}",
                (*path, "image"),
                hint="pick another image",
            )
            continue
        out[index] = dataclasses.replace(
            suite,
            platform=SuitePlatform(
                image=image,
                environment_type=types[0],
                compute_type=types[1],
                runtime_key=runtime_key if pinned else None,
                runtime=runtime if pinned else None,
                windows=image_os != "linux",
                # a Linux suite of a Windows build: the preset's install, not the build's PowerShell one
                install=tuple(preset.get("install", [])) if image_os != build.os else None,
            ),
        )
    _check_outside_builds(check, out)
    return tuple(out)


def _check_outside_builds(check: Any, tests: list[TestSuite]) -> None:
    """MC375: feature-branch and pull-request builds run the chosen suites' commands on the build's
    image, after the build's phases, in one project; a suite with its own platform cannot be one."""
    source = check.doc["source"]
    for field in ("feature_branches", "pull_requests"):
        raw = source[field]
        if raw is None or (field == "pull_requests" and not raw["build"]):
            continue
        chosen = raw["tests"] if raw["tests"] is not None else [t.name for t in tests if t.after == "build"]
        for index, suite in enumerate(tests):
            if suite.platform is not None and suite.name in chosen:
                check.error(
                    "MC375",
                    f"test suite `{suite.name}` has its own image or size, but the {field.replace('_', '-')} build "
                    "runs the suites' commands on the build's image",
                    ("tests", index, "image"),
                    hint=f"list the other suites in source.{field}.tests",
                )
