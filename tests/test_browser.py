"""The map page in a real browser: Debian's Chromium driven by Playwright against a live uvicorn.

Logs in through the form, waits for the layers, zooms across the unit-grid threshold, clicks inside
the district and checks the locate popup; any console error or page error fails the test (this also
catches Content-Security-Policy violations). Leaves a screenshot in var/screenshots/map.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from liandong.config import get_settings
from liandong.db import dispose_engine
from tests.browser import SCREENSHOTS, Page, chromium, ensure_vendor_assets, expect, new_page
from tests.server import serve
from tests.webdata import CENTRE_NAME, DISPLAY_NAME, DISTRICT, PASSWORD, USERNAME, WEST, build, make_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def base_url(tmp_path_factory) -> Iterator[str]:
    ensure_vendor_assets()
    with pytest.MonkeyPatch.context() as mp:
        data = build(tmp_path_factory.mktemp("web") / "web.db", mp)
        try:
            with serve(make_app(data)) as url:
                yield url
        finally:
            dispose_engine(data.url)
            get_settings.cache_clear()


@pytest.fixture
def page(base_url) -> Iterator[tuple[Page, list[str]]]:
    """A fresh browser page and the list of console/page errors it produced."""
    problems: list[str] = []
    with chromium() as browser:
        yield new_page(browser, problems), problems


def test_login_map_and_locate(page, base_url):
    pg, problems = page
    pg.goto(base_url + "/map")
    assert pg.url == base_url + "/login?next=/map"
    # keyboard only: type, tab, type, Enter
    pg.get_by_label("用户名").fill(USERNAME)
    pg.keyboard.press("Tab")
    pg.keyboard.type(PASSWORD)
    pg.keyboard.press("Enter")
    pg.wait_for_url(base_url + "/map")
    assert DISPLAY_NAME in pg.inner_text("header") and CENTRE_NAME in pg.inner_text("header")

    map_el = pg.locator("#map")
    pg.wait_for_selector("#map[data-towns-loaded][data-communities-loaded]")
    assert map_el.get_attribute("data-towns-loaded") == "2"
    assert map_el.get_attribute("data-communities-loaded") == "4"
    expect(pg.locator("[data-summary=grid]")).to_have_text(re.compile(r"^\d+$"))
    assert pg.inner_text("[data-summary=town]") == "2"
    assert pg.inner_text("[data-summary=community]") == "4"
    assert pg.locator(".leaflet-control-layers").is_visible()
    assert pg.locator("canvas.leaflet-zoom-animated").count() >= 1  # the canvas renderer

    # the district fills the view at zoom 15: grids come by bbox; zooming out drops them
    pg.wait_for_selector("#map[data-grids-loaded]")
    assert int(map_el.get_attribute("data-grids-loaded") or 0) > 10
    clicks = 0
    while map_el.get_attribute("data-grids-loaded") is not None and clicks < 3:  # down to zoom 14
        pg.click(".leaflet-control-zoom-out")
        clicks += 1
        pg.wait_for_timeout(600)
    expect(map_el).not_to_have_attribute("data-grids-loaded", re.compile(".*"))
    for _ in range(clicks):
        pg.click(".leaflet-control-zoom-in")
        pg.wait_for_timeout(400)
    pg.wait_for_selector("#map[data-grids-loaded]")

    # point at a unit grid in the south-west quarter (west town, its southern community): the map's own
    # hit test names the grid under the pointer in its tooltip; a click there must locate that grid
    box = map_el.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.38, box["y"] + box["height"] * 0.62
    pg.mouse.move(x, y)
    hovered = pg.locator(".leaflet-tooltip .area-tip .code")
    expect(hovered).to_have_text(re.compile(rf"^{WEST}001\d{{3}}$"))
    grid = hovered.inner_text()
    pg.mouse.click(x, y)
    code = pg.locator(".leaflet-popup-content .locate-code")
    expect(code).to_have_text(grid)
    with httpx.Client(base_url=base_url) as c:
        token = c.post("/api/v1/auth/token", data={"username": USERNAME, "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        lon, lat = (float(v) for v in pg.inner_text(".leaflet-popup-content .coords").split(","))
        located = c.get("/api/v1/areas/locate", params={"lon": lon, "lat": lat}, headers=auth).json()
        answer = c.get(f"/api/v1/areas/{grid}/responsibility", headers=auth).json()
    assert located["grid"]["code"] == grid
    chain = [line.split()[-1] for line in pg.locator(".leaflet-popup-content .locate-chain li").all_inner_texts()]
    assert chain == [a["code"] for a in answer["ancestors"]] == [DISTRICT, WEST, f"{WEST}001"]
    units = pg.locator(".leaflet-popup-content .locate-units .unit").all_inner_texts()
    assert units == [u["name"] for u in answer["responsible_units"]] and CENTRE_NAME in units
    popup = pg.inner_text(".leaflet-popup-content")
    assert "西镇" in popup and "城管执法" in popup
    pg.wait_for_timeout(300)  # let the popup pan settle before the picture

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / "map.png"))
    assert problems == []

    pg.get_by_role("button", name=re.compile("退出")).click()
    pg.wait_for_url(base_url + "/login")
    assert problems == []


# Chinese characters in the map's own area that are not inside an element marked lang="zh-CN"
UNMARKED_CHINESE = """() => {
  const walker = document.createTreeWalker(document.querySelector('.workspace'), NodeFilter.SHOW_TEXT);
  const found = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const marked = node.parentElement.closest('[lang]');
    if (/[\\u4e00-\\u9fff]/.test(node.data) && !(marked && marked.lang === 'zh-CN')) found.push(node.data.trim());
  }
  return found;
}"""


def test_the_map_follows_the_page_language(page, base_url):
    pg, problems = page
    pg.goto(f"{base_url}/login?next=/lang/en%3Fnext%3D/map")
    pg.get_by_label("用户名").fill(USERNAME)
    pg.get_by_label("密码").fill(PASSWORD)
    pg.keyboard.press("Enter")
    pg.wait_for_url(base_url + "/map")
    assert pg.get_attribute("html", "lang") == "en"
    expect(pg.locator("#summary-title")).to_have_text("Area summary")
    expect(pg.locator("#locate-centre")).to_have_text("Locate map centre")
    expect(pg.locator("#map")).to_have_attribute("aria-label", "District map")
    assert pg.locator(".leaflet-control-layers-overlays label").all_inner_texts() == [
        " Towns/streets", " Communities", " Unit grids (≥ 15)"]
    pg.wait_for_selector("#map[data-ready][data-grids-loaded]")
    assert pg.evaluate(UNMARKED_CHINESE) == []

    box = pg.locator("#map").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.38, box["y"] + box["height"] * 0.62  # a west-town unit grid
    tip = pg.locator(".leaflet-tooltip .area-tip strong")
    for _ in range(20):  # the canvas answers hovering once the map has settled after fitting the district
        pg.mouse.move(x - 20, y - 20)
        pg.mouse.move(x, y, steps=5)
        if tip.count():
            break
        pg.wait_for_timeout(300)
    expect(tip.last).to_have_attribute("lang", "zh-CN")
    pg.mouse.click(x, y)
    popup = pg.locator(".leaflet-popup-content")
    expect(popup.locator(".locate-code")).to_have_text(re.compile(rf"^{WEST}001\d{{3}}$"))
    assert popup.locator(".locate-chain .level").all_inner_texts() == ["District", "Town/street", "Community"]
    expect(popup.locator(".locate-chain")).to_have_attribute("aria-label", "Part of")
    expect(popup.locator("h3")).to_have_text("Responsible units")
    lines = popup.locator(".locate-units .line").all_inner_texts()
    assert "City-management law enforcement" in lines and "territorial" in lines
    assert popup.locator(".locate-units .unit[lang=zh-CN]").count() == len(lines)
    expect(pg.locator("#map-status [lang=zh-CN]")).to_have_count(1)  # the grid found, by its (Chinese) name
    assert pg.evaluate(UNMARKED_CHINESE) == []
    assert problems == []


def test_a_lookup_survives_the_language_switch(page, base_url):
    """A citizen who typed the tracking number and key switches to English and still sees the same lookup."""
    pg, problems = page
    pg.goto(f"{base_url}/report/track")
    pg.get_by_label("跟踪编号").fill("310112-20261127-0000010")
    pg.get_by_label("查询码").fill("k&y")
    pg.get_by_role("button", name="查询").click()
    expect(pg.locator("#track-error")).to_have_text("没有找到该报告，请核对编号与查询码")
    pg.get_by_role("link", name="English").click()
    pg.wait_for_url(re.compile(r"/report/track\?number=310112-20261127-0000010&key=k%26y$"))
    expect(pg.get_by_label("Tracking number")).to_have_value("310112-20261127-0000010")
    expect(pg.get_by_label("Key")).to_have_value("k&y")
    expect(pg.locator("#track-error")).to_have_text("No report with this number and key")
    assert [p for p in problems if "404" not in p] == []


def test_wrong_password_in_the_browser(page, base_url):
    pg, problems = page
    pg.goto(base_url + "/login")
    pg.get_by_label("用户名").fill(USERNAME)
    pg.get_by_label("密码").fill("definitely-wrong")
    pg.get_by_role("button", name=re.compile("登录")).click()
    alert = pg.get_by_role("alert")
    alert.wait_for()
    assert "用户名或密码错误" in alert.inner_text()
    # the 401 document itself is logged by Chromium as a failed resource; nothing else may be
    assert [p for p in problems if "401" not in p] == []
