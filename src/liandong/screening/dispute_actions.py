"""Acting on a dispute: one table of actions and the one path through it (as ``hazard_actions.py``). Refusals
carry codes: ``not_allowed_in_state`` (with ``allowed_actions``), ``role_needed``, ``stale``, ``missing_field``,
``invalid_field``, ``top_tier`` (no tier above the task force), ``incident_exists``.

A dispute at risk of a mass incident is raised into a social-security incident through
``emergency.intake.open_incident`` (``raise_incident``): the dispute records the incident, and the incident's
command log gets a note naming the dispute, so each history names the other. The service never commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases.payloads import Payload, parse, required
from liandong.db import utcnow
from liandong.emergency import intake as incident_intake
from liandong.emergency import log as incident_log
from liandong.emergency.payloads import IncidentIn
from liandong.emergency.states import CREATE_ROLES
from liandong.errors import Conflict, DomainError, Forbidden, NotFound, Stale
from liandong.screening import dispute_states as ds
from liandong.screening import disputes
from liandong.screening.dispute_models import Dispute
from liandong.screening.dispute_payloads import Assign, Callback, Escalate, Mediate, RaiseIncident, Regrade, Resolve


@dataclass
class Doing:
    action: str
    session: Session
    dispute: Dispute
    caller: Identity
    payload: Payload
    now: dt.datetime
    index: GridIndex | None = None


Effect = Callable[[Doing], dict | None]
Guard = Callable[[Dispute], DomainError | None]


@dataclass(frozen=True)
class Action:
    name: str
    moves: Mapping[str, str | None]
    roles: frozenset[str]
    payload: type[Payload] = Payload
    effect: Effect | None = None
    guard: Guard | None = None


def _assign(d: Doing) -> dict:
    assert isinstance(d.payload, Assign)
    was = {"mediator": d.dispute.mediator} if d.dispute.mediator else {}
    d.dispute.mediator = d.payload.mediator
    if d.payload.tier is not None and d.payload.tier != d.dispute.tier:
        was["tier"] = d.dispute.tier
        d.dispute.tier = d.payload.tier
    return {"was": was} if was else {}


def _escalate(d: Doing) -> dict:
    was = d.dispute.tier
    d.dispute.tier = ds.TIERS[ds.TIERS.index(was) + 1]
    return {"was": {"tier": was}, "tier": d.dispute.tier}


def _regrade(d: Doing) -> dict:
    assert isinstance(d.payload, Regrade)
    was, d.dispute.risk = d.dispute.risk, d.payload.risk
    return {"was": {"risk": was}}


def _resolve(d: Doing) -> None:
    assert isinstance(d.payload, Resolve)
    d.dispute.outcome = d.payload.outcome


def _callback(d: Doing) -> None:
    d.dispute.closed_at = d.now


def _raise(d: Doing) -> dict:
    body = d.payload
    assert isinstance(body, RaiseIncident)
    x = d.dispute
    incident = incident_intake.open_incident(
        d.session, d.index or GridIndex.build(d.session), d.caller,
        IncidentIn(title=body.title or f"矛盾纠纷 {x.number}：{x.title}"[:200], category="social_security",
                   type="群体性事件风险", grade=body.grade, lon=x.lon, lat=x.lat), d.now)
    incident_log.add(d.session, incident, d.caller, kind="note", now=d.now, from_state=incident.state,
                     text=f"由矛盾纠纷 {x.number} 升级 (raised from dispute {x.number})",
                     payload={"dispute_id": x.id, "dispute_number": x.number})
    x.incident_id = incident.id
    return {"incident_id": incident.id, "incident_number": incident.number}


def _below_top(x: Dispute) -> DomainError | None:
    if x.tier == ds.TIERS[-1]:
        return Conflict("the task force is the highest tier", code="top_tier")
    return None


def _no_incident(x: Dispute) -> DomainError | None:
    return Conflict("the dispute was raised into an incident already", code="incident_exists") \
        if x.incident_id is not None else None


OPEN = dict.fromkeys(("registered", "mediating"))
TABLE: dict[str, Action] = {a.name: a for a in (
    Action("assign", {"registered": "mediating", "mediating": None}, ds.ASSIGN_ROLES, Assign, _assign),
    Action("mediate", {"mediating": None}, ds.MEDIATE_ROLES, Mediate),
    Action("escalate", OPEN, ds.ASSIGN_ROLES, Escalate, _escalate, _below_top),
    Action("regrade", dict.fromkeys(ds.OPEN_STATES), ds.ASSIGN_ROLES, Regrade, _regrade),
    Action("resolve", {"mediating": "resolved"}, ds.MEDIATE_ROLES, Resolve, _resolve),
    Action("callback", {"resolved": "closed"}, ds.MEDIATE_ROLES, Callback, _callback),
    Action("raise_incident", OPEN, CREATE_ROLES, RaiseIncident, _raise, _no_incident),
)}
NAMES = tuple(sorted(TABLE))
NEEDS = {name: fields for name, a in TABLE.items() if (fields := required(a.payload))}


def refusal(action: Action, dispute: Dispute, caller: Identity) -> DomainError | None:
    if dispute.state not in action.moves:
        return Conflict(f"action {action.name!r} is not allowed in state {dispute.state!r}",
                        code="not_allowed_in_state", params={"action": action.name, "state": dispute.state})
    if action.roles.isdisjoint(caller.roles):
        return Forbidden(f"{action.name!r} needs one of the roles: {', '.join(sorted(action.roles))}",
                         code="role_needed", params={"action": action.name, "roles": sorted(action.roles)})
    if action.guard is not None and (why := action.guard(dispute)) is not None:
        why.params = {"action": action.name, **(why.params or {})}
        return why
    return None


def allowed_for(dispute: Dispute, caller: Identity) -> list[str]:
    return [name for name in NAMES if refusal(TABLE[name], dispute, caller) is None]


def act(session: Session, dispute_id: int, name: str, caller: Identity, payload: dict | None = None,
        now: dt.datetime | None = None, index: GridIndex | None = None) -> Dispute:
    action = TABLE.get(name)
    if action is None:
        raise NotFound(f"unknown action {name!r}; actions are {', '.join(NAMES)}", code="unknown_action",
                       params={"action": name})
    try:
        return _act(session, dispute_id, action, caller, dict(payload or {}), now or utcnow(), index)
    except StaleDataError:
        session.rollback()
        raise _stale(session.get(Dispute, dispute_id), caller) from None


def _act(session: Session, dispute_id: int, action: Action, caller: Identity, data: dict, now: dt.datetime,
         index: GridIndex | None) -> Dispute:
    dispute = disputes.get(session, dispute_id, caller)
    expected = data.get("version")
    if type(expected) is int and expected != dispute.version:
        raise _stale(dispute, caller)
    refused = refusal(action, dispute, caller)
    if refused is not None:
        refused.extra = {"allowed_actions": allowed_for(dispute, caller), "state": dispute.state, **refused.extra}
        raise refused
    body = parse(action.name, action.payload, data)
    from_state = dispute.state
    flag_modified(dispute, "updated_at")
    session.flush()
    record = body.record()
    if action.effect is not None:
        record.update(action.effect(Doing(action.name, session, dispute, caller, body, now, index)) or {})
    dispute.state, dispute.updated_at = action.moves[from_state] or from_state, now
    disputes.log(session, dispute, caller, action.name, from_state, record, now)
    return dispute


def _stale(dispute: Dispute | None, caller: Identity) -> Stale:
    return Stale("the dispute was changed by someone else meanwhile; reload it and try again",
                 extra={"allowed_actions": allowed_for(dispute, caller) if dispute else [],
                        "state": dispute.state if dispute else None, "stale": True})
