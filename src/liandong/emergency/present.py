"""Incidents and their log as the API shows them: the row, its place and areas, commander, cases, links, what
the caller may do now and the 五早 clock."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.auth.models import User
from liandong.emergency import actions, five_early, linked_cases, queries
from liandong.emergency.models import Incident, IncidentEvent


def _at(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


def brief(incident: Incident) -> dict:
    """An incident in a list."""
    return {"id": incident.id, "number": incident.number, "title": incident.title, "category": incident.category,
            "type": incident.type, "grade": incident.grade, "warning_level": incident.warning_level,
            "response_level": incident.response_level, "state": incident.state, "version": incident.version,
            "exercise": incident.exercise, "lon": incident.lon, "lat": incident.lat,
            "occurred_at": _at(incident.occurred_at), "created_at": _at(incident.created_at),
            "closed_at": _at(incident.closed_at), "outcome": incident.outcome}


def incident_dict(session: Session, incident: Incident, caller: Identity, now: dt.datetime,
                  limit_minutes: float | None = None) -> dict:
    """One incident in full."""
    grid = session.execute(select(Area.code, Area.name).where(Area.id == incident.grid_id)).first()
    commander = session.execute(select(User.username, User.display_name).where(
        User.id == incident.commander_id)).first() if incident.commander_id else None
    cases = linked_cases.of(session, [incident.id])[incident.id]
    return {
        **brief(incident),
        "grid_code": grid.code if grid else None, "grid_name": grid.name if grid else None,
        "areas": queries.areas(session, incident.id),
        "commander": {"username": commander.username, "name": commander.display_name} if commander else None,
        "cases": [{**c, "created_at": _at(c["created_at"])} for c in cases],
        "links": queries.links(session, incident.id),
        "allowed_actions": actions.allowed_for(incident, caller),
        "five_early": five_early.of(session, [incident], now, limit_minutes)[incident.id],
    }


def event_dict(e: IncidentEvent, names: dict[int, str] | None = None) -> dict:
    """A log entry; with ``names`` (``actor_names``) who wrote it as people read it."""
    return {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "actor_name": (names or {}).get(e.actor_id),
            "kind": e.kind, "action": e.action, "from": e.from_state, "to": e.to_state, "text": e.text,
            "payload": e.payload}


def actor_names(session: Session, events: list[IncidentEvent]) -> dict[int, str]:
    ids = {e.actor_id for e in events if e.actor_id}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, func.coalesce(User.display_name, User.username))
                                .where(User.id.in_(ids))).all())
