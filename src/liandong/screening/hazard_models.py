"""Safety-hazard (安全隐患) tables: the hazard row (a projection of its events) and its append-only event log."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class Hazard(Base):
    __tablename__ = "hazards"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """``YH-20261202-0001``: the local day it was reported and its place in that day."""
    title: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(24), index=True)
    """fire | gas | building | electric | hazchem | traffic | special_equipment | construction | other"""
    type: Mapped[str | None] = mapped_column(String(50))
    """Free text within the sector: 消防通道堵塞, 燃气软管老化…"""
    grade: Mapped[str] = mapped_column(String(8), index=True)
    """general (一般事故隐患) | major (重大事故隐患)"""
    description: Mapped[str | None] = mapped_column(Text)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    grid_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(200), index=True)
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    measures: Mapped[str | None] = mapped_column(Text)
    """五落实 (the five in place): measures, responsibility, funds, deadline, contingency plan."""
    responsibility: Mapped[str | None] = mapped_column(String(200))
    funds: Mapped[str | None] = mapped_column(String(200))
    contingency_plan: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    """The rectification deadline (整改时限; for a major hazard also the 五落实's 时限)."""
    reporter_kind: Mapped[str] = mapped_column(String(8))
    """public | staff"""
    reporter_name: Mapped[str | None] = mapped_column(String(100))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    reward_wanted: Mapped[bool] = mapped_column(Boolean, default=False)
    """The reporter is eligible for / asks for a reward (有奖举报)."""
    reward_amount: Mapped[int | None] = mapped_column(Integer)
    """In whole yuan (元), as reward decisions are made."""
    reward_by: Mapped[int | None] = mapped_column(Integer)
    """The approver's user id."""
    reward_paid: Mapped[bool] = mapped_column(Boolean, default=False)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    """The case opened for another department (``to_case``); the case's log names the hazard too."""
    state: Mapped[str] = mapped_column(String(16), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __mapper_args__ = {"version_id_col": version}


class HazardEvent(Base):
    """One entry of a hazard's log (``report`` first, then the action table's). Never updated or deleted."""

    __tablename__ = "hazard_events"
    __table_args__ = (UniqueConstraint("hazard_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id", ondelete="RESTRICT"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
