"""The demo's typhoon drill (防汛防台演练): an exercise incident over three towns, run through the same services
as a real one, so the incident board, the plan's tasks and the warnings page have something to show.

Over the last hour and a quarter: reported, reported upward, verified at grade Ⅱ with an orange warning, the
typhoon-flood plan activated at response level 3 (its tasks created for the real units the plan names); the
units acknowledge (some by phone, recorded by the commander), what is due is done with a report, the rest is
under way, one task is left unacknowledged past its deadline so the sweep escalates it, and an Exercise CAP
warning is issued. Every step takes the service path (no rows written directly) and is marked as a drill, so
it never counts in real figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.geometry import from_wkb
from liandong.areas.index import GridIndex
from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.auth.models import User
from liandong.config import get_settings
from liandong.emergency import actions, intake, log, task_actions, task_sweep
from liandong.emergency.cap import issue as cap_issue
from liandong.emergency.cap.models import IssuedWarning
from liandong.emergency.cap.payloads import WarningIn
from liandong.emergency.models import Task
from liandong.emergency.payloads import IncidentIn
from liandong.units.models import Unit

TOWNS = ("310112102", "310112107", "310112106")
"""七宝镇, 虹桥镇 and 华漕镇: the drill's affected towns; the incident's place is in the first."""


def _commander(session: Session) -> Identity:
    user = session.scalar(select(User).where(User.username == "commander"))
    return Identity(roles=frozenset({"commander"}), unit_id=user.unit_id if user else None,
                    user_id=user.id if user else None, username="commander")


def run(session: Session, now: dt.datetime | None = None, index: GridIndex | None = None) -> dict:
    """Stage the drill ending at ``now``; returns its incident number and what happened to its tasks."""
    now = now or dt.datetime.now(dt.UTC)
    index = index or GridIndex.build(session)
    me = _commander(session)
    start = now - dt.timedelta(minutes=75)
    towns = list(session.scalars(select(Area.code).where(Area.code.in_(TOWNS))))
    place = from_wkb(session.scalar(select(Area.geom).where(Area.code == TOWNS[0]))).representative_point()
    incident = intake.open_incident(session, index, me, IncidentIn(
        title="【演练】台风“海葵”影响本区防汛防台演练", category="natural", type="台风", grade=2, lon=place.x,
        lat=place.y, area_codes=towns, exercise=True, warning_level=2, commander="commander",
        occurred_at=start), start)
    iid = incident.id
    actions.act(session, iid, "report_up", me, {"to": "市防汛指挥部（演练）"}, start + dt.timedelta(minutes=5))
    actions.act(session, iid, "verify", me, {"grade": 2, "warning_level": 2}, start + dt.timedelta(minutes=10))
    activated = start + dt.timedelta(minutes=15)
    actions.activate(session, iid, "typhoon-flood", me, {"response_level": 3}, activated)
    steps: list[tuple[dt.datetime, Callable[[dt.datetime], object]]] = [
        (activated + dt.timedelta(minutes=2), lambda at: log.write(
            session, incident, me, "order", "各街镇、各部门按三级响应要求落实防御措施，每两小时报告一次。", at)),
        (activated + dt.timedelta(minutes=10), lambda at: cap_issue.issue(session, iid, me, WarningIn(
            msg_type="Alert", headline="【演练】闵行区台风橙色预警", description=(
                "【演练信息】受台风“海葵”影响，预计未来24小时本区将出现8～10级大风和大暴雨，七宝、虹桥、华漕等镇"
                "低洼地区可能积水。"), instruction="请远离广告牌和行道树，低洼地区居民做好转移准备。（演练）",
            expires=now + dt.timedelta(hours=12)), at, get_settings())),
        (now - dt.timedelta(minutes=5), lambda at: log.write(
            session, incident, me, "sitrep",
            "演练态势：大部分任务已签收，已到期的已完成；一项任务逾期未签收，已督办。", at)),
    ]
    tasks = list(session.scalars(select(Task).where(Task.incident_id == iid).order_by(Task.due_at, Task.id)))
    late = tasks[0] if tasks else None  # the earliest deadline: left alone, so it is late and escalated
    units = {u.id: u.code for u in session.scalars(select(Unit).where(Unit.id.in_({t.owner_unit_id for t in tasks})))}
    done = acked = 0
    for n, task in enumerate(tasks):
        if task is late:
            continue
        at = activated + dt.timedelta(minutes=3 + n % 8)
        duty = Identity(roles=frozenset({"handler"}), unit_id=task.owner_unit_id,
                        username=f"duty@{units[task.owner_unit_id]}")  # the unit's duty officer
        if task.ack_required:  # one in four by phone, recorded by the commander on the unit's behalf
            by, body = (me, {"on_behalf": True, "note": "值班电话确认（演练）"}) if n % 4 == 1 else (duty, {})
            steps.append((at, partial(task_actions.act, session, task.id, "ack", by, body)))
            acked += 1
        if task.due_at <= now or n % 3 == 0:  # what is due is done in time; some of the rest is under way
            steps.append((at + dt.timedelta(minutes=2), partial(task_actions.act, session, task.id, "start", duty, {})))
        if task.due_at <= now:
            steps.append((task.due_at - dt.timedelta(minutes=3), partial(
                task_actions.act, session, task.id, "done", duty, {"report": "已按预案落实（演练）"})))
            done += 1
    results = [step(at) for at, step in sorted(steps, key=lambda s: s[0])]  # the log in the order things happened
    warning = next(r for r in results if isinstance(r, IssuedWarning))
    swept = task_sweep.sweep(session, now)
    return {"incident": incident.number, "tasks": len(tasks), "acknowledged": acked, "done": done,
            "late_task": late.id if late else None, "escalated": sum(len(v) for v in swept.values()),
            "warning": warning.identifier}
