"""Who sees which case: one rule, as a SQL filter (lists, figures, exports) and as a predicate (live feed).

A caller sees the cases in their jurisdiction and those assigned (not withdrawn) to their unit or to a unit
it heads directly; a department's unit (assigned_only) sees only the latter; a caller without a staff role
sees nothing; the district centre sees everything.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from liandong.areas.scope import NOTHING
from liandong.auth.identity import Identity
from liandong.cases.models import Case, CaseUnit
from liandong.units.heading import headed


@dataclass(frozen=True)
class Rule:
    """The decision for one caller: everything, nothing, or (cases under ``path``) or (assigned to ``unit_id``
    or a unit it heads). Both forms below read only this."""

    everything: bool = False
    path: str | None = None
    unit_id: int | None = None


def rule(caller: Identity) -> Rule:
    if caller.scope.unrestricted and not caller.assigned_only:
        return Rule(everything=True)
    if caller.scope == NOTHING:  # no staff role: no case at all, whatever its unit holds
        return Rule()
    return Rule(path=None if caller.assigned_only else caller.scope.path, unit_id=caller.unit_id)


def visible(stmt, caller: Identity):
    """``stmt`` (a select over cases) narrowed to the cases ``caller`` may see."""
    r = rule(caller)
    if r.everything:
        return stmt
    conditions = []
    if r.path is not None:
        conditions.append(Case.area_path.startswith(r.path, autoescape=True))
    if r.unit_id is not None:
        conditions.append(Case.id.in_(select(CaseUnit.case_id).where(
            CaseUnit.unit_id.in_(headed(r.unit_id)), CaseUnit.status != "withdrawn")))
    return stmt.where(or_(*conditions)) if conditions else stmt.where(false())


@dataclass(frozen=True)
class Viewer:
    """A caller with the units it sees assigned resolved once (a live screen checks every event with it)."""

    rule: Rule
    units: frozenset[int]

    def sees(self, area_path: str, unit_ids: Collection[int]) -> bool:
        """The same decision as ``visible`` for a case under ``area_path`` assigned to ``unit_ids``."""
        r = self.rule
        if r.everything:
            return True
        if r.path is not None and area_path.startswith(r.path):
            return True
        return not self.units.isdisjoint(unit_ids)


def viewer(session: Session, caller: Identity) -> Viewer:
    r = rule(caller)
    units = frozenset(session.scalars(headed(r.unit_id))) if r.unit_id is not None else frozenset()
    return Viewer(r, units)
