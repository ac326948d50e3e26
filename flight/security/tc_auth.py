"""Authenticated telecommands, after the authentication mode of CCSDS Space Data Link Security
(355.0-B-2): each telecommand carries a trailer at the end of its data field, before the packet
error control,

    key id (u16) | sequence number (u64) | MAC (16 octets)

where the MAC is HMAC-SHA-256, truncated to 128 bits (RFC 4868), over every octet of the packet
before it: primary header (its length counting the trailer), secondary header, application data,
key id and sequence number. The receiver checks, in this order: a key it knows and has in use for
the telecommand's source, the MAC (in constant time), then that the sequence number is above the
last one it accepted under that key; only then is the number recorded (committed) and the command
acted on."""

from __future__ import annotations

import hmac
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

import native
from flight.dictionary import SOURCES
from flight.protocol.packets import CRC_LEN, MAX_PACKET_LEN, TC_SECONDARY_LEN, append_crc
from flight.security.keys import Key
from flight.security.replay import MAX_SEQ, RESERVE, SecurityState
from flight.events import EV

_IDS = struct.Struct(">HQ")
MAC_LEN = 16
TRAILER_LEN = _IDS.size + MAC_LEN
MIN_TC_LEN = native.PRIMARY_HEADER_LEN + TC_SECONDARY_LEN  # a telecommand's headers, no data
_SOURCE_AT = native.PRIMARY_HEADER_LEN + 3  # the source id in the PUS-C secondary header


class AuthError(ValueError):
    """A telecommand that fails authentication: ``reason`` is "missing", "unknown_key",
    "bad_mac" or "replay"; ``key_id`` the key it was signed with, once its MAC verified."""

    def __init__(self, reason: str, message: str, key_id: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.key_id = key_id


def mac(secret: bytes, data: bytes) -> bytes:
    """HMAC-SHA-256 of data, truncated to MAC_LEN octets."""
    h = crypto_hmac.HMAC(secret, hashes.SHA256())
    h.update(data)
    return h.finalize()[:MAC_LEN]


def sign(packet: bytes, key: Key, seq: int) -> bytes:
    """A complete telecommand (headers, data, packet error control) with the trailer added:
    its length field grows by TRAILER_LEN and its packet error control is computed anew.
    ValueError if the signed packet would exceed the MTU."""
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"sequence number {seq} outside 0..2^64-1")
    if len(packet) + TRAILER_LEN > MAX_PACKET_LEN:
        raise ValueError(
            f"packet of {len(packet) + TRAILER_LEN} octets signed exceeds the "
            f"{MAX_PACKET_LEN}-octet MTU"
        )
    head = bytearray(packet[:-CRC_LEN])
    (length,) = struct.unpack_from(">H", head, 4)
    struct.pack_into(">H", head, 4, length + TRAILER_LEN)
    head += _IDS.pack(key.key_id, seq)
    head += mac(key.secret, bytes(head))
    return append_crc(bytes(head))


@dataclass(frozen=True)
class Verified:
    """A telecommand that passed: the key and sequence number it carried."""

    key_id: int
    seq: int


class TcVerifier:
    """Checks telecommands against the keys and the anti-replay state."""

    def __init__(self, keys: dict[int, Key], state: SecurityState) -> None:
        self.keys = keys
        self.state = state
        self._floor_told: dict[int, float] = {}  # key -> when its floor was last told again

    def in_use(self, key_id: int) -> bool:
        """Whether a key is known and active (by command, else as the key file says)."""
        key = self.keys.get(key_id)
        if key is None:
            return False
        commanded = self.state.active(key_id)
        return key.active if commanded is None else commanded

    def check(self, packet: bytes) -> Verified:
        """Authenticate a complete telecommand whose CRC and header were already checked;
        record its sequence number. AuthError says why it is refused."""
        if len(packet) < MIN_TC_LEN + TRAILER_LEN + CRC_LEN:
            raise AuthError("missing", "too short to carry an authentication trailer")
        end = len(packet) - CRC_LEN
        key_id, seq = _IDS.unpack_from(packet, end - TRAILER_LEN)
        (source,) = struct.unpack_from(">H", packet, _SOURCE_AT)
        if not self.in_use(key_id) or self.keys[key_id].source != source:
            raise AuthError(
                "unknown_key",
                f"key {key_id} is not a key in use for {SOURCES.get(source, hex(source))}",
            )
        expected = mac(self.keys[key_id].secret, packet[: end - MAC_LEN])
        if not hmac.compare_digest(expected, packet[end - MAC_LEN : end]):
            raise AuthError("bad_mac", f"the MAC does not verify under key {key_id}")
        last = self.state.last_seq(key_id)
        if seq <= last:
            raise AuthError(
                "replay", f"sequence number {seq} not above {last} (key {key_id})", key_id
            )
        self.state.accept(key_id, seq)
        return Verified(key_id, seq)

    def floors(self) -> list[tuple[str, dict[str, int]]]:
        """The SEQUENCE_FLOOR events of a start: each key's window reserved before it."""
        return [
            EV.SEQUENCE_FLOOR(key_id=key_id, floor=floor)
            for key_id, floor in sorted(self.state.floors.items())
        ]

    def floor_again(self, key_id: int, now: float) -> tuple[str, dict[str, int]] | None:
        """SEQUENCE_FLOOR for a key whose genuine telecommand was refused as a replay: its
        sender missed the floor (the event lost on the line) and would be refused until its
        clock passed it; at most once a second per key (``now``: a monotonic clock's seconds),
        so a replaying attacker makes no flood of it."""
        if now - self._floor_told.get(key_id, -1.0) < 1.0:
            return None
        self._floor_told[key_id] = now
        return EV.SEQUENCE_FLOOR(key_id=key_id, floor=self.state.last_seq(key_id))

    def last_in_use(self, key_id: int) -> bool:
        """Whether a key is the only one in use for its source: without it the source is locked
        out."""
        source = self.keys[key_id].source
        in_use = [k for k, key in self.keys.items() if key.source == source and self.in_use(k)]
        return in_use == [key_id]

    def set_active(self, key_id: int, active: bool) -> None:
        """Rotate: put a known key in or out of use (KeyError for an unknown one)."""
        if key_id not in self.keys:
            raise KeyError(key_id)
        self.state.set_active(key_id, active)

    def report(self) -> list[dict[str, int | bool | str]]:
        """Every key on board: id, source, whether in use, the last sequence number accepted."""
        return [
            {
                "id": k.key_id,
                "source": SOURCES[k.source],
                "in_use": self.in_use(k.key_id),
                "last_seq": self.state.last_seq(k.key_id),
            }
            for k in sorted(self.keys.values(), key=lambda k: k.key_id)
        ]


def clock_us() -> int:
    """Microseconds since 1970 by the wall clock."""
    return time.time_ns() // 1000


class TcSigner:
    """Signs one source's telecommands with its key in use. Sequence numbers follow the wall
    clock in microseconds, each above the last, so a restarted sender needs no stored counter
    as long as its clock does not go back."""

    def __init__(
        self,
        keys: Callable[[], dict[int, Key]],
        source: int,
        clock: Callable[[], int] = clock_us,
    ) -> None:
        self.keys = keys
        self.source = source
        self.clock = clock
        self.last = 0

    def key(self) -> Key:
        """The one key in use for the source; ValueError if none or several are."""
        active = [k for k in self.keys().values() if k.active and k.source == self.source]
        if len(active) != 1:
            ids = ", ".join(str(k.key_id) for k in active) or "none"
            raise ValueError(
                f"need exactly one key in use for {SOURCES[self.source]} (marked active: {ids})"
            )
        return active[0]

    def heard_floor(self, key_id: int, floor: int) -> None:
        """The receiver reported (SEQUENCE_FLOOR) that numbers up to ``floor`` count as used
        under a key of this source: sign above it from now on. A floor no receiver could have
        reserved (beyond this sender's numbers and two windows) is ignored: telemetry is not
        authenticated, and a forged one must not use up the sequence space."""
        key = self.keys().get(key_id)
        reachable = max(self.last, self.clock()) + 2 * RESERVE
        if key is not None and key.source == self.source and floor <= min(reachable, MAX_SEQ - 1):
            self.last = max(self.last, floor)

    def sign(self, packet: bytes) -> bytes:
        """The telecommand with its trailer; ValueError (no key, over the MTU) signs nothing."""
        key = self.key()
        seq = max(self.last + 1, self.clock())
        signed = sign(packet, key, seq)
        self.last = seq
        return signed
