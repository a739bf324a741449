"""Brute-force point-in-polygon without the STRtree, as the reference for the index."""

import numpy as np
import shapely


def brute_force_codes(codes: list[str], geoms: list, lons: np.ndarray, lats: np.ndarray) -> list[str | None]:
    """For each point: the lowest code among all grids that contain or touch it (bbox filter, then exact)."""
    bounds = shapely.bounds(np.asarray(geoms, dtype=object))
    order = np.argsort(np.asarray(codes))
    out: list[str | None] = []
    for x, y in zip(lons.tolist(), lats.tolist(), strict=True):
        cand = np.nonzero((bounds[:, 0] <= x) & (x <= bounds[:, 2]) & (bounds[:, 1] <= y) & (y <= bounds[:, 3]))[0]
        hits = [codes[i] for i in cand if shapely.intersects_xy(geoms[i], x, y)]
        out.append(min(hits) if hits else None)
    del order
    return out
