"""Incident events for live screens (``live/api.py``, ``/api/v1/live/incidents``): each new entry of an incident's
log — a state change, a command-log entry, a task event, a warning — with the incident as a list shows it and what
the visibility rule needs (``visibility.Watcher``: place, affected areas, task owners). No personal data: who
wrote an entry is left out, as the case feed leaves reporters out."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.emergency.models import Incident, IncidentArea, IncidentEvent, Task
from liandong.emergency.visibility import Watcher


def read(session: Session, after: int, limit: int = 1000) -> list[dict]:
    """Incident events with an id above ``after``, oldest first (three queries however many)."""
    rows = session.execute(
        select(IncidentEvent.id, IncidentEvent.incident_id, IncidentEvent.kind, IncidentEvent.action,
               IncidentEvent.from_state, IncidentEvent.to_state, IncidentEvent.at, Incident.number, Incident.title,
               Incident.state, Incident.category, Incident.type, Incident.grade, Incident.warning_level,
               Incident.response_level, Incident.exercise, Incident.lon, Incident.lat, Incident.area_path)
        .join(Incident, Incident.id == IncidentEvent.incident_id)
        .where(IncidentEvent.id > after).order_by(IncidentEvent.id).limit(limit)).all()
    ids = {r.incident_id for r in rows}
    affected: dict[int, list[str]] = {}
    owners: dict[int, list[int]] = {}
    if ids:
        for incident_id, path in session.execute(select(IncidentArea.incident_id, Area.path).join(
                Area, Area.id == IncidentArea.area_id).where(IncidentArea.incident_id.in_(ids))):
            affected.setdefault(incident_id, []).append(path)
        for incident_id, unit_id in session.execute(select(Task.incident_id, Task.owner_unit_id).where(
                Task.incident_id.in_(ids)).distinct()):
            owners.setdefault(incident_id, []).append(unit_id)
    return [{"id": r.id, "incident_id": r.incident_id, "number": r.number, "title": r.title, "state": r.state,
             "category": r.category, "type": r.type, "grade": r.grade, "warning_level": r.warning_level,
             "response_level": r.response_level, "exercise": r.exercise, "kind": r.kind, "action": r.action,
             "from": r.from_state, "to": r.to_state, "at": r.at.isoformat(), "lon": r.lon, "lat": r.lat,
             "area_path": r.area_path, "affected": affected.get(r.incident_id, []),
             "task_units": owners.get(r.incident_id, [])} for r in rows]


def last(session: Session) -> int:
    return int(session.scalar(select(func.max(IncidentEvent.id))) or 0)


def predicate(watcher: Watcher) -> Callable[[dict], bool]:
    """The incident visibility rule over the items of ``read``."""
    return lambda item: watcher.sees(item["area_path"], item["affected"], item["task_units"])
