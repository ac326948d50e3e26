"""Commanding the real controller past authentication, for fuzzing and property tests.

Every telecommand the driver sends is signed with a key the controller has in use for its
source and a fresh sequence number, so what it carries reaches decoding, the acceptance checks,
the handlers and the reports the controller composes in reply. Arguments are built per field
type, at and beyond their limits (texts up to and past 255 octets in multi-byte UTF-8, integers
and floats at their edges, msgpack documents deep, odd or large, job manifests with every key
valid, missing, mistyped, huge or non-ASCII), and cases run in sequences: job commands on
unknown, queued, running, finished and held jobs; image and file commands on missing, partial
and hostile files; key commands in every state.

After each command the driver checks what an operator relies on, and raises AssertionError
(a finding) otherwise: the command was answered (an acceptance failure, or an acceptance then a
completion report), no report is an INTERNAL_ERROR, every packet sent decodes, the controller
still answers PING, and its counters add up to the reports it sent.

The choices come from a ``Choices``: the fuzzer's bytes (``ByteChoices``) or a hypothesis draw.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import struct
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgpack

from flight import dictionary as d
from flight.board import build_board
from flight.controller import Controller
from flight.gpu.simulated import SimulatedH100
from flight.image.bundle import write_bundle
from flight.image.manager import ImageManager
from flight.image.targets import host_target
from flight.protocol.fields import Field
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import DecodedTelemetry, decode_telemetry, encode_command
from flight.protocol.packets import (
    CRC_LEN,
    MAX_PACKET_LEN,
    TC_SECONDARY_LEN,
    build_tc,
    parse_packet,
)
from flight.protocol.timecode import CUC_LEN
from flight.jobs.manifest import MANIFEST_KEYS
from flight.security.job_auth import SIGNATURE, sign_manifest
from flight.security.keys import (
    IMAGE_KEYS,
    load_job_keys,
    load_keys,
    load_signing_keys,
    provision_keys,
)
from flight.security.tc_auth import TRAILER_LEN, sign

T = TypeVar("T")
ACK_ALL = d.ACK_ACCEPTANCE | d.ACK_COMPLETION
MAX_DATA = MAX_PACKET_LEN - 6 - TC_SECONDARY_LEN - TRAILER_LEN - CRC_LEN  # octets of app data
START = 1_767_225_600.0
_VERIFICATION = {"ACCEPTANCE_SUCCESS", "ACCEPTANCE_FAILURE", "COMPLETION_SUCCESS"}
_VERIFICATION |= {"COMPLETION_FAILURE"}
_INT_EDGES = {"u8": 8, "u16": 16, "u32": 32, "u64": 64}
# texts of every width of UTF-8 character, and ones that trouble names and terminals
_ALPHABETS = ("a", "é", "€", "😀", "a€é😀", "\x00", "\u202e", "\ud800", "/", "../", " ")
_TEXT_LENGTHS = (0, 1, 63, 64, 65, 127, 128, 254, 255, 256, 300, 1000)
_FLOAT_EDGES = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    math.nan,
    math.inf,
    -math.inf,
    5e-324,
    1.1754943508222875e-38,
    3.4028234663852886e38,
    3.4028235677973366e38,
    1.7976931348623157e308,
    -1.7976931348623157e308,
)
_BIG_INTS = (0, 1, -1, 2**31, -(2**31) - 1, 2**63, -(2**63), 2**64 - 1, 2**64, 10**30)
_MANIFEST_KEYS = tuple(sorted(MANIFEST_KEYS - {SIGNATURE}))
HOSTILE_FILES = (
    "missing.tar",
    "junk.tar",
    "empty.tar",
    "partial.tar",
    "sparse-bomb.tar",
    "links.tar",
    "deep-json.tar",
    "odd-manifest.tar",
    "signed.tar",
    "fifo",
    "directory",
    "escape",
    "../flight-keys.toml",
    "",
)


class Choices(Protocol):
    """Where the driver's decisions come from."""

    def integer(self, low: int, high: int) -> int:
        """A whole number in low..high."""

    def octets(self, max_len: int) -> bytes:
        """Up to max_len octets."""


class ByteChoices:
    """Choices read from a fuzzer's input; when it runs out, every choice is the lowest."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    @property
    def exhausted(self) -> bool:
        return self.at >= len(self.data)

    def integer(self, low: int, high: int) -> int:
        span = high - low
        if span <= 0:
            return low
        n = (span.bit_length() + 7) // 8
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return low + int.from_bytes(chunk, "big") % (span + 1)

    def octets(self, max_len: int) -> bytes:
        n = self.integer(0, max_len)
        chunk = self.data[self.at : self.at + n]
        self.at += len(chunk)
        return chunk


def pick(c: Choices, options: Sequence[T]) -> T:
    """One of the options."""
    return options[c.integer(0, len(options) - 1)]


def text_raw(c: Choices) -> bytes:
    """The UTF-8 octets of a text of any width of character, often at or past 255 octets, and
    sometimes cut inside a character or holding an encoded surrogate (not UTF-8 then)."""
    alphabet = pick(c, _ALPHABETS)
    octets = pick(c, _TEXT_LENGTHS) if c.integer(0, 3) else c.integer(0, 2000)
    raw = (alphabet * (octets + 1)).encode("utf-8", "surrogatepass")[:octets]
    return raw + b"a" * c.integer(0, 3)


def text(c: Choices) -> str:
    """A text of any width of character, often at or past 255 octets."""
    return text_raw(c).decode("utf-8", "ignore")


def text_octets(c: Choices) -> bytes:
    """A str field on the wire: well formed, or with a length that lies, or not UTF-8."""
    how = c.integer(0, 7)
    if how <= 4:
        raw = text_raw(c)
    elif how == 5:
        raw = pick(c, (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"a\x80b")) * c.integer(
            1, 90
        )
    else:
        raw = c.octets(300)
    declared = len(raw) if how != 6 else c.integer(0, 255)
    return bytes([min(declared, 255)]) + raw


def integer_octets(c: Choices, f: Field) -> bytes:
    """An integer field at its edges: the type's, the dictionary's limits, enum values, beyond."""
    if f.type == "i32":
        value = pick(c, (0, 1, -1, 2**31 - 1, -(2**31), c.integer(-(2**31), 2**31 - 1)))
        return struct.pack(">i", value)
    bits = _INT_EDGES[f.type]
    top = (1 << bits) - 1
    edges = [0, 1, top, top - 1, c.integer(0, top), d.NONE_AHEAD & top]
    for limit in (f.minimum, f.maximum):
        if limit is not None:
            edges += [int(limit), max(0, int(limit) - 1), min(top, int(limit) + 1)]
    if f.enum:
        edges += [*f.enum, min(top, max(f.enum) + 1)]
    return (pick(c, edges) & top).to_bytes(bits // 8, "big")


def float_octets(c: Choices, f: Field) -> bytes:
    """A float field at its edges: zero, signed zero, NaN, infinities, subnormals, the largest,
    the dictionary's limits and just past them."""
    edges = list(_FLOAT_EDGES)
    for limit in (f.minimum, f.maximum):
        if limit is not None:
            edges += [limit, math.nextafter(limit, -math.inf), math.nextafter(limit, math.inf)]
            edges += [limit * 1.0001 + 1e-3, limit - 1.0]
    value = (
        pick(c, edges) if c.integer(0, 3) else struct.unpack(">d", c.octets(8).ljust(8, b"\0"))[0]
    )
    if f.type == "f64":
        return struct.pack(">d", value)
    try:
        return struct.pack(">f", value)
    except OverflowError:
        return struct.pack(">f", math.copysign(math.inf, value))


def cuc_octets(c: Choices) -> bytes:
    """A time code: any 6 octets, or times near the epoch, now and the end of the range."""
    if c.integer(0, 1):
        return c.octets(CUC_LEN).ljust(CUC_LEN, b"\0")
    coarse = pick(c, (0, 1, int(START), 2**31, 2**32 - 1, 2**32 - 2))
    return struct.pack(">IH", coarse, pick(c, (0, 1, 0xFFFF)))


def document(c: Choices, depth: int = 0) -> Any:
    """A msgpack document of any shape: odd keys, nesting, large sizes, every type."""
    kind = c.integer(0, 11 if depth < 12 else 7)
    if kind == 0:
        return None
    if kind == 1:
        return bool(c.integer(0, 1))
    if kind == 2:
        return pick(c, _BIG_INTS[:-2])  # msgpack holds -2^63..2^64-1
    if kind == 3:
        return pick(c, _FLOAT_EDGES)
    if kind == 4:
        return text(c)
    if kind == 5:
        return c.octets(600)
    if kind == 6:
        return msgpack.ExtType(c.integer(0, 127), c.octets(40))
    if kind == 7:
        return pick(c, ("id", "signature", "", "\x00", "é" * 200))
    if kind <= 9:
        return [document(c, depth + 1) for _ in range(c.integer(0, 6))]
    keys = (document(c, 12) for _ in range(c.integer(0, 6)))
    return {_hashable(k): document(c, depth + 1) for k in keys}


def _hashable(key: Any) -> Any:
    return key if not isinstance(key, (list, dict, bytearray)) else repr(key)


def msgpack_octets(c: Choices) -> bytes:
    """A msgpack field: a document, one nested past any decoder's depth, a huge one, or junk."""
    how = c.integer(0, 5)
    if how <= 2:
        return _packb(document(c))
    if how == 3:
        return pick(c, (b"\x91", b"\x81\xc0", b"\xdc\x00\x01")) * c.integer(1, 2000) + b"\xc0"
    if how == 4:  # declares far more than it holds, or a timestamp (extension -1), or -128
        return pick(
            c,
            (b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff",
             b"\xd6\xff" + c.octets(4).ljust(4, b"\0"), b"\xd7\xff" + c.octets(8).ljust(8, b"\xff"),
             b"\xc7\x0c\xff" + c.octets(12).ljust(12, b"\xff"), b"\xd4\x80\x00",
             b"\x81\xd6\xff\x00\x00\x00\x00\xc0"),
        )  # fmt: skip
    return c.octets(400)


def _packb(value: Any) -> bytes:
    try:
        return msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return b"\xc0"


def bytes_octets(c: Choices, driver: CommandingDriver) -> bytes:
    """A bytes field (CFDP PDUs): random, a recorded PDU with octets changed, or a length that
    lies."""
    how = c.integer(0, 3)
    if how == 0:
        data = c.octets(600)
    elif how <= 2 and driver.pdus:
        data = bytearray(pick(c, driver.pdus))
        for _ in range(c.integer(0, 4)):
            if data:
                data[c.integer(0, len(data) - 1)] = c.integer(0, 255)
        data = bytes(data[: c.integer(0, len(data))] if c.integer(0, 3) == 0 else data)
    else:
        data = c.octets(64)
    declared = len(data) if how != 3 else c.integer(0, 0xFFFF)
    return struct.pack(">H", declared) + data


def manifest(c: Choices, driver: CommandingDriver) -> dict[Any, Any]:
    """A job manifest with each key valid, missing, mistyped, huge or non-ASCII, and sometimes
    keys the schema does not have."""
    out: dict[Any, Any] = {}
    for key in _MANIFEST_KEYS:
        how = c.integer(0, 9)
        if how <= 3 and key in ("id", "simulated"):
            out[key] = _valid(key, c, driver)
        elif how <= 2:
            continue
        elif how <= 6:
            out[key] = _valid(key, c, driver)
        elif how == 7:
            out[key] = document(c)
        elif how == 8:
            out[key] = pick(c, ("x" * 3000, ["a"] * 500, {"k": "v" * 2000}, 2**64 - 1, 1e308))
        else:
            out[key] = pick(c, ("jöb", "ジョブ", "😀", ["ü"], {"ä": "ö"}, "\u202e"))
    for _ in range(c.integer(0, 1) * c.integer(0, 3)):
        out[_hashable(document(c, 12))] = document(c, 8)
    return out


def _valid(key: str, c: Choices, driver: CommandingDriver) -> Any:
    """A value the schema accepts for a manifest key (or nearly: at its edges)."""
    if key == "id":
        driver.jobs_made += 1
        return pick(c, (f"job-{driver.jobs_made}", *(driver.job_ids or ["job-0"])))
    if key == "owner":
        return pick(c, ("ground", "ops@station", "a" * 32, "a" * 33))
    if key == "command":
        return pick(c, (["quick"], ["quick", "--x"], ["slow"], ["absent"], ["quick"] * 66))
    if key == "simulated":
        work = pick(c, (0, 1, 5, 30.5, 600, 7 * 24 * 3600, 7 * 24 * 3600 + 1, math.nan, "5"))
        return pick(c, ({"work_s": work}, {"work_s": work, "x": 1}, {}, work))
    if key in ("inputs",):
        return pick(c, ([], ["signed.tar"], ["missing.tar"], ["a/b/c"], ["x"] * 33))
    if key == "results":
        return pick(c, ([], [{"path": "out.bin", "priority": 1}], [{"path": "..", "priority": 0}]))
    if key == "env":
        return pick(c, ({}, {"A": "1"}, {"LD_PRELOAD": "x"}, {f"K{i}": "v" for i in range(33)}))
    if key == "checkpoint":
        return pick(c, ({"interval_s": 10, "cost_s": 1}, {"interval_s": 0}, {"cost_s": -1}, {}))
    if key == "deadline":
        return pick(c, (None, driver.time + 10, driver.time + 1e6, 0, -1.0, 2**32))
    return pick(c, (0, 1, 5, 255, 256, 3600, 7 * 24 * 3600, 1 << 20, (1 << 20) + 1, -1, True))


class Sink:
    """The controller's side of the bus link: what it writes, kept for the driver to read."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        return len(data)


class CommandingDriver:
    """One real controller in a state directory of its own, commanded past authentication."""

    def __init__(self, root: Path | None = None) -> None:
        shm = Path("/dev/shm")
        self.root = root or Path(
            tempfile.mkdtemp(prefix="commanding-", dir=shm if shm.is_dir() else None)
        )
        self.state_dir = self.root / "state"
        keys = provision_keys(self.root / "keys")
        self.key_file = keys.flight
        self.keys = load_keys(keys.flight)
        self.job_key = next(iter(load_job_keys(keys.ground).values()))
        self.image_key = next(iter(load_signing_keys(keys.image, IMAGE_KEYS).values()))
        self.sink = Sink()
        self.deframer = Deframer()
        self.seq: dict[int, int] = {}
        self.packet_seq = 0
        self.time = START
        self.jobs_made = 0
        self.job_ids: list[str] = []
        self.pdus: list[bytes] = []
        self.cases = 0
        self.expected = {"tc_accepted": 0, "tc_rejected": 0, "tc_failed": 0, "internal_errors": 0}
        self._place_files()
        self.ctl = self._controller()

    # --- the controller and its surroundings
    def _controller(self) -> Controller:
        image = ImageManager(self.root / "image-root", self.key_file, lambda: None)
        board = build_board(
            self.sink,
            self.state_dir,
            self.keys,
            {self.job_key.key_id: replace(self.job_key, private=None)},
            SimulatedH100(),
            "simulated",
            image=image,
        )
        ctl = Controller(self.sink, board)  # type: ignore[arg-type]  # anything with write()
        self.expected = dict.fromkeys(self.expected, 0)
        return ctl

    def restart(self) -> None:
        """A new controller on the same state, as systemd starts one after a stop or a crash."""
        self.ctl.close()
        self.ctl = self._controller()
        self._drain()

    def close(self) -> None:
        self.ctl.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def _place_files(self) -> None:
        """Executables for jobs, and files for the image and file commands: missing, partial,
        hostile and one bundle that verifies but installs nothing runnable."""
        bin_dir = self.state_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name, script in (("quick", "exit 0\n"), ("slow", "sleep 30\n")):
            (bin_dir / name).write_text("#!/bin/sh\n" + script)
            (bin_dir / name).chmod(0o755)
        store = self.state_dir / "files"
        store.mkdir(parents=True, exist_ok=True)
        (store / "junk.tar").write_bytes(os.urandom(3000))
        (store / "empty.tar").write_bytes(b"")
        write_bundle(
            store / "signed.tar",
            {"payload.txt": (b"nothing runnable\n", False)},
            {"name": "fuzz", "version": "9.9.9", "target": host_target()},
            self.image_key,
            0,
        )
        (store / "partial.tar").write_bytes((store / "signed.tar").read_bytes()[:1500])
        (store / "sparse-bomb.tar").write_bytes(_sparse_bomb())
        (store / "links.tar").write_bytes(_tar_with_link())
        (store / "deep-json.tar").write_bytes(
            _tar({"manifest.json": b"[" * 100_000 + b"]" * 100_000, "manifest.sig": b"00\n"})
        )
        odd = json.dumps({"signer": [1], "files": "x", "format": None}).encode()
        (store / "odd-manifest.tar").write_bytes(
            _tar({"manifest.json": odd, "manifest.sig": b"zz"})
        )
        os.mkfifo(store / "fifo")
        (store / "directory").mkdir()
        (store / "escape").symlink_to("/etc")

    # --- sending
    def _key_for(self, source: int) -> int:
        """A key in use for the source; for a source that has none, the ground's (refused)."""
        own = [k for k, key in self.keys.items() if key.source == source]
        in_use = [k for k in own if self.ctl.auth.in_use(k)]
        return (in_use or own or [self._key_for(d.SOURCE_GROUND)])[0]

    def packet(
        self, service: int, subtype: int, data: bytes, source: int, ack: int = ACK_ALL
    ) -> bytes:
        """A telecommand signed with a key in use for ``source`` and a fresh sequence number."""
        key_id = self._key_for(source)
        seq = max(self.seq.get(key_id, 0), self.ctl.auth.state.last_seq(key_id)) + 1
        self.seq[key_id] = seq
        tc = build_tc(
            d.APID_PAYLOAD,
            self.packet_seq,
            service,
            subtype,
            data[:MAX_DATA],
            source_id=source,
            ack_flags=ack,
        )
        self.packet_seq = (self.packet_seq + 1) & 0x3FFF
        return sign(tc, self.keys[key_id], seq)

    def send(self, packet: bytes) -> list[DecodedTelemetry]:
        """One packet to the controller; the telemetry it sent in answer (each must decode)."""
        self.ctl.receive(frame(packet))
        return self._drain()

    def _drain(self) -> list[DecodedTelemetry]:
        out = []
        for raw in self.deframer.feed(bytes(self.sink.data)):
            tm = decode_telemetry(parse_packet(raw))
            if tm.name == "CFDP_PDU" and len(self.pdus) < 64:
                self.pdus.append(tm.values["pdu"])
            out.append(tm)
        self.sink.data.clear()
        return out

    def command(self, name: str, args: dict[str, Any] | None = None) -> list[DecodedTelemetry]:
        """A well-formed command of the dictionary, checked as every case is."""
        command, data = encode_command(name, args)
        return self.case(command, data)

    def case(
        self, command: d.Command, data: bytes, source: int | None = None
    ) -> list[DecodedTelemetry]:
        """Send one command's data and check every property of the answer."""
        self.cases += 1
        source = command.source if source is None else source
        packet = self.packet(command.service, command.subtype, data, source)
        tms = self.send(packet)
        self._check_answer(command, packet, source, tms)
        if self.ctl._running:
            self._check_alive()
        else:  # IMAGE_ACTIVATE restarts it, as systemd would
            self.restart()
        self._learn(command, tms)
        return tms

    # --- the checks
    def _check_answer(
        self, command: d.Command, packet: bytes, source: int, tms: list[DecodedTelemetry]
    ) -> None:
        request = (int.from_bytes(packet[:2], "big"), int.from_bytes(packet[2:4], "big"))
        mine = [
            t.name
            for t in tms
            if t.name in _VERIFICATION
            and (t.values["request_packet_id"], t.values["request_seq_ctrl"]) == request
        ]
        for t in tms:
            assert t.values.get("code") != d.FailureCode.INTERNAL_ERROR, (
                f"{command.name}: internal error: {t.values.get('reason')}"
            )
        assert mine in (
            ["ACCEPTANCE_FAILURE"],
            ["ACCEPTANCE_SUCCESS", "COMPLETION_SUCCESS"],
            ["ACCEPTANCE_SUCCESS", "COMPLETION_FAILURE"],
        ), f"{command.name}: answered {mine}"
        counted = source != d.SOURCE_BUS and command.name not in ("CFDP_PDU",)
        if mine[0] == "ACCEPTANCE_FAILURE":
            self.expected["tc_rejected"] += 1
        elif command.name == "RESET_COUNTERS" and mine[1] == "COMPLETION_SUCCESS":
            self.expected = dict.fromkeys(self.expected, 0)
        else:
            self.expected["tc_accepted"] += counted
            self.expected["tc_failed"] += mine[1] == "COMPLETION_FAILURE"

    def _check_alive(self) -> None:
        ping = d.COMMANDS_BY_NAME["PING"]
        tms = self.send(self.packet(ping.service, ping.subtype, b"", d.SOURCE_GROUND, ack=0))
        assert [t.name for t in tms] == ["PING_REPORT"], f"PING answered {[t.name for t in tms]}"
        self.expected["tc_accepted"] += 1
        got = {name: getattr(self.ctl.counters, name) for name in self.expected}
        expected, self.expected = self.expected, got  # a finding does not fail the cases after it
        assert got == expected, f"counters {got}, reports say {expected}"

    def _learn(self, command: d.Command, tms: list[DecodedTelemetry]) -> None:
        """Job ids the controller now knows, for later cases to command."""
        for t in tms:
            job_id = t.values.get("job_id")
            if t.name == "JOB_QUEUED" and job_id not in self.job_ids:
                self.job_ids.append(job_id)
        if command.name == "BUS_TICK":
            self.time = max(self.time, self.ctl.clock.time)

    # --- cases
    def arguments(self, c: Choices, command: d.Command) -> bytes:
        """Application data for a command: its fields at and beyond their limits, sometimes
        with octets left over or cut short."""
        out = b"".join(self.field_octets(c, command, f) for f in command.args)
        how = c.integer(0, 15)
        if how == 0:
            return out + c.octets(16)
        if how == 1:
            return out[: c.integer(0, len(out))]
        return out

    def field_octets(self, c: Choices, command: d.Command, f: Field) -> bytes:
        """One field on the wire."""
        if f.type == "str":
            if f.name == "job_id" and self.job_ids and c.integer(0, 2):
                value = pick(c, self.job_ids)
            elif f.name in ("file", "path") and c.integer(0, 2):
                value = pick(
                    c, HOSTILE_FILES + ("files/signed.tar", "state", "bin/quick", "security.state")
                )
            else:
                return text_octets(c)
            raw = value.encode()
            return bytes([len(raw)]) + raw
        if f.type == "msgpack":
            if command.name == "SUBMIT_JOB" and c.integer(0, 3):
                return self.manifest_octets(c)
            return msgpack_octets(c)
        if f.type in _INT_EDGES or f.type == "i32":
            return integer_octets(c, f)
        if f.type in ("f32", "f64"):
            return float_octets(c, f)
        if f.type == "cuc":
            return cuc_octets(c)
        return bytes_octets(c, self)

    def signed(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A manifest signed with the trusted job key, as the ground station signs it."""
        return sign_manifest(doc, self.job_key)

    def manifest_octets(self, c: Choices) -> bytes:
        """A generated manifest, mostly signed with the trusted job key (so that it is parsed),
        sometimes unsigned, signed by another key or changed after signing."""
        doc = manifest(c, self)
        how = c.integer(0, 7)
        if how <= 4:
            doc = self.signed(doc)
        elif how == 5:
            doc = self.signed(doc) | {"priority": 7}
        elif how == 6:
            doc = doc | {"signature": document(c)}
        return _packb(doc)

    def tick(self, c: Choices | None = None) -> None:
        """One nominal bus second (power for jobs, no eclipse), to move jobs along."""
        self.time += 1 if c is None else pick(c, (1, 1, 1, 10, 600))
        if self.time > 2**32 - 1000:  # the generated ticks reached the end of bus time: back
            self.time = START
        self.command(
            "BUS_TICK",
            {
                "time": self.time,
                "power_allowance_w": 800.0,
                "battery_soc": 0.9,
                "sink_temp_c": -20.0,
                "sunlit": 1,
                "eclipse_in_s": d.NONE_AHEAD,
                "eclipse_s": 0,
                "link_in_s": 0 if c is None or c.integer(0, 1) else d.NONE_AHEAD,
                "link_s": 600,
            },
        )

    def step(self, c: Choices) -> None:
        """One step of a sequence: mostly a generated command; sometimes a nominal tick, a job
        that will run, a restart, or a command from the wrong source."""
        action = c.integer(0, 255)
        if action < 32:
            self.tick(c)
        elif action < 40:
            self.command("SUBMIT_JOB", {"manifest": self.signed(self._runnable(c))})
        elif action == 40:  # a restart costs as much as a hundred commands: now and then
            self.restart()
        elif action < 56:
            command = pick(c, d.COMMANDS)
            wrong = d.SOURCE_GROUND if command.source == d.SOURCE_BUS else d.SOURCE_BUS
            self.case(command, self.arguments(c, command), source=pick(c, (wrong, 0, 0xFFFF)))
        else:
            command = pick(c, d.COMMANDS)
            self.case(command, self.arguments(c, command))

    def _runnable(self, c: Choices) -> dict[str, Any]:
        self.jobs_made += 1
        job = {"id": f"run-{self.jobs_made}", "priority": c.integer(0, 255)}
        if c.integer(0, 3):
            return job | {"simulated": {"work_s": pick(c, (1, 3, 30, 3600))}}
        return job | {"command": [pick(c, ("quick", "slow"))], "time_limit_s": 60}

    def run(self, c: ByteChoices, max_steps: int = 24) -> None:
        """A sequence of steps until the choices run out."""
        for _ in range(max_steps):
            if c.exhausted:
                return
            self.step(c)


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _tar_with_link() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        link = tarfile.TarInfo("manifest.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        evil = tarfile.TarInfo("../../escape")
        tar.addfile(evil, io.BytesIO(b""))
    return buffer.getvalue()


def _sparse_bomb() -> bytes:
    """A GNU sparse member of a few octets that claims 64 GiB of zeros once read."""
    info = tarfile.TarInfo("manifest.json")
    info.type = tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    real = 64 << 30
    header[483:495] = b"%011o\0" % real  # realsize
    header[386:398] = b"%011o\0" % 0  # one sparse map entry: offset 0 ...
    header[398:410] = b"%011o\0" % 1  # ... of 1 octet
    header[124:136] = b"%011o\0" % 1  # the member's stored size
    header[148:156] = b"        "
    checksum = sum(header[:512])
    header[148:156] = b"%06o\0 " % checksum
    return bytes(header[:512]) + b"x".ljust(512, b"\0") + bytes(1024)
