"""The components register: all-or-nothing import (CSV and GeoJSON), scope, and cases about a component."""

import json

import pytest
from sqlalchemy import func, select

from liandong.areas.index import GridIndex
from liandong.catalogue.service import load_standard
from liandong.components import service
from liandong.components.models import Component
from liandong.db import unit_of_work
from liandong.errors import Invalid
from tests.conftest import login, make_client
from tests.factories import DISTRICT, PASSWORD, build_small_district

WEST, EAST = (121.305, 31.105), (121.345, 31.11)
HEADER = "code,name,lon,lat,owner,maintainer,status,surveyed_on\n"


def code(type_code: str, seq: int) -> str:
    return f"{DISTRICT}{type_code}{seq:06d}"


@pytest.fixture
def world(db_url):
    with unit_of_work(db_url) as s:
        build_small_district(s)
        load_standard(s)
    return db_url


def run_import(url, text, fmt="csv"):
    with unit_of_work(url) as s:
        return service.import_components(s, GridIndex.build(s), text, fmt=fmt)


def count(url):
    with unit_of_work(url) as s:
        return s.scalar(select(func.count()).select_from(Component))


def test_csv_import_and_lookup(world):
    text = HEADER + (f"{code('01001', 1)},,{WEST[0]},{WEST[1]},自来水公司,养护一队,完好,2026-11-01\n"
                     f"{code('01037', 2)},路灯,{EAST[0]},{EAST[1]},,,damaged,\n")
    assert run_import(world, text) == {"imported": 2}
    with unit_of_work(world) as s:
        c = service.get(s, code("01001", 1))
        assert c.name == "供水井盖" and c.status == "intact" and c.type_code == "01001"
        rows, total = service.search(s, status="damaged")
        assert total == 1 and rows[0].code == code("01037", 2)


@pytest.mark.parametrize("row,message", [
    (f"123,x,{WEST[0]},{WEST[1]},,,,", "17 digits"),
    (f"{code('99999', 1)},x,{WEST[0]},{WEST[1]},,,,", "not in the catalogue"),
    (f"{'310101'}01001000001,x,{WEST[0]},{WEST[1]},,,,", "does not match the grid"),
    (f"{code('01001', 3)},x,120.0,30.0,,,,", "outside every unit grid"),
    (f"{code('01001', 4)},x,{WEST[0]},{WEST[1]},,,stolen,", "status must be one of"),
    (f"{code('01001', 5)},x,{WEST[0]},{WEST[1]},,,,yesterday", "surveyed_on"),
    (f"{code('01001', 6)},x,east,{WEST[1]},,,,", "must be numbers"),
])
def test_bad_rows_reject_the_whole_file(world, row, message):
    good = f"{code('01001', 9)},,{WEST[0]},{WEST[1]},,,,\n"
    with pytest.raises(Invalid) as err:
        run_import(world, HEADER + good + row + "\n")
    assert message in " ".join(err.value.details) and "line 3" in err.value.details[0]
    assert count(world) == 0


def test_geojson_import_duplicates_and_api(world):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": code("02014", 1), "status": "破损"},
         "geometry": {"type": "Point", "coordinates": list(EAST)}}]}
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    r = client.post("/api/v1/components/import", params={"format": "geojson"}, content=json.dumps(fc),
                    headers={**admin, "content-type": "text/plain"})
    assert r.status_code == 201 and r.json() == {"imported": 1}
    again = client.post("/api/v1/components/import", params={"format": "geojson"}, content=json.dumps(fc),
                        headers={**admin, "content-type": "text/plain"})
    assert again.status_code == 422 and "already in the register" in again.json()["errors"][0]
    west = login(client, "west_handler", PASSWORD)
    assert client.get(f"/api/v1/components/{code('02014', 1)}", headers=west).status_code == 404
    east = login(client, "east_handler", PASSWORD)
    one = client.get(f"/api/v1/components/{code('02014', 1)}", headers=east).json()
    assert one["name"] == "交通信号灯" and one["status"] == "damaged" and one["status_zh"] == "破损"
    # a case about the component must use that component's matter
    disp = login(client, "dispatcher", PASSWORD)
    body = {"matter_code": "02014", "description": "信号灯不亮", "lon": EAST[0], "lat": EAST[1],
            "channel": "grid_worker", "component_code": code("02014", 1)}
    r = client.post("/api/v1/cases", json=body, headers=disp)
    assert r.status_code == 201 and r.json()["component_code"] == code("02014", 1)
    r = client.post("/api/v1/cases", json={**body, "matter_code": "01037"}, headers=disp)
    assert r.status_code == 422 and "交通信号灯" in r.json()["detail"]
