"""A constellation's one clock: in lockstep no bus sends the tick of a second until every other
bus is done with the second before it, whether it is slow to be answered, at a breakpoint of its
scenario, or gone."""

from __future__ import annotations

import asyncio

from hil.bus_clock import SILENT_STREAK, BusClock, ConstellationClock

START = 1_000.0


class FakeBus:
    """A bus whose ticks are answered when the test says (or at once), recording, at each tick
    it sends, how far the other buses had got."""

    def __init__(self, shared: ConstellationClock, answer_at_once: bool = True) -> None:
        self.answer_at_once = answer_at_once
        self.answers = asyncio.Queue()
        self.clock = BusClock(START, self._tick, self._answered, lambda: 0, lambda: False, _none)
        self.clock.lockstep = True
        self.shared = shared
        self.seen_behind: list[tuple[float, float]] = []  # (second ticked, others' least done)
        shared.join(self.clock)

    def _tick(self) -> bool:
        self.clock.advance()
        others = [m for m in self.shared.members if m is not self.clock]
        if others:
            done = min(m.announced - (not m.running) for m in others)
            self.seen_behind.append((self.clock.time, done))
        return True

    async def _answered(self, time: float, damaged: int) -> None:
        if not self.answer_at_once:
            await self.answers.get()


async def _none() -> None:
    return None


async def _announced(clock: BusClock, second: float) -> None:
    """Wait until ``clock`` has announced ``second`` (without stopping it there, as until does)."""
    async with clock._clock:
        await clock._clock.wait_for(lambda: clock.announced >= second)


def _never_ahead(bus: FakeBus) -> bool:
    return all(second <= done + 1 for second, done in bus.seen_behind)


def test_a_slow_bus_holds_the_others_to_its_second():
    async def main() -> None:
        shared = ConstellationClock()
        fast, slow, other = FakeBus(shared), FakeBus(shared, answer_at_once=False), FakeBus(shared)
        tasks = [asyncio.create_task(b.clock.run(None)) for b in (fast, slow, other)]
        for n in range(1, 31):  # the slow bus is answered a second at a time
            await slow.answers.put(None)
            await _announced(slow.clock, START + n)
        for _ in range(50):
            await asyncio.sleep(0)
        assert fast.clock.time <= slow.clock.announced + 1
        assert other.clock.time <= slow.clock.announced + 1
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert fast.seen_behind and _never_ahead(fast) and _never_ahead(other)
        assert fast.clock.ticks >= 30 and slow.clock.ticks >= 30

    asyncio.run(main())


def test_no_bus_goes_past_a_second_another_scenario_is_still_acting_in():
    async def main() -> None:
        shared = ConstellationClock()
        buses = [FakeBus(shared) for _ in range(3)]
        tasks = [asyncio.create_task(b.clock.run(None)) for b in buses]
        acting = buses[1].clock
        await acting.until(START + 5)  # its scenario's step at second 5: the clock stops there
        for _ in range(100):
            await asyncio.sleep(0)
        assert acting.announced == START + 5 and not acting.running
        assert max(b.clock.time for b in buses) == START + 5
        acting.resume()
        await asyncio.gather(*(b.clock.until(START + 40) for b in buses))
        assert all(b.clock.announced >= START + 40 for b in buses)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert all(_never_ahead(b) for b in buses)

    asyncio.run(main())


def test_a_held_bus_finds_the_whole_constellation_at_its_second():
    async def main() -> None:
        shared = ConstellationClock()
        acting, slow = FakeBus(shared), FakeBus(shared, answer_at_once=False)
        tasks = [asyncio.create_task(b.clock.run(None)) for b in (acting, slow)]
        await acting.clock.until(START + 1)  # a step in the first second: the slow bus unanswered
        async with acting.clock.hold():
            reached = asyncio.create_task(shared.reached(acting.clock.announced))
            for _ in range(50):
                await asyncio.sleep(0)
            assert not reached.done() and slow.clock.announced < START + 1
            await slow.answers.put(None)  # the slow bus's second 1 answered
            await asyncio.wait_for(reached, 5)
            assert slow.clock.announced == START + 1
            await slow.answers.put(None)  # and, the clock held, it goes no further
            for _ in range(50):
                await asyncio.sleep(0)
            assert slow.clock.time == START + 1 and acting.clock.time == START + 1
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def test_a_bus_whose_run_ended_no_longer_holds_the_others():
    async def main() -> None:
        shared = ConstellationClock()
        stays, goes = FakeBus(shared), FakeBus(shared, answer_at_once=False)
        tasks = [asyncio.create_task(b.clock.run(None)) for b in (stays, goes)]
        for _ in range(20):
            await asyncio.sleep(0)
        assert stays.clock.time <= START + 2  # held by the unanswered tick
        tasks[1].cancel()
        await asyncio.gather(tasks[1], return_exceptions=True)
        await asyncio.wait_for(stays.clock.until(START + 100), 30)
        assert shared.members == {stays.clock}
        tasks[0].cancel()
        await asyncio.gather(tasks[0], return_exceptions=True)

    asyncio.run(main())


def test_a_silent_bus_is_no_longer_waited_for_until_it_answers_again():
    async def main() -> None:
        shared = ConstellationClock()
        talks, silent = FakeBus(shared), FakeBus(shared, answer_at_once=False)
        silent.clock.answer_timeout_s = 0.01
        tasks = [asyncio.create_task(b.clock.run(None)) for b in (talks, silent)]
        await asyncio.wait_for(talks.clock.until(START + 200), 30)  # not 200 timeouts long
        silent_ticks = silent.clock.ticks_unanswered
        assert silent_ticks >= 195 and silent.clock.longest_unanswered_streak >= 195
        assert silent.clock.silences == [[START + SILENT_STREAK, None]]
        silent.clock.heard(silent.clock.time)  # housekeeping again: waited for again
        assert silent.clock.unanswered_streak == 0 and silent.clock.silences[0][1] is not None
        talks.clock.resume()
        await silent.answers.put(None)
        await _announced(talks.clock, START + 202)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def test_a_clock_whose_constellation_is_empty_waits_for_no_one():
    async def main() -> None:
        shared = ConstellationClock()
        bus = FakeBus(shared)
        shared.leave(bus.clock)  # its run ended, its clock not yet stopped
        await asyncio.wait_for(shared.turn(bus.clock), 5)

    asyncio.run(main())
