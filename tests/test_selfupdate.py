"""The self-update build: toolchain, hermetic Recompile, recovery (issue 9).

The end-to-end tests run the emitted Recompile buildspec's own shell commands, offline, against
planted checkouts in tmp_path: the toolchain is a wheelhouse `manifestc wheelhouse
--from-installed` writes, served by a fake `aws` that maps s3://BUCKET/KEY to a local folder, and
installed with `--no-index --require-hashes` into a fresh virtual environment (once per module:
the install is the slow part).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import MINIMAL, with_changes
from manifestc import __version__, api, guard
from manifestc.cli import cli
from manifestc.guard import GUARDS
from manifestc.model import TOOLCHAIN_PREFIX
from manifestc.recompile import (
    deployed_guards,
    missing_endpoints,
    parse_approvals,
    parse_footprint,
    parse_permissions,
    recompile,
)

ACCOUNT = "123456789012"
ARTIFACT_BUCKET = "artifacts"

FAKE_AWS = """\
#!/bin/bash
# A stand-in for the AWS CLI: only `aws s3 cp --recursive ... s3://BUCKET/KEY DEST`, from $FAKE_S3.
[ "$1 $2" = "s3 cp" ] || { echo "fake aws: unsupported: $*" >&2; exit 2; }
src=""; dest=""
for a in "${@:3}"; do case "$a" in --*) ;; *) if [ -z "$src" ]; then src="$a"; else dest="$a"; fi;; esac; done
path="$FAKE_S3/${src#s3://}"
[ -d "$path" ] || { echo "fatal error: An error occurred (AccessDenied) when calling ListObjectsV2 on $src" >&2; exit 1; }
mkdir -p "$dest" && cp -R "$path"/. "$dest"/
"""


def _pipeline(manifest: Path, repo_root: Path) -> dict:
    result = api.compile_manifest(manifest, lint=False, repo_root=repo_root)
    assert not result.failed(), result.diagnostics
    return result.templates["pipeline.yaml"]


def _update_commands(template: dict) -> tuple[list[str], dict[str, str]]:
    """The Recompile project's build commands and environment, CloudFormation substitutions resolved."""
    props = template["Resources"]["UpdateProject"]["Properties"]
    spec = props["Source"]["BuildSpec"]
    text = spec["Fn::Sub"] if isinstance(spec, dict) else spec
    values = {"ArtifactBucket": ARTIFACT_BUCKET, "AWS::AccountId": ACCOUNT}

    def resolve(value) -> str:
        if isinstance(value, dict) and "Ref" in value:
            return values[value["Ref"]]
        raw = value["Fn::Sub"] if isinstance(value, dict) else value
        raw = re.sub(r"\$\{([A-Za-z:]+)\}", lambda m: values[m.group(1)], raw)
        return raw.replace("${!", "${")

    text = resolve(text)
    phases = yaml.safe_load(text)["phases"]
    assert list(phases) == ["install", "build"] and "commands" not in phases["install"]
    env = {v["Name"]: resolve(v["Value"]) for v in props["Environment"]["EnvironmentVariables"]}
    return phases["build"]["commands"], env


def _bash(commands: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    # CodeBuild (buildspec 0.2) runs a phase's commands in one shell and stops at the first failure
    return subprocess.run(
        ["bash", "-c", "set -e\n" + "\n".join(commands)], env=env, cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A fake S3 holding the wheelhouse, a fake `aws`, and the toolchain installed by the
    buildspec's own install commands (once for the module)."""
    root = tmp_path_factory.mktemp("selfupdate")
    s3 = root / "s3"
    house = s3 / ARTIFACT_BUCKET / TOOLCHAIN_PREFIX / __version__
    result = CliRunner().invoke(cli, ["wheelhouse", str(house), "--from-installed"])
    assert result.exit_code == 0, result.output
    requirements = (house / "requirements.txt").read_text().splitlines()
    assert requirements and all(re.fullmatch(r"[a-z0-9-]+==\S+ --hash=sha256:[0-9a-f]{64}", r) for r in requirements)
    assert any(r.startswith(f"manifestc=={__version__} ") for r in requirements)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    tmp = root / "tmp"
    tmp.mkdir()
    base_env = {
        "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "HOME": str(root),
        "TMPDIR": str(tmp),
        "FAKE_S3": str(s3),
        "AWS_REGION": "eu-west-1",
        "LANG": "C.UTF-8",
    }
    # install once, with the emitted commands (everything before the first use of the toolchain)
    checkout = root / "seed"
    checkout.mkdir()
    (checkout / "manifest.yaml").write_text(MINIMAL)
    commands, env = _update_commands(_pipeline(checkout / "manifest.yaml", checkout))
    first_use = next(i for i, c in enumerate(commands) if "-m manifestc" in c)
    done = _bash([*commands[:first_use], 'echo "HOME=$MANIFESTC_HOME"'], {**base_env, **env}, checkout)
    assert done.returncode == 0, done.stderr
    home = re.search(r"^HOME=(.*)$", done.stdout, re.M).group(1)
    assert Path(home).parent == tmp  # a fresh directory outside the checkout
    return {"env": base_env, "home": home, "s3": s3, "root": root, "first_use": first_use}


def _run_recompile(sandbox, checkout: Path, manifest: str = "manifest.yaml", deployed: dict | None = None):
    """Run the deployed pipeline's Recompile commands (after the install) against `checkout`.
    `deployed`: the template deployed before this commit (default: compiled from the commit)."""
    template = deployed or _pipeline(checkout / manifest, checkout)
    commands, env = _update_commands(template)
    script = [f'export MANIFESTC_HOME="{sandbox["home"]}"', 'cd "$MANIFESTC_HOME"', *commands[sandbox["first_use"] :]]
    return _bash(script, {**sandbox["env"], **env, "CODEBUILD_SRC_DIR": str(checkout)}, checkout)


def _checkout(tmp_path: Path, text: str = MINIMAL, path: str = "manifest.yaml") -> Path:
    repo = tmp_path / "src"
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(textwrap.dedent(text))
    return repo


def test_wheelhouse_installs_offline_and_the_toolchain_validates(sandbox, tmp_path):
    """The issue's install path: wheelhouse -> fresh venv with --no-index --require-hashes -> run."""
    python = Path(sandbox["home"]) / "venv" / "bin" / "python"
    (tmp_path / "manifest.yaml").write_text(MINIMAL)
    done = subprocess.run(
        [str(python), "-I", "-m", "manifestc", "validate", "manifest.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "1 manifest(s) valid" in done.stderr
    # the toolchain is the wheel, not this source tree
    where = subprocess.run(
        [str(python), "-I", "-c", "import manifestc; print(manifestc.__file__)"], capture_output=True, text=True
    )
    assert "site-packages" in where.stdout and str(Path(api.__file__).parent) not in where.stdout


def test_a_tampered_wheel_is_refused(sandbox, tmp_path):
    house = sandbox["s3"] / ARTIFACT_BUCKET / TOOLCHAIN_PREFIX / __version__
    copy = tmp_path / "house"
    shutil.copytree(house, copy)
    wheel = next(copy.glob("click-*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-I", "-m", "venv", "--without-pip", str(venv)], check=True)
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-m",
            "pip",
            "--isolated",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            "--require-hashes",
            "--find-links",
            str(copy),
            "-r",
            str(copy / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "hash" in done.stderr.lower()


def test_recompile_ignores_planted_modules_and_caches(sandbox, tmp_path):
    """A committed pip/ and manifestc/ package (shadowing) and a committed .manifestc-out/ and
    .manifestc-selfupdate/ (a cache of an attacker's template) change nothing."""
    repo = _checkout(tmp_path)
    marker = tmp_path / "imported"
    for package in ("pip", "manifestc", "yaml"):
        (repo / package).mkdir()
        (repo / package / "__init__.py").write_text(
            f"open({str(marker)!r}, 'a').write('{package}')\nraise SystemExit(0)\n"
        )
    evil = "AWSTemplateFormatVersion: '2010-09-09'\nResources: {Admin: {Type: AWS::IAM::User}}\n"
    for cache in (".manifestc-out/demo-service", "out/demo-service", ".manifestc-selfupdate"):
        (repo / cache).mkdir(parents=True)
        (repo / cache / "pipeline.yaml").write_text(evil)
    (repo / ".manifestc-out" / ".manifestc-cache.json").write_text("{}")
    (repo / ".manifestc-selfupdate" / "planted.yaml").write_text(evil)
    done = _run_recompile(sandbox, repo)
    assert done.returncode == 0, done.stderr
    assert not marker.exists(), "a committed package was imported"
    produced = repo / ".manifestc-selfupdate"
    assert sorted(p.name for p in produced.iterdir()) == ["build.json", "pipeline.yaml"]
    assert "AWS::IAM::User" not in (produced / "pipeline.yaml").read_text()
    expected = api.compile_manifest(repo / "manifest.yaml", repo_root=repo).artifacts[0]
    assert (produced / "pipeline.yaml").read_bytes() == expected.content
    assert (repo / ".manifestc-out" / "demo-service" / "pipeline.yaml").read_text() == evil  # untouched, unused


def test_recompile_refuses_a_git_install(sandbox, tmp_path):
    deployed = _pipeline(_checkout(tmp_path / "before") / "manifest.yaml", tmp_path / "before" / "src")
    repo = _checkout(tmp_path, with_changes(regenerate={"install": "git+https://github.com/evil/manifestc"}))
    done = _run_recompile(sandbox, repo, deployed=deployed)
    assert done.returncode == 1
    assert "MC260" in done.stderr and "not a pinned toolchain" in done.stderr
    assert not (repo / ".manifestc-selfupdate").exists()


def test_break_then_fix_regenerate_install(sandbox, tmp_path):
    """The recovery walkthrough: a commit naming a toolchain that does not install is refused by
    the deployed toolchain (the pipeline keeps its shape); the next commit fixing it goes through."""
    good = _pipeline(_checkout(tmp_path / "v0") / "manifest.yaml", tmp_path / "v0" / "src")
    broken = _checkout(tmp_path / "v1", with_changes(regenerate={"install": "manifestc==9.9.9"}))
    done = _run_recompile(sandbox, broken, deployed=good)
    assert done.returncode == 1
    assert "MC264" in done.stderr and "does not install from" in done.stderr and "toolchain/9.9.9/" in done.stderr
    assert f"keeps its current toolchain (manifestc=={__version__})" in done.stderr
    assert not (broken / ".manifestc-selfupdate").exists()
    fixed = _checkout(tmp_path / "v2", with_changes(description="fixed: back to the uploaded toolchain"))
    done = _run_recompile(sandbox, fixed, deployed=good)  # the pipeline was never updated: still `good`
    assert done.returncode == 0, done.stderr
    assert "fixed: back to the uploaded toolchain" in (fixed / ".manifestc-selfupdate" / "pipeline.yaml").read_text()


def test_recompile_compiles_the_deployed_path_and_refuses_a_rename(sandbox, tmp_path):
    repo = _checkout(tmp_path, path="deploy/pipeline.yaml")
    deployed = _pipeline(repo / "deploy" / "pipeline.yaml", repo)
    commands, _ = _update_commands(deployed)
    assert any('"$CODEBUILD_SRC_DIR"/deploy/pipeline.yaml' in c for c in commands)
    (repo / "deploy" / "pipeline.yaml").write_text(with_changes(name="renamed-service"))
    done = _run_recompile(sandbox, repo, manifest="deploy/pipeline.yaml", deployed=deployed)
    assert done.returncode == 1 and "renaming a pipeline needs a new stack" in done.stderr


PRIVATE = with_changes(
    network={
        "vpc_id": "vpc-0123456789abcdef0",
        "subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
        "route_tables": ["rtb-0123456789abcdef0"],
    }
)


def test_missing_vpc_endpoint_fails_recompile_naming_the_stack(tmp_path):
    build = {
        "secrets": {"TOKEN": "secretsmanager:ci/token"},
        "packages": {"codeartifact": {"domain": "acme", "repository": "pypi"}},
    }
    repo = _checkout(tmp_path, with_changes(PRIVATE, build=build))
    # the deployed pipeline already reads the secret (a new secret is MC264 of its own): only the
    # shared network stack is missing the endpoint
    recorded = _update_commands(_pipeline(repo / "manifest.yaml", repo))[1][guard.PERMISSIONS]
    probed = []

    def probe(host: str) -> bool:
        probed.append(host)
        return not host.startswith("secretsmanager.")  # the shared stack predates the secret

    out = repo / ".manifestc-selfupdate"
    outcome = recompile(
        repo / "manifest.yaml",
        repo_root=repo,
        pipeline="demo-service",
        deployed_toolchain=f"manifestc=={__version__}",
        artifact_bucket=ARTIFACT_BUCKET,
        out=out,
        region="eu-west-1",
        account=ACCOUNT,
        probe=probe,
        deployed_permissions=parse_permissions(recorded),
    )
    assert outcome.failed and not out.exists()
    [refusal] = [d for d in outcome.diagnostics if d.is_error]
    assert refusal.code == "MC264"
    assert "secretsmanager (secretsmanager.eu-west-1.amazonaws.com)" in refusal.message
    assert "manifestc-network-vpc-0123456789abcdef0" in refusal.message
    assert "aws cloudformation deploy --template-file out/_shared/network-vpc-0123456789abcdef0.yaml" in refusal.hint
    assert "sts.eu-west-1.amazonaws.com" in probed and "logs.eu-west-1.amazonaws.com" in probed
    assert not any(h.startswith("s3.") for h in probed)  # the gateway endpoint has no host of its own


def test_endpoint_hosts_of_ecr_and_codeartifact(tmp_path):
    text = with_changes(
        PRIVATE,
        build={
            "packages": {"codeartifact": {"domain": "acme", "repository": "pypi-store"}},
            "image_repository": "svc",
            "commands": ["docker build -t $IMAGE_URI:latest ."],
        },
    )
    path = tmp_path / "m.yaml"
    path.write_text(text)
    manifest = api.check_manifest(path).manifest
    hosts = {h for _, h in missing_endpoints(manifest, "eu-west-1", ACCOUNT, probe=lambda h: False)}
    assert {
        "api.ecr.eu-west-1.amazonaws.com",
        f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com",
        "codeartifact.eu-west-1.amazonaws.com",
        f"acme-{ACCOUNT}.d.codeartifact.eu-west-1.amazonaws.com",
    } <= hosts


@pytest.mark.parametrize(
    "install",
    [
        "git+https://github.com/acme/manifestc@main",
        "manifestc",
        "manifestc>=0.1",
        "https://example.com/manifestc-0.1.0-py3-none-any.whl",
        "--index-url https://evil.example/simple manifestc==0.1.0",
        "manifestc==0.1.0 --extra-index-url=https://evil.example/simple",
        "s3://Acme_Tools/manifestc/",
        "s3://acme-tools/../other/",
        "codeartifact:acme/pypi",
    ],
)
def test_unpinned_installs_are_located_errors_without_strict(install, tmp_path):
    path = tmp_path / "manifest.yaml"
    path.write_text(with_changes(regenerate={"install": install}))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert re.search(r"manifest\.yaml:\d+:\d+: error\[MC260\]", result.output), result.output
    line = int(re.search(r"manifest\.yaml:(\d+):", result.output).group(1))
    assert "install:" in path.read_text().splitlines()[line - 1]


@pytest.mark.parametrize(
    ("install", "url"),
    [
        (None, f"s3://${{ArtifactBucket}}/{TOOLCHAIN_PREFIX}{__version__}/"),
        ("manifestc==0.2.0", f"s3://${{ArtifactBucket}}/{TOOLCHAIN_PREFIX}0.2.0/"),
        ("s3://acme-build-tools/manifestc/0.2.0", "s3://acme-build-tools/manifestc/0.2.0/"),
    ],
)
def test_pinned_installs_and_where_the_build_reads_them(install, url, tmp_path):
    text = with_changes(regenerate={"install": install} if install else True)
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    template = _pipeline(path, tmp_path)
    env = {
        v["Name"]: v["Value"]
        for v in template["Resources"]["UpdateProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    }
    value = env["MANIFESTC_TOOLCHAIN_URL"]
    assert (value["Fn::Sub"] if isinstance(value, dict) else value) == url
    statements = template["Resources"]["UpdateRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    listing = next(s for s in statements if s.get("Sid") == "ToolchainList")
    assert listing["Action"] == ["s3:ListBucket"]
    if install and install.startswith("s3://"):
        read = next(s for s in statements if s.get("Sid") == "ToolchainRead")
        assert read["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::acme-build-tools/*"}]
    else:
        assert listing["Condition"] == {"StringLike": {"s3:prefix": f"{TOOLCHAIN_PREFIX}*"}}
    # no pipeline role may write the toolchain prefix of the artifact bucket
    policy = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    deny = next(s for s in policy if s.get("Sid") == "DenyToolchainWritesByPipelineRoles")
    assert deny["Effect"] == "Deny" and "s3:PutObject" in deny["Action"]
    assert deny["Resource"] == [{"Fn::Sub": f"${{ArtifactBucket.Arn}}/{TOOLCHAIN_PREFIX}*"}]
    role_paths = {r["Properties"]["Path"] for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"}
    patterns = [p["Fn::Sub"] for p in deny["Condition"]["ArnLike"]["aws:PrincipalArn"]]
    # every manifestc pipeline's roles (role/manifestc/*), not only this one's: a pattern per denied path
    denied = [pattern.rsplit(":role", 1)[1].removesuffix("*") for pattern in patterns]
    assert all(any(p.startswith(prefix) for prefix in denied) for p in role_paths), (role_paths, patterns)


def test_no_build_step_uses_a_package_index_or_the_checkout(tmp_path):
    commands, _ = _update_commands(_pipeline(_checkout(tmp_path) / "manifest.yaml", tmp_path / "src"))
    pip = [c for c in commands if " pip " in c]
    assert pip and all("--no-index" in c and "--require-hashes" in c and "--isolated" in c for c in pip)
    assert not any("codeartifact" in c for c in commands)
    runs = [c for c in commands if "manifestc " in c and "aws s3" not in c]
    assert runs and all(c.startswith("venv/bin/python -I -m manifestc ") for c in runs)


def test_regenerate_path_defaults_to_the_path_in_the_repository(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "ci").mkdir()
    (repo / "ci" / "orders.yaml").write_text(MINIMAL)
    result = api.check_manifest(repo / "ci" / "orders.yaml")
    assert result.manifest.regenerate.path == "ci/orders.yaml"
    elsewhere = tmp_path / "loose.yaml"  # outside any work tree: the file name
    elsewhere.write_text(MINIMAL)
    assert api.check_manifest(elsewhere).manifest.regenerate.path == "loose.yaml"
    explicit = with_changes(regenerate={"path": "deploy/manifest.yml"})
    (repo / "ci" / "orders.yaml").write_text(explicit)
    assert api.check_manifest(repo / "ci" / "orders.yaml").manifest.regenerate.path == "deploy/manifest.yml"


@pytest.mark.parametrize(
    "path", ["/etc/manifest.yaml", "../other/manifest.yaml", "deploy/", "manifest.txt", "a b.yaml"]
)
def test_bad_regenerate_path(path, tmp_path):
    file = tmp_path / "manifest.yaml"
    file.write_text(with_changes(regenerate={"path": path}))
    result = CliRunner().invoke(cli, ["validate", str(file)])
    assert result.exit_code == 1 and "error[MC261]" in result.output


def test_s3_source_with_self_update_needs_an_explicit_path(tmp_path):
    file = tmp_path / "manifest.yaml"
    s3 = {"provider": "s3", "repository": "acme-sources/orders/source.zip"}
    file.write_text(with_changes(source=s3))
    result = CliRunner().invoke(cli, ["validate", str(file)])
    assert result.exit_code == 1 and "error[MC262]" in result.output and "inside the source zip" in result.output
    file.write_text(with_changes(source=s3, regenerate={"path": "pipeline/manifest.yaml"}))
    assert CliRunner().invoke(cli, ["validate", str(file)]).exit_code == 0
    template = _pipeline(file, tmp_path)
    commands, _ = _update_commands(template)
    assert any('"$CODEBUILD_SRC_DIR"/pipeline/manifest.yaml' in c for c in commands)
    file.write_text(with_changes(source=s3, regenerate=False))
    assert CliRunner().invoke(cli, ["validate", str(file)]).exit_code == 0


OLD_RECOMPILE = [
    "python -m pip install --quiet manifestc==0.1.0",
    "manifestc --version",
    "manifestc build manifest.yaml --out .manifestc-out --diagnostics text",
]


def _with_update_commands(template: dict, commands: list[str]) -> dict:
    import copy

    changed = copy.deepcopy(template)
    spec = {"version": 0.2, "phases": {"build": {"commands": commands}}}
    changed["Resources"]["UpdateProject"]["Properties"]["Source"]["BuildSpec"] = yaml.safe_dump(spec)
    return changed


def test_readiness_checks_pass_on_the_emitted_recompile(tmp_path):
    from manifestc.check.toolchain import check_toolchain

    path = _checkout(tmp_path) / "manifest.yaml"
    result = api.check_manifest(path)
    assert check_toolchain(result.manifest, {"pipeline.yaml": _pipeline(path, path.parent)}) == []


def test_readiness_checks_refuse_the_old_recompile(tmp_path):
    from manifestc.check.toolchain import check_toolchain

    path = _checkout(tmp_path) / "manifest.yaml"
    manifest = api.check_manifest(path).manifest
    template = _pipeline(path, path.parent)
    found = check_toolchain(manifest, {"pipeline.yaml": _with_update_commands(template, OLD_RECOMPILE)})
    codes = sorted({d.code for d in found})
    assert codes == ["MC600", "MC601"]
    assert all(d.file == "out/demo-service/pipeline.yaml" and d.message.startswith("UpdateProject: ") for d in found)
    assert any("without --no-index, --require-hashes, --isolated" in d.message for d in found)
    assert any("runs manifestc from PATH in the checkout" in d.message for d in found)
    commands, _ = _update_commands(template)
    foreign = [c.replace("--find-links wheels", "--extra-index-url https://pypi.org/simple") for c in commands]
    found = check_toolchain(manifest, {"pipeline.yaml": _with_update_commands(template, foreign)})
    assert [d.code for d in found] == ["MC600"] and "reaches a package index" in found[0].message


def test_readiness_check_wants_the_toolchain_write_deny(tmp_path):
    from manifestc.check.toolchain import check_toolchain

    path = _checkout(tmp_path) / "manifest.yaml"
    manifest = api.check_manifest(path).manifest
    template = _pipeline(path, path.parent)
    policy = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "DenyToolchainWritesByPipelineRoles"]
    [finding] = check_toolchain(manifest, {"pipeline.yaml": template})
    assert finding.code == "MC602" and "_manifestc/toolchain/" in finding.message


def test_wheelhouse_downloads_the_installed_versions_for_the_build_image(tmp_path, monkeypatch):
    """Without --from-installed: pip download of the exact installed versions, binary only, for
    Linux x86_64 and the Recompile image's Python; manifestc's own wheel is built locally."""
    from importlib import metadata

    from manifestc import toolchain

    calls = []

    def fake_run(command, check):
        calls.append(command)
        dest = Path(command[command.index("--dest") + 1])
        for requirement in command[command.index("cp") + 1 :]:
            if "==" in requirement:
                name, version = requirement.split("==")
                (dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(requirement.encode())

    monkeypatch.setattr(toolchain.subprocess, "run", fake_run)
    result = CliRunner().invoke(
        cli, ["wheelhouse", str(tmp_path / "h"), "--pip-arg=--index-url=https://mirror.example/simple"]
    )
    assert result.exit_code == 0, result.output
    [command] = calls
    assert command[1:4] == ["-m", "pip", "download"]
    assert "--only-binary=:all:" in command and "--no-deps" in command
    assert command[command.index("--python-version") + 1] == "3.12"  # the python preset's runtime
    assert "manylinux2014_x86_64" in command and "--index-url=https://mirror.example/simple" in command
    assert f"cfn-lint=={metadata.version('cfn-lint')}" in command
    assert not any(c.startswith("manifestc==") for c in command)
    lines = (tmp_path / "h" / "requirements.txt").read_text().splitlines()
    assert any(line.startswith(f"manifestc=={__version__} --hash=sha256:") for line in lines)
    assert f"s3://<artifact bucket>/{TOOLCHAIN_PREFIX}{__version__}/" in result.output


def _footprint_env(template: dict) -> tuple[str, str]:
    _, env = _update_commands(template)
    return env["MANIFESTC_DEPLOYED_ACCOUNTS"], env["MANIFESTC_DEPLOYED_REGIONS"]


def test_recompile_refuses_an_account_or_region_the_deployed_pipeline_has_no_stack_for(tmp_path):
    """A commit adding an environment account or region needs bootstrap-/support- stacks no
    pipeline deploys; the deployed Recompile project names what was set up, so it refuses."""

    home = {"account": "123456789012", "region": "eu-west-1"}
    repo = _checkout(tmp_path, with_changes(**home))
    deployed = _pipeline(repo / "manifest.yaml", repo)
    accounts, regions = _footprint_env(deployed)
    assert (accounts, regions) == ("none", "none")
    grown = with_changes(
        **home,
        environments=[
            {"name": "staging"},
            {"name": "prod", "account": "111111111111", "regions": ["eu-west-1", "us-east-1"]},
        ],
    )
    (repo / "manifest.yaml").write_text(grown)
    out = repo / ".manifestc-selfupdate"

    def run(accounts: str | None, regions: str | None):
        return recompile(
            repo / "manifest.yaml",
            repo_root=repo,
            pipeline="demo-service",
            deployed_toolchain=f"manifestc=={__version__}",
            artifact_bucket=ARTIFACT_BUCKET,
            out=out,
            region="eu-west-1",
            account=ACCOUNT,
            probe=lambda host: True,
            deployed_accounts=parse_footprint(accounts),
            deployed_regions=parse_footprint(regions),
        )

    outcome = run(accounts, regions)
    assert outcome.failed and not out.exists()
    [refusal] = [d for d in outcome.diagnostics if d.is_error]
    assert refusal.code == "MC264"
    assert "account 111111111111 is new" in refusal.message and "region us-east-1 is new" in refusal.message
    assert "bootstrap-111111111111.yaml as stack demo-service-bootstrap in account 111111111111" in refusal.hint
    assert "support-us-east-1.yaml as stack demo-service-support-us-east-1" in refusal.hint
    # once those stacks are deployed (the template that names them is deployed), it goes through
    redeployed = _pipeline(repo / "manifest.yaml", repo)
    assert _footprint_env(redeployed) == ("111111111111", "us-east-1")
    assert not run(*_footprint_env(redeployed)).failed and (out / "pipeline.yaml").is_file()
    # a pipeline deployed before the variables existed: nothing to compare with
    shutil.rmtree(out)
    assert not run(None, None).failed


def test_the_cli_reads_the_deployed_footprint_from_the_project_environment(tmp_path, monkeypatch):
    repo = _checkout(tmp_path, with_changes(account="123456789012", region="eu-west-1"))
    guards = {k: v for k, v in _update_commands(_pipeline(repo / "manifest.yaml", repo))[1].items() if k in GUARDS}
    assert sorted(guards) == sorted(GUARDS)
    (repo / "manifest.yaml").write_text(
        with_changes(
            account="123456789012",
            region="eu-west-1",
            environments=[{"name": "staging"}, {"name": "prod", "account": "111111111111"}],
        )
    )
    monkeypatch.setattr("manifestc.recompile.tcp_probe", lambda host: True)
    args = ["recompile", str(repo / "manifest.yaml"), "--repo-root", str(repo), "--pipeline", "demo-service"]
    args += ["--toolchain", f"manifestc=={__version__}", "--artifact-bucket", ARTIFACT_BUCKET]
    args += ["--out", str(tmp_path / "o"), "--region", "eu-west-1"]
    result = CliRunner().invoke(cli, args, env=guards)
    assert result.exit_code == 1 and "MC264" in result.output and "111111111111 is new" in result.output
    # a project that does not say what it guards (deployed by hand from an older version) is refused
    for name in GUARDS:
        result = CliRunner().invoke(cli, args, env={**guards, name: None})
        assert result.exit_code == 1 and f"({name} unset)" in result.output, name
        assert not (tmp_path / "o").exists()


def _toolchain_deny(template: dict) -> dict:
    statements = template["Resources"]["ArtifactBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    return next(s for s in statements if s.get("Sid") == "DenyToolchainWritesByPipelineRoles")


def test_application_stack_roles_cannot_write_the_toolchain_either(tmp_path):
    """The toolchain prefix is denied to the pipeline's roles AND the roles its application
    stacks create (/manifestc-app/<name>/), for new bytes, deletion and ACL changes."""
    path = _checkout(tmp_path) / "manifest.yaml"
    deny = _toolchain_deny(_pipeline(path, path.parent))
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Resource"] == [{"Fn::Sub": "${ArtifactBucket.Arn}/_manifestc/toolchain/*"}]
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl"):
        assert action in deny["Action"]
    patterns = [p["Fn::Sub"] for p in deny["Condition"]["ArnLike"]["aws:PrincipalArn"]]
    # every manifestc pipeline's roles, not only this one's (second review: another pipeline's build
    # or application stack in the account must not rewrite this pipeline's toolchain) ...
    assert patterns == [
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/manifestc/*",
        "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/manifestc-app/*",
    ]
    # ... except the factory's, which copies the toolchain into a new pipeline's bucket
    assert deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/manifestc/manifestc-factory/*"
    }
    # an application stack's execution role creates its roles exactly under that path
    from manifestc.emit.iam import app_role_path

    assert app_role_path("demo-service", "any-stack").startswith("/manifestc-app/demo-service/")


def test_readiness_check_refuses_a_deny_that_spares_application_roles(tmp_path):
    from manifestc.check.toolchain import check_toolchain

    path = _checkout(tmp_path) / "manifest.yaml"
    manifest = api.check_manifest(path).manifest
    template = _pipeline(path, path.parent)
    deny = _toolchain_deny(template)
    deny["Condition"]["ArnLike"]["aws:PrincipalArn"] = deny["Condition"]["ArnLike"]["aws:PrincipalArn"][:1]
    [finding] = check_toolchain(manifest, {"pipeline.yaml": template})
    assert finding.code == "MC602" and "application stacks' roles" in finding.message
    template = _pipeline(path, path.parent)
    _toolchain_deny(template)["Action"] = ["s3:PutObject"]  # ACLs and deletions left open
    [finding] = check_toolchain(manifest, {"pipeline.yaml": template})
    assert finding.code == "MC602"


def test_toolchain_check_reads_shell_lines_not_here_document_bodies():
    """A file a build writes with a here-document (the approval check script, whose text names
    manifestc) is not a build that runs manifestc; a command after the body still is."""
    from manifestc.check.toolchain import _runs_manifestc

    written = "cat > /tmp/check.py <<'PY'\n# manifestc approval check\nprint('manifestc build')\nPY"
    assert not _runs_manifestc([written, "python3 /tmp/check.py"])
    assert _runs_manifestc([written + "\nmanifestc build"])
    assert _runs_manifestc(["cat > x <<EOF\nhello\nEOF", "manifestc build"])


def test_recompile_refuses_a_commit_that_changes_who_approves(tmp_path):
    """A committer must not make themselves an approver, drop an approver or remove an approval
    through the pipeline: the deployed Recompile project names the approvals, and Recompile
    refuses any change to them (MC264); the same manifest with other changes goes through."""

    home = {"account": ACCOUNT, "region": "eu-west-1"}
    releasers = f"arn:aws:iam::{ACCOUNT}:role/ReleaseManagers"
    mallory = f"arn:aws:iam::{ACCOUNT}:user/mallory"

    def manifest(approval, **extra):
        return with_changes(**home, environments=[{"name": "staging"}, {"name": "prod", "approval": approval}], **extra)

    repo = _checkout(tmp_path, manifest({"approvers": [releasers]}))
    deployed = _update_commands(_pipeline(repo / "manifest.yaml", repo))[1]["MANIFESTC_DEPLOYED_APPROVALS"]
    assert parse_approvals(deployed) == {"prod": (releasers,)}
    out = repo / ".manifestc-selfupdate"

    def run(text):
        (repo / "manifest.yaml").write_text(text)
        shutil.rmtree(out, ignore_errors=True)
        return recompile(
            repo / "manifest.yaml",
            repo_root=repo,
            pipeline="demo-service",
            deployed_toolchain=f"manifestc=={__version__}",
            artifact_bucket=ARTIFACT_BUCKET,
            out=out,
            region="eu-west-1",
            account=ACCOUNT,
            probe=lambda host: True,
            deployed_approvals=parse_approvals(deployed),
        )

    for text, words in (
        (manifest({"approvers": [releasers, mallory]}), f"the approvers of prod change (adds {mallory})"),
        (manifest({"approvers": []}), f"removes {releasers}"),
        (manifest(False), "environment prod loses its approval"),
    ):
        outcome = run(text)
        [refusal] = [d for d in outcome.diagnostics if d.is_error]
        assert refusal.code == "MC264" and words in refusal.message, refusal.message
        assert not out.exists()
    assert not run(manifest({"approvers": [releasers]}, team="payments")).failed
    assert (out / "pipeline.yaml").is_file()


def _guarded_recompile(
    repo: Path, deployed: dict, out: Path, manifest: str = "manifest.yaml", pipeline: str = "demo-service"
):
    """Recompile the checkout's manifest as the Recompile project of `deployed` would (its guards)."""
    env = _update_commands(deployed)[1]
    shutil.rmtree(out, ignore_errors=True)
    return recompile(
        repo / manifest,
        repo_root=repo,
        pipeline=pipeline,
        deployed_toolchain=f"manifestc=={__version__}",
        artifact_bucket=ARTIFACT_BUCKET,
        out=out,
        region="eu-west-1",
        account=ACCOUNT,
        probe=lambda host: True,
        **deployed_guards(env),
    )


def _refusal(outcome) -> str:
    [refusal] = [d for d in outcome.diagnostics if d.is_error]
    assert refusal.code == "MC264"
    return refusal.message


def test_adding_the_home_account_and_region_does_not_hide_a_gated_resource(tmp_path):
    """Third review: without a top-level account/region the record says "(the pipeline's
    account)"; a commit adding `account:`/`region:` equal to them while staging deploys prod's
    stack passed. Both sides are compared with the pipeline's real account and region."""
    envs = [{"name": "staging"}, {"name": "prod", "approval": True}]
    targets = [{"name": "app", "template": "deploy/app.yaml", "stack": "orders-{environment}"}]
    repo = _checkout(tmp_path, with_changes(environments=envs, targets=targets))
    deployed = _pipeline(repo / "manifest.yaml", repo)
    hijack = {"name": "hijack", "template": "deploy/app.yaml", "stack": "orders-prod"}
    decoy = {"name": "decoy", "template": "deploy/app.yaml", "stack": "decoy-{environment}"}
    out = repo / ".manifestc-selfupdate"
    for home in ({"region": "eu-west-1"}, {"account": ACCOUNT}, {"account": ACCOUNT, "region": "eu-west-1"}):
        staging = [
            {"name": "staging", "targets": ["app", "hijack"]},
            {"name": "prod", "approval": True, "targets": ["decoy"]},
        ]
        text = with_changes(**home, environments=staging, targets=[*targets, hijack, decoy])
        (repo / "manifest.yaml").write_text(text)
        message = _refusal(_guarded_recompile(repo, deployed, out))
        assert "stack `orders-prod`, which the deployed pipeline deploys only after prod's approval" in message, home
        assert not out.exists()


def test_a_grant_moved_to_an_unapproved_stage_is_a_new_grant(tmp_path):
    """Third review: a suite's grants moved from `after: prod` to `after: staging`, or a prod-only
    commands target added to staging, kept their digests and passed. Where a grant runs is part of it."""
    grant = {
        "statements": [
            {
                "actions": ["dynamodb:DeleteTable"],
                "resources": [f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders-prod"],
            }
        ]
    }
    migrate = {
        "name": "migrate",
        "type": "commands",
        "commands": ["./migrate.sh"],
        "permissions": {
            "statements": [
                {"actions": ["rds:DeleteDBInstance"], "resources": [f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:orders-prod"]}
            ]
        },
    }
    targets = [{"name": "app", "template": "deploy/app.yaml", "stack": "orders-{environment}"}, migrate]

    def manifest(suite_after: str, migrate_in: list[str]) -> str:
        envs = [
            {"name": "staging", "targets": ["app", *(["migrate"] if "staging" in migrate_in else [])]},
            {"name": "prod", "approval": True, "targets": ["app", *(["migrate"] if "prod" in migrate_in else [])]},
        ]
        return with_changes(
            environments=envs, targets=targets, tests=[{"name": "e2e", "after": suite_after, "permissions": grant}]
        )

    repo = _checkout(tmp_path, manifest("prod", ["prod"]))
    deployed = _pipeline(repo / "manifest.yaml", repo)
    out = repo / ".manifestc-selfupdate"
    for text, words in (
        (manifest("staging", ["prod"]), "tests[e2e].permissions now runs in another stage"),
        (manifest("prod", ["staging", "prod"]), "the permissions of commands target migrate now runs in another stage"),
    ):
        (repo / "manifest.yaml").write_text(text)
        assert words in _refusal(_guarded_recompile(repo, deployed, out))
    (repo / "manifest.yaml").write_text(manifest("prod", ["prod"]).replace("demo-service\n", "demo-service\n", 1))
    assert not _guarded_recompile(repo, deployed, out).failed


def test_a_commit_cannot_move_the_toolchain_to_another_store():
    """Third review: a commit could point regenerate.install at a bucket it made, and the new
    compiler's output only had to repeat the guard variables. Only another version in the same
    store (the artifact bucket's protected prefix, or the same organisation bucket) is tried."""
    from manifestc.recompile import _same_toolchain_store

    assert _same_toolchain_store("manifestc==0.2.0", "manifestc==0.1.0")
    assert _same_toolchain_store("s3://org-tools/manifestc/0.2.0/", "s3://org-tools/manifestc/0.1.0/")
    assert not _same_toolchain_store("s3://attacker-made/x/", "manifestc==0.1.0")
    assert not _same_toolchain_store("s3://attacker-made/x/", "s3://org-tools/manifestc/0.1.0/")
    assert not _same_toolchain_store("manifestc==0.1.0", "s3://org-tools/manifestc/0.1.0/")


def test_recompile_refuses_moving_an_approved_resource_to_an_unapproved_stage(tmp_path):
    """The review's bypass: prod keeps its approval but gets a dummy target, and a new environment
    without approval deploys prod's stack (in one account, or in an account whose bootstrap is
    already deployed). Approvals gate resources, so the commit is refused."""
    releasers = f"arn:aws:iam::{ACCOUNT}:role/ReleaseManagers"
    home = {"account": ACCOUNT, "region": "eu-west-1"}
    targets = [{"name": "app", "template": "deploy/app.yaml", "stack": "orders-{environment}"}]
    approval = {"approvers": [releasers]}
    repo = _checkout(
        tmp_path,
        with_changes(
            **home,
            targets=targets,
            environments=[{"name": "staging"}, {"name": "prod", "account": "222222222222", "approval": approval}],
        ),
    )
    deployed = _pipeline(repo / "manifest.yaml", repo)
    gated = guard.parse_gated(_update_commands(deployed)[1][guard.GATED])
    assert gated == {"prod": [("stack", "222222222222", "eu-west-1", "orders-prod")]}
    out = repo / ".manifestc-selfupdate"
    decoy = {"name": "decoy", "template": "deploy/app.yaml", "stack": "decoy-{environment}"}
    hotfix = {"name": "hot", "template": "deploy/app.yaml", "stack": "orders-prod"}
    for hotfix_env in (
        {"name": "hotfix", "account": "222222222222"},
        {"name": "hotfix", "account": "222222222222", "approval": True},
    ):
        (repo / "manifest.yaml").write_text(
            with_changes(
                **home,
                targets=[*targets, decoy, hotfix],
                environments=[
                    {"name": "staging", "targets": ["app"]},
                    {"name": "prod", "account": "222222222222", "approval": approval, "targets": ["decoy"]},
                    {**hotfix_env, "targets": ["hot"]},
                ],
            )
        )
        outcome = _guarded_recompile(repo, deployed, out)
        [refusal] = [d for d in outcome.diagnostics if d.is_error]
        assert refusal.code == "MC264" and "environment hotfix" in refusal.message, refusal.message
        if "approval" not in hotfix_env:  # (an approval of its own is refused as an approval change)
            assert (
                "stack `orders-prod`, which the deployed pipeline deploys only after prod's approval" in refusal.message
            )
        assert not out.exists()
    # an everyday change (a new target in staging, prod unchanged) goes through
    (repo / "manifest.yaml").write_text(
        with_changes(
            **home,
            targets=[*targets, decoy],
            environments=[
                {"name": "staging"},
                {"name": "prod", "account": "222222222222", "approval": approval, "targets": ["app"]},
            ],
        )
    )
    assert not _guarded_recompile(repo, deployed, out).failed and (out / "pipeline.yaml").is_file()


def test_recompile_refuses_a_commit_that_repoints_the_source(tmp_path):
    repo = _checkout(tmp_path)
    deployed = _pipeline(repo / "manifest.yaml", repo)
    out = repo / ".manifestc-selfupdate"
    for source in ({"repository": "demo-service", "branch": "unprotected"}, {"repository": "someone-elses"}):
        (repo / "manifest.yaml").write_text(with_changes(source=source))
        outcome = _guarded_recompile(repo, deployed, out)
        [refusal] = [d for d in outcome.diagnostics if d.is_error]
        assert refusal.code == "MC264" and "changes the pipeline's source" in refusal.message
        assert not out.exists()
    (repo / "manifest.yaml").write_text(with_changes(team="payments"))
    assert not _guarded_recompile(repo, deployed, out).failed


def test_recompile_refuses_a_commit_that_widens_which_branches_or_pull_requests_run(tmp_path):
    """The branch filters, the run mode and the pull-request builds are part of the recorded source:
    a commit cannot make more branches or pull requests run builds through the pipeline itself."""
    connection = "arn:aws:codeconnections:eu-west-1:123456789012:connection/9a8b7c6d-1111-2222-3333-444455556666"
    base = {"provider": "codestar", "repository": "acme/demo-service", "branch": "main", "connection_arn": connection}
    deployed_source = {**base, "branches": ["main", "release/*"], "exclude_branches": ["release/old-*"]}
    text = with_changes(source=deployed_source, tests=[{"name": "unit"}])
    repo = _checkout(tmp_path, text)
    deployed = _pipeline(repo / "manifest.yaml", repo)
    out = repo / ".manifestc-selfupdate"
    for source in (
        {**deployed_source, "branches": ["*"]},  # every branch
        {**deployed_source, "exclude_branches": []},  # drops an exclusion
        {**deployed_source, "pull_requests": {"tests": ["unit"]}},  # starts building pull requests
    ):
        (repo / "manifest.yaml").write_text(with_changes(text, source=source))
        outcome = _guarded_recompile(repo, deployed, out)
        [refusal] = [d for d in outcome.diagnostics if d.is_error]
        assert refusal.code == "MC264" and "changes the pipeline's source" in refusal.message, source
        assert not out.exists()
    # A pipeline deployed with pull-request builds: a commit may not let forks build unapproved,
    # nor a manual pipeline start on pushes.
    prs = {**base, "pull_requests": {"tests": ["unit"], "approval": "forks"}, "trigger": "manual"}
    text = with_changes(source=prs, tests=[{"name": "unit"}])
    (repo / "manifest.yaml").write_text(text)
    deployed = _pipeline(repo / "manifest.yaml", repo)
    for source in ({**prs, "pull_requests": {"tests": ["unit"], "approval": "none"}}, {**prs, "trigger": "push"}):
        (repo / "manifest.yaml").write_text(with_changes(text, source=source))
        [refusal] = [d for d in _guarded_recompile(repo, deployed, out).diagnostics if d.is_error]
        assert refusal.code == "MC264" and "changes the pipeline's source" in refusal.message, source
    (repo / "manifest.yaml").write_text(with_changes(text, team="payments"))
    assert not _guarded_recompile(repo, deployed, out).failed


def test_a_toolchain_whose_output_guards_less_is_not_used(tmp_path):
    """A commit may name another toolchain; its pipeline.yaml must carry every guard this compiler
    knows with the same values, else (an older compiler, say) its output is not used."""
    from manifestc.recompile import _guards_lost

    repo = _checkout(tmp_path)
    template = _pipeline(repo / "manifest.yaml", repo)
    manifest = api.check_manifest(repo / "manifest.yaml", "manifest.yaml").manifest
    written = tmp_path / "pipeline.yaml"
    written.write_text(yaml.safe_dump(template))
    assert _guards_lost(written, manifest) == []
    project = next(
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CodeBuild::Project"
        and any(v["Name"] == "MANIFESTC_TOOLCHAIN" for v in r["Properties"]["Environment"]["EnvironmentVariables"])
    )
    variables = project["Properties"]["Environment"]["EnvironmentVariables"]
    variables[:] = [v for v in variables if v["Name"] != guard.GATED]
    next(v for v in variables if v["Name"] == guard.APPROVALS)["Value"] = "staging="
    written.write_text(yaml.safe_dump(template))
    assert _guards_lost(written, manifest) == [guard.APPROVALS, guard.GATED]
    written.write_text("not: [a template")
    assert _guards_lost(written, manifest) == list(guard.GUARDS)


def test_recompile_refuses_new_commands_grants_and_secrets(tmp_path):
    """Second review: a staging-only commands target granted sts:AssumeRole on prod's deployer
    role, and a prod secret moved into build.secrets, both passed Recompile. Every commands grant
    and every secret a job reads is now part of the recorded grants: adding one is a hand deploy."""
    home = {"account": ACCOUNT, "region": "eu-west-1"}
    secret = "secretsmanager:orders/prod/db"
    envs = [
        {"name": "staging"},
        {"name": "prod", "account": "222222222222", "approval": True, "secrets": {"DB": secret}},
    ]
    base = with_changes(**home, environments=envs, tests=[{"name": "smoke", "after": "prod"}])
    repo = _checkout(tmp_path, base)
    deployed = _pipeline(repo / "manifest.yaml", repo)
    out = repo / ".manifestc-selfupdate"
    hotfix = {
        "name": "hotfix",
        "type": "commands",
        "commands": ["aws sts get-caller-identity"],
        "permissions": {
            "statements": [
                {
                    "actions": ["sts:AssumeRole"],
                    "resources": ["arn:aws:iam::222222222222:role/manifestc/demo-service/x"],
                }
            ]
        },
    }
    staging_only = [{"name": "staging", "targets": ["app", "hotfix"]}, envs[1]]
    targets = yaml.safe_load(base)["targets"]
    for text, words in (
        (with_changes(base, targets=[*targets, hotfix], environments=staging_only), "commands target hotfix"),
        (with_changes(base, build={"secrets": {"DB": secret}}), "build.secrets adds or changes 1 secret"),
    ):
        (repo / "manifest.yaml").write_text(text)
        assert words in _refusal(_guarded_recompile(repo, deployed, out))
        assert not out.exists()


# --- Self-update with `source.branches` (README "Self-update": "Pushes to other branches") ---

BRANCHES_SOURCE = {
    "provider": "codestar",
    "repository": "acme/demo",
    "branch": "release/2.0",
    "connection_arn": "arn:aws:codeconnections:eu-west-1:123456789012:connection/abc-123",
    "branches": ["release/*"],
}


def _stage(template: dict, name: str) -> dict:
    return next(s for s in template["Resources"]["Pipeline"]["Properties"]["Stages"] if s["Name"] == name)


def _enters(stage: dict, variables: dict[str, str]) -> bool:
    """CodePipeline's reading of an entry condition (User Guide, "Configure conditions for a stage",
    rule reference "VariableCheck"): the condition is met when all its rules pass; a SKIP condition
    that is not met skips the stage. `variables` are the run's resolved `#{Namespace.NAME}` values."""
    if "BeforeEntry" not in stage:
        return True
    for condition in stage["BeforeEntry"]["Conditions"]:
        passed = True
        for rule in condition["Rules"]:
            assert rule["RuleTypeId"] == {
                "Category": "Rule",
                "Owner": "AWS",
                "Provider": "VariableCheck",
                "Version": "1",
            }
            config = rule["Configuration"]
            value = variables[config["Variable"]]
            assert config["Operator"] == "EQ"
            passed = passed and value == config["Value"]
        if not passed:
            assert condition["Result"] == "SKIP"  # skipped, never failed: the run goes on
            return False
    return True


def test_a_run_of_another_branch_skips_the_self_update(tmp_path):
    repo = _checkout(tmp_path, with_changes(MINIMAL, source=BRANCHES_SOURCE))
    template = _pipeline(repo / "manifest.yaml", repo)
    [source] = _stage(template, "Source")["Actions"]
    # the variable the condition reads is the source action's own output (BranchName of the pushed commit)
    assert source["Namespace"] == "SourceVariables"
    update = _stage(template, "UpdatePipeline")
    assert _enters(update, {"#{SourceVariables.BranchName}": "release/2.0"})
    for other in ("release/3.0", "release/2.0-hotfix", "main"):
        assert not _enters(update, {"#{SourceVariables.BranchName}": other}), other
    # skipping the stage skips Recompile and the stack update together: both are in it
    assert [a["Name"] for a in update["Actions"]] == ["Recompile", "UpdatePipelineStack"]
    # a SKIP condition cannot be overridden when a run starts: no rule names a Lambda or a role
    assert all("RoleArn" not in r for c in update["BeforeEntry"]["Conditions"] for r in c["Rules"])


def test_a_single_branch_pipeline_has_no_entry_condition(tmp_path):
    single = {k: v for k, v in BRANCHES_SOURCE.items() if k != "branches"}
    for source in (single, None):
        text = with_changes(MINIMAL, source=source) if source else MINIMAL
        repo = _checkout(tmp_path / str(bool(source)), text)
        template = _pipeline(repo / "manifest.yaml", repo)
        assert "BeforeEntry" not in _stage(template, "UpdatePipeline")
        assert "Namespace" not in _stage(template, "Source")["Actions"][0]


def _runs_with_missing_inputs(template: dict, branch: str) -> list[str]:
    """The actions of a run of `branch` that read an artifact no action of that run produced (stages
    skipped by their entry condition produce nothing), or name a template in an artifact they do
    not take as input. Actions run in stage order, and in RunOrder within a stage."""
    produced, missing = set(), []
    for stage in template["Resources"]["Pipeline"]["Properties"]["Stages"]:
        if not _enters(stage, {"#{SourceVariables.BranchName}": branch}):
            continue
        for order in sorted({a.get("RunOrder", 1) for a in stage["Actions"]}):
            group = [a for a in stage["Actions"] if a.get("RunOrder", 1) == order]
            for act in group:
                inputs = [a["Name"] for a in act.get("InputArtifacts", [])]
                path = act.get("Configuration", {}).get("TemplatePath", "")
                if any(name not in produced for name in inputs) or (path and path.split("::")[0] not in inputs):
                    missing.append(f"{stage['Name']}.{act['Name']}")
            produced.update(a["Name"] for act in group for a in act.get("OutputArtifacts", []))
    return missing


def test_glue_yaml_comes_from_an_action_every_branch_runs(tmp_path):
    """REVIEW1 B2: a run of another branch skips UpdatePipeline, so the Glue stack's template
    cannot come from its Recompile (SelfUpdate::glue.yaml): the Build stage's GlueTemplate action
    compiles it in every run."""
    from conftest import ROOT

    glue = yaml.safe_load((ROOT / "manifests" / "glue-etl.yaml").read_text())
    glue["source"] = BRANCHES_SOURCE
    repo = _checkout(tmp_path, yaml.safe_dump(glue, sort_keys=False))
    template = _pipeline(repo / "manifest.yaml", repo)
    for branch in ("release/2.0", "release/3.0"):
        assert _runs_with_missing_inputs(template, branch) == [], branch
    build = _stage(template, "Build")
    assert "GlueTemplate" in [a["Name"] for a in build["Actions"]]
    prepares = [
        a
        for env in ("dev", "prod")
        for a in _stage(template, env)["Actions"]
        if a.get("Configuration", {}).get("TemplatePath", "").endswith("::glue.yaml")
    ]
    assert prepares and {a["Configuration"]["TemplatePath"] for a in prepares} == {"GlueTemplate::glue.yaml"}
    # the GlueTemplate project recompiles with the same pinned toolchain as the self-update
    update = template["Resources"]["UpdateProject"]["Properties"]
    again = template["Resources"]["GlueTemplateProject"]["Properties"]
    assert again["Source"]["BuildSpec"] == update["Source"]["BuildSpec"]

    # without branches: the self-update runs in every run and writes glue.yaml (no second compile)
    del glue["source"]["branches"]
    repo = _checkout(tmp_path / "single", yaml.safe_dump(glue, sort_keys=False))
    template = _pipeline(repo / "manifest.yaml", repo)
    assert _runs_with_missing_inputs(template, "release/2.0") == []
    assert "GlueTemplateProject" not in template["Resources"]
    assert {
        a["Configuration"]["TemplatePath"]
        for env in ("dev", "prod")
        for a in _stage(template, env)["Actions"]
        if a.get("Configuration", {}).get("TemplatePath", "").endswith("::glue.yaml")
    } == {"SelfUpdate::glue.yaml"}
