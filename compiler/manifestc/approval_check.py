"""Who approved? The check a pipeline runs right after a manual approval that has `approvers`.

This file is shipped verbatim inside the buildspec of the `<name>-approval-check` CodeBuild
project (standard library only, Python 3.9+), and imported by the tests. It reads the approval
action's execution of *this* pipeline execution (ListActionExecutions filtered by the execution
id that CodePipeline passes as `#{codepipeline.PipelineExecutionId}`), takes the ARN that
CodePipeline recorded as having answered it (`updatedBy`; GetPipelineState shows the same value
as `latestExecution.lastUpdatedBy`, "the ARN of the user who last changed the pipeline" in the
CodePipeline API Reference), and fails the build -- so the stage, so the execution -- unless
that principal is one of the approvers.

The recorded ARN is the caller's identity: an IAM user (`arn:aws:iam::A:user/path/name`) or,
for a role session, the STS session ARN (`arn:aws:sts::A:assumed-role/NAME/session`), which
drops the role's path. Role names are unique in an account whatever their path, so a session
matches an approver role ARN of the same partition, account and name. A group approver matches
an IAM user who is a member (the check lists the group with iam:GetGroup).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def parse_arn(arn: str) -> tuple[str, str, str, str] | None:
    """`arn:partition:service::account:resource` -> (partition, service, account, resource)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return parts[1], parts[2], parts[4], parts[5]


def principal_of(caller: str) -> tuple[str, str, str, str] | None:
    """The identity behind a recorded caller ARN: (partition, account, kind, name), kind being
    `user` or `role`; None for anything else (root, federated users, services)."""
    parsed = parse_arn(caller)
    if parsed is None:
        return None
    partition, service, account, resource = parsed
    kind, _, rest = resource.partition("/")
    if service == "iam" and kind in ("user", "role") and rest:
        return partition, account, kind, rest.rsplit("/", 1)[-1]
    if service == "sts" and kind == "assumed-role" and "/" in rest:
        return partition, account, "role", rest.split("/", 1)[0]
    return None


def matches(caller: str, approver: str, group_members: dict[str, list[str]]) -> bool:
    """Whether the recorded caller is the approver (a role, a user, or a member of a group)."""
    who = principal_of(caller)
    target = parse_arn(approver)
    if who is None or target is None:
        return False
    partition, account, kind, name = who
    t_partition, t_service, t_account, t_resource = target
    t_kind, _, t_path_name = t_resource.partition("/")
    if (partition, account) != (t_partition, t_account) or t_service != "iam":
        return False
    if t_kind == "group":
        return kind == "user" and any(principal_of(member) == who for member in group_members.get(approver, []))
    return kind == t_kind and name == t_path_name.rsplit("/", 1)[-1]


def approval_answer(details: list[dict], stage: str, action: str) -> dict | None:
    """The latest answered execution of the approval action among `details`."""
    answered = [
        d
        for d in details
        if d.get("stageName") == stage and d.get("actionName") == action and d.get("status") == "Succeeded"
    ]
    if not answered:
        return None
    return max(answered, key=lambda d: str(d.get("lastUpdateTime", "")))


def verdict(
    details: list[dict], stage: str, action: str, approvers: list[str], group_members: dict[str, list[str]]
) -> tuple[bool, str]:
    """(passed, the message for the build log)."""
    answer = approval_answer(details, stage, action)
    if answer is None:
        return False, f"no approved execution of {stage}/{action} in this pipeline execution: refusing to deploy"
    caller = answer.get("updatedBy") or ""
    summary = ((answer.get("output") or {}).get("executionResult") or {}).get("externalExecutionSummary") or ""
    for approver in approvers:
        if matches(caller, approver, group_members):
            return True, f"{stage}/{action} was approved by {caller} (approver {approver}); comment: {summary!r}"
    return False, (
        f"{stage}/{action} was approved by {caller or 'an unrecorded principal'}, who is not one of the "
        f"approvers ({', '.join(approvers)}): the deployment stops here. An approver must run the "
        "stage again with ALL actions -- 'Retry stage' in the console, or aws codepipeline "
        "retry-stage-execution --retry-mode ALL_ACTIONS -- and approve it (retrying only the failed "
        "action re-reads this same approval and fails again)."
    )


def _aws(*args: str) -> dict:
    out = subprocess.run(["aws", *args, "--output", "json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out or "{}")


def main() -> int:
    pipeline, execution = os.environ["PIPELINE_NAME"], os.environ["PIPELINE_EXECUTION_ID"]
    stage, action = os.environ["APPROVAL_STAGE"], os.environ["APPROVAL_ACTION"]
    approvers = os.environ["APPROVERS"].split()
    details = _aws(
        "codepipeline",
        "list-action-executions",
        "--pipeline-name",
        pipeline,
        "--filter",
        f"pipelineExecutionId={execution}",
    ).get("actionExecutionDetails", [])
    groups = {}
    for approver in approvers:
        if ":group/" in approver:
            name = approver.rsplit("/", 1)[-1]
            users = _aws("iam", "get-group", "--group-name", name).get("Users", [])
            groups[approver] = [u["Arn"] for u in users]
    passed, message = verdict(details, stage, action, approvers, groups)
    print(("APPROVAL CHECK PASSED: " if passed else "APPROVAL CHECK FAILED: ") + message)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
