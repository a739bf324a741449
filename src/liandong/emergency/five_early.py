"""The 五早 clock: 早发现、早报告、早研判、早处置、早解决 (discover, report, assess, dispose, resolve early).

The moments are read from the incident's own events and its cases, never kept on the side; time is natural time
(emergencies do not wait for working hours):

- discovered: the earliest of the incident's ``occurred_at`` and the report times of its cases;
- reported: the first upward report (``report_up``); assessed: ``verify``; disposed: ``respond`` or a plan's
  activation, whichever came first;
- resolved: the first of ``contain`` and ``close`` (standing down resolves nothing).

The chain 发现 → 研判 → 处置 → 解决 is measured step by step; the upward report runs beside it (before or after
研判), so it is measured from discovery, as is every step. A grade Ⅰ or Ⅱ incident must be reported upward within
``incident_report_limit_minutes`` of its discovery: ``report_late`` when it was reported after that, or is still
unreported when the limit has passed.

``figures`` aggregates the same per-incident clock over a period, by category or by town; exercises count only
when asked for (and then alone).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.config import get_settings
from liandong.db import utcnow
from liandong.emergency import linked_cases, visibility
from liandong.emergency.models import Incident, IncidentEvent
from liandong.emergency.states import CATEGORIES, REPORT_LIMITED_GRADES
from liandong.errors import Invalid

MOMENTS = ("discovered", "reported", "assessed", "disposed", "resolved")
FIRST = {"report_up": "reported", "verify": "assessed", "respond": "disposed", "activate": "disposed",
         "contain": "resolved", "close": "resolved"}
"""The action whose first event marks each moment after discovery."""
INTERVALS = {
    "discover_report": ("discovered", "reported"),
    "discover_assess": ("discovered", "assessed"),
    "assess_dispose": ("assessed", "disposed"),
    "dispose_resolve": ("disposed", "resolved"),
    "discover_dispose": ("discovered", "disposed"),
    "discover_resolve": ("discovered", "resolved"),
}
"""Each interval, in minutes, from one moment to another: the steps of the chain and each since discovery."""
GROUPINGS = ("category", "town")
TOWN_DEPTH = 2
"""Ids in a town's materialised path: /district/town/."""


def clock(incident: Incident, actions: Iterable[tuple[str, dt.datetime]], case_times: Iterable[dt.datetime],
          now: dt.datetime, limit_minutes: float) -> dict:
    """The 五早 moments and intervals of one incident, from its ``(action, at)`` events and its cases' report
    times, as they stand at ``now``."""
    moments: dict[str, dt.datetime | None] = dict.fromkeys(MOMENTS)
    moments["discovered"] = min([incident.occurred_at, *case_times])
    for action, at in actions:
        moment = FIRST.get(action)
        if moment is not None and (moments[moment] is None or at < moments[moment]):
            moments[moment] = at
    intervals = {name: _minutes(moments[a], moments[b]) for name, (a, b) in INTERVALS.items()}
    limited = incident.grade in REPORT_LIMITED_GRADES
    deadline = moments["discovered"] + dt.timedelta(minutes=limit_minutes)
    reported = moments["reported"]
    late = limited and (reported > deadline if reported is not None else now > deadline)
    return {**{f"{m}_at": t.isoformat() if t else None for m, t in moments.items()}, "intervals": intervals,
            "report_limit_minutes": limit_minutes if limited else None,
            "report_deadline": deadline.isoformat() if limited else None, "report_late": late}


def _minutes(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds() / 60, 2)


def of(session: Session, incidents: list[Incident], now: dt.datetime,
       limit_minutes: float | None = None) -> dict[int, dict]:
    """The clock of each incident (two queries however many incidents)."""
    limit = get_settings().incident_report_limit_minutes if limit_minutes is None else limit_minutes
    ids = [i.id for i in incidents]
    actions: dict[int, list[tuple[str, dt.datetime]]] = {i: [] for i in ids}
    if ids:
        for incident_id, action, at in session.execute(
                select(IncidentEvent.incident_id, IncidentEvent.action, IncidentEvent.at).where(
                    IncidentEvent.incident_id.in_(ids), IncidentEvent.action.in_(list(FIRST)))):
            actions[incident_id].append((action, at))
    cases = linked_cases.of(session, ids)
    return {i.id: clock(i, actions[i.id], [c["created_at"] for c in cases[i.id]], now, limit) for i in incidents}


def figures(session: Session, caller: Identity, date_from: dt.date | None = None, date_to: dt.date | None = None,
            by: str = "category", exercise: bool = False, now: dt.datetime | None = None,
            limit_minutes: float | None = None) -> dict:
    """The 五早 intervals of the incidents that occurred (local days ``date_from`` … ``date_to``, by default the
    last 30 days) within the caller's sight, per category or town: per group how many, how many reported late,
    and per interval how many have it, their mean and median minutes (None for an empty group). Real incidents
    only, or exercises only."""
    now = now or utcnow()
    tz = ZoneInfo(get_settings().timezone)
    if by not in GROUPINGS:
        raise Invalid(f"by must be one of {', '.join(GROUPINGS)}", code="bad_grouping", params={"by": by})
    date_to = date_to or now.astimezone(tz).date()
    if date_from is None:
        date_from = date_to - dt.timedelta(days=29) if date_to.year > 1970 else date_to
    if date_from > date_to or not 1970 <= date_from.year <= date_to.year <= 2100:
        raise Invalid("the period must run forwards, between 1970 and 2100", code="bad_period")
    start = dt.datetime.combine(date_from, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    incidents = list(session.scalars(visibility.visible(select(Incident), caller).where(
        Incident.occurred_at >= start, Incident.occurred_at < end, Incident.exercise.is_(exercise))))
    clocks = of(session, incidents, now, limit_minutes)
    if by == "category":
        names = {c: c for c in CATEGORIES}
        key_of = {i.id: i.category for i in incidents}
    else:
        towns = _towns(session, caller, {_town_path(i.area_path) for i in incidents})
        names = dict(towns.values())
        key_of = {i.id: towns[_town_path(i.area_path)][0] for i in incidents}
    members: dict[str, list[dict]] = {key: [] for key in names}
    for incident in incidents:
        members[key_of[incident.id]].append(clocks[incident.id])
    return {"by": by, "date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "exercise": exercise,
            "groups": [_group(key, names[key], rows) for key, rows in members.items()]}


def _group(key: str, name: str, clocks: list[dict]) -> dict:
    stats = {}
    for interval in INTERVALS:
        values = [c["intervals"][interval] for c in clocks if c["intervals"][interval] is not None]
        stats[interval] = {"count": len(values),
                           "mean": round(statistics.fmean(values), 2) if values else None,
                           "median": round(statistics.median(values), 2) if values else None}
    return {"key": key, "name": name, "count": len(clocks), "report_late": sum(1 for c in clocks if c["report_late"]),
            "intervals": stats}


def _town_path(area_path: str) -> str:
    return "/".join(area_path.split("/")[: TOWN_DEPTH + 1]) + "/"


def _towns(session: Session, caller: Identity, seen: set[str]) -> dict[str, tuple[str, str]]:
    """Town path → (code, name) of every town in the caller's sight and of the towns the incidents lie in."""
    r = visibility.rule(caller)
    stmt = select(Area.path, Area.code, Area.name).where(Area.level == "town")
    if not r.everything:
        mine = visibility.overlapping(Area.path, r.path) if r.path is not None else false()
        stmt = stmt.where(or_(mine, Area.path.in_(seen)))
    return {path: (code, name) for path, code, name in session.execute(stmt.order_by(Area.code))}
