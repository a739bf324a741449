"""12345 hotline work orders: broken rows named by line, all-or-nothing or keep-the-good, idempotent
re-import that updates, GCJ-02 input, callbacks recorded on closed cases; over HTTP and the CLI."""

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from liandong.app import create_app
from liandong.cases.models import Case, CaseEvent
from liandong.config import Settings
from liandong.db import unit_of_work
from tests.caseworld import WEST_POINT, do, unit_id
from tests.conftest import login
from tests.factories import PASSWORD, WEST
from tests.test_cli import run

HEADER = "order_id,received_at,matter_code,description,lon,lat,caller_name,caller_phone"
X, Y = WEST_POINT


def csv_text(prefix: str, *, bad: bool = True, description: str = "暴露垃圾") -> str:
    rows = [HEADER,
            f"{prefix}-1,2026-11-20 09:15,06010,{description},{X},{Y},赵六,13600001111",
            f"{prefix}-2,2026-11-20T10:00:00+08:00,09009,机动车乱停放,{X},{Y},,",
            f"{prefix}-3,2026-11-21 08:00,06001,违章搭建,{X},{Y},钱七,13600002222"]
    if bad:
        rows += [f"{prefix}-4,2026-11-21 08:00,99999,未知事项,{X},{Y},,",  # line 5
                 f"{prefix}-5,2026-11-21 08:00,06010,坐标错,east,{Y},,",  # line 6
                 f",2026-11-21 08:00,06010,没有编号,{X},{Y},,",  # line 7
                 f"{prefix}-6,next tuesday,06010,时间错,{X},{Y},,"]  # line 8
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def world(case_world):
    return case_world


def client_for(url):
    client = TestClient(create_app(Settings(database_url=url)))
    return client, login(client, "receptionist", PASSWORD)


def count(url) -> int:
    with unit_of_work(url) as s:
        return s.scalar(select(func.count()).select_from(Case))


def test_bad_rows_are_named_and_nothing_is_written_by_default(world):
    client, h = client_for(world)
    before = count(world)
    r = client.post("/api/v1/hotline/orders", content=csv_text("A").encode(), headers=h)
    assert r.status_code == 422
    where = {b["where"]: b["reason"] for b in r.json()["bad_rows"]}
    assert set(where) == {"line 5", "line 6", "line 7", "line 8"}
    assert "99999" in where["line 5"] and "numbers" in where["line 6"] and "order_id" in where["line 7"]
    assert "date-time" in where["line 8"]
    assert count(world) == before
    assert client.post("/api/v1/hotline/orders", content=b"a,b\n1,2\n", headers=h).status_code == 422
    disp = login(client, "dispatcher", PASSWORD)
    assert client.post("/api/v1/hotline/orders", content=csv_text("A").encode(), headers=disp).status_code == 403


def test_keep_good_rows_then_reimport_updates(world):
    client, h = client_for(world)
    before = count(world)
    r = client.post("/api/v1/hotline/orders", params={"mode": "good"}, content=csv_text("B").encode(), headers=h)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("read", "created", "updated", "skipped")} == {
        "read": 7, "created": 3, "updated": 0, "skipped": 4}
    assert count(world) == before + 3
    with unit_of_work(world) as s:
        case = s.scalar(select(Case).where(Case.idempotency_key == "12345:B-1"))
        assert case.channel == "hotline" and case.reporter_phone == "13600001111"
        assert case.created_at.isoformat() == "2026-11-20T01:15:00+00:00"  # local time, kept as it was
    changed = csv_text("B", bad=False, description="暴露垃圾（补充）").encode()
    again = client.post("/api/v1/hotline/orders", content=changed, headers=h).json()
    assert again["created"] == 0 and again["updated"] == 3 and count(world) == before + 3
    with unit_of_work(world) as s:
        case = s.scalar(select(Case).where(Case.idempotency_key == "12345:B-1"))
        assert case.description == "暴露垃圾（补充）"
        actions = list(s.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq)))
    assert actions == ["report", "update"]  # one update event; the unchanged orders got none


def test_json_orders_in_gcj02(world):
    client, h = client_for(world)
    from liandong.areas.crs import wgs84_to_gcj02

    gx, gy = wgs84_to_gcj02(X, Y)
    body = [{"order_id": "C-1", "received_at": "2026-11-22T09:00:00+08:00", "matter_code": "06010",
             "description": "GCJ-02 坐标", "lon": float(gx), "lat": float(gy)}, {"order_id": "C-2"}]
    r = client.post("/api/v1/hotline/orders", params={"format": "json", "crs": "gcj02", "mode": "good"},
                    content=json.dumps(body).encode(), headers=h)
    assert r.json()["created"] == 1 and r.json()["bad_rows"][0]["where"] == "item 2"
    with unit_of_work(world) as s:
        case = s.scalar(select(Case).where(Case.idempotency_key == "12345:C-1"))
        assert abs(case.lon - X) < 1e-5 and abs(case.lat - Y) < 1e-5  # stored as WGS84


def test_callbacks_rate_closed_orders_once(world):
    client, h = client_for(world)
    client.post("/api/v1/hotline/orders", content=csv_text("D", bad=False).encode(), headers=h)
    with unit_of_work(world) as s:
        cid = s.scalar(select(Case.id).where(Case.idempotency_key == "12345:D-1"))
    extra = {"report_done": {"note": "已清运"}, "dispatch": {"lead_unit_id": unit_id(world, f"B-cm-{WEST}")}}
    for action in ("accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"):
        do(world, cid, action, **extra.get(action, {}))
    callbacks = ("order_id,satisfaction,note\nD-1,satisfied,回访满意\nD-2,satisfied,\nZ-9,satisfied,\n"
                 "D-3,so-so,\n")
    r = client.post("/api/v1/hotline/callbacks", content=callbacks.encode(), headers=h).json()
    assert r["rated"] == 1 and [b["where"] for b in r["bad_rows"]] == ["line 3", "line 4", "line 5"]
    again = client.post("/api/v1/hotline/callbacks", content=callbacks.encode(), headers=h).json()
    assert again["rated"] == 0 and "rated already" in again["bad_rows"][0]["reason"]
    assert client.get(f"/api/v1/cases/{cid}", headers=h).json()["satisfaction"] == "satisfied"


def test_cli(world, tmp_path):
    if not world.startswith("sqlite"):
        pytest.skip("the CLI is exercised once, on SQLite")
    path = tmp_path / "orders.csv"
    path.write_text(csv_text("E"), encoding="utf-8")
    bad = run(world, "import-hotline", str(path))
    assert bad.returncode == 2 and "line 5" in bad.stderr and "nothing was imported" in bad.stderr
    good = run(world, "import-hotline", str(path), "--mode", "good")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout.strip().splitlines()[-1])["created"] == 3 and "skipped line 6" in good.stderr
