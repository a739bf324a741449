"""Campaign visits on the grid worker's phone (/m/, 巡查走访) and the campaign pages, in a real browser: the
campaigns a team of the worker's runs are kept on the phone, a visit recorded offline waits in the outbox and is
sent once when online (one visit, one hazard, whatever the retries); a visit the server refuses stays with its
reason until fixed or dropped; a campaign planned and started on /campaigns shows its coverage map and the visit.
Any console error, page error or failed request not expected by the test fails it.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from shapely import from_wkb
from sqlalchemy import select

from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.auth.service import create_user
from liandong.db import unit_of_work
from liandong.screening.campaign_models import CampaignVisit
from liandong.screening.dispute_models import Dispute
from liandong.screening.hazard_models import Hazard
from tests.browser import caseworld_site, chromium, expect, new_page
from tests.caseworld import EAST_POINT, WEST_POINT, unit_id
from tests.factories import PASSWORD, WEST
from tests.test_browser_mobile import AT_WEST, OUTBOX, PHONE, phone, unexpected
from tests.test_browser_work import api, sign_in

pytestmark = pytest.mark.browser
TEAM = f"W-{WEST}002"  # the workstation of the community WEST_POINT lies in
CHECKLIST = [{"key": "extinguisher", "question": "灭火器是否有效"}, {"key": "exits", "question": "疏散通道是否畅通"}]
OFFLINE = "ERR_INTERNET_DISCONNECTED"


@dataclass
class World:
    base: str
    url: str
    campaign: dict
    grid: str
    """The unit grid at WEST_POINT (where the phone is), in the campaign's town."""
    east_grid: str
    """A unit grid of the other town: not the campaign's."""


def period() -> tuple[str, str]:
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return (today - dt.timedelta(days=1)).isoformat(), (today + dt.timedelta(days=30)).isoformat()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("visits")
    with caseworld_site(folder, live_poll_seconds=0.1, sweep_seconds=0) as base:
        url = f"sqlite:///{folder / 'site.db'}"
        with unit_of_work(url) as s:
            create_user(s, username="west_worker", password=PASSWORD, unit_code=TEAM, roles=["inspector"])
            create_user(s, username="west_worker1", password=PASSWORD, unit_code=f"W-{WEST}001", roles=["inspector"])
            index = GridIndex.build(s)
            grid, east_grid = index.locate(*WEST_POINT).code, index.locate(*EAST_POINT).code
        start, end = period()
        with api(base, "shift_leader") as c:
            r = c.post("/api/v1/campaigns", json={
                "code": "PC-PHONE", "name": "出租屋消防安全排查", "theme": "rental_fire", "checklist": CHECKLIST,
                "area_code": WEST, "start": start, "end": end, "unit_ids": [unit_id(url, TEAM)]})
            assert r.status_code == 201, r.text
            campaign = c.post(f"/api/v1/campaigns/{r.json()['id']}/actions/start").json()
        yield World(base, url, campaign, grid, east_grid)


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def visits(world: World, campaign_id: int | None = None) -> list[CampaignVisit]:
    with unit_of_work(world.url) as s:
        rows = list(s.scalars(select(CampaignVisit).where(
            CampaignVisit.campaign_id == (campaign_id or world.campaign["id"])).order_by(CampaignVisit.id)))
        s.expunge_all()
        return rows


def visits_soon(world: World, campaign_id: int, n: int, timeout: float = 20.0) -> list[CampaignVisit]:
    """The campaign's visits once there are ``n`` (the phone sends in the background), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while len(rows := visits(world, campaign_id)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(rows) == n, rows
    return rows


def grids_under(world: World, code: str) -> set[str]:
    with unit_of_work(world.url) as s:
        path = s.scalar(select(Area.path).where(Area.code == code))
        return set(s.scalars(select(Area.code).where(Area.level == "grid", Area.path.startswith(path))))


def inner_point(world: World, code: str) -> tuple[float, float]:
    """A point inside the area coded ``code`` (not WEST_POINT, for the grid there)."""
    with unit_of_work(world.url) as s:
        shape = from_wkb(s.scalar(select(Area.geom).where(Area.code == code)))
    p = shape.representative_point()
    return round(p.x, 7), round(p.y, 7)


def hazards_titled(world: World, title: str) -> list[Hazard]:
    with unit_of_work(world.url) as s:
        rows = list(s.scalars(select(Hazard).where(Hazard.title == title)))
        s.expunge_all()
        return rows


def worker_phone(browser, problems: list[str], world: World, username: str = "west_worker"):
    """The worker's phone at WEST_POINT, the app installed (its service worker ready) and the campaigns kept."""
    pg = phone(browser, problems, world.base, username, **AT_WEST)
    pg.evaluate("navigator.serviceWorker.ready.then(() => true)")
    expect(pg.locator("#v-form")).to_have_attribute("data-campaigns", "1" if username == "west_worker" else "0")
    return pg


def answer(pg, question: str, choice: str) -> None:
    pg.get_by_role("group", name=question).get_by_label(choice).check()


def test_a_visit_recorded_offline_is_sent_once_with_its_hazard(browser, world):
    problems: list[str] = []
    pg = worker_phone(browser, problems, world)
    title = f"楼道堆放杂物 {uuid.uuid4().hex[:6]}"

    pg.context.set_offline(True)
    pg.reload()  # offline: the app from the service worker, the campaigns from the phone's own store
    pg.get_by_role("tab", name="巡查走访").click()
    expect(pg.locator("#v-status")).to_contain_text("未联网：使用")
    expect(pg.locator("#v-campaign")).to_have_value(str(world.campaign["id"]))
    # the grid where the phone is, found without the network among the kept grids
    expect(pg.get_by_label("走访网格")).to_have_value(world.grid)
    expect(pg.locator("#v-grid-hint")).to_contain_text(f"您在网格 {world.grid}")
    save = pg.get_by_role("button", name="保存走访记录")
    save.click()  # a question unanswered: the browser says so, nothing is kept
    expect(pg.locator("#outbox-count")).to_have_text("0")
    answer(pg, "灭火器是否有效", "有问题")
    answer(pg, "疏散通道是否畅通", "正常")
    pg.get_by_label("备注").fill("3 号楼灭火器过期")
    pg.get_by_role("button", name="添加安全隐患").click()
    finding = pg.locator(".finding")
    expect(finding.locator("h3")).to_have_text("隐患 1")
    finding.get_by_label("名称").fill(title)
    save.click()  # the sector is still to be chosen
    expect(pg.locator("#outbox-count")).to_have_text("0")
    finding.get_by_label("行业领域").select_option("fire")
    save.click()
    expect(pg.locator("#v-ok")).to_have_text("已保存，联网后发送")
    expect(pg.locator("#outbox-count")).to_have_text("1")
    row = pg.locator(".outbox-item.outbox-visit")
    expect(row).to_contain_text("走访")
    expect(row).to_contain_text(f"出租屋消防安全排查 · 网格 {world.grid}")
    expect(row).to_contain_text("1 项有问题 · 1 条发现")
    expect(pg.locator(".finding")).to_have_count(0)  # the form is ready for the next visit
    [pending] = pg.evaluate(f"{OUTBOX}.then((o) => o.all())")
    assert pending["kind"] == "visit" and pending["owner"] == "west_worker"
    assert pending["body"]["answers"] == {"extinguisher": "problem", "exits": "ok"}
    assert visits(world) == []

    pg.context.set_offline(False)
    expect(pg.locator("#outbox-count")).to_have_text("0", timeout=20_000)
    [visit] = visits(world)
    assert visit.visit_key == pending["id"] and visit.answers == {"extinguisher": "problem", "exits": "ok"}
    assert visit.problems == 1 and visit.note == "3 号楼灭火器过期" and visit.actor == "west_worker"
    [hazard] = hazards_titled(world, title)
    assert visit.hazard_ids == [hazard.id] and visit.dispute_ids == []
    assert hazard.sector == "fire" and hazard.grade == "general"
    # sent again (as after a lost answer): its visit_key finds the visit made, and the outbox lets it go
    left = pg.evaluate(f"(item) => {OUTBOX}.then(async (o) => {{ await o.put(item); await o.flush('west_worker'); "
                       "return (await o.all()).length; })", pending)
    assert left == 0
    assert [v.id for v in visits(world)] == [visit.id] and len(hazards_titled(world, title)) == 1
    assert [p for p in problems if OFFLINE not in p] == []


def test_a_refused_visit_stays_with_its_reason_until_fixed_or_dropped(browser, world):
    problems: list[str] = []
    pg = worker_phone(browser, problems, world)
    before = len(visits(world))
    pg.get_by_role("tab", name="巡查走访").click()
    expect(pg.get_by_label("走访网格")).to_have_value(world.grid)
    pg.get_by_label("走访网格").fill(world.east_grid)  # typed: a grid of the other town
    answer(pg, "灭火器是否有效", "正常")
    answer(pg, "疏散通道是否畅通", "不适用")
    title = f"消防通道被占 {uuid.uuid4().hex[:6]}"
    pg.get_by_role("button", name="添加安全隐患").click()
    pg.locator(".finding").get_by_label("名称").fill(title)
    pg.locator(".finding").get_by_label("行业领域").select_option("fire")
    pg.get_by_role("button", name="保存走访记录").click()
    row = pg.locator(".outbox-item.outbox-visit")
    expect(row).to_contain_text("服务器拒收此走访记录")
    expect(row).to_contain_text(f"提交的内容未被接受: 网格 {world.east_grid} 不在本次排查范围内")
    expect(pg.locator("#outbox-error")).to_have_text("1 条记录被服务器拒收，请查看下方待发送列表")
    # the finding was placed elsewhere in the grid (the worker walked on after noting it): its place is its own
    placed = inner_point(world, world.grid)
    assert placed != WEST_POINT
    pg.evaluate(f"(at) => {OUTBOX}.then(async (o) => {{ const [i] = await o.all(); "
                "i.body.findings[0].lon = at[0]; i.body.findings[0].lat = at[1]; await o.put(i); })", placed)
    pg.reload()  # kept on the phone, and not sent again as it was
    pg.get_by_role("button", name="立即发送").click()
    expect(row).to_contain_text("服务器拒收此走访记录")
    expect(pg.locator("#outbox-count")).to_have_text("1")
    assert len(visits(world)) == before

    # fixed: the form takes it back, the grid is put right, and it goes under the same visit_key
    [refused] = pg.evaluate(f"{OUTBOX}.then((o) => o.all())")
    row.get_by_role("button", name="修改后重发").click()
    expect(pg.locator("#v-editing")).to_be_visible()
    expect(pg.get_by_label("走访网格")).to_have_value(world.east_grid)
    expect(pg.get_by_role("group", name="疏散通道是否畅通").get_by_label("不适用")).to_be_checked()
    pg.get_by_role("button", name="定位所在网格").click()
    expect(pg.get_by_label("走访网格")).to_have_value(world.grid)
    pg.get_by_role("button", name="保存走访记录").click()
    expect(pg.locator("#outbox-count")).to_have_text("0")
    expect(pg.locator("#v-editing")).to_be_hidden()
    fixed = visits(world)[-1]
    assert len(visits(world)) == before + 1 and fixed.visit_key == refused["id"]
    assert fixed.answers == {"extinguisher": "ok", "exits": "n/a"}
    assert fixed.visited_at.isoformat()[:19] == refused["body"]["visited_at"][:19]  # when it was made, not sent
    # the finding where it was noted, not where the phone is now (WEST_POINT) nor the grid's middle
    [hazard] = hazards_titled(world, title)
    assert fixed.hazard_ids == [hazard.id] and (hazard.lon, hazard.lat) == pytest.approx(placed, abs=1e-7)

    # someone not in the campaign's teams (a visit left on a shared phone, say): refused, and can only be dropped
    other = new_page(browser, problems, **PHONE, **AT_WEST)
    sign_in(other, world.base, "west_worker1")
    other.goto(f"{world.base}/m/")
    expect(other.locator("#v-form")).to_have_attribute("data-campaigns", "0")
    expect(other.locator("#v-status")).to_be_hidden()
    other.get_by_role("tab", name="巡查走访").click()
    expect(other.locator("#v-status")).to_have_text("暂无需要您走访的排查行动")
    item = {**refused, "id": str(uuid.uuid4()), "owner": "west_worker1", "created": 1}
    item.pop("error"), item.pop("status")
    other.evaluate(f"(item) => {OUTBOX}.then((o) => o.put(item))", item)
    other.get_by_role("button", name="立即发送").click()
    row = other.locator(f'.outbox-item[data-id="{item["id"]}"]')
    expect(row).to_contain_text("服务器拒收此走访记录 · 您无权执行此操作")
    expect(row).to_contain_text("该排查行动已不在您的列表中，只能放弃")
    expect(row.get_by_role("button", name="修改后重发")).to_have_count(0)
    row.get_by_role("button", name="放弃此走访记录").click()
    expect(row).to_have_count(0)
    expect(other.locator("#outbox-count")).to_have_text("0")
    assert len(visits(world)) == before + 1
    assert unexpected(problems, "/visits") == []


def test_a_worker_who_sees_the_district_gets_only_the_grids_of_the_campaigns_town(browser, world):
    # the centre's inspector sees the whole district and visits for the west sub-centre, which the centre heads
    start, end = period()
    with api(world.base, "shift_leader") as c:
        r = c.post("/api/v1/campaigns", json={
            "code": "PC-CENTRE", "name": "西镇燃气排查", "theme": "gas", "checklist": CHECKLIST, "area_code": WEST,
            "start": start, "end": end, "unit_ids": [unit_id(world.url, f"S-{WEST}")]})
        assert r.status_code == 201, r.text
        cid = c.post(f"/api/v1/campaigns/{r.json()['id']}/actions/start").json()["id"]
    town = grids_under(world, WEST)
    assert world.grid in town and world.east_grid not in town
    with api(world.base, "inspector") as c:
        bbox = ",".join(map(str, c.get(f"/api/v1/campaigns/{cid}").json()["area"]["bbox"]))
        around = {f["properties"]["code"] for f in c.get(
            f"/api/v1/areas/geojson?level=grid&bbox={bbox}&limit=2000").json()["features"]}
    assert around - town  # the town's box holds grids of the other town: the phone must not offer them

    problems: list[str] = []
    pg = phone(browser, problems, world.base, "inspector", **AT_WEST)
    expect(pg.locator("#v-form")).to_have_attribute("data-campaigns", re.compile(r"[1-9]"))
    pg.get_by_role("tab", name="巡查走访").click()
    pg.get_by_label("排查行动").select_option(str(cid))
    expect(pg.locator("#v-grids option")).to_have_count(len(town))
    offered = set(pg.locator("#v-grids option").evaluate_all("(os) => os.map((o) => o.value)"))
    assert offered == town
    pg.get_by_role("button", name="定位所在网格").click()
    expect(pg.get_by_label("走访网格")).to_have_value(world.grid)
    assert problems == []


def test_a_campaign_planned_and_started_on_its_pages_shows_the_visit_and_its_coverage(browser, world):
    problems: list[str] = []
    pg = new_page(browser, problems)
    sign_in(pg, world.base, "shift_leader")
    pg.goto(f"{world.base}/campaigns")
    pg.wait_for_selector(".campaigns[data-loaded]")
    expect(pg.locator(f'#rows tr[data-campaign-id="{world.campaign["id"]}"]')).to_contain_text("PC-PHONE")
    form = pg.locator("#new-campaign")
    pg.locator("#new-box summary").click()
    start, end = period()
    form.locator('input[name="name"]').fill("燃气安全排查")
    form.locator('input[name="code"]').fill("PC-GAS")
    form.locator('select[name="theme"]').select_option("gas")
    form.locator('select[name="area_code"]').select_option(WEST)
    form.locator('input[name="start"]').fill(start)
    form.locator('input[name="end"]').fill(end)
    form.locator('select[name="unit_ids"]').select_option(str(unit_id(world.url, TEAM)))
    form.locator('textarea[name="checklist"]').fill("hose|软管是否老化\nvalve|阀门是否漏气")
    form.get_by_role("button", name="新建排查行动").click()
    pg.wait_for_url(f"{world.base}/campaigns/*")
    main = pg.locator(".campaign")
    pg.wait_for_selector(".campaign[data-loaded]")
    expect(pg.locator("#c-code")).to_have_text("PC-GAS")
    expect(pg.locator("#checklist li")).to_have_count(2)
    pg.locator('#actions button[data-action="start"]').click()
    expect(pg.locator("#c-state")).to_have_text("进行中")
    cid = int(main.get_attribute("data-campaign-id"))

    # the worker's phone lists it now; a visit recorded online goes straight through the outbox
    worker = phone(browser, problems, world.base, "west_worker", **AT_WEST)
    expect(worker.locator("#v-form")).to_have_attribute("data-campaigns", "2")
    worker.get_by_role("tab", name="巡查走访").click()
    worker.get_by_label("排查行动").select_option(str(cid))
    expect(worker.get_by_role("group", name="软管是否老化")).to_be_visible()
    worker.get_by_role("button", name="定位所在网格").click()
    expect(worker.get_by_label("走访网格")).to_have_value(world.grid)
    answer(worker, "软管是否老化", "有问题")
    answer(worker, "阀门是否漏气", "正常")
    worker.get_by_role("button", name="添加矛盾纠纷").click()
    dispute = worker.locator(".finding")
    dispute.get_by_label("名称").fill("租客与房东燃气费纠纷")
    dispute.get_by_label("类型").select_option("property")
    dispute.get_by_label("当事人").fill("张三，13900001111\n李四")
    worker.get_by_role("button", name="保存走访记录").click()
    # the count reads 0 before the visit is kept as well as once it is sent: wait for the sending itself
    expect(worker.locator("#v-ok")).to_have_text("已发送", timeout=20_000)
    expect(worker.locator("#outbox-count")).to_have_text("0")
    [visit] = visits_soon(world, cid, 1)
    assert visit.answers == {"hose": "problem", "valve": "ok"} and len(visit.dispute_ids) == 1
    with unit_of_work(world.url) as s:
        dispute_row = s.get(Dispute, visit.dispute_ids[0])
        assert (dispute_row.type, dispute_row.risk) == ("property", "blue")
        assert dispute_row.parties == [{"name": "张三", "phone": "13900001111"}, {"name": "李四"}]

    pg.reload()
    pg.wait_for_selector(".campaign[data-loaded]")
    expect(pg.locator("#coverage-map")).not_to_have_attribute("data-features", "0")
    expect(pg.locator("#coverage-map .leaflet-overlay-pane path").first).to_be_visible()
    expect(pg.locator("#totals")).to_contain_text("已走访 1/")
    expect(pg.locator(f'#coverage-rows tr[data-code="{WEST}002"] td').nth(2)).to_have_text("1")  # visited grids
    row = pg.locator(f'#visit-rows tr[data-visit-id="{visit.id}"]')
    expect(row).to_contain_text(world.grid)
    expect(row).to_contain_text("west_worker")
    expect(row.locator("a.finding-dispute")).to_contain_text("租客与房东燃气费纠纷")
    assert problems == []
