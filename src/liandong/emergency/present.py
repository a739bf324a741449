"""Incidents, their log and their tasks as the API shows them: the row, its place and areas, commander, cases,
links, what the caller may do now, the 五早 clock, the plans active and proposed and how its tasks stand; a
task with its owner, deadline, lateness and the actions the caller may take on it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.auth.models import User
from liandong.emergency import actions, five_early, linked_cases, queries, task_actions, tasks, visibility
from liandong.emergency.models import Incident, IncidentEvent, Plan, PlanActivation, Task
from liandong.emergency.plans import library, propose, resources
from liandong.units.models import Unit


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


def briefs(session: Session, incidents: list[Incident], now: dt.datetime,
           limit_minutes: float | None = None) -> list[dict]:
    """Incidents in a list, each with its commander and where it stands on the upward-report limit (a few queries
    however many incidents)."""
    ids = {i.commander_id for i in incidents if i.commander_id}
    commanders = {r.id: {"username": r.username, "name": r.display_name} for r in session.execute(
        select(User.id, User.username, User.display_name).where(User.id.in_(ids)))} if ids else {}
    clocks = five_early.of(session, incidents, now, limit_minutes)
    return [{**brief(i), "commander": commanders.get(i.commander_id),
             "report_late": clocks[i.id]["report_late"], "report_deadline": clocks[i.id]["report_deadline"],
             "reported_at": clocks[i.id]["reported_at"]} for i in incidents]


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
        "allowed_actions": actions.allowed_for(session, incident, caller),
        "five_early": five_early.of(session, [incident], now, limit_minutes)[incident.id],
        "activations": activations(session, incident.id),
        "proposed_plans": propose.proposed(session, incident),
        "tasks": tasks.counts(session, incident.id, now),
        "resources": resources.of(session, incident),
    }


def activations(session: Session, incident_id: int) -> list[dict]:
    """The plan activations and raises on the incident, oldest first."""
    rows = session.scalars(select(PlanActivation).where(PlanActivation.incident_id == incident_id)
                           .order_by(PlanActivation.id))
    return [{"id": a.id, "plan": a.plan_code, "plan_version": a.plan_version, "response_level": a.response_level,
             "raised_from": a.raised_from, "by": a.actor, "at": a.activated_at.isoformat(), "exercise": a.exercise,
             "tasks_created": a.tasks_created, "unresolved": a.unresolved} for a in rows]


def task_list(session: Session, rows: list[Task], caller: Identity, now: dt.datetime) -> list[dict]:
    """Tasks with their owners and what the caller may do on each (a few queries however many tasks)."""
    owners = {t.owner_unit_id for t in rows}
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(owners)))} if owners else {}
    chains = tasks.chains(session, owners)
    commands = {i: visibility.commands(session, session.get(Incident, i), caller) for i in {t.incident_id
                                                                                          for t in rows}}
    return [task_dict(t, units.get(t.owner_unit_id), chains[t.owner_unit_id], caller, now, commands[t.incident_id])
            for t in rows]


def task_dict(t: Task, owner: Unit | None, chain: set[int], caller: Identity, now: dt.datetime,
              commands: bool) -> dict:
    return {"id": t.id, "incident_id": t.incident_id, "activation_id": t.activation_id, "plan": t.plan_code,
            "key": t.task_key, "level": t.level, "title": t.title, "details": t.details,
            "owner": {"id": owner.id, "code": owner.code, "name": owner.name, "kind": owner.kind} if owner else None,
            "due_at": _at(t.due_at), "ack_required": t.ack_required, "state": t.state, "version": t.version,
            "exercise": t.exercise, "created_at": _at(t.created_at), "acked_at": _at(t.acked_at),
            "acked_by": t.acked_by, "acked_on_behalf": t.acked_on_behalf, "ack_note": t.ack_note,
            "started_at": _at(t.started_at), "done_at": _at(t.done_at), "report": t.report,
            "cancelled_at": _at(t.cancelled_at), "ack_escalated_at": _at(t.ack_escalated_at),
            "late_escalated_at": _at(t.late_escalated_at), "late": tasks.late(t, now),
            "unacknowledged": tasks.unacknowledged(t, now),
            "allowed_actions": task_actions.allowed_for(t, caller, chain, commands)}


def last_event(session: Session, incident: Incident) -> dict:
    """The payload of the incident's latest log entry (an action's result, read back in its own transaction)."""
    return session.scalar(select(IncidentEvent.payload).where(IncidentEvent.incident_id == incident.id)
                          .order_by(IncidentEvent.seq.desc()).limit(1)) or {}


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


def plan_brief(plan: Plan) -> dict:
    """A plan version in the library's list."""
    doc = library.document(plan)
    return {"code": plan.code, "name": doc.name, "version": plan.version, "category": doc.category,
            "types": list(doc.types), "levels": sorted(lv.level for lv in doc.levels), "source": plan.source,
            "loaded_at": _at(plan.loaded_at), "content_hash": plan.content_hash}


def plan_dict(plan: Plan, versions: list[Plan]) -> dict:
    """A plan version in full (the document as its file says it), with every version loaded."""
    return {**plan_brief(plan), "document": plan.document,
            "versions": [{"version": v.version, "loaded_at": _at(v.loaded_at), "content_hash": v.content_hash,
                          "source": v.source} for v in versions]}
