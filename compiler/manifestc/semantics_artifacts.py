"""Where deploy targets read their files in the build artifact (README "CDK applications", "Build
shapes"): rules that a target's file is where the artifact has it.

- MC345: with `language: cdk` the artifact is the cloud assembly (base directory `cdk.out`), so a
  cloudformation or servicecatalog target's `template`, read from the artifact, must be a template
  `cdk synth` writes there (`<Stack>.template.json`); a template of the source tree is not in it,
  unless the build's own commands copy it there (a command naming `cdk.out/<template>`). Packaged templates (lambda template targets, `package: true`) are read from the source tree and
  written into the artifact by the generated buildspec, so they are fine.
- MC346: a `build.matrix` / `build.batch` build combines its builds' primary artifacts into one ZIP
  (CodePipeline `CombineArtifacts`; CodeBuild User Guide, "CodePipeline integration with CodeBuild
  and batch builds": "CodeBuild will combine the primary artifacts of all the builds into one
  single ZIP file"), whose layout AWS does not document. A target that reads a named file of the
  artifact (a template, imagedefinitions, an input file, a code archive) cannot be pointed at it;
  targets taking the whole artifact as it is (s3, commands) can.
- MC347: a cdk target's asset job runs `npx --yes cdk-assets@<version>`, fetched from the npm
  registry at run time; in a private build without internet egress it needs a CodeArtifact
  repository (build.packages.codeartifact, logged in with `--tool npm`).

Called from `semantics.py` (`check_artifact_paths` with the other target checks,
`check_cdk_network` once the network is known).
"""

from __future__ import annotations

import re
from typing import Any

from .model import Manifest, Target

Path = tuple

# The directory `cdk synth` writes the cloud assembly to, the cdk preset's base directory.
CLOUD_ASSEMBLY = "cdk.out"
# A stack template at the root of the cloud assembly: <construct id>.template.json (placeholders allowed).
_ASSEMBLY_TEMPLATE = re.compile(r"^[^/]+\.template\.json$")


def _index(check: Any) -> dict[str, int]:
    return {t["name"]: i for i, t in enumerate(check.doc["targets"])}


def _template_read_from_artifact(target: Target) -> str | None:
    """The template a target's deploy reads from the primary artifact as it is in the source tree:
    unpackaged cloudformation and servicecatalog templates (packaged ones are written into the
    artifact by the generated buildspec)."""
    if target.build_artifact:
        return None
    if (target.deploys_stack and not target.packaged) or target.type == "servicecatalog":
        return target.template or None
    return None


def _file_read_from_artifact(target: Target) -> tuple[str, str] | None:
    """(field, file) of the named file a target's deploy reads from the primary artifact."""
    if target.build_artifact:
        return None
    if target.deploys_stack:
        return ("template", target.packaged_template if target.packaged else target.template)
    if target.type == "servicecatalog":
        return ("template", target.template)
    if target.type == "ecs":
        return ("type", f"imagedefinitions-{target.name}.json")
    if target.type == "stepfunctions" and target.input_file:
        return ("input_file", target.input_file)
    if target.type in ("lambda", "lambda_layer") and target.artifact:
        return ("artifact", target.artifact)
    if target.type == "codedeploy":  # the revision's appspec.yml must be at the bundle's root
        return ("type", "appspec.yml")
    if target.type == "elasticbeanstalk":  # the application source bundle's root
        return ("type", "the application at the artifact's root")
    return None


def check_artifact_paths(check: Any, m: Manifest) -> None:
    """MC345 (a source-tree template under a cloud-assembly artifact) and MC346 (a named file of a
    combined batch artifact)."""
    index = _index(check)
    b = m.build
    base = (b.base_directory or "").strip("/").removeprefix("./")
    if m.language == "cdk" and base == CLOUD_ASSEMBLY and b.buildspec is None:
        # the build's own commands may copy a file into the assembly (`cp deploy/x.yaml cdk.out/deploy/x.yaml`)
        commands = " ".join(b.pre_build + b.commands + b.post_build)
        for target in m.targets:
            template = _template_read_from_artifact(target)
            if template is None or _ASSEMBLY_TEMPLATE.match(template) or f"{CLOUD_ASSEMBLY}/{template}" in commands:
                continue
            copy = f"copy it in build.post_build (`cp {template} {CLOUD_ASSEMBLY}/{template}`)"
            hint = (
                "deploy the synthesized stacks with a `cdk` target; to deploy a template of the source tree, "
                "set `package: true` (the build writes it into the artifact as packaged-<target>.yaml) or " + copy
            )
            if target.type == "servicecatalog":
                hint = "name a template the app synthesizes (<Stack>.template.json), or " + copy
            check.error(
                "MC345",
                f"{target.type} target `{target.name}` deploys `{template}` from the build artifact, which with "
                "`language: cdk` is the cloud assembly (cdk.out): `cdk synth` writes only <Stack>.template.json "
                "there, so the deploy would not find it",
                ("targets", index[target.name], "template"),
                hint=hint,
            )
    if not (b.matrix or b.batch):
        return
    field = "matrix" if b.matrix else "batch"
    for target in m.targets:
        if target.type == "cdk":
            continue  # MC343
        found = _file_read_from_artifact(target)
        if found is None:
            continue
        where, file = found
        check.error(
            "MC346",
            f"{target.type} target `{target.name}` reads `{file}` from the build artifact, but build.{field} "
            "combines its builds' artifacts into one ZIP whose layout CodeBuild does not document, so no "
            "path names that file",
            ("targets", index[target.name], where),
            hint="build what this target deploys without a batch (move the combinations into test suites), "
            "or deploy the whole artifact (an s3 or commands target)",
        )


def check_cdk_network(check: Any, m: Manifest) -> None:
    """MC347: a cdk target's asset job, in the build VPC (an environment in the pipeline's account),
    fetches cdk-assets from the npm registry; without internet egress that needs CodeArtifact."""
    network = m.network
    if network is None or network.internet != "none" or m.build.codeartifact is not None:
        return
    index = _index(check)
    for target in m.targets:
        if target.type != "cdk":
            continue
        in_vpc = [e.name for e in m.environments if target.name in e.targets and not m.is_cross_account(e)]
        if not in_vpc:
            continue  # asset jobs of other accounts run outside the VPC (emit/cdk.py)
        check.error(
            "MC347",
            f"cdk target `{target.name}`: the asset job of {', '.join(in_vpc)} runs in the build VPC and "
            "installs cdk-assets from registry.npmjs.org (npx), which a private build without internet "
            "egress cannot reach",
            ("targets", index[target.name], "type"),
            hint="set build.packages.codeartifact to an npm repository with an external connection to "
            "public:npmjs (the job logs in with --tool npm), or, with a NAT in the subnets, add "
            "network.egress [{port: 443, cidr: 0.0.0.0/0, ...}]",
        )
