"""Acting on a case: every action through the transition table, its event appended, the version kept honest.

The service changes a case and appends its event in the caller's transaction and never commits; the
case row carries an optimistic version, so of two concurrent actions on one case exactly one wins and
the other gets a Conflict (HTTP 409).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import log, queries, routing, sla, states
from liandong.cases.calendar import WorkCalendar, calendar_for
from liandong.cases.models import Case, CaseUnit, Extension
from liandong.catalogue import snapshot
from liandong.config import get_settings
from liandong.db import utcnow
from liandong.errors import Conflict, Forbidden, Invalid
from liandong.units.models import Unit


class StaleCase(Conflict):
    pass


def act(session: Session, index: GridIndex, case_id: int, action: str, actor: Identity, payload: dict | None = None,
        now: dt.datetime | None = None, calendar: WorkCalendar | None = None) -> Case:
    """Apply ``action`` through the transition table, append its event, keep the version honest."""
    try:
        return _act(session, index, case_id, action, actor, payload, now or utcnow(),
                    calendar or calendar_for(session))
    except StaleDataError:  # another transaction moved the version on; the caller rolls back
        raise _stale_for(session, case_id) from None


def _stale_for(session: Session, case_id: int) -> Conflict:
    err = StaleCase("the case was changed by someone else meanwhile; reload it and try again")
    session.rollback()
    state = session.scalar(select(Case.state).where(Case.id == case_id))
    err.extra = {"allowed_actions": states.allowed_actions(state) if state else [], "state": state, "stale": True}
    return err


def _act(session: Session, index: GridIndex, case_id: int, action: str, actor: Identity, payload: dict | None,
         now: dt.datetime, calendar: WorkCalendar) -> Case:
    payload = dict(payload or {})
    case = queries.get(session, case_id, actor)
    expected = payload.pop("version", None)
    allowed = states.allowed_actions(case.state, set(actor.roles))
    if expected is not None and expected != case.version:
        raise _stale(case, allowed_for(session, case, actor, allowed))
    mine = _unit_part(session, case, action, actor)
    if mine is not None and mine.role == "assist":  # an assisting unit's own part; the case state stays
        _require(action, payload)
        mine.status, mine.updated_at = states.UNIT_STEPS[(mine.status, action)], now
        case.updated_at = now  # bumps the version: the part takes part in optimistic concurrency
        log.record(session, case, actor, action, case.state, case.state,
               {"as": "assist", "unit_status": mine.status, **_notes(payload)}, now)
        session.flush()
        return case
    t = states.transition(case.state, action) or (
        states.STAGE_ACTIONS.get(action) if action in states.allowed_actions(case.state) else None)
    if t is None:
        err = Conflict(f"action {action!r} is not allowed in state {case.state!r}")
        err.extra = {"allowed_actions": allowed_for(session, case, actor, allowed), "state": case.state}
        raise err
    if not (t.roles & actor.roles):
        raise Forbidden(f"{action!r} needs one of the roles: {', '.join(sorted(t.roles))}")
    _require(action, payload)
    if action in states.STAGE_ACTIONS:
        _stage_event(session, case, action, actor, payload, now, calendar)
        session.flush()
        return case
    from_state, to_state = case.state, t.to
    record = {k: v for k, v in payload.items() if k in ("note", "reason", "satisfaction", "master_id",
                                                          "lead_unit_id", "assisting_unit_ids")}
    if mine is not None:  # the lead's step moves the case
        if action == "report_done":
            busy = _busy_assistants(session, case)
            if busy:
                raise Conflict(f"assisting units {busy} have not finished their part; the lead reports the "
                               "case done after them")
        mine.status, mine.updated_at = states.UNIT_STEPS[(mine.status, action)], now
    if action == "resume":
        lead = next((cu for cu in queries.units_of(session, case)
                     if cu.role == "lead" and cu.status != "withdrawn"), None)
        to_state = states.resume_to(lead.status if lead else None)
    if action in ("dispatch", "redispatch"):
        record.update(_dispatch(session, index, case, payload, now))
    elif action == "check_failed":
        case.rework_count += 1
        for cu in queries.units_of(session, case):
            if cu.status not in ("withdrawn", "returned"):  # a part handed back stays handed back
                cu.status, cu.updated_at = "dispatched", now
    elif action == "rate":
        if payload["satisfaction"] not in states.SATISFACTION:
            raise Invalid(f"satisfaction must be one of {', '.join(states.SATISFACTION)}")
        case.satisfaction = payload["satisfaction"]
    elif action == "merge":
        master = _master(session, case, payload["master_id"], actor)
        case.master_id = master.id
        # cases merged into this one follow the new master too: every reporter keeps a live case to follow
        moved = session.execute(update(Case).where(Case.master_id == case.id)
                                .values(master_id=master.id, version=Case.version + 1)
                                .execution_options(synchronize_session="fetch")).rowcount
        if moved:
            record["followers_moved"] = moved
    if to_state == "closed" and from_state != "closed":
        case.closed_at = now
    case.state = to_state
    case.updated_at = now
    if to_state != from_state and action not in ("suspend", "resume"):
        # the stage an extension was asked for is over: the request lapses rather than freezing the next one
        session.execute(update(Extension).where(Extension.case_id == case.id, Extension.status == "pending")
                        .values(status="lapsed", decided_by=actor.name, decided_at=now))
    held = action == "resume" and get_settings().pause_on_extension and session.scalar(
        select(Extension.id).where(Extension.case_id == case.id, Extension.status == "pending")) is not None
    # (resuming while an extension request waits: the clocks stay paused until it is decided)
    if not held and (to_state != from_state or action in ("check_failed", "redispatch")):
        sla.on_transition(case, snapshot.current(session).by_id[case.matter_id], action, calendar, now)
        if case.stage_deadline is not None and to_state != from_state:
            record["stage_deadline"] = case.stage_deadline.isoformat()
    log.record(session, case, actor, action, from_state, to_state, record, now)
    session.flush()
    return case


def _busy_assistants(session: Session, case: Case) -> list[int]:
    """Assisting units still working on their part (the lead's report waits for them)."""
    return [cu.unit_id for cu in queries.units_of(session, case)
            if cu.role == "assist" and cu.status in ("dispatched", "signed")]


def _require(action: str, payload: dict) -> None:
    for key in states.NEEDS.get(action, ()):
        if payload.get(key) in (None, ""):
            raise Invalid(f"{action!r} needs '{key}'")
    _notes(payload)


def _notes(payload: dict) -> dict:
    """The free-text note or reason of an action, checked (every action may carry one)."""
    note = payload.get("note") or payload.get("reason")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise Invalid("note and reason must be text of at most 2000 characters")
    return {k: payload[k] for k in ("note", "reason") if payload.get(k)}


def _unit_part(session: Session, case: Case, action: str, actor: Identity) -> CaseUnit | None:
    """The actor's unit's assignment when ``action`` is a step of its own part of a case being handled
    (sign, return, report done); None for every other action. Refuses a step the part cannot take."""
    if action not in {a for _, a in states.UNIT_STEPS} or case.state not in states.HANDLING_STATES:
        return None
    if "handler" not in actor.roles:
        raise Forbidden(f"{action!r} needs one of the roles: handler")
    mine = _assignment(session, case, actor)
    steps = states.unit_actions(mine.status, case.state)
    if action not in steps:
        err = Conflict(f"your unit's part of this case is {mine.status!r}: {action!r} is not possible now")
        err.extra = {"allowed_actions": steps, "state": case.state, "unit_status": mine.status}
        raise err
    return mine


def _stage_event(session: Session, case: Case, action: str, actor: Identity, payload: dict, now: dt.datetime,
                 calendar: WorkCalendar) -> None:
    """Extension requests and decisions, and urging (督办): events on the running stage."""
    pending = session.scalar(select(Extension).where(Extension.case_id == case.id, Extension.status == "pending"))
    record: dict = {"stage": case.stage}
    if action == "request_extension":
        if _assignment(session, case, actor).role != "lead":
            raise Forbidden("only the lead unit asks for more time on the case's stage")
        amount, unit, reason = payload["amount"], payload["unit"], payload["reason"]
        if not isinstance(amount, int | float) or isinstance(amount, bool) or not 0 < amount <= 365:
            raise Invalid("amount must be a number above 0 and at most 365")
        if unit not in ("hour", "day") or not isinstance(reason, str) or len(reason) > 2000:
            raise Invalid("unit must be 'hour' or 'day', and reason text of at most 2000 characters")
        if pending is not None:
            raise Conflict("an extension request is already waiting for a decision")
        session.add(Extension(case_id=case.id, stage=case.stage, amount=amount, unit=unit, reason=reason,
                              requested_by=actor.name, requested_at=now))
        if get_settings().pause_on_extension and case.stage_deadline:
            sla.pause(case, calendar, now)
        record.update(amount=amount, unit=unit, reason=reason)
    elif action in ("approve_extension", "reject_extension"):
        if pending is None:
            raise Conflict("no extension request is waiting for a decision")
        pending.status = "approved" if action == "approve_extension" else "rejected"
        pending.decided_by, pending.decided_at = actor.name, now
        extra = calendar.minutes(pending.amount, pending.unit) if pending.status == "approved" else 0.0
        if case.paused_remaining_minutes is not None and case.state != "suspended":
            sla.unpause(case, calendar, now, extra)  # the request paused the clocks; the decision starts them
        elif extra:
            if case.paused_remaining_minutes is not None:  # suspended meanwhile: the stage resumes with more
                case.paused_remaining_minutes += extra
            sla.extend(case, calendar, extra, now)
        record.update(amount=pending.amount, unit=pending.unit, note=payload.get("note"))
    else:  # urge
        from liandong.cases.models import Notification

        record["note"] = payload.get("note")
        for unit_id in sla.recipients(session, case):
            session.add(Notification(unit_id=unit_id, case_id=case.id, kind="urge", created_at=now,
                                     details={"note": (payload.get("note") or "")[:300] or None},
                                     message=f"案件 {case.number} 被督办 (case {case.number} urged): "
                                             f"{payload.get('note') or ''}"[:500]))
    if case.stage_deadline is not None:
        record["stage_deadline"] = case.stage_deadline.isoformat()
    case.updated_at = now  # bumps the version: stage events take part in optimistic concurrency
    log.record(session, case, actor, action, case.state, case.state, record, now)


def _stale(case: Case, allowed: list[str]) -> Conflict:
    err = StaleCase("the case was changed by someone else meanwhile; reload it and try again")
    err.extra = {"allowed_actions": allowed, "state": case.state, "stale": True}
    return err


def _assignment(session: Session, case: Case, actor: Identity) -> CaseUnit:
    """The actor's unit's assignment on this case (or that of a unit it directly heads)."""
    rows = queries.units_of(session, case)
    parents = dict(session.execute(select(Unit.id, Unit.parent_id).where(
        Unit.id.in_([r.unit_id for r in rows]))).all()) if rows else {}
    live = [r for r in rows if r.status != "withdrawn"]
    # the unit's own part first: a sub-centre assisting its own workstation acts on its part, not the lead's
    own = [r for r in live if r.unit_id == actor.unit_id]
    headed = [r for r in live if parents.get(r.unit_id) == actor.unit_id]
    if own or headed:
        return (own or headed)[0]
    raise Forbidden("the case is not assigned to your unit")


def _dispatch(session: Session, index: GridIndex, case: Case, payload: dict, now: dt.datetime) -> dict:
    proposal = routing.propose(session, index, case)
    lead_id = payload.get("lead_unit_id") or (proposal["proposed_lead"] or {}).get("id")
    assist_ids = payload.get("assisting_unit_ids") or []
    if not isinstance(assist_ids, list) or not all(isinstance(x, int) for x in assist_ids):
        raise Invalid("assisting_unit_ids must be a list of unit ids")
    if not isinstance(lead_id, int):
        raise Invalid("lead_unit_id must be a unit id (no proposal could be made for this case)")
    wanted = [lead_id, *[x for x in dict.fromkeys(assist_ids) if x != lead_id]]
    found = set(session.scalars(select(Unit.id).where(Unit.id.in_(wanted))))
    missing = [x for x in wanted if x not in found]
    if missing:
        raise Invalid(f"unknown units: {missing}")
    for cu in queries.units_of(session, case):  # a redispatch withdraws the previous assignment
        cu.status, cu.updated_at = "withdrawn", now
    session.flush()
    for uid in wanted:
        existing = session.get(CaseUnit, (case.id, uid))
        role = "lead" if uid == lead_id else "assist"
        if existing is None:
            session.add(CaseUnit(case_id=case.id, unit_id=uid, role=role, status="dispatched", updated_at=now))
        else:
            existing.role, existing.status, existing.updated_at = role, "dispatched", now
    case.lead_unit_id = lead_id
    return {"lead_unit_id": lead_id, "assisting_unit_ids": wanted[1:],
            "proposed": (proposal["proposed_lead"] or {}).get("id")}


def _master(session: Session, case: Case, master_id, actor: Identity) -> Case:
    if not isinstance(master_id, int) or master_id == case.id:
        raise Invalid("master_id must be the id of another case")
    master = queries.get(session, master_id, actor)
    if master.state in states.CLOSED_STATES and master.state != "closed":
        raise Invalid(f"case {master_id} is {master.state}; merge into an open or closed case")
    if master.master_id is not None:
        raise Invalid(f"case {master_id} was itself merged; merge into its master {master.master_id}")
    return master



def allowed_for(session: Session, case: Case, actor: Identity, actions: list[str] | None = None) -> list[str]:
    """The table's actions for these roles, less those the service would refuse right now: a unit's steps
    follow its own part (an assisting unit signs and reports its part whatever the lead did), only the lead
    asks for more time, and deciding an extension needs a request waiting."""
    if actions is None:
        actions = states.allowed_actions(case.state, set(actor.roles))

    def unit_action(a: str) -> bool:
        t = states.transition(case.state, a)
        return a == "request_extension" or bool(t and t.handler_action)

    out = [a for a in actions if not unit_action(a)]
    if "handler" in actor.roles and (any(unit_action(a) for a in actions) or case.state in states.HANDLING_STATES):
        try:
            mine = _assignment(session, case, actor)
        except Forbidden:
            mine = None
        if mine is not None:
            steps = states.unit_actions(mine.status, case.state)
            if mine.role == "lead":
                steps = [a for a in actions if unit_action(a) and (a in steps or a == "request_extension")]
                if "report_done" in steps and _busy_assistants(session, case):
                    steps.remove("report_done")  # the lead reports done after its assisting units
            out += steps
    if {"approve_extension", "reject_extension", "request_extension"} & set(out):
        waiting = session.scalar(select(Extension.id).where(Extension.case_id == case.id,
                                                            Extension.status == "pending")) is not None
        # one request at a time: asking waits for the decision, deciding waits for a request
        drop = {"request_extension"} if waiting else {"approve_extension", "reject_extension"}
        out = [a for a in out if a not in drop]
    return sorted(set(out))
