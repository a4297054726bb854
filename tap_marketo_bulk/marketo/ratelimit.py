"""Marketo's rate limit (100 calls per 20 s per subscription), kept on our side of the wire."""

from __future__ import annotations

import collections
import threading
import time
import typing as t


class CallRateLimiter:
    """Client-side sliding window: at most ``calls`` calls in any ``period`` seconds.

    Staying under Marketo's 100 calls per 20 s ourselves is cheaper than spending calls on 606
    answers; the window is shared by every thread of the tap.
    """

    def __init__(
        self,
        calls: int = 100,
        period: float = 20.0,
        *,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        self.calls = calls
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until one more call fits in the window, then count it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.period:
                    self._sent.popleft()
                if len(self._sent) < self.calls:
                    self._sent.append(now)
                    return
                wait = self.period - (now - self._sent[0])
            self._sleep(max(wait, 0.01))
