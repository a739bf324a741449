"""Engine, sessions, declarative base and migrations — the only module that knows about drivers.

SQLite (embedded default) runs in WAL mode with a busy timeout and foreign keys on; PostgreSQL runs
through psycopg 3. The same Alembic migrations build both.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import DateTime, Integer, MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.sql.functions import FunctionElement
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


class position(FunctionElement):  # noqa: N801 - used as a SQL function, like func.substr
    """Where ``needle`` first occurs in ``text`` (1-based; 0: nowhere): ``instr`` on SQLite, ``strpos`` on
    PostgreSQL."""

    type = Integer()
    inherit_cache = True


@compiles(position)
def _position(element: position, compiler, **kw) -> str:
    name = "strpos" if compiler.dialect.name == "postgresql" else "instr"
    return f"{name}({compiler.process(element.clauses, **kw)})"


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

    def bind_processor(self, dialect):
        """On SQLite the text SQLAlchemy's DATETIME stores (``2012-03-04 00:30:01.123456``, UTC) made by ``isoformat``
        in C: every event, stage fact and case row holds several, and the generic path (this decorator's call, then a
        ``%``-format of a dict of seven fields) costs more than the rest of the row's conversion."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: dt.datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            return value.astimezone(dt.UTC).isoformat(" ", "microseconds")[:26]  # without the "+00:00"
        return process


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_engines: dict[str, Engine] = {}
_Row = TypeVar("_Row")


BUSY_SECONDS = 10
"""How long a SQLite writer waits for another's commit before it fails."""


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
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
    SQLite's own lock and busy timeout — unless they share one lock (``share_writer_lock``: the processes of one
    job), which a writer waits on no longer than SQLite would (a process that died holding it leaves it taken).
    """

    def __init__(self) -> None:
        self.own = threading.Lock()
        self.lock = self.own
        self.wait: float = -1
        """Seconds a writer waits for the lock (-1: for good, the process's own lock)."""
        self.holders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        """The Connections writing in their transaction → the lock each took (None where it gave up waiting on a
        shared one: SQLite's lock decides). Kept here, not in ``conn.info``: after an error that invalidated the
        connection (``_readonly_is_a_disconnect``), ``conn.info`` raises at the rollback, and the lock would stay
        taken for good — every later write in the process would wait on it."""

    def before_execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if conn in self.holders or not statement.lstrip()[:6].upper().startswith(("INSERT", "UPDATE", "DELETE",
                                                                                    "REPLAC")):
            return
        lock = self.lock  # taken or given up on: not waited for again within the transaction
        self.holders[conn] = lock if lock.acquire(timeout=self.wait) else None

    def release(self, conn) -> None:
        lock = self.holders.pop(conn, None)
        if lock is not None:
            lock.release()


_writers: dict[str, _SQLiteWriter] = {}


def share_writer_lock(url: str, lock=None) -> None:
    """SQLite: this process's writers to ``url`` queue on ``lock`` — a ``multiprocessing`` lock the processes of one
    job inherit — as its threads do on its own: several processes writing in turn hand the database's write lock on
    at once, where SQLite's busy handler would sleep in steps of up to 100 ms. None: the process's own lock again.
    Nothing on PostgreSQL."""
    writer = _writers.get(url)
    if writer is not None:
        writer.lock, writer.wait = (lock, BUSY_SECONDS) if lock is not None else (writer.own, -1)


def writing(session: Session) -> bool:
    """SQLite: whether the session's connection has begun writing in its transaction (holds the write lock)."""
    if is_postgres(session):
        return False
    return bool(session.connection().connection.driver_connection.in_transaction)


def _readonly_is_a_disconnect(context) -> None:
    """A SQLite connection opened while its file was read-only stays read-only for its whole life, even after
    the permissions are restored. Treated as a lost connection, it is discarded with the pool's other
    connections of that time, and the next checkout opens a fresh one: writes work again without a restart."""
    code = getattr(context.original_exception, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == sqlite3.SQLITE_READONLY:
        context.is_disconnect = True


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


_KEYS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def database_key(session: Session) -> str:
    """The URL of the session's database, as a key for what a process keeps per database (the catalogue's snapshot,
    the grid index): kept per engine, as every case action asks and rendering a URL costs more than the lookup."""
    bind = session.get_bind()
    key = _KEYS.get(bind)
    if key is None:
        key = _KEYS[bind] = str(bind.url)
    return key


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
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_SECONDS},
                               hide_parameters=True, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _savepoint)
        writer = _writers[url] = _SQLiteWriter()
        event.listen(engine, "before_cursor_execute", writer.before_execute)
        event.listen(engine, "commit", writer.release)
        event.listen(engine, "rollback", writer.release)
        event.listen(engine, "handle_error", _readonly_is_a_disconnect)
    else:
        if u.drivername == "postgresql":
            u = u.set(drivername="postgresql+psycopg")
        # an unreachable host is an error in seconds, never a hang; the values of a statement (names, phone numbers)
        # stay out of error messages and so out of the logs
        engine = create_engine(u, pool_pre_ping=True, hide_parameters=True,
                               connect_args={"connect_timeout": int(u.query.get("connect_timeout", 5))}, **pool)
        event.listen(engine, "do_execute", _binary_results)
    return _engines.setdefault(url, engine)  # two first callers at once: both get the one kept


BINARY = "binary_results"
"""An execution option: PostgreSQL sends the statement's results in binary (``stmt.execution_options(**{BINARY:
True})``): a large ``bytea`` comes as its bytes, not as hex text the server writes and the driver parses (tens of
megabytes of stored working times: 0.55 s → 0.12 s). Only for columns psycopg loads alike in both formats (text,
integers, floats, bytea, dates): an enum or a type without a binary loader would come as raw bytes. Ignored on
SQLite, and by ``executemany``."""


def _binary_results(cursor, statement, parameters, context) -> bool | None:
    """The ``do_execute`` hook of PostgreSQL engines: a statement with ``BINARY`` set is run here, asking for binary
    results; any other goes on as usual (None)."""
    if context.execution_options.get(BINARY):
        cursor.execute(statement, parameters, binary=True)
        return True
    return None


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


def stored(session: Session, obj: _Row) -> _Row:
    """Hand the session an object whose row a Core INSERT wrote (the busiest writers skip the unit of work's insert
    and its flush of everything else): persistent from here on, and taken out again if the transaction, or the
    savepoint it was written in, rolls back. Every column must be set (one left out would be loaded on access)."""
    make_transient_to_detached(obj)
    session.add(obj)
    session.info.setdefault("core_rows", []).append((session.get_nested_transaction() or session.get_transaction(),
                                                     obj))
    return obj


def insert_stored(session: Session, obj: _Row) -> _Row:
    """Write a new object with one Core ``INSERT … RETURNING id`` — its set attributes, the other columns' Python
    defaults (None where there is none), version 1 — and hand it to the session as stored (``stored``). A column
    the database would fill (a server default) is refused: its value would not be read back."""
    mapper, table = inspect(type(obj)), type(obj).__table__
    values, attrs = {}, {}
    for column in table.columns:
        if column.primary_key:
            continue
        key, default = mapper.get_property_by_column(column).key, column.default
        if key in obj.__dict__:
            value = obj.__dict__[key]
        elif column is mapper.version_id_col:
            value = 1
        elif column.server_default is not None:
            raise ValueError(f"{table.name}.{column.name}: a server default is not read back; set it")
        elif default is None or default.is_scalar:
            value = default.arg if default is not None else None
        elif default.is_callable:  # a Python function (utcnow): SQLAlchemy wraps it to take the context
            value = default.arg(None)
        else:
            raise ValueError(f"{table.name}.{column.name}: a SQL default is not read back; set it")
        values[column.key], attrs[key] = value, value
    attrs[mapper.get_property_by_column(table.c.id).key] = session.connection().execute(
        table.insert().returning(table.c.id), values).scalar_one()
    for key, value in attrs.items():
        setattr(obj, key, value)
    return stored(session, obj)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back_rows(session: Session, previous_transaction) -> None:
    """A row inserted with Core is not one the unit of work knows it added, so a rollback (of a savepoint too)
    would leave its object in the session although the row is gone: take it out here."""
    kept = []
    for tx, obj in session.info.get("core_rows", ()):
        inner = tx
        while inner is not None and inner is not previous_transaction:
            inner = inner.parent
        if inner is None:
            kept.append((tx, obj))
        elif obj in session:
            session.expunge(obj)
    session.info["core_rows"] = kept


@event.listens_for(Session, "after_commit")
def _committed_rows(session: Session) -> None:
    session.info.pop("core_rows", None)


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


def insert_many(session: Session, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Plain rows of ``columns`` through the driver's own executemany (SQLite) or COPY (PostgreSQL): SQLAlchemy's work
    on each row's parameters costs more than the insert itself at hundreds of thousands of rows, and on PostgreSQL a
    COPY takes rows several times faster than INSERTs. The values must be ones the driver adapts itself (str, int,
    float, bytes, None, dates as ISO text; on PostgreSQL also datetimes and psycopg's Json, as ``insert_values``
    gives them). A database error comes as SQLAlchemy's (an IntegrityError…) either way."""
    if not rows:
        return
    names = ", ".join(f'"{table.columns[c].name}"' for c in columns)  # a KeyError for a column it has not
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        _copy(conn, f'COPY "{table.name}" ({names}) FROM STDIN', rows)
        return
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join(["?"] * len(columns))})', rows)


def _copy(conn, statement: str, rows: list[tuple]) -> None:
    """Rows through psycopg's COPY on the session's own connection (so in its transaction). SQLAlchemy does not see
    the statement: no ``before_cursor_execute`` hook runs for it (a caller that must be seen writing writes something
    else first — every caller's transaction here has), and its error is wrapped here: as SQLAlchemy's (its SQLSTATE
    kept), without the server's CONTEXT, which may quote the whole row (a reporter's phone, an event's payload), nor
    a DETAIL that does ("Failing row contains …"): the statement's parameters stay out of messages and logs
    (``get_engine``). A DETAIL naming a duplicate key stays, as an INSERT's error gives it."""
    import psycopg

    try:
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        message = str(exc).split("\nCONTEXT:")[0]
        head, _, detail = message.partition("\nDETAIL:")
        told = type(exc)(head if "Failing row contains" in detail else message)
        raise DBAPIError.instance(statement, None, told, psycopg.Error) from None


def insert_values(session: Session, table, columns: tuple[str, ...], rows: Iterable[Sequence]) -> None:
    """Rows of Python values, as the ORM takes them (aware datetimes, dicts for JSON, booleans), through the
    driver's own executemany or COPY (``insert_many``): each value goes through its column type's own conversion for
    this database — what SQLAlchemy stores is stored — without SQLAlchemy's work around it on every row (the event
    log and the stage facts: millions of rows a simulated year)."""
    insert_many(session, table, columns, _plain(session, table, columns, rows))


def update_values(session: Session, table, columns: tuple[str, ...], keys: tuple[str, ...],
                  rows: Iterable[Sequence]) -> int:
    """``UPDATE table SET columns WHERE keys`` for many rows (each the values of ``columns``, then of ``keys``),
    converted as ``insert_values`` does, through the driver's executemany (pipelined on PostgreSQL); returns how many
    rows matched in all."""
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sets = ", ".join(f'"{table.columns[c].name}" = {mark}' for c in columns)
    where = " AND ".join(f'"{table.columns[c].name}" = {mark}' for c in keys)
    plain = _plain(session, table, columns + keys, rows)
    if not plain:
        return 0
    return conn.exec_driver_sql(f'UPDATE "{table.name}" SET {sets} WHERE {where}', plain).rowcount


def _plain(session: Session, table, columns: tuple[str, ...], rows: Iterable[Sequence]) -> list[tuple]:
    """The rows' values as the driver takes them: each converted by its column's bind processor (None too where the
    type says it converts None — JSON, which stores JSON null —; elsewhere None stays None, as the processors leave
    it)."""
    convert = _converters(session.get_bind().dialect, table, columns)
    out = []
    for row in rows:
        values = list(row)
        for i, f, always in convert:
            v = values[i]
            if v is not None or always:
                values[i] = f(v)
        out.append(tuple(values))
    return out


def reserve_ids(session: Session, table, n: int, after: int = 0) -> list[int]:
    """``n`` ids for rows of ``table`` that will be written with them (a batch writes its new rows together,
    later). PostgreSQL: taken from the id column's sequence, so nobody else gets them (an id not used is a gap, as
    after a rollback). SQLite: the next ones after the table's last id and ``after`` (ids given out earlier in
    the same transaction), read once the transaction holds the write lock (a write that changes nothing takes it),
    so that no other connection adds a row until it commits. Within the transaction, a row written without its id
    would take one of these: the caller writes its rows with the ids given."""
    if n <= 0:
        return []
    conn = session.connection()
    if is_postgres(session):
        return sorted(conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                                   {"t": table.name, "n": n}).scalars())
    conn.exec_driver_sql(f'UPDATE "{table.name}" SET id = id WHERE 0')  # the write lock, before the last id is read
    last = conn.exec_driver_sql(f'SELECT max(id) FROM "{table.name}"').scalar() or 0
    start = max(last, after) + 1
    return list(range(start, start + n))


def reserve_block(session: Session, table, n: int) -> int:
    """The first of ``n`` ids in a row for rows of ``table`` a job will write with them over many transactions (the
    simulated year: each report's case takes the id its ordinal gives it). PostgreSQL: the id column's sequence moved
    past them, so nothing else takes them. SQLite, which keeps no sequence: the ids after the table's last, read
    under the write lock — a row written meanwhile by anyone else takes the next id, one of them (the job's own
    database, then: its write of that id fails)."""
    if is_postgres(session):
        return session.execute(text("SELECT setval(s, nextval(s) + :n - 1) - :n + 1 FROM "
                                    "pg_get_serial_sequence(:t, 'id') AS s"), {"t": table.name, "n": n}).scalar_one()
    return reserve_ids(session, table, 1)[0] if n > 0 else 0


_CONVERTERS: dict[tuple, list[tuple[int, Callable, bool]]] = {}


def _converters(dialect, table, columns: tuple[str, ...]) -> list[tuple[int, Callable, bool]]:
    """(position, bind processor for ``dialect``, whether it converts None) of each column whose values the driver
    does not take as they are; kept."""
    key = (dialect, table, columns)
    found = _CONVERTERS.get(key)
    if found is None:
        found = []
        for i, c in enumerate(columns):
            kind = table.columns[c].type
            f = kind.dialect_impl(dialect).bind_processor(dialect)
            if f is not None:
                found.append((i, f, kind.should_evaluate_none))
        _CONVERTERS[key] = found
    return found


# --- database faults --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What a database error means for the caller: the HTTP status, the stable code and ``cause`` (a machine
    word the pages may translate) of the answer, and ``reason``, the cause in English."""

    status: int
    code: str
    cause: str
    reason: str

    @property
    def detail(self) -> str:
        """The sentence an error answer shows: the cause, and that the request's transaction was rolled back."""
        if self.status == 409:
            return self.reason
        return f"{self.reason}; nothing was saved: try again shortly"


RACED = Fault(409, "conflict", "race", "changed at the same moment by another request: read it again and retry")
READ_ONLY = Fault(503, "unavailable", "read_only", "the database is read-only")
FULL = Fault(503, "unavailable", "full", "the database is full")
EXHAUSTED = Fault(503, "unavailable", "exhausted", "the database is out of memory or connections")
BUSY = Fault(503, "unavailable", "busy", "the database is busy with other writes")
BROKEN_FILE = Fault(503, "unavailable", "file", "the database file cannot be opened, read or written")
LOST = Fault(503, "unavailable", "connection_lost", "the connection to the database was lost")
TIMEOUT = Fault(503, "unavailable", "timeout", "the database took too long to answer")
UNREACHABLE = Fault(503, "unavailable", "unreachable", "the database cannot be reached")
UNAVAILABLE = Fault(503, "unavailable", "unavailable", "the database cannot store changes right now")

_SQLSTATES = {"40001": RACED, "40P01": RACED, "25006": READ_ONLY, "53100": FULL, "55P03": BUSY, "57014": TIMEOUT}
"""PostgreSQL: serialisation failure and deadlock, a read-only transaction (a hot standby, a primary turned
read-only), disk full, a lock not granted within ``lock_timeout``, a statement cancelled (``statement_timeout``)."""
_SQLSTATE_CLASSES = {"53": EXHAUSTED, "08": LOST, "57": LOST, "58": BROKEN_FILE}
"""Insufficient resources (out of memory, too many connections: disk full is 53100 above), connection
exceptions, operator intervention (a terminated backend, a shutdown), system errors (I/O)."""
_SQLITE = {sqlite3.SQLITE_READONLY: READ_ONLY, sqlite3.SQLITE_FULL: FULL, sqlite3.SQLITE_BUSY: BUSY,
           sqlite3.SQLITE_LOCKED: BUSY, sqlite3.SQLITE_IOERR: BROKEN_FILE, sqlite3.SQLITE_CANTOPEN: BROKEN_FILE,
           sqlite3.SQLITE_NOTADB: BROKEN_FILE, sqlite3.SQLITE_CORRUPT: BROKEN_FILE}
"""SQLite primary result codes (the low byte of the extended code the driver gives)."""


def classify(exc: BaseException) -> Fault | None:
    """The fault a database error stands for, or None when it is no fault of the database (a bug, bad input).

    Takes SQLAlchemy's wrapped errors and the drivers' own (a failed pre-ping is raised unwrapped). The one
    mapping behind the app's error answers and ``/readyz``: by SQLSTATE on PostgreSQL, by result code on
    SQLite, then a connection SQLAlchemy found dead; any other operational or internal error is a 503 too."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None) or ""
    fault = _SQLSTATES.get(sqlstate) or _SQLSTATE_CLASSES.get(sqlstate[:2])
    code = getattr(orig, "sqlite_errorcode", None)
    if fault is None and code is not None:
        fault = _SQLITE.get(code & 0xFF)
    if fault is not None:
        return fault
    if getattr(exc, "connection_invalidated", False):
        return LOST
    if isinstance(exc, OperationalError | InternalError | InterfaceError):
        return UNAVAILABLE
    if exc is orig and isinstance(exc, _drivers()[1]):
        return LOST  # raised by the driver itself, e.g. a pre-ping on a connection the server closed
    return None


@functools.cache
def _drivers() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """The drivers' base error classes (what may escape SQLAlchemy unwrapped), and their operational ones."""
    base: list[type[BaseException]] = [sqlite3.Error]
    operational: list[type[BaseException]] = [sqlite3.OperationalError, sqlite3.InterfaceError]
    try:
        import psycopg
    except ImportError:  # PostgreSQL support not installed
        pass
    else:
        base.append(psycopg.Error)
        operational += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(base), tuple(operational)


def driver_errors() -> tuple[type[BaseException], ...]:
    """The drivers' base error classes: the app maps them like SQLAlchemy's own."""
    return _drivers()[0]


@dataclass
class Readiness:
    """The outcome of ``readiness``: each check's "ok" or reason, and the first that failed (None: ready)."""

    checks: dict[str, str]
    failing: str | None = None
    fault: Fault | None = None


@functools.cache
def _code_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def readiness(url: str) -> Readiness:
    """Whether the database at ``url`` can take this process's work: reachable, migrated to the code's Alembic
    head, and writable. "Writable" is a real write, rolled back: an UPDATE of ``alembic_version`` to itself
    takes the write lock (SQLite: refused on a read-only file; PostgreSQL: refused on a standby or a read-only
    transaction), then is undone. It does not find a full disk that only the commit would meet."""
    from alembic.runtime.migration import MigrationContext

    checks = {"reachable": "not checked", "migrations": "not checked", "writable": "not checked"}
    step = "reachable"
    try:
        with get_engine(url).connect() as conn:
            if conn.dialect.name == "postgresql":  # answer, never wait: for a migration holding a table, a slow disk
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                conn.execute(text("SET LOCAL statement_timeout = '5s'"))
            conn.execute(text("SELECT 1"))
            checks[step] = "ok"
            step = "migrations"
            current = set(MigrationContext.configure(conn).get_current_heads())
            if current != _code_heads():
                checks[step] = (f"the database is at revision {', '.join(sorted(current)) or 'none'}, the code at "
                                f"{', '.join(sorted(_code_heads()))}: run liandong migrate")
                return Readiness(checks, step, Fault(503, "unavailable", "migrations", checks[step]))
            checks[step] = "ok"
            step = "writable"
            conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
            conn.rollback()
            checks[step] = "ok"
    except PoolTimeout:  # every connection of the pool is busy: this process cannot take more work now
        checks[step] = "every database connection of this process is busy"
        return Readiness(checks, step, Fault(503, "unavailable", "busy", checks[step]))
    except (DBAPIError, *driver_errors()) as exc:
        fault = classify(exc) or UNAVAILABLE
        if step == "reachable" and fault in (LOST, UNAVAILABLE):
            fault = UNREACHABLE
        checks[step] = fault.reason
        return Readiness(checks, step, fault)
    return Readiness(checks)
