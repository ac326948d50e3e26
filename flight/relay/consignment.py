"""Consignments: what the ground sends a satellite that is out of its contact, by way of one
that is in contact and then across the laser mesh (docs/constellation.md, docs/icd.md section
19). A consignment is one file, named ``uplink/DEST/ID`` (DEST the destination's entity id on
the mesh, ID the ground's name for it), holding

    head:  u16 length, then a signed telecommand CONSIGNMENT_ACCEPT (files, files_sha256)
    files: per file 'F', u16 name length, the name (UTF-8), u64 octets, the octets
    then:  per telecommand 'P', u16 length, a signed telecommand

``files_sha256`` is the SHA-256 of the file sections exactly as they stand, so the head's MAC
covers every file's name and octets; each telecommand carries its own. Nothing a consignment
holds is trusted before the destination's admission has verified the head: a consignment is
read into the file store's partial area first, and its files reach their names only when the
head is accepted.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from flight.cfdp.filestore import PARTIAL_DIR, FileStore, FilestoreError
from flight.downlink.service import UPLINK_PREFIX
from flight.protocol.packets import MAX_PACKET_LEN

MAX_FILES = 32
MAX_PACKETS = 64
MAX_NAME_OCTETS = 255
MAX_FILE_OCTETS = 1 << 34  # 16 GiB: more than a satellite's file store is meant to take
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")
_CHUNK = 1 << 20
FILE, PACKET = b"F", b"P"


class ConsignmentError(ValueError):
    """A consignment that cannot be read, in one line."""


def consignment_name(dest: int, ident: str) -> str:
    """Its name on the mesh: uplink/DEST/ID."""
    return f"{UPLINK_PREFIX}{dest}/{ident}"


def parse_consignment_name(name: str) -> tuple[int, str] | None:
    """The destination and id of a consignment's name; None for any other name."""
    parts = PurePosixPath(name).parts
    if (
        len(parts) != 3
        or f"{parts[0]}/" != UPLINK_PREFIX
        or not parts[1].isdigit()
        or not 0 <= int(parts[1]) <= 0xFFFF
        or not _ID.fullmatch(parts[2])
    ):
        return None
    return int(parts[1]), parts[2]


@dataclass
class Consignment:
    name: str  # uplink/DEST/ID
    head: bytes
    files: list[tuple[str, Path]]  # each file's name in the file store, and where it waits
    packets: list[bytes]
    files_sha256: str
    accepted: bool = False  # the head was verified and its files put in place
    commands: int = 0  # telecommands admitted


def read_consignment(path: Path, name: str, store: FileStore) -> Consignment:
    """A consignment's head, files (copied into the store's partial area) and telecommands;
    ConsignmentError saying what is wrong (nothing is left behind then)."""
    staged: list[tuple[str, Path]] = []
    try:
        with open(path, "rb") as f:
            head = _take(f, _U16.unpack(_take(f, 2, "the head's length"))[0], "the head")
            if not 0 < len(head) <= MAX_PACKET_LEN:
                raise ConsignmentError(f"a head of {len(head)} octets")
            digest = hashlib.sha256()
            packets: list[bytes] = []
            while kind := f.read(1):
                if kind == FILE and packets:
                    raise ConsignmentError("a file after the telecommands")
                if kind == FILE:
                    staged.append(_file(f, len(staged), name, store, digest))
                elif kind == PACKET:
                    packets.append(_packet(f, len(packets)))
                else:
                    raise ConsignmentError(f"a section of kind {kind!r} at octet {f.tell() - 1}")
        return Consignment(name, head, staged, packets, digest.hexdigest())
    except OSError as exc:
        discard(staged)
        raise ConsignmentError(f"cannot be read: {exc.strerror or exc}") from None
    except ConsignmentError:
        discard(staged)
        raise


def _take(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ConsignmentError(f"ends inside {what}")
    return data


def _file(
    f: BinaryIO, index: int, name: str, store: FileStore, digest: hashlib._Hash
) -> tuple[str, Path]:
    if index >= MAX_FILES:
        raise ConsignmentError(f"more than {MAX_FILES} files")
    length = _take(f, 2, "a file's name length")
    raw = _take(f, _U16.unpack(length)[0], "a file's name")
    size = _take(f, 8, "a file's length")
    octets = _U64.unpack(size)[0]
    try:
        file_name = raw.decode("utf-8")
        if len(raw) > MAX_NAME_OCTETS:
            raise FilestoreError(f"a name of {len(raw)} octets")
        store.resolve(file_name)
    except (UnicodeDecodeError, FilestoreError) as exc:
        raise ConsignmentError(f"file {index}: {exc}") from None
    if octets > MAX_FILE_OCTETS:
        raise ConsignmentError(f"file {file_name!r}: {octets} octets")
    digest.update(FILE + length + raw + size)
    staged = store.root / PARTIAL_DIR / f"{name.replace('/', '-')}-{index}"
    with open(staged, "wb") as out:
        left = octets
        while left:
            chunk = f.read(min(left, _CHUNK))
            if not chunk:
                out.close()
                staged.unlink()
                raise ConsignmentError(f"ends inside file {file_name!r}")
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return file_name, staged


def _packet(f: BinaryIO, index: int) -> bytes:
    if index >= MAX_PACKETS:
        raise ConsignmentError(f"more than {MAX_PACKETS} telecommands")
    length = _U16.unpack(_take(f, 2, "a telecommand's length"))[0]
    if not 0 < length <= MAX_PACKET_LEN:
        raise ConsignmentError(f"telecommand {index}: {length} octets")
    return _take(f, length, f"telecommand {index}")


def place(consignment: Consignment, store: FileStore) -> None:
    """Its files at their names in the file store (each whole, or not at all)."""
    for file_name, staged in consignment.files:
        store.deliver(staged, file_name)


def discard(staged: Iterable[tuple[str, Path]]) -> None:
    """Files read from a consignment that will not be placed."""
    for _, path in staged:
        path.unlink(missing_ok=True)


# --- the ground's side
def files_sha256(files: list[tuple[str, Path]]) -> str:
    """The digest CONSIGNMENT_ACCEPT carries for ``files`` (name in the store, local path)."""
    digest = hashlib.sha256()
    for section in _file_sections(files):
        digest.update(section)
    return digest.hexdigest()


def write_consignment(
    out: Path, head: bytes, files: list[tuple[str, Path]], packets: list[bytes]
) -> None:
    """A consignment file from its signed head, its files and its signed telecommands;
    ValueError for more than it may hold."""
    if len(files) > MAX_FILES or len(packets) > MAX_PACKETS:
        raise ValueError(f"at most {MAX_FILES} files and {MAX_PACKETS} telecommands")
    with open(out, "wb") as f:
        f.write(_U16.pack(len(head)) + head)
        for section in _file_sections(files):
            f.write(section)
        for packet in packets:
            f.write(PACKET + _U16.pack(len(packet)) + packet)


def _file_sections(files: list[tuple[str, Path]]) -> Iterable[bytes]:
    for file_name, local in files:
        raw = file_name.encode("utf-8")
        if not raw or len(raw) > MAX_NAME_OCTETS:
            raise ValueError(f"{file_name!r}: a name of 1 to {MAX_NAME_OCTETS} octets")
        with open(local, "rb") as f:
            left = os.fstat(f.fileno()).st_size
            yield FILE + _U16.pack(len(raw)) + raw + _U64.pack(left)
            while left:
                chunk = f.read(min(left, _CHUNK))
                if not chunk:
                    raise ValueError(f"{local}: shorter than it was")
                left -= len(chunk)
                yield chunk
