"""Command-centre figures at scale: the overview, the daily series, breakdowns, map layers and the overdue list
over many cases (250,000 by default), each timed as the median of a few calls.

The cases are made through the case service's batch paths: closed history through ``cases.history.replay``
(the transition table, the one event appender in its batch form, the stage facts with it), open cases
through ``intake.report`` and ``actions.act`` many to a transaction, so their clocks and lights are real.

``measure`` only calls the figures' public functions, so the same measurement can run against an older
checkout on the very same database (``python -m bench.figures --measure URL`` with that checkout first on
PYTHONPATH): that is how the before/after figures in the README were taken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import time

from liandong.db import unit_of_work

CLOSED_PATH = ("accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close")
OPEN_PATHS = ((), ("accept",), ("accept", "file"), ("accept", "file", "dispatch"),
              ("accept", "file", "dispatch", "sign"), ("accept", "file", "dispatch", "sign", "suspend"),
              ("accept", "file", "dispatch", "sign", "report_done"))
NEEDS = {"report_done": {"note": "已处理"}}
MATTERS = ("06001", "06010", "01001", "02003")


def populate(url: str, index, n: int, open_share: float = 0.08, now: dt.datetime | None = None,
             seed: int = 7, batch: int = 2000) -> dict:
    """``n`` cases over the 120 days before ``now``: most closed (history), ``open_share`` open at random
    stages (live service). Returns the seconds each part took."""
    from sqlalchemy import select

    from liandong.auth.identity import Identity
    from liandong.cases import actions, calendar, history, intake
    from liandong.catalogue import snapshot
    from liandong.units.models import Unit

    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=120)
    with unit_of_work(url) as s:
        centre = s.scalar(select(Unit.id).where(Unit.kind == "centre").order_by(Unit.id).limit(1))
        matters = {code: m for code, m in snapshot.current(s).by_code.items() if code in MATTERS}
    step = max(1, len(index.hits) // 5000)  # a few thousand grids, each with a point inside it
    places = [(index.hits[k], index.geoms[k].representative_point()) for k in range(0, len(index.hits), step)]
    n_open = int(n * open_share)
    t = time.perf_counter()
    done = 0
    while done < n - n_open:
        records = []
        for i in range(done, min(n - n_open, done + batch)):
            grid, point = places[rng.randrange(len(places))]
            created = start + dt.timedelta(seconds=rng.uniform(0, 115 * 86400))
            m = matters[MATTERS[i % len(MATTERS)]]
            steps, at = [], created
            for action in CLOSED_PATH:
                at += dt.timedelta(minutes=rng.uniform(5, 600))
                payload = {"lead_unit_id": centre} if action == "dispatch" else NEEDS.get(action, {})
                steps.append(history.Step(action, at, dict(payload)))
            records.append(history.Record(case={
                "number": f"BENCH-{seed}-{i:07d}", "matter_id": m.id, "urgency": "normal", "channel": "hotline",
                "description": "bench", "lon": point.x, "lat": point.y, "grid_id": grid.id, "area_path": grid.path,
                "out_of_area": False, "created_at": created}, steps=steps))
        with unit_of_work(url) as s:
            history.replay(s, records, "bench")
        done += len(records)
    history_s = time.perf_counter() - t
    me = Identity(roles=frozenset({"receptionist", "shift_leader", "dispatcher", "handler", "inspector"}),
                  unit_id=centre, username="bench")
    t = time.perf_counter()
    made = 0
    while made < n_open:
        with unit_of_work(url) as s:
            cal = calendar.calendar_for(s)
            for _ in range(min(200, n_open - made)):
                _, point = places[rng.randrange(len(places))]
                at = now - dt.timedelta(minutes=rng.uniform(30, 20 * 24 * 60))
                case, _ = intake.report(s, index, me, matter_code=rng.choice(MATTERS), description="bench",
                                        lon=point.x, lat=point.y, channel="hotline", now=at)
                for action in rng.choice(OPEN_PATHS):
                    at += dt.timedelta(minutes=rng.uniform(5, 240))
                    payload = {"lead_unit_id": centre} if action == "dispatch" else dict(NEEDS.get(action, {}))
                    actions.act(s, index, case.id, action, me, payload, now=min(at, now), calendar=cal)
                made += 1
    open_s = time.perf_counter() - t
    _settle(url)
    return {"cases": n, "open": n_open, "history_seconds": round(history_s, 1),
            "history_cases_per_s": round((n - n_open) / history_s), "open_seconds": round(open_s, 1),
            "open_cases_per_s": round(n_open / open_s)}


def _settle(url: str) -> None:
    """On PostgreSQL, VACUUM ANALYZE after the bulk load, as autovacuum would soon do: the planner's
    statistics and the visibility map of a database that has lived a while, not of one just filled."""
    from sqlalchemy import text

    from liandong.db import get_engine, is_postgres

    engine = get_engine(url)
    if is_postgres(engine):
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def _api():
    """The figures' entry points in this checkout or an older one (before the case core was split)."""
    try:
        from liandong.auth.identity import Identity
        from liandong.cases.calendar import calendar_for
        from liandong.cases.queries import CaseQuery, list_cases
    except ImportError:  # the code before this change
        from liandong.cases.service import Actor as Identity
        from liandong.cases.service import CaseQuery, calendar_for, list_cases
    return Identity, calendar_for, CaseQuery, list_cases


def measure(url: str, now: dt.datetime, rounds: int = 5) -> dict:
    """Median seconds of each figure, for the centre and for one town's sub-centre."""
    from sqlalchemy import select

    from liandong.areas.models import Area
    from liandong.areas.scope import EVERYTHING, Scope
    from liandong.cases import stats
    from liandong.units.models import Unit

    Identity, calendar_for, CaseQuery, list_cases = _api()
    roles = frozenset({"receptionist", "shift_leader", "dispatcher", "leader"})
    with unit_of_work(url) as s:
        centre = s.scalar(select(Unit.id).where(Unit.kind == "centre").order_by(Unit.id).limit(1))
        sub = s.execute(select(Unit.id, Area.path, Area.id).join(Area, Area.id == Unit.area_id)
                        .where(Unit.kind == "sub_centre").order_by(Unit.id).limit(1)).first()
        cal = calendar_for(s)
    callers = {"centre": Identity(roles=roles, unit_id=centre, scope=EVERYTHING),
               "town": Identity(roles=roles, unit_id=sub[0], scope=Scope(path=sub[1], area_id=sub[2]))}
    figures = {
        "overview": lambda s, a: stats.overview(s, a, cal, now),
        "series_30d": lambda s, a: stats.series(s, a, 30, now),
        "breakdown_town_30d": lambda s, a: stats.breakdown(s, a, "town", 30, now),
        "by_area_town": lambda s, a: stats.by_area(s, a, "town", now),
        "points": lambda s, a: stats.points(s, a, now),
        "list_overdue": lambda s, a: list_cases(s, a, CaseQuery(overdue=True), now=now, calendar=cal),
        "list_red": lambda s, a: list_cases(s, a, CaseQuery(light="red"), now=now, calendar=cal),
    }
    out: dict = {}
    for who, caller in callers.items():
        for name, fn in figures.items():
            times = []
            for _ in range(rounds):
                with unit_of_work(url) as s:
                    t = time.perf_counter()
                    result = fn(s, caller)
                    times.append(time.perf_counter() - t)
            out[f"{who}.{name}_ms"] = round(statistics.median(times) * 1000, 1)
            if name == "overview":
                out[f"{who}.overview"] = {k: result[k] for k in ("open", "overdue", "yellow", "green",
                                                                  "on_time_rate_30d")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--measure", metavar="URL", help="only time the figures on this database")
    parser.add_argument("--now", help="the moment to compute at (ISO, default: now)")
    args = parser.parse_args()
    now = dt.datetime.fromisoformat(args.now) if args.now else dt.datetime.now(dt.UTC)
    print(json.dumps(measure(args.measure, now), ensure_ascii=False))


if __name__ == "__main__":
    main()
