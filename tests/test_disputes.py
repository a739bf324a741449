"""Disputes (矛盾纠纷): the life cycle through HTTP (assign a mediator, mediation records, escalation up the tiers,
an outcome, the callback), the 三单 views, roles and jurisdiction, parties masked by role with audited unmasked
reads, a dispute raised into a social-security incident with one history, and the summary against the log."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import distinct, func, select, text
from sqlalchemy.exc import DBAPIError

from liandong.app import create_app
from liandong.areas.models import Area
from liandong.audit import AuditEntry
from liandong.auth.service import create_user
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.emergency.models import IncidentEvent
from liandong.screening.dispute_models import Dispute, DisputeEvent
from tests.caseworld import EAST_POINT, WEST_POINT
from tests.factories import EAST, PASSWORD, WEST

T0 = dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.UTC)
USERS = (("west_inspector", f"S-{WEST}", "inspector"), ("west_dispatcher", f"S-{WEST}", "dispatcher"),
         ("east_dispatcher", f"S-{EAST}", "dispatcher"), ("commander", "C", "commander"))
WAGES = {"title": "某建筑工地拖欠农民工工资", "type": "labour", "risk": "yellow",
         "lon": WEST_POINT[0], "lat": WEST_POINT[1],
         "parties": [{"name": "李建国", "phone": "13912345678", "id_number": "11010519491231002X"},
                     {"name": "某建筑公司", "phone": "02164001234"}]}


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

    def get(self, user: str, path: str, **params):
        return self.client.get(path, params=params, headers=self.headers(user))

    def report(self, user: str = "west_inspector", **body) -> dict:
        r = self.client.post("/api/v1/disputes", json={**WAGES, **body}, headers=self.headers(user))
        assert r.status_code == 201, r.text
        return r.json()

    def act(self, user: str, dispute_id: int, action: str, **payload):
        return self.client.post(f"/api/v1/disputes/{dispute_id}/actions/{action}", json=payload,
                                headers=self.headers(user))

    def ok(self, user: str, dispute_id: int, action: str, **payload) -> dict:
        r = self.act(user, dispute_id, action, **payload)
        assert r.status_code == 200, (action, r.text)
        return r.json()


def audits(url: str, action: str, target: str) -> list:
    with unit_of_work(url) as s:
        return list(s.execute(select(AuditEntry.actor, AuditEntry.detail).where(AuditEntry.action == action,
                                                                                AuditEntry.target == target)))


def test_a_dispute_is_mediated_escalated_resolved_and_called_back(world):
    desk = Desk(world)
    made = desk.report()
    did = made["id"]
    assert made["number"] == "MD-20260701-0001" and made["state"] == "registered" and made["list"] == "problem"
    assert (made["tier"], made["risk"], made["type"]) == ("grid", "yellow", "labour")
    assert made["allowed_actions"] == ["assign", "escalate", "regrade"]  # no incidents from an inspector
    r = desk.act("west_inspector", did, "mediate", note="x")
    assert r.status_code == 409 and r.json()["code"] == "not_allowed_in_state"
    assert r.json()["allowed_actions"] == ["assign", "escalate", "regrade"]
    r = desk.act("west_inspector", did, "assign")
    assert r.status_code == 422 and r.json()["code"] == "missing_field" and r.json()["params"]["field"] == "mediator"
    assigned = desk.ok("west_inspector", did, "assign", mediator="网格员王芳")
    assert assigned["state"] == "mediating" and assigned["list"] == "responsibility"
    desk.ok("west_inspector", did, "mediate", note="约谈双方，公司承认欠薪 3 万元")
    up = desk.ok("west_inspector", did, "escalate", reason="涉及人数多，网格调解不成")
    assert up["tier"] == "village" and up["history"][-1]["payload"] == {"reason": "涉及人数多，网格调解不成",
                                                                         "was": {"tier": "grid"}, "tier": "village"}
    jump = desk.act("west_dispatcher", did, "assign", mediator="镇综治中心赵主任", tier="task_force")
    assert jump.status_code == 422 and jump.json()["params"]["field"] == "tier"  # tiers move only by escalate
    desk.ok("west_dispatcher", did, "escalate", reason="村调委会调解不成")
    desk.ok("west_dispatcher", did, "assign", mediator="镇综治中心赵主任")
    desk.ok("west_dispatcher", did, "escalate", reason="需要专班")
    # the task force is the district's: the town that sent it up reads it but acts no more
    r = desk.act("west_dispatcher", did, "regrade", risk="red")
    assert r.status_code == 403 and r.json()["code"] == "tier_held_above"
    assert r.json()["allowed_actions"] == ["raise_incident"]  # a mass incident waits for no tier
    r = desk.act("shift_leader", did, "escalate", reason="再升")
    assert r.status_code == 409 and r.json()["code"] == "top_tier"
    assert "escalate" not in r.json()["allowed_actions"]
    desk.ok("shift_leader", did, "regrade", risk="red")
    desk.ok("inspector", did, "mediate", note="专班协调，公司分两期支付")
    for outcome in ("won", "failed"):  # a failed mediation is no outcome: it stays in mediation, or goes up a tier
        r = desk.act("inspector", did, "resolve", outcome=outcome)
        assert r.status_code == 422 and r.json()["code"] == "invalid_field"
    resolved = desk.ok("inspector", did, "resolve", outcome="success", note="双方达成调解协议")
    # the callback finds it does not hold: the mediation starts again, the outcome withdrawn (the log keeps it)
    reopened = desk.ok("inspector", did, "reopen", note="回访发现公司未按期支付")
    assert (reopened["state"], reopened["outcome"]) == ("mediating", None)
    assert did not in {x["id"] for x in desk.get("west_dispatcher", "/api/v1/disputes",
                                                 list="resolution").json()["items"]}
    resolved = desk.ok("inspector", did, "resolve", outcome="judicial", note="司法确认调解协议")
    assert resolved["state"] == "resolved" and resolved["outcome"] == "judicial" and resolved["list"] == "resolution"
    desk.now = T0 + dt.timedelta(days=30)
    closed = desk.ok("inspector", did, "callback", note="工资已全部发放，双方满意")
    assert closed["state"] == "closed" and closed["closed_at"] == desk.now.isoformat()
    assert closed["allowed_actions"] == [] and (closed["tier"], closed["risk"]) == ("task_force", "red")
    assert [(e["action"], e["to_state"]) for e in closed["history"]] == [
        ("report", "registered"), ("assign", "mediating"), ("mediate", "mediating"), ("escalate", "mediating"),
        ("escalate", "mediating"), ("assign", "mediating"), ("escalate", "mediating"), ("regrade", "mediating"),
        ("mediate", "mediating"), ("resolve", "resolved"), ("reopen", "mediating"), ("resolve", "resolved"),
        ("callback", "closed")]
    # the 三单 as views over the register
    lists = {name: {x["id"] for x in desk.get("west_dispatcher", "/api/v1/disputes", list=name).json()["items"]}
             for name in ("problem", "responsibility", "resolution")}
    assert did in lists["resolution"] and did not in lists["problem"] | lists["responsibility"]
    fresh = desk.report()
    assert fresh["id"] in {x["id"] for x in desk.get("west_dispatcher", "/api/v1/disputes",
                                                     list="problem").json()["items"]}
    assert desk.get("west_dispatcher", "/api/v1/disputes", list="x").json()["code"] == "unknown_list"


def test_parties_are_masked_by_role_and_unmasked_reads_audited(world):
    desk = Desk(world)
    did = desk.report()["id"]
    masked = desk.get("west_inspector", f"/api/v1/disputes/{did}").json()
    assert masked["parties_masked"] is True and masked["parties"][0] == {
        "name": "李**", "phone": "139****5678", "id_number": "1101**********002X"}
    assert audits(world, "personal_data_read", f"dispute:{did}") == []
    plain = desk.get("west_dispatcher", f"/api/v1/disputes/{did}").json()
    assert plain["parties"][0]["id_number"] == "11010519491231002X" and plain["parties_masked"] is False
    assert [a.actor for a in audits(world, "personal_data_read", f"dispute:{did}")] == ["west_dispatcher"]
    listed = desk.get("west_dispatcher", "/api/v1/disputes").json()["items"][0]
    assert listed["parties"] == 2  # a list carries no personal data
    r = desk.client.post("/api/v1/disputes", json={**WAGES, "parties": [{"name": "张三", "id_number": "123"}]},
                         headers=desk.headers("west_inspector"))
    assert r.status_code == 422


def test_a_dispute_belongs_to_its_tier(world):
    """小事不出村、大事不出镇: the village workstation acts on a dispute at the grid and village tiers; once it went up
    to the town, the workstation still reads it (and its history) but may act on it no more, offered only raising an
    incident (not held back by any tier); the town acts."""
    desk = Desk(world)
    made = desk.report(risk="red")
    with unit_of_work(world) as s:
        community = s.scalar(select(Area.code).join(Dispute, Dispute.area_path.startswith(Area.path))
                             .where(Dispute.id == made["id"], Area.level == "community"))
        create_user(s, username=f"village_{made['id']}", password=PASSWORD, unit_code=f"W-{community}",
                    roles=["dispatcher"])
    village, did = f"village_{made['id']}", made["id"]
    desk.ok(village, did, "assign", mediator="村调委会李主任")
    assert desk.ok(village, did, "escalate", reason="网格调解不成")["tier"] == "village"
    desk.ok(village, did, "mediate", note="村调委会组织调解")
    assert desk.ok(village, did, "escalate", reason="村调委会调解不成")["tier"] == "town"
    seen = desk.get(village, f"/api/v1/disputes/{did}").json()
    assert seen["tier"] == "town" and seen["allowed_actions"] == ["raise_incident"] and len(seen["history"]) == 5
    r = desk.act(village, did, "mediate", note="再调一次")
    assert r.status_code == 403 and r.json()["code"] == "tier_held_above"
    assert r.json()["params"] == {"action": "mediate", "tier": "town", "level": "town"}
    page = desk.client.post(f"/api/v1/disputes/{did}/actions/mediate", json={"note": "再调一次"},
                            headers={**desk.headers(village), "sec-fetch-site": "same-origin"})
    assert page.json()["detail"] == "该纠纷已上交至镇街综治中心，由上一层级办理，您可查看但不能再操作"
    assert "mediate" in desk.get("west_dispatcher", f"/api/v1/disputes/{did}").json()["allowed_actions"]
    desk.ok("west_dispatcher", did, "mediate", note="镇综治中心会同司法所调解")
    assert "raise_incident" in desk.get("commander", f"/api/v1/disputes/{did}").json()["allowed_actions"]


def test_jurisdiction(world):
    desk = Desk(world)
    west = desk.report()
    east = desk.report(user="east_dispatcher", lon=EAST_POINT[0], lat=EAST_POINT[1])
    assert desk.get("east_dispatcher", f"/api/v1/disputes/{west['id']}").status_code == 404
    assert desk.act("east_dispatcher", west["id"], "assign", mediator="x").status_code == 404
    ids = {x["id"] for x in desk.get("east_dispatcher", "/api/v1/disputes", limit=500).json()["items"]}
    assert east["id"] in ids and west["id"] not in ids
    r = desk.client.post("/api/v1/disputes", json={**WAGES, "lon": EAST_POINT[0], "lat": EAST_POINT[1]},
                         headers=desk.headers("west_inspector"))
    assert r.status_code == 422 and r.json()["code"] == "outside_jurisdiction"
    r = desk.client.post("/api/v1/disputes", json=WAGES, headers=desk.headers("commander"))  # commanders do not
    assert r.status_code == 403 and r.json()["code"] == "role_needed"
    # a handler meets disputes in the field (a campaign visit's finding is registered in the visitor's name)
    r = desk.client.post("/api/v1/disputes", json=WAGES, headers=desk.headers("cm_west"))
    assert r.status_code == 201, r.text


def test_a_dispute_at_risk_of_a_mass_incident_is_raised_into_one_with_one_history(world):
    desk = Desk(world)
    did = desk.report(risk="red")["id"]
    r = desk.act("west_inspector", did, "raise_incident")
    assert r.status_code == 403 and r.json()["code"] == "role_needed"
    raised = desk.ok("west_dispatcher", did, "raise_incident", grade=3)
    incident = raised["incident"]
    assert raised["state"] == "registered" and incident["state"] == "reported"
    assert raised["history"][-1]["payload"] == {"grade": 3, "incident_id": incident["id"],
                                                "incident_number": incident["number"]}
    seen = desk.get("west_dispatcher", f"/api/v1/incidents/{incident['id']}").json()
    assert seen["category"] == "social_security" and seen["grade"] == 3 and raised["number"] in seen["title"]
    with unit_of_work(world) as s:
        notes = s.execute(select(IncidentEvent.kind, IncidentEvent.payload).where(
            IncidentEvent.incident_id == incident["id"]).order_by(IncidentEvent.seq)).all()
    assert [n.kind for n in notes] == ["action", "note"] and notes[1].payload["dispute_id"] == did
    r = desk.act("west_dispatcher", did, "raise_incident")
    assert r.status_code == 409 and r.json()["code"] == "incident_exists"


def test_the_log_is_append_only(world):
    with pytest.raises(DBAPIError), unit_of_work(world) as s:
        s.execute(text("UPDATE dispute_events SET actor = 'x'"))


def test_the_summary_counts_the_logs(world):
    desk = Desk(world, T0 + dt.timedelta(days=60))
    day = desk.now.date().isoformat()
    a = desk.report()["id"]
    desk.ok("west_dispatcher", a, "assign", mediator="m")
    desk.ok("west_dispatcher", a, "mediate", note="1")
    desk.ok("west_dispatcher", a, "mediate", note="2")
    desk.ok("west_dispatcher", a, "resolve", outcome="success")
    b = desk.report()["id"]
    desk.ok("west_dispatcher", b, "escalate", reason="r")
    desk.ok("west_dispatcher", b, "assign", mediator="m")
    desk.ok("west_dispatcher", b, "resolve", outcome="litigation")
    today = desk.get("dispatcher", "/api/v1/screening/summary", **{"from": day, "to": day}).json()["disputes"]
    assert today == {"collected": 2, "mediated": 1, "succeeded": 1, "resolved": 2, "escalated": 1,
                     "callbacks": 0, "incidents": 0}
    whole = desk.get("dispatcher", "/api/v1/screening/summary", **{"from": "2026-01-01", "to": day}).json()
    with unit_of_work(world) as s:
        def count(action):
            return s.scalar(select(func.count(distinct(DisputeEvent.dispute_id))).where(DisputeEvent.action == action))
        expected = {k: count(a) for k, a in (("collected", "report"), ("mediated", "mediate"),
                                              ("resolved", "resolve"), ("escalated", "escalate"),
                                              ("callbacks", "callback"), ("incidents", "raise_incident"))}
    assert {k: whole["disputes"][k] for k in expected} == expected
    east = desk.get("east_dispatcher", "/api/v1/screening/summary", **{"from": day, "to": day}).json()
    assert east["disputes"]["collected"] == 0
