"""Reads from a PostgreSQL hot standby (``LIANDONG_DATABASE_REPLICA_URL``) while every user sees their own writes.

Dashboards, assessment and reports are heavy reads that may run on a streaming replica; what they must not do is
show a user a state older than the one their own last request produced. So:

- **The mark.** When a signed-in user's request transaction wrote, the request's unit of work (``auth/deps.py``)
  commits it and then stores the primary's WAL insert position (``pg_current_wal_insert_lsn()``, taken after the
  commit returned, so at or past the end of its commit record) as the user's row in ``read_marks``, in a second,
  tiny transaction, before the answer is sent. A process sees which transactions wrote by watching its primary
  connections for DML, so read-only requests cost nothing.
- **The check.** A read asks the primary for the user's mark and its current WAL position, then asks the replica,
  in the transaction it would read in, how far it has replayed (``pg_last_wal_replay_lsn()``, advanced only once a
  record is fully applied) and how far behind it is. The replica serves the read only when it is a standby, has
  replayed the mark, and lags at most ``replica_max_lag_seconds``; otherwise the read goes to the primary. A
  replica that cannot be reached sends reads to the primary too, and is not tried again for ``RETRY_SECONDS`` (so
  a replica that times out does not slow every page).

Why a WAL position and not the transaction id (which could be stored in the write's own transaction, with no
second one): a standby's ``pg_current_snapshot()`` lists no running transactions (during recovery they are kept
where that function does not look), so ``pg_visible_in_snapshot`` calls a transaction visible there while its
commit is still unreplayed, whenever a later one has been replayed. The replay position has no such gap.

The mark lives in the primary, so every app process, browser session and API client of the user sees it; a
cookie or a header would miss API clients and other devices. One row per user, upserted with ``GREATEST`` so that
two requests finishing out of order cannot move it back. Its transaction commits with ``synchronous_commit`` off:
the mark is visible to every session at once, and only a crash of the primary within a fraction of a second could
lose it (the user's write itself is committed as usual). The process keeps nothing that matters: only which
replica it talks to, when it may try an unreachable one again, and the last reason it logged.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from liandong.db import Base, get_engine

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
"""After the replica could not be reached, reads go to the primary this long before it is tried again."""
CONNECT_TIMEOUT_SECONDS = 2
"""Added to the replica URL unless it names its own ``connect_timeout``: a replica host that does not answer costs
a read this long at most, then ``RETRY_SECONDS`` of reads nothing."""
MARK_USER = "read_marks.user_id"
"""``Session.info`` key: the signed-in user whose writes in this session are to be marked (set only when a replica
is configured)."""
_WROTE = "read_marks.wrote"
"""``Connection.info`` key: the connection's current transaction sent DML."""
_DML = ("INSERT", "UPDATE", "DELETE", "MERGE", "WITH")
"""Statements that may write (a ``WITH`` may hold a data-modifying part)."""


class ReadMark(Base):
    """A user's last write on the primary: where the primary's WAL had got to just after it committed."""

    __tablename__ = "read_marks"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    """No foreign key: a mark outliving its user costs nothing, and a mark never waits on the users table."""
    lsn: Mapped[int] = mapped_column(BigInteger)
    """The WAL position in bytes (``pg_lsn - '0/0'``)."""


_QUICK = text("SET LOCAL synchronous_commit TO off")
_MARK = text(
    "INSERT INTO read_marks (user_id, lsn) "
    "VALUES (:user_id, CAST(pg_current_wal_insert_lsn() - CAST('0/0' AS pg_lsn) AS bigint)) "
    "ON CONFLICT (user_id) DO UPDATE SET lsn = GREATEST(read_marks.lsn, excluded.lsn)")
_PRIMARY_STATE = text(
    "SELECT CAST(pg_current_wal_lsn() - CAST('0/0' AS pg_lsn) AS bigint) AS now_at, "
    "(SELECT lsn FROM read_marks WHERE user_id = :user_id) AS mark")
_REPLICA_STATE = text(
    "SELECT pg_is_in_recovery() AS standby, "
    "COALESCE(pg_last_wal_replay_lsn() - CAST('0/0' AS pg_lsn) >= CAST(:mark AS numeric), "
    "CAST(:mark AS numeric) IS NULL) AS sees_mark, "
    "CASE WHEN pg_last_wal_replay_lsn() - CAST('0/0' AS pg_lsn) >= CAST(:now_at AS numeric) THEN 0.0 "
    "ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) END AS lag")
"""The lag is 0 once the replica has replayed what the primary had written when the read began; until then it is
the age of the last transaction it replayed (conservative after a quiet spell: the first write then makes the
replica look as old as the quiet, and reads go to the primary for the few milliseconds it takes to catch up).
A replica cut off from its primary stops replaying, so its lag grows and it is passed over."""


@dataclass(frozen=True)
class Choice:
    """Where one read goes, and why (logged when it changes, shown by tests)."""

    replica: bool
    reason: str
    lag_seconds: float | None = None


def writer(session: Session) -> int | None:
    """Before the request's commit: the signed-in user whose write this transaction holds, or None.

    None unless a replica is configured (``MARK_USER`` set) and the transaction sent DML; pending ORM changes are
    flushed first so that they count."""
    user_id = session.info.get(MARK_USER)
    if user_id is None:
        return None
    session.flush()
    return user_id if session.connection().info.get(_WROTE) else None


def mark(session: Session, user_id: int) -> None:
    """After the user's write committed: store the primary's WAL position as their mark, in a new transaction of
    ``session`` that the caller commits (see the module)."""
    session.execute(_QUICK)
    session.execute(_MARK, {"user_id": user_id})


def _watch_writes(engine: Engine) -> None:
    """Flag each primary connection's transaction that sends DML, so read-only requests need no extra statement."""
    if event.contains(engine, "before_cursor_execute", _seen_statement):
        return
    event.listen(engine, "before_cursor_execute", _seen_statement)
    event.listen(engine, "begin", _new_transaction)


def _seen_statement(conn: Connection, cursor, statement: str, parameters, context, executemany) -> None:
    if not conn.info.get(_WROTE) and statement.lstrip()[:6].upper().startswith(_DML):
        conn.info[_WROTE] = True


def _new_transaction(conn: Connection) -> None:
    conn.info.pop(_WROTE, None)


def _with_timeout(url: str) -> str:
    u = make_url(url)
    if "connect_timeout" not in u.query:
        u = u.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    return u.render_as_string(hide_password=False)


class Replica:
    """A hot standby of the primary at ``primary_url``, and the choice of where each read goes."""

    def __init__(self, primary_url: str, replica_url: str, max_lag_seconds: float):
        for name, url in (("LIANDONG_DATABASE_URL", primary_url), ("LIANDONG_DATABASE_REPLICA_URL", replica_url)):
            if make_url(url).get_backend_name() != "postgresql":
                raise ValueError(f"a read replica needs PostgreSQL: {name} is {make_url(url).get_backend_name()}")
        self.primary = get_engine(primary_url)
        self.url = _with_timeout(replica_url)
        self.engine = get_engine(self.url)
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.max_lag_seconds = max_lag_seconds
        self._retry_at = 0.0
        self._said = ""
        _watch_writes(self.primary)

    def open(self, primary: Session, user_id: int | None) -> tuple[Session | None, Choice]:
        """A session on the replica that can serve this user's read, or None (read ``primary``, the request's own
        session), with the reason. The primary is asked in ``primary``, so a read holds no more primary
        connections than it did without a replica.

        Blocking: call it from a worker thread."""
        if time.monotonic() < self._retry_at:
            return None, self._tell(Choice(False, "replica unreachable, not retried yet"))
        state = primary.execute(_PRIMARY_STATE, {"user_id": user_id or 0}).one()
        session = self.sessions()
        try:
            row = session.execute(_REPLICA_STATE, {"mark": state.mark, "now_at": state.now_at}).one()
        except (DBAPIError, PoolTimeout) as exc:
            session.close()
            self._retry_at = time.monotonic() + RETRY_SECONDS
            return None, self._tell(Choice(False, f"replica unreachable: {exc.__class__.__name__}"))
        lag = float(row.lag) if row.lag is not None else None
        if not row.standby:
            choice = Choice(False, "the replica URL names a server that is not a standby")
        elif not row.sees_mark:
            choice = Choice(False, "the user's last write has not reached the replica", lag)
        elif lag is None or lag > self.max_lag_seconds:
            choice = Choice(False, f"replica lags more than {self.max_lag_seconds:g} s", lag)
        else:
            return session, self._tell(Choice(True, "replica", lag))
        session.close()
        return None, self._tell(choice)

    def _tell(self, choice: Choice) -> Choice:
        """Log where reads go when that changes for a reason other than one user's own fresh write."""
        if choice.reason != self._said and "user's last write" not in choice.reason:
            self._said = choice.reason
            lag = "unknown" if choice.lag_seconds is None else f"{choice.lag_seconds:.3f} s"
            log.log(logging.INFO if choice.replica else logging.WARNING, "reads go to the %s (replica lag: %s)",
                    "replica" if choice.replica else f"primary: {choice.reason}", lag)
        return choice


_replicas: dict[tuple[str, str, float], Replica] = {}
_lock = threading.Lock()


def replica_for(primary_url: str, replica_url: str, max_lag_seconds: float) -> Replica | None:
    """The process's ``Replica`` for these settings (one per set, like engines), or None when no replica is set.

    A ``ValueError`` names a replica set for a database that cannot have one."""
    if not replica_url:
        return None
    key = (primary_url, replica_url, max_lag_seconds)
    with _lock:
        if key not in _replicas:
            _replicas[key] = Replica(primary_url, replica_url, max_lag_seconds)
        return _replicas[key]
