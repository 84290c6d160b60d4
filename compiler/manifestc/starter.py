"""The commented starter manifest `manifestc init` writes."""

from __future__ import annotations

from .schemas_data import presets

_STARTER = """\
# Pipeline manifest for manifestc (reference: the manifestc README, "Manifest reference").
# Build it with: manifestc build {output}
manifest: 1
name: {name}                 # 3-40 chars: lowercase letters, digits, dashes; prefixes every resource
team: my-team                 # tagged on every resource as team=...
language: {language}
runtime: "{runtime}"             # quoted, so 3.10 stays 3.10

source:
  provider: codecommit
  repository: {name}
  branch: main

build:
  compute: small              # small | medium | large | xlarge | 2xlarge | gpu-small | gpu-large
  timeout: 30                 # minutes{image_repository}
  # env: {{LOG_LEVEL: info}}
  # secrets: {{DB_PASSWORD: "secretsmanager:{name}/db:password"}}

tests:
  - name: unit                # commands and report paths default from the {language} preset

environments:
  - name: staging
  - name: prod
    approval: true

targets:
  - name: app
    type: cloudformation
    template: deploy/app.yaml # path inside the build artifact
    stack: "{{name}}-{{environment}}"
    parameters: {{Stage: "{{environment}}"}}
"""


_CDK_TARGETS = """\
targets:
  - name: app
    type: cdk                 # publishes the assets, then deploys each stack with a change set
    # construct ids of the app's stacks (new AppStack(app, `App-${stage}`, {env})), in deploy order
    stacks: ["App-{environment}"]
"""


def starter_manifest(language: str, name: str, output: str = "manifest.yaml") -> str:
    preset = presets()[language]
    image_repository = (
        f"\n  image_repository: {name}   # ECR repository the image is pushed to" if language == "docker" else ""
    )
    runtime = preset["default_runtime"]
    text = _STARTER.format(
        name=name, language=language, runtime=runtime, output=output, image_repository=image_repository
    )
    if language == "cdk":  # the app's stacks, one per stage, instead of a template of the repository
        start = text.index("targets:\n")
        text = text[:start] + _CDK_TARGETS
    if runtime is None:  # the image's own toolchain (docker): no runtime line
        text = "\n".join(line for line in text.splitlines() if not line.startswith("runtime:")) + "\n"
    return text
