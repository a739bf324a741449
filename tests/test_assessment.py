"""Assessment (考核): a hand-worked June in the small district, on both backends — five cases through the real
action table by the people who hold each role (one clean run, one returned, reworked and late to accept, one
voided after filing, one rejected, one left waiting past its deadline) — and every indicator, score, grade and
drill-down list checked against what was done; plus empty periods, the previous period, jurisdiction, the
settings' checks, and the exports read back (XLSX with openpyxl, PDF text with pypdf)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from liandong.app import create_app
from liandong.areas.index import GridIndex
from liandong.assessment import period as periods
from liandong.assessment import settings as assessment_settings
from liandong.assessment.indicators import band_sets, scorable
from liandong.auth.service import create_user, get_user, identity_for_token, issue_token
from liandong.cases import actions, calendar, intake
from liandong.cases.models import StageFact
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.errors import Invalid
from tests.caseworld import EAST_POINT, MATTER, WEST_POINT, unit_id
from tests.factories import EAST, PASSWORD, WEST
from tests.test_sla import at

JUNE = {"from": "2026-06-01", "to": "2026-06-30"}
NOW = at("2026-07-01 10:00")


def person(url: str, username: str):
    """The identity a signed-in user acts with (roles, unit, jurisdiction, user id)."""
    with unit_of_work(url) as s:
        return identity_for_token(s, issue_token(s, get_user(s, username), now=at("2026-06-01 08:00")),
                                  now=at("2026-06-01 08:00"))


def report(url, who, channel, when, point=WEST_POINT) -> int:
    with unit_of_work(url) as s:
        case, _ = intake.report(s, GridIndex.build(s), who, matter_code=MATTER, description="考核测试",
                                lon=point[0], lat=point[1], channel=channel, now=at(when))
        return case.id


def act(url, case_id, action, who, when, **payload):
    with unit_of_work(url) as s:
        actions.act(s, GridIndex.build(s), case_id, action, who, payload, now=at(when),
                    calendar=calendar.calendar_for(s))


@pytest.fixture(scope="module")
def june(case_world):
    """The month worked by hand (times local, 2026-06-02 is a Tuesday):

    A  grid worker's report: accepted 10 min, filed 10 min, dispatched, signed, done, check asked 10 min later,
       passed, closed 20 min later — every stage timely.
    B  hotline: accepted after 2 h (late: 30 min allowed), filed, dispatched, returned by the squad (a wrong
       dispatch), re-dispatched, signed, done, check failed (rework), signed, done, check passed, closed.
    C  hotline: accepted, filed, then voided (an inaccurate filing).
    D  grid worker's report: rejected (not a valid report).
    E  citizens' web page, in the east: accepted, filed, never dispatched — still waiting at the month's end, past
       its dispatch deadline.
    F  hotline: handled with a day's suspension (挂账, paused) and an approved extension, closed, rated satisfied.
    G  a grid worker's report of F's problem made before it, merged into F (so F is no 漏报).
    H  hotline: signed, then suspended (挂账) before its deadline and still parked at the month's end: open, but
       not overdue."""
    url = case_world
    with unit_of_work(url) as s:
        create_user(s, username="east_leader", password=PASSWORD, unit_code=f"S-{EAST}", roles=["leader"])
        create_user(s, username="leader", password=PASSWORD, unit_code="C", roles=["leader"])
        create_user(s, username="east_receptionist", password=PASSWORD, unit_code=f"S-{EAST}",
                    roles=["receptionist"])
    rec, lead_, disp, insp, squad = (person(url, u) for u in ("receptionist", "shift_leader", "dispatcher",
                                                                 "inspector", "cm_west"))
    unit = unit_id(url, f"B-cm-{WEST}")
    a = report(url, insp, "grid_worker", "2026-06-02 09:00")
    for action, who, when, payload in (
            ("accept", rec, "09:10", {}), ("file", lead_, "09:20", {}),
            ("dispatch", disp, "09:30", {"lead_unit_id": unit}), ("sign", squad, "09:40", {}),
            ("report_done", squad, "11:00", {"note": "已拆除"}), ("request_check", rec, "11:10", {}),
            ("check_passed", insp, "13:30", {}), ("close", lead_, "13:50", {})):
        act(url, a, action, who, f"2026-06-02 {when}", **payload)
    b = report(url, rec, "hotline", "2026-06-03 09:00")
    for action, who, when, payload in (
            ("accept", rec, "11:00", {}), ("file", lead_, "11:10", {}),
            ("dispatch", disp, "13:00", {"lead_unit_id": unit}), ("return", squad, "13:30", {"reason": "不归我"}),
            ("redispatch", disp, "14:00", {"lead_unit_id": unit}), ("sign", squad, "14:10", {}),
            ("report_done", squad, "15:00", {"note": "已处理"}), ("request_check", rec, "15:05", {}),
            ("check_failed", insp, "15:30", {"note": "未整改到位"}), ("sign", squad, "16:00", {}),
            ("report_done", squad, "16:30", {"note": "已整改"}), ("request_check", rec, "16:35", {}),
            ("check_passed", insp, "17:00", {}), ("close", lead_, "17:10", {})):
        act(url, b, action, who, f"2026-06-03 {when}", **payload)
    c = report(url, rec, "hotline", "2026-06-04 09:00")
    for action, who, when, payload in (("accept", rec, "09:05", {}), ("file", lead_, "09:15", {}),
                                       ("void", lead_, "10:00", {"reason": "重复"})):
        act(url, c, action, who, f"2026-06-04 {when}", **payload)
    d = report(url, insp, "grid_worker", "2026-06-05 09:00")
    act(url, d, "reject", rec, "2026-06-05 09:05", reason="不属实")
    e = report(url, rec, "citizen_web", "2026-06-08 09:00", point=EAST_POINT)
    act(url, e, "accept", rec, "2026-06-08 09:05")
    act(url, e, "file", lead_, "2026-06-08 09:15")
    g = report(url, insp, "grid_worker", "2026-06-09 08:55")
    f = report(url, rec, "hotline", "2026-06-09 09:00")
    act(url, g, "merge", rec, "2026-06-09 09:20", master_id=f)
    for action, who, when, payload in (
            ("accept", rec, "06-09 09:05", {}), ("file", lead_, "06-09 09:15", {}),
            ("dispatch", disp, "06-09 09:30", {"lead_unit_id": unit}), ("sign", squad, "06-09 09:40", {}),
            ("suspend", disp, "06-09 10:00", {}), ("resume", disp, "06-10 10:00", {}),
            ("request_extension", squad, "06-10 10:30", {"amount": 1, "unit": "day", "reason": "材料未到"}),
            ("approve_extension", disp, "06-10 10:40", {}), ("report_done", squad, "06-10 11:00", {"note": "已处理"}),
            ("request_check", rec, "06-10 11:05", {}), ("check_passed", insp, "06-10 11:30", {}),
            ("close", lead_, "06-10 11:40", {}), ("rate", rec, "06-10 14:00", {"satisfaction": "satisfied"})):
        act(url, f, action, who, f"2026-{when}", **payload)
    h = report(url, rec, "hotline", "2026-06-15 09:00")
    for action, who, when, payload in (
            ("accept", rec, "09:05", {}), ("file", lead_, "09:10", {}),
            ("dispatch", disp, "09:20", {"lead_unit_id": unit}), ("sign", squad, "09:30", {}),
            ("suspend", disp, "10:00", {})):
        act(url, h, action, who, f"2026-06-15 {when}", **payload)
    app = create_app(Settings(database_url=url, sweep_seconds=0, early_warning_scan_minutes=0,
                              index_check_seconds=0), clock=lambda: NOW)
    client = TestClient(app)
    ids = {u: person(url, u).user_id for u in ("receptionist", "shift_leader", "dispatcher", "inspector")}
    return {"url": url, "client": client,
            "cases": {"A": a, "B": b, "C": c, "D": d, "E": e, "F": f, "G": g, "H": h},
            "users": ids,
            "unit": unit}


def token(client: TestClient, user: str) -> dict:
    r = client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def assessed(june, obj: str, user: str = "leader", **params) -> dict:
    r = june["client"].get("/api/v1/assessment", params={"object": obj, **JUNE, **params},
                           headers=token(june["client"], user))
    assert r.status_code == 200, r.text
    return r.json()


def row(result: dict, object_id: int) -> dict:
    return next(r for r in result["rows"] if r["id"] == object_id)


def drilled(june, obj, object_id, indicator, part="numerator", user="leader") -> list[int]:
    r = june["client"].get("/api/v1/assessment/drill", params={
        "object": obj, "id": object_id, "indicator": indicator, "part": part, **JUNE, "limit": 1000},
        headers=token(june["client"], user))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return sorted(i["id"] for i in body["items"])


def test_inspector(june):
    result = assessed(june, "inspector")
    me = row(result, june["users"]["inspector"])["indicators"]
    A, B, C, D, E, F, G, H = (june["cases"][k] for k in "ABCDEFGH")
    assert [r["name"] for r in result["rows"]] == ["inspector"]  # the receptionist's hotline entries are no 上报
    assert (me["reported"], me["valid"]) == (3, 1) and me["valid_report_rate"] == pytest.approx(0.3333, abs=1e-4)
    assert (me["check_due"], me["check_on_time"], me["check_on_time_rate"]) == (4, 4, 1.0)
    assert (me["verify_due"], me["verify_on_time_rate"]) == (0, None)  # no data, never a division by zero
    # 漏报: filed in the inspector's jurisdiction (the district), first reported by the public, no grid worker's
    # earlier report merged: B, C, E and H — not F, which G (reported before it) was merged into
    assert (me["area_filed"], me["missed"]) == (6, 4) and me["missed_rate"] == pytest.approx(0.6667, abs=1e-4)
    assert drilled(june, "inspector", june["users"]["inspector"], "missed_rate") == sorted([B, C, E, H])
    assert drilled(june, "inspector", june["users"]["inspector"], "missed_rate", "denominator") == sorted(
        [A, B, C, E, F, H])
    assert drilled(june, "inspector", june["users"]["inspector"], "valid_report_rate", "denominator") == sorted(
        [A, D, G])
    # 40 % × 33.33 + 20 % × (100 − 66.67) + 20 % × 100, 按时核实率 without data left out: 4000 / 80
    r = row(result, june["users"]["inspector"])
    assert (r["score"], r["grade"], r["unscored"]) == (50.0, "D", ["verify_on_time_rate"])
    assert result["missed_definition"] and result["weights"]["valid_report_rate"] == 40


def test_receptionist_shift_leader_and_dispatcher(june):
    users, (A, B, E, F, H) = june["users"], (june["cases"][k] for k in "ABEFH")
    rec = row(assessed(june, "receptionist"), users["receptionist"])
    assert (rec["indicators"]["accepted"], rec["indicators"]["rejected"]) == (6, 1)
    assert (rec["indicators"]["check_dispatched"], rec["indicators"]["check_dispatch_on_time_rate"]) == (4, 1.0)
    assert rec["indicators"]["verify_dispatch_on_time_rate"] is None
    # 受理数 6 a month scores 0 in its bands; 核查按时派发率 100: (25 × 0 + 35 × 100) / 60
    assert rec["score"] == pytest.approx(58.33, abs=0.01)
    sl = row(assessed(june, "shift_leader"), users["shift_leader"])["indicators"]
    assert (sl["filed"], sl["filed_on_time"], sl["filed_accurate"]) == (6, 6, 5)
    assert (sl["closed_by"], sl["close_on_time_rate"]) == (3, 1.0)
    assert sl["file_accuracy_rate"] == pytest.approx(0.8333, abs=1e-4)
    assert drilled(june, "shift_leader", users["shift_leader"], "file_accuracy_rate") == sorted([A, B, E, F, H])
    dp = row(assessed(june, "dispatcher"), users["dispatcher"])["indicators"]
    assert (dp["dispatched"], dp["dispatched_accurate"], dp["dispatched_on_time"]) == (5, 4, 5)
    assert dp["dispatch_accuracy_rate"] == 0.8
    # B twice (dispatched, re-dispatched): one row per dispatch, so the list adds up to the figure
    assert drilled(june, "dispatcher", users["dispatcher"], "dispatch_accuracy_rate", "denominator") == sorted(
        [A, B, B, F, H])


def test_department(june):
    A, B, F, H = (june["cases"][k] for k in "ABFH")
    dept = assessed(june, "department")
    squad = row(dept, june["unit"])["indicators"]
    # signed: A once, B after the dispatch, the re-dispatch and the failed check, F and H once
    assert (squad["assigned"], squad["disposed"], squad["reworked"], squad["returned"]) == (6, 4, 1, 1)
    # H, parked (挂账) before its deadline, is neither due nor overdue at the month's end, but still owed a closure
    assert (squad["dispose_due"], squad["dispose_rate"], squad["disposed_in_time"], squad["overdue"]) == (4, 1.0, 4, 0)
    assert (squad["rework_rate"], squad["extended"], squad["extension_rate"]) == (0.25, 1, 0.25)
    assert (squad["closed"], squad["close_due"], squad["closure_rate"], squad["closed_in_time_rate"]) == (
        3, 4, 0.75, 0.75)
    assert drilled(june, "department", june["unit"], "closure_rate", "denominator") == sorted([A, B, F, H])
    # 10 % × 100 (6 cases a month: the fewest band) + 30 % × 75 + 30 % × 100 + 30 % × (100 − 25)
    r = row(dept, june["unit"])
    assert (r["score"], r["grade"], r["rank"]) == (85.0, "B", 1)
    assert (squad["rated"], squad["satisfied"], squad["satisfaction_rate"]) == (1, 1, 1.0)
    assert drilled(june, "department", june["unit"], "rework_rate", "denominator") == sorted([A, B, B, F])
    assert drilled(june, "department", june["unit"], "extension_rate") == [F]
    times = row(dept, june["unit"])["times"]
    assert times["dispose"]["n"] == 4 and times["dispose"]["mean_hours"] > 0
    # F's day of suspension and its pending extension are no working time: 09:40–10:00, 10:00–10:30, 10:40–11:00
    with unit_of_work(june["url"]) as s:
        (used,) = s.execute(select(StageFact.used_minutes).where(StageFact.case_id == F,
                                                                 StageFact.stage == "dispose")).one()
    assert used == 70
    # a department nobody dispatched to has no score (a count alone scores nobody)
    assert all(r["score"] is None for r in dept["rows"] if r["indicators"]["assigned"] == 0)


def test_towns_and_the_district_view(june):
    towns = assessed(june, "town")
    west = next(r for r in towns["rows"] if r["code"] == WEST)
    east = next(r for r in towns["rows"] if r["code"] == EAST)
    A, B, F, H = (june["cases"][k] for k in "ABFH")
    assert (west["indicators"]["filed"], west["indicators"]["closed"], west["indicators"]["close_due"]) == (5, 3, 4)
    assert (west["indicators"]["public_report_rate"], west["indicators"]["reported"]) == (0.8, 7)
    assert (west["indicators"]["closure_rate"], west["indicators"]["closed_in_time_rate"]) == (0.75, 0.75)
    assert drilled(june, "town", west["id"], "closure_rate", "denominator") == sorted([A, B, F, H])  # folded
    # 10 % × (100 − 80) + 20 % × 90 (5 filed of 60,000 residents: 二类 band) + 30 % × 75 + 40 % × 75
    assert (west["score"], west["grade"]) == (72.5, "C")
    # E: filed in the east and waiting past its dispatch deadline at the month's end
    assert (east["indicators"]["filed"], east["indicators"]["close_due"], east["indicators"]["overdue"]) == (1, 1, 1)
    assert east["indicators"]["closure_rate"] == 0.0 and east["indicators"]["closed_in_time_rate"] == 0.0
    assert (east["score"], east["grade"]) == (18.0, "E")  # 20 % × 90 (一类 band), all else 0
    assert [r["rank"] for r in towns["rows"]] == [1, 2] and towns["rows"][0]["score"] >= towns["rows"][1]["score"]
    assert {g["grade"] for g in towns["grades"]} == set("ABCDE") and sum(towns["weights"].values()) == 100
    # the previous period (May) had nothing: no previous score, no change
    assert west["previous_score"] is None and west["change"] is None
    assert towns["previous_period"] == {"from": "2026-05-01", "to": "2026-05-31"}
    july = next(r for r in assessed(june, "town", **{"from": "2026-07-01", "to": "2026-07-31"})["rows"]
                if r["code"] == WEST)
    assert july["previous_score"] == 72.5 and july["change"] == round(july["score"] - 72.5, 2)


def test_jurisdiction_and_refusals(june):
    client = june["client"]
    east = assessed(june, "town", user="east_leader")
    assert [r["code"] for r in east["rows"]] == [EAST]  # a town sees its own
    mine = assessed(june, "receptionist", user="east_leader")
    assert [r["name"] for r in mine["rows"]] == ["east_receptionist"]
    # the east leader may not drill into the west town, nor into the district's inspector
    west_id = next(r["id"] for r in assessed(june, "town")["rows"] if r["code"] == WEST)
    r = client.get("/api/v1/assessment/drill", params={"object": "town", "id": west_id, "indicator": "filed",
                                                        **JUNE}, headers=token(client, "east_leader"))
    assert r.status_code == 404 and r.json()["code"] == "unknown_object_id"
    r = client.get("/api/v1/assessment", params={"object": "town", **JUNE}, headers=token(client, "cm_west"))
    assert r.status_code == 403 and r.json()["code"] == "role_needed"
    r = client.get("/api/v1/assessment", params={"object": "mayor", **JUNE}, headers=token(client, "leader"))
    assert r.status_code == 422 and r.json()["code"] == "unknown_object"
    r = client.get("/api/v1/assessment", params={"object": "town", "from": "2026-06-30", "to": "2026-06-01"},
                   headers=token(client, "leader"))
    assert r.status_code == 422 and r.json()["code"] == "bad_period"
    r = client.get("/api/v1/assessment/drill", params={"object": "town", "id": west_id, "indicator": "nonsense",
                                                        **JUNE}, headers=token(client, "leader"))
    assert r.status_code == 404 and r.json()["code"] == "unknown_indicator"
    assert client.get("/api/v1/assessment", params={"object": "town"}).status_code == 401


def test_an_empty_period_gives_no_data(june):
    result = assessed(june, "department", **{"from": "2025-01-01", "to": "2025-01-31"})
    for r in result["rows"]:
        assert all(v is None for k, v in r["indicators"].items() if k in result["rates"])
        assert all(v == 0 for k, v in r["indicators"].items() if k not in result["rates"])
        assert r["score"] is None and r["grade"] is None and r["rank"] is None


def test_the_previous_month_is_the_calendar_month_before():
    assert periods.make(dt.date(2026, 3, 1), dt.date(2026, 3, 31)).previous().first == dt.date(2026, 2, 1)
    assert periods.make(dt.date(2026, 1, 1), dt.date(2026, 3, 31)).previous().first == dt.date(2025, 10, 1)
    assert periods.make(dt.date(2026, 6, 10), dt.date(2026, 6, 16)).previous().first == dt.date(2026, 6, 3)
    assert periods.year(2012).previous().last == dt.date(2011, 12, 31)


def test_settings_are_checked_when_loaded():
    text = assessment_settings.DEFAULT.read_text(encoding="utf-8")
    assessment_settings.parse(text, "ok.yaml", scorable())
    with pytest.raises(Invalid, match="sum to 90"):
        assessment_settings.parse(text.replace("    valid_report_rate: 40", "    valid_report_rate: 30"),
                                  "bad.yaml", scorable())
    with pytest.raises(Invalid, match="scores.inspector.charm"):
        assessment_settings.parse(text.replace("    missed_rate: 20", "    charm: 20"), "bad.yaml", scorable())
    with pytest.raises(Invalid, match="limits_minutes.accept"):
        assessment_settings.parse(text.replace("  accept: 30", "  accept: -1"), "bad.yaml", scorable())
    with pytest.raises(Invalid, match="limits_minutes.dispatch"):  # a stage judged by its own deadline
        assessment_settings.parse(text.replace("  accept: 30", "  accept: 30\n  dispatch: 60"), "bad.yaml",
                                  scorable())
    with pytest.raises(Invalid, match="at least 0"):
        assessment_settings.parse(text.replace("    missed_rate: 20", "    missed_rate: -20\n    dummy: 0")
                                  .replace("    valid_report_rate: 40", "    valid_report_rate: 80"),
                                  "bad.yaml", scorable())
    with pytest.raises(Invalid, match="bands.workload"):
        assessment_settings.parse(text.replace("  workload:", "  workload_renamed:"), "bad.yaml", scorable(),
                                  band_sets())
    without_towns = text[:text.index("  town:")] + text[text.index("  community:"):]
    with pytest.raises(Invalid, match="scores.town"):
        assessment_settings.parse(without_towns, "bad.yaml", scorable())


def test_exports_read_back(june):
    client, auth = june["client"], token(june["client"], "leader")
    r = client.get("/api/v1/assessment.xlsx", params={"object": "town", **JUNE}, headers=auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(r.content))
    sheet = book["town"]
    headers = [cell.value for cell in sheet[2]]
    assert headers[:4] == ["排名", "名称", "综合得分", "等级"] and "结案率" in headers and sheet.freeze_panes == "A3"
    r = client.get("/api/v1/assessment.pdf", params={"object": "town", **JUNE}, headers=auth)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    assert "镇（街道）考核" in text and "综合得分" in text and "第 1 页" in text
    r = client.get("/api/v1/assessment.csv", params={"object": "town", **JUNE}, headers=auth)
    assert r.content.startswith(b"\xef\xbb\xbf") and "结案率" in r.content.decode("utf-8-sig").splitlines()[0]


def test_the_annual_report(june):
    client, auth = june["client"], token(june["client"], "leader")
    report = client.get("/api/v1/reports/annual", params={"year": 2026}, headers=auth).json()
    cases = report["cases"]
    assert (cases["reported"], cases["accepted"], cases["filed"], cases["closed"]) == (8, 6, 6, 3)
    assert cases["closure_rate"] == 0.5 and cases["previous"]["filed"] == 0 and cases["change"]["filed"] is None
    assert {t["code"] for t in report["towns"]} == {WEST, EAST}
    assert [d["id"] for d in report["departments"]] == [june["unit"]]
    assert set(report["hazards"]) >= {"collected", "filed", "closed", "rewarded"}
    r = client.get("/api/v1/reports/annual.xlsx", params={"year": 2026}, headers=auth)
    book = load_workbook(io.BytesIO(r.content))
    assert {"案件总览", "各镇街", "各部门", "突发事件"} <= set(book.sheetnames)
    r = client.get("/api/v1/reports/annual.pdf", params={"year": 2026}, headers=auth)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    assert "2026 年度" in text and "各镇（街道）案件情况" in text and "各部门处置情况" in text
    assert client.get("/api/v1/reports/annual", params={"year": 1900}, headers=auth).status_code == 422


def edges_scenario(url: str) -> dict:
    """Steps on either side of a month's edge (what a month's counts must still see, though they read only the
    facts that ended in the month or after: ``counts._since``):

    P  a grid worker's report of Friday 29 May, accepted on Monday 1 June: a valid report of May's.
    Q  filed on 29 June, voided on 1 July: not an accurate filing of June's.
    R  dispatched on 30 June, returned by the squad on 1 July: not an accurate dispatch of June's.
    S  dispatched late in May (two days for a one-day stage), closed on 1 June: not closed in time in June."""
    from tests.caseworld import fill

    fill(url)
    rec, lead_, disp, insp, squad = (person(url, u) for u in ("receptionist", "shift_leader", "dispatcher",
                                                                 "inspector", "cm_west"))
    unit = unit_id(url, f"B-cm-{WEST}")
    p = report(url, insp, "grid_worker", "2026-05-29 17:00")
    act(url, p, "accept", rec, "2026-06-01 09:05")
    q = report(url, rec, "hotline", "2026-06-29 09:00")
    for action, who, when in (("accept", rec, "06-29 09:05"), ("file", lead_, "06-29 09:10"),
                              ("void", lead_, "07-01 09:00")):
        act(url, q, action, who, f"2026-{when}", **({"reason": "重复"} if action == "void" else {}))
    r = report(url, rec, "hotline", "2026-06-30 09:00")
    for action, who, when, payload in (("accept", rec, "06-30 09:05", {}), ("file", lead_, "06-30 09:10", {}),
                                       ("dispatch", disp, "06-30 10:00", {"lead_unit_id": unit}),
                                       ("return", squad, "07-01 09:30", {"reason": "不归我"})):
        act(url, r, action, who, f"2026-{when}", **payload)
    s_ = report(url, rec, "hotline", "2026-05-25 09:00")
    for action, who, when, payload in (
            ("accept", rec, "05-25 09:05", {}), ("file", lead_, "05-25 09:10", {}),
            ("dispatch", disp, "05-27 09:30", {"lead_unit_id": unit}), ("sign", squad, "05-27 09:40", {}),
            ("report_done", squad, "05-27 11:00", {"note": "已处理"}), ("request_check", rec, "05-27 11:10", {}),
            ("check_passed", insp, "05-27 13:00", {}), ("close", lead_, "06-01 10:00", {})):
        act(url, s_, action, who, f"2026-{when}", **payload)
    return {"url": url, "unit": unit, "users": {u: person(url, u).user_id for u in
                                                ("inspector", "shift_leader", "dispatcher")}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def month_edges(request, tmp_path_factory):
    from tests.conftest import fresh_database

    for url in fresh_database(request.param, tmp_path_factory):
        yield edges_scenario(url)


def test_a_month_s_counts_see_the_steps_across_its_edges(month_edges):
    from liandong.assessment import service
    from liandong.auth.identity import Identity

    leader, users = Identity(roles=frozenset({"leader"})), month_edges["users"]

    def figures(obj: str, month: int, object_id: int) -> dict:
        with unit_of_work(month_edges["url"]) as s:
            result = service.assess(s, leader, obj, periods.month(2026, month), at("2026-07-02 10:00"))
        return row(result, object_id)["indicators"]

    may = figures("inspector", 5, users["inspector"])
    assert (may["reported"], may["valid"]) == (1, 1)
    june = figures("shift_leader", 6, users["shift_leader"])
    assert (june["filed"], june["filed_accurate"]) == (2, 1)
    june = figures("dispatcher", 6, users["dispatcher"])
    assert (june["dispatched"], june["dispatched_accurate"]) == (1, 0)
    june = figures("department", 6, month_edges["unit"])
    assert (june["closed"], june["closed_in_time"]) == (1, 0)


def test_an_object_type_s_counts_read_each_source_once(month_edges):
    """Every count over one kind of row (the stages ended in the period, the events in it…) comes out of one pass
    over those rows, for each of the two periods compared — not one pass a count (but for a count asking about
    other rows, 准确立案 and 准确派遣, read in a pass of its own)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from liandong.assessment import service
    from liandong.assessment.indicators import OBJECTS
    from liandong.auth.identity import Identity

    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        for name, obj in OBJECTS.items():
            sources = {(p.source, (key, i) if p.alone else None)  # a part asking about other rows goes alone
                       for key, count in obj.counts.items() for i, p in enumerate(count.parts)}
            assert len(sources) < len(obj.counts) or name == "inspector", name  # sharing is what saves reads
            statements.clear()
            with unit_of_work(month_edges["url"]) as s:
                service.assess(s, Identity(roles=frozenset({"leader"})), name, periods.month(2026, 6),
                               at("2026-07-02 10:00"))
            passes = [q for q in statements if "GROUP BY" in q and ("case_stage_facts" in q or "case_events" in q)]
            assert len(passes) == 2 * len(sources), (name, len(passes), len(sources))
            reads = [q for q in statements if "case_stage_facts" in q or "case_events" in q]
            others = [q[:150] for q in reads if q not in passes]
            assert len(others) == 1, (name, others)  # the working time of the period's stages
    finally:
        event.remove(Engine, "before_cursor_execute", seen)


def test_working_times_are_the_mean_and_the_90th_percentile_of_the_facts(june):
    """The database ranks the stages; what comes back is what numpy makes of every fact (linear interpolation),
    for people, departments and regions (a town's stages are those of the cases in its grids)."""
    import numpy as np

    from liandong.assessment.indicators import OBJECTS
    from liandong.cases.models import Case

    month = periods.month(2026, 6)
    with unit_of_work(june["url"]) as s:
        facts = s.execute(select(StageFact.stage, StageFact.actor_id, StageFact.lead_unit_id, Case.area_path,
                                 StageFact.used_minutes).join(Case, Case.id == StageFact.case_id)
                          .where(StageFact.ended_at >= month.start, StageFact.ended_at < month.end,
                                 StageFact.used_minutes.is_not(None))).all()
    checked = 0
    for name, obj in OBJECTS.items():
        result = assessed(june, name, **{"from": "2026-06-01", "to": "2026-06-30"})
        for r in result["rows"]:
            for stage in obj.stages:
                if name == "department":
                    mine = [f.used_minutes for f in facts if f.stage == stage and f.lead_unit_id == r["id"]]
                elif name in ("town", "community"):
                    mine = [f.used_minutes for f in facts if f.stage == stage and f"/{r['id']}/" in f.area_path]
                else:
                    mine = [f.used_minutes for f in facts if f.stage == stage and f.actor_id == r["id"]]
                if not mine:
                    assert stage not in r["times"], (name, r["id"], stage)
                    continue
                minutes = np.array(mine)
                assert r["times"][stage] == {"n": len(mine), "mean_hours": round(float(minutes.mean()) / 60, 2),
                                             "p90_hours": round(float(np.percentile(minutes, 90)) / 60, 2)}, (
                    name, stage)
                checked += 1
    assert checked >= 8


def test_every_count_s_drill_down_adds_up_to_its_figure(june):
    """The figure (one pass a source, ``counts.figures``) and the drill-down (the parts' rows, ``Count.rows``) are
    read two ways: for every object, every count with a figure, the list's total is the figure."""
    from liandong.assessment import service
    from liandong.assessment.indicators import OBJECTS
    from liandong.auth.identity import Identity

    leader, month, now = Identity(roles=frozenset({"leader"})), periods.month(2026, 6), at("2026-07-02 10:00")
    checked = 0
    with unit_of_work(june["url"]) as s:
        for name, obj in OBJECTS.items():
            for r in service.assess(s, leader, name, month, now)["rows"]:
                for key in obj.counts:
                    if r["indicators"][key]:
                        total = service.drill(s, leader, name, r["id"], key, "numerator", month, now)["total"]
                        assert total == r["indicators"][key], (name, r["id"], key)
                        checked += 1
    assert checked >= 40


def test_the_90th_percentile_of_sorted_times_is_numpy_s():
    """``service.p90`` on sorted values: numpy's default percentile (linear between the nearest two), from one value
    to many, ties and all."""
    import numpy as np

    from liandong.assessment import service

    rng = np.random.default_rng(7)
    for n in [*range(1, 40), 1000, 12_345]:
        for values in (rng.exponential(600, n), rng.integers(0, 5, n).astype(float)):
            ordered = np.sort(values)
            assert service.p90(ordered) == pytest.approx(float(np.percentile(ordered, 90)), rel=1e-12, abs=1e-12)
