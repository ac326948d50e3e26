"""The flight disk's parts that need no Debian build: its board files, its partition table as
sfdisk reads it back, and the one-line refusals of a disk that is missing, has no manifest or a
corrupt one, or is cut short, and of a bundle that fails verification or is for another
machine (nothing written)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flight.image.build import build_image
from flight.image.disk import (
    DISK_FORMAT,
    MIB,
    DiskError,
    DiskSettings,
    _layout,
    _write_gpt,
    board_files,
    read_manifest,
)
from flight.security.keys import provision_keys

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return provision_keys(tmp_path_factory.mktemp("keys"))


def test_the_board_files_mount_the_root_read_only_and_name_the_bus_uart():
    files = board_files(DiskSettings("x86_64", keys=b"k", site_config=b"PAYLOAD_GPU=none\n"))
    fstab = files["etc/fstab"].decode().splitlines()
    mounts = {line.split()[1]: line.split()[3] for line in fstab}
    assert mounts["/"].split(",")[0] == "ro"
    for writable in ("/opt/payload", "/var/lib/payload", "/var/log"):
        assert mounts[writable].split(",")[0] == "rw"
    assert (
        b'KERNEL=="ttyS1", SYMLINK+="ttyPAYLOAD0"' in files["etc/udev/rules.d/60-payload-bus.rules"]
    )
    assert b"RuntimeWatchdogSec=" in files["etc/systemd/system.conf.d/50-watchdog.conf"]
    assert files["etc/payload/keys.toml"] == b"k"
    assert files["etc/payload/payload.conf"] == b"PAYLOAD_GPU=none\n"
    arm = board_files(DiskSettings("aarch64", keys=b"k"))
    assert b'KERNEL=="ttyS0"' in arm["etc/udev/rules.d/60-payload-bus.rules"]


def test_the_partition_table_reads_back_as_laid_out(tmp_path):
    layout = _layout(8, DiskSettings("x86_64", keys=b"", state_mib=16))
    disk = tmp_path / "disk.img"
    _write_gpt(disk, layout)
    table = json.loads(
        subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, check=True).stdout
    )["partitiontable"]
    assert table["label"] == "gpt"
    read = [(p["name"], p["start"] * 512, p["size"] * 512) for p in table["partitions"]]
    assert read == [(p.name, p.start, p.mib * MIB) for p in layout]
    assert [name for name, _, _ in read] == ["esp", "root", "payload", "state", "log"]
    assert all(start % MIB == 0 for _, start, _ in read)


def test_a_missing_unlabelled_corrupt_or_short_disk_is_refused_in_one_line(tmp_path):
    disk = tmp_path / "disk.img"
    with pytest.raises(DiskError, match="no such disk"):
        read_manifest(disk)
    disk.write_bytes(b"\0" * 4096)
    with pytest.raises(DiskError, match="no manifest beside it"):
        read_manifest(disk)
    manifest = Path(f"{disk}.json")
    manifest.write_text("{not json")
    with pytest.raises(DiskError, match="unreadable"):
        read_manifest(disk)
    manifest.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DiskError, match="not a flight disk manifest"):
        read_manifest(disk)
    manifest.write_text(json.dumps({"format": DISK_FORMAT, "partitions": [{"mib": 1}]}))
    with pytest.raises(DiskError, match="shorter than its partitions"):
        read_manifest(disk)


def test_a_bundle_that_fails_verification_or_is_for_another_machine_writes_nothing(keys, tmp_path):
    bundle = build_image(REPO, tmp_path / "image", "x86_64", keys.image)
    out = tmp_path / "disk.img"

    def disk(bundle_path: Path, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-P", "-m", "flight", "image", "disk", str(bundle_path),
             "--keys", str(keys.flight), "--out", str(out), "--cache", str(tmp_path / "c"),
             *extra],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    other = disk(bundle, "--target", "aarch64")
    assert other.returncode == 2
    assert other.stderr.count("\n") == 1 and "built for x86_64" in other.stderr
    tampered = tmp_path / "tampered.tar"
    octets = bytearray(bundle.read_bytes())
    octets[len(octets) // 2] ^= 0xFF
    tampered.write_bytes(bytes(octets))
    refused = disk(tampered)
    assert refused.returncode == 2
    assert refused.stderr.startswith("flight image: ") and refused.stderr.count("\n") == 1
    assert not out.exists() and not (tmp_path / "c").exists()
