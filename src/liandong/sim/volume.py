"""How a scenario's reports spread over its year: each day's expected number from the month's share, the weekday,
public holidays (from ``chinesecalendar``: 2012's Spring Festival, the Golden Week…; a 调休 working weekend counts as
a working day) and the typhoon's days; and a seeded draw of the actual numbers (the year's total spread over the
days), so the same seed gives the same year."""

from __future__ import annotations

import calendar
import datetime as dt

import chinese_calendar
import numpy as np

from liandong.sim.scenario import Scenario


def days(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    return [first + dt.timedelta(days=i) for i in range(366 if calendar.isleap(year) else 365)]


def weights(s: Scenario) -> np.ndarray:
    """Each day's relative volume: its weekday's (a working weekend as a Monday–Friday) or the holidays' factor,
    times the typhoon's factor on its days; then scaled within each month to that month's share."""
    v = s.volume
    out = []
    for day in days(s.year):
        if _holiday(day):
            w = v.holidays
        elif chinese_calendar.is_workday(day) and day.weekday() >= 5:  # 调休: a weekend made a working day
            w = v.weekdays[0]
        else:
            w = v.weekdays[day.weekday()]
        if v.typhoon and day.month == v.typhoon.month and _typhoon_day(day, v.typhoon.days):
            w *= v.typhoon.factor
        out.append(w)
    raw = np.array(out, dtype=float)
    months = np.array([d.month for d in days(s.year)])
    for m in range(1, 13):
        mask = months == m
        raw[mask] *= v.months[m - 1] / raw[mask].sum()
    return raw


def _holiday(day: dt.date) -> bool:
    """A named public holiday (a plain weekend is no holiday here: it has its weekday's factor)."""
    on, name = chinese_calendar.get_holiday_detail(day)
    return bool(on and name)


TYPHOON_DAY = 8
"""The typhoon strikes on this day of its month (Haikui reached Shanghai on 8 August 2012)."""


def _typhoon_day(day: dt.date, n: int) -> bool:
    """One of the ``n`` days the typhoon lasts."""
    return TYPHOON_DAY <= day.day < TYPHOON_DAY + n


def expected(s: Scenario, scale: float = 1.0) -> np.ndarray:
    """Each day's expected number of reports."""
    return weights(s) * s.volume.reports * scale


def draw(s: Scenario, seed: int, scale: float = 1.0, total: float | None = None) -> np.ndarray:
    """Each day's number of reports: the year's ``total`` (default: the scenario's reports × scale), rounded, spread
    over the days by their weights (multinomial) — the year's sum is the scenario's, so a small scale keeps its
    proportions; the same seed, the same year."""
    n = round((s.volume.reports if total is None else total) * scale)
    return np.random.default_rng(seed).multinomial(n, weights(s))
