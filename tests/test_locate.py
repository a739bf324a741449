"""Point → grid resolution: agreement with brute force, shared edges, CRS inputs, API and scope."""

import numpy as np
import shapely
from sqlalchemy import select

from liandong.areas import crs
from liandong.areas.index import GridIndex, locate
from liandong.areas.models import Area
from liandong.areas.scope import Scope
from liandong.db import unit_of_work
from tests.bruteforce import brute_force_codes
from tests.conftest import login, make_client
from tests.factories import DISTRICT_POLY, PASSWORD, WEST


def _grids(url):
    with unit_of_work(url) as s:
        rows = s.execute(select(Area.code, Area.geom).where(Area.level == "grid").order_by(Area.code)).all()
        index = GridIndex.build(s)
    return [r.code for r in rows], list(shapely.from_wkb([r.geom for r in rows])), index


def test_index_agrees_with_brute_force_on_10000_points(small_db):
    codes, geoms, index = _grids(small_db)
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = DISTRICT_POLY.bounds
    lons = rng.uniform(minx - 0.005, maxx + 0.005, 10_000)
    lats = rng.uniform(miny - 0.005, maxy + 0.005, 10_000)
    expected = brute_force_codes(codes, geoms, lons, lats)
    single = [h.code if (h := index.locate(x, y)) else None for x, y in zip(lons, lats, strict=True)]
    bulk = [index.hits[i].code if i >= 0 else None for i in index.locate_many(lons, lats)]
    assert single == expected
    assert bulk == expected
    assert sum(e is None for e in expected) > 500  # some points really fall outside the district


def test_shared_edges_and_vertices_resolve_to_lowest_code(small_db):
    codes, geoms, index = _grids(small_db)
    tree = shapely.STRtree(geoms)
    checked = 0
    for i in range(0, len(geoms), 7):
        for x, y in list(geoms[i].exterior.coords)[:-1]:
            hits = tree.query(shapely.Point(x, y), predicate="intersects")
            if len(hits) < 2:
                continue
            want = min(codes[j] for j in hits)
            assert index.locate(x, y).code == want
            assert index.hits[index.locate_many([x], [y])[0]].code == want
            checked += 1
    assert checked > 100


def test_gcj02_and_bd09_inputs_resolve_like_wgs84(small_db):
    _, _, index = _grids(small_db)
    lon, lat = 121.3137, 31.1171
    want = locate(index, lon, lat)["grid"]["code"]
    for name in ("gcj02", "bd09"):
        x, y = crs.from_wgs84(lon, lat, name)
        got = locate(index, float(x), float(y), name)
        assert got["grid"]["code"] == want
        assert abs(got["point"]["lon"] - lon) < 1e-5 and abs(got["point"]["lat"] - lat) < 1e-5
    # without declaring GCJ-02 the same numbers land hundreds of metres away, in another grid
    x, y = crs.from_wgs84(lon, lat, "gcj02")
    assert locate(index, float(x), float(y))["grid"]["code"] != want


def test_locate_answers_chain_and_responsible_units(small_db):
    _, _, index = _grids(small_db)
    got = locate(index, 121.305, 31.105)
    assert [a["level"] for a in got["ancestors"]] == ["district", "town", "community"]
    assert got["grid"]["code"].startswith(got["ancestors"][-1]["code"]) and len(got["grid"]["code"]) == 15
    kinds = [(u["kind"], u["line"]) for u in got["responsible_units"]]
    assert kinds == [("workstation", None), ("sub_centre", None), ("centre", None), ("branch", "city_management")]
    assert got["responsible_units"][3]["code"] == f"B-cm-{WEST}"


def test_scope_hides_other_towns(small_db):
    _, _, index = _grids(small_db)
    with unit_of_work(small_db) as s:
        west = s.scalar(select(Area).where(Area.code == WEST))
        scope = Scope(path=west.path, area_id=west.id)
    assert locate(index, 121.305, 31.105, scope=scope) is not None  # west
    assert locate(index, 121.345, 31.11, scope=scope) is None  # east


def test_locate_api(small_db):
    client = make_client(small_db)
    auth = login(client, "dispatcher", PASSWORD)
    r = client.get("/api/v1/areas/locate", params={"lon": 121.305, "lat": 31.105}, headers=auth)
    assert r.status_code == 200 and r.json()["grid"]["code"].startswith("319901001")
    assert client.get("/api/v1/areas/locate", params={"lon": 121.0, "lat": 31.0}, headers=auth).status_code == 404
    r = client.get("/api/v1/areas/locate", params={"lon": 121.305, "lat": 31.105, "crs": "EPSG:3857"}, headers=auth)
    assert r.status_code == 422 and "unknown coordinate system" in r.json()["detail"]
    r = client.get("/api/v1/areas/locate", params={"lon": 500, "lat": 31.1}, headers=auth)
    assert r.status_code == 422 and "lon" in r.json()["detail"]
    assert client.get("/api/v1/areas/locate", params={"lon": 121.305, "lat": 31.105}).status_code == 401
    east = login(client, "east_handler", PASSWORD)
    assert client.get("/api/v1/areas/locate", params={"lon": 121.305, "lat": 31.105}, headers=east).status_code == 404
    assert client.get("/api/v1/areas/locate", params={"lon": 121.345, "lat": 31.11}, headers=east).status_code == 200
