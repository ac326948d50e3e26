"""Builds a flight image bundle from a source checkout: the flight wheel (the C core compiled, or
cross-compiled, for the target and bound by cffi), the pinned runtime dependencies as wheels, the
configuration, the systemd units and the boot guard, signed with an image key. The same commit,
tools and lock file give the same octets: the sources come from git's file list, the compiler is
told to forget the build directory (-ffile-prefix-map), and every timestamp is the commit's
(SOURCE_DATE_EPOCH overrides it)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from flight.image.bundle import write_bundle
from flight.image.targets import PYTHON, PYTHON_TAG, Target, TargetError, host_target, target
from flight.image.wheel import write_wheel
from flight.security.keys import IMAGE_KEYS, SigningKey, load_signing_keys

WHEEL_NAME = "payload-flight"
SOURCES = ("CMakeLists.txt", "cmake", "native", "flight", "image", "pyproject.toml")
NATIVE_SOURCES = ("native/src/", "native/include/", "native/tests/", "native/fuzz/")
IMAGE_FILES = {  # in the source tree: in the bundle
    "image/payload-controller.service": "systemd/payload-controller.service",
    "image/payload-image-check.service": "systemd/payload-image-check.service",
    "image/payload-image-check.timer": "systemd/payload-image-check.timer",
    "image/payload.conf": "config/payload.conf",
}
BOOT_GUARD = ("flight/image/boot.py", "boot/payload-boot")
LOCK_FILE = "image/requirements.lock"
PREFIX_MAP = "/payload-image"  # what the build directory is called in the compiled code


PROJECT = "orbital-gpu-payload"


class BuildError(RuntimeError):
    """The bundle could not be built; the message says which step failed and why."""


class CheckoutError(ValueError):
    """What was given as the sources is not a checkout to build from (a user mistake)."""


def build_image(
    source: Path, out: Path, target_name: str, key_file: Path, config: Path | None = None
) -> Path:
    """Build the bundle of ``source`` for ``target_name`` into ``out``, signed with the image
    key of ``key_file`` that has a private half; the bundle's path."""
    machine = target(target_name)
    if machine.toolchain is None and machine.name != host_target():
        raise TargetError(f"{machine.name} builds on an {machine.name} machine only")
    key = _signer(key_file)
    _checkout(source)
    commit, dirty, epoch = _git_state(source)
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    version = f"{project['version']}+g{commit[:12]}" + (".dirty" if dirty else "")
    locked = _locked_hashes(source / LOCK_FILE)
    files: dict[str, tuple[bytes, bool]] = {}
    with tempfile.TemporaryDirectory(prefix="payload-image-") as work:
        tree = stage_sources(source, Path(work) / "src")
        extension = _compile_native(source, tree, Path(work), machine)
        wheel = _flight_wheel(tree, extension, machine, version, list(locked), epoch, Path(work))
        files[f"wheels/{wheel.name}"] = (wheel.read_bytes(), False)
    for path in _dependency_wheels(source, machine, locked):
        files[f"wheels/{path.name}"] = (path.read_bytes(), False)
    for name, inside in IMAGE_FILES.items():
        files[inside] = ((source / name).read_bytes(), False)
    if config is not None:
        files["config/payload.conf"] = (config.read_bytes(), False)
    files[BOOT_GUARD[1]] = ((source / BOOT_GUARD[0]).read_bytes(), True)
    fields = {
        "name": WHEEL_NAME,
        "version": version,
        "commit": commit,
        "dirty": dirty,
        "target": machine.name,
        "python": PYTHON,
        "built": epoch,
        "wheel": f"wheels/{wheel.name}",
        "toolchain": _toolchain(source, machine),
    }
    path = out / f"{WHEEL_NAME}-{version}-{machine.name}.tar"
    write_bundle(path, files, fields, key, epoch)
    return path


def _signer(key_file: Path) -> SigningKey:
    signers = [k for k in load_signing_keys(key_file, IMAGE_KEYS).values() if k.private]
    if not signers:
        raise BuildError(f"key file {key_file} holds no private image key ([[image_key]])")
    return min(signers, key=lambda k: k.key_id)


def _run(args: list[str], what: str, **kwargs) -> str:
    """Run a build step; its output, or BuildError with the end of what it printed."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    except FileNotFoundError:
        raise BuildError(f"{what}: {args[0]} is not installed") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise BuildError(f"{what} failed:\n" + "\n".join(tail))
    return done.stdout


def _checkout(source: Path) -> None:
    """CheckoutError in one line unless ``source`` is a git checkout of this project."""
    try:
        project = tomllib.loads((source / "pyproject.toml").read_text())["project"]["name"]
    except (OSError, ValueError, KeyError, TypeError):
        project = None
    if project != PROJECT:
        raise CheckoutError(
            f"{source.resolve()} is not a checkout of the flight software (no {PROJECT} "
            "pyproject.toml): build from the checkout, or name it with --source DIR"
        )
    try:
        inside = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "--is-inside-work-tree"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
    except FileNotFoundError:
        raise CheckoutError(
            "git is not installed: a bundle records the commit it was built from"
        ) from None
    if inside != "true":
        raise CheckoutError(
            f"{source.resolve()} is not a git checkout: a bundle records the commit it was "
            "built from (git clone the sources)"
        )


def _git_state(source: Path) -> tuple[str, bool, int]:
    """The commit, whether the build's sources differ from it, and the build's timestamp."""
    git = ["git", "-C", str(source)]
    commit = _run([*git, "rev-parse", "HEAD"], "git rev-parse").strip()
    dirty = bool(_run([*git, "status", "--porcelain", "--", *SOURCES], "git status").strip())
    epoch = os.environ.get("SOURCE_DATE_EPOCH") or _run(
        [*git, "log", "-1", "--format=%ct", commit], "git log"
    )
    return commit, dirty, int(epoch)


def stage_sources(source: Path, tree: Path) -> Path:
    """Copy the build's sources into ``tree`` (git's file list of ``source``: tracked, and new
    files not ignored); ``tree``."""
    listing = _run(
        [
            "git",
            "-C",
            str(source),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            *SOURCES,
        ],
        "git ls-files",
    )
    for name in sorted(set(filter(None, listing.split("\0")))):
        if (source / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, tree / name)
    return tree


def _compile_native(source: Path, tree: Path, work: Path, machine: Target) -> Path:
    """Configure and build native._native from the staged ``tree`` for the target (its Python
    headers found beside ``source``); the extension module's path."""
    build = work / "build"
    include = ";".join(str(d) for d in machine.python_include(source))
    configure = [
        "cmake",
        "-S",
        str(tree),
        "-B",
        str(build),
        "-DCMAKE_BUILD_TYPE=Release",
        "-DPAYLOAD_BUILD_TESTS=OFF",
        f"-DPAYLOAD_PYTHON_INCLUDE={include}",
        f"-DPAYLOAD_EXTENSION_SUFFIX={machine.extension_suffix}",
        f"-DPython_EXECUTABLE={sys.executable}",
        f"-DCMAKE_C_FLAGS=-ffile-prefix-map={work}={PREFIX_MAP}",
    ]
    if machine.toolchain:
        configure.append(f"--toolchain={tree / machine.toolchain}")
    else:
        configure.append(f"-DCMAKE_C_COMPILER={machine.compiler}")
    _run(configure, f"configuring the C core for {machine.name}")
    _run(["cmake", "--build", str(build), "--target", "_native"], "building the C core")
    return build / f"_native{machine.extension_suffix}"


def _flight_wheel(
    tree: Path,
    extension: Path,
    machine: Target,
    version: str,
    pins: list[str],
    epoch: int,
    work: Path,
) -> Path:
    """The wheel of flight/ and native/ (its Python part and the compiled extension)."""
    files = {
        path.relative_to(tree).as_posix(): (path.read_bytes(), False)
        for path in sorted((tree / "native").glob("*.py"))
        if path.name != "ffi_build.py"  # build time only
    }
    files[f"native/{extension.name}"] = (extension.read_bytes(), True)
    for path in sorted((tree / "flight").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(tree).as_posix()] = (path.read_bytes(), False)
    metadata = (
        f"Metadata-Version: 2.1\nName: {WHEEL_NAME}\nVersion: {version}\n"
        "Summary: The payload controller of the orbital GPU payload (flight image)\n"
        "License: Apache-2.0\nRequires-Python: >=3.11\n"
        + "".join(f"Requires-Dist: {pin}\n" for pin in pins)
    )
    tag = f"{PYTHON_TAG}-{PYTHON_TAG}-linux_{machine.name}"
    (work / "wheels").mkdir()
    return write_wheel(work / "wheels", WHEEL_NAME, version, tag, files, metadata, epoch)


def _dependency_wheels(source: Path, machine: Target, wanted: dict[str, set[str]]) -> list[Path]:
    """The locked dependencies' wheels for the target, from the cache in build/ or downloaded
    into it (pip, --require-hashes); one wheel a pin."""
    cache = source / "build" / "image-wheels" / machine.name
    found = _cached(cache, wanted)
    if len(found) < len(wanted):
        platforms = [arg for p in machine.wheel_platforms for arg in ("--platform", p)]
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                *platforms,
                "--python-version",
                PYTHON,
                "--implementation",
                "cp",
                "--dest",
                str(cache),
                "-r",
                str(source / LOCK_FILE),
            ],
            f"downloading the runtime dependencies for {machine.name}",
        )
        found = _cached(cache, wanted)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise BuildError(f"no wheel for {', '.join(missing)} for {machine.name}")
    return sorted(found.values())


def _locked_hashes(lock: Path) -> dict[str, set[str]]:
    """Each pin of the lock file and the SHA-256s its wheels may have."""
    pins: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=\S)", lock.read_text()):
        head = re.match(r"([A-Za-z0-9_.-]+==\S+)", block)
        if head:
            pins[head.group(1)] = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def _cached(cache: Path, wanted: dict[str, set[str]]) -> dict[str, Path]:
    """The cached wheel of each pin, found by its hash."""
    by_hash = {
        hashlib.sha256(p.read_bytes()).hexdigest(): p
        for p in (sorted(cache.glob("*.whl")) if cache.is_dir() else [])
    }
    return {pin: by_hash[h] for pin, hashes in wanted.items() for h in hashes if h in by_hash}


def _toolchain(source: Path, machine: Target) -> dict[str, str]:
    """The tools the build used, recorded in the manifest (a rebuild needs the same)."""
    pyconfig = machine.pyconfig(source)
    return {
        "cc": _run([machine.compiler, "--version"], "the C compiler").splitlines()[0],
        "cmake": _run(["cmake", "--version"], "cmake").splitlines()[0],
        "pyconfig.h": hashlib.sha256(pyconfig.read_bytes()).hexdigest(),
    }
