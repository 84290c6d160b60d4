"""Artifact storage: the KMS key (rotation on), its alias, and the artifact bucket with its policy."""

from __future__ import annotations

from awacs import kms, s3
from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    Bool,
    Condition,
    Deny,
    Principal,
    Statement,
)
from troposphere import GetAtt, Ref, Sub
from troposphere import kms as tkms
from troposphere import s3 as ts3

from .. import aws
from .context import Context
from .iam import policy


def emit_storage(ctx: Context) -> None:
    """KMS key, alias, artifact bucket and its TLS-only policy."""
    log_groups = ctx.arn("logs", f"log-group:/aws/codebuild/{ctx.name}-*")
    key_policy = policy(
        Statement(
            Sid="AccountAdministersKeyThroughIam",
            Effect=Allow,
            Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
            # The default key policy: delegates all key access to IAM policies in this account,
            # which grant each role only the kms actions it needs on this key.
            Action=[Action("kms", "*")],
            Resource=["*"],
        ),
        Statement(
            Sid="CloudWatchLogsEncryptsBuildLogs",
            Effect=Allow,
            Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
            Action=[kms.Encrypt, kms.Decrypt, kms.ReEncryptFrom, kms.ReEncryptTo, kms.GenerateDataKey, kms.DescribeKey],
            # In a key policy "*" means this key.
            Resource=["*"],
            Condition=Condition(ArnLike({"kms:EncryptionContext:aws:logs:arn": log_groups})),
        ),
    )
    ctx.add(
        tkms.Key(
            "ArtifactKey",
            Description=f"manifestc pipeline {ctx.name}: artifacts, build logs and notifications",
            EnableKeyRotation=True,
            KeyPolicy=key_policy,
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
            LifecycleConfiguration=ts3.LifecycleConfiguration(
                Rules=[
                    ts3.LifecycleRule(
                        Id="expire-old-artifacts",
                        Status="Enabled",
                        ExpirationInDays=aws.ARTIFACT_EXPIRY_DAYS,
                        NoncurrentVersionExpiration=ts3.NoncurrentVersionExpiration(
                            NoncurrentDays=aws.NONCURRENT_EXPIRY_DAYS
                        ),
                        AbortIncompleteMultipartUpload=ts3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
                    )
                ]
            ),
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
    ctx.add(
        ts3.BucketPolicy(
            "ArtifactBucketPolicy",
            Bucket=Ref("ArtifactBucket"),
            PolicyDocument=policy(
                Statement(
                    Sid="DenyInsecureTransport",
                    Effect=Deny,
                    Principal=Principal("*"),
                    Action=[Action("s3", "*")],
                    Resource=[GetAtt("ArtifactBucket", "Arn"), Sub("${ArtifactBucket.Arn}/*")],
                    Condition=Condition(Bool({"aws:SecureTransport": "false"})),
                )
            ),
        )
    )
    _ = s3  # the bucket's own actions are granted per role in iam.artifact_statements
