"""What the file traffic did on the bench's links, seen where the bus stands: every CFDP PDU each
way, the ones sent again, and why each was needed again.

The bus sees the payload's PDUs as they come off the serial line and the station's as they come
from the radio, and it knows each copy's fate: relayed and arrived, lost by the radio (a loss, or
its queue full), dropped because no station was in view, or damaged on the serial line. A PDU is
a retransmission when it repeats what its transaction sent before (file data over octets already
sent, or the same directive again); its cause is the fate of the copy before it:

| cause | the copy before it |
| --- | --- |
| radio_loss | was lost by the radio (loss probability, or its queue was full) |
| no_window | was not relayed: no station in view |
| line_damage | was damaged on the serial line (down: never arrived whole at the bus) |
| unneeded | arrived: its answer was lost or late (a timer shorter than the round trip), or a |
| | NAK asked again for what was on its way |
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flight.cfdp import pdu as P

ARRIVED = "arrived"
RADIO_LOSS = "radio_loss"
NO_WINDOW = "no_window"
LINE_DAMAGE = "line_damage"
CAUSES = (RADIO_LOSS, NO_WINDOW, LINE_DAMAGE, "unneeded")

Transaction = tuple[int, int]  # source entity, sequence number


class LinkDirection:
    """The PDUs one way of a link, their retransmissions and their causes."""

    def __init__(self) -> None:
        self.pdus: Counter[str] = Counter()
        self.retransmitted: Counter[str] = Counter()
        self.causes: Counter[str] = Counter()
        self.octets_retransmitted = 0
        self.undecodable = 0
        self._data: dict[Transaction, list[tuple[int, int, str]]] = {}  # copies: range, fate
        self._high: dict[Transaction, int] = {}  # the end of the furthest data sent
        self._directives: dict[tuple, str] = {}  # the fate of each directive's latest copy

    def add(self, raw: bytes, fate: str) -> None:
        """One PDU put on the link, and what became of it."""
        try:
            pdu = P.decode(raw)
        except P.PduError:
            self.undecodable += 1
            return
        kind = type(pdu).__name__
        self.pdus[kind] += 1
        key = (pdu.header.source_id, pdu.header.seq_num)
        if isinstance(pdu, P.FileData):
            self._file_data(key, pdu.offset, pdu.offset + len(pdu.data), fate)
            return
        extra: Any = None
        if isinstance(pdu, P.Ack):
            extra = int(pdu.directive)
        elif isinstance(pdu, P.Nak):
            extra = tuple(pdu.segments)
        directive = (key, kind, extra)
        before = self._directives.get(directive)
        self._directives[directive] = fate
        if before is not None:
            self._again(kind, before)

    def _file_data(self, key: Transaction, start: int, end: int, fate: str) -> None:
        copies = self._data.setdefault(key, [])
        high = self._high.get(key, 0)
        copies.append((start, end, fate))
        if start >= high:
            self._high[key] = end
            return
        earlier = [f for s, e, f in copies[:-1] if s < end and start < e]
        lost = [f for f in earlier if f != ARRIVED]
        cause = lost[-1] if lost else ARRIVED if earlier else LINE_DAMAGE
        self.octets_retransmitted += min(end, high) - start
        self._again("FileData", cause)

    def _again(self, kind: str, before: str) -> None:
        self.retransmitted[kind] += 1
        self.causes["unneeded" if before == ARRIVED else before] += 1

    def figures(self) -> dict[str, Any]:
        """This direction's counts."""
        return {
            "pdus": sum(self.pdus.values()),
            "pdus_by_type": dict(sorted(self.pdus.items())),
            "retransmitted": sum(self.retransmitted.values()),
            "retransmitted_by_type": dict(sorted(self.retransmitted.items())),
            "octets_retransmitted": self.octets_retransmitted,
            "causes": {cause: self.causes[cause] for cause in CAUSES},
            "undecodable": self.undecodable,
        }


class CfdpTrack:
    """The file traffic of the bench's links, each way."""

    def __init__(self, links: tuple[str, ...] = ("bus",)) -> None:
        self.links = {name: (LinkDirection(), LinkDirection()) for name in links}

    def down(self, raw: bytes, fate: str, link: str = "bus") -> None:
        """A PDU from the payload, toward the ground."""
        self.links[link][0].add(raw, fate)

    def up(self, raw: bytes, fate: str, link: str = "bus") -> None:
        """A PDU from the ground, toward the payload."""
        self.links[link][1].add(raw, fate)

    def report(self) -> dict[str, Any]:
        """Per link, each way: PDUs, retransmissions, octets sent again and the causes."""
        return {
            name: {"down": down.figures(), "up": up.figures()}
            for name, (down, up) in self.links.items()
        }

    def figures(self) -> dict[str, int]:
        """The flat figures a scenario's checks can name."""
        out = {}
        for name, (down, up) in self.links.items():
            for way, direction in (("down", down), ("up", up)):
                out[f"cfdp_{name}_{way}_retransmitted"] = sum(direction.retransmitted.values())
                for cause in CAUSES:
                    out[f"cfdp_{name}_{way}_retransmitted_{cause}"] = direction.causes[cause]
        return out


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report's CFDP lines for a person: per link and way, PDUs and retransmissions."""
    lines = []
    for name, ways in report.items():
        parts = []
        for way, f in ways.items():
            causes = ", ".join(f"{k} {v}" for k, v in f["causes"].items() if v)
            parts.append(
                f"{way} {f['pdus']} PDUs, {f['retransmitted']} retransmitted"
                + (f" ({causes})" if causes else "")
            )
        lines.append(f"  CFDP on the {name} link: " + "; ".join(parts))
    return lines
