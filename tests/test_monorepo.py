"""Monorepo services (issue 11 item 10; README "Monorepo services"): one manifest and one pipeline
per service, started only by pushes touching its paths (V2 trigger `FilePaths`), built, tested and
gated in its directory; the path filters are part of the self-update source guard."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import MINIMAL, with_changes
from manifestc import api
from manifestc.guard import SOURCE, source_value
from manifestc.semantics_monorepo import excludes_all_of, glob_matches, may_match_under
from test_selfupdate import _guarded_recompile, _update_commands

CONNECTION = "arn:aws:codeconnections:eu-west-1:123456789012:connection/9a8b7c6d-1111-2222-3333-444455556666"
SHOP = {"provider": "codestar", "repository": "acme/shop", "connection_arn": CONNECTION}


def _service(name: str = "shop-api", directory: str = "services/api", **changes) -> str:
    source = {**SHOP, "paths": [f"{directory}/**", "libs/common/**"]}
    base = with_changes(
        MINIMAL,
        name=name,
        source=source,
        build={"directory": directory},
        tests=[{"name": "unit", "reports": ["reports/unit.xml"]}],
        regenerate={"path": f"{directory}/manifest.yaml"},
    )
    return with_changes(base, **changes)


def _compile(write_manifest, text: str):
    return api.compile_manifest(write_manifest(text), lint=False)


def _pipeline(write_manifest, text: str) -> dict:
    result = _compile(write_manifest, text)
    assert not result.diagnostics, [(d.code, d.message) for d in result.diagnostics]
    return result.templates["pipeline.yaml"]


def _codes(write_manifest, text: str) -> list[tuple[str, str, tuple]]:
    result = _compile(write_manifest, text)
    return sorted((d.code, d.severity.value, d.path) for d in result.diagnostics)


def _buildspec(template: dict, project: str) -> dict:
    spec = template["Resources"][project]["Properties"]["Source"]["BuildSpec"]
    return yaml.safe_load(spec["Fn::Sub"] if isinstance(spec, dict) else spec)


def _push(template: dict) -> list[dict]:
    [trigger] = template["Resources"]["Pipeline"]["Properties"]["Triggers"]
    assert trigger["ProviderType"] == "CodeStarSourceConnection"
    return trigger["GitConfiguration"]["Push"]


# --- triggers --------------------------------------------------------------------------------


def test_paths_and_excludes_become_one_push_filter_with_the_branch_filters(write_manifest):
    source = {
        **SHOP,
        "branches": ["main", "release/*"],
        "exclude_branches": ["release/old-*"],
        "paths": ["services/api/**", "libs/common/**"],
        "exclude_paths": ["services/api/docs/**", "**/*.md"],
    }
    push = _push(_pipeline(write_manifest, _service(source=source)))
    assert push == [
        {
            "Branches": {"Includes": ["main", "release/*"], "Excludes": ["release/old-*"]},
            "FilePaths": {
                "Includes": ["services/api/**", "libs/common/**"],
                "Excludes": ["services/api/docs/**", "**/*.md"],
            },
        }
    ]


def test_excludes_alone_filter_every_push_to_the_branch(write_manifest):
    text = _service(source={**SHOP, "exclude_paths": ["docs/**"]}, build=None, regenerate=None)
    assert _push(_pipeline(write_manifest, text)) == [
        {"Branches": {"Includes": ["main"]}, "FilePaths": {"Excludes": ["docs/**"]}}
    ]


def test_more_than_eight_globs_is_mc350(write_manifest):
    nine = [f"services/s{i}/**" for i in range(9)]
    source = {**SHOP, "paths": ["services/api/**", *nine[:7]], "exclude_paths": nine}
    assert _codes(write_manifest, _service(source=source)) == [("MC350", "error", ("source", "exclude_paths"))]
    source = {**SHOP, "paths": ["services/api/**", *nine]}
    text = _service(source=source)
    result = _compile(write_manifest, text)
    [error] = [d for d in result.diagnostics if d.is_error]
    line = text.splitlines().index("  paths:") + 2  # the list, on the line after its key
    assert (error.code, error.path, error.line) == ("MC350", ("source", "paths"), line)
    assert "at most 8" in error.message and "services/api/**" in error.hint


def test_path_filters_need_a_codestar_source_and_a_push_trigger(write_manifest):
    """CodeCommit and S3 pushes start the pipeline through EventBridge events naming the commit
    only (MC214 with a hint); a manual pipeline starts on no push (MC311); tags replace branch
    pushes (MC292)."""
    codecommit = {"repository": "shop", "exclude_paths": ["docs/**"]}
    result = _compile(write_manifest, _service(source=codecommit, regenerate=None, build=None))
    [error] = [d for d in result.diagnostics if d.is_error]
    assert (error.code, error.path) == ("MC214", ("source", "exclude_paths")) and "codestar" in error.hint
    manual = {**SHOP, "trigger": "manual", "exclude_paths": ["docs/**"]}
    assert ("MC311", "error", ("source", "exclude_paths")) in _codes(write_manifest, _service(source=manual))
    tags = {**SHOP, "tags": ["v*"], "exclude_paths": ["docs/**"]}
    assert ("MC292", "error", ("source", "exclude_paths")) in _codes(write_manifest, _service(source=tags))


# --- build directory -------------------------------------------------------------------------


def test_build_tests_and_gates_run_in_the_service_directory(write_manifest):
    text = _service(
        build={"directory": "services/api", "artifacts": {"files": ["**/*"], "base_directory": "dist"}},
        quality_gates=["lint"],
    )
    template = _pipeline(write_manifest, text)
    enter = 'cd "$CODEBUILD_SRC_DIR"/services/api'
    build = _buildspec(template, "BuildProject")
    for phase in build["phases"].values():
        if "commands" in phase:
            assert phase["commands"][0] == enter
    # artifact base: below the directory (base-directory is relative to the source root)
    assert build["artifacts"] == {"files": ["**/*"], "base-directory": "services/api/dist"}
    tests = _buildspec(template, "TestUnitProject")
    assert tests["phases"]["build"]["commands"][0] == enter
    [report] = tests["reports"].values()
    assert report["files"] == ["reports/unit.xml"] and report["base-directory"] == "services/api"
    gate = next(k for k in template["Resources"] if k.startswith("Gate") and k.endswith("Project"))
    assert _buildspec(template, gate)["phases"]["build"]["commands"][0] == enter
    # the self-update build reads the manifest from its place in the repository, at the root
    update = _buildspec(template, "UpdateProject")["phases"]["build"]["commands"]
    assert enter not in update
    assert any('"$CODEBUILD_SRC_DIR"/services/api/manifest.yaml' in c for c in update)


def test_without_a_directory_the_buildspec_is_unchanged(write_manifest):
    plain = _buildspec(_pipeline(write_manifest, MINIMAL), "BuildProject")
    assert not any(c.startswith("cd ") for p in plain["phases"].values() for c in p.get("commands", []))
    assert "base-directory" not in plain["artifacts"]


def test_feature_and_pull_request_builds_run_in_the_directory(write_manifest):
    source = {**SHOP, "paths": ["services/api/**"], "pull_requests": {"tests": ["unit"]}}
    template = _pipeline(write_manifest, _service(source=source))
    spec = _buildspec(template, "PullRequestProject")
    assert spec["phases"]["build"]["commands"][0] == 'cd "$CODEBUILD_SRC_DIR"/services/api'


@pytest.mark.parametrize(
    "directory",
    ["/srv/api", "services/../secrets", ".", "services/*", "services/$HOME", "my service", 'a"b'],
)
def test_a_directory_outside_the_checkout_or_with_shell_text_is_mc351(write_manifest, directory):
    text = _service(build={"directory": directory}, source={**SHOP, "paths": ["**"]}, regenerate=None)
    result = _compile(write_manifest, text)
    [error] = [d for d in result.diagnostics if d.is_error]
    assert (error.code, error.path) == ("MC351", ("build", "directory")) and error.line > 0


def test_a_directory_with_a_buildspec_file_is_mc352(write_manifest):
    text = _service(build={"directory": "services/api", "buildspec": "services/api/buildspec.yml"}, tests=None)
    assert ("MC352", "error", ("build", "directory")) in _codes(write_manifest, text)


def test_the_directory_is_normalised(write_manifest):
    text = _service(build={"directory": "./services/api/"})
    build = _buildspec(_pipeline(write_manifest, text), "BuildProject")
    assert build["artifacts"]["base-directory"] == "services/api"


# --- warnings --------------------------------------------------------------------------------


def test_paths_that_miss_the_service_directory_warn_mc685(write_manifest):
    source = {**SHOP, "paths": ["services/web/**", "libs/**"]}
    text = _service(source=source, regenerate=False)
    assert _codes(write_manifest, text) == [("MC685", "warning", ("source", "paths"))]
    excluded = {**SHOP, "paths": ["services/**"], "exclude_paths": ["services/api/**"]}
    codes = _codes(write_manifest, _service(source=excluded))
    assert ("MC685", "warning", ("source", "exclude_paths")) in codes
    # a parent directory glob, or a glob inside the directory, can match its files: no warning
    for paths in (["services/**"], ["services/api/src/*.py", "services/api/manifest.yaml"], ["**"]):
        assert _codes(write_manifest, _service(source={**SHOP, "paths": paths})) == []


def test_paths_that_leave_out_the_manifest_warn_mc686_with_self_update(write_manifest):
    source = {**SHOP, "paths": ["services/api/src/**"]}
    result = _compile(write_manifest, _service(source=source))
    [warning] = result.diagnostics
    assert (warning.code, warning.path) == ("MC686", ("source", "paths")) and not warning.is_error
    assert "`services/api/manifest.yaml`" in warning.message
    excluded = {**SHOP, "paths": ["services/api/**"], "exclude_paths": ["**/manifest.yaml"]}
    assert _codes(write_manifest, _service(source=excluded)) == [("MC686", "warning", ("source", "exclude_paths"))]
    # without self-update the manifest changes nothing at run time
    assert _codes(write_manifest, _service(source=source, regenerate=False)) == []


@pytest.mark.parametrize(
    "glob, path, expected",
    [
        ("services/api/**", "services/api/manifest.yaml", True),
        ("services/api/**", "services/api", False),
        ("services/*/manifest.yaml", "services/api/manifest.yaml", True),
        ("services/*", "services/api/manifest.yaml", False),
        ("**/manifest.yaml", "manifest.yaml", True),
        ("**/*.md", "services/api/README.md", True),
        ("*.{yaml,yml}", "manifest.yml", True),
        ("manifest.y?ml", "manifest.yaml", True),
        ("[!m]anifest.yaml", "manifest.yaml", False),
        ("docs\\*", "docs*", True),
        ("[a-c]x", "bx", True),
        ("[-a]x", "-x", True),
        ("[]", "[]", True),  # not a set CodePipeline reads: taken literally, never a crash
        ("[a--b]x", "-x", True),  # no range: each character of the set literally
    ],
)
def test_trigger_globs(glob, path, expected):
    """CodePipeline User Guide, "Working with glob patterns in syntax"."""
    assert glob_matches(glob, path) is expected


def test_odd_globs_compile_without_a_crash(write_manifest):
    source = {**SHOP, "paths": ["[]", "[z-a]/**", "{a,b", "services/api/**"], "exclude_paths": ["[!", "\\"]}
    assert _codes(write_manifest, _service(source=source, regenerate=False)) == []


def test_directory_coverage():
    assert may_match_under("services/**", "services/api")
    assert may_match_under("services/api/src/*.py", "services/api")
    assert not may_match_under("services/apix/**", "services/api")
    assert excludes_all_of("services/**", "services/api") and excludes_all_of("**", "services/api")
    assert not excludes_all_of("services/api/docs/**", "services/api")
    assert not excludes_all_of("services/ap*/**", "services/api")


# --- several services --------------------------------------------------------------------------


def _repo(tmp_path: Path, services: dict[str, str]) -> Path:
    root = tmp_path / "shop"
    for directory, text in services.items():
        (root / directory).mkdir(parents=True)
        (root / directory / "manifest.yaml").write_text(text)
    return root


def test_a_directory_build_compiles_every_service_into_its_own_pipeline(tmp_path):
    api_text = _service("shop-api", "services/api", regenerate=None)
    worker_text = _service("shop-worker", "services/worker", regenerate=None)
    root = _repo(tmp_path, {"services/api": api_text, "services/worker": worker_text})
    (root / "services" / "api" / "openapi.yaml").write_text("openapi: 3.0.0\n")  # not a manifest
    report = api.build([str(root / "services")], tmp_path / "out", lint=False, repo_root=root)
    assert report.all_diagnostics() == []
    assert [r.name for r in report.results] == ["shop-api", "shop-worker"]
    for name, directory in (("shop-api", "services/api"), ("shop-worker", "services/worker")):
        template = yaml.safe_load((tmp_path / "out" / name / "pipeline.yaml").read_text())
        assert template["Resources"]["Pipeline"]["Properties"]["Name"] == name
        assert _push(template)[0]["FilePaths"]["Includes"] == [f"{directory}/**", "libs/common/**"]
        # each service's Recompile reads its own manifest (regenerate.path from the repository root)
        commands = _update_commands(template)[0]
        assert any(f'"$CODEBUILD_SRC_DIR"/{directory}/manifest.yaml' in c for c in commands)


def test_two_services_with_one_name_are_mc502(tmp_path):
    text = _service("shop-api", "services/api", regenerate=None)
    root = _repo(tmp_path, {"services/api": text, "services/worker": text.replace("services/api", "services/worker")})
    report = api.build([str(root / "services")], tmp_path / "out", lint=False, repo_root=root)
    [clash] = report.diagnostics
    assert clash.code == "MC502" and "services/api/manifest.yaml" in clash.message
    assert clash.file.endswith("services/worker/manifest.yaml")
    assert not (tmp_path / "out" / "shop-api").exists()


# --- self-update guard -----------------------------------------------------------------------


def test_the_source_guard_records_the_path_filters(write_manifest):
    source = {**SHOP, "paths": ["services/api/**"], "exclude_paths": ["**/*.md"]}
    manifest = api.check_manifest(write_manifest(_service(source=source)), "manifest.yaml").manifest
    value = yaml.safe_load(source_value(manifest))
    assert value["paths"] == ["services/api/**"] and value["exclude_paths"] == ["**/*.md"]
    # unset filters are not recorded: the value a toolchain without them recorded stays the same
    plain = api.check_manifest(write_manifest(MINIMAL), "manifest.yaml").manifest
    assert "paths" not in source_value(plain) and "exclude_paths" not in source_value(plain)


def _recompile(repo: Path, deployed: dict, out: Path):
    return _guarded_recompile(repo, deployed, out, manifest="services/api/manifest.yaml", pipeline="shop-api")


def test_a_commit_cannot_widen_the_paths_that_start_the_pipeline(tmp_path):
    """The recorded source includes the file path filters: a commit that lets more pushes start
    the pipeline (another directory, a dropped exclusion) is refused (MC264); a person deploys it."""
    deployed_source = {**SHOP, "paths": ["services/api/**"], "exclude_paths": ["services/api/docs/**"]}
    text = textwrap.dedent(_service(source=deployed_source, regenerate=None))
    repo = _repo(tmp_path, {"services/api": text})
    result = api.compile_manifest(repo / "services/api/manifest.yaml", lint=False, repo_root=repo)
    assert not result.failed(), result.diagnostics
    deployed = result.templates["pipeline.yaml"]
    assert '"paths":["services/api/**"]' in _update_commands(deployed)[1][SOURCE]
    out = repo / ".manifestc-selfupdate"
    manifest = repo / "services/api/manifest.yaml"
    for source in (
        {**deployed_source, "paths": ["services/api/**", "services/worker/**"]},
        {**deployed_source, "exclude_paths": []},
        {**deployed_source, "paths": []},
    ):
        manifest.write_text(with_changes(text, source=source))
        [refusal] = [d for d in _recompile(repo, deployed, out).diagnostics if d.is_error]
        assert refusal.code == "MC264" and "changes the pipeline's source" in refusal.message, source
        assert not out.exists()
    manifest.write_text(with_changes(text, team="shop-platform"))
    assert not _recompile(repo, deployed, out).failed


def test_the_cli_builds_a_services_directory(tmp_path):
    from click.testing import CliRunner
    from manifestc.cli import cli

    root = _repo(
        tmp_path,
        {
            "services/api": _service("shop-api", "services/api", regenerate=None),
            "services/worker": _service("shop-worker", "services/worker", regenerate=None),
        },
    )
    out = tmp_path / "out"
    args = ["build", str(root / "services"), "--out", str(out), "--no-lint", "--repo-root", str(root), "--strict"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["shop-api", "shop-worker"]


def test_a_commit_cannot_switch_the_pipeline_to_tag_pushes(tmp_path):
    """Tags are recorded in the source guard: branch protection does not cover tags, so a commit
    that makes tag pushes start the pipeline (or changes which tags do) is refused (MC264)."""
    text = textwrap.dedent(_service(source=dict(SHOP), regenerate=None))
    repo = _repo(tmp_path, {"services/api": text})
    deployed = api.compile_manifest(repo / "services/api/manifest.yaml", lint=False, repo_root=repo)
    assert not deployed.failed(), deployed.diagnostics
    out = repo / ".manifestc-selfupdate"
    manifest = repo / "services/api/manifest.yaml"
    manifest.write_text(with_changes(text, source={**SHOP, "tags": ["v*"]}))
    [refusal] = [d for d in _recompile(repo, deployed.templates["pipeline.yaml"], out).diagnostics if d.is_error]
    assert refusal.code == "MC264" and "changes the pipeline's source" in refusal.message
    assert not out.exists()


# --- webhooks of feature-branch, pull-request and preview-teardown builds (review 1, Q1) ----------------


def _webhook_service(write_manifest, **source):
    text = _service(
        source={
            **SHOP,
            "paths": ["services/api/**", "libs/common/*.py"],
            "feature_branches": {"patterns": ["feature/*"], "deploy_to": "dev"},
            "pull_requests": {},
            **source,
        },
        environments=[{"name": "dev"}],
        targets=[
            {
                "name": "api",
                "template": "deploy/api.yaml",
                "execution_policies": ["arn:aws:iam::aws:policy/AWSLambda_FullAccess"],
            }
        ],
    )
    return _compile(write_manifest, text)


def test_feature_pull_request_and_teardown_webhooks_are_filtered_by_the_services_paths(write_manifest):
    import re

    result = _webhook_service(write_manifest)
    assert not [d for d in result.diagnostics if d.is_error], [(d.code, d.message) for d in result.diagnostics]
    resources = yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))["Resources"]
    patterns = set()
    for project in ("FeatureProject", "PullRequestProject", "PreviewTeardownProject"):
        [group] = resources[project]["Properties"]["Triggers"]["FilterGroups"]
        [path_filter] = [f for f in group if f["Type"] == "FILE_PATH"]
        assert "ExcludeMatchedPattern" not in path_filter
        patterns.add(path_filter["Pattern"])
    [pattern] = patterns
    for path in ("services/api/app.py", "services/api/src/deep/x.py", "libs/common/util.py"):
        assert re.fullmatch(pattern, path), path
    for path in ("services/web/app.py", "libs/common/sub/util.py", "xservices/api/app.py", "README.md"):
        assert not re.fullmatch(pattern, path), path
    assert pattern.startswith("^") and pattern.endswith("$")


def test_without_paths_the_webhooks_have_no_file_path_filter(write_manifest):
    result = _webhook_service(write_manifest, paths=[])
    resources = yaml.safe_load(next(a.content for a in result.artifacts if a.name == "pipeline.yaml"))["Resources"]
    for project in ("FeatureProject", "PullRequestProject", "PreviewTeardownProject"):
        [group] = resources[project]["Properties"]["Triggers"]["FilterGroups"]
        assert "FILE_PATH" not in {f["Type"] for f in group}, project


def test_exclude_paths_with_webhook_builds_warns_that_they_are_not_applied(write_manifest):
    result = _webhook_service(write_manifest, exclude_paths=["services/api/docs/**"])
    warnings = [(d.code, d.path) for d in result.diagnostics if not d.is_error]
    assert ("MC697", ("source", "exclude_paths")) in warnings
    assert not [d for d in result.diagnostics if d.is_error]
    # the pipeline's own trigger without webhook builds: no warning
    plain = _compile(write_manifest, _service(source={**SHOP, "paths": ["services/api/**"], "exclude_paths": ["x/**"]}))
    assert "MC697" not in {d.code for d in plain.diagnostics}
