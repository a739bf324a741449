"""One problem, three channels: a hotline call, an Open311 app and a camera report the same exposed garbage;
the later reports merge into the first and their reporters follow it; a weaker match waits for review."""

import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from liandong.app import create_app
from liandong.cases.dedupe import score, similarity
from liandong.cases.models import Case
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.intake.open311 import service as open311
from liandong.intake.video.service import sign
from tests.caseworld import WEST_POINT, do, unit_id
from tests.conftest import login
from tests.factories import PASSWORD, WEST

KEY = "dedupe-open311-key-0123456789"
X, Y = WEST_POINT


@pytest.fixture(scope="module")
def world(case_world):
    with unit_of_work(case_world) as s:
        open311.create_key(s, "dedupe", "admin", KEY)
    return case_world


@pytest.fixture(scope="module")
def client(world, tmp_path_factory):
    return TestClient(create_app(Settings(database_url=world, dedupe_auto=0.85, dedupe_review=0.6,
                                          upload_dir=str(tmp_path_factory.mktemp("up")))))


def test_similarity_of_chinese_descriptions():
    assert similarity("小区门口垃圾堆积", "小区门口垃圾堆积严重") > 0.7
    assert similarity("小区门口垃圾堆积", "机动车乱停放") == 0.0


def test_three_channels_one_case(world, client):
    rec = login(client, "receptionist", PASSWORD)
    first = client.post("/api/v1/cases", headers=rec, json={
        "matter_code": "06010", "description": "小区门口垃圾堆积", "lon": X, "lat": Y, "channel": "hotline",
        "reporter": {"name": "甲", "phone": "13800000001"}}).json()
    assert first["state"] == "reported"
    app_report = client.post("/open311/v2/requests.json", data={
        "api_key": KEY, "service_code": "06010", "lat": str(Y + 0.0002), "long": str(X), "phone": "13800000002",
        "description": "小区门口垃圾堆积很久了"}).json()[0]
    admin = login(client, "admin", PASSWORD)
    secret = client.post("/api/v1/video/sources", json={"name": "dedupe-cams"}, headers=admin).json()["secret"]
    body = json.dumps({"event_id": "d-1", "type": "exposed_garbage", "lon": X + 0.0003, "lat": Y}).encode()
    ts = str(int(time.time()))
    cam = client.post("/api/v1/video/events/dedupe-cams", content=body,
                      headers={"X-Liandong-Timestamp": ts, "X-Liandong-Signature": sign(secret, ts, body)}).json()
    with unit_of_work(world) as s:
        app_case = s.scalar(select(Case).where(Case.number == app_report["service_request_id"]))
        cam_case = s.get(Case, cam["case_id"])
        assert app_case.state == cam_case.state == "merged"
        assert app_case.master_id == cam_case.master_id == first["id"]
    shown = client.get(f"/api/v1/cases/{first['id']}", headers=rec).json()
    assert {m["channel"] for m in shown["merged"]} == {"open311", "video"}
    assert {m["reporter"]["phone"] for m in shown["merged"]} >= {"13800000002"}  # every reporter is kept
    # the master moves on; the Open311 reporter sees it through the merged request
    extra = {"report_done": {"note": "已清运"}, "dispatch": {"lead_unit_id": unit_id(world, f"B-cm-{WEST}")}}
    for action in ("accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"):
        do(world, first["id"], action, **extra.get(action, {}))
    (followed,) = client.get(f"/open311/v2/requests/{app_report['service_request_id']}.json").json()
    assert followed["status"] == "closed" and first["number"] in followed["status_notes"]


def test_a_hotline_import_merges_too_and_its_callback_is_kept(world, client):
    rec = login(client, "receptionist", PASSWORD)
    first = client.post("/api/v1/cases", headers=rec, json={
        "matter_code": "09009", "description": "路口机动车乱停放", "lon": X + 0.001, "lat": Y,
        "channel": "grid_worker"}).json()
    order = ("order_id,received_at,matter_code,description,lon,lat,caller_name,caller_phone\n"
             f"DD-1,{first['created_at']},09009,路口机动车乱停放严重,{X + 0.001},{Y},,13900000009\n")
    r = client.post("/api/v1/hotline/orders", content=order.encode(), headers=rec)
    assert r.status_code == 200 and r.json()["created"] == 1, r.text
    with unit_of_work(world) as s:
        call = s.scalar(select(Case).where(Case.idempotency_key == "12345:DD-1"))
        assert call.state == "merged" and call.master_id == first["id"]
    extra = {"report_done": {"note": "已劝离"}, "dispatch": {"lead_unit_id": unit_id(world, f"B-cm-{WEST}")}}
    for action in ("accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"):
        do(world, first["id"], action, **extra.get(action, {}))
    cb = client.post("/api/v1/hotline/callbacks", content=b"order_id,satisfaction\nDD-1,satisfied\n", headers=rec)
    assert cb.status_code == 200 and cb.json()["rated"] == 1, cb.text
    with unit_of_work(world) as s:
        assert s.scalar(select(Case.satisfaction).where(Case.idempotency_key == "12345:DD-1")) == "satisfied"


def test_a_weaker_match_waits_for_review(world, client):
    rec = login(client, "receptionist", PASSWORD)
    a = client.post("/api/v1/cases", headers=rec, json={
        "matter_code": "06011", "description": "积存垃圾渣土一堆", "lon": X + 0.001, "lat": Y + 0.001,
        "channel": "hotline"}).json()
    b = client.post("/api/v1/cases", headers=rec, json={  # same family (市容环境), 50 m away, other words
        "matter_code": "06036", "description": "路边乱堆放木板", "lon": X + 0.001, "lat": Y + 0.00145,
        "channel": "grid_worker"}).json()
    assert b["state"] == "reported"  # not merged
    queue = client.get("/api/v1/duplicates", headers=rec).json()
    pair = next(p for p in queue if p["case"]["id"] == b["id"])
    assert pair["candidate"]["id"] == a["id"] and 0.6 <= pair["score"] < 0.85
    disp = login(client, "dispatcher", PASSWORD)
    assert client.get("/api/v1/duplicates", headers=disp).status_code == 403
    assert client.post(f"/api/v1/duplicates/{pair['id']}/merge", headers=rec).json()["status"] == "merged"
    assert client.get(f"/api/v1/cases/{b['id']}", headers=rec).json()["master_id"] == a["id"]
    assert client.post(f"/api/v1/duplicates/{pair['id']}/dismiss", headers=rec).status_code == 409


def test_score_parts():
    import datetime as dt
    from types import SimpleNamespace as C

    t = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    same = score(C(created_at=t, description="垃圾"), C(created_at=t, description="垃圾"), True, 0.0)
    assert same == 1.0
    far = score(C(created_at=t, description="垃圾"), C(created_at=t + dt.timedelta(hours=72), description="x"),
                False, 150.0)
    assert far == 0.15
