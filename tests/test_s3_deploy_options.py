"""s3 target deploy options: Cache-Control, deleting stale objects, CloudFront invalidation (issue 11 item 8)."""

from __future__ import annotations

import pytest
from conftest import MINIMAL, with_changes
from manifestc.api import check_manifest, compile_manifest

TWO_ENVS = [{"name": "staging"}, {"name": "prod", "approval": True}]


def errors(result):
    return sorted((d.code, d.dotted_path()) for d in result.diagnostics if d.is_error)


def _site(**fields) -> dict:
    return {"name": "site", "type": "s3", "bucket": "acme-site", "prefix": "{environment}/", **fields}


def _compile(write_manifest, target, environments=TWO_ENVS, **changes):
    text = with_changes(MINIMAL, targets=[target], environments=environments, **changes)
    result = compile_manifest(write_manifest(text), lint=False)
    assert not errors(result), result.diagnostics
    return result.templates["pipeline.yaml"]


def _stage(template, name):
    [stage] = [s for s in template["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == name]
    return stage["Actions"]


def _statements(template, role):
    return [s for p in template["Resources"][role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _actions_of(statement):
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_cache_control_is_the_s3_deploy_actions_cache_control(write_manifest):
    template = _compile(write_manifest, _site(cache_control="max-age=300, public"))
    [deploy] = _stage(template, "staging")
    assert deploy["ActionTypeId"]["Provider"] == "S3"
    assert deploy["Configuration"]["CacheControl"] == "max-age=300, public"
    assert deploy["Configuration"]["ObjectKey"] == "staging/"


def test_delete_stale_replaces_the_s3_deploy_action_with_a_sync_job(write_manifest):
    template = _compile(write_manifest, _site(delete_stale=True, cache_control="no-cache"))
    [deploy] = _stage(template, "staging")
    assert deploy["ActionTypeId"]["Provider"] == "CodeBuild"
    assert deploy["InputArtifacts"] == [{"Name": "BuildOutput"}]
    project = template["Resources"]["DeployStagingSiteProject"]["Properties"]
    spec = project["Source"]["BuildSpec"]
    assert "aws s3 sync . s3://acme-site/staging/ --delete --no-progress --cache-control no-cache" in spec
    assert "VpcConfig" not in project
    statements = _statements(template, "DeployStagingSiteRole")
    [sync] = [s for s in statements if s.get("Sid") == "SyncTargetPrefix"]
    assert _actions_of(sync) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert str(sync["Resource"]) == str([{"Fn::Sub": "arn:${AWS::Partition}:s3:::acme-site/staging/*"}])
    [listing] = [s for s in statements if s.get("Sid") == "ListTargetPrefix"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "staging/*"}}
    # the pipeline role no longer writes the bucket: the job does
    assert not any(s.get("Sid") == "DeployToBuckets" for s in _statements(template, "PipelineRole"))
    # prod's job may touch only prod's prefix
    prod = _statements(template, "DeployProdSiteRole")
    assert "acme-site/staging" not in str(prod) and "acme-site/prod/*" in str(prod)


def test_invalidation_runs_after_the_deploy_on_exactly_that_distribution(write_manifest):
    target = _site(cloudfront_invalidation={"distribution": {"staging": "E1STAGING", "prod": "E2PROD"}})
    tests = [{"name": "unit"}, {"name": "smoke", "after": "staging"}]
    template = _compile(write_manifest, target, tests=tests)
    actions = _stage(template, "staging")
    order = [(a["Name"], a["RunOrder"]) for a in actions]
    assert order == [("site-deploy", 1), ("site-invalidate", 2), ("Test-smoke", 3)]
    spec = template["Resources"]["DeployStagingSiteProject"]["Properties"]["Source"]["BuildSpec"]
    assert "create-invalidation --distribution-id E1STAGING --paths '/*'" in spec
    assert "get-invalidation --distribution-id E1STAGING" in spec and "wait invalidation-completed" not in spec
    [grant] = [s for s in _statements(template, "DeployStagingSiteRole") if s.get("Sid") == "InvalidateDistribution"]
    assert _actions_of(grant) == {"cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"}
    assert grant["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/E1STAGING"}
    ]
    assert "E1STAGING" not in str(_statements(template, "DeployProdSiteRole"))
    # invalidation alone keeps the S3 deploy action, and no S3 grant on the job
    assert not any("Sync" in s.get("Sid", "") for s in _statements(template, "DeployStagingSiteRole"))


def test_delete_stale_and_invalidation_are_one_job(write_manifest):
    target = _site(delete_stale=True, cloudfront_invalidation={"distribution": "E3ALL", "paths": ["/index.html"]})
    template = _compile(write_manifest, target)
    [deploy] = _stage(template, "prod")[1:]  # after the approval
    spec = template["Resources"]["DeployProdSiteProject"]["Properties"]["Source"]["BuildSpec"]
    assert spec.index("aws s3 sync") < spec.index("create-invalidation --distribution-id E3ALL --paths /index.html")
    assert deploy["Name"] == "site-deploy"


def test_delete_stale_needs_extracted_files(write_manifest):
    text = with_changes(MINIMAL, targets=[_site(extract=False, delete_stale=True, prefix="site.zip")])
    result = check_manifest(write_manifest(text))
    assert errors(result) == [("MC320", "targets[0].delete_stale")]
    [diag] = [d for d in result.diagnostics if d.is_error]
    assert diag.line > 0 and "extract" in diag.hint


def test_distribution_must_be_an_id(write_manifest):
    target = _site(cloudfront_invalidation={"distribution": "arn:aws:cloudfront::1:distribution/*"})
    result = check_manifest(write_manifest(with_changes(MINIMAL, targets=[target])))
    assert ("MC321", "targets[0].cloudfront_invalidation.distribution") in errors(result)


def test_per_environment_distributions_match_the_deploying_environments(write_manifest):
    target = _site(cloudfront_invalidation={"distribution": {"stagin": "E1STAGING"}})
    result = check_manifest(write_manifest(with_changes(MINIMAL, targets=[target], environments=TWO_ENVS)))
    found = errors(result)
    assert ("MC322", "targets[0].cloudfront_invalidation.distribution.stagin") in found
    assert ("MC322", "targets[0].cloudfront_invalidation.distribution") in found  # staging and prod missing
    diag = next(d for d in result.diagnostics if d.code == "MC322" and "`stagin`" in d.message)
    assert "`staging`" in diag.hint


def test_another_account_syncs_and_invalidates_as_its_deploy_role(write_manifest):
    import yaml
    from iam_sim import allowed, resolve

    envs = [{"name": "prod", "account": "222222222222"}]
    target = _site(delete_stale=True, cloudfront_invalidation={"distribution": "E2PRODSITE"})
    text = with_changes(MINIMAL, targets=[target], environments=envs, account="111111111111", region="eu-west-1")
    result = compile_manifest(write_manifest(text), lint=False)
    assert not errors(result), result.diagnostics
    pipeline, boot = result.templates["pipeline.yaml"], result.templates["bootstrap-222222222222.yaml"]
    [project] = [
        r["Properties"]
        for r in pipeline["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project" and r["Properties"]["Name"].endswith("deploy-prod-site")
    ]
    commands = yaml.safe_load(resolve(project["Source"]["BuildSpec"]))["phases"]["build"]["commands"]
    assert commands[0].endswith("role/manifestc/demo-service/demo-service-deploy")
    assert any(c.startswith("aws --profile deploy s3 sync . ") and "--delete" in c for c in commands)
    assert any(
        "aws --profile deploy cloudfront create-invalidation --distribution-id E2PRODSITE" in c for c in commands
    )

    def statements(template, role):
        props = template["Resources"][role]["Properties"]
        return [resolve(s) for p in props["Policies"] for s in p["PolicyDocument"]["Statement"]]

    job = statements(pipeline, project["ServiceRole"]["Fn::GetAtt"][0])
    assert allowed(job, "sts:AssumeRole", "arn:aws:iam::222222222222:role/manifestc/demo-service/demo-service-deploy")
    assert not allowed(job, "s3:DeleteObject", "arn:aws:s3:::acme-site/prod/x.html")  # only the deploy role
    deploy = statements(boot, "DeployRole")
    assert allowed(deploy, "s3:DeleteObject", "arn:aws:s3:::acme-site/prod/x.html")
    assert not allowed(deploy, "s3:DeleteObject", "arn:aws:s3:::acme-site/staging/x.html")
    assert allowed(deploy, "s3:ListBucket", "arn:aws:s3:::acme-site", {"s3:prefix": "prod/"})
    assert not allowed(deploy, "s3:ListBucket", "arn:aws:s3:::acme-site", {"s3:prefix": "staging/"})
    # iam_sim's ${AWS::AccountId} is 111111111111: in the bootstrap, the target account's own
    assert allowed(deploy, "cloudfront:CreateInvalidation", "arn:aws:cloudfront::111111111111:distribution/E2PRODSITE")
    assert not allowed(deploy, "cloudfront:CreateInvalidation", "arn:aws:cloudfront::111111111111:distribution/EOTHER")


def test_options_of_s3_targets_only(write_manifest):
    target = {"name": "api", "template": "t.yaml", "cache_control": "no-cache"}
    result = check_manifest(write_manifest(with_changes(MINIMAL, targets=[target])))
    assert errors(result) == [("MC214", "targets[0].cache_control")]


KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_delete_stale_job_may_use_the_buckets_customer_managed_key_through_s3_only(write_manifest):
    from iam_sim import allowed, resolve

    template = _compile(write_manifest, _site(delete_stale=True, kms_key=KEY))
    statements = resolve(_statements(template, "DeployStagingSiteRole"))
    via_s3 = {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    # aws s3 sync uploads (GenerateDataKey; Decrypt for multipart uploads) under the bucket's SSE-KMS key
    assert allowed(statements, "kms:GenerateDataKey", KEY, via_s3)
    assert allowed(statements, "kms:Decrypt", KEY, via_s3)
    assert not allowed(statements, "kms:Decrypt", KEY)  # not a direct call
    assert not allowed(statements, "kms:Decrypt", KEY, {"kms:ViaService": "s3.us-east-1.amazonaws.com"})
    assert not allowed(statements, "kms:Encrypt", KEY, via_s3)
    assert not allowed(statements, "kms:GenerateDataKey", KEY.replace("1234abcd", "ffffffff"), via_s3)
    # the pipeline role does not write the bucket with delete_stale, so it gets no key either
    assert KEY.split("/")[1] not in str(_statements(template, "PipelineRole"))


def test_without_a_key_no_kms_grant_and_the_s3_deploy_action_gets_the_key(write_manifest):
    from iam_sim import allowed, resolve

    plain = _compile(write_manifest, _site(delete_stale=True))
    assert not any(s.get("Sid") == "TargetBucketKey" for s in _statements(plain, "DeployStagingSiteRole"))
    # without delete_stale the S3 deploy action writes with the pipeline role: it gets the key
    template = _compile(write_manifest, _site(kms_key=KEY))
    statements = resolve(_statements(template, "PipelineRole"))
    assert allowed(statements, "kms:GenerateDataKey", KEY, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})


def test_kms_key_per_environment_and_of_s3_targets_only(write_manifest):
    template = _compile(write_manifest, _site(delete_stale=True, kms_key=KEY.replace("1234abcd", "{environment}")))
    assert "key/prod-12ab" in str(_statements(template, "DeployProdSiteRole"))
    assert "key/staging-12ab" in str(_statements(template, "DeployStagingSiteRole"))
    target = {"name": "api", "template": "t.yaml", "kms_key": KEY}
    result = check_manifest(write_manifest(with_changes(MINIMAL, targets=[target])))
    assert errors(result) == [("MC214", "targets[0].kms_key")]
    bad = check_manifest(write_manifest(with_changes(MINIMAL, targets=[_site(kms_key="alias/site")])))
    assert [c for c, _ in errors(bad)] and errors(bad)[0][1] == "targets[0].kms_key"


def test_another_accounts_deploy_role_gets_the_bucket_key(write_manifest):
    from iam_sim import allowed, resolve

    envs = [{"name": "prod", "account": "210987654321"}]
    text = with_changes(MINIMAL, targets=[_site(kms_key=KEY)], environments=envs, account="123456789012")
    result = compile_manifest(write_manifest(text), lint=False)
    assert not errors(result), result.diagnostics
    bootstrap = next(t for name, t in result.templates.items() if name.startswith("bootstrap-"))
    role = next(r for r in bootstrap["Resources"].values() if r["Type"] == "AWS::IAM::Role")
    statements = resolve([s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]])
    assert allowed(statements, "kms:GenerateDataKey", KEY, {"kms:ViaService": "s3.eu-west-1.amazonaws.com"})


def _poll_command(write_manifest) -> str:
    import yaml

    target = _site(cloudfront_invalidation={"distribution": "E1SITE"})
    template = _compile(write_manifest, target)
    spec = yaml.safe_load(template["Resources"]["DeployStagingSiteProject"]["Properties"]["Source"]["BuildSpec"])
    [poll] = [c for c in spec["phases"]["build"]["commands"] if "get-invalidation" in c]
    assert template["Resources"]["DeployStagingSiteProject"]["Properties"]["TimeoutInMinutes"] == 60
    return poll


@pytest.mark.parametrize(
    "statuses, succeeds", [(["InProgress", "InProgress", "Completed"], True), (["InProgress"] * 500, False)]
)
def test_the_invalidation_is_polled_past_the_cli_waiters_ten_minutes(write_manifest, tmp_path, statuses, succeeds):
    """The job polls get-invalidation (15 s apart, up to 50 minutes, in a 60-minute job) instead of
    the CLI waiter, which fails after 10 minutes; it fails only when the invalidation never completes."""
    import os
    import subprocess

    poll = _poll_command(write_manifest)
    fake = tmp_path / "bin"
    fake.mkdir()
    (tmp_path / "statuses").write_text("\n".join(statuses) + "\n")
    (fake / "aws").write_text(
        f"#!/bin/bash\nhead -n 1 {tmp_path}/statuses\ntail -n +2 {tmp_path}/statuses > {tmp_path}/rest; "
        f'[ -s {tmp_path}/rest ] && mv {tmp_path}/rest {tmp_path}/statuses || true\necho "$@" >> {tmp_path}/calls\n'
    )
    (fake / "sleep").write_text("#!/bin/bash\nexit 0\n")
    for script in fake.iterdir():
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "ID": "I2J0I21PCUYOIK"}
    done = subprocess.run(["bash", "-c", poll], env=env, capture_output=True, text=True)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert all("cloudfront get-invalidation --distribution-id E1SITE --id I2J0I21PCUYOIK" in c for c in calls)
    if succeeds:
        assert done.returncode == 0 and len(calls) == 3
    else:
        assert done.returncode != 0 and len(calls) == 200 and "not completed after 50 minutes" in done.stderr
