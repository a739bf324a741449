"""A per-area baseline detector in the manner of CDC's EARS C2, the yardstick the scan is measured against.

EARS C2 compares today's count with the mean and standard deviation of the 7 days before a 2-day guard band
(the guard keeps a growing outbreak out of its own baseline) and alarms at 3 standard deviations. Here the
"day" is a window of ``window_hours`` ending at the scan time, the baseline the windows of the same length
tiling ``baseline_days`` before ``guard_days`` (or, with ``step_hours=24``, the same hours of those days, which
takes the daily rhythm out of the comparison), and the count that of an area: a grid and the grids within
``radius`` (0 for single grids). Counts of 100 m grids are mostly 0, so the standard deviation is floored
(``sd_floor``) or every first report would be an alarm; with the floor the detector becomes, where reports are
sparse, a count threshold (mean + threshold × floor). Overlapping alarming areas are thinned, strongest first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .clusters import Cluster, disjoint
from .events import DAY, HOUR, Neighbourhood, Reports


@dataclass(frozen=True)
class BaselineSettings:
    radius: float = 300.0
    window_hours: float = 6.0
    step_hours: float | None = 24.0  # 24: the same hours of earlier days; None: consecutive windows as EARS
    baseline_days: float = 7.0
    guard_days: float = 2.0
    threshold: float = 3.0
    sd_floor: float = 2.0
    min_observed: int = 3
    max_clusters: int = 20
    by_kind: bool = False


class BaselineDetector:
    """Call with reports and a scan time; answers the alarming areas as :class:`Cluster` s."""

    name = "EARS C2 baseline"

    def __init__(self, neighbourhood: Neighbourhood, settings: BaselineSettings | None = None):
        self.nbh, self.settings = neighbourhood, settings or BaselineSettings()
        if self.settings.radius > neighbourhood.radius + 1e-6:
            raise ValueError("radius beyond the neighbourhood")

    def __call__(self, reports: Reports, at: float) -> list[Cluster]:
        if not self.settings.by_kind:
            return self.detect(reports, at, None)
        now = reports.between(at - self.settings.window_hours * HOUR, at)
        return [c for k in np.unique(reports.kind[now]) for c in self.detect(reports, at, k)]

    def detect(self, reports: Reports, at: float, kind=None) -> list[Cluster]:
        s, n_grids = self.settings, len(self.nbh.grids)
        width = s.window_hours * HOUR

        def rows_of(span: slice) -> np.ndarray:
            rows = np.arange(span.start, span.stop)
            return rows if kind is None else rows[reports.kind[rows] == kind]

        now = rows_of(reports.between(at - width, at))
        src, area = self.nbh.spread(reports.grid[now], s.radius)
        count = np.bincount(area, minlength=n_grids)
        need = max(s.min_observed, math.floor(s.threshold * s.sd_floor) + 1)
        candidates = np.flatnonzero(count >= need)
        if len(candidates) == 0:
            return []
        step = (s.step_hours or s.window_hours) * HOUR
        n_windows = max(1, int(round(s.baseline_days * DAY / step)))
        end = at - s.guard_days * DAY
        past = rows_of(reports.between(end - (n_windows - 1) * step - width, end))
        lag = end - reports.time[past]
        window = np.minimum((lag // step).astype(np.int64), n_windows - 1)
        past = past[lag - window * step < width]  # windows spaced wider than they last leave gaps
        window = window[lag - window * step < width]
        src, area = self.nbh.spread(reports.grid[past], s.radius)
        slot = np.full(n_grids, -1)
        slot[candidates] = np.arange(len(candidates))
        hit = slot[area] >= 0
        table = np.bincount(slot[area[hit]] * n_windows + window[src[hit]],
                            minlength=len(candidates) * n_windows).reshape(len(candidates), n_windows)
        mean = table.mean(axis=1)
        sd = table.std(axis=1, ddof=1) if n_windows > 1 else np.zeros(len(candidates))
        z = (count[candidates] - mean) / np.maximum(sd, s.sd_floor)
        alarm = np.flatnonzero(z > s.threshold)
        order = alarm[np.lexsort((-count[candidates[alarm]], -z[alarm]))]

        clusters = []
        for i, _, grids in disjoint(((int(i), 0) for i in order),
                                    lambda i, _: self.nbh.members(int(candidates[i]), s.radius), n_grids,
                                    s.max_clusters):
            observed, expected = int(count[candidates[i]]), float(mean[i])
            inside = np.isin(reports.grid[now], grids)
            clusters.append(Cluster(
                detector=self.name, at=float(at), centre=int(candidates[i]), grids=grids, radius=s.radius,
                start=float(at - width), end=float(at), observed=observed, expected=expected,
                relative_risk=observed / expected if expected > 0 else float("inf"), score=float(z[i]),
                p_value=0.5 * math.erfc(float(z[i]) / math.sqrt(2.0)), report_ids=reports.ids[now[inside]],
                kind=kind, extra={"baseline_sd": float(sd[i])}))
        return clusters
