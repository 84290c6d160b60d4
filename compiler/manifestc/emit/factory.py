"""The factory stack (`out/_shared/factory.yaml`): manifest commits become pipelines.

    EventBridge rule (CodeCommit `Repository State Change`, one per repository)
      -> FIFO SQS queue (message group per repository; dead-letter queue after 2 receives)
      -> EventBridge Pipe
      -> Step Functions state machine (`codebuild:startBuild.sync`; on failure: SNS, then fail)
      -> CodeBuild project: checkout, `manifestc validate`, `manifestc build` with the pinned
         toolchain, `aws cloudformation deploy` (a change set; CloudFormation rolls back on failure)

AWS facts this chain relies on, each from the page named:

- CodeCommit sends `CodeCommit Repository State Change` events (referenceCreated,
  referenceUpdated, with repositoryName, referenceName, commitId) directly to EventBridge; AWS
  CodeConnections sends only `GitSync ... Status Change` events, no push events (Amazon
  EventBridge Events Reference, "AWS CodeCommit events", "AWS CodeConnections events").
- An EventBridge rule's SQS FIFO target takes a fixed `MessageGroupId` (AWS::Events::Rule
  SqsParameters): a message group per repository needs a rule (target) per repository.
- CodeBuild is not an EventBridge Pipes target; Step Functions state machines are (Standard
  workflows: asynchronous invocation), and a batch reaches them as a JSON array (Amazon
  EventBridge User Guide, "Amazon EventBridge Pipes targets", "EventBridge Pipes target specifics").
- `arn:aws:states:::codebuild:startBuild.sync` waits for the build and needs events:PutTargets,
  PutRule and DescribeRule on the rule StepFunctionsGetEventsForCodeBuildRule (Step Functions
  Developer Guide, "Run AWS CodeBuild builds with Step Functions", "IAM policies for AWS CodeBuild").
- A pipe sends a Step Functions target its batch as one JSON array, even a batch of 1, each record
  shaped by the input template on its own (Amazon EventBridge User Guide, "Amazon EventBridge Pipes
  batching and concurrency"): the state machine maps over it.
- Messages whose receive count exceeds `maxReceiveCount` move to the dead-letter queue, which
  must be FIFO for a FIFO queue (Amazon SQS Developer Guide, "Using dead-letter queues").

Every role carries the factory's permissions boundary. The deploy role's permissions are the
handler permissions of every resource type a pipeline stack can contain (registry.py via selfupdate.template_permissions, scoped like a launch role's to the names
manifestc gives; tests/test_factory.py checks the type list against every example's templates).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    ArnNotLike,
    Condition,
    Deny,
    Principal,
    Statement,
    StringEquals,
    StringLike,
    StringNotLike,
)
from troposphere import (
    Equals,
    GetAtt,
    Not,
    Output,
    Parameter,
    Ref,
    Sub,
    Tags,
    Template,
    cloudwatch,
    events,
    iam,
    kms,
    logs,
    pipes,
    sns,
    sqs,
    stepfunctions,
)
from troposphere import codebuild as cb

from .. import __version__
from ..factory import FactorySettings
from ..model import TOOLCHAIN_PREFIX
from ..schemas_data import presets
from ..toolchain import install_commands
from .context import Context
from .iam import allow, policy, service_trust
from .selfupdate import MANAGED_POLICY_LIMIT, split_statements, template_permissions

NAME = "manifestc-factory"
IAM_PATH = f"/manifestc/{NAME}/"
BOUNDARY = "FactoryBoundary"
PROJECT = NAME
STATE_MACHINE = NAME
PIPE = NAME
QUEUE = f"{NAME}.fifo"
DEAD_LETTER_QUEUE = f"{NAME}-dead-letter.fifo"
# the prefix of the factory bucket the build writes large templates under (`deploy --s3-bucket`)
TEMPLATE_PREFIX = "_manifestc/factory/"
REPOSITORY_TAG = "manifestc:repository"

# Every resource type a pipeline stack (`<name>/pipeline.yaml`) can contain: what the factory's
# CloudFormation role deploys. (Shared network stacks are deployed by a person, once per VPC.)
# Only the types; their permissions come from the registry schemas. tests/test_factory.py fails
# when an example's template holds a type missing here.
PIPELINE_STACK_TYPES = (
    "AWS::CodeBuild::Project",
    "AWS::CodeBuild::ReportGroup",
    "AWS::CodePipeline::Pipeline",
    "AWS::CodeStarNotifications::NotificationRule",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupIngress",
    "AWS::Events::Rule",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Role",
    "AWS::KMS::Alias",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
)


# --- the deploy role's permissions: template_permissions over a stand-in for "any pipeline" ------


@dataclass(frozen=True)
class _AnySource:
    provider: str = "codecommit"


@dataclass(frozen=True)
class _AnyPipeline:
    """The parts of a Manifest template_permissions reads, for every pipeline the factory may
    create: names starting with the pipeline prefix, CodeCommit sources, any VPC."""

    name: str
    source: _AnySource = _AnySource()
    network: None = None
    catalog: None = None


class _FactoryScope(Context):
    """Names of every pipeline the factory may deploy (launch-role style: `all_copies`), with the
    artifact bucket of a directly deployed pipeline (`<name[:16]>-<hash>-<account>-<region>`)."""

    def bucket_arn_pattern(self) -> str:
        return f"{self.name[:16]}*-${{AWS::AccountId}}-${{AWS::Region}}"


@dataclass
class _TypedResource:
    resource_type: str
    properties: dict

    @property
    def title(self) -> str:
        return self.resource_type.replace("::", "")


class _StackTypes:
    """What template_permissions reads from a template: its resources' types and, for managed
    policies, the principals they attach to (approvers: any user, group or role, and then only
    the pipelines' own policies, as the launch role allows)."""

    def __init__(self, types: tuple[str, ...]):
        self.resources = {
            t: _TypedResource(
                t, {"Users": ["*"], "Groups": ["*"], "Roles": ["*"]} if t == "AWS::IAM::ManagedPolicy" else {}
            )
            for t in types
        }


def deploy_statements(pipeline_prefix: str) -> list:
    """Every handler permission of PIPELINE_STACK_TYPES, scoped to pipelines named `<prefix>*`."""
    ctx = _FactoryScope(manifest=_AnyPipeline(pipeline_prefix), all_copies=True)  # type: ignore[arg-type]
    statements = template_permissions(ctx, _StackTypes(PIPELINE_STACK_TYPES), launch=True)
    # A private pipeline's stack opens its builds' way into the shared endpoint group of its VPC
    # (AWS::EC2::SecurityGroupIngress on the group network-<vpc>.yaml exports). The self-update
    # role names that group by its id; the factory cannot know every VPC's, so: the groups
    # manifestc tags, ingress rules only.
    statements.append(
        allow(
            [
                Action("ec2", a)
                for a in (
                    "AuthorizeSecurityGroupIngress",
                    "RevokeSecurityGroupIngress",
                    "UpdateSecurityGroupRuleDescriptionsIngress",
                )
            ],
            [_arn("ec2", "security-group/*")],
            Condition(StringEquals({"aws:ResourceTag/managed-by": "manifestc"})),
            sid="Ec2EndpointSecurityGroups",
        )
    )
    return statements


# --- the boundary ------------------------------------------------------------------------------


def _partition(text: str) -> Sub:
    return Sub("arn:${AWS::Partition}:" + text)


def boundary_document(pipeline_prefix: str):
    """The factory's roles' boundary, the pipeline boundary's rules (emit/iam.boundary_document)
    widened from one pipeline to every pipeline the factory creates: roles only with a pipeline's
    boundary, no boundary removal, no users or keys, only manifestc roles passed or assumed."""
    pipelines = f"{pipeline_prefix}*"
    boundaries = _partition(f"iam::${{AWS::AccountId}}:policy/manifestc/{pipelines}/{pipelines}-boundary")
    own_policies = _partition(f"iam::${{AWS::AccountId}}:policy/manifestc/{pipelines}/*")
    roles = [
        _partition(f"iam::${{AWS::AccountId}}:role/manifestc/{pipelines}/*"),
        _partition(f"iam::${{AWS::AccountId}}:role/manifestc-app/{pipelines}/*"),
        _partition(f"iam::${{AWS::AccountId}}:role{IAM_PATH}*"),
    ]
    iam_actions = lambda *names: [Action("iam", n) for n in names]  # noqa: E731 - local shorthand
    return policy(
        Statement(Sid="WithinBoundary", Effect=Allow, Action=[Action("*")], Resource=["*"]),
        Statement(
            Sid="OnlyBoundedRoles",
            Effect=Deny,
            Action=iam_actions("CreateRole", "DeleteRolePolicy", "PutRolePermissionsBoundary", "PutRolePolicy"),
            Resource=["*"],
            Condition=Condition(StringNotLike({"iam:PermissionsBoundary": boundaries})),
        ),
        Statement(
            Sid="AttachOnlyToBoundedRoles",
            Effect=Deny,
            Action=iam_actions("AttachRolePolicy", "DetachRolePolicy"),
            Resource=["*"],
            Condition=Condition(
                [StringNotLike({"iam:PermissionsBoundary": boundaries}), ArnNotLike({"iam:PolicyARN": own_policies})]
            ),
        ),
        Statement(
            Sid="BoundaryStays",
            Effect=Deny,
            Action=iam_actions("DeleteRolePermissionsBoundary", "DeleteUserPermissionsBoundary"),
            Resource=["*"],
        ),
        Statement(
            Sid="BoundaryIsNoGrant",
            Effect=Deny,
            Action=iam_actions("AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy"),
            Resource=["*"],
            Condition=Condition(ArnLike({"iam:PolicyARN": boundaries})),
        ),
        Statement(
            Sid="NoUserEscalation",
            Effect=Deny,
            Action=iam_actions(
                "AddUserToGroup",
                "CreateAccessKey",
                "CreateGroup",
                "CreateLoginProfile",
                "CreateUser",
                "PutGroupPolicy",
                "PutUserPermissionsBoundary",
                "PutUserPolicy",
                "UpdateAccessKey",
                "UpdateLoginProfile",
            ),
            Resource=["*"],
        ),
        Statement(
            Sid="AttachToUsersOnlyPipelinePolicies",
            Effect=Deny,
            Action=iam_actions("AttachGroupPolicy", "AttachUserPolicy"),
            Resource=["*"],
            Condition=Condition(ArnNotLike({"iam:PolicyARN": own_policies})),
        ),
        Statement(
            Sid="OtherRolesUntouched",
            Effect=Deny,
            Action=iam_actions("DeleteRole", "UpdateAssumeRolePolicy", "UpdateRole", "UpdateRoleDescription"),
            NotResource=roles,
        ),
        Statement(Sid="PassOnlyManifestcRoles", Effect=Deny, Action=iam_actions("PassRole"), NotResource=roles),
        Statement(Sid="AssumeOnlyManifestcRoles", Effect=Deny, Action=[Action("sts", "AssumeRole")], NotResource=roles),
        Statement(
            Sid="NoOrganizationChanges",
            Effect=Deny,
            Action=[Action("organizations", "*"), Action("account", "*")],
            Resource=["*"],
        ),
    )


# --- the build ---------------------------------------------------------------------------------

# The script the factory build runs, written to a file in the fresh toolchain directory (a
# here-document: the build's commands stay short and the script's `exit` ends only the script).
# Only this text and the manifest file of the commit are read: the repository's buildspec, its
# scripts and any committed out/ never run or are read (the project has no source of its own).
_SCRIPT = r"""set -euo pipefail
cd "$MANIFESTC_HOME"
mc() { "$MANIFESTC_HOME/venv/bin/python" -I -m manifestc "$@"; }
report() {  # $1: outcome; a comment on the commit (CodeCommit's commit status) and the topic
  aws codecommit post-comment-for-compared-commit --repository-name "$REPOSITORY" \
    --after-commit-id "$COMMIT" --content "manifestc factory ($CODEBUILD_BUILD_ID): $1" >/dev/null || true
  aws sns publish --topic-arn "$TOPIC_ARN" --subject "manifestc factory: $REPOSITORY" \
    --message "$REPOSITORY@$COMMIT ($BRANCH): $1" >/dev/null || true
}
trap 'report "failed: see the build log $CODEBUILD_BUILD_ID; no stack was left half-updated"' ERR
stack_status() { aws cloudformation describe-stacks --stack-name "$1" --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo NONE; }
stack_owner() { aws cloudformation describe-stacks --stack-name "$1" --query "Stacks[0].Tags[?Key=='manifestc:repository'].Value | [0]" --output text 2>/dev/null || echo NONE; }
wait_stable() { while [[ "$(stack_status "$1")" == *_IN_PROGRESS ]]; do sleep 20; done; }
git config --global credential.helper '!aws codecommit credential-helper $@'
git config --global credential.UseHttpPath true
git clone --quiet "https://git-codecommit.$AWS_REGION.$URL_SUFFIX/v1/repos/$REPOSITORY" src
git -C src checkout --quiet --detach "$COMMIT"
tip="$(git -C src rev-parse --verify --quiet "refs/remotes/origin/$BRANCH" || true)"
if [ -n "$tip" ] && [ "$tip" != "$COMMIT" ]; then
  echo "$BRANCH moved on to $tip: that commit's own message builds it (a burst collapses to its last commit)"
  exit 0
fi
if [ ! -f "src/$MANIFEST_PATH" ]; then
  gone="$(git -C src log -1 --format=%H --diff-filter=D -- "$MANIFEST_PATH" || true)"
  if [ -z "$gone" ]; then echo "no $MANIFEST_PATH in $REPOSITORY: nothing to build"; exit 0; fi
  git -C src show "$gone~1:$MANIFEST_PATH" > deleted-manifest.yaml
  name="$("$MANIFESTC_HOME/venv/bin/python" -I -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["name"])' deleted-manifest.yaml)"
  if [ "$(stack_owner "$name-pipeline")" != "$REPOSITORY" ]; then echo "no pipeline stack of $REPOSITORY named $name-pipeline"; exit 0; fi
  if [ "$RETIRE" != "true" ]; then
    report "$MANIFEST_PATH was deleted; pipeline stack $name-pipeline is kept (the factory retires pipelines only with Retire=true)"
    exit 0
  fi
  wait_stable "$name-pipeline"
  aws cloudformation delete-stack --stack-name "$name-pipeline" --role-arn "$DEPLOY_ROLE_ARN"
  aws cloudformation wait stack-delete-complete --stack-name "$name-pipeline"
  report "$MANIFEST_PATH was deleted: pipeline stack $name-pipeline retired"
  exit 0
fi
if ! mc validate "src/$MANIFEST_PATH"; then
  trap - ERR
  report "invalid manifest $MANIFEST_PATH (diagnostics in the build log $CODEBUILD_BUILD_ID); nothing deployed"
  exit 1
fi
out="$(mktemp -d)"
mc build "src/$MANIFEST_PATH" --out "$out" --repo-root src
name="$(cd "$out" && ls -d [!_]*/ | tr -d /)"
stack="$name-pipeline"
case "$name" in "$PIPELINE_PREFIX"*) ;; *)
  trap - ERR; report "pipeline name $name does not start with $PIPELINE_PREFIX: the factory does not deploy it"; exit 1 ;;
esac
status="$(stack_status "$stack")"
owner="$(stack_owner "$stack")"
if [ "$status" != NONE ] && [ "$owner" != "$REPOSITORY" ]; then
  trap - ERR; report "stack $stack exists and is not this repository's (tag $REPOSITORY_TAG=$owner): not deployed"; exit 1
fi
if [ "$status" = ROLLBACK_COMPLETE ]; then
  # a first create that failed and rolled back: no resource left to protect, and CloudFormation
  # cannot update it; delete it and create it afresh
  aws cloudformation delete-stack --stack-name "$stack" --role-arn "$DEPLOY_ROLE_ARN"
  aws cloudformation wait stack-delete-complete --stack-name "$stack"
  status=NONE
fi
if [ -f "$out/$name/catalog.yaml" ]; then
  trap - ERR; report "$name is a Service Catalog product: publish it (manifestc publish), the factory deploys pipelines only"; exit 1
fi
if [ "$status" = NONE ] && ls "$out/$name" | grep -qE '^(bootstrap|support)-'; then
  trap - ERR
  report "$name deploys to other accounts or regions: deploy its first version by hand (manifestc deploy-plan), tagged $REPOSITORY_TAG=$REPOSITORY; the factory keeps it current after that"
  exit 1
fi
if [ "$status" != NONE ]; then
  wait_stable "$stack"
  aws cloudformation get-template --stack-name "$stack" --query TemplateBody --output json > deployed.json
  mc_guard="$("$MANIFESTC_HOME/venv/bin/python" -I guard.py deployed.json "$out/$name/pipeline.yaml")"
  if [ -n "$mc_guard" ]; then trap - ERR; report "$mc_guard"; exit 1; fi
fi
for network in "$out"/_shared/network-*.yaml; do
  [ -f "$network" ] || continue
  vpc="$(basename "$network" .yaml)"; vpc="${vpc#network-}"
  if [ "$(stack_status "manifestc-network-$vpc")" = NONE ]; then
    trap - ERR
    report "$name builds in $vpc, whose shared endpoint stack manifestc-network-$vpc is not deployed: a platform principal deploys it once per VPC (manifestc deploy-plan), then push again"
    exit 1
  fi
  echo "manifestc-network-$vpc exists; it is shared by every pipeline of $vpc and not changed from one repository"
done
aws cloudformation deploy --template-file "$out/$name/pipeline.yaml" --stack-name "$stack" \
  --role-arn "$DEPLOY_ROLE_ARN" --capabilities CAPABILITY_NAMED_IAM \
  --s3-bucket "$FACTORY_BUCKET" --s3-prefix "${TEMPLATE_PREFIX}$REPOSITORY" \
  --tags "$REPOSITORY_TAG=$REPOSITORY" managed-by=manifestc --no-fail-on-empty-changeset
if grep -q "_manifestc/toolchain/$MANIFESTC_VERSION/" "$out/$name/pipeline.yaml"; then
  bucket="$(aws cloudformation describe-stack-resource --stack-name "$stack" --logical-resource-id ArtifactBucket --query StackResourceDetail.PhysicalResourceId --output text)"
  aws s3 sync --only-show-errors "$MANIFESTC_TOOLCHAIN_URL" "s3://$bucket/_manifestc/toolchain/$MANIFESTC_VERSION/"
fi
report "deployed $stack from $MANIFEST_PATH"
"""

# What the deployed pipeline lets no commit change (recompile.py refuses the same in Recompile):
# who approves, and the accounts and regions its deploy plan set up. Read from both templates'
# UpdateProject; a pipeline without self-update is changed by a person only.
_GUARD = r"""import json, sys, yaml
body = json.load(open(sys.argv[1]))
deployed = yaml.safe_load(body) if isinstance(body, str) else body
new = yaml.safe_load(open(sys.argv[2]))
def recorded(template):
    project = (template.get("Resources") or {}).get("UpdateProject")
    if project is None:
        return None
    env = project["Properties"]["Environment"].get("EnvironmentVariables", [])
    return {v["Name"]: v["Value"] for v in env if v["Name"].startswith("MANIFESTC_DEPLOYED_")}
before, after = recorded(deployed), recorded(new)
if before is None or after is None:
    print("the pipeline has no self-update (regenerate: false): a person deploys its changes (manifestc deploy-plan)")
elif before != after:
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    print("the commit changes " + ", ".join(changed) + ": who approves, or where the pipeline deploys; "
          "a platform principal reviews and deploys it by hand (manifestc deploy-plan)")
"""


def _buildspec(settings: FactorySettings) -> str:
    """The factory build: install the pinned toolchain in a fresh directory, then run _SCRIPT."""
    commands = [
        'export MANIFESTC_HOME="$(mktemp -d "${TMPDIR:-/tmp}/manifestc.XXXXXXXX")"',
        *install_commands("$MANIFESTC_TOOLCHAIN_URL"),
        "venv/bin/python -I -m manifestc --version",
        f"cat > \"$MANIFESTC_HOME/guard.py\" <<'GUARD'\n{_GUARD}GUARD",
        f"cat > \"$MANIFESTC_HOME/factory.sh\" <<'SCRIPT'\n{_SCRIPT}SCRIPT",
        'bash "$MANIFESTC_HOME/factory.sh"',
    ]
    python = presets()["python"]
    spec = {
        "version": 0.2,
        "env": {"shell": "bash"},
        "phases": {
            "install": {"runtime-versions": {python["runtime_key"]: str(python["default_runtime"])}},
            "build": {"commands": commands},
        },
    }
    import yaml

    # a plain string (no Fn::Sub): every `${` in it is the shell's
    return yaml.safe_dump(spec, sort_keys=False, width=1000)


# --- the template --------------------------------------------------------------------------------


def _role(template: Template, logical_id: str, service: str, source_arn, statements, managed=None) -> iam.Role:
    props = {
        "Path": IAM_PATH,
        "AssumeRolePolicyDocument": service_trust(service, source_arn),
        "PermissionsBoundary": Ref(BOUNDARY),
    }
    if statements:
        props["Policies"] = [iam.Policy(PolicyName="least-privilege", PolicyDocument=policy(*statements))]
    if managed:
        props["ManagedPolicyArns"] = managed
    return template.add_resource(iam.Role(logical_id, **props))


def _arn(service: str, resource: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def rule_logical_id(repository: str) -> str:
    return "Push" + hashlib.sha256(repository.encode()).hexdigest()[:10]


def repository_arns(settings: FactorySettings) -> list:
    if settings.repository_pattern:
        return [_arn("codecommit", settings.repository_pattern)]
    return [_arn("codecommit", r) for r in settings.repositories]


def _rules(template: Template, settings: FactorySettings) -> list[str]:
    """One rule per repository (its message group), or one for the naming pattern."""
    watched = (
        [(settings.repository_pattern, [{"wildcard": settings.repository_pattern}], "FactoryPattern")]
        if settings.repository_pattern
        else [(r, [r], rule_logical_id(r)) for r in settings.repositories]
    )
    ids = []
    for group, names, logical_id in watched:
        pattern = {
            "source": ["aws.codecommit"],
            "detail-type": ["CodeCommit Repository State Change"],
            "detail": {
                "event": ["referenceCreated", "referenceUpdated"],
                "referenceType": ["branch"],
                "referenceName": Ref("Branches"),
                "repositoryName": names,
            },
        }
        template.add_resource(
            events.Rule(
                logical_id,
                Name=f"{NAME}-{logical_id.lower()}",
                Description=f"manifestc factory: pushes to the main branches of {group}"[:512],
                EventPattern=pattern,
                State="ENABLED",
                Targets=[
                    events.Target(
                        Id="FactoryQueue",
                        Arn=GetAtt("FactoryQueue", "Arn"),
                        SqsParameters=events.SqsParameters(MessageGroupId=group),
                        # the message is the commit: content-based deduplication drops the same
                        # commit pushed twice within SQS's 5-minute deduplication interval
                        InputTransformer=events.InputTransformer(
                            InputPathsMap={
                                "repository": "$.detail.repositoryName",
                                "commit": "$.detail.commitId",
                                "branch": "$.detail.referenceName",
                            },
                            InputTemplate='{"repository": <repository>, "commit": <commit>, "branch": <branch>}',
                        ),
                    )
                ],
            )
        )
        ids.append(logical_id)
    return ids


def _queues(template: Template, settings: FactorySettings, rules: list[str]) -> None:
    template.add_resource(
        sqs.Queue(
            "FactoryDeadLetterQueue",
            QueueName=DEAD_LETTER_QUEUE,
            # messages are pushes to repositories, which keep the commits: nothing to retain
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            FifoQueue=True,
            KmsMasterKeyId=Ref("FactoryKey"),
            KmsDataKeyReusePeriodSeconds=3600,
            MessageRetentionPeriod=1_209_600,  # 14 days, SQS's maximum: time to look
        )
    )
    template.add_resource(
        sqs.Queue(
            "FactoryQueue",
            QueueName=QUEUE,
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            MessageRetentionPeriod=345_600,  # 4 days (SQS's default), explicit
            FifoQueue=True,
            ContentBasedDeduplication=True,
            KmsMasterKeyId=Ref("FactoryKey"),
            KmsDataKeyReusePeriodSeconds=3600,
            # at least the build's timeout (plus start-up), so a message in flight is never handed out twice
            VisibilityTimeout=visibility_timeout(settings.build_timeout),
            RedrivePolicy=sqs.RedrivePolicy(
                deadLetterTargetArn=GetAtt("FactoryDeadLetterQueue", "Arn"), maxReceiveCount=2
            ),
        )
    )
    template.add_resource(
        sqs.QueuePolicy(
            "FactoryQueuePolicy",
            Queues=[Ref("FactoryQueue")],
            PolicyDocument=policy(
                Statement(
                    Sid="FactoryRulesSend",
                    Effect=Allow,
                    Principal=Principal("Service", "events.amazonaws.com"),
                    Action=[Action("sqs", "SendMessage")],
                    Resource=[GetAtt("FactoryQueue", "Arn")],
                    Condition=Condition(ArnLike({"aws:SourceArn": [GetAtt(r, "Arn") for r in rules]})),
                ),
                Statement(
                    Sid="TlsOnly",
                    Effect=Deny,
                    Principal=Principal("*"),
                    Action=[Action("sqs", "*")],
                    Resource=[GetAtt("FactoryQueue", "Arn")],
                    Condition=Condition(StringLike({"aws:SecureTransport": "false"})),
                ),
            ),
        )
    )


def _key(template: Template) -> None:
    """The factory's key: queues, topic, build logs and the project. Services that write with it
    are named in its policy, each for its own use: EventBridge sending to the encrypted queue
    (Amazon EventBridge User Guide, "Permissions for Amazon SQS" with SSE-KMS), CloudWatch alarms
    publishing to the encrypted topic (Amazon SNS Developer Guide, "Enable compatibility between
    event sources from AWS services and encrypted topics"), CloudWatch Logs for the build's log
    group (CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS").
    Roles use it through their IAM policies (the account statement delegates to IAM)."""
    account = Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    this_account = Condition(StringEquals({"aws:SourceAccount": Sub("${AWS::AccountId}")}))
    template.add_resource(
        kms.Key(
            "FactoryKey",
            Description="manifestc factory: queues, topic, build logs",
            EnableKeyRotation=True,
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
            KeyPolicy=policy(
                Statement(
                    Sid="AccountAdministersAndDelegatesToIam",
                    Effect=Allow,
                    Principal=Principal("AWS", account),
                    Action=[Action("kms", "*")],
                    Resource=["*"],
                ),
                Statement(
                    Sid="EventBridgeSendsToTheQueue",
                    Effect=Allow,
                    Principal=Principal("Service", "events.amazonaws.com"),
                    Action=[Action("kms", "Decrypt"), Action("kms", "GenerateDataKey")],
                    Resource=["*"],
                    Condition=this_account,
                ),
                Statement(
                    Sid="AlarmsPublishToTheTopic",
                    Effect=Allow,
                    Principal=Principal("Service", "cloudwatch.amazonaws.com"),
                    Action=[Action("kms", "Decrypt"), Action("kms", "GenerateDataKey")],
                    Resource=["*"],
                    Condition=this_account,
                ),
                Statement(
                    Sid="BuildLogGroup",
                    Effect=Allow,
                    Principal=Principal("Service", Sub("logs.${AWS::Region}.${AWS::URLSuffix}")),
                    Action=[
                        Action("kms", a) for a in ("Decrypt", "Describe*", "Encrypt", "GenerateDataKey*", "ReEncrypt*")
                    ],
                    Resource=["*"],
                    Condition=Condition(
                        ArnLike(
                            {"kms:EncryptionContext:aws:logs:arn": _arn("logs", f"log-group:/aws/codebuild/{PROJECT}")}
                        )
                    ),
                ),
            ),
        )
    )
    template.add_resource(
        kms.Alias("FactoryKeyAlias", AliasName=f"alias/manifestc/{NAME}", TargetKeyId=Ref("FactoryKey"))
    )


def _dead_letter_alarm(template: Template) -> None:
    """A message in the dead-letter queue is a push the pipe could not hand on: say so."""
    template.add_resource(
        cloudwatch.Alarm(
            "FactoryDeadLetterAlarm",
            AlarmName=f"{NAME}-dead-letters",
            AlarmDescription="manifestc factory: a push could not be handed to the build twice; it waits in "
            f"{DEAD_LETTER_QUEUE} (redrive it once the cause is fixed)",
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[
                cloudwatch.MetricDimension(Name="QueueName", Value=GetAtt("FactoryDeadLetterQueue", "QueueName"))
            ],
            Statistic="Maximum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="notBreaching",
            AlarmActions=[Ref("FactoryTopic")],
        )
    )


# The pipe starts a STANDARD state machine with FIRE_AND_FORGET (StartExecution), and Pipes
# deletes the message once that call succeeds (EventBridge Pipes User Guide, SQS source: "deletes
# the messages ... after the target invocation succeeds"): the build is not in flight on the queue.
# The visibility timeout only spaces the retries of a failed hand-off (two, then the DLQ).
HANDOFF_VISIBILITY = 300


def visibility_timeout(build_timeout: int) -> int:
    """Seconds a received message stays hidden: long enough for one hand-off to Step Functions,
    short enough that a failed one is retried in minutes, not after a whole build's time."""
    del build_timeout  # the build runs after the message is gone (HANDOFF_VISIBILITY)
    return HANDOFF_VISIBILITY


def _state_machine(template: Template) -> None:
    start = {
        "Type": "Task",
        "Resource": "arn:${AWS::Partition}:states:::codebuild:startBuild.sync",
        "Parameters": {
            "ProjectName": PROJECT,
            "EnvironmentVariablesOverride": [
                {"Name": name, "Type": "PLAINTEXT", "Value.$": f"$.{key}"}
                for name, key in (("REPOSITORY", "repository"), ("COMMIT", "commit"), ("BRANCH", "branch"))
            ],
        },
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Notify"}],
        "End": True,
    }
    notify = {
        "Type": "Task",
        "Resource": "arn:${AWS::Partition}:states:::sns:publish",
        "Parameters": {
            "TopicArn": "${FactoryTopic}",
            "Subject": "manifestc factory: build failed",
            "Message.$": "States.Format('manifestc factory: the build of {}@{} ({}) failed: {}', "
            "$.repository, $.commit, $.branch, $.error.Cause)",
        },
        "Next": "Failed",
    }
    definition = {
        "Comment": "manifestc factory: build and deploy the pipeline of each commit in the batch, in order",
        "StartAt": "EachCommit",
        "States": {
            "EachCommit": {
                "Type": "Map",
                "ItemsPath": "$",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Build",
                    "States": {
                        "Build": start,
                        "Notify": notify,
                        "Failed": {"Type": "Fail", "Error": "FactoryBuildFailed"},
                    },
                },
                "End": True,
            }
        },
    }
    template.add_resource(
        stepfunctions.StateMachine(
            "FactoryStateMachine",
            StateMachineName=STATE_MACHINE,
            StateMachineType="STANDARD",
            RoleArn=GetAtt("FactoryStateMachineRole", "Arn"),
            DefinitionString=Sub(json.dumps(definition, indent=1, sort_keys=True)),
            Metadata={
                "checkov": {
                    "skip": [
                        {
                            "id": "CKV_AWS_284",
                            "comment": "X-Ray adds nothing to one CodeBuild call; the execution history records it",
                        },
                        {
                            "id": "CKV_AWS_285",
                            "comment": "Step Functions keeps each execution's history (90 days) with the "
                            "failed build's id; the build's own log is in FactoryLogGroup",
                        },
                    ]
                }
            },
        )
    )


def build_template(settings: FactorySettings) -> Template:
    """The factory stack for `settings` (already checked by factory.check_settings)."""
    t = Template()
    t.set_version("2010-09-09")
    t.set_description(
        f"manifestc {__version__}: factory - commits to CodeCommit repositories become manifestc pipelines"
    )
    t.set_metadata({"manifestc": {"version": __version__, "factory": True}})
    t.add_parameter(
        Parameter(
            "FactoryBucket",
            Type="String",
            AllowedPattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            Description=f"S3 bucket holding the manifestc toolchain under {TOOLCHAIN_PREFIX}{__version__}/ "
            f"(manifestc wheelhouse); the build writes templates it deploys under {TEMPLATE_PREFIX}",
        )
    )
    t.add_parameter(
        Parameter(
            "ManifestPath",
            Type="String",
            Default=settings.manifest_path,
            AllowedPattern=r"^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9._/-]*\.ya?ml$",
            Description="The manifest's path in each repository",
        )
    )
    t.add_parameter(
        Parameter(
            "Branches",
            Type="CommaDelimitedList",
            Default=",".join(settings.branches),
            Description="The main branches whose commits are built (comma-separated)",
        )
    )
    t.add_parameter(
        Parameter(
            "Retire",
            Type="String",
            Default="true" if settings.retire else "false",
            AllowedValues=["true", "false"],
            Description="true: a repository whose manifest is deleted gets its pipeline stack deleted",
        )
    )
    t.add_parameter(
        Parameter(
            "NotificationEmail",
            Type="String",
            Default=settings.notify_emails[0] if settings.notify_emails else "",
            Description="An address subscribed to the factory's topic (failures and deploys); empty: none",
        )
    )
    t.add_condition("HasEmail", Not(Equals(Ref("NotificationEmail"), "")))

    rules = _rules(t, settings)
    _queues(t, settings, rules)

    t.add_resource(
        iam.ManagedPolicy(
            BOUNDARY,
            ManagedPolicyName=f"{NAME}-boundary",
            Path=IAM_PATH,
            Description="Permissions boundary of the manifestc factory's roles",
            PolicyDocument=boundary_document(settings.pipeline_prefix),
            Metadata={
                "checkov": {
                    "skip": [
                        {
                            "id": check,
                            "comment": "A permissions boundary, never attached as a grant: its Allow * only caps "
                            "the roles' identity policies, and its Deny statements close IAM escalation.",
                        }
                        for check in ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111")
                    ]
                }
            },
        )
    )
    _key(t)
    t.add_resource(
        sns.Topic(
            "FactoryTopic",
            TopicName=NAME,
            DisplayName="manifestc factory",
            KmsMasterKeyId=GetAtt("FactoryKey", "Arn"),
        )
    )
    t.add_resource(
        sns.SubscriptionResource(
            "FactoryEmail",
            Condition="HasEmail",
            TopicArn=Ref("FactoryTopic"),
            Protocol="email",
            Endpoint=Ref("NotificationEmail"),
        )
    )
    for index, email in enumerate(settings.notify_emails[1:], start=2):
        t.add_resource(
            sns.SubscriptionResource(
                f"FactoryEmail{index}", TopicArn=Ref("FactoryTopic"), Protocol="email", Endpoint=email
            )
        )

    # the deploy role: CloudFormation creates, updates and deletes pipeline and network stacks with it
    statements = deploy_statements(settings.pipeline_prefix)
    managed = []
    for index, part in enumerate(split_statements(statements, MANAGED_POLICY_LIMIT), start=1):
        managed.append(
            t.add_resource(
                iam.ManagedPolicy(
                    f"FactoryDeployPolicy{index}",
                    ManagedPolicyName=f"{NAME}-deploy-{index}",
                    Path=IAM_PATH,
                    Description=f"Handler permissions of the resource types of pipeline stacks ({index})",
                    PolicyDocument=policy(*part),
                )
            )
        )
    deploy_role = _role(t, "FactoryDeployRole", "cloudformation.amazonaws.com", None, [], [Ref(p) for p in managed])
    deploy_role.RoleName = f"{NAME}-deploy"

    log_group = f"/aws/codebuild/{PROJECT}"
    t.add_resource(
        logs.LogGroup(
            "FactoryLogGroup",
            LogGroupName=log_group,
            DeletionPolicy="Delete",
            UpdateReplacePolicy="Delete",
            RetentionInDays=90,
            KmsKeyId=GetAtt("FactoryKey", "Arn"),
        )
    )
    pipeline_stacks = [
        _arn("cloudformation", f"stack/{settings.pipeline_prefix}*-pipeline/*"),
    ]
    toolchain = f"{TOOLCHAIN_PREFIX}{__version__}/"
    build_statements = [
        allow(
            [Action("logs", "CreateLogStream"), Action("logs", "PutLogEvents")],
            [_arn("logs", f"log-group:{log_group}"), _arn("logs", f"log-group:{log_group}:log-stream:*")],
            sid="BuildLogs",
        ),
        allow(
            [Action("codecommit", "GitPull"), Action("codecommit", "PostCommentForComparedCommit")],
            repository_arns(settings),
            sid="Repositories",
        ),
        allow(
            [Action("s3", "GetObject")],
            [Sub(f"arn:${{AWS::Partition}}:s3:::${{FactoryBucket}}/{toolchain}*")],
            sid="ToolchainRead",
        ),
        allow(
            [Action("s3", "ListBucket")],
            [Sub("arn:${AWS::Partition}:s3:::${FactoryBucket}")],
            Condition(StringLike({"s3:prefix": [f"{toolchain}*"]})),
            sid="ToolchainList",
        ),
        allow(
            [Action("s3", "GetObject"), Action("s3", "PutObject")],
            [Sub(f"arn:${{AWS::Partition}}:s3:::${{FactoryBucket}}/{TEMPLATE_PREFIX}*")],
            sid="DeployTemplates",
        ),
        allow(
            [
                Action("cloudformation", a)
                for a in (
                    "CreateChangeSet",
                    "DeleteChangeSet",
                    "DeleteStack",
                    "DescribeChangeSet",
                    "DescribeStackEvents",
                    "DescribeStackResource",
                    "DescribeStacks",
                    "ExecuteChangeSet",
                    "GetTemplate",
                    "GetTemplateSummary",
                )
            ],
            pipeline_stacks,
            sid="PipelineStacks",
        ),
        allow(
            [Action("iam", "PassRole")],
            [GetAtt("FactoryDeployRole", "Arn")],
            Condition(StringLike({"iam:PassedToService": "cloudformation.amazonaws.com"})),
            sid="PassDeployRole",
        ),
        allow(
            [Action("s3", "PutObject"), Action("s3", "GetObject")],
            [
                Sub(
                    f"arn:${{AWS::Partition}}:s3:::{settings.pipeline_prefix[:16]}*-${{AWS::AccountId}}-${{AWS::Region}}/{TOOLCHAIN_PREFIX}*"
                )
            ],
            sid="PipelineToolchainUpload",
        ),
        allow(
            [Action("s3", "ListBucket")],
            [
                Sub(
                    f"arn:${{AWS::Partition}}:s3:::{settings.pipeline_prefix[:16]}*-${{AWS::AccountId}}-${{AWS::Region}}"
                )
            ],
            sid="PipelineToolchainList",
        ),
        allow(
            [Action("kms", "GenerateDataKey"), Action("kms", "Decrypt")],
            [_arn("kms", "key/*")],
            Condition(
                [
                    StringLike(
                        {
                            "aws:ResourceTag/pipeline": f"{settings.pipeline_prefix}*",
                            "kms:ViaService": Sub("s3.${AWS::Region}.${AWS::URLSuffix}"),
                        }
                    )
                ]
            ),
            sid="PipelineArtifactKeys",
        ),
        allow([Action("sns", "Publish")], [Ref("FactoryTopic")], sid="Notify"),
        # the factory key: the topic's messages and the project's own encryption (CodeBuild User
        # Guide, "Allow CodeBuild to interact with AWS KMS")
        allow(
            [
                Action("kms", a)
                for a in ("Decrypt", "DescribeKey", "Encrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo")
            ],
            [GetAtt("FactoryKey", "Arn")],
            sid="FactoryKey",
        ),
    ]
    _role(t, "FactoryBuildRole", "codebuild.amazonaws.com", _arn("codebuild", f"project/{PROJECT}"), build_statements)
    python = presets()["python"]
    env = [
        ("MANIFEST_PATH", Ref("ManifestPath")),
        ("RETIRE", Ref("Retire")),
        ("PIPELINE_PREFIX", settings.pipeline_prefix),
        ("TOPIC_ARN", Ref("FactoryTopic")),
        ("DEPLOY_ROLE_ARN", GetAtt("FactoryDeployRole", "Arn")),
        ("FACTORY_BUCKET", Ref("FactoryBucket")),
        ("TEMPLATE_PREFIX", TEMPLATE_PREFIX),
        ("REPOSITORY_TAG", REPOSITORY_TAG),
        ("URL_SUFFIX", Ref("AWS::URLSuffix")),
        ("MANIFESTC_VERSION", __version__),
        ("MANIFESTC_TOOLCHAIN", f"manifestc=={__version__}"),
        ("MANIFESTC_TOOLCHAIN_URL", Sub(f"s3://${{FactoryBucket}}/{toolchain}")),
        # placeholders: each build gets the commit's values from the state machine
        ("REPOSITORY", "none"),
        ("COMMIT", "none"),
        ("BRANCH", "none"),
    ]
    t.add_resource(
        cb.Project(
            "FactoryProject",
            Name=PROJECT,
            Description="manifestc factory: validate, build and deploy the pipeline of one commit",
            ServiceRole=GetAtt("FactoryBuildRole", "Arn"),
            EncryptionKey=GetAtt("FactoryKey", "Arn"),
            Source=cb.Source(Type="NO_SOURCE", BuildSpec=_buildspec(settings)),
            Artifacts=cb.Artifacts(Type="NO_ARTIFACTS"),
            Environment=cb.Environment(
                ComputeType="BUILD_GENERAL1_SMALL",
                Image=python["images"]["x86_64"],
                Type="LINUX_CONTAINER",
                ImagePullCredentialsType="CODEBUILD",
                EnvironmentVariables=[cb.EnvironmentVariable(Name=k, Type="PLAINTEXT", Value=v) for k, v in env],
            ),
            TimeoutInMinutes=settings.build_timeout,
            # an organisation-wide rollout queues many builds: 10 at a time, each may wait 8 hours
            # (CodeBuild's maximum queued timeout) before the state machine reports it failed
            QueuedTimeoutInMinutes=480,
            ConcurrentBuildLimit=10,
            LogsConfig=cb.LogsConfig(
                CloudWatchLogs=cb.CloudWatchLogs(Status="ENABLED", GroupName=Ref("FactoryLogGroup"))
            ),
        )
    )

    _role(
        t,
        "FactoryStateMachineRole",
        "states.amazonaws.com",
        _arn("states", f"stateMachine:{STATE_MACHINE}"),
        [
            allow(
                [Action("codebuild", a) for a in ("BatchGetBuilds", "StartBuild", "StopBuild")],
                [_arn("codebuild", f"project/{PROJECT}")],
                sid="FactoryBuilds",
            ),
            allow(
                [Action("events", a) for a in ("DescribeRule", "PutRule", "PutTargets")],
                [_arn("events", "rule/StepFunctionsGetEventsForCodeBuildRule")],
                sid="SyncBuildRule",
            ),
            allow([Action("sns", "Publish")], [Ref("FactoryTopic")], sid="Notify"),
            allow(
                [Action("kms", "Decrypt"), Action("kms", "GenerateDataKey")],
                [GetAtt("FactoryKey", "Arn")],
                sid="FactoryKey",
            ),
        ],
    )
    _state_machine(t)

    _role(
        t,
        "FactoryPipeRole",
        "pipes.amazonaws.com",
        _arn("pipes", f"pipe/{PIPE}"),
        [
            allow(
                [
                    Action("sqs", a)
                    for a in ("ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "ReceiveMessage")
                ],
                [GetAtt("FactoryQueue", "Arn")],
                sid="ReadQueue",
            ),
            allow([Action("kms", "Decrypt")], [GetAtt("FactoryKey", "Arn")], sid="FactoryKey"),
            allow([Action("states", "StartExecution")], [Ref("FactoryStateMachine")], sid="StartStateMachine"),
        ],
    )
    t.add_resource(
        pipes.Pipe(
            "FactoryPipe",
            Name=PIPE,
            Description="manifestc factory: one commit at a time from the queue to the state machine",
            RoleArn=GetAtt("FactoryPipeRole", "Arn"),
            Source=GetAtt("FactoryQueue", "Arn"),
            SourceParameters=pipes.PipeSourceParameters(
                SqsQueueParameters=pipes.PipeSourceSqsQueueParameters(BatchSize=1)
            ),
            Target=Ref("FactoryStateMachine"),
            TargetParameters=pipes.PipeTargetParameters(
                # string values are quoted, objects and arrays would not be ("Amazon EventBridge
                # Pipes input transformation"); an SQS body that is JSON is read as `$.body.<field>`
                InputTemplate='{"repository": "<$.body.repository>", "commit": "<$.body.commit>", '
                '"branch": "<$.body.branch>"}',
                StepFunctionStateMachineParameters=pipes.PipeTargetStateMachineParameters(
                    InvocationType="FIRE_AND_FORGET"
                ),
            ),
        )
    )
    _dead_letter_alarm(t)
    t.add_output(Output("QueueUrl", Value=Ref("FactoryQueue")))
    t.add_output(Output("DeadLetterQueueUrl", Value=Ref("FactoryDeadLetterQueue")))
    t.add_output(Output("TopicArn", Value=Ref("FactoryTopic")))
    t.add_output(Output("DeployRoleArn", Value=GetAtt("FactoryDeployRole", "Arn")))
    _tag(t)
    return t


def _tag(t: Template) -> None:
    tags = {"managed-by": "manifestc", "pipeline": NAME}
    for resource in t.resources.values():
        if "Tags" in resource.props and "Tags" not in resource.properties:
            expected = resource.props["Tags"][0]
            resource.Tags = dict(tags) if expected is dict else Tags(**tags)
