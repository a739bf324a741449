"""The assessment pages in a real browser, in Chinese and in English, on the hand-worked June of
``tests/test_assessment.py`` served with the clock at 1 July: the ranking with its grade badges in the grades'
colours, switching the object type and the period, a figure's drill-down adding up to the figure and linking to the
case page, the XLSX download, the annual report's figures and tables; a receptionist gets the forbidden page. Any
console error, page error or failed request fails a test. Plus the pages over HTTP per role (no browser). SQLite
only, as the other browser tests. Leaves screenshots in var/screenshots/."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from liandong.app import create_app
from liandong.assessment import settings as assessment_settings
from liandong.assessment.indicators import LABELS
from liandong.config import Settings
from liandong.db import dispose_engine
from liandong.web.i18n import MESSAGES
from tests.browser import SCREENSHOTS, Page, ensure_vendor_assets, expect, new_page
from tests.caseworld import fill
from tests.conftest import fresh_database
from tests.factories import PASSWORD
from tests.server import serve
from tests.test_assessment import NOW, assessed, drilled, row, token
from tests.test_assessment import june as june  # the hand-worked month (on this module's case_world)
from tests.test_browser_registers import browser as browser  # a fixture, used by name
from tests.test_browser_registers import sign_in

GRADES = {g.grade: g.colour for g in assessment_settings.current().grades}
WORDS = {
    "zh": {"title": "考核评价", "town": "镇（街道）", "no_data": "无数据", "last_month": "上月",
           "missed": "漏报率", "annual": "2026 年度城市网格化管理与联动工作情况", "closure": "结案率"},
    "en": {"title": "Assessment", "town": "Towns (streets)", "no_data": "No data", "last_month": "Last month",
           "missed": "Missed rate", "annual": "2026: grid governance and linkage in the district",
           "closure": "Closure rate"},
}


@pytest.fixture(scope="module")
def case_world(tmp_path_factory) -> Iterator[str]:
    """SQLite only here (overrides the conftest's two backends): the browser tests of the other pages do the same."""
    for url in fresh_database("sqlite", tmp_path_factory):
        fill(url)
        yield url


@pytest.fixture(scope="module")
def site(june) -> Iterator[str]:
    ensure_vendor_assets()
    app = create_app(Settings(database_url=june["url"], sweep_seconds=0, early_warning_scan_minutes=0,
                              index_check_seconds=0, live_poll_seconds=0.1), clock=lambda: NOW)
    with serve(app) as base:
        yield base
    dispose_engine(june["url"])


def loaded(pg: Page, obj: str, date_from: str) -> None:
    table = pg.locator("#ranking")
    expect(table).to_have_attribute("data-object", obj)
    expect(table).to_have_attribute("data-from", date_from)
    expect(table).to_have_attribute("aria-busy", "false")


def badge_colours(pg: Page) -> list[tuple[str, str, str]]:
    """(grade, configured colour, computed background) of every grade badge in the ranking."""
    return pg.eval_on_selector_all("#rows .grade-badge", "bs => bs.map(b => [b.dataset.grade, b.dataset.colour, "
                                                          "getComputedStyle(b).backgroundColor])")


def rgb(hex_colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)))


def score_text(score: float) -> str:
    return f"{score:.2f}".rstrip("0").rstrip(".")


def shows_the_ranking(pg: Page, result: dict) -> None:
    """The page's rows in the API's order, each score with its grade badge in the grade's configured colour."""
    expect(pg.locator("#rows tr[data-object-id]")).to_have_count(len(result["rows"]))
    ids = pg.eval_on_selector_all("#rows tr[data-object-id]", "rs => rs.map(r => Number(r.dataset.objectId))")
    assert ids == [r["id"] for r in result["rows"]]
    for r in result["rows"]:
        score = pg.locator(f"#rows tr[data-object-id='{r['id']}'] .as-score")
        if r["score"] is None:
            expect(score.locator(".grade-badge")).to_have_count(0)
            continue
        expect(score).to_contain_text(score_text(r["score"]))
        expect(score.locator(".grade-badge")).to_have_attribute("data-grade", r["grade"])
    for grade, colour, computed in badge_colours(pg):
        assert colour == GRADES[grade] and computed == rgb(colour)


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_ranking_switches_and_drills_down_to_the_cases(browser, site, june, lang):
    base, words = site, WORDS[lang]
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "leader", lang, "/assessment")
    expect(pg.locator("h1")).to_have_text(words["title"])
    expect(pg.locator(".mainnav a[href='/assessment']")).to_have_attribute("aria-current", "page")
    loaded(pg, "town", "2026-07-01")  # this month by default (the 1st)
    expect(pg.locator("#filters [name=object] option:checked")).to_have_text(words["town"])
    expect(pg.locator("#rows tr[data-object-id]")).to_have_count(2)
    # the quick choice: June, the month worked by hand, as the API ranks it
    pg.get_by_role("button", name=words["last_month"], exact=True).click()
    loaded(pg, "town", "2026-06-01")
    expect(pg.locator("#filters [name=month]")).to_have_value("2026-06")
    assert "from=2026-06-01" in pg.url and "to=2026-06-30" in pg.url
    shows_the_ranking(pg, assessed(june, "town"))
    expect(pg.locator("#chart-scores")).to_have_attribute("data-bars", "2")
    expect(pg.locator("#chart-trend")).to_have_attribute("data-months", "6")
    expect(pg.locator("#chart-scores canvas")).to_be_attached()
    expect(pg.locator("#weights li")).to_have_count(4)
    # the XLSX of what is shown
    with pg.expect_download() as got:
        pg.locator("#download-xlsx").click()
    assert got.value.suggested_filename == "assessment-town-2026-06-01.xlsx"
    book = load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()))  # the download has no extension
    assert [c.value for c in book["town"][2]][:2] == ["排名", "名称"]
    # another object type: the inspectors, 漏报 defined under the table
    pg.locator("#filters [name=object]").select_option("inspector")
    loaded(pg, "inspector", "2026-06-01")
    inspectors = assessed(june, "inspector")
    shows_the_ranking(pg, inspectors)
    inspector = june["users"]["inspector"]
    me = pg.locator(f"#rows tr[data-object-id='{inspector}']")
    expect(me.locator("button[data-key=verify_on_time_rate]")).to_contain_text(words["no_data"])
    expect(pg.locator("#missed-box")).to_be_visible()
    expect(pg.locator("#ranking thead")).to_contain_text(words["missed"])
    # 漏报率: each list as long as its figure, the cases the API lists, linked to the case pages
    figures = row(inspectors, inspector)["indicators"]
    me.locator("button[data-key=missed_rate]").click()
    drill = pg.locator("#drill")
    for part, count in (("numerator", "missed"), ("denominator", "area_filed")):
        drill.locator(f"[data-part={part}]").click()
        expect(drill).to_have_attribute("data-part", part)
        expect(drill).to_have_attribute("data-total", str(figures[count]))
        expect(drill).to_have_attribute("data-figure", str(figures[count]))
        expect(drill.locator(".as-match")).to_be_visible()
        expect(pg.locator("#drill-rows tr")).to_have_count(figures[count])
        shown = sorted(int(i) for i in pg.eval_on_selector_all("#drill-rows tr", "rs => rs.map(r => r.dataset.caseId)"))
        assert shown == drilled(june, "inspector", inspector, "missed_rate", part)
    pg.screenshot(path=str(SCREENSHOTS / f"assessment-{lang}.png"), full_page=True)
    first = shown[0]
    pg.locator(f"#drill-rows a[href='/cases/{first}']").first.click()
    pg.wait_for_url(f"{base}/cases/{first}")
    # a custom period from the address: the ranking and the filters follow it
    pg.goto(f"{base}/assessment?object=department&from=2026-06-01&to=2026-06-15")
    loaded(pg, "department", "2026-06-01")
    expect(pg.locator("#filters [name=month]")).to_have_value("")
    expect(pg.locator(f"#rows tr[data-object-id='{june['unit']}'] .grade-badge")).to_be_visible()
    pg.locator("[data-quick=this_year]").click()  # the year up to today (the clock's 1 July)
    loaded(pg, "department", "2026-01-01")
    expect(pg.locator("#ranking")).to_have_attribute("data-to", "2026-07-01")
    assert not problems, problems


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_annual_report_shows_the_years_figures_and_tables(browser, site, june, lang):
    base, words = site, WORDS[lang]
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "leader", lang, "/reports/annual?year=2026")
    expect(pg.locator("#report")).to_have_attribute("data-year", "2026")
    expect(pg.locator("#report")).to_have_text(words["annual"])
    client = june["client"]
    report = client.get("/api/v1/reports/annual", params={"year": 2026}, headers=token(client, "leader")).json()
    for key in ("reported", "accepted", "filed", "closed"):
        expect(pg.locator(f"#cases [data-figure={key}]")).to_have_text(str(report["cases"][key]))
    expect(pg.locator("#cases [data-figure=closure_rate]")).to_have_text(f"{report['cases']['closure_rate']:.1%}")
    for part in ("hazards", "disputes"):
        for key, value in report[part].items():
            expect(pg.locator(f"#{part} [data-figure={key}]")).to_have_text(str(value))
    expect(pg.locator("#incidents-rows tr")).to_have_count(len(report["incidents"]["by_category"]))
    expect(pg.locator("#towns-table thead")).to_contain_text(words["closure"])
    for part in ("towns", "departments"):
        expect(pg.locator(f"#{part}-table tbody tr")).to_have_count(len(report[part]))
        for r in report[part]:
            badge = pg.locator(f"#{part}-table tr[data-object-id='{r['id']}'] .grade-badge")
            expect(badge).to_have_attribute("data-grade", r["grade"])
    colours = pg.eval_on_selector_all(".ar-table .grade-badge", "bs => bs.map(b => [b.dataset.grade, "
                                                                "getComputedStyle(b).backgroundColor])")
    assert len(colours) == 2 + len(report["departments"])
    assert all(computed == rgb(GRADES[grade]) for grade, computed in colours)
    assert pg.locator("#download-pdf").get_attribute("href") == "/api/v1/reports/annual.pdf?year=2026"
    pg.screenshot(path=str(SCREENSHOTS / f"annual-report-{lang}.png"), full_page=True)
    # another year: the page of that year, nothing in it
    pg.locator("#filters [name=year]").select_option("2025")
    pg.wait_for_url(f"{base}/reports/annual?year=2025")
    expect(pg.locator("#report")).to_have_attribute("data-year", "2025")
    expect(pg.locator("#cases [data-figure=filed]")).to_have_text("0")
    expect(pg.locator("#cases [data-figure=closure_rate]")).to_have_text(words["no_data"])
    assert not problems, problems


@pytest.mark.browser
def test_a_receptionist_gets_the_forbidden_page(browser, site):
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, site, "receptionist", "zh", "/")
    for path in ("/assessment", "/reports/annual"):
        assert pg.goto(f"{site}{path}").status == 403
        expect(pg.locator("h1")).to_have_text("403")
        expect(pg.locator("[role=alert]")).to_contain_text("考核评价和年度报告仅对")
        expect(pg.locator(".mainnav a[href='/assessment']")).to_have_count(0)
    # the browser logs the pages' own 403 status; nothing else may go wrong
    assert all("status of 403" in p for p in problems), problems


def page_client(url: str, username: str | None) -> TestClient:
    client = TestClient(create_app(Settings(database_url=url, index_check_seconds=0), clock=lambda: NOW),
                        base_url="http://testserver")
    if username:
        r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303, r.text
    return client


@pytest.mark.parametrize(("username", "status"), [
    ("leader", 200), ("east_leader", 200), ("shift_leader", 200), ("dispatcher", 200), ("admin", 200),
    ("receptionist", 403), ("inspector", 403), ("cm_west", 403), (None, 303)])
def test_the_pages_per_role(june, username, status):
    client = page_client(june["url"], username)
    for path in ("/assessment", "/reports/annual"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == status, (path, r.text)
        if status == 303:
            assert r.headers["location"].startswith("/login?next=")
        elif status == 200:  # the command centre's navigation leads to both
            assert 'href="/assessment"' in r.text and 'href="/reports/annual"' in r.text
            assert "unsafe-inline" not in r.headers["content-security-policy"] and "<script>" not in r.text
        else:
            assert 'href="/assessment"' not in r.text
    if status == 200:
        r = client.get("/assessment", params={"object": "community", "from": "2026-06-01", "to": "2026-06-30"})
        assert 'data-object="community"' in r.text and 'data-from="2026-06-01"' in r.text
        assert client.get("/assessment", params={"object": "mayor"}).status_code == 422
        r = client.get("/reports/annual", params={"year": 2019})
        assert 'data-year="2019"' in r.text and '<option value="2019" selected>' in r.text
        home = client.get("/")
        assert 'href="/assessment"' in home.text  # linked from the command centre


def test_every_indicator_and_object_has_an_english_name():
    assert {k for k in MESSAGES if k.startswith("as.ind.")} == {f"as.ind.{k}" for k in LABELS}
    assert all(MESSAGES[f"as.ind.{k}"][0] == LABELS[k] for k in LABELS)
