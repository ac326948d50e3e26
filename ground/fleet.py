"""The spacecraft one ground station serves, its fleet: from ``--fleet FILE`` (TOML), or the one
spacecraft that ``--spacecraft-id`` and ``--keys`` name.

    [[spacecraft]]
    name = "alpha"              # how operators name it: --spacecraft alpha (or its id)
    id = 161                    # its USLP spacecraft id (0-65535)
    keys = "alpha/ground.toml"  # the ground's telecommand and job keys for it
    entity = 1                  # its payload's CFDP entity id (default 1)
    dictionary = 8              # the dictionary version it flies (default: this ground's)
    link = "10.0.0.5:5570"      # the space link that carries it (default: the station's --link)

Relative paths are from the file's directory. Each spacecraft of a fleet file keeps its files,
file register and CFDP journal in STATE/NAME; the one spacecraft of ``--spacecraft-id`` in STATE
itself, as a station of one payload always has. A ground segment encodes and decodes with the
dictionary it was built with: a spacecraft that flies another version is refused when the
station starts, rather than commanded with the wrong one.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flight.dictionary import DICTIONARY_VERSION
from flight.downlink import FLIGHT_ENTITY

DEFAULT_NAME = "payload"
RECORD = "fleet.json"  # in the station's state directory: the names its tools resolve
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_KEYS = {"name", "id", "keys", "entity", "dictionary", "link"}


class FleetError(ValueError):
    """A fleet file that cannot be used, or a spacecraft not in the fleet; one line."""


@dataclass(frozen=True)
class SpacecraftConfig:
    name: str
    scid: int
    keys: Path
    entity: int = FLIGHT_ENTITY
    dictionary: int = DICTIONARY_VERSION
    link: str | None = None  # HOST:PORT; None: the station's --link
    own_state: bool = False  # its files in STATE/NAME rather than STATE

    def state_dir(self, state: Path) -> Path:
        return state / self.name if self.own_state else state

    def describe(self) -> dict[str, Any]:
        """As the station tells its clients (docs/icd.md section 11)."""
        return {"name": self.name, "scid": self.scid, "entity": self.entity,
                "dictionary": self.dictionary}  # fmt: skip


def one_spacecraft(scid: int, keys: Path) -> list[SpacecraftConfig]:
    """The fleet of a station of one payload."""
    return [SpacecraftConfig(DEFAULT_NAME, scid, keys)]


def load_fleet(path: Path) -> list[SpacecraftConfig]:
    """The spacecraft a fleet file lists; FleetError (one line, naming the file) if it cannot
    be used."""
    try:
        document = tomllib.loads(path.read_text())
    except OSError as exc:
        raise FleetError(f"cannot read the fleet file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FleetError(f"{path}: not TOML ({exc})") from None
    entries = document.get("spacecraft")
    if not isinstance(entries, list) or not entries:
        raise FleetError(f"{path}: no [[spacecraft]] tables")
    fleet = [_entry(path, i, entry) for i, entry in enumerate(entries, 1)]
    for attribute in ("name", "scid"):
        seen: set[Any] = set()
        for craft in fleet:
            value = getattr(craft, attribute)
            if value in seen:
                raise FleetError(f"{path}: two spacecraft with {attribute} {value}")
            seen.add(value)
    return fleet


def _entry(path: Path, number: int, entry: Any) -> SpacecraftConfig:
    where = f"{path}: spacecraft {number}"
    if not isinstance(entry, dict):
        raise FleetError(f"{where} is not a table")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise FleetError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(_KEYS))})")
    name, scid, keys = entry.get("name"), entry.get("id"), entry.get("keys")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise FleetError(f"{where}: name must be a letter then up to 31 letters, digits, - or _")
    if isinstance(scid, bool) or not isinstance(scid, int) or not 0 <= scid <= 0xFFFF:
        raise FleetError(f"{where} ({name}): id must be a spacecraft id, 0 to 65535")
    if not isinstance(keys, str):
        raise FleetError(f"{where} ({name}): keys must name its ground key file")
    entity = entry.get("entity", FLIGHT_ENTITY)
    if isinstance(entity, bool) or not isinstance(entity, int) or not 0 <= entity < 1 << 32:
        raise FleetError(f"{where} ({name}): entity must be a CFDP entity id")
    dictionary = entry.get("dictionary", DICTIONARY_VERSION)
    if dictionary != DICTIONARY_VERSION:
        raise FleetError(
            f"{where} ({name}) flies dictionary {dictionary}; this ground segment has dictionary "
            f"{DICTIONARY_VERSION}: serve it from a ground segment of its version"
        )
    link = entry.get("link")
    if link is not None and not (isinstance(link, str) and re.fullmatch(r".+:\d{1,5}", link)):
        raise FleetError(f"{where} ({name}): link must be HOST:PORT")
    return SpacecraftConfig(
        name, scid, path.parent / keys, entity, dictionary, link, own_state=True
    )


def find(fleet: list[SpacecraftConfig], wanted: str | int | None) -> SpacecraftConfig:
    """The spacecraft a name or an id names (the only one if None); FleetError otherwise."""
    if wanted is None:
        if len(fleet) == 1:
            return fleet[0]
        raise FleetError(f"name the spacecraft (--spacecraft NAME|ID): {listed(fleet)}")
    for craft in fleet:
        if wanted == craft.name or str(wanted) == str(craft.scid):
            return craft
    raise FleetError(f"no spacecraft {wanted!r} here: {listed(fleet)}")


def record(fleet: list[SpacecraftConfig], state: Path) -> None:
    """Write the fleet the station serves into STATE/fleet.json, for the tools that read its
    state (archive, plot, web) to take spacecraft by name."""
    path = state / RECORD
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([c.describe() for c in fleet], indent=1) + "\n")
    os.replace(tmp, path)


def spacecraft_in(state: Path, wanted: str) -> int:
    """The id ``wanted`` names: an id as it is, or a name of the fleet the station recorded in
    ``state``; FleetError when it names none."""
    if wanted.isdigit() and int(wanted) <= 0xFFFF:
        return int(wanted)
    try:
        recorded = json.loads((state / RECORD).read_text())
    except (OSError, ValueError):
        raise FleetError(
            f"{wanted!r} is not a spacecraft id, and no station recorded its fleet's names in "
            f"{state}"
        ) from None
    for craft in recorded if isinstance(recorded, list) else []:
        if isinstance(craft, dict) and craft.get("name") == wanted:
            return int(craft["scid"])
    raise FleetError(f"no spacecraft {wanted!r} in the fleet recorded in {state / RECORD}")


def listed(fleet: list[SpacecraftConfig]) -> str:
    return ", ".join(f"{c.name} ({c.scid})" for c in fleet)
