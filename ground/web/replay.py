"""Replay of an archived interval into one page, with pause and seek: the archive's packets of the
interval (every kind, events too) go to the page at a chosen speed of their on-board pace, in the
form live ones take, so that every view shows the interval as it was lived; the page's live
packets are held back meanwhile. Alarms are judged on live packets only.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Callable
from typing import Any

from ground.web.history import History

MAX_PACKETS = 200_000  # of one interval: a day of housekeeping and its events
POSITION_EVERY = 20  # packets between the position reports to the page


class ReplayError(ValueError):
    """A replay request that cannot be done; the message says why."""


class Replay:
    """One page's replay."""

    def __init__(self, history: History, send: Callable[[dict[str, Any]], None]) -> None:
        self.history = history
        self.send = send
        self.packets: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.index = 0
        self.speed = 1.0
        self._task: asyncio.Task | None = None

    @property
    def active(self) -> bool:
        """Whether a replay is loaded (playing or paused): live packets are held back."""
        return bool(self.packets)

    async def play(self, start_ms: float, end_ms: float, speed: float) -> None:
        if not (0 < speed <= 10_000 and start_ms < end_ms):
            raise ReplayError("a replay needs from before to, and a speed above 0 (at most 10 000)")
        packets = await self.history.run(self.history.interval, start_ms, end_ms, MAX_PACKETS)
        self.stop()
        if not packets:
            raise ReplayError("the archive holds nothing in that interval")
        self.packets, self.times = packets, [p["t"] for p in packets]
        self.index, self.speed = 0, speed
        self._report("playing")
        self._run()

    def pause(self) -> None:
        self._halt()
        self._report("paused")

    def resume(self) -> None:
        if self.active and self._task is None:
            self._report("playing")
            self._run()

    def seek(self, to_ms: float) -> None:
        """Go on from the first packet at or after ``to_ms`` (paused stays paused)."""
        if not self.active:
            return
        playing = self._task is not None
        self._halt()
        self.index = min(bisect.bisect_left(self.times, to_ms), len(self.packets) - 1)
        self._report("playing" if playing else "paused")
        if playing:
            self._run()

    def stop(self) -> None:
        """Back to live."""
        was = self.active
        self._halt()
        self.packets, self.times, self.index = [], [], 0
        if was:
            self.send({"op": "replay", "state": "stopped"})

    def _run(self) -> None:
        self._task = asyncio.ensure_future(self._play())

    def _halt(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _report(self, state: str) -> None:
        position = self.times[self.index] if self.packets else None
        self.send({"op": "replay", "state": state, "position": position, "speed": self.speed,
                   "from": self.times[0] if self.times else None,
                   "to": self.times[-1] if self.times else None})  # fmt: skip

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        wall0, t0 = loop.time(), self.times[self.index]
        while self.index < len(self.packets):
            packet = self.packets[self.index]
            due = wall0 + (packet["t"] - t0) / 1000 / self.speed
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            self.send({"op": "tm", **packet})
            self.index += 1
            if self.index % POSITION_EVERY == 0:
                self._report("playing")
        self._task = None
        self.index = len(self.packets) - 1
        self._report("ended")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
