"""The web mission control's server (aiohttp): Open MCT and the project's plugins as static files,
the login, the JSON API the plugins call, and one WebSocket per page for live telemetry, the
station's state and command authority.

Every rule is the server's to enforce, whatever the page does: no session, no answer (401); a
state-changing request without the session's CSRF token, or with a foreign Origin, is refused
(403); a WebSocket from a foreign Origin is refused; what an account may command is checked here
(ground/accounts/privileges.py) and again by the station, which audits it under the account.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from flight import dictionary as d
from ground.accounts.privileges import command_refusal, required_role
from ground.accounts.store import AccountStore, Role
from ground.client import CommandRefused
from ground.command_requests import RequestError, check_command
from ground import fleet_view
from ground.console.command_line import parse_command
from ground.archive.schema import table_ddl
from ground.audit import COLUMNS as AUDIT_COLUMNS, AuditTrail
from ground.web.alarms import AlarmBook
from ground.web.history import History, HistoryError
from ground.web.objects import AccountObjects, ObjectError
from ground.web.packets import plain
from ground.web.replay import Replay, ReplayError
from ground.web.sessions import COOKIE, CSRF_HEADER, LoginRefused, WebSession, WebSessions
from ground.web.station_links import StationLinks
from ground.web.tree import object_tree

log = logging.getLogger("ground.web")
MAX_UPLOAD_OCTETS = 256 << 20
MAX_BUCKETS = 100_000  # of a plot's min-max history
COMMANDS_SHOWN = 500  # of the station's command history, on opening the page
PAGE_BACKLOG = 4 << 20  # octets a page may leave unread before it is disconnected
_SESSION = "session"  # the request key of its WebSession


def assets() -> Path:
    """Where the packaged Open MCT is; FileNotFoundError saying how to get it."""
    path = Path(str(resources.files("ground.web") / "openmct"))
    if not (path / "openmct.js").is_file():
        raise FileNotFoundError(
            "Open MCT is not installed with this package: build it with pip (pip install "
            "'orbital-gpu-payload[ground]', or make install), which fetches it pinned"
        )
    return path


class WebServer:
    """The server's parts and its request handlers."""

    def __init__(
        self,
        accounts: AccountStore,
        links: StationLinks,
        history: History,
        objects: AccountObjects,
        spool: Path,
    ) -> None:
        self.accounts = accounts
        self.sessions = WebSessions(accounts)
        self.links = links
        self.history = history
        self.objects = objects
        self.tree = object_tree()
        objects.db.execute(table_ddl("audit", AUDIT_COLUMNS, "sqlite"))  # its own trail
        self.audit = AuditTrail(objects.db)
        self.spool = spool  # uploads wait here until the station has sent them
        self.alarms = AlarmBook(links.broadcast)
        links.observers.append(self.alarms.observe)
        self.counters = dict.fromkeys(
            ("login_failed", "refused_no_session", "refused_csrf", "refused_origin",
             "internal_errors"), 0
        )  # fmt: skip

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=1 << 20)
        static = Path(str(resources.files("ground.web") / "static"))
        app.router.add_get("/", self._index)
        app.router.add_get("/login", self._login_page)
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/logout", self._logout)
        app.router.add_get("/api/session", self._session)
        app.router.add_get("/api/tree", self._tree)
        app.router.add_get("/api/commands", self._commands)
        app.router.add_get("/api/history", self._history)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/latest", self._latest)
        app.router.add_get("/api/raw", self._raw)
        app.router.add_get("/api/command-history", self._command_history)
        app.router.add_post("/api/command", self._command)
        app.router.add_post("/api/parse", self._parse)
        app.router.add_post("/api/authority", self._authority)
        app.router.add_get("/api/files", self._files)
        app.router.add_get("/api/transfers", self._transfers)
        app.router.add_post("/api/upload", self._upload)
        app.router.add_get("/api/fleet", self._fleet)
        app.router.add_post("/api/fleet/submit", self._fleet_submit)
        app.router.add_get("/api/alarms", self._alarms)
        app.router.add_post("/api/alarms/{action}", self._alarm_action)
        app.router.add_get("/api/objects/{key}", self._get_object)
        app.router.add_put("/api/objects/{key}", self._put_object)
        app.router.add_get("/ws", self._socket)
        app.router.add_static("/openmct/", assets())
        app.router.add_static("/static/", static)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, app: web.Application) -> None:
        await self.links.close_all()

    # --- the guard every request passes
    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        public = path in ("/login", "/api/login") or path.startswith(("/openmct/", "/static/"))
        if not public:
            session = self.sessions.get(request.cookies.get(COOKIE))
            if session is None:
                self.counters["refused_no_session"] += 1
                if path == "/":
                    raise web.HTTPFound("/login")
                if request.method not in ("GET", "HEAD"):
                    self._audit(request, None, path, "refused: not logged in")
                return _error(401, "not logged in")
            request[_SESSION] = session
        if request.method not in ("GET", "HEAD"):
            who = None if public else request[_SESSION].account.name
            if not self._same_origin(request):
                self.counters["refused_origin"] += 1
                self._audit(request, who, path, "refused: another site's request")
                return _error(403, "the request comes from another site")
            if not public and not request[_SESSION].csrf_ok(request.headers.get(CSRF_HEADER)):
                self.counters["refused_csrf"] += 1
                self._audit(request, who, path, "refused: missing or wrong CSRF token")
                return _error(403, "missing or wrong CSRF token")
        try:
            response = await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            self.counters["internal_errors"] += 1
            log.exception("a request to %s raised", path)
            response = _error(500, "internal error (logged)")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store" if path.startswith("/api/") else "no-cache"
        return response

    def _audit(
        self, request: web.Request, account: str | None, action: str, outcome: str, **detail: Any
    ) -> None:
        """A row of the web server's audit trail (docs/security.md)."""
        peer = f"{request.remote} (web)"
        self.audit.record(time.time(), account, peer, action, outcome, **detail)

    def _same_origin(self, request: web.Request) -> bool:
        """An Origin header, when there is one, names this site."""
        origin = request.headers.get("Origin")
        return origin is None or origin == f"{request.scheme}://{request.host}"

    # --- pages and the session
    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(Path(str(resources.files("ground.web") / "static" / "index.html")))

    async def _login_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(Path(str(resources.files("ground.web") / "static" / "login.html")))

    async def _login(self, request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        name, password = body.get("name"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            return _error(400, "a login needs a name and a password")
        host = request.remote or "unknown"
        try:
            session = await self.sessions.login(name, password, host)
        except LoginRefused as exc:
            self.counters["login_failed"] += 1
            log.warning("web login refused for %r from %s: %s", name[:64], host, exc)
            self._audit(request, None, "login", f"refused: {exc}", name=name[:64])
            return _error(401, str(exc))
        self._audit(request, session.account.name, "login", "ok")
        self.links.open(session.account.name)
        response = web.json_response(self._who(session))
        response.set_cookie(COOKIE, session.session_id, secure=True, httponly=True,
                            samesite="Strict", path="/")  # fmt: skip
        log.info("web login: %s from %s", session.account.name, host)
        return response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        session = request[_SESSION]
        self.sessions.end(session)
        self._audit(request, session.account.name, "logout", "ok")
        if not self.sessions.of(session.account.name):
            await self.links.close(session.account.name)
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    def _who(self, session: WebSession) -> dict[str, Any]:
        link = self.links.links.get(session.account.name)
        return {
            "account": session.account.name,
            "role": session.account.role.label,
            "csrf": session.csrf,
            "status": link.state if link is not None else {},
        }

    async def _session(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self._who(request[_SESSION]))

    # --- telemetry
    async def _tree(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.tree)

    async def _history(self, request: web.Request) -> web.StreamResponse:
        packet, _, field = request.query.get("key", "").partition(".")
        try:
            start, end = _range(request)
            if request.query.get("strategy") == "minmax":  # a plot: its envelope, size buckets
                size = int(request.query.get("size", "1000"))
                if not 1 <= size <= MAX_BUCKETS:
                    raise ValueError(f"size: 1 to {MAX_BUCKETS}")
                query = self.history.envelope
                rows = await self.history.run(query, packet, field, start, end, size)
            else:
                rows = await self.history.run(self.history.series, packet, field, start, end)
        except (HistoryError, ValueError) as exc:
            return _error(400, str(exc))
        return web.json_response(rows)

    async def _latest(self, request: web.Request) -> web.StreamResponse:
        return await self._newest(request, self.history.latest)

    async def _raw(self, request: web.Request) -> web.StreamResponse:
        return await self._newest(request, self.history.raw)

    async def _newest(self, request: web.Request, query: Any) -> web.StreamResponse:
        """The newest packet named by ?packet=, as ``query`` gives it (null: none archived)."""
        try:
            packet = await self.history.run(query, request.query.get("packet", ""))
        except HistoryError as exc:
            return _error(400, str(exc))
        return web.json_response(packet)

    async def _command_history(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await self.history.run(self.history.commands, COMMANDS_SHOWN))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        try:
            start, end = _range(request)
        except ValueError as exc:
            return _error(400, str(exc))
        return web.json_response(await self.history.run(self.history.events, start, end))

    # --- commanding
    async def _commands(self, request: web.Request) -> web.StreamResponse:
        role = request[_SESSION].account.role
        out = []
        for c in d.COMMANDS:
            if c.source != d.SOURCE_GROUND:
                continue
            out.append({
                "name": c.name,
                "description": c.description,
                "hazardous": c.hazardous,
                "role": required_role(c).label,
                "allowed": command_refusal(role, c, True) is None,
                "args": [
                    {"name": f.name, "type": f.type, "unit": f.unit,
                     "description": f.description, "minimum": f.bounds()[0],
                     "maximum": f.bounds()[1],
                     "enum": [f.enum[k] for k in sorted(f.enum)]}
                    for f in c.args
                ],
            })  # fmt: skip
        return web.json_response(out)

    async def _command(self, request: web.Request) -> web.StreamResponse:
        session = request[_SESSION]
        body = await _json(request)
        name, args = body.get("name"), body.get("args", {})
        if not isinstance(name, str) or not isinstance(args, dict):
            return _error(400, "a command needs a name and an args map")
        try:
            checked = check_command(name, _octets_from_hex(name, args))
        except RequestError as exc:
            return _error(400, str(exc))
        refusal = command_refusal(session.account.role, d.COMMANDS_BY_NAME[name],
                                  body.get("confirm") is True)  # fmt: skip
        if refusal is not None:
            self._audit(request, session.account.name, "command", f"refused: {refusal}",
                        name=name)  # fmt: skip
            return _error(403, refusal)
        client = self._client(session)
        if client is None:
            return _error(503, "no connection to the station: nothing sent")
        try:
            request_id = await client.send(checked.name, checked.args, body.get("confirm") is True)
        except CommandRefused as exc:
            return _error(409, str(exc))
        return web.json_response({"request_id": request_id.hex()})

    async def _parse(self, request: web.Request) -> web.StreamResponse:
        """A command stack's line checked as the terminal console checks what is typed."""
        line = (await _json(request)).get("line")
        if not isinstance(line, str):
            return _error(400, "a line of text")
        try:
            checked = parse_command(line)
        except RequestError as exc:
            return _error(400, str(exc))
        return web.json_response(
            {"name": checked.name, "args": plain(checked.args), "hazardous": checked.hazardous}
        )

    async def _authority(self, request: web.Request) -> web.StreamResponse:
        session = request[_SESSION]
        action = (await _json(request)).get("action")
        if action not in ("show", "request", "release", "take"):
            return _error(400, "action: show, request, release or take")
        refused = action != "show" and self._not_operator(request, "authority", "command authority")
        if refused:
            return refused
        client = self._client(session)
        if client is None:
            return _error(503, "no connection to the station")
        try:
            holder = await client.authority_action(action)
        except CommandRefused as exc:
            return _error(409, str(exc))
        return web.json_response({"holder": holder})

    async def _files(self, request: web.Request) -> web.StreamResponse:
        return await self._ask_station(request, "files")

    async def _transfers(self, request: web.Request) -> web.StreamResponse:
        return await self._ask_station(request, "transfers")

    async def _ask_station(self, request: web.Request, question: str) -> web.StreamResponse:
        """The station's answer to one of its list requests (files, transfers)."""
        client = self._client(request[_SESSION])
        if client is None:
            return _error(503, "no connection to the station")
        return web.json_response(await getattr(client, question)())

    async def _fleet(self, request: web.Request) -> web.StreamResponse:
        """The station's fleet and its fleet job broker's jobs, as the terminal console's fleet
        view shows them (ground/fleet_view.py): columns and rows of text."""
        client = self._client(request[_SESSION])
        if client is None:
            return _error(503, "no connection to the station")
        try:
            fleet, broker = await client.fleet_status_and_broker()
            jobs = await client.fleet_jobs()
        except CommandRefused as exc:
            return _error(409, str(exc))
        return web.json_response({
            "columns": fleet_view.COLUMNS,
            "spacecraft": [fleet_view.fleet_row(c) for c in fleet],
            "broker": fleet_view.describe_broker(broker),
            "job_columns": fleet_view.JOB_COLUMNS,
            "jobs": [fleet_view.job_row(j) for j in jobs],
        })  # fmt: skip

    async def _fleet_submit(self, request: web.Request) -> web.StreamResponse:
        """A job manifest for the fleet job broker to place; where it went, in one line."""
        refused = self._not_operator(request, "fleet_submit", "a fleet job")
        if refused:
            return refused
        manifest = (await _json(request)).get("manifest")
        if not isinstance(manifest, dict):
            return _error(400, "a manifest is a map")
        client = self._client(request[_SESSION])
        if client is None:
            return _error(503, "no connection to the station: nothing submitted")
        try:
            job = await client.fleet_submit(manifest)
        except CommandRefused as exc:
            return _error(409, str(exc))
        return web.json_response({"placed": fleet_view.describe_placement(job)})

    def _not_operator(self, request: web.Request, action: str, what: str) -> web.Response | None:
        """A 403 (audited) when the session's account is not an operator; None when it is."""
        session = request[_SESSION]
        if session.account.role >= Role.OPERATOR:
            return None
        self._audit(request, session.account.name, action, "refused: not an operator")
        return _error(403, f"{what} needs the operator role")

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """A file from the page, spooled on this host, sent up by the station (CFDP class 2):
        multipart fields ``name`` (its name on board) then ``file``."""
        session = request[_SESSION]
        refused = self._not_operator(request, "upload", "an upload")
        if refused:
            return refused
        client = self._client(session)
        if client is None:
            return _error(503, "no connection to the station: nothing sent")
        try:
            dest, spooled = await self._spool(request)
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            seq = await client.upload(str(spooled), dest)
        except CommandRefused as exc:
            spooled.unlink(missing_ok=True)
            return _error(409, str(exc))
        return web.json_response({"seq_num": seq, "name": dest})

    async def _spool(self, request: web.Request) -> tuple[str, Path]:
        """The upload's name on board and where its octets now lie; ValueError saying what is
        wrong with the request."""
        try:
            reader = await request.multipart()
            field = await reader.next()
            if field is None or field.name != "name":
                raise ValueError("an upload is a name, then a file")
            dest = (await field.read(decode=True)).decode("utf-8", "strict").strip()
            field = await reader.next()
            if field is None or field.name != "file":
                raise ValueError("an upload is a name, then a file")
        except (AssertionError, UnicodeDecodeError, KeyError) as exc:
            raise ValueError(f"not a multipart upload: {exc}") from None
        self.spool.mkdir(parents=True, exist_ok=True)
        spooled = self.spool / secrets.token_hex(16)
        written = 0
        with open(spooled, "wb") as out:
            while chunk := await field.read_chunk(1 << 20):
                written += len(chunk)
                if written > MAX_UPLOAD_OCTETS:
                    out.close()
                    spooled.unlink(missing_ok=True)
                    raise ValueError(f"an upload is at most {MAX_UPLOAD_OCTETS} octets")
                out.write(chunk)
        return dest, spooled

    async def _alarms(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.alarms.listing())

    async def _alarm_action(self, request: web.Request) -> web.StreamResponse:
        session = request[_SESSION]
        refused = self._not_operator(request, "alarm", "acknowledging or shelving an alarm")
        if refused:
            return refused
        body = await _json(request)
        key, action = body.get("key"), request.match_info["action"]
        if action == "acknowledge":
            done = self.alarms.acknowledge(str(key), session.account.name)
        elif action == "shelve":
            minutes = body.get("minutes", 30)
            if not isinstance(minutes, (int, float)) or not 0 < minutes <= 24 * 60:
                return _error(400, "minutes: more than 0, at most a day")
            done = self.alarms.shelve(str(key), minutes)
        else:
            return _error(404, f"no alarm action {action!r}")
        if not done:
            return _error(404, f"no alarm {key!r}")
        self._audit(request, session.account.name, "alarm", action, key=key)
        return web.json_response({"ok": True})

    def _client(self, session: WebSession) -> Any:
        link = self.links.links.get(session.account.name)
        return link.client if link is not None else None

    # --- what each account saves
    async def _get_object(self, request: web.Request) -> web.StreamResponse:
        obj = self.objects.get(request[_SESSION].account.name, request.match_info["key"])
        return web.json_response(obj) if obj is not None else _error(404, "no such object")

    async def _put_object(self, request: web.Request) -> web.StreamResponse:
        try:
            self.objects.put(request[_SESSION].account.name, request.match_info["key"],
                             await _json(request))  # fmt: skip
        except ObjectError as exc:
            return _error(400, str(exc))
        return web.json_response({"ok": True})

    # --- live
    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Origin") != f"{request.scheme}://{request.host}":
            self.counters["refused_origin"] += 1
            return _error(403, "the WebSocket comes from another site")
        session = request[_SESSION]
        socket = web.WebSocketResponse(heartbeat=20)
        await socket.prepare(request)
        link = self.links.open(session.account.name)
        queue: asyncio.Queue[str] = asyncio.Queue()

        def send(message: dict[str, Any]) -> None:
            queue.put_nowait(json.dumps(message))

        replay = Replay(self.history, send)

        def sink(message: dict[str, Any]) -> None:  # live: held back while replaying
            if not (replay.active and message.get("op") == "tm"):
                send(message)

        link.sinks.add(sink)
        sink({"op": "status", **link.state})
        sender = asyncio.create_task(_pump(queue, socket))
        try:
            async for message in socket:
                if message.type == WSMsgType.ERROR:
                    break
                if message.type == WSMsgType.TEXT:
                    await _replay_request(replay, message.data, send)
        finally:
            link.sinks.discard(sink)
            sender.cancel()
            await replay.close()
        return socket


async def _replay_request(replay: Replay, text: str, send: Any) -> None:
    """A page's replay request: play FROM TO SPEED, pause, resume, seek TO, stop."""
    try:
        request = json.loads(text)
        action = request.get("action")
        if action == "play":
            await replay.play(float(request["from"]), float(request["to"]), float(request["speed"]))
        elif action == "seek":
            replay.seek(float(request["to"]))
        elif action in ("pause", "resume", "stop"):
            getattr(replay, action)()
        else:
            raise ReplayError(f"no replay action {action!r}")
    except (ReplayError, KeyError, TypeError, ValueError, AttributeError) as exc:
        send({"op": "replay", "state": "refused", "message": str(exc)})


async def _pump(queue: asyncio.Queue[str], socket: web.WebSocketResponse) -> None:
    """Send what the page is to get; a page that leaves too much unread is closed."""
    while True:
        first = await queue.get()
        batch = [first]
        while not queue.empty() and len(batch) < 256:
            batch.append(queue.get_nowait())
        if queue.qsize() * 200 > PAGE_BACKLOG:
            await socket.close(message=b"too far behind")
            return
        await socket.send_str("[" + ",".join(batch) + "]")


def _octets_from_hex(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """JSON has no octets: a bytes argument comes as hex; RequestError if it is not."""
    command = d.COMMANDS_BY_NAME.get(name)
    out = dict(args)
    for f in command.args if command is not None else ():
        if f.type == "bytes" and isinstance(out.get(f.name), str):
            try:
                out[f.name] = bytes.fromhex(out[f.name])
            except ValueError:
                raise RequestError(f"{name}: {f.name}: not hexadecimal octets") from None
    return out


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _range(request: web.Request) -> tuple[float, float]:
    try:
        start, end = float(request.query["start"]), float(request.query["end"])
    except (KeyError, ValueError):
        raise ValueError("start and end: ms since 1970 (UTC)") from None
    if not start <= end:
        raise ValueError("start is later than end")
    return start, end


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
