"""Assessment at scale: every object type assessed over a year of a district's cases (the 250,000 cases
``bench/figures.py`` made through the batch paths, about 2.2 M events and as many stage facts), and the annual
report, each timed as the median of a few calls beside a bare aggregate over the same facts table in the same run
(stage, count, mean working time of the stages ended in the period) — the ratio says what the assessment's own
rules cost over reading the facts at all. Each is timed twice: from the facts alone, and as served, with the
days stored (``assessment/months.py``), after checking that both give the same answer.

``bench/simulation.py`` measures the simulated Minhang year the same way (``year=``): a district's year with its
people, so the people's figures count real groups too.

``python -m bench.assessment URL [--year Y]`` measures a database that already holds the cases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time

from sqlalchemy.orm import Session

from liandong.assessment.period import Period
from liandong.auth.identity import Identity
from liandong.db import unit_of_work


def _median(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(url: str, now: dt.datetime, rounds: int = 3, year: int | None = None, compare: bool = True,
            days: int = 365) -> dict:
    """The last ``days`` days before ``now``, or the calendar ``year`` (read as of its end, or ``now`` if later): first
    from the facts alone (``stored=False``), then with the days stored (``assessment/months.py``; the
    time to store them is ``months_refresh_s``). ``compare=False`` times the stored way only (ten million cases:
    a year from the facts takes many minutes an object type; ``liandong assessment refresh --check`` compares)."""
    from sqlalchemy import func, select

    from liandong.assessment import annual, months
    from liandong.assessment import period as periods
    from liandong.assessment import settings as assessment_settings
    from liandong.cases.models import StageFact

    leader = Identity(roles=frozenset({"leader"}))
    last = now.date()
    period = periods.year(year) if year else periods.make(last - dt.timedelta(days=days - 1), last)
    now = max(now, period.end) if year else now
    out: dict = {"period": period.label}
    t = time.perf_counter()
    out["months_refresh"] = months.refresh(lambda: unit_of_work(url), assessment_settings.current(), now)
    out["months_refresh_s"] = round(time.perf_counter() - t, 1)
    with unit_of_work(url) as s:
        f = StageFact

        def bare():
            return s.execute(select(f.stage, func.count(), func.avg(f.used_minutes))
                             .where(f.ended_at >= period.start, f.ended_at < period.end).group_by(f.stage)).all()

        facts = sum(n for _, n, _ in bare())
        out["facts_in_period"] = facts
        out["bare_aggregate_ms"] = round(_median(bare, rounds) * 1000, 1)
        objects = _objects(s, leader, period, now, rounds, compare, out["bare_aggregate_ms"])
        out["objects"] = objects
        out["all_objects_ms"] = round(sum(o["ms"] for o in objects.values()), 1)
        report_year = year or now.year
        out["town"] = _town(s, period, now, rounds, compare, report_year)
        out["annual_report_ms"] = round(_median(lambda: annual.report(s, leader, report_year, now), rounds)
                                        * 1000, 1)
        if compare:
            out["all_objects_from_facts_ms"] = round(sum(o["from_facts_ms"] for o in objects.values()), 1)
            out["annual_report_from_facts_ms"] = round(_median(
                lambda: annual.report(s, leader, report_year, now, stored=False), rounds) * 1000, 1)
        s.rollback()
    return out


def _objects(s: Session, who: Identity, period: Period, now: dt.datetime, rounds: int, compare: bool,
             bare_ms: float | None = None) -> dict:
    """Every object type assessed by ``who``, timed; with ``compare``, also from the facts alone, and both answers
    checked to be the same."""
    from liandong.assessment import service
    from liandong.assessment.indicators import OBJECTS

    objects = {}
    for name in OBJECTS:
        seconds = _median(lambda name=name: service.assess(s, who, name, period, now), rounds)
        result = service.assess(s, who, name, period, now)
        rows = result["rows"]
        objects[name] = {"ms": round(seconds * 1000, 1), "rows": len(rows),
                         "scored": sum(1 for r in rows if r["score"] is not None)}
        if bare_ms:
            objects[name]["vs_bare"] = round(seconds * 1000 / bare_ms, 2)
        if compare:
            from_facts = _median(lambda name=name: service.assess(s, who, name, period, now, stored=False), rounds)
            if result != service.assess(s, who, name, period, now, stored=False):
                raise SystemExit(f"{name}: the stored months do not give what the facts give")
            objects[name]["from_facts_ms"] = round(from_facts * 1000, 1)
            if bare_ms:
                objects[name]["from_facts_vs_bare"] = round(from_facts * 1000 / bare_ms, 1)
    return objects


def _town(s: Session, period: Period, now: dt.datetime, rounds: int, compare: bool, year: int) -> dict | None:
    """Every object type, and the annual report, as the leader of the district's first town reads them: its own
    regions, people and departments, on the town's cases (the month figures keep them per town too)."""
    from sqlalchemy import select

    from liandong.areas.models import Area
    from liandong.areas.scope import Scope
    from liandong.assessment import annual

    town = s.execute(select(Area.id, Area.path, Area.name).where(Area.level == "town").order_by(Area.code)
                     .limit(1)).first()
    if town is None:
        return None
    leader = Identity(roles=frozenset({"leader"}), scope=Scope(path=town.path, area_id=town.id))
    objects = _objects(s, leader, period, now, rounds, compare)
    if compare and annual.report(s, leader, year, now) != annual.report(s, leader, year, now, stored=False):
        raise SystemExit(f"the annual report of {town.name}: the stored months do not give what the facts give")
    return {"name": town.name, "objects": objects, "all_objects_ms": round(sum(o["ms"] for o in objects.values()), 1),
            "annual_report_ms": round(_median(lambda: annual.report(s, leader, year, now), rounds) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--year", type=int, help="assess this calendar year, as of its last event")
    parser.add_argument("--days", type=int, default=365, help="without --year: the last DAYS days (730: a "
                        "two-year history whole)")
    parser.add_argument("--stored-only", action="store_true", help="time the stored months only, not the facts "
                        "(and do not compare the two): for ten million cases")
    parser.add_argument("--now", type=dt.datetime.fromisoformat, help="without --year: read as of this moment "
                        "(ISO, with its offset), not the clock's: the last day of a month, say (its days before are "
                        "stored, the day itself read from the facts)")
    args = parser.parse_args()
    now = args.now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise SystemExit("--now needs its offset (2026-11-30T23:00+08:00)")
    if args.year:
        from sqlalchemy import func, select

        from liandong.cases.models import CaseEvent
        with unit_of_work(args.url) as s:
            now = s.scalar(select(func.max(CaseEvent.at)))
        if now is None:
            raise SystemExit("no case events in the database: nothing to assess")
    print(json.dumps(measure(args.url, now, args.rounds, args.year, compare=not args.stored_only, days=args.days),
                     indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
