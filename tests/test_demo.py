"""The Minhang demo district: real codes and names, full grid coverage, units, users and scopes.

Loaded once per backend (about a minute each); every test here only reads it.
"""

import datetime as dt
import re
from collections import Counter

import numpy as np
import pytest
import shapely
from sqlalchemy import func, select

from liandong.areas.geometry import area_m2
from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.auth.models import User
from liandong.db import unit_of_work
from liandong.demo import loader
from liandong.units.models import TeamMember, Unit
from tests.bruteforce import brute_force_codes
from tests.conftest import BACKENDS, fresh_database, login, make_client

QIBAO = "310112102"


@pytest.fixture(scope="session", params=BACKENDS)
def demo(request, tmp_path_factory):
    for url in fresh_database(request.param, tmp_path_factory):
        with unit_of_work(url) as s:
            # no password given: a random one is made and returned
            result = loader.load(s, None, with_drill=True, with_screening=True)
        yield url, result


@pytest.fixture(scope="session")
def grids(demo):
    url, _ = demo
    with unit_of_work(url) as s:
        rows = s.execute(select(Area.code, Area.geom, Area.parent_id, Area.population, Area.area_m2)
                         .where(Area.level == "grid").order_by(Area.code)).all()
    return rows


def test_counts(demo):
    url, result = demo
    client = make_client(url)
    auth = login(client, "admin", result["password"])
    summary = client.get("/api/v1/areas/summary", headers=auth).json()
    assert (summary["district"], summary["town"], summary["community"]) == (1, 14, 596)
    assert 35_000 <= summary["grid"] <= 40_000
    assert summary["responsibility_grid"] == result["responsibility_grids"]
    assert abs(summary["responsibility_grid"] - summary["grid"] / 22) < 150  # ~22 unit grids each (Shanghai)
    assert summary["totals"]["responsibility_grid"]["population"] == 2_429_000
    assert summary["totals"]["community"]["population"] == 2_429_000
    assert summary["totals"]["town"]["population"] == 2_429_000
    assert summary["totals"]["grid"]["population"] == 2_429_000
    assert 360e6 < summary["totals"]["district"]["area_m2"] < 385e6  # official 372 km²


def test_official_codes_and_names(demo):
    url, _ = demo
    official = {}
    with open("../shared/data/admin_codes/nbs2023_modood/shanghai_villages.csv", encoding="utf-8") as f:
        for line in f:
            code, name = line.split(",")[:2]
            if code.startswith("310112"):
                official[code] = name.strip('"')
    with unit_of_work(url) as s:
        ours = dict(s.execute(select(Area.code, Area.name).where(Area.level == "community")).all())
        synthetic = set(s.scalars(select(Area.synthetic).where(Area.level.in_(("town", "community")))))
        outline_synthetic = s.scalar(select(Area.synthetic).where(Area.level == "district"))
    assert ours == official
    assert synthetic == {True} and outline_synthetic is False


def test_grid_codes_well_formed_unique_and_numbered(grids, demo):
    url, _ = demo
    with unit_of_work(url) as s:
        com_codes = dict(s.execute(select(Area.id, Area.code).where(Area.level == "community")).all())
    codes = [g.code for g in grids]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[0-9A-Z]{15}", c) for c in codes)
    assert all(g.code[:12] == com_codes[g.parent_id] for g in grids)
    per_com = Counter(c[:12] for c in codes)
    assert set(per_com) == set(com_codes.values())  # every community has grids
    for com, n in per_com.items():  # sequences run 001..n without holes
        seqs = sorted(int(c[12:]) for c in codes if c[:12] == com) if n < 1000 else None
        if seqs is not None:
            assert seqs == list(range(1, n + 1))
        if n > 200:
            break


def test_grids_cover_the_district(grids, demo):
    url, _ = demo
    with unit_of_work(url) as s:
        outline = shapely.from_wkb(s.scalar(select(Area.geom).where(Area.level == "district")))
    geoms = shapely.from_wkb([g.geom for g in grids])
    total = float(np.sum(area_m2(geoms)))
    district = float(area_m2(outline))
    assert abs(total - district) / district < 0.005
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    inter = shapely.intersection(geoms[a[keep]], geoms[b[keep]])
    overlap = float(np.sum(area_m2(inter)))
    assert overlap < 1.0
    sizes = np.asarray([g.area_m2 for g in grids])
    assert 8_000 < np.median(sizes) < 12_000


def test_resolution_agrees_with_brute_force(grids, demo):
    url, _ = demo
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
    geoms = list(shapely.from_wkb([g.geom for g in grids]))
    codes = [g.code for g in grids]
    rng = np.random.default_rng(2012)
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
    lons, lats = rng.uniform(minx, maxx, 10_000), rng.uniform(miny, maxy, 10_000)
    expected = brute_force_codes(codes, geoms, lons, lats)
    got = [h.code if (h := index.locate(x, y)) else None for x, y in zip(lons, lats, strict=True)]
    assert got == expected
    bulk = [index.hits[i].code if i >= 0 else None for i in index.locate_many(lons, lats)]
    assert bulk == expected


def test_catalogue_is_loaded_and_a_case_routes_by_line(demo):
    url, result = demo
    client = make_client(url)
    leader = login(client, "receptionist", result["password"])
    assert client.get("/api/v1/catalogue/matters", params={"limit": 1}, headers=leader).json()["total"] == 250
    # a case in 七宝镇 about illegal construction goes to 七宝镇's city-management squad
    r = client.post("/api/v1/cases", json={"matter_code": "06001", "description": "违章搭建", "lon": 121.3546,
                                           "lat": 31.1551, "channel": "hotline"}, headers=leader)
    assert r.status_code == 201, r.text
    case = r.json()
    proposal = client.get(f"/api/v1/cases/{case['id']}/routing", headers=leader).json()
    town = case["grid_code"][:9]
    assert proposal["proposed_lead"]["code"] == f"DEPT-city_management-{town}"
    assert proposal["territorial"]["code"] == f"LD-{town}"


def test_units_and_teams(demo):
    url, _ = demo
    with unit_of_work(url) as s:
        kinds = dict(s.execute(select(Unit.kind, func.count()).group_by(Unit.kind)).all())
        members = s.scalar(select(func.count()).select_from(TeamMember))
        lines = set(s.scalars(select(Unit.line).where(Unit.kind == "department")))
    assert kinds["centre"] == 1 and kinds["sub_centre"] == 14 and kinds["workstation"] == 596
    assert kinds["department"] == 12 and kinds["branch"] == 12 * 14
    assert kinds["team"] == 596 * 6 + 14 * 2
    assert len(lines) == 12 and members == 596 * 6 * 2 + 14 * 2 * 6


def test_every_grid_knows_every_line(demo):
    url, _ = demo
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
    sample = index.hits[:: max(1, len(index.hits) // 500)]
    for hit in sample:
        lines = [u["line"] for u in hit.responsible_units if u["role"] == "line"]
        assert len(lines) == 12 and len(set(lines)) == 12
        kinds = [u["kind"] for u in hit.responsible_units if u["role"] == "territorial"]
        assert kinds == ["workstation", "sub_centre", "centre"]
        assert len(hit.groups) == 1 and hit.groups[0]["code"][:12] == hit.code[:12]
    # the police-beat layer crosses town borders: some grids answer to another town's station
    crossed = sum(
        1 for h in index.hits
        if next(u for u in h.responsible_units if u["line"] == "public_security")["code"][-9:] != h.code[:9])
    assert 0 < crossed < len(index.hits) / 2


def test_demo_users_and_town_scope(demo):
    url, result = demo
    client = make_client(url)
    password = result["password"]
    assert len(password) >= 12
    with unit_of_work(url) as s:
        names = set(s.scalars(select(User.username)))
    assert names == {*loader.ROLES, "town_handler"}
    me = client.get("/api/v1/me", headers=login(client, "handler", password)).json()
    assert me["unit"]["code"] == "DEPT-city_management"
    town = login(client, "town_handler", password)
    me = client.get("/api/v1/me", headers=town).json()
    assert me["jurisdiction"]["code"] == QIBAO and me["jurisdiction"]["name"] == "七宝镇"
    summary = client.get("/api/v1/areas/summary", headers=town).json()
    assert summary["town"] == 1 and summary["community"] == 62 and summary["district"] == 0
    assert client.get("/api/v1/areas/310112101", headers=town).status_code == 404  # 莘庄镇
    assert client.get(f"/api/v1/areas/{QIBAO}", headers=town).status_code == 200
    fc = client.get("/api/v1/areas/geojson", params={"level": "community"}, headers=town).json()
    assert len(fc["features"]) == 62
    qibao = client.get(f"/api/v1/areas/{QIBAO}001", headers=town).json()
    inside = client.get("/api/v1/areas/locate", params={"lon": sum(qibao["bbox"][::2]) / 2,
                                                        "lat": sum(qibao["bbox"][1::2]) / 2}, headers=town)
    assert inside.status_code in (200, 404)  # bbox centre may fall in a neighbour
    admin = login(client, "admin", password)
    xinzhuang = client.get("/api/v1/areas/310112101001", headers=admin).json()["bbox"]
    r = client.get("/api/v1/areas/locate", params={"lon": (xinzhuang[0] + xinzhuang[2]) / 2,
                                                   "lat": (xinzhuang[1] + xinzhuang[3]) / 2}, headers=town)
    assert r.status_code == 404
    members = client.get("/api/v1/units/TEAM-310112102001-1", headers=town).json()["members"]
    assert members and all(re.fullmatch(r"139\*{4}\d{4}", m["phone"]) for m in members)


def test_the_typhoon_drill(demo):
    """``make demo`` stages an exercise: the typhoon-flood plan activated over three towns, tasks done in time,
    one late and escalated once, all of it marked as a drill and out of the real figures."""
    url, result = demo
    client = make_client(url)
    auth = login(client, "commander", result["password"])
    [drill] = client.get("/api/v1/incidents", params={"exercise": "true"}, headers=auth).json()["items"]
    assert drill["number"] == result["drill"]["incident"] and drill["exercise"] is True
    board = client.get(f"/api/v1/incidents/{drill['id']}", headers=auth).json()
    assert (board["state"], board["grade"], board["response_level"]) == ("responding", 2, 3)
    assert [a["plan"] for a in board["activations"]] == ["typhoon-flood"] and board["activations"][0]["exercise"]
    assert len(board["areas"]) == 3
    tasks = client.get(f"/api/v1/incidents/{drill['id']}/tasks", headers=auth).json()["items"]
    assert len(tasks) == result["drill"]["tasks"] > 5
    late = [t for t in tasks if t["late"]]
    assert [t["id"] for t in late] == [result["drill"]["late_task"]] and late[0]["late_escalated_at"]
    assert sum(t["state"] == "done" for t in tasks) == result["drill"]["done"] > 0
    assert any(t["acked_on_behalf"] for t in tasks) and any(t["acked_at"] and not t["acked_on_behalf"] for t in tasks)
    assert board["five_early"]["disposed_at"] is not None and board["five_early"]["report_late"] is False
    real = client.get("/api/v1/incidents", params={"exercise": "false"}, headers=auth).json()
    assert real["total"] == 0  # a drill is never a real incident
    [warning] = client.get(f"/api/v1/incidents/{drill['id']}/warnings", headers=auth).json()["items"]
    assert (warning["status"], warning["msg_type"], warning["state"]) == ("Exercise", "Alert", "current")
    document = client.get(f"/cap/alerts/{warning['identifier']}.xml")
    assert document.status_code == 200 and b"<status>Exercise</status>" in document.content
    assert warning["identifier"] not in client.get("/cap/alerts.atom").text  # drills apart from the real feed
    assert warning["identifier"] in client.get("/cap/alerts.atom", params={"status": "Exercise"}).text


def test_a_month_of_screening(demo):
    """``make demo`` has a month of hazards and disputes made through their services: the summary, counted from
    their logs, sees every one, and most hazards were filed, some closed and rewarded."""
    url, result = demo
    client = make_client(url)
    auth = login(client, "shift_leader", result["password"])
    made = result["screening"]
    since = (dt.date.today() - dt.timedelta(days=32)).isoformat()  # the month and a margin
    figures = client.get("/api/v1/screening/summary", params={"from": since}, headers=auth).json()
    assert figures["hazards"]["collected"] == made["hazards"] > 50
    assert figures["hazards"]["collected"] > figures["hazards"]["filed"] > figures["hazards"]["closed"] > 0
    assert figures["hazards"]["rewarded"] > 0
    assert figures["disputes"]["collected"] == made["disputes"] > 10 and figures["disputes"]["succeeded"] > 0
    listed = client.get("/api/v1/hazards", params={"limit": 5}, headers=auth).json()
    assert listed["total"] == made["hazards"]


def test_a_rolling_campaign(demo):
    """``make demo`` has one campaign running in 七宝镇: its visits, made through ``record_visit``, cover whole
    communities first; a failed checklist item became a hazard in the register, found on the visit; the demo's
    ``town_handler`` (of the sub-centre, an assigned team) may record the next visit, a centre receptionist may not."""
    url, result = demo
    ran = result["screening"]["campaign"]
    assert ran["visits"] > 100 and ran["hazards"] > 0
    client = make_client(url)
    auth = login(client, "town_handler", result["password"])
    campaign = client.get(f"/api/v1/campaigns/{ran['id']}", headers=auth).json()
    assert campaign["state"] == "running"
    coverage = client.get(f"/api/v1/campaigns/{ran['id']}/coverage", params={"level": "community"},
                          headers=auth).json()
    rows = coverage["items"]
    assert sum(r["visited"] for r in rows) == ran["visits"]
    assert any(r["visited"] == r["grids"] > 0 for r in rows) and any(r["visited"] < r["grids"] for r in rows)
    visits = client.get(f"/api/v1/campaigns/{ran['id']}/visits", params={"limit": 1000}, headers=auth).json()
    found = [f["id"] for v in visits["items"] for f in v["findings"] if f["kind"] == "hazard"]
    assert len(found) == ran["hazards"]
    hazard = client.get(f"/api/v1/hazards/{found[0]}", headers=auth).json()
    assert hazard["sector"] in ("fire", "electric")
    unvisited = next(r for r in client.get(f"/api/v1/campaigns/{ran['id']}/coverage", params={"level": "grid"},
                                           headers=auth).json()["items"] if not r["visited"])
    body = {"grid_code": unvisited["code"], "answers": {k["key"]: "ok" for k in campaign["checklist"]}}
    assert client.post(f"/api/v1/campaigns/{ran['id']}/visits", json=body, headers=auth).status_code == 201
    desk = login(client, "receptionist", result["password"])
    refused = client.post(f"/api/v1/campaigns/{ran['id']}/visits", json=body, headers=desk)
    assert refused.status_code == 403 and refused.json()["code"] == "not_campaign_team"
