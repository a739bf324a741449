"""Catalogue tables: matters with their department line, criteria and per-stage time limits."""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from liandong.db import Base

URGENCIES = ("normal", "urgent")
STAGES = ("dispatch", "sign", "dispose", "check")
"""Stages with a time limit: filed→dispatched, dispatched→signed, signed→disposed, disposed→checked."""
TIME_UNITS = ("hour", "day")
"""Working hours or working days on the working calendar."""


class Matter(Base):
    __tablename__ = "matters"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    """component (a 部件 is out of order: 01xxx–05xxx) | event (06xxx–10xxx) | local"""
    major_code: Mapped[str] = mapped_column(String(8), index=True)
    major_name: Mapped[str] = mapped_column(String(50))
    component_code: Mapped[str | None] = mapped_column(String(16))
    legacy_code: Mapped[str | None] = mapped_column(String(16))
    """GB/T 30428.2-2013 event code where the crosswalk is known (e.g. ``01-10``)."""
    line: Mapped[str] = mapped_column(String(48), index=True)
    """Department line that leads on this matter by default (units.lines)."""
    default_urgency: Mapped[str] = mapped_column(String(16), default="normal")
    filing_criteria: Mapped[str | None] = mapped_column(Text)
    closing_criteria: Mapped[str | None] = mapped_column(Text)
    local: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    limits: Mapped[list[TimeLimit]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                                   order_by="TimeLimit.urgency, TimeLimit.stage")


class TimeLimit(Base):
    __tablename__ = "matter_time_limits"

    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id", ondelete="CASCADE"), primary_key=True)
    urgency: Mapped[str] = mapped_column(String(16), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    amount: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(8))
