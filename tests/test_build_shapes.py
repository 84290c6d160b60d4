"""Build shapes (README "Build shapes"): report groups of the build itself, Windows images,
secondary artifacts, heterogeneous batches and images per test suite."""

from __future__ import annotations

import yaml
from conftest import with_changes
from iam_sim import allowed, resolve
from manifestc import api


def _compile(write_manifest, text: str):
    return api.compile_manifest(write_manifest(text), lint=False)


def _resources(result) -> dict:
    return result.templates["pipeline.yaml"]["Resources"]


def _project(result, logical_id: str) -> dict:
    return _resources(result)[logical_id]["Properties"]


def _buildspec(result, logical_id: str) -> dict:
    spec = _project(result, logical_id)["Source"]["BuildSpec"]
    text = spec["Fn::Sub"] if isinstance(spec, dict) else spec
    return yaml.safe_load(text)


def _statements(result, role: str) -> list[dict]:
    props = _resources(result)[role]["Properties"]
    return [s for p in props.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def _codes(result) -> list[tuple[str, tuple]]:
    return [(d.code, d.path) for d in result.diagnostics]


def _errors(result, code: str) -> list:
    return [d for d in result.diagnostics if d.code == code]


# --- (d) report groups of the build itself -------------------------------------------------


def test_build_reports_get_their_own_groups_in_the_build_buildspec(write_manifest):
    text = with_changes(
        build={"reports": ["out/unit.xml"], "coverage": "out/coverage/cobertura.xml"},
        tests=[{"name": "e2e", "after": "staging", "commands": ["pytest e2e"]}],
    )
    result = _compile(write_manifest, text)
    assert not result.failed(), _codes(result)
    resources = _resources(result)
    assert resources["BuildReports"]["Properties"]["Name"] == "demo-service-build-tests"
    assert resources["BuildReports"]["Properties"]["Type"] == "TEST"
    assert resources["BuildCoverage"]["Properties"]["Type"] == "CODE_COVERAGE"
    spec = _buildspec(result, "BuildProject")
    assert spec["reports"] == {
        "${BuildReports.Arn}": {"files": ["out/unit.xml"], "file-format": "JUNITXML"},
        "${BuildCoverage.Arn}": {"files": ["out/coverage/cobertura.xml"], "file-format": "COBERTURAXML"},
    }
    # the build role may write exactly its own groups; the suite's role may not
    build = _statements(result, "BuildRole")
    arn = "arn:aws:codebuild:eu-west-1:123456789012:report-group/demo-service-build-tests"
    attributes = {"BuildReports.Arn": arn}
    resolved = [resolve(s, attributes) for s in build]
    assert allowed(resolved, "codebuild:BatchPutTestCases", arn)
    suite = [resolve(s, attributes) for s in _statements(result, "TestE2eRole")]
    assert not allowed(suite, "codebuild:BatchPutTestCases", arn)


def test_build_report_format_from_the_extension(write_manifest):
    result = _compile(write_manifest, with_changes(build={"reports": ["TestResults/unit.trx"]}))
    assert not result.failed(), _codes(result)
    spec = _buildspec(result, "BuildProject")
    assert spec["reports"]["${BuildReports.Arn}"]["file-format"] == "VISUALSTUDIOTRX"


def test_build_reports_and_a_suite_named_build_collide(write_manifest):
    text = with_changes(build={"reports": ["out/unit.xml"]}, tests=[{"name": "build", "commands": ["pytest"]}])
    result = _compile(write_manifest, text)
    assert result.failed()
    [error] = _errors(result, "MC370")
    assert error.path == ("tests", 0, "name")
    assert error.line > 0


def test_a_report_format_without_reports_is_an_error(write_manifest):
    result = _compile(write_manifest, with_changes(build={"report_format": "JUNITXML"}))
    [error] = _errors(result, "MC370")
    assert error.path == ("build", "report_format")
