"""The screening registers in a real browser, in Chinese and in English: a hazard reported from the list's form,
filed from its page (the action form the action table allows), shown in the list and on its map; a dispute's
mediator assigned from its page, its parties unmasked for the dispatcher, and the 三单 filter. Any console error,
page error or failed request fails a test. Leaves screenshots in var/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.browser import SCREENSHOTS, Page, caseworld_site, chromium, expect, new_page
from tests.caseworld import WEST_POINT
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

WORDS = {
    "zh": {"login": "登录", "new_hazard": "登记安全隐患", "file": "立案", "submit": "提交", "filed": "已立案",
           "found": "已发现", "assign": "指派调解员", "mediating": "调解中", "tier": "网格", "history": "办理记录"},
    "en": {"login": "Log in", "new_hazard": "Register a hazard", "file": "File", "submit": "Submit",
           "filed": "Filed", "found": "Found", "assign": "Assign a mediator", "mediating": "Mediating",
           "tier": "Grid", "history": "History"},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("registers")
    with caseworld_site(folder, live_poll_seconds=0.1, sweep_seconds=0) as base:
        yield base


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def sign_in(pg: Page, base: str, username: str, lang: str, then: str) -> None:
    pg.goto(f"{base}/login")
    pg.get_by_label("用户名").fill(username)
    pg.get_by_label("密码").fill(PASSWORD)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_url(f"{base}/")
    pg.goto(f"{base}/lang/{lang}?next={then}" if lang == "en" else f"{base}{then}")


def api_post(base: str, username: str, path: str, body: dict) -> dict:
    with httpx.Client(base_url=base) as c:
        token = c.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
        r = c.post(path, json=body, headers={"Authorization": f"Bearer {token['access_token']}"})
        assert r.status_code == 201, r.text
        return r.json()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_hazard_is_reported_and_filed_from_its_pages(browser, site, lang):
    base, words = site, WORDS[lang]
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "shift_leader", lang, "/hazards")
    pg.locator("#new-box summary").click()
    form = pg.locator("#new-item")
    form.locator('[name="title"]').fill(f"楼道堆物（{lang}）")
    form.locator('[name="reporter_name"]').fill("王小明")
    form.locator('[name="reporter_phone"]').fill("13812345678")
    expect(pg.locator("#new-map")).to_be_visible()
    expect(pg.locator("#new-map path").first).to_be_attached()  # the towns drawn, the map fitted to them
    pg.locator("#map-centre").click()
    expect(pg.locator("#new-map")).to_have_attribute("data-pinned", "1")
    form.get_by_role("button", name=words["new_hazard"]).click()
    pg.wait_for_url(f"{base}/hazards/*")
    page = pg.locator(".register-item")
    expect(page).to_have_attribute("data-state", "found")
    expect(pg.locator("[data-testid=state]")).to_have_text(words["found"])
    expect(pg.locator("#people")).to_contain_text("13812345678")  # the shift leader calls reporters back
    pg.locator('#actions button[data-action="file"]').click()
    expect(pg.locator("#action-form")).to_be_visible()
    pg.locator("#action-form").get_by_role("button", name=words["submit"]).click()
    expect(page).to_have_attribute("data-state", "filed")
    expect(pg.locator("[data-testid=state]")).to_have_text(words["filed"])
    expect(pg.locator("#history li")).to_have_count(2)
    pg.screenshot(path=str(SCREENSHOTS / f"hazard-{lang}.png"), full_page=True)
    pg.goto(f"{base}/hazards")
    expect(pg.locator("#rows tr[data-item-id]").first).to_contain_text(f"楼道堆物（{lang}）")
    expect(pg.locator("#list-map")).to_have_attribute("data-markers", "1" if lang == "zh" else "2")
    pg.screenshot(path=str(SCREENSHOTS / f"hazards-{lang}.png"), full_page=True)
    assert not problems, problems


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_disputes_mediator_is_assigned_from_its_page(browser, site, lang):
    base, words = site, WORDS[lang]
    made = api_post(base, "dispatcher", "/api/v1/disputes", {
        "title": f"邻里噪音纠纷（{lang}）", "type": "neighbour", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
        "parties": [{"name": "李建国", "phone": "13912345678"}, {"name": "赵四"}]})
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "dispatcher", lang, f"/disputes/{made['id']}")
    page = pg.locator(".register-item")
    expect(page).to_have_attribute("data-state", "registered")
    expect(pg.locator("#people")).to_contain_text("13912345678")
    expect(pg.locator("#people")).to_have_attribute("data-masked", "false")
    expect(pg.locator("[data-testid=tier]")).to_have_text(words["tier"])
    pg.locator('#actions button[data-action="assign"]').click()
    pg.locator('#action-form [name="mediator"]').fill("调解员王芳")
    pg.locator("#action-form").get_by_role("button", name=words["submit"]).click()
    expect(page).to_have_attribute("data-state", "mediating")
    expect(pg.locator("[data-testid=state]")).to_have_text(words["mediating"])
    expect(pg.locator("#history li[data-action=assign]")).to_contain_text("调解员王芳")
    pg.screenshot(path=str(SCREENSHOTS / f"dispute-{lang}.png"), full_page=True)
    pg.goto(f"{base}/disputes")
    pg.locator('#filters [name="list"]').select_option("responsibility")
    pg.locator("#filters button[type=submit]").click()
    expect(pg.locator(f'#rows tr[data-item-id="{made["id"]}"]')).to_be_visible()
    pg.screenshot(path=str(SCREENSHOTS / f"disputes-{lang}.png"), full_page=True)
    assert not problems, problems
