"""Several app processes on one database (issue 15): real processes, real PostgreSQL, real HTTP.

- the principal listener hears a committed change (not a rolled-back one) and, its connection killed, connects
  again and clears the cache (notifications sent meanwhile are lost);
- every background job — the escalation sweep, the plan task sweep, the early-warning scan (manual and
  scheduled), CAP feed polling — run by two processes at the same moment over the same due work does each thing
  once: a row lock (or the advisory lock, or a table lock) is held until both processes wait on it, then they race;
- two server processes: an SSE client of process A receives a case reported through process B; a token logged out
  or a user disabled through B is refused by A at once, with the principal cache set to 300 s (a token revoked
  behind the app's back stays served until a notification arrives: the cache is real);
- kill -9 during sustained intake (``liandong serve --workers 2``, SQLite and PostgreSQL): every acknowledged
  report is stored exactly once, each case acknowledged, and the killed worker or server carries on.

Waits are bounded (a failure shows as a failed wait, never a hang); nothing here measures speed.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import multiprocessing
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, func, select, text, update

from liandong.areas.index import GridIndex
from liandong.audit import AuditEntry
from liandong.auth import invalidation, principals, service
from liandong.auth.identity import Identity
from liandong.auth.models import AuthToken, User
from liandong.cases.intake import creator_key
from liandong.cases.models import Case, CaseEvent
from liandong.db import dispose_engine, migrate, unit_of_work
from liandong.emergency.cap.models import ReceivedWarning
from liandong.screening.early_warning_models import EarlyWarning, EarlyWarningEvent, EarlyWarningScan
from tests.caseworld import WEST_POINT, boss, fill
from tests.conftest import create_pg_database, drop_pg_database, fresh_database, postgres_unavailable
from tests.factories import PASSWORD

CLI = str(Path(sys.executable).with_name("liandong"))
MATTER = "06001"


def until(check: Callable[[], bool], seconds: float = 20.0, step: float = 0.05) -> bool:
    """Whether ``check()`` became true within ``seconds`` (a bound for failing, not a measure)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def need_postgres() -> None:
    if reason := postgres_unavailable():
        pytest.skip(f"several processes on one database are tested on PostgreSQL: {reason}")


@pytest.fixture(scope="module")
def pg_world(tmp_path_factory) -> Iterator[str]:
    """tests/caseworld.py's district, catalogue and users on a PostgreSQL database of this module's own."""
    need_postgres()
    for url in fresh_database("postgresql", tmp_path_factory):
        fill(url)
        yield url


# --- the listener ---------------------------------------------------------------------------------------------

def _listeners(engine) -> int:
    with engine.connect() as c:
        return c.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                             "AND application_name = :name"), {"name": invalidation.NAME})


def _backend_of_listener(engine) -> int | None:
    with engine.connect() as c:
        return c.scalar(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                             "AND application_name = :name"), {"name": invalidation.NAME})


@pytest.mark.postgres
def test_the_listener_hears_commits_only_and_comes_back_after_its_connection_is_killed(pg_world):
    listener = invalidation.listen(pg_world)
    engine = create_engine(pg_world)
    try:
        assert until(listener.listening.is_set), "the listener did not connect"
        assert listener.connects == 1
        with unit_of_work(pg_world) as s:
            secret = service.issue_token(s, s.scalar(select(User).where(User.username == "inspector")), "api")
        from liandong.db import session_factory

        with session_factory(pg_world)() as s:  # a change rolled back: nothing is sent
            service.set_active(s, "inspector", False)
            s.flush()
            s.rollback()
        with unit_of_work(pg_world) as s:  # a logout committed: heard
            service.sign_out(s, secret)
        assert until(lambda: listener.heard >= 1), "the committed logout was not heard"
        assert listener.heard == 1  # notifications come in commit order: a rolled-back one would have come first

        before = principals._generation
        backend = _backend_of_listener(engine)
        with engine.connect() as c:
            assert c.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        assert until(lambda: listener.connects == 2, 30), "the listener did not connect again"
        assert principals._generation > before  # reconnected: the cache is cleared (anything may have changed)
        assert _backend_of_listener(engine) not in (None, backend)
        with unit_of_work(pg_world) as s:  # and it hears again
            service.set_roles(s, "inspector", ["inspector"])
        assert until(lambda: listener.heard >= 2)
    finally:
        listener.stop()
        engine.dispose()
    assert not listener.listening.is_set()


def test_no_listener_on_sqlite(tmp_path):
    assert invalidation.listen(f"sqlite:///{tmp_path / 'x.db'}") is None


# --- background jobs, two processes at once -------------------------------------------------------------------

def job_escalation_sweep(url: str, now: dt.datetime) -> tuple[int, list[int]]:
    from liandong.cases import calendar, sla

    with unit_of_work(url) as s:
        return os.getpid(), sla.sweep(s, now, calendar.calendar_for(s))


def job_task_sweep(url: str, now: dt.datetime) -> tuple[int, dict]:
    from liandong.emergency import task_sweep

    with unit_of_work(url) as s:
        return os.getpid(), task_sweep.sweep(s, now, ack_minutes=15)


def job_scan(url: str, at: dt.datetime) -> tuple[int, list[int]]:
    from liandong.screening import early_warnings

    with unit_of_work(url) as s:
        outcome = early_warnings.scan(s, at, GridIndex.build(s))
        return os.getpid(), [w.id for w in outcome.created]


def job_scheduled_scan(url: str, at: dt.datetime) -> tuple[int, bool]:
    from liandong.screening import early_warnings

    outcome = early_warnings.scheduled(lambda: unit_of_work(url), at, GridIndex.build, dt.timedelta(hours=1))
    return os.getpid(), outcome.skipped


def job_cap_poll(url: str, feed: str) -> tuple[int, dict]:
    from liandong.config import Settings
    from liandong.emergency.cap import poll

    now = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    summary = poll.poll(feed, lambda: unit_of_work(url), Settings(database_url=url, cap_poll_timeout_seconds=10),
                        lambda: now)
    return os.getpid(), summary


def _lock_waiters(engine) -> int:
    with engine.connect() as c:
        return c.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                             "AND wait_event_type = 'Lock'"))


def race(pool: ProcessPoolExecutor, url: str, hold: str, job: Callable, *args) -> list:
    """Run ``job(url, *args)`` in both pool processes at once: ``hold`` (a lock) is taken first and kept until
    both processes wait on it, so both have read their due work before either may write."""
    engine = create_engine(url)
    try:
        with engine.connect() as holder:
            holder.execute(text(hold))
            futures = [pool.submit(job, url, *args) for _ in range(2)]
            both = until(lambda: _lock_waiters(engine) >= 2 or any(f.done() for f in futures), 60)
            waiting = _lock_waiters(engine)
            holder.rollback()
        results = [f.result(timeout=180) for f in futures]
    finally:
        engine.dispose()
    assert both and waiting == 2, f"both processes should wait on the held lock ({waiting} did): {results}"
    assert results[0][0] != results[1][0], "the two runs must be two processes"
    return [r[1] for r in results]


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as executor:
        yield executor


@pytest.mark.postgres
def test_the_escalation_sweep_escalates_each_stage_once(pg_world, pool):
    from tests.test_sla import at, new_case, run

    t0 = at("2026-03-02 09:00")  # a Monday; the dispatch stage has an hour
    ids = [new_case(pg_world, t0) for _ in range(12)]
    for cid in ids:
        run(pg_world, cid, "accept", t0)
        run(pg_world, cid, "file", t0)
    first, second = race(pool, pg_world, f"SELECT id FROM cases WHERE id IN ({','.join(map(str, ids))}) FOR UPDATE",
                         job_escalation_sweep, at("2026-03-02 11:00"))
    assert not set(first) & set(second) and sorted(first + second) == sorted(ids)
    with unit_of_work(pg_world) as s:
        events = s.execute(select(CaseEvent.case_id, CaseEvent.payload).where(
            CaseEvent.action == "escalate", CaseEvent.case_id.in_(ids))).all()
        levels = s.execute(select(Case.id, Case.escalation_level, Case.escalation_count).where(Case.id.in_(ids))).all()
    assert Counter((cid, p["level"]) for cid, p in events) == {(cid, 1): 1 for cid in ids}  # one per stage level
    assert {(level, count) for _, level, count in levels} == {(1, 1)}


@pytest.mark.postgres
def test_the_plan_task_sweep_escalates_each_task_once(pg_world, pool, tmp_path):
    from tests.factories import WEST
    from tests.test_incidents import Desk, minutes
    from tests.test_plans import TYPHOON, activate, assessed, by_key, log_of, plan_world, task_list

    plan_world(pg_world, tmp_path)
    start = dt.datetime(2026, 8, 8, 14, 0, tzinfo=dt.UTC)
    desk = Desk(pg_world, start)
    iid = assessed(desk, **TYPHOON, area_codes=[WEST])
    assert activate(desk, iid, 4).status_code == 200
    tasks = by_key(task_list(desk, iid))
    watch, duty = tasks[("watch", "C")]["id"], tasks[("town-duty", f"S-{WEST}")]["id"]
    first, second = race(pool, pg_world, f"SELECT id FROM incidents WHERE id = {iid} FOR UPDATE",
                         job_task_sweep, start + minutes(31))
    for kind in ("unacknowledged", "late"):
        assert not set(first[kind]) & set(second[kind])
    assert sorted(first["unacknowledged"] + second["unacknowledged"]) == sorted([watch, duty])
    assert first["late"] + second["late"] == [watch]
    entries = Counter((e["action"], e["payload"]["task_id"]) for e in log_of(desk, iid)
                      if e["action"] in ("task_unacked", "task_late"))
    assert entries == {("task_unacked", watch): 1, ("task_unacked", duty): 1, ("task_late", watch): 1}


@pytest.mark.postgres
def test_the_early_warning_scan_stores_each_cluster_once(pg_world, pool):
    from tests.test_early_warnings import MATTERS, T_WEST, _burst, _report

    rng = np.random.default_rng(7)
    with unit_of_work(pg_world) as s:
        index, actor = GridIndex.build(s), boss(pg_world)
        start = T_WEST - dt.timedelta(days=26)
        for _ in range(120):
            _report(s, index, actor, MATTERS[rng.integers(len(MATTERS))], rng.uniform(121.302, 121.348),
                    rng.uniform(31.102, 31.124), start + dt.timedelta(seconds=float(rng.uniform(0, 26 * 86400))))
        west = _burst(s, index, actor, WEST_POINT, T_WEST)
    at = T_WEST + dt.timedelta(minutes=30)
    lock = "SELECT pg_advisory_xact_lock(hashtext('liandong.early_warnings'))"
    first, second = race(pool, pg_world, lock, job_scan, at)  # two manual scans: both store, each cluster once
    assert not set(first) & set(second)
    with unit_of_work(pg_world) as s:
        warnings = s.scalars(select(EarlyWarning)).all()
        found = Counter(s.scalars(select(EarlyWarningEvent.warning_id).where(EarlyWarningEvent.kind == "found")))
        per_scan = Counter(s.execute(select(EarlyWarningEvent.warning_id, EarlyWarningEvent.at)
                                     .where(EarlyWarningEvent.at == at)).all())
        assert sorted(w.id for w in warnings) == sorted(first + second)
        assert [w for w in warnings if set(w.case_ids) & set(west)], "the injected cluster was not found"
        assert found == dict.fromkeys((w.id for w in warnings), 1)
        assert set(per_scan.values()) == {1}  # one event per warning for this scan time, not one per process
    later = at + dt.timedelta(hours=2)
    skipped = race(pool, pg_world, lock, job_scheduled_scan, later)  # the scheduled turn: one runs, one skips
    assert sorted(skipped) == [False, True]
    with unit_of_work(pg_world) as s:
        assert s.scalar(select(func.count()).select_from(EarlyWarningScan).where(EarlyWarningScan.at == later)) == 1


class Feed(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.files.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args) -> None:
        pass


@pytest.mark.postgres
def test_cap_polling_stores_each_message_once(pg_world, pool):
    from tests.test_cap import alert_doc, atom_feed

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    names = [f"two-{i}" for i in range(4)]
    Feed.files = {f"/cap/{n}.xml": alert_doc(n, sender="two@example.org", sent="2026-08-01T08:00:00+08:00")
                  for n in names}
    Feed.files["/feed.atom"] = atom_feed(base, [f"/cap/{n}.xml" for n in names])
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        first, second = race(pool, pg_world, "LOCK TABLE cap_received IN SHARE ROW EXCLUSIVE MODE", job_cap_poll,
                             f"{base}/feed.atom")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert not first["refused"] and not second["refused"]
    assert first["imported"] + second["imported"] == 4
    assert first["imported"] + first["duplicates"] == second["imported"] + second["duplicates"] == 4
    with unit_of_work(pg_world) as s:
        stored = Counter(s.scalars(select(ReceivedWarning.identifier)
                                   .where(ReceivedWarning.sender == "two@example.org")))
        audited = s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "cap_imported", AuditEntry.detail["sender"].as_string() == "two@example.org"))
    assert stored == dict.fromkeys(names, 1) and audited == 4


# --- real servers ---------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``liandong serve`` as its own process group on a free port (so kill -9 can take the whole server)."""

    def __init__(self, url: str, log: Path, workers: int = 1, **settings: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "LIANDONG_DATABASE_URL": url, "LIANDONG_SWEEP_SECONDS": "0",
                    "LIANDONG_EARLY_WARNING_SCAN_MINUTES": "0", "LIANDONG_LOG_LEVEL": "warning",
                    **{f"LIANDONG_{k.upper()}": v for k, v in settings.items()}}
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.log = log

    def start(self) -> Server:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([CLI, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        if not until(self.ready, 60, 0.2):
            self.kill()
            raise AssertionError(f"the server did not start: {self.log.read_text()[-3000:]}")
        return self

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the server exited: {self.log.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def worker_pids(self) -> list[int]:
        """The uvicorn workers (children of the server process running multiprocessing's spawn)."""
        assert self.proc is not None
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.proc.pid and b"spawn_main" in cmdline:
                out.append(int(entry.name))
        return sorted(out)

    def kill(self) -> None:
        """SIGKILL to the whole group: the server and its workers, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def running(*servers: Server) -> Iterator[None]:
    try:
        for s in servers:
            s.start()
        yield
    finally:
        for s in servers:
            s.stop()


def token(base: str, username: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": username, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def case_body(i: int) -> dict:
    return {"matter_code": MATTER, "description": f"多进程测试 {i}", "lon": WEST_POINT[0] + (i % 10) * 1e-5,
            "lat": WEST_POINT[1] + (i // 10 % 10) * 1e-5, "channel": "hotline"}


def listen_sse(base: str, headers: dict, into: queue.Queue, connected: threading.Event, done: threading.Event) -> None:
    with httpx.Client(timeout=httpx.Timeout(30, read=60)) as c, \
            c.stream("GET", f"{base}/api/v1/live/events", headers=headers) as r:
        connected.set()
        for line in r.iter_lines():
            if line.startswith("data: "):
                into.put(json.loads(line[6:]))
            if done.is_set():
                return


@pytest.mark.postgres
def test_two_servers_share_the_live_feed_and_refuse_revoked_tokens_at_once(pg_world, tmp_path):
    """Process A and process B, each with a principal cache of 300 s: what B writes reaches A's screens, and
    what B revokes A refuses at once — through the notification, not the cache running out."""
    a = Server(pg_world, tmp_path / "a.log", principal_cache_seconds="300")
    b = Server(pg_world, tmp_path / "b.log", principal_cache_seconds="300")
    with running(a, b):
        engine = create_engine(pg_world)
        try:  # one listener per process
            assert until(lambda: _listeners(engine) == 2), f"{_listeners(engine)} listeners for 2 processes"
        finally:
            engine.dispose()
        # the live feed: a screen on A, a report through B
        seen: queue.Queue = queue.Queue()
        connected, done = threading.Event(), threading.Event()
        screen = threading.Thread(target=listen_sse, args=(a.base, token(a.base, "dispatcher"), seen, connected, done),
                                  daemon=True)
        screen.start()
        assert connected.wait(20)
        r = httpx.post(f"{b.base}/api/v1/cases", json=case_body(1), headers=token(b.base, "receptionist"), timeout=30)
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        deadline = time.monotonic() + 30
        got = None
        while got is None and time.monotonic() < deadline:
            try:
                item = seen.get(timeout=1)
            except queue.Empty:
                continue
            if item.get("case_id") == case_id and item.get("action") == "report":
                got = item
        done.set()
        assert got is not None, "A's screen did not receive the case reported through B"

        def served(base: str, headers: dict) -> int:
            return httpx.get(f"{base}/api/v1/me", headers=headers, timeout=30).status_code

        # logout through B: A refuses the token (A had it cached), and ends the stream A was sending it
        inspector = token(b.base, "inspector")
        assert served(a.base, inspector) == 200 and served(a.base, inspector) == 200
        ended = threading.Event()

        def inspector_screen() -> None:
            with httpx.Client(timeout=httpx.Timeout(30, read=60)) as c, \
                    c.stream("GET", f"{a.base}/api/v1/live/events", headers=inspector) as r:
                assert r.status_code == 200
                streaming.set()
                for _ in r.iter_lines():
                    pass
            ended.set()

        streaming = threading.Event()
        threading.Thread(target=inspector_screen, daemon=True).start()
        assert streaming.wait(20)
        time.sleep(2)
        assert not ended.is_set(), "the stream ended before anything changed"
        assert httpx.post(f"{b.base}/api/v1/auth/logout", headers=inspector, timeout=30).status_code == 204
        assert until(lambda: served(a.base, inspector) == 401, 10), "A still serves a token logged out through B"
        assert ended.wait(10), "A goes on streaming to a token logged out through B"

        # a user disabled through B: A refuses their token
        handler = token(a.base, "cm_west")
        assert served(a.base, handler) == 200
        admin = token(b.base, "admin")
        r = httpx.put(f"{b.base}/api/v1/users/cm_west/active", json={"active": False}, headers=admin, timeout=30)
        assert r.status_code == 200, r.text
        assert until(lambda: served(a.base, handler) == 401, 10), "A still serves the token of a user disabled on B"

        # the cache is real: a token revoked behind the app's back (no notification) is still served by A ...
        shift = token(a.base, "shift_leader")
        assert served(a.base, shift) == 200
        engine = create_engine(pg_world)
        try:
            with engine.begin() as c:
                c.execute(update(AuthToken).where(AuthToken.token_hash == service.digest(
                    shift["Authorization"].split()[1])).values(revoked_at=func.now()))
            assert served(a.base, shift) == 200  # cached for 300 s: nothing told A
            with engine.begin() as c:  # ... until a notification says users or tokens changed
                c.execute(text("SELECT pg_notify(:channel, '')"), {"channel": invalidation.CHANNEL})
        finally:
            engine.dispose()
        assert until(lambda: served(a.base, shift) == 401, 10)


# --- kill -9 during sustained intake --------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def kill_world(request, tmp_path) -> Iterator[str]:
    if request.param == "postgresql":
        need_postgres()
        url = create_pg_database()
    else:
        url = f"sqlite:///{tmp_path / 'liandong.db'}"
    try:
        migrate(url)
        fill(url)
        dispose_engine(url)
        yield url
    finally:
        if request.param == "postgresql":
            drop_pg_database(url)
        else:
            dispose_engine(url)


class Clients:
    """4 threads reporting cases, each with its own Idempotency-Key, retried with the same key until answered
    2xx (connection errors, 5xx and 409 — a retry racing its own first attempt — are retried)."""

    def __init__(self, base: str, headers: dict, threads: int = 4):
        self.base, self.headers = base, headers
        self.acked: dict[str, int] = {}
        """Idempotency-Key → case id, for every 2xx answer."""
        self.ack_times: list[float] = []
        self.retries: Counter[str] = Counter()
        """Why requests were retried: a connection error, or the status answered."""
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def start(self) -> Clients:
        for t in self.threads:
            t.start()
        return self

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(90)
        assert not any(t.is_alive() for t in self.threads), "a client did not get its last report acknowledged"

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base, timeout=15) as client:
            i = 0
            while not self.stop.is_set():
                key, i = f"kill-{n}-{i}", i + 1
                if not self._send(client, key, case_body(n * 1000 + i)):
                    return

    def _send(self, client: httpx.Client, key: str, body: dict) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                r = client.post("/api/v1/cases", json=body, headers={**self.headers, "Idempotency-Key": key})
            except httpx.TransportError as exc:
                r, why = None, type(exc).__name__
            if r is not None and r.status_code in (200, 201):
                with self.lock:
                    self.acked[key] = r.json()["id"]
                    self.ack_times.append(time.monotonic())
                return True
            if r is not None and r.status_code < 500 and r.status_code != 409:
                self.failures.append(f"{key}: {r.status_code} {r.text[:200]}")
                return False
            with self.lock:
                self.retries[why if r is None else str(r.status_code)] += 1
            time.sleep(0.2)
        self.failures.append(f"{key}: no 2xx within 60 s")
        return False


def test_kill_9_during_intake_loses_and_doubles_nothing(kill_world, tmp_path):
    workers = 2
    server = Server(kill_world, tmp_path / "server.log", workers=workers)
    server.start()
    try:
        headers = token(server.base, "receptionist")
        clients = Clients(server.base, headers).start()

        def progress(more: int = 15) -> None:
            target = clients.count() + more
            assert until(lambda: clients.count() >= target or bool(clients.failures), 40, 0.1), (
                f"intake did not carry on: {clients.count()} acknowledged, {clients.failures[:3]}")
            assert not clients.failures, clients.failures[:5]

        progress()
        kills = []
        for round_ in ("worker", "server", "worker"):
            if round_ == "worker":
                before = server.worker_pids()
                assert len(before) == workers, before
                os.kill(before[0], signal.SIGKILL)
                kills.append(("worker", time.monotonic()))
                # the supervisor starts a new worker, and intake carries on
                assert until(lambda old=set(before): len(set(server.worker_pids()) - old) == 1
                             and len(server.worker_pids()) == workers, 40, 0.1), server.worker_pids()
            else:
                server.kill()
                kills.append(("server", time.monotonic()))
                server.start()  # the same port: the clients find it again
            progress()
        clients.join()
    finally:
        server.stop()
    assert not clients.failures, clients.failures[:5]
    engine = create_engine(kill_world)
    try:
        with engine.connect() as c:
            uid = c.scalar(select(User.id).where(User.username == "receptionist"))
            stored = Counter(c.scalars(select(Case.idempotency_key).where(Case.created_by == uid)))
            ids = dict(c.execute(select(Case.idempotency_key, Case.id).where(Case.created_by == uid)).all())
    finally:
        engine.dispose()
    me = Identity(roles=frozenset(), user_id=uid)
    expected = {creator_key(me, key): case_id for key, case_id in clients.acked.items()}
    doubled = {k: n for k, n in stored.items() if n > 1}
    assert not doubled, f"stored twice: {doubled}"
    assert set(expected) <= set(stored), f"acknowledged, not stored: {set(expected) - set(stored)}"
    assert set(stored) == set(expected), f"stored, never acknowledged: {set(stored) - set(expected)}"
    assert {k: ids[k] for k in expected} == expected  # each retry was answered with the first case
    assert len(kills) == 3 and len(expected) >= 60
    answered = [(what, round(min(t for t in clients.ack_times if t > at) - at, 1)) for what, at in kills]
    print(f"kill -9 ({kill_world.split(':')[0]}): {len(expected)} acknowledged, retried {dict(clients.retries)}, "
          f"first acknowledgement after each kill (s): {answered}")
