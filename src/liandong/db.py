"""Engine, sessions, declarative base and migrations — the only module that knows about drivers.

SQLite (embedded default) runs in WAL mode with a busy timeout and foreign keys on; PostgreSQL runs
through psycopg 3. The same Alembic migrations build both.
"""

from __future__ import annotations

import datetime as dt
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


def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
    if url in _engines:
        return _engines[url]
    import liandong.models  # noqa: F401  every mapper, so foreign keys between domains always resolve
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _savepoint)
        writer = _SQLiteWriter()
        event.listen(engine, "before_cursor_execute", writer.before_execute)
        event.listen(engine, "commit", writer.release)
        event.listen(engine, "rollback", writer.release)
    else:
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")
        engine = create_engine(u, pool_pre_ping=True, pool_size=10, max_overflow=10)
    _engines[url] = engine
    return engine


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
