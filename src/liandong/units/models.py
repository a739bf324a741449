"""Unit tables: every organisation that receives, handles or supervises cases, and team members."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24), index=True)
    """centre | sub_centre | workstation | department | branch | team"""
    line: Mapped[str | None] = mapped_column(String(48), index=True)
    """Department line for departments, their branches and line teams; None for territorial units."""
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    """The unit's jurisdiction: its users see this area's subtree."""
    phone: Mapped[str | None] = mapped_column(String(32))


class TeamMember(Base):
    """A person in a team (队伍); phone numbers are personal data and masked on output."""

    __tablename__ = "team_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
