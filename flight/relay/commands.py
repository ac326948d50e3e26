"""The relay's commands: CONTACT_PLAN_LOAD validates a contact plan uplinked to the file store
and, only then, routes over it (a plan refused leaves the one in use as it was);
CONSIGNMENT_ACCEPT, a consignment's head, puts its files in place when they are the ones it was
signed for."""

from __future__ import annotations

from typing import Any

from flight import dictionary as d
from flight.cfdp.filestore import FileStore, FilestoreError
from flight.commanding.dispatch import CommandError, Handler, Handlers
from flight.commanding.files import uplinked_file
from flight.protocol.packets import Telecommand
from flight.relay.consignment import Consignment, place
from flight.relay.contact_plan import MAX_PLAN_OCTETS, ContactPlan, PlanError
from flight.relay.service import Relay
from flight.reports import Reports


class RelayCommands:
    def __init__(self, relay: Relay | None, files: FileStore, reports: Reports) -> None:
        self.relay = relay
        self.files = files
        self.reports = reports

    def handlers(self) -> Handlers:
        return {
            "CONTACT_PLAN_LOAD": Handler(self._load, self._check_load),
            "CONSIGNMENT_ACCEPT": Handler(self._accept, self._check_accept),
        }

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

    def _check_accept(self, args: dict[str, Any]) -> Consignment:
        consignment = self.relay.delivering if self.relay is not None else None
        if consignment is None:
            raise CommandError(
                d.FailureCode.CONSIGNMENT_INVALID, "valid only as a consignment's head"
            )
        if (args["files"], args["files_sha256"]) != (
            len(consignment.files),
            consignment.files_sha256,
        ):
            raise CommandError(
                d.FailureCode.CONSIGNMENT_INVALID,
                f"{consignment.name}: its files are not the ones its head was signed for",
            )
        return consignment

    def _accept(self, _tc: Telecommand, consignment: Consignment) -> None:
        try:
            place(consignment, self.files)
        except (OSError, FilestoreError) as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"{consignment.name}: {exc}") from None
        consignment.accepted = True
