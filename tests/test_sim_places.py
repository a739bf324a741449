"""Where a simulated report happens: grids drawn by their residents (an empty grid still gets its floor), every point
inside the grid it was drawn for, the same seed giving the same places."""

from __future__ import annotations

import numpy as np
import shapely

from liandong.sim.places import FLOOR, Places


def _grids():
    """Four 0.01° squares side by side and an L-shaped fifth (so rejection sampling has corners to miss)."""
    squares = [shapely.box(121.30 + 0.01 * i, 31.10, 121.31 + 0.01 * i, 31.11) for i in range(4)]
    ell = shapely.Polygon([(121.34, 31.10), (121.36, 31.10), (121.36, 31.101), (121.341, 31.101), (121.341, 31.12),
                           (121.34, 31.12)])
    return np.arange(1, 6), [*squares, ell], [0, 1000, 3000, 6000, 1000]


def test_grids_are_drawn_by_their_residents_with_a_floor():
    ids, geoms, people = _grids()
    places = Places.by_population(ids, geoms, people)
    assert places.weights.sum() == 1 and places.weights[0] > 0  # the empty grid still gets its floor
    assert places.weights[0] == FLOOR * np.mean(people) / (sum(people) + FLOOR * np.mean(people) * 5)
    got, _, _ = places.draw(np.random.default_rng(1), 60_000)
    shares = np.bincount(got, minlength=6)[1:] / 60_000
    assert np.allclose(shares, places.weights, atol=0.01)


def test_every_point_lies_in_its_grid_and_the_seed_decides():
    ids, geoms, people = _grids()
    places = Places.by_population(ids, geoms, people)
    got, lon, lat = places.draw(np.random.default_rng(2), 5000)
    for gid, geom in zip(ids, geoms, strict=True):
        mine = got == gid
        assert shapely.contains_xy(geom, lon[mine], lat[mine]).all()
    again = places.draw(np.random.default_rng(2), 5000)
    assert (again[0] == got).all() and (again[1] == lon).all()
