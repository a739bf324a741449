"""Early-warning (早研判) table: one row per emerging space-time cluster a detector found, with its evidence.

A row is kept once per cluster: ``dedupe_key`` (detector, centre grid, kinds, window start to the hour) is
unique, so two processes scanning the same moment store it once; a later scan that finds an area and window
overlapping an open warning (new or watching) of the same detector updates that row's evidence instead of adding
one (see ``early_warnings.store``).

Its history is ``early_warning_events`` (append-only: the database refuses UPDATE and DELETE): every scan that found
it (``found``, ``rescanned``, each with that scan's own evidence and figures) and every decision (``watch``,
``dismiss``, ``promote``, with the actor and the note). The counts (how many scans found it) and the latest decision
are read from there. ``early_warning_scans`` records each scan run (also append-only): a scheduled scan is skipped
when another process ran one within half the interval."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class EarlyWarning(Base):
    __tablename__ = "early_warnings"

    id: Mapped[int] = mapped_column(primary_key=True)
    detector: Mapped[str] = mapped_column(String(12), index=True)
    """scan (space-time permutation scan) | baseline (per-grid EARS C2 style)."""
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    """The scan time that first found it."""
    last_scan_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    """The latest scan time that found it (its evidence is the strongest scan's: see the events)."""
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    centre_grid_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    centre_grid_code: Mapped[str] = mapped_column(String(64))
    area_path: Mapped[str] = mapped_column(String(200), index=True)
    """The centre grid's materialised path: the jurisdiction filter, as on cases."""
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    """The centre grid's representative point (WGS 84)."""
    radius_m: Mapped[float] = mapped_column(Float)
    grid_codes: Mapped[list] = mapped_column(JSON, default=list)
    matter_codes: Mapped[list] = mapped_column(JSON, default=list)
    case_ids: Mapped[list] = mapped_column(JSON, default=list)
    hazard_ids: Mapped[list] = mapped_column(JSON, default=list)
    dispute_ids: Mapped[list] = mapped_column(JSON, default=list)
    """The evidence: the reports inside the cylinder (area × window), each source's ids in its own list (``EVIDENCE``;
    a scan keeps the sources apart, so one list holds them all and the others are empty). The evidence (window,
    radius, grids, matters, reports) and the figures below are one scan's together: the strongest (highest score)
    that found it."""
    observed: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float] = mapped_column(Float)
    relative_risk: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    """LLR for the scan, z-score for the baseline."""
    p_value: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12), index=True)
    """new → watching → dismissed | promoted (see ``early_warning_states``)."""
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}

    @property
    def source(self) -> str:
        """The source its evidence comes from (``case`` for a warning stored before hazards and disputes fed in)."""
        return next((source for source, column in EVIDENCE.items() if getattr(self, column)), "case")


EVIDENCE = {"case": "case_ids", "hazard": "hazard_ids", "dispute": "dispute_ids"}
"""Report source (``early_warning_input.Report.source``) → its evidence column, also the key in a scan event's
payload and in the API's items."""

EVENT_KINDS = ("found", "rescanned", "watch", "dismiss", "promote")
SCAN_KINDS = ("found", "rescanned")


class EarlyWarningEvent(Base):
    """One entry of a warning's history: a scan that found it (``payload``: that scan's window, radius, grids,
    matters, case/hazard/dispute ids, observed, expected, relative risk, score, p; scans before migration 0027 name
    case ids only) or a decision (``payload``: from, to, incident). Never updated or deleted."""

    __tablename__ = "early_warning_events"
    __table_args__ = (UniqueConstraint("warning_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("early_warnings.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    """The scan time for a scan, the decision time for a decision."""
    kind: Mapped[str] = mapped_column(String(12), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


class EarlyWarningScan(Base):
    """One scan run (scheduled or by hand), whatever it found. Never updated or deleted."""

    __tablename__ = "early_warning_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    """The scan time."""
    trigger: Mapped[str] = mapped_column(String(12))
    """scheduled | manual."""
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
