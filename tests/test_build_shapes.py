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


# --- (a) Windows images --------------------------------------------------------------------

WINDOWS = {"os": "windows-2019", "compute": "medium"}


def test_a_windows_build_runs_windows_server_2019_with_powershell(write_manifest):
    text = with_changes(
        language="dotnet",
        build={**WINDOWS, "packages": {"codeartifact": {"domain": "acme", "repository": "nuget-store"}}},
        tests=[{"name": "unit"}],
        quality_gates=["secrets-scan"],
    )
    result = _compile(write_manifest, text)
    assert not result.failed(), _codes(result)
    build = _project(result, "BuildProject")["Environment"]
    assert build["Type"] == "WINDOWS_SERVER_2019_CONTAINER"
    assert build["Image"] == "aws/codebuild/windows-base:2019-3.0"
    assert build["ComputeType"] == "BUILD_GENERAL1_MEDIUM"
    spec = _buildspec(result, "BuildProject")
    # PowerShell is the default shell of Windows images: no `shell: bash`, no runtime-versions
    assert "env" not in spec
    assert "runtime-versions" not in spec["phases"]["install"]
    login = spec["phases"]["install"]["commands"][:2]
    assert login[0].startswith("$env:AWS_ACCOUNT_ID = (aws sts get-caller-identity")
    assert "--tool dotnet" in login[1] and "$env:AWS_ACCOUNT_ID" in login[1] and "export" not in " ".join(login)
    # the suite runs on the same Windows image
    assert _project(result, "TestUnitProject")["Environment"]["Type"] == "WINDOWS_SERVER_2019_CONTAINER"
    # the gate runs on the preset's Linux image, in bash
    gate = _project(result, "GateSecretsScanProject")["Environment"]
    assert gate["Type"] == "LINUX_CONTAINER" and gate["Image"] == "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    assert _buildspec(result, "GateSecretsScanProject")["env"]["shell"] == "bash"


def test_windows_2022_needs_a_fleet_and_runs_on_it(write_manifest):
    result = _compile(write_manifest, with_changes(language="dotnet", build={"os": "windows-2022", "compute": "large"}))
    [error] = _errors(result, "MC371")
    assert error.path == ("build", "os") and "fleet" in error.message
    fleet = "arn:aws:codebuild:eu-west-1:123456789012:fleet/windows-large:0f1e2d3c"
    text = with_changes(language="dotnet", build={"os": "windows-2022", "compute": "large", "fleet": fleet})
    result = _compile(write_manifest, text)
    assert not result.failed(), _codes(result)
    environment = _project(result, "BuildProject")["Environment"]
    assert environment["Type"] == "WINDOWS_SERVER_2022_CONTAINER"
    assert environment["Image"] == "aws/codebuild/windows-base:2022-1.0"
    assert environment["Fleet"] == {"FleetArn": fleet}


def test_what_a_windows_build_cannot_do_is_located(write_manifest):
    text = with_changes(
        language="dotnet",
        build={"os": "windows-2019", "compute": "small", "cache": "s3", "privileged": True},
        targets=[
            {"name": "app", "template": "deploy/app.yaml", "package": True},
            {
                "name": "migrate",
                "type": "commands",
                "commands": ["./migrate.sh"],
                "permissions": {
                    "statements": [{"actions": ["s3:ListBucket"], "resources": ["arn:aws:s3:::demo-data"]}]
                },
            },
        ],
        environments=[{"name": "staging"}],
    )
    result = _compile(write_manifest, text)
    paths = {d.path for d in _errors(result, "MC371")}
    assert ("build", "compute") in paths
    assert ("build", "cache") in paths
    assert ("build", "privileged") in paths
    assert ("targets", 0) in paths
    assert ("targets", 1, "commands") in paths
    assert all(d.line > 0 for d in _errors(result, "MC371"))


def test_a_windows_image_on_a_linux_build_is_an_error(write_manifest):
    text = with_changes(language="dotnet", build={"image": "aws/codebuild/windows-base:2019-3.0"})
    [error] = _errors(_compile(write_manifest, text), "MC371")
    assert error.path == ("build", "image") and "windows-2019" in error.hint


def test_a_bash_preset_and_a_runtime_on_windows_are_warnings(write_manifest):
    text = with_changes(language="python", runtime="3.12", build=WINDOWS)
    result = _compile(write_manifest, text)
    assert not result.failed(), _codes(result)
    assert [d.path for d in _errors(result, "MC691")] == [("language",)]
    assert [d.path for d in _errors(result, "MC692")] == [("runtime",)]


# --- (c) several output artifacts ----------------------------------------------------------

ARTIFACTS = {
    "commands": ["make all"],
    "artifacts": {"files": ["deploy/**/*"]},
    "secondary_artifacts": [
        {"name": "site", "files": ["**/*"], "base_directory": "dist"},
        {"name": "migrations", "files": ["db/**/*"]},
    ],
}


def _action(result, stage: str, name: str) -> dict:
    pipeline = _resources(result)["Pipeline"]["Properties"]
    stage = next(s for s in pipeline["Stages"] if s["Name"] == stage)
    return next(a for a in stage["Actions"] if a["Name"] == name)


def test_secondary_artifacts_are_outputs_of_the_build_and_inputs_of_chosen_targets(write_manifest):
    text = with_changes(
        build=ARTIFACTS,
        targets=[
            {"name": "app", "template": "deploy/app.yaml"},
            {"name": "web", "type": "s3", "bucket": "demo-site-{environment}", "build_artifact": "site"},
            {
                "name": "migrate",
                "type": "commands",
                "commands": ["./db/migrate.sh"],
                "build_artifact": "migrations",
                "permissions": {
                    "statements": [
                        {
                            "actions": ["rds:DescribeDBClusters"],
                            "resources": ["arn:aws:rds:us-east-1:111111111111:cluster:demo"],
                        }
                    ]
                },
            },
        ],
        environments=[{"name": "staging"}],
    )
    result = _compile(write_manifest, text)
    assert not result.failed(), _codes(result)
    build = _action(result, "Build", "Build")
    assert [o["Name"] for o in build["OutputArtifacts"]] == ["BuildOutput", "site", "migrations"]
    spec = _buildspec(result, "BuildProject")
    assert "secondary-artifacts" not in spec  # a key of `artifacts` (buildspec reference), not top level
    assert spec["artifacts"]["secondary-artifacts"] == {
        "BuildOutput": {"files": ["deploy/**/*"]},
        "site": {"files": ["**/*"], "base-directory": "dist"},
        "migrations": {"files": ["db/**/*"]},
    }
    assert _action(result, "staging", "web-deploy")["InputArtifacts"] == [{"Name": "site"}]
    assert _action(result, "staging", "migrate-deploy")["InputArtifacts"] == [{"Name": "migrations"}]
    prepare = _action(result, "staging", "app-prepare")
    assert prepare["InputArtifacts"] == [{"Name": "BuildOutput"}]
    assert prepare["Configuration"]["TemplatePath"] == "BuildOutput::deploy/app.yaml"


def test_a_stack_target_reads_its_template_from_the_chosen_artifact(write_manifest):
    text = with_changes(
        build=ARTIFACTS, targets=[{"name": "app", "template": "app.yaml", "build_artifact": "migrations"}]
    )
    result = _compile(write_manifest, text)
    assert not result.failed(), _codes(result)
    assert _action(result, "staging", "app-prepare")["Configuration"]["TemplatePath"] == "migrations::app.yaml"


def test_one_artifact_keeps_the_artifacts_section(write_manifest):
    result = _compile(write_manifest, with_changes(build={"commands": ["make"]}))
    spec = _buildspec(result, "BuildProject")
    assert "secondary-artifacts" not in spec and spec["artifacts"] == {"files": ["**/*"]}
    assert [o["Name"] for o in _action(result, "Build", "Build")["OutputArtifacts"]] == ["BuildOutput"]


def test_secondary_artifact_mistakes_are_located(write_manifest):
    build = {
        "commands": ["make"],
        "matrix": {"GOOS": ["linux", "darwin"]},
        "secondary_artifacts": [
            {"name": "BuildOutput", "files": ["a"]},
            {"name": "docs"},
        ],
    }
    targets = [
        {"name": "app", "template": "deploy/app.yaml", "build_artifact": "doc"},
        {
            "name": "svc",
            "type": "ecs",
            "cluster": "c",
            "service": "s",
            "container": "app",
            "image_repository": "demo",
            "build_artifact": "docs",
        },
    ]
    result = _compile(write_manifest, with_changes(build=build, targets=targets))
    mc372 = {d.path for d in _errors(result, "MC372")}
    assert ("build", "secondary_artifacts", 0, "name") in mc372
    assert ("build", "secondary_artifacts", 1) in mc372
    assert ("build", "secondary_artifacts") in mc372  # with the matrix
    mc373 = {d.path: d for d in _errors(result, "MC373")}
    assert mc373[("targets", 0, "build_artifact")].hint == "did you mean `docs`?"
    assert ("targets", 1, "build_artifact") in mc373


def test_with_a_buildspec_file_secondary_artifacts_are_names_only(write_manifest):
    build = {"buildspec": "ci/buildspec.yml", "secondary_artifacts": [{"name": "site"}]}
    targets = [{"name": "web", "type": "s3", "bucket": "demo-site", "build_artifact": "site"}]
    result = _compile(write_manifest, with_changes(build=build, targets=targets))
    assert not result.failed(), _codes(result)
    assert [o["Name"] for o in _action(result, "Build", "Build")["OutputArtifacts"]] == ["BuildOutput", "site"]
    text = with_changes(build={**build, "secondary_artifacts": [{"name": "site", "files": ["**/*"]}]})
    [error] = _errors(_compile(write_manifest, text), "MC372")
    assert error.path == ("build", "secondary_artifacts", 0)


# --- (b) heterogeneous batches ---------------------------------------------------------------

# a batch's combined artifact has no documented layout (MC346): its examples deploy the whole artifact
WHOLE_ARTIFACT = [{"name": "app", "type": "s3", "bucket": "demo-artifacts-{environment}"}]

BATCH = [
    {"name": "amd64", "env": {"TARGET": "linux-amd64"}},
    {"name": "arm64", "arch": "arm64", "compute": "large", "env": {"TARGET": "linux-arm64"}},
    {"name": "gpu", "compute": "gpu-large", "image": "public.ecr.aws/acme/cuda-build:12", "buildspec": "ci/gpu.yml"},
]


def test_a_heterogeneous_batch_is_a_build_list_with_each_builds_environment(write_manifest):
    result = _compile(write_manifest, with_changes(language="go", build={"batch": BATCH}, targets=WHOLE_ARTIFACT))
    assert not result.failed(), _codes(result)
    spec = _buildspec(result, "BuildProject")
    assert spec["batch"] == {
        "fast-fail": False,
        "build-list": [
            {
                "identifier": "amd64",
                "env": {
                    "type": "LINUX_CONTAINER",
                    "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
                    "compute-type": "BUILD_GENERAL1_SMALL",
                    "variables": {"TARGET": "linux-amd64"},
                },
            },
            {
                "identifier": "arm64",
                "env": {
                    "type": "ARM_CONTAINER",
                    "image": "aws/codebuild/amazonlinux-aarch64-standard:3.0",
                    "compute-type": "BUILD_GENERAL1_LARGE",
                    "variables": {"TARGET": "linux-arm64"},
                },
            },
            {
                "identifier": "gpu",
                "buildspec": "ci/gpu.yml",
                "env": {
                    "type": "LINUX_GPU_CONTAINER",
                    "image": "public.ecr.aws/acme/cuda-build:12",
                    "compute-type": "BUILD_GENERAL1_LARGE",
                },
            },
        ],
    }
    config = _project(result, "BuildProject")["BuildBatchConfig"]
    assert config["Restrictions"] == {
        "MaximumBuildsAllowed": 3,
        "ComputeTypesAllowed": ["BUILD_GENERAL1_LARGE", "BUILD_GENERAL1_SMALL"],
    }
    assert config["CombineArtifacts"] is True
    action = _action(result, "Build", "Build")["Configuration"]
    assert action["BatchEnabled"] == "true" and action["CombineArtifacts"] == "true"
    # the batch role may start, stop and retry builds of this project only; the build role may not
    batch = [resolve(s) for s in _statements(result, "BuildBatchRole")]
    project = "arn:aws:codebuild:eu-west-1:123456789012:project/demo-service-build"
    other = "arn:aws:codebuild:eu-west-1:123456789012:project/other-build"
    context = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"}
    batch = [resolve(s, context) for s in _statements(result, "BuildBatchRole")]
    for verb in ("StartBuild", "StopBuild", "RetryBuild"):
        assert allowed(batch, f"codebuild:{verb}", project)
        assert not allowed(batch, f"codebuild:{verb}", other)
    build = [resolve(s, context) for s in _statements(result, "BuildRole")]
    assert not allowed(build, "codebuild:StartBuild", project)


def test_depends_on_makes_a_build_graph(write_manifest):
    batch = [{"name": "lib"}, {"name": "app", "depends_on": ["lib"], "ignore_failure": True}]
    result = _compile(write_manifest, with_changes(build={"batch": batch}, targets=WHOLE_ARTIFACT))
    assert not result.failed(), _codes(result)
    graph = _buildspec(result, "BuildProject")["batch"]["build-graph"]
    assert graph[1]["depend-on"] == ["lib"] and graph[1]["ignore-failure"] is True


def test_batch_mistakes_are_located(write_manifest):
    batch = [
        {"name": "a", "depends_on": ["b"]},
        {"name": "b", "depends_on": ["a"]},
        {"name": "a"},
        {"name": "c", "arch": "arm64", "compute": "medium"},
        {"name": "d", "depends_on": ["zz"]},
        {"name": "e", "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/builder:1"},
    ]
    result = _compile(write_manifest, with_changes(build={"batch": batch, "matrix": {"X": ["1"]}}))
    errors = _errors(result, "MC374")
    paths = [d.path for d in errors]
    assert ("build", "batch", 2, "name") in paths
    assert ("build", "batch", 3, "compute") in paths
    assert ("build", "batch", 4, "depends_on") in paths
    assert ("build", "batch", 5, "image") in paths
    assert any("cycle" in d.message and "a -> b -> a" in d.message for d in errors)
    assert any("matrix" in d.message for d in errors)


def test_runtime_versions_on_a_custom_image_is_a_warning(write_manifest):
    batch = [
        {"name": "custom", "image": "public.ecr.aws/acme/builder:3"},
        {"name": "own", "image": "x/y:1", "buildspec": "ci/own.yml"},
    ]
    result = _compile(write_manifest, with_changes(build={"batch": batch}, targets=WHOLE_ARTIFACT))
    assert not result.failed(), _codes(result)
    assert [d.path for d in _errors(result, "MC693")] == [("build", "batch", 0, "image")]


# --- (e) an image per test suite -------------------------------------------------------------


def test_a_suite_runs_on_its_own_image_and_size(write_manifest):
    tests = [
        {"name": "unit"},
        {
            "name": "browser",
            "after": "staging",
            "image": "mcr.microsoft.com/playwright:v1.47.0-jammy",
            "compute": "large",
        },
        {"name": "arm", "arch": "arm64"},
    ]
    result = _compile(write_manifest, with_changes(tests=tests))
    assert not result.failed(), _codes(result)
    build = _project(result, "BuildProject")["Environment"]
    assert _project(result, "TestUnitProject")["Environment"]["Image"] == build["Image"]
    browser = _project(result, "TestBrowserProject")["Environment"]
    assert browser["Image"] == "mcr.microsoft.com/playwright:v1.47.0-jammy"
    assert browser["ComputeType"] == "BUILD_GENERAL1_LARGE" and browser["Type"] == "LINUX_CONTAINER"
    # a custom image gets no runtime-versions; a curated one keeps the preset's runtime
    assert "runtime-versions" not in _buildspec(result, "TestBrowserProject")["phases"].get("install", {})
    arm = _project(result, "TestArmProject")["Environment"]
    assert arm["Type"] == "ARM_CONTAINER" and arm["Image"] == "aws/codebuild/amazonlinux-aarch64-standard:3.0"
    assert _buildspec(result, "TestArmProject")["phases"]["install"]["runtime-versions"] == {"python": "3.12"}


def test_a_private_ecr_suite_image_is_pulled_with_the_suites_role_only(write_manifest):
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/e2e-runner:4"
    result = _compile(write_manifest, with_changes(tests=[{"name": "e2e", "image": image}, {"name": "unit"}]))
    assert not result.failed(), _codes(result)
    assert _project(result, "TestE2eProject")["Environment"]["ImagePullCredentialsType"] == "SERVICE_ROLE"
    repo = "arn:aws:ecr:eu-west-1:123456789012:repository/e2e-runner"
    context = {"AWS::Partition": "aws"}
    assert allowed([resolve(s, context) for s in _statements(result, "TestE2eRole")], "ecr:BatchGetImage", repo)
    assert not allowed([resolve(s, context) for s in _statements(result, "TestUnitRole")], "ecr:BatchGetImage", repo)


def test_a_linux_suite_next_to_a_windows_build(write_manifest):
    text = with_changes(
        language="dotnet",
        build={"os": "windows-2019", "compute": "medium", "install": ["nuget restore App.sln"]},
        tests=[{"name": "api", "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0"}],
    )
    result = _compile(write_manifest, text)
    assert not result.failed(), _codes(result)
    suite = _project(result, "TestApiProject")["Environment"]
    assert suite["Type"] == "LINUX_CONTAINER" and suite["ComputeType"] == "BUILD_GENERAL1_MEDIUM"
    spec = _buildspec(result, "TestApiProject")
    assert spec["env"]["shell"] == "bash"
    # the preset's install, not the build's PowerShell one
    assert spec["phases"]["install"]["commands"] == ["dotnet restore"]
    assert spec["phases"]["install"]["runtime-versions"] == {"dotnet": "8.0"}


def test_suite_image_mistakes_are_located(write_manifest):
    tests = [
        {"name": "a", "arch": "arm64", "compute": "medium"},
        {"name": "b", "image": "aws/codebuild/amazonlinux-aarch64-standard:3.0", "arch": "x86_64"},
        {"name": "c", "image": "aws/codebuild/windows-base:2019-3.0"},
        {"name": "d", "image": "public.ecr.aws/acme/e2e:1"},
    ]
    source = {
        "repository": "demo-service",
        "provider": "codestar",
        "connection_arn": "arn:aws:codestar-connections:eu-west-1:123456789012:connection/abc-123",
        "feature_branches": {"patterns": ["feature/*"]},
    }
    result = _compile(write_manifest, with_changes(tests=tests, source=source))
    paths = {d.path for d in _errors(result, "MC375")}
    assert paths == {("tests", 0, "compute"), ("tests", 1, "arch"), ("tests", 2, "image"), ("tests", 3, "image")}


def test_the_multi_artifact_example_migrations_may_read_the_cluster_secret():
    """Review finding B8: the RDS Data API reads the cluster's credentials from Secrets Manager as
    the caller (Aurora User Guide, "Authorizing access to the Amazon RDS Data API"), so the example's
    migrate job needs secretsmanager:GetSecretValue on that secret, not only rds-data:ExecuteStatement."""
    from pathlib import Path

    result = api.compile_manifest(Path(__file__).parent.parent / "manifests" / "multi-artifact.yaml", lint=False)
    assert not result.failed(), _codes(result)
    statements = [resolve(s) for s in _statements(result, "CommandsStagingMigrateRole")]
    account = "arn:aws:{}:eu-west-1:123456789012:"
    cluster = account.format("rds") + "cluster:tenant-portal-staging"
    secret = account.format("secretsmanager") + "secret:rds-db-credentials/tenant-portal-staging-AbCdEf"
    assert allowed(statements, "rds-data:ExecuteStatement", cluster)
    assert allowed(statements, "secretsmanager:GetSecretValue", secret)
    # the staging job reads staging's secret only
    assert not allowed(statements, "secretsmanager:GetSecretValue", secret.replace("staging", "production"))


def test_a_target_reading_a_file_of_a_combined_batch_artifact_is_an_error(write_manifest):
    """Review finding Q5: CodeBuild combines a batch's primary artifacts into one ZIP (CodeBuild User
    Guide, "CodePipeline integration with CodeBuild and batch builds") without documenting where each
    build's files are, so a target reading a named file of it cannot be given a path (MC346)."""
    ecs = {
        "name": "svc",
        "type": "ecs",
        "cluster": "c",
        "service": "s",
        "container": "app",
        "image_repository": "demo",
    }
    flow = {"name": "flow", "type": "stepfunctions", "state_machine": "m", "input_file": "input.json"}
    site = {"name": "site", "type": "s3", "bucket": "demo-site-{environment}"}  # the whole artifact: fine
    targets = [{"name": "app", "template": "deploy/app.yaml"}, ecs, flow, site]
    for field, value in (("batch", BATCH), ("matrix", {"GOARCH": ["amd64", "arm64"]})):
        build = {field: value, "privileged": True, "commands": ['docker build --tag "$IMAGE_URI:latest" .']}
        result = _compile(write_manifest, with_changes(language="go", build=build, targets=targets))
        assert [(d.path, field in d.message) for d in _errors(result, "MC346")] == [
            (("targets", 0, "template"), True),
            (("targets", 1, "type"), True),
            (("targets", 2, "input_file"), True),
        ]
    # the same targets without a batch are fine
    build = {"privileged": True, "commands": ['docker build --tag "$IMAGE_URI:latest" .']}
    result = _compile(write_manifest, with_changes(language="go", build=build, targets=targets))
    assert not result.failed(), _codes(result)
