"""The assessment's month figures (``assessment/months.py``), on both backends: stored months give exactly what the
facts give — every object type, whole months, stretches with partial months, the annual report, the working times —
and a month is read from the facts again as soon as an event touches a case in it, the settings change or the facts
are derived anew, until a refresh stores it again; ``liandong assessment refresh --check`` finds a figure that no
longer matches."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select, update

from liandong.areas.models import Area
from liandong.assessment import annual, months, service
from liandong.assessment import counts as c
from liandong.assessment import period as periods
from liandong.assessment import settings as assessment_settings
from liandong.assessment.indicators import OBJECTS
from liandong.assessment.models import MonthBuilt, MonthFigure
from liandong.auth.identity import Identity
from liandong.auth.service import create_user
from liandong.db import unit_of_work
from tests.caseworld import EAST_POINT
from tests.factories import EAST, PASSWORD, WEST
from tests.test_assessment import act, edges_scenario, person, report
from tests.test_sla import at

NOW = at("2026-08-02 10:00")
LEADER = Identity(roles=frozenset({"leader"}))
MAY, JUNE, JULY, AUGUST = dt.date(2026, 5, 1), dt.date(2026, 6, 1), dt.date(2026, 7, 1), dt.date(2026, 8, 1)
PERIODS = (periods.make(MAY, dt.date(2026, 7, 31)), periods.make(dt.date(2026, 5, 20), dt.date(2026, 7, 10)),
           periods.month(2026, 6), periods.make(dt.date(2026, 6, 1), dt.date(2026, 8, 1)))
"""Three whole months; partial months on both sides of a whole one; one month; a month and a month to date."""


@pytest.fixture(params=["sqlite", "postgresql"])
def edges(request, tmp_path_factory):
    from tests.conftest import fresh_database

    for url in fresh_database(request.param, tmp_path_factory):
        scenario = edges_scenario(url)
        with unit_of_work(url) as s:
            create_user(s, username="west_leader", password=PASSWORD, unit_code=f"S-{WEST}", roles=["leader"])
        yield scenario


def refresh(url: str, now: dt.datetime = NOW) -> dict:
    return months.refresh(lambda: unit_of_work(url), assessment_settings.current(), now)


def stored(url: str, name: str, period: periods.Period, path: str | None = None) -> tuple[dt.date, ...]:
    with unit_of_work(url) as s:
        ctx = c.Ctx(period, path, assessment_settings.current(), NOW)
        return tuple(months.plan(s, name, ctx).months)


def same_both_ways(url: str) -> None:
    """Every object type over every period, and the annual report, for the district and for a town: the same read
    with and without stored months."""
    town = person(url, "west_leader")
    with unit_of_work(url) as s:
        for who in (LEADER, town):
            for name in OBJECTS:
                for period in PERIODS:
                    assert service.assess(s, who, name, period, NOW) == \
                        service.assess(s, who, name, period, NOW, stored=False), (name, period.label)
            assert annual.report(s, who, 2026, NOW) == annual.report(s, who, 2026, NOW, stored=False)


def test_stored_months_give_what_the_facts_give(edges):
    url = edges["url"]
    assert stored(url, "department", PERIODS[0]) == ()  # nothing stored yet
    done = refresh(url)
    assert done["built"] == 4 * len(months.FAMILIES) and done["missing"] == 0  # May, June, July; August's 1st
    assert done["empty"] == months.EMPTY_BEFORE * len(months.FAMILIES)  # before the history: nothing to read
    assert stored(url, "department", periods.year(2025)) == tuple(dt.date(2025, m, 1) for m in range(1, 13))
    assert refresh(url)["built"] == 0  # nothing left to do
    for name in months.FAMILIES:
        assert stored(url, name, PERIODS[0]) == (MAY, JUNE, JULY)
    with unit_of_work(url) as s:  # 20–31 May and 1–10 July: blocks of them, none from the facts
        cut = months.plan(s, "region", c.Ctx(PERIODS[1], None, assessment_settings.current(), NOW))
        so_far = months.plan(s, "region", c.Ctx(PERIODS[3], None, assessment_settings.current(), NOW))
    assert cut.stored == ((MAY, 20, 1), (MAY, 21, 1), (MAY, 22, 1), (MAY, 23, 1), (MAY, 24, 1), (MAY, 25, 8),
                          (JUNE, 1, 32), (JULY, 1, 8), (JULY, 9, 1), (JULY, 10, 1))
    assert cut.raw == () and cut.end == (JULY, 10)  # what ran across 10 July's end: stored
    # up to 1 August, the month under way: its first day stored, and what ran across its end
    assert so_far.stored == ((JUNE, 1, 32), (JULY, 1, 32), (AUGUST, 1, 1)) and so_far.end == (AUGUST, 1)
    assert stored(url, "department", periods.make(JULY, dt.date(2026, 8, 2))) == (JULY, AUGUST)  # 2 August: facts
    town = person(url, "west_leader").scope.path
    assert stored(url, "region", PERIODS[0], town) == (MAY, JUNE, JULY)  # a town's regions: its communities
    assert stored(url, "department", PERIODS[0], town) == (MAY, JUNE, JULY)  # a town's departments: its rows
    assert stored(url, "annual", PERIODS[0], town) == (MAY, JUNE, JULY)  # the totals are kept per town too
    with unit_of_work(url) as s:
        assert s.scalar(select(MonthFigure.n).where(MonthFigure.family == "annual", MonthFigure.month == MAY,
                                                    MonthFigure.key == "reported", MonthFigure.town == "",
                                                    MonthFigure.size == 32)) == 2  # P, S
    same_both_ways(url)
    with unit_of_work(url) as s:
        assert months.check(s, assessment_settings.current(), NOW) == []
    # the hand-worked figures of the month's edges, now read from the stored months
    with unit_of_work(url) as s:
        june = {r["id"]: r["indicators"] for r in
                service.assess(s, LEADER, "shift_leader", periods.month(2026, 6), NOW)["rows"]}
    assert (june[edges["users"]["shift_leader"]]["filed"],
            june[edges["users"]["shift_leader"]]["filed_accurate"]) == (2, 1)


CUTS = (periods.make(dt.date(2026, 5, 26), dt.date(2026, 6, 30)), periods.make(dt.date(2026, 5, 29), JULY),
        periods.make(JUNE, dt.date(2026, 6, 29)), periods.make(dt.date(2026, 6, 17), dt.date(2026, 7, 31)),
        periods.make(dt.date(2026, 7, 31), dt.date(2026, 8, 2)))
"""Periods cutting the months where the scenario's steps lie (25, 27, 29 May; 1, 29, 30 June; 1 July): blocks of
every size, ends at a month's end and within a month (what runs across them stored), and up to today (``NOW``: its
day and what runs across now from the facts)."""


def area_at(path: str, depth: int) -> str:
    """What ``months.area_at_sql`` gives, in Python: the path of the area ``depth`` ids down a grid path (the path
    itself when it is shorter, or for depth 0)."""
    ids = path.strip("/").split("/")
    return "/" + "/".join(ids[:depth]) + "/" if 0 < depth < len(ids) else path


def folded(found: dict[str, dict], counts: dict[str, c.Count], community: int) -> dict[str, dict]:
    """Figures with the rows counted by grid path put on their communities (a stored block's are, the facts' are
    a grid's unless grouped by community)."""
    out: dict[str, dict] = {}
    for key, per in found.items():
        mine = out.setdefault(key, {})
        for owner, n in per.items():
            at = area_at(owner, community) if counts[key].by_path else owner
            mine[at] = mine.get(at, 0) + n
    return out


def pooled(found: dict, community: int = 0) -> dict:
    """Working minutes (``months.minutes``) per stage and owner, the owners by grid path put on their community
    (``community`` > 0), the values in one sorted list."""
    out: dict = {}
    for (stage, owner), arrays in found.items():
        at = area_at(owner, community) if isinstance(owner, str) and community else owner
        out.setdefault((stage, at), []).extend(x for a in arrays for x in a.tolist())
    return {k: sorted(v) for k, v in out.items()}


_SHARES: dict = {}
"""Where ``_recorded_share`` notes the process that built a share (a forked worker inherits it)."""


def _recorded_share(url, share, settings, now) -> int:
    with open(_SHARES["file"], "a") as out:
        out.write(f"{os.getpid()}\n")
    return _SHARES["real"](url, share, settings, now)


def _recorded_make(url, month, name, settings, now):
    with open(_SHARES["file"], "a") as out:
        out.write(f"{os.getpid()}\n")
    return _SHARES["make"](url, month, name, settings, now)


def test_months_built_by_two_processes_are_those_one_builds(edges, tmp_path, monkeypatch):
    """``refresh(workers=2)``: on PostgreSQL a second process builds every other month beside the first (each
    month under a lock of its own); on SQLite two workers make the rows and this process stores them. Either way the
    rows stored are the very rows one process stores."""
    from sqlalchemy import delete

    from liandong.assessment.models import MonthTimes

    url = edges["url"]
    _SHARES.update(file=tmp_path / "shares", real=months._build_share, make=months._make)
    monkeypatch.setattr(months, "_build_share", _recorded_share)
    monkeypatch.setattr(months, "_make", _recorded_make)

    def rows() -> tuple[list, list]:
        with unit_of_work(url) as s:
            return (sorted(tuple(r) for r in s.execute(select(MonthFigure.month, MonthFigure.family, MonthFigure.day,
                                                              MonthFigure.size, MonthFigure.key, MonthFigure.town,
                                                              MonthFigure.owner, MonthFigure.n))),
                    sorted(tuple(r) for r in s.execute(select(MonthTimes.month, MonthTimes.family, MonthTimes.day,
                                                              MonthTimes.size, MonthTimes.town, MonthTimes.owner,
                                                              MonthTimes.stage, MonthTimes.minutes))))

    def clear() -> None:
        with unit_of_work(url) as s:
            for table in (MonthFigure, MonthTimes, MonthBuilt):
                s.execute(delete(table))

    two = months.refresh(lambda: unit_of_work(url), assessment_settings.current(), NOW, workers=2, url=url)
    by_two = rows()
    clear()
    one = refresh(url)
    assert two == one and two["built"] == 4 * len(months.FAMILIES) and two["missing"] == 0
    assert by_two == rows() and len(by_two[0]) > 100
    built_by = (tmp_path / "shares").read_text().split() if (tmp_path / "shares").exists() else []
    if url.startswith("sqlite"):  # every month made by a worker (two of them, though one may take every month)
        assert len(built_by) == two["built"] and 1 <= len(set(built_by)) <= 2
    else:  # every other month built by the one worker beside this process
        assert built_by == [built_by[0]]
    assert str(os.getpid()) not in built_by
    same_both_ways(url)


def test_rows_made_beforehand_are_stored_only_if_nothing_came_in_since(edges):
    """``build(made=…)``: rows another process made are stored as they are when the basis is today's and no event
    that came in since they were read touches the month (``touched``); else the month is made again here."""
    from sqlalchemy import delete, func

    url, month, name = edges["url"], dt.date(2026, 6, 1), "receptionist"
    settings = assessment_settings.current()

    def stored() -> int:
        with unit_of_work(url) as s:
            return s.scalar(select(func.count()).select_from(MonthFigure).where(MonthFigure.month == month,
                                                                                 MonthFigure.family == name))

    def rebuild(made) -> bool:
        with unit_of_work(url) as s:
            s.execute(delete(MonthBuilt).where(MonthBuilt.month == month, MonthBuilt.family == name))
            return months.build(s, month, name, settings, NOW, made)

    with unit_of_work(url) as s:
        real = months._made(s, month, name, settings, NOW)
    assert real.days == 30
    assert rebuild(months.Made(real.basis, 30, real.newest, real.figures[:1], [])) and stored() == 1  # as made
    assert rebuild(months.Made(real.basis, 30, 0, [], [])) and stored() == len(real.figures) > 1  # every event since
    assert rebuild(months.Made(real.basis, 30, real.newest, real.figures[:1], [])) and stored() == 1
    assert rebuild(months.Made("another basis", 30, real.newest, [], [])) and stored() == len(real.figures)
    assert rebuild(months.Made(real.basis, 29, real.newest, [], [])) and stored() == len(real.figures)  # days
    with unit_of_work(url) as s:  # the last event touches some months: another month's rows still hold
        since = months.touched(s, real.newest - 1)
        quiet = next(m for m in (dt.date(2026, 4, 1), dt.date(2026, 7, 1), dt.date(2025, 1, 1)) if m not in since)
        assert since and months._still(s, real.newest - 1, quiet) and months._still(s, real.newest, min(since))
        assert not months._still(s, real.newest - 1, min(since))


def test_periods_cutting_months_read_blocks_of_days_and_give_what_the_facts_give(edges):
    url = edges["url"]
    rec = person(url, "receptionist")  # either side of blocks' local midnights (16:00 UTC the day before)
    for when in ("2026-06-16 23:50", "2026-06-17 00:30", "2026-05-28 23:40", "2026-05-29 00:10", "2026-07-01 00:30"):
        report(url, rec, "hotline", when)
    refresh(url)
    settings, town = assessment_settings.current(), person(url, "west_leader")
    with unit_of_work(url) as s:
        community = months.depth(s, "community")
        plans = [months.plan(s, "region", c.Ctx(p, None, settings, NOW)) for p in CUTS]
        assert [p.stored for p in plans] == [
            (*((MAY, d, 1) for d in range(26, 32)), (JUNE, 1, 32)),
            ((MAY, 29, 1), (MAY, 30, 1), (MAY, 31, 1), (JUNE, 1, 32), (JULY, 1, 1)),
            ((JUNE, 1, 8), (JUNE, 9, 8), (JUNE, 17, 8), *((JUNE, d, 1) for d in range(25, 30))),
            ((JUNE, 17, 8), (JUNE, 25, 8), (JULY, 1, 32)),
            ((JULY, 31, 1), (AUGUST, 1, 1))]
        assert [[(r.first.isoformat(), r.last.isoformat()) for r in p.raw] for p in plans] == [
            [], [], [], [], [("2026-08-02", "2026-08-02")]]  # only today from the facts
        # what runs across the end: stored for every day gone by, from the facts for today
        assert [p.end for p in plans] == [(JUNE, 30), (JULY, 1), (JUNE, 29), (JULY, 31), None]
        for who in (LEADER, town):
            path = who.scope.path if who.scope else None
            for name in OBJECTS:
                for period in CUTS:
                    assert service.assess(s, who, name, period, NOW) == \
                        service.assess(s, who, name, period, NOW, stored=False), (name, period.label)
            for name in months.FAMILIES:  # every count of every family, beside the object types' own
                for period in CUTS:
                    ctx = c.Ctx(period, path, settings, NOW)
                    p = months.plan(s, name, ctx)
                    assert p.stored  # every family is stored for the district and for a town
                    counts = months.family_counts(name)
                    assert folded(months.figures(s, name, counts, ctx, p), counts, community) == \
                        folded(c.figures(s, counts, ctx), counts, community), (name, period.label)
                    # what is read from the facts (today) grouped by community in the database: the same
                    by_community = months.plan(s, name, ctx, paths_at=community)
                    assert by_community.raw == p.raw and by_community.paths() is not None
                    assert months.figures(s, name, counts, ctx, by_community) == \
                        folded(c.figures(s, counts, ctx), counts, community), (name, period.label)
                    assert pooled(months.minutes(s, name, ctx, by_community)) == pooled(
                        months.minutes(s, name, ctx, months.plan(s, name, ctx, False)), community), name
            for name in OBJECTS:  # the service's figures and times the same, grouped by grid or by community
                reading = service._Reading(s, who, name, CUTS[0], NOW, stored=False)
                assert reading.owners.paths_at == community
                by_grid = months.plan(s, reading.family, reading.ctx, False, paths_at=0)
                for read in (service._figures, service._times):
                    assert read(s, reading.obj, reading.ctx, reading.owners, by_grid) == \
                        read(s, reading.obj, reading.ctx, reading.owners, reading.plan), (name, read.__name__)


def test_what_runs_across_each_day_s_end_is_stored_as_the_facts_give_it(edges):
    """The stages running at the end of every day of June and July (and overdue then), read from the stored day's
    ``…@end`` rows, are those the facts give at that cut, for the district and a town's leader."""
    url = edges["url"]
    refresh(url)
    settings, town = assessment_settings.current(), person(url, "west_leader")
    with unit_of_work(url) as s:
        community = months.depth(s, "community")
        for name in ("department", "region"):
            counts = months.family_counts(name)
            at_end = {k: v.only(additive=False) for k, v in counts.items() if v.only(additive=False).parts}
            assert at_end  # close_due, overdue (and dispose_due)
            running = 0
            for month in (JUNE, JULY):
                for day in range(1, months._length(month) + 1):
                    for path in (None, town.scope.path):
                        ctx = c.Ctx(periods.make(month, month.replace(day=day)), path, settings, NOW)
                        p = months.plan(s, name, ctx)
                        assert p.end == (month, day) and p.raw == ()
                        assert months.figures(s, name, counts, ctx, p) == \
                            folded(c.figures(s, counts, ctx), counts, community), (name, day, path)
                        running += sum(sum(per.values()) for per in c.figures(s, at_end, ctx).values())
            assert running > 0  # some stage ran across some day's end
            # stored as each day's change: fewer rows than the days something ran across the end of
            changes = s.execute(select(MonthFigure.key, MonthFigure.town, MonthFigure.owner, MonthFigure.day,
                                       MonthFigure.n).where(MonthFigure.month == JULY, MonthFigure.family == name,
                                                            MonthFigure.size == 0)).all()
            on_day = {(key, town, owner, day): n for key, town, owner, day, n in changes}
            days_running = sum(1 for key, town, owner in {row[:3] for row in changes} for day in range(1, 32)
                               if sum(on_day.get((key, town, owner, d), 0) for d in range(1, day + 1)))
            assert all(n for *_, n in changes) and 0 < len(changes) < days_running, (name, changes)


def test_a_month_is_covered_by_blocks():
    """Any run of a month's days: its blocks cover it once, a cut end reads at most ten, each block is stored
    for every day it holds, and a month stored up to a day holds blocks of those days only."""
    for month in (dt.date(2026, 2, 1), dt.date(2028, 2, 1), dt.date(2026, 4, 1), dt.date(2026, 5, 1)):
        length = months._length(month)
        for first in range(1, length + 1):
            for last in range(first, length + 1):
                blocks = months.cover(month, first, last)
                days = [d for day, size in blocks for d in range(day, min(day + size - 1, length) + 1)]
                assert days == list(range(first, last + 1)), (month, first, last)
                assert all((day, size) in months.blocks_of(d, length, last) for day, size in blocks
                           for d in range(day, months.block_end(day, size, length) + 1))  # stored ones
                if first == 1 or last == length:  # a period's cut: one end of the run is the month's
                    assert len(blocks) <= 10, (month, first, last, blocks)
            assert all(months.block_end(day, size, length) <= first
                       for d in range(1, first + 1) for day, size in months.blocks_of(d, length, first))
        assert months.cover(month, 1, length) == [months.WHOLE]
        assert len(months.blocks_of(1, length)) == 3 and months.blocks_of(1, length, 1) == [(1, 1)]


def test_a_town_reads_its_people_and_departments_from_its_own_rows(edges):
    """The same receptionist, shift leader, dispatcher and department work a case in the east town too: the west
    town's leader reads them from the west's stored rows (without the east case), the district from the
    district's; a community's leader still from the facts."""
    url = edges["url"]
    with unit_of_work(url) as s:
        create_user(s, username="east_leader", password=PASSWORD, unit_code=f"S-{EAST}", roles=["leader"])
    rec, lead_, disp = (person(url, u) for u in ("receptionist", "shift_leader", "dispatcher"))
    east = report(url, rec, "hotline", "2026-06-10 09:00", point=EAST_POINT)
    for action, who, when, payload in (("accept", rec, "09:05", {}), ("file", lead_, "09:10", {}),
                                       ("dispatch", disp, "10:00", {"lead_unit_id": edges["unit"]})):
        act(url, east, action, who, f"2026-06-10 {when}", **payload)
    refresh(url)
    west, east_leader = person(url, "west_leader"), person(url, "east_leader")
    with unit_of_work(url) as s:
        community_path = s.scalar(select(Area.path).where(Area.level == "community").limit(1))
        towns = set(s.scalars(select(MonthFigure.town).where(MonthFigure.family == "shift_leader").distinct()))
    assert towns == {"", west.scope.path, east_leader.scope.path}
    assert stored(url, "dispatcher", PERIODS[0], east_leader.scope.path) == (MAY, JUNE, JULY)
    assert stored(url, "dispatcher", PERIODS[0], community_path) == ()  # below a town: from the facts
    june, settings, me = periods.month(2026, 6), assessment_settings.current(), edges["users"]["shift_leader"]
    with unit_of_work(url) as s:
        for who, n in ((LEADER, 3), (west, 2), (east_leader, 1)):  # Q and R in the west, one case in the east
            ctx = c.Ctx(june, who.scope.path if who.scope else None, settings, NOW)
            for name in ("shift_leader", "dispatcher", "department"):
                p = months.plan(s, name, ctx)
                assert p.stored == ((JUNE, *months.WHOLE),) and p.raw == ()
                counts = OBJECTS[name].counts
                assert months.figures(s, name, counts, ctx, p) == c.figures(s, counts, ctx), (name, who.username)
                from_facts = months.Plan((), (june,))
                assert {k: sorted(np.concatenate(v)) for k, v in months.minutes(s, name, ctx, p).items()} == \
                    {k: sorted(np.concatenate(v)) for k, v in months.minutes(s, name, ctx, from_facts).items()}
            p = months.plan(s, "shift_leader", ctx)
            assert months.figures(s, "shift_leader", OBJECTS["shift_leader"].counts, ctx, p)["filed"][me] == n
            assert months._unchanged(s, "shift_leader", p)  # read from the stored rows, not again from the facts

    def assigned(who: Identity) -> int:  # the department as its town's leader sees it: it works in both towns
        with unit_of_work(url) as s:
            rows = service.assess(s, who, "department", june, NOW)["rows"]
        return next(r["indicators"]["assigned"] for r in rows if r["id"] == edges["unit"])

    assert (assigned(LEADER), assigned(west), assigned(east_leader)) == (2, 1, 1)  # R, and the east case
    with unit_of_work(url) as s:  # the annual report's totals: the town's own
        assert [annual.report(s, who, 2026, NOW)["cases"]["filed"] for who in (LEADER, west, east_leader)] == \
            [4, 3, 1]
        assert months.plan(s, "annual", c.Ctx(june, east_leader.scope.path, settings, NOW)).months == [JUNE]
    same_both_ways(url)
    with unit_of_work(url) as s:
        assert months.check(s, settings, NOW) == []
        assert service.assess(s, east_leader, "department", PERIODS[0], NOW) == \
            service.assess(s, east_leader, "department", PERIODS[0], NOW, stored=False)


def test_a_touched_month_is_read_from_the_facts_until_stored_again(edges):
    url = edges["url"]
    refresh(url)
    with unit_of_work(url) as s:
        before = service.assess(s, LEADER, "shift_leader", PERIODS[0], NOW)
    rec, lead_ = person(url, "receptionist"), person(url, "shift_leader")
    late = report(url, rec, "hotline", "2026-07-15 09:00")  # an entry made late, of a July case
    act(url, late, "accept", rec, "2026-07-15 09:05")
    act(url, late, "file", lead_, "2026-07-15 09:10")
    with unit_of_work(url) as s:  # July's days before the 15th still stored; from it on, from the facts
        july = months.plan(s, "shift_leader", c.Ctx(PERIODS[0], None, assessment_settings.current(), NOW))
    assert july.months == [MAY, JUNE, JULY]
    assert july.stored[-7:] == ((JULY, 1, 8), *((JULY, d, 1) for d in range(9, 15)))
    assert [(r.first, r.last) for r in july.raw] == [(dt.date(2026, 7, 15), dt.date(2026, 7, 31))]
    assert july.end is None  # what ran across 31 July's end: from the facts
    # and 1 August too: the case, still open, ran across its end (no event of it lies in August)
    assert stored(url, "department", PERIODS[3]) == (JUNE, JULY)
    with unit_of_work(url) as s:
        after = service.assess(s, LEADER, "shift_leader", PERIODS[0], NOW)
    me = edges["users"]["shift_leader"]
    filed = [{r["id"]: r["indicators"]["filed"] for r in x["rows"]}[me] for x in (before, after)]
    assert filed[1] == filed[0] + 1
    same_both_ways(url)
    assert refresh(url) == {"dropped": 2 * len(months.FAMILIES), "built": 2 * len(months.FAMILIES), "empty": 0,
                            "missing": 0}
    assert stored(url, "shift_leader", PERIODS[0]) == (MAY, JUNE, JULY)
    same_both_ways(url)


def test_an_entry_made_late_that_ends_an_open_case_outdates_the_days_after_it(edges):
    """A case filed on 15 July (entered late) runs across every day's end since; voided later with a void dated 20
    July it no longer does — the days stored after it (1 August) are read from the facts until a refresh, which
    gives the facts' answer again."""
    url = edges["url"]
    rec, lead_ = person(url, "receptionist"), person(url, "shift_leader")
    case = report(url, rec, "hotline", "2026-07-15 09:00")
    act(url, case, "accept", rec, "2026-07-15 09:05")
    act(url, case, "file", lead_, "2026-07-15 09:10")
    refresh(url)
    first_of_august = periods.make(AUGUST, AUGUST)
    with unit_of_work(url) as s:
        before = service.assess(s, LEADER, "town", first_of_august, NOW)["rows"]
    act(url, case, "void", lead_, "2026-07-20 09:00", reason="重复")
    with unit_of_work(url) as s:
        assert months.touched(s, months._watermark(s)) == {JULY: 15, AUGUST: 1}
    assert stored(url, "region", first_of_august) == ()
    with unit_of_work(url) as s:
        after = service.assess(s, LEADER, "town", first_of_august, NOW)["rows"]
    assert sum(r["indicators"]["close_due"] for r in after) == sum(r["indicators"]["close_due"] for r in before) - 1
    refresh(url)
    assert stored(url, "region", first_of_august) == (AUGUST,)
    same_both_ways(url)


def test_work_done_today_leaves_the_days_before_it_stored(edges):
    """A case reported and worked today (``NOW``, 2 August) touches no day gone by: the month under way's stored
    days are still read, today from the facts."""
    url = edges["url"]
    refresh(url)
    rec = person(url, "receptionist")
    case = report(url, rec, "hotline", "2026-08-02 09:30")
    act(url, case, "accept", rec, "2026-08-02 09:40")
    with unit_of_work(url) as s:
        assert months.touched(s, months._watermark(s)) == {AUGUST: 2}
        p = months.plan(s, "receptionist", c.Ctx(periods.make(AUGUST, dt.date(2026, 8, 2)), None,
                                                  assessment_settings.current(), NOW))
    assert p.stored == ((AUGUST, 1, 1),) and [(r.first, r.last) for r in p.raw] == [(NOW.date(), NOW.date())]
    same_both_ways(url)


def test_new_settings_or_facts_derived_anew_outdate_every_month(edges, tmp_path, monkeypatch):
    url = edges["url"]
    refresh(url)
    text = Path(assessment_settings.DEFAULT).read_text(encoding="utf-8")
    changed = tmp_path / "settings.yaml"
    changed.write_text(text.replace("accept: 30", "accept: 150"), encoding="utf-8")
    assert changed.read_text(encoding="utf-8") != text
    monkeypatch.setenv("LIANDONG_ASSESSMENT_SETTINGS", str(changed))
    assert stored(url, "receptionist", PERIODS[0]) == ()  # built under the old time limits
    same_both_ways(url)
    assert refresh(url)["built"] == 4 * len(months.FAMILIES)
    assert stored(url, "receptionist", PERIODS[0]) == (MAY, JUNE, JULY)
    same_both_ways(url)
    from liandong.cases import facts

    with unit_of_work(url) as s:
        facts.rebuild(s)
    assert stored(url, "receptionist", PERIODS[0]) == ()


def test_the_command_stores_the_months_and_its_check_finds_a_wrong_figure(tmp_path_factory):
    from tests.conftest import fresh_database

    for url in fresh_database("sqlite", tmp_path_factory):
        edges_scenario(url)
        env = {**os.environ, "LIANDONG_DATABASE_URL": url}
        command = [sys.executable, "-m", "liandong.cli", "assessment", "refresh"]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        assert json.loads(done.stdout)["built"] >= 3 * len(months.FAMILIES)
        checked = subprocess.run([*command, "--check"], env=env, capture_output=True, text=True)
        assert checked.returncode == 0 and json.loads(checked.stdout)["count"] == 0, checked.stdout
        with unit_of_work(url) as s:
            s.execute(update(MonthFigure).where(MonthFigure.family == "annual", MonthFigure.month == MAY,
                                                MonthFigure.key == "reported", MonthFigure.town == "",
                                                MonthFigure.day == 25, MonthFigure.size == 8)  # P and S: 25–31 May
                      .values(n=MonthFigure.n + 1))
        checked = subprocess.run([*command, "--check"], env=env, capture_output=True, text=True)
        assert checked.returncode == 1
        differing = json.loads(checked.stdout)["differing"]
        assert differing == [{"month": "2026-05-01", "family": "annual", "count": "reported", "town": "",
                              "owner": "0", "block": [25, 8], "stored": 3, "facts": 2}]
        with unit_of_work(url) as s:
            assert s.scalar(select(MonthBuilt.basis).limit(1))


def test_a_read_whose_months_were_stored_again_meanwhile_is_done_from_the_facts(edges):
    """A refresh may drop or rebuild a month between a read's plan and its reading of the rows: the read notices
    (each build has its own token) and reads the period from the facts, never answering with a month missing."""
    url = edges["url"]
    refresh(url)
    settings = assessment_settings.current()
    counts = OBJECTS["shift_leader"].counts
    with unit_of_work(url) as s:
        ctx = c.Ctx(PERIODS[0], None, settings, NOW)
        planned = months.plan(s, "shift_leader", ctx)
        assert planned.months == [MAY, JUNE, JULY]
        before = months.figures(s, "shift_leader", counts, ctx, planned)
    rec, lead_ = person(url, "receptionist"), person(url, "shift_leader")
    late = report(url, rec, "hotline", "2026-06-15 09:00")
    act(url, late, "accept", rec, "2026-06-15 09:05")
    act(url, late, "file", lead_, "2026-06-15 09:10")
    refresh(url)  # June dropped and stored again: a new build
    with unit_of_work(url) as s:
        ctx = c.Ctx(PERIODS[0], None, settings, NOW)
        assert not months._unchanged(s, "shift_leader", planned)
        stale_plan = months.figures(s, "shift_leader", counts, ctx, planned)
        from_facts = c.figures(s, counts, ctx)
        assert stale_plan == from_facts != before
        assert months.minutes(s, "shift_leader", ctx, planned).keys() == \
            months.minutes(s, "shift_leader", ctx, months.Plan((), (ctx.period,))).keys()


def test_an_area_tree_without_communities_keeps_grid_paths():
    assert area_at("/1/2/3/4/", 3) == "/1/2/3/"
    assert area_at("/1/2/", 3) == "/1/2/"
    assert area_at("/1/2/3/4/", 0) == "/1/2/3/4/"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_sql_area_of_a_path_is_the_python_one(backend, tmp_path_factory):
    """``area_at_sql`` (the month figures' town, grouped in the database) and ``area_at`` give the same prefix."""
    from sqlalchemy import literal, select

    from liandong.db import get_engine
    from tests.conftest import fresh_database

    paths = ("/1/2/3/4/", "/1/2/", "/1/", "", "/10/200/3000/40000/", "/7/123456/89/")
    for url in fresh_database(backend, tmp_path_factory):
        with get_engine(url).connect() as conn:
            for path in paths:
                for depth in range(5):
                    got = conn.scalar(select(months.area_at_sql(literal(path), depth)))
                    assert got == area_at(path, depth), (path, depth)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_moment_s_day_is_its_local_day_even_across_daylight_saving(backend, tmp_path_factory, monkeypatch):
    """``months._days`` numbers every hour of a month with a change of clocks (Berlin, March and October 2026) by its
    local day, on both backends (SQLite keeps naive UTC text), and marks what lies outside; a deadline's day is the
    first by whose end it has come (a midnight: the day it ends), none for no deadline."""
    from sqlalchemy import literal, null

    from liandong.config import get_settings
    from liandong.db import UTCDateTime, get_engine
    from tests.conftest import fresh_database

    monkeypatch.setenv("LIANDONG_TIMEZONE", "Europe/Berlin")
    get_settings.cache_clear()
    zone = ZoneInfo("Europe/Berlin")
    try:
        for url in fresh_database(backend, tmp_path_factory):
            with get_engine(url).connect() as conn:
                for month in (dt.date(2026, 3, 1), dt.date(2026, 10, 1), dt.date(2026, 2, 1)):
                    length = months._length(month)
                    days, begins = months._days(month, length).numbering, periods.month(month.year, month.month).start
                    assert days.last == length
                    for hour in range(-2, 24 * 31 + 2):
                        moment = begins + dt.timedelta(hours=hour, minutes=30)
                        local = moment.astimezone(zone).date()
                        want = 0 if local < month else length + 1 if local.month != month.month else local.day
                        at = literal(moment, UTCDateTime())
                        assert conn.execute(select(days.of(at), days.due(at))).one() == (want, want), moment
                    for day in range(0, length + 1):  # a midnight: the day after it, and the day it ends
                        midnight = dt.datetime.combine(month + dt.timedelta(days=day), dt.time(), tzinfo=zone)
                        at = literal(midnight.astimezone(dt.UTC), UTCDateTime())
                        assert conn.execute(select(days.of(at), days.due(at))).one() == (day + 1, day), midnight
                    assert conn.scalar(select(days.due(null()))) == length + 1
                    part = months._days(month, 10).numbering  # stored up to the 10th: the 11th is after
                    assert conn.scalar(select(part.of(literal(begins + dt.timedelta(days=10, hours=12),
                                                              UTCDateTime())))) == 11
    finally:
        get_settings.cache_clear()
