"""Who sees which incident and who commands it: one rule each, the first as a SQL filter for lists, figures and
single reads.

Seeing follows the case rule's decision (``cases/visibility.rule``: everything, nothing, or a jurisdiction and a
unit): a caller sees the incidents whose place lies in their jurisdiction, those affecting an area that overlaps
it (an area inside the jurisdiction, or one containing it: a typhoon affecting a whole town concerns each of its
communities), and those holding a plan task of their unit or of a unit it heads — so a department's unit
(assigned_only) sees the incidents it has work in, as it sees the cases assigned to it.

Commanding needs more than sight: the incident's named commander, or a caller whose jurisdiction holds the
incident's place and every area it affects (a town's commander runs an incident of the town, not the district's
typhoon that touches it).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.cases.visibility import Rule, narrowed, overlapping, rule
from liandong.emergency.models import Incident, IncidentArea, Task
from liandong.errors import Forbidden
from liandong.units.heading import headed

__all__ = ["Watcher", "commands", "not_commanding", "overlapping", "rule", "visible", "watcher"]


def visible(stmt, caller: Identity):
    """``stmt`` (a select over incidents) narrowed to the incidents ``caller`` may see."""

    def in_area(path: str):
        affecting = (select(IncidentArea.incident_id).join(Area, Area.id == IncidentArea.area_id)
                     .where(overlapping(Area.path, path)))
        return or_(Incident.area_path.startswith(path, autoescape=True), Incident.id.in_(affecting))

    return narrowed(stmt, caller, in_area,
                    lambda units: Incident.id.in_(select(Task.incident_id).where(Task.owner_unit_id.in_(units))))


@dataclass(frozen=True)
class Watcher:
    """The same decision as ``visible``, as a predicate for a live screen: the caller's rule with the units it
    heads resolved once (a screen checks every incident event with it)."""

    rule: Rule
    units: frozenset[int]

    def sees(self, area_path: str, affected: Collection[str], task_units: Collection[int]) -> bool:
        """Whether ``visible`` would keep an incident placed at ``area_path``, affecting the areas at the paths
        ``affected``, whose tasks are owned by ``task_units``."""
        r = self.rule
        if r.everything:
            return True
        if r.path is not None and (area_path.startswith(r.path) or any(
                p.startswith(r.path) or r.path.startswith(p) for p in affected)):  # ``overlapping`` in Python
            return True
        return not self.units.isdisjoint(task_units)


def watcher(session: Session, caller: Identity) -> Watcher:
    r = rule(caller)
    units = frozenset(session.scalars(headed(r.unit_id))) if r.unit_id is not None else frozenset()
    return Watcher(r, units)


def commands(session: Session, incident: Incident, caller: Identity) -> bool:
    """Whether the caller may command the incident (see the module's docstring); roles are the action table's."""
    if caller.user_id is not None and caller.user_id == incident.commander_id:
        return True
    r = rule(caller)
    if r.everything:
        return True
    if r.path is None:
        return False
    affected = session.scalars(select(Area.path).join(IncidentArea, IncidentArea.area_id == Area.id)
                               .where(IncidentArea.incident_id == incident.id))
    return all(p.startswith(r.path) for p in [incident.area_path, *affected])


def not_commanding(action: str) -> Forbidden:
    """The refusal of a caller who sees the incident but does not command it (``commands`` said no): one wording
    and code for the incident's actions, its tasks acknowledged on a unit's behalf, its warnings and its orders."""
    return Forbidden(f"{action!r} is for the incident's commander, or one whose jurisdiction holds the incident's "
                     "place and every area it affects", code="not_commander", params={"action": action})
