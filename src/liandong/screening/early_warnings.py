"""Early warning (早研判) service: scan the recent reports, store what is significant, once.

``scan(session, at, index)`` reads the study period's reports (``early_warning_input``: cases, safety hazards,
disputes), runs the prospective space-time permutation scan (``warning/scan.py``, its tuned defaults) and, beside it,
the EARS C2 baseline (``warning/baseline.py``), over each source's reports apart: "similar reports" are of one
source (cases among cases, hazards among hazards), each source's study period its own margins — a cluster of gas
hazards is measured against the hazards' rhythm and places, not hidden in (or raised by) the far busier cases. A
warning's evidence is so one source's reports, in that source's list (``case_ids``, ``hazard_ids``,
``dispute_ids``). Only the scan's significant clusters are stored (``detector='scan'``); the baseline's
alarms are reported in the outcome for comparison and never stored — it raises more false alarms on sparse grids
(see ``make bench``), and a shift leader should not have to dismiss them.

Stored once: the detection runs outside any lock; storing runs under one lock per database (a PostgreSQL advisory
lock, on SQLite the write lock taken first), so concurrent scans (several app processes, the CLI) see each
other's rows. A cluster whose grids and window overlap a stored warning of the same detector and source — its own
evidence or any earlier scan's in its history — is that warning: an open one (new, watching) gets a ``rescanned``
event with this scan's own evidence and figures, and takes them as its evidence when this scan is the strongest so
far (the warning's window, radius, grids, matters, reports, observed, expected, relative risk, score and p are
always one scan's together); a closed one (dismissed, promoted) keeps the decision and the cluster is not raised
again while its windows chain on. Otherwise a row is added under its ``dedupe_key`` (unique, inside a savepoint: the
last guard) with its ``found`` event. The same scan time is recorded once per warning (a rerun, two processes at once).

Every run is recorded (``early_warning_scans``). A scheduled run (``every`` given: the app's loop) is skipped when
another run's scan time lies within half the interval before its own: decided under the same lock, and its run
record committed before the Monte Carlo starts so the other processes see it; a manual run (API, CLI) always runs.
The caller commits.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.db import is_postgres
from liandong.screening import early_warning_log as log
from liandong.screening.early_warning_input import GridSpace, Report, grid_space, reports
from liandong.screening.early_warning_models import (
    EVIDENCE,
    SCAN_KINDS,
    EarlyWarning,
    EarlyWarningEvent,
    EarlyWarningScan,
)
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
    skipped: bool = False
    """A scheduled run skipped: another process scanned within half the interval."""

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
    source: str
    evidence: dict[str, list[int]]
    """Evidence column (``EVIDENCE``) → report ids: the source's own list, the others empty."""
    matters: list[str]
    observed: int
    expected: float
    relative_risk: float
    score: float
    p_value: float

    @property
    def key(self) -> str:
        return f"{self.detector}:{self.centre}:{self.start.strftime('%Y%m%d%H')}:{','.join(self.matters[:1])}"


def scheduled(units: Callable[[], AbstractContextManager[Session]], at: dt.datetime,
              index_of: Callable[[Session], GridIndex], every: dt.timedelta) -> Outcome:
    """A scheduled run (the app's job every ``every``): its turn claimed in one unit of work — committed at once,
    so the lock is not held over the Monte Carlo — then the scan in another. Skipped when another process (or a
    manual run) scanned within half the interval."""
    with units() as session:
        if not claim(session, at, every):
            return Outcome(at=at, reports=0, skipped=True)
    with units() as session:
        return scan(session, at, index_of(session), claimed=True)


def scan(session: Session, at: dt.datetime, index: GridIndex, settings: ScanSettings | None = None, *,
         claimed: bool = False) -> Outcome:
    """Scan at ``at`` and store the significant clusters (see the module docstring); the caller commits. A manual
    run records itself; a scheduled one (``claimed``) was recorded by ``claim``."""
    began = time.perf_counter()
    settings = settings or ScanSettings()
    space = grid_space(index)
    rows = [r for r in reports(session, at - dt.timedelta(days=settings.study_days), at) if r.grid_id in space.codes]
    outcome = Outcome(at=at, reports=len(rows))
    clusters = []
    if len(space.grids) > 0 and rows:
        data = Reports.build(np.arange(len(rows)), space.grids.index_of([r.grid_id for r in rows]),
                             [r.at.timestamp() for r in rows], np.array([r.kind for r in rows], dtype=object),
                             [r.lon for r in rows], [r.lat for r in rows])
        sources = np.array([r.source for r in rows], dtype=object)[data.ids]  # in the data's (time) order
        scanner, baseline = SpaceTimeScan(space.neighbourhood, settings), BaselineDetector(space.neighbourhood)
        t = at.timestamp()
        for source in EVIDENCE:
            part = data.take(np.flatnonzero(sources == source))  # its ids stay positions in ``rows``
            if len(part):
                clusters += scanner(part, t)
                outcome.baseline += [_brief(_found("baseline", c, space, rows, at)) for c in baseline(part, t)]
    _serialise(session)
    if not claimed:
        session.add(EarlyWarningScan(at=at, trigger="manual"))
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


def claim(session: Session, at: dt.datetime, every: dt.timedelta) -> bool:
    """A scheduled run's turn: none when another run's scan time lies within half the interval before ``at`` (or
    after it); else its run record (the caller commits it at once: ``scheduled``)."""
    _serialise(session)
    latest = session.scalar(select(func.max(EarlyWarningScan.at)))
    if latest is not None and latest > at - every / 2:
        return False
    session.add(EarlyWarningScan(at=at, trigger="scheduled"))
    session.flush()
    return True


def _found(detector: str, c: Cluster, space: GridSpace, rows: list[Report], at: dt.datetime) -> Found:
    evidence = [rows[int(i)] for i in c.report_ids]
    grid_ids = [int(space.grids.ids[g]) for g in c.grids]
    return Found(detector=detector, at=at, start=dt.datetime.fromtimestamp(c.start, dt.UTC),
                 end=dt.datetime.fromtimestamp(c.end, dt.UTC), centre=int(space.grids.ids[c.centre]),
                 centre_code=space.codes[int(space.grids.ids[c.centre])],
                 centre_path=space.paths[int(space.grids.ids[c.centre])],
                 lon=round(float(space.grids.lon[c.centre]), 7), lat=round(float(space.grids.lat[c.centre]), 7),
                 grid_ids=grid_ids, grid_codes=sorted(space.codes[g] for g in grid_ids), radius=float(c.radius),
                 source=evidence[0].source,
                 evidence={column: sorted(r.id for r in evidence if r.source == source)
                           for source, column in EVIDENCE.items()},
                 matters=[k for k, _ in Counter(r.kind for r in evidence).most_common()],
                 observed=int(c.observed), expected=round(float(c.expected), 4),
                 relative_risk=_finite(c.relative_risk), score=round(float(c.score), 4), p_value=float(c.p_value))


def _finite(value: float) -> float:
    return round(float(value), 4) if np.isfinite(value) else 1e9


def _brief(f: Found) -> dict:
    return {"detector": f.detector, "window_start": f.start, "window_end": f.end, "grid_codes": f.grid_codes,
            "radius_m": f.radius, "matter_codes": f.matters, **f.evidence, "observed": f.observed,
            "expected": f.expected, "relative_risk": f.relative_risk, "score": f.score, "p_value": f.p_value}


def _serialise(session: Session) -> None:
    """One store at a time per database: the advisory lock on PostgreSQL; on SQLite the write lock (a write first,
    held to the end of the transaction)."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('liandong.early_warnings'))"))
    else:
        session.execute(text("UPDATE early_warnings SET id = id WHERE id = 0"))


def _evidence(f: Found) -> dict:
    """One scan's own evidence and figures, as its event keeps them."""
    return {"window_start": f.start.isoformat(), "window_end": f.end.isoformat(), "centre_grid_code": f.centre_code,
            "radius_m": f.radius, "grid_codes": f.grid_codes, "matter_codes": f.matters, **f.evidence,
            "observed": f.observed, "expected": f.expected, "relative_risk": f.relative_risk, "score": f.score,
            "p_value": f.p_value}


def _overlapping(session: Session, f: Found) -> list[EarlyWarning]:
    """The warnings of ``f``'s detector and source whose evidence, or an earlier scan's in their history, shares a
    grid and a stretch of time with ``f``; read FOR UPDATE (a decision on one of them waits, or is waited for: read
    fresh). A scan's window ends by its scan time, so only the scans at or after ``f``'s start can overlap it."""
    recent = (select(EarlyWarningEvent.warning_id, EarlyWarningEvent.payload)
              .where(EarlyWarningEvent.kind.in_(SCAN_KINDS), EarlyWarningEvent.at >= f.start))
    spans: dict[int, list[tuple[str, str, list]]] = {}
    for warning_id, p in session.execute(recent):
        spans.setdefault(warning_id, []).append((p.get("window_start"), p.get("window_end"), p.get("grid_codes", [])))
    rows = session.scalars(
        select(EarlyWarning).where(EarlyWarning.detector == f.detector, or_(
            and_(EarlyWarning.window_end >= f.start, EarlyWarning.window_start <= f.end),
            EarlyWarning.id.in_(list(spans))))
        .order_by(EarlyWarning.id).with_for_update().execution_options(populate_existing=True)).all()
    codes, start, end = set(f.grid_codes), f.start, f.end

    def meets(w: EarlyWarning) -> bool:
        if w.source != f.source:  # a hazard cluster where cases cluster too is a warning of its own
            return False
        if w.window_end >= start and w.window_start <= end and codes & set(w.grid_codes):
            return True
        return any(s and e and dt.datetime.fromisoformat(e) >= start and dt.datetime.fromisoformat(s) <= end
                   and codes & set(g) for s, e, g in spans.get(w.id, ()))

    return [w for w in rows if meets(w)]


def _store(session: Session, f: Found) -> tuple[EarlyWarning, str]:
    same = _overlapping(session, f)
    open_ = [w for w in same if w.status in OPEN_STATUSES]
    if open_:
        return _update(session, open_[0], f), "updated"
    if same:
        return same[0], "suppressed"
    existing = session.scalar(select(EarlyWarning).where(EarlyWarning.dedupe_key == f.key))
    if existing is not None:
        return ((_update(session, existing, f), "updated") if existing.status in OPEN_STATUSES
                else (existing, "suppressed"))
    warning = EarlyWarning(
        detector=f.detector, dedupe_key=f.key, detected_at=f.at, last_scan_at=f.at, window_start=f.start,
        window_end=f.end, centre_grid_id=f.centre, centre_grid_code=f.centre_code, area_path=f.centre_path,
        lon=f.lon, lat=f.lat, radius_m=f.radius, grid_codes=f.grid_codes, matter_codes=f.matters, **f.evidence,
        observed=f.observed, expected=f.expected, relative_risk=f.relative_risk, score=f.score, p_value=f.p_value,
        status="new", created_at=f.at)
    try:
        with session.begin_nested():
            session.add(warning)
            session.flush()
            log.append(session, warning, "found", f.at, payload=_evidence(f))
    except IntegrityError:  # another process stored the same cluster between our read and our write
        existing = session.scalar(select(EarlyWarning).where(EarlyWarning.dedupe_key == f.key))
        return _update(session, existing, f), "updated"
    return warning, "created"


def _update(session: Session, w: EarlyWarning, f: Found) -> EarlyWarning:
    """A later scan's evidence for an open warning: its own ``rescanned`` event; the warning's evidence and figures
    become this scan's when it is the strongest so far (all of them together: they stay one scan's)."""
    if log.scanned_at(session, w.id, f.at):
        return w  # the same scan again (a rerun, or two processes at once): nothing new
    log.append(session, w, "rescanned", f.at, payload=_evidence(f))
    w.last_scan_at = max(w.last_scan_at, f.at)
    if f.score > w.score:
        w.window_start, w.window_end, w.radius_m = f.start, f.end, f.radius
        w.grid_codes, w.matter_codes = f.grid_codes, f.matters
        for column, ids in f.evidence.items():
            setattr(w, column, ids)
        w.observed, w.expected, w.relative_risk, w.score, w.p_value = (f.observed, f.expected, f.relative_risk,
                                                                       f.score, f.p_value)
    return w
