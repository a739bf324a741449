"""Deadlines (SLA): the running stage's clock, pauses, traffic lights and the escalation sweep.

Each stage (dispatch, sign, dispose, check) gets its limit from the catalogue × urgency, counted in
working time on the working calendar. Suspension pauses the clock. Lights: green below 80 % of the
limit, yellow below 100 %, red from 100 %. The sweep escalates every overdue stage exactly once, even
with several processes on one database: a conditional UPDATE decides which process owns each case.
All time comes in as ``now`` (an injectable clock).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from liandong.cases import log
from liandong.cases.calendar import WorkCalendar
from liandong.cases.models import Case, Notification
from liandong.cases.states import CLOSED_STATES
from liandong.catalogue.models import STAGES
from liandong.catalogue.snapshot import MatterInfo
from liandong.units.models import Unit

STAGE_OF_STATE = {"filed": "dispatch", "returned": "dispatch", "dispatched": "sign", "in_progress": "dispose",
                  "disposed": "check", "checking": "check"}
YELLOW, RED = 0.8, 1.0


def _limit(cal: WorkCalendar, matter: MatterInfo, urgency: str, stage: str) -> float:
    """The stage's limit in working minutes; one working day where the catalogue sets none."""
    amount, unit = matter.limit(urgency, stage) or (1, "day")
    return cal.minutes(amount, unit)


def on_transition(case: Case, matter: MatterInfo, action: str, cal: WorkCalendar, now: dt.datetime) -> None:
    """Start, keep, pause or stop the stage clock after ``case.state`` changed."""
    if action == "suspend":
        if case.paused_remaining_minutes is None:  # not already paused by a pending extension
            left = max(0.0, cal.between(now, case.stage_deadline)) if case.stage_deadline else 0.0
            case.paused_remaining_minutes = left
        return
    if action == "resume" and case.paused_remaining_minutes is not None:
        case.stage_deadline, _ = cal.add(now, case.paused_remaining_minutes)
        case.paused_remaining_minutes = None
        return
    if action == "file":
        total = sum(_limit(cal, matter, case.urgency, s) for s in STAGES)
        case.case_deadline, _ = cal.add(now, total)
    stage = STAGE_OF_STATE.get(case.state)
    if stage is None:
        case.stage = case.stage_started_at = case.stage_deadline = case.stage_limit_minutes = None
        case.paused_remaining_minutes = None
        return
    if stage == case.stage and action not in ("check_failed", "redispatch", "dispatch"):
        return  # same stage goes on (disposed → checking)
    limit = _limit(cal, matter, case.urgency, stage)
    case.stage, case.stage_started_at, case.stage_limit_minutes = stage, now, limit
    case.stage_deadline, _ = cal.add(now, limit)
    case.escalated_at = None
    case.paused_remaining_minutes = None  # a new stage's clock runs, whatever paused the last one


def status(case: Case, cal: WorkCalendar, now: dt.datetime) -> dict:
    """The running stage, its deadline, the share of its limit used and the light."""
    out: dict = {"stage": case.stage, "stage_deadline": None, "light": None, "used": None, "paused": False,
                 "overdue": False, "escalations": case.escalation_count,
                 "case_deadline": case.case_deadline.isoformat() if case.case_deadline else None, "warning": None}
    if case.stage is None or not case.stage_limit_minutes:
        return out
    if case.paused_remaining_minutes is not None:
        left = case.paused_remaining_minutes
        out["paused"] = True
    else:
        left = cal.between(now, case.stage_deadline) if now < case.stage_deadline else -cal.between(
            case.stage_deadline, now)
        out["stage_deadline"] = case.stage_deadline.isoformat()
    used = 1 - left / case.stage_limit_minutes
    out["used"] = round(used, 4)
    out["light"] = "red" if used >= RED else "yellow" if used >= YELLOW else "green"
    out["overdue"] = used >= RED
    years = {y for y in range(now.year, (case.stage_deadline or now).year + 1) if y not in cal.years}
    if years:
        out["warning"] = (f"no holiday calendar for {', '.join(map(str, sorted(years)))}: the deadline counts "
                          "weekends only; enter that year's holidays")
    return out


def sweep(session: Session, now: dt.datetime, limit: int = 500) -> list[int]:
    """Escalate overdue stages: mark each once, append an ``escalate`` event and notify the units.

    Safe with several processes: each case is claimed by a conditional UPDATE, so exactly one process
    escalates it. Returns the ids escalated by this call. The caller commits.
    """
    due = list(session.scalars(
        select(Case.id).where(Case.stage_deadline < now, Case.escalated_at.is_(None),
                              Case.paused_remaining_minutes.is_(None), Case.state.not_in(CLOSED_STATES))
        .order_by(Case.stage_deadline).limit(limit)))
    mine = []
    for case_id in due:
        claimed = session.execute(
            update(Case)
            .where(Case.id == case_id, Case.escalated_at.is_(None), Case.stage_deadline < now)
            .values(escalated_at=now, escalation_count=Case.escalation_count + 1, version=Case.version + 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            continue  # another process got there first, or the stage moved on
        case = session.get(Case, case_id)
        session.refresh(case)
        log.append(session, case_id, "escalate", case.state, case.state,
                   {"stage": case.stage, "deadline": case.stage_deadline.isoformat(),
                    "level": case.escalation_count}, now)
        for unit_id in recipients(session, case):
            session.add(Notification(unit_id=unit_id, case_id=case_id, kind="overdue", created_at=now,
                                     message=f"案件 {case.number} 的{_STAGE_ZH[case.stage]}环节已超时，请督办 "
                                             f"(case {case.number}: {case.stage} stage overdue)"))
        mine.append(case_id)
    session.flush()
    return mine


_STAGE_ZH = {"dispatch": "派遣", "sign": "签收", "dispose": "处置", "check": "核查"}


def recipients(session: Session, case: Case) -> list[int]:
    """The unit that owns the stage and the level above it (督办 goes up one level)."""
    from liandong.areas.models import Area

    if case.lead_unit_id and case.stage in ("sign", "dispose"):
        lead = session.get(Unit, case.lead_unit_id)
        return [u for u in (lead.id, lead.parent_id) if u]
    town_path = "/".join(case.area_path.split("/")[:3]) + "/"
    town = session.scalar(select(Area.id).where(Area.path == town_path))
    units = list(session.scalars(select(Unit.id).where(Unit.area_id == town, Unit.kind == "sub_centre")))
    centre = session.scalar(select(Unit.id).where(Unit.kind == "centre").order_by(Unit.id).limit(1))
    return [*units, *([centre] if centre else [])]
