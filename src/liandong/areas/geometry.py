"""Small geometry helpers: metric area on the sphere, WKB round trips, validation."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

EARTH_AUTHALIC_RADIUS_M = 6371007.181
"""Radius of the sphere with the WGS84 ellipsoid's surface area."""


def _equal_area(coords: np.ndarray) -> np.ndarray:
    """Lambert cylindrical equal-area projection: planar area equals area on the authalic sphere."""
    lon = np.radians(coords[:, 0])
    lat = np.radians(coords[:, 1])
    r = EARTH_AUTHALIC_RADIUS_M
    return np.column_stack([r * lon, r * np.sin(lat)])


def area_m2(geoms) -> np.ndarray | float:
    """Area in square metres of WGS84 geometries (scalar or array), exact on the authalic sphere."""
    return shapely.area(shapely.transform(geoms, _equal_area))


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and latitude at ``lat`` (spherical), for local metric work."""
    r = EARTH_AUTHALIC_RADIUS_M
    per_deg_lat = np.pi * r / 180.0
    return per_deg_lat * float(np.cos(np.radians(lat))), per_deg_lat


def to_wkb(geom: BaseGeometry) -> bytes:
    return shapely.to_wkb(geom, output_dimension=2)


def from_wkb(data: bytes) -> BaseGeometry:
    return shapely.from_wkb(data)


def bbox(geom: BaseGeometry) -> dict[str, float]:
    minx, miny, maxx, maxy = geom.bounds
    return {"min_lon": minx, "min_lat": miny, "max_lon": maxx, "max_lat": maxy}


def polygonal_problem(geom: BaseGeometry | None) -> str | None:
    """Why ``geom`` cannot be an area polygon, or None when it can."""
    if geom is None or geom.is_empty:
        return "geometry is missing or empty"
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return f"geometry must be a Polygon or MultiPolygon, not {geom.geom_type}"
    if not geom.is_valid:
        return f"geometry is invalid ({shapely.is_valid_reason(geom)})"
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        return "coordinates are not longitude/latitude degrees (projected coordinates or wrong axis order?)"
    return None
