"""Hourly request limits per API key: a sliding one-hour window counted in one-second buckets, in memory."""

from __future__ import annotations

import math
import threading
from collections import deque

WINDOW_SECONDS = 3600


class RateLimiter:
    """Admits a key's request while fewer than its limit were admitted in the last hour.

    Memory per key is at most one (second, count) pair per second of the window, whatever the limit.
    """

    def __init__(self, window_seconds: int = WINDOW_SECONDS) -> None:
        self.window = window_seconds
        self._buckets: dict[int, deque[list[int]]] = {}
        self._totals: dict[int, int] = {}
        self._lock = threading.Lock()

    def admit(self, key_id: int, limit: int | None, now: float) -> int | None:
        """None when admitted (and counted); else the seconds to wait before the next request fits."""
        if limit is None:
            return None
        second = math.floor(now)
        with self._lock:
            buckets = self._buckets.setdefault(key_id, deque())
            total = self._totals.get(key_id, 0)
            while buckets and buckets[0][0] <= second - self.window:
                total -= buckets.popleft()[1]
            if total >= limit:
                self._totals[key_id] = total
                # The request fits once enough of the oldest buckets have left the window.
                excess = total - limit + 1
                for bucket_second, count in buckets:
                    excess -= count
                    if excess <= 0:
                        return max(bucket_second + self.window - second, 1)
                return self.window
            if buckets and buckets[-1][0] == second:
                buckets[-1][1] += 1
            else:
                buckets.append([second, 1])
            self._totals[key_id] = total + 1
            return None
