"""Starting a received file's written data on its way to disk from a thread of its own.

sync_file_range (``native.file_writeback``) starts writeback without waiting for it, but it does
the work of submitting the pages itself, and blocks while the disk's queue is full: on the
receiving loop that is time taken from the link. Here one thread per process takes the requests,
each with a descriptor of its own (a duplicate), so that the receiver may close its file at any
time. It is only a head start: the fsync before Finished still makes each file durable.
"""

from __future__ import annotations

import os
import queue
import threading

from native import file_writeback


class Writeback:
    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failed = 0  # requests the kernel refused (the fsync at the end still decides)

    def start(self, fd: int) -> None:
        """Start the written pages of the open file ``fd`` on their way to disk, soon."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="cfdp-writeback", daemon=True
                )
                self._thread.start()
        self._requests.put(os.dup(fd))

    def _run(self) -> None:
        while True:
            fd = self._requests.get()
            try:
                file_writeback(fd)
            except OSError:
                self.failed += 1
            finally:
                os.close(fd)


start_writeback = Writeback().start
