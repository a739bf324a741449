"""Coordinate systems used in China: WGS84, GCJ-02 (国测局, "Mars") and BD-09 (Baidu).

Everything is stored in WGS84; inputs declared GCJ-02 or BD-09 are converted on the way in.
The GCJ-02 offset is the published closed-form formula (Krasovsky ellipsoid constants); its inverse
has no closed form, so it is solved by fixed-point iteration to below 1e-9 degrees (~0.1 mm).
All functions take and return numpy arrays (or scalars) of longitudes and latitudes.
"""

from __future__ import annotations

import numpy as np

CRS_NAMES = ("wgs84", "gcj02", "bd09")
_A = 6378245.0
_EE = 0.00669342162296594323
_XPI = np.pi * 3000.0 / 180.0


class CRSError(ValueError):
    pass


def normalise_crs(name: str | None) -> str:
    """Accept common spellings (``WGS84``, ``EPSG:4326``, ``GCJ-02``, ``BD09``…)."""
    if name is None or name == "":
        return "wgs84"
    if not isinstance(name, str):
        raise CRSError(f"a coordinate system is named by text, not {type(name).__name__}")
    key = name.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    aliases = {"wgs84": "wgs84", "epsg:4326": "wgs84", "4326": "wgs84", "crs84": "wgs84",
               "urn:ogc:def:crs:ogc:1.3:crs84": "wgs84", "urn:ogc:def:crs:epsg::4326": "wgs84",
               "gcj02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "bd09": "bd09", "bd09ll": "bd09",
               "baidu": "bd09"}
    if key not in aliases:
        raise CRSError(f"unknown coordinate system {name!r}; use one of {', '.join(CRS_NAMES)}")
    return aliases[key]


def _out_of_china(lon, lat):
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _offset(lon, lat):
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
            + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
            + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
            + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
            + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    radlat = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(lon, lat):
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat):
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(30):
        clon, clat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = clon - glon, clat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < 1e-10) and np.all(np.abs(elat) < 1e-10):
            break
    return wlon, wlat


def gcj02_to_bd09(lon, lat):
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _XPI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat):
    x, y = np.asarray(lon, dtype=float) - 0.0065, np.asarray(lat, dtype=float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _XPI)
    return z * np.cos(theta), z * np.sin(theta)


def to_wgs84(lon, lat, crs: str = "wgs84"):
    """Convert coordinates declared in ``crs`` to WGS84."""
    crs = normalise_crs(crs)
    if crs == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if crs == "bd09":
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def from_wgs84(lon, lat, crs: str = "wgs84"):
    crs = normalise_crs(crs)
    if crs == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if crs == "bd09":
        return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def transform_geometry(geom, crs: str):
    """A shapely geometry in ``crs`` → the same geometry in WGS84 (every vertex converted)."""
    import shapely

    crs = normalise_crs(crs)
    if crs == "wgs84":
        return geom

    def convert(coords):
        lon, lat = to_wgs84(coords[:, 0], coords[:, 1], crs)
        return np.column_stack([lon, lat])

    return shapely.transform(geom, convert)
