"""The demo's month of screening: safety hazards and disputes found over the last 30 days and worked through the
registers' own services, so the hazard and dispute pages and the screening summary have something to show.

Hazards (a hundred or so, one in ten major with its 五落实): most filed, most of those rectified and accepted with a
photo, a few rejected; public reporters asking for a reward get one decided (and mostly paid) once the hazard is
closed. Disputes (a few dozen): a mediator assigned, mediation records, some escalated a tier, most resolved with an
outcome and called back (a few reopened when the settlement did not hold). Every step takes the service path at its
own time; nothing is written directly.

One campaign (出租屋消防安全专项排查) runs in 七宝镇 since three weeks, assigned to the town's sub-centre (so the demo's
``town_handler`` and ``inspector`` may record visits on the phone) and its street team: the team has visited every
grid of a few communities and part of the next (a rolling campaign), answering the checklist; a failed item is
mostly written up as a safety hazard, now and then a dispute (群租 neighbours), through ``campaigns.record_visit``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.auth.models import User
from liandong.errors import DomainError
from liandong.screening import campaigns, dispute_actions, disputes, hazard_actions, hazards
from liandong.screening.campaign_payloads import CampaignIn, ChecklistItem, DisputeFinding, HazardFinding, VisitIn
from liandong.screening.dispute_payloads import DisputeIn
from liandong.screening.hazard_models import Hazard
from liandong.screening.hazard_payloads import HazardIn
from liandong.units.models import Unit

STAFF = Identity(roles=frozenset({"receptionist", "shift_leader", "dispatcher", "inspector", "handler", "leader"}),
                 username="demo")
"""The district centre's desk, every screening role at once (the demo's generated work, like demo/activity.py)."""
HAZARDS = (("fire", "楼道堆放杂物，堵塞疏散通道"), ("fire", "电动自行车在楼道内充电"), ("gas", "餐饮店燃气软管老化"),
           ("gas", "瓶装液化气违规存放"), ("building", "老旧房屋外墙空鼓脱落"), ("electric", "私拉乱接电线"),
           ("construction", "工地脚手架未设防护网"), ("special_equipment", "小区电梯维保过期"),
           ("traffic", "路口信号灯故障"), ("hazchem", "小作坊违规存放化学品"))
DISPUTES = (("neighbour", "楼上漏水引发邻里纠纷"), ("property", "物业费收费纠纷"), ("labour", "工地拖欠农民工工资"),
            ("family", "赡养老人家庭矛盾"), ("land", "宅基地边界争议"), ("requisition", "动迁补偿争议"))
SURNAMES = "王李张刘陈杨黄赵吴周"
CAMPAIGN_TOWN = "310112102"
"""七宝镇, the demo's town (``loader.DEMO_TOWN``, whose sub-centre the ``town_handler`` belongs to)."""
CHECKLIST = (("exits", "疏散通道是否畅通"), ("extinguisher", "是否按要求配备灭火器"), ("wiring", "有无私拉乱接电线"),
             ("ebike", "有无电动自行车室内或楼道充电"), ("smoke_alarm", "是否安装独立式感烟火灾探测报警器"))
FAILED = {"exits": ("fire", "出租屋楼道堆物堵塞疏散通道"), "extinguisher": ("fire", "出租屋未配备灭火器"),
          "wiring": ("electric", "出租屋私拉乱接电线"), "ebike": ("fire", "电动自行车在出租屋内充电"),
          "smoke_alarm": ("fire", "出租屋未安装烟感报警器")}
"""A failed checklist item and the hazard (sector, title) the visitor writes it up as."""


def generate(session: Session, *, hazards_n: int = 120, disputes_n: int = 40, campaign_grids: int = 240,
             seed: int = 11, now: dt.datetime | None = None, index: GridIndex | None = None) -> dict:
    """Make the month; returns how many hazards and disputes were made (the campaign's findings included) and what
    the campaign did (``campaign``: its id, visits, hazards, disputes); ``campaign_grids`` 0 leaves it out."""
    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.UTC)
    index = index or GridIndex.build(session)
    made = {"hazards": 0, "disputes": 0}
    if campaign_grids:
        ran = _campaign(session, index, rng, now, campaign_grids)
        made["campaign"] = ran
        made["hazards"] += ran["hazards"]
        made["disputes"] += ran["disputes"]
    for _ in range(hazards_n):
        with session.begin_nested():
            _hazard(session, index, rng, now)
            made["hazards"] += 1
    for _ in range(disputes_n):
        with session.begin_nested():
            _dispute(session, index, rng, now)
            made["disputes"] += 1
    return made


def _point(index: GridIndex, rng: random.Random):
    return index.geoms[rng.randrange(len(index.geoms))].representative_point()


def _hazard(session: Session, index: GridIndex, rng: random.Random, now: dt.datetime) -> None:
    sector, title = rng.choice(HAZARDS)
    at = now - dt.timedelta(days=rng.uniform(1, 30))
    major = rng.random() < 0.1
    public = rng.random() < 0.6
    five = {"measures": "限期整改，落实专人督办", "responsibility": "属地街镇安全办", "funds": "业主自筹",
            "deadline": (at + dt.timedelta(days=15)).date(), "contingency_plan": "落实临时管控和应急处置措施"} \
        if major else {}
    point = _point(index, rng)
    hazard = hazards.open_hazard(session, index, STAFF, HazardIn(
        title=title, sector=sector, grade="major" if major else "general", lon=point.x, lat=point.y,
        reporter={"kind": "public", "name": f"{rng.choice(SURNAMES)}先生", "phone": "13800000000",
                  "reward": rng.random() < 0.5} if public else {"kind": "staff"}, **five), at)
    _work_hazard(session, rng, now, hazard, at)


def _work_hazard(session: Session, rng: random.Random, now: dt.datetime, hazard: Hazard, at: dt.datetime) -> None:
    """Take a hazard found at ``at`` through the register: rejected now and then, else filed, mostly rectified and
    closed with photos, a wanted reward decided and mostly paid; each step only if its time has come."""
    hid = hazard.id
    if at + dt.timedelta(days=1) > now:  # found today: not looked at yet
        return
    if rng.random() < 0.06:
        hazard_actions.act(session, hid, "reject", STAFF, {"reason": "经核实不构成隐患"}, at + dt.timedelta(hours=5))
        return
    step = at + dt.timedelta(hours=rng.uniform(2, 24))
    hazard_actions.act(session, hid, "file", STAFF, {}, step)
    if rng.random() < 0.15 or (step := step + dt.timedelta(days=rng.uniform(0.5, 4))) > now:
        return
    hazard_actions.act(session, hid, "rectify", STAFF, {"evidence": [f"demo://hazard/{hid}/rectifying.jpg"]}, step)
    if rng.random() < 0.2 or (step := step + dt.timedelta(days=rng.uniform(1, 8))) > now:
        return
    hazard_actions.act(session, hid, "close", STAFF, {"evidence": [f"demo://hazard/{hid}/after.jpg"]}, step)
    if hazard.reward_wanted and (step := step + dt.timedelta(days=1)) < now:
        approver, payer = _people(session)
        hazard_actions.act(session, hid, "reward", approver, {"amount": rng.choice((50, 100, 200, 500))}, step)
        if rng.random() < 0.7 and (step := step + dt.timedelta(days=2)) < now:
            hazard_actions.act(session, hid, "pay_reward", payer, {}, step)


def _people(session: Session) -> tuple[Identity, Identity]:
    """The demo's leader approves rewards and its shift leader records them paid (two named people, 四眼原则); a
    database without them (a test loading only this month) gets two named stand-ins."""
    named = select(User.username, User.id).where(User.username.in_(("leader", "shift_leader")))
    ids = dict(session.execute(named).all())
    return (Identity(roles=frozenset({"leader"}), user_id=ids.get("leader", -1), username="leader"),
            Identity(roles=frozenset({"shift_leader"}), user_id=ids.get("shift_leader", -2), username="shift_leader"))


def _dispute(session: Session, index: GridIndex, rng: random.Random, now: dt.datetime) -> None:
    kind, title = rng.choice(DISPUTES)
    at = now - dt.timedelta(days=rng.uniform(1, 30))
    point = _point(index, rng)
    parties = [{"name": f"{rng.choice(SURNAMES)}某{n}", "phone": f"1390000{rng.randrange(1000, 9999)}"}
               for n in (1, 2)]
    dispute = disputes.open_dispute(session, index, STAFF, DisputeIn(
        title=title, type=kind, risk=rng.choice(("blue", "blue", "yellow", "red")), parties=parties, lon=point.x,
        lat=point.y), at)
    did = dispute.id
    step = at + dt.timedelta(hours=rng.uniform(1, 12))
    dispute_actions.act(session, did, "assign", STAFF, {"mediator": "网格调解员"}, step)
    for _ in range(rng.randint(1, 3)):
        if (step := step + dt.timedelta(days=rng.uniform(0.5, 3))) > now:
            return
        dispute_actions.act(session, did, "mediate", STAFF, {"note": "组织双方当面调解，记录诉求"}, step)
    if rng.random() < 0.2 and (step := step + dt.timedelta(days=1)) < now:
        with contextlib.suppress(DomainError):  # at the top tier already
            dispute_actions.act(session, did, "escalate", STAFF, {"reason": "调解未果，提交上一级"}, step)
    if rng.random() < 0.25 or (step := step + dt.timedelta(days=rng.uniform(1, 5))) > now:
        return
    outcome = rng.choices(("success", "judicial", "litigation"), (75, 12, 13))[0]
    dispute_actions.act(session, did, "resolve", STAFF, {"outcome": outcome}, step)
    if rng.random() < 0.8 and (step := step + dt.timedelta(days=rng.uniform(3, 7))) < now:
        holds = rng.random() < 0.9
        dispute_actions.act(session, did, "callback" if holds else "reopen", STAFF, {
            "note": "回访双方，协议履行良好" if holds else "回访发现一方未履行协议"}, step)


def _campaign(session: Session, index: GridIndex, rng: random.Random, now: dt.datetime, n_grids: int) -> dict:
    """The rolling campaign in 七宝镇: created and started three weeks ago, ``n_grids`` grids visited since, in
    community order (whole communities first), a few a day; returns its id and what the visits found."""
    town = session.scalar(select(Area).where(Area.code == CAMPAIGN_TOWN))
    units = dict(session.execute(select(Unit.code, Unit.id).where(
        Unit.code.in_((f"LD-{CAMPAIGN_TOWN}", f"TEAM-{CAMPAIGN_TOWN}-greening")))).all())
    if town is None or len(units) < 2:
        return {"id": None, "visits": 0, "hazards": 0, "disputes": 0}
    started = now - dt.timedelta(days=21)
    campaign = campaigns.create(session, STAFF, CampaignIn(
        name="七宝镇出租屋消防安全专项排查", theme="rental_fire", area_code=town.code,
        checklist=[ChecklistItem(key=k, question=q) for k, q in CHECKLIST], start=started.date(),
        end=(now + dt.timedelta(days=9)).date(), unit_ids=sorted(units.values())), started)
    campaigns.act(session, campaign.id, "start", STAFF, {"note": "全镇出租屋逐网格排查"}, started)
    visitor = Identity(roles=frozenset({"inspector"}), unit_id=units[f"TEAM-{CAMPAIGN_TOWN}-greening"],
                       username="七宝镇网格员")
    grids = sorted((i for i, h in enumerate(index.hits) if h.path.startswith(town.path)),
                   key=lambda i: index.hits[i].code)[:n_grids]
    made = {"id": campaign.id, "visits": 0, "hazards": 0, "disputes": 0}
    for n, i in enumerate(grids):
        visited = started + dt.timedelta(days=1 + 19 * n / max(len(grids), 1), hours=rng.uniform(1, 8))
        failed = [k for k, _ in CHECKLIST if rng.random() < 0.06]
        point = index.geoms[i].representative_point()
        findings: list[HazardFinding | DisputeFinding] = [
            HazardFinding(kind="hazard", title=FAILED[k][1], sector=FAILED[k][0], grade="general", lon=point.x,
                          lat=point.y, reporter={"kind": "staff"}) for k in failed[:1]]
        if rng.random() < 0.02:
            findings.append(DisputeFinding(
                kind="dispute", title="群租房噪音扰民引发邻里纠纷", type="neighbour", risk="blue", lon=point.x,
                lat=point.y, parties=[{"name": f"{rng.choice(SURNAMES)}某", "phone": "13900000000"}]))
        with session.begin_nested():
            visit, _ = campaigns.record_visit(session, index, visitor, campaign.id, VisitIn(
                grid_code=index.hits[i].code, visited_at=visited, visit_key=f"demo-{campaign.id}-{n}",
                answers={k: "problem" if k in failed else "ok" for k, _ in CHECKLIST},
                findings=findings, note="发现问题，已当场告知房东" if failed else "逐户查看出租屋"),
                visited + dt.timedelta(minutes=30))
        made["visits"] += 1
        for hid in visit.hazard_ids:
            _work_hazard(session, rng, now, session.get(Hazard, hid), visited + dt.timedelta(minutes=30))
        made["hazards"] += len(visit.hazard_ids)
        made["disputes"] += len(visit.dispute_ids)
    return made
