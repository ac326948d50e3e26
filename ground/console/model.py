"""What the console shows, without a screen: telemetry channels with limits and staleness, the
event log, the commands sent and their verification, jobs, files and the link.

Everything the console displays comes from here, fed by a station connection or an archive replay
(ground/console/feeds.py); the screen (ground/console/app.py) only draws it. Ingesting a packet
only stores its values; the screen redraws what changed a few times a second, so the console keeps
up however fast packets come.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flight import dictionary as d
from flight.protocol.fields import Field
from flight.protocol.messages import NOT_VALID, DecodedTelemetry
from ground.client import is_ground_report, request_id_of

STALE_S = 5.0  # a channel not refreshed for this long (ground time) is marked stale
EVENTS_KEPT = 10_000
BROKER_LINES_KEPT = 20  # the fleet job broker's latest lines, shown in the fleet view
COMMANDS_KEPT = 1_000
_SCALAR = {"u8", "u16", "u32", "u64", "i32", "f32", "f64", "cuc", "str"}
_NOT_PAGES = {1, 5}  # verification and events have views of their own
_STAGES = {
    "ACCEPTANCE_SUCCESS": "accepted",
    "START_SUCCESS": "started",
    "COMPLETION_SUCCESS": "completed",
}


def utc(seconds: float | None) -> str:
    """A time as UTC, to the second: 2026-03-20T01:00:00Z."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: int) -> str:
    """Seconds as H:MM:SS."""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class Channel:
    """One telemetry value: the latest sample, when it was taken on board and received."""

    packet: str
    field: Field
    value: Any = None
    onboard: float | None = None
    received: float | None = None

    @property
    def key(self) -> str:
        return f"{self.packet}.{self.field.name}"

    def level(self) -> str | None:
        """ "red", "yellow" or None, by the dictionary's limits."""
        if self.field.limits is None or not isinstance(self.value, (int, float)):
            return None
        return self.field.limits.level(self.value)

    def text(self) -> str:
        """The value as an operator reads it: enum names, sensible precision, units."""
        v = self.value
        if v is None:
            return NOT_VALID if self.onboard is not None and self.field.valid_when else "-"
        if self.field.enum:
            return str(self.field.label(v))
        if self.field.type == "cuc":
            return utc(v)
        if isinstance(v, int) and v == d.NONE_AHEAD and "none" in self.field.description:
            return "none"
        if isinstance(v, float):
            shown = f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        else:
            shown = str(v)
        return f"{shown} {self.field.unit}".rstrip()


@dataclass
class EventEntry:
    """One event report as the log shows it."""

    onboard: float
    severity: d.Severity
    name: str
    text: str


@dataclass
class CommandEntry:
    """A command sent from this console and what its verification reports said."""

    name: str
    args: dict[str, Any]
    sent: float
    request_id: bytes | None = None
    status: str = "sending"
    failure: str = ""

    def describe(self) -> str:
        return f"{self.status.upper()} {self.failure}".rstrip() if self.failure else self.status


@dataclass
class Model:
    """The console's state; ``clock`` is ground time (the replay's clock in a replay)."""

    kinds: Iterable[d.TelemetryPacket] = d.TELEMETRY
    clock: Callable[[], float] = time.time
    pages: dict[str, list[Channel]] = field(default_factory=dict)
    channels: dict[tuple[int, int], list[Channel]] = field(default_factory=dict)
    events: deque[EventEntry] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))
    events_seen: int = 0
    job_events: int = 0  # events about jobs: the jobs view asks for the list again
    commands: OrderedDict[int, CommandEntry] = field(default_factory=OrderedDict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    station: str = "not connected"
    link_up: bool | None = None
    authority: str | None = None  # the account holding command authority
    cop1: str = ""  # each spacecraft's COP-1 state in words
    account: str | None = None  # this console's, as the station knows it
    packets: int = 0
    last_onboard: float | None = None
    # per list view, bumped when what it shows changes (the screen redraws a view whose number
    # moved; the events view follows events_seen)
    versions: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("commands", "jobs", "files", "fleet"), 0)
    )
    broker_said: deque[str] = field(default_factory=lambda: deque(maxlen=BROKER_LINES_KEPT))

    def __post_init__(self) -> None:
        for kind in self.kinds:
            if kind.service in _NOT_PAGES or any(f.type == "msgpack" for f in kind.fields):
                continue  # answers to commands, not telemetry to watch
            scalar = [f for f in kind.fields if f.type in _SCALAR]
            if scalar:
                page = [Channel(kind.name, f) for f in scalar]
                self.pages[kind.name] = page
                self.channels[(kind.service, kind.subtype)] = page
        self._by_request: dict[bytes, CommandEntry] = {}
        # reports that came before the station's answer with their request id (the answer and
        # the reports race to the console); applied when it comes
        self._unmatched: OrderedDict[bytes, list[DecodedTelemetry]] = OrderedDict()
        self._serial = 0

    # --- feeding
    def ingest(self, tm: DecodedTelemetry) -> None:
        """One decoded telemetry packet."""
        self.packets += 1
        packet = tm.packet
        now = self.clock()
        self.last_onboard = packet.time
        page = self.channels.get((packet.service, packet.subtype))
        if page is not None:
            values = tm.values
            for channel in page:
                channel.value = values.get(channel.field.name)
                channel.onboard = packet.time
                channel.received = now
        if tm.event is not None:
            self._event(tm)
        elif is_ground_report(tm):
            self._verification(tm)
        elif tm.name == "JOB_LIST":
            self._job_list(tm.values)

    def station_message(self, message: dict[str, Any]) -> None:
        """A message of the station's other than telemetry: link state, command authority,
        files received."""
        op = message.get("op")
        if op == "welcome":
            self.account = message.get("account")
        if op in ("welcome", "link"):
            self.link_up = bool(message.get("link_up", message.get("up")))
        if op in ("welcome", "authority"):
            self.authority = message.get("authority", message.get("holder"))
        if op in ("welcome", "cop1"):
            self.cop1 = str(message.get("cop1", message.get("summary", "")))
        elif op == "broker" and isinstance(message.get("message"), str):
            self.broker_said.append(message["message"])
            self.versions["fleet"] += 1
        elif op == "file" and isinstance(message.get("name"), str):
            self.files[message["name"]] = {
                "size": message.get("size"),
                "direction": "down",
                "state": "delivered" if message.get("delivered") else message.get("condition"),
                "check": message.get("check", ""),
                "time": self.clock(),
            }
            self.versions["files"] += 1

    def connection(self, state: str) -> None:
        """The console's connection to the station, in words."""
        self.station = state
        if not state.startswith("connected"):
            self.link_up = None

    # --- commanding
    def command_sent(self, name: str, args: dict[str, Any]) -> int:
        """Record a command about to be sent; its serial number for command_answered."""
        self._serial += 1
        self.commands[self._serial] = CommandEntry(name, args, self.clock())
        while len(self.commands) > COMMANDS_KEPT:
            self.commands.popitem(last=False)
        self.versions["commands"] += 1
        return self._serial

    def command_answered(
        self, serial: int, request_id: bytes | None = None, refusal: str = ""
    ) -> None:
        """The station refused it (why), or sent it: a command with its request id (its
        verification reports follow), an upload without."""
        entry = self.commands.get(serial)
        if entry is None:
            return
        if refusal:
            entry.status, entry.failure = "refused", refusal
        else:
            entry.status, entry.request_id = "sent", request_id
            if request_id is not None:
                self._by_request[request_id] = entry
                for report in self._unmatched.pop(request_id, []):
                    self._verification(report)
        self.versions["commands"] += 1

    def upload_queued(self, name: str, size: int) -> None:
        """A file the station is sending up."""
        self.files[name] = {
            "size": size,
            "direction": "up",
            "state": "sending",
            "check": "",
            "time": self.clock(),
        }
        self.versions["files"] += 1

    # --- views' helpers
    def stale(self, channel: Channel) -> bool:
        """Whether a channel has not been refreshed for STALE_S seconds."""
        return channel.received is None or self.clock() - channel.received > STALE_S

    def housekeeping(self, name: str) -> Any:
        """The latest housekeeping value of a field, or None."""
        for channel in self.pages.get("HOUSEKEEPING", ()):
            if channel.field.name == name:
                return channel.value
        return None

    def window(self) -> str:
        """The link window as housekeeping last told it."""
        link_in = self.housekeeping("link_in_s")
        if link_in is None:
            return "window unknown"
        if link_in == 0:
            return "window OPEN"
        if link_in == d.NONE_AHEAD:
            return "no window predicted"
        return f"next window in {duration(link_in)}"

    # --- internals
    def _event(self, tm: DecodedTelemetry) -> None:
        assert tm.event is not None
        text = " ".join(f"{k}={_short(v)}" for k, v in tm.labelled().items())
        self.events.append(EventEntry(tm.packet.time, tm.event.severity, tm.name, text))
        self.events_seen += 1
        job = tm.values.get("job_id")
        if isinstance(job, str) and tm.name.startswith("JOB_"):
            entry = self.jobs.setdefault(job, {"id": job})
            entry["event"] = tm.name
            self.job_events += 1
            self.versions["jobs"] += 1
        if tm.name in ("FILE_RECEIVED", "FILE_FAILED") and tm.values.get("name") in self.files:
            row = self.files[tm.values["name"]]
            row["state"] = "delivered" if tm.name == "FILE_RECEIVED" else tm.values["condition"]
            self.versions["files"] += 1

    def _verification(self, tm: DecodedTelemetry) -> None:
        v = tm.values
        request = request_id_of(tm)
        entry = self._by_request.get(request)
        if entry is None:  # another console's command, or its answer is still on its way
            self._unmatched.setdefault(request, []).append(tm)
            while len(self._unmatched) > COMMANDS_KEPT:
                self._unmatched.popitem(last=False)
            return
        if tm.name.endswith("_FAILURE"):
            entry.status = "failed"
            entry.failure = f"{d.FailureCode(v['code']).name}: {v['reason']}"
        else:
            entry.status = _STAGES.get(tm.name, entry.status)
        self.versions["commands"] += 1

    def _job_list(self, values: dict[str, Any]) -> None:
        if values.get("page") == 0:
            self.jobs = {}
        for job in values.get("jobs") or []:
            if isinstance(job, dict) and isinstance(job.get("id"), str):
                self.jobs[job["id"]] = dict(job)
        self.versions["jobs"] += 1


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
