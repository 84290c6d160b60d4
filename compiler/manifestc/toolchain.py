"""The self-update toolchain: a hash-pinned wheelhouse of manifestc and its runtime dependencies.

`manifestc wheelhouse DIR` writes it (one wheel per distribution and `requirements.txt`, each
line `name==version --hash=sha256:...`); one `aws s3 sync` puts it where the pipeline's
Recompile build reads it. The build installs it with `pip install --no-index --require-hashes`
into a virtual environment created outside the checkout: no package index is contacted at run
time (it works in a VPC with only the S3 gateway endpoint), and nothing but those exact bytes
can be installed. `install_commands` is the one description of that install, used by the
emitted buildspec and by `manifestc recompile` when it tries a new toolchain.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import io
import re
import shlex
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

REQUIREMENTS = "requirements.txt"
# Zip entries get a fixed timestamp so the same sources make the same wheel (and hash).
_EPOCH = (1980, 1, 1, 0, 0, 0)
# manylinux tags the CodeBuild standard images (x86_64, glibc >= 2.26) run; pip download picks
# the first wheel that matches any. (PEP 600 / PEP 599 tag names.)
CODEBUILD_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def install_commands(source: str, home: str = "$MANIFESTC_HOME") -> tuple[str, ...]:
    """Shell commands that install the wheelhouse at `source` (an s3:// URL, may hold shell
    variables) into `<home>/venv`: isolated interpreter (`-I`: no current directory or
    PYTHON* variables on sys.path), pip ignoring every config file and variable (`--isolated`),
    no index, every file checked against its hash. `home` is a fresh directory outside the
    checkout, so nothing committed to the repository can shadow a module."""
    return (
        f'cd "{home}"',
        f'aws s3 cp --recursive --only-show-errors "{source}" wheels',
        "python3 -I -m venv venv",
        (
            "venv/bin/python -I -m pip --isolated install --quiet --no-compile --no-index --require-hashes "
            f"--find-links wheels --requirement wheels/{REQUIREMENTS}"
        ),
    )


def runtime_distributions(root: str = "manifestc") -> list[metadata.Distribution]:
    """`root` and every distribution it needs at run time (no extras), as installed here."""
    from packaging.requirements import Requirement  # the wheelhouse's alone: a build does not load it
    from packaging.utils import canonicalize_name

    found: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        dist = metadata.distribution(name)
        found[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            todo.append(requirement.name)
    return [found[k] for k in sorted(found)]


def _record_line(arcname: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [arcname, f"sha256={digest}", str(len(data))]


def _write_wheel(target: Path, files: dict[str, bytes], dist_info: str) -> None:
    """A wheel from (archive name -> bytes); RECORD is computed, entries sorted, times fixed."""
    rows = [_record_line(name, files[name]) for name in sorted(files)]
    rows.append([f"{dist_info}/RECORD", "", ""])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    files = {**files, f"{dist_info}/RECORD": buffer.getvalue().encode()}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])


def _wheel_stem(dist: metadata.Distribution) -> str:
    return f"{re.sub(r'[-_.]+', '_', dist.metadata['Name'])}-{dist.version}"


def manifestc_wheel(out: Path) -> Path:
    """Build manifestc's own wheel from the installed package (editable or not): pure Python,
    deterministic bytes for the same sources."""
    import manifestc

    dist = metadata.distribution("manifestc")
    files: dict[str, bytes] = {}
    # the package and its data package (`manifestc.schemas` is the repository's schemas/ folder
    # in an editable install, manifestc/schemas/ otherwise)
    schemas = Path(next(iter(importlib.util.find_spec("manifestc.schemas").submodule_search_locations)))
    for folder, prefix in ((Path(manifestc.__file__).parent, "manifestc"), (schemas, "manifestc/schemas")):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".yaml"):
                files[f"{prefix}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    stem = _wheel_stem(dist)
    info = f"{stem}.dist-info"
    requires = [r for r in dist.requires or [] if "extra ==" not in r]
    meta = [
        "Metadata-Version: 2.1",
        f"Name: {dist.metadata['Name']}",
        f"Version: {dist.version}",
        f"Summary: {dist.metadata.get('Summary', '')}",
        f"Requires-Python: {dist.metadata.get('Requires-Python', '>=3.11')}",
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    files[f"{info}/METADATA"] = ("\n".join(meta) + "\n").encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: manifestc\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\nmanifestc = manifestc.cli:main\n"
    target = out / f"{stem}-py3-none-any.whl"
    _write_wheel(target, files, info)
    return target


def repack_installed(dist: metadata.Distribution, out: Path) -> Path:
    """A wheel of an installed distribution, from the files its RECORD lists (those inside
    site-packages; pip recreates scripts from entry_points.txt) and the tags of its WHEEL file.
    Valid only where the interpreter matches the build's (same platform, same Python)."""
    wheel_text = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")]
    if not tags:
        raise ValueError(f"{dist.metadata['Name']} was not installed from a wheel; cannot repack it")
    base = Path(dist.locate_file(""))
    stem = _wheel_stem(dist)
    info = f"{stem}.dist-info"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    files: dict[str, bytes] = {}
    for entry in dist.files or []:
        name = entry.as_posix()
        if name.startswith("..") or "__pycache__" in name or name.endswith(".pyc"):
            continue
        if name.startswith(info + "/") or name.split("/", 1)[0].endswith(".dist-info"):
            if name.rsplit("/", 1)[-1] in skip:
                continue
            name = f"{info}/{name.split('/', 1)[1]}"
        path = base / entry
        if path.is_file():
            files[name] = path.read_bytes()
    # several tags compress into one wheel file name tag set (PEP 425): py-abi-plat, dot-joined
    parts = [t.split("-") for t in tags]
    tag = "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))
    target = out / f"{stem}-{tag}.whl"
    _write_wheel(target, files, info)
    return target


def download_wheels(
    dists: list[metadata.Distribution], out: Path, python_version: str, pip_args: tuple[str, ...] = ()
) -> None:
    """The exact installed versions as binary wheels for the CodeBuild image (Linux x86_64,
    the Recompile runtime's Python), from the index pip is configured with (or `pip_args`)."""
    platforms = [arg for p in CODEBUILD_PLATFORMS for arg in ("--platform", p)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(out),
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        *platforms,
        *pip_args,
        *(f"{d.metadata['Name']}=={d.version}" for d in dists),
    ]
    subprocess.run(command, check=True)


def write_requirements(out: Path) -> Path:
    """requirements.txt pinning every wheel in `out` by version and SHA-256."""
    from packaging.utils import canonicalize_name

    lines = []
    for wheel in sorted(out.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines.append(f"{canonicalize_name(name)}=={version} --hash=sha256:{digest}")
    target = out / REQUIREMENTS
    target.write_text("\n".join(sorted(lines)) + "\n")
    return target


def build_wheelhouse(
    out: Path, *, from_installed: bool = False, python_version: str = "3.12", pip_args: tuple[str, ...] = ()
) -> list[Path]:
    """Write the wheelhouse into `out` (created; existing wheels of other versions removed)."""
    from packaging.utils import canonicalize_name

    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    dists = [d for d in runtime_distributions() if canonicalize_name(d.metadata["Name"]) != "manifestc"]
    manifestc_wheel(out)
    if from_installed:
        for dist in dists:
            repack_installed(dist, out)
    else:
        download_wheels(dists, out, python_version, pip_args)
    write_requirements(out)
    return sorted(out.iterdir())


def upload_command(out: Path, destination: str) -> str:
    """The one command that publishes the wheelhouse (shown by `manifestc wheelhouse`)."""
    return f"aws s3 sync --delete {shlex.quote(str(out))} {shlex.quote(destination)}"
