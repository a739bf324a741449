"""Escalating plan tasks on natural time: a task not acknowledged within ``task_ack_minutes`` of its assignment,
and a task not done by its ``due_at``, are each escalated once (``ack_escalated_at``, ``late_escalated_at`` on
the task), with an entry in the incident's log and a notice to the owner unit and to the units running the
incident (the commander's unit and the district centre). Emergencies do not wait for working hours, so neither
do these clocks (no working calendar here, unlike the case stages' sweep).

Safe with several processes on one database, as the case sweep (``cases/sla.py``) is: a task is claimed by a
conditional UPDATE that sets its escalation time only where it is still unset and the task still qualifies, and
only the rows that UPDATE returns are escalated by this process — so each task is escalated once, whichever
process gets there. An escalation leaves the task's version alone: it changes nothing its unit acts on, so an
acknowledgement on the way is not refused as stale. The caller commits; ``now`` is injectable.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.emergency import log, notices, tasks
from liandong.emergency.models import Incident, Task
from liandong.emergency.states import TASK_LOG_KIND
from liandong.emergency.task_actions import describe

SYSTEM = Identity(roles=frozenset(), unit_id=None, username="sweep")
KINDS = {
    "unacknowledged": (Task.ack_escalated_at, "task_unacked"),
    "late": (Task.late_escalated_at, "task_late"),
}
"""Each kind of escalation: the column that records it once, and the log action and notice kind it makes."""


def sweep(session: Session, now: dt.datetime, ack_minutes: float | None = None, limit: int = 2000) -> dict:
    """Escalate what is due (at most ``limit`` tasks per kind); returns the ids escalated, by kind."""
    rules = {"unacknowledged": tasks.unacknowledged_sql(now, ack_minutes), "late": tasks.late_sql(now)}
    out: dict[str, list[int]] = {}
    for kind, (column, action) in KINDS.items():
        due = session.execute(select(Task.id, Task.incident_id).where(rules[kind], column.is_(None))
                              .order_by(Task.id).limit(limit)).all()
        if not due:
            out[kind] = []
            continue
        log.lock(session, {incident_id for _, incident_id in due})  # incident before task, as every writer
        claimed = session.scalars(
            update(Task).where(Task.id.in_([task_id for task_id, _ in due]), rules[kind], column.is_(None))
            .values({column: now}).returning(Task.id)
            .execution_options(synchronize_session=False)).all()
        out[kind] = sorted(claimed)
        _tell(session, sorted(claimed), kind, action, now, ack_minutes)
    session.flush()
    return out


def _tell(session: Session, ids: list[int], kind: str, action: str, now: dt.datetime,
          ack_minutes: float | None) -> None:
    """The log entry and the notices of each task escalated."""
    if not ids:
        return
    rows = session.scalars(select(Task).where(Task.id.in_(ids)).order_by(Task.id)
                           .execution_options(populate_existing=True)).all()
    incidents = {i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_({t.incident_id
                                                                                        for t in rows})))}
    runners = {i: notices.command_units(session, incident) for i, incident in incidents.items()}
    told = []
    for task in rows:
        incident = incidents[task.incident_id]
        detail = ({"assigned_at": task.created_at.isoformat(), "ack_minutes": tasks.ack_minutes(ack_minutes)}
                  if kind == "unacknowledged" else {"due_at": task.due_at.isoformat(), "state": task.state})
        log.add(session, incident, SYSTEM, kind=TASK_LOG_KIND, action=action, from_state=incident.state,
                payload={**describe(session, task), **detail}, now=now)
        for unit_id in dict.fromkeys([task.owner_unit_id, *runners[task.incident_id]]):
            told.append((unit_id, action, notices.about_task(incident, task.id, task.title, task.due_at)))
    notices.send(session, told, now)
