"""The command line: click commands only. Parse options, call api, format, choose the exit code."""

from __future__ import annotations

import functools
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
@strict_option
@diagnostics_option
def build(paths, out_dir, fmt, no_lint, strict, diagnostics_format, check_only) -> None:
    """Compile manifests (files or directories; default ./manifest.yaml) into out/."""
    if check_only:
        _build_check(paths, out_dir, fmt, no_lint, strict, diagnostics_format)
    report = api.build(_paths(paths), out_dir, fmt=fmt, lint=not no_lint, strict=strict)
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
    sys.exit(EXIT_MANIFEST_ERRORS if report.failed(strict) else EXIT_OK)


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


@_with_internal_errors
def main() -> None:
    cli(prog_name="manifestc")
