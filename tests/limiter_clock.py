"""The rate limiter's waits in tests: recorded, then passed at once instead of slept.

The limiter keeps its deadlines in Redis, on Redis's clock (`integration.ratelimit`). `let_waits_pass(limiter)`
makes its sleep record the wait asked for and move those deadlines back by it, as if that time had passed. Tests
then ask for waits of seconds, so the moments a loaded machine takes between a 429 and the next ask (the wait asked
is what remains of the deadline) change nothing that is asserted, and nothing is slept.
"""

from __future__ import annotations

import math

from integration.ratelimit import StoreRateLimiter

DEADLINES = ("blocked_until", "reset_at")


def let_waits_pass(limiter: StoreRateLimiter) -> list[float]:
    """The list the waits `limiter` asks for are appended to; each passes at once."""
    asked: list[float] = []
    state = limiter._keys[0]

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        conn = limiter._conn()
        for deadline in DEADLINES:
            if conn.hexists(state, deadline):
                conn.hincrby(state, deadline, -math.ceil(seconds * 1000))

    limiter._sleep = sleep
    return asked
