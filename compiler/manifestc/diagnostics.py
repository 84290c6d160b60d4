"""Diagnostics: severity, location, the code catalogue and the path -> line:col lookup.

Every phase reports problems as `Diagnostic` records carrying a *path* into the manifest
(`("environments", 1, "approval")`); `locate` is the one place a path becomes `line:col`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

Path = tuple[str | int, ...]


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Diagnostic:
    """One finding, located in a file (the manifest, or an emitted template for lint findings)."""

    code: str
    severity: Severity
    message: str
    file: str = ""
    line: int = 0
    col: int = 0
    path: Path = ()
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def dotted_path(self) -> str:
        return format_path(self.path)


def format_path(path: Path) -> str:
    """Render a path the way the manifest author reads it: `environments[1].approval`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class Marks:
    """Where each node of a loaded manifest came from: path -> (line, col), both 1-based.

    `values` holds the position of each value node, `keys` the position of the key that
    introduced it (used for unknown-key diagnostics, which point at the key).
    """

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path, at_key: bool = False) -> tuple[int, int]:
        """Position of `path`, or of its nearest located ancestor (1, 1 if none)."""
        probe = tuple(path)
        while True:
            if at_key and probe in self.keys:
                return self.keys[probe]
            if probe in self.values:
                return self.values[probe]
            if not probe:
                return (1, 1)
            probe = probe[:-1]


def at(
    code: str,
    message: str,
    path: Path,
    file: str,
    marks: Marks | None,
    *,
    hint: str | None = None,
    severity: Severity | None = None,
    at_key: bool = False,
) -> Diagnostic:
    """Build a located diagnostic for a manifest path."""
    line, col = marks.locate(path, at_key=at_key) if marks else (0, 0)
    return Diagnostic(
        code=code,
        severity=severity or CODES[code].severity,
        message=message,
        file=file,
        line=line,
        col=col,
        path=tuple(path),
        hint=hint,
    )


@dataclass(frozen=True)
class CodeInfo:
    severity: Severity
    title: str
    explain: str


def _e(title: str, explain: str) -> CodeInfo:
    return CodeInfo(Severity.ERROR, title, explain)


def _w(title: str, explain: str) -> CodeInfo:
    return CodeInfo(Severity.WARNING, title, explain)


# The code catalogue. Codes are stable and grouped by phase:
# MC0xx load, MC1xx schema, MC2xx semantics, MC3xx emit, MC4xx lint, MC5xx output,
# MC6xx readiness checks (check/: would the emitted templates run in a real account).
# cfn-lint findings keep cfn-lint's own rule ids (E3012, W3005, I3042, ...).
CODES: dict[str, CodeInfo] = {
    "MC001": _e("cannot read the manifest", "The file does not exist or cannot be read. Check the path you passed."),
    "MC002": _e("not UTF-8", "Manifests must be UTF-8 text. Re-save the file as UTF-8 (without a BOM is best)."),
    "MC003": _e(
        "YAML syntax error",
        "The file is not valid YAML. The location points at where the parser gave up; the mistake is often just before it (an unclosed quote or bracket, a bad indent).",
    ),
    "MC004": _e(
        "tab character in indentation",
        "YAML forbids tabs for indentation. Replace the tab with spaces (two per level is the convention).",
    ),
    "MC005": _e(
        "several YAML documents",
        "A manifest is exactly one YAML document. Remove the `---` separator and everything after it, or split the documents into separate files.",
    ),
    "MC006": _e(
        "not a mapping",
        "The top level of a manifest must be a mapping of keys (`manifest: 1`, `name: ...`). Run `manifestc init` for a starter.",
    ),
    "MC007": _e(
        "duplicate key",
        "A key appears twice in the same mapping; YAML loaders silently keep the last one, so manifestc refuses it. Keep one.",
    ),
    "MC008": _e(
        "manifest too large",
        "The manifest exceeds the size limit (256 KiB). A pipeline manifest is a few dozen lines; split generated content out.",
    ),
    "MC009": _e(
        "too many YAML nodes",
        "Either anchors and aliases expand to more than 20,000 nodes (this is how a 'billion laughs' alias bomb works: write the values out or use fewer aliases), or the file itself has more than 100,000 nodes or nests deeper than 64 levels (a manifest is a few dozen lines: generate less into it).",
    ),
    "MC010": _e("empty manifest", "The file holds no YAML document. Run `manifestc init` for a starter manifest."),
    "MC011": _e(
        "unsupported YAML tag",
        "Only plain YAML (strings, numbers, booleans, null, lists and mappings) is accepted; custom tags such as `!Ref` or `!!python/object` are not.",
    ),
    "MC012": _e(
        "control character",
        "YAML allows only printable characters in a file; a control character (U+0000-U+001F other than tab and newline, U+007F, ...) usually comes from a paste or a binary file. Delete it, or write it as an escape (`\\x01`) inside a double-quoted string.",
    ),
    "MC101": _e(
        "unknown key",
        "The key is not part of manifest v1. Check the spelling (a did-you-mean hint is given when one is close) and the README's manifest reference.",
    ),
    "MC102": _e(
        "wrong type",
        "The value has the wrong type, for example a list where a string is expected. The message says what was expected.",
    ),
    "MC103": _e("required field missing", "A field that has no default is missing. Add it."),
    "MC104": _e("value not allowed", "The value is not one of the allowed values, which the message lists."),
    "MC105": _e(
        "value has the wrong shape",
        "The value does not match the pattern the field requires (for example a name must be lowercase letters, digits and dashes).",
    ),
    "MC106": _e(
        "value out of range", "A number is outside its allowed range, or a text or list is too short or too long."
    ),
    "MC107": _e(
        "not supported yet",
        "The value is part of the manifest language but this version of manifestc does not compile it yet. It is never silently ignored.",
    ),
    "MC108": _e("empty value", "The value is null where a value is required."),
    "MC109": _e(
        "key is not text",
        'YAML reads an unquoted key such as `1.5`, `yes` or `~` as a number, a boolean or null; every manifest key is a name. Quote it (`"1.5": ...`) or rename it.',
    ),
    "MC201": _e(
        "unknown reference",
        "A name refers to something that does not exist (an environment's target, a test suite's `after`). The message lists the names that exist.",
    ),
    "MC202": _e(
        "duplicate name",
        "Two entries of a list share a name. Names must be unique because they become resource and action names.",
    ),
    "MC203": _e(
        "language required",
        "Without `language`, manifestc has no preset for the image and the commands: give `language`, or both `build.image` and `build.commands`.",
    ),
    "MC204": _e(
        "unknown language",
        "The language has no preset. The message lists the available presets; adding one is a data change in schemas/presets.yaml.",
    ),
    "MC205": _e(
        "unsupported runtime version",
        "The runtime version is not shipped by the CodeBuild image in use. The message lists the versions that image supports.",
    ),
    "MC206": _e(
        "name too long for AWS",
        "After prefixing with the pipeline name, a generated AWS resource name would exceed the service's limit. Shorten the pipeline name or the entry's name.",
    ),
    "MC207": _e(
        "template required",
        "A cloudformation target needs `template`: the path of its template inside the build artifact.",
    ),
    "MC208": _e(
        "unknown placeholder", "Stack names and parameter values may use only {environment}, {region} and {name}."
    ),
    "MC209": _e(
        "invalid stack name",
        "A CloudFormation stack name must start with a letter, contain only letters, digits and dashes, and be at most 128 characters, for every environment and region.",
    ),
    "MC210": _e(
        "region required",
        "An environment deploys to a region other than the pipeline's: set the top-level `region` so cross-region artifact stores can be created.",
    ),
    "MC211": _e(
        "incompatible build settings",
        "Two build settings cannot be combined (for example a GPU compute type on arm64). The message names both.",
    ),
    "MC212": _e(
        "environment without targets",
        "An environment deploys nothing and runs no tests: give it targets or post-deploy tests, or remove it.",
    ),
    "MC213": _e(
        "test suite never runs",
        "A test suite's `after` names an environment that deploys nothing; the suite would never run.",
    ),
    "MC214": _e(
        "field does not apply here",
        "The field belongs to another kind of entry (for example `cluster` on a cloudformation target, or `paths` on a codecommit source). The hint lists the fields that apply.",
    ),
    "MC215": _e(
        "account required",
        "An environment deploys to another account: set the top-level `account` (the tooling account) so the target account's bootstrap roles can trust it.",
    ),
    "MC216": _e(
        "needed endpoint missing",
        "An explicit network.endpoints list lacks a service a build of this pipeline reaches; without it the build cannot reach the service from the private subnets. The message names the build step; `endpoints: auto` derives the list.",
    ),
    "MC217": _e(
        "unknown endpoint service",
        "network.endpoints names a service manifestc does not know as a VPC endpoint service. The hint suggests the closest; `manifestc endpoints` shows what a pipeline needs.",
    ),
    "MC218": _e(
        "route tables required",
        "S3 is reached through a gateway endpoint, which is attached to route tables: list the private subnets' route tables in network.route_tables.",
    ),
    "MC219": _e("self-edge", "A job or crawler lists itself in `after`; remove it."),
    "MC220": _e(
        "cycle in the workflow",
        "The `after` edges of glue jobs and crawlers form a cycle (printed as a path such as `a → b → a`); a workflow is a DAG. Remove one edge of the cycle.",
    ),
    "MC221": _e(
        "invalid schedule",
        "glue.schedule must be an AWS cron expression: cron(Minutes Hours Day-of-month Month Day-of-week Year), with `?` in day-of-month or day-of-week.",
    ),
    "MC222": _e(
        "invalid Glue job settings",
        "The job's Glue version, worker type or worker count is not one AWS Glue offers for that job type; the message lists what is.",
    ),
    "MC223": _e(
        "not an IAM action",
        "A declared permission names something that is not an IAM action of the Service Authorization Reference: it must be `service:Action` (a wildcard in the action name, such as `s3:Get*`, must match at least one action). The hint suggests the closest service or action.",
    ),
    "MC224": _e(
        "not a resource ARN",
        "A declared permission's resource must be an ARN (`arn:<partition>:<service>:<region>:<account>:<resource>`) or `*` (for actions without resource-level permissions).",
    ),
    "MC225": _e(
        "broad grant without opt-in",
        "A declared permission grants every action (`*`, `service:*`), an IAM write action, `*` resources for an action that can be scoped to ARNs, or an AWS managed `*FullAccess`/`PowerUserAccess` policy. Scope it to what the commands call, or accept it with `allow_broad: <reason>` in the same permissions block (reported in build.json; Recompile never applies a permission change by itself).",
    ),
    "MC226": _e(
        "grant never given",
        "A declared permission that no pipeline role gets: AdministratorAccess, IAMFullAccess and AWSOrganizationsFullAccess are never attached, and the pipeline's permissions boundary denies Organizations and account actions and passing or assuming roles outside /manifestc/<name>/ and /manifestc-app/<name>/ (in any account), so such a grant would compile and fail with AccessDenied.",
    ),
    "MC691": _w(
        "bash preset on Windows",
        "The language presets' commands (except dotnet's, which are plain `dotnet` calls) are written for bash on Linux; a Windows build runs them in PowerShell, where `export`, `$(...)` and `&&` chains differ. Give the phases (and the suites' commands) in PowerShell, or use `build.buildspec`.",
    ),
    "MC692": _w(
        "runtime not pinned on Windows",
        "manifestc writes no `runtime-versions` for Windows images: the image's installed SDKs are used, so `runtime` is not applied. Drop it, or install the version you need in `build.install`.",
    ),
    "MC693": _w(
        "runtime-versions on another image",
        "A build of `build.batch` runs the generated buildspec, whose install phase pins the preset's runtime (`runtime-versions`); CodeBuild offers runtimes only on its curated images, so on a custom image (or a Windows one) the phase may fail. Give that build its own `buildspec`, or a curated image of schemas/images.yaml.",
    ),
    "MC699": _w(
        "stack after a stack: change set prepared first",
        "`targets[].after` orders the deploys (executes) of an environment, but every stack target's change set is prepared at the start of the stage, before the approval, so the approver reviews all of them. A stack deployed after another stack therefore gets a change set computed before that other stack's deploy: a new export it imports (Fn::ImportValue) or a new parameter it resolves does not exist yet on the first deploy, and its change set fails. Ship the exporting change in an earlier commit, or read such values at run time.",
    ),
    "MC698": _w(
        "AWS tool in a commands target without a role",
        "A commands target with neither `role` nor `permissions` runs with a job role that only reads its inputs, writes its logs and reads its environment's secrets: it may call no AWS API. A command that starts the AWS CLI, SAM, the CDK CLI, Terraform, Pulumi, eksctl or Copilot there is denied. Declare `permissions` with what it calls, or name a `role` of the environment's account.",
    ),
    "MC694": _w(
        "glue job in a VPC installs from PyPI",
        "A job with `connections` runs in the connection's subnet, and Glue installs --additional-python-modules (a `.whl` dependency, or module names in `arguments`) with pip3 at every job start, which resolves the modules and their dependencies from PyPI: without a NAT or internet gateway the job fails before its script runs (AWS Glue Developer Guide, \"Setting up a VPC to connect to PyPI for AWS Glue\"). Pass pip options in the job's `arguments` as `--python-modules-installer-option` (`--no-deps` when the wheels hold every dependency the Glue image lacks, or `--index-url` of a CodeArtifact or S3 PyPI mirror the subnet reaches), ship the dependencies as wheels too, or give the subnet a NAT; the warning goes once the option is set.",
    ),
    "MC227": _w(
        "allow_broad without a broad grant",
        "`allow_broad` accepts the broad grants of its permissions block; this block has none. Remove it, so a later broad grant is not accepted silently.",
    ),
    "MC228": _e(
        "field replaced by the buildspec file",
        "With `buildspec` (a buildspec file of the repository), the build phases (`install`, `pre_build`, `commands`, `post_build`), `artifacts` and `matrix` of the build, or a suite's `commands`, belong in that file; the manifest would silently not run them. Move them into the file, or drop `buildspec`.",
    ),
    "MC229": _e(
        "needs the generated buildspec",
        "A feature of the manifest works through commands or files the generated buildspec writes: pushing and promoting an image (docker preset, image targets, build.image_repository), packaging a lambda template target (`aws cloudformation package`), and feature-branch builds (the build's phases and the suites' commands in one buildspec). A buildspec file of the repository cannot be assumed to do them: give the phases in the manifest instead.",
    ),
    "MC230": _w(
        "environment secrets nobody receives",
        "environments[].secrets are given only to the test suites that run after that environment's deploy (`after: <environment>`) and to the environment's `commands` targets; the other deploy actions run no command of the manifest. An environment with secrets and neither gives them to nobody: add the suite or the commands target, or remove the secrets.",
    ),
    "MC233": _e(
        "commands target with both role and permissions",
        "A commands target runs its commands with at most one declared role: either `role`, an existing IAM role of the environment's account that the job assumes (only that ARN), or `permissions`, statements of a minimal role manifestc creates, bounded by the pipeline's permissions boundary. Give one of them, or neither when the commands call no AWS API (Flyway against a database, kubectl with its own kubeconfig, a webhook): the job's own role then only reads its inputs, writes its logs and reads its environment's secrets.",
    ),
    "MC234": _e(
        "commands role in another account",
        "The commands of a target run in each environment's account, so the role they assume must be a role of that account. Write the account of the role ARN as `{account}` (arn:aws:iam::{account}:role/NAME): each environment then assumes the role of its own account. A literal account must be the environment's account (or, for environments without `account`, the top-level `account`).",
    ),
    "MC235": _e(
        "broad grant without opt-in",
        "The commands target names an administrator role (or another tool's, such as cdk-* or OrganizationAccountAccessRole). Name a role with only what the commands need, or declare `permissions` (broad grants there take `allow_broad: <reason>`, MC225); if the step really needs that role, set `broad_permissions: true` on the target.",
    ),
    "MC236": _e(
        "reserved variable in a commands target",
        "ENVIRONMENT, REGION and ACCOUNT are set to the environment's name, region and account; AWS_REGION, AWS_DEFAULT_REGION, AWS_PROFILE, AWS_SDK_LOAD_CONFIG and DEPLOY_ROLE_ARN select the region and the assumed role for every SDK and CLI; CODEBUILD_* is CodeBuild's. Rename the variable.",
    ),
    "MC237": _e(
        "created commands role name too long",
        "For a commands target with `permissions` in another account, bootstrap-<account>.yaml creates the role `<name>-<environment>-<target>`; IAM role names are at most 64 characters. Shorten the pipeline, environment or target name.",
    ),
    "MC238": _e(
        "unknown variable",
        "A `#{namespace.NAME}` reference must name a variable an earlier action outputs: #{build.NAME} for a name listed in build.exports (and exported by the build's commands), #{<target>.NAME} for a stack Output of a cloudformation or lambda template target, or a name in a commands target's `exports`, deployed in the same environment, and #{codepipeline.PipelineExecutionId}. ECS, S3, lambda function and glue targets output no variables.",
    ),
    "MC239": _e(
        "variable read before it exists",
        "CodePipeline resolves a variable only in actions that run after the action that outputs it. In an environment, change sets are prepared first (so stack parameters can read build variables, not the environment's deploys), the deploys run in parallel (or in the order `targets[].after` gives: a target cannot read the variables of one that deploys after it), a commands target reading another target's variables runs after them, and post-deploy tests run last. Tests after the build run before any deploy. A test suite after an environment with several regions cannot tell which region's deploy it means.",
    ),
    "MC240": _e(
        "variable where CodePipeline does not resolve it",
        "Variables are resolved in cloudformation `parameters`, commands targets' `env` and tests' `env` (action configuration). Elsewhere a `#{...}` would reach AWS as written. Pass the value through a stack parameter or an environment variable instead.",
    ),
    "MC241": _e(
        "per-environment packaged template",
        "A cloudformation target with `package: true` is packaged once, in the Build stage (`aws cloudformation package`), so its template path cannot depend on the environment. Use one template and give each environment its values through `parameters` or `template_configuration: deploy/{environment}.json`.",
    ),
    "MC242": _e(
        "exported variables from a build matrix",
        "A build with `matrix` is a CodeBuild batch of several builds, each exporting its own values, so the build action cannot output one value per variable for later actions to read. Export the value from a commands target, or build without a matrix.",
    ),
    "MC250": _w(
        "single subnet",
        "A build VPC with one subnet lives in one Availability Zone; builds stop when that zone does. List private subnets in two or more AZs.",
    ),
    "MC251": _w(
        "endpoint not needed",
        "network.endpoints lists a service no build of this pipeline reaches. It costs money per hour and AZ; remove it unless other workloads in the VPC need it.",
    ),
    "MC252": _w(
        "VPC build without CodeArtifact",
        "Builds in private subnets cannot reach public package registries without a NAT gateway. Serve dependencies from CodeArtifact: build.packages.codeartifact. (The self-update build needs neither: it installs manifestc from its wheelhouse in S3.)",
    ),
    "MC253": _w(
        "docker build without ECR endpoints",
        "A docker build in private subnets needs the ecr.api and ecr.dkr endpoints (and S3 for layers) to log in, pull and push.",
    ),
    "MC254": _w(
        "manifests in one VPC disagree",
        "Manifests that share a VPC list different subnets; the shared endpoint stack can use only one set (interface endpoints take one subnet per AZ). It uses the first pipeline's by name.",
    ),
    "MC256": _w(
        "products disagree on their portfolio",
        "Manifests naming the same catalog.portfolio give it different providers; the shared catalog uses the first by pipeline name.",
    ),
    "MC257": _e(
        "two products collide",
        "Two manifests built together publish resources with the same logical id to one portfolio (for example the same product name) but different content. Give each product its own name.",
    ),
    "MC258": _w(
        "glue workflow not deployed", "The manifest has a `glue` section but no target of type glue deploys it."
    ),
    "MC688": _w(
        "per-environment glue values unused",
        "`environments[].glue` sets job arguments or connection placement for an environment that deploys no glue target, so nothing reads them.",
    ),
    "MC689": _w(
        "glue dependency outside the build artifact",
        "The glue upload job copies each job dependency from the build artifact, which holds only the files `build.artifacts.files` matches; a dependency none of its patterns matches would not be found and the upload would fail. (A warning: a buildspec of your own or `base_directory` may still place it.)",
    ),
    "MC260": _e(
        "unpinned self-update toolchain",
        "`regenerate.install` names what the self-update build installs and runs; its output is deployed by the self-update role. Only a hash-pinned wheelhouse in your own S3 is accepted: `manifestc==<version>` (the wheelhouse `manifestc wheelhouse` writes, uploaded to the artifact bucket under `_manifestc/toolchain/<version>/`) or `s3://<bucket>/<prefix>/`. Package names from an index, git URLs and download links are refused: whoever controls them controls your pipeline.",
    ),
    "MC261": _e(
        "bad regenerate.path",
        "`regenerate.path` is the manifest's path inside the source repository, relative, with no `..`, ending in .yaml or .yml.",
    ),
    "MC262": _e(
        "s3 source needs regenerate.path",
        "With an S3 source the self-update build compiles a file from the unpacked zip; say which (`regenerate: {path: manifest.yaml}`), or set `regenerate: false`.",
    ),
    "MC263": _e(
        "regenerate on a product",
        "A pipeline provisioned from Service Catalog lives in the provisioner's repository, which has no manifest of yours: every copy would stall at UpdatePipeline or change a stack Service Catalog manages. Set `regenerate: false`, and publish a new catalog.version to change provisioned pipelines.",
    ),
    "MC264": _e(
        "self-update refused",
        "The self-update build (`manifestc recompile`) compiled the committed manifest but will not update the pipeline: the new `regenerate.install` toolchain does not install or compile, or the manifest needs a VPC endpoint the VPC does not have (update the shared network stack first, with the command printed). The pipeline keeps its current shape and toolchain; fix the manifest in a new commit.",
    ),
    "MC265": _e(
        "escalating execution policy",
        "An execution policy such as AdministratorAccess or IAMFullAccess lets an application template create roles without the pipeline's permissions boundary, which makes a commit to the application template an administrator. The created execution role already manages the stack's own roles under the boundary; choose a policy without IAM.",
    ),
    "MC266": _e(
        "administrator execution role",
        "execution_role names an administrator role or another tool's deployment role (CDK bootstrap, Organizations, Control Tower, StackSets, IAM Identity Center). CloudFormation would deploy the application template with it, unbounded. Leave execution_role unset so manifestc creates a bounded one.",
    ),
    "MC610": _e(
        "deploying role lacks handler permissions",
        "A role CloudFormation or Service Catalog deploys a template with (the self-update role, a launch role) lacks an IAM action that the CloudFormation registry schema of a resource type in that template lists in its handlers (create, read, update, delete, list). The deployment would fail with AccessDenied, often leaving the stack in UPDATE_ROLLBACK_FAILED. Source: the registry schemas cfn-lint ships.",
    ),
    "MC611": _e(
        "role creation without the boundary",
        "A role may create roles or put/attach policies on roles without an iam:PermissionsBoundary condition. Whoever controls what it deploys could mint a role with any permissions. Every role that can create roles must require the pipeline's permissions boundary.",
    ),
    "MC612": _e(
        "unscoped grant of a scopable action",
        'A deploying role grants an action on every resource ("*") without a condition, although the Service Authorization Reference lets the action be limited to a resource ARN. Scope it to the resources the template creates.',
    ),
    "MC243": _e(
        "bad factory repository",
        "`manifestc factory --repository` takes CodeCommit repository names (1-100 letters, digits, `.`, `_`, `-`, not ending in `.git`), each once, at most 100 (one EventBridge rule each: a FIFO message group per repository). `--repository-pattern` takes those characters with `*` wildcards (not `*` alone).",
    ),
    "MC244": _e(
        "factory repositories not named",
        "Name the repositories the factory watches: either `--repository` (repeatable) or `--repository-pattern`, exactly one of the two.",
    ),
    "MC245": _e(
        "bad factory manifest path",
        "`--manifest-path` is the manifest's path inside each repository: relative, no `..`, ending in .yaml or .yml, without quotes, spaces or `$` (the factory build uses it in shell commands).",
    ),
    "MC246": _e(
        "bad factory branch",
        "`--branch` names a main branch whose commits the factory builds: letters, digits, `.`, `_`, `-` and `/`, no `..`, no leading or trailing `/`.",
    ),
    "MC247": _e("bad factory email", "`--notify-email` takes an email address (name@example.com)."),
    "MC248": _e(
        "factory build timeout out of range",
        "`--build-timeout` is 5-690 minutes: the queue's visibility timeout covers the build plus 30 minutes and SQS allows at most 12 hours.",
    ),
    "MC249": _e(
        "bad factory pipeline prefix",
        "`--pipeline-prefix` limits the pipelines the factory deploys (and its deploy role's names) to names starting with it: lower-case letters, digits and `-`, starting with a letter, at most 20 characters.",
    ),
    "MC670": _e(
        "factory deploy role lacks handler permissions",
        "The factory's CloudFormation role (FactoryDeployRole) lacks an IAM action that the registry schema of a resource type in a pipeline template lists in its handlers (`manifestc factory --against out/` compares it with the templates a build wrote). The factory would fail that repository's deploy with AccessDenied; CloudFormation rolls the stack back. A manifestc bug: the type belongs in emit/factory.py PIPELINE_STACK_TYPES.",
    ),
    "MC671": _e(
        "factory chain broken",
        "The factory's chain must be: a rule per repository targeting a FIFO queue with a message group, the queue encrypted with a FIFO dead-letter queue after exactly 2 receives and a visibility timeout at least the build's timeout, a pipe reading the queue into a state machine that runs the build with codebuild:startBuild.sync.",
    ),
    "MC672": _e(
        "factory role without the boundary",
        "Every role of the factory stack carries FactoryBoundary, and no statement may create roles or put or attach policies on them without an iam:PermissionsBoundary condition.",
    ),
    "MC673": _e(
        "factory build not hermetic",
        "The factory build installs manifestc only from the hash-pinned wheelhouse (no index, --require-hashes, --isolated) in a fresh directory and runs it as `venv/bin/python -I -m manifestc`, like the self-update build (MC600, MC601).",
    ),
    "MC674": _e(
        "factory role grants a scopable action on *",
        'A factory role grants an action on every resource ("*") without a condition although the Service Authorization Reference lets it be scoped to a resource ARN.',
    ),
    "MC270": _e(
        "approver in another account",
        "An approver ARN names another account than the pipeline's. The approve grant is attached by name, which IAM resolves in the pipeline's account (a same-named principal there would be granted instead), and the approval check compares accounts. Name a role, user or group of the pipeline's account; people of other accounts approve through a role of this account they may assume.",
    ),
    "MC271": _e(
        "approvers need the pipeline's account",
        "With approval.approvers, set the top-level `account` (the account the pipeline is deployed to), so the compiler can check that every approver belongs to it.",
    ),
    "MC272": _w(
        "nobody is notified of approvals",
        "An environment waits for a manual approval, but the created approval topic has no subscriber and no notification rule reports approval-needed: the approval would wait unseen until it times out. Add approval.notify_emails (email subscriptions, each confirmed once by its recipient), approval.notify (a topic of yours that has subscribers), or notifications with the approval-needed event.",
    ),
    "MC273": _e(
        "value cannot be a product parameter",
        "A field listed in catalog.parameters becomes a CloudFormation parameter whose AllowedPattern admits no quotes, braces, `$`, `#`, backslashes or whitespace (provisioner values are placed in JSON and Fn::Sub strings and must stay inert). The manifest's value is the parameter's default, so it must match the pattern too.",
    ),
    "MC274": _e(
        "provisioned copies would collide",
        "Each provisioned copy of a product takes its resource names from its PipelineName parameter; what a copy deploys must be named after it too. A stack name without {name}, a fixed ECS service, function, bucket or Glue workflow, or approvers of one account in a product shared with other accounts would make copies deploy over each other or grant the wrong principals.",
    ),
    "MC275": _e(
        "a private build reaches a public host",
        "The build runs in private subnets whose security group reaches only the VPC endpoints (and network.egress), so a command that calls a public host times out: a package registry CodeArtifact does not stand in for (or that the job is not logged in to), a vulnerability database (NVD, PyPI advisories, vuln.go.dev), Docker Hub or public ECR images, semgrep.dev rules. The message names the command and the hosts (table: reach.py); the hint says what to use instead. With a NAT in the subnets, declare it: network.egress [{port: 443, cidr: 0.0.0.0/0, description: ...}].",
    ),
    "MC276": _e(
        "invalid network.egress rule",
        "An egress rule needs exactly one of `cidr` and `prefix_list`, and `to_port` at or above `port`. Rules are added to the build security group manifestc creates, so they cannot be combined with network.security_groups.",
    ),
    "MC277": _e(
        "gate needs an API key secret",
        "OWASP dependency-check downloads the NVD through its API; without an API key NVD throttles it and the first update can take longer than the gate's timeout. Put a free NVD API key in Secrets Manager and add build.secrets.NVD_API_KEY; the gate project alone receives it.",
    ),
    "MC278": _w(
        "a private build usually reaches a public host",
        "The command reaches a public host in its common setup (the Gradle wrapper downloads its distribution from services.gradle.org; `docker build` pulls FROM images from Docker Hub). In a private build without internet egress that fails unless you point it at an internal copy (distributionUrl, FROM images in ECR).",
    ),
    "MC279": _e(
        "pip has no CodeArtifact repository",
        "A CodeArtifact repository has at most one external connection (AssociateExternalConnection: 'One external connection is allowed per repository'), so the repository of a non-Python build (npm, Maven, NuGet) does not serve PyPI. pip-installed tools (the semgrep, detect-secrets, checkov gates) and pip commands therefore log in to build.packages.codeartifact.pypi_repository, a repository with an external connection to public:pypi (or an upstream that has one). A private build without internet egress that runs them needs it: set pypi_repository, or drop the gate. Outside a VPC (or with internet egress) they use public PyPI. In a Python build the repository itself serves pip, so pypi_repository must not be set.",
    ),
    "MC280": _e(
        "two deploys write to the same resource",
        "Two environments (or two targets) deploying to the same account and region resolve to the same CloudFormation stack, ECS service, Lambda function, S3 bucket prefix or Glue database. In a single-account pipeline staging would deploy to prod's resource and prod's approval would gate nothing. Put `{environment}` in the field (e.g. `service: api-{environment}`, `prefix: '{environment}/'`, `database: sales_{environment}`), or deploy the environments to different accounts or regions.",
    ),
    "MC281": _e(
        "per-environment name is invalid",
        "A target field with placeholders renders, for some environment or region, to a name AWS does not accept (ECS: letters, digits, `-`, `_`, up to 255; Lambda: up to 64; S3 buckets: 3-63 lowercase letters, digits, dots, hyphens; Glue databases: lowercase letters, digits, underscores). Shorten or change the pattern.",
    ),
    "MC282": _e(
        "{region} needs the pipeline's region",
        "A `{region}` placeholder in a target field or the Glue database is rendered at compile time, so the pipeline's home region must be known: set the top-level `region`.",
    ),
    "MC283": _e(
        "per-environment lambda template",
        "A lambda `template` is packaged once, in the Build stage (`aws cloudformation package`), so its path cannot depend on the environment. Use one template and pass the environment as a stack parameter (`parameters: {Stage: '{environment}'}`).",
    ),
    "MC284": _e(
        "wildcard in a value that becomes an IAM resource",
        "The value becomes (part of) a resource ARN in an IAM policy (an S3 source key, a target bucket or prefix, a Lambda function, an ECS service, a Glue script, argument or crawler path). IAM treats `*` and `?` in resource ARNs as wildcards, so the role would be granted every matching resource (`s3://*` is every bucket). Name the exact bucket and prefix: a prefix already covers everything under it.",
    ),
    "MC320": _e(
        "delete_stale without extracted files",
        "`delete_stale` makes the s3 deploy an `aws s3 sync --delete` of the artifact's files into the bucket prefix. With `extract: false` the artifact is uploaded as one zip object, so there are no files to sync and nothing stale to delete. Drop `delete_stale`, or deploy the files (`extract: true`, the default).",
    ),
    "MC321": _e(
        "not a CloudFront distribution ID",
        "`cloudfront_invalidation.distribution` is the distribution's ID (uppercase letters and digits, e.g. E2QWRUHAPOMQZL), or a mapping from environment name to ID. It becomes the resource of the deploy job's cloudfront:CreateInvalidation grant (`arn:<partition>:cloudfront::<account>:distribution/<ID>`), so an ARN, a domain name or a wildcard is refused.",
    ),
    "MC322": _e(
        "per-environment distributions do not match the environments",
        "When `cloudfront_invalidation.distribution` is a mapping, its keys are the environments that deploy the target, each with its own distribution: a key that is not such an environment (a typo, or an environment that does not deploy this target) and an environment that deploys the target without a key are errors. Give one ID (a string) to invalidate the same distribution from every environment.",
    ),
    "MC324": _e(
        "stepfunctions input given twice",
        "A stepfunctions target's execution input is either `input` (a JSON object in the manifest: the action's InputType Literal) or `input_file` (a JSON file of the build artifact: InputType FilePath). Keep one.",
    ),
    "MC325": _e(
        "lambda_invoke in another account",
        "The CodePipeline Lambda invoke action waits until the function calls codepipeline:PutJobSuccessResult (or PutJobFailureResult) for the job, in the pipeline's account; a function in another account calls with its own account's credentials and is refused. Use a `stepfunctions` target there (CodePipeline starts and follows the execution itself, as the bootstrap deploy role), or invoke a function in the pipeline's account that assumes a role in the other one.",
    ),
    "MC326": _e(
        "ecs blue/green fields",
        "An ecs target with `deploy: blue_green` is deployed by the CodePipeline CodeDeployToECS action, which needs the CodeDeploy `application` and ECS `deployment_group` (created beforehand, with the load balancer, both target groups and the optional test listener). `application`, `deployment_group`, `task_definition` and `appspec` mean nothing to a rolling deploy (no `deploy`, or `deploy: rolling`).",
    ),
    "MC380": _e(
        "codedeploy instances in another account",
        "A CodeDeploy deployment's instances download the revision themselves (the CodeDeploy agent, with the instance's role) from the pipeline's artifact bucket, which is in the tooling account and encrypted with its key. For an environment in another account, the bucket and key policies must name the instances' roles: list them in `instance_roles` (write the account as `{account}`).",
    ),
    "MC381": _e(
        "instance role in the wrong account",
        "The instances of a CodeDeploy deployment group are in the deployment group's account, the environment's. An `instance_roles` entry with a literal account other than the environment's would grant the wrong principal; write the account as `{account}`.",
    ),
    "MC382": _e(
        "elasticbeanstalk in another account",
        "The Elastic Beanstalk deploy action runs as a role manifestc creates in the pipeline's account with the broad grants CodePipeline documents for it (Elastic Beanstalk drives the environment's update with the caller's permissions). manifestc does not create that role in target accounts: keep Elastic Beanstalk environments in the pipeline's account, or deploy them with a `commands` target and a role you create there.",
    ),
    "MC383": _e(
        "not a product ID",
        "A servicecatalog target's `product` is the ID of an existing Service Catalog product (ProductId: letters, digits, `-`, `_`, e.g. prod-abcdefghijklm), or a mapping from environment name to ID. It becomes the resource of the deploying role's servicecatalog grants.",
    ),
    "MC384": _e(
        "products do not match the environments",
        "A per-environment `product` mapping names exactly the environments that deploy the target: one that does not deploy it is a typo, and a deploying environment without a product would have nothing to publish to.",
    ),
    "MC385": _e(
        "servicecatalog in another account",
        "The Service Catalog deploy action publishes from the pipeline's account. Products are usually kept in one hub account and their portfolios shared with the others: publish there, and share the portfolio.",
    ),
    "MC387": _e(
        "image_copy without an image",
        "An image_copy target copies the image the build pushed and the pipeline promoted (`build.image_repository`, tag `<short commit>`); without `build.image_repository` there is none.",
    ),
    "MC388": _e(
        "image copied onto itself",
        "An environment in the pipeline's account would copy the image only into the repository the build pushed it to, in the same region (that region is left out of every copy to the build's repository name). Name another `image_repository`, copy to other `regions`, or copy only in environments of other accounts.",
    ),
    "MC397": _e(
        "self-update refused: regional key parameters change",
        "An environment of another account that deploys to a region other than the pipeline's needs that region's artifact key named by key ARN (CodePipeline recognises a key alias only in the key's own account), so pipeline.yaml takes the ARN as a parameter, read from the support stack's output by `manifestc deploy-plan` and passed on unchanged by the pipeline's own UpdatePipelineStack action. A commit that adds or removes such a region changes the parameters, which the deployed pipeline's update action cannot pass; deploy that change by hand once with the pipeline step of `manifestc deploy-plan`.",
    ),
    "MC330": _e(
        "commands permissions in the old list shape",
        "A `commands` target's `permissions` is the mapping builds and tests use: `permissions: {statements: [{effect, actions, resources}], managed_policies: [...], allow_broad: <reason>}`, checked against the Service Authorization Reference like theirs (MC223–MC227). The old list of `{actions, resources}` goes under `statements`; `broad_permissions: true` becomes `allow_broad: <the reason the step needs it>` in that mapping.",
    ),
    "MC331": _e(
        "broad_permissions with permissions",
        "`broad_permissions: true` accepts an administrator `role` only. A commands target with `permissions` accepts its broad grants (`*`, `service:*`, IAM writes, `*` resources on scopable actions, *FullAccess policies) with `allow_broad: <reason>` inside the `permissions` mapping, as builds and tests do, so the reason is recorded in build.json.",
    ),
    "MC332": _e(
        "commands managed policy of another account",
        "A commands target's `managed_policies` are attached to the role its job uses in each environment's account (the job's own role, or the role bootstrap-<account>.yaml creates there). A customer managed policy ARN names one account: attached in an environment of another account it does not exist. Use an AWS managed policy (`arn:aws:iam::aws:policy/...`), a policy of that account, or declare the statements.",
    ),
    "MC333": _e(
        "commands permissions grant nothing",
        "A commands target's `permissions` mapping has neither `statements` nor `managed_policies`: manifestc would create a role that can call no AWS API (usually a statement list left at the wrong indentation). Declare what the commands call, or name an existing `role`; commands that call no AWS API need neither: remove `permissions`.",
    ),
    "MC334": _e(
        "environment secret named like a commands job variable",
        "A commands target receives its environment's `secrets` as variables of its job, but the job sets ENVIRONMENT, REGION, ACCOUNT and DEPLOY_ROLE_ARN itself (project or action variables), exports AWS_REGION, AWS_DEFAULT_REGION, AWS_PROFILE and AWS_SDK_LOAD_CONFIG before the commands, and CodeBuild owns CODEBUILD_*: the commands would not see the secret. Rename the secret's variable.",
    ),
    "MC335": _e(
        "environment secret replaced by a commands env variable",
        "A commands target's `env` is set as variables of the pipeline action, which CodeBuild applies as the build's environment variable overrides (StartBuild `environmentVariablesOverride`, CodeBuild API Reference): they replace the project's variables of the same name, the environment's secrets among them: the commands would see the plaintext value, not the secret. Remove the variable from the target's `env`, or rename one of them.",
    ),
    "MC337": _e(
        "deploy order names no co-deployed target",
        "`targets[].after` lists targets whose deploy actions this target's deploy actions run after. Each name must be a target of the manifest, deployed in at least one environment that deploys this target (the order applies in every environment that deploys both, and is ignored where the named target is not deployed).",
    ),
    "MC338": _e(
        "deploy order that cannot be expressed",
        "A target cannot deploy after itself, and stepfunctions and lambda_invoke targets take no part in `after` (as the target or a name in it): their invoke actions already run after every deploy of the environment.",
    ),
    "MC339": _e(
        "deploy order cycle",
        "`targets[].after` must not come back to where it started (a after b, b after a): no run order satisfies it. Cycles are rejected whatever the environments. Remove one `after` entry of the cycle.",
    ),
    "MC350": _e(
        "too many file path globs",
        '`source.paths` and `source.exclude_paths` become the `FilePaths.Includes` and `FilePaths.Excludes` of the pipeline\'s V2 push trigger, which take 1 to 8 globs of up to 255 characters each (CodePipeline API Reference, "GitFilePathFilterCriteria"). Match a whole directory with one glob (`services/api/**`) instead of listing files.',
    ),
    "MC351": _e(
        "invalid build directory",
        '`build.directory` is the service\'s directory inside the repository, relative to its root: every phase of the build, the test suites and the quality gates starts with `cd "$CODEBUILD_SRC_DIR"/<directory>`. It cannot be absolute, leave the checkout (`..`), be the root itself (`.`), or hold wildcards, quotes, `$` or spaces. Write it like `services/api`.',
    ),
    "MC352": _e(
        "build directory with a buildspec file",
        "A `build.buildspec` file of the repository runs as written: manifestc neither adds commands to it nor sets its artifact base, so `build.directory` would do nothing. Drop `directory` and `cd` into the service's directory in the buildspec file (its artifacts' `base-directory` too), or drop `buildspec` and let manifestc generate the buildspec.",
    ),
    "MC360": _e(
        "glue connection incomplete",
        "A Glue connection places the jobs' network interfaces in a VPC: Glue needs the subnet, its Availability Zone and at least one security group (PhysicalConnectionRequirements), and a jdbc connection the JDBC URL (JDBC_CONNECTION_URL) and the Secrets Manager secret holding its credentials (SECRET_ID: manifestc writes no password into a template). Every environment that deploys the workflow needs all of them, on the connection or under `environments[].glue.connections.<name>`. `jdbc_url`, `secret` and `secret_key` belong to jdbc connections only; `secret_key` is the key of `secret`.",
    ),
    "MC361": _e(
        "per-environment glue argument without a default",
        "`environments[].glue.arguments.<job>` overrides values of the job's `arguments` in that environment. Every environment runs one job definition with the same argument names, so an argument an environment sets needs a default in the job's `arguments` (the value the other environments use).",
    ),
    "MC362": _e(
        "glue job dependency not usable",
        "A job's `dependencies` are files of the build artifact uploaded with its scripts and passed to Glue: .py and .zip as --extra-py-files, .whl as --additional-python-modules (Glue 2.0+; --extra-py-files for Python shell jobs), .jar as --extra-jars (Spark). Setting that Glue parameter in `arguments` too would drop one of the two lists; a Scala job takes no Python files, a Python shell job no jars, and ray jobs take modules through their own parameters.",
    ),
    "MC365": _e(
        "glue database named twice",
        "`glue.database` and `glue.databases` create one Glue database each per environment; a name given twice would be two resources creating one database.",
    ),
    "MC285": _e(
        "glue smoke test in another account",
        "`glue.smoke_test` runs the workflow from a CodeBuild project in the pipeline's (tooling) account, which starts and watches it with its own credentials: a glue environment in another account would have its run started in the wrong account. Turn `smoke_test` off for that environment (`environments[].glue.smoke_test: false`) or the pipeline (run the workflow from a test suite that assumes a role in the target account), or keep the glue environments in the pipeline's account.",
    ),
    "MC286": _e(
        "own glue scripts bucket in another account",
        "A glue environment in another account reads its job scripts from the tooling account: manifestc grants that account's job role read on the artifact bucket (bucket policy) and decrypt on the artifact key (key policy, through S3 only). A `glue.scripts_bucket` of your own has policies manifestc does not write, so the job role could not read the scripts. Drop `scripts_bucket`, or keep the glue environments in the pipeline's account.",
    ),
    "MC287": _e(
        "two environments write one glue output",
        "Every environment deploys the same Glue jobs in its own stack. A job output (an argument listed in `outputs`, or Glue's `--TempDir` / `--spark-event-logs-path`) without `{environment}` is then written by every environment: dev's scheduled and smoke runs overwrite prod's data, and prod's job role cannot decrypt what dev's key encrypted. Put `{environment}` in the path (`s3://acme-curated/{environment}/denormalized/`); each environment's stack renders it, in the job argument and in the job role's grants.",
    ),
    "MC288": _e(
        "reserved pipeline name",
        "`manifestc-factory` is the name of the factory stack (`manifestc factory`), whose roles (under /manifestc/manifestc-factory/) are the only manifestc roles the artifact buckets let write the self-update toolchain. A pipeline of that name would get the same exception. Choose another name.",
    ),
    "MC289": _e(
        "deploy under manifestc's prefix",
        "An s3 target's prefix or a Glue job output has a `_manifestc/` path segment (at the top of its bucket, where manifestc keeps the self-update toolchain (`_manifestc/toolchain/<version>/`) that pipelines install and run, and the factory its templates, or at any depth: the permissions boundary denies object writes to such keys everywhere, since IAM wildcards cannot anchor the deny to the top). A deploy there could replace the code other pipelines run, or would fail with AccessDenied. Deploy under another prefix.",
    ),
    "MC290": _e(
        "too many resources",
        "CloudFormation accepts at most 500 resources in one template. Every test suite, quality gate and Lambda deploy job is a CodeBuild project with its own role and log group (and report groups), so a pipeline with very many of them cannot be one stack. Split the pipeline into several manifests or merge suites. `validate` counts a lower bound from the manifest; `build` counts the emitted template (MC652).",
    ),
    "MC291": _e(
        "image build without an image",
        'An ecs or lambda image target (or build.image_repository) makes the build tag `$IMAGE_URI:latest` with the commit and push it. Outside the docker preset, your build commands must build that image: `docker build -t "$IMAGE_URI:latest" .` (with build.privileged: true), or use `language: docker`.',
    ),
    "MC292": _e(
        "tags and paths combined",
        "With source.tags the pipeline starts on pushes of matching tags only (a V2 trigger with a tag filter); source.paths and source.exclude_paths filter branch pushes, which such a pipeline does not start on. Drop one of them.",
    ),
    "MC295": _e(
        "portfolio names collide",
        "Two manifests built together name portfolios that differ only in case, spaces or punctuation (`Platform pipelines` and `platform-pipelines`). They would become one shared portfolio, so one team's principals and shares would apply to the other's products. Spell the same portfolio the same way everywhere, or give the two portfolios clearly different names.",
    ),
    "MC296": _e(
        "feature branches on this host",
        "Feature-branch builds are a CodeBuild project with a webhook, which needs the repository's clone URL. manifestc knows it for github.com, gitlab.com and bitbucket.org only; for GitHub Enterprise Server or self-managed GitLab, remove `feature_branches` (the pipeline itself works) or build feature branches separately.",
    ),
    "MC297": _e(
        "CloudFormation dynamic reference",
        "A manifest string contains `{{resolve:ssm:...}}`, `{{resolve:ssm-secure:...}}` or `{{resolve:secretsmanager:...}}`. Every manifest string ends up in a CloudFormation template (tags, plaintext environment variables, images, buildspec commands, descriptions, parameter overrides, script paths), where CloudFormation resolves the reference when the stack is deployed, with the deployer's credentials, and stores the value in plain text. Secrets a build needs go in `build.secrets` (`secretsmanager:<name>[:<json-key>]` or `ssm:<parameter path>`), which CodeBuild resolves at build time with the build role; for other values, write the value.",
    ),
    "MC310": _e(
        "invalid schedule expression",
        '`source.schedule` becomes the ScheduleExpression of an EventBridge rule, which accepts `rate(value unit)` (a positive whole number; minute, hour, day for 1, minutes, hours, days above) or `cron(Minutes Hours Day-of-month Month Day-of-week Year)` in UTC with one of day-of-month and day-of-week `?` (EventBridge User Guide, "Creating a rule that runs on a schedule"). Write one of these, e.g. `cron(0 2 * * ? *)` for 02:00 UTC every day.',
    ),
    "MC311": _e(
        "push filter on a manual pipeline",
        "`source.trigger: manual` starts the pipeline on no push (no V2 trigger, no EventBridge push rule, DetectChanges false), so `paths`, `exclude_paths`, `tags`, `branches` and `exclude_branches`, which choose the pushes that start it, would do nothing. Remove them, or drop `trigger: manual`.",
    ),
    "MC312": _e(
        "branch filter the trigger cannot apply",
        "`source.exclude_branches` removes branches from the branch globs of the pipeline's V2 push trigger (`Branches.Excludes`): it needs `branches` with at least one glob to exclude from, and cannot go with `tags` (a tag trigger has no branch filter); `branches` cannot go with `tags` either. Give `branches` globs, or drop the excludes.",
    ),
    "MC313": _e(
        "pipeline variable name taken",
        "Each pipeline variable reaches builds and tests as an environment variable of the same name, which overrides the project's: a name that is already a `build.env` variable, a `build.secrets` or `environments[].secrets` name, or one CodeBuild or the AWS CLI sets or reads (CODEBUILD_*, AWS_*, PATH, HOME) would silently replace it. Choose another name.",
    ),
    "MC314": _e(
        "too many pipeline variables",
        "Every build and test action receives the pipeline variables in one `EnvironmentVariables` configuration value, which CodePipeline limits to 1000 characters (CodePipeline quotas). Declare fewer variables or shorter names.",
    ),
    "MC315": _e(
        "pull-request builds need a known git host",
        "Pull-request builds are a CodeBuild project outside the pipeline: started by an EventBridge rule on CodeCommit pull requests, or by a CodeBuild webhook for GitHub, GitLab or Bitbucket, which needs the repository's clone URL (known for github.com, gitlab.com and bitbucket.org). An s3 source has no pull requests; for GitHub Enterprise Server or self-managed GitLab, remove `pull_requests`.",
    ),
    "MC316": _e(
        "comment approval on CodeCommit",
        "`source.pull_requests.approval` is the CodeBuild webhook's pull-request comment approval (which pull requests wait for a maintainer's `/codebuild_run(<sha>)` comment), for GitHub, GitLab and Bitbucket. CodeCommit has no forks: its pull requests come from people allowed to push to the repository, and the EventBridge rule builds them all. Remove `approval`.",
    ),
    "MC340": _e(
        "cdk target without a CDK build",
        "A `cdk` target deploys the stacks of the cloud assembly that `cdk synth` writes (cdk.out/<stack>.template.json, <stack>.assets.json and the asset directories): the build artifact must be that directory. Use `language: cdk` (which runs `npx cdk synth --no-lookups` and makes cdk.out the artifact), or set `build.artifacts.base_directory` to the directory your own commands synthesize into.",
    ),
    "MC341": _e(
        "CDK stack name invalid",
        "Each entry of a cdk target's `stacks` is the construct id of a stack at the root of the CDK app, which names its template in the cloud assembly (cdk.out/<id>.template.json) and the CloudFormation stack deployed. Rendered for every environment and region, it must be a CloudFormation stack name: a letter, then letters, digits and hyphens, at most 128 characters. Stacks inside a CDK Stage live in a nested assembly (cdk.out/assembly-<stage>/), which cdk targets do not deploy yet.",
    ),
    "MC342": _e(
        "CDK stack listed twice",
        "A cdk target's `stacks` is the list of stacks each environment deploys, in order; a stack listed twice would be deployed twice in one stage. List it once.",
    ),
    "MC343": _e(
        "cdk target with a batch build",
        "build.matrix and build.batch are CodeBuild batches whose builds' artifacts are combined into one ZIP (\"CodeBuild will combine the primary artifacts of all the builds into one single ZIP file\", CodeBuild User Guide), in a layout CodeBuild does not document, so there is no single cloud assembly at the artifact's root to deploy. Synthesize once: drop the matrix or batch, or run the combinations as test suites.",
    ),
    "MC344": _e(
        "CDK stack names an unknown region",
        "A cdk stack with `{region}` is rendered per region into the template's file name, cdk.out/<stack>.template.json, which the CloudFormation action reads from the artifact and CodePipeline does not resolve: the region must be known when the pipeline is compiled. Set the top-level `region` or the environment's `regions`.",
    ),
    "MC345": _e(
        "template outside the cloud assembly",
        "With `language: cdk` the build artifact is the cloud assembly (base directory cdk.out), and a cloudformation or servicecatalog target reads its `template` from the artifact: a template of the source tree (deploy/extra.yaml) is not there, so the deploy (and a preview) would fail to find it. Deploy the synthesized stacks with a `cdk` target, name a template `cdk synth` writes (<Stack>.template.json), set `package: true` (the build writes the packaged template into the artifact), or copy the file into cdk.out in build.post_build (`cp deploy/extra.yaml cdk.out/deploy/extra.yaml`: a build command naming cdk.out/<template> satisfies this check).",
    ),
    "MC346": _e(
        "target reads a file of a combined batch artifact",
        "build.matrix and build.batch combine their builds' primary artifacts into one ZIP (CodePipeline CombineArtifacts; CodeBuild User Guide: \"CodeBuild will combine the primary artifacts of all the builds into one single ZIP file\"), and AWS does not document where each build's files are in it, so a target that reads a named file of the artifact (a stack or product template, imagedefinitions-<target>.json, a Step Functions input file, a code archive) cannot be given its path. Build what the target deploys without a batch (run the combinations as test suites), or deploy the whole artifact (an s3 or commands target).",
    ),
    "MC347": _e(
        "cdk assets from npm in a private build",
        "A cdk target's asset job runs `npx --yes cdk-assets@<version>`, which downloads cdk-assets from registry.npmjs.org when it runs. For an environment in the pipeline's account that job runs in the build VPC, which without internet egress reaches only its VPC endpoints. Set build.packages.codeartifact to an npm repository with an external connection to public:npmjs (the job logs in with --tool npm), or declare the subnets' NAT with network.egress [{port: 443, cidr: 0.0.0.0/0}].",
    ),
    "MC370": _e(
        "build report groups",
        "`build.reports` and `build.coverage` are report files the build's own commands write; they get the report groups `<name>-build-tests` and `<name>-build-coverage`, named like a suite's (`<name>-<suite>-tests`). A test suite named `build` would own groups of the same names, and `build.report_format` describes `build.reports`, so it needs them. Rename the suite, or add the report files.",
    ),
    "MC371": _e(
        "not on a Windows build",
        "`build.os: windows-2019`/`windows-2022` runs the build (and its suites, feature and pull-request builds) in a Windows Server Core container, x86_64, `medium` or `large` on demand; `windows-2022` has no on-demand compute and needs `build.fleet` (a reserved-capacity fleet). Its commands run in PowerShell, so what manifestc writes as bash or runs with docker is refused there: image pushes (the docker preset, image targets, `build.image_repository`, `privileged`), `aws cloudformation package` (lambda template targets, `package: true`), the preset's Linux cache paths (`cache` without `build.buildspec`), and commands targets without their own `image`. Quality gates run on the preset's Linux image, so they need a `language`. An image listed in schemas/images.yaml must match `build.os`. Move the refused part to a Linux pipeline, or follow the hint.",
    ),
    "MC372": _e(
        "secondary artifacts",
        "`build.secondary_artifacts` are further output artifacts of the build action besides the primary `BuildOutput`: a CodeBuild action has at most 5 output artifacts (CodePipeline User Guide, \"Valid input and output artifacts for each action type\"), so at most 4 entries; each name is unique in the pipeline (not `Source`, `BuildOutput`, `SelfUpdate`, `GlueTemplate`). The generated buildspec writes them (`files` required); with `build.buildspec` the file's `secondary-artifacts` section does (give only `name`). A matrix or batch build combines its builds' output into the primary artifact, so it cannot have them.",
    ),
    "MC373": _e(
        "target build artifact",
        "`targets[].build_artifact` names a `build.secondary_artifacts` entry the target deploys from (cloudformation, s3, commands, lambda zip, codedeploy and elasticbeanstalk targets: a CodeDeploy revision or Beanstalk source bundle of its own). Targets whose files the generated buildspec writes into the primary artifact (ecs, image and packaged targets) or that deploy something else (glue, invokes) read the primary artifact. Fix the name, or drop the field.",
    ),
    "MC374": _e(
        "heterogeneous batch",
        "`build.batch` makes the build a CodeBuild batch of the listed builds (buildspec `batch` `build-list`, or `build-graph` with `depends_on`), each on its own image, size and arch, with its own variables or buildspec file. The names are unique identifiers; `depends_on` names other builds of the batch, without cycles; a size must exist on the arch (`small`/`large` on arm64); a curated image must match the arch; a private ECR image only as `build.image` (the project pulls it with its role); at most 100 builds. Not with `build.matrix` (one batch per project), `build.buildspec` (its own `batch` section), `build.exports` (each build has its own values) or a Windows build.",
    ),
    "MC375": _e(
        "suite image",
        "`tests[].image`, `compute` and `arch` give a suite its own CodeBuild image and size (the suite's project only). The size must exist on the suite's arch; a curated image of schemas/images.yaml must match the arch and, for a pinned preset runtime, ship it; a Windows image only on the build's own Windows platform (`build.os`). Feature-branch and pull-request builds run the chosen suites' commands on the build's image, so such a suite cannot be in `feature_branches.tests`/`pull_requests.tests` (list the others); Glue pipelines' suites run on the Glue image.",
    ),
    "MC675": _e(
        "pull-request project holds a secret",
        "Readiness check over the rendered pipeline.yaml: a CodeBuild project started by pull requests (a PULL_REQUEST_* webhook event, or an EventBridge rule on CodeCommit pull requests) resolves an environment variable from Secrets Manager or Parameter Store. Pull requests run code nobody has reviewed yet, perhaps from a fork, which could print or send the secret. manifestc never emits this; it is a bug, please report it.",
    ),
    "MC676": _e(
        "pull-request project has grants",
        "Readiness check over the rendered pipeline.yaml: the role of a project started by pull requests allows an action beyond reading the source, its dependencies and image, writing its logs, reports and cache, and running in the build VPC, or has a managed policy. Unreviewed code would run with those rights. manifestc never emits this; it is a bug, please report it.",
    ),
    "MC677": _e(
        "pull-request project writes pipeline artifacts",
        "Readiness check over the rendered pipeline.yaml: the role of a project started by pull requests may write artifact-bucket objects outside `cache/` and `reports/`, where the pipeline keeps the artifacts its deploy actions read; unreviewed code could replace what deploys. manifestc never emits this; it is a bug, please report it.",
    ),
    "MC682": _w(
        "CDK build nothing deploys",
        "`language: cdk` synthesizes the app into a cloud assembly, the build artifact, but no `cdk` target deploys its stacks. Add a target `type: cdk` with `stacks:`, or use another language preset if the pipeline deploys the app another way (a `commands` target running `cdk deploy` needs the source tree, not cdk.out).",
    ),
    "MC685": _w(
        "service changes do not start its pipeline",
        "The manifest builds the service in `build.directory`, but no `source.paths` glob can match a file under that directory (or a `source.exclude_paths` glob excludes all of it), so a push that changes the service does not start its pipeline. Add `<directory>/**` to `source.paths`, or exclude only parts of the directory.",
    ),
    "MC686": _w(
        "manifest changes do not start the pipeline",
        "With self-update, the pipeline recompiles itself from the manifest at `regenerate.path` on every run. When `source.paths` does not match that file (or `source.exclude_paths` does), a push that changes only the manifest starts no run, so the change reaches the pipeline only with the next push to the service's files. Add the manifest's path to `source.paths` (a service's manifest inside its directory is covered by `<directory>/**`).",
    ),
    "MC298": _e(
        "no CodePipeline in this partition",
        "The pipeline's region or an environment's region is a China region (cn-north-1, cn-northwest-1). AWS CodePipeline is not available in the Beijing and Ningxia Regions (Getting Started with Amazon Web Services in China, Amazon CodeBuild), and accounts of the China partition cannot be reached from the others, so the pipeline could neither be deployed there nor deploy there. Use a region of the aws or aws-us-gov partition.",
    ),
    "MC301": _e(
        "internal compiler error",
        "The compiler failed while emitting CloudFormation for a manifest that passed validation. This is a manifestc bug; please report it with the manifest.",
    ),
    "MC630": _e(
        "private build reaches a public host (readiness)",
        "Readiness check over the emitted buildspecs: a CodeBuild project in a VPC whose build security group has no internet egress runs a command that reaches a public host (tools -> hosts table in reach.py) that no CodeArtifact login of its buildspec stands in for. It would time out on its first run. Located in the emitted file; the message names the project, the phase and the command.",
    ),
    "MC631": _e(
        "install before the registry login (readiness)",
        "Readiness check over the emitted buildspecs: a dependency install runs before the `aws codeartifact login` of the same buildspec, so it goes to the public registry (and times out in a private build). The login must come first in `install`.",
    ),
    "MC632": _e(
        "AWS call without its VPC endpoint (readiness)",
        "Readiness check over the emitted buildspecs: a private build calls an AWS service (`aws <service> ...`) whose interface endpoint the VPC does not get. Add it to network.endpoints, or use endpoints: auto.",
    ),
    "MC640": _e(
        "two deploy actions write to the same resource",
        "Readiness check 3, over the rendered pipeline: two deploy actions in one account and region write to the same CloudFormation stack, ECS service, Lambda function, S3 bucket prefix (one inside the other) or Glue database, so one environment overwrites another's resource. Give each environment its own resource with {environment} in the target's field.",
    ),
    "MC641": _e(
        "two manifests deploy the same resource",
        "Readiness check 3, across the manifests built together: two pipelines deploy the same stack, ECS service, Lambda function, S3 prefix or Glue database in one account and region, and would overwrite each other. Reported at both pipelines, and neither is written; a manifest skipped as unchanged is compared through the `deploys` record of its build.json. Manifests without a top-level `account` or `region` are taken to deploy to the same (deploying) account and region. Rename the resource in one of them.",
    ),
    "MC642": _e(
        "lifecycle rule expires live objects",
        "Readiness check 4: a bucket lifecycle rule expires current objects under a prefix that a deployed resource keeps reading (Glue job scripts, packaged Lambda code). The job or a rollback would fail once the rule deletes them. Expire current objects only under transient prefixes (pipeline artifacts, caches) and only old versions elsewhere.",
    ),
    "MC643": _e(
        "Glue job cannot read its script",
        "Readiness check 1 for Glue jobs: the job's role lacks s3:GetObject on the scripts prefix or kms:Decrypt on the key the scripts bucket encrypts them with, so every run would fail with Access Denied. Grant both to the job role.",
    ),
    "MC650": _e(
        "reader cannot decrypt",
        "A role reads objects of a KMS-encrypted bucket (or publishes to a KMS-encrypted topic) but is not allowed to use the key: S3 and SNS call KMS with the caller's permissions, so the read fails with AccessDenied at run time. Across accounts both the role's policy and the key policy must allow it. This is a manifestc bug; please report it with the manifest.",
    ),
    "MC660": _e(
        "environment secret outside its environment",
        "A secret that only environments[].secrets declare is held (as a project environment variable) or readable (in a role or managed policy) by something other than the test suites running after that environment's deploy. Environment secrets must never reach the build, the gates or another environment's actions. This is a manifestc bug; please report it with the manifest.",
    ),
    "MC600": _e(
        "toolchain installed from an index",
        "A build that runs manifestc (the self-update Recompile, the glue template build) must install it only from its hash-pinned wheelhouse: `pip --isolated install --no-index --require-hashes`, nothing fetched from a package index, a VCS or a URL. Otherwise whoever controls that source controls what the self-update role deploys.",
    ),
    "MC601": _e(
        "toolchain not isolated from the checkout",
        "A build that runs manifestc must install it in a fresh directory outside the checkout and run it as `venv/bin/python -I -m manifestc` (no module of the repository importable), compiling into a fresh directory (`manifestc recompile`), never reading an output directory committed to the repository.",
    ),
    "MC602": _e(
        "toolchain writable by the pipeline",
        "The toolchain is read from the artifact bucket, but the bucket policy does not deny the pipeline's roles writes under `_manifestc/toolchain/`: a build a committer scripts could replace it.",
    ),
    "MC651": _e(
        "template too large",
        "An emitted template is larger than AWS accepts: 1 MB for a template CloudFormation reads from S3, about 512 KB for one a CodePipeline CloudFormation action deploys (the pipeline stack under self-update, glue.yaml). Split the pipeline into several manifests. (Templates over 51,200 bytes are fine; they are deployed with --s3-bucket, see `manifestc deploy-plan`.)",
    ),
    "MC652": _e(
        "too many resources, parameters or outputs",
        "An emitted template declares more than CloudFormation allows: 500 resources, 200 parameters, 200 outputs. Split the pipeline into several manifests.",
    ),
    "MC653": _e(
        "description too long",
        "A template description may be at most 1,024 bytes; manifestc prefixes yours with the compiler version and the manifest file. Shorten `description`.",
    ),
    "MC654": _e(
        "too many stages or actions",
        "CodePipeline allows at most 50 stages in a pipeline and 50 actions in a stage. Each target and region of an environment is one or two actions, each test suite one; spread them over more environments or manifests.",
    ),
    "MC655": _e(
        "action configuration value too long",
        "CodePipeline limits each action configuration value (ParameterOverrides of a CloudFormation action, EnvironmentVariables of a CodeBuild action) to 1,000 characters. Pass fewer or shorter stack parameters: template defaults or SSM parameters keep long values out of the pipeline.",
    ),
    "MC656": _e(
        "buildspec too long",
        "CodeBuild rejects an inline buildspec longer than 25,600 characters. Move long command lists into a script in the repository and call it.",
    ),
    "MC657": _e(
        "IAM policy too large",
        "IAM limits the inline policies of a role to 10,240 characters together and a managed policy to 6,144 (white space not counted). The role is granted too many separate resources; split the pipeline.",
    ),
    "MC658": _e(
        "too many actions on a Glue trigger",
        "An AWS Glue trigger starts at most 50 jobs and crawlers. Nodes with the same `after` share one trigger; give some of them a different `after`.",
    ),
    "MC665": _e(
        "variable read before its action runs",
        "Readiness check (variables): an action's configuration reads #{Namespace.NAME}, but no action of the rendered pipeline declares that namespace, or the one that does runs at the same time or later (same stage, same or later run order; or a later stage). CodePipeline resolves a variable only from an action that already ran. The manifest's references are checked as MC238/MC239 first, so this finding is a compiler bug: please report it.",
    ),
    "MC666": _e(
        "namespace declared twice",
        "Readiness check (variables): two actions of the rendered pipeline declare the same variable namespace; CodePipeline requires namespaces to be unique in a pipeline. A compiler bug: please report it.",
    ),
    "MC667": _e(
        "CodeBuild variable not exported",
        "Readiness check (variables): an action reads #{Namespace.NAME} of a CodeBuild action whose buildspec does not list NAME in env.exported-variables, so the variable never exists. List it in build.exports or the commands target's exports.",
    ),
    "MC355": _e(
        "previews cannot deploy there",
        "`source.feature_branches.deploy_to` names the environment beside which every matching branch deploys its own stacks (`<name>-preview-<branch-slug>-<target>`). It must be an environment of the manifest, in the pipeline's own account and region (the feature-branch project deploys with the pipeline account's credentials), with at least one cloudformation target.",
    ),
    "MC356": _e(
        "target cannot be previewed",
        "A preview deploys each cloudformation target of the `deploy_to` environment with `aws cloudformation deploy` through an execution role limited to preview stacks. A target with its own `execution_role` (not limited to previews), `package: true`, a `template_configuration` file or a `#{...}` variable in its `parameters` (only pipeline actions resolve those) cannot be deployed that way: use `execution_policies`, and a template the build writes.",
    ),
    "MC357": _e(
        "environment stack under an ephemeral prefix",
        "Feature-branch previews are named `<name>-preview-…` and test stacks `<name>-test-<suite>-…`; the projects that create and delete them may touch any stack with that prefix. An environment's stack named with it could be deleted by a feature branch or a test run: rename it.",
    ),
    "MC358": _e(
        "teardown event does not exist",
        "Previews are deleted when their branch goes: for CodeCommit on the EventBridge `referenceDeleted` event (`teardown: branch-deleted`); CodeBuild webhooks (GitHub, GitLab, Bitbucket) have no branch-deletion event, so codestar previews are deleted when the branch's pull request is merged or closed (`teardown: pull-request-closed`). `teardown` without `deploy_to` has nothing to delete.",
    ),
    "MC359": _e(
        "test stack not possible",
        "`tests[].ephemeral_stack` names a cloudformation target that the suite deploys as `<name>-test-<suite>-<build number>` from the build's output, tests against and deletes. The target must be a plain cloudformation target (no `execution_role`, no `package: true`, no `template_configuration`, no `#{...}` variable in `parameters`), the suite must run after the build, with its `commands` (not its own `buildspec`), in a pipeline without a `glue` workflow. Feature-branch and pull-request builds deploy no test stack, so such a suite cannot be named in their `tests`.",
    ),
    "MC393": _e(
        "previews beside an approval-gated environment",
        "Previews deploy unreviewed branches into the pipeline's own account, through an execution role with the previewed targets' `execution_policies` over that account. An environment with an `approval` in the same account could then be reached without the approval: a branch's template could name its resources, grant itself access to them (a Lambda permission on its function, say) or adopt them. Give every approval-gated environment its own `account` and run the pipeline, with its previews, from a preview or dev account.",
    ),
    "MC394": _e(
        "stack under another pipeline's ephemeral prefix",
        "Build-level check: pipeline `<name>`'s feature-branch previews are `<name>-preview-…` and its test stacks `<name>-test-<suite>-…`, and its feature, teardown and test builds may change or delete stacks with those prefixes. Another pipeline of the build whose name or stack starts with them (a pipeline `<name>-preview-tools`, say) would be within their reach; the `-preview-` and `-test-` infixes after a pipeline's name are reserved for it. Rename the pipeline or the stack.",
    ),
    "MC697": _w(
        "exclude_paths not applied to webhooks",
        "Feature-branch, pull-request and preview-teardown builds of a codestar source start from CodeBuild webhooks, filtered by `source.paths` (a FILE_PATH filter: a changed file's path matches). CodeBuild does not document how an excluding FILE_PATH filter treats an event that changes several files, so `exclude_paths` filters only the pipeline's own trigger: those builds also run when only excluded files change. List the service's directories in `paths` to filter them.",
    ),
    "MC687": _w(
        "previews with broad execution policies",
        "A preview deploys a feature branch's templates before anyone reviews them, through an execution role with the previewed targets' `execution_policies` (PowerUserAccess by default) in the pipeline's account. Whoever can push a matching branch can then have CloudFormation create any resource those policies allow (a function reading the account's secrets, say). The role cannot touch the pipeline's artifacts, the pipeline, its projects or any non-ephemeral stack, and the roles its stacks create carry the boundary; narrow `execution_policies` to the services the template uses.",
    ),
    "MC401": _e(
        "linter failed",
        "cfn-lint could not run on the emitted template. This is an environment or manifestc problem, not a manifest one.",
    ),
    "MC501": _e(
        "cannot write output", "The output directory or file cannot be written. Check permissions and free space."
    ),
    "MC502": _e(
        "duplicate pipeline name",
        "Two manifests built together have the same `name`; their outputs would overwrite each other in out/<name>/.",
    ),
}


def did_you_mean(name: str, known, otherwise: str | None = None) -> str | None:
    """The hint for an unknown name: the closest known one, else `otherwise`."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean `{close[0]}`?" if close else otherwise


def explain(code: str) -> str | None:
    """The long explanation of a diagnostic code, or None if the code is unknown."""
    info = CODES.get(code.upper())
    if info is None:
        return None
    return f"{code.upper()} ({info.severity.value}): {info.title}\n\n{info.explain}\n"


def has_errors(diagnostics: list[Diagnostic], strict: bool = False) -> bool:
    """True when the diagnostics fail a build (warnings count under `strict`)."""
    return any(d.is_error or (strict and d.severity is Severity.WARNING) for d in diagnostics)
