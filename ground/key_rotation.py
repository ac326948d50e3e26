"""Key rotation as an operations procedure: the ground changes the key it signs telecommands
with, on board and in its own key file, in an order that never leaves it without a key the
payload accepts (docs/security.md).

1. REPORT_KEYS: the ground keys on board, which are in use, the last number each accepted.
2. KEY_ACTIVATE the new key (signed with the key in use).
3. The station's key file: the new key in use (the station reads it again before its next
   command).
4. Proof: a REPORT_KEYS signed with the new key, accepted: the new key's last sequence number
   has moved. Without it the old key stays in use on board, whatever the file says.
5. KEY_DEACTIVATE every other ground key in use (signed with the new one).
6. REPORT_KEYS: only the new key in use.

The procedure starts from what the payload reports, so running it again after a step failed
(a window closed, a command lost) carries on where it stands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flight.security.keys import load_keys, use_key
from flight.dictionary import SOURCE_GROUND
from ground.procedure import Procedure, ProcedureError


class RotationError(Exception):
    """The rotation cannot go on; the message says where it stands and what to do."""


@dataclass(frozen=True)
class Rotation:
    """What a rotation did."""

    old: list[int]
    new: int
    steps: list[str]


def ground_keys_on_board(procedure: Procedure) -> dict[int, dict[str, Any]]:
    """The ground keys the payload holds, by id (REPORT_KEYS)."""
    procedure.send_command("REPORT_KEYS")
    listing = procedure.await_telemetry("KEY_LIST")
    return {k["id"]: k for k in listing.values["keys"] if k["source"] == "GROUND"}


def rotate(
    procedure: Procedure,
    key_file: Path,
    to: int | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> Rotation:
    """Rotate the ground's key to ``to`` (None: the lowest spare on board and in the file)."""
    steps: list[str] = []

    def step(line: str) -> None:
        steps.append(line)
        say(line)

    mine = {k.key_id for k in load_keys(key_file).values() if k.source == SOURCE_GROUND}
    on_board = ground_keys_on_board(procedure)
    in_use = sorted(i for i, k in on_board.items() if k["in_use"])
    step(f"on board: ground keys {sorted(on_board)}, in use {in_use}")
    new = to if to is not None else _spare(on_board, mine, load_keys(key_file))
    if new not in on_board:
        raise RotationError(f"key {new} is not on board (its ground keys: {sorted(on_board)})")
    if new not in mine:
        raise RotationError(f"key {new} is not in {key_file}: the station could not sign with it")
    if not on_board[new]["in_use"]:
        _command(procedure, "KEY_ACTIVATE", new, "activate it (signed with the key in use)")
        step(f"KEY_ACTIVATE {new}: completed")
    use_key(key_file, new)
    step(f"{key_file}: key {new} in use (the station signs with it from its next command)")
    before = on_board[new]["last_seq"]
    after = ground_keys_on_board(procedure)[new]["last_seq"]
    if after == before:
        raise RotationError(
            f"the payload accepted nothing signed with key {new} (its last number is still "
            f"{before}): is {key_file} the station's key file? Both keys stay in use on board"
        )
    step(f"key {new} accepted on board (last number {after})")
    old = [i for i in in_use if i != new]
    for key_id in old:
        _command(procedure, "KEY_DEACTIVATE", key_id, "deactivate it (signed with the new key)")
        step(f"KEY_DEACTIVATE {key_id}: completed")
    final = sorted(i for i, k in ground_keys_on_board(procedure).items() if k["in_use"])
    if final != [new]:
        raise RotationError(f"ground keys in use on board now {final}, not [{new}]")
    step(f"done: ground key {new} in use on board and in {key_file}")
    return Rotation(old, new, steps)


def _spare(on_board: dict[int, dict[str, Any]], mine: set[int], keys: dict) -> int:
    """The lowest ground key on board and in the file that the file does not use now."""
    current = {i for i in mine if keys[i].active}
    spares = sorted(i for i in on_board if i in mine and i not in current)
    if not spares:
        raise RotationError(
            "no spare ground key both on board and in the key file: every provisioned key is "
            "in use (keys provision --ground-keys N preloads more)"
        )
    return spares[0]


def _command(procedure: Procedure, name: str, key_id: int, what: str) -> None:
    try:
        procedure.send_command(
            name, {"key_id": key_id}, confirm=True
        )  # rotate is the operator's say
    except ProcedureError as exc:
        raise RotationError(f"{name} {key_id} ({what}): {exc}") from None
