"""The incident log: the one place that appends an entry (numbered 1, 2, 3… per incident), be it a state-table
action or a command-log entry (decision, order, situation report, note). Entries are never changed: the API has no
route for it and database triggers refuse it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.emergency import states, visibility
from liandong.emergency.models import Incident, IncidentEvent
from liandong.errors import Invalid, role_needed


def lock(session: Session, incident_ids: Iterable[int]) -> None:
    """Hold the incidents' rows until the transaction ends, in id order: taken before numbering an incident's
    log (two writers must not read the same last number) and before changing its tasks, so every writer takes
    incident before task and none waits for another in a circle. On SQLite, where any write holds the one
    database lock to the commit, a no-op update takes it."""
    ids = sorted(set(incident_ids))
    if not ids:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Incident.id).where(Incident.id.in_(ids)).order_by(Incident.id).with_for_update())
    else:
        session.execute(update(Incident).where(Incident.id.in_(ids)).values(id=Incident.id)
                        .execution_options(synchronize_session=False))


def add(session: Session, incident: Incident, caller: Identity, *, kind: str, now: dt.datetime,
        action: str | None = None, from_state: str | None = None, to_state: str | None = None,
        text: str | None = None, payload: dict | None = None) -> IncidentEvent:
    """Append the next entry, numbered under the incident's lock (``lock``); the (incident, seq) pair is unique
    besides. ``to_state`` defaults to the incident's state."""
    lock(session, [incident.id])
    seq = (session.scalar(select(func.max(IncidentEvent.seq)).where(IncidentEvent.incident_id == incident.id))
           or 0) + 1
    event = IncidentEvent(incident_id=incident.id, seq=seq, at=now, actor_id=caller.user_id, actor=caller.name,
                          kind=kind, action=action, from_state=from_state, to_state=to_state or incident.state,
                          text=text, payload=payload or {})
    session.add(event)
    session.flush()
    return event


def write(session: Session, incident: Incident, caller: Identity, kind: str, text: str,
          now: dt.datetime) -> IncidentEvent:
    """A command-log entry by someone running the incident; it leaves the incident's state as it is. Situation
    reports and notes come from anyone on it; decisions and orders from whoever commands it."""
    if kind not in states.LOG_KINDS:
        raise Invalid(f"kind must be one of {', '.join(states.LOG_KINDS)}", code="invalid_field",
                      params={"action": "log", "field": "kind"})
    if states.LOG_ROLES.isdisjoint(caller.roles):
        raise role_needed("log", states.LOG_ROLES, "writing the command log")
    if kind in states.COMMAND_LOG_KINDS and not visibility.commands(session, incident, caller):
        raise visibility.not_commanding(kind)
    return add(session, incident, caller, kind=kind, now=now, from_state=incident.state, text=text)


def entries(session: Session, incident_id: int) -> list[IncidentEvent]:
    """The whole log, oldest first."""
    return list(session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                                .order_by(IncidentEvent.seq)))
