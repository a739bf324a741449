"""The warnings page and the command centre's warnings panel over HTTP, without a browser: ``/warnings`` answers the
emergency staff in Chinese and English (the import form only for those who may import), refuses citizens and sends
strangers to log in; the main navigation leads there; the dashboard carries the panel; a refused CAP document reads
in the page's language and names the element at fault. Every test runs on SQLite and PostgreSQL (``case_world``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from liandong.app import create_app
from liandong.auth.service import create_user
from liandong.config import Settings
from liandong.db import unit_of_work
from tests.caseworld import WEST_POINT
from tests.factories import PASSWORD, WEST

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cap" / "samples"
USERS = (("commander", "C", ["commander"]), ("citizen_w", "C", ["citizen"]), ("ws_west_w", f"W-{WEST}001", ["handler"]))
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


def issue_warning(client: TestClient) -> dict:
    body = {"title": "某小区燃气泄漏", "category": "accident", "type": "燃气泄漏", "grade": 3, "lon": WEST_POINT[0],
            "lat": WEST_POINT[1], "area_codes": [WEST], "commander": "commander"}
    made = client.post("/api/v1/incidents", json=body)
    assert made.status_code == 201, made.text
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)).isoformat()
    warned = client.post(f"/api/v1/incidents/{made.json()['id']}/warnings",
                         json={"msg_type": "Alert", "headline": "燃气泄漏黄色预警", "description": "请绕行",
                               "expires": expires})
    assert warned.status_code == 201, warned.text
    return {"incident": made.json(), **warned.json()}


def test_the_warnings_page_answers_the_commander_in_both_languages(world):
    for lang, words in (("zh", ("预警信息", "本区发布", "外部接收", "导入 CAP 预警", "Atom 订阅")),
                        ("en", ("Warnings", "Issued by us", "Received", "Import a CAP warning", "Atom feed"))):
        client = browser(world, "commander", lang)
        r = client.get("/warnings")
        assert r.status_code == 200, r.text
        for word in words:
            assert word in r.text, word
        assert "unsafe-inline" not in r.headers["content-security-policy"] and "<script>" not in r.text
        assert "/static/js/warnings.js" in r.text and 'id="warn-map"' in r.text
        assert 'id="import-form"' in r.text and 'data-can-import="true"' in r.text  # a commander imports
        assert 'href="/cap/alerts.atom"' in r.text
        assert 'data-tab="issued"' in r.text  # the issued list first
        for page in ("/warnings", "/incidents", "/"):  # the main navigation leads there
            assert 'href="/warnings"' in client.get(page).text, page
        chosen = client.get("/warnings", params={"tab": "received", "id": 7})
        assert chosen.status_code == 200 and 'data-tab="received" data-selected="7"' in chosen.text
        assert client.get("/warnings", params={"tab": "elsewhere"}).status_code == 422


def test_staff_who_may_not_import_see_the_lists_only(world):
    handler = browser(world, "ws_west_w")
    page = handler.get("/warnings")
    assert page.status_code == 200
    assert 'id="import-form"' not in page.text and 'data-can-import="false"' in page.text
    assert 'href="/warnings"' in page.text


def test_citizens_are_refused_and_strangers_sent_to_log_in(world):
    citizen = browser(world, "citizen_w")
    r = citizen.get("/warnings")
    assert r.status_code == 403 and "需要工作人员角色" in r.text
    assert 'href="/warnings"' not in r.text and 'href="/warnings"' not in citizen.get("/").text
    stranger = TestClient(create_app(Settings(database_url=world, index_check_seconds=0)))
    r = stranger.get("/warnings?tab=received", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/warnings%3Ftab%3Dreceived"


def test_the_dashboard_carries_the_warnings_in_force(world):
    client = browser(world, "commander")
    dash = client.get("/").text
    assert 'id="warnings-in-force"' in dash and "/static/js/dash-warnings.js" in dash
    assert 'href="/warnings"' in dash
    issued = issue_warning(client)
    current = client.get("/api/v1/cap/issued", params={"state": "current"}).json()  # what the panel reads
    assert issued["identifier"] in {w["identifier"] for w in current["items"]}


def test_a_refused_document_reads_in_the_page_language_with_its_element(world):
    data = (SAMPLES / "negative" / "invalid.cap.xml").read_bytes()
    for lang, words in (("zh", "文档不符合 CAP 的 XML 架构（元素 <info>，第 9 行）"),
                        ("en", "The document does not follow the CAP schema (element <info>, line 9)")):
        client = browser(world, "commander", lang)
        r = client.post("/api/v1/cap/import", content=data, headers={"Content-Type": "application/xml", **SAME_ORIGIN})
        assert r.status_code == 400
        body = r.json()
        assert (body["code"], body["params"]) == ("cap_schema", {"element": "info", "line": 9})
        assert body["detail"] == words and "schema" in body["detail_en"]
        xxe = (SAMPLES / "negative" / "xxe_attack_DO_NOT_RESOLVE_ENTITIES.cap.xml").read_bytes()
        r = client.post("/api/v1/cap/import", content=xxe, headers={"Content-Type": "application/xml", **SAME_ORIGIN})
        assert r.json()["code"] == "cap_dtd_forbidden" and "<!DOCTYPE>" in r.json()["detail"]
        r = client.post("/api/v1/cap/import", content=data, headers={"Content-Type": "text/plain", **SAME_ORIGIN})
        assert r.status_code == 415
        assert r.json()["detail"] == ("请以 XML（application/xml）提交 CAP 文档" if lang == "zh"
                                      else "Send the CAP document as XML (application/xml)")
    api = TestClient(create_app(Settings(database_url=world, index_check_seconds=0)))  # no page: the API's English
    token = api.post("/api/v1/auth/token", data={"username": "commander", "password": PASSWORD}).json()
    r = api.post("/api/v1/cap/import", content=data, headers={"Content-Type": "application/xml",
                                                              "Authorization": f"Bearer {token['access_token']}"})
    assert r.json()["detail"].startswith("CAP 1.2 schema, line 9")
