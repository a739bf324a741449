"""Standing an incident down hands its open work back as cases.

An emergency ends, the work it started may not: a plan task still open when its incident stands down is
cancelled, and when the plan names the routine matter it becomes (``matter`` on the task, e.g. the construction
sites still to be secured after a typhoon warning is lifted), a case is opened for it through the case core's
one way in (``cases/intake.open_case``) at the incident's place, tied to the incident (``how`` handback) so
both keep one history, and routed and timed like any case from there. A task without a matter was emergency
duty only (stand by, keep watch) and ends with the incident. A drill hands nothing back: it never makes real
work. A task that cannot become a case (its matter retired from the catalogue, the place outside the caller's
jurisdiction) is named with the reason instead; the stand-down goes on.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases import intake
from liandong.emergency import linked_cases
from liandong.emergency.models import Incident, Plan, PlanActivation, Task
from liandong.emergency.plans import library
from liandong.emergency.states import OPEN_TASK_STATES
from liandong.errors import DomainError

CHANNEL = "department_transfer"
"""Handed over by the emergency command to routine handling (转办)."""


def hand_back(session: Session, index: GridIndex, incident: Incident, caller: Identity,
              now: dt.datetime) -> list[dict]:
    """Open a case for each open task of the incident whose plan names a matter (before its tasks are cancelled);
    returns, per such task, the case opened or why none was."""
    if incident.exercise:
        return []
    rows = session.execute(select(Task, Plan).join(PlanActivation, PlanActivation.id == Task.activation_id)
                           .join(Plan, Plan.id == PlanActivation.plan_id)
                           .where(Task.incident_id == incident.id, Task.state.in_(OPEN_TASK_STATES))
                           .order_by(Task.id)).all()
    out = []
    for task, plan in rows:
        spec = library.document(plan).task(task.task_key)
        if spec is None or spec.matter is None:
            continue
        description = f"{incident.number} {incident.title}：{task.title}（应急响应解除，转常态处置）"
        try:
            with session.begin_nested():
                opened = intake.open_case(session, index, caller, matter_code=spec.matter, description=description,
                                          lon=incident.lon, lat=incident.lat, channel=CHANNEL, now=now,
                                          duplicates=False)
                linked_cases.attach(session, incident, opened.case.id, caller, now, how="handback")
        except DomainError as refused:
            out.append({"task_id": task.id, "key": task.task_key, "matter": spec.matter,
                        "not_handed_back": refused.code or str(refused)})
            continue
        out.append({"task_id": task.id, "key": task.task_key, "matter": spec.matter, "case_id": opened.case.id,
                    "case_number": opened.case.number})
    return out
