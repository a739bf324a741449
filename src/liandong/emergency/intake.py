"""Opening an incident: the one way a report becomes an incident row and its first event.

The place is located on the grid index as a case's is (inside the caller's jurisdiction); the affected areas
are named by code; a case may be raised into it (``linked_cases.py``), which dates the discovery back to the
case's report unless the reporter says when it was discovered. The creation is audited.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas.index import GridIndex, place
from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.auth.models import User
from liandong.cases import queries as case_queries
from liandong.config import get_settings
from liandong.emergency import linked_cases, log
from liandong.emergency.models import Incident, IncidentArea
from liandong.emergency.payloads import IncidentIn
from liandong.emergency.states import CREATE_ROLES
from liandong.errors import Invalid, role_needed

AREA_LEVELS = ("town", "community", "grid")
"""What an incident may name as affected: towns, communities and unit grids."""


def open_incident(session: Session, index: GridIndex, caller: Identity, body: IncidentIn,
                  now: dt.datetime) -> Incident:
    """Report an incident (state ``reported``); the caller commits."""
    if CREATE_ROLES.isdisjoint(caller.roles):
        raise role_needed("create", CREATE_ROLES, "reporting an incident")
    grid, lon, lat = place(index, body.lon, body.lat, body.crs, caller.scope)
    case = case_queries.get(session, body.case_id, caller) if body.case_id is not None else None
    occurred = _occurred(body.occurred_at, case.created_at if case else now, now)
    area_ids = _areas(session, body.area_codes)
    commander = _commander(session, body.commander)
    incident = Incident(number=_number(session, now), title=body.title, category=body.category, type=body.type,
                        grade=body.grade, warning_level=body.warning_level, lon=lon, lat=lat, grid_id=grid.id,
                        area_path=grid.path, commander_id=commander, exercise=body.exercise, state="reported",
                        occurred_at=occurred, created_at=now, created_by=caller.user_id, updated_at=now)
    session.add(incident)
    session.flush()
    session.add_all(IncidentArea(incident_id=incident.id, area_id=a) for a in area_ids.values())
    facts = {"category": body.category, "type": body.type, "grade": body.grade, "area_codes": list(area_ids),
             **({"warning_level": body.warning_level} if body.warning_level else {}),
             **({"exercise": True} if body.exercise else {}),
             **({"commander": body.commander.strip()} if commander else {}),
             **({"case_id": case.id, "case_number": case.number} if case else {})}
    log.add(session, incident, caller, kind="action", action="report", to_state="reported", payload=facts, now=now)
    if case is not None:
        linked_cases.attach(session, incident, case.id, caller, now, how="raised")
    audit.record(session, "incident_created", actor_id=caller.user_id, actor_name=caller.name,
                 target=f"incident:{incident.id}", detail={"number": incident.number, "case_id": body.case_id})
    return incident


def _occurred(given: dt.datetime | None, default: dt.datetime, now: dt.datetime) -> dt.datetime:
    """When it was discovered: as given (local time when no offset is given), never after the report."""
    if given is None:
        return default
    if given.tzinfo is None:
        given = given.replace(tzinfo=ZoneInfo(get_settings().timezone))
    if not 1970 <= given.year <= 2100:
        raise Invalid("occurred_at must lie between 1970 and 2100", code="bad_date")
    if given > now:
        raise Invalid("occurred_at lies in the future", code="occurred_in_future")
    return given


def _areas(session: Session, codes: list[str]) -> dict[str, int]:
    """Area ids by code, in the order given (each once); an unknown code is refused by name."""
    wanted = list(dict.fromkeys(c.strip() for c in codes))
    if not wanted:
        return {}
    found = dict(session.execute(select(Area.code, Area.id).where(Area.code.in_(wanted),
                                                                   Area.level.in_(AREA_LEVELS))).all())
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise Invalid(f"unknown area codes (towns, communities or unit grids): {', '.join(unknown)}",
                      code="unknown_area", params={"areas": unknown})
    return {c: found[c] for c in wanted}


def _commander(session: Session, username: str | None) -> int | None:
    if username is None:
        return None
    user = session.scalar(select(User).where(User.username == username.strip(), User.is_active.is_(True)))
    if user is None or "commander" not in user.roles:
        raise Invalid(f"{username!r} is no active user with the commander role", code="unknown_commander",
                      params={"username": username})
    return user.id


def _number(session: Session, now: dt.datetime) -> str:
    """``YJ-<local day>-<n>``: incidents are never deleted, so the day's count gives the next number (two reports
    racing for one number: one of them fails on the unique number and is answered 409)."""
    day = now.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y%m%d")
    prefix = f"YJ-{day}-"
    taken = session.scalar(select(func.count()).select_from(Incident).where(Incident.number.startswith(prefix)))
    return f"{prefix}{(taken or 0) + 1:04d}"
