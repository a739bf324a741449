"""Database faults (issue 15, point 4): ``/healthz`` and ``/readyz``; killed connections, a read-only and a full
database answered as a JSON 503 naming the cause, nothing half-written, and the service back by itself.

Real parts throughout: the app served over HTTP (``tests/server.py``, or ``liandong serve`` in a subprocess)
with kept-alive httpx clients, real PostgreSQL backends terminated, a real file made read-only, a real page
limit. A kept-alive connection that the server dropped shows as a new local port on the client's side."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import Depends
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from starlette.middleware import Middleware

from liandong import audit
from liandong.app import create_app
from liandong.audit import AuditEntry
from liandong.auth import service
from liandong.auth.deps import get_session
from liandong.cases import upkeep
from liandong.cases.models import Case, CaseEvent
from liandong.config import Settings
from liandong.db import FULL, LOST, RACED, READ_ONLY, classify, dispose_engine, get_engine, unit_of_work
from tests.caseworld import MATTER, WEST_POINT, fill
from tests.conftest import _psycopg, fresh_database
from tests.factories import PASSWORD
from tests.server import serve

QUIET = {"sweep_seconds": 0, "early_warning_scan_minutes": 0, "index_check_seconds": 0, "ready_keep_seconds": 0}
"""No background jobs: the only database work is the requests'."""


def report(description: str) -> dict:
    return {"matter_code": MATTER, "description": description, "lon": WEST_POINT[0], "lat": WEST_POINT[1],
            "channel": "hotline"}


def port_of(response: httpx.Response) -> int:
    """The client's local port of the connection that carried ``response``: the same while it is kept alive."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def assert_fault_answer(r: httpx.Response, cause: str | None = None) -> None:
    """A refusal a client can act on: JSON naming the cause, and when to retry."""
    assert r.headers["content-type"] == "application/json", (r.status_code, r.text)
    body = r.json()
    assert r.status_code in (409, 503) and body["code"] in ("conflict", "unavailable") and body["detail"], body
    if r.status_code == 503:
        assert "nothing was saved" in body["detail"] and int(r.headers["Retry-After"]) > 0
    if cause:
        assert body["params"]["cause"] == cause, body


def stored(url: str) -> set[str]:
    """The descriptions of the stored cases (each test's reports are told apart by their description)."""
    with unit_of_work(url) as s:
        return set(s.scalars(select(Case.description)))


def assert_each_case_whole(url: str) -> None:
    """Nothing half-written: every stored case has the event that reported it."""
    with unit_of_work(url) as s:
        cases = s.scalar(select(func.count()).select_from(Case))
        reported = s.scalar(select(func.count(func.distinct(CaseEvent.case_id))))
    assert cases == reported


# --- the mapping ------------------------------------------------------------------------------------

def sqlite_error(*setup: str, statement: str) -> DBAPIError:
    """A real SQLite error, wrapped by SQLAlchemy as the app meets it."""
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        for sql in setup:
            conn.exec_driver_sql(sql)
        with pytest.raises(DBAPIError) as err:
            conn.exec_driver_sql(statement)
    engine.dispose()
    return err.value


def pg_error(kind: type[psycopg.Error], message: str) -> DBAPIError:
    """A PostgreSQL error of the given SQLSTATE class, wrapped by SQLAlchemy's own rule (by the DB-API class)."""
    return DBAPIError.instance("COMMIT", None, kind(message), psycopg.Error)


def test_each_fault_is_named_by_its_sqlstate_or_sqlite_code():
    big = "INSERT INTO t SELECT hex(randomblob(500)) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL " \
          "SELECT i + 1 FROM n WHERE i < 100) SELECT i FROM n)"
    assert classify(sqlite_error("PRAGMA max_page_count = 3", statement=big)) == FULL
    assert classify(sqlite_error("PRAGMA query_only = ON", statement="INSERT INTO t VALUES ('x')")) == READ_ONLY
    # a full disk cannot be made here honestly: its SQLSTATE is (53100 disk_full), and the rest of class 53 too
    assert classify(pg_error(psycopg.errors.DiskFull, "could not extend file: No space left on device")) == FULL
    assert classify(pg_error(psycopg.errors.TooManyConnections, "too many clients")).cause == "exhausted"
    assert classify(pg_error(psycopg.errors.ReadOnlySqlTransaction, "read-only transaction")) == READ_ONLY
    assert classify(pg_error(psycopg.errors.AdminShutdown, "terminating connection")) == LOST
    assert classify(pg_error(psycopg.errors.SerializationFailure, "could not serialize")) == RACED
    assert classify(pg_error(psycopg.errors.QueryCanceled, "canceling statement due to statement timeout")).cause \
        == "timeout"
    assert classify(psycopg.OperationalError("server closed the connection unexpectedly")) == LOST  # unwrapped
    # no fault of the database's: a bug stays a server error
    assert classify(pg_error(psycopg.errors.UndefinedTable, "relation does not exist")) is None
    assert classify(ValueError("not a database error")) is None
    assert FULL.detail == "the database is full; nothing was saved: try again shortly"


# --- /healthz and /readyz ---------------------------------------------------------------------------

def test_healthz_answers_while_the_database_is_down_and_readyz_says_why():
    """No server listens on port 1: the process is alive, but not ready."""
    from fastapi.testclient import TestClient

    client = TestClient(create_app(Settings(database_url="postgresql://postgres@127.0.0.1:1/none", **QUIET)))
    assert client.get("/healthz").json()["status"] == "ok"
    r = client.get("/readyz")
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert r.json()["failing"] == "reachable" and r.json()["detail"] == "the database cannot be reached"
    assert r.json()["checks"]["writable"] == "not checked"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path_factory) -> Iterator[str]:
    yield from fresh_database(request.param, tmp_path_factory)


def test_readyz_checks_reachable_migrated_and_writable(empty_db):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(Settings(database_url=empty_db, **QUIET)))
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"reachable": "ok", "migrations": "ok", "writable": "ok"}
    with unit_of_work(empty_db) as s:
        head = s.scalar(text("SELECT version_num FROM alembic_version"))
        s.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["failing"] == "migrations"
    assert "at revision 0001" in r.json()["detail"] and "liandong migrate" in r.json()["detail"]
    with unit_of_work(empty_db) as s:
        s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert client.get("/readyz").status_code == 200
    # an answer is kept for ready_keep_seconds: a flood of probes checks once
    kept = TestClient(create_app(Settings(database_url=empty_db, **{**QUIET, "ready_keep_seconds": 600})))
    assert kept.get("/readyz").status_code == 200
    with unit_of_work(empty_db) as s:
        s.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert kept.get("/readyz").status_code == 200 and client.get("/readyz").status_code == 503
    with unit_of_work(empty_db) as s:
        s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


# --- a fault outside the endpoints' handlers ----------------------------------------------------------

class WritesReadOnly:
    """A middleware that writes on a connection made read-only, when asked (``x-fault``): a real database error
    raised outside the endpoints' exception handlers."""

    def __init__(self, app, url: str):
        self.app, self.url = app, url

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and (b"x-fault", b"1") in scope["headers"]:
            with Session(get_engine(self.url)) as s:
                conn = s.connection()
                conn.exec_driver_sql("SET TRANSACTION READ ONLY" if conn.dialect.name == "postgresql"
                                     else "PRAGMA query_only = ON")
                s.execute(text("UPDATE alembic_version SET version_num = version_num"))
        await self.app(scope, receive, send)


def test_a_fault_in_a_middleware_is_a_json_503_and_the_connection_stays_open(empty_db):
    """Before ``DatabaseFaults`` this was a bare text 500, and uvicorn then closed the kept-alive connection."""
    app = create_app(Settings(database_url=empty_db, **QUIET))
    app.user_middleware.append(Middleware(WritesReadOnly, url=empty_db))  # innermost: inside the guard
    with serve(app) as base, httpx.Client(base_url=base) as client:
        before = client.get("/readyz")
        r = client.get("/healthz", headers={"x-fault": "1"})
        assert r.status_code == 503
        assert_fault_answer(r, "read_only")
        assert "the database is read-only" in r.json()["detail"]
        after = client.get("/readyz")  # on SQLite the read-only connection was dropped, not pooled for the next
        assert before.status_code == after.status_code == 200
        assert port_of(before) == port_of(r) == port_of(after)


# --- PostgreSQL: the app's connections killed under load ------------------------------------------------

@pytest.fixture
def pg_world(tmp_path_factory) -> Iterator[str]:
    for url in fresh_database("postgresql", tmp_path_factory):
        fill(url)
        yield url


def terminate_app_backends(url: str) -> int:
    """Kill every other backend of the test database: the app's pooled, idle and working connections."""
    admin = create_engine(_psycopg(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return conn.scalar(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    finally:
        admin.dispose()


def wait_for_sleeper(url: str) -> None:
    """Until the app's slow probe is inside its transaction (bounded: the probe sleeps 60 s at most)."""
    admin = create_engine(_psycopg(url), isolation_level="AUTOCOMMIT")
    try:
        for _ in range(600):
            with admin.connect() as conn:
                if conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND state = 'active' AND query LIKE 'SELECT pg_sleep%'")):
                    return
            time.sleep(0.05)
        raise AssertionError("the slow probe never reached the database")
    finally:
        admin.dispose()


class Driver:
    """A client thread: reports cases (each attempt its own Idempotency-Key) and reads lists on one kept-alive
    connection, recording every answer."""

    def __init__(self, base: str, headers: dict):
        self.client = httpx.Client(base_url=base, headers=headers, timeout=90)
        self.answers: list[httpx.Response] = []
        self.refused: set[str] = set()  # the keys of the writes answered 503
        self.created: set[str] = set()
        self.errors: list[BaseException] = []
        self.stored_at: list[float] = []  # when each write was answered 201

    def write(self) -> httpx.Response:
        key = uuid.uuid4().hex  # also the description: what is stored is told by it
        r = self.client.post("/api/v1/cases", json=report(key), headers={"Idempotency-Key": key})
        self.answers.append(r)
        if r.status_code == 201:
            self.created.add(key)
            self.stored_at.append(time.monotonic())
        elif r.status_code == 503:
            self.refused.add(key)
        return r

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.write()
                self.answers.append(self.client.get("/api/v1/cases", params={"channel": "hotline"}))
        except BaseException as exc:  # a hang-up or a protocol error: the test fails on it
            self.errors.append(exc)


@pytest.mark.postgres
def test_killed_connections_answer_503_and_the_service_recovers_without_a_restart(pg_world, record_property):
    app = create_app(Settings(database_url=pg_world, **QUIET))

    @app.post("/probe/slow")
    def slow(session: Session = Depends(get_session)):
        """Writes, then waits inside its transaction until the test kills the connection."""
        audit.record(session, "probe", target="slow")
        session.flush()
        session.execute(text("SELECT pg_sleep(60)"))
        return {"ok": True}

    with serve(app) as base:
        token = httpx.post(f"{base}/api/v1/auth/token",
                           data={"username": "receptionist", "password": PASSWORD}).json()["access_token"]
        drivers = [Driver(base, {"Authorization": f"Bearer {token}"}) for _ in range(4)]
        stop = threading.Event()
        threads = [threading.Thread(target=d.run, args=(stop,)) for d in drivers]
        for t in threads:
            t.start()
        prober = httpx.Client(base_url=base, timeout=90)
        warm = prober.get("/healthz")
        probe: dict[str, httpx.Response] = {}
        sleeper = threading.Thread(target=lambda: probe.setdefault("r", prober.post("/probe/slow")))
        sleeper.start()
        wait_for_sleeper(pg_world)
        kills = []
        for _ in range(3):  # three rounds, each after every client got answers since the last
            seen = [len(d.answers) for d in drivers]
            kills.append(terminate_app_backends(pg_world))
            last_kill = time.monotonic()
            for d, n in zip(drivers, seen, strict=True):
                for _ in range(12_000):  # a bound, not a timing: a client that gets no answer is a hang
                    if len(d.answers) >= n + 2 or d.errors:
                        break
                    time.sleep(0.01)
                else:
                    raise AssertionError("a client got no answer after the connections were killed: a hang")
        sleeper.join(timeout=90)
        stop.set()
        for t in threads:
            t.join(timeout=90)

        # the request caught in its transaction: a JSON 503, its write rolled back, its connection kept
        assert_fault_answer(probe["r"], "connection_lost")
        assert port_of(prober.get("/healthz")) == port_of(warm)
        with unit_of_work(pg_world) as s:
            assert not s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "probe"))

        # under load: 2xx or a JSON refusal, never a 500 or a hang-up; each client kept its one connection
        for d in drivers:
            assert not d.errors, d.errors
            for r in d.answers:
                if not r.is_success:
                    assert_fault_answer(r)
            assert len({port_of(r) for r in d.answers}) == 1
        refused = sum(len(d.refused) for d in drivers)

        # recovered without a restart: each client's next writes succeed within a few tries
        for d in drivers:
            for _ in range(20):
                if d.write().status_code == 201:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError(f"writes did not come back: {d.answers[-1].text}")
        assert prober.get("/readyz").status_code == 200
        recovered_after = min(t for d in drivers for t in d.stored_at if t > last_kill) - last_kill

        # exactly once: a refused write retried with its key is stored now (201), or was stored after all (200:
        # its commit went through just before the connection died, the answer did not)
        in_doubt = 0
        for d in drivers:
            for key in d.refused:
                r = d.client.post("/api/v1/cases", json=report(key), headers={"Idempotency-Key": key})
                assert r.status_code in (200, 201), r.text
                in_doubt += r.status_code == 200
                d.created.add(key)
        assert stored(pg_world) == set().union(*(d.created for d in drivers))
        assert_each_case_whole(pg_world)
        for d in drivers:
            d.client.close()
        prober.close()
    print(f"\nkilled {kills} backends; {refused} writes answered 503 ({in_doubt} of them stored after all); "
          f"first write stored {recovered_after:.2f} s after the last kill")
    record_property("recovery_seconds", round(recovered_after, 3))


# --- SQLite: a read-only file, a full database ---------------------------------------------------------

@pytest.fixture
def sqlite_world() -> Iterator[Path]:
    """A filled SQLite database in a folder an unprivileged user can reach (pytest's own are root's, 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="liandong-faults-"))
    folder.chmod(0o755)
    url = f"sqlite:///{folder / 'liandong.db'}"
    try:
        from liandong.db import migrate

        migrate(url)
        fill(url)
        yield folder
    finally:
        dispose_engine(url)
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_unprivileged() -> tuple[list[str], tuple[int, int] | None]:
    """The command prefix that makes the server an ordinary user, and that user's ids: root opens a file whatever
    its mode, so as root the server runs as ``nobody`` (``setpriv``, util-linux), the database folder handed
    over to it; otherwise as the current user, as it is. (``Popen(user=...)`` is not enough here: it drops the
    privileges before the exec, and the interpreter may live where ``nobody`` cannot look, e.g. under /root.)"""
    if os.geteuid() != 0:
        return [], None
    import pwd
    import shutil

    setpriv = shutil.which("setpriv")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        nobody = None
    if setpriv is None or nobody is None:
        pytest.skip("running as root without setpriv or a user 'nobody': root writes a read-only file anyway")
    prefix = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    if subprocess.run([*prefix, sys.executable, "-c", "import liandong.cli"], cwd="/", capture_output=True).returncode:
        pytest.skip("running as root, and 'nobody' cannot run this interpreter: root writes a read-only file anyway")
    return prefix, (nobody.pw_uid, nobody.pw_gid)


def set_mode(folder: Path, mode: int) -> None:
    for f in folder.glob("liandong.db*"):  # the database, and its -wal and -shm when they exist
        f.chmod(mode)


def test_a_read_only_file_is_a_503_and_writes_come_back_without_a_restart(sqlite_world):
    """Before: connections opened while the file was read-only stayed read-only, and writes failed until a
    restart while /healthz said 200. Now a connection that meets SQLITE_READONLY is dropped with the pool's
    others of its time, and the next one is opened afresh."""
    url = f"sqlite:///{sqlite_world / 'liandong.db'}"
    with unit_of_work(url) as s:  # writes done before the file turns read-only: signing in, and what the
        _, token = service.sign_in(s, "receptionist", PASSWORD, "api")  # first `liandong serve` records
        for part in upkeep.outdated(s):
            upkeep.record(s, part)
    dispose_engine(url)
    prefix, ids = as_unprivileged()
    if ids:
        for f in [sqlite_world, *sqlite_world.iterdir()]:
            os.chown(f, *ids)
    set_mode(sqlite_world, 0o444)  # read-only before the server opens its connections: they all open read-only
    port = free_port()
    env = {**os.environ, "LIANDONG_DATABASE_URL": url, "HOME": str(sqlite_world), "PYTHONDONTWRITEBYTECODE": "1",
           "LIANDONG_SWEEP_SECONDS": "0", "LIANDONG_EARLY_WARNING_SCAN_MINUTES": "0", "LIANDONG_LOG_LEVEL": "warning",
           "LIANDONG_READY_KEEP_SECONDS": "0"}
    log = sqlite_world / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([*prefix, str(Path(sys.executable).parent / "liandong"), "serve", "--port",
                                   str(port)], cwd=sqlite_world, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            for _ in range(600):
                try:
                    alive = client.get("/healthz")
                    break
                except httpx.TransportError:
                    assert server.poll() is None, log.read_text()
                    time.sleep(0.1)
            assert alive.json()["status"] == "ok"  # alive, though it cannot write

            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503 and not_ready.json()["failing"] == "writable"
            assert not_ready.json()["detail"] == "the database is read-only"
            refused = [client.post("/api/v1/cases", json=report(f"ro-{i}"), headers={"Idempotency-Key": f"ro-{i}"})
                       for i in range(3)]
            for r in refused:
                assert r.status_code == 503, r.text
                assert_fault_answer(r, "read_only")
                assert r.json()["detail"].startswith("the database is read-only")

            set_mode(sqlite_world, 0o644)  # the moment is over; the server is not restarted
            tries = []
            while len(tries) < 5:  # a connection opened while read-only may still meet one request
                tries.append(client.post("/api/v1/cases", json=report("after"), headers={"Idempotency-Key": "after"}))
                if tries[-1].status_code == 201:
                    break
                assert_fault_answer(tries[-1], "read_only")
            after = tries[-1]
            assert after.status_code == 201, after.text
            assert client.get("/readyz").status_code == 200
            assert len({port_of(r) for r in [alive, not_ready, *refused, after]}) == 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"\nwrites stored again on try {len(tries)} after the permissions came back")
    assert stored(url) == {"after"}  # nothing of the refused writes
    assert_each_case_whole(url)


def test_a_full_database_is_a_503_naming_it_and_nothing_is_half_written(sqlite_world):
    """``PRAGMA max_page_count`` at the database's size: the next write that needs a page fails (SQLITE_FULL)."""
    url = f"sqlite:///{sqlite_world / 'liandong.db'}"
    raw = sqlite3.connect(sqlite_world / "liandong.db")
    pages = raw.execute("PRAGMA page_count").fetchone()[0]
    raw.close()

    def limit(dbapi_conn, _record) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    engine = get_engine(url)
    event.listen(engine, "connect", limit)
    engine.dispose()  # the pool's next connections are opened with the limit
    app = create_app(Settings(database_url=url, **QUIET))
    kept, full = [], None
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        token = client.post("/api/v1/auth/token", data={"username": "receptionist", "password": PASSWORD})
        if token.status_code == 200:
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        else:  # the database was full already at signing in: that is the answer to check
            full = token
        for i in range(300):  # bounded: each report takes pages of its own (a long description)
            if full is not None:
                break
            key = f"full-{i}"
            r = client.post("/api/v1/cases", json=report(key * 150), headers={"Idempotency-Key": key})
            if r.status_code == 201:
                kept.append(key * 150)
            else:
                full = r
        assert full is not None, "the limit was never reached"
        assert_fault_answer(full, "full")
        assert full.json()["detail"].startswith("the database is full")
        assert port_of(full) == port_of(client.get("/healthz"))

        event.remove(engine, "connect", limit)  # space again (the limit is the connections')
        engine.dispose()
        if "Authorization" not in client.headers:
            token = client.post("/api/v1/auth/token", data={"username": "receptionist", "password": PASSWORD})
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        after = client.post("/api/v1/cases", json=report("after"), headers={"Idempotency-Key": "after"})
        assert after.status_code == 201, after.text
    assert stored(url) == {*kept, "after"}
    assert_each_case_whole(url)
