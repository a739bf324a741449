"""Acting on a plan task: one table of actions, and the one path every action takes through it.

The shape of the incident's table (``actions.py``): ``TABLE`` holds, per action, the task states it may be taken
in and where each leads, its payload model and its effect on the row. ``act`` runs visibility → version → table
→ payload → who → effect → the incident's log; ``allowed_for`` asks the same ``refusal`` of each action, so
what a task offers cannot drift from what the service takes.

- ``ack`` (assigned → acknowledged): by the owner unit's people (or a unit heading it) holding a staff role; or
  with ``{"on_behalf": true, "note"}`` by the commander (commander or leader role), recording an
  acknowledgement the unit gave another way, a phone call — marked as such on the task and in the log;
- ``start`` (acknowledged → in progress; straight from assigned when the task asks no acknowledgement);
- ``done`` (in progress → done) with ``{"report"}``.

Refusals carry machine codes: ``not_allowed_in_state`` and ``ack_first`` (409, with ``allowed_actions``),
``not_task_owner`` and ``role_needed`` (403), ``stale`` (409) for an outdated ``version``. Each task event is an
entry of the incident's log (kind ``task``), so the incident keeps one history. The service never commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from liandong.auth.identity import Identity
from liandong.cases.payloads import Payload, parse, required
from liandong.db import utcnow
from liandong.emergency import log, tasks, visibility
from liandong.emergency.actions import COMMAND
from liandong.emergency.models import Incident, Task
from liandong.emergency.payloads import TaskAck, TaskDone
from liandong.emergency.states import TASK_LOG_KIND, TASK_ROLES
from liandong.errors import Conflict, DomainError, Forbidden, NotFound, Stale, role_needed
from liandong.units.models import Unit

Effect = Callable[[Task, Payload, Identity, dt.datetime], dict]


@dataclass(frozen=True)
class TaskAction:
    name: str
    moves: Mapping[str, str]
    payload: type[Payload]
    effect: Effect


def _ack(task: Task, body: Payload, caller: Identity, now: dt.datetime) -> dict:
    assert isinstance(body, TaskAck)
    task.acked_at, task.acked_by, task.acked_unit_id = now, caller.name, caller.unit_id
    task.acked_on_behalf, task.ack_note = body.on_behalf, body.note
    return {"on_behalf": True} if body.on_behalf else {}


def _start(task: Task, body: Payload, caller: Identity, now: dt.datetime) -> dict:
    task.started_at = now
    return {}


def _done(task: Task, body: Payload, caller: Identity, now: dt.datetime) -> dict:
    assert isinstance(body, TaskDone)
    task.done_at, task.report = now, body.report
    return {"late": task.due_at <= now}


TABLE: dict[str, TaskAction] = {a.name: a for a in (
    TaskAction("ack", {"assigned": "acknowledged"}, TaskAck, _ack),
    TaskAction("start", {"assigned": "in_progress", "acknowledged": "in_progress"}, Payload, _start),
    TaskAction("done", {"in_progress": "done"}, TaskDone, _done),
)}
NAMES = tuple(TABLE)
NEEDS = {name: fields for name, a in TABLE.items() if (fields := required(a.payload))}


def refusal(action: TaskAction, task: Task, caller: Identity, chain: set[int], commands: bool,
            on_behalf: bool = False) -> DomainError | None:
    """Why the caller may not take ``action`` on the task now, or None. ``chain``: the units that act for the
    owner (``tasks.chains``); ``commands``: whether the caller commands the task's incident
    (``visibility.commands``), which an acknowledgement on the unit's behalf needs."""
    if task.state not in action.moves:
        return Conflict(f"action {action.name!r} is not allowed on a task in state {task.state!r}",
                        code="not_allowed_in_state", params={"action": action.name, "state": task.state})
    if action.name == "start" and task.state == "assigned" and task.ack_required:
        return Conflict("this task asks for an acknowledgement first", code="ack_first",
                        params={"action": action.name, "state": task.state})
    if on_behalf:
        if COMMAND.isdisjoint(caller.roles):
            return role_needed(action.name, COMMAND, "acknowledging on a unit's behalf")
        return None if commands else visibility.not_commanding(action.name)
    if TASK_ROLES.isdisjoint(caller.roles):
        return role_needed(action.name, TASK_ROLES, "acting on a task")
    if not tasks.acts_for(caller, chain):
        return Forbidden("only the owner unit's staff (or a unit heading it) act on this task", code="not_task_owner",
                         params={"action": action.name})
    return None


def allowed_for(task: Task, caller: Identity, chain: set[int], commands: bool) -> list[str]:
    """The actions the service would take from the caller on this task now; ``ack`` also when the caller may
    record it on the unit's behalf."""
    return [name for name, a in TABLE.items()
            if refusal(a, task, caller, chain, commands) is None
            or (name == "ack" and refusal(a, task, caller, chain, commands, on_behalf=True) is None)]


def act(session: Session, task_id: int, name: str, caller: Identity, payload: dict | None = None,
        now: dt.datetime | None = None) -> Task:
    """Take action ``name`` on the task with ``payload`` and log it on its incident."""
    try:
        return _act(session, task_id, name, caller, dict(payload or {}), now or utcnow())
    except StaleDataError:  # another transaction moved the task on
        session.rollback()
        task = session.get(Task, task_id)
        raise _stale(session, task, caller) from None


def _act(session: Session, task_id: int, name: str, caller: Identity, data: dict, now: dt.datetime) -> Task:
    action = TABLE.get(name)
    if action is None:
        raise NotFound(f"unknown action {name!r}; actions are {', '.join(NAMES)}", code="unknown_action",
                       params={"action": name})
    task = tasks.get(session, task_id, caller)
    chain = tasks.chains(session, {task.owner_unit_id})[task.owner_unit_id]
    commands = visibility.commands(session, session.get(Incident, task.incident_id), caller)
    expected = data.get("version")
    if type(expected) is int and expected != task.version:
        raise _stale(session, task, caller)
    if task.state not in action.moves:  # refused before the payload is read, as on incidents
        refused = refusal(action, task, caller, chain, commands)
    else:  # who may act depends on the payload (an acknowledgement on the unit's behalf)
        body = parse(name, action.payload, data)
        refused = refusal(action, task, caller, chain, commands, on_behalf=bool(getattr(body, "on_behalf", False)))
    if refused is not None:
        refused.extra = {"allowed_actions": allowed_for(task, caller, chain, commands), "state": task.state,
                         **refused.extra}
        raise refused
    if getattr(body, "on_behalf", False) and caller.unit_id == task.owner_unit_id:  # the owner's own people
        body = body.model_copy(update={"on_behalf": False})
    log.lock(session, [task.incident_id])  # incident before task, as every writer (log.lock)
    from_state = task.state
    record = {**body.record(), **action.effect(task, body, caller, now)}
    task.state, task.updated_at = action.moves[from_state], now
    session.flush()  # the version check: a task moved on meanwhile raises StaleDataError here
    incident = session.get(Incident, task.incident_id)
    log.add(session, incident, caller, kind=TASK_LOG_KIND, action=f"task_{name}", from_state=incident.state,
            payload={**describe(session, task), "from": from_state, "to": task.state, **record}, now=now)
    return task


def describe(session: Session, task: Task) -> dict:
    """The task as its log entries name it."""
    unit = session.get(Unit, task.owner_unit_id)
    return {"task_id": task.id, "key": task.task_key, "plan": task.plan_code, "title": task.title,
            "unit": unit.code if unit else None, "unit_name": unit.name if unit else None}


def _stale(session: Session, task: Task | None, caller: Identity) -> Stale:
    chain = tasks.chains(session, {task.owner_unit_id})[task.owner_unit_id] if task else set()
    commands = visibility.commands(session, session.get(Incident, task.incident_id), caller) if task else False
    return Stale("the task was changed by someone else meanwhile; reload it and try again",
                 extra={"allowed_actions": allowed_for(task, caller, chain, commands) if task else [],
                        "state": task.state if task else None, "stale": True})
