"""`manifestc recompile`: what the pipeline's Recompile build runs (the self-update stage).

It runs from the toolchain the *deployed* pipeline names (installed by the buildspec from its
hash-pinned wheelhouse, outside the checkout), so a commit can never change the compiler that
judges it. It:

1. compiles exactly the committed manifest file into a fresh temporary directory (never a
   cache or output directory of the repository);
2. refuses a manifest that no longer compiles to this pipeline (renaming needs a new stack);
3. when the commit changes `regenerate.install`, installs the new toolchain the same way into a
   second fresh environment and compiles with it; only if that works is its output used (so a
   broken toolchain never reaches the pipeline, and the next commit can fix it);
4. in a VPC, checks that every interface endpoint the new manifest needs answers from this
   build (the shared network stack is deployed separately; the message names it and the
   command that updates it);
5. refuses a manifest that adds a target account or region the deployed pipeline has no
   `bootstrap-<account>` / `support-<region>` stack for (the deployed Recompile project names
   them in MANIFESTC_DEPLOYED_ACCOUNTS / _REGIONS): those stacks are deployed by hand first;
5b. refuses (MC397) a manifest that changes which extra regions an environment of another account
   deploys to (MANIFESTC_DEPLOYED_REGIONAL_KEYS, absent: none): pipeline.yaml takes those regions'
   artifact key ARNs as parameters, and the deployed update action passes exactly its own
   (regional_keys.py);
6. refuses a manifest that changes who approves: which environments have an approval and their
   `approvers` (the deployed project names them in MANIFESTC_DEPLOYED_APPROVALS). A committer
   must not be able to make themselves an approver, or remove the approval, through the
   pipeline; a platform principal deploys such a change by hand;
7. refuses a manifest that adds or changes a declared IAM grant (`build.permissions`,
   `tests[].permissions`): the deployed project names a digest of each grant in
   MANIFESTC_DEPLOYED_PERMISSIONS. A committer must not be able to widen what the pipeline's
   roles may do through the pipeline; removing a grant applies by itself;
8. refuses a manifest that changes the pipeline's source (provider, repository, branch,
   connection; MANIFESTC_DEPLOYED_SOURCE): branch protection is the control on what reaches the
   pipeline, so a commit must not point it at a branch or repository without it;
9. refuses a manifest that deploys a resource an approved environment deploys from an environment
   without that same approval (MANIFESTC_DEPLOYED_GATED), e.g. a new unapproved environment
   writing prod's stack: approvals gate resources, not stage names;
10. uses a new toolchain's output only if it carries every guard variable above with the values
   this compiler computes (a commit cannot downgrade to a compiler that guards less);
11. copies the pipeline's files into `--out`, replaced as a whole.

The command refuses to run when the deployed project lacks any guard variable (guard.GUARDS).

Failures are MC264 diagnostics; the pipeline stack is then not updated.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic, Severity
from .guard import GUARDS, Resource, guard_values, source_value, ungated_writes
from .model import Manifest
from .regional_keys import OUTPUT, key_regions, parameter_name, parse_variable, variable_value
from .regional_keys import VARIABLE as REGIONAL_KEYS
from .toolchain import install_commands

# Host names the interface endpoints answer on with private DNS, by endpoint service (the part
# after `com.amazonaws.<region>.`). Sources: the service endpoints pages of the AWS General
# Reference (docs.aws.amazon.com/general/latest/gr/<service>.html); ECR: "the api.ecr endpoint
# is used ... through an AWS PrivateLink VPC endpoint" (gr/ecr.html), registry hosts are
# <account>.dkr.ecr.<region>.amazonaws.com (AmazonECR/latest/userguide/vpc-endpoints.html);
# CodeArtifact repositories: <domain>-<owner>.d.codeartifact.<region>.amazonaws.com
# (codeartifact/latest/ug/use-codeartifact-from-vpc.html). Any other service: <service>.<region>.
ENDPOINT_HOSTS: dict[str, str] = {
    "ecr.api": "api.ecr.{region}.amazonaws.com",
    "ecr.dkr": "{account}.dkr.ecr.{region}.amazonaws.com",
    "codeartifact.api": "codeartifact.{region}.amazonaws.com",
    "codeartifact.repositories": "{domain}-{owner}.d.codeartifact.{region}.amazonaws.com",
}
PROBE_TIMEOUT = 5.0  # seconds: an endpoint answers in milliseconds; without one, no route
SHARED_NETWORK_STACK = "manifestc-network-{vpc}"  # the stack name the README tells users to deploy


@dataclass
class Outcome:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    toolchain: str = ""  # the toolchain whose output was used

    @property
    def failed(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def _refuse(outcome: Outcome, file: str, message: str, hint: str | None = None) -> Outcome:
    outcome.diagnostics.append(Diagnostic("MC264", Severity.ERROR, message, file, 1, 1, hint=hint))
    return outcome


def endpoint_host(service: str, region: str, account: str, manifest: Manifest) -> str:
    ca = manifest.build.codeartifact
    pattern = ENDPOINT_HOSTS.get(service, service + ".{region}.amazonaws.com")
    return pattern.format(
        region=region,
        account=account,
        domain=ca.domain if ca else "domain",
        owner=(ca.owner if ca and ca.owner else account),
    )


def tcp_probe(host: str) -> bool:
    """Whether `host` answers on 443 from here (resolves and accepts a connection)."""
    try:
        with socket.create_connection((host, 443), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def missing_endpoints(
    manifest: Manifest, region: str, account: str, probe: Callable[[str], bool] = tcp_probe
) -> list[tuple[str, str]]:
    """(service, host) of the interface endpoints the manifest needs that do not answer."""
    network = manifest.network
    if network is None or network.mode == "none":
        return []
    wanted = [
        (e.service, endpoint_host(e.service, region, account, manifest))
        for e in network.endpoints
        if e.kind == "Interface"
    ]
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        answers = list(pool.map(probe, [host for _, host in wanted]))
    return [pair for pair, ok in zip(wanted, answers, strict=True) if not ok]


def parse_footprint(value: str | None) -> tuple[str, ...] | None:
    """MANIFESTC_DEPLOYED_ACCOUNTS / _REGIONS: None when unset (a pipeline deployed before they
    existed: nothing to compare with), `none` for an empty list."""
    if value is None:
        return None
    return tuple(sorted(v.strip() for v in value.split(",") if v.strip() and v.strip() != "none"))


def parse_approvals(value: str | None) -> dict[str, tuple[str, ...]] | None:
    """MANIFESTC_DEPLOYED_APPROVALS read back; None when unset (nothing to compare with)."""
    if value is None:
        return None
    found: dict[str, tuple[str, ...]] = {}
    for part in value.split(";"):
        if not part.strip() or part.strip() == "none":
            continue
        env, _, approvers = part.partition("=")
        found[env.strip()] = tuple(sorted(a.strip() for a in approvers.split(",") if a.strip()))
    return found


def approval_changes(new: Manifest, deployed: dict[str, tuple[str, ...]] | None) -> list[str]:
    """How the new manifest's approvals differ from the deployed pipeline's, in words."""
    from .guard import approvals_value

    if deployed is None:
        return []
    now = parse_approvals(approvals_value(new)) or {}
    changes = []
    for env in sorted(set(deployed) | set(now)):
        if env not in now:
            changes.append(f"environment {env} loses its approval")
        elif env not in deployed:
            changes.append(f"environment {env} gains an approval")
        elif now[env] != deployed[env]:
            added = sorted(set(now[env]) - set(deployed[env]))
            removed = sorted(set(deployed[env]) - set(now[env]))
            words = [f"adds {', '.join(added)}"] if added else []
            words += [f"removes {', '.join(removed)}"] if removed else []
            changes.append(f"the approvers of {env} change ({'; '.join(words)})")
    return changes


def parse_permissions(value: str | None) -> dict[str, tuple[str, ...]]:
    """MANIFESTC_DEPLOYED_PERMISSIONS read back. Unset means none declared: a pipeline deployed before
    the variable existed was compiled by a manifestc without declared permissions."""
    found: dict[str, tuple[str, ...]] = {}
    for part in (value or "").split(";"):
        if not part.strip() or part.strip() == "none":
            continue
        project, _, digests = part.partition("=")
        found[project.strip()] = tuple(sorted(d.strip() for d in digests.split(",") if d.strip()))
    return found


def permission_changes(new: Manifest, deployed: dict[str, tuple[str, ...]]) -> list[str]:
    """The projects whose declared grants the new manifest adds to or changes, in words."""
    from .guard import describe_grant_group, grant_fingerprints, placement_digests

    placement = placement_digests(new)
    changes = []
    for purpose, items in sorted(grant_fingerprints(new).items()):
        added = set(items) - set(deployed.get(purpose, ()))
        grants = added - placement
        if grants:
            what = "secret" if purpose.startswith("secrets-") else "grant"
            changes.append(
                f"{describe_grant_group(purpose)} adds or changes {len(grants)} {what}{'s' if len(grants) > 1 else ''}"
            )
        elif added:
            changes.append(f"{describe_grant_group(purpose)} now runs in another stage")
    return changes


def deployed_guards(variables) -> dict:
    """The guard variables of a deployed Recompile project (guard.GUARDS -> text) as the
    `deployed_*` keyword arguments of `recompile`: one reading for the CLI and the tests."""
    from . import guard

    return {
        "deployed_accounts": parse_footprint(variables.get(guard.ACCOUNTS)),
        "deployed_regions": parse_footprint(variables.get(guard.REGIONS)),
        "deployed_approvals": parse_approvals(variables.get(guard.APPROVALS)),
        "deployed_source": variables.get(guard.SOURCE),
        "deployed_gated": guard.parse_gated(variables.get(guard.GATED)),
        "deployed_permissions": parse_permissions(variables.get(guard.PERMISSIONS)),
        "deployed_boundary": variables.get(guard.BOUNDARY),
        # optional: absent on a pipeline that passes no key ARN parameter (regional_keys.py)
        "deployed_regional_keys": parse_variable(variables.get(REGIONAL_KEYS)),
    }


def _regional_keys_changed(new: Manifest, deployed: tuple[str, ...], shown: str) -> Diagnostic:
    """MC397: the regions whose artifact key pipeline.yaml takes by ARN differ from the deployed
    pipeline's. Its UpdatePipelineStack action passes exactly its own key parameters, so a stack
    update would lack a new one or pass one the template no longer declares."""
    now = key_regions(new)
    added, removed = sorted(set(now) - set(deployed)), sorted(set(deployed) - set(now))
    parts = []
    if added:
        parts.append(
            "an environment of another account now deploys to "
            + ", ".join(added)
            + ", whose artifact key pipeline.yaml then takes by ARN (parameters "
            + ", ".join(parameter_name(r) for r in added)
            + "), which the deployed pipeline does not pass"
        )
    if removed:
        parts.append(
            "no environment of another account deploys to "
            + ", ".join(removed)
            + " any more, and the deployed pipeline would pass parameters ("
            + ", ".join(parameter_name(r) for r in removed)
            + ") the new template does not declare"
        )
    return Diagnostic(
        "MC397",
        Severity.ERROR,
        "the new manifest changes which regions' artifact keys the pipeline names by key ARN: "
        + "; ".join(parts)
        + ". The pipeline is left unchanged",
        shown,
        1,
        1,
        hint=f"deploy it by hand once: `manifestc build` on this commit, then the pipeline step of `manifestc "
        f"deploy-plan out/{new.name}` (it reads each key ARN from the support stack's output {OUTPUT}); "
        "later commits update it through the pipeline again",
    )


def _undeployed_stacks(
    new: Manifest, accounts: tuple[str, ...] | None, regions: tuple[str, ...] | None
) -> list[tuple[str, str]]:
    """(reason, deploy-plan step) for each account or region the new manifest adds."""
    found = []
    if accounts is not None:
        for account in sorted(set(new.extra_accounts) - set(accounts)):
            found.append(
                (
                    f"account {account} is new, and its bootstrap stack (deploy and execution roles) is not deployed",
                    f"deploy out/{new.name}/bootstrap-{account}.yaml as stack {new.name}-bootstrap in account {account}",
                )
            )
    if regions is not None:
        for region in sorted(set(new.extra_regions) - set(regions)):
            found.append(
                (
                    f"region {region} is new, and its support stack (regional artifact bucket and key) is not deployed",
                    (
                        f"deploy out/{new.name}/support-{region}.yaml as stack {new.name}-support-{region} "
                        f"in region {region} of the tooling account"
                    ),
                )
            )
    return found


def _run(commands: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess:
    script = "set -euo pipefail\n" + "\n".join(commands)
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False)


def _toolchain_url(install: str, artifact_bucket: str) -> str:
    from .model import Regenerate

    chain = Regenerate(True, install, "").toolchain
    return f"s3://{chain.bucket or artifact_bucket}/{chain.prefix}"


def recompile(
    manifest_path: Path,
    *,
    repo_root: Path,
    pipeline: str,
    deployed_toolchain: str,
    artifact_bucket: str,
    out: Path,
    region: str,
    account: str,
    probe: Callable[[str], bool] = tcp_probe,
    deployed_accounts: tuple[str, ...] | None = None,
    deployed_regions: tuple[str, ...] | None = None,
    deployed_approvals: dict[str, tuple[str, ...]] | None = None,
    deployed_source: str | None = None,
    deployed_gated: dict[str, list[Resource]] | None = None,
    deployed_permissions: dict[str, tuple[str, ...]] | None = None,
    deployed_boundary: str | None = None,
    deployed_regional_keys: tuple[str, ...] | None = None,
) -> Outcome:
    """The self-update build's work (module docstring). `out` is replaced only on success."""
    from . import api

    outcome = Outcome(toolchain=deployed_toolchain)
    shown = manifest_path.name
    if not manifest_path.is_file():
        return _refuse(
            outcome,
            shown,
            f"the source has no file {manifest_path.relative_to(repo_root) if manifest_path.is_relative_to(repo_root) else manifest_path} "
            "(regenerate.path of the deployed pipeline)",
            hint="commit the manifest there, or deploy a template whose regenerate.path names its new place",
        )
    work = Path(tempfile.mkdtemp(prefix="manifestc-recompile-"))
    try:
        built = work / "out"
        report = api.build([str(manifest_path)], built, repo_root=repo_root)
        outcome.diagnostics.extend(report.all_diagnostics())
        if report.failed():
            return outcome
        result = report.results[0]
        new: Manifest = result.manifest
        if new.name != pipeline:
            return _refuse(
                outcome,
                shown,
                f"the manifest now compiles to pipeline `{new.name}`, not `{pipeline}`: renaming a pipeline needs a new stack",
                hint=f"deploy out/{new.name}/pipeline.yaml as a new stack, then delete this one",
            )
        source = built / new.name
        undeployed = _undeployed_stacks(new, deployed_accounts, deployed_regions)
        if undeployed:
            return _refuse(
                outcome,
                shown,
                "the new manifest deploys where the deployed pipeline cannot yet: "
                + "; ".join(reason for reason, _ in undeployed)
                + ". Those stacks are outside the pipeline stack (a pipeline never creates IAM in another "
                "account or a bucket in another region for itself); the pipeline is left unchanged",
                hint="run `manifestc build` on this commit, then these steps of `manifestc deploy-plan "
                f"out/{new.name}`: "
                + "; ".join(step for _, step in undeployed)
                + f"; then deploy out/{new.name}/pipeline.yaml as stack {new.name}-pipeline once by hand, "
                "as the plan's pipeline step does (with the parameters it passes); its Recompile project then "
                "records them",
            )
        if deployed_regional_keys is not None and key_regions(new) != deployed_regional_keys:
            outcome.diagnostics.append(_regional_keys_changed(new, deployed_regional_keys, shown))
            return outcome
        changed = approval_changes(new, deployed_approvals)
        if changed:
            return _refuse(
                outcome,
                shown,
                "the new manifest changes who approves deployments: "
                + "; ".join(changed)
                + ". The pipeline never changes its own approvals (a committer could approve their own "
                "change); the pipeline is left unchanged",
                hint="have a platform principal review the change and deploy it by hand: `manifestc build` on "
                f"this commit, then deploy out/{new.name}/pipeline.yaml as stack {new.name}-pipeline "
                "(its Recompile project then records the new approvals)",
            )
        if deployed_source is not None and source_value(new) != deployed_source:
            return _refuse(
                outcome,
                shown,
                f"the new manifest changes the pipeline's source from {deployed_source} to {source_value(new)}. "
                "Branch protection on the deployed source is what guards this pipeline, so it never "
                "re-points itself; the pipeline is left unchanged",
                hint="have a platform principal review the change and deploy it by hand: `manifestc build` on "
                f"this commit, then deploy out/{new.name}/pipeline.yaml as stack {new.name}-pipeline",
            )
        if deployed_gated is not None:
            ungated = ungated_writes(new, deployed_gated, deployed_approvals or {}, account, region)
            if ungated:
                return _refuse(
                    outcome,
                    shown,
                    "the new manifest would deploy resources an approval guards without it: "
                    + "; ".join(ungated)
                    + ". The pipeline is left unchanged",
                    hint="deploy those resources from the approved environment only; a platform principal can "
                    f"deploy a reviewed change by hand (out/{new.name}/pipeline.yaml as stack {new.name}-pipeline)",
                )
        widened = permission_changes(new, deployed_permissions or {})
        if widened:
            return _refuse(
                outcome,
                shown,
                "the new manifest widens what the pipeline's roles may do: "
                + "; ".join(widened)
                + ". The pipeline never grants itself permissions (a committer could give their build any "
                "permission within the boundary); the pipeline is left unchanged",
                hint="have a platform principal review the grants (build.json lists them under `permissions`) and "
                f"deploy the change by hand: `manifestc build` on this commit, then deploy out/{new.name}/pipeline.yaml "
                f"as stack {new.name}-pipeline (its Recompile project then records the new grants)",
            )
        if deployed_boundary is not None:
            from .emit.iam import boundary_digest

            if boundary_digest(new) != deployed_boundary:
                return _refuse(
                    outcome,
                    shown,
                    "the new manifest changes the pipeline's permissions boundary (the roles its commands "
                    "targets assume, the execution roles its targets name, or an ECS target), which the "
                    "self-update role may not change; the pipeline is left unchanged",
                    hint="deploy it by hand: `manifestc build` on this commit, then deploy "
                    f"out/{new.name}/pipeline.yaml as stack {new.name}-pipeline (and the bootstrap stacks "
                    f"`manifestc deploy-plan out/{new.name}` lists)",
                )
        if new.regenerate.enabled and new.regenerate.install != deployed_toolchain:
            if not _same_toolchain_store(new.regenerate.install, deployed_toolchain):
                return _refuse(
                    outcome,
                    shown,
                    f"regenerate.install moves the toolchain from {deployed_toolchain} to {new.regenerate.install}, "
                    "another store: the pipeline only switches versions within the store it was deployed with "
                    "(the artifact bucket's write-protected `_manifestc/toolchain/`, or the same organisation "
                    "bucket); the pipeline is left unchanged",
                    hint="have a platform principal deploy the change by hand: `manifestc build` on this commit, "
                    f"then deploy out/{new.name}/pipeline.yaml as stack {new.name}-pipeline",
                )
            source = _try_toolchain(outcome, new, manifest_path, repo_root, artifact_bucket, work)
            if source is None:
                return outcome
        missing = missing_endpoints(new, region, account, probe)
        if missing:
            vpc = new.network.vpc_id
            stack = SHARED_NETWORK_STACK.format(vpc=vpc)
            listing = ", ".join(f"{service} ({host})" for service, host in missing)
            return _refuse(
                outcome,
                shown,
                f"VPC {vpc} has no endpoint for {listing}, which the new manifest's builds need; "
                f"the pipeline is left unchanged. Update the shared network stack `{stack}` "
                f"(out/_shared/network-{vpc}.yaml) first, then retry this execution",
                hint=(
                    f"manifestc build <every manifest in {vpc}> && aws cloudformation deploy "
                    f"--template-file out/_shared/network-{vpc}.yaml --stack-name {stack} "
                    f"--parameter-overrides S3PrefixListId=$(aws ec2 describe-managed-prefix-lists --filters "
                    f"Name=prefix-list-name,Values=com.amazonaws.{region}.s3 --query 'PrefixLists[0].PrefixListId' "
                    "--output text)"
                ),
            )
        if out.is_symlink() or out.is_file():
            out.unlink()
        elif out.exists():
            shutil.rmtree(out)
        shutil.copytree(source, out, symlinks=False)
        outcome.notes.append(f"pipeline {new.name} recompiled with toolchain {outcome.toolchain} into {out}")
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _same_toolchain_store(new: str, deployed: str) -> bool:
    """Whether a commit's toolchain is another version in the deployed toolchain's store: both in
    the artifact bucket (`manifestc==<version>`, under the prefix the bucket policy write-protects),
    or both in one organisation bucket. Anything else could be a bucket the committer made
    (third review): only a person deploys that."""
    if new.startswith("manifestc==") and deployed.startswith("manifestc=="):
        return True

    def bucket(install: str) -> str:
        return install[len("s3://") :].partition("/")[0]

    return new.startswith("s3://") and deployed.startswith("s3://") and bucket(new) == bucket(deployed)


def _try_toolchain(
    outcome: Outcome, new: Manifest, manifest_path: Path, repo_root: Path, artifact_bucket: str, work: Path
) -> Path | None:
    """Install the commit's toolchain into a fresh environment and compile with it; its output
    directory, or None (with the reason) when it does not install or compile."""
    home = work / "next-toolchain"
    home.mkdir()
    url = _toolchain_url(new.regenerate.install, artifact_bucket)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env["MANIFESTC_HOME"] = str(home)
    keep = f"the pipeline keeps its current toolchain ({outcome.toolchain}) and shape"
    installed = _run(install_commands(url), env)
    if installed.returncode != 0:
        _refuse(
            outcome,
            manifest_path.name,
            f"regenerate.install `{new.regenerate.install}` does not install from {url}: "
            f"{(installed.stderr or installed.stdout).strip()[-600:]}; {keep}",
            hint="upload that wheelhouse (manifestc wheelhouse, then aws s3 sync), or restore regenerate.install in a new commit",
        )
        return None
    out = work / "next-out"
    compiled = subprocess.run(
        [
            str(home / "venv" / "bin" / "python"),
            "-I",
            "-m",
            "manifestc",
            "build",
            str(manifest_path),
            "--out",
            str(out),
            "--repo-root",
            str(repo_root),
        ],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if compiled.returncode != 0 or not (out / new.name / "pipeline.yaml").is_file():
        _refuse(
            outcome,
            manifest_path.name,
            f"the toolchain of regenerate.install `{new.regenerate.install}` does not compile this manifest: "
            f"{(compiled.stderr or compiled.stdout).strip()[-600:]}; {keep}",
            hint="fix the manifest for that version, or restore regenerate.install in a new commit",
        )
        return None
    lost = _guards_lost(out / new.name / "pipeline.yaml", new)
    if lost:
        _refuse(
            outcome,
            manifest_path.name,
            f"the toolchain of regenerate.install `{new.regenerate.install}` emits a self-update that does not "
            f"guard what this one does ({', '.join(lost)} missing or different); {keep}",
            hint="name a toolchain at least as new as the deployed one, or have a platform principal deploy the "
            "change by hand",
        )
        return None
    outcome.toolchain = new.regenerate.install
    return out / new.name


def recompile_variables(template: dict) -> dict[str, str] | None:
    """The environment variables of the Recompile project of a rendered pipeline.yaml (the
    CodeBuild project whose variables name the deployed toolchain), None when there is none."""
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::CodeBuild::Project":
            continue
        variables = (resource.get("Properties") or {}).get("Environment", {}).get("EnvironmentVariables") or []
        found = {v.get("Name"): v.get("Value") for v in variables if isinstance(v, dict)}
        if "MANIFESTC_TOOLCHAIN" in found:
            return found
    return None


def _guards_lost(pipeline: Path, new: Manifest) -> list[str]:
    """The guard variables a new toolchain's pipeline.yaml lacks or sets otherwise than this compiler."""
    import yaml

    try:
        template = yaml.safe_load(pipeline.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return list(GUARDS)
    found = recompile_variables(template) or {}
    # the key ARN record is optional (absent: none), so it is compared as written, absence included
    expected = (*guard_values(new), (REGIONAL_KEYS, variable_value(new)))
    return [name for name, value in expected if found.get(name) != value]
