"""The writeback thread (flight/cfdp/writeback.py): each request runs on a descriptor of its own,
so the receiver may close its file at once, and a refusal is counted, never raised."""

from __future__ import annotations

import os
import threading

from flight.cfdp import writeback


def test_requests_run_on_a_thread_with_duplicates_the_caller_may_close_at_once(
    tmp_path, monkeypatch
):
    seen: list[tuple[str, bool]] = []
    done = threading.Event()

    def record(fd: int) -> None:
        seen.append((threading.current_thread().name, os.fstat(fd).st_size == 5))
        if len(seen) == 3:
            done.set()

    monkeypatch.setattr(writeback, "file_writeback", record)
    queue = writeback.Writeback()
    path = tmp_path / "partial"
    path.write_bytes(b"12345")
    for _ in range(3):
        fd = os.open(path, os.O_RDONLY)
        queue.start(fd)
        os.close(fd)  # at once: the thread has its own
    assert done.wait(30)
    assert seen == [("cfdp-writeback", True)] * 3


def test_a_refused_request_is_counted_and_the_next_still_runs(tmp_path, monkeypatch):
    calls: list[int] = []
    second = threading.Event()

    def refuse_the_first(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 1:
            raise OSError(5, "I/O error")
        second.set()

    monkeypatch.setattr(writeback, "file_writeback", refuse_the_first)
    queue = writeback.Writeback()
    for _ in range(2):
        fd = os.open(tmp_path, os.O_RDONLY)
        queue.start(fd)
        os.close(fd)
    assert second.wait(30)  # one thread, in order: the first's count is in by now
    assert queue.failed == 1
