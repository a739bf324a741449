"""Safety hazards: opening one (the one way a report becomes a hazard row and its first event), reading them within
the caller's sight, and the log. The number, sight and the log's numbering are the screening registers' shared
helpers (``registers.py``), which disputes use too.

Sight follows the case rule's decision (``cases/visibility.rule``): everything, nothing, or a jurisdiction (the
hazard's grid under it) and a unit (the hazard's responsible unit is the caller's or one it heads).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas.index import GridIndex, place
from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.cases.visibility import Viewer
from liandong.errors import Invalid, NotFound
from liandong.screening import hazard_states as hs
from liandong.screening.hazard_models import Hazard, HazardEvent
from liandong.screening.hazard_payloads import HazardIn
from liandong.screening.registers import Spec, needs, number, opened, seen, within
from liandong.units.models import Unit

if TYPE_CHECKING:
    from liandong.screening.register_batch import Batch

def missing(hazard_id: int) -> NotFound:
    return NotFound(f"hazard {hazard_id} not found", code="hazard_not_found", params={"hazard_id": hazard_id})


SPEC = Spec("hazard", Hazard, HazardEvent, "hazard_id", missing)


def visible(stmt, caller: Identity):
    return within(stmt, caller, Hazard, Hazard.responsible_unit_id)


def sees(viewer: Viewer, hazard: Hazard) -> bool:
    return seen(viewer, hazard.area_path, hazard.responsible_unit_id)


def missing_five(values: dict) -> list[str]:
    """The 五落实 fields a major hazard still lacks."""
    return [f for f in hs.FIVE if values.get(f) in (None, "")]


def open_hazard(session: Session, index: GridIndex, caller: Identity, body: HazardIn, now: dt.datetime,
                batch: Batch | None = None) -> Hazard:
    """Register a hazard (state ``found``); the caller commits. A ``batch`` (``register_batch.py``) numbers it from
    the day's count it keeps and holds its event until its flush."""
    needs(hs.REPORT_ROLES, caller, "create")
    grid, lon, lat = place(index, body.lon, body.lat, body.crs, caller.scope)
    unit_id = check_unit(session, body.responsible_unit_id, caller)
    reporter = body.reporter
    staff = reporter is None or reporter.kind == "staff"
    taken = batch.numbers if batch is not None else None
    hazard = Hazard(number=number(session, Hazard, "YH", now, taken), title=body.title, sector=body.sector,
                    type=body.type, grade=body.grade, description=body.description, lon=lon, lat=lat, grid_id=grid.id,
                    area_path=grid.path, responsible_unit_id=unit_id, measures=body.measures,
                    responsibility=body.responsibility, funds=body.funds, contingency_plan=body.contingency_plan,
                    deadline=body.deadline, reporter_kind="staff" if staff else "public",
                    reporter_name=reporter.name if reporter else caller.name,
                    reporter_phone=reporter.phone if reporter else None,
                    reward_wanted=bool(reporter and reporter.reward), reward_paid=False, state="found",
                    created_at=now, created_by=caller.user_id, updated_at=now)
    facts = {"sector": body.sector, "grade": body.grade, "reporter_kind": hazard.reporter_kind,
             **({"reward_wanted": True} if hazard.reward_wanted else {}),
             **({"evidence": body.evidence} if body.evidence else {})}
    opened(session, SPEC, hazard, caller, facts, now, batch)
    audit.record(session, "hazard_created", actor_id=caller.user_id, actor_name=caller.name,
                 target=f"hazard:{hazard.id}", detail={"number": hazard.number})
    return hazard


def check_unit(session: Session, unit_id: int | None, caller: Identity) -> int | None:
    """A responsible unit the caller may name: one whose area lies in the caller's jurisdiction (naming another
    town's unit would open the hazard, and its reporter, to that town)."""
    if unit_id is None:
        return None
    row = session.execute(select(Area.path).join(Unit, Unit.area_id == Area.id).where(Unit.id == unit_id)).first()
    if row is None:
        raise Invalid(f"unit {unit_id} does not exist", code="unknown_unit", params={"unit_id": unit_id})
    if not caller.scope.covers_path(row.path):
        raise Invalid(f"unit {unit_id} lies outside your jurisdiction", code="unit_outside_jurisdiction",
                      params={"unit_id": unit_id})
    return unit_id


def get(session: Session, hazard_id: int, caller: Identity) -> Hazard:
    """A hazard the caller may see; 404 otherwise."""
    hazard = session.scalar(visible(select(Hazard).where(Hazard.id == hazard_id), caller))
    if hazard is None:
        raise missing(hazard_id)
    return hazard


def page(session: Session, caller: Identity, *, state: str | None = None, grade: str | None = None,
         sector: str | None = None, open_only: bool = False, q: str | None = None, limit: int = 50,
         offset: int = 0) -> tuple[list[Hazard], int]:
    """The visible hazards matching the filters, newest first, and how many match in all."""
    stmt = visible(select(Hazard), caller)
    for name, value, allowed in (("state", state, hs.STATES), ("grade", grade, hs.GRADES),
                                 ("sector", sector, hs.SECTORS)):
        if value is not None:
            if value not in allowed:
                raise Invalid(f"{name} must be one of {', '.join(allowed)}", code=f"unknown_{name}",
                              params={name: value})
            stmt = stmt.where(getattr(Hazard, name) == value)
    if open_only:
        stmt = stmt.where(Hazard.state.not_in(hs.CLOSED_STATES))
    if q:
        stmt = stmt.where(or_(Hazard.title.contains(q.strip(), autoescape=True),
                              Hazard.number.contains(q.strip(), autoescape=True)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(Hazard.created_at.desc(), Hazard.id.desc()).limit(limit).offset(offset))
    return list(rows), int(total or 0)


def entries(session: Session, hazard_id: int) -> list[HazardEvent]:
    return list(session.scalars(select(HazardEvent).where(HazardEvent.hazard_id == hazard_id)
                                .order_by(HazardEvent.seq)))
