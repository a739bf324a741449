"""Area and unit endpoints: tree, GeoJSON by bbox, import and grid generation through the API."""

import pytest

from tests.conftest import login, make_client
from tests.factories import DISTRICT, PASSWORD, WEST, feature, small_district_geojson


def test_tree_and_lookup(small_db):
    client = make_client(small_db)
    auth = login(client, "dispatcher", PASSWORD)
    roots = client.get("/api/v1/areas", headers=auth).json()
    assert [a["code"] for a in roots["items"]] == [DISTRICT]
    towns = client.get(f"/api/v1/areas/{DISTRICT}/children", headers=auth).json()
    assert towns["total"] == 2 and {t["level"] for t in towns["items"]} == {"town"}
    com = client.get(f"/api/v1/areas/{WEST}001", headers=auth).json()
    assert [a["code"] for a in com["ancestors"]] == [DISTRICT, WEST] and com["children"]["grid"] > 10
    grids = client.get("/api/v1/areas", params={"level": "grid", "parent": f"{WEST}001", "limit": 5},
                       headers=auth).json()
    assert grids["total"] == com["children"]["grid"] and len(grids["items"]) == 5
    assert client.get("/api/v1/areas/nope", headers=auth).status_code == 404
    assert client.get("/api/v1/areas", params={"level": "planet"}, headers=auth).status_code == 422


def test_geojson_by_bbox(small_db):
    client = make_client(small_db)
    auth = login(client, "dispatcher", PASSWORD)
    bbox = "121.30,31.10,121.31,31.11"
    r = client.get("/api/v1/areas/geojson", params={"level": "grid", "bbox": bbox}, headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = r.json()
    assert 0 < len(fc["features"]) < 100
    for f in fc["features"]:
        xs = [c[0] for c in f["geometry"]["coordinates"][0]]
        assert min(xs) <= 121.31 + 1e-9
    assert client.get("/api/v1/areas/geojson", params={"level": "grid", "bbox": "1,2,3"},
                      headers=auth).status_code == 422


def test_import_and_generate_through_api(db_url):
    from shapely.geometry import box

    from liandong.auth.service import create_user
    from liandong.db import unit_of_work
    from liandong.units.service import create_unit

    with unit_of_work(db_url) as s:
        from liandong.areas.service import import_geojson

        import_geojson(s, {"type": "FeatureCollection", "features": [
            feature(DISTRICT, "测试区", "district", box(121.3, 31.1, 121.4, 31.2))]})
        create_unit(s, code="C", name="中心", kind="centre", area_code=DISTRICT)
        create_user(s, username="admin", password=PASSWORD, unit_code="C", roles=["admin"])
    client = make_client(db_url)
    admin = login(client, "admin", PASSWORD)
    fc = small_district_geojson()
    fc["features"] = [f for f in fc["features"] if f["properties"]["level"] != "district"]
    r = client.post("/api/v1/areas/import", json=fc, headers=admin)
    assert r.status_code == 201 and r.json()["created"] == 6
    r = client.post("/api/v1/areas/import", json=fc, headers=admin)
    assert r.status_code == 422 and len(r.json()["errors"]) == 6 and "already exists" in r.json()["errors"][0]
    r = client.post(f"/api/v1/areas/{DISTRICT}/grids", params={"target_m2": 50_000}, headers=admin)
    assert r.status_code == 201 and r.json()["communities"] == 4 and r.json()["grids"] > 300
    n = r.json()["grids"]
    assert client.post(f"/api/v1/areas/{DISTRICT}/grids", headers=admin).status_code == 409
    r = client.post(f"/api/v1/areas/{WEST}/grids", params={"target_m2": 100_000, "replace": True}, headers=admin)
    assert r.status_code == 201
    summary = client.get("/api/v1/areas/summary", headers=admin).json()
    assert summary["grid"] < n
    actions = [e["action"] for e in client.get("/api/v1/audit", headers=admin).json()]
    assert actions.count("grids_generated") == 2 and "areas_imported" in actions


def test_units_api(small_db):
    client = make_client(small_db)
    auth = login(client, "dispatcher", PASSWORD)
    units = client.get("/api/v1/units", params={"kind": "branch"}, headers=auth).json()
    assert units["total"] == 2 and {u["line"] for u in units["items"]} == {"city_management"}
    assert client.get("/api/v1/units", params={"kind": "army"}, headers=auth).status_code == 422
    one = client.get(f"/api/v1/units/S-{WEST}", headers=auth).json()
    assert one["parent"] == "C" and one["area"] == WEST
    lines = client.get("/api/v1/units/lines", headers=auth).json()
    assert len(lines) == 12 and lines[0]["name_zh"]
    body = {"code": "X", "name": "x", "kind": "team", "area_code": WEST}
    assert client.post("/api/v1/units", json=body, headers=auth).status_code == 403


def test_responsibility_grids(db_url):
    from liandong.db import unit_of_work
    from tests.factories import build_small_district

    with unit_of_work(db_url) as s:
        build_small_district(s)
    client = make_client(db_url)
    admin = login(client, "admin", PASSWORD)
    r = client.post(f"/api/v1/areas/{WEST}/responsibility-grids", params={"per_group": 20}, headers=admin)
    assert r.status_code == 201, r.text
    made = r.json()
    west_grids = client.get("/api/v1/areas/summary", headers=login(client, "west_handler", PASSWORD)).json()["grid"]
    assert made["grids"] == west_grids and made["responsibility_grids"] == pytest.approx(west_grids / 20, abs=2)
    assert client.post(f"/api/v1/areas/{WEST}/responsibility-grids", headers=admin).status_code == 409
    fc = client.get("/api/v1/areas/geojson", params={"level": "responsibility_grid"}, headers=admin).json()
    members = [m for f in fc["features"] for m in f["properties"]["members"]]
    assert len(members) == len(set(members)) == west_grids  # every grid in exactly one group
    hit = client.get("/api/v1/areas/locate", params={"lon": 121.305, "lat": 31.105}, headers=admin).json()
    assert len(hit["responsibility_grids"]) == 1 and hit["grid"]["code"] in {
        m for f in fc["features"] if f["properties"]["code"] == hit["responsibility_grids"][0]["code"]
        for m in f["properties"]["members"]}
    east = client.get("/api/v1/areas/locate", params={"lon": 121.345, "lat": 31.11}, headers=admin).json()
    assert east["responsibility_grids"] == []
