"""Partitioned history at scale (issue 15): a generated history in a PostgreSQL database of its own, and
``EXPLAIN (ANALYZE, BUFFERS)`` of every statement the main readers run — the case list, the command-centre
overview, the assessment of every object type over a month, the annual report — naming the partitions each one
reads of all there are (partition pruning), beside the point reads and writes that cannot prune (a case's
timeline, the live feed, the event-number guard, the running-stage update).

The history is made by ``INSERT … SELECT generate_series`` (services would take hours at this size) in the Minhang
district (its grids, departments and ``PEOPLE`` people per assessed role, so that the assessment ranks real
objects): cases spread evenly over ``--months`` months up to now, ten events each (report … rate; 2 % of the cases
still open after four), and their stage facts (eight stages; the open cases' fourth still running). The guard
trigger is off during the bulk load only (the heads it keeps are filled after), and its own cost is measured after
it, one insert at a time.

``python -m bench.partitions [--events N] [--months M]`` makes a scratch database, measures, and drops it;
``--keep NAME`` makes it as NAME and keeps it, and measures NAME again if it is there (ten million cases take an
hour to make: ``--events 98800000`` for 10 M cases).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import time
import uuid

from sqlalchemy import create_engine, event, text

from liandong.db import dispose_engine, get_engine, migrate, unit_of_work
from liandong.ops import partitions

PART = re.compile(r"^(case_events|case_stage_facts)_(p\d{6}|default)$")
STEPS = [(1, "report", None, "reported"), (2, "accept", "reported", "accepted"), (3, "file", "accepted", "filed"),
         (4, "dispatch", "filed", "dispatched"), (5, "sign", "dispatched", "in_progress"),
         (6, "report_done", "in_progress", "disposed"), (7, "request_check", "disposed", "checking"),
         (8, "check_passed", "checking", "checked"), (9, "close", "checked", "closed"),
         (10, "rate", "closed", "closed")]
PEOPLE_IDS = ("(SELECT array_agg(id ORDER BY id) AS ids FROM users WHERE id IN (SELECT user_id FROM user_roles WHERE "
              "role IN ('inspector', 'receptionist', 'shift_leader', 'dispatcher'))) p")
"""The assessed people, as an array a generated row picks its actor from (an event's ``seq`` after the facts')."""
LEADS = "(SELECT array_agg(id ORDER BY id) AS ids FROM units WHERE kind IN ('department', 'branch')) u"
"""The departments, as an array a generated case picks its lead unit from."""
STAGES = [(1, "accept", "accept"), (2, "file", "file"), (3, "dispatch", "dispatch"), (4, "sign", "sign"),
          (5, "dispose", "report_done"), (6, "await_check", "request_check"), (7, "check", "check_passed"),
          (8, "close", "close")]


PEOPLE = 20
"""People made per assessed role (inspector, receptionist, shift leader, dispatcher): the cases' actors."""


def _district(url: str) -> None:
    """The Minhang district (its grids, units and demo accounts, no activity) and ``PEOPLE`` people per assessed
    role, so that every object type the assessment ranks has objects the generated rows count for."""
    from liandong.auth.service import create_user
    from liandong.demo import loader

    with unit_of_work(url) as s:
        loader.load(s, "bench-password-123", cases=0)
        for role in ("inspector", "receptionist", "shift_leader", "dispatcher"):
            for i in range(PEOPLE):
                create_user(s, username=f"bench_{role}_{i}", password="bench-password-123", unit_code="LD-310112",
                            roles=[role])


def generate(url: str, events: int, months: int, now: dt.datetime, chunk: int = 1_000_000,
             unlogged: bool = False) -> dict:
    """Cases, events and facts over ``months`` months up to ``now``, in the grids of the Minhang district, acted on
    by its people and led by its departments; returns the counts and seconds taken."""
    t0 = time.perf_counter()
    migrate(url)
    _district(url)
    start = partitions.add_months(partitions.month_of(now), -months + 1)
    n = events // 10
    engine = get_engine(url)
    with engine.begin() as conn:
        partitions.ensure(conn, now, since=start)
        if unlogged:  # no WAL for the load: the plans are the same, the disk and the time about half
            for table in partitions.TABLES:
                for p in partitions.partitions(conn, table):
                    conn.execute(text(f'ALTER TABLE "{p.name}" SET UNLOGGED'))
    steps = ", ".join(f"({i}, '{a}', {f'{chr(39)}{f}{chr(39)}' if f else 'NULL'}, '{t}')" for i, a, f, t in STEPS)
    stages = ", ".join(f"({i}, '{st}', '{by}')" for i, st, by in STAGES)
    span = (now - start).total_seconds() - 40 * 3600
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE case_events DISABLE TRIGGER case_events_number_guard"))
    for lo in range(1, n + 1, chunk):  # a transaction a chunk: ten million cases show their progress
        hi = min(lo + chunk - 1, n)
        with engine.begin() as conn:
            first = conn.execute(text("SELECT coalesce(max(id), 0) FROM cases")).scalar()
            conn.execute(text(
                "INSERT INTO cases (number, state, version, matter_id, urgency, channel, description, lon, lat, "
                "grid_id, area_path, rework_count, escalation_count, created_at, updated_at, closed_at) "
                "SELECT 'B' || g, CASE WHEN g % 50 = 0 THEN 'dispatched' ELSE 'closed' END, 1, "
                "m.ids[1 + g % cardinality(m.ids)], 'normal', (ARRAY['hotline','app','grid_worker'])[1 + g % 3], "
                "'bench', 121.3 + (g % 1000) * 1e-4, 31.1 + (g % 997) * 1e-4, "
                "a.ids[1 + g % cardinality(a.ids)], a.paths[1 + g % cardinality(a.ids)], 0, 0, "
                ":start + make_interval(secs => :span * g / :n), :start + make_interval(secs => :span * g / :n), "
                "CASE WHEN g % 50 = 0 THEN NULL ELSE :start + make_interval(secs => :span * g / :n + 16 * 3600) END "
                "FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g, "
                "(SELECT array_agg(id) AS ids FROM matters) m, "
                "(SELECT array_agg(id ORDER BY id) AS ids, array_agg(path ORDER BY id) AS paths FROM areas "
                "WHERE level = 'grid') a"),
                {"start": start, "span": span, "n": n, "lo": lo, "hi": hi})
            mine = "c.id > :first AND (c.state = 'closed' OR s.seq <= 4)"
            conn.execute(text(
                "INSERT INTO case_events (case_id, seq, at, actor_id, actor, unit_id, action, from_state, to_state, "
                "payload) SELECT c.id, s.seq, c.created_at + (s.seq - 1) * interval '2 hours', "
                "p.ids[1 + (c.id + s.seq) % cardinality(p.ids)], 'bench', u.ids[1 + c.id % cardinality(u.ids)], "
                f"s.action, s.from_state, s.to_state, '{{}}' FROM cases c, (VALUES {steps}) "
                f"AS s(seq, action, from_state, to_state), {PEOPLE_IDS}, {LEADS} WHERE {mine}"), {"first": first})
            conn.execute(text(
                "INSERT INTO case_stage_facts (case_id, seq, stage, lead_unit_id, actor_id, started_at, deadline, "
                "ended_at, paused_minutes, pauses, used_minutes, on_time, ended_by, outcome, extensions, escalations, "
                "late_before) "
                "SELECT c.id, s.seq, s.stage, CASE WHEN s.seq >= 4 THEN u.ids[1 + c.id % cardinality(u.ids)] END, "
                "CASE WHEN r THEN NULL ELSE p.ids[1 + (c.id + s.seq + 1) % cardinality(p.ids)] END, "
                "c.created_at + (s.seq - 1) * interval '2 hours', "
                "c.created_at + (s.seq + 1) * interval '2 hours', "
                "CASE WHEN r THEN NULL ELSE c.created_at + s.seq * interval '2 hours' END, 0, '', "
                "CASE WHEN r THEN NULL ELSE 120 END, CASE WHEN r THEN NULL ELSE (c.id * 7 + s.seq) % 13 <> 0 END, "
                "CASE WHEN r THEN NULL ELSE s.ended_by END, CASE WHEN r THEN NULL ELSE 'done' END, 0, 0, "
                "EXISTS (SELECT FROM generate_series(1, s.seq - 1) k WHERE (c.id * 7 + k) % 13 = 0) "
                f"FROM cases c, (VALUES {stages}) AS s(seq, stage, ended_by), {PEOPLE_IDS}, {LEADS}, "
                f"LATERAL (SELECT c.state <> 'closed' AND s.seq = 4 AS r) x WHERE {mine}"), {"first": first})
            conn.execute(text("INSERT INTO case_event_heads SELECT case_id, max(seq) FROM case_events "
                              "WHERE case_id > :first GROUP BY case_id"), {"first": first})
        if n > chunk:
            print(f"  {hi:,} of {n:,} cases, {time.perf_counter() - t0:.0f} s", flush=True)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE case_events ENABLE TRIGGER case_events_number_guard"))
        conn.execute(text("CREATE TABLE bench_made (cases bigint)"))  # what --keep finds: the history is whole
        conn.execute(text("INSERT INTO bench_made SELECT count(*) FROM cases"))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("cases", *partitions.TABLES)}
        parts = {t: len(partitions.partitions(conn, t)) for t in partitions.TABLES}
        size = conn.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    return {**counts, "partitions": parts, "months": months, "database_size": size,
            "seconds": round(time.perf_counter() - t0, 1)}


def _walk(node: dict, found: set[str]) -> int:
    """Partitions a plan node reads (into ``found``); returns the subplans pruned at run time below it."""
    if PART.match(node.get("Relation Name", "")):
        found.add(node["Relation Name"])
    removed = node.get("Subplans Removed", 0)
    for child in node.get("Plans", ()):
        removed += _walk(child, found)
    return removed


def explain(conn, statement: str, params, analyze: bool = True) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) one statement (inside the caller's transaction); without ``analyze``, the plan
    alone (the partitions it reads once planned; no times)."""
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    plan = conn.exec_driver_sql(f"EXPLAIN ({options}) {statement}", params).scalar()[0]
    found: set[str] = set()
    removed = _walk(plan["Plan"], found)
    top = plan["Plan"]
    return {"partitions": sorted(found), "pruned_at_run_time": removed,
            "ms": round(plan.get("Execution Time", 0), 2), "planning_ms": round(plan.get("Planning Time", 0), 2),
            "buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
            "statement": statement}


def _captured(url: str, fn) -> list[tuple[str, dict]]:
    """The statements ``fn(session)`` runs that read the case tables, with their parameters."""
    engine = get_engine(url)
    seen: list[tuple[str, dict]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        if not executemany and re.search(r"\b(case_events|case_stage_facts|cases)\b", statement):
            seen.append((statement, dict(parameters or {})))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with unit_of_work(url) as s:
            fn(s)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return seen


def readers(url: str, now: dt.datetime, analyze_within: float | None = None) -> dict:
    """Every statement of the main readers, explained: partitions read of all, time, buffers. A reader whose run
    took longer than ``analyze_within`` seconds has its statements planned, not run again (no times, buffers)."""
    from liandong.areas.scope import EVERYTHING
    from liandong.assessment import annual, service
    from liandong.assessment import period as periods
    from liandong.assessment.indicators import OBJECTS
    from liandong.auth.identity import Identity
    from liandong.cases import queries, stats
    from liandong.cases.calendar import calendar_for

    dispatcher = Identity(roles=frozenset({"dispatcher"}), scope=EVERYTHING)
    leader = Identity(roles=frozenset({"leader"}))
    last_month = partitions.add_months(partitions.month_of(now), -1)
    month = periods.month(last_month.year, last_month.month)
    year = now.year - 1 if now.month > 1 else now.year - 2
    jobs = {
        "case_list": lambda s: queries.list_cases(s, dispatcher, queries.CaseQuery(), limit=50, now=now),
        "overview": lambda s: stats.overview(s, dispatcher, calendar_for(s), now),
        "assessment_month": lambda s: [service.assess(s, leader, name, month, now) for name in OBJECTS],
        f"annual_report_{year}": lambda s: annual.report(s, leader, year, now),
    }
    engine = get_engine(url)
    with engine.connect() as conn:
        every = {t: {p.name for p in partitions.partitions(conn, t)} for t in partitions.TABLES}
    out: dict = {"partitions_in_all": sum(len(v) for v in every.values())}

    def unpruned(plan: dict) -> bool:
        return any(names <= set(plan["partitions"]) for names in every.values())

    for name, fn in jobs.items():
        t = time.perf_counter()
        statements = _captured(url, fn)
        seconds = time.perf_counter() - t
        analyze = analyze_within is None or seconds <= analyze_within
        with engine.connect() as conn:
            plans = [explain(conn, st, p, analyze) for st, p in statements]
            conn.rollback()
        read = sorted({p for plan in plans for p in plan["partitions"]})
        out[name] = {"seconds": round(seconds, 3), "statements": len(plans),
                     "statements_reading_every_month": sum(unpruned(p) for p in plans),
                     "partitions_read": len(read), "months_read": sorted({p.rsplit("_", 1)[1] for p in read}),
                     "explain_ms": round(sum(p["ms"] for p in plans), 1),
                     "planning_ms": round(sum(p["planning_ms"] for p in plans), 1),
                     "buffers": sum(p["buffers"] for p in plans),
                     "pruned_at_run_time": sum(p["pruned_at_run_time"] for p in plans),
                     "analyzed": analyze,
                     "slowest": [{"ms": p["ms"], "from": _from(p["statement"])}
                                 for p in sorted(plans, key=lambda p: -p["ms"])[:3]] if analyze else []}
    return out


def _from(statement: str) -> str:
    """A statement's innermost FROM … WHERE, shortened: enough to tell which count it is."""
    inner = statement[statement.rfind("FROM ("):] if "FROM (" in statement else statement
    return re.sub(r"\s+", " ", inner[inner.find("FROM", 6):])[:240]


def point_paths(url: str) -> dict:
    """The reads and writes by case or id, which read every partition (their index), and the guard's cost."""
    engine = get_engine(url)
    out: dict = {}
    with engine.connect() as conn:
        case_id, last_id = conn.execute(text("SELECT max(case_id), max(id) FROM case_events")).one()
        fact_id = conn.execute(text("SELECT max(id) FROM case_stage_facts_default")).scalar()
        running_case = conn.execute(text("SELECT case_id FROM case_stage_facts_default LIMIT 1")).scalar()
        probes = {
            "timeline": ("SELECT * FROM case_events WHERE case_id = %(c)s ORDER BY seq", {"c": case_id}),
            "live_feed": ("SELECT id, case_id, action FROM case_events WHERE id > %(i)s ORDER BY id LIMIT 1000",
                          {"i": last_id - 50}),
            "running_stage": ("SELECT * FROM case_stage_facts WHERE case_id IN (%(c)s) AND ended_at IS NULL",
                              {"c": running_case}),
            "update_stage_by_id": ("UPDATE case_stage_facts SET escalations = escalations + 1 WHERE id = %(f)s",
                                   {"f": fact_id}),
            "update_stage_by_id_running": ("UPDATE case_stage_facts SET escalations = escalations + 1 "
                                           "WHERE id = %(f)s AND ended_at IS NULL", {"f": fact_id}),
        }
        for name, (sql, params) in probes.items():
            plan = explain(conn, sql, params)
            out[name] = {**{k: v for k, v in plan.items() if k != "partitions"},
                         "partitions_read": len(plan["partitions"])}
        conn.rollback()
        out["event_insert_us"] = _guard_cost(conn)
    return out


def _guard_cost(conn, rounds: int = 3, inserts: int = 500) -> dict:
    """Microseconds per single-row event insert with the number guard and without it (rolled back)."""
    cases = [r[0] for r in conn.execute(text("SELECT id FROM cases WHERE state <> 'closed' LIMIT :n"),
                                        {"n": inserts})]
    insert = ("INSERT INTO case_events (case_id, seq, at, actor, action, from_state, to_state, payload) "
              "VALUES (%(c)s, 99, now(), 'bench', 'comment', 'dispatched', 'dispatched', '{}')")
    result = {}
    for label, toggle in (("with_guard", "ENABLE"), ("without_guard", "DISABLE")):
        times = []
        for _ in range(rounds):
            conn.execute(text(f"ALTER TABLE case_events {toggle} TRIGGER case_events_number_guard"))
            t = time.perf_counter()
            for c in cases:
                conn.exec_driver_sql(insert, {"c": c})
            times.append((time.perf_counter() - t) / len(cases) * 1e6)
            conn.rollback()
        result[label] = round(statistics.median(times), 1)
    return result


def run(url: str, events: int = 1_000_000, months: int = 24, made: dict | None = None,
        analyze_within: float | None = None, unlogged: bool = False) -> dict:
    """Make the history (unless ``made`` says it is there already) and measure it."""
    if made is None:
        now = dt.datetime.now(dt.UTC)
        made = generate(url, events, months, now, unlogged=unlogged)
        print("partitioned history made:", made, flush=True)
    else:  # a kept database: its "now" is where generate put it, 40 hours after the last case
        with get_engine(url).connect() as conn:
            now = conn.execute(text("SELECT max(created_at) FROM cases")).scalar() + dt.timedelta(hours=40)
    return {"made": made, "readers": readers(url, now, analyze_within), "point_paths": point_paths(url)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--keep", metavar="NAME", help="make the history in database NAME and keep it; if NAME "
                        "exists already, measure what it holds")
    parser.add_argument("--analyze-within", type=float, metavar="S", help="plan, not run again, the statements "
                        "of a reader that took longer than S seconds (ten million cases' annual report)")
    parser.add_argument("--unlogged", action="store_true", help="load the months' partitions without WAL "
                        "(a scratch database for plans at ten million cases)")
    parser.add_argument("--admin-url", default=os.environ.get("LIANDONG_TEST_DATABASE_URL",
                                                              "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    name = args.keep or f"liandong_bench_partitions_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.admin_url.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        there = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
        if not there:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    made = None
    if there:
        print(f"{name} is there: measuring what it holds (--events and --months leave it as it is)", flush=True)
        with get_engine(url).connect() as conn:
            if not conn.execute(text("SELECT to_regclass('bench_made')")).scalar():
                raise SystemExit(f"{name} was not made to the end (no bench_made): drop it and make it again")
        migrate(url)  # the schema of today's code (Alembic only: its facts are not derived again)
        with get_engine(url).connect() as conn:
            made = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in ("cases", *partitions.TABLES)}
            made["database_size"] = conn.execute(
                text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    try:
        print(json.dumps(run(url, args.events, args.months, made, args.analyze_within, args.unlogged), indent=2,
                         ensure_ascii=False))
    finally:
        dispose_engine(url)
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
