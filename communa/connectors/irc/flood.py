"""Flood control: IRC servers disconnect clients that send too fast, so every send waits for a token."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`capacity` sends at once, refilled at `capacity / interval` per second; `take` blocks until one is free."""

    def __init__(
        self,
        *,
        capacity: int,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if capacity < 1 or interval <= 0:
            raise ValueError("a flood limit needs at least one message per positive interval")
        self.capacity = capacity
        self.rate = capacity / interval
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self, *, deadline: float | None = None) -> bool:
        """Wait for one token and use it; False (no token used) when it would come after `deadline` (clock time)."""
        with self._lock:  # senders queue up in order: one waits for its token while the others wait for the lock
            self._refill()
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                if deadline is not None and self._clock() + wait > deadline:
                    return False
                self._sleep(wait)
                self._refill()
            self._tokens = max(0.0, self._tokens - 1)
            return True

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
