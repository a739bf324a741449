"""Point → unit grid resolution, in process, identical on SQLite and PostgreSQL.

The index holds every unit grid in a Shapely STRtree, sorted by code, plus each grid's ancestor chain
and responsible units, all prepared at build time so a lookup is one tree query and a tuple read.
A point on an edge shared by several grids resolves to the grid with the lowest code.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas import crs as crsmod
from liandong.areas.models import Area, AreaMember
from liandong.areas.responsible import directory as unit_directory
from liandong.areas.scope import EVERYTHING, Scope
from liandong.areas.service import REVISION_KEY as GEO_REVISION
from liandong.areas.service import get_revision
from liandong.errors import Invalid


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
        responsible_for = unit_directory().resolver(session)  # the units' answer (units/responsibility.py)
        groups: dict[int, list[dict]] = {}
        member_rows = session.execute(
            select(AreaMember.grid_id, Area.code, Area.name)
            .join(Area, Area.id == AreaMember.group_id)
            .order_by(Area.code)
        )
        for grid_id, code, name in member_rows:
            groups.setdefault(grid_id, []).append({"code": code, "name": name})
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
            hits.append(GridHit(
                id=row.id, code=row.code, name=row.name, path=row.path,
                ancestor_ids=(*(n.id for n in nodes), row.id), ancestors=anc_dicts[row.parent_id],
                responsible_units=responsible_for(tuple(n.id for n in nodes), row.id),
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


class Revisioned(Protocol):
    revision: int


V = TypeVar("V", bound=Revisioned)


class Rebuilt(Generic[V]):
    """A value built from the database and shared by a process's threads, rebuilt when its revision moves.

    Request threads hold a pool connection while they read it, so nobody may ever wait here on a thread
    that waits for a connection. Readers take the published value without a lock. When it is due for a
    check, the first reader to claim the check reads the revision and, if it moved, builds the new value in
    its own session (which holds its connection from that revision read on: the build never waits for the
    pool) while every other reader goes on with the old value; one assignment then publishes the new one.
    Only before a first value exists do readers wait, for the build in flight, holding no lock meanwhile.
    """

    def __init__(self, build: Callable[[Session], V], revision_key: str, check_seconds: float):
        self._build, self._key, self.check_seconds = build, revision_key, check_seconds
        self._value: V | None = None
        self._checked = -math.inf
        self._generation = 0
        """Moved on by ``forget``: a check that began before it must not mark the value as checked."""
        self._claimed = False
        self._cond = threading.Condition()
        """Guards ``_claimed`` and ``_generation`` only; never held across a database call."""

    def get(self, session: Session, check_seconds: float | None = None) -> V:
        """The current value, checked against the revision at most every ``check_seconds``."""
        every = self.check_seconds if check_seconds is None else check_seconds
        while True:
            value = self._value
            if value is not None and time.monotonic() - self._checked < every:
                return value
            with self._cond:
                if self._claimed:
                    if value is not None:
                        return value  # another reader is checking: go on with this one meanwhile
                    self._cond.wait()  # nothing built yet: wait for the first build (the lock is released)
                    continue
                self._claimed = True
            try:
                return self._refresh(session)
            finally:
                with self._cond:
                    self._claimed = False
                    self._cond.notify_all()

    def _refresh(self, session: Session) -> V:
        generation = self._generation
        with session.no_autoflush:  # reads only: a flush could wait for a write lock a first-build waiter holds
            revision = get_revision(session, self._key)
            value = self._value
            if value is None or value.revision != revision:
                value = self._build(session)
                self._value = value
        if generation == self._generation:
            self._checked = time.monotonic()
        return value

    def forget(self) -> None:
        """This process changed what the value is built from: check the revision at the next use."""
        with self._cond:
            self._generation += 1
            self._checked = -math.inf


class IndexHolder(Rebuilt[GridIndex]):
    """One GridIndex per process and database, rebuilt when the geo revision moves on."""

    def __init__(self, check_seconds: float = 2.0):
        super().__init__(GridIndex.build, GEO_REVISION, check_seconds)


def locate(index: GridIndex, lon: float, lat: float, crs: str = "wgs84", scope: Scope = EVERYTHING) -> dict | None:
    """Resolve a point given in ``crs``; None outside the district or outside the caller's scope."""
    if crsmod.normalise_crs(crs) != "wgs84":
        x, y = crsmod.to_wgs84(lon, lat, crs)
        lon, lat = float(x), float(y)
    hit = index.locate(lon, lat)
    if hit is None or not scope.covers_ancestors(hit.ancestor_ids):
        return None
    return {**hit.as_dict(), "point": {"lon": lon, "lat": lat, "crs": "wgs84"}}


def place(index: GridIndex, lon: float, lat: float, crs: str = "wgs84",
          scope: Scope = EVERYTHING) -> tuple[GridHit, float, float]:
    """Where a new record (a case, an incident, a hazard, a dispute) lies: the unit grid at the point, which must
    be in ``scope`` (the caller's jurisdiction), and the point in WGS84. The refusals every channel gives alike:
    ``bad_crs``, ``outside_district``, ``outside_jurisdiction``."""
    try:
        found = locate(index, lon, lat, crs)
    except ValueError as exc:
        raise Invalid(str(exc), code="bad_crs") from exc
    if found is None:
        raise Invalid("no unit grid at this point: it lies outside the district", code="outside_district")
    grid = index.by_id[found["grid"]["id"]]
    if not scope.covers_path(grid.path):
        raise Invalid("this point lies outside your jurisdiction", code="outside_jurisdiction")
    return grid, found["point"]["lon"], found["point"]["lat"]
