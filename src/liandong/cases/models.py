"""Case tables: the case row (projection), its append-only events, and the units it is assigned to."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class Case(Base):
    __tablename__ = "cases"
    # what the figures read of a case they join each event or stage to, answered from the index (migration 0037)
    __table_args__ = (Index("ix_cases_reads", "id", "area_path", "channel", "lead_unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """Human tracking number, e.g. ``310112-20261126-000042``."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id", ondelete="RESTRICT"), index=True)
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="RESTRICT"), index=True)
    """The 部件 the case is about, for component matters."""
    urgency: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(24), index=True)
    description: Mapped[str] = mapped_column(Text)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float, index=True)
    """Indexed: the duplicate search looks at a thin band of latitude first."""
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    """None only for imported history outside every loaded area (``out_of_area``)."""
    area_path: Mapped[str] = mapped_column(String(200), index=True)
    """The grid's materialised path, copied so jurisdiction filters need no join ('' when out of area:
    only district-wide users see such cases)."""
    out_of_area: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    media_url: Mapped[str | None] = mapped_column(String(500))
    """A photo the reporter's app holds elsewhere (Open311 ``media_url``); not fetched, only shown."""
    lead_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    reporter_id_number: Mapped[str | None] = mapped_column(String(18))
    """Resident ID number (GB 11643), when the reporter gave it; masked like the phone."""
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    master_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    satisfaction: Mapped[str | None] = mapped_column(String(16))
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    tracking_key_hash: Mapped[str | None] = mapped_column(String(64))
    """SHA-256 of the secret a citizen got with the tracking number: follows and rates their own report."""
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # the running stage and its clock (see cases/sla.py)
    stage: Mapped[str | None] = mapped_column(String(16))
    stage_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stage_limit_minutes: Mapped[float | None] = mapped_column(Float)
    stage_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    stage_yellow_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the running stage's light turns yellow (see sla.stage_light)."""
    paused_remaining_minutes: Mapped[float | None] = mapped_column(Float)
    """Working minutes left on the stage when it was paused (suspended); None while running."""
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the running stage was escalated as overdue; reset when a new stage starts."""
    escalation_count: Mapped[int] = mapped_column(Integer, default=0)
    """Escalations over the case's whole life (every stage, every level)."""
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Levels the running stage has been raised (督办 goes one level up each time); 0 on a new stage."""
    next_escalation_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the running stage, still overdue, goes up the next level (None: at its deadline)."""
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the clocks were paused (suspension, pending extension): the case deadline moves by the pause."""
    case_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    case_yellow_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    case_limit_minutes: Mapped[float | None] = mapped_column(Float)
    """The whole case's limit in working minutes (sum of the stages' limits at filing, plus extensions)."""
    case_escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}


class CaseEvent(Base):
    """One transition. Never updated or deleted (database triggers refuse it)."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"), Index("ix_case_events_at", "at"),
                      Index("ix_case_events_action_at", "action", "at", "actor_id", "case_id"))
    """``ix_case_events_action_at`` covers what the assessment counts of events (migration 0028)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


class CaseUnit(Base):
    """A unit a case is dispatched to: the lead or an assisting unit (条块联处), each with its own status."""

    __tablename__ = "case_units"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(8))
    """lead | assist"""
    status: Mapped[str] = mapped_column(String(16))
    """dispatched | signed | done | returned | withdrawn"""
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarDay(Base):
    """An exception to the Monday–Friday rule: a holiday on a weekday or a working weekend day (调休)."""

    __tablename__ = "calendar_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(50))


class CalendarYear(Base):
    """A year whose holidays are known; deadlines in other years fall back to weekends only, with a warning."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(100))


class Notification(Base):
    """An in-app notice to a unit (overdue stage, urging, escalation)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    message: Mapped[str | None] = mapped_column(String(500))
    """Text stored by releases before notices were worded from ``kind`` and ``details`` (new ones: null)."""
    details: Mapped[dict | None] = mapped_column(JSON)
    """What the notice is about: stage and level of an overdue stage, the note of an urging."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Extension(Base):
    """A request for more time on the running stage (延期), approved or refused by a dispatcher."""

    __tablename__ = "case_extensions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    amount: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending | approved | rejected"""
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paused: Mapped[bool | None] = mapped_column(Boolean)
    """Whether the request stopped the clocks until its decision (so a resume while it waits keeps them
    stopped); recorded when asked, as the setting then said. Null on requests decided before it was kept."""


class Attachment(Base):
    """A photo on a case (before / after handling); the file lives under the upload directory."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    """before | after | other"""
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_as: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DuplicatePair(Base):
    """A new case and an older one that may report the same problem, waiting for a decision (review queue)."""

    __tablename__ = "duplicate_pairs"
    __table_args__ = (UniqueConstraint("case_id", "candidate_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"))
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12), index=True)
    """pending | merged | dismissed"""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


EXCEPTIONS = "outcome IN ('returned', 'voided')"
"""The stage facts an index of their own holds (migration 0034): the few the accuracy counts ask about."""


class StageFact(Base):
    """One stage a case went through (受理, 立案, 派遣, 签收, 处置, 核查, 结案), projected from its events in the
    same transaction (``cases/facts.py``); ``liandong facts rebuild`` derives the same rows from the log.
    Figures over time (on-time rates, stage times) are SQL aggregates over these rows."""

    __tablename__ = "case_stage_facts"
    # stages ended in a period with what a period's on-time rate reads (and the case to join for who sees it)
    __table_args__ = (UniqueConstraint("case_id", "seq"),
                      Index("ix_case_stage_facts_stage_ended", "stage", "ended_at", "ended_by", "outcome", "on_time",
                            "actor_id", "lead_unit_id", "used_minutes", "extensions", "started_at", "deadline",
                            "late_before", "case_id", "seq"),
                      Index("ix_case_stage_facts_ended", "ended_at", "case_id", "on_time"),
                      Index("ix_case_stage_facts_exceptions", "outcome", "case_id", "seq", "stage", "ended_at",
                            postgresql_where=text(EXCEPTIONS), sqlite_where=text(EXCEPTIONS)))
    """``ix_case_stage_facts_stage_ended`` holds every column the assessment's counts read (migration 0028);
    ``ix_case_stage_facts_exceptions`` the few stages returned or voided that its accuracy counts ask about
    (migration 0034)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16))
    """accept | verify | file | dispatch | sign | dispose | check | close"""
    lead_unit_id: Mapped[int | None] = mapped_column(Integer, index=True)
    """The case's lead unit while the stage ran (None before dispatch)."""
    actor_id: Mapped[int | None] = mapped_column(Integer)
    """The user whose action ended the stage."""
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """The stage's last deadline (after extensions); None for stages without a time limit."""
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paused_minutes: Mapped[float] = mapped_column(Float, default=0.0)
    """Working minutes the clock stood still (suspension, pending extension)."""
    paused_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    pauses: Mapped[str] = mapped_column(String(32), default="")
    """Why the clock stands still now: 'suspend', 'extension' (comma separated); empty while it runs."""
    used_minutes: Mapped[float | None] = mapped_column(Float)
    """Working minutes from start to end, less the paused ones (set when the stage ends)."""
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    """Ended no later than its deadline (None: no deadline, or still running)."""
    ended_by: Mapped[str | None] = mapped_column(String(32))
    """The action that ended the stage (e.g. sign, return, report_done, check_failed, close, void)."""
    outcome: Mapped[str | None] = mapped_column(String(16))
    """done | returned | reworked | rejected | voided | merged"""
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    late_before: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """An earlier stage of the case ended late (so a case closed by this stage was not closed in time: 按期结案)."""
