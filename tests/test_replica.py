"""Reads from a real streaming replica (ops/replica.py), over real HTTP.

The test makes its own PostgreSQL pair (bench/pgpair.py): a primary cluster in a temporary directory (``initdb``,
its own port) and a hot standby cloned from it with ``pg_basebackup -R`` (another port). A streaming replica copies a
whole cluster, so the shared test server cannot be used. Both are stopped and their directories removed at the end,
whatever happens. The PostgreSQL binaries refuse to run as root: as root they run as the ``postgres`` user.

Which server answered is proved twice over: by the data (with the replica's replay paused, a read from it shows
the state before the pause) and by the statements each engine executed (SQLAlchemy events).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from bench import pgpair
from bench.pgpair import Cluster, sql, wait_until_replayed
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from liandong.app import create_app
from liandong.config import Settings
from liandong.db import get_engine, migrate
from liandong.ops import replica as replicas
from tests.caseworld import MATTER, WEST_POINT, fill, new_case
from tests.factories import PASSWORD
from tests.server import serve

pytestmark = pytest.mark.postgres

WRITER, READER = "receptionist", "dispatcher"
"""The writer reports cases; the reader (who may see the assessment) writes nothing."""
PROBE = "pg_is_in_recovery"
"""In the replica's own status query (ops/replica.py), not in any endpoint's."""


def _migrated_and_filled(url: str) -> None:
    migrate(url)
    fill(url)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = pgpair.unavailable()
    if reason:
        pytest.skip(reason)
    with pgpair.pair(_migrated_and_filled) as made:
        yield made


@contextlib.contextmanager
def replay_paused(cluster: Cluster) -> Iterator[None]:
    """The standby keeps receiving WAL but applies none of it until the block ends."""
    sql(cluster.replica_url, "SELECT pg_wal_replay_pause()")
    deadline = time.monotonic() + 30
    while sql(cluster.replica_url, "SELECT pg_get_wal_replay_pause_state()") != "paused":
        assert time.monotonic() < deadline, "the standby did not pause its replay"
        time.sleep(0.02)
    try:
        yield
    finally:
        sql(cluster.replica_url, "SELECT pg_wal_replay_resume()")


class Statements:
    """Every statement an engine sends, so a test can tell which server served a request."""

    def __init__(self, engine: Engine):
        self.engine, self.seen = engine, []
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seen.append(statement)

    def reads(self) -> int:
        """Statements of the endpoints (the replica's status query left out); resets the count."""
        count = sum(1 for s in self.seen if PROBE not in s)
        self.seen.clear()
        return count

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@dataclass
class Site:
    http: httpx.Client
    writer: dict
    reader: dict
    on_replica: Statements
    cluster: Cluster

    def overview(self, who: dict) -> int:
        """Cases reported today as ``who`` sees them (the command centre's first KPI)."""
        r = self.http.get("/api/v1/stats/overview", headers=who)
        assert r.status_code == 200, r.text
        return r.json()["today"]["reported"]

    def report(self) -> None:
        body = {"matter_code": MATTER, "description": "副本测试：违章搭建", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
                "channel": "hotline"}
        r = self.http.post("/api/v1/cases", json=body, headers=self.writer)
        assert r.status_code == 201, r.text


@contextlib.contextmanager
def site(cluster: Cluster, max_lag_seconds: float = 3600.0) -> Iterator[Site]:
    settings = Settings(database_url=cluster.primary_url, database_replica_url=cluster.replica_url,
                        replica_max_lag_seconds=max_lag_seconds, index_check_seconds=0, sweep_seconds=0,
                        early_warning_scan_minutes=0)
    replica = replicas.replica_for(cluster.primary_url, cluster.replica_url, max_lag_seconds)
    on_replica = Statements(replica.engine)
    try:
        with serve(create_app(settings)) as base, httpx.Client(base_url=base, timeout=30) as http:
            tokens = {}
            for name in (WRITER, READER):
                r = http.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
                assert r.status_code == 200, r.text
                tokens[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            yield Site(http, tokens[WRITER], tokens[READER], on_replica, cluster)
    finally:
        on_replica.close()


def mark_of(cluster: Cluster, username: str) -> int | None:
    return sql(cluster.primary_url, "SELECT m.lsn FROM read_marks m JOIN users u ON u.id = m.user_id "
                                    f"WHERE u.username = '{username}'")


def test_reads_go_to_the_replica_and_a_writer_always_sees_their_own_write(cluster):
    with site(cluster) as s, site(cluster) as elsewhere:  # a second app, where the same users signed in again
        wait_until_replayed(cluster)  # the logins
        before = s.overview(s.reader)
        assert s.on_replica.reads() > 0, "a read by a user without recent writes is served by the replica"
        for path in ("/api/v1/assessment?object=town", "/", "/assessment", "/api/v1/screening/summary",
                     "/api/v1/stats/breakdown?by=channel"):
            r = s.http.get(path, headers=s.reader)
            assert r.status_code == 200, (path, r.text)
            assert s.on_replica.reads() > 0, f"{path} was not read from the replica"
        assert mark_of(cluster, READER) is None, "reads leave no mark"

        with replay_paused(cluster):
            s.report()
            mark = mark_of(cluster, WRITER)
            assert mark is not None, "the write left the writer's mark before its answer"
            # the writer sees their case at once: the replica does not show their mark yet, so the primary answers
            assert s.overview(s.writer) == before + 1
            assert s.on_replica.reads() == 0
            # and so do they through another app process, with another token: the mark is the user's, in the primary
            assert elsewhere.overview(elsewhere.writer) == before + 1
            assert s.on_replica.reads() == 0
            # someone else reads the replica, frozen before the write
            assert s.overview(s.reader) == before
            assert s.on_replica.reads() > 0
            assert mark_of(cluster, WRITER) == mark, "a read does not move the mark"

        wait_until_replayed(cluster)
        # replayed: both read from the replica again, and both see the case
        assert s.overview(s.writer) == before + 1
        assert s.on_replica.reads() > 0
        assert s.overview(s.reader) == before + 1
        assert s.on_replica.reads() > 0


def test_a_replica_lagging_past_the_bound_is_passed_over(cluster):
    bound = 0.5
    with site(cluster) as patient, site(cluster, max_lag_seconds=bound) as strict:
        wait_until_replayed(cluster)
        before = patient.overview(patient.reader)
        patient.on_replica.reads()
        with replay_paused(cluster):
            new_case(cluster.primary_url)  # written by no user of the site: no mark protects anyone's read
            lag = f"EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()) > {bound}"
            deadline = time.monotonic() + 30
            while not sql(cluster.replica_url, f"SELECT {lag}"):  # the replica falls behind by more than the bound
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert patient.overview(patient.reader) == before, "within its bound, the lagging replica is read"
            assert patient.on_replica.reads() > 0
            strict.on_replica.reads()  # both sites read through the one replica engine: forget the patient's read
            assert strict.overview(strict.reader) == before + 1, "past the bound, the primary answers"
            assert strict.on_replica.reads() == 0
        wait_until_replayed(cluster)


def test_a_mark_waits_for_its_own_commit_even_when_later_transactions_were_replayed(cluster):
    """The interleaving that defeats a transaction-id mark: an older transaction commits after a younger one the
    standby has already replayed (a standby's ``pg_current_snapshot()`` then calls the older one visible)."""
    replica = replicas.replica_for(cluster.primary_url, cluster.replica_url, 3600.0)
    primary = get_engine(cluster.primary_url)
    with primary.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS scratch (n int)"))
        user_id = conn.execute(text(f"SELECT id FROM users WHERE username = '{WRITER}'")).scalar()
    older = primary.connect()
    try:
        older.execute(text("INSERT INTO scratch VALUES (1)"))  # the user's write: its id is taken first
        with primary.begin() as conn:
            conn.execute(text("INSERT INTO scratch VALUES (2)"))  # someone else's, younger, committed first
        wait_until_replayed(cluster)
        with replay_paused(cluster):
            older.commit()
            with Session(primary) as session:  # what the request's unit of work does after the commit
                replicas.mark(session, user_id)
                session.commit()
            assert sql(cluster.replica_url, "SELECT count(*) FROM scratch WHERE n = 1") == 0
            with Session(primary) as asking:
                chosen, choice = replica.open(asking, user_id)
                assert chosen is None and "last write" in choice.reason
                chosen, choice = replica.open(asking, None)
                assert chosen is not None, "a user without writes still reads the replica"
                chosen.close()
    finally:
        older.close()
    wait_until_replayed(cluster)
    with Session(primary) as asking:
        chosen, choice = replica.open(asking, user_id)
    assert chosen is not None, choice
    try:
        assert chosen.execute(text("SELECT count(*) FROM scratch WHERE n = 1")).scalar() == 1
    finally:
        chosen.close()


def test_a_stopped_replica_sends_reads_to_the_primary(cluster):
    with site(cluster) as s:
        wait_until_replayed(cluster)
        before = s.overview(s.reader)
        s.on_replica.reads()
        new_case(cluster.primary_url)
        cluster.stop("replica")
        try:
            assert s.overview(s.reader) == before + 1
            for path in ("/api/v1/assessment?object=town", "/", "/assessment", "/reports/annual"):
                r = s.http.get(path, headers=s.reader)
                assert r.status_code == 200, (path, r.text)
            assert s.on_replica.reads() == 0
        finally:
            cluster.start("replica")


def test_a_replica_needs_postgresql(tmp_path):
    assert replicas.replica_for(f"sqlite:///{tmp_path / 'x.db'}", "", 30) is None
    with pytest.raises(ValueError, match="LIANDONG_DATABASE_URL is sqlite"):
        replicas.replica_for(f"sqlite:///{tmp_path / 'x.db'}", "postgresql://postgres@127.0.0.1:1/x", 30)
