"""Reading issued warnings within the caller's sight: those of one incident, or of every incident they see (the
incident's visibility rule decides, ``visibility.py``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.emergency import queries
from liandong.emergency.cap.models import IssuedWarning
from liandong.emergency.models import Incident
from liandong.emergency.visibility import visible
from liandong.errors import Invalid

STATES = ("current", "superseded", "expired", "cancel")
"""current: in force and in the feed; superseded: a later Update or Cancel replaced it; expired; cancel: a Cancel
message itself."""


def state_at(w: IssuedWarning, now: dt.datetime) -> str:
    if w.msg_type == "Cancel":
        return "cancel"
    if w.superseded_at is not None:
        return "superseded"
    return "expired" if w.expires <= now else "current"


def of_incident(session: Session, incident_id: int, caller: Identity) -> tuple[Incident, list[IssuedWarning]]:
    """The incident (404 outside the caller's sight) and its warnings, newest first."""
    incident = queries.get(session, incident_id, caller)
    rows = session.scalars(select(IssuedWarning).where(IssuedWarning.incident_id == incident.id)
                           .order_by(IssuedWarning.sent.desc(), IssuedWarning.identifier.desc()))
    return incident, list(rows)


def page(session: Session, caller: Identity, now: dt.datetime, *, state: str | None = None,
         exercise: bool | None = None, limit: int = 100,
         offset: int = 0) -> tuple[list[tuple[IssuedWarning, Incident]], int]:
    """Warnings of the incidents the caller sees, newest first, with their incidents."""
    stmt = visible(select(IssuedWarning, Incident).join(Incident, Incident.id == IssuedWarning.incident_id), caller)
    if state == "current":
        stmt = stmt.where(IssuedWarning.msg_type != "Cancel", IssuedWarning.superseded_at.is_(None),
                          IssuedWarning.expires > now)
    elif state == "superseded":
        stmt = stmt.where(IssuedWarning.msg_type != "Cancel", IssuedWarning.superseded_at.is_not(None))
    elif state == "expired":
        stmt = stmt.where(IssuedWarning.msg_type != "Cancel", IssuedWarning.superseded_at.is_(None),
                          IssuedWarning.expires <= now)
    elif state == "cancel":
        stmt = stmt.where(IssuedWarning.msg_type == "Cancel")
    elif state is not None:
        raise Invalid(f"state must be one of {', '.join(STATES)}", code="unknown_state", params={"state": state})
    if exercise is not None:
        stmt = stmt.where(IssuedWarning.exercise.is_(exercise))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(stmt.order_by(IssuedWarning.sent.desc(), IssuedWarning.identifier.desc())
                           .limit(limit).offset(offset))
    return [(w, i) for w, i in rows], int(total or 0)
