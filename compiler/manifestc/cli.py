"""The command line: click commands only. Parse options, call api, format, choose the exit code."""

from __future__ import annotations

import functools
import gc
import json
import os
import sys
from pathlib import Path

import click

from . import __version__, api
from .diagnostics import Diagnostic, explain
from .formatters import FORMATTERS

EXIT_OK = 0
EXIT_MANIFEST_ERRORS = 1
EXIT_USAGE_OR_INTERNAL = 2

DEFAULT_MANIFEST = "manifest.yaml"


def diagnostics_option(func):
    return click.option(
        "--diagnostics",
        "diagnostics_format",
        type=click.Choice(sorted(FORMATTERS)),
        default="text",
        show_default=True,
        help="Format of the diagnostics.",
    )(func)


def strict_option(func):
    return click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")(func)


def paths_argument(func):
    return click.argument("paths", nargs=-1, type=click.Path())(func)


def lint_cache_options(func):
    func = click.option(
        "--no-lint-cache", is_flag=True, help="Lint every template, even one linted before (and store nothing)."
    )(func)
    return click.option(
        "--lint-cache",
        type=click.Path(file_okay=False),
        default=None,
        help="Directory of the lint-result cache [default: $MANIFESTC_LINT_CACHE, else "
        "$XDG_CACHE_HOME/manifestc/lint, else ~/.cache/manifestc/lint].",
    )(func)


def _choose_lint_cache(directory: str | None, disabled: bool) -> None:
    from . import lint

    if disabled:
        lint.use_cache(None)
    elif directory:
        lint.use_cache(directory)


def _emit(diagnostics: list[Diagnostic], fmt: str) -> None:
    text = FORMATTERS[fmt](diagnostics)
    if fmt == "text":
        click.echo(text, nl=False, err=True)
    else:
        click.echo(text, nl=False)


def _paths(paths: tuple[str, ...]) -> list[str]:
    chosen = list(paths) or [DEFAULT_MANIFEST]
    missing = [p for p in chosen if not Path(p).exists()]
    if missing:
        hint = " (run `manifestc init` to write one)" if not paths else ""
        raise click.UsageError(f"no such file or directory: {', '.join(missing)}{hint}")
    return chosen


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="manifestc")
def cli() -> None:
    """manifestc: compile pipeline manifests into linted AWS CloudFormation."""


@cli.command()
@paths_argument
@click.option(
    "--out",
    "out_dir",
    default="out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory the templates are written to (out/<name>/...).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="Template format."
)
@click.option("--no-lint", is_flag=True, help="Skip cfn-lint on the emitted templates.")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Write nothing; exit 1 if out/ differs from what a clean build would write (for committed out/).",
)
@click.option(
    "--repo-root",
    default=None,
    type=click.Path(file_okay=False, exists=True),
    help="Source repository the manifests live in (regenerate.path defaults to each manifest's path "
    "inside it); default the enclosing git work tree.",
)
@lint_cache_options
@strict_option
@diagnostics_option
def build(
    paths, out_dir, fmt, no_lint, check_only, repo_root, lint_cache, no_lint_cache, strict, diagnostics_format
) -> None:
    """Compile manifests (files or directories; default ./manifest.yaml) into out/."""
    _choose_lint_cache(lint_cache, no_lint_cache)
    if check_only:
        _build_check(paths, out_dir, fmt, no_lint, strict, diagnostics_format)
    chosen = _paths(paths)
    total = len(api.discover(chosen))
    if total == 1 and _command_ends_process:
        # One manifest, and the process ends with the command (run()): it ends within a second,
        # and the collector would spend ~25 ms (~140 collections on the example) walking young
        # objects for the cycles it leaves, which grow with the manifest: 2-4 MiB more peak on the
        # examples (the lint workers it forks for several templates inherit the switch, as much
        # each). A directory build keeps it on: its workers build manifest after manifest.
        gc.disable()
    with _BuildProgress(total, enabled=diagnostics_format == "text" and total > 1) as progress:
        report = api.build(
            chosen, out_dir, fmt=fmt, lint=not no_lint, strict=strict, progress=progress, repo_root=repo_root
        )
    _emit(report.all_diagnostics(), diagnostics_format)
    if diagnostics_format == "text":
        for result in report.results:
            if result.skipped:
                click.echo(f"{result.file}: up to date ({out_dir}/{result.name})", err=True)
            elif result.written:
                click.echo(f"{result.file}: wrote {len(result.written)} files to {out_dir}/{result.name}", err=True)
            else:
                click.echo(f"{result.file}: failed, nothing written", err=True)
        for pipeline, key, path in api.catalog_uploads(report, out_dir):
            click.echo(
                f"{pipeline}: product template {path} must be uploaded to s3://<TemplateBucket>/{key} "
                "(manifestc publish --bucket ...)",
                err=True,
            )
        if total > 1:
            click.echo(_summary(report, strict), err=True)
    sys.exit(EXIT_MANIFEST_ERRORS if report.failed(strict) else EXIT_OK)


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


class _BuildProgress:
    """Progress of a directory build on stderr: a bar on a terminal, else one line per manifest."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.done, self.bar = total, enabled, 0, None

    def __enter__(self):
        if self.enabled and _stderr_is_terminal():
            self.bar = click.progressbar(length=self.total, label="building", file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        return self if self.enabled else None

    def __call__(self, result: api.CompileResult) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        if result.skipped:
            state = "unchanged"
        elif result.failed():
            state = "failed"
        else:
            state = "compiled"
        click.echo(f"[{self.done}/{self.total}] {result.file}: {state}", err=True)

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.__exit__(*exc_info)
        return False


def _summary(report: api.BuildReport, strict: bool) -> str:
    from .diagnostics import Severity

    built = sum(1 for r in report.results if r.written)
    unchanged = sum(1 for r in report.results if r.skipped)
    failed = sum(1 for r in report.results if r.failed(strict) or (not r.skipped and not r.written))
    warnings = sum(1 for d in report.all_diagnostics() if d.severity is Severity.WARNING)
    return f"{built} built, {unchanged} unchanged, {failed} failed, {warnings} warnings"


def _build_check(paths, out_dir, fmt, no_lint, strict, diagnostics_format) -> None:
    """`build --check`: compare out/ with a clean build in a temporary directory; exit 1 if stale."""
    report, differences = api.check_output(_paths(paths), out_dir, fmt=fmt, lint=not no_lint, strict=strict)
    _emit(report.all_diagnostics(), diagnostics_format)
    if report.failed(strict):
        sys.exit(EXIT_MANIFEST_ERRORS)
    for path, state in differences:
        click.echo(f"{out_dir}/{path}: {state}", err=True)
    if differences:
        click.echo(f"{out_dir}/ is stale: run `manifestc build` and commit the result", err=True)
        sys.exit(EXIT_MANIFEST_ERRORS)
    click.echo(f"{out_dir}/ is up to date", err=True)
    sys.exit(EXIT_OK)


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--from-installed",
    is_flag=True,
    help="Repack this environment's installed distributions instead of downloading wheels "
    "(offline; only where this machine matches the build image: Linux x86_64, same Python).",
)
@click.option(
    "--python-version",
    default=None,
    help="Python of the Recompile build (default: the python preset's runtime, as the build uses).",
)
@click.option("--pip-arg", "pip_args", multiple=True, help="Extra argument for pip download (e.g. --index-url=...).")
@click.option("--bucket", default=None, help="Print the upload command for this bucket (default <artifact bucket>).")
def wheelhouse(out_dir, from_installed, python_version, pip_args, bucket) -> None:
    """Write the self-update toolchain: manifestc and its dependencies as hash-pinned wheels."""
    import subprocess

    from .model import TOOLCHAIN_PREFIX
    from .schemas_data import presets
    from .toolchain import build_wheelhouse, upload_command

    version = python_version or str(presets()["python"]["default_runtime"])
    try:
        files = build_wheelhouse(
            Path(out_dir), from_installed=from_installed, python_version=version, pip_args=tuple(pip_args)
        )
    except (subprocess.CalledProcessError, ValueError, OSError) as exc:
        click.echo(f"error: cannot write the wheelhouse: {exc}", err=True)
        sys.exit(EXIT_USAGE_OR_INTERNAL)
    wheels = [f for f in files if f.suffix == ".whl"]
    destination = f"s3://{bucket or '<artifact bucket>'}/{TOOLCHAIN_PREFIX}{__version__}/"
    click.echo(f"wrote {len(wheels)} wheels and requirements.txt (sha256-pinned) to {out_dir}", err=True)
    click.echo(f"upload: {upload_command(Path(out_dir), destination)}", err=True)


@cli.command()
@click.argument("manifest", type=click.Path(dir_okay=False))
@click.option("--repo-root", required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--pipeline", required=True, help="Name of the pipeline being updated.")
@click.option("--toolchain", "deployed", required=True, help="regenerate.install of the deployed pipeline.")
@click.option("--artifact-bucket", required=True, help="The pipeline's artifact bucket.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--region", envvar="AWS_REGION", required=True)
@click.option("--account", envvar="MANIFESTC_ACCOUNT", default="", help="Account id (ECR endpoint host).")
@click.option(
    "--deployed-accounts",
    envvar="MANIFESTC_DEPLOYED_ACCOUNTS",
    default=None,
    help="Target accounts the deployed pipeline has bootstrap stacks in (comma-separated, or none).",
)
@click.option(
    "--deployed-regions",
    envvar="MANIFESTC_DEPLOYED_REGIONS",
    default=None,
    help="Extra regions the deployed pipeline has support stacks in (comma-separated, or none).",
)
@click.option(
    "--deployed-approvals",
    envvar="MANIFESTC_DEPLOYED_APPROVALS",
    default=None,
    help="Environments of the deployed pipeline with an approval and their approvers (env=arn,arn;env=, or none).",
)
@click.option(
    "--deployed-source",
    envvar="MANIFESTC_DEPLOYED_SOURCE",
    default=None,
    help="The deployed pipeline's source (JSON: provider, repository, branch, connection, host).",
)
@click.option(
    "--deployed-gated",
    envvar="MANIFESTC_DEPLOYED_GATED",
    default=None,
    help="The resources each approved environment deploys (JSON: env -> [[kind, account, region, identity]]).",
)
@click.option(
    "--deployed-permissions",
    envvar="MANIFESTC_DEPLOYED_PERMISSIONS",
    default=None,
    help="Digests of the declared IAM grants of the deployed pipeline's projects (project=digest,...;..., or none).",
)
@click.option(
    "--deployed-boundary",
    envvar="MANIFESTC_DEPLOYED_BOUNDARY",
    default=None,
    help="Digest of the deployed pipeline's permissions boundary (the self-update role may not change it).",
)
@click.option(
    "--deployed-regional-keys",
    envvar="MANIFESTC_DEPLOYED_REGIONAL_KEYS",
    default=None,
    help="Regions whose artifact key the deployed pipeline takes by ARN (comma-separated; unset: none).",
)
@diagnostics_option
def recompile(
    manifest,
    repo_root,
    pipeline,
    deployed,
    artifact_bucket,
    out_dir,
    region,
    account,
    deployed_accounts,
    deployed_regions,
    deployed_approvals,
    deployed_source,
    deployed_gated,
    deployed_permissions,
    deployed_boundary,
    deployed_regional_keys,
    diagnostics_format,
):
    """The self-update build: recompile the committed manifest with the deployed toolchain."""
    from .diagnostics import Diagnostic, Severity
    from .guard import GUARDS, parse_gated
    from .recompile import deployed_guards
    from .recompile import recompile as run

    given = dict(
        zip(
            GUARDS,
            (
                deployed_accounts,
                deployed_regions,
                deployed_approvals,
                deployed_source,
                deployed_gated,
                deployed_permissions,
                deployed_boundary,
            ),
            strict=True,
        )
    )
    missing = [name for name, value in given.items() if value is None]
    if deployed_gated is not None and parse_gated(deployed_gated) is None:
        missing.append("MANIFESTC_DEPLOYED_GATED (not valid JSON)")
    if missing:
        _emit(
            [
                Diagnostic(
                    "MC264",
                    Severity.ERROR,
                    "the deployed Recompile project does not say what it guards ("
                    + ", ".join(missing)
                    + " unset): without them a commit could change approvals, accounts or the source "
                    "unchecked, so nothing is recompiled",
                    Path(manifest).name,
                    1,
                    1,
                    hint="deploy out/<name>/pipeline.yaml, built by this manifestc version, once by hand",
                )
            ],
            diagnostics_format,
        )
        click.echo("recompile refused: the pipeline is not updated", err=True)
        sys.exit(EXIT_MANIFEST_ERRORS)
    outcome = run(
        Path(manifest).resolve(),
        repo_root=Path(repo_root).resolve(),
        pipeline=pipeline,
        deployed_toolchain=deployed,
        artifact_bucket=artifact_bucket,
        out=Path(out_dir),
        region=region,
        account=account,
        **deployed_guards({**given, "MANIFESTC_DEPLOYED_REGIONAL_KEYS": deployed_regional_keys}),
    )
    _emit(outcome.diagnostics, diagnostics_format)
    for note in outcome.notes:
        click.echo(note, err=True)
    if outcome.failed:
        click.echo("recompile refused: the pipeline is not updated", err=True)
    sys.exit(EXIT_MANIFEST_ERRORS if outcome.failed else EXIT_OK)


@cli.command()
@paths_argument
@strict_option
@diagnostics_option
def validate(paths, strict, diagnostics_format) -> None:
    """Check manifests without writing anything (fast: for pre-commit hooks)."""
    results = [api.check_manifest(p, api.display_path(p)) for p in api.discover(_paths(paths))]
    clashes = api.duplicate_names(results)  # the same check a build makes across manifests
    diagnostics = [d for r in results for d in r.diagnostics] + clashes
    _emit(diagnostics, diagnostics_format)
    failed = any(r.failed(strict) for r in results) or bool(clashes)
    if diagnostics_format == "text" and not failed:
        click.echo(f"{len(results)} manifest(s) valid", err=True)
    sys.exit(EXIT_MANIFEST_ERRORS if failed else EXIT_OK)


@cli.command()
@paths_argument
@click.option("--bucket", required=True, help="S3 bucket of the product templates.")
@click.option("--region", default=None, help="Region of the bucket (for the printed URLs).")
@click.option("--endpoint-url", default=None, help="S3 endpoint (e.g. a local S3 for tests).")
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False))
@click.option("--write", is_flag=True, help="Write the bucket into catalog.yaml as the TemplateBucket default.")
@click.option("--force", is_flag=True, help="Replace a published version whose template differs.")
def publish(paths, bucket, region, endpoint_url, out_dir, write, force) -> None:
    """Build, then upload each catalog product's template to its versioned S3 key."""
    from .publish import PublishError, upload_templates

    report = api.build(_paths(paths), out_dir)
    _emit(report.all_diagnostics(), "text")
    if report.failed():
        sys.exit(EXIT_MANIFEST_ERRORS)
    items = api.catalog_uploads(report, out_dir)
    if not items:
        click.echo("no manifest has a `catalog` section: nothing to publish", err=True)
        sys.exit(EXIT_OK)
    try:
        uploads = upload_templates(items, bucket, region=region, endpoint_url=endpoint_url, force=force)
    except PublishError as exc:
        click.echo(f"manifestc publish: {exc}", err=True)
        sys.exit(EXIT_MANIFEST_ERRORS)
    for upload in uploads:
        click.echo(f"{upload.pipeline}: {upload.status} {upload.url}")
    if write:
        for path in api.set_template_bucket(report, out_dir, bucket):
            click.echo(f"wrote TemplateBucket={bucket} into {path}", err=True)
    sys.exit(EXIT_OK)


@cli.command()
@paths_argument
def endpoints(paths) -> None:
    """Show the VPC endpoints each manifest's builds need, and why (SPEC §5.4)."""
    results = [api.check_manifest(p, api.display_path(p)) for p in api.discover(_paths(paths))]
    failed = [r for r in results if r.manifest is None]
    _emit([d for r in failed for d in r.diagnostics], "text")
    for result in results:
        m = result.manifest
        if m is None:
            continue
        if m.network is None:
            click.echo(f"{result.file}: no `network`: builds run outside a VPC; no endpoints")
            continue
        click.echo(f"{result.file}: {m.network.vpc_id} (endpoints: {m.network.mode})")
        width = max((len(e.service) for e in m.network.endpoints), default=8)
        click.echo(f"  {'service':<{width}}  {'type':<9}  reason")
        for endpoint in m.network.endpoints:
            for index, reason in enumerate(endpoint.reasons):
                first = index == 0
                click.echo(
                    f"  {endpoint.service if first else '':<{width}}  {endpoint.kind if first else '':<9}  {reason}"
                )
    sys.exit(EXIT_MANIFEST_ERRORS if failed else EXIT_OK)


cli.add_command(endpoints, name="explain-endpoints")


@cli.command(name="deploy-plan")
@click.argument("target", default="out", type=click.Path())
def deploy_plan_command(target) -> None:
    """Print the AWS CLI commands, in order, that deploy what a build wrote (out/ or out/<name>)."""
    from .deployplan import deploy_plan, render_plan

    path = Path(target)
    if not path.is_dir():
        raise click.UsageError(f"no such directory: {target} (run `manifestc build` first)")
    steps = deploy_plan(path)
    if not steps:
        raise click.UsageError(f"{target} holds no build output (no <name>/build.json, no _shared/factory.yaml)")
    click.echo(render_plan(steps), nl=False)


@cli.command(name="factory")
@click.option(
    "--repository", "repositories", multiple=True, help="A CodeCommit repository the factory watches (repeatable)."
)
@click.option("--repository-pattern", default=None, help="Instead: every repository whose name matches, e.g. 'svc-*'.")
@click.option(
    "--manifest-path", default="manifest.yaml", show_default=True, help="The manifest's path in each repository."
)
@click.option(
    "--branch", "branches", multiple=True, help="A main branch whose commits are built (repeatable; default main)."
)
@click.option("--notify-email", "notify_emails", multiple=True, help="Subscribe this address to the factory's topic.")
@click.option("--retire", is_flag=True, help="Delete the pipeline stack of a repository whose manifest is deleted.")
@click.option("--build-timeout", default=60, show_default=True, type=int, help="Minutes one factory build may take.")
@click.option("--pipeline-prefix", default="", help="Deploy only pipelines whose name starts with this.")
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--against",
    default=None,
    type=click.Path(file_okay=False, exists=True),
    help="Check the deploy role against the pipeline and network templates a build wrote here (MC670).",
)
@click.option("--no-lint", is_flag=True, help="Skip cfn-lint on the factory template.")
@diagnostics_option
def factory_command(
    repositories,
    repository_pattern,
    manifest_path,
    branches,
    notify_emails,
    retire,
    build_timeout,
    pipeline_prefix,
    out_dir,
    against,
    no_lint,
    diagnostics_format,
) -> None:
    """Write out/_shared/factory.yaml: the stack that turns manifest commits into pipelines."""
    from .factory import FactorySettings, write_factory

    settings = FactorySettings(
        repositories=tuple(repositories),
        repository_pattern=repository_pattern,
        manifest_path=manifest_path,
        branches=tuple(branches) or ("main",),
        notify_emails=tuple(notify_emails),
        retire=retire,
        build_timeout=build_timeout,
        pipeline_prefix=pipeline_prefix,
    )
    result = write_factory(settings, out_dir, lint=not no_lint, against=against)
    _emit(result.diagnostics, diagnostics_format)
    if result.written is None:
        sys.exit(EXIT_MANIFEST_ERRORS)
    if diagnostics_format == "text":
        click.echo(
            f"wrote {result.written}; deploy it as stack manifestc-factory (README: Factory), after uploading "
            f"the toolchain: manifestc wheelhouse toolchain/ && aws s3 sync --delete toolchain/ "
            f"s3://<FactoryBucket>/_manifestc/toolchain/{__version__}/",
            err=True,
        )
    sys.exit(EXIT_OK)


@cli.command()
@click.option("--language", "-l", default="python", show_default=True, help="Language preset of the starter.")
@click.option("--output", "-o", default=DEFAULT_MANIFEST, show_default=True, type=click.Path(dir_okay=False))
@click.option("--name", default=None, help="Pipeline name (default: the current directory's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(language, output, name, force) -> None:
    """Write a commented starter manifest."""
    from .schemas_data import presets
    from .starter import starter_manifest

    if language not in presets():
        raise click.BadParameter(
            f"unknown language {language!r}; presets: {', '.join(sorted(presets()))}", param_hint="--language"
        )
    target = Path(output)
    if target.exists() and not force:
        raise click.UsageError(f"{output} exists; pass --force to overwrite it")
    text = starter_manifest(language, name or _default_name())
    from .render import write_atomic

    write_atomic(target, text.encode("utf-8"))
    click.echo(f"wrote {output}; edit it, then run `manifestc build {output}`", err=True)


def _default_name() -> str:
    import re

    base = re.sub(r"[^a-z0-9-]+", "-", Path.cwd().name.lower()).strip("-")
    if not base or not base[0].isalpha():
        base = f"app-{base}".strip("-")
    base = base[:40].rstrip("-")
    return base if len(base) >= 3 else "my-service"


@cli.command(name="graph")
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
def graph_command(paths, fmt) -> None:
    """Print each manifest's pipeline (and Glue workflow) as a Mermaid or Graphviz DOT diagram."""
    from .graph import render_graph

    failed = False
    for path in api.discover(_paths(paths)):
        result = api.compile_manifest(path, lint=False, display=api.display_path(path))
        if result.failed() or "pipeline.yaml" not in result.templates:
            _emit(result.diagnostics, "text")
            failed = True
            continue
        click.echo(render_graph(result.manifest, result.templates["pipeline.yaml"], fmt), nl=False)
    sys.exit(EXIT_MANIFEST_ERRORS if failed else EXIT_OK)


@cli.command(name="diff")
@paths_argument
@click.option("--out", "out_dir", default="out", show_default=True, type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are differences (like `git diff --exit-code`).")
@click.option("--stack", default=None, help="Compare with this deployed CloudFormation stack instead of out/.")
@click.option("--region", default=None, help="Region of the --stack.")
@click.option("--endpoint-url", default=None, help="CloudFormation endpoint (e.g. a local one in tests).")
def diff_command(paths, out_dir, fmt, exit_code, stack, region, endpoint_url) -> None:
    """Show what `build` would change in out/ (or a deploy in --stack): resources added, removed, changed, replaced."""
    from .diff import deployed_template, diff_output, diff_stack, format_diff

    manifests = api.discover(_paths(paths))
    if stack and len(manifests) != 1:
        raise click.UsageError("--stack compares one manifest with one stack: pass exactly one manifest")
    template = None
    if stack:
        try:
            template = deployed_template(stack, region, endpoint_url)
        except Exception as exc:  # noqa: BLE001 - boto3/botocore errors: say what AWS said
            raise click.UsageError(f"cannot read the template of stack {stack}: {exc}") from exc
    failed, differences = False, []
    for path in manifests:
        result = api.compile_manifest(path, fmt=fmt, lint=False, display=api.display_path(path))
        if result.failed():
            _emit(result.diagnostics, "text")
            failed = True
            continue
        differences += diff_stack(result, stack, template) if stack else diff_output(result, Path(out_dir))
    click.echo(format_diff(differences, out_dir) or f"no changes to {out_dir}/", nl=False if differences else True)
    if failed:
        sys.exit(EXIT_MANIFEST_ERRORS)
    sys.exit(EXIT_MANIFEST_ERRORS if exit_code and differences else EXIT_OK)


@cli.command(name="lsp")
def lsp_command() -> None:
    """Run the language server on stdin/stdout (needs the `lsp` extra: pip install 'manifestc[lsp]')."""
    try:
        from .lsp import serve
    except ImportError as exc:
        raise click.UsageError(f"the language server needs pygls: pip install 'manifestc[lsp]' ({exc})") from exc
    serve()


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the manifest (for editor completion and validation)."""
    from .schema_export import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command(name="explain")
@click.argument("code")
def explain_command(code) -> None:
    """Explain a diagnostic code (MC101, ...)."""
    text = explain(code)
    if text is None:
        if code[:1].upper() in "EWI" and code[1:].isdigit():
            click.echo(f"{code} is a cfn-lint rule: see `cfn-lint --list-rules` or the cfn-lint rules documentation.")
            sys.exit(EXIT_OK)
        raise click.UsageError(f"unknown diagnostic code {code}")
    click.echo(text, nl=False)


def _with_internal_errors(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SystemExit:
            raise
        except KeyboardInterrupt:
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - internal failure: short message, exit 2
            if os.environ.get("MANIFESTC_DEBUG"):
                raise
            click.echo(
                f"manifestc: internal error: {type(exc).__name__}: {exc} (set MANIFESTC_DEBUG=1 for a traceback)",
                err=True,
            )
            sys.exit(EXIT_USAGE_OR_INTERNAL)

    return wrapper


# Set by run(): the process is the command's and ends with it (not a program or test calling
# main() or the click commands), so the build command may leave the cyclic garbage collector off.
_command_ends_process = False


@_with_internal_errors
def main() -> None:
    from . import lint

    # A short-lived process: what is loaded at start-up lives until exit, so the collector need not
    # walk it again and again (lint.py freezes cfn-lint's rules the same way once they are built).
    gc.freeze()
    # One thread imports here (and in the workers forked from it): cfn-lint's import may leave
    # sympy and networkx half-imported until first need (lint_speedups 6., 9.).
    lint.allow_paused_imports()
    cli(prog_name="manifestc")


def run() -> None:
    """The `manifestc` command (its console script and `python -m manifestc`): `main()`, then the
    process ends as `sys.exit` would, less the interpreter's teardown.

    A build leaves some 300,000 objects (cfn-lint, sympy, the schemas) that Python would free one
    by one at exit, about 20 ms of a 0.8 s build for nothing, as the process is about to end. So,
    in the usual case (no other thread alive, an exit status that is None or an int within a C
    int, `sys.unraisablehook` Python's own, not `python -i`), the exit
    handlers run (`atexit`: logging, multiprocessing, `weakref.finalize`), standard output and
    error are flushed as Python's exit flushes them (a closed stream skipped; a failed flush of
    standard output reported as Python reports it; either failing makes the status 120), and
    `os._exit` ends the process with that status. Any other case exits as usual. This process is
    the command's: a one-manifest build may leave the collector off (`build`). `main()` itself
    exits as usual: programs and tests that call it keep their process, and their collector."""
    import atexit
    import threading

    global _command_ends_process
    _command_ends_process = True
    try:
        main()
        code = None
    except SystemExit as exc:
        code = exc.code
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    usual = (
        (code is None or (type(code) is int and -(2**31) <= code < 2**31))
        and run_exit_functions is not None
        and threading.active_count() == 1
        and sys.unraisablehook is sys.__unraisablehook__
        and not sys.flags.inspect
    )
    if not usual:
        sys.exit(code)
    run_exit_functions()
    os._exit(_flush_standard_streams(code or 0))


def _flush_standard_streams(status: int) -> int:
    """What Python's exit does with its own standard output and error (CPython `flush_std_files`):
    each flushed unless it is missing or closed; a failed flush of standard output is reported on
    standard error ("Exception ignored in: ..."), of standard error silently; either makes the
    status 120. An exit handler may have replaced them: then Python's objects are flushed too
    (`sys.__stdout__`, `sys.__stderr__`), silently, as its teardown writes them out."""
    import traceback

    def closed(stream) -> bool:
        try:
            return stream is None or bool(stream.closed)
        except Exception:  # noqa: BLE001 - Python takes a stream it cannot ask as open
            return False

    for stream in (sys.stdout, sys.stderr):
        if closed(stream):
            continue
        try:
            stream.flush()
        except Exception as exc:  # noqa: BLE001 - Python's exit reports any failure of this flush
            status = 120
            if stream is sys.stdout and not closed(sys.stderr):
                try:
                    sys.stderr.write(f"Exception ignored in: {stream!r}\n")
                    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)))
                    sys.stderr.flush()
                except Exception:  # noqa: BLE001 - nowhere left to report it
                    pass
    for original in (sys.__stdout__, sys.__stderr__):
        if original not in (sys.stdout, sys.stderr) and not closed(original):
            try:
                original.flush()
            except Exception:  # noqa: BLE001 - written out silently at teardown
                pass
    return status
