"""The controller's downlink in lockstep: job results, DOWNLINK_FILE and stored telemetry go to a
ground CFDP entity (ours, in this process) through CFDP_PDU packets on the bus link, only while
the tick says a window is open; the ground's answers come back as CFDP_PDU telecommands."""

from __future__ import annotations

import hashlib
import json

from flight import dictionary as d
from flight.cfdp.entity import Entity
from flight.cfdp.filestore import FileStore
from flight.cfdp.mib import EntityConfig
from flight.protocol.packets import parse_packet
from tests.cfdp.conftest import Clock, MemoryLink

WINDOW = {"link_in_s": 0, "link_s": 600}
NO_WINDOW = {"link_in_s": 300, "link_s": 600}


class Ground:
    """The ground's CFDP entity, fed with the CFDP_PDU packets the payload sent."""

    def __init__(self, root, payload) -> None:
        self.payload = payload
        self.clock = Clock()
        self.link = MemoryLink("ground")
        self.link.other = MemoryLink("unused")
        self.entity = Entity(EntityConfig(2), self.link, FileStore(root), None, self.clock)
        self.root = root
        self.telemetry = []

    def second(self, **env) -> list:
        """One bus second on both sides; the payload's non-CFDP telemetry of that second."""
        tms = self.payload.tick(**env)
        self.clock.now = self.payload.time
        for tm in tms:
            if tm.name == "CFDP_PDU":
                self.entity.receive(tm.values["pdu"])
        self.entity.poll()
        for pdu in self.link.sent:
            self.payload.command("CFDP_PDU", {"pdu": pdu}, ack=0)
        self.link.sent.clear()
        rest = [tm for tm in tms if tm.name != "CFDP_PDU"]
        self.telemetry += rest
        return rest


def events(tms, name):
    return [t.values for t in tms if t.name == name]


def test_a_jobs_results_go_down_with_their_sha256(payload, tmp_path):
    payload.install_job("make", "head -c 30000 /dev/urandom > model.bin; echo done\n")
    ground = Ground(tmp_path / "ground", payload)
    manifest = {"id": "j1", "command": ["make"], "results": [{"path": "model.bin", "priority": 1}]}
    payload.command("SUBMIT_JOB", {"manifest": manifest})
    ground.second(**NO_WINDOW)
    payload.wait_job_process("j1")
    tms = ground.second(**NO_WINDOW)
    assert events(tms, "JOB_COMPLETED")
    for _ in range(5):  # no window: nothing goes down
        assert not events(ground.second(**NO_WINDOW), "FILE_SENT")
    assert not ground.entity.receivers
    sent = []
    for _ in range(30):
        sent += events(ground.second(**WINDOW), "FILE_SENT")
    assert sorted(e["name"] for e in sent if not e["name"].startswith("stored/")) == [
        "j1/RESULTS.json",
        "j1/model.bin",
        "j1/stderr.log",
        "j1/stdout.log",
    ]
    results = json.loads((ground.root / "j1" / "RESULTS.json").read_text())
    for r in results["results"]:
        data = (ground.root / "j1" / r["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r["sha256"] and len(data) == r["size"]
    assert (ground.root / "j1" / "model.bin").read_bytes() == (
        payload.state_dir / "jobs" / "j1" / "model.bin"
    ).read_bytes()
    hk = ground.telemetry[-1].values
    assert hk["files_sent"] == len(sent) and hk["files_queued"] == 0 and hk["files_failed"] == 0


def test_downlink_is_paced_to_the_rate_in_bus_time(payload, tmp_path):
    (payload.state_dir / "big.bin").write_bytes(bytes(100_000))
    ground = Ground(tmp_path / "ground", payload)
    payload.command("DOWNLINK_FILE", {"path": "big.bin", "priority": 5})
    seconds = 0
    while not (ground.root / "big.bin").exists():
        ground.second(**WINDOW)
        seconds += 1
        assert seconds < 60
    # 64 kbit/s: 8000 octets a second, so 100 kB needs 13 seconds and some.
    assert 13 <= seconds <= 16


def test_downlink_file_refusals(payload):
    (payload.state_dir / "ok.txt").write_text("x")
    for path, code in (
        ("missing.bin", d.FailureCode.FILE_NOT_FOUND),
        ("../outside", d.FailureCode.FILE_NAME_INVALID),
        ("/etc/passwd", d.FailureCode.FILE_NAME_INVALID),
    ):
        tms = payload.command("DOWNLINK_FILE", {"path": path, "priority": 0})
        (failure,) = [t for t in tms if t.name.endswith("_FAILURE")]
        assert failure.values["code"] == code


def played_back(root) -> list:
    """The packets of the stored telemetry files the ground received, in file order."""
    packets = []
    for path in sorted((root / "stored").iterdir()):
        data = path.read_bytes()
        while data:
            length = int.from_bytes(data[4:6], "big") + 7
            packets.append(parse_packet(data[:length]))
            data = data[length:]
    return packets


def key(packet) -> tuple:
    return (packet.time, packet.seq_count, packet.service, packet.subtype)


def test_everything_sent_is_played_back_once_in_the_next_window(payload, tmp_path):
    ground = Ground(tmp_path / "ground", payload)
    sent = [tm for _ in range(3) for tm in ground.second(**WINDOW)]
    sent += [tm for _ in range(40) for tm in ground.second(**NO_WINDOW)]
    # The last report counts what was recorded before it (it is recorded itself once sent).
    assert ground.telemetry[-1].values["stored_packets"] == len(sent) - 1
    for _ in range(20):
        ground.second(**WINDOW)
    played = [key(p) for p in played_back(ground.root)]
    assert sorted(played) == sorted(key(t.packet) for t in sent)  # no gap, no repeat
    assert len(set(played)) == len(played)
    assert not list((payload.state_dir / "downlink" / "stored").glob("stored-*"))


def test_a_recording_survives_a_crash_and_goes_down_once(payload, tmp_path):
    ground = Ground(tmp_path / "ground", payload)
    sent = ground.second(**WINDOW)
    sent += [tm for _ in range(10) for tm in ground.second(**NO_WINDOW)]
    payload.restart(crash=True)
    for _ in range(20):
        ground.second(**WINDOW)
    played = [key(p) for p in played_back(ground.root)]
    assert sorted(played) == sorted(key(t.packet) for t in sent)
