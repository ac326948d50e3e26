"""The space link's managed parameters (CCSDS 732.1-B-2, section 5), which the spacecraft and
the ground agree on beforehand, as they do for a real mission: the frame length and virtual
channels each way, COP-1's windows and what rides on each channel (docs/icd.md section 18)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SCID = 161  # the bench's spacecraft, unless a scenario names another

# Virtual channels down (fixed-length frames of packets, each with the CLCW)
VC_REALTIME = 0  # housekeeping, events, verification reports: as they are made
VC_PLAYBACK = 1  # recorded telemetry played back: CFDP PDUs of files named stored/...
VC_FILES = 2  # every other CFDP PDU
VC_IDLE = 63  # only idle data: sent when a second has nothing else, to carry the CLCW
DOWN_CHANNELS = (VC_REALTIME, VC_PLAYBACK, VC_FILES)

# Virtual channels up (variable-length frames, one packet each)
VC_COMMANDS = 0  # telecommands, sequence-controlled by COP-1 (expedited when bypassing it)
VC_FILES_UP = 2  # CFDP PDUs and the link's loopback, expedited: CFDP recovers its own losses
MAP_PAYLOAD = 0  # the payload's telecommands: the one MAP the bus forwards

DOWN_COUNT_LEN = 2  # octets of a downlink frame's virtual channel frame count
UP_COUNT_LEN = 1  # the uplink's: N(S), COP-1's 8-bit frame sequence number
UPID_PACKETS = 0  # USLP protocol identifier: space packets
UPID_COP1 = 1  # COP-1 control commands
UPID_IDLE = 0x1F  # idle data
RULES_PACKETS = 0b000  # fixed length: packets spanning frames, with a first header pointer
RULES_WHOLE = 0b111  # variable length: one whole packet, no segmentation


@dataclass(frozen=True)
class LinkProfile:
    """One spacecraft's space link."""

    scid: int
    frame_len: int = 1115
    """Octets of each downlink frame (1115 with the ASM makes the classic 1119-octet CADU)."""
    randomise: bool = True
    """Downlink frames are randomised (CCSDS 131.0-B) behind their attached sync marker."""
    farm_window: int = 128
    """FARM-1's sliding window W; FOP-1's window K is at most W/2."""

    def __post_init__(self) -> None:
        if not 0 <= self.scid <= 0xFFFF:
            raise ValueError(f"spacecraft id {self.scid}: 0 to 65535")
        if not 64 <= self.frame_len <= 65536:
            raise ValueError(f"frame length {self.frame_len}: 64 to 65536 octets")
