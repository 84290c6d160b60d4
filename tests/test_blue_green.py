"""ecs targets with `deploy: blue_green`: the CodeDeployToECS action (issue 11 item 8)."""

from __future__ import annotations

import json

from conftest import MINIMAL, with_changes
from manifestc.api import check_manifest, compile_manifest

TWO_ENVS = [{"name": "staging"}, {"name": "prod", "approval": True}]
API = {
    "name": "api",
    "type": "ecs",
    "cluster": "shop",
    "service": "api-{environment}",
    "container": "api",
    "image_repository": "api",
    "deploy": "blue_green",
    "application": "shop-api",
    "deployment_group": "api-{environment}",
}


def errors(result):
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def _text(targets, environments=TWO_ENVS, **changes):
    return with_changes(MINIMAL, targets=targets, environments=environments, language="docker", **changes)


def _compile(write_manifest, targets, lint=False, **changes):
    result = compile_manifest(write_manifest(_text(targets, **changes)), lint=lint)
    assert not errors(result), result.diagnostics
    return result


def _stage(template, name):
    [stage] = [s for s in template["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == name]
    return {a["Name"]: a for a in stage["Actions"]}


def _statements(template, role="PipelineRole"):
    return {
        s.get("Sid"): s
        for p in template["Resources"][role]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    }


def test_blue_green_is_the_codedeploy_to_ecs_action(write_manifest):
    template = _compile(write_manifest, [{**API, "appspec": "deploy/appspec.yaml"}]).templates["pipeline.yaml"]
    deploy = _stage(template, "prod")["api-deploy"]
    assert deploy["ActionTypeId"] == {
        "Category": "Deploy",
        "Owner": "AWS",
        "Provider": "CodeDeployToECS",
        "Version": "1",
    }
    assert deploy["Configuration"] == {
        "ApplicationName": "shop-api",
        "DeploymentGroupName": "api-prod",
        "TaskDefinitionTemplateArtifact": "BuildOutput",
        "TaskDefinitionTemplatePath": "taskdef.json",
        "AppSpecTemplateArtifact": "BuildOutput",
        "AppSpecTemplatePath": "deploy/appspec.yaml",
        "Image1ArtifactName": "BuildOutput",
        "Image1ContainerName": "IMAGE1_NAME",
    }
    # the build writes imageDetail.json with the pushed image into the artifact
    spec = json.dumps(template["Resources"]["BuildProject"]["Properties"]["Source"]["BuildSpec"])
    assert "imageDetail.json" in spec and "ImageURI" in spec


def test_pipeline_role_deploys_exactly_the_named_deployment_groups(write_manifest):
    template = _compile(write_manifest, [API], region="eu-west-1").templates["pipeline.yaml"]
    statements = _statements(template)
    groups = statements["CodeDeployDeploymentGroups"]
    assert set(groups["Action"]) == {"codedeploy:CreateDeployment", "codedeploy:GetDeployment"}
    assert [r["Fn::Sub"].split(":deploymentgroup:")[1] for r in groups["Resource"]] == [
        "shop-api/api-staging",
        "shop-api/api-prod",
    ]
    apps = statements["CodeDeployApplications"]
    assert [r["Fn::Sub"].rsplit(":", 1)[1] for r in apps["Resource"]] == ["shop-api"]
    passing = statements["PassTaskRoles"]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    # no rolling-update grant on the services
    assert "DeployEcsServices" not in statements


def test_blue_green_needs_application_and_deployment_group(write_manifest):
    target = {k: v for k, v in API.items() if k not in ("application", "deployment_group")}
    result = check_manifest(write_manifest(_text([target])))
    assert errors(result) == [("MC326", "targets[0].deploy"), ("MC326", "targets[0].deploy")]
    assert all(d.line > 0 for d in result.diagnostics if d.is_error)


def test_codedeploy_fields_on_a_rolling_target_are_refused(write_manifest):
    target = {**API, "deploy": None}
    result = check_manifest(write_manifest(_text([target])))
    assert errors(result) == [("MC326", "targets[0].application"), ("MC326", "targets[0].deployment_group")]


def test_blue_green_in_another_account_runs_as_the_bootstrap_deploy_role(write_manifest):
    from iam_sim import allowed, resolve

    envs = [{"name": "prod", "account": "222222222222"}]
    result = _compile(write_manifest, [API], environments=envs, account="111111111111", region="eu-west-1")
    pipeline = result.templates["pipeline.yaml"]
    [stage] = [s for s in pipeline["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == "prod"]
    [deploy] = [a for a in stage["Actions"] if a["ActionTypeId"]["Provider"] == "CodeDeployToECS"]
    assert resolve(deploy["RoleArn"]) == "arn:aws:iam::222222222222:role/manifestc/demo-service/demo-service-deploy"
    pipeline_role = [
        resolve(s)
        for p in pipeline["Resources"]["PipelineRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    assert not allowed(pipeline_role, "ecs:RegisterTaskDefinition", "*")
    boot = [
        resolve(s)
        for p in result.templates["bootstrap-222222222222.yaml"]["Resources"]["DeployRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    # iam_sim's ${AWS::AccountId} is 111111111111: in the bootstrap, the target account's own
    group = "arn:aws:codedeploy:eu-west-1:111111111111:deploymentgroup:shop-api/api-prod"
    assert allowed(boot, "codedeploy:CreateDeployment", group)
    assert allowed(boot, "ecs:RegisterTaskDefinition", "*")
    assert allowed(boot, "iam:PassRole", "*", {"iam:PassedToService": "ecs-tasks.amazonaws.com"})
    assert not allowed(boot, "iam:PassRole", "*", {"iam:PassedToService": "lambda.amazonaws.com"})
    assert not allowed(boot, "ecs:UpdateService", "arn:aws:ecs:eu-west-1:111111111111:service/shop/api-prod")


def test_blue_green_lints_clean(write_manifest):
    result = _compile(write_manifest, [API], lint=True, region="eu-west-1")
    assert [d for d in result.diagnostics if d.code.startswith(("E", "W"))] == []


def test_rolling_and_blue_green_targets_share_the_task_statements(write_manifest):
    rolling = {k: v for k, v in API.items() if k not in ("deploy", "application", "deployment_group")}
    rolling.update(name="worker", service="worker-{environment}", container="worker")
    template = _compile(write_manifest, [API, rolling]).templates["pipeline.yaml"]
    sids = [
        s.get("Sid")
        for p in template["Resources"]["PipelineRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    assert len(sids) == len(set(sids))
    assert {"DeployEcsServices", "CodeDeployDeploymentGroups", "EcsTaskDefinitions", "PassTaskRoles"} <= set(sids)
