"""The self-update role: what CloudFormation may do when the pipeline updates its own stack.

Derived from the resource types the template actually contains (never a hand list, never
`*:*`), each scoped to the names this compiler gives those resources. Runs last, so it sees
every other resource; its own role type is included up front.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from awacs.aws import Action, ArnEquals, ArnLike, Condition, Deny, Statement, StringEquals, StringLike
from troposphere import GetAtt, Ref, Sub, iam

from .. import registry
from .context import PARAMETERS, Context, approvers_policy_name, camel
from .iam import (
    BOUNDARY_CONDITIONED_ROLE_ACTIONS,
    CONNECTION_SERVICES,
    WITHHELD_ACTIONS,
    allow,
    boundary_arn,
    connection_actions,
    connection_spellings,
    policy,
    service_role,
)

# What CloudFormation may call for each resource type: the handler permissions of the type's
# registry schema (registry.py, from cfn-lint's copy of the CloudFormation registry). This module
# only decides *where* each action applies: the names this compiler gives its resources.


@dataclass(frozen=True)
class Scope:
    """Where a group of actions applies: resources, an optional condition, a statement id."""

    sid: str
    resources: tuple
    condition: Condition | None = None


def _arn(ctx: Context, service: str, resource: str, region: bool = True) -> Sub:
    return ctx.arn(service, resource, region=region)


def _partition_arn(text: str) -> Sub:
    return Sub("arn:${AWS::Partition}:" + text)


def _match(ctx: Context):
    """One pipeline's name is matched exactly; every copy of a product's (a launch role,
    ctx.all_copies) by its name prefix, `<name>*`, which needs StringLike."""
    return StringLike if ctx.all_copies else StringEquals


def _pipeline_tag(kind: str, ctx: Context) -> Condition:
    return Condition(_match(ctx)({f"aws:{kind}/pipeline": ctx.name_pattern}))


def _approver_principals(template) -> dict[str, list[str]]:
    """Users, groups and roles the template attaches its managed policies to (approvers)."""
    found: dict[str, set[str]] = {"user": set(), "group": set(), "role": set()}
    for resource in template.resources.values():
        if resource.resource_type != "AWS::IAM::ManagedPolicy":
            continue
        for kind, key in (("user", "Users"), ("group", "Groups"), ("role", "Roles")):
            found[kind].update(n for n in resource.properties.get(key, []) if isinstance(n, str))
    return {k: sorted(v) for k, v in found.items()}


def _principal_arns(kind: str, names: list[str], ctx: Context) -> tuple:
    """Approver principals by name, at any path; none named: the pipeline's own path only."""
    if not names:
        return (_partition_arn(f"iam::${{AWS::AccountId}}:{kind}{ctx.iam_path_pattern}*"),)
    return tuple(
        _partition_arn(f"iam::${{AWS::AccountId}}:{kind}{middle}{n}") for n in names for middle in ("/", "/*/")
    )


def _attachable_policies(ctx: Context, template) -> list:
    """iam:PolicyARN allow-list: the pipeline's own managed policies and the AWS managed
    policies the template's roles name (execution_policies)."""
    arns: list = [_partition_arn(f"iam::${{AWS::AccountId}}:policy{ctx.iam_path_pattern}*")]
    seen: set[str] = set()
    for resource in template.resources.values():
        if resource.resource_type != "AWS::IAM::Role":
            continue
        for arn in resource.properties.get("ManagedPolicyArns", []):
            text = arn.to_dict()["Fn::Sub"] if isinstance(arn, Sub) else arn
            if isinstance(text, str) and text not in seen:
                seen.add(text)
                arns.append(Sub(text) if "${" in text else text)
    return arns


def _scopes(ctx: Context, template, launch: bool) -> dict[tuple[str, str], list[Scope]]:
    """(service, resource type of the Service Authorization Reference) -> where the actions on
    that kind of resource apply. Anything not listed falls back to the pipeline's name prefix."""
    n = ctx.name_pattern  # one pipeline, or every product copy's prefix (launch role)
    account_region = "${AWS::Region}:${AWS::AccountId}"
    vpc = ctx.manifest.network.vpc_id if ctx.manifest.network else None
    keys = [r.title for r in template.resources.values() if r.resource_type == "AWS::KMS::Key"]
    ingress_groups = [
        r.properties["GroupId"]
        for r in template.resources.values()
        if r.resource_type == "AWS::EC2::SecurityGroupIngress" and "GroupId" in r.properties
    ]
    roles = (_partition_arn(f"iam::${{AWS::AccountId}}:role{ctx.iam_path_pattern}*"),)
    principals = _approver_principals(template)
    # approvers carry no boundary: only their approval policies may be attached to them
    own_policies = Condition(
        ArnLike(
            {
                "iam:PolicyARN": _partition_arn(
                    f"iam::${{AWS::AccountId}}:policy{ctx.iam_path_pattern}" + approvers_policy_name(n, "*")
                )
            }
        )
    )
    if launch:
        # Service Catalog creates the stack: keys do not exist yet, they are known by their tag
        # (tag-on-create: the registry schema says tagOnCreate for AWS::KMS::Key).
        key_scopes = [Scope("KmsPipelineKeys", (_arn(ctx, "kms", "key/*"),), _pipeline_tag("ResourceTag", ctx))]
    else:
        # The self-update role only updates a stack whose key exists: exactly that key, by ARN.
        key_scopes = [
            Scope("KmsPipelineKeys", tuple(GetAtt(k, "Arn") for k in keys) or (_arn(ctx, "kms", "key/none"),))
        ]
    group_scopes = [
        Scope("Ec2PipelineSecurityGroups", (_arn(ctx, "ec2", "security-group/*"),), _pipeline_tag("ResourceTag", ctx))
    ]
    if ingress_groups:
        # the shared endpoint group of the VPC stack (network-<vpc>.yaml): by its exported id
        group_scopes.append(
            Scope(
                "Ec2EndpointSecurityGroup",
                tuple(
                    Sub(f"arn:${{AWS::Partition}}:ec2:{account_region}:security-group/${{GroupId}}", {"GroupId": g})
                    for g in ingress_groups
                ),
            )
        )
    return {
        ("codebuild", "project"): [Scope("CodeBuildProjects", (_arn(ctx, "codebuild", f"project/{n}-*"),))],
        ("codebuild", "report-group"): [
            Scope("CodeBuildReportGroups", (_arn(ctx, "codebuild", f"report-group/{n}-*"),))
        ],
        ("codepipeline", "pipeline"): [Scope("Pipeline", (_arn(ctx, "codepipeline", n),))],
        ("codepipeline", "stage"): [Scope("PipelineStages", (_arn(ctx, "codepipeline", f"{n}/*"),))],
        # notification rules have generated ids and grant nothing: any rule of the account and region
        ("codestar-notifications", "notificationrule"): [
            Scope("NotificationRules", (_arn(ctx, "codestar-notifications", "notificationrule/*"),))
        ],
        ("ec2", "security-group"): group_scopes,
        ("ec2", "security-group-rule"): [Scope("Ec2SecurityGroupRules", (_arn(ctx, "ec2", "security-group-rule/*"),))],
        ("ec2", "vpc"): [Scope("Ec2Vpc", (_arn(ctx, "ec2", f"vpc/{vpc}"),))] if vpc else [],
        ("events", "rule-on-default-event-bus"): [Scope("EventRules", (_arn(ctx, "events", f"rule/{n}-*"),))],
        ("iam", "role"): [Scope("PipelineRoles", roles)],
        ("iam", "policy"): [
            Scope("PipelinePolicies", (_partition_arn(f"iam::${{AWS::AccountId}}:policy{ctx.iam_path_pattern}*"),))
        ],
        ("iam", "user"): [Scope("ApproverUsers", _principal_arns("user", principals["user"], ctx), own_policies)],
        ("iam", "group"): [Scope("ApproverGroups", _principal_arns("group", principals["group"], ctx), own_policies)],
        ("kms", "key"): key_scopes,
        ("kms", "alias"): [Scope("KmsPipelineAlias", (_arn(ctx, "kms", f"alias/manifestc/{n}"),))],
        ("logs", "log-group"): [
            Scope(
                "BuildLogGroups",
                (
                    _arn(ctx, "logs", f"log-group:/aws/codebuild/{n}-*"),
                    _arn(ctx, "logs", f"log-group:/aws/codebuild/{n}-*:log-stream:*"),
                ),
            )
        ],
        ("s3", "bucket"): [Scope("ArtifactBuckets", (_partition_arn(f"s3:::{ctx.bucket_arn_pattern()}"),))],
        ("s3", "object"): [Scope("ArtifactObjects", (_partition_arn(f"s3:::{ctx.bucket_arn_pattern()}/*"),))],
        ("sns", "topic"): [Scope("Topics", (_arn(ctx, "sns", f"{n}-*"),))],
    }


def _special_scopes(ctx: Context, action: str, launch: bool, template) -> list[Scope] | None:
    """Actions whose scope depends on the action, not only on the resource (conditions that
    only make sense for some calls). None: use the resource scopes."""
    n = ctx.name_pattern
    boundary = boundary_arn(n)
    roles = (_partition_arn(f"iam::${{AWS::AccountId}}:role{ctx.iam_path_pattern}*"),)
    if action == "iam:AttachRolePolicy":
        # only roles carrying the boundary, only allow-listed policies; the approvers' roles (outside
        # the boundary) get only the pipeline's own policies
        approver_roles = _approver_principals(template)["role"]
        scopes = [
            Scope(
                "AttachAllowListedPoliciesToBoundedRoles",
                roles,
                Condition(
                    [
                        _match(ctx)({"iam:PermissionsBoundary": boundary}),
                        ArnLike({"iam:PolicyARN": _attachable_policies(ctx, template)}),
                    ]
                ),
            )
        ]
        if approver_roles:
            scopes.append(
                Scope(
                    "AttachPipelinePoliciesToApproverRoles",
                    _principal_arns("role", approver_roles, ctx),
                    Condition(
                        [
                            # exactly the approvers' policies: the approvers carry no boundary,
                            # so no other policy of the pipeline (its own roles' policies) may reach them
                            ArnLike(
                                {
                                    "iam:PolicyARN": _partition_arn(
                                        f"iam::${{AWS::AccountId}}:policy{ctx.iam_path_pattern}"
                                        + approvers_policy_name(ctx.name_pattern, "*")
                                    )
                                }
                            ),
                        ]
                    ),
                )
            )
        return scopes
    if action == "iam:DetachRolePolicy":
        approver_roles = _approver_principals(template)["role"]
        return [Scope("BoundedRoles", roles, Condition(_match(ctx)({"iam:PermissionsBoundary": boundary})))] + (
            [Scope("DetachFromApproverRoles", _principal_arns("role", approver_roles, ctx))] if approver_roles else []
        )
    if action in BOUNDARY_CONDITIONED_ROLE_ACTIONS:
        return [Scope("BoundedRoles", roles, Condition(_match(ctx)({"iam:PermissionsBoundary": boundary})))]
    if action == "kms:CreateKey":
        # CreateKey has no resource to scope to: the key must be created carrying this pipeline's tag
        return [Scope("CreateTaggedKey", ("*",), _pipeline_tag("RequestTag", ctx))]
    if action == "kms:TagResource" and launch:
        # Tags given to CreateKey need kms:TagResource on every key of the account ("Controlling
        # access to tags", KMS Developer Guide): only the pipeline tag, only for Service Catalog's
        # stacks of the product template (the self-update role tags its existing key only).
        return [Scope("CreateTaggedKey", ("*",), _pipeline_tag("RequestTag", ctx))]
    if action == "ec2:CreateSecurityGroup":
        vpc = ctx.manifest.network.vpc_id if ctx.manifest.network else None
        return [
            Scope(
                "CreateTaggedSecurityGroup", (_arn(ctx, "ec2", "security-group/*"),), _pipeline_tag("RequestTag", ctx)
            )
        ] + ([Scope("Ec2Vpc", (_arn(ctx, "ec2", f"vpc/{vpc}"),))] if vpc else [])
    if action == "ec2:CreateTags":
        # tags on create (the group then carries the pipeline tag), or on the pipeline's own groups
        return [
            Scope(
                "TagSecurityGroupOnCreate",
                (_arn(ctx, "ec2", "security-group/*"),),
                Condition(StringEquals({"ec2:CreateAction": "CreateSecurityGroup"})),
            ),
            Scope(
                "Ec2PipelineSecurityGroups", (_arn(ctx, "ec2", "security-group/*"),), _pipeline_tag("ResourceTag", ctx)
            ),
        ]
    return None


def _fallback_scope(ctx: Context, service: str, resource_types: tuple[str, ...]) -> Scope:
    """An action for a resource kind this compiler never creates (a handler permission for an
    optional property it does not set): limited to names starting with the pipeline name."""
    arns = []
    for resource_type in resource_types:
        for arn_format in registry.resource_arn_formats(service, resource_type)[:1]:
            text = (
                arn_format.replace("${Partition}", "${AWS::Partition}")
                .replace("${Region}", "${AWS::Region}")
                .replace("${Account}", "${AWS::AccountId}")
            )
            text = re.sub(r"\$\{[A-Za-z]+\}", "*", text)  # other placeholders (${TagKey}...)
            text = text.replace(".*", f"{ctx.name_pattern}-*", 1).replace(".*", "*")
            arns.append(Sub(text))
    return Scope(f"Unused{camel(service)}", tuple(arns) or ("*",))


def template_permissions(ctx: Context, template, launch: bool = False) -> list:
    """What creating, updating and deleting exactly `template`'s resources takes: every handler
    permission of every resource type in it (registry schemas), each on the narrowest resources
    the compiler's names allow, `*` only for actions AWS offers no resource-level scope for.

    `launch`: for a Service Catalog launch role, which creates the stack (no resource exists yet);
    otherwise for the self-update role, which updates an existing stack.
    """
    types = sorted({r.resource_type for r in template.resources.values()} | {"AWS::IAM::Role"})
    scopes = _scopes(ctx, template, launch)
    groups: dict[str, tuple[Scope, set[str]]] = {}
    unscoped: set[str] = set()
    for resource_type in types:
        if registry.handler_permissions(resource_type) is None:  # a type the registry lacks: compiler bug
            raise AssertionError(f"no registry schema with handler permissions for {resource_type}")
        for action in registry.all_handler_permissions(resource_type):
            if action in WITHHELD_ACTIONS:
                continue
            service = action.split(":", 1)[0]
            if service in CONNECTION_SERVICES and ctx.manifest.source.provider == "codestar":
                continue  # the connection statement below, under both service prefixes
            resource_types = registry.action_resource_types(action)
            # special scopes first: some take no resource but a condition (kms:CreateKey)
            chosen = _special_scopes(ctx, action, launch, template)
            if not resource_types and chosen is None:
                unscoped.add(action)
                continue
            if chosen is None:
                chosen = [s for r in resource_types for s in scopes.get((service, r), [])]
            if not chosen:
                chosen = [_fallback_scope(ctx, service, resource_types)]
            for scope in chosen:
                groups.setdefault(scope.sid, (scope, set()))[1].add(action)
    statements = [
        allow([_action(a) for a in sorted(actions, key=str.lower)], list(scope.resources), scope.condition, sid=sid)
        for sid, (scope, actions) in sorted(groups.items())
    ]
    statements.extend(_boundary_is_fixed(ctx, launch))
    if ctx.manifest.source.provider == "codestar":
        statements.append(_connection_statement(ctx, launch))
    if unscoped:
        # Service Authorization Reference: these actions list no resource type, so only "*" works.
        statements.append(
            allow([_action(a) for a in sorted(unscoped, key=str.lower)], ["*"], sid="NoResourceLevelScope")
        )
    return statements


def connection_arns(ctx: Context, launch: bool) -> list:
    """The source connection under both ARN spellings (one connection, two service prefixes)."""
    if ctx.parameterised("connection_arn"):
        if not (launch or ctx.all_copies):
            # in the product template itself: exactly the provisioner's connection
            return [Ref(PARAMETERS["connection_arn"])]
        # the launch role serves every provisioner, whose connection it cannot know
        return [Sub(f"arn:${{AWS::Partition}}:{s}:*:${{AWS::AccountId}}:connection/*") for s in CONNECTION_SERVICES]
    return connection_spellings(ctx.manifest.source.connection_arn)


def _connection_statement(ctx: Context, launch: bool):
    """A pipeline source action (and a webhook project) on a connection is created by passing it."""
    return allow(
        connection_actions("PassConnection", "UseConnection"), connection_arns(ctx, launch), sid="PassConnection"
    )


def _boundary_is_fixed(ctx: Context, launch: bool) -> list:
    """The boundary is never removed from a role nor granted as a policy; the self-update role
    may not change it either (a new boundary comes with a new compiler version, deployed by a
    person). A launch role creates and deletes it with the product's stack."""
    boundary = boundary_arn(ctx.name_pattern)
    statements = [
        Statement(
            Sid="BoundaryIsNoGrant",
            Effect=Deny,
            Action=[Action("iam", a) for a in ("AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy")],
            Resource=["*"],
            Condition=Condition(ArnEquals({"iam:PolicyARN": boundary})),
        ),
        Statement(
            Sid="BoundaryStays",
            Effect=Deny,
            Action=[Action("iam", "DeleteRolePermissionsBoundary")],
            Resource=["*"],
        ),
    ]
    if not launch:
        statements.append(
            Statement(
                Sid="BoundaryIsFixed",
                Effect=Deny,
                Action=[
                    Action("iam", a)
                    for a in ("CreatePolicyVersion", "DeletePolicy", "DeletePolicyVersion", "SetDefaultPolicyVersion")
                ],
                Resource=[boundary],
            )
        )
    return statements


# Inline policies of one role may total 10,240 characters, a managed policy 6,144 (whitespace
# not counted). Source: IAM User Guide, "IAM and AWS STS quotas":
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
INLINE_POLICY_LIMIT = 10_240
MANAGED_POLICY_LIMIT = 6_144


def policy_size(statements: list) -> int:
    """Characters of a policy document as IAM counts them: no whitespace, pseudo-parameters
    resolved (at their longest: a GovCloud partition, a 14-character region), references to
    resources counted as the longest ARN they resolve to."""
    import json

    from troposphere import encode_to_dict

    def resolve(value):
        if isinstance(value, dict):
            if "Fn::Sub" in value:
                text = value["Fn::Sub"]
                text = text[0] if isinstance(text, list) else text
                for name, longest in _PSEUDO_LONGEST.items():
                    text = text.replace(name, longest)
                return re.sub(r"\$\{[^}]+\}", "x" * 80, text)
            if "Fn::GetAtt" in value or "Ref" in value:
                return "x" * 100  # a KMS key or similar ARN
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return len(json.dumps(resolve(encode_to_dict(policy(*statements))), separators=(",", ":")))


_PSEUDO_LONGEST = {"${AWS::Partition}": "aws-us-gov", "${AWS::Region}": "ap-southeast-5", "${AWS::AccountId}": "0" * 12}


# Packing margin under a quota: sizes are estimates until CloudFormation resolves the references.
PACKING_MARGIN = 512


def split_statements(statements: list, limit: int) -> list[list]:
    """Statements in order, packed into documents each under `limit` characters (less a margin)."""
    limit -= PACKING_MARGIN
    documents: list[list] = [[]]
    for statement in statements:
        if documents[-1] and policy_size(documents[-1] + [statement]) > limit:
            documents.append([])
        documents[-1].append(statement)
    return documents


def emit_self_update_role(ctx: Context) -> None:
    """The CloudFormation role of the UpdatePipeline stage, when regenerate is on."""
    if not ctx.manifest.regenerate.enabled:
        return
    statements = template_permissions(ctx, ctx.template)
    # Too large for the inline total of one role: managed policies of at most 6,144 characters,
    # kept (like the role) when the stack is deleted so the role keeps working through teardown.
    policies = []
    for index, part in enumerate(split_statements(statements, MANAGED_POLICY_LIMIT), start=1):
        policies.append(
            ctx.add(
                iam.ManagedPolicy(
                    f"SelfUpdatePolicy{index}",
                    ManagedPolicyName=f"{self_update_role_name(ctx.name)}-{index}",
                    Path=ctx.iam_path,
                    Description=f"Handler permissions of the resource types of pipeline {ctx.name} ({index})",
                    PolicyDocument=policy(*part),
                    DeletionPolicy="Retain",
                    UpdateReplacePolicy="Retain",
                )
            )
        )
    role = service_role(ctx, "SelfUpdateRole", "cloudformation.amazonaws.com", [], managed=[Ref(p) for p in policies])
    del role.properties["Policies"]
    role.RoleName = self_update_role_name(ctx.name)
    # CloudFormation keeps using this role for every later operation on the stack, including its
    # deletion: deleting the role (or its policies) first would strand the rest of the teardown.
    # So the stack never deletes them; README "Tearing a pipeline down" gives the commands after.
    role.DeletionPolicy = "Retain"
    role.UpdateReplacePolicy = "Retain"


def self_update_role_name(pipeline: str) -> str:
    return f"{pipeline}-self-update"[:64]


def _action(text: str) -> Action:
    prefix, name = text.split(":", 1)
    return Action(prefix, name)
