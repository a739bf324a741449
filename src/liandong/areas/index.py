"""Point → unit grid resolution, in process, identical on SQLite and PostgreSQL.

The index holds every unit grid in a Shapely STRtree, sorted by code, plus each grid's ancestor chain
and responsible units, all prepared at build time so a lookup is one tree query and a tuple read.
A point on an edge shared by several grids resolves to the grid with the lowest code.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas import crs as crsmod
from liandong.areas.models import Area, AreaMember, GridAssignment, Layer
from liandong.areas.scope import EVERYTHING, Scope
from liandong.areas.service import get_revision
from liandong.units.lines import LINES
from liandong.units.models import Unit


@dataclass(frozen=True, slots=True)
class GridHit:
    id: int
    code: str
    name: str
    path: str
    """Materialised path (areas.path): jurisdiction checks without loading the area row."""
    ancestor_ids: tuple[int, ...]
    """Ids of district, town, community (top-down) and the grid itself: used for scope checks."""
    ancestors: tuple[dict, ...]
    responsible_units: tuple[dict, ...]
    groups: tuple[dict, ...] = ()
    """Responsibility grids (责任网格) the grid belongs to."""

    def as_dict(self) -> dict:
        return {
            "grid": {"id": self.id, "code": self.code, "name": self.name},
            "ancestors": list(self.ancestors),
            "responsible_units": list(self.responsible_units),
            "responsibility_grids": list(self.groups),
        }


class GridIndex:
    def __init__(self, hits: list[GridHit], geoms: list, revision: int):
        self.hits = hits
        self.by_id = {h.id: h for h in hits}
        self.geoms = np.asarray(geoms, dtype=object)
        self.tree = shapely.STRtree(self.geoms) if len(hits) else None
        self.revision = revision

    def __len__(self) -> int:
        return len(self.hits)

    @classmethod
    def build(cls, session: Session) -> GridIndex:
        revision = get_revision(session)
        tree_nodes = {
            a.id: a
            for a in session.execute(
                select(Area.id, Area.code, Area.name, Area.level, Area.parent_id).where(
                    Area.level.in_(("district", "town", "community"))
                )
            )
        }
        units = list(session.execute(select(Unit.id, Unit.code, Unit.name, Unit.kind, Unit.line, Unit.area_id)))
        territorial: dict[int, list] = {}
        branch: dict[tuple[str, int], object] = {}
        for u in units:
            if u.kind in ("centre", "sub_centre", "workstation"):
                territorial.setdefault(u.area_id, []).append(u)
            elif u.kind in ("department", "branch") and u.line:
                branch[(u.line, u.area_id)] = u
        unit_by_id = {u.id: u for u in units}
        groups: dict[int, list[dict]] = {}
        member_rows = session.execute(
            select(AreaMember.grid_id, Area.code, Area.name)
            .join(Area, Area.id == AreaMember.group_id)
            .order_by(Area.code)
        )
        for grid_id, code, name in member_rows:
            groups.setdefault(grid_id, []).append({"code": code, "name": name})
        assigned: dict[int, dict[str, int]] = {}
        stmt = select(GridAssignment.grid_id, Layer.line, GridAssignment.unit_id).join(
            Layer, Layer.id == GridAssignment.layer_id
        )
        for grid_id, line, unit_id in session.execute(stmt):
            if unit_id is not None:
                assigned.setdefault(grid_id, {})[line] = unit_id

        def unit_dict(u, role: str) -> dict:
            return {"id": u.id, "code": u.code, "name": u.name, "kind": u.kind, "line": u.line, "role": role}

        unit_cache: dict[tuple[int, str], dict] = {}

        def cached(u, role):
            key = (u.id, role)
            if key not in unit_cache:
                unit_cache[key] = unit_dict(u, role)
            return unit_cache[key]

        chain_cache: dict[int, tuple] = {}

        def chain(area_id: int) -> tuple:
            if area_id not in chain_cache:
                node = tree_nodes[area_id]
                up = chain(node.parent_id) if node.parent_id in tree_nodes else ()
                chain_cache[area_id] = (*up, node)
            return chain_cache[area_id]

        hits: list[GridHit] = []
        geoms = []
        rows = session.execute(
            select(Area.id, Area.code, Area.name, Area.path, Area.parent_id, Area.geom)
            .where(Area.level == "grid", Area.geom.is_not(None))
            .order_by(Area.code)
        )
        anc_dicts: dict[int, tuple] = {}
        for row in rows:
            nodes = chain(row.parent_id) if row.parent_id in tree_nodes else ()
            if row.parent_id not in anc_dicts:
                anc_dicts[row.parent_id] = tuple({"level": n.level, "code": n.code, "name": n.name} for n in nodes)
            responsible = []
            for n in reversed(nodes):  # workstation, sub-centre, centre: nearest first
                responsible.extend(cached(u, "territorial") for u in territorial.get(n.id, ()))
            own = assigned.get(row.id, {})
            for line in LINES:
                if line in own and own[line] in unit_by_id:
                    responsible.append(cached(unit_by_id[own[line]], "line"))
                    continue
                for n in reversed(nodes):  # town branch first, then the district department
                    u = branch.get((line, n.id))
                    if u is not None:
                        responsible.append(cached(u, "line"))
                        break
            hits.append(GridHit(
                id=row.id, code=row.code, name=row.name, path=row.path,
                ancestor_ids=(*(n.id for n in nodes), row.id),
                ancestors=anc_dicts[row.parent_id], responsible_units=tuple(responsible),
                groups=tuple(groups.get(row.id, ())),
            ))
            geoms.append(row.geom)
        return cls(hits, shapely.from_wkb(geoms) if geoms else [], revision)

    # -- lookups --------------------------------------------------------------------------------

    def locate(self, lon: float, lat: float) -> GridHit | None:
        """The grid containing (or touching) a WGS84 point; the lowest code wins on shared edges."""
        if self.tree is None:
            return None
        found = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
        if len(found) == 0:
            return None
        return self.hits[int(found.min())]

    def locate_many(self, lons, lats) -> np.ndarray:
        """Index into ``hits`` for each point, -1 where no grid: one vectorised tree query."""
        pts = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        if self.tree is None or len(pts) == 0:
            return np.full(len(pts), -1, dtype=np.int64)
        pi, gi = self.tree.query(pts, predicate="intersects")
        out = np.full(len(pts), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(out, pi, gi)  # hits are sorted by code: the minimum index is the lowest code
        out[out == np.iinfo(np.int64).max] = -1
        return out


class IndexHolder:
    """One GridIndex per process and database, rebuilt when the geo revision moves on."""

    def __init__(self, check_seconds: float = 2.0):
        self.check_seconds = check_seconds
        self._index: GridIndex | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self, session: Session) -> GridIndex:
        now = time.monotonic()
        index = self._index
        if index is not None and now - self._checked < self.check_seconds:
            return index
        with self._lock:
            revision = get_revision(session)
            if self._index is None or self._index.revision != revision:
                self._index = GridIndex.build(session)
            self._checked = time.monotonic()
            return self._index


def locate(index: GridIndex, lon: float, lat: float, crs: str = "wgs84", scope: Scope = EVERYTHING) -> dict | None:
    """Resolve a point given in ``crs``; None outside the district or outside the caller's scope."""
    if crsmod.normalise_crs(crs) != "wgs84":
        x, y = crsmod.to_wgs84(lon, lat, crs)
        lon, lat = float(x), float(y)
    hit = index.locate(lon, lat)
    if hit is None or not scope.covers_ancestors(hit.ancestor_ids):
        return None
    return {**hit.as_dict(), "point": {"lon": lon, "lat": lat, "crs": "wgs84"}}
