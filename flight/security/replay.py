"""The controller's security state: for each key, the anti-replay sequence numbers reserved
ahead, and whether the key was put in or out of use by command.

Accepting a sequence number needs no write while it lies in the window already reserved: the
state on the disk holds, per key, the end of that window, a number at least as high as any
accepted. A number above it reserves a new window (the number plus ``reserve``), written and
flushed to the disk before the command it admits is acted on. After a restart, every number up to
the window's end counts as used: the rest of the window is skipped, so no number accepted before
a restart or power cut is ever accepted again, whatever was not written. Senders continue above
it (the controller reports it at start: SEQUENCE_FLOOR). With sequence numbers that follow a
sender's clock in microseconds, the default window of 2^32 costs one write per key every 71.6
minutes, where one per accepted command was needed before (docs/security.md).

The state lives in a file of fixed size, allocated when it is made: two slots of SLOT_LEN
octets, each a complete copy

    generation (u64) | entries (u16) | entries x (key id u16, flags u8, window end u64) |
    zero padding | CRC-32C (u32) over everything before it in the slot

A change is written whole into the slot not holding the newest copy, with the next generation,
and flushed (fdatasync). Loading takes the valid copy of the higher generation, so a write cut
short by a power loss leaves the copy before it. Writes only overwrite octets already allocated:
a disk that jobs have filled does not stop the controller from admitting commands (such as the
one that cancels the job).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import native

SLOT_LEN = 4096
_HEAD = struct.Struct(">QH")
_ENTRY = struct.Struct(">HBQ")
_CRC = struct.Struct(">I")
MAX_KEYS = (SLOT_LEN - _HEAD.size - _CRC.size) // _ENTRY.size
MAX_SEQ = (1 << 64) - 1
RESERVE = 1 << 32  # sequence numbers reserved ahead per write: 71.6 minutes of microseconds
_COMMANDED, _ACTIVE, _SEEN = 1, 2, 4  # flags: activation set by command, its value, a seq seen


class SecurityStateError(OSError):
    """The security state file is unreadable: both copies damaged, or the wrong size."""


class SecurityState:
    """Per-key anti-replay sequence numbers and activation, in one fixed-size file; ``reserve``
    numbers are reserved ahead with each write (0: a write for every number accepted)."""

    def __init__(self, path: Path, reserve: int = RESERVE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.reserve = reserve
        self.writes = 0  # flushes to the disk since this state was opened
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._reserved: dict[int, int] = {}  # per key: the end of the window on the disk
        self._last: dict[int, int] = {}  # per key: the highest number used
        self.floors: dict[int, int] = {}
        """Per key, the end of the window found at start: numbers up to it are refused."""
        self._active: dict[int, bool] = {}
        self._generation = 0
        size = os.fstat(self._fd).st_size
        if size == 0:
            os.posix_fallocate(self._fd, 0, 2 * SLOT_LEN)
            self._write()
        elif size != 2 * SLOT_LEN:
            os.close(self._fd)
            raise SecurityStateError(f"{path}: {size} octets, not {2 * SLOT_LEN}")
        else:
            self._load()

    def _load(self) -> None:
        copies = [_decode(os.pread(self._fd, SLOT_LEN, slot * SLOT_LEN)) for slot in (0, 1)]
        valid = [c for c in copies if c is not None]
        if not valid:
            os.close(self._fd)
            raise SecurityStateError(f"{self.path}: both copies damaged")
        self._generation, self._reserved, self._active = max(valid, key=lambda c: c[0])
        self.floors = dict(self._reserved)
        self._last = dict(self._reserved)  # the rest of each window counts as used

    def _write(self) -> None:
        self._generation += 1
        ids = sorted(set(self._reserved) | set(self._active))
        if len(ids) > MAX_KEYS:
            raise SecurityStateError(f"{self.path}: more than {MAX_KEYS} keys")
        body = bytearray(_HEAD.pack(self._generation, len(ids)))
        for key_id in ids:
            flags = _SEEN if key_id in self._reserved else 0
            if key_id in self._active:
                flags |= _COMMANDED | (_ACTIVE if self._active[key_id] else 0)
            body += _ENTRY.pack(key_id, flags, self._reserved.get(key_id, 0))
        body += bytes(SLOT_LEN - _CRC.size - len(body))
        body += _CRC.pack(native.crc32c(body))
        os.pwrite(self._fd, body, (self._generation % 2) * SLOT_LEN)
        os.fdatasync(self._fd)
        self.writes += 1

    def last_seq(self, key_id: int) -> int:
        """The highest sequence number used under a key: accepted since the start, or, before
        one is, the end of the window reserved before it (SEQUENCE_FLOOR); -1 before any."""
        return self._last.get(key_id, -1)

    def accept(self, key_id: int, seq: int) -> None:
        """Record an accepted sequence number: on return it is covered by a window on the disk
        (written first when it lies beyond the one reserved)."""
        reserved = self._reserved.get(key_id)
        if reserved is None or seq > reserved:
            self._reserved[key_id] = min(MAX_SEQ, seq + self.reserve)
            try:
                self._write()
            except OSError:
                self._undo(self._reserved, key_id, reserved)
                raise
        self._last[key_id] = seq

    def active(self, key_id: int) -> bool | None:
        """Whether a key was activated (True) or deactivated (False) by command; None if never."""
        return self._active.get(key_id)

    def set_active(self, key_id: int, active: bool) -> None:
        """Activate or deactivate a key (on the disk on return)."""
        before = self._active.get(key_id)
        self._active[key_id] = active
        try:
            self._write()
        except OSError:
            self._undo(self._active, key_id, before)
            raise

    def _undo(self, table: dict, key_id: int, before: object) -> None:
        """A write failed: memory goes back to what the disk holds."""
        self._generation -= 1
        if before is None:
            table.pop(key_id, None)
        else:
            table[key_id] = before

    def close(self) -> None:
        os.close(self._fd)


def _decode(slot: bytes) -> tuple[int, dict[int, int], dict[int, bool]] | None:
    """One copy: generation, last sequence numbers, commanded activations; None if damaged."""
    if len(slot) != SLOT_LEN or _CRC.unpack_from(slot, SLOT_LEN - _CRC.size)[0] != native.crc32c(
        slot[: SLOT_LEN - _CRC.size]
    ):
        return None
    generation, count = _HEAD.unpack_from(slot)
    if count > MAX_KEYS:
        return None
    last: dict[int, int] = {}
    active: dict[int, bool] = {}
    for i in range(count):
        key_id, flags, seq = _ENTRY.unpack_from(slot, _HEAD.size + i * _ENTRY.size)
        if flags & _SEEN:
            last[key_id] = seq
        if flags & _COMMANDED:
            active[key_id] = bool(flags & _ACTIVE)
    return generation, last, active
