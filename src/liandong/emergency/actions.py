"""Acting on an incident: one table of actions, and the one path every action takes through it.

The shape of the case core's (``cases/actions.py``): ``TABLE`` holds an ``Action`` per action — the states it may
be taken in and where each leads (``moves``; None: it stays, an event on the running incident), the roles it
needs, its payload model (``payloads.py``) and its effect. ``act`` runs visibility → version → table → roles →
payload → effect → event; ``allowed_for`` asks the same ``refusal`` of every action, so what an incident offers
cannot drift from what the service takes. Refusals carry machine codes (``not_allowed_in_state`` with the
``allowed_actions``, ``role_needed``, ``not_commander``, ``respond_first``, ``stale``, ``missing_field`` and
``invalid_field``).

The service changes the incident and appends its event in the caller's transaction and never commits; the row
carries an optimistic version, so of two concurrent actions exactly one wins and the other gets 409 ``stale``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases.payloads import Payload, parse, required
from liandong.db import utcnow
from liandong.emergency import hand_back, linked_cases, log, queries, tasks, visibility
from liandong.emergency.models import Incident, IncidentEvent, IncidentLink
from liandong.emergency.payloads import ActivatePlan, CaseRef, Link, Regrade, ReportUp, Respond, StandDown, Verify
from liandong.emergency.plans import activation
from liandong.emergency.states import CLOSED_STATES, CREATE_ROLES, OPEN_STATES, RESPONSE_STATES
from liandong.errors import Conflict, DomainError, Invalid, NotFound, Stale, role_needed


@dataclass
class Doing:
    """An action under way, as its effect sees it; the effect returns what the event records besides the payload."""

    action: str
    session: Session
    incident: Incident
    caller: Identity
    payload: Payload
    now: dt.datetime
    index: GridIndex | None = None
    """The grid index, for an effect that opens cases (the stand-down's hand-back); built when not given."""


Effect = Callable[[Doing], dict | None]


@dataclass(frozen=True)
class Action:
    """One row of the action table."""

    name: str
    moves: Mapping[str, str | None]
    """The states the action may be taken in → the state it leads to (None: the incident stays where it is)."""
    roles: frozenset[str]
    payload: type[Payload] = Payload
    effect: Effect | None = None
    command: bool = True
    """Whether it needs command of the incident (``visibility.commands``), beyond seeing it."""


# --- effects ------------------------------------------------------------------------------------------------

LEVEL_FIELDS = ("grade", "warning_level", "response_level")


def _levels(d: Doing) -> dict | None:
    """Set the levels the payload gives (研判, a response, a regrading, a plan activated); the event keeps what they
    were. A response level raised raises every plan active on the incident with it (``plans/activation.py``):
    the one rule, whichever action raised it."""
    was = {}
    for name in LEVEL_FIELDS:
        value = getattr(d.payload, name, None)
        if value is not None and value != getattr(d.incident, name):
            was[name] = getattr(d.incident, name)
            setattr(d.incident, name, value)
    record: dict = {"was": was} if was else {}
    before = was.get("response_level")
    graver = "response_level" in was and (before is None or d.incident.response_level < before)
    if graver and (raised := activation.follow(d.session, d.incident, d.caller, d.now)):
        record["plans"] = raised
    return record or None


def _regrade(d: Doing) -> dict | None:
    """Regrading may move the response level only once a response runs: before it, ``respond`` or a plan's
    activation starts one (and marks 处置 on the 五早 clock)."""
    assert isinstance(d.payload, Regrade)
    if d.payload.response_level is not None and d.incident.state not in RESPONSE_STATES:
        raise Conflict("no response runs yet: start one with respond or a plan's activation", code="respond_first",
                       params={"action": d.action, "state": d.incident.state})
    return _levels(d)


def _activate(d: Doing) -> dict:
    """Activate a plan at a response level: it becomes the incident's response level (``_levels``, which raises
    the plans already active), and the plan starts at it unless it was one of those."""
    body = d.payload
    assert isinstance(body, ActivatePlan)
    plan, running = activation.admit(d.session, d.incident, body.plan, body.response_level)
    record = _levels(d) or {}
    if not running:
        record["plans"] = [*record.get("plans", []), activation.start(d.session, d.incident, plan,
                                                                      body.response_level, d.caller, d.now)]
    return {"plan_version": plan.version, **record}


def _ended(d: Doing) -> dict:
    """However the incident ends, its open tasks whose plan names a routine matter are handed back as cases
    (``hand_back``), then every open task is cancelled."""
    handed = hand_back.hand_back(d.session, d.index or GridIndex.build(d.session), d.incident, d.caller, d.now) \
        if tasks.any_open(d.session, d.incident.id) else []
    cancelled = tasks.cancel_open(d.session, d.incident, d.now)
    return {**({"handed_back": handed} if handed else {}), **({"cancelled_tasks": cancelled} if cancelled else {})}


def _close(d: Doing) -> dict | None:
    d.incident.outcome = "closed"
    return _ended(d) or None


def _stand_down(d: Doing) -> dict:
    """The incident ends without being resolved; its cases still open stay with their departments (named in the
    event), its open work is handed back or cancelled (``_ended``)."""
    d.incident.outcome = "stood_down"
    return {"open_cases": linked_cases.still_open(d.session, d.incident), **_ended(d)}


def _report_up(d: Doing) -> dict | None:
    """上报; a report after the first is a follow-up (续报)."""
    before = d.session.scalar(select(IncidentEvent.id).where(IncidentEvent.incident_id == d.incident.id,
                                                             IncidentEvent.action == "report_up").limit(1))
    return {"follow_up": True} if before is not None else None


def _link(d: Doing) -> dict:
    body = d.payload
    assert isinstance(body, Link)
    other = queries.get(d.session, body.other_id, d.caller)  # an incident the caller cannot see: 404
    if other.id == d.incident.id:
        raise Invalid("an incident cannot be linked to itself", code="bad_link", params={"other_id": other.id})
    if queries.linked(d.session, d.incident.id, other.id):
        raise Conflict(f"incident {other.number} is linked to this one already", code="already_linked",
                       params={"other": other.number})
    d.session.add(IncidentLink(incident_id=d.incident.id, other_id=other.id, kind=body.kind, created_at=d.now))
    return {"other_number": other.number}


def _link_case(d: Doing) -> dict:
    assert isinstance(d.payload, CaseRef)
    case = linked_cases.attach(d.session, d.incident, d.payload.case_id, d.caller, d.now, how="linked")
    return {"case_number": case.number}


# --- the table ----------------------------------------------------------------------------------------------

COMMAND = frozenset({"commander", "leader"})
"""Who moves an incident through its states and regrades it."""
STAYS = dict.fromkeys(OPEN_STATES)

TABLE: dict[str, Action] = {a.name: a for a in (
    Action("verify", {"reported": "verified"}, COMMAND, Verify, _levels),
    Action("respond", {"verified": "responding"}, COMMAND, Respond, _levels),
    Action("contain", {"responding": "contained"}, COMMAND),
    Action("recover", {"contained": "recovered"}, COMMAND),
    Action("close", {"recovered": "closed", "contained": "closed"}, COMMAND, effect=_close),
    Action("stand_down", dict.fromkeys(OPEN_STATES, "closed"), COMMAND, StandDown, _stand_down),
    Action("report_up", STAYS, frozenset({"commander", "shift_leader", "leader"}), ReportUp, _report_up,
           command=False),
    Action("regrade", STAYS, COMMAND, Regrade, _regrade),
    Action("link", STAYS, frozenset({"commander"}), Link, _link),
    Action("link_case", STAYS, CREATE_ROLES, CaseRef, _link_case, command=False),
)}
NAMES = tuple(sorted(TABLE))
NEEDS = {name: fields for name, a in TABLE.items() if (fields := required(a.payload))}
"""Payload fields an action cannot do without, read from the models."""
ACTIVATE = Action("activate", {"verified": "responding", "responding": None}, COMMAND, ActivatePlan, _activate)
"""Activating a plan: a row of the same kind, taken by the same path, but with its own route
(``/incidents/{id}/plans/{code}/activate``), so it is not among the actions an incident lists. After 研判 it
starts the response (as ``respond`` does, and it marks 处置 on the 五早 clock); while one runs it adds a plan or
raises one."""


# --- the one path -------------------------------------------------------------------------------------------

def refusal(action: Action, incident: Incident, caller: Identity, commands: bool) -> DomainError | None:
    """Why the caller may not take ``action`` now (the table, the roles, then command of the incident:
    ``commands`` is ``visibility.commands``), or None; the payload aside."""
    if incident.state not in action.moves:
        return Conflict(f"action {action.name!r} is not allowed in state {incident.state!r}",
                        code="not_allowed_in_state", params={"action": action.name, "state": incident.state})
    if action.roles.isdisjoint(caller.roles):
        return role_needed(action.name, action.roles)
    if action.command and not commands:
        return visibility.not_commanding(action.name)
    return None


def allowed_for(session: Session, incident: Incident, caller: Identity) -> list[str]:
    """The actions the service would take from the caller on this incident now (a valid payload given)."""
    commands = visibility.commands(session, incident, caller)
    return [name for name in NAMES if refusal(TABLE[name], incident, caller, commands) is None]


def act(session: Session, incident_id: int, name: str, caller: Identity, payload: dict | None = None,
        now: dt.datetime | None = None, index: GridIndex | None = None) -> Incident:
    """Take action ``name`` on the incident with ``payload`` (validated by the action's model) and append its
    event. Refusals of the table and the roles name the caller's ``allowed_actions``."""
    action = TABLE.get(name)
    if action is None:
        raise NotFound(f"unknown action {name!r}; actions are {', '.join(NAMES)}", code="unknown_action",
                       params={"action": name})
    return _run(session, incident_id, action, caller, dict(payload or {}), now or utcnow(), index)


def activate(session: Session, incident_id: int, code: str, caller: Identity, payload: dict | None = None,
             now: dt.datetime | None = None) -> Incident:
    """Activate plan ``code`` on the incident (``payload``: ``response_level``, optional ``version``, ``note``)."""
    return _run(session, incident_id, ACTIVATE, caller, {**(payload or {}), "plan": code}, now or utcnow())


def _run(session: Session, incident_id: int, action: Action, caller: Identity, data: dict,
         now: dt.datetime, index: GridIndex | None = None) -> Incident:
    try:
        return _act(session, incident_id, action, caller, data, now, index)
    except StaleDataError:  # another transaction moved the version on
        session.rollback()
        raise _stale(session, session.get(Incident, incident_id), caller) from None


def _act(session: Session, incident_id: int, action: Action, caller: Identity, data: dict,
         now: dt.datetime, index: GridIndex | None) -> Incident:
    name = action.name
    incident = queries.get(session, incident_id, caller)
    expected = data.get("version")
    if type(expected) is int and expected != incident.version:
        raise _stale(session, incident, caller)
    refused = refusal(action, incident, caller, visibility.commands(session, incident, caller))
    if refused is not None:
        refused.extra = {"allowed_actions": allowed_for(session, incident, caller), "state": incident.state,
                         **refused.extra}
        raise refused
    body = parse(name, action.payload, data)
    from_state = incident.state
    to_state = action.moves[from_state] or from_state
    flag_modified(incident, "updated_at")  # claim the version before any effect: of two concurrent actions the
    session.flush()  # second fails here (StaleDataError → 409 stale), not on the rows its effect would add
    record = body.record()
    if action.effect is not None:
        record.update(action.effect(Doing(name, session, incident, caller, body, now, index)) or {})
    if to_state in CLOSED_STATES:
        incident.closed_at = now
    incident.state, incident.updated_at = to_state, now  # every action bumps the version
    log.add(session, incident, caller, kind="action", action=name, from_state=from_state, to_state=to_state,
            payload=record, now=now)
    return incident


def _stale(session: Session, incident: Incident | None, caller: Identity) -> Stale:
    return Stale("the incident was changed by someone else meanwhile; reload it and try again",
                 extra={"allowed_actions": allowed_for(session, incident, caller) if incident else [],
                        "state": incident.state if incident else None, "stale": True})
