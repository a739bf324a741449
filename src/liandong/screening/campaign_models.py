"""Screening campaign (排查行动) tables: the campaign, the teams assigned to it and its grid visits.

Coverage is never stored: it is an aggregate over the visits (``campaigns.coverage``). A visit names the hazards
and disputes its findings became (their ids), and carries the phone's optional ``visit_key`` so a retried offline
submission finds the visit it already made."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    """Given by its maker, or ``PC-<local day>-<n>``."""
    name: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str] = mapped_column(String(50), index=True)
    """rental_fire (出租屋消防) | gas (燃气安全) | group_rental (群租) | ebike_charging (电动自行车充电) | free text"""
    checklist: Mapped[list] = mapped_column(JSON, default=list)
    """[{"key", "question"}]: what each grid visit answers (ok | problem | n/a)."""
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    """A town or the district: the unit grids under it are the campaign's."""
    area_path: Mapped[str] = mapped_column(String(200), index=True)
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(12), index=True)
    """planned → running → closed"""
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}


class CampaignTeam(Base):
    """A unit assigned to the campaign: its staff, and the staff of the unit heading it, record visits."""

    __tablename__ = "campaign_teams"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), primary_key=True, index=True)


class CampaignVisit(Base):
    """One grid visit: the checklist's answers, a note, the findings made hazards or disputes."""

    __tablename__ = "campaign_visits"
    __table_args__ = (UniqueConstraint("campaign_id", "visit_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="RESTRICT"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    visit_key: Mapped[str | None] = mapped_column(String(64))
    """The client's key for an offline submission: the same key again finds this visit."""
    visited_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    problems: Mapped[int] = mapped_column(Integer, default=0)
    """How many answers say ``problem`` (read off ``answers``; kept for the aggregate)."""
    hazard_ids: Mapped[list] = mapped_column(JSON, default=list)
    dispute_ids: Mapped[list] = mapped_column(JSON, default=list)
