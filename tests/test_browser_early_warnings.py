"""The early-warning page (早研判) in a real browser: two clusters of reports injected through the case service into
four weeks of background reports, and one of gas hazards through the hazard register into its own background, found
by a scan run over the API; the command centre's panel lists them; the shift leader runs a scan by hand and reads its
counts; on the page each warning's evidence is drawn on the map (the scan circle, its grids, a dot per report), then
it is watched and promoted to an incident, which it links — in Chinese and in English; the hazards' evidence links to
the hazards. Any console error, page error or failed request fails a test. Leaves screenshots in
var/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import numpy as np
import pytest

from liandong.areas.index import GridIndex
from liandong.auth.service import create_user
from liandong.cases import intake
from liandong.db import unit_of_work
from liandong.screening import hazards
from liandong.screening.hazard_payloads import HazardIn
from tests.browser import SCREENSHOTS, Page, caseworld_site, chromium, expect, new_page
from tests.caseworld import EAST_POINT, WEST_POINT, boss
from tests.factories import PASSWORD
from tests.test_browser_incidents import api, sign_in

pytestmark = pytest.mark.browser
MATTERS = ("06001", "06010", "01001", "09009", "02014")
BURSTS = {"zh": (WEST_POINT, "06010", 1), "en": (EAST_POINT, "01001", 2)}  # one cluster for each language
MIDDLE = (121.325, 31.113)  # the gas hazards' cluster
SECTORS = ("fire", "gas", "building", "electric", "traffic", "other")


def _report(s, index, actor, matter, lon, lat, at) -> int:
    case, _ = intake.report(s, index, actor, matter_code=matter, description="早研判页面测试", lon=float(lon),
                            lat=float(lat), channel="hotline", now=at)
    return case.id


def inject(url: str, now: dt.datetime) -> dict[str, list[int]]:
    """Background reports all over the district for four weeks, and a burst of ten reports of one matter within
    ~80 m over the last four hours at each of two places (as tests/test_early_warnings.py does)."""
    rng = np.random.default_rng(7)
    bursts: dict[str, list[int]] = {}
    with unit_of_work(url) as s:
        index, actor = GridIndex.build(s), boss(url)
        start = now - dt.timedelta(days=27)
        for _ in range(160):
            at = start + dt.timedelta(seconds=float(rng.uniform(0, 26 * 86400)))
            _report(s, index, actor, MATTERS[rng.integers(len(MATTERS))], rng.uniform(121.302, 121.348),
                    rng.uniform(31.102, 31.124), at)
        for lang, (point, matter, seed) in BURSTS.items():
            burst = np.random.default_rng(seed)
            end = now - dt.timedelta(minutes=10)
            bursts[lang] = [_report(s, index, actor, matter, point[0] + burst.uniform(-6e-4, 6e-4),
                                    point[1] + burst.uniform(-5e-4, 5e-4), end - dt.timedelta(minutes=float(m)))
                            for m in sorted(burst.uniform(0, 240, 10))[::-1]]
    return bursts


def inject_hazards(url: str, now: dt.datetime) -> list[int]:
    """Background hazards all over the district for four weeks, and ten gas hazards within ~80 m over the last four
    hours in the middle."""
    rng = np.random.default_rng(9)
    with unit_of_work(url) as s:
        index, actor = GridIndex.build(s), boss(url)

        def hazard(sector: str, lon: float, lat: float, at: dt.datetime) -> int:
            body = HazardIn(title=f"早研判页面测试：{sector}", sector=sector, lon=float(lon), lat=float(lat))
            return hazards.open_hazard(s, index, actor, body, at).id

        start = now - dt.timedelta(days=27)
        for _ in range(80):
            hazard(SECTORS[rng.integers(len(SECTORS))], rng.uniform(121.302, 121.348), rng.uniform(31.102, 31.124),
                   start + dt.timedelta(seconds=float(rng.uniform(0, 26 * 86400))))
        end = now - dt.timedelta(minutes=10)
        return [hazard("gas", MIDDLE[0] + rng.uniform(-6e-4, 6e-4), MIDDLE[1] + rng.uniform(-5e-4, 5e-4),
                       end - dt.timedelta(minutes=float(m))) for m in sorted(rng.uniform(0, 240, 10))[::-1]]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("early-warnings")
    url = f"sqlite:///{folder / 'site.db'}"
    with caseworld_site(folder, live_poll_seconds=0.1, sweep_seconds=0, early_warning_scan_minutes=0) as base:
        with unit_of_work(url) as s:
            create_user(s, username="commander", password=PASSWORD, unit_code="C", roles=["commander"])
        now = dt.datetime.now(dt.UTC)
        bursts, gas = inject(url, now), inject_hazards(url, now)
        with api(base, "shift_leader") as c:
            r = c.post("/api/v1/early-warnings/scan")
            assert r.status_code == 200, r.text
            found = r.json()["items"]
        warnings = {}
        for lang, cases in bursts.items():
            mine = [w for w in found if set(w["case_ids"]) & set(cases)]
            assert len(mine) == 1, (lang, found)
            warnings[lang] = mine[0]
        (hazard,) = [w for w in found if set(w["hazard_ids"]) & set(gas)]
        assert len(found) == 3 and hazard["case_ids"] == [], found
        yield {"base": base, "url": url, "warnings": warnings, "hazard": hazard}


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def test_the_command_centre_lists_the_open_warnings_and_a_scan_by_hand_counts(browser, site):
    base, warnings = site["base"], [*site["warnings"].values(), site["hazard"]]
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "shift_leader")
    panel = pg.locator("#early-warnings-open")
    for w in warnings:
        item = panel.locator(f'li[data-warning-id="{w["id"]}"]')
        expect(item).to_be_visible()
        if w["source"] == "case":
            expect(item).to_contain_text(w["matters"][0]["name"])
        expect(item).to_contain_text("p = ")
        expect(item.locator("a")).to_have_attribute("href", f"/early-warnings?status=open&id={w['id']}")
    expect(pg.locator("#early-warnings-count")).to_have_text(str(len(warnings)))

    pg.locator("#early-warnings-title a").click()
    pg.wait_for_url(f"{base}/early-warnings")
    expect(pg.locator("#rows tr[data-warning-id]")).to_have_count(len(warnings))
    pg.locator("#scan").click()
    result = pg.locator("#scan-result")
    expect(result).to_have_attribute("data-done", re.compile(r"\d+"))
    expect(result).to_contain_text("扫描了")
    assert int(result.get_attribute("data-created")) == 0  # the clusters are the same ones: updated, not added
    assert int(result.get_attribute("data-updated")) == len(warnings)
    expect(pg.locator("#rows tr[data-warning-id]")).to_have_count(len(warnings))
    assert not problems, problems


WORDS = {
    "zh": {"watch": "持续关注", "promote": "升级为突发事件", "confirm": "确定", "watching": "关注中",
           "promoted": "已升级为事件", "incident": "查看事件", "p": "p 值"},
    "en": {"watch": "Keep watching", "promote": "Promote to an incident", "confirm": "Confirm", "watching": "Watching",
           "promoted": "Promoted to an incident", "incident": "Open incident", "p": "p-value"},
}


def open_page(pg: Page, base: str, lang: str, path: str) -> None:
    if lang == "en":
        pg.goto(f"{base}/lang/en?next={path}")
    else:
        pg.goto(f"{base}{path}")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_shift_leader_reads_the_evidence_watches_and_promotes(browser, site, lang):
    base, w = site["base"], site["warnings"][lang]
    words = WORDS[lang]
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "shift_leader")
    open_page(pg, base, lang, "/early-warnings")
    expect(pg.get_by_role("columnheader", name=words["p"])).to_be_visible()
    row = pg.locator(f'#rows tr[data-warning-id="{w["id"]}"]')
    expect(row).to_contain_text(w["matters"][0]["name"])
    expect(row).to_have_attribute("data-status", "new")
    row.click()

    # the evidence: one circle, the grids, a dot per report — each a Leaflet path on the map
    ew_map = pg.locator("#ew-map")
    expect(ew_map).to_have_attribute("data-warning-id", str(w["id"]))
    cases = len(w["case_ids"])
    assert cases >= 8
    expect(ew_map).to_have_attribute("data-cases", str(cases))
    expect(ew_map).to_have_attribute("data-circles", "1")
    grids = int(ew_map.get_attribute("data-grids"))
    assert grids == len(w["grid_codes"]) >= 1
    expect(ew_map.locator("path.leaflet-interactive")).to_have_count(1 + grids + cases)
    evidence = pg.locator("#evidence tr[data-case-id]")
    expect(evidence).to_have_count(cases)
    first = evidence.first.locator("a")
    assert re.fullmatch(r"/cases/\d+", first.get_attribute("href"))
    ew_map.locator("path.leaflet-interactive").last.hover()
    expect(pg.locator(".leaflet-tooltip")).to_contain_text(w["matters"][0]["name"])

    # keep watching it
    pg.locator('#actions button[data-action="watch"]').click()
    expect(pg.locator("#detail")).to_have_attribute("data-status", "watching")
    expect(row).to_have_attribute("data-status", "watching")
    expect(pg.locator('#actions button[data-action="watch"]')).to_have_count(0)
    expect(row).to_contain_text(words["watching"])

    # promote it to an incident: the page then links it
    form = pg.locator("#promote-form")
    expect(form).to_be_hidden()
    expect(pg.locator("#dismiss-form")).to_be_hidden()
    pg.locator('#actions button[data-action="promote"]').click()
    expect(form).to_be_visible()
    form.locator('[name="title"]').fill(f"早研判聚集（{lang}）")
    form.locator('[name="grade"]').select_option("3")
    form.get_by_role("button", name=words["confirm"]).click()
    expect(pg.locator("#detail")).to_have_attribute("data-status", "promoted")
    link = pg.locator("#actions a.incident-link")
    expect(link).to_contain_text(words["incident"])
    expect(pg.locator("#actions button")).to_have_count(0)
    expect(form).to_be_hidden()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / f"early-warnings-{lang}.png"), full_page=True)
    href = link.get_attribute("href")
    assert re.fullmatch(r"/incidents/\d+", href)

    # the list under "promoted" carries it; the incident opened with its title
    open_page(pg, base, lang, "/early-warnings?status=promoted")
    expect(pg.locator(f'#rows tr[data-warning-id="{w["id"]}"]')).to_contain_text(words["promoted"])
    pg.goto(f"{base}{href}")
    expect(pg.locator(".incident-page")).to_be_visible()
    expect(pg.locator("body")).to_contain_text(f"早研判聚集（{lang}）")
    assert not problems, problems


@pytest.mark.parametrize(("lang", "sector"), [("zh", "燃气"), ("en", "Gas")])
def test_the_hazards_evidence_links_to_the_hazards(browser, site, lang, sector):
    base, w = site["base"], site["hazard"]
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "shift_leader")
    open_page(pg, base, lang, f"/early-warnings?id={w['id']}")
    expect(pg.locator(f'#rows tr[data-warning-id="{w["id"]}"]')).to_contain_text(sector)

    # the evidence: the circle, the grids and a dot per hazard; the list links each hazard
    ew_map = pg.locator("#ew-map")
    expect(ew_map).to_have_attribute("data-warning-id", str(w["id"]))
    found = len(w["hazard_ids"])
    assert found >= 8
    expect(ew_map).to_have_attribute("data-hazards", str(found))
    expect(ew_map).to_have_attribute("data-cases", "0")
    grids = int(ew_map.get_attribute("data-grids"))
    expect(ew_map.locator("path.leaflet-interactive")).to_have_count(1 + grids + found)
    evidence = pg.locator("#evidence tr[data-hazard-id]")
    expect(evidence).to_have_count(found)
    expect(pg.locator("#evidence tr[data-case-id]")).to_have_count(0)
    expect(evidence.first).to_contain_text(sector)
    link = evidence.first.locator("a")
    href = link.get_attribute("href")
    assert re.fullmatch(r"/hazards/\d+", href) and int(href.rsplit("/", 1)[1]) in w["hazard_ids"]
    number = link.inner_text()
    ew_map.locator("path.leaflet-interactive").last.hover()
    expect(pg.locator(".leaflet-tooltip")).to_contain_text(sector)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / f"early-warnings-hazards-{lang}.png"), full_page=True)
    link.click()
    pg.wait_for_url(f"{base}{href}")
    expect(pg.locator("body")).to_contain_text(number)
    assert not problems, problems
