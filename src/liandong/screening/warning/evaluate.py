"""Prospective evaluation: run a detector as a shift would (every hour over the period, seeing only the past)
and score its warnings against the injected truth.

- A cluster is *found* when a warning raised within ``match_hours`` of its start holds at least ``overlap`` of
  its reports (by the end of the warning's window, so an early warning must already hold half the cluster).
- A *false alarm* is a warning sharing no report with any injected cluster; repeats on an area sharing a grid
  with an already counted false alarm less than ``dedupe_hours`` earlier count once (an alarm standing for
  several hourly scans is one alarm to the shift leader).
- *Hours to warning*: from a cluster's injected start to its first finding warning.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .clusters import Cluster
from .events import HOUR, WEEK, Reports
from .simulate import Truth

Detector = Callable[[Reports, float], list[Cluster]]


@dataclass(frozen=True, eq=False)
class Run:
    at: float
    warnings: list[Cluster]
    seconds: float


def replay(detector: Detector, reports: Reports, start: float, end: float, step_hours: float = 1.0) -> list[Run]:
    """Scan at start + step, start + 2·step, … ≤ end, each time over all reports (the detector looks back)."""
    runs = []
    for at in np.arange(start + step_hours * HOUR, end + 1e-6, step_hours * HOUR):
        t = clock.perf_counter()
        warnings = detector(reports, float(at))
        runs.append(Run(float(at), warnings, clock.perf_counter() - t))
    return runs


def score(runs: list[Run], truth: Truth, start: float, end: float, *, match_hours: float = 24.0,
          overlap: float = 0.5, dedupe_hours: float = 24.0) -> dict:
    """Recall, false alarms (total and per week), median hours to warning and scan time of a replay."""
    member_of = {int(r): c for c, ids in enumerate(truth.members) for r in ids}
    sizes = np.array([len(ids) for ids in truth.members])
    first = np.full(len(truth), np.nan)
    false_alarms: list[tuple[float, set[int]]] = []
    n_warnings = 0
    for run in sorted(runs, key=lambda r: r.at):
        for w in run.warnings:
            n_warnings += 1
            hits = np.bincount([member_of[int(r)] for r in w.report_ids if int(r) in member_of],
                               minlength=len(truth)).astype(np.int64)
            if hits.any():
                found = (hits >= overlap * sizes) & (truth.start <= run.at) & (run.at <= truth.start
                                                                                + match_hours * HOUR)
                first[found & np.isnan(first)] = run.at
                continue
            grids = set(np.asarray(w.grids).tolist())
            if any(run.at - at < dedupe_hours * HOUR and grids & seen for at, seen in false_alarms):
                continue
            false_alarms.append((run.at, grids))
    found = ~np.isnan(first)
    delays = (first[found] - truth.start[found]) / HOUR
    seconds = np.array([r.seconds for r in runs]) if runs else np.zeros(1)
    weeks = (end - start) / WEEK
    return {"clusters": len(truth), "found": int(found.sum()),
            "recall": round(float(found.mean()), 4) if len(truth) else None,
            "false_alarms": len(false_alarms), "false_alarms_per_week": round(len(false_alarms) / weeks, 3),
            "warnings": n_warnings,
            "median_hours_to_warning": round(float(np.median(delays)), 2) if len(delays) else None,
            "runs": len(runs), "scan_s_mean": round(float(seconds.mean()), 4),
            "scan_s_max": round(float(seconds.max()), 4), "scan_s_total": round(float(seconds.sum()), 2)}
