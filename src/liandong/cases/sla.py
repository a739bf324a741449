"""Deadlines (SLA): the running stage's clock and the whole case's, pauses, lights and the escalation sweep.

Each stage (dispatch, sign, dispose, check) gets its limit from the catalogue × urgency, counted in
working time on the working calendar; the whole case gets the sum at filing. Suspension (and, when
configured, a pending extension request) pauses both clocks. Lights: green below 80 % of the limit,
yellow below 100 %, red from 100 %. The sweep raises an overdue stage one level at a time (督办 up the
chain: the unit owning the stage, the level above it, the sub-centre, the command centre), again after
each further stage limit, and flags an overdue case once; each step exactly once even with several
processes on one database: a conditional UPDATE decides which process owns it. All time comes in as
``now`` (an injectable clock).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, literal, or_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from liandong.cases import log
from liandong.cases.calendar import WorkCalendar
from liandong.cases.models import Case, Notification
from liandong.cases.states import CLOSED_STATES
from liandong.catalogue.models import STAGES
from liandong.catalogue.snapshot import MatterInfo
from liandong.config import get_settings
from liandong.units.models import Unit

STAGE_OF_STATE = {"filed": "dispatch", "returned": "dispatch", "dispatched": "sign", "in_progress": "dispose",
                  "disposed": "check", "checking": "check"}
RESTARTS = frozenset({"dispatch", "redispatch", "check_failed"})
"""Actions that start their stage afresh even when the case stays in a state of the same stage."""
YELLOW, RED = 0.8, 1.0
MARGIN = 0.2
"""The share of a limit left when the light turns yellow (1 − YELLOW, written out so SQL and Python compare
the very same number)."""


def light_rules() -> str:
    """What the stored yellow moments are computed by (the margin, the working hours, the time zone): when it
    changes, ``liandong migrate`` recomputes them (``cases/upkeep.py``)."""
    s = get_settings()
    return f"yellow at {MARGIN} of the limit left; hours {s.work_hours}; {s.timezone}; day sums"


MAX_LEVEL = 3
"""How far up an overdue stage is raised: the stage's owner and the level above, the sub-centre, the centre."""


def late(deadline: dt.datetime | None, at: dt.datetime) -> bool:
    """The deadline rule: a clock whose whole limit is used up at ``at`` (red "from 100 %") is late."""
    return deadline is not None and at >= deadline


def late_sql(deadline, at) -> ColumnElement:
    """``late`` as SQL, for a deadline column (NULL: never late)."""
    return deadline <= at


def _limit(cal: WorkCalendar, matter: MatterInfo, urgency: str, stage: str) -> float:
    """The stage's limit in working minutes; one working day where the catalogue sets none."""
    amount, unit = matter.limit(urgency, stage) or (1, "day")
    return cal.minutes(amount, unit)


def pause(case: Case, cal: WorkCalendar, now: dt.datetime) -> None:
    """Stop the clocks (suspension, pending extension): keep the stage's working time left."""
    if case.paused_remaining_minutes is None:
        case.paused_remaining_minutes = _left(case.stage_deadline, cal, now)
        case.paused_at = now


MOMENT = 1 / 60
"""A second, in minutes: what a stopped clock keeps at least while its deadline is still ahead."""


def _left(deadline: dt.datetime | None, cal: WorkCalendar, now: dt.datetime) -> float:
    """Working minutes left on a stage clock stopped at ``now``: none once its deadline has passed, and at least
    a moment while it has not — a deadline that a calendar edit left with no working time before it is still
    ahead, and the stage not overdue. So "paused with nothing left" means "paused after its deadline", which
    ``overdue_sql`` relies on."""
    if deadline is None or late(deadline, now):
        return 0.0
    return max(cal.between(now, deadline), MOMENT)


def unpause(case: Case, cal: WorkCalendar, now: dt.datetime, extra: float = 0.0) -> None:
    """Start the clocks again: the stage gets its time left (plus ``extra``), the case deadline moves on by
    the working time the pause lasted (plus ``extra``). A stage paused with no time left keeps the deadline it
    missed: it stays overdue (a deadline of "now plus nothing" would turn it green until the next working
    moment, and would break what ``overdue_sql`` relies on)."""
    if case.paused_remaining_minutes is None:
        return
    if case.paused_remaining_minutes + extra > 0:
        case.stage_deadline, _ = cal.add(now, case.paused_remaining_minutes + extra)
    if case.case_deadline is not None and case.paused_at is not None:
        case.case_deadline, _ = cal.add(case.case_deadline, cal.between(case.paused_at, now) + extra)
    case.paused_remaining_minutes = case.paused_at = None
    if case.escalation_level and case.stage_limit_minutes:  # the next level waits a whole limit after the pause
        case.next_escalation_at, _ = cal.add(now, case.stage_limit_minutes)
    if extra:
        extend(case, cal, extra, now, move_deadlines=False)
    refresh_lights(case, cal, now)


def extend(case: Case, cal: WorkCalendar, extra: float, now: dt.datetime, *, move_deadlines: bool = True) -> None:
    """An approved extension: both limits grow by ``extra`` working minutes. A deadline it moves past ``now``
    may be missed (and raised) afresh; one still behind ``now`` stays as raised, not flagged twice."""
    if move_deadlines:
        if case.stage_deadline is not None:
            case.stage_deadline, _ = cal.add(case.stage_deadline, extra)
        if case.case_deadline is not None:
            case.case_deadline, _ = cal.add(case.case_deadline, extra)
    case.stage_limit_minutes = (case.stage_limit_minutes or 0) + extra
    if case.case_limit_minutes is not None:
        case.case_limit_minutes += extra
    if case.paused_remaining_minutes is not None or (case.stage_deadline and case.stage_deadline > now):
        _rearm(case)
    if case.case_deadline is not None and case.case_deadline > now:
        case.case_escalated_at = None
    refresh_lights(case, cal, now)


def _rearm(case: Case) -> None:
    case.escalated_at = case.next_escalation_at = None
    case.escalation_level = 0


def on_transition(case: Case, matter: MatterInfo, action: str, cal: WorkCalendar, now: dt.datetime) -> None:
    """Start, keep, pause or stop the clocks after ``case.state`` changed."""
    if action == "suspend":
        pause(case, cal, now)  # already paused by a pending extension: the pause simply goes on
        return
    if action == "resume":
        unpause(case, cal, now)
        return
    if action == "file":
        case.case_limit_minutes = sum(_limit(cal, matter, case.urgency, s) for s in STAGES)
        case.case_deadline, _ = cal.add(now, case.case_limit_minutes)
        case.case_escalated_at = None
        refresh_lights(case, cal, now, stage=False)  # the stage's light follows with its new stage below
    stage = STAGE_OF_STATE.get(case.state)
    if stage is None:
        case.stage = case.stage_started_at = case.stage_deadline = case.stage_limit_minutes = None
        case.stage_yellow_at = case.paused_remaining_minutes = case.paused_at = None
        return
    if stage == case.stage and action not in RESTARTS:
        return  # same stage goes on (disposed → checking)
    unpause(case, cal, now)  # a new stage's clock runs, whatever paused the last one (the case clock moves on)
    limit = _limit(cal, matter, case.urgency, stage)
    case.stage, case.stage_started_at, case.stage_limit_minutes = stage, now, limit
    case.stage_deadline, _ = cal.add(now, limit)
    _rearm(case)
    refresh_lights(case, cal, now, whole=False)  # the case clock's deadline is where it was (``unpause`` moved it)


def _yellow_at(cal: WorkCalendar, deadline: dt.datetime, limit: float, at: dt.datetime) -> dt.datetime:
    """When MARGIN of the limit is left before ``deadline``, in working time counted from ``at``."""
    left = cal.between(at, deadline)
    return cal.add(at, left - MARGIN * limit)[0] if left > MARGIN * limit else at


def refresh_lights(case: Case, cal: WorkCalendar, now: dt.datetime, *, stage: bool = True,
                   whole: bool = True) -> None:
    """Keep each clock's yellow moment beside its deadline (set whenever a deadline or a limit changes), so
    that the light is a comparison of instants that SQL can make as well as Python. ``stage`` or ``whole`` False:
    that clock's deadline and limit did not change, so neither did its yellow moment (counted anew it would be the
    same instant, or ``now`` once past it: yellow either way) — each costs two walks in the calendar."""
    stage_at, whole_at = yellow_moments(case.stage_deadline if stage else None, case.stage_limit_minutes,
                                        case.case_deadline if whole else None, case.case_limit_minutes,
                                        case.paused_at, cal, now)
    if stage_at is not None:
        case.stage_yellow_at = stage_at
    if whole_at is not None:
        case.case_yellow_at = whole_at


def yellow_moments(stage_deadline: dt.datetime | None, stage_limit: float | None, case_deadline: dt.datetime | None,
                   case_limit: float | None, paused_at: dt.datetime | None, cal: WorkCalendar,
                   now: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The yellow moments of the stage clock and the case clock (None where a clock has no deadline)."""
    stage = _yellow_at(cal, stage_deadline, stage_limit, now) if stage_deadline is not None and stage_limit else None
    at = paused_at if paused_at is not None else now  # a paused case clock stands still
    whole = _yellow_at(cal, case_deadline, case_limit, at) if case_deadline is not None and case_limit else None
    return stage, whole


# --- the lights: one definition, as a Python predicate on a case and as a SQL expression on the cases table.
# A running stage is red past its deadline and yellow from its yellow moment; a paused one by the working time
# it kept. The case clock likewise, standing still while paused. Overdue means red. Imported history (no limit
# of ours) and closed cases have no light.

def stage_light(case: Case, now: dt.datetime) -> str | None:
    if case.stage is None or not case.stage_limit_minutes:
        return None
    if case.paused_remaining_minutes is not None:
        left = case.paused_remaining_minutes
        return "red" if left <= 0 else "yellow" if left <= MARGIN * case.stage_limit_minutes else "green"
    if late(case.stage_deadline, now):
        return "red"
    return "yellow" if case.stage_yellow_at is not None and now >= case.stage_yellow_at else "green"


def stage_light_sql(now: dt.datetime) -> ColumnElement:
    left, limit = Case.paused_remaining_minutes, Case.stage_limit_minutes
    paused = left.is_not(None)
    return sql_case(
        (or_(Case.stage.is_(None), limit.is_(None), limit == 0), literal(None)),
        (and_(paused, left <= 0), "red"),
        (and_(paused, left <= MARGIN * limit), "yellow"),
        (paused, "green"),
        (late_sql(Case.stage_deadline, now), "red"),
        (Case.stage_yellow_at <= now, "yellow"),
        else_="green")


def case_light(case: Case, now: dt.datetime) -> str | None:
    if case.case_deadline is None or not case.case_limit_minutes or case.state in CLOSED_STATES:
        return None
    at = case.paused_at if case.paused_remaining_minutes is not None and case.paused_at is not None else now
    if late(case.case_deadline, at):
        return "red"
    return "yellow" if case.case_yellow_at is not None and at >= case.case_yellow_at else "green"


def case_light_sql(now: dt.datetime) -> ColumnElement:
    limit = Case.case_limit_minutes
    at = sql_case((and_(Case.paused_remaining_minutes.is_not(None), Case.paused_at.is_not(None)), Case.paused_at),
                  else_=literal(now, Case.paused_at.type))
    return sql_case(
        (or_(Case.case_deadline.is_(None), limit.is_(None), limit == 0, Case.state.in_(CLOSED_STATES)),
         literal(None)),
        (late_sql(Case.case_deadline, at), "red"),
        (Case.case_yellow_at <= at, "yellow"),
        else_="green")


def overdue(case: Case, now: dt.datetime) -> bool:
    return stage_light(case, now) == "red"


def overdue_sql(now: dt.datetime) -> ColumnElement:
    """``stage_light_sql(now) == "red"`` spelt so that the deadline's index can serve it alone: a clock paused
    with no time left was paused at or after its deadline (``_left``), so its deadline has passed too. A stage
    deadline is only ever set with its stage and a limit above nought (``on_transition``; the catalogue refuses
    a limit of 0), so the deadline alone stands for both."""
    left = Case.paused_remaining_minutes
    return and_(late_sql(Case.stage_deadline, now), or_(left.is_(None), left <= 0))


def status(case: Case, cal: WorkCalendar, now: dt.datetime) -> dict:
    """The running stage, its deadline, the share of its limit used and the light; the same for the case."""
    light, whole = stage_light(case, now), case_light(case, now)
    out: dict = {"stage": case.stage, "stage_deadline": None, "light": light, "used": None, "paused": False,
                 "overdue": light == "red", "escalations": case.escalation_count, "level": case.escalation_level,
                 "case_deadline": case.case_deadline.isoformat() if case.case_deadline else None,
                 "case_light": whole, "case_used": None, "case_overdue": whole == "red", "warning": None}
    paused = case.paused_remaining_minutes is not None
    if whole is not None:
        at = case.paused_at if paused and case.paused_at else now
        left = cal.between(at, case.case_deadline) if at < case.case_deadline else -cal.between(case.case_deadline, at)
        out["case_used"] = round(1 - left / case.case_limit_minutes, 4)
    if light is None:
        return out
    if paused:
        left = case.paused_remaining_minutes
        out["paused"] = True
    else:
        left = cal.between(now, case.stage_deadline) if now < case.stage_deadline else -cal.between(
            case.stage_deadline, now)
        out["stage_deadline"] = case.stage_deadline.isoformat()
    out["used"] = round(1 - left / case.stage_limit_minutes, 4)
    last = max(d for d in (now, case.stage_deadline, case.case_deadline) if d is not None)
    years = {y for y in range(now.year, last.year + 1) if y not in cal.years}
    if years:
        out["warning"] = (f"no holiday calendar for {', '.join(map(str, sorted(years)))}: the deadline counts "
                          "weekends only; enter that year's holidays")
    return out


def due_sql(now: dt.datetime) -> ColumnElement[bool]:
    """The stages the sweep raises at ``now``: overdue and not paused, below the top level, and due again (at the
    deadline, a raised one at its next escalation moment), in an open case. ``/metrics`` reads its lag from it."""
    return and_(overdue_sql(now), Case.paused_remaining_minutes.is_(None), Case.escalation_level < MAX_LEVEL,
                or_(Case.next_escalation_at.is_(None), Case.next_escalation_at <= now),
                Case.state.not_in(CLOSED_STATES))


def sweep(session: Session, now: dt.datetime, cal: WorkCalendar | None = None, limit: int = 500) -> list[int]:
    """Raise overdue stages one level (each level once) and flag overdue cases (once), with an event and
    notices to the units concerned. Returns the ids of the cases whose stage this call raised.

    Safe with several processes: each step is claimed by a conditional UPDATE on the level it saw, so
    exactly one process takes it. The caller commits.
    """
    if cal is None:
        from liandong.cases.calendar import calendar_for

        cal = calendar_for(session)
    due = session.execute(select(Case.id, Case.escalation_level).where(due_sql(now))
                          .order_by(Case.stage_deadline).limit(limit)).all()
    mine = []
    for case_id, level in due:
        claimed = session.execute(
            update(Case)
            .where(Case.id == case_id, Case.escalation_level == level, overdue_sql(now),
                   Case.paused_remaining_minutes.is_(None))
            .values(escalated_at=now, escalation_level=level + 1, escalation_count=Case.escalation_count + 1,
                    version=Case.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            continue  # another process got there first, or the stage moved on
        case = session.get(Case, case_id)
        session.refresh(case)
        case.next_escalation_at, _ = cal.add(now, case.stage_limit_minutes or cal.day_minutes)
        log.append(session, case_id, "escalate", case.state, case.state,
                   {"stage": case.stage, "deadline": case.stage_deadline.isoformat(),
                    "level": case.escalation_level}, now)
        for unit_id in recipients(session, case, case.escalation_level):
            session.add(Notification(unit_id=unit_id, case_id=case_id, kind="overdue", created_at=now,
                                     details={"stage": case.stage, "level": case.escalation_level}))
        mine.append(case_id)
    _sweep_cases(session, now, limit)
    session.flush()
    return mine


def _sweep_cases(session: Session, now: dt.datetime, limit: int) -> None:
    """A case past its whole deadline: one ``case_overdue`` event and a notice to the centre and its town."""
    due = list(session.scalars(select(Case.id).where(  # only clocks started here (not imported history)
        late_sql(Case.case_deadline, now), Case.case_limit_minutes.is_not(None), Case.case_escalated_at.is_(None),
        Case.paused_remaining_minutes.is_(None),
        Case.state.not_in(CLOSED_STATES)).order_by(Case.case_deadline).limit(limit)))
    for case_id in due:
        claimed = session.execute(
            update(Case).where(Case.id == case_id, Case.case_escalated_at.is_(None), late_sql(Case.case_deadline, now))
            .values(case_escalated_at=now, version=Case.version + 1)
            .execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            continue
        case = session.get(Case, case_id)
        session.refresh(case)
        log.append(session, case_id, "case_overdue", case.state, case.state,
                   {"case_deadline": case.case_deadline.isoformat()}, now)
        for unit_id in _territorial(session, case):
            session.add(Notification(unit_id=unit_id, case_id=case_id, kind="case_overdue", created_at=now,
                                     details={"case_deadline": case.case_deadline.isoformat()}))


def chain(session: Session, case: Case) -> list[int]:
    """The units an overdue stage goes up through: the lead and its head (while a unit holds the stage),
    then the town's sub-centre, then the command centre."""
    units: list[int] = []
    if case.lead_unit_id and case.stage in ("sign", "dispose"):
        lead = session.get(Unit, case.lead_unit_id)
        units += [u for u in (lead.id, lead.parent_id) if u]
    for u in _territorial(session, case):
        if u not in units:
            units.append(u)
    return units


def recipients(session: Session, case: Case, level: int = 1) -> list[int]:
    """Who is told at ``level``: level 1 the stage's owner and the level above; each further level one up."""
    units = chain(session, case)
    start = min(level - 1, max(0, len(units) - 2))
    return units[start:start + 2]


def _territorial(session: Session, case: Case) -> list[int]:
    """The sub-centre(s) of the case's town, then the command centre."""
    from liandong.areas.models import Area

    town_path = "/".join(case.area_path.split("/")[:3]) + "/"
    town = session.scalar(select(Area.id).where(Area.path == town_path))
    units = list(session.scalars(select(Unit.id).where(Unit.area_id == town, Unit.kind == "sub_centre")))
    centre = session.scalar(select(Unit.id).where(Unit.kind == "centre").order_by(Unit.id).limit(1))
    return [*units, *([centre] if centre else [])]
