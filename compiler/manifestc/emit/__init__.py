"""Emit phase: the model -> troposphere Templates, one module per resource family.

EMITTERS is the explicit, ordered registry of the pipeline template: storage first (everything
references the key and bucket), the self-update role last (it is derived from every other type).
Companion templates (bootstrap per target account, support per extra region) follow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from troposphere import Template

from ..model import Manifest
from .bootstrap import emit_bootstrap, emit_support
from .catalog import ProductTemplate, emit_catalog, emit_launch_role_template, emit_parameters
from .codebuild import emit_codebuild
from .codepipeline import emit_pipeline
from .context import PIPELINE_NAME_TOKEN, Context
from .ephemeral import emit_ephemeral
from .feature import emit_feature_rule, emit_pull_request_rule
from .glue import emit_glue
from .iam import emit_boundary
from .more_targets import emit_beanstalk_role
from .network import emit_build_network
from .notifications import emit_notifications
from .selfupdate import emit_self_update_role
from .storage import emit_storage

Emitter = Callable[[Context], None]

EMITTERS: tuple[Emitter, ...] = (
    emit_parameters,
    emit_boundary,
    emit_storage,
    emit_build_network,
    emit_codebuild,
    emit_pipeline,
    emit_feature_rule,
    emit_pull_request_rule,
    emit_ephemeral,
    emit_notifications,
    emit_beanstalk_role,  # after every topic it is denied (more_targets.py)
    emit_self_update_role,
)


def emit_templates(manifest: Manifest) -> dict[str, Template]:
    """All templates of one manifest, by output file name."""
    if manifest.catalog is not None:
        # a product: compiled under a stand-in name that rendering relocates to PipelineName
        ctx = Context(dataclasses.replace(manifest, name=PIPELINE_NAME_TOKEN), template=ProductTemplate(manifest.name))
    else:
        ctx = Context(manifest)
    ctx.describe()
    for emitter in EMITTERS:
        emitter(ctx)
    ctx.apply_tags()
    templates = {"pipeline.yaml": ctx.template}
    # the companion templates name the real pipeline (the product template only is per copy)
    ctx = Context(manifest, template=ctx.template)
    for account in manifest.extra_accounts:
        templates[f"bootstrap-{account}.yaml"] = emit_bootstrap(manifest, account)
    for region in manifest.extra_regions:
        templates[f"support-{region}.yaml"] = emit_support(manifest, region)
    if manifest.glue is not None:
        templates["glue.yaml"] = emit_glue(ctx)
    if manifest.catalog is not None:
        templates["catalog.yaml"] = emit_catalog(ctx)
        if manifest.catalog.share_with:
            templates["launch-role.yaml"] = emit_launch_role_template(ctx)
    return templates
