"""A token bucket that says how long to wait, so a producer sleeps (or polls) instead of spinning.

Pure: the caller passes the clock reading. ``rate <= 0`` means unlimited.
"""

from __future__ import annotations


class TokenBucket:
    """Up to `burst` events at once, `rate` events a second on average."""

    def __init__(self, rate: float, burst: float | None = None, *, now: float) -> None:
        self.rate = rate
        # A twentieth of a second's worth by default: smooth, yet batches well.
        self.burst = max(1.0, burst if burst is not None else rate / 20)
        self._tokens = self.burst
        self._last = now

    def wait(self, now: float) -> float:
        """Take one token; return the seconds to wait before using it (0.0 = go now).

        A token taken on credit is repaid by the refill, so waiting the returned
        time and then sending keeps the long-run rate exact.
        """
        if self.rate <= 0:
            return 0.0
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
