"""The console's screen (Textual): telemetry pages with limit colours and stale marks, the event
log, commands with their verification, jobs and files; UTC and the link state always on top, the
command line always at the bottom. It draws the model (ground/console/model.py) a few times a
second and sends what the command line checked (ground/console/command_line.py) through its feed.
"""

from __future__ import annotations

import shlex
import time
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.suggester import Suggester
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Footer,
    Label,
    Select,
    Static,
    TabbedContent,
    TabPane,
)

from flight import dictionary as d
from ground.client import CommandRefused
from ground.command_requests import Request, RequestError
from ground.console.command_line import complete, parse
from ground.console.feeds import ReplayFeed, StationFeed
from ground.console.model import Channel, Model, utc
from ground import fleet_view

REFRESH_S = 0.25
EVENT_ROWS = 2_000
JOBS_REFRESH_S = 2.0
FLEET_REFRESH_S = 5.0  # the fleet view, while shown
_LEVEL_STYLE = {"red": "bold white on red", "yellow": "bold black on yellow"}
_SEVERITY_STYLE = {
    d.Severity.INFO: "",
    d.Severity.LOW: "cyan",
    d.Severity.MEDIUM: "yellow",
    d.Severity.HIGH: "bold red",
}
_STATUS_STYLE = {"failed": "bold red", "refused": "bold red", "completed": "green"}


class _Completion(Suggester):
    """Completion from the dictionary, shown greyed as the operator types."""

    def __init__(self, model: Model) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.model = model

    async def get_suggestion(self, value: str) -> str | None:
        return complete(value, tuple(self.model.jobs))


class CommandInput(Input):
    """The command line; Tab completes, Up and Down walk through the lines entered before."""

    BINDINGS = [
        Binding("tab", "complete", "complete", priority=True, show=False),
        Binding("up", "history(-1)", "earlier line", show=False),
        Binding("down", "history(1)", "later line", show=False),
    ]
    HISTORY_KEPT = 200

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._at = 0  # where Up and Down are in the history (len: a new line)

    def remember(self, line: str) -> None:
        """A line entered (sent or refused): cleared from the input, kept for Up."""
        if line and (not self.history or self.history[-1] != line):
            self.history = (self.history + [line])[-self.HISTORY_KEPT :]
        self._at = len(self.history)
        self.value = ""

    def action_history(self, step: int) -> None:
        self._at = max(0, min(len(self.history), self._at + step))
        self.value = self.history[self._at] if self._at < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        app = self.app
        assert isinstance(app, Console)
        completed = complete(self.value, tuple(app.model.jobs))
        if completed is not None:
            self.value = completed
            self.cursor_position = len(completed)


class Confirm(ModalScreen[bool]):
    """Asks before a hazardous command goes up."""

    BINDINGS = [("y", "answer(True)", "send"), ("n,escape", "answer(False)", "cancel")]

    def __init__(self, request: Request) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Label(f"{self.request.describe()} is HAZARDOUS.", id="question")
            yield Label("Send it? y: send, n: cancel")
            with Horizontal():
                yield Button("Send", variant="error", id="yes")
                yield Button("Cancel", variant="primary", id="no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class Console(App):
    """The operator console."""

    TITLE = "payload console"
    CSS = """
    #status { height: 2; background: $boost; padding: 0 1; }
    #message { height: 1; padding: 0 1; color: $text-muted; }
    #bottom { dock: bottom; height: auto; }
    #event-filter { height: 3; }
    #event-filter Select { width: 24; }
    #jobs-help { height: 1; color: $text-muted; }
    Confirm { align: center middle; }
    #confirm { width: 60; height: 9; border: thick $error; padding: 1 2; background: $surface; }
    """
    BINDINGS = [
        Binding("ctrl+q", "quit", "quit"),
        Binding("f1", "show('telemetry')", "telemetry"),
        Binding("f2", "show('events')", "events"),
        Binding("f3", "show('commands')", "commands"),
        Binding("f4", "show('jobs')", "jobs"),
        Binding("f5", "show('files')", "files"),
        Binding("f6", "show('fleet')", "fleet"),
        Binding("escape", "command_line", "command line", show=False),
    ]

    def __init__(self, model: Model, feed: StationFeed | ReplayFeed) -> None:
        super().__init__()
        self.model = model
        self.feed = feed
        feed.say = self.say
        self.messages: list[str] = []
        self._shown: dict[str, tuple[str, str]] = {}
        self._drawn: dict[str, Any] = {}  # what each list view was drawn from
        self._events_shown = 0
        self._events_filter: tuple[int, str] = (0, "")
        self._jobs_asked = 0.0
        self._job_events = 0

    # --- layout
    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with TabbedContent(initial="telemetry"):
            with TabPane("Telemetry [F1]", id="telemetry"):
                with TabbedContent(id="pages"):
                    for page in self.model.pages:
                        with TabPane(page.title(), id=f"page-{page}"):
                            yield DataTable(id=f"table-{page}", cursor_type="row")
            with TabPane("Events [F2]", id="events"):
                with Horizontal(id="event-filter"):
                    yield Select(
                        [(f"{s.name} and above", int(s)) for s in d.Severity],
                        value=int(d.Severity.INFO),
                        allow_blank=False,
                        id="severity",
                    )
                    yield Input(placeholder="search events", id="search")
                yield DataTable(id="event-log", cursor_type="row")
            with TabPane("Commands [F3]", id="commands"):
                yield DataTable(id="command-log", cursor_type="row")
            with TabPane("Jobs [F4]", id="jobs"):
                yield Static(
                    "arrows: select  c: cancel  +/-: priority  r: refresh  "
                    "Esc: back to the command line (submit FILE there)",
                    id="jobs-help",
                )
                yield DataTable(id="job-table", cursor_type="row")
            with TabPane("Files [F5]", id="files"):
                yield DataTable(id="file-table", cursor_type="row")
            with TabPane("Fleet [F6]", id="fleet"):
                yield DataTable(id="fleet-table", cursor_type="row")
                yield Static(id="broker")
                yield DataTable(id="fleet-jobs", cursor_type="row")
        with Vertical(id="bottom"):
            yield Static(id="message")
            yield CommandInput(
                placeholder="PING, CANCEL_JOB job_id=..., submit FILE, fleet submit FILE, "
                "upload FILE (Tab completes, Up: earlier lines)",
                suggester=_Completion(self.model),
                id="command",
            )
        yield Footer()

    @property
    def main(self) -> Screen:
        """The console's own screen (a confirmation may be on top of it)."""
        return self.screen_stack[0]

    def on_mount(self) -> None:
        for page, channels in self.model.pages.items():
            table = self.main.query_one(f"#table-{page}", DataTable)
            table.add_column("channel", key="channel")
            table.add_column("value", key="value", width=24)
            table.add_column("on board (UTC)", key="time", width=20)
            table.add_column("description", key="about")
            for c in channels:
                table.add_row(c.field.name, "-", "-", c.field.description, key=c.key)
        self.main.query_one("#event-log", DataTable).add_columns(
            "on board (UTC)", "severity", "event", "details"
        )
        self.main.query_one("#command-log", DataTable).add_columns(
            "sent (UTC)", "command", "status"
        )
        self.main.query_one("#job-table", DataTable).add_columns(
            "job", "state", "priority", "progress", "exit", "started (UTC)", "ended (UTC)"
        )
        self.main.query_one("#file-table", DataTable).add_columns(
            "file", "direction", "octets", "state", "check", "time (UTC)"
        )
        self.main.query_one("#fleet-table", DataTable).add_columns(*fleet_view.COLUMNS)
        self.main.query_one("#fleet-jobs", DataTable).add_columns(*fleet_view.JOB_COLUMNS)
        self.set_interval(FLEET_REFRESH_S, self._refresh_fleet)
        self.main.query_one("#command", CommandInput).focus()
        self.run_feed()
        self.set_interval(REFRESH_S, self.redraw)
        self.redraw()

    @work(exclusive=True, group="feed")
    async def run_feed(self) -> None:
        await self.feed.run()

    # --- messages
    def say(self, line: str) -> None:
        """One line for the operator, under the tabs."""
        self.messages.append(line)
        if self.is_mounted:
            self.main.query_one("#message", Static).update(f"{utc(time.time())}  {line}")

    # --- drawing
    def redraw(self) -> None:
        """Draw what changed since the last time."""
        if not self.main.query("#status"):
            return  # the app is exiting and its widgets are already gone
        self._status()
        pages = self.main.query_one("#pages", TabbedContent)
        active = (pages.active or "").removeprefix("page-")
        if active in self.model.pages:
            self._channels(active)
        if self.model.events_seen != self._events_shown:
            self._events()
        m = self.model
        for view, source, draw in (
            ("commands", m.versions["commands"], self._commands),
            ("jobs", (m.versions["jobs"], m.housekeeping("job_progress_pct")), self._jobs),
            ("files", m.versions["files"], self._files),
            ("fleet", (m.versions["fleet"], m.job_events), self._refresh_fleet),
        ):
            if self._drawn.get(view) != source:
                self._drawn[view] = source
                draw()
        self._ask_for_jobs()

    def _status(self) -> None:
        m = self.model
        link = {True: "space link UP", False: "space link DOWN", None: "space link ?"}[m.link_up]
        line = (
            f"UTC {utc(time.time())}  |  {m.station}  |  {link}  |  {m.window()}  |  "
            f"authority {m.authority or 'free'}  |  COP-1 {m.cop1 or '?'}\n"
            f"on board {utc(m.last_onboard)}  |  packets {m.packets}  |  events {m.events_seen}"
        )
        self.main.query_one("#status", Static).update(line)

    def _channels(self, page: str) -> None:
        """Redraw the channels on screen whose text or colour changed."""
        table = self.main.query_one(f"#table-{page}", DataTable)
        first = max(0, int(table.scroll_y) - 1)  # rows are one line; the header is one more
        for c in self.model.pages[page][first : first + table.size.height + 1]:
            text, style = self._cell(c)
            if self._shown.get(c.key) != (text, style):
                self._shown[c.key] = (text, style)
                table.update_cell(c.key, "value", Text(text, style=style))
                table.update_cell(c.key, "time", utc(c.onboard))

    def _cell(self, channel: Channel) -> tuple[str, str]:
        text = channel.text()
        style = _LEVEL_STYLE.get(channel.level() or "", "")
        if channel.value is not None and self.model.stale(channel):
            return f"{text} (stale)", f"dim {style}".strip()
        return text, style

    def _events(self) -> None:
        table = self.main.query_one("#event-log", DataTable)
        severity = self.main.query_one("#severity", Select).value
        search = self.main.query_one("#search", Input).value.strip().lower()
        wanted = (int(severity) if isinstance(severity, int) else 1, search)
        events = self.model.events
        new = self.model.events_seen - self._events_shown
        if wanted != self._events_filter or new > len(events):
            table.clear()
            self._events_filter = wanted
            new = len(events)
        self._events_shown = self.model.events_seen
        for e in list(events)[len(events) - new :] if new else []:
            if e.severity < wanted[0]:
                continue
            if search and search not in f"{e.name} {e.text}".lower():
                continue
            table.add_row(
                utc(e.onboard),
                Text(e.severity.name, style=_SEVERITY_STYLE[e.severity]),
                e.name,
                e.text,
            )
        while table.row_count > EVENT_ROWS:
            table.remove_row(next(iter(table.rows)))
        if new:
            table.move_cursor(row=table.row_count - 1)

    @on(Select.Changed, "#severity")
    @on(Input.Changed, "#search")
    def _filter_changed(self) -> None:
        self._events()

    def _commands(self) -> None:
        table = self.main.query_one("#command-log", DataTable)
        table.clear()
        for entry in self.model.commands.values():
            shown = Request(entry.name, entry.args).describe()
            style = _STATUS_STYLE.get(entry.status, "")
            table.add_row(utc(entry.sent), shown, Text(entry.describe(), style=style))
        if table.row_count:
            table.move_cursor(row=table.row_count - 1)

    def _jobs(self) -> None:
        table = self.main.query_one("#job-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        running = self.model.housekeeping("job_progress_pct")  # per cent, the running job's
        for job_id, job in sorted(self.model.jobs.items()):
            state = job.get("state", job.get("event", "?"))
            fraction = job.get("progress")  # JOB_LIST: a fraction of the work, 0 to 1
            percent = None if fraction is None else round(100 * fraction)
            if percent is None and state == "RUNNING":
                percent = running
            table.add_row(
                job_id,
                state,
                _blank(job.get("priority")),
                "" if percent is None else f"{percent} %",
                _blank(job.get("exit_code")),
                utc(job.get("started_at")) if job.get("started_at") else "-",
                utc(job.get("ended_at")) if job.get("ended_at") else "-",
                key=job_id,
            )
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))

    def _files(self) -> None:
        table = self.main.query_one("#file-table", DataTable)
        table.clear()
        for name, f in sorted(self.model.files.items(), key=lambda kv: kv[1]["time"]):
            table.add_row(
                name, f["direction"], _blank(f["size"]), f["state"], f["check"], utc(f["time"])
            )

    def _ask_for_jobs(self) -> None:
        """A job's state changed (an event said so): ask for the list, at most every 2 s."""
        seen = self.model.job_events
        if seen == self._job_events or time.monotonic() - self._jobs_asked < JOBS_REFRESH_S:
            return
        self._job_events = seen
        self._refresh_jobs()

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "jobs":
            self._refresh_jobs()
        if event.pane.id == "fleet":
            self._refresh_fleet()

    @work(exclusive=True, group="fleet")
    async def _refresh_fleet(self) -> None:
        """The fleet view and the fleet job broker's jobs, asked of the station while it is
        shown (a replay has no station), with the broker's latest lines."""
        if self.main.query_one(TabbedContent).active != "fleet":
            return
        client = self.feed.client
        if client is None:
            self.say("the fleet view needs a live station")
            return
        try:
            fleet, broker = await client.fleet_status_and_broker()
            jobs = await client.fleet_jobs()
        except CommandRefused as exc:
            self.say(f"fleet not refreshed: {exc}")
            return
        table = self.main.query_one("#fleet-table", DataTable)
        table.clear()
        for craft in fleet:
            table.add_row(*fleet_view.fleet_row(craft), key=str(craft["scid"]))
        said = "\n".join(self.model.broker_said)
        self.main.query_one("#broker", Static).update(
            fleet_view.describe_broker(broker) + (f"\n{said}" if said else "")
        )
        table = self.main.query_one("#fleet-jobs", DataTable)
        table.clear()
        for job in jobs:
            table.add_row(*fleet_view.job_row(job), key=job["job_id"])

    @work(group="jobs")
    async def _refresh_jobs(self) -> None:
        client = self.feed.client
        if client is None:
            return
        self._jobs_asked = time.monotonic()
        try:
            await client.send("REPORT_JOBS")
        except CommandRefused as exc:  # the station refused or went away
            self.say(f"jobs not refreshed: {exc}")

    # --- commanding
    @on(Input.Submitted, "#command")
    def _typed(self, event: Input.Submitted) -> None:
        line = event.value.strip()
        command = self.main.query_one("#command", CommandInput)
        command.remember(line)  # sent or refused, the input is clear for the next line
        try:
            request = parse(line)
        except RequestError as exc:
            self.say(f"{exc} (Up brings the line back)")
            return
        self.submit(request)

    def submit(self, request: Request) -> None:
        """Send a checked request, asking first if it is hazardous."""
        if not request.hazardous:
            self._send(request)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._send(request)
            else:
                self.say(f"{request.describe()}: not sent")

        self.push_screen(Confirm(request), answered)

    @work(group="send")
    async def _send(self, request: Request) -> None:
        try:
            await self.feed.send(request)
        except RequestError as exc:
            self.say(str(exc))
            return
        self.say(f"sent {request.describe()}")

    # --- jobs view keys
    def on_key(self, event: events.Key) -> None:
        tabs = self.main.query_one(TabbedContent)
        if self.screen is not self.main or tabs.active != "jobs":
            return
        if self.focused is self.main.query_one("#command"):
            return
        table = self.main.query_one("#job-table", DataTable)
        if event.key == "r":
            self._refresh_jobs()
        if not table.row_count or event.key not in ("c", "plus", "minus"):
            return
        job_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        if event.key == "c":
            line = f"CANCEL_JOB job_id={shlex.quote(job_id)}"
        else:
            current = self.model.jobs.get(job_id, {}).get("priority") or 0
            priority = max(0, min(255, int(current) + (10 if event.key == "plus" else -10)))
            line = f"REPRIORITISE_JOB job_id={shlex.quote(job_id)} priority={priority}"
        try:
            self.submit(parse(line))
        except RequestError as exc:
            self.say(str(exc))

    def action_show(self, tab: str) -> None:
        """Show a view; the jobs view takes the keys (its table has the focus), the others
        leave them to the command line."""
        self.main.query_one(TabbedContent).active = tab
        if tab == "jobs":
            self.main.query_one("#job-table", DataTable).focus()
        else:
            self.action_command_line()

    def action_command_line(self) -> None:
        """Type on the command line again."""
        self.main.query_one("#command", CommandInput).focus()


def _blank(value: Any) -> str:
    return "" if value is None else str(value)
