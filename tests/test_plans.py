"""Contingency plans and their tasks: plan files validated with file, line and field named; versions; activation
on an injected clock creating tasks for real units (deadlines on natural time); raising the response level;
task actions and their refusals; the escalation sweep (each kind once); standing down; drills kept out of real
figures; proposals. Every database test runs on SQLite and PostgreSQL (``case_world``)."""

from __future__ import annotations

import datetime as dt
import textwrap
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from liandong.app import create_app
from liandong.auth.identity import Identity
from liandong.auth.models import User
from liandong.auth.service import ASSIGNED_ONLY_KINDS, create_user, scope_for
from liandong.cases.models import Notification
from liandong.cli import app as cli
from liandong.config import Settings
from liandong.db import session_factory, unit_of_work
from liandong.emergency import actions, live_events, task_actions, task_sweep, visibility
from liandong.emergency.models import Incident, Plan, Task
from liandong.emergency.plans import library, loader
from liandong.errors import Stale
from liandong.units.models import Unit
from liandong.units.service import create_unit
from tests.caseworld import EAST_POINT
from tests.factories import DISTRICT, EAST, PASSWORD, WEST
from tests.test_incidents import Desk, minutes

SATURDAY_NIGHT = dt.datetime(2026, 6, 6, 15, 30, tzinfo=dt.UTC)  # 23:30 on Saturday 6 June in Shanghai
TYPHOON = {"title": "台风“梅花”影响本区", "category": "natural", "type": "台风"}  # grade 3 and the place: GAS's
TEST_PLAN = """\
code: test-flood
name: 测试防汛预案
version: 1
category: natural
types: [台风, 城市内涝]
levels:
  - level: 4
    name: 四级响应
    conditions: {min_grade: 4}
    tasks:
      - {key: watch, title: 加强值守, owner: centre, deadline_minutes: 30}
      - {key: town-duty, title: 街镇进入值班状态, owner: sub_centre_of_affected_towns, deadline_minutes: 60,
         matter: "06013"}
  - level: 3
    name: 三级响应
    conditions: {min_grade: 3}
    tasks:
      - {key: fire-standby, title: 消防站备勤, owner: {line: fire, in: affected_towns}, deadline_minutes: 45}
      - {key: pumps, title: 泵站预降水位, owner: {line: water}, deadline_minutes: 90, ack_required: false}
    notify:
      - {to: {line: fire}, note: 三级响应已启动}
  - level: 2
    name: 二级响应
    conditions: {min_grade: 2}
    tasks:
      - {key: residents, title: 排查危旧房屋人员, owner: workstation_of_affected_communities, deadline_minutes: 120}
  - level: 1
    name: 一级响应
    conditions: {min_grade: 1, min_towns: 2}
    tasks:
      - {key: evacuate, title: 转移危险区域人员, owner: workstation_of_affected_communities, deadline_minutes: 180}
"""
USERS = (("commander", "C", "commander"), ("leader", "C", "leader"), ("citizen_c", "C", "citizen"),
         ("ws_west1", f"W-{WEST}001", "handler"), ("fire_west", f"B-fire-{WEST}", "handler"),
         ("fire_hq", "D-fire", "handler"), ("west_commander", f"S-{WEST}", "commander"))


@pytest.fixture(scope="module")
def world(case_world, tmp_path_factory):
    """The case world plus a fire department with a station in the west town only, a water department, people of
    several units, and the test plan loaded from a file."""
    assert plan_world(case_world, tmp_path_factory.mktemp("plans")) == ["test-flood@1"]
    return case_world


def plan_world(url: str, folder) -> list[str]:
    """Add to the case world at ``url`` the units, people and plan of ``world``; returns the plans loaded."""
    (folder / "test-flood.yaml").write_text(TEST_PLAN, encoding="utf-8")
    with unit_of_work(url) as s:
        create_unit(s, code="D-fire", name="测试区消防救援支队", kind="department", area_code=DISTRICT, line="fire",
                    parent_code="C")
        create_unit(s, code=f"B-fire-{WEST}", name="西镇消防救援站", kind="branch", area_code=WEST, line="fire",
                    parent_code="D-fire")
        create_unit(s, code="D-water", name="测试区水务局", kind="department", area_code=DISTRICT, line="water",
                    parent_code="C")
        for username, unit, role in USERS:
            create_user(s, username=username, password=PASSWORD, unit_code=unit, roles=[role])
        docs, problems = loader.read_dir(folder)
        assert not problems
        return library.sync(s, docs)["loaded"]


def unit_ids(url: str) -> dict[str, int]:
    with unit_of_work(url) as s:
        return dict(s.execute(select(Unit.code, Unit.id)).all())


def activate(desk: Desk, incident_id: int, level: int, user: str = "commander", code: str = "test-flood"):
    return desk.post(user, f"/api/v1/incidents/{incident_id}/plans/{code}/activate", {"response_level": level})


def assessed(desk: Desk, **body) -> int:
    """An incident reported and verified (研判): a plan is activated after it."""
    iid = desk.report(**body)["id"]
    assert desk.act("commander", iid, "verify").status_code == 200
    return iid


def task_list(desk: Desk, incident_id: int, user: str = "commander") -> list[dict]:
    r = desk.get(user, f"/api/v1/incidents/{incident_id}/tasks")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def by_key(items: list[dict]) -> dict[tuple[str, str], dict]:
    return {(t["key"], t["owner"]["code"]): t for t in items}


def task_act(desk: Desk, user: str, task_id: int, action: str, **payload):
    return desk.post(user, f"/api/v1/tasks/{task_id}/actions/{action}", payload)


def sweep(url: str, now: dt.datetime) -> dict[str, list[int]]:
    with unit_of_work(url) as s:
        return task_sweep.sweep(s, now, ack_minutes=15)


def log_of(desk: Desk, incident_id: int) -> list[dict]:
    return desk.get("leader", f"/api/v1/incidents/{incident_id}/log").json()


# --- activation -----------------------------------------------------------------------------------------------

def test_activation_creates_tasks_for_real_units_on_natural_time(world):
    desk = Desk(world, SATURDAY_NIGHT)
    made = desk.report(**TYPHOON, grade=3, area_codes=[WEST, f"{EAST}001"], commander="commander")
    assert made["proposed_plans"] == []  # not assessed yet
    verified = desk.act("commander", made["id"], "verify").json()
    assert {p["code"]: p["response_level"] for p in verified["proposed_plans"]} == {"test-flood": 3,
                                                                                   "typhoon-flood": 3}
    r = activate(desk, made["id"], 3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["response_level"] == 3 and body["state"] == "responding"  # activation after 研判 starts the response
    [result] = body["activation"]["plans"]
    assert (result["plan"], result["plan_version"], result["response_level"], result["tasks_created"]) == (
        "test-flood", "1", 3, 5)
    assert result["unresolved"] == [{"task": "fire-standby", "owner": "line:fire@affected_towns", "area": EAST,
                                     "area_name": "东街道"}]  # the east town has no fire station: said, not dropped
    assert body["activation"]["was"] == {"response_level": None}
    tasks = by_key(task_list(desk, made["id"]))
    assert set(tasks) == {("watch", "C"), ("town-duty", f"S-{WEST}"), ("town-duty", f"S-{EAST}"),
                          ("fire-standby", f"B-fire-{WEST}"), ("pumps", "D-water")}
    local = dt.timezone(dt.timedelta(hours=8))
    due = {k: dt.datetime.fromisoformat(t["due_at"]).astimezone(local) for k, t in tasks.items()}
    assert due[("watch", "C")] == dt.datetime(2026, 6, 7, 0, 0, tzinfo=local)  # Sunday midnight: natural time
    assert due[("pumps", "D-water")] == dt.datetime(2026, 6, 7, 1, 0, tzinfo=local)
    assert all(t["state"] == "assigned" and t["exercise"] is False and t["level"] in (3, 4) for t in tasks.values())
    assert tasks[("pumps", "D-water")]["ack_required"] is False
    assert body["activations"][0] | {"at": None} == {
        "id": result["activation_id"], "plan": "test-flood", "plan_version": "1", "response_level": 3,
        "raised_from": None, "by": "commander", "at": None, "exercise": False, "tasks_created": 5,
        "unresolved": result["unresolved"]}
    assert {p["code"] for p in body["proposed_plans"]} == {"typhoon-flood"}  # test-flood runs at 3 already
    entry = log_of(desk, made["id"])[-1]
    assert (entry["action"], entry["payload"]["plans"][0]["unresolved"]) == ("activate", result["unresolved"])
    ids = unit_ids(world)
    with unit_of_work(world) as s:
        told = s.execute(select(Notification.unit_id, Notification.kind, Notification.details).where(
            Notification.case_id.is_(None))).all()
    mine = [(u, k, d) for u, k, d in told if d.get("incident_id") == made["id"]]
    assert sorted((u, k) for u, k, _ in mine) == sorted(
        [(ids[code], "task_assigned") for _, code in tasks] + [(ids["D-fire"], "plan_activated")])
    assert all(d["incident_number"] == made["number"] for _, _, d in mine)
    note = f"{made['number']} 街镇进入值班状态"
    assert f"新的应急任务：{note} (New emergency task: {note})" in [
        n["message"] for n in desk.get("west_handler", "/api/v1/notifications").json()]


def test_raising_the_response_level_adds_the_higher_levels_tasks_once(world):
    desk = Desk(world, SATURDAY_NIGHT + minutes(120))
    iid = assessed(desk, **TYPHOON, grade=3, area_codes=[WEST, f"{EAST}001"])
    assert activate(desk, iid, 3).status_code == 200
    desk.now += minutes(10)
    raised = desk.act("commander", iid, "regrade", grade=2, response_level=2)
    assert raised.status_code == 200 and raised.json()["response_level"] == 2
    entry = log_of(desk, iid)[-1]
    assert entry["action"] == "regrade" and [(p["plan"], p["raised_from"], p["response_level"], p["tasks_created"])
                                             for p in entry["payload"]["plans"]] == [("test-flood", 3, 2, 3)]
    residents = [t for t in task_list(desk, iid) if t["key"] == "residents"]
    assert sorted(t["owner"]["code"] for t in residents) == [f"W-{WEST}001", f"W-{WEST}002", f"W-{EAST}001"]
    assert {t["due_at"] for t in residents} == {(desk.now + minutes(120)).isoformat()}
    for level, code in ((2, "plan_already_active"), (3, "below_response_level")):
        again = activate(desk, iid, level)
        assert (again.status_code, again.json()["code"]) == (409, code), again.text
    desk.now += minutes(10)
    top = activate(desk, iid, 1).json()  # activating again, higher: the same raise
    assert top["response_level"] == 1 and [(p["raised_from"], p["tasks_created"]) for p in
                                           top["activation"]["plans"]] == [(2, 3)]
    items = task_list(desk, iid)
    assert len(items) == 11 and len({(t["key"], t["owner"]["code"]) for t in items}) == 11  # no duplicates
    assert [(a["response_level"], a["raised_from"]) for a in top["activations"]] == [(3, None), (2, 3), (1, 2)]
    assert desk.act("commander", iid, "regrade", response_level=1).status_code == 200  # nothing new to add
    assert len(task_list(desk, iid)) == 11


def test_activation_refusals(world):
    desk = Desk(world, SATURDAY_NIGHT)
    gas = assessed(desk)
    typhoon = assessed(desk, **TYPHOON)
    fresh = desk.report(**TYPHOON)["id"]  # a plan runs after 研判, not before
    early = activate(desk, fresh, 3)
    assert (early.status_code, early.json()["code"]) == (409, "not_allowed_in_state"), early.text
    # a town's commander sees the typhoon (its place is in the west town) but does not command it: the place lies
    # in the west, yet the east town is affected too
    spread = assessed(desk, **TYPHOON, area_codes=[WEST, f"{EAST}001"])
    town = activate(desk, spread, 3, "west_commander")
    assert (town.status_code, town.json()["code"]) == (403, "not_commander"), town.text
    assert "regrade" not in desk.get("west_commander", f"/api/v1/incidents/{spread}").json()["allowed_actions"]
    own = assessed(desk, **TYPHOON, area_codes=[WEST])  # all within the west town: its commander runs it
    assert activate(desk, own, 4, "west_commander").status_code == 200
    for incident, user, level, code, status in (
            (gas, "commander", 3, "plan_category_mismatch", 422), (typhoon, "commander", 3, "plan_not_found", 404),
            (typhoon, "dispatcher", 3, "role_needed", 403)):
        r = activate(desk, incident, level, user, code="nowhere" if code == "plan_not_found" else "test-flood")
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert activate(desk, typhoon, 5).json()["code"] == "invalid_field"
    assert activate(desk, typhoon, 3, "west_handler").status_code in (403, 404)
    assert desk.act("commander", typhoon, "stand_down", reason="误报").status_code == 200
    closed = activate(desk, typhoon, 3)
    assert (closed.status_code, closed.json()["code"], closed.json()["allowed_actions"]) == (
        409, "not_allowed_in_state", [])


# --- tasks ----------------------------------------------------------------------------------------------------

def test_task_actions_by_their_units_and_on_behalf(world):
    desk = Desk(world, SATURDAY_NIGHT + minutes(300))
    iid = assessed(desk, **TYPHOON, grade=2, area_codes=[WEST, f"{EAST}001"])
    assert activate(desk, iid, 2).status_code == 200
    tasks = by_key(task_list(desk, iid))
    mine = tasks[("residents", f"W-{WEST}001")]
    assert mine["allowed_actions"] == ["ack"] and task_list(desk, iid, "ws_west1")
    early = task_act(desk, "ws_west1", mine["id"], "start")
    assert (early.status_code, early.json()["code"], early.json()["allowed_actions"]) == (409, "ack_first", ["ack"])
    stranger = task_act(desk, "east_handler", mine["id"], "ack")
    assert (stranger.status_code, stranger.json()["code"]) == (403, "not_task_owner")
    assert stranger.json()["allowed_actions"] == []
    desk.now += minutes(5)
    acked = task_act(desk, "ws_west1", mine["id"], "ack", note="收到")
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    assert (acked.json()["acked_by"], acked.json()["acked_on_behalf"]) == ("ws_west1", False)
    twice = task_act(desk, "ws_west1", mine["id"], "ack")
    assert (twice.status_code, twice.json()["code"], twice.json()["allowed_actions"]) == (
        409, "not_allowed_in_state", ["start"])
    assert task_act(desk, "ws_west1", mine["id"], "start").json()["state"] == "in_progress"
    nothing = task_act(desk, "ws_west1", mine["id"], "done", report="  ")
    assert (nothing.status_code, nothing.json()["code"], nothing.json()["params"]["field"]) == (
        422, "missing_field", "report")
    done = task_act(desk, "ws_west1", mine["id"], "done", report="已排查 42 户，转移准备就绪")
    assert done.json()["state"] == "done" and done.json()["report"].startswith("已排查") and \
        done.json()["allowed_actions"] == []
    # a unit heading the owner acts for it: the sub-centre for its workstation, the department for its station
    other = tasks[("residents", f"W-{WEST}002")]
    assert task_act(desk, "west_handler", other["id"], "ack").json()["acked_by"] == "west_handler"
    station = tasks[("fire-standby", f"B-fire-{WEST}")]
    assert task_act(desk, "fire_hq", station["id"], "ack").status_code == 200
    assert task_act(desk, "fire_west", tasks[("watch", "C")]["id"], "ack").json()["code"] == "not_task_owner"
    # the commander's own unit's task: "on behalf" of itself is its own acknowledgement, not marked as a phone call
    own = task_act(desk, "commander", tasks[("watch", "C")]["id"], "ack", on_behalf=True)
    assert own.status_code == 200 and own.json()["acked_on_behalf"] is False
    # the commander records an acknowledgement given by phone, marked as such
    east = tasks[("town-duty", f"S-{EAST}")]
    assert "ack" in east["allowed_actions"]
    phoned = task_act(desk, "commander", east["id"], "ack", on_behalf=True, note="东街道值班长电话确认")
    assert phoned.status_code == 200 and phoned.json()["acked_on_behalf"] is True
    assert phoned.json()["ack_note"] == "东街道值班长电话确认"
    assert task_act(desk, "ws_west1", tasks[("residents", f"W-{EAST}001")]["id"], "ack",
                    on_behalf=True).json()["code"] == "role_needed"
    # without acknowledgement asked, a task starts at once
    pumps = tasks[("pumps", "D-water")]
    assert task_act(desk, "commander", pumps["id"], "start").json()["state"] == "in_progress"
    # the one history: each task event is an entry of the incident's log
    entries = [e for e in log_of(desk, iid) if e["kind"] == "task"]
    assert [(e["action"], e["payload"]["key"]) for e in entries][:4] == [
        ("task_ack", "residents"), ("task_start", "residents"), ("task_done", "residents"), ("task_ack", "residents")]
    behalf = next(e for e in entries if e["payload"]["task_id"] == east["id"])
    assert behalf["payload"]["on_behalf"] is True and behalf["actor"] == "commander"
    assert all(e["to"] == "responding" for e in entries)  # task events leave the incident's state as it is
    # refusals by visibility, role and version
    assert task_act(desk, "citizen_c", east["id"], "start").json()["code"] == "task_not_found"  # sees nothing
    assert task_act(desk, "commander", 10**9, "ack").json()["code"] == "task_not_found"
    assert task_act(desk, "commander", east["id"], "fly").json()["code"] == "unknown_action"
    stale = task_act(desk, "commander", east["id"], "start", version=1)
    assert (stale.status_code, stale.json()["code"], stale.json()["stale"]) == (409, "stale", True)


def test_a_task_outside_the_callers_sight_is_not_found(world):
    desk = Desk(world, SATURDAY_NIGHT + minutes(400))
    iid = assessed(desk, **TYPHOON, area_codes=[WEST])
    assert activate(desk, iid, 4).status_code == 200
    west = by_key(task_list(desk, iid))[("town-duty", f"S-{WEST}")]
    for r in (desk.get("east_handler", f"/api/v1/tasks/{west['id']}"),
              task_act(desk, "east_handler", west["id"], "ack"),
              desk.get("east_handler", f"/api/v1/incidents/{iid}/tasks")):
        assert r.status_code == 404, r.text
    assert desk.get("west_handler", f"/api/v1/tasks/{west['id']}").json()["allowed_actions"] == ["ack"]
    assert [t["key"] for t in desk.get("west_handler", f"/api/v1/incidents/{iid}/tasks", mine=True).json()[
        "items"]] == ["town-duty"]


# --- escalation -----------------------------------------------------------------------------------------------

def test_the_sweep_escalates_each_task_once_per_kind(world):
    start = dt.datetime(2026, 8, 1, 14, 0, tzinfo=dt.UTC)  # 22:00 on a Saturday in Shanghai
    desk = Desk(world, start)
    iid = assessed(desk, **TYPHOON, area_codes=[WEST], commander="commander")
    assert activate(desk, iid, 4).status_code == 200
    tasks = by_key(task_list(desk, iid))
    watch, duty = tasks[("watch", "C")]["id"], tasks[("town-duty", f"S-{WEST}")]["id"]
    desk.now = start + minutes(5)
    assert task_act(desk, "west_handler", duty, "ack").status_code == 200
    assert {watch, duty}.isdisjoint(sum(sweep(world, start + minutes(14)).values(), []))
    first = sweep(world, start + minutes(16))
    assert watch in first["unacknowledged"] and duty not in first["unacknowledged"]
    assert {watch, duty}.isdisjoint(sum(sweep(world, start + minutes(16)).values(), []))  # twice: once
    late = sweep(world, start + minutes(31))
    assert watch in late["late"] and watch not in late["unacknowledged"] and duty not in late["late"]
    assert watch not in sweep(world, start + minutes(40))["late"]
    assert duty in sweep(world, start + minutes(61))["late"]  # acknowledged, but not done in time
    assert duty not in sweep(world, start + minutes(90))["late"]
    desk.now = start + minutes(90)
    got = desk.get("commander", f"/api/v1/tasks/{watch}").json()
    assert got["ack_escalated_at"] == (start + minutes(16)).isoformat()
    assert got["late_escalated_at"] == (start + minutes(31)).isoformat() and got["late"] and got["unacknowledged"]
    escalations = [(e["action"], e["payload"]["task_id"]) for e in log_of(desk, iid)
                   if e["action"] in ("task_unacked", "task_late")]
    assert escalations == [("task_unacked", watch), ("task_late", watch), ("task_late", duty)]
    ids = unit_ids(world)
    with unit_of_work(world) as s:
        told = s.execute(select(Notification.unit_id, Notification.kind, Notification.details).where(
            Notification.kind.in_(("task_unacked", "task_late")))).all()
    about = sorted((d["task_id"], k, u) for u, k, d in told if d["task_id"] in (watch, duty))
    assert about == sorted([(watch, "task_unacked", ids["C"]), (watch, "task_late", ids["C"]),
                            (duty, "task_late", ids[f"S-{WEST}"]), (duty, "task_late", ids["C"])])
    assert desk.get("commander", f"/api/v1/incidents/{iid}").json()["tasks"]["late"] == 2


def test_two_sweeps_at_once_escalate_a_task_once(world):
    """The first sweep claims the task and has not committed yet when the second runs: the second waits for the
    claim and leaves the task alone."""
    start = dt.datetime(2026, 8, 8, 14, 0, tzinfo=dt.UTC)
    desk = Desk(world, start)
    iid = assessed(desk, **TYPHOON, area_codes=[WEST])
    assert activate(desk, iid, 4).status_code == 200
    watch = by_key(task_list(desk, iid))[("watch", "C")]["id"]
    first = session_factory(world)()
    try:
        claimed = task_sweep.sweep(first, start + minutes(16), ack_minutes=15)
        second: dict = {}
        rival = threading.Thread(target=lambda: second.update(sweep(world, start + minutes(16))))
        rival.start()
        time.sleep(0.3)
        first.commit()
    finally:
        first.close()
    rival.join(30)
    assert watch in claimed["unacknowledged"] and watch not in second["unacknowledged"]
    entries = [e for e in log_of(desk, iid) if e["action"] == "task_unacked"]
    assert [e["payload"]["task_id"] for e in entries] == [watch, by_key(task_list(desk, iid))[
        ("town-duty", f"S-{WEST}")]["id"]]


def _centre_commander(world) -> Identity:
    with unit_of_work(world) as s:
        return Identity(roles=frozenset({"commander"}), unit_id=s.scalar(select(Unit.id).where(Unit.code == "C")),
                        username="commander")


def _held(world, work, then) -> None:
    """Run ``work(session)`` in a transaction kept open while ``then()`` runs in another thread, then commit."""
    first = session_factory(world)()
    rival = None
    try:
        work(first)
        rival = threading.Thread(target=then)
        rival.start()
        time.sleep(0.4)  # the rival has read what it reads and waits on the incident now
        first.commit()
    finally:
        first.close()
        if rival is not None:
            rival.join(30)


def test_two_task_events_at_once_take_their_own_log_numbers(world):
    """Two units acknowledge at the same moment: the second waits for the incident's lock, numbers its log entry
    after the first's, and both are stored."""
    now = dt.datetime(2026, 8, 10, 3, 0, tzinfo=dt.UTC)
    desk = Desk(world, now)
    iid = assessed(desk, **TYPHOON, area_codes=[WEST])
    assert activate(desk, iid, 4).status_code == 200
    tasks = by_key(task_list(desk, iid))
    one, two = tasks[("watch", "C")]["id"], tasks[("town-duty", f"S-{WEST}")]["id"]
    me, errors = _centre_commander(world), []

    def second():
        try:
            with unit_of_work(world) as s:
                task_actions.act(s, two, "ack", me, {"on_behalf": True}, now)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    _held(world, lambda s: task_actions.act(s, one, "ack", me, {}, now), second)
    assert errors == []
    acks = [e for e in log_of(desk, iid) if e["action"] == "task_ack"]
    assert sorted(e["payload"]["task_id"] for e in acks) == sorted([one, two])
    seqs = [e["seq"] for e in log_of(desk, iid)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_two_activations_at_once_one_wins_the_other_is_stale(world):
    now = dt.datetime(2026, 8, 11, 3, 0, tzinfo=dt.UTC)
    desk = Desk(world, now)
    iid = assessed(desk, **TYPHOON, area_codes=[WEST])
    assert desk.act("commander", iid, "respond", response_level=4).status_code == 200  # no level to change
    me, outcome = _centre_commander(world), []

    def second():
        try:
            with unit_of_work(world) as s:
                actions.activate(s, iid, "test-flood", me, {"response_level": 4}, now)
            outcome.append("activated")
        except Stale as exc:
            outcome.append(exc.code)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            outcome.append(repr(exc))

    _held(world, lambda s: actions.activate(s, iid, "test-flood", me, {"response_level": 4}, now), second)
    assert outcome == ["stale"]
    assert len(desk.get("commander", f"/api/v1/incidents/{iid}").json()["activations"]) == 1


def test_the_running_app_sweeps_plan_tasks(world):
    start = dt.datetime(2026, 8, 9, 14, 0, tzinfo=dt.UTC)
    desk = Desk(world, start)
    iid = assessed(desk, **TYPHOON, area_codes=[WEST])
    assert activate(desk, iid, 4).status_code == 200
    watch = by_key(task_list(desk, iid))[("watch", "C")]["id"]
    settings = Settings(database_url=world, index_check_seconds=0, sweep_seconds=0.05, task_ack_minutes=15)
    with TestClient(create_app(settings, clock=lambda: start + minutes(20))):
        for _ in range(200):
            with unit_of_work(world) as s:
                if s.get(Task, watch).ack_escalated_at is not None:
                    break
            time.sleep(0.05)
    with unit_of_work(world) as s:
        assert s.get(Task, watch).ack_escalated_at == start + minutes(20)


# --- standing down ------------------------------------------------------------------------------------------------

def test_standing_down_cancels_the_open_tasks(world):
    start = dt.datetime(2026, 8, 2, 2, 0, tzinfo=dt.UTC)
    desk = Desk(world, start)
    iid = assessed(desk, **TYPHOON, area_codes=[WEST])
    assert activate(desk, iid, 3).status_code == 200
    tasks = by_key(task_list(desk, iid))
    pumps, duty = tasks[("pumps", "D-water")]["id"], tasks[("town-duty", f"S-{WEST}")]["id"]
    task_act(desk, "commander", pumps, "start")
    task_act(desk, "commander", pumps, "done", report="泵站已预降水位")
    task_act(desk, "west_handler", duty, "ack")
    desk.now = start + minutes(30)
    down = desk.act("commander", iid, "stand_down", reason="台风转向，解除响应")
    assert down.status_code == 200, down.text
    states = {k: t["state"] for k, t in by_key(task_list(desk, iid)).items()}
    assert states.pop(("pumps", "D-water")) == "done" and set(states.values()) == {"cancelled"}
    cancelled = log_of(desk, iid)[-1]["payload"]["cancelled_tasks"]
    assert sorted(c["id"] for c in cancelled) == sorted(t["id"] for k, t in tasks.items() if k != ("pumps", "D-water"))
    assert next(c for c in cancelled if c["id"] == duty)["state"] == "acknowledged"
    assert task_act(desk, "west_handler", duty, "start").json()["allowed_actions"] == []
    assert duty not in sum(sweep(world, start + minutes(600)).values(), [])  # cancelled: never escalated
    assert down.json()["tasks"]["by_state"]["cancelled"] == len(cancelled)
    # the open task whose plan names a routine matter goes back as a case, tied to the incident: one history
    [handed] = log_of(desk, iid)[-1]["payload"]["handed_back"]
    assert (handed["task_id"], handed["key"], handed["matter"]) == (duty, "town-duty", "06013")
    case = desk.get("commander", f"/api/v1/cases/{handed['case_id']}").json()
    assert (case["matter_code"], case["channel"], case["state"]) == ("06013", "department_transfer", "reported")
    assert case["incidents"] == [{"id": iid, "number": down.json()["number"]}]
    assert [(c["id"], c["how"]) for c in down.json()["cases"]] == [(handed["case_id"], "handback")]


def test_handed_back_work_lands_where_each_owner_works(world):
    """A typhoon over two towns: each town's open duty goes back as a case in that town (routed there), not at the
    incident's one point; closing hands back as standing down does."""
    start = dt.datetime(2026, 8, 3, 2, 0, tzinfo=dt.UTC)
    desk = Desk(world, start)
    iid = assessed(desk, **TYPHOON, area_codes=[WEST, f"{EAST}001"])
    assert activate(desk, iid, 4).status_code == 200
    desk.now = start + minutes(20)
    assert desk.act("commander", iid, "contain").status_code == 200
    closed = desk.act("commander", iid, "close")
    assert closed.status_code == 200, closed.text
    handed = log_of(desk, iid)[-1]["payload"]["handed_back"]
    grids = {h["task_id"]: desk.get("commander", f"/api/v1/cases/{h['case_id']}").json()["grid_code"] for h in handed}
    towns = {t["id"]: t["owner"]["code"] for t in task_list(desk, iid) if t["key"] == "town-duty"}
    assert sorted(towns.values()) == sorted([f"S-{WEST}", f"S-{EAST}"]) and set(grids) == set(towns)
    for task_id, grid in grids.items():
        assert grid.startswith(towns[task_id].removeprefix("S-")), (towns[task_id], grid)


def test_only_who_commands_acknowledges_on_a_units_behalf(world):
    """A town's commander sees the district typhoon that touches it but does not command it: no acknowledgement
    recorded for another town's unit; the centre's commander may."""
    desk = Desk(world, dt.datetime(2026, 8, 4, 2, 0, tzinfo=dt.UTC))
    iid = assessed(desk, **TYPHOON, area_codes=[WEST, f"{EAST}001"])
    assert activate(desk, iid, 4).status_code == 200
    east = by_key(task_list(desk, iid))[("town-duty", f"S-{EAST}")]
    seen = desk.get("west_commander", f"/api/v1/tasks/{east['id']}").json()
    assert "ack" not in seen["allowed_actions"]
    r = task_act(desk, "west_commander", east["id"], "ack", on_behalf=True, note="电话")
    assert (r.status_code, r.json()["code"]) == (403, "not_commander"), r.text
    assert task_act(desk, "commander", east["id"], "ack", on_behalf=True, note="电话").json()["acked_on_behalf"]


# --- drills -------------------------------------------------------------------------------------------------------

def test_a_drill_runs_the_same_and_stays_out_of_real_figures(world):
    start = dt.datetime(2026, 9, 5, 1, 0, tzinfo=dt.UTC)
    desk = Desk(world, start)
    real_before = desk.get("leader", "/api/v1/tasks/figures", days=400).json()
    drills_before = desk.get("leader", "/api/v1/tasks/figures", days=400, exercise=True).json()
    iid = assessed(desk, **TYPHOON, area_codes=[WEST], exercise=True)
    body = activate(desk, iid, 4).json()
    assert body["activations"][0]["exercise"] is True
    tasks = task_list(desk, iid)
    assert len(tasks) == 2 and all(t["exercise"] for t in tasks)
    duty = next(t for t in tasks if t["key"] == "town-duty")
    assert task_act(desk, "west_handler", duty["id"], "ack").status_code == 200
    assert duty["id"] in sweep(world, start + minutes(61))["late"]  # escalated like any task
    with unit_of_work(world) as s:
        assert all(d.get("exercise") is True for (d,) in s.execute(select(Notification.details).where(
            Notification.case_id.is_(None))) if d.get("incident_id") == iid)
    desk.now = start + minutes(70)
    real = desk.get("leader", "/api/v1/tasks/figures", days=400).json()
    drills = desk.get("leader", "/api/v1/tasks/figures", days=400, exercise=True).json()
    assert real["tasks"] == real_before["tasks"]
    assert (drills["tasks"], drills["acknowledged"]) == (drills_before["tasks"] + 2, drills_before["acknowledged"] + 1)
    assert drills["escalated_late"] >= 2 and drills["exercise"] is True


# --- proposals ----------------------------------------------------------------------------------------------------

def test_proposals_follow_the_conditions(world):
    desk = Desk(world, SATURDAY_NIGHT + minutes(600))
    one_town = desk.report(**TYPHOON, grade=1, area_codes=[WEST])["id"]
    proposed = desk.act("commander", one_town, "verify").json()["proposed_plans"]
    assert {p["code"]: p["response_level"] for p in proposed} == {"test-flood": 2, "typhoon-flood": 1}  # min_towns
    two_towns = desk.report(**TYPHOON, grade=4, lon=EAST_POINT[0], lat=EAST_POINT[1], area_codes=[WEST])["id"]
    assert {p["code"]: p["response_level"] for p in desk.act("commander", two_towns, "verify").json()[
        "proposed_plans"]} == {"test-flood": 4, "typhoon-flood": 4}
    regraded = desk.act("commander", two_towns, "regrade", grade=1).json()["proposed_plans"]
    assert {p["code"]: p["response_level"] for p in regraded} == {"test-flood": 1, "typhoon-flood": 1}
    crash = desk.report(title="货车侧翻", type="交通事故")["id"]
    assert desk.act("commander", crash, "verify").json()["proposed_plans"] == []  # no plan of that type
    gas = desk.report()["id"]
    assert [p["code"] for p in desk.act("commander", gas, "verify").json()["proposed_plans"]] == ["gas-leak"]


# --- the library ----------------------------------------------------------------------------------------------------

def test_every_demo_plan_loads(world):
    docs, problems = loader.read_dir(library.PACKAGED)
    assert problems == [] and {d.code for d, _ in docs} == {"typhoon-flood", "gas-leak", "hazchem", "crowd"}
    for doc, _ in docs:
        assert sorted(lv.level for lv in doc.levels) == [1, 2, 3, 4] and doc.resources and all(
            lv.tasks for lv in doc.levels)
    desk = Desk(world, SATURDAY_NIGHT)
    listed = {p["code"]: p for p in desk.get("dispatcher", "/api/v1/plans").json()}
    assert {"typhoon-flood", "gas-leak", "hazchem", "crowd", "test-flood"} <= set(listed)
    assert listed["gas-leak"]["version"] == "1.2.0" and listed["typhoon-flood"]["category"] == "natural"
    one = desk.get("dispatcher", "/api/v1/plans/typhoon-flood").json()
    assert one["document"]["levels"][0]["tasks"][1]["owner"] == {"line": "water"}
    assert [v["version"] for v in one["versions"]] == ["4"]
    assert desk.get("dispatcher", "/api/v1/plans/nowhere").json()["code"] == "plan_not_found"
    assert desk.get("dispatcher", "/api/v1/plans/crowd", version="9").status_code == 404


def test_the_demo_typhoon_plan_runs_in_a_district(world):
    """The demo plan against the small district: every task resolved or named as unresolved."""
    desk = Desk(world, SATURDAY_NIGHT + minutes(900))
    iid = assessed(desk, **TYPHOON, grade=1, area_codes=[WEST, EAST])
    body = activate(desk, iid, 1, code="typhoon-flood").json()
    [result] = body["activation"]["plans"]
    assert result["plan_version"] == "4" and result["tasks_created"] == len(task_list(desk, iid)) > 0
    missing = {(u.get("task") or u.get("notify"), u.get("area")) for u in result["unresolved"]}
    assert ("old-housing", WEST) in missing and ("rescue-forward", None) not in missing  # D-fire exists
    assert ("station-standby", EAST) in missing and ("station-standby", WEST) not in missing
    # the plan's resources, with where their holders stand (the board's map); a line without a unit holds none
    held = {r["name"]: r["holders"] for r in body["resources"]}
    assert [h["code"] for h in held["冲锋舟"]] == ["D-fire"] and held["冲锋舟"][0]["lon"] is not None
    assert held["折叠床"] == []  # no civil-affairs department in this district


def test_plan_versions_never_change(world, tmp_path):
    edited = TEST_PLAN.replace("version: 1", "version: 2").replace("加强值守", "加强值守，每小时报告")
    (tmp_path / "test-flood.yaml").write_text(TEST_PLAN.replace("加强值守", "改过的值守"), encoding="utf-8")
    with unit_of_work(world) as s:
        result = library.sync(s, loader.read_dir(tmp_path)[0])
    assert result["loaded"] == [] and "give the changed plan a new version" in result["refused"][0]
    desk = Desk(world, SATURDAY_NIGHT + minutes(1000))
    iid = assessed(desk, **TYPHOON, area_codes=[WEST])
    assert activate(desk, iid, 4).json()["activation"]["plans"][0]["plan_version"] == "1"
    (tmp_path / "test-flood.yaml").write_text(edited, encoding="utf-8")
    with unit_of_work(world) as s:
        assert library.sync(s, loader.read_dir(tmp_path)[0])["loaded"] == ["test-flood@2"]
    assert desk.get("leader", "/api/v1/plans/test-flood").json()["version"] == "2"
    raised = activate(desk, iid, 3).json()["activation"]["plans"][0]
    assert raised["plan_version"] == "1" and raised["raised_from"] == 4  # the incident keeps its version
    other = assessed(desk, **TYPHOON, area_codes=[WEST])
    assert activate(desk, other, 4).json()["activation"]["plans"][0]["plan_version"] == "2"
    with unit_of_work(world) as s:
        assert s.scalar(select(func.count()).select_from(Plan).where(Plan.code == "test-flood")) == 2
    # a lower version loaded later (a branch, an old file put back) does not become current: the highest is
    (tmp_path / "test-flood.yaml").write_text(TEST_PLAN.replace("version: 1", 'version: "1.10.0"'), encoding="utf-8")
    with unit_of_work(world) as s:
        assert library.sync(s, loader.read_dir(tmp_path)[0])["loaded"] == ["test-flood@1.10.0"]
        assert library.get(s, "test-flood").version == "2"
        assert [p.version for p in library.current(s) if p.code == "test-flood"] == ["2"]


# --- broken plan files ----------------------------------------------------------------------------------------------

GOOD = textwrap.dedent("""\
    code: broken
    name: 测试预案
    version: 1
    category: accident
    types: [燃气泄漏]
    levels:
      - level: 4
        name: 四级响应
        conditions:
          min_grade: 4
        tasks:
          - key: first
            title: 先期处置
            owner: sub_centre_of_affected_towns
            deadline_minutes: 15
      - level: 3
        name: 三级响应
        conditions:
          min_grade: 3
        tasks:
          - key: second
            title: 抢修
            owner: {line: construction_transport}
            deadline_minutes: 30
    """)
BROKEN = [  # (what is changed, replaced by, the line, the field, words of the message)
    ("owner: sub_centre_of_affected_towns", "owner: sub_centre", 14, "levels[0].tasks[0].owner",
     "unknown unit selector"),
    ("owner: {line: construction_transport}", "owner: {line: navy}", 23, "levels[1].tasks[0].owner",
     "unknown department line 'navy'"),
    ("        deadline_minutes: 15\n", "", 12, "levels[0].tasks[0].deadline_minutes", "Field required"),
    ("deadline_minutes: 15", "deadline_minutes: '15'", 15, "levels[0].tasks[0].deadline_minutes",
     "valid integer"),
    ("version: 1", "version: 1.0", 3, "version", "integer or a quoted semver"),
    ("category: accident", "category: weather", 4, "category", "Input should be"),
    ("        title: 先期处置", "        titel: 先期处置", 13, "levels[0].tasks[0].titel", "unknown field"),
    ("      - key: second", "      - key: first", 21, "levels[1].tasks[0].key", "used twice"),
    ("      min_grade: 3", "      min_grade: 4\n      min_grade: 3", 20, "levels[1].conditions.min_grade",
     "given twice"),
    ("  - level: 3", "  - level: 4", 16, "levels[1].level", "given twice"),
    ("types: [燃气泄漏]", "types: [燃气泄漏", 6, "", "not valid YAML"),
    ("name: 测试预案", "name: &n 测试预案\nalias: *n", 3, "", "anchors and aliases"),
]


@pytest.mark.parametrize(("old", "new", "line", "field", "words"), BROKEN, ids=[b[3] or b[4][:14] for b in BROKEN])
def test_a_broken_plan_is_refused_naming_file_line_and_field(old, new, line, field, words):
    assert loader.read_text(GOOD, "broken.yaml").code == "broken"
    assert old in GOOD
    with pytest.raises(loader.PlanInvalid) as err:
        loader.read_text(GOOD.replace(old, new, 1), "broken.yaml")
    problems = [p for p in err.value.problems if p.field == field]
    assert problems, err.value.details
    assert (problems[0].file, problems[0].line) == ("broken.yaml", line), err.value.details
    assert words in problems[0].message and str(problems[0]).startswith(f"broken.yaml:{line}: ")


def test_conditions_may_not_loosen_as_the_level_rises():
    loose = GOOD.replace("      min_grade: 3", "      min_grade: 4", 1)
    loose = loose.replace("      min_grade: 4", "      min_grade: 2", 1)  # level 4 asks Ⅱ, level 3 asks Ⅳ
    with pytest.raises(loader.PlanInvalid) as err:
        loader.read_text(loose, "loose.yaml")
    assert err.value.details == ["loose.yaml:19: levels[1].conditions.min_grade: level 3 asks a lesser grade (4) than "
                                 "level 4 (2): a higher response needs a graver incident"]


def test_plans_check_on_the_command_line(tmp_path: Path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(GOOD.replace("deadline_minutes: 30", "deadline_minutes: soon"), encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(cli, ["plans", "check", str(good)])
    assert ok.exit_code == 0 and "broken version 1" in ok.output
    refused = runner.invoke(cli, ["plans", "check", str(good), str(bad)])
    assert refused.exit_code == 1 and "bad.yaml:24: levels[1].tasks[0].deadline_minutes:" in refused.output



def test_the_live_predicate_agrees_with_the_sql_rule_for_task_holders(world):
    """With tasks in play: a department sees the incidents its units hold tasks in (assigned_only), a town the
    ones placed or touching it — and the live predicate decides exactly as the SQL filter."""
    desk = Desk(world, dt.datetime(2026, 8, 12, 2, 0, tzinfo=dt.UTC))
    assert activate(desk, assessed(desk, **TYPHOON, area_codes=[WEST, f"{EAST}001"]), 3).status_code == 200
    with unit_of_work(world) as s:
        people = {u.username: Identity(user_id=u.id, username=u.username, unit_id=u.unit_id, roles=tuple(u.roles),
                                       scope=scope_for(s, u),
                                       assigned_only=s.get(Unit, u.unit_id).kind in ASSIGNED_ONLY_KINDS)
                  for u in s.scalars(select(User))}
        items = {i["incident_id"]: i for i in live_events.read(s, 0, limit=10**6)}
        for name, caller in people.items():
            sql = set(s.scalars(visibility.visible(select(Incident.id), caller)))
            sees = live_events.predicate(visibility.watcher(s, caller))
            assert {i for i, item in items.items() if sees(item)} == sql, name
        assert set(s.scalars(visibility.visible(select(Incident.id), people["fire_hq"])))  # it holds tasks
