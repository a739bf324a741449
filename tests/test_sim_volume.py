"""A scenario's reports over its year: the days add up to the year's volume, each month to its share; weekends,
the Spring Festival and Golden Week are quieter, the typhoon's days busier, 调休 working weekends as busy as a
weekday; the same seed draws the same year."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from liandong.sim import scenario as sc
from liandong.sim import volume


@pytest.fixture(scope="module")
def year():
    s = sc.load("minhang-2012")
    return s, volume.days(2012), volume.expected(s)


def test_the_days_add_up_to_the_year_and_each_month_to_its_share(year):
    s, days, per_day = year
    assert len(days) == 366 and per_day.sum() == pytest.approx(s.volume.reports)
    months = np.array([d.month for d in days])
    for m in range(1, 13):
        assert per_day[months == m].sum() == pytest.approx(s.volume.reports * s.volume.months[m - 1])


def test_weekends_holidays_the_typhoon_and_working_weekends(year):
    s, days, per_day = year
    on = dict(zip(days, per_day, strict=True))
    tuesday, saturday = on[dt.date(2012, 3, 13)], on[dt.date(2012, 3, 17)]
    assert saturday == pytest.approx(tuesday * s.volume.weekdays[5])
    assert on[dt.date(2012, 1, 24)] < on[dt.date(2012, 1, 10)]    # Spring Festival against an ordinary Tuesday
    assert on[dt.date(2012, 10, 2)] < on[dt.date(2012, 10, 16)]   # Golden Week
    assert on[dt.date(2012, 1, 21)] == pytest.approx(on[dt.date(2012, 1, 16)])  # a 调休 Saturday works as a Monday
    assert on[dt.date(2012, 8, 8)] == pytest.approx(on[dt.date(2012, 8, 15)] * s.volume.typhoon.factor)


def test_the_same_seed_draws_the_same_year(year):
    s, _, per_day = year
    a, b, c = volume.draw(s, 7, 0.01), volume.draw(s, 7, 0.01), volume.draw(s, 8, 0.01)
    assert (a == b).all() and not (a == c).all()
    assert a.sum() == c.sum() == round(s.volume.reports * 0.01)  # the year's total exactly: proportions kept
