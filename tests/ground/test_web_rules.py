"""The web server enforces every rule itself, whatever a page does: requests sent straight to its
HTTP and WebSocket endpoints (no browser) without a session, with a forged cookie, as a viewer,
without the CSRF token and from another site are all refused; a wrong password says nothing of
which part was wrong and is rate-limited; bad commands are refused with what is wrong; the
commands that do go up are archived under the account that sent them, and none of the others.
A real bench, a real station, ``python -m ground web`` as a process of its own."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import aiohttp

from hil.bench import BenchConfig, run_bench
from tests.ground.test_cli import ground
from tests.ground.web_site import PASSWORDS, on_the_web


class Visitor:
    """An HTTP client that keeps the session cookie by hand (it is Secure; this is http)."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.cookie = ""
        self.csrf = ""

    async def call(self, method: str, path: str, body=None, *, csrf=True, origin=None, cookie=None):
        headers = {"Cookie": cookie if cookie is not None else self.cookie}
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        if origin is not None:
            headers["Origin"] = origin
        async with self.http.request(method, self.url + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    async def log_in(self, name: str, password: str | None = None):
        async with self.http.post(
            self.url + "/api/login",
            json={"name": name, "password": password or PASSWORDS[name]},
        ) as r:
            body = await r.json()
            if r.status == 200:
                morsel = r.cookies["gs_session"]
                self.cookie, self.csrf = f"gs_session={morsel.value}", body["csrf"]
                flags = {k: morsel[k] for k in ("secure", "httponly", "samesite")}
                return r.status, body, flags
            return r.status, body, None

    async def socket_status(self, origin: str) -> int:
        try:
            ws = await self.http.ws_connect(
                self.url + "/ws", headers={"Cookie": self.cookie, "Origin": origin}
            )
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        first = json.loads((await ws.receive(timeout=30)).data)
        await ws.close()
        return 101 if first and first[0]["op"] == "status" else 0


def test_every_rule_is_the_servers(tmp_path):
    seen = {}

    async def visit(site):
        async with aiohttp.ClientSession() as http:
            await rules(site.url, http, seen)

    async def scenario(bench):
        await on_the_web(bench, seen, visit)

    report = asyncio.run(run_bench("web-rules", scenario, BenchConfig(tmp_path / "out", speed=5)))
    assert report.passed, report.to_json()["error"]
    stranger, forged = seen["stranger"], seen["forged"]
    for answers in (stranger, forged):
        assert answers["tree"] == (401, {"error": "not logged in"})
        assert answers["command"][0] == 401 and answers["socket"] == 401
    assert seen["wrong password"] == seen["no such account"] == (401, "wrong name or password")
    assert seen["limited"][0] == 401 and seen["limited"][1].startswith("too many failed attempts")
    assert seen["ana flags"] == {"secure": True, "httponly": True, "samesite": "Strict"}
    assert seen["viewer command"] == (403, {"error": "NOOP needs the operator role (commanding); "
                                                      "this is a viewer"})  # fmt: skip
    assert seen["viewer authority"][0] == 403
    assert seen["viewer upload"] == (403, {"error": "an upload needs the operator role"})
    assert seen["not multipart"][0] == 400
    assert seen["not multipart"][1]["error"].startswith("not a multipart upload")
    assert seen["no csrf"] == seen["wrong csrf"] == (403, {"error": "missing or wrong CSRF token"})
    assert seen["foreign origin"] == (403, {"error": "the request comes from another site"})
    assert seen["socket from elsewhere"] == 403 and seen["socket"] == 101
    assert seen["unknown"] == (400, {"error": "no command 'FROB'"})
    assert seen["bad argument"][0] == 400 and "priority" in seen["bad argument"][1]["error"]
    assert seen["unconfirmed"] == (403, {"error": "CANCEL_JOB is hazardous: it goes up only "
                                                  "when confirmed"})  # fmt: skip
    assert seen["noop"][0] == 200 and len(seen["noop"][1]["request_id"]) == 8
    assert seen["after logout"][0] == 401
    db = sqlite3.connect(tmp_path / "out" / "ground-state" / "archive.sqlite")
    sent = db.execute("SELECT name, account FROM commands ORDER BY id").fetchall()
    assert ("NOOP", "ana") in sent and all(account != "vic" for _, account in sent)
    tokens = sqlite3.connect(tmp_path / "out" / "ground-accounts" / "users.sqlite").execute(
        "SELECT account, revoked IS NOT NULL FROM tokens WHERE label = 'web'"
    )
    assert ("ana", 1) in tokens.fetchall()  # its web session's station token ended with it
    assert "Traceback" not in seen["web log"]
    # the web server's own audit trail, beside the station's: listed together, each verified
    state = str(tmp_path / "out" / "ground-state")
    listed = ground("archive", "query", "--audit", "--json", "--state", state, cwd=tmp_path)
    web = [
        (r["account"], r["action"], r["outcome"].split(":")[0])
        for r in json.loads(listed.stdout)
        if r["source"] == "web"
    ]
    for wanted in [
        (None, "login", "refused"),
        ("ana", "login", "ok"),
        ("vic", "command", "refused"),
        ("ana", "/api/command", "refused"),
        ("ana", "logout", "ok"),
    ]:
        assert wanted in web, (wanted, web)
    verified = ground("archive", "verify", "--state", state, cwd=tmp_path)
    assert verified.returncode == 0 and "web audit trail holds" in verified.stdout


async def rules(url: str, http: aiohttp.ClientSession, seen: dict) -> None:
    own = url  # the site's own origin
    stranger = Visitor(http, url)
    forged = Visitor(http, url)
    forged.cookie, forged.csrf = "gs_session=" + "A" * 43, "B" * 43
    for name, who in (("stranger", stranger), ("forged", forged)):
        seen[name] = {
            "tree": await who.call("GET", "/api/tree"),
            "command": await who.call("POST", "/api/command", {"name": "NOOP"}, origin=own),
            "socket": await who.socket_status(own),
        }
    status, body, _ = await Visitor(http, url).log_in("ana", "not her password")
    seen["wrong password"] = (status, body["error"])
    status, body, _ = await Visitor(http, url).log_in("nobody", "whatever")
    seen["no such account"] = (status, body["error"])
    for _ in range(5):
        await Visitor(http, url).log_in("root", "wrong")
    status, body, _ = await Visitor(http, url).log_in("root")  # right, but too late
    seen["limited"] = (status, body["error"])

    vic = Visitor(http, url)
    assert (await vic.log_in("vic"))[0] == 200  # another name from the host is not locked out
    seen["viewer command"] = await vic.call("POST", "/api/command", {"name": "NOOP"}, origin=own)
    seen["viewer authority"] = await vic.call("POST", "/api/authority", {"action": "request"})
    seen["viewer upload"] = await vic.call("POST", "/api/upload", {"name": "x"})

    ana = Visitor(http, url)
    _, _, seen["ana flags"] = await ana.log_in("ana")
    noop = {"name": "NOOP", "args": {}}
    seen["no csrf"] = await ana.call("POST", "/api/command", noop, csrf=False)
    real = ana.csrf
    ana.csrf = "x" * 43
    seen["wrong csrf"] = await ana.call("POST", "/api/command", noop)
    ana.csrf = real
    seen["foreign origin"] = await ana.call(
        "POST", "/api/command", noop, origin="http://evil.example"
    )
    seen["socket from elsewhere"] = await ana.socket_status("http://evil.example")
    seen["socket"] = await ana.socket_status(own)
    seen["unknown"] = await ana.call("POST", "/api/command", {"name": "FROB"})
    for _ in range(100):  # the account's station link comes up with its first session
        seen["not multipart"] = await ana.call("POST", "/api/upload", {"name": "x"})
        if seen["not multipart"][0] != 503:
            break
        await asyncio.sleep(0.1)
    seen["bad argument"] = await ana.call(
        "POST",
        "/api/command",
        {"name": "REPRIORITISE_JOB", "args": {"job_id": "x", "priority": 300}},
    )
    seen["unconfirmed"] = await ana.call(
        "POST", "/api/command", {"name": "CANCEL_JOB", "args": {"job_id": "x"}}
    )
    for _ in range(100):  # the account's station link comes up with its first session
        seen["noop"] = await ana.call("POST", "/api/command", noop)
        if seen["noop"][0] != 503:
            break
        await asyncio.sleep(0.1)
    cookie = ana.cookie
    await ana.call("POST", "/api/logout", {})
    # the logout is answered once the account's station link is closed and its token revoked
    seen["after logout"] = await ana.call("GET", "/api/tree", cookie=cookie)
