"""Which units act for which: a unit for itself and for the units it heads directly (a sub-centre for its
workstations, a department for its branches). One rule, read by case visibility (a unit sees the cases assigned
to it or to a unit it heads) and by plan tasks (the owner's staff, or the staff of the unit heading it, act)."""

from __future__ import annotations

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from liandong.units.models import Unit


def headed(unit_id: int) -> Select:
    """A SQL set: the unit and the units it heads directly."""
    return select(Unit.id).where(or_(Unit.id == unit_id, Unit.parent_id == unit_id))


def acting(session: Session, unit_ids: set[int]) -> dict[int, set[int]]:
    """Each unit → the units that act for it: itself and the unit heading it (the same rule as ``headed``, read
    the other way)."""
    parents = dict(session.execute(select(Unit.id, Unit.parent_id).where(Unit.id.in_(unit_ids))).all()) \
        if unit_ids else {}
    return {u: {u} | ({parents[u]} if parents.get(u) is not None else set()) for u in unit_ids}
