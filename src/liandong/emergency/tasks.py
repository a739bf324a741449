"""Plan tasks: who may see and act on one, the two lateness rules, reading an incident's tasks, and cancelling
the open ones when the incident ends.

A task belongs to its owner unit; that unit's staff act on it, and so do the staff of the unit heading it (the
rule of ``units/heading.py``, as for cases: a sub-centre for its workstations, a department for its branches).
A caller sees a task when they see its incident (``visibility.py``, which counts the tasks their unit acts for);
otherwise it does not exist for them (404).

Lateness, defined once as a Python predicate and as SQL (the sweep and the figures use the SQL, pages the
predicate): a task is *unacknowledged* when it asks for an acknowledgement, is still ``assigned`` and was
assigned ``task_ack_minutes`` ago or more; it is *late* when it is open at or after its ``due_at``. Both run on
natural time.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.config import get_settings
from liandong.emergency import queries
from liandong.emergency.models import Incident, Task
from liandong.emergency.states import OPEN_TASK_STATES, TASK_ROLES, TASK_STATES
from liandong.errors import Invalid, NotFound
from liandong.units import heading
from liandong.units.models import Unit


def ack_minutes(given: float | None = None) -> float:
    return get_settings().task_ack_minutes if given is None else given


def unacknowledged(task: Task, now: dt.datetime, minutes: float | None = None) -> bool:
    return (task.ack_required and task.state == "assigned"
            and task.created_at + dt.timedelta(minutes=ack_minutes(minutes)) <= now)


def unacknowledged_sql(now: dt.datetime, minutes: float | None = None) -> ColumnElement:
    return and_(Task.ack_required.is_(True), Task.state == "assigned",
                Task.created_at <= now - dt.timedelta(minutes=ack_minutes(minutes)))


def late(task: Task, now: dt.datetime) -> bool:
    return task.state in OPEN_TASK_STATES and task.due_at <= now


def late_sql(now: dt.datetime) -> ColumnElement:
    return and_(Task.state.in_(OPEN_TASK_STATES), Task.due_at <= now)


def chains(session: Session, unit_ids: set[int]) -> dict[int, set[int]]:
    """Each owner unit → the units whose staff act for it (``units/heading.py``: itself and the unit heading it)."""
    return heading.acting(session, unit_ids)


def acts_for(caller: Identity, chain: set[int]) -> bool:
    """Whether the caller acts for the owner in ``chain``: their unit is the owner or heads it, and they hold a
    staff role (a citizen's account at the centre acts for nobody)."""
    return caller.unit_id is not None and caller.unit_id in chain and not TASK_ROLES.isdisjoint(caller.roles)


def get(session: Session, task_id: int, caller: Identity) -> Task:
    """A task the caller sees (its incident, or they act for its owner); 404 ``task_not_found`` otherwise."""
    task = session.get(Task, task_id)
    if task is not None:
        try:
            queries.get(session, task.incident_id, caller)  # the owner's staff see the incident (visibility.py)
            return task
        except NotFound:
            pass
    raise NotFound(f"task {task_id} not found", code="task_not_found", params={"task_id": task_id})


def page(session: Session, incident: Incident, caller: Identity, *, state: str | None = None, mine: bool = False,
         limit: int = 500, offset: int = 0) -> tuple[list[Task], int]:
    """The incident's tasks (the incident read within the caller's sight), by level from the lowest response
    level up, then deadline; ``mine``: only those the caller acts for."""
    stmt = select(Task).where(Task.incident_id == incident.id)
    if state is not None:
        if state not in TASK_STATES:
            raise Invalid(f"state must be one of {', '.join(TASK_STATES)}", code="unknown_state",
                          params={"state": state})
        stmt = stmt.where(Task.state == state)
    if mine:
        owners = set(session.scalars(select(Task.owner_unit_id).where(Task.incident_id == incident.id).distinct()))
        stmt = stmt.where(Task.owner_unit_id.in_([u for u, chain in chains(session, owners).items()
                                                  if acts_for(caller, chain)]))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Task.level.desc(), Task.due_at, Task.id).limit(limit).offset(offset))
    return list(rows), int(total or 0)


def counts(session: Session, incident_id: int, now: dt.datetime) -> dict:
    """How many tasks the incident has in each state, how many are late and how many wait unacknowledged."""
    by_state = dict(session.execute(select(Task.state, func.count()).where(Task.incident_id == incident_id)
                                    .group_by(Task.state)).all())
    late_n, unacked_n = (session.scalar(select(func.count()).select_from(Task).where(
        Task.incident_id == incident_id, rule)) for rule in (late_sql(now), unacknowledged_sql(now)))
    return {"total": sum(by_state.values()), "by_state": {s: by_state.get(s, 0) for s in TASK_STATES},
            "late": late_n or 0, "unacknowledged": unacked_n or 0}


def any_open(session: Session, incident_id: int) -> bool:
    return session.scalar(select(Task.id).where(Task.incident_id == incident_id,
                                                Task.state.in_(OPEN_TASK_STATES)).limit(1)) is not None


def cancel_open(session: Session, incident: Incident, now: dt.datetime) -> list[dict]:
    """Cancel the incident's open tasks (it was stood down or closed); returns what was cancelled, for its log.
    (Those whose plan names a routine matter were handed back as cases first: ``hand_back.py``.)"""
    rows = session.execute(select(Task.id, Task.task_key, Task.title, Task.state, Unit.code)
                           .join(Unit, Unit.id == Task.owner_unit_id)
                           .where(Task.incident_id == incident.id, Task.state.in_(OPEN_TASK_STATES))
                           .order_by(Task.id)).all()
    if rows:
        session.execute(update(Task).where(Task.id.in_([r.id for r in rows]), Task.state.in_(OPEN_TASK_STATES))
                        .values(state="cancelled", cancelled_at=now, updated_at=now, version=Task.version + 1)
                        .execution_options(synchronize_session=False))
    return [{"id": r.id, "key": r.task_key, "title": r.title, "unit": r.code, "state": r.state} for r in rows]
