"""Who a token belongs to, remembered per process for a few seconds.

Every API call presents a token; looking up token, user, roles, unit and jurisdiction costs five
queries, more than the work of most calls. So each process keeps the answer for
``principal_cache_seconds`` (never past the token's expiry). A change made in this process — logout,
roles, password, disabling a user — clears the cache as soon as it commits (``auth/service.py`` calls
``changed()`` after the commit: called earlier, a lookup in between would keep the old state). A change made by
another process reaches this one on PostgreSQL as a notification sent with that commit, and the process's
listener calls ``changed()`` at once (``invalidation.py``); on SQLite, or while the listener is reconnecting, it
is seen within the cache time (give or take the one lookup that renews an entry). Set it to 0 to look every token
up every time.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from liandong.auth.identity import Identity

_generation = 0
_gen_lock = threading.Lock()


def generation() -> int:
    """A number that moves whenever users or tokens changed (in this process, or announced by another): a holder of
    an identity compares it to know whether to look the caller up again."""
    return _generation


def changed() -> None:
    """Users or tokens changed (a commit of this process, or another's heard by ``invalidation.Listener``): forget
    every cached principal. Thread-safe: the listener calls it from its own thread."""
    global _generation
    with _gen_lock:
        _generation += 1


class PrincipalCache:
    """Token digest → identity. Read without a lock: past its time an entry is looked up again by one
    request (``cached`` gives it None, so it calls ``get``) while the others go on with it meanwhile — at
    most ``seconds`` longer, should that request never come back."""

    def __init__(self, seconds: float, max_entries: int = 10_000):
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Identity, float, int]] = {}
        self._rechecks: dict[str, object] = {}
        """Digests that one request is looking up again, claimed with ``setdefault`` (atomic)."""

    def _usable(self, digest: str, now: dt.datetime) -> tuple[Identity, float] | None:
        """(identity, seconds of cache time left) of an entry that may still be used; drops one that may not."""
        hit = self._entries.get(digest)
        if hit is None:
            return None
        identity, until, generation = hit
        left = until - time.monotonic()
        if generation == _generation and identity.token_expires_at > now and left > -self.seconds:
            return identity, left
        self._entries.pop(digest, None)
        return None

    def cached(self, digest: str, now: dt.datetime) -> Identity | None:
        """The identity remembered for a token digest, without the database; None: look it up with ``get``."""
        hit = self._usable(digest, now)
        if hit is None:
            return None
        identity, left = hit
        mine = object()
        if left > 0 or self._rechecks.setdefault(digest, mine) is not mine:
            return identity
        return None  # due: this caller looks it up again

    def get(self, digest: str, now: dt.datetime, load: Callable[[], Identity]) -> Identity:
        """The cached identity for a token digest, else ``load()`` (which raises for a bad token)."""
        try:
            hit = self._usable(digest, now)
            if hit is not None and hit[1] > 0:
                return hit[0]
            generation = _generation  # read before loading: a change during the load is not masked
            try:
                identity = load()
            except BaseException:
                self._entries.pop(digest, None)  # refused (or unknown): the others stop using it too
                raise
        finally:
            self._rechecks.pop(digest, None)  # whatever happened, the next due caller may look it up
        if self.seconds > 0:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # bounded memory; the next calls simply look up again
                self._rechecks.clear()
            self._entries[digest] = (identity, time.monotonic() + self.seconds, generation)
        return identity
