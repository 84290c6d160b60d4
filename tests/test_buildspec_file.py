"""A buildspec file kept in the repository (`build.buildspec`, `tests[].buildspec`; README
"Your own buildspec file"): the project reads it from the source, what the manifest still
provides stays on the project, and what only the generated buildspec can do is a located error."""

from __future__ import annotations

import pytest
from conftest import with_changes
from manifestc import api


def _compile(write_manifest, text: str):
    return api.compile_manifest(write_manifest(text), lint=False)


def _project(result, logical_id: str) -> dict:
    return result.templates["pipeline.yaml"]["Resources"][logical_id]["Properties"]


def _codes(result) -> list[tuple[str, tuple]]:
    return [(d.code, d.path) for d in result.diagnostics]


def test_the_build_and_a_suite_read_their_buildspec_files_from_the_source(write_manifest):
    text = with_changes(
        build={
            "buildspec": "ci/buildspec.yml",
            "env": {"STAGE": "ci"},
            "secrets": {"TOKEN": "secretsmanager:ci/token"},
            "cache": "s3",
            "compute": "large",
        },
        tests=[{"name": "unit", "buildspec": ".codebuild/unit.yml"}, {"name": "lint", "commands": ["ruff check ."]}],
    )
    result = _compile(write_manifest, text)
    assert not result.failed(), _codes(result)
    build = _project(result, "BuildProject")
    assert build["Source"] == {"Type": "CODEPIPELINE", "BuildSpec": "ci/buildspec.yml"}
    # what the manifest still provides: image and size, variables and secrets, cache location, role
    variables = {v["Name"]: v["Type"] for v in build["Environment"]["EnvironmentVariables"]}
    assert variables == {"STAGE": "PLAINTEXT", "TOKEN": "SECRETS_MANAGER"}
    assert build["Environment"]["ComputeType"] == "BUILD_GENERAL1_LARGE"
    assert build["Cache"]["Type"] == "S3"
    assert _project(result, "TestUnitProject")["Source"]["BuildSpec"] == ".codebuild/unit.yml"
    # the other suite keeps its generated buildspec
    assert "ruff check ." in str(_project(result, "TestLintProject")["Source"]["BuildSpec"])


def test_a_buildspec_file_needs_no_language_with_an_image(write_manifest):
    text = with_changes(
        language=None, build={"image": "public.ecr.aws/docker/library/node:20", "buildspec": "buildspec.yml"}
    )
    result = _compile(write_manifest, text)
    assert not result.failed(), _codes(result)
    assert _project(result, "BuildProject")["Source"]["BuildSpec"] == "buildspec.yml"


@pytest.mark.parametrize(
    ("build", "path"),
    [
        ({"buildspec": "buildspec.yml", "commands": ["make"]}, ("build", "commands")),
        ({"buildspec": "buildspec.yml", "install": ["pip install ."]}, ("build", "install")),
        ({"buildspec": "buildspec.yml", "artifacts": {"files": ["dist/**/*"]}}, ("build", "artifacts")),
        ({"buildspec": "buildspec.yml", "matrix": {"PY": ["3.11", "3.12"]}}, ("build", "matrix")),
    ],
)
def test_fields_the_buildspec_file_replaces_are_mc228(write_manifest, build, path):
    result = _compile(write_manifest, with_changes(build=build))
    assert _codes(result) == [("MC228", path)]
    assert result.diagnostics[0].line > 0 and "buildspec.yml" in result.diagnostics[0].hint


def test_suite_commands_with_a_buildspec_file_are_mc228(write_manifest):
    result = _compile(write_manifest, with_changes(tests=[{"name": "unit", "buildspec": "t.yml", "commands": ["x"]}]))
    assert _codes(result) == [("MC228", ("tests", 0, "commands"))]


DOCKER = """\
manifest: 1
name: demo-service
team: platform
language: docker
source: {repository: demo-service}
build: {buildspec: buildspec.yml}
targets:
  - {name: api, type: ecs, cluster: c, service: s, container: app, image_repository: demo}
environments:
  - name: staging
"""

LAMBDA = """\
manifest: 1
name: demo-service
team: platform
language: python
source: {repository: demo-service}
build: {buildspec: buildspec.yml}
targets:
  - {name: fn, type: lambda, template: template.yaml}
environments:
  - name: staging
"""

FEATURE = """\
manifest: 1
name: demo-service
team: platform
language: python
source: {repository: demo-service, feature_branches: {patterns: ["feature/*"]}}
build: {buildspec: buildspec.yml}
targets:
  - {name: app, template: deploy/app.yaml}
environments:
  - name: staging
"""


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        (DOCKER, ("build", "buildspec"), "candidate-<commit>"),
        (LAMBDA, ("targets", 0), "aws cloudformation package"),
        (FEATURE, ("source", "feature_branches"), "feature-branch builds"),
    ],
)
def test_what_only_the_generated_buildspec_does_is_mc229(write_manifest, text, path, words):
    result = _compile(write_manifest, text)
    errors = [d for d in result.diagnostics if d.is_error]
    assert [(d.code, d.path) for d in errors] == [("MC229", path)]
    assert words in errors[0].message and errors[0].line > 0


def test_a_suite_with_its_own_buildspec_cannot_run_on_feature_branches(write_manifest):
    text = FEATURE.replace("build: {buildspec: buildspec.yml}\n", "tests:\n  - {name: unit, buildspec: t.yml}\n")
    result = _compile(write_manifest, text)
    assert _codes(result) == [("MC229", ("tests", 0, "buildspec"))]
    text = text.replace('patterns: ["feature/*"]', 'patterns: ["feature/*"], tests: []')
    assert not _compile(write_manifest, text).diagnostics


@pytest.mark.parametrize("path", ["../outside.yml", "/etc/buildspec.yml", "ci/../../x.yml", "ci/build spec.yml"])
def test_a_buildspec_path_outside_the_source_is_refused(write_manifest, path):
    result = _compile(write_manifest, with_changes(build={"buildspec": path}))
    assert [(d.code, d.path) for d in result.diagnostics] == [("MC105", ("build", "buildspec"))]
