"""Model: frozen, typed records of a validated manifest with every default and preset applied.

Built by `semantics.build_model`; emitters read only these records, never raw YAML.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .aws import GLUE_WRITE_PARAMETERS

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FeatureBranches:
    patterns: tuple[str, ...]
    tests: tuple[str, ...]  # suite names
    deploy_to: str | None = None  # environment whose cloudformation targets each branch deploys (previews)
    teardown: str | None = None  # branch-deleted | pull-request-closed (resolved per provider)
    targets: tuple[str, ...] = ()  # the preview targets (semantics_ephemeral derives them)


@dataclass(frozen=True)
class PullRequests:
    tests: tuple[str, ...]  # suite names
    approval: str = "forks"  # forks | all | none: which pull requests wait for a maintainer's comment


@dataclass(frozen=True)
class Source:
    provider: str  # codecommit | codestar | s3
    repository: str  # repo name | owner/repo | bucket/key
    branch: str
    connection_arn: str | None = None
    host: str = "github"
    paths: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    feature_branches: FeatureBranches | None = None
    trigger: str = "push"  # push | manual
    schedule: str | None = None  # EventBridge schedule expression
    branches: tuple[str, ...] = ()  # codestar: branch globs of the push trigger (default: branch)
    exclude_branches: tuple[str, ...] = ()
    pull_requests: PullRequests | None = None
    exclude_paths: tuple[str, ...] = ()  # codestar: file path globs excluded from the push trigger

    @property
    def bucket(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def key(self) -> str:
        return self.repository.split("/", 1)[1]


@dataclass(frozen=True)
class Variable:
    """A pipeline-level variable (V2 `Variables`), given to builds and tests as an environment variable."""

    name: str
    default: str
    description: str | None = None


@dataclass(frozen=True)
class Secret:
    """A secret reference; `value` is what CodeBuild's environment variable carries."""

    variable: str
    store: str  # "secretsmanager" | "ssm"
    name: str  # secret name, or parameter path with its leading slash
    value: str


@dataclass(frozen=True)
class Grant:
    """One declared IAM statement (`permissions.statements[]`), as written (ARNs with their partition)."""

    effect: str  # Allow | Deny
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Permissions:
    """Declared IAM grants of one project's role (`build.permissions`, `tests[].permissions`)."""

    managed_policies: tuple[str, ...] = ()
    statements: tuple[Grant, ...] = ()
    allow_broad: str | None = None  # the reason given for the broad grants
    broad: tuple[str, ...] = ()  # what is broad, in words (accepted only with allow_broad)

    def fingerprints(self) -> tuple[str, ...]:
        """A short digest per grant (managed policy or statement), sorted: what the deployed
        pipeline records so Recompile can tell a commit that adds or changes a grant."""
        items = [json.dumps(["policy", arn]) for arn in self.managed_policies]
        items += [json.dumps(["statement", g.effect, sorted(g.actions), sorted(g.resources)]) for g in self.statements]
        return tuple(sorted({hashlib.sha256(i.encode()).hexdigest()[:12] for i in items}))


@dataclass(frozen=True)
class CodeArtifact:
    domain: str
    repository: str
    owner: str | None  # None: the pipeline's account
    tool: str | None  # `aws codeartifact login --tool` value, None: token in CODEARTIFACT_AUTH_TOKEN
    pypi_repository: str | None = None  # where pip logs in when `repository` is not the Python one

    @property
    def pip_repository(self) -> str | None:
        """The repository pip logs in to: `repository` in a Python build (its login is `--tool pip`),
        else `pypi_repository`, else none (pip stays on public PyPI). A repository has at most one
        external connection (CodeArtifact API Reference, AssociateExternalConnection: "One external
        connection is allowed per repository"), so an npm, Maven or NuGet store does not serve PyPI."""
        return self.repository if self.tool == "pip" else self.pypi_repository


@dataclass(frozen=True)
class BatchBuild:
    """One build of a heterogeneous batch (build.batch): buildspec `build-list`/`build-graph` entry."""

    name: str  # identifier
    image: str
    environment_type: str
    compute_type: str
    buildspec: str | None = None
    env: Pairs = ()
    depends_on: tuple[str, ...] = ()
    ignore_failure: bool = False


@dataclass(frozen=True)
class Build:
    compute: str
    arch: str
    environment_type: str
    compute_type: str
    image: str
    runtime_key: str | None
    runtime: str | None
    install: tuple[str, ...]
    pre_build: tuple[str, ...]
    commands: tuple[str, ...]
    post_build: tuple[str, ...]
    env: Pairs
    secrets: tuple[Secret, ...]
    artifact_files: tuple[str, ...]
    base_directory: str | None
    cache: str
    cache_paths: tuple[str, ...]
    privileged: bool
    timeout: int
    matrix: tuple[tuple[str, tuple[str, ...]], ...] = ()
    codeartifact: CodeArtifact | None = None
    image_repository: str | None = None  # ECR repository the build pushes an image to
    secrets_kms_key: str | None = None  # customer-managed key of the secrets (None: AWS managed keys)
    permissions: Permissions | None = None  # declared IAM grants of the build project's role
    buildspec: str | None = None  # a buildspec file of the repository, used instead of the phases
    exports: tuple[str, ...] = ()  # exported variables: #{build.NAME} in later actions
    # report groups of the build's own commands (semantics_shapes.py)
    reports: tuple[str, ...] = ()
    report_format: str | None = None
    coverage: str | None = None
    coverage_format: str | None = None
    os: str = "linux"  # linux | windows-2019 | windows-2022
    fleet: str | None = None  # reserved-capacity fleet ARN the build and its suites run on
    # Windows builds: the preset's Linux image, runtime and size their quality gates run on
    gate_platform: tuple[str, str, str, str | None, str | None] | None = None

    # further output artifacts: (name, files, base_directory); files empty with a buildspec file
    secondary_artifacts: tuple[tuple[str, tuple[str, ...], str | None], ...] = ()
    batch: tuple[BatchBuild, ...] = ()  # heterogeneous batch builds (semantics_shapes.py)
    directory: str | None = None  # the service's directory in the repository (monorepo): jobs run there

    @property
    def windows(self) -> bool:
        return self.os != "linux"


@dataclass(frozen=True)
class SuitePlatform:
    """A test suite's own image and size (tests[].image/compute/arch; semantics_shapes.py)."""

    image: str
    environment_type: str
    compute_type: str
    runtime_key: str | None  # runtime-versions only on a curated image that ships the runtime
    runtime: str | None
    windows: bool
    install: tuple[str, ...] | None = None  # None: the build's install phase; else the preset's (other OS)


@dataclass(frozen=True)
class TestSuite:
    name: str
    commands: tuple[str, ...]
    reports: tuple[str, ...]
    report_format: str
    coverage: str | None
    coverage_format: str | None
    after: str  # "build" or an environment name
    permissions: Permissions | None = None  # declared IAM grants of the suite project's role
    buildspec: str | None = None  # a buildspec file of the repository, used instead of `commands`
    env: Pairs = ()  # action variables; may reference #{namespace.NAME}
    platform: SuitePlatform | None = None  # its own image and size (tests[].image); None: the build's
    ephemeral_stack: str | None = None  # a cloudformation target deployed, tested against and deleted


@dataclass(frozen=True)
class Target:
    name: str
    type: str
    template: str
    stack: str  # with placeholders
    parameters: Pairs  # with placeholders
    change_set: bool
    capabilities: tuple[str, ...]
    execution_role: str | None
    execution_policies: tuple[str, ...]
    cluster: str | None = None
    service: str | None = None
    container: str | None = None
    image_repository: str | None = None
    function: str | None = None
    package: str | None = None  # lambda: zip | image; cloudformation: "template" (package: true)
    artifact: str | None = None
    bucket: str | None = None
    extract: bool = True
    prefix: str | None = None
    cache_control: str | None = None  # s3: Cache-Control of the deployed objects
    kms_key: str | None = None  # s3: customer-managed key of the bucket's default encryption (SSE-KMS)
    delete_stale: bool = False  # s3: `aws s3 sync --delete` in a CodeBuild job instead of the S3 deploy action
    # s3: CloudFront distribution invalidated after the deploy, per environment ("" key: every environment)
    distributions: Pairs = ()
    invalidation_paths: tuple[str, ...] = ()
    state_machine: str | None = None  # stepfunctions: name, with placeholders
    input: str | None = None  # stepfunctions: the execution input as JSON text (InputType Literal)
    input_file: str | None = None  # stepfunctions: a JSON file of the build artifact (InputType FilePath)
    execution_name_prefix: str | None = None  # stepfunctions
    user_parameters: str | None = None  # lambda_invoke: UserParameters text
    deploy: str = "rolling"  # ecs: rolling | blue_green
    application: str | None = None  # ecs blue_green: CodeDeploy application
    deployment_group: str | None = None  # ecs blue_green: CodeDeploy deployment group
    task_definition: str | None = None  # ecs blue_green: taskdef template in the build artifact
    appspec: str | None = None  # ecs blue_green: AppSpec file in the build artifact
    # commands targets: a CodeBuild job per environment running `commands` with a declared role
    commands: tuple[str, ...] = ()
    image: str | None = None  # None: the build's image
    compute: str | None = None  # None: the build's size
    env: Pairs = ()  # with placeholders
    role: str | None = None  # an existing role of the environment's account; {account} placeholder
    permissions: Permissions | None = None  # or: a minimal role with these grants
    broad_permissions: bool = False  # opt-in for administrator roles and `*` grants
    exports: tuple[str, ...] = ()  # commands: exported variables (#{<target>.NAME})
    template_configuration: str | None = None  # stack targets: configuration file in the artifact
    build_artifact: str | None = None  # a build.secondary_artifacts name; None: the primary artifact
    # cdk targets: stack ids of the cloud assembly (the build artifact), with placeholders
    stacks: tuple[str, ...] = ()
    qualifier: str = "hnb659fds"  # cdk: the bootstrap qualifier of the environments
    image_assets: bool = False  # cdk: the app has Docker image assets (privileged publishing job)
    # codedeploy: roles of the instances that download the revision ({account} placeholder)
    instance_roles: tuple[str, ...] = ()
    # servicecatalog: product ID per environment ("" key: every environment), version name prefix, description
    products: Pairs = ()
    version_prefix: str | None = None
    version_description: str | None = None
    beanstalk_environment: str | None = None  # elasticbeanstalk: environment name, with placeholders
    layer: str | None = None  # lambda_layer: layer name, with placeholders
    regions: tuple[str, ...] = ()  # lambda_layer: regions published to (empty: the environment's)
    runtimes: tuple[str, ...] = ()  # lambda_layer: CompatibleRuntimes
    architectures: tuple[str, ...] = ()  # lambda_layer: CompatibleArchitectures
    after: tuple[str, ...] = ()  # targets whose deploys run before this one's (order.py)

    @property
    def invokes(self) -> bool:
        """stepfunctions and lambda_invoke targets: CodePipeline invoke actions, run after the
        environment's deploys."""
        return self.type in ("stepfunctions", "lambda_invoke")

    @property
    def deploys_stack(self) -> bool:
        """cloudformation targets, and lambda targets packaged from a SAM/CloudFormation template."""
        return self.type == "cloudformation" or (self.type == "lambda" and bool(self.template))

    @property
    def packaged(self) -> bool:
        """Targets whose template the build runs through `aws cloudformation package`: lambda
        template targets, and cloudformation targets with `package: true` (package "template")."""
        return (self.type == "lambda" and bool(self.template)) or (
            self.type == "cloudformation" and self.package == "template"
        )

    @property
    def packaged_template(self) -> str:
        """What `aws cloudformation package` writes for a packaged target."""
        return f"packaged-{self.name}.yaml"

    def packaged_template_in(self, region: str | None) -> str:
        """The packaged template for a region other than the pipeline's: its code is uploaded to
        that region's artifact store, because Lambda reads code only from a bucket in the
        function's region."""
        return f"packaged-{self.name}-{region}.yaml" if region else self.packaged_template

    def product_for(self, environment: str) -> str | None:
        """The Service Catalog product `environment` publishes this servicecatalog target to."""
        mapping = dict(self.products)
        return mapping.get(environment, mapping.get(""))

    def distribution_for(self, environment: str) -> str | None:
        """The CloudFront distribution `environment` invalidates after deploying this s3 target."""
        mapping = dict(self.distributions)
        return mapping.get(environment, mapping.get(""))

    @property
    def s3_deploy_job(self) -> bool:
        """An s3 target whose deploy needs a CodeBuild job (sync with deletion, or an invalidation)."""
        return self.type == "s3" and (self.delete_stale or bool(self.distributions))

    @property
    def uses_image(self) -> bool:
        return self.type == "ecs" or (self.type == "lambda" and self.package == "image")


@dataclass(frozen=True)
class Approval:
    approvers: tuple[str, ...] = ()
    notify: str | None = None  # None: the pipeline's approval topic
    timeout_minutes: int | None = None
    notify_emails: tuple[str, ...] = ()  # email subscriptions of the approval topic


@dataclass(frozen=True)
class Environment:
    name: str
    regions: tuple[str | None, ...]  # None: the pipeline's own region
    approval: Approval | None
    targets: tuple[str, ...]
    account: str | None = None  # None: the pipeline's own account
    secrets: tuple[Secret, ...] = ()  # given only to the actions running in this environment


@dataclass(frozen=True)
class GateTool:
    """A pinned quality-gate tool (schemas/quality.yaml `tools`)."""

    name: str
    version: str | None
    source: str  # pypi | npm | maven | go | image | preinstalled
    package: str | None
    reaches: tuple[str, ...]  # hosts it calls at run time beyond its package registry

    @property
    def install(self) -> tuple[str, ...]:
        """The install command: through the logged-in CodeArtifact repository when there is one."""
        if self.source == "pypi":
            return (f"python3 -m pip install --quiet {self.package}=={self.version}",)
        if self.source == "npm":
            # global: the gate's own `npm ci` empties node_modules before it runs (npm docs, npm ci)
            return (f"npm install --global {self.package}@{self.version}",)
        if self.source == "go":
            return (f"go install {self.package}@v{self.version}",)
        return ()  # maven plugins resolve in the gate command; images are pulled by `docker run`


@dataclass(frozen=True)
class QualityGate:
    name: str
    commands: tuple[str, ...]
    tool: GateTool | None = None
    secret: str | None = None  # a build.secrets variable the gate requires (and receives)


@dataclass(frozen=True)
class Endpoint:
    """A VPC endpoint the builds need, and why (shown by `manifestc endpoints` and in build.json)."""

    service: str
    kind: str  # Interface | Gateway
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class EgressRule:
    """An extra TCP egress rule of the created build security group (network.egress)."""

    port: int
    to_port: int
    cidr: str | None
    prefix_list: str | None
    description: str

    @property
    def internet_https(self) -> bool:
        return self.cidr == "0.0.0.0/0" and self.port <= 443 <= self.to_port


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    route_tables: tuple[str, ...]
    mode: str  # auto | none | list
    endpoints: tuple[Endpoint, ...]  # what the stack gets: derived (auto) or as listed
    egress: tuple[EgressRule, ...] = ()

    @property
    def internet(self) -> str:
        """Whether builds reach public hosts: `nat` (HTTPS anywhere, through the subnets' NAT),
        `unknown` (the user's own security groups), or `none` (endpoints and listed egress only)."""
        if self.security_groups:
            return "unknown"
        if self.mode == "none" or any(rule.internet_https for rule in self.egress):
            return "nat"
        return "none"


# Patterns of the values Service Catalog provisioners give (the product template's parameters'
# AllowedPattern). CloudFormation matches an AllowedPattern against the whole value with Java
# regex semantics (AWS CloudFormation User Guide, "Parameters": AllowedPattern), so each is
# written anchored and in the common subset of Java and Python regex (no \w, which is Unicode in
# Python). None admits a quote, backslash, brace, `$`, `#`, control character or newline: a value
# is placed in Fn::Sub strings, JSON (ParameterOverrides, event patterns) and ARNs, and can never
# break out of them or reference a CloudFormation (`${}`) or CodePipeline (`#{}`) variable.
CATALOG_PARAMETER_PATTERNS: dict[str, str] = {
    "repository:codecommit": r"^[A-Za-z0-9_.-]{1,100}$",
    "repository:codestar": r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$",
    "branch": r"^[A-Za-z0-9_.+@-]+(/[A-Za-z0-9_.+@-]+)*$",
    "team": r"^[A-Za-z0-9][A-Za-z0-9 _.:/=+@-]*$",
    "connection_arn": (
        r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:[0-9]{12}:connection/[A-Za-z0-9-]+$"
    ),
}


def catalog_parameter_pattern(field: str, provider: str) -> str:
    """The AllowedPattern of a provisioner-set field (the repository's depends on the source)."""
    return CATALOG_PARAMETER_PATTERNS.get(field) or CATALOG_PARAMETER_PATTERNS[f"{field}:{provider}"]


def pipeline_name_pattern(name: str) -> str:
    """AllowedPattern of a product's PipelineName: the manifest's name, or it with a suffix, so
    every copy's resource names share the prefix a launch role can be scoped to."""
    return f"^{name}(-[a-z0-9]+)*$"


@dataclass(frozen=True)
class Catalog:
    portfolio: str
    provider: str
    product: str
    version: str
    keep_versions: tuple[str, ...]
    description: str
    principals: tuple[str, ...]
    share_with: tuple[str, ...]
    parameters: tuple[str, ...]  # manifest fields turned into template parameters
    bucket: str | None
    prefix: str

    def template_key(self, version: str | None = None) -> str:
        """Versioned, deterministic S3 key of the product template (immutable once published)."""
        product = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.product)
        return f"{self.prefix.strip('/')}/{product}/{version or self.version}/pipeline.yaml"


@dataclass(frozen=True)
class GlueJob:
    name: str
    script: str
    type: str  # spark | pythonshell | streaming | ray
    command: str  # glueetl | pythonshell | gluestreaming | glueray
    glue_version: str
    worker_type: str | None
    workers: int | None
    after: tuple[str, ...]
    arguments: Pairs
    timeout: int
    retries: int
    outputs: tuple[str, ...] = ()  # argument names whose s3:// paths the job writes
    connections: tuple[str, ...] = ()  # glue.connections names the job runs with (README "Glue connections")
    dependencies: tuple[str, ...] = ()  # build-artifact files uploaded with the scripts
    # (environment, arguments) pairs: values an environment uses instead of `arguments`
    environment_arguments: tuple[tuple[str, Pairs], ...] = ()

    def arguments_in(self, environment: str) -> Pairs:
        """The job's arguments as `environment` runs them (its `environments[].glue.arguments`)."""
        overrides = dict(self.environment_arguments).get(environment, ())
        return tuple(sorted({**dict(self.arguments), **dict(overrides)}.items()))

    def s3_paths_in(self, environment: str, *, write: bool) -> tuple[str, ...]:
        """`s3_paths` of the arguments `environment` runs the job with."""
        return dataclasses.replace(self, arguments=self.arguments_in(environment)).s3_paths(write=write)

    def s3_paths(self, *, write: bool) -> tuple[str, ...]:
        """The s3:// locations of the job's arguments it writes (write=True) or only reads.

        Glue's own write parameters (`--TempDir`, ...) and the arguments listed in `outputs` are
        written; every other s3:// location (`--extra-py-files`, data inputs) is only read.
        Comma-separated values (`--extra-py-files a,b`) give one location each.
        """
        found = []
        for name, value in self.arguments:
            writes = name in GLUE_WRITE_PARAMETERS or name in self.outputs
            if writes == write:
                found += [part.strip() for part in value.split(",") if part.strip().startswith("s3://")]
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class GlueCrawler:
    name: str
    s3: tuple[str, ...]
    after: tuple[str, ...]
    database: str | None = None  # one of glue.databases as written there; None: glue.database


@dataclass(frozen=True)
class GlueConnection:
    """A Glue connection the jobs run with: their network interfaces in a VPC subnet (NETWORK),
    plus a database URL and credentials secret (JDBC). `by_environment` holds what an environment
    sets differently (`environments[].glue.connections`), as (environment, ((field, value), ...))."""

    name: str
    type: str  # NETWORK | JDBC
    subnet: str | None
    security_groups: tuple[str, ...]
    availability_zone: str | None
    jdbc_url: str | None = None
    secret: str | None = None
    secret_key: str | None = None
    by_environment: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def value_in(self, field: str, environment: str) -> Any:
        """`field` as `environment` deploys it."""
        return dict(dict(self.by_environment).get(environment, ())).get(field, getattr(self, field))


@dataclass(frozen=True)
class Glue:
    workflow: str
    schedule: str | None
    database: str
    scripts_bucket: str | None
    smoke_test: bool
    jobs: tuple[GlueJob, ...]
    crawlers: tuple[GlueCrawler, ...]
    scripts_key: str | None = None  # KMS key ARN of scripts_bucket's default encryption (SSE-KMS)
    orchestration: str = "workflow"  # workflow | stepfunctions (README "Glue beyond one workflow")
    databases: tuple[str, ...] = ()  # more databases, written like `database`
    connections: tuple[GlueConnection, ...] = ()
    smoke_by_environment: tuple[tuple[str, bool], ...] = ()  # environments[].glue.smoke_test

    def smokes(self, environment: str) -> bool:
        """Whether the smoke test runs after `environment`'s deploy (`glue.smoke_test` unless the
        environment's `glue.smoke_test` says otherwise)."""
        return dict(self.smoke_by_environment).get(environment, self.smoke_test)

    @property
    def dependencies(self) -> tuple[str, ...]:
        """The build-artifact files the jobs depend on, uploaded with the scripts."""
        return tuple(dict.fromkeys(d for j in self.jobs for d in j.dependencies))

    @property
    def nodes(self) -> dict[str, GlueJob | GlueCrawler]:
        return {**{j.name: j for j in self.jobs}, **{c.name: c for c in self.crawlers}}

    def upstream_crawler_paths(self) -> tuple[str, ...]:
        """The s3 paths of every crawler some job runs after (directly or through other nodes): the
        data the job reads once those crawlers have catalogued it."""
        nodes = self.nodes
        found: list[str] = []
        for job in self.jobs:
            seen: set[str] = set()
            todo = list(job.after)
            while todo:  # iterative: a long chain must not hit the recursion limit
                name = todo.pop()
                if name in seen or name not in nodes:
                    continue
                seen.add(name)
                node = nodes[name]
                if isinstance(node, GlueCrawler):
                    found += node.s3
                todo += node.after
        return tuple(dict.fromkeys(found))

    @property
    def test_image_version(self) -> str:
        """The Glue version unit tests run against: the newest any Spark/Python job uses."""
        versions = [j.glue_version for j in self.jobs if j.type in ("spark", "streaming", "pythonshell")]
        return max(versions, key=lambda v: tuple(int(p) for p in v.split("."))) if versions else "4.0"


@dataclass(frozen=True)
class Notifications:
    events: tuple[str, ...]
    sns_topic: str | None
    slack_channel: str | None


@dataclass(frozen=True)
class Toolchain:
    """Where the self-update build installs manifestc from: a hash-pinned wheelhouse in S3
    (`requirements.txt` with `--hash=sha256:` lines beside the wheels), never a public index."""

    bucket: str | None  # None: the pipeline's artifact bucket
    prefix: str  # ends with "/"


# The artifact-bucket prefix of the toolchains (`manifestc==<version>`). It starts with "_",
# which no pipeline name does, so CodePipeline's own artifact keys (`<pipeline name>/...`)
# never fall under it; the artifact bucket policy denies writes there to every pipeline role.
TOOLCHAIN_PREFIX = "_manifestc/toolchain/"


@dataclass(frozen=True)
class Regenerate:
    enabled: bool
    install: str  # canonical: `manifestc==<version>` or `s3://<bucket>/<prefix>/`
    path: str  # the manifest's path inside the source repository

    @property
    def toolchain(self) -> Toolchain:
        if self.install.startswith("s3://"):
            bucket, _, prefix = self.install[len("s3://") :].partition("/")
            return Toolchain(bucket, prefix)
        return Toolchain(None, f"{TOOLCHAIN_PREFIX}{self.install.split('==', 1)[1]}/")


@dataclass(frozen=True)
class Manifest:
    file: str
    digest: str
    name: str
    team: str
    description: str | None
    tags: Pairs
    account: str | None
    region: str | None
    language: str | None
    source: Source
    build: Build
    tests: tuple[TestSuite, ...]
    environments: tuple[Environment, ...]
    targets: tuple[Target, ...]
    regenerate: Regenerate
    quality_gates: tuple[QualityGate, ...] = ()
    notifications: Notifications | None = None
    network: Network | None = None
    catalog: Catalog | None = None
    glue: Glue | None = None
    variables: tuple[Variable, ...] = ()
    # where each manifest node came from (diagnostics.Marks), so later phases can point at a field
    marks: Any = field(default=None, compare=False, repr=False)

    def is_cross_account(self, env: Environment) -> bool:
        return env.account is not None and env.account != self.account

    @property
    def extra_accounts(self) -> tuple[str, ...]:
        return tuple(sorted({e.account for e in self.environments if self.is_cross_account(e)}))

    @property
    def extra_regions(self) -> tuple[str, ...]:
        return tuple(sorted({r for e in self.environments for r in e.regions if r and r != self.region}))

    def environment(self, name: str) -> Environment:
        return next(e for e in self.environments if e.name == name)

    def suite_secrets(self, suite: TestSuite) -> tuple[Secret, ...]:
        """What a test suite receives: build.secrets, and after an environment's deploy that
        environment's secrets, which replace a build secret of the same variable."""
        if suite.after == "build":
            return self.build.secrets
        own = self.environment(suite.after).secrets
        names = {s.variable for s in own}
        return tuple(
            sorted((*(s for s in self.build.secrets if s.variable not in names), *own), key=lambda s: s.variable)
        )

    def deployed(self, *types: str):
        """(environment, target) for each target each environment deploys, in manifest order; only
        targets of `types` when given."""
        for env in self.environments:
            for name in env.targets:
                target = self.target(name)
                if not types or target.type in types:
                    yield env, target

    def target(self, name: str) -> Target:
        return next(t for t in self.targets if t.name == name)

    def package_regions(self, target: Target) -> tuple[str, ...]:
        """Regions other than the pipeline's that a lambda template target is deployed to."""
        return tuple(
            sorted(
                {r for e in self.environments if target.name in e.targets for r in e.regions if r and r != self.region}
            )
        )

    def tests_after(self, stage: str) -> tuple[TestSuite, ...]:
        return tuple(t for t in self.tests if t.after == stage)

    def resolve_target(self, target: Target, env: Environment, region: str | None) -> Target:
        """The target as `env` deploys it in `region`: placeholders of its per-environment fields
        rendered (README "Per-environment targets"). `region` None means the pipeline's region."""
        values = {
            field: render_placeholders(value, environment=env.name, region=region or self.region or "", name=self.name)
            for field in TARGET_PLACEHOLDER_FIELDS
            if (value := getattr(target, field))
        }
        return dataclasses.replace(target, **values)

    def target_resources(self, target: Target, env: Environment, region: str | None) -> list[tuple[str, str, str]]:
        """(kind, identity, manifest field) of each resource `env` writes when it deploys `target`
        in `region` (None: the pipeline's): what MC280 and the self-update guard compare."""
        where = region or self.region or "(the pipeline's region)"
        resolved = self.resolve_target(target, env, region)
        found: list[tuple[str, str, str]] = []
        if target.deploys_stack or target.type == "glue":
            stack = render_placeholders(target.stack, environment=env.name, region=where, name=self.name)
            found.append(("stack", stack, "stack"))
        if target.type == "ecs":
            found.append(("ECS service", f"{resolved.cluster}/{resolved.service}", "service"))
        if target.type == "lambda" and target.function:
            found.append(("Lambda function", resolved.function, "function"))
        if target.type == "glue" and self.glue is not None:
            found.append(("Glue database", self.glue_database(env), "database"))
            found += [("Glue database", self.glue_database(env, d), "databases") for d in self.glue.databases]
        if target.type == "s3":
            found.append(("S3 prefix", f"{resolved.bucket}/{resolved.prefix or ''}", "prefix"))
        if target.type == "glue" and self.glue is not None:
            found += [("S3 prefix", path.removeprefix("s3://"), "outputs") for path in self.glue_writes(env)]
        if target.type == "stepfunctions":
            found.append(("state machine", resolved.state_machine, "state_machine"))
        if target.type == "lambda_invoke":
            found.append(("Lambda function", resolved.function, "function"))
        if target.type == "elasticbeanstalk":
            environment = f"{resolved.application}/{resolved.beanstalk_environment}"
            found.append(("Elastic Beanstalk environment", environment, "beanstalk_environment"))
        if target.type == "servicecatalog":
            found.append(("Service Catalog product", target.product_for(env.name) or "", "product"))
        if target.type == "lambda_layer":
            found.append(("Lambda layer", resolved.layer, "layer"))
        if target.type == "image_copy":
            found.append(("ECR repository", target.image_repository, "image_repository"))
        if target.type == "codedeploy" or (target.type == "ecs" and target.deploy == "blue_green"):
            group = f"{resolved.application}/{resolved.deployment_group}"
            found.append(("CodeDeploy deployment group", group, "deployment_group"))
        if target.type == "cdk":
            found += [("stack", stack, "stacks") for stack in self.cdk_stacks(target, env, region)]
        if target.type == "commands" and target.role:
            account = self.env_account(env) or "(the pipeline's account)"
            found.append(("assumed role", self.render_step(target.role, env, region, account), "role"))
        return found

    def cdk_stacks(self, target: Target, env: Environment, region: str | None) -> tuple[str, ...]:
        """The stack ids (and stack names) a cdk target deploys in `env` and `region` (None: the
        pipeline's), placeholders rendered; each is cdk.out/<id>.template.json of the artifact."""
        where = region or self.region or "${AWS::Region}"
        return tuple(
            dict.fromkeys(
                render_placeholders(s, environment=env.name, region=where, name=self.name) for s in target.stacks
            )
        )

    def glue_text(self, text: str, env: Environment) -> str:
        """A Glue job argument or crawler path as `env` deploys it (placeholders rendered)."""
        return render_placeholders(text, environment=env.name, region=self.region or "", name=self.name)

    def glue_writes(self, env: Environment) -> tuple[str, ...]:
        """The s3:// locations the workflow's jobs write in `env` (outputs and Glue's write parameters)."""
        return tuple(
            dict.fromkeys(self.glue_text(p, env) for j in self.glue.jobs for p in j.s3_paths_in(env.name, write=True))
        )

    def target_regions(self, target: Target, env: Environment) -> tuple[str | None, ...]:
        """The regions `env` deploys `target` to: a bucket is global (written once per
        environment) and Glue deploys in the pipeline's region (None)."""
        if target.type == "image_copy":
            # the build's repository in the pipeline's account and region already holds the image
            regions = target.regions or env.regions
            if not self.is_cross_account(env) and target.image_repository == self.build.image_repository:
                regions = tuple(r for r in regions if r is not None and r != self.region)
            return regions
        if target.type == "lambda_layer" and target.regions:
            return target.regions
        if target.type in ("s3", "servicecatalog"):  # a bucket is global; a product is published once
            return env.regions[:1]
        return (None,) if target.type == "glue" else env.regions

    def env_account(self, env: Environment) -> str | None:
        """The account `env` deploys to: its own, else the pipeline's (None: not given)."""
        return env.account or self.account

    def render_step(self, text: str, env: Environment, region: str | None, account: str) -> str:
        """A commands-target value as `env` runs it in `region`: {environment} {region} {name}
        and {account} rendered (`account`/`region` may be template variables like ${AWS::AccountId})."""
        rendered = render_placeholders(text, environment=env.name, region=region or self.region or "", name=self.name)
        return rendered.replace("{account}", account)

    def glue_database(self, env: Environment, database: str | None = None) -> str:
        """The Glue database of `env`: `glue.database` (or `database`, one of `glue.databases`) with
        its placeholders rendered (dashes of the environment and pipeline names become underscores:
        Athena reads only [a-z0-9_] names)."""
        return render_placeholders(
            database or self.glue.database,
            environment=env.name.replace("-", "_"),
            region=(self.region or "").replace("-", "_"),
            name=self.name.replace("-", "_"),
        )


# Target fields that may differ per environment through {environment} {region} {name}
# placeholders (the stack name has always had them; see `stack`).
TARGET_PLACEHOLDER_FIELDS = (
    "template",
    "template_configuration",
    "cluster",
    "service",
    "function",
    "bucket",
    "prefix",
    "kms_key",
    "state_machine",
    "input",
    "user_parameters",
    "application",
    "deployment_group",
    "layer",
    "beanstalk_environment",
    "version_prefix",
    "version_description",
)
# Of those, the JSON texts: only the known placeholders are rendered, other braces are JSON.
TARGET_JSON_FIELDS = ("input", "user_parameters")


def render_placeholders(text: str, *, environment: str, region: str, name: str) -> str:
    """Substitute the {environment} {region} {name} placeholders of stacks and parameters."""
    return text.replace("{environment}", environment).replace("{region}", region).replace("{name}", name)


def variable_entries(variables: tuple[Variable, ...]) -> list[dict]:
    """The CodeBuild action `EnvironmentVariables` entries handing each pipeline variable to a build."""
    return [{"name": v.name, "value": f"#{{variables.{v.name}}}", "type": "PLAINTEXT"} for v in variables]


def variable_environment(variables: tuple[Variable, ...]) -> str:
    """The `EnvironmentVariables` value of the pipeline variables alone, as the emitter writes it
    (json.dumps, the same rendering as an action's own `env` entries)."""
    return json.dumps(variable_entries(variables))
