"""Every count the assessment reads, each one SQL definition: a select of ``(obj, case_id)`` rows, one row per
thing counted (a case dispatched twice in the period is two dispatches). The figure is the rows' number per object
(``GROUP BY obj``); its drill-down is the same rows for one object, so the list always adds up to the figure.

Counts come from the event log (``case_events``) and the stage facts (``case_stage_facts``), never from a counter
kept on the side; the case row is read only for what does not change (channel, place, matter). Who a row counts
for (``obj``) depends on the object assessed:

- a person (inspector, receptionist, shift leader, dispatcher): the user whose action it was — the event's actor,
  or the actor who ended the stage;
- a department: the case's lead unit while the stage ran (the fact's ``lead_unit_id``);
- a region (town, community): the area holding the case's unit grid.

A stage is *timely* when it ended within its deadline (派遣, 签收, 处置, 核查: the facts' ``on_time``) or, for the
stages without a deadline of their own (受理, 核实, 立案 / 核实派发, 核查派发, 结案), within the working minutes of
``settings.yaml`` (``limits_minutes``). Pauses (挂账, a pending extension) are not working time; an approved
extension moved the deadline the fact was judged by.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from liandong.areas.models import Area
from liandong.assessment.period import Period
from liandong.assessment.settings import Settings
from liandong.auth.models import User, UserRole
from liandong.cases.facts import JUDGED
from liandong.cases.models import Case, CaseEvent, StageFact
from liandong.cases.sla import late_sql
from liandong.catalogue.models import Matter
from liandong.units.models import Unit

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

    @property
    def cut(self) -> dt.datetime:
        """Where the period's "at its end" lies: its end, or now if that comes first."""
        return min(self.period.end, self.now) if self.now is not None else self.period.end


Rows = Select
"""A select of (obj, case_id)."""
Count = Callable[[Ctx], Rows]


def in_period(column, ctx: Ctx) -> ColumnElement[bool]:
    return and_(column >= ctx.period.start, column < ctx.period.end)


def in_sight(stmt: Select, case_id, ctx: Ctx) -> Select:
    """Only the cases in the caller's jurisdiction (the case rule's area condition)."""
    if ctx.path is None:
        return stmt
    return stmt.where(case_id.in_(select(Case.id).where(Case.area_path.startswith(ctx.path, autoescape=True))))


def _timely(ctx: Ctx, fact=F) -> ColumnElement[bool]:
    """Ended within its deadline, or within the settings' working minutes where the stage has no deadline."""
    limits = ctx.settings.limits_minutes
    return or_(and_(fact.stage.in_(JUDGED), fact.on_time.is_(True)),
               *[and_(fact.stage == stage, fact.used_minutes <= minutes) for stage, minutes in limits.items()])


# --- people: the actor -------------------------------------------------------------------------------------------


def _events(ctx: Ctx, *actions: str) -> Rows:
    stmt = select(E.actor_id.label("obj"), E.case_id.label("case_id")).where(
        E.action.in_(actions), in_period(E.at, ctx), E.actor_id.is_not(None))
    return in_sight(stmt, E.case_id, ctx)


def events(ctx: Ctx, *actions: str) -> Rows:
    """Every event of ``actions`` in the period, whoever acted (the district's totals)."""
    stmt = select(literal(0).label("obj"), E.case_id.label("case_id")).where(E.action.in_(actions),
                                                                             in_period(E.at, ctx))
    return in_sight(stmt, E.case_id, ctx)


def _ended(ctx: Ctx, stage: str, ended_by: tuple[str, ...], obj=None, *more) -> Rows:
    """Stages ``stage`` ended in the period by one of ``ended_by``, counted for ``obj`` (default: the actor)."""
    obj = F.actor_id if obj is None else obj
    stmt = select(obj.label("obj"), F.case_id.label("case_id")).where(
        F.stage == stage, F.ended_by.in_(ended_by), in_period(F.ended_at, ctx), obj.is_not(None), *more)
    return in_sight(stmt, F.case_id, ctx)


def reported(ctx: Ctx) -> Rows:
    """上报数: reports the person made as a grid worker (the grid worker's channel; a receptionist entering a
    hotline call is not reporting a problem of their own)."""
    return _events(ctx, "report").where(E.case_id.in_(select(Case.id).where(Case.channel == "grid_worker")))


def _since(ctx: Ctx, stmt: Select, fact=F) -> Select:
    """Only the facts that ended in the period or after it: for a stage that begins at or after a moment in the
    period, that is no condition at all (the projection keeps a case's stages in time order, ``facts.fold``), and
    saying so spares every earlier month's partition (PostgreSQL, migration 0031)."""
    return stmt.where(fact.ended_at >= ctx.period.start)


def valid(ctx: Ctx) -> Rows:
    """有效上报数: of those, the ones the centre accepted (受理: the acceptance ends the stage the report began)."""
    acceptance = aliased(StageFact)
    return reported(ctx).where(E.case_id.in_(_since(ctx, select(acceptance.case_id).where(
        acceptance.stage == "accept", acceptance.ended_by == "accept"), acceptance)))


def verify_due(ctx: Ctx) -> Rows:
    """应核实数: verifications (核实) the person carried out."""
    return _ended(ctx, "verify", ("verified",))


def verify_on_time(ctx: Ctx) -> Rows:
    return verify_due(ctx).where(_timely(ctx))


def check_due(ctx: Ctx) -> Rows:
    """应核查数: checks (核查) the person carried out, passed or failed."""
    return _ended(ctx, "check", ("check_passed", "check_failed"))


def check_on_time(ctx: Ctx) -> Rows:
    return check_due(ctx).where(_timely(ctx))


def _inspectors_areas() -> Select:
    """Each inspector with the path of their unit's area (their patrol jurisdiction)."""
    return (select(User.id.label("user_id"), Area.path.label("path"))
            .join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == "inspector"))
            .join(Unit, Unit.id == User.unit_id).join(Area, Area.id == Unit.area_id))


def area_filed(ctx: Ctx) -> Rows:
    """辖区立案数: cases filed in the period inside the inspector's jurisdiction."""
    mine = _inspectors_areas().subquery()
    stmt = (select(mine.c.user_id.label("obj"), E.case_id.label("case_id"))
            .join(Case, Case.id == E.case_id)
            .join(mine, Case.area_path.startswith(mine.c.path))
            .where(E.action == "file", in_period(E.at, ctx)))
    return in_sight(stmt, E.case_id, ctx)


def missed(ctx: Ctx) -> Rows:
    """漏报数 (settings ``missed``): of those, the ones first reported by the public — no grid worker's report made
    before them merged into them — of a matter not excluded."""
    rule = ctx.settings.missed
    merged = aliased(Case)
    found_first = select(merged.id).where(  # a grid worker who reported it first found it
        merged.master_id == Case.id, merged.channel == "grid_worker", merged.created_at <= Case.created_at)
    stmt = area_filed(ctx).where(Case.channel.in_(rule.public_channels), ~exists(found_first))
    if rule.excluded_majors:
        stmt = stmt.where(Case.matter_id.not_in(select(Matter.id).where(Matter.major_code.in_(rule.excluded_majors))))
    return stmt


def accepted(ctx: Ctx) -> Rows:
    """受理数: reports accepted."""
    return _events(ctx, "accept")


def rejected(ctx: Ctx) -> Rows:
    """不予受理数: reports rejected."""
    return _events(ctx, "reject")


def verify_dispatched(ctx: Ctx) -> Rows:
    """核实派发数: accepted reports sent out to be verified."""
    return _ended(ctx, "file", ("request_verify",))


def verify_dispatched_on_time(ctx: Ctx) -> Rows:
    return verify_dispatched(ctx).where(_timely(ctx))


def check_dispatched(ctx: Ctx) -> Rows:
    """核查派发数: disposals reported done sent out to be checked."""
    return _ended(ctx, "await_check", ("request_check",))


def check_dispatched_on_time(ctx: Ctx) -> Rows:
    return check_dispatched(ctx).where(_timely(ctx))


def filed(ctx: Ctx) -> Rows:
    """立案数 (a shift leader's): cases the person filed."""
    return _ended(ctx, "file", ("file",))


def filed_on_time(ctx: Ctx) -> Rows:
    return filed(ctx).where(_timely(ctx))


def filed_accurate(ctx: Ctx) -> Rows:
    """准确立案数 = 立案数 − 作废数: filed cases never voided since (a void ends the stage the case is in)."""
    voided = aliased(StageFact)
    return filed(ctx).where(~exists(_since(ctx, select(voided.id).where(
        voided.case_id == F.case_id, voided.outcome == "voided"), voided)))


def closed_by(ctx: Ctx) -> Rows:
    """结案数 (a shift leader's): cases the person closed."""
    return _ended(ctx, "close", ("close",))


def closed_by_on_time(ctx: Ctx) -> Rows:
    return closed_by(ctx).where(_timely(ctx))


def dispatched(ctx: Ctx) -> Rows:
    """派遣数: dispatches and re-dispatches (改派)."""
    return _ended(ctx, "dispatch", ("dispatch", "redispatch"))


def dispatched_on_time(ctx: Ctx) -> Rows:
    return dispatched(ctx).where(_timely(ctx))


def dispatched_accurate(ctx: Ctx) -> Rows:
    """准确派遣数: dispatches the unit did not return (回退) — neither at signing (the stage right after the
    dispatch) nor while handling it (the stage after that)."""
    later = aliased(StageFact)
    returned = exists(_since(ctx, select(later.id).where(
        later.case_id == F.case_id, later.outcome == "returned",
        or_(later.seq == F.seq + 1, and_(later.seq == F.seq + 2, later.stage == "dispose"))), later))
    return dispatched(ctx).where(~returned)


# --- departments: the lead unit ----------------------------------------------------------------------------------


def assigned(ctx: Ctx) -> Rows:
    """派遣至本单位数 (a department's 立案数): cases dispatched to the unit as lead (signing begun in the period:
    ended since, or running)."""
    stmt = select(F.lead_unit_id.label("obj"), F.case_id.label("case_id")).where(
        F.stage == "sign", in_period(F.started_at, ctx), F.lead_unit_id.is_not(None),
        or_(F.ended_at >= ctx.period.start, F.ended_at.is_(None)))
    return in_sight(stmt, F.case_id, ctx)


def disposed(ctx: Ctx) -> Rows:
    """处置数: disposals reported done."""
    return _ended(ctx, "dispose", ("report_done",), F.lead_unit_id)


def disposed_in_time(ctx: Ctx) -> Rows:
    """按期处置数: of those, within the deadline (after approved extensions)."""
    return disposed(ctx).where(F.on_time.is_(True))


def _open_at_end(ctx: Ctx, stages: tuple[str, ...], obj, overdue: bool) -> list[Rows]:
    """Stages running at the period's end (``Ctx.cut``: begun before it, ended after it or not yet), those past
    their deadline then when ``overdue``."""
    end = ctx.cut

    def running(still) -> Rows:  # two selects, each on the index by end: still running, or ended after the cut
        stmt = select(obj.label("obj"), F.case_id.label("case_id")).where(
            still, F.stage.in_(stages), F.started_at < end, obj.is_not(None))
        if overdue:  # the deadline rule (sla.late_sql); a clock standing still since before its deadline is not late
            stmt = stmt.where(late_sql(F.deadline, end),
                              or_(F.paused_since.is_(None), late_sql(F.deadline, F.paused_since)))
        return in_sight(stmt, F.case_id, ctx)
    return [running(F.ended_at.is_(None)), running(F.ended_at >= end)]


def dispose_due(ctx: Ctx) -> Rows:
    """应处置数: disposals done in the period, and the cases still waiting at its end past their deadline."""
    return union_all(disposed(ctx), *_open_at_end(ctx, HANDLING, F.lead_unit_id, overdue=True))


def reworked(ctx: Ctx) -> Rows:
    """返工数: checks failed (返工), counted for the unit that had disposed."""
    return _ended(ctx, "check", ("check_failed",), F.lead_unit_id)


def returned(ctx: Ctx) -> Rows:
    """回退数: cases the unit sent back to the centre."""
    stmt = select(F.lead_unit_id.label("obj"), F.case_id.label("case_id")).where(
        F.stage.in_(HANDLING), F.outcome == "returned", in_period(F.ended_at, ctx), F.lead_unit_id.is_not(None))
    return in_sight(stmt, F.case_id, ctx)


def extended(ctx: Ctx) -> Rows:
    """延期数: disposals done in the period after one or more approved extensions."""
    return disposed(ctx).where(F.extensions > 0)


def overdue(ctx: Ctx, obj=None) -> Rows:
    """超期数: time-limited stages that ended late in the period, and those running past their deadline at its
    end."""
    obj = F.lead_unit_id if obj is None else obj
    late = select(obj.label("obj"), F.case_id.label("case_id")).where(
        F.on_time.is_(False), in_period(F.ended_at, ctx), obj.is_not(None))
    return union_all(in_sight(late, F.case_id, ctx), *_open_at_end(ctx, ("dispatch", *HANDLING, "check"), obj,
                                                                   overdue=True))


def closed(ctx: Ctx, obj=None) -> Rows:
    """结案数: cases closed in the period (by the shift leader, or self-handled)."""
    obj = F.lead_unit_id if obj is None else obj
    stmt = select(obj.label("obj"), F.case_id.label("case_id")).where(  # 结案 ends the close stage, 自处理 the file one
        F.stage.in_(("close", "file")), F.ended_by.in_(("close", "close_self_handled")), in_period(F.ended_at, ctx),
        obj.is_not(None))
    return in_sight(stmt, F.case_id, ctx)


def close_due(ctx: Ctx, obj=None) -> Rows:
    """应结案数: cases closed in the period, and the filed cases still open at its end."""
    obj = F.lead_unit_id if obj is None else obj
    return union_all(closed(ctx, obj), *_open_at_end(ctx, AFTER_FILING, obj, overdue=False))


def closed_in_time(ctx: Ctx, obj=None) -> Rows:
    """按期结案数: cases closed in the period none of whose time-limited stages ended late (the closing stage's
    ``late_before``)."""
    return closed(ctx, obj).where(F.late_before.is_(False))


def rated(ctx: Ctx, obj=None) -> Rows:
    """回访数: callbacks with a satisfaction given, counted for the case's lead unit."""
    obj = Case.lead_unit_id if obj is None else obj
    stmt = (select(obj.label("obj"), E.case_id.label("case_id")).join(Case, Case.id == E.case_id)
            .where(E.action == "rate", in_period(E.at, ctx), obj.is_not(None)))
    return in_sight(stmt, E.case_id, ctx)


def satisfied(ctx: Ctx, obj=None) -> Rows:
    """满意数: of those, very satisfied or satisfied."""
    return rated(ctx, obj).where(E.payload["satisfaction"].as_string().in_(SATISFIED))


# --- regions: the area holding the grid --------------------------------------------------------------------------
# A region's rows count for the case's grid path (``Case.area_path``: ``/district/town/community/grid/``, each an
# area id); the service folds them onto the towns or communities (``service._grouped``), and its drill-down keeps
# the rows under the area's path. Grouping by a column of the case is far cheaper than finding each case's area.


def _by_case_region(rows: Callable[[Ctx, object], Rows]) -> Count:
    """A lead-unit count re-attributed to regions: the same rows, counted for the case's grid path."""
    def count(ctx: Ctx) -> Rows:
        inner = rows(ctx, literal(0)).subquery()
        return (select(Case.area_path.label("obj"), inner.c.case_id.label("case_id"))
                .join(Case, Case.id == inner.c.case_id))
    return count


def region_events(*actions: str, where: Callable[[Ctx], list] | None = None) -> Count:
    def count(ctx: Ctx) -> Rows:
        stmt = (select(Case.area_path.label("obj"), E.case_id.label("case_id")).join(Case, Case.id == E.case_id)
                .where(E.action.in_(actions), in_period(E.at, ctx), *(where(ctx) if where else ())))
        return in_sight(stmt, E.case_id, ctx)
    return count


REGION_COUNTS: dict[str, Count] = {
    "reported": region_events("report"),
    "filed": region_events("file"),
    "public_filed": region_events("file", where=lambda ctx: [Case.channel.in_(ctx.settings.missed.public_channels)]),
    "closed": _by_case_region(closed),
    "close_due": _by_case_region(close_due),
    "closed_in_time": _by_case_region(closed_in_time),
    "overdue": _by_case_region(overdue),
    "rated": _by_case_region(rated),
    "satisfied": _by_case_region(satisfied),
}
"""A region's counts: what was reported, filed and closed in it, and how."""
