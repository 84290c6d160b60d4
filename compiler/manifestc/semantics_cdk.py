"""Semantics of `cdk` targets: the stacks of an AWS CDK app's cloud assembly (README "CDK
applications").

The build synthesizes the app (`cdk synth`, the `cdk` language preset) and its artifact is the
cloud assembly, `cdk.out`. A cdk target names the stacks each environment deploys; the emitters
publish their assets (cdk-assets, through the environment's CDK bootstrap publishing roles) and
deploy each `<stack>.template.json` with change sets like a cloudformation target. Called from
`semantics.py` with its checker; kept apart so the family's rules sit together.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .model import Manifest

Path = tuple

# The fields of a cdk target (the execution role fields are the cloudformation targets').
CDK_FIELDS = {"stacks", "qualifier", "image_assets", "execution_role", "execution_policies"}

# The CDK bootstrap template's default qualifier (its `Qualifier` parameter: Default hnb659fds,
# AllowedPattern [A-Za-z0-9_-]{1,10}; aws-cdk-cli, lib/api/bootstrap/bootstrap-template.yaml).
DEFAULT_QUALIFIER = "hnb659fds"

# CloudFormation stack names: a letter, then letters, digits and hyphens, at most 128 characters
# (AWS CloudFormation API Reference, CreateStack: StackName). A stack at the root of a CDK app is
# deployed under its construct id, which is also the name of its template in cdk.out.
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_PLACEHOLDER = re.compile(r"(?<!#)\{([^{}]*)\}")
_PLACEHOLDERS = {"environment", "region", "name"}


def cdk_fields(check: Any, raw: dict[str, Any], index: int) -> dict[str, Any]:
    """The Target fields of a cdk target, with the per-target rules checked: placeholders (MC208)
    and stacks named twice (MC342). Rules needing the environments are in `check_cdk_targets`."""
    stacks = list(raw["stacks"] or [])
    seen: dict[str, int] = {}
    for position, stack in enumerate(stacks):
        path: Path = ("targets", index, "stacks", position)
        for match in _PLACEHOLDER.finditer(stack):
            if match.group(1) not in _PLACEHOLDERS:
                check.error(
                    "MC208",
                    f"unknown placeholder `{{{match.group(1)}}}`; use {{environment}}, {{region}} or {{name}}",
                    path,
                )
        if stack in seen:
            check.error(
                "MC342",
                f"stack `{stack}` is listed twice in cdk target `{raw['name']}` (also stacks[{seen[stack]}])",
                path,
                hint="list each stack once; the list is the deploy order",
            )
        seen.setdefault(stack, position)
    return {
        "stacks": tuple(stacks),
        "qualifier": raw["qualifier"] or DEFAULT_QUALIFIER,
        "image_assets": bool(raw["image_assets"]),
    }


def check_cdk_targets(check: Any, m: Manifest) -> None:
    """Rules that need the build and the environments: the build writes a cloud assembly (MC340),
    not a batch of them (build.matrix or build.batch, MC343); each rendered stack is a valid stack name (MC341) whose template
    file the compiler can name (`{region}` needs a known region, MC344). A cdk build nothing
    deploys is warning MC682."""
    index = {t["name"]: i for i, t in enumerate(check.doc["targets"])}
    cdk_targets = [t for t in m.targets if t.type == "cdk"]
    if not cdk_targets:
        if m.language == "cdk":
            check.warn(
                "MC682",
                "`language: cdk` synthesizes a cloud assembly, but no `cdk` target deploys it",
                ("language",),
                hint='add a target `type: cdk` with the stacks to deploy (`stacks: ["App-{environment}"]`)',
            )
        return
    b = m.build
    for target in cdk_targets:
        path: Path = ("targets", index[target.name])
        if b.base_directory is None and b.buildspec is None:
            check.error(
                "MC340",
                f"cdk target `{target.name}` deploys the cloud assembly of a CDK build, but the build artifact is "
                "the whole source tree",
                path + ("type",),
                hint="use `language: cdk` (runs `npx cdk synth`, artifact cdk.out), or set "
                "build.artifacts.base_directory to the directory `cdk synth` writes (cdk.out)",
            )
        if b.matrix or b.batch:
            field = "matrix" if b.matrix else "batch"
            check.error(
                "MC343",
                f"cdk target `{target.name}` needs one cloud assembly, but build.{field} combines several builds' "
                "artifacts into one ZIP, whose layout CodeBuild does not document",
                ("build", field),
                hint=f"synthesize once: drop build.{field}, or run the combinations as test suites",
            )
        reported: set[int] = set()  # one error per entry, for the first environment it fails in
        for env in m.environments:
            if target.name not in env.targets:
                continue
            for region in env.regions:
                for position, stack in enumerate(target.stacks):
                    where = path + ("stacks", position)
                    if position in reported:
                        continue
                    if "{region}" in stack and not (region or m.region):
                        check.error(
                            "MC344",
                            f"stack `{stack}` names its region, but environment `{env.name}` deploys to the pipeline's "
                            "region, which the manifest does not give: the template file cdk.out/<stack>.template.json "
                            "must be known when the pipeline is compiled",
                            where,
                            hint="set the top-level `region` (or the environment's `regions`)",
                        )
                        reported.add(position)
                        continue
                    rendered = m.cdk_stacks(dataclasses.replace(target, stacks=(stack,)), env, region)[0]
                    if not _STACK_NAME.match(rendered):
                        reported.add(position)
                        check.error(
                            "MC341",
                            f"stack `{rendered}` (environment `{env.name}`) is not a CloudFormation stack name: a letter, "
                            "then letters, digits and hyphens, at most 128 characters",
                            where,
                            hint="name the stack by its construct id at the root of the app "
                            "(new OrdersStack(app, 'Orders-' + stage) → `Orders-{environment}`); stacks inside a "
                            "CDK Stage live in a nested assembly, not supported yet",
                        )
