"""The archive's schema, its version, and the migration from each earlier version
(docs/ground.md, "The archive").

Version 1 (before the space link carried spacecraft ids): chunks of packets of every kind, and
commands, with no spacecraft id; the oldest archives lack the commands' account column.
Version 2: every row carries the spacecraft id; chunks hold packets of one spacecraft and one
kind, named; arrival-time ranges for retention; the version in ``archive_schema``.

An archive at an earlier version is refused until ``python -m ground archive migrate`` brings
it up, in one transaction: the operator chooses when a long migration runs, and a migration
that fails leaves the archive as it was.
"""

from __future__ import annotations

from pathlib import Path

from ground.archive.chunks import CHUNK_COLUMNS, ChunkBuilder, unpack_chunk
from ground.audit import COLUMNS as AUDIT_COLUMNS
from ground.archive.databases import TYPES, ArchiveError, Database, connect

VERSION = 2
TABLES = {
    "archive_schema": (("version", "int NOT NULL"),),
    "chunks": (
        ("id", "id"), ("scid", "int NOT NULL"), ("name", "text"), ("service", "int"),
        ("subtype", "int"), ("time_min", "real"), ("time_max", "real"),
        ("ert_min", "real NOT NULL"), ("ert_max", "real NOT NULL"), ("count", "int NOT NULL"),
        ("data", "blob NOT NULL"), ("starts", "blob NOT NULL"), ("erts", "blob NOT NULL"),
        ("playback", "blob NOT NULL"),
    ),
    "commands": (
        ("id", "id"), ("scid", "int NOT NULL"), ("sent", "real NOT NULL"),
        ("name", "text NOT NULL"), ("args", "text NOT NULL"), ("request_id", "blob"),
        ("account", "text"),
    ),
    "audit": AUDIT_COLUMNS,
}  # fmt: skip
INDEXES = (
    "CREATE INDEX IF NOT EXISTS chunks_by_name ON chunks (scid, name, time_max)",
    "CREATE INDEX IF NOT EXISTS chunks_by_kind ON chunks (service, subtype, ert_max)",
    "CREATE INDEX IF NOT EXISTS chunks_by_time ON chunks (time_max, time_min)",
    "CREATE INDEX IF NOT EXISTS chunks_by_arrival ON chunks (ert_max)",
    "CREATE INDEX IF NOT EXISTS commands_by_spacecraft ON commands (scid, sent)",
)


def version(db: Database) -> int | None:
    """The schema version of the archive in ``db``; None if it holds no archive yet."""
    tables = db.tables()
    if "archive_schema" in tables:
        return int(db.execute("SELECT MAX(version) FROM archive_schema").fetchone()[0])
    if "chunks" in tables:
        return 1
    return None


def prepare(db: Database) -> None:
    """Make the schema in an empty database; ArchiveError for one at another version."""
    found = version(db)
    if found is None:
        with db.transaction():
            _create(db)
            db.execute("INSERT INTO archive_schema (version) VALUES (?)", (VERSION,))
    elif found < VERSION:
        raise ArchiveError(
            f"the archive {db.where} is at schema version {found}, this ground segment reads "
            f"{VERSION}: python -m ground archive migrate"
        )
    elif found > VERSION:
        raise ArchiveError(
            f"the archive {db.where} is at schema version {found}, newer than this ground "
            f"segment reads ({VERSION})"
        )


def migrate(spec: str | Path, scid: int) -> str:
    """Bring the archive ``spec`` names up to VERSION, the packets and commands of an archive
    from before spacecraft ids filed under ``scid``; what was done, in words. ArchiveError for
    an archive that is missing, unreachable or newer."""
    db = connect(spec, create=False)
    try:
        return _migrate(db, scid)
    finally:
        db.close()


def _migrate(db: Database, scid: int) -> str:
    found = version(db)
    if found is None or found == VERSION:
        return f"{db.where} is at schema version {VERSION}: nothing to do"
    if found > VERSION:
        prepare(db)  # refuses it
    with db.transaction():
        packets, commands = _from_1(db, scid)
    return (
        f"{db.where}: schema version 1 to {VERSION}, {packets} packets and {commands} commands "
        f"filed under spacecraft {scid}"
    )


def table_ddl(table: str, columns: tuple[tuple[str, str], ...], dialect: str) -> str:
    """CREATE TABLE for columns in the portable types, as ``dialect`` spells them."""
    types = TYPES[dialect]
    spelled = []
    for name, kind in columns:
        base, _, rest = kind.partition(" ")
        spelled.append(f"{name} {types[base]} {rest}".strip())
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(spelled)})"


def _create(db: Database) -> None:
    for table, columns in TABLES.items():
        db.execute(table_ddl(table, columns, db.dialect))
    for index in INDEXES:
        db.execute(index)


def _from_1(db: Database, scid: int) -> tuple[int, int]:
    """Version 1 to 2: the old tables renamed aside, the new made, every packet filed again by
    kind under ``scid``, every command copied with it, the old tables dropped."""
    if "account" not in db.columns("commands"):  # an archive from before accounts
        db.execute("ALTER TABLE commands ADD COLUMN account TEXT")
    db.execute("DROP INDEX IF EXISTS chunks_time")
    db.execute("ALTER TABLE chunks RENAME TO chunks_v1")
    db.execute("ALTER TABLE commands RENAME TO commands_v1")
    _create(db)
    packets = 0
    builder = ChunkBuilder()
    for row in db.execute("SELECT data, starts, erts, playback FROM chunks_v1 ORDER BY id"):
        for packet in unpack_chunk(scid, *row):
            builder.add(scid, packet.raw, packet.ert, packet.playback)
        packets += builder.held
        db.copy("chunks", CHUNK_COLUMNS, builder.rows())
        builder.clear()
    db.execute(
        "INSERT INTO commands (scid, sent, name, args, request_id, account) "
        "SELECT ?, sent, name, args, request_id, account FROM commands_v1 ORDER BY id",
        (scid,),
    )
    commands = db.execute("SELECT COUNT(*) FROM commands_v1").fetchone()[0]
    db.execute("DROP TABLE chunks_v1")
    db.execute("DROP TABLE commands_v1")
    db.execute("INSERT INTO archive_schema (version) VALUES (?)", (VERSION,))
    return packets, commands
