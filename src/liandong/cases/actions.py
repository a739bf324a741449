"""Acting on a case: one table of actions, and the one path every action takes through it.

``TABLE`` holds an ``Action`` per action: the states it may be taken in and where each leads (``moves``), the
roles it needs, its guards (rules on the caller's part of the case: their unit assigned, the lead or an
assisting unit, an extension waiting, assisting units still busy, rated already…), its payload model
(``payloads.py``) and its effect. ``act`` runs visibility → version → table → roles → guards → payload →
effect → clocks → event; ``allowed_for`` asks the same ``refusal`` (table, roles, guards — the payload
aside) of every action, so what a case offers cannot drift from what the service takes. Every refusal
carries a machine code (``errors.DomainError.code``) that pages and other clients translate.

The table lives here, not in ``states.py``, because guards and effects read and write the database;
``states.py`` keeps the states and the facts about them that queries, clocks and pages import.

The service changes a case and appends its event in the caller's transaction and never commits; the case
row carries an optimistic version, so of two concurrent actions on one case exactly one wins and the other
gets a Conflict (HTTP 409) naming what the caller may do now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import log, payloads, queries, routing, sla, states
from liandong.cases.calendar import WorkCalendar, calendar_for
from liandong.cases.models import Case, CaseUnit, Extension, Notification
from liandong.cases.payloads import Dispatch, ExtensionRequest, Merge, Noted, Payload, Rating, Reasoned
from liandong.catalogue import snapshot
from liandong.config import get_settings
from liandong.db import utcnow
from liandong.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Stale, role_needed
from liandong.units.models import Unit

if TYPE_CHECKING:
    from liandong.cases.batch import Batch


class Standing:
    """The caller's part of a case, each fact read once and only when a rule asks for it: ``act`` and
    ``allowed_for`` judge every action on the very same facts."""

    def __init__(self, session: Session, case: Case, caller: Identity):
        self.session, self.case, self.caller = session, case, caller

    @cached_property
    def parts(self) -> list[CaseUnit]:
        return queries.units_of(self.session, self.case)

    @cached_property
    def part(self) -> CaseUnit | None:
        """The live assignment of the caller's unit, else of a unit it heads directly. Its own first: a
        sub-centre assisting its own workstation acts on its part, not the workstation's."""
        live = [r for r in self.parts if r.status != "withdrawn"]
        if self.caller.unit_id is None or not live:
            return None
        own = [r for r in live if r.unit_id == self.caller.unit_id]
        if own:
            return own[0]
        parents = dict(self.session.execute(select(Unit.id, Unit.parent_id).where(
            Unit.id.in_([r.unit_id for r in live]))).all())
        return next((r for r in live if parents.get(r.unit_id) == self.caller.unit_id), None)

    @cached_property
    def pending(self) -> Extension | None:
        """The extension request waiting for a decision (one at a time)."""
        return self.session.scalar(select(Extension).where(Extension.case_id == self.case.id,
                                                           Extension.status == "pending"))

    @cached_property
    def busy(self) -> list[int]:
        """Assisting units still working on their part."""
        return [r.unit_id for r in self.parts if r.role == "assist" and r.status in ("dispatched", "signed")]

    @cached_property
    def master(self) -> Case | None:
        return self.session.get(Case, self.case.master_id) if self.case.master_id else None

    def units_there(self, ids: list[int]) -> set[int]:
        """Which of ``ids`` are units (a dispatch names only units that exist)."""
        return set(self.session.connection().execute(_UNITS, {"ids": ids}).scalars())

    def add_part(self, part: CaseUnit) -> None:
        """A unit newly dispatched to the case (its row is the session's to write; a batch writes its own)."""
        self.session.add(part)

    def visible(self, case_id: int) -> Case:
        """Another case as the caller may see it (a merge's master), or ``queries.get``'s 404."""
        return queries.get(self.session, case_id, self.caller)

    def move_followers(self, to: Case) -> int:
        """The cases merged into this one follow it to ``to``, so that every reporter keeps a live case to follow
        (their version moves on); returns how many. Those merged into it within this transaction are written first,
        to be found."""
        session, case_id = self.session, self.case.id
        if any(isinstance(o, Case) and o.master_id == case_id for o in session.dirty):
            session.flush()
        return session.execute(update(Case).where(Case.master_id == case_id)
                               .values(master_id=to.id, version=Case.version + 1)
                               .execution_options(synchronize_session="fetch")).rowcount


@dataclass
class Doing:
    """An action under way, as its effect sees it; the effect may change ``to_state`` (resuming, a step of an
    assisting unit) and returns what the event records besides the payload."""

    action: str
    standing: Standing
    payload: Payload
    index: GridIndex
    now: dt.datetime
    calendar: WorkCalendar
    to_state: str

    @property
    def session(self) -> Session:
        return self.standing.session

    @property
    def case(self) -> Case:
        return self.standing.case


Guard = Callable[[Standing, "Action"], DomainError | None]
"""A rule on the caller's part of the case: the refusal (not raised), or None when the action may go on."""
Effect = Callable[[Doing], dict | None]


@dataclass(frozen=True)
class Action:
    """One row of the action table: what ``act`` checks and does, and all ``allowed_for`` checks."""

    name: str
    moves: Mapping[str, str | None]
    """The states the action may be taken in → the state it leads to (None: the case stays where it is, an
    event on the running stage — extensions and urging, DESIGN.md)."""
    roles: frozenset[str]
    payload: type[Payload] = Payload
    guards: tuple[Guard, ...] = ()
    effect: Effect | None = None
    unit_step: bool = False
    """A step of the caller's unit on its own part (条块联处): open in every handling state, the part's own
    status deciding (states.UNIT_STEPS); ``moves`` are the lead's, an assisting unit's step moves no state."""
    in_states: frozenset[str] = field(init=False)
    """Every state the action may be taken in."""

    def __post_init__(self) -> None:
        handling = states.HANDLING_STATES if self.unit_step else frozenset()
        object.__setattr__(self, "in_states", frozenset(self.moves) | handling)


# --- guards -------------------------------------------------------------------------------------------------

def _not_assigned() -> Forbidden:
    return Forbidden("the case is not assigned to your unit", code="not_assigned")


def _part_step(st: Standing, action: Action) -> DomainError | None:
    """The caller's unit holds a part of the case whose status allows this step."""
    part = st.part
    if part is None:
        return _not_assigned()
    lead_cannot_move = part.role == "lead" and st.case.state not in action.moves
    if (part.status, action.name) not in states.UNIT_STEPS or lead_cannot_move:
        return Conflict(f"your unit's part of this case is {part.status!r}: {action.name!r} is not possible now",
                        code="part_not_ready", params={"unit_status": part.status, "action": action.name},
                        extra={"unit_status": part.status})
    return None


def _after_assistants(st: Standing, action: Action) -> DomainError | None:
    """The lead reports the case done after its assisting units have finished their parts."""
    if st.part is not None and st.part.role == "lead" and st.busy:
        return Conflict(f"assisting units {st.busy} have not finished their part; the lead reports the case done "
                        "after them", code="assistants_busy", params={"units": st.busy})
    return None


def _lead(st: Standing, action: Action) -> DomainError | None:
    """Only the lead unit asks for more time on the case's stage."""
    if st.part is None:
        return _not_assigned()
    if st.part.role != "lead":
        return Forbidden("only the lead unit asks for more time on the case's stage", code="lead_only")
    return None


def _nothing_waiting(st: Standing, action: Action) -> DomainError | None:
    """One extension request at a time."""
    if st.pending is not None:
        return Conflict("an extension request is already waiting for a decision", code="extension_pending")
    return None


def _request_waiting(st: Standing, action: Action) -> DomainError | None:
    if st.pending is None:
        return Conflict("no extension request is waiting for a decision", code="no_extension_pending")
    return None


def _not_rated(st: Standing, action: Action) -> DomainError | None:
    """A case is rated once, whoever rates it (the citizen online, the 12345 callback, the desk)."""
    if st.case.satisfaction is not None:
        return Conflict("this case was rated already: a rating is given once", code="already_rated")
    return None


def _master_closed(st: Standing, action: Action) -> DomainError | None:
    """A merged case's reporter rates their own report once the case it was merged into is closed."""
    if st.case.state == "merged" and (st.master is None or st.master.state != "closed"):
        number = st.master.number if st.master else None
        return Conflict(f"this case is handled with {number}, which is not closed yet", code="master_not_closed",
                        params={"master": number})
    return None


# --- effects ------------------------------------------------------------------------------------------------

def _step_part(d: Doing) -> dict | None:
    """A unit's step moves its own part; an assisting unit's step leaves the case where it is."""
    part = d.standing.part
    part.status, part.updated_at = states.UNIT_STEPS[(part.status, d.action)], d.now
    if part.role != "assist":
        return None
    d.to_state = d.case.state
    return {"as": "assist", "unit_status": part.status}


def _dispatch(d: Doing) -> dict:
    """The lead (the routing proposal's unless named) and assisting units; a redispatch withdraws the last."""
    session, case, body = d.session, d.case, d.payload
    assert isinstance(body, Dispatch)
    proposal = routing.propose(session, d.index, case)
    lead_id = body.lead_unit_id or (proposal["proposed_lead"] or {}).get("id")
    if not isinstance(lead_id, int):
        raise Invalid("lead_unit_id must be a unit id (no proposal could be made for this case)", code="no_lead_unit")
    wanted = [lead_id, *[x for x in dict.fromkeys(body.assisting_unit_ids) if x != lead_id]]
    found = d.standing.units_there(wanted)
    missing = [x for x in wanted if x not in found]
    if missing:
        raise Invalid(f"unknown units: {missing}", code="unknown_units", params={"units": missing})
    parts = d.standing.parts  # every row of the case, withdrawn ones too: a unit dispatched again is the same row
    for cu in parts:
        cu.status, cu.updated_at = "withdrawn", d.now
    for uid in wanted:
        existing = next((cu for cu in parts if cu.unit_id == uid), None)
        role = "lead" if uid == lead_id else "assist"
        if existing is None:
            added = CaseUnit(case_id=case.id, unit_id=uid, role=role, status="dispatched", updated_at=d.now)
            d.standing.add_part(added)
            parts.append(added)
        else:
            existing.role, existing.status, existing.updated_at = role, "dispatched", d.now
    case.lead_unit_id = lead_id
    return {"lead_unit_id": lead_id, "assisting_unit_ids": wanted[1:],
            "proposed": (proposal["proposed_lead"] or {}).get("id")}


def _rework(d: Doing) -> None:
    d.case.rework_count += 1
    for cu in d.standing.parts:
        if cu.status not in ("withdrawn", "returned"):  # a part handed back stays handed back
            cu.status, cu.updated_at = "dispatched", d.now


def _resume(d: Doing) -> None:
    lead = next((r for r in d.standing.parts if r.role == "lead" and r.status != "withdrawn"), None)
    d.to_state = states.resume_to(lead.status if lead else None)


def _rate(d: Doing) -> dict | None:
    assert isinstance(d.payload, Rating)
    d.case.satisfaction = d.payload.satisfaction
    master = d.standing.master  # a merged case: the rating stays on the reporter's own report
    return {"master": master.number} if master is not None else None


def _merge(d: Doing) -> dict | None:
    case = d.case
    assert isinstance(d.payload, Merge)
    master = _master(d.standing, d.payload.master_id)
    case.master_id = master.id
    moved = d.standing.move_followers(master)  # cases merged into this one follow it
    return {"followers_moved": moved} if moved else None


def _master(st: Standing, master_id: int) -> Case:
    if master_id == st.case.id:
        raise Invalid("master_id must be the id of another case", code="bad_master")
    master = st.visible(master_id)
    if master.master_id is not None:
        raise Invalid(f"case {master_id} was itself merged; merge into its master {master.master_id}",
                      code="master_merged", params={"master_id": master_id, "master": master.master_id})
    if master.state in states.CLOSED_STATES and master.state != "closed":
        raise Invalid(f"case {master_id} is {master.state}; merge into an open or closed case", code="master_ended",
                      params={"master_id": master_id, "state": master.state})
    return master


def _on_stage(case: Case, **facts) -> dict:
    """An event on the running stage records the stage and its deadline after the event."""
    deadline = {"stage_deadline": case.stage_deadline.isoformat()} if case.stage_deadline is not None else {}
    return {"stage": case.stage, **facts, **deadline}


def _request_extension(d: Doing) -> dict:
    body, case = d.payload, d.case
    assert isinstance(body, ExtensionRequest)
    paused = bool(get_settings().pause_on_extension and case.stage_deadline)
    d.standing.pending = Extension(case_id=case.id, stage=case.stage, amount=body.amount, unit=body.unit,
                                   reason=body.reason, requested_by=d.standing.caller.name, requested_at=d.now,
                                   paused=paused)
    d.session.add(d.standing.pending)
    if paused:  # the clocks wait for the decision
        sla.pause(case, d.calendar, d.now)
    return _on_stage(case, amount=body.amount, unit=body.unit, reason=body.reason, paused=paused)


def _decide_extension(d: Doing) -> dict:
    case, pending = d.case, d.standing.pending
    pending.status = "approved" if d.action == "approve_extension" else "rejected"
    pending.decided_by, pending.decided_at = d.standing.caller.name, d.now
    d.standing.pending = None
    extra = d.calendar.minutes(pending.amount, pending.unit) if pending.status == "approved" else 0.0
    # decided only while handling (never suspended): paused clocks were paused by the request itself
    if case.paused_remaining_minutes is not None:
        sla.unpause(case, d.calendar, d.now, extra)  # the request paused the clocks; the decision starts them
    elif extra:
        sla.extend(case, d.calendar, extra, d.now)
    return _on_stage(case, amount=pending.amount, unit=pending.unit)


def _urge(d: Doing) -> dict:
    """督办: a notice to every unit answering for the running stage."""
    case, note = d.case, d.payload.note
    for unit_id in sla.recipients(d.session, case):
        d.session.add(Notification(unit_id=unit_id, case_id=case.id, kind="urge", created_at=d.now,
                                   details={"note": (note or "")[:300] or None}))
    return _on_stage(case)


# --- the table ----------------------------------------------------------------------------------------------

def _roles(*names: str) -> frozenset[str]:
    return frozenset(names)


def _stays(where: Iterable[str]) -> dict[str, None]:
    return dict.fromkeys(sorted(where))


def _to(target: str, where: Iterable[str]) -> dict[str, str]:
    return dict.fromkeys(sorted(where), target)


TABLE: dict[str, Action] = {a.name: a for a in (
    Action("accept", {"reported": "accepted"}, _roles("receptionist")),
    Action("reject", {"reported": "rejected"}, _roles("receptionist"), Reasoned),
    Action("request_verify", {"accepted": "verifying"}, _roles("receptionist")),
    Action("verified", {"verifying": "accepted"}, _roles("inspector")),
    Action("file", {"accepted": "filed"}, _roles("shift_leader")),
    Action("close_self_handled", {"accepted": "closed"}, _roles("shift_leader"), Noted),
    Action("dispatch", {"filed": "dispatched"}, _roles("dispatcher"), Dispatch, effect=_dispatch),
    Action("sign", {"dispatched": "in_progress"}, _roles("handler"), guards=(_part_step,), effect=_step_part,
           unit_step=True),
    Action("return", _to("returned", states.HANDLING_STATES), _roles("handler"), Reasoned, guards=(_part_step,),
           effect=_step_part, unit_step=True),
    Action("redispatch", {"returned": "dispatched"}, _roles("dispatcher"), Dispatch, effect=_dispatch),
    Action("report_done", {"in_progress": "disposed"}, _roles("handler"), Noted,
           guards=(_part_step, _after_assistants), effect=_step_part, unit_step=True),
    Action("request_check", {"disposed": "checking"}, _roles("receptionist")),
    Action("check_passed", {"checking": "checked"}, _roles("inspector")),
    Action("check_failed", {"checking": "dispatched"}, _roles("inspector"), Noted, effect=_rework),
    Action("close", {"checked": "closed"}, _roles("shift_leader")),
    Action("suspend", _to("suspended", states.HANDLING_STATES), _roles("dispatcher")),
    Action("resume", {"suspended": "in_progress"}, _roles("dispatcher"), effect=_resume),  # or dispatched: _resume
    Action("rate", {"closed": "closed", "merged": "merged"}, _roles("receptionist", "citizen"), Rating,
           guards=(_not_rated, _master_closed), effect=_rate),
    Action("void", _to("voided", states.OPEN_STATES), _roles("shift_leader"), Reasoned),
    Action("merge", _to("merged", states.OPEN_STATES), _roles("shift_leader", "receptionist"), Merge, effect=_merge),
    # events on the running stage, not state changes (DESIGN.md: extension and urging are events)
    Action("request_extension", _stays(states.EXTENSION_STATES), _roles("handler"), ExtensionRequest,
           guards=(_lead, _nothing_waiting), effect=_request_extension),
    Action("approve_extension", _stays(states.EXTENSION_STATES), _roles("dispatcher"), guards=(_request_waiting,),
           effect=_decide_extension),
    Action("reject_extension", _stays(states.EXTENSION_STATES), _roles("dispatcher"), guards=(_request_waiting,),
           effect=_decide_extension),
    Action("urge", _stays(states.URGE_STATES), _roles("leader", "dispatcher", "shift_leader"), effect=_urge),
)}
NAMES = tuple(sorted(TABLE))
NEEDS = {name: fields for name, a in TABLE.items() if (fields := payloads.required(a.payload))}
"""Payload fields an action cannot do without (the pages mark them required), read from the models."""
RESTARTS_IN_PLACE = ("check_failed", "redispatch")
"""Actions whose stage clock starts afresh although the case may stay in a state of the same stage."""
KEEP_EXTENSION = ("suspend", "resume")
"""State changes that leave a waiting extension request waiting (every other one lets it lapse)."""


# --- the one path -------------------------------------------------------------------------------------------

def refusal(action: Action, st: Standing) -> DomainError | None:
    """Why the caller may not take ``action`` now — the table, the roles, the guards, in that order — or
    None. The payload is not looked at: ``allowed_for`` asks this without one."""
    state = st.case.state
    if state not in action.in_states:
        return Conflict(f"action {action.name!r} is not allowed in state {state!r}", code="not_allowed_in_state",
                        params={"action": action.name, "state": state})
    if action.roles.isdisjoint(st.caller.roles):
        return role_needed(action.name, action.roles)
    for guard in action.guards:
        if (refused := guard(st, action)) is not None:
            return refused
    return None


def allowed_for(session: Session, case: Case, caller: Identity) -> list[str]:
    """The actions the service would take from the caller on this case now (a valid payload given)."""
    return _allowed(Standing(session, case, caller))


def _allowed(st: Standing) -> list[str]:
    return [name for name in NAMES if refusal(TABLE[name], st) is None]


def act(session: Session, index: GridIndex, case_id: int, action: str, actor: Identity, payload: dict | None = None,
        now: dt.datetime | None = None, calendar: WorkCalendar | None = None, batch: Batch | None = None) -> Case:
    """Take ``action`` on the case for ``actor`` with ``payload`` (validated by the action's model), append its
    event, keep the version honest. Refusals are DomainErrors with a code; those of the table, roles and
    guards name the caller's ``allowed_actions``.

    With a ``batch`` (``cases/batch.py``) the same path runs on the facts the batch read up front, and the event
    and the row changes wait for ``batch.flush``."""
    try:
        return _act(session, index, case_id, action, actor, dict(payload or {}), now or utcnow(),
                    calendar or calendar_for(session), batch)
    except StaleDataError:  # another transaction moved the version on; the caller rolls back
        raise _stale_for(session, case_id, actor) from None


def _act(session: Session, index: GridIndex, case_id: int, name: str, caller: Identity, data: dict,
         now: dt.datetime, calendar: WorkCalendar, batch: Batch | None) -> Case:
    action = TABLE.get(name)
    if action is None:
        raise NotFound(f"unknown action {name!r}; actions are {', '.join(NAMES)}", code="unknown_action",
                       params={"action": name})
    st = batch.standing(case_id, caller) if batch else Standing(session, queries.get(session, case_id, caller),
                                                                  caller)  # visibility
    expected = data.get("version")
    if type(expected) is int and expected != st.case.version:
        raise _stale(st)
    refused = refusal(action, st)
    if refused is not None:
        refused.extra = {"allowed_actions": _allowed(st), "state": st.case.state, **refused.extra}
        raise refused
    body = payloads.parse(name, action.payload, data)
    return _apply(action, st, body, index, now, calendar, batch)


def _apply(action: Action, st: Standing, body: Payload, index: GridIndex, now: dt.datetime,
           calendar: WorkCalendar, batch: Batch | None = None) -> Case:
    """The effect, then the clocks, then the event."""
    session, case = st.session, st.case
    from_state = case.state
    doing = Doing(action.name, st, body, index, now, calendar, action.moves.get(from_state) or from_state)
    record = body.record()
    if action.effect is not None:
        record.update(action.effect(doing) or {})
    to_state = doing.to_state
    if to_state == "closed" and from_state != "closed":
        case.closed_at = now
    case.state = to_state
    case.updated_at = now  # bumps the version: every action, a stage event too, takes part in optimistic concurrency
    if to_state != from_state and action.name not in KEEP_EXTENSION:
        _lapse(st, now, batch)
    # resuming while an extension request waits: the clocks stay paused until it is decided
    held = action.name == "resume" and st.pending is not None and bool(st.pending.paused)
    if not held and (to_state != from_state or action.name in RESTARTS_IN_PLACE):
        sla.on_transition(case, snapshot.current(session).by_id[case.matter_id], action.name, calendar, now)
        if case.stage_deadline is not None and to_state != from_state:
            record["stage_deadline"] = case.stage_deadline.isoformat()
    if batch is not None:
        batch.record(case, st.caller, action.name, from_state, to_state, record, now)
        return case
    log.record(session, case, st.caller, action.name, from_state, to_state, record, now)
    session.flush()
    return case


def _lapse(st: Standing, now: dt.datetime, batch: Batch | None = None) -> None:
    """The stage an extension was asked for is over: the request lapses rather than freezing the next one.
    One Core statement built once (it runs on every change of state); a request object this session holds
    (asked for earlier in the same transaction) is expired, so it is read again as lapsed. A batch knows the
    case's waiting request already: it changes that one."""
    if batch is not None:
        if st.pending is not None:
            st.pending.status, st.pending.decided_by, st.pending.decided_at = "lapsed", st.caller.name, now
            st.pending = None
        return
    session = st.session
    if session.connection().execute(_LAPSE, {"case": st.case.id, "by": st.caller.name, "at": now}).rowcount:
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Extension) and obj.case_id == st.case.id:
                session.expire(obj)


_UNITS = select(Unit.__table__.c.id).where(Unit.__table__.c.id.in_(bindparam("ids", expanding=True)))
_EXT = Extension.__table__
_LAPSE = (_EXT.update().where(_EXT.c.case_id == bindparam("case"), _EXT.c.status == "pending")
          .values(status="lapsed", decided_by=bindparam("by"), decided_at=bindparam("at")))


def _stale(st: Standing) -> Stale:
    return Stale("the case was changed by someone else meanwhile; reload it and try again",
                     extra={"allowed_actions": _allowed(st), "state": st.case.state, "stale": True})


def _stale_for(session: Session, case_id: int, caller: Identity) -> Stale:
    """The refusal for a version lost at write time: the transaction is rolled back and the case read again,
    so the caller is told what they may do on it as it is now."""
    session.rollback()
    case = session.get(Case, case_id)
    if case is None:
        return Stale("the case was changed by someone else meanwhile; reload it and try again",
                         extra={"allowed_actions": [], "state": None, "stale": True})
    return _stale(Standing(session, case, caller))
