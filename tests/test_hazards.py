"""Safety hazards (安全隐患): the life cycle through HTTP with roles and jurisdiction, 五落实 before a major hazard is
filed, reward decisions, a hazard handed to another department as a case with one history, masked reporters with
audited unmasked reads, the append-only log, and the summary against counts from the log. Both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from liandong.app import create_app
from liandong.audit import AuditEntry
from liandong.auth.service import create_user
from liandong.cases.models import CaseEvent
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.screening.hazard_models import HazardEvent
from tests.caseworld import EAST_POINT, WEST_POINT, unit_id
from tests.factories import EAST, PASSWORD, WEST

T0 = dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
USERS = (("leader", "C", "leader"), ("west_inspector", f"S-{WEST}", "inspector"),
         ("west_dispatcher", f"S-{WEST}", "dispatcher"), ("east_dispatcher", f"S-{EAST}", "dispatcher"))
FIRE = {"title": "楼道堆物堵塞消防通道", "sector": "fire", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
        "reporter": {"kind": "public", "name": "王小明", "phone": "13812345678", "reward": True}}
FIVE = {"measures": "清理堆物，加装防火门", "responsibility": "物业经理张某", "funds": "物业维修基金 2 万元",
        "deadline": "2026-06-30", "contingency_plan": "楼道火灾疏散预案"}


@pytest.fixture(scope="module")
def world(case_world):
    with unit_of_work(case_world) as s:
        for username, unit, role in USERS:
            create_user(s, username=username, password=PASSWORD, unit_code=unit, roles=[role])
    return case_world


class Desk:
    def __init__(self, url: str, now: dt.datetime = T0):
        self.now = now
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

    def report(self, user: str = "west_inspector", **body) -> dict:
        r = self.post(user, "/api/v1/hazards", {**FIRE, **body})
        assert r.status_code == 201, r.text
        return r.json()

    def act(self, user: str, hazard_id: int, action: str, **payload):
        return self.post(user, f"/api/v1/hazards/{hazard_id}/actions/{action}", payload)

    def ok(self, user: str, hazard_id: int, action: str, **payload) -> dict:
        r = self.act(user, hazard_id, action, **payload)
        assert r.status_code == 200, (action, r.text)
        return r.json()


def audits(url: str, action: str, target: str) -> list:
    with unit_of_work(url) as s:
        return list(s.execute(select(AuditEntry.actor, AuditEntry.detail).where(AuditEntry.action == action,
                                                                                AuditEntry.target == target)))


def test_a_major_hazard_runs_found_filed_rectifying_closed_with_its_five_and_a_reward(world):
    desk = Desk(world)
    made = desk.report(grade="major", responsible_unit_id=unit_id(world, f"B-cm-{WEST}"))
    hid = made["id"]
    assert made["number"] == "YH-20260601-0001" and made["state"] == "found" and made["grade"] == "major"
    assert made["grid_code"].startswith(WEST) and made["five_missing"] == list(FIVE)
    assert made["reward"] == {"wanted": True, "amount": None, "approver": None, "paid": False}
    assert made["allowed_actions"] == []  # an inspector reports; filing is the dispatcher's
    assert desk.get("west_dispatcher", f"/api/v1/hazards/{hid}").json()["allowed_actions"] == ["file", "reject"]

    # a major hazard is filed only with its 五落实
    r = desk.act("west_dispatcher", hid, "file", measures=FIVE["measures"])
    assert r.status_code == 422 and r.json()["code"] == "five_missing"
    assert r.json()["params"]["fields"] == ["responsibility", "funds", "deadline", "contingency_plan"]
    # the refused attempt changed nothing
    assert desk.get("west_dispatcher", f"/api/v1/hazards/{hid}").json()["five"]["measures"] is None
    # a state the action does not fit: 409 with the allowed actions and a code
    r = desk.act("west_dispatcher", hid, "close", evidence=["x.jpg"])
    assert r.status_code == 409 and r.json()["code"] == "not_allowed_in_state"
    assert r.json()["allowed_actions"] == ["file", "reject"]
    # naming another town's unit responsible would open the hazard (and its reporter) to that town: refused
    r = desk.act("west_dispatcher", hid, "file", **FIVE, responsible_unit_id=unit_id(world, f"B-cm-{EAST}"))
    assert r.status_code == 422 and r.json()["code"] == "unit_outside_jurisdiction"
    filed = desk.ok("west_dispatcher", hid, "file", **FIVE)
    assert filed["state"] == "filed" and filed["five_missing"] == [] and filed["deadline"] == "2026-06-30"

    # the responsible unit's handler rectifies (sees it by its unit, though a department sees no area)
    desk.now = T0 + dt.timedelta(days=2)
    rect = desk.ok("cm_west", hid, "rectify", note="堆物已清理一半", evidence=["/files/a1.jpg"])
    assert rect["state"] == "rectifying"
    assert desk.ok("cm_west", hid, "rectify", evidence=["/files/a2.jpg"])["state"] == "rectifying"
    r = desk.act("cm_west", hid, "close", evidence=["/files/a3.jpg"])
    assert r.status_code == 403 and r.json()["code"] == "role_needed"
    r = desk.act("west_inspector", hid, "close")
    assert r.status_code == 422 and r.json()["code"] == "missing_field" and r.json()["params"]["field"] == "evidence"
    done = desk.ok("west_inspector", hid, "close", evidence=["/files/after.jpg"], note="验收合格，销号")
    assert done["state"] == "closed" and done["closed_at"] == desk.now.isoformat()
    assert done["evidence"] == ["/files/a1.jpg", "/files/a2.jpg", "/files/after.jpg"]
    assert [(e["seq"], e["action"], e["from_state"], e["to_state"]) for e in done["history"]] == [
        (1, "report", None, "found"), (2, "file", "found", "filed"), (3, "rectify", "filed", "rectifying"),
        (4, "rectify", "rectifying", "rectifying"), (5, "close", "rectifying", "closed")]

    # the reward: decided once by an approver, then paid
    r = desk.act("west_dispatcher", hid, "reward", amount=500)
    assert r.status_code == 403 and r.json()["code"] == "role_needed" and "allowed_actions" in r.json()
    assert desk.get("leader", f"/api/v1/hazards/{hid}").json()["allowed_actions"] == ["reward"]
    r = desk.act("leader", hid, "reward", amount=-5)
    assert r.status_code == 422 and r.json()["code"] == "invalid_field"
    rewarded = desk.ok("leader", hid, "reward", amount=500)
    assert rewarded["reward"] == {"wanted": True, "amount": 500, "approver": "leader", "paid": False}
    r = desk.act("leader", hid, "reward", amount=800)
    assert r.status_code == 409 and r.json()["code"] == "reward_decided"
    # paid out by a second person: the approver may not record it paid, and is not offered it
    r = desk.act("leader", hid, "pay_reward")
    assert r.status_code == 403 and r.json()["code"] == "second_person_needed"
    assert "pay_reward" not in desk.get("leader", f"/api/v1/hazards/{hid}").json()["allowed_actions"]
    assert desk.get("shift_leader", f"/api/v1/hazards/{hid}").json()["allowed_actions"] == ["pay_reward"]
    assert desk.ok("shift_leader", hid, "pay_reward")["reward"]["paid"] is True
    assert desk.act("shift_leader", hid, "pay_reward").json()["code"] == "reward_paid"
    assert [a.detail["amount"] for a in audits(world, "hazard_reward_decided", f"hazard:{hid}")] == [500]
    assert len(audits(world, "hazard_reward_paid", f"hazard:{hid}")) == 1


def test_rejecting_and_a_reward_nobody_asked_for(world):
    desk = Desk(world)
    staff = desk.report(reporter={"kind": "staff"}, title="疑似燃气泄漏", sector="gas")
    assert staff["reporter"]["kind"] == "staff" and staff["reward"]["wanted"] is False
    desk.ok("west_dispatcher", staff["id"], "file")
    r = desk.act("leader", staff["id"], "reward", amount=100)
    assert r.status_code == 409 and r.json()["code"] == "reward_not_wanted"
    other = desk.report()
    r = desk.act("west_dispatcher", other["id"], "reject")
    assert r.status_code == 422 and r.json()["code"] == "missing_field"
    gone = desk.ok("west_dispatcher", other["id"], "reject", reason="重复上报")
    assert gone["state"] == "rejected" and gone["allowed_actions"] == []


def test_jurisdiction_decides_what_a_caller_sees_and_where_they_report(world):
    desk = Desk(world)
    west = desk.report()
    r = desk.post("west_inspector", "/api/v1/hazards", {**FIRE, "lon": EAST_POINT[0], "lat": EAST_POINT[1]})
    assert r.status_code == 422 and r.json()["code"] == "outside_jurisdiction"
    east = desk.report(user="east_dispatcher", lon=EAST_POINT[0], lat=EAST_POINT[1])
    r = desk.get("east_dispatcher", f"/api/v1/hazards/{west['id']}")
    assert r.status_code == 404 and r.json()["code"] == "hazard_not_found"
    assert desk.act("east_dispatcher", west["id"], "file").status_code == 404
    east_ids = {h["id"] for h in desk.get("east_dispatcher", "/api/v1/hazards", limit=500).json()["items"]}
    west_ids = {h["id"] for h in desk.get("west_dispatcher", "/api/v1/hazards", limit=500).json()["items"]}
    assert east["id"] in east_ids and west["id"] not in east_ids
    assert west["id"] in west_ids and east["id"] not in west_ids
    every = desk.get("dispatcher", "/api/v1/hazards", limit=500).json()
    assert {west["id"], east["id"]} <= {h["id"] for h in every["items"]}
    assert "reporter" not in every["items"][0]  # lists carry no personal data
    assert desk.get("dispatcher", "/api/v1/hazards", grade="bad").json()["code"] == "unknown_grade"
    found = desk.get("dispatcher", "/api/v1/hazards", q=west["number"]).json()
    assert [h["id"] for h in found["items"]] == [west["id"]]
    assert desk.get("dispatcher", "/api/v1/hazards", q="100%_").json()["total"] == 0
    assert desk.client.get("/api/v1/hazards").status_code == 401


def test_reporters_are_masked_unless_the_role_calls_back_and_unmasked_reads_are_audited(world):
    desk = Desk(world)
    hid = desk.report()["id"]
    masked = desk.get("west_inspector", f"/api/v1/hazards/{hid}").json()["reporter"]
    assert masked == {"kind": "public", "name": "王**", "phone": "138****5678", "masked": True}
    assert audits(world, "personal_data_read", f"hazard:{hid}") == []
    plain = desk.get("shift_leader", f"/api/v1/hazards/{hid}").json()["reporter"]
    assert (plain["name"], plain["phone"], plain["masked"]) == ("王小明", "13812345678", False)
    read = audits(world, "personal_data_read", f"hazard:{hid}")
    assert [a.actor for a in read] == ["shift_leader"]


def test_a_hazard_for_another_department_becomes_a_case_with_one_history(world):
    desk = Desk(world)
    hid = desk.report(title="违章搭建占用消防通道")["id"]
    r = desk.act("west_dispatcher", hid, "to_case", matter_code="06001")
    assert r.status_code == 409 and r.json()["code"] == "not_allowed_in_state"  # filed first
    desk.ok("west_dispatcher", hid, "file")
    r = desk.act("west_dispatcher", hid, "to_case")
    assert r.status_code == 422 and r.json()["params"]["field"] == "matter_code"
    linked = desk.ok("west_dispatcher", hid, "to_case", matter_code="06001")
    case = linked["case"]
    assert linked["state"] == "filed" and case["state"] == "reported" and linked["case_id"] == case["id"]
    last = linked["history"][-1]
    assert last["action"] == "to_case" and last["payload"]["case_number"] == case["number"]
    seen = desk.get("west_dispatcher", f"/api/v1/cases/{case['id']}")
    assert seen.status_code == 200 and "安全隐患" in seen.json()["description"]
    assert seen.json()["channel"] == "department_transfer"
    assert seen.json()["hazards"] == [{"id": hid, "number": linked["number"]}]  # the case shows where it came from
    with unit_of_work(world) as s:
        events = s.execute(select(CaseEvent.action, CaseEvent.payload).where(CaseEvent.case_id == case["id"])
                           .order_by(CaseEvent.seq)).all()
    assert [e.action for e in events] == ["report", "from_hazard"]
    assert events[1].payload == {"hazard_id": hid, "number": linked["number"]}
    r = desk.act("west_dispatcher", hid, "to_case", matter_code="06001")
    assert r.status_code == 409 and r.json()["code"] == "case_exists"


def test_a_stale_version_is_refused(world):
    desk = Desk(world)
    made = desk.report()
    desk.ok("west_dispatcher", made["id"], "file", version=made["version"])
    r = desk.act("west_dispatcher", made["id"], "rectify", version=made["version"])
    assert r.status_code == 409 and r.json()["code"] == "stale" and r.json()["allowed_actions"] == ["rectify",
                                                                                                    "to_case"]


def test_the_log_is_append_only(world):
    with pytest.raises(DBAPIError), unit_of_work(world) as s:
        s.execute(text("UPDATE hazard_events SET actor = 'x'"))
    with pytest.raises(DBAPIError), unit_of_work(world) as s:
        s.execute(text("DELETE FROM hazard_events"))


def test_the_summary_counts_the_logs_within_the_callers_sight(world):
    desk = Desk(world, T0 + dt.timedelta(days=40))
    for _ in range(2):
        hid = desk.report()["id"]
        desk.ok("west_dispatcher", hid, "file")
    east = desk.report(user="east_dispatcher", lon=EAST_POINT[0], lat=EAST_POINT[1])
    desk.ok("east_dispatcher", east["id"], "file")
    day = (T0 + dt.timedelta(days=40)).date().isoformat()
    whole = desk.get("dispatcher", "/api/v1/screening/summary", **{"from": "2026-01-01", "to": day}).json()
    with unit_of_work(world) as s:
        counted = dict(s.execute(select(HazardEvent.action, func.count()).group_by(HazardEvent.action)).all())
    assert whole["hazards"] == {"collected": counted["report"], "filed": counted["file"],
                                "closed": counted.get("close", 0), "rewarded": counted.get("reward", 0),
                                "to_case": counted.get("to_case", 0)}
    today = desk.get("dispatcher", "/api/v1/screening/summary", **{"from": day, "to": day}).json()
    assert today["hazards"]["collected"] == 3 and today["hazards"]["filed"] == 3
    west = desk.get("west_dispatcher", "/api/v1/screening/summary", **{"from": day, "to": day}).json()
    assert west["hazards"]["collected"] == 2 and west["from"] == west["to"] == day
    r = desk.get("dispatcher", "/api/v1/screening/summary", **{"from": day, "to": "2026-01-01"})
    assert r.status_code == 422 and r.json()["code"] == "bad_period"
    for far in ({"from": "0001-01-01", "to": "0001-01-02"}, {"from": "9999-12-30", "to": "9999-12-31"}):
        r = desk.get("dispatcher", "/api/v1/screening/summary", **far)  # named, not a generic 400
        assert r.status_code == 422 and r.json()["code"] == "bad_period", r.text
