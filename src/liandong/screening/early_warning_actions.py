"""Deciding on an early warning: watch, dismiss, or promote to an incident (the evidence cases linked: the first
raised into it, the others linked, so each case's own log names the incident — one history; the evidence hazards
and disputes name it in their logs too). Each decision is an
event in the warning's history (actor, note); audited; the caller commits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases.models import Case
from liandong.cases.payloads import parse
from liandong.cases.visibility import visible as cases_visible
from liandong.emergency import intake, linked_cases, log
from liandong.emergency.models import Incident
from liandong.emergency.payloads import IncidentIn
from liandong.errors import Conflict, NotFound, Stale, role_needed
from liandong.screening import disputes, hazards, registers
from liandong.screening import early_warning_log as history
from liandong.screening import early_warning_queries as queries
from liandong.screening.dispute_models import Dispute
from liandong.screening.early_warning_input import kind_names
from liandong.screening.early_warning_models import EarlyWarning
from liandong.screening.early_warning_payloads import WarningAction
from liandong.screening.early_warning_states import ACT_ROLES, ACTIONS, allowed
from liandong.screening.hazard_models import Hazard


def may_act(caller: Identity) -> bool:
    return not ACT_ROLES.isdisjoint(caller.roles)


def act(session: Session, warning_id: int, action: str, caller: Identity, payload: dict, now: dt.datetime,
        index: GridIndex) -> EarlyWarning:
    if action not in ACTIONS:  # as on cases, incidents and the registers: no such action is not found
        raise NotFound(f"unknown action {action!r}: one of {', '.join(ACTIONS)}", code="unknown_action",
                       params={"action": action})
    warning = queries.get(session, warning_id, caller)
    if not may_act(caller):
        raise role_needed(action, ACT_ROLES, f"{action!r} on an early warning")
    body = parse(action, WarningAction, payload)
    if body.version is not None and body.version != warning.version:
        raise Stale(f"early warning {warning.id} changed meanwhile (version {warning.version}): read it again",
                    code="stale", extra={"version": warning.version})
    froms, to = ACTIONS[action]
    if warning.status not in froms:
        raise Conflict(f"{action!r} is not allowed on an early warning that is {warning.status}",
                       code="warning_status", params={"action": action, "status": warning.status},
                       extra={"allowed_actions": allowed(warning.status)})
    before = warning.status
    if action == "promote":
        warning.incident_id = _promote(session, warning, caller, body, now, index)
    warning.status = to
    session.flush()  # the versioned UPDATE: the row is held from here, the history numbered under it
    note = body.note or body.reason
    history.append(session, warning, action, now, actor_id=caller.user_id, actor=caller.name, note=note,
               payload={"from": before, "to": to, "incident_id": warning.incident_id})
    audit.record(session, f"early_warning_{action}", actor_id=caller.user_id, actor_name=caller.name,
                 target=f"early_warning:{warning.id}",
                 detail={"from": before, "to": to, "note": body.note, "incident_id": warning.incident_id})
    return warning


def _promote(session: Session, warning: EarlyWarning, caller: Identity, body: WarningAction, now: dt.datetime,
             index: GridIndex) -> int:
    """Open the incident at the centre grid, affecting the warning's grids, with the evidence the caller sees tied to
    it: cases linked (the earliest raised into it), hazards and disputes naming it in their logs."""
    case_ids = list(session.scalars(cases_visible(select(Case.id).where(Case.id.in_(warning.case_ids)), caller)
                                    .order_by(Case.created_at, Case.id)))
    names = kind_names(session, set(warning.matter_codes[:3]))
    matters = "、".join(names[c] for c in warning.matter_codes[:3])
    title = body.title or f"早研判 #{warning.id}: {matters} {warning.observed} 起聚集 ({warning.centre_grid_code})"
    incident = intake.open_incident(session, index, caller, IncidentIn(
        title=title[:200], category=body.category, type=body.type, grade=body.grade, lon=warning.lon,
        lat=warning.lat, area_codes=warning.grid_codes[:200], case_id=case_ids[0] if case_ids else None,
        occurred_at=None if case_ids else warning.window_start), now)
    for case_id in case_ids[1:]:
        linked_cases.attach(session, incident, case_id, caller, now, how="linked")
    linked = _link_registered(session, warning, incident, caller, now)
    log.add(session, incident, caller, kind="note", now=now, from_state=incident.state,  # each side names the other
            text=f"由早研判预警 #{warning.id} 升级 (promoted from early warning #{warning.id})",
            payload={"early_warning_id": warning.id, "observed": warning.observed, "expected": warning.expected,
                     "p_value": warning.p_value, **linked})
    return incident.id


def _link_registered(session: Session, warning: EarlyWarning, incident: Incident, caller: Identity,
                     now: dt.datetime) -> dict[str, list[int]]:
    """The evidence hazards and disputes the caller sees, each with a ``link_incident`` entry in its own log naming
    the incident (a dispute also records it, as when raised into one: it is not raised again); returns their ids
    for the incident's note."""
    payload = {"incident_id": incident.id, "incident_number": incident.number, "early_warning_id": warning.id}
    found = list(session.scalars(hazards.visible(select(Hazard).where(Hazard.id.in_(warning.hazard_ids)), caller)
                                 .order_by(Hazard.id)))
    for h in found:
        registers.append(session, hazards.SPEC, h, caller, "link_incident", h.state, payload, now)
    held = list(session.scalars(disputes.visible(select(Dispute).where(Dispute.id.in_(warning.dispute_ids)),
                                                 caller).order_by(Dispute.id)))
    for x in held:
        if x.incident_id is None:
            x.incident_id = incident.id
        registers.append(session, disputes.SPEC, x, caller, "link_incident", x.state, payload, now)
    return {"hazard_ids": [h.id for h in found], "dispute_ids": [x.id for x in held]}
