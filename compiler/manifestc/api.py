"""The compiler's entry points; no printing. The CLI, the tests and the self-update build use these.

compile_manifest: one file through every phase, in memory.
build: many files (or directories) -> out/<name>/..., incremental: a manifest whose bytes,
compiler version and options are unchanged since the last build is neither recompiled nor relinted.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import __version__, collector_off
from .diagnostics import Diagnostic, Severity, has_errors
from .load import load_file
from .model import Manifest
from .semantics import build_model
from .validate import validate_document

CACHE_FILE = ".manifestc-cache.json"


@dataclass
class Artifact:
    """One emitted file, rendered."""

    name: str
    content: bytes
    resources: dict[str, int] = field(default_factory=dict)

    def packed(self) -> PackedArtifact:
        return PackedArtifact(self.name, zlib.compress(self.content, 1), self.resources)


@dataclass(frozen=True)
class PackedArtifact:
    """An emitted file held compressed (a directory build keeps every manifest's files until the
    build-level checks pass: ~80 KiB each, ~10 KiB packed); `content` gives the same bytes."""

    name: str
    compressed: bytes
    resources: dict[str, int] = field(default_factory=dict)

    @property
    def content(self) -> bytes:
        return zlib.decompress(self.compressed)


@dataclass
class CompileResult:
    file: str
    manifest: Manifest | None = None
    artifacts: list[Artifact | PackedArtifact] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    digest: str = ""
    templates: dict[str, dict] = field(default_factory=dict)  # rendered templates as data, for the checks
    skipped: bool = False  # unchanged since the last build: nothing was recompiled
    written: list[Path] = field(default_factory=list)
    cached_name: str | None = None
    # A directory build settles each result where it was compiled (`_settle`): what the build-level
    # checks and build.json need is kept, the rendered templates are dropped and the files packed,
    # so that 1,000 manifests fit in one process. A skipped result keeps its build.json `record`.
    deploys: object | None = None  # check.deploy_collisions.Deploys
    build_record: bytes | None = None  # the build.json to write
    record: dict | None = None  # the build.json of a skipped result, as read

    @property
    def name(self) -> str | None:
        return self.manifest.name if self.manifest else self.cached_name

    def failed(self, strict: bool = False) -> bool:
        return has_errors(self.diagnostics, strict)


def repository_path(path: str | Path, repo_root: str | Path | None = None) -> str | None:
    """The manifest's path inside its repository (the `regenerate.path` default): relative to
    `repo_root` when given, else to the nearest enclosing git work tree; None outside one."""
    resolved = Path(path).resolve()
    if repo_root is not None:
        root = Path(repo_root).resolve()
    else:
        root = next((p for p in resolved.parents if (p / ".git").exists()), None)
        if root is None:
            return None
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return None


def check_manifest(path: str | Path, display: str | None = None, repo_root: str | Path | None = None) -> CompileResult:
    """Load, validate and check one manifest (no emit): what `manifestc validate` runs."""
    loaded = load_file(path, display)
    result = CompileResult(loaded.file, diagnostics=list(loaded.diagnostics), digest=loaded.digest)
    if loaded.data is None:
        return result
    validated = validate_document(loaded.data, loaded.marks, loaded.file)
    result.diagnostics.extend(validated.diagnostics)
    if validated.document is None:
        return result
    manifest, diagnostics = build_model(
        validated.document, loaded.marks, Path(loaded.file).name, loaded.digest, repository_path(path, repo_root)
    )
    result.diagnostics.extend(diagnostics)
    result.manifest = manifest
    return result


def compile_manifest(
    path: str | Path,
    *,
    fmt: str = "yaml",
    lint: bool = True,
    display: str | None = None,
    repo_root: str | Path | None = None,
) -> CompileResult:
    """Every phase for one manifest, in memory: load, validate, semantics, emit, render, lint."""
    # The phases before lint allocate (the data tables, troposphere's objects, the rendered text)
    # and leave little cyclic garbage: walking that heap took a fifth of their time.
    with collector_off():
        result = _compile_phases(path, fmt, display, repo_root)
    if lint and result.artifacts and result.manifest is not None:
        from .lint import lint_templates

        regions = (result.manifest.region,) if result.manifest.region else ("us-east-1",)
        jobs = [(a.content.decode("utf-8"), f"out/{result.manifest.name}/{a.name}", regions) for a in result.artifacts]
        result.diagnostics.extend(lint_templates(jobs))
    return result


def _compile_phases(path, fmt: str, display: str | None, repo_root) -> CompileResult:
    result = check_manifest(path, display, repo_root)
    if result.manifest is None or result.failed():
        return result
    from .check import run_checks
    from .emit import (
        emit_templates,  # troposphere is imported only when something is emitted
    )
    from .render import TemplateSet, render, template_dict

    try:
        templates = emit_templates(result.manifest)
        result.templates = TemplateSet()
        for name, template in templates.items():
            data = template_dict(template)
            result.templates[name] = data
            file_name = name if fmt == "yaml" else name.rsplit(".", 1)[0] + ".json"
            counts = Counter(r["Type"] for r in data.get("Resources", {}).values())
            content = render(data, fmt)
            if fmt == "yaml":
                result.templates.yaml_sizes[name] = len(content)
            result.artifacts.append(Artifact(file_name, content, dict(sorted(counts.items()))))
    except Exception as exc:  # noqa: BLE001 - after validation, any exception here is a compiler bug
        result.diagnostics.append(
            Diagnostic(
                "MC301", Severity.ERROR, f"internal compiler error: {type(exc).__name__}: {exc}", result.file, 1, 1
            )
        )
        result.artifacts = []
        return result
    result.diagnostics.extend(run_checks(result.manifest, result.templates))
    if result.failed():
        result.artifacts = []
    return result


SERVICE_MANIFESTS = ("manifest.yaml", "manifest.yml")


def discover(paths: list[str]) -> list[Path]:
    """Manifest files named by `paths`: files as given; for a directory, its *.yaml and *.yml and the
    manifest.yaml (or .yml) of each direct subdirectory (a monorepo's services/<service>/), sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
            found.extend(
                sorted(
                    sub / name
                    for sub in path.iterdir()
                    if sub.is_dir() and not sub.name.startswith(".")
                    for name in SERVICE_MANIFESTS
                    if (sub / name).is_file()
                )
            )
        else:
            found.append(path)
    return found


def display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


@dataclass
class BuildReport:
    results: list[CompileResult]
    diagnostics: list[Diagnostic]  # build-level problems (duplicate names, unwritable output)
    shared: list[Path] = field(default_factory=list)  # the out/_shared files this build stands for

    def all_diagnostics(self) -> list[Diagnostic]:
        return [d for r in self.results for d in r.diagnostics] + self.diagnostics

    def failed(self, strict: bool = False) -> bool:
        return has_errors(self.all_diagnostics(), strict)


def build(
    paths: list[str],
    out: str | Path = "out",
    *,
    fmt: str = "yaml",
    lint: bool = True,
    strict: bool = False,
    write: bool = True,
    progress: Callable[[CompileResult], None] | None = None,
    repo_root: str | Path | None = None,
) -> BuildReport:
    """Compile manifests and write out/<name>/ for each that succeeds (nothing for one that fails).

    `progress` is called with each manifest's result as soon as it is known (compiled, failed, or
    unchanged since the last build), in no particular order.
    `repo_root`: the source repository the manifests live in (the `regenerate.path` default is
    each manifest's path relative to it); default the enclosing git work tree.
    """
    from .render import write_atomic

    out_dir = Path(out)
    options = {"format": fmt, "lint": lint, "version": __version__}
    if repo_root is not None:
        options["repo_root"] = Path(repo_root).resolve().as_posix()
    cache = _read_cache(out_dir) if write else {}
    if write:
        _remove_orphans(out_dir)
    results: list[CompileResult | None] = []
    keys: list[str] = []
    pending: list[tuple[int, Path, str]] = []
    for path in discover(paths):
        display = display_path(path)
        keys.append(cache_key(path, out_dir))
        cached = _cached(out_dir, cache.get(keys[-1]), path, options)
        results.append(cached)
        if cached is None:
            pending.append((len(results) - 1, path, display))
        elif progress:
            progress(cached)
    for (index, _, _), result in zip(pending, _compile_all(pending, fmt, lint, repo_root, options), strict=True):
        results[index] = result
        if progress:
            progress(result)
    report = BuildReport(results, duplicate_names(results) + _link_checks(results))
    if not write:
        return report
    # a build-level error (two manifests with one name MC502, or a link check: one resource MC641,
    # one under the other's ephemeral prefixes MC394) names the pipeline it stops: not written
    clashing = {d.path[0] for d in report.diagnostics if d.is_error and d.path}
    # the new cache lists this build's manifests only: what a clean build of them would write
    fresh = {key: cache[key] for key, result in zip(keys, results, strict=True) if result.skipped}
    shared_needs: list = []
    for key, result in zip(keys, results, strict=True):
        if result.skipped or result.failed(strict) or result.name in clashing or not result.artifacts:
            continue
        target = out_dir / result.name
        try:
            # build.json goes first and comes back last: a build killed in between leaves a
            # directory without a record, which the next build does not trust.
            (target / "build.json").unlink(missing_ok=True)
            for artifact in result.artifacts:
                write_atomic(target / artifact.name, artifact.content)
                result.written.append(target / artifact.name)
            _remove_unlisted(target, {a.name for a in result.artifacts})
            write_atomic(target / "build.json", result.build_record)
            result.written.append(target / "build.json")
        except OSError as exc:
            report.diagnostics.append(
                Diagnostic("MC501", Severity.ERROR, f"cannot write {target}: {exc.strerror or exc}", result.file)
            )
            continue
        fresh[key] = {"digest": result.digest, "name": result.name, **options}
    for result in results:
        if result.failed(strict) or result.name in clashing:
            continue
        needs = _vpc_needs(result)
        if needs is not None:
            shared_needs.append(needs)
    _write_shared(shared_needs, out_dir, fmt, lint, report)
    _write_shared_catalog(
        [r for r in results if not r.failed(strict) and r.name not in clashing], out_dir, fmt, lint, report
    )
    _remove_stale_shared(out_dir / "_shared", report.shared)
    try:
        write_atomic(out_dir / CACHE_FILE, (json.dumps(fresh, indent=1, sort_keys=True) + "\n").encode())
    except OSError:
        pass  # the cache only saves time
    return report


def check_output(
    paths: list[str], out: str | Path = "out", *, fmt: str = "yaml", lint: bool = True, strict: bool = False
) -> tuple[BuildReport, list[tuple[str, str]]]:
    """What `build --check` reports: build into a temporary directory (a clean build) and compare
    it with `out`, file by file. Returns the report and (path under out/, "stale" | "missing" |
    "not written by this build") for each difference. Only the folders the build writes
    (out/<name>/ of its manifests, out/_shared/) are compared; the cache file is not output."""
    import tempfile

    out_dir = Path(out)
    with tempfile.TemporaryDirectory(prefix="manifestc-check-") as scratch:
        clean = Path(scratch) / "out"
        report = build(paths, clean, fmt=fmt, lint=lint, strict=strict)
        if report.failed(strict):
            return report, []
        expected = {
            p.relative_to(clean).as_posix(): p.read_bytes()
            for p in sorted(clean.rglob("*"))
            if p.is_file() and p.name != CACHE_FILE
        }
    folders = {name.split("/", 1)[0] for name in expected}
    actual = {
        p.relative_to(out_dir).as_posix(): p
        for folder in sorted(folders)
        for p in sorted((out_dir / folder).rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
    differences = []
    for name, content in expected.items():
        if name not in actual:
            differences.append((name, "missing"))
        elif actual[name].read_bytes() != content:
            differences.append((name, "stale"))
    differences += [
        (name, "not written by this build")
        for name in actual
        if name not in expected and name.rsplit("/", 1)[-1] not in FACTORY_FILES
    ]
    return report, sorted(differences)


def _link_checks(results: list[CompileResult]) -> list[Diagnostic]:
    """Build-level readiness checks over every manifest of this build: those compiled now (the
    `deploys` `_settle` kept) and those skipped as unchanged (from the `deploys` record of their
    build.json, which `_cached` read and made sure is there)."""
    from .check import run_link_checks
    from .check.deploy_collisions import deploys_from_record

    pipelines = []
    for result in results:
        if result.deploys is not None:
            pipelines.append(result.deploys)
        elif result.skipped and result.name:
            record = (result.record or {}).get("deploys")
            deploys = deploys_from_record(result.name, result.file, record)
            if deploys is not None:
                pipelines.append(deploys)
    return run_link_checks(pipelines)


PARALLEL_THRESHOLD = 4  # below this, starting worker processes costs more than it saves


def _compile_one(job: tuple[Path, str, str, bool, str | Path | None, dict]) -> CompileResult:
    path, display, fmt, lint, repo_root, options = job
    try:
        return _settle(compile_manifest(path, fmt=fmt, lint=lint, display=display, repo_root=repo_root), options)
    except Exception as exc:  # noqa: BLE001 - one manifest's compiler bug must not stop the others
        message = f"internal compiler error: {type(exc).__name__}: {exc}"
        return CompileResult(display, diagnostics=[Diagnostic("MC301", Severity.ERROR, message, display, 1, 1)])


def _settle(result: CompileResult, options: dict) -> CompileResult:
    """Keep what the rest of a build needs of a compiled manifest (its `Deploys` for the
    build-level checks, its build.json), pack its files and drop its rendered templates: a 1,000
    manifest build holds ~40 KiB per manifest instead of ~330 KiB (and pickles less from workers)."""
    from .check.deploy_collisions import deploys_of

    if result.manifest is None or not result.templates:
        return result
    result.deploys = deploys_of(result.manifest, result.templates, result.file)
    if result.artifacts:
        result.build_record = _build_json(result, options)
    result.artifacts = [a.packed() for a in result.artifacts]
    result.templates = {}
    return result


def _compile_all(
    pending: list[tuple[int, Path, str]], fmt: str, lint: bool, repo_root: str | Path | None, options: dict
) -> Iterator[CompileResult]:
    """Compile in worker processes when there are many manifests (lint is CPU-bound, ~1 s each).

    Results come in the order of `pending`, each as soon as it and those before it are done.
    """
    jobs = [(path, display, fmt, lint, repo_root, options) for _, path, display in pending]
    workers = min(os.cpu_count() or 1, len(jobs))
    if workers < 2 or len(jobs) < PARALLEL_THRESHOLD:
        yield from (_compile_one(job) for job in jobs)
        return
    from concurrent.futures import ProcessPoolExecutor

    # Each worker imports cfn-lint and builds its rules once (~0.3 s), not the parent before it
    # forks: the parent, which holds every manifest's results, stays without cfn-lint's ~50 MiB.
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_compile_one, jobs, chunksize=max(1, min(8, len(jobs) // (workers * 8))))


def _vpc_needs(result: CompileResult):
    """What a manifest needs in its VPC: from the model, or from build.json for a cached one."""
    from .emit.network import VpcNeeds

    if result.manifest is not None:
        record = network_record(result.manifest)
    else:
        record = (result.record or {}).get("network")
    if not record or record["mode"] == "none":
        return None
    return VpcNeeds(
        result.name,
        record["vpc_id"],
        tuple(record["subnets"]),
        tuple(record["route_tables"]),
        tuple((e["service"], e["type"], tuple(e["reasons"])) for e in record["endpoints"]),
    )


def deploy_record(manifest: Manifest) -> dict:
    """The deploy section of build.json: where the pipeline lives and what must exist elsewhere
    first (`manifestc deploy-plan` reads it)."""
    pulls = []
    for repository in sorted(
        {t.image_repository or manifest.build.image_repository for t in manifest.targets if t.uses_image} - {None}
    ):
        accounts, functions = set(), set()
        for env in manifest.environments:
            if not manifest.is_cross_account(env):
                continue
            for name in env.targets:
                target = manifest.target(name)
                if target.uses_image and (target.image_repository or manifest.build.image_repository) == repository:
                    accounts.add(env.account)
                    if target.type == "lambda":
                        functions.add((env.account, target.function))
        if accounts:
            pulls.append(
                {
                    "repository": repository,
                    "accounts": sorted(accounts),
                    "functions": [{"account": a, "function": f} for a, f in sorted(functions)],
                }
            )
    record = {
        "account": manifest.account,
        "region": manifest.region,
        "ecr_cross_account_pull": pulls,
        "assumed_roles": assumed_roles(manifest),
    }
    if environments := cdk_environments(manifest):
        record["cdk_environments"] = environments
    from .semantics_targets import existing_resources

    if existing := existing_resources(manifest):  # only then: other pipelines' build.json unchanged
        record["existing_resources"] = existing
    return record


def cdk_environments(manifest: Manifest) -> list[dict]:
    """The CDK bootstrap environments (account, region, qualifier) cdk targets publish to and
    deploy in; `trust`: another account, whose bootstrap must trust the pipeline's account
    (`manifestc deploy-plan` checks each bootstrap's version parameter)."""
    found: dict[tuple, dict] = {}
    for env in manifest.environments:
        for name in env.targets:
            target = manifest.target(name)
            if target.type != "cdk":
                continue
            for region in env.regions:
                key = (manifest.env_account(env), region or manifest.region, target.qualifier)
                found[key] = {
                    "account": key[0],
                    "region": key[1],
                    "qualifier": key[2],
                    "trust": manifest.is_cross_account(env),
                }
    return [found[k] for k in sorted(found, key=lambda k: tuple(str(p) for p in k))]


def assumed_roles(manifest: Manifest) -> list[dict]:
    """The roles commands targets name (`role`), which the user creates in each environment's
    account and which must trust the pipeline's roles of the tooling account (`manifestc
    deploy-plan` lists them)."""
    found: dict[str, dict] = {}
    for env in manifest.environments:
        for name in env.targets:
            target = manifest.target(name)
            if not target.role:
                continue
            account = manifest.env_account(env)
            arn = manifest.render_step(target.role, env, None, account or "<tooling account>")
            entry = found.setdefault(arn, {"role": arn, "account": account, "targets": [], "environments": []})
            entry["targets"] = sorted(set(entry["targets"]) | {name})
            entry["environments"].append(env.name)
    return [found[arn] for arn in sorted(found)]


def network_record(manifest: Manifest) -> dict | None:
    """The network section of build.json: the VPC and the derived endpoints with their reasons."""
    n = manifest.network
    if n is None:
        return None
    return {
        "vpc_id": n.vpc_id,
        "subnets": list(n.subnets),
        "route_tables": list(n.route_tables),
        "mode": n.mode,
        "shared_stack": f"_shared/network-{n.vpc_id}.yaml" if n.mode != "none" else None,
        "endpoints": [{"service": e.service, "type": e.kind, "reasons": list(e.reasons)} for e in n.endpoints],
    }


def permissions_record(manifest: Manifest) -> list[dict]:
    """The permissions section of build.json: each project's declared IAM grants, as declared, the
    broad ones and the reason they were accepted with (`allow_broad`); a commands target's once per
    environment whose job runs it (resources keep their placeholders)."""
    from .guard import declared_permissions, grant_fingerprints

    found = [(purpose, p, p.fingerprints()) for purpose, p in declared_permissions(manifest).items()]
    guarded = grant_fingerprints(manifest)  # a commands target's digests are its own (guard.py)
    found += [
        (f"commands-{env.name}-{target.name}", target.permissions, guarded.get(f"commands-{target.name}", ()))
        for env in manifest.environments
        for target in manifest.targets
        if target.type == "commands" and target.permissions and target.name in env.targets
    ]
    return [
        {
            "project": f"{manifest.name}-{purpose}",
            "managed_policies": list(p.managed_policies),
            "statements": [
                {"effect": g.effect, "actions": list(g.actions), "resources": list(g.resources)} for g in p.statements
            ],
            "broad": list(p.broad),
            "allow_broad": p.allow_broad,
            "digests": list(digests),
        }
        for purpose, p, digests in found
    ]


def catalog_record(manifest: Manifest) -> dict | None:
    """The catalog section of build.json: where the product template must be uploaded."""
    c = manifest.catalog
    if c is None:
        return None
    return {
        "portfolio": c.portfolio,
        "product": c.product,
        "version": c.version,
        "versions": list(c.keep_versions) + [c.version],
        "parameters": list(c.parameters),
        "template": "pipeline.yaml",
        "upload_to": {"bucket": c.bucket, "key": c.template_key()},
    }


def _write_shared_catalog(
    results: list[CompileResult], out_dir: Path, fmt: str, lint: bool, report: BuildReport
) -> None:
    """out/_shared/catalog.yaml: every product of a directory build, one portfolio per name.

    Merges the per-manifest catalog templates (fresh, or as written by an earlier build), so an
    unchanged manifest is not recompiled for it. Identical resources (a portfolio, a principal
    association, a share, a TagOption) appear once.
    """
    from .render import render

    name = "catalog.yaml" if fmt == "yaml" else "catalog.json"
    parts = []
    for result in sorted(results, key=lambda r: r.name or ""):
        artifact = next((a for a in result.artifacts if a.name == name), None)
        try:
            text = artifact.content if artifact else (out_dir / result.name / name).read_bytes()
        except OSError:
            continue
        parts.append((result.name, yaml.safe_load(text) if fmt == "yaml" else json.loads(text)))
    if not parts:
        return
    if _portfolio_collisions(parts, results, report):
        return  # one team's principals and shares must not reach another team's products
    merged: dict = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"manifestc {__version__}: Service Catalog portfolios of {len(parts)} pipelines",
        "Metadata": {"manifestc": {"version": __version__, "pipelines": [p for p, _ in parts]}},
        "Parameters": {},
        "Resources": {},
    }
    shown = f"out/_shared/{name}"
    for pipeline, template in parts:
        merged["Parameters"].update(template.get("Parameters", {}))
        for logical_id, resource in template["Resources"].items():
            existing = merged["Resources"].get(logical_id)
            if existing is None:
                merged["Resources"][logical_id] = resource
            elif existing != resource:
                kind = resource["Type"].rsplit("::", 1)[-1]
                code, severity = ("MC256", Severity.WARNING) if kind == "Portfolio" else ("MC257", Severity.ERROR)
                report.diagnostics.append(
                    Diagnostic(
                        code,
                        severity,
                        f"{pipeline}: {kind} {logical_id} differs from an "
                        "earlier manifest's; the first (by pipeline name) is kept",
                        shown,
                    )
                )
    _write_shared_file(out_dir / "_shared" / name, render(merged, fmt), shown, lint, report)


def _portfolio_collisions(parts: list[tuple[str, dict]], results: list[CompileResult], report: BuildReport) -> bool:
    """MC295 for portfolio names that differ only in case, spaces or punctuation."""
    from .emit.catalog import portfolio_key

    files = {r.name: r.file for r in results}
    first: dict[str, tuple[str, str]] = {}  # key -> (display name, pipeline)
    found = False
    for pipeline, template in parts:
        for resource in template["Resources"].values():
            if resource.get("Type") != "AWS::ServiceCatalog::Portfolio":
                continue
            name = resource["Properties"]["DisplayName"]
            seen = first.setdefault(portfolio_key(name), (name, pipeline))
            if seen[0] == name:
                continue
            found = True
            file = files.get(pipeline, "")
            line, col = load_file(file).marks.locate(("catalog", "portfolio")) if file else (0, 0)
            report.diagnostics.append(
                Diagnostic(
                    "MC295",
                    Severity.ERROR,
                    f"portfolio `{name}` differs from `{seen[0]}` (pipeline {seen[1]}) only in case or "
                    "punctuation; both would become one shared portfolio",
                    file,
                    line,
                    col,
                    ("catalog", "portfolio"),
                    hint=f"write `{seen[0]}` if it is the same portfolio, or choose a clearly different name",
                )
            )
    return found


def _write_shared(needs: list, out_dir: Path, fmt: str, lint: bool, report: BuildReport) -> None:
    """out/_shared/network-<vpc>.yaml: one endpoint stack per VPC, the union over the manifests."""
    if not needs:
        return
    from .emit.network import network_stack
    from .render import render, template_dict

    by_vpc: dict[str, list] = {}
    for need in needs:
        by_vpc.setdefault(need.vpc_id, []).append(need)
    for vpc_id, group in sorted(by_vpc.items()):
        template, notes = network_stack(vpc_id, group)
        name = f"network-{vpc_id}.{'yaml' if fmt == 'yaml' else 'json'}"
        content = render(template_dict(template), fmt)
        shown = f"out/_shared/{name}"
        for note in notes:
            report.diagnostics.append(Diagnostic("MC254", Severity.WARNING, note, shown))
        _write_shared_file(out_dir / "_shared" / name, content, shown, lint, report)


def _write_shared_file(target: Path, content: bytes, shown: str, lint: bool, report: BuildReport) -> None:
    """Write an out/_shared file: only when its content changed, only when it lints clean."""
    from .render import write_atomic

    try:
        if target.read_bytes() == content:
            report.shared.append(target)
            return  # written and linted by an earlier build
    except OSError:
        pass
    if lint:
        from .lint import lint_template

        found = lint_template(content.decode("utf-8"), shown)
        report.diagnostics.extend(found)
        if found:
            return
    try:
        write_atomic(target, content)
        report.shared.append(target)
    except OSError as exc:
        report.diagnostics.append(
            Diagnostic("MC501", Severity.ERROR, f"cannot write {shown}: {exc.strerror or exc}", shown)
        )


def duplicate_names(results: list[CompileResult]) -> list[Diagnostic]:
    seen: dict[str, str] = {}
    out = []
    for result in results:
        if result.name is None:
            continue
        if result.name in seen:
            out.append(
                Diagnostic(
                    "MC502",
                    Severity.ERROR,
                    f"pipeline name `{result.name}` is also used by {seen[result.name]}",
                    result.file,
                    1,
                    1,
                    (result.name,),
                )
            )
        else:
            seen[result.name] = result.file
    return out


def _read_cache(out_dir: Path) -> dict:
    try:
        cache = json.loads((out_dir / CACHE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def cache_key(path: Path, out_dir: Path) -> str:
    """The cache is keyed by the manifest's resolved path, not by how it was named on the command
    line (`a.yaml`, `./a.yaml` and `../x/a.yaml` are one manifest); written relative to out/, so
    a checkout moved elsewhere (or a clean build in a copy) keeps the same cache bytes."""
    return Path(os.path.relpath(path.resolve(), out_dir.resolve())).as_posix()


def _cached(out_dir: Path, entry: dict | None, path: Path, options: dict) -> CompileResult | None:
    """A skipped result when out/<name>/ is exactly what compiling the manifest would write.

    The cache entry only says where to look; the proof is out/<name>/build.json, written last:
    it must record this manifest's SHA-256, these options and this compiler version, every file
    it lists must have the recorded SHA-256, and the directory must hold no other file. Anything
    else (an interrupted build, a manifest renamed or edited and put back, a hand edit) recompiles.
    """
    from .check.deploy_collisions import deploys_from_record

    if not entry or not isinstance(entry, dict) or any(entry.get(k) != v for k, v in options.items()):
        return None
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        name = entry["name"]
        if digest != entry["digest"] or not isinstance(name, str) or not name or name.startswith((".", "_")):
            return None
        target = out_dir / name
        record = json.loads((target / "build.json").read_text())
        if (
            record["manifest"]["sha256"] != digest
            or record["pipeline"] != name
            or record["compiler"]["version"] != options["version"]
            or record["options"] != {"format": options["format"], "lint": options["lint"]}
            or deploys_from_record(name, "", record.get("deploys")) is None  # the build-level checks read it
        ):
            return None
        listed = {item["path"] for item in record["files"]}
        present = {p.name for p in target.iterdir() if not p.name.startswith(".")} - {"build.json"}
        if listed != present:
            return None
        for item in record["files"]:
            data = (target / item["path"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != item["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return CompileResult(display_path(path), digest=digest, skipped=True, cached_name=name, record=record)


def _remove_unlisted(target: Path, keep: set[str]) -> None:
    """Files an earlier version of this manifest wrote and this one does not (a clean build would
    not have them)."""
    for entry in target.iterdir():
        if entry.name not in keep and entry.name != "build.json" and not entry.name.startswith("."):
            if entry.is_file():
                entry.unlink()


# out/_shared files `manifestc factory` writes: a build neither removes nor compares them.
FACTORY_FILES = frozenset({"factory.yaml", "factory.json"})


def _remove_stale_shared(shared_dir: Path, keep: list[Path]) -> None:
    """out/_shared holds what this build's manifests need, like a clean build: a network stack of
    a VPC no manifest names any more, or a catalog no manifest feeds, goes."""
    if not shared_dir.is_dir():
        return
    kept = {p.name for p in keep}
    for entry in shared_dir.iterdir():
        if entry.name in FACTORY_FILES:
            continue  # written by `manifestc factory`, not by a build
        if entry.is_file() and not entry.name.startswith(".") and entry.name not in kept:
            entry.unlink(missing_ok=True)


def _remove_orphans(out_dir: Path) -> None:
    """Temp files of killed builds, in out/, out/_shared and every out/<name>/."""
    from .render import remove_stale_temp_files

    if not out_dir.is_dir():
        return
    remove_stale_temp_files(out_dir)
    for entry in out_dir.iterdir():
        if entry.is_dir():
            remove_stale_temp_files(entry)


def _build_json(result: CompileResult, options: dict) -> bytes:
    from .check.deploy_collisions import deploys_record

    lint_findings = [d for d in result.diagnostics if not d.code.startswith("MC")]
    record = {
        "compiler": {"name": "manifestc", "version": __version__},
        "manifest": {"file": Path(result.file).name, "sha256": result.digest},
        "pipeline": result.name,
        "options": {"format": options["format"], "lint": options["lint"]},
        "files": [
            {
                "path": a.name,
                "sha256": hashlib.sha256(a.content).hexdigest(),
                "bytes": len(a.content),
                "resources": a.resources,
            }
            for a in result.artifacts
        ],
        "resource_count": sum(sum(a.resources.values()) for a in result.artifacts),
        "lint": {"enabled": options["lint"], "findings": len(lint_findings)},
        "deploy": deploy_record(result.manifest),
        "deploys": deploys_record(result.manifest, result.templates),
        "network": network_record(result.manifest),
        "catalog": catalog_record(result.manifest),
        "permissions": permissions_record(result.manifest),
        "warnings": [
            {"code": d.code, "message": d.message, "path": d.dotted_path()}
            for d in result.diagnostics
            if d.severity is Severity.WARNING
        ],
    }
    return (json.dumps(record, indent=2) + "\n").encode("utf-8")


def catalog_uploads(report: BuildReport, out_dir: str | Path) -> list[tuple[str, str, Path]]:
    """(pipeline, S3 key, template file) for every product of a build, from build.json."""
    out_dir = Path(out_dir)
    items = []
    for result in report.results:
        try:
            record = json.loads((out_dir / result.name / "build.json").read_text()).get("catalog")
        except (OSError, ValueError, TypeError):
            continue
        if record:
            items.append((result.name, record["upload_to"]["key"], out_dir / result.name / record["template"]))
    return items


def set_template_bucket(report: BuildReport, out_dir: str | Path, bucket: str) -> list[Path]:
    """Make `bucket` the TemplateBucket default of the catalog templates (keeping build.json true)."""
    from .render import render, write_atomic

    out_dir = Path(out_dir)
    written = []
    targets = [(out_dir / r.name, "catalog.yaml") for r in report.results if r.name]
    targets.append((out_dir / "_shared", "catalog.yaml"))
    for folder, name in targets:
        path = folder / name
        if not path.exists():
            continue
        template = yaml.safe_load(path.read_text())
        template["Parameters"]["TemplateBucket"]["Default"] = bucket
        content = render(template, "yaml")
        write_atomic(path, content)
        written.append(path)
        record_path = folder / "build.json"
        if record_path.exists():
            record = json.loads(record_path.read_text())
            for item in record["files"]:
                if item["path"] == name:
                    item.update(sha256=hashlib.sha256(content).hexdigest(), bytes=len(content))
            write_atomic(record_path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return written
