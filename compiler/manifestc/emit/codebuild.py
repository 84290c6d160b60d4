"""CodeBuild: one project, role, log group (and report groups) per build job of the pipeline.

`build_jobs(manifest)` is the single description of the jobs; this emitter turns each into
resources and the pipeline emitter turns each into an action, both by the job's purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from awacs import secretsmanager, ssm
from troposphere import GetAtt, Ref, Sub, logs
from troposphere import codebuild as cb

from .. import aws
from ..model import Manifest, TestSuite
from ..schemas_data import presets
from .context import Context, camel
from .iam import (
    allow,
    artifact_statements,
    log_statements,
    report_statements,
    service_role,
)


@dataclass(frozen=True)
class ReportGroup:
    logical_id: str
    name: str
    kind: str  # TEST | CODE_COVERAGE
    files: tuple[str, ...]
    file_format: str


@dataclass(frozen=True)
class BuildJob:
    """One CodeBuild project: what it runs and what it reads and writes."""

    purpose: str  # "build", "test-unit", "update": also the project name suffix
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
    env: tuple[tuple[str, str], ...]
    secrets: tuple  # model.Secret
    artifacts: tuple[str, ...]  # files; empty: no output artifact
    base_directory: str | None
    reports: tuple[ReportGroup, ...]
    cache: str
    cache_paths: tuple[str, ...]


def build_jobs(manifest: Manifest) -> tuple[BuildJob, ...]:
    """Every CodeBuild job of the pipeline, in pipeline order."""
    jobs = []
    if manifest.regenerate.enabled:
        jobs.append(_update_job(manifest))
    jobs.append(_build_job(manifest))
    jobs.extend(_test_job(manifest, suite) for suite in manifest.tests)
    return tuple(jobs)


def _build_job(m: Manifest) -> BuildJob:
    b = m.build
    return BuildJob(
        purpose="build",
        logical_prefix="Build",
        description=f"{m.name}: build",
        image=b.image,
        environment_type=b.environment_type,
        compute_type=b.compute_type,
        privileged=b.privileged,
        timeout=b.timeout,
        runtime_key=b.runtime_key,
        runtime=b.runtime,
        phases=(
            ("install", b.install),
            ("pre_build", b.pre_build),
            ("build", b.commands),
            ("post_build", b.post_build),
        ),
        env=b.env,
        secrets=b.secrets,
        artifacts=b.artifact_files,
        base_directory=b.base_directory,
        reports=(),
        cache=b.cache,
        cache_paths=b.cache_paths,
    )


def _test_job(m: Manifest, suite: TestSuite) -> BuildJob:
    b = m.build
    prefix = camel("test", suite.name)
    reports = []
    if suite.reports:
        reports.append(
            ReportGroup(f"{prefix}Reports", f"{m.name}-{suite.name}-tests", "TEST", suite.reports, suite.report_format)
        )
    if suite.coverage:
        reports.append(
            ReportGroup(
                f"{prefix}Coverage",
                f"{m.name}-{suite.name}-coverage",
                "CODE_COVERAGE",
                (suite.coverage,),
                suite.coverage_format or "COBERTURAXML",
            )
        )
    where = "after the build" if suite.after == "build" else f"after deploying to {suite.after}"
    return BuildJob(
        purpose=f"test-{suite.name}",
        logical_prefix=prefix,
        description=f"{m.name}: {suite.name} tests, {where}",
        image=b.image,
        environment_type=b.environment_type,
        compute_type=b.compute_type,
        privileged=b.privileged,
        timeout=b.timeout,
        runtime_key=b.runtime_key,
        runtime=b.runtime,
        phases=(("install", b.install), ("build", suite.commands)),
        env=b.env + (("MANIFESTC_TEST_SUITE", suite.name), ("MANIFESTC_STAGE", suite.after)),
        secrets=b.secrets,
        artifacts=(),
        base_directory=None,
        reports=tuple(reports),
        cache=b.cache,
        cache_paths=b.cache_paths,
    )


def _update_job(m: Manifest) -> BuildJob:
    """The self-update build (SPEC §5.2): the same manifestc recompiles the committed manifest."""
    python = presets()["python"]
    image = python["images"]["x86_64"]
    out = ".manifestc-out"
    commands = (
        "manifestc --version",
        f"manifestc build {_shell_quote(m.regenerate.path)} --out {out} --diagnostics text",
        (
            f'test -f {out}/{m.name}/pipeline.yaml || {{ echo "the manifest no longer compiles to pipeline {m.name}; '
            f'renaming a pipeline needs a new stack"; exit 1; }}'
        ),
    )
    return BuildJob(
        purpose="update",
        logical_prefix="Update",
        description=f"{m.name}: recompile the committed manifest with manifestc (self-update)",
        image=image,
        environment_type="LINUX_CONTAINER",
        compute_type="BUILD_GENERAL1_SMALL",
        privileged=False,
        timeout=15,
        runtime_key=python["runtime_key"],
        runtime=str(python["default_runtime"]),
        phases=(
            ("install", (f"python -m pip install --quiet {_shell_quote(m.regenerate.install)}",)),
            ("build", commands),
        ),
        env=(),
        secrets=(),
        artifacts=("**/*",),
        base_directory=f"{out}/{m.name}",
        reports=(),
        cache="none",
        cache_paths=(),
    )


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


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
        if commands:
            body["commands"] = [_escape_sub(c) for c in commands]
        phases[phase] = body
    spec: dict = {"version": 0.2, "env": {"shell": "bash"}, "phases": phases}
    if job.reports:
        spec["reports"] = {
            f"${{{group.logical_id}.Arn}}": {
                "files": [_escape_sub(f) for f in group.files],
                "file-format": group.file_format,
            }
            for group in job.reports
        }
    if job.artifacts:
        artifacts: dict = {"files": [_escape_sub(f) for f in job.artifacts]}
        if job.base_directory:
            artifacts["base-directory"] = _escape_sub(job.base_directory)
        spec["artifacts"] = artifacts
    if job.cache == "s3" and job.cache_paths:
        spec["cache"] = {"paths": list(job.cache_paths)}
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=False, width=1000)
    return Sub(text) if "${" in text else text


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
    statements = artifact_statements(ctx) + log_statements(ctx, job.purpose)
    statements += report_statements([g.logical_id for g in job.reports])
    statements += _secret_statements(ctx, job)
    service_role(ctx, f"{prefix}Role", "codebuild.amazonaws.com", statements, source_arn=ctx.project_arn(job.purpose))
    env_vars = [cb.EnvironmentVariable(Name=k, Type="PLAINTEXT", Value=v) for k, v in job.env]
    for secret in job.secrets:
        kind = "SECRETS_MANAGER" if secret.store == "secretsmanager" else "PARAMETER_STORE"
        env_vars.append(cb.EnvironmentVariable(Name=secret.variable, Type=kind, Value=secret.value))
    environment = cb.Environment(
        ComputeType=job.compute_type,
        Image=job.image,
        Type=job.environment_type,
        PrivilegedMode=job.privileged,
        ImagePullCredentialsType="CODEBUILD" if job.image.startswith("aws/codebuild/") else "SERVICE_ROLE",
    )
    if env_vars:
        environment.EnvironmentVariables = env_vars
    project = cb.Project(
        f"{prefix}Project",
        Name=ctx.project_name(job.purpose),
        Description=job.description,
        ServiceRole=GetAtt(f"{prefix}Role", "Arn"),
        EncryptionKey=GetAtt("ArtifactKey", "Arn"),
        Artifacts=cb.Artifacts(Type="CODEPIPELINE"),
        Source=cb.Source(Type="CODEPIPELINE", BuildSpec=buildspec(job)),
        Environment=environment,
        TimeoutInMinutes=job.timeout,
        QueuedTimeoutInMinutes=60,
        LogsConfig=cb.LogsConfig(
            CloudWatchLogs=cb.CloudWatchLogs(Status="ENABLED", GroupName=Ref(f"{prefix}LogGroup"))
        ),
        Cache=_cache(job),
    )
    ctx.add(project)


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
        arns = sorted({s.name for s in secrets})
        out.append(
            allow(
                [secretsmanager.GetSecretValue],
                [ctx.arn("secretsmanager", f"secret:{name}-??????") for name in arns],
                sid="ReadSecrets",
            )
        )
    if params:
        names = sorted({s.name for s in params})
        out.append(
            allow([ssm.GetParameters], [ctx.arn("ssm", f"parameter{name}") for name in names], sid="ReadParameters")
        )
    return out
