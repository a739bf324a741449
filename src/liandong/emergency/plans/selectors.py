"""Who a plan's unit selector names for one incident: real units from the units table, and what named none.

The incident's **affected towns** are the towns of its own place and of every area it affects (a town, a
community or a unit grid: each lies in one town); its **affected communities** are the communities of its
place and of affected grids, the affected communities themselves, and every community of an affected town (a
typhoon over a whole town concerns each of its neighbourhoods). Then

- ``centre``: the district linkage centre;
- ``sub_centre_of_affected_towns``: the sub-centre of each affected town;
- ``workstation_of_affected_communities``: the workstation of each affected community;
- ``{line: X}``: the district department of line X;
- ``{line: X, in: affected_towns}``: the line's branch in each affected town.

A selector that names no unit — no centre, no department of the line, a town or community without one — is
returned as *missing* (with the area that lacks it), so activation reports it rather than dropping it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.emergency.models import Incident, IncidentArea
from liandong.emergency.plans.document import Selector
from liandong.units.models import Unit

TOWN_DEPTH, COMMUNITY_DEPTH = 2, 3
"""Ids in a town's and a community's materialised path: /district/town/ and /district/town/community/."""


@dataclass(frozen=True)
class Place:
    id: int
    code: str
    name: str
    path: str


@dataclass(frozen=True)
class UnitRef:
    id: int
    code: str
    name: str


@dataclass
class Affected:
    """The incident's affected towns and communities, and the paths of its place and affected areas."""

    towns: list[Place]
    communities: list[Place]
    paths: list[str] = field(default_factory=list)


def prefix(path: str, depth: int) -> str | None:
    ids = [p for p in path.split("/") if p]
    return "/" + "/".join(ids[:depth]) + "/" if len(ids) >= depth else None


def affected(session: Session, incident: Incident) -> Affected:
    rows = session.execute(select(Area.level, Area.path).join(IncidentArea, IncidentArea.area_id == Area.id)
                           .where(IncidentArea.incident_id == incident.id)).all()
    paths = [incident.area_path, *(r.path for r in rows)]
    town_paths = {p for p in (prefix(path, TOWN_DEPTH) for path in paths) if p}
    whole_towns = [r.path for r in rows if r.level == "town"]
    named = {p for p in (prefix(path, COMMUNITY_DEPTH) for path in paths) if p}
    towns = [Place(a.id, a.code, a.name, a.path) for a in session.execute(
        select(Area.id, Area.code, Area.name, Area.path).where(Area.level == "town", Area.path.in_(town_paths))
        .order_by(Area.code))]
    within = [Area.path.startswith(p, autoescape=True) for p in whole_towns]
    communities = [Place(a.id, a.code, a.name, a.path) for a in session.execute(
        select(Area.id, Area.code, Area.name, Area.path).where(Area.level == "community",
                                                               or_(Area.path.in_(named), *within))
        .order_by(Area.code))]
    return Affected(towns, communities, paths)


class Resolver:
    """Resolves selectors for one incident, each selector once (an activation asks the same ones many times)."""

    def __init__(self, session: Session, incident: Incident):
        self.session = session
        self.where = affected(session, incident)
        self._done: dict[str, tuple[list[UnitRef], list[dict]]] = {}

    def units(self, selector: Selector) -> tuple[list[UnitRef], list[dict]]:
        """The units the selector names (by code), and a ``missing`` entry for each place that has none."""
        if selector.label not in self._done:
            self._done[selector.label] = self._resolve(selector)
        return self._done[selector.label]

    def _resolve(self, s: Selector) -> tuple[list[UnitRef], list[dict]]:
        if s.kind == "centre":
            return self._district(Unit.kind == "centre", s, first_only=True)
        if s.kind == "department":
            return self._district((Unit.kind == "department") & (Unit.line == s.line), s)
        if s.kind == "sub_centre_of_affected_towns":
            return self._per_place(Unit.kind == "sub_centre", self.where.towns, s)
        if s.kind == "branch":
            return self._per_place((Unit.kind == "branch") & (Unit.line == s.line), self.where.towns, s)
        return self._per_place(Unit.kind == "workstation", self.where.communities, s)

    def _district(self, condition, s: Selector, first_only: bool = False) -> tuple[list[UnitRef], list[dict]]:
        stmt = select(Unit.id, Unit.code, Unit.name).where(condition).order_by(Unit.id if first_only else Unit.code)
        found = [UnitRef(*r) for r in self.session.execute(stmt.limit(1) if first_only else stmt)]
        return found, ([] if found else [{"owner": s.label}])

    def _per_place(self, condition, places: list[Place], s: Selector) -> tuple[list[UnitRef], list[dict]]:
        if not places:
            return [], [{"owner": s.label}]
        rows = self.session.execute(select(Unit.id, Unit.code, Unit.name, Unit.area_id).where(
            condition, Unit.area_id.in_([p.id for p in places])).order_by(Unit.code)).all()
        covered = {r.area_id for r in rows}
        missing = [{"owner": s.label, "area": p.code, "area_name": p.name} for p in places if p.id not in covered]
        return [UnitRef(r.id, r.code, r.name) for r in rows], missing
