"""How much update data one device may pull: a token bucket of bytes per device, per server process.

A device may burst up to `burst` bytes (the server uses two seconds' worth), then `rate` bytes per
second; a fetch request names at most `MAX_FETCH_CHUNKS` chunks. What does not fit is refused with a
"slow down" answer that says when to ask again (common/link.py `slow-down`), so a device cannot make
the service send the same layer over and over faster than the limit allows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_RATE = 128 * 1024  # bytes per second, per device
DEFAULT_BURST = 256 * 1024  # bytes
MAX_FETCH_CHUNKS = 16  # chunks one fetch request may name (a device asks for a window of 16)


@dataclass
class _Bucket:
    tokens: float
    at: float  # monotonic time of the last refill


class FetchBudget:
    """Every device's bucket; not thread-safe (the link worker's own thread uses it)."""

    def __init__(self, rate: float = DEFAULT_RATE, burst: float = DEFAULT_BURST,
                 clock: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst <= 0:
            raise ValueError("the fetch rate and burst must be positive")
        self.rate, self.burst, self._clock = float(rate), float(burst), clock
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, device: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(device)
        if bucket is None:
            bucket = self._buckets[device] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        return bucket

    def take(self, device: str, size: int) -> bool:
        """Spend `size` bytes of the device's budget if it has them."""
        bucket = self._bucket(device)
        if bucket.tokens < size:
            return False
        bucket.tokens -= size
        return True

    def wait_s(self, device: str, size: int) -> float:
        """Seconds until the device may be sent `size` bytes."""
        bucket = self._bucket(device)
        return max(0.0, (min(size, self.burst) - bucket.tokens) / self.rate)

    def forget_idle(self) -> None:
        """Drop the buckets that are full again (their devices have not fetched for a while)."""
        for device in [d for d, b in self._buckets.items() if b.tokens + (self._clock() - b.at) * self.rate
                       >= self.burst]:
            del self._buckets[device]
