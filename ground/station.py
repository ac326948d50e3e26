"""The ground station: holds the space link to the spacecraft and serves operator clients.

It encodes telecommands from the flight dictionary (assigning the sequence counts, as a mission
control system does), sends them up the space link, and passes every telemetry packet that comes
down to every connected client. The space link is TCP carrying COBS-framed space packets; the
station reconnects whenever it drops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from flight import dictionary as d
from flight.protocol.fields import FieldError
from flight.protocol.framing import Deframer, frame
from flight.protocol.messages import CommandEncoder, encode_command
from ground.messages import encode_message, read_frames, read_messages

log = logging.getLogger("ground.station")
RECONNECT_S = 0.5


class Station:
    """One ground station: a space link and any number of clients."""

    def __init__(self, link_host: str, link_port: int) -> None:
        self.link_host = link_host
        self.link_port = link_port
        self.tc_sent = 0
        self.commands = CommandEncoder(d.SOURCE_GROUND, d.ACK_GROUND_DEFAULT)
        self._uplink: asyncio.StreamWriter | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def link_up(self) -> bool:
        """Whether the space link is connected."""
        return self._uplink is not None

    async def serve(self, host: str, port: int, port_file: Path | None = None) -> None:
        """Serve clients on host:port and keep the space link up, until cancelled."""
        server = await asyncio.start_server(self._client, host, port)
        bound = server.sockets[0].getsockname()[1]
        log.info(
            "listening on %s:%d, space link %s:%d", host, bound, self.link_host, self.link_port
        )
        if port_file is not None:
            tmp = port_file.with_suffix(".tmp")
            tmp.write_text(f"{bound}\n")
            os.replace(tmp, port_file)
        async with server:
            await self._hold_link()

    async def _hold_link(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.link_host, self.link_port)
            except OSError:
                await asyncio.sleep(RECONNECT_S)
                continue
            self._uplink = writer
            self._broadcast({"op": "link", "up": True})
            log.info("space link up")
            try:
                async for packet in read_frames(reader, Deframer()):
                    self._broadcast({"op": "tm", "raw": packet, "ert": time.time()})
            except OSError:
                pass
            self._uplink = None
            writer.close()
            self._broadcast({"op": "link", "up": False})
            log.warning("space link down")
            await asyncio.sleep(RECONNECT_S)

    def _broadcast(self, message: dict[str, Any]) -> None:
        data = encode_message(message)
        for client in list(self._clients):
            if client.is_closing():
                self._clients.discard(client)
            else:
                client.write(data)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        writer.write(encode_message({"op": "hello", "link_up": self.link_up}))
        try:
            async for message in read_messages(reader):
                if message.get("op") == "command":
                    writer.write(encode_message(self.uplink_command(message)))
        except OSError:
            pass
        finally:
            self._clients.discard(writer)
            writer.close()

    def uplink_command(self, message: dict[str, Any]) -> dict[str, Any]:
        """Encode and send one command; the answer for the client that asked."""
        ref = message.get("ref")
        name, args = message.get("name"), message.get("args") or {}
        if not isinstance(name, str) or not isinstance(args, dict):
            return {"op": "error", "ref": ref, "message": "a command needs a name and an args map"}
        known = d.COMMANDS_BY_NAME.get(name)
        if known is not None and known.source != d.SOURCE_GROUND:
            return {"op": "error", "ref": ref, "message": f"{name} is not a ground command"}
        try:
            encode_command(name, args)  # validate before anything else: a typo is a typo
            if self._uplink is None:
                return {"op": "error", "ref": ref, "message": "space link down: command not sent"}
            packet = self.commands.packet(name, args)  # numbered only when it goes up
        except (KeyError, FieldError, ValueError) as exc:
            return {"op": "error", "ref": ref, "message": str(exc.args[0])}
        self._uplink.write(frame(packet))
        self.tc_sent += 1
        return {"op": "sent", "ref": ref, "request_id": packet[:4]}
