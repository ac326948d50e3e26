"""The bus clock: the payload's only clock, in real time (``speed`` bus seconds a wall second) or
in lockstep, where each tick waits for the housekeeping that answers it before the second is
announced, so that runs of a seed are the same. A scenario sets breakpoints (until), holds the
clock while a command is in flight (hold), and waits in bench time (within). Ticks no answer came
for are counted here. The buses of a constellation share one ConstellationClock: in lockstep no
bus sends a second's tick until every bus has announced the second before it."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

ANSWER_TIMEOUT_S = 10.0  # wall seconds a lockstep tick waits for its housekeeping
NOISY_ANSWER_TIMEOUT_S = 1.0  # the same on a line with bit errors, where answers get lost
SILENT_STREAK = 5  # lockstep: unanswered ticks in a row after which the clock stops waiting


class BusTimeout(Exception):
    """A bench-time deadline passed."""


class ConstellationClock:
    """The one clock of a constellation's buses in lockstep: a bus waits before each tick until
    every bus still running has announced the second before it, so that they all step through
    bus time together, a second at a time, however long any one of them takes."""

    def __init__(self) -> None:
        self.members: set[BusClock] = set()
        self._changed = asyncio.Event()

    def join(self, clock: BusClock) -> None:
        """Make ``clock`` step with the others."""
        self.members.add(clock)
        clock.shared = self

    def leave(self, clock: BusClock) -> None:
        """``clock`` stops (its run ended): the others no longer wait for it."""
        self.members.discard(clock)
        self.changed()

    def changed(self) -> None:
        """A member announced a second (or left): waiters look again."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def behind(self) -> float:
        """The latest second every member is done with: announced, and its scenario no longer
        acting in it (a clock held or paused is still in its second)."""
        return min((m.announced - (not m.running) for m in self.members), default=math.inf)

    async def reached(self, t: float) -> None:
        """Return once every member has announced ``t``: with one of them held at ``t``, the
        others go no further (turn), so the whole constellation then stands at that second."""
        while min((m.announced for m in self.members), default=math.inf) < t:
            await self._changed.wait()

    async def turn(self, clock: BusClock) -> None:
        """Return once no member is behind ``clock``'s last second."""
        while self.behind() < clock.time:
            await self._changed.wait()


class BusClock:
    """Bus time. ``tick`` sends a second's tick (whether the payload can answer it); in lockstep
    ``answered`` waits for its answer (given the damaged-frame count before the tick) and
    ``settle`` lets the rest of the bench catch up before the second is announced."""

    def __init__(
        self,
        start_time: float,
        tick: Callable[[], bool],
        answered: Callable[[float, int], Awaitable[None]],
        damaged_frames: Callable[[], int],
        noisy: Callable[[], bool],
        settle: Callable[[], Awaitable[None]],
    ) -> None:
        self.time = start_time  # of the last tick sent
        self.announced = start_time  # the last second announced to waiters
        self.ticks = 0
        self.lockstep = False  # set before the clock starts
        self.answer_timeout_s = ANSWER_TIMEOUT_S  # shorter where the payload is killed on purpose
        self._tick = tick
        self._answered = answered
        self._damaged_frames = damaged_frames
        self._noisy = noisy
        self._settle = settle
        self.ticks_unanswered = 0
        self.unanswered_streak = 0
        self.longest_unanswered_streak = 0  # consecutive answerable ticks not answered: a stall
        self.answer_lag_max_s = 0.0  # real time: the most bus seconds a tick waited for its answer
        # lockstep: the spans (first second, last second or None) in which the payload was
        # silent and the clock went on without waiting for its answers
        self.silences: list[list[float | None]] = []
        self._awaiting: deque[float] = deque()  # real time: answerable ticks not yet answered
        self._damaged_at_hk = 0  # real time: damaged frames from the payload at the last answer
        self._breakpoints: set[float] = set()
        self._running = asyncio.Event()
        self._running.set()
        self.holds = 0  # commands in flight under hold()
        self._clock = asyncio.Condition()
        self.shared: ConstellationClock | None = None  # a constellation's one clock

    def advance(self) -> None:
        """One second on (the tick of it is being sent)."""
        self.time += 1.0
        self.ticks += 1

    async def run(self, speed: float | None) -> None:
        """Tick forever: ``speed`` bus seconds per wall second, or lockstep when None: each tick
        waits for the housekeeping that answers it (unless none can come), and only then is the
        second announced to the scenario, so a timeline step never overtakes its tick."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            await self._run(speed, loop, t0)
        finally:
            if self.shared is not None:
                self.shared.leave(self)

    async def _run(self, speed: float | None, loop: asyncio.AbstractEventLoop, t0: float) -> None:
        while True:
            await self._running.wait()
            if self.shared is not None and speed is None:
                await self.shared.turn(self)
                if not self._running.is_set():  # held or paused while it waited
                    continue
            damaged = self._damaged_frames()
            answerable = self._tick()
            if speed is not None and answerable:
                self._awaiting.append(self.time)
            if speed is None:
                if answerable and self.unanswered_streak >= SILENT_STREAK:
                    self._unanswered()  # silent: not waited for, until it answers again
                elif answerable:
                    await self._await_answer(damaged)
                await self._settle()
                reached = {t for t in self._breakpoints if t <= self.time}
                if reached:  # pause here: the scenario acts, then resumes the clock
                    self._breakpoints -= reached
                    self._running.clear()
                await self._announce()
            else:
                await self._announce()
                await asyncio.sleep(max(0.0, t0 + self.ticks / speed - loop.time()))

    async def _announce(self) -> None:
        """Tell waiters the bus second of the last tick: only now, not when the tick is sent,
        may they act on it (in lockstep, after it was answered)."""
        self.announced = self.time
        async with self._clock:
            self._clock.notify_all()
        if self.shared is not None:
            self.shared.changed()

    async def _await_answer(self, damaged: int) -> None:
        try:
            await asyncio.wait_for(
                self._answered(self.time, damaged),
                NOISY_ANSWER_TIMEOUT_S if self._noisy() else self.answer_timeout_s,
            )
            self.unanswered_streak = 0
        except TimeoutError:
            self._unanswered()

    def _unanswered(self) -> None:
        self.ticks_unanswered += 1
        self.unanswered_streak += 1
        self.longest_unanswered_streak = max(self.longest_unanswered_streak, self.unanswered_streak)
        if self.lockstep and self.unanswered_streak == SILENT_STREAK:
            self.silences.append([self.time, None])

    def heard(self, hk_time: float) -> None:
        """Housekeeping of ``hk_time`` arrived: in lockstep, a silent payload answers again and
        the clock waits for its answers again; in real time, answered_until."""
        if not self.lockstep:
            self.answered_until(hk_time)
            return
        if self.silences and self.silences[-1][1] is None:
            self.silences[-1][1] = self.time
        self.unanswered_streak = 0

    def answered_until(self, hk_time: float) -> None:
        """Real time: housekeeping of ``hk_time`` answers that tick; an answerable tick before it
        that got no housekeeping of its own is unanswered (the payload answers in order), unless
        a frame from the payload arrived damaged meanwhile (the answer may be the one lost, as in
        lockstep)."""
        self.answer_lag_max_s = max(self.answer_lag_max_s, self.time - hk_time)
        damaged = self._damaged_frames()
        excused = damaged - self._damaged_at_hk
        self._damaged_at_hk = damaged
        while self._awaiting and self._awaiting[0] <= hk_time:
            if self._awaiting.popleft() == hk_time:
                self.unanswered_streak = 0
            elif excused:
                excused -= 1
            else:
                self._unanswered()

    @property
    def running(self) -> bool:
        """Whether the clock may go on (not paused, held or at a breakpoint)."""
        return self._running.is_set()

    def _run_on(self) -> None:
        self._running.set()
        if self.shared is not None:
            self.shared.changed()

    def let_run(self) -> None:
        """A command's round trip takes bus time through a radio with a delay: while a command
        is held, its uplink lets the clock run."""
        if self.holds:
            self._run_on()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """In lockstep, stop bus time while the body runs (a command in flight lands on the same
        bus second in every run); in real time, time goes on as on a real bus. Through a radio
        with a delay, a rate or losses, the clock runs again once the command has reached the
        radio (it is stamped with the held second, so runs stay the same)."""
        if not self.lockstep:
            yield
            return
        was_running = self._running.is_set()
        self._running.clear()
        self.holds += 1
        try:
            yield
        finally:
            self.holds -= 1
            if was_running:
                self._run_on()
            else:  # paused before: paused again (a radio round trip may have let it run)
                self._running.clear()

    async def until(self, bus_time: float) -> None:
        """Wait until bus time reaches ``bus_time``. In lockstep the clock pauses there, its tick
        answered, until resume(): what the caller does next happens at that bus second."""
        if self.lockstep and bus_time > self.announced:
            self._breakpoints.add(bus_time)
        async with self._clock:
            await self._clock.wait_for(lambda: self.announced >= bus_time)

    def resume(self) -> None:
        """Let the clock run on after until() or pause() stopped it."""
        self._run_on()

    async def pause(self) -> None:
        """In lockstep, stop the clock (until resume()); returns once a tick in flight has been
        answered and announced, so bus time stands still from then on."""
        if not self.lockstep:
            return
        self._running.clear()
        async with self._clock:
            await self._clock.wait_for(lambda: self.announced >= self.time)

    async def within(self, awaitable: Awaitable[T], bus_seconds: float) -> T:
        """Await something, giving up (BusTimeout) once bus time has advanced ``bus_seconds``."""
        deadline = self.announced + bus_seconds
        task = asyncio.ensure_future(awaitable)

        async def expiry() -> None:
            async with self._clock:
                await self._clock.wait_for(lambda: self.announced >= deadline)

        timer = asyncio.ensure_future(expiry())
        done, _ = await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            timer.cancel()
            return task.result()
        task.cancel()
        raise BusTimeout(f"not within {bus_seconds:g} bus seconds")
