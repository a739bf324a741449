"""The case page in a real browser: dispatch names units in words and keeps the lead out of its own helpers,
a merge takes the number people read, the timeline says who acted and how much time is asked, a refusal
says why, and the map around the case holds one tab stop, not eighty."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser import Page, caseworld_site, chromium, expect, new_page
from tests.test_browser_work import act, api, new_case, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def base_url(tmp_path_factory) -> Iterator[str]:
    with caseworld_site(tmp_path_factory.mktemp("case"), live_poll_seconds=0.1, sweep_seconds=0) as base:
        yield base


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def page_as(browser, problems: list[str], base: str, username: str) -> Page:
    pg = new_page(browser, problems)
    sign_in(pg, base, username)
    return pg


def test_dispatch_merge_timeline_and_refusals(browser, base_url):
    problems: list[str] = []
    master, dup = new_case(base_url), new_case(base_url)
    with api(base_url, "receptionist") as c:
        for cid in (master["id"], dup["id"]):
            c.post(f"/api/v1/cases/{cid}/actions/accept", json={})
    with api(base_url, "shift_leader") as c:
        c.post(f"/api/v1/cases/{master['id']}/actions/file", json={})

    # dispatch: units named with their role in words; the chosen lead cannot also be ticked as a helper
    disp = page_as(browser, problems, base_url, "dispatcher")
    disp.goto(f"{base_url}/cases/{master['id']}")
    disp.locator('#actions button[data-action="dispatch"]').click()
    lead = disp.locator('#action-form [name="lead_unit_id"]')
    expect(lead.locator("option").first).to_have_text(re.compile(r"（(条线|属地)）$"))
    chosen = lead.input_value()
    expect(disp.locator(f'#action-form input[name="assisting_unit_ids"][value="{chosen}"]')).to_be_disabled()
    disp.locator("#action-form").get_by_role("button", name="提交").click()
    expect(disp.locator(".case-page")).to_have_attribute("data-state", "dispatched")
    # the map around the case: only the case's own grid takes the keyboard
    expect(disp.locator("#case-map")).to_have_attribute("data-grids", re.compile(r"^[1-9]\d*$"))
    assert disp.locator("#case-map path.leaflet-interactive").count() == 2  # its grid and its dot, drawn once
    assert disp.locator("#case-map path[tabindex]").count() <= 1

    # merge by the number people read, not a database id
    leader = page_as(browser, problems, base_url, "shift_leader")
    act(leader, base_url, dup["id"], "merge", "merged", master_number=master["number"])

    # the lead asks for more time: the timeline says how much, and asking again is not offered
    squad = page_as(browser, problems, base_url, "cm_west")
    act(squad, base_url, master["id"], "sign", "in_progress")
    squad.locator('#actions button[data-action="request_extension"]').click()
    squad.locator('#action-form [name="amount"]').fill("2")
    squad.locator('#action-form [name="unit"]').select_option("day")
    squad.locator('#action-form [name="reason"]').fill("等待配件")
    squad.locator("#action-form").get_by_role("button", name="提交").click()
    expect(squad.locator('#timeline li[data-action="request_extension"]')).to_contain_text("延期数量 2 工作日")
    expect(squad.locator('#actions button[data-action="request_extension"]')).to_have_count(0)
    expect(squad.locator('#timeline li[data-action="sign"]')).to_contain_text("城管中队")  # who, with their unit

    # a stale page: the refusal says the case changed; a decision nobody waits for says so in Chinese
    disp.goto(f"{base_url}/cases/{master['id']}")
    disp.locator('#actions button[data-action="approve_extension"]').click()
    with api(base_url, "dispatcher") as c:
        c.post(f"/api/v1/cases/{master['id']}/actions/approve_extension", json={})
    disp.locator("#action-form").get_by_role("button", name="提交").click()
    expect(disp.locator("#message")).to_contain_text("案件已被他人更新")
    assert [p for p in problems if "409" not in p] == []
