"""Early warnings (早研判) end to end on both backends: an injected cluster of cases made through the case service
is found and stored with its evidence, once (rescans, two scans at once); the shift leader's decisions with role
and jurisdiction checks (promote opens an incident with the cases linked, one history); the list follows the
jurisdiction; the CLI's ``--json``."""

from __future__ import annotations

import datetime as dt
import json
import threading

import numpy as np
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from liandong.areas.index import GridIndex
from liandong.auth.service import create_user
from liandong.cases import intake
from liandong.cases.models import CaseEvent
from liandong.db import unit_of_work
from liandong.emergency.models import IncidentCase
from liandong.screening import early_warnings
from liandong.screening.early_warning_models import EarlyWarning, EarlyWarningEvent, EarlyWarningScan
from tests.caseworld import EAST_POINT, WEST_POINT, boss
from tests.factories import EAST, PASSWORD, WEST
from tests.test_cli import run
from tests.test_incidents import Desk

T_WEST = dt.datetime(2026, 6, 20, 2, 0, tzinfo=dt.UTC)  # the west cluster's last report
T_EAST = T_WEST + dt.timedelta(days=2)
MATTERS = ("06001", "06010", "01001", "09009", "02014")
USERS = (("commander", "C", "commander"), ("west_commander", f"S-{WEST}", "commander"),
         ("east_commander", f"S-{EAST}", "commander"))


def _report(s, index, actor, matter, lon, lat, at) -> int:
    case, _ = intake.report(s, index, actor, matter_code=matter, description="早研判测试", lon=float(lon),
                            lat=float(lat), channel="hotline", now=at)
    return case.id


def _burst(s, index, actor, point, end, n=10, matter="06010", seed=1) -> list[int]:
    """``n`` reports of one matter within ~80 m of ``point`` over the 4 hours before ``end``."""
    rng = np.random.default_rng(seed)
    return [_report(s, index, actor, matter, point[0] + rng.uniform(-6e-4, 6e-4), point[1] + rng.uniform(-5e-4, 5e-4),
                    end - dt.timedelta(minutes=float(m))) for m in sorted(rng.uniform(0, 240, n))[::-1]]


@pytest.fixture(scope="module")
def world(case_world):
    """Background reports over four weeks all over the district, and two bursts: west, then east two days later."""
    rng = np.random.default_rng(7)
    with unit_of_work(case_world) as s:
        for username, unit, role in USERS:
            create_user(s, username=username, password=PASSWORD, unit_code=unit, roles=[role])
        index, actor = GridIndex.build(s), boss(case_world)
        start = T_WEST - dt.timedelta(days=26)
        for _ in range(160):
            at = start + dt.timedelta(seconds=float(rng.uniform(0, 28 * 86400)))
            _report(s, index, actor, MATTERS[rng.integers(len(MATTERS))], rng.uniform(121.302, 121.348),
                    rng.uniform(31.102, 31.124), at)
        west = _burst(s, index, actor, WEST_POINT, T_WEST)
        east = _burst(s, index, actor, EAST_POINT, T_EAST, matter="01001", seed=2)
    return {"url": case_world, "west": west, "east": east}


def _scan(url, at):
    with unit_of_work(url) as s:
        outcome = early_warnings.scan(s, at, GridIndex.build(s))
        s.flush()
        return [w.id for w in outcome.created], [w.id for w in outcome.updated]


def _rows(url) -> list[EarlyWarning]:
    with unit_of_work(url) as s:
        rows = s.scalars(select(EarlyWarning).order_by(EarlyWarning.id)).all()
        s.expunge_all()
        return rows


def test_two_scans_at_once_store_the_cluster_once(world):
    at = T_WEST + dt.timedelta(minutes=30)
    barrier, results, errors = threading.Barrier(2), [], []

    def go():
        barrier.wait()
        try:
            results.append(_scan(world["url"], at))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = [w for w in _rows(world["url"]) if set(w.case_ids) & set(world["west"])]
    assert len(rows) == 1
    assert sum(len(created) for created, _ in results) == 1


def test_the_cluster_is_found_with_its_evidence(world):
    (w,) = [w for w in _rows(world["url"]) if set(w.case_ids) & set(world["west"])]
    assert w.detector == "scan" and w.status == "new"
    assert len(set(w.case_ids) & set(world["west"])) >= 8
    assert w.matter_codes[0] == "06010"
    assert w.centre_grid_code.startswith(WEST) and w.centre_grid_code in w.grid_codes
    assert w.observed >= 8 and w.expected < w.observed / 3 and w.p_value <= 0.002
    assert w.window_end >= T_WEST and w.window_start <= T_WEST - dt.timedelta(hours=3)


def test_a_rescan_updates_instead_of_adding(world):
    before = _rows(world["url"])
    created, _ = _scan(world["url"], T_WEST + dt.timedelta(minutes=30))
    assert created == []
    created, updated = _scan(world["url"], T_WEST + dt.timedelta(minutes=90))
    assert created == []
    after = _rows(world["url"])
    assert len(after) == len(before)
    mine = [w for w in after if set(w.case_ids) & set(world["west"])]
    assert len(mine) == 1
    kinds = [e.kind for e in _events(world["url"], mine[0].id)]
    assert kinds == ["found", "rescanned"] if updated else ["found"]  # the rerun at +30 min added nothing


def _events(url, warning_id) -> list[EarlyWarningEvent]:
    with unit_of_work(url) as s:
        rows = s.scalars(select(EarlyWarningEvent).where(EarlyWarningEvent.warning_id == warning_id)
                         .order_by(EarlyWarningEvent.seq)).all()
        s.expunge_all()
        return rows


def test_each_scan_keeps_its_own_figures_and_the_warning_is_one_scans(world):
    (w,) = [w for w in _rows(world["url"]) if set(w.case_ids) & set(world["west"])]
    scans = [e for e in _events(world["url"], w.id) if e.kind in ("found", "rescanned")]
    assert [e.seq for e in scans] == list(range(1, len(scans) + 1)) and len(scans) == 2
    assert [e.at for e in scans] == [T_WEST + dt.timedelta(minutes=30), T_WEST + dt.timedelta(minutes=90)]
    for e in scans:  # every scan's own evidence: its figures agree with its cases (all reports here are cases)
        p = e.payload
        assert p["observed"] == len(p["case_ids"]) and p["expected"] > 0 and 0 < p["p_value"] <= 1
        assert {"window_start", "window_end", "radius_m", "grid_codes", "matter_codes", "score"} <= set(p)
    kept = max(scans, key=lambda e: (e.payload["score"], -e.seq)).payload  # the strongest, the first on a tie
    assert w.observed == len(w.case_ids) == kept["observed"]
    assert (w.case_ids, w.grid_codes, w.matter_codes) == (kept["case_ids"], kept["grid_codes"], kept["matter_codes"])
    assert (w.expected, w.p_value, w.score, w.radius_m) == (kept["expected"], kept["p_value"], kept["score"],
                                                            kept["radius_m"])
    assert (w.window_start.isoformat(), w.window_end.isoformat()) == (kept["window_start"], kept["window_end"])
    assert w.last_scan_at == T_WEST + dt.timedelta(minutes=90)


def test_the_history_and_the_runs_are_append_only(world):
    for table in ("early_warning_events", "early_warning_scans"):
        with pytest.raises(DBAPIError, match="append-only"), unit_of_work(world["url"]) as s:
            s.execute(text(f"UPDATE {table} SET at = at"))
        with pytest.raises(DBAPIError, match="append-only"), unit_of_work(world["url"]) as s:
            s.execute(text(f"DELETE FROM {table}"))
    with unit_of_work(world["url"]) as s:
        assert s.scalar(select(func.count()).select_from(EarlyWarningEvent)) >= 2
        assert s.scalar(select(func.count()).select_from(EarlyWarningScan)) >= 4  # two at once, a rerun, +90 min


def test_api_scan_list_act_promote(world):
    url = world["url"]
    desk = Desk(url, T_EAST + dt.timedelta(minutes=20))
    assert desk.post("receptionist", "/api/v1/early-warnings/scan").json()["code"] == "role_needed"
    r = desk.post("shift_leader", "/api/v1/early-warnings/scan")
    assert r.status_code == 200, r.text
    east = [i for i in r.json()["items"] if set(i["case_ids"]) & set(world["east"])]
    assert len(east) == 1 and east[0]["matter_codes"][0] == "01001" and east[0]["status"] == "new"
    (west,) = [w for w in _rows(url) if set(w.case_ids) & set(world["west"])]

    listed = desk.get("shift_leader", "/api/v1/early-warnings", status="new").json()
    assert {west.id, east[0]["id"]} <= {i["id"] for i in listed["items"]}
    item = next(i for i in listed["items"] if i["id"] == west.id)
    assert {"id", "matter_codes", "grid_codes", "case_ids", "observed", "expected", "p_value", "status"} <= set(item)
    assert item["allowed_actions"] == ["watch", "dismiss", "promote"]
    seen = {i["id"] for i in desk.get("west_commander", "/api/v1/early-warnings").json()["items"]}
    assert west.id in seen and east[0]["id"] not in seen
    seen = {i["id"] for i in desk.get("east_commander", "/api/v1/early-warnings").json()["items"]}
    assert west.id not in seen and east[0]["id"] in seen

    detail = desk.get("west_commander", f"/api/v1/early-warnings/{west.id}").json()
    assert {c["id"] for c in detail["cases"]} == set(west.case_ids)
    assert all({"number", "matter_code", "created_at", "lon", "lat"} <= set(c) for c in detail["cases"])
    roles = {f["properties"]["role"] for f in detail["area"]["features"]}
    assert roles == {"centre", "grid"}
    assert [h["kind"] for h in detail["history"]] == ["found", "rescanned"] and detail["scans"] == 2
    assert detail["history"][1]["payload"]["observed"] == len(detail["history"][1]["payload"]["case_ids"])
    assert detail["status_at"] is None and detail["status_by"] is None

    # refusals: not seen (404), no deciding role (403), the status does not allow it (409)
    assert desk.post("east_commander", f"/api/v1/early-warnings/{west.id}/actions/watch").status_code == 404
    r = desk.post("dispatcher", f"/api/v1/early-warnings/{west.id}/actions/watch")
    assert r.status_code == 403 and r.json()["code"] == "role_needed"
    r = desk.post("shift_leader", f"/api/v1/early-warnings/{west.id}/actions/watch", {"note": "再看一小时"})
    assert r.status_code == 200 and r.json()["status"] == "watching"
    watched = r.json()
    last = watched["history"][-1]
    assert (last["kind"], last["actor"], last["note"], last["payload"]) == (
        "watch", "shift_leader", "再看一小时", {"from": "new", "to": "watching", "incident_id": None})
    assert last["actor_id"] is not None and last["seq"] == 3
    assert (watched["status_by"], watched["status_by_name"], watched["status_note"]) == (
        last["actor_id"], "shift_leader", "再看一小时") and watched["status_at"] == last["at"]
    r = desk.post("shift_leader", f"/api/v1/early-warnings/{west.id}/actions/watch")
    assert r.status_code == 409 and r.json()["allowed_actions"] == ["dismiss", "promote"]

    r = desk.post("west_commander", f"/api/v1/early-warnings/{west.id}/actions/promote", {"title": "西镇违章聚集"})
    assert r.status_code == 200, r.text
    promoted = r.json()
    assert promoted["status"] == "promoted" and promoted["incident_id"]
    assert [h["kind"] for h in promoted["history"]] == ["found", "rescanned", "watch", "promote"]
    assert promoted["history"][-1]["actor"] == "west_commander" and promoted["status_note"] is None
    assert promoted["history"][-1]["payload"]["incident_id"] == promoted["incident_id"]
    incident = desk.get("west_commander", f"/api/v1/incidents/{promoted['incident_id']}").json()
    assert incident["title"] == "西镇违章聚集"
    notes = [e for e in desk.get("west_commander", f"/api/v1/incidents/{promoted['incident_id']}/log").json()
             if e["kind"] == "note"]
    assert [n["payload"]["early_warning_id"] for n in notes] == [west.id]  # the incident names its warning
    assert desk.post("shift_leader", f"/api/v1/early-warnings/{west.id}/actions/forget").status_code == 404
    with unit_of_work(url) as s:
        linked = set(s.scalars(select(IncidentCase.case_id).where(
            IncidentCase.incident_id == promoted["incident_id"])))
        assert linked == set(west.case_ids)
        tied = dict(s.execute(select(CaseEvent.action, func.count()).where(
            CaseEvent.case_id.in_(west.case_ids), CaseEvent.action.in_(("raise_incident", "link_incident")))
            .group_by(CaseEvent.action)).all())
    assert tied == {"raise_incident": 1, "link_incident": len(west.case_ids) - 1}  # one history per case
    r = desk.post("shift_leader", f"/api/v1/early-warnings/{west.id}/actions/dismiss")
    assert r.status_code == 409 and r.json()["allowed_actions"] == []

    r = desk.post("east_commander", f"/api/v1/early-warnings/{east[0]['id']}/actions/dismiss",
                  {"note": "施工队集中报修"})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    assert {i["id"] for i in desk.get("shift_leader", "/api/v1/early-warnings", status="promoted").json()["items"]} \
        == {west.id}
    # a later scan over the dismissed cluster raises nothing again
    desk.now = T_EAST + dt.timedelta(minutes=50)
    r = desk.post("shift_leader", "/api/v1/early-warnings/scan")
    assert r.status_code == 200 and r.json()["created"] == []


def test_cli_scan_json(world):
    r = run(world["url"], "early-warning", "scan", "--at", (T_WEST + dt.timedelta(minutes=40)).isoformat(), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # the west cluster, promoted meanwhile, is found again but not raised again
    assert out["created"] == [] and out["reports"] > 100 and out["items"] == [] and out["suppressed"] >= 1


def test_a_scheduled_scan_is_skipped_within_half_the_interval(world):
    url, every, at = world["url"], dt.timedelta(minutes=60), T_EAST + dt.timedelta(days=1)
    units = lambda: unit_of_work(url)  # noqa: E731
    first = early_warnings.scheduled(units, at, GridIndex.build, every)
    # another process, 20 minutes later: the first one's run counts
    second = early_warnings.scheduled(units, at + dt.timedelta(minutes=20), GridIndex.build, every)
    assert not first.skipped and first.reports > 100
    assert second.skipped and second.reports == 0 and second.found == []
    with unit_of_work(url) as s:  # by hand: always runs
        manual = early_warnings.scan(s, at + dt.timedelta(minutes=25), GridIndex.build(s))
    assert not manual.skipped and manual.reports > 100
    # the manual run counts too; past half the interval after it, the turn comes
    assert early_warnings.scheduled(units, at + dt.timedelta(minutes=50), GridIndex.build, every).skipped
    third = early_warnings.scheduled(units, at + dt.timedelta(minutes=60), GridIndex.build, every)
    assert not third.skipped
    with unit_of_work(url) as s:
        runs = s.execute(select(EarlyWarningScan.trigger, EarlyWarningScan.at).where(
            EarlyWarningScan.at >= at).order_by(EarlyWarningScan.at)).all()
    assert runs == [("scheduled", at), ("manual", at + dt.timedelta(minutes=25)),
                    ("scheduled", at + dt.timedelta(minutes=60))]


def test_two_scheduled_scans_at_once_run_the_scan_once(world):
    at, every, results = T_EAST + dt.timedelta(days=3), dt.timedelta(minutes=60), []
    barrier = threading.Barrier(2)

    def go():
        barrier.wait()
        results.append(early_warnings.scheduled(lambda: unit_of_work(world["url"]), at, GridIndex.build,
                                                every).skipped)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
