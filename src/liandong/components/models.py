"""Component instances (GB/T 47678.5 表2: 17-character code, grid, owner and maintainer, status)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base

STATUSES = {"intact": "完好", "damaged": "破损", "lost": "丢失", "abandoned": "废弃", "removed": "移除"}


class Component(Base):
    __tablename__ = "components"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(17), unique=True)
    """6-digit division + 2-digit major + 3-digit minor (the component type) + 6-digit sequence."""
    type_code: Mapped[str] = mapped_column(String(5), index=True)
    name: Mapped[str] = mapped_column(String(60))
    grid_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str] = mapped_column(String(200), index=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    owner: Mapped[str | None] = mapped_column(String(100))
    maintainer: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="intact")
    surveyed_on: Mapped[dt.date | None] = mapped_column(Date)
    changed_on: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(String(1000))
