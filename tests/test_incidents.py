"""Incidents (突发事件): the life cycle through HTTP, refusals with codes and allowed actions, the append-only command
log, cases raised into incidents with one history, the 五早 clock and its figures on an injected clock, and
jurisdiction. Every test runs on SQLite and PostgreSQL (``case_world``)."""

from __future__ import annotations

import datetime as dt
import queue
import threading

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from liandong.app import create_app
from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.areas.scope import Scope
from liandong.auth.identity import Identity
from liandong.auth.service import create_user
from liandong.cases.models import CaseEvent
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.emergency import actions, intake, live_events, queries, visibility
from liandong.emergency.models import Incident, IncidentCase, IncidentEvent, IncidentLink
from liandong.emergency.payloads import IncidentIn
from liandong.errors import Conflict, DomainError, NotFound
from liandong.units.models import Unit
from tests.caseworld import EAST_POINT, WEST_POINT, new_case
from tests.factories import EAST, PASSWORD, WEST
from tests.server import serve
from tests.test_dashboard import _listen, _next_event

T0 = dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
USERS = (("commander", "C", "commander"), ("leader", "C", "leader"),
         ("west_commander", f"S-{WEST}", "commander"), ("east_commander", f"S-{EAST}", "commander"))
GAS = {"title": "某小区燃气泄漏", "category": "accident", "type": "燃气泄漏", "grade": 3,
       "lon": WEST_POINT[0], "lat": WEST_POINT[1]}


@pytest.fixture(scope="module")
def world(case_world):
    """The case world, plus commanders at the centre and at each town's sub-centre, and a leader."""
    with unit_of_work(case_world) as s:
        for username, unit, role in USERS:
            create_user(s, username=username, password=PASSWORD, unit_code=unit, roles=[role])
    return case_world


class Desk:
    """The app on a clock the test sets, and a login per user."""

    def __init__(self, url: str, now: dt.datetime):
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

    def report(self, user: str = "commander", **body) -> dict:
        r = self.post(user, "/api/v1/incidents", {**GAS, **body})
        assert r.status_code == 201, r.text
        return r.json()

    def act(self, user: str, incident_id: int, action: str, **payload):
        return self.post(user, f"/api/v1/incidents/{incident_id}/actions/{action}", payload)

    def walk(self, user: str, incident_id: int, steps: list[tuple[str, dict, dt.datetime]]) -> dict:
        """Take each (action, payload, time) in turn; every one must be accepted."""
        out = {}
        for action, payload, when in steps:
            self.now = when
            r = self.act(user, incident_id, action, **payload)
            assert r.status_code == 200, (action, r.text)
            out = r.json()
        return out


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


# --- the life cycle ---------------------------------------------------------------------------------------------

def test_an_incident_runs_its_whole_life_through_http(world):
    desk = Desk(world, dt.datetime(2026, 5, 4, 16, 30, tzinfo=dt.UTC))  # 00:30 on 5 May in Shanghai
    made = desk.report(area_codes=[f"{WEST}001", WEST], warning_level=3, commander="commander")
    assert made["number"] == "YJ-20260505-0001" and made["state"] == "reported" and made["version"] == 1
    assert desk.report()["number"] == "YJ-20260505-0002"
    assert [a["code"] for a in made["areas"]] == [WEST, f"{WEST}001"] and made["grid_code"].startswith(WEST)
    assert made["commander"]["username"] == "commander" and made["warning_level"] == 3
    assert made["occurred_at"] == made["created_at"] == desk.now.isoformat()
    assert made["allowed_actions"] == ["link", "link_case", "regrade", "report_up", "stand_down", "verify"]
    iid, t = made["id"], desk.now
    done = desk.walk("commander", iid, [
        ("report_up", {"to": "区应急管理局总值班室"}, t + minutes(20)),
        ("verify", {"grade": 2}, t + minutes(40)),
        ("respond", {"response_level": 2}, t + minutes(50)),
        ("report_up", {"to": "市应急联动中心", "note": "续报"}, t + minutes(55)),
        ("contain", {}, t + minutes(90)),
        ("recover", {}, t + minutes(180)),
        ("close", {"note": "善后完毕"}, t + minutes(600)),
    ])
    assert (done["state"], done["outcome"], done["grade"], done["response_level"]) == ("closed", "closed", 2, 2)
    assert done["closed_at"] == (t + minutes(600)).isoformat() and done["allowed_actions"] == []
    log = desk.get("leader", f"/api/v1/incidents/{iid}/log").json()
    assert [(e["seq"], e["kind"], e["action"], e["from"], e["to"]) for e in log] == [
        (1, "action", "report", None, "reported"), (2, "action", "report_up", "reported", "reported"),
        (3, "action", "verify", "reported", "verified"), (4, "action", "respond", "verified", "responding"),
        (5, "action", "report_up", "responding", "responding"), (6, "action", "contain", "responding", "contained"),
        (7, "action", "recover", "contained", "recovered"), (8, "action", "close", "recovered", "closed")]
    assert log[2]["payload"] == {"grade": 2, "was": {"grade": 3}} and log[0]["payload"]["area_codes"] == [
        f"{WEST}001", WEST]
    assert "follow_up" not in log[1]["payload"] and log[4]["payload"] == {"to": "市应急联动中心", "note": "续报",
                                                                         "follow_up": True}
    listed = desk.get("leader", "/api/v1/incidents", state="closed").json()
    assert iid in [i["id"] for i in listed["items"]] and listed["total"] >= 1
    row = next(i for i in listed["items"] if i["id"] == iid)  # a list row says who commands and the report limit
    assert row["commander"]["username"] == "commander" and row["report_late"] is False
    assert row["reported_at"] == log[1]["at"]
    assert iid not in [i["id"] for i in desk.get("leader", "/api/v1/incidents", open="true").json()["items"]]
    assert all(i["state"] != "closed" for i in desk.get("leader", "/api/v1/incidents", open="true").json()["items"])
    with unit_of_work(world) as s:
        audited = s.execute(text("SELECT actor, detail FROM audit_log WHERE action = 'incident_created' "
                                 "AND target = :t"), {"t": f"incident:{iid}"}).one()
    assert audited.actor == "commander"


def test_refusals_name_their_code_and_what_is_allowed(world):
    desk = Desk(world, T0)
    iid = desk.report()["id"]
    early = desk.act("commander", iid, "contain")
    assert early.status_code == 409 and early.json()["code"] == "not_allowed_in_state"
    assert early.json()["allowed_actions"] == ["link", "link_case", "regrade", "report_up", "stand_down", "verify"]
    assert early.json()["params"] == {"action": "contain", "state": "reported"}
    by_desk = desk.act("shift_leader", iid, "verify")
    assert (by_desk.status_code, by_desk.json()["code"]) == (403, "role_needed")
    assert by_desk.json()["allowed_actions"] == ["link_case", "report_up"]
    assert desk.act("dispatcher", iid, "report_up", to="区总值班室").json()["code"] == "role_needed"
    assert desk.post("inspector", "/api/v1/incidents", GAS).json()["code"] == "role_needed"
    assert desk.post("dispatcher", "/api/v1/incidents", GAS).status_code == 201
    for action, payload, code, field in (
            ("stand_down", {}, "missing_field", "reason"), ("stand_down", {"reason": "  "}, "missing_field", "reason"),
            ("regrade", {}, "invalid_field", "payload"), ("regrade", {"grade": 5}, "invalid_field", "grade"),
            ("regrade", {"grade": "1"}, "invalid_field", "grade"), ("verify", {"grades": 1}, "invalid_field", "grades"),
            ("report_up", {}, "missing_field", "to"), ("link", {"other_id": iid}, "missing_field", "kind"),
            ("link", {"other_id": iid, "kind": "cousin"}, "invalid_field", "kind")):
        r = desk.act("commander", iid, action, **payload)
        assert (r.status_code, r.json()["code"], r.json()["params"]["field"]) == (422, code, field), (action, r.text)
    assert desk.act("commander", iid, "link", other_id=iid, kind="secondary").json()["code"] == "bad_link"
    assert desk.act("commander", iid, "fly").json()["code"] == "unknown_action"
    assert desk.act("commander", 10**9, "verify").json()["code"] == "incident_not_found"
    verified = desk.act("commander", iid, "verify", version=1).json()
    stale = desk.act("commander", iid, "respond", response_level=3, version=1)
    assert stale.status_code == 409 and stale.json()["code"] == "stale" and stale.json()["stale"] is True
    assert stale.json()["allowed_actions"] == verified["allowed_actions"]
    assert desk.act("commander", iid, "respond", response_level=3, version=verified["version"]).status_code == 200
    for body, code in (({"area_codes": ["999999"]}, "unknown_area"), ({"commander": "dispatcher"}, "unknown_commander"),
                       ({"lon": 120.0, "lat": 30.0}, "outside_district"),
                       ({"occurred_at": (T0 + minutes(1)).isoformat()}, "occurred_in_future"),
                       ({"case_id": 10**9}, "case_not_found")):
        r = desk.post("commander", "/api/v1/incidents", {**GAS, **body})
        assert r.json()["code"] == code, (body, r.text)
    named = desk.post("commander", "/api/v1/incidents", {**GAS, "area_codes": [WEST, "nowhere", "319901009"]}).json()
    assert named["params"] == {"areas": ["nowhere", "319901009"]} and "nowhere" in named["detail"]
    assert desk.post("commander", "/api/v1/incidents", {**GAS, "grade": 0}).status_code == 422
    assert desk.post("commander", "/api/v1/incidents", {**GAS, "category": "weather"}).status_code == 422


def test_a_version_lost_at_write_time_is_refused_as_stale(world, callers):
    """Two commanders hold the same incident; the second writes on a version the first moved on: 409 ``stale``
    naming what it may do on the incident as it is now."""
    with unit_of_work(world) as s:
        iid = intake.open_incident(s, GridIndex.build(s), callers["commander"], IncidentIn(**GAS), T0).id
    with unit_of_work(world) as late:
        held = late.get(Incident, iid)  # read before the other acts: this session's copy goes stale
        with unit_of_work(world) as first:
            actions.act(first, iid, "verify", callers["commander"], {}, T0)
        with pytest.raises(Conflict) as err:
            actions.act(late, iid, "stand_down", callers["leader"], {"reason": "误报"}, T0)
    assert err.value.code == "stale" and err.value.extra["stale"] is True and held.state == "verified"
    assert err.value.extra["allowed_actions"] == ["link_case", "regrade", "report_up", "respond", "stand_down"]
    with unit_of_work(world) as s:
        assert s.scalar(select(func.count()).select_from(IncidentEvent).where(IncidentEvent.incident_id == iid)) == 2


def test_links_between_incidents_show_on_both(world):
    desk = Desk(world, T0)
    typhoon = desk.report(title="台风“梅花”", category="natural", type="台风", grade=2)["id"]
    flood = desk.report(title="地下车库进水", category="natural", type="城市内涝")["id"]
    linked = desk.act("commander", typhoon, "link", other_id=flood, kind="secondary").json()
    assert [(x["id"], x["kind"], x["direction"]) for x in linked["links"]] == [(flood, "secondary", "to")]
    other = desk.get("commander", f"/api/v1/incidents/{flood}").json()
    assert [(x["id"], x["direction"]) for x in other["links"]] == [(typhoon, "from")]
    again = desk.act("commander", flood, "link", other_id=typhoon, kind="derived")
    assert (again.status_code, again.json()["code"]) == (409, "already_linked")
    assert desk.act("leader", typhoon, "link", other_id=flood, kind="derived").json()["code"] == "role_needed"


def test_regrading_keeps_what_the_levels_were(world):
    desk = Desk(world, T0)
    iid = desk.report(warning_level=4)["id"]
    r = desk.act("leader", iid, "regrade", grade=1, warning_level=1).json()
    assert (r["grade"], r["warning_level"], r["state"]) == (1, 1, "reported")
    last = desk.get("leader", f"/api/v1/incidents/{iid}/log").json()[-1]
    assert last["payload"] == {"grade": 1, "warning_level": 1, "was": {"grade": 3, "warning_level": 4}}


# --- the command log ----------------------------------------------------------------------------------------------

def test_the_command_log_is_append_only(world):
    desk = Desk(world, T0)
    iid = desk.report()["id"]
    for i, (user, kind, words) in enumerate((("commander", "decision", "启动燃气泄漏专项预案"),
                                             ("dispatcher", "order", "燃气公司抢修队 15 分钟内到场"),
                                             ("shift_leader", "sitrep", "已疏散 120 人，无人员伤亡"))):
        desk.now = T0 + minutes(i + 1)
        r = desk.post(user, f"/api/v1/incidents/{iid}/log", {"kind": kind, "text": words})
        assert r.status_code == 201 and (r.json()["seq"], r.json()["actor"]) == (i + 2, user)
    assert desk.post("inspector", f"/api/v1/incidents/{iid}/log", {"kind": "note", "text": "x"}).json()["code"] == \
        "role_needed"
    for body in ({"kind": "gossip", "text": "x"}, {"kind": "note", "text": " "}, {"kind": "note"}):
        assert desk.post("commander", f"/api/v1/incidents/{iid}/log", body).status_code == 422
    log = desk.get("leader", f"/api/v1/incidents/{iid}/log").json()
    assert [(e["seq"], e["kind"]) for e in log] == [(1, "action"), (2, "decision"), (3, "order"), (4, "sitrep")]
    assert [e["at"] for e in log] == sorted(e["at"] for e in log) and log[2]["text"] == "燃气公司抢修队 15 分钟内到场"
    assert all(e["to"] == "reported" for e in log[1:]) and desk.get("leader", f"/api/v1/incidents/{iid}").json()[
        "version"] == 1  # entries do not move the incident
    for method in ("put", "patch", "delete"):
        assert getattr(desk.client, method)(f"/api/v1/incidents/{iid}/log", headers=desk.headers("commander")
                                            ).status_code == 405
    with pytest.raises(DBAPIError), unit_of_work(world) as s:
        s.execute(text("UPDATE incident_events SET text = 'changed' WHERE incident_id = :i"), {"i": iid})
    with pytest.raises(DBAPIError), unit_of_work(world) as s:
        s.execute(text("DELETE FROM incident_events WHERE incident_id = :i"), {"i": iid})


# --- cases and incidents: one history -------------------------------------------------------------------------

def test_a_case_raised_into_an_incident_keeps_one_history(world):
    desk = Desk(world, T0 - minutes(45))
    body = {"matter_code": "06010", "description": "小区内闻到燃气味", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
            "channel": "hotline"}
    case = desk.post("receptionist", "/api/v1/cases", body).json()
    desk.now = T0 - minutes(10)
    other = desk.post("receptionist", "/api/v1/cases", body).json()
    desk.now = T0
    made = desk.report(case_id=case["id"])
    assert made["occurred_at"] == case["created_at"]  # discovered when the case was reported
    assert [(c["id"], c["how"], c["state"]) for c in made["cases"]] == [(case["id"], "raised", "reported")]
    assert desk.get("commander", f"/api/v1/incidents/{made['id']}/log").json()[0]["payload"]["case_number"] == \
        case["number"]
    seen = desk.get("receptionist", f"/api/v1/cases/{case['id']}").json()
    assert seen["incidents"] == [{"id": made["id"], "number": made["number"]}] and seen["state"] == "reported"
    assert seen["version"] == case["version"]  # the case's own life goes on undisturbed
    events = desk.get("receptionist", f"/api/v1/cases/{case['id']}/events").json()
    assert (events[-1]["action"], events[-1]["from"], events[-1]["to"]) == ("raise_incident", "reported", "reported")
    assert events[-1]["payload"] == {"incident_id": made["id"], "number": made["number"]}
    desk.now = T0 + minutes(5)
    linked = desk.post("dispatcher", f"/api/v1/incidents/{made['id']}/cases", {"case_id": other["id"]})
    assert linked.status_code == 200 and [c["how"] for c in linked.json()["cases"]] == ["raised", "linked"]
    assert desk.get("receptionist", f"/api/v1/cases/{other['id']}/events").json()[-1]["action"] == "link_incident"
    again = desk.post("dispatcher", f"/api/v1/incidents/{made['id']}/cases", {"case_id": other["id"]})
    assert (again.status_code, again.json()["code"]) == (409, "case_already_linked")
    assert desk.post("dispatcher", f"/api/v1/incidents/{made['id']}/cases", {"case_id": 10**9}).json()["code"] == \
        "case_not_found"
    east_case = new_case(world, EAST_POINT)
    hidden = desk.post("west_commander", f"/api/v1/incidents/{made['id']}/cases", {"case_id": east_case})
    assert hidden.json()["code"] == "case_not_found"  # a case outside the caller's sight cannot be linked
    desk.now = T0 + minutes(30)
    down = desk.act("commander", made["id"], "stand_down", reason="经核实为误报，燃气管道正常")
    assert (down.json()["state"], down.json()["outcome"]) == ("closed", "stood_down")
    last = desk.get("commander", f"/api/v1/incidents/{made['id']}/log").json()[-1]
    assert last["payload"]["open_cases"] == [{"id": case["id"], "number": case["number"], "state": "reported"},
                                             {"id": other["id"], "number": other["number"], "state": "reported"}]
    assert desk.get("receptionist", f"/api/v1/cases/{case['id']}").json()["allowed_actions"]  # still routine work
    assert down.json()["five_early"]["resolved_at"] is None  # standing down resolves nothing


def test_a_drill_takes_no_real_case(world):
    """An exercise never ties itself to real work: raising a case into a drill, or linking one, is refused whole."""
    desk = Desk(world, T0 + minutes(60))
    case = desk.post("receptionist", "/api/v1/cases", {
        "matter_code": "06010", "description": "演练期间的真实报告", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
        "channel": "hotline"}).json()
    before = desk.get("commander", "/api/v1/incidents", exercise="true").json()["total"]
    raised = desk.post("commander", "/api/v1/incidents", {**GAS, "exercise": True, "case_id": case["id"]})
    assert (raised.status_code, raised.json()["code"]) == (409, "exercise_case"), raised.text
    assert desk.get("commander", "/api/v1/incidents", exercise="true").json()["total"] == before  # nothing half-made
    drill = desk.report(exercise=True)["id"]
    linked = desk.post("commander", f"/api/v1/incidents/{drill}/cases", {"case_id": case["id"]})
    assert (linked.status_code, linked.json()["code"]) == (409, "exercise_case")
    seen = desk.get("receptionist", f"/api/v1/cases/{case['id']}").json()
    assert seen["incidents"] == [] and seen["state"] == "reported"


# --- the 五早 clock ----------------------------------------------------------------------------------------------

def test_the_five_early_intervals_are_exact(world):
    start = dt.datetime(2026, 7, 6, 2, 0, tzinfo=dt.UTC)
    desk = Desk(world, start - minutes(30))
    case = desk.post("receptionist", "/api/v1/cases", {"matter_code": "06010", "description": "路面塌陷",
                                                       "lon": WEST_POINT[0], "lat": WEST_POINT[1],
                                                       "channel": "grid_worker"}).json()
    desk.now = start
    iid = desk.report(grade=1, occurred_at=(start - minutes(10)).isoformat())["id"]
    desk.now = start + minutes(5)
    assert desk.post("commander", f"/api/v1/incidents/{iid}/cases", {"case_id": case["id"]}).status_code == 200
    clock = desk.walk("commander", iid, [
        ("report_up", {"to": "区总值班室"}, start + minutes(60)),
        ("verify", {}, start + minutes(90)),
        ("respond", {"response_level": 1}, start + minutes(120)),
        ("report_up", {"to": "市总值班室"}, start + minutes(130)),
        ("contain", {}, start + minutes(200)),
        ("close", {}, start + minutes(300)),
    ])["five_early"]
    assert clock["discovered_at"] == (start - minutes(30)).isoformat()  # the linked case came first
    assert (clock["reported_at"], clock["assessed_at"], clock["disposed_at"], clock["resolved_at"]) == tuple(
        (start + minutes(m)).isoformat() for m in (60, 90, 120, 200))
    assert clock["intervals"] == {"discover_report": 90.0, "discover_assess": 120.0, "assess_dispose": 30.0,
                                  "dispose_resolve": 80.0, "discover_dispose": 150.0, "discover_resolve": 230.0}
    assert (clock["report_limit_minutes"], clock["report_late"]) == (240, False)
    assert clock["report_deadline"] == (start + minutes(210)).isoformat()


def test_report_late_for_grade_one_and_two_only(world):
    start = dt.datetime(2026, 7, 7, 2, 0, tzinfo=dt.UTC)
    desk = Desk(world, start)
    grave, minor, prompt = (desk.report(grade=g)["id"] for g in (1, 3, 2))
    desk.now = start + minutes(239)
    assert desk.get("leader", f"/api/v1/incidents/{grave}").json()["five_early"]["report_late"] is False
    assert desk.act("commander", prompt, "report_up", to="区总值班室").json()["five_early"]["report_late"] is False
    desk.now = start + minutes(241)
    assert desk.get("leader", f"/api/v1/incidents/{grave}").json()["five_early"]["report_late"] is True  # unreported
    desk.now = start + minutes(300)
    for iid, late in ((grave, True), (minor, False), (prompt, False)):
        clock = desk.act("commander", iid, "report_up", to="区总值班室").json()["five_early"]
        assert clock["report_late"] is late and clock["intervals"]["discover_report"] == (239.0 if iid == prompt
                                                                                         else 300.0)
    assert desk.get("leader", f"/api/v1/incidents/{minor}").json()["five_early"]["report_limit_minutes"] is None


def test_five_early_figures_by_category_and_town_without_exercises(world):
    day = dt.datetime(2025, 9, 1, 1, 0, tzinfo=dt.UTC)  # a period no other test uses
    desk = Desk(world, day)
    runs = [  # (body, [(action, minutes after the report)])
        ({"category": "natural", "grade": 1}, [("verify", 30), ("respond", 90), ("report_up", 300)]),
        ({"category": "natural", "grade": 4, "lon": EAST_POINT[0], "lat": EAST_POINT[1]},
         [("verify", 10), ("respond", 40), ("contain", 100)]),
        ({"category": "accident", "grade": 3}, [("verify", 60)]),
        ({"category": "natural", "grade": 1, "exercise": True}, [("verify", 5)]),
    ]
    payloads = {"respond": {"response_level": 2}, "report_up": {"to": "区总值班室"}}
    for i, (body, steps) in enumerate(runs):
        begun = day + dt.timedelta(hours=i)
        desk.now = begun
        iid = desk.report(**body)["id"]
        desk.walk("commander", iid, [(a, payloads.get(a, {}), begun + minutes(m)) for a, m in steps])
    desk.now = day + dt.timedelta(days=2)
    period = {"date_from": "2025-09-01", "date_to": "2025-09-02"}
    by_category = desk.get("leader", "/api/v1/incidents/five-early", **period, by="category").json()
    groups = {g["key"]: g for g in by_category["groups"]}
    assert list(groups) == ["natural", "accident", "public_health", "social_security"]
    natural = groups["natural"]
    assert (natural["count"], natural["report_late"]) == (2, 1)  # the exercise is left out; 300 min > 240
    assert natural["intervals"]["discover_assess"] == {"count": 2, "mean": 20.0, "median": 20.0}
    assert natural["intervals"]["assess_dispose"] == {"count": 2, "mean": 45.0, "median": 45.0}
    assert natural["intervals"]["dispose_resolve"] == {"count": 1, "mean": 60.0, "median": 60.0}
    assert groups["accident"]["intervals"]["discover_assess"] == {"count": 1, "mean": 60.0, "median": 60.0}
    empty = groups["public_health"]
    assert empty["count"] == 0 and empty["intervals"]["discover_report"] == {"count": 0, "mean": None, "median": None}
    drills = desk.get("leader", "/api/v1/incidents/five-early", **period, exercise=True).json()["groups"]
    assert [(g["key"], g["count"]) for g in drills if g["count"]] == [("natural", 1)]
    by_town = desk.get("leader", "/api/v1/incidents/five-early", **period, by="town").json()["groups"]
    assert [(g["key"], g["count"], g["report_late"]) for g in by_town] == [(WEST, 2, 1), (EAST, 1, 0)]
    assert by_town[0]["name"] == "西镇" and by_town[1]["intervals"]["discover_resolve"]["mean"] == 100.0
    west_only = desk.get("west_commander", "/api/v1/incidents/five-early", **period, by="town").json()["groups"]
    assert [(g["key"], g["count"]) for g in west_only] == [(WEST, 2)]
    other = desk.get("leader", "/api/v1/incidents/five-early", date_from="2025-08-01", date_to="2025-08-31").json()
    assert all(g["count"] == 0 and g["report_late"] == 0 for g in other["groups"])
    for bad in ({"by": "colour"}, {"date_from": "2025-09-03", "date_to": "2025-09-01"}, {"date_to": "0001-01-01"}):
        assert desk.get("leader", "/api/v1/incidents/five-early", **bad).status_code == 422


# --- jurisdiction --------------------------------------------------------------------------------------------------

def test_a_town_sees_its_own_incidents_and_those_affecting_it(world):
    desk = Desk(world, T0)
    west = desk.report("west_commander")
    assert desk.post("west_commander", "/api/v1/incidents", {**GAS, "lon": EAST_POINT[0], "lat": EAST_POINT[1]}
                     ).json()["code"] == "outside_jurisdiction"
    east = desk.report(lon=EAST_POINT[0], lat=EAST_POINT[1])
    spill = desk.report(lon=EAST_POINT[0], lat=EAST_POINT[1], area_codes=[f"{WEST}002"])  # reaches into the west
    assert desk.get("west_commander", f"/api/v1/incidents/{east['id']}").json()["code"] == "incident_not_found"
    assert desk.get("west_commander", f"/api/v1/incidents/{east['id']}").status_code == 404
    assert desk.act("west_commander", east["id"], "verify").json()["code"] == "incident_not_found"
    assert desk.get("west_commander", f"/api/v1/incidents/{east['id']}/log").status_code == 404
    assert desk.get("west_commander", f"/api/v1/incidents/{spill['id']}").status_code == 200
    assert desk.act("west_commander", west["id"], "verify").status_code == 200
    seen = {i["id"] for i in desk.get("west_commander", "/api/v1/incidents", limit=500).json()["items"]}
    assert {west["id"], spill["id"]} <= seen and east["id"] not in seen
    assert {west["id"], east["id"], spill["id"]} <= {
        i["id"] for i in desk.get("leader", "/api/v1/incidents", limit=500).json()["items"]}
    east_seen = {i["id"] for i in desk.get("east_commander", "/api/v1/incidents", limit=500).json()["items"]}
    assert {east["id"], spill["id"]} <= east_seen and west["id"] not in east_seen
    listed = desk.get("leader", "/api/v1/incidents", limit=500).json()["items"]
    order = [i["id"] for i in listed]
    assert order.index(spill["id"]) < order.index(east["id"]) < order.index(west["id"])  # newest first
    assert [i["created_at"] for i in listed] == sorted((i["created_at"] for i in listed), reverse=True)
    assert desk.get("leader", "/api/v1/incidents", state="gone").json()["code"] == "unknown_state"


# --- what an incident offers is what the service takes -------------------------------------------------------------

FORWARD = {"reported": ("verify",), "verified": ("respond",), "responding": ("contain",),
           "contained": ("recover", "close"), "recovered": ("close",)}
TRIED_ONLY = frozenset({"link", "link_case"})
"""Taken inside savepoints only, so their targets stay free for every step."""


@pytest.fixture(scope="module")
def callers(world):
    with unit_of_work(world) as s:
        units = dict(s.execute(select(Unit.code, Unit.id)).all())
        towns = {a.code: Scope(path=a.path, area_id=a.id) for a in s.scalars(select(Area).where(Area.level == "town"))}
    people = {role: Identity(roles=frozenset({role}), unit_id=units["C"], username=role)
              for role in ("commander", "leader", "shift_leader", "dispatcher", "inspector")}
    people["west_commander"] = Identity(roles=frozenset({"commander"}), unit_id=units[f"S-{WEST}"],
                                        scope=towns[WEST], username="west_commander")
    people["east_commander"] = Identity(roles=frozenset({"commander"}), unit_id=units[f"S-{EAST}"],
                                        scope=towns[EAST], username="east_commander")
    return people


def _snapshot(s, incident_id: int, case_id: int) -> tuple:
    def rows(table, where):
        return sorted(tuple(map(str, r)) for r in s.execute(select(table).where(where)))

    return (rows(Incident.__table__, Incident.id == incident_id),
            s.scalar(select(func.count()).select_from(IncidentEvent).where(IncidentEvent.incident_id == incident_id)),
            rows(IncidentLink.__table__, IncidentLink.incident_id == incident_id),
            rows(IncidentCase.__table__, IncidentCase.incident_id == incident_id),
            s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)))


def _payload(data, action: str, incident: Incident, other: int, case: int) -> dict:
    levels = st.integers(1, 4)
    payload = {"verify": {}, "respond": {"response_level": data.draw(levels, label="level")},
               "stand_down": {"reason": "误报"}, "report_up": {"to": "区总值班室"},
               "regrade": {"grade": data.draw(levels, label="grade")},
               "link": {"other_id": other, "kind": "derived"}, "link_case": {"case_id": case}}.get(action, {})
    if data.draw(st.booleans(), label="version"):
        payload["version"] = incident.version
    return payload


@settings(max_examples=4, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_what_an_incident_offers_is_what_the_service_takes(world, callers, data):
    with unit_of_work(world) as s:
        index = GridIndex.build(s)
        body = IncidentIn(**GAS)
        iid, other = (intake.open_incident(s, index, callers["commander"], body, T0).id for _ in range(2))
    case = new_case(world)
    for step in range(data.draw(st.integers(4, 10), label="steps")):
        now = T0 + minutes(10 * (step + 1))
        with unit_of_work(world) as s:
            incident = s.get(Incident, iid)
            offered, refused = [], []
            for name, caller in callers.items():
                try:
                    queries.get(s, iid, caller)
                    listed = actions.allowed_for(s, incident, caller)
                except NotFound:
                    listed = []
                offered += [(name, a) for a in listed]
                refused += [(name, a) for a in actions.NAMES if a not in listed]
            for name, action in offered:
                before = s.scalar(select(func.max(IncidentEvent.seq)).where(IncidentEvent.incident_id == iid))
                with s.begin_nested() as sp:
                    taken = actions.act(s, iid, action, callers[name], _payload(data, action, incident, other, case),
                                        now)
                    last = s.execute(select(IncidentEvent.action, IncidentEvent.seq, IncidentEvent.to_state).where(
                        IncidentEvent.incident_id == iid).order_by(IncidentEvent.seq.desc()).limit(1)).one()
                    assert (last.action, last.seq, last.to_state) == (action, before + 1, taken.state), (name, action)
                    sp.rollback()
            for name, action in data.draw(st.lists(st.sampled_from(refused), max_size=4, unique=True),
                                          label="refused") if refused else ():
                with s.begin_nested() as sp:
                    then = _snapshot(s, iid, case)
                    with pytest.raises(DomainError) as err:
                        actions.act(s, iid, action, callers[name], _payload(data, action, incident, other, case), now)
                    assert err.value.code in ("not_allowed_in_state", "role_needed", "incident_not_found"), (
                        name, action, err.value.code)
                    s.flush()
                    assert _snapshot(s, iid, case) == then, (name, action)
                    sp.rollback()
            going = [(n, a) for n, a in offered if a not in TRIED_ONLY]
            if not going:
                break
            ahead = [(n, a) for n, a in going if a in FORWARD.get(incident.state, ())]
            name, action = data.draw(st.sampled_from(ahead if ahead and data.draw(st.integers(0, 7)) > 1 else going),
                                     label="step")
            actions.act(s, iid, action, callers[name],
                        _payload(data, action, s.get(Incident, iid), other, case), now)


def test_orders_come_from_whoever_commands(world):
    """Anyone on an incident reports the situation; decisions and orders are the commander's."""
    desk = Desk(world, T0 + minutes(90))
    iid = desk.report(area_codes=[WEST, f"{EAST}001"])["id"]  # placed in the west, touching the east
    sitrep = desk.post("west_commander", f"/api/v1/incidents/{iid}/log", {"kind": "sitrep", "text": "西街道已布控"})
    assert sitrep.status_code == 201
    order = desk.post("west_commander", f"/api/v1/incidents/{iid}/log", {"kind": "order", "text": "全区停课"})
    assert (order.status_code, order.json()["code"]) == (403, "not_commander")
    ordered = desk.post("commander", f"/api/v1/incidents/{iid}/log", {"kind": "order", "text": "全区停课"})
    assert ordered.status_code == 201
    kinds = [e["kind"] for e in desk.get("commander", f"/api/v1/incidents/{iid}/log").json()]
    assert kinds.count("order") == 1 and kinds.count("sitrep") == 1


# --- live ---------------------------------------------------------------------------------------------------------

def test_live_incident_events_reach_the_screens_that_see_them(world):
    """The incident stream pushes each new log entry to the screens whose callers see the incident: the centre
    sees the west town's incident at once, the east town's commander does not, until one touches the east."""
    app = create_app(Settings(database_url=world, live_poll_seconds=0.05, sweep_seconds=0, index_check_seconds=0))
    with serve(app) as base, httpx.Client(base_url=base) as c:
        def token(user):
            return c.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD}).json()["access_token"]

        assert c.get("/api/v1/live/incidents").status_code == 401
        stop, streams = threading.Event(), {}
        for user in ("commander", "east_commander"):
            out: queue.Queue = queue.Queue()
            threading.Thread(target=_listen, args=(base, token(user), out, stop), kwargs={
                "path": "/api/v1/live/incidents"}, daemon=True).start()
            assert out.get(timeout=10) == ("status", 200) and out.get(timeout=10) == ("connected", None)
            streams[user] = out
        auth = {"Authorization": f"Bearer {token('commander')}"}
        west = c.post("/api/v1/incidents", json=GAS, headers=auth).json()
        seen = _next_event(streams["commander"])
        assert (seen["incident_id"], seen["action"], seen["number"]) == (west["id"], "report", west["number"])
        east = c.post("/api/v1/incidents", json={**GAS, "area_codes": [f"{EAST}001"]}, headers=auth).json()
        got = _next_event(streams["east_commander"])  # the first the east sees is the one touching the east
        assert got["incident_id"] == east["id"] and "reported_by" not in got and "actor" not in got
        assert _next_event(streams["commander"])["incident_id"] == east["id"]
        c.post(f"/api/v1/incidents/{east['id']}/log", json={"kind": "sitrep", "text": "东街道已到场"}, headers=auth)
        assert _next_event(streams["east_commander"])["kind"] == "sitrep"
        stop.set()
        c.post(f"/api/v1/incidents/{west['id']}/log", json={"kind": "note", "text": "收尾"}, headers=auth)


def test_the_live_predicate_agrees_with_the_sql_rule(world, callers):
    """One visibility rule for incidents: for every caller and every incident, the live predicate over the feed's
    items decides as the SQL filter does (place, affected areas, the units holding its tasks)."""
    with unit_of_work(world) as s:
        index = GridIndex.build(s)
        made = [intake.open_incident(s, index, callers["commander"], IncidentIn(**{**GAS, **body}), T0).id for body in (
            {}, {"area_codes": [f"{EAST}001"]}, {"area_codes": [EAST]}, {"lon": EAST_POINT[0], "lat": EAST_POINT[1]})]
    with unit_of_work(world) as s:
        items = {i["incident_id"]: i for i in live_events.read(s, 0, limit=10**6)}
        for name, caller in callers.items():
            sql = set(s.scalars(visibility.visible(select(Incident.id), caller)))
            sees = live_events.predicate(visibility.watcher(s, caller))
            assert {i for i, item in items.items() if sees(item)} == sql, name
            assert set(made) & sql, name if name != "east_commander" else None
