"""Cases and incidents, one history: a case raised into an incident or linked to it later gets a row here and an
event in its own log (``cases/escalation.py``); it stays a case, handled by its departments, whatever becomes of
the incident. Standing an incident down names the cases still open: they carry on as routine work."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.cases import escalation
from liandong.cases import queries as case_queries
from liandong.cases.models import Case
from liandong.cases.states import CLOSED_STATES
from liandong.emergency.models import Incident, IncidentCase
from liandong.errors import Conflict


def attach(session: Session, incident: Incident, case_id: int, caller: Identity, now: dt.datetime, *,
           how: str) -> Case:
    """Tie a case the caller sees (404 otherwise) to the incident: ``raised`` from it, or ``linked`` later."""
    case = case_queries.get(session, case_id, caller)
    if incident.exercise:  # a drill never touches real work: a case is real, and its history would show the drill
        raise Conflict(f"incident {incident.number} is an exercise: real cases are not tied to drills",
                       code="exercise_case", params={"case": case.number})
    if session.get(IncidentCase, (incident.id, case.id)) is not None:
        raise Conflict(f"case {case.number} is linked to this incident already", code="case_already_linked",
                       params={"case": case.number})
    session.add(IncidentCase(incident_id=incident.id, case_id=case.id, how=how, created_at=now))
    tell = escalation.raised if how == "raised" else escalation.linked
    tell(session, case, caller, incident.id, incident.number, now)
    return case


def of(session: Session, incident_ids: list[int]) -> dict[int, list[dict]]:
    """The cases of each incident (oldest link first): id, number, state, when reported, how tied."""
    out: dict[int, list[dict]] = {i: [] for i in incident_ids}
    rows = session.execute(select(IncidentCase.incident_id, IncidentCase.how, Case.id, Case.number, Case.state,
                                  Case.created_at).join(Case, Case.id == IncidentCase.case_id)
                           .where(IncidentCase.incident_id.in_(incident_ids))
                           .order_by(IncidentCase.created_at, Case.id)) if incident_ids else ()
    for r in rows:
        out[r.incident_id].append({"id": r.id, "number": r.number, "state": r.state, "how": r.how,
                                   "created_at": r.created_at})
    return out


def still_open(session: Session, incident: Incident) -> list[dict]:
    """The incident's cases not closed yet: they go back to (stay in) routine handling when it stands down."""
    return [{"id": c["id"], "number": c["number"], "state": c["state"]}
            for c in of(session, [incident.id])[incident.id] if c["state"] not in CLOSED_STATES]
