"""codedeploy, lambda_layer, elasticbeanstalk and servicecatalog targets (issue 11 item 8)."""

from __future__ import annotations

import pytest
import yaml
from conftest import MINIMAL, with_changes
from iam_sim import allowed, resolve
from manifestc.api import compile_manifest

TWO_ENVS = [{"name": "staging"}, {"name": "prod", "approval": True}]
OTHER_ACCOUNT_ENVS = [{"name": "staging"}, {"name": "prod", "account": "222222222222", "approval": True}]
WEB = {
    "name": "web",
    "type": "codedeploy",
    "application": "shop-web",
    "deployment_group": "web-{environment}",
}
INSTANCE_ROLE = "arn:aws:iam::{account}:role/shop-web-instance"
REGION = "us-east-1"  # iam_sim's ${AWS::Region}


def errors(result):
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def _result(write_manifest, targets, environments=TWO_ENVS, **changes):
    changes.setdefault("account", "111111111111")
    changes.setdefault("region", REGION)
    text = with_changes(MINIMAL, targets=targets, environments=environments, **changes)
    return compile_manifest(write_manifest(text), lint=False)


def _compile(write_manifest, targets, environments=TWO_ENVS, **changes):
    result = _result(write_manifest, targets, environments, **changes)
    assert not errors(result), result.diagnostics
    return result.templates


def _stage(template, name):
    [stage] = [s for s in template["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == name]
    return {a["Name"]: a for a in stage["Actions"]}


def _statements(template, role):
    return [
        resolve(s)
        for p in template["Resources"][role]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]


def _bucket_policy(template):
    return [
        resolve(s) for s in template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    ]


def _group(name, account="111111111111", application="shop-web"):
    return f"arn:aws:codedeploy:{REGION}:{account}:deploymentgroup:{application}/{name}"


# --- codedeploy ---------------------------------------------------------------------------------


def test_codedeploy_action_deploys_the_build_artifact_to_each_environments_group(write_manifest):
    template = _compile(write_manifest, [WEB])["pipeline.yaml"]
    for env in ("staging", "prod"):
        deploy = _stage(template, env)["web-deploy"]
        assert deploy["ActionTypeId"] == {
            "Category": "Deploy",
            "Owner": "AWS",
            "Provider": "CodeDeploy",
            "Version": "1",
        }
        assert deploy["Configuration"] == {"ApplicationName": "shop-web", "DeploymentGroupName": f"web-{env}"}
        assert deploy["InputArtifacts"] == [{"Name": "BuildOutput"}]
        assert "RoleArn" not in deploy
    prod = _stage(template, "prod")
    assert prod["web-deploy"]["RunOrder"] > min(a["RunOrder"] for a in prod.values() if a["Name"] != "web-deploy")


def test_pipeline_role_deploys_exactly_the_named_groups(write_manifest):
    template = _compile(write_manifest, [WEB])["pipeline.yaml"]
    statements = _statements(template, "PipelineRole")
    for env in ("staging", "prod"):
        assert allowed(statements, "codedeploy:CreateDeployment", _group(f"web-{env}"))
    assert not allowed(statements, "codedeploy:CreateDeployment", _group("web-dev"))
    assert not allowed(statements, "codedeploy:CreateDeployment", _group("web-staging", application="other"))
    app = f"arn:aws:codedeploy:{REGION}:111111111111:application:shop-web"
    assert allowed(statements, "codedeploy:RegisterApplicationRevision", app)
    assert allowed(
        statements,
        "codedeploy:GetDeploymentConfig",
        f"arn:aws:codedeploy:{REGION}:111111111111:deploymentconfig:CodeDeployDefault.OneAtATime",
    )
    # an EC2 deployment registers no task definition and passes no role
    assert not allowed(statements, "ecs:RegisterTaskDefinition", "*")
    assert not allowed(statements, "iam:PassRole", "*", {"iam:PassedToService": "ecs-tasks.amazonaws.com"})


def test_codedeploy_in_another_account_runs_as_the_bootstrap_deploy_role(write_manifest):
    targets = [{**WEB, "instance_roles": [INSTANCE_ROLE]}]
    templates = _compile(write_manifest, targets, OTHER_ACCOUNT_ENVS)
    pipeline = templates["pipeline.yaml"]
    deploy = _stage(pipeline, "prod")["web-deploy"]
    assert resolve(deploy["RoleArn"]) == "arn:aws:iam::222222222222:role/manifestc/demo-service/demo-service-deploy"
    assert not allowed(
        _statements(pipeline, "PipelineRole"), "codedeploy:CreateDeployment", _group("web-prod", "222222222222")
    )
    boot = _statements(templates["bootstrap-222222222222.yaml"], "DeployRole")
    # the bootstrap's ${AWS::AccountId} is the target account: iam_sim resolves it to 111111111111
    assert allowed(boot, "codedeploy:CreateDeployment", _group("web-prod"))
    assert not allowed(boot, "codedeploy:CreateDeployment", _group("web-staging"))


def test_instances_of_another_account_read_the_artifacts_through_the_bucket_and_key_policies(write_manifest):
    targets = [{**WEB, "instance_roles": [INSTANCE_ROLE]}]
    pipeline = _compile(write_manifest, targets, OTHER_ACCOUNT_ENVS)["pipeline.yaml"]
    bucket = _bucket_policy(pipeline)
    obj = "UNRESOLVED-ArtifactBucket.Arn/demo-service/BuildOutput/abc123"
    instance = {"aws:PrincipalArn": "arn:aws:iam::222222222222:role/shop-web-instance"}
    other = {"aws:PrincipalArn": "arn:aws:iam::222222222222:role/some-other-role"}
    assert allowed(bucket, "s3:GetObject", obj, instance)
    assert not allowed(bucket, "s3:GetObject", obj, other)
    assert not allowed(bucket, "s3:PutObject", obj, instance)
    # iam_sim ignores Principal: the statements that name the other account as principal
    key = [
        s
        for s in map(resolve, pipeline["Resources"]["ArtifactKey"]["Properties"]["KeyPolicy"]["Statement"])
        if s["Principal"] == {"AWS": "arn:aws:iam::222222222222:root"}
    ]
    via_s3 = {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert allowed(key, "kms:Decrypt", "*", {**instance, **via_s3})
    assert not allowed(key, "kms:Decrypt", "*", {**instance, "kms:ViaService": "sqs.us-east-1.amazonaws.com"})
    assert not allowed(key, "kms:Decrypt", "*", {**other, **via_s3})


def test_codedeploy_in_another_account_needs_instance_roles(write_manifest):
    result = _result(write_manifest, [WEB], OTHER_ACCOUNT_ENVS)
    assert errors(result) == [("MC380", "targets[0]")]
    assert "instance_roles" in next(d for d in result.diagnostics if d.code == "MC380").hint


def test_instance_role_of_a_literal_other_account_is_refused(write_manifest):
    targets = [{**WEB, "instance_roles": ["arn:aws:iam::333333333333:role/web"]}]
    result = _result(write_manifest, targets, OTHER_ACCOUNT_ENVS)
    assert ("MC381", "targets[0].instance_roles[0]") in errors(result)


def test_codedeploy_fields_belong_to_their_types(write_manifest):
    result = _result(write_manifest, [{"name": "web", "type": "codedeploy", "application": "shop-web"}])
    assert errors(result) == [("MC207", "targets[0]")]
    ecs = {"name": "api", "type": "ecs", "cluster": "c", "service": "s", "container": "api"}
    result = _result(write_manifest, [{**ecs, "instance_roles": [INSTANCE_ROLE]}], build={"image_repository": "api"})
    assert ("MC214", "targets[0].instance_roles") in errors(result)


def test_two_environments_deploying_one_group_collide(write_manifest):
    result = _result(write_manifest, [{**WEB, "deployment_group": "web"}])
    assert "MC280" in {code for code, _ in errors(result)}


# --- lambda_layer -------------------------------------------------------------------------------

LAYER = {
    "name": "shared",
    "type": "lambda_layer",
    "layer": "shop-shared-{environment}",
    "regions": ["eu-west-1", "us-east-1"],
    "runtimes": ["python3.12"],
    "architectures": ["arm64"],
}


def _project(template, env, target="shared"):
    [project] = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project" and r["Properties"]["Name"].endswith(f"deploy-{env}-{target}")
    ]
    return project


def _commands(template, env, target="shared"):
    """The build commands of the environment's job of `target`, as one text."""
    spec = yaml.safe_load(resolve(_project(template, env, target)["Source"]["BuildSpec"]))
    return "\n".join(spec["phases"]["build"]["commands"])


def _role_of(template, project):
    return project["ServiceRole"]["Fn::GetAtt"][0]


def test_layer_is_published_in_every_region_by_a_job_per_environment(write_manifest):
    template = _compile(write_manifest, [LAYER])["pipeline.yaml"]
    publish = _stage(template, "staging")["shared-publish"]
    assert publish["ActionTypeId"]["Provider"] == "CodeBuild"
    assert publish["InputArtifacts"] == [{"Name": "BuildOutput"}]
    spec = _commands(template, "staging")
    for region in ("eu-west-1", "us-east-1"):
        assert (
            f"aws --region {region} lambda publish-layer-version --layer-name shop-shared-staging "
            "--zip-file fileb://layer.zip --compatible-runtimes python3.12 --compatible-architectures arm64"
        ) in spec
    assert "VpcConfig" not in _project(template, "staging")


def test_layer_role_publishes_exactly_its_layers(write_manifest):
    template = _compile(write_manifest, [LAYER])["pipeline.yaml"]
    role = _role_of(template, _project(template, "staging"))
    statements = _statements(template, role)
    for region in ("eu-west-1", "us-east-1"):
        arn = f"arn:aws:lambda:{region}:111111111111:layer:shop-shared-staging"
        assert allowed(statements, "lambda:PublishLayerVersion", arn)
    assert not allowed(
        statements, "lambda:PublishLayerVersion", "arn:aws:lambda:eu-west-1:111111111111:layer:shop-shared-prod"
    )
    assert not allowed(statements, "lambda:PublishLayerVersion", "arn:aws:lambda:eu-west-1:111111111111:layer:other")
    assert not allowed(statements, "lambda:UpdateFunctionCode", "arn:aws:lambda:eu-west-1:111111111111:function:x")


def test_layer_defaults_to_the_environments_regions_and_another_accounts_deploy_role(write_manifest):
    layer = {"name": "shared", "type": "lambda_layer", "layer": "shop-shared"}
    templates = _compile(write_manifest, [layer], OTHER_ACCOUNT_ENVS)
    pipeline = templates["pipeline.yaml"]
    spec = _commands(pipeline, "prod")
    assert (
        f"aws --profile deploy --region {REGION} lambda publish-layer-version --layer-name shop-shared "
        "--zip-file fileb://layer.zip --query LayerVersionArn --output text"
    ) in spec  # the environment's region: the pipeline's
    assert spec.count("publish-layer-version") == 1
    role = _statements(pipeline, _role_of(pipeline, _project(pipeline, "prod")))
    deploy_role = "arn:aws:iam::222222222222:role/manifestc/demo-service/demo-service-deploy"
    assert allowed(role, "sts:AssumeRole", deploy_role)
    assert not allowed(role, "lambda:PublishLayerVersion", "arn:aws:lambda:us-east-1:222222222222:layer:shop-shared")
    boot = _statements(templates["bootstrap-222222222222.yaml"], "DeployRole")
    assert allowed(boot, "lambda:PublishLayerVersion", f"arn:aws:lambda:{REGION}:111111111111:layer:shop-shared")


def test_layer_fields_and_collisions(write_manifest):
    result = _result(write_manifest, [{"name": "shared", "type": "lambda_layer"}])
    assert errors(result) == [("MC207", "targets[0]")]
    result = _result(write_manifest, [{**LAYER, "function": "f"}])
    assert ("MC214", "targets[0].function") in errors(result)
    result = _result(write_manifest, [{**LAYER, "layer": "shop-shared"}])  # staging and prod: one layer
    assert "MC280" in {code for code, _ in errors(result)}
    result = _result(write_manifest, [{**LAYER, "architectures": ["arm64", "x86_64", "arm64"]}])
    assert errors(result) == [("MC106", "targets[0].architectures")]


# --- elasticbeanstalk ---------------------------------------------------------------------------

ADMIN = {
    "name": "admin",
    "type": "elasticbeanstalk",
    "application": "shop-admin",
    "beanstalk_environment": "admin-{environment}",
}
ATTRIBUTES = {
    "ArtifactBucket.Arn": "arn:aws:s3:::demo-artifacts",
    "BeanstalkDeployRole.Arn": "arn:aws:iam::111111111111:role/manifestc/demo-service/beanstalk/x-Beanstalk-1",
    "PipelineRole.Arn": "arn:aws:iam::111111111111:role/manifestc/demo-service/pipeline",
    "ApprovalProdTopic": "arn:aws:sns:us-east-1:111111111111:approval-prod",
}


def test_beanstalk_action_runs_as_its_own_role(write_manifest):
    template = _compile(write_manifest, [ADMIN])["pipeline.yaml"]
    resources = template["Resources"]
    deploy = _stage(template, "prod")["admin-deploy"]
    assert deploy["ActionTypeId"] == {
        "Category": "Deploy",
        "Owner": "AWS",
        "Provider": "ElasticBeanstalk",
        "Version": "1",
    }
    assert deploy["Configuration"] == {"ApplicationName": "shop-admin", "EnvironmentName": "admin-prod"}
    assert deploy["RoleArn"] == {"Fn::GetAtt": ["BeanstalkDeployRole", "Arn"]}
    # the broad grants are the Beanstalk role's, never the pipeline role's
    pipeline_role = _statements(template, "PipelineRole")
    assert not allowed(pipeline_role, "elasticbeanstalk:UpdateEnvironment", "*")
    assert not allowed(pipeline_role, "ec2:RunInstances", "*")
    role = resources["BeanstalkDeployRole"]["Properties"]
    # the pipeline role assumes it by its own path (its ARN would make the two roles a cycle)
    assert role["Path"] == "/manifestc/demo-service/beanstalk/"
    assert allowed(pipeline_role, "sts:AssumeRole", ATTRIBUTES["BeanstalkDeployRole.Arn"])
    assert not allowed(pipeline_role, "sts:AssumeRole", "arn:aws:iam::111111111111:role/manifestc/demo-service/other")
    assert resolve(role["AssumeRolePolicyDocument"]["Statement"], ATTRIBUTES) == [
        {"Effect": "Allow", "Principal": {"AWS": ATTRIBUTES["PipelineRole.Arn"]}, "Action": ["sts:AssumeRole"]}
    ]
    assert role["PermissionsBoundary"] == {"Ref": "PermissionsBoundary"}


def test_beanstalk_role_has_the_documented_grants_but_not_the_pipelines_artifacts_or_topics(write_manifest):
    template = _compile(write_manifest, [ADMIN])["pipeline.yaml"]
    role = [
        resolve(s, ATTRIBUTES)
        for p in template["Resources"]["BeanstalkDeployRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    for action in (
        "elasticbeanstalk:CreateApplicationVersion",
        "cloudformation:UpdateStack",
        "autoscaling:UpdateAutoScalingGroup",
    ):
        assert allowed(role, action, "*")
    assert allowed(role, "s3:GetObject", "arn:aws:s3:::demo-artifacts/demo-service/BuildOutput/x")
    assert not allowed(role, "s3:PutObject", "arn:aws:s3:::demo-artifacts/demo-service/BuildOutput/x")
    assert allowed(role, "s3:PutObject", "arn:aws:s3:::elasticbeanstalk-us-east-1-111111111111/x")
    assert not allowed(role, "sns:Publish", ATTRIBUTES["ApprovalProdTopic"])
    assert not allowed(role, "iam:CreateUser", "*")


def test_beanstalk_rules(write_manifest):
    result = _result(write_manifest, [ADMIN], OTHER_ACCOUNT_ENVS)
    assert errors(result) == [("MC382", "targets[0]")]
    result = _result(write_manifest, [{**ADMIN, "beanstalk_environment": "a{environment}"}], [{"name": "qa"}])
    assert errors(result) == [("MC281", "targets[0].beanstalk_environment")]  # "aqa": under 4 characters
    result = _result(write_manifest, [{**ADMIN, "beanstalk_environment": "admin"}])
    assert "MC280" in {code for code, _ in errors(result)}
    result = _result(write_manifest, [{k: v for k, v in ADMIN.items() if k != "application"}])
    assert errors(result) == [("MC207", "targets[0]")]


# --- servicecatalog -----------------------------------------------------------------------------

PRODUCT = {
    "name": "bucket",
    "type": "servicecatalog",
    "template": "products/bucket.yaml",
    "product": {"staging": "prod-staging000001", "prod": "prod-real000000001"},
    "version_prefix": "{environment}-",
}


def test_servicecatalog_action_publishes_a_version_per_run_to_each_environments_product(write_manifest):
    template = _compile(write_manifest, [PRODUCT])["pipeline.yaml"]
    for env, product in (("staging", "prod-staging000001"), ("prod", "prod-real000000001")):
        publish = _stage(template, env)["bucket-publish"]
        assert publish["ActionTypeId"]["Provider"] == "ServiceCatalog"
        assert publish["Configuration"] == {
            "TemplateFilePath": "products/bucket.yaml",
            "ProductVersionName": f"{env}-#{{codepipeline.PipelineExecutionId}}",
            "ProductType": "CLOUD_FORMATION_TEMPLATE",
            "ProductId": product,
        }
        assert publish["InputArtifacts"] == [{"Name": "BuildOutput"}]
    statements = _statements(template, "PipelineRole")
    catalog = f"arn:aws:catalog:{REGION}:111111111111:product"
    assert allowed(statements, "servicecatalog:CreateProvisioningArtifact", f"{catalog}/prod-real000000001")
    assert not allowed(statements, "servicecatalog:CreateProvisioningArtifact", f"{catalog}/prod-other00000001")
    assert allowed(statements, "cloudformation:ValidateTemplate", "*")


def test_servicecatalog_rules(write_manifest):
    result = _result(write_manifest, [{**PRODUCT, "product": "arn:aws:catalog:x"}])
    assert errors(result) == [("MC383", "targets[0].product")]
    result = _result(write_manifest, [{**PRODUCT, "product": {"stagin": "prod-a", "prod": "prod-b"}}])
    assert errors(result) == [("MC384", "targets[0].product"), ("MC384", "targets[0].product.stagin")]
    result = _result(write_manifest, [PRODUCT], OTHER_ACCOUNT_ENVS)
    assert errors(result) == [("MC385", "targets[0]")]
    result = _result(write_manifest, [{**PRODUCT, "product": "prod-shared000001"}])
    assert "MC280" in {code for code, _ in errors(result)}
    result = _result(write_manifest, [{**PRODUCT, "version_prefix": "{stage}-"}])
    assert errors(result) == [("MC208", "targets[0].version_prefix")]


def test_servicecatalog_target_in_a_catalog_product_is_refused(write_manifest):
    catalog = {"portfolio": "platform", "provider": "Platform Team", "product": "svc-pipeline", "version": "1.0.0"}
    result = _result(write_manifest, [{**PRODUCT, "product": "prod-shared000001"}], [{"name": "prod"}], catalog=catalog)
    # every provisioned copy would publish to the one product: the copies-collide rule refuses it
    assert ("MC274", "targets[0]") in errors(result)


# --- image_copy ---------------------------------------------------------------------------------

COPY = {"name": "image", "type": "image_copy", "regions": [REGION, "eu-west-1"]}
IMAGE_BUILD = {"image_repository": "api"}


def test_image_copy_pushes_the_promoted_image_to_each_region_but_its_own(write_manifest):
    template = _compile(write_manifest, [COPY], [{"name": "staging"}], language="docker", build=IMAGE_BUILD)[
        "pipeline.yaml"
    ]
    project = _project(template, "staging", "image")
    assert project["Environment"]["PrivilegedMode"] is True
    commands = _commands(template, "staging", "image").splitlines()
    assert commands[:3] == [
        'aws ecr get-login-password | docker login --username AWS --password-stdin "$ECR_REGISTRY"',
        'export IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:0:7}"',
        'docker pull "$IMAGE_URI:$IMAGE_TAG"',
    ]
    # the build's repository in the pipeline's region already holds it: only eu-west-1
    destination = '"$PIPELINE_ACCOUNT.dkr.ecr.eu-west-1.$AWS_URL_SUFFIX/api:$IMAGE_TAG"'
    login = (
        "aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin "
        '"$PIPELINE_ACCOUNT.dkr.ecr.eu-west-1.$AWS_URL_SUFFIX"'
    )
    digest = '--image-ids imageTag="$IMAGE_TAG" --query "images[0].imageId.imageDigest" --output text'
    check = (
        f'TESTED=$(aws ecr batch-get-image --repository-name "${{IMAGE_URI#*/}}" {digest}) && '
        f"FOUND=$(aws ecr batch-get-image --region eu-west-1 --repository-name api {digest})"
    )
    push = (
        'if [ "$FOUND" = "$TESTED" ]; then echo "api in eu-west-1 already holds $IMAGE_TAG"; '
        'elif [ "$FOUND" != None ]; then echo "api in eu-west-1 holds another image as $IMAGE_TAG '
        '($FOUND, tested: $TESTED)" >&2; exit 1; '
        f'else docker tag "$IMAGE_URI:$IMAGE_TAG" {destination} && docker push {destination}; fi'
    )
    assert commands[3:] == [f"{login} && {check} && {push}"]
    assert _stage(template, "staging")["image-publish"]["InputArtifacts"] == [{"Name": "BuildOutput"}]
    statements = _statements(template, _role_of(template, project))
    assert allowed(statements, "ecr:PutImage", "arn:aws:ecr:eu-west-1:111111111111:repository/api")
    assert not allowed(statements, "ecr:PutImage", f"arn:aws:ecr:{REGION}:111111111111:repository/api")
    assert allowed(statements, "ecr:BatchGetImage", f"arn:aws:ecr:{REGION}:111111111111:repository/api")
    assert not allowed(statements, "ecr:PutImage", "arn:aws:ecr:eu-west-1:111111111111:repository/other")


@pytest.mark.parametrize(
    "found, pushed, fails",
    [
        ("None", True, False),  # not there yet: pushed
        ("sha256:tested", False, False),  # a re-run: the tested image is there, nothing pushed
        ("sha256:other", False, True),  # another image under the commit's tag: refused
        (None, False, True),  # the check itself fails (AccessDenied)
    ],
)
def test_an_image_copy_pushes_only_a_tag_the_destination_lacks(write_manifest, tmp_path, found, pushed, fails):
    """A re-run of the same commit finds the tested image under its tag and pushes nothing (an
    IMMUTABLE repository refuses even the same image under an existing tag); another image under
    that tag, or a failing check, fails the job."""
    import os
    import subprocess

    template = _compile(write_manifest, [COPY], [{"name": "staging"}], language="docker", build=IMAGE_BUILD)[
        "pipeline.yaml"
    ]
    copy = _commands(template, "staging", "image").splitlines()[3]
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "calls"
    answer = f"echo {found}" if found is not None else "echo AccessDenied >&2; exit 254"
    script = f"""#!/bin/bash
echo "aws $*" >> {log}
if [ "$2" = batch-get-image ]; then
  case "$*" in *"--repository-name src/api"*) echo sha256:tested; exit 0;; esac
  {answer}; exit 0
fi
echo token
"""
    (fake / "aws").write_text(script)
    (fake / "docker").write_text(f'#!/bin/bash\necho "docker $*" >> {log}\ncat > /dev/null\n')
    for path in fake.iterdir():
        path.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{fake}:{os.environ['PATH']}",
        "IMAGE_URI": "registry/src/api",
        "IMAGE_TAG": "abc1234",
    }
    env |= {"PIPELINE_ACCOUNT": "111111111111", "AWS_URL_SUFFIX": "amazonaws.com"}
    done = subprocess.run(["bash", "-c", copy], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    calls = log.read_text()
    assert (done.returncode != 0) is fails, done.stderr
    assert ("docker push" in calls) is pushed
    if found == "sha256:tested":
        assert "already holds abc1234" in done.stdout
    if found == "sha256:other":
        assert "holds another image" in done.stderr


def test_image_copy_to_another_account_pushes_as_its_deploy_role(write_manifest):
    templates = _compile(write_manifest, [COPY], OTHER_ACCOUNT_ENVS, language="docker", build=IMAGE_BUILD)
    pipeline = templates["pipeline.yaml"]
    commands = _commands(pipeline, "prod", "image")
    for region in (REGION, "eu-west-1"):  # both regions: another account's repository
        assert f"aws --profile deploy ecr get-login-password --region {region} | docker login" in commands
        assert f'"222222222222.dkr.ecr.{region}.$AWS_URL_SUFFIX/api:$IMAGE_TAG"' in commands
    role = _statements(pipeline, _role_of(pipeline, _project(pipeline, "prod", "image")))
    assert allowed(role, "sts:AssumeRole", "arn:aws:iam::222222222222:role/manifestc/demo-service/demo-service-deploy")
    assert not allowed(role, "ecr:PutImage", "arn:aws:ecr:eu-west-1:222222222222:repository/api")
    boot = _statements(templates["bootstrap-222222222222.yaml"], "DeployRole")
    assert allowed(boot, "ecr:PutImage", "arn:aws:ecr:eu-west-1:111111111111:repository/api")  # its own account
    assert allowed(boot, "ecr:GetAuthorizationToken", "*")
    assert not allowed(boot, "ecr:PutImage", "arn:aws:ecr:eu-west-1:111111111111:repository/other")


def test_image_copy_rules(write_manifest):
    result = _result(write_manifest, [COPY])
    assert errors(result) == [("MC387", "targets[0]")]
    result = _result(write_manifest, [{**COPY, "regions": [REGION]}], language="docker", build=IMAGE_BUILD)
    assert errors(result) == [("MC388", "targets[0]")]
    # staging would push the image prod's consumers pull: prod's approval would gate nothing
    result = _result(write_manifest, [COPY], language="docker", build=IMAGE_BUILD)
    assert errors(result) == [("MC280", "targets[0].image_repository")]
    other = {**COPY, "regions": [REGION], "image_repository": "api-mirror"}
    templates = _compile(write_manifest, [other], [{"name": "staging"}], language="docker", build=IMAGE_BUILD)
    assert '"$PIPELINE_ACCOUNT.dkr.ecr.us-east-1.$AWS_URL_SUFFIX/api-mirror:$IMAGE_TAG"' in _commands(
        templates["pipeline.yaml"], "staging", "image"
    )


def test_two_manifests_deploying_one_deployment_group_collide(tmp_path):
    from conftest import build_manifests

    def text(name):
        return with_changes(
            MINIMAL,
            name=name,
            account="111111111111",
            region=REGION,
            targets=[{**WEB, "deployment_group": "web"}],
            environments=[{"name": "prod"}],
        )

    _, report = build_manifests(tmp_path, text("shop-a"), text("shop-b"))
    found = [d for d in report.all_diagnostics() if d.code == "MC641"]
    assert found and all("CodeDeploy deployment group `shop-web/web`" in d.message for d in found)


def test_deploy_plan_checks_what_the_targets_deploy_to_exists(tmp_path):
    from conftest import ROOT
    from manifestc.api import build
    from manifestc.deployplan import deploy_plan

    out = tmp_path / "out"
    report = build([str(ROOT / "manifests" / "more-targets.yaml")], out, lint=False)
    assert [d for d in report.all_diagnostics() if d.is_error] == []
    steps = {(s.where, s.command) for s in deploy_plan(out)}
    assert (
        "account 222222222222",
        (
            "aws deploy get-deployment-group --application-name storefront-web --deployment-group-name web-prod "
            "--region eu-west-1"
        ),
    ) in steps
    assert ("account 222222222222", "aws iam get-role --role-name storefront-web-instance") in steps
    assert (
        "account 123456789012",
        (
            "aws elasticbeanstalk describe-environments --application-name storefront-admin --environment-names "
            "admin-staging --region eu-west-1"
        ),
    ) in steps
    # a layer is created by its first publish: nothing to check
    assert not any("layer" in command for _, command in steps)


def test_codedeploy_and_beanstalk_deploy_a_bundle_of_their_own(write_manifest):
    """`build_artifact` gives a CodeDeploy revision or an Elastic Beanstalk source bundle its own
    secondary artifact of the build; a lambda_layer job still reads the primary one (MC373)."""
    build = {
        "artifacts": {"files": ["appspec.yml", "app/**/*"]},
        "secondary_artifacts": [{"name": "AdminBundle", "base_directory": "admin", "files": ["**/*"]}],
    }
    targets = [WEB, dict(ADMIN, build_artifact="AdminBundle")]
    template = _compile(write_manifest, targets, [{"name": "staging"}], build=build)["pipeline.yaml"]
    stage = _stage(template, "staging")
    assert stage["web-deploy"]["InputArtifacts"] == [{"Name": "BuildOutput"}]
    assert stage["admin-deploy"]["InputArtifacts"] == [{"Name": "AdminBundle"}]
    [built] = [
        a
        for s in template["Resources"]["Pipeline"]["Properties"]["Stages"]
        for a in s["Actions"]
        if a["Name"] == "Build"
    ]
    assert {"Name": "AdminBundle"} in built["OutputArtifacts"]
    layer = dict(LAYER, build_artifact="AdminBundle")
    result = _result(write_manifest, [layer], [{"name": "staging"}], build=build)
    assert ("MC373", "targets[0].build_artifact") in errors(result)
