"""The factory: settings, their checks, and the one call that writes `out/_shared/factory.yaml`.

`manifestc factory` compiles no manifest. It emits one organisation-level stack that turns manifest
commits into pipelines (emit/factory.py) and checks it the way a reviewer would (check/factory.py).
Its settings come from the command line, so its diagnostics are located at the option that holds
the bad value (`--repository[2]`), not at a manifest line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import Diagnostic, Severity

FACTORY_FILE = "factory.yaml"
COMMAND_LINE = "manifestc factory"

# CodeCommit repository names: 1-100 characters, letters, digits, `.`, `_`, `-`, not ending in
# `.git` (AWS CodeCommit User Guide, "Quotas in AWS CodeCommit": repository names).
_REPOSITORY = re.compile(r"^[\w.-]{1,100}$")
# An EventBridge wildcard pattern over repository names: the same characters plus `*`.
_REPOSITORY_PATTERN = re.compile(r"^[\w.*-]{1,100}$")
# Git reference names (git check-ref-format, simplified to what CodeCommit branches use).
_BRANCH = re.compile(r"^(?!/)(?!.*(\.\.|//|@\{|\.lock$|/$))[A-Za-z0-9._/-]{1,255}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Pipeline names (schemas/manifest.v1.yaml `name`): lower case, digits, hyphens.
_PREFIX = re.compile(r"^([a-z][a-z0-9-]{0,19})?$")

# One EventBridge rule per named repository (a FIFO target's MessageGroupId is a fixed string per
# target, so a message group per repository needs a rule per repository); 300 rules per event bus
# is the default quota (Amazon EventBridge User Guide, "Amazon EventBridge quotas"): leave room.
MAX_REPOSITORIES = 100
# CodeBuild TimeoutInMinutes 5-2160 (AWS::CodeBuild::Project); the queue's visibility timeout
# must cover it and SQS allows at most 12 hours (Amazon SQS Developer Guide, "Visibility timeout").
MIN_BUILD_TIMEOUT, MAX_BUILD_TIMEOUT = 5, 690


@dataclass(frozen=True)
class FactorySettings:
    """What `manifestc factory` was asked for (command-line values, not yet checked)."""

    repositories: tuple[str, ...] = ()
    repository_pattern: str | None = None
    manifest_path: str = "manifest.yaml"
    branches: tuple[str, ...] = ("main",)
    notify_emails: tuple[str, ...] = ()
    retire: bool = False
    build_timeout: int = 60
    pipeline_prefix: str = ""


def _error(code: str, option: str, index: int | None, message: str, hint: str) -> Diagnostic:
    path: tuple = (option,) if index is None else (option, index)
    return Diagnostic(code, Severity.ERROR, message, COMMAND_LINE, 0, 0, path=path, hint=hint)


def check_settings(settings: FactorySettings) -> list[Diagnostic]:
    """Every problem with the settings, each naming the option (and its position when repeated)."""
    found: list[Diagnostic] = []
    if bool(settings.repositories) == bool(settings.repository_pattern):
        found.append(
            _error(
                "MC244",
                "--repository",
                None,
                "name the repositories the factory watches: either --repository (repeatable) or "
                "--repository-pattern, not both and not neither",
                "e.g. --repository orders-service --repository billing, or --repository-pattern 'svc-*'",
            )
        )
    for index, name in enumerate(settings.repositories):
        if not _REPOSITORY.match(name) or name.endswith(".git"):
            found.append(
                _error(
                    "MC243",
                    "--repository",
                    index,
                    f"`{name}` is not a CodeCommit repository name",
                    "1-100 letters, digits, `.`, `_` or `-`, not ending in `.git`",
                )
            )
    if len(set(settings.repositories)) != len(settings.repositories):
        seen: set[str] = set()
        for index, name in enumerate(settings.repositories):
            if name in seen:
                found.append(_error("MC243", "--repository", index, f"`{name}` is named twice", "name it once"))
            seen.add(name)
    if len(settings.repositories) > MAX_REPOSITORIES:
        found.append(
            _error(
                "MC243",
                "--repository",
                MAX_REPOSITORIES,
                f"{len(settings.repositories)} repositories: at most {MAX_REPOSITORIES} (one EventBridge rule each)",
                "use --repository-pattern for a naming convention instead",
            )
        )
    pattern = settings.repository_pattern
    if pattern is not None and (not _REPOSITORY_PATTERN.match(pattern) or "**" in pattern or pattern == "*"):
        found.append(
            _error(
                "MC243",
                "--repository-pattern",
                None,
                f"`{pattern}` is not a repository naming pattern",
                "repository-name characters with `*` wildcards, e.g. 'svc-*'; `*` alone would build every repository",
            )
        )
    path = settings.manifest_path
    if (
        not path
        or path.startswith("/")
        or ".." in path.split("/")
        or not path.endswith((".yaml", ".yml"))
        or any(c in path for c in "\"'$`\\ \n")
    ):
        found.append(
            _error(
                "MC245",
                "--manifest-path",
                None,
                f"`{path}` is not a manifest path inside a repository",
                "a relative path to a .yaml/.yml file, no `..`, no quotes, spaces or `$`, e.g. manifest.yaml",
            )
        )
    if not settings.branches:
        found.append(_error("MC246", "--branch", None, "no branch named", "e.g. --branch main"))
    for index, branch in enumerate(settings.branches):
        if not _BRANCH.match(branch):
            found.append(
                _error(
                    "MC246",
                    "--branch",
                    index,
                    f"`{branch}` is not a branch name",
                    "letters, digits, `.`, `_`, `-` and `/`; no `..`, no leading or trailing `/`",
                )
            )
    for index, email in enumerate(settings.notify_emails):
        if not _EMAIL.match(email):
            found.append(
                _error("MC247", "--notify-email", index, f"`{email}` is not an email address", "name@example.com")
            )
    if not MIN_BUILD_TIMEOUT <= settings.build_timeout <= MAX_BUILD_TIMEOUT:
        found.append(
            _error(
                "MC248",
                "--build-timeout",
                None,
                f"{settings.build_timeout} minutes is out of range",
                f"{MIN_BUILD_TIMEOUT}-{MAX_BUILD_TIMEOUT} minutes (the queue's visibility timeout must cover the "
                "build and SQS allows 12 hours)",
            )
        )
    if not _PREFIX.match(settings.pipeline_prefix):
        found.append(
            _error(
                "MC249",
                "--pipeline-prefix",
                None,
                f"`{settings.pipeline_prefix}` cannot start a pipeline name",
                "lower-case letters, digits and `-`, starting with a letter, at most 20 characters",
            )
        )
    return found


@dataclass(frozen=True)
class FactoryResult:
    """What `write_factory` did: the diagnostics, and the file written (None when it failed)."""

    diagnostics: list[Diagnostic]
    written: Path | None


def _deployed_templates(against: Path) -> dict[str, dict]:
    """The pipeline templates a build wrote in `against` (an out/ folder)."""
    import yaml

    found = {}
    for path in sorted(against.glob("*/pipeline.yaml")):
        found[path.relative_to(against).as_posix()] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return found


def write_factory(
    settings: FactorySettings, out_dir: str | Path = "out", *, lint: bool = True, against: str | Path | None = None
) -> FactoryResult:
    """Check the settings, emit the factory stack, lint and check it, and write
    `<out>/_shared/factory.yaml` only when nothing failed."""
    from .check.factory import check_factory
    from .emit.factory import build_template
    from .render import render, template_dict, write_atomic

    diagnostics = check_settings(settings)
    if diagnostics:
        return FactoryResult(diagnostics, None)
    data = template_dict(build_template(settings))
    content = render(data, "yaml")
    target = Path(out_dir) / "_shared" / FACTORY_FILE
    shown = f"{Path(out_dir).as_posix()}/_shared/{FACTORY_FILE}"
    if lint:
        from .lint import lint_template

        diagnostics += lint_template(content.decode("utf-8"), shown)
    deployed = _deployed_templates(Path(against)) if against is not None else None
    diagnostics += check_factory(data, shown, deployed)
    if any(d.is_error for d in diagnostics):
        return FactoryResult(diagnostics, None)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, content)
    return FactoryResult(diagnostics, target)
