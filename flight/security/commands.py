"""The key management commands (PUS 220): activate and deactivate a telecommand key, and the key
report. The last key in use for a source cannot be deactivated: that would lock the source out."""

from __future__ import annotations

from typing import Any

from flight import dictionary as d
from flight.commanding.dispatch import CommandError, Handler, Handlers
from flight.protocol.packets import Telecommand
from flight.reports import Reports
from flight.security.tc_auth import TcVerifier
from flight.events import EV


class KeyCommands:
    """The handlers of the key commands, over the telecommand verifier's keys."""

    def __init__(self, auth: TcVerifier, reports: Reports) -> None:
        self.auth = auth
        self.reports = reports

    def handlers(self) -> Handlers:
        """The key commands by name."""
        return {
            "KEY_ACTIVATE": Handler(self._activate, self._known_key),
            "KEY_DEACTIVATE": Handler(self._deactivate, self._not_last_in_use),
            "REPORT_KEYS": Handler(self._report),
        }

    def _known_key(self, args: dict[str, Any]) -> int:
        if args["key_id"] not in self.auth.keys:
            raise CommandError(d.FailureCode.KEY_UNKNOWN, f"no key {args['key_id']} on board")
        return args["key_id"]

    def _not_last_in_use(self, args: dict[str, Any]) -> int:
        key_id = self._known_key(args)
        if self.auth.last_in_use(key_id):
            source = d.SOURCES[self.auth.keys[key_id].source]
            raise CommandError(
                d.FailureCode.KEY_LAST_IN_USE,
                f"key {key_id} is the last in use for {source}: activate another first",
            )
        return key_id

    def _activate(self, _tc: Telecommand, key_id: int) -> None:
        self._set(key_id, True)
        self.reports.event(EV.KEY_ACTIVATED(key_id=key_id))

    def _deactivate(self, _tc: Telecommand, key_id: int) -> None:
        self._set(key_id, False)
        self.reports.event(EV.KEY_DEACTIVATED(key_id=key_id))

    def _set(self, key_id: int, active: bool) -> None:
        try:
            self.auth.set_active(key_id, active)
        except OSError as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"security state: {exc}") from None

    def _report(self, tc: Telecommand, _args: Any) -> None:
        self.reports.send("KEY_LIST", {"keys": self.auth.report()}, dest_id=tc.source_id)
