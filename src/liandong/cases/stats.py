"""Figures for the command-centre screen: today's work, open and overdue cases, breakdowns, map layers.

Everything is counted within the caller's jurisdiction (cases whose grid lies under their area) and
from the same rows the case pages show. "Today" is the local calendar day (``LIANDONG_TIMEZONE``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.auth.identity import Identity
from liandong.cases import sla
from liandong.cases.calendar import WorkCalendar
from liandong.cases.models import Case, CaseEvent, StageFact
from liandong.cases.states import CLOSED_STATES
from liandong.cases.visibility import visible
from liandong.catalogue import snapshot
from liandong.config import get_settings
from liandong.errors import Invalid

LEVEL_DEPTH = {"town": 2, "community": 3, "grid": 4}
"""How many path segments (ids) name an area of each level: /district/town/community/grid/."""
POINTS_LIMIT = 5000
BREAKDOWNS = ("category", "town", "channel", "state")


def _scoped(stmt, actor: Identity):
    """The figures count the cases the actor sees in lists."""
    return visible(stmt, actor)


def open_sql() -> ColumnElement[bool]:
    """The cases still to be worked on: not closed, and not merged into another (its master carries the work)."""
    return and_(Case.state.not_in(CLOSED_STATES), Case.master_id.is_(None))


def _open(stmt):
    return stmt.where(open_sql())


def local_day_start(now: dt.datetime, days_back: int = 0) -> dt.datetime:
    tz = ZoneInfo(get_settings().timezone)
    day = now.astimezone(tz).date() - dt.timedelta(days=days_back)
    return dt.datetime.combine(day, dt.time(), tzinfo=tz)


def overview(session: Session, actor: Identity, calendar: WorkCalendar, now: dt.datetime) -> dict:
    """KPI cards: today's accepted / filed / dispatched / closed, open, overdue, yellow and red lights (every
    open case, counted in SQL), closure rate and on-time rate (share of the time-limited stages ended in the
    last 30 days that ended within their deadline, from the stage facts) over the last 30 days."""
    today = local_day_start(now)
    done_today = dict(session.execute(_scoped(
        select(CaseEvent.action, func.count()).join(Case, Case.id == CaseEvent.case_id)
        .where(CaseEvent.at >= today, CaseEvent.action.in_(("report", "accept", "file", "dispatch", "close")))
        .group_by(CaseEvent.action), actor)).all())
    open_cases = session.scalar(_open(_scoped(select(func.count()).select_from(Case), actor))) or 0
    light = _open(_scoped(select(sla.stage_light_sql(now).label("light")), actor)).subquery()
    lights = dict(session.execute(select(light.c.light, func.count()).group_by(light.c.light)).all())
    month = local_day_start(now, 30)
    filed = session.execute(_scoped(
        select(Case.state, func.count()).where(Case.id.in_(
            select(CaseEvent.case_id).where(CaseEvent.action == "file", CaseEvent.at >= month)))
        .group_by(Case.state), actor)).all()
    filed_total = sum(n for _, n in filed)
    closed_filed = sum(n for state, n in filed if state == "closed")
    # on time: the stages with a time limit that ended in the last 30 days, each within its deadline
    stages_ended, on_time = session.execute(_scoped(
        select(func.count(), func.sum(sql_case((StageFact.on_time.is_(True), 1), else_=0)))
        .join(Case, Case.id == StageFact.case_id)
        .where(StageFact.on_time.is_not(None), StageFact.ended_at >= month), actor)).one()
    on_time = int(on_time or 0)
    return {
        "today": {"reported": done_today.get("report", 0), "accepted": done_today.get("accept", 0),
                  "filed": done_today.get("file", 0), "dispatched": done_today.get("dispatch", 0),
                  "closed": done_today.get("close", 0)},
        "open": open_cases, "overdue": lights.get("red", 0), "yellow": lights.get("yellow", 0),
        "green": lights.get("green", 0),
        "closure_rate_30d": round(closed_filed / filed_total, 4) if filed_total else None,
        "on_time_rate_30d": round(on_time / stages_ended, 4) if stages_ended else None,
        "as_of": now.isoformat(),
    }


def breakdown(session: Session, actor: Identity, by: str, days: int, now: dt.datetime) -> list[dict]:
    """Cases reported in the last ``days`` days, counted by matter category, town, channel or state."""
    if by not in BREAKDOWNS:
        raise Invalid(f"by must be one of {', '.join(BREAKDOWNS)}")
    since = local_day_start(now, days - 1)
    base = _scoped(select(Case), actor).where(Case.created_at >= since).subquery()
    if by in ("channel", "state"):
        column = base.c.channel if by == "channel" else base.c.state
        counts = Counter(dict(session.execute(select(column, func.count()).group_by(column)).all()))
    elif by == "category":
        cat = snapshot.current(session).by_id
        counts = Counter()
        for matter_id, n in session.execute(select(base.c.matter_id, func.count()).group_by(base.c.matter_id)):
            counts[cat[matter_id].major_name if matter_id in cat else "?"] += n
    else:
        counts = _by_prefix(session, select(base.c.area_path, func.count()).group_by(base.c.area_path), "town")
    return [{"key": k, "count": n} for k, n in counts.most_common()]


def _by_prefix(session: Session, stmt, level: str) -> Counter:
    """Counts per area of ``level``, from rows of (area_path, count)."""
    depth = LEVEL_DEPTH[level]
    per_path: Counter = Counter()
    for path, n in session.execute(stmt):
        per_path["/".join(path.split("/")[: depth + 1]) + "/"] += n
    names = {path: (name if level != "grid" else code) for path, name, code in session.execute(
        select(Area.path, Area.name, Area.code).where(Area.path.in_(list(per_path))))}
    out: Counter = Counter()
    for path, n in per_path.items():
        out[names.get(path, path)] += n
    return out


def by_area(session: Session, actor: Identity, level: str, now: dt.datetime) -> list[dict]:
    """Open and overdue cases per town, community or grid (for shading the map), keyed by area code."""
    if level not in LEVEL_DEPTH:
        raise Invalid(f"level must be one of {', '.join(LEVEL_DEPTH)}")
    depth = LEVEL_DEPTH[level]
    late = sla.overdue_sql(now)
    rows = session.execute(_open(_scoped(select(Case.area_path, func.count(), func.sum(
        sql_case((late, 1), else_=0))), actor)).group_by(Case.area_path))
    open_by: Counter = Counter()
    late_by: Counter = Counter()
    for path, n, n_late in rows:
        key = "/".join(path.split("/")[: depth + 1]) + "/"
        open_by[key] += n
        late_by[key] += int(n_late or 0)
    areas = dict(session.execute(select(Area.path, Area.code).where(Area.path.in_(list(open_by)))).all())
    return sorted(({"code": areas[p], "open": n, "overdue": late_by[p]} for p, n in open_by.items() if p in areas),
                  key=lambda d: (-d["open"], d["code"]))


def series(session: Session, actor: Identity, days: int, now: dt.datetime) -> list[dict]:
    """Reported and closed cases per local day over the last ``days`` days (oldest first), counted in SQL."""
    since = local_day_start(now, days - 1)
    first = since.date()
    counts: dict[str, Counter] = {}
    for name, column in (("reported", Case.created_at), ("closed", Case.closed_at)):
        day = _local_day(session, column, now).label("day")
        rows = _scoped(select(day), actor).where(column >= since).subquery()
        counts[name] = Counter({str(d)[:10]: n for d, n in session.execute(
            select(rows.c.day, func.count()).group_by(rows.c.day))})
    out = []
    for i in range(days):
        key = (first + dt.timedelta(days=i)).isoformat()
        out.append({"day": key, "reported": counts["reported"][key], "closed": counts["closed"][key]})
    return out


def _local_day(session: Session, column, now: dt.datetime):
    """The local calendar day of a UTC time column, in SQL. PostgreSQL converts with the zone's rules;
    SQLite (which stores naive UTC text) shifts by the zone's offset at ``now`` — exact for zones without
    daylight saving, such as Asia/Shanghai."""
    tz = get_settings().timezone
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(tz, column), "YYYY-MM-DD")
    offset = now.astimezone(ZoneInfo(tz)).utcoffset() or dt.timedelta()
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes")


def points(session: Session, actor: Identity, now: dt.datetime, limit: int = POINTS_LIMIT) -> list[dict]:
    """Open cases as map markers: newest first, at most ``limit``."""
    cat = snapshot.current(session).by_id
    rows = session.execute(_open(_scoped(select(
        Case.id, Case.number, Case.state, Case.lon, Case.lat, Case.matter_id,
        sla.overdue_sql(now).label("overdue")), actor)).order_by(Case.id.desc()).limit(limit))
    return [{"id": r.id, "number": r.number, "state": r.state, "lon": r.lon, "lat": r.lat,
             "matter_name": cat[r.matter_id].name if r.matter_id in cat else None,
             "overdue": bool(r.overdue)}
            for r in rows]
