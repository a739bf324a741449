"""The grid worker's phone app (/m/) and the citizen page (/report) in a real browser: errors shown where
the worker acts, refused reports kept in the outbox until fixed or dropped, a service worker whose cache
follows the assets, a place picked without a pointer, and the language switch, logout and navigation.
Any console error, page error or failed request not expected by the test fails it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select

from liandong.cases.models import Attachment, Case
from liandong.db import unit_of_work
from tests.browser import Page, caseworld_site, chromium, expect, new_page
from tests.caseworld import WEST_POINT, do, new_case, unit_id
from tests.factories import WEST
from tests.test_browser_work import PNG, api, sign_in

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
AT_WEST = {"geolocation": {"longitude": WEST_POINT[0], "latitude": WEST_POINT[1]}, "permissions": ["geolocation"]}
GIF = b"GIF89a" + b"\x00" * 20
OUTBOX = "import('/static/js/outbox.js')"


@dataclass
class World:
    base: str
    url: str


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("mobile")
    with caseworld_site(folder, live_poll_seconds=0.1, sweep_seconds=0,
                        upload_dir=str(tmp_path_factory.mktemp("uploads"))) as base:
        yield World(base, f"sqlite:///{folder / 'site.db'}")


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def phone(browser, problems: list[str], base: str, username: str = "inspector", **extra) -> Page:
    """A phone signed in as ``username`` on the app, its town outlines drawn."""
    pg = new_page(browser, problems, **{**PHONE, **extra})
    sign_in(pg, base, username)
    pg.goto(f"{base}/m/")
    pg.wait_for_selector(".leaflet-overlay-pane path")
    return pg


def checking_case(url: str, text: str) -> int:
    """A case waiting for the grid worker's check (核查), moved there through the case service."""
    cid = new_case(url, description=text)
    extra = {"dispatch": {"lead_unit_id": unit_id(url, f"B-cm-{WEST}")}, "report_done": {"note": "已处置"}}
    for action in ("accept", "file", "dispatch", "sign", "report_done", "request_check"):
        do(url, cid, action, **extra.get(action, {}))
    return cid


def cases_with(url: str, text: str) -> list[Case]:
    with unit_of_work(url) as s:
        rows = list(s.scalars(select(Case).where(Case.description == text)))
        s.expunge_all()
        return rows


def unexpected(problems: list[str], *paths: str) -> list[str]:
    """The problems left once the refusals the test asked for (Chromium logs each as an error) are set aside."""
    return [p for p in problems if not ("status of 4" in p and any(path in p for path in paths))]


def test_task_errors_are_shown_at_the_task_in_the_page_language(browser, world):
    problems: list[str] = []
    first = checking_case(world.url, f"核查任务 {uuid.uuid4().hex[:6]}")
    pg = phone(browser, problems, world.base)
    pg.get_by_role("tab", name="我的任务").click()
    task = pg.locator(f'.task[data-case-id="{first}"]')
    sent: list[str] = []
    pg.on("request", lambda r: sent.append(r.url) if "/actions/" in r.url else None)
    # check failed needs a note (the server's NEEDS): marked before, and refused by the browser, spaces or none
    note = task.get_by_label("说明")
    expect(task.locator("label")).to_have_text("说明 (核查不通过时必填)")
    for empty in ("", "   "):
        note.fill(empty)
        task.get_by_role("button", name="核查不通过").click()
        assert note.evaluate("e => e.validity.valueMissing")
    assert sent == []
    # a refusal of the server is said in the task itself, in Chinese, naming the field as the form does
    note.evaluate("e => { e.required = false; }")  # as a shell cached before the mark would send it
    task.get_by_role("button", name="核查不通过").click()
    alert = task.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_have_text("提交的内容未被接受: 请填写必填项（说明）")
    expect(pg.locator("#m-error")).to_be_hidden()
    # the case moved on meanwhile (another inspector): the tasks are shown as they are now, and why
    do(world.url, first, "check_passed")
    task.get_by_role("button", name="核查通过").click()
    expect(pg.locator("#tasks-error")).to_be_visible()
    expect(pg.locator("#tasks-error")).to_contain_text("案件已被他人更新")
    expect(pg.locator("#tasks-error")).to_have_attribute("role", "alert")
    expect(task).to_have_count(0)
    # in English after the switch in the app's own top bar
    second = checking_case(world.url, f"check task {uuid.uuid4().hex[:6]}")
    pg.get_by_role("link", name="English").click()
    pg.wait_for_url(f"{world.base}/m/")
    pg.get_by_role("tab", name="My tasks").click()
    task = pg.locator(f'.task[data-case-id="{second}"]')
    expect(task.locator("label")).to_have_text("Note (required for Check failed)")
    task.get_by_label("Note").evaluate("e => { e.required = false; }")
    task.get_by_role("button", name="Check failed").click()
    expect(task.get_by_role("alert")).to_have_text("Not accepted: 'check_failed' needs 'note'")
    assert unexpected(problems, f"/api/v1/cases/{first}/actions", f"/api/v1/cases/{second}/actions") == []


def test_a_refused_report_stays_until_fixed_or_dropped_and_is_sent_once(browser, world):
    problems: list[str] = []
    pg = phone(browser, problems, world.base, **AT_WEST)
    text = f"井盖缺失 {uuid.uuid4().hex[:8]}"
    item = {"id": str(uuid.uuid4()), "created": int(time.time() * 1000), "photo": None, "photoName": None,
            "body": {"matter_code": "06010", "description": text, "lon": 120.0, "lat": 30.0,  # outside the district
                     "channel": "grid_worker"}}
    pg.evaluate(f"(item) => {OUTBOX}.then((o) => o.put(item))", item)
    pg.get_by_role("button", name="立即发送").click()
    expect(pg.locator("#outbox-error")).to_contain_text("1 条报告被服务器拒收")
    row = pg.locator(f'.outbox-item[data-id="{item["id"]}"]')
    expect(row).to_contain_text("服务器拒收此报告")
    expect(row).to_contain_text("提交的内容未被接受")
    expect(pg.locator("#outbox-count")).to_have_text("1")
    pg.reload()  # kept on the phone, and not sent again as it was
    pg.get_by_role("button", name="立即发送").click()
    expect(row).to_contain_text("服务器拒收此报告")
    assert cases_with(world.url, text) == []

    # fixed: the form takes the report back, the place comes from the GPS, sent under the same key
    row.get_by_role("button", name="修改后重发").click()
    expect(pg.locator("#m-editing")).to_be_visible()
    expect(pg.get_by_label("问题描述")).to_have_value(text)
    expect(pg.locator("#matter")).to_have_value("06010")
    pg.get_by_role("button", name="使用我的GPS定位").click()
    expect(pg.locator("#where-hint")).to_contain_text(f"{WEST_POINT[1]:.5f}")
    pg.locator("#m-form").get_by_role("button", name="提交").click()
    expect(pg.locator("#outbox-count")).to_have_text("0")
    expect(pg.locator("#m-editing")).to_be_hidden()
    sent = cases_with(world.url, text)
    assert len(sent) == 1 and sent[0].channel == "grid_worker"
    pg.evaluate(f"(item) => {OUTBOX}.then(async (o) => {{ await o.put(item); await o.flush(); }})",
                {**item, "body": {**item["body"], "lon": WEST_POINT[0], "lat": WEST_POINT[1]}})
    assert len(cases_with(world.url, text)) == 1  # sent under the refused one's key: sent again, still one case

    # dropped: only when the worker says so
    other = {**item, "id": str(uuid.uuid4()), "body": {**item["body"], "description": f"{text} 2"}}
    pg.evaluate(f"(item) => {OUTBOX}.then((o) => o.put(item))", other)
    pg.get_by_role("button", name="立即发送").click()
    dropped = pg.locator(f'.outbox-item[data-id="{other["id"]}"]')
    expect(dropped).to_contain_text("服务器拒收此报告")
    dropped.get_by_role("button", name="放弃此报告").click()
    expect(dropped).to_have_count(0)
    expect(pg.locator("#outbox-count")).to_have_text("0")

    # a refused photo: the case exists, the photo waits for another one (or to be let go)
    photo_text = f"{text} 照片"
    pg.get_by_label("问题类型").fill("bllj")
    expect(pg.locator("#matter option")).to_have_count(1)
    pg.get_by_label("问题描述").fill(photo_text)
    pg.locator("#photo").set_input_files(files=[{"name": "p.gif", "mimeType": "image/gif", "buffer": GIF}])
    pg.locator("#m-form").get_by_role("button", name="提交").click()
    waiting = pg.locator(".outbox-item.refused", has_text=photo_text)
    expect(waiting).to_contain_text("案件已上报，但照片被拒收")
    expect(pg.locator("#outbox-count")).to_have_text("1")
    [case] = cases_with(world.url, photo_text)
    waiting.get_by_label("换一张照片重发").set_input_files(
        files=[{"name": "p.png", "mimeType": "image/png", "buffer": PNG}])
    expect(pg.locator("#outbox-count")).to_have_text("0")
    with unit_of_work(world.url) as s:
        photos = list(s.scalars(select(Attachment.content_type).where(Attachment.case_id == case.id)))
    assert photos == ["image/png"] and len(cases_with(world.url, photo_text)) == 1
    assert unexpected(problems, "/api/v1/cases") == []


def test_reports_on_a_shared_phone_go_only_in_their_makers_name(browser, world):
    """A worker signs out with a report waiting; the next worker on the phone neither sees nor sends it."""
    problems: list[str] = []
    pg = phone(browser, problems, world.base)
    text = f"共用手机 {uuid.uuid4().hex[:6]}"
    theirs = {"id": str(uuid.uuid4()), "created": 1, "owner": "someone_else", "photo": None, "photoName": None,
              "body": {"matter_code": "06010", "description": text, "lon": WEST_POINT[0], "lat": WEST_POINT[1],
                       "channel": "grid_worker"}}
    pg.evaluate(f"(item) => {OUTBOX}.then((o) => o.put(item))", theirs)
    pg.reload()
    expect(pg.locator("#outbox-count")).to_have_text("0")
    pg.get_by_role("button", name="立即发送").click()
    expect(pg.locator("#outbox-count")).to_have_text("0")
    assert cases_with(world.url, text) == []
    assert pg.evaluate(f"(id) => {OUTBOX}.then((o) => o.get(id)).then((i) => !!i)", theirs["id"])  # kept for them
    assert problems == []


def test_the_service_worker_cache_follows_the_assets(browser, world, monkeypatch):
    from liandong.web import mobile

    problems: list[str] = []
    pg = new_page(browser, problems, **PHONE)
    sign_in(pg, world.base, "inspector")
    # a phone that installed an older app: its cache under the old fixed name
    pg.goto(f"{world.base}/report")
    pg.evaluate("caches.open('liandong-m-v2').then((c) => c.put('/static/js/mobile.js', new Response('old')))")
    pg.goto(f"{world.base}/m/")
    pg.evaluate("navigator.serviceWorker.ready.then(() => true)")
    expect_caches(pg, [f"liandong-m-{mobile.asset_version()}"])
    # any asset changes: the phone's next check gets a new worker, which drops the old cache
    monkeypatch.setattr(mobile, "asset_version", lambda root=mobile.STATIC: "next")
    assert 'const VERSION = "next";' in httpx.get(f"{world.base}/m/sw.js").text
    pg.evaluate("navigator.serviceWorker.getRegistration('/m/').then((r) => r.update())")
    expect_caches(pg, ["liandong-m-next"])
    assert pg.evaluate("fetch('/static/js/mobile.js').then((r) => r.text())").startswith("// Grid worker's phone app")
    assert problems == []


def expect_caches(pg: Page, names: list[str], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (seen := pg.evaluate("caches.keys()")) != names and time.monotonic() < deadline:
        pg.wait_for_timeout(100)
    assert seen == names


def test_the_place_is_picked_without_a_pointer(browser, world):
    problems: list[str] = []
    pg = new_page(browser, problems, **PHONE, **AT_WEST)
    pg.goto(f"{world.base}/report")
    pg.wait_for_selector(".leaflet-overlay-pane path")
    the_map = pg.get_by_role("application", name=re.compile("方向键移动地图"))
    centre = pg.get_by_role("button", name="使用地图中心")
    centre.press("Enter")
    lon = float(pg.locator('input[name="lon"]').input_value())
    expect(pg.locator("#where-hint")).to_contain_text("已标出位置")
    the_map.focus()
    for _ in range(2):
        the_map.press("ArrowLeft")
    pg.wait_for_timeout(400)  # the pan is animated
    centre.press("Enter")
    moved = float(pg.locator('input[name="lon"]').input_value())
    assert moved < lon  # the map went west, and so did its centre
    # the rest of the report by keyboard too
    pg.get_by_label("问题类型").fill("bllj")
    expect(pg.locator("#matter option")).to_have_count(1)
    pg.get_by_label("问题描述").fill("键盘上报：路边暴露垃圾")
    pg.get_by_role("button", name="提交").press("Enter")
    expect(pg.locator("#receipt-number")).to_have_text(re.compile(r"^319901-"))
    # the device's position, where there is one
    pg.goto(f"{world.base}/report")
    pg.get_by_role("button", name="使用我的GPS定位").press("Enter")
    expect(pg.locator('input[name="lat"]')).to_have_value(f"{WEST_POINT[1]:.7f}")
    # the same picker on the phone app, and its labels in English
    pg.get_by_role("link", name="English").click()
    pg.wait_for_url(f"{world.base}/report")
    expect(pg.get_by_role("button", name="Use the map centre")).to_be_visible()
    expect(pg.get_by_role("button", name="Use my GPS position")).to_be_visible()
    expect(pg.get_by_role("application", name=re.compile("arrow keys"))).to_be_visible()
    app = phone(browser, problems, world.base)
    expect(app.get_by_role("button", name="使用地图中心")).to_be_visible()
    assert problems == []


def test_the_phone_app_has_language_logout_and_a_place_in_the_navigation(browser, world):
    problems: list[str] = []
    pg = new_page(browser, problems, **PHONE)
    sign_in(pg, world.base, "inspector")
    nav = pg.get_by_role("navigation", name="主导航")
    nav.get_by_role("link", name="网格员端").click()
    pg.wait_for_url(f"{world.base}/m/")
    pg.get_by_role("link", name="English").click()
    pg.wait_for_url(f"{world.base}/m/")
    assert pg.locator("html").get_attribute("lang") == "en"
    expect(pg.get_by_role("tab", name="My tasks")).to_be_visible()
    pg.get_by_role("link", name="中文").click()
    expect(pg.get_by_role("tab", name="我的任务")).to_be_visible()
    pg.get_by_role("button", name="退出").click()
    pg.wait_for_url(re.compile(r"/login"))
    with api(world.base, "inspector") as c:
        assert c.get("/api/v1/me").status_code == 200  # only the cookie's session ended
    assert pg.context.request.get(f"{world.base}/api/v1/me").status == 401
    other = new_page(browser, problems)
    sign_in(other, world.base, "dispatcher")  # not a grid worker: no phone app in the navigation
    expect(other.get_by_role("navigation", name="主导航").get_by_role("link", name="网格员端")).to_have_count(0)
    assert [p for p in problems if "/api/v1/me" not in p] == []


def test_the_citizen_form_says_what_is_wrong_before_sending(browser, world):
    """Spaces alone are no description and a phone must be one that can be called: the browser says so at the
    field, in the page's language, before anything is sent (not as a server error after it)."""
    problems: list[str] = []
    pg = new_page(browser, problems, **PHONE, **AT_WEST)
    sent: list[str] = []
    pg.on("request", lambda r: sent.append(r.url) if r.url.endswith("/api/v1/public/reports") else None)
    pg.goto(f"{world.base}/report")
    pg.wait_for_selector(".leaflet-overlay-pane path")
    pg.get_by_role("button", name="使用我的GPS定位").click()
    expect(pg.locator('input[name="lat"]')).to_have_value(f"{WEST_POINT[1]:.7f}")
    pg.get_by_label("问题类型").fill("bllj")
    expect(pg.locator("#matter option")).to_have_count(1)
    send = pg.get_by_role("button", name="提交")
    description, phone_input = pg.get_by_label("问题描述"), pg.get_by_label("联系电话（可选，仅用于回访）")
    description.fill("   ")
    send.click()
    assert description.evaluate("e => e.validity.valueMissing")
    text = f"路灯不亮 {uuid.uuid4().hex[:6]}"
    description.fill(text)
    phone_input.fill("not a phone!!")
    send.click()
    assert phone_input.evaluate("e => e.type === 'tel' && e.validity.patternMismatch")
    expect(phone_input).to_have_attribute("title", "5–20 位，只能包含数字、空格和 + - ( )")
    assert sent == [] and cases_with(world.url, text) == []
    phone_input.fill(" 021-5432 1000 ")
    send.click()
    expect(pg.locator("#receipt-number")).to_have_text(re.compile(r"^319901-"))
    assert [c.reporter_phone for c in cases_with(world.url, text)] == ["021-5432 1000"]
    pg.goto(f"{world.base}/report")
    pg.get_by_role("link", name="English").click()
    pg.wait_for_url(f"{world.base}/report")
    expect(pg.get_by_label("Phone (optional, only to call you back)")).to_have_attribute(
        "title", "5–20 characters: digits, spaces and + - ( ) only")
    assert problems == []
