"""Who sees which case: one rule, as a SQL filter (lists, figures, exports) and as a predicate (live feed).

A caller sees the cases in their jurisdiction and those assigned (not withdrawn) to their unit or to a unit
it heads directly; a department's unit (assigned_only) sees only the latter; a caller without a staff role
sees nothing; the district centre sees everything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, false, or_, select
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


def narrowed(stmt, caller: Identity, in_area: Callable[[str], ColumnElement],
             held: Callable[[Select], ColumnElement] | None = None):
    """``stmt`` narrowed by the caller's rule — the one decision every register reads (cases, incidents, hazards,
    disputes, campaigns, early warnings): everything, nothing, or ``in_area(path)`` (the rows lying in, or touching,
    the jurisdiction at ``path``) or ``held(units)`` (the rows its unit, or a unit it heads, holds; ``units`` is a
    SQL set of unit ids)."""
    r = rule(caller)
    if r.everything:
        return stmt
    conditions = []
    if r.path is not None:
        conditions.append(in_area(r.path))
    if r.unit_id is not None and held is not None:
        conditions.append(held(headed(r.unit_id)))
    return stmt.where(or_(*conditions)) if conditions else stmt.where(false())


def ancestors(path: str) -> list[str]:
    """``/1/5/9/`` → ``/1/``, ``/1/5/``, ``/1/5/9/``: the areas containing the one at ``path``, and itself."""
    ids = [p for p in path.split("/") if p]
    return ["/" + "/".join(ids[:n]) + "/" for n in range(1, len(ids) + 1)]


def overlapping(column, path: str) -> ColumnElement:
    """A SQL condition: the area at ``column`` (a materialised path) lies in or contains the area at ``path``."""
    return or_(column.startswith(path, autoescape=True), column.in_(ancestors(path)))


def visible(stmt, caller: Identity):
    """``stmt`` (a select over cases) narrowed to the cases ``caller`` may see: in the jurisdiction, or assigned
    (not withdrawn) to the caller's unit or one it heads."""
    return narrowed(stmt, caller, lambda path: Case.area_path.startswith(path, autoescape=True),
                    lambda units: Case.id.in_(select(CaseUnit.case_id).where(
                        CaseUnit.unit_id.in_(units), CaseUnit.status != "withdrawn")))


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
