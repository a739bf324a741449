"""Who a token belongs to, remembered per process for a few seconds.

Every API call presents a token; looking up token, user, roles, unit and jurisdiction costs five
queries, more than the work of most calls. So each process keeps the answer for
``principal_cache_seconds`` (never past the token's expiry). A change made in this process — logout,
roles, password, disabling a user — clears the cache at once (``changed()``); a change made by
another process is seen within the cache time. Set it to 0 to look every token up every time.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from liandong.auth.identity import Identity

_generation = 0
_gen_lock = threading.Lock()


def changed() -> None:
    """Users or tokens changed in this process: forget every cached principal."""
    global _generation
    with _gen_lock:
        _generation += 1


class PrincipalCache:
    def __init__(self, seconds: float, max_entries: int = 10_000):
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Identity, float, int]] = {}

    def cached(self, digest: str, now: dt.datetime) -> Identity | None:
        """The identity remembered for a token digest, if still fresh; no database needed."""
        hit = self._entries.get(digest)
        if hit is not None:
            identity, until, generation = hit
            if generation == _generation and time.monotonic() < until and identity.token_expires_at > now:
                return identity
            self._entries.pop(digest, None)
        return None

    def get(self, digest: str, now: dt.datetime, load: Callable[[], Identity]) -> Identity:
        """The cached identity for a token digest, else ``load()`` (which raises for a bad token)."""
        identity = self.cached(digest, now)
        if identity is not None:
            return identity
        generation = _generation  # read before loading: a change during the load is not masked
        identity = load()
        if self.seconds > 0:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # bounded memory; the next calls simply look up again
            self._entries[digest] = (identity, time.monotonic() + self.seconds, generation)
        return identity
