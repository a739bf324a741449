"""Partitioned history (migration 0031, ``liandong/ops/partitions.py``): the event log and the stage facts by month
on PostgreSQL, rows landing in their month, the event numbers still unique across partitions under a race, the
conversion of an existing log and its downgrade, archiving a month (export, refusal, drop, what the figures then
read, restore). SQLite keeps its plain tables."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from liandong.areas.index import GridIndex
from liandong.assessment import annual
from liandong.auth.identity import Identity
from liandong.cases import actions, facts, intake, log, upkeep
from liandong.cases.models import CaseEvent, StageFact
from liandong.db import dispose_engine, get_engine, migrate, unit_of_work
from liandong.ops import partitions
from liandong.ops.partitions import PartitionError
from tests.caseworld import MATTER, WEST_POINT, boss, fill
from tests.conftest import create_pg_database, drop_pg_database, fresh_database, postgres_unavailable

UTC = dt.UTC
NOW = dt.datetime.now(UTC)
LEADER = Identity(roles=frozenset({"leader"}))


def at(year: int, month: int, day: int = 10, hour: int = 4) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def open_case(url: str, when: dt.datetime, steps: tuple[str, ...] = ()) -> int:
    """A case reported at ``when``, then taken through ``steps`` an hour apart."""
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        case, _ = intake.report(s, index, boss(url), matter_code=MATTER, description="测试：违章搭建",
                                lon=WEST_POINT[0], lat=WEST_POINT[1], channel="hotline", now=when)
        for i, step in enumerate(steps, 1):
            actions.act(s, index, case.id, step, boss(url), {}, now=when + dt.timedelta(hours=i))
        return case.id


def where(url: str, table: str, case_id: int) -> list[tuple[int, str]]:
    """(seq, partition) of a case's rows."""
    with unit_of_work(url) as s:
        return [tuple(r) for r in s.execute(text(
            f"SELECT seq, tableoid::regclass::text FROM {table} WHERE case_id = :c ORDER BY seq"), {"c": case_id})]


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    """A migrated PostgreSQL database with the case world (skipped, with the reason, without PostgreSQL)."""
    for url in fresh_database("postgresql", tmp_path_factory):
        fill(url)
        yield url


@pytest.fixture
def fresh_pg():
    """An empty PostgreSQL database, not migrated (the test migrates it where it needs)."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    url = create_pg_database()
    yield url
    drop_pg_database(url)


def test_sqlite_keeps_plain_tables_and_the_commands_say_why(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    migrate(url)
    with get_engine(url).begin() as conn:
        assert not partitions.is_partitioned(conn)
        with pytest.raises(PartitionError, match="only on PostgreSQL"):
            partitions.ensure(conn, NOW)
        sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'case_events'")).scalar()
    assert "UNIQUE (case_id, seq)" in sql
    dispose_engine(url)


@pytest.mark.postgres
def test_the_history_is_partitioned_by_district_month(pg):
    this = partitions.month_of(NOW)
    with get_engine(pg).begin() as conn:
        assert partitions.is_partitioned(conn)
        for table in partitions.TABLES:
            parts = partitions.partitions(conn, table)
            assert parts[-1].name == f"{table}_default" and parts[-1].default
            months = [p.lo for p in parts[:-1]]
            assert months[-4:] == [partitions.add_months(this, i) for i in range(4)]  # this month and 3 ahead
            for p in parts[:-1]:
                assert p.name == f"{table}_p{p.lo:%Y%m}" and p.hi == partitions.add_months(p.lo, 1)
                assert p.lo.astimezone(partitions.zone()).time() == dt.time(0)  # midnight in Shanghai
                assert p.lo.astimezone(UTC).hour == 16  # … the day before in UTC
        # the unique pair is kept by the trigger, the key includes the partition key
        pk = conn.execute(text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_case_events'"))
        assert pk.scalar() == "PRIMARY KEY (id, at)"


@pytest.mark.postgres
def test_rows_land_in_their_month_and_move_out_of_the_default_partition(pg):
    ahead = partitions.add_months(partitions.month_of(NOW), 2)
    cid = open_case(pg, ahead + dt.timedelta(days=3), ("accept",))
    name = f"_p{ahead:%Y%m}"
    assert where(pg, "case_events", cid) == [(1, f"case_events{name}"), (2, f"case_events{name}")]
    # the ended stage in its month, the running one in the default partition (ended_at is null)
    assert where(pg, "case_stage_facts", cid) == [(1, f"case_stage_facts{name}"), (2, "case_stage_facts_default")]
    cid_old = open_case(pg, at(2012, 3), ("accept", "file"))  # a month with no partition: the default one takes it
    assert {p for _, p in where(pg, "case_events", cid_old)} == {"case_events_default"}
    with get_engine(pg).begin() as conn:
        created = partitions.ensure(conn, NOW)
    assert created == ["case_events_p201203", "case_stage_facts_p201203"]
    assert {p for _, p in where(pg, "case_events", cid_old)} == {"case_events_p201203"}
    assert where(pg, "case_stage_facts", cid_old)[-1] == (3, "case_stage_facts_default")  # still running
    with unit_of_work(pg) as s:  # the moved rows are the log's rows: the facts derived from it agree
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == cid_old)) == 3
    with unit_of_work(pg) as s:
        s.rollback()
        assert facts.check(s)["differing"] == 0
    with get_engine(pg).begin() as conn:  # once made, nothing more to make; the log stays append-only
        assert partitions.ensure(conn, NOW) == []
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("DELETE FROM case_events_p201203"))


@pytest.mark.postgres
def test_an_event_number_stays_unique_across_partitions(pg):
    cid = open_case(pg, NOW - dt.timedelta(hours=2))
    later = partitions.add_months(partitions.month_of(NOW), 1) + dt.timedelta(days=1)  # another partition
    with unit_of_work(pg) as s, pytest.raises(IntegrityError, match="uq_case_events_case_id"):
        log.append(s, cid, "comment", "reported", "reported", {}, later, seq=1)
    with unit_of_work(pg) as s, pytest.raises(IntegrityError, match=r"\(case_id, seq\)=\(\d+, 2\)"):
        log.append_many(s, [{"case_id": cid, "seq": 2, "at": NOW, "action": "comment", "from_state": "reported",
                             "to_state": "reported", "payload": {}},
                            {"case_id": cid, "seq": 2, "at": later, "action": "comment", "from_state": "reported",
                             "to_state": "reported", "payload": {}}])
    # numbers rise within a case: one below the last is refused though unused, a gap is let through
    with unit_of_work(pg) as s:
        log.append(s, cid, "comment", "reported", "reported", {}, NOW, seq=4)
    with unit_of_work(pg) as s, pytest.raises(IntegrityError, match=r"\(case_id, seq\)=\(\d+, 3\)"):
        log.append(s, cid, "comment", "reported", "reported", {}, NOW, seq=3)
    with unit_of_work(pg) as s:
        assert s.scalar(text("SELECT seq FROM case_event_heads WHERE case_id = :c"), {"c": cid}) == 4
        assert log.append(s, cid, "comment", "reported", "reported", {}, later).seq == 5  # the next, as ever


@pytest.mark.postgres
@pytest.mark.parametrize("first_commits", [True, False], ids=["first-commits", "first-rolls-back"])
def test_a_race_for_the_same_event_number_is_refused_once_the_first_commits(pg, first_commits):
    """Two writers take number 2 of one case, in different months: the second waits on the case row, then is
    refused as the unique index refused it — or goes through if the first rolled back."""
    cid = open_case(pg, NOW - dt.timedelta(hours=2))
    later = partitions.add_months(partitions.month_of(NOW), 1) + dt.timedelta(days=1)
    engine = get_engine(pg)
    first = engine.connect()
    first.begin()
    first.execute(text("INSERT INTO case_events (case_id, seq, at, actor, action, to_state, payload) "
                       "VALUES (:c, 2, :t, 'a', 'comment', 'reported', '{}')"), {"c": cid, "t": NOW})
    pid = []
    outcome: list[object] = []

    def second() -> None:
        with engine.connect() as conn:
            pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar())
            conn.commit()
            try:
                with conn.begin():
                    conn.execute(text("INSERT INTO case_events (case_id, seq, at, actor, action, to_state, payload) "
                                      "VALUES (:c, 2, :t, 'b', 'comment', 'reported', '{}')"), {"c": cid, "t": later})
                outcome.append("stored")
            except IntegrityError as exc:
                outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with engine.connect() as watcher:  # wait (bounded) until the second writer queues behind the first
        for _ in range(2000):
            waiting = watcher.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"),
                                      {"p": pid[0] if pid else -1}).scalar()
            if waiting == "Lock":
                break
            watcher.execute(text("SELECT pg_sleep(0.005)"))
        assert waiting == "Lock"
    (first.commit if first_commits else first.rollback)()
    first.close()
    thread.join(30)
    assert not thread.is_alive()
    with unit_of_work(pg) as s:
        actors = s.scalars(select(CaseEvent.actor).where(CaseEvent.case_id == cid, CaseEvent.seq == 2)).all()
    if first_commits:
        assert isinstance(outcome[0], IntegrityError) and "uq_case_events_case_id" in str(outcome[0])
        assert actors == ["a"]
    else:
        assert outcome == ["stored"] and actors == ["b"]


@pytest.mark.postgres
def test_the_migration_converts_an_existing_log_and_downgrades(fresh_pg):
    url = fresh_pg
    migrate(url)  # the world is made by today's code, then taken down to the plain tables of before 0031
    fill(url)
    old = open_case(url, at(2025, 3), ("accept", "file"))
    new = open_case(url, NOW - dt.timedelta(hours=5), ("accept",))
    migrate_down(url)
    dispose_engine(url)

    def snapshot() -> tuple:
        with unit_of_work(url) as s:
            events = s.execute(select(CaseEvent.id, CaseEvent.case_id, CaseEvent.seq, CaseEvent.at, CaseEvent.action)
                               .order_by(CaseEvent.id)).all()
            stages = s.execute(select(StageFact.id, StageFact.case_id, StageFact.seq, StageFact.ended_at)
                               .order_by(StageFact.id)).all()
            return events, stages

    before = snapshot()
    migrate(url)
    assert snapshot() == before
    with get_engine(url).begin() as conn:
        names = {p.name for p in partitions.partitions(conn, "case_events")}
        assert {"case_events_p202503", f"case_events_p{partitions.month_of(NOW):%Y%m}"} <= names
    assert {p for _, p in where(url, "case_events", old)} == {"case_events_p202503"}
    cid = open_case(url, NOW)  # the ids go on from the same sequences
    with unit_of_work(url) as s:
        assert s.scalar(select(func.min(CaseEvent.id)).where(CaseEvent.case_id == cid)) > before[0][-1][0]
    assert len(where(url, "case_events", new)) == 2

    migrate_down(url)
    with get_engine(url).begin() as conn:
        assert conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'case_events'")).scalar() == "r"
        assert conn.execute(text("SELECT count(*) FROM pg_class WHERE relname LIKE 'case_events_p%'")).scalar() == 0
    with unit_of_work(url) as s:
        assert s.scalar(select(func.count()).select_from(CaseEvent)) == len(before[0]) + 1
    with unit_of_work(url) as s, pytest.raises(IntegrityError, match="uq_case_events_case_id"):
        log.append(s, cid, "comment", "reported", "reported", {}, NOW, seq=1)
    with get_engine(url).begin() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE case_events SET actor = 'x' WHERE case_id = :c"), {"c": cid})
    migrate(url)  # and up again
    with get_engine(url).begin() as conn:
        assert partitions.is_partitioned(conn)
    dispose_engine(url)


def migrate_down(url: str) -> None:
    from alembic import command

    from liandong.db import alembic_config

    command.downgrade(alembic_config(url), "0030")


@pytest.mark.postgres
def test_archiving_exports_refuses_drops_and_restores_a_month(fresh_pg, tmp_path):
    url = fresh_pg
    migrate(url)
    fill(url)
    with unit_of_work(url) as s:  # what is derived is as today's rules make it
        for part in upkeep.PARTS:
            upkeep.record(s, part)
    june = [open_case(url, at(2025, 6, d), ("accept", "file")) for d in (3, 12)]
    current = open_case(url, NOW - dt.timedelta(hours=3), ("accept",))
    engine = get_engine(url)
    with engine.begin() as conn:
        partitions.ensure(conn, NOW)
    with unit_of_work(url) as s:
        assert annual.report(s, LEADER, 2025, NOW)["cases"]["reported"] == 2
    before = partitions.cutoff(NOW, 3)
    with engine.begin() as conn:
        due = [p.name for p in partitions.due(conn, before)]
        assert partitions.straddling(conn, before) == 2  # both June cases are still open
    assert due == ["case_events_p202506", "case_stage_facts_p202506"]
    archive = tmp_path / "archive"

    with pytest.raises(PartitionError, match="not archived"):
        partitions.drop_partition(engine, archive, "case_events_p202506")
    done = partitions.archive(engine, archive, before)
    assert [(d["partition"], d["rows"], d["done"]) for d in done] == [
        ("case_events_p202506", 6, "archived"), ("case_stage_facts_p202506", 4, "archived")]
    manifest = json.loads((archive / "manifest.json").read_text())
    with gzip.open(archive / "case_events_p202506.csv.gz", "rt") as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("id,case_id,seq,at,") and len(lines) == 7
    assert manifest["partitions"]["case_events_p202506"]["rows"] == 6

    # a row that came in after the export: the drop is refused, the next archive takes it
    with unit_of_work(url) as s:
        log.append(s, june[0], "comment", "filed", "filed", {"note": "迟到"}, at(2025, 6, 20))
    with pytest.raises(PartitionError, match="7 rows, its archive 6"):
        partitions.drop_partition(engine, archive, "case_events_p202506")
    # a changed archive file: refused
    saved = (archive / "case_events_p202506.csv.gz").read_bytes()
    (archive / "case_events_p202506.csv.gz").write_bytes(saved[:-8])
    with pytest.raises(PartitionError, match="missing or changed"):
        partitions.drop_partition(engine, archive, "case_events_p202506")
    with engine.begin() as conn:
        assert "case_events_p202506" in {p.name for p in partitions.partitions(conn, "case_events")}

    # the assessment's month figures stored first: a dropped month must not live on in them
    from liandong.assessment import months
    from liandong.assessment import settings as assessment_settings

    assert months.refresh(lambda: unit_of_work(url), assessment_settings.current(), NOW)["built"] > 0
    with unit_of_work(url) as s:
        assert annual.report(s, LEADER, 2025, NOW)["cases"]["reported"] > 0
    done = partitions.archive(engine, archive, before, drop=True)
    assert [(d["partition"], d["rows"], d["done"]) for d in done] == [
        ("case_events_p202506", 7, "archived, dropped"), ("case_stage_facts_p202506", 4, "already archived, dropped")]
    with engine.begin() as conn:
        assert partitions.due(conn, before) == []
    with unit_of_work(url) as s:  # the year's figures no longer count the archived month; the cases stay
        assert annual.report(s, LEADER, 2025, NOW)["cases"]["reported"] == 0
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id.in_(june))) == 0
        assert s.scalar(text("SELECT count(*) FROM cases WHERE id IN (:a, :b)"), {"a": june[0], "b": june[1]}) == 2
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == current)) == 2

    assert partitions.restore(engine, archive, "case_events_p202506") == 7
    # an archive whose columns are not the table's is refused; one written before a column was added (0032's
    # late_before) loads, and the facts are derived again at the next migrate
    rewrite_archive(archive, "case_stage_facts_p202506", lambda lines: [lines[0].replace(",pauses,", ",nonsense,"),
                                                                        *lines[1:]])
    with pytest.raises(PartitionError, match="columns .* are not case_stage_facts's; nothing restored"):
        partitions.restore(engine, archive, "case_stage_facts_p202506")
    with gzip.open(archive / "case_stage_facts_p202506.csv.gz", "rt") as f:
        assert f.readline().endswith(",late_before\n")
    rewrite_archive(archive, "case_stage_facts_p202506", lambda lines: [  # the last column left out
        lines[0].replace(",nonsense,", ",pauses,").rsplit(",", 1)[0], *(ln.rsplit(",", 1)[0] for ln in lines[1:])])
    assert partitions.restore(engine, archive, "case_stage_facts_p202506") == 4
    with unit_of_work(url) as s:
        assert upkeep.outdated(s) == ["stage_facts"]
        assert upkeep.recompute(s, "stage_facts", NOW) > 0  # what `liandong migrate` does
    with unit_of_work(url) as s:
        s.rollback()
        assert facts.check(s)["differing"] == 0
    with pytest.raises(PartitionError, match="exists already"):
        partitions.restore(engine, archive, "case_events_p202506")
    with unit_of_work(url) as s:
        assert annual.report(s, LEADER, 2025, NOW)["cases"]["reported"] == 2
        assert s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id.in_(june))) == 7
    with pytest.raises(PartitionError, match="at least one month"):
        partitions.cutoff(NOW, 0)
    dispose_engine(url)


def rewrite_archive(archive, name: str, change) -> None:
    """Rewrite an archived partition's lines by ``change(lines)`` (raw CSV as PostgreSQL wrote it, where an empty
    string and a null differ), and its checksum."""
    path = archive / f"{name}.csv.gz"
    with gzip.open(path, "rt", newline="") as f:
        lines = f.read().splitlines()
    with gzip.open(path, "wt", newline="") as f:
        f.write("\n".join(change(lines)) + "\n")
    manifest = partitions.read_manifest(archive)
    manifest["partitions"][name]["sha256"] = partitions._sha256(path)
    partitions._write_manifest(archive, manifest)


@pytest.mark.postgres
def test_the_schema_differs_from_the_models_only_where_partitioning_requires(pg):
    """What tests/test_db.py's comparison should leave aside on PostgreSQL (``partitions.expected_difference``)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import liandong.models  # noqa: F401
    from liandong.db import Base

    with get_engine(pg).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diff if getattr(getattr(d[1], "table", d[1]), "name", "").startswith(tuple(partitions.TABLES))]
    assert ours and [d for d in ours if not partitions.expected_difference(d)] == []


def cli(url: str, *args: str):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "LIANDONG_DATABASE_URL": url}
    return subprocess.run([str(Path(sys.executable).with_name("liandong")), "partitions", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_command_refuses_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    migrate(url)
    r = cli(url, "ensure")
    assert r.returncode == 2 and "only on PostgreSQL" in r.stderr
    dispose_engine(url)


@pytest.mark.postgres
def test_the_command_makes_months_archives_and_asks_before_dropping(pg, tmp_path):
    r = cli(pg, "ensure", "--since", "2020-01", "--ahead", "1")
    assert r.returncode == 0 and "case_events_p202001" in json.loads(r.stdout)["created"]
    assert cli(pg, "ensure", "--since", "2020-13").returncode == 2
    listed = cli(pg, "list")
    assert listed.returncode == 0 and "case_events_default" in listed.stdout and "2020-01-01" in listed.stdout
    r = cli(pg, "archive", str(tmp_path), "--keep-months", "1", "--drop")  # no --yes: warned, nothing done
    assert r.returncode == 1 and "no longer count" in r.stderr and not (tmp_path / "manifest.json").exists()
    r = cli(pg, "archive", str(tmp_path), "--keep-months", "1")  # export only
    assert r.returncode == 0 and '"case_events_p202001"' in r.stdout
    assert (tmp_path / "case_events_p202001.csv.gz").exists()
    r = cli(pg, "drop", str(tmp_path), "case_events_p202002")
    assert r.returncode == 1 and "--yes" in r.stderr
    r = cli(pg, "drop", str(tmp_path), "case_events_p209912", "--yes")
    assert r.returncode == 2 and "not archived" in r.stderr
    r = cli(pg, "drop", str(tmp_path), "case_events_p202002", "--yes")
    assert r.returncode == 0 and json.loads(r.stdout) == {"partition": "case_events_p202002", "rows": 0,
                                                          "done": "dropped"}


@pytest.mark.postgres
def test_the_running_app_makes_the_coming_months(pg):
    """A month not made ahead (the timer forgotten) is made by the app itself at its start, with two processes'
    apps starting at once (one makes it under the lock, the other finds it made)."""
    import time

    from fastapi.testclient import TestClient

    from liandong.app import create_app
    from liandong.config import Settings

    last = partitions.add_months(partitions.month_of(NOW), partitions.AHEAD)
    names = [partitions.partition_name(t, last) for t in partitions.TABLES]
    with get_engine(pg).begin() as conn:
        for name in names:
            conn.execute(text(f'DROP TABLE "{name}"'))

    def present() -> set[str]:
        with get_engine(pg).connect() as conn:
            return {p.name for t in partitions.TABLES for p in partitions.partitions(conn, t)}

    assert not set(names) & present()
    quiet = {"sweep_seconds": 0, "early_warning_scan_minutes": 0, "index_check_seconds": 0,
             "partition_check_minutes": 60}
    apps = [create_app(Settings(database_url=pg, **quiet)) for _ in range(2)]  # two processes' worth, at once
    with TestClient(apps[0]), TestClient(apps[1]):
        deadline = time.monotonic() + 30
        while not set(names) <= present() and time.monotonic() < deadline:
            time.sleep(0.2)
    assert set(names) <= present(), "the app did not make the coming month"


@pytest.mark.postgres
def test_a_period_s_assessment_and_annual_report_read_no_month_before_it(pg):
    """Every statement of a month's assessment of every object type (with the month before, for the change) and of
    a year's report (with the year before) reads no month's partition older than the periods it compares — the
    plan shows it (EXPLAIN, pruned when planned), whatever history lies further back."""
    from bench.partitions import _captured, _walk

    from liandong.assessment import period as periods
    from liandong.assessment import service
    from liandong.assessment.indicators import OBJECTS

    with get_engine(pg).begin() as conn:
        partitions.ensure(conn, NOW, since=at(2023, 1))
    jobs = {dt.date(2025, 5, 1): (lambda s: [service.assess(s, LEADER, name, periods.month(2025, 6), NOW)
                                             for name in OBJECTS], 20),
            dt.date(2024, 1, 1): (lambda s: annual.report(s, LEADER, 2025, NOW), 8)}
    for earliest, (job, at_least) in jobs.items():
        statements = _captured(pg, job)
        assert len(statements) > at_least  # the statements were caught
        with get_engine(pg).connect() as conn:
            for statement, params in statements:
                plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params).scalar()[0]
                read: set[str] = set()
                _walk(plan["Plan"], read)
                older = sorted(p for p in read
                               if not p.endswith("_default") and dt.datetime.strptime(p[-6:], "%Y%m").date() < earliest)
                assert not older, (older, statement)
            conn.rollback()


@pytest.mark.postgres
def test_rebuilding_the_facts_leaves_those_of_a_case_whose_beginning_was_archived(fresh_pg, tmp_path):
    """A case reported in the last hour of June (Shanghai) and taken on in July: once June is archived and dropped,
    its log no longer begins with the report, so nothing can derive its stages again — a rebuild (what `liandong
    migrate` runs when the rules change) keeps the stored ones instead of deleting them, and the check passes
    over them; the cases whose log is whole are derived as ever."""
    url = fresh_pg
    migrate(url)
    fill(url)
    straddling = open_case(url, dt.datetime(2025, 6, 30, 15, tzinfo=UTC), ("accept", "file"))
    whole = open_case(url, at(2025, 8), ("accept",))
    engine = get_engine(url)
    with engine.begin() as conn:
        partitions.ensure(conn, NOW)

    def stages(case_id: int) -> list[tuple]:
        with unit_of_work(url) as s:
            return [(f.seq, f.stage, f.ended_at, f.late_before) for f in facts.of_case(s, case_id)]

    kept, whole_before = stages(straddling), stages(whole)
    assert [p for _, p in where(url, "case_events", straddling)] == [
        "case_events_p202506", "case_events_p202507", "case_events_p202507"]
    done = partitions.archive(engine, tmp_path / "archive", partitions.month_of(at(2025, 7)), drop=True)
    assert [d["partition"] for d in done] == ["case_events_p202506"]  # no stage ended in June
    assert stages(straddling) == kept  # the stages all ended in July or run on
    with unit_of_work(url) as s:
        assert facts.rebuild(s) > 0
    assert stages(straddling) == kept and stages(whole) == whole_before
    with unit_of_work(url) as s:
        s.rollback()
        assert facts.check(s)["differing"] == 0
    dispose_engine(url)
