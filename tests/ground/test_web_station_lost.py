"""A lost station, in a real browser: the page says so at once, reconnects by itself when the
station is back, and the archive has lost nothing of what came before. A station process is
killed (SIGKILL) and started again on its port, with ``python -m ground web`` and Debian's
Chromium (headless, Playwright) in front of it."""

from __future__ import annotations

import asyncio
import re
import sys

from playwright.async_api import async_playwright, expect

from flight.security.keys import provision_keys
from tests.ground.test_archive import hk
from tests.ground.test_cli import free_port, ground
from tests.ground.test_station import Radio
from tests.ground.web_site import CHROMIUM, CHROMIUM_ARGS, NAVIGATE, ROUTED, WAIT_MS


async def station(tmp, port: int, link: int, keys, users) -> asyncio.subprocess.Process:
    port_file = tmp / "station.port"
    port_file.unlink(missing_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ground", "station", "--listen", f"127.0.0.1:{port}",
        "--port-file", str(port_file), "--link", f"127.0.0.1:{link}", "--keys", str(keys),
        "--state", str(tmp / "state"), "--users", str(users),
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    while not port_file.exists():
        assert proc.returncode is None, "the station did not start"
        await asyncio.sleep(0.05)
    return proc


def test_the_page_shows_a_lost_station_and_reconnects_and_the_archive_keeps_all(tmp_path):
    users = tmp_path / "users.sqlite"
    added = ground("users", "add", "ana", "--role", "operator", "--users", str(users),
                   cwd=tmp_path, stdin="ana-pw\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    keys = provision_keys(tmp_path / "keys").ground
    seen = {}

    async def main():
        radio = Radio()
        link, port = await radio.serve(), free_port()
        first = await station(tmp_path, port, link, keys, users)
        await asyncio.wait_for(radio.connected.wait(), 30)
        web_port = tmp_path / "web.port"
        web = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ground", "web", "--station", f"127.0.0.1:{port}", "--listen",
            "127.0.0.1:0", "--port-file", str(web_port), "--users", str(users), "--state",
            str(tmp_path / "state"), stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        while not web_port.exists():
            await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{web_port.read_text().strip()}"
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page()
            await page.goto(url + "/")
            await page.fill("#name", "ana")
            await page.fill("#password", "ana-pw")
            await page.click("#submit")
            indicator = page.locator(".c-indicator").filter(has_text="authority")
            await expect(indicator).to_contain_text("station connected", timeout=WAIT_MS)
            await expect(indicator).to_contain_text("COP-1 161: active", timeout=WAIT_MS)
            await page.wait_for_function(ROUTED, arg=None, timeout=WAIT_MS)
            await page.evaluate(NAVIGATE, "#/browse/payload:root/payload:HOUSEKEEPING")
            uptime = page.locator('tr[data-field="uptime_s"] td.c-packet-value')
            await expect(uptime).to_have_text("-", timeout=WAIT_MS)  # the view is up, empty
            radio.downlink("HOUSEKEEPING", hk(uptime_s=4242, battery_soc=0.9))
            await expect(uptime).to_have_text("4242", timeout=WAIT_MS)
            archived = "fetch('/api/latest?packet=HOUSEKEEPING').then((r) => r.json())"
            while ((await page.evaluate(archived)) or {"v": {}})["v"].get("uptime_s") != 4242:
                await asyncio.sleep(0.05)
            first.kill()  # once the archive has it: a kill loses at most its last 0.2 s
            await first.wait()
            await expect(indicator).to_contain_text("STATION LOST", timeout=WAIT_MS)
            stale = re.compile(r"\bis-stale\b")  # the values shown are marked stale
            await expect(page.locator(".c-packet")).to_have_class(stale, timeout=WAIT_MS)
            radio.connected.clear()
            again = await station(tmp_path, port, link, keys, users)
            await expect(indicator).to_contain_text("station connected", timeout=WAIT_MS)
            seen["latest"] = await page.evaluate(archived)
            await browser.close()
        again.terminate()
        await again.wait()
        web.terminate()
        await web.wait()
        radio.server.close()

    asyncio.run(main())
    assert seen["latest"]["v"]["uptime_s"] == 4242  # what came before the loss is archived
