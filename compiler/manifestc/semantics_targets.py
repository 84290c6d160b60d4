"""Semantics of the deploy targets added with issue 11 item 8: `codedeploy` (EC2/on-premises
deployment groups), `lambda_layer`, `elasticbeanstalk`, `servicecatalog` and `image_copy` (README
"More deploy targets").

Called from `semantics.py` with its checker; kept apart so the family's rules sit together.
`target_fields` gives the Target fields of one raw target (per-target rules checked);
`check_more_targets` checks the rules that need the environments; `existing_resources` lists what
they deploy to and manifestc does not create (build.json, `manifestc deploy-plan`).
"""

from __future__ import annotations

import re
from typing import Any

from .model import Manifest
from .semantics_steps import _placeholders, check_environment_keys

Path = tuple

# The target types of this module, their own fields and the required ones (merged into
# semantics.TARGET_FIELDS / TARGET_REQUIRED: a field of another type is MC214).
MORE_TARGET_TYPES = {"codedeploy", "lambda_layer", "elasticbeanstalk", "servicecatalog", "image_copy"}
MORE_TARGET_FIELDS: dict[str, set[str]] = {
    "codedeploy": {"application", "deployment_group", "instance_roles"},
    "lambda_layer": {"layer", "artifact", "regions", "runtimes", "architectures"},
    "elasticbeanstalk": {"application", "beanstalk_environment"},
    "servicecatalog": {"product", "template", "version_prefix", "version_description"},
    "image_copy": {"image_repository", "regions"},
}
MORE_TARGET_REQUIRED: dict[str, tuple[str, ...]] = {
    "codedeploy": ("application", "deployment_group"),
    "lambda_layer": ("layer",),
    "elasticbeanstalk": ("application", "beanstalk_environment"),
    "servicecatalog": ("product", "template"),
    "image_copy": (),
}

# Service Catalog API Reference, CreateProvisioningArtifact: ProductId 1-100 of [a-zA-Z0-9_-]
_PRODUCT_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")

_ROLE_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}|\{account\}):role/")


def target_fields(check: Any, raw: dict[str, Any], index: int) -> dict[str, Any]:
    """The Target fields of a codedeploy, lambda_layer, elasticbeanstalk or servicecatalog target
    (empty for other types), with the rules of one target checked."""
    kind, path = raw["type"], ("targets", index)
    if kind == "codedeploy":
        roles = tuple(raw["instance_roles"] or ())
        for number, role in enumerate(roles):
            _placeholders(check, role, path + ("instance_roles", number), allowed={"environment", "name", "account"})
        return {"instance_roles": roles}
    if kind == "lambda_layer":
        return {
            "layer": raw["layer"],
            "regions": tuple(dict.fromkeys(raw["regions"] or ())),
            "runtimes": tuple(dict.fromkeys(raw["runtimes"] or ())),
            "architectures": tuple(dict.fromkeys(raw["architectures"] or ())),
        }
    if kind == "elasticbeanstalk":
        return {"beanstalk_environment": raw["beanstalk_environment"]}
    if kind == "image_copy":
        if check.doc["build"]["image_repository"] is None:
            check.error(
                "MC387",
                f"image_copy target `{raw['name']}` copies the build's promoted image: set `build.image_repository`",
                path,
                hint="build.image_repository: the ECR repository the build pushes its image to",
            )
        return {"regions": tuple(dict.fromkeys(raw["regions"] or ()))}
    if kind == "servicecatalog":
        for field in ("version_prefix", "version_description"):
            if raw[field]:
                _placeholders(check, raw[field], path + (field,), allowed={"environment", "region", "name"})
        return {
            "products": _products(check, raw, index),
            "version_prefix": raw["version_prefix"],
            "version_description": raw["version_description"],
        }
    return {}


def _products(check: Any, raw: dict[str, Any], index: int) -> tuple[tuple[str, str], ...]:
    """`product`: one product ID for every environment ("" key), or one per environment (MC383)."""
    given, path = raw["product"], ("targets", index, "product")
    if given is None:
        return ()  # MC207
    pairs = [("", given)] if isinstance(given, str) else [(str(k), v) for k, v in given.items()]
    out = []
    for environment, value in pairs:
        if not isinstance(value, str) or not _PRODUCT_ID.match(value):
            check.error(
                "MC383",
                f"`{value}` is not a Service Catalog product ID: it becomes the resource of the deploying role's "
                "servicecatalog grants",
                path + (environment,) if environment else path,
                hint="the product's ID (prod-abcdefghijklm), or a mapping from environment name to ID",
            )
            continue
        out.append((environment, value))
    if not pairs:
        check.error("MC383", "`product` names no product", path, hint="e.g. product: prod-abcdefghijklm")
    return tuple(sorted(out))


def check_more_targets(check: Any, m: Manifest) -> None:
    """Rules that need the environments: a codedeploy environment in another account names the
    instance roles that read the revision there (MC380), each in the environment's account (MC381)."""
    index = {t["name"]: i for i, t in enumerate(check.doc["targets"])}
    for target in m.targets:
        path: Path = ("targets", index[target.name])
        if target.type == "elasticbeanstalk":
            _check_beanstalk_accounts(check, m, target, path)
        if target.type == "servicecatalog":
            _check_products(check, m, target, path)
        if target.type == "image_copy":
            _check_image_copy(check, m, target, path)
        if target.type != "codedeploy":
            continue
        reported = False
        for env in m.environments:
            if target.name not in env.targets:
                continue
            if m.is_cross_account(env) and not target.instance_roles and not reported:
                reported = True
                check.error(
                    "MC380",
                    f"codedeploy target `{target.name}` deploys to environment `{env.name}` in account {env.account}: "
                    "its instances download the revision from the pipeline's artifact bucket in the tooling account, "
                    "which lets only the roles it names read it",
                    path,
                    hint="list the instances' roles: instance_roles: [arn:aws:iam::{account}:role/web-instance]",
                )
            account = m.env_account(env)
            for number, role in enumerate(target.instance_roles):
                literal = _ROLE_ACCOUNT.match(role).group(1)
                if literal != "{account}" and account is not None and literal != account:
                    check.error(
                        "MC381",
                        f"instance role `{role}` is in account {literal}, but environment `{env.name}` deploys to "
                        f"account {account}: a deployment group's instances are in its own account",
                        path + ("instance_roles", number),
                        hint="write the account as `{account}` so each environment grants its own account's role",
                    )


def _check_beanstalk_accounts(check: Any, m: Manifest, target: Any, path: Path) -> None:
    """Elastic Beanstalk deploys run as a role of the pipeline's account (MC382)."""
    for env in m.environments:
        if target.name in env.targets and m.is_cross_account(env):
            check.error(
                "MC382",
                f"elasticbeanstalk target `{target.name}` in environment `{env.name}` (account {env.account}) is not "
                "supported: its deploy role, with the broad grants Elastic Beanstalk needs, exists in the pipeline's "
                "account only",
                path,
                hint="keep Elastic Beanstalk environments in the pipeline's account, or deploy the other account with "
                "a `commands` target (`eb deploy` / `aws elasticbeanstalk update-environment` with a role you create "
                "there)",
            )
            return


def _check_products(check: Any, m: Manifest, target: Any, path: Path) -> None:
    """Per-environment products name exactly the deploying environments (MC384); the action runs
    in the pipeline's account (MC385). (In a `catalog` product, whose copies would all publish to
    one product, MC274 refuses it first: a product ID cannot be named after the copy.)"""
    deploying = [env for env in m.environments if target.name in env.targets]
    named = {env for env, _ in target.products if env}
    check_environment_keys(
        check, "MC384", target, deploying, sorted(named), path + ("product",), "product", "product", False
    )
    for env in deploying:
        if m.is_cross_account(env):
            check.error(
                "MC385",
                f"servicecatalog target `{target.name}` in environment `{env.name}` (account {env.account}) is not "
                "supported: products are published from the pipeline's account",
                path,
                hint="publish to a product of the pipeline's (hub) account and share its portfolio with the other "
                "accounts",
            )
            break


def _check_image_copy(check: Any, m: Manifest, target: Any, path: Path) -> None:
    """An environment copies the image somewhere other than where the build pushed it: the
    pipeline's own repository and region are left out (Manifest.target_regions); nothing left is
    MC388."""
    for env in m.environments:
        if target.name in env.targets and not m.target_regions(target, env):
            check.error(
                "MC388",
                f"environment `{env.name}` would copy the image onto itself: repository `{target.image_repository}` "
                "in the pipeline's account and region is where the build pushed it",
                path,
                hint="name another `image_repository`, copy to other `regions`, or deploy the target only in "
                "environments of other accounts",
            )
            return


def existing_resources(m: Manifest) -> list[dict]:
    """What the codedeploy, elasticbeanstalk, servicecatalog and image_copy targets deploy to and
    manifestc does not create: each environment's, with the AWS CLI call that shows it exists
    (`manifestc deploy-plan` lists them before the pipeline)."""
    found: dict[str, dict] = {}
    for env in m.environments:
        account = m.env_account(env)
        for name in env.targets:
            target = m.target(name)
            for region in m.target_regions(target, env):
                resolved = m.resolve_target(target, env, region)
                where = f" --region {region or m.region}" if (region or m.region) else ""
                if target.type == "codedeploy":
                    what = f"CodeDeploy deployment group {resolved.application}/{resolved.deployment_group}"
                    check = (
                        f"aws deploy get-deployment-group --application-name {resolved.application} "
                        f"--deployment-group-name {resolved.deployment_group}{where}"
                    )
                elif target.type == "elasticbeanstalk":
                    what = f"Elastic Beanstalk environment {resolved.application}/{resolved.beanstalk_environment}"
                    check = (
                        f"aws elasticbeanstalk describe-environments --application-name {resolved.application} "
                        f"--environment-names {resolved.beanstalk_environment}{where}"
                    )
                elif target.type == "servicecatalog":
                    what = f"Service Catalog product {target.product_for(env.name)}"
                    check = f"aws servicecatalog describe-product-as-admin --id {target.product_for(env.name)}{where}"
                elif target.type == "image_copy":
                    what = f"ECR repository {target.image_repository}"
                    check = f"aws ecr describe-repositories --repository-names {target.image_repository}{where}"
                else:
                    continue
                _add_existing(found, account, what, check, name, env.name)
            if target.type == "codedeploy" and m.is_cross_account(env):
                for role in target.instance_roles:
                    arn = m.render_step(role, env, None, env.account)
                    what = (
                        f"instance role {arn}, whose IAM policy allows s3:GetObject on the pipeline's artifact bucket "
                        "and kms:Decrypt on its key (tooling account)"
                    )
                    check = f"aws iam get-role --role-name {arn.rsplit('/', 1)[-1]}"
                    _add_existing(found, account, what, check, name, env.name)
    return [found[key] for key in sorted(found)]


def _add_existing(found: dict, account: str | None, what: str, check: str, target: str, environment: str) -> None:
    key = f"{account}|{check}"
    entry = found.setdefault(key, {"what": what, "account": account, "check": check, "targets": [], "environments": []})
    entry["targets"] = sorted(set(entry["targets"]) | {target})
    if environment not in entry["environments"]:
        entry["environments"].append(environment)
