"""FARM-1, the spacecraft's receiving end of COP-1 (CCSDS 232.1-B-2, section 6), for one virtual
channel: it takes sequence-controlled (Type-AD) frames in order within its sliding window, always
takes expedited (Type-BD) frames, carries out the control commands of Type-BC frames (Unlock,
Set V(R)), and reports its state in the CLCW. What it discards, and why, it counts."""

from __future__ import annotations

import enum
from collections import Counter

from flight.spacelink.clcw import Clcw

UNLOCK = b"\x00"
SET_VR = b"\x82\x00"  # followed by the new V(R)


class FarmState(enum.Enum):
    OPEN = 1
    WAIT = 2
    LOCKOUT = 3


def set_vr_command(value: int) -> bytes:
    """The Set V(R) control command's octets."""
    return SET_VR + bytes([value & 0xFF])


class Farm:
    """FARM-1 of one virtual channel. ``window`` is the FARM sliding window width W (even, 2 to
    254): N(S) up to W/2 - 1 ahead of V(R) asks for a retransmission, up to W/2 behind is a
    repeat, anything further locks the channel out until the ground unlocks it."""

    def __init__(self, vcid: int, window: int = 128) -> None:
        if window % 2 or not 2 <= window <= 254:
            raise ValueError(f"FARM window {window}: an even number from 2 to 254")
        self.vcid = vcid
        self.positive = window // 2
        self.negative = window // 2
        self.state = FarmState.OPEN
        self.vr = 0
        self.retransmit = False
        self.farm_b = 0
        self.counters: Counter[str] = Counter()

    @property
    def lockout(self) -> bool:
        return self.state is FarmState.LOCKOUT

    @property
    def wait(self) -> bool:
        return self.state is FarmState.WAIT

    def clcw(self) -> Clcw:
        return Clcw(
            vcid=self.vcid,
            report_value=self.vr,
            lockout=self.lockout,
            wait=self.wait,
            retransmit=self.retransmit,
            farm_b_counter=self.farm_b,
        )

    def sequenced(self, ns: int, buffer_free: bool = True) -> bool:
        """A Type-AD frame with sequence number N(S): whether to take its data."""
        if self.state is FarmState.LOCKOUT:
            self.counters["ad_discarded_lockout"] += 1
            return False
        ahead = (ns - self.vr) & 0xFF
        behind = (self.vr - ns) & 0xFF
        if ahead == 0:
            if not buffer_free:
                self.counters["ad_discarded_wait"] += 1
                self.retransmit = True
                self.state = FarmState.WAIT
                return False
            if self.state is FarmState.WAIT:  # the buffer came free: as a release
                self.state = FarmState.OPEN
            self.vr = (self.vr + 1) & 0xFF
            self.retransmit = False
            self.counters["ad_accepted"] += 1
            return True
        if 0 < ahead < self.positive:
            self.counters["ad_discarded_gap"] += 1  # an earlier frame went missing
            self.retransmit = True
            return False
        if 0 < behind <= self.negative:
            self.counters["ad_discarded_repeat"] += 1
            return False
        self.counters["ad_discarded_lockout"] += 1
        self.counters["lockouts"] += 1
        self.state = FarmState.LOCKOUT
        return False

    def expedited(self) -> None:
        """A Type-BD frame: always taken."""
        self.farm_b = (self.farm_b + 1) & 3
        self.counters["bd_accepted"] += 1

    def control(self, command: bytes) -> bool:
        """A Type-BC frame's control command; whether it was one FARM-1 knows."""
        if command == UNLOCK:
            self.state = FarmState.OPEN
            self.retransmit = False
            self.counters["unlocks"] += 1
        elif len(command) == 3 and command[:2] == SET_VR:
            self.counters["set_vr"] += 1
            if self.state is not FarmState.LOCKOUT:
                self.state = FarmState.OPEN
                self.retransmit = False
                self.vr = command[2]
        else:
            self.counters["bc_refused"] += 1
            return False
        self.farm_b = (self.farm_b + 1) & 3
        self.counters["bc_accepted"] += 1
        return True

    def buffer_released(self) -> None:
        """The buffer the wait flag waited for is free again."""
        if self.state is FarmState.WAIT:
            self.state = FarmState.OPEN
