"""The web mission control in a real browser: Debian's Chromium, headless, driven by Playwright,
against a running bench (real station, real controller, real pty) and ``python -m ground web``
as a process of its own. One operator logs in, sees live housekeeping with its limit colours,
acknowledges its alarm, reads a raw packet, filters events by severity, opens a plot over
archived and live data, sends NOOP and sees it complete, confirms a hazardous
command, is stopped before sending a bad argument, submits a job and watches it complete in the
jobs view, sees its result come down verified in the files view, and submits a job to the fleet
job broker in the fleet view and sees it placed and completed.
Screenshots are saved with the test's output (its tmp_path/screenshots)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from flight.protocol.framing import frame
from hil.bench import BenchConfig, run_bench
from hil.default_scenario import forged_noop
from tests.ground.web_site import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NAVIGATE,
    PASSWORDS,
    ROUTED,
    WAIT_MS,
    on_the_web,
    shots_dir,
)

JOB = {"id": "web-1", "command": ["hash-chain", "--iterations", "1000"]}
FLEET_JOB = {"id": "web-fleet-1", "command": ["hash-chain", "--iterations", "1000"]}
UPLOAD = Path(__file__)  # any file will do: this one


def log_in(page, url: str, name: str) -> None:
    page.goto(url + "/")
    page.fill("#name", name)
    page.fill("#password", PASSWORDS[name])
    page.click("#submit")
    expect(page.locator(".c-indicator").filter(has_text="authority")).to_contain_text(
        f"{name} (", ignore_case=True, timeout=WAIT_MS
    )


def send(page, command: str, **args: str) -> None:
    page.select_option(".c-cmd-form select[name=command]", command)
    for name, value in args.items():
        page.fill(f".c-cmd-args [name={name}]", value)
    page.click(".c-cmd-send")


def browse(page, path: str, root: str = "payload:root") -> None:
    """Show the object at the end of path (below root) in Open MCT, and wait until it is shown."""
    page.wait_for_function(ROUTED, arg=None, timeout=WAIT_MS)
    page.evaluate(NAVIGATE, f"#/browse/{root}/{path}")
    page.wait_for_function(ROUTED, arg=path.rsplit("/", 1)[-1], timeout=WAIT_MS)


def operator_session(url: str, shots) -> dict:
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        log_in(page, url, "ana")
        page.screenshot(path=shots / "1-logged-in.png")

        # live housekeeping: a counter above its yellow limit is yellow, the uptime moves
        browse(page, "payload:HOUSEKEEPING")
        bad_mac = page.locator('tr[data-field="tc_auth_bad_mac"] td.c-packet-value')
        expect(bad_mac).to_have_class("c-packet-value is-limit--upr is-limit--yellow",
                                      timeout=WAIT_MS)  # fmt: skip
        uptime = page.locator('tr[data-field="uptime_s"] td.c-packet-value')
        first = int(uptime.inner_text())
        expect(uptime).not_to_have_text(str(first), timeout=WAIT_MS)
        seen["times"] = page.locator(".c-packet-times").inner_text()
        page.screenshot(path=shots / "2-housekeeping-limits.png")

        # the alarm list: the counter's alarm, acknowledged; it stays while the value is out
        browse(page, "payload:alarms")
        alarm = page.locator('.c-alarms-table tr[data-alarm="HOUSEKEEPING.tc_auth_bad_mac"]')
        expect(alarm).to_contain_text("unacknowledged", timeout=WAIT_MS)
        alarm.get_by_role("button", name="Acknowledge").click()
        expect(alarm).to_contain_text("acknowledged by ana", timeout=WAIT_MS)
        page.screenshot(path=shots / "2b-alarms.png")
        # the raw packet view: octets in hex with offsets, headers field by field
        browse(page, "payload:HOUSEKEEPING")
        page.get_by_title("Open the View Switcher Menu").click()
        page.get_by_role("menuitem", name="Raw packet").click()
        expect(page.locator(".c-raw pre")).to_contain_text("0000  08 ", timeout=WAIT_MS)
        expect(page.locator(".c-raw-table").first).to_contain_text("APID", timeout=WAIT_MS)
        page.screenshot(path=shots / "2c-raw-packet.png")
        # the events table's severity filter reaches the provider
        seen["events"] = page.evaluate(
            """async () => {
                const events = await openmct.objects.get({namespace: 'payload', key: 'events'});
                const bounds = openmct.time.getBounds();
                const all = (await openmct.telemetry.request(events, bounds))
                    .map((e) => e.severity);
                const only = async (severity) => (await openmct.telemetry.request(events,
                    {...bounds, filters: {severity: {equals: [severity]}}})).map((e) => e.severity);
                return {all, info: await only(1), high: await only(4)};
            }"""
        )

        # a plot: the archive's history, then live values
        with page.expect_response(lambda r: "/api/history" in r.url, timeout=WAIT_MS) as answer:
            browse(page, "payload:HOUSEKEEPING/payload:HOUSEKEEPING.uptime_s")
        seen["history"] = answer.value.json()
        seen["live"] = page.evaluate(
            """async () => {
                const id = {namespace: 'payload', key: 'HOUSEKEEPING.uptime_s'};
                const point = await openmct.objects.get(id);
                return new Promise((resolve) => {
                    const stop = openmct.telemetry.subscribe(point, (d) => { stop(); resolve(d); });
                });
            }"""
        )
        expect(page.locator(".gl-plot canvas").first).to_be_visible(timeout=WAIT_MS)
        page.wait_for_timeout(1500)
        page.screenshot(path=shots / "3-plot.png")

        # commanding: NOOP completes
        browse(page, "payload:commanding")
        send(page, "NOOP")
        history = page.locator(".c-cmd-history tbody tr")
        expect(history.first).to_contain_text("completed", timeout=WAIT_MS)
        # a bad argument is stopped in the page: nothing goes
        send(page, "REPRIORITISE_JOB", job_id="x", priority="300")
        expect(page.locator(".c-cmd-message")).to_have_text(
            "priority: above the maximum 255", timeout=WAIT_MS
        )
        seen["rows after the bad argument"] = history.count()
        # a hazardous command asks first, and goes once confirmed
        send(page, "CANCEL_JOB", job_id="nope")
        dialog = page.locator(".c-overlay")
        expect(dialog).to_contain_text("HAZARDOUS", timeout=WAIT_MS)
        page.screenshot(path=shots / "4-hazardous-confirmation.png")
        dialog.get_by_role("button", name="Send").click()
        expect(history.first).to_contain_text("JOB_UNKNOWN", timeout=WAIT_MS)
        # a command stack, saved under the account: stepped through, each line verified before
        # the next; the failing line stops it
        page.evaluate(
            """async () => {
                const stack = {identifier: {namespace: 'mine', key: 'checkout'}, name: 'Checkout',
                    type: 'payload.command-stack', location: 'mine:mine',
                    lines: 'NOOP\\nPING\\nREPRIORITISE_JOB job_id=nope priority=5\\nNOOP'};
                await openmct.objects.save(stack);
                const mine = await openmct.objects.get({namespace: 'mine', key: 'mine'});
                openmct.composition.get(mine).add(stack);
            }"""
        )
        browse(page, "mine:checkout", root="mine:mine")
        steps = page.locator(".c-stack-table tr")
        for n, state in enumerate(("completed", "completed", "FAILED")):
            page.click(".c-stack-step")
            expect(steps.nth(n)).to_contain_text(state, timeout=WAIT_MS)
        page.click(".c-stack-step")  # stays at the failed line: sent again, fails again
        expect(steps.nth(2)).to_contain_text("JOB_UNKNOWN", timeout=WAIT_MS)
        seen["stack"] = [steps.nth(n).inner_text() for n in range(4)]
        page.screenshot(path=shots / "4b-command-stack.png")
        browse(page, "payload:commanding")
        # a job: submitted, and complete
        send(page, "SUBMIT_JOB", manifest=json.dumps(JOB))
        expect(history.first).to_contain_text("completed", timeout=WAIT_MS)
        page.screenshot(path=shots / "5-commands.png")
        # the jobs view: the job, complete; the files view: its result down and verified
        browse(page, "payload:jobs")
        page.click(".c-jobs-refresh")
        expect(page.locator('.c-jobs-table tr[data-job="web-1"]')).to_contain_text(
            "COMPLETED", timeout=WAIT_MS
        )
        page.screenshot(path=shots / "6-jobs.png")
        browse(page, "payload:files")
        result = page.locator('.c-files-table tr[data-file="web-1/stdout.log"]')
        expect(result).to_have_class("is-verified", timeout=WAIT_MS)
        expect(page.locator(".c-transfers-table")).to_be_visible(timeout=WAIT_MS)
        # an upload from the page: sent up by the station (the test checks it arrived on board)
        page.set_input_files(".c-upload [name=file]", str(UPLOAD))
        page.fill(".c-upload [name=name]", "inputs/from-the-web.bin")
        page.click(".c-upload-send")
        expect(page.locator(".c-upload-message")).to_contain_text(
            "inputs/from-the-web.bin: queued (CFDP transaction", timeout=WAIT_MS
        )
        page.screenshot(path=shots / "7-files.png")
        # the fleet: the station's one spacecraft, and a job for the broker, placed and done
        browse(page, "payload:fleet")
        expect(page.locator('.c-fleet-table tr[data-key="payload"]')).to_contain_text(
            "up", timeout=WAIT_MS
        )
        page.fill(".c-fleet-manifest", json.dumps(FLEET_JOB))
        page.click(".c-fleet-submit")
        expect(page.locator(".c-fleet-message")).to_contain_text(
            "fleet job web-fleet-1 placed on payload", timeout=WAIT_MS
        )
        expect(page.locator('.c-fleet-jobs tr[data-key="web-fleet-1"]')).to_contain_text(
            "completed", timeout=WAIT_MS
        )
        expect(page.locator(".c-fleet-broker")).to_contain_text("1 completed", timeout=WAIT_MS)
        page.screenshot(path=shots / "7a-fleet.png")
        # pass planning: the coming contact and eclipse from the bus's predictions
        browse(page, "payload:timeline")
        plan = page.locator(".c-timeline-next")
        expect(plan).to_contain_text("link window: now", timeout=WAIT_MS)  # no stations: always up
        expect(plan).to_contain_text("eclipse", timeout=WAIT_MS)
        expect(page.locator(".c-timeline-svg rect.is-link").first).to_be_attached(timeout=WAIT_MS)
        page.screenshot(path=shots / "7b-pass-planning.png")
        # replay of the archive so far, in place of live: play, pause, seek, resume, stop
        browse(page, "payload:replay")
        page.fill(".c-replay-form [name=from]", "2026-01-01T00:00:00Z")
        page.fill(".c-replay-form [name=to]", "2026-01-01T01:00:00Z")
        page.select_option(".c-replay-form [name=speed]", "1")
        page.click(".c-replay-play")
        state = page.locator(".c-replay-state")
        expect(state).to_contain_text("PLAYING at 2026-01-01T00:00:0", timeout=WAIT_MS)
        expect(page.locator(".c-indicator").filter(has_text="authority")).to_contain_text(
            "REPLAY (not live)", timeout=WAIT_MS
        )
        page.click(".c-replay-pause")
        expect(state).to_contain_text("PAUSED", timeout=WAIT_MS)
        seek = page.locator(".c-replay-seek")
        target = int(seek.get_attribute("min")) + 20_000
        seek.evaluate(f"(e) => {{ e.value = {target}; e.dispatchEvent(new Event('change')); }}")
        expect(state).to_contain_text("PAUSED at 2026-01-01T00:00:2", timeout=WAIT_MS)
        page.click(".c-replay-resume")
        expect(state).to_contain_text("PLAYING", timeout=WAIT_MS)
        page.screenshot(path=shots / "8-replay.png")
        page.click(".c-replay-stop")
        expect(state).to_have_text("live", timeout=WAIT_MS)
        seen["errors"] = errors
        browser.close()
    return seen


def test_an_operator_in_chromium_against_a_running_bench(tmp_path):
    shots = shots_dir(tmp_path)
    seen = {}

    async def visit(site):
        site.bench.bus.serial.write_line(frame(forged_noop()))  # tc_auth_bad_mac: yellow
        seen.update(await asyncio.to_thread(operator_session, site.url, shots))

    async def scenario(bench):
        await on_the_web(bench, seen, visit)

    report = asyncio.run(run_bench("web", scenario, BenchConfig(tmp_path / "out", speed=5)))
    assert report.passed, report.to_json()["error"]
    assert seen["errors"] == []
    on_board = tmp_path / "out" / "state" / "files" / "inputs" / "from-the-web.bin"
    assert on_board.read_bytes() == UPLOAD.read_bytes()
    assert seen["times"].startswith("on board 2026-") and "received on the ground" in seen["times"]
    history = seen["history"]  # columns: on-board time, ground receipt time, value
    assert history["t"] and len(history["t"]) == len(history["ert"]) == len(history["value"])
    assert seen["live"]["t"] >= history["t"][-1]  # live values after the archived ones
    assert seen["rows after the bad argument"] == 1  # only the NOOP went
    events = seen["events"]  # filtered by severity: every one of that severity, and no other
    assert events["all"] and events["info"] == [s for s in events["all"] if s == 1]
    assert events["high"] == [s for s in events["all"] if s == 4]
    assert "unchecked" not in seen["stack"][2] and seen["stack"][3].split("\t")[-1] == ""
    assert "Traceback" not in seen["web log"]
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-logged-in.png", "2-housekeeping-limits.png", "2b-alarms.png", "2c-raw-packet.png",
        "3-plot.png", "4-hazardous-confirmation.png", "4b-command-stack.png", "5-commands.png",
        "6-jobs.png", "7-files.png", "7a-fleet.png", "7b-pass-planning.png", "8-replay.png",
    ]  # fmt: skip
