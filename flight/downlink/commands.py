"""The downlink's commands: DOWNLINK_FILE queues a file of the state directory, and CFDP_PDU
carries the ground's file protocol (its uploads, and its answers to ours) to the entity."""

from __future__ import annotations

import sqlite3
from typing import Any

from flight import dictionary as d
from flight.commanding.dispatch import CommandError, Handler, Handlers
from flight.downlink.service import Downlink, DownlinkError
from flight.protocol.packets import Telecommand


class DownlinkCommands:
    """The handlers of the downlink commands."""

    def __init__(self, downlink: Downlink) -> None:
        self.downlink = downlink

    def handlers(self) -> Handlers:
        """The downlink commands by name."""
        return {
            "DOWNLINK_FILE": Handler(self._downlink_file),
            "CFDP_PDU": Handler(self._pdu),
        }

    def _downlink_file(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        try:
            self.downlink.send_file(args["path"], args["priority"])
        except DownlinkError as exc:
            raise CommandError(exc.code, str(exc)) from None
        except (OSError, sqlite3.Error) as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"downlink: {exc}") from None

    def _pdu(self, _tc: Telecommand, args: dict[str, Any]) -> None:
        try:
            self.downlink.receive_pdu(args["pdu"])
        except (OSError, sqlite3.Error) as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"downlink: {exc}") from None
