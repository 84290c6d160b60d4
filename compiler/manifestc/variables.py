"""Variables between pipeline actions: CodePipeline namespaces and `#{namespace.NAME}` references.

Facts (AWS CodePipeline User Guide, "Variables reference" and "Working with variables"):
- an action with a `Namespace` makes its output variables available to actions that run after it
  (a later run order of its stage, or a later stage) as `#{Namespace.NAME}`; namespaces are
  unique in a pipeline, of `A-Za-z0-9@_-`, at most 100 characters;
- a CodeBuild action's variables are the buildspec's `env.exported-variables`;
- a CloudFormation action's variables are the stack's Outputs (CREATE_UPDATE, CHANGE_SET_EXECUTE);
- `#{codepipeline.PipelineExecutionId}` is always available;
- references are resolved in action configuration values only (here: CloudFormation
  `ParameterOverrides` and CodeBuild `EnvironmentVariables`), never inside a buildspec.

In a manifest, `#{build.NAME}` is a variable the build exports (`build.exports`) and
`#{<target>.NAME}` is an output of the current environment's deploy of `<target>` (stack outputs of
a cloudformation or lambda template target; `exports` of a commands target) and `#{variables.NAME}`
is a top-level pipeline variable. The compiler renames target references to the action's namespace
`<environment>-<target>[-<region>]`; `build`, `codepipeline` and `variables` always mean the
pipeline's own (never a target of that name).
"""

from __future__ import annotations

import re

from .model import Environment, Manifest, Target

BUILD_NAMESPACE = "build"
PIPELINE_NAMESPACE = "codepipeline"
# Pipeline-level variables (top-level `variables`, the pipeline's `Variables`): CodePipeline resolves
# them as `#{variables.NAME}` in any action configuration (User Guide, "Variables reference":
# "Pipeline-level variables").
VARIABLES_NAMESPACE = "variables"
RESERVED_NAMESPACES = (BUILD_NAMESPACE, PIPELINE_NAMESPACE, VARIABLES_NAMESPACE)
PIPELINE_VARIABLES = ("PipelineExecutionId",)

REFERENCE = re.compile(r"#\{([^{}]*)\}")
_WELL_FORMED = re.compile(r"^([A-Za-z0-9@_-]+)\.([A-Za-z0-9_]+)$")


def references(text: str) -> list[tuple[str, str | None, str | None]]:
    """Each `#{...}` of `text` as (raw, namespace, name); namespace None when malformed. A `#{`
    that never closes is reported as malformed too."""
    found: list[tuple[str, str | None, str | None]] = []
    for match in REFERENCE.finditer(text):
        well = _WELL_FORMED.match(match.group(1))
        found.append((match.group(0), well.group(1), well.group(2)) if well else (match.group(0), None, None))
    if text.count("#{") > len(found):
        found.append(("#{", None, None))
    return found


def namespace(env: Environment, target: str, region: str | None) -> str:
    """The namespace of `target`'s deploy action in `env` (per region when the environment has several)."""
    suffix = f"-{region}" if len(env.regions) > 1 and region else ""
    return f"{env.name}-{target}{suffix}"


def rewrite(m: Manifest, text: str, env: Environment | None, region: str | None) -> str:
    """`text` with target references renamed to `env`'s action namespaces (semantics has checked
    every reference, so anything else is build or codepipeline)."""
    names = {t.name for t in m.targets}

    def replace(match: re.Match) -> str:
        well = _WELL_FORMED.match(match.group(1))
        if env is None or not well or well.group(1) not in names or well.group(1) in RESERVED_NAMESPACES:
            return match.group(0)
        return f"#{{{namespace(env, well.group(1), region)}.{well.group(2)}}}"

    return REFERENCE.sub(replace, text)


def produces(target: Target) -> tuple[str, ...] | None:
    """The variables a target's deploy action outputs: None = any name (stack Outputs, unknown to
    the compiler), a tuple = exactly these (a commands target's `exports`)."""
    if target.deploys_stack:
        return None
    if target.type == "commands":
        return target.exports
    return ()


def target_references(m: Manifest, target: Target) -> set[str]:
    """The targets a commands target's `env` references."""
    names = {t.name for t in m.targets} - set(RESERVED_NAMESPACES)
    return {ns for _, value in target.env for _, ns, _ in references(value) if ns in names}


def runs_late(m: Manifest, target: Target) -> bool:
    """A commands target that reads another target's variables runs after the environment's other
    deploys (run order between them and the post-deploy tests)."""
    return target.type == "commands" and bool(target_references(m, target))


def referenced_in(m: Manifest, env: Environment) -> set[str]:
    """The targets of `env` whose variables a later action of `env` reads (their deploy actions
    get a namespace)."""
    names = {t.name for t in m.targets} - set(RESERVED_NAMESPACES)
    values = [v for n in env.targets for _, v in m.target(n).env] + [
        v for suite in m.tests_after(env.name) for _, v in suite.env
    ]
    return {ns for value in values for _, ns, _ in references(value) if ns in names}
