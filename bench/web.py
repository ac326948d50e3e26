"""The web mission control's targets, in Open MCT in Debian's Chromium (headless, Playwright): a
24-hour plot, and 1 000 channels at 10 Hz live.

The plot: one housekeeping channel over 24 h of archived 1 Hz data (86 400 points), from the
archive through ``python -m ground web`` into Open MCT's plot.

Measured: (1) in one process, the history query, as the server reads the field straight from
each packet, beside the peer, decoding every packet whole with the dictionary's decoder (what the
server did before), median of 5 each, and the ratio; and the plot's query, which Open MCT's plot
makes with strategy "minmax" and size 1000: every point read, of each of 1 000 buckets the least
and the greatest kept; (2) in the browser, from the start of navigation to the plot until its
y axis shows the data's range (the points loaded and scaled) and two frames more, median of 5.

Live: a packet of 1 000 u16 channels, ten a second, down a space link (a TCP server in this
process, as the bench's radio is) to a real ground station, through ``ground web`` (both in this
process, as separate asyncio servers) to a page showing the packet's 1 000 values (the packet
view, every value redrawn with each packet). The packet is a bench-only kind added to the
dictionary in this process: the dictionary's own housekeeping has 60-odd channels.

Measured in the page, for every packet drawn: the lag from the station receiving the packet (its
ground receipt time) to the page having drawn it (the next animation frame after the view's
redraw), p50 and p99; whether a backlog grows (the median lag of the last 10 s against the first
10 s, and every packet drawn); CPU used by this process (station and web server) and by
Chromium's processes. The peer: the same page drawing 60 housekeeping channels at 1 Hz (the
dictionary's own), p99 and the ratio.

    python bench/web.py [--seconds 60] [--json FILE]

Exits 1 when the plot takes more than 2 s, or the live p99 lag passes 250 ms or a backlog
grows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from flight import dictionary as d  # noqa: E402
from flight.dictionary import TelemetryPacket  # noqa: E402
from flight.protocol.fields import Field, pack_fields  # noqa: E402
from flight.protocol.messages import encode_telemetry  # noqa: E402
from flight.protocol.packets import build_tm  # noqa: E402
from flight.security.keys import provision_keys  # noqa: E402
from flight.spacelink.profile import DEFAULT_SCID  # noqa: E402
from ground.fleet import one_spacecraft  # noqa: E402
from ground.archive import Archive  # noqa: E402
from ground.accounts.store import AccountStore, Role  # noqa: E402
from ground.web.history import History, _decoder  # noqa: E402

T0 = 1_773_964_800.0  # 2026-03-20T00:00:00Z
DAY = 86_400
TARGET_S = 2.0
FIELD = "battery_soc"  # 0.5 to 0.9 over each 90-minute orbit
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def fill(state: Path) -> None:
    archive = Archive(state / "archive.sqlite")
    base = {f.name: (min(f.enum) if f.enum else 0) for f in d.HK_FIELDS} | {"sid": d.HK_SID}
    for i in range(DAY):
        values = base | {"uptime_s": i, FIELD: 0.5 + 0.4 * ((i % 5400) / 5400)}
        data = encode_telemetry("HOUSEKEEPING", values)[1]
        raw = build_tm(d.APID_PAYLOAD, i & 0x3FFF, 3, 25, data, msg_counter=i & 0xFFFF,
                       dest_id=d.SOURCE_GROUND, time=T0 + i, time_synced=True)  # fmt: skip
        archive.packet(DEFAULT_SCID, raw, T0 + i + 0.3)
    archive.close()


def server_side(state: Path) -> dict:
    history = History(state / "archive.sqlite")
    span = (T0 * 1000, (T0 + DAY) * 1000)
    ours, peer, envelope = [], [], []
    for _ in range(5):
        t = time.perf_counter()
        points = history.series("HOUSEKEEPING", FIELD, *span)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        history.envelope("HOUSEKEEPING", FIELD, *span, 1000)
        envelope.append(time.perf_counter() - t)
        t = time.perf_counter()
        decode = _decoder("HOUSEKEEPING", FIELD)
        whole = [decode(p.raw) for p in history.archive.packets(T0, T0 + DAY, name="HOUSEKEEPING")]
        peer.append(time.perf_counter() - t)
    assert points["value"] == whole and len(whole) == DAY
    return {"points": len(whole), "history_s": statistics.median(ours),
            "decode_whole_s": statistics.median(peer),
            "envelope_s": statistics.median(envelope)}  # fmt: skip


def browser_side(state: Path, users: Path, chromium: str) -> list[float]:
    from playwright.sync_api import sync_playwright

    port_file = state / "web.port"
    web = subprocess.Popen(
        [sys.executable, "-m", "ground", "web", "--station", "127.0.0.1:1", "--listen",
         "127.0.0.1:0", "--port-file", str(port_file), "--users", str(users), "--state",
         str(state)],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while not port_file.exists():
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port_file.read_text().strip()}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url + "/")
            page.fill("#name", "bench")
            page.fill("#password", "bench-pw")
            page.click("#submit")
            page.wait_for_selector(".c-indicator", timeout=60_000)
            span = f"tc.mode=fixed&tc.startBound={int(T0 * 1000)}&tc.endBound=" \
                   f"{int((T0 + DAY) * 1000)}&tc.timeSystem=utc"  # fmt: skip
            plot = f"{url}/#/browse/payload:root/payload:HOUSEKEEPING/payload:HOUSEKEEPING.{FIELD}"
            times = []
            for _ in range(5):
                page.goto(url + "/#/browse/payload:root")
                page.wait_for_timeout(500)
                start = page.evaluate("performance.now()")
                page.goto(f"{plot}?{span}")
                page.wait_for_function(
                    """() => {
                        const labels = document.querySelectorAll('.gl-plot-tick');
                        const ticks = [...labels].map((e) => parseFloat(e.textContent))
                            .filter((v) => !isNaN(v));
                        return ticks.some((v) => v >= 0.85 && v <= 0.95) &&
                               ticks.some((v) => v >= 0.45 && v <= 0.55);
                    }""",
                    timeout=60_000,
                )
                page.evaluate(
                    "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"
                )
                times.append((page.evaluate("performance.now()") - start) / 1000)
            page.screenshot(path=str(state / "plot-24h.png"))
            browser.close()
        return times
    finally:
        web.terminate()
        web.wait(30)


CHANNELS = 1000
RATE_HZ = 10
TARGET_P99_MS = 250.0
LOAD = TelemetryPacket(
    "BENCH_LOAD", 250, 1, "bench/web.py's live load: 1 000 channels",
    tuple(Field(f"c{i:04d}", "u16") for i in range(CHANNELS)),
)  # fmt: skip
# Every redraw of the packet view sets its times line; the next frame after it is "drawn".
WATCH = """() => {
    window.lags = [];
    const line = document.querySelector('.c-packet-times');
    new MutationObserver(() => {
        const ert = Date.parse(line.textContent.split('received on the ground ')[1]);
        requestAnimationFrame(() => window.lags.push([Date.now(), Date.now() - ert]));
    }).observe(line, {childList: true, characterData: true, subtree: true});
}"""


def add_load_to_dictionary() -> None:
    d.TELEMETRY = (*d.TELEMETRY, LOAD)
    d.TELEMETRY_BY_NAME[LOAD.name] = LOAD
    d.TELEMETRY_BY_TYPE[(LOAD.service, LOAD.subtype)] = LOAD


def cpu_of(pids: list[int]) -> float:
    """CPU seconds the processes have used (user and system)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def chromium_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if "chromium" in (entry / "comm").read_text():
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def live_side(seconds: float, tmp: Path, chromium: str) -> dict:
    from aiohttp import web
    from playwright.async_api import async_playwright

    from ground.accounts.store import AccountStore, Role
    from ground.station import Station
    from hil.radio_endpoint import RadioEndpoint
    from ground.web.history import History
    from ground.web.objects import AccountObjects
    from ground.web.server import WebServer
    from ground.web.station_links import StationLinks

    add_load_to_dictionary()
    accounts = AccountStore(tmp / "users.sqlite")
    accounts.add("bench", Role.VIEWER, "bench-pw")
    radio = RadioEndpoint()  # the spacecraft end of the space link, in frames
    keys = provision_keys(tmp / "keys").ground
    station = Station(f"127.0.0.1:{await radio.serve()}", one_spacecraft(DEFAULT_SCID, keys),
                      tmp / "state", accounts=accounts)  # fmt: skip
    serving = asyncio.create_task(station.serve("127.0.0.1", 0, tmp / "station.port"))
    while not (tmp / "station.port").exists() or not radio.connected.is_set():
        await asyncio.sleep(0.02)
    address = f"127.0.0.1:{(tmp / 'station.port').read_text().strip()}"
    server = WebServer(accounts, StationLinks(address, accounts, None),
                       History(tmp / "state" / "archive.sqlite"),
                       AccountObjects(tmp / "state" / "web.sqlite"),
                       spool=tmp / "spool")  # fmt: skip
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def feed(kind: TelemetryPacket, rate: float, stop: asyncio.Event) -> int:
        n, t0 = 0, time.time()
        while not stop.is_set():
            values = {  # every value moves; enums keep to their names
                f.name: min(f.enum) if f.enum else (n + i) % 200 for i, f in enumerate(kind.fields)
            }
            data = pack_fields(kind.fields, values)
            raw = build_tm(d.APID_PAYLOAD, n & 0x3FFF, kind.service, kind.subtype, data,
                           msg_counter=n & 0xFFFF, dest_id=d.SOURCE_GROUND, time=t0 + n / rate,
                           time_synced=True)  # fmt: skip
            radio.write_frames([raw])
            n += 1
            await asyncio.sleep(max(0.0, t0 + n / rate - time.time()))
        return n

    async def measure(page, kind: TelemetryPacket, rate: float, values: dict) -> dict:
        await page.goto(f"{url}/#/browse/payload:root/payload:{kind.name}")
        stop = asyncio.Event()
        feeding = asyncio.create_task(feed(kind, rate, stop))
        await page.wait_for_selector(".c-packet-times:not(:empty)", timeout=60_000)
        await page.evaluate(WATCH)
        cpu_self, cpu_browser, wall = self_cpu(), cpu_of(chromium_pids()), time.monotonic()
        await asyncio.sleep(seconds)
        lags = await page.evaluate("window.lags")
        elapsed = time.monotonic() - wall
        cpu = {
            "ground_cpu_pct": 100 * (self_cpu() - cpu_self) / elapsed,
            "chromium_cpu_pct": 100 * (cpu_of(chromium_pids()) - cpu_browser) / elapsed,
        }
        stop.set()
        sent = await feeding
        ms = sorted(lag for _, lag in lags)
        start = lags[0][0] if lags else 0
        first = [lag for at, lag in lags if at - start < 10_000]
        last = [lag for at, lag in lags if at - start >= (seconds - 10) * 1000]
        return (
            values
            | cpu
            | {
                "packets_sent": sent,
                "packets_drawn": len(lags),
                "expected_drawn": round(seconds * rate),
                "p50_ms": statistics.median(ms),
                "p99_ms": ms[min(len(ms) - 1, int(0.99 * len(ms)))],
                "first_10s_p50_ms": statistics.median(first),
                "last_10s_p50_ms": statistics.median(last),
            }
        )

    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            await page.goto(url + "/")
            await page.fill("#name", "bench")
            await page.fill("#password", "bench-pw")
            await page.click("#submit")
            await page.wait_for_selector(".c-indicator", timeout=60_000)
            load = await measure(page, LOAD, RATE_HZ, {"channels": CHANNELS, "rate_hz": RATE_HZ})
            hk = d.TELEMETRY_BY_NAME["HOUSEKEEPING"]
            peer = await measure(page, hk, 1.0, {"channels": len(hk.fields), "rate_hz": 1})
            await page.screenshot(path=str(tmp / "live.png"))
            await browser.close()
    finally:
        await runner.cleanup()
        serving.cancel()
        await radio.close()
    return {"load": load, "peer": peer}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="of each live load")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        print("needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the station's clients, cancelled
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "plot"
        state.mkdir()
        fill(state)
        store = AccountStore(state / "users.sqlite")
        store.add("bench", Role.VIEWER, "bench-pw")
        store.close()
        plot = server_side(state)
        times = browser_side(state, state / "users.sqlite", chromium)
        (Path(tmp) / "live").mkdir()
        live = asyncio.run(live_side(args.seconds, Path(tmp) / "live", chromium))
    plot |= {"plot_draw_s": statistics.median(times), "plot_draw_runs_s": times,
             "ratio_decode_whole_to_history": plot["decode_whole_s"] / plot["history_s"],
             "target_s": TARGET_S}  # fmt: skip
    load, peer = live["load"], live["peer"]
    live["ratio_p99_load_to_peer"] = load["p99_ms"] / peer["p99_ms"]
    live["backlog_grows"] = load["last_10s_p50_ms"] > load["first_10s_p50_ms"] + 100 or (
        load["packets_drawn"] < 0.95 * load["expected_drawn"]
    )
    print(
        f"one channel over 24 h ({plot['points']} points):\n"
        f"  history query, the field read straight   {plot['history_s']:.3f} s\n"
        f"  peer: every packet decoded whole         {plot['decode_whole_s']:.3f} s "
        f"({plot['ratio_decode_whole_to_history']:.1f}x ours)\n"
        f"  the plot's min-max envelope, 1 000 buckets {plot['envelope_s']:.3f} s\n"
        f"  plot drawn in Chromium (median of 5)     {plot['plot_draw_s']:.2f} s "
        f"(target <= {TARGET_S:g} s)"
    )
    for name, r in (("1 000 channels at 10 Hz", load), ("peer: housekeeping at 1 Hz", peer)):
        print(
            f"{name}: {r['packets_drawn']} of {r['expected_drawn']} packets drawn in "
            f"{args.seconds:g} s; lag p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms; first "
            f"10 s p50 {r['first_10s_p50_ms']:.0f} ms, last 10 s {r['last_10s_p50_ms']:.0f} ms; "
            f"CPU: station and web server {r['ground_cpu_pct']:.0f} %, Chromium "
            f"{r['chromium_cpu_pct']:.0f} %"
        )
    print(f"p99 lag, load to peer: {live['ratio_p99_load_to_peer']:.2f}x; target p99 <= "
          f"{TARGET_P99_MS:g} ms and no growing backlog")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"plot": plot, "live": live}, indent=1))
    missed = []
    if plot["plot_draw_s"] > TARGET_S:
        missed.append(f"the 24 h plot took more than {TARGET_S:g} s")
    if load["p99_ms"] > TARGET_P99_MS or live["backlog_grows"]:
        missed.append("the page did not keep up with 1 000 channels at 10 Hz")
    for line in missed:
        print(f"MISSED: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
