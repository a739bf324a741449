"""Cases and events as the API shows them: masked reporters (unmasked reads audited), names, allowed actions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.cases import actions, escalation, queries, sla
from liandong.cases.calendar import WorkCalendar, calendar_for
from liandong.cases.models import Case, CaseEvent
from liandong.catalogue import snapshot
from liandong.db import utcnow
from liandong.privacy import mask_id_number, mask_name, mask_phone, reads_unmasked
from liandong.units.models import Unit

UNMASKED_ROLES = frozenset({"receptionist", "shift_leader"})
"""Roles that call reporters back and so see their phone numbers (each read is audited)."""


def case_dict(session: Session, case: Case, actor: Identity, calendar: WorkCalendar | None = None,
              now: dt.datetime | None = None, *, fresh: bool = False) -> dict:
    """The case as the API shows it. ``fresh``: reported in this request, so no unit is assigned and no
    case is merged into it yet (two queries saved on the intake path)."""

    matter = snapshot.current(session).by_id[case.matter_id]
    grid = session.execute(select(Area.code, Area.name).where(Area.id == case.grid_id)).first()
    merged = [] if fresh else queries.merged_into(session, case)
    unmasked = reads_unmasked(session, actor, UNMASKED_ROLES, f"case:{case.id}",
                              ("reporter_name", "reporter_phone", "reporter_id_number"),
                              has_data=any(c.reporter_phone or c.reporter_name or c.reporter_id_number
                                           for c in (case, *merged)))
    assigned = [] if fresh else queries.units_of(session, case)
    unit_names = dict(session.execute(select(Unit.id, Unit.name).where(
        Unit.id.in_([a.unit_id for a in assigned]))).all()) if assigned else {}
    return {
        "id": case.id, "number": case.number, "state": case.state, "version": case.version,
        "matter_code": matter.code, "matter_name": matter.name, "line": matter.line, "urgency": case.urgency,
        "component_code": _component_code(session, case.component_id),
        "channel": case.channel, "description": case.description, "lon": case.lon, "lat": case.lat,
        "grid_code": grid.code if grid else None, "grid_name": grid.name if grid else None,
        "out_of_area": case.out_of_area, "media_url": case.media_url, "lead_unit_id": case.lead_unit_id,
        "units": [{"unit_id": a.unit_id, "name": unit_names.get(a.unit_id), "role": a.role, "status": a.status}
                  for a in assigned],
        "reporter": _reporter(case, unmasked),
        "rework_count": case.rework_count, "master_id": case.master_id, "satisfaction": case.satisfaction,
        "created_at": case.created_at.isoformat(), "updated_at": case.updated_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "allowed_actions": actions.allowed_for(session, case, actor),
        "master": _brief(session.get(Case, case.master_id)) if case.master_id else None,
        "merged": [dict(_brief(c), channel=c.channel,
                        reporter=_reporter(c, unmasked))
                   for c in merged],
        "limits": {lim.stage: {"amount": lim.amount, "unit": lim.unit}
                   for lim in matter.limits if lim.urgency == case.urgency},
        "criteria": {"filing": matter.filing_criteria, "closing": matter.closing_criteria},
        "deadlines": sla.status(case, calendar or calendar_for(session), now or utcnow()),
        "incidents": [] if fresh else escalation.incidents(session, case),
        "hazards": [] if fresh else escalation.hazards(session, case),
    }


def _reporter(case: Case, unmasked: bool) -> dict:
    if unmasked:
        return {"name": case.reporter_name, "phone": case.reporter_phone, "id_number": case.reporter_id_number}
    return {"name": mask_name(case.reporter_name), "phone": mask_phone(case.reporter_phone),
            "id_number": mask_id_number(case.reporter_id_number)}


def _component_code(session: Session, component_id: int | None) -> str | None:
    if component_id is None:
        return None
    from liandong.components.models import Component

    return session.scalar(select(Component.code).where(Component.id == component_id))


def _brief(c: Case) -> dict:
    """A merged case follows its master: show the master's number and live state."""
    return {"id": c.id, "number": c.number, "state": c.state}


def event_dict(e: CaseEvent, names: dict | None = None) -> dict:
    """An event; with ``names`` (from ``actor_names``), who acted as people read it, not a login name."""
    person, unit = (names or {}).get("users", {}).get(e.actor_id), (names or {}).get("units", {}).get(e.unit_id)
    return {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "actor_name": person, "unit_id": e.unit_id,
            "unit_name": unit, "action": e.action, "from": e.from_state, "to": e.to_state, "payload": e.payload}


def actor_names(session: Session, events: list[CaseEvent]) -> dict:
    """Display names of the users and units in ``events`` (two queries for a whole timeline)."""
    from liandong.auth.models import User

    user_ids = {e.actor_id for e in events if e.actor_id}
    unit_ids = {e.unit_id for e in events if e.unit_id}
    users = dict(session.execute(select(User.id, func.coalesce(User.display_name, User.username))
                                 .where(User.id.in_(user_ids))).all()) if user_ids else {}
    units = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) if unit_ids else {}
    return {"users": users, "units": units}

