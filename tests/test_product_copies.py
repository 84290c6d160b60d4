"""Service Catalog products: provisioner values are inert (the parameters' AllowedPatterns, checked
the way CloudFormation applies them: the whole value must match) and a product can be
provisioned several times in one account (every name derives from the PipelineName parameter)."""

from __future__ import annotations

import dataclasses
import fnmatch
import re

import pytest
from conftest import MINIMAL, build_manifests, with_changes
from manifestc.api import check_manifest
from manifestc.model import CATALOG_PARAMETER_PATTERNS

CATALOG = {
    "portfolio": "platform-pipelines",
    "provider": "Platform Team",
    "product": "demo-pipeline",
    "version": "1.0.0",
    "principals": ["arn:aws:iam::123456789012:role/Developers"],
}
CODECOMMIT_PRODUCT = with_changes(
    MINIMAL,
    regenerate=False,
    tests=[{"name": "unit"}],
    environments=[{"name": "staging"}, {"name": "prod", "approval": {"notify_emails": ["ops@example.com"]}}],
    catalog={**CATALOG, "parameters": ["repository", "branch", "team"]},
)
CODESTAR_PRODUCT = with_changes(
    MINIMAL,
    name="web-service",
    regenerate=False,
    source={
        "provider": "codestar",
        "repository": "acme/web",
        "connection_arn": "arn:aws:codeconnections:eu-west-1:123456789012:connection/1111-2222",
    },
    catalog={**CATALOG, "product": "web-pipeline", "parameters": ["repository", "branch", "team", "connection_arn"]},
)

HOSTILE = [
    'main"',
    'x", "Evil": "1',
    "a}",
    "{a",
    "line\nbreak",
    "tab\there",
    "#{codepipeline.PipelineExecutionId}",
    "${AWS::AccountId}",
    "back\\slash",
    "",
]


@pytest.fixture(scope="module")
def products(tmp_path_factory):
    files, report = build_manifests(tmp_path_factory.mktemp("products"), CODECOMMIT_PRODUCT, CODESTAR_PRODUCT)
    assert not report.failed(), report.all_diagnostics()
    return files


def test_every_parameter_rejects_values_that_could_break_out(products):
    checked = 0
    for name in ("demo-service", "web-service"):
        for parameter, spec in products[f"{name}/pipeline.yaml"]["Parameters"].items():
            pattern = spec["AllowedPattern"]
            assert re.fullmatch(pattern, spec["Default"]), (parameter, spec["Default"])
            for value in HOSTILE:
                assert not re.fullmatch(pattern, value), (parameter, value)
            checked += 1
    assert checked == 9  # PipelineName + 3 and PipelineName + 4


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("branch", "feature/login-v2"),
        ("branch", "release/1.2.0+hotfix"),
        ("repository:codecommit", "orders_service.v2"),
        ("repository:codestar", "acme/orders-service"),
        ("repository:codestar", "group/subgroup/project"),
        ("team", "Payments Team: EU/ops"),
    ],
)
def test_ordinary_values_are_accepted(field, value):
    assert re.fullmatch(CATALOG_PARAMETER_PATTERNS[field], value)


def test_patterns_use_only_what_java_and_python_regex_share():
    # CloudFormation evaluates AllowedPattern as a Java regex; the tests check them with Python's
    # re: no \w/\d/\s (Unicode in Python), no named groups, no lookbehind.
    for pattern in CATALOG_PARAMETER_PATTERNS.values():
        assert not re.search(r"\\[wWdDsS]|\(\?P|\(\?<", pattern), pattern


def test_the_connection_is_scoped_to_the_parameter_value(products):
    t = products["web-service/pipeline.yaml"]
    role = t["Resources"]["PipelineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [use] = [s for s in role if s["Sid"] == "SourceConnection"]
    assert use["Resource"] == [{"Ref": "ConnectionArn"}]


def test_a_product_self_update_passes_exactly_the_chosen_connection(write_manifest):
    from awacs.aws import PolicyDocument
    from manifestc.emit import emit_templates
    from manifestc.emit.context import Context
    from manifestc.emit.selfupdate import template_permissions
    from troposphere import encode_to_dict

    def by_sid(ctx, template, launch=False):
        document = PolicyDocument(Version="2012-10-17", Statement=template_permissions(ctx, template, launch))
        return {s["Sid"]: s for s in encode_to_dict(document)["Statement"]}

    manifest = check_manifest(write_manifest(CODESTAR_PRODUCT)).manifest
    template = emit_templates(manifest)["pipeline.yaml"]
    product = Context(manifest)
    assert by_sid(product, template)["PassConnection"]["Resource"] == [{"Ref": "ConnectionArn"}]
    # the launch role (catalog.yaml) knows no copy's value: the account's connections of the service
    # (under both IAM prefixes of the one connection service)
    every_copy = dataclasses.replace(product, all_copies=True)
    resources = by_sid(every_copy, template, launch=True)["PassConnection"]["Resource"]
    assert sorted(r["Fn::Sub"] for r in resources) == [
        "arn:${AWS::Partition}:codeconnections:*:${AWS::AccountId}:connection/*",
        "arn:${AWS::Partition}:codestar-connections:*:${AWS::AccountId}:connection/*",
    ]


# --- two copies in one account ---------------------------------------------------------------------

PSEUDO = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": "eu-west-1",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


def resolve(node, values):
    """Evaluate the intrinsic functions a name can contain, as CloudFormation would."""
    if isinstance(node, list):
        return [resolve(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return values.get(node["Ref"], f"<{node['Ref']}>")
    if set(node) == {"Fn::GetAtt"}:
        return "<{}.{}>".format(*node["Fn::GetAtt"])
    if set(node) == {"Fn::Select"}:
        index, items = node["Fn::Select"]
        return resolve(items, values)[index]
    if set(node) == {"Fn::Split"}:
        delimiter, text = node["Fn::Split"]
        return resolve(text, values).split(delimiter)
    if set(node) == {"Fn::Sub"}:
        body = node["Fn::Sub"]
        text, local = (body, {}) if isinstance(body, str) else (body[0], resolve(body[1], values))
        scope = {**values, **local}
        out = re.sub(r"\$\{([^!}][^}]*)\}", lambda m: str(scope.get(m.group(1), f"<{m.group(1)}>")), text)
        return out.replace("${!", "${")
    return {key: resolve(value, values) for key, value in node.items()}


NAME_KEYS = ("Name", "BucketName", "TopicName", "LogGroupName", "AliasName", "RoleName", "ManagedPolicyName")


def physical_names(template, pipeline_name, stack_uuid):
    """(type, name) of every resource name a copy creates, and the stacks its pipeline deploys."""
    values = {spec_name: spec.get("Default") for spec_name, spec in template["Parameters"].items()}
    values.update(PSEUDO)
    values.update(
        {
            "PipelineName": pipeline_name,
            "AWS::StackName": f"SC-123456789012-pp-{stack_uuid[:8]}",
            "AWS::StackId": f"arn:aws:cloudformation:eu-west-1:123456789012:stack/SC-pp/{stack_uuid}",
        }
    )
    names = set()
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in NAME_KEYS:
            if key in props and not (resource["Type"] == "AWS::IAM::Role" and key == "Name"):
                names.add((resource["Type"], resolve(props[key], values)))
        if resource["Type"] == "AWS::CodePipeline::Pipeline":
            for stage in props["Stages"]:
                for action in stage["Actions"]:
                    if "StackName" in action["Configuration"]:
                        names.add(("stack", resolve(action["Configuration"]["StackName"], values)))
    return names


def test_two_copies_in_one_account_share_no_name(products):
    t = products["demo-service/pipeline.yaml"]
    one = physical_names(t, "demo-service", "51af3dc0-da77-11e4-872e-1234567db123")
    two = physical_names(t, "demo-service-orders", "9c1e2f00-aa11-4bb2-8cc3-abcdefabcdef")
    assert len(one) >= 12  # pipeline, projects, log groups, report group, topic, rule, bucket, alias, stacks
    assert one.isdisjoint(two), sorted(one & two)
    kinds = {kind for kind, _ in one}
    assert {"AWS::S3::Bucket", "AWS::CodePipeline::Pipeline", "AWS::KMS::Alias", "stack"} <= kinds
    for kind, name in one | two:
        assert "<" not in name and "pipelinename" not in name, (kind, name)
        assert name.lower().find("demo-service") >= 0, (kind, name)  # every name derives from PipelineName
    bucket = next(n for k, n in two if k == "AWS::S3::Bucket")
    assert bucket == "demo-service-orders-abcdefabcdef" and len(bucket) <= 63


def test_the_launch_role_covers_every_copy_and_nothing_named_otherwise(products):
    t = products["demo-service/pipeline.yaml"]
    resources = products["demo-service/catalog.yaml"]["Resources"]
    [launch_id] = [k for k, r in resources.items() if r["Type"] == "AWS::IAM::Role"]
    # the launch role's permissions are managed policies attached to it (too large for inline)
    attached = [a["Ref"] for a in resources[launch_id]["Properties"]["ManagedPolicyArns"] if "Ref" in a]
    assert attached
    statements = [
        s
        for policy in attached
        for s in resources[policy]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    patterns: dict[str, list[str]] = {}
    for s in statements:
        patterns.setdefault(s["Sid"], []).extend(resolve(r, PSEUDO) for r in s["Resource"])

    def covered(sid, arn):
        return any(fnmatch.fnmatchcase(arn, p) for p in patterns[sid])

    account = "eu-west-1:123456789012"
    for copy in ("demo-service", "demo-service-orders"):
        names = dict((k, n) for k, n in physical_names(t, copy, "9c1e2f00-aa11-4bb2-8cc3-abcdefabcdef") if k != "stack")
        assert covered("Pipeline", f"arn:aws:codepipeline:{account}:{names['AWS::CodePipeline::Pipeline']}")
        assert covered("ArtifactBuckets", f"arn:aws:s3:::{names['AWS::S3::Bucket']}")
        assert covered("KmsPipelineAlias", f"arn:aws:kms:{account}:{names['AWS::KMS::Alias']}")
        assert covered("CodeBuildProjects", f"arn:aws:codebuild:{account}:project/{copy}-build")
        assert covered("PipelineRoles", f"arn:aws:iam::123456789012:role/manifestc/{copy}/SC-pp-BuildRole-X")
    assert not covered("Pipeline", f"arn:aws:codepipeline:{account}:other-pipeline")
    assert not covered("ArtifactBuckets", "arn:aws:s3:::other-bucket-abcdefabcdef")


def test_a_product_cannot_update_itself(write_manifest):
    """Products are changed through catalog versions (MC263), so no copy's parameter values can be
    lost to a self-update."""
    result = check_manifest(write_manifest(with_changes(CODECOMMIT_PRODUCT, regenerate=True)))
    assert ("MC263", "regenerate") in {(d.code, d.dotted_path()) for d in result.diagnostics if d.is_error}


# --- semantics ----------------------------------------------------------------------------------------


def diagnostics(write_manifest, text):
    result = check_manifest(write_manifest(text))
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def test_a_default_the_pattern_rejects_is_a_located_error(write_manifest):
    text = with_changes(CODECOMMIT_PRODUCT, source={"repository": "demo-service", "branch": 'it"s'}, team="platform")
    assert diagnostics(write_manifest, text) == [("MC273", "source.branch")]


def test_what_copies_deploy_must_be_named_after_them(write_manifest):
    fixed = with_changes(
        CODECOMMIT_PRODUCT, targets=[{"name": "app", "template": "t.yaml", "stack": "app-{environment}"}]
    )
    assert diagnostics(write_manifest, fixed) == [("MC274", "targets[0].stack")]
    bucket = with_changes(CODECOMMIT_PRODUCT, targets=[{"name": "site", "type": "s3", "bucket": "www", "prefix": "x/"}])
    assert diagnostics(write_manifest, bucket) == [("MC274", "targets[0]")]


def test_approvers_cannot_follow_a_product_into_shared_accounts(write_manifest):
    text = with_changes(
        CODECOMMIT_PRODUCT,
        account="123456789012",
        environments=[
            {
                "name": "prod",
                "approval": {
                    "approvers": ["arn:aws:iam::123456789012:role/Release"],
                    "notify_emails": ["ops@example.com"],
                },
            }
        ],
        catalog={**CATALOG, "share_with": ["333333333333"]},
    )
    assert diagnostics(write_manifest, text) == [("MC274", "environments[0].approval.approvers")]


def test_a_product_cannot_deploy_through_another_account_bootstrap(write_manifest):
    text = with_changes(
        CODECOMMIT_PRODUCT,
        account="123456789012",
        environments=[{"name": "prod", "account": "222222222222"}],
    )
    assert diagnostics(write_manifest, text) == [("MC274", "environments[0].account")]
