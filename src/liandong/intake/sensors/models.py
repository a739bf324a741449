"""Sensor devices, bound to a grid (and optionally a component), with the state of their rule."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class SensorDevice(Base):
    __tablename__ = "sensor_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    device_type: Mapped[str] = mapped_column(String(24))
    """manhole_tilt | water_level | smoke | gas (rules.RULES)"""
    token_hash: Mapped[str] = mapped_column(String(64))
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="RESTRICT"))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(8), default="normal")
    """normal | alarm"""
    above: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive readings at or above the alarm threshold (debouncing)."""
    below: Mapped[int] = mapped_column(Integer, default=0)
    """Consecutive readings under the clear threshold while in alarm (hysteresis)."""
    open_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"))
    last_value: Mapped[float | None] = mapped_column(Float)
    last_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
