"""Service Catalog (SPEC §5.6): the parameterised product template and catalog.yaml.

The pipeline template becomes the product's provisioning artifact: `catalog.parameters` turn
manifest fields into template parameters (emit_parameters, first in the registry), and
catalog.yaml holds the portfolio, the product with one provisioning artifact per version, the
associations, shares, the team TagOption and a launch-role constraint whose role may create,
update and delete exactly the resource types of the product template.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

from awacs import cloudformation as acfn
from awacs import s3
from awacs.aws import Condition, StringEquals
from troposphere import Parameter, Ref, Sub, Tags, Template, iam
from troposphere import servicecatalog as sc

from .. import __version__
from ..model import Manifest, catalog_parameter_pattern, pipeline_name_pattern
from .context import PARAMETERS, PIPELINE_NAME_TOKEN, Context, camel
from .iam import allow, policy, service_trust
from .regional_keys import key_parameter_names
from .selfupdate import MANAGED_POLICY_LIMIT, split_statements, template_permissions

_DESCRIPTIONS = {
    "repository": "Repository the pipeline builds (CodeCommit name, or owner/repo for a connection)",
    "branch": "Branch whose pushes start the pipeline",
    "team": "Owning team, tagged on every resource as team",
    "connection_arn": "CodeStar connection to the Git host",
}
_MAX_LENGTHS = {"repository": 100, "branch": 255, "team": 64, "connection_arn": 256}
PIPELINE_NAME_PARAMETER = "PipelineName"
_NAME_MAX_LENGTH = 40  # the manifest schema's `name` limit, which every generated name is checked against


def emit_parameters(ctx: Context) -> None:
    """Template parameters of a product: the copy's PipelineName, and the fields provisioners
    set (catalog.parameters), defaulting to the manifest's values. Every AllowedPattern admits
    only inert characters (model.CATALOG_PARAMETER_PATTERNS)."""
    catalog = ctx.manifest.catalog
    if catalog is None:
        return
    real_name = ctx.template.real_name if isinstance(ctx.template, ProductTemplate) else ctx.name
    name_pattern = pipeline_name_pattern(real_name)
    ctx.template.add_parameter(
        Parameter(
            PIPELINE_NAME_PARAMETER,
            Type="String",
            Default=real_name,
            AllowedPattern=name_pattern,
            MinLength=len(real_name),
            MaxLength=_NAME_MAX_LENGTH,
            Description=(
                "Name of this copy of the pipeline: every resource name derives from it, so give each copy "
                f"in an account its own ({real_name} or {real_name}-<suffix>)"
            ),
            ConstraintDescription=f"{real_name}, or {real_name}-<lowercase letters and digits>, at most 40 characters",
        )
    )
    for field in catalog.parameters:
        pattern = catalog_parameter_pattern(field, ctx.manifest.source.provider)
        ctx.template.add_parameter(
            Parameter(
                PARAMETERS[field],
                Type="String",
                Default=str(_default(ctx.manifest, field)),
                AllowedPattern=pattern,
                MaxLength=_MAX_LENGTHS[field],
                Description=_DESCRIPTIONS[field],
                ConstraintDescription=f"{field} must match {pattern}",
            )
        )


class ProductTemplate(Template):
    """A product template compiled with PIPELINE_NAME_TOKEN as the pipeline name: rendering it
    (to_dict) relocates the token to the PipelineName parameter in resources and outputs, and to
    the real name in the description and metadata."""

    def __init__(self, real_name: str) -> None:
        super().__init__()
        self.real_name = real_name

    def to_dict(self) -> dict:
        data = super().to_dict()
        for key in ("Description", "Metadata"):
            if key in data:
                data[key] = json.loads(json.dumps(data[key]).replace(PIPELINE_NAME_TOKEN, self.real_name))
        for key in ("Resources", "Outputs"):
            if key in data:
                data[key] = relocate_name(data[key])
        return data


def relocate_name(node):
    """Replace PIPELINE_NAME_TOKEN by the PipelineName parameter: a string that is exactly the
    token becomes a Ref, a string containing it an Fn::Sub (its other `${` escaped, so it stays
    literal), and the token inside an existing Fn::Sub becomes `${PipelineName}`."""
    variable = "${" + PIPELINE_NAME_PARAMETER + "}"
    if isinstance(node, str):
        if PIPELINE_NAME_TOKEN not in node:
            return node
        if node == PIPELINE_NAME_TOKEN:
            return {"Ref": PIPELINE_NAME_PARAMETER}
        return {"Fn::Sub": node.replace("${", "${!").replace(PIPELINE_NAME_TOKEN, variable)}
    if isinstance(node, list):
        return [relocate_name(item) for item in node]
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:
            body = node["Fn::Sub"]
            if isinstance(body, str):
                return {"Fn::Sub": body.replace(PIPELINE_NAME_TOKEN, variable)}
            text, variables = body
            return {"Fn::Sub": [text.replace(PIPELINE_NAME_TOKEN, variable), relocate_name(variables)]}
        for key in node:
            if PIPELINE_NAME_TOKEN in key:  # names are values, never keys: a compiler bug
                raise AssertionError(f"pipeline name in a template key: {key}")
        return {key: relocate_name(value) for key, value in node.items()}
    return node


def _default(m: Manifest, field: str) -> str:
    return {
        "repository": m.source.repository,
        "branch": m.source.branch,
        "team": m.team,
        "connection_arn": m.source.connection_arn,
    }[field]


def self_update_parameter_overrides(ctx: Context) -> Sub | None:
    """Keep the provisioner's parameter values when the pipeline updates its own stack."""
    catalog = ctx.manifest.catalog
    keys = key_parameter_names(ctx.manifest)  # the other regions' artifact key ARNs (regional_keys.py)
    if catalog is None and not keys:
        return None
    # Fn::Sub into JSON is safe here only because every parameter's AllowedPattern excludes
    # quotes, backslashes and control characters (model.CATALOG_PARAMETER_PATTERNS,
    # regional_keys.allowed_pattern).
    names = ([PIPELINE_NAME_PARAMETER] + [PARAMETERS[f] for f in catalog.parameters] if catalog else []) + keys
    values = {name: "${" + name + "}" for name in names}
    return Sub(json.dumps(values, sort_keys=True))


def launch_role_name(product: str) -> str:
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in product)[:50].strip("-")
    return f"{slug}-launch"


def template_url(catalog, version: str) -> Sub:
    """Where the product template of `version` lives (the bucket must be in the catalog's region)."""
    return Sub(f"https://${{TemplateBucket}}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}/{catalog.template_key(version)}")


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def emit_catalog(ctx: Context) -> Template:
    """catalog.yaml for one manifest; directory builds merge these per portfolio."""
    m = ctx.manifest
    catalog = m.catalog
    t = Template()
    t.set_version("2010-09-09")
    t.set_description(
        f"manifestc {__version__}: Service Catalog product {catalog.product} {catalog.version} "
        f"(pipeline {m.name}) in portfolio {catalog.portfolio}"
    )
    t.set_metadata({"manifestc": {"version": __version__, "pipelines": [m.name]}})
    bucket = {
        "Type": "String",
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        "Description": "S3 bucket holding the product templates (manifestc publish uploads them)",
    }
    if catalog.bucket:
        bucket["Default"] = catalog.bucket
    t.add_parameter(Parameter("TemplateBucket", **bucket))
    tags = ctx.tags(literal=True)
    portfolio = f"Portfolio{camel(_slug(catalog.portfolio))}"
    product = f"Product{camel(_slug(catalog.product))}"
    t.add_resource(
        sc.Portfolio(
            portfolio,
            DisplayName=catalog.portfolio,
            ProviderName=catalog.provider,
            Description=f"Pipelines published by {catalog.provider} with manifestc",
            # shared by every product naming it: no per-pipeline tags
            Tags=Tags(**{"managed-by": "manifestc", "portfolio": catalog.portfolio}),
        )
    )
    versions = list(catalog.keep_versions) + [catalog.version]
    t.add_resource(
        sc.CloudFormationProduct(
            product,
            Name=catalog.product,
            Owner=catalog.provider,
            Description=catalog.description,
            Distributor=catalog.provider,
            SupportDescription=f"Pipeline {m.name}, team {m.team}; compiled by manifestc {__version__}",
            # New versions are added next to the old ones (matched by name), never replacing them.
            ReplaceProvisioningArtifacts=False,
            ProvisioningArtifactParameters=[
                sc.ProvisioningArtifactProperties(
                    Name=version,
                    Description=f"{catalog.product} {version}",
                    Type="CLOUD_FORMATION_TEMPLATE",
                    Info=sc.Info(LoadTemplateFromURL=template_url(catalog, version)),
                )
                for version in versions
            ],
            Tags=tags,
        )
    )
    t.add_resource(
        sc.PortfolioProductAssociation(f"{product}Association", PortfolioId=Ref(portfolio), ProductId=Ref(product))
    )
    for principal in catalog.principals:
        t.add_resource(
            sc.PortfolioPrincipalAssociation(
                f"{portfolio}Principal{_short(principal)}",
                PortfolioId=Ref(portfolio),
                PrincipalARN=principal,
                PrincipalType="IAM",
            )
        )
    for account in catalog.share_with:
        t.add_resource(
            sc.PortfolioShare(
                f"{portfolio}Share{account}", AccountId=account, PortfolioId=Ref(portfolio), ShareTagOptions=True
            )
        )
    team_option = f"TagOptionTeam{_short(m.team)}"
    t.add_resource(sc.TagOption(team_option, Key="team", Value=m.team, Active=True))
    t.add_resource(
        sc.TagOptionAssociation(f"{portfolio}{team_option}", ResourceId=Ref(portfolio), TagOptionId=Ref(team_option))
    )
    role = f"{product}LaunchRole"
    for resource in launch_role(ctx, role):
        t.add_resource(resource)
    t.add_resource(
        sc.LaunchRoleConstraint(
            f"{product}LaunchConstraint",
            PortfolioId=Ref(portfolio),
            ProductId=Ref(product),
            LocalRoleName=launch_role_name(catalog.product),
            Description=f"{catalog.product} is provisioned with {launch_role_name(catalog.product)}",
            DependsOn=[f"{product}Association", role],
        )
    )
    return t


def launch_role(ctx: Context, logical_id: str) -> list:
    """The launch role and its managed policies: Service Catalog's CloudFormation stacks (SC-*)
    creating exactly the product template's resource types (every handler permission of each,
    from the registry schemas; roles only with the pipeline's boundary), reading only this
    product's templates."""
    catalog = ctx.manifest.catalog
    # names of every provisioned copy (ctx.name_pattern = `<name>*`): see context.all_copies
    every_copy = dataclasses.replace(ctx, all_copies=True)
    statements = template_permissions(every_copy, ctx.template, launch=True) + [
        allow(
            [
                acfn.CreateStack,
                acfn.UpdateStack,
                acfn.DeleteStack,
                acfn.DescribeStacks,
                acfn.DescribeStackEvents,
                acfn.SetStackPolicy,
                acfn.CreateChangeSet,
                acfn.DescribeChangeSet,
                acfn.ExecuteChangeSet,
                acfn.DeleteChangeSet,
                acfn.ListChangeSets,
                acfn.TagResource,
                acfn.UntagResource,
                # Service Catalog reads what it provisioned (outputs, resources, the current template
                # for updates) and recovers a failed update's rollback as the launch role: "full
                # permissions to create, read, update, delete, list, and tag" its stacks (Service
                # Catalog Administrator Guide, "Step 6: Add a launch constraint to assign an IAM role").
                acfn.GetTemplate,
                acfn.GetStackPolicy,
                acfn.DescribeStackResource,
                acfn.DescribeStackResources,
                acfn.ListStackResources,
                acfn.ContinueUpdateRollback,
                acfn.CancelUpdateStack,
            ],
            [Sub("arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/SC-*")],
            sid="ProvisionedStacks",
        ),
        # Template validation is not tied to a stack: no resource-level scope.
        allow([acfn.GetTemplateSummary, acfn.ValidateTemplate], ["*"], sid="TemplateValidation"),
        allow(
            [s3.GetObject],
            [Sub(f"arn:${{AWS::Partition}}:s3:::${{TemplateBucket}}/{catalog.prefix.strip('/')}/*")],
            sid="ReadProductTemplates",
        ),
        # Service Catalog copies each provisioning artifact into a bucket it owns and reads it from
        # there as the launch role: objects it tagged servicecatalog:provisioning=true, whatever the
        # bucket ("Configuring a launch role": read access to the template in a service-owned
        # bucket; https://docs.aws.amazon.com/servicecatalog/latest/adminguide/constraints-launch.html
        # and getstarted-launchconstraint.html).
        allow(
            [s3.GetObject],
            ["*"],
            Condition(StringEquals({"s3:ExistingObjectTag/servicecatalog:provisioning": "true"})),
            sid="ReadServiceCatalogCopies",
        ),
    ]
    # every handler permission of the product template is more than one role's inline quota
    # (10,240 characters): managed policies of at most 6,144 characters each
    policies = [
        iam.ManagedPolicy(
            f"{logical_id}Policy{index}",
            Description=f"Service Catalog launches {catalog.product} with these permissions ({index})",
            PolicyDocument=policy(*part),
        )
        for index, part in enumerate(split_statements(statements, MANAGED_POLICY_LIMIT), start=1)
    ]
    role = iam.Role(
        logical_id,
        RoleName=launch_role_name(catalog.product),
        Description=f"Service Catalog launches {catalog.product} with this role",
        AssumeRolePolicyDocument=service_trust("servicecatalog.amazonaws.com"),
        ManagedPolicyArns=[Ref(p) for p in policies],
        Tags=ctx.tags(literal=True),
    )
    return policies + [role]


def emit_launch_role_template(ctx: Context) -> Template:
    """launch-role.yaml: the same launch role for each share_with account (LocalRoleName)."""
    t = Template()
    t.set_version("2010-09-09")
    t.set_description(
        f"manifestc {__version__}: launch role of Service Catalog product {ctx.manifest.catalog.product} "
        "for an account the portfolio is shared with"
    )
    t.add_parameter(
        Parameter(
            "TemplateBucket",
            Type="String",
            AllowedPattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            Description="S3 bucket holding the product templates",
            **({"Default": ctx.manifest.catalog.bucket} if ctx.manifest.catalog.bucket else {}),
        )
    )
    for resource in launch_role(ctx, "LaunchRole"):
        t.add_resource(resource)
    return t


def _slug(text: str) -> str:
    """Logical-ID-safe words of a display name. Logical ids are ASCII alphanumerics
    (`str.isalnum` also accepts `ä` or `チ`), so a name with other letters gets a short digest of
    its spelling-insensitive form to keep distinct names apart."""
    slug = "".join(c if c.isascii() and c.isalnum() else "-" for c in text)
    if not text.isascii():
        slug += "-" + _short(portfolio_key(text))[:8].upper()
    return slug


def portfolio_key(name: str) -> str:
    """A portfolio name without case, spaces and punctuation: two names with the same key are
    one portfolio to a reader (and, without a check, to the logical ids)."""
    return "".join(c for c in name.casefold() if c.isalnum())
