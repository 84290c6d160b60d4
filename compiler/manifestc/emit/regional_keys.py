"""Emit side of regional_keys.py: the key ARN parameters of pipeline.yaml, the output of
support-<region>.yaml, and the values the self-update passes on."""

from __future__ import annotations

from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template

from ..model import Manifest
from ..regional_keys import OUTPUT, allowed_pattern, key_regions, parameter_name
from .context import Context


def add_key_parameters(ctx: Context) -> None:
    """One parameter per region in key_regions (none otherwise: the template is unchanged)."""
    for region in key_regions(ctx.manifest):
        ctx.template.add_parameter(
            Parameter(
                parameter_name(region),
                Type="String",
                AllowedPattern=allowed_pattern(region),
                Description=(
                    f"ARN of the artifact key in {region}: output {OUTPUT} of stack "
                    f"{ctx.manifest.name}-support-{region} (manifestc deploy-plan reads it)"
                ),
            )
        )


def regional_key_id(ctx: Context, region: str) -> Ref | Sub:
    """EncryptionKey.Id of the artifact store in `region`: the key ARN parameter where another
    account's actions use the key, else the alias ARN (enough inside the tooling account)."""
    if region in key_regions(ctx.manifest):
        return Ref(parameter_name(region))
    return ctx.regional_key_alias_arn(region)


def key_parameter_names(manifest: Manifest) -> list[str]:
    """The parameters the self-update passes on with their current values."""
    return [parameter_name(region) for region in key_regions(manifest)]


def add_key_output(template: Template, manifest: Manifest, region: str) -> None:
    """support-<region>.yaml: its key's ARN, which pipeline.yaml takes as a parameter."""
    if region in key_regions(manifest):
        template.add_output(
            Output(
                OUTPUT,
                Description=f"ARN of the artifact key: parameter {parameter_name(region)} of {manifest.name}'s pipeline stack",
                Value=GetAtt("ArtifactKey", "Arn"),
            )
        )
