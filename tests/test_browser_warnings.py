"""The warnings page and the command centre's warnings panel in a real browser, in Chinese and in English: a warning
issued on an incident and a CAP document imported through the page's form are both listed and drawn on the map
(Leaflet paths counted), a row chosen is highlighted, a refused document is explained with the element at fault,
and the dashboard lists the warnings in force. Any console error, page error or failed request fails a test (the
refusal's own 400 line excepted). Leaves screenshots in var/screenshots/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liandong.auth.service import create_user
from liandong.db import unit_of_work
from tests.browser import SCREENSHOTS, Page, caseworld_site, chromium, expect, new_page
from tests.caseworld import WEST_POINT
from tests.factories import PASSWORD, WEST

pytestmark = pytest.mark.browser
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cap" / "samples"
STORM = SAMPLES / "google-cap-library" / "thunderstorm.cap.xml"  # one polygon and three geocodes
NEGATIVE = SAMPLES / "negative" / "invalid.cap.xml"  # <info> where <scope> is expected, line 9
AREA_PATHS = "#warn-map .leaflet-overlay-pane path"

WORDS = {
    "zh": {"import": "导入", "imported": "已导入", "refused": "文档未被接受", "schema": "文档不符合 CAP 的 XML 架构",
           "element": "元素", "in_force": "生效中的预警", "drill": "演练", "issued_state": "生效中"},
    "en": {"import": "Import", "imported": "Imported", "refused": "The document was refused",
           "schema": "does not follow the CAP schema", "element": "Element", "in_force": "Warnings in force",
           "drill": "Drill", "issued_state": "In force"},
}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("warnings")
    url = f"sqlite:///{folder / 'site.db'}"
    with caseworld_site(folder, live_poll_seconds=0.1, sweep_seconds=0) as base:
        with unit_of_work(url) as s:
            create_user(s, username="commander", password=PASSWORD, unit_code="C", roles=["commander"])
        yield base, url


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def sign_in(pg: Page, base: str, username: str) -> None:
    pg.goto(f"{base}/login")
    pg.get_by_label("用户名").fill(username)
    pg.get_by_label("密码").fill(PASSWORD)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_url(f"{base}/")


@contextlib.contextmanager
def api(base: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base) as client:
        token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        yield client


def issue(base: str, exercise: bool) -> dict:
    """An incident with an Alert in force (the drill's an Exercise); the warning as the list gives it."""
    with api(base, "commander") as c:
        body = {"title": "某小区燃气泄漏", "category": "accident", "type": "燃气泄漏", "grade": 3, "lon": WEST_POINT[0],
                "lat": WEST_POINT[1], "area_codes": [WEST], "commander": "commander", "exercise": exercise}
        made = c.post("/api/v1/incidents", json=body)
        assert made.status_code == 201, made.text
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)).isoformat()
        warned = c.post(f"/api/v1/incidents/{made.json()['id']}/warnings",
                        json={"msg_type": "Alert", "headline": "燃气泄漏黄色预警", "description": "现场周边请绕行",
                              "instruction": "关闭门窗，勿用明火", "expires": expires})
        assert warned.status_code == 201, warned.text
        listed = c.get("/api/v1/cap/issued", params={"state": "current", "limit": 1000}).json()["items"]
        return next(w for w in listed if w["identifier"] == warned.json()["identifier"])


def storm_file(folder: Path) -> tuple[Path, str]:
    """The thunderstorm sample under a fresh identifier, in force for a day (the sample expired in 2003)."""
    identifier = f"KSTO-{uuid.uuid4().hex[:12]}"
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    text = STORM.read_text(encoding="utf-8").replace("KSTO1055887203", identifier)
    text = text.replace("2003-06-17T16:00:00-07:00", expires)
    path = folder / f"{identifier}.cap.xml"
    path.write_text(text, encoding="utf-8")
    return path, identifier


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_warnings_issued_and_imported_are_listed_and_drawn(browser, site, lang, tmp_path):
    base, _ = site
    words = WORDS[lang]
    drill = lang == "en"
    issued = issue(base, exercise=drill)
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "commander")
    pg.goto(f"{base}/lang/en?next=/warnings" if lang == "en" else f"{base}/warnings")

    # ours: listed with its state, incident, document and the drill mark; drawn on the map
    row = pg.locator(f'#issued-rows tr[data-identifier="{issued["identifier"]}"]')
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-state", "current")
    expect(row).to_contain_text(words["issued_state"])
    expect(row.locator(f'a[href="/incidents/{issued["incident"]["id"]}"]')).to_be_visible()
    expect(row.locator("a.code")).to_have_attribute("href", issued["url"])
    expect(row.locator("[data-testid=drill]")).to_have_count(1 if drill else 0)
    if drill:
        expect(row.locator("[data-testid=drill]")).to_have_text(words["drill"])
    expect(pg.locator("#warn-map")).to_have_attribute("data-kind", "issued")
    expect(pg.locator("#warn-map")).to_have_attribute("data-shapes", re.compile(r"^[1-9]\d*$"))
    assert pg.locator(AREA_PATHS).count() >= 1
    row.locator("td").nth(1).click()
    expect(row).to_have_class(re.compile(r"\bselected\b"))
    expect(pg.locator("#atom-link")).to_have_attribute("href", "/cap/alerts.atom")

    # theirs: a CAP file imported through the form, then listed and drawn (the storm's polygon)
    path, identifier = storm_file(tmp_path)
    form = pg.locator("#import-form")
    form.locator('input[name="file"]').set_input_files(str(path))
    form.get_by_role("button", name=words["import"], exact=True).click()
    result = pg.locator("#import-result")
    expect(result).to_have_attribute("data-ok", "true")
    expect(result).to_contain_text(f"{words['imported']}: {identifier}" if lang == "en"
                                   else f"{words['imported']}：{identifier}")
    expect(pg.locator("#tab-received")).to_have_attribute("aria-selected", "true")
    received = pg.locator(f'#received-rows tr[data-identifier="{identifier}"]')
    expect(received).to_be_visible()
    expect(received).to_have_attribute("data-state", "active")
    expect(received).to_have_class(re.compile(r"\bselected\b"))  # the new one chosen on the map
    expect(received).to_contain_text("SEVERE THUNDERSTORM")
    expect(received.locator("[data-severity=Severe]")).to_be_visible()
    expect(pg.locator("#warn-map")).to_have_attribute("data-kind", "received")
    shapes = int(pg.locator("#warn-map").get_attribute("data-shapes"))
    assert shapes >= 1 and pg.locator(AREA_PATHS).count() >= shapes
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / f"warnings-{lang}.png"), full_page=True)

    # a negative sample pasted: refused, with the element and line named
    form.locator('textarea[name="text"]').fill(NEGATIVE.read_text(encoding="utf-8"))
    form.get_by_role("button", name=words["import"], exact=True).click()
    expect(result).to_have_attribute("data-ok", "false")
    expect(result).to_have_attribute("data-code", "cap_schema")
    expect(result).to_contain_text(words["refused"])
    expect(result).to_contain_text(words["schema"])
    expect(result.locator('[data-element="info"]')).to_have_text("<info>")
    expect(result.locator("dt").first).to_have_text(words["element"])

    if lang == "zh":  # circles drawn with their radius; an area given by geocodes only listed beside the map
        for sample in ("google-cap-library/australia.cap.xml", "google-cap-library/43b080713727.cap.xml"):
            form.locator('textarea[name="text"]').fill("")
            form.locator('input[name="file"]').set_input_files(str(SAMPLES / sample))
            form.get_by_role("button", name=words["import"], exact=True).click()
            expect(result).to_have_attribute("data-ok", "true")
        expect(pg.locator("#warn-map")).to_have_attribute("data-shapes", str(shapes + 1))  # australia's two circles
        assert pg.locator(AREA_PATHS).count() >= shapes + 2
        expect(pg.locator("#no-geometry li[data-warning-id]")).to_have_count(1)

    # the command centre lists both among the warnings in force, linking to their rows
    pg.goto(f"{base}/")
    panel = pg.locator("#warnings-in-force")
    ours = panel.locator(f'[data-identifier="{issued["identifier"]}"]')
    expect(ours).to_be_visible()
    expect(ours.locator("a").first).to_have_attribute("href", f"/warnings?tab=issued&id={issued['id']}")
    expect(ours.locator("[data-testid=drill]")).to_have_count(1 if drill else 0)
    expect(panel.locator(f'[data-identifier="{identifier}"]')).to_be_visible()
    expect(pg.get_by_role("heading", name=re.compile(words["in_force"]))).to_be_visible()
    pg.locator(".dash-warnings").screenshot(path=str(SCREENSHOTS / f"dashboard-warnings-{lang}.png"))
    # following a panel link opens the page with that row chosen
    ours.locator("a").first.click()
    expect(pg.locator(f'#issued-rows tr[data-identifier="{issued["identifier"]}"]')).to_have_class(
        re.compile(r"\bselected\b"))
    assert [p for p in problems if "status of 400" not in p] == []  # the refusal itself is the browser's console line
