"""Shared emit state: the template being built, naming, ARNs and tags.

Names and logical IDs are derived from manifest names only (deterministic, no random suffixes);
every emitter asks this module rather than spelling a name itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from troposphere import AWSObject, Ref, Select, Split, Sub, Tags, Template

from .. import __version__
from ..model import Manifest


def camel(*parts: str) -> str:
    """`("test", "unit-fast")` -> `TestUnitFast`: logical-ID-safe CamelCase."""
    words = []
    for part in parts:
        for word in part.replace("_", "-").replace(".", "-").split("-"):
            if word:
                words.append(word[0].upper() + word[1:])
    return "".join(words)


# manifest field -> template parameter name (catalog.parameters), and where the value lives
PARAMETERS = {"repository": "Repository", "branch": "Branch", "team": "Team", "connection_arn": "ConnectionArn"}
_FIELD_VALUES = {
    "repository": lambda m: m.source.repository,
    "branch": lambda m: m.source.branch,
    "team": lambda m: m.team,
    "connection_arn": lambda m: m.source.connection_arn,
}


# A Service Catalog product template is compiled with this stand-in for the pipeline name, and
# emit.catalog.ProductTemplate relocates it to the product's PipelineName parameter (Ref or
# Fn::Sub) when the template is rendered: every name a copy creates (pipeline, projects, log
# groups, report groups, topics, rules, the bucket, the key alias, the IAM path, the stacks it
# deploys) derives from its PipelineName, so a product can be provisioned several times in one
# account. It is a valid pipeline name of the maximum length (40), so any length logic at emit
# time sees the worst case.
PIPELINE_NAME_TOKEN = "pipelinenameparameter" + "x" * 19


@dataclass
class Context:
    """The pipeline template under construction and its naming rules."""

    manifest: Manifest
    template: Template = field(default_factory=Template)
    # True for policies that must cover every provisioned copy of a product (its launch role):
    # names then match the product's name prefix (`name_pattern`) instead of one pipeline's name.
    all_copies: bool = False

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def is_product(self) -> bool:
        """A Service Catalog product template: names come from the PipelineName parameter."""
        return self.manifest.catalog is not None

    @property
    def name_pattern(self) -> str:
        """The pipeline name in IAM resource patterns and StringLike conditions: this pipeline's
        name, or for a launch role (`all_copies`) the prefix every copy's PipelineName starts with
        (model.pipeline_name_pattern): `<name>*`. The hook every name-scoped grant should use."""
        return f"{self.name}*" if self.all_copies else self.name

    @property
    def iam_path_pattern(self) -> str:
        return f"/manifestc/{self.name_pattern}/"

    # --- values provisioners may set (catalog.parameters) --------------------------------------
    def parameterised(self, field_name: str) -> bool:
        catalog = self.manifest.catalog
        return catalog is not None and field_name in catalog.parameters

    def value(self, field_name: str):
        """A source/team value: a Ref to its template parameter when provisioners set it."""
        if self.parameterised(field_name):
            return Ref(PARAMETERS[field_name])
        return _FIELD_VALUES[field_name](self.manifest)

    def sub_value(self, field_name: str) -> str:
        """The same value for use inside an Fn::Sub string."""
        if self.parameterised(field_name):
            return "${" + PARAMETERS[field_name] + "}"
        return str(_FIELD_VALUES[field_name](self.manifest)).replace("${", "${!")

    def codecommit_push_pattern(self, reference_names: list) -> dict:
        """EventBridge pattern of pushes (branch created or updated) to the source repository."""
        return {
            "source": ["aws.codecommit"],
            "detail-type": ["CodeCommit Repository State Change"],
            "resources": [self.arn("codecommit", self.sub_value("repository"))],
            "detail": {
                "event": ["referenceCreated", "referenceUpdated"],
                "referenceType": ["branch"],
                "referenceName": reference_names,
            },
        }

    # --- names -------------------------------------------------------------------------------
    @property
    def iam_path(self) -> str:
        """Every role and managed policy lives under this IAM path, so policies can scope by it."""
        return f"/manifestc/{self.name}/"

    def project_name(self, purpose: str) -> str:
        return f"{self.name}-{purpose}"

    def log_group_name(self, purpose: str) -> str:
        return f"/aws/codebuild/{self.project_name(purpose)}"

    @property
    def key_alias(self) -> str:
        return f"alias/manifestc/{self.name}"

    def regional_bucket_pattern(self, region: str = "${AWS::Region}") -> str:
        """Artifact bucket name (Fn::Sub text): globally unique, deterministic, <= 63 chars —
        a name prefix, a hash of the name, the account and the region."""
        digest = hashlib.sha256(self.name.encode()).hexdigest()[:6]
        return f"{self.name[:16].rstrip('-')}-{digest}-${{AWS::AccountId}}-{region}"

    @property
    def bucket_name(self) -> Sub:
        if self.is_product:
            # a copy's bucket: its PipelineName and the last 12 hex digits of its stack id (a
            # UUID), globally unique without hashing a name only known at deploy time; <= 53 chars
            tail = Select(4, Split("-", Select(2, Split("/", Ref("AWS::StackId")))))
            return Sub(f"{self.name}-${{StackIdTail}}", StackIdTail=tail)
        return Sub(self.regional_bucket_pattern())

    def bucket_arn_pattern(self) -> str:
        """The artifact bucket's name as an IAM resource pattern (Fn::Sub text)."""
        if self.is_product or self.all_copies:
            return f"{self.name_pattern}-{'?' * 12}"
        return self.regional_bucket_pattern()

    def regional_bucket_name(self, region: str) -> Sub:
        """The artifact bucket support-<region>.yaml creates in another region."""
        return Sub(self.regional_bucket_pattern(region))

    def regional_key_alias_arn(self, region: str) -> Sub:
        return Sub(f"arn:${{AWS::Partition}}:kms:{region}:${{AWS::AccountId}}:{self.key_alias}")

    # --- ARNs (Fn::Sub strings) --------------------------------------------------------------
    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> Sub:
        reg = "${AWS::Region}" if region else ""
        acct = "${AWS::AccountId}" if account else ""
        return Sub(f"arn:${{AWS::Partition}}:{service}:{reg}:{acct}:{resource}")

    def project_arn(self, purpose: str) -> Sub:
        return self.arn("codebuild", f"project/{self.project_name(purpose)}")

    @property
    def pipeline_arn(self) -> Sub:
        return self.arn("codepipeline", self.name)

    # --- resources ---------------------------------------------------------------------------
    def add(self, resource: AWSObject) -> AWSObject:
        if resource.title in self.template.resources:
            raise AssertionError(f"duplicate logical id {resource.title}")  # a compiler bug, never user input
        # Not Template.add_resource: troposphere raises at CloudFormation's resource quota, and the
        # readiness check check/quotas.py reports that as a located error instead.
        self.template.resources[resource.title] = resource
        return resource

    def tag_map(self) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.tags().to_dict()}

    def encrypted_topic(self, logical_id: str, suffix: str, display: str) -> Ref:
        """An SNS topic of the pipeline, encrypted with the artifact key (created once)."""
        from troposphere import GetAtt, sns

        if logical_id not in self.template.resources:
            self.add(
                sns.Topic(
                    logical_id,
                    TopicName=f"{self.name}-{suffix}",
                    KmsMasterKeyId=GetAtt("ArtifactKey", "Arn"),
                    DisplayName=f"{self.name} {display}",
                )
            )
        return Ref(logical_id)

    def tags(self, literal: bool = False) -> Tags:
        team = self.manifest.team if literal else self.value("team")
        base = {"team": team, "pipeline": self.name, "managed-by": "manifestc"}
        merged = dict(self.manifest.tags)
        merged.update(base)  # the three ownership tags cannot be overridden by user tags
        return Tags(**dict(sorted(merged.items())))

    def apply_tags(self) -> None:
        """Tag every taggable resource (troposphere knows which types take `Tags`)."""
        for resource in self.template.resources.values():
            if "Tags" in resource.props and "Tags" not in resource.properties:
                expected = resource.props["Tags"][0]
                # most types take a list of Key/Value pairs; a few (notification rules) a plain map
                resource.Tags = self.tag_map() if expected is dict else self.tags()

    def describe(self, what: str | None = None) -> None:
        self.template.set_version("2010-09-09")
        subject = what or f"pipeline {self.name}"
        self.template.set_description(
            f"manifestc {__version__}: {subject} compiled from {self.manifest.file}"
            + (f" - {self.manifest.description}" if self.manifest.description and what is None else "")
        )
        self.template.set_metadata(
            {
                "manifestc": {
                    "version": __version__,
                    "manifest": self.manifest.file,
                    "manifest_sha256": self.manifest.digest,
                    "pipeline": self.name,
                }
            }
        )


def approvers_policy_name(pipeline: str, environment: str) -> str:
    """The managed policy granting an environment's approvers the approval (emit/selfupdate.py
    lets the self-update role attach exactly these to the approvers' principals)."""
    return f"{pipeline}-approvers-{environment}"
