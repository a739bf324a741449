"""Screening campaigns (排查行动): planned → running → closed by managing roles within their jurisdiction; grid
visits by the assigned teams' staff whose findings become a hazard and a dispute in the visit's transaction (a bad
finding refuses it all); a retried ``visit_key`` finds its visit; coverage equals what the visits say at grid,
community and town level; unassigned units refused. Both backends."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from liandong.app import create_app
from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.audit import AuditEntry
from liandong.auth.service import create_user
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.screening.campaign_models import CampaignVisit
from liandong.screening.dispute_models import Dispute
from liandong.screening.hazard_models import Hazard
from tests.caseworld import EAST_POINT, WEST_POINT, unit_id
from tests.factories import DISTRICT, EAST, PASSWORD, WEST

T0 = dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
USERS = (("c_leader", "C", "leader"), ("west_shift", f"S-{WEST}", "shift_leader"),
         ("west_worker", f"W-{WEST}002", "inspector"), ("west_worker1", f"W-{WEST}001", "inspector"),
         ("west_sub_inspector", f"S-{WEST}", "inspector"), ("east_worker", f"W-{EAST}001", "inspector"))
CHECKLIST = [{"key": "extinguisher", "question": "灭火器是否有效"}, {"key": "exits", "question": "疏散通道是否畅通"},
             {"key": "wiring", "question": "电线是否私拉乱接"}]
ALL_OK = {"extinguisher": "ok", "exits": "ok", "wiring": "n/a"}
HAZARD = {"kind": "hazard", "title": "出租屋楼道堆物", "sector": "fire", "grade": "general",
          "lon": WEST_POINT[0], "lat": WEST_POINT[1]}
DISPUTE = {"kind": "dispute", "title": "房东与租客押金纠纷", "type": "neighbour", "risk": "yellow",
           "parties": [{"name": "李四", "phone": "13900001111"}, {"name": "王五"}],
           "lon": WEST_POINT[0], "lat": WEST_POINT[1]}


@pytest.fixture(scope="module")
def world(case_world):
    with unit_of_work(case_world) as s:
        for username, unit, role in USERS:
            create_user(s, username=username, password=PASSWORD, unit_code=unit, roles=[role])
    return case_world


class Desk:
    def __init__(self, url: str, now: dt.datetime = T0):
        self.url, self.now = url, now
        self.client = TestClient(create_app(Settings(database_url=url, index_check_seconds=0), clock=lambda: self.now))
        self._headers: dict[str, dict] = {}

    def headers(self, user: str) -> dict:
        if user not in self._headers:
            r = self.client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self._headers[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return self._headers[user]

    def post(self, user: str, path: str, body: dict | None = None):
        return self.client.post(path, json=body, headers=self.headers(user))

    def get(self, user: str, path: str, **params):
        return self.client.get(path, params=params, headers=self.headers(user))

    def campaign(self, user: str = "west_shift", *, area: str = WEST, units=(f"W-{WEST}002",), **body):
        return self.post(user, "/api/v1/campaigns", {
            "name": "出租屋消防安全排查", "theme": "rental_fire", "checklist": CHECKLIST, "area_code": area,
            "start": "2026-06-01", "end": "2026-06-30", "unit_ids": [unit_id(self.url, u) for u in units], **body})

    def running(self, user: str = "west_shift", **kw) -> dict:
        r = self.campaign(user, **kw)
        assert r.status_code == 201, r.text
        r = self.post(user, f"/api/v1/campaigns/{r.json()['id']}/actions/start")
        assert r.status_code == 200, r.text
        return r.json()

    def visit(self, user: str, cid: int, grid_code: str, answers: dict | None = None, **body):
        return self.post(user, f"/api/v1/campaigns/{cid}/visits",
                         {"grid_code": grid_code, "answers": answers or ALL_OK, **body})


def grid_at(url: str, point: tuple[float, float]) -> str:
    with unit_of_work(url) as s:
        return GridIndex.build(s).locate(*point).code


def grids_by_community(url: str) -> dict[str, list[str]]:
    with unit_of_work(url) as s:
        communities = dict(s.execute(select(Area.id, Area.code).where(Area.level == "community")).all())
        rows = s.execute(select(Area.code, Area.parent_id).where(Area.level == "grid")).all()
    out: dict[str, list[str]] = {}
    for code, parent in rows:
        out.setdefault(communities[parent], []).append(code)
    return {k: sorted(v) for k, v in out.items()}


def counts(url: str) -> tuple[int, int, int]:
    with unit_of_work(url) as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Hazard, Dispute, CampaignVisit))


def audits(url: str, action: str, target: str) -> list:
    with unit_of_work(url) as s:
        return list(s.scalars(select(AuditEntry.actor).where(AuditEntry.action == action,
                                                             AuditEntry.target == target)))


def test_a_campaign_is_planned_run_and_closed_by_managers_within_their_jurisdiction(world):
    desk = Desk(world)
    r = desk.campaign("dispatcher")
    assert r.status_code == 403 and r.json()["code"] == "role_needed"
    r = desk.campaign("west_shift", area=DISTRICT)  # a town's shift leader: not the district
    assert r.status_code == 403 and r.json()["code"] == "campaign_outside_jurisdiction"
    r = desk.campaign(area=f"{WEST}001")  # a community is neither a town nor the district
    assert r.status_code == 422 and r.json()["code"] == "bad_campaign_area"
    r = desk.post("west_shift", "/api/v1/campaigns", {
        "name": "x", "theme": "gas", "checklist": [CHECKLIST[0], CHECKLIST[0]], "area_code": WEST,
        "start": "2026-06-01", "end": "2026-06-30", "unit_ids": [unit_id(world, f"W-{WEST}002")]})
    assert r.status_code == 422
    r = desk.campaign(unit_ids=[2**31 - 1])
    assert r.status_code == 422 and r.json()["code"] == "unknown_unit"

    made = desk.campaign(code="PC-WEST-FIRE")
    assert made.status_code == 201, made.text
    c = made.json()
    assert c["code"] == "PC-WEST-FIRE" and c["state"] == "planned" and c["area"]["code"] == WEST
    assert [t["code"] for t in c["teams"]] == [f"W-{WEST}002"] and c["checklist"] == CHECKLIST
    assert c["allowed_actions"] == ["start", "close"] and c["can_visit"] is False
    assert desk.campaign(code="PC-WEST-FIRE").json()["code"] == "campaign_code_taken"
    assert audits(world, "campaign_created", f"campaign:{c['id']}") == ["west_shift"]
    path = f"/api/v1/campaigns/{c['id']}"

    # sight: the district's staff and the town's see it; the other town does not
    assert desk.get("c_leader", path).status_code == 200
    assert desk.get("east_worker", path).status_code == 404
    assert c["id"] in [i["id"] for i in desk.get("west_worker1", "/api/v1/campaigns").json()["items"]]
    assert c["id"] not in [i["id"] for i in desk.get("east_worker", "/api/v1/campaigns").json()["items"]]

    grid = grid_at(world, WEST_POINT)
    r = desk.visit("west_worker", c["id"], grid)
    assert r.status_code == 409 and r.json()["code"] == "campaign_not_running"
    r = desk.post("west_worker", f"{path}/actions/start")
    assert r.status_code == 403 and r.json()["code"] == "role_needed"
    r = desk.post("west_shift", f"{path}/actions/start", {"version": c["version"] + 5})
    assert r.status_code == 409 and r.json()["code"] == "stale"
    started = desk.post("west_shift", f"{path}/actions/start").json()
    assert started["state"] == "running" and started["started_at"] == T0.isoformat()
    assert started["allowed_actions"] == ["close"]
    assert desk.get("west_worker", path).json()["can_visit"] is True
    r = desk.post("west_shift", f"{path}/actions/start")
    assert r.status_code == 409 and r.json()["code"] == "not_allowed_in_state"
    assert r.json()["allowed_actions"] == ["close"]

    closed = desk.post("c_leader", f"{path}/actions/close", {"note": "排查结束"}).json()
    assert closed["state"] == "closed" and closed["allowed_actions"] == []
    assert audits(world, "campaign_closed", f"campaign:{c['id']}") == ["c_leader"]
    r = desk.visit("west_worker", c["id"], grid)
    assert r.status_code == 409 and r.json()["code"] == "campaign_not_running"
    assert desk.get("c_leader", "/api/v1/campaigns", state="closed").json()["total"] >= 1


def test_a_visit_turns_findings_into_a_hazard_and_a_dispute_in_one_transaction(world):
    desk = Desk(world)
    c = desk.running()
    cid, grid = c["id"], grid_at(world, WEST_POINT)
    before = counts(world)

    r = desk.visit("west_worker", cid, grid, {**ALL_OK, "ladder": "ok"})
    assert r.status_code == 422 and r.json()["code"] == "unknown_checklist_key"
    assert r.json()["params"]["key"] == "ladder"
    r = desk.visit("west_worker", cid, grid, {"extinguisher": "ok"})
    assert r.status_code == 422 and r.json()["code"] == "unanswered_checklist_key"
    r = desk.visit("west_worker", cid, grid, {**ALL_OK, "exits": "maybe"})
    assert r.status_code == 422
    r = desk.visit("west_worker", cid, grid_at(world, EAST_POINT))
    assert r.status_code == 422 and r.json()["code"] == "grid_not_in_campaign"
    # a bad finding (its point outside the district) refuses the whole visit: no hazard, no dispute, no visit
    r = desk.visit("west_worker", cid, grid, findings=[HAZARD, {**DISPUTE, "lon": 121.9}], visit_key="k-bad")
    assert r.status_code == 422 and r.json()["code"] == "outside_district" and r.json()["params"]["finding"] == 1
    r = desk.visit("west_worker", cid, grid, findings=[{**HAZARD, "sector": "volcano"}])
    assert r.status_code == 422
    assert counts(world) == before

    answers = {"extinguisher": "problem", "exits": "problem", "wiring": "ok"}
    r = desk.visit("west_worker", cid, grid, answers, note="3 楼楼道堆物", findings=[HAZARD, DISPUTE],
                   visit_key="phone-7-0001")
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["grid_code"] == grid and v["answers"] == answers and v["problems"] == 2 and v["actor"] == "west_worker"
    assert v["visited_at"] == T0.isoformat()
    assert [(f["kind"], f["state"]) for f in v["findings"]] == [("hazard", "found"), ("dispute", "registered")]
    assert counts(world) == (before[0] + 1, before[1] + 1, before[2] + 1)
    hazard = desk.get("west_worker", f"/api/v1/hazards/{v['findings'][0]['id']}").json()
    assert hazard["reporter"]["kind"] == "staff" and hazard["title"] == HAZARD["title"]
    assert hazard["number"] == v["findings"][0]["number"]
    dispute = desk.get("west_shift", f"/api/v1/disputes/{v['findings'][1]['id']}").json()
    assert dispute["type"] == "neighbour" and dispute["risk"] == "yellow"

    # the phone retries the same submission (offline, later): the same visit, nothing made twice
    desk.now = T0 + dt.timedelta(hours=3)
    again = desk.visit("west_worker", cid, grid, answers, findings=[HAZARD, DISPUTE], visit_key="phone-7-0001")
    assert again.status_code == 200 and again.json()["id"] == v["id"]
    assert counts(world) == (before[0] + 1, before[1] + 1, before[2] + 1)
    r = desk.visit("west_worker", cid, grid_at(world, (121.31, 31.125)), visit_key="phone-7-0001")
    assert r.status_code == 409 and r.json()["code"] == "visit_key_reused"

    # the head of the assigned workstation (its sub-centre) visits too; another workstation is refused
    r = desk.visit("west_sub_inspector", cid, grid, visited_at="2026-06-01T10:30:00+08:00")
    assert r.status_code == 201 and r.json()["unit"] == f"{WEST}002工作站"
    r = desk.visit("west_worker1", cid, grid)
    assert r.status_code == 403 and r.json()["code"] == "not_campaign_team"
    assert desk.visit("east_worker", cid, grid).status_code == 404
    assert desk.visit("west_shift", cid, grid).json()["code"] == "not_campaign_team"  # not a visiting role
    r = desk.visit("west_worker", cid, grid, visited_at="2026-07-02T10:00:00+08:00")
    assert r.status_code == 422 and r.json()["code"] == "visit_outside_period"

    listed = desk.get("west_shift", f"/api/v1/campaigns/{cid}/visits").json()
    assert listed["total"] == 2 and {i["id"] for i in listed["items"]} >= {v["id"]}
    assert desk.get("west_shift", f"/api/v1/campaigns/{cid}").json()["visits"] == 2


def test_coverage_is_what_the_visits_say_at_grid_community_and_town_level(world):
    desk = Desk(world)
    c = desk.running("shift_leader", area=DISTRICT, units=(f"S-{WEST}", f"S-{EAST}"))
    cid = c["id"]
    by_community = grids_by_community(world)
    w2, e1 = by_community[f"{WEST}002"], by_community[f"{EAST}001"]
    done = [("west_sub_inspector", w2[0], ALL_OK), ("west_sub_inspector", w2[0], {**ALL_OK, "exits": "problem"}),
            ("west_sub_inspector", w2[1], ALL_OK), ("east_handler", e1[0], {**ALL_OK, "wiring": "problem"})]
    for user, grid, answers in done:
        r = desk.visit(user, cid, grid, answers)
        assert r.status_code == 201, r.text
    r = desk.visit("west_sub_inspector", cid, grid_at(world, WEST_POINT), findings=[HAZARD])
    assert r.status_code == 201
    done.append(("west_sub_inspector", grid_at(world, WEST_POINT), ALL_OK))

    visits = Counter(g for _, g, _ in done)
    problems = Counter()
    for _, g, a in done:
        problems[g] += sum(1 for x in a.values() if x == "problem")
    findings = Counter({grid_at(world, WEST_POINT): 1})

    def expect(members: list[str]) -> dict:
        visited = sum(1 for g in members if visits[g])
        return {"grids": len(members), "visited": visited, "visits": sum(visits[g] for g in members),
                "problems": sum(problems[g] for g in members), "findings": sum(findings[g] for g in members),
                "share": round(visited / len(members), 4)}

    path = f"/api/v1/campaigns/{cid}/coverage"
    community = desk.get("shift_leader", path, level="community").json()
    assert {i["code"]: {k: v for k, v in i.items() if k not in ("code", "name")} for i in community["items"]} == \
        {code: expect(members) for code, members in by_community.items()}
    towns = desk.get("shift_leader", path, level="town").json()
    for town in towns["items"]:
        members = [g for code, ms in by_community.items() if code.startswith(town["code"]) for g in ms]
        assert {k: v for k, v in town.items() if k not in ("code", "name")} == expect(members)
    assert [t["code"] for t in towns["items"]] == [WEST, EAST]
    grids = desk.get("shift_leader", path, level="grid").json()
    every = [g for ms in by_community.values() for g in ms]
    assert len(grids["items"]) == len(every)
    assert {i["code"]: i["visits"] for i in grids["items"] if i["visits"]} == dict(visits)
    assert grids["totals"] == towns["totals"] == community["totals"] == expect(every)
    assert desk.get("shift_leader", path, level="street").json()["code"] == "unknown_level"

    # a town campaign covers only the town's grids
    west = desk.running("west_shift")
    assert desk.get("west_shift", f"/api/v1/campaigns/{west['id']}/coverage", level="town").json()["totals"] == \
        {"grids": sum(len(ms) for code, ms in by_community.items() if code.startswith(WEST)), "visited": 0,
         "visits": 0, "problems": 0, "findings": 0, "share": 0.0}


def test_the_campaign_pages(world):
    desk = Desk(world)
    c = desk.running()
    r = desk.client.get("/campaigns", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    listing = desk.get("west_shift", "/campaigns")
    assert listing.status_code == 200 and 'src="/static/js/campaigns.js"' in listing.text
    assert 'id="new-campaign"' in listing.text and f'value="{WEST}"' in listing.text
    assert f'value="{DISTRICT}"' not in listing.text  # a town's shift leader plans in the town only
    assert 'href="/campaigns"' in listing.text  # the nav entry
    worker = desk.get("west_worker", "/campaigns")
    assert worker.status_code == 200 and 'id="new-campaign"' not in worker.text
    one = desk.get("west_worker", f"/campaigns/{c['id']}")
    assert one.status_code == 200 and f'data-campaign-id="{c["id"]}"' in one.text
    assert 'src="/static/js/campaign.js"' in one.text and 'id="coverage-map"' in one.text
    for js in ("campaigns.js", "campaign.js"):
        assert desk.client.get(f"/static/js/{js}").status_code == 200
    # the map's shapes: the communities within the campaign's town, as the page asks for them
    fc = desk.get("west_shift", "/api/v1/areas/geojson", level="community", within=WEST).json()
    assert {f["properties"]["code"] for f in fc["features"]} == {f"{WEST}001", f"{WEST}002"}
    # a workstation's worker sees the town's campaign; the map falls back to the part of its box in their sight
    assert desk.get("west_worker", "/api/v1/areas/geojson", level="community", within=WEST).status_code == 404
    bbox = ",".join(map(str, desk.get("west_worker", f"/api/v1/campaigns/{c['id']}").json()["area"]["bbox"]))
    fc = desk.get("west_worker", "/api/v1/areas/geojson", level="community", bbox=bbox).json()
    assert f"{WEST}002" in {f["properties"]["code"] for f in fc["features"]}


def test_mine_lists_the_campaigns_the_caller_records_visits_for(world):
    """The phone app's list: a team of the caller's (or one their unit heads) is assigned and they hold a visiting
    role; seeing a campaign (by jurisdiction) is not enough."""
    desk = Desk(world)
    running, planned = desk.running()["id"], desk.campaign().json()["id"]

    def mine(user: str, **params) -> set[int]:
        r = desk.get(user, "/api/v1/campaigns", mine="true", limit=500, **params)
        assert r.status_code == 200, r.text
        assert r.json()["total"] == len(r.json()["items"])
        return {i["id"] for i in r.json()["items"]}

    assert {running, planned} <= mine("west_worker")
    assert running in mine("west_worker", state="running") and planned not in mine("west_worker", state="running")
    assert {running, planned} <= mine("west_sub_inspector")  # its sub-centre heads the assigned workstation
    for user in ("west_worker1", "west_shift", "c_leader"):  # they see it, but record no visit for it
        assert running in {i["id"] for i in desk.get(user, "/api/v1/campaigns", limit=500).json()["items"]}
        assert {running, planned}.isdisjoint(mine(user))
    assert mine("east_worker") == set()
    assert desk.get("west_worker", "/api/v1/campaigns", mine="maybe").status_code == 422
