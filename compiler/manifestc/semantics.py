"""Semantics phase: cross-field checks and derivations on the validated document -> Manifest.

The schema checked each field alone; here are the rules that need two fields or a table:
references between lists, unique names, presets and the runtime versions an image ships,
generated name lengths, placeholder use.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import re
from typing import Any

from . import __version__, aws, reach
from .diagnostics import Diagnostic, Marks, Path, Severity, at, did_you_mean
from .model import (
    TARGET_JSON_FIELDS,
    TARGET_PLACEHOLDER_FIELDS,
    Approval,
    Build,
    Catalog,
    CodeArtifact,
    EgressRule,
    Endpoint,
    Environment,
    FeatureBranches,
    GateTool,
    Glue,
    GlueCrawler,
    GlueJob,
    Manifest,
    Network,
    Notifications,
    PullRequests,
    QualityGate,
    Regenerate,
    Secret,
    Source,
    Target,
    TestSuite,
    Variable,
    catalog_parameter_pattern,
    render_placeholders,
    variable_environment,
)
from .permissions import check_permissions
from .schemas_data import images, manifest_schema, presets, quality_gates
from .semantics_artifacts import check_artifact_paths, check_cdk_network
from .semantics_cdk import CDK_FIELDS, cdk_fields, check_cdk_targets
from .semantics_ephemeral import check_ephemeral
from .semantics_glue import check_glue_extras
from .semantics_monorepo import build_directory, check_path_filters, check_service_triggers
from .semantics_order import check_target_order
from .semantics_shapes import build_artifacts, build_batch, build_platform, build_reports, suite_platforms
from .semantics_step_secrets import check_step_secrets
from .semantics_steps import check_commands_targets, check_environment_keys, check_variables, commands_fields
from .semantics_targets import (
    MORE_TARGET_FIELDS,
    MORE_TARGET_REQUIRED,
    MORE_TARGET_TYPES,
    check_more_targets,
    target_fields,
)

_PLACEHOLDER = re.compile(r"(?<!#)\{([^{}]*)\}")  # not a #{namespace.NAME} variable
_PLACEHOLDERS = {"environment", "region", "name"}
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
# longest region code in use (e.g. ap-southeast-5 is 14); used to check {region} stack names
_LONGEST_REGION = "ap-southeast-5x"
SUPPORTED_TARGET_TYPES = {
    "cloudformation",
    "ecs",
    "lambda",
    "s3",
    "glue",
    "commands",
    "stepfunctions",
    "lambda_invoke",
    "cdk",
}
SUPPORTED_TARGET_TYPES |= MORE_TARGET_TYPES  # semantics_targets.py
# Fields that belong to one target type only; given on another type they are an error.
# The fields of a CloudFormation stack deploy (cloudformation targets, lambda template targets).
_STACK_FIELDS = {
    "template",
    "template_configuration",
    "stack",
    "parameters",
    "change_set",
    "capabilities",
    "execution_role",
    "execution_policies",
}
TARGET_FIELDS: dict[str, set[str]] = {
    # `package: true`: the build packages the template (nested stacks, local code)
    "cloudformation": _STACK_FIELDS | {"package"},
    "ecs": {
        "cluster",
        "service",
        "container",
        "image_repository",
        "deploy",
        "application",
        "deployment_group",
        "task_definition",
        "appspec",
    },
    # a lambda target either updates `function` directly, or (zip) packages a SAM/CloudFormation
    # `template` and deploys it as a stack, with the cloudformation fields
    "lambda": {"function", "package", "artifact", "image_repository"} | _STACK_FIELDS,
    "s3": {"bucket", "extract", "prefix", "cache_control", "kms_key", "delete_stale", "cloudfront_invalidation"},
    "glue": set(),
    "stepfunctions": {"state_machine", "input", "input_file", "execution_name_prefix"},
    "lambda_invoke": {"function", "user_parameters"},
    # a CodeBuild job per environment with a declared role (semantics_steps.py)
    "commands": {"commands", "image", "compute", "env", "role", "permissions", "broad_permissions", "exports"},
    # the stacks of a CDK cloud assembly (semantics_cdk.py)
    "cdk": CDK_FIELDS,
    **MORE_TARGET_FIELDS,  # semantics_targets.py
}
TARGET_REQUIRED: dict[str, tuple[str, ...]] = {
    "cloudformation": ("template",),
    "ecs": ("cluster", "service", "container"),
    "lambda": (),
    "s3": ("bucket",),
    "glue": (),
    "stepfunctions": ("state_machine",),
    "lambda_invoke": ("function",),
    "commands": ("commands",),
    "cdk": ("stacks",),
    **MORE_TARGET_REQUIRED,
}


# Defaults of the cloudformation-only fields, which the schema fills for every target.
@functools.cache
def _target_defaults() -> dict[str, Any]:
    """Schema defaults of the target fields: a field still at its default was not set by the author."""
    return {name: rules.get("default") for name, rules in manifest_schema()["targets"]["schema"]["schema"].items()}


class _Checker:
    def __init__(self, doc: dict[str, Any], marks: Marks, file: str):
        self.doc, self.marks, self.file = doc, marks, file
        self.diagnostics: list[Diagnostic] = []

    def error(self, code: str, message: str, path: Path, hint: str | None = None) -> None:
        self.diagnostics.append(at(code, message, path, self.file, self.marks, hint=hint))

    def warn(self, code: str, message: str, path: Path, hint: str | None = None) -> None:
        self.diagnostics.append(at(code, message, path, self.file, self.marks, hint=hint, severity=Severity.WARNING))

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
        listing = ", ".join(known) if known else "none are defined"
        self.error("MC201", f"unknown {what} `{name}`; defined: {listing}", path, hint=did_you_mean(name, known))
        return False


def build_model(
    doc: dict[str, Any], marks: Marks, file: str, digest: str, repo_path: str | None = None
) -> tuple[Manifest | None, list[Diagnostic]]:
    """Check cross-field rules and build the frozen model. Returns (None, errors) on failure.

    `repo_path` is the manifest's path inside its repository (the `regenerate.path` default);
    None: the file name.
    """
    check = _Checker(doc, marks, file)
    _check_dynamic_references(check, doc, ())
    targets = _targets(check)
    preset = _preset(check)
    build = _build(check, targets, preset)
    tests = _tests(check, preset or {})
    if build is not None:
        build = build_reports(check, build, preset or {}, tests)
        build = build_platform(check, build, preset or {}, targets, len(check.doc["quality_gates"]))
        build, targets = build_artifacts(check, build, targets)
        build = build_batch(check, build, preset or {})
        tests = suite_platforms(check, build, tests, preset or {})
    source = _source(check, [t.name for t in tests if t.after == "build"])
    _check_feature_suites(check, tests, source)
    environments = _environments(check, [t["name"] for t in doc["targets"]])
    _check_test_stages(check, tests, environments)
    _check_environment_secrets(check, tests, environments, targets)
    _check_names(check, doc["name"], tests)
    gates = _quality_gates(check)
    notifications = _notifications(check)
    regenerate = _regenerate(check, repo_path or file)
    _check_approval_notice(check, environments, notifications)
    _check_partition(check)
    variables = _variables(check)
    check.diagnostics.sort(key=lambda d: (d.line, d.col, d.code))
    if any(d.is_error for d in check.diagnostics) or build is None:
        return None, check.diagnostics
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
        source=source,
        build=build,
        tests=tests,
        environments=environments,
        targets=targets,
        regenerate=regenerate,
        quality_gates=gates,
        notifications=notifications,
        variables=variables,
    )
    if doc["catalog"] is not None:
        manifest = dataclasses.replace(manifest, catalog=_catalog(check, manifest))
    glue = _glue(check) if doc["glue"] is not None else None
    glue = check_glue_extras(check, glue) if glue is not None else None
    _check_glue_targets(check, manifest, glue)
    if glue is not None:
        manifest = dataclasses.replace(manifest, glue=glue)
    _check_reserved(check, manifest)
    check_service_triggers(check, manifest)
    _check_iam_wildcards(check)
    _check_s3_deploy_jobs(check, manifest)
    _check_lambda_invokes(check, manifest)
    check_target_order(check, manifest)
    if not any(d.is_error for d in check.diagnostics):
        _check_deploy_targets(check, manifest)
        check_commands_targets(check, manifest)
        check_step_secrets(check, manifest)
        check_cdk_targets(check, manifest)
        check_artifact_paths(check, manifest)
        check_more_targets(check, manifest)
        check_variables(check, manifest)
        manifest = check_ephemeral(check, manifest)
    if doc["network"] is not None:
        network = _network(check, manifest)
        if any(d.is_error for d in check.diagnostics):
            check.diagnostics.sort(key=lambda d: (d.line, d.col, d.code))
            return None, check.diagnostics
        manifest = dataclasses.replace(manifest, network=network)
        check_cdk_network(check, manifest)
    manifest = dataclasses.replace(manifest, marks=check.marks)
    _check_resource_count(check, manifest)
    _check_glue_resource_count(check, manifest)
    check.diagnostics.sort(key=lambda d: (d.line, d.col, d.code))
    if any(d.is_error for d in check.diagnostics):
        return None, check.diagnostics
    return manifest, check.diagnostics


# "AWS CodePipeline is not available in the Beijing and Ningxia Regions" (Getting Started with
# Amazon Web Services in China, "Amazon CodeBuild": docs.amazonaws.cn/en_us/aws/latest/userguide/codebuild.html),
# and a China account cannot be reached from another partition (its accounts and credentials
# are separate: "General Information About Amazon Web Services China").
_NO_CODEPIPELINE_PREFIXES = ("cn-",)


def _check_partition(check: _Checker) -> None:
    """MC298 for a pipeline or deploy region in a partition where CodePipeline is not offered."""
    doc = check.doc
    places: list[tuple[str, Path]] = []
    if doc.get("region"):
        places.append((doc["region"], ("region",)))
    for i, env in enumerate(doc.get("environments") or []):
        for j, region in enumerate(env.get("regions") or []):
            places.append((region, ("environments", i, "regions", j)))
    for region, path in places:
        if region.startswith(_NO_CODEPIPELINE_PREFIXES):
            check.error(
                "MC298",
                f"region {region} is in the China partition, where AWS CodePipeline is not available",
                path,
                hint="build and deploy there with a pipeline tool available in the China regions; "
                "manifestc emits CodePipeline pipelines, which cannot be deployed there or reach there from another partition",
            )


# CloudFormation resolves `{{resolve:ssm:...}}`, `{{resolve:ssm-secure:...}}` and
# `{{resolve:secretsmanager:...}}` in any resource property of a template, when the stack is
# created or updated, with the deployer's credentials. Source: "Get values stored in other services
# using dynamic references" https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references.html
# (matched loosely here: a near miss is as dangerous as the real pattern, and never a real value).
_DYNAMIC_REFERENCE = re.compile(r"\{\{\s*resolve\s*:", re.IGNORECASE)


def _check_dynamic_references(check: _Checker, value: Any, path: Path) -> None:
    """MC297 for a CloudFormation dynamic reference in any manifest string or key.

    Every manifest string ends up in a template (a tag, a plaintext environment variable, a
    buildspec command, a description, a parameter override), where CloudFormation would resolve
    the reference at deploy time and store the secret in plain text in the pipeline's
    configuration. Secrets belong in `build.secrets` (`secretsmanager:` / `ssm:` references, not
    this syntax), which CodeBuild resolves at build time with the build role.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _DYNAMIC_REFERENCE.search(key):
                check.diagnostics.append(
                    at("MC297", _DYNAMIC_MESSAGE, path + (key,), check.file, check.marks, hint=_hint(path), at_key=True)
                )
            _check_dynamic_references(check, item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_dynamic_references(check, item, path + (index,))
    elif isinstance(value, str) and _DYNAMIC_REFERENCE.search(value):
        check.error("MC297", _DYNAMIC_MESSAGE, path, hint=_hint(path))


_DYNAMIC_MESSAGE = (
    "a CloudFormation dynamic reference (`{{resolve:...}}`) is not allowed here: CloudFormation "
    "would resolve it when the stack is deployed, with the deployer's credentials, and keep the "
    "value in plain text in the pipeline's configuration"
)


def _hint(path: Path) -> str:
    if path[:2] == ("build", "env"):
        return "move it to build.secrets: VARIABLE: secretsmanager:<name>[:<json-key>] or ssm:<parameter path>"
    return (
        "write the value itself; a secret a build needs goes in build.secrets "
        "(secretsmanager:<name> or ssm:<path>), resolved by CodeBuild at build time"
    )


def estimate_resources(m: Manifest) -> dict[Path, int]:
    """A lower bound of the pipeline stack's resources, by the manifest list they come from.

    Counted the way emit/ builds them, only what is always emitted: every CodeBuild job is a
    project, its role and its log group (plus a report group per report and coverage file); a
    same-account stack deploy has its CloudFormation role. The readiness check `check/quotas.py`
    counts the emitted template exactly; this lets `validate` refuse a pipeline that cannot fit
    without emitting it.
    """
    per_job = 3
    counts: dict[Path, int] = {
        # storage (key, alias, bucket, policy), the pipeline and its role, the build job
        (): 4 + 2 + per_job + (per_job + 1 if m.regenerate.enabled else 0),
        ("tests",): sum(per_job + len(s.reports[:1]) + (1 if s.coverage else 0) for s in m.tests),
        ("quality_gates",): per_job * len(m.quality_gates),
    }
    deploys = 0
    for env in m.environments:
        for name in env.targets:
            target = m.target(name)
            if target.type == "lambda" and not target.template:
                deploys += per_job
            elif target.deploys_stack and not m.is_cross_account(env) and not target.execution_role:
                deploys += 1
            if target.type == "cdk":  # the asset job, and the execution role of its stacks
                deploys += per_job + (0 if m.is_cross_account(env) or target.execution_role else 1)
    counts[("environments",)] = deploys
    return counts


def _check_resource_count(check: _Checker, m: Manifest) -> None:
    quota = aws.QUOTAS["resources"]
    counts = estimate_resources(m)
    total = sum(counts.values())
    if total <= quota.limit:
        return
    biggest = max((p for p in counts if p), key=lambda p: counts[p])
    check.diagnostics.append(
        at(
            "MC290",
            f"the pipeline stack would have at least {total} resources ({counts[biggest]} from `{biggest[0]}`); "
            f"CloudFormation allows {quota.limit} per template ({quota.source})",
            biggest,
            check.file,
            check.marks,
            hint="split the pipeline into several manifests, or merge test suites (each suite is a CodeBuild "
            "project with its role, log group and report groups)",
            at_key=True,
        )
    )


def _check_glue_resource_count(check: _Checker, m: Manifest) -> None:
    """glue.yaml has a resource per job and per crawler, a trigger per distinct `after` set (the
    roots' one included) and a few fixed ones (emit/glue.py); over the quota it could not be one stack
    (and troposphere refuses to emit it)."""
    if m.glue is None:
        return
    quota = aws.QUOTAS["resources"]
    triggers = len({tuple(sorted(node.after)) for node in m.glue.nodes.values()})
    # the workflow, the database, the KMS key and security configuration, a role per node kind
    fixed = 4 + bool(m.glue.jobs) + bool(m.glue.crawlers)
    if m.glue.orchestration == "stepfunctions":  # no triggers: a state machine and its role
        triggers, fixed = 0, fixed + 1
    fixed += len(m.glue.databases) + len(m.glue.connections)
    total = len(m.glue.jobs) + len(m.glue.crawlers) + triggers + fixed
    if total > quota.limit:
        check.diagnostics.append(
            at(
                "MC290",
                f"the Glue workflow stack (glue.yaml) would have at least {total} resources "
                f"({len(m.glue.jobs)} jobs, {len(m.glue.crawlers)} crawlers); CloudFormation allows "
                f"{quota.limit} per template ({quota.source})",
                ("glue", "jobs"),
                check.file,
                check.marks,
                hint="split the workflow across several manifests",
                at_key=True,
            )
        )


def _preset(check: _Checker) -> dict[str, Any] | None:
    language = check.doc["language"]
    build = check.doc["build"]
    table = presets()
    if language is None:
        if not (build["image"] and (build["commands"] or build["buildspec"])):
            check.error(
                "MC203",
                "`language` is required unless build.image and build.commands (or build.buildspec) are both given",
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
    preset = dict(table[language])
    tools = preset.pop("tools", None)
    tool = build["tool"]
    if tools is None:
        if tool is not None:
            check.error(
                "MC211",
                f"build.tool applies to presets with build-tool variants, not `{language}`",
                ("build", "tool"),
                hint="remove build.tool",
            )
        return preset
    tool = tool or preset.get("default_tool")
    if tool not in tools:
        close = difflib.get_close_matches(str(tool), list(tools), n=1)
        check.error(
            "MC104",
            f"`{tool}` is not a {language} build tool; expected one of: {', '.join(tools)}",
            ("build", "tool"),
            hint=f"did you mean `{close[0]}`?" if close else None,
        )
        return preset
    preset.update(tools[tool])
    return preset


def _build(check: _Checker, targets: tuple[Target, ...], preset: dict[str, Any] | None) -> Build | None:
    doc, raw = check.doc, check.doc["build"]
    if preset is None and (doc["language"] is not None or not (raw["image"] and (raw["commands"] or raw["buildspec"]))):
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
    if runtime_key and shipped is not None and shipped.get("runtimes") is not None:  # None: Windows images
        versions = [str(v) for v in shipped["runtimes"].get(runtime_key, [])]
        if runtime not in versions:
            path: Path = ("runtime",) if doc["runtime"] else ("language",)
            check.error(
                "MC205",
                f"{runtime_key} {runtime} is not available in {image}; available: {', '.join(versions)}",
                path,
                hint=_runtime_hint(runtime, versions),
            )
    secrets = tuple(_secret(name, ref) for name, ref in sorted(raw["secrets"].items()))
    clash = sorted(set(raw["env"]) & set(raw["secrets"]))
    for name in clash:
        check.error("MC202", f"`{name}` is both a plain environment variable and a secret", ("build", "secrets", name))
    privileged = raw["privileged"] if raw["privileged"] is not None else bool(preset.get("privileged", False))

    def phase(key: str, preset_key: str) -> tuple[str, ...]:
        value = raw[key]
        return tuple(value) if value is not None else tuple(preset.get(preset_key, []))

    image_targets = sorted({t.image_repository for t in targets if t.uses_image and t.image_repository})
    image_repository = raw["image_repository"]
    if image_repository is None and len(image_targets) == 1:
        image_repository = image_targets[0]
    elif len(image_targets) > 1:
        check.error(
            "MC211",
            f"image targets push to different repositories ({', '.join(image_targets)}); the build pushes one image",
            ("targets",),
            hint="use one image_repository for every image target",
        )
    if any(t.uses_image for t in targets) and not (privileged or doc["language"] == "docker"):
        check.error(
            "MC211",
            "ecs and lambda image targets need an image build: `language: docker`, "
            "or `build.privileged: true` with your own docker commands",
            ("build",),
        )
    if raw["buildspec"] is not None:
        _check_own_buildspec(check, targets, image_repository)
    elif image_repository and doc["language"] != "docker":
        # Not the docker preset: the build's own commands must produce the image it then tags and
        # pushes. Say so instead of failing at `docker tag` in the first run.
        written = [c for key in ("commands", "post_build") for c in (raw[key] or [])]
        if not any("$IMAGE_URI" in c or "${IMAGE_URI}" in c for c in written):
            check.error(
                "MC291",
                "an image is pushed to `"
                + image_repository
                + "` but the build commands never build `$IMAGE_URI:latest`, which the build then "
                "tags with the commit and pushes",
                ("build", "commands") if raw["commands"] is not None else ("build",),
                hint='build the image as `$IMAGE_URI:latest`, e.g. `docker build -t "$IMAGE_URI:latest" .`, '
                "or use `language: docker`",
            )
    if doc["language"] == "docker" and image_repository is None:
        check.error(
            "MC211",
            "the docker preset pushes an image: set build.image_repository, or add an ecs "
            "(or lambda image) target with image_repository",
            ("language",),
        )
    packages = raw["packages"]
    codeartifact = None
    if packages:
        ca = packages["codeartifact"]
        codeartifact = CodeArtifact(
            ca["domain"], ca["repository"], ca["domain_owner"], preset.get("codeartifact"), ca["pypi_repository"]
        )
        if ca["pypi_repository"] is not None and codeartifact.tool == "pip":
            check.error(
                "MC279",
                f"a {doc['language']} build installs with pip from `repository` ({ca['repository']}); "
                "pypi_repository is for non-Python builds",
                ("build", "packages", "codeartifact", "pypi_repository"),
                hint="drop pypi_repository, or make it the repository",
            )
    matrix = tuple((name, tuple(values)) for name, values in sorted((raw["matrix"] or {}).items()))
    combinations = 1
    for _, values in matrix:
        combinations *= len(values)
    if combinations > aws.MAX_BATCH_BUILDS:
        check.error(
            "MC211",
            f"the build matrix has {combinations} combinations; CodeBuild batches run at most {aws.MAX_BATCH_BUILDS}",
            ("build", "matrix"),
        )
    return Build(
        compute=raw["compute"],
        arch=arch,
        environment_type=compute[0],
        compute_type=compute[1],
        image=image,
        runtime_key=runtime_key if shipped is not None else None,
        runtime=runtime if shipped is not None else None,
        install=phase("install", "install"),  # the tests' install phase too
        # a buildspec file of the repository replaces the generated build phases (README "build.buildspec")
        pre_build=phase("pre_build", "pre_build") if raw["buildspec"] is None else (),
        commands=phase("commands", "build") if raw["buildspec"] is None else (),
        post_build=phase("post_build", "post_build") if raw["buildspec"] is None else (),
        env=tuple(sorted(raw["env"].items())),
        secrets=secrets,
        artifact_files=tuple(raw["artifacts"]["files"]),
        base_directory=raw["artifacts"]["base_directory"] or preset.get("base_directory"),
        cache=raw["cache"],
        cache_paths=tuple(preset.get("cache_paths", [])),
        privileged=privileged,
        timeout=raw["timeout"],
        matrix=matrix,
        codeartifact=codeartifact,
        image_repository=image_repository,
        secrets_kms_key=raw["secrets_kms_key"],
        permissions=check_permissions(raw["permissions"], ("build", "permissions"), doc["name"], check.error),
        buildspec=raw["buildspec"],
        exports=tuple(dict.fromkeys(raw["exports"])),
        directory=build_directory(check, raw),
    )


def _check_feature_suites(check: _Checker, tests: tuple[TestSuite, ...], source: Source) -> None:
    """MC229: a suite with its own buildspec file cannot run in the feature-branch build, which runs
    the suites' commands after the build's in one generated buildspec."""
    for what, field, chosen in (
        ("feature-branch", "feature_branches", source.feature_branches.tests if source.feature_branches else ()),
        ("pull-request", "pull_requests", source.pull_requests.tests if source.pull_requests else ()),
    ):
        for index, suite in enumerate(tests):
            if suite.buildspec and suite.name in chosen:
                check.error(
                    "MC229",
                    f"test suite `{suite.name}` has its own buildspec file, so the {what} build (one generated "
                    "buildspec running the build and the suites' commands) cannot run it",
                    ("tests", index, "buildspec"),
                    hint=f"list the other suites in source.{field}.tests, or give this suite `commands`",
                )


# What the generated build buildspec does that a buildspec file of the repository cannot be
# assumed to do (README "build.buildspec"): each a located MC229 rather than a pipeline that
# deploys an image or template nobody wrote.
def _check_own_buildspec(check: _Checker, targets: tuple[Target, ...], image_repository: str | None) -> None:
    """MC228: build.buildspec with fields the buildspec file replaces; MC229: with a feature whose
    commands or files the generated buildspec writes."""
    raw = check.doc["build"]
    for field in ("install", "pre_build", "commands", "post_build", "matrix"):
        if raw[field] is not None:
            what = "the build matrix (a `batch` section)" if field == "matrix" else f"the {field} phase"
            check.error(
                "MC228",
                f"build.{field} cannot be combined with build.buildspec: {what} belongs in the buildspec file",
                ("build", field),
                hint=f"move it into {raw['buildspec']}, or drop build.buildspec",
            )
    if raw["artifacts"]["files"] != ["**/*"] or raw["artifacts"]["base_directory"] is not None:
        check.error(
            "MC228",
            "build.artifacts cannot be combined with build.buildspec: the buildspec file's `artifacts` "
            "section is the build output",
            ("build", "artifacts"),
            hint=f"set `artifacts: files:` (and `base-directory`) in {raw['buildspec']}",
        )
    needs = []
    if image_repository:
        needs.append(
            (
                ("build", "buildspec"),
                (
                    f"the pipeline pushes the image to `{image_repository}` as candidate-<commit> and promotes it "
                    "after the tests, with commands of the generated buildspec"
                ),
            )
        )
    for index, target in enumerate(targets):
        if target.type == "lambda" and target.template:
            needs.append(
                (
                    ("targets", index),
                    (
                        f"lambda target `{target.name}` deploys {target.packaged_template}, which the generated "
                        "buildspec writes with `aws cloudformation package`"
                    ),
                )
            )
    if check.doc["source"]["feature_branches"] is not None:
        needs.append(
            (
                ("source", "feature_branches"),
                "feature-branch builds run the build's phases followed by the suites' commands in one generated buildspec",
            )
        )
    pull_requests = check.doc["source"]["pull_requests"]
    if pull_requests is not None and pull_requests["build"]:
        needs.append(
            (
                ("source", "pull_requests"),
                "pull-request builds run the build's phases followed by the suites' commands in one generated buildspec",
            )
        )
    for path, reason in needs:
        check.error(
            "MC229",
            f"build.buildspec cannot be used here: {reason}",
            path,
            hint="drop build.buildspec and give the phases (install, pre_build, commands, post_build) in the manifest",
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


def _tests(check: _Checker, preset: dict[str, Any]) -> tuple[TestSuite, ...]:
    raw_tests = check.doc["tests"]
    check.unique(raw_tests, "tests", "test suite")
    suites = []
    for index, raw in enumerate(raw_tests):
        name = raw["name"]
        commands = raw["commands"]
        if raw["buildspec"] is not None:
            if commands is not None:
                check.error(
                    "MC228",
                    f"test suite `{name}` has both `commands` and `buildspec`: the buildspec file holds the commands",
                    ("tests", index, "commands"),
                    hint=f"move the commands into {raw['buildspec']}, or drop `buildspec`",
                )
            commands = []
        elif commands is None:
            defaults = preset.get("glue_test") if check.doc["glue"] is not None and "glue_test" in preset else None
            commands = [c.replace("{suite}", name) for c in (defaults or preset.get("test", []))]
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
                permissions=check_permissions(
                    raw["permissions"], ("tests", index, "permissions"), check.doc["name"], check.error
                ),
                buildspec=raw["buildspec"],
                env=tuple(sorted(raw["env"].items())),
                ephemeral_stack=raw["ephemeral_stack"],
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


# Managed policies an execution role may not carry: each grants IAM (or everything), so a stack
# deployed with it could mint an unbounded role. (AWS managed policy reference:
# https://docs.aws.amazon.com/aws-managed-policy/latest/reference/policy-list.html)
ESCALATING_POLICIES = {
    "AdministratorAccess": "grants every action, IAM included",
    "IAMFullAccess": "grants every IAM action",
    "AWSOrganizationsFullAccess": "grants Organizations, which can create accounts and move them",
    "AdministratorAccess-Amplify": "grants IAM role creation without a boundary",
    "AdministratorAccess-AWSElasticBeanstalk": "grants IAM role creation without a boundary",
}

# Roles of other tools and of the organisation that are administrators by design: deploying an
# application stack with one of them lets its template do anything. Name patterns (fnmatch) of the
# role name after the last `/`; sources: CDK bootstrap ("cdk-<qualifier>-cfn-exec-role-..."), AWS
# Organizations (OrganizationAccountAccessRole), Control Tower (AWSControlTowerExecution), StackSets
# (AWSCloudFormationStackSetExecutionRole), IAM Identity Center (AWSReservedSSO_*).
ADMIN_ROLE_PATTERNS = (
    "cdk-*",
    "OrganizationAccountAccessRole",
    "AWSControlTowerExecution",
    "AWSCloudFormationStackSetExecutionRole",
    "AWSReservedSSO_*",
    "*Admin*",
    "*admin*",
)


def _check_execution_iam(check: _Checker, raw: dict[str, Any], index: int) -> None:
    """Execution roles and policies that would let an application template escalate."""
    import fnmatch

    for position, arn in enumerate(raw.get("execution_policies") or []):
        name = str(arn).rsplit("/", 1)[-1]
        if name in ESCALATING_POLICIES:
            check.error(
                "MC265",
                f"execution policy `{name}` {ESCALATING_POLICIES[name]}: an application stack deployed "
                "with it could create roles outside the pipeline's permissions boundary",
                ("targets", index, "execution_policies", position),
                hint="use PowerUserAccess (the default) or a policy without IAM; the execution role may already "
                "create roles under the boundary (README: Security)",
            )
    role = raw.get("execution_role")
    if role:
        name = str(role).rsplit("/", 1)[-1]
        for pattern in ADMIN_ROLE_PATTERNS:
            if fnmatch.fnmatchcase(name, pattern):
                check.error(
                    "MC266",
                    f"execution_role `{name}` is an administrator role (or another tool's, matching `{pattern}`): "
                    "a template deployed with it can do anything, IAM included",
                    ("targets", index, "execution_role"),
                    hint="leave execution_role unset: manifestc creates an execution role bounded by the "
                    "pipeline's permissions boundary",
                )
                break


def _targets(check: _Checker) -> tuple[Target, ...]:
    raw_targets = check.doc["targets"]
    check.unique(raw_targets, "targets", "target")
    out = []
    for index, raw in enumerate(raw_targets):
        kind = raw["type"]
        if kind not in SUPPORTED_TARGET_TYPES:
            issue = {"servicecatalog": "a later issue: publish products with the `catalog` section"}.get(
                kind, "a later issue"
            )
            check.error(
                "MC107", f"targets of type `{kind}` are not supported yet ({issue})", ("targets", index, "type")
            )
            continue
        if not _target_fields_fit(check, raw, index):
            continue
        if kind == "ecs":
            _check_blue_green(check, raw, index)
        _check_execution_iam(check, raw, index)
        if kind == "cloudformation" or (kind == "lambda" and raw["template"]):
            if not _check_placeholders(check, raw["stack"], ("targets", index, "stack")):
                raw["stack_invalid"] = True
            for key, value in raw["parameters"].items():
                _check_placeholders(check, value, ("targets", index, "parameters", key))
        if kind == "image_copy":  # the destination; the source is always build.image_repository (MC387)
            raw["image_repository"] = raw["image_repository"] or check.doc["build"]["image_repository"]
        if kind in ("ecs",) or (kind == "lambda" and raw["package"] == "image"):
            raw["image_repository"] = raw["image_repository"] or check.doc["build"]["image_repository"]
            if raw["image_repository"] is None:
                check.error(
                    "MC207",
                    f"target `{raw['name']}` deploys an image: set its image_repository "
                    "(the ECR repository the build pushes to)",
                    ("targets", index),
                )
                continue
        steps = commands_fields(check, raw, index) if kind == "commands" else target_fields(check, raw, index)
        steps |= cdk_fields(check, raw, index) if kind == "cdk" else {}
        out.append(
            Target(
                **steps,
                name=raw["name"],
                type=kind,
                template=raw["template"] or ("glue.yaml" if kind == "glue" else ""),
                stack=raw["stack"] if kind != "glue" else "{name}-glue-{environment}",
                parameters=tuple(sorted(raw["parameters"].items())),
                change_set=raw["change_set"],
                capabilities=tuple(raw["capabilities"]) if kind != "glue" else ("CAPABILITY_IAM",),
                execution_role=raw["execution_role"],
                execution_policies=tuple(raw["execution_policies"]),
                template_configuration=raw["template_configuration"],
                cluster=raw["cluster"],
                service=raw["service"],
                container=raw["container"],
                image_repository=raw["image_repository"],
                function=raw["function"],
                package=(raw["package"] or "zip")
                if kind == "lambda"
                else ("template" if kind == "cloudformation" and raw["package"] is True else None),
                artifact=(raw["artifact"] or "function.zip")
                if kind == "lambda" and not raw["template"]
                else (raw["artifact"] or "layer.zip")
                if kind == "lambda_layer"
                else None,
                bucket=raw["bucket"],
                extract=raw["extract"] if raw["extract"] is not None else True,
                prefix=raw["prefix"],
                cache_control=raw["cache_control"],
                kms_key=raw["kms_key"],
                delete_stale=bool(raw["delete_stale"]),
                distributions=_distributions(check, raw, index),
                invalidation_paths=tuple((raw["cloudfront_invalidation"] or {}).get("paths") or ()),
                state_machine=raw["state_machine"],
                input=_json_text(raw["input"]),
                input_file=raw["input_file"],
                execution_name_prefix=raw["execution_name_prefix"],
                user_parameters=_json_text(raw["user_parameters"]),
                deploy=raw["deploy"] or "rolling",
                application=raw["application"],
                deployment_group=raw["deployment_group"],
                task_definition=(raw["task_definition"] or "taskdef.json") if raw["deploy"] == "blue_green" else None,
                appspec=(raw["appspec"] or "appspec.yaml") if raw["deploy"] == "blue_green" else None,
                after=tuple(dict.fromkeys(raw["after"])),
            )
        )
    return tuple(out)


def _check_s3_deploy_jobs(check: _Checker, m: Manifest) -> None:
    """The environments an s3 target's per-environment distributions name are exactly those that
    deploy it (in another account the deploy job works as the bootstrap deploy role)."""
    index = {t["name"]: i for i, t in enumerate(check.doc["targets"])}
    for target in m.targets:
        if not target.s3_deploy_job:
            continue
        t_index = index[target.name]
        deploying = [env for env in m.environments if target.name in env.targets]
        path: Path = ("targets", t_index, "cloudfront_invalidation", "distribution")
        named = [e for e, _ in target.distributions if e]
        check_environment_keys(check, "MC322", target, deploying, named, path, "distribution", "distribution", True)


_BLUE_GREEN_FIELDS = ("application", "deployment_group", "task_definition", "appspec")


def _check_blue_green(check: _Checker, raw: dict[str, Any], index: int) -> bool:
    """`deploy: blue_green` needs the CodeDeploy application and deployment group; the CodeDeploy
    fields mean nothing to a rolling deploy."""
    ok = True
    if raw["deploy"] == "blue_green":
        for name in ("application", "deployment_group"):
            if raw[name] is None:
                ok = False
                check.error(
                    "MC326",
                    f"ecs target `{raw['name']}` with `deploy: blue_green` needs `{name}` (the CodeDeploy "
                    f"{name.replace('_', ' ')} that shifts the service's traffic)",
                    ("targets", index, "deploy"),
                    hint="create the application and an ECS deployment group (with its load balancer, target "
                    "groups and test listener) beforehand, then name them here",
                )
        return ok
    for name in _BLUE_GREEN_FIELDS:
        if raw[name] is not None:
            ok = False
            check.error(
                "MC326",
                f"`{name}` is a field of `deploy: blue_green` ecs targets; this one deploys with a rolling update",
                ("targets", index, name),
                hint="set `deploy: blue_green`, or drop the field",
            )
    return ok


def _json_text(value: Any) -> str | None:
    """A mapping as compact, key-sorted JSON (deterministic); a string as given."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _check_lambda_invokes(check: _Checker, m: Manifest) -> None:
    """A lambda_invoke target's function reports its result with codepipeline:PutJobSuccessResult
    on the pipeline's job, which a function in another account cannot call with its own role."""
    index = {t["name"]: i for i, t in enumerate(check.doc["targets"])}
    for target in m.targets:
        if target.type != "lambda_invoke":
            continue
        for env in m.environments:
            if target.name in env.targets and m.is_cross_account(env):
                check.error(
                    "MC325",
                    f"lambda_invoke target `{target.name}` in environment `{env.name}` (account {env.account}): "
                    "the function must report its result to the pipeline's account "
                    "(codepipeline:PutJobSuccessResult), which a function in another account cannot",
                    ("targets", index[target.name], "function"),
                    hint="use a `stepfunctions` target (CodePipeline follows the execution itself, through the "
                    "bootstrap deploy role), or invoke a function in the pipeline's account",
                )
                break


# A CloudFront distribution ID (CloudFront API Reference, "Distribution": Id, e.g. EDFDVBD6EXAMPLE).
_DISTRIBUTION_ID = re.compile(r"^[A-Z0-9]{1,64}$")


def _distributions(check: _Checker, raw: dict[str, Any], index: int) -> tuple[tuple[str, str], ...]:
    """`cloudfront_invalidation.distribution`: one ID for every environment ("" key), or one per
    environment; each must be a distribution ID (it becomes the resource of the invalidation grant)."""
    invalidation = raw.get("cloudfront_invalidation")
    if not invalidation:
        return ()
    given = invalidation["distribution"]
    path: Path = ("targets", index, "cloudfront_invalidation", "distribution")
    pairs = [("", given)] if isinstance(given, str) else [(str(k), v) for k, v in given.items()]
    out = []
    for environment, value in pairs:
        where = path + (environment,) if environment else path
        if not isinstance(value, str) or not _DISTRIBUTION_ID.match(value):
            check.error(
                "MC321",
                f"`{value}` is not a CloudFront distribution ID: it becomes the resource of the pipeline's "
                "cloudfront:CreateInvalidation grant",
                where,
                hint="the distribution's ID (uppercase letters and digits, e.g. E2QWRUHAPOMQZL), or a mapping "
                "from environment name to ID",
            )
            continue
        out.append((environment, value))
    if not out and pairs:
        check.error("MC321", "`distribution` names no distribution", path, hint="e.g. distribution: E2QWRUHAPOMQZL")
    return tuple(sorted(out))


def _target_fields_fit(check: _Checker, raw: dict[str, Any], index: int) -> bool:
    """Each target type has its own fields: required ones present, other types' fields absent."""
    kind, ok = raw["type"], True
    own = TARGET_FIELDS[kind]
    foreign = sorted({name for fields in TARGET_FIELDS.values() for name in fields} - own)
    for name in foreign:
        value = raw.get(name)
        if value is not None and value != _target_defaults().get(name):
            ok = False
            owners = " and ".join(t for t, fields in TARGET_FIELDS.items() if name in fields)
            check.error(
                "MC214",
                f"`{name}` is a field of {owners} targets, not {kind}",
                ("targets", index, name),
                hint=f"{kind} targets take: {', '.join(sorted(own)) or 'no fields of their own'}",
            )
    for name in TARGET_REQUIRED[kind]:
        if raw.get(name) is None:
            ok = False
            check.error(
                "MC207",
                f"{kind} target `{raw['name']}` needs `{name}`",
                ("targets", index),
                hint=_REQUIRED_HINTS.get(name),
            )
    if kind == "lambda" and (raw["function"] is None) == (raw["template"] is None):
        ok = False
        check.error(
            "MC207",
            f"lambda target `{raw['name']}` needs either `function` (update its code) or `template` "
            "(a SAM/CloudFormation template, packaged and deployed as a stack)",
            ("targets", index),
        )
    if kind == "lambda" and raw["template"] is not None and (raw["package"] == "image" or raw["artifact"]):
        ok = False
        check.error(
            "MC214",
            "a lambda `template` is packaged by `aws cloudformation package` (zip): drop `package: image` / `artifact`",
            ("targets", index, "template"),
        )
    if kind == "lambda" and raw["package"] == "image" and raw["artifact"] is not None:
        ok = False
        check.error(
            "MC214",
            "`artifact` is the zip of zip-packaged functions, not of image ones",
            ("targets", index, "artifact"),
        )
    if kind == "stepfunctions" and raw["input"] is not None and raw["input_file"] is not None:
        ok = False
        check.error(
            "MC324",
            "a stepfunctions target takes its execution input from `input` (literal JSON) or `input_file` (a file "
            "of the build artifact), not both",
            ("targets", index, "input_file"),
            hint="keep one of them",
        )
    if kind == "s3" and raw["extract"] is False and raw["delete_stale"]:
        ok = False
        check.error(
            "MC320",
            "`delete_stale` syncs the artifact's files into the bucket; with `extract: false` the artifact is one "
            "zip object, so there is nothing stale to delete",
            ("targets", index, "delete_stale"),
            hint="drop `delete_stale`, or set `extract: true` (the default) to deploy the files",
        )
    if kind == "cloudformation" and isinstance(raw["package"], str):
        ok = False
        check.error(
            "MC214",
            f"`package: {raw['package']}` is a lambda setting; a cloudformation target takes `package: true` "
            "(run `aws cloudformation package` on its template in the build)",
            ("targets", index, "package"),
        )
    if kind == "lambda" and isinstance(raw["package"], bool):
        ok = False
        check.error(
            "MC214",
            "a lambda target's `package` is `zip` or `image` (a lambda `template` is always packaged)",
            ("targets", index, "package"),
        )
    if kind == "s3" and raw["extract"] is False and not raw["prefix"]:
        ok = False
        check.error(
            "MC207", "an s3 target with `extract: false` needs `prefix`: the object key of the zip", ("targets", index)
        )
    return ok


_REQUIRED_HINTS = {
    "template": "the template path inside the build artifact, e.g. template: deploy/app.yaml",
    "cluster": "the ECS cluster name",
    "service": "the ECS service name",
    "container": "the container name in the task definition",
    "function": "the Lambda function name",
    "bucket": "the S3 bucket name",
    "state_machine": "the state machine name (in the environment's account and region)",
    "commands": "the shell commands to run, e.g. commands: [terraform init, terraform apply -auto-approve]",
}


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
    home, home_account = check.doc["region"], check.doc["account"]
    out = []
    for index, raw in enumerate(raw_envs):
        targets = raw["targets"]
        if targets is None:
            targets = target_names
        else:
            for t_index, name in enumerate(targets):
                check.reference(name, target_names, "target", ("environments", index, "targets", t_index))
        regions = tuple(raw["regions"] or [home])
        seen: set[str | None] = set()
        for r_index, region in enumerate(regions):
            if region in seen:
                check.error("MC202", f"region {region} is listed twice", ("environments", index, "regions", r_index))
            seen.add(region)
            if region is not None and region != home and home is None:
                check.error(
                    "MC210",
                    f"environment `{raw['name']}` deploys to {region}: set the top-level `region`",
                    ("environments", index, "regions", r_index),
                    hint="the pipeline's home region is needed for cross-region artifact stores",
                )
        account = raw["account"]
        if account is not None and account != home_account and home_account is None:
            check.error(
                "MC215",
                f"environment `{raw['name']}` deploys to account {account}: set the top-level "
                "`account` (the tooling account the target account's roles trust)",
                ("environments", index, "account"),
            )
        approval_raw = raw["approval"]
        approval = None
        if approval_raw["enabled"]:
            approval = Approval(
                tuple(approval_raw["approvers"]),
                approval_raw["notify"],
                approval_raw["timeout_minutes"],
                tuple(dict.fromkeys(approval_raw["notify_emails"])),
            )
            _check_approvers(check, approval.approvers, home_account, ("environments", index, "approval"))
        elif (
            approval_raw["approvers"]
            or approval_raw["notify"]
            or approval_raw["timeout_minutes"]
            or approval_raw["notify_emails"]
        ):
            check.error(
                "MC214",
                "approval settings given but `enabled: false`",
                ("environments", index, "approval"),
                hint="remove `enabled: false` or the other approval settings",
            )
        secrets = tuple(_secret(name, ref) for name, ref in sorted(raw["secrets"].items()))
        for name in sorted(set(check.doc["build"]["env"]) & set(raw["secrets"])):
            check.error(
                "MC202",
                f"`{name}` is both a plain environment variable (build.env) and a secret of {raw['name']}",
                ("environments", index, "secrets", name),
            )
        env = Environment(
            raw["name"], regions, approval, tuple(targets), account if account != home_account else None, secrets
        )
        out.append(env)
        _check_stack_names(check, env, index)
    return tuple(out)


def _check_approvers(check: _Checker, approvers: tuple[str, ...], home_account: str | None, path: Path) -> None:
    """Approvers are principals of the pipeline's account: the approve grant attaches to names
    (which IAM resolves in the account the stack is deployed to) and the approval check compares
    accounts, so an approver of another account would be silently re-pointed or never match."""
    if not approvers:
        return
    if home_account is None:
        check.error(
            "MC271",
            "approvers are given but the pipeline's account is not: set the top-level `account`",
            path + ("approvers",),
            hint="the compiler checks that every approver is a principal of the pipeline's account",
        )
        return
    for index, arn in enumerate(approvers):
        account = arn.split(":")[4]
        if account != home_account:
            check.error(
                "MC270",
                f"approver {arn} is in account {account}, not the pipeline's account {home_account}",
                path + ("approvers", index),
                hint="name a role, user or group of the pipeline's account (a cross-account approver "
                "approves through a role of this account that it may assume)",
            )


def _check_approval_notice(
    check: _Checker, environments: tuple[Environment, ...], notifications: Notifications | None
) -> None:
    """A pending approval nobody hears of waits until it times out: someone must be told."""
    rule_tells = notifications is not None and "approval-needed" in notifications.events
    for index, env in enumerate(environments):
        approval = env.approval
        if approval is None or approval.notify or approval.notify_emails or rule_tells:
            continue
        check.warn(
            "MC272",
            f"nobody is notified when `{env.name}` waits for approval: the created topic has no subscriber",
            ("environments", index, "approval"),
            hint="add approval.notify_emails, approval.notify (a topic of yours), or notifications with "
            "the approval-needed event",
        )
    for index, env in enumerate(environments):
        if env.approval is not None and env.approval.notify and env.approval.notify_emails:
            check.error(
                "MC214",
                "notify_emails subscribe to the created approval topic; with `notify` subscribe to your own topic",
                ("environments", index, "approval", "notify_emails"),
            )


def _check_stack_names(check: _Checker, env: Environment, index: int) -> None:
    targets = {t["name"]: (i, t) for i, t in enumerate(check.doc["targets"])}
    stacks: dict[tuple[str | None, str], str] = {}
    for name in env.targets:
        if name not in targets or targets[name][1].get("stack_invalid"):
            continue
        t_index, raw = targets[name]
        if raw["type"] != "cloudformation" and not (raw["type"] == "lambda" and raw["template"]):
            continue
        for region in env.regions:
            stack = render_placeholders(
                raw["stack"], environment=env.name, region=region or _LONGEST_REGION, name=check.doc["name"]
            )
            if (region, stack) in stacks:
                check.error(
                    "MC202",
                    f"targets `{stacks[(region, stack)]}` and `{name}` deploy the same stack "
                    f"`{stack}` in environment `{env.name}`",
                    ("targets", t_index, "stack"),
                )
            stacks[(region, stack)] = name
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


def _check_environment_secrets(
    check: _Checker, tests: tuple[TestSuite, ...], environments: tuple[Environment, ...], targets: tuple
) -> None:
    """MC230: an environment's secrets reach only its post-deploy test suites and its commands
    targets; with neither, nothing receives them (other deploy actions run no command of the manifest)."""
    commands = {t.name for t in targets if t.type == "commands"}
    for index, env in enumerate(environments):
        if env.secrets and not any(t.after == env.name for t in tests) and not commands & set(env.targets):
            check.error(
                "MC230",
                f"environment `{env.name}` has secrets but neither a test suite after its deploy nor a commands "
                "target runs in it, so no action receives them",
                ("environments", index, "secrets"),
                hint=f"add a suite with `after: {env.name}` or a `commands` target to the environment, or remove "
                "the secrets",
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


def _source(check: _Checker, build_suites: list[str]) -> Source:
    raw = check.doc["source"]
    provider = raw["provider"]
    path: Path = ("source",)
    if provider == "codestar":
        if raw["connection_arn"] is None:
            check.error(
                "MC207",
                "codestar sources need `connection_arn` (a CodeStar/CodeConnections connection)",
                path,
                hint="arn:aws:codestar-connections:<region>:<account>:connection/<id>",
            )
        if not re.match(r"^[^/\s]+/[^/\s]+$", raw["repository"]):
            check.error(
                "MC105",
                f"`{raw['repository']}` is not owner/repo",
                path + ("repository",),
                hint="codestar repositories are written owner/repo, e.g. acme/orders-service",
            )
        if raw["tags"] and (raw["paths"] or raw["exclude_paths"]):
            # A V2 trigger's tag filter starts the pipeline on tag pushes only; file paths filter
            # branch pushes, which a tags-only trigger does not have.
            field = "paths" if raw["paths"] else "exclude_paths"
            check.error(
                "MC292",
                f"`tags` and `{field}` cannot be combined: with `tags` only tag pushes start the pipeline, "
                f"and `{field}` filters branch pushes",
                path + (field,),
                hint=f"drop `{field}`, or drop `tags` to start on branch pushes filtered by file paths",
            )
    else:
        for field in ("connection_arn", "paths", "exclude_paths", "tags", "branches", "exclude_branches"):
            if raw[field]:
                # path filters: CodeCommit and S3 pushes start the pipeline through EventBridge
                # events, which name the commit but not the files it changed
                hint = (
                    'file path filters need a codestar source (README "Monorepo services")'
                    if "paths" in field
                    else None
                )
                check.error(
                    "MC214", f"`{field}` applies to codestar sources, not {provider}", path + (field,), hint=hint
                )
    if provider == "s3" and not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+$", raw["repository"]):
        check.error(
            "MC105",
            f"`{raw['repository']}` is not bucket/key",
            path + ("repository",),
            hint="s3 sources are written bucket/key, e.g. my-sources/orders/source.zip",
        )
    if provider == "codecommit" and not re.match(r"^[\w.-]{1,100}$", raw["repository"]):
        check.error("MC105", f"`{raw['repository']}` is not a CodeCommit repository name", path + ("repository",))
    feature = None
    fb = raw["feature_branches"]
    if fb is not None:
        if provider == "s3":
            check.error(
                "MC214", "feature_branches need a git source (codecommit or codestar)", path + ("feature_branches",)
            )
        if provider == "codestar" and raw["host"] not in aws.GIT_HOSTS:
            check.error(
                "MC296",
                f"feature-branch builds do not support host `{raw['host']}`: a CodeBuild webhook project "
                "needs the repository's clone URL, and manifestc knows it only for "
                f"{', '.join(sorted(aws.GIT_HOSTS))}",
                path + ("feature_branches",),
                hint="remove feature_branches (the pipeline itself works with this host), "
                "or build feature branches with a pipeline of their own",
            )
        suites = fb["tests"] if fb["tests"] is not None else build_suites
        for t_index, name in enumerate(fb["tests"] or []):
            check.reference(
                name,
                [t["name"] for t in check.doc["tests"]],
                "test suite",
                path + ("feature_branches", "tests", t_index),
            )
        feature = FeatureBranches(tuple(fb["patterns"]), tuple(suites), fb["deploy_to"], fb["teardown"])
    _check_triggers(check, raw)
    check_path_filters(check, raw)
    pull_requests = _pull_requests(check, raw, build_suites)
    return Source(
        provider,
        raw["repository"],
        raw["branch"],
        raw["connection_arn"],
        raw["host"],
        tuple(raw["paths"]),
        tuple(raw["tags"]),
        feature,
        raw["trigger"],
        raw["schedule"],
        tuple(raw["branches"]),
        tuple(raw["exclude_branches"]),
        pull_requests,
        tuple(raw["exclude_paths"]),
    )


def _pull_requests(check: _Checker, raw: dict[str, Any], build_suites: list[str]) -> PullRequests | None:
    """source.pull_requests: MC315 on an s3 source or a host without a known clone URL; MC316
    `approval` on CodeCommit (whose pull requests come from people with push access to it)."""
    pr = raw["pull_requests"]
    if pr is None or not pr["build"]:
        return None
    path: Path = ("source", "pull_requests")
    if raw["provider"] == "s3":
        check.error("MC315", "pull-request builds need a git source (codecommit or codestar)", path)
    if raw["provider"] == "codestar" and raw["host"] not in aws.GIT_HOSTS:
        check.error(
            "MC315",
            f"pull-request builds do not support host `{raw['host']}`: the CodeBuild webhook project needs the "
            f"repository's clone URL, known for {', '.join(sorted(aws.GIT_HOSTS))}",
            path,
            hint="remove pull_requests (the pipeline itself works with this host)",
        )
    if raw["provider"] == "codecommit" and pr["approval"] != "forks":
        check.error(
            "MC316",
            "`approval` applies to pull requests on GitHub, GitLab and Bitbucket (CodeBuild webhook comment "
            "approval); CodeCommit pull requests come from people with push access to the repository",
            path + ("approval",),
            hint="remove `approval`",
        )
    for t_index, name in enumerate(pr["tests"] or []):
        check.reference(name, [t["name"] for t in check.doc["tests"]], "test suite", path + ("tests", t_index))
    return PullRequests(tuple(pr["tests"] if pr["tests"] is not None else build_suites), pr["approval"])


def _check_triggers(check: _Checker, raw: dict[str, Any]) -> None:
    """Run modes (README `source`, "Triggers and run modes"): MC310 an invalid schedule expression;
    MC311 push filters on a manual pipeline; MC312 branch excludes a trigger cannot apply."""
    path: Path = ("source",)
    if raw["schedule"] is not None:
        problem = schedule_problem(raw["schedule"])
        if problem:
            check.error(
                "MC310",
                f"`{raw['schedule']}` is not an EventBridge schedule expression: {problem}",
                path + ("schedule",),
                hint="e.g. `cron(0 2 * * ? *)` (02:00 UTC every day) or `rate(12 hours)`",
            )
    if raw["trigger"] == "manual":
        for field in ("paths", "exclude_paths", "tags", "branches", "exclude_branches"):
            if raw[field]:
                check.error(
                    "MC311",
                    f"`{field}` filters the pushes that start the pipeline, and `trigger: manual` starts it on none",
                    path + (field,),
                    hint=f"remove `{field}`, or `trigger: manual` to start the pipeline on pushes",
                )
    if raw["provider"] != "codestar":
        return  # MC214 (codestar-only fields) is reported by _source
    if raw["exclude_branches"] and raw["tags"]:
        check.error(
            "MC312",
            "`exclude_branches` with `tags`: with `tags` only tag pushes start the pipeline, so no branch is to exclude",
            path + ("exclude_branches",),
            hint="drop `exclude_branches`, or drop `tags` and list branch globs in `branches`",
        )
    elif raw["exclude_branches"] and not any(ch in b for b in raw["branches"] for ch in "*?["):
        check.error(
            "MC312",
            "`exclude_branches` needs `branches` with a glob: without one, only the listed branches start the "
            "pipeline and there is nothing to exclude",
            path + ("exclude_branches",),
            hint='e.g. branches: ["release/*"] with exclude_branches: ["release/old-*"]',
        )
    if raw["branches"] and raw["tags"]:
        check.error(
            "MC312",
            "`branches` with `tags`: with `tags` only tag pushes start the pipeline",
            path + ("branches",),
            hint="drop one of them",
        )


def schedule_problem(expression: str) -> str | None:
    """Why `expression` is not an EventBridge schedule expression, or None: `rate` per
    aws.SCHEDULE_RATE_UNITS, `cron` the syntax Glue schedules share (cron_problem)."""
    rate = re.fullmatch(r"rate\((\S+) (\S+)\)", expression)
    if rate:
        value, unit = rate.groups()
        if not value.isdigit() or int(value) < 1:
            return f"the rate `{value}` is not a positive whole number"
        singular = {v: k for k, v in aws.SCHEDULE_RATE_UNITS.items()}
        if unit not in aws.SCHEDULE_RATE_UNITS and unit not in singular:
            return f"the unit `{unit}` is not one of {', '.join(sorted([*aws.SCHEDULE_RATE_UNITS, *singular]))}"
        wanted = unit if unit in aws.SCHEDULE_RATE_UNITS else singular[unit]
        wanted = wanted if int(value) == 1 else aws.SCHEDULE_RATE_UNITS[wanted]
        if unit != wanted:
            return f"a rate of {value} is written `rate({value} {wanted})`"
        return None
    if not expression.startswith("cron("):
        return "it is neither `cron(...)` nor `rate(value unit)`"
    problem = cron_problem(expression)
    return problem


def _variables(check: _Checker) -> tuple[Variable, ...]:
    """Pipeline-level variables: MC202 a name given twice; MC313 a name already a build variable or secret;
    MC314 more than CodeBuild actions can receive (one action configuration value)."""
    raw = check.doc["variables"]
    check.unique(raw, "variables", "variable")
    taken = set(check.doc["build"]["env"]) | set(check.doc["build"]["secrets"])
    taken |= {name for env in check.doc["environments"] for name in env["secrets"]}
    suites = {name: suite["name"] for suite in check.doc["tests"] for name in suite.get("env") or {}}
    for index, item in enumerate(raw):
        name = item["name"]
        where = ("variables", index, "name")
        if name in suites and name not in taken:
            check.error(
                "MC313",
                f"`{name}` is also in the `env` of test suite `{suites[name]}`: both would be entries of the "
                "suite action's EnvironmentVariables",
                where,
                hint=f"rename the pipeline variable, or read it in the suite as #{{variables.{name}}} under another name",
            )
        elif name in taken:
            check.error(
                "MC313",
                f"`{name}` is already a build environment variable or secret; the pipeline variable would replace it",
                where,
                hint="rename the pipeline variable or remove the build's",
            )
        elif name.upper().startswith(("CODEBUILD_", "AWS_")) or name.upper() in ("PATH", "HOME"):
            check.error(
                "MC313",
                f"`{name}` names a variable CodeBuild or the AWS CLI sets or reads",
                where,
                hint="choose a name of your own, e.g. RELEASE_VERSION",
            )
    variables = tuple(Variable(v["name"], v["default"], v["description"]) for v in raw)
    if variables:
        size = len(variable_environment(variables))
        quota = aws.QUOTAS["action-configuration-value"]
        if size > quota.limit:
            check.error(
                "MC314",
                f"the variables would be given to each build and test as an EnvironmentVariables value of {size} "
                f"characters; CodePipeline allows {quota.limit} ({quota.source})",
                ("variables",),
                hint="declare fewer variables or shorten their names",
            )
    return variables


def _quality_gates(check: _Checker) -> tuple[QualityGate, ...]:
    table = quality_gates()
    language = check.doc["language"] or ""
    gates = []
    for index, name in enumerate(check.doc["quality_gates"]):
        if name in [g.name for g in gates]:
            check.error("MC202", f"quality gate `{name}` is listed twice", ("quality_gates", index))
            continue
        entry = table["gates"].get(language, {}).get(name) or table["gates"]["defaults"][name]
        tool = gate_tool(entry["tool"]) if entry["tool"] else None
        version = (tool.version if tool else None) or ""
        commands = tuple(c.replace("{version}", version) for c in entry["commands"])
        secret = entry.get("needs_secret")
        if secret and secret not in check.doc["build"]["secrets"]:
            check.error(
                "MC277",
                f"the {name} gate ({tool.name if tool else name}) needs `{secret}` in build.secrets",
                ("quality_gates", index),
                hint=f"add build.secrets.{secret}: secretsmanager:<name> (a free NVD API key: "
                "https://nvd.nist.gov/developers/request-an-api-key); without it the NVD download can outrun "
                "the gate's timeout",
            )
        gates.append(QualityGate(name, commands, tool, secret))
    return tuple(gates)


def gate_tool(name: str) -> GateTool:
    """One pinned gate tool from schemas/quality.yaml."""
    raw = quality_gates()["tools"][name]
    version = raw.get("version")
    return GateTool(
        name,
        str(version) if version is not None else None,
        raw["source"],
        raw.get("package"),
        tuple(raw.get("reaches") or ()),
    )


def _notifications(check: _Checker) -> Notifications | None:
    raw = check.doc["notifications"]
    if raw is None:
        return None
    return Notifications(tuple(dict.fromkeys(raw["events"])), raw["sns_topic"], raw["slack_channel"])


def _runtime_hint(runtime: str | None, versions: list[str]) -> str | None:
    """Unquoted `3.10` reads as the number 3.1: say so when that is what happened."""
    lost_zero = [v for v in versions if runtime and v.startswith(runtime) and v != runtime]
    if lost_zero:
        return f'quote the version: runtime: "{lost_zero[0]}" (unquoted, YAML reads it as the number {runtime})'
    return None


def derive_endpoints(m: Manifest) -> dict[str, list[str]]:
    """The AWS services the pipeline's builds reach, each with the reasons (SPEC §5.4)."""
    need: dict[str, list[str]] = {}

    def add(service: str, reason: str) -> None:
        need.setdefault(service, [])
        if reason not in need[service]:
            need[service].append(reason)

    add("logs", "every CodeBuild project writes its build log to CloudWatch Logs")
    add("sts", "the AWS CLI and SDKs in builds call STS (credentials, role assumption)")
    add("s3", "builds download the source artifact and upload outputs, reports and caches to the artifact bucket")
    add("kms", "artifacts, reports and logs are encrypted with the pipeline's KMS key")
    b = m.build
    if b.codeartifact:
        for service in ("codeartifact.api", "codeartifact.repositories"):
            add(
                service,
                f"build.packages.codeartifact: dependencies come from {b.codeartifact.domain}/"
                f"{b.codeartifact.repository}",
            )
    if b.image_repository:
        for service in ("ecr.api", "ecr.dkr"):
            add(service, f"the build pushes its image to ECR repository {b.image_repository}")
        add("s3", "ECR serves image layers from S3")
    if not b.image.startswith("aws/codebuild/") and ".dkr.ecr." in b.image:
        for service in ("ecr.api", "ecr.dkr"):
            add(service, f"build.image {b.image} is pulled from ECR")
        add("s3", "ECR serves image layers from S3")
    for secret in b.secrets:
        service = "secretsmanager" if secret.store == "secretsmanager" else "ssm"
        add(service, f"build.secrets.{secret.variable} reads {secret.name}")
    for env in m.environments:
        for secret in env.secrets:
            service = "secretsmanager" if secret.store == "secretsmanager" else "ssm"
            add(service, f"environments.{env.name}.secrets.{secret.variable} reads {secret.name}")
    # Pipeline builds get the source as a zip artifact from S3 (OutputArtifactFormat CODE_ZIP); only
    # feature-branch projects (CodeBuild source type CODECOMMIT) clone the repository from the VPC.
    if m.source.provider == "codecommit" and m.source.feature_branches:
        for service in ("codecommit", "git-codecommit"):
            add(service, f"feature-branch builds clone CodeCommit repository {m.source.repository}")
    # Test and coverage reports are uploaded by the build container with the build role
    # (codebuild:CreateReport, BatchPutTestCases, BatchPutCodeCoverages: CodeBuild User Guide,
    # "Test report permissions" https://docs.aws.amazon.com/codebuild/latest/userguide/test-permissions.html),
    # i.e. calls to the CodeBuild API from the VPC.
    for suite in m.tests:
        if suite.reports or suite.coverage:
            add("codebuild", f"tests.{suite.name}: the build uploads its test reports to CodeBuild report groups")
    for where, command in manifest_commands(m):
        for service in reach.aws_cli_endpoints(command):
            add(service, f"{where}: `{command if len(command) <= 60 else command[:57] + '...'}`")
    for target in m.targets:
        if target.type == "lambda" and target.function:
            add("lambda", f"targets.{target.name}: the deploy job calls lambda:UpdateFunctionCode on {target.function}")
        if target.type == "glue":
            add("glue", f"targets.{target.name}: the workflow's smoke test and the Glue unit-test image call AWS Glue")
            if (
                m.glue is not None
                and m.glue.orchestration == "stepfunctions"
                and any(m.glue.smokes(e.name) for e in m.environments)
            ):
                add("states", f"targets.{target.name}: the smoke run starts and watches the state machine")
        if target.type == "cdk" and target.image_assets:
            for service in ("ecr.api", "ecr.dkr"):
                add(
                    service, f"targets.{target.name}: the asset job pushes image assets to the CDK bootstrap repository"
                )
    return need


def manifest_commands(m: Manifest) -> list[tuple[str, str]]:
    """Every command a manifest contributes to its buildspecs, with the field it comes from."""
    b = m.build
    found = [
        (f"build.{field}", command)
        for field, commands in (
            ("install", b.install),
            ("pre_build", b.pre_build),
            ("commands", b.commands),
            ("post_build", b.post_build),
        )
        for command in commands
    ]
    found += [(f"tests.{suite.name}", command) for suite in m.tests for command in suite.commands]
    found += [(f"quality_gates.{gate.name}", command) for gate in m.quality_gates for command in gate.commands]
    found += [(f"targets.{t.name}", command) for t in m.targets for command in t.commands]
    return found


def _job_commands(check: _Checker, m: Manifest) -> list[tuple[Path, str, tuple[str, ...], str]]:
    """(path, command, CodeArtifact logins of its job, what it is) for every command the pipeline's
    builds run that comes from the manifest or its presets. Commands the user wrote are located at
    the command; preset commands at `language` (or the gate, the suite)."""
    b, doc = m.build, check.doc
    ca = b.codeartifact
    pip = ("pip",) if ca and (ca.tool == "pip" or ca.pypi_repository) else ()
    base = tuple(dict.fromkeys(((ca.tool or "token"),) + pip)) if ca else ()
    out: list[tuple[Path, str, tuple[str, ...], str]] = []
    for field, commands in (
        ("install", b.install),
        ("pre_build", b.pre_build),
        ("commands", b.commands),
        ("post_build", b.post_build),
    ):
        given = doc["build"][field] is not None
        for index, command in enumerate(commands):
            path: Path = ("build", field, index) if given else ("language",)
            what = f"build.{field}[{index}]" if given else f"the {m.language} preset's {field} commands"
            out.append((path, command, base, what))
    for s_index, suite in enumerate(m.tests):
        given = doc["tests"][s_index].get("commands") is not None
        for index, command in enumerate(suite.commands):
            path = ("tests", s_index, "commands", index) if given else ("tests", s_index)
            what = f"tests[{s_index}].commands[{index}]" if given else f"the {m.language} preset's test commands"
            out.append((path, command, base, what))
    for g_index, gate in enumerate(m.quality_gates):
        tool = gate.tool
        logins = base + (("npm",) if tool and tool.source == "npm" else ())
        what = f"the {gate.name} gate ({tool.name if tool else 'its command'})"
        for command in (tool.install if tool else ()) + gate.commands:
            out.append((("quality_gates", g_index), command, logins, what))
    for t_index, target in enumerate(m.targets):
        for index, command in enumerate(target.commands):
            out.append(
                (("targets", t_index, "commands", index), command, base, f"targets[{t_index}].commands[{index}]")
            )
    # The self-update build reaches no package index: it installs its toolchain from S3 with
    # `pip --no-index` (emit/codebuild.py `_update_job`; readiness check MC600 holds it to that).
    return out


def _check_reachability(check: _Checker, m: Manifest, network: Network) -> None:
    """A private build without internet egress reaches only its VPC endpoints: a command that calls
    a public host (a package registry CodeArtifact does not stand in for, a vulnerability database,
    Docker Hub) times out there. Refuse it at the command, saying what to do instead (reach.py)."""
    if network.internet != "none":
        return
    reported: set[Path] = set()
    ca = m.build.codeartifact
    if ca is not None and ca.tool != "pip" and ca.pypi_repository is None:
        # CodeArtifact: one external connection per repository (AssociateExternalConnection), so
        # the language's repository does not serve PyPI; pip tools need their own repository.
        for g_index, gate in enumerate(m.quality_gates):
            if gate.tool is not None and gate.tool.source == "pypi":
                check.error(
                    "MC279",
                    f"the {gate.name} gate installs {gate.tool.name} with pip, but {ca.domain}/{ca.repository} "
                    f"is the {m.language} repository (a CodeArtifact repository has one external connection) "
                    "and a private build without internet egress cannot reach PyPI",
                    ("quality_gates", g_index),
                    hint="set build.packages.codeartifact.pypi_repository to a repository connected to PyPI "
                    "(public:pypi), or drop this gate",
                )
                reported.add(("quality_gates", g_index))
    for path, command, logins, what in _job_commands(check, m):
        hits = [h for h in reach.command_hits(command) if h.reach.registry is None or h.reach.registry not in logins]
        for hit in hits:
            if path in reported:
                break
            r = hit.reach
            via = (
                f"; this job logs in to CodeArtifact only for {', '.join(logins)}"
                if logins and r.registry
                else "; no CodeArtifact repository stands in for it"
                if r.registry
                else ""
            )
            message = (
                f"{what} runs `{hit.segment[:80]}`, which reaches {', '.join(r.hosts)} ({r.tool}){via}: a private "
                "build without internet egress cannot reach it"
            )
            hint = r.why + "; or, with a NAT in the subnets, add network.egress [{port: 443, cidr: 0.0.0.0/0, ...}]"
            if r.certain:
                check.error("MC275", message, path, hint=hint)
                reported.add(path)
            else:
                check.warn("MC278", message.replace("cannot reach it", "usually cannot reach it"), path, hint=hint)
    for g_index, gate in enumerate(m.quality_gates):
        tool = gate.tool
        if tool is None or not tool.reaches or ("quality_gates", g_index) in reported:
            continue
        check.error(
            "MC275",
            f"the {gate.name} gate's {tool.name} calls {', '.join(tool.reaches)} at run time: a private build "
            "without internet egress cannot reach it",
            ("quality_gates", g_index),
            hint="drop this gate from private builds, or, with a NAT in the subnets, add network.egress "
            "[{port: 443, cidr: 0.0.0.0/0, description: ...}]",
        )


def _egress(check: _Checker, raw: dict[str, Any]) -> tuple[EgressRule, ...]:
    rules = []
    for index, rule in enumerate(raw["egress"]):
        path: Path = ("network", "egress", index)
        if raw["security_groups"]:
            check.error(
                "MC276",
                "network.egress adds rules to the build security group manifestc creates; with "
                "network.security_groups the builds use yours",
                path,
                hint="add the rule to your security group, or drop network.security_groups",
            )
            continue
        if (rule["cidr"] is None) == (rule["prefix_list"] is None):
            check.error("MC276", "an egress rule needs exactly one of `cidr` and `prefix_list`", path)
            continue
        to_port = rule["to_port"] or rule["port"]
        if to_port < rule["port"]:
            check.error("MC276", f"to_port {to_port} is below port {rule['port']}", path + ("to_port",))
            continue
        rules.append(EgressRule(rule["port"], to_port, rule["cidr"], rule["prefix_list"], rule["description"]))
    return tuple(rules)


def _network(check: _Checker, m: Manifest) -> Network:
    raw = check.doc["network"]
    path: Path = ("network",)
    if len(raw["subnets"]) == 1:
        check.warn(
            "MC250",
            "one subnet means one Availability Zone: builds and endpoints stop with that AZ",
            path + ("subnets",),
            hint="list private subnets in at least two AZs",
        )
    if m.build.codeartifact is None and m.language is not None:
        check.warn(
            "MC252",
            "builds in a VPC without `build.packages.codeartifact` install from public registries, "
            "which fails without a NAT gateway",
            path,
            hint="add build.packages.codeartifact, or make sure the subnets route to a NAT gateway",
        )
    need = derive_endpoints(m)
    endpoints = raw["endpoints"]
    if isinstance(endpoints, str):
        if endpoints not in ("auto", "none"):
            check.error(
                "MC104",
                f"`{endpoints}` is not allowed; expected auto, none or a list of services",
                path + ("endpoints",),
            )
            return Network(raw["vpc_id"], (), (), (), "none", ())
        mode = endpoints
        chosen = need if mode == "auto" else {}
    else:
        mode = "list"
        chosen = {}
        for index, service in enumerate(endpoints):
            if not isinstance(service, str) or service not in aws.ENDPOINT_SERVICES:
                close = difflib.get_close_matches(str(service), list(aws.ENDPOINT_SERVICES), n=1)
                check.error(
                    "MC217",
                    f"unknown endpoint service `{service}`",
                    path + ("endpoints", index),
                    hint=f"did you mean `{close[0]}`?" if close else f"known: {', '.join(aws.ENDPOINT_SERVICES)}",
                )
                continue
            if service in chosen:
                check.error("MC202", f"endpoint `{service}` is listed twice", path + ("endpoints", index))
                continue
            if service not in need:
                check.warn(
                    "MC251",
                    f"endpoint `{service}` is not needed by any build of this pipeline",
                    path + ("endpoints", index),
                    hint="remove it, or keep it if other workloads in the VPC use it",
                )
                chosen[service] = ["listed in network.endpoints"]
            else:
                chosen[service] = need[service]
        for service, reasons in need.items():
            if service not in chosen:
                check.error(
                    "MC216",
                    f"endpoint `{service}` is needed: {reasons[0]}",
                    path + ("endpoints",),
                    hint=f"add {service} to network.endpoints (or use endpoints: auto)",
                )
    if m.language == "docker" and mode != "auto" and "ecr.dkr" not in chosen:
        check.warn(
            "MC253",
            "a docker build in a VPC without ECR endpoints cannot log in to ECR or pull and push images",
            path + ("endpoints",),
            hint="add ecr.api and ecr.dkr (endpoints: auto does)",
        )
    if any(aws.ENDPOINT_SERVICES[s] == "Gateway" for s in chosen) and not raw["route_tables"]:
        check.error(
            "MC218",
            "the S3 gateway endpoint needs the subnets' route tables: set network.route_tables",
            path,
            hint="route_tables: [rtb-...]",
        )
    ordered = sorted(chosen.items(), key=lambda item: (aws.ENDPOINT_SERVICES[item[0]] != "Gateway", item[0]))
    network = Network(
        vpc_id=raw["vpc_id"],
        subnets=tuple(raw["subnets"]),
        security_groups=tuple(raw["security_groups"]),
        route_tables=tuple(raw["route_tables"]),
        mode=mode,
        endpoints=tuple(
            Endpoint(service, aws.ENDPOINT_SERVICES[service], tuple(reasons)) for service, reasons in ordered
        ),
        egress=_egress(check, raw),
    )
    _check_reachability(check, m, network)
    return network


def _catalog(check: _Checker, m: Manifest) -> Catalog:
    raw = check.doc["catalog"]
    path: Path = ("catalog",)
    parameters = list(dict.fromkeys(raw["parameters"]))
    if "connection_arn" in parameters and m.source.provider != "codestar":
        check.error("MC214", "`connection_arn` is a parameter of codestar sources only", path + ("parameters",))
    if m.source.provider == "s3":
        for name in ("repository", "branch"):
            if name in parameters:
                check.error(
                    "MC214",
                    f"`{name}` cannot be a parameter of an s3 source (it names a bucket/key)",
                    path + ("parameters",),
                    hint="drop it from catalog.parameters",
                )
    _check_product_values(check, m, parameters)
    _check_product_copies(check, m)
    for index, version in enumerate(raw["keep_versions"]):
        if version == raw["version"]:
            check.error(
                "MC202", f"keep_versions repeats the current version {version}", path + ("keep_versions", index)
            )
    if m.regenerate.enabled:
        check.error(
            "MC263",
            "a product pipeline cannot update itself: every provisioned copy would stall at "
            "UpdatePipeline (the provisioner's repository has no manifest of yours) or change a "
            "stack Service Catalog manages behind its back",
            ("regenerate",) if ("regenerate",) in check.marks.keys else path,
            hint="set `regenerate: false`, and publish a new catalog.version to change provisioned pipelines",
        )
    return Catalog(
        portfolio=raw["portfolio"],
        provider=raw["provider"],
        product=raw["product"],
        version=raw["version"],
        keep_versions=tuple(dict.fromkeys(raw["keep_versions"])),
        description=raw["description"] or m.description or f"CI/CD pipeline compiled by manifestc from {m.name}",
        principals=tuple(dict.fromkeys(raw["principals"])),
        share_with=tuple(dict.fromkeys(raw["share_with"])),
        parameters=tuple(parameters),
        bucket=raw["bucket"],
        prefix=raw["prefix"],
    )


_PRODUCT_FIELDS: dict[str, Path] = {
    "repository": ("source", "repository"),
    "branch": ("source", "branch"),
    "team": ("team",),
    "connection_arn": ("source", "connection_arn"),
}


def _check_product_values(check: _Checker, m: Manifest, parameters: list[str]) -> None:
    """A parameterised field's manifest value is the parameter's default: it must match the
    parameter's AllowedPattern, which is stricter than the schema (provisioner values are inert)."""
    values = {
        "repository": m.source.repository,
        "branch": m.source.branch,
        "team": m.team,
        "connection_arn": m.source.connection_arn,
    }
    for name in parameters:
        if name == "connection_arn" and m.source.provider != "codestar":
            continue
        pattern = catalog_parameter_pattern(name, m.source.provider)
        value = values[name]
        if value is not None and not re.fullmatch(pattern, value):
            check.error(
                "MC273",
                f"`{value}` cannot be the default of the product parameter for `{name}`: it must match {pattern}",
                _PRODUCT_FIELDS[name],
                hint="product parameters admit no quotes, braces, `$`, `#`, backslashes or whitespace "
                "(they are placed in JSON and Fn::Sub strings)",
            )


def _check_product_copies(check: _Checker, m: Manifest) -> None:
    """Every provisioned copy of a product gets its own names (from PipelineName); what a copy
    deploys must be named after it too, or two copies in one account deploy over each other."""
    for index, target in enumerate(m.targets):
        if target.type == "cloudformation" or (target.type == "lambda" and target.template):
            if "{name}" not in target.stack:
                check.error(
                    "MC274",
                    f"target `{target.name}` deploys stack `{target.stack}` from every provisioned copy of the product",
                    ("targets", index, "stack"),
                    hint='put {name} in the stack name (e.g. "{name}-{environment}"): each copy\'s PipelineName',
                )
        else:
            what = {"ecs": "ECS service", "lambda": "function", "s3": "bucket", "glue": "Glue workflow"}
            check.error(
                "MC274",
                f"target `{target.name}` deploys a fixed {what.get(target.type, 'resource')}: every provisioned copy "
                "of the product would deploy to the same one",
                ("targets", index),
                hint="a product deploys with cloudformation targets whose stack names contain {name}",
            )
    for index, env in enumerate(m.environments):
        if env.account is not None:
            check.error(
                "MC274",
                f"environment `{env.name}` deploys to account {env.account} through bootstrap roles that trust one "
                "pipeline's role path; the copies of a product have one path each",
                ("environments", index, "account"),
                hint="a product deploys to the account it is provisioned in; publish a separate pipeline "
                "(not a product) for cross-account deployments",
            )
    if check.doc["catalog"]["share_with"]:
        for index, env in enumerate(m.environments):
            if env.approval is not None and env.approval.approvers:
                check.error(
                    "MC274",
                    "approvers are principals of one account, but the product is provisioned in the accounts "
                    "it is shared with",
                    ("environments", index, "approval", "approvers"),
                    hint="drop catalog.share_with, or the approvers (each account then grants approval itself)",
                )


_CRON_FIELD = {
    "minutes": r"^(\*|[0-5]?\d)([-/,][0-5]?\d)*$",
    "hours": r"^(\*|[01]?\d|2[0-3])([-/,]([01]?\d|2[0-3]))*$",
    "day-of-month": r"^(\*|\?|L|W|([1-9]|[12]\d|3[01])W?)([-/,]([1-9]|[12]\d|3[01]))*$",
    "month": r"^(\*|[1-9]|1[0-2]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)([-/,]([1-9]|1[0-2]|[A-Z]{3}))*$",
    "day-of-week": r"^(\*|\?|L|[1-7](L|#[1-5])?|SUN|MON|TUE|WED|THU|FRI|SAT)([-/,]([1-7]|[A-Z]{3}))*$",
    "year": r"^(\*|(19[7-9]\d|2[01]\d\d))([-/,](19[7-9]\d|2[01]\d\d))*$",
}


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not an AWS cron expression (Glue/EventBridge syntax), or None.

    Source: AWS Glue Developer Guide, "Time-based schedules for jobs and crawlers":
    cron(Minutes Hours Day-of-month Month Day-of-week Year), one of day-of-month and day-of-week '?'.
    """
    match = re.fullmatch(r"cron\((.*)\)", expression.strip())
    if not match:
        return "must look like cron(Minutes Hours Day-of-month Month Day-of-week Year)"
    fields = match.group(1).split()
    if len(fields) != 6:
        return f"has {len(fields)} fields; AWS cron takes 6 (Minutes Hours Day-of-month Month Day-of-week Year)"
    for (name, pattern), value in zip(_CRON_FIELD.items(), fields, strict=True):
        if not re.match(pattern, value.upper()):
            return f"{name} field `{value}` is not valid"
    if "?" not in (fields[2], fields[4]):
        return "one of day-of-month and day-of-week must be `?`"
    return None


def _glue(check: _Checker) -> Glue:
    raw = check.doc["glue"]
    path: Path = ("glue",)
    if raw["schedule"] is not None and (problem := cron_problem(raw["schedule"])):
        check.error(
            "MC221",
            f"schedule `{raw['schedule']}` {problem}",
            path + ("schedule",),
            hint="for example cron(0 10 1 * ? *): 10:00 UTC on the 1st of every month",
        )
    names: dict[str, Path] = {}
    for kind in ("jobs", "crawlers"):
        for index, node in enumerate(raw[kind]):
            if node["name"] in names:
                check.error("MC202", f"duplicate job or crawler name `{node['name']}`", path + (kind, index, "name"))
            else:
                names[node["name"]] = path + (kind, index)
    jobs = tuple(_glue_job(check, job, path + ("jobs", index)) for index, job in enumerate(raw["jobs"]))
    crawlers = tuple(GlueCrawler(c["name"], tuple(c["s3"]), tuple(dict.fromkeys(c["after"]))) for c in raw["crawlers"])
    if not jobs and not crawlers:
        check.error("MC207", "a glue workflow needs at least one job or crawler", path)
    for kind in ("jobs", "crawlers"):
        for index, node in enumerate(raw[kind]):
            for a_index, upstream in enumerate(node["after"]):
                where = path + (kind, index, "after", a_index)
                if upstream == node["name"]:
                    check.error("MC219", f"`{upstream}` cannot run after itself", where)
                else:
                    check.reference(upstream, list(names), "job or crawler", where)
    glue = Glue(
        raw["workflow"],
        raw["schedule"],
        raw["database"],
        raw["scripts_bucket"],
        raw["smoke_test"],
        jobs,
        crawlers,
        scripts_key=raw["scripts_key"],
    )
    if raw["scripts_key"] and not raw["scripts_bucket"]:
        check.error(
            "MC214",
            "`scripts_key` is the key of your own `scripts_bucket`; the artifact bucket's key is granted already",
            path + ("scripts_key",),
        )
    for cycle in find_cycles(glue):
        check.error(
            "MC220",
            f"the workflow has a cycle: {' → '.join(cycle)}",
            names[cycle[0]] + ("after",),
            hint="a workflow is a DAG: remove one of these `after` edges",
        )
    return glue


def _glue_job(check: _Checker, raw: dict[str, Any], path: Path) -> GlueJob:
    for o_index, name in enumerate(raw["outputs"]):
        check.reference(name, list(raw["arguments"]), "job argument", path + ("outputs", o_index))
    spec = aws.GLUE_JOB_TYPES[raw["type"]]
    versions = spec["versions"]
    version = raw["glue_version"] or versions[-1]
    if version not in versions:
        check.error(
            "MC222", f"{raw['type']} jobs run on Glue {', '.join(versions)}, not {version}", path + ("glue_version",)
        )
    workers_by_version = spec["workers"].get(version, [])
    worker_type, workers = raw["worker_type"], raw["workers"]
    if raw["type"] == "pythonshell":
        for field in ("worker_type", "workers"):
            if raw[field] is not None:
                check.error("MC222", f"pythonshell jobs take no {field} (they run on 1/16 or 1 DPU)", path + (field,))
        worker_type, workers = None, None
    else:
        worker_type = worker_type or (workers_by_version[0] if workers_by_version else None)
        if worker_type not in workers_by_version and version in versions:
            check.error(
                "MC222",
                f"worker type {worker_type} is not available for {raw['type']} jobs on Glue "
                f"{version}; available: {', '.join(workers_by_version)}",
                path + ("worker_type",),
            )
        workers = workers or 2
        if workers < 2 and raw["type"] in ("spark", "streaming"):
            check.error("MC222", f"{raw['type']} jobs need at least 2 workers", path + ("workers",))
    return GlueJob(
        raw["name"],
        raw["script"],
        raw["type"],
        spec["command"],
        version,
        worker_type,
        workers,
        tuple(dict.fromkeys(raw["after"])),
        tuple(sorted(raw["arguments"].items())),
        raw["timeout"],
        raw["retries"],
        tuple(dict.fromkeys(raw["outputs"])),
    )


def find_cycles(glue: Glue) -> list[list[str]]:
    """Each cycle of the `after` graph once, as a path that returns to its first node."""
    nodes = glue.nodes
    order = {name: index for index, name in enumerate(nodes)}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def record(cycle: list[str]) -> None:
        key = frozenset(cycle)
        if key not in seen:
            seen.add(key)
            # read the cycle along the data flow (upstream first), from its first-declared node
            ordered = list(reversed(cycle))
            start = min(range(len(ordered)), key=lambda i: order[ordered[i]])
            ordered = ordered[start:] + ordered[:start]
            cycles.append(ordered + [ordered[0]])

    # Depth-first search with an explicit stack of iterators: a chain of a thousand jobs declared
    # downstream-first would exhaust Python's recursion limit.
    for root in nodes:
        if root in state:
            continue
        state[root] = 1
        stack.append(root)
        frames = [iter(nodes[root].after)]
        while frames:
            upstream = next(frames[-1], None)
            if upstream is None:
                state[stack.pop()] = 2
                frames.pop()
                continue
            if upstream not in nodes or upstream == stack[-1]:
                continue  # unknown names and self-edges have their own diagnostics
            if state.get(upstream) == 1:
                record(stack[stack.index(upstream) :])
            elif state.get(upstream) is None:
                state[upstream] = 1
                stack.append(upstream)
                frames.append(iter(nodes[upstream].after))
    return cycles


def _check_glue_targets(check: _Checker, m: Manifest, glue: Glue | None) -> None:
    glue_targets = [(i, t) for i, t in enumerate(m.targets) if t.type == "glue"]
    for index, target in glue_targets:
        if glue is None:
            check.error(
                "MC207",
                f"glue target `{target.name}` deploys the manifest's `glue` workflow: add a `glue:` section",
                ("targets", index),
            )
        for env in m.environments:
            if glue is None or target.name not in env.targets or not m.is_cross_account(env):
                continue
            # README "Glue in another account": the job role in the target account reads the scripts
            # in the tooling account's artifact bucket (its bucket and key policies name that role);
            # a bucket of your own is not ours to grant, and the smoke run would start in the wrong account.
            if glue.scripts_bucket:
                check.error(
                    "MC286",
                    f"environment {env.name} deploys the glue workflow to account {env.account}, but its "
                    "scripts go to your own `glue.scripts_bucket`, whose bucket and key policies manifestc "
                    "does not write: the job role in that account could not read them",
                    ("glue", "scripts_bucket"),
                    hint="drop `scripts_bucket` (the artifact bucket is then used and granted), or keep glue "
                    "environments in the pipeline's account",
                )
            if glue.smokes(env.name):
                own = env.name in dict(glue.smoke_by_environment)  # environments[].glue.smoke_test
                check.error(
                    "MC285",
                    f"`smoke_test` starts the workflow from the tooling account, but environment {env.name} "
                    f"deploys it to account {env.account}: the run would be started in the wrong account",
                    ("environments", m.environments.index(env), "glue", "smoke_test")
                    if own
                    else ("glue", "smoke_test"),
                    hint="set `smoke_test: false` (for this environment: `environments[].glue.smoke_test`) and run "
                    "the workflow with a test suite that assumes a role in that account, or keep glue environments "
                    "in the pipeline's account",
                )
    if glue is not None:
        _check_glue_paths(check, m, glue, [t.name for _, t in glue_targets])
    if glue is not None and not glue_targets:
        check.warn(
            "MC258",
            "the glue workflow is compiled but no target deploys it",
            ("glue",),
            hint="add a target with `type: glue`",
        )


# A placeholder in a Glue argument or crawler path: `{word}` (JSON such as `{"a": 1}` is no placeholder)
_GLUE_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _check_glue_paths(check: _Checker, m: Manifest, glue: Glue, targets: list[str]) -> None:
    """Placeholders of job arguments and crawler paths are known ones (MC208, MC282), and no two
    environments write one S3 location (MC287): each environment's stack runs the same jobs, so
    without `{environment}` in an output dev's runs overwrite prod's data (and prod's job role
    cannot decrypt what dev's key encrypted)."""
    values: list[tuple[str, Path]] = [
        (value, ("glue", "jobs", index, "arguments", key))
        for index, job in enumerate(glue.jobs)
        for key, value in job.arguments
    ] + [
        (value, ("glue", "crawlers", index, "s3", p_index))
        for index, crawler in enumerate(glue.crawlers)
        for p_index, value in enumerate(crawler.s3)
    ]
    env_index = {e.name: i for i, e in enumerate(m.environments)}
    values += [  # values an environment gives instead (semantics_glue.py)
        (value, ("environments", env_index[env], "glue", "arguments", job.name, key))
        for job in glue.jobs
        for env, arguments in job.environment_arguments
        for key, value in arguments
    ]
    for value, path in values:
        for match in _GLUE_PLACEHOLDER.finditer(value):
            if match.group(1) not in _PLACEHOLDERS:
                check.error(
                    "MC208",
                    f"unknown placeholder `{{{match.group(1)}}}`; use {{environment}}, {{region}} or {{name}}",
                    path,
                )
            elif match.group(1) == "region" and m.region is None:
                check.error("MC282", "`{region}` here needs the top-level `region`", path)
    if any(d.is_error for d in check.diagnostics):
        return
    writers: dict[str, tuple[str, str]] = {}  # location -> (environment, job)
    for env in m.environments:
        if not any(t in env.targets for t in targets):
            continue
        for index, job in enumerate(glue.jobs):
            for name, value in job.arguments_in(env.name):
                if name not in job.outputs and name not in aws.GLUE_WRITE_PARAMETERS:
                    continue
                for part in value.split(","):
                    if not part.strip().startswith("s3://"):
                        continue
                    where = m.glue_text(part.strip(), env).removeprefix("s3://")
                    clash = next(
                        (w for w in writers if where.startswith(w) or w.startswith(where)),
                        None,
                    )
                    if clash is not None and writers[clash][0] != env.name:
                        other_env, other_job = writers[clash]
                        check.error(
                            "MC287",
                            f"environments `{other_env}` (job `{other_job}`) and `{env.name}` (job `{job.name}`) "
                            f"both write s3://{where}: each environment's workflow would overwrite the other's data",
                            ("glue", "jobs", index, "arguments", name),
                            hint="put {environment} in the path, e.g. s3://acme-curated/{environment}/denormalized/",
                        )
                    writers.setdefault(where, (env.name, job.name))


# The factory stack's name and roles (emit/factory.py NAME; emit/storage.py FACTORY_ROLE_PATH).
RESERVED_PIPELINE_NAMES = frozenset({"manifestc-factory"})
# manifestc's own prefix of a bucket: the self-update toolchain (`_manifestc/toolchain/`), the
# factory's templates. A deploy that writes there could replace the code other pipelines run.
_RESERVED_PREFIX = "_manifestc/"


def _under_reserved(key: str, folder: bool) -> bool:
    """Whether objects at `key` (a folder of objects, or one object key) would have a `_manifestc/`
    path segment at any depth: the boundary's NoManifestcPrefixWrites denies those (its resource
    `*/_manifestc/*` cannot be anchored to the top: IAM's `*` and `?` also match `/`), so the
    deploy would compile and then fail with AccessDenied."""
    path = "/" + key.lstrip("/")
    if folder:
        path = path.rstrip("/") + "/"
    return "/" + _RESERVED_PREFIX in path


def _check_reserved(check: _Checker, m: Manifest) -> None:
    """MC288: the factory's name; MC289: an s3 target or Glue output under `_manifestc/`."""
    if m.name in RESERVED_PIPELINE_NAMES:
        check.error(
            "MC288",
            f"`{m.name}` is the factory's name: its roles may write every pipeline's toolchain",
            ("name",),
            hint="choose another name",
        )
    for index, target in enumerate(m.targets):
        if target.type != "s3":
            continue
        for env in m.environments:
            if target.name not in env.targets:
                continue
            resolved = m.resolve_target(target, env, None)
            if _under_reserved(resolved.prefix or "", folder=target.extract):
                check.error(
                    "MC289",
                    f"target `{target.name}` would write under a `{_RESERVED_PREFIX}` segment of bucket "
                    f"`{resolved.bucket}` (environment {env.name}): that prefix holds manifestc's toolchain, which "
                    "other pipelines run, and every pipeline role is denied writes to it at any depth",
                    ("targets", index, "prefix"),
                    hint="deploy under another prefix",
                )
                break
    if m.glue is not None:
        for index, job in enumerate(m.glue.jobs):
            for name, value in job.arguments:
                if name in job.outputs or name in aws.GLUE_WRITE_PARAMETERS:
                    for part in value.split(","):
                        bucket_path = part.strip().removeprefix("s3://").partition("/")[2]
                        if part.strip().startswith("s3://") and _under_reserved(bucket_path, folder=True):
                            check.error(
                                "MC289",
                                f"job `{job.name}` would write under `{_RESERVED_PREFIX}`: that prefix holds "
                                "manifestc's toolchain, which other pipelines run",
                                ("glue", "jobs", index, "arguments", name),
                                hint="write the job's output under another prefix",
                            )


# --- Per-environment targets and values that become IAM resources (README "Per-environment
# targets", "Values that become IAM grants") ---

# Fields whose value becomes (part of) a resource in an IAM policy: a `*` or `?` there would grant
# far more than the one resource meant (IAM treats both as wildcards in resource ARNs).
_IAM_WILDCARD = re.compile(r"[*?]")


def _check_iam_wildcards(check: _Checker) -> None:
    doc = check.doc
    fields: list[tuple[Path, str]] = []
    if doc["source"]["provider"] == "s3":
        fields.append((("source", "repository"), doc["source"]["repository"]))
    for index, raw in enumerate(doc["targets"]):
        for name in ("bucket", "prefix", "function", "cluster", "service", "state_machine"):
            if isinstance(raw.get(name), str):
                fields.append((("targets", index, name), raw[name]))
    glue = doc["glue"]
    if glue is not None:
        for index, job in enumerate(glue["jobs"]):
            fields.append((("glue", "jobs", index, "script"), job["script"]))
            for key, value in job["arguments"].items():
                if "s3://" in value:
                    fields.append((("glue", "jobs", index, "arguments", key), value))
        for index, crawler in enumerate(glue["crawlers"]):
            for p_index, value in enumerate(crawler["s3"]):
                fields.append((("glue", "crawlers", index, "s3", p_index), value))
        for e_index, env in enumerate(doc["environments"]):  # per-environment values (semantics_glue.py)
            for job, arguments in ((env.get("glue") or {}).get("arguments") or {}).items():
                for key, value in arguments.items():
                    if "s3://" in value:
                        fields.append((("environments", e_index, "glue", "arguments", job, key), value))
    for path, value in fields:
        if _IAM_WILDCARD.search(value):
            check.error(
                "MC284",
                f"`{value}` contains a wildcard (`*` or `?`); this value becomes a resource in an IAM "
                "policy, where a wildcard grants every matching resource",
                path,
                hint="name the exact bucket, prefix or resource (a prefix already covers everything under it)",
            )


def _deploy_region(m: Manifest, region: str | None) -> str:
    return region or m.region or "(the pipeline's region)"


def _check_deploy_targets(check: _Checker, m: Manifest) -> None:
    """Per-environment fields render to valid names, and no two deploys (environments, targets,
    regions) in one account and region write to the same stack, service, function, bucket prefix
    or Glue database: in a single-account pipeline, staging would otherwise deploy to prod's
    resource and prod's approval would gate nothing."""
    index = {t["name"]: i for i, t in enumerate(check.doc["targets"])}
    for target in m.targets:
        t_index = index[target.name]
        for field in TARGET_PLACEHOLDER_FIELDS:
            value = getattr(target, field)
            if not value or target.type == "glue":
                continue
            path: Path = ("targets", t_index, field)
            if field not in TARGET_JSON_FIELDS and not _check_placeholders(check, value, path):
                continue
            if "{region}" in value and m.region is None:
                check.error(
                    "MC282",
                    f"`{{region}}` in `{field}` needs the top-level `region` (the pipeline's home region)",
                    path,
                    hint="set `region:` at the top of the manifest",
                )
            if (
                field == "template"
                and target.type == "cloudformation"
                and target.packaged
                and _PLACEHOLDER.search(value)
            ):
                check.error(
                    "MC241",
                    "a packaged template (`package: true`) is packaged once in the Build stage, so its path "
                    "cannot differ per environment",
                    path,
                    hint="use one template with a parameter per environment (`parameters` or "
                    "`template_configuration: deploy/{environment}.json`), or drop `package`",
                )
            if field == "template" and target.type == "lambda" and _PLACEHOLDER.search(value):
                check.error(
                    "MC283",
                    "a lambda `template` is packaged once in the Build stage, so it cannot differ per environment",
                    path,
                    hint="pass the environment as a stack parameter instead: parameters: {Stage: '{environment}'}",
                )
    if m.glue is not None and "{region}" in m.glue.database and m.region is None:
        check.error("MC282", "`{region}` in the database needs the top-level `region`", ("glue", "database"))
    if m.glue is not None:
        _check_placeholders(check, m.glue.database, ("glue", "database"))
    if any(d.is_error for d in check.diagnostics):
        return
    owners: dict[tuple[str, str, str, str], tuple[str, str]] = {}
    prefixes: dict[tuple[str, str], list[tuple[str, str, str]]] = {}  # bucket -> (prefix, env, target)
    for env in m.environments:
        account = env.account or m.account or "(the pipeline's account)"
        for name in env.targets:
            target = m.target(name)
            t_index = index[name]
            for region in m.target_regions(target, env):
                where = _deploy_region(m, region)
                resolved = m.resolve_target(target, env, region)
                things: list[tuple[str, str, Path]] = [
                    (
                        kind,
                        identity,
                        ("glue", field) if field in ("database", "databases") else ("targets", t_index, field),
                    )
                    for kind, identity, field in m.target_resources(target, env, region)
                    # prefixes overlap rather than equal (below); a role two environments assume is
                    # not written by them (the self-update guard still gates it)
                    if kind not in ("S3 prefix", "assumed role")
                    # invoke targets start or call a resource rather than deploy it: environments may
                    # share one (and an environment may invoke the function it deploys); they are
                    # still gated resources for the self-update guard (Manifest.target_resources)
                    and not target.invokes
                ]
                for field in (
                    "cluster",
                    "service",
                    "function",
                    "bucket",
                    "state_machine",
                    "layer",
                    "beanstalk_environment",
                ):
                    value = getattr(resolved, field)
                    if value and not re.match(aws.RESOLVED_NAME_PATTERNS[field], value):
                        check.error(
                            "MC281",
                            f"`{field}` renders to `{value}` for environment `{env.name}`, which is not a "
                            f"valid {field} name",
                            ("targets", t_index, field),
                        )
                for database in (
                    (m.glue_database(env, d) for d in (m.glue.database, *m.glue.databases))
                    if (target.type == "glue" and m.glue is not None)
                    else ()
                ):
                    if not re.match(aws.RESOLVED_NAME_PATTERNS["database"], database):
                        check.error(
                            "MC281",
                            f"the database renders to `{database}` for environment `{env.name}`, which is not "
                            "a valid Glue database name for Athena",
                            ("glue", "database"),
                        )
                for kind, identity, path in things:
                    key = (account, where, kind, identity)
                    if key in owners:
                        other_env, other_target = owners[key]
                        if kind == "stack" and other_env == env.name:
                            continue  # two targets of one environment: MC202 (_check_stack_names)
                        if kind not in _COLLISION_HINTS:
                            continue  # e.g. a role two environments' commands targets assume: shared, not written
                        check.error(
                            "MC280",
                            f"environments `{other_env}` (target `{other_target}`) and `{env.name}` (target "
                            f"`{name}`) both deploy {kind} `{identity}` in account {account}, region {where}",
                            path,
                            hint=_COLLISION_HINTS[kind],
                        )
                    else:
                        owners[key] = (env.name, name)
                if target.type == "s3":
                    bucket_key = ("s3", resolved.bucket)  # bucket names are global: any account
                    prefix = resolved.prefix or ""
                    for other_prefix, other_env, other_target in prefixes.get(bucket_key, []):
                        if prefix.startswith(other_prefix) or other_prefix.startswith(prefix):
                            check.error(
                                "MC280",
                                f"environments `{other_env}` (target `{other_target}`) and `{env.name}` (target "
                                f"`{name}`) both deploy to bucket `{resolved.bucket}` under overlapping prefixes "
                                f"`{other_prefix or '(root)'}` and `{prefix or '(root)'}`",
                                ("targets", t_index, "prefix" if target.prefix else "bucket"),
                                hint=_COLLISION_HINTS["bucket"],
                            )
                            break
                    prefixes.setdefault(bucket_key, []).append((prefix, env.name, name))


_COLLISION_HINTS = {
    "stack": "put {environment} in `stack` (the default is {name}-{environment})",
    "ECS service": "put {environment} in `service` or `cluster`, e.g. service: api-{environment}",
    "Lambda function": "put {environment} in `function`, e.g. function: invoices-{environment}",
    "Glue database": "put {environment} in glue.database, e.g. database: sales_{environment}",
    "CodeDeploy deployment group": "put {environment} in `deployment_group`, e.g. deployment_group: api-{environment}",
    "Lambda layer": "put {environment} in `layer`, e.g. layer: shared-{environment}",
    "Elastic Beanstalk environment": "put {environment} in `beanstalk_environment`, e.g. shop-{environment}",
    "ECR repository": "give each environment its own account or region, or copy once",
    "Service Catalog product": "give each environment its own product: product: {staging: prod-..., prod: prod-...}",
    "bucket": "put {environment} in `bucket` or `prefix`, e.g. prefix: '{environment}/'",
}


# `regenerate.install`: only hash-pinned wheelhouses in the organisation's own storage. A
# version (`manifestc==X.Y.Z`: the wheelhouse `manifestc wheelhouse` wrote, uploaded to the
# artifact bucket) or an S3 prefix holding one. Nothing that reaches a package index, a VCS or
# a URL: whoever controls those controls the templates the self-update role deploys.
_INSTALL_VERSION = re.compile(r"^manifestc==[0-9]+(\.[0-9]+)*([a-z]+[0-9]*)?(\.post[0-9]+)?(\.dev[0-9]+)?$")
# S3 bucket naming rules (docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html);
# the prefix is kept to characters that need no quoting in a shell or an IAM ARN.
_INSTALL_S3 = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([A-Za-z0-9._-]+/)*$")
_MANIFEST_PATH = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*\.ya?ml$")


def _regenerate(check: _Checker, default_path: str) -> Regenerate:
    raw = check.doc["regenerate"]
    install = raw["install"] or f"manifestc=={__version__}"
    if raw["install"] is not None:
        install = install.strip()
        if _INSTALL_S3.match(install + ("" if install.endswith("/") else "/")):
            install = install if install.endswith("/") else install + "/"
            if ".." in install:
                check.error("MC260", f"`{raw['install']}`: `..` in a toolchain prefix", ("regenerate", "install"))
        elif not _INSTALL_VERSION.match(install):
            check.error(
                "MC260",
                f"regenerate.install `{raw['install']}` is not a pinned toolchain: the self-update build "
                "installs manifestc only from a hash-pinned wheelhouse in your own S3 (never a package "
                "index, a git URL or a download link, whose owner would control what the pipeline deploys)",
                ("regenerate", "install"),
                hint=f"use `manifestc=={__version__}` (the wheelhouse uploaded to the artifact bucket, see "
                "`manifestc wheelhouse`) or `s3://<your-bucket>/<prefix>/`",
            )
    path = raw["path"]
    if path is None:
        if check.doc["regenerate"]["enabled"] and check.doc["source"]["provider"] == "s3":
            check.error(
                "MC262",
                "an s3 source with self-update needs `regenerate.path`: the manifest's path inside the "
                "source zip (the self-update build compiles that file from the unpacked object)",
                ("regenerate",) if ("regenerate",) in check.marks.keys else ("source", "provider"),
                hint="add `regenerate: {path: manifest.yaml}` (or where the zip holds it), or `regenerate: false`",
            )
        path = default_path
    elif not _MANIFEST_PATH.match(path) or any(part == ".." for part in path.split("/")):
        check.error(
            "MC261",
            f"regenerate.path `{path}` must be a relative path inside the repository to a .yaml/.yml file "
            "(letters, digits, `._-`, `/` between parts, no `..`)",
            ("regenerate", "path"),
            hint="for example `deploy/pipeline.yaml`",
        )
    return Regenerate(raw["enabled"], install, path)
