"""The detectors' input: grids as points in metres, reports as parallel numpy arrays, and each grid's
neighbours within a radius.

The detectors work on grid representative points, not on the reports' own coordinates: a cluster is a set of
unit grids (what the command centre can act on) and the spatial margins of the permutation model are per grid.
Times are seconds (Unix epoch, UTC, or any fixed origin) as float64 so that a month of reports is one array.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely

HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0


def lonlat_to_xy(lon, lat, origin: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Local equirectangular projection to metres around ``origin``: well under 0.1 % off across a district."""
    lon0, lat0 = origin
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    return (lon - lon0) * _M_PER_DEG_LON_EQ * np.cos(np.radians(lat0)), (lat - lat0) * _M_PER_DEG_LAT


def xy_to_lonlat(x, y, origin: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    lon0, lat0 = origin
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return lon0 + x / (_M_PER_DEG_LON_EQ * np.cos(np.radians(lat0))), lat0 + y / _M_PER_DEG_LAT


@dataclass(frozen=True, eq=False)
class Grids:
    """Unit grids as representative points: ``ids`` (database ids or codes), ``x``/``y`` metres, ``lon``/``lat``."""

    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    origin: tuple[float, float]

    @classmethod
    def from_lonlat(cls, ids, lon, lat, origin: tuple[float, float] | None = None) -> Grids:
        """Real grids: ``lon``/``lat`` of each grid's representative point (e.g. Shapely ``point_on_surface``)."""
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        origin = origin or (float(lon.mean()), float(lat.mean()))
        x, y = lonlat_to_xy(lon, lat, origin)
        return cls(np.asarray(ids), x, y, lon, lat, origin)

    @classmethod
    def from_xy(cls, ids, x, y, origin: tuple[float, float] = (121.38, 31.11)) -> Grids:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        lon, lat = xy_to_lonlat(x, y, origin)
        return cls(np.asarray(ids), x, y, lon, lat, origin)

    def __len__(self) -> int:
        return len(self.x)

    @cached_property
    def _id_order(self) -> np.ndarray:
        return np.argsort(self.ids, kind="stable")

    def index_of(self, ids) -> np.ndarray:
        """Positions of grid ids (every id must be known)."""
        ids = np.asarray(ids)
        pos = np.searchsorted(self.ids[self._id_order], ids)
        pos = np.minimum(pos, len(self) - 1)
        found = self._id_order[pos]
        if not np.all(self.ids[found] == ids):
            raise KeyError("unknown grid id")
        return found


@dataclass(frozen=True, eq=False)
class Reports:
    """Reports (cases, hazards, disputes, sensor alarms) as parallel arrays, one row a report.

    ``grid`` is the position in :class:`Grids`; ``kind`` a matter code (any dtype); ``time`` seconds.
    """

    ids: np.ndarray
    grid: np.ndarray
    time: np.ndarray
    kind: np.ndarray
    lon: np.ndarray
    lat: np.ndarray

    @classmethod
    def build(cls, ids, grid, time, kind=None, lon=None, lat=None) -> Reports:
        """Arrays sorted by time, as every detector expects; missing kinds/coordinates become 0/NaN."""
        ids = np.asarray(ids, dtype=np.int64)
        n = len(ids)
        time = np.asarray(time, dtype=np.float64)
        order = np.argsort(time, kind="stable")
        cols = [np.asarray(grid, dtype=np.int64),
                np.zeros(n, dtype=np.int64) if kind is None else np.asarray(kind),
                np.full(n, np.nan) if lon is None else np.asarray(lon, dtype=np.float64),
                np.full(n, np.nan) if lat is None else np.asarray(lat, dtype=np.float64)]
        if any(len(c) != n for c in (time, *cols)):
            raise ValueError("report arrays differ in length")
        grid, kind, lon, lat = (c[order] for c in cols)
        return cls(ids[order], grid, time[order], kind, lon, lat)

    def __len__(self) -> int:
        return len(self.ids)

    def between(self, start: float, end: float) -> slice:
        """Rows with ``start < time <= end`` (the arrays are sorted by time)."""
        lo = int(np.searchsorted(self.time, start, side="right"))
        return slice(lo, int(np.searchsorted(self.time, end, side="right")))

    def take(self, rows) -> Reports:
        return Reports(self.ids[rows], self.grid[rows], self.time[rows], self.kind[rows], self.lon[rows],
                       self.lat[rows])


@dataclass(frozen=True, eq=False)
class Neighbourhood:
    """Each grid's neighbours within ``radius`` metres (itself included), nearest first, as CSR arrays:
    the neighbours of grid ``z`` are ``indices[indptr[z]:indptr[z+1]]`` at distances ``dist[...]``.

    Built once per grid layer (≈ 3 M pairs for 37,000 grids of 100 m at 500 m); every detector reads it.
    """

    grids: Grids
    radius: float
    indptr: np.ndarray
    indices: np.ndarray
    dist: np.ndarray

    @classmethod
    def build(cls, grids: Grids, radius: float) -> Neighbourhood:
        pts = shapely.points(grids.x, grids.y)
        centre, other = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=radius)
        d = np.hypot(grids.x[centre] - grids.x[other], grids.y[centre] - grids.y[other]).astype(np.float32)
        order = np.lexsort((other, d, centre))
        indptr = np.zeros(len(grids) + 1, dtype=np.int64)
        np.cumsum(np.bincount(centre, minlength=len(grids)), out=indptr[1:])
        return cls(grids, float(radius), indptr, other[order].astype(np.int32), d[order])

    @cached_property
    def row(self) -> np.ndarray:
        """The centre grid of each CSR entry."""
        return np.repeat(np.arange(len(self.grids), dtype=np.int32), np.diff(self.indptr))

    @cached_property
    def _counts(self) -> dict[float, np.ndarray]:
        return {}

    def count_within(self, radius: float) -> np.ndarray:
        """For each grid, how many grids lie within ``radius`` (≤ the built radius), itself included."""
        if radius > self.radius + 1e-6:
            raise ValueError("radius beyond the neighbourhood")
        if radius not in self._counts:
            near = self.dist <= radius + 1e-3
            self._counts[radius] = np.bincount(self.row[near], minlength=len(self.grids))
        return self._counts[radius]

    def members(self, centre: int, radius: float) -> np.ndarray:
        """Grids within ``radius`` of grid ``centre``, nearest first."""
        lo = self.indptr[centre]
        return self.indices[lo:lo + self.count_within(radius)[centre]]

    def ring_sums(self, values: np.ndarray, radii) -> np.ndarray:
        """``(grids, len(radii))``: for each grid and radius, the sum of ``values`` over grids within it."""
        radii = np.asarray(radii, dtype=np.float64)
        if radii.max() > self.radius + 1e-6:
            raise ValueError("radius beyond the neighbourhood")
        ring = np.searchsorted(radii + 1e-3, self.dist, side="left")
        keep = ring < len(radii)
        k = len(radii)
        sums = np.bincount(self.row[keep].astype(np.int64) * k + ring[keep], weights=values[self.indices[keep]],
                           minlength=len(self.grids) * k)
        return np.cumsum(sums.reshape(len(self.grids), k), axis=1)

    def spread(self, grid: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """For each entry of ``grid``, the grids within ``radius``: (position in ``grid``, neighbour grid)."""
        grid = np.asarray(grid, dtype=np.int64)
        lo = self.indptr[grid]
        counts = self.count_within(radius)[grid]
        src = np.repeat(np.arange(len(grid)), counts)
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return src, self.indices[np.repeat(lo, counts) + offs]
