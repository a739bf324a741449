"""Synthetic district-months with known clusters, to measure the detectors where the truth is known.

Background reports are an inhomogeneous Poisson process separable in space (grid weights, e.g. a population
surface) and time (a daily and a weekly rhythm): exactly the null hypothesis of the permutation scan, so any
warning on it is a false one. Clusters are injected on top: n reports of one kind in grids within ``radius``
metres of a centre and within ``hours`` of a start, the truth kept per cluster as report ids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import shapely

from .events import DAY, HOUR, Grids, Reports, xy_to_lonlat

DAILY = np.array([0.25, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.4, 1.6, 1.6, 1.4,
                  1.1, 1.3, 1.5, 1.5, 1.4, 1.3, 1.2, 1.1, 1.0, 0.8, 0.6, 0.4])
"""Relative hourly intensity (local time): quiet nights, a morning and an afternoon peak."""
WEEKLY = np.array([1.1, 1.05, 1.0, 1.0, 1.0, 0.85, 0.8])
"""Monday … Sunday."""
KINDS = {"乱设摊": 0.2, "垃圾堆放": 0.18, "占道经营": 0.14, "违章搭建": 0.1, "噪声扰民": 0.1, "路面破损": 0.1,
         "群租": 0.08, "井盖缺失": 0.05, "油烟扰民": 0.05}
"""Matter kinds of the background and of the clusters, with their shares."""
MONDAY = dt.datetime(2025, 3, 3, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
"""A Monday midnight in Shanghai: the default start, so that the rhythms fall on local hours and weekdays."""


@dataclass(frozen=True, eq=False)
class Truth:
    """The injected clusters: start time, centre grid, kind and member report ids of each."""

    start: np.ndarray
    centre: np.ndarray
    kind: np.ndarray
    members: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.start)


@dataclass(frozen=True, eq=False)
class District:
    """A simulated district: its grids, reports (background and clusters), the truth, and the evaluation period
    (``start``, ``end``] after a warm-up that fills the first study period."""

    grids: Grids
    reports: Reports
    truth: Truth
    start: float
    end: float


def lattice(n_x: int, n_y: int, cell: float = 100.0, origin: tuple[float, float] = (121.38, 31.11)) -> Grids:
    """A rectangle of square grids of ``cell`` metres, represented by their centres; ids 0 … n−1, row by row."""
    xs, ys = np.meshgrid((np.arange(n_x) + 0.5) * cell, (np.arange(n_y) + 0.5) * cell)
    return Grids.from_xy(np.arange(n_x * n_y), xs.ravel(), ys.ravel(), origin)


def population(grids: Grids, *, towns: int = 14, seed: int = 0) -> np.ndarray:
    """Uneven weights like a suburban district's: town centres as Gaussian bumps over a thin rural floor,
    with grid-to-grid log-normal noise."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(grids), towns, replace=False)
    w = np.full(len(grids), 0.05)
    for i in pick:
        spread = rng.uniform(800.0, 2500.0)
        w += rng.uniform(0.5, 2.0) * np.exp(-((grids.x - grids.x[i]) ** 2 + (grids.y - grids.y[i]) ** 2)
                                            / (2 * spread**2))
    return w * rng.lognormal(0.0, 0.5, len(grids))


def simulate(grids: Grids, *, days: float = 30, warmup_days: float = 28, per_day: float = 850,
             clusters: int = 30, size: tuple[int, int] = (8, 15), radius: float = 300.0, hours: float = 6.0,
             weights: np.ndarray | None = None, kinds: dict[str, float] | None = None, jitter: float = 50.0,
             start: float = MONDAY, seed: int = 0) -> District:
    """Background over ``warmup_days + days``, clusters only in the last ``days``; seeded, so repeatable."""
    rng = np.random.default_rng(seed)
    kinds = kinds or KINDS
    names, shares = np.array(list(kinds)), np.array(list(kinds.values()), dtype=np.float64)
    shares /= shares.sum()
    p = None if weights is None else np.asarray(weights, dtype=np.float64) / np.sum(weights)
    total_hours = int(round((warmup_days + days) * 24))
    hour = np.arange(total_hours)
    rhythm = DAILY[hour % 24] * WEEKLY[(hour // 24) % 7]
    per_hour = rng.poisson(per_day / 24 * rhythm / rhythm.mean())
    b_time = start + np.repeat(hour, per_hour) * HOUR + rng.uniform(0, HOUR, per_hour.sum())
    b_grid = rng.choice(len(grids), len(b_time), p=p)
    b_kind = rng.choice(names, len(b_time), p=shares)

    eval_start = start + warmup_days * DAY
    eval_end = eval_start + days * DAY
    c_start = np.sort(rng.uniform(eval_start, eval_end - hours * HOUR, clusters))
    c_centre = rng.choice(len(grids), clusters, p=p)
    c_kind = rng.choice(names, clusters, p=shares)
    c_size = rng.integers(size[0], size[1] + 1, clusters)
    pts = shapely.points(grids.x, grids.y)
    near_c, near_g = shapely.STRtree(pts).query(pts[c_centre], predicate="dwithin", distance=radius)
    m_grid, m_time, m_kind, m_cluster = [], [], [], []
    for c in range(clusters):
        m_grid.append(rng.choice(near_g[near_c == c], c_size[c]))
        m_time.append(c_start[c] + rng.uniform(0, hours * HOUR, c_size[c]))
        m_kind.append(np.full(c_size[c], c_kind[c]))
        m_cluster.append(np.full(c_size[c], c))

    grid = np.concatenate([b_grid, *m_grid]).astype(np.int64)
    time = np.concatenate([b_time, *m_time])
    kind = np.concatenate([b_kind, *m_kind])
    cluster = np.concatenate([np.full(len(b_time), -1), *m_cluster])
    order = np.argsort(time, kind="stable")
    grid, time, kind, cluster = grid[order], time[order], kind[order], cluster[order]
    ids = np.arange(1, len(time) + 1)
    lon, lat = xy_to_lonlat(grids.x[grid] + rng.uniform(-jitter, jitter, len(grid)),
                            grids.y[grid] + rng.uniform(-jitter, jitter, len(grid)), grids.origin)
    reports = Reports.build(ids, grid, time, kind, lon, lat)
    truth = Truth(c_start, c_centre, c_kind, [ids[cluster == c] for c in range(clusters)])
    return District(grids, reports, truth, eval_start, eval_end)
