"""Activating a plan on an incident, and raising the active plans with the incident's response level.

Every active plan runs at the incident's response level: activating a plan at a level sets the incident's
response level (``actions.py``, the same rule as ``respond`` and ``regrade``), and whenever that level rises,
``follow`` raises every plan active on the incident to it. So "activate again at a higher level" and "regrade
to a higher response level" are one path. A raise keeps the plan version the incident first activated, so the
task keys it compares come from the same document.

Activation (or a raise) records a ``PlanActivation`` row (plan version, level, by, at, exercise), and creates a
task for every unit each task's owner selector names (``selectors.py``) in the levels now included — a level's
checklist adds to those below it — with ``due_at`` = now + the task's deadline in minutes, on natural time.
A task that exists already for the same plan task and unit is never created again (and the table's unique key
makes sure of it), so a raise adds only the new level's tasks, plus those of any town the incident has spread
to since. Each new task's owner is notified, as are the units the new levels' ``notify`` lists name. Selectors
that name no unit are returned (and stored on the activation) as ``unresolved``: the caller puts them in the
log and the answer.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from liandong.auth.identity import Identity
from liandong.emergency import notices
from liandong.emergency.models import Incident, Plan, PlanActivation, Task
from liandong.emergency.plans import library
from liandong.emergency.plans.document import PlanDocument
from liandong.emergency.plans.selectors import Resolver
from liandong.errors import Conflict, Invalid


def active(session: Session, incident_id: int) -> dict[str, tuple[int, int]]:
    """The plans active on the incident: code → (plan row of its first activation — a raise keeps that version —,
    highest level reached, i.e. the lowest number)."""
    out: dict[str, tuple[int, int]] = {}
    for code, plan_id, level in session.execute(
            select(PlanActivation.plan_code, PlanActivation.plan_id, PlanActivation.response_level)
            .where(PlanActivation.incident_id == incident_id).order_by(PlanActivation.id)):
        first = out.get(code)
        out[code] = (first[0], min(first[1], level)) if first else (plan_id, level)
    return out


def admit(session: Session, incident: Incident, code: str, level: int) -> tuple[Plan, bool]:
    """The plan version to activate at ``level`` on the incident and whether it runs there already (at a lower
    level: this raises it), or the refusal: an unknown plan (404), another category or a level the plan lacks
    (422), a level below the incident's response level or one the plan runs at already (409)."""
    running = active(session, incident.id).get(code)
    plan = session.get(Plan, running[0]) if running else library.get(session, code)
    doc = library.document(plan)
    if doc.category != incident.category:
        raise Invalid(f"plan {code!r} is for {doc.category} incidents, not {incident.category}",
                      code="plan_category_mismatch", params={"plan": code, "category": doc.category})
    if doc.level(level) is None:
        levels = sorted(lv.level for lv in doc.levels)
        raise Invalid(f"plan {code!r} has no response level {level}; it has {', '.join(map(str, levels))}",
                      code="level_not_in_plan", params={"plan": code, "level": level, "levels": levels})
    if incident.response_level is not None and level > incident.response_level:
        raise Conflict(f"the incident responds at level {incident.response_level} already: a plan joins it at that "
                       "level or a higher one (1 is the highest)", code="below_response_level",
                       params={"level": level, "response_level": incident.response_level})
    if running and running[1] <= level:
        raise Conflict(f"plan {code!r} runs at level {running[1]} already", code="plan_already_active",
                       params={"plan": code, "response_level": running[1]})
    return plan, running is not None


def start(session: Session, incident: Incident, plan: Plan, level: int, caller: Identity, now: dt.datetime) -> dict:
    """Activate ``plan`` (admitted) at ``level``: the activation row, its tasks and notices."""
    return _run(session, incident, plan, level, None, caller, now)


def follow(session: Session, incident: Incident, caller: Identity, now: dt.datetime) -> list[dict]:
    """Raise every plan active on the incident below its response level to that level."""
    level = incident.response_level
    out = []
    for _code, (plan_id, at) in sorted(active(session, incident.id).items()):
        if level is not None and level < at:
            out.append(_run(session, incident, session.get(Plan, plan_id), level, at, caller, now))
    return out


def _run(session: Session, incident: Incident, plan: Plan, level: int, raised_from: int | None, caller: Identity,
         now: dt.datetime) -> dict:
    doc = library.document(plan)
    activation = PlanActivation(incident_id=incident.id, plan_id=plan.id, plan_code=plan.code,
                                plan_version=plan.version, response_level=level, raised_from=raised_from,
                                activated_by=caller.user_id, actor=caller.name, activated_at=now,
                                exercise=incident.exercise, unresolved=[])
    session.add(activation)
    session.flush()
    resolver = Resolver(session, incident)
    made, unresolved = _tasks(session, incident, activation, doc, level, resolver, now)
    told = [(t["owner_unit_id"], "task_assigned", notices.about_task(incident, t["id"], t["title"], t["due_at"],
                                                                     plan=plan.code)) for t in made]
    for lv in _new_levels(doc, level, raised_from):
        for n in lv.notify:
            units, missing = resolver.units(n.to)
            unresolved += [{"notify": lv.level, **m} for m in missing]
            told += [(u.id, "plan_activated", notices.about(
                incident, f"{incident.number} {doc.name} {lv.name}：{n.note}", plan=plan.code, level=lv.level))
                for u in units]
    notices.send(session, told, now)
    activation.tasks_created, activation.unresolved = len(made), unresolved
    return {"plan": plan.code, "plan_version": plan.version, "name": doc.name, "response_level": level,
            **({"raised_from": raised_from} if raised_from is not None else {}), "activation_id": activation.id,
            "tasks_created": len(made), "notified": len(told), "unresolved": unresolved}


def _new_levels(doc: PlanDocument, level: int, raised_from: int | None):
    """The plan's levels this step brings in: ``level`` and every one below it, less those already running."""
    return [lv for lv in sorted(doc.levels, key=lambda lv: -lv.level)
            if lv.level >= level and (raised_from is None or lv.level < raised_from)]


def _tasks(session: Session, incident: Incident, activation: PlanActivation, doc: PlanDocument, level: int,
           resolver: Resolver, now: dt.datetime) -> tuple[list[dict], list[dict]]:
    """Insert the tasks of every level from ``level`` down that do not exist yet; returns them (with ids) and the
    selectors that named no unit."""
    existing = {(key, unit) for key, unit in session.execute(select(Task.task_key, Task.owner_unit_id).where(
        Task.incident_id == incident.id, Task.plan_code == activation.plan_code))}
    rows: list[dict] = []
    unresolved: list[dict] = []
    for lv in sorted(doc.levels, key=lambda lv: -lv.level):
        if lv.level < level:
            continue
        for spec in lv.tasks:
            units, missing = resolver.units(spec.owner)
            unresolved += [{"task": spec.key, **m} for m in missing]
            for unit in units:
                if (spec.key, unit.id) in existing:
                    continue
                existing.add((spec.key, unit.id))
                rows.append({"incident_id": incident.id, "activation_id": activation.id, "plan_code": doc.code,
                             "task_key": spec.key, "level": lv.level, "title": spec.title, "details": spec.details,
                             "owner_unit_id": unit.id, "due_at": now + dt.timedelta(minutes=spec.deadline_minutes),
                             "ack_required": spec.ack_required, "state": "assigned", "exercise": incident.exercise,
                             "version": 1, "created_at": now, "updated_at": now, "acked_on_behalf": False})
    if rows:
        ids = session.scalars(insert(Task).returning(Task.id, sort_by_parameter_order=True), rows).all()
        for row, task_id in zip(rows, ids, strict=True):
            row["id"] = task_id
    return rows, unresolved
