"""`manifestc factory`: the organisation-level stack that turns manifest commits into pipelines.

The chain rule -> FIFO queue (+ dead-letter queue after 2 receives) -> pipe -> state machine ->
CodeBuild project is asserted on the emitted template; its IAM through the policy evaluator of
tests/iam_sim.py; its readiness checks (MC670-674) by breaking the template they read.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from iam_sim import effective, resolve
from manifestc.check.factory import check_factory
from manifestc.cli import cli
from manifestc.emit.factory import PIPELINE_STACK_TYPES, build_template, rule_logical_id
from manifestc.factory import FactorySettings, check_settings
from manifestc.render import template_dict

ROOT = Path(__file__).resolve().parent.parent
FILE = "out/_shared/factory.yaml"
NAMED = FactorySettings(repositories=("orders-service", "billing"), branches=("main", "release"), build_timeout=90)
PATTERN = FactorySettings(repository_pattern="svc-*", pipeline_prefix="svc-", notify_emails=("a@example.com",))


@pytest.fixture(scope="module")
def named() -> dict:
    return template_dict(build_template(NAMED))


@pytest.fixture(scope="module")
def by_pattern() -> dict:
    return template_dict(build_template(PATTERN))


def _resources(template: dict, kind: str) -> dict:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _ref(value) -> str:
    return value.get("Ref") or value["Fn::GetAtt"][0]


# --- the chain ------------------------------------------------------------------------------------


def test_one_push_rule_per_repository_into_its_own_message_group(named):
    rules = _resources(named, "AWS::Events::Rule")
    assert set(rules) == {rule_logical_id("orders-service"), rule_logical_id("billing")}
    for repository in ("orders-service", "billing"):
        props = rules[rule_logical_id(repository)]["Properties"]
        pattern = props["EventPattern"]
        assert pattern["source"] == ["aws.codecommit"]
        assert pattern["detail-type"] == ["CodeCommit Repository State Change"]
        assert pattern["detail"]["event"] == ["referenceCreated", "referenceUpdated"]
        assert pattern["detail"]["referenceType"] == ["branch"]
        assert pattern["detail"]["referenceName"] == {"Ref": "Branches"}
        assert pattern["detail"]["repositoryName"] == [repository]
        (target,) = props["Targets"]
        assert _ref(target["Arn"]) == "FactoryQueue"
        assert target["SqsParameters"]["MessageGroupId"] == repository
        # the message is the commit, so content-based deduplication drops a repeated push of it
        paths = target["InputTransformer"]["InputPathsMap"]
        assert paths == {
            "repository": "$.detail.repositoryName",
            "commit": "$.detail.commitId",
            "branch": "$.detail.referenceName",
        }
    assert named["Parameters"]["Branches"] == {
        "Type": "CommaDelimitedList",
        "Default": "main,release",
        "Description": named["Parameters"]["Branches"]["Description"],
    }


def test_a_naming_pattern_is_one_wildcard_rule(by_pattern):
    (rule,) = _resources(by_pattern, "AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"]["detail"]["repositoryName"] == [{"wildcard": "svc-*"}]
    assert rule["Properties"]["Targets"][0]["SqsParameters"]["MessageGroupId"] == "svc-*"


def test_fifo_queue_with_a_dead_letter_queue_after_two_receives(named):
    queues = _resources(named, "AWS::SQS::Queue")
    queue = queues["FactoryQueue"]["Properties"]
    assert queue["FifoQueue"] is True and queue["QueueName"].endswith(".fifo")
    assert queue["ContentBasedDeduplication"] is True
    assert queue["KmsMasterKeyId"] == {"Ref": "FactoryKey"}
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 2
    dead = queues[_ref(queue["RedrivePolicy"]["deadLetterTargetArn"])]["Properties"]
    assert dead["FifoQueue"] is True and dead["QueueName"].endswith(".fifo")
    assert dead["KmsMasterKeyId"] == {"Ref": "FactoryKey"}
    project = named["Resources"]["FactoryProject"]["Properties"]
    assert project["TimeoutInMinutes"] == 90
    # the message leaves the queue once the state machine starts (FIRE_AND_FORGET): a failed
    # hand-off is retried within minutes, not after a whole build's timeout (review finding)
    assert 60 <= queue["VisibilityTimeout"] <= 900
    # only the factory's rules may send, only over TLS
    (policy,) = _resources(named, "AWS::SQS::QueuePolicy").values()
    send, tls = policy["Properties"]["PolicyDocument"]["Statement"]
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(_ref(a) for a in send["Condition"]["ArnLike"]["aws:SourceArn"]) == sorted(
        _resources(named, "AWS::Events::Rule")
    )
    assert tls["Effect"] == "Deny"


def test_a_dead_letter_is_an_alarm_on_the_topic(named):
    (alarm,) = _resources(named, "AWS::CloudWatch::Alarm").values()
    props = alarm["Properties"]
    assert props["Namespace"] == "AWS/SQS" and props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert props["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FactoryDeadLetterQueue", "QueueName"]}}
    ]
    assert props["Threshold"] == 0 and props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["AlarmActions"] == [{"Ref": "FactoryTopic"}]
    # CloudWatch may publish to the encrypted topic: the key policy names it
    key = named["Resources"]["FactoryKey"]["Properties"]
    services = [s["Principal"].get("Service") for s in key["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert "cloudwatch.amazonaws.com" in services and "events.amazonaws.com" in services
    assert key["EnableKeyRotation"] is True


def test_pipe_reads_the_queue_into_the_state_machine_which_runs_the_build(named):
    (pipe,) = _resources(named, "AWS::Pipes::Pipe").values()
    props = pipe["Properties"]
    assert _ref(props["Source"]) == "FactoryQueue"
    assert props["SourceParameters"]["SqsQueueParameters"]["BatchSize"] == 1
    assert _ref(props["Target"]) == "FactoryStateMachine"
    target = props["TargetParameters"]
    assert target["StepFunctionStateMachineParameters"]["InvocationType"] == "FIRE_AND_FORGET"
    assert '"commit": "<$.body.commit>"' in target["InputTemplate"]  # a string: quoted
    machine = named["Resources"]["FactoryStateMachine"]["Properties"]
    definition = json.loads(machine["DefinitionString"]["Fn::Sub"])
    each = definition["States"][definition["StartAt"]]
    assert each["Type"] == "Map" and each["MaxConcurrency"] == 1  # a pipe batch is a JSON array
    states = each["ItemProcessor"]["States"]
    build = states[each["ItemProcessor"]["StartAt"]]
    assert build["Resource"].endswith(":states:::codebuild:startBuild.sync")
    assert build["Parameters"]["ProjectName"] == named["Resources"]["FactoryProject"]["Properties"]["Name"]
    overrides = {o["Name"]: o["Value.$"] for o in build["Parameters"]["EnvironmentVariablesOverride"]}
    assert overrides == {"REPOSITORY": "$.repository", "COMMIT": "$.commit", "BRANCH": "$.branch"}
    # any failure (the build failed, timed out, could not start) is published, then the execution fails
    (catch,) = build["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    notify = states[catch["Next"]]
    assert notify["Resource"].endswith(":states:::sns:publish")
    assert notify["Parameters"]["TopicArn"] == "${FactoryTopic}"
    assert states[notify["Next"]]["Type"] == "Fail"


def test_the_build_has_no_source_and_installs_the_pinned_toolchain(named):
    from manifestc import __version__

    project = named["Resources"]["FactoryProject"]["Properties"]
    assert project["Source"]["Type"] == "NO_SOURCE"  # the repository's buildspec never runs
    assert project["Artifacts"]["Type"] == "NO_ARTIFACTS"
    env = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert env["MANIFESTC_TOOLCHAIN_URL"] == {"Fn::Sub": f"s3://${{FactoryBucket}}/_manifestc/toolchain/{__version__}/"}
    spec = yaml.safe_load(project["Source"]["BuildSpec"])
    commands = spec["phases"]["build"]["commands"]
    install = next(c for c in commands if "pip" in c and "install" in c)
    assert "--no-index" in install and "--require-hashes" in install and "--isolated" in install
    script = next(c for c in commands if "factory.sh" in c and "<<" in c)
    for step in (
        'mc validate "src/$MANIFEST_PATH"',
        'mc build "src/$MANIFEST_PATH"',
        '--role-arn "$DEPLOY_ROLE_ARN"',
        "--no-fail-on-empty-changeset",
        'if [ "$RETIRE" != "true" ]',
        "post-comment-for-compared-commit",
    ):
        assert step in script, step


# --- IAM ---------------------------------------------------------------------------------------


def _statements(template: dict, role: str) -> list[dict]:
    from manifestc.check.handlers import role_statements

    attributes = {
        "FactoryBucket": "org-tools",
        "FactoryDeployRole.Arn": "arn:aws:iam::111111111111:role/manifestc/manifestc-factory/manifestc-factory-deploy",
        "FactoryTopic": "arn:aws:sns:us-east-1:111111111111:manifestc-factory",
        "FactoryQueue.Arn": "arn:aws:sqs:us-east-1:111111111111:manifestc-factory.fifo",
        "FactoryStateMachine": "arn:aws:states:us-east-1:111111111111:stateMachine:manifestc-factory",
    }
    return resolve(role_statements(template, role), attributes)


def _boundary(template: dict) -> list[dict]:
    return resolve(template["Resources"]["FactoryBoundary"]["Properties"]["PolicyDocument"]["Statement"])


def test_every_role_carries_the_boundary_and_trusts_one_resource(named):
    roles = _resources(named, "AWS::IAM::Role")
    assert set(roles) == {"FactoryBuildRole", "FactoryDeployRole", "FactoryStateMachineRole", "FactoryPipeRole"}
    for logical_id, role in roles.items():
        assert role["Properties"]["PermissionsBoundary"] == {"Ref": "FactoryBoundary"}, logical_id
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Condition"]["StringEquals"]["aws:SourceAccount"]
        if logical_id != "FactoryDeployRole":  # CloudFormation passes no source ARN
            assert trust["Condition"]["ArnLike"]["aws:SourceArn"], logical_id


def test_build_role_reaches_only_the_watched_repositories_and_the_deploy_role(named):
    build = _statements(named, "FactoryBuildRole")
    repo = "arn:aws:codecommit:us-east-1:111111111111:"
    assert effective(build, None, "codecommit:GitPull", repo + "orders-service")
    assert not effective(build, None, "codecommit:GitPull", repo + "payroll")
    assert not effective(build, None, "codecommit:GitPush", repo + "orders-service")
    deploy_role = "arn:aws:iam::111111111111:role/manifestc/manifestc-factory/manifestc-factory-deploy"
    to_cfn = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    assert effective(build, None, "iam:PassRole", deploy_role, to_cfn)
    assert not effective(build, None, "iam:PassRole", deploy_role, {"iam:PassedToService": "ec2.amazonaws.com"})
    assert not effective(build, None, "iam:PassRole", "arn:aws:iam::111111111111:role/admin", to_cfn)
    stack = "arn:aws:cloudformation:us-east-1:111111111111:stack/orders-pipeline/1"
    assert effective(build, None, "cloudformation:CreateChangeSet", stack)
    assert not effective(build, None, "cloudformation:CreateChangeSet", stack.replace("orders-pipeline", "prod-db"))
    assert not effective(build, None, "s3:PutObject", "arn:aws:s3:::org-tools/_manifestc/toolchain/0.1.0/x.whl")
    assert not [s for s in build if "*" in s["Resource"]]
    network = "arn:aws:cloudformation:us-east-1:111111111111:stack/manifestc-network-vpc-1/1"
    assert not effective(build, None, "cloudformation:CreateChangeSet", network)


def test_deploy_role_creates_roles_only_with_a_pipeline_boundary(by_pattern):
    deploy = _statements(by_pattern, "FactoryDeployRole")
    boundary = _boundary(by_pattern)
    role = "arn:aws:iam::111111111111:role/manifestc/svc-orders/svc-orders-build"
    bounded = {"iam:PermissionsBoundary": "arn:aws:iam::111111111111:policy/manifestc/svc-orders/svc-orders-boundary"}
    assert effective(deploy, boundary, "iam:CreateRole", role, bounded)
    assert not effective(deploy, boundary, "iam:CreateRole", role)
    assert not effective(deploy, boundary, "iam:CreateRole", "arn:aws:iam::111111111111:role/admin", bounded)
    assert not effective(deploy, boundary, "iam:DeleteRolePermissionsBoundary", role)
    assert not effective(deploy, boundary, "iam:CreateUser", "arn:aws:iam::111111111111:user/mallory")
    # the boundary: only manifestc roles are passed, whatever an identity policy says
    to_cfn = {"iam:PassedToService": "cloudformation.amazonaws.com"}
    assert not effective(
        [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}],
        boundary,
        "iam:PassRole",
        "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole",
        to_cfn,
    )
    assert effective(
        [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}], boundary, "iam:PassRole", role, to_cfn
    )
    # the pipeline prefix scopes what the factory may create
    project = "arn:aws:codebuild:us-east-1:111111111111:project/"
    # a private pipeline opens its way into the shared endpoint group (tagged managed-by: manifestc)
    group = "arn:aws:ec2:us-east-1:111111111111:security-group/sg-1"
    ours, theirs = {"aws:ResourceTag/managed-by": "manifestc"}, {"aws:ResourceTag/managed-by": "team-db"}
    assert effective(deploy, boundary, "ec2:AuthorizeSecurityGroupIngress", group, ours)
    assert not effective(deploy, boundary, "ec2:AuthorizeSecurityGroupIngress", group, theirs)
    assert not effective(deploy, boundary, "ec2:CreateVpcEndpoint", "arn:aws:ec2:us-east-1:111111111111:vpc-endpoint/*")
    assert effective(deploy, boundary, "codebuild:CreateProject", project + "svc-orders-build")
    assert not effective(deploy, boundary, "codebuild:CreateProject", project + "payroll-build")


def test_deploy_role_covers_every_resource_type_of_every_example_and_golden():
    """PIPELINE_STACK_TYPES is complete: every type a pipeline template holds."""
    from manifestc import api

    types = set()
    for path in sorted((ROOT / "tests" / "golden").glob("*/expected/*/pipeline.yaml")):
        types |= {r["Type"] for r in yaml.safe_load(path.read_text())["Resources"].values()}
    for path in sorted((ROOT / "manifests").glob("*.yaml")):
        result = api.compile_manifest(path, lint=False)
        assert not result.failed(), path
        types |= {r["Type"] for r in result.templates["pipeline.yaml"]["Resources"].values()}
    assert types <= set(PIPELINE_STACK_TYPES), types - set(PIPELINE_STACK_TYPES)


# --- readiness checks ----------------------------------------------------------------------------


def _goldens() -> dict:
    return {
        path.relative_to(ROOT).as_posix(): yaml.safe_load(path.read_text())
        for path in sorted((ROOT / "tests" / "golden").glob("*/expected/*/pipeline.yaml"))
    }


def test_checks_pass_on_the_emitted_factory(named, by_pattern):
    assert check_factory(named, FILE, _goldens()) == []
    assert check_factory(by_pattern, FILE) == []


def _codes(template: dict, deployed: dict | None = None) -> list[str]:
    return sorted({d.code for d in check_factory(template, FILE, deployed)})


def test_mc670_deploy_role_missing_a_handler_permission(named):
    broken = copy.deepcopy(named)
    for logical_id, resource in broken["Resources"].items():
        if logical_id.startswith("FactoryDeployPolicy"):
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                statement["Action"] = [a for a in actions if a != "codepipeline:CreatePipeline"] or ["sqs:ListQueues"]
    found = check_factory(broken, FILE, _goldens())
    assert {d.code for d in found} == {"MC670"}
    assert "codepipeline:CreatePipeline" in found[0].message and "AWS::CodePipeline::Pipeline" in found[0].message


def _drop_statement(template: dict, role: str, sid: str) -> None:
    document = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != sid]


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t["Resources"]["FactoryQueue"]["Properties"]["RedrivePolicy"].update(maxReceiveCount=3),
        lambda t: t["Resources"]["FactoryQueue"]["Properties"].update(VisibilityTimeout=5400),
        lambda t: t["Resources"]["FactoryDeadLetterQueue"]["Properties"].pop("FifoQueue"),
        lambda t: t["Resources"]["FactoryDeadLetterQueue"]["Properties"].pop("KmsMasterKeyId"),
        # the pipe can no longer decrypt its queue; the state machine can no longer report a failure
        lambda t: _drop_statement(t, "FactoryPipeRole", "FactoryKey"),
        lambda t: _drop_statement(t, "FactoryStateMachineRole", "FactoryKey"),
        lambda t: t["Resources"]["FactoryQueue"]["Properties"].pop("FifoQueue"),
        lambda t: next(iter(_resources(t, "AWS::Events::Rule").values()))["Properties"]["Targets"][0].pop(
            "SqsParameters"
        ),
        lambda t: t["Resources"].pop("FactoryPipe"),
    ],
)
def test_mc671_a_broken_chain(named, change):
    broken = copy.deepcopy(named)
    change(broken)
    assert _codes(broken) == ["MC671"]


def test_mc672_role_without_boundary(named):
    broken = copy.deepcopy(named)
    del broken["Resources"]["FactoryPipeRole"]["Properties"]["PermissionsBoundary"]
    assert _codes(broken) == ["MC672"]


def test_mc673_toolchain_from_an_index(named):
    broken = copy.deepcopy(named)
    project = broken["Resources"]["FactoryProject"]["Properties"]
    project["Source"]["BuildSpec"] = project["Source"]["BuildSpec"].replace("--require-hashes ", "")
    assert _codes(broken) == ["MC673"]


def test_mc674_scopable_action_on_every_resource(named):
    broken = copy.deepcopy(named)
    broken["Resources"]["FactoryPipeRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": ["sqs:DeleteMessage"], "Resource": "*"}
    )
    assert _codes(broken) == ["MC674"]


# --- settings and CLI ----------------------------------------------------------------------------


def test_settings_errors_name_the_option_and_position():
    found = check_settings(
        FactorySettings(
            repositories=("ok", "bad name", "ok"),
            manifest_path="../up.yaml",
            branches=("main", "a..b"),
            notify_emails=("x",),
            build_timeout=700,
            pipeline_prefix="Caps",
        )
    )
    located = {(d.code, d.dotted_path()) for d in found}
    assert located == {
        ("MC243", "--repository[1]"),
        ("MC243", "--repository[2]"),  # named twice
        ("MC245", "--manifest-path"),
        ("MC246", "--branch[1]"),
        ("MC247", "--notify-email[0]"),
        ("MC248", "--build-timeout"),
        ("MC249", "--pipeline-prefix"),
    }
    assert all(d.hint for d in found)
    both = check_settings(FactorySettings(repositories=("a",), repository_pattern="a*"))
    assert [d.code for d in both] == ["MC244"]
    assert [d.code for d in check_settings(FactorySettings())] == ["MC244"]
    assert [d.code for d in check_settings(FactorySettings(repository_pattern="*"))] == ["MC243"]


def test_cli_reports_located_errors_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["factory", "--repository", "ok", "--repository", "no good", "--out", str(out), "--no-lint"]
    )
    assert result.exit_code == 1
    assert "manifestc factory: error[MC243]: --repository[1]: `no good` is not a CodeCommit repository name" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_writes_a_lint_clean_factory_that_a_build_keeps(tmp_path, write_manifest):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["factory", "--repository-pattern", "svc-*", "--notify-email", "a@example.com", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "error" not in result.output and "warning" not in result.output  # cfn-lint: zero findings
    written = out / "_shared" / "factory.yaml"
    content = written.read_bytes()
    assert yaml.safe_load(content)["Resources"]["FactoryPipe"]
    # a build of the manifests beside it neither removes it nor calls it stale
    manifest = write_manifest()
    assert CliRunner().invoke(cli, ["build", str(manifest), "--out", str(out), "--no-lint"]).exit_code == 0
    assert written.read_bytes() == content
    check = CliRunner().invoke(cli, ["build", str(manifest), "--out", str(out), "--no-lint", "--check"])
    assert check.exit_code == 0, check.output


# checkov and the examples' IAM tests read the factory stack tests/test_examples.py writes beside them.


def test_deploy_plan_uploads_the_factory_toolchain_before_the_stack(tmp_path):
    from manifestc import __version__

    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["factory", "--repository", "a", "--out", str(out), "--no-lint"]).exit_code == 0
    plan = CliRunner().invoke(cli, ["deploy-plan", str(out)])
    assert plan.exit_code == 0, plan.output
    commands = [line for line in plan.output.splitlines() if line and not line.startswith("#")]
    upload, deploy = commands
    assert f's3://$FACTORY_BUCKET/_manifestc/toolchain/{__version__}/"' in upload
    assert "--stack-name manifestc-factory" in deploy and 'FactoryBucket="$FACTORY_BUCKET"' in deploy
    assert "--capabilities CAPABILITY_NAMED_IAM" in deploy and "--s3-bucket" in deploy


def test_deploy_time_parameters_keep_the_manifest_path_inside_the_repository(named):
    import re

    pattern = re.compile(named["Parameters"]["ManifestPath"]["AllowedPattern"])
    assert pattern.match("manifest.yaml") and pattern.match("ci/pipeline.yml")
    for outside in ("../manifest.yaml", "a/../../b.yaml", "/etc/m.yaml", "manifest.json"):
        assert not pattern.match(outside), outside
    assert named["Parameters"]["Retire"]["AllowedValues"] == ["true", "false"]
    assert named["Parameters"]["Retire"]["Default"] == "false"  # retiring is opt-in
