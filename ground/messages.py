"""Messages between the ground station and its clients: msgpack maps in COBS frames over TCP.

Client to station: {"op": "command", "ref": n, "name": NAME, "args": {...}}.
Station to client: {"op": "hello", "link_up": bool}, {"op": "sent", "ref": n, "request_id": b},
{"op": "error", "ref": n, "message": text}, {"op": "tm", "raw": packet, "ert": utc_seconds},
{"op": "link", "up": bool}. docs/icd.md, Ground station interface, is the contract.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import msgpack

from flight.protocol.framing import MAX_FRAME_LEN, Deframer, frame, read_frames

# The longest frame each end takes: a client's requests are as short as a telecommand; the
# station's answers (its lists of files, transfers, jobs) may be long.
REQUEST_MAX = MAX_FRAME_LEN
ANSWER_MAX = 16 << 20


def concerns(message: dict[str, Any], scid: int | None) -> bool:
    """Whether a message the station sends to every client concerns spacecraft ``scid``: it
    names that spacecraft (or a list holding it), names none, or is COP-1's summary of them all."""
    about = message.get("spacecraft")
    if about is None or message.get("op") == "cop1":
        return True
    return scid in about if isinstance(about, list) else about == scid


def encode_message(message: dict[str, Any]) -> bytes:
    """One message as a frame."""
    return frame(msgpack.packb(message, use_bin_type=True))


async def read_messages(
    reader: asyncio.StreamReader, max_len: int = REQUEST_MAX
) -> AsyncIterator[dict[str, Any]]:
    """Messages from a stream until it closes, each at most ``max_len`` octets framed;
    undecodable ones, and longer ones, are skipped."""
    async for payload in read_frames(reader, Deframer(max_len)):
        try:
            message = msgpack.unpackb(payload, raw=False)
        except Exception:  # msgpack raises several unrelated types on bad input
            continue
        if isinstance(message, dict):
            yield message
