"""Telling every app process at once that users or tokens changed (PostgreSQL ``LISTEN``/``NOTIFY``).

Each process caches who a token belongs to (``principals.py``). A change — a logout, a password reset, roles, a
user disabled, a unit edited — must end what every process cached, not only the one that made it:

- the writer calls ``announce`` in the transaction of its change (``auth/service.py`` does, beside telling its
  own process's cache after the commit). On PostgreSQL that is ``pg_notify('liandong_principals', '')``, which the
  server delivers to every listening connection when, and only if, the transaction commits: a listener never hears
  of a change it cannot read yet, nor of one rolled back;
- each process runs one ``Listener``: a daemon thread with its own connection (autocommit, ``LISTEN``), which calls
  ``principals.changed()`` for every notification. When its connection drops (a database restart, a killed
  backend, the network) it connects again, waiting 0.5 s, then twice as long each time up to 30 s; and every
  time it has connected it clears the cache too, since what was sent while nobody listened is lost.

So on PostgreSQL a change counts everywhere within the notification's delivery (milliseconds), whatever
``principal_cache_seconds`` says; while a listener is down, each process falls back on that cache time.

SQLite has no notifications: announcing does nothing, and no listener runs. An SQLite deployment is one machine
and usually one app process, where a change counts at once; a change made by another process (the CLI, a second
worker) counts within ``principal_cache_seconds``, as before. Several app processes belong on PostgreSQL.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session

from liandong.auth import principals

CHANNEL = "liandong_principals"
NAME = "liandong-principals-listener"
"""The listener connection's ``application_name`` (what ``pg_stat_activity`` shows)."""
_NOTIFY = select(func.pg_notify(CHANNEL, ""))
log = logging.getLogger("liandong.auth.invalidation")


def announce(bind: Session | Connection) -> None:
    """Tell every process's listener once this transaction commits (PostgreSQL; nothing on SQLite)."""
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    if dialect.name == "postgresql":
        bind.execute(_NOTIFY)


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string (psycopg's own, without the ``+psycopg`` driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """One thread listening for ``CHANNEL`` on its own connection; ``stop()`` ends it within about a second."""

    def __init__(self, url: str, *, first_wait: float = 0.5, longest_wait: float = 30.0, poll: float = 1.0):
        self.conninfo = libpq_url(url)
        self.first_wait, self.longest_wait, self.poll = first_wait, longest_wait, poll
        self.connects = 0
        """Connections made so far (tests watch it: a reconnect is one more)."""
        self.heard = 0
        """Notifications received so far."""
        self.listening = threading.Event()
        """Set while a connection listens; cleared while it is down."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=NAME, daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        wait = self.first_wait
        while not self._stop.is_set():
            try:
                self._listen()
                wait = self.first_wait
            except Exception as exc:  # any failure of the connection: wait, then connect again
                self.listening.clear()
                if self._stop.is_set():
                    return
                log.warning("principal listener lost its connection (%s: %s); again in %.1f s",
                            exc.__class__.__name__, exc, wait)
                self._stop.wait(wait)
                wait = min(wait * 2, self.longest_wait)

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5, application_name=NAME,
                             keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.connects += 1
            principals.changed()  # listening from now on: forget what may have changed while nobody listened
            self.listening.set()
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=self.poll):
                    self.heard += 1
                    principals.changed()
        self.listening.clear()


def listen(url: str) -> Listener | None:
    """This process's listener for the database at ``url``, started; None on SQLite (see the module's note)."""
    if make_url(url).get_backend_name() != "postgresql":
        return None
    return Listener(url).start()
