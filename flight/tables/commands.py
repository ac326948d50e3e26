"""The table commands: TABLE_LOAD validates a table file uplinked to the file store and, only then,
puts it in use (cFS table services' validate-then-activate); RESET_TABLES brings back the tables
the image ships. A refused file leaves the table in use as it was."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flight import dictionary as d
from flight.cfdp.filestore import FileStore
from flight.commanding.dispatch import CommandError, Handler, Handlers
from flight.commanding.files import uplinked_file
from flight.events import EV
from flight.protocol.packets import Telecommand
from flight.reports import Reports
from flight.tables.store import MAX_TABLE_OCTETS, TableError, TableStore

Apply = Callable[[dict[str, Any]], None]


class TableCommands:
    """The handlers of the table commands; ``apply`` gives each table's values to the subsystem
    it sets, by table name."""

    def __init__(
        self, tables: TableStore, files: FileStore, reports: Reports, apply: Mapping[str, Apply]
    ) -> None:
        self.tables = tables
        self.files = files
        self.reports = reports
        self.apply = apply

    def handlers(self) -> Handlers:
        """The table commands by name."""
        return {
            "TABLE_LOAD": Handler(self._load, self._check_load),
            "RESET_TABLES": Handler(self._reset),
        }

    def _check_load(self, args: dict[str, Any]) -> tuple[str, bytes]:
        path = uplinked_file(self.files, args["file"])
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_TABLE_OCTETS + 1)
            self.tables.check(args["table"], data)
        except TableError as exc:
            raise CommandError(exc.code, str(exc)) from None
        except OSError as exc:
            raise CommandError(d.FailureCode.FILE_NOT_FOUND, f"{args['file']}: {exc}") from None
        return args["table"], data

    def _load(self, _tc: Telecommand, prepared: tuple[str, bytes]) -> None:
        name, data = prepared
        try:
            self.tables.replace(name, data)
        except OSError as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"table {name}: {exc}") from None
        self.apply[name](self.tables.values[name])
        self.reports.event(EV.TABLE_LOADED(table=name, crc=self.tables.crcs[name]))

    def _reset(self, _tc: Telecommand, _args: Any) -> None:
        try:
            self.tables.reset()
        except OSError as exc:
            raise CommandError(d.FailureCode.STORE_FAILURE, f"tables: {exc}") from None
        for name, values in self.tables.values.items():
            self.apply[name](values)
        self.reports.event(EV.TABLES_RESET())
