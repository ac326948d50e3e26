"""Command dispatch from the dictionary: each command's handler is an acceptance check, which
refuses with a failure code before anything changes, and an execution, which may still fail; as
cFS apps keep their command checks apart from their dispatch. The handlers are gathered from the
subsystems they drive, and every command the dictionary declares has exactly one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from flight import dictionary as d
from flight.commanding.counters import Counters
from flight.commanding.verification import Verification
from flight.protocol.messages import decode_command
from flight.protocol.packets import PacketError, Telecommand

log = logging.getLogger("flight")

_NOT_COUNTED = {"CFDP_PDU"}  # file protocol traffic, counted by the downlink, not an operator's


class CommandError(Exception):
    """A command refused at acceptance or failed in execution, with its PUS 1 failure code."""

    def __init__(self, code: d.FailureCode, reason: str):
        super().__init__(reason)
        self.code = code


def as_given(args: dict[str, Any]) -> dict[str, Any]:
    """The acceptance check of a command whose decoded arguments are all it needs."""
    return args


class Handler(NamedTuple):
    """A command's acceptance check (arguments in, what execution needs out, CommandError to
    refuse) and its execution (the telecommand and what the check prepared)."""

    run: Callable[[Telecommand, Any], None]
    check: Callable[[dict[str, Any]], Any] = as_given


Handlers = dict[str, Handler]


class Dispatcher:
    """Runs admitted telecommands through their handlers, verified as their flags ask."""

    def __init__(self, handlers: Handlers, verification: Verification, counters: Counters) -> None:
        missing = sorted(set(d.COMMANDS_BY_NAME) - set(handlers))
        unknown = sorted(set(handlers) - set(d.COMMANDS_BY_NAME))
        if missing or unknown:
            raise ValueError(f"commands without a handler {missing}, handlers undeclared {unknown}")
        self.handlers = handlers
        self.verification = verification
        self.counters = counters

    def execute(self, tc: Telecommand) -> None:
        """Acceptance check, then execution; nothing either raises leaves here."""
        try:
            command, args = decode_command(tc)
            handler = self.handlers[command.name]
            prepared = handler.check(args)
        except (PacketError, CommandError) as exc:
            self.verification.rejected(tc, exc.code, str(exc))
            return
        except Exception as exc:  # a defect in an acceptance check: refused, never fatal
            self.verification.rejected(tc, d.FailureCode.INTERNAL_ERROR, self._defect(tc, exc))
            return
        if command.source != d.SOURCE_BUS and command.name not in _NOT_COUNTED:
            self.counters.tc_accepted += 1
        self.verification.succeeded(tc, d.ACK_ACCEPTANCE, "ACCEPTANCE_SUCCESS")
        try:
            handler.run(tc, prepared)
        except CommandError as exc:
            self.verification.failed(tc, exc.code, str(exc))
            return
        except Exception as exc:
            self.verification.failed(tc, d.FailureCode.INTERNAL_ERROR, self._defect(tc, exc))
            return
        self.verification.succeeded(tc, d.ACK_COMPLETION, "COMPLETION_SUCCESS")

    def _defect(self, tc: Telecommand, exc: Exception) -> str:
        """Log and count a defect a command ran into; the reason its failure report gives."""
        self.counters.internal_errors += 1
        log.error("internal error in TC[%d,%d]", tc.service, tc.subtype, exc_info=exc)
        return f"internal error: {type(exc).__name__}: {exc}"
