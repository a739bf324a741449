"""Citizen reports without an account: report, follow with number + key, rate once, abuse limits."""

import struct
import zlib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from liandong.app import create_app
from liandong.cases.models import Attachment, Case
from liandong.config import Settings
from liandong.db import unit_of_work
from tests.caseworld import WEST_POINT, do, unit_id
from tests.conftest import login
from tests.factories import PASSWORD, WEST

FULL = ["accept", "file", "dispatch", "sign", "report_done", "request_check", "check_passed", "close"]


def png() -> bytes:
    """A real 1×1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def world(case_world):
    return case_world


def client_for(url: str, tmp_path, **settings) -> TestClient:
    return TestClient(create_app(Settings(database_url=url, upload_dir=str(tmp_path), index_check_seconds=0,
                                          **settings)))


FORM = {"matter_code": "06010", "description": "小区门口暴露垃圾", "lon": str(WEST_POINT[0]),
        "lat": str(WEST_POINT[1]), "name": "王五", "phone": "13800138000"}


def count(url) -> int:
    with unit_of_work(url) as s:
        return s.scalar(select(func.count()).select_from(Case))


def test_report_follow_and_rate(world, tmp_path):
    client = client_for(world, tmp_path)
    r = client.post("/api/v1/public/reports", data=FORM, files={"photo": ("p.png", png(), "image/png")})
    assert r.status_code == 201, r.text
    number, key = r.json()["number"], r.json()["key"]
    assert r.json()["track_url"] == f"/report/track?number={number}&key={key}"
    with unit_of_work(world) as s:
        case = s.scalar(select(Case).where(Case.number == number))
        assert case.channel == "citizen_web" and case.reporter_phone == "13800138000"
        assert case.tracking_key_hash and key not in case.tracking_key_hash  # only a digest is kept
        photo = s.scalar(select(Attachment).where(Attachment.case_id == case.id))
        assert photo.kind == "before" and (tmp_path / photo.stored_as).read_bytes() == png()
        cid = case.id
    seen = client.get(f"/api/v1/public/reports/{number}", params={"key": key}).json()
    assert seen["stage"] == "reported" and seen["matter_name"] == "暴露垃圾" and seen["can_rate"] is False
    assert "phone" not in str(seen) and "13800138000" not in str(seen)
    for bad in ({"key": "wrong"}, {"key": key + "x"}):
        assert client.get(f"/api/v1/public/reports/{number}", params=bad).status_code == 404
    assert client.get(f"/api/v1/public/reports/{number}").status_code == 422  # no key at all
    rating = {"key": key, "satisfaction": "satisfied"}
    assert client.post(f"/api/v1/public/reports/{number}/rating", json=rating).status_code == 409  # not done yet
    extra = {"report_done": {"note": "已清运"}, "dispatch": {"lead_unit_id": unit_id(world, f"B-cm-{WEST}")}}
    for action in FULL:
        do(world, cid, action, **extra.get(action, {}))
    seen = client.get(f"/api/v1/public/reports/{number}", params={"key": key}).json()
    assert seen["stage"] == "closed" and seen["can_rate"] is True
    assert [s["stage"] for s in seen["steps"]] == ["reported", "accepted", "in_hand", "closed"]
    assert client.post(f"/api/v1/public/reports/{number}/rating",
                       json={**rating, "satisfaction": "meh"}).status_code == 422
    assert client.post(f"/api/v1/public/reports/{number}/rating", json={**rating, "key": "x"}).status_code == 404
    done = client.post(f"/api/v1/public/reports/{number}/rating", json=rating)
    assert done.status_code == 200 and done.json()["satisfaction"] == "satisfied" and done.json()["can_rate"] is False
    assert client.post(f"/api/v1/public/reports/{number}/rating", json=rating).status_code == 422  # only once
    staff = client.get(f"/api/v1/cases/{cid}", headers=login(client, "receptionist", PASSWORD)).json()
    assert staff["satisfaction"] == "satisfied"


def test_bad_reports_leave_nothing(world, tmp_path):
    client = client_for(world, tmp_path)
    before = count(world)
    cases = [
        ({**FORM, "matter_code": "99999"}, None, 422),
        ({**FORM, "lon": "120.0", "lat": "30.0"}, None, 422),  # outside the district
        ({**FORM, "description": "x" * 2001}, None, 422),
        (FORM, ("p.gif", b"GIF89a" + b"\x00" * 20, "image/gif"), 422),  # not a photo type we take
        (FORM, ("big.png", png() + b"\x00" * 2048, "image/png"), 413),
    ]
    small = client_for(world, tmp_path, max_upload_bytes=1024)
    for form, photo, status in cases:
        c = small if status == 413 else client
        r = c.post("/api/v1/public/reports", data=form, files={"photo": photo} if photo else None)
        assert r.status_code == status, r.text
        assert r.json()["detail"]
    assert count(world) == before
    assert list(tmp_path.rglob("*.*")) == []  # no stray photo files either


def test_reports_are_limited_per_address(world, tmp_path):
    client = client_for(world, tmp_path, citizen_report_limit="2/minute")
    for _ in range(2):
        assert client.post("/api/v1/public/reports", data=FORM).status_code == 201
    r = client.post("/api/v1/public/reports", data=FORM)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "too many" in r.json()["detail"]


def test_matter_search_by_pinyin_initials(world, tmp_path):
    client = client_for(world, tmp_path)
    by_initials = client.get("/api/v1/public/matters", params={"q": "bllj"}).json()
    assert [m["code"] for m in by_initials] == ["06010"] and by_initials[0]["initials"] == "bllj"
    assert any(m["code"] == "06010" for m in client.get("/api/v1/public/matters", params={"q": "垃圾"}).json())
    assert client.get("/api/v1/public/matters", params={"q": "0601"}).json()[0]["code"].startswith("0601")
    towns = client.get("/api/v1/public/towns").json()
    assert len(towns["features"]) == 2
    assert set(towns["features"][0]["properties"]) == {"code", "name"}


def test_limits_are_enforced_before_the_body_is_read(world, tmp_path):
    """An abusive client costs no parsing: the rate limit and the size cap answer before the form is read,
    so even a body that is not a form at all gets 429 / 413 / 411 (parsing it would have answered 4xx else)."""
    from liandong.intake.citizen_api import FORM_ALLOWANCE

    junk = {"content-type": "multipart/form-data; boundary=nothing-here"}
    client = client_for(world, tmp_path, max_upload_bytes=1024)
    before = count(world)
    too_big = client.post("/api/v1/public/reports", content=b"x" * (1024 + FORM_ALLOWANCE + 1), headers=junk)
    assert too_big.status_code == 413 and "at most" in too_big.json()["detail"], too_big.text
    chunked = client.post("/api/v1/public/reports", content=iter([b"x" * 100]), headers=junk)
    assert chunked.status_code == 411 and "Content-Length" in chunked.json()["detail"], chunked.text
    assert count(world) == before
    client = client_for(world, tmp_path, citizen_report_limit="1/minute")
    assert client.post("/api/v1/public/reports", data=FORM).status_code == 201
    over = client.post("/api/v1/public/reports", content=b"not a form", headers=junk)
    assert over.status_code == 429 and "too many" in over.json()["detail"] and int(over.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("field", ["description", "name", "matter_code"])
def test_nul_characters_in_text_fields_are_refused(world, tmp_path, field):
    """Multipart bodies pass the request-wide NUL guard (they carry binary photos); the text fields do not."""
    client = client_for(world, tmp_path)
    before = count(world)
    form = {**FORM, field: FORM[field][:2] + "\x00" + FORM[field][2:]}
    r = client.post("/api/v1/public/reports", data=form, files={"photo": ("p.png", png(), "image/png")})
    assert r.status_code == 422 and "NUL" in r.json()["detail"] and field in r.json()["detail"], r.text
    assert count(world) == before
    assert list(tmp_path.rglob("*.*")) == []


PHONE_REFUSED = "phone must have 5–20 characters: digits, spaces and + - ( ) only"


def test_a_citizen_phone_is_one_that_can_be_called_back(world, tmp_path):
    """Anyone can fill the form: a phone is kept only when it could be dialled (digits, spaces, + - ( ), 5–20
    of them), the reason said in the page's language; the page carries the same pattern for the browser."""
    from liandong.intake.citizen import PHONE_PATTERN

    client = client_for(world, tmp_path, citizen_report_limit="50/minute")
    before = count(world)
    for bad in ("not a phone!!", "1234", "1" * 21, "１３８００１３８０００", "138\n00138000"):
        r = client.post("/api/v1/public/reports", data={**FORM, "phone": bad})
        assert r.status_code == 422 and r.json()["detail"] == PHONE_REFUSED, (bad, r.text)
    page = client.post("/api/v1/public/reports", data={**FORM, "phone": "not a phone!!"},
                       headers={"Sec-Fetch-Site": "same-origin"})
    assert page.status_code == 422 and page.json()["detail"] == "电话须为 5–20 位，只能包含数字、空格和 + - ( )"
    assert count(world) == before
    for given, kept in (("+86 (21) 5432-1000", "+86 (21) 5432-1000"), (" 13800138000 ", "13800138000"), ("  ", None)):
        r = client.post("/api/v1/public/reports", data={**FORM, "phone": given})
        assert r.status_code == 201, r.text
        with unit_of_work(world) as s:
            assert s.scalar(select(Case.reporter_phone).where(Case.number == r.json()["number"])) == kept
    assert f'pattern="{PHONE_PATTERN}"' in client.get("/report").text
