"""The working calendar: working days (holidays and adjusted workdays 调休 from the database) and
working hours (settings), and arithmetic in working time that deadlines are counted in.

Only exceptions to the Monday–Friday rule are stored. Years without holiday data (``calendar_years``)
still work, weekends only, and say so with a warning, so nobody silently trusts a deadline in them.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from liandong.areas.service import bump_revision, get_revision
from liandong.cases.models import CalendarDay, CalendarYear
from liandong.config import get_settings
from liandong.errors import Invalid

REVISION_KEY = "calendar_revision"
RELOAD_SECONDS = 600.0
"""A cached calendar is loaded again after this long even if its revision stayed: days written without moving it
(by hand in SQL, by an older version during a rolling upgrade) reach every process all the same."""

MAX_DAYS = 3 * 366
_US = dt.timedelta(microseconds=1)
_US_PER_MINUTE = 60_000_000
"""Working time is counted in whole microseconds (exact sums and differences), given out in minutes."""


def parse_hours(spec: str) -> list[tuple[dt.time, dt.time]]:
    """``"08:30-11:30,13:00-17:30"`` → ordered, non-overlapping intervals."""
    out = []
    try:
        for part in spec.split(","):
            a, b = part.strip().split("-")
            out.append((dt.time.fromisoformat(a.strip()), dt.time.fromisoformat(b.strip())))
    except ValueError as exc:
        raise Invalid(f"working hours must look like 08:30-11:30,13:00-17:30, not {spec!r}") from exc
    out.sort()
    if any(a >= b for a, b in out) or any(out[i][1] > out[i + 1][0] for i in range(len(out) - 1)):
        raise Invalid(f"working hours {spec!r} overlap or run backwards")
    return out


@dataclass
class WorkCalendar:
    exceptions: dict[dt.date, bool]
    years: set[int]
    hours: list[tuple[dt.time, dt.time]]
    tz: ZoneInfo

    @classmethod
    def load(cls, session: Session, hours: str, tz: str) -> WorkCalendar:
        days = {d.day: d.workday for d in session.scalars(select(CalendarDay))}
        years = set(session.scalars(select(CalendarYear.year)))
        return cls(days, years, parse_hours(hours), ZoneInfo(tz))

    @property
    def day_minutes(self) -> float:
        return self._day_us / _US_PER_MINUTE

    @property
    def _day_us(self) -> int:
        """A working day's length in microseconds: every working day holds the same wall-clock hours (aware moments
        of one zone subtract as wall time)."""
        return sum((dt.datetime.combine(dt.date.min, b) - dt.datetime.combine(dt.date.min, a)) // _US
                   for a, b in self.hours)

    def minutes(self, amount: float, unit: str) -> float:
        """A limit in working minutes: hours are 60 minutes, days one working day's worth."""
        return amount * (60.0 if unit == "hour" else self.day_minutes)

    def is_workday(self, day: dt.date) -> bool:
        return self.exceptions.get(day, day.weekday() < 5)

    def _windows(self, day: dt.date) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        """The day's working hours as moments (none on a day off), kept per day: a deadline or a used time ends
        on one of the same few days again and again."""
        days = self.__dict__.setdefault("_days", {})
        windows = days.get(day)
        if windows is None:
            windows = days[day] = tuple(
                (dt.datetime.combine(day, a, tzinfo=self.tz), dt.datetime.combine(day, b, tzinfo=self.tz))
                for a, b in self.hours) if self.is_workday(day) else ()
        return windows

    def add(self, start: dt.datetime, minutes: float) -> tuple[dt.datetime, set[int]]:
        """The instant ``minutes`` of working time after ``start`` (the end of a window the minutes fill exactly;
        for none, the first working instant from ``start``); and the years crossed without data."""
        local = start.astimezone(self.tz)
        wanted = round(min(max(0.0, minutes), MAX_DAYS * 1440.0) * _US_PER_MINUTE)  # inf: too far, refused below
        if not wanted:
            return self._first_working(local)
        year, need = local.year, self._worked(local) + wanted
        while need > self._sums(year)[-1]:  # on into the next year
            need -= self._sums(year)[-1]
            year += 1
            if year - local.year > MAX_DAYS // 365:
                raise Invalid("a deadline more than three years away; check the time limit")
        sums = self._sums(year)
        k = bisect.bisect_left(sums, need) - 1  # the day whose windows hold the instant: sums[k] < need <= sums[k+1]
        day = dt.date(year, 1, 1) + dt.timedelta(days=k)
        if (day - local.date()).days >= MAX_DAYS:  # as far as a walk of MAX_DAYS days would have gone
            raise Invalid("a deadline more than three years away; check the time limit")
        left = need - sums[k]
        for a, b in self._windows(day):
            span = (b - a) // _US
            if left <= span:
                unknown = {y for y in range(local.year, year + 1) if y not in self.years}
                return (a + dt.timedelta(microseconds=left)).astimezone(dt.UTC), unknown
            left -= span
        raise AssertionError("a day's sums and its windows disagree")  # pragma: no cover

    def between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Working minutes in [start, end): the difference of the working time each has seen since its year
        began (the years between added whole)."""
        if end <= start:
            return 0.0
        s_local, e_local = start.astimezone(self.tz), end.astimezone(self.tz)
        total = self._worked(e_local) - self._worked(s_local)
        for year in range(s_local.year, e_local.year):
            total += self._sums(year)[-1]
        return max(0, total) / _US_PER_MINUTE  # never below 0: the wall clock runs back an hour in autumn (DST)

    def _sums(self, year: int) -> list[int]:
        """Working microseconds in the year before each of its days (and, last, in the whole year), kept per year:
        working time between two instants is then a difference, not a walk over the days between."""
        years = self.__dict__.setdefault("_sums_by_year", {})
        sums = years.get(year)
        if sums is None:
            per_day, sums, day = self._day_us, [0], dt.date(year, 1, 1)
            while day.year == year:
                sums.append(sums[-1] + (per_day if self.is_workday(day) else 0))
                day += dt.timedelta(days=1)
            years[year] = sums
        return sums

    def _worked(self, local: dt.datetime) -> int:
        """Working microseconds in ``local``'s year before it."""
        day = local.date()
        done = sum((min(b, local) - a) // _US for a, b in self._windows(day) if local > a)
        return self._sums(day.year)[day.toordinal() - dt.date(day.year, 1, 1).toordinal()] + done

    def _first_working(self, local: dt.datetime) -> tuple[dt.datetime, set[int]]:
        """The first working instant from ``local`` on, and the years passed without data."""
        day, unknown = local.date(), set()
        for _ in range(MAX_DAYS):
            if day.year not in self.years:
                unknown.add(day.year)
            for a, b in self._windows(day):
                if max(a, local) < b:
                    return max(a, local).astimezone(dt.UTC), unknown
            day += dt.timedelta(days=1)
        raise Invalid("a deadline more than three years away; check the time limit")


def seed_from_chinesecalendar(session: Session) -> dict:
    """Store the holidays and adjusted workdays the ``chinesecalendar`` package knows (2004 on); idempotent."""
    import chinese_calendar

    known = set(session.scalars(select(CalendarYear.year)))
    years = {d.year for d in chinese_calendar.holidays} - known
    entered = set(session.scalars(select(CalendarDay.day).where(  # an administrator's day is kept as entered
        CalendarDay.day >= dt.date(min(years, default=2000), 1, 1)))) if years else set()
    # the package names a day by its holiday's English name; the Holiday enum holds the Chinese one we store
    chinese = {h.value: h.chinese for h in chinese_calendar.Holiday}
    rows: dict[dt.date, CalendarDay] = {}
    for day, name in chinese_calendar.holidays.items():
        if day.year in years and day.weekday() < 5 and day not in entered:
            rows[day] = CalendarDay(day=day, workday=False, name=chinese.get(name, name))
    for day, name in chinese_calendar.workdays.items():
        if day.year in years and day.weekday() >= 5 and day not in entered:
            rows[day] = CalendarDay(day=day, workday=True, name=f"{chinese.get(name, name)}（调休）")
    session.add_all(rows.values())
    session.add_all(CalendarYear(year=y, source="chinesecalendar") for y in sorted(years))
    session.flush()
    if years:
        changed(session)
    return {"years": sorted(years), "days": len(rows)}


def set_day(session: Session, day: dt.date, workday: bool, name: str | None = None) -> CalendarDay:
    """Administrators enter future years' holidays and adjusted workdays here, then ``mark_year``."""
    row = session.get(CalendarDay, day)
    if row is None:
        row = CalendarDay(day=day, workday=workday, name=name)
        session.add(row)
    else:
        row.workday, row.name = workday, name
    session.flush()
    changed(session)
    return row


def mark_year(session: Session, year: int, complete: bool, source: str = "entered") -> CalendarYear | None:
    """Say that a year's holidays are all entered (deadlines in it stop warning), or take that back.

    Entering one day does not do it: a year with only New Year's Day entered would count the Spring Festival
    as working days without a word.
    """
    row = session.get(CalendarYear, year)
    if complete and row is None:
        row = CalendarYear(year=year, source=source)
        session.add(row)
    elif not complete and row is not None:
        session.delete(row)
        row = None
    session.flush()
    changed(session)
    return row


class CalendarCache:
    """One loaded calendar per process. Every edit moves the calendar's revision on (``changed``), and the cache
    reads the revision at most every ``ttl`` seconds, reloading when it moved: an edit made in any process
    reaches every other within that time (an edit in this process at once, by ``forget``)."""

    def __init__(self, hours: str, tz: str, ttl: float = 2.0):
        self.hours, self.tz, self.ttl = hours, tz, ttl
        self._cal: WorkCalendar | None = None
        self._revision = -1
        self._at = self._loaded = 0.0

    def forget(self) -> None:
        """The calendar changed in this process: load it again on next use."""
        self._cal = None

    def get(self, session: Session) -> WorkCalendar:
        import time

        now = time.monotonic()
        if self._cal is None or now - self._at > self.ttl:
            revision = get_revision(session, REVISION_KEY)
            if self._cal is None or revision != self._revision or now - self._loaded > RELOAD_SECONDS:
                self._cal = WorkCalendar.load(session, self.hours, self.tz)
                self._revision, self._loaded = revision, now
            self._at = now
        return self._cal


def changed(session: Session) -> None:
    """The stored days or years changed in this transaction: every process's cache reloads them."""
    bump_revision(session, REVISION_KEY)


_SHARED: dict[tuple[str, str, str], CalendarCache] = {}


def shared(url: str, hours: str, tz: str, ttl: float = 2.0) -> CalendarCache:
    """The process's one cache of the calendar of the database at ``url`` (for these working hours and time
    zone): the pages, the sweep and the stage facts read the same copy, so an edit forgets it for all."""
    from liandong.db import get_engine

    return _cache(get_engine(url), hours, tz, ttl)


def cached(session: Session) -> WorkCalendar:
    """The configured calendar of the session's database, from the process's cache."""
    s = get_settings()
    return _cache(session.get_bind(), s.work_hours, s.timezone).get(session)


def _cache(engine: Engine, hours: str, tz: str, ttl: float = 2.0) -> CalendarCache:
    """Keyed by the engine's own URL: ``postgresql://`` as configured and the ``postgresql+psycopg://`` the
    engine runs on are one database."""
    key = (engine.url.render_as_string(hide_password=False), hours, tz)
    return _SHARED.get(key) or _SHARED.setdefault(key, CalendarCache(hours, tz, ttl))


def calendar_for(session: Session) -> WorkCalendar:
    """The working calendar as configured (working hours, time zone) with the days stored."""
    s = get_settings()
    return WorkCalendar.load(session, s.work_hours, s.timezone)
