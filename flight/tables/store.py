"""The tables in use: each one loaded at start from the state directory, where TABLE_LOAD put it,
or else the file the flight image ships. A file is validated whole before it is used (TOML, the
table's name, exactly its fields, each in its range); a replacement is written whole and renamed
into place, so a power cut leaves the old table or the new one, never a mix. Each table's CRC-32C
is over its file's octets, as the ground can compute it over the file it sends."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import native
from flight import dictionary as d
from flight.events import EV, Event
from flight.jobs.sandbox import replace_durably, sync_dir
from flight.protocol.fields import FieldError
from flight.tables.declared import TABLES, TABLES_BY_NAME, TableSpec

SHIPPED = Path(__file__).parent / "shipped"
MAX_TABLE_OCTETS = 16_384


class TableError(Exception):
    """A table refused, with the PUS 1 failure code to report."""

    def __init__(self, code: d.FailureCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def spec_of(name: str) -> TableSpec:
    """The declared table ``name``; TableError(TABLE_UNKNOWN) if there is none."""
    try:
        return TABLES_BY_NAME[name]
    except KeyError:
        known = ", ".join(TABLES_BY_NAME)
        raise TableError(
            d.FailureCode.TABLE_UNKNOWN, f"no table {name!r} (tables: {known})"
        ) from None


def parse_table(spec: TableSpec, data: bytes) -> dict[str, Any]:
    """The values of a table file; TableError(TABLE_INVALID) naming what is wrong."""

    def invalid(reason: str) -> TableError:
        return TableError(d.FailureCode.TABLE_INVALID, f"{spec.name} table: {reason}")

    if len(data) > MAX_TABLE_OCTETS:
        raise invalid(f"{len(data)} octets, more than {MAX_TABLE_OCTETS}")
    try:
        doc = tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise invalid(f"not a TOML file: {exc}") from None
    if doc.get("table") != spec.name:
        raise invalid(f"the file says table = {doc.get('table')!r}")
    declared = {f.name for f in spec.fields}
    given = set(doc) - {"table"}
    if given != declared:
        parts = []
        if declared - given:
            parts.append("missing " + ", ".join(sorted(declared - given)))
        if given - declared:
            parts.append("unknown " + ", ".join(sorted(given - declared)))
        raise invalid("; ".join(parts))
    try:
        return {f.name: f.check(doc[f.name]) for f in spec.fields}
    except FieldError as exc:
        raise invalid(str(exc)) from None


def shipped_table(name: str) -> dict[str, Any]:
    """The values of the table ``name`` as the flight image ships it."""
    return parse_table(spec_of(name), (SHIPPED / f"{name}.toml").read_bytes())


class TableStore:
    """The tables in use, kept in ``directory`` when loaded by command."""

    def __init__(self, directory: Path, shipped: Path = SHIPPED) -> None:
        self.directory = directory
        self.shipped = shipped
        directory.mkdir(parents=True, exist_ok=True)
        self.crcs: dict[str, int] = {}  # of each file in use, taken when it is put in use
        self.values: dict[str, dict[str, Any]] = {}
        self.fallbacks: list[Event] = []  # stored tables that did not validate at start
        for spec in TABLES:
            stored = self._path(spec.name)
            if stored.is_file():
                try:
                    self._use(spec, stored.read_bytes())
                    continue
                except (OSError, TableError) as exc:
                    self.fallbacks.append(EV.TABLE_FALLBACK(table=spec.name, reason=str(exc)))
            self._use(spec, (shipped / f"{spec.name}.toml").read_bytes())

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.toml"

    def _use(self, spec: TableSpec, data: bytes) -> None:
        self.values[spec.name] = parse_table(spec, data)
        self.crcs[spec.name] = native.crc32c(data)

    def check(self, name: str, data: bytes) -> dict[str, Any]:
        """The values of a file for table ``name``, validated (TableError if not)."""
        return parse_table(spec_of(name), data)

    def replace(self, name: str, data: bytes) -> None:
        """Use a validated file for table ``name`` from now on, across restarts (OSError when it
        cannot be written: the table in use stays)."""
        spec = spec_of(name)
        values = parse_table(spec, data)
        replace_durably(self._path(name), data)
        self.values[name], self.crcs[name] = values, native.crc32c(data)

    def reset(self) -> None:
        """Every table back to the one the image ships (OSError when a stored one cannot be
        removed: the tables in use stay)."""
        for spec in TABLES:
            self._path(spec.name).unlink(missing_ok=True)
        sync_dir(self.directory)
        for spec in TABLES:
            self._use(spec, (self.shipped / f"{spec.name}.toml").read_bytes())

    def housekeeping(self) -> dict[str, int]:
        """The housekeeping CRC field of each table."""
        return {f"table_crc_{name}": crc for name, crc in self.crcs.items()}
