"""The command centre in a real browser: how soon an open screen shows a change made through the API,
a click on a case marker, and the wall-screen layout at 4K. Any console error, page error or failed
request fails a test. The server polls the event log at the shipped default (0.25 s).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.browser import SCREENSHOTS, Page, caseworld_site, chromium, expect, new_page
from tests.test_browser_work import api, new_case, sign_in

pytestmark = pytest.mark.browser
MARK_POINT = (121.34, 31.122)
"""In the east town's north, away from the other test cases: its marker stands alone on the map."""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory) -> Iterator[str]:
    with caseworld_site(tmp_path_factory.mktemp("dashboard"), sweep_seconds=0) as base:  # default live poll
        yield base


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


# Records, in the page, when each (case, state) first shows in the feed: a MutationObserver callback runs
# right after the DOM change, so the time does not depend on how often the test polls.
WATCH_FEED = """() => {
  window.seenAt = {};
  window.openedOnce = true;
  new MutationObserver((records) => {
    const now = Date.now();
    for (const record of records) for (const node of record.addedNodes) {
      const state = node.dataset && [...node.classList].find((c) => c.startsWith("state-"));
      if (!state) continue;
      const key = `${node.dataset.caseId}:${state.slice(6)}`;
      if (!(key in window.seenAt)) window.seenAt[key] = now;
    }
  }).observe(document.getElementById("feed"), { childList: true });
}"""


def open_screen(browser, base: str, problems: list[str], **context) -> Page:
    pg = new_page(browser, problems, **context)
    sign_in(pg, base, "dispatcher")
    pg.wait_for_selector("body[data-ready='1'][data-live='open']")
    return pg


def shown_after(screen: Page, case_id: int, state: str, returned: float) -> float:
    """Seconds from the API call's answer to the feed item in the open screen."""
    key = f"{case_id}:{state}"
    screen.wait_for_function("key => key in window.seenAt", arg=key, timeout=10_000)
    return screen.evaluate("key => window.seenAt[key]", key) / 1000 - returned


def test_a_change_shows_on_an_open_screen_by_itself(browser, base_url):
    problems: list[str] = []
    screen = open_screen(browser, base_url, problems)
    screen.evaluate(WATCH_FEED)
    latencies = {}
    case = new_case(base_url)
    latencies["report"] = shown_after(screen, case["id"], "reported", time.time())
    with api(base_url, "dispatcher") as c:
        lead = c.get(f"/api/v1/cases/{case['id']}/routing").json()["proposed_lead"]["id"]
    steps = [("receptionist", "accept", "accepted", {}), ("shift_leader", "file", "filed", {}),
             ("dispatcher", "dispatch", "dispatched", {"lead_unit_id": lead})]
    for username, action, state, payload in steps:
        with api(base_url, username) as c:
            sent = time.time()
            r = c.post(f"/api/v1/cases/{case['id']}/actions/{action}", json=payload)
            returned = time.time()
        assert r.status_code == 200, r.text
        latency = shown_after(screen, case["id"], state, returned)
        assert latency > sent - returned - 0.05  # the same clock: nothing shows before it was sent
        latencies[action] = latency
    print("open screen saw each change after (s):", {k: round(v, 3) for k, v in latencies.items()})
    # each change reached the open page by itself (waited for above, never reloaded); how fast is a figure, not a
    # pass/fail line on a shared CI machine: `make bench` measures change → screen (p50/p95 against the 1 s target)
    assert screen.evaluate("window.openedOnce") is True  # the same page all along, never reloaded
    assert problems == []


def test_clicking_a_case_marker_opens_its_popup_and_the_case(browser, base_url):
    problems: list[str] = []
    case = new_case(base_url, lon=MARK_POINT[0], lat=MARK_POINT[1], matter_code="06010",
                    description="暴露垃圾：路口堆放")
    with api(base_url, "receptionist") as c:
        assert c.post(f"/api/v1/cases/{case['id']}/actions/accept", json={}).status_code == 200
    screen = open_screen(browser, base_url, problems, viewport={"width": 1600, "height": 1000})
    marker = screen.locator(f'#dash-map .case-dot[title="{case["number"]}"]')
    expect(marker).to_be_visible()
    popup = screen.locator("#dash-map .leaflet-popup-content .case-pop")
    for _ in range(3):  # a click while the map still settles (its first fit) may be taken by the map: click again
        marker.click()
        try:
            expect(popup).to_have_count(1, timeout=3000)
            break
        except AssertionError:
            continue
    link = popup.get_by_role("link", name=case["number"], exact=True)
    expect(link).to_have_attribute("href", f"/cases/{case['id']}")
    expect(popup).to_contain_text("暴露垃圾")
    expect(popup).to_contain_text("已受理")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screen.screenshot(path=str(SCREENSHOTS / "dashboard-popup.png"))
    # by keyboard too: the marker takes the focus and Enter opens its popup
    screen.locator("#dash-map .leaflet-popup-close-button").click()
    expect(popup).to_have_count(0)
    marker.focus()
    screen.keyboard.press("Enter")
    expect(link).to_be_visible()
    link.click()
    screen.wait_for_url(f"{base_url}/cases/{case['id']}")
    expect(screen.locator(".case-page")).to_have_attribute("data-state", "accepted")
    expect(screen.locator("main")).to_contain_text(case["number"])
    assert problems == []


def _overlap(a: dict, b: dict) -> bool:
    return min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5 and \
        min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5


LAYOUT = """() => {
  const box = (e, name) => {
    const r = e.getBoundingClientRect();
    return { name, left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
  };
  const kpis = [...document.querySelectorAll(".kpi")].map((e) => ({
    ...box(e, e.className), value: e.querySelector(".kpi-value").textContent,
    content: e.querySelector(".kpi-label").offsetHeight + e.querySelector(".kpi-value").offsetHeight }));
  const charts = [...document.querySelectorAll(".chart-box")].map((e) => {
    const canvas = e.querySelector("canvas");
    return { ...box(e, e.id), canvas: canvas ? [canvas.width, canvas.height] : null };
  });
  return { dpr: window.devicePixelRatio, scrollWidth: document.documentElement.scrollWidth,
           clientWidth: document.documentElement.clientWidth, kpis, charts,
           map: box(document.getElementById("dash-map"), "map"),
           feed: box(document.querySelector("section.feed"), "feed") };
}"""


def test_the_wall_screen_at_4k(browser, base_url):
    problems: list[str] = []
    new_case(base_url)  # something to draw
    screen = open_screen(browser, base_url, problems, viewport={"width": 3840, "height": 2160},
                         device_scale_factor=1)
    expect(screen.locator("[data-kpi=open]")).to_have_text(re.compile(r"^\d+$"))
    screen.wait_for_timeout(500)  # the charts' first animation
    layout = screen.evaluate(LAYOUT)
    assert layout["dpr"] == 1
    assert layout["scrollWidth"] <= layout["clientWidth"] == 3840  # no horizontal scroll
    kpis, charts = layout["kpis"], layout["charts"]
    assert len(kpis) == 10 and len(charts) == 4
    for item in [*kpis, *charts]:  # on the screen, not below it: a wall screen does not scroll
        assert item["width"] > 0 and item["height"] > 0, item
        assert item["left"] >= 0 and item["right"] <= 3840 and item["top"] >= 0 and item["bottom"] <= 2160, item
    assert all(k["value"] != "…" for k in kpis)  # figures loaded
    for chart in charts:  # drawn at their 4K size, not at a stale smaller one
        assert chart["canvas"] == [round(chart["width"]), round(chart["height"])], chart
    assert all(k["height"] < 2 * k["content"] for k in kpis), kpis  # the free height goes to the map
    parts = [*kpis, *charts, layout["map"], layout["feed"]]
    overlaps = [(a["name"], b["name"]) for i, a in enumerate(parts) for b in parts[i + 1:] if _overlap(a, b)]
    assert overlaps == []
    sizes = screen.evaluate("""[...document.querySelectorAll('[_echarts_instance_]')]
        .map((el) => [echarts.getInstanceByDom(el).getOption().textStyle].flat()[0].fontSize)""")
    assert len(sizes) == 4 and min(sizes) >= 16, sizes  # chart text grows with the wall screen's root size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    screen.screenshot(path=str(SCREENSHOTS / "dashboard-4k.png"))
    assert problems == []
