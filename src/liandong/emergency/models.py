"""Incident tables: the incident row (a projection of its events), affected areas, the append-only event log
(command log and state history in one), links between incidents, and the cases raised into or linked to one;
contingency plan versions, their activations on incidents, and the tasks those create for real units."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """``YJ-20261202-0001``: the local day it was reported and its place in that day."""
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(16), index=True)
    """natural | accident | public_health | social_security (DESIGN §4, incident codes)"""
    type: Mapped[str] = mapped_column(String(50))
    """Free text within the category: 台风, 燃气泄漏…"""
    grade: Mapped[int] = mapped_column(Integer)
    """事件分级 Ⅰ–Ⅳ as 1–4, 1 the highest."""
    warning_level: Mapped[int | None] = mapped_column(Integer)
    """预警级别 red / orange / yellow / blue as 1–4; None when no warning is out."""
    response_level: Mapped[int | None] = mapped_column(Integer)
    """响应级别 一级–四级 as 1–4; None before a response is started."""
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(200), index=True)
    """The grid's materialised path (jurisdiction filters without a join), as on cases."""
    commander_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    """A drill: runs like a real incident and never counts in real figures."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    """When it was discovered, as the reporter says (the report's time when not said)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))
    """closed | stood_down, once closed."""

    __mapper_args__ = {"version_id_col": version}


class IncidentArea(Base):
    """A town, community or unit grid the incident affects."""

    __tablename__ = "incident_areas"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), primary_key=True, index=True)


class IncidentEvent(Base):
    """One entry of the incident's log: a state-table action (``kind`` 'action') or a command-log entry
    (decision, order, sitrep, note). Never updated or deleted (database triggers refuse it)."""

    __tablename__ = "incident_events"
    __table_args__ = (UniqueConstraint("incident_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"))
    """(The unique (incident_id, seq) pair is the index by incident.)"""
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))
    action: Mapped[str | None] = mapped_column(String(32))
    """The table's action (or ``report``, the first event); None on command-log entries."""
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)


class IncidentLink(Base):
    """``other_id`` is a secondary (次生) or derived (衍生) incident of ``incident_id``."""

    __tablename__ = "incident_links"
    __table_args__ = (UniqueConstraint("incident_id", "other_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class IncidentCase(Base):
    """A case raised into the incident (``raised``) or linked to it later (``linked``); the case keeps its own
    life cycle, and its event log says so too (``cases/escalation.py``)."""

    __tablename__ = "incident_cases"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), primary_key=True, index=True)
    how: Mapped[str] = mapped_column(String(8))
    """raised | linked | handback (opened from an open task when the incident stood down: ``hand_back.py``)"""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Plan(Base):
    """One version of a contingency plan (预案) as it was loaded: the validated document, and a hash of it, so a
    version once loaded never changes under the activations that name it (``plans/library.py``)."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[str] = mapped_column(String(32))
    """As the file gives it: an integer or a semver string, kept as text."""
    content_hash: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the validated document as canonical JSON (comments and layout do not count)."""
    document: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(200))
    """The file it was read from (its name only)."""
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlanActivation(Base):
    """A plan activated on an incident at a response level, or raised to a higher one (``raised_from``); the
    plan version used is fixed by ``plan_id``. A drill's activation carries the incident's exercise flag."""

    __tablename__ = "plan_activations"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="RESTRICT"), index=True)
    plan_code: Mapped[str] = mapped_column(String(40))
    plan_version: Mapped[str] = mapped_column(String(32))
    response_level: Mapped[int] = mapped_column(Integer)
    raised_from: Mapped[int | None] = mapped_column(Integer)
    """The level the plan ran at before this raise; None for the first activation."""
    activated_by: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    activated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    tasks_created: Mapped[int] = mapped_column(Integer, default=0)
    unresolved: Mapped[list] = mapped_column(JSON, default=list)
    """Owner selectors that named no unit (a town without a water station…): reported, never dropped silently."""


class Task(Base):
    """A plan's task for one real unit: assigned → acknowledged → in progress → done (or cancelled when the
    incident ends). Deadlines and escalations run on natural time (emergencies do not wait for working hours)."""

    __tablename__ = "incident_tasks"
    __table_args__ = (UniqueConstraint("incident_id", "plan_code", "task_key", "owner_unit_id"),)
    """One task per plan task and unit: raising the level again never duplicates one."""

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"))
    """(The unique constraint's leading column is the index by incident.)"""
    activation_id: Mapped[int] = mapped_column(ForeignKey("plan_activations.id", ondelete="RESTRICT"), index=True)
    plan_code: Mapped[str] = mapped_column(String(40))
    task_key: Mapped[str] = mapped_column(String(40))
    level: Mapped[int] = mapped_column(Integer)
    """The response level whose checklist holds the task."""
    title: Mapped[str] = mapped_column(String(200))
    details: Mapped[str | None] = mapped_column(Text)
    owner_unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    ack_required: Mapped[bool] = mapped_column(Boolean, default=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    exercise: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    acked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acked_by: Mapped[str | None] = mapped_column(String(64))
    acked_unit_id: Mapped[int | None] = mapped_column(Integer)
    """The unit of whoever acknowledged: the owner, a unit heading it, or the commander's on the owner's behalf."""
    acked_on_behalf: Mapped[bool] = mapped_column(Boolean, default=False)
    """The commander recorded an acknowledgement the unit gave another way (a phone call)."""
    ack_note: Mapped[str | None] = mapped_column(String(2000))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    report: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ack_escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the sweep escalated the missing acknowledgement (once)."""
    late_escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """When the sweep escalated the missed deadline (once)."""

    __mapper_args__ = {"version_id_col": version}
