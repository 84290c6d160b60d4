"""Semantics phase: cross-field checks and derivations on the validated document -> Manifest.

The schema checked each field alone; here are the rules that need two fields or a table:
references between lists, unique names, presets and the runtime versions an image ships,
generated name lengths, placeholder use.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from . import __version__, aws
from .diagnostics import Diagnostic, Marks, Path, at
from .model import (
    Build,
    Environment,
    Manifest,
    Regenerate,
    Secret,
    Source,
    Target,
    TestSuite,
    render_placeholders,
)
from .schemas_data import images, presets

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_PLACEHOLDERS = {"environment", "region", "name"}
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
# longest region code in use (e.g. ap-southeast-5 is 14); used to check {region} stack names
_LONGEST_REGION = "ap-southeast-5x"
SUPPORTED_TARGET_TYPES = {"cloudformation"}


class _Checker:
    def __init__(self, doc: dict[str, Any], marks: Marks, file: str):
        self.doc, self.marks, self.file = doc, marks, file
        self.diagnostics: list[Diagnostic] = []

    def error(self, code: str, message: str, path: Path, hint: str | None = None) -> None:
        self.diagnostics.append(at(code, message, path, self.file, self.marks, hint=hint))

    def unique(self, items: list[dict[str, Any]], key: str, what: str) -> None:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            name = item["name"]
            if name in seen:
                self.error("MC202", f"duplicate {what} name `{name}` (also {key}[{seen[name]}])", (key, index, "name"))
            else:
                seen[name] = index

    def reference(self, name: str, known: list[str], what: str, path: Path) -> bool:
        if name in known:
            return True
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean `{close[0]}`?" if close else None
        listing = ", ".join(known) if known else "none are defined"
        self.error("MC201", f"unknown {what} `{name}`; defined: {listing}", path, hint=hint)
        return False


def build_model(doc: dict[str, Any], marks: Marks, file: str, digest: str) -> tuple[Manifest | None, list[Diagnostic]]:
    """Check cross-field rules and build the frozen model. Returns (None, errors) on failure."""
    check = _Checker(doc, marks, file)
    build = _build(check)
    tests = _tests(check)
    targets = _targets(check)
    environments = _environments(check, [t["name"] for t in doc["targets"]])
    _check_test_stages(check, tests, environments)
    _check_names(check, doc["name"], tests)
    check.diagnostics.sort(key=lambda d: (d.line, d.col, d.code))
    if any(d.is_error for d in check.diagnostics) or build is None:
        return None, check.diagnostics
    regen = doc["regenerate"]
    manifest = Manifest(
        file=file,
        digest=digest,
        name=doc["name"],
        team=doc["team"],
        description=doc["description"],
        tags=tuple(sorted(doc["tags"].items())),
        account=doc["account"],
        region=doc["region"],
        language=doc["language"],
        source=Source(doc["source"]["provider"], doc["source"]["repository"], doc["source"]["branch"]),
        build=build,
        tests=tests,
        environments=environments,
        targets=targets,
        regenerate=Regenerate(regen["enabled"], regen["install"] or f"manifestc=={__version__}", regen["path"]),
    )
    return manifest, check.diagnostics


def _preset(check: _Checker) -> dict[str, Any] | None:
    language = check.doc["language"]
    build = check.doc["build"]
    table = presets()
    if language is None:
        if not (build["image"] and build["commands"]):
            check.error(
                "MC203",
                "`language` is required unless build.image and build.commands are both given",
                (),
                hint=f"add `language:` with one of: {', '.join(sorted(table))}",
            )
        return None
    if language not in table:
        close = difflib.get_close_matches(language, list(table), n=1)
        check.error(
            "MC204",
            f"unknown language `{language}`; presets: {', '.join(sorted(table))}",
            ("language",),
            hint=f"did you mean `{close[0]}`?" if close else None,
        )
        return None
    return table[language]


def _build(check: _Checker) -> Build | None:
    doc, raw = check.doc, check.doc["build"]
    preset = _preset(check)
    if preset is None and (doc["language"] is not None or not (raw["image"] and raw["commands"])):
        return None
    preset = preset or {}
    arch = raw["arch"]
    compute = aws.COMPUTE_TYPES.get((raw["compute"], arch))
    if compute is None:
        sizes = sorted(size for size, a in aws.COMPUTE_TYPES if a == arch)
        check.error(
            "MC211",
            f"compute `{raw['compute']}` is not available on {arch}; on {arch}: {', '.join(sizes)}",
            ("build", "compute"),
        )
        compute = ("", "")  # keep checking the rest of the build section
    image = raw["image"] or preset.get("images", {}).get(arch)
    runtime_key = preset.get("runtime_key")
    runtime = doc["runtime"] or preset.get("default_runtime")
    if image is None:
        check.error("MC211", f"the `{doc['language']}` preset has no {arch} image; set build.image", ("build", "arch"))
        return None
    shipped = images().get(image)
    if shipped is not None and shipped["arch"] != arch:
        check.error("MC211", f"image `{image}` is for {shipped['arch']}, but build.arch is {arch}", ("build", "image"))
    if runtime_key and shipped is not None:
        versions = [str(v) for v in shipped["runtimes"].get(runtime_key, [])]
        if runtime not in versions:
            path: Path = ("runtime",) if doc["runtime"] else ("language",)
            check.error(
                "MC205",
                f"{runtime_key} {runtime} is not available in {image}; available: {', '.join(versions)}",
                path,
                hint='quote versions: runtime: "3.10" (unquoted 3.10 is the number 3.1)',
            )
    secrets = tuple(_secret(name, ref) for name, ref in sorted(raw["secrets"].items()))
    clash = sorted(set(raw["env"]) & set(raw["secrets"]))
    for name in clash:
        check.error("MC202", f"`{name}` is both a plain environment variable and a secret", ("build", "secrets", name))
    privileged = raw["privileged"] if raw["privileged"] is not None else bool(preset.get("privileged", False))

    def phase(key: str, preset_key: str) -> tuple[str, ...]:
        value = raw[key]
        return tuple(value) if value is not None else tuple(preset.get(preset_key, []))

    return Build(
        compute=raw["compute"],
        arch=arch,
        environment_type=compute[0],
        compute_type=compute[1],
        image=image,
        runtime_key=runtime_key if shipped is not None else None,
        runtime=runtime if shipped is not None else None,
        install=phase("install", "install"),
        pre_build=phase("pre_build", "pre_build"),
        commands=phase("commands", "build"),
        post_build=phase("post_build", "post_build"),
        env=tuple(sorted(raw["env"].items())),
        secrets=secrets,
        artifact_files=tuple(raw["artifacts"]["files"]),
        base_directory=raw["artifacts"]["base_directory"],
        cache=raw["cache"],
        cache_paths=tuple(preset.get("cache_paths", [])),
        privileged=privileged,
        timeout=raw["timeout"],
    )


def _secret(variable: str, reference: str) -> Secret:
    store, _, rest = reference.partition(":")
    if store == "ssm":
        name = rest if rest.startswith("/") else "/" + rest
        # CodeBuild PARAMETER_STORE variables take the parameter name as written.
        return Secret(variable, "ssm", name, rest)
    secret_name = rest.split(":", 1)[0]
    # CodeBuild SECRETS_MANAGER value syntax: secret-id:json-key:version-stage:version-id
    return Secret(variable, "secretsmanager", secret_name, rest)


def _tests(check: _Checker) -> tuple[TestSuite, ...]:
    raw_tests = check.doc["tests"]
    check.unique(raw_tests, "tests", "test suite")
    preset = presets().get(check.doc["language"] or "", {})
    suites = []
    for index, raw in enumerate(raw_tests):
        name = raw["name"]
        commands = raw["commands"]
        if commands is None:
            commands = [c.replace("{suite}", name) for c in preset.get("test", [])]
            if not commands:
                check.error(
                    "MC103",
                    f"test suite `{name}` needs `commands` (no language preset gives a default)",
                    ("tests", index),
                )
        reports = raw["reports"]
        if reports is None:
            reports = [preset["report"].replace("{suite}", name)] if preset.get("report") else []
        report_format = raw["report_format"] or _report_format(reports, preset)
        coverage = raw["coverage"]
        suites.append(
            TestSuite(
                name=name,
                commands=tuple(commands),
                reports=tuple(reports),
                report_format=report_format,
                coverage=coverage,
                coverage_format=_coverage_format(coverage, preset) if coverage else None,
                after=raw["after"],
            )
        )
    return tuple(suites)


def _report_format(reports: list[str], preset: dict[str, Any]) -> str:
    for report in reports:
        for suffix, fmt in aws.REPORT_FORMAT_BY_SUFFIX.items():
            if report.lower().endswith(suffix):
                return fmt
    return preset.get("report_format", "JUNITXML")


def _coverage_format(coverage: str, preset: dict[str, Any]) -> str:
    lowered = coverage.lower()
    for needle, fmt in aws.COVERAGE_FORMAT_BY_NAME.items():
        if needle in lowered:
            return fmt
    return preset.get("coverage_format", "COBERTURAXML")


def _targets(check: _Checker) -> tuple[Target, ...]:
    raw_targets = check.doc["targets"]
    check.unique(raw_targets, "targets", "target")
    out = []
    for index, raw in enumerate(raw_targets):
        if raw["type"] not in SUPPORTED_TARGET_TYPES:
            check.error(
                "MC107", f"targets of type `{raw['type']}` are not supported yet (issue 3)", ("targets", index, "type")
            )
            continue
        if not raw.get("template"):
            check.error(
                "MC207",
                f"target `{raw['name']}` needs `template`: the template path in the build artifact",
                ("targets", index),
                hint="for example: template: deploy/app.yaml",
            )
            continue
        if not _check_placeholders(check, raw["stack"], ("targets", index, "stack")):
            raw["stack_invalid"] = True
        for key, value in raw["parameters"].items():
            _check_placeholders(check, value, ("targets", index, "parameters", key))
        out.append(
            Target(
                name=raw["name"],
                type=raw["type"],
                template=raw["template"],
                stack=raw["stack"],
                parameters=tuple(sorted(raw["parameters"].items())),
                change_set=raw["change_set"],
                capabilities=tuple(raw["capabilities"]),
                execution_role=raw["execution_role"],
                execution_policies=tuple(raw["execution_policies"]),
            )
        )
    return tuple(out)


def _check_placeholders(check: _Checker, text: str, path: Path) -> bool:
    ok = True
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1) not in _PLACEHOLDERS:
            ok = False
            check.error(
                "MC208",
                f"unknown placeholder `{{{match.group(1)}}}`; use {{environment}}, {{region}} or {{name}}",
                path,
            )
    return ok


def _environments(check: _Checker, target_names: list[str]) -> tuple[Environment, ...]:
    raw_envs = check.doc["environments"]
    check.unique(raw_envs, "environments", "environment")
    home = check.doc["region"]
    out = []
    for index, raw in enumerate(raw_envs):
        targets = raw["targets"]
        if targets is None:
            targets = target_names
        else:
            for t_index, name in enumerate(targets):
                check.reference(name, target_names, "target", ("environments", index, "targets", t_index))
        regions = tuple(raw["regions"] or [home])
        for r_index, region in enumerate(regions):
            if region is not None and region != home and home is None:
                check.error(
                    "MC210",
                    f"environment `{raw['name']}` deploys to {region}: set the top-level `region`",
                    ("environments", index, "regions", r_index),
                    hint="the pipeline's home region is needed for cross-region artifact stores",
                )
            elif region is not None and region != home:
                check.error(
                    "MC107",
                    "deploying to a region other than the pipeline's is not supported yet (issue 3)",
                    ("environments", index, "regions", r_index),
                )
        env = Environment(raw["name"], regions, raw["approval"]["enabled"], tuple(targets))
        out.append(env)
        _check_stack_names(check, env, index)
    return tuple(out)


def _check_stack_names(check: _Checker, env: Environment, index: int) -> None:
    targets = {t["name"]: (i, t) for i, t in enumerate(check.doc["targets"])}
    for name in env.targets:
        if name not in targets or targets[name][1].get("stack_invalid"):
            continue
        t_index, raw = targets[name]
        for region in env.regions:
            stack = render_placeholders(
                raw["stack"], environment=env.name, region=region or _LONGEST_REGION, name=check.doc["name"]
            )
            if not _STACK_NAME.match(stack) or len(stack) > aws.NAME_LIMITS["stack"]:
                check.error(
                    "MC209",
                    f"stack name `{stack}` (environment `{env.name}`) is not a valid CloudFormation stack name",
                    ("targets", t_index, "stack"),
                    hint="letters, digits and dashes, starting with a letter, at most 128 characters",
                )


def _check_test_stages(check: _Checker, tests: tuple[TestSuite, ...], environments: tuple[Environment, ...]) -> None:
    stages = ["build"] + [e.name for e in environments]
    for index, suite in enumerate(tests):
        check.reference(suite.after, stages, "stage", ("tests", index, "after"))
    for index, env in enumerate(environments):
        if not env.targets and not any(t.after == env.name for t in tests):
            check.error(
                "MC212",
                f"environment `{env.name}` has no targets and no post-deploy tests",
                ("environments", index),
                hint="define `targets:` or remove the environment",
            )


def _check_names(check: _Checker, name: str, tests: tuple[TestSuite, ...]) -> None:
    """Generated names must fit AWS limits after prefixing (the schema bounds each part)."""
    for index, suite in enumerate(tests):
        generated = {
            "codebuild-project": f"{name}-test-{suite.name}",
            "report-group": f"{name}-{suite.name}-coverage",
        }
        for kind, value in generated.items():
            if len(value) > aws.NAME_LIMITS[kind]:
                check.error(
                    "MC206",
                    f"generated {kind} name `{value}` exceeds {aws.NAME_LIMITS[kind]} characters",
                    ("tests", index, "name"),
                )
