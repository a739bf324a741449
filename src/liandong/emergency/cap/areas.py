"""An incident's affected area as CAP sees it: ``areaDesc``, polygons and geocodes, and the same as GeoJSON.

The towns, communities and grids the incident names (its own grid when it names none) are merged into one shape
and simplified until the polygons hold at most ``MAX_POINTS`` points, so a district-wide warning stays a few
kilobytes; CAP polygons have no holes, so each part's outer ring is sent. Geometries are stored in WGS84
(``areas/models.py``), CAP's datum; CAP writes ``lat,lon`` (GeoJSON ``lon,lat``). Geocodes name the district by
its GB/T 2260 code and each affected town by its 9-digit township code (GB/T 10114).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.geometry import from_wkb
from liandong.areas.models import Area
from liandong.emergency.models import Incident, IncidentArea

MAX_POINTS = 400
MAX_POLYGONS = 20
FIRST_TOLERANCE = 0.0002
"""Degrees (≈20 m); doubled until the polygons are small enough."""
DIGITS = 5
"""≈1 m: more would only lengthen the document."""


@dataclass
class CapArea:
    desc: str
    polygons: list[str] = field(default_factory=list)
    geocodes: list[tuple[str, str]] = field(default_factory=list)
    geojson: dict = field(default_factory=dict)


def of_incident(session: Session, incident: Incident, district_code: str) -> CapArea:
    rows = list(session.scalars(select(Area).join(IncidentArea, IncidentArea.area_id == Area.id)
                                .where(IncidentArea.incident_id == incident.id).order_by(Area.code)))
    if not rows:
        rows = [session.get(Area, incident.grid_id)]
    desc = "、".join(a.name for a in rows)[:500]
    shapes = [from_wkb(a.geom) for a in rows if a.geom]
    polygons = rings(shapely.union_all(shapes)) if shapes else []
    geocodes = [("GB/T 2260", district_code)] + [("GB/T 10114", code) for code in _towns(session, rows)]
    features = [{"type": "Feature", "properties": {"areaDesc": desc, "geocodes": [list(g) for g in geocodes]},
                 "geometry": {"type": "Polygon", "coordinates": [_lonlat(p)]}} for p in polygons]
    return CapArea(desc=desc, polygons=polygons, geocodes=geocodes,
                   geojson={"type": "FeatureCollection", "features": features})


def _towns(session: Session, rows: list[Area]) -> list[str]:
    """The codes of the towns the areas lie in (or are), each once, in code order."""
    ids = {int(p) for a in rows for p in a.path.split("/") if p}
    codes = session.scalars(select(Area.code).where(Area.id.in_(ids), Area.level == "town").order_by(Area.code))
    return list(codes)


def rings(shape: BaseGeometry) -> list[str]:
    """CAP polygons (``lat,lon`` pairs, closed, ≥ 4 points) of a polygonal shape, simplified to fit."""
    parts = _parts(shape)
    if len(parts) > MAX_POLYGONS:
        parts = [shapely.convex_hull(shape)]
    tolerance = FIRST_TOLERANCE
    while True:
        texts = [t for p in parts if (t := _ring(shapely.simplify(p, tolerance, preserve_topology=True)))]
        points = sum(t.count(" ") + 1 for t in texts)
        if points <= MAX_POINTS or tolerance > 0.1:
            break
        tolerance *= 2
    if not texts:  # everything collapsed: the envelope still says where
        texts = [_ring(shapely.envelope(shape)) or ""]
    return [t for t in texts if t]


def _parts(shape: BaseGeometry) -> list[Polygon]:
    if isinstance(shape, Polygon):
        return [shape] if not shape.is_empty else []
    if isinstance(shape, MultiPolygon):
        return sorted((p for p in shape.geoms if not p.is_empty), key=lambda p: -p.area)
    return [g for part in getattr(shape, "geoms", []) for g in _parts(part)]


def _ring(poly: BaseGeometry) -> str | None:
    if not isinstance(poly, Polygon) or poly.is_empty:
        return None
    points: list[tuple[float, float]] = []
    for lon, lat in poly.exterior.coords:
        p = (round(lat, DIGITS), round(lon, DIGITS))
        if not points or points[-1] != p:
            points.append(p)
    if points[0] != points[-1]:
        points.append(points[0])
    if len(points) < 4:
        return None
    return " ".join(f"{lat:.{DIGITS}f},{lon:.{DIGITS}f}" for lat, lon in points)


def _lonlat(ring: str) -> list[list[float]]:
    return [[float(lon), float(lat)] for lat, lon in (pair.split(",") for pair in ring.split())]


def polygon_geojson(ring: str) -> dict:
    """A CAP polygon as a GeoJSON geometry (``lon,lat``)."""
    return mapping(Polygon(_lonlat(ring)))
