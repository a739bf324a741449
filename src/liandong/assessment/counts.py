"""Every count the assessment reads, each one SQL definition: rows ``(obj, case_id)``, one row per thing counted (a
case dispatched twice in the period is two dispatches). The figure is the rows' number per object; its drill-down
is the same rows for one object, so the list always adds up to the figure.

A count is made of *parts*, each some rows of a *source*: the events in the period, the stages ended in it, the
stages running at its end… Every count over one source is read in one pass over it (``figures``: a ``SUM(CASE
…)`` per count, grouped by object), so an object type's figures read each row once, not once a count; the
drill-down reads the part's rows (``Count.rows``) with the very same conditions.

Counts come from the event log (``case_events``) and the stage facts (``case_stage_facts``), never from a counter
kept on the side; the case row is read only for what does not change (channel, place, matter). Who a row counts
for (``obj``) depends on the object assessed:

- a person (inspector, receptionist, shift leader, dispatcher): the user whose action it was — the event's actor,
  or the actor who ended the stage (an inspector's 辖区立案数 and 漏报数: the grid, as for a region);
- a department: the case's lead unit while the stage ran (the fact's ``lead_unit_id``);
- a region (town, community): the case's unit grid, as its path (``Case.area_path``: ``/district/town/community/
  grid/``, each an area id), or the path of its community (``figures(paths=…)``: the database groups a region's
  rows by community, hundreds of rows, not tens of thousands of grids), which the service folds onto the towns or
  communities (``service.Owners``) and whose drill-down keeps the rows under the area's path. Grouping by a column
  of the case is far cheaper than finding each case's area.

A stage is *timely* when it ended within its deadline (派遣, 签收, 处置, 核查: the facts' ``on_time``) or, for the
stages without a deadline of their own (受理, 核实, 立案 / 核实派发, 核查派发, 结案), within the working minutes of
``settings.yaml`` (``limits_minutes``). Pauses (挂账, a pending extension) are not working time; an approved
extension moved the deadline the fact was judged by.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import Session, aliased

from liandong.assessment.period import Period
from liandong.assessment.settings import Settings
from liandong.cases.facts import ACCEPT_SEQ, JUDGED
from liandong.cases.models import Case, CaseEvent, StageFact
from liandong.cases.sla import late_sql
from liandong.catalogue.models import Matter

E, F = CaseEvent, StageFact
HANDLING = ("sign", "dispose")
"""The stages a department answers for (签收, 处置)."""
AFTER_FILING = ("dispatch", "sign", "dispose", "await_check", "check", "close")
"""A case in one of these stages is filed and not closed: owed a closure."""
SATISFIED = ("very_satisfied", "satisfied")


@dataclass(frozen=True)
class Ctx:
    """What every count needs: the period, the caller's jurisdiction (a materialised path, None: everything)."""

    period: Period
    path: str | None
    settings: Settings
    now: dt.datetime | None = None
    """The moment of asking: a period not over yet is read as it stands now (what is late is late by now)."""
    cuts: tuple[dt.datetime, dt.datetime] | None = None
    """Read what runs across each of several cuts at once (the month figures: every day's end, ``figures``'s
    ``days``): the first and the last of them, which bound the rows read; None: the one ``cut``."""

    @property
    def cut(self) -> dt.datetime:
        """Where the period's "at its end" lies: its end, or now if that comes first."""
        return min(self.period.end, self.now) if self.now is not None else self.period.end

    @property
    def first_cut(self) -> dt.datetime:
        """The earliest cut read (``cuts``): a stage ended before it runs across none."""
        return self.cuts[0] if self.cuts else self.cut

    @property
    def last_cut(self) -> dt.datetime:
        """The latest cut read (``cuts``): a stage begun at or after it runs across none."""
        return self.cuts[1] if self.cuts else self.cut


Conditions = Callable[[Ctx], Iterable[ColumnElement[bool]]]


def in_period(column, ctx: Ctx) -> ColumnElement[bool]:
    return and_(column >= ctx.period.start, column < ctx.period.end)


def in_sight(stmt: Select, case_id, ctx: Ctx) -> Select:
    """Only the cases in the caller's jurisdiction (the case rule's area condition)."""
    if ctx.path is None:
        return stmt
    return stmt.where(case_id.in_(select(Case.id).where(Case.area_path.startswith(ctx.path, autoescape=True))))


@dataclass(frozen=True, eq=False)
class Source:
    """A kind of row counts are made of: a table (and what it joins), whom a row counts for, the period's bound,
    and the column (a stage, an action) the parts pick their rows by — which keeps every read on its index."""

    table: object
    obj: ColumnElement
    key: ColumnElement
    bound: Conditions
    case_id: ColumnElement
    joins: Callable[[], list[tuple]] = lambda: []
    grouped: bool = True
    """False for a source whose rows all count for one object (``events``: the district's totals)."""
    by_path: bool = False
    """Its rows count for the case's grid path, which the service folds onto regions and inspectors."""
    additive: bool = True
    """A period's rows are its months' rows together (the rows in a period: events, stages ended or begun in it);
    False for the stages running at the period's end, which a month holds for each day's end only (``months.py``)."""
    at: ColumnElement | None = None
    """What puts a row of an additive source in the period (an event's time, a stage's end or start): the moment
    that decides which of the month figures' blocks of days store it."""
    span: tuple[ColumnElement, ColumnElement | None] | None = None
    """Of a source of the stages running at a cut (not additive): when a row begins and ends (None: it has not), so
    that the cuts it runs across are the ones after its beginning and not after its end (``figures``'s ``days``)."""

    def select(self, ctx: Ctx, keys: Iterable[str], *columns, case: bool = False) -> Select:
        """The rows of ``keys`` in the period; ``case``: joined with their case where the source is not already."""
        stmt = select(*columns).select_from(self.table)
        joins = self.joins()
        if case and not any(target is Case for target, _ in joins):
            joins.append((Case, Case.id == self.case_id))
        for target, on in joins:
            stmt = stmt.join(target, on)
        stmt = stmt.where(self.key.in_(sorted(set(keys))), *self.bound(ctx), self.obj.is_not(None))
        return in_sight(stmt, self.case_id, ctx)


@dataclass(frozen=True)
class Part:
    """The rows of ``source`` whose key is one of ``keys`` and that meet ``where``."""

    source: Source
    keys: tuple[str, ...]
    where: tuple[Conditions, ...] = ()
    alone: bool = False
    """Read in a pass of its own: its condition asks about other rows (EXISTS, IN a subquery), which a database
    answers best as a (semi- or anti-) join when it is the statement's own condition, not one count's among
    others."""
    due: ColumnElement | None = None
    """Of a part of the stages running at a cut: counted only at a cut this moment has come by (a deadline: past
    due then, ``sla.late_sql``)."""

    def condition(self, ctx: Ctx, each_cut: bool = False) -> ColumnElement[bool]:
        """Its rows' condition; ``each_cut``: but for ``due``, which ``figures``'s ``days`` reads cut by cut."""
        due = [] if self.due is None or each_cut else [late_sql(self.due, ctx.cut)]
        return and_(self.source.key.in_(self.keys), *(c for w in self.where for c in w(ctx)), *due)


@dataclass(frozen=True)
class Count:
    parts: tuple[Part, ...]

    def rows(self, ctx: Ctx) -> Select:
        """The rows counted, ``(obj, case_id)``: what the drill-down lists."""
        selects = [p.source.select(ctx, p.keys, p.source.obj.label("obj"), p.source.case_id.label("case_id"))
                   .where(p.condition(ctx)) for p in self.parts]
        return selects[0] if len(selects) == 1 else union_all(*selects)

    @property
    def by_path(self) -> bool:
        return self.parts[0].source.by_path if self.parts else False

    def __post_init__(self) -> None:
        if len({p.source.by_path for p in self.parts}) > 1:
            raise ValueError("a count's parts count either by id or by grid path, not both")

    def only(self, additive: bool) -> Count:
        """The parts whose source is (or is not) additive over the months of a period."""
        return Count(tuple(p for p in self.parts if p.source.additive == additive))

    def where(self, *more: Conditions, alone: bool = False) -> Count:
        """The same rows, those meeting ``more`` too (``alone``: read in a pass of their own, ``Part.alone``)."""
        return Count(tuple(replace(p, where=(*p.where, *more), alone=alone or p.alone) for p in self.parts))

    def __add__(self, other: Count) -> Count:
        return Count((*self.parts, *other.parts))


def part(source: Source, *keys: str, where: Conditions | None = None, due: ColumnElement | None = None) -> Count:
    return Count((Part(source, keys, (where,) if where else (), due=due),))


Paths = Callable[[ColumnElement], ColumnElement]
"""The SQL of the area a grid path counts for (``months.area_at_sql`` to a level): what rows counted by grid path
are grouped by in the database — a community's hundreds of rows, not its grids' tens of thousands."""


@dataclass(frozen=True)
class Days:
    """Days to number rows by (the month figures'): ``of(moment)``, the SQL of the day a moment lies in (1 to
    ``last``; 0 before the first, ``last`` + 1 after the last); ``due(moment)``, of the first day by whose end the
    moment has come (0: by the start of the first)."""

    last: int
    of: Callable[[ColumnElement], ColumnElement]
    due: Callable[[ColumnElement], ColumnElement]


def figures(session: Session, counts: dict[str, Count], ctx: Ctx, per: ColumnElement | None = None,
            days: Days | None = None, paths: Paths | None = None) -> dict[str, dict]:
    """Each count's rows numbered per object: one statement per source, a sum per count part over it. ``per``: an
    expression of the case to number them by as well; ``days``: number the rows by day too — a row of an additive
    source by the day its moment lies in (``Source.at``), one of the stages running at a cut by the first and last
    day at whose end it runs (``Source.span``, ``Part.due``; ``ctx.cuts`` are the first and the last day's ends).
    With either, the rows are keyed ``(obj, [per,] [day | first, last])`` (the month figures: the case's town, the
    day). ``paths``: rows counted by grid path are numbered by the area it gives, not by grid."""
    by_source: dict[tuple, list[tuple[str, Part]]] = {}
    for key, count in counts.items():
        for i, p in enumerate(count.parts):
            by_source.setdefault((p.source, (key, i) if p.alone else None), []).append((key, p))
    out: dict[str, dict] = {key: {} for key in counts}
    for (source, _), parts in by_source.items():
        each_cut = days is not None and source.span is not None
        if each_cut and ctx.cuts is None:
            raise ValueError("what runs across days' ends is read between the first and last of them: give ctx.cuts")
        dues = {p.due for _, p in parts if p.due is not None}
        if each_cut and len(dues) > 1:
            raise ValueError("the parts of a source read by day come due by one moment")
        due = next(iter(dues)) if each_cut and dues else None
        conditions = [p.condition(ctx, each_cut) for _, p in parts]
        sums = [func.count()] if len(parts) == 1 else [func.sum(case((cond, 1), else_=0)) for cond in conditions]
        # only the rows some count wants go on to the grouping (and, where the conditions read the fact alone, to
        # the join with its case)
        when, spanned = _when(source, days, due)
        extra = ([] if per is None else [per]) + when
        owners = [paths(source.obj) if paths is not None and source.by_path else source.obj, *extra]
        stmt = source.select(ctx, (k for _, p in parts for k in p.keys), *owners, *sums,
                             case=per is not None).where(or_(*conditions), *spanned)
        if source.grouped:
            stmt = stmt.group_by(*owners)
        elif extra:
            stmt = stmt.group_by(*extra)
        result = session.connection().execute(stmt)
        rows = result.cursor.fetchall()  # the driver's own tuples: without ``paths`` a region's are a row a grid
        result.close()
        head, width = len(owners) - len(when), len(owners)
        for row in rows:
            owner = row[:width] if extra else row[0]
            if each_cut:  # the days of a part with a due moment: from when it came due
                assert days is not None
                running = _first_last(source, row[head:width], False, days.last)
                late = _first_last(source, row[head:width], True, days.last) if due is not None else running
            for i, (key, p) in enumerate(parts, start=width):
                if n := row[i]:
                    if each_cut:
                        first, last = late if p.due is not None else running
                        if first > last:
                            continue  # due only after it ended
                        owner = (*row[:head], first, last)
                    mine = out[key]
                    mine[owner] = mine.get(owner, 0) + int(n)
    return out


def _when(source: Source, days: Days | None, due: ColumnElement | None) -> tuple[list[ColumnElement], list]:
    """What numbers a source's rows by day (``figures``'s ``days``), and the condition that keeps only the rows
    that count on some day: for the stages running at a cut, the day each began, the day it ended (if it has: else
    it runs on) and its ``due`` day (``_first_last``)."""
    if days is None:
        return [], []
    if source.span is None:
        if source.at is None:
            raise ValueError("only the rows of an additive source lie at a moment of the period")
        return [days.of(source.at)], []
    begins, ends = source.span
    when = [days.of(begins)] + ([] if ends is None else [days.of(ends)]) + ([] if due is None else [days.due(due)])
    return when, ([] if ends is None else [when[1] > when[0]])  # else it ended on the day it began: no day's end


def _first_last(source: Source, days: tuple, due: bool, last: int) -> tuple[int, int]:
    """The first and the last day at whose end a stage runs (and is due): from the day it began (and came due) on,
    before the day it ended — from the days ``_when`` numbers it by."""
    begun, ended = days[0], last + 1 if source.span[1] is None else days[1]  # type: ignore[index]
    first = max(1, begun, days[-1]) if due else max(1, begun)
    return first, min(last, ended - 1)


def _timely(ctx: Ctx) -> tuple[ColumnElement[bool]]:
    """Ended within its deadline, or within the settings' working minutes where the stage has no deadline."""
    limits = ctx.settings.limits_minutes
    return (or_(and_(F.stage.in_(JUDGED), F.on_time.is_(True)),
                *[and_(F.stage == stage, F.used_minutes <= minutes) for stage, minutes in limits.items()]),)


def _since(ctx: Ctx, stmt: Select, fact=F) -> Select:
    """Only the facts that ended in the period or after it: for a stage that begins at or after a moment in the
    period, that is no condition at all (the projection keeps a case's stages in time order, ``facts.fold``), and
    saying so spares every earlier month's partition (PostgreSQL, migration 0031)."""
    return stmt.where(fact.ended_at >= ctx.period.start)


def _ended_in_period(ctx: Ctx) -> tuple:
    return (in_period(F.ended_at, ctx),)


def _events_in_period(ctx: Ctx) -> tuple:
    return (in_period(E.at, ctx),)


def _still_running(ctx: Ctx) -> tuple:  # two sources (this and _ended_after), each on an index of its own
    """Begun before the cut (the last of ``Ctx.cuts``), not ended: the DEFAULT partition on PostgreSQL, on its
    index by start."""
    return (F.ended_at.is_(None), F.started_at < ctx.last_cut)


def _ended_after(ctx: Ctx) -> tuple:
    """Begun before the cut, ended after it (before the last of ``Ctx.cuts``, after the first): in each month's
    partition after the cut, the few that began before it, on its index by start — not every stage ended since (a
    year of them for a rolling year's previous period). Over a month's days' ends: the month's own stages too."""
    return (F.ended_at >= ctx.first_cut, F.started_at < ctx.last_cut)


def _case_join() -> list[tuple]:
    return [(Case, Case.id == F.case_id)]


def _event_case_join() -> list[tuple]:
    return [(Case, Case.id == E.case_id)]


@dataclass(frozen=True)
class Sources:
    """The sources of the counts a lead unit or a region answers for."""

    ended: Source
    running: Source
    ended_after: Source
    events: Source


def _facts(obj: ColumnElement, bound: Conditions, joins: Callable[[], list[tuple]] = lambda: [],
           by_path: bool = False, at: ColumnElement = F.ended_at) -> Source:
    additive = bound not in (_still_running, _ended_after)
    span = None if additive else (F.started_at, None if bound is _still_running else F.ended_at)
    return Source(F, obj, F.stage, bound, F.case_id, joins, by_path=by_path, additive=additive,
                  at=at if additive else None, span=span)


ACTOR_EVENTS = Source(E, E.actor_id, E.action, _events_in_period, E.case_id, at=E.at)
ALL_EVENTS = Source(E, literal(0), E.action, _events_in_period, E.case_id, grouped=False, at=E.at)
ACTOR_ENDED = _facts(F.actor_id, _ended_in_period)
LEAD = Sources(_facts(F.lead_unit_id, _ended_in_period), _facts(F.lead_unit_id, _still_running),
               _facts(F.lead_unit_id, _ended_after),
               Source(E, Case.lead_unit_id, E.action, _events_in_period, E.case_id, _event_case_join, at=E.at))
REGION = Sources(_facts(Case.area_path, _ended_in_period, _case_join, by_path=True),
                 _facts(Case.area_path, _still_running, _case_join, by_path=True),
                 _facts(Case.area_path, _ended_after, _case_join, by_path=True),
                 Source(E, Case.area_path, E.action, _events_in_period, E.case_id, _event_case_join, by_path=True,
                        at=E.at))


def events(*actions: str) -> Count:
    """Every event of ``actions`` in the period, whoever acted (the district's totals)."""
    return part(ALL_EVENTS, *actions)


ANNUAL_COUNTS = {key: events(action) for key, action in (
    ("reported", "report"), ("accepted", "accept"), ("filed", "file"), ("closed", "close"),
    ("self_handled", "close_self_handled"))}
"""The district's totals of the annual report: reported, accepted (受理), filed (立案), closed (结案, filed cases)
and self-handled (自处理, never filed)."""


# --- people: the actor -------------------------------------------------------------------------------------------


def _ended_by(stage: str, *ended_by: str, source: Source = ACTOR_ENDED) -> Count:
    """Stages ``stage`` ended in the period by one of ``ended_by``."""
    return part(source, stage, where=lambda ctx: (F.ended_by.in_(ended_by),))


reported = part(ACTOR_EVENTS, "report", where=lambda ctx: (
    E.case_id.in_(select(Case.id).where(Case.channel == "grid_worker")),)).where(alone=True)
"""上报数: reports the person made as a grid worker (the grid worker's channel; a receptionist entering a hotline
call is not reporting a problem of their own)."""


def _accepted_since(ctx: Ctx) -> tuple:
    """The report's case was accepted: its first stage (looked up by its key, ``(case_id, seq)``: a probe a report,
    not a scan of every acceptance since the period began) ended by an acceptance."""
    acceptance = aliased(StageFact)
    return (exists(_since(ctx, select(acceptance.id).where(
        acceptance.case_id == E.case_id, acceptance.seq == ACCEPT_SEQ, acceptance.ended_by == "accept"),
        acceptance)),)


valid = reported.where(_accepted_since)
"""有效上报数: of those, the ones the centre accepted (受理: the acceptance ends the stage the report began)."""

verify_due = _ended_by("verify", "verified")
"""应核实数: verifications (核实) the person carried out."""
verify_on_time = verify_due.where(_timely)
check_due = _ended_by("check", "check_passed", "check_failed")
"""应核查数: checks (核查) the person carried out, passed or failed."""
check_on_time = check_due.where(_timely)


area_filed = part(REGION.events, "file")
"""辖区立案数: cases filed in the period inside the inspector's jurisdiction (counted by grid path, which the service
gives every inspector whose unit's area holds it: ``service.Owners``)."""


def _missed(ctx: Ctx) -> list:
    rule = ctx.settings.missed
    merged = aliased(Case)
    found_first = select(merged.id).where(  # a grid worker who reported it first found it
        merged.master_id == Case.id, merged.channel == "grid_worker", merged.created_at <= Case.created_at)
    out = [Case.channel.in_(rule.public_channels), ~exists(found_first)]
    if rule.excluded_majors:
        out.append(Case.matter_id.not_in(select(Matter.id).where(Matter.major_code.in_(rule.excluded_majors))))
    return out


missed = area_filed.where(_missed, alone=True)
"""漏报数 (settings ``missed``): of those, the ones first reported by the public — no grid worker's report made
before them merged into them — of a matter not excluded."""

accepted = part(ACTOR_EVENTS, "accept")
"""受理数: reports accepted."""
rejected = part(ACTOR_EVENTS, "reject")
"""不予受理数: reports rejected."""
verify_dispatched = _ended_by("file", "request_verify")
"""核实派发数: accepted reports sent out to be verified."""
verify_dispatched_on_time = verify_dispatched.where(_timely)
check_dispatched = _ended_by("await_check", "request_check")
"""核查派发数: disposals reported done sent out to be checked."""
check_dispatched_on_time = check_dispatched.where(_timely)
filed = _ended_by("file", "file")
"""立案数 (a shift leader's): cases the person filed."""
filed_on_time = filed.where(_timely)


def _never_voided(ctx: Ctx) -> tuple:
    voided = aliased(StageFact)
    return (~exists(_since(ctx, select(voided.id).where(voided.case_id == F.case_id, voided.outcome == "voided"),
                           voided)),)


filed_accurate = filed.where(_never_voided, alone=True)
"""准确立案数 = 立案数 − 作废数: filed cases never voided since (a void ends the stage the case is in)."""
closed_by = _ended_by("close", "close")
"""结案数 (a shift leader's): cases the person closed."""
closed_by_on_time = closed_by.where(_timely)
dispatched = _ended_by("dispatch", "dispatch", "redispatch")
"""派遣数: dispatches and re-dispatches (改派)."""
dispatched_on_time = dispatched.where(_timely)


def _not_returned(ctx: Ctx) -> tuple:
    """Neither of the two stages after the dispatch returned (each looked up by its key, ``(case_id, seq)``)."""
    def returned(after: int, stage: str | None = None) -> ColumnElement[bool]:
        later = aliased(StageFact)
        stmt = select(later.id).where(later.case_id == F.case_id, later.seq == F.seq + after,
                                      later.outcome == "returned")
        return exists(_since(ctx, stmt.where(later.stage == stage) if stage else stmt, later))
    return ~returned(1), ~returned(2, "dispose")


dispatched_accurate = dispatched.where(_not_returned, alone=True)
"""准确派遣数: dispatches the unit did not return (回退) — neither at signing (the stage right after the dispatch)
nor while handling it (the stage after that)."""


# --- departments (the lead unit) and regions (the case's grid) ---------------------------------------------------


def _not_paused_in_time(ctx: Ctx) -> tuple:
    """A clock standing still since before its deadline is not overdue (``sla.late_sql``)."""
    return (or_(F.paused_since.is_(None), late_sql(F.deadline, F.paused_since)),)


def _open_at_end(src: Sources, stages: tuple[str, ...], overdue: bool) -> Count:
    """Stages running at the period's end (``Ctx.cut``: begun before it, ended after it or not yet), those past
    their deadline then when ``overdue`` (``Part.due``)."""
    where, due = (_not_paused_in_time, F.deadline) if overdue else (None, None)
    return part(src.running, *stages, where=where, due=due) + part(src.ended_after, *stages, where=where, due=due)


def disposed(src: Sources) -> Count:
    """处置数: disposals reported done."""
    return _ended_by("dispose", "report_done", source=src.ended)


def closed(src: Sources) -> Count:
    """结案数: cases closed in the period (by the shift leader, or self-handled: 结案 ends the close stage, 自处理
    the file one)."""
    return part(src.ended, "close", "file", where=lambda ctx: (F.ended_by.in_(("close", "close_self_handled")),))


def close_due(src: Sources) -> Count:
    """应结案数: cases closed in the period, and the filed cases still open at its end."""
    return closed(src) + _open_at_end(src, AFTER_FILING, overdue=False)


def closed_in_time(src: Sources) -> Count:
    """按期结案数: cases closed in the period none of whose time-limited stages ended late (the closing stage's
    ``late_before``)."""
    return closed(src).where(lambda ctx: (F.late_before.is_(False),))


def overdue(src: Sources) -> Count:
    """超期数: time-limited stages that ended late in the period (``on_time`` is set for the judged stages only),
    and those running past their deadline at its end."""
    return (part(src.ended, *sorted(JUDGED), where=lambda ctx: (F.on_time.is_(False),))
            + _open_at_end(src, ("dispatch", *HANDLING, "check"), overdue=True))


def rated(src: Sources) -> Count:
    """回访数: callbacks with a satisfaction given (a department's: the case's lead unit)."""
    return part(src.events, "rate")


def satisfied(src: Sources) -> Count:
    """满意数: of those, very satisfied or satisfied."""
    return rated(src).where(lambda ctx: (E.payload["satisfaction"].as_string().in_(SATISFIED),))


assigned = part(_facts(F.lead_unit_id, lambda ctx: (in_period(F.started_at, ctx), or_(
    F.ended_at >= ctx.period.start, F.ended_at.is_(None))), at=F.started_at), "sign")
"""派遣至本单位数 (a department's 立案数): cases dispatched to the unit as lead (signing begun in the period: ended
since, or running)."""

DEPARTMENT_COUNTS: dict[str, Count] = {
    "assigned": assigned,
    "disposed": disposed(LEAD),
    "disposed_in_time": disposed(LEAD).where(lambda ctx: (F.on_time.is_(True),)),
    "dispose_due": disposed(LEAD) + _open_at_end(LEAD, HANDLING, overdue=True),
    "reworked": _ended_by("check", "check_failed", source=LEAD.ended),
    "returned": part(LEAD.ended, *HANDLING, where=lambda ctx: (F.outcome == "returned",)),
    "extended": disposed(LEAD).where(lambda ctx: (F.extensions > 0,)),
    "overdue": overdue(LEAD),
    "closed": closed(LEAD),
    "close_due": close_due(LEAD),
    "closed_in_time": closed_in_time(LEAD),
    "rated": rated(LEAD),
    "satisfied": satisfied(LEAD),
}
"""A department's counts (处置数: disposals reported done; 按期处置数: within the deadline, after approved
extensions; 应处置数: disposals done in the period and the cases waiting at its end past their deadline; 返工数:
checks failed, counted for the unit that had disposed; 回退数: cases the unit sent back to the centre; 延期数:
disposals done after one or more approved extensions)."""

REGION_COUNTS: dict[str, Count] = {
    "reported": part(REGION.events, "report"),
    "filed": part(REGION.events, "file"),
    "public_filed": part(REGION.events, "file", where=lambda ctx: (
        Case.channel.in_(ctx.settings.missed.public_channels),)),
    "closed": closed(REGION),
    "close_due": close_due(REGION),
    "closed_in_time": closed_in_time(REGION),
    "overdue": overdue(REGION),
    "rated": rated(REGION),
    "satisfied": satisfied(REGION),
}
"""A region's counts: what was reported, filed and closed in it, and how."""


def working_minutes(session: Session, stages: tuple[str, ...], by: str, ctx: Ctx, per: ColumnElement | None = None,
                    when: Callable[[ColumnElement], ColumnElement] | None = None,
                    paths: Paths | None = None) -> list[tuple]:
    """``(stage, owner, minutes)`` of every stage of ``stages`` ended in the period: the working time the mean and
    the 90th percentile are taken of. The owner as for the counts: the actor (``by`` "actor"), the lead unit
    ("lead") or the case's grid path ("path", or the area ``paths`` gives); with ``per`` and ``when`` (as in
    ``figures``) ``(stage, owner, [value,] [when,] minutes)``."""
    known = {"path": Case.area_path, "lead": F.lead_unit_id}.get(by, F.actor_id)
    who = paths(known) if by == "path" and paths is not None else known
    owners = [who] + ([] if per is None else [per]) + ([] if when is None else [when(F.ended_at)])
    stmt = select(F.stage, *owners, F.used_minutes).where(F.stage.in_(stages), in_period(F.ended_at, ctx),
                                                          F.used_minutes.is_not(None), known.is_not(None))
    if by == "path" or per is not None:
        stmt = stmt.join(Case, Case.id == F.case_id)
    result = session.connection().execute(in_sight(stmt, F.case_id, ctx))
    rows = result.cursor.fetchall()  # the driver's own tuples: a year's stages are many rows, each plain numbers
    result.close()
    return rows
