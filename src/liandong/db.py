"""Engine, sessions, declarative base and migrations — the only module that knows about drivers.

SQLite (embedded default) runs in WAL mode with a busy timeout and foreign keys on; PostgreSQL runs
through psycopg 3. The same Alembic migrations build both.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_engines: dict[str, Engine] = {}


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _savepoint(conn, _name) -> None:
    """pysqlite opens a transaction only before a write; a SAVEPOINT that comes first would open its own,
    and its RELEASE would commit. So a savepoint outside a transaction begins one first. (Reads are left
    outside transactions as before: a read snapshot taken early would make a later write fail in WAL.)"""
    raw = conn.connection.dbapi_connection
    if not raw.in_transaction:
        raw.execute("BEGIN")


class _SQLiteWriter:
    """One writer at a time per process on SQLite, queued on a Python lock.

    SQLite allows one writer; left to its busy handler, waiting writers sleep in growing steps (up to
    100 ms) and tail latency explodes under load. Taking this lock before a connection's first write and
    releasing it at commit or rollback makes writers queue in order instead. Other processes still meet
    SQLite's own lock and busy timeout.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def before_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if conn.info.get("writer") or not statement.lstrip()[:6].upper().startswith(("INSERT", "UPDATE", "DELETE",
                                                                                       "REPLAC")):
            return
        self.lock.acquire()
        conn.info["writer"] = True

    def release(self, conn) -> None:
        if conn.info.pop("writer", False):
            self.lock.release()


REQUEST_THREADS = 40
"""anyio's default thread limiter: Starlette runs every sync endpoint and sync dependency on these."""
LOOP_THREADS = min(32, (os.cpu_count() or 1) + 4)
"""asyncio's default executor (``asyncio.to_thread``): the escalation sweep, the live feed's polls."""
POOL_SIZE = REQUEST_THREADS + LOOP_THREADS
"""Connections per engine: one for every thread that may hold a session, so no thread waits for one.

(With fewer, a thread waiting for a connection that another thread keeps while it waits on the first
one stalls both until the pool times out.) Sizing the pool to the threads was chosen over bounding the
threads to the pool: that would cap every endpoint, pages and live feed too, and need each event loop's
limiter set. Connections are opened only as threads ask for them, so the size costs nothing until that
many work at once. It holds while a session keeps its connection only inside such a thread: a request
that keeps one while it queues for a thread (a commit waiting on the shared limiter) is not counted. On
PostgreSQL ``max_connections`` must cover the app processes times this (the default 100 does for two
processes on up to 4 cores)."""


def get_engine(url: str, pool_timeout: float = 30.0) -> Engine:
    """One engine per URL per process, its pool sized by ``POOL_SIZE``. ``pool_timeout`` (seconds a
    checkout may wait) counts only in the call that creates the engine: a test sets it short so that a
    wait shows as an error instead of a stall."""
    if url in _engines:
        return _engines[url]
    import liandong.models  # noqa: F401  every mapper, so foreign keys between domains always resolve
    u = make_url(url)
    pool = {"pool_size": POOL_SIZE, "max_overflow": 0, "pool_timeout": pool_timeout}
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            pool = {}  # in memory: SQLAlchemy's pool of one connection per thread
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _savepoint)
        writer = _SQLiteWriter()
        event.listen(engine, "before_cursor_execute", writer.before_execute)
        event.listen(engine, "commit", writer.release)
        event.listen(engine, "rollback", writer.release)
    else:
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")
        engine = create_engine(u, pool_pre_ping=True, **pool)
    return _engines.setdefault(url, engine)  # two first callers at once: both get the one kept


def dispose_engine(url: str) -> None:
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def unit_of_work(url: str) -> Iterator[Session]:
    """A transaction: commits when the block ends cleanly, rolls back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the latest schema)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def is_postgres(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"
