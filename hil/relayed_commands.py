"""The commands a scenario sent by way of the laser mesh (a ``relay`` step): their verification
comes down long after, with the telemetry of a satellite that was out of contact, so each is
followed as its reports arrive and judged at the end of the run: completed, failed (with its
failure), or never heard of."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from flight.dictionary import FailureCode
from flight.protocol.messages import DecodedTelemetry
from ground.client import is_ground_report, request_id_of

_FINAL = ("COMPLETION_SUCCESS", "ACCEPTANCE_FAILURE", "START_FAILURE", "COMPLETION_FAILURE")


@dataclass
class _Relayed:
    label: str  # the step and the command, as the report names the check
    final: DecodedTelemetry | None = None
    stages: list[str] = field(default_factory=list)


class RelayedCommands:
    """Relayed commands by request id; ``heard`` is a station client's telemetry listener."""

    def __init__(self) -> None:
        self.commands: dict[bytes, _Relayed] = {}

    def sent(self, request_id: bytes, label: str) -> None:
        self.commands[request_id] = _Relayed(label)

    def heard(self, tm: DecodedTelemetry) -> None:
        if not is_ground_report(tm):
            return
        relayed = self.commands.get(request_id_of(tm))
        if relayed is None or relayed.final is not None:
            return
        relayed.stages.append(tm.name)
        if tm.name in _FINAL:
            relayed.final = tm

    def verdicts(self) -> Iterator[tuple[str, bool | None, str]]:
        """Each command's check: passed (completed), failed (a failure report) or None (no
        final report came down in the run)."""
        for relayed in self.commands.values():
            tm = relayed.final
            if tm is None:
                stages = ", ".join(relayed.stages) or "nothing"
                yield relayed.label, None, f"no final verification came down (heard {stages})"
            elif tm.name == "COMPLETION_SUCCESS":
                yield relayed.label, True, "completed on board, verified with its telemetry"
            else:
                code = FailureCode(tm.values["code"]).name
                yield relayed.label, False, f"{tm.name}: {code} ({tm.values['reason']})"

    def figures(self) -> dict[str, int]:
        done = sum(1 for r in self.commands.values()
                   if r.final is not None and r.final.name == "COMPLETION_SUCCESS")  # fmt: skip
        return {"relayed_commands": len(self.commands), "relayed_commands_completed": done}
