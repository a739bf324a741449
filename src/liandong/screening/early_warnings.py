"""Early warning (早研判) service: scan the recent reports, store what is significant, once.

``scan(session, at, index)`` reads the study period's reports (``early_warning_input``), runs the prospective
space-time permutation scan (``warning/scan.py``, its tuned defaults) and, beside it, the EARS C2 baseline
(``warning/baseline.py``). Only the scan's significant clusters are stored (``detector='scan'``); the baseline's
alarms are reported in the outcome for comparison and never stored — it raises more false alarms on sparse grids
(see ``make bench``), and a shift leader should not have to dismiss them.

Stored once: the detection runs outside any lock; storing runs under one lock per database (a PostgreSQL advisory
lock, on SQLite the write lock taken first), so concurrent scans (several app processes, the CLI) see each
other's rows. A cluster whose grids and window overlap a stored warning of the same detector is that warning: an
open one (new, watching) takes the new evidence (cases and grids joined, the strongest scan's figures kept), a
closed one (dismissed, promoted) keeps the decision and the cluster is not raised again while its windows chain on.
Otherwise a row is added under its ``dedupe_key`` (unique, inside a savepoint: the last guard). The caller commits.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.db import is_postgres
from liandong.screening.early_warning_input import GridSpace, Report, grid_space, reports
from liandong.screening.early_warning_models import EarlyWarning
from liandong.screening.early_warning_states import OPEN_STATUSES
from liandong.screening.warning.baseline import BaselineDetector
from liandong.screening.warning.clusters import Cluster
from liandong.screening.warning.events import Reports
from liandong.screening.warning.scan import ScanSettings, SpaceTimeScan


@dataclass
class Outcome:
    at: dt.datetime
    reports: int
    created: list[EarlyWarning] = field(default_factory=list)
    updated: list[EarlyWarning] = field(default_factory=list)
    suppressed: int = 0
    """Clusters overlapping a dismissed or promoted warning: not raised again."""
    baseline: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def found(self) -> list[EarlyWarning]:
        return [*self.created, *self.updated]


@dataclass(frozen=True)
class Found:
    """A cluster in the database's terms."""

    detector: str
    at: dt.datetime
    start: dt.datetime
    end: dt.datetime
    centre: int
    centre_code: str
    centre_path: str
    lon: float
    lat: float
    grid_ids: list[int]
    grid_codes: list[str]
    radius: float
    cases: list[int]
    matters: list[str]
    observed: int
    expected: float
    relative_risk: float
    score: float
    p_value: float

    @property
    def key(self) -> str:
        return f"{self.detector}:{self.centre}:{self.start.strftime('%Y%m%d%H')}:{','.join(self.matters[:1])}"


def scan(session: Session, at: dt.datetime, index: GridIndex, settings: ScanSettings | None = None) -> Outcome:
    """Scan at ``at`` and store the significant clusters (see the module docstring); the caller commits."""
    began = time.perf_counter()
    settings = settings or ScanSettings()
    space = grid_space(index)
    rows = [r for r in reports(session, at - dt.timedelta(days=settings.study_days), at) if r.grid_id in space.codes]
    outcome = Outcome(at=at, reports=len(rows))
    if len(space.grids) == 0 or not rows:
        return outcome
    data = Reports.build(np.arange(len(rows)), space.grids.index_of([r.grid_id for r in rows]),
                         [r.at.timestamp() for r in rows], np.array([r.kind for r in rows], dtype=object),
                         [r.lon for r in rows], [r.lat for r in rows])
    t = at.timestamp()
    clusters = SpaceTimeScan(space.neighbourhood, settings)(data, t)
    outcome.baseline = [_brief(_found("baseline", c, space, rows, at)) for c in BaselineDetector(space.neighbourhood)(
        data, t)]
    if clusters:
        _serialise(session)
        for c in clusters:
            warning, how = _store(session, _found("scan", c, space, rows, at))
            if how == "created":
                outcome.created.append(warning)
            elif how == "updated":
                outcome.updated.append(warning)
            else:
                outcome.suppressed += 1
        session.flush()  # the ids of the new rows, for the caller's answer
    outcome.seconds = round(time.perf_counter() - began, 3)
    return outcome


def _found(detector: str, c: Cluster, space: GridSpace, rows: list[Report], at: dt.datetime) -> Found:
    evidence = [rows[int(i)] for i in c.report_ids]
    grid_ids = [int(space.grids.ids[g]) for g in c.grids]
    return Found(detector=detector, at=at, start=dt.datetime.fromtimestamp(c.start, dt.UTC),
                 end=dt.datetime.fromtimestamp(c.end, dt.UTC), centre=int(space.grids.ids[c.centre]),
                 centre_code=space.codes[int(space.grids.ids[c.centre])],
                 centre_path=space.paths[int(space.grids.ids[c.centre])],
                 lon=round(float(space.grids.lon[c.centre]), 7), lat=round(float(space.grids.lat[c.centre]), 7),
                 grid_ids=grid_ids, grid_codes=sorted(space.codes[g] for g in grid_ids), radius=float(c.radius),
                 cases=sorted(r.id for r in evidence if r.source == "case"),
                 matters=[k for k, _ in Counter(r.kind for r in evidence).most_common()],
                 observed=int(c.observed), expected=round(float(c.expected), 4),
                 relative_risk=_finite(c.relative_risk), score=round(float(c.score), 4), p_value=float(c.p_value))


def _finite(value: float) -> float:
    return round(float(value), 4) if np.isfinite(value) else 1e9


def _brief(f: Found) -> dict:
    return {"detector": f.detector, "window_start": f.start, "window_end": f.end, "grid_codes": f.grid_codes,
            "radius_m": f.radius, "matter_codes": f.matters, "case_ids": f.cases, "observed": f.observed,
            "expected": f.expected, "relative_risk": f.relative_risk, "score": f.score, "p_value": f.p_value}


def _serialise(session: Session) -> None:
    """One store at a time per database: the advisory lock on PostgreSQL; on SQLite the write lock (a write first,
    held to the end of the transaction)."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('liandong.early_warnings'))"))
    else:
        session.execute(text("UPDATE early_warnings SET id = id WHERE id = 0"))


def _store(session: Session, f: Found) -> tuple[EarlyWarning, str]:
    overlapping = session.scalars(
        select(EarlyWarning).where(EarlyWarning.detector == f.detector, EarlyWarning.window_end >= f.start,
                                   EarlyWarning.window_start <= f.end)
        .order_by(EarlyWarning.id).with_for_update()  # a decision on one of them waits, or is waited for: read fresh
        .execution_options(populate_existing=True)).all()
    codes = set(f.grid_codes)
    same = [w for w in overlapping if codes & set(w.grid_codes)]
    open_ = [w for w in same if w.status in OPEN_STATUSES]
    if open_:
        return _update(open_[0], f), "updated"
    if same:
        return same[0], "suppressed"
    existing = session.scalar(select(EarlyWarning).where(EarlyWarning.dedupe_key == f.key))
    if existing is not None:
        return (_update(existing, f), "updated") if existing.status in OPEN_STATUSES else (existing, "suppressed")
    warning = EarlyWarning(
        detector=f.detector, dedupe_key=f.key, detected_at=f.at, last_scan_at=f.at, scans=1, window_start=f.start,
        window_end=f.end, centre_grid_id=f.centre, centre_grid_code=f.centre_code, area_path=f.centre_path,
        lon=f.lon, lat=f.lat, radius_m=f.radius, grid_codes=f.grid_codes, matter_codes=f.matters, case_ids=f.cases,
        observed=f.observed, expected=f.expected, relative_risk=f.relative_risk, score=f.score, p_value=f.p_value,
        status="new", created_at=f.at)
    try:
        with session.begin_nested():
            session.add(warning)
            session.flush()
    except IntegrityError:  # another process stored the same cluster between our read and our write
        existing = session.scalar(select(EarlyWarning).where(EarlyWarning.dedupe_key == f.key))
        return _update(existing, f), "updated"
    return warning, "created"


def _update(w: EarlyWarning, f: Found) -> EarlyWarning:
    """A later scan's evidence joined to an open warning; the strongest scan's figures kept."""
    if w.last_scan_at >= f.at and set(f.cases) <= set(w.case_ids):
        return w  # the same scan again (a rerun, or two processes at once): nothing new
    w.case_ids = sorted(set(w.case_ids) | set(f.cases))
    w.grid_codes = sorted(set(w.grid_codes) | set(f.grid_codes))
    w.matter_codes = list(dict.fromkeys([*w.matter_codes, *f.matters]))
    w.window_start, w.window_end = min(w.window_start, f.start), max(w.window_end, f.end)
    if f.at > w.last_scan_at:
        w.last_scan_at = f.at
        w.scans += 1
    if f.score > w.score:
        w.observed, w.expected, w.relative_risk, w.score, w.p_value = (f.observed, f.expected, f.relative_risk,
                                                                       f.score, f.p_value)
        w.radius_m = max(w.radius_m, f.radius)
    return w
