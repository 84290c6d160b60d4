"""Service Catalog (issue 4): parameterised product template, catalog.yaml wiring, the derived
launch role, shared portfolios, bad input, and `manifestc publish` against a local S3."""

from __future__ import annotations

import socket
import urllib.request

import pytest
import yaml
from click.testing import CliRunner
from conftest import build_manifests, with_changes
from manifestc import __version__
from manifestc.api import check_manifest
from manifestc.cli import cli

CATALOG = {
    "portfolio": "platform-pipelines",
    "provider": "Platform Team",
    "product": "python-service",
    "version": "1.2.0",
    "keep_versions": ["1.0.0", "1.1.0"],
    "principals": ["arn:aws:iam::123456789012:role/Developers", "arn:aws:iam::123456789012:group/devs"],
    "share_with": ["333333333333"],
}


def product(**changes) -> str:
    catalog = {**CATALOG, **changes.pop("catalog", {})}
    return with_changes(catalog=catalog, regenerate=False, **changes)


def built(tmp_path, *texts: str):
    return build_manifests(tmp_path, *texts)


def by_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == f"AWS::ServiceCatalog::{kind}"}


def test_product_template_exposes_parameters_used_everywhere(tmp_path):
    files, report = built(tmp_path, product())
    assert not report.failed(), report.all_diagnostics()
    t = files["demo-service/pipeline.yaml"]
    assert list(t["Parameters"]) == ["PipelineName", "Repository", "Branch", "Team"]
    assert t["Parameters"]["Repository"]["Default"] == "demo-service"
    assert t["Parameters"]["Team"]["AllowedPattern"]
    source = t["Resources"]["Pipeline"]["Properties"]["Stages"][0]["Actions"][0]["Configuration"]
    assert source["RepositoryName"] == {"Ref": "Repository"} and source["BranchName"] == {"Ref": "Branch"}
    pattern = t["Resources"]["SourceRule"]["Properties"]["EventPattern"]
    assert pattern["detail"]["referenceName"] == [{"Ref": "Branch"}]
    assert pattern["resources"][0]["Fn::Sub"].endswith(":${Repository}")
    tags = {x["Key"]: x["Value"] for x in t["Resources"]["BuildProject"]["Properties"]["Tags"]}
    assert tags["team"] == {"Ref": "Team"}


def test_catalog_yaml_has_all_seven_kinds_wired(tmp_path):
    files, _ = built(tmp_path, product())
    c = files["demo-service/catalog.yaml"]
    [portfolio_id] = by_type(c, "Portfolio")
    [product_id] = by_type(c, "CloudFormationProduct")
    props = c["Resources"][product_id]["Properties"]
    artifacts = props["ProvisioningArtifactParameters"]
    assert [a["Name"] for a in artifacts] == ["1.0.0", "1.1.0", "1.2.0"]  # a new version adds, never replaces
    assert props["ReplaceProvisioningArtifacts"] is False
    url = artifacts[-1]["Info"]["LoadTemplateFromURL"]["Fn::Sub"]
    assert url.endswith("/manifestc/products/python-service/1.2.0/pipeline.yaml") and "${TemplateBucket}" in url
    [association] = by_type(c, "PortfolioProductAssociation").values()
    assert association["Properties"] == {"PortfolioId": {"Ref": portfolio_id}, "ProductId": {"Ref": product_id}}
    principals = sorted(p["Properties"]["PrincipalARN"] for p in by_type(c, "PortfolioPrincipalAssociation").values())
    assert principals == sorted(CATALOG["principals"])
    [share] = by_type(c, "PortfolioShare").values()
    assert share["Properties"]["AccountId"] == "333333333333"
    [option] = by_type(c, "TagOption").values()
    assert option["Properties"] == {"Key": "team", "Value": "platform", "Active": True}
    assert len(by_type(c, "TagOptionAssociation")) == 1
    [constraint] = by_type(c, "LaunchRoleConstraint").values()
    assert constraint["Properties"]["LocalRoleName"] == "python-service-launch"
    assert "launch-role.yaml" in " ".join(files)  # shared accounts get the same role
    assert len(by_type(files["_shared/catalog.yaml"], "CloudFormationProduct")) == 1


def test_launch_role_is_scoped_to_the_template_types(tmp_path):
    from manifestc.check.handlers import missing_permissions, role_statements

    files, _ = built(tmp_path, product())
    c = files["demo-service/catalog.yaml"]
    [(role_id, role)] = [(k, r) for k, r in c["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    statements = role_statements(c, role_id)
    # every handler permission of every resource type of the product template (registry schemas)
    assert missing_permissions(statements, files["demo-service/pipeline.yaml"]) == []
    for statement in statements:
        assert all(a != "*" and not a.endswith(":*") for a in statement["Action"])
    passrole = [s for s in statements if "iam:PassRole" in s["Action"] and s["Effect"] == "Allow"]
    assert passrole and all(
        r["Fn::Sub"].endswith(":role/manifestc/demo-service*/*") for s in passrole for r in s["Resource"]
    )
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "servicecatalog.amazonaws.com"}


def test_directory_build_merges_products_per_portfolio(tmp_path):
    second = product(
        name="node-service",
        language="node",
        source={"repository": "web"},
        catalog={"product": "node-service", "version": "2.0.0", "keep_versions": []},
    )
    files, report = built(tmp_path, product(), second)
    assert not report.failed(), report.all_diagnostics()
    shared = files["_shared/catalog.yaml"]
    assert len(by_type(shared, "Portfolio")) == 1
    assert len(by_type(shared, "CloudFormationProduct")) == 2
    assert len(by_type(shared, "PortfolioPrincipalAssociation")) == 2  # not duplicated
    assert len(by_type(shared, "PortfolioShare")) == 1


def test_bad_catalog_input(write_manifest):
    def errors(**catalog):
        text = product(catalog=catalog)
        return sorted((d.code, d.dotted_path()) for d in check_manifest(write_manifest(text)).diagnostics if d.is_error)

    assert errors(version="v1") == [("MC105", "catalog.version")]
    assert errors(principals=["Developers"]) == [("MC105", "catalog.principals[0]")]
    assert errors(share_with=["12345"]) == [("MC105", "catalog.share_with[0]")]
    assert errors(parameters=["repository", "region"]) == [("MC104", "catalog.parameters[1]")]


def test_regenerate_on_a_product_is_an_error(write_manifest):
    text = with_changes(catalog=CATALOG)
    [error] = check_manifest(write_manifest(text)).diagnostics
    assert (error.severity.value, error.code) == ("error", "MC263")
    assert "regenerate: false" in error.hint and error.line > 1
    text = with_changes(catalog=CATALOG, regenerate={"install": f"manifestc=={__version__}"})
    [error] = check_manifest(write_manifest(text)).diagnostics
    assert error.code == "MC263" and error.dotted_path() == "regenerate"
    assert check_manifest(write_manifest(with_changes(catalog=CATALOG, regenerate=False))).diagnostics == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def local_s3(monkeypatch):
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="product-templates")
    yield endpoint
    server.stop()


def _signed_get(url: str) -> bytes:
    """GET a private object's URL as an authorised principal would (SigV4), as Service Catalog does."""
    import botocore.session
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = botocore.session.get_session().get_credentials()
    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(url, headers=dict(request.headers.items()))
    with urllib.request.urlopen(prepared, timeout=10) as response:
        return response.read()


def test_publish_uploads_to_versioned_keys(local_s3, write_manifest, tmp_path):
    path = write_manifest(product())
    out = tmp_path / "out"
    runner = CliRunner()
    args = [
        "publish",
        str(path),
        "--bucket",
        "product-templates",
        "--endpoint-url",
        local_s3,
        "--out",
        str(out),
        "--write",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    url = f"{local_s3}/product-templates/manifestc/products/python-service/1.2.0/pipeline.yaml"
    assert f"demo-service: uploaded {url}" in result.stdout
    assert _signed_get(url) == (out / "demo-service" / "pipeline.yaml").read_bytes()  # the printed URL works
    catalog = yaml.safe_load((out / "demo-service" / "catalog.yaml").read_text())
    assert catalog["Parameters"]["TemplateBucket"]["Default"] == "product-templates"
    again = runner.invoke(cli, args)
    assert again.exit_code == 0 and "demo-service: unchanged" in again.stdout
    changed = write_manifest(product(build={"timeout": 31}))
    refused = runner.invoke(
        cli, ["publish", str(changed), "--bucket", "product-templates", "--endpoint-url", local_s3, "--out", str(out)]
    )
    assert refused.exit_code == 1 and "immutable" in refused.output


def test_launch_role_reads_updates_and_recovers_its_provisioned_stacks(tmp_path):
    """Service Catalog acts on its SC-* stacks as the launch role: besides create/update/delete it
    reads the template and resources (update, outputs, termination) and continues a failed
    update's rollback; without them an update of a provisioned copy fails or stays stuck in
    UPDATE_ROLLBACK_FAILED. Nothing of the kind on any other stack."""
    from iam_sim import allowed, resolve
    from manifestc.check.handlers import role_statements

    files, _ = built(tmp_path, product())
    c = files["demo-service/catalog.yaml"]
    [role_id] = [k for k, r in c["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    statements = resolve(role_statements(c, role_id))
    provisioned = "arn:aws:cloudformation:eu-west-1:111111111111:stack/SC-111111111111-pp-abc/0a1b"
    other = "arn:aws:cloudformation:eu-west-1:111111111111:stack/platform-network/0a1b"
    for action in (
        "cloudformation:GetTemplate",
        "cloudformation:DescribeStackResource",
        "cloudformation:DescribeStackResources",
        "cloudformation:ListStackResources",
        "cloudformation:GetStackPolicy",
        "cloudformation:ContinueUpdateRollback",
        "cloudformation:UpdateStack",
    ):
        assert allowed(statements, action, provisioned), action
        assert not allowed(statements, action, other), action
