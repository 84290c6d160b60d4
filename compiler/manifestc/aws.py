"""AWS facts the compiler relies on, one table each, with the documentation page they come from.

Tests check emitted actions against ACTION_TYPES; nothing else in the compiler spells a provider,
a configuration key or a compute type.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionType:
    category: str
    owner: str
    provider: str
    version: str
    required: frozenset[str]
    optional: frozenset[str]


# CodePipeline action structure.
# Source: AWS CodePipeline User Guide, "Action structure reference"
#   https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference.html
#   CodeCommit: .../action-reference-CodeCommit.html (RepositoryName, BranchName, PollForSourceChanges,
#     OutputArtifactFormat); CodeBuild: .../action-reference-CodeBuild.html (ProjectName, PrimarySource,
#     BatchEnabled, CombineArtifacts, EnvironmentVariables); Manual approval: .../approvals-action-add.html
#     (NotificationArn, CustomData, ExternalEntityLink); CloudFormation:
#   https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/continuous-delivery-codepipeline-action-reference.html
ACTION_TYPES: dict[str, ActionType] = {
    "codecommit": ActionType(
        "Source",
        "AWS",
        "CodeCommit",
        "1",
        frozenset({"RepositoryName", "BranchName"}),
        frozenset({"PollForSourceChanges", "OutputArtifactFormat"}),
    ),
    # .../action-reference-CodestarConnectionSource.html
    "codestar": ActionType(
        "Source",
        "AWS",
        "CodeStarSourceConnection",
        "1",
        frozenset({"ConnectionArn", "FullRepositoryId", "BranchName"}),
        frozenset({"OutputArtifactFormat", "DetectChanges"}),
    ),
    # .../action-reference-S3.html
    "s3-source": ActionType(
        "Source",
        "AWS",
        "S3",
        "1",
        frozenset({"S3Bucket", "S3ObjectKey"}),
        frozenset({"PollForSourceChanges", "AllowOverrideForS3ObjectKey"}),
    ),
    # .../action-reference-ECS.html
    "ecs": ActionType(
        "Deploy",
        "AWS",
        "ECS",
        "1",
        frozenset({"ClusterName", "ServiceName"}),
        frozenset({"FileName", "DeploymentTimeout"}),
    ),
    # .../action-reference-S3Deploy.html
    "s3-deploy": ActionType(
        "Deploy",
        "AWS",
        "S3",
        "1",
        frozenset({"BucketName", "Extract"}),
        frozenset({"ObjectKey", "KMSEncryptionKeyARN", "CannedACL", "CacheControl"}),
    ),
    # .../action-reference-ECSbluegreen.html (Image<N>ArtifactName / Image<N>ContainerName, N = 1..4)
    "codedeploy-ecs": ActionType(
        "Deploy",
        "AWS",
        "CodeDeployToECS",
        "1",
        frozenset(
            {"ApplicationName", "DeploymentGroupName", "TaskDefinitionTemplateArtifact", "AppSpecTemplateArtifact"}
        ),
        frozenset({"TaskDefinitionTemplatePath", "AppSpecTemplatePath", "Image1ArtifactName", "Image1ContainerName"}),
    ),
    # .../action-reference-CodeDeploy.html (EC2/on-premises deployment groups; the input artifact is
    # the revision, appspec.yml at its root)
    "codedeploy": ActionType(
        "Deploy",
        "AWS",
        "CodeDeploy",
        "1",
        frozenset({"ApplicationName", "DeploymentGroupName"}),
        frozenset(),
    ),
    # .../action-reference-Beanstalk.html
    "elasticbeanstalk": ActionType(
        "Deploy",
        "AWS",
        "ElasticBeanstalk",
        "1",
        frozenset({"ApplicationName", "EnvironmentName"}),
        frozenset(),
    ),
    # .../action-reference-ServiceCatalog.html (TemplateFilePath, ProductVersionName, ProductType,
    # ProductId required; ProductVersionDescription optional)
    "servicecatalog": ActionType(
        "Deploy",
        "AWS",
        "ServiceCatalog",
        "1",
        frozenset({"TemplateFilePath", "ProductVersionName", "ProductType", "ProductId"}),
        frozenset({"ProductVersionDescription"}),
    ),
    # .../action-reference-StepFunctions.html (InputType Literal | FilePath)
    "stepfunctions": ActionType(
        "Invoke",
        "AWS",
        "StepFunctions",
        "1",
        frozenset({"StateMachineArn"}),
        frozenset({"ExecutionNamePrefix", "InputType", "Input"}),
    ),
    # .../action-reference-Lambda.html
    "lambda-invoke": ActionType(
        "Invoke",
        "AWS",
        "Lambda",
        "1",
        frozenset({"FunctionName"}),
        frozenset({"UserParameters"}),
    ),
    "codebuild": ActionType(
        "Build",
        "AWS",
        "CodeBuild",
        "1",
        frozenset({"ProjectName"}),
        frozenset({"PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables"}),
    ),
    "codebuild-test": ActionType(
        "Test",
        "AWS",
        "CodeBuild",
        "1",
        frozenset({"ProjectName"}),
        frozenset({"PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables"}),
    ),
    "manual-approval": ActionType(
        "Approval",
        "AWS",
        "Manual",
        "1",
        frozenset(),
        frozenset({"NotificationArn", "CustomData", "ExternalEntityLink"}),
    ),
    "cloudformation": ActionType(
        "Deploy",
        "AWS",
        "CloudFormation",
        "1",
        frozenset({"ActionMode", "StackName"}),
        frozenset(
            {
                "Capabilities",
                "ChangeSetName",
                "OutputFileName",
                "ParameterOverrides",
                "RoleArn",
                "TemplateConfiguration",
                "TemplatePath",
            }
        ),
    ),
}

# Stage-condition rules (CodePipeline User Guide, "Rule structure reference" and "VariableCheck":
#   https://docs.aws.amazon.com/codepipeline/latest/userguide/rule-reference-VariableCheck.html):
# category Rule, owner AWS, provider VariableCheck, version 1; configuration Variable, Value and
# Operator (EQ | CONTAINS | MATCHES | NE). An entry condition's result is FAIL or SKIP, and SKIP
# works only with the LambdaInvoke and VariableCheck rules; a SKIP condition cannot be overridden
# when a run starts ("Configure conditions for a stage",
#   https://docs.aws.amazon.com/codepipeline/latest/userguide/stage-conditions.html).
RULE_TYPES: dict[str, ActionType] = {
    "variable-check": ActionType(
        "Rule", "AWS", "VariableCheck", "1", frozenset({"Variable", "Value", "Operator"}), frozenset()
    ),
}
VARIABLE_CHECK_OPERATORS = ("EQ", "CONTAINS", "MATCHES", "NE")

# CloudFormation action modes that need a RoleArn (same page as above: "RoleArn ... Required if
# ActionMode is one of: CREATE_UPDATE, REPLACE_ON_FAILURE, DELETE_ONLY, CHANGE_SET_REPLACE").
CFN_MODES_NEEDING_ROLE = frozenset({"CREATE_UPDATE", "REPLACE_ON_FAILURE", "DELETE_ONLY", "CHANGE_SET_REPLACE"})


# Build sizes -> CodeBuild environment type and compute type, per architecture.
# Source: AWS CodeBuild User Guide, "Build environment compute modes and types"
#   https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-compute-types.html
# ARM_CONTAINER offers small and large on every Region that has it; GPU types are x86_64 only.
COMPUTE_TYPES: dict[tuple[str, str], tuple[str, str]] = {
    ("small", "x86_64"): ("LINUX_CONTAINER", "BUILD_GENERAL1_SMALL"),
    ("medium", "x86_64"): ("LINUX_CONTAINER", "BUILD_GENERAL1_MEDIUM"),
    ("large", "x86_64"): ("LINUX_CONTAINER", "BUILD_GENERAL1_LARGE"),
    ("xlarge", "x86_64"): ("LINUX_CONTAINER", "BUILD_GENERAL1_XLARGE"),
    ("2xlarge", "x86_64"): ("LINUX_CONTAINER", "BUILD_GENERAL1_2XLARGE"),
    ("gpu-small", "x86_64"): ("LINUX_GPU_CONTAINER", "BUILD_GENERAL1_SMALL"),
    ("gpu-large", "x86_64"): ("LINUX_GPU_CONTAINER", "BUILD_GENERAL1_LARGE"),
    ("small", "arm64"): ("ARM_CONTAINER", "BUILD_GENERAL1_SMALL"),
    ("large", "arm64"): ("ARM_CONTAINER", "BUILD_GENERAL1_LARGE"),
}

# Windows build containers (build.os): environment type, and the sizes with on-demand compute.
# Sources: CodeBuild API Reference, ProjectEnvironment `type` (WINDOWS_SERVER_2019_CONTAINER,
# WINDOWS_SERVER_2022_CONTAINER); CodeBuild User Guide, "Build environment compute modes and types"
# (on-demand Windows: BUILD_GENERAL1_MEDIUM and BUILD_GENERAL1_LARGE); AWS CDK
# aws_codebuild.WindowsImageType.SERVER_2022: "Cannot be used with on-demand compute, only with a
# fleet" (reserved capacity, CodeBuild User Guide "Run builds on reserved capacity fleets"), so a
# windows-2022 build needs build.fleet. Commands in Windows Server Core images run in PowerShell
# (CodeBuild User Guide, "Shells and commands in build environments").
WINDOWS_ENVIRONMENTS: dict[str, str] = {
    "windows-2019": "WINDOWS_SERVER_2019_CONTAINER",
    "windows-2022": "WINDOWS_SERVER_2022_CONTAINER",
}
WINDOWS_COMPUTE_TYPES: dict[str, str] = {"medium": "BUILD_GENERAL1_MEDIUM", "large": "BUILD_GENERAL1_LARGE"}
WINDOWS_NEEDS_FLEET = {"windows-2022"}

# Test and coverage report formats by file name ending.
# Source: AWS CodeBuild User Guide, "Working with test reporting" (supported report file formats)
#   https://docs.aws.amazon.com/codebuild/latest/userguide/report-group-test-reporting.html and
#   "Code coverage reports" https://docs.aws.amazon.com/codebuild/latest/userguide/code-coverage-report.html
REPORT_FORMAT_BY_SUFFIX: dict[str, str] = {
    ".trx": "VISUALSTUDIOTRX",
    ".json": "CUCUMBERJSON",
}
COVERAGE_FORMAT_BY_NAME: dict[str, str] = {
    "jacoco": "JACOCOXML",
    "clover": "CLOVERXML",
    "cobertura": "COBERTURAXML",
    "resultset.json": "SIMPLECOV",
    ".json": "SIMPLECOV",
}

# Generated name limits (AWS service quotas on names).
# CodeBuild project: 2-255 chars (https://docs.aws.amazon.com/codebuild/latest/APIReference/API_CreateProject.html);
# report group: 2-128 (API_CreateReportGroup); CloudFormation stack: 1-128, letter first, [A-Za-z0-9-]
# (API_CreateStack).
NAME_LIMITS: dict[str, int] = {
    "codebuild-project": 255,
    "report-group": 128,
    "stack": 128,
}

# CodeBuild batch builds: at most this many builds in one batch (BuildBatchConfig Restrictions,
# MaximumBuildsAllowed; https://docs.aws.amazon.com/codebuild/latest/userguide/batch-build.html).
MAX_BATCH_BUILDS = 100

# Log retention of build logs, days (a value CloudWatch Logs accepts: API_PutRetentionPolicy).
LOG_RETENTION_DAYS = 90
# Lifecycle of pipeline artifacts: current objects and noncurrent versions expire after these days.
# Current objects expire only under the transient prefixes below; live objects (Glue scripts,
# packaged Lambda code) keep their current version for as long as a stack references it.
ARTIFACT_EXPIRY_DAYS = 90
NONCURRENT_EXPIRY_DAYS = 30
# CodePipeline writes a pipeline's artifacts under a folder "based on the name of the pipeline"
# (CodePipeline API Reference, ArtifactStore.location), the name cut to 20 characters.
PIPELINE_ARTIFACT_FOLDER_CHARS = 20

# Target names after placeholders are rendered: the patterns AWS accepts.
# ECS CreateCluster/CreateService: up to 255 letters, digits, hyphens and underscores.
# Lambda CreateFunction FunctionName: 1-64 letters, digits, hyphens and underscores (name form).
# S3 bucket naming rules (S3 User Guide, "Bucket naming rules"): 3-63 lowercase letters, digits,
# dots and hyphens, starting and ending with a letter or digit.
# Glue CreateDatabase: up to 255 characters; Athena reads only lowercase letters, digits and
# underscores (Athena User Guide, "Name databases, tables, and columns").
RESOLVED_NAME_PATTERNS: dict[str, str] = {
    "cluster": r"^[A-Za-z0-9_-]{1,255}$",
    "service": r"^[A-Za-z0-9_-]{1,255}$",
    "function": r"^[A-Za-z0-9_-]{1,64}$",
    # Step Functions API Reference, CreateStateMachine: name 1-80 characters
    "state_machine": r"^[A-Za-z0-9_-]{1,80}$",
    "bucket": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    # Elastic Beanstalk API Reference, CreateEnvironment: EnvironmentName 4-40 letters, numbers and
    # hyphens, not starting or ending with a hyphen
    "beanstalk_environment": r"^[A-Za-z0-9](?:[A-Za-z0-9-]{2,38})[A-Za-z0-9]$",
    # Lambda API Reference, PublishLayerVersion: LayerName 1-140, [a-zA-Z0-9-_]+ (name form)
    "layer": r"^[A-Za-z0-9_-]{1,140}$",
    "database": r"^[a-z0-9_]{1,255}$",
}

# Glue job parameters with a fixed meaning whose values are S3 locations (AWS Glue Developer Guide,
# "Using job parameters in AWS Glue jobs"). The job only reads the first group (code and files it
# loads; comma-separated lists) and writes the second; any other s3:// argument is read-only unless
# the job lists it in `outputs`.
GLUE_READ_PARAMETERS = frozenset(
    {"--extra-py-files", "--extra-jars", "--extra-files", "--additional-python-modules", "--scriptLocation"}
)
GLUE_WRITE_PARAMETERS = frozenset({"--TempDir", "--spark-event-logs-path"})

# CodeStar Notifications event type ids for pipelines.
# Source: Developer Tools console User Guide, "Events for notification rules on pipelines"
#   https://docs.aws.amazon.com/dtconsole/latest/userguide/concepts.html#events-ref-pipeline
NOTIFICATION_EVENTS: dict[str, str] = {
    "started": "codepipeline-pipeline-pipeline-execution-started",
    "failed": "codepipeline-pipeline-pipeline-execution-failed",
    "succeeded": "codepipeline-pipeline-pipeline-execution-succeeded",
    "superseded": "codepipeline-pipeline-pipeline-execution-superseded",
    "approval-needed": "codepipeline-pipeline-manual-approval-needed",
}

# CodeBuild source types and clone URLs of the git hosts behind a CodeStar connection, for
# feature-branch projects. Source: CodeBuild API_ProjectSource ("type", "location") and
# "Use CodeConnections with CodeBuild" https://docs.aws.amazon.com/codebuild/latest/userguide/connections.html
GIT_HOSTS: dict[str, tuple[str, str]] = {
    "github": ("GITHUB", "https://github.com/{repository}.git"),
    "gitlab": ("GITLAB", "https://gitlab.com/{repository}.git"),
    "bitbucket": ("BITBUCKET", "https://bitbucket.org/{repository}.git"),
}


# Pull-request builds (source.pull_requests). Webhook events: CodeBuild User Guide, "Filter GitHub
# webhook events" (https://docs.aws.amazon.com/codebuild/latest/userguide/github-webhook-events.html;
# the same names for GitLab and Bitbucket). Comment approval: "Pull request comment approval"
# (https://docs.aws.amazon.com/codebuild/latest/userguide/pull-request-build-policy.html) and
# AWS::CodeBuild::Project PullRequestBuildPolicy RequiresCommentApproval. CodeCommit events:
# "CodeCommit events" in the EventBridge event reference (detail-type "CodeCommit Pull Request State
# Change"; detail.event, sourceCommit, destinationReference, pullRequestStatus, pullRequestId).
PULL_REQUEST_WEBHOOK_EVENTS = ("PULL_REQUEST_CREATED", "PULL_REQUEST_UPDATED", "PULL_REQUEST_REOPENED")
# Pull requests merged or closed without merging: the end of a codestar branch's previews. Both
# exist for GitHub, GitLab and Bitbucket (CodeBuild User Guide, "GitHub webhook events", "GitLab
# webhook events", "Bitbucket webhook events"; Bitbucket needs the `merged` and `declined` events
# enabled on its webhook). None of the three has a branch-deletion event.
PULL_REQUEST_CLOSED_WEBHOOK_EVENTS = ("PULL_REQUEST_MERGED", "PULL_REQUEST_CLOSED")
PULL_REQUEST_APPROVAL: dict[str, str] = {
    "forks": "FORK_PULL_REQUESTS",
    "all": "ALL_PULL_REQUESTS",
    "none": "DISABLED",
}
CODECOMMIT_PULL_REQUEST_EVENTS = ("pullRequestCreated", "pullRequestSourceBranchUpdated")


# EventBridge schedule expressions (source.schedule). Source: "Creating an Amazon EventBridge
# rule that runs on a schedule" https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html
# — `rate(value unit)`: a positive whole number and minute | minutes | hour | hours | day | days
# (singular for 1, plural above); `cron(...)` expressions (in UTC) are checked like Glue's
# (semantics.cron_problem).
SCHEDULE_RATE_UNITS: dict[str, str] = {"minute": "minutes", "hour": "hours", "day": "days"}


# VPC endpoint services builds may need, with their endpoint type.
# Source: "AWS services that integrate with AWS PrivateLink"
#   https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html
# and the CodeBuild guide "Use VPC endpoints" (logs, S3 and the services a build calls)
#   https://docs.aws.amazon.com/codebuild/latest/userguide/use-vpc-endpoints-with-codebuild.html
# Service names are com.amazonaws.<region>.<service>; S3 and DynamoDB are gateway endpoints.
ENDPOINT_SERVICES: dict[str, str] = {
    "s3": "Gateway",
    "dynamodb": "Gateway",
    "logs": "Interface",
    "sts": "Interface",
    "kms": "Interface",
    "secretsmanager": "Interface",
    "ssm": "Interface",
    "ecr.api": "Interface",
    "ecr.dkr": "Interface",
    "codeartifact.api": "Interface",
    "codeartifact.repositories": "Interface",
    "codecommit": "Interface",
    "git-codecommit": "Interface",
    "codebuild": "Interface",
    "codepipeline": "Interface",
    "cloudformation": "Interface",
    "lambda": "Interface",
    "ecs": "Interface",
    "glue": "Interface",
    "states": "Interface",
    "servicecatalog": "Interface",
    "sns": "Interface",
    "events": "Interface",
}

# EC2 actions CodeBuild needs to place a build in a VPC.
# Source: CodeBuild User Guide, "Allow CodeBuild access to AWS services required to create a VPC
# network interface" https://docs.aws.amazon.com/codebuild/latest/userguide/auth-and-access-control-iam-identity-based-access-control.html
# CreateNetworkInterface and DeleteNetworkInterface are scoped to network interfaces, the build
# subnets and security groups; the Describe actions have no resource-level scope.
VPC_DESCRIBE_ACTIONS = (
    "DescribeDhcpOptions",
    "DescribeNetworkInterfaces",
    "DescribeSubnets",
    "DescribeSecurityGroups",
    "DescribeVpcs",
)


# Glue job types: command name, Glue versions, worker types (per version where it matters).
# Source: AWS Glue Developer Guide, "Configuring job properties for Spark jobs" (worker types:
# G.1X, G.2X, G.4X/G.8X on 3.0+, G.025X streaming only), "Python shell jobs" (1.0, 3.0; capacity,
# no workers), "Ray jobs" (4.0, Z.2X), "Streaming ETL jobs"
#   https://docs.aws.amazon.com/glue/latest/dg/add-job.html
#   https://docs.aws.amazon.com/glue/latest/dg/add-job-python.html
#   https://docs.aws.amazon.com/glue/latest/dg/ray-jobs-section.html
GLUE_JOB_TYPES: dict[str, dict] = {
    "spark": {
        "command": "glueetl",
        "versions": ["2.0", "3.0", "4.0", "5.0"],
        "workers": {
            "2.0": ["G.1X", "G.2X"],
            "3.0": ["G.1X", "G.2X", "G.4X", "G.8X"],
            "4.0": ["G.1X", "G.2X", "G.4X", "G.8X"],
            "5.0": ["G.1X", "G.2X", "G.4X", "G.8X"],
        },
    },
    "streaming": {
        "command": "gluestreaming",
        "versions": ["2.0", "3.0", "4.0"],
        "workers": {
            "2.0": ["G.1X", "G.2X"],
            "3.0": ["G.025X", "G.1X", "G.2X", "G.4X", "G.8X"],
            "4.0": ["G.025X", "G.1X", "G.2X", "G.4X", "G.8X"],
        },
    },
    "pythonshell": {"command": "pythonshell", "versions": ["1.0", "3.0"], "workers": {}},
    "ray": {"command": "glueray", "versions": ["4.0"], "workers": {"4.0": ["Z.2X"]}},
}

# AWS Glue libraries images for local and CI unit tests, by Glue version.
# Source: AWS Glue Developer Guide, "Developing and testing AWS Glue job scripts locally"
#   https://docs.aws.amazon.com/glue/latest/dg/develop-local-docker-image.html (and the
#   public.ecr.aws/glue/aws-glue-libs gallery page)
GLUE_LIBS_IMAGES: dict[str, str] = {
    "2.0": "public.ecr.aws/glue/aws-glue-libs:glue_libs_2.0.0_image_01",
    "3.0": "public.ecr.aws/glue/aws-glue-libs:glue_libs_3.0.0_image_01",
    "4.0": "public.ecr.aws/glue/aws-glue-libs:glue_libs_4.0.0_image_01",
    "5.0": "public.ecr.aws/glue/aws-glue-libs:5",
}


@dataclass(frozen=True)
class Quota:
    """A fixed AWS limit a template or its contents must meet (checked at compile time)."""

    limit: int
    unit: str
    what: str
    source: str


# The quotas the readiness check `check/quotas.py` (and the resource estimate in semantics) hold
# the emitted templates to. One table; each row names its AWS page.
_CFN_QUOTAS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
_PIPELINE_QUOTAS = "https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html"
_IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
QUOTAS: dict[str, Quota] = {
    # CloudFormation quotas page: "Template body size in a request" (CreateStack/UpdateStack with
    # --template-body; `aws cloudformation deploy` needs --s3-bucket above it): not an error, it
    # decides how a template is deployed (`manifestc deploy-plan`).
    "template-body": Quota(51_200, "bytes", "template body passed in a request", _CFN_QUOTAS),
    # "Template body size in an Amazon S3 object": 1 MB (cfn-lint's LIMITS use 1,000,000).
    "template-s3": Quota(1_000_000, "bytes", "template in an S3 object", _CFN_QUOTAS),
    # CodePipeline's CloudFormation action reads the template from its input artifact and accepts
    # at most 512 KB (AWS CloudFormation coverage roadmap issue #1023, "Cloudformation Action in
    # Codepipeline only allows 512KB template"); kept under 512,000 bytes.
    "pipeline-action-template": Quota(
        512_000,
        "bytes",
        "template deployed by a CodePipeline CloudFormation action",
        "https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1023",
    ),
    "resources": Quota(500, "resources", "resources in a template", _CFN_QUOTAS),
    "parameters": Quota(200, "parameters", "parameters in a template", _CFN_QUOTAS),
    "outputs": Quota(200, "outputs", "outputs in a template", _CFN_QUOTAS),
    "description": Quota(1_024, "bytes", "template description", _CFN_QUOTAS),
    # CodePipeline quotas page: "Number of stages in a pipeline: minimum of 2, maximum of 50",
    # "Number of actions in a stage: minimum of 1, maximum of 50".
    "stages": Quota(50, "stages", "stages in a pipeline", _PIPELINE_QUOTAS),
    "actions-per-stage": Quota(50, "actions", "actions in a stage", _PIPELINE_QUOTAS),
    # CodePipeline API Reference, ActionDeclaration: runOrder is an ActionRunOrder, an integer of 1..999
    # (the API model's shape: botocore data/codepipeline/2015-07-09/service-2.json, "ActionRunOrder").
    "run-order": Quota(
        999,
        "run orders",
        "run order of an action in its stage",
        "https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ActionDeclaration.html",
    ),
    # "Maximum size of the JSON object that can be stored in the ParameterOverrides property:
    # 1 kilobyte"; AWS confirmed a 1000-character limit for every action configuration field
    # (awsdocs/aws-codepipeline-user-guide issue #24).
    "action-configuration-value": Quota(
        1_000, "characters", "action configuration value (ParameterOverrides, EnvironmentVariables)", _PIPELINE_QUOTAS
    ),
    # CodeBuild rejects an inline buildspec over 25,600 characters (undocumented in the quotas page;
    # found by the AWS CDK team: aws/aws-cdk pull request #14974, "assets buildspec can exceed 25k size limit").
    "buildspec": Quota(25_600, "characters", "inline buildspec", "https://github.com/aws/aws-cdk/pull/14974"),
    # IAM quotas page: "Role policy size cannot exceed 10,240 characters" (the aggregate of a role's
    # inline policies) and "Managed policy size cannot exceed 6,144 characters"; IAM does not count
    # white space.
    "role-inline-policies": Quota(10_240, "characters", "inline policies of one role, together", _IAM_QUOTAS),
    "managed-policy": Quota(6_144, "characters", "managed policy", _IAM_QUOTAS),
    # AWS Glue endpoints and quotas: "Maximum jobs per trigger: 50".
    "glue-trigger-actions": Quota(
        50, "actions", "actions of a Glue trigger", "https://docs.aws.amazon.com/general/latest/gr/glue.html"
    ),
}
