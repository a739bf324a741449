"""Dispute (矛盾纠纷) tables: the dispute row (a projection of its events) and its append-only event log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """``MD-20261202-0001``"""
    title: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16), index=True)
    """family | neighbour | land | labour | property | requisition | other (``dispute_states.TYPES``)"""
    risk: Mapped[str] = mapped_column(String(8), index=True)
    """red | yellow | blue"""
    tier: Mapped[str] = mapped_column(String(12), index=True)
    """grid | village | town | task_force: who handles it now."""
    description: Mapped[str | None] = mapped_column(Text)
    parties: Mapped[list] = mapped_column(JSON, default=list)
    """[{"name", "phone", "id_number"}]: personal data, masked by role on every read (unmasked reads audited)."""
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(200), index=True)
    mediator: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(String(12))
    """success (调解成功) | judicial (司法确认) | litigation (转诉讼) | failed (未成功)"""
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="RESTRICT"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}


class DisputeEvent(Base):
    """One entry of a dispute's log: the report, the action table's actions, mediation records (``mediate``).
    Never updated or deleted."""

    __tablename__ = "dispute_events"
    __table_args__ = (UniqueConstraint("dispute_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
