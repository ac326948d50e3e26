"""The console's command line: what an operator types, checked against the dictionary before
anything is sent, and completed from it.

    PING
    CANCEL_JOB job_id=train-7              any ground command, arguments as NAME=VALUE
    REPRIORITISE_JOB job_id=train-7 priority=200
    submit jobs/train.toml                 a job manifest (.json, .toml or .msgpack)
    fleet submit jobs/train.toml           a job for the fleet job broker to place
    upload inputs/weights.bin [NAME]       a file to the payload's file store, by CFDP
    authority request|release|take         command authority (take: an admin's takeover)

Values are numbers where the field is numeric, enum names where it has them, text otherwise
(quote text with spaces). A mistake is a RequestError with one line saying what is wrong.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from flight import dictionary as d
from flight.protocol.fields import NUMERIC_TYPES
from ground.command_requests import Request, RequestError, check_command, ground_command
from ground.manifests import ManifestFileError, load_manifest

VERBS = ("submit", "upload", "authority", "fleet")
AUTHORITY_ACTIONS = ("request", "release", "take")
GROUND_COMMANDS = tuple(c.name for c in d.COMMANDS if c.source == d.SOURCE_GROUND)
_NUMERIC = NUMERIC_TYPES | {"cuc"}  # typed as numbers


def parse(line: str) -> Request:
    """Check a typed line; RequestError if it cannot be sent."""
    head, rest = _words(line, "type a command (Tab completes)")
    if head == "submit":
        return _submit(rest)
    if head == "fleet":
        if len(rest) != 2 or rest[0] != "submit":
            raise RequestError("fleet takes submit and one manifest file")
        return Request("fleet submit", fleet_manifest=_manifest(rest[1]))
    if head == "upload":
        return _upload(rest)
    if head == "authority":
        if len(rest) != 1 or rest[0] not in AUTHORITY_ACTIONS:
            raise RequestError(f"authority takes one of {', '.join(AUTHORITY_ACTIONS)}")
        return Request("authority", authority=rest[0])
    return _dictionary_command(head, rest, f": try {', '.join(VERBS)} or a dictionary name")


def parse_command(line: str) -> Request:
    """A line that names a dictionary command and its arguments (``NAME KEY=VALUE ...``), checked;
    RequestError otherwise. What a command stack's lines are (the web mission control's)."""
    return _dictionary_command(*_words(line, "an empty line"), "")


def _words(line: str, when_empty: str) -> tuple[str, list[str]]:
    """The line's first word and the rest, as a shell splits them."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise RequestError(f"cannot read the line: {exc}") from None
    if not words:
        raise RequestError(when_empty)
    return words[0], words[1:]


def _dictionary_command(head: str, rest: list[str], hint: str) -> Request:
    command = ground_command(head.upper(), hint)
    args = {}
    fields = {f.name: f for f in command.args}
    for word in rest:
        key, sep, text = word.partition("=")
        if not sep:
            raise RequestError(f"{word!r}: arguments are NAME=VALUE")
        args[key] = _value(text, fields[key].type) if key in fields else text
    return check_command(command.name, args)


def _value(text: str, kind: str) -> Any:
    if kind not in _NUMERIC:
        return text
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text  # an enum name, or a mistake the field's check names


def _submit(rest: list[str]) -> Request:
    if len(rest) != 1:
        raise RequestError("submit takes one manifest file")
    return check_command("SUBMIT_JOB", {"manifest": _manifest(rest[0])})


def _manifest(path: str) -> dict[str, Any]:
    try:
        return load_manifest(Path(path))
    except ManifestFileError as exc:
        raise RequestError(str(exc)) from None


def _upload(rest: list[str]) -> Request:
    if len(rest) not in (1, 2):
        raise RequestError("upload takes a file and, optionally, its name on board")
    path = Path(rest[0])
    if not path.is_file():
        raise RequestError(f"no file {path}")
    return Request("upload", upload=(path, rest[1] if len(rest) == 2 else path.name))


def complete(line: str, jobs: tuple[str, ...] = ()) -> str | None:
    """The line completed from the dictionary (command names, argument names, enum names, known
    job ids), or None when nothing fits."""
    words = line.split(" ")
    if len(words) == 1:
        head = words[0].upper()
        names = [v for v in VERBS if v.startswith(words[0])] if words[0] else []
        names += [n for n in GROUND_COMMANDS if n.startswith(head)] if head else []
        return names[0] + " " if names else None
    command = d.COMMANDS_BY_NAME.get(words[0].upper())
    if command is None:
        return None
    last = words[-1]
    given = {w.partition("=")[0] for w in words[1:-1]}
    key, sep, text = last.partition("=")
    if not sep:
        names = [f.name for f in command.args if f.name not in given and f.name.startswith(key)]
        return " ".join(words[:-1] + [names[0] + "="]) if names else None
    f = next((f for f in command.args if f.name == key), None)
    if f is None:
        return None
    options = list(f.enum.values()) if f.enum else list(jobs) if key == "job_id" else []
    fits = [o for o in options if o.startswith(text)]
    return " ".join(words[:-1] + [f"{key}={fits[0]}"]) if fits else None
