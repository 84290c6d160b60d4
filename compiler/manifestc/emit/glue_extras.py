"""glue.yaml beyond one workflow (README "Glue connections, databases, dependencies and Step
Functions"): Glue connections, more databases, job dependencies, per-environment values and a
Step Functions state machine instead of the workflow. Every function here adds nothing when its
manifest fields are absent, so such a glue.yaml stays byte for byte what emit/glue.py made before.

One glue.yaml serves every environment (the `Environment` parameter); a value that differs per
environment is an `Fn::If` over `IsEnvironment<Name>` conditions, and so is a grant that only one
environment needs: each environment's stack has exactly its own values and grants.
"""

from __future__ import annotations

from awacs import ec2, kms, secretsmanager
from awacs import glue as aglue
from awacs.aws import Action, Condition, ForAllValuesStringEquals, StringEquals
from troposphere import Equals, GetAtt, If, Parameter, Ref, Select, Sub, Template, encode_to_dict, iam, scheduler
from troposphere import glue as tglue
from troposphere import stepfunctions as sfn

from ..model import Glue, GlueJob, Manifest
from ..semantics_glue import dependency_parameter
from .context import camel
from .iam import allow, app_role_path, boundary_arn, policy, service_trust


def environments(m: Manifest) -> list[str]:
    """The environments that deploy glue.yaml, in manifest order."""
    return [e.name for e in m.environments if any(m.target(n).type == "glue" for n in e.targets)]


def condition_id(environment: str) -> str:
    return camel("is", "environment", environment)


def add_conditions(t: Template, m: Manifest) -> None:
    """`IsEnvironment<Name>` for each deploying environment, when some value differs per environment."""
    glue = m.glue
    varies = any(j.environment_arguments for j in glue.jobs) or any(c.by_environment for c in glue.connections)
    if not varies:
        return
    for env in environments(m):
        t.add_condition(condition_id(env), Equals(Ref("Environment"), env))


def per_environment(m: Manifest, base, value_in):
    """`base`, or an Fn::If chain choosing each environment's own `value_in(env)` where it differs.
    Without a `base` (a connection placed only per environment) the last environment's value is
    the chain's end: semantics (MC360) made sure every environment has one."""
    envs = environments(m)
    if base in (None, []) and envs:
        base, envs = value_in(envs[-1]), envs[:-1]
    result = base
    for env in reversed(envs):
        value = value_in(env)
        if value != base:
            result = If(condition_id(env), value, result)
    return result


def conditional(environment: str, statement) -> dict:
    """A policy statement only `environment`'s stack has."""
    return {"Fn::If": [condition_id(environment), encode_to_dict(statement), {"Ref": "AWS::NoValue"}]}


def add_databases(t: Template, m: Manifest) -> list[Sub]:
    """`glue.databases`: one retained AWS::Glue::Database each, named by the pipeline per
    environment (parameter ExtraDatabaseNames); returns their catalog ARNs for the roles."""
    glue = m.glue
    if not glue.databases:
        return []
    t.add_parameter(
        Parameter(
            "ExtraDatabaseNames",
            Type="CommaDelimitedList",
            Description="More Glue databases of this environment, in the order of glue.databases",
        )
    )
    arns = []
    for index, _ in enumerate(glue.databases):
        name = Select(index, Ref("ExtraDatabaseNames"))
        t.add_resource(
            tglue.Database(
                database_id(m, index),
                CatalogId=Ref("AWS::AccountId"),
                DatabaseInput=tglue.DatabaseInput(Name=name, Description=f"Tables of Glue workflow {glue.workflow}"),
                DeletionPolicy="Retain",
                UpdateReplacePolicy="Retain",
            )
        )
        prefix = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
        arns += [
            Sub(f"{prefix}:database/${{Name}}", Name=name),
            Sub(f"{prefix}:table/${{Name}}/*", Name=name),
        ]
    return arns


def database_id(m: Manifest, index: int) -> str:
    return camel("database", m.glue.databases[index].replace("{", "").replace("}", ""))


def crawler_database(m: Manifest, database: str | None) -> Ref:
    return Ref("Database") if database is None else Ref(database_id(m, m.glue.databases.index(database)))


def add_connections(t: Template, m: Manifest, name) -> None:
    """AWS::Glue::Connection per `glue.connections` entry, placed per environment."""
    for conn in m.glue.connections:

        def value(field, conn=conn):
            base = getattr(conn, field)
            return per_environment(
                m, list(base) if isinstance(base, tuple) else base, lambda e: _plain(conn.value_in(field, e))
            )

        requirements = tglue.PhysicalConnectionRequirements(
            SubnetId=value("subnet"),
            SecurityGroupIdList=value("security_groups"),
            AvailabilityZone=value("availability_zone"),
        )
        properties = {}
        if conn.type == "JDBC":
            properties["JDBC_CONNECTION_URL"] = value("jdbc_url")
            if conn.secret or any(dict(v).get("secret") for _, v in conn.by_environment):
                properties["SECRET_ID"] = value("secret")
        t.add_resource(
            tglue.Connection(
                connection_id(conn.name),
                CatalogId=Ref("AWS::AccountId"),
                ConnectionInput=tglue.ConnectionInput(
                    Name=name(f"-{conn.name}"),
                    ConnectionType=conn.type,
                    ConnectionProperties=properties,
                    PhysicalConnectionRequirements=requirements,
                ),
            )
        )


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def connection_id(name: str) -> str:
    return camel("connection", name)


def job_extras(job: GlueJob, m: Manifest, value) -> tuple[dict, dict]:
    """(DefaultArguments to add or replace, job properties to add) for `job`: its dependencies
    from the scripts prefix, per-environment argument values, its connections."""
    arguments: dict = {}
    by_parameter: dict[str, list[str]] = {}
    for dep in job.dependencies:
        by_parameter.setdefault(dependency_parameter(job.type, dep), []).append(
            f"s3://${{ScriptsBucket}}/${{ScriptsPrefix}}/{dep}"
        )
    arguments.update({p: Sub(",".join(paths)) for p, paths in by_parameter.items()})
    if job.environment_arguments:
        for name, base in job.arguments:
            arguments[name] = per_environment(
                m, value(base), lambda e, name=name: value(dict(job.arguments_in(e))[name])
            )
    properties = {}
    if job.connections:
        properties["Connections"] = tglue.ConnectionsList(Connections=[Ref(connection_id(c)) for c in job.connections])
    return arguments, properties


def data_paths(m: Manifest) -> tuple[list[str], list[str], dict[str, tuple[list[str], list[str]]]]:
    """(paths every environment's jobs read, paths they all write, {environment: (more it reads,
    more it writes)}): README "Values that become IAM grants", per environment."""
    glue = m.glue
    crawled = list(glue.upstream_crawler_paths())
    reads = [p for j in glue.jobs for p in j.s3_paths(write=False)] + crawled
    writes = [p for j in glue.jobs for p in j.s3_paths(write=True)]
    envs = environments(m)
    if not envs or not any(j.environment_arguments for j in glue.jobs):
        return reads, writes, {}
    per = {
        e: (
            [p for j in glue.jobs for p in j.s3_paths_in(e, write=False)] + crawled,
            [p for j in glue.jobs for p in j.s3_paths_in(e, write=True)],
        )
        for e in envs
    }
    common_reads = [p for p in per[envs[0]][0] if all(p in per[e][0] for e in envs)]
    common_writes = [p for p in per[envs[0]][1] if all(p in per[e][1] for e in envs)]
    extra = {
        e: ([p for p in r if p not in common_reads], [p for p in w if p not in common_writes])
        for e, (r, w) in per.items()
    }
    return common_reads, common_writes, {e: v for e, v in extra.items() if v[0] or v[1]}


def _ec2_arn(resource: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def connection_statements(m: Manifest) -> tuple[list, list[dict]]:
    """The job role's grants for its connections: (statements, per-environment statements).

    Glue creates the jobs' network interfaces in the connection's subnet with its security groups
    and removes them after the run (the EC2 actions of AWSGlueServiceRole, AWS Managed Policy
    Reference); a JDBC connection's secret is read with the job role (secretsmanager:GetSecretValue,
    and kms:Decrypt through Secrets Manager when the secret has a key of its own)."""
    glue = m.glue
    used = [c for c in glue.connections if any(c.name in j.connections for j in glue.jobs)]
    if not used:
        return [], []
    envs = environments(m) or [None]

    def placement(env):
        found = []
        for conn in used:
            subnet = conn.value_in("subnet", env) if env else conn.subnet
            groups = conn.value_in("security_groups", env) if env else conn.security_groups
            found += [f"subnet/{subnet}" for _ in [subnet] if subnet] + [f"security-group/{g}" for g in groups or ()]
        return list(dict.fromkeys(found))

    def secrets(env):
        found = []
        for conn in used:
            secret = conn.value_in("secret", env) if env else conn.secret
            key = conn.value_in("secret_key", env) if env else conn.secret_key
            if secret:
                found.append(("secret", secret))
            if key:
                found.append(("key", key))
        return list(dict.fromkeys(found))

    per_place = {e: placement(e) for e in envs}
    per_secret = {e: secrets(e) for e in envs}
    common_place = [r for r in per_place[envs[0]] if all(r in per_place[e] for e in envs)]
    common_secret = [r for r in per_secret[envs[0]] if all(r in per_secret[e] for e in envs)]
    interface = _ec2_arn("network-interface/*")
    glue_arn = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
    statements = [
        # a job reads its connections' definitions as the job role (glueContext with a connection,
        # JDBC options): glue:GetConnection needs the catalog and the connection (AWS Glue Developer
        # Guide, "Specifying AWS Glue resource ARNs": arn:…:connection/<name>). Not GetConnections,
        # which would list every connection of the account.
        allow(
            [aglue.GetConnection],
            [Sub(f"{glue_arn}:catalog")]
            + [Sub(f"{glue_arn}:connection/{glue.workflow}-${{Environment}}-{c.name}") for c in used],
            sid="ReadTheConnections",
        ),
        # Describe* have no resource-level permissions (Service Authorization Reference, Amazon EC2)
        allow(
            [
                ec2.DescribeNetworkInterfaces,
                ec2.DescribeRouteTables,
                ec2.DescribeSecurityGroups,
                ec2.DescribeSubnets,
                ec2.DescribeVpcAttribute,
                ec2.DescribeVpcEndpoints,
            ],
            ["*"],
            sid="DescribeVpc",
        ),
        allow(
            [ec2.CreateNetworkInterface],
            [interface] + [_ec2_arn(r) for r in common_place],
            sid="NetworkInterfacesInTheConnectionSubnets",
        ),
        allow([ec2.DeleteNetworkInterface], [interface], sid="DeleteNetworkInterfaces"),
        allow(
            [ec2.CreateTags, ec2.DeleteTags],
            [interface],
            Condition(ForAllValuesStringEquals({"aws:TagKeys": ["aws-glue-service-resource"]})),
            sid="TagNetworkInterfaces",
        ),
    ]
    statements += _secret_statements(
        [v for k, v in common_secret if k == "secret"], [v for k, v in common_secret if k == "key"], ""
    )
    extra = []
    for env in envs:
        if env is None:
            continue
        place = [r for r in per_place[env] if r not in common_place]
        if place:
            extra.append(
                conditional(
                    env,
                    allow([ec2.CreateNetworkInterface], [_ec2_arn(r) for r in place], sid=camel("interfaces", env)),
                )
            )
        more = [r for r in per_secret[env] if r not in common_secret]
        for statement in _secret_statements(
            [v for k, v in more if k == "secret"], [v for k, v in more if k == "key"], camel(env)
        ):
            extra.append(conditional(env, statement))
    return statements, extra


def _secret_statements(secrets: list[str], keys: list[str], suffix: str) -> list:
    out = []
    if secrets:
        out.append(allow([secretsmanager.GetSecretValue], secrets, sid=f"ConnectionSecrets{suffix}"))
    if keys:
        out.append(
            allow(
                [kms.Decrypt],
                keys,
                Condition(StringEquals({"kms:ViaService": Sub("secretsmanager.${AWS::Region}.${AWS::URLSuffix}")})),
                sid=f"DecryptConnectionSecrets{suffix}",
            )
        )
    return out


def levels(glue: Glue) -> list[list[str]]:
    """The jobs and crawlers by depth in the DAG (longest `after` chain): each level runs after
    the one before."""
    depth: dict[str, int] = {}
    nodes = glue.nodes

    def of(name: str) -> int:
        todo = [name]
        while todo:  # iterative: a long chain must not hit the recursion limit
            current = todo[-1]
            missing = [u for u in nodes[current].after if u not in depth]
            if missing:
                todo += missing
                continue
            depth[current] = 1 + max((depth[u] for u in nodes[current].after), default=-1)
            todo.pop()
        return depth[name]

    out: list[list[str]] = []
    for node in nodes:
        level = of(node)
        while len(out) <= level:
            out.append([])
        out[level].append(node)
    return [level for level in out if level]


def _job_id(name: str) -> str:
    return camel("job", name)


def _crawler_id(name: str) -> str:
    return camel("crawler", name)


def _then(state: dict, following: str | None) -> dict:
    if following is None:
        state["End"] = True
    else:
        state["Next"] = following
    return state


# Crawlers have no run-to-completion (.sync) integration: the state machine starts one with the AWS
# SDK integration (Step Functions Developer Guide, "AWS SDK service integrations":
# arn:aws:states:::aws-sdk:<service>:<apiAction>) and polls glue:GetCrawler until the crawler is
# READY again (Crawler.State: READY, RUNNING, STOPPING), then requires Crawler.LastCrawl.Status
# SUCCEEDED (else CANCELLED or FAILED). Source: AWS Glue API, "GetCrawler", "Crawler", "LastCrawlInfo".
CRAWLER_POLL_SECONDS = 30

# Retries (Amazon States Language "Retry": IntervalSeconds, BackoffRate, MaxDelaySeconds, MaxAttempts).
# An error of a service integration is named `<Service>.<ErrorName>` in PascalCase (Step Functions
# Developer Guide, "AWS SDK service integrations"); Glue's exception names are in the AWS Glue API,
# "Exceptions". A job has one concurrent run (MaxConcurrentRuns 1): a run started while the schedule's
# (or the smoke test's) run of that job is still going fails with Glue.ConcurrentRunsExceededException,
# a crawler that is already crawling with Glue.CrawlerRunningException: wait for it, up to 55 minutes
# (60, 120, 240, 480 s, then 600 s four times). The optimized integration reports Glue's throttling
# as Glue.AWSGlueException: three quick retries.
WAIT_FOR_THE_OTHER_RUN = {"IntervalSeconds": 60, "BackoffRate": 2.0, "MaxDelaySeconds": 600, "MaxAttempts": 8}
THROTTLED = {"IntervalSeconds": 5, "BackoffRate": 2.0, "MaxAttempts": 3}
JOB_RETRY = [
    {"ErrorEquals": ["Glue.ConcurrentRunsExceededException"], **WAIT_FOR_THE_OTHER_RUN},
    {"ErrorEquals": ["Glue.AWSGlueException"], **THROTTLED},
]
CRAWLER_RETRY = [{"ErrorEquals": ["Glue.CrawlerRunningException"], **WAIT_FOR_THE_OTHER_RUN}]


def _node_states(glue: Glue, name: str, following: str | None) -> dict[str, dict]:
    """The states running one node, entered at `name`, leaving to `following` (None: the end)."""
    if name in {j.name for j in glue.jobs}:
        task = {
            "Type": "Task",
            # Step Functions Developer Guide, "Start an AWS Glue job with Step Functions": the Run a
            # Job (.sync) pattern waits for the job run to finish and fails the state if it fails.
            # (cfn-lint E3601 takes only the literal `arn:aws:` form of a service integration ARN)
            "Resource": "arn:aws:states:::glue:startJobRun.sync",
            "Parameters": {"JobName": f"${{{_job_id(name)}}}"},
            "Retry": JOB_RETRY,
        }
        return {name: _then(task, following)}
    crawler = {"Name": f"${{{_crawler_id(name)}}}"}
    done = following or f"{name} succeeded"
    states = {
        name: {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:glue:startCrawler",
            "Parameters": crawler,
            "ResultPath": None,
            "Retry": CRAWLER_RETRY,
            "Next": f"{name} wait",
        },
        f"{name} wait": {"Type": "Wait", "Seconds": CRAWLER_POLL_SECONDS, "Next": f"{name} status"},
        f"{name} status": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:glue:getCrawler",
            "Parameters": crawler,
            "Next": f"{name} ready?",
        },
        f"{name} ready?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Crawler.State", "StringEquals": "READY", "Next": f"{name} succeeded?"}],
            "Default": f"{name} wait",
        },
        f"{name} succeeded?": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.Crawler.LastCrawl.Status", "StringEquals": "SUCCEEDED", "Next": done}],
            "Default": f"{name} failed",
        },
        f"{name} failed": {"Type": "Fail", "Error": "CrawlerFailed", "Cause": f"crawler {name} did not succeed"},
    }
    if following is None:
        states[done] = {"Type": "Succeed"}
    return states


def definition(glue: Glue) -> dict:
    """The state machine: one stage per DAG level, the node's states for a single node, a Parallel
    of branches for several (every node of a level waits for the whole level before it)."""
    stages = levels(glue)
    states: dict[str, dict] = {}
    names = [f"level {i + 1}" if len(level) > 1 else level[0] for i, level in enumerate(stages)]
    for i, level in enumerate(stages):
        following = names[i + 1] if i + 1 < len(stages) else None
        if len(level) == 1:
            states.update(_node_states(glue, level[0], following))
            continue
        branches = [{"StartAt": n, "States": _node_states(glue, n, None)} for n in level]
        states[names[i]] = _then({"Type": "Parallel", "Branches": branches}, following)
    # every job stops at its timeout; a crawler is given an hour
    minutes = sum(j.timeout for j in glue.jobs) + 60 * len(glue.crawlers)
    return {
        "Comment": f"Glue jobs and crawlers of {glue.workflow}, in the order of their `after` edges",
        "StartAt": names[0],
        "TimeoutSeconds": minutes * 60,
        "States": states,
    }


_SFN_SKIPS = {
    "CKV_AWS_284": "The state machine only starts Glue job and crawler runs: each run is traced in Glue "
    "(run history, continuous logs and metrics), X-Ray adds nothing to that.",
    "CKV_AWS_285": "The state machine only starts Glue job and crawler runs, whose logs go to the "
    "KMS-encrypted /aws-glue/ log groups; Step Functions keeps the execution history itself.",
}


def add_state_machine(t: Template, m: Manifest, name) -> None:
    """`orchestration: stepfunctions`: a STANDARD state machine running the jobs with
    glue:startJobRun.sync, its role (the four Glue actions that integration needs, on this
    stack's jobs only) and, with a `schedule`, an EventBridge Scheduler schedule starting it."""
    glue = m.glue
    prefix = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:job/"
    jobs = [Sub(f"{prefix}{glue.workflow}-${{Environment}}-{j.name}") for j in glue.jobs]
    crawler_prefix = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:crawler/"
    crawlers = [Sub(f"{crawler_prefix}{glue.workflow}-${{Environment}}-{c.name}") for c in glue.crawlers]
    _service_role(
        t,
        "StateMachineRole",
        "states.amazonaws.com",
        [
            # Step Functions Developer Guide, "IAM policies for calling AWS Glue" (Run a Job .sync)
            allow(
                [Action("glue", a) for a in ("StartJobRun", "GetJobRun", "GetJobRuns", "BatchStopJobRun")],
                jobs,
                sid="RunTheJobs",
            )
        ]
        + (
            [allow([Action("glue", "StartCrawler"), Action("glue", "GetCrawler")], crawlers, sid="RunTheCrawlers")]
            if crawlers
            else []
        ),
        m.name,
    )
    substitutions = {_job_id(j.name): Ref(_job_id(j.name)) for j in glue.jobs}
    substitutions.update({_crawler_id(c.name): Ref(_crawler_id(c.name)) for c in glue.crawlers})
    t.add_resource(
        sfn.StateMachine(
            "StateMachine",
            StateMachineName=name(""),
            StateMachineType="STANDARD",
            RoleArn=GetAtt("StateMachineRole", "Arn"),
            Definition=definition(glue),
            DefinitionSubstitutions=substitutions,
            Metadata={"checkov": {"skip": [{"id": k, "comment": v} for k, v in _SFN_SKIPS.items()]}},
        )
    )
    if not glue.schedule:
        return
    _service_role(
        t,
        "ScheduleRole",
        "scheduler.amazonaws.com",
        [allow([Action("states", "StartExecution")], [Ref("StateMachine")], sid="StartTheStateMachine")],
        m.name,
    )
    t.add_resource(
        scheduler.Schedule(
            "Schedule",
            Name=name("-schedule"),
            ScheduleExpression=glue.schedule,
            FlexibleTimeWindow=scheduler.FlexibleTimeWindow(Mode="OFF"),
            Target=scheduler.Target(Arn=Ref("StateMachine"), RoleArn=GetAtt("ScheduleRole", "Arn")),
        )
    )


def _service_role(t: Template, logical_id: str, service: str, statements: list, pipeline: str) -> None:
    t.add_resource(
        iam.Role(
            logical_id,
            # the execution role may create only roles under this stack's path, with the boundary
            Path=Sub(app_role_path(pipeline)),
            PermissionsBoundary=boundary_arn(pipeline),
            AssumeRolePolicyDocument=service_trust(service),
            Policies=[iam.Policy(PolicyName="least-privilege", PolicyDocument=policy(*statements))],
        )
    )
