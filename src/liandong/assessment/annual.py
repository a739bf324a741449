"""The district's annual report in the seed's form (``../shared/data/minhang/README.md``): cases accepted, filed and
closed with the closure rate and the change on the year before; safety hazards collected, filed, closed and
rewarded; disputes; incidents by category and grade with their 五早 intervals; a table per town and per
department — every figure read from the event logs and the stage facts within the caller's jurisdiction, the
towns and departments through the same counts the assessment scores (``service.assess``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from liandong.assessment import counts as c
from liandong.assessment import months, service, simulated
from liandong.assessment import period as periods
from liandong.auth.identity import Identity
from liandong.emergency import five_early, visibility
from liandong.emergency.models import Incident
from liandong.errors import Invalid
from liandong.screening import summary


def _cases(session: Session, ctx: c.Ctx, stored: bool) -> dict:
    """Reported, accepted (受理), filed (立案), closed (结案, filed cases) and self-handled (自处理, never filed) in
    the year, and the closure rate (closed / filed)."""
    plan = months.plan(session, "annual", ctx, stored)
    counted = months.figures(session, "annual", c.ANNUAL_COUNTS, ctx, plan)
    reported, accepted, filed, closed, self_handled = (sum(counted[key].values()) for key in c.ANNUAL_COUNTS)
    return {"reported": reported, "accepted": accepted, "filed": filed, "closed": closed,
            "self_handled": self_handled, "closure_rate": round(closed / filed, 4) if filed else None}


def _change(now: dict, before: dict) -> dict:
    """Each figure's change on the year before, as a fraction (None where the year before had none)."""
    return {k: (round(now[k] / before[k] - 1, 4) if isinstance(before.get(k), int) and before[k] else None)
            for k in now if isinstance(now[k], int)}


def _incidents(session: Session, caller: Identity, year: int, now: dt.datetime) -> dict:
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    timing = five_early.figures(session, caller, first, last, by="category", now=now)
    p = periods.year(year)
    grades = session.execute(visibility.visible(
        select(Incident.category, Incident.grade, func.count()).where(
            Incident.occurred_at >= p.start, Incident.occurred_at < p.end, Incident.exercise.is_(False))
        .group_by(Incident.category, Incident.grade), caller)).all()
    by_grade: dict[str, dict[str, int]] = {}
    for category, grade, n in grades:
        by_grade.setdefault(category, {})[str(grade)] = int(n)
    return {"total": sum(g["count"] for g in timing["groups"]),
            "by_category": [{**g, "grades": by_grade.get(g["key"], {})} for g in timing["groups"]]}


def report(session: Session, caller: Identity, year: int, now: dt.datetime, stored: bool = True) -> dict:
    """The report of ``year`` (``stored``: read the days stored, ``months.py``)."""
    if not 1970 <= year <= 2100:
        raise Invalid("year must lie between 1970 and 2100", code="bad_period", params={"year": year})
    this, before = periods.year(year), periods.year(year - 1)
    ctx = service.context(caller, this, now)
    cases = _cases(session, ctx, stored)
    previous = _cases(session, c.Ctx(before, ctx.path, ctx.settings, now), stored)
    screening = summary.figures(session, caller, this.first, this.last, now)
    towns = service.scores(session, caller, "town", this, now, stored)
    marked = simulated.years(session)
    departments = service.scores(session, caller, "department", this, now, stored)
    return {
        "year": year, "simulated": year in marked, "simulation": marked.get(year),
        "cases": {**cases, "previous": previous, "change": _change(cases, previous)},
        "hazards": screening["hazards"], "disputes": screening["disputes"],
        "incidents": _incidents(session, caller, year, now),
        "towns": [_row(r, TOWN_FIGURES) for r in towns],
        "departments": [_row(r, DEPARTMENT_FIGURES) for r in departments if any(
            r["indicators"].get(k) for k in ("assigned", "disposed", "closed"))],
    }


TOWN_FIGURES = ("reported", "filed", "closed", "closure_rate", "closed_in_time_rate", "public_report_rate",
                "satisfaction_rate")
DEPARTMENT_FIGURES = ("assigned", "disposed", "dispose_in_time_rate", "rework_rate", "closed", "closure_rate",
                      "extension_rate")


def _row(r: dict, keys: tuple[str, ...]) -> dict:
    return {"id": r["id"], "name": r["name"], "code": r["code"], **{k: r["indicators"].get(k) for k in keys},
            "score": r["score"], "grade": r["grade"], "rank": r["rank"]}
