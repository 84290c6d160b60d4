"""`cdk` targets: publish a CDK app's assets, then deploy its stacks (README "CDK applications").

Per environment and cdk target, a CodeBuild job (`cdk-assets-<environment>-<target>`) runs
`cdk-assets publish` on each stack's asset manifest (cdk.out/<stack>.assets.json), which uploads
file assets to the environment's CDK bootstrap bucket and pushes image assets to its repository
through the bootstrap publishing roles named in that manifest. Then each stack's template
(cdk.out/<stack>.template.json) is deployed by the pipeline's CloudFormation change-set actions,
exactly like a cloudformation target's (emit/codepipeline.py).

AWS facts, from the CDK bootstrap template (aws-cdk-cli, packages/aws-cdk/lib/api/bootstrap/
bootstrap-template.yaml; AWS CDK v2 Developer Guide, "AWS CDK bootstrapping"):

| resource | name |
| --- | --- |
| file publishing role | `cdk-<qualifier>-file-publishing-role-<account>-<region>`; trusts the account (`sts:AssumeRole`, principal `AWS::AccountId`) and the `--trust` accounts (TrustedAccounts) |
| image publishing role | `cdk-<qualifier>-image-publishing-role-<account>-<region>`; the same trust |
| bootstrap version parameter | `/cdk-bootstrap/<qualifier>/version` (SSM String); templates read it as parameter `BootstrapVersion` (type `AWS::SSM::Parameter::Value<String>`), and `CreateChangeSet` evaluates it with the caller's `ssm:GetParameters` (the bootstrap deploy role's `ReadVersion` statement) |

cdk-assets CLI (cdklabs/cdk-assets, bin/cdk-assets.ts): `cdk-assets --path <file> publish`.
"""

from __future__ import annotations

import shlex

from troposphere import Sub

from ..model import Environment, Manifest, Target
from ..schemas_data import presets
from .codebuild import BuildJob, _codeartifact_login
from .context import camel
from .iam import CDK_ASSET_LOGICAL_PREFIX, app_role_path

# The cdk-assets release the publishing job runs (npm registry, package cdk-assets), pinned so a
# new major release cannot change what a deploy does.
CDK_ASSETS = "cdk-assets@4.7.3"


def cdk_job_purpose(environment: str, target: str) -> str:
    return f"cdk-assets-{environment}-{target}"


def _account(m: Manifest, env: Environment) -> str:
    return env.account if m.is_cross_account(env) else "${AWS::AccountId}"


def publishing_role_arns(m: Manifest, target: Target, env: Environment) -> list[Sub]:
    """The CDK bootstrap publishing roles the job may assume: the file publishing role of each of
    the environment's regions, and the image publishing role when the app has image assets."""
    account = _account(m, env)
    kinds = ("file", "image") if target.image_assets else ("file",)
    return [
        Sub(
            f"arn:${{AWS::Partition}}:iam::{account}:role/"
            f"cdk-{target.qualifier}-{kind}-publishing-role-{account}-{region or '${AWS::Region}'}"
        )
        for region in env.regions
        for kind in kinds
    ]


def bootstrap_version_parameter(m: Manifest, target: Target, env: Environment, region: str | None) -> Sub:
    """The SSM parameter a CDK template's BootstrapVersion parameter reads in `region`."""
    return Sub(
        f"arn:${{AWS::Partition}}:ssm:{region or '${AWS::Region}'}:{_account(m, env)}:"
        f"parameter/cdk-bootstrap/{target.qualifier}/version"
    )


# Lists the template's AWS::IAM::Role resources without the stack's role path or without a
# permissions boundary, and fails.
_ROLE_CHECK = (
    'const [file, path] = process.argv.slice(1); const t = require("./" + file);'
    ' const bad = Object.entries(t.Resources || {}).filter(([, r]) => r.Type === "AWS::IAM::Role"'
    ' && !(typeof (r.Properties || {}).Path === "string" && r.Properties.Path.startsWith(path)'
    " && r.Properties.PermissionsBoundary)).map(([id]) => id);"
    ' if (bad.length) { console.error(file + ": roles " + bad.join(", ") + " need Path " + path'
    ' + " and the pipeline permissions boundary (README: CDK applications)"); process.exit(1); }'
)


def _publish_commands(m: Manifest, target: Target, env: Environment) -> tuple[str, ...]:
    """Per stack: the template must be in the cloud assembly (a clear failure here rather than in
    the CloudFormation action), image assets need `image_assets: true`, then publish."""
    stacks = dict.fromkeys(s for region in env.regions for s in m.cdk_stacks(target, env, region))
    commands = []
    for stack in stacks:
        template, assets = shlex.quote(f"{stack}.template.json"), shlex.quote(f"{stack}.assets.json")
        commands.append(
            f'test -f {template} || {{ echo "cdk target {target.name}: stack {stack} is not in the cloud assembly; '
            'it has: $(ls *.template.json | sed s/.template.json//)"; exit 1; }'
        )
        if not target.image_assets:
            commands.append(
                f'! test -f {assets} || node -e \'process.exit(Object.keys(require("./" + process.argv[1])'
                f".dockerImages || {{}}).length ? 1 : 0)' {assets} || {{ echo \"cdk target {target.name}: stack "
                f'{stack} has Docker image assets: set image_assets: true"; exit 1; }}'
            )
        if not target.execution_role:
            # the created execution role manages only roles under the stack's path that carry the
            # pipeline's boundary (emit/iam.py app_role_statements): say which roles do not, before
            # anything is published or deployed, instead of a failed change set execution
            commands.append(
                f"node -e {shlex.quote(_ROLE_CHECK)} {template} {shlex.quote(app_role_path(m.name, stack))}"
            )
        commands.append(f"! test -f {assets} || npx --yes {CDK_ASSETS} --path {assets} publish")
    return tuple(commands)


def cdk_publish_jobs(m: Manifest) -> tuple[BuildJob, ...]:
    """One asset-publishing job per environment and cdk target."""
    preset = presets()["cdk"]
    b = m.build
    jobs = []
    for env, target in m.deployed("cdk"):
        jobs.append(
            BuildJob(
                purpose=cdk_job_purpose(env.name, target.name),
                # its role goes under iam.asset_role_path, the only principals allowed to assume
                # the publishing roles (the boundary's OnlyAssetJobsAssumePublishingRoles)
                logical_prefix=CDK_ASSET_LOGICAL_PREFIX + camel(env.name, target.name),
                description=f"{m.name}: publish the assets of {target.name} to {env.name}",
                image=preset["images"][b.arch],
                environment_type=b.environment_type,
                compute_type=b.compute_type,
                # image assets are `docker build`s of the app's Dockerfiles
                privileged=target.image_assets,
                timeout=b.timeout,
                runtime_key=preset["runtime_key"],
                runtime=str(preset["default_runtime"]),
                phases=(
                    ("install", _codeartifact_login(b.codeartifact, ("npm",))),
                    ("build", _publish_commands(m, target, env)),
                ),
                codeartifact=b.codeartifact,
                publish_roles=tuple(publishing_role_arns(m, target, env)),
                # with `network`: the VPC endpoints let only principals of the pipeline's account
                # through (emit/network.py), and this job writes as another account's role there
                in_vpc=not m.is_cross_account(env),
            )
        )
    return tuple(jobs)
