"""Reading incidents within the caller's sight: one incident, a filtered page, its areas and links."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.emergency import states
from liandong.emergency.models import Incident, IncidentArea, IncidentLink
from liandong.emergency.visibility import visible
from liandong.errors import Invalid, NotFound


def get(session: Session, incident_id: int, caller: Identity) -> Incident:
    """An incident the caller may see; 404 otherwise (outside their sight it does not exist for them)."""
    incident = session.scalar(visible(select(Incident).where(Incident.id == incident_id), caller))
    if incident is None:
        raise NotFound(f"incident {incident_id} not found", code="incident_not_found",
                       params={"incident_id": incident_id})
    return incident


def page(session: Session, caller: Identity, *, state: str | None = None, category: str | None = None,
         exercise: bool | None = None, open_only: bool = False, limit: int = 50,
         offset: int = 0) -> tuple[list[Incident], int]:
    """The visible incidents matching the filters (``open_only``: not closed), newest first, and how many match
    in all."""
    stmt = visible(select(Incident), caller)
    if open_only:
        stmt = stmt.where(Incident.state.not_in(states.CLOSED_STATES))
    if state is not None:
        if state not in states.STATES:
            raise Invalid(f"state must be one of {', '.join(states.STATES)}", code="unknown_state",
                          params={"state": state})
        stmt = stmt.where(Incident.state == state)
    if category is not None:
        if category not in states.CATEGORIES:
            raise Invalid(f"category must be one of {', '.join(states.CATEGORIES)}", code="unknown_category",
                          params={"category": category})
        stmt = stmt.where(Incident.category == category)
    if exercise is not None:
        stmt = stmt.where(Incident.exercise.is_(exercise))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Incident.created_at.desc(), Incident.id.desc()).limit(limit).offset(offset))
    return list(rows), int(total or 0)


def areas(session: Session, incident_id: int) -> list[dict]:
    """The areas the incident affects, by code."""
    rows = session.execute(select(Area.code, Area.name, Area.level).join(IncidentArea, IncidentArea.area_id == Area.id)
                           .where(IncidentArea.incident_id == incident_id).order_by(Area.code))
    return [{"code": r.code, "name": r.name, "level": r.level} for r in rows]


def links(session: Session, incident_id: int) -> list[dict]:
    """Incidents linked to this one either way: ``direction`` 'to' when the other is this one's secondary or
    derived incident, 'from' when this one is the other's."""
    rows = session.execute(select(IncidentLink, Incident.number, Incident.title, Incident.state)
                           .join(Incident, or_(
                               (IncidentLink.incident_id == incident_id) & (Incident.id == IncidentLink.other_id),
                               (IncidentLink.other_id == incident_id) & (Incident.id == IncidentLink.incident_id)))
                           .where(or_(IncidentLink.incident_id == incident_id, IncidentLink.other_id == incident_id))
                           .order_by(IncidentLink.id))
    return [{"id": link.other_id if link.incident_id == incident_id else link.incident_id, "number": number,
             "title": title, "state": state, "kind": link.kind,
             "direction": "to" if link.incident_id == incident_id else "from"}
            for link, number, title, state in rows]


def linked(session: Session, incident_id: int, other_id: int) -> bool:
    """Whether the two incidents are linked already, either way."""
    pair = {incident_id, other_id}
    return session.scalar(select(func.count()).select_from(IncidentLink).where(
        IncidentLink.incident_id.in_(pair), IncidentLink.other_id.in_(pair))) > 0
