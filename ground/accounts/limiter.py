"""Rate limiting of failed logins: after ``allowed`` failures within ``window_s`` for one key (a
host and the name or token id it tried), that key's attempts are refused unchecked until the
oldest failure leaves the window. The station's gate and the web server's login both use it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable


class FailureLimiter:
    def __init__(self, allowed: int = 5, window_s: float = 60.0) -> None:
        self.allowed = allowed
        self.window_s = window_s
        self._failures: dict[Hashable, deque[float]] = {}

    def blocked_for(self, key: Hashable) -> float:
        """Seconds until attempts for ``key`` are checked again (0: now)."""
        failures = self._failures.get(key)
        now = time.monotonic()
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
            return 0.0
        if len(failures) < self.allowed:
            return 0.0
        return self.window_s - (now - failures[0])

    def failed(self, key: Hashable) -> None:
        """Count a failure for ``key``."""
        self._failures.setdefault(key, deque()).append(time.monotonic())
