"""IAM derived from the CloudFormation registry, readiness check 6 and the closed escalation routes.

Coverage is proved over every example in manifests/ and a few holdout-like manifests; the security
claims of the README ("Security") are each checked here with a small IAM evaluator (iam_sim).
"""

from __future__ import annotations

import copy
import textwrap

import pytest
import yaml
from conftest import MINIMAL, ROOT, with_changes
from iam_sim import allowed, denied, effective, resolve
from manifestc import registry
from manifestc.api import compile_manifest
from manifestc.check.handlers import check_handler_permissions, missing_permissions, role_statements

EXAMPLES = sorted((ROOT / "manifests").glob("*.yaml"))
ACCOUNT = "111111111111"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"

# Holdout-like manifests, written independently of the examples (single account with approvers,
# cross-account, private VPC, catalog with a connection, node with CodeArtifact).
HOLDOUTS = {
    "single-account": with_changes(
        MINIMAL,
        name="solo-app",
        environments=[
            {"name": "staging"},
            {"name": "prod", "approval": {"approvers": ["arn:aws:iam::123456789012:role/Releasers"]}},
        ],
        account="123456789012",
    ),
    "cross-account": with_changes(
        MINIMAL,
        name="cross-app",
        account="123456789012",
        environments=[{"name": "prod", "account": "210987654321"}],
    ),
    "private-vpc": with_changes(
        MINIMAL,
        name="private-app",
        build={"packages": {"codeartifact": {"domain": "corp", "repository": "pypi"}}},
        network={
            "vpc_id": "vpc-0123456789abcdef0",
            "subnets": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
            "route_tables": ["rtb-0123456789abcdef3"],
        },
    ),
    "catalog": with_changes(
        MINIMAL,
        name="catalog-app",
        source={
            "provider": "codestar",
            "repository": "corp/catalog-app",
            "connection_arn": "arn:aws:codestar-connections:us-east-1:123456789012:connection/abcd-1234",
        },
        regenerate={"enabled": False},
        catalog={
            "portfolio": "Pipelines",
            "product": "catalog-app-pipeline",
            "version": "1.0.0",
            "provider": "Platform",
            "description": "A pipeline",
            "parameters": ["repository", "branch"],
            "share_with": ["222222222222"],
        },
    ),
    "node-codeartifact": with_changes(
        MINIMAL,
        name="node-app",
        language="node",
        build={"packages": {"codeartifact": {"domain": "corp", "repository": "npm-store"}}},
    ),
}


def _compile(path):
    result = compile_manifest(path, lint=False)
    assert not [d for d in result.diagnostics if d.is_error], result.diagnostics
    return result


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every example and holdout, compiled once: {name: CompileResult}."""
    results = {path.stem: _compile(path) for path in EXAMPLES}
    folder = tmp_path_factory.mktemp("holdouts")
    for name, text in HOLDOUTS.items():
        path = folder / f"{name}.yaml"
        path.write_text(text)
        results[f"holdout-{name}"] = _compile(path)
    return results


def _statements(template, role_id, attributes=None):
    return resolve(role_statements(template, role_id), attributes)


def _defaults(template) -> dict[str, str]:
    """Parameter defaults: a Service Catalog product names everything by its PipelineName parameter."""
    return {k: str(v["Default"]) for k, v in template.get("Parameters", {}).items() if "Default" in v}


def acting_as(principal: str):
    """`effective` for calls made by `principal` (its role ARN, path included, is the request's
    aws:PrincipalArn: the boundary treats the pipeline's own roles and application roles apart)."""

    def call(identity, boundary, action, resource, context=None):
        return effective(identity, boundary, action, resource, {"aws:PrincipalArn": principal, **(context or {})})

    return call


def _boundary(template):
    statements = template["Resources"]["PermissionsBoundary"]["Properties"]["PolicyDocument"]["Statement"]
    return resolve(statements, _defaults(template))


# --- the registry ---------------------------------------------------------------------------------


def test_registry_gives_the_handler_permissions_of_the_schema():
    pipeline = registry.handler_permissions("AWS::CodePipeline::Pipeline")
    # the update handler calls these (issue: RestartExecutionOnUpdate and stage transitions)
    assert {
        "codepipeline:StartPipelineExecution",
        "codepipeline:EnableStageTransition",
        "codepipeline:DisableStageTransition",
    } <= set(pipeline["update"])
    assert "codepipeline:ListPipelines" in pipeline["list"]
    assert registry.handler_permissions("AWS::Not::AType") is None
    # an entry that is no IAM action (a schema typo) is left out
    assert "s3:REST.PUT.OBJECT" not in registry.all_handler_permissions("AWS::Logs::LogGroup")
    # the one type without registry handlers comes from the sourced fallback table
    assert "codebuild:CreateProject" in registry.handler_permissions("AWS::CodeBuild::Project")["create"]


def test_registry_knows_which_actions_take_a_resource():
    assert registry.action_resource_types("kms:CreateKey") == ()
    assert registry.action_resource_types("iam:CreateRole") == ("role",)
    assert registry.is_known_action("ec2:DescribeSecurityGroupRules")
    assert not registry.is_known_action("s3:NoSuchAction")


# --- readiness check 6: coverage ------------------------------------------------------------------


def test_every_deploying_role_covers_every_handler_permission(compiled):
    checked = 0
    for name, result in compiled.items():
        templates = result.templates
        assert check_handler_permissions(result.manifest, templates) == [], name
        pipeline = templates["pipeline.yaml"]
        if "SelfUpdateRole" in pipeline["Resources"]:
            assert missing_permissions(role_statements(pipeline, "SelfUpdateRole"), pipeline) == [], name
            checked += 1
        for file in ("catalog.yaml", "launch-role.yaml"):
            for logical_id in templates.get(file, {}).get("Resources", {}):
                if logical_id.endswith("LaunchRole"):
                    assert missing_permissions(role_statements(templates[file], logical_id), pipeline) == [], name
                    checked += 1
    assert checked >= len(EXAMPLES)


def test_the_permissions_the_review_found_missing_are_granted(compiled):
    """Issue 9's list of handler permissions the hand-kept table lacked, wherever the type occurs."""
    wanted = {
        "codepipeline:StartPipelineExecution": "AWS::CodePipeline::Pipeline",
        "codepipeline:EnableStageTransition": "AWS::CodePipeline::Pipeline",
        "codepipeline:DisableStageTransition": "AWS::CodePipeline::Pipeline",
        "ec2:DescribeSecurityGroupRules": "AWS::EC2::SecurityGroupIngress",
        "iam:ListEntitiesForPolicy": "AWS::IAM::ManagedPolicy",
        "events:ListTagsForResource": "AWS::Events::Rule",
        "sns:ListSubscriptionsByTopic": "AWS::SNS::Topic",
        "logs:DescribeResourcePolicies": "AWS::Logs::LogGroup",
        "s3:GetLifecycleConfiguration": "AWS::S3::Bucket",
    }
    seen = set()
    for name, result in compiled.items():
        pipeline = result.templates["pipeline.yaml"]
        if "SelfUpdateRole" not in pipeline["Resources"]:
            continue
        types = {r["Type"] for r in pipeline["Resources"].values()}
        granted = {
            a for s in role_statements(pipeline, "SelfUpdateRole") if s["Effect"] == "Allow" for a in s["Action"]
        }
        for action, resource_type in wanted.items():
            if resource_type in types:
                assert action in granted, (name, action)
                seen.add(action)
    assert seen == set(wanted)


def test_a_type_the_role_does_not_cover_is_mc610(compiled):
    result = compiled["python-service"]
    templates = copy.deepcopy(result.templates)
    templates["pipeline.yaml"]["Resources"]["Queue"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    found = check_handler_permissions(result.manifest, templates)
    [finding] = [d for d in found if d.code == "MC610"]
    assert "sqs:CreateQueue" in finding.message and "AWS::SQS::Queue" in finding.message
    assert finding.file == "out/orders-service/pipeline.yaml"


def test_a_removed_action_is_mc610(compiled):
    result = compiled["python-service"]
    templates = copy.deepcopy(result.templates)
    for resource in templates["pipeline.yaml"]["Resources"].values():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if (
                    isinstance(statement["Action"], list)
                    and "codepipeline:EnableStageTransition" in statement["Action"]
                ):
                    statement["Action"].remove("codepipeline:EnableStageTransition")
    [finding] = [d for d in check_handler_permissions(result.manifest, templates) if d.code == "MC610"]
    assert "codepipeline:EnableStageTransition (AWS::CodePipeline::Pipeline)" in finding.message


def test_role_creation_without_boundary_is_mc611(compiled):
    result = compiled["python-service"]
    templates = copy.deepcopy(result.templates)
    role = templates["pipeline.yaml"]["Resources"]["PipelineRole"]["Properties"]
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy"], "Resource": ["*"]}
    )
    found = [d for d in check_handler_permissions(result.manifest, templates) if d.code == "MC611"]
    assert len(found) == 1 and "PipelineRole may call iam:CreateRole, iam:PutRolePolicy" in found[0].message


def test_unscoped_grant_of_a_scopable_action_is_mc612(compiled):
    result = compiled["python-service"]
    templates = copy.deepcopy(result.templates)
    policy = templates["pipeline.yaml"]["Resources"]["SelfUpdatePolicy1"]["Properties"]["PolicyDocument"]
    policy["Statement"].append({"Effect": "Allow", "Action": ["codebuild:DeleteProject"], "Resource": "*"})
    [finding] = [d for d in check_handler_permissions(result.manifest, templates) if d.code == "MC612"]
    assert "codebuild:DeleteProject" in finding.message


def test_policies_fit_the_iam_quotas(compiled):
    from manifestc.emit.selfupdate import MANAGED_POLICY_LIMIT

    for name, result in compiled.items():
        for file, template in result.templates.items():
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] == "AWS::IAM::ManagedPolicy":
                    text = yaml.safe_dump(resolve(resource["Properties"]["PolicyDocument"]), default_flow_style=True)
                    compact = "".join(text.split())
                    assert len(compact) <= MANAGED_POLICY_LIMIT, (name, file, logical_id, len(compact))


# --- escalation -----------------------------------------------------------------------------------


def _roles(template):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::IAM::Role"}


def test_every_role_the_stacks_create_carries_the_boundary(compiled):
    for name, result in compiled.items():
        for file, template in result.templates.items():
            if file in ("catalog.yaml", "launch-role.yaml"):
                continue  # created by the catalog administrator, outside the pipeline
            for logical_id, role in _roles(template).items():
                boundary = role["Properties"].get("PermissionsBoundary")
                assert boundary is not None, (name, file, logical_id)
                text = resolve(boundary)
                assert text.endswith(f"/{result.manifest.name}-boundary") or boundary == {"Ref": "PermissionsBoundary"}


def test_self_update_role_cannot_create_an_unbounded_or_admin_role(compiled):
    template = compiled["java-two-accounts"].templates["pipeline.yaml"]
    identity = _statements(template, "SelfUpdateRole", {"ArtifactKey.Arn": KEY})
    boundary = _boundary(template)
    name = "ledger-service"
    effective = acting_as(f"arn:aws:iam::{ACCOUNT}:role/manifestc/{name}/{name}-self-update")
    own_boundary = f"arn:aws:iam::{ACCOUNT}:policy/manifestc/{name}/{name}-boundary"
    own_role = f"arn:aws:iam::{ACCOUNT}:role/manifestc/{name}/NewRole"
    with_boundary = {"iam:PermissionsBoundary": own_boundary}
    assert effective(identity, boundary, "iam:CreateRole", own_role, with_boundary)
    assert not effective(identity, boundary, "iam:CreateRole", own_role, {})
    assert not effective(identity, boundary, "iam:PutRolePolicy", own_role, {})
    other = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-us-east-1"
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:DeleteRole"):
        assert not effective(identity, boundary, action, other, with_boundary), action
    admin = {**with_boundary, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert not effective(identity, boundary, "iam:AttachRolePolicy", own_role, admin)
    assert not effective(identity, boundary, "iam:DeleteRolePermissionsBoundary", own_role, with_boundary)
    # the boundary itself can be neither changed nor granted
    assert not effective(identity, boundary, "iam:CreatePolicyVersion", own_boundary)
    as_grant = {**with_boundary, "iam:PolicyARN": own_boundary}
    assert not effective(identity, boundary, "iam:AttachRolePolicy", own_role, as_grant)
    # approvers get their approval policy (by its fixed name), and no other principal does
    approvers = f"arn:aws:iam::{ACCOUNT}:role/ReleaseManagers"
    approval_policy = {"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/manifestc/{name}/ledger-service-approvers-prod"}
    assert effective(identity, boundary, "iam:AttachRolePolicy", approvers, approval_policy)
    # approvers carry no boundary: no other policy of the pipeline (say the self-update role's own,
    # review finding 7) may be attached to them
    for other_policy in ("ledger-service-self-update-1", "ledger-service-build-extra"):
        widened = {"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/manifestc/{name}/{other_policy}"}
        assert not effective(identity, boundary, "iam:AttachRolePolicy", approvers, widened), other_policy
    assert not effective(
        identity, boundary, "iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/Admin", approval_policy
    )
    assert not effective(
        identity, boundary, "iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/mallory", approval_policy
    )


def test_self_update_role_reaches_only_its_own_key_and_security_groups(compiled):
    template = compiled["private-worker"].templates["pipeline.yaml"]
    identity = _statements(template, "SelfUpdateRole", {"ArtifactKey.Arn": KEY, "ImportValue": "sg-0endpoint"})
    foreign_key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/99999999-0000-0000-0000-000000000000"
    tag = {"aws:RequestTag/pipeline": "ledger-worker"}
    assert allowed(identity, "kms:PutKeyPolicy", KEY)
    assert not allowed(identity, "kms:TagResource", foreign_key, tag)
    assert not allowed(identity, "kms:ScheduleKeyDeletion", foreign_key, {"aws:ResourceTag/pipeline": "ledger-worker"})
    foreign_group = f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0foreign"
    own = {"aws:ResourceTag/pipeline": "ledger-worker"}
    assert allowed(identity, "ec2:AuthorizeSecurityGroupEgress", foreign_group, own)  # tagged as the pipeline's
    assert not allowed(identity, "ec2:AuthorizeSecurityGroupEgress", foreign_group, {})
    assert not allowed(identity, "ec2:DeleteSecurityGroup", foreign_group, {"aws:ResourceTag/pipeline": "other"})
    assert not allowed(identity, "ec2:CreateTags", foreign_group, {"aws:RequestTag/pipeline": "ledger-worker"})
    endpoint_group = f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0endpoint"
    assert allowed(identity, "ec2:AuthorizeSecurityGroupIngress", endpoint_group)


def test_self_update_role_outlives_the_stack(compiled):
    template = compiled["python-service"].templates["pipeline.yaml"]
    role = template["Resources"]["SelfUpdateRole"]
    assert role["DeletionPolicy"] == role["UpdateReplacePolicy"] == "Retain"
    assert role["Properties"]["RoleName"] == "orders-service-self-update"
    assert "Policies" not in role["Properties"]
    for ref in role["Properties"]["ManagedPolicyArns"]:
        assert template["Resources"][ref["Ref"]]["DeletionPolicy"] == "Retain"
    assert template["Resources"]["PermissionsBoundary"]["DeletionPolicy"] == "Retain"


def test_execution_roles_manage_only_bounded_roles_under_their_stack_path(compiled):
    for name, file in (("python-service", "pipeline.yaml"), ("java-two-accounts", "bootstrap-222222222222.yaml")):
        template = compiled[name].templates[file]
        pipeline = compiled[name].manifest.name
        [role_id] = [
            k
            for k, v in _roles(template).items()
            if "cloudformation.amazonaws.com" in str(v["Properties"]["AssumeRolePolicyDocument"])
            and "SelfUpdate" not in k
        ][:1]
        identity = _statements(template, role_id, {"ArtifactKey.Arn": KEY})
        boundary = _boundary(template)
        bounded = {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/manifestc/{pipeline}/{pipeline}-boundary"}
        stack_role = f"arn:aws:iam::{ACCOUNT}:role/manifestc-app/{pipeline}/{_first_stack(template, role_id)}/AppRole"
        assert effective(identity, boundary, "iam:CreateRole", stack_role, bounded), (name, role_id)
        assert not effective(identity, boundary, "iam:CreateRole", stack_role, {})
        for victim in ("cdk-hnb659fds-cfn-exec-role", f"manifestc/{pipeline}/SelfUpdate", "app-SomeRole"):
            arn = f"arn:aws:iam::{ACCOUNT}:role/{victim}"
            assert not effective(identity, boundary, "iam:UpdateAssumeRolePolicy", arn, bounded), victim
        admin = {**bounded, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}
        assert not effective(identity, boundary, "iam:AttachRolePolicy", stack_role, admin)
        lambda_basic = {**bounded, "iam:PolicyARN": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
        assert effective(identity, boundary, "iam:AttachRolePolicy", stack_role, lambda_basic)


def _first_stack(template, role_id) -> str:
    for statement in role_statements(template, role_id):
        if statement.get("Sid") == "ManageStackRoles":
            arn = resolve(statement["Resource"][0])
            return arn.split("/manifestc-app/")[1].split("/")[1]
    raise AssertionError("no stack roles statement")


def test_the_boundary_denies_escalation(compiled):
    boundary = _boundary(compiled["python-service"].templates["pipeline.yaml"])
    any_role = f"arn:aws:iam::{ACCOUNT}:role/manifestc-app/orders-service/app/Fn"
    assert allowed(boundary, "dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t")
    for action in ("iam:CreateUser", "iam:CreateAccessKey", "organizations:LeaveOrganization", "iam:PutUserPolicy"):
        assert not allowed(boundary, action, "arn:aws:iam::111111111111:user/x"), action
    assert not allowed(boundary, "iam:CreateRole", any_role, {})
    assert not allowed(boundary, "iam:DeleteRolePermissionsBoundary", any_role)
    assert not allowed(
        boundary, "iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole"
    )


def _role_arns(template) -> dict[str, str]:
    """GetAtt <Role>.Arn of every role of a template, as the deployed ARN would read (and the
    template's parameter defaults)."""
    arns = _defaults(template)
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            props = resource["Properties"]
            path = resolve(props.get("Path", "/"), _defaults(template))
            arns[f"{logical_id}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role{path}{props.get('RoleName', logical_id)}"
    return arns


def _bounded_roles(compiled):
    for name, result in compiled.items():
        for file, template in result.templates.items():
            if not isinstance(template, dict) or "PermissionsBoundary" not in template.get("Resources", {}):
                continue
            boundary = _boundary(template)
            for logical_id, resource in template["Resources"].items():
                if resource["Type"] == "AWS::IAM::Role" and "PermissionsBoundary" in resource["Properties"]:
                    yield name, file, template, logical_id, boundary


CDK_DEPLOY = f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-deploy-role-{ACCOUNT}-us-east-1"
OTHER_ACCOUNT_ADMIN = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"


def test_a_bounded_role_can_pass_or_assume_only_the_pipelines_roles(compiled):
    """Review finding: a bounded role given `iam:PassRole *` / `sts:AssumeRole *` inline (an
    application template or a commit can write such a policy) must not reach other roles."""
    greedy = [{"Effect": "Allow", "Action": ["iam:PassRole", "sts:AssumeRole"], "Resource": "*"}]
    for name, file, template, role_id, boundary in _bounded_roles(compiled):
        pipeline = compiled[name].manifest.name
        effective = acting_as(_role_arns(template)[f"{role_id}.Arn"])
        for victim in (CDK_DEPLOY, OTHER_ACCOUNT_ADMIN, f"arn:aws:iam::{ACCOUNT}:role/manifestc/other-pipeline/x"):
            for service in ("cloudformation.amazonaws.com", "lambda.amazonaws.com", "ec2.amazonaws.com"):
                context = {"iam:PassedToService": service}
                assert not effective(greedy, boundary, "iam:PassRole", victim, context), (name, file, role_id, victim)
            assert not effective(greedy, boundary, "sts:AssumeRole", victim), (name, file, role_id, victim)
        own = f"arn:aws:iam::{ACCOUNT}:role/manifestc-app/{pipeline}/{pipeline}-staging/Fn"
        assert effective(greedy, boundary, "iam:PassRole", own, {"iam:PassedToService": "lambda.amazonaws.com"})
        deploy = f"arn:aws:iam::222222222222:role/manifestc/{pipeline}/{pipeline}-deploy"
        # the pipeline's roles may assume the deploy roles; application roles (glue.yaml's) may not
        assert effective(greedy, boundary, "sts:AssumeRole", deploy) == (file != "glue.yaml"), (name, file, role_id)


def _condition_context(statement) -> dict[str, str]:
    context = {}
    for block in statement.get("Condition", {}).values():
        for key, value in block.items():
            context[key] = value[0] if isinstance(value, list) else value
    return context


def test_every_pass_and_assume_the_pipeline_grants_survives_the_boundary(compiled):
    """Nothing legitimate breaks: each PassRole/AssumeRole grant of each bounded role (pipeline role
    to the self-update and deploy roles, deploy roles to execution roles, execution roles to the
    stack's roles, ECS deploys to task roles) is still allowed within the boundary."""
    checked = 0
    for name, file, template, role_id, boundary in _bounded_roles(compiled):
        attributes = _role_arns(template)
        identity = _statements(template, role_id, attributes)
        effective = acting_as(attributes[f"{role_id}.Arn"])
        for statement in identity:
            actions = [a for a in statement["Action"] if a in ("iam:PassRole", "sts:AssumeRole")]
            if statement["Effect"] != "Allow" or not actions:
                continue
            context = _condition_context(statement)
            for resource in statement["Resource"]:
                concrete = resource.replace("*", "Task") if resource.endswith("*") else resource
                if resource == "*":
                    concrete = f"arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole"
                for action in actions:
                    assert effective(identity, boundary, action, concrete, context), (name, file, role_id, concrete)
                    checked += 1
    assert checked > 40


def test_an_execution_role_the_manifest_names_stays_passable(write_manifest):
    role = "arn:aws:iam::123456789012:role/deployers/app-deployer"
    result = _target_with(write_manifest, execution_role=role)
    template = result.templates["pipeline.yaml"]
    boundary = _boundary(template)
    context = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    identity = _statements(template, "PipelineRole", _role_arns(template))
    effective = acting_as(_role_arns(template)["PipelineRole.Arn"])
    assert effective(identity, boundary, "iam:PassRole", role, context)
    greedy = [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]
    assert not effective(greedy, boundary, "iam:PassRole", "arn:aws:iam::123456789012:role/deployers/other", context)


def test_keys_are_created_only_with_the_pipeline_tag(compiled):
    """Review finding: kms:CreateKey sat in the unconditioned `*` statement. Every role CloudFormation
    or Service Catalog deploys the pipeline with may create keys only tagged pipeline=<name>."""
    checked = 0
    for name, result in compiled.items():
        pipeline = result.manifest.name
        for file, template in result.templates.items():
            if not isinstance(template, dict):
                continue
            for logical_id, resource in template.get("Resources", {}).items():
                if resource["Type"] != "AWS::IAM::ManagedPolicy" or "PermissionsBoundary" == logical_id:
                    continue
                statements = resolve(resource["Properties"]["PolicyDocument"]["Statement"], _defaults(template))
                if not any("kms:CreateKey" in s["Action"] for s in statements):
                    continue
                checked += 1
                tagged = {"aws:RequestTag/pipeline": pipeline}
                assert allowed(statements, "kms:CreateKey", "*", tagged), (name, file, logical_id)
                for context in ({}, {"aws:RequestTag/pipeline": "other"}):
                    assert not allowed(statements, "kms:CreateKey", "*", context), (name, file, logical_id)
    assert checked >= 10
    for name, result in compiled.items():
        template = result.templates["pipeline.yaml"]
        key = template["Resources"].get("ArtifactKey")
        if key is not None:
            tags = {t["Key"]: resolve(t["Value"], _defaults(template)) for t in key["Properties"]["Tags"]}
            assert tags["pipeline"] == result.manifest.name, name


def test_bootstrap_boundary_is_retained(compiled):
    """Application roles carrying the boundary can outlive the bootstrap stack: deleting an
    attached policy fails, so the bootstrap keeps it (as the self-updating pipeline stack does)."""
    templates = [
        t
        for r in compiled.values()
        for f, t in r.templates.items()
        if (f.startswith("bootstrap-") or f == "pipeline.yaml") and isinstance(t, dict)
    ]
    # every pipeline too, self-updating or not (a catalog product's: terminating it must not fail)
    assert any(not r.manifest.regenerate.enabled for r in compiled.values())
    assert len(templates) > len(compiled)
    for template in templates:
        boundary = template["Resources"]["PermissionsBoundary"]
        assert boundary["DeletionPolicy"] == "Retain" and boundary["UpdateReplacePolicy"] == "Retain"


# --- execution role fields ------------------------------------------------------------------------


def _target_with(write_manifest, **fields):
    data = yaml.safe_load(MINIMAL)
    data["targets"][0].update(fields)
    return compile_manifest(write_manifest(yaml.safe_dump(data, sort_keys=False)), lint=False)


def test_administrator_execution_policy_is_a_located_error(write_manifest):
    result = _target_with(write_manifest, execution_policies=["arn:aws:iam::aws:policy/AdministratorAccess"])
    [finding] = [d for d in result.diagnostics if d.code == "MC265"]
    assert finding.is_error and finding.line > 1 and "AdministratorAccess" in finding.message
    assert not result.artifacts


@pytest.mark.parametrize(
    "role",
    [
        "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-eu-west-1",
        "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole",
        "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123",
    ],
)
def test_admin_or_other_tools_execution_role_is_a_located_error(write_manifest, role):
    result = _target_with(write_manifest, execution_role=role)
    [finding] = [d for d in result.diagnostics if d.code == "MC266"]
    assert finding.is_error and finding.line > 1


def test_a_plain_execution_role_is_accepted(write_manifest):
    result = _target_with(write_manifest, execution_role="arn:aws:iam::123456789012:role/deployers/app-deployer")
    assert not [d for d in result.diagnostics if d.is_error]


# --- Service Catalog launch roles ------------------------------------------------------------------


def test_launch_role_reads_service_catalog_copies_and_both_connection_prefixes(compiled):
    templates = compiled["holdout-catalog"].templates
    for file, role_id in (("catalog.yaml", "ProductCatalogAppPipelineLaunchRole"), ("launch-role.yaml", "LaunchRole")):
        statements = role_statements(templates[file], role_id)
        [read] = [s for s in statements if s.get("Sid") == "ReadServiceCatalogCopies"]
        assert read["Action"] == ["s3:GetObject"]
        assert read["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}}
        [connection] = [s for s in statements if s.get("Sid") == "PassConnection"]
        actions = set(connection["Action"])
        assert {"codestar-connections:PassConnection", "codeconnections:PassConnection"} <= actions
        arns = {resolve(r) if isinstance(r, dict) else r for r in connection["Resource"]}
        assert arns == {
            "arn:aws:codestar-connections:us-east-1:123456789012:connection/abcd-1234",
            "arn:aws:codeconnections:us-east-1:123456789012:connection/abcd-1234",
        }


def test_launch_role_creates_only_bounded_roles(compiled):
    templates = compiled["holdout-catalog"].templates
    identity = _statements(templates["launch-role.yaml"], "LaunchRole", {"TemplateBucket": "b"})
    role = f"arn:aws:iam::{ACCOUNT}:role/manifestc/catalog-app/BuildRole"
    boundary = {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/manifestc/catalog-app/catalog-app-boundary"}
    assert allowed(identity, "iam:CreateRole", role, boundary)
    assert not allowed(identity, "iam:CreateRole", role, {})
    assert not allowed(identity, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/Admin", boundary)


def test_boundary_text_is_printed_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert "/manifestc-app/<name>/" in readme
    assert (
        textwrap.dedent(
            "PermissionsBoundary: !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/manifestc/<name>/<name>-boundary"
        )
        in readme
    )


def test_no_role_of_a_pipeline_starts_another_pipelines_build_or_writes_a_toolchain(compiled):
    """Second review: a bounded role granted codebuild:StartBuild (or UpdateProject) on another
    pipeline's or the factory's project would run a buildspecOverride as that project's role; and a
    role writing `_manifestc/` of any bucket could replace a toolchain other pipelines run. The
    boundary denies both, whatever the identity policy grants."""
    template = compiled["python-service"].templates["pipeline.yaml"]
    boundary = _boundary(template)
    everything = [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]
    project = f"arn:aws:codebuild:eu-west-1:{ACCOUNT}:project/x"
    for pipeline in ("other-service", "manifestc-factory"):
        tags = {"aws:ResourceTag/managed-by": "manifestc", "aws:ResourceTag/pipeline": pipeline}
        for action in ("codebuild:StartBuild", "codebuild:UpdateProject", "codebuild:RetryBuild"):
            assert not effective(everything, boundary, action, project, tags), (pipeline, action)
    own = {"aws:ResourceTag/managed-by": "manifestc", "aws:ResourceTag/pipeline": "orders-service"}
    pipeline_role = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/manifestc/orders-service/BuildRole"}
    app_role = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/manifestc-app/orders-service/orders-staging/Fn"}
    assert effective(everything, boundary, "codebuild:StartBuild", project, {**own, **pipeline_role})
    # an application role may not start its own pipeline's projects either (AppRolesStartNoPipelineBuilds)
    assert not effective(everything, boundary, "codebuild:StartBuild", project, {**own, **app_role})
    assert effective(everything, boundary, "codebuild:StartBuild", project, app_role)  # an application's own project
    for key in ("acme-tools/_manifestc/toolchain/0.1.0/manifestc.whl", "x-artifacts/_manifestc/toolchain/r.txt"):
        assert not effective(everything, boundary, "s3:PutObject", f"arn:aws:s3:::{key}")
    assert effective(everything, boundary, "s3:PutObject", "arn:aws:s3:::acme-site/prod/index.html")


def test_the_manifestc_prefix_deny_reaches_every_depth_and_nothing_else(compiled):
    """Final review: NoManifestcPrefixWrites (`*/_manifestc/*`) cannot be anchored to the top of a
    key: IAM's `*` matches `/` too (IAM User Guide, "IAM JSON policy elements: Resource": wildcards).
    This test states its cost exactly (README "Self-update"): a `_manifestc/` segment at any depth
    of any bucket is denied; a name that only contains `_manifestc` is not."""
    boundary = _boundary(compiled["python-service"].templates["pipeline.yaml"])
    everything = [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]
    for key in ("app-assets/static/_manifestc/x.js", "logs/2024/_manifestc/a", "b/_manifestc/"):
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl"):
            assert not effective(everything, boundary, action, f"arn:aws:s3:::{key}"), (key, action)
        assert effective(everything, boundary, "s3:GetObject", f"arn:aws:s3:::{key}")  # reads stay open
    for key in ("app-assets/x_manifestc/a.js", "b/_manifestc.txt", "b/_manifestcache/a", "b/manifestc/a"):
        assert effective(everything, boundary, "s3:PutObject", f"arn:aws:s3:::{key}"), key


def test_only_the_self_update_role_changes_a_pipeline_or_answers_an_approval(compiled):
    """Third review: a bounded role an unapproved staging template creates could call
    UpdatePipeline (dropping prod's approval) or PutApprovalResult. The boundary denies it to every
    bounded role but the pipeline's self-update role (approvers carry no boundary)."""
    template = compiled["python-service"].templates["pipeline.yaml"]
    boundary = _boundary(template)
    everything = [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]
    pipeline = f"arn:aws:codepipeline:eu-west-1:{ACCOUNT}:orders-service"
    app_role = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/manifestc-app/orders-service/orders-staging/fn"}
    self_update = {
        "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/manifestc/orders-service/orders-service-self-update"
    }
    for action in ("codepipeline:UpdatePipeline", "codepipeline:PutApprovalResult", "codepipeline:RetryStageExecution"):
        assert not effective(everything, boundary, action, pipeline, app_role), action
    assert effective(everything, boundary, "codepipeline:UpdatePipeline", pipeline, self_update)
    # and another manifestc pipeline's roles may not write this pipeline's artifacts
    policy = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = next(s for s in policy if s.get("Sid") == "DenyObjectWritesByOtherPipelines")
    spared = [p["Fn::Sub"] for p in deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]]
    assert any(p.endswith("role/manifestc/orders-service/*") for p in spared)
    assert any(p.endswith("role/manifestc/manifestc-factory/*") for p in spared)
    assert [p["Fn::Sub"].split(":role")[1] for p in deny["Condition"]["ArnLike"]["aws:PrincipalArn"]] == [
        "/manifestc/*",
        "/manifestc-app/*",
    ]


def _resource_policy(template, logical_id, key="PolicyDocument"):
    document = template["Resources"][logical_id]["Properties"][key]
    return resolve(document["Statement"], {"ArtifactBucket.Arn": "arn:aws:s3:::refunds-artifacts"})


def test_an_application_role_cannot_take_over_the_pipeline(compiled):
    """Review S1: a role an application template creates (an unreviewed preview branch's, through
    EphemeralExecRole: bounded, any trust, any inline policy) could pass the prod deploy role or the
    self-update role to CloudFormation and rewrite refunds-api-prod or the pipeline stack, skipping
    the approval, and write the artifact bucket. Each step of that chain, and its neighbours, is
    denied to every bounded role that is not one of the pipeline's own (`/manifestc/<name>/`)."""
    template = compiled["ephemeral-stacks"].templates["pipeline.yaml"]
    boundary = _boundary(template)
    name, tooling = "refunds-api", ACCOUNT
    own_boundary = f"arn:aws:iam::{tooling}:policy/manifestc/{name}/{name}-boundary"
    exec_role = _statements(template, "EphemeralExecRole", {"ArtifactBucket.Arn": "x"})
    preview_role = f"arn:aws:iam::{tooling}:role/manifestc-app/{name}/{name}-preview-x-api/evil"
    bounded = {"iam:PermissionsBoundary": own_boundary}
    # the chain's start stays possible (previews create their own bounded roles)...
    assert effective(exec_role, boundary, "iam:CreateRole", preview_role, bounded)
    assert effective(exec_role, boundary, "iam:PutRolePolicy", preview_role, bounded)
    # ...but what such a role (given Allow *) can then do to the pipeline is nothing
    everything = [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]
    pipeline_roles = {
        "prod deploy role": f"arn:aws:iam::{tooling}:role/manifestc/{name}/{name}-pipeline-DeployProdApiRole-ABC",
        "self-update role": f"arn:aws:iam::{tooling}:role/manifestc/{name}/{name}-self-update",
        "ephemeral execution role": f"arn:aws:iam::{tooling}:role/manifestc/{name}/{name}-EphemeralExecRole-ABC",
        "target account deploy role": f"arn:aws:iam::222222222222:role/manifestc/{name}/{name}-deploy",
        "CDK deploy role": CDK_DEPLOY,
        "CDK publishing role": f"arn:aws:iam::{tooling}:role/cdk-hnb659fds-file-publishing-role-{tooling}-us-east-1",
    }
    stacks = [
        f"arn:aws:cloudformation:us-east-1:{tooling}:stack/{name}-prod/abc",
        f"arn:aws:cloudformation:us-east-1:{tooling}:stack/{name}-pipeline/abc",
        f"arn:aws:cloudformation:us-east-1:{tooling}:stack/anything/abc",
    ]
    bucket = "arn:aws:s3:::refunds-artifacts"
    bucket_policy = _resource_policy(template, "ArtifactBucketPolicy")
    key_policy = _resource_policy(template, "ArtifactKey", "KeyPolicy")
    project = f"arn:aws:codebuild:us-east-1:{tooling}:project/{name}-build"
    ours = {"aws:ResourceTag/managed-by": "manifestc", "aws:ResourceTag/pipeline": name}
    for caller in (preview_role, f"arn:aws:iam::{tooling}:role/manifestc-app/{name}/{name}-staging/Fn"):
        as_app = {"aws:PrincipalArn": caller}
        for what, role in pipeline_roles.items():
            for service in ("cloudformation.amazonaws.com", "lambda.amazonaws.com"):
                context = {**as_app, "iam:PassedToService": service}
                assert not effective(everything, boundary, "iam:PassRole", role, context), (caller, what)
            assert not effective(everything, boundary, "sts:AssumeRole", role, as_app), (caller, what)
            for action in ("iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:AttachRolePolicy"):
                assert not effective(everything, boundary, action, role, {**as_app, **bounded}), (caller, what, action)
        # UpdateStack without RoleARN runs the stack's own role with no iam:PassRole: no stack write
        for stack in stacks:
            for action in (
                "cloudformation:UpdateStack",
                "cloudformation:CreateChangeSet",
                "cloudformation:ExecuteChangeSet",
                "cloudformation:DeleteStack",
                "cloudformation:ContinueUpdateRollback",
                "cloudformation:RollbackStack",
            ):
                assert not effective(everything, boundary, action, stack, as_app), (caller, stack, action)
            assert effective(everything, boundary, "cloudformation:DescribeStacks", stack, as_app)
        # no role created outside its own path (so no bounded role escapes these denials)...
        for path in (f"manifestc/{name}", "manifestc/other", "elsewhere"):
            created = f"arn:aws:iam::{tooling}:role/{path}/x"
            assert not effective(everything, boundary, "iam:CreateRole", created, {**as_app, **bounded}), path
        # ...no policy of the pipeline changed or given to a user (the approvers' policies)
        approvers = f"arn:aws:iam::{tooling}:policy/manifestc/{name}/{name}-approvers-prod"
        assert not effective(everything, boundary, "iam:CreatePolicyVersion", approvers, as_app)
        user = f"arn:aws:iam::{tooling}:user/mallory"
        assert not effective(everything, boundary, "iam:AttachUserPolicy", user, {**as_app, "iam:PolicyARN": approvers})
        alias = f"arn:aws:kms:us-east-1:{tooling}:alias/manifestc/{name}"
        for action in ("kms:DeleteAlias", "kms:UpdateAlias"):
            assert not effective(everything, boundary, action, alias, as_app), action
        # no pipeline project started (a buildspecOverride would run as its role)
        for action in ("codebuild:StartBuild", "codebuild:StartSandbox", "codebuild:UpdateProject"):
            assert not effective(everything, boundary, action, project, {**as_app, **ours}), action
        # the artifact bucket and key: read, never written or encrypted with
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl"):
            assert denied(bucket_policy, action, f"{bucket}/{name}/BuildOutput/abc", as_app), action
        for action in ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutLifecycleConfiguration"):
            assert denied(bucket_policy, action, bucket, as_app), action
        assert not denied(bucket_policy, "s3:GetObject", f"{bucket}/lambda/fn.zip", as_app)
        for action in ("kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptTo"):
            assert denied(key_policy, action, "*", as_app), action
        assert not denied(key_policy, "kms:Decrypt", "*", as_app)
        # what an application legitimately does stays allowed
        own_role = f"arn:aws:iam::{tooling}:role/manifestc-app/{name}/{name}-staging/Worker"
        assert effective(
            everything, boundary, "iam:PassRole", own_role, {**as_app, "iam:PassedToService": "lambda.amazonaws.com"}
        )
        assert effective(everything, boundary, "sts:AssumeRole", own_role, as_app)
        assert effective(
            everything, boundary, "dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{tooling}:table/t", as_app
        )
        assert effective(
            everything, boundary, "codebuild:StartBuild", f"arn:aws:codebuild:us-east-1:{tooling}:project/app", as_app
        )


def _satisfying_context(statement) -> dict[str, str]:
    """A request context meeting the statement's positive conditions (negated ones hold when the
    key is absent)."""
    context = {}
    for operator, block in statement.get("Condition", {}).items():
        if "Not" in operator:
            continue
        for key, value in block.items():
            context[key] = (value[0] if isinstance(value, list) else value).replace("*", "x")
    return context


def test_the_pipelines_own_roles_keep_what_they_need(compiled):
    """The application-role denials spare the pipeline's roles: every grant of every bounded role of
    pipeline.yaml and bootstrap-<account>.yaml on CloudFormation, IAM, CodeBuild, S3 and KMS (the
    deploy roles' stack writes, the execution roles' role management, the self-update role's
    stack, roles and policies, the builds' artifact writes) is still allowed within the boundary,
    and the bucket and key policies deny none of their artifact writes."""
    checked = 0
    families = ("cloudformation:", "iam:", "codebuild:", "s3:", "kms:")
    for name, file, template, role_id, boundary in _bounded_roles(compiled):
        if file == "glue.yaml":
            continue  # application roles
        attributes = {"ArtifactBucket.Arn": "arn:aws:s3:::artifacts", "ArtifactKey.Arn": KEY, **_role_arns(template)}
        pipeline = compiled[name].manifest.name
        policies = f"arn:aws:iam::{ACCOUNT}:policy/manifestc/{pipeline}"
        # the calls as the stacks make them: bounded roles, the pipeline's own policies
        principal = {
            "iam:PermissionsBoundary": f"{policies}/{pipeline}-boundary",
            "iam:PolicyARN": f"{policies}/{pipeline}-approvers-prod",
            "aws:PrincipalArn": attributes[f"{role_id}.Arn"],
        }
        identity = _statements(template, role_id, attributes)
        bucket_policy = key_policy = []
        if "ArtifactBucketPolicy" in template["Resources"]:
            bucket_policy = resolve(
                template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"], attributes
            )
            key_policy = resolve(
                template["Resources"]["ArtifactKey"]["Properties"]["KeyPolicy"]["Statement"], attributes
            )
        for statement in identity:
            if statement["Effect"] != "Allow" or "Resource" not in statement:
                continue
            context = {**principal, **_satisfying_context(statement)}
            for action in statement["Action"]:
                if not action.startswith(families) or "*" in action:
                    continue
                for resource in statement["Resource"]:
                    if "UNRESOLVED" in resource:
                        continue
                    concrete = resource.replace("*", "x")
                    assert effective(identity, boundary, action, concrete, context), (
                        name,
                        file,
                        role_id,
                        action,
                        concrete,
                    )
                    if action.startswith("s3:") and "arn:aws:s3:::artifacts" in concrete:
                        assert not denied(bucket_policy, action, concrete, context), (name, role_id, action)
                    if action.startswith("kms:") and concrete == KEY:
                        assert not denied(key_policy, action, "*", context), (name, role_id, action)
                    checked += 1
    assert checked > 2000


def test_the_boundary_copy_in_a_target_account_holds_application_roles_there_too(compiled):
    """bootstrap-<account>.yaml carries the same boundary: an application role of prod's stacks in
    that account (created by `<name>-cfn-exec`, PowerUserAccess) cannot pass `<name>-cfn-exec` or
    assume `<name>-deploy`, nor update a stack, while the deploy role keeps its change sets."""
    template = compiled["java-two-accounts"].templates["bootstrap-222222222222.yaml"]
    boundary = _boundary(template)
    name = "ledger-service"
    everything = [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]
    app = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/manifestc-app/{name}/{name}-prod/Fn"}
    for role in (f"{name}-cfn-exec", f"{name}-deploy"):
        arn = f"arn:aws:iam::{ACCOUNT}:role/manifestc/{name}/{role}"
        to_cfn = {**app, "iam:PassedToService": "cloudformation.amazonaws.com"}
        assert not effective(everything, boundary, "iam:PassRole", arn, to_cfn), role
        assert not effective(everything, boundary, "sts:AssumeRole", arn, app), role
    stack = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{name}-prod/abc"
    assert not effective(everything, boundary, "cloudformation:UpdateStack", stack, app)
    deploy = {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/manifestc/{name}/{name}-deploy"}
    assert effective(everything, boundary, "cloudformation:UpdateStack", stack, deploy)
    # and no exception for CDK publishing roles there: only the tooling account's asset jobs assume them
    assert "OnlyAssetJobsPublish" not in {s.get("Sid") for s in boundary}


def test_missing_permissions_names_exactly_what_a_role_lacks():
    """The handler check matches each required action against every allowed pattern (wildcards,
    any case) and names the rest."""
    from manifestc import registry

    deployed = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    needed = [a for a in registry.all_handler_permissions("AWS::SNS::Topic") if a not in registry.WITHHELD_ACTIONS]
    assert needed and missing_permissions([], deployed) == [f"lacks {', '.join(needed)} (AWS::SNS::Topic)"]
    allow_all = [{"Effect": "Allow", "Action": [a.upper() for a in needed]}]
    assert missing_permissions(allow_all, deployed) == []
    first, rest = needed[0], needed[1:]
    assert missing_permissions([{"Effect": "Allow", "Action": rest}], deployed) == [f"lacks {first} (AWS::SNS::Topic)"]
    service = first.split(":")[0]
    wildcard = [{"Effect": "Allow", "Action": [f"{service}:*"] + [a for a in rest if not a.startswith(service)]}]
    assert missing_permissions(wildcard, deployed) == []
    denied_only = [{"Effect": "Deny", "Action": ["*"]}]
    assert missing_permissions(denied_only, deployed) == [f"lacks {', '.join(needed)} (AWS::SNS::Topic)"]
