"""Approvals: who may approve is enforced (the approval check), located errors for approvers of
another account, the approval text and who is told about a pending approval."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import yaml
from conftest import MINIMAL, build_manifests, with_changes
from manifestc import approval_check
from manifestc.api import check_manifest

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ReleaseManagers"
PATH_ROLE = f"arn:aws:iam::{ACCOUNT}:role/teams/release/Releasers"
USER = f"arn:aws:iam::{ACCOUNT}:user/ops/bob"
GROUP = f"arn:aws:iam::{ACCOUNT}:group/release-managers"


def execution(updated_by: str, stage: str = "prod", action: str = "approve", status: str = "Succeeded", when="1"):
    """One ActionExecutionDetail as ListActionExecutions returns it for a manual approval."""
    return {
        "pipelineExecutionId": "11111111-2222-3333-4444-555555555555",
        "actionExecutionId": f"ae-{when}",
        "stageName": stage,
        "actionName": action,
        "status": status,
        "lastUpdateTime": f"2026-12-01T0{when}:00:00+00:00",
        "updatedBy": updated_by,
        "output": {"executionResult": {"externalExecutionSummary": "looks good"}},
    }


def verdict(details, approvers, groups=None):
    return approval_check.verdict(details, "prod", "approve", approvers, groups or {})


def test_a_session_of_the_approver_role_passes():
    ok, message = verdict([execution(f"arn:aws:sts::{ACCOUNT}:assumed-role/ReleaseManagers/alice")], [ROLE])
    assert ok and "alice" in message and ROLE in message


def test_another_principal_fails_with_the_reason():
    caller = f"arn:aws:sts::{ACCOUNT}:assumed-role/Developers/mallory"
    ok, message = verdict([execution(caller)], [ROLE])
    assert not ok
    assert caller in message and "not one of the approvers" in message and ROLE in message


def test_a_role_with_a_path_matches_its_session_which_has_no_path():
    ok, _ = verdict([execution(f"arn:aws:sts::{ACCOUNT}:assumed-role/Releasers/alice")], [PATH_ROLE])
    assert ok
    ok, _ = verdict([execution(f"arn:aws:iam::{ACCOUNT}:role/teams/release/Releasers")], [PATH_ROLE])
    assert ok


def test_same_role_name_in_another_account_or_partition_fails():
    assert not verdict([execution("arn:aws:sts::999999999999:assumed-role/ReleaseManagers/x")], [ROLE])[0]
    assert not verdict([execution(f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/ReleaseManagers/x")], [ROLE])[0]


def test_users_match_exactly_by_name():
    assert verdict([execution(USER)], [USER])[0]
    assert not verdict([execution(f"arn:aws:iam::{ACCOUNT}:user/ops/bobby")], [USER])[0]
    # a role session named like the user is not the user
    assert not verdict([execution(f"arn:aws:sts::{ACCOUNT}:assumed-role/bob/bob")], [USER])[0]


def test_group_approvers_match_member_users_only():
    members = {GROUP: [USER]}
    assert verdict([execution(USER)], [GROUP], members)[0]
    assert not verdict([execution(f"arn:aws:iam::{ACCOUNT}:user/eve")], [GROUP], members)[0]
    assert not verdict([execution(f"arn:aws:sts::{ACCOUNT}:assumed-role/release-managers/x")], [GROUP], members)[0]


def test_root_federated_and_missing_callers_fail():
    for caller in (f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:sts::{ACCOUNT}:federated-user/bob", "", "nonsense"):
        assert not verdict([execution(caller)], [ROLE, USER])[0], caller


def test_no_answer_for_this_stage_fails_closed():
    ok, message = verdict([execution(ROLE, stage="staging")], [ROLE])
    assert not ok and "no approved execution" in message
    assert not verdict([execution(ROLE, status="Failed")], [ROLE])[0]
    assert not verdict([], [ROLE])[0]


def test_the_latest_answer_counts_after_a_retry():
    outsider = execution(f"arn:aws:sts::{ACCOUNT}:assumed-role/Developers/m", when="1")
    approver = execution(f"arn:aws:sts::{ACCOUNT}:assumed-role/ReleaseManagers/a", when="2")
    assert verdict([approver, outsider], [ROLE])[0]
    assert not verdict([dict(approver, lastUpdateTime="2026-11-30T00:00:00+00:00"), outsider], [ROLE])[0]


# --- the emitted pipeline -------------------------------------------------------------------------

APPROVED = with_changes(
    MINIMAL,
    account=ACCOUNT,
    environments=[
        {"name": "staging"},
        {"name": "prod", "approval": {"approvers": [PATH_ROLE, GROUP], "notify_emails": ["ops@example.com"]}},
    ],
)


def _prod_stage(template):
    return next(s for s in template["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == "prod")


def test_the_check_runs_after_the_approval_and_before_any_deploy(tmp_path):
    files, report = build_manifests(tmp_path, APPROVED)
    assert not report.failed(), report.all_diagnostics()
    t = files["demo-service/pipeline.yaml"]
    actions = {a["Name"]: a for a in _prod_stage(t)["Actions"]}
    assert actions["approve"]["RunOrder"] < actions["check-approver"]["RunOrder"] < actions["app-deploy"]["RunOrder"]
    check = actions["check-approver"]
    assert check["ActionTypeId"]["Provider"] == "CodeBuild"
    assert check["Configuration"]["ProjectName"] == {"Ref": "ApprovalCheckProject"}
    variables = {v["name"]: v["value"] for v in json.loads(check["Configuration"]["EnvironmentVariables"])}
    assert variables == {
        "PIPELINE_EXECUTION_ID": "#{codepipeline.PipelineExecutionId}",
        "APPROVAL_STAGE": "prod",
        "APPROVAL_ACTION": "approve",
        "APPROVERS": f"{PATH_ROLE} {GROUP}",
    }
    # staging has no approval, so no check
    staging = next(s for s in t["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == "staging")
    assert all(a["Name"] != "check-approver" for a in staging["Actions"])


def test_the_check_role_reads_only_this_pipeline_and_the_approver_group(tmp_path):
    files, _ = build_manifests(tmp_path, APPROVED)
    t = files["demo-service/pipeline.yaml"]
    statements = t["Resources"]["ApprovalCheckRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["ReadApprovals"]["Action"] == ["codepipeline:ListActionExecutions"]
    assert by_sid["ReadApprovals"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:demo-service"}
    ]
    assert by_sid["ReadApproverGroups"] == {
        "Effect": "Allow",
        "Action": ["iam:GetGroup"],
        "Resource": [{"Fn::Sub": f"arn:${{AWS::Partition}}:iam::{ACCOUNT}:group/release-managers"}],
        "Sid": "ReadApproverGroups",
    }
    actions = {a for s in statements for a in s["Action"]}
    assert not any(a.startswith("codepipeline:") and a != "codepipeline:ListActionExecutions" for a in actions)
    # the approvers keep their grant on exactly this action
    grant = t["Resources"]["ApproversProdPolicy"]["Properties"]
    assert grant["Roles"] == ["Releasers"] and grant["Groups"] == ["release-managers"]


def _fake_aws(tmp_path, details, group_users):
    """An `aws` executable answering the two calls the check makes, from canned JSON."""
    data = tmp_path / "data.json"
    data.write_text(json.dumps({"details": details, "users": group_users}))
    script = tmp_path / "bin" / "aws"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"data = json.load(open({str(data)!r}))\n"
        "args = sys.argv[1:]\n"
        "if args[:2] == ['codepipeline', 'list-action-executions']:\n"
        "    assert args[args.index('--pipeline-name') + 1] == 'demo-service', args\n"
        "    assert args[args.index('--filter') + 1] == 'pipelineExecutionId=exec-1', args\n"
        "    print(json.dumps({'actionExecutionDetails': data['details']}))\n"
        "elif args[:2] == ['iam', 'get-group']:\n"
        "    print(json.dumps({'Users': [{'Arn': a} for a in data['users']]}))\n"
        "else:\n"
        "    sys.exit('unexpected call %r' % args)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    # the interpreter the buildspec's `python3` means here (a pyenv shim would put its own bin
    # directory, possibly with a real aws CLI, first on the PATH)
    (script.parent / "python3").symlink_to(sys.executable)
    return script.parent


def _run_shipped_check(tmp_path, template, details, group_users):
    """Run the buildspec's commands as CodeBuild would, with a fake `aws` on the PATH."""
    project = template["Resources"]["ApprovalCheckProject"]["Properties"]
    spec = yaml.safe_load(project["Source"]["BuildSpec"])
    commands = [
        c.replace("/tmp/approval_check.py", str(tmp_path / "check.py")) for c in spec["phases"]["build"]["commands"]
    ]
    env = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    stage = _prod_stage(template)
    action = next(a for a in stage["Actions"] if a["Name"] == "check-approver")
    env.update({v["name"]: v["value"] for v in json.loads(action["Configuration"]["EnvironmentVariables"])})
    env["PIPELINE_EXECUTION_ID"] = "exec-1"  # what CodePipeline substitutes for the variable
    env["PATH"] = f"{_fake_aws(tmp_path, details, group_users)}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(["bash", "-ec", "\n".join(commands)], env=env, capture_output=True, text=True)


def test_the_shipped_check_fails_the_build_for_an_outsider_and_passes_for_an_approver(tmp_path):
    files, _ = build_manifests(tmp_path, APPROVED)
    t = files["demo-service/pipeline.yaml"]
    (tmp_path / "a").mkdir()
    mallory = execution(f"arn:aws:sts::{ACCOUNT}:assumed-role/Developers/mallory")
    outsider = _run_shipped_check(tmp_path / "a", t, [mallory], [USER])
    assert outsider.returncode == 1, outsider.stderr
    assert "APPROVAL CHECK FAILED" in outsider.stdout and "Developers/mallory" in outsider.stdout
    (tmp_path / "b").mkdir()
    member = _run_shipped_check(tmp_path / "b", t, [execution(USER)], [USER])
    assert member.returncode == 0, member.stdout + member.stderr
    assert "APPROVAL CHECK PASSED" in member.stdout


def test_no_check_without_approvers(tmp_path):
    text = with_changes(MINIMAL, environments=[{"name": "staging", "approval": {"notify_emails": ["a@example.com"]}}])
    files, report = build_manifests(tmp_path, text)
    assert not report.failed(), report.all_diagnostics()
    t = files["demo-service/pipeline.yaml"]
    assert "ApprovalCheckProject" not in t["Resources"]


# --- semantics ------------------------------------------------------------------------------------


def codes(write_manifest, text):
    result = check_manifest(write_manifest(text))
    return sorted((d.code, d.severity.value, d.dotted_path(), d.line) for d in result.diagnostics)


def test_an_approver_of_another_account_is_a_located_error(write_manifest):
    other = "arn:aws:iam::999999999999:role/ReleaseManagers"
    text = with_changes(
        MINIMAL,
        account=ACCOUNT,
        environments=[{"name": "prod", "approval": {"approvers": [ROLE, other], "notify_emails": ["a@b.io"]}}],
    )
    found = codes(write_manifest, text)
    assert [c[:3] for c in found] == [("MC270", "error", "environments[0].approval.approvers[1]")]
    assert found[0][3] > 1


def test_approvers_need_the_pipeline_account(write_manifest):
    text = with_changes(MINIMAL, environments=[{"name": "prod", "approval": {"approvers": [ROLE]}}])
    found = [c[:3] for c in codes(write_manifest, text)]
    assert ("MC271", "error", "environments[0].approval.approvers") in found


def test_an_unheard_approval_warns_and_each_way_of_telling_silences_it(write_manifest):
    def env(approval):
        return with_changes(MINIMAL, environments=[{"name": "prod", "approval": approval}])

    assert [c[:3] for c in codes(write_manifest, env(True))] == [("MC272", "warning", "environments[0].approval")]
    assert codes(write_manifest, env({"notify_emails": ["ops@example.com"]})) == []
    assert codes(write_manifest, env({"notify": f"arn:aws:sns:eu-west-1:{ACCOUNT}:ops"})) == []
    told = with_changes(env(True), notifications={"events": ["approval-needed"]})
    assert codes(write_manifest, told) == []
    both = env({"notify": f"arn:aws:sns:eu-west-1:{ACCOUNT}:ops", "notify_emails": ["ops@example.com"]})
    assert ("MC214", "error", "environments[0].approval.notify_emails") in [c[:3] for c in codes(write_manifest, both)]


# --- what the approver is told --------------------------------------------------------------------


def _approve_config(template, stage="prod"):
    stage = next(s for s in template["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == stage)
    return next(a for a in stage["Actions"] if a["Name"] == "approve")["Configuration"]


def test_the_approval_text_mentions_change_sets_only_where_there_are_some(tmp_path):
    ecs_only = with_changes(
        MINIMAL,
        name="ecs-service",
        language="docker",
        build={"image_repository": "web"},
        targets=[{"name": "web", "type": "ecs", "cluster": "c", "service": "s", "container": "web"}],
        environments=[{"name": "prod", "approval": {"notify_emails": ["ops@example.com"]}}],
    )
    direct = with_changes(
        MINIMAL,
        name="direct-service",
        targets=[{"name": "app", "template": "deploy/app.yaml", "change_set": False}],
        environments=[{"name": "prod", "approval": {"notify_emails": ["ops@example.com"]}}],
    )
    files, report = build_manifests(tmp_path, ecs_only, direct)
    assert not report.failed(), report.all_diagnostics()
    for name in ("ecs-service", "direct-service"):
        text = _approve_config(files[f"{name}/pipeline.yaml"])["CustomData"]
        assert "change set" not in text and "approve deploying" in text, text
        assert "approvers" not in text  # no approvers: nothing is claimed about who may approve


def test_change_set_text_and_the_email_subscriptions(tmp_path):
    files, report = build_manifests(tmp_path, APPROVED)
    assert not report.failed(), report.all_diagnostics()
    t = files["demo-service/pipeline.yaml"]
    config = _approve_config(t)
    assert "review the change sets (demo-service-app)" in config["CustomData"]
    assert "Only the listed approvers may approve" in config["CustomData"]
    assert config["NotificationArn"] == {"Ref": "ApprovalProdTopic"}
    subscriptions = [r["Properties"] for r in t["Resources"].values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscriptions == [
        {"TopicArn": {"Ref": "ApprovalProdTopic"}, "Protocol": "email", "Endpoint": "ops@example.com"}
    ]
    assert t["Resources"]["ApprovalProdTopic"]["Properties"]["TopicName"] == "demo-service-approvals-prod"
