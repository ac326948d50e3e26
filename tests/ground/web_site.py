"""A web mission control in front of a running bench, for the web tests: accounts added to the
bench's own account store (one store for the station and the web), and ``python -m ground web``
as a process of its own on a free loopback port."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

PASSWORDS = {"ana": "ana-operator-pw", "vic": "vic-viewer-pw", "root": "root-admin-pw"}
ROLES = {"ana": "operator", "vic": "viewer", "root": "admin"}
CHROMIUM = shutil.which("chromium") or "chromium"  # make test installs it (Debian's package)
WAIT_MS = 60_000
# Open MCT's router, as an in-app link moves it. Setting the page's hash from outside races the
# router: an update of its own query (the view, the time conductor) that lands before the
# hashchange event puts the old object's path back, and the navigation is lost. ROUTED(null) is
# true once the router has shown its first object (so its default navigation cannot follow ours);
# ROUTED(key) once the object shown is key.
ROUTED = """key => {
  const path = window.openmct?.router?.path;
  const shown = path?.length ? openmct.objects.makeKeyString(path[0].identifier) : undefined;
  return shown !== undefined && (key === null || shown === key);
}"""
NAVIGATE = "hash => openmct.router.navigate(hash)"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


class WebSite:
    def __init__(self, bench) -> None:  # noqa: ANN001 (hil.bench.Bench)
        self.bench = bench
        self.out = bench.config.out_dir.resolve()
        self.station = bench.station_address
        self.users = self.out / "ground-accounts" / "users.sqlite"
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self) -> None:
        for name, role in ROLES.items():
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "ground", "users", "add", name, "--role", role,
                 "--users", str(self.users)],
                input=PASSWORDS[name] + "\n", capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        port_file = self.out / "web.port"
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ground", "web", "--station", self.station,
            "--listen", "127.0.0.1:0", "--port-file", str(port_file), "--users", str(self.users),
            "--state", str(self.out / "ground-state"),
            stderr=open(self.out / "web.log", "wb"),
        )  # fmt: skip
        while not port_file.exists():
            assert self.proc.returncode is None, (self.out / "web.log").read_text()
            await asyncio.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    def log(self) -> str:
        return (self.out / "web.log").read_text()


async def on_the_web(bench, seen: dict, visit) -> None:  # noqa: ANN001
    """A bench scenario: a web site in front of the bench while ``visit(site)`` runs; its log
    in ``seen["web log"]``."""
    site = WebSite(bench)
    await site.start()
    try:
        await visit(site)
    finally:
        await site.stop()
    seen["web log"] = site.log()
    bench.check("the web session ran", True)


def shots_dir(tmp_path: Path) -> Path:
    """Where a test's screenshots go: with its output (its tmp_path)."""
    path = tmp_path / "screenshots"
    path.mkdir(exist_ok=True)
    return path
