"""A tiny district for the page and browser tests: seconds to build, enough to draw and locate.

One district (2 km × 2 km near Minhang), two towns (west / east), four communities and the
unit grids generated from them at 4 hectares each (about a hundred grids).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from liandong.areas import gridgen
from liandong.areas import service as areas_service
from liandong.auth import service as auth_service
from liandong.config import Settings, get_settings
from liandong.db import migrate, session_factory
from liandong.units import service as units_service

DISTRICT = "310112"
WEST, EAST = "310112001", "310112002"
USERNAME = "web_admin"
PASSWORD = "Correct-Horse-42"
DISPLAY_NAME = "测试管理员"
CENTRE_NAME = "测试区城运中心"
WEST_LON, MID_LON, EAST_LON = 121.300, 121.310, 121.320
SOUTH_LAT, MID_LAT, NORTH_LAT = 31.100, 31.110, 31.120
INSIDE = (121.305, 31.105)
"""A point well inside community 310112001001 (south-west)."""

CHEAP_HASHING = {
    "LIANDONG_ARGON2_TIME_COST": "1",
    "LIANDONG_ARGON2_MEMORY_KIB": "1024",
    "LIANDONG_ARGON2_PARALLELISM": "1",
}


def _box(code: str, name: str, level: str, parent: str | None, w: float, s: float, e: float, n: float,
         population: int | None = None) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "level": level, "parent": parent, "population": population},
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
    }


def feature_collection() -> dict:
    features = [
        _box(DISTRICT, "测试区", "district", None, WEST_LON, SOUTH_LAT, EAST_LON, NORTH_LAT),
        _box(WEST, "西镇", "town", DISTRICT, WEST_LON, SOUTH_LAT, MID_LON, NORTH_LAT),
        _box(EAST, "东街道", "town", DISTRICT, MID_LON, SOUTH_LAT, EAST_LON, NORTH_LAT),
    ]
    for town, (w, e) in ((WEST, (WEST_LON, MID_LON)), (EAST, (MID_LON, EAST_LON))):
        features.append(_box(f"{town}001", f"{town[-1]}号南村", "community", town, w, SOUTH_LAT, e, MID_LAT, 1200))
        features.append(_box(f"{town}002", f"{town[-1]}号北居委", "community", town, w, MID_LAT, e, NORTH_LAT, 3400))
    return {"type": "FeatureCollection", "features": features}


@dataclass
class WebData:
    url: str
    settings: Settings
    grids: int


def build(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> WebData:
    """Migrate a fresh SQLite database and fill it; settings use cheap password hashing."""
    for key, value in CHEAP_HASHING.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()  # the password hasher reads get_settings()
    url = f"sqlite:///{db_path}"
    migrate(url)
    with session_factory(url)() as session:
        areas_service.import_geojson(session, feature_collection())
        result = gridgen.generate(session, DISTRICT, target_m2=40_000)
        units_service.create_unit(session, code="C310112", name=CENTRE_NAME, kind="centre", area_code=DISTRICT)
        units_service.create_unit(session, code="D310112-CM", name="测试区城管执法局", kind="department",
                                  line="city_management", area_code=DISTRICT, parent_code="C310112")
        auth_service.create_user(session, username=USERNAME, password=PASSWORD, unit_code="C310112",
                                 roles=["admin", "dispatcher"], display_name=DISPLAY_NAME)
        session.commit()
    settings = Settings(database_url=url, argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
    return WebData(url=url, settings=settings, grids=result["grids"])


def make_app(data: WebData) -> FastAPI:
    from liandong.app import create_app

    return create_app(data.settings)
