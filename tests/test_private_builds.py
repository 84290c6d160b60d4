"""Private builds and quality gates that run (issue 10): registry logins before installs, pinned
gate tools installed through CodeArtifact, reachability of every command's host, network.egress,
the AWS-owned download buckets, and readiness check 2 (check/reachability.py)."""

from __future__ import annotations

import copy

import yaml
from conftest import build_manifests, with_changes
from manifestc.api import check_manifest
from manifestc.check.reachability import check_private_reachability
from manifestc.schemas_data import quality_gates

NETWORK = {
    "vpc_id": "vpc-0123456789abcdef0",
    "subnets": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"],
    "route_tables": ["rtb-0cccccccccccccccc"],
}
PACKAGES = {"codeartifact": {"domain": "private", "repository": "store"}}


def private(**changes) -> str:
    network = {**NETWORK, **changes.pop("network", {})}
    build_section = {"packages": PACKAGES, **changes.pop("build", {})}
    return with_changes(network=network, build=build_section, **changes)


def codes(write_manifest, text: str) -> list[tuple[str, str, str]]:
    found = check_manifest(write_manifest(text)).diagnostics
    return sorted((d.severity.value, d.code, d.dotted_path()) for d in found)


def spec(resources: dict, logical_id: str) -> dict:
    text = resources[logical_id]["Properties"]["Source"]["BuildSpec"]
    return yaml.safe_load(text["Fn::Sub"] if isinstance(text, dict) else text)


def mkdir(path):
    path.mkdir()
    return path


def first(commands: list[str], needle: str) -> int:
    return next(i for i, c in enumerate(commands) if needle in c)


def test_codeartifact_login_precedes_every_install(tmp_path):
    text = private(
        source={"repository": "demo-service", "feature_branches": {"patterns": ["feature/*"]}},
        tests=[{"name": "unit"}],
        quality_gates=["lint", "sast"],
    )
    files, report = build_manifests(tmp_path, text)
    assert not report.failed(), report.all_diagnostics()
    resources = files["demo-service/pipeline.yaml"]["Resources"]
    for project in ("BuildProject", "TestUnitProject", "FeatureProject", "GateLintProject", "GateSastProject"):
        phases = spec(resources, project)["phases"]
        install = phases["install"]["commands"]
        login = first(install, "aws codeartifact login --tool pip")
        later = [c for phase in ("install", "pre_build", "build") for c in phases.get(phase, {}).get("commands", [])]
        installs = [i for i, c in enumerate(later) if "pip install" in c or "pip wheel" in c]
        assert installs and min(installs) > login, (project, later)
        assert "pre_build" not in phases or not any("codeartifact" in c for c in phases["pre_build"]["commands"])


def test_gate_tools_are_pinned_installed_after_login_and_run_on_the_build_runtime(tmp_path):
    text = private(
        language="node",
        runtime="20",
        quality_gates=["lint", "sast", "iac-scan", "secrets-scan"],
        build={"packages": {"codeartifact": {**PACKAGES["codeartifact"], "pypi_repository": "pypi-store"}}},
    )
    files, report = build_manifests(tmp_path, text)
    assert not report.failed(), report.all_diagnostics()
    resources = files["demo-service/pipeline.yaml"]["Resources"]
    sast = spec(resources, "GateSastProject")["phases"]
    assert sast["install"]["runtime-versions"] == {"nodejs": "20"}
    install = sast["install"]["commands"]
    # a node build logs npm in; the pip-installed semgrep needs pip logged in too, before its install
    assert first(install, "--tool npm") < first(install, "semgrep==") and first(install, "--tool pip") < first(
        install, "semgrep=="
    )
    run = " ".join(sast["build"]["commands"])
    assert "--config auto" not in run and "--metrics off" in run and ".semgrep.yml" in run
    lint = spec(resources, "GateLintProject")["phases"]
    assert any(c.startswith("npm install --global eslint@") for c in lint["install"]["commands"])
    # the gate's `npm ci` (build phase) removes node_modules: the pinned eslint is installed outside it
    assert "npm ci" in lint["build"]["commands"]
    assert not any("--no-save" in c for c in lint["install"]["commands"] + lint["build"]["commands"])
    every_command = [
        c
        for r in resources.values()
        if r["Type"] == "AWS::CodeBuild::Project"
        for phase in spec(resources, next(k for k, v in resources.items() if v is r))["phases"].values()
        for c in phase.get("commands", [])
    ]
    assert not [c for c in every_command if "@latest" in c or ":latest " in c]


def test_every_gate_tool_has_a_pinned_version_or_ships_with_the_toolchain():
    for name, tool in quality_gates()["tools"].items():
        assert tool["source"] in {"pypi", "npm", "maven", "go", "image", "preinstalled"}, name
        if tool["source"] != "preinstalled":
            assert tool["version"] and tool["version"][0].isdigit(), name
        assert tool["page"], name


def test_npm_audit_asks_the_public_registry_and_is_refused_in_a_private_build(write_manifest):
    public = check_manifest(write_manifest(with_changes(language="node", quality_gates=["dependency-scan"])))
    [gate] = public.manifest.quality_gates
    assert "--registry=https://registry.npmjs.org/" in gate.commands[0]
    found = codes(write_manifest, private(language="node", quality_gates=["dependency-scan"]))
    assert ("error", "MC275", "quality_gates[0]") in found


def test_owasp_dependency_check_needs_an_nvd_key_which_only_its_gate_receives(write_manifest, tmp_path):
    java = {"language": "java", "runtime": "corretto17", "quality_gates": ["sast", "dependency-scan"]}
    assert ("error", "MC277", "quality_gates[1]") in codes(write_manifest, with_changes(**java))
    text = with_changes(**java, build={"secrets": {"NVD_API_KEY": "secretsmanager:ci/nvd", "DB": "ssm:/db"}})
    files, report = build_manifests(tmp_path, text)
    assert not report.failed(), report.all_diagnostics()
    resources = files["demo-service/pipeline.yaml"]["Resources"]
    env = resources["GateDependencyScanProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    assert [v["Name"] for v in env if v["Type"] != "PLAINTEXT"] == ["NVD_API_KEY"]
    sast_env = resources["GateSastProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    assert all(v["Type"] == "PLAINTEXT" for v in sast_env)
    phases = spec(resources, "GateDependencyScanProject")["phases"]
    assert phases["install"]["runtime-versions"] == {"java": "corretto17"}
    assert "dependency-check-maven:12.1.0:check" in phases["build"]["commands"][0]


def test_user_commands_reaching_public_hosts_are_located_errors(write_manifest):
    text = private(build={"packages": None, "commands": ["pip install foo", "curl -fsS https://example.com/x"]})
    manifest = write_manifest(text)
    found = [d for d in check_manifest(manifest).diagnostics if d.code == "MC275"]
    by_path = {d.dotted_path(): d for d in found}
    assert "build.commands[0]" in by_path and "build.commands[1]" in by_path
    lines = manifest.read_text().splitlines()
    assert "pip install foo" in lines[by_path["build.commands[0]"].line - 1]
    assert "pypi.org" in by_path["build.commands[0]"].message
    assert "example.com" in by_path["build.commands[1]"].message
    # with CodeArtifact pip installs are fine; a Go module download is not (CodeArtifact has no Go)
    assert not [c for c in codes(write_manifest, private(build={"commands": ["pip install foo"]})) if c[0] == "error"]
    go = codes(write_manifest, private(language="go", runtime="1.22"))
    assert ("error", "MC275", "language") in go


def test_internet_egress_or_own_security_groups_lift_the_errors(write_manifest):
    text = private(language="node", quality_gates=["dependency-scan"])
    nat = private(
        language="node",
        quality_gates=["dependency-scan"],
        network={"egress": [{"port": 443, "cidr": "0.0.0.0/0", "description": "HTTPS through the NAT"}]},
    )
    own = private(
        language="node", quality_gates=["dependency-scan"], network={"security_groups": ["sg-0123456789abcdef0"]}
    )
    assert ("error", "MC275", "quality_gates[0]") in codes(write_manifest, text)
    assert not [c for c in codes(write_manifest, nat) if c[1] == "MC275"]
    assert not [c for c in codes(write_manifest, own) if c[1] == "MC275"]


def test_egress_rules_are_emitted_and_validated(tmp_path, write_manifest):
    rule = {"port": 5432, "cidr": "10.20.0.0/16", "description": "the database"}
    files, report = build_manifests(tmp_path, private(network={"egress": [rule]}))
    assert not report.failed(), report.all_diagnostics()
    egress = files["demo-service/pipeline.yaml"]["Resources"]["BuildSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert egress[-1] == {
        "CidrIp": "10.20.0.0/16",
        "Description": "the database",
        "FromPort": 5432,
        "IpProtocol": "tcp",
        "ToPort": 5432,
    }
    both = {**rule, "prefix_list": "pl-0123456789abcdef0"}
    assert ("error", "MC276", "network.egress[0]") in codes(write_manifest, private(network={"egress": [both]}))
    with_groups = private(network={"egress": [rule], "security_groups": ["sg-0123456789abcdef0"]})
    assert ("error", "MC276", "network.egress[0]") in codes(write_manifest, with_groups)


def test_endpoints_codebuild_for_reports_and_codecommit_only_when_something_clones(write_manifest):
    def services(text):
        return {e.service for e in check_manifest(write_manifest(text)).manifest.network.endpoints}

    plain = services(private())
    assert "codecommit" not in plain and "git-codecommit" not in plain and "codebuild" not in plain
    reported = services(private(tests=[{"name": "unit"}]))
    assert "codebuild" in reported
    feature = services(private(source={"repository": "demo-service", "feature_branches": {"patterns": ["f/*"]}}))
    assert {"codecommit", "git-codecommit"} <= feature
    user_call = services(private(build={"post_build": ["aws ecs update-service --cluster c --service s"]}))
    assert "ecs" in user_call


def test_s3_gateway_policy_allows_the_aws_owned_download_buckets(tmp_path):
    docker = private(name="images", language="docker", build={"image_repository": "team/app"})
    files, report = build_manifests(tmp_path, private(), docker)
    assert not report.failed(), report.all_diagnostics()
    shared = files["_shared/network-vpc-0123456789abcdef0.yaml"]
    assert "CodeArtifactAssetsBucketArn" in shared["Parameters"]
    s3 = next(
        r["Properties"]
        for r in shared["Resources"].values()
        if r["Type"] == "AWS::EC2::VPCEndpoint" and r["Properties"]["VpcEndpointType"] == "Gateway"
    )
    statements = {s["Sid"]: s for s in s3["PolicyDocument"]["Statement"]}
    owned = statements["AwsOwnedDownloadBuckets"]
    assert owned["Action"] == ["s3:GetObject"] and "Condition" not in owned
    resources = [r["Fn::Sub"] for r in owned["Resource"]]
    assert resources == [
        "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*",
        "${CodeArtifactAssetsBucketArn}/*",
    ]


def test_pip_tools_in_a_non_python_private_build_need_a_pypi_repository(write_manifest, tmp_path):
    # A CodeArtifact repository has one external connection: the node build's npm store cannot serve
    # semgrep or detect-secrets from PyPI, so without pypi_repository the gates are MC279 at the gate.
    node = {"language": "node", "runtime": "20", "quality_gates": ["lint", "sast", "secrets-scan"]}
    assert codes(write_manifest, private(**node)) == [
        ("error", "MC279", "quality_gates[1]"),
        ("error", "MC279", "quality_gates[2]"),
    ]
    with_pypi = {"codeartifact": {**PACKAGES["codeartifact"], "pypi_repository": "pypi-store"}}
    assert codes(write_manifest, private(build={"packages": with_pypi}, **node)) == []
    # a Python build's repository serves pip itself: pypi_repository there is an error at the field
    assert codes(write_manifest, private(build={"packages": with_pypi}, quality_gates=["sast"])) == [
        ("error", "MC279", "build.packages.codeartifact.pypi_repository")
    ]
    # with internet egress (a NAT) the pip tools fall back to public PyPI: no login to the npm store
    nat = {"egress": [{"port": 443, "cidr": "0.0.0.0/0", "description": "NAT"}]}
    text = private(network=nat, **node)
    assert codes(write_manifest, text) == []
    files, report = build_manifests(mkdir(tmp_path / "nat"), text)
    assert not report.failed(), report.all_diagnostics()
    sast = spec(files["demo-service/pipeline.yaml"]["Resources"], "GateSastProject")["phases"]["install"]["commands"]
    assert not any("--tool pip" in c for c in sast) and any("--tool npm" in c for c in sast)
    # with pypi_repository every job of the node build logs pip in to it (never to the npm store),
    # and the roles may read both repositories
    files, report = build_manifests(mkdir(tmp_path / "pypi"), private(build={"packages": with_pypi}, **node))
    assert not report.failed(), report.all_diagnostics()
    resources = files["demo-service/pipeline.yaml"]["Resources"]
    for project in ("BuildProject", "GateSastProject", "GateSecretsScanProject", "GateLintProject"):
        install = spec(resources, project)["phases"]["install"]["commands"]
        pip = [c for c in install if "--tool pip" in c]
        assert len(pip) == 1 and pip[0].endswith("--repository pypi-store"), (project, install)
    read = next(
        st
        for st in resources["GateSastRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if st.get("Sid") == "CodeArtifactRead"
    )
    assert any("repository/private/pypi-store" in str(r) for r in read["Resource"])


def test_readiness_check_refuses_pip_logged_in_to_the_language_repository(tmp_path, write_manifest):
    node = {"language": "node", "runtime": "20", "quality_gates": ["sast"]}
    with_pypi = {"codeartifact": {**PACKAGES["codeartifact"], "pypi_repository": "pypi-store"}}
    text = private(build={"packages": with_pypi}, **node)
    result = check_manifest(write_manifest(text))
    files, report = build_manifests(tmp_path, text)
    assert not report.failed(), report.all_diagnostics()
    template = files["demo-service/pipeline.yaml"]
    assert check_private_reachability(result.manifest, {"pipeline.yaml": template}) == []
    # the template manifestc used to emit: pip logged in to the npm store, which cannot serve PyPI
    broken = copy.deepcopy(template)
    body = spec(broken["Resources"], "GateSastProject")
    install = body["phases"]["install"]["commands"]
    body["phases"]["install"]["commands"] = [c.replace("pypi-store", "store") for c in install]
    broken["Resources"]["GateSastProject"]["Properties"]["Source"]["BuildSpec"] = yaml.safe_dump(body)
    found = check_private_reachability(result.manifest, {"pipeline.yaml": broken})
    assert [d.code for d in found] == ["MC630"] and "GateSastProject" in found[0].message
    assert "pypi.org" in found[0].message


def test_readiness_check_finds_installs_before_login_and_public_hosts(tmp_path, write_manifest):
    text = private(tests=[{"name": "unit"}])
    result = check_manifest(write_manifest(text))
    files, report = build_manifests(tmp_path, text)
    assert not report.failed()
    template = files["demo-service/pipeline.yaml"]
    assert check_private_reachability(result.manifest, {"pipeline.yaml": template}) == []
    broken = copy.deepcopy(template)
    project = broken["Resources"]["BuildProject"]["Properties"]
    body = spec(broken["Resources"], "BuildProject")
    install = body["phases"]["install"]["commands"]
    body["phases"]["install"]["commands"] = ["pip install -r requirements.txt", *install]
    body["phases"]["build"]["commands"].append("git clone https://github.com/acme/tools.git")
    body["phases"]["build"]["commands"].append("aws ecs update-service --cluster c --service s")
    project["Source"]["BuildSpec"] = yaml.safe_dump(body)
    found = check_private_reachability(result.manifest, {"pipeline.yaml": broken})
    assert [d.code for d in found] == ["MC631", "MC630", "MC632"]
    assert all(d.file == "out/demo-service/pipeline.yaml" and "BuildProject" in d.message for d in found)
    # with internet egress declared (a NAT), public hosts and AWS APIs are reachable: no findings
    nat = copy.deepcopy(broken)
    nat["Resources"]["BuildSecurityGroup"]["Properties"]["SecurityGroupEgress"].append(
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
    )
    assert [d.code for d in check_private_reachability(result.manifest, {"pipeline.yaml": nat})] == []


def test_secrets_under_a_customer_managed_key_are_decryptable_by_the_projects_that_receive_them(tmp_path):
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    text = with_changes(
        language="java",
        runtime="corretto17",
        tests=[{"name": "unit"}],
        quality_gates=["sast", "dependency-scan"],
        build={"secrets": {"NVD_API_KEY": "secretsmanager:ci/nvd", "DB": "ssm:/db"}, "secrets_kms_key": key},
    )
    files, report = build_manifests(tmp_path, text)
    assert not report.failed(), report.all_diagnostics()
    resources = files["demo-service/pipeline.yaml"]["Resources"]

    def decrypt(role):
        statements = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        return next((s for s in statements if s.get("Sid") == "DecryptSecrets"), None)

    build = decrypt("BuildRole")
    assert build["Action"] == ["kms:Decrypt"] and build["Resource"] == [key]
    assert [v["Fn::Sub"].split(".")[0] for v in build["Condition"]["StringEquals"]["kms:ViaService"]] == [
        "secretsmanager",
        "ssm",
    ]
    assert decrypt("TestUnitRole") is not None
    gate = decrypt("GateDependencyScanRole")  # receives NVD_API_KEY (Secrets Manager) only
    assert [v["Fn::Sub"].split(".")[0] for v in gate["Condition"]["StringEquals"]["kms:ViaService"]] == [
        "secretsmanager"
    ]
    assert decrypt("GateSastRole") is None  # receives no secret
