"""GeoJSON import/export: round trip, and every kind of bad input rejected with nothing written."""

import copy
import json

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import func, select

from liandong.areas import crs
from liandong.areas.models import Area
from liandong.areas.service import export_geojson, import_geojson
from liandong.db import unit_of_work
from liandong.errors import Invalid
from tests.factories import DISTRICT, small_district_geojson


def count(url) -> int:
    with unit_of_work(url) as s:
        return s.scalar(select(func.count()).select_from(Area))


def test_round_trip(db_url):
    src = small_district_geojson()
    with unit_of_work(db_url) as s:
        report = import_geojson(s, src)
    assert report.created == 7 and report.by_level == {"district": 1, "town": 2, "community": 4}
    with unit_of_work(db_url) as s:
        out = export_geojson(s, level="community")
    assert [f["properties"]["code"] for f in out["features"]] == sorted(
        f["properties"]["code"] for f in src["features"] if f["properties"]["level"] == "community")
    by_code = {f["properties"]["code"]: f for f in src["features"]}
    for f in out["features"]:
        original = by_code[f["properties"]["code"]]
        assert shape(f["geometry"]).equals_exact(shape(original["geometry"]), 1e-12)
        assert f["properties"]["parent"] == original["properties"]["parent"]
        assert f["properties"]["population"] == original["properties"]["population"]
    # exported file imports again into an empty database and exports identically
    with unit_of_work(db_url) as s:
        everything = [export_geojson(s, level=lvl) for lvl in ("district", "town", "community")]
    merged = {"type": "FeatureCollection", "features": [f for fc in everything for f in fc["features"]]}
    with unit_of_work(db_url) as s:
        for level in ("community", "town", "district"):  # children first: parents are RESTRICTed
            s.execute(Area.__table__.delete().where(Area.level == level))
    with unit_of_work(db_url) as s:
        import_geojson(s, json.dumps(merged, ensure_ascii=False))
    with unit_of_work(db_url) as s:
        again = export_geojson(s, level="community")
    assert [f["geometry"] for f in again["features"]] == [f["geometry"] for f in out["features"]]


def test_gcj02_import_is_converted_and_exported_back(db_url):
    src = small_district_geojson()
    gcj = copy.deepcopy(src)
    for f in gcj["features"]:
        f["geometry"] = shapely.geometry.mapping(shapely.transform(shape(f["geometry"]), lambda c: __import__(
            "numpy").column_stack(crs.wgs84_to_gcj02(c[:, 0], c[:, 1]))))
    gcj["crs"] = {"type": "name", "properties": {"name": "GCJ-02"}}
    with unit_of_work(db_url) as s:
        import_geojson(s, gcj)
        stored = shape(export_geojson(s, level="district")["features"][0]["geometry"])
        as_gcj = shape(export_geojson(s, level="district", crs="gcj02")["features"][0]["geometry"])
    assert stored.equals_exact(shape(src["features"][0]["geometry"]), 1e-8)
    assert as_gcj.equals_exact(shape(gcj["features"][0]["geometry"]), 1e-8)


def _bad(mutate):
    data = small_district_geojson()
    mutate(data)
    return data


def _set(i, key, value):
    def m(d):
        d["features"][i]["properties"][key] = value
    return m


BAD = {
    "broken geometry (self-intersecting bow tie)": (
        lambda d: d["features"][3].__setitem__("geometry", {"type": "Polygon", "coordinates": [[
            [121.30, 31.12], [121.31, 31.13], [121.31, 31.12], [121.30, 31.13], [121.30, 31.12]]]}),
        "geometry is invalid"),
    "not a polygon": (
        lambda d: d["features"][3].__setitem__("geometry", {"type": "Point", "coordinates": [121.3, 31.1]}),
        "must be a Polygon"),
    "unreadable geometry": (
        lambda d: d["features"][3].__setitem__("geometry", {"type": "Polygon", "coordinates": "x"}),
        "cannot be read"),
    "unknown parent": (_set(3, "parent", "319901999"), "unknown parent '319901999'"),
    "duplicate codes": (_set(4, "code", "319901001001"), "duplicate code"),
    "wrong parent level": (_set(3, "parent", DISTRICT), "needs a town"),
    "unknown level": (_set(3, "level", "province"), "level 'province'"),
    "missing name": (_set(3, "name", ""), "has no 'name'"),
    "bad population": (_set(3, "population", -5), "population"),
    "projected coordinates (wrong CRS)": (
        lambda d: d["features"][3].__setitem__("geometry", {"type": "Polygon", "coordinates": [[
            [350000, 3440000], [351000, 3440000], [351000, 3441000], [350000, 3440000]]]}),
        "not longitude/latitude"),
    "unknown declared CRS": (lambda d: d.__setitem__("crs", {"type": "name", "properties": {"name": "EPSG:3857"}}),
                             "unknown coordinate system"),
    "child far outside its parent (offset CRS)": (
        lambda d: d["features"][3].__setitem__("geometry", shapely.geometry.mapping(
            shapely.affinity.translate(shape(d["features"][3]["geometry"]), 0.02, 0.0))),
        "outside its parent"),
    "overlapping siblings": (
        lambda d: d["features"][4].__setitem__("geometry", d["features"][3]["geometry"]),
        "overlaps"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_import_rejected_and_nothing_written(db_url, case):
    mutate, message = BAD[case]
    with pytest.raises(Invalid) as err, unit_of_work(db_url) as s:
        import_geojson(s, _bad(mutate))
    text = err.value.message + " " + " ".join(err.value.details)
    assert message in text
    assert "nothing was written" in err.value.message or not err.value.details
    if err.value.details:
        assert "feature #" in " ".join(err.value.details)  # names the feature
    assert count(db_url) == 0


def test_existing_code_needs_upsert(db_url):
    with unit_of_work(db_url) as s:
        import_geojson(s, small_district_geojson())
    before = count(db_url)
    with pytest.raises(Invalid, match="nothing was written") as err, unit_of_work(db_url) as s:
        import_geojson(s, small_district_geojson())
    assert "already exists" in err.value.details[0]
    data = small_district_geojson()
    data["features"][1]["properties"]["name"] = "改名镇"
    with unit_of_work(db_url) as s:
        report = import_geojson(s, data, mode="upsert")
    assert report.updated == 7 and report.created == 0 and count(db_url) == before
    with unit_of_work(db_url) as s:
        assert s.scalar(select(Area.name).where(Area.code == "319901001")) == "改名镇"


@pytest.mark.parametrize("raw", ["not json", "[]", '{"type": "Feature"}x', '{"type": "Topology"}'])
def test_not_geojson(db_url, raw):
    with pytest.raises(Invalid), unit_of_work(db_url) as s:
        import_geojson(s, raw)
    assert count(db_url) == 0


def test_responsibility_grid_from_members(small_db):
    with unit_of_work(small_db) as s:
        grids = [f["properties"]["code"] for f in export_geojson(s, level="grid", within="319901001001")["features"]]
        fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": None, "properties": {
            "code": "R-1", "name": "一号责任网格", "level": "responsibility_grid", "parent": "319901001",
            "members": grids[:5]}}]}
        import_geojson(s, fc)
        out = export_geojson(s, level="responsibility_grid")
        s.rollback()  # keep the shared module database unchanged
    assert out["features"][0]["properties"]["members"] == grids[:5]
    assert out["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_moving_a_community_carries_its_grids(db_url):
    """An upsert that changes a parent rewrites the whole subtree's jurisdiction paths."""
    from liandong.areas.scope import Scope
    from liandong.areas.service import get_by_code
    from liandong.errors import NotFound
    from tests.factories import EAST, WEST, build_small_district

    with unit_of_work(db_url) as s:
        build_small_district(s)
    moved = next(f for f in small_district_geojson()["features"] if f["properties"]["code"] == f"{WEST}001")
    moved["properties"]["parent"] = EAST
    with unit_of_work(db_url) as s:
        # the geometry stays west, so the outside-parent check must refuse …
        with pytest.raises(Invalid) as err:
            import_geojson(s, {"type": "FeatureCollection", "features": [moved]}, mode="upsert")
        assert "outside its parent" in err.value.details[0]
    with unit_of_work(db_url) as s:  # … so move the town border first: east takes the west town's shape
        east = get_by_code(s, EAST)
        west = get_by_code(s, WEST)
        east.geom, west.geom = west.geom, east.geom
    with unit_of_work(db_url) as s:
        import_geojson(s, {"type": "FeatureCollection", "features": [moved]}, mode="upsert")
    with unit_of_work(db_url) as s:
        east, west = get_by_code(s, EAST), get_by_code(s, WEST)
        grid = get_by_code(s, f"{WEST}001001")
        assert grid.path.startswith(east.path)
        get_by_code(s, f"{WEST}001001", Scope(path=east.path, area_id=east.id))
        with pytest.raises(NotFound):
            get_by_code(s, f"{WEST}001001", Scope(path=west.path, area_id=west.id))


def test_properties_must_be_sane(db_url):
    bad = small_district_geojson()
    bad["features"][3]["properties"].update(kind={"a": 1}, population=10**20, name="x" * 300)
    with pytest.raises(Invalid) as err, unit_of_work(db_url) as s:
        import_geojson(s, bad)
    text = " ".join(err.value.details)
    assert "'kind' must be text" in text and "'population' must be a whole number" in text
    assert "'name' is longer than 200" in text
    assert count(db_url) == 0
