"""Private builds (SPEC §5.4): the build security group and VpcConfig in the pipeline stack, and
the shared per-VPC endpoint stack (out/_shared/network-<vpc>.yaml).

Interface endpoints with private DNS can exist once per service per VPC, so they are never part
of a pipeline stack: one network stack per VPC holds the union of what every manifest in that VPC
needs, and exports its endpoint security group; each pipeline stack adds the ingress rule from
its own build security group to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import ec2
from awacs.aws import Action, Allow, Condition, Principal, Statement, StringEquals
from troposphere import Export, ImportValue, Output, Parameter, Ref, Sub, Template
from troposphere import codebuild as cb
from troposphere import ec2 as tec2

from .. import __version__, aws
from .context import Context
from .iam import allow, policy


def endpoint_sg_export(vpc_id: str) -> str:
    return f"manifestc-network-{vpc_id}-endpoint-sg"


def prefix_list_export(vpc_id: str) -> str:
    return f"manifestc-network-{vpc_id}-s3-prefix-list"


def _uses_shared_stack(ctx: Context) -> bool:
    return ctx.manifest.network is not None and ctx.manifest.network.mode != "none"


def emit_build_network(ctx: Context) -> None:
    """The builds' security group (unless given) and its rules toward the shared endpoints."""
    network = ctx.manifest.network
    if network is None:
        return
    if not network.security_groups:
        if _uses_shared_stack(ctx):
            egress = [
                tec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    Description="HTTPS to VPC endpoints",
                    DestinationSecurityGroupId=ImportValue(endpoint_sg_export(network.vpc_id)),
                ),
                tec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    Description="HTTPS to S3 (gateway)",
                    DestinationPrefixListId=ImportValue(prefix_list_export(network.vpc_id)),
                ),
            ]
        else:
            # endpoints: none — the subnets reach AWS and registries through the VPC's own NAT or endpoints
            egress = [
                tec2.SecurityGroupRule(
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    CidrIp="0.0.0.0/0",
                    Description="HTTPS through the VPC's NAT",
                )
            ]
        egress += [
            tec2.SecurityGroupRule(
                IpProtocol="tcp",
                FromPort=rule.port,
                ToPort=rule.to_port,
                Description=rule.description,
                **({"CidrIp": rule.cidr} if rule.cidr else {"DestinationPrefixListId": rule.prefix_list}),
            )
            for rule in network.egress
        ]
        ctx.add(
            tec2.SecurityGroup(
                "BuildSecurityGroup",
                GroupDescription=f"manifestc pipeline {ctx.name}: CodeBuild builds (HTTPS to endpoints"
                + (", and network.egress)" if network.egress else " only)"),
                VpcId=network.vpc_id,
                SecurityGroupEgress=egress,
            )
        )
    if _uses_shared_stack(ctx):
        for index, group in enumerate(build_security_groups(ctx)):
            ctx.add(
                tec2.SecurityGroupIngress(
                    f"EndpointIngressFromBuilds{index + 1}" if network.security_groups else "EndpointIngressFromBuilds",
                    GroupId=ImportValue(endpoint_sg_export(network.vpc_id)),
                    IpProtocol="tcp",
                    FromPort=443,
                    ToPort=443,
                    SourceSecurityGroupId=group,
                    Description=f"HTTPS from the builds of pipeline {ctx.name}",
                )
            )


def build_security_groups(ctx: Context) -> list:
    network = ctx.manifest.network
    return list(network.security_groups) if network.security_groups else [Ref("BuildSecurityGroup")]


def vpc_config(ctx: Context) -> cb.VpcConfig | None:
    network = ctx.manifest.network
    if network is None:
        return None
    return cb.VpcConfig(
        VpcId=network.vpc_id, Subnets=list(network.subnets), SecurityGroupIds=build_security_groups(ctx)
    )


def vpc_statements(ctx: Context) -> list:
    """The EC2 permissions CodeBuild needs to run a build in the VPC (AWS-documented policy)."""
    network = ctx.manifest.network
    if network is None:
        return []
    subnets = [ctx.arn("ec2", f"subnet/{subnet}") for subnet in network.subnets]
    interfaces = ctx.arn("ec2", "network-interface/*")
    groups = [ctx.arn("ec2", f"security-group/{g}") for g in network.security_groups] or [
        Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/${BuildSecurityGroup.GroupId}")
    ]
    return [
        # The Describe actions accept no resource-level scope (Service Authorization Reference).
        allow([Action("ec2", a) for a in aws.VPC_DESCRIBE_ACTIONS], ["*"], sid="VpcNetworkInterfaces"),
        allow([ec2.CreateNetworkInterface], [interfaces, *subnets, *groups], sid="VpcCreateNetworkInterface"),
        allow([ec2.DeleteNetworkInterface], [interfaces], sid="VpcDeleteNetworkInterface"),
        allow(
            [ec2.CreateNetworkInterfacePermission],
            [ctx.arn("ec2", "network-interface/*")],
            Condition(StringEquals({"ec2:Subnet": subnets, "ec2:AuthorizedService": "codebuild.amazonaws.com"})),
            sid="VpcNetworkInterfacePermission",
        ),
    ]


@dataclass(frozen=True)
class VpcNeeds:
    """What one manifest needs in a VPC (from its model, or from its build.json when cached)."""

    pipeline: str
    vpc_id: str
    subnets: tuple[str, ...]
    route_tables: tuple[str, ...]
    endpoints: tuple[tuple[str, str, tuple[str, ...]], ...]  # (service, kind, reasons)


def network_stack(vpc_id: str, needs: list[VpcNeeds]) -> tuple[Template, list[str]]:
    """The shared endpoint stack of one VPC: the union of every manifest's endpoints, each once.

    Returns the template and notes (e.g. differing subnets) for the build report.
    """
    notes = []
    needs = sorted(needs, key=lambda n: n.pipeline)
    subnets = needs[0].subnets
    for other in needs[1:]:
        if other.subnets != subnets:
            notes.append(
                f"pipeline {other.pipeline} lists other subnets than {needs[0].pipeline}; the interface "
                f"endpoints use {needs[0].pipeline}'s ({', '.join(subnets)})"
            )
    route_tables = sorted({rt for n in needs for rt in n.route_tables})
    services: dict[str, tuple[str, list[str]]] = {}
    for n in needs:
        for service, kind, reasons in n.endpoints:
            entry = services.setdefault(service, (kind, []))
            entry[1].extend(f"{n.pipeline}: {r}" for r in reasons)
    t = Template()
    t.set_version("2010-09-09")
    t.set_description(
        f"manifestc {__version__}: VPC endpoints of {vpc_id} shared by pipelines {', '.join(n.pipeline for n in needs)}"
    )
    t.set_metadata(
        {
            "manifestc": {
                "version": __version__,
                "vpc": vpc_id,
                "pipelines": [n.pipeline for n in needs],
                "endpoints": {s: reasons for s, (_, reasons) in sorted(services.items())},
            }
        }
    )
    t.add_parameter(
        Parameter(
            "S3PrefixListId",
            Type="String",
            AllowedPattern="^pl-[0-9a-f]+$",
            Description="The AWS-managed prefix list of S3 in this region (aws ec2 describe-managed-prefix-lists "
            "--filters Name=prefix-list-name,Values=com.amazonaws.<region>.s3)",
        )
    )
    uses_codeartifact = "codeartifact.repositories" in services
    if uses_codeartifact:
        t.add_parameter(
            Parameter(
                "CodeArtifactAssetsBucketArn",
                Type="String",
                AllowedPattern=r"^arn:aws[a-z-]*:s3:::assets-[0-9]{12}-[a-z0-9-]+$",
                Description="The AWS-owned bucket CodeArtifact serves package assets from in this region "
                "(aws codeartifact describe-domain --domain D --query domain.s3BucketArn --output text; "
                "table: CodeArtifact User Guide, Create the Amazon S3 gateway endpoint)",
            )
        )
    t.add_resource(
        tec2.SecurityGroup(
            "EndpointSecurityGroup",
            GroupDescription=f"manifestc: interface endpoints of {vpc_id} (HTTPS from pipeline builds)",
            VpcId=vpc_id,
            # No egress: endpoints only answer. (A rule to 127.0.0.1/32 replaces the default allow-all.)
            SecurityGroupEgress=[
                tec2.SecurityGroupRule(IpProtocol="-1", CidrIp="127.0.0.1/32", Description="no egress")
            ],
            Tags=_tags(),
        )
    )
    for service, (kind, _) in sorted(services.items(), key=lambda i: (i[1][0] != "Gateway", i[0])):
        logical_id = "Endpoint" + "".join(part.capitalize() for part in service.replace("-", ".").split("."))
        props = {
            "VpcId": vpc_id,
            "ServiceName": Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
            "VpcEndpointType": kind,
            "PolicyDocument": _endpoint_policy(service, set(services)),
        }
        if kind == "Gateway":
            props["RouteTableIds"] = route_tables
        else:
            props.update(
                PrivateDnsEnabled=True, SubnetIds=list(subnets), SecurityGroupIds=[Ref("EndpointSecurityGroup")]
            )
        t.add_resource(tec2.VPCEndpoint(logical_id, **props))
    t.add_output(
        Output("EndpointSecurityGroupId", Value=Ref("EndpointSecurityGroup"), Export=Export(endpoint_sg_export(vpc_id)))
    )
    t.add_output(Output("S3PrefixList", Value=Ref("S3PrefixListId"), Export=Export(prefix_list_export(vpc_id))))
    return t, notes


def _endpoint_policy(service: str, services: set[str]):
    """Only principals of this account may use the endpoint; the S3 gateway endpoint also lets
    anyone read the AWS-owned buckets that serve presigned downloads to the builds (those requests
    are signed by the service, not by a principal of this account):
    - ECR image layers: `prod-<region>-starport-layer-bucket` (Amazon ECR User Guide, "Amazon ECR
      interface VPC endpoints", Minimum Amazon S3 bucket permissions for Amazon ECR)
      https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html
    - CodeArtifact package assets: `assets-<account>-<region>` (CodeArtifact User Guide, "Create the
      Amazon S3 gateway endpoint") https://docs.aws.amazon.com/codeartifact/latest/ug/create-s3-gateway-endpoint.html
    """
    prefix = {
        "ecr.api": "ecr",
        "ecr.dkr": "ecr",
        "codeartifact.api": "codeartifact",
        "codeartifact.repositories": "codeartifact",
        "git-codecommit": "codecommit",
    }.get(service, service)
    statements = [
        Statement(
            Sid="ThisAccountOnly",
            Effect=Allow,
            Principal=Principal("*"),
            Action=[Action(prefix, "*")]
            + ([Action("sts", "GetServiceBearerToken")] if prefix == "codeartifact" else []),
            Resource=["*"],
            Condition=Condition(StringEquals({"aws:PrincipalAccount": Sub("${AWS::AccountId}")})),
        )
    ]
    if service == "s3":
        buckets = []
        if "ecr.dkr" in services:
            buckets.append(Sub("arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"))
        if "codeartifact.repositories" in services:
            buckets.append(Sub("${CodeArtifactAssetsBucketArn}/*"))
        if buckets:
            statements.append(
                Statement(
                    Sid="AwsOwnedDownloadBuckets",
                    Effect=Allow,
                    Principal=Principal("*"),
                    Action=[Action("s3", "GetObject")],
                    Resource=buckets,
                )
            )
    return policy(*statements)


def _tags():
    from troposphere import Tags

    return Tags(**{"managed-by": "manifestc"})
