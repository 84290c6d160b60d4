"""Glue workflows (SPEC §5.5): glue.yaml, the stack a `glue` target deploys in each environment.

The DAG compiles to one workflow, one start trigger (SCHEDULED or ON_DEMAND) starting every root
node, and one CONDITIONAL trigger per distinct set of upstreams, whose predicate waits for each
upstream job (State SUCCEEDED) or crawler (CrawlState SUCCEEDED) with Logical AND — so fan-in
(one node, several upstreams) and fan-out (several nodes, one upstream set) are both one trigger.
"""

from __future__ import annotations

import hashlib

from awacs import glue as aglue
from awacs import kms, logs, s3
from awacs.aws import Action, Condition, StringEquals
from troposphere import GetAtt, Parameter, Ref, Sub, Template, encode_to_dict, iam
from troposphere import glue as tglue
from troposphere import kms as tkms

from .. import __version__
from ..model import Glue, GlueCrawler, GlueJob, Manifest
from . import glue_extras
from .context import Context, camel
from .iam import (
    allow,
    app_role_path,
    boundary_arn,
    key_admin_statement,
    logs_key_statement,
    policy,
    service_trust,
)


def template_compiled_in_build(m: Manifest) -> bool:
    """glue.yaml comes from the Build stage's GlueTemplate action (which runs in every run) unless
    the self-update's Recompile writes it in every run: without self-update, and when
    `source.branches` lets a run of another branch skip the UpdatePipeline stage (its BeforeEntry
    condition, emit/codepipeline.py `_configured_branch_only`) the template comes from the build."""
    return not m.regenerate.enabled or (m.source.provider == "codestar" and bool(m.source.branches))


def trigger_groups(glue: Glue) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(upstream set, nodes started when all of them succeed), in a stable order; roots first
    with an empty upstream set."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, node in glue.nodes.items():
        groups.setdefault(tuple(sorted(node.after)), []).append(name)
    return sorted(((ups, tuple(names)) for ups, names in groups.items()), key=lambda g: (len(g[0]), g[0]))


def _action(glue: Glue, name: str) -> tglue.Action:
    node = glue.nodes[name]
    if isinstance(node, GlueJob):
        return tglue.Action(JobName=Ref(_job_id(name)))
    return tglue.Action(CrawlerName=Ref(_crawler_id(name)))


def _condition(glue: Glue, name: str) -> tglue.Condition:
    node = glue.nodes[name]
    if isinstance(node, GlueJob):
        return tglue.Condition(JobName=Ref(_job_id(name)), State="SUCCEEDED", LogicalOperator="EQUALS")
    return tglue.Condition(CrawlerName=Ref(_crawler_id(name)), CrawlState="SUCCEEDED", LogicalOperator="EQUALS")


def _job_id(name: str) -> str:
    return camel("job", name)


def _crawler_id(name: str) -> str:
    return camel("crawler", name)


def _name(glue: Glue, suffix: str = "") -> Sub:
    """Resource names carry the environment: each environment's stack has its own workflow."""
    return Sub(f"{glue.workflow}-${{Environment}}{suffix}")


# Placeholders of job arguments and crawler paths, as the per-environment stack renders them
# (README "Glue workflows": `{environment}` keeps each environment's data apart).
_STACK_PLACEHOLDERS = {"{environment}": "${Environment}", "{region}": "${AWS::Region}"}


def _in_stack(text: str, pipeline: str) -> str:
    """`text` inside an Fn::Sub: its own `${` escaped, its placeholders rendered by the stack."""
    text = text.replace("${", "${!").replace("{name}", pipeline)
    for placeholder, value in _STACK_PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    return text


def _value(text: str, pipeline: str) -> str | Sub:
    """A job argument or crawler path: literal, or an Fn::Sub when it has placeholders."""
    if not any(p in text for p in (*_STACK_PLACEHOLDERS, "{name}")):
        return text
    return Sub(_in_stack(text, pipeline))


def _s3_arns(paths: list[str], pipeline: str) -> tuple[list[Sub], list[Sub]]:
    """(bucket ARNs, object ARNs under the paths) for s3:// URIs."""
    buckets, objects = [], []
    for uri in sorted(set(paths)):
        bucket, _, prefix = _in_stack(uri, pipeline).removeprefix("s3://").partition("/")
        buckets.append(Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}"))
        objects.append(Sub(f"arn:${{AWS::Partition}}:s3:::{bucket}/{prefix}*"))
    return _unique(buckets), _unique(objects)


def _unique(items: list[Sub]) -> list[Sub]:
    seen, out = set(), []
    for item in items:
        key = item.data["Fn::Sub"]
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _catalog_arns(database: str) -> list[Sub]:
    return [
        Sub("arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"),
        Sub(f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:database/{database}"),
        Sub(f"arn:${{AWS::Partition}}:glue:${{AWS::Region}}:${{AWS::AccountId}}:table/{database}/*"),
    ]


def script_key_parameter(m: Manifest) -> str | None:
    """What the pipeline passes as ScriptsKeyArn: the artifact key when the scripts live in the
    artifact bucket (SSE-KMS with that key by default), `glue.scripts_key` for a bucket of your own,
    None when that bucket uses SSE-S3 (nothing to decrypt)."""
    if m.glue.scripts_bucket is None:
        return "${ArtifactKey.Arn}"
    return m.glue.scripts_key


def _role(t: Template, logical_id: str, statements: list, pipeline: str, conditional: list | None = None) -> None:
    document = policy(*statements)
    if conditional:  # per-environment grants (emit/glue_extras.py): Fn::If statements
        document = encode_to_dict(document)
        document["Statement"] += conditional
    t.add_resource(
        iam.Role(
            logical_id,
            # the execution role may create only roles under this stack's path, with the boundary
            Path=Sub(app_role_path(pipeline)),
            PermissionsBoundary=boundary_arn(pipeline),
            AssumeRolePolicyDocument=service_trust("glue.amazonaws.com"),
            Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=document)],
        )
    )


def emit_glue(ctx: Context) -> Template:
    """glue.yaml for the manifest's workflow."""
    m: Manifest = ctx.manifest
    glue = m.glue
    t = Template()
    t.set_version("2010-09-09")
    t.set_description(f"manifestc {__version__}: Glue workflow {glue.workflow} of pipeline {m.name}")
    t.set_metadata(
        {
            "manifestc": {
                "version": __version__,
                "pipeline": m.name,
                "workflow": glue.workflow,
                "triggers": [{"after": list(ups), "starts": list(names)} for ups, names in trigger_groups(glue)],
            }
        }
    )
    t.add_parameter(
        Parameter(
            "Environment",
            Type="String",
            AllowedPattern="^[a-z][a-z0-9-]*$",
            Description="Environment this stack serves (names carry it)",
        )
    )
    t.add_parameter(
        Parameter(
            "ScriptsBucket",
            Type="String",
            AllowedPattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            Description="Bucket the pipeline uploaded the job scripts to",
        )
    )
    t.add_parameter(
        Parameter(
            "ScriptsPrefix",
            Type="String",
            AllowedPattern="^[A-Za-z0-9/_.-]+$",
            Description="Prefix named by the SHA-256 of the scripts: changed scripts are a stack change, "
            "unchanged ones are not",
        )
    )
    t.add_parameter(
        Parameter(
            "DatabaseName",
            Type="String",
            AllowedPattern="^[a-z0-9_]{1,255}$",
            Description="Glue database of this environment",
        )
    )
    scripts_key = script_key_parameter(m)
    if scripts_key:
        t.add_parameter(
            Parameter(
                "ScriptsKeyArn",
                Type="String",
                AllowedPattern="^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$",
                Description="KMS key the scripts are encrypted with: the job role may decrypt with it",
            )
        )

    glue_extras.add_conditions(t, m)
    extra_databases = glue_extras.add_databases(t, m)
    t.add_resource(
        tkms.Key(
            "GlueKey",
            Description=f"Glue workflow {glue.workflow}: job bookmarks, logs and outputs",
            EnableKeyRotation=True,
            KeyPolicy=policy(
                key_admin_statement(),
                logs_key_statement(
                    "CloudWatchLogsEncryptsGlueLogs",
                    Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/*"),
                ),
            ),
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
    )
    t.add_resource(
        tglue.SecurityConfiguration(
            "SecurityConfiguration",
            Name=_name(glue, "-security"),
            EncryptionConfiguration=tglue.EncryptionConfiguration(
                S3Encryptions=[tglue.S3Encryption(S3EncryptionMode="SSE-KMS", KmsKeyArn=GetAtt("GlueKey", "Arn"))],
                CloudWatchEncryption=tglue.CloudWatchEncryption(
                    CloudWatchEncryptionMode="SSE-KMS", KmsKeyArn=GetAtt("GlueKey", "Arn")
                ),
                JobBookmarksEncryption=tglue.JobBookmarksEncryption(
                    JobBookmarksEncryptionMode="CSE-KMS", KmsKeyArn=GetAtt("GlueKey", "Arn")
                ),
            ),
        )
    )
    t.add_resource(
        tglue.Database(
            "Database",
            CatalogId=Ref("AWS::AccountId"),
            DatabaseInput=tglue.DatabaseInput(
                Name=Ref("DatabaseName"), Description=f"Tables of Glue workflow {glue.workflow} (manifestc)"
            ),
            # the tables are data: deleting or replacing the stack must not drop them
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
    )

    key = [
        allow(
            [kms.Encrypt, kms.Decrypt, kms.GenerateDataKey, kms.DescribeKey], [GetAtt("GlueKey", "Arn")], sid="GlueKey"
        )
    ]
    glue_logs = [
        allow(
            [logs.CreateLogGroup, logs.CreateLogStream, logs.PutLogEvents, logs.AssociateKmsKey],
            [Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws-glue/*")],
            sid="GlueLogs",
        )
    ]
    catalog_rw = allow(
        [
            aglue.GetDatabase,
            aglue.GetTable,
            aglue.GetTables,
            aglue.CreateTable,
            aglue.UpdateTable,
            aglue.GetPartition,
            aglue.GetPartitions,
            aglue.BatchCreatePartition,
            aglue.BatchGetPartition,
            aglue.CreatePartition,
            aglue.UpdatePartition,
        ],
        _catalog_arns("${DatabaseName}") + extra_databases,
        sid="CatalogOfThisDatabase",
    )
    crawled = [p for c in glue.crawlers for p in c.s3]
    # README "Values that become IAM grants": s3:// arguments are read-only, except Glue's own write
    # parameters and the arguments a job lists in `outputs`.
    # ... and a job reads what the crawlers it runs after catalogued
    reads, writes, env_paths = glue_extras.data_paths(m)
    if glue.jobs:
        script_objects = Sub("arn:${AWS::Partition}:s3:::${ScriptsBucket}/${ScriptsPrefix}/*")
        statements = [allow([s3.GetObject], [script_objects], sid="Scripts")]
        if scripts_key:
            statements.append(allow([kms.Decrypt], [Ref("ScriptsKeyArn")], sid="DecryptScripts"))
        statements += key + glue_logs + [catalog_rw]
        _, read_objects = _s3_arns(reads, m.name)
        _, write_objects = _s3_arns(writes, m.name)
        buckets, _ = _s3_arns(reads + writes, m.name)
        if read_objects:
            statements.append(allow([s3.GetObject], read_objects, sid="ReadPaths"))
        if write_objects:
            statements.append(allow([s3.GetObject, s3.PutObject, s3.DeleteObject], write_objects, sid="WritePaths"))
        if buckets:
            statements.append(allow([s3.ListBucket, s3.GetBucketLocation], buckets, sid="DataBuckets"))
        # cloudwatch:PutMetricData has no resource-level scope; the condition keeps it to Glue's namespace.
        statements.append(
            allow(
                [Action("cloudwatch", "PutMetricData")],
                ["*"],
                Condition(StringEquals({"cloudwatch:namespace": "Glue"})),
                sid="GlueMetrics",
            )
        )
        connection_grants, conditional = glue_extras.connection_statements(m)
        statements += connection_grants
        for env, (env_reads, env_writes) in env_paths.items():
            _, env_read_objects = _s3_arns(env_reads, m.name)
            _, env_write_objects = _s3_arns(env_writes, m.name)
            env_buckets, _ = _s3_arns(env_reads + env_writes, m.name)
            for actions, resources, sid in (
                ([s3.GetObject], env_read_objects, "ReadPaths"),
                ([s3.GetObject, s3.PutObject, s3.DeleteObject], env_write_objects, "WritePaths"),
                ([s3.ListBucket, s3.GetBucketLocation], env_buckets, "DataBuckets"),
            ):
                if resources:
                    conditional.append(glue_extras.conditional(env, allow(actions, resources, sid=sid + camel(env))))
        _role(t, "JobRole", statements, m.name, conditional)
    if glue.crawlers:
        buckets, objects = _s3_arns(crawled, m.name)
        _role(
            t,
            "CrawlerRole",
            [
                allow([s3.GetObject], objects, sid="CrawledPaths"),
                allow([s3.ListBucket, s3.GetBucketLocation], buckets, sid="CrawledBuckets"),
                catalog_rw,
            ]
            + key
            + glue_logs,
            m.name,
        )

    glue_extras.add_connections(t, m, lambda suffix: _name(glue, suffix))
    workflow = glue.orchestration == "workflow"
    if workflow:
        t.add_resource(
            tglue.Workflow(
                "Workflow",
                Name=_name(glue),
                MaxConcurrentRuns=1,
                Description=f"manifestc pipeline {m.name}: {len(glue.jobs)} jobs, {len(glue.crawlers)} crawlers",
            )
        )
    for job in glue.jobs:
        t.add_resource(_job(glue, job, m))
    for crawler in glue.crawlers:
        t.add_resource(_crawler(glue, crawler, m))
    if workflow:
        _triggers(t, glue)
    else:
        glue_extras.add_state_machine(t, m, lambda suffix: _name(glue, suffix))
    ctx_tags = ctx.tag_map()
    for resource in t.resources.values():
        if "Tags" in resource.props and "Tags" not in resource.properties:
            expected = resource.props["Tags"][0]
            resource.Tags = ctx_tags if expected is dict else ctx.tags(literal=True)
    return t


def _triggers(t: Template, glue: Glue) -> None:
    """The workflow's triggers (`orchestration: workflow`, the default)."""
    for upstreams, names in trigger_groups(glue):
        if not upstreams:
            props = (
                {"Type": "SCHEDULED", "Schedule": glue.schedule, "StartOnCreation": True}
                if glue.schedule
                else {"Type": "ON_DEMAND"}
            )
            t.add_resource(
                tglue.Trigger(
                    "StartTrigger",
                    Name=_name(glue, "-start"),
                    WorkflowName=Ref("Workflow"),
                    Actions=[_action(glue, n) for n in names],
                    **props,
                )
            )
            continue
        digest = hashlib.sha256(",".join(upstreams).encode()).hexdigest()[:8]
        t.add_resource(
            tglue.Trigger(
                camel("after", *upstreams) if len(camel("after", *upstreams)) < 200 else f"After{digest}",
                Name=_name(glue, f"-after-{digest}"),
                Description=f"starts {', '.join(names)} when {', '.join(upstreams)} succeeded",
                Type="CONDITIONAL",
                StartOnCreation=True,
                WorkflowName=Ref("Workflow"),
                Actions=[_action(glue, n) for n in names],
                Predicate=tglue.Predicate(Logical="AND", Conditions=[_condition(glue, u) for u in upstreams]),
            )
        )


def _job(glue: Glue, job: GlueJob, m: Manifest) -> tglue.Job:
    pipeline = m.name
    arguments = {
        "--enable-continuous-cloudwatch-log": "true",
        "--enable-metrics": "true",
        "--job-language": "scala" if job.script.endswith(".scala") else "python",
    }
    if job.type in ("spark", "streaming"):
        arguments["--job-bookmark-option"] = "job-bookmark-enable"
    arguments.update({name: _value(value, pipeline) for name, value in job.arguments})
    more_arguments, more_properties = glue_extras.job_extras(job, m, lambda v: _value(v, pipeline))
    arguments.update(more_arguments)
    command = tglue.JobCommand(
        Name=job.command, ScriptLocation=Sub(f"s3://${{ScriptsBucket}}/${{ScriptsPrefix}}/{job.script}")
    )
    if job.type == "pythonshell":
        command.PythonVersion = "3.9"
    elif job.type == "ray":
        command.Runtime = "Ray2.4"
        command.PythonVersion = "3.9"
    else:
        command.PythonVersion = "3"
    props = {
        "Name": _name(glue, f"-{job.name}"),
        "Role": GetAtt("JobRole", "Arn"),
        "Command": command,
        "GlueVersion": job.glue_version,
        "DefaultArguments": arguments,
        "Timeout": job.timeout,
        "MaxRetries": job.retries,
        "ExecutionProperty": tglue.ExecutionProperty(MaxConcurrentRuns=1),
        "SecurityConfiguration": Ref("SecurityConfiguration"),
        **more_properties,
    }
    if job.type == "pythonshell":
        props["MaxCapacity"] = 0.0625
    else:
        props.update(WorkerType=job.worker_type, NumberOfWorkers=job.workers)
    return tglue.Job(_job_id(job.name), **props)


def _crawler(glue: Glue, crawler: GlueCrawler, m: Manifest) -> tglue.Crawler:
    pipeline = m.name
    return tglue.Crawler(
        _crawler_id(crawler.name),
        Name=_name(glue, f"-{crawler.name}"),
        Role=GetAtt("CrawlerRole", "Arn"),
        DatabaseName=glue_extras.crawler_database(m, crawler.database),
        Targets=tglue.Targets(S3Targets=[tglue.S3Target(Path=_value(p, pipeline)) for p in crawler.s3]),
        SchemaChangePolicy=tglue.SchemaChangePolicy(UpdateBehavior="UPDATE_IN_DATABASE", DeleteBehavior="LOG"),
        CrawlerSecurityConfiguration=Ref("SecurityConfiguration"),
    )
