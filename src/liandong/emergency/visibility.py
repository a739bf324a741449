"""Who sees which incident: one rule, as a SQL filter for lists, figures and single reads.

A caller sees the incidents whose place lies in their jurisdiction, and those affecting an area that overlaps it
(an area inside the jurisdiction, or one containing it: a typhoon affecting a whole town concerns each of its
communities); the district centre sees everything, a caller without a staff role nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, or_, select

from liandong.areas.models import Area
from liandong.areas.scope import NOTHING
from liandong.auth.identity import Identity
from liandong.emergency.models import Incident, IncidentArea


@dataclass(frozen=True)
class Rule:
    """Everything, nothing (``path`` None), or the incidents placed under or affecting around ``path``."""

    everything: bool = False
    path: str | None = None


def rule(caller: Identity) -> Rule:
    if caller.scope.unrestricted:
        return Rule(everything=True)
    if caller.scope == NOTHING:
        return Rule()
    return Rule(path=caller.scope.path)


def ancestors(path: str) -> list[str]:
    """``/1/5/9/`` → ``/1/``, ``/1/5/``, ``/1/5/9/``: the areas containing the one at ``path``, and itself."""
    ids = [p for p in path.split("/") if p]
    return ["/" + "/".join(ids[:n]) + "/" for n in range(1, len(ids) + 1)]


def overlapping(column, path: str):
    """A SQL condition: the area at ``column`` (a materialised path) lies in or contains the area at ``path``."""
    return or_(column.startswith(path, autoescape=True), column.in_(ancestors(path)))


def visible(stmt, caller: Identity):
    """``stmt`` (a select over incidents) narrowed to the incidents ``caller`` may see."""
    r = rule(caller)
    if r.everything:
        return stmt
    if r.path is None:
        return stmt.where(false())
    affecting = (select(IncidentArea.incident_id).join(Area, Area.id == IncidentArea.area_id)
                 .where(overlapping(Area.path, r.path)))
    return stmt.where(or_(Incident.area_path.startswith(r.path, autoescape=True), Incident.id.in_(affecting)))
