"""The spacecraft's end of the space link on the bench (docs/icd.md section 18): the payload's
packets go down in fixed-length USLP frames, each carrying FARM-1's CLCW, behind an attached
sync marker and randomised, as a ground station's frame synchroniser expects channel access
data units; the station's frames come up in CLTUs, and are checked and sorted: telecommands
through FARM-1, expedited frames and COP-1 control commands as COP-1 says, file PDUs and the
link's loopback on their own channel. Every frame sent each way is kept as it was sent, in
OUT/downlink.frames and OUT/uplink.frames, raw and concatenated."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flight.cfdp import pdu as cfdp
from flight.protocol.messages import DecodedTelemetry
from flight.spacelink.farm import Farm
from flight.spacelink.profile import (
    DOWN_CHANNELS,
    DOWN_COUNT_LEN,
    MAP_PAYLOAD,
    UPID_COP1,
    UPID_IDLE,
    UPID_PACKETS,
    VC_COMMANDS,
    VC_FILES,
    VC_FILES_UP,
    VC_IDLE,
    VC_PLAYBACK,
    VC_REALTIME,
    LinkProfile,
)
from native import uslp

PLAYBACK_KEPT = 4096  # CFDP transactions of recordings remembered, the newest
OID_OVERHEAD = 18  # header 7, frame count 2, data field header 3, CLCW 4, CRC 2


@dataclass(frozen=True)
class Uplinked:
    """A packet that came up: from the telecommand channel (``commands``) or the file channel."""

    packet: bytes
    commands: bool


class SpacecraftLink:
    """The spacecraft's frames each way. ``out``: where the frames are kept (None: nowhere)."""

    def __init__(self, profile: LinkProfile, out: Path | None = None) -> None:
        self.profile = profile
        self.farm = Farm(VC_COMMANDS, profile.farm_window)
        self._packers = {
            vc: uslp.PacketPacker(
                scid=profile.scid, vcid=vc, frame_len=profile.frame_len, count_len=DOWN_COUNT_LEN
            )
            for vc in DOWN_CHANNELS
        }
        self._idle_count = 0
        self._clcw_of: tuple | None = None  # the FARM-1 state the packers' CLCW was packed from
        self._clcw_octets = b""
        self._sent_since_keepalive = False
        self._cltus = uslp.CltuSync()
        self._playback: OrderedDict[tuple[int, int], None] = OrderedDict()
        self.counters: Counter[str] = Counter()
        self._down_file: BinaryIO | None = None
        self._up_file: BinaryIO | None = None
        if out is not None:
            self._down_file = open(out / "downlink.frames", "wb")  # noqa: SIM115 (held open)
            self._up_file = open(out / "uplink.frames", "wb")  # noqa: SIM115

    def figures(self) -> dict[str, int]:
        """What the spacecraft's end did, for a run's report: frames each way, the frames and
        CLTUs it refused and why, FARM-1's counts."""
        return (
            dict(self.counters)
            | {f"farm_{k}": v for k, v in self.farm.counters.items()}
            | {
                "cltus": self._cltus.units,
                "cltus_abandoned": self._cltus.abandoned,
                "cltu_octets_skipped": self._cltus.skipped,
            }
        )

    def close(self) -> None:
        for f in (self._down_file, self._up_file):
            if f is not None:
                f.close()

    # --- down
    def channel(self, tm: DecodedTelemetry) -> int:
        """The virtual channel a telemetry packet goes down on."""
        if tm.name != "CFDP_PDU":
            return VC_REALTIME
        raw = tm.values["pdu"]
        try:  # the header alone for file data, most of what goes down
            header, file_data, _ = cfdp.decode_header(memoryview(raw))
            pdu = None if file_data else cfdp.decode(raw)
        except cfdp.PduError:
            return VC_FILES
        key = (header.source_id, header.seq_num)
        if isinstance(pdu, cfdp.Metadata) and pdu.dest_name.startswith("stored/"):
            self._playback[key] = None
            if len(self._playback) > PLAYBACK_KEPT:
                self._playback.popitem(last=False)
        return VC_PLAYBACK if key in self._playback else VC_FILES

    def _clcw(self) -> bytes:
        """FARM-1's CLCW as it stands, set in every channel's frames to come (packed again
        only when FARM-1 changed)."""
        state = (self.farm.vr, self.farm.state, self.farm.retransmit, self.farm.farm_b)
        if state != self._clcw_of:
            self._clcw_of, self._clcw_octets = state, self.farm.clcw().pack()
            for packer in self._packers.values():
                packer.set_clcw(self._clcw_octets)
        return self._clcw_octets

    def down(self, packet: bytes, vc: int) -> list[bytes]:
        """A packet into its channel's frames; the frames it completed."""
        self._clcw()
        return self._frames(self._packers[vc].put(packet))

    def pending(self, vc: int) -> bool:
        """Whether a channel has a frame under construction."""
        return self._packers[vc].pending

    def flush(self, keepalive: bool = False) -> list[tuple[int, bytes]]:
        """Every frame under construction completed with idle data, with its channel. With
        ``keepalive`` (once a second), when no frame at all went down since the last keepalive,
        one frame of only idle data, so that the CLCW goes down even in a quiet second."""
        self._clcw()
        made = []
        for vc, packer in self._packers.items():
            made += [(vc, frame) for frame in self._frames(packer.flush())]
        if keepalive:
            if not self._sent_since_keepalive:
                made.append((VC_IDLE, self.idle_frame()))
            self._sent_since_keepalive = False
        return made

    def idle_frame(self, data: bytes = b"") -> bytes:
        """A frame of only idle data (virtual channel 63) with the CLCW; its idle data begins
        with ``data`` (the loopback's packet), zeros after."""
        zone = self.profile.frame_len - OID_OVERHEAD
        frame = uslp.pack_frame(
            data[:zone] + bytes(zone - len(data[:zone])),
            scid=self.profile.scid,
            vcid=VC_IDLE,
            count_len=DOWN_COUNT_LEN,
            count=self._idle_count,
            rules=0,
            upid=UPID_IDLE,
            clcw=self._clcw(),
        )
        self._idle_count = (self._idle_count + 1) & 0xFFFF
        return self._frames(frame)[0]

    def _frames(self, frames: bytes) -> list[bytes]:
        """Frames made: kept as sent, counted, and split one from another."""
        if not frames:
            return []
        if self._down_file is not None:
            self._down_file.write(frames)
        size = self.profile.frame_len
        self.counters["frames_down"] += len(frames) // size
        self._sent_since_keepalive = True
        return [frames[i : i + size] for i in range(0, len(frames), size)]

    def cadu(self, frame: bytes) -> bytes:
        """A frame as the radio sends it: the ASM, then the frame, randomised when the profile
        says so."""
        return uslp.ASM + (uslp.randomise(frame) if self.profile.randomise else frame)

    # --- up
    def received(self, data: bytes) -> list[bytes]:
        """Octets from the station's stream of CLTUs; the frames they complete, as sent (the
        fill of each unit's last codeblock left out)."""
        frames = []
        for unit in self._cltus.feed(data):
            scan = uslp.FrameScan(unit)
            if len(scan) and scan[0].length <= len(unit):
                frames.append(unit[: scan[0].length])
            else:
                self.counters["cltus_without_a_frame"] += 1
        if frames and self._up_file is not None:
            self._up_file.write(b"".join(frames))
        return frames

    def take(self, raw: bytes, buffer_free: bool = True) -> Iterator[Uplinked]:
        """One uplink frame through the radio: the packets it delivers. ``buffer_free``: the
        spacecraft can take telecommands now (FARM-1 sets its wait flag when not)."""
        frame = _one_frame(raw)
        why = self._refusal(frame)
        if why is not None:
            self.counters[f"frames_refused_{why}"] += 1
            return
        self.counters["frames_up"] += 1
        zone = frame.zone(raw)
        if frame.vcid == VC_FILES_UP:
            yield Uplinked(zone, commands=False)
        elif frame.control:
            self.farm.control(zone)
        elif frame.bypass:
            self.farm.expedited()
            yield Uplinked(zone, commands=True)
        elif self.farm.sequenced(frame.count, buffer_free):
            yield Uplinked(zone, commands=True)

    def packet_of(self, raw: bytes) -> bytes | None:
        """The packet a good uplink frame carries, whatever its channel; None when it is not a
        good frame."""
        frame = _one_frame(raw)
        return frame.zone(raw) if frame is not None and frame.ok else None

    def _refusal(self, frame: uslp.Frame | None) -> str | None:
        """Why an uplink frame is not taken, in a word; None when it is."""
        if frame is None or not frame.ok:
            return "bad" if frame is None else frame.problem.replace(" ", "_")
        if frame.scid != self.profile.scid:
            return "scid"
        if frame.vcid not in (VC_COMMANDS, VC_FILES_UP) or frame.map_id != MAP_PAYLOAD:
            return "channel"
        if frame.upid != (UPID_COP1 if frame.control else UPID_PACKETS):
            return "protocol"
        if frame.vcid == VC_FILES_UP and not frame.bypass or not frame.dest:
            return "channel"
        return None


def _one_frame(raw: bytes) -> uslp.Frame | None:
    scan = uslp.FrameScan(raw)
    return scan[0] if len(scan) == 1 else None
