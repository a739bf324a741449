"""多网合一: a department layer mapped onto unit grids decides the line's responsible unit."""

import pytest
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from liandong.areas import layers
from liandong.areas.index import GridIndex, locate
from liandong.areas.models import GridAssignment, Layer
from liandong.db import unit_of_work
from liandong.errors import Conflict, Invalid
from liandong.units.service import create_unit
from tests.conftest import login, make_client
from tests.factories import EAST, PASSWORD, WEST, build_small_district


@pytest.fixture
def world(db_url):
    with unit_of_work(db_url) as s:
        build_small_district(s)
        # a city-management squad whose beat crosses the town border
        create_unit(s, code="B-cm-special", name="特勤中队", kind="branch", area_code="319901",
                    line="city_management", parent_code="D-cm")
    return db_url


def beats(unit_a="B-cm-special", unit_b=f"B-cm-{EAST}") -> dict:
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "Z1", "name": "中间片区", "unit": unit_a},
         "geometry": mapping(box(121.315, 31.10, 121.335, 31.14))},
        {"type": "Feature", "properties": {"code": "Z2", "name": "东片区", "unit": unit_b},
         "geometry": mapping(box(121.335, 31.10, 121.37, 31.14))},
    ]}


def test_layer_decides_responsible_unit_with_fallback(world):
    with unit_of_work(world) as s:
        result = layers.import_layer(s, beats(), code="cm-grids", name="城管网格", line="city_management")
    assert result["zones"] == 2 and result["grids_mapped"] > 0
    with unit_of_work(world) as s:
        index = GridIndex.build(s)

    def cm_unit(lon, lat):
        hit = locate(index, lon, lat)
        return [u["code"] for u in hit["responsible_units"] if u["line"] == "city_management"]

    assert cm_unit(121.320, 31.11) == ["B-cm-special"]  # inside Z1, in the west town
    assert cm_unit(121.331, 31.11) == ["B-cm-special"]  # inside Z1, in the east town
    assert cm_unit(121.350, 31.11) == [f"B-cm-{EAST}"]  # Z2
    assert cm_unit(121.305, 31.11) == [f"B-cm-{WEST}"]  # no zone: the town's own branch (属地兜底)


def test_largest_overlap_wins(world):
    with unit_of_work(world) as s:
        layers.import_layer(s, beats(), code="cm-grids", name="城管网格", line="city_management")
        rows = s.execute(select(GridAssignment.share)).scalars().all()
    assert all(0 < x <= 1.0000001 for x in rows)
    assert any(x < 0.99 for x in rows)  # grids cut by the zone edge still get exactly one zone


@pytest.mark.parametrize("mutate,message", [
    (lambda fc: fc["features"][0]["properties"].update(unit="C"), "not a unit of the city_management line"),
    (lambda fc: fc["features"][1]["properties"].update(code="Z1"), "duplicate code"),
    (lambda fc: fc["features"][0].update(geometry={"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
     "Polygon"),
    (lambda fc: fc.update(features=[]), "no features"),
])
def test_bad_layers_rejected_nothing_written(world, mutate, message):
    fc = beats()
    mutate(fc)
    with pytest.raises(Invalid) as err, unit_of_work(world) as s:
        layers.import_layer(s, fc, code="cm-grids", name="城管网格", line="city_management")
    assert message in err.value.message + " ".join(err.value.details)
    with unit_of_work(world) as s:
        assert s.scalar(select(func.count()).select_from(Layer)) == 0
        assert s.scalar(select(func.count()).select_from(GridAssignment)) == 0


def test_unknown_line_and_replace(world):
    with pytest.raises(Invalid, match="unknown department line"), unit_of_work(world) as s:
        layers.import_layer(s, beats(), code="x", name="x", line="navy")
    with unit_of_work(world) as s:
        layers.import_layer(s, beats(), code="cm", name="城管网格", line="city_management")
    with pytest.raises(Conflict), unit_of_work(world) as s:
        layers.import_layer(s, beats(), code="cm", name="城管网格", line="city_management")
    with unit_of_work(world) as s:
        layers.import_layer(s, beats(unit_a=f"B-cm-{WEST}"), code="cm", name="城管网格", line="city_management",
                            replace=True)
        assert [x["zones"] for x in layers.list_layers(s)] == [2]


def test_layer_api(world):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    params = {"code": "cm", "name": "城管网格", "line": "city_management"}
    assert client.post("/api/v1/layers", params=params, json=beats(),
                       headers=login(client, "dispatcher", PASSWORD)).status_code == 403
    r = client.post("/api/v1/layers", params=params, json=beats(), headers=admin)
    assert r.status_code == 201, r.text
    assert client.get("/api/v1/layers", headers=admin).json()[0]["grids_mapped"] == r.json()["grids_mapped"]
    fc = client.get("/api/v1/layers/cm/geojson", headers=admin).json()
    assert [f["properties"]["unit"] for f in fc["features"]] == ["B-cm-special", f"B-cm-{EAST}"]
    grid = client.get("/api/v1/areas/locate", params={"lon": 121.331, "lat": 31.11}, headers=admin).json()["grid"]
    resp = client.get(f"/api/v1/areas/{grid['code']}/responsibility", headers=admin).json()
    assert "B-cm-special" in [u["code"] for u in resp["responsible_units"]]


def test_layer_zones_follow_jurisdiction(world):
    client = make_client(world)
    admin = login(client, "admin", PASSWORD)
    params = {"code": "cm", "name": "城管网格", "line": "city_management"}
    assert client.post("/api/v1/layers", params=params, json=beats(), headers=admin).status_code == 201
    west = login(client, "west_handler", PASSWORD)
    zones = [f["properties"]["code"] for f in client.get("/api/v1/layers/cm/geojson", headers=west).json()["features"]]
    assert zones == ["Z1"]  # Z2 lies wholly in the east town
    east = login(client, "east_handler", PASSWORD)
    zones = [f["properties"]["code"] for f in client.get("/api/v1/layers/cm/geojson", headers=east).json()["features"]]
    assert zones == ["Z1", "Z2"]
