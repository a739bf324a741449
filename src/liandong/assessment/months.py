"""Month figures: each month's counts and working minutes per object, by day, kept so that a year is read as twelve
months and not as the four million facts and events behind them (a district-year in milliseconds, not seconds).

They are a projection of the stage facts and the event log, as the facts are of the log — never a counter kept on
the side:

- **Built by the very counts the assessment reads** (``counts.figures`` over the month, ``counts.working_minutes``),
  for the parts of a count that add up over days (``Source.additive``: the rows in a period are its days' rows),
  and what runs across each day's end (a stage open at the cut), which a period ending with that day reads; a
  period ending now (today, not over) reads that from the facts.
- **Whole, and in blocks of days.** Each month is stored whole and in aligned blocks of 8 days and of a day
  (``SIZES``), from the same pass grouped by day in the database: a period cutting a month (a rolling year, the
  last 30 days) reads at most ten blocks of it at each end (``cover``), and no day of it from the facts.
- **Up to the last complete day.** The month under way is stored up to yesterday (``complete_days``) and built
  again each day, so that this month so far, or a rolling year, reads only today from the facts.
- **Read only where they still hold.** A month's days are used when it was built under today's basis (this code's
  version, the settings the counts read, the generation of the stage facts), up to the first day that an event
  since the last ``forget_touched`` may have changed (``touched``: from the first day of a case with a new event —
  and of its master, for a merge moves 漏报 — on, and every later month). Anything else — days touched since, days
  not stored (today), people, departments or the annual totals read within a jurisdiction other than the
  district's or a town's — is read from the facts, so an answer is what the facts say now.
- **Kept up to date by writers, never by a read** (reads may run on a replica): ``forget_touched`` drops the
  months the new events touched, ``missing`` and ``build`` make the ones not stored. The app does both every
  ``assessment_refresh_minutes``; ``liandong assessment refresh`` does it at once, and ``--check`` compares every
  stored month with the facts.

Who a stored figure counts for: a user or unit id, or — for rows counted by grid path — the path of the community
the grid lies in (regions and inspectors are folded from it; an inspector whose unit's area lies below a community
is read from the facts). The rows counted by id, and the district's totals, are stored for the whole district and
again for each town their cases lie in (``MonthFigure.town``), both from one pass over the month grouped by town in
the database: a town's leader assessing people and departments is answered from the town's rows, as a district
leader from the district's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ColumnElement, and_, delete, func, literal, literal_column, or_, select, text
from sqlalchemy import case as sql_case
from sqlalchemy.orm import InstrumentedAttribute, Session

from liandong.areas.models import Area, Meta
from liandong.assessment import counts as c
from liandong.assessment import period as periods
from liandong.assessment.indicators import OBJECTS, REGIONS
from liandong.assessment.models import MonthBuilt, MonthFigure, MonthTimes
from liandong.assessment.settings import Settings
from liandong.cases.facts import GENERATION
from liandong.cases.models import Case, CaseEvent, StageFact
from liandong.config import get_settings
from liandong.db import BINARY, insert_many, is_postgres, position
from liandong.ops import partitions

RULES = "4"
"""This code's version of the month figures: a change of what they hold makes every stored month outdated."""
WATERMARK = "assessment_months_event"
"""``meta``: the last event ``forget_touched`` accounted for."""
FAMILIES = ("inspector", "receptionist", "shift_leader", "dispatcher", "department", "region", "annual")
"""The object types that share one set of counts (a town and a community: ``region``), and the annual totals."""
PER_TOWN = frozenset(FAMILIES) - {"region"}
"""The families whose rows (counted by id, and the district's totals) are stored per town too: not the regions,
whose owner is a place already."""
SIZES = (32, 8, 1)
"""How a month is stored: whole (32), and in aligned blocks of 8 days and of one day from its first day (the last
8 cut short by the month's end), so that a period cutting the month reads at most ten blocks of it at each end
(``cover``) — every row in three blocks (fewer in the month under way, whose whole and last 8 days are not over),
and no day of a stored month from the facts."""
WHOLE = (1, SIZES[0])
"""The block that is the whole month: its first day and size."""
AT_END = "@end"
"""The stored key of a count's rows running across a day's end (``Source.additive`` False), kept for each day as
its change on the day before (in ``size`` 0; the first day's whole): what runs across the end of day D is the sum
of days 1 to D — a period ending with any stored day reads it, and a stage open for weeks is two rows, not one a
day."""
EMPTY_BEFORE = 36
"""Months before the history begins stored as empty, so that the previous period of the first ones assessed (three
years at most) reads no facts either: what ran across its end would be every stage ended since."""
TOUCHED_LIMIT = 50_000
"""More new events than this, and every month counts as touched (after a bulk load, say): cheaper than sorting
out which."""


def family(object_name: str) -> str:
    return "region" if object_name in REGIONS else object_name


def family_counts(name: str) -> dict[str, c.Count]:
    return c.ANNUAL_COUNTS if name == "annual" else OBJECTS["town" if name == "region" else name].counts


def family_stages(name: str) -> tuple[str, ...]:
    return () if name == "annual" else OBJECTS["town" if name == "region" else name].stages


def owned_by(name: str) -> str:
    """Whom a working time counts for (``counts.working_minutes``)."""
    return {"region": "path", "department": "lead"}.get(name, "actor")


def path_depth(path: str) -> int:
    """How many ids a materialised path holds (``/district/town/`` → 2)."""
    return path.strip("/").count("/") + 1


def depth(session: Session, level: str) -> int:
    """How many ids the path of an area of ``level`` holds (0: no area of that level)."""
    path = session.scalar(select(Area.path).where(Area.level == level).limit(1))
    return path_depth(path) if path else 0


def area_at_sql(path: ColumnElement[str], depth: int) -> ColumnElement[str]:
    """The path of the area ``depth`` ids down a grid path — its community, its town; the path itself when it is
    shorter, or when the area tree has no such level (``depth`` 0) — in SQL: the path up to the slash after its
    ``depth``-th id, so the database groups by town or by community, not by each of tens of thousands of grids.
    Each level repeats the one before twice: for the few levels of an area tree (a town: 2, a community: 3)."""
    end: ColumnElement[int] = literal(1)
    for _ in range(depth):
        end = end + position(func.substr(path, end + 1), "/")
    return func.substr(path, 1, end) if depth > 0 else path


def grouped_at(depth: int) -> c.Paths | None:
    """``counts.Paths`` grouping rows by grid path at the area ``depth`` ids down (0: by grid, None)."""
    return (lambda path: area_at_sql(path, depth)) if depth else None


def basis(session: Session, settings: Settings) -> str:
    """What the stored months must have been built under to be read: this code, the settings the counts read, the
    generation of the facts, the district's time zone (which days a month holds) and the community and town levels
    (what a stored owner path and a stored town are)."""
    generation = session.scalar(select(Meta.value).where(Meta.key == GENERATION)) or ""
    said = repr((RULES, sorted(settings.limits_minutes.items()), settings.missed.public_channels,
                 settings.missed.excluded_majors, generation, get_settings().timezone, depth(session, "community"),
                 depth(session, "town")))
    return hashlib.sha256(said.encode()).hexdigest()


def _local_month(at: dt.datetime, tz: ZoneInfo) -> dt.date:
    return partitions.month_of(at, tz).date()


def _next(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


def _period(month: dt.date) -> periods.Period:
    return periods.month(month.year, month.month)


def _watermark(session: Session) -> int:
    return int(session.scalar(select(Meta.value).where(Meta.key == WATERMARK)) or 0)


Touched = dict[dt.date, int]
"""``{month: day}``: the months new events may have changed, each from that day of it on."""


def touched(session: Session, since: int) -> Touched | None:
    """What events after ``since`` may have changed: for each case they belong to (and its master), from the day
    of its first event or stage on — every month after too, up to the newest stored, since an event may end a stage
    or move a deadline that ran across each day's end since (an entry made late, of a past day). None: too many
    events to say, take every month whole."""
    E = CaseEvent
    new = session.scalar(select(func.count()).select_from(E).where(E.id > since)) or 0
    if new == 0:
        return {}
    if new > TOUCHED_LIMIT:
        return None
    new_cases = select(E.case_id).where(E.id > since)  # a subquery: tens of thousands of ids exceed SQLite's limit
    cases = set(session.scalars(new_cases.distinct()))
    cases |= set(session.scalars(select(Case.master_id).where(Case.id.in_(new_cases), Case.master_id.is_not(None))))
    tz, out, ids = ZoneInfo(get_settings().timezone), {}, sorted(cases)
    newest = session.scalar(select(func.max(MonthBuilt.month)))
    for i in range(0, len(ids), 1000):
        chunk = ids[i:i + 1000]
        spans = {case: (first, last) for case, first, last in session.execute(
            select(E.case_id, func.min(E.at), func.max(E.at)).where(E.case_id.in_(chunk)).group_by(E.case_id))}
        for case, begun in session.execute(select(StageFact.case_id, func.min(StageFact.started_at))
                                           .where(StageFact.case_id.in_(chunk)).group_by(StageFact.case_id)):
            if begun is not None:  # its first stages may lie in a month whose log was archived
                first, last = spans.get(case, (begun, begun))
                spans[case] = (min(first, begun), last)
        for first, last in spans.values():
            local = first.astimezone(tz).date()
            month, day, end = local.replace(day=1), local.day, max(_local_month(last, tz), newest or local)
            while month <= end:
                out[month] = min(out.get(month, day), day)
                month, day = _next(month), 1
    return out


Piece = tuple[dt.date, int, int]
"""A stored block: its month, its first day in the month, its size (``SIZES``)."""


def _length(month: dt.date) -> int:
    return (_next(month) - month).days


def block_end(day: int, size: int, length: int) -> int:
    """The last day of the block of ``size`` beginning on ``day`` of a month of ``length`` days (cut by its end)."""
    return min(day + size - 1, length)


def blocks_of(day: int, length: int, through: int | None = None) -> list[tuple[int, int]]:
    """The stored blocks a day of a month of ``length`` days lies in, ``(first day, size)``: one a size, but none
    that holds the very days of a larger one, nor a day after ``through`` (the last day stored of the month under
    way)."""
    out: list[tuple[int, int]] = []
    through = length if through is None else through
    for size in SIZES:
        first = day - (day - 1) % size
        if block_end(first, size, length) > through:
            continue
        if not out or out[-1][0] != first or block_end(*out[-1], length) != block_end(first, size, length):
            out.append((first, size))
    return out


def cover(month: dt.date, first: int, last: int) -> list[tuple[int, int]]:
    """Days ``first`` to ``last`` of a month as stored blocks: from each day on, the largest block that begins there
    and ends by ``last`` — the whole month is one block, a month cut at one end at most ten (at both: fifteen)."""
    length, blocks, day = _length(month), [], first
    while day <= last:
        size = next(s for s in SIZES if (day - 1) % s == 0 and block_end(day, s, length) <= last)
        blocks.append((day, size))
        day = block_end(day, size, length) + 1
    return blocks


def complete_days(month: dt.date, now: dt.datetime) -> int:
    """How many days of a month are over by ``now`` (the district's midnights): all of a month gone by, none of one
    to come; the month under way is stored up to its last complete day."""
    if _period(month).end <= now:
        return _length(month)
    today = now.astimezone(ZoneInfo(get_settings().timezone)).date()
    return max(0, (today - month).days)


@dataclass(frozen=True)
class Plan:
    """How a period is read: these stored blocks, and these stretches from the facts."""

    stored: tuple[Piece, ...]
    raw: tuple[periods.Period, ...]
    tokens: frozenset[str] = frozenset()
    """The builds of the stored months: a read checks they are still there after reading them (``_unchanged``)."""
    end: tuple[dt.date, int] | None = None
    """The period ends with this stored day (its month, its day): what runs across its end is stored too."""
    paths_at: int = 0
    """Read from the facts, rows counted by grid path are grouped by their area this many ids down (a community's:
    ``service.Owners.paths_at``); 0: by grid."""

    def paths(self) -> c.Paths | None:
        return grouped_at(self.paths_at)

    @property
    def months(self) -> list[dt.date]:
        """The stored months the plan reads (whose builds ``tokens`` names)."""
        return sorted({month for month, _, _ in self.stored} | ({self.end[0]} if self.end else set()))


def _answers(session: Session, name: str, path: str | None) -> bool:
    """Whether the stored figures answer a jurisdiction: the district's; a town's or a community's, for the regions
    (every figure of theirs counted by grid path, stored by community, so the jurisdiction is a prefix); a town's,
    for the other families (their rows by id stored per town too, by grid path per community)."""
    if path is None:
        return True
    if name == "region":
        return path_depth(path) <= depth(session, "community")
    return name in PER_TOWN and path_depth(path) == depth(session, "town")


def _where(table: type[MonthFigure] | type[MonthTimes], by_path: bool, path: str | None) -> ColumnElement[bool]:
    """The stored rows of a jurisdiction: by grid path, the communities under it; by id, its own town's rows."""
    if by_path:
        return and_(table.town == "", *_within(table.owner, path))
    return table.town == (path or "")


def _within(column: InstrumentedAttribute[str], path: str | None) -> list[ColumnElement[bool]]:
    return [] if path is None else [column.startswith(path, autoescape=True)]


def plan(session: Session, name: str, ctx: c.Ctx, usable: bool = True, paths_at: int = 0) -> Plan:
    """The blocks of the period's complete days stored under today's basis, before any day events since touched
    (``cover``); the rest from the facts, in as few stretches as the blocks leave (``paths_at``:
    ``Plan.paths_at``)."""
    whole = _from_facts(ctx, paths_at)
    if not usable or ctx.now is None or not _answers(session, name, ctx.path):
        return whole
    first, last = ctx.period.first, ctx.period.last
    month, complete = first.replace(day=1), {}
    while month <= last and (days := complete_days(month, ctx.now)):
        complete[month] = days
        month = _next(month)
    if not complete:
        return whole
    want = basis(session, ctx.settings)
    builds = {month: (token, min(days, complete[month])) for month, token, days in session.execute(
        select(MonthBuilt.month, MonthBuilt.token, MonthBuilt.days).where(
            MonthBuilt.family == name, MonthBuilt.month.in_(sorted(complete)), MonthBuilt.basis == want))}
    if builds:  # the days before what events since the last refresh touched
        changed = touched(session, _watermark(session))
        builds = {} if changed is None else {month: (token, min(days, changed.get(month, 32) - 1))
                                             for month, (token, days) in builds.items()}
    stored = {month for month, (_, days) in builds.items() if days > 0}
    pieces: list[Piece] = []
    for month in sorted(stored):
        through = min(last, month.replace(day=builds[month][1]))
        if max(first, month) <= through:
            pieces.extend((month, day, size) for day, size in cover(month, max(first, month).day, through.day))
    ending = last.replace(day=1)
    end = (ending, last.day) if ending in stored and last.day <= builds[ending][1] else None
    if not pieces and end is None:
        return whole
    raw, start = [], first
    for month, day, size in pieces:
        if month.replace(day=day) > start:
            raw.append(periods.make(start, month.replace(day=day) - dt.timedelta(days=1)))
        start = month.replace(day=block_end(day, size, _length(month))) + dt.timedelta(days=1)
    if start <= last:
        raw.append(periods.make(start, last))
    used = {month for month, _, _ in pieces} | ({end[0]} if end else set())
    return Plan(tuple(pieces), tuple(raw), frozenset(builds[m][0] for m in used), end, paths_at)


def _unchanged(session: Session, name: str, p: Plan) -> bool:
    """Whether the stored months a read used are still the builds its plan chose. A refresh may drop or rebuild a
    month between the plan and the read (each statement sees what is committed when it runs): such a read is done
    again from the facts, never answered with a month missing."""
    found = set(session.scalars(select(MonthBuilt.token).where(MonthBuilt.family == name,
                                                               MonthBuilt.month.in_(p.months))))
    return found == p.tokens


def _from_facts(ctx: c.Ctx, paths_at: int = 0) -> Plan:
    """The whole period read from the facts."""
    return Plan((), (ctx.period,), paths_at=paths_at)


def _add(into: dict[str, dict], more: dict[str, dict]) -> None:
    for key, per in more.items():
        mine = into.setdefault(key, {})
        for owner, n in per.items():
            mine[owner] = mine.get(owner, 0) + n


def _pieces(table: type[MonthFigure] | type[MonthTimes], pieces: tuple[Piece, ...]) -> ColumnElement[bool]:
    """The rows of these blocks: a condition a kind of block (the whole months are one), each of plain equalities on
    the primary key's columns, which the database reads as ranges of it — a row IN over the three together it can
    only test on every block of each month (ten times the rows at 10 M cases)."""
    kinds: dict[tuple[int, int], list[dt.date]] = {}
    for month, day, size in pieces:
        kinds.setdefault((day, size), []).append(month)
    return or_(*(and_(table.month.in_(found), table.day == day, table.size == size)
                 for (day, size), found in sorted(kinds.items())))


def _ends(table: type[MonthFigure], month: dt.date, day: int) -> ColumnElement[bool]:
    """The rows of what runs across the end of a month's ``day``: the changes of its days up to it (``AT_END``), a
    range of the primary key."""
    return and_(table.month == month, table.size == 0, table.day <= day)


def _stored(session: Session, name: str, rows: ColumnElement[bool], keys: dict[str, tuple[str, bool]],
            path: str | None) -> dict[str, dict]:
    """Stored figures summed over the ``rows`` (``_pieces``, ``_ends``): ``keys`` maps each stored key to the count it
    adds to and whether that count is by grid path (its owners paths, not ids)."""
    out: dict[str, dict] = {}
    picked = [and_(MonthFigure.key.in_(sorted(k for k, (_, p) in keys.items() if p == by_path)),
                   _where(MonthFigure, by_path, path)) for by_path in (False, True)]
    rows = session.execute(select(MonthFigure.key, MonthFigure.owner, func.sum(MonthFigure.n))
                           .where(MonthFigure.family == name, rows, or_(*picked))
                           .group_by(MonthFigure.key, MonthFigure.owner))
    for key, owner, n in rows:
        count, by_path = keys[key]
        out.setdefault(count, {})[owner if by_path else int(owner)] = int(n)
    return out


def figures(session: Session, name: str, counts: dict[str, c.Count], ctx: c.Ctx, p: Plan) -> dict[str, dict]:
    """``counts.figures`` of the period, its stored months read from the month figures: rows counted by id keyed
    by the id, by grid path by a path (a community's from a stored month; from the facts, the area ``p.paths_at``
    gives, a grid's without it)."""
    out: dict[str, dict] = {key: {} for key in counts}
    if p.tokens:
        if p.stored:
            _add(out, _stored(session, name, _pieces(MonthFigure, p.stored),
                              {k: (k, v.by_path) for k, v in counts.items()}, ctx.path))
        at_end = {k + AT_END: (k, v.by_path) for k, v in counts.items() if v.only(additive=False).parts}
        if p.end and at_end:
            _add(out, _stored(session, name, _ends(MonthFigure, *p.end), at_end, ctx.path))
        if not _unchanged(session, name, p):
            return figures(session, name, counts, ctx, _from_facts(ctx, p.paths_at))
    additive = {key: count.only(additive=True) for key, count in counts.items()}
    for stretch in p.raw:
        _add(out, c.figures(session, additive, c.Ctx(stretch, ctx.path, ctx.settings, ctx.now), paths=p.paths()))
    at_cut = {key: part for key, count in counts.items() if (part := count.only(additive=False)).parts}
    if at_cut and p.end is None:
        _add(out, c.figures(session, at_cut, ctx, paths=p.paths()))
    return out


def minutes(session: Session, name: str, ctx: c.Ctx, p: Plan) -> dict[tuple[str, object], list[np.ndarray]]:
    """The working minutes of the family's stages ended in the period, per (stage, owner): arrays from the stored
    months and from the facts (an owner keyed as in ``figures``)."""
    out: dict[tuple[str, object], list[np.ndarray]] = {}
    stages, by = family_stages(name), owned_by(name)
    if not stages:
        return out
    if p.stored:
        for stage, owner, blob in session.execute(select(MonthTimes.stage, MonthTimes.owner, MonthTimes.minutes)
                                                  .where(MonthTimes.family == name, _pieces(MonthTimes, p.stored),
                                                         _where(MonthTimes, by == "path", ctx.path))
                                                  .execution_options(**{BINARY: True})):
            out.setdefault((stage, owner if by == "path" else int(owner)), []).append(np.frombuffer(blob))
        if not _unchanged(session, name, p):
            return minutes(session, name, ctx, _from_facts(ctx, p.paths_at))
    for stretch in p.raw:
        rows = c.working_minutes(session, stages, by, c.Ctx(stretch, ctx.path, ctx.settings, ctx.now),
                                 paths=p.paths())
        grouped: dict[tuple[str, object], list[float]] = {}
        for stage, owner, used in rows:
            grouped.setdefault((stage, owner), []).append(used)
        for key, values in grouped.items():
            out.setdefault(key, []).append(np.array(values, dtype=float))
    return out


# --- writing them ------------------------------------------------------------------------------------------------


def forget_touched(session: Session) -> int:
    """Drop the stored months that events since the last call touched, and note the newest event as accounted for;
    returns the months dropped. The caller commits at once: on PostgreSQL this holds event writers back (a lock
    that waits for every transaction writing events to end, so that no event below the new watermark commits
    later)."""
    _one_writer(session)  # first: a builder still reading must commit before its month can be dropped
    if is_postgres(session):
        session.execute(text("LOCK TABLE case_events IN SHARE ROW EXCLUSIVE MODE"))
    newest = session.scalar(select(func.max(CaseEvent.id))) or 0
    changed = touched(session, _watermark(session))
    stale = select(MonthBuilt.month, MonthBuilt.family)
    if changed is not None:
        stale = stale.where(MonthBuilt.month.in_(sorted(changed)))
    dropped = session.execute(stale).all()
    for month, name in dropped:
        _drop(session, month, name)
    session.merge(Meta(key=WATERMARK, value=str(newest)))
    return len(dropped)


def _one_writer(session: Session, month: dt.date | None = None, name: str | None = None) -> None:
    """Who writes the month figures, until its transaction ends (PostgreSQL; SQLite has one writer). A build and a
    ``forget_touched`` side by side could otherwise store a month without an event that the other had already
    accounted for: ``forget_touched`` (and ``store_empty``) hold the lock alone; a build of ``month`` and ``name``
    holds it shared with other builds and its own month alone, so that builds of different months run side by side
    (``refresh``'s ``workers``) and two of the same month take turns."""
    if not is_postgres(session):
        return
    if month is None:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('liandong.assessment.months'))"))
        return
    session.execute(text("SELECT pg_advisory_xact_lock_shared(hashtext('liandong.assessment.months'))"))
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:one))"),
                    {"one": f"liandong.assessment.months:{month.isoformat()}:{name}"})


def _drop(session: Session, month: dt.date, name: str) -> None:
    for table in (MonthFigure, MonthTimes, MonthBuilt):
        session.execute(delete(table).where(table.month == month, table.family == name))


def missing(session: Session, settings: Settings, now: dt.datetime) -> list[tuple[dt.date, str]]:
    """The months since the first event with a complete day, of every family, not stored under today's basis up to
    their last complete day (the month under way: up to yesterday)."""
    first = session.scalar(select(func.min(CaseEvent.at)))
    if first is None:
        return []
    tz, want = ZoneInfo(get_settings().timezone), basis(session, settings)
    stored = {(month, name): days for month, name, days in session.execute(
        select(MonthBuilt.month, MonthBuilt.family, MonthBuilt.days).where(MonthBuilt.basis == want))}
    out, month = [], _local_month(first, tz)
    while days := complete_days(month, now):
        out.extend((month, name) for name in FAMILIES if stored.get((month, name), 0) < days)
        month = _next(month)
    return out


def _first(session: Session) -> dt.datetime | None:
    """When the history begins: the first event, or a stage begun earlier (a log pruned, its facts kept)."""
    found = [t for t in (session.scalar(select(func.min(CaseEvent.at))),
                         session.scalar(select(func.min(StageFact.started_at)))) if t is not None]
    return min(found) if found else None


def store_empty(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Store the ``EMPTY_BEFORE`` months before the history begins as empty (reading nothing: no row is counted
    in them, no stage ran across their ends); returns how many were not stored yet. The caller commits."""
    _one_writer(session)
    first = _first(session)
    if first is None:
        return 0
    want, month, before = basis(session, settings), _local_month(first, ZoneInfo(get_settings().timezone)), []
    for _ in range(EMPTY_BEFORE):
        month = (month - dt.timedelta(days=1)).replace(day=1)
        before.append(month)
    stored = set(session.execute(select(MonthBuilt.month, MonthBuilt.family).where(
        MonthBuilt.basis == want, MonthBuilt.month.in_(before))))
    todo = [(m, name) for m in before for name in FAMILIES if (m, name) not in stored]
    for m, name in todo:
        _drop(session, m, name)
        session.add(MonthBuilt(month=m, family=name, basis=want, days=_length(m), token=uuid.uuid4().hex,
                               built_at=now))
    session.flush()
    return len(todo)


Rows = dict[tuple[str, str, str, int], int]
"""``{(key, town, owner, day): n}``: a month's figures by day; of a key ``…@end``, the change on the day before of
what runs across that day's end (``AT_END``)."""
Times = dict[tuple[str, str, str, int], list[float]]
"""``{(stage, town, owner, day): minutes}``: a month's working times by the day the stage ended in."""


def _month_rows(session: Session, name: str, month: dt.date, settings: Settings, now: dt.datetime,
                through: int) -> tuple[Rows, Times]:
    """What the month's days 1 to ``through`` hold, by day: the rows in each, what runs across each one's end (key
    ``…@end``, as each day's change: a stage counts from the first day's end it runs across to the last), and the
    working minutes. A row counted by id goes to its owner in the district ('') and in the town of its case's grid;
    one counted by grid path to the community (town ''). The database groups by owner (a grid path by its
    community), town and day — what runs across days' ends, by the first and last of them."""
    days = _days(month, through)
    ctx = c.Ctx(periods.make(month, month.replace(day=through)), None, settings, now, cuts=days.cuts)
    counts = {key: count.only(additive=True) for key, count in family_counts(name).items()}
    community, town = depth(session, "community"), depth(session, "town")
    towns = area_at_sql(Case.area_path, town) if name in PER_TOWN and town else None
    paths = grouped_at(community)  # the database groups rows by grid path by community

    def outside() -> ValueError:  # the source's ``at`` and its period condition disagree
        return ValueError(f"a row of {month:%Y-%m} lies outside its days: its source's at is not its bound")

    found: dict[tuple[object, object, bool], list[tuple[str, str]]] = {}

    def places(owner: object, at: object, by_path: bool) -> list[tuple[str, str]]:
        """Where a row's number goes, ``(town, owner)``: a grid path's to its community; an id's to the district,
        and to its town ``at`` when counted per town. Worked out once an owner: a month's working times are a row
        a stage."""
        out = found.get((owner, at, by_path))
        if out is None:
            if by_path:  # grouped by community already (``paths``)
                out = [("", str(owner))]
            else:
                whole = ("", str(int(owner)))
                out = [whole, (at, whole[1])] if at and path_depth(at) >= town else [whole]
            found[owner, at, by_path] = out
        return out

    figures: Rows = {}
    at_end = {k + AT_END: v.only(additive=False) for k, v in family_counts(name).items()}
    for part, daily in ((counts, True), (at_end, False)):
        for by_path in (False, True):
            chosen = {k: v for k, v in part.items() if v.parts and v.by_path == by_path}
            per = None if by_path else towns
            got_all = c.figures(session, chosen, ctx, per, days.numbering, paths=paths) if chosen else {}
            for key, got in got_all.items():
                for row, n in got.items():
                    if daily:
                        if not 0 < row[-1] <= through:
                            raise outside()
                        changes = ((row[-1], n),)
                    else:  # from its first day's end to its last's
                        changes = ((row[-2], n), (row[-1] + 1, -n)) if row[-1] < through else ((row[-2], n),)
                    for place in places(row[0], row[1] if per is not None else None, by_path):
                        for day, change in changes:
                            at = (key, *place, day)
                            figures[at] = figures.get(at, 0) + change
    times: Times = {}
    stages, by = family_stages(name), owned_by(name)
    per_town = towns if by != "path" else None
    for row in c.working_minutes(session, stages, by, ctx, per_town, days.numbering.of, paths) if stages else ():
        if not 0 < row[-2] <= through:
            raise outside()
        for place in places(row[1], row[2] if per_town is not None else None, by == "path"):
            times.setdefault((row[0], *place, row[-2]), []).append(row[-1])
    return figures, times


@dataclass(frozen=True)
class _Days:
    """The days 1 to ``through`` of a month: their ends (UTC instants of the district's midnights, worked out here
    with the zone's rules, so exact on both databases whatever its daylight saving) and the SQL that numbers a
    moment by them (``counts.Days``)."""

    numbering: c.Days
    cuts: tuple[dt.datetime, dt.datetime]


def _days(month: dt.date, through: int) -> _Days:
    tz = ZoneInfo(get_settings().timezone)
    edges = [dt.datetime.combine(month + dt.timedelta(days=k), dt.time(), tzinfo=tz).astimezone(dt.UTC)
             for k in range(through + 1)]

    def counted(below: Callable[[dt.datetime], ColumnElement[bool]]) -> ColumnElement[int]:
        """How many of the edges lie ``below`` the moment, as a CASE halving the edges at each step (five
        comparisons a row, not thirty)."""
        def between(lo: int, hi: int) -> ColumnElement[int]:
            if lo == hi:
                return literal_column(str(lo))
            mid = (lo + hi + 1) // 2
            return sql_case((below(edges[mid - 1]), between(mid, hi)), else_=between(lo, mid - 1))
        return between(0, through + 1)

    made: dict[tuple[str, int], ColumnElement[int]] = {}  # a tree a column (the sources' own, alive meanwhile)

    def of(at: ColumnElement[dt.datetime]) -> ColumnElement[int]:
        if ("of", id(at)) not in made:
            made["of", id(at)] = counted(lambda edge: at >= edge)
        return made["of", id(at)]

    def due(at: ColumnElement[dt.datetime]) -> ColumnElement[int]:
        if ("due", id(at)) not in made:
            made["due", id(at)] = sql_case((at.is_(None), literal_column(str(through + 1))),
                                           else_=counted(lambda edge: at > edge))
        return made["due", id(at)]

    return _Days(c.Days(through, of, due), (edges[1], edges[through]))


def _blocks(month: dt.date, through: int, rows: Rows | Times, minutes: bool = False) -> dict[tuple, int | list[float]]:
    """A month's rows by day folded onto every block they are stored in (``blocks_of``): ``{(…, day, size):
    value}`` (a sum; with ``minutes``, the working minutes together); the changes of what runs across a day's end
    (a key ``…@end``) in ``size`` 0, but none that is nothing (``AT_END``)."""
    length = _length(month)
    blocks = {day: blocks_of(day, length, through) for day in range(1, through + 1)}
    out: dict[tuple, int | list[float]] = {}
    if minutes:  # one list a block
        for key, value in rows.items():
            head = key[:-1]
            for day, size in blocks[key[-1]]:
                out.setdefault((*head, day, size), []).extend(value)  # type: ignore[union-attr, arg-type]
        return out
    get = out.get
    for key, value in rows.items():
        head = key[:-1]
        if head[0].endswith(AT_END):
            if value:
                out[(*head, key[-1], 0)] = value
            continue
        for day, size in blocks[key[-1]]:
            at = (*head, day, size)
            out[at] = get(at, 0) + value  # type: ignore[operator]
    return out


def build(session: Session, month: dt.date, name: str, settings: Settings, now: dt.datetime,
          made: Made | None = None) -> bool:
    """Store a month's figures of a family up to its last complete day (False: stored meanwhile by another
    process). The caller commits.

    ``made``: the rows, made beforehand by another process (``_make``), stored as they are if they still hold — the
    same basis and days, and no event since they were read that touches the month (``touched``, the rule
    ``forget_touched`` keeps) — else made again here."""
    through = complete_days(month, now)
    if not through:
        raise ValueError(f"{month:%Y-%m} has no complete day yet: only complete days are stored")
    _one_writer(session, month, name)
    want = basis(session, settings)
    found = session.execute(select(MonthBuilt.basis, MonthBuilt.days).where(MonthBuilt.month == month,
                                                                            MonthBuilt.family == name)).first()
    if found is not None and found.basis == want and found.days >= through:
        return False
    _drop(session, month, name)  # on SQLite the first write: from here no event commits until this build does
    if made is None or (made.basis, made.days) != (want, through) or not _still(session, made.newest, month):
        made = _made(session, month, name, settings, now)
    insert_many(session, MonthFigure.__table__, ("month", "family", "key", "town", "owner", "day", "size", "n"),
                made.figures)  # hundreds of thousands of plain rows: the driver's own executemany, COPY on PostgreSQL
    insert_many(session, MonthTimes.__table__, ("month", "family", "stage", "town", "owner", "day", "size", "minutes"),
                made.times)
    session.add(MonthBuilt(month=month, family=name, basis=want, days=through, token=uuid.uuid4().hex,
                           built_at=now))
    session.flush()
    return True


@dataclass(frozen=True)
class Made:
    """A month's rows of a family as they are stored, and what they were made under: the basis, the days they hold
    and the newest event when they were read."""

    basis: str
    days: int
    newest: int
    figures: list[tuple]
    times: list[tuple]


def _newest(session: Session) -> int:
    return session.scalar(select(func.max(CaseEvent.id))) or 0


def _still(session: Session, newest: int, month: dt.date) -> bool:
    """Whether a month's figures read when ``newest`` was the last event hold now: no event since touches it."""
    if _newest(session) == newest:
        return True
    since = touched(session, newest)
    return since is not None and month not in since


def _made(session: Session, month: dt.date, name: str, settings: Settings, now: dt.datetime) -> Made:
    through = complete_days(month, now)
    figures, times = _month_rows(session, name, month, settings, now, through)
    m = month.isoformat()
    return Made(basis(session, settings), through, _newest(session),
                [(m, name, *key, n) for key, n in _blocks(month, through, figures).items()],
                [(m, name, *key, np.array(v, dtype=float).tobytes())
                 for key, v in _blocks(month, through, times, minutes=True).items()])


def check(session: Session, settings: Settings, now: dt.datetime) -> list[dict]:
    """Every stored month under today's basis, not touched since, compared with what the facts give now: the
    figures and working minutes that differ (none: the months hold what the facts say)."""
    want = basis(session, settings)
    changed = touched(session, _watermark(session))
    out = []
    for month, name, days in session.execute(select(MonthBuilt.month, MonthBuilt.family, MonthBuilt.days)
                                             .where(MonthBuilt.basis == want)
                                             .order_by(MonthBuilt.month, MonthBuilt.family)):
        if changed is None or month in changed:
            continue
        figures, times = _month_rows(session, name, month, settings, now, days)
        figures, times = _blocks(month, days, figures), _blocks(month, days, times, minutes=True)
        stored = {(k, t, o, d, z): n for k, t, o, d, z, n in session.execute(
            select(MonthFigure.key, MonthFigure.town, MonthFigure.owner, MonthFigure.day, MonthFigure.size,
                   MonthFigure.n).where(MonthFigure.month == month, MonthFigure.family == name))}
        kept = {(s, t, o, d, z): sorted(np.frombuffer(b).tolist()) for s, t, o, d, z, b in session.execute(
            select(MonthTimes.stage, MonthTimes.town, MonthTimes.owner, MonthTimes.day, MonthTimes.size,
                   MonthTimes.minutes).where(MonthTimes.month == month, MonthTimes.family == name))}
        for key in sorted(set(stored) | set(figures)):
            if stored.get(key) != figures.get(key):
                out.append({"month": month.isoformat(), "family": name, "count": key[0], "town": key[1],
                            "owner": key[2], "block": key[3:], "stored": stored.get(key),
                            "facts": figures.get(key)})
        for key in sorted(set(kept) | set(times)):
            if kept.get(key) != sorted(times.get(key, [])) and (key in kept or times.get(key)):
                out.append({"month": month.isoformat(), "family": name, "stage": key[0], "town": key[1],
                            "owner": key[2], "block": key[3:], "stored": len(kept.get(key, [])),
                            "facts": len(times.get(key, []))})
    return out


def _statistics(session: Session) -> None:
    """The planner's statistics of the stored rows, taken anew after builds (PostgreSQL): a bulk writer outruns
    autovacuum, and on a freshly filled table's empty statistics a read sorts on disk what it could hash."""
    if is_postgres(session):
        session.execute(text("ANALYZE assessment_month_figures, assessment_month_times, assessment_months"))


def refresh(units: Callable[[], AbstractContextManager[Session]], settings: Settings, now: dt.datetime,
            limit: int | None = None, workers: int = 1, url: str | None = None) -> dict:
    """Bring the stored months up to date: drop the touched ones (a unit of work of its own, committed at once, so
    event writers wait for no more than that), then build each missing month in a unit of work of its own (at most
    ``limit`` of them). Safe with several processes: builders of one month take turns, and one finds it stored.

    With ``workers`` > 1 (and the database's ``url``) the months are built by several processes side by side. On
    PostgreSQL each builds and stores its share: a build mostly waits on the server (its sums, its rows' COPY), and
    each process has a server process (a connection) of its own — as many builds at once as workers. On SQLite, which
    takes one writer at a time, the workers make the rows and this process stores them (``build``'s ``made``)."""
    with units() as session:
        dropped = forget_touched(session)
    with units() as session:
        empty = store_empty(session, settings, now)
    with units() as session:
        wanted = missing(session, settings, now)
        todo = wanted[:limit]
        workers = min(workers, len(todo))  # no process without a month to build
        parallel, on_postgres = workers > 1 and url is not None, is_postgres(session)
    built = 0
    if parallel and not on_postgres:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # SQLite: the workers make the rows, each month in a snapshot of its own, while this process, the one writer,
        # stores them as they come (made again here where an event came in meanwhile)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_forked,
                                 initargs=(url,)) as pool:
            for done in as_completed([pool.submit(_make, url, month, name, settings, now) for month, name in todo]):
                month, name, made = done.result()
                with units() as session:
                    built += build(session, month, name, settings, now, made)
    elif parallel:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers - 1, mp_context=multiprocessing.get_context("fork")) as pool:
            others = [pool.submit(_build_share, url, todo[k::workers], settings, now) for k in range(1, workers)]
            for month, name in todo[0::workers]:  # this process's share, while the others build theirs
                with units() as session:
                    built += build(session, month, name, settings, now)
            built += sum(f.result() for f in others)
    else:
        for month, name in todo:
            with units() as session:
                built += build(session, month, name, settings, now)
    if built:
        with units() as session:
            _statistics(session)
    return {"dropped": dropped, "built": built, "empty": empty, "missing": len(wanted) - built}


def _forked(url: str) -> None:
    """A worker's own connections: it leaves the parent's pooled ones to the parent (SQLAlchemy's way after a fork:
    ``dispose(close=False)``)."""
    from liandong.db import get_engine

    get_engine(url).dispose(close=False)


def _make(url: str, month: dt.date, name: str, settings: Settings, now: dt.datetime) -> tuple[dt.date, str, Made]:
    """A worker's rows of a month (SQLite), read in one snapshot: what it reads is what one moment held."""
    from liandong.db import session_factory

    session = session_factory(url)()
    try:
        session.connection().exec_driver_sql("BEGIN")  # pysqlite begins no transaction for reads
        return month, name, _made(session, month, name, settings, now)
    finally:
        session.rollback()
        session.close()


def _build_share(url: str, share: list[tuple[dt.date, str]], settings: Settings, now: dt.datetime) -> int:
    """A worker process's share of a ``refresh``: each month in a unit of work of its own. Forked, it leaves the
    parent's pooled connections to the parent (SQLAlchemy's way: ``dispose(close=False)``) and opens its own."""
    from liandong.db import get_engine, unit_of_work

    get_engine(url).dispose(close=False)
    built = 0
    for month, name in share:
        with unit_of_work(url) as session:
            built += build(session, month, name, settings, now)
    return built
