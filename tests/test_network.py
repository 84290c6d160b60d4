"""Private builds (issue 5): VpcConfig everywhere, derived endpoints with reasons, one endpoint
stack per VPC, and located diagnostics for bad network input."""

from __future__ import annotations

from click.testing import CliRunner
from conftest import build_manifests, with_changes
from manifestc.api import check_manifest
from manifestc.cli import cli

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


def diagnostics(write_manifest, text: str):
    return check_manifest(write_manifest(text)).diagnostics


def codes(write_manifest, text: str) -> list[tuple[str, str, str]]:
    return sorted((d.severity.value, d.code, d.dotted_path()) for d in diagnostics(write_manifest, text))


def endpoint_services(write_manifest, text: str) -> dict[str, tuple[str, ...]]:
    m = check_manifest(write_manifest(text)).manifest
    return {e.service: e.reasons for e in m.network.endpoints}


def built(tmp_path, *texts: str):
    return build_manifests(tmp_path, *texts)


def test_every_project_runs_in_the_vpc_with_documented_ec2_permissions(tmp_path):
    text = private(
        source={"repository": "demo-service", "feature_branches": {"patterns": ["feature/*"]}},
        tests=[{"name": "unit"}],
        quality_gates=["lint"],
    )
    files, report = built(tmp_path, text)
    assert not report.failed(), report.all_diagnostics()
    t = files["demo-service/pipeline.yaml"]["Resources"]
    projects = {k: v["Properties"] for k, v in t.items() if v["Type"] == "AWS::CodeBuild::Project"}
    assert set(projects) == {"UpdateProject", "BuildProject", "TestUnitProject", "GateLintProject", "FeatureProject"}
    for props in projects.values():
        assert props["VpcConfig"]["VpcId"] == NETWORK["vpc_id"]
        assert props["VpcConfig"]["Subnets"] == NETWORK["subnets"]
        assert props["VpcConfig"]["SecurityGroupIds"] == [{"Ref": "BuildSecurityGroup"}]
    statements = {s["Sid"]: s for s in t["BuildRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    permission = statements["VpcNetworkInterfacePermission"]
    assert permission["Action"] == ["ec2:CreateNetworkInterfacePermission"]
    condition = permission["Condition"]["StringEquals"]
    assert condition["ec2:AuthorizedService"] == "codebuild.amazonaws.com"
    assert [s["Fn::Sub"].rsplit("/", 1)[1] for s in condition["ec2:Subnet"]] == NETWORK["subnets"]


def test_build_security_group_only_reaches_the_endpoints(tmp_path):
    files, _ = built(tmp_path, private())
    t = files["demo-service/pipeline.yaml"]["Resources"]
    egress = t["BuildSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert [(r["FromPort"], r["ToPort"]) for r in egress] == [(443, 443), (443, 443)]
    assert egress[0]["DestinationSecurityGroupId"] == {
        "Fn::ImportValue": "manifestc-network-vpc-0123456789abcdef0-endpoint-sg"
    }
    assert egress[1]["DestinationPrefixListId"] == {
        "Fn::ImportValue": "manifestc-network-vpc-0123456789abcdef0-s3-prefix-list"
    }
    ingress = t["EndpointIngressFromBuilds"]["Properties"]
    assert ingress["SourceSecurityGroupId"] == {"Ref": "BuildSecurityGroup"} and ingress["FromPort"] == 443


def test_derivation_follows_what_the_pipeline_uses(write_manifest):
    base = endpoint_services(write_manifest, private())
    assert {"s3", "logs", "sts", "kms", "codeartifact.api", "codeartifact.repositories"} <= set(base)
    assert "secretsmanager" not in base and "ecr.api" not in base
    with_secrets = endpoint_services(
        write_manifest, private(build={"secrets": {"A": "secretsmanager:app/db", "B": "ssm:/app/flag"}})
    )
    assert with_secrets["secretsmanager"] == ("build.secrets.A reads app/db",)
    assert with_secrets["ssm"] == ("build.secrets.B reads /app/flag",)
    docker = endpoint_services(write_manifest, private(language="docker", build={"image_repository": "team/app"}))
    assert "ecr.api" in docker and "ecr.dkr" in docker
    assert any("image layers" in r for r in docker["s3"])
    lam = endpoint_services(write_manifest, private(targets=[{"name": "fn", "type": "lambda", "function": "f"}]))
    assert "lambda" in lam


def test_warnings(write_manifest):
    one_subnet = private(network={"subnets": ["subnet-0aaaaaaaaaaaaaaaa"]})
    assert ("warning", "MC250", "network.subnets") in codes(write_manifest, one_subnet)
    no_codeartifact = with_changes(network=NETWORK)
    found = codes(write_manifest, no_codeartifact)
    assert ("warning", "MC252", "network") in found
    # without CodeArtifact and without internet egress the preset's pip installs cannot work: errors
    assert ("error", "MC275", "language") in found and ("error", "MC275", "regenerate") in found


def test_explicit_list(write_manifest):
    listed = [
        "s3",
        "logs",
        "sts",
        "kms",
        "codeartifact.api",
        "codeartifact.repositories",
        "glue",
    ]
    assert codes(write_manifest, private(network={"endpoints": listed})) == [
        ("warning", "MC251", "network.endpoints[6]")
    ]
    missing = private(network={"endpoints": listed[:3]}, build={"secrets": {"A": "secretsmanager:x"}})
    found = [d for d in diagnostics(write_manifest, missing) if d.code == "MC216"]
    assert any("`secretsmanager` is needed: build.secrets.A reads x" in d.message for d in found)
    assert any("`kms` is needed" in d.message for d in found)
    unknown = private(network={"endpoints": [*listed[:6], "secretmanager"]})
    [diag] = [d for d in diagnostics(write_manifest, unknown) if d.code == "MC217"]
    assert diag.hint == "did you mean `secretsmanager`?" and diag.dotted_path() == "network.endpoints[6]"


def test_bad_network_input(write_manifest):
    no_subnets = private(network={"subnets": []})
    assert ("error", "MC106", "network.subnets") in codes(write_manifest, no_subnets)
    bad_subnet = private(network={"subnets": ["subnet-xyz"]})
    assert ("error", "MC105", "network.subnets[0]") in codes(write_manifest, bad_subnet)
    no_route_tables = private(network={"route_tables": []})
    assert ("error", "MC218", "network") in codes(write_manifest, no_route_tables)
    bad_mode = private(network={"endpoints": "all"})
    assert ("error", "MC104", "network.endpoints") in codes(write_manifest, bad_mode)


def test_a_shared_vpc_gets_each_endpoint_once(tmp_path):
    first = private(build={"secrets": {"A": "secretsmanager:one"}})
    second = private(name="other-service", source={"repository": "other"}, build={"secrets": {"B": "ssm:/two"}})
    files, report = built(tmp_path, first, second)
    assert not report.failed(), report.all_diagnostics()
    shared = files["_shared/network-vpc-0123456789abcdef0.yaml"]["Resources"]
    services = [
        r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]
        if "codeartifact" not in r["Properties"]["ServiceName"]["Fn::Sub"]
        else r["Properties"]["ServiceName"]["Fn::Sub"]
        for r in shared.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    ]
    assert len(services) == len(set(services))
    assert "secretsmanager" in services and "ssm" in services
    interface = next(
        r["Properties"]
        for r in shared.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint" and r["Properties"]["VpcEndpointType"] == "Interface"
    )
    assert interface["PrivateDnsEnabled"] is True and interface["SubnetIds"] == NETWORK["subnets"]
    gateway = next(
        r["Properties"]
        for r in shared.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint" and r["Properties"]["VpcEndpointType"] == "Gateway"
    )
    assert gateway["RouteTableIds"] == NETWORK["route_tables"]
    for name in ("demo-service", "other-service"):
        assert "EndpointIngressFromBuilds" in files[f"{name}/pipeline.yaml"]["Resources"]


def test_shared_vpc_with_different_subnets_warns(tmp_path):
    other = private(name="other-service", network={"subnets": ["subnet-0dddddddddddddddd", "subnet-0eeeeeeeeeeeeeeee"]})
    _, report = built(tmp_path, private(), other)
    assert [d.code for d in report.all_diagnostics()] == ["MC254"]


def test_endpoints_none_needs_no_shared_stack(tmp_path):
    files, report = built(tmp_path, private(network={"endpoints": "none"}))
    assert not report.failed()
    assert not any(name.startswith("_shared/") for name in files)
    egress = files["demo-service/pipeline.yaml"]["Resources"]["BuildSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert egress == [
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS through the VPC's NAT",
        }
    ]


def test_endpoints_command(write_manifest):
    path = write_manifest(private(build={"secrets": {"A": "secretsmanager:x"}}))
    result = CliRunner().invoke(cli, ["endpoints", str(path)])
    assert result.exit_code == 0
    assert "vpc-0123456789abcdef0 (endpoints: auto)" in result.output
    line = next(line for line in result.output.splitlines() if line.strip().startswith("secretsmanager"))
    assert "Interface" in line and "build.secrets.A reads x" in line
