"""The early-warning page (早研判) over HTTP without a browser: it answers the roles that see warnings in Chinese and
English, sends the signed-out to the login page, refuses a citizen and a receptionist; the navigation and the command
centre's panel are there for those roles only; the early-warning refusals read in both languages. Every test runs on
SQLite and PostgreSQL (``case_world``)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from liandong.app import create_app
from liandong.auth.service import create_user
from liandong.config import Settings
from liandong.db import unit_of_work
from liandong.web import reasons
from tests.factories import PASSWORD

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def world(case_world):
    with unit_of_work(case_world) as s:
        create_user(s, username="citizen_ew", password=PASSWORD, unit_code="C", roles=["citizen"])
        create_user(s, username="commander_ew", password=PASSWORD, unit_code="C", roles=["commander"])
    return case_world


def browser(url: str, username: str, lang: str = "zh") -> TestClient:
    client = TestClient(create_app(Settings(database_url=url, index_check_seconds=0)), base_url="http://testserver")
    r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text
    client.cookies.set("liandong_lang", lang)
    return client


@pytest.mark.parametrize(("lang", "words"), [("zh", ("早研判预警", "立即扫描", "证据地图", "待处理（新发现和关注中）")),
                                             ("en", ("Early warnings", "Scan now", "Evidence on the map",
                                                     "Open (new and watching)"))])
def test_the_page_answers_a_shift_leader_in_both_languages(world, lang, words):
    client = browser(world, "shift_leader", lang)
    r = client.get("/early-warnings")
    assert r.status_code == 200, r.text
    for word in words:
        assert word in r.text
    assert 'href="/early-warnings"' in r.text  # the main navigation leads there
    assert 'data-can-scan="true"' in r.text and 'id="scan"' in r.text
    assert 'id="ew-map"' in r.text and 'id="promote-form"' in r.text and 'id="dismiss-form"' in r.text
    assert "/static/js/early-warnings.js" in r.text
    assert "unsafe-inline" not in r.headers["content-security-policy"] and "<script>" not in r.text
    chosen = client.get("/early-warnings", params={"status": "promoted", "id": 7})
    assert chosen.status_code == 200 and 'data-selected="7"' in chosen.text and 'data-status="promoted"' in chosen.text
    assert client.get("/early-warnings", params={"status": "bogus"}).status_code == 422


def test_a_commander_sees_the_page_without_the_scan_button(world):
    r = browser(world, "commander_ew", "en").get("/early-warnings")
    assert r.status_code == 200
    assert 'data-can-scan="false"' in r.text and 'id="scan"' not in r.text


def test_the_others_are_refused(world):
    for username in ("citizen_ew", "receptionist"):
        client = browser(world, username)
        r = client.get("/early-warnings")
        assert r.status_code == 403
        assert "早研判仅对值班长" in r.text
        dash = client.get("/")
        assert 'href="/early-warnings"' not in dash.text and "dash-early-warnings.js" not in dash.text
    anonymous = TestClient(create_app(Settings(database_url=world, index_check_seconds=0)))
    r = anonymous.get("/early-warnings", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/early-warnings")


def test_the_command_centre_has_the_panel(world):
    for lang, title in (("zh", "早研判预警"), ("en", "Early warnings")):
        r = browser(world, "dispatcher", lang).get("/")
        assert r.status_code == 200
        assert 'id="early-warnings-open"' in r.text and "/static/js/dash-early-warnings.js" in r.text
        assert title in r.text and 'href="/early-warnings"' in r.text


def test_the_refusals_read_in_both_languages(world):
    client = browser(world, "shift_leader")
    r = client.post("/api/v1/early-warnings/999999/actions/watch", json={}, headers=SAME_ORIGIN)
    assert r.status_code == 404 and r.json()["code"] == "early_warning_not_found"
    assert r.json()["detail"] == "未找到早研判预警 999999，或不在您的辖区内"
    r = client.post("/api/v1/early-warnings/scan", params={"at": "2999-01-01T00:00:00Z"}, headers=SAME_ORIGIN)
    assert r.status_code == 422 and r.json()["detail"] == "扫描时间不能晚于现在"
    r = client.get("/api/v1/early-warnings", params={"status": "nonsense"}, headers=SAME_ORIGIN)
    assert r.status_code == 422 and r.json()["detail"] == "未知的预警状态 nonsense"
    client.cookies.set("liandong_lang", "en")
    r = client.post("/api/v1/early-warnings/999999/actions/watch", json={}, headers=SAME_ORIGIN)
    assert r.json()["detail"] == "Early warning 999999 not found, or outside your area"
    for code in ("early_warning_not_found", "warning_status", "scan_in_future", "bad_status"):
        assert code in reasons.CODES
    params = {"action": "watch", "status": "promoted"}
    assert reasons.in_chinese("warning_status", params) == "该预警已升级为事件，不能再执行该操作"
    assert reasons.in_english("warning_status", params) == ("This early warning is promoted: that decision is no "
                                                            "longer open")
