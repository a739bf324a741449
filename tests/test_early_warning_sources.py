"""Early warnings over safety hazards and disputes as well as cases (issue 12, part 4), on both backends: a burst of
gas hazards on a quiet background is found by the scan, its warning carries the hazard ids and no case ids (the
cases reported there meanwhile are not mixed in), and the same for disputes; what does not count — rejected hazards,
campaign findings, cases a hazard was handed over as — raises nothing; the API lists the three evidence lists and
describes only the evidence rows the caller may see (each register's own rule); migration 0027 goes down and up."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from alembic import command
from sqlalchemy import inspect, select

from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.auth.service import create_user
from liandong.cases import intake
from liandong.db import alembic_config, dispose_engine, get_engine, migrate, unit_of_work
from liandong.screening import campaigns, disputes, early_warnings, hazards
from liandong.screening.campaign_payloads import CampaignIn, VisitIn
from liandong.screening.dispute_payloads import DisputeIn
from liandong.screening.early_warning_input import case_reports, hazard_reports
from liandong.screening.early_warning_models import EarlyWarning
from liandong.screening.hazard_actions import REGISTER as HAZARD_ACTIONS
from liandong.screening.hazard_models import Hazard
from liandong.screening.hazard_payloads import HazardIn
from liandong.screening.warning.events import DAY, HOUR, Neighbourhood, Reports
from liandong.screening.warning.scan import SpaceTimeScan
from liandong.screening.warning.simulate import lattice
from tests.caseworld import EAST_POINT, WEST_POINT, boss, unit_id
from tests.factories import EAST, PASSWORD, WEST
from tests.test_cli import run
from tests.test_incidents import Desk

T_HAZARDS = dt.datetime(2026, 6, 20, 2, 0, tzinfo=dt.UTC)  # the gas hazards' last report (10:00 in Shanghai)
T_DISPUTES = T_HAZARDS + dt.timedelta(days=2)
T_CAMPAIGN = T_HAZARDS + dt.timedelta(days=4)
T_HANDOVER = T_HAZARDS + dt.timedelta(days=6)
MIDDLE = (121.325, 31.113)
SECTORS = ("fire", "gas", "building", "electric", "traffic", "other")
TYPES = ("family", "neighbour", "land", "labour", "property", "other")
MATTERS = ("06001", "06010", "01001", "09009", "02014")
USERS = (("west_commander", f"S-{WEST}", "commander"), ("east_commander", f"S-{EAST}", "commander"))


def _near(rng, point, n):
    """``n`` points within ~80 m of ``point``."""
    return [(point[0] + rng.uniform(-6e-4, 6e-4), point[1] + rng.uniform(-5e-4, 5e-4)) for _ in range(n)]


def _spread(rng, end, n, hours=4.0):
    """``n`` times over the ``hours`` before ``end``, in order."""
    return [end - dt.timedelta(minutes=float(m)) for m in sorted(rng.uniform(0, hours * 60, n))[::-1]]


def _hazard(s, index, actor, sector, point, at) -> int:
    body = HazardIn(title=f"早研判测试：{sector}", sector=sector, lon=float(point[0]), lat=float(point[1]))
    return hazards.open_hazard(s, index, actor, body, at).id


def _dispute(s, index, actor, kind, point, at) -> int:
    body = DisputeIn(title=f"早研判测试：{kind}", type=kind, parties=[{"name": "张三"}], lon=float(point[0]),
                     lat=float(point[1]))
    return disputes.open_dispute(s, index, actor, body, at).id


def _case(s, index, actor, matter, point, at) -> int:
    case, _ = intake.report(s, index, actor, matter_code=matter, description="早研判测试", lon=float(point[0]),
                            lat=float(point[1]), channel="hotline", now=at)
    return case.id


def _anywhere(rng):
    return rng.uniform(121.302, 121.348), rng.uniform(31.102, 31.124)


@pytest.fixture(scope="module")
def world(case_world):
    """Four weeks of background cases, hazards and disputes all over the district; ten gas hazards within ~80 m
    over four hours in the west (and three cases there meanwhile), eight labour disputes in the east two days
    later."""
    rng = np.random.default_rng(11)
    with unit_of_work(case_world) as s:
        for username, unit, role in USERS:
            create_user(s, username=username, password=PASSWORD, unit_code=unit, roles=[role])
        index, actor = GridIndex.build(s), boss(case_world)
        start = T_HAZARDS - dt.timedelta(days=26)
        for _ in range(80):
            _case(s, index, actor, MATTERS[rng.integers(len(MATTERS))], _anywhere(rng),
                  start + dt.timedelta(seconds=float(rng.uniform(0, 34 * 86400))))
        for _ in range(90):
            _hazard(s, index, actor, SECTORS[rng.integers(len(SECTORS))], _anywhere(rng),
                    start + dt.timedelta(seconds=float(rng.uniform(0, 34 * 86400))))
        for _ in range(90):
            _dispute(s, index, actor, TYPES[rng.integers(len(TYPES))], _anywhere(rng),
                     start + dt.timedelta(seconds=float(rng.uniform(0, 34 * 86400))))
        gas = [_hazard(s, index, actor, "gas", p, at)
               for p, at in zip(_near(rng, WEST_POINT, 10), _spread(rng, T_HAZARDS, 10), strict=True)]
        cases = [_case(s, index, actor, "06010", p, at)
                 for p, at in zip(_near(rng, WEST_POINT, 3), _spread(rng, T_HAZARDS, 3), strict=True)]
        labour = [_dispute(s, index, actor, "labour", p, at)
                  for p, at in zip(_near(rng, EAST_POINT, 8), _spread(rng, T_DISPUTES, 8), strict=True)]
    return {"url": case_world, "gas": gas, "cases": cases, "labour": labour}


def _scan(url, at) -> list[EarlyWarning]:
    with unit_of_work(url) as s:
        outcome = early_warnings.scan(s, at, GridIndex.build(s))
        s.flush()
        found = outcome.found
        s.expunge_all()
        return found


def test_a_burst_of_gas_hazards_is_a_warning_of_hazards(world):
    found = _scan(world["url"], T_HAZARDS + dt.timedelta(minutes=30))
    (w,) = [w for w in found if set(w.hazard_ids) & set(world["gas"])]
    assert w.source == "hazard" and w.status == "new"
    assert len(set(w.hazard_ids) & set(world["gas"])) >= 8 and w.observed == len(w.hazard_ids)
    assert w.case_ids == [] and w.dispute_ids == []  # the cases reported there meanwhile are not mixed in
    assert w.matter_codes[0] == "hazard:gas" and all(k.startswith("hazard:") for k in w.matter_codes)
    assert w.centre_grid_code.startswith(WEST) and w.p_value <= 0.002 and w.expected < w.observed / 3
    for other in found:  # no warning mixes sources
        assert sum(bool(ids) for ids in (other.case_ids, other.hazard_ids, other.dispute_ids)) == 1
        assert not set(other.case_ids) & set(world["cases"]) or other.source == "case"


def test_a_burst_of_labour_disputes_is_a_warning_of_disputes(world):
    found = _scan(world["url"], T_DISPUTES + dt.timedelta(minutes=30))
    (w,) = [w for w in found if set(w.dispute_ids) & set(world["labour"])]
    assert w.source == "dispute" and w.case_ids == [] and w.hazard_ids == []
    assert len(set(w.dispute_ids) & set(world["labour"])) >= 6 and w.matter_codes[0] == "dispute:labour"
    assert w.centre_grid_code.startswith(EAST) and w.p_value <= 0.002


def test_a_rescan_keeps_the_hazard_evidence_in_its_history(world):
    at = T_HAZARDS + dt.timedelta(minutes=90)
    (w,) = [w for w in _scan(world["url"], at) if set(w.hazard_ids) & set(world["gas"])]
    desk = Desk(world["url"], at)
    detail = desk.get("shift_leader", f"/api/v1/early-warnings/{w.id}").json()
    assert [h["kind"] for h in detail["history"]] == ["found", "rescanned"]
    for event in detail["history"]:
        p = event["payload"]
        assert p["observed"] == len(p["hazard_ids"]) and p["case_ids"] == [] and p["dispute_ids"] == []


def test_the_cli_json_names_the_source_and_every_list(world):
    r = run(world["url"], "early-warning", "scan", "--at", (T_HAZARDS + dt.timedelta(minutes=100)).isoformat(),
            "--json")
    assert r.returncode == 0, r.stderr
    (item,) = [i for i in json.loads(r.stdout)["items"] if set(i["hazard_ids"]) & set(world["gas"])]
    assert item["source"] == "hazard" and item["case_ids"] == item["dispute_ids"] == []
    assert item["matter_codes"][0] == "hazard:gas" and item["observed"] == len(item["hazard_ids"])


def test_the_api_lists_every_source_and_shows_only_the_evidence_in_sight(world):
    url = world["url"]
    desk = Desk(url, T_DISPUTES + dt.timedelta(hours=1))
    items = desk.get("shift_leader", "/api/v1/early-warnings", limit=100).json()["items"]
    gas = next(i for i in items if set(i["hazard_ids"]) & set(world["gas"]))
    labour = next(i for i in items if set(i["dispute_ids"]) & set(world["labour"]))
    assert {"id", "matter_codes", "grid_codes", "case_ids", "hazard_ids", "dispute_ids", "observed", "expected",
            "p_value", "status", "source"} <= set(gas)
    assert (gas["source"], gas["case_ids"], gas["dispute_ids"]) == ("hazard", [], [])
    assert (labour["source"], labour["case_ids"], labour["hazard_ids"]) == ("dispute", [], [])

    detail = desk.get("west_commander", f"/api/v1/early-warnings/{gas['id']}").json()
    assert {h["id"] for h in detail["hazards"]} == set(gas["hazard_ids"]) and detail["hidden_hazards"] == 0
    assert detail["cases"] == [] and detail["disputes"] == []
    assert all(h["kind"] == "hazard:gas" and {"number", "created_at", "lon", "lat", "state", "grade"} <= set(h)
               for h in detail["hazards"])
    detail = desk.get("east_commander", f"/api/v1/early-warnings/{labour['id']}").json()
    assert {d["id"] for d in detail["disputes"]} == set(labour["dispute_ids"]) and detail["hidden_disputes"] == 0
    assert all("parties" not in d and d["kind"] == "dispute:labour" for d in detail["disputes"])

    # an evidence row out of the caller's sight is counted, never described (the hazards' and disputes' own rule)
    with unit_of_work(url) as s:
        index, actor = GridIndex.build(s), boss(url)
        east_hazard = _hazard(s, index, actor, "gas", EAST_POINT, T_HAZARDS)
        west_dispute = _dispute(s, index, actor, "labour", WEST_POINT, T_DISPUTES)
        number = s.get(Hazard, east_hazard).number
        s.get(EarlyWarning, gas["id"]).hazard_ids = [*gas["hazard_ids"], east_hazard]
        s.get(EarlyWarning, labour["id"]).dispute_ids = [*labour["dispute_ids"], west_dispute]
    try:
        r = desk.get("west_commander", f"/api/v1/early-warnings/{gas['id']}")
        assert r.json()["hidden_hazards"] == 1 and east_hazard not in {h["id"] for h in r.json()["hazards"]}
        assert number not in r.text
        assert desk.get("shift_leader", f"/api/v1/early-warnings/{gas['id']}").json()["hidden_hazards"] == 0
        detail = desk.get("east_commander", f"/api/v1/early-warnings/{labour['id']}").json()
        assert detail["hidden_disputes"] == 1 and west_dispute not in {d["id"] for d in detail["disputes"]}
    finally:
        with unit_of_work(url) as s:
            s.get(EarlyWarning, gas["id"]).hazard_ids = gas["hazard_ids"]
            s.get(EarlyWarning, labour["id"]).dispute_ids = labour["dispute_ids"]


def test_campaign_findings_raise_no_warning(world):
    """A campaign's team files ten fire hazards on one visit: where the team went, not an emerging cluster."""
    url, actor = world["url"], boss(world["url"])
    rng = np.random.default_rng(5)
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        campaign = campaigns.create(s, actor, CampaignIn(
            name="燃气安全排查", theme="gas", checklist=[{"key": "hose", "question": "软管是否老化"}], area_code=WEST,
            start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30), unit_ids=[unit_id(url, f"B-cm-{WEST}")]),
            T_CAMPAIGN - dt.timedelta(days=1))
        campaigns.act(s, campaign.id, "start", actor, {}, T_CAMPAIGN - dt.timedelta(days=1))
        grid = index.locate(*WEST_POINT).code
        findings = [{"kind": "hazard", "title": "燃气软管老化", "sector": "fire", "lon": p[0], "lat": p[1]}
                    for p in _near(rng, WEST_POINT, 10)]
        visit, _ = campaigns.record_visit(s, index, actor, campaign.id, VisitIn(
            grid_code=grid, answers={"hose": "problem"}, findings=findings), T_CAMPAIGN)
        found = list(visit.hazard_ids)
        window = [r.id for r in hazard_reports(s, T_CAMPAIGN - dt.timedelta(hours=1), T_CAMPAIGN)]
    assert len(found) == 10 and not set(found) & set(window)
    assert not [w for w in _scan(url, T_CAMPAIGN + dt.timedelta(minutes=30)) if set(w.hazard_ids) & set(found)]


def test_rejected_hazards_and_handed_over_cases_do_not_count(world):
    """Eight hazards found over ten days, then handed to a department at once: the cases are the hazards again, at
    the desk's time — no burst of cases. A rejected hazard is no report."""
    url, actor = world["url"], boss(world["url"])
    rng = np.random.default_rng(6)
    with unit_of_work(url) as s:
        index = GridIndex.build(s)
        found = [_hazard(s, index, actor, "electric", p, T_HANDOVER - dt.timedelta(days=float(d)))
                 for p, d in zip(_near(rng, MIDDLE, 8), rng.uniform(1, 10, 8), strict=True)]
        rejected = _hazard(s, index, actor, "gas", MIDDLE, T_HANDOVER - dt.timedelta(hours=2))
        HAZARD_ACTIONS.act(s, rejected, "reject", actor, {"reason": "不是隐患"}, T_HANDOVER - dt.timedelta(hours=1),
                           index)
        for i, hazard_id in enumerate(found):
            at = T_HANDOVER - dt.timedelta(minutes=20 - i)
            HAZARD_ACTIONS.act(s, hazard_id, "file", actor, {}, at, index)
            HAZARD_ACTIONS.act(s, hazard_id, "to_case", actor, {"matter_code": "06001"}, at, index)
        handed = [s.get(Hazard, h).case_id for h in found]
        period = (T_HANDOVER - dt.timedelta(days=11), T_HANDOVER)
        hazard_ids = {r.id for r in hazard_reports(s, *period)}
        case_ids = {r.id for r in case_reports(s, *period)}
    assert set(found) <= hazard_ids and rejected not in hazard_ids
    assert all(handed) and not set(handed) & case_ids
    found_now = _scan(url, T_HANDOVER + dt.timedelta(minutes=30))
    assert not [w for w in found_now if set(w.case_ids) & set(handed) or rejected in w.hazard_ids]


def test_a_source_too_sparse_for_any_replica_scans_quietly():
    """Fifty reports over four weeks, three of them in the last hours, all far apart: no replica of the Monte
    Carlo has a centre with enough reports (hazards and disputes are this sparse), and the scan answers nothing."""
    grids = lattice(60, 60)
    cells = np.arange(0, 3600, 71)[:50]  # every grid more than 500 m from the others
    at = 28 * DAY
    times = np.concatenate([np.linspace(DAY, 27 * DAY, 47), at - np.array([3.0, 2.0, 1.0]) * HOUR])
    reports = Reports.build(np.arange(50), cells, times, np.full(50, "hazard:gas", dtype=object))
    assert SpaceTimeScan(Neighbourhood.build(grids, 500.0))(reports, at) == []


def test_migration_0027_goes_down_and_up(db_url):
    """Down: the two lists go, the warning stays; up: they come back empty (the warning was found over cases)."""
    with unit_of_work(db_url) as s:
        grid = Area(code="G0027", name="网格", level="grid", path="/")
        s.add(grid)
        s.flush()
        at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
        s.add(EarlyWarning(
            detector="scan", dedupe_key="scan:0027", detected_at=at, last_scan_at=at, window_start=at, window_end=at,
            centre_grid_id=grid.id, centre_grid_code=grid.code, area_path="/", lon=121.3, lat=31.1, radius_m=0.0,
            grid_codes=[grid.code], matter_codes=["06010"], case_ids=[1, 2, 3], hazard_ids=[], dispute_ids=[],
            observed=3, expected=0.5, relative_risk=6.0, score=4.0, p_value=0.001, status="new"))
    dispose_engine(db_url)
    command.downgrade(alembic_config(db_url), "0026")

    def columns() -> set[str]:
        return {c["name"] for c in inspect(get_engine(db_url)).get_columns("early_warnings")}

    assert not {"hazard_ids", "dispute_ids"} & columns() and "case_ids" in columns()
    dispose_engine(db_url)
    migrate(db_url)
    assert {"hazard_ids", "dispute_ids"} <= columns()
    with unit_of_work(db_url) as s:
        w = s.scalar(select(EarlyWarning).where(EarlyWarning.dedupe_key == "scan:0027"))
        assert (w.case_ids, w.hazard_ids, w.dispute_ids, w.source) == ([1, 2, 3], [], [], "case")


def test_promoting_a_hazard_warning_names_its_kind_in_the_incident_title(world):
    at = T_HAZARDS + dt.timedelta(minutes=110)
    (w,) = [w for w in _scan(world["url"], at) if set(w.hazard_ids) & set(world["gas"])]
    desk = Desk(world["url"], at)
    r = desk.post("west_commander", f"/api/v1/early-warnings/{w.id}/actions/promote", {})
    assert r.status_code == 200, r.text
    incident = desk.get("west_commander", f"/api/v1/incidents/{r.json()['incident_id']}").json()
    assert incident["title"].startswith(f"早研判 #{w.id}: 隐患：燃气") and "hazard:" not in incident["title"]
    # one history: each evidence hazard names the incident in its log, and the incident's note names them
    for hid in w.hazard_ids:
        last = desk.get("west_commander", f"/api/v1/hazards/{hid}").json()["history"][-1]
        assert last["action"] == "link_incident" and last["payload"]["incident_id"] == incident["id"]
        assert last["payload"]["early_warning_id"] == w.id
    notes = [e for e in desk.get("west_commander", f"/api/v1/incidents/{incident['id']}/log").json()
             if e["kind"] == "note"]
    assert notes[-1]["payload"]["hazard_ids"] == sorted(w.hazard_ids) and notes[-1]["payload"]["dispute_ids"] == []


def test_promoting_a_dispute_warning_ties_each_dispute_to_the_incident(world):
    at = T_DISPUTES + dt.timedelta(minutes=110)
    (w,) = [w for w in _scan(world["url"], at) if set(w.dispute_ids) & set(world["labour"])]
    desk = Desk(world["url"], at)
    r = desk.post("east_commander", f"/api/v1/early-warnings/{w.id}/actions/promote", {"title": "东街道欠薪聚集"})
    assert r.status_code == 200, r.text
    incident_id = r.json()["incident_id"]
    for did in w.dispute_ids:
        dispute = desk.get("east_commander", f"/api/v1/disputes/{did}").json()
        assert dispute["incident"]["id"] == incident_id and dispute["history"][-1]["action"] == "link_incident"
        assert "raise_incident" not in dispute["allowed_actions"]  # in an incident already
