"""Artifact storage: the KMS key (rotation on), its alias, and the artifact bucket with its policy.

The same emitter builds the home store of pipeline.yaml and the regional stores of
support-<region>.yaml; target accounts' bootstrap roles are granted read access in both.
"""

from __future__ import annotations

from awacs import kms, s3
from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Bool,
    Condition,
    Deny,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import GetAtt, Ref, Sub
from troposphere import kms as tkms
from troposphere import s3 as ts3

from .. import aws
from ..model import TOOLCHAIN_PREFIX, Manifest
from .codebuild import glue_scripts_prefix
from .context import Context, camel
from .iam import app_role_path, key_admin_statement, logs_key_statement, policy

# Writes that change what the toolchain prefix serves: new bytes, deletion (a deleted version
# brings an older object back), ACLs and tags (Service Authorization Reference, Amazon S3:
# "write" and "permissions management" object actions).
TOOLCHAIN_WRITE_ACTIONS = (
    "PutObject",
    "DeleteObject",
    "DeleteObjectVersion",
    "PutObjectAcl",
    "PutObjectVersionAcl",
    "PutObjectTagging",
    "PutObjectVersionTagging",
    "DeleteObjectTagging",
    "DeleteObjectVersionTagging",
    "RestoreObject",
    "PutObjectRetention",
    "PutObjectLegalHold",
)
TOOLCHAIN_DENY_SID = "DenyToolchainWritesByPipelineRoles"


# The factory's roles (emit/factory.py NAME; a pipeline may not take that name, MC288) copy the
# toolchain into a new pipeline's bucket, so they are the one manifestc path left out of the deny.
FACTORY_ROLE_PATH = "/manifestc/manifestc-factory/"


def toolchain_denied_paths(pipeline: str) -> tuple[str, ...]:
    """IAM paths of the roles that may never write the toolchain: the roles of every manifestc
    pipeline and of every application stack one deploys (emit/iam.py app_role_path) — not only
    this pipeline's: another pipeline in the account (its builds, its application stacks with
    PowerUserAccess) must not rewrite the code this pipeline's self-update runs."""
    return ("/manifestc/", "/manifestc-app/")


def bootstrap_roles(account: str, name: str) -> Sub:
    """The roles bootstrap-<account>.yaml creates: all under the pipeline's IAM path there."""
    return Sub(f"arn:${{AWS::Partition}}:iam::{account}:role/manifestc/{name}/*")


def cross_account_glue_job_roles(m: Manifest) -> dict[str, list[Sub]]:
    """Per target account, the job roles the glue stacks deployed there create (glue.yaml: roles
    under the stack's compiler-owned path, `/manifestc-app/<pipeline>/<stack>/`). They read their
    scripts from this account's artifact bucket (README "Glue in another account"); a bucket of your
    own (`glue.scripts_bucket`) is refused across accounts (MC286)."""
    from .codepipeline import stack_name  # codepipeline imports this module

    roles: dict[str, list[Sub]] = {}
    if m.glue is None or m.glue.scripts_bucket:
        return roles
    for env in m.environments:
        if not m.is_cross_account(env):
            continue
        for name in env.targets:
            target = m.target(name)
            if target.type == "glue":
                path = app_role_path(m.name, stack_name(m, target, env, None))
                roles.setdefault(env.account, []).append(Sub(f"arn:${{AWS::Partition}}:iam::{env.account}:role{path}*"))
    return roles


def _decrypt_through_s3(sid: str, account: str, roles: list[Sub]) -> Statement:
    """Key policy: these roles of another account may decrypt, only through S3 (reading objects)."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Principal=_account_root(account),
        Action=[kms.Decrypt],
        Resource=["*"],
        Condition=Condition(
            [
                ArnLike({"aws:PrincipalArn": roles}),
                StringEquals({"kms:ViaService": Sub("s3.${AWS::Region}.${AWS::URLSuffix}")}),
            ]
        ),
    )


def codedeploy_instance_roles(m: Manifest) -> dict[str, list[Sub]]:
    """Per target account, the `instance_roles` of the codedeploy targets deployed there: the
    CodeDeploy agent downloads the revision from this bucket with the instance's role (README
    `codedeploy`). In the pipeline's own account the roles' IAM policies suffice."""
    roles: dict[str, list[Sub]] = {}
    for env in m.environments:
        if not m.is_cross_account(env):
            continue
        for name in env.targets:
            target = m.target(name)
            if target.type != "codedeploy":
                continue
            for role in target.instance_roles:
                text = m.render_step(role, env, None, env.account)
                arn = Sub("arn:${AWS::Partition}:" + text.split(":", 2)[2])
                if all(arn.to_dict() != r.to_dict() for r in roles.get(env.account, [])):
                    roles.setdefault(env.account, []).append(arn)
    return roles


def other_manifestc_roles(name: str) -> Condition:
    """Principals that must stay out of this pipeline's artifacts: the roles of every manifestc
    pipeline in the account and of every application stack one deploys (this pipeline's too:
    their code is a committer's, an unreviewed preview branch's included, and the boundary keeps
    every role an application role creates under `/manifestc-app/<name>/`), except this pipeline's
    own roles and the factory's (which copy the toolchain into a new pipeline's bucket)."""
    role = "arn:${AWS::Partition}:iam::${AWS::AccountId}:role"
    return Condition(
        [
            ArnLike({"aws:PrincipalArn": [Sub(f"{role}{path}*") for path in toolchain_denied_paths(name)]}),
            ArnNotLike(
                {"aws:PrincipalArn": [Sub(f"{role}{path}*") for path in (f"/manifestc/{name}/", FACTORY_ROLE_PATH)]}
            ),
        ]
    )


def _account_root(account: str) -> Principal:
    # Account principals (with a PrincipalArn condition) rather than role ARNs: a resource policy
    # naming a role that does not exist yet fails, and bootstrap stacks may come later.
    return Principal("AWS", Sub(f"arn:${{AWS::Partition}}:iam::{account}:root"))


def _key_policy(ctx: Context, home: bool) -> object:
    statements = [
        key_admin_statement(),
        # the roles that may not write the artifacts may not encrypt with their key either
        Statement(
            Sid="OtherRolesEncryptNothing",
            Effect=Deny,
            Principal=Principal("*"),
            Action=[kms.Encrypt, Action("kms", "GenerateDataKey*"), Action("kms", "ReEncrypt*")],
            Resource=["*"],
            Condition=other_manifestc_roles(ctx.name),
        ),
    ]
    if home:
        statements.append(
            logs_key_statement(
                "CloudWatchLogsEncryptsBuildLogs", ctx.arn("logs", f"log-group:/aws/codebuild/{ctx.name}-*")
            )
        )
        notifications = ctx.manifest.notifications
        if notifications is not None and notifications.sns_topic is None:
            statements.append(
                Statement(
                    Sid="NotificationsPublishToEncryptedTopic",
                    Effect=Allow,
                    Principal=Principal("Service", "codestar-notifications.amazonaws.com"),
                    Action=[kms.GenerateDataKey, kms.Decrypt],
                    Resource=["*"],
                    Condition=Condition(StringEquals({"kms:ViaService": Sub("sns.${AWS::Region}.amazonaws.com")})),
                )
            )
    for account in ctx.manifest.extra_accounts:
        statements.append(
            Statement(
                Sid=f"DeployRolesOf{account}DecryptArtifacts",
                Effect=Allow,
                Principal=_account_root(account),
                Action=[kms.Decrypt, kms.DescribeKey],
                Resource=["*"],
                Condition=Condition(ArnLike({"aws:PrincipalArn": bootstrap_roles(account, ctx.name)})),
            )
        )
    for account, roles in codedeploy_instance_roles(ctx.manifest).items():
        # the instances of codedeploy deployment groups there decrypt the revision, only through S3
        statements.append(_decrypt_through_s3(f"CodeDeployInstancesOf{account}DecryptArtifacts", account, roles))
    if home:
        # Glue jobs in other accounts decrypt their scripts, only through S3 (kms:ViaService; the
        # key policy is what lets another account use the key at all: KMS Developer Guide,
        # "Allowing users in other accounts to use a KMS key").
        for account, roles in cross_account_glue_job_roles(ctx.manifest).items():
            statements.append(_decrypt_through_s3(f"GlueJobRolesOf{account}DecryptScripts", account, roles))
    return policy(*statements)


def transient_prefixes(name: str, copies: bool = False) -> tuple[str, ...]:
    """Prefixes of the artifact bucket whose current objects may expire: CodePipeline's artifact
    folder of this pipeline and the build caches. Everything else (Glue scripts under `glue/`,
    packaged Lambda code under `lambda/`) is live while a deployed stack references it.

    `copies`: a Service Catalog product, whose copies are named `<name>` or `<name>-<suffix>`
    (PipelineName, known only at deploy time; CloudFormation has no substring function). The
    folder is the first characters of the copy's name, which all start with `name`: the first
    characters of `name` are the folder exactly when `name` is that long, else a prefix of it
    (each copy has its own bucket, so only that copy's folder matches)."""
    folder = name[: aws.PIPELINE_ARTIFACT_FOLDER_CHARS]
    if copies and len(name) < aws.PIPELINE_ARTIFACT_FOLDER_CHARS:
        return (folder, "cache/")
    return (f"{folder}/", "cache/")


def _real_name(ctx: Context) -> str:
    """The manifest's name, also in a product template compiled under PIPELINE_NAME_TOKEN."""
    return getattr(ctx.template, "real_name", ctx.name)


def lifecycle_rules(name: str, copies: bool = False) -> list[ts3.LifecycleRule]:
    """Current objects expire only under the transient prefixes; old versions expire everywhere
    (a stack references the current version of a live object, never an old one)."""
    rules = [
        ts3.LifecycleRule(
            Id=f"expire-{'pipeline-artifacts' if index == 0 else 'build-caches'}",
            Status="Enabled",
            Prefix=prefix,
            ExpirationInDays=aws.ARTIFACT_EXPIRY_DAYS,
        )
        for index, prefix in enumerate(transient_prefixes(name, copies))
    ]
    rules.append(
        ts3.LifecycleRule(
            Id="expire-old-versions",
            Status="Enabled",
            NoncurrentVersionExpiration=ts3.NoncurrentVersionExpiration(NoncurrentDays=aws.NONCURRENT_EXPIRY_DAYS),
            AbortIncompleteMultipartUpload=ts3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
            ExpiredObjectDeleteMarker=True,
        )
    )
    return rules


def emit_storage(ctx: Context, home: bool = True) -> None:
    """KMS key, alias, artifact bucket and its TLS-only policy."""
    ctx.add(
        tkms.Key(
            "ArtifactKey",
            Description=f"manifestc pipeline {ctx.name}: artifacts"
            + (", build logs and notifications" if home else ""),
            EnableKeyRotation=True,
            KeyPolicy=_key_policy(ctx, home),
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
    )
    ctx.add(tkms.Alias("ArtifactKeyAlias", AliasName=ctx.key_alias, TargetKeyId=Ref("ArtifactKey")))
    ctx.add(
        ts3.Bucket(
            "ArtifactBucket",
            BucketName=ctx.bucket_name,
            BucketEncryption=ts3.BucketEncryption(
                ServerSideEncryptionConfiguration=[
                    ts3.ServerSideEncryptionRule(
                        ServerSideEncryptionByDefault=ts3.ServerSideEncryptionByDefault(
                            SSEAlgorithm="aws:kms", KMSMasterKeyID=GetAtt("ArtifactKey", "Arn")
                        ),
                        BucketKeyEnabled=True,
                    )
                ]
            ),
            VersioningConfiguration=ts3.VersioningConfiguration(Status="Enabled"),
            PublicAccessBlockConfiguration=ts3.PublicAccessBlockConfiguration(
                BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
            ),
            OwnershipControls=ts3.OwnershipControls(
                Rules=[ts3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
            ),
            LifecycleConfiguration=ts3.LifecycleConfiguration(Rules=lifecycle_rules(_real_name(ctx), ctx.is_product)),
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
            Metadata={
                "checkov": {
                    "skip": [
                        {
                            "id": "CKV_AWS_18",
                            "comment": "Pipeline artifact bucket: access is through scoped IAM roles and "
                            "CloudTrail data events; a second logging bucket per pipeline would "
                            "itself need logging.",
                        },
                    ]
                }
            },
        )
    )
    statements = [
        Statement(
            Sid="DenyInsecureTransport",
            Effect=Deny,
            Principal=Principal("*"),
            Action=[Action("s3", "*")],
            Resource=[GetAtt("ArtifactBucket", "Arn"), Sub("${ArtifactBucket.Arn}/*")],
            Condition=Condition(Bool({"aws:SecureTransport": "false"})),
        ),
        # The self-update toolchain (regenerate.install) lives under this prefix: no role of the
        # pipeline (a build a committer scripts, above all) and no role an application stack of
        # the pipeline creates (`/manifestc-app/<name>/`, their code is the committers' too) may
        # write, delete or re-permission an object there. Platform principals upload it.
        Statement(
            Sid=TOOLCHAIN_DENY_SID,
            Effect=Deny,
            Principal=Principal("*"),
            Action=[Action("s3", a) for a in TOOLCHAIN_WRITE_ACTIONS],
            Resource=[Sub(f"${{ArtifactBucket.Arn}}/{TOOLCHAIN_PREFIX}*")],
            Condition=Condition(
                [
                    ArnLike(
                        {
                            "aws:PrincipalArn": [
                                Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{path}*")
                                for path in toolchain_denied_paths(ctx.name)
                            ]
                        }
                    ),
                    ArnNotLike(
                        {
                            "aws:PrincipalArn": Sub(
                                f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{FACTORY_ROLE_PATH}*"
                            )
                        }
                    ),
                ]
            ),
        ),
        # every other manifestc pipeline's roles, and every application stack's roles (this
        # pipeline's too), stay out of this bucket's objects: the artifacts the self-update role and
        # the deploy actions use are the pipeline's own roles' alone. Application roles only read
        # from it (packaged code, Glue scripts).
        Statement(
            Sid="DenyObjectWritesByOtherPipelines",
            Effect=Deny,
            Principal=Principal("*"),
            Action=[Action("s3", a) for a in TOOLCHAIN_WRITE_ACTIONS],
            Resource=[Sub("${ArtifactBucket.Arn}/*")],
            Condition=other_manifestc_roles(ctx.name),
        ),
        # ... nor change the bucket (a new bucket policy would drop these statements)
        Statement(
            Sid="DenyBucketChangesByOtherRoles",
            Effect=Deny,
            Principal=Principal("*"),
            Action=[Action("s3", a) for a in ("PutBucket*", "DeleteBucket*", "Put*Configuration")],
            Resource=[GetAtt("ArtifactBucket", "Arn")],
            Condition=other_manifestc_roles(ctx.name),
        ),
    ]
    for account in ctx.manifest.extra_accounts:
        statements.append(
            Statement(
                Sid=f"DeployRolesOf{account}ReadArtifacts",
                Effect=Allow,
                Principal=_account_root(account),
                Action=[s3.GetObject, s3.GetObjectVersion],
                Resource=[Sub("${ArtifactBucket.Arn}/*")],
                Condition=Condition(ArnLike({"aws:PrincipalArn": bootstrap_roles(account, ctx.name)})),
            )
        )
    for account, roles in codedeploy_instance_roles(ctx.manifest).items():
        # CodePipeline's artifact keys are not documented: the whole bucket, for exactly these roles
        statements.append(
            Statement(
                Sid=f"CodeDeployInstancesOf{account}ReadArtifacts",
                Effect=Allow,
                Principal=_account_root(account),
                Action=[s3.GetObject, s3.GetObjectVersion],
                Resource=[Sub("${ArtifactBucket.Arn}/*")],
                Condition=Condition(ArnLike({"aws:PrincipalArn": roles})),
            )
        )
    if home and ctx.manifest.glue is not None and not ctx.manifest.glue.scripts_bucket:
        # An environment's live Glue scripts (glue/<name>/<env>/) are written by that environment's
        # upload role only: every CodeBuild role of the pipeline may put objects in the artifact
        # bucket (CodePipeline's artifact keys are not documented, so they cannot be scoped), and a
        # staging build must not replace what prod's jobs run.
        m = ctx.manifest
        for env in dict.fromkeys(e.name for e in m.environments if any(m.target(n).type == "glue" for n in e.targets)):
            statements.append(
                Statement(
                    Sid=f"OnlyItsUploadRoleWritesGlueScripts{camel(env)}",
                    Effect=Deny,
                    Principal=Principal("*"),
                    Action=[Action("s3", a) for a in TOOLCHAIN_WRITE_ACTIONS],
                    Resource=[Sub(f"${{ArtifactBucket.Arn}}/{glue_scripts_prefix(m, env)}/*")],
                    # the upload role of that environment (emit/codebuild.py glue_jobs)
                    Condition=Condition(
                        ArnNotEquals({"aws:PrincipalArn": GetAtt(camel("glue", "scripts", env) + "Role", "Arn")})
                    ),
                )
            )
    if home:
        # the job roles of glue stacks in other accounts read their environment's scripts, nothing else
        for account, roles in cross_account_glue_job_roles(ctx.manifest).items():
            m = ctx.manifest
            envs = [
                e.name
                for e in m.environments
                if e.account == account and any(m.target(n).type == "glue" for n in e.targets)
            ]
            statements.append(
                Statement(
                    Sid=f"GlueJobRolesOf{account}ReadScripts",
                    Effect=Allow,
                    Principal=_account_root(account),
                    Action=[s3.GetObject],
                    Resource=[Sub(f"${{ArtifactBucket.Arn}}/{glue_scripts_prefix(ctx.manifest, e)}/*") for e in envs],
                    Condition=Condition(ArnLike({"aws:PrincipalArn": roles})),
                )
            )
    ctx.add(ts3.BucketPolicy("ArtifactBucketPolicy", Bucket=Ref("ArtifactBucket"), PolicyDocument=policy(*statements)))
