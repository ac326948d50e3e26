"""The ground station's end of the space link (docs/icd.md section 18): the frame synchroniser
finds each channel access data unit in the stream, the frames are checked and routed by
spacecraft id and virtual channel, each channel's packets are taken out of its frames, and the
CLCW each frame carries goes to that spacecraft's FOP-1. Telecommands go up in variable-length
frames through FOP-1 (or around it, expedited), file PDUs and the loopback's echo in expedited
frames of their own channel, each frame in a CLTU (CCSDS 231.0-B).

What is wrong with a frame is counted by spacecraft and virtual channel (``counters``): a bad CRC,
an unknown spacecraft id, a frame count out of sequence, a frame cut short when the link went
down, octets that were not a frame at all. None of it stops the station."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flight.protocol.loopback import IDLE_APID, is_loopback
from flight.protocol.packets import split_packets
from flight.spacelink.clcw import Clcw, ClcwError
from flight.spacelink.fop import DEFAULT_CONFIG, Cop1Refused, Fop, FopConfig, FopState, FrameKind
from flight.spacelink.profile import (
    DOWN_CHANNELS,
    MAP_PAYLOAD,
    RULES_PACKETS,
    RULES_WHOLE,
    UP_COUNT_LEN,
    UPID_COP1,
    UPID_PACKETS,
    VC_COMMANDS,
    VC_FILES_UP,
    VC_IDLE,
    LinkProfile,
)
from native import uslp

UNKNOWN = "unknown"  # the spacecraft of a frame whose id no spacecraft here has
Confirm = Callable[[Any, bool, str], None]


@dataclass
class _Craft:
    """One spacecraft's channels on the ground."""

    profile: LinkProfile
    fop: Fop
    unpackers: dict[int, uslp.PacketUnpacker] = field(default_factory=dict)
    initiated: bool = False  # the AD service was initiated once (on its first CLCW)


class GroundLink:
    """The frames of one physical channel (one TCP connection to a radio) for the spacecraft of
    ``profiles``, which share its frame length and randomisation. ``send`` writes octets up;
    ``now`` is FOP-1's clock; ``confirm(tag, ok, why)`` hears what became of each telecommand
    sent through COP-1."""

    def __init__(
        self,
        profiles: list[LinkProfile],
        send: Callable[[bytes], None],
        now: Callable[[], float],
        confirm: Confirm,
        fop: FopConfig = DEFAULT_CONFIG,
    ) -> None:
        first = profiles[0]
        if any((p.frame_len, p.randomise) != (first.frame_len, first.randomise) for p in profiles):
            raise ValueError("the spacecraft of one link share its frame length and randomisation")
        self.frame_len = first.frame_len
        self.randomise = first.randomise
        self._send = send
        self.craft: dict[int, _Craft] = {}
        for p in profiles:
            config = replace(fop, window=min(fop.window, p.farm_window // 2))
            transmit = self._transmitter(p.scid)
            self.craft[p.scid] = _Craft(p, Fop(VC_COMMANDS, transmit, now, confirm, config))
            for vc in DOWN_CHANNELS:
                self.craft[p.scid].unpackers[vc] = uslp.PacketUnpacker()
        self._sync = uslp.FrameSync(self.frame_len, derandomise=self.randomise)
        self.counters: dict[tuple[int | str, int], Counter[str]] = {}
        self._lost_before = 0  # octets in no frame, on the connections before this one

    def count(self, scid: int | str, vcid: int, what: str, n: int = 1) -> None:
        self.counters.setdefault((scid, vcid), Counter())[what] += n

    # --- down
    def received(self, data: bytes) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
        """Octets from the radio: the packets they complete, each with its spacecraft id, in
        order; and the loopback packets of its idle frames, each with its spacecraft id."""
        frames = self._sync.feed(data)
        if not frames:
            return [], []
        scan = uslp.FrameScan(frames, self.frame_len)
        by_channel: dict[tuple[int, int], list[int]] = {}
        loopbacks = []
        for i, f in enumerate(scan):
            craft = self.craft.get(f.scid)
            if not f.ok:
                self.count(f.scid if craft else UNKNOWN, f.vcid, f.problem.replace(" ", "_"))
                continue
            if craft is None or f.dest:
                self.count(UNKNOWN, f.vcid, "unknown_scid" if craft is None else "destination_flag")
                continue
            self.count(f.scid, f.vcid, "frames")
            if f.clcw is not None:
                self._clcw(craft, f.clcw)
            if f.vcid == VC_IDLE:
                zone = f.zone(frames)
                if is_loopback(zone):
                    loopbacks.append((f.scid, zone[: int.from_bytes(zone[4:6], "big") + 7]))
            elif f.vcid in craft.unpackers and f.rules == RULES_PACKETS and f.upid == UPID_PACKETS:
                by_channel.setdefault((f.scid, f.vcid), []).append(i)
            else:
                self.count(f.scid, f.vcid, "not_a_channel")
        packets = []
        for (scid, vcid), rows in by_channel.items():
            unpacker = self.craft[scid].unpackers[vcid]
            gaps, dropped = unpacker.gaps, unpacker.dropped
            stream = unpacker.feed(frames, scan, rows)
            self.count(scid, vcid, "count_gaps", unpacker.gaps - gaps)
            self.count(scid, vcid, "octets_dropped", unpacker.dropped - dropped)
            packets += [(scid, p) for p in split_packets(stream) if not _idle_fill(p)]
        return packets, loopbacks

    def ended(self) -> None:
        """The radio's connection closed: a frame it left half sent is counted, and the next
        connection starts with a frame synchroniser of its own."""
        if self._sync.pending:
            self.count(UNKNOWN, VC_IDLE, "truncated")
        self._lost_before = self.sync_lost
        self._sync = uslp.FrameSync(self.frame_len, derandomise=self.randomise)

    @property
    def sync_lost(self) -> int:
        """Octets that were not part of any frame, since the station started."""
        return self._lost_before + self._sync.skipped

    def _clcw(self, craft: _Craft, raw: bytes) -> None:
        try:
            clcw = Clcw.unpack(raw)
        except ClcwError:
            self.count(craft.profile.scid, VC_COMMANDS, "clcw_refused")
            return
        if clcw.vcid != VC_COMMANDS:
            return
        fop = craft.fop
        if not craft.initiated and fop.state is FopState.INITIAL and not clcw.lockout:
            fop.set_vs(clcw.report_value)  # the service starts where the spacecraft stands
            fop.initiate("none")
            craft.initiated = True
        fop.clcw(clcw)

    def tick(self) -> None:
        """Let each FOP-1's timer run out when its time has come."""
        for craft in self.craft.values():
            craft.fop.tick()

    # --- up
    def fop(self, scid: int) -> Fop:
        craft = self.craft.get(scid)
        if craft is None:
            raise Cop1Refused(f"no spacecraft {scid} on this link")
        return craft.fop

    def command(self, scid: int, packet: bytes, tag: Any, bypass: bool = False) -> None:
        """A telecommand up: through COP-1, or expedited around it; Cop1Refused when COP-1 is
        not active."""
        fop = self.fop(scid)
        if bypass:
            fop.expedite(packet)
        else:
            fop.request(packet, tag)

    def expedited(self, scid: int, packet: bytes) -> None:
        """A packet up in an expedited frame of the file channel (file PDUs, the loopback)."""
        self._up(scid, VC_FILES_UP, packet, bypass=1)

    def _transmitter(self, scid: int) -> Callable[[FrameKind, int | None, bytes], None]:
        def transmit(kind: FrameKind, ns: int | None, data: bytes) -> None:
            if kind is FrameKind.AD:
                self._up(scid, VC_COMMANDS, data, bypass=0, count=ns)
            elif kind is FrameKind.BD:
                self._up(scid, VC_COMMANDS, data, bypass=1)
            else:
                self._up(scid, VC_COMMANDS, data, bypass=1, control=1)

        return transmit

    def _up(
        self,
        scid: int,
        vcid: int,
        data: bytes,
        bypass: int,
        control: int = 0,
        count: int | None = None,
    ) -> None:
        frame = uslp.pack_frame(
            data,
            scid=scid,
            vcid=vcid,
            map_id=MAP_PAYLOAD,
            dest=1,
            bypass=bypass,
            control=control,
            count_len=UP_COUNT_LEN if count is not None else 0,
            count=count or 0,
            rules=RULES_WHOLE,
            upid=UPID_COP1 if control else UPID_PACKETS,
        )
        self.count(scid, vcid, "frames_up")
        self._send(uslp.cltu(frame))

    # --- what the operator sees
    def summary(self) -> str:
        """Each spacecraft's COP-1 state in words, in one line."""
        return "; ".join(f"{scid}: {c.fop.describe()}" for scid, c in sorted(self.craft.items()))

    def status(self) -> list[dict[str, Any]]:
        """Each spacecraft's COP-1 and its channels' counts."""
        out = []
        for scid, craft in sorted(self.craft.items()):
            fop = craft.fop
            clcw = fop.last_clcw
            out.append(
                {
                    "scid": scid,
                    "state": fop.state.name.lower(),
                    "describe": fop.describe(),
                    "vs": fop.vs,
                    "nnr": fop.nnr,
                    "sent": len(fop.sent),
                    "waiting": len(fop.waiting),
                    "window": fop.window,
                    "t1_s": fop.t1_s,
                    "limit": fop.limit,
                    "clcw": None if clcw is None else clcw.__dict__,
                    "fop": dict(fop.counters),
                    "channels": {
                        str(vc): dict(c)
                        for (s, vc), c in sorted(self.counters.items())
                        if s == scid
                    },
                }
            )
        unknown = {str(vc): dict(c) for (s, vc), c in self.counters.items() if s == UNKNOWN}
        if unknown or self.sync_lost:
            out.append({"scid": UNKNOWN, "channels": unknown, "sync_lost_octets": self.sync_lost})
        return out


def _idle_fill(packet: bytes) -> bool:
    """An idle packet completing a frame (the loopback's travel in idle frames, not here)."""
    return int.from_bytes(packet[:2], "big") & 0x7FF == IDLE_APID
