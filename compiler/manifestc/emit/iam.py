"""IAM building blocks: roles with scoped trust, and the statements several emitters share.

Every policy document is built with awacs; actions are awacs constants, which come from AWS's
Service Authorization Reference, so a misspelt action is an AttributeError in tests, not a
silently useless permission.
"""

from __future__ import annotations

from awacs import cloudformation as acfn
from awacs import codebuild, ecs, kms, logs, s3, sts
from awacs import iam as aiam
from awacs.aws import (
    Action,
    Allow,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
    StringNotEquals,
)
from troposphere import GetAtt, Ref, Sub, iam

from ..registry import BOUNDARY_CONDITIONED_ROLE_ACTIONS, WITHHELD_ACTIONS  # noqa: F401 - re-exported
from .context import Context

VERSION = "2012-10-17"


def policy(*statements: Statement) -> PolicyDocument:
    return PolicyDocument(Version=VERSION, Statement=list(statements))


def allow(actions: list, resources: list, condition: Condition | None = None, sid: str | None = None) -> Statement:
    kwargs = {"Effect": Allow, "Action": actions, "Resource": resources}
    if condition is not None:
        kwargs["Condition"] = condition
    if sid:
        kwargs["Sid"] = sid
    return Statement(**kwargs)


def service_role(
    ctx: Context,
    logical_id: str,
    service: str,
    statements: list[Statement],
    source_arn: Sub | list[Sub] | None = None,
    managed: list[str] | None = None,
) -> iam.Role:
    """A role that only `service` can assume, from this account (and this resource, when given).
    A cdk target's asset-publishing job role (logical ID `CdkAssets...Role`, emit/cdk.py) lives
    under its own path: the boundary lets only that path assume the CDK publishing roles."""
    asset_job = logical_id.startswith(CDK_ASSET_LOGICAL_PREFIX) and logical_id.endswith("Role")
    props = {
        "Path": asset_role_path(ctx.name) if asset_job else ctx.iam_path,
        "AssumeRolePolicyDocument": service_trust(service, source_arn),
        "Policies": [iam.Policy(PolicyName="least-privilege", PolicyDocument=policy(*statements))],
        # every role of the pipeline stack carries the pipeline's boundary (see boundary_document)
        "PermissionsBoundary": Ref(BOUNDARY),
    }
    if managed:
        props["ManagedPolicyArns"] = managed
    return ctx.add(iam.Role(logical_id, **props))


def service_trust(service: str, source_arn: Sub | list[Sub] | None = None) -> PolicyDocument:
    """Trust policy: only `service`, acting for this account (and this resource, when given)."""
    account = StringEquals({"aws:SourceAccount": Sub("${AWS::AccountId}")})
    condition = (
        Condition([account, ArnLike({"aws:SourceArn": source_arn})]) if source_arn is not None else Condition(account)
    )
    return policy(
        Statement(Effect=Allow, Principal=Principal("Service", service), Action=[sts.AssumeRole], Condition=condition)
    )


def artifact_statements(ctx: Context, write: bool = True, prefixes: tuple[str, ...] = ()) -> list[Statement]:
    """Read (and write) pipeline artifacts: the bucket's objects (only those under `prefixes`, when
    given) and the artifact key."""
    bucket = GetAtt("ArtifactBucket", "Arn")
    objects = [Sub("${ArtifactBucket.Arn}/" + prefix + "*") for prefix in prefixes] or Sub("${ArtifactBucket.Arn}/*")
    object_actions = [s3.GetObject, s3.GetObjectVersion] + ([s3.PutObject] if write else [])
    key_actions = [kms.Decrypt, kms.DescribeKey] + (
        [kms.Encrypt, kms.ReEncryptFrom, kms.ReEncryptTo, kms.GenerateDataKey] if write else []
    )
    return [
        allow(object_actions, objects if isinstance(objects, list) else [objects], sid="ArtifactObjects"),
        allow([s3.GetBucketAcl, s3.GetBucketLocation, s3.GetBucketVersioning], [bucket], sid="ArtifactBucket"),
        allow(key_actions, [GetAtt("ArtifactKey", "Arn")], sid="ArtifactKey"),
    ]


def bucket_key_statement(keys: list[str], sid: str):
    """Writing to (and reading from) a bucket whose default encryption is SSE-KMS with a customer-
    managed key: S3 asks KMS for a data key on PutObject and decrypts it on GetObject and to complete
    a multipart upload, with the caller's permissions (Amazon S3 User Guide, "Using server-side
    encryption with AWS KMS keys (SSE-KMS)": kms:GenerateDataKey and kms:Decrypt). Only through S3
    in the key's region (a bucket's SSE-KMS key is in the bucket's region): kms:ViaService."""
    via = sorted({f"s3.{key.split(':')[3]}.${{AWS::URLSuffix}}" for key in keys})
    return allow(
        [Action("kms", "Decrypt"), Action("kms", "GenerateDataKey")],
        [Sub(key.replace(key.split(":")[1], "${AWS::Partition}", 1)) for key in keys],
        Condition(StringEquals({"kms:ViaService": [Sub(v) for v in via]})),
        sid=sid,
    )


def log_statements(ctx: Context, purpose: str) -> list[Statement]:
    group = ctx.arn("logs", f"log-group:{ctx.log_group_name(purpose)}")
    streams = ctx.arn("logs", f"log-group:{ctx.log_group_name(purpose)}:log-stream:*")
    return [allow([logs.CreateLogStream, logs.PutLogEvents], [group, streams], sid="BuildLogs")]


def report_statements(report_group_ids: list[str]) -> list[Statement]:
    if not report_group_ids:
        return []
    return [
        allow(
            [
                codebuild.CreateReport,
                codebuild.UpdateReport,
                codebuild.BatchPutTestCases,
                codebuild.BatchPutCodeCoverages,
            ],
            [GetAtt(logical_id, "Arn") for logical_id in report_group_ids],
            sid="TestReports",
        )
    ]


# A connection is reachable under both IAM service prefixes (AWS CodeConnections User Guide,
# "Service name change": codestar-connections became codeconnections in 2024; either ARN spelling
# and either action prefix work). A product whose provisioner passes the other spelling than the
# manifest's default must still be allowed: grant both.
CONNECTION_SERVICES = ("codeconnections", "codestar-connections")


def connection_actions(*names: str) -> list[Action]:
    """`names` (UseConnection, ...) under both connection service prefixes."""
    return [Action(service, name) for service in CONNECTION_SERVICES for name in names]


def connection_spellings(connection_arn: str) -> list[str]:
    """One connection ARN under both service prefixes (cfn-lint I3510 and IAM match the action's
    prefix against the resource's)."""
    parts = connection_arn.split(":")
    return [":".join(parts[:2] + [service] + parts[3:]) for service in CONNECTION_SERVICES]


def connection_resources(ctx: Context) -> list:
    """The source connection as policy resources: both spellings, or the provisioner's value."""
    if ctx.parameterised("connection_arn"):
        return [ctx.value("connection_arn")]
    return connection_spellings(ctx.manifest.source.connection_arn)


def connection_service(connection_arn: str) -> str:
    """The IAM service prefix of a connection: `codestar-connections` or `codeconnections`,
    as its ARN says (connections created since the 2024 rename are codeconnections)."""
    return connection_arn.split(":")[2]


def ecs_deploy_statements(services: list) -> list[Statement]:
    """What the ECS standard deploy action needs (CodePipeline User Guide, "Service role
    permissions: Amazon ECS standard action"), for the given service ARNs."""
    return [
        allow([ecs.DescribeServices, ecs.UpdateService], services, sid="DeployEcsServices"),
        # Task definitions are registered by family name at deploy time: no resource-level scope.
        allow(
            [ecs.RegisterTaskDefinition, ecs.DescribeTaskDefinition, ecs.DescribeTasks, ecs.ListTasks, ecs.TagResource],
            ["*"],
            sid="EcsTaskDefinitions",
        ),
        allow(
            [aiam.PassRole],
            ["*"],
            Condition(StringEquals({"iam:PassedToService": "ecs-tasks.amazonaws.com"})),
            sid="PassTaskRoles",
        ),
    ]


def blue_green_statements(applications: list, groups: list, configs: list, task_statements: bool) -> list[Statement]:
    """What the CodeDeploy actions need (CodePipeline User Guide, "Service role permissions" of the
    CodeDeploy action and of the CodeDeployToECS action): the deployment on exactly the named
    application and deployment group; for CodeDeployToECS also registering the task definition (no resource-level scope) and passing its task and
    execution roles to ECS tasks only (`task_statements`: unless the ECS standard action's
    statements, a superset with the same Sids, are already there)."""
    cd = "codedeploy"
    out = [
        allow(
            [
                Action(cd, "GetApplication"),
                Action(cd, "GetApplicationRevision"),
                Action(cd, "RegisterApplicationRevision"),
            ],
            applications,
            sid="CodeDeployApplications",
        ),
        allow(
            [Action(cd, "CreateDeployment"), Action(cd, "GetDeployment")],
            groups,
            sid="CodeDeployDeploymentGroups",
        ),
        allow([Action(cd, "GetDeploymentConfig")], configs, sid="CodeDeployConfigs"),
    ]
    if task_statements:
        out += [
            # Task definitions are registered by family name at deploy time: no resource-level scope.
            allow([ecs.RegisterTaskDefinition, ecs.TagResource], ["*"], sid="EcsTaskDefinitions"),
            allow(
                [aiam.PassRole],
                ["*"],
                Condition(StringEquals({"iam:PassedToService": "ecs-tasks.amazonaws.com"})),
                sid="PassTaskRoles",
            ),
        ]
    return out


def codedeploy_arns(target, region: str | None, account: str | None) -> dict[str, list[Sub]]:
    """The CodeDeploy application, deployment group and deployment configurations a codedeploy
    (or ecs blue_green) target, resolved for its environment, deploys with in `region`/`account`
    (None: the pipeline's). The deployment group picks its configuration: any of the account's."""
    base = f"arn:${{AWS::Partition}}:codedeploy:{region or '${AWS::Region}'}:{account or '${AWS::AccountId}'}"
    return {
        "applications": [Sub(f"{base}:application:{target.application}")],
        "groups": [Sub(f"{base}:deploymentgroup:{target.application}/{target.deployment_group}")],
        "configs": [Sub(f"{base}:deploymentconfig:*")],
    }


def invoke_arns(target, region: str | None, account: str | None) -> dict[str, list[Sub]]:
    """The ARNs a stepfunctions or lambda_invoke target (already resolved for its environment)
    invokes in `region`/`account` (None: the pipeline's): state machines, their executions and
    functions."""
    reg = region or "${AWS::Region}"
    acct = account or "${AWS::AccountId}"
    if target.type == "stepfunctions":
        base = f"arn:${{AWS::Partition}}:states:{reg}:{acct}"
        return {
            "state_machines": [Sub(f"{base}:stateMachine:{target.state_machine}")],
            "executions": [Sub(f"{base}:execution:{target.state_machine}:*")],
        }
    return {"functions": [Sub(f"arn:${{AWS::Partition}}:lambda:{reg}:{acct}:function:{target.function}")]}


def invoke_statements(state_machines: list, executions: list, functions: list) -> list[Statement]:
    """What the CodePipeline invoke actions need on exactly the invoked resources (CodePipeline
    User Guide, "Service role permissions" of the AWS Step Functions and AWS Lambda invoke
    actions): start an execution and follow it; invoke a function (the function itself reports
    the job result with codepipeline:PutJobSuccessResult, a grant of its own role)."""
    out = []
    if state_machines:
        out.append(
            allow(
                [Action("states", "StartExecution"), Action("states", "DescribeStateMachine")],
                state_machines,
                sid="StartStateMachines",
            )
        )
        out.append(allow([Action("states", "DescribeExecution")], executions, sid="FollowExecutions"))
    if functions:
        out.append(allow([Action("lambda", "InvokeFunction")], functions, sid="InvokeFunctions"))
    return out


def key_admin_statement() -> Statement:
    """The default key policy statement: all key access is delegated to IAM policies of this
    account, which grant each role only the kms actions it needs on the key."""
    return Statement(
        Sid="AccountAdministersKeyThroughIam",
        Effect=Allow,
        Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
        Action=[Action("kms", "*")],
        Resource=["*"],
    )


def logs_key_statement(sid: str, log_groups: Sub) -> Statement:
    """Let CloudWatch Logs encrypt the given log groups with the key (in a key policy "*" is the key)."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
        Action=[kms.Encrypt, kms.Decrypt, kms.ReEncryptFrom, kms.ReEncryptTo, kms.GenerateDataKey, kms.DescribeKey],
        Resource=["*"],
        Condition=Condition(ArnLike({"kms:EncryptionContext:aws:logs:arn": log_groups})),
    )


def stack_deploy_actions() -> list:
    """What a CodePipeline CloudFormation action does to its stack (create/update, change sets)."""
    return [
        acfn.CreateStack,
        acfn.UpdateStack,
        acfn.DescribeStacks,
        acfn.CreateChangeSet,
        acfn.DescribeChangeSet,
        acfn.ExecuteChangeSet,
        acfn.DeleteChangeSet,
    ]


def replace_failed_stacks(stacks: list) -> Statement:
    """A CloudFormation action meeting its stack in ROLLBACK_COMPLETE (a first create that failed)
    deletes the stack and creates it again; DescribeStackEvents lets CodePipeline show the failed
    resource (CodePipeline User Guide, "AWS CloudFormation deploy action reference"). Only the
    app stacks: never the pipeline's own stack."""
    return allow(
        [acfn.DeleteStack, acfn.DescribeStackEvents],
        stacks,
        sid="ReplaceFailedStacks",
    )


# --- the permissions boundary ----------------------------------------------------------------
# Every role a pipeline, its self-update, its execution roles or a Service Catalog launch role can
# create carries this managed policy as its permissions boundary; roles that may create roles may
# only create (and put or attach policies on) roles carrying it. How boundaries and the
# iam:PermissionsBoundary / iam:PolicyARN condition keys work:
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html
#   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html
#   (iam:PermissionsBoundary applies to CreateRole, PutRolePolicy, AttachRolePolicy, DetachRolePolicy,
#   DeleteRolePolicy, PutRolePermissionsBoundary and DeleteRolePermissionsBoundary.)
BOUNDARY = "PermissionsBoundary"


# The asset-publishing jobs of cdk targets (emit/cdk.py): their logical IDs start with this, and
# their roles live under asset_role_path, the only principals the boundary lets assume the CDK
# bootstrap publishing roles (OnlyAssetJobsAssumePublishingRoles).
CDK_ASSET_LOGICAL_PREFIX = "CdkAssets"


def asset_role_path(pipeline: str) -> str:
    return f"/manifestc/{pipeline}/cdk-assets/"


def pipeline_principals(pipeline: str) -> Sub:
    """The pipeline's own roles in the account the boundary is in, as an aws:PrincipalArn pattern.
    Every other principal carrying the boundary is an application role (or a role one created)."""
    # any account: a boundary bounds only roles of the account it is in
    return Sub(f"arn:${{AWS::Partition}}:iam::*:role/manifestc/{pipeline}/*")


def boundary_name(pipeline: str) -> str:
    return f"{pipeline}-boundary"


def boundary_arn(pipeline: str) -> Sub:
    """The boundary's ARN in the account the template is deployed to (the pipeline stack in the
    tooling account, the bootstrap stack in a target account: same path and name in each)."""
    return Sub(
        f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/manifestc/{pipeline}/{boundary_name(pipeline)}"
    )


def app_role_path(pipeline: str, stack: str = "${AWS::StackName}") -> str:
    """The IAM path of roles an application stack creates: compiler-owned and per stack, so a
    stack's execution role reaches its own roles and no other tool's (e.g. `cdk-*` roles)."""
    return f"/manifestc-app/{pipeline}/{stack}/"


def boundary_exceptions(manifest) -> tuple[list[str], bool, list, list]:
    """What the boundary must still let the pipeline's roles pass or assume outside its own paths:
    the execution roles the manifest names (`targets[].execution_role`, passed to CloudFormation),
    whether an ECS deploy passes the service's task roles (to ecs-tasks.amazonaws.com), and the
    roles commands targets name (`targets[].role`, assumed by their jobs: exactly those ARNs), and
    the CDK bootstrap publishing roles cdk targets' asset jobs assume (exactly those ARNs)."""
    from .codebuild import commands_role_arn

    roles: list[str] = []
    ecs_tasks = False
    assumed: list = []
    publishing: list = []
    for env in manifest.environments:
        for name in env.targets:
            if manifest.target(name).role:
                arn = commands_role_arn(manifest, manifest.target(name), env)
                if all(_same(arn, seen) is False for seen in assumed):
                    assumed.append(arn)
                continue
            if manifest.target(name).type == "cdk":
                # the CDK bootstrap publishing roles its asset job assumes: exactly those ARNs
                from .cdk import publishing_role_arns

                for arn in publishing_role_arns(manifest, manifest.target(name), env):
                    if all(_same(arn, seen) is False for seen in publishing):
                        publishing.append(arn)
            for region in env.regions:
                target = manifest.resolve_target(manifest.target(name), env, region)
                stacks = target.deploys_stack or target.type == "cdk"
                if stacks and target.execution_role and target.execution_role not in roles:
                    roles.append(target.execution_role)
                ecs_tasks = ecs_tasks or target.type == "ecs"
    return roles, ecs_tasks, assumed, publishing


def _same(a, b) -> bool:
    return (a.to_dict() if hasattr(a, "to_dict") else a) == (b.to_dict() if hasattr(b, "to_dict") else b)


def boundary_document(
    pipeline: str,
    pass_roles: list[str] | tuple = (),
    ecs_tasks: bool = False,
    assume_roles: list | tuple = (),
    publishing_roles: list | tuple = (),
) -> PolicyDocument:
    """The boundary: everything an application or a pipeline role may legitimately need, except
    IAM and Organizations escalation. A role bounded by it can create only roles bounded by it,
    cannot remove or change the boundary, cannot use the boundary as a grant, cannot create
    users, keys or groups, cannot change the trust of roles outside manifestc's paths, and can
    pass or assume only the pipeline's own roles (`pass_roles`: execution roles the manifest
    names; `ecs_tasks`: task roles an ECS deploy passes to ecs-tasks.amazonaws.com;
    `publishing_roles`: the CDK publishing roles, assumable by the asset jobs only).

    Application roles (every bounded role that is not one of the pipeline's own, under
    `/manifestc/<name>/`) are further denied what would make them the pipeline (`app_role_denials`).
    """
    arn = boundary_arn(pipeline)
    own_roles = [
        Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/manifestc/{pipeline}/*"),
        Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/manifestc-app/{pipeline}/*"),
    ]
    # the pipeline's roles in every account (the deploy roles of bootstrap-<account>.yaml are
    # /manifestc/<name>/<name>-deploy in the target accounts)
    own_roles_anywhere = [
        Sub(f"arn:${{AWS::Partition}}:iam::*:role/manifestc/{pipeline}/*"),
        Sub(f"arn:${{AWS::Partition}}:iam::*:role/manifestc-app/{pipeline}/*"),
    ]
    pass_only_own = Statement(
        Sid="PassOnlyOwnRoles",
        Effect=Deny,
        Action=[aiam.PassRole],
        NotResource=own_roles + list(pass_roles),
    )
    if ecs_tasks:
        # the ECS deploy action registers task definitions naming the service's task and
        # execution roles, which the manifest does not know: passable to ECS tasks only
        pass_only_own.Condition = Condition(StringNotEquals({"iam:PassedToService": "ecs-tasks.amazonaws.com"}))
    pipeline_policies = Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/manifestc/{pipeline}/*")
    return policy(
        # a boundary grants nothing by itself: it caps what identity policies grant
        Statement(Sid="WithinBoundary", Effect=Allow, Action=[Action("*")], Resource=["*"]),
        Statement(
            Sid="OnlyBoundedRoles",
            Effect=Deny,
            Action=[
                _iam(a)
                for a in BOUNDARY_CONDITIONED_ROLE_ACTIONS
                if a not in ("iam:AttachRolePolicy", "iam:DetachRolePolicy")
            ],
            Resource=["*"],
            Condition=Condition(StringNotEquals({"iam:PermissionsBoundary": arn})),
        ),
        # attaching to roles outside the boundary: only the pipeline's own policies (approvers)
        Statement(
            Sid="AttachOnlyToBoundedRoles",
            Effect=Deny,
            Action=[_iam("iam:AttachRolePolicy"), _iam("iam:DetachRolePolicy")],
            Resource=["*"],
            Condition=Condition(
                [
                    StringNotEquals({"iam:PermissionsBoundary": arn}),
                    ArnNotLike({"iam:PolicyARN": pipeline_policies}),
                ]
            ),
        ),
        Statement(
            Sid="BoundaryStays",
            Effect=Deny,
            Action=[_iam("iam:DeleteRolePermissionsBoundary"), _iam("iam:DeleteUserPermissionsBoundary")],
            Resource=["*"],
        ),
        Statement(
            Sid="BoundaryIsFixed",
            Effect=Deny,
            Action=[
                _iam("iam:CreatePolicyVersion"),
                _iam("iam:DeletePolicy"),
                _iam("iam:DeletePolicyVersion"),
                _iam("iam:SetDefaultPolicyVersion"),
            ],
            Resource=[arn],
        ),
        Statement(
            Sid="BoundaryIsNoGrant",
            Effect=Deny,
            Action=[_iam("iam:AttachGroupPolicy"), _iam("iam:AttachRolePolicy"), _iam("iam:AttachUserPolicy")],
            Resource=["*"],
            Condition=Condition(ArnEquals({"iam:PolicyARN": arn})),
        ),
        # users and groups get only the pipeline's own policies (approvers), never inline ones
        Statement(
            Sid="NoUserEscalation",
            Effect=Deny,
            Action=[
                _iam(a)
                for a in (
                    "iam:AddUserToGroup",
                    "iam:CreateAccessKey",
                    "iam:CreateGroup",
                    "iam:CreateLoginProfile",
                    "iam:CreateUser",
                    "iam:PutGroupPolicy",
                    "iam:PutUserPermissionsBoundary",
                    "iam:PutUserPolicy",
                    "iam:UpdateAccessKey",
                    "iam:UpdateLoginProfile",
                )
            ],
            Resource=["*"],
        ),
        Statement(
            Sid="AttachToUsersOnlyPipelinePolicies",
            Effect=Deny,
            Action=[_iam("iam:AttachGroupPolicy"), _iam("iam:AttachUserPolicy")],
            Resource=["*"],
            Condition=Condition(ArnNotLike({"iam:PolicyARN": pipeline_policies})),
        ),
        # trust, names and deletion of roles: only manifestc's roles of this pipeline
        Statement(
            Sid="OtherRolesUntouched",
            Effect=Deny,
            Action=[
                _iam("iam:DeleteRole"),
                _iam("iam:UpdateAssumeRolePolicy"),
                _iam("iam:UpdateRole"),
                _iam("iam:UpdateRoleDescription"),
            ],
            NotResource=own_roles,
        ),
        # without these, a bounded role with an inline `iam:PassRole *` or `sts:AssumeRole *` could
        # take over any role that trusts the account (e.g. CDK's deploy role trusts the root)
        pass_only_own,
        Statement(
            Sid="AssumeOnlyOwnRoles",
            Effect=Deny,
            Action=[sts.AssumeRole],
            NotResource=own_roles_anywhere + list(assume_roles) + list(publishing_roles),
        ),
        Statement(
            Sid="NoOrganizationChanges",
            Effect=Deny,
            Action=[Action("organizations", "*"), Action("account", "*")],
            Resource=["*"],
        ),
        # another pipeline's (or the factory's) CodeBuild project runs as that pipeline's role, and
        # StartBuild takes a buildspecOverride: starting or changing one is taking over its role
        Statement(
            Sid="NoOtherPipelinesBuilds",
            Effect=Deny,
            Action=[Action("codebuild", a) for a in OTHER_PROJECT_ACTIONS],
            Resource=["*"],
            Condition=Condition(
                [
                    StringEquals({"aws:ResourceTag/managed-by": "manifestc"}),
                    StringNotEquals({"aws:ResourceTag/pipeline": pipeline}),
                ]
            ),
        ),
        # the pipeline's shape and its approvals are changed only by its self-update role (through
        # the guarded Recompile) or by a person: a bounded role an application template creates
        # must not edit a pipeline (drop an approval) or answer an approval
        Statement(
            Sid="PipelinesChangeOnlyThroughSelfUpdate",
            Effect=Deny,
            Action=[Action("codepipeline", a) for a in PIPELINE_CONTROL_ACTIONS],
            Resource=["*"],
            Condition=Condition(
                ArnNotEquals(
                    {
                        "aws:PrincipalArn": Sub(
                            f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/manifestc/{pipeline}/"
                            f"{pipeline}-self-update"
                        )
                    }
                )
            ),
        ),
        # manifestc's prefix of any bucket holds the self-update toolchain other pipelines run
        Statement(
            Sid="NoManifestcPrefixWrites",
            Effect=Deny,
            Action=[Action("s3", a) for a in ("PutObject", "DeleteObject", "DeleteObjectVersion", "PutObjectAcl")],
            Resource=[Sub("arn:${AWS::Partition}:s3:::*/_manifestc/*")],
        ),
        *app_role_denials(pipeline, ecs_tasks),
        *publishing_role_denial(pipeline, publishing_roles),
    )


def _not_pipeline(pipeline: str, *more) -> Condition:
    """The condition of the application-role statements: the caller is not one of the pipeline's
    own roles (aws:PrincipalArn, the role's ARN with its path, also for an assumed-role session)."""
    return Condition([ArnNotLike({"aws:PrincipalArn": pipeline_principals(pipeline)}), *more])


# CloudFormation actions that change a stack or run its service role: a stack keeps the role it was
# created with, and CreateChangeSet/UpdateStack/DeleteStack without RoleARN use it, without
# iam:PassRole ("If you don't specify a value, CloudFormation uses the role that was previously
# associated with the stack", CloudFormation API Reference, CreateChangeSet/UpdateStack RoleARN;
# "Provided that users have permission to operate on the stack, CloudFormation uses this role even
# if the users don't have permission to pass it").
STACK_WRITE_ACTIONS = ("Create*", "Update*", "Delete*", "Execute*", "Continue*", "Rollback*")

# IAM writes (Service Authorization Reference, IAM: the write and permissions-management actions
# all start with one of these verbs, e.g. UpdateAssumeRolePolicy, SetDefaultPolicyVersion,
# UploadSSHPublicKey, ResetServiceSpecificCredential)
IAM_WRITE_ACTIONS = ("Create*", "Put*", "Attach*", "Detach*", "Delete*", "Update*", "Set*", "Upload*", "Reset*")

# A CodeBuild project's actions that run code as its role or change it (Service Authorization
# Reference, AWS CodeBuild: StartBuild, StartBuildBatch, StartCommandExecution, StartSandbox,
# StartSandboxConnection, RetryBuild, RetryBuildBatch, UpdateProject, Create/Update/DeleteWebhook)
PROJECT_WRITE_ACTIONS = ("Start*", "Retry*", "UpdateProject", "*Webhook")


def app_role_denials(pipeline: str, ecs_tasks: bool) -> list[Statement]:
    """What no bounded role but the pipeline's own (`/manifestc/<name>/`) may do (README
    "Security", application roles): an application role (`/manifestc-app/<name>/`, from a template
    a committer or an unreviewed preview branch wrote), or a role one created, must not become the
    pipeline.

    `AppRolesStayApps`: outside the application's own roles (`/manifestc-app/<name>/*`) no role
    passed or assumed (the deploy, self-update, execution, commands and CDK roles), no IAM written
    (no role created elsewhere, so every role an application role creates is an application role
    too: the artifact bucket and key policies deny `/manifestc-app/` writes and encryption; no
    pipeline role, policy or the approvers' policies touched), no key alias changed (the key
    policies and the artifact key are found by alias) and no stack written: any stack may run its
    service role without iam:PassRole, and the pipeline stack's name is chosen at deploy time.
    `AppRolesStartNoPipelineBuilds`: no manifestc CodeBuild project started or changed (a
    buildspecOverride runs as the project's role)."""
    pass_condition = [StringNotEquals({"iam:PassedToService": "ecs-tasks.amazonaws.com"})] if ecs_tasks else []
    return [
        Statement(
            Sid="AppRolesStayApps",
            Effect=Deny,
            Action=[aiam.PassRole, sts.AssumeRole]
            + [Action("iam", a) for a in IAM_WRITE_ACTIONS]
            + [Action("kms", "*Alias")]
            + [Action("cloudformation", a) for a in STACK_WRITE_ACTIONS],
            NotResource=[Sub(f"arn:${{AWS::Partition}}:iam::*:role/manifestc-app/{pipeline}/*")],
            Condition=_not_pipeline(pipeline, *pass_condition),
        ),
        Statement(
            Sid="AppRolesStartNoPipelineBuilds",
            Effect=Deny,
            Action=[Action("codebuild", a) for a in PROJECT_WRITE_ACTIONS],
            Resource=["*"],
            Condition=_not_pipeline(pipeline, StringEquals({"aws:ResourceTag/managed-by": "manifestc"})),
        ),
    ]


def publishing_role_denial(pipeline: str, publishing_roles: list | tuple) -> list[Statement]:
    """The CDK bootstrap publishing roles write an environment's bootstrap bucket and repository
    (prod's too): only the asset jobs' roles (`asset_role_path`) may assume one, of any qualifier
    and account (AssumeOnlyOwnRoles lets exactly the manifest's through)."""
    if not publishing_roles:
        return []
    return [
        Statement(
            Sid="OnlyAssetJobsPublish",
            Effect=Deny,
            Action=[sts.AssumeRole],
            Resource=[Sub("arn:${AWS::Partition}:iam::*:role/cdk-*-publishing-role-*")],
            Condition=Condition(
                ArnNotLike(
                    {"aws:PrincipalArn": Sub(f"arn:${{AWS::Partition}}:iam::*:role{asset_role_path(pipeline)}*")}
                )
            ),
        )
    ]


# What changes a pipeline or lets a stage through (Service Authorization Reference, AWS CodePipeline:
# UpdatePipeline, DeletePipeline, PutApprovalResult, and `*Stage*`: RetryStageExecution,
# OverrideStageCondition, RollbackStage, DisableStageTransition, EnableStageTransition, no read)
PIPELINE_CONTROL_ACTIONS = ("UpdatePipeline", "DeletePipeline", "PutApprovalResult", "*Stage*")

# What a role could do with another pipeline's project to run code as that project's role
# (Service Authorization Reference, AWS CodeBuild: actions on the `project` resource type).
OTHER_PROJECT_ACTIONS = PROJECT_WRITE_ACTIONS


def _exceptions(manifest, target_account: bool) -> dict:
    """The boundary's arguments besides the name; in a target account (bootstrap-<account>.yaml)
    without the roles commands targets and asset jobs assume: only the jobs in the tooling account
    assume them."""
    pass_roles, ecs_tasks, assumed, publishing = boundary_exceptions(manifest)
    return {
        "pass_roles": pass_roles,
        "ecs_tasks": ecs_tasks,
        "assume_roles": [] if target_account else assumed,
        "publishing_roles": [] if target_account else publishing,
    }


def boundary_digest(manifest) -> str:
    """A short SHA-256 of the boundary document the manifest's templates carry. The self-update
    role may not change the boundary (BoundaryIsFixed), so Recompile compares it with the deployed
    pipeline's (MANIFESTC_DEPLOYED_BOUNDARY) and refuses a commit that changes it (the roles a
    commands target assumes, an execution role a target names, an ECS target) instead of letting
    the stack update fail."""
    import hashlib
    import json

    document = boundary_document(manifest.name, **_exceptions(manifest, target_account=False))
    # rendered the way the template renders it (troposphere encodes awacs and intrinsic functions)
    text = json.dumps(iam.ManagedPolicy("Boundary", PolicyDocument=document).to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _iam(text: str) -> Action:
    return Action("iam", text.split(":", 1)[1])


def emit_boundary(ctx: Context) -> None:
    """The pipeline stack's boundary (a managed policy with a fixed name, so policies and
    application templates can name its ARN)."""
    # Retained always: the roles of the application stacks the pipeline deployed carry it and
    # outlive the pipeline stack (a catalog product's too, when it is terminated).
    ctx.add(boundary_policy(ctx.manifest, retain=True))


def boundary_policy(manifest, retain: bool = False, target_account: bool = False) -> iam.ManagedPolicy:
    # The self-update role outlives the stack it updates (see selfupdate.py) and keeps this
    # boundary: a boundary in use cannot be deleted, so it is retained with the role. The
    # bootstrap stacks retain it always: application roles carrying it outlive their stacks'
    # bootstrap (README "Deleting a pipeline").
    pipeline = manifest.name
    retention = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"} if retain else {}
    return iam.ManagedPolicy(
        BOUNDARY,
        ManagedPolicyName=boundary_name(pipeline),
        Path=f"/manifestc/{pipeline}/",
        Description=f"Permissions boundary of every role pipeline {pipeline} creates or deploys",
        PolicyDocument=boundary_document(pipeline, **_exceptions(manifest, target_account)),
        Metadata={
            "checkov": {
                "skip": [
                    {"id": check, "comment": _BOUNDARY_SKIP}
                    for check in ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111")
                ]
            }
        },
        **retention,
    )


_BOUNDARY_SKIP = (
    "A permissions boundary, never attached as a grant (denied by its own BoundaryIsNoGrant): its "
    "Allow * only caps the roles' identity policies, and its Deny statements close IAM escalation."
)


# AWS managed policies an application stack may attach to its roles (its roles carry the
# boundary anyway; these would still widen what the boundary lets through to IAM).
NOT_ATTACHABLE = ("AdministratorAccess", "IAMFullAccess", "AWSOrganizationsFullAccess")


def app_role_statements(pipeline: str, stacks: list[str]) -> list[Statement]:
    """What a CloudFormation execution role needs to manage the roles of the stacks it deploys:
    only roles under the compiler-owned path of each stack (`app_role_path`) and only carrying the
    pipeline's boundary; AWS managed policies (not the administrator ones) or the stack's own."""
    boundary = boundary_arn(pipeline)
    roles = [Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{app_role_path(pipeline, s)}*") for s in stacks]
    bounded = StringEquals({"iam:PermissionsBoundary": boundary})
    return [
        Statement(
            Sid="CreateBoundedStackRoles",
            Effect=Allow,
            Action=[_iam(a) for a in BOUNDARY_CONDITIONED_ROLE_ACTIONS if a != "iam:AttachRolePolicy"],
            Resource=roles,
            Condition=Condition(bounded),
        ),
        Statement(
            Sid="AttachManagedPoliciesToStackRoles",
            Effect=Allow,
            Action=[_iam("iam:AttachRolePolicy")],
            Resource=roles,
            Condition=Condition(
                [
                    bounded,
                    ArnLike({"iam:PolicyARN": [Sub("arn:${AWS::Partition}:iam::aws:policy/*")]}),
                    ArnNotLike(
                        {
                            "iam:PolicyARN": [
                                Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{name}") for name in NOT_ATTACHABLE
                            ]
                        }
                    ),
                ]
            ),
        ),
        Statement(
            Sid="ManageStackRoles",
            Effect=Allow,
            Action=[
                _iam(a)
                for a in (
                    "iam:DeleteRole",
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListRolePolicies",
                    "iam:PassRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:UpdateRole",
                    "iam:UpdateRoleDescription",
                )
            ],
            Resource=roles,
        ),
        Statement(
            Sid="BoundaryStays",
            Effect=Deny,
            Action=[_iam("iam:DeleteRolePermissionsBoundary")],
            Resource=["*"],
        ),
    ]
