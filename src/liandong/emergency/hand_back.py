"""Standing an incident down hands its open work back as cases.

An emergency ends, the work it started may not: a plan task still open when its incident stands down is
cancelled, and when the plan names the routine matter it becomes (``matter`` on the task, e.g. the construction
sites still to be secured after a typhoon warning is lifted), a case is opened for it through the case core's
one way in (``cases/intake.open_case``), tied to the incident (``how`` handback) so both keep one history, and
routed and timed like any case from there. It is placed where the owner's work lies: the incident's place when
that is in the owner unit's area, else a point of the owner's area within the areas the incident affects (the
east town's duty goes to the east town), else of the owner's area. A task without a matter was emergency
duty only (stand by, keep watch) and ends with the incident. A drill hands nothing back: it never makes real
work. A task that cannot become a case (its matter retired from the catalogue, the place outside the caller's
jurisdiction) is named with the reason instead; the stand-down goes on.
"""

from __future__ import annotations

import datetime as dt

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.geometry import from_wkb
from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.cases import intake
from liandong.emergency import linked_cases
from liandong.emergency.models import Incident, IncidentArea, Plan, PlanActivation, Task
from liandong.emergency.plans import library
from liandong.emergency.states import OPEN_TASK_STATES
from liandong.errors import DomainError
from liandong.units.models import Unit

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
    affected = shapely.union_all([from_wkb(g) for g in session.scalars(
        select(Area.geom).join(IncidentArea, IncidentArea.area_id == Area.id)
        .where(IncidentArea.incident_id == incident.id, Area.geom.is_not(None)))])
    out = []
    for task, plan in rows:
        spec = library.document(plan).task(task.task_key)
        if spec is None or spec.matter is None:
            continue
        description = f"{incident.number} {incident.title}：{task.title}（应急响应解除，转常态处置）"
        lon, lat = place(session, incident, task.owner_unit_id, affected)
        try:
            with session.begin_nested():
                opened = intake.open_case(session, index, caller, matter_code=spec.matter, description=description,
                                          lon=lon, lat=lat, channel=CHANNEL, now=now, duplicates=False)
                linked_cases.attach(session, incident, opened.case.id, caller, now, how="handback")
        except DomainError as refused:
            out.append({"task_id": task.id, "key": task.task_key, "matter": spec.matter,
                        "not_handed_back": refused.code or str(refused)})
            continue
        out.append({"task_id": task.id, "key": task.task_key, "matter": spec.matter, "case_id": opened.case.id,
                    "case_number": opened.case.number})
    return out


def place(session: Session, incident: Incident, owner_unit_id: int, affected) -> tuple[float, float]:
    """Where the owner's share of the work lies (see the module's docstring), as lon, lat."""
    area = session.execute(select(Area.path, Area.geom).join(Unit, Unit.area_id == Area.id)
                           .where(Unit.id == owner_unit_id)).first()
    if area is None or area.geom is None or incident.area_path.startswith(area.path):
        return incident.lon, incident.lat
    mine = from_wkb(area.geom)
    shared = mine.intersection(affected) if not affected.is_empty else mine
    point = (shared if not shared.is_empty else mine).representative_point()
    return point.x, point.y
