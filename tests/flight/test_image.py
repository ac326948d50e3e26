"""The flight image: a bundle built twice is the same octets; bad bundles are refused with a
message naming what is wrong while the installed version stays current; a bundle installs into a
fresh root, whose self-test passes in an interpreter that has nothing but the slot's packages."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from flight.image.build import build_image
from flight.image.bundle import MANIFEST, SIGNATURE
from flight.security.keys import new_signing_key, provision_keys, write_keys

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return provision_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def bundle(keys, tmp_path_factory) -> Path:
    return build_image(REPO, tmp_path_factory.mktemp("image"), "x86_64", keys.image)


def flight(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-P", "-m", "flight", *args],
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )


def test_two_builds_of_one_commit_are_the_same_octets(bundle, keys, tmp_path):
    again = flight(
        "image", "build", "--out", str(tmp_path), "--key", str(keys.image), "--source", str(REPO)
    )
    assert again.returncode == 0, again.stderr
    second = Path(again.stdout.splitlines()[0])
    assert second.name == bundle.name
    assert second.read_bytes() == bundle.read_bytes()
    with tarfile.open(bundle) as tar:
        manifest = json.loads(tar.extractfile(MANIFEST).read())
        names = tar.getnames()
    assert manifest["target"] == "x86_64" and manifest["python"] == "3.11"
    assert manifest["version"].startswith("0.1.0+g") and len(manifest["commit"]) == 40
    wheels = sorted(n.split("/")[1].split("-")[0] for n in names if n.startswith("wheels/"))
    assert wheels == [
        "cffi", "cryptography", "installer", "msgpack", "nvidia_ml_py", "payload_flight",
        "pycparser", "pyserial",
    ]  # fmt: skip
    for name in ("systemd/payload-controller.service", "config/payload.conf", "boot/payload-boot"):
        assert name in manifest["files"]


def rewritten(bundle: Path, out: Path, change) -> Path:
    """A copy of the bundle with its members passed through change(name, data) -> data | None."""
    with tarfile.open(bundle) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in members:
            data = change(info.name, data)
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out


def other_hex_digit(data: bytes) -> bytes:
    return (b"1" if data[:1] == b"0" else b"0") + data[1:]


def flip_last(data: bytes) -> bytes:
    return data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]


def test_bad_bundles_are_refused_and_the_running_version_stays(bundle, keys, tmp_path):
    root = tmp_path / "root"
    good = flight("image", "install", str(bundle), "--keys", str(keys.flight), "--root", str(root))
    assert good.returncode == 0, good.stderr
    assert "installed into slot a" in good.stdout
    wheel = next(n for n in json.loads(_member(bundle, MANIFEST))["files"] if "cffi" in n)
    other = provision_keys(tmp_path / "other")
    stranger = tmp_path / "stranger.toml"
    write_keys(stranger, [], image_keys=[replace(new_signing_key(2), private=None)])
    cases = {
        "bad signature": (lambda n, d: other_hex_digit(d) if n == SIGNATURE else d, keys.flight),
        f"changed file {wheel}": (lambda n, d: flip_last(d) if n == wheel else d, keys.flight),
        f"missing file {wheel}": (lambda n, d: None if n == wheel else d, keys.flight),
        "bad signature: the manifest is not what image key 1 signed": (
            lambda n, d: d.replace(b'"x86_64"', b'"aarch64"') if n == MANIFEST else d,
            keys.flight,
        ),
        "signed by image key 1, which is not trusted here": (lambda n, d: d, stranger),
        "is not what image key 1 signed": (lambda n, d: d, other.flight),  # same id, not ours
    }
    for expected, (change, trusted) in cases.items():
        bad = rewritten(bundle, tmp_path / "bad.tar", change)
        refused = flight("image", "install", str(bad), "--keys", str(trusted), "--root", str(root))
        assert refused.returncode == 2, expected
        assert expected in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1
    wrong = flight(
        "image", "install", str(bundle), "--keys", str(keys.flight), "--root", str(root),
        "--target", "aarch64",
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "built for x86_64, not for this machine (aarch64)" in wrong.stderr
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(os.urandom(3000))
    refused = flight("image", "verify", str(garbage), "--keys", str(keys.flight))
    assert refused.returncode == 2 and "not a readable tar" in refused.stderr
    status = flight("image", "status", "--root", str(root))
    assert "slot a (current): 0.1.0+g" in status.stdout and "slot b: empty" in status.stdout


def _member(bundle: Path, name: str) -> bytes:
    with tarfile.open(bundle) as tar:
        return tar.extractfile(name).read()


def test_installed_into_a_fresh_root_the_self_test_passes(bundle, keys, tmp_path):
    root = tmp_path / "root"
    for slot in ("a", "b"):
        done = flight(
            "image", "install", str(bundle), "--keys", str(keys.flight), "--root", str(root)
        )
        assert done.returncode == 0, done.stderr
        assert f"installed into slot {slot} of {root}; current: a" in done.stdout
    bare = tmp_path / "bare"  # an interpreter with no packages: only the slot's are there
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    launcher = root / "opt/payload/current/bin/payload"
    env = {"PATH": "/usr/bin:/bin", "PAYLOAD_PYTHON": str(bare / "bin/python")}
    run = subprocess.run(
        [str(launcher), "selftest", "--json", "--state-dir", str(tmp_path / "state"),
         "--gpu", "simulated"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    manifest = json.loads(_member(bundle, MANIFEST))
    assert report["ok"] and report["version"] == manifest["version"]
    assert [c["name"] for c in report["checks"]] == ["modules", "native", "state", "serial", "gpu"]
    assert "portable" in report["checks"][1]["detail"]
    failing = subprocess.run(
        [str(launcher), "selftest", "--state-dir", str(tmp_path / "state"), "--bus",
         str(tmp_path / "no-such-port")],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert failing.returncode == 1
    assert "FAIL  serial" in failing.stdout and failing.stdout.endswith("FAILED\n")
    units = sorted((root / "etc/systemd/system").iterdir())
    for unit in units:  # written on the image's partition (writable on a read-only root)
        assert unit.is_symlink() and unit.resolve() == root / "opt/payload/units" / unit.name
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    complaints = verify.stdout + verify.stderr
    commands = re.findall(r"Command (\S+) is not executable", complaints)
    assert sorted(set(commands)) == [
        "/opt/payload/bin/payload-boot",
        "/opt/payload/current/bin/payload",
    ]
    assert len(complaints.splitlines()) == len(commands), complaints  # nothing else wrong
    for command in commands:  # what the units run is where the install put it, in the root
        assert os.access(root / command.lstrip("/"), os.X_OK), command
    unit = (root / "etc/systemd/system/payload-controller.service").read_text()
    for setting in ("Type=notify", "WatchdogSec=", "Restart=always", "ProtectSystem=strict",
                    "ExecStartPre=/opt/payload/bin/payload-boot"):  # fmt: skip
        assert setting in unit


def test_the_aarch64_bundle_cross_compiles_the_same_twice_and_self_tests_under_qemu(keys, tmp_path):
    sysroot = REPO / "build/sysroot-aarch64"
    assert (sysroot / "usr/bin/python3.11").is_file(), "no arm64 sysroot: make image-aarch64"
    first, second = (
        build_image(REPO, tmp_path / name, "aarch64", keys.image) for name in ("one", "two")
    )
    assert first.read_bytes() == second.read_bytes()
    root = tmp_path / "root"
    done = flight(
        "image", "install", str(first), "--keys", str(keys.flight), "--root", str(root),
        "--target", "aarch64",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (extension,) = (root / "opt/payload/slots/a/site/native").glob("_native.*.so")
    assert extension.read_bytes()[18:20] == (183).to_bytes(2, "little")  # e_machine: AArch64
    python = tmp_path / "python-aarch64"  # Debian's arm64 Python under qemu-user
    python.write_text(
        f'#!/bin/sh\nexec qemu-aarch64 -L {sysroot} {sysroot}/usr/bin/python3.11 "$@"\n'
    )
    python.chmod(0o755)
    run = subprocess.run(
        [str(root / "opt/payload/current/bin/payload"), "selftest", "--json", "--state-dir",
         str(tmp_path / "state"), "--gpu", "simulated"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
        env={"PATH": os.environ["PATH"], "PAYLOAD_PYTHON": str(python)},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["ok"]
    assert "arm-crc32" in report["checks"][1]["detail"]  # qemu's CPU has the CRC32 and PMULL paths
