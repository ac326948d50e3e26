"""The files a satellite holds for the ground on the mesh (its own results and what neighbours
passed it), each once, and where each stands: held (to be routed), forwarding (a class 2
transaction to a neighbour, custody kept until it finishes), downlinking (a transfer of the
satellite's own downlink, whose journal keeps it across restarts), down (that transfer ended:
the downlink's retries, if it failed, are its own), forwarded (a neighbour took custody) or, for
a consignment the ground sent this satellite, delivered (its telecommands were run). A
file is known by its origin (the entity that made it) and its name there, so a copy that
arrives again while this satellite holds it, or after it went down from here, is recognised
and dropped. Every change is committed before it is acted on, so a restart resumes from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flight.database import open_database

HELD, FORWARDING, DOWNLINKING = "held", "forwarding", "downlinking"
DOWN, FORWARDED, DELIVERED = "down", "forwarded", "delivered"
HOLDING = (HELD, FORWARDING, DOWNLINKING)  # states in which this satellite has the file

SCHEMA = """
CREATE TABLE IF NOT EXISTS bundles (
    origin INTEGER NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL, octets INTEGER NOT NULL,
    priority INTEGER NOT NULL, state TEXT NOT NULL, hop INTEGER, seq INTEGER,
    relayed INTEGER NOT NULL, PRIMARY KEY (origin, name));
"""


@dataclass
class Bundle:
    origin: int
    name: str  # its name at its origin: JOB/FILE; a consignment's: uplink/DEST/ID
    path: str  # where this satellite keeps it
    octets: int
    priority: int
    state: str
    hop: int | None  # the neighbour it is forwarding to or went to; held: the one it came from
    seq: int | None  # the transaction forwarding it
    relayed: bool  # a copy a neighbour passed here, in the relay's store (removed once gone on)

    @property
    def key(self) -> tuple[int, str]:
        return (self.origin, self.name)


class Custody:
    def __init__(self, path: Path) -> None:
        self.db = open_database(path, SCHEMA)
        marks = ", ".join("?" * len(HOLDING))
        query = f"SELECT COUNT(*) FROM bundles WHERE state IN ({marks})"
        self.holding = int(self.db.execute(query, HOLDING).fetchone()[0])
        """How many files this satellite holds now (held, forwarding or downlinking)."""

    def take(self, bundle: Bundle) -> bool:
        """Hold a file, unless it is held here already or went down from here (a copy that came
        again); a file that went on to a neighbour and comes back is held again."""
        row = self.db.execute(
            "SELECT state FROM bundles WHERE origin=? AND name=?", bundle.key
        ).fetchone()
        if row is not None and row[0] != FORWARDED:
            return False
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO bundles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (bundle.origin, bundle.name, bundle.path, bundle.octets, bundle.priority,
                 bundle.state, bundle.hop, bundle.seq, int(bundle.relayed)),
            )  # fmt: skip
        self.holding += bundle.state in HOLDING
        return True

    def state(self, origin: int, name: str) -> tuple[str, str] | None:
        """Where the file stands here and where it is kept; None for one never held here."""
        row = self.db.execute(
            "SELECT state, path FROM bundles WHERE origin=? AND name=?", (origin, name)
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def set(
        self, bundle: Bundle, state: str, hop: int | None = None, seq: int | None = None
    ) -> None:
        with self.db:
            self.db.execute(
                "UPDATE bundles SET state=?, hop=?, seq=? WHERE origin=? AND name=?",
                (state, hop, seq, *bundle.key),
            )
        self.holding += (state in HOLDING) - (bundle.state in HOLDING)
        bundle.state, bundle.hop, bundle.seq = state, hop, seq

    def in_state(self, *states: str) -> list[Bundle]:
        """The bundles in ``states``, by priority (0 first), then origin and name."""
        marks = ", ".join("?" * len(states))
        rows = self.db.execute(
            f"SELECT * FROM bundles WHERE state IN ({marks}) ORDER BY priority, origin, name",
            states,
        ).fetchall()
        return [Bundle(*r[:8], bool(r[8])) for r in rows]

    def close(self) -> None:
        self.db.close()
