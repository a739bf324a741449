"""The period an assessment covers: local calendar days ``from`` to ``to`` (both included), and the one before it.

Days are the district's (``LIANDONG_TIMEZONE``): a month is its first day 00:00 to the next month's first day 00:00
local time, kept as UTC instants for the queries. The previous period of a calendar month, quarter or year is the
previous month, quarter or year; of a month to date (1–15 June), the same days of the month before (1–15 May); of
any other range, the same number of days just before it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from liandong.config import get_settings
from liandong.errors import Invalid

LONGEST_DAYS = 3 * 366 + 1
"""A longer range is refused: nobody assesses decades in one go, and it would only load the database."""


@dataclass(frozen=True)
class Period:
    first: dt.date
    last: dt.date
    """Both included."""
    start: dt.datetime
    end: dt.datetime
    """UTC instants: the first day's local midnight, and the local midnight after the last day (excluded)."""

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()} – {self.last.isoformat()}"

    def previous(self) -> Period:
        first, last = self.first, self.last
        if first.day == 1 and (last + dt.timedelta(days=1)).day == 1:  # whole months: the same months before
            months = (last.year - first.year) * 12 + last.month - first.month + 1
            year, month = divmod(first.year * 12 + first.month - 1 - months, 12)
            start = dt.date(year, month + 1, 1)
            return make(start, first - dt.timedelta(days=1))
        if first.day == 1 and (first.year, first.month) == (last.year, last.month):  # month to date: the same days
            before = first - dt.timedelta(days=1)
            return make(before.replace(day=1), before.replace(day=min(last.day, before.day)))
        return make(first - dt.timedelta(days=self.days), first - dt.timedelta(days=1))


def make(first: dt.date, last: dt.date) -> Period:
    if last < first:
        raise Invalid("the period ends before it starts", code="bad_period",
                      params={"from": first.isoformat(), "to": last.isoformat()})
    if (last - first).days + 1 > LONGEST_DAYS:
        raise Invalid(f"a period is at most {LONGEST_DAYS} days", code="period_too_long",
                      params={"days": LONGEST_DAYS})
    tz = ZoneInfo(get_settings().timezone)
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(dt.UTC)
    return Period(first, last, start, end)


def month(year: int, month_: int) -> Period:
    nxt = dt.date(year + (month_ == 12), month_ % 12 + 1, 1)
    return make(dt.date(year, month_, 1), nxt - dt.timedelta(days=1))


def year(year_: int) -> Period:
    return make(dt.date(year_, 1, 1), dt.date(year_, 12, 31))


def parse(first: dt.date | None, last: dt.date | None, today: dt.date) -> Period:
    """The period asked for; by default the current month up to today."""
    if first is None and last is None:
        return make(today.replace(day=1), today)
    if first is None or last is None:
        raise Invalid("give both from and to (dates, both included), or neither for this month",
                      code="bad_period", params={})
    return make(first, last)
