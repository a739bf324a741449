"""A small district built through the real services, for tests that do not need all of Minhang."""

from __future__ import annotations

import shapely
from shapely.geometry import Polygon, box, mapping
from sqlalchemy.orm import Session

from liandong.areas import gridgen
from liandong.areas.service import import_geojson
from liandong.auth.service import create_user
from liandong.units.service import create_unit

DISTRICT = "319901"
WEST, EAST = "319901001", "319901002"
PASSWORD = "correct-horse-battery"
DISTRICT_POLY = Polygon([(121.30, 31.10), (121.35, 31.10), (121.36, 31.125), (121.33, 31.14), (121.30, 31.13)])


def feature(code: str, name: str, level: str, geom, parent: str | None = None, **props) -> dict:
    return {"type": "Feature",
            "properties": {"code": code, "name": name, "level": level, "parent": parent, **props},
            "geometry": mapping(geom)}


def small_district_geojson() -> dict:
    west = DISTRICT_POLY.intersection(box(121.0, 31.0, 121.325, 31.2))
    east = DISTRICT_POLY.difference(west)
    north, south = box(121.0, 31.12, 122.0, 31.2), box(121.0, 31.0, 122.0, 31.12)
    feats = [
        feature(DISTRICT, "测试区", "district", DISTRICT_POLY, population=100_000),
        feature(WEST, "西镇", "town", west, DISTRICT, kind="town", population=60_000),
        feature(EAST, "东街道", "town", east, DISTRICT, kind="street", population=40_000),
    ]
    for town, geom, label in ((WEST, west, "西"), (EAST, east, "东")):
        for i, (part, where) in enumerate(((geom.intersection(north), "北"), (geom.intersection(south), "南")), 1):
            part = shapely.normalize(part)
            feats.append(feature(f"{town}{i:03d}", f"{label}{where}居委会", "community", part, town,
                                 kind="residential", population=10_000 * (i + 1)))
    return {"type": "FeatureCollection", "features": feats}


def build_small_district(session: Session, target_m2: float = 40_000.0) -> None:
    """Areas, grids, units (centre, sub-centres, workstations, one department line) and users."""
    import_geojson(session, small_district_geojson())
    gridgen.generate(session, DISTRICT, target_m2=target_m2)
    create_unit(session, code="C", name="测试区联动中心", kind="centre", area_code=DISTRICT)
    create_unit(session, code="D-cm", name="测试区城管执法局", kind="department", area_code=DISTRICT,
                line="city_management", parent_code="C")
    for town in (WEST, EAST):
        create_unit(session, code=f"S-{town}", name=f"{town}分中心", kind="sub_centre", area_code=town,
                    parent_code="C")
        create_unit(session, code=f"B-cm-{town}", name=f"{town}城管中队", kind="branch", area_code=town,
                    line="city_management", parent_code="D-cm")
        for i in (1, 2):
            create_unit(session, code=f"W-{town}{i:03d}", name=f"{town}{i:03d}工作站", kind="workstation",
                        area_code=f"{town}{i:03d}", parent_code=f"S-{town}")
    create_user(session, username="admin", password=PASSWORD, unit_code="C", roles=["admin"])
    create_user(session, username="dispatcher", password=PASSWORD, unit_code="C", roles=["dispatcher"],
                phone="13812345678")
    create_user(session, username="west_handler", password=PASSWORD, unit_code=f"S-{WEST}", roles=["handler"])
    create_user(session, username="east_handler", password=PASSWORD, unit_code=f"S-{EAST}", roles=["handler"])
