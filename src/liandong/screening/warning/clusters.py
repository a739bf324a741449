"""What a detector answers: a cluster of reports with its evidence, the same shape for every detector, so a
warning can be shown, compared and later stored without knowing which detector raised it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from .events import Grids


@dataclass(frozen=True, eq=False)
class Cluster:
    """One warning: the area (centre grid, radius, grids), the time window, the reports in both, observed against
    expected, and how strong it is (``score``: the log-likelihood ratio for the scan, the z-score for the
    baseline; ``p_value``: Monte Carlo for the scan, a normal tail for the baseline, for display only)."""

    detector: str
    at: float
    centre: int
    grids: np.ndarray
    radius: float
    start: float
    end: float
    observed: int
    expected: float
    relative_risk: float
    score: float
    p_value: float
    report_ids: np.ndarray
    kind: object = None
    extra: dict = field(default_factory=dict)

    def as_dict(self, grids: Grids | None = None) -> dict:
        """JSON-ready, grid positions replaced by grid ids when ``grids`` is given."""
        def ident(values):
            return [v.item() if hasattr(v, "item") else v for v in (grids.ids[values] if grids is not None else values)]

        return {"detector": self.detector, "at": self.at, "centre": ident(np.array([self.centre]))[0],
                "grids": ident(self.grids), "radius_m": self.radius, "start": self.start, "end": self.end,
                "observed": self.observed, "expected": round(self.expected, 4),
                "relative_risk": round(self.relative_risk, 3), "score": round(self.score, 3),
                "p_value": self.p_value, "report_ids": [int(i) for i in self.report_ids],
                "kind": self.kind.item() if hasattr(self.kind, "item") else self.kind, **self.extra}


def disjoint(candidates: Iterable[tuple[int, int]], members: Callable[[int, int], np.ndarray], n_grids: int,
             limit: int) -> list[tuple[int, int, np.ndarray]]:
    """Greedy choice of areas sharing no grid, best first (SaTScan's secondary clusters with no geographical
    overlap): ``candidates`` yields (centre, size index) in decreasing strength, ``members`` names its grids."""
    used = np.zeros(n_grids, dtype=bool)
    chosen = []
    for centre, size in candidates:
        grids = members(centre, size)
        if used[grids].any():
            continue
        used[grids] = True
        chosen.append((centre, size, grids))
        if len(chosen) >= limit:
            break
    return chosen
