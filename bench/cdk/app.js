// The AWS CDK peer of manifests/python-service.yaml, for bench/run.py: the same pipeline written
// with aws-cdk-lib's CodePipeline constructs (CodeCommit source, KMS-encrypted artifact bucket,
// build and unit-test CodeBuild projects with report groups, CloudFormation deploys to staging,
// a manual approval and prod, a smoke test after staging, a self-update action, a notification
// topic). `node app.js OUTDIR` synthesises it, which is what `cdk synth` runs after the CLI starts,
// so timing it is a lower bound for `cdk synth`.
const cdk = require("aws-cdk-lib");
const codebuild = require("aws-cdk-lib/aws-codebuild");
const codecommit = require("aws-cdk-lib/aws-codecommit");
const codepipeline = require("aws-cdk-lib/aws-codepipeline");
const actions = require("aws-cdk-lib/aws-codepipeline-actions");
const kms = require("aws-cdk-lib/aws-kms");
const logs = require("aws-cdk-lib/aws-logs");
const s3 = require("aws-cdk-lib/aws-s3");
const sns = require("aws-cdk-lib/aws-sns");

// an explicit OUTDIR argument, else the cdk CLI's --output (CDK_OUTDIR), else cdk.out
const app = new cdk.App(process.argv[2] ? { outdir: process.argv[2] } : {});
const stack = new cdk.Stack(app, "orders-service-pipeline", { env: { region: "us-east-1" } });
cdk.Tags.of(stack).add("cost-center", "1234");
cdk.Tags.of(stack).add("team", "payments");

const key = new kms.Key(stack, "ArtifactKey", { enableKeyRotation: true, alias: "alias/manifestc/orders-service" });
const bucket = new s3.Bucket(stack, "Artifacts", {
  encryption: s3.BucketEncryption.KMS,
  encryptionKey: key,
  blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
  enforceSSL: true,
  versioned: true,
});
const topic = new sns.Topic(stack, "Notifications", { masterKey: key });
const repo = codecommit.Repository.fromRepositoryName(stack, "Repo", "orders-service");

function project(id, commands, reports) {
  const spec = { version: "0.2", phases: { install: { "runtime-versions": { python: "3.12" } }, build: { commands } } };
  if (reports) {
    spec.reports = { [id]: { files: reports, "file-format": "JUNITXML" } };
  }
  return new codebuild.PipelineProject(stack, id, {
    environment: {
      buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
      computeType: codebuild.ComputeType.SMALL,
      environmentVariables: {
        LOG_LEVEL: { value: "info" },
        DB_PASSWORD: { type: codebuild.BuildEnvironmentVariableType.SECRETS_MANAGER, value: "orders/db:password" },
        API_KEY: { type: codebuild.BuildEnvironmentVariableType.PARAMETER_STORE, value: "/orders/api-key" },
      },
    },
    encryptionKey: key,
    timeout: cdk.Duration.minutes(30),
    cache: codebuild.Cache.bucket(bucket, { prefix: "cache" }),
    logging: { cloudWatch: { logGroup: new logs.LogGroup(stack, `${id}Logs`, { retention: logs.RetentionDays.ONE_MONTH }) } },
    buildSpec: codebuild.BuildSpec.fromObject(spec),
  });
}

const source = new codepipeline.Artifact("Source");
const built = new codepipeline.Artifact("Build");
const pipeline = new codepipeline.Pipeline(stack, "Pipeline", {
  pipelineName: "orders-service",
  pipelineType: codepipeline.PipelineType.V2,
  artifactBucket: bucket,
  restartExecutionOnUpdate: true,
});
pipeline.addStage({
  stageName: "Source",
  actions: [new actions.CodeCommitSourceAction({ actionName: "Source", repository: repo, branch: "main", output: source })],
});
pipeline.addStage({
  stageName: "UpdatePipeline",
  actions: [
    new actions.CodeBuildAction({
      actionName: "SelfUpdate",
      project: project("SelfUpdate", ["pip install manifestc", "manifestc build manifest.yaml"]),
      input: source,
    }),
  ],
});
pipeline.addStage({
  stageName: "Build",
  actions: [
    new actions.CodeBuildAction({
      actionName: "Build",
      project: project("BuildProject", ["pip wheel . -w dist"]),
      input: source,
      outputs: [built],
    }),
    new actions.CodeBuildAction({
      actionName: "unit",
      project: project(
        "UnitTests",
        ["python -m pip install -r requirements-dev.txt", "python -m pytest tests/unit --junitxml=reports/unit.xml"],
        ["reports/unit.xml"],
      ),
      input: source,
    }),
  ],
});
for (const env of ["staging", "prod"]) {
  const stageActions = [];
  let order = 1;
  if (env === "prod") {
    stageActions.push(new actions.ManualApprovalAction({ actionName: "Approve", notificationTopic: topic, runOrder: order++ }));
  }
  stageActions.push(
    new actions.CloudFormationCreateUpdateStackAction({
      actionName: "app",
      stackName: `orders-${env}`,
      templatePath: built.atPath("deploy/app.yaml"),
      adminPermissions: false,
      parameterOverrides: { Stage: env },
      runOrder: order++,
    }),
  );
  if (env === "staging") {
    stageActions.push(
      new actions.CodeBuildAction({
        actionName: "smoke",
        project: project("SmokeTests", ["python -m pytest tests/smoke --junitxml=reports/smoke.xml"], ["reports/smoke.xml"]),
        input: source,
        runOrder: order++,
      }),
    );
  }
  pipeline.addStage({ stageName: env, actions: stageActions });
}
pipeline.onStateChange("Failures", { target: undefined });
app.synth();
