"""The year's incidents (the scenario's ``incidents``): each staged on its day through the emergency services — reported
by the centre's commander, reported upward, verified at its grade, a plan activated when the scenario names one (its
tasks created for the real units the plan names, acknowledged, started and done by their duty officers within their
deadlines) or a response ordered, then contained, recovered and closed over the following days. A typhoon strikes
on the scenario's typhoon days (so its cases surge with it); anything else on a day drawn in its month.

An incident already in the database (a rerun) is found by its title and not staged again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.geometry import from_wkb
from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.emergency import actions, intake, task_actions
from liandong.emergency.models import Incident, Task
from liandong.emergency.payloads import IncidentIn
from liandong.emergency.plans import library
from liandong.sim.clock import DAY, WorkClock
from liandong.sim.scenario import IncidentPlan, Scenario
from liandong.sim.volume import TYPHOON_DAY
from liandong.units.models import Unit

KINDS = {"typhoon": "台风", "gas_leak": "燃气泄漏", "flood": "暴雨内涝", "fire": "火灾"}
TOWNS_HIT = {"typhoon": 4}
"""How many towns an incident of the kind affects (one where not named)."""


@dataclasses.dataclass(frozen=True)
class Staged:
    plan: IncidentPlan
    t: float
    """Local minute it is discovered."""
    title: str
    towns: tuple[str, ...]


def make(s: Scenario, seed: int, town_codes: list[str]) -> list[Staged]:
    """When and where each of the scenario's incidents happens (the same seed, the same year)."""
    rng = random.Random(seed * 7919 + 4)
    out = []
    for k, plan in enumerate(s.incidents):
        typhoon = s.volume.typhoon
        if plan.kind == "typhoon" and typhoon is not None:
            day = dt.date(s.year, typhoon.month, TYPHOON_DAY)
        else:
            day = dt.date(s.year, plan.month, rng.randint(1, 28))
        t = (day - dt.date(s.year, 1, 1)).days * DAY + rng.uniform(6 * 60, 18 * 60)
        towns = tuple(rng.sample(town_codes, min(len(town_codes), TOWNS_HIT.get(plan.kind, 1))))
        out.append(Staged(plan, t, f"{s.year}年{KINDS.get(plan.kind, plan.kind)}事件（模拟 {k + 1}）", towns))
    return out


def stage(session: Session, index: GridIndex, clock: WorkClock, commander: Identity, staged: Staged) -> int | None:
    """The incident's whole course through the services; None when a rerun finds it staged already."""
    if session.scalar(select(Incident.id).where(Incident.title == staged.title)) is not None:
        return None
    plan, at = staged.plan, clock.moment(staged.t)
    geom = session.scalar(select(Area.geom).where(Area.code == staged.towns[0]))
    place = from_wkb(geom).representative_point()
    incident = intake.open_incident(session, index, commander, IncidentIn(
        title=staged.title, category=plan.category, type=KINDS.get(plan.kind, plan.kind), grade=plan.grade,
        lon=place.x, lat=place.y, area_codes=list(staged.towns), occurred_at=at), at)
    iid = incident.id
    actions.act(session, iid, "report_up", commander, {"to": "市应急联动中心（模拟）"}, at + dt.timedelta(minutes=12))
    actions.act(session, iid, "verify", commander, {"grade": plan.grade, "warning_level": plan.grade},
                at + dt.timedelta(minutes=25))
    responded = at + dt.timedelta(minutes=40)
    if plan.plan is not None:
        library.ensure(session)
        actions.activate(session, iid, plan.plan, commander, {"response_level": plan.grade}, responded)
        _work_tasks(session, iid, responded)
    else:
        actions.act(session, iid, "respond", commander, {"response_level": plan.grade}, responded)
    actions.act(session, iid, "contain", commander, {}, responded + dt.timedelta(hours=10))
    actions.act(session, iid, "recover", commander, {}, responded + dt.timedelta(days=1, hours=6))
    actions.act(session, iid, "close", commander, {}, responded + dt.timedelta(days=2, hours=4))
    return iid


def _work_tasks(session: Session, incident_id: int, activated: dt.datetime) -> None:
    """Every task of the activated plan acknowledged (where asked), started and done by its unit's duty officer
    within its deadline."""
    tasks = list(session.scalars(select(Task).where(Task.incident_id == incident_id).order_by(Task.due_at, Task.id)))
    units = {u.id: u.code for u in session.scalars(select(Unit).where(Unit.id.in_({t.owner_unit_id for t in tasks})))}
    for n, task in enumerate(tasks):
        duty = Identity(roles=frozenset({"handler"}), unit_id=task.owner_unit_id,
                        username=f"duty@{units[task.owner_unit_id]}")
        at = activated + dt.timedelta(minutes=3 + n % 10)
        if task.ack_required:
            task_actions.act(session, task.id, "ack", duty, {}, at)
        task_actions.act(session, task.id, "start", duty, {}, at + dt.timedelta(minutes=2))
        done = min(task.due_at - dt.timedelta(minutes=5), at + dt.timedelta(hours=2))
        task_actions.act(session, task.id, "done", duty, {"report": "已按预案落实（模拟）"},
                         max(done, at + dt.timedelta(minutes=4)))
