"""The ground's file register: results checked against their job's RESULTS.json whichever comes
first, a result that disagrees moved aside, stored telemetry split back into packets."""

from __future__ import annotations

import hashlib
import json

from flight.protocol.packets import build_tm
from ground.files import FileRegistry, stored_packets


def arrive(registry, name: str, data: bytes):
    path = registry.files_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    row, repeat = registry.received(name, len(data), "NO_ERROR", True)
    assert not repeat
    return row


def manifest(*results: tuple[str, bytes]) -> bytes:
    listed = [
        {"path": p, "priority": 0, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
        for p, d in results
    ]
    return json.dumps({"job_id": "j", "results": listed}).encode()


def test_results_are_verified_in_either_order(tmp_path):
    registry = FileRegistry(tmp_path)
    good = b"model weights"
    assert arrive(registry, "j/model.bin", good).check == "pending"
    arrive(registry, "j/RESULTS.json", manifest(("model.bin", good), ("late.txt", b"late")))
    assert registry.row("j/model.bin").check == "verified"
    assert arrive(registry, "j/late.txt", b"late").check == "verified"


def test_a_result_that_disagrees_is_rejected_and_moved_aside(tmp_path):
    registry = FileRegistry(tmp_path)
    arrive(registry, "j/RESULTS.json", manifest(("model.bin", b"what the job wrote")))
    assert arrive(registry, "j/model.bin", b"something else").check == "rejected"
    assert not (registry.files_dir / "j" / "model.bin").exists()
    assert (registry.files_dir / "rejected" / "j" / "model.bin").read_bytes() == b"something else"


def test_files_outside_a_jobs_results_rely_on_cfdp(tmp_path):
    registry = FileRegistry(tmp_path)
    assert arrive(registry, "notes.txt", b"x").check == "cfdp"
    assert arrive(registry, "j/extra.bin", b"x").check == "pending"
    arrive(registry, "j/RESULTS.json", manifest())
    assert registry.row("j/extra.bin").check == "cfdp"
    assert registry.received("", None, "NO_ERROR", True)[0].check == "cfdp"  # metadata only
    failed, _ = registry.received("j/lost.bin", 10, "NAK_LIMIT", False)
    assert (failed.delivered, failed.condition) == (False, "NAK_LIMIT")


def test_the_same_content_delivered_again_is_recorded_once(tmp_path):
    registry = FileRegistry(tmp_path)
    first = arrive(registry, "j/model.bin", b"weights")
    row, repeat = registry.received("j/model.bin", 7, "NO_ERROR", True)  # sent anew, same octets
    assert repeat and row == first
    (registry.files_dir / "j" / "model.bin").write_bytes(b"weights, second version")
    row, repeat = registry.received("j/model.bin", 23, "NO_ERROR", True)
    assert not repeat and row.sha256 != first.sha256


def test_stored_packets_come_back_in_order(tmp_path):
    packets = [
        build_tm(
            0x65,
            i,
            3,
            25,
            bytes([i]) * (10 + i),
            msg_counter=i,
            dest_id=0x100,
            time=100.0 + i,
            time_synced=True,
        )
        for i in range(5)
    ]
    path = tmp_path / "stored.tm"
    path.write_bytes(b"".join(packets) + packets[0][:7])  # a damaged tail is dropped
    assert stored_packets(path) == packets


def test_a_name_from_the_senders_store_root_is_the_stores_name_never_this_machines(tmp_path):
    registry = FileRegistry(tmp_path)
    good = b"model weights"
    (registry.files_dir / "j").mkdir(parents=True)
    (registry.files_dir / "j" / "model.bin").write_bytes(good)
    row, _ = registry.received("/j/model.bin", len(good), "NO_ERROR", True)
    assert (row.name, row.check) == ("j/model.bin", "pending")
    arrive(registry, "j/RESULTS.json", manifest(("model.bin", good)))
    assert registry.row("j/model.bin").check == "verified"
    # /etc/passwd is this machine's, not the store's: nothing of it is read
    row, _ = registry.received("//etc/passwd", 10, "NO_ERROR", True)
    assert (row.name, row.sha256) == ("etc/passwd", None)
    assert registry.received("/", None, "FILESTORE_REJECTION", False)[0].name == ""
