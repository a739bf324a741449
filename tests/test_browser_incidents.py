"""The emergency pages in a real browser: the commander runs an incident from its board in Chinese and in English
(verify, activate a plan, acknowledge a task, write the command log, the 五早 timeline), the list and the command
centre show it, the plan library checks a file, and a workbench flooded with notices keeps its queue above the
fold. Any console error, page error or failed request fails a test. Leaves screenshots in var/screenshots/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from liandong.auth.service import create_user
from liandong.cases.models import Notification
from liandong.db import unit_of_work
from liandong.units.models import Unit
from liandong.units.service import create_unit
from tests.browser import SCREENSHOTS, Page, caseworld_site, chromium, expect, new_page
from tests.caseworld import WEST_POINT
from tests.factories import DISTRICT, PASSWORD, WEST

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[str, str]]:
    folder = tmp_path_factory.mktemp("incidents")
    url = f"sqlite:///{folder / 'site.db'}"
    with caseworld_site(folder, live_poll_seconds=0.1, sweep_seconds=0) as base:
        with unit_of_work(url) as s:
            create_user(s, username="commander", password=PASSWORD, unit_code="C", roles=["commander"])
            # a fire department: the gas-leak plan's gas detectors and fans are held by the fire line
            create_unit(s, code="D-fire", name="测试区消防救援支队", kind="department", area_code=DISTRICT, line="fire")
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


def report(base: str, **extra) -> dict:
    with api(base, "commander") as c:
        body = {"title": "某小区燃气泄漏", "category": "accident", "type": "燃气泄漏", "grade": 3,
                "lon": WEST_POINT[0], "lat": WEST_POINT[1], "area_codes": [WEST], "commander": "commander", **extra}
        r = c.post("/api/v1/incidents", json=body)
        assert r.status_code == 201, r.text
        return r.json()


WORDS = {
    "zh": {"verify": "研判确认", "submit": "提交", "activate": "启动预案", "activated": "已启动预案", "ack": "签收",
           "acked": "已签收", "log": "记录", "assessed": "早研判", "board": "事件指挥看板", "state": "已研判",
           "drill": "演练", "five": "五早时间线"},
    "en": {"verify": "Verify and grade", "submit": "Submit", "activate": "Activate a plan", "activated": "activated",
           "ack": "Acknowledge", "acked": "Acknowledged", "log": "Add to the log", "assessed": "Assessed",
           "board": "Incident board", "state": "Assessed", "drill": "Drill", "five": "五早 timeline"},
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_commander_runs_an_incident_from_its_board(browser, site, lang):
    base, _ = site
    words = WORDS[lang]
    made = report(base, exercise=(lang == "en"))
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "commander")
    if lang == "en":
        pg.goto(f"{base}/lang/en?next=/incidents/{made['id']}")
    else:
        pg.goto(f"{base}/incidents/{made['id']}")
    board = pg.locator(".incident-page")
    expect(board).to_have_attribute("data-state", "reported")
    expect(pg.locator("#inc-number")).to_have_text(made["number"])
    expect(pg.get_by_role("heading", name=words["five"])).to_be_visible()
    expect(pg.locator("#five-early li")).to_have_count(5)
    if lang == "en":
        expect(pg.locator("#inc-badges [data-testid=drill]")).to_have_text(words["drill"])

    # 研判: verify with the grade and a yellow warning
    pg.locator('#actions button[data-action="verify"]').click()
    expect(pg.locator("#action-form")).to_be_visible()
    pg.locator('#action-form [name="warning_level"]').select_option("3")
    pg.locator("#action-form").get_by_role("button", name=words["submit"]).click()
    expect(board).to_have_attribute("data-state", "verified")
    expect(pg.locator("#inc-badges [data-state]")).to_have_text(words["state"])
    expect(pg.locator("#inc-badges [data-warning='3']")).to_be_visible()
    expect(pg.locator('#five-early [data-moment="assessed"]')).to_have_class(re.compile("reached"))
    expect(pg.locator('#five-early [data-moment="assessed"]')).to_contain_text(words["assessed"])

    # activate the gas-leak plan (proposed for the incident) at level 4
    form = pg.locator("#activate-form")
    expect(form.locator("#activate-plan")).to_have_value("gas-leak")
    form.locator("#activate-level").select_option("4")
    form.get_by_role("button", name=words["activate"]).click()
    expect(pg.locator("#message")).to_contain_text(words["activated"])
    expect(pg.locator("#activations [data-plan='gas-leak']")).to_be_visible()
    # the plan's resources stand on the map where their holders are, and are listed under it
    expect(pg.locator("#resources li").first).to_contain_text("可燃气体检测仪")
    expect(pg.locator("#inc-map")).to_have_attribute("data-resources", re.compile(r"^[1-9]\d*$"))
    rows = pg.locator("#tasks tr[data-task-id]")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 2

    # acknowledge the first task the commander may acknowledge
    first = pg.locator("#tasks tr[data-task-id]", has=pg.locator('[data-task-action="ack"]')).first
    task_id = first.get_attribute("data-task-id")
    first.locator('[data-task-action="ack"]').click()
    expect(pg.locator(f'#tasks tr[data-task-id="{task_id}"]')).to_have_attribute("data-state", "acknowledged")
    expect(pg.locator(f'#tasks tr[data-task-id="{task_id}"]')).to_contain_text(words["acked"])

    # a situation report in the command log
    text = f"现场已设置警戒区域（{lang}）"
    log_form = pg.locator("#log-form")
    log_form.locator('[name="kind"]').select_option("sitrep")
    log_form.locator('[name="text"]').fill(text)
    log_form.get_by_role("button", name=words["log"]).click()
    expect(pg.locator("#log li").first).to_contain_text(text)
    expect(pg.locator("#warnings li")).to_have_count(1)  # none issued yet, said so (or the service lists none)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / f"incident-board-{lang}.png"), full_page=True)

    # the list shows it with its levels, the drill mark for the drill
    pg.goto(f"{base}/incidents")
    row = pg.locator(f'#rows tr[data-incident-id="{made["id"]}"]')
    expect(row).to_be_visible()
    expect(row.locator("[data-warning='3']")).to_be_visible()
    expect(row.locator("[data-testid=drill]")).to_have_count(1 if lang == "en" else 0)
    # the command centre lists it among the active incidents, linking to the board
    pg.goto(f"{base}/")
    active = pg.locator(f'#active-incidents [data-incident-id="{made["id"]}"] a')
    expect(active).to_have_attribute("href", f"/incidents/{made['id']}")
    assert problems == []


def test_a_refused_action_is_explained_in_the_page_language(browser, site):
    base, _ = site
    made = report(base)
    with api(base, "commander") as c:
        c.post(f"/api/v1/incidents/{made['id']}/actions/verify", json={})
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "commander")
    pg.goto(f"{base}/incidents/{made['id']}")
    expect(pg.locator(".incident-page")).to_have_attribute("data-state", "verified")
    pg.locator('#actions button[data-action="report_up"]').click()  # a form open: the board waits for it
    pg.locator('#action-form [name="to"]').fill("区总值班室")
    with api(base, "commander") as c:  # someone else moves it on meanwhile: the board's version is stale
        assert c.post(f"/api/v1/incidents/{made['id']}/actions/respond", json={"response_level": 4}).status_code == 200
    pg.wait_for_timeout(600)  # the live event has arrived; the open form kept the board as the user saw it
    pg.locator("#action-form").get_by_role("button", name="提交").click()
    expect(pg.locator("#message")).to_contain_text("事件已被他人更新")
    expect(pg.locator(".incident-page")).to_have_attribute("data-state", "responding")
    assert [p for p in problems if "status of 409" not in p] == []  # the refusal itself is the browser's console line


def test_the_plan_library_shows_a_plan_and_checks_a_file(browser, site):
    base, _ = site
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "commander")
    pg.goto(f"{base}/plans")
    pg.locator('#plan-rows tr[data-plan="typhoon-flood"] a').click()
    expect(pg.locator("#plan")).to_have_attribute("data-plan", "typhoon-flood")
    expect(pg.locator("#plan-levels .plan-level")).to_have_count(4)
    pg.locator('#validate-form [name="text"]').fill("code: broken\nname: 坏预案\nversion: 1\ncategory: weather\n")
    pg.locator("#validate-form").get_by_role("button", name="校验").click()
    expect(pg.locator("#validate-result")).to_have_attribute("data-ok", "false")
    expect(pg.locator("#validate-result .problems li").first).to_contain_text("plan.yaml:")
    assert [p for p in problems if "status of 400" not in p] == []  # the refusal itself is the browser's console line


def test_a_workbench_flooded_with_notices_keeps_its_queue_above_the_fold(browser, site):
    base, url = site
    with api(base, "receptionist") as rec:
        body = {"matter_code": "06001", "description": "违章搭建", "lon": WEST_POINT[0], "lat": WEST_POINT[1],
                "channel": "citizen_web"}
        cases = [rec.post("/api/v1/cases", json=body).json() for _ in range(6)]
    drill = report(base, exercise=True)
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(url) as s:
        centre = s.scalar(select(Unit.id).where(Unit.code == "C"))
        s.add_all(Notification(unit_id=centre, case_id=cases[0]["id"], kind="urge", details={"note": f"第 {i} 次督办"},
                               created_at=now) for i in range(59))
        s.add_all(Notification(unit_id=centre, case_id=c["id"], kind="urge", details={"note": "请尽快处理"},
                               created_at=now) for c in cases[1:])
        s.add_all(Notification(unit_id=centre, case_id=None, kind="task_assigned", created_at=now,
                               details={"incident_id": drill["id"], "incident_number": drill["number"],
                                        "note": f"{drill['number']} 组织先期处置", "exercise": True}) for _ in range(3))
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "dispatcher")
    pg.goto(f"{base}/cases")
    expect(pg.locator(".workbench[data-notices]")).to_be_attached()
    expect(pg.locator(".workbench[data-loaded]")).to_be_attached()
    shown = pg.locator("#notices .notice")
    expect(shown).to_have_count(3)
    drill_row = pg.locator(f'.notice[data-group="incident:{drill["id"]}"]')
    expect(drill_row.locator(".drill")).to_have_text("演练")
    expect(drill_row.locator("a")).to_have_attribute("href", f"/incidents/{drill['id']}")
    badge = int(pg.locator("#notice-count").inner_text())
    assert badge >= 59 + 5  # real work only: the drill's three are counted apart
    expect(pg.locator("#notice-drills")).to_contain_text("3")
    expect(pg.locator("#notices-rest")).to_be_hidden()  # the rest waits folded
    fold = pg.viewport_size["height"]
    queue_top = pg.locator("#results").bounding_box()["y"]
    # in the first screen with room for its first rows (the top bar holds the emergency and screening pages too)
    assert queue_top < fold * 0.72, f"the queue starts at {queue_top}px of a {fold}px window"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SCREENSHOTS / "workbench-notices.png"))
    pg.locator("#notice-more summary").click()
    flooded = pg.locator(f'.notice[data-group="case:{cases[0]["id"]}"]')
    expect(flooded.locator(".count")).to_have_text("59 条")
    flooded.get_by_role("button", name=f"标为已读: {cases[0]['number']}").click()
    expect(pg.locator("#notice-count")).to_have_text(str(badge - 59))
    pg.locator("#notice-read-all").click()
    expect(pg.locator("#notice-count")).to_have_text("0")
    expect(pg.locator(".notice")).to_have_count(0)
    assert problems == []


def test_the_command_centre_and_the_board_follow_incidents_live(browser, site):
    """No reload and no waiting for the safety-net poll (60 s on the dashboard, 30 s on the board): an incident
    reported elsewhere appears on the command centre, and an order given elsewhere on the open board, within
    seconds, through the live incident stream."""
    base, _ = site
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, base, "commander")
    pg.goto(f"{base}/")
    expect(pg.locator("body")).to_have_attribute("data-incidents-live", "1")
    made = report(base, title="直播测试：道路塌陷")
    expect(pg.locator(f'#active-incidents [data-incident-id="{made["id"]}"]')).to_be_visible(timeout=8000)
    pg.goto(f"{base}/incidents/{made['id']}")
    expect(pg.locator("body")).to_have_attribute("data-incidents-live", "1")
    with api(base, "commander") as c:
        c.post(f"/api/v1/incidents/{made['id']}/log", json={"kind": "order", "text": "立即封闭塌陷路段"})
    expect(pg.locator("#log li").first).to_contain_text("立即封闭塌陷路段", timeout=8000)
    assert problems == []
