"""Notices about incidents, to units: a plan activated, a task assigned, a task not acknowledged in time, a task
past its deadline. The one place that writes them.

They are the case core's notices (``cases.models.Notification``) without a case: kind and details only, worded
by the one table of wordings (``cases/notifications.py``, ``WORDING``) from the details' ``note``; the details
also name the incident (``incident_id``, ``incident_number``), the task when there is one, and ``exercise``
for a drill, so a page can link and mark them. Written in bulk: a district-wide activation tells hundreds of
units at once.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from liandong.auth.models import User
from liandong.cases.models import Notification
from liandong.emergency.models import Incident
from liandong.units.models import Unit

KINDS = ("plan_activated", "task_assigned", "task_unacked", "task_late")


def about(incident: Incident, note: str, **more) -> dict:
    """The details of a notice about ``incident``."""
    return {"incident_id": incident.id, "incident_number": incident.number, "note": note,
            **({"exercise": True} if incident.exercise else {}), **more}


def about_task(incident: Incident, task_id: int, title: str, due_at: dt.datetime, **more) -> dict:
    """The details of a notice about one of its tasks."""
    return about(incident, f"{incident.number} {title}", task_id=task_id, title=title, due_at=due_at.isoformat(),
                 **more)


def send(session: Session, notices: list[tuple[int, str, dict]], now: dt.datetime) -> int:
    """Store ``(unit_id, kind, details)`` notices in one statement; returns how many."""
    if notices:
        session.execute(insert(Notification), [
            {"unit_id": unit_id, "case_id": None, "kind": kind, "details": details, "created_at": now}
            for unit_id, kind, details in notices])
    return len(notices)


def command_units(session: Session, incident: Incident) -> list[int]:
    """Who runs the incident: the commander's unit when one is named, and the district centre."""
    units = []
    if incident.commander_id is not None:
        mine = session.scalar(select(User.unit_id).where(User.id == incident.commander_id))
        units += [mine] if mine else []
    centre = session.scalar(select(Unit.id).where(Unit.kind == "centre").order_by(Unit.id).limit(1))
    return list(dict.fromkeys([*units, *([centre] if centre else [])]))
