"""Semantics of monorepo services (README "Monorepo services"): one manifest, and so one pipeline,
per service of a repository; `source.paths`/`source.exclude_paths` choose the pushes that start it
(the V2 trigger's `FilePaths`), `build.directory` is where its jobs run.

Called from `semantics.py` with its checker; kept apart so the family's rules sit together.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from .model import Manifest

Path = tuple

# CodePipeline V2 push trigger file path filters (AWS facts).
# Source: CodePipeline API Reference, "GitFilePathFilterCriteria" (includes, excludes: 1 to 8 items,
#   each 1 to 255 characters), https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GitFilePathFilterCriteria.html
# Triggers exist for the CodeStarSourceConnection action only: CodePipeline API Reference,
#   "PipelineTriggerDeclaration" (providerType: CodeStarSourceConnection, "only supported for the
#   CodeStarSourceConnection action type"), https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineTriggerDeclaration.html
# Glob syntax (`*` within a name, `**` across directories, `?`, `[...]`, `{a,b}`, `\` escapes):
#   CodePipeline User Guide, "Working with glob patterns in syntax",
#   https://docs.aws.amazon.com/codepipeline/latest/userguide/syntax-glob.html
FILE_PATH_FILTER_MAX_ITEMS = 8
GLOB_CHARACTERS = "*?[{\\"

# CodeBuild webhooks (feature-branch, pull-request and preview-teardown projects of a codestar
# source): a FILE_PATH filter "triggers a build when the path of a changed file matches the regular
# expression pattern. Works with push and pull request events only" (CodeBuild API Reference,
# "WebhookFilter", https://docs.aws.amazon.com/codebuild/latest/APIReference/API_WebhookFilter.html);
# the API names no host restriction (GitHub, GitLab and Bitbucket sources alike). How an excluding
# FILE_PATH filter weighs an event that changes several files is not documented, so `exclude_paths`
# is not applied to webhooks (warning MC697).


def webhook_path_regex(globs: tuple[str, ...]) -> str:
    """The FILE_PATH pattern of `source.paths`: one anchored alternation of the globs' regexes
    (the syntax of `glob_regex`: groups, classes and escapes only)."""
    return "^(?:" + "|".join(glob_regex(g).pattern for g in globs) + ")$"


def glob_regex(glob: str) -> re.Pattern[str]:
    """A CodePipeline trigger glob as a regular expression over repository paths (the syntax above)."""
    out, i = [], 0
    while i < len(glob):
        ch = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")  # zero or more whole directories
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 1
        elif ch == "[" and "]" in glob[i + 1 :]:
            end = glob.index("]", i + 1)
            body = glob[i + 1 : end]
            negated = body.startswith("!")
            out.append("[" + ("^" if negated else "") + _set_body(body[1:] if negated else body) + "]")
            i = end
        elif ch == "{" and "}" in glob[i + 1 :]:
            end = glob.index("}", i + 1)
            out.append("(?:" + "|".join(re.escape(p) for p in glob[i + 1 : end].split(",")) + ")")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    try:
        return re.compile("".join(out))
    except re.error:  # a set CodePipeline would not read either (`[]`, `[z-a]`): match it literally
        return re.compile(re.escape(glob))


def _set_body(body: str) -> str:
    """The inside of a `[...]` set as a regex class body: every character literal but a `-` between
    two others (a range)."""
    out = []
    for index, ch in enumerate(body):
        inner = 0 < index < len(body) - 1 and body[index - 1] != "-" and body[index + 1] != "-"
        out.append("-" if ch == "-" and inner else re.escape(ch))
    return "".join(out)


def glob_matches(glob: str, path: str) -> bool:
    """Whether the trigger glob matches a repository file path."""
    return glob_regex(glob).fullmatch(path) is not None


def literal_prefix(glob: str) -> str:
    """The part of a glob before its first wildcard: every path it matches starts with it."""
    for index, ch in enumerate(glob):
        if ch in GLOB_CHARACTERS:
            return glob[:index]
    return glob


def may_match_under(glob: str, directory: str) -> bool:
    """Whether the glob can match some file under `directory` (checked on the literal prefixes:
    `services/**`, `services/api/**` and `services/api/src/*.py` can; `services/web/**` cannot)."""
    prefix, inside = literal_prefix(glob), directory.rstrip("/") + "/"
    return inside.startswith(prefix) or prefix.startswith(inside)


def excludes_all_of(glob: str, directory: str) -> bool:
    """Whether the glob matches every file under `directory`: `**`, or `<d>/**` for the directory
    or one of its parents."""
    if glob == "**":
        return True
    stem = glob[:-3] if glob.endswith("/**") else None
    return stem is not None and literal_prefix(stem) == stem and (directory + "/").startswith(stem + "/")


def check_path_filters(check: Any, raw: dict[str, Any]) -> None:
    """MC350: more file path globs than a V2 trigger's `FilePaths` takes."""
    for field in ("paths", "exclude_paths"):
        globs = raw[field]
        if len(globs) > FILE_PATH_FILTER_MAX_ITEMS:
            check.error(
                "MC350",
                f"`{field}` has {len(globs)} globs; a CodePipeline trigger's file path filter takes at most "
                f"{FILE_PATH_FILTER_MAX_ITEMS}",
                ("source", field),
                hint="match whole directories with one glob each, e.g. `services/api/**`",
            )


def build_directory(check: Any, raw: dict[str, Any]) -> str | None:
    """`build.directory`, normalised (no `./`, no trailing `/`); MC351 when it is not a plain
    relative directory of the repository, MC352 with a buildspec file of the repository."""
    directory = raw["directory"]
    if directory is None:
        return None
    path: Path = ("build", "directory")
    normal = posixpath.normpath(directory)
    parts = directory.strip("/").split("/")
    if (
        directory.startswith("/")
        or ".." in parts
        or normal == "."
        or any(ch in directory for ch in GLOB_CHARACTERS + "$`\"'")
        or re.search(r"\s", directory)
    ):
        check.error(
            "MC351",
            f"build.directory `{directory}` must be a directory inside the repository, relative to its root, "
            "without `..`, wildcards, quotes, `$` or spaces",
            path,
            hint="e.g. `services/api`",
        )
        return None
    if raw["buildspec"] is not None:
        check.error(
            "MC352",
            "`directory` with `buildspec`: a buildspec file of the repository runs as written, so manifestc "
            "cannot run its commands in the directory nor set its artifact base",
            path,
            hint=f"drop `directory` and `cd {normal}` in the buildspec file, or drop `buildspec`",
        )
        return None
    return normal


def check_service_triggers(check: Any, m: Manifest) -> None:
    """Warnings on a service pipeline whose push trigger misses its own files: MC685 no `paths`
    glob can match a file under `build.directory` (or one excludes it all); MC686 with self-update,
    a push that changes only the manifest does not start the pipeline."""
    source = m.source
    _check_webhook_excludes(check, m)
    if source.provider != "codestar" or source.trigger != "push" or source.tags:
        return
    directory = m.build.directory
    if directory is not None and source.paths and not any(may_match_under(g, directory) for g in source.paths):
        check.warn(
            "MC685",
            f"no `source.paths` glob matches a file under build.directory `{directory}`: pushes that change "
            "the service do not start its pipeline",
            ("source", "paths"),
            hint=f"add `{directory}/**` to source.paths",
        )
    elif directory is not None and any(excludes_all_of(g, directory) for g in source.exclude_paths):
        check.warn(
            "MC685",
            f"source.exclude_paths excludes all of build.directory `{directory}`: pushes that change the "
            "service do not start its pipeline",
            ("source", "exclude_paths"),
            hint="exclude only parts of the directory (docs, fixtures)",
        )
    if not m.regenerate.enabled:
        return
    manifest = m.regenerate.path
    included = not source.paths or any(glob_matches(g, manifest) for g in source.paths)
    excluded = any(glob_matches(g, manifest) for g in source.exclude_paths)
    if not included or excluded:
        field = "exclude_paths" if excluded else "paths"
        check.warn(
            "MC686",
            f"the manifest `{manifest}` is {'excluded' if excluded else 'not matched'}: a push that changes only "
            "the manifest does not start the pipeline, so its self-update waits for the next push to the "
            "service's files",
            ("source", field),
            hint=f"add `{manifest}` to source.paths" if not excluded else f"do not exclude `{manifest}`",
        )


def _check_webhook_excludes(check: Any, m: Manifest) -> None:
    """MC697: `exclude_paths` with feature-branch or pull-request webhooks, which filter by
    `paths` only (see webhook_path_regex)."""
    source = m.source
    webhooks = [f for f in ("feature_branches", "pull_requests") if getattr(source, f) is not None]
    if source.provider != "codestar" or not source.exclude_paths or not webhooks:
        return
    check.warn(
        "MC697",
        f"`exclude_paths` does not filter the {' and '.join(w.replace('_', '-') for w in webhooks)} builds: their "
        "CodeBuild webhooks take `paths` only (a FILE_PATH filter), so a push or pull request changing only "
        "excluded files still starts them",
        ("source", "exclude_paths"),
        hint="list the service's directories in `paths` (e.g. `services/api/**`) so that the webhooks are filtered "
        "too, and keep `exclude_paths` for the pipeline's trigger",
    )
