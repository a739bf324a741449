"""The working calendar as administrators see and change it: a year's exceptions, one day set or cleared, a
year marked complete. The calendar is the district's, so only district administrators change it; each change
is audited, and the process's cached calendar is dropped once the change is committed (before that, another
request could load the old days again and keep them for the cache's lifetime)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong import audit
from liandong.areas.scope import Scope
from liandong.cases import calendar
from liandong.cases.models import CalendarDay, CalendarYear
from liandong.errors import Forbidden, Invalid, NotFound
from liandong.transaction import after_commit

FIRST, LAST = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


def year(session: Session, year: int) -> dict:
    """A year's holidays and adjusted workdays (the exceptions to Monday–Friday), and whether it is complete."""
    known = session.get(CalendarYear, year)
    days = session.scalars(select(CalendarDay).where(
        CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31)).order_by(CalendarDay.day))
    return {"year": year, **_year_dict(known),
            "days": [{"day": d.day.isoformat(), "workday": d.workday, "name": d.name} for d in days]}


def set_day(session: Session, cache: calendar.CalendarCache, day: dt.date, workday: bool, name: str | None, *,
            scope: Scope, actor: audit.Actor, ip: str | None = None) -> dict:
    _district_only(scope)
    if not FIRST <= day <= LAST:
        raise Invalid("the day must lie between 2000 and 2100")
    row = calendar.set_day(session, day, workday, name)
    audit.record(session, "calendar_day_set", actor=actor, target=f"day:{day.isoformat()}",
                 detail={"workday": workday, "name": name}, ip=ip)
    after_commit(session, cache.forget)
    return {"day": row.day.isoformat(), "workday": row.workday, "name": row.name}


def clear_day(session: Session, cache: calendar.CalendarCache, day: dt.date, *, scope: Scope, actor: audit.Actor,
              ip: str | None = None) -> None:
    """Drop a day's exception: it follows Monday–Friday again."""
    _district_only(scope)
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFound(f"{day.isoformat()} has no exception")
    session.delete(row)
    calendar.changed(session)
    audit.record(session, "calendar_day_cleared", actor=actor, target=f"day:{day.isoformat()}", ip=ip)
    after_commit(session, cache.forget)


def mark_year(session: Session, cache: calendar.CalendarCache, year: int, complete: bool, *, scope: Scope,
              actor: audit.Actor, ip: str | None = None) -> dict:
    """Say a year's holidays are all entered (its deadlines stop warning), or take that back."""
    _district_only(scope)
    row = calendar.mark_year(session, year, complete, source=f"entered by {actor.username}")
    audit.record(session, "calendar_year_complete" if complete else "calendar_year_reopened", actor=actor,
                 target=f"year:{year}", ip=ip)
    after_commit(session, cache.forget)
    return {"year": year, **_year_dict(row)}


def _year_dict(row: CalendarYear | None) -> dict:
    return {"known": row is not None, "source": row.source if row else None}


def _district_only(scope: Scope) -> None:
    if not scope.is_top:
        raise Forbidden("the working calendar is the district's: only district administrators change it")
