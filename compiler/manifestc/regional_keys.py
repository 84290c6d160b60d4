"""The artifact keys of the other regions, named by key ARN where another account uses them.

A pipeline with an environment in another region keeps that region's artifacts in the bucket and
KMS key of support-<region>.yaml (tooling account). pipeline.yaml cannot reach that stack (no
cross-region references), and names the key by its alias ARN, which is deterministic. That works
only inside the tooling account: CodePipeline's `EncryptionKey.Id` says "Aliases are recognized
only in the account that created the AWS KMS key. For cross-account actions, you can only use the
key ID or key ARN to identify the key" (AWS::CodePipeline::Pipeline EncryptionKey, CloudFormation
Template Reference; the same note in the CodePipeline API Reference, EncryptionKey).

So for each extra region an environment of another account deploys to (`key_regions`):

- support-<region>.yaml outputs its key's ARN (`OUTPUT`);
- pipeline.yaml takes it as a parameter (`parameter_name`) and names the key by it;
- `manifestc deploy-plan` reads the output and passes the parameter;
- the self-update (UpdatePipelineStack) passes the parameter's current value on, in its
  ParameterOverrides, like a Service Catalog product's parameters: a parameter given no value
  takes the template's default ("If you don't specify a key and value for a particular parameter,
  CloudFormation uses the default value that's specified in your template", CloudFormation API
  Reference, Parameter), and these have none, on purpose (a guessed ARN would be wrong);
- the Recompile project records these regions (`VARIABLE`, only when there are any), and
  `manifestc recompile` refuses a commit that changes them: the deployed pipeline's update
  action passes exactly the deployed parameters, so a new or removed one is deployed by hand.

Every other pipeline (one region, or every environment of another region in the tooling account)
is emitted as before.
"""

from __future__ import annotations

from .model import Manifest

OUTPUT = "ArtifactKeyArn"  # the output of support-<region>.yaml
VARIABLE = "MANIFESTC_DEPLOYED_REGIONAL_KEYS"  # on the Recompile project, when key_regions is not empty


def key_regions(manifest: Manifest) -> tuple[str, ...]:
    """The extra regions (not the pipeline's) that an environment of another account deploys to."""
    return tuple(
        sorted(
            {
                region
                for env in manifest.environments
                if manifest.is_cross_account(env)
                for region in env.regions
                if region in manifest.extra_regions
            }
        )
    )


def parameter_name(region: str) -> str:
    """`us-west-2` -> `ArtifactKeyArnUsWest2`: the pipeline stack's parameter for that region's key."""
    return OUTPUT + "".join(word.capitalize() for word in region.split("-"))


def allowed_pattern(region: str) -> str:
    """A KMS key ARN in `region` (any partition; single- or multi-Region key id)."""
    return rf"^arn:aws[a-z-]*:kms:{region}:[0-9]{{12}}:key/(mrk-)?[0-9a-f-]+$"


def variable_value(manifest: Manifest) -> str | None:
    """The Recompile project's record of `key_regions`; None when there are none (no variable)."""
    regions = key_regions(manifest)
    return ",".join(regions) if regions else None


def parse_variable(value: str | None) -> tuple[str, ...]:
    """The deployed record read back: no variable means no keyed region (pipelines from before
    this record, or without one, pass no key parameter)."""
    return tuple(sorted({r.strip() for r in (value or "").split(",") if r.strip()}))
