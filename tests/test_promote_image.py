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
# A stand-in ECR: $REPO_DIR/<tag> holds the digest under that tag; IMMUTABLE=1 refuses existing tags.
args="$*"
tag_of() { sed -E 's/.*imageTag="?([^" ]+)"?.*/\1/' <<<"$1"; }
case "$args" in
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

COMMIT = "abcdef0123456789"


def _commands(tmp_path) -> list[str]:
    path = tmp_path / "manifest.yaml"
    path.write_text(DOCKER)
    result = compile_manifest(path, lint=False)
    spec = result.templates["pipeline.yaml"]["Resources"]["PromoteImageProject"]["Properties"]["Source"]["BuildSpec"]
    text = (spec["Fn::Sub"] if isinstance(spec, dict) else spec).replace("${!", "${")
    return yaml.safe_load(text)["phases"]["build"]["commands"]


def _run(tmp_path, immutable: bool, tagged: str | None):
    """Promote with the candidate in the repository and `tagged` ('candidate', 'old' or None) under the commit's tag."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / f"candidate-{COMMIT[:7]}.manifest").write_text('{"layers": ["new"]}\n')
    candidate = subprocess.run(
        ["bash", "-c", f"echo sha256:$(sha256sum < {repo}/candidate-{COMMIT[:7]}.manifest | cut -c1-12)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    (repo / f"candidate-{COMMIT[:7]}").write_text(candidate + "\n")
    if tagged:
        (repo / COMMIT[:7]).write_text((candidate if tagged == "candidate" else "sha256:0123456789ab") + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "REPO_DIR": str(repo),
        "IMMUTABLE": "1" if immutable else "0",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": COMMIT,
    }
    work = tmp_path / "work"
    work.mkdir()
    # CodeBuild (buildspec 0.2, shell bash) runs a phase's commands in one shell, stopping at the first failure
    done = subprocess.run(
        ["bash", "-c", "set -e\n" + "\n".join(_commands(tmp_path))], env=env, cwd=work, capture_output=True, text=True
    )
    return done, (repo / COMMIT[:7]).read_text().strip(), candidate


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
