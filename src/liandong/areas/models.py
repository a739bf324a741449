"""Area tables. Geometry is WGS84 WKB so both SQLite and PostgreSQL store it without extensions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow

# Levels of the tree, top-down. Road and responsibility grids hang beside the tree.
TREE_LEVELS = ("district", "town", "community", "grid")
LEVELS = (*TREE_LEVELS, "road_grid", "responsibility_grid")
PARENT_LEVEL = {
    "district": None,
    "town": "district",
    "community": "town",
    "grid": "community",
    "road_grid": "town",
    "responsibility_grid": "town",
}


class Area(Base):
    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(24), index=True)
    kind: Mapped[str | None] = mapped_column(String(32))
    """Sub-type, e.g. street / town / industrial_zone, residential / village."""
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    path: Mapped[str] = mapped_column(String(200), index=True, default="/")
    """Materialised path of ancestor ids plus own id, e.g. ``/1/5/77/``: subtree = path prefix."""
    geom: Mapped[bytes | None] = mapped_column(LargeBinary)
    min_lon: Mapped[float | None] = mapped_column(Float)
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lon: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    population: Mapped[int | None] = mapped_column(Integer)
    area_m2: Mapped[float | None] = mapped_column(Float)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    """True when the geometry or figures were made up (demo data), never official."""
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AreaMember(Base):
    """Unit grids grouped into a responsibility grid (责任网格)."""

    __tablename__ = "area_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True, index=True)


class Layer(Base):
    """A department's own grid layer (police beats, city-management grids…) — 多网合一."""

    __tablename__ = "layers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    line: Mapped[str] = mapped_column(String(48), index=True)
    """Department line the layer belongs to (see units.lines)."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LayerZone(Base):
    __tablename__ = "layer_zones"
    __table_args__ = (UniqueConstraint("layer_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    geom: Mapped[bytes] = mapped_column(LargeBinary)


class GridAssignment(Base):
    """Which zone (and so which unit) of a layer covers a unit grid: the largest overlap wins."""

    __tablename__ = "grid_assignments"

    grid_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"), primary_key=True, index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("layer_zones.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    share: Mapped[float] = mapped_column(Float)
    """Share of the grid's area inside the zone (0–1)."""


class Meta(Base):
    """Small key/value facts, e.g. the area revision that grid indexes compare against."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
