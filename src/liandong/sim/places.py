"""Where a scenario's reports happen: each unit grid weighted by its residents (``placement: population``), with a
floor so that grids nobody lives in (roads, parks, factories) still see some reports, and a point drawn inside the
grid itself — so a report's grid is the grid the point resolves to, as for a real report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

FLOOR = 0.2
"""An empty grid weighs this share of an average grid's residents."""


@dataclass(frozen=True)
class Places:
    ids: np.ndarray
    geoms: np.ndarray
    weights: np.ndarray
    """Sum to one."""

    @classmethod
    def by_population(cls, ids, geoms, population) -> Places:
        people = np.nan_to_num(np.asarray(population, dtype=float), nan=0.0).clip(min=0)
        w = people + FLOOR * (people.mean() if len(people) and people.mean() > 0 else 1.0)
        return cls(np.asarray(ids), np.asarray(geoms, dtype=object), w / w.sum())

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` reports: each one's grid id and a point (lon, lat) inside that grid."""
        picks = rng.choice(len(self.ids), size=n, p=self.weights)
        lon, lat = np.empty(n), np.empty(n)
        for k in np.unique(picks):
            where = np.flatnonzero(picks == k)
            lon[where], lat[where] = inside(self.geoms[k], rng, len(where))
        return self.ids[picks], lon, lat


def inside(geom, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points drawn evenly inside ``geom`` (rejection from its bounds; its representative point if a thin
    sliver keeps refusing)."""
    minx, miny, maxx, maxy = geom.bounds
    xs, ys = np.empty(0), np.empty(0)
    for _ in range(20):
        need = n - len(xs)
        if need <= 0:
            break
        x, y = rng.uniform(minx, maxx, need * 2), rng.uniform(miny, maxy, need * 2)
        keep = shapely.contains_xy(geom, x, y)
        xs, ys = np.concatenate([xs, x[keep]]), np.concatenate([ys, y[keep]])
    if len(xs) < n:
        p = geom.representative_point()
        xs = np.concatenate([xs, np.full(n - len(xs), p.x)])
        ys = np.concatenate([ys, np.full(n - len(ys), p.y)])
    return xs[:n], ys[:n]
