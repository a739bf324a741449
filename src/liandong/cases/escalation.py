"""A case tied to another domain's record keeps one history: raised into an emergency incident (or linked to one
later), or opened from a safety hazard that needs another department. The case gets an event saying so, its state
and its own life cycle unchanged, and shows the incidents and hazards it belongs to from those events.

The emergency and screening domains call these; the case core knows them only by the id and number they record,
so it imports nothing from above itself.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.cases import log
from liandong.cases.models import Case, CaseEvent

ACTIONS = ("raise_incident", "link_incident")
"""The events that tie a case to an incident: raised into a new one, or linked to one already running."""


def raised(session: Session, case: Case, caller: Identity, incident_id: int, number: str,
           now: dt.datetime) -> CaseEvent:
    """The case was raised into incident ``number``."""
    return log.record(session, case, caller, "raise_incident", case.state, case.state,
                      {"incident_id": incident_id, "number": number}, now)


def linked(session: Session, case: Case, caller: Identity, incident_id: int, number: str,
           now: dt.datetime) -> CaseEvent:
    """The case was linked to incident ``number``, which was running already."""
    return log.record(session, case, caller, "link_incident", case.state, case.state,
                      {"incident_id": incident_id, "number": number}, now)


def incidents(session: Session, case: Case) -> list[dict]:
    """The incidents the case belongs to, oldest first, as its events record them."""
    rows = session.scalars(select(CaseEvent.payload).where(CaseEvent.case_id == case.id,
                                                           CaseEvent.action.in_(ACTIONS)).order_by(CaseEvent.seq))
    return [{"id": p["incident_id"], "number": p["number"]} for p in rows]


def from_hazard(session: Session, case: Case, caller: Identity, hazard_id: int, number: str,
                now: dt.datetime) -> CaseEvent:
    """The case was opened from safety hazard ``number`` (screening), for the department that must act."""
    return log.record(session, case, caller, "from_hazard", case.state, case.state,
                      {"hazard_id": hazard_id, "number": number}, now)


def hazards(session: Session, case: Case) -> list[dict]:
    """The safety hazards the case was opened from, as its events record them."""
    rows = session.scalars(select(CaseEvent.payload).where(CaseEvent.case_id == case.id,
                                                           CaseEvent.action == "from_hazard").order_by(CaseEvent.seq))
    return [{"id": p["hazard_id"], "number": p["number"]} for p in rows]
