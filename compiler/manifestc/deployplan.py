"""The deploy plan: the AWS CLI commands, in order, that deploy what a build wrote.

Read from the output directory only (build.json and the templates), so it describes exactly the
files on disk. `manifestc deploy-plan` prints it; nothing here runs a command or prints.

Order: bootstrap stacks (each target account) -> support stacks (tooling account, each extra
region) -> shared network stacks -> pipeline stacks (or, for Service Catalog products, publishing
the product template) -> the catalog -> launch roles and portfolio shares in each shared account.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import aws, regional_keys
from .model import TOOLCHAIN_PREFIX

DEPLOY_BUCKET = "$DEPLOY_BUCKET"  # a bucket of the deploying account, in the stack's region
TEMPLATE_BUCKET = "$TEMPLATE_BUCKET"  # the Service Catalog product templates bucket


@dataclass(frozen=True)
class Step:
    """One command: what it does, where it runs, and the file it deploys (if any)."""

    title: str
    where: str  # "tooling account", "account 111111111111", ...
    command: str
    file: str | None = None
    stack: str | None = None


def _load(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def ecr_pull_policy(pull: dict) -> dict:
    """The repository policy that lets target accounts pull the pipeline's images.

    ECS tasks and image functions in another account pull with that account's principals:
    ecr:BatchGetImage, ecr:GetDownloadUrlForLayer, ecr:BatchCheckLayerAvailability (Amazon ECR User
    Guide, "Private repository policy examples": allow another account to pull). Lambda itself
    reads the image for a function of another account: the `lambda.amazonaws.com` principal,
    limited by aws:sourceARN to those functions (Lambda Developer Guide, "Create a Lambda function
    using a container image": cross-account permissions).
    """
    pull_actions = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    statements = [
        {
            "Sid": "ManifestcTargetAccountsPull",
            "Effect": "Allow",
            "Principal": {"AWS": list(pull["accounts"])},
            "Action": pull_actions,
        }
    ]
    if pull.get("functions"):
        statements.append(
            {
                "Sid": "ManifestcLambdaCrossAccountRetrieval",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Condition": {
                    "StringLike": {
                        "aws:sourceARN": [
                            f"arn:*:lambda:*:{f['account']}:function:{f['function']}" for f in pull["functions"]
                        ]
                    }
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _template(folder: Path, stem: str) -> Path | None:
    for suffix in (".yaml", ".json"):
        if (folder / f"{stem}{suffix}").exists():
            return folder / f"{stem}{suffix}"
    return None


def _capabilities(template: dict) -> list[str]:
    types = {r.get("Type", "") for r in template.get("Resources", {}).values()}
    return ["CAPABILITY_NAMED_IAM"] if any(t.startswith("AWS::IAM::") for t in types) else []


def _deploy(path: Path, stack: str, region: str | None, overrides: list[str] = ()) -> str:
    """`aws cloudformation deploy` for a template file; from S3 when it is too large to pass inline."""
    template = _load(path)
    parts = ["aws cloudformation deploy", f"--template-file {shlex.quote(path.as_posix())}", f"--stack-name {stack}"]
    if path.stat().st_size > aws.QUOTAS["template-body"].limit:
        parts.append(f'--s3-bucket "{DEPLOY_BUCKET}"')
    capabilities = _capabilities(template)
    if capabilities:
        parts.append("--capabilities " + " ".join(capabilities))
    if overrides:
        parts.append("--parameter-overrides " + " ".join(overrides))
    if region:
        parts.append(f"--region {region}")
    return " ".join(parts)


def pipelines(out_dir: Path, only: str | None = None) -> list[tuple[str, Path, dict]]:
    """(name, folder, build.json) of every pipeline a build wrote, by name."""
    found = []
    for record_path in sorted(out_dir.glob("*/build.json")):
        folder = record_path.parent
        if folder.name.startswith("_") or (only and folder.name != only):
            continue
        found.append((folder.name, folder, json.loads(record_path.read_text())))
    return found


def deploy_plan(target: str | Path) -> list[Step]:
    """The steps for `target`: an output directory (every pipeline in it, and out/_shared), or
    one pipeline's folder out/<name>."""
    path = Path(target)
    if (path / "build.json").exists():
        out_dir, only = path.parent, path.name
    else:
        out_dir, only = path, None
    built = pipelines(out_dir, only)
    steps: list[Step] = []
    shared = out_dir / "_shared"
    for name, _, record in built:
        deploy = record.get("deploy") or {}
        tooling = deploy.get("account") or "<tooling account>"
        for role in deploy.get("assumed_roles", []):
            role_name = role["role"].rsplit("/", 1)[-1]
            steps.append(
                Step(
                    f"check that role {role['role']} exists (you create it: commands target "
                    f"{', '.join(role['targets'])} of {name} assumes it) and that its trust policy lets "
                    f"arn:aws:iam::{tooling}:root assume it when aws:PrincipalArn is like "
                    f"arn:aws:iam::{tooling}:role/manifestc/{name}/*",
                    f"account {role['account'] or tooling}",
                    f"aws iam get-role --role-name {shlex.quote(role_name)} --query Role.AssumeRolePolicyDocument",
                )
            )
        for cdk in deploy.get("cdk_environments", []):
            account, where = cdk["account"] or tooling, cdk["region"] or "<region>"
            trust = f" --trust {tooling} --cloudformation-execution-policies <policy ARN>" if cdk["trust"] else ""
            steps.append(
                Step(
                    f"check the CDK bootstrap of aws://{account}/{where} (qualifier {cdk['qualifier']}) that cdk "
                    f"targets of {name} publish to and deploy in: version 6 or later"
                    + (f", trusting {tooling} (cdk bootstrap aws://{account}/{where}{trust})" if cdk["trust"] else ""),
                    f"account {account}",
                    f"aws ssm get-parameter --name /cdk-bootstrap/{cdk['qualifier']}/version --region {where} "
                    "--query Parameter.Value --output text",
                )
            )
        for resource in deploy.get("existing_resources", []):
            steps.append(
                Step(
                    f"check that {resource['what']} exists (you create it: target "
                    f"{', '.join(resource['targets'])} of {name} deploys to it in "
                    f"{', '.join(resource['environments'])})",
                    f"account {resource['account'] or tooling}",
                    resource["check"],
                )
            )
    for name, folder, record in built:
        region = (record.get("deploy") or {}).get("region")
        for template in sorted(folder.glob("bootstrap-*.*")):
            account = re.match(r"bootstrap-(\d{12})", template.name).group(1)
            stack = f"{name}-bootstrap"
            steps.append(
                Step(
                    f"bootstrap of {name}: its deploy and CloudFormation execution roles (IAM is global: once per account)",
                    f"account {account}",
                    _deploy(template, stack, region),
                    template.as_posix(),
                    stack,
                )
            )
    for name, _, record in built:
        deploy = record.get("deploy") or {}
        for pull in deploy.get("ecr_cross_account_pull", []):
            policy = json.dumps(ecr_pull_policy(pull), separators=(",", ":"))
            steps.append(
                Step(
                    f"let {', '.join(pull['accounts'])} pull {name}'s images from ECR repository {pull['repository']} "
                    "(this replaces the repository's policy: merge by hand if it has one)",
                    "tooling account",
                    f"aws ecr set-repository-policy --repository-name {pull['repository']} "
                    f"--policy-text {shlex.quote(policy)}"
                    + (f" --region {deploy['region']}" if deploy.get("region") else ""),
                )
            )
    for name, folder, _ in built:
        for template in sorted(folder.glob("support-*.*")):
            support_region = template.stem.removeprefix("support-")
            stack = f"{name}-support-{support_region}"
            steps.append(
                Step(
                    f"artifact store of {name} in {support_region} (cross-region actions)",
                    "tooling account",
                    _deploy(template, stack, support_region),
                    template.as_posix(),
                    stack,
                )
            )
    vpc_regions = {
        (record.get("network") or {}).get("vpc_id"): (record.get("deploy") or {}).get("region")
        for _, _, record in built
    }
    for template in sorted(shared.glob("network-*.*")):
        vpc = template.stem.removeprefix("network-")
        if only is not None and vpc not in vpc_regions:
            continue  # a VPC another pipeline builds in
        region = vpc_regions.get(vpc)
        where = region or "$AWS_REGION"
        prefix_list = (
            f"$(aws ec2 describe-managed-prefix-lists --region {where} --filters "
            f"Name=prefix-list-name,Values=com.amazonaws.{where}.s3 --query 'PrefixLists[0].PrefixListId' --output text)"
        )
        stack = f"manifestc-network-{vpc}"
        steps.append(
            Step(
                f"VPC endpoints of {vpc}, shared by every pipeline building in it (redeploy after a build changes it)",
                "tooling account",
                _deploy(template, stack, region, [f'S3PrefixListId="{prefix_list}"']),
                template.as_posix(),
                stack,
            )
        )
    products = []
    for name, folder, record in built:
        region = (record.get("deploy") or {}).get("region")
        template = _template(folder, "pipeline")
        if template is None:
            continue
        if record.get("catalog"):
            products.append((name, folder, record))
            manifest = record["manifest"]["file"]
            steps.append(
                Step(
                    f"publish the product template of {name} (run beside its manifest; Service Catalog "
                    "provisions it, it is not deployed directly)",
                    "tooling account",
                    f'manifestc publish {shlex.quote(manifest)} --bucket "{TEMPLATE_BUCKET}"'
                    + (f" --region {region}" if region else ""),
                    template.as_posix(),
                )
            )
            continue
        stack = f"{name}-pipeline"
        data = _load(template)
        updates_itself = "UpdateProject" in data.get("Resources", {})
        later = (
            "later changes deploy themselves through its UpdatePipeline stage"
            if updates_itself
            else "regenerate: false: after a manifest change, build again and rerun this command"
        )
        steps.append(
            Step(
                f"the pipeline {name} ({later})",
                "tooling account",
                _deploy(template, stack, region, _regional_key_overrides(name, data)),
                template.as_posix(),
                stack,
            )
        )
        steps += _toolchain_steps(name, stack, data, region)
    steps += _catalog_steps(shared, products, only)
    if only is None:
        steps += _factory_steps(shared)
    return steps


def _regional_key_overrides(name: str, template: dict) -> list[str]:
    """The key ARN parameters of pipeline.yaml (regional_keys.py), each read from the output of
    the support stack deployed before it in that region."""
    parameters = template.get("Parameters") or {}
    overrides = []
    for region in sorted(_support_regions(template)):
        parameter = regional_keys.parameter_name(region)
        if parameter not in parameters:
            continue
        query = f"Stacks[0].Outputs[?OutputKey=='{regional_keys.OUTPUT}'].OutputValue"
        overrides.append(
            f'{parameter}="$(aws cloudformation describe-stacks --stack-name {name}-support-{region} '
            f'--region {region} --query "{query}" --output text)"'
        )
    return overrides


def _support_regions(template: dict) -> set[str]:
    """The regions of the pipeline's artifact stores other than its own."""
    pipeline = (template.get("Resources") or {}).get("Pipeline") or {}
    stores = (pipeline.get("Properties") or {}).get("ArtifactStores") or []
    return {store.get("Region") for store in stores if isinstance(store, dict) and store.get("Region")}


FACTORY_BUCKET = "$FACTORY_BUCKET"  # the factory's bucket: toolchain and templates (README "Factory")


def _factory_steps(shared: Path) -> list[Step]:
    """The factory stack `manifestc factory` wrote: its toolchain first, then the stack."""
    template = _template(shared, "factory")
    if template is None:
        return []
    version = (_load(template).get("Metadata") or {}).get("manifestc", {}).get("version", "<version>")
    return [
        Step(
            f"the manifestc {version} toolchain the factory build installs (run with manifestc {version} installed)",
            "tooling account",
            f'manifestc wheelhouse toolchain/ && aws s3 sync --delete toolchain/ "s3://{FACTORY_BUCKET}/'
            f'{TOOLCHAIN_PREFIX}{version}/"',
        ),
        Step(
            "the factory: commits of the watched repositories become pipelines (confirm the email subscription)",
            "tooling account",
            f"aws cloudformation deploy --template-file {shlex.quote(template.as_posix())} --stack-name "
            f'manifestc-factory --s3-bucket "{FACTORY_BUCKET}" --s3-prefix _manifestc/factory-stack '
            f'--capabilities CAPABILITY_NAMED_IAM --parameter-overrides FactoryBucket="{FACTORY_BUCKET}"',
            template.as_posix(),
            "manifestc-factory",
        ),
    ]


def toolchain_installs(template: dict) -> dict[str, list[str]]:
    """version -> logical ids of the CodeBuild projects that install the manifestc toolchain of
    that version from the pipeline's own artifact bucket (emit/codebuild.py `_update_job`:
    UpdateProject, or GlueTemplateProject of a Glue pipeline with regenerate: false)."""
    found: dict[str, list[str]] = {}
    for logical_id, resource in sorted(template.get("Resources", {}).items()):
        if resource.get("Type") != "AWS::CodeBuild::Project":
            continue
        env = {
            v.get("Name"): v.get("Value")
            for v in resource.get("Properties", {}).get("Environment", {}).get("EnvironmentVariables", [])
        }
        url, install = env.get("MANIFESTC_TOOLCHAIN_URL"), env.get("MANIFESTC_TOOLCHAIN")
        if isinstance(url, dict) and "${ArtifactBucket}" in str(url.get("Fn::Sub", "")) and isinstance(install, str):
            found.setdefault(install.partition("==")[2], []).append(logical_id)
    return found


def _listed(names: list[str]) -> str:
    """A, A and B, A, B and C."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _toolchain_steps(name: str, stack: str, template: dict, region: str | None) -> list[Step]:
    """Upload the wheelhouse the pipeline's builds install, once its artifact bucket exists."""
    on_region = f" --region {region}" if region else ""
    steps = []
    for version, projects in toolchain_installs(template).items():
        steps.append(
            Step(
                f"the manifestc {version} toolchain that {_listed(projects)} of {name} "
                f"install{'s' if len(projects) == 1 else ''} from its artifact "
                f"bucket (run with manifestc {version} installed; the bucket exists once the stack does, so if the "
                "first execution already failed for want of it, release a change again)",
                "tooling account",
                f"BUCKET=$(aws cloudformation describe-stack-resource --stack-name {stack} "
                "--logical-resource-id ArtifactBucket --query StackResourceDetail.PhysicalResourceId "
                f"--output text{on_region}) && manifestc wheelhouse toolchain/ && "
                f'aws s3 sync --delete toolchain/ "s3://$BUCKET/{TOOLCHAIN_PREFIX}{version}/"{on_region}',
            )
        )
    return steps


def _share_accounts(template: dict) -> list[tuple[str, str]]:
    """(portfolio logical id, account) of every portfolio share in a catalog template."""
    shares = []
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::ServiceCatalog::PortfolioShare":
            props = resource["Properties"]
            shares.append((props["PortfolioId"]["Ref"], props["AccountId"]))
    return sorted(shares)


def _catalog_steps(shared: Path, products: list, only: str | None) -> list[Step]:
    """Deploy the catalog (the shared one of a directory build, else each product's), then in
    each shared account the launch role and the acceptance of the portfolio share."""
    if not products:
        return []
    steps = []
    shared_catalog = _template(shared, "catalog") if only is None else None
    catalogs = (
        [(shared_catalog, "manifestc-catalog")]
        if shared_catalog
        else [(_template(folder, "catalog"), f"{name}-catalog") for name, folder, _ in products]
    )
    region = next(((r.get("deploy") or {}).get("region") for _, _, r in products), None)
    on_region = f" --region {region}" if region else ""
    deployed = []
    for template, stack in catalogs:
        if template is None:
            continue
        data = _load(template)
        overrides = []
        if not data.get("Parameters", {}).get("TemplateBucket", {}).get("Default"):
            overrides.append(f'TemplateBucket="{TEMPLATE_BUCKET}"')
        steps.append(
            Step(
                "the Service Catalog portfolio(s), products and launch constraints",
                "tooling account",
                _deploy(template, stack, region, overrides),
                template.as_posix(),
                stack,
            )
        )
        deployed.append((stack, data))
    for name, folder, _ in products:
        launch = _template(folder, "launch-role")
        own = _template(folder, "catalog")
        if launch is None or own is None:
            continue
        for account in sorted({a for _, a in _share_accounts(_load(own))}):
            stack = f"{name}-launch-role"
            steps.append(
                Step(
                    f"the launch role of {name}'s product (launch constraints name it in the provisioning account)",
                    f"account {account}",
                    _deploy(launch, stack, region, [f'TemplateBucket="{TEMPLATE_BUCKET}"']),
                    launch.as_posix(),
                    stack,
                )
            )
    for stack, data in deployed:
        looked_up = None
        for portfolio, account in _share_accounts(data):
            if portfolio != looked_up:
                looked_up = portfolio
                steps.append(
                    Step(
                        f"the id of portfolio {portfolio}, for accepting its shares",
                        "tooling account",
                        f"PORTFOLIO_ID=$(aws cloudformation describe-stack-resource --stack-name {stack} "
                        f"--logical-resource-id {portfolio} --query StackResourceDetail.PhysicalResourceId "
                        f"--output text{on_region})",
                    )
                )
            steps.append(
                Step(
                    f"accept the share of portfolio {portfolio}",
                    f"account {account}",
                    f'aws servicecatalog accept-portfolio-share --portfolio-id "$PORTFOLIO_ID"{on_region}',
                )
            )
    return steps


def render_plan(steps: list[Step]) -> str:
    """The plan as a commented shell script."""
    lines = [
        "# Deploy what manifestc built, in this order. Each command runs with credentials of the account",
        "# named above it. $DEPLOY_BUCKET: an S3 bucket you can write in that region (templates over",
        "# 51,200 bytes are deployed from S3); $TEMPLATE_BUCKET: the Service Catalog templates bucket;",
        "# $FACTORY_BUCKET: the factory's bucket (toolchain and templates; see the README's Factory section).",
    ]
    for number, step in enumerate(steps, 1):
        lines += ["", f"# {number}. {step.title} [{step.where}]", step.command]
    return "\n".join(lines) + "\n"
