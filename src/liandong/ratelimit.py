"""Rate limits for anonymous entry points (citizen reports, public reads), by client address.

Counting is done by the ``limits`` library with a moving window; its storage is configurable, so
several processes can share counters in Redis (``LIANDONG_RATE_LIMIT_STORAGE``).
"""

from __future__ import annotations

import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from liandong.errors import TooMany


class RateLimiter:
    def __init__(self, storage_uri: str):
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, rule: str, *keys: str) -> None:
        """Count one call for ``keys`` under ``rule`` (e.g. ``5/10minutes``); TooMany when over it."""
        item = parse(rule)
        if not self.limiter.hit(item, *keys):
            reset = self.limiter.get_window_stats(item, *keys).reset_time
            raise TooMany(f"too many requests: at most {rule.replace('/', ' per ')}; try again later",
                          retry_after=max(1, int(reset - time.time())))
