"""The ranges of a file received so far: merged, sorted, and the gaps between them."""

from __future__ import annotations

import bisect


class Segments:
    """Half-open octet ranges [start, end), kept merged and sorted."""

    def __init__(self, ranges: list[tuple[int, int]] | None = None) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges or ():
            self.add(start, end)

    def add(self, start: int, end: int) -> int:
        """Record [start, end); returns how many octets were new."""
        if end <= start:
            return 0
        starts, ends = self._starts, self._ends
        if ends and start == ends[-1]:  # the common case: the next segment in order
            ends[-1] = end
            return end - start
        i = bisect.bisect_left(ends, start)
        j = bisect.bisect_right(starts, end)
        if i == j:
            starts.insert(i, start)
            ends.insert(i, end)
            return end - start
        covered = sum(
            min(e, end) - max(s, start) for s, e in zip(starts[i:j], ends[i:j], strict=True)
        )
        new_start, new_end = min(start, starts[i]), max(end, ends[j - 1])
        starts[i:j] = [new_start]
        ends[i:j] = [new_end]
        return (end - start) - max(covered, 0)

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of [start, end) not received."""
        starts, ends = self._starts, self._ends
        if not ends or start >= ends[-1]:  # the common case: past everything received
            return [(start, end)] if start < end else []
        out, at = [], start
        for i in range(bisect.bisect_right(ends, start), len(ends)):
            if starts[i] >= end:
                break
            if starts[i] > at:
                out.append((at, starts[i]))
            at = ends[i]
        if at < end:
            out.append((at, end))
        return out

    def run_containing(self, offset: int) -> tuple[int, int] | None:
        """The range that holds the octet at ``offset``, if one does."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and self._ends[i] > offset:
            return self._starts[i], self._ends[i]
        return None

    def total(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def contiguous(self) -> int:
        """The octets received without a gap from offset 0."""
        return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def gaps(self, size: int) -> list[tuple[int, int]]:
        """The ranges of [0, size) not received."""
        out, at = [], 0
        for s, e in zip(self._starts, self._ends, strict=True):
            if s >= size:
                break
            if s > at:
                out.append((at, s))
            at = max(at, e)
        if at < size:
            out.append((at, size))
        return out

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def covers(self, size: int) -> bool:
        return size == 0 or (
            len(self._starts) == 1 and self._starts[0] == 0 and self._ends[0] >= size
        )
