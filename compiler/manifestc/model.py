"""Model: frozen, typed records of a validated manifest with every default and preset applied.

Built by `semantics.build_model`; emitters read only these records, never raw YAML.
"""

from __future__ import annotations

from dataclasses import dataclass

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Source:
    provider: str
    repository: str
    branch: str


@dataclass(frozen=True)
class Secret:
    """A secret reference; `value` is what CodeBuild's environment variable carries."""

    variable: str
    store: str  # "secretsmanager" | "ssm"
    name: str  # secret name, or parameter path with its leading slash
    value: str


@dataclass(frozen=True)
class Build:
    compute: str
    arch: str
    environment_type: str
    compute_type: str
    image: str
    runtime_key: str | None
    runtime: str | None
    install: tuple[str, ...]
    pre_build: tuple[str, ...]
    commands: tuple[str, ...]
    post_build: tuple[str, ...]
    env: Pairs
    secrets: tuple[Secret, ...]
    artifact_files: tuple[str, ...]
    base_directory: str | None
    cache: str
    cache_paths: tuple[str, ...]
    privileged: bool
    timeout: int


@dataclass(frozen=True)
class TestSuite:
    name: str
    commands: tuple[str, ...]
    reports: tuple[str, ...]
    report_format: str
    coverage: str | None
    coverage_format: str | None
    after: str  # "build" or an environment name


@dataclass(frozen=True)
class Target:
    name: str
    type: str
    template: str
    stack: str  # with placeholders
    parameters: Pairs  # with placeholders
    change_set: bool
    capabilities: tuple[str, ...]
    execution_role: str | None
    execution_policies: tuple[str, ...]


@dataclass(frozen=True)
class Environment:
    name: str
    regions: tuple[str | None, ...]  # None: the pipeline's own region
    approval: bool
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Regenerate:
    enabled: bool
    install: str
    path: str


@dataclass(frozen=True)
class Manifest:
    file: str
    digest: str
    name: str
    team: str
    description: str | None
    tags: Pairs
    account: str | None
    region: str | None
    language: str | None
    source: Source
    build: Build
    tests: tuple[TestSuite, ...]
    environments: tuple[Environment, ...]
    targets: tuple[Target, ...]
    regenerate: Regenerate

    def target(self, name: str) -> Target:
        return next(t for t in self.targets if t.name == name)

    def tests_after(self, stage: str) -> tuple[TestSuite, ...]:
        return tuple(t for t in self.tests if t.after == stage)


def render_placeholders(text: str, *, environment: str, region: str, name: str) -> str:
    """Substitute the {environment} {region} {name} placeholders of stacks and parameters."""
    return text.replace("{environment}", environment).replace("{region}", region).replace("{name}", name)
