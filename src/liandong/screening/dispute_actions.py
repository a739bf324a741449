"""Acting on a dispute: its table of actions, run by the screening registers' one path (``register_table.py``). Refusals
carry codes: ``not_allowed_in_state`` (with ``allowed_actions``), ``role_needed``, ``stale``, ``missing_field``,
``invalid_field``, ``tier_held_above`` (the dispute went up to a tier the caller's jurisdiction does not hold),
``top_tier`` (no tier above the task force), ``incident_exists``. Raising an incident is anyone's who may see the
dispute and open incidents, whatever the tier: a mass incident does not wait for the holder.

A dispute at risk of a mass incident is raised into a social-security incident through
``emergency.intake.open_incident`` (``raise_incident``): the dispute records the incident, and the incident's
command log gets a note naming the dispute, so each history names the other. The service never commits.
"""

from __future__ import annotations

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases.visibility import ancestors
from liandong.emergency import intake as incident_intake
from liandong.emergency import log as incident_log
from liandong.emergency.payloads import IncidentIn
from liandong.emergency.states import CREATE_ROLES
from liandong.errors import Conflict, DomainError, Forbidden
from liandong.screening import dispute_states as ds
from liandong.screening import disputes, register_table
from liandong.screening.dispute_models import Dispute
from liandong.screening.dispute_payloads import (
    Assign,
    Callback,
    Escalate,
    Mediate,
    RaiseIncident,
    Regrade,
    Reopen,
    Resolve,
)

Doing = register_table.Doing[Dispute]
Action = register_table.Action[Dispute]


def _assign(d: Doing) -> dict:
    assert isinstance(d.payload, Assign)
    was = {"mediator": d.row.mediator} if d.row.mediator else {}
    d.row.mediator = d.payload.mediator
    return {"was": was} if was else {}


def _escalate(d: Doing) -> dict:
    was = d.row.tier
    d.row.tier = ds.TIERS[ds.TIERS.index(was) + 1]
    return {"was": {"tier": was}, "tier": d.row.tier}


def _regrade(d: Doing) -> dict:
    assert isinstance(d.payload, Regrade)
    was, d.row.risk = d.row.risk, d.payload.risk
    return {"was": {"risk": was}}


def _resolve(d: Doing) -> None:
    assert isinstance(d.payload, Resolve)
    d.row.outcome = d.payload.outcome


def _callback(d: Doing) -> None:
    d.row.closed_at = d.now


def _reopen(d: Doing) -> dict:
    """The settlement did not hold: the outcome recorded is withdrawn (the event keeps it)."""
    was, d.row.outcome = d.row.outcome, None
    return {"was": {"outcome": was}}


def _raise(d: Doing) -> dict:
    body = d.payload
    assert isinstance(body, RaiseIncident)
    x = d.row
    incident = incident_intake.open_incident(
        d.session, d.index or GridIndex.build(d.session), d.caller,
        IncidentIn(title=body.title or f"矛盾纠纷 {x.number}：{x.title}"[:200], category="social_security",
                   type="群体性事件风险", grade=body.grade, lon=x.lon, lat=x.lat), d.now)
    incident_log.add(d.session, incident, d.caller, kind="note", now=d.now, from_state=incident.state,
                     text=f"由矛盾纠纷 {x.number} 升级 (raised from dispute {x.number})",
                     payload={"dispute_id": x.id, "dispute_number": x.number})
    x.incident_id = incident.id
    return {"incident_id": incident.id, "incident_number": incident.number}


def holds_tier(x: Dispute, caller: Identity) -> DomainError | None:
    """小事不出村、大事不出镇: a dispute escalated to the town is the town's; the village that sent it up reads it
    but acts no more (the caller's jurisdiction must hold the tier's whole area, see ``TIER_HOLDER``)."""
    chain = ancestors(x.area_path)
    holder = chain[max(len(chain) - 1 - ds.TIER_UP[x.tier], 0)]
    if caller.scope.covers_path(holder):
        return None
    level = ds.TIER_HOLDER[x.tier]
    return Forbidden(f"the dispute is at the {x.tier} tier: it is acted on by a jurisdiction holding its whole "
                     f"{level}", code="tier_held_above", params={"tier": x.tier, "level": level})


def _below_top(x: Dispute, caller: Identity) -> DomainError | None:
    if x.tier == ds.TIERS[-1]:
        return Conflict("the task force is the highest tier", code="top_tier")
    return None


def _no_incident(x: Dispute, caller: Identity) -> DomainError | None:
    return Conflict("the dispute was raised into an incident already", code="incident_exists") \
        if x.incident_id is not None else None


OPEN = dict.fromkeys(("registered", "mediating"))
REGISTER = register_table.Register(disputes.SPEC, (
    Action("assign", {"registered": "mediating", "mediating": None}, ds.ASSIGN_ROLES, Assign, _assign),
    Action("mediate", {"mediating": None}, ds.MEDIATE_ROLES, Mediate),
    Action("escalate", OPEN, ds.ASSIGN_ROLES, Escalate, _escalate, _below_top),
    Action("regrade", dict.fromkeys(ds.OPEN_STATES), ds.ASSIGN_ROLES, Regrade, _regrade),
    Action("resolve", {"mediating": "resolved"}, ds.MEDIATE_ROLES, Resolve, _resolve),
    Action("callback", {"resolved": "closed"}, ds.MEDIATE_ROLES, Callback, _callback),
    Action("reopen", {"resolved": "mediating"}, ds.MEDIATE_ROLES, Reopen, _reopen),
    Action("raise_incident", OPEN, CREATE_ROLES, RaiseIncident, _raise, _no_incident, authority=False),
), disputes.get, disputes.sees, holds_tier)
TABLE, NAMES, NEEDS = REGISTER.table, REGISTER.names, REGISTER.needs
refusal, allowed_for, act = REGISTER.refusal, REGISTER.allowed_for, REGISTER.act
