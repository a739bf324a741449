"""Prospective space-time permutation scan statistic (Kulldorff, Heffernan, Hartman, Assunção & Mostashari 2005,
as SaTScan and R ``scanstatistics`` implement it) over grid neighbourhoods.

Why this statistic: it needs no population at risk, only the reports themselves. The expected count of a
cylinder (area A × window W) comes from the margins of the study period, μ = N_A · N_W / N, so a district
where some grids always report more, or where nights are quiet, raises no alarm by itself; only an excess of
reports in one place *now* compared with that place's share of the whole period does.

- Cylinders: a centre grid (every grid with a report in the longest window), every radius of ``radii``
  (grids whose representative point is within it), every window of ``windows_hours`` ending at the scan time.
- Strength: the Poisson generalised likelihood ratio, for observed C > expected μ only,
  LLR = C ln(C/μ) + (N−C) ln((N−C)/(N−μ)), cylinders with fewer than ``min_observed`` reports left out.
- Significance: Monte Carlo, permuting times among the study period's reports (which keeps both margins and
  so every μ), ``replicas`` times; the p-value of a cluster compares its LLR with the replicas' maxima, by rank
  or by a Gumbel fit (SaTScan's option, which resolves p-values far below 1/(replicas+1) — hourly scans need
  α near 1/(scans a week) for a false-alarm rate of one a week).
- Secondary clusters: each centre's best cylinder, strongest first, dropped when sharing a grid with a stronger
  one, each judged against the same maxima (conservative, as SaTScan does).

Vectorised with numpy: all replicas of a batch are scanned at once; pairs (centre, report) are found through a
bucket hash of cell size = the largest radius, so the work grows with the reports in the longest window, not
with the number of grids. The study-period margins are updated incrementally between consecutive scans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clusters import Cluster, disjoint
from .events import DAY, HOUR, Neighbourhood, Reports

_EULER = 0.5772156649015329
_ALL = object()


@dataclass(frozen=True)
class ScanSettings:
    radii: tuple[float, ...] = (0.0, 100.0, 200.0, 300.0, 400.0, 500.0)
    windows_hours: tuple[float, ...] = (1.0, 2.0, 3.0, 6.0, 12.0, 24.0)
    study_days: float = 28.0
    replicas: int = 99
    alpha: float = 0.002
    p_value: str = "gumbel"  # or "rank"
    min_observed: int = 3
    max_clusters: int = 5
    by_kind: bool = False
    seed: int = 0


@dataclass(frozen=True, eq=False)
class ScanResult:
    """One scan of one report set: clusters (significant ones, or all disjoint ones on request), the replicas'
    maximum LLRs, and the study period's size."""

    clusters: list[Cluster]
    null_llr: np.ndarray
    n_study: int
    n_recent: int


def expected_counts(n_space: np.ndarray, n_time: np.ndarray) -> np.ndarray:
    """μ_zd = N_z · N_d / N for every grid z and time bin d: the permutation model's expectation (sums to N)."""
    n_space, n_time = np.asarray(n_space, dtype=np.float64), np.asarray(n_time, dtype=np.float64)
    return np.outer(n_space, n_time) / n_space.sum()


def poisson_llr(observed, expected, total) -> np.ndarray:
    """Kulldorff's log-likelihood ratio for an excess (0 where observed ≤ expected)."""
    c, mu = np.asarray(observed, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    out = np.zeros(np.broadcast(c, mu).shape)
    ok = c > mu
    c, mu = np.broadcast_to(c, out.shape)[ok], np.broadcast_to(mu, out.shape)[ok]
    rest = total - c
    out[ok] = c * np.log(c / mu) + np.where(rest > 0, rest * np.log(np.maximum(rest, 1e-300) / (total - mu)), 0.0)
    return out


def gumbel_p(values, maxima: np.ndarray) -> np.ndarray:
    """Upper tail of a Gumbel distribution fitted to the replicas' maxima by moments."""
    scale = float(np.std(maxima)) * np.sqrt(6.0) / np.pi
    if scale <= 0:
        return rank_p(values, maxima)
    loc = float(np.mean(maxima)) - _EULER * scale
    return -np.expm1(-np.exp(-(np.asarray(values, dtype=np.float64) - loc) / scale))


def rank_p(values, maxima: np.ndarray) -> np.ndarray:
    """(1 + replicas at least as strong) / (replicas + 1)."""
    ranks = len(maxima) - np.searchsorted(np.sort(maxima), np.asarray(values, dtype=np.float64), side="left")
    return (1.0 + ranks) / (len(maxima) + 1.0)


class SpaceTimeScan:
    """A prospective scan over one neighbourhood structure; call it with reports and a scan time.

    Keeps the last study period's margins per kind so that hourly scans over the same reports only add and
    drop the reports that entered or left the period.
    """

    name = "space-time permutation scan"

    def __init__(self, neighbourhood: Neighbourhood, settings: ScanSettings | None = None):
        self.nbh, self.settings = neighbourhood, settings or ScanSettings()
        self.radii = np.asarray(self.settings.radii, dtype=np.float64)
        self.windows = np.asarray(self.settings.windows_hours, dtype=np.float64) * HOUR
        if np.any(np.diff(self.radii) <= 0) or np.any(np.diff(self.windows) <= 0):
            raise ValueError("radii and windows must increase")
        if self.settings.replicas < 1 or self.settings.p_value not in ("gumbel", "rank"):
            raise ValueError("at least one replica, and p-values by 'gumbel' or 'rank'")
        if self.radii[-1] > neighbourhood.radius + 1e-6:
            raise ValueError(f"largest radius {self.radii[-1]} m beyond the neighbourhood's {neighbourhood.radius} m")
        grids = neighbourhood.grids
        size = max(float(self.radii[-1]), 1.0)
        bx = np.floor((grids.x - grids.x.min()) / size).astype(np.int64) + 1
        by = np.floor((grids.y - grids.y.min()) / size).astype(np.int64) + 1
        self._nby = int(by.max()) + 2
        self._nbuckets = (int(bx.max()) + 2) * self._nby
        self._bucket = bx * self._nby + by
        self._offsets = np.array([dx * self._nby + dy for dx in (-1, 0, 1) for dy in (-1, 0, 1)], dtype=np.int64)
        self._ring = np.searchsorted(self.radii + 1e-3, neighbourhood.dist, side="left").astype(np.int8)
        self._margins: dict = {}

    def __call__(self, reports: Reports, at: float) -> list[Cluster]:
        """Significant clusters at ``at`` (all kinds together, or each kind apart with ``by_kind``)."""
        return [c for result in self.scan(reports, at) for c in result.clusters]

    def scan(self, reports: Reports, at: float, *, all_clusters: bool = False) -> list[ScanResult]:
        if not self.settings.by_kind:
            return [self.scan_kind(reports, at, _ALL, all_clusters=all_clusters)]
        recent = reports.between(at - self.windows[-1], at)
        kinds, counts = np.unique(reports.kind[recent], return_counts=True)
        return [self.scan_kind(reports, at, k, all_clusters=all_clusters)
                for k, n in zip(kinds, counts, strict=True) if n >= self.settings.min_observed]

    def scan_kind(self, reports: Reports, at: float, kind=_ALL, *, all_clusters: bool = False) -> ScanResult:
        s, n_win_sizes = self.settings, len(self.windows)
        study = reports.between(at - s.study_days * DAY, at)
        rows = np.arange(study.start, study.stop)
        if kind is not _ALL:
            rows = rows[reports.kind[rows] == kind]
        grid, time = reports.grid[rows], reports.time[rows]
        r0 = int(np.searchsorted(time, at - self.windows[-1], side="right"))
        n, m = len(rows), len(rows) - r0
        if m < s.min_observed:
            return ScanResult([], np.zeros(0), n, m)
        win = np.searchsorted(self.windows, at - time[r0:], side="right")
        n_win = np.cumsum(np.bincount(win, minlength=n_win_sizes)).astype(np.float64)
        n_area = self._area_margins(reports, kind, at - s.study_days * DAY, at)

        _, cgrid, counts = self._cells(np.zeros(m, dtype=np.int64), grid[r0:], win)
        llr = self._llr(counts, n_area[cgrid], n_win, n)
        null = self._null(grid, win, n_area, n_win, n, np.random.default_rng([s.seed, int(at) % 2**63]))
        pv = gumbel_p if s.p_value == "gumbel" else rank_p

        flat = llr.reshape(len(cgrid), len(self.radii) * n_win_sizes)
        best = flat.argmax(axis=1)
        strength = flat[np.arange(len(cgrid)), best]
        p_best = pv(strength, null)
        order = [i for i in np.argsort(-strength, kind="stable")
                 if strength[i] > 0 and (all_clusters or p_best[i] <= s.alpha)]

        def members(ci: int, b: int) -> np.ndarray:
            return self.nbh.members(int(cgrid[ci]), float(self.radii[b // n_win_sizes]))

        clusters = []
        for ci, b, area in disjoint(((i, int(best[i])) for i in order), members, len(self.nbh.grids),
                                    s.max_clusters):
            k, w = divmod(b, n_win_sizes)
            inside = np.isin(grid[r0:], area) & (win <= w)
            observed = int(counts[ci, k, w])
            mu = float(n_area[cgrid[ci], k] * n_win[w] / n)
            rr = (observed / mu) / ((n - observed) / (n - mu)) if n > observed else float("inf")
            clusters.append(Cluster(
                detector=self.name, at=float(at), centre=int(cgrid[ci]), grids=area, radius=float(self.radii[k]),
                start=float(at - self.windows[w]), end=float(at), observed=observed, expected=mu,
                relative_risk=float(rr), score=float(strength[ci]), p_value=float(p_best[ci]),
                report_ids=reports.ids[rows[r0:][inside]], kind=None if kind is _ALL else kind,
                extra={"n_study": n, "replicas": len(null)}))
        return ScanResult(clusters, null, n, m)

    def _area_margins(self, reports: Reports, kind, start: float, end: float) -> np.ndarray:
        """N_A for every grid and radius over the study period (start, end], updated from the previous scan's."""
        key = "all" if kind is _ALL else ("kind", kind)
        cached = self._margins.get(key)

        def grids_of(span: slice) -> np.ndarray:
            g = reports.grid[span]
            return g if kind is _ALL else g[reports.kind[span] == kind]

        k = len(self.radii)
        if cached is not None and cached[0] is reports and cached[1] <= start < cached[2] <= end:
            ring = cached[3]
            for span, sign in ((reports.between(cached[1], start), -1.0), (reports.between(cached[2], end), 1.0)):
                self._add_spread(ring, grids_of(span), sign)
        else:
            ring = np.zeros(len(self.nbh.grids) * k)
            self._add_spread(ring, grids_of(reports.between(start, end)), 1.0)
        self._margins[key] = (reports, start, end, ring)
        return np.cumsum(ring.reshape(-1, k), axis=1)

    def _add_spread(self, ring: np.ndarray, grids: np.ndarray, sign: float) -> None:
        """Add ``sign`` for each report at ``grids`` to the ring counts of every centre within the largest radius
        (the neighbourhood is symmetric: z lists g exactly when g lists z, at the same distance)."""
        if len(grids) == 0:
            return
        g, n = np.unique(grids, return_counts=True)
        lo, hi = self.nbh.indptr[g], self.nbh.indptr[g + 1]
        counts = hi - lo
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        entry = np.repeat(lo, counts) + offs
        ring_k = self._ring[entry].astype(np.int64)
        keep = ring_k < len(self.radii)
        cells = self.nbh.indices[entry[keep]].astype(np.int64) * len(self.radii) + ring_k[keep]
        ring += sign * np.bincount(cells, weights=np.repeat(n, counts)[keep], minlength=len(ring))

    def _cells(self, rep: np.ndarray, grid: np.ndarray, win: np.ndarray, n_rep: int = 1):
        """Counts of the cylinders around every (replica, grid) holding a point, for the centres with at least
        ``min_observed`` points within the largest radius: ``(centres, radii, windows)``, cumulative over radius
        and window; centres sorted by replica."""
        n_grids, k, w = len(self.nbh.grids), len(self.radii), len(self.windows)
        centre_key = np.flatnonzero(np.bincount(rep * n_grids + grid, minlength=n_rep * n_grids))
        crep, cgrid = np.divmod(centre_key, n_grids)
        point_key = rep * self._nbuckets + self._bucket[grid]
        order = np.argsort(point_key, kind="stable")
        first = np.zeros(n_rep * self._nbuckets + 1, dtype=np.int64)
        np.cumsum(np.bincount(point_key, minlength=n_rep * self._nbuckets), out=first[1:])
        query = ((crep * self._nbuckets + self._bucket[cgrid])[None, :] + self._offsets[:, None]).ravel()
        lo = first[query]
        counts = first[query + 1] - lo
        centre = np.repeat(np.tile(np.arange(len(cgrid)), len(self._offsets)), counts)
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        point = order[np.repeat(lo, counts) + offs]
        zc, gp = cgrid[centre], grid[point]
        gx, gy = self.nbh.grids.x, self.nbh.grids.y
        ring = np.searchsorted(self.radii + 1e-3, np.hypot(gx[zc] - gx[gp], gy[zc] - gy[gp]), side="left")
        keep = ring < k
        centre, ring, point = centre[keep], ring[keep], point[keep]
        busy = np.bincount(centre, minlength=len(cgrid)) >= self.settings.min_observed
        slot = np.cumsum(busy) - 1
        inside = busy[centre]
        cell = (slot[centre[inside]] * k + ring[inside]) * w + win[point[inside]]
        n_busy = int(busy.sum())
        cube = np.bincount(cell, minlength=n_busy * k * w).reshape(n_busy, k, w)
        return crep[busy], cgrid[busy], np.cumsum(np.cumsum(cube, axis=1), axis=2)

    def _llr(self, counts: np.ndarray, n_area: np.ndarray, n_win: np.ndarray, n: int) -> np.ndarray:
        out = np.zeros(counts.shape)
        ok = counts >= self.settings.min_observed
        mu = (n_area[:, :, None] * (n_win / n)[None, None, :])[ok]
        out[ok] = poisson_llr(counts[ok], mu, n)
        return out

    def _null(self, grid: np.ndarray, win: np.ndarray, n_area: np.ndarray, n_win: np.ndarray, n: int,
              rng: np.random.Generator) -> np.ndarray:
        """Maximum LLR of each replica: the recent times dealt to a random subset of the period's reports."""
        m = len(win)
        batch = max(1, 60_000 // m)
        maxima = []
        for b0 in range(0, self.settings.replicas, batch):
            b = min(batch, self.settings.replicas - b0)
            picks = np.concatenate([rng.choice(n, m, replace=False) for _ in range(b)])
            crep, cgrid, counts = self._cells(np.repeat(np.arange(b), m), grid[picks], np.tile(win, b), b)
            llr = self._llr(counts, n_area[cgrid], n_win, n).reshape(len(cgrid), len(self.radii) * len(self.windows))
            best = llr.max(axis=1, initial=0.0)  # no centre anywhere busy enough (sparse reports): no row, no maximum
            top = np.zeros(b)
            np.maximum.at(top, crep, best)
            maxima.append(top)
        return np.concatenate(maxima)
