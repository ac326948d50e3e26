"""The Communications Link Control Word (CCSDS 232.0-B, 4.2.1): FARM-1's report to the ground,
carried in the operational control field of every downlink frame."""

from __future__ import annotations

from dataclasses import dataclass

COP_1 = 1  # "COP in effect" for COP-1


class ClcwError(ValueError):
    """Four octets that are not a COP-1 CLCW."""


@dataclass(frozen=True)
class Clcw:
    vcid: int
    report_value: int
    """N(R): the frame sequence number FARM-1 expects next, V(R)."""
    lockout: bool = False
    wait: bool = False
    retransmit: bool = False
    farm_b_counter: int = 0
    """The count of Type-B frames accepted, modulo 4."""
    no_rf: bool = False
    no_bitlock: bool = False
    status: int = 0

    def pack(self) -> bytes:
        return bytes(
            (
                (self.status & 7) << 2 | COP_1,
                (self.vcid & 0x3F) << 2,
                self.no_rf << 7
                | self.no_bitlock << 6
                | self.lockout << 5
                | self.wait << 4
                | self.retransmit << 3
                | (self.farm_b_counter & 3) << 1,
                self.report_value & 0xFF,
            )
        )

    @classmethod
    def unpack(cls, data: bytes) -> Clcw:
        if len(data) != 4:
            raise ClcwError(f"a CLCW is 4 octets, not {len(data)}")
        if data[0] >> 7:
            raise ClcwError("the control word is not a CLCW (type 1)")
        if (data[0] >> 5) & 3:
            raise ClcwError(f"CLCW version {(data[0] >> 5) & 3}, not 0")
        if data[0] & 3 != COP_1:
            raise ClcwError(f"COP in effect {data[0] & 3}, not COP-1")
        flags = data[2]
        return cls(
            vcid=data[1] >> 2,
            report_value=data[3],
            lockout=bool(flags & 0x20),
            wait=bool(flags & 0x10),
            retransmit=bool(flags & 0x08),
            farm_b_counter=(flags >> 1) & 3,
            no_rf=bool(flags & 0x80),
            no_bitlock=bool(flags & 0x40),
            status=(data[0] >> 2) & 7,
        )
