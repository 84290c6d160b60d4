"""Glue beyond one workflow (README "Glue connections, databases, dependencies and Step Functions"):
connections (a VPC, a JDBC database), several databases, per-environment job arguments and
connection placement (`environments[].glue`), job dependencies shipped with the scripts, and Step
Functions orchestration. Cross-field rules only; `_glue` in semantics.py has built the workflow.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from .model import Glue, GlueConnection

if TYPE_CHECKING:  # the checker lives in semantics.py, which imports this module
    from .semantics import _Checker

# Glue's own parameters a dependency of each kind is passed as. Source: AWS Glue Developer Guide,
# "Using job parameters in AWS Glue jobs" (--extra-py-files: .py/.zip on the Python path,
# --extra-jars: Java .jar files, --additional-python-modules: pip installs a wheel from S3, Glue 2.0+)
# and "Using Python libraries with AWS Glue" (a .whl in --extra-py-files for Python shell jobs).
DEPENDENCY_PARAMETERS = {".py": "--extra-py-files", ".zip": "--extra-py-files", ".jar": "--extra-jars"}
WHEEL_PARAMETER = {"pythonshell": "--extra-py-files"}  # else --additional-python-modules

_CONNECTION_TYPES = {"network": "NETWORK", "jdbc": "JDBC"}
_PLACEMENT = ("subnet", "security_groups", "availability_zone")


def dependency_parameter(job_type: str, path: str) -> str:
    """The Glue parameter a dependency file is passed to a job of `job_type` with."""
    suffix = path[path.rfind(".") :]
    if suffix == ".whl":
        return WHEEL_PARAMETER.get(job_type, "--additional-python-modules")
    return DEPENDENCY_PARAMETERS[suffix]


def glue_environments(doc: dict[str, Any]) -> list[str]:
    """Names of the environments that deploy a glue target (all targets when `targets` is absent)."""
    glue_targets = {t["name"] for t in doc["targets"] if t["type"] == "glue"}
    return [
        e["name"]
        for e in doc["environments"]
        if glue_targets & set(e["targets"] if e["targets"] is not None else glue_targets)
    ]


def check_glue_extras(check: _Checker, glue: Glue) -> Glue:
    """The connections, databases, dependencies, per-environment values and orchestration of
    `glue`, checked; returns `glue` with them (unchanged when none is used)."""
    doc = check.doc
    raw = doc["glue"]
    path = ("glue",)
    deploying = glue_environments(doc)
    connections = _connections(check, raw, deploying)
    names = [c.name for c in connections]
    job_names = [j.name for j in glue.jobs]
    env_arguments: dict[str, list[tuple[str, tuple]]] = {}
    smoke = []  # environments[].glue.smoke_test: the smoke test on or off for that environment
    for e_index, env in enumerate(doc["environments"]):
        overrides = env.get("glue") or {}
        if overrides.get("smoke_test") is not None:
            smoke.append((env["name"], overrides["smoke_test"]))
        where = ("environments", e_index, "glue")
        if overrides and env["name"] not in deploying:
            check.warn(
                "MC688",
                f"environment `{env['name']}` sets `glue` values but deploys no glue target: they are unused",
                where,
                hint="drop `glue` from this environment, or add the glue target to its `targets`",
            )
        for job_name, arguments in (overrides.get("arguments") or {}).items():
            if not check.reference(job_name, job_names, "glue job", where + ("arguments", job_name)):
                continue
            base = dict(next(j for j in glue.jobs if j.name == job_name).arguments)
            for argument in arguments:
                if argument not in base:
                    check.error(
                        "MC361",
                        f"`{argument}` is not an argument of job `{job_name}`: an environment overrides a value, "
                        "every environment runs the job with the same argument names",
                        where + ("arguments", job_name, argument),
                        hint=f"add `{argument}` with the default value to the job's `arguments`",
                    )
            env_arguments.setdefault(job_name, []).append((env["name"], tuple(sorted(arguments.items()))))
        for conn_name in overrides.get("connections") or {}:
            check.reference(conn_name, names, "glue connection", where + ("connections", conn_name))
    jobs = []
    for index, (job, raw_job) in enumerate(zip(glue.jobs, raw["jobs"], strict=True)):
        where = path + ("jobs", index)
        for c_index, name in enumerate(raw_job["connections"]):
            check.reference(name, names, "glue connection", where + ("connections", c_index))
        _check_dependencies(check, job, raw_job, where)
        _check_pypi_in_vpc(check, job, raw_job, where)
        jobs.append(
            dataclasses.replace(
                job,
                connections=tuple(dict.fromkeys(raw_job["connections"])),
                dependencies=tuple(dict.fromkeys(raw_job["dependencies"])),
                environment_arguments=tuple(env_arguments.get(job.name, ())),
            )
        )
    databases = tuple(raw["databases"])
    seen = {raw["database"]: ("glue", "database")}
    for d_index, database in enumerate(databases):
        if database in seen:
            check.error("MC365", f"database `{database}` is named twice", path + ("databases", d_index))
        seen[database] = path + ("databases", d_index)
    crawlers = []
    for index, (crawler, raw_crawler) in enumerate(zip(glue.crawlers, raw["crawlers"], strict=True)):
        database = raw_crawler["database"]
        if database is not None and database != raw["database"]:
            check.reference(
                database, [raw["database"], *databases], "glue database", path + ("crawlers", index, "database")
            )
        crawlers.append(dataclasses.replace(crawler, database=None if database == raw["database"] else database))
    _check_artifacts(check, raw)
    return dataclasses.replace(
        glue,
        jobs=tuple(jobs),
        crawlers=tuple(crawlers),
        orchestration=raw["orchestration"],
        databases=databases,
        connections=connections,
        smoke_by_environment=tuple(smoke),
    )


def _connections(check: _Checker, raw: dict[str, Any], deploying: list[str]) -> tuple[GlueConnection, ...]:
    doc = check.doc
    found = []
    seen: set[str] = set()
    for index, conn in enumerate(raw["connections"]):
        where = ("glue", "connections", index)
        if conn["name"] in seen:
            check.error("MC202", f"duplicate glue connection name `{conn['name']}`", where + ("name",))
        seen.add(conn["name"])
        by_env = []
        for env in doc["environments"]:
            values = ((env.get("glue") or {}).get("connections") or {}).get(conn["name"])
            if values:
                items = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
                by_env.append((env["name"], tuple(sorted(items.items()))))
        connection = GlueConnection(
            conn["name"],
            _CONNECTION_TYPES[conn["type"]],
            conn["subnet"],
            tuple(conn["security_groups"] or ()),
            conn["availability_zone"],
            conn["jdbc_url"],
            conn["secret"],
            conn["secret_key"],
            tuple(by_env),
        )
        # every environment that deploys the workflow places the connection somewhere
        for env in deploying or [None]:
            missing = [
                f
                for f in _PLACEMENT + (("jdbc_url", "secret") if conn["type"] == "jdbc" else ())
                if not _value(connection, f, env)
            ]
            if missing:
                check.error(
                    "MC360",
                    f"connection `{conn['name']}` has no {', '.join(missing)}"
                    + (f" for environment `{env}`" if env else ""),
                    where,
                    hint="set them on the connection, or per environment under `environments[].glue.connections`",
                )
        if conn["type"] == "network":
            for field in ("jdbc_url", "secret", "secret_key"):
                if conn[field] or any(dict(v).get(field) for _, v in by_env):
                    check.error(
                        "MC360",
                        f"`{field}` belongs to a jdbc connection; `{conn['name']}` is a network connection",
                        where + ((field,) if conn[field] else ()),
                        hint="set `type: jdbc`, or drop the field",
                    )
        if conn["secret_key"] and not conn["secret"]:
            check.error("MC360", "`secret_key` is the key of the connection's `secret`", where + ("secret_key",))
        found.append(connection)
    return tuple(found)


def _value(connection: GlueConnection, field: str, env: str | None) -> Any:
    return connection.value_in(field, env) if env else getattr(connection, field)


def _check_dependencies(check: _Checker, job: Any, raw_job: dict[str, Any], where: tuple) -> None:
    if job.type == "ray" and raw_job["dependencies"]:
        check.error(
            "MC362",
            "ray jobs take Python modules through --pip-install / --s3-py-modules, not dependencies",
            where + ("dependencies",),
            hint="pass them in `arguments`",
        )
        return
    for d_index, dep in enumerate(raw_job["dependencies"]):
        parameter = dependency_parameter(job.type, dep)
        dwhere = where + ("dependencies", d_index)
        if parameter in dict(job.arguments):
            check.error(
                "MC362",
                f"`{dep}` is passed as {parameter}, which the job's `arguments` set too",
                dwhere,
                hint=f"list every file of {parameter} in `dependencies`, or none",
            )
        elif dep.endswith(".jar") and job.type == "pythonshell":
            check.error("MC362", f"`{dep}`: --extra-jars is for Spark jobs, not Python shell", dwhere)
        elif dep.endswith((".py", ".zip", ".whl")) and job.script.endswith(".scala"):
            check.error("MC362", f"`{dep}` is a Python dependency of a Scala job", dwhere)
        elif dep.endswith(".whl") and job.glue_version in ("0.9", "1.0") and job.type != "pythonshell":
            check.error("MC362", "--additional-python-modules needs Glue 2.0 or newer", dwhere)


INSTALLER_OPTION = "--python-modules-installer-option"  # pip3 options of --additional-python-modules


def _check_pypi_in_vpc(check: _Checker, job: Any, raw_job: dict[str, Any], where: tuple) -> None:
    """MC694: Glue pip-installs --additional-python-modules at job start, resolving from PyPI (AWS
    Glue Developer Guide, "Using Python libraries with AWS Glue", "Setting up a VPC to connect to
    PyPI for AWS Glue"); a job with connections runs in their subnet, which may not reach it."""
    arguments = dict(job.arguments)
    if not raw_job["connections"] or INSTALLER_OPTION in arguments:
        return
    wheels = [
        (i, d)
        for i, d in enumerate(raw_job["dependencies"])
        if dependency_parameter(job.type, d) == "--additional-python-modules"
    ]
    places = [(where + ("dependencies", i), f"wheel `{d}`") for i, d in wheels[:1]]
    if "--additional-python-modules" in arguments and not wheels:
        places.append((where + ("arguments", "--additional-python-modules"), "`--additional-python-modules`"))
    for place, what in places:
        check.warn(
            "MC694",
            f"job `{job.name}` runs in the subnet of its connection and Glue installs {what} with pip at job "
            "start, resolving its dependencies from PyPI: without a route to PyPI the job fails",
            place,
            hint=f"set `{INSTALLER_OPTION}` in the job's `arguments` (e.g. `--no-deps` when the wheels hold "
            "every dependency, or `--index-url` of a CodeArtifact repository the subnet reaches), or give the "
            "subnet a NAT",
        )


def _glob(pattern: str) -> re.Pattern[str]:
    """A CodeBuild artifact `files` pattern (`**` any directories, `*` within one) as a regex."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _check_artifacts(check: _Checker, raw: dict[str, Any]) -> None:
    """A dependency the build artifact does not hold cannot be uploaded (MC689, a warning: a
    `base_directory` or a buildspec of your own may still place it)."""
    files = (check.doc["build"].get("artifacts") or {}).get("files") or []
    if not files:
        return
    patterns = [_glob(f.removeprefix("./")) for f in files]
    for index, job in enumerate(raw["jobs"]):
        for d_index, dep in enumerate(job["dependencies"]):
            if not any(p.fullmatch(dep) for p in patterns):
                check.warn(
                    "MC689",
                    f"dependency `{dep}` is matched by no `build.artifacts.files` pattern: the upload job would "
                    "not find it in the build artifact",
                    ("glue", "jobs", index, "dependencies", d_index),
                    hint="add its directory to `build.artifacts.files` (e.g. `dist/*`)",
                )
