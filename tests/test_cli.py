"""The CLI through click's CliRunner: exit codes, output formats, and nothing written on failure."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from conftest import MINIMAL
from manifestc.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


BAD = MINIMAL.replace("team: platform\n", "team: platform\nlanguage: python\n")  # duplicate key


def test_build_writes_templates_and_exits_0(runner, write_manifest, tmp_path):
    path = write_manifest()
    result = runner.invoke(cli, ["build", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "out" / "demo-service").iterdir())
    assert files == ["build.json", "pipeline.yaml"]
    report = json.loads((tmp_path / "out" / "demo-service" / "build.json").read_text())
    assert report["lint"] == {"enabled": True, "findings": 0}


def test_default_path_is_manifest_yaml(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifest.yaml").write_text(MINIMAL)
    result = runner.invoke(cli, ["build", "--no-lint"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "demo-service" / "pipeline.yaml").exists()


def test_missing_default_manifest_is_a_usage_error(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["build"])
    assert result.exit_code == 2
    assert "manifestc init" in result.output


def test_errors_exit_1_with_located_text_and_write_nothing(runner, write_manifest, tmp_path):
    path = write_manifest(BAD)
    out = tmp_path / "out"
    result = runner.invoke(cli, ["build", str(path), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{path}:5:1: error[MC007]: duplicate key 'language'" in result.output
    assert "Traceback" not in result.output
    assert not (out / "demo-service").exists()


def test_json_format(runner, write_manifest, tmp_path):
    result = runner.invoke(cli, ["validate", str(write_manifest(BAD)), "--diagnostics", "json"])
    assert result.exit_code == 1
    [diag] = json.loads(result.stdout)["diagnostics"]
    assert (diag["code"], diag["line"], diag["column"], diag["severity"]) == ("MC007", 5, 1, "error")


def test_sarif_format(runner, write_manifest):
    result = runner.invoke(cli, ["validate", str(write_manifest(BAD)), "--diagnostics", "sarif"])
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    [finding] = sarif["runs"][0]["results"]
    assert finding["ruleId"] == "MC007"
    assert finding["locations"][0]["physicalLocation"]["region"] == {"startLine": 5, "startColumn": 1}


def test_github_format(runner, write_manifest):
    path = write_manifest(BAD)
    result = runner.invoke(cli, ["validate", str(path), "--diagnostics", "github"])
    assert result.stdout.startswith(f"::error file={path},line=5,col=1,title=MC007::[MC007] duplicate key")


def test_validate_writes_nothing(runner, write_manifest, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_manifest()
    result = runner.invoke(cli, ["validate", "manifest.yaml"])
    assert result.exit_code == 0
    assert "1 manifest(s) valid" in result.output
    assert not (tmp_path / "out").exists()


def test_format_json_templates(runner, write_manifest, tmp_path):
    result = runner.invoke(cli, ["build", str(write_manifest()), "--out", str(tmp_path / "o"), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "o" / "demo-service" / "pipeline.json").read_text())
    assert data["AWSTemplateFormatVersion"] == "2010-09-09"


def test_strict_fails_on_warnings(runner, write_manifest, tmp_path, monkeypatch):
    from manifestc import api
    from manifestc.diagnostics import Diagnostic, Severity

    real = api.check_manifest

    def with_warning(path, display=None, repo_root=None):
        result = real(path, display, repo_root)
        result.diagnostics.append(Diagnostic("MC212", Severity.WARNING, "a warning", result.file, 1, 1))
        return result

    monkeypatch.setattr(api, "check_manifest", with_warning)
    path = str(write_manifest())
    assert runner.invoke(cli, ["validate", path]).exit_code == 0
    assert runner.invoke(cli, ["validate", path, "--strict"]).exit_code == 1
    assert runner.invoke(cli, ["build", path, "--no-lint", "--strict", "--out", str(tmp_path / "o")]).exit_code == 1
    assert not (tmp_path / "o" / "demo-service").exists()


def test_init_writes_a_starter_that_builds(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["init", "--language", "python", "--name", "starter-app"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "manifest.yaml").read_text()
    assert text.startswith("# Pipeline manifest for manifestc")
    assert runner.invoke(cli, ["init"]).exit_code == 2  # refuses to overwrite
    assert runner.invoke(cli, ["build"]).exit_code == 0


def test_init_unknown_language(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["init", "--language", "cobol"])
    assert result.exit_code == 2 and "presets" in result.output


def test_schema_is_json_schema_matching_the_validator(runner):
    result = runner.invoke(cli, ["schema"])
    schema = json.loads(result.output)
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) == {"manifest", "name", "team", "source"}
    assert schema["properties"]["build"]["properties"]["compute"]["enum"][0] == "small"
    assert schema["additionalProperties"] is False
    assert schema["properties"]["environments"]["items"]["properties"]["approval"]["type"] == ["object", "boolean"]


def test_explain(runner):
    result = runner.invoke(cli, ["explain", "MC101"])
    assert result.exit_code == 0 and "unknown key" in result.output
    assert runner.invoke(cli, ["explain", "E3012"]).exit_code == 0
    assert runner.invoke(cli, ["explain", "MC999"]).exit_code == 2


def test_every_code_has_an_explanation():
    from manifestc.diagnostics import CODES

    for code, info in CODES.items():
        assert info.title and len(info.explain) > 20, code


def test_unknown_option_is_a_usage_error(runner):
    assert runner.invoke(cli, ["build", "--frmat", "yaml"]).exit_code == 2


def test_incremental_build_skips_unchanged_manifests(runner, write_manifest, tmp_path):
    path = write_manifest()
    out = tmp_path / "out"
    first = runner.invoke(cli, ["build", str(path), "--out", str(out), "--no-lint"])
    assert "wrote 2 files" in first.output
    second = runner.invoke(cli, ["build", str(path), "--out", str(out), "--no-lint"])
    assert second.exit_code == 0 and "up to date" in second.output
    (out / "demo-service" / "pipeline.yaml").write_text("tampered")
    third = runner.invoke(cli, ["build", str(path), "--out", str(out), "--no-lint"])
    assert "wrote 2 files" in third.output
    assert yaml.safe_load((out / "demo-service" / "pipeline.yaml").read_text())["Resources"]


def test_duplicate_pipeline_names_in_one_build(runner, write_manifest, tmp_path):
    write_manifest(name="a.yaml")
    write_manifest(name="b.yaml")
    checked = runner.invoke(cli, ["validate", str(tmp_path)])
    assert checked.exit_code == 1 and "MC502" in checked.output
    result = runner.invoke(cli, ["build", str(tmp_path), "--out", str(tmp_path / "out"), "--no-lint"])
    assert result.exit_code == 1 and "MC502" in result.output
    assert not (tmp_path / "out" / "demo-service").exists()


@pytest.mark.parametrize("language", ["python", "node", "java", "go", "dotnet", "docker"])
def test_init_starter_validates_for_every_language(runner, tmp_path, monkeypatch, language):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(cli, ["init", "--language", language, "--name", f"starter-{language}"]).exit_code == 0
    result = runner.invoke(cli, ["validate"])
    assert result.exit_code == 0, result.output


def test_exported_schema_accepts_every_example_and_rejects_bad_input(runner):
    import jsonschema
    from conftest import ROOT

    schema = json.loads(runner.invoke(cli, ["schema"]).output)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path.name
    bad = yaml.safe_load("manifest: 1\nname: x\nteam: t\nsource: {repository: r}\nbuld: {}\n")
    messages = [e.message for e in validator.iter_errors(bad)]
    assert any("'buld' was unexpected" in m for m in messages) and any("too short" in m for m in messages)
