"""The Python fuzz targets: each takes any bytes and may only end in its decoder's own error,
never in anything else (an uncaught exception is a finding). ``commanding`` goes past
authentication: its bytes choose signed commands, arguments and sequences for one real controller
(fuzz/commanding.py), and any unanswered command, internal error or miscount is a finding.
``fuzz/run.py`` drives them with atheris; ``tests/test_fuzz_targets.py`` runs each on its
corpus."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import msgpack

from flight.cfdp.pdu import PduError, decode
from flight.jobs.manifest import ManifestError, parse_manifest
from flight.protocol.fields import FieldError
from flight.protocol.framing import Deframer
from flight.protocol.messages import decode_command, decode_telemetry
from flight.protocol.packets import PacketError, Telecommand, parse_packet
from flight.cfdp.filestore import FileStore
from flight.relay.consignment import ConsignmentError, discard, read_consignment
from flight.relay.contact_plan import ContactPlan, PlanError

from commanding import ByteChoices, CommandingDriver  # fuzz/ is on the path (run.py, tests)


def cobs(data: bytes) -> None:
    """The deframer, fed the bytes in two pieces split where the first byte says."""
    deframer = Deframer()
    cut = data[0] if data else 0
    for payload in deframer.feed(data[:cut]) + deframer.feed(data[cut:]):
        assert isinstance(payload, bytes)


def packets(data: bytes) -> None:
    """A space packet, then its PUS meaning: a command's arguments or telemetry's fields (the bus
    protocol is these: BUS_TICK and GPU_POWER_STATE down the serial line, telemetry up)."""
    try:
        packet = parse_packet(data)
    except PacketError:
        return
    try:
        if isinstance(packet, Telecommand):
            decode_command(packet)
        else:
            decode_telemetry(packet)
    except (PacketError, FieldError):
        return


def cfdp(data: bytes) -> None:
    """A CFDP PDU."""
    try:
        decode(data)
    except PduError:
        return


def contact_plan(data: bytes) -> None:
    """A contact plan as CONTACT_PLAN_LOAD reads it, then a route over it."""
    try:
        plan = ContactPlan.parse(data)
    except PlanError:
        return
    plan.route(161, 2, 0.0, 1000)


_SCRATCH: list[Path] = []  # one directory for the process's consignments


def consignment(data: bytes) -> None:
    """A consignment as its satellite's relay reads it: its files into the file store's partial
    area, or ConsignmentError with nothing left there."""
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="fuzz-consignment-")))
    store = FileStore(_SCRATCH[0] / "files")
    path = _SCRATCH[0] / "consignment"
    path.write_bytes(data)
    try:
        read = read_consignment(path, "uplink/161/c", store)
    except ConsignmentError:
        assert not any((store.root / ".partial").iterdir())
        return
    discard(read.files)


def manifest(data: bytes) -> None:
    """A job manifest as it arrives in SUBMIT_JOB: a msgpack document, then its validation."""
    try:
        document = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception:  # msgpack raises several unrelated types on bad input
        return
    try:
        parse_manifest(document)
    except ManifestError:
        return


_DRIVER: list[CommandingDriver] = []
FRESH_AFTER = 3_000  # cases: then a new controller in a new state directory (bounded state)
_TALLY = {"done": 0}  # cases of the drivers closed so far
TALLY_FILE = os.environ.get("FUZZ_TALLY")  # where run.py reads how many cases were run


def commanding(data: bytes) -> None:
    """Signed commands, arguments and sequences chosen by the bytes, to one real controller."""
    if _DRIVER and _DRIVER[0].cases >= FRESH_AFTER:
        _TALLY["done"] += _DRIVER[0].cases
        _DRIVER.pop().close()
    if not _DRIVER:
        _DRIVER.append(CommandingDriver())
    before = _DRIVER[0].cases
    _DRIVER[0].run(ByteChoices(data))
    if TALLY_FILE and before // 1000 != _DRIVER[0].cases // 1000:
        Path(TALLY_FILE).write_text(f"{_TALLY['done'] + _DRIVER[0].cases}\n")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "cobs": cobs,
    "packets": packets,
    "cfdp": cfdp,
    "manifest": manifest,
    "contact_plan": contact_plan,
    "consignment": consignment,
    "commanding": commanding,
}
