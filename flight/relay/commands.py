"""The relay's command: CONTACT_PLAN_LOAD validates a contact plan uplinked to the file store and,
only then, routes over it; a plan refused leaves the one in use as it was."""

from __future__ import annotations

from typing import Any

from flight import dictionary as d
from flight.cfdp.filestore import FileStore
from flight.commanding.dispatch import CommandError, Handler, Handlers
from flight.commanding.files import uplinked_file
from flight.protocol.packets import Telecommand
from flight.relay.contact_plan import MAX_PLAN_OCTETS, ContactPlan, PlanError
from flight.relay.service import Relay
from flight.reports import Reports


class RelayCommands:
    def __init__(self, relay: Relay | None, files: FileStore, reports: Reports) -> None:
        self.relay = relay
        self.files = files
        self.reports = reports

    def handlers(self) -> Handlers:
        return {"CONTACT_PLAN_LOAD": Handler(self._load, self._check_load)}

    def _check_load(self, args: dict[str, Any]) -> tuple[bytes, ContactPlan]:
        if self.relay is None:
            raise CommandError(d.FailureCode.RELAY_ABSENT, "no laser terminal: nothing to route")
        path = uplinked_file(self.files, args["file"])
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_PLAN_OCTETS + 1)
            return data, ContactPlan.parse(data)
        except PlanError as exc:
            raise CommandError(d.FailureCode.CONTACT_PLAN_INVALID, str(exc)) from None
        except OSError as exc:
            raise CommandError(d.FailureCode.FILE_NOT_FOUND, f"{args['file']}: {exc}") from None

    def _load(self, _tc: Telecommand, prepared: tuple[bytes, ContactPlan]) -> None:
        assert self.relay is not None
        try:
            event = self.relay.use_plan(*prepared)
        except OSError as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"contact plan: {exc}") from None
        self.reports.event(event)
