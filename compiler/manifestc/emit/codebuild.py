"""CodeBuild: one project, role, log group (and report groups) per build job of the pipeline.

`build_jobs(manifest)` is the single description of the jobs; this emitter turns each into
resources and the pipeline emitter turns each into an action, both by the job's purpose.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml
from awacs import codeartifact, codebuild, codepipeline, ecr, s3, secretsmanager, ssm, sts
from awacs.aws import Action, Condition, Deny, Statement, StringEquals, StringLike
from troposphere import GetAtt, Ref, Sub, logs
from troposphere import codebuild as cb

from .. import aws, regional_keys
from ..guard import guard_values
from ..model import (
    TOOLCHAIN_PREFIX,
    BatchBuild,
    Build,
    CodeArtifact,
    Manifest,
    Permissions,
    QualityGate,
    Secret,
    Target,
    TestSuite,
    Toolchain,
)
from ..render import FAST_SAFE_DUMPER
from ..schemas_data import presets
from ..semantics_ephemeral import ephemeral_prefix
from ..toolchain import install_commands
from . import ephemeral
from .context import Context, camel
from .glue import template_compiled_in_build
from .iam import allow, artifact_statements, bucket_key_statement, log_statements, report_statements, service_role
from .network import vpc_config, vpc_statements

# The build action's primary output artifact (emit/codepipeline.py BUILD_OUTPUT). With further
# output artifacts, every one of them, the primary included, goes into the buildspec's
# `secondary-artifacts` keyed by its pipeline artifact name (aws/aws-delivlib lib/build-spec.ts:
# "If there are multiple artifacts, all of them must go into the 'secondary-artifacts' section").
PRIMARY_ARTIFACT = "BuildOutput"


@dataclass(frozen=True)
class ReportGroup:
    logical_id: str
    name: str
    kind: str  # TEST | CODE_COVERAGE
    files: tuple[str, ...]
    file_format: str


@dataclass(frozen=True)
class LambdaDeploy:
    """One `aws lambda update-function-code` a deploy job runs."""

    function: str
    region: str | None  # None: the pipeline's region
    account: str | None  # None: the pipeline's account
    package: str  # zip | image
    artifact: str | None


@dataclass(frozen=True)
class LayerPublish:
    """One `aws lambda publish-layer-version` a layer job runs."""

    layer: str
    region: str | None  # None: the pipeline's region
    account: str | None  # None: the pipeline's account


@dataclass(frozen=True)
class ImageCopy:
    """One copy of the promoted image into `repository` of `region` (None: the pipeline's) and
    `account` (None: the pipeline's)."""

    repository: str
    region: str | None
    account: str | None


@dataclass(frozen=True)
class BuildJob:
    """One CodeBuild project: what it runs and what it may touch."""

    purpose: str  # "build", "test-unit", "gate-lint", "update", ...: also the project name suffix
    logical_prefix: str
    description: str
    image: str
    environment_type: str
    compute_type: str
    privileged: bool
    timeout: int
    runtime_key: str | None
    runtime: str | None
    phases: tuple[tuple[str, tuple[str, ...]], ...]
    env: tuple[tuple[str, str | Sub], ...] = ()
    secrets: tuple[Secret, ...] = ()
    secrets_kms_key: str | None = None  # customer-managed key the secrets are encrypted with
    artifacts: tuple[str, ...] = ()  # files; empty: no output artifact
    base_directory: str | None = None
    reports: tuple[ReportGroup, ...] = ()
    cache: str = "none"
    cache_paths: tuple[str, ...] = ()
    matrix: tuple[tuple[str, tuple[str, ...]], ...] = ()
    codeartifact: CodeArtifact | None = None
    push_repository: str | None = None  # ECR repository this job pushes to
    lambda_deploys: tuple[LambdaDeploy, ...] = ()
    layer_publishes: tuple[LayerPublish, ...] = ()
    image_copies: tuple[ImageCopy, ...] = ()  # image_copy targets: where it pushes the promoted image
    deploy_account: str | None = None  # s3 deploy jobs: works as this account's bootstrap deploy role
    script_bucket: str | None = None  # glue scripts: a bucket other than the artifact bucket it writes to
    script_prefix: str | None = None  # glue scripts: the key prefix it may write under in script_bucket
    script_key: str | None = None  # glue scripts: KMS key of script_bucket (SSE-KMS), None for SSE-S3
    start_workflows: tuple[str, ...] = ()  # glue smoke tests: workflows it may start and watch
    start_state_machines: tuple[str, ...] = ()  # glue smoke tests under Step Functions: state machine names
    exported_variables: tuple[str, ...] = ()  # buildspec env exported-variables (action namespace)
    source: str = "pipeline"  # pipeline | codecommit | codestar (feature-branch builds)
    promote_repository: str | None = None  # ECR repository whose candidate image it promotes
    package_regions: tuple[str, ...] = ()  # other regions' artifact stores it uploads lambda code to
    toolchain: Toolchain | None = None  # the self-update build reads this wheelhouse
    checks_approvals: bool = False  # reads this pipeline's action executions (the approval check)
    approver_groups: tuple[str, ...] = ()  # IAM group ARNs whose members the approval check lists
    in_vpc: bool = True  # with `network`: runs in the build subnets
    permissions: Permissions | None = None  # declared grants (build.permissions, tests[].permissions)
    buildspec_file: str | None = None  # a buildspec file of the source (relative to its root) instead of `phases`
    s3_sync: tuple[str, str] | None = None  # (bucket, prefix) it syncs the artifact into, deleting stale objects
    s3_sync_key: str | None = None  # the KMS key of that bucket's default encryption (SSE-KMS)
    invalidates: str | None = None  # CloudFront distribution ID it invalidates
    assume_role: str | Sub | None = None  # commands targets: the declared role the job assumes
    declared_permissions: tuple[
        tuple[str, tuple[str, ...], tuple[str | Sub, ...]], ...
    ] = ()  # (effect, actions, resources)
    declared_policies: tuple[str, ...] = ()  # commands targets: managed policies of the job's own role
    shell: str | None = "bash"  # buildspec env.shell; None: the image's default (PowerShell on Windows)
    fleet: str | None = None  # reserved-capacity fleet ARN (build.fleet)
    # further output artifacts (name, files, base_directory): buildspec `secondary-artifacts`
    secondary_artifacts: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()
    batch: tuple[BatchBuild, ...] = ()  # heterogeneous batch (build.batch)

    @property
    def batched(self) -> bool:
        """A CodeBuild batch build (a matrix or a list/graph of builds): BuildBatchConfig, a batch
        role, and BatchEnabled on the pipeline action."""
        return bool(self.matrix or self.batch)

    publish_roles: tuple[Sub, ...] = ()  # cdk targets: the CDK bootstrap publishing roles it assumes
    directory: str | None = None  # build.directory: each phase starts there; artifact and report bases below it
    finally_phases: tuple[tuple[str, tuple[str, ...]], ...] = ()  # per phase: commands run pass or fail
    ephemeral_prefixes: tuple[str, ...] = ()  # stack name prefixes it deploys/deletes through the ephemeral role
    ephemeral_create: bool = True  # False: it only deletes (the preview teardown)


def build_jobs(manifest: Manifest) -> tuple[BuildJob, ...]:
    """Every CodeBuild job of the pipeline, in pipeline order."""
    jobs = []
    if manifest.regenerate.enabled:
        jobs.append(_update_job(manifest))
    jobs.append(_build_job(manifest))
    if manifest.build.image_repository:
        jobs.append(_promote_job(manifest))
    jobs.extend(_test_job(manifest, suite) for suite in manifest.tests)
    jobs.extend(_gate_job(manifest, gate) for gate in manifest.quality_gates)
    jobs.extend(deploy_jobs(manifest))
    jobs.extend(layer_jobs(manifest))
    jobs.extend(image_copy_jobs(manifest))
    jobs.extend(s3_deploy_jobs(manifest))
    jobs.extend(commands_jobs(manifest))
    from .cdk import cdk_publish_jobs  # (emit/cdk.py builds on BuildJob)

    jobs.extend(cdk_publish_jobs(manifest))
    jobs.extend(glue_jobs(manifest))
    if manifest.source.feature_branches:
        jobs.append(_feature_job(manifest))
    if manifest.source.pull_requests:
        jobs.append(_pull_request_job(manifest))
    if ephemeral.previews(manifest):
        jobs.append(_preview_teardown_job(manifest))
    if (check := approval_check_job(manifest)) is not None:
        jobs.append(check)
    return tuple(jobs)


APPROVAL_CHECK = "approval-check"


def approval_check_job(m: Manifest) -> BuildJob | None:
    """The job that verifies who approved (approval_check.py), shared by every environment whose
    approval has approvers; the pipeline action passes the stage, the approvers and the execution.

    It runs no code of the repository and calls only the CodePipeline and IAM APIs, so it runs
    outside the build VPC (IAM has no VPC endpoint to reach it through)."""
    approvers = [a for env in m.environments if env.approval for a in env.approval.approvers]
    if not approvers:
        return None
    python = presets()["python"]
    script = "/tmp/approval_check.py"
    return BuildJob(
        purpose=APPROVAL_CHECK,
        logical_prefix="ApprovalCheck",
        description=f"{m.name}: fail the deployment unless one of the approvers approved it",
        image=python["images"]["x86_64"],
        environment_type="LINUX_CONTAINER",
        compute_type="BUILD_GENERAL1_SMALL",
        privileged=False,
        timeout=10,
        runtime_key=None,
        runtime=None,
        phases=(("build", (f"cat > {script} <<'PY'\n{approval_check_source()}PY", f"python3 {script}")),),
        env=(("PIPELINE_NAME", m.name),),
        checks_approvals=True,
        approver_groups=tuple(sorted({a for a in approvers if ":group/" in a})),
        in_vpc=False,
    )


def approval_check_source() -> str:
    """approval_check.py as shipped in the buildspec: the code, without the module docstring."""
    from .. import approval_check

    text = Path(approval_check.__file__).read_text(encoding="utf-8")
    body = text.split('"""', 2)[2].lstrip("\n")
    return "# manifestc approval check (compiler/manifestc/approval_check.py)\n" + body


def _common(b: Build) -> dict:
    return {
        "image": b.image,
        "environment_type": b.environment_type,
        "compute_type": b.compute_type,
        "privileged": b.privileged,
        "timeout": b.timeout,
        "runtime_key": b.runtime_key,
        "runtime": b.runtime,
        "secrets": b.secrets,
        "secrets_kms_key": b.secrets_kms_key,
        "cache": b.cache,
        "cache_paths": b.cache_paths,
        "codeartifact": b.codeartifact,
        "fleet": b.fleet,
        "shell": None if b.windows else "bash",
        "directory": b.directory,
    }


def _codeartifact_login(
    ca: CodeArtifact | None, extra_tools: tuple[str, ...] = (), *, windows: bool = False
) -> tuple[str, ...]:
    """Log the package managers in to CodeArtifact (SPEC: packages.codeartifact).

    Emitted first in the `install` phase, before any command that installs a dependency or a tool:
    an install that runs before the login goes to the public registry (and, in a private build,
    times out). `extra_tools` are further `login --tool` values (pip for pip-installed gate tools).
    pip logs in to `CodeArtifact.pip_repository` (with `pypi_repository` set, every job does, so pip in a
    non-Python build's own commands goes through it too); without one, pip is left on public PyPI.
    """
    if ca is None:
        return ()
    if windows:
        return _codeartifact_login_powershell(ca)
    owner = ca.owner or "$AWS_ACCOUNT_ID"
    commands = ["export AWS_ACCOUNT_ID=$(aws sts get-caller-identity --query Account --output text)"]
    pip = ("pip",) if ca.pypi_repository else ()
    tools = [t for t in dict.fromkeys(((ca.tool,) if ca.tool else ()) + extra_tools + pip) if t]
    for tool in tools:
        repository = ca.pip_repository if tool == "pip" else ca.repository
        if repository is None:
            continue
        commands.append(
            f"aws codeartifact login --tool {tool} --domain {ca.domain} --domain-owner {owner} "
            f"--repository {repository}"
        )
    if not ca.tool:
        # Maven, Gradle and Go read the token from the environment (settings.xml / init script / GOPROXY).
        commands += [
            (
                f"export CODEARTIFACT_AUTH_TOKEN=$(aws codeartifact get-authorization-token --domain {ca.domain} "
                f"--domain-owner {owner} --query authorizationToken --output text)"
            ),
            (
                f"export CODEARTIFACT_REPOSITORY_URL=$(aws codeartifact get-repository-endpoint --domain {ca.domain} "
                f"--domain-owner {owner} --repository {ca.repository} --format maven --query repositoryEndpoint "
                "--output text)"
            ),
        ]
    return tuple(commands)


def _codeartifact_login_powershell(ca: CodeArtifact) -> tuple[str, ...]:
    """The CodeArtifact login of a Windows build: the same AWS CLI calls, with PowerShell variables
    (`$env:NAME = (...)`), since Windows Server Core images run the buildspec's commands in
    PowerShell (CodeBuild User Guide, "Shells and commands in build environments")."""
    owner = ca.owner or "$env:AWS_ACCOUNT_ID"
    commands = ["$env:AWS_ACCOUNT_ID = (aws sts get-caller-identity --query Account --output text)"]
    if ca.tool:
        commands.append(
            f"aws codeartifact login --tool {ca.tool} --domain {ca.domain} --domain-owner {owner} "
            f"--repository {ca.repository}"
        )
    else:
        commands += [
            (
                f"$env:CODEARTIFACT_AUTH_TOKEN = (aws codeartifact get-authorization-token --domain {ca.domain} "
                f"--domain-owner {owner} --query authorizationToken --output text)"
            ),
            (
                f"$env:CODEARTIFACT_REPOSITORY_URL = (aws codeartifact get-repository-endpoint --domain {ca.domain} "
                f"--domain-owner {owner} --repository {ca.repository} --format maven --query repositoryEndpoint "
                "--output text)"
            ),
        ]
    return tuple(commands)


def _image_env(m: Manifest) -> tuple[tuple[str, Sub], ...]:
    if not m.build.image_repository:
        return ()
    registry = "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}"
    return (
        ("ECR_REGISTRY", Sub(registry)),
        ("IMAGE_URI", Sub(f"{registry}/{m.build.image_repository}")),
    )


def _in_artifact(m: Manifest, file: str) -> str:
    """Where the build writes a file the deploy actions read: inside `artifacts.base_directory`
    when there is one (the artifact's root), so the file is in the artifact."""
    base = m.build.base_directory
    return shlex.quote(f"{base.rstrip('/')}/{file}" if base else file)


# The file the CodeDeployToECS action reads the image URI from (CodePipeline User Guide,
# "Image definitions file reference": imageDetail.json for Amazon ECS blue/green deployments).
IMAGE_DETAIL = "imageDetail.json"


def _image_definitions(m: Manifest) -> tuple[str, ...]:
    """imagedefinitions-<target>.json for every ECS target: what the ECS deploy action reads."""
    commands = []
    for target in m.targets:
        if target.type == "ecs":
            commands.append(
                f'printf \'[{{"name":"{target.container}","imageUri":"%s"}}]\' '
                f'"$IMAGE_URI:$IMAGE_TAG" > {_in_artifact(m, f"imagedefinitions-{target.name}.json")}'
            )
    if any(t.type == "ecs" and t.deploy == "blue_green" for t in m.targets):
        # what the CodeDeployToECS action puts in place of <IMAGE1_NAME> in the task definition
        commands.append(f'printf \'{{"ImageURI":"%s"}}\' "$IMAGE_URI:$IMAGE_TAG" > {_in_artifact(m, IMAGE_DETAIL)}')
    return tuple(commands)


def _bucket_variable(region: str | None) -> str:
    return "ARTIFACT_BUCKET" + (f"_{region.upper().replace('-', '_')}" if region else "")


def _sam_packages(m: Manifest) -> tuple[str, ...]:
    """Packaged targets (lambda templates, cloudformation with `package: true`): upload code and
    nested templates to the artifact bucket (under `lambda/<target>/`, the prefix the bucket keeps
    live for deployed stacks), write the packaged template; once more per other region the target
    deploys to, into that region's artifact store."""
    commands = []
    for t in m.targets:
        if not t.packaged:
            continue
        for region in (None, *m.package_regions(t)):
            where = f" --region {region}" if region else ""
            commands.append(
                f"aws cloudformation package{where} --template-file {shlex.quote(t.template)} "
                f'--s3-bucket "${_bucket_variable(region)}" --s3-prefix lambda/{t.name} '
                f"--output-template-file {_in_artifact(m, t.packaged_template_in(region))}"
            )
    return tuple(commands)


def _package_buckets(m: Manifest) -> tuple[tuple[str, Ref | Sub], ...]:
    """The artifact buckets `aws cloudformation package` uploads to, as build variables."""
    regions = sorted({r for t in m.targets if t.packaged for r in m.package_regions(t)})
    if not any(t.packaged for t in m.targets):
        return ()
    ctx = Context(m)
    return (("ARTIFACT_BUCKET", Ref("ArtifactBucket")),) + tuple(
        (_bucket_variable(r), ctx.regional_bucket_name(r)) for r in regions
    )


# Is candidate-<commit> already in the repository (a re-run of the same commit)? On a repository
# with immutable tags pushing it again fails (ECR User Guide, "Preventing image tags from being
# overwritten"), so the build then skips `docker build` (docker preset) and the push, and
# PromoteImage tags the image already there. BatchGetImage reports a missing tag as a `failures`
# entry (failureCode ImageNotFound; ECR API Reference, BatchGetImage and ImageFailure), not as an
# error, so `length(images)` is 0 or 1; any error (access denied, throttling) fails the build.
# The build role already has ecr:BatchGetImage on the repository (statement EcrPush).
CANDIDATE_CHECK = (
    'export IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:0:7}"',
    (
        'CANDIDATE_IMAGES=$(aws ecr batch-get-image --repository-name "${IMAGE_URI#*/}" '
        '--image-ids imageTag="candidate-$IMAGE_TAG" --query "length(images)" --output text)'
    ),
    (
        'if [ "$CANDIDATE_IMAGES" = 0 ]; then export CANDIDATE_PUSHED=no; else export CANDIDATE_PUSHED=yes; '
        'echo "candidate-$IMAGE_TAG is already in the repository (a re-run of this commit): not building or '
        'pushing it again"; fi'
    ),
)


def _build_job(m: Manifest) -> BuildJob:
    b = m.build
    # the docker preset's pre_build already exports IMAGE_TAG
    pre_build = b.pre_build + (tuple(c for c in CANDIDATE_CHECK if c not in b.pre_build) if b.image_repository else ())
    post_build = b.post_build
    if b.image_repository and m.language != "docker":
        # a custom image build: tag and push what the user's commands built as $IMAGE_URI:latest
        post_build = post_build + (
            'export IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:0:7}"',
            (
                'if [ "$CANDIDATE_PUSHED" != yes ]; then docker tag "$IMAGE_URI:latest" '
                '"$IMAGE_URI:candidate-$IMAGE_TAG" && docker push "$IMAGE_URI:candidate-$IMAGE_TAG"; fi'
            ),
        )
    written = _image_definitions(m) + _sam_packages(m)
    if written and b.base_directory:
        written = (f"mkdir -p {shlex.quote(b.base_directory)}",) + written
    post_build = post_build + written
    packaged = tuple(t.packaged_template_in(r) for t in m.targets if t.packaged for r in (None, *m.package_regions(t)))
    definitions = tuple(f"imagedefinitions-{t.name}.json" for t in m.targets if t.type == "ecs")
    if any(t.type == "ecs" and t.deploy == "blue_green" for t in m.targets):
        definitions += (IMAGE_DETAIL,)
    # what the deploy actions read is always in the artifact, whatever `files` selects
    files = b.artifact_files + tuple(f for f in packaged + definitions if "**/*" not in b.artifact_files)
    return BuildJob(
        purpose="build",
        logical_prefix="Build",
        description=f"{m.name}: build" + (" (build matrix)" if b.matrix else " (batch)" if b.batch else ""),
        phases=(
            ("install", _codeartifact_login(b.codeartifact, windows=b.windows) + b.install),
            ("pre_build", pre_build),
            ("build", b.commands),
            ("post_build", post_build),
        ),
        env=b.env + _image_env(m) + _package_buckets(m),
        exported_variables=b.exports,
        reports=build_report_groups(m),
        secondary_artifacts=b.secondary_artifacts,
        artifacts=files,
        base_directory=b.base_directory,
        matrix=b.matrix,
        batch=b.batch,
        push_repository=b.image_repository,
        package_regions=tuple(sorted({r for t in m.targets if t.packaged for r in m.package_regions(t)})),
        permissions=b.permissions,
        buildspec_file=b.buildspec,
        **_common(b),
    )


def _promote_job(m: Manifest) -> BuildJob:
    """Tag the build's candidate image with the commit (what deploys use) once tests and gates
    passed: an untested image is never under a deployable tag. The manifest is copied within ECR
    (Amazon ECR User Guide, "Retagging an image": batch-get-image, then put-image).

    put-image fails when the tag is already there: ImageAlreadyExistsException (same manifest and
    tag, a re-run of the same commit) and, on a repository with tag immutability,
    ImageTagAlreadyExistsException for any existing tag (ECR API Reference, PutImage errors; User
    Guide, "Preventing image tags from being overwritten"). Only those two mean "the tag is
    there": the job then compares the digest under the commit's tag with the candidate's and fails
    unless they are the same image, so an immutable repository never silently keeps an older image
    under the tag that deploys use. Any other error (access denied, throttling, a missing
    repository) fails the job with put-image's own message."""
    python = presets()["python"]
    repo = shlex.quote(m.build.image_repository)
    candidate = 'imageTag="candidate-$IMAGE_TAG"'
    tagged_digest = (
        f'TAGGED_DIGEST=$(aws ecr describe-images --repository-name {repo} --image-ids imageTag="$IMAGE_TAG" '
        "--query 'imageDetails[0].imageDigest' --output text)"
    )
    commands = (
        'export IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:0:7}"',
        (
            f"aws ecr batch-get-image --repository-name {repo} --image-ids {candidate} "
            "--query 'images[0].imageManifest' --output text > image-manifest.json"
        ),
        (
            f"aws ecr batch-get-image --repository-name {repo} --image-ids {candidate} "
            "--query 'images[0].imageManifestMediaType' --output text > image-media-type"
        ),
        (
            f"CANDIDATE_DIGEST=$(aws ecr describe-images --repository-name {repo} --image-ids {candidate} "
            "--query 'imageDetails[0].imageDigest' --output text)"
        ),
        (
            f'if aws ecr put-image --repository-name {repo} --image-tag "$IMAGE_TAG" '
            '--image-manifest file://image-manifest.json --image-manifest-media-type "$(cat image-media-type)" '
            '2> put-image.err; then echo "tagged $IMAGE_TAG"; '
            "else cat put-image.err >&2; "
            "grep -qE '(ImageTagAlreadyExistsException|ImageAlreadyExistsException)' put-image.err || exit 1; "
            f"{tagged_digest} || exit 1; "
            '[ "$TAGGED_DIGEST" = "$CANDIDATE_DIGEST" ] || '
            f'{{ echo "tag $IMAGE_TAG of {repo} holds $TAGGED_DIGEST, not the tested candidate $CANDIDATE_DIGEST '
            '(immutable tags: delete that image or push a new commit)" >&2; exit 1; }; fi'
        ),
    )
    return BuildJob(
        purpose="promote-image",
        logical_prefix="PromoteImage",
        description=f"{m.name}: tag the tested image candidate-<commit> as <commit>",
        image=python["images"]["x86_64"],
        environment_type="LINUX_CONTAINER",
        compute_type="BUILD_GENERAL1_SMALL",
        privileged=False,
        timeout=15,
        runtime_key=None,
        runtime=None,
        phases=(("build", commands),),
        promote_repository=m.build.image_repository,
    )


def build_report_groups(m: Manifest, owner: str = "", prefix: str = "Build") -> tuple[ReportGroup, ...]:
    """The report groups of the build's own commands (build.reports, build.coverage): named like a
    suite's, with `build` in place of the suite name (semantics_shapes.py, MC370); `owner` (`pr`)
    names a project's own copies of them, as for suites."""
    b = m.build
    name = "-".join(part for part in (m.name, owner, "build") if part)
    groups = []
    if b.reports:
        groups.append(ReportGroup(f"{prefix}Reports", f"{name}-tests", "TEST", b.reports, b.report_format))
    if b.coverage:
        groups.append(
            ReportGroup(
                f"{prefix}Coverage",
                f"{name}-coverage",
                "CODE_COVERAGE",
                (b.coverage,),
                b.coverage_format or "COBERTURAXML",
            )
        )
    return tuple(groups)


def _suite_reports(m: Manifest, suite: TestSuite, prefix: str, owner: str = "") -> tuple[ReportGroup, ...]:
    """A suite's report groups; `owner` (`pr`) names a project's own copies of them."""
    reports = []
    name = "-".join(part for part in (m.name, owner, suite.name) if part)
    if suite.reports:
        reports.append(ReportGroup(f"{prefix}Reports", f"{name}-tests", "TEST", suite.reports, suite.report_format))
    if suite.coverage:
        reports.append(
            ReportGroup(
                f"{prefix}Coverage",
                f"{name}-coverage",
                "CODE_COVERAGE",
                (suite.coverage,),
                suite.coverage_format or "COBERTURAXML",
            )
        )
    return tuple(reports)


def _test_job(m: Manifest, suite: TestSuite) -> BuildJob:
    b = m.build
    prefix = camel("test", suite.name)
    if m.glue is not None and m.language == "python":
        return _glue_test_job(m, suite, prefix)
    where = "after the build" if suite.after == "build" else f"after deploying to {suite.after}"
    if suite.ephemeral_stack:
        commands, final = ephemeral.suite_stack_phases(m, suite)
        return BuildJob(
            purpose=f"test-{suite.name}",
            logical_prefix=prefix,
            description=f"{m.name}: {suite.name} tests against a temporary {suite.ephemeral_stack} stack, {where}",
            phases=(("install", _codeartifact_login(b.codeartifact) + b.install), ("build", commands)),
            finally_phases=(("build", final),),
            env=b.env
            + (("MANIFESTC_TEST_SUITE", suite.name), ("MANIFESTC_STAGE", suite.after))
            + ((ephemeral.ROLE_VARIABLE, ephemeral.exec_role_arn()),),
            reports=_suite_reports(m, suite, prefix),
            permissions=suite.permissions,
            ephemeral_prefixes=(ephemeral_prefix(m.name, f"test-{suite.name}"),),
            **{**_common(b), "secrets": m.suite_secrets(suite)},
        )
    return BuildJob(
        purpose=f"test-{suite.name}",
        logical_prefix=prefix,
        description=f"{m.name}: {suite.name} tests, {where}",
        phases=(
            (
                "install",
                _codeartifact_login(b.codeartifact, windows=_suite_windows(suite, b)) + _suite_install(suite, b),
            ),
            ("build", suite.commands),
        ),
        env=b.env + (("MANIFESTC_TEST_SUITE", suite.name), ("MANIFESTC_STAGE", suite.after)),
        reports=_suite_reports(m, suite, prefix),
        permissions=suite.permissions,
        buildspec_file=suite.buildspec,
        **{**_common(b), "secrets": m.suite_secrets(suite), **_suite_platform(suite, b)},
    )


def _suite_windows(suite: TestSuite, b: Build) -> bool:
    return suite.platform.windows if suite.platform is not None else b.windows


def _suite_install(suite: TestSuite, b: Build) -> tuple[str, ...]:
    if suite.platform is not None and suite.platform.install is not None:
        return suite.platform.install
    return b.install


def _suite_platform(suite: TestSuite, b: Build) -> dict:
    """A suite's own image, size and runtime (tests[].image/compute/arch); on Linux next to a
    Windows build it runs in bash, off the build's fleet."""
    if suite.platform is None:
        return {}
    p = suite.platform
    return {
        "image": p.image,
        "environment_type": p.environment_type,
        "compute_type": p.compute_type,
        "runtime_key": p.runtime_key,
        "runtime": p.runtime,
        "shell": None if p.windows else "bash",
        "fleet": b.fleet if p.windows else None,
    }


def _glue_test_job(m: Manifest, suite: TestSuite, prefix: str) -> BuildJob:
    """Glue job unit tests run in the AWS Glue libraries image of the jobs' Glue version (SPEC §5.5)."""
    version = m.glue.test_image_version
    b = m.build
    return BuildJob(
        purpose=f"test-{suite.name}",
        logical_prefix=prefix,
        description=f"{m.name}: {suite.name} tests in the AWS Glue {version} libraries image",
        image=aws.GLUE_LIBS_IMAGES[version],
        environment_type="LINUX_CONTAINER",
        compute_type="BUILD_GENERAL1_MEDIUM" if b.compute_type == "BUILD_GENERAL1_SMALL" else b.compute_type,
        privileged=False,
        timeout=b.timeout,
        runtime_key=None,
        runtime=None,
        phases=(
            ("install", _codeartifact_login(b.codeartifact, ("pip",)) + tuple(presets()["python"]["glue_install"])),
            ("build", suite.commands),
        ),
        env=b.env + (("MANIFESTC_TEST_SUITE", suite.name), ("MANIFESTC_STAGE", suite.after)),
        secrets=m.suite_secrets(suite),
        secrets_kms_key=b.secrets_kms_key,
        reports=_suite_reports(m, suite, prefix),
        codeartifact=b.codeartifact,
        permissions=suite.permissions,
        buildspec_file=suite.buildspec,
    )


def glue_jobs(m: Manifest) -> tuple[BuildJob, ...]:
    """Glue targets: compile glue.yaml (when no self-update build does in every run), upload the scripts of
    each environment under a versioned prefix, and the optional smoke run."""
    if m.glue is None or not any(t.type == "glue" for t in m.targets):
        return ()
    python = presets()["python"]
    small = {
        "image": python["images"]["x86_64"],
        "environment_type": "LINUX_CONTAINER",
        "compute_type": "BUILD_GENERAL1_SMALL",
        "privileged": False,
        "timeout": 15,
    }
    jobs = []
    if template_compiled_in_build(m):
        update = _update_job(m)
        jobs.append(
            dataclasses.replace(
                update,
                purpose="glue-template",
                logical_prefix="GlueTemplate",
                description=f"{m.name}: compile glue.yaml with manifestc",
            )
        )
    # the jobs' dependencies travel with the scripts: same prefix, same hash (README "Job dependencies")
    scripts = [shlex.quote(s) for s in dict.fromkeys([*(job.script for job in m.glue.jobs), *m.glue.dependencies])]
    for env, _target in m.deployed("glue"):
        # The prefix is named by the SHA-256 of the scripts, computed here at run time: unchanged
        # scripts give an unchanged ScriptsPrefix, so the stack has no change (and asks for no
        # approval); a changed script is a new prefix, so a stack change. The deploy action
        # reads SCRIPTS_PREFIX from this action's namespace.
        prefix = glue_scripts_prefix(m, env.name)
        commands = (
            f"SCRIPTS_HASH=$(sha256sum {' '.join(scripts)} | sha256sum | cut -c1-16)"
            if scripts
            else "SCRIPTS_HASH=none",
            f'export SCRIPTS_PREFIX="{prefix}/$SCRIPTS_HASH"',
        ) + tuple(f'aws s3 cp {s} "s3://$SCRIPTS_BUCKET/$SCRIPTS_PREFIX/{s}"' for s in scripts)
        jobs.append(
            BuildJob(
                purpose=glue_job_purpose("scripts", env.name),
                logical_prefix=camel("glue", "scripts", env.name),
                description=f"{m.name}: upload the Glue job scripts for {env.name}",
                runtime_key=None,
                runtime=None,
                phases=(("build", commands),),
                env=(("SCRIPTS_BUCKET", m.glue.scripts_bucket or Ref("ArtifactBucket")),),
                script_bucket=m.glue.scripts_bucket,
                script_prefix=prefix,
                script_key=m.glue.scripts_key,
                exported_variables=("SCRIPTS_PREFIX",),
                **small,
            )
        )
        if m.glue.smokes(env.name) and m.glue.orchestration == "stepfunctions":
            jobs.append(_state_machine_smoke_job(m, env.name, small))
        elif m.glue.smokes(env.name):
            workflow = f"{m.glue.workflow}-{env.name}"
            # every job may run for its timeout; crawlers have none: allow 30 minutes each
            minutes = min(480, 10 + sum(j.timeout for j in m.glue.jobs) + 30 * len(m.glue.crawlers))
            jobs.append(
                BuildJob(
                    purpose=glue_job_purpose("smoke", env.name),
                    logical_prefix=camel("glue", "smoke", env.name),
                    description=f"{m.name}: run {workflow} after deploying it and fail unless every job "
                    "and crawler succeeded",
                    runtime_key=None,
                    runtime=None,
                    phases=(("build", (glue_smoke_script(workflow, minutes - 5),)),),
                    start_workflows=(workflow,),
                    **{**small, "timeout": minutes},
                )
            )
    return tuple(jobs)


def _state_machine_smoke_job(m: Manifest, environment: str, small: dict) -> BuildJob:
    """Start an execution of the environment's state machine (`orchestration: stepfunctions`),
    wait for it and fail unless it SUCCEEDED."""
    machine = f"{m.glue.workflow}-{environment}"
    # the state machine's own timeout (emit/glue_extras.py definition): jobs' timeouts, an hour a crawler
    minutes = min(480, 10 + sum(j.timeout for j in m.glue.jobs) + 60 * len(m.glue.crawlers))
    return BuildJob(
        purpose=glue_job_purpose("smoke", environment),
        logical_prefix=camel("glue", "smoke", environment),
        description=f"{m.name}: run state machine {machine} after deploying it and fail unless it succeeded",
        runtime_key=None,
        runtime=None,
        phases=(("build", (state_machine_smoke_script(minutes - 5),)),),
        env=(
            (
                "STATE_MACHINE_ARN",
                Sub(f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{machine}"),
            ),
        ),
        start_state_machines=(machine,),
        **{**small, "timeout": minutes},
    )


def state_machine_smoke_script(minutes: int) -> str:
    """Start an execution, poll it to the end, fail unless it SUCCEEDED. DescribeExecution's status
    is RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED or PENDING_REDRIVE (AWS Step Functions API
    Reference, "DescribeExecution")."""
    get = 'aws stepfunctions describe-execution --execution-arn "$EXECUTION" --query status --output text'
    return "\n".join(
        [
            (
                'EXECUTION=$(aws stepfunctions start-execution --state-machine-arn "$STATE_MACHINE_ARN" '
                "--query executionArn --output text)"
            ),
            'echo "started $EXECUTION"',
            f"DEADLINE=$((SECONDS + {minutes * 60}))",
            f"STATUS=$({get})",
            'while [ "$STATUS" = RUNNING ]; do',
            '  if [ "$SECONDS" -ge "$DEADLINE" ]; then',
            f'    echo "still RUNNING after {minutes} minutes: stopping it"',
            '    aws stepfunctions stop-execution --execution-arn "$EXECUTION" || true',
            "    exit 1",
            "  fi",
            "  sleep 30",
            f"  STATUS=$({get})",
            "done",
            'echo "execution $STATUS"',
            '[ "$STATUS" = SUCCEEDED ]',
        ]
    )


def glue_job_purpose(kind: str, environment: str) -> str:
    return f"glue-{kind}-{environment}"


def glue_scripts_prefix(m: Manifest, environment: str) -> str:
    """Where an environment's scripts go (then /<hash>/): only this pipeline's prefix of the bucket."""
    return f"glue/{m.name}/{environment}"


# GetWorkflowRun: Run.Status is RUNNING, COMPLETED, STOPPING, STOPPED or ERROR; a COMPLETED run
# may still hold failed, timed-out, errored or stopped actions (Run.Statistics). Sources: AWS Glue
# API Reference, "GetWorkflowRun", "WorkflowRun" and "WorkflowRunStatistics".
_GLUE_FAILED_STATISTICS = ("FailedActions", "TimeoutActions", "ErroredActions", "StoppedActions")


def glue_smoke_script(workflow: str, minutes: int) -> str:
    """Start a workflow run, poll it to the end, fail unless it completed with every action succeeded."""
    stats = ", ".join(f"Run.Statistics.{s}" for s in _GLUE_FAILED_STATISTICS)
    get = f'aws glue get-workflow-run --name {workflow} --run-id "$RUN_ID"'
    return "\n".join(
        [
            f"RUN_ID=$(aws glue start-workflow-run --name {workflow} --query RunId --output text)",
            f'echo "started run $RUN_ID of {workflow}"',
            f"DEADLINE=$((SECONDS + {minutes * 60}))",
            f"STATUS=$({get} --query Run.Status --output text)",
            'while [ "$STATUS" = RUNNING ] || [ "$STATUS" = STOPPING ]; do',
            '  if [ "$SECONDS" -ge "$DEADLINE" ]; then',
            f'    echo "{workflow} still $STATUS after {minutes} minutes: stopping it"',
            f'    aws glue stop-workflow-run --name {workflow} --run-id "$RUN_ID" || true',
            "    exit 1",
            "  fi",
            "  sleep 30",
            f"  STATUS=$({get} --query Run.Status --output text)",
            "done",
            f"{get} --query Run.Statistics",
            f"FAILED=$({get} --query '[{stats}]' --output text)",
            'echo "status $STATUS; failed, timed out, errored, stopped actions: $FAILED"',
            '[ "$STATUS" = COMPLETED ] || exit 1',
            'for n in $FAILED; do if [ "$n" != 0 ] && [ "$n" != None ]; then exit 1; fi; done',
        ]
    )


def _gate_job(m: Manifest, gate: QualityGate) -> BuildJob:
    """A gate runs on the build's image and runtime version; its tool is pinned and installed after
    the CodeArtifact login (pip-installed tools log pip in too), so a private build installs it
    through the repository. It receives only the secret its tool needs."""
    b = m.build
    tool = gate.tool
    extra = ("pip",) if tool is not None and tool.source == "pypi" else ()
    extra += ("npm",) if tool is not None and tool.source == "npm" else ()
    install = _codeartifact_login(b.codeartifact, extra) + (tool.install if tool else ())
    platform = {}
    if b.gate_platform is not None:  # a Windows build: its gates run on the preset's Linux image
        image, environment_type, compute_type, runtime_key, runtime = b.gate_platform
        platform = {
            "image": image,
            "environment_type": environment_type,
            "compute_type": compute_type,
            "runtime_key": runtime_key,
            "runtime": runtime,
            "fleet": None,
            "shell": "bash",
            "cache": "none",
        }
    return BuildJob(
        purpose=f"gate-{gate.name}",
        logical_prefix=camel("gate", gate.name),
        description=f"{m.name}: quality gate {gate.name}",
        phases=(("install", install), ("build", gate.commands)),
        env=b.env + (("MANIFESTC_GATE", gate.name),),
        **{
            **_common(b),
            "secrets": tuple(s for s in b.secrets if s.variable == gate.secret),
            "timeout": min(b.timeout, 60),
            **platform,
        },
    )


def _feature_job(m: Manifest) -> BuildJob:
    """Feature-branch builds: the build and the chosen suites, outside the pipeline; with
    `deploy_to`, then the branch's preview stacks (emit/ephemeral.py)."""
    fb = m.source.feature_branches
    job = _outside_build(
        m,
        fb.tests,
        purpose="feature",
        logical_prefix="Feature",
        description=f"{m.name}: feature-branch build ({', '.join(fb.patterns)})",
        stage="feature",
        common=_common(m.build),
    )
    if not ephemeral.previews(m):
        return job
    phases = dict(job.phases)
    phases["build"] = phases["build"] + ephemeral.preview_commands(m, _in_artifact)
    return dataclasses.replace(
        job,
        description=f"{m.name}: feature-branch build and preview ({', '.join(fb.patterns)})",
        phases=tuple(phases.items()),
        env=job.env + ((ephemeral.ROLE_VARIABLE, ephemeral.exec_role_arn()),),
        ephemeral_prefixes=(ephemeral_prefix(m.name, "preview"),),
    )


def _preview_teardown_job(m: Manifest) -> BuildJob:
    """Deletes a branch's preview stacks: runs no manifest command, only deletes through the
    ephemeral role, outside the VPC."""
    python = presets()["python"]
    return BuildJob(
        purpose=ephemeral.TEARDOWN,
        logical_prefix="PreviewTeardown",
        description=f"{m.name}: delete the preview stacks of a branch that is gone",
        image=python["images"]["x86_64"],
        environment_type="LINUX_CONTAINER",
        compute_type="BUILD_GENERAL1_SMALL",
        privileged=False,
        timeout=60,
        runtime_key=None,
        runtime=None,
        phases=(("build", ephemeral.teardown_commands(m)),),
        env=((ephemeral.ROLE_VARIABLE, ephemeral.exec_role_arn()),),
        source="none" if m.source.provider == "codecommit" else m.source.provider,
        in_vpc=False,
        ephemeral_prefixes=(ephemeral_prefix(m.name, "preview"),),
        ephemeral_create=False,
    )


def _outside_build(
    m: Manifest,
    suite_names,
    *,
    purpose: str,
    logical_prefix: str,
    description: str,
    stage: str,
    common: dict,
    own_reports: bool = False,
) -> BuildJob:
    """A build outside the pipeline (feature branches, pull requests): the build's phases, then the
    chosen suites' commands, with those suites' report groups (`own_reports`: groups of its own,
    `<name>-<purpose>-<suite>-tests`, so its results never mix with the pipeline's)."""
    b = m.build
    suites = [t for t in m.tests if t.name in suite_names]
    commands = b.commands
    for suite in suites:
        commands = commands + suite.commands
    own_build = build_report_groups(m, owner=purpose, prefix=camel(logical_prefix, "build"))
    reports = (own_build if own_reports else build_report_groups(m)) + tuple(
        group
        for suite in suites
        for group in (
            _suite_reports(m, suite, camel(logical_prefix, suite.name), owner=purpose)
            if own_reports
            else _suite_reports(m, suite, camel("test", suite.name))
        )
    )
    return BuildJob(
        purpose=purpose,
        logical_prefix=logical_prefix,
        description=description,
        phases=(
            ("install", _codeartifact_login(b.codeartifact, windows=b.windows) + b.install),
            ("pre_build", b.pre_build),
            ("build", commands),
        ),
        env=b.env + (("MANIFESTC_STAGE", stage),),
        reports=reports,
        source=m.source.provider,
        **common,
    )


def _pull_request_job(m: Manifest) -> BuildJob:
    """Pull-request builds: the build and the chosen suites on the pull request's head, outside the
    pipeline; no secrets and no declared permissions (the code is not reviewed yet, and may come from
    a fork), so its role reads the repository, writes its logs and reports, and nothing else."""
    return _outside_build(
        m,
        m.source.pull_requests.tests,
        purpose="pr",
        logical_prefix="PullRequest",
        description=f"{m.name}: pull-request build (into {m.source.branch}; never deploys)",
        stage="pull-request",
        common={**_common(m.build), "secrets": (), "secrets_kms_key": None},
        own_reports=True,
    )


def deploy_jobs(m: Manifest) -> tuple[BuildJob, ...]:
    """Lambda deploys run as CodeBuild jobs: one per environment and lambda target."""
    jobs = []
    for env in m.environments:
        for name in env.targets:
            target = m.target(name)
            if target.type != "lambda" or target.template:
                continue
            deploys = tuple(
                LambdaDeploy(
                    m.resolve_target(target, env, region).function,
                    region,
                    env.account if m.is_cross_account(env) else None,
                    target.package,
                    target.artifact,
                )
                for region in env.regions
            )
            jobs.append(
                _target_deploy_job(
                    m,
                    env,
                    target,
                    f"{m.name}: deploy {deploys[0].function} ({target.package}) to {env.name}",
                    (_lambda_commands(m, target, d) for d in deploys),
                    timeout=15,
                    env=(_image_env(m) if target.package == "image" else ())
                    + ((("AWS_PARTITION", Sub("${AWS::Partition}")),) if m.is_cross_account(env) else ()),
                    lambda_deploys=deploys,
                )
            )
    return tuple(jobs)


def layer_jobs(m: Manifest) -> tuple[BuildJob, ...]:
    """lambda_layer targets: a CodeBuild job per environment publishes the layer zip of the build
    artifact as a new layer version in each region (the zip goes in the request: no bucket in the
    other regions), in the environment's account through the bootstrap deploy role. It runs no
    manifest command and stays out of the VPC (endpoints are regional)."""
    jobs = []
    for env, target in m.deployed("lambda_layer"):
        account = env.account if m.is_cross_account(env) else None
        publishes = tuple(
            LayerPublish(m.resolve_target(target, env, region).layer, region, account)
            for region in m.target_regions(target, env)
        )
        jobs.append(
            _target_deploy_job(
                m,
                env,
                target,
                f"{m.name}: publish layer {publishes[0].layer} to {env.name}",
                (_layer_commands(m, target, p) for p in publishes),
                timeout=15,
                env=(("AWS_PARTITION", Sub("${AWS::Partition}")),) if account else (),
                layer_publishes=publishes,
                in_vpc=False,
            )
        )
    return tuple(jobs)


def _layer_commands(m: Manifest, target: Target, publish: LayerPublish) -> str:
    region = f" --region {publish.region}" if publish.region else ""
    parts, profile = [], ""
    if publish.account:
        parts += deploy_profile_commands(m, publish.account)
        profile = " --profile deploy"
    options = f"--layer-name {publish.layer} --zip-file fileb://{shlex.quote(target.artifact or 'layer.zip')}"
    if target.runtimes:
        options += " --compatible-runtimes " + " ".join(target.runtimes)
    if target.architectures:
        options += " --compatible-architectures " + " ".join(target.architectures)
    parts.append(f"aws{profile}{region} lambda publish-layer-version {options} --query LayerVersionArn --output text")
    return " && ".join(parts)


def image_copy_jobs(m: Manifest) -> tuple[BuildJob, ...]:
    """image_copy targets: per environment, a privileged CodeBuild job pulls the promoted image
    (`<build.image_repository>:<short commit>`) and pushes it to the repository in each of the
    environment's regions and its account (through the bootstrap deploy role, whose ECR login the
    push uses). ECR copies nothing across registries by API and its replication is a registry-wide
    setting, so docker does it: one platform's image (the build's), re-pushed under the same tag.
    No manifest command runs; out of the VPC (a VPC endpoint reaches its own region only)."""
    jobs = []
    for env, target in m.deployed("image_copy"):
        account = env.account if m.is_cross_account(env) else None
        copies = tuple(ImageCopy(target.image_repository, r, account) for r in m.target_regions(target, env))
        login = (
            'aws ecr get-login-password | docker login --username AWS --password-stdin "$ECR_REGISTRY"',
            'export IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:0:7}"',
            'docker pull "$IMAGE_URI:$IMAGE_TAG"',
        )
        if account:
            login += deploy_profile_commands(m, account)
        jobs.append(
            _target_deploy_job(
                m,
                env,
                target,
                f"{m.name}: copy the image to {target.image_repository} in {env.name}",
                login + tuple(_image_copy_command(c) for c in copies),
                privileged=True,
                timeout=30,
                env=_image_env(m)
                + (
                    ("AWS_PARTITION", Sub("${AWS::Partition}")),
                    ("AWS_URL_SUFFIX", Sub("${AWS::URLSuffix}")),
                    ("PIPELINE_ACCOUNT", Sub("${AWS::AccountId}")),
                ),
                image_copies=copies,
                in_vpc=False,
            )
        )
    return tuple(jobs)


def _image_copy_command(copy: ImageCopy) -> str:
    region = copy.region or "$AWS_REGION"
    registry = f"{copy.account or '$PIPELINE_ACCOUNT'}.dkr.ecr.{region}.$AWS_URL_SUFFIX"
    profile = " --profile deploy" if copy.account else ""
    destination = f'"{registry}/{copy.repository}:$IMAGE_TAG"'
    login = f'aws{profile} ecr get-login-password --region {region} | docker login --username AWS --password-stdin "{registry}"'
    # A re-run of the same commit finds the tag there: ECR refuses to overwrite a tag of an
    # IMMUTABLE repository even with the same image, so a tag that already holds the tested image
    # (the same digest as the build's repository) is left as it is; a tag holding another image
    # fails the job (nobody substitutes an image under the commit's tag), as does a failing check.
    digest = '--image-ids imageTag="$IMAGE_TAG" --query "images[0].imageId.imageDigest" --output text'
    present = (
        f'TESTED=$(aws ecr batch-get-image --repository-name "${{IMAGE_URI#*/}}" {digest}) && '
        f"FOUND=$(aws{profile} ecr batch-get-image --region {region} --repository-name {copy.repository} {digest})"
    )
    push = (
        f'if [ "$FOUND" = "$TESTED" ]; then echo "{copy.repository} in {region} already holds $IMAGE_TAG"; '
        f'elif [ "$FOUND" != None ]; then echo "{copy.repository} in {region} holds another image as $IMAGE_TAG '
        f'($FOUND, tested: $TESTED)" >&2; exit 1; '
        f'else docker tag "$IMAGE_URI:$IMAGE_TAG" {destination} && docker push {destination}; fi'
    )
    return " && ".join((login, present, push))


def s3_deploy_jobs(m: Manifest) -> tuple[BuildJob, ...]:
    """s3 targets with `delete_stale` or `cloudfront_invalidation`: a CodeBuild job per environment
    that syncs the artifact into the bucket with `--delete` (the S3 deploy action only adds and
    overwrites objects) and/or invalidates the environment's distribution after the deploy. It runs
    no manifest command, so it stays out of the VPC (CloudFront has no VPC endpoint)."""
    jobs = []
    for env in m.environments:
        for name in env.targets:
            target = m.target(name)
            if not target.s3_deploy_job:
                continue
            resolved = m.resolve_target(target, env, env.regions[0])
            distribution = target.distribution_for(env.name)
            account = env.account if m.is_cross_account(env) else None
            commands = []
            aws_cli = "aws"
            if account:
                commands += deploy_profile_commands(m, account)
                aws_cli = "aws --profile deploy"
            if target.delete_stale:
                destination = shlex.quote(f"s3://{resolved.bucket}/{resolved.prefix or ''}")
                cache = f" --cache-control {shlex.quote(target.cache_control)}" if target.cache_control else ""
                commands.append(f"{aws_cli} s3 sync . {destination} --delete --no-progress{cache}")
            if distribution:
                paths = " ".join(shlex.quote(p) for p in target.invalidation_paths)
                commands.append(
                    f"ID=$({aws_cli} cloudfront create-invalidation --distribution-id {distribution} --paths {paths} "
                    "--query Invalidation.Id --output text)"
                )
                # poll instead of `aws cloudfront wait invalidation-completed`, whose waiter gives up
                # after 10 minutes (30 checks, 20 s apart) and would fail a run whose content is live
                commands.append(
                    f"for attempt in $(seq {INVALIDATION_POLLS}); do STATUS=$({aws_cli} cloudfront get-invalidation "
                    f'--distribution-id {distribution} --id "$ID" --query Invalidation.Status --output text) || exit 1; '
                    '[ "$STATUS" = Completed ] && break; sleep 15; done; [ "$STATUS" = Completed ] || '
                    f'{{ echo "invalidation $ID of {distribution} not completed after {INVALIDATION_POLLS * 15 // 60} '
                    'minutes" >&2; exit 1; }'
                )
            what = " and ".join(
                part
                for part in (
                    f"sync s3://{resolved.bucket}/{resolved.prefix or ''}" if target.delete_stale else "",
                    f"invalidate {distribution}" if distribution else "",
                )
                if part
            )
            jobs.append(
                _target_deploy_job(
                    m,
                    env,
                    target,
                    f"{m.name}: {what} ({env.name})",
                    commands,
                    timeout=60 if distribution else 30,  # the invalidation poll waits up to 50 minutes
                    env=(("AWS_PARTITION", Sub("${AWS::Partition}")),) if account else (),
                    s3_sync=(resolved.bucket, resolved.prefix or "") if target.delete_stale else None,
                    s3_sync_key=resolved.kms_key if target.delete_stale else None,
                    invalidates=distribution,
                    deploy_account=account,
                    in_vpc=False,
                )
            )
    return tuple(jobs)


INVALIDATION_POLLS = 200  # CloudFront invalidation status checks, 15 s apart (50 minutes)


def deploy_profile_commands(m: Manifest, account: str) -> tuple[str, str]:
    """The AWS CLI profile `deploy`: CodeBuild's own credentials assume the target account's deploy
    role (credential_source), for commands run `--profile deploy`."""
    return (
        f"aws configure set profile.deploy.role_arn arn:$AWS_PARTITION:{deploy_role_path(m, account)}",
        "aws configure set profile.deploy.credential_source EcsContainer",
    )


def _target_deploy_job(m: Manifest, environment, target: Target, description: str, commands, **fields) -> BuildJob:
    """A CodeBuild job that deploys one target in one environment and runs no manifest command: the
    python preset's x86_64 image, small, no runtime pin; `fields` give the rest."""
    fields.setdefault("privileged", False)
    return BuildJob(
        purpose=lambda_job_purpose(environment.name, target.name),
        logical_prefix=camel("deploy", environment.name, target.name),
        description=description,
        image=presets()["python"]["images"]["x86_64"],
        environment_type="LINUX_CONTAINER",
        compute_type="BUILD_GENERAL1_SMALL",
        runtime_key=None,
        runtime=None,
        phases=(("build", tuple(commands)),),
        **fields,
    )


def commands_job_purpose(environment: str, target: str) -> str:
    return f"commands-{environment}-{target}"


def step_account(m: Manifest, env) -> str:
    """The account a commands job works in, as template text: the target account, or the
    account the pipeline stack is deployed to."""
    return env.account if m.is_cross_account(env) else "${AWS::AccountId}"


def commands_role_arn(m: Manifest, target: Target, env) -> str | Sub | None:
    """The role a commands job assumes: the target's `role` (rendered for `env`), the role
    bootstrap-<account>.yaml creates from `permissions` in another account, or None (same
    account: the job's own role carries the permissions; neither `role` nor `permissions`: the
    commands call no AWS API and the job keeps its own role)."""
    from ..semantics_steps import permissions_role_name

    if target.role:
        return sub_if_needed(m.render_step(_partitioned(target.role), env, None, step_account(m, env)))
    if target.permissions and m.is_cross_account(env):
        name = permissions_role_name(m, env.name, target.name)
        return Sub(f"arn:${{AWS::Partition}}:iam::{env.account}:role/manifestc/{m.name}/{name}")
    return None


def _partitioned(arn: str) -> str:
    """User text made literal for Fn::Sub, an `arn:aws:` ARN in the partition the stack is
    deployed to (so the same manifest works in GovCloud; cfn-lint I3042)."""
    text = _escape_sub(arn)
    return "arn:${AWS::Partition}:" + text[len("arn:aws:") :] if text.startswith("arn:aws:") else text


def commands_statements(m: Manifest, target: Target, env, account: str) -> tuple:
    """A commands target's `permissions.statements` as (effect, actions, resources) with placeholders
    rendered for every region of `env` (`account` is template text: an account id or ${AWS::AccountId})."""
    out = []
    for grant in target.permissions.statements if target.permissions else ():
        resources = dict.fromkeys(
            m.render_step(_partitioned(r), env, region or "${AWS::Region}", account)
            for r in grant.resources
            for region in env.regions
        )
        out.append((grant.effect, grant.actions, tuple(sub_if_needed(r) for r in resources)))
    return tuple(out)


def declared_statement(number: int, effect: str, actions, resources) -> Statement:
    """One declared statement of a commands target (Sid `Declared<n>`), Allow or Deny."""
    statement = allow([_iam_action(a) for a in actions], list(resources), sid=f"Declared{number}")
    if effect == "Deny":
        statement.Effect = Deny
    return statement


# Written before the user's commands: every SDK and CLI (Terraform, the CDK CLI, kubectl's
# `aws eks get-token`, the AWS CLI) then works in the environment's region, and with a declared
# role through a shared-config profile whose `credential_source = EcsContainer` assumes it with
# CodeBuild's credentials and refreshes it (AWS SDKs and Tools Reference Guide, "Assume role
# credential provider": role_arn, credential_source). No AWS CLI needed in a custom image.
_STEP_REGION = 'export AWS_REGION="$REGION" AWS_DEFAULT_REGION="$REGION"'
_STEP_PROFILE = (
    (
        "mkdir -p ~/.aws && printf '[profile deploy]\\nrole_arn = %s\\ncredential_source = EcsContainer\\nregion = %s\\n' "
        '"$DEPLOY_ROLE_ARN" "$REGION" >> ~/.aws/config'
    ),
    "export AWS_PROFILE=deploy AWS_SDK_LOAD_CONFIG=1",
)


def commands_jobs(m: Manifest) -> tuple[BuildJob, ...]:
    """Commands targets: one CodeBuild job per environment and target, running the target's
    commands on the build artifact in the environment's account and region."""
    b = m.build
    jobs = []
    for env, target in m.deployed("commands"):
        account = step_account(m, env)
        role = commands_role_arn(m, target, env)
        environment_type, compute_type = (
            aws.COMPUTE_TYPES[(target.compute, b.arch)] if target.compute else (b.environment_type, b.compute_type)
        )
        # CodeArtifact (the tooling account's) first, with the job's own credentials
        setup = _codeartifact_login(b.codeartifact) + (_STEP_REGION,) + (_STEP_PROFILE if role is not None else ())
        variables = (
            ("ENVIRONMENT", env.name),
            ("ACCOUNT", sub_if_needed(account)),
            ("REGION", sub_if_needed(env.regions[0] or "${AWS::Region}")),
        ) + ((("DEPLOY_ROLE_ARN", role),) if role is not None else ())
        jobs.append(
            BuildJob(
                purpose=commands_job_purpose(env.name, target.name),
                logical_prefix=camel("commands", env.name, target.name),
                description=f"{m.name}: run {target.name} in {env.name}",
                image=target.image or b.image,
                environment_type=environment_type,
                compute_type=compute_type,
                privileged=False,
                timeout=b.timeout,
                runtime_key=None if target.image else b.runtime_key,
                runtime=None if target.image else b.runtime,
                phases=(("install", setup), ("build", target.commands)),
                env=variables,
                exported_variables=target.exports,
                codeartifact=b.codeartifact,
                # the environment's secrets, as a post-deploy suite gets them: CodeBuild resolves
                # SECRETS_MANAGER/PARAMETER_STORE variables with the project's service role (in the
                # tooling account) when the build starts, before any command runs (CodeBuild API
                # Reference, "EnvironmentVariable"), so the grant (`_secret_statements`) goes on that
                # role even when the commands then assume a `role` in another account
                secrets=env.secrets,
                secrets_kms_key=b.secrets_kms_key,
                assume_role=role,
                declared_permissions=()
                if role is not None
                else commands_statements(m, target, env, "${AWS::AccountId}"),
                declared_policies=target.permissions.managed_policies if role is None and target.permissions else (),
            )
        )
    return tuple(jobs)


def lambda_job_purpose(environment: str, target: str) -> str:
    return f"deploy-{environment}-{target}"


def deploy_role_path(m: Manifest, account: str) -> str:
    """`iam::<account>:role/...` of the bootstrap deploy role, without the partition."""
    return f"iam::{account}:role/manifestc/{m.name}/{m.name}-deploy"


def deploy_role_arn(m: Manifest, account: str) -> Sub:
    """The bootstrap deploy role in a target account (bootstrap-<account>.yaml creates it), in
    the partition the pipeline runs in (aws, aws-cn, aws-us-gov)."""
    return Sub(f"arn:${{AWS::Partition}}:{deploy_role_path(m, account)}")


def _lambda_commands(m: Manifest, target: Target, deploy: LambdaDeploy) -> str:
    region = f" --region {deploy.region}" if deploy.region else ""
    profile = ""
    parts = []
    if deploy.account:
        parts += deploy_profile_commands(m, deploy.account)
        profile = " --profile deploy"
    if deploy.package == "image":
        code = '--image-uri "$IMAGE_URI:${CODEBUILD_RESOLVED_SOURCE_VERSION:0:7}"'
    else:
        code = f"--zip-file fileb://{shlex.quote(deploy.artifact or 'function.zip')}"
    parts.append(f"aws{profile}{region} lambda update-function-code --function-name {deploy.function} {code} --publish")
    parts.append(f"aws{profile}{region} lambda wait function-updated-v2 --function-name {deploy.function}")
    return " && ".join(parts)


# Where the self-update build writes what it deploys: replaced as a whole by `manifestc
# recompile` (a committed directory of that name is deleted first, never read).
SELF_UPDATE_OUT = ".manifestc-selfupdate"


def _update_job(m: Manifest) -> BuildJob:
    """The self-update build (SPEC §5.2): the deployed toolchain recompiles the committed manifest.

    Hermetic: the toolchain is the hash-pinned wheelhouse this template names, installed with
    no index into a virtual environment in a fresh directory outside the checkout and run with
    `python -I`; `manifestc recompile` compiles only the manifest file into a fresh temporary
    directory and checks a changed toolchain before it is trusted (see recompile.py).
    """
    python = presets()["python"]
    chain = m.regenerate.toolchain
    bucket = chain.bucket or "${ArtifactBucket}"
    manifest = f'"$CODEBUILD_SRC_DIR"/{shlex.quote(m.regenerate.path)}'
    commands = (
        'export MANIFESTC_HOME="$(mktemp -d "${TMPDIR:-/tmp}/manifestc.XXXXXXXX")"',
        *install_commands("$MANIFESTC_TOOLCHAIN_URL"),
        "venv/bin/python -I -m manifestc --version",
        (
            f'venv/bin/python -I -m manifestc recompile {manifest} --repo-root "$CODEBUILD_SRC_DIR" '
            f'--pipeline {m.name} --toolchain "$MANIFESTC_TOOLCHAIN" --artifact-bucket "$ARTIFACT_BUCKET" '
            f'--out "$CODEBUILD_SRC_DIR/{SELF_UPDATE_OUT}"'
        ),
    )
    return BuildJob(
        purpose="update",
        logical_prefix="Update",
        description=f"{m.name}: recompile the committed manifest with the deployed manifestc toolchain (self-update)",
        image=python["images"]["x86_64"],
        environment_type="LINUX_CONTAINER",
        compute_type="BUILD_GENERAL1_SMALL",
        privileged=False,
        timeout=15,
        runtime_key=python["runtime_key"],
        runtime=str(python["default_runtime"]),
        phases=(("install", ()), ("build", commands)),
        env=(
            ("MANIFESTC_TOOLCHAIN", m.regenerate.install),
            (
                "MANIFESTC_TOOLCHAIN_URL",
                Sub(f"s3://{bucket}/{chain.prefix}") if chain.bucket is None else m.regenerate.install,
            ),
            ("ARTIFACT_BUCKET", Ref("ArtifactBucket")),
            ("MANIFESTC_ACCOUNT", Sub("${AWS::AccountId}")),
            # what this pipeline deploys where, who approves, its source: Recompile refuses a
            # commit that changes them through the pipeline itself (guard.py, recompile.py)
            *guard_values(m),
            *(((regional_keys.VARIABLE, keyed),) if (keyed := regional_keys.variable_value(m)) else ()),
        ),
        artifacts=("**/*",),
        base_directory=SELF_UPDATE_OUT,
        toolchain=chain,
    )


def toolchain_statements(chain: Toolchain) -> list:
    """Read the toolchain wheelhouse: list its prefix, get its objects (the artifact bucket's
    objects are readable already; an organisation bucket is readable as a whole, so a
    version upgrade in it needs no new grant)."""
    if chain.bucket is None:
        bucket = GetAtt("ArtifactBucket", "Arn")
        prefix = f"{TOOLCHAIN_PREFIX}*"
        objects = []
    else:
        bucket = Sub(f"arn:${{AWS::Partition}}:s3:::{chain.bucket}")
        prefix = "*"
        objects = [allow([s3.GetObject], [Sub(f"arn:${{AWS::Partition}}:s3:::{chain.bucket}/*")], sid="ToolchainRead")]
    return [
        allow([s3.ListBucket], [bucket], Condition(StringLike({"s3:prefix": prefix})), sid="ToolchainList"),
        *objects,
    ]


def _enter(directory: str) -> str:
    """Each phase of a job with `build.directory` starts in it: an absolute `cd`, so the phase does
    not depend on where an earlier one ended (artifact and report `base-directory` are relative to
    the source root, CodeBuild User Guide "Build specification reference")."""
    return f'cd "$CODEBUILD_SRC_DIR"/{shlex.quote(directory)}'


def _escape_sub(text: str) -> str:
    """Make user text literal inside Fn::Sub (`${X}` -> `${!X}`)."""
    return text.replace("${", "${!")


def buildspec(job: BuildJob) -> Sub | str:
    """The inline buildspec (version 0.2). Report groups are referenced by ARN through Fn::Sub."""
    phases: dict = {}
    for phase, commands in job.phases:
        if not commands and not (phase == "install" and job.runtime_key):
            continue
        body: dict = {}
        if phase == "install" and job.runtime_key and job.runtime:
            body["runtime-versions"] = {job.runtime_key: job.runtime}
        if commands and job.directory:
            commands = (_enter(job.directory),) + tuple(commands)
        if commands:
            body["commands"] = [_escape_sub(c) for c in commands]
        final = dict(job.finally_phases).get(phase)
        if final:
            body["finally"] = [_escape_sub(c) for c in final]
        phases[phase] = body
    spec: dict = {"version": 0.2}
    if job.matrix:
        spec["batch"] = {
            "fast-fail": False,
            "build-matrix": {"dynamic": {"env": {"variables": {name: list(values) for name, values in job.matrix}}}},
        }
    if job.batch:
        spec["batch"] = _batch_section(job.batch)
    spec["env"] = {"shell": job.shell} if job.shell else {}
    if job.exported_variables:
        spec["env"]["exported-variables"] = list(job.exported_variables)
    if not spec["env"]:
        del spec["env"]
    spec["phases"] = phases
    if job.reports:
        spec["reports"] = {
            f"${{{group.logical_id}.Arn}}": {
                "files": [_escape_sub(f) for f in group.files],
                "file-format": group.file_format,
                **({"base-directory": _escape_sub(job.directory)} if job.directory else {}),
            }
            for group in job.reports
        }
    if job.artifacts and job.secondary_artifacts:
        # buildspec reference: `secondary-artifacts` is a key of `artifacts`, one entry per artifact
        # identifier (every output artifact of the action, the primary included)
        spec["artifacts"] = {
            "secondary-artifacts": {
                name: _artifact_section(files, _below(job.directory, base))
                for name, files, base in (
                    (PRIMARY_ARTIFACT, job.artifacts, job.base_directory),
                    *job.secondary_artifacts,
                )
            }
        }
    elif job.artifacts:
        spec["artifacts"] = _artifact_section(job.artifacts, _below(job.directory, job.base_directory))
    if job.cache == "s3" and job.cache_paths:
        spec["cache"] = {"paths": list(job.cache_paths)}
    text = yaml.dump(spec, Dumper=_BuildspecDumper, sort_keys=False, default_flow_style=False, width=1000)
    return sub_if_needed(text)


def _batch_section(builds: tuple[BatchBuild, ...]) -> dict:
    """The buildspec `batch` section of a heterogeneous batch (CodeBuild User Guide, "Batch build
    buildspec reference"): a `build-list` of parallel builds, or a `build-graph` when a build
    `depend-on` others; each with its `identifier`, `env` overrides (`type`, `image`,
    `compute-type`, `variables`), optional `buildspec` and `ignore-failure`."""
    entries = []
    for build in builds:
        entry: dict = {"identifier": build.name}
        if build.buildspec:
            entry["buildspec"] = build.buildspec
        env: dict = {"type": build.environment_type, "image": build.image, "compute-type": build.compute_type}
        if build.env:
            env["variables"] = {k: _escape_sub(v) for k, v in build.env}
        entry["env"] = env
        if build.depends_on:
            entry["depend-on"] = list(build.depends_on)
        if build.ignore_failure:
            entry["ignore-failure"] = True
        entries.append(entry)
    kind = "build-graph" if any(b.depends_on for b in builds) else "build-list"
    return {"fast-fail": False, kind: entries}


def _below(directory: str | None, base: str | None) -> str | None:
    """An artifact's base directory below the service's `build.directory` (monorepo services)."""
    return "/".join(d.strip("/") for d in (directory, base) if d) or None


def _artifact_section(files: tuple[str, ...], base_directory: str | None) -> dict:
    section: dict = {"files": [_escape_sub(f) for f in files]}
    if base_directory:
        section["base-directory"] = _escape_sub(base_directory)
    return section


class _BuildspecDumper(FAST_SAFE_DUMPER):
    """Multi-line commands (the approval check's heredoc) as literal blocks, readable in the template."""


_BuildspecDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def sub_if_needed(text: str) -> Sub | str:
    """Fn::Sub when `text` references variables; else the plain text with escapes undone."""
    if re.search(r"\$\{(?!!)", text):
        return Sub(text)
    return text.replace("${!", "${")


def emit_codebuild(ctx: Context) -> None:
    """Projects, roles, log groups and report groups for every job."""
    for job in build_jobs(ctx.manifest):
        _emit_job(ctx, job)


def _emit_job(ctx: Context, job: BuildJob) -> None:
    prefix = job.logical_prefix
    ctx.add(
        logs.LogGroup(
            f"{prefix}LogGroup",
            LogGroupName=ctx.log_group_name(job.purpose),
            RetentionInDays=aws.LOG_RETENTION_DAYS,
            KmsKeyId=GetAtt("ArtifactKey", "Arn"),
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
        )
    )
    for group in job.reports:
        if group.logical_id in ctx.template.resources:
            continue  # feature-branch builds report into the suites' own groups
        ctx.add(
            cb.ReportGroup(
                group.logical_id,
                Name=group.name,
                Type=group.kind,
                DeleteReports=True,
                ExportConfig=cb.ReportExportConfig(
                    ExportConfigType="S3",
                    S3Destination=cb.S3ReportExportConfig(
                        Bucket=Ref("ArtifactBucket"),
                        Path=f"reports/{group.name}",
                        Packaging="NONE",
                        EncryptionKey=GetAtt("ArtifactKey", "Arn"),
                        EncryptionDisabled=False,
                    ),
                ),
            )
        )
    if job.purpose == "pr":
        statements = pull_request_artifact_statements(ctx, job)
    elif job.purpose == ephemeral.TEARDOWN:
        statements = []  # the preview teardown reads and writes nothing of the pipeline's: it only deletes stacks
    else:
        statements = artifact_statements(ctx)
    statements += log_statements(ctx, job.purpose)
    statements += report_statements([g.logical_id for g in job.reports])
    statements += _secret_statements(ctx, job)
    statements += _extra_statements(ctx, job)
    statements += vpc_statements(ctx) if job.in_vpc else []
    statements += declared_statements(job.permissions)
    if job.toolchain is not None:
        statements += toolchain_statements(job.toolchain)
    if job.source not in ("pipeline", "none"):
        from .feature import source_access_statements

        statements += source_access_statements(ctx)
    if job.ephemeral_prefixes:
        statements += ephemeral.stack_statements(ctx, job.ephemeral_prefixes, create=job.ephemeral_create)
    # Confused-deputy guard: only this project's builds (and, for a batch, its build batches).
    source = ctx.project_arn(job.purpose)
    if job.batched:
        source = [source, ctx.arn("codebuild", f"build-batch/{ctx.project_name(job.purpose)}:*")]
    managed = [partition_arn(arn) for arn in job.permissions.managed_policies] if job.permissions else None
    if job.declared_policies:
        managed = [partition_arn(arn) for arn in job.declared_policies]
    service_role(ctx, f"{prefix}Role", "codebuild.amazonaws.com", statements, source_arn=source, managed=managed)
    env_vars = [cb.EnvironmentVariable(Name=k, Type="PLAINTEXT", Value=v) for k, v in job.env]
    for secret in job.secrets:
        kind = "SECRETS_MANAGER" if secret.store == "secretsmanager" else "PARAMETER_STORE"
        env_vars.append(cb.EnvironmentVariable(Name=secret.variable, Type=kind, Value=secret.value))
    environment = cb.Environment(
        ComputeType=job.compute_type,
        Image=job.image,
        Type=job.environment_type,
        PrivilegedMode=job.privileged,
        # Curated and public images are pulled by CodeBuild; a private ECR image with the build's role.
        ImagePullCredentialsType="SERVICE_ROLE" if _private_ecr(job.image) else "CODEBUILD",
    )
    if env_vars:
        environment.EnvironmentVariables = env_vars
    if job.fleet:
        environment.Fleet = cb.ProjectFleet(FleetArn=job.fleet)
    if job.environment_type == "WINDOWS_SERVER_2022_CONTAINER":
        # troposphere's Environment validator predates this type; the CloudFormation registry schema
        # (cfn-lint's, which lints the template) lists it
        environment.no_validation()
    props = {
        "Name": ctx.project_name(job.purpose),
        "Description": job.description,
        "ServiceRole": GetAtt(f"{prefix}Role", "Arn"),
        "EncryptionKey": GetAtt("ArtifactKey", "Arn"),
        "Environment": environment,
        "TimeoutInMinutes": job.timeout,
        "QueuedTimeoutInMinutes": 60,
        "LogsConfig": cb.LogsConfig(
            CloudWatchLogs=cb.CloudWatchLogs(Status="ENABLED", GroupName=Ref(f"{prefix}LogGroup"))
        ),
        "Cache": _cache(job),
    }
    if ctx.manifest.network is not None and job.in_vpc:
        props["VpcConfig"] = vpc_config(ctx)
    if job.source == "pipeline":
        props["Artifacts"] = cb.Artifacts(Type="CODEPIPELINE")
        # a path is read from the source artifact, relative to CODEBUILD_SRC_DIR (CodeBuild User Guide,
        # "Buildspec file name and storage location")
        props["Source"] = cb.Source(Type="CODEPIPELINE", BuildSpec=job.buildspec_file or buildspec(job))
    elif job.purpose == ephemeral.TEARDOWN:
        props["Artifacts"] = cb.Artifacts(Type="NO_ARTIFACTS")
        props.update(ephemeral.teardown_source(ctx, buildspec(job)))
    else:
        from .feature import feature_source

        props["Artifacts"] = cb.Artifacts(Type="NO_ARTIFACTS")
        props.update(feature_source(ctx, buildspec(job), pull_requests=job.purpose == "pr"))
    if job.batched:
        combinations = 1
        for _, values in job.matrix:
            combinations *= len(values)
        if job.batch:
            combinations = len(job.batch)
        service_role(
            ctx,
            f"{prefix}BatchRole",
            "codebuild.amazonaws.com",
            [
                allow(
                    [codebuild.StartBuild, codebuild.StopBuild, codebuild.RetryBuild],
                    [ctx.project_arn(job.purpose)],
                    sid="RunBatchBuilds",
                ),
            ],
        )
        props["BuildBatchConfig"] = cb.ProjectBuildBatchConfig(
            ServiceRole=GetAtt(f"{prefix}BatchRole", "Arn"),
            CombineArtifacts=True,
            TimeoutInMins=job.timeout,
            Restrictions=cb.BatchRestrictions(
                MaximumBuildsAllowed=combinations,
                # a heterogeneous batch may use each of its builds' sizes, and no other
                ComputeTypesAllowed=sorted({b.compute_type for b in job.batch}) or [job.compute_type],
            ),
        )
    ctx.add(cb.Project(f"{prefix}Project", **props))


def pull_request_artifact_statements(ctx: Context, job: BuildJob) -> list:
    """The pull-request project runs code nobody reviewed yet (perhaps from a fork): it reads and
    writes only its own S3 cache (`cache/pr/`, with `cache: s3`) and the exports of its own report
    groups (`reports/<group>/`), never the pipeline's artifacts (`<name>/...`, which deploys read)
    nor another group's reports; the artifact key only as S3 uses it for those objects. Nothing to
    write (no S3 cache, no report group): no bucket and no key grant at all."""
    prefixes = ([f"cache/{job.purpose}/"] if job.cache == "s3" else []) + [
        f"reports/{group.name}/" for group in job.reports
    ]
    if not prefixes:
        return []
    objects = [Sub("${ArtifactBucket.Arn}/" + prefix + "*") for prefix in prefixes]
    # SSE-KMS: S3 asks for a data key on PutObject and decrypts it on GetObject (and to complete a
    # multipart upload) with the caller's permissions (Amazon S3 User Guide, "Using server-side
    # encryption with AWS KMS keys": permissions); kms:ViaService keeps the key to S3's requests.
    via_s3 = Condition(StringEquals({"kms:ViaService": Sub("s3.${AWS::Region}.${AWS::URLSuffix}")}))
    return [
        allow([s3.GetObject, s3.GetObjectVersion, s3.PutObject], objects, sid="ArtifactObjects"),
        allow(
            [s3.GetBucketAcl, s3.GetBucketLocation, s3.GetBucketVersioning],
            [GetAtt("ArtifactBucket", "Arn")],
            sid="ArtifactBucket",
        ),
        allow(
            [Action("kms", "Decrypt"), Action("kms", "GenerateDataKey")],
            [GetAtt("ArtifactKey", "Arn")],
            via_s3,
            sid="ArtifactKey",
        ),
    ]


def _cache(job: BuildJob) -> cb.ProjectCache:
    if job.cache == "s3":
        return cb.ProjectCache(Type="S3", Location=Sub(f"${{ArtifactBucket}}/cache/{job.purpose}"))
    if job.cache == "local":
        return cb.ProjectCache(
            Type="LOCAL", Modes=["LOCAL_SOURCE_CACHE", "LOCAL_DOCKER_LAYER_CACHE", "LOCAL_CUSTOM_CACHE"]
        )
    return cb.ProjectCache(Type="NO_CACHE")


def _secret_statements(ctx: Context, job: BuildJob) -> list:
    secrets = [s for s in job.secrets if s.store == "secretsmanager"]
    params = [s for s in job.secrets if s.store == "ssm"]
    out = []
    if secrets:
        # Secrets Manager appends a 6-character suffix to every secret ARN.
        names = sorted({s.name for s in secrets})
        out.append(
            allow(
                [secretsmanager.GetSecretValue],
                [ctx.arn("secretsmanager", f"secret:{name}-??????") for name in names],
                sid="ReadSecrets",
            )
        )
    if params:
        names = sorted({s.name for s in params})
        out.append(
            allow([ssm.GetParameters], [ctx.arn("ssm", f"parameter{name}") for name in names], sid="ReadParameters")
        )
    if job.secrets_kms_key and job.secrets:
        # A secret or SecureString under a customer-managed key needs kms:Decrypt on that key
        # (Secrets Manager API_GetSecretValue "Required permissions"; the AWS managed policy
        # AWSSecretsManagerClientReadOnlyAccess scopes it with kms:ViaService). Only through the
        # services that hold the secrets this project receives.
        via = [
            Sub(f"{service}.${{AWS::Region}}.${{AWS::URLSuffix}}")
            for service, present in (("secretsmanager", secrets), ("ssm", params))
            if present
        ]
        out.append(
            allow(
                [Action("kms", "Decrypt")],
                [job.secrets_kms_key],
                Condition(StringEquals({"kms:ViaService": via})),
                sid="DecryptSecrets",
            )
        )
    return out


def partition_arn(arn: str) -> Sub | str:
    """A manifest ARN with its partition as `${AWS::Partition}` (README: no ARN is spelt `arn:aws:`);
    any `${...}` it holds (an IAM policy variable) stays literal."""
    if not arn.startswith("arn:"):
        return arn
    parts = arn.split(":", 2)
    return Sub("arn:${AWS::Partition}:" + _escape_sub(parts[2]))


def declared_statements(permissions: Permissions | None) -> list:
    """The declared statements of a project's role, as written (Sid `Declared<n>`)."""
    if permissions is None:
        return []
    out = []
    for index, grant in enumerate(permissions.statements, start=1):
        actions = [Action("*") if a == "*" else Action(*a.split(":", 1)) for a in grant.actions]
        statement = allow(actions, [partition_arn(r) for r in grant.resources], sid=f"Declared{index}")
        if grant.effect == "Deny":
            statement.Effect = Deny
        out.append(statement)
    return out


def _private_ecr(image: str) -> str | None:
    """`account.dkr.ecr.region.amazonaws.com/repo[:tag]` -> the repository ARN (Sub text), else None."""
    match = re.match(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/([^:@]+)", image)
    if not match:
        return None
    account, region, _, repository = match.groups()
    return f"arn:${{AWS::Partition}}:ecr:{region}:{account}:repository/{repository}"


def _extra_statements(ctx: Context, job: BuildJob) -> list:
    """CodeArtifact, ECR push, Lambda deploys: each scoped to the named resources."""
    out = []
    ca = job.codeartifact
    if ca is not None:
        owner = ca.owner or "${AWS::AccountId}"
        domain = Sub(f"arn:${{AWS::Partition}}:codeartifact:${{AWS::Region}}:{owner}:domain/{ca.domain}")
        names = list(dict.fromkeys((ca.repository, ca.pip_repository or ca.repository)))
        repository = [
            Sub(f"arn:${{AWS::Partition}}:codeartifact:${{AWS::Region}}:{owner}:repository/{ca.domain}/{name}")
            for name in names
        ]
        packages = [
            Sub(f"arn:${{AWS::Partition}}:codeartifact:${{AWS::Region}}:{owner}:package/{ca.domain}/{name}/*")
            for name in names
        ]
        out += [
            allow([codeartifact.GetAuthorizationToken], [domain], sid="CodeArtifactToken"),
            allow(
                [codeartifact.GetRepositoryEndpoint, codeartifact.ReadFromRepository],
                repository + packages,
                sid="CodeArtifactRead",
            ),
            # sts:GetServiceBearerToken has no resource-level scope; the condition limits it to CodeArtifact.
            allow(
                [sts.GetServiceBearerToken],
                ["*"],
                Condition(StringEquals({"sts:AWSServiceName": "codeartifact.amazonaws.com"})),
                sid="CodeArtifactBearer",
            ),
        ]
    if job.push_repository:
        repo = ctx.arn("ecr", f"repository/{job.push_repository}")
        out += [
            # ecr:GetAuthorizationToken has no resource-level scope (it returns a registry login).
            allow([ecr.GetAuthorizationToken], ["*"], sid="EcrLogin"),
            allow(
                [
                    ecr.BatchCheckLayerAvailability,
                    ecr.InitiateLayerUpload,
                    ecr.UploadLayerPart,
                    ecr.CompleteLayerUpload,
                    ecr.PutImage,
                    ecr.BatchGetImage,
                    ecr.GetDownloadUrlForLayer,
                ],
                [repo],
                sid="EcrPush",
            ),
        ]
    if (image_repository := _private_ecr(job.image)) is not None:
        out += (
            [
                # ecr:GetAuthorizationToken has no resource-level scope (it returns a registry login).
                allow([ecr.GetAuthorizationToken], ["*"], sid="EcrLogin"),
                allow(
                    [ecr.BatchGetImage, ecr.GetDownloadUrlForLayer, ecr.BatchCheckLayerAvailability],
                    [Sub(image_repository)],
                    sid="PullBuildImage",
                ),
            ]
            if not job.push_repository
            else [
                allow(
                    [ecr.BatchGetImage, ecr.GetDownloadUrlForLayer, ecr.BatchCheckLayerAvailability],
                    [Sub(image_repository)],
                    sid="PullBuildImage",
                ),
            ]
        )
    if job.promote_repository:
        out.append(
            allow(
                [ecr.BatchGetImage, ecr.PutImage, ecr.DescribeImages],
                [ctx.arn("ecr", f"repository/{job.promote_repository}")],
                sid="PromoteImage",
            )
        )
    if job.package_regions:
        # `aws cloudformation package` into the other regions' artifact stores (support-<region>.yaml)
        out += [
            allow(
                [Action("s3", "PutObject"), Action("s3", "GetObject")],
                [
                    Sub(f"arn:${{AWS::Partition}}:s3:::{ctx.regional_bucket_pattern(r)}/lambda/*")
                    for r in job.package_regions
                ],
                sid="PackageToRegionalStores",
            ),
            allow(
                [Action("kms", "GenerateDataKey"), Action("kms", "Decrypt")],
                [Sub(f"arn:${{AWS::Partition}}:kms:{r}:${{AWS::AccountId}}:key/*") for r in job.package_regions],
                Condition(
                    StringLike({"kms:ViaService": [Sub(f"s3.{r}.${{AWS::URLSuffix}}") for r in job.package_regions]})
                ),
                sid="PackageToRegionalStoresKeys",
            ),
        ]
    if job.script_bucket:
        # only this pipeline's prefix of a (possibly shared) scripts bucket
        out.append(
            allow(
                [Action("s3", "PutObject")],
                [Sub(f"arn:${{AWS::Partition}}:s3:::{job.script_bucket}/{job.script_prefix}/*")],
                sid="UploadScripts",
            )
        )
        if job.script_key:
            out.append(allow([Action("kms", "GenerateDataKey")], [job.script_key], sid="EncryptScripts"))
    if job.start_workflows:
        out.append(
            allow(
                [Action("glue", n) for n in ("StartWorkflowRun", "GetWorkflowRun", "StopWorkflowRun")],
                [ctx.arn("glue", f"workflow/{w}") for w in job.start_workflows],
                sid="RunWorkflow",
            )
        )
    if job.start_state_machines:
        out += [
            allow(
                [Action("states", "StartExecution")],
                [ctx.arn("states", f"stateMachine:{n}") for n in job.start_state_machines],
                sid="StartStateMachine",
            ),
            allow(
                [Action("states", "DescribeExecution"), Action("states", "StopExecution")],
                [ctx.arn("states", f"execution:{n}:*") for n in job.start_state_machines],
                sid="WatchExecutions",
            ),
        ]
    if job.checks_approvals:
        out.append(allow([codepipeline.ListActionExecutions], [ctx.pipeline_arn], sid="ReadApprovals"))
    if job.approver_groups:
        out.append(
            allow(
                [Action("iam", "GetGroup")],
                [Sub(g.replace(g.split(":")[1], "${AWS::Partition}", 1)) for g in job.approver_groups],
                sid="ReadApproverGroups",
            )
        )
    if job.deploy_account:
        # the sync and the invalidation work as the target account's deploy role, which holds them
        out.append(
            allow(
                [sts.AssumeRole],
                [deploy_role_arn(ctx.manifest, job.deploy_account)],
                sid="AssumeTargetAccountDeployRole",
            )
        )
    else:
        out += s3_job_statements(job.s3_sync, job.invalidates)
        if job.s3_sync and job.s3_sync_key:
            out.append(bucket_key_statement([job.s3_sync_key], sid="TargetBucketKey"))
    if job.assume_role is not None:
        out.append(allow([sts.AssumeRole], [job.assume_role], sid="AssumeDeclaredRole"))
    if job.publish_roles:
        out.append(allow([sts.AssumeRole], list(job.publish_roles), sid="AssumeCdkPublishingRoles"))
    for number, (effect, actions, resources) in enumerate(job.declared_permissions, start=1):
        out.append(declared_statement(number, effect, actions, resources))
    if job.layer_publishes:
        out += layer_statements(ctx.manifest, job.layer_publishes)
    if job.image_copies:
        out += image_copy_statements(ctx, job.image_copies)
    if job.lambda_deploys:
        same = [d for d in job.lambda_deploys if d.account is None]
        other = sorted({d.account for d in job.lambda_deploys if d.account})
        if same:
            arns = [
                Sub(
                    f"arn:${{AWS::Partition}}:lambda:{d.region or '${AWS::Region}'}:${{AWS::AccountId}}:"
                    f"function:{d.function}"
                )
                for d in same
            ]
            out.append(
                allow(
                    [
                        Action("lambda", "UpdateFunctionCode"),
                        Action("lambda", "GetFunction"),
                        Action("lambda", "GetFunctionConfiguration"),
                        Action("lambda", "PublishVersion"),
                    ],
                    arns,
                    sid="DeployFunction",
                )
            )
        if other:
            out.append(
                allow(
                    [sts.AssumeRole],
                    [deploy_role_arn(ctx.manifest, a) for a in other],
                    sid="AssumeTargetAccountDeployRole",
                )
            )
    return out


# What `docker push` calls in the destination registry (Amazon ECR User Guide, "Pushing a Docker
# image": the push permissions), and `docker pull` in the source one.
ECR_PUSH_ACTIONS = (
    "BatchCheckLayerAvailability",
    "InitiateLayerUpload",
    "UploadLayerPart",
    "CompleteLayerUpload",
    "PutImage",
    "BatchGetImage",
)
ECR_PULL_ACTIONS = ("BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability")


def copy_repository_arn(copy: ImageCopy) -> Sub:
    """The destination repository in the account that pushes (the pipeline's, or in bootstrap the
    target account's own ${AWS::AccountId})."""
    return Sub(
        f"arn:${{AWS::Partition}}:ecr:{copy.region or '${AWS::Region}'}:${{AWS::AccountId}}:repository/{copy.repository}"
    )


def image_copy_statements(ctx: Context, copies: tuple[ImageCopy, ...]) -> list:
    """Pull the promoted image; push to exactly the destination repositories of the pipeline's
    account, or assume the deploy role of the other account (which holds the push grant there)."""
    same = [c for c in copies if c.account is None]
    other = sorted({c.account for c in copies if c.account})
    out = [
        # ecr:GetAuthorizationToken has no resource-level scope (it returns a registry login).
        allow([ecr.GetAuthorizationToken], ["*"], sid="EcrLogin"),
        allow(
            [Action("ecr", a) for a in ECR_PULL_ACTIONS],
            [ctx.arn("ecr", f"repository/{ctx.manifest.build.image_repository}")],
            sid="PullPromotedImage",
        ),
    ]
    if same:
        out.append(
            allow(
                [Action("ecr", a) for a in ECR_PUSH_ACTIONS], [copy_repository_arn(c) for c in same], sid="PushCopies"
            )
        )
    if other:
        out.append(
            allow(
                [sts.AssumeRole], [deploy_role_arn(ctx.manifest, a) for a in other], sid="AssumeTargetAccountDeployRole"
            )
        )
    return out


def s3_job_statements(s3_sync: tuple[str, str] | None, distribution: str | None) -> list:
    """What an s3 deploy job does, in the account it works in: list the bucket under the prefix and
    get, put and delete objects only under it (`aws s3 sync --delete`); invalidate exactly the
    distribution."""
    out = []
    if s3_sync:
        bucket, prefix = s3_sync
        out += [
            # sync lists the prefix to find what changed and what is stale
            allow(
                [s3.ListBucket],
                [Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}")],
                Condition(StringLike({"s3:prefix": f"{prefix}*"})) if prefix else None,
                sid="ListTargetPrefix",
            ),
            allow(
                [s3.GetObject, s3.PutObject, s3.DeleteObject],
                [Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}/{prefix}*")],
                sid="SyncTargetPrefix",
            ),
        ]
    if distribution:
        # CloudFront is global: a distribution's ARN has no region (Service Authorization Reference,
        # "Amazon CloudFront": distribution resource type)
        out.append(
            allow(
                [Action("cloudfront", "CreateInvalidation"), Action("cloudfront", "GetInvalidation")],
                [Sub(f"arn:${{AWS::Partition}}:cloudfront::${{AWS::AccountId}}:distribution/{distribution}")],
                sid="InvalidateDistribution",
            )
        )
    return out


def layer_arn(publish: LayerPublish) -> Sub:
    """The layer (all its versions) a publish writes, in the account that runs it: the pipeline's,
    or (bootstrap) the target account's own ${AWS::AccountId}."""
    return Sub(
        f"arn:${{AWS::Partition}}:lambda:{publish.region or '${AWS::Region}'}:${{AWS::AccountId}}:layer:{publish.layer}"
    )


def layer_statements(m: Manifest, publishes: tuple[LayerPublish, ...]) -> list:
    """lambda:PublishLayerVersion on exactly the layers (Service Authorization Reference, AWS Lambda:
    PublishLayerVersion on the `layer` resource type); another account's through its deploy role."""
    out = []
    same = [p for p in publishes if p.account is None]
    other = sorted({p.account for p in publishes if p.account})
    if same:
        out.append(allow([Action("lambda", "PublishLayerVersion")], [layer_arn(p) for p in same], sid="PublishLayers"))
    if other:
        out.append(allow([sts.AssumeRole], [deploy_role_arn(m, a) for a in other], sid="AssumeTargetAccountDeployRole"))
    return out


def _iam_action(text: str) -> Action:
    """`service:Name` (or `*`) as an awacs action."""
    if text == "*":
        return Action("*")
    service, name = text.split(":", 1)
    return Action(service, name)
