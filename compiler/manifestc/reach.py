"""Where build commands reach: one table of tools -> hosts, with the pages that say so.

A private build (VPC, no internet egress) reaches only VPC endpoints. Semantics uses this table to
refuse manifest commands that would time out there (located at the command), and the readiness
check `check/reachability.py` reads every emitted buildspec with it (located in the emitted file).

Each `Reach` says which public hosts a command pattern calls and whether CodeArtifact can stand in
(`registry`: the `aws codeartifact login --tool` value, or `token` for Maven/Gradle, which read
CODEARTIFACT_AUTH_TOKEN from settings.xml / init scripts). A command is matched per shell segment
(`&&`, `;`, `|`, `then`, `else`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Reach:
    tool: str
    pattern: str  # regular expression over one shell segment
    hosts: tuple[str, ...]
    registry: str | None  # CodeArtifact login that redirects it: pip | npm | dotnet | token; None: none can
    certain: bool  # False: only in common setups (a gradle wrapper, a Dockerfile FROM)
    why: str  # what to do instead, for the hint


# Sources:
#  pip/PyPI: CodeArtifact User Guide, "Configure and use pip with CodeArtifact" (login --tool pip sets
#    the global index-url) https://docs.aws.amazon.com/codeartifact/latest/ug/python-configure-pip.html
#  npm: "Configure and use npm with CodeArtifact" (login --tool npm sets the registry); `npm audit`
#    is in the *unsupported* commands of https://docs.aws.amazon.com/codeartifact/latest/ug/npm-commands.html
#  Maven/Gradle: "Use CodeArtifact with Maven/Gradle" (token in settings.xml / init script)
#    https://docs.aws.amazon.com/codeartifact/latest/ug/using-maven.html; the Gradle wrapper downloads
#    its distribution from services.gradle.org (distributionUrl in gradle-wrapper.properties)
#  NuGet: https://docs.aws.amazon.com/codeartifact/latest/ug/nuget-cli.html (login --tool dotnet)
#  Go: CodeArtifact supports npm, PyPI, Maven, NuGet, Swift, Ruby, Cargo and generic packages, not Go
#    modules ("Supported package formats", https://docs.aws.amazon.com/codeartifact/latest/ug/welcome.html);
#    `go mod download` uses GOPROXY=https://proxy.golang.org and sum.golang.org (https://go.dev/ref/mod)
#  Docker Hub / public ECR: ECR interface endpoints serve private registries only
#    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html)
#  semgrep: `--config auto`/`p/...` download rules from semgrep.dev (https://semgrep.dev/docs/cli-reference)
#  pip-audit: PyPI JSON vulnerability API or osv.dev (https://github.com/pypa/pip-audit)
#  OWASP dependency-check: NVD API 2.0 (https://jeremylong.github.io/DependencyCheck/data/index.html)
#  govulncheck: vuln.go.dev (https://go.dev/security/vuln/database); trivy: its DB image
#  dotnet list package --vulnerable: nuget.org vulnerability resource
#    (https://learn.microsoft.com/nuget/api/vulnerability-info)
REACHES: tuple[Reach, ...] = (
    Reach(
        "pip",
        r"\bpip3?\s+(install|wheel|download)\b",
        ("pypi.org", "files.pythonhosted.org"),
        "pip",
        True,
        "serve Python packages from CodeArtifact (build.packages.codeartifact)",
    ),
    Reach(
        "npm audit",
        r"\bnpm\s+audit\b",
        ("registry.npmjs.org",),
        None,
        True,
        "CodeArtifact does not support `npm audit`; drop the dependency-scan gate in a private build or allow "
        "HTTPS egress (network.egress)",
    ),
    Reach(
        "npm",
        r"\b(npm\s+(ci|install|i|add|update)|yarn(\s+install)?$|yarn\s+install|pnpm\s+(install|i))\b",
        ("registry.npmjs.org",),
        "npm",
        True,
        "serve npm packages from CodeArtifact (build.packages.codeartifact)",
    ),
    Reach(
        "gradle wrapper",
        r"(^|\s)\./gradlew\b",
        ("services.gradle.org",),
        None,
        False,
        "point distributionUrl in gradle/wrapper/gradle-wrapper.properties at an internal copy, or use `gradle`",
    ),
    Reach(
        "OWASP dependency-check",
        r"dependency-check|dependencyCheckAnalyze",
        ("services.nvd.nist.gov",),
        None,
        True,
        "the NVD is on the internet: drop the dependency-scan gate in a private build or allow HTTPS egress",
    ),
    Reach(
        "maven",
        r"(^|\s)(mvn|gradle)\b",
        ("repo.maven.apache.org",),
        "token",
        True,
        "serve Maven packages from CodeArtifact (build.packages.codeartifact) and mirror it in settings.xml",
    ),
    Reach(
        "govulncheck",
        r"\bgovulncheck\b",
        ("vuln.go.dev",),
        None,
        True,
        "the Go vulnerability database is on the internet: drop the gate in a private build or allow HTTPS egress",
    ),
    Reach(
        "go modules",
        r"\bgo\s+(mod\s+download|get|install)\b",
        ("proxy.golang.org", "sum.golang.org"),
        None,
        True,
        "CodeArtifact has no Go format: vendor the modules (go mod vendor; builds use -mod=vendor) or allow "
        "HTTPS egress to a Go proxy",
    ),
    Reach(
        "dotnet vulnerable",
        r"\bdotnet\s+list\s+package\b.*--vulnerable",
        ("api.nuget.org",),
        None,
        True,
        "nuget.org's vulnerability data is on the internet: drop the gate in a private build or allow HTTPS egress",
    ),
    Reach(
        "nuget",
        r"\bdotnet\s+(restore|add\s+package|tool\s+install)\b",
        ("api.nuget.org",),
        "dotnet",
        True,
        "serve NuGet packages from CodeArtifact (build.packages.codeartifact)",
    ),
    Reach(
        "semgrep registry",
        r"\bsemgrep\b.*--config[= ]+[\"']?(auto|p/|r/|https?://)",
        ("semgrep.dev",),
        None,
        True,
        "commit the rules (.semgrep.yml) and run `semgrep --config .semgrep.yml --metrics off`",
    ),
    Reach(
        "trivy",
        r"\btrivy\b",
        ("mirror.gcr.io", "ghcr.io"),
        None,
        True,
        "Amazon ECR image scanning covers pushed images; or allow HTTPS egress",
    ),
    Reach(
        "public image",
        r"\bdocker\s+(run|pull)\b(?!.*\.dkr\.ecr\.)",
        ("registry-1.docker.io", "public.ecr.aws"),
        None,
        True,
        "copy the image into a private ECR repository (an ECR pull-through cache rule) and run it from there",
    ),
    Reach(
        "docker build",
        r"\bdocker\s+build\b",
        ("registry-1.docker.io",),
        None,
        False,
        "FROM images must come from private ECR (an ECR pull-through cache) in a private build",
    ),
    Reach(
        "git clone",
        r"\bgit\s+clone\s+\S*(github\.com|gitlab\.com|bitbucket\.org)",
        ("github.com",),
        None,
        True,
        "mirror the repository into CodeCommit or CodeArtifact, or allow HTTPS egress",
    ),
)

_URL = re.compile(r"\b(curl|wget)\b[^|;&]*?https?://([A-Za-z0-9.-]+)")
_SEGMENTS = re.compile(r"&&|\|\||;|\||\bthen\b|\belse\b|\bdo\b")


@dataclass(frozen=True)
class Hit:
    reach: Reach
    segment: str


def command_hits(command: str) -> list[Hit]:
    """The table entries one command matches (each shell segment against the first entry it fits)."""
    hits: list[Hit] = []
    for segment in _SEGMENTS.split(command):
        segment = segment.strip()
        if not segment:
            continue
        for reach in REACHES:
            if re.search(reach.pattern, segment):
                hits.append(Hit(reach, segment))
                break
        else:
            url = _URL.search(segment)
            if url and not url.group(2).endswith((".amazonaws.com", ".amazonaws.com.cn", ".internal", ".local")):
                host = url.group(2)
                hits.append(
                    Hit(Reach(f"{url.group(1)} {host}", "", (host,), None, True, "allow HTTPS egress to it"), segment)
                )
    return hits


def login_tools(commands: tuple[str, ...] | list[str], pip_repository: str | None = None) -> list[str]:
    """The CodeArtifact logins a list of commands performs, in order (`pip`, `npm`, `dotnet`, `token`).

    A `--tool pip` login counts only into `pip_repository` (the one repository that serves PyPI, see
    `CodeArtifact.pip_repository`): pip logged in to an npm store still cannot install from PyPI."""
    found = []
    for command in commands:
        match = re.search(r"aws codeartifact login --tool (\w+)(?:.*--repository (\S+))?", command)
        if match:
            if match.group(1) != "pip" or match.group(2) in (None, pip_repository):
                found.append(match.group(1))
        elif "aws codeartifact get-authorization-token" in command:
            found.append("token")
    return found


# AWS CLI service -> the VPC endpoint service its calls need (com.amazonaws.<region>.<service>).
# Source: "AWS services that integrate with AWS PrivateLink"
#   https://docs.aws.amazon.com/vpc/latest/privatelink/aws-services-privatelink-support.html
# `aws cloudformation package` and `aws s3` only talk to S3.
AWS_CLI_ENDPOINTS: dict[str, str] = {
    "s3": "s3",
    "s3api": "s3",
    "sts": "sts",
    "kms": "kms",
    "logs": "logs",
    "ecr": "ecr.api",
    "codeartifact": "codeartifact.api",
    "secretsmanager": "secretsmanager",
    "ssm": "ssm",
    "lambda": "lambda",
    "ecs": "ecs",
    "glue": "glue",
    "stepfunctions": "states",
    "cloudformation": "cloudformation",
    "codebuild": "codebuild",
    "codepipeline": "codepipeline",
    "sns": "sns",
    "events": "events",
    "dynamodb": "dynamodb",
    "servicecatalog": "servicecatalog",
    "codecommit": "codecommit",
}


def aws_cli_endpoints(command: str) -> list[str]:
    """Endpoint services the `aws <service> <operation>` calls of one command need."""
    found = []
    for match in re.finditer(r"(?:^|[\s(;&|])aws(?:\s+--\S+(?:\s+\S+)?)*\s+([a-z0-9-]+)\s+([a-z0-9-]+)", command):
        service, operation = match.groups()
        if service == "cloudformation" and operation == "package":
            service = "s3"
        if service == "codeartifact" and operation == "login":
            found.append("codeartifact.repositories")
        endpoint = AWS_CLI_ENDPOINTS.get(service)
        if endpoint and endpoint not in found:
            found.append(endpoint)
    return found
