"""Video-analytics webhooks: signed with HMAC per source, stale or replayed deliveries refused, the event
type picks the matter, the snapshot becomes the case's photo."""

import base64
import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from liandong.app import create_app
from liandong.cases.models import Attachment, Case
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.intake.video.service import sign
from tests.caseworld import WEST_POINT
from tests.conftest import login
from tests.factories import PASSWORD
from tests.test_citizen import png


@pytest.fixture(scope="module")
def world(case_world):
    return case_world


@pytest.fixture(scope="module")
def setup(world, tmp_path_factory):
    client = TestClient(create_app(Settings(database_url=world, upload_dir=str(tmp_path_factory.mktemp("up")))))
    admin = login(client, "admin", PASSWORD)
    made = client.post("/api/v1/video/sources", json={"name": "cam-platform", "matters": {"smoke": "06020"}},
                       headers=admin)
    assert made.status_code == 201, made.text
    return client, made.json()["secret"], admin


def deliver(client, secret, event: dict, *, ts: int | None = None, signature: str | None = None, source="cam-platform"):
    body = json.dumps(event).encode()
    ts_text = str(ts if ts is not None else int(time.time()))
    headers = {"X-Liandong-Timestamp": ts_text, "X-Liandong-Signature": signature or sign(secret, ts_text, body),
               "Content-Type": "application/json"}
    return client.post(f"/api/v1/video/events/{source}", content=body, headers=headers)


def event(eid: str, kind="street_vending", **extra) -> dict:
    return {"event_id": eid, "type": kind, "lon": WEST_POINT[0], "lat": WEST_POINT[1], "camera_id": "CAM-7",
            **extra}


def cases(url) -> int:
    with unit_of_work(url) as s:
        return s.scalar(select(func.count()).select_from(Case).where(Case.channel == "video"))


def test_a_signed_event_becomes_a_case_with_its_snapshot(world, setup):
    client, secret, admin = setup
    snap = base64.b64encode(png()).decode()
    r = deliver(client, secret, event("e-1", snapshot=snap))
    assert r.status_code == 201, r.text
    with unit_of_work(world) as s:
        case = s.get(Case, r.json()["case_id"])
        assert case.channel == "video" and "CAM-7" in case.description
        photo = s.scalar(select(Attachment).where(Attachment.case_id == case.id))
        assert photo.kind == "before" and photo.content_type == "image/png"
    staff = client.get(f"/api/v1/cases/{case.id}", headers=login(client, "dispatcher", PASSWORD)).json()
    assert staff["matter_code"] == "09006"  # 占道经营
    assert deliver(client, secret, event("e-2", kind="smoke")).status_code == 201  # the source's own mapping


def test_bad_signatures_stale_and_replayed_deliveries_are_refused(world, setup):
    client, secret, _ = setup
    before = cases(world)
    assert deliver(client, secret, event("x-1"), signature="sha256=" + "0" * 64).status_code == 401
    assert deliver(client, "not-the-secret", event("x-2")).status_code == 401
    assert deliver(client, secret, event("x-3"), ts=int(time.time()) - 3600).status_code == 401  # an hour old
    body = json.dumps(event("x-4")).encode()
    ts = str(int(time.time()))
    headers = {"X-Liandong-Timestamp": ts, "X-Liandong-Signature": sign(secret, ts, body)}
    assert client.post("/api/v1/video/events/cam-platform", content=body, headers=headers).status_code == 201
    again = client.post("/api/v1/video/events/cam-platform", content=body, headers=headers)  # captured and replayed
    assert again.status_code == 409 and "replay" in again.json()["detail"]
    tampered = body.replace(b"street_vending", b"exposed_garbage")
    assert client.post("/api/v1/video/events/cam-platform", content=tampered, headers=headers).status_code == 401
    assert client.post("/api/v1/video/events/cam-platform", content=body).status_code == 401  # no headers
    assert deliver(client, secret, event("x-5"), source="nobody").status_code == 404
    assert deliver(client, secret, event("x-6", kind="ufo")).status_code == 422
    assert deliver(client, secret, event("x-7", snapshot="@@@")).status_code == 422
    assert cases(world) == before + 1


def test_sources_are_managed_by_admins(world, setup):
    client, secret, admin = setup
    disp = login(client, "dispatcher", PASSWORD)
    assert client.post("/api/v1/video/sources", json={"name": "other"}, headers=disp).status_code == 403
    listed = client.get("/api/v1/video/sources", headers=admin).json()
    assert listed[0]["name"] == "cam-platform" and "secret" not in listed[0]
    assert client.post("/api/v1/video/sources", json={"name": "cam-platform"}, headers=admin).status_code == 409
    assert client.delete("/api/v1/video/sources/cam-platform", headers=admin).status_code == 204
    assert deliver(client, secret, event("z-1")).status_code == 404  # revoked
