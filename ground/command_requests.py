"""A request an operator makes of the payload, checked against the dictionary before anything is
sent: the one check behind every operator tool (the terminal console's command line, the web
mission control's command forms). The station checks again; this check is what lets a tool say
what is wrong before sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight import dictionary as d
from flight.protocol.fields import FieldError
from flight.protocol.messages import encode_command


class RequestError(ValueError):
    """What the operator asked for cannot be sent; the message says why, in one line."""


@dataclass(frozen=True)
class Request:
    """A checked request: a dictionary command with its arguments, an upload, a command
    authority action, or a job for the fleet job broker."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    hazardous: bool = False
    upload: tuple[Path, str] | None = None
    authority: str | None = None  # request, release or take
    fleet_manifest: dict[str, Any] | None = None  # a job for the fleet job broker to place

    def describe(self) -> str:
        if self.authority is not None:
            return f"authority {self.authority}"
        if self.upload is not None:
            return f"upload {self.upload[0]} as {self.upload[1]}"
        if self.fleet_manifest is not None:
            return f"fleet submit job {self.fleet_manifest.get('id')}"
        if "manifest" in self.args:
            return f"{self.name} job {self.args['manifest'].get('id')}"
        shown = " ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.name} {shown}".rstrip()


def ground_command(name: str, hint: str = "") -> d.Command:
    """The ground command of that name; RequestError (with ``hint`` after it) otherwise."""
    command = d.COMMANDS_BY_NAME.get(name)
    if command is None:
        raise RequestError(f"no command {name!r}{hint}")
    if command.source != d.SOURCE_GROUND:
        raise RequestError(f"{command.name} is sent by the bus, not the ground")
    return command


def check_command(name: str, args: dict[str, Any]) -> Request:
    """A ground command with these arguments, checked: every argument known and of its field's
    type and range, none missing; RequestError naming what is wrong."""
    command = ground_command(name)
    fields = {f.name: f for f in command.args}
    for key in args:
        if key not in fields:
            known = ", ".join(fields) or "none"
            raise RequestError(f"{command.name} has no argument {key!r} (arguments: {known})")
    try:
        encode_command(command.name, args)
    except (FieldError, ValueError) as exc:
        raise RequestError(f"{command.name}: {exc}") from None
    return Request(command.name, dict(args), command.hazardous)
