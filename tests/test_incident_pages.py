"""The emergency pages and notices at volume, over HTTP without a browser: the incident list, board and plan library
answer the staff and refuse citizens; notices are addressed to the roles that must act, grouped per case or
incident, read in bulk, and a drill's stay out of the real unread count; a plan file is checked with the loader's
own rules; the emergency refusals read in Chinese and English. Every test runs on SQLite and PostgreSQL
(``case_world``)."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from liandong.app import create_app
from liandong.auth.service import create_user
from liandong.cases import notifications
from liandong.cases.models import Notification
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.emergency.plans.library import PACKAGED
from liandong.emergency.states import TASK_ROLES
from liandong.units.models import Unit
from liandong.web import reasons
from tests.caseworld import new_case
from tests.factories import PASSWORD, WEST
from tests.test_cases import _refusal_codes
from tests.test_incidents import GAS, Desk

T0 = dt.datetime(2026, 6, 1, 1, 0, tzinfo=dt.UTC)
USERS = (("commander", "C", ["commander"]), ("leader", "C", ["leader"]), ("citizen_c", "C", ["citizen"]),
         ("shift_leader_c", "C", ["shift_leader"]), ("ws_west1", f"W-{WEST}001", ["handler"]))
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def world(case_world):
    with unit_of_work(case_world) as s:
        for username, unit, roles in USERS:
            create_user(s, username=username, password=PASSWORD, unit_code=unit, roles=roles)
    return case_world


def browser(url: str, username: str, lang: str = "zh") -> TestClient:
    """A client signed in through the login form (the session cookie), in a page language."""
    client = TestClient(create_app(Settings(database_url=url, index_check_seconds=0)), base_url="http://testserver")
    r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text
    client.cookies.set("liandong_lang", lang)
    return client


def unit_id(url: str, code: str) -> int:
    with unit_of_work(url) as s:
        return s.scalar(select(Unit.id).where(Unit.code == code))


def gas_incident(desk: Desk, **extra) -> dict:
    return desk.report(**{"area_codes": [WEST], "commander": "commander", **extra})


# --- pages --------------------------------------------------------------------------------------------------

def test_the_emergency_pages_answer_the_commander_in_both_languages(world):
    desk = Desk(world, T0)
    made = gas_incident(desk)
    for lang, words in (("zh", ("突发事件", "事件指挥看板", "预案库", "应急指挥")),
                        ("en", ("Incidents", "Incident board", "Plan library", "Emergency"))):
        client = browser(world, "commander", lang)
        listed, board, plans = (client.get(p) for p in ("/incidents", f"/incidents/{made['id']}", "/plans"))
        for r, word in zip((listed, board, plans), words, strict=False):
            assert r.status_code == 200, r.text
            assert word in r.text
            assert "unsafe-inline" not in r.headers["content-security-policy"] and "<script>" not in r.text
        assert words[3] in listed.text  # the main navigation leads there
        assert 'id="new-incident"' in listed.text  # a commander reports incidents
        assert f'data-incident-id="{made["id"]}"' in board.text and 'id="activate-form"' in board.text
        assert 'id="log-form"' in board.text and 'id="warning-form"' in board.text
        assert 'id="validate-form"' in plans.text
    handler = browser(world, "ws_west1")
    page = handler.get("/incidents")
    assert page.status_code == 200 and 'id="new-incident"' not in page.text  # a handler does not report them
    assert 'id="activate-form"' not in handler.get(f"/incidents/{made['id']}").text


def test_citizens_are_refused_and_strangers_sent_to_log_in(world):
    citizen = browser(world, "citizen_c")
    for path in ("/incidents", "/incidents/1", "/plans"):
        r = citizen.get(path)
        assert r.status_code == 403 and "需要工作人员角色" in r.text
        assert 'href="/incidents"' not in r.text  # not in the citizen's navigation either
    stranger = TestClient(create_app(Settings(database_url=world, index_check_seconds=0)))
    for path in ("/incidents", "/incidents/1", "/plans?code=gas-leak"):
        r = stranger.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/")


def test_the_dashboard_and_workbench_carry_incidents_and_compact_notices(world):
    client = browser(world, "commander")
    dash = client.get("/").text
    assert 'id="active-incidents"' in dash and "/static/js/dash-incidents.js" in dash
    work = client.get("/cases").text
    assert 'id="notice-more"' in work and 'id="notice-read-all"' in work


# --- notices at volume ------------------------------------------------------------------------------------------

def _urge(url: str, unit: int, case_id: int | None, n: int, **details) -> None:
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(url) as s:
        s.add_all(Notification(unit_id=unit, case_id=case_id, kind="urge", created_at=now,
                               details={"note": f"第 {i} 次督办", **details}) for i in range(n))


def _task_notice(url: str, unit: int, incident: dict, n: int, exercise: bool = False) -> None:
    now = dt.datetime.now(dt.UTC)
    details = {"incident_id": incident["id"], "incident_number": incident["number"],
               "note": f"{incident['number']} 任务", **({"exercise": True} if exercise else {})}
    with unit_of_work(url) as s:
        s.add_all(Notification(unit_id=unit, case_id=None, kind="task_assigned", details=details, created_at=now)
                  for _ in range(n))


def test_notices_group_per_case_and_incident_and_read_in_bulk(world):
    desk = Desk(world, T0)
    centre = unit_id(world, "C")
    real, drill = gas_incident(desk), gas_incident(desk, exercise=True)
    first, second = new_case(world), new_case(world)
    client = browser(world, "shift_leader_c")
    client.post("/api/v1/notifications/read", json={"all": True})
    _urge(world, centre, first, 59)
    _urge(world, centre, second, 2)
    _task_notice(world, centre, real, 3)
    _task_notice(world, centre, drill, 4, exercise=True)

    data = client.get("/api/v1/notifications/groups").json()
    assert (data["total"], data["unread"], data["exercise"]) == (4, 59 + 2 + 3, 4)  # drills apart
    by_key = {g["key"]: g for g in data["groups"]}
    flooded = by_key[f"case:{first}"]
    assert flooded["count"] == 59 and flooded["latest"]["details"]["note"] == "第 58 次督办"
    assert by_key[f"incident:{real['id']}"]["count"] == 3 and by_key[f"incident:{real['id']}"]["exercise"] is False
    assert by_key[f"incident:{drill['id']}"]["exercise"] is True
    assert by_key[f"incident:{drill['id']}"]["incident_number"] == drill["number"]
    assert data["groups"][0]["key"] == f"incident:{drill['id']}"  # the most recently told first
    assert client.get("/api/v1/notifications/unread-count").json() == {"unread": 64}  # real work only

    assert client.post("/api/v1/notifications/read", json={"case_id": first}).json() == {"read": 59}
    assert client.post("/api/v1/notifications/read", json={"incident_id": drill["id"]}).json() == {"read": 4}
    one = by_key[f"case:{second}"]["latest"]["id"]
    assert client.post("/api/v1/notifications/read", json={"ids": [one, 10**9]}).json() == {"read": 1}
    left = client.get("/api/v1/notifications/groups").json()
    assert {g["key"]: g["count"] for g in left["groups"]} == {f"case:{second}": 1, f"incident:{real['id']}": 3}
    assert client.post("/api/v1/notifications/read", json={"all": True}).json() == {"read": 4}
    assert client.get("/api/v1/notifications/groups").json()["groups"] == []
    everything = client.get("/api/v1/notifications/groups", params={"unread": "false", "limit": 200}).json()
    assert {g["key"] for g in everything["groups"]} >= {f"case:{first}", f"incident:{drill['id']}"}
    for body in ({}, {"all": False}, {"case_id": first, "all": True}, {"ids": []}, {"everything": True}):
        assert client.post("/api/v1/notifications/read", json=body).status_code == 422, body


def test_bulk_reading_leaves_other_units_alone(world):
    west = unit_id(world, f"S-{WEST}")
    case = new_case(world)
    _urge(world, west, case, 3)
    centre_client = browser(world, "shift_leader_c")
    west_client = browser(world, "west_handler")
    ids = [n["id"] for n in west_client.get("/api/v1/notifications", params={"unread": "true"}).json()
           if n["case_id"] == case]
    assert len(ids) == 3
    assert centre_client.post("/api/v1/notifications/read", json={"ids": ids}).json() == {"read": 0}
    assert centre_client.post("/api/v1/notifications/read", json={"case_id": case}).json() == {"read": 0}
    assert west_client.post("/api/v1/notifications/read", json={"case_id": case}).json() == {"read": 3}


def test_notices_are_addressed_to_the_roles_that_must_act(world):
    desk = Desk(world, T0)
    centre = unit_id(world, "C")
    incident = gas_incident(desk)
    case = new_case(world)
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(world) as s:
        for stage in ("dispatch", "check"):
            s.add(Notification(unit_id=centre, case_id=case, kind="overdue", details={"stage": stage, "level": 2},
                               created_at=now))
    _task_notice(world, centre, incident, 1)

    def seen(user: str) -> set[tuple]:
        items = browser(world, user).get("/api/v1/notifications", params={"unread": "true", "limit": 500}).json()
        return {(n["kind"], n["details"].get("stage")) for n in items
                if n["case_id"] == case or n["incident_id"] == incident["id"]}

    assert seen("commander") == {("task_assigned", None)}  # the case's overdue stages are not the commander's
    assert seen("dispatcher") == {("overdue", "dispatch"), ("overdue", "check"), ("task_assigned", None)}
    assert seen("shift_leader_c") == {("overdue", "dispatch"), ("overdue", "check"), ("task_assigned", None)}
    assert seen("admin") == set()
    assert notifications.roles_for("overdue", {"stage": "check"}) == {"inspector", "dispatcher", "shift_leader",
                                                                       "leader"}
    assert notifications.roles_for("something_new", {}) is None  # a kind without a rule: the whole unit


def test_the_notices_task_staff_are_the_emergency_task_roles():
    assert notifications.MUST_ACT["task_assigned"] == TASK_ROLES


# --- plans --------------------------------------------------------------------------------------------------------

def test_a_plan_file_is_validated_with_the_loaders_rules(world):
    client = browser(world, "commander")
    text = (PACKAGED / "gas-leak.yaml").read_text(encoding="utf-8")
    good = client.post("/api/v1/plans/validate", params={"name": "gas-leak.yaml"}, content=text.encode(),
                       headers={"Content-Type": "application/yaml"})
    assert good.status_code == 200, good.text
    body = good.json()
    assert body["ok"] is True and body["plan"]["code"] == "gas-leak" and body["loaded_versions"] == ["1.2.0"]
    assert body["plan"]["levels"][0]["tasks"][0]["owner"] == "sub_centre_of_affected_towns"

    broken = text.replace("owner: sub_centre_of_affected_towns", "owner: sub_centre", 1)
    line = next(n for n, row in enumerate(broken.splitlines(), 1) if "owner: sub_centre" in row)
    bad = client.post("/api/v1/plans/validate", params={"name": "mine.yaml"}, content=broken.encode(),
                      headers={"Content-Type": "text/plain", **SAME_ORIGIN})
    assert bad.status_code == 400
    refused = bad.json()
    assert refused["ok"] is False and refused["code"] == "invalid_plan"
    assert refused["problems"][0] == {"file": "mine.yaml", "line": line, "field": "levels[0].tasks[0].owner",
                                      "message": refused["problems"][0]["message"]}
    assert "unknown unit selector" in refused["problems"][0]["message"]
    assert refused["errors"][0].startswith(f"mine.yaml:{line}: levels[0].tasks[0].owner: ")
    assert refused["detail"] == "预案文件 mine.yaml 有 1 处问题，请逐条修改"  # the page's language
    not_yaml = client.post("/api/v1/plans/validate", content=b"code: [unclosed", headers={"Content-Type": "text/plain"})
    assert not_yaml.status_code == 400 and not_yaml.json()["problems"][0]["line"] == 1
    assert not_yaml.json()["problems"][0]["file"] == "plan.yaml"
    assert client.post("/api/v1/plans/validate", params={"name": "../x.yaml"}, content=b"x").status_code == 422
    anonymous = TestClient(create_app(Settings(database_url=world, index_check_seconds=0)))
    assert anonymous.post("/api/v1/plans/validate", content=text.encode()).status_code == 401


# --- refusals in the page's language --------------------------------------------------------------------------

def test_every_emergency_refusal_has_chinese_and_reads_in_both_languages(world):
    untranslated = _refusal_codes("src/liandong/emergency") - reasons.CODES  # CAP's included (the warnings page's)
    assert not untranslated, f"given by the emergency service without a translation: {untranslated}"
    shared = _refusal_codes("src/liandong/cases")  # worded for the case pages; their English is the API's
    no_english = _refusal_codes("src/liandong/emergency/cap") - shared - set(reasons._EN)
    assert not no_english, f"CAP refusals without the pages' English: {no_english}"
    assert reasons.in_chinese("cap_invalid", {"element": "references"}) == "文档不符合 CAP 规范（元素 <references>）"
    assert reasons.in_english("cap_schema", {"line": 3}) == "The document does not follow the CAP schema (line 3)"
    assert reasons.in_chinese("cap_too_large", {"max_bytes": 10}) == "文档超过大小上限 10 字节"
    desk = Desk(world, T0)
    made = gas_incident(desk)
    desk.act("commander", made["id"], "verify")
    assert desk.post("commander", f"/api/v1/incidents/{made['id']}/plans/gas-leak/activate",
                     {"response_level": 2}).status_code == 200
    for lang, words in (("zh", "预案 gas-leak 已在二级响应运行"), ("en", "Plan gas-leak runs at level 2 already")):
        client = browser(world, "commander", lang)
        r = client.post(f"/api/v1/incidents/{made['id']}/plans/typhoon-flood/activate", json={"response_level": 4},
                        headers=SAME_ORIGIN)
        assert r.json()["code"] == "plan_category_mismatch"
        assert r.json()["detail"] == ("预案 typhoon-flood 不适用于此类事件" if lang == "zh"
                                      else "Plan typhoon-flood is not for this category of incident")
        r = client.post(f"/api/v1/incidents/{made['id']}/plans/gas-leak/activate", json={"response_level": 2},
                        headers=SAME_ORIGIN)
        assert (r.json()["code"], r.json()["detail"]) == ("plan_already_active", words)
        r = client.post(f"/api/v1/incidents/{made['id']}/plans/gas-leak/activate", json={"response_level": 3},
                        headers=SAME_ORIGIN)
        assert r.json()["code"] == "below_response_level" and ("二级响应" in r.json()["detail"]) == (lang == "zh")
        missing = client.get("/api/v1/incidents/999999", headers=SAME_ORIGIN).json()
        assert missing["detail"] == ("未找到事件 999999，或不在您的辖区内" if lang == "zh"
                                     else "Incident 999999 not found, or outside your area")
    api = TestClient(create_app(Settings(database_url=world, index_check_seconds=0)))  # no page: the API's English
    assert api.get("/api/v1/incidents/999999", headers=desk.headers("commander")).json()["detail"] == \
        "incident 999999 not found"
    assert set(reasons._EN) <= reasons.CODES
    assert GAS["category"] == "accident"
