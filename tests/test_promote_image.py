"""PromoteImage (README "Images: candidate, then promoted"): the tested candidate-<commit> image is
tagged <commit>; on a repository with immutable tags an older image under <commit> fails the job
instead of being deployed silently. The emitted commands run in bash against a stand-in `aws` that
answers the way ECR does (ECR API Reference, PutImage errors: ImageAlreadyExistsException for the
same manifest and tag, ImageTagAlreadyExistsException for an existing tag on an IMMUTABLE repository)."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from manifestc.api import compile_manifest
from test_cross_account import DOCKER

FAKE_AWS = r"""#!/bin/bash
# A stand-in ECR: $REPO_DIR/<tag> holds the digest under that tag; IMMUTABLE=1 refuses existing tags;
# DENY lists operations answered AccessDeniedException.
args="$*"
tag_of() { sed -E 's/.*imageTag="?([^" ]+)"?.*/\1/' <<<"$1"; }
for denied in $DENY; do
  case "$args" in "ecr $denied"*) echo "An error occurred (AccessDeniedException) when calling $denied" >&2; exit 254 ;; esac
done
case "$args" in
  "ecr get-login-password"*) echo password ;;
  "ecr batch-get-image"*"length(images)"*) [ -f "$REPO_DIR/$(tag_of "$args")" ] && echo 1 || echo 0 ;;
  "ecr batch-get-image"*imageManifestMediaType*) echo "application/vnd.oci.image.manifest.v1+json" ;;
  "ecr batch-get-image"*imageManifest*) cat "$REPO_DIR/$(tag_of "$args").manifest" ;;
  "ecr describe-images"*)
    t=$(tag_of "$args"); [ -f "$REPO_DIR/$t" ] || { echo "ImageNotFoundException" >&2; exit 254; }
    cat "$REPO_DIR/$t" ;;
  "ecr put-image"*)
    t=$(sed -E 's/.*--image-tag ([^ ]+).*/\1/' <<<"$args")
    f=$(sed -E 's/.*--image-manifest file:\/\/([^ ]+).*/\1/' <<<"$args")
    digest="sha256:$(sha256sum < "$f" | cut -c1-12)"
    if [ -f "$REPO_DIR/$t" ]; then
      if [ "$(cat "$REPO_DIR/$t")" = "$digest" ]; then echo "ImageAlreadyExistsException" >&2; exit 254; fi
      if [ "$IMMUTABLE" = 1 ]; then echo "ImageTagAlreadyExistsException" >&2; exit 254; fi
    fi
    echo "$digest" > "$REPO_DIR/$t" ;;
  *) echo "fake aws: unsupported: $args" >&2; exit 2 ;;
esac
"""

# A stand-in docker: logs its calls; a push of an existing tag to an IMMUTABLE repository fails as ECR
# refuses it (ImageTagAlreadyExistsException), otherwise the pushed tag is stored.
FAKE_DOCKER = r"""#!/bin/bash
echo "docker $*" >> "$DOCKER_LOG"
case "$1" in
  login) cat > /dev/null ;;
  push)
    t="${2##*:}"
    if [ -f "$REPO_DIR/$t" ] && [ "$IMMUTABLE" = 1 ]; then echo "tag invalid: ImageTagAlreadyExistsException" >&2; exit 1; fi
    echo "sha256:rebuilt00000" > "$REPO_DIR/$t" ;;
esac
"""

COMMIT = "abcdef0123456789"
DOCKER_URI = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/catalog-api"


def _commands(tmp_path, project: str = "PromoteImageProject", manifest: str = DOCKER) -> list[str]:
    """The project's commands, phase after phase (CodeBuild runs a build's phases in one shell
    session: a variable exported in pre_build is set in build and post_build)."""
    path = tmp_path / "manifest.yaml"
    path.write_text(manifest)
    result = compile_manifest(path, lint=False)
    spec = result.templates["pipeline.yaml"]["Resources"][project]["Properties"]["Source"]["BuildSpec"]
    text = (spec["Fn::Sub"] if isinstance(spec, dict) else spec).replace("${!", "${")
    phases = yaml.safe_load(text)["phases"]
    return [
        c
        for phase in ("install", "pre_build", "build", "post_build")
        for c in phases.get(phase, {}).get("commands", [])
    ]


def _run(
    tmp_path,
    immutable: bool,
    tagged: str | None,
    *,
    deny: str = "",
    project: str = "PromoteImageProject",
    manifest: str = DOCKER,
    candidate_pushed: bool = True,
):
    """Run the project's commands with the candidate in the repository (unless not
    `candidate_pushed`) and `tagged` ('candidate', 'old' or None) under the commit's tag."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / f"candidate-{COMMIT[:7]}.manifest").write_text('{"layers": ["new"]}\n')
    candidate = subprocess.run(
        ["bash", "-c", f"echo sha256:$(sha256sum < {repo}/candidate-{COMMIT[:7]}.manifest | cut -c1-12)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if candidate_pushed:
        (repo / f"candidate-{COMMIT[:7]}").write_text(candidate + "\n")
    if tagged:
        (repo / COMMIT[:7]).write_text((candidate if tagged == "candidate" else "sha256:0123456789ab") + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "REPO_DIR": str(repo),
        "IMMUTABLE": "1" if immutable else "0",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": COMMIT,
        "DENY": deny,
        "DOCKER_LOG": str(tmp_path / "docker.log"),
        "IMAGE_URI": DOCKER_URI,
        "ECR_REGISTRY": "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    work = tmp_path / "work"
    work.mkdir()
    # CodeBuild (buildspec 0.2, shell bash) runs a phase's commands in one shell, stopping at the first failure
    done = subprocess.run(
        ["bash", "-c", "set -e\n" + "\n".join(_commands(tmp_path, project, manifest))],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
    )
    under_commit = repo / COMMIT[:7]
    return done, under_commit.read_text().strip() if under_commit.exists() else None, candidate


@pytest.mark.parametrize("immutable", [False, True], ids=["mutable", "immutable"])
def test_first_promotion_tags_the_candidate(tmp_path, immutable):
    done, tagged, candidate = _run(tmp_path, immutable, None)
    assert done.returncode == 0, done.stderr
    assert tagged == candidate


@pytest.mark.parametrize("immutable", [False, True], ids=["mutable", "immutable"])
def test_a_rerun_of_the_same_commit_succeeds(tmp_path, immutable):
    done, tagged, candidate = _run(tmp_path, immutable, "candidate")
    assert done.returncode == 0, done.stderr
    assert tagged == candidate


def test_a_mutable_repository_moves_the_tag_to_the_tested_image(tmp_path):
    done, tagged, candidate = _run(tmp_path, False, "old")
    assert done.returncode == 0, done.stderr
    assert tagged == candidate


def test_an_immutable_repository_holding_an_older_image_fails_the_promotion(tmp_path):
    done, tagged, candidate = _run(tmp_path, True, "old")
    assert done.returncode != 0  # the deploys would otherwise run the old image under this tag
    assert tagged == "sha256:0123456789ab" != candidate
    assert "not the tested candidate" in done.stderr and candidate in done.stderr


def test_a_promotion_failing_for_another_reason_fails_with_that_error(tmp_path):
    """Only ImageTagAlreadyExistsException / ImageAlreadyExistsException mean "the tag is there";
    an AccessDenied from put-image is not compared as a tag mismatch, it fails with its own message."""
    done, tagged, candidate = _run(tmp_path, True, None, deny="put-image")
    assert done.returncode != 0
    assert tagged is None
    assert "AccessDeniedException" in done.stderr and "not the tested candidate" not in done.stderr


def test_a_promotion_denied_while_the_tag_holds_the_candidate_still_fails(tmp_path):
    # before the fix, the digest comparison turned any put-image error into success here
    done, _, _ = _run(tmp_path, True, "candidate", deny="put-image")
    assert done.returncode != 0 and "AccessDeniedException" in done.stderr


def _docker_calls(tmp_path) -> list[str]:
    log = tmp_path / "docker.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("immutable", [False, True], ids=["mutable", "immutable"])
def test_the_first_build_of_a_commit_builds_and_pushes_the_candidate(tmp_path, immutable):
    done, _, _ = _run(tmp_path, immutable, None, project="BuildProject", candidate_pushed=False)
    assert done.returncode == 0, done.stderr
    calls = _docker_calls(tmp_path)
    assert any(c.startswith(f"docker build --tag {DOCKER_URI}:candidate-{COMMIT[:7]}") for c in calls), calls
    assert f"docker push {DOCKER_URI}:candidate-{COMMIT[:7]}" in calls
    assert (tmp_path / "repo" / f"candidate-{COMMIT[:7]}").read_text().strip() == "sha256:rebuilt00000"


@pytest.mark.parametrize("immutable", [False, True], ids=["mutable", "immutable"])
def test_a_rerun_of_the_build_neither_rebuilds_nor_pushes_the_candidate(tmp_path, immutable):
    """Review finding B3: on an immutable repository the second push of candidate-<commit> failed
    the re-run before PromoteImage; the build now finds the candidate and skips build and push."""
    done, _, candidate = _run(tmp_path, immutable, None, project="BuildProject")
    assert done.returncode == 0, done.stderr
    calls = _docker_calls(tmp_path)
    assert not [c for c in calls if c.startswith(("docker build", "docker push"))], calls
    assert (tmp_path / "repo" / f"candidate-{COMMIT[:7]}").read_text().strip() == candidate  # the tested image stays


def test_the_fake_registry_refuses_a_second_push_on_an_immutable_repository(tmp_path):
    """The stand-in is faithful: pushing the existing candidate again fails (what the skip avoids)."""
    done, _, _ = _run(
        tmp_path,
        True,
        None,
        project="BuildProject",
        manifest=DOCKER.replace(
            "language: docker",
            "language: docker\nbuild:\n  post_build: ['docker push \"$IMAGE_URI:candidate-$IMAGE_TAG\"']",
        ),
    )
    assert done.returncode != 0 and "ImageTagAlreadyExistsException" in done.stderr


def test_the_build_fails_when_it_cannot_tell_whether_the_candidate_exists(tmp_path):
    done, _, _ = _run(tmp_path, True, None, project="BuildProject", candidate_pushed=False, deny="batch-get-image")
    assert done.returncode != 0 and "AccessDeniedException" in done.stderr
    assert not [c for c in _docker_calls(tmp_path) if c.startswith(("docker build", "docker push"))]


CUSTOM_IMAGE = DOCKER.replace("language: docker", "language: python").replace(
    "tests:",
    "build:\n  image_repository: catalog-api\n  privileged: true\n  install: []\n  commands:\n"
    '    - docker build --tag "$IMAGE_URI:latest" .\ntests:',
)


@pytest.mark.parametrize("pushed", [False, True], ids=["first-run", "rerun"])
def test_a_custom_image_build_pushes_the_candidate_once(tmp_path, pushed):
    done, _, _ = _run(tmp_path, True, None, project="BuildProject", manifest=CUSTOM_IMAGE, candidate_pushed=pushed)
    assert done.returncode == 0, done.stderr
    pushes = [c for c in _docker_calls(tmp_path) if c.startswith("docker push")]
    assert pushes == ([] if pushed else [f"docker push {DOCKER_URI}:candidate-{COMMIT[:7]}"])
